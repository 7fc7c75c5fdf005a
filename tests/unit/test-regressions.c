/* Regression tests for bugs found in packet/ and vxlan/, each kept as the
 * story of how it showed.
 *
 * 1. pkt_parse_ipv6() walked extension headers past a fragment header with a
 *    non-zero offset.  A later fragment carries only a slice of the
 *    fragmentable part: the "next header" of its fragment header names the
 *    first header of the first fragment, which is not in this packet, so
 *    payload bytes were read as an extension header.
 *
 * 2. vxlan_flow_hash() read the __u8 arrays 'src6' and 'dst6' through a
 *    __u32 pointer, breaking C's strict aliasing rule; gcc 12 at -O2 then
 *    hashed a stale copy of an address edited after a struct copy. */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "vxlan/vxlan.h"

#include "tests/unit/guard-buf.h"

/* The second fragment of an IPv6 datagram whose fragmentable part starts
 * with a Destination Options header. */
static const uint8_t later_frag_dstopts[] = {
    /* Ethernet: 02:00:00:00:00:0a -> 02:00:00:00:00:0b, IPv6. */
    0x02, 0x00, 0x00, 0x00, 0x00, 0x0b, 0x02, 0x00, 0x00, 0x00, 0x00, 0x0a,
    0x86, 0xdd,
    /* IPv6: 16-byte payload, next header fragment, hop limit 64, fd00::1 ->
     * fd00::2. */
    0x60, 0x00, 0x00, 0x00, 0x00, 0x10, 0x2c, 0x40, 0xfd, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01,
    0xfd, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x02,
    /* Fragment header: next header Destination Options, offset 21 (168
     * bytes), last fragment, id 0xabcd. */
    0x3c, 0x00, 0x00, 0xa8, 0x00, 0x00, 0xab, 0xcd,
    /* 8 bytes from the middle of the datagram.  Read as an extension header,
     * they would say "next TCP, 2048 bytes long". */
    0x06, 0xff, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00};

static int
parse(const uint8_t *frame, size_t len, struct pkt_info *info)
{
    struct guard_buf b;
    uint8_t *data = guard_buf_init(&b, frame, len);
    int retval = pkt_parse_frame(data, data + len, info);

    guard_buf_destroy(&b);
    return retval;
}

/* The fragment is valid, so it parses, as a fragment without L4. */
static void
test_ipv6_later_fragment_is_accepted(void **state)
{
    struct pkt_info info;

    assert_int_equal(
        parse(later_frag_dstopts, sizeof later_frag_dstopts, &info), 0);
    assert_int_equal(info.fragment, 1);
    assert_int_equal(info.l4_off, 0);
}

/* Its protocol is the fragment header's next header, not a payload byte. */
static void
test_ipv6_later_fragment_proto_is_not_payload(void **state)
{
    uint8_t frame[sizeof later_frag_dstopts];
    struct pkt_info info;

    memcpy(frame, later_frag_dstopts, sizeof frame);
    frame[sizeof frame - 7] = 0x00; /* A "header" that fits. */
    assert_int_equal(parse(frame, sizeof frame, &info), 0);
    assert_int_equal(info.fragment, 1);
    assert_int_equal(info.l4_proto, 60);
}

/* Changing one byte of an IPv6 source address changes the flow hash, also
 * when the flow description is a copy edited in place. */
static void
test_ipv6_flow_hash_sees_edited_copy(void **state)
{
    struct pkt_info a, b;

    memset(&a, 0, sizeof a);
    a.l3_proto = PKT_ETH_P_IPV6;
    a.l4_proto = PKT_IPPROTO_UDP;
    a.src6[0] = a.dst6[0] = 0xfd;
    a.src6[15] = 1;
    a.dst6[15] = 2;
    b = a;
    b.src6[15] = 3;
    assert_int_not_equal(vxlan_flow_hash(&a), vxlan_flow_hash(&b));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ipv6_later_fragment_is_accepted),
        cmocka_unit_test(test_ipv6_later_fragment_proto_is_not_payload),
        cmocka_unit_test(test_ipv6_flow_hash_sees_edited_copy),
    };

    return cmocka_run_group_tests_name("known bugs", tests, NULL, NULL);
}
