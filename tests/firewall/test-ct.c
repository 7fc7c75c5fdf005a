/* Unit tests for firewall/ct.h: flow keys that both directions share, ICMP
 * errors related to the flow they quote, the TCP state machine, the UDP and
 * ICMP pseudo-connections, and expiry.
 *
 * Frames are written byte by byte below, independent of packet/hdr.h, and
 * parsed from a guard buffer so that any read past their end crashes. */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "firewall/ct.h"

#include "tests/unit/guard-buf.h"

#define FRAME_MAX 256

/* The endpoints of most stories: client A at 10.0.0.1 port 40000 talks to
 * server B at 10.0.0.2 port 80; router R at 10.0.9.9 reports errors. */
static const uint8_t ip_a[4] = {10, 0, 0, 1};
static const uint8_t ip_b[4] = {10, 0, 0, 2};
static const uint8_t ip_r[4] = {10, 0, 9, 9};
static const uint8_t ip6_a[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 1};
static const uint8_t ip6_b[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 2};
static const uint8_t ip6_r[16] = {0x20, 0x01, 0x0d, 0xb8, [14] = 9, 9};
#define PORT_A 40000
#define PORT_B 80
#define VNI 5001

/* A frame under construction. */
struct frame {
    uint8_t b[FRAME_MAX]; /* Its bytes. */
    size_t len;           /* How many are written. */
};

static void
put8(struct frame *f, unsigned int v)
{
    assert_true(f->len < FRAME_MAX);
    f->b[f->len++] = v & 0xff;
}

static void
put16(struct frame *f, unsigned int v)
{
    put8(f, v >> 8);
    put8(f, v);
}

static void
put_bytes(struct frame *f, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        put8(f, p[i]);
    }
}

/* Starts 'f' with an Ethernet header for ethertype 'type'. */
static void
put_eth(struct frame *f, unsigned int type)
{
    static const uint8_t macs[12] = {2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1};

    f->len = 0;
    put_bytes(f, macs, sizeof macs);
    put16(f, type);
}

/* Writes a 20-byte IPv4 header for 'payload' bytes of 'proto', with
 * fragment field 'frag' (checksum left zero: nothing here checks it). */
static void
put_ipv4(struct frame *f, const uint8_t *src, const uint8_t *dst,
         unsigned int proto, unsigned int payload, unsigned int frag)
{
    put8(f, 0x45);
    put8(f, 0);
    put16(f, 20 + payload);
    put16(f, 0x1234);
    put16(f, frag);
    put8(f, 64);
    put8(f, proto);
    put16(f, 0);
    put_bytes(f, src, 4);
    put_bytes(f, dst, 4);
}

static void
put_ipv6(struct frame *f, const uint8_t *src, const uint8_t *dst,
         unsigned int nexthdr, unsigned int payload)
{
    put16(f, 0x6000);
    put16(f, 0);
    put16(f, payload);
    put8(f, nexthdr);
    put8(f, 64);
    put_bytes(f, src, 16);
    put_bytes(f, dst, 16);
}

static void
put_tcp(struct frame *f, unsigned int sport, unsigned int dport,
        unsigned int flags)
{
    put16(f, sport);
    put16(f, dport);
    put16(f, 0);
    put16(f, 1); /* Sequence number. */
    put16(f, 0);
    put16(f, 0); /* Acknowledgement number. */
    put8(f, 5 << 4);
    put8(f, flags);
    put16(f, 65535);
    put16(f, 0);
    put16(f, 0);
}

static void
put_udp(struct frame *f, unsigned int sport, unsigned int dport)
{
    put16(f, sport);
    put16(f, dport);
    put16(f, 8);
    put16(f, 0);
}

static void
put_icmp(struct frame *f, unsigned int type, unsigned int code,
         unsigned int id, unsigned int seq)
{
    put8(f, type);
    put8(f, code);
    put16(f, 0);
    put16(f, id);
    put16(f, seq);
}

/* Parses the first 'len' bytes of 'f' from a guard buffer into '*info',
 * asserting that they parse, and returns the guard buffer's copy. */
static uint8_t *
parse(struct guard_buf *g, const struct frame *f, size_t len,
      struct pkt_info *info)
{
    uint8_t *data = guard_buf_init(g, f->b, len);

    assert_int_equal(pkt_parse_frame(data, data + len, info), 0);
    return data;
}

/* Returns the key of 'f', asserting it is CT_KEY_FLOW, and stores its key
 * direction in '*dir'. */
static struct ct_key
flow_key(const struct frame *f, uint32_t vni, bool *dir)
{
    struct guard_buf g;
    struct pkt_info info;
    struct ct_key key;

    parse(&g, f, f->len, &info);
    assert_int_equal(ct_key_from_info(&info, vni, &key, dir), CT_KEY_FLOW);
    guard_buf_destroy(&g);
    return key;
}

