/* Unit tests for qos/dscp.h: DSCP marking of IPv4 and IPv6 headers.
 *
 * The story: marking a header changes exactly the six DSCP bits and, for
 * IPv4, the header checksum, to the bytes a full recomputation gives; the
 * ECN bits and the IPv6 flow label stay; QOS_DSCP_KEEP touches nothing;
 * and a truncated or foreign header is refused without a byte read past
 * its end (guard pages) or a byte changed.  Checksums are verified with
 * rfc1071_sum() below, written from RFC 1071 and independent of
 * packet/csum.h. */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "qos/dscp.h"

#include "tests/unit/guard-buf.h"

/* Returns the RFC 1071 checksum of the 'len' (even) bytes at 'p': the one's
 * complement of the one's complement sum of the big-endian 16-bit words. */
static uint16_t
rfc1071_sum(const uint8_t *p, size_t len)
{
    uint32_t sum = 0;
    size_t i;

    for (i = 0; i + 1 < len; i += 2) {
        sum += (uint32_t) p[i] << 8 | p[i + 1];
    }
    while (sum >> 16) {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    return (uint16_t) ~sum;
}

/* Stores a correct checksum in the IPv4 header 'ip' (options included). */
static void
set_ipv4_csum(uint8_t *ip)
{
    size_t hlen = (size_t) (ip[0] & 0x0f) * 4;
    uint16_t csum;

    ip[10] = ip[11] = 0;
    csum = rfc1071_sum(ip, hlen);
    ip[10] = (uint8_t) (csum >> 8);
    ip[11] = (uint8_t) csum;
}

/* A UDP datagram from 192.0.2.1 to 198.51.100.7: TOS 0x02 (DSCP 0, ECN
 * ECT(0)), 28 bytes, id 0xbeef, DF, TTL 64, correct checksum 0x8fa3. */
static const uint8_t ipv4_udp[] = {
    0x45, 0x02, 0x00, 0x1c, 0xbe, 0xef, 0x40, 0x00, 0x40, 0x11, 0x8f, 0xa3,
    0xc0, 0x00, 0x02, 0x01, 0xc6, 0x33, 0x64, 0x07,
    /* UDP: 4000 -> 4001, 8 bytes, no checksum. */
    0x0f, 0xa0, 0x0f, 0xa1, 0x00, 0x08, 0x00, 0x00};

/* An IPv6 UDP datagram from 2001:db8::1 to 2001:db8::2: traffic class
 * 0x01 (DSCP 0, ECN ECT(1)), flow label 0xabcde, 8-byte payload. */
static const uint8_t ipv6_udp[] = {
    0x60, 0x1a, 0xbc, 0xde, 0x00, 0x08, 0x11, 0x40, 0x20, 0x01, 0x0d, 0xb8,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01,
    0x20, 0x01, 0x0d, 0xb8, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x02,
    /* UDP: 4000 -> 4001, 8 bytes, checksum not filled in. */
    0x0f, 0xa0, 0x0f, 0xa1, 0x00, 0x08, 0x00, 0x00};

/* Runs qos_dscp_set() for ethertype 'proto' and 'dscp' on a guarded copy
 * of the 'len' bytes at 'in', copying the result to 'out'. */
static int
mark(uint16_t proto, const uint8_t *in, size_t len, uint8_t dscp, uint8_t *out)
{
    struct guard_buf g;
    struct pkt_cursor c;
    uint8_t *data = guard_buf_init(&g, in, len);
    int error;

    pkt_cursor_init(&c, data, g.end);
    error = qos_dscp_set(&c, proto, dscp);
    assert_ptr_equal(c.pos, data);
    if (len) {
        memcpy(out, data, len);
    }
    guard_buf_destroy(&g);
    return error;
}

/* The fixture's checksum is right to begin with, so the test's own
 * arithmetic is checked too. */
static void
test_fixture_csum(void **state)
{
    uint8_t ip[sizeof ipv4_udp];

    (void) state;

    assert_int_equal(rfc1071_sum(ipv4_udp, 20), 0);
    memcpy(ip, ipv4_udp, sizeof ip);
    set_ipv4_csum(ip);
    assert_memory_equal(ip, ipv4_udp, sizeof ip);
}

/* EF (46) on the IPv4 fixture: TOS 0x02 becomes 0xba; the checksum falls
 * by 0xb8 to 0x8eeb. */
static void
test_ipv4_ef(void **state)
{
    uint8_t want[sizeof ipv4_udp], got[sizeof ipv4_udp];

    (void) state;

    memcpy(want, ipv4_udp, sizeof want);
    want[1] = 0xba;
    want[10] = 0x8e;
    want[11] = 0xeb;
    assert_int_equal(rfc1071_sum(want, 20), 0);

    assert_int_equal(mark(PKT_ETH_P_IPV4, ipv4_udp, sizeof ipv4_udp, 46, got),
                     0);
    assert_memory_equal(got, want, sizeof want);
}

/* Every DSCP over every ECN value, from headers with varied contents and
 * options: the result equals the input with the TOS set and the checksum
 * recomputed from scratch. */
static void
test_ipv4_all(void **state)
{
    uint8_t hdr[60], want[60], got[60];
    uint32_t seed = 12345;
    int round, ecn, dscp;

    (void) state;

    for (round = 0; round < 200; round++) {
        size_t ihl = 5 + (size_t) round % 11, len = ihl * 4, i;

        for (i = 0; i < len; i++) {
            seed = seed * 1103515245 + 12345;
            hdr[i] = (uint8_t) (seed >> 16);
        }
        hdr[0] = (uint8_t) (0x40 | ihl);
        for (ecn = 0; ecn < 4; ecn++) {
            hdr[1] = (uint8_t) ((hdr[1] & 0xfc) | ecn);
            set_ipv4_csum(hdr);
            for (dscp = 0; dscp <= QOS_DSCP_MAX; dscp++) {
                memcpy(want, hdr, len);
                want[1] = (uint8_t) (dscp << 2 | ecn);
                set_ipv4_csum(want);

                assert_int_equal(
                    mark(PKT_ETH_P_IPV4, hdr, len, (uint8_t) dscp, got), 0);
                assert_memory_equal(got, want, len);
                assert_int_equal(rfc1071_sum(got, len), 0);
            }
        }
    }
}

/* Whatever checksum a header starts with (the id is walked through every
 * value, so the checksum is too, and with it every carry in the
 * incremental update), marking gives the checksum a recomputation gives.
 * Both directions are covered: DSCP 63 raises the TOS word, DSCP 0
 * lowers it. */
static void
test_ipv4_csum_every_value(void **state)
{
    uint8_t hdr[20], want[20], got[20];
    struct pkt_cursor c;
    unsigned int id;
    int i;

    (void) state;

    for (id = 0; id <= 0xffff; id++) {
        for (i = 0; i < 2; i++) {
            uint8_t dscp = i ? 0 : 63;

            memcpy(hdr, ipv4_udp, sizeof hdr);
            hdr[1] = 0x5a;
            hdr[4] = (uint8_t) (id >> 8);
            hdr[5] = (uint8_t) id;
            set_ipv4_csum(hdr);
            memcpy(want, hdr, sizeof want);
            want[1] = (uint8_t) (dscp << 2 | (hdr[1] & 3));
            set_ipv4_csum(want);

            /* Plain memory: guard pages for 2^17 headers would be slow. */
            memcpy(got, hdr, sizeof got);
            pkt_cursor_init(&c, got, got + sizeof got);
            assert_int_equal(qos_dscp_set_ipv4(&c, dscp), 0);
            assert_memory_equal(got, want, sizeof want);
        }
    }
}

/* AF41 (34) on the IPv6 fixture: traffic class 0x01 becomes 0x89, so the
 * first two bytes go from 60 1a to 68 9a; the flow label stays. */
static void
test_ipv6_af41(void **state)
{
    uint8_t want[sizeof ipv6_udp], got[sizeof ipv6_udp];
    int dscp, ecn;

    (void) state;

    memcpy(want, ipv6_udp, sizeof want);
    want[0] = 0x68;
    want[1] = 0x9a;
    assert_int_equal(mark(PKT_ETH_P_IPV6, ipv6_udp, sizeof ipv6_udp, 34, got),
                     0);
    assert_memory_equal(got, want, sizeof want);

    /* Every DSCP over every ECN value. */
    for (ecn = 0; ecn < 4; ecn++) {
        uint8_t hdr[sizeof ipv6_udp];

        memcpy(hdr, ipv6_udp, sizeof hdr);
        hdr[1] = (uint8_t) ((hdr[1] & 0xcf) | ecn << 4);
        for (dscp = 0; dscp <= QOS_DSCP_MAX; dscp++) {
            uint8_t tc = (uint8_t) (dscp << 2 | ecn);

            memcpy(want, hdr, sizeof want);
            want[0] = (uint8_t) (0x60 | tc >> 4);
            want[1] = (uint8_t) ((tc & 0x0f) << 4 | (hdr[1] & 0x0f));
            assert_int_equal(
                mark(PKT_ETH_P_IPV6, hdr, sizeof hdr, (uint8_t) dscp, got), 0);
            assert_memory_equal(got, want, sizeof want);
        }
    }
}

/* QOS_DSCP_KEEP changes nothing, whatever the header. */
static void
test_keep(void **state)
{
    uint8_t got[sizeof ipv6_udp];

    (void) state;

    assert_int_equal(
        mark(PKT_ETH_P_IPV4, ipv4_udp, sizeof ipv4_udp, QOS_DSCP_KEEP, got),
        0);
    assert_memory_equal(got, ipv4_udp, sizeof ipv4_udp);
    assert_int_equal(
        mark(PKT_ETH_P_IPV6, ipv6_udp, sizeof ipv6_udp, QOS_DSCP_KEEP, got),
        0);
    assert_memory_equal(got, ipv6_udp, sizeof ipv6_udp);

    /* Not even a truncated header is looked at. */
    assert_int_equal(mark(PKT_ETH_P_IPV4, ipv4_udp, 3, QOS_DSCP_KEEP, got), 0);
    assert_memory_equal(got, ipv4_udp, 3);

    /* The helper for pkt_info's 'tos' agrees. */
    assert_int_equal(qos_dscp_tos(0xb9, QOS_DSCP_KEEP), 0xb9);
    assert_int_equal(qos_dscp_tos(0xb9, 10), 0x29);
    assert_int_equal(qos_dscp_tos(0x03, 0), 0x03);
}

/* A header cut anywhere before its end is refused, unchanged, without a
 * read past the end (the guard page would crash the test). */
static void
test_truncated(void **state)
{
    uint8_t got[sizeof ipv6_udp];
    size_t len;

    (void) state;

    for (len = 0; len < 20; len++) {
        assert_int_equal(mark(PKT_ETH_P_IPV4, ipv4_udp, len, 46, got), -1);
        assert_memory_equal(got, ipv4_udp, len);
    }
    assert_int_equal(mark(PKT_ETH_P_IPV4, ipv4_udp, 20, 46, got), 0);

    for (len = 0; len < 40; len++) {
        assert_int_equal(mark(PKT_ETH_P_IPV6, ipv6_udp, len, 46, got), -1);
        assert_memory_equal(got, ipv6_udp, len);
    }
    assert_int_equal(mark(PKT_ETH_P_IPV6, ipv6_udp, 40, 46, got), 0);
}

/* Headers that are not what the ethertype says, and code points that do
 * not exist, are refused unchanged; frames without DSCP are left alone. */
static void
test_refused(void **state)
{
    uint8_t bad[sizeof ipv6_udp], got[sizeof ipv6_udp];

    (void) state;

    /* IPv6 bytes under the IPv4 ethertype, and the reverse. */
    assert_int_equal(mark(PKT_ETH_P_IPV4, ipv6_udp, sizeof ipv6_udp, 46, got),
                     -1);
    assert_memory_equal(got, ipv6_udp, sizeof ipv6_udp);
    assert_int_equal(mark(PKT_ETH_P_IPV6, ipv4_udp, sizeof ipv4_udp, 46, got),
                     -1);
    assert_memory_equal(got, ipv4_udp, sizeof ipv4_udp);

    /* An IPv4 header length below 20 bytes. */
    memcpy(bad, ipv4_udp, sizeof ipv4_udp);
    bad[0] = 0x44;
    assert_int_equal(mark(PKT_ETH_P_IPV4, bad, sizeof ipv4_udp, 46, got), -1);
    assert_memory_equal(got, bad, sizeof ipv4_udp);

    /* DSCP 64 does not exist. */
    assert_int_equal(mark(PKT_ETH_P_IPV4, ipv4_udp, sizeof ipv4_udp, 64, got),
                     -1);
    assert_memory_equal(got, ipv4_udp, sizeof ipv4_udp);
    assert_int_equal(mark(PKT_ETH_P_IPV6, ipv6_udp, sizeof ipv6_udp, 64, got),
                     -1);
    assert_memory_equal(got, ipv6_udp, sizeof ipv6_udp);
    assert_false(qos_dscp_is_valid(64));
    assert_true(qos_dscp_is_valid(63));
    assert_true(qos_dscp_is_valid(QOS_DSCP_KEEP));

    /* ARP has no DSCP: nothing to do, nothing changed. */
    assert_int_equal(mark(PKT_ETH_P_ARP, ipv4_udp, sizeof ipv4_udp, 46, got),
                     0);
    assert_memory_equal(got, ipv4_udp, sizeof ipv4_udp);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixture_csum),
        cmocka_unit_test(test_ipv4_ef),
        cmocka_unit_test(test_ipv4_all),
        cmocka_unit_test(test_ipv4_csum_every_value),
        cmocka_unit_test(test_ipv6_af41),
        cmocka_unit_test(test_keep),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_refused),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
