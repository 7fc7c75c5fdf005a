/* Fuzz target for conntrack's keys (firewall/ct.h): ct_key_from_info() on
 * whatever pkt_parse_frame() accepts, ct_key_from_icmp_error() on every ICMP
 * error, ct_tcp_flags(), and the TCP state machine driven by the input's
 * bytes.
 *
 * Beyond memory errors, which the sanitizers (or, in "make check", the
 * guard page after every input) catch, the target checks what the keys
 * mean:
 *
 *   - a key holds the packet's own endpoints in canonical order, its
 *     padding is zero, and the packet travels the direction it says;
 *   - the same packet sent back (addresses and ports swapped) has the same
 *     key and the other direction, so that a reply finds its connection;
 *   - an ICMP error's key is the key of the packet it quotes, which must
 *     come from the error's destination, with the opposite direction: the
 *     quote, parsed as a frame of its own, must give the same key;
 *   - the TCP state machine stays in its states, and a packet it refuses
 *     changes nothing but the 'invalid' counter.
 *
 * Any disagreement aborts. */

#include "tests/fuzz/fuzz.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "firewall/ct.h"

/* The VNI the keys are built in: any value must do. */
#define FUZZ_VNI 4242

/* Frames up to this long are copied to build their quote's frame. */
#define FUZZ_FRAME_MAX 4096

/* Checks the parts of 'key' that hold whatever the packet: padding zero,
 * family 'family', the endpoints in canonical order. */
static void
check_key_shape(const struct ct_key *key, __u8 family)
{
    static const __u8 zero[12];

    CHECK(key->pad[0] == 0 && key->pad[1] == 0);
    CHECK(key->vni == FUZZ_VNI);
    CHECK(key->family == family);
    CHECK(ct_endpoint_cmp(key->addr_a, key->port_a, key->addr_b, key->port_b)
          <= 0);
    if (family == CT_FAMILY_IPV4) {
        CHECK(!memcmp(key->addr_a + 4, zero, sizeof zero));
        CHECK(!memcmp(key->addr_b + 4, zero, sizeof zero));
    }
}

/* Checks that 'key' holds source 'src' port 'sport' and destination 'dst'
 * port 'dport' (16-byte address slots) in the order that 'key_dir' says. */
static void
check_key_endpoints(const struct ct_key *key, bool key_dir, const __u8 *src,
                    __be16 sport, const __u8 *dst, __be16 dport)
{
    const __u8 *first = key_dir == CT_KEY_DIR_AB ? src : dst;
    const __u8 *second = key_dir == CT_KEY_DIR_AB ? dst : src;
    __be16 first_port = key_dir == CT_KEY_DIR_AB ? sport : dport;
    __be16 second_port = key_dir == CT_KEY_DIR_AB ? dport : sport;

    CHECK(!memcmp(key->addr_a, first, 16));
    CHECK(!memcmp(key->addr_b, second, 16));
    CHECK(key->port_a == first_port);
    CHECK(key->port_b == second_port);
    if (ct_endpoint_cmp(src, sport, dst, dport) == 0) {
        CHECK(key_dir == CT_KEY_DIR_AB);
    }
}

/* Returns 'info' with its endpoints swapped: the same connection's packet
 * the other way.  ICMP keeps its type and id, which are not endpoints. */
static struct pkt_info
reverse_info(const struct pkt_info *info)
{
    struct pkt_info r = *info;

    r.src4 = info->dst4;
    r.dst4 = info->src4;
    memcpy(r.src6, info->dst6, 16);
    memcpy(r.dst6, info->src6, 16);
    if (info->l4_proto == PKT_IPPROTO_TCP
        || info->l4_proto == PKT_IPPROTO_UDP) {
        r.sport = info->dport;
        r.dport = info->sport;
    }
    return r;
}

/* Checks the CT_KEY_FLOW key 'key' that ct_key_from_info() built with
 * direction 'key_dir' for the packet 'info' describes. */
