/* Unit tests for vxlan/vxlan.h: building outer headers, classifying
 * underlay frames, and choosing the outer UDP source port.
 *
 * Checksums are verified with tests/unit/rfc1071.h, written from RFC 1071
 * and independent of packet/csum.h. */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <string.h>

#include "vxlan/vxlan.h"

#include "tests/unit/guard-buf.h"
#include "tests/unit/rfc1071.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof(a)[0])

/* Where things sit in a frame that starts with a struct vxlan_outer. */
#define OFF_IP 14    /* Outer IPv4 header. */
#define OFF_UDP 34   /* Outer UDP header. */
#define OFF_VXLAN 42 /* VXLAN header. */
#define OFF_INNER 50 /* Inner Ethernet header. */

/* The largest frame these tests build: outer headers, up to 4 bytes of
 * outer VLAN tag or IPv4 options, and a 1514-byte inner frame. */
#define FRAME_MAX (OFF_INNER + 4 + 1514)

/* Makes the IPv4 header at 'ip' (options included) carry a correct
 * checksum again after a test has changed it. */
static void
fix_ipv4_csum(uint8_t *ip)
{
    size_t hlen = (ip[0] & 0x0f) * 4;
    uint16_t csum;

    ip[10] = ip[11] = 0;
    csum = rfc1071_csum(ip, hlen);
    ip[10] = csum >> 8;
    ip[11] = csum & 0xff;
}

static __be32
ip4(const char *s)
{
    struct in_addr addr;

    assert_int_equal(inet_pton(AF_INET, s, &addr), 1);
    return addr.s_addr;
}

/* The inner frame most tests carry: VM A at 10.0.0.1 sends a 4-byte UDP
 * datagram from port 1234 to VM B at 10.0.0.2 port 53, with TOS 0xb9
 * (DSCP 46, expedited forwarding, and ECN 1). */
static const uint8_t inner_udp4[] = {
    /* Ethernet: 02:00:00:00:00:0a -> 02:00:00:00:00:0b, IPv4. */
    0x02, 0x00, 0x00, 0x00, 0x00, 0x0b, 0x02, 0x00, 0x00, 0x00, 0x00, 0x0a,
    0x08, 0x00,
    /* IPv4: TOS 0xb9, 32 bytes, id 0x1234, DF, TTL 64, UDP, checksum
     * 0x13de, 10.0.0.1 -> 10.0.0.2. */
    0x45, 0xb9, 0x00, 0x20, 0x12, 0x34, 0x40, 0x00, 0x40, 0x11, 0x13, 0xde,
    0x0a, 0x00, 0x00, 0x01, 0x0a, 0x00, 0x00, 0x02,
    /* UDP: 1234 -> 53, 12 bytes, checksum 0x07fc. */
    0x04, 0xd2, 0x00, 0x35, 0x00, 0x0c, 0x07, 0xfc,
    /* Payload. */
    'p', 'i', 'n', 'g'};

/* An IPv6 inner frame: fd00::a sends UDP from 5000 to fd00::b port 5001
 * with traffic class 0xb9. */
static const uint8_t inner_udp6[] = {
    /* Ethernet: 02:00:00:00:00:0a -> 02:00:00:00:00:0b, IPv6. */
    0x02, 0x00, 0x00, 0x00, 0x00, 0x0b, 0x02, 0x00, 0x00, 0x00, 0x00, 0x0a,
    0x86, 0xdd,
    /* IPv6: traffic class 0xb9, flow label 0, 12-byte payload, UDP, hop
     * limit 64, fd00::a -> fd00::b. */
    0x6b, 0x90, 0x00, 0x00, 0x00, 0x0c, 0x11, 0x40, 0xfd, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0a,
    0xfd, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x0b,
    /* UDP: 5000 -> 5001, 12 bytes, checksum not filled in. */
    0x13, 0x88, 0x13, 0x89, 0x00, 0x0c, 0x00, 0x00,
    /* Payload. */
    'p', 'i', 'n', 'g'};

/* VM A asks who has 10.0.0.2. */
static const uint8_t inner_arp[] = {
    /* Ethernet: 02:00:00:00:00:0a -> broadcast, ARP. */
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0x00, 0x00, 0x00, 0x00, 0x0a,
    0x08, 0x06,
    /* ARP request: who has 10.0.0.2?  Tell 10.0.0.1. */
    0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00,
    0x00, 0x0a, 0x0a, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x0a, 0x00, 0x00, 0x02};

/* Our VTEP 192.168.1.10 sends to the remote VTEP 192.168.1.20 on VNI 5000,
 * with DF and TTL 64, and no group policy. */
static struct vxlan_encap_params
default_params(void)
{
    struct vxlan_encap_params p = {
        .src_mac = {0x02, 0xfa, 0x00, 0x00, 0x00, 0x01},
        .dst_mac = {0x02, 0xfa, 0x00, 0x00, 0x00, 0x02},
        .src_ip = ip4("192.168.1.10"),
        .dst_ip = ip4("192.168.1.20"),
        .vni = 5000,
        .group = 0,
        .ttl = 64,
        .dont_fragment = 1,
    };
    return p;
}