static void
tcp4_frame(struct frame *f, const uint8_t *src, unsigned int sport,
           const uint8_t *dst, unsigned int dport, unsigned int flags)
{
    put_eth(f, 0x0800);
    put_ipv4(f, src, dst, 6, 20, 0);
    put_tcp(f, sport, dport, flags);
}

/* A's SYN and B's SYN-ACK share one key; A is endpoint 'a' (10.0.0.1 sorts
 * first), so A's packets go AB and B's go BA. */
static void
test_key_tcp4_both_directions(void **state)
{
    struct frame f;
    struct ct_key k1, k2;
    bool d1, d2;

    (void) state;
    tcp4_frame(&f, ip_a, PORT_A, ip_b, PORT_B, PKT_TCP_SYN);
    k1 = flow_key(&f, VNI, &d1);
    tcp4_frame(&f, ip_b, PORT_B, ip_a, PORT_A, PKT_TCP_SYN | PKT_TCP_ACK);
    k2 = flow_key(&f, VNI, &d2);

    assert_memory_equal(&k1, &k2, sizeof k1);
    assert_int_equal(d1, CT_KEY_DIR_AB);
    assert_int_equal(d2, CT_KEY_DIR_BA);
    assert_memory_equal(k1.addr_a, ip_a, 4);
    assert_memory_equal(k1.addr_b, ip_b, 4);
    assert_int_equal(bpf_ntohs(k1.port_a), PORT_A);
    assert_int_equal(bpf_ntohs(k1.port_b), PORT_B);
    assert_int_equal(k1.family, CT_FAMILY_IPV4);
    assert_int_equal(k1.proto, PKT_IPPROTO_TCP);
    assert_int_equal(k1.vni, VNI);

    /* The same flow on another network is another connection. */
    tcp4_frame(&f, ip_a, PORT_A, ip_b, PORT_B, PKT_TCP_SYN);
    k2 = flow_key(&f, VNI + 1, &d2);
    assert_memory_not_equal(&k1, &k2, sizeof k1);
}

/* When the addresses are equal, the port decides the order, compared as a
 * number (bytes in network order), not as a little-endian word. */
static void
test_key_port_breaks_tie(void **state)
{
    struct frame f;
    struct ct_key k1, k2;
    bool d1, d2;

    (void) state;
    /* 0x0102 = 258 < 0x0201 = 513; as host-order words on a little-endian
     * machine they would sort the other way. */
    tcp4_frame(&f, ip_a, 0x0201, ip_a, 0x0102, PKT_TCP_SYN);
    k1 = flow_key(&f, VNI, &d1);
    tcp4_frame(&f, ip_a, 0x0102, ip_a, 0x0201, PKT_TCP_ACK);
    k2 = flow_key(&f, VNI, &d2);
    assert_memory_equal(&k1, &k2, sizeof k1);
    assert_int_equal(bpf_ntohs(k1.port_a), 0x0102);
    assert_int_equal(d1, CT_KEY_DIR_BA);
    assert_int_equal(d2, CT_KEY_DIR_AB);
}

static void
test_key_udp6_both_directions(void **state)
{
    struct frame f;
    struct ct_key k1, k2;
    bool d1, d2;

    (void) state;
    put_eth(&f, 0x86dd);
    put_ipv6(&f, ip6_b, ip6_a, 17, 8);
    put_udp(&f, 53, 5353);
    k1 = flow_key(&f, VNI, &d1);
    put_eth(&f, 0x86dd);
    put_ipv6(&f, ip6_a, ip6_b, 17, 8);
    put_udp(&f, 5353, 53);
    k2 = flow_key(&f, VNI, &d2);

    assert_memory_equal(&k1, &k2, sizeof k1);
    assert_int_equal(d1, CT_KEY_DIR_BA);
    assert_int_equal(d2, CT_KEY_DIR_AB);
    assert_memory_equal(k1.addr_a, ip6_a, 16);
    assert_int_equal(k1.family, CT_FAMILY_IPV6);
    assert_int_equal(k1.proto, PKT_IPPROTO_UDP);
}

/* Echo request and reply meet on the echo id; a different id is another
 * pseudo-connection; only the request may create one. */
