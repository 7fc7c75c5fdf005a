/* Fuzz target for the code that reads frames from the wire: pkt_parse_frame()
 * and vxlan_classify(), and pkt_parse_frame() again on the inner frame of
 * anything classified as VXLAN.
 *
 * Memory errors are for the sanitizers (or, in "make check", the guard page
 * replay.c puts after every input) to catch.  On top of that the target
 * checks what the parsers claim against the bytes themselves, and checks
 * that the two parsers agree with each other: a frame is VXLAN to us exactly
 * when pkt_parse_frame() sees untagged, unfragmented IPv4 UDP to our address
 * on port 4789.  Any disagreement aborts. */

#include "tests/fuzz/fuzz.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vxlan/vxlan.h"

/* The VTEP address the corpus's VXLAN frames are sent to, 192.168.1.20. */
#define FUZZ_VTEP_IP 0xc0a80114

static uint16_t
get_be16(const uint8_t *p)
{
    return (uint16_t) (p[0] << 8 | p[1]);
}

static __be32
get_ip4(const uint8_t *p)
{
    __be32 ip;

    memcpy(&ip, p, sizeof ip);
    return ip;
}

/* Returns the RFC 1071 checksum of the 'len' bytes at 'p', which is 0 over
 * a header that holds a correct checksum. */