/* Parses the 'len'-byte inner frame at 'inner' into '*info', as the
 * encapsulating side would. */
static void
parse_inner(const uint8_t *inner, size_t len, struct pkt_info *info)
{
    uint8_t copy[1514];

    assert_true(len <= sizeof copy);
    memcpy(copy, inner, len);
    assert_int_equal(pkt_parse_frame(copy, copy + len, info), 0);
}

/* Encapsulates the 'inner_len'-byte frame at 'inner' with 'p' into 'frame':
 * outer headers from vxlan_build_outer(), then the inner frame.  Returns the
 * length of the whole frame. */
static size_t
encap(uint8_t *frame, const struct vxlan_encap_params *p, const uint8_t *inner,
      size_t inner_len)
{
    struct vxlan_outer outer;
    struct pkt_info info;

    parse_inner(inner, inner_len, &info);
    vxlan_build_outer(&outer, p, &info, inner_len);
    memcpy(frame, &outer, sizeof outer);
    memcpy(frame + sizeof outer, inner, inner_len);
    return sizeof outer + inner_len;
}

/* Runs vxlan_classify() on a copy of the 'len' bytes at 'frame' that ends at
 * a guard page, for VTEP 'vtep'. */
static enum vxlan_classify
classify(const uint8_t *frame, size_t len, const char *vtep,
         struct vxlan_decap_info *d)
{
    struct guard_buf b;
    uint8_t *data = guard_buf_init(&b, frame, len);
    enum vxlan_classify result;

    result = vxlan_classify(data, data + len, len, ip4(vtep), d);
    guard_buf_destroy(&b);
    return result;
}

static uint16_t
get_be16(const uint8_t *p)
{
    return (uint16_t) (p[0] << 8 | p[1]);
}

/* The outer headers for the sample inner frame, byte for byte. */
static void
test_build_outer_bytes(void **state)
{
    static const uint8_t expected[50] = {
        /* Ethernet: 02:fa:00:00:00:01 -> next hop 02:fa:00:00:00:02,
         * IPv4. */
        0x02, 0xfa, 0x00, 0x00, 0x00, 0x02, 0x02, 0xfa, 0x00, 0x00, 0x00, 0x01,
        0x08, 0x00,
        /* IPv4: version 4, IHL 5; TOS 0xb9, the inner DSCP and ECN field
         * (RFC 6040, normal mode); total length 46 + 36 = 82 = 0x52; id 0;
         * DF; TTL 64; UDP; checksum 0xb673; 192.168.1.10 -> 192.168.1.20.
         *
         * The checksum by hand: the header's 16-bit words, the checksum
         * itself taken as zero, add up to
         *   0x45b9 + 0x0052 + 0x0000 + 0x4000 + 0x4011
         *   + 0xc0a8 + 0x010a + 0xc0a8 + 0x0114 = 0x2498a;
         * folding the carry gives 0x498a + 0x2 = 0x498c, whose complement
         * is 0xb673. */
        0x45, 0xb9, 0x00, 0x52, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0xb6, 0x73,
        0xc0, 0xa8, 0x01, 0x0a, 0xc0, 0xa8, 0x01, 0x14,
        /* UDP: source port from the flow hash (bytes 34 and 35, checked
         * separately), destination 4789 = 0x12b5, length 46 + 16 = 62 =
         * 0x3e, checksum 0 (none). */
        0x00, 0x00, 0x12, 0xb5, 0x00, 0x3e, 0x00, 0x00,
        /* VXLAN: flags I; no GBP flags; group 0; VNI 5000 = 0x001388 in
         * the upper 24 bits, then a reserved zero byte. */
        0x08, 0x00, 0x00, 0x00, 0x00, 0x13, 0x88, 0x00};
    struct vxlan_encap_params p = default_params();
    struct pkt_info info;
    struct vxlan_outer outer;
    uint8_t *bytes = (uint8_t *) &outer;
    uint16_t sport;

    assert_int_equal(sizeof outer, 50);
    assert_int_equal(VXLAN_OVERHEAD, 50);
    parse_inner(inner_udp4, sizeof inner_udp4, &info);
    memset(&outer, 0xa5, sizeof outer);
    vxlan_build_outer(&outer, &p, &info, sizeof inner_udp4);

    assert_memory_equal(bytes, expected, OFF_UDP);
    assert_memory_equal(bytes + OFF_UDP + 2, expected + OFF_UDP + 2,
                        sizeof expected - OFF_UDP - 2);
    assert_int_equal(rfc1071_csum(bytes + OFF_IP, 20), 0);

    sport = get_be16(bytes + OFF_UDP);
    assert_int_equal(sport, vxlan_src_port(vxlan_flow_hash(&info)));
    assert_in_range(sport, 49152, 65535);
}

/* The outer length fields follow the inner frame's length, and the
 * checksum stays right, from a bare Ethernet header up to a jumbo frame. */