static void
test_key_icmp_echo(void **state)
{
    struct guard_buf g;
    struct pkt_info info;
    struct frame f;
    struct ct_key k1, k2;
    bool d1, d2;

    (void) state;
    put_eth(&f, 0x0800);
    put_ipv4(&f, ip_b, ip_a, 1, 8, 0);
    put_icmp(&f, CT_ICMP_ECHO_REQUEST, 0, 0x4242, 1);
    k1 = flow_key(&f, VNI, &d1);
    parse(&g, &f, f.len, &info);
    assert_true(ct_info_may_create(&info));
    guard_buf_destroy(&g);

    put_eth(&f, 0x0800);
    put_ipv4(&f, ip_a, ip_b, 1, 8, 0);
    put_icmp(&f, CT_ICMP_ECHO_REPLY, 0, 0x4242, 1);
    k2 = flow_key(&f, VNI, &d2);
    parse(&g, &f, f.len, &info);
    assert_false(ct_info_may_create(&info));
    guard_buf_destroy(&g);

    assert_memory_equal(&k1, &k2, sizeof k1);
    assert_int_equal(d1, CT_KEY_DIR_BA);
    assert_int_equal(d2, CT_KEY_DIR_AB);
    assert_int_equal(bpf_ntohs(k1.port_a), 0x4242);
    assert_int_equal(bpf_ntohs(k1.port_b), 0x4242);

    put_eth(&f, 0x0800);
    put_ipv4(&f, ip_b, ip_a, 1, 8, 0);
    put_icmp(&f, CT_ICMP_ECHO_REQUEST, 0, 0x4243, 1);
    k2 = flow_key(&f, VNI, &d2);
    assert_memory_not_equal(&k1, &k2, sizeof k1);
}

/* Returns what ct_key_from_info() makes of 'f'. */
static int
key_kind(const struct frame *f)
{
    struct guard_buf g;
    struct pkt_info info;
    struct ct_key key;
    bool dir;
    int kind;

    parse(&g, f, f->len, &info);
    kind = ct_key_from_info(&info, VNI, &key, &dir);
    guard_buf_destroy(&g);
    return kind;
}

static void
test_key_kinds(void **state)
{
    struct frame f;

    (void) state;
    /* ARP: not IP. */
    put_eth(&f, 0x0806);
    put16(&f, 1);
    put16(&f, 0x0800);
    put8(&f, 6);
    put8(&f, 4);
    put16(&f, 1);
    put_bytes(&f, (const uint8_t *) "\x02\0\0\0\0\x01", 6);
    put_bytes(&f, ip_a, 4);
    put_bytes(&f, (const uint8_t *) "\0\0\0\0\0\0", 6);
    put_bytes(&f, ip_b, 4);
    assert_int_equal(key_kind(&f), CT_KEY_NONE);

    /* A later IPv4 fragment has no ports. */
    put_eth(&f, 0x0800);
    put_ipv4(&f, ip_a, ip_b, 17, 8, 100);
    put_udp(&f, 1, 2);
    assert_int_equal(key_kind(&f), CT_KEY_NONE);

    /* ICMP timestamp: neither echo nor error. */
    put_eth(&f, 0x0800);
    put_ipv4(&f, ip_a, ip_b, 1, 8, 0);
    put_icmp(&f, 13, 0, 1, 1);
    assert_int_equal(key_kind(&f), CT_KEY_NONE);

    /* ICMPv6 neighbour solicitation. */
    put_eth(&f, 0x86dd);
    put_ipv6(&f, ip6_a, ip6_b, 58, 8);
    put_icmp(&f, 135, 0, 0, 0);
    assert_int_equal(key_kind(&f), CT_KEY_NONE);

    /* Errors. */
    put_eth(&f, 0x0800);
    put_ipv4(&f, ip_r, ip_a, 1, 8, 0);
    put_icmp(&f, CT_ICMP_TIME_EXCEEDED, 0, 0, 0);
    assert_int_equal(key_kind(&f), CT_KEY_RELATED);
    put_eth(&f, 0x86dd);
    put_ipv6(&f, ip6_r, ip6_a, 58, 8);
    put_icmp(&f, CT_ICMP6_PACKET_TOO_BIG, 0, 0, 1280);
    assert_int_equal(key_kind(&f), CT_KEY_RELATED);

    /* GRE: tracked by addresses alone. */
    put_eth(&f, 0x0800);
    put_ipv4(&f, ip_a, ip_b, 47, 4, 0);
    put16(&f, 0);
    put16(&f, 0x6558);
    assert_int_equal(key_kind(&f), CT_KEY_FLOW);
}

/* Router R tells A that its TCP segment to B could not be delivered; the
 * quote holds the IPv4 header and just the 8 bytes of TCP that RFC 792
 * promises. */
static void
icmp4_error_tcp(struct frame *f)
{
    put_eth(f, 0x0800);
    put_ipv4(f, ip_r, ip_a, 1, 8 + 28, 0);
    put_icmp(f, CT_ICMP_DEST_UNREACH, 4, 0, 1400);
    put_ipv4(f, ip_a, ip_b, 6, 20, 0);
    put16(f, PORT_A);
    put16(f, PORT_B);
    put16(f, 0);
    put16(f, 1);
}

/* Runs ct_key_from_icmp_error() on the first 'len' bytes of 'f', which must
 * parse as an outer frame. */
static int
related_key(const struct frame *f, size_t len, struct ct_key *key, bool *dir)
{
    struct guard_buf g;
    struct pkt_info info;
    uint8_t *data = parse(&g, f, len, &info);
    int error;

    error = ct_key_from_icmp_error(data, data + len, &info, VNI, key, dir);
    guard_buf_destroy(&g);
    return error;
}