static void
check_flow_key(const struct pkt_info *info, const struct ct_key *key,
               bool key_dir)
{
    bool ipv4 = info->l3_proto == PKT_ETH_P_IPV4;
    __u8 src[16], dst[16];
    __be16 sport = 0, dport = 0;
    struct pkt_info rev;
    struct ct_key rkey;
    bool rdir;

    CHECK(!info->fragment);
    CHECK(key->proto == info->l4_proto);
    check_key_shape(key, ipv4 ? CT_FAMILY_IPV4 : CT_FAMILY_IPV6);
    if (ipv4) {
        ct_addr4_slot(src, info->src4);
        ct_addr4_slot(dst, info->dst4);
    } else {
        memcpy(src, info->src6, 16);
        memcpy(dst, info->dst6, 16);
    }
    if (info->l4_proto == PKT_IPPROTO_TCP
        || info->l4_proto == PKT_IPPROTO_UDP) {
        sport = info->sport;
        dport = info->dport;
    } else if (info->l4_proto == PKT_IPPROTO_ICMP
               || info->l4_proto == PKT_IPPROTO_ICMPV6) {
        CHECK(ct_icmp_is_echo(info->l4_proto, ct_icmp_type(info)));
        sport = dport = info->dport;
    }
    check_key_endpoints(key, key_dir, src, sport, dst, dport);

    /* The reply meets the same entry from the other side. */
    rev = reverse_info(info);
    CHECK(ct_key_from_info(&rev, FUZZ_VNI, &rkey, &rdir) == CT_KEY_FLOW);
    CHECK(!memcmp(&rkey, key, sizeof rkey));
    if (ct_endpoint_cmp(src, sport, dst, dport) != 0) {
        CHECK(rdir != key_dir);
    }
}

/* Builds, in 'frame', an untagged Ethernet frame that carries the IP packet
 * quoted by the ICMP error 'info' describes in ['data', 'end'), and returns
 * its length, or 0 if there is no room. */
static size_t
quote_frame(const __u8 *data, const __u8 *end, const struct pkt_info *info,
            __u8 *frame)
{
    const __u8 *quote = data + info->l4_off + sizeof(struct pkt_icmp);
    size_t len = end - quote;

    if (quote > end || 14 + len > FUZZ_FRAME_MAX) {
        return 0;
    }
    memset(frame, 0, 12);
    frame[12] = info->l3_proto >> 8;
    frame[13] = info->l3_proto & 0xff;
    memcpy(frame + 14, quote, len);
    return 14 + len;
}

/* Checks what ct_key_from_icmp_error() makes of the ICMP error in
 * ['data', 'end') that 'info' describes. */
static void
check_related(__u8 *data, __u8 *end, const struct pkt_info *info)
{
    static __u8 frame[FUZZ_FRAME_MAX];
    bool ipv4 = info->l3_proto == PKT_ETH_P_IPV4;
    struct pkt_info quoted;
    struct ct_key key, qkey;
    __u8 outer_dst[16];
    bool dir, qdir;
    size_t len;

    CHECK(ct_icmp_is_error(info));
    CHECK(!ct_info_may_create(info));
    if (ct_key_from_icmp_error(data, end, info, FUZZ_VNI, &key, &dir)) {
        return;
    }
    check_key_shape(&key, ipv4 ? CT_FAMILY_IPV4 : CT_FAMILY_IPV6);
    CHECK(key.proto == PKT_IPPROTO_TCP || key.proto == PKT_IPPROTO_UDP
          || key.proto == (ipv4 ? PKT_IPPROTO_ICMP : PKT_IPPROTO_ICMPV6));

    /* The quoted packet came from the endpoint the error goes to. */
    if (ipv4) {
        ct_addr4_slot(outer_dst, info->dst4);
    } else {
        memcpy(outer_dst, info->dst6, 16);
    }
    CHECK(
        !memcmp(dir == CT_KEY_DIR_BA ? key.addr_a : key.addr_b, outer_dst, 16)
        || !memcmp(key.addr_a, key.addr_b, 16));

    /* The quote on its own is a packet of that connection, going the
     * other way, whenever its L4 header is whole enough to parse. */
    len = quote_frame(data, end, info, frame);
    if (len && !pkt_parse_frame(frame, frame + len, &quoted)) {
        int kind = ct_key_from_info(&quoted, FUZZ_VNI, &qkey, &qdir);

        CHECK(kind == CT_KEY_FLOW);
        CHECK(!memcmp(&qkey, &key, sizeof key));
        CHECK(qdir != dir);
    }
}