static void
test_build_outer_lengths(void **state)
{
    static const uint32_t inner_lens[] = {14, 46, 60, 1500, 1514, 9014};
    struct vxlan_encap_params p = default_params();
    struct pkt_info info;

    parse_inner(inner_udp4, sizeof inner_udp4, &info);
    for (size_t i = 0; i < ARRAY_SIZE(inner_lens); i++) {
        struct vxlan_outer outer;
        uint8_t *bytes = (uint8_t *) &outer;

        vxlan_build_outer(&outer, &p, &info, inner_lens[i]);
        assert_int_equal(get_be16(bytes + OFF_IP + 2), inner_lens[i] + 36);
        assert_int_equal(get_be16(bytes + OFF_UDP + 4), inner_lens[i] + 16);
        assert_int_equal(rfc1071_csum(bytes + OFF_IP, 20), 0);
    }
}

/* DF and TTL come from the parameters. */
static void
test_build_outer_df_and_ttl(void **state)
{
    struct vxlan_encap_params p = default_params();
    struct pkt_info info;
    struct vxlan_outer outer;
    uint8_t *bytes = (uint8_t *) &outer;

    parse_inner(inner_udp4, sizeof inner_udp4, &info);
    p.dont_fragment = 0;
    p.ttl = 1;
    vxlan_build_outer(&outer, &p, &info, sizeof inner_udp4);
    assert_int_equal(get_be16(bytes + OFF_IP + 6), 0);
    assert_int_equal(bytes[OFF_IP + 8], 1);
    assert_int_equal(rfc1071_csum(bytes + OFF_IP, 20), 0);
}

/* A sender with a group policy id sets G and puts the id in bytes 2 and 3;
 * one without leaves both clear.  The GBP flag byte stays zero. */
static void
test_build_outer_gbp(void **state)
{
    static const struct {
        uint16_t group;   /* Sender's group. */
        uint8_t vxlan[4]; /* First 4 bytes of the VXLAN header. */
    } cases[] = {
        {0, {0x08, 0x00, 0x00, 0x00}},
        {0x1234, {0x88, 0x00, 0x12, 0x34}},
        {0x0001, {0x88, 0x00, 0x00, 0x01}},
        {0xffff, {0x88, 0x00, 0xff, 0xff}},
    };
    struct vxlan_encap_params p = default_params();
    struct pkt_info info;

    parse_inner(inner_udp4, sizeof inner_udp4, &info);
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        struct vxlan_outer outer;
        uint8_t *bytes = (uint8_t *) &outer;

        p.group = cases[i].group;
        vxlan_build_outer(&outer, &p, &info, sizeof inner_udp4);
        assert_memory_equal(bytes + OFF_VXLAN, cases[i].vxlan, 4);
    }
}

/* The VNI fills the upper 24 bits of bytes 4 to 7, most significant byte
 * first, and the last byte stays reserved. */
static void
test_build_outer_vni(void **state)
{
    static const struct {
        uint32_t vni;     /* Virtual network. */
        uint8_t bytes[4]; /* Bytes 4 to 7 of the VXLAN header. */
    } cases[] = {
        {0, {0x00, 0x00, 0x00, 0x00}},
        {1, {0x00, 0x00, 0x01, 0x00}},
        {0x123456, {0x12, 0x34, 0x56, 0x00}},
        {0xffffff, {0xff, 0xff, 0xff, 0x00}},
    };
    struct vxlan_encap_params p = default_params();
    struct pkt_info info;

    parse_inner(inner_udp4, sizeof inner_udp4, &info);
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        struct vxlan_outer outer;
        uint8_t *bytes = (uint8_t *) &outer;

        p.vni = cases[i].vni;
        vxlan_build_outer(&outer, &p, &info, sizeof inner_udp4);
        assert_memory_equal(bytes + OFF_VXLAN + 4, cases[i].bytes, 4);
    }
}

/* Returns the outer TOS vxlan_build_outer() writes for 'inner', after
 * checking that the outer checksum accounts for it. */
static uint8_t
outer_tos(const uint8_t *inner, size_t inner_len)
{
    struct vxlan_encap_params p = default_params();
    struct pkt_info info;
    struct vxlan_outer outer;
    uint8_t *bytes = (uint8_t *) &outer;

    parse_inner(inner, inner_len, &info);
    vxlan_build_outer(&outer, &p, &info, inner_len);
    assert_int_equal(rfc1071_csum(bytes + OFF_IP, 20), 0);
    assert_int_equal(vxlan_outer_tos(&info), bytes[OFF_IP + 1]);
    return bytes[OFF_IP + 1];
}

/* The outer header copies an IPv4 inner header's DSCP and, per RFC 6040's
 * normal mode, its ECN field. */
static void
test_outer_dscp_from_ipv4(void **state)
{
    static const struct {
        uint8_t inner; /* Inner TOS. */
        uint8_t outer; /* Outer TOS. */
    } cases[] = {
        {0xb9, 0xb9}, /* EF with ECT(1). */
        {0xb8, 0xb8}, /* EF, not ECN-capable. */
        {0x02, 0x02}, /* Best effort, ECT(0). */
        {0x03, 0x03}, /* Best effort, CE: the mark travels on. */
        {0xff, 0xff}, {0x00, 0x00},
    };

    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        uint8_t inner[sizeof inner_udp4];

        memcpy(inner, inner_udp4, sizeof inner);
        inner[14 + 1] = cases[i].inner;
        fix_ipv4_csum(inner + 14);
        assert_int_equal(outer_tos(inner, sizeof inner), cases[i].outer);
    }
}