/* The error relates to A's flow and travels like B's replies do. */
static void
test_icmp4_error_relates_to_tcp(void **state)
{
    struct frame f;
    struct ct_key flow, rel;
    bool flow_dir, rel_dir;

    (void) state;
    tcp4_frame(&f, ip_b, PORT_B, ip_a, PORT_A, PKT_TCP_ACK);
    flow = flow_key(&f, VNI, &flow_dir);

    icmp4_error_tcp(&f);
    assert_int_equal(related_key(&f, f.len, &rel, &rel_dir), 0);
    assert_memory_equal(&flow, &rel, sizeof flow);
    assert_int_equal(rel_dir, flow_dir);
    assert_int_equal(rel_dir, CT_KEY_DIR_BA);
}

/* Every cut of the quote short of the ports is refused, and never read past
 * (the guard page would crash the test). */
static void
test_icmp4_error_truncated(void **state)
{
    const size_t outer = 14 + 20 + 8;
    struct frame f;
    struct ct_key key;
    bool dir;

    (void) state;
    icmp4_error_tcp(&f);
    for (size_t len = outer; len < outer + 20 + 4; len++) {
        assert_int_equal(related_key(&f, len, &key, &dir), -1);
    }
    assert_int_equal(related_key(&f, outer + 20 + 4, &key, &dir), 0);
}

/* An info whose offsets point past the buffer it comes with (a backend bug,
 * or a frame rewritten since it was parsed) is refused, not followed. */
static void
test_icmp4_error_info_past_end(void **state)
{
    struct guard_buf g;
    struct pkt_info info;
    struct frame f;
    struct ct_key key;
    uint8_t *data;
    bool dir;

    (void) state;
    icmp4_error_tcp(&f);
    parse(&g, &f, f.len, &info);
    guard_buf_destroy(&g);
    for (size_t len = 0; len < 14 + 20 + 8; len++) {
        data = guard_buf_init(&g, f.b, len);
        assert_int_equal(
            ct_key_from_icmp_error(data, data + len, &info, VNI, &key, &dir),
            -1);
        assert_int_equal(ct_tcp_flags(data, data + len, &info), 0);
        guard_buf_destroy(&g);
    }
}

static void
test_icmp4_error_refused(void **state)
{
    struct frame f;
    struct ct_key key;
    bool dir;

    (void) state;
    /* The quote claims to come from B, but the error goes to A. */
    put_eth(&f, 0x0800);
    put_ipv4(&f, ip_r, ip_a, 1, 8 + 28, 0);
    put_icmp(&f, CT_ICMP_DEST_UNREACH, 1, 0, 0);
    put_ipv4(&f, ip_b, ip_a, 17, 8, 0);
    put_udp(&f, PORT_B, PORT_A);
    assert_int_equal(related_key(&f, f.len, &key, &dir), -1);

    /* An error about an error. */
    put_eth(&f, 0x0800);
    put_ipv4(&f, ip_r, ip_a, 1, 8 + 28, 0);
    put_icmp(&f, CT_ICMP_DEST_UNREACH, 1, 0, 0);
    put_ipv4(&f, ip_a, ip_b, 1, 8, 0);
    put_icmp(&f, CT_ICMP_TIME_EXCEEDED, 0, 0, 0);
    assert_int_equal(related_key(&f, f.len, &key, &dir), -1);

    /* A quote of a later fragment has no ports. */
    put_eth(&f, 0x0800);
    put_ipv4(&f, ip_r, ip_a, 1, 8 + 28, 0);
    put_icmp(&f, CT_ICMP_TIME_EXCEEDED, 1, 0, 0);
    put_ipv4(&f, ip_a, ip_b, 17, 8, 185);
    put_udp(&f, PORT_A, PORT_B);
    assert_int_equal(related_key(&f, f.len, &key, &dir), -1);

    /* An IPv6 quote inside an IPv4 error. */
    put_eth(&f, 0x0800);
    put_ipv4(&f, ip_r, ip_a, 1, 8 + 48, 0);
    put_icmp(&f, CT_ICMP_DEST_UNREACH, 1, 0, 0);
    put_ipv6(&f, ip6_a, ip6_b, 17, 8);
    put_udp(&f, PORT_A, PORT_B);
    assert_int_equal(related_key(&f, f.len, &key, &dir), -1);

    /* Echo, not an error: not for this function. */
    put_eth(&f, 0x0800);
    put_ipv4(&f, ip_a, ip_b, 1, 8, 0);
    put_icmp(&f, CT_ICMP_ECHO_REQUEST, 0, 1, 1);
    assert_int_equal(related_key(&f, f.len, &key, &dir), -1);
}