static uint16_t
rfc1071_csum(const uint8_t *p, size_t len)
{
    uint32_t sum = 0;

    for (size_t i = 0; i + 1 < len; i += 2) {
        sum += (uint32_t) p[i] << 8 | p[i + 1];
    }
    if (len % 2) {
        sum += (uint32_t) p[len - 1] << 8;
    }
    while (sum >> 16) {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    return (uint16_t) ~sum;
}

/* Checks '*info', which pkt_parse_frame() filled in and accepted for the
 * 'size'-byte 'frame', against the frame's bytes. */
static void
check_info(const struct pkt_info *info, const uint8_t *frame, size_t size)
{
    uint16_t tpid = get_be16(frame + 12);
    bool tagged = tpid == PKT_ETH_P_8021Q || tpid == PKT_ETH_P_8021AD;
    size_t l3_off = info->l3_off;
    size_t l4_off = info->l4_off;
    const uint8_t *l3 = frame + l3_off;

    CHECK(size >= 14);
    CHECK(!memcmp(info->dst_mac, frame, 6));
    CHECK(!memcmp(info->src_mac, frame + 6, 6));
    CHECK(l3_off == (tagged ? 18 : 14));
    CHECK(l3_off <= size);
    CHECK(info->l3_proto == get_be16(frame + l3_off - 2));
    CHECK(info->vlan_id == (tagged ? get_be16(frame + 14) & 0x0fff : 0));

    if (info->l3_proto == PKT_ETH_P_IPV4) {
        size_t hlen = (l3[0] & 0x0f) * 4;

        CHECK(l3_off + hlen <= size);
        CHECK(l3[0] >> 4 == 4 && hlen >= 20 && get_be16(l3 + 2) >= hlen);
        CHECK(info->tos == l3[1]);
        CHECK(info->src4 == get_ip4(l3 + 12));
        CHECK(info->dst4 == get_ip4(l3 + 16));
        CHECK(info->l4_proto == l3[9]);
        CHECK(info->fragment == ((get_be16(l3 + 6) & 0x1fff) != 0));
        if (l4_off) {
            CHECK(l4_off == l3_off + hlen);
        }
    } else if (info->l3_proto == PKT_ETH_P_IPV6) {
        CHECK(l3_off + 40 <= size);
        CHECK(l3[0] >> 4 == 6);
        CHECK(info->tos == (uint8_t) (get_be16(l3) >> 4));
        CHECK(!memcmp(info->src6, l3 + 8, 16));
        CHECK(!memcmp(info->dst6, l3 + 24, 16));
        if (l4_off) {
            CHECK(l4_off >= l3_off + 40);
        }
    } else {
        CHECK(l4_off == 0 && info->l4_proto == 0);
        CHECK(info->fragment == 0);
        if (info->l3_proto == PKT_ETH_P_ARP) {
            CHECK(l3_off + 28 <= size);
            CHECK(info->arp_op == get_be16(l3 + 6));
            CHECK(info->src4 == get_ip4(l3 + 14));
            CHECK(info->dst4 == get_ip4(l3 + 24));
        }
    }

    if (l4_off) {
        const uint8_t *l4 = frame + l4_off;

        CHECK(!info->fragment);
        if (info->l4_proto == PKT_IPPROTO_TCP) {
            CHECK(l4[12] >> 4 >= 5);
            CHECK(l4_off + (l4[12] >> 4) * 4 <= size);
            CHECK(!memcmp(&info->sport, l4, 4));
        } else if (info->l4_proto == PKT_IPPROTO_UDP) {
            CHECK(l4_off + 8 <= size);
            CHECK(get_be16(l4 + 4) >= 8);
            CHECK(!memcmp(&info->sport, l4, 4));
        } else {
            CHECK(info->l4_proto == PKT_IPPROTO_ICMP
                  || info->l4_proto == PKT_IPPROTO_ICMPV6);
            CHECK(l4_off + 8 <= size);
            CHECK(!memcmp(&info->sport, l4, 2));
            CHECK(!memcmp(&info->dport, l4 + 4, 2));
        }
    } else {
        CHECK(info->sport == 0 && info->dport == 0);
    }
}

/* Encapsulates a frame described by 'info' and checks the outer headers'
 * checksum and source port. */
static void
check_encap(const struct pkt_info *info, size_t size)
{
    struct vxlan_encap_params p = {
        .src_mac = {0x02, 0xfa, 0x00, 0x00, 0x00, 0x01},
        .dst_mac = {0x02, 0xfa, 0x00, 0x00, 0x00, 0x02},
        .src_ip = bpf_htonl(0xc0a8010a),
        .dst_ip = bpf_htonl(FUZZ_VTEP_IP),
        .vni = (uint32_t) size & VXLAN_VNI_MAX,
        .group = (uint16_t) size,
        .ttl = 64,
        .dont_fragment = 1,
    };
    struct vxlan_outer outer;
    const uint8_t *bytes = (const uint8_t *) &outer;

    vxlan_build_outer(&outer, &p, info, (uint32_t) size);
    CHECK(rfc1071_csum(bytes + 14, 20) == 0);
    CHECK(get_be16(bytes + 34) >= VXLAN_SRC_PORT_MIN);
    /* The outer TOS is the inner one (DSCP and ECN, RFC 6040's normal
     * mode) for IP, 0 otherwise. */
    if (info->l3_proto == PKT_ETH_P_IPV4 || info->l3_proto == PKT_ETH_P_IPV6) {
        CHECK(bytes[15] == info->tos);
    } else {
        CHECK(bytes[15] == 0);
    }
    /* Decapsulation never loses a congestion mark nor makes one up: CE
     * stays CE or is dropped, and only an outer CE makes CE. */
    for (int outer_ecn = 0; outer_ecn < 4; outer_ecn++) {
        int ecn = vxlan_ecn_decap((uint8_t) outer_ecn, info->tos);

        CHECK(ecn == VXLAN_ECN_DROP || (ecn >= 0 && ecn <= 3));
        CHECK(ecn != VXLAN_ECN_CE || outer_ecn == VXLAN_ECN_CE
              || (info->tos & VXLAN_ECN_MASK) == VXLAN_ECN_CE);
        CHECK(ecn != VXLAN_ECN_DROP
              || (outer_ecn == VXLAN_ECN_CE
                  && (info->tos & VXLAN_ECN_MASK) == VXLAN_ECN_NOT_ECT));
    }
}

/* Classifies the 'size'-byte 'frame' for VTEP 'vtep' and checks the result
 * against what pkt_parse_frame() made of the same frame ('parsed' is its
 * return value, 'outer' its result).  Returns the classification. */
static enum vxlan_classify
check_classify(uint8_t *frame, size_t size, __be32 vtep, int parsed,
               const struct pkt_info *outer, struct vxlan_decap_info *d)
{
    enum vxlan_classify result =
        vxlan_classify(frame, frame + size, size, vtep, d);
    size_t l3_off = outer->l3_off;
    size_t l4_off = outer->l4_off;
    bool ours = false;

    CHECK(result == VXLAN_NOT_OURS || result == VXLAN_OK
          || result == VXLAN_MALFORMED);
    if (!parsed && outer->l3_proto == PKT_ETH_P_IPV4 && l3_off == 14
        && outer->l4_proto == PKT_IPPROTO_UDP && outer->dst4 == vtep
        && !(get_be16(frame + l3_off + 6) & 0x3fff)) {
        CHECK(l4_off);
        ours = outer->dport == bpf_htons(VXLAN_PORT);
    }
    CHECK(ours == (result != VXLAN_NOT_OURS));

    if (ours) {
        const uint8_t *vx = frame + l4_off + 8;
        bool whole = l4_off + 8 + 8 + 14 <= size;
        size_t ip_len = get_be16(frame + l3_off + 2);
        size_t udp_len = get_be16(frame + l4_off + 4);
        bool lengths_fit = l3_off + ip_len <= size && udp_len + 20 <= ip_len;

        CHECK((result == VXLAN_OK)
              == (whole && (vx[0] & VXLAN_FLAG_I) && l4_off - l3_off == 20
                  && lengths_fit));
    }
    if (result == VXLAN_OK) {
        CHECK(d->inner_off == l4_off + 16);
        CHECK((size_t) d->inner_off + 14 <= size);
        CHECK(d->vni <= VXLAN_VNI_MAX);
        CHECK(d->group == 0 || (frame[l4_off + 8] & VXLAN_FLAG_G));
        CHECK(d->src_ip == outer->src4);
        CHECK(d->tos == outer->tos);
    }
    return result;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* The parsers take non-const pointers but never write. */
    uint8_t *frame = (uint8_t *) data;
    struct vxlan_decap_info d;
    struct pkt_info outer;
    __be32 vteps[2];
    int parsed;

    memset(&d, 0, sizeof d);
    parsed = pkt_parse_frame(frame, frame + size, &outer);
    CHECK(parsed == 0 || parsed == -1);
    if (!parsed) {
        check_info(&outer, frame, size);
        check_encap(&outer, size);
    }

    /* Classify for the corpus's VTEP, and for whatever address sits where an
     * untagged IPv4 header keeps its destination, so that the fuzzer gets
     * past the address check without having to guess it. */
    vteps[0] = bpf_htonl(FUZZ_VTEP_IP);
    vteps[1] = size >= 34 ? get_ip4(frame + 30) : vteps[0];
    for (int i = 0; i < 2; i++) {
        if (check_classify(frame, size, vteps[i], parsed, &outer, &d)
            == VXLAN_OK) {
            struct pkt_info inner;
            uint8_t *inner_frame = frame + d.inner_off;
            size_t inner_size = size - d.inner_off;

            if (!pkt_parse_frame(inner_frame, frame + size, &inner)) {
                check_info(&inner, inner_frame, inner_size);
            }
        }
    }
    return 0;
}