/* The same holds for an IPv6 inner header's traffic class, which straddles
 * the nibbles of its first two bytes. */
static void
test_outer_dscp_from_ipv6(void **state)
{
    static const struct {
        uint8_t tclass; /* Inner traffic class. */
        uint8_t outer;  /* Outer TOS. */
    } cases[] = {
        {0xb9, 0xb9},
        {0x03, 0x03},
        {0xfe, 0xfe},
        {0x00, 0x00},
    };

    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        uint8_t inner[sizeof inner_udp6];

        memcpy(inner, inner_udp6, sizeof inner);
        inner[14] = 0x60 | cases[i].tclass >> 4;
        inner[15] = (uint8_t) (cases[i].tclass << 4);
        assert_int_equal(outer_tos(inner, sizeof inner), cases[i].outer);
    }
}

/* A frame that is not IP has no DSCP to copy. */
static void
test_outer_dscp_for_arp(void **state)
{
    assert_int_equal(outer_tos(inner_arp, sizeof inner_arp), 0);
}

/* Decapsulation follows RFC 6040, figure 4, cell by cell: rows are the
 * arriving inner ECN field, columns the arriving outer one.  Written out
 * from the RFC rather than derived, and checked with every DSCP around the
 * two bits, which must not matter. */
static void
test_ecn_decap_table(void **state)
{
    enum { N = VXLAN_ECN_NOT_ECT, E1 = VXLAN_ECN_ECT1, E0 = VXLAN_ECN_ECT0 };
    enum { CE = VXLAN_ECN_CE, DROP = VXLAN_ECN_DROP };
    /* [inner][outer], both indexed by the field's value: Not-ECT 0,
     * ECT(1) 1, ECT(0) 2, CE 3. */
    static const int rfc6040[4][4] = {
        /* Inner Not-ECT: outer Not-ECT, ECT(1), ECT(0), CE. */
        [N] = {[N] = N, [E1] = N, [E0] = N, [CE] = DROP},
        [E1] = {[N] = E1, [E1] = E1, [E0] = E1, [CE] = CE},
        [E0] = {[N] = E0, [E1] = E1, [E0] = E0, [CE] = CE},
        [CE] = {[N] = CE, [E1] = CE, [E0] = CE, [CE] = CE},
    };

    for (int dscp = 0; dscp < 64; dscp++) {
        for (int inner = 0; inner < 4; inner++) {
            for (int outer = 0; outer < 4; outer++) {
                uint8_t itos = (uint8_t) (dscp << 2 | inner);
                uint8_t otos = (uint8_t) ((63 - dscp) << 2 | outer);

                assert_int_equal(vxlan_ecn_decap(otos, itos),
                                 rfc6040[inner][outer]);
            }
        }
    }
}

/* Marking CE in an IPv4 header changes only the ECN bits and leaves a
 * header whose checksum is right, for every TOS and from any checksum the
 * rest of the header gives (the incremental update must agree with a
 * checksum computed from scratch, 0xffff/0x0000 corner included). */
static void
test_ecn_set_ipv4(void **state)
{
    for (int tos = 0; tos < 256; tos++) {
        for (int id = 0; id < 65536; id += 251) {
            uint8_t ip[20];

            memcpy(ip, inner_udp4 + 14, sizeof ip);
            ip[1] = (uint8_t) tos;
            ip[4] = (uint8_t) (id >> 8);
            ip[5] = (uint8_t) id;
            fix_ipv4_csum(ip);
            for (int ecn = 0; ecn < 4; ecn++) {
                uint8_t copy[20];

                memcpy(copy, ip, sizeof copy);
                vxlan_ipv4_set_ecn((struct pkt_ipv4 *) copy, (uint8_t) ecn);
                assert_int_equal(copy[1], (tos & 0xfc) | ecn);
                assert_int_equal(rfc1071_csum(copy, sizeof copy), 0);
                assert_memory_equal(copy + 2, ip + 2, 8);
                assert_memory_equal(copy + 12, ip + 12, 8);
            }
        }
    }
}

/* In IPv6 the ECN field is bits 4 and 5 of the second byte; the version,
 * the DSCP and the flow label stay. */
static void
test_ecn_set_ipv6(void **state)
{
    for (int tclass = 0; tclass < 256; tclass++) {
        for (int ecn = 0; ecn < 4; ecn++) {
            uint8_t ip6[40];

            memcpy(ip6, inner_udp6 + 14, sizeof ip6);
            ip6[0] = 0x60 | tclass >> 4;
            ip6[1] = (uint8_t) (tclass << 4 | 0x0a);
            ip6[2] = 0xbc;
            ip6[3] = 0xde;
            vxlan_ipv6_set_ecn((struct pkt_ipv6 *) ip6, (uint8_t) ecn);
            assert_int_equal(ip6[0], 0x60 | tclass >> 4);
            assert_int_equal(ip6[1],
                             ((tclass & 0xfc) | ecn) << 4 & 0xf0 | 0x0a);
            assert_int_equal(ip6[2], 0xbc);
            assert_int_equal(ip6[3], 0xde);
        }
    }
}