/* An IPv6 router says A's UDP datagram to B was too big. */
static void
test_icmp6_error_relates_to_udp(void **state)
{
    const size_t outer = 14 + 40 + 8;
    struct frame f;
    struct ct_key flow, rel;
    bool flow_dir, rel_dir;

    (void) state;
    put_eth(&f, 0x86dd);
    put_ipv6(&f, ip6_a, ip6_b, 17, 8);
    put_udp(&f, PORT_A, 4500);
    flow = flow_key(&f, VNI, &flow_dir);

    put_eth(&f, 0x86dd);
    put_ipv6(&f, ip6_r, ip6_a, 58, 8 + 48);
    put_icmp(&f, CT_ICMP6_PACKET_TOO_BIG, 0, 0, 1280);
    put_ipv6(&f, ip6_a, ip6_b, 17, 1400);
    put_udp(&f, PORT_A, 4500);
    assert_int_equal(related_key(&f, f.len, &rel, &rel_dir), 0);
    assert_memory_equal(&flow, &rel, sizeof flow);
    assert_int_equal(rel_dir, !flow_dir);

    for (size_t len = outer; len < outer + 40 + 4; len++) {
        assert_int_equal(related_key(&f, len, &rel, &rel_dir), -1);
    }
}

/* A's ping to B times out on the way: the error belongs to the echo. */
static void
test_icmp4_error_relates_to_echo(void **state)
{
    struct frame f;
    struct ct_key flow, rel;
    bool flow_dir, rel_dir;

    (void) state;
    put_eth(&f, 0x0800);
    put_ipv4(&f, ip_a, ip_b, 1, 8, 0);
    put_icmp(&f, CT_ICMP_ECHO_REQUEST, 0, 77, 1);
    flow = flow_key(&f, VNI, &flow_dir);

    put_eth(&f, 0x0800);
    put_ipv4(&f, ip_r, ip_a, 1, 8 + 28, 0);
    put_icmp(&f, CT_ICMP_TIME_EXCEEDED, 0, 0, 0);
    put_ipv4(&f, ip_a, ip_b, 1, 8, 0);
    put_icmp(&f, CT_ICMP_ECHO_REQUEST, 0, 77, 1);
    assert_int_equal(related_key(&f, f.len, &rel, &rel_dir), 0);
    assert_memory_equal(&flow, &rel, sizeof flow);
    assert_int_equal(rel_dir, !flow_dir);

    /* Seven of the eight echo bytes are not enough. */
    assert_int_equal(related_key(&f, f.len - 1, &rel, &rel_dir), -1);
}

static void
test_tcp_flags_from_frame(void **state)
{
    struct guard_buf g;
    struct pkt_info info;
    struct frame f;
    uint8_t *data;

    (void) state;
    tcp4_frame(&f, ip_a, PORT_A, ip_b, PORT_B, PKT_TCP_FIN | PKT_TCP_ACK);
    data = parse(&g, &f, f.len, &info);
    assert_int_equal(ct_tcp_flags(data, data + f.len, &info),
                     PKT_TCP_FIN | PKT_TCP_ACK);
    guard_buf_destroy(&g);

    put_eth(&f, 0x0800);
    put_ipv4(&f, ip_a, ip_b, 17, 8, 0);
    put_udp(&f, 1, 2);
    data = parse(&g, &f, f.len, &info);
    assert_int_equal(ct_tcp_flags(data, data + f.len, &info), 0);
    guard_buf_destroy(&g);
}

#define SYN PKT_TCP_SYN
#define ACK PKT_TCP_ACK
#define FIN PKT_TCP_FIN
#define RST PKT_TCP_RST
#define T0 1000000000000ULL /* An arbitrary start time. */

/* Key directions of a connection A opens; A is endpoint 'b' here, to show
 * that the entry, not the key order, decides what "original" means. */
#define FROM_A CT_KEY_DIR_BA
#define FROM_B CT_KEY_DIR_AB

/* Feeds one segment to 'e' at T0 + 's' seconds and checks the verdict and
 * the state after it. */
static void
step(struct ct_entry *e, bool dir, unsigned int flags, unsigned int s,
     int verdict, int state)
{
    assert_int_equal(ct_entry_update(e, dir, flags, T0 + s * CT_SEC, 100),
                     verdict);
    assert_int_equal(e->state, state);
}