/* Drives a TCP entry through the packets that the bytes at 'p' (up to 64 of
 * them) describe, one per byte: the high bit is the key direction, the rest
 * the TCP flags, and checks the state machine's invariants. */
static void
check_tcp_machine(const __u8 *p, size_t n, bool first_dir)
{
    struct ct_entry e;
    __u64 now = 1;

    ct_entry_init(&e, PKT_IPPROTO_TCP, first_dir, now);
    CHECK(e.state == CT_NEW && ct_entry_timeout_ns(&e) > 0);
    for (size_t i = 0; i < n && i < 64; i++) {
        bool key_dir = p[i] >> 7;
        __u8 flags = p[i] & 0x3f;
        struct ct_entry before = e;
        int verdict;

        now += CT_SEC;
        verdict = ct_entry_update(&e, key_dir, flags, now, 60);
        CHECK(verdict == CT_ACCEPT || verdict == CT_INVALID);
        CHECK(e.state <= CT_CLOSE);
        CHECK(e.orig_key_dir == first_dir);
        if (verdict == CT_INVALID) {
            before.invalid++;
            CHECK(!memcmp(&before, &e, sizeof e));
        } else {
            int dir = ct_entry_dir(&e, key_dir);

            CHECK(e.packets[dir] == before.packets[dir] + 1);
            CHECK(e.last_seen_ns == now);
            CHECK(!ct_entry_expired(&e, now));
            if (flags & PKT_TCP_RST) {
                CHECK(e.state == CT_CLOSE);
            }
            if (before.state == CT_NEW) {
                CHECK(e.state == CT_SYN_SENT && dir == CT_DIR_ORIG);
            }
        }
        CHECK(ct_entry_timeout_ns(&e) > 0);
        CHECK(ct_entry_expired(&e, e.last_seen_ns + ct_entry_timeout_ns(&e)));
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* The parsers take non-const pointers but never write. */
    __u8 *frame = (__u8 *) data;
    __u8 *end = frame + size;
    struct pkt_info info;
    struct ct_key key;
    bool key_dir;
    __u8 flags;
    int kind;

    if (pkt_parse_frame(frame, end, &info)) {
        check_tcp_machine(data, size, size & 1);
        return 0;
    }
    kind = ct_key_from_info(&info, FUZZ_VNI, &key, &key_dir);
    CHECK(kind == CT_KEY_NONE || kind == CT_KEY_FLOW
          || kind == CT_KEY_RELATED);
    if (info.l3_proto != PKT_ETH_P_IPV4 && info.l3_proto != PKT_ETH_P_IPV6) {
        CHECK(kind == CT_KEY_NONE);
    }
    if (info.fragment) {
        CHECK(kind == CT_KEY_NONE);
    }
    if (kind == CT_KEY_FLOW) {
        check_flow_key(&info, &key, key_dir);
    } else if (kind == CT_KEY_RELATED) {
        check_related(frame, end, &info);
    }
    if (kind != CT_KEY_RELATED) {
        /* Nothing but an ICMP error relates to another connection. */
        CHECK(
            ct_key_from_icmp_error(frame, end, &info, FUZZ_VNI, &key, &key_dir)
            == -1);
    }

    flags = ct_tcp_flags(frame, end, &info);
    if (info.l4_proto == PKT_IPPROTO_TCP && info.l4_off && !info.fragment
        && info.l4_off < CT_L4_OFF_MAX) {
        CHECK(flags == frame[info.l4_off + 13]);
    } else {
        CHECK(flags == 0);
    }

    /* The payload past the L4 header drives the state machine. */
    if (info.l4_off && info.l4_off + 20 < size) {
        check_tcp_machine(frame + info.l4_off + 20, size - info.l4_off - 20,
                          key_dir);
    }
    return 0;
}