/* A frame built by vxlan_build_outer() and sent to our VTEP decapsulates to
 * the VNI, group and sender it was built with, and to the very inner frame
 * that went in. */
static void
test_classify_round_trip(void **state)
{
    static const struct {
        const uint8_t *inner; /* Inner frame. */
        size_t inner_len;     /* Its length. */
        uint32_t vni;         /* Virtual network. */
        uint16_t group;       /* Sender's group. */
    } cases[] = {
        {inner_udp4, sizeof inner_udp4, 5000, 0},
        {inner_udp6, sizeof inner_udp6, 0xffffff, 0x1234},
        {inner_arp, sizeof inner_arp, 1, 0xffff},
    };

    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        struct vxlan_encap_params p = default_params();
        struct pkt_info sent, received;
        struct vxlan_decap_info d;
        uint8_t frame[FRAME_MAX];
        size_t len;

        p.vni = cases[i].vni;
        p.group = cases[i].group;
        len = encap(frame, &p, cases[i].inner, cases[i].inner_len);
        memset(&d, 0xa5, sizeof d);
        assert_int_equal(classify(frame, len, "192.168.1.20", &d), VXLAN_OK);
        assert_int_equal(d.vni, cases[i].vni);
        assert_int_equal(d.group, cases[i].group);
        assert_int_equal(d.src_ip, ip4("192.168.1.10"));
        assert_int_equal(d.tos, frame[OFF_IP + 1]);
        assert_int_equal(d.inner_off, OFF_INNER);
        assert_int_equal(len - d.inner_off, cases[i].inner_len);
        assert_memory_equal(frame + d.inner_off, cases[i].inner,
                            cases[i].inner_len);

        parse_inner(cases[i].inner, cases[i].inner_len, &sent);
        parse_inner(frame + d.inner_off, len - d.inner_off, &received);
        assert_memory_equal(&received, &sent, sizeof sent);
    }
}

/* Builds the default VXLAN frame around the IPv4 inner frame into 'frame'
 * and returns its length. */
static size_t
default_frame(uint8_t *frame)
{
    struct vxlan_encap_params p = default_params();

    return encap(frame, &p, inner_udp4, sizeof inner_udp4);
}

/* VXLAN to another VTEP's address is not ours, whatever else is right. */
static void
test_classify_wrong_dst_ip(void **state)
{
    struct vxlan_decap_info d;
    uint8_t frame[FRAME_MAX];
    size_t len = default_frame(frame);

    assert_int_equal(classify(frame, len, "192.168.1.21", &d), VXLAN_NOT_OURS);
    assert_int_equal(classify(frame, len, "192.168.1.10", &d), VXLAN_NOT_OURS);
}

/* UDP to any port but 4789 is not ours, including the VXLAN port Linux used
 * before IANA assigned one. */
static void
test_classify_wrong_udp_port(void **state)
{
    static const uint16_t ports[] = {4790, 8472, 0, 0xb512};
    struct vxlan_decap_info d;
    uint8_t frame[FRAME_MAX];
    size_t len = default_frame(frame);

    for (size_t i = 0; i < ARRAY_SIZE(ports); i++) {
        frame[OFF_UDP + 2] = ports[i] >> 8;
        frame[OFF_UDP + 3] = ports[i] & 0xff;
        assert_int_equal(classify(frame, len, "192.168.1.20", &d),
                         VXLAN_NOT_OURS);
    }
}

/* Anything but UDP is not ours, even with a VXLAN header where UDP's port
 * would be. */
static void
test_classify_non_udp(void **state)
{
    static const uint8_t protos[] = {6, 1, 47, 0};
    struct vxlan_decap_info d;
    uint8_t frame[FRAME_MAX];
    size_t len = default_frame(frame);

    for (size_t i = 0; i < ARRAY_SIZE(protos); i++) {
        frame[OFF_IP + 9] = protos[i];
        fix_ipv4_csum(frame + OFF_IP);
        assert_int_equal(classify(frame, len, "192.168.1.20", &d),
                         VXLAN_NOT_OURS);
    }
}

/* An outer fragment, first or later, goes to the host stack: RFC 7348 lets
 * a VTEP drop VXLAN fragments, and the stack does so since nothing there
 * listens on 4789. */
static void
test_classify_fragment(void **state)
{
    static const uint16_t frag_offs[] = {
        0x2000, /* More fragments, offset 0: the first fragment. */
        0x00b9, /* Offset 185 (1480 bytes), the last fragment. */
        0x20b9, /* Offset 185 with more to come. */
        0x6000, /* DF and MF together, which is nonsense but says MF. */
    };
    struct vxlan_decap_info d;
    uint8_t frame[FRAME_MAX];
    size_t len = default_frame(frame);

    for (size_t i = 0; i < ARRAY_SIZE(frag_offs); i++) {
        frame[OFF_IP + 6] = frag_offs[i] >> 8;
        frame[OFF_IP + 7] = frag_offs[i] & 0xff;
        fix_ipv4_csum(frame + OFF_IP);
        assert_int_equal(classify(frame, len, "192.168.1.20", &d),
                         VXLAN_NOT_OURS);
    }
}