static void
test_tcp_handshake_and_close(void **state)
{
    struct ct_entry e;

    (void) state;
    ct_entry_init(&e, PKT_IPPROTO_TCP, FROM_A, T0);
    assert_int_equal(e.state, CT_NEW);

    step(&e, FROM_A, SYN, 0, CT_ACCEPT, CT_SYN_SENT);
    assert_int_equal(ct_entry_timeout_ns(&e), 120 * CT_SEC);
    step(&e, FROM_A, SYN, 1, CT_ACCEPT, CT_SYN_SENT); /* Retransmitted. */
    step(&e, FROM_B, SYN | ACK, 1, CT_ACCEPT, CT_SYN_RECV);
    assert_int_equal(ct_entry_timeout_ns(&e), 60 * CT_SEC);
    step(&e, FROM_A, ACK, 1, CT_ACCEPT, CT_ESTABLISHED);
    assert_int_equal(ct_entry_timeout_ns(&e), 5ULL * 24 * 3600 * CT_SEC);
    step(&e, FROM_B, ACK, 2, CT_ACCEPT, CT_ESTABLISHED);
    step(&e, FROM_A, ACK | PKT_TCP_PSH, 3, CT_ACCEPT, CT_ESTABLISHED);

    /* A closes first. */
    step(&e, FROM_A, FIN | ACK, 4, CT_ACCEPT, CT_FIN_WAIT);
    assert_int_equal(ct_entry_timeout_ns(&e), 120 * CT_SEC);
    step(&e, FROM_A, FIN | ACK, 4, CT_ACCEPT, CT_FIN_WAIT);
    step(&e, FROM_B, ACK, 5, CT_ACCEPT, CT_CLOSE_WAIT);
    assert_int_equal(ct_entry_timeout_ns(&e), 60 * CT_SEC);
    step(&e, FROM_B, ACK, 5, CT_ACCEPT, CT_CLOSE_WAIT); /* Half-closed. */
    step(&e, FROM_B, FIN | ACK, 6, CT_ACCEPT, CT_LAST_ACK);
    assert_int_equal(ct_entry_timeout_ns(&e), 30 * CT_SEC);
    step(&e, FROM_A, ACK, 7, CT_ACCEPT, CT_TIME_WAIT);
    assert_int_equal(ct_entry_timeout_ns(&e), 120 * CT_SEC);

    assert_int_equal(e.packets[CT_DIR_ORIG], 7);
    assert_int_equal(e.packets[CT_DIR_REPLY], 5);
    assert_int_equal(e.bytes[CT_DIR_ORIG], 700);
    assert_int_equal(e.invalid, 0);
    assert_int_equal(e.last_seen_ns, T0 + 7 * CT_SEC);
    assert_int_equal(e.created_ns, T0);
    assert_true(e.seen[CT_DIR_ORIG] & CT_SEEN_FIN_FIRST);
    assert_false(e.seen[CT_DIR_REPLY] & CT_SEEN_FIN_FIRST);

    /* The ports are reused: a new SYN from A starts over. */
    step(&e, FROM_A, SYN, 8, CT_ACCEPT, CT_SYN_SENT);
    assert_int_equal(e.seen[CT_DIR_ORIG], CT_SEEN_SYN);
    assert_int_equal(e.seen[CT_DIR_REPLY], 0);
}

/* B closes first and A answers with one FIN-ACK; only B's final ACK ends
 * it. */
static void
test_tcp_responder_closes_first(void **state)
{
    struct ct_entry e;

    (void) state;
    ct_entry_init(&e, PKT_IPPROTO_TCP, FROM_A, T0);
    step(&e, FROM_A, SYN, 0, CT_ACCEPT, CT_SYN_SENT);
    step(&e, FROM_B, SYN | ACK, 0, CT_ACCEPT, CT_SYN_RECV);
    step(&e, FROM_A, ACK, 0, CT_ACCEPT, CT_ESTABLISHED);
    step(&e, FROM_B, FIN | ACK, 1, CT_ACCEPT, CT_FIN_WAIT);
    step(&e, FROM_A, FIN | ACK, 1, CT_ACCEPT, CT_LAST_ACK);
    step(&e, FROM_A, ACK, 1, CT_ACCEPT, CT_LAST_ACK);
    step(&e, FROM_B, ACK, 1, CT_ACCEPT, CT_TIME_WAIT);
}

static void
test_tcp_reset(void **state)
{
    struct ct_entry e;

    (void) state;
    ct_entry_init(&e, PKT_IPPROTO_TCP, FROM_A, T0);
    step(&e, FROM_A, SYN, 0, CT_ACCEPT, CT_SYN_SENT);
    step(&e, FROM_B, RST | ACK, 0, CT_ACCEPT, CT_CLOSE); /* Port closed. */
    assert_int_equal(ct_entry_timeout_ns(&e), 10 * CT_SEC);
    assert_true(e.seen[CT_DIR_REPLY] & CT_SEEN_RST);
    step(&e, FROM_B, ACK, 0, CT_INVALID, CT_CLOSE);
    step(&e, FROM_A, SYN, 1, CT_ACCEPT, CT_SYN_SENT); /* Tries again. */
    step(&e, FROM_B, SYN | ACK, 1, CT_ACCEPT, CT_SYN_RECV);
    step(&e, FROM_A, ACK, 1, CT_ACCEPT, CT_ESTABLISHED);
    step(&e, FROM_A, RST, 2, CT_ACCEPT, CT_CLOSE);
}

/* Packets that do not fit are refused, counted, and change nothing. */
static void
test_tcp_invalid(void **state)
{
    struct ct_entry e, before;

    (void) state;
    /* Only a SYN may start. */
    ct_entry_init(&e, PKT_IPPROTO_TCP, FROM_A, T0);
    step(&e, FROM_A, ACK, 0, CT_INVALID, CT_NEW);
    step(&e, FROM_A, SYN | ACK, 0, CT_INVALID, CT_NEW);
    step(&e, FROM_A, RST, 0, CT_INVALID, CT_NEW);
    step(&e, FROM_A, FIN, 0, CT_INVALID, CT_NEW);
    assert_int_equal(e.invalid, 4);
    assert_int_equal(e.packets[CT_DIR_ORIG], 0);

    step(&e, FROM_A, SYN, 0, CT_ACCEPT, CT_SYN_SENT);
    before = e;
    step(&e, FROM_A, SYN | FIN, 5, CT_INVALID, CT_SYN_SENT);
    step(&e, FROM_A, SYN | RST, 5, CT_INVALID, CT_SYN_SENT);
    step(&e, FROM_A, 0, 5, CT_INVALID, CT_SYN_SENT);
    step(&e, FROM_A, PKT_TCP_PSH, 5, CT_INVALID, CT_SYN_SENT);
    step(&e, FROM_B, SYN, 5, CT_INVALID, CT_SYN_SENT);
    step(&e, FROM_A, SYN | ACK, 5, CT_INVALID, CT_SYN_SENT);
    step(&e, FROM_A, ACK, 5, CT_INVALID, CT_SYN_SENT);
    step(&e, FROM_B, ACK, 5, CT_INVALID, CT_SYN_SENT);
    step(&e, FROM_B, FIN | ACK, 5, CT_INVALID, CT_SYN_SENT);
    assert_int_equal(e.invalid, before.invalid + 9);
    e.invalid = before.invalid;
    assert_memory_equal(&e, &before, sizeof e);

    step(&e, FROM_B, SYN | ACK, 6, CT_ACCEPT, CT_SYN_RECV);
    step(&e, FROM_B, FIN | ACK, 6, CT_INVALID, CT_SYN_RECV);
    step(&e, FROM_A, ACK, 6, CT_ACCEPT, CT_ESTABLISHED);
    step(&e, FROM_A, SYN, 7, CT_INVALID, CT_ESTABLISHED);
    step(&e, FROM_B, SYN, 7, CT_INVALID, CT_ESTABLISHED);
}

/* The originator is whoever the entry says, whatever the key order. */
static void
test_entry_dir(void **state)
{
    struct ct_entry e;

    (void) state;
    ct_entry_init(&e, PKT_IPPROTO_UDP, CT_KEY_DIR_BA, T0);
    assert_int_equal(ct_entry_dir(&e, CT_KEY_DIR_BA), CT_DIR_ORIG);
    assert_int_equal(ct_entry_dir(&e, CT_KEY_DIR_AB), CT_DIR_REPLY);
    ct_entry_init(&e, PKT_IPPROTO_UDP, CT_KEY_DIR_AB, T0);
    assert_int_equal(ct_entry_dir(&e, CT_KEY_DIR_AB), CT_DIR_ORIG);
    assert_int_equal(ct_entry_dir(&e, CT_KEY_DIR_BA), CT_DIR_REPLY);
}

/* A DNS query lives 30 s unanswered; the answer makes it a 180 s
 * connection, counted from the last packet. */
static void
test_udp_pseudo_connection(void **state)
{
    struct ct_entry e;

    (void) state;
    ct_entry_init(&e, PKT_IPPROTO_UDP, FROM_A, T0);
    step(&e, FROM_A, 0, 0, CT_ACCEPT, CT_NEW);
    step(&e, FROM_A, 0, 10, CT_ACCEPT, CT_NEW);
    assert_int_equal(ct_entry_timeout_ns(&e), 30 * CT_SEC);
    assert_false(ct_entry_expired(&e, T0 + 39 * CT_SEC));
    assert_true(ct_entry_expired(&e, T0 + 40 * CT_SEC));

    step(&e, FROM_B, 0, 20, CT_ACCEPT, CT_ESTABLISHED);
    assert_int_equal(ct_entry_timeout_ns(&e), 180 * CT_SEC);
    assert_false(ct_entry_expired(&e, T0 + 200 * CT_SEC - 1));
    assert_true(ct_entry_expired(&e, T0 + 200 * CT_SEC));
    step(&e, FROM_A, 0, 21, CT_ACCEPT, CT_ESTABLISHED);
    assert_int_equal(e.packets[CT_DIR_ORIG], 3);
    assert_int_equal(e.packets[CT_DIR_REPLY], 1);

    /* A clock behind the last packet does not expire anything. */
    assert_false(ct_entry_expired(&e, T0));
}