/* VXLAN without the I flag has no valid VNI and is unusable, with or
 * without G. */
static void
test_classify_clear_i_flag(void **state)
{
    static const uint8_t flags[] = {0x00, 0x80, 0xf7};
    struct vxlan_decap_info d;
    uint8_t frame[FRAME_MAX];
    size_t len = default_frame(frame);

    for (size_t i = 0; i < ARRAY_SIZE(flags); i++) {
        frame[OFF_VXLAN] = flags[i];
        assert_int_equal(classify(frame, len, "192.168.1.20", &d),
                         VXLAN_MALFORMED);
    }
}

/* A G flag that is clear leaves the group bytes unread. */
static void
test_classify_group_needs_g_flag(void **state)
{
    struct vxlan_decap_info d;
    uint8_t frame[FRAME_MAX];
    size_t len = default_frame(frame);

    frame[OFF_VXLAN + 2] = 0x12;
    frame[OFF_VXLAN + 3] = 0x34;
    assert_int_equal(classify(frame, len, "192.168.1.20", &d), VXLAN_OK);
    assert_int_equal(d.group, 0);
    frame[OFF_VXLAN] |= VXLAN_FLAG_G;
    assert_int_equal(classify(frame, len, "192.168.1.20", &d), VXLAN_OK);
    assert_int_equal(d.group, 0x1234);
}

/* Cut anywhere before the UDP header is whole, a frame cannot be told to be
 * VXLAN and is not ours; cut anywhere after it, it is VXLAN to us but
 * unusable, because its lengths claim bytes that are not there. */
static void
test_classify_truncated(void **state)
{
    uint8_t frame[FRAME_MAX];
    size_t len = default_frame(frame);

    for (size_t cut = 0; cut <= len; cut++) {
        enum vxlan_classify expected;
        enum vxlan_classify result;
        struct vxlan_decap_info d;

        /* Past the UDP header it is ours; any cut then leaves the IPv4
         * and UDP lengths claiming more than is there. */
        if (cut < OFF_VXLAN) {
            expected = VXLAN_NOT_OURS;
        } else if (cut < len) {
            expected = VXLAN_MALFORMED;
        } else {
            expected = VXLAN_OK;
        }
        result = classify(frame, cut, "192.168.1.20", &d);
        if (result != expected) {
            fail_msg("frame cut to %zu bytes: classified %d, expected %d", cut,
                     result, expected);
        }
    }
}

/* Our VTEPs never send outer IPv4 options, so VXLAN to us with options is
 * unusable. */
static void
test_classify_outer_ipv4_options(void **state)
{
    static const uint8_t nops[4] = {0x01, 0x01, 0x01, 0x00};
    struct vxlan_decap_info d;
    uint8_t plain[FRAME_MAX];
    uint8_t frame[FRAME_MAX];
    size_t len = default_frame(plain);

    /* Insert NOP, NOP, NOP, End of options after the 20-byte header. */
    memcpy(frame, plain, OFF_UDP);
    memcpy(frame + OFF_UDP, nops, sizeof nops);
    memcpy(frame + OFF_UDP + 4, plain + OFF_UDP, len - OFF_UDP);
    len += 4;
    frame[OFF_IP] = 0x46;
    frame[OFF_IP + 3] += 4;
    fix_ipv4_csum(frame + OFF_IP);
    assert_int_equal(classify(frame, len, "192.168.1.20", &d),
                     VXLAN_MALFORMED);
}

/* A VLAN-tagged underlay frame is not ours: the uplink is untagged. */
static void
test_classify_vlan_tagged_outer(void **state)
{
    static const uint8_t tag[4] = {0x81, 0x00, 0x00, 0x0a}; /* VLAN 10. */
    struct vxlan_decap_info d;
    uint8_t plain[FRAME_MAX];
    uint8_t frame[FRAME_MAX];
    size_t len = default_frame(plain);

    memcpy(frame, plain, 12);
    memcpy(frame + 12, tag, sizeof tag);
    memcpy(frame + 16, plain + 12, len - 12);
    assert_int_equal(classify(frame, len + 4, "192.168.1.20", &d),
                     VXLAN_NOT_OURS);
}

/* A frame that is not IPv4 at all is not ours. */
static void
test_classify_not_ipv4(void **state)
{
    struct vxlan_decap_info d;

    assert_int_equal(
        classify(inner_udp6, sizeof inner_udp6, "192.168.1.20", &d),
        VXLAN_NOT_OURS);
    assert_int_equal(classify(inner_arp, sizeof inner_arp, "10.0.0.2", &d),
                     VXLAN_NOT_OURS);
}

/* Replicating a frame to another VTEP rewrites its MAC and IPv4
 * destination, keeps the checksum right, and touches nothing else. */
static void
test_set_outer_dst(void **state)
{
    static const uint8_t new_mac[6] = {0x02, 0xfa, 0x00, 0x00, 0x00, 0x09};
    struct vxlan_encap_params p = default_params();
    struct vxlan_outer outer;
    struct pkt_info info;
    uint8_t expected[sizeof outer];
    uint8_t *bytes = (uint8_t *) &outer;

    parse_inner(inner_udp4, sizeof inner_udp4, &info);
    vxlan_build_outer(&outer, &p, &info, sizeof inner_udp4);
    memcpy(expected, bytes, sizeof expected);

    vxlan_set_outer_dst(&outer, ip4("192.168.1.99"), new_mac);

    memcpy(expected, new_mac, 6);
    memcpy(expected + OFF_IP + 16, (uint8_t[]){192, 168, 1, 99}, 4);
    assert_int_equal(rfc1071_csum(bytes + OFF_IP, 20), 0);
    memcpy(expected + OFF_IP + 10, bytes + OFF_IP + 10, 2);
    assert_memory_equal(bytes, expected, sizeof expected);
}

/* Returns the description of a UDP flow over IPv4, as pkt_parse_frame()
 * would fill it in. */
static struct pkt_info
udp4_flow(uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport)
{
    struct pkt_info info;

    memset(&info, 0, sizeof info);
    info.l3_proto = PKT_ETH_P_IPV4;
    info.l4_proto = PKT_IPPROTO_UDP;
    info.src4 = htonl(src);
    info.dst4 = htonl(dst);
    info.sport = htons(sport);
    info.dport = htons(dport);
    return info;
}

static uint16_t
flow_port(const struct pkt_info *info)
{
    return vxlan_src_port(vxlan_flow_hash(info));
}

/* Packets of one flow that differ in anything but the 5-tuple (payload, TTL,
 * DSCP, TCP flags) share one outer source port, so the underlay keeps them on
 * one path and in order. */
static void
test_flow_hash_same_flow_same_port(void **state)
{
    uint8_t other[sizeof inner_udp4];
    struct pkt_info a, b;

    memcpy(other, inner_udp4, sizeof other);
    other[14 + 1] = 0x00;          /* TOS. */
    other[14 + 8] = 1;             /* TTL. */
    memcpy(other + 42, "pong", 4); /* Payload. */
    parse_inner(inner_udp4, sizeof inner_udp4, &a);
    parse_inner(other, sizeof other, &b);
    assert_int_equal(vxlan_flow_hash(&a), vxlan_flow_hash(&b));
    assert_int_equal(flow_port(&a), flow_port(&b));

    a = udp4_flow(0x0a000001, 0x0a000002, 40000, 443);
    b = udp4_flow(0x0a000001, 0x0a000002, 40000, 443);
    assert_int_equal(flow_port(&a), flow_port(&b));
}

/* The source port always lies in 49152..65535, at both ends of the hash
 * range and everywhere between. */
static void
test_src_port_range(void **state)
{
    assert_int_equal(vxlan_src_port(0), 49152);
    assert_int_equal(vxlan_src_port(0x3fff), 65535);
    assert_int_equal(vxlan_src_port(0x4000), 49152);
    assert_int_equal(vxlan_src_port(0xffffffff), 65535);
    for (uint32_t i = 0; i < 100000; i++) {
        uint32_t hash = i * 0x9e3779b9;

        assert_in_range(vxlan_src_port(hash), 49152, 65535);
    }
}

/* 10000 distinct flows, varying source address, source port and destination
 * address, spread evenly over the source port range.
 *
 * Two criteria, each far from what a sound hash could fail by chance but
 * easy for a broken one to miss:
 *
 * - Chi-square over 64 equal buckets of the range (256 ports each), and
 *   again over the port modulo 64 to catch dead low bits.  With 63 degrees
 *   of freedom the statistic averages 63 with standard deviation 11; 150 is
 *   exceeded with probability about 1e-8.  A hash that used only half the
 *   range would score about 10000.
 *
 * - Distinct ports.  Throwing 10000 flows at 16384 ports uniformly leaves
 *   16384 * (1 - e^(-10000/16384)) = 7486 distinct, with standard deviation
 *   about 30; at least 7000 must be. */
static void
test_flow_hash_spread(void **state)
{
    enum { N_FLOWS = 10000, N_BUCKETS = 64, N_PORTS = 16384 };
    unsigned int by_range[N_BUCKETS] = {0};
    unsigned int by_low_bits[N_BUCKETS] = {0};
    static uint8_t seen[N_PORTS];
    double expected = (double) N_FLOWS / N_BUCKETS;
    double chi2_range = 0, chi2_low = 0;
    unsigned int distinct = 0;

    memset(seen, 0, sizeof seen);
    for (unsigned int i = 0; i < N_FLOWS; i++) {
        struct pkt_info flow = udp4_flow(
            0x0a000000 | i / 100, 0xc0a80000 | i % 7, 1024 + i % 100 * 37, 80);
        unsigned int port = flow_port(&flow) - VXLAN_SRC_PORT_MIN;

        assert_true(port < N_PORTS);
        by_range[port / (N_PORTS / N_BUCKETS)]++;
        by_low_bits[port % N_BUCKETS]++;
        if (!seen[port]) {
            seen[port] = 1;
            distinct++;
        }
    }
    for (int i = 0; i < N_BUCKETS; i++) {
        chi2_range +=
            (by_range[i] - expected) * (by_range[i] - expected) / expected;
        chi2_low += (by_low_bits[i] - expected) * (by_low_bits[i] - expected)
                    / expected;
    }
    print_message("spread: chi-square %.1f over the range, %.1f over low "
                  "bits, %u distinct ports\n",
                  chi2_range, chi2_low, distinct);
    assert_true(chi2_range < 150);
    assert_true(chi2_low < 150);
    assert_true(distinct >= 7000);
}