static void
test_icmp_and_other_pseudo_connections(void **state)
{
    struct ct_entry e;

    (void) state;
    ct_entry_init(&e, PKT_IPPROTO_ICMP, FROM_A, T0);
    step(&e, FROM_A, 0, 0, CT_ACCEPT, CT_NEW);
    assert_int_equal(ct_entry_timeout_ns(&e), 30 * CT_SEC);
    step(&e, FROM_B, 0, 1, CT_ACCEPT, CT_ESTABLISHED);
    assert_int_equal(ct_entry_timeout_ns(&e), 30 * CT_SEC);
    assert_false(ct_entry_expired(&e, T0 + 30 * CT_SEC));
    assert_true(ct_entry_expired(&e, T0 + 31 * CT_SEC));

    ct_entry_init(&e, PKT_IPPROTO_ICMPV6, FROM_A, T0);
    assert_int_equal(ct_entry_timeout_ns(&e), 30 * CT_SEC);

    ct_entry_init(&e, 47, FROM_A, T0); /* GRE. */
    step(&e, FROM_A, 0, 0, CT_ACCEPT, CT_NEW);
    assert_int_equal(ct_entry_timeout_ns(&e), 30 * CT_SEC);
    step(&e, FROM_B, 0, 0, CT_ACCEPT, CT_ESTABLISHED);
    assert_int_equal(ct_entry_timeout_ns(&e), 600 * CT_SEC);
}

/* Established TCP outlives a day of silence; a half-open one does not. */
static void
test_tcp_expiry(void **state)
{
    struct ct_entry e;

    (void) state;
    ct_entry_init(&e, PKT_IPPROTO_TCP, FROM_A, T0);
    assert_int_equal(ct_entry_timeout_ns(&e), 10 * CT_SEC);
    step(&e, FROM_A, SYN, 0, CT_ACCEPT, CT_SYN_SENT);
    assert_false(ct_entry_expired(&e, T0 + 119 * CT_SEC));
    assert_true(ct_entry_expired(&e, T0 + 120 * CT_SEC));
    step(&e, FROM_B, SYN | ACK, 0, CT_ACCEPT, CT_SYN_RECV);
    step(&e, FROM_A, ACK, 0, CT_ACCEPT, CT_ESTABLISHED);
    assert_false(ct_entry_expired(&e, T0 + 24 * 3600 * CT_SEC));
    assert_true(ct_entry_expired(&e, T0 + 5 * 24 * 3600 * CT_SEC));
}

/* What a flood leaves behind may be evicted: half-open and finished TCP,
 * unanswered UDP; a conversation in progress may not. */
static void
test_evictable(void **state)
{
    struct ct_entry e;

    (void) state;
    ct_entry_init(&e, PKT_IPPROTO_TCP, FROM_A, T0);
    assert_true(ct_entry_evictable(&e));
    step(&e, FROM_A, SYN, 0, CT_ACCEPT, CT_SYN_SENT);
    assert_true(ct_entry_evictable(&e));
    step(&e, FROM_B, SYN | ACK, 0, CT_ACCEPT, CT_SYN_RECV);
    assert_true(ct_entry_evictable(&e));
    step(&e, FROM_A, ACK, 0, CT_ACCEPT, CT_ESTABLISHED);
    assert_false(ct_entry_evictable(&e));
    step(&e, FROM_A, FIN | ACK, 0, CT_ACCEPT, CT_FIN_WAIT);
    assert_false(ct_entry_evictable(&e));
    step(&e, FROM_B, RST, 0, CT_ACCEPT, CT_CLOSE);
    assert_true(ct_entry_evictable(&e));

    ct_entry_init(&e, PKT_IPPROTO_UDP, FROM_A, T0);
    step(&e, FROM_A, 0, 0, CT_ACCEPT, CT_NEW);
    assert_true(ct_entry_evictable(&e));
    step(&e, FROM_B, 0, 0, CT_ACCEPT, CT_ESTABLISHED);
    assert_false(ct_entry_evictable(&e));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_key_tcp4_both_directions),
        cmocka_unit_test(test_key_port_breaks_tie),
        cmocka_unit_test(test_key_udp6_both_directions),
        cmocka_unit_test(test_key_icmp_echo),
        cmocka_unit_test(test_key_kinds),
        cmocka_unit_test(test_icmp4_error_relates_to_tcp),
        cmocka_unit_test(test_icmp4_error_truncated),
        cmocka_unit_test(test_icmp4_error_info_past_end),
        cmocka_unit_test(test_icmp4_error_refused),
        cmocka_unit_test(test_icmp6_error_relates_to_udp),
        cmocka_unit_test(test_icmp4_error_relates_to_echo),
        cmocka_unit_test(test_tcp_flags_from_frame),
        cmocka_unit_test(test_tcp_handshake_and_close),
        cmocka_unit_test(test_tcp_responder_closes_first),
        cmocka_unit_test(test_tcp_reset),
        cmocka_unit_test(test_tcp_invalid),
        cmocka_unit_test(test_entry_dir),
        cmocka_unit_test(test_udp_pseudo_connection),
        cmocka_unit_test(test_icmp_and_other_pseudo_connections),
        cmocka_unit_test(test_tcp_expiry),
        cmocka_unit_test(test_evictable),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