/* Flows that differ only in one L4 port, or only in the L4 protocol, almost
 * always get different outer ports: a collision among 14 bits happens once in
 * 16384 pairs, so 10 in 1000 is already very unlikely. */
static void
test_flow_hash_l4_ports_matter(void **state)
{
    unsigned int same_sport = 0, same_dport = 0, same_proto = 0;

    for (uint32_t i = 0; i < 1000; i++) {
        uint32_t src = 0x0a000001 + i * 3, dst = 0x0a000002;
        uint16_t sport = (uint16_t) (10000 + i * 13);
        struct pkt_info flow = udp4_flow(src, dst, sport, 443);
        struct pkt_info next_sport = udp4_flow(src, dst, sport + 1, 443);
        struct pkt_info next_dport = udp4_flow(src, dst, sport, 444);
        struct pkt_info tcp = flow;

        tcp.l4_proto = PKT_IPPROTO_TCP;
        assert_int_not_equal(vxlan_flow_hash(&flow),
                             vxlan_flow_hash(&next_sport));
        assert_int_not_equal(vxlan_flow_hash(&flow),
                             vxlan_flow_hash(&next_dport));
        same_sport += flow_port(&flow) == flow_port(&next_sport);
        same_dport += flow_port(&flow) == flow_port(&next_dport);
        same_proto += flow_port(&flow) == flow_port(&tcp);
    }
    assert_true(same_sport < 10);
    assert_true(same_dport < 10);
    assert_true(same_proto < 10);
}

/* IPv6 flows hash every byte of both addresses, and non-IP frames every
 * byte of both MACs: changing any one of them in the frame changes the
 * hash. */
static void
test_flow_hash_ipv6_and_non_ip(void **state)
{
    struct pkt_info v6, arp;

    parse_inner(inner_udp6, sizeof inner_udp6, &v6);
    for (size_t i = 14 + 8; i < 14 + 40; i++) {
        uint8_t frame[sizeof inner_udp6];
        struct pkt_info other;

        memcpy(frame, inner_udp6, sizeof frame);
        frame[i] ^= 0x01;
        parse_inner(frame, sizeof frame, &other);
        assert_int_not_equal(vxlan_flow_hash(&other), vxlan_flow_hash(&v6));
    }

    parse_inner(inner_arp, sizeof inner_arp, &arp);
    for (size_t i = 0; i < 12; i++) {
        uint8_t frame[sizeof inner_arp];
        struct pkt_info other;

        memcpy(frame, inner_arp, sizeof frame);
        frame[i] ^= 0x80;
        parse_inner(frame, sizeof frame, &other);
        assert_int_not_equal(vxlan_flow_hash(&other), vxlan_flow_hash(&arp));
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_build_outer_bytes),
        cmocka_unit_test(test_build_outer_lengths),
        cmocka_unit_test(test_build_outer_df_and_ttl),
        cmocka_unit_test(test_build_outer_gbp),
        cmocka_unit_test(test_build_outer_vni),
        cmocka_unit_test(test_outer_dscp_from_ipv4),
        cmocka_unit_test(test_outer_dscp_from_ipv6),
        cmocka_unit_test(test_outer_dscp_for_arp),
        cmocka_unit_test(test_ecn_decap_table),
        cmocka_unit_test(test_ecn_set_ipv4),
        cmocka_unit_test(test_ecn_set_ipv6),
        cmocka_unit_test(test_classify_round_trip),
        cmocka_unit_test(test_classify_wrong_dst_ip),
        cmocka_unit_test(test_classify_wrong_udp_port),
        cmocka_unit_test(test_classify_non_udp),
        cmocka_unit_test(test_classify_fragment),
        cmocka_unit_test(test_classify_clear_i_flag),
        cmocka_unit_test(test_classify_group_needs_g_flag),
        cmocka_unit_test(test_classify_truncated),
        cmocka_unit_test(test_classify_outer_ipv4_options),
        cmocka_unit_test(test_classify_vlan_tagged_outer),
        cmocka_unit_test(test_classify_not_ipv4),
        cmocka_unit_test(test_set_outer_dst),
        cmocka_unit_test(test_flow_hash_same_flow_same_port),
        cmocka_unit_test(test_src_port_range),
        cmocka_unit_test(test_flow_hash_spread),
        cmocka_unit_test(test_flow_hash_l4_ports_matter),
        cmocka_unit_test(test_flow_hash_ipv6_and_non_ip),
    };

    return cmocka_run_group_tests_name("vxlan/vxlan.h", tests, NULL, NULL);
}
