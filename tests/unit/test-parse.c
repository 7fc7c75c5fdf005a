/* Unit tests for packet/parse.h: the header parsers and pkt_parse_frame().
 *
 * Every sample frame below is written out byte by byte, with its IPv4 and L4
 * checksums filled in, so that each test reads as "this is what arrived on
 * the wire, and this is what the parser must make of it".  The truncation
 * test then feeds every prefix of every sample through a guard_buf, which
 * turns any read past the end of the frame into a crash. */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <string.h>

#include "packet/parse.h"

#include "tests/unit/guard-buf.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof(a)[0])

/* The two VMs that exchange most of the sample frames. */
#define MAC_A 0x02, 0x00, 0x00, 0x00, 0x00, 0x0a
#define MAC_B 0x02, 0x00, 0x00, 0x00, 0x00, 0x0b
#define IP4_A 0x0a, 0x00, 0x00, 0x01 /* 10.0.0.1 */
#define IP4_B 0x0a, 0x00, 0x00, 0x02 /* 10.0.0.2 */
#define IP6_A                                                                 \
    0xfd, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,   \
        0x00, 0x00, 0x00, 0x01 /* fd00::1 */
#define IP6_B                                                                 \
    0xfd, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,   \
        0x00, 0x00, 0x00, 0x02 /* fd00::2 */

static const uint8_t mac_a[6] = {MAC_A};
static const uint8_t mac_b[6] = {MAC_B};
static const uint8_t ip6_a[16] = {IP6_A};
static const uint8_t ip6_b[16] = {IP6_B};
static const uint8_t zeros[16];

/* A DNS query from A to B: untagged Ethernet, IPv4, UDP. */
static const uint8_t udp4_frame[] = {
    /* Ethernet: A -> B, IPv4. */
    MAC_B, MAC_A, 0x08, 0x00,
    /* IPv4: TOS 0xb9 (DSCP 46, ECN 1), 32 bytes, id 0x1234, DF, TTL 64,
     * UDP, checksum 0x13de, A -> B. */
    0x45, 0xb9, 0x00, 0x20, 0x12, 0x34, 0x40, 0x00, 0x40, 0x11, 0x13, 0xde,
    IP4_A, IP4_B,
    /* UDP: 1234 -> 53, 12 bytes, checksum 0x07fc. */
    0x04, 0xd2, 0x00, 0x35, 0x00, 0x0c, 0x07, 0xfc,
    /* Payload. */
    'p', 'i', 'n', 'g'};

/* A TCP SYN from A to B on VLAN 100, with the usual SYN options. */
static const uint8_t tcp4_vlan_frame[] = {
    /* Ethernet: A -> B, 802.1Q tag with PCP 3 and VLAN 100, IPv4. */
    MAC_B, MAC_A, 0x81, 0x00, 0x60, 0x64, 0x08, 0x00,
    /* IPv4: 52 bytes, id 1, DF, TTL 64, TCP, checksum 0x26c1, A -> B. */
    0x45, 0x00, 0x00, 0x34, 0x00, 0x01, 0x40, 0x00, 0x40, 0x06, 0x26, 0xc1,
    IP4_A, IP4_B,
    /* TCP: 50000 -> 80, seq 1, ack 0, 32-byte header, SYN, window 65535,
     * checksum 0x976d, urgent pointer 0. */
    0xc3, 0x50, 0x00, 0x50, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00,
    0x80, 0x02, 0xff, 0xff, 0x97, 0x6d, 0x00, 0x00,
    /* TCP options: MSS 1460, NOP, NOP, SACK permitted, NOP, window scale 7. */
    0x02, 0x04, 0x05, 0xb4, 0x01, 0x01, 0x04, 0x02, 0x01, 0x03, 0x03, 0x07};

/* A ping from A to B whose IPv4 header carries a Router Alert option. */
static const uint8_t icmp4_opts_frame[] = {
    /* Ethernet: A -> B, IPv4. */
    MAC_B, MAC_A, 0x08, 0x00,
    /* IPv4 with a 24-byte header: 36 bytes, id 2, TTL 1, ICMP, checksum
     * 0x10d1, A -> B, then the option 0x94 (Router Alert, 4 bytes). */
    0x46, 0x00, 0x00, 0x24, 0x00, 0x02, 0x00, 0x00, 0x01, 0x01, 0x10, 0xd1,
    IP4_A, IP4_B, 0x94, 0x04, 0x00, 0x00,
    /* ICMP echo request: checksum 0x2104, id 0x1234, sequence 1. */
    0x08, 0x00, 0x21, 0x04, 0x12, 0x34, 0x00, 0x01,
    /* Payload. */
    'a', 'b', 'c', 'd'};

/* A asks for B's MAC. */
static const uint8_t arp_request_frame[] = {
    /* Ethernet: A -> broadcast, ARP. */
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, MAC_A, 0x08, 0x06,
    /* ARP request for Ethernet and IPv4: who has 10.0.0.2?  Tell 10.0.0.1
     * at A. */
    0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01, MAC_A, IP4_A, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, IP4_B};

/* UDP from A to B over IPv6 behind three extension headers, the last an
 * atomic fragment header (offset 0, no more fragments; RFC 6946). */
static const uint8_t udp6_ext_frame[] = {
    /* Ethernet: A -> B, IPv6. */
    MAC_B, MAC_A, 0x86, 0xdd,
    /* IPv6: traffic class 0xb9, flow label 0x12345, 44-byte payload, next
     * header hop-by-hop options, hop limit 64, A -> B. */
    0x6b, 0x91, 0x23, 0x45, 0x00, 0x2c, 0x00, 0x40, IP6_A, IP6_B,
    /* Hop-by-hop options, 8 bytes: next destination options, one PadN. */
    0x3c, 0x00, 0x01, 0x04, 0x00, 0x00, 0x00, 0x00,
    /* Destination options, 16 bytes: next fragment, one PadN. */
    0x2c, 0x01, 0x01, 0x0c, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00,
    /* Fragment header: next UDP, offset 0, last fragment, id 0xabcd. */
    0x11, 0x00, 0x00, 0x00, 0x00, 0x00, 0xab, 0xcd,
    /* UDP: 5000 -> 5001, 12 bytes, checksum 0xffef. */
    0x13, 0x88, 0x13, 0x89, 0x00, 0x0c, 0xff, 0xef,
    /* Payload. */
    'p', 'i', 'n', 'g'};

/* A ping from A to B over IPv6. */
static const uint8_t icmp6_frame[] = {
    /* Ethernet: A -> B, IPv6. */
    MAC_B, MAC_A, 0x86, 0xdd,
    /* IPv6: 12-byte payload, next header ICMPv6, hop limit 64, A -> B. */
    0x60, 0x00, 0x00, 0x00, 0x00, 0x0c, 0x3a, 0x40, IP6_A, IP6_B,
    /* ICMPv6 echo request: checksum 0xc0e5, id 7, sequence 1. */
    0x80, 0x00, 0xc0, 0xe5, 0x00, 0x07, 0x00, 0x01,
    /* Payload. */
    'a', 'b', 'c', 'd'};

/* The first of two IPv4 fragments of a 24-byte UDP datagram. */
static const uint8_t ipv4_first_frag_frame[] = {
    /* Ethernet: A -> B, IPv4. */
    MAC_B, MAC_A, 0x08, 0x00,
    /* IPv4: 36 bytes, id 5, more fragments, offset 0, TTL 64, UDP,
     * checksum 0x46c2, A -> B. */
    0x45, 0x00, 0x00, 0x24, 0x00, 0x05, 0x20, 0x00, 0x40, 0x11, 0x46, 0xc2,
    IP4_A, IP4_B,
    /* UDP: 1234 -> 53, 24 bytes, no checksum. */
    0x04, 0xd2, 0x00, 0x35, 0x00, 0x18, 0x00, 0x00,
    /* The first 8 bytes of the payload. */
    '0', '1', '2', '3', '4', '5', '6', '7'};

/* The second and last fragment of the same datagram.  Its payload happens to
 * look like a UDP header from port 80 to 80; the parser must not read it as
 * one. */
static const uint8_t ipv4_later_frag_frame[] = {
    /* Ethernet: A -> B, IPv4. */
    MAC_B, MAC_A, 0x08, 0x00,
    /* IPv4: 28 bytes, id 5, offset 2 (16 bytes), TTL 64, UDP, checksum
     * 0x66c8, A -> B. */
    0x45, 0x00, 0x00, 0x1c, 0x00, 0x05, 0x00, 0x02, 0x40, 0x11, 0x66, 0xc8,
    IP4_A, IP4_B,
    /* The last 8 bytes of the UDP payload. */
    0x00, 0x50, 0x00, 0x50, 0x00, 0x08, 0x00, 0x00};

/* A later IPv6 fragment of a UDP datagram, again with a payload that would
 * look like a UDP header. */
static const uint8_t ipv6_later_frag_frame[] = {
    /* Ethernet: A -> B, IPv6. */
    MAC_B, MAC_A, 0x86, 0xdd,
    /* IPv6: 16-byte payload, next header fragment, hop limit 64, A -> B. */
    0x60, 0x00, 0x00, 0x00, 0x00, 0x10, 0x2c, 0x40, IP6_A, IP6_B,
    /* Fragment header: next UDP, offset 1 (8 bytes), last fragment, id
     * 0xabcd. */
    0x11, 0x00, 0x00, 0x08, 0x00, 0x00, 0xab, 0xcd,
    /* 8 bytes from the middle of the UDP payload. */
    0x00, 0x50, 0x00, 0x50, 0x00, 0x08, 0x00, 0x00};

/* An LLDP frame: an ethertype the parser does not know. */
static const uint8_t lldp_frame[] = {
    /* Ethernet: A -> the nearest-bridge group address, LLDP. */
    0x01, 0x80, 0xc2, 0x00, 0x00, 0x0e, MAC_A, 0x88, 0xcc,
    /* Chassis ID TLV: a MAC address. */
    0x02, 0x07, 0x04, MAC_A};

/* Parses a copy of the 'len' bytes at 'frame' into '*info' and returns what
 * pkt_parse_frame() returned.  The copy ends at a guard page, so a read past
 * the end of the frame crashes the test. */
static int
parse(const uint8_t *frame, size_t len, struct pkt_info *info)
{
    struct guard_buf b;
    uint8_t *data = guard_buf_init(&b, frame, len);
    int retval = pkt_parse_frame(data, data + len, info);

    guard_buf_destroy(&b);
    return retval;
}

/* Copies 'frame' into 'copy', for a test to break one field of it. */
#define COPY_FRAME(copy, frame)                                               \
    uint8_t copy[sizeof frame];                                               \
    memcpy(copy, frame, sizeof frame)

static void
assert_ip4(__be32 actual, const char *expected)
{
    struct in_addr addr;

    assert_int_equal(inet_pton(AF_INET, expected, &addr), 1);
    assert_int_equal(actual, addr.s_addr);
}

/* An untagged IPv4/UDP frame yields its MACs, addresses, TOS and ports. */
static void
test_eth_ipv4_udp(void **state)
{
    struct pkt_info info;

    assert_int_equal(parse(udp4_frame, sizeof udp4_frame, &info), 0);
    assert_memory_equal(info.dst_mac, mac_b, 6);
    assert_memory_equal(info.src_mac, mac_a, 6);
    assert_int_equal(info.l3_proto, 0x0800);
    assert_int_equal(info.vlan_id, 0);
    assert_int_equal(info.l3_off, 14);
    assert_int_equal(info.l4_off, 34);
    assert_int_equal(info.l4_proto, 17);
    assert_int_equal(info.tos, 0xb9);
    assert_int_equal(info.fragment, 0);
    assert_ip4(info.src4, "10.0.0.1");
    assert_ip4(info.dst4, "10.0.0.2");
    assert_memory_equal(info.src6, zeros, 16);
    assert_memory_equal(info.dst6, zeros, 16);
    assert_int_equal(ntohs(info.sport), 1234);
    assert_int_equal(ntohs(info.dport), 53);
    assert_int_equal(info.arp_op, 0);
}

/* A frame with one 802.1Q tag yields the VLAN id without the PCP bits, and
 * offsets that account for the tag; TCP options are skipped, not parsed. */
static void
test_eth_vlan_ipv4_tcp_options(void **state)
{
    struct pkt_info info;

    assert_int_equal(parse(tcp4_vlan_frame, sizeof tcp4_vlan_frame, &info), 0);
    assert_memory_equal(info.dst_mac, mac_b, 6);
    assert_memory_equal(info.src_mac, mac_a, 6);
    assert_int_equal(info.l3_proto, 0x0800);
    assert_int_equal(info.vlan_id, 100);
    assert_int_equal(info.l3_off, 18);
    assert_int_equal(info.l4_off, 38);
    assert_int_equal(info.l4_proto, 6);
    assert_int_equal(info.tos, 0);
    assert_int_equal(info.fragment, 0);
    assert_ip4(info.src4, "10.0.0.1");
    assert_ip4(info.dst4, "10.0.0.2");
    assert_int_equal(ntohs(info.sport), 50000);
    assert_int_equal(ntohs(info.dport), 80);
    assert_int_equal(info.arp_op, 0);
}

/* The same frame behind an 802.1ad (QinQ outer) tag parses the same way. */
static void
test_eth_8021ad_tag(void **state)
{
    COPY_FRAME(frame, tcp4_vlan_frame);
    struct pkt_info info;

    frame[12] = 0x88;
    frame[13] = 0xa8;
    assert_int_equal(parse(frame, sizeof frame, &info), 0);
    assert_int_equal(info.vlan_id, 100);
    assert_int_equal(info.l3_proto, 0x0800);
    assert_int_equal(info.l4_off, 38);
}

/* IPv4 options move the L4 header back by their length; ICMP reports its
 * type and code as 'sport' and its identifier as 'dport'. */
static void
test_ipv4_options_icmp(void **state)
{
    struct pkt_info info;

    assert_int_equal(parse(icmp4_opts_frame, sizeof icmp4_opts_frame, &info),
                     0);
    assert_int_equal(info.l3_proto, 0x0800);
    assert_int_equal(info.l3_off, 14);
    assert_int_equal(info.l4_off, 38);
    assert_int_equal(info.l4_proto, 1);
    assert_int_equal(info.fragment, 0);
    assert_ip4(info.src4, "10.0.0.1");
    assert_ip4(info.dst4, "10.0.0.2");
    assert_int_equal(ntohs(info.sport), 0x0800);
    assert_int_equal(ntohs(info.dport), 0x1234);
}

/* An ARP request yields the sender and target addresses and the operation,
 * and no L4. */
static void
test_arp_request(void **state)
{
    static const uint8_t broadcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    struct pkt_info info;

    assert_int_equal(parse(arp_request_frame, sizeof arp_request_frame, &info),
                     0);
    assert_memory_equal(info.dst_mac, broadcast, 6);
    assert_memory_equal(info.src_mac, mac_a, 6);
    assert_int_equal(info.l3_proto, 0x0806);
    assert_int_equal(info.l3_off, 14);
    assert_int_equal(info.l4_off, 0);
    assert_int_equal(info.l4_proto, 0);
    assert_ip4(info.src4, "10.0.0.1");
    assert_ip4(info.dst4, "10.0.0.2");
    assert_int_equal(info.arp_op, PKT_ARP_OP_REQUEST);
    assert_int_equal(info.sport, 0);
    assert_int_equal(info.dport, 0);
}

/* IPv6 extension headers, including an atomic fragment header, are walked
 * to the UDP header behind them; the traffic class lands in 'tos'. */
static void
test_ipv6_extension_headers_udp(void **state)
{
    struct pkt_info info;

    assert_int_equal(parse(udp6_ext_frame, sizeof udp6_ext_frame, &info), 0);
    assert_memory_equal(info.dst_mac, mac_b, 6);
    assert_memory_equal(info.src_mac, mac_a, 6);
    assert_int_equal(info.l3_proto, 0x86dd);
    assert_int_equal(info.vlan_id, 0);
    assert_int_equal(info.l3_off, 14);
    assert_int_equal(info.l4_off, 14 + 40 + 8 + 16 + 8);
    assert_int_equal(info.l4_proto, 17);
    assert_int_equal(info.tos, 0xb9);
    assert_int_equal(info.fragment, 0);
    assert_int_equal(info.src4, 0);
    assert_int_equal(info.dst4, 0);
    assert_memory_equal(info.src6, ip6_a, 16);
    assert_memory_equal(info.dst6, ip6_b, 16);
    assert_int_equal(ntohs(info.sport), 5000);
    assert_int_equal(ntohs(info.dport), 5001);
}

/* ICMPv6 is reported like ICMP. */
static void
test_icmpv6_echo(void **state)
{
    struct pkt_info info;

    assert_int_equal(parse(icmp6_frame, sizeof icmp6_frame, &info), 0);
    assert_int_equal(info.l3_proto, 0x86dd);
    assert_int_equal(info.l4_off, 54);
    assert_int_equal(info.l4_proto, 58);
    assert_int_equal(info.tos, 0);
    assert_memory_equal(info.src6, ip6_a, 16);
    assert_memory_equal(info.dst6, ip6_b, 16);
    assert_int_equal(ntohs(info.sport), 0x8000);
    assert_int_equal(ntohs(info.dport), 7);
}

/* The first IPv4 fragment carries the UDP header and is parsed in full; the
 * later one has no L4 header, so only its protocol is reported. */
static void
test_ipv4_fragments(void **state)
{
    struct pkt_info info;

    assert_int_equal(
        parse(ipv4_first_frag_frame, sizeof ipv4_first_frag_frame, &info), 0);
    assert_int_equal(info.fragment, 0);
    assert_int_equal(info.l4_proto, 17);
    assert_int_equal(info.l4_off, 34);
    assert_int_equal(ntohs(info.sport), 1234);
    assert_int_equal(ntohs(info.dport), 53);

    assert_int_equal(
        parse(ipv4_later_frag_frame, sizeof ipv4_later_frag_frame, &info), 0);
    assert_int_equal(info.fragment, 1);
    assert_int_equal(info.l4_proto, 17);
    assert_int_equal(info.l4_off, 0);
    assert_int_equal(info.sport, 0);
    assert_int_equal(info.dport, 0);
    assert_ip4(info.src4, "10.0.0.1");
    assert_ip4(info.dst4, "10.0.0.2");
}

/* Likewise for IPv6: a first fragment (offset 0, more fragments) has L4, a
 * later one does not. */
static void
test_ipv6_fragments(void **state)
{
    COPY_FRAME(first, udp6_ext_frame);
    struct pkt_info info;

    first[14 + 40 + 8 + 16 + 3] = 0x01; /* Set M in the fragment header. */
    assert_int_equal(parse(first, sizeof first, &info), 0);
    assert_int_equal(info.fragment, 0);
    assert_int_equal(info.l4_off, 86);
    assert_int_equal(ntohs(info.sport), 5000);

    assert_int_equal(
        parse(ipv6_later_frag_frame, sizeof ipv6_later_frag_frame, &info), 0);
    assert_int_equal(info.fragment, 1);
    assert_int_equal(info.l4_proto, 17);
    assert_int_equal(info.l4_off, 0);
    assert_int_equal(info.sport, 0);
    assert_int_equal(info.dport, 0);
    assert_memory_equal(info.src6, ip6_a, 16);
}

/* An ethertype the parser does not know is accepted and left alone past
 * L2, and so is an IP protocol it does not know past L3. */
static void
test_unknown_protocols(void **state)
{
    COPY_FRAME(gre, udp4_frame);
    struct pkt_info info;

    assert_int_equal(parse(lldp_frame, sizeof lldp_frame, &info), 0);
    assert_int_equal(info.l3_proto, 0x88cc);
    assert_int_equal(info.l3_off, 14);
    assert_int_equal(info.l4_off, 0);
    assert_int_equal(info.l4_proto, 0);

    gre[14 + 9] = 47;
    assert_int_equal(parse(gre, sizeof gre, &info), 0);
    assert_int_equal(info.l4_proto, 47);
    assert_int_equal(info.l4_off, 0);
    assert_int_equal(info.sport, 0);
    assert_int_equal(info.dport, 0);
}

/* Each parser, called on its own, returns the next protocol and leaves the
 * cursor just past its header. */
static void
test_parsers_walk_header_by_header(void **state)
{
    uint8_t frame[sizeof tcp4_vlan_frame + sizeof udp6_ext_frame];
    struct pkt_cursor c;
    struct pkt_eth *eth = NULL;
    struct pkt_ipv4 *ip = NULL;
    struct pkt_ipv6 *ip6 = NULL;
    struct pkt_tcp *tcp = NULL;
    struct pkt_udp *udp = NULL;
    struct pkt_icmp *icmp = NULL;
    struct pkt_arp *arp = NULL;
    uint16_t vlan = 0;
    bool fragment = true;

    memcpy(frame, tcp4_vlan_frame, sizeof tcp4_vlan_frame);
    pkt_cursor_init(&c, frame, frame + sizeof tcp4_vlan_frame);
    assert_int_equal(pkt_parse_eth(&c, &eth, &vlan), 0x0800);
    assert_ptr_equal(eth, frame);
    assert_int_equal(vlan, 100);
    assert_ptr_equal(c.pos, frame + 18);
    assert_int_equal(pkt_parse_ipv4(&c, &ip), 6);
    assert_ptr_equal(ip, frame + 18);
    assert_ptr_equal(c.pos, frame + 38);
    assert_int_equal(pkt_parse_tcp(&c, &tcp), 0);
    assert_ptr_equal(tcp, frame + 38);
    assert_int_equal(tcp->flags, PKT_TCP_SYN);
    assert_ptr_equal(c.pos, c.end);

    memcpy(frame, udp4_frame, sizeof udp4_frame);
    pkt_cursor_init(&c, frame + 34, frame + sizeof udp4_frame);
    assert_int_equal(pkt_parse_udp(&c, &udp), 0);
    assert_ptr_equal(udp, frame + 34);
    assert_ptr_equal(c.pos, frame + 42);

    memcpy(frame, icmp4_opts_frame, sizeof icmp4_opts_frame);
    pkt_cursor_init(&c, frame + 14, frame + sizeof icmp4_opts_frame);
    assert_int_equal(pkt_parse_ipv4(&c, &ip), 1);
    assert_ptr_equal(c.pos, frame + 38);
    assert_int_equal(pkt_parse_icmp(&c, &icmp), 0);
    assert_int_equal(icmp->type, 8);
    assert_ptr_equal(c.pos, frame + 46);

    memcpy(frame, arp_request_frame, sizeof arp_request_frame);
    pkt_cursor_init(&c, frame + 14, frame + sizeof arp_request_frame);
    assert_int_equal(pkt_parse_arp(&c, &arp), 0);
    assert_int_equal(ntohs(arp->op), PKT_ARP_OP_REQUEST);
    assert_ptr_equal(c.pos, c.end);

    memcpy(frame, udp6_ext_frame, sizeof udp6_ext_frame);
    pkt_cursor_init(&c, frame + 14, frame + sizeof udp6_ext_frame);
    assert_int_equal(pkt_parse_ipv6(&c, &ip6, &fragment), 17);
    assert_ptr_equal(ip6, frame + 14);
    assert_false(fragment);
    assert_ptr_equal(c.pos, frame + 86);

    memcpy(frame, icmp6_frame, sizeof icmp6_frame);
    pkt_cursor_init(&c, frame + 14, frame + sizeof icmp6_frame);
    assert_int_equal(pkt_parse_ipv6(&c, &ip6, &fragment), 58);
    assert_ptr_equal(c.pos, frame + 54);
    assert_int_equal(pkt_parse_icmp(&c, &icmp), 0);
    assert_int_equal(icmp->type, 128);
    assert_ptr_equal(c.pos, frame + 62);
}

/* A sample frame and how many of its bytes hold the headers the parser
 * reads; the rest is payload. */
struct sample {
    const char *name;     /* For failure messages. */
    const uint8_t *frame; /* The frame's bytes. */
    size_t len;           /* Length of 'frame'. */
    size_t hdr_len;       /* Bytes up to the end of the last header. */
};

#define SAMPLE(FRAME, HDR_LEN)                                                \
    {                                                                         \
        .name = #FRAME, .frame = FRAME, .len = sizeof FRAME,                  \
        .hdr_len = HDR_LEN                                                    \
    }

static const struct sample samples[] = {
    SAMPLE(udp4_frame, 42),
    SAMPLE(tcp4_vlan_frame, 70),
    SAMPLE(icmp4_opts_frame, 46),
    SAMPLE(arp_request_frame, 42),
    SAMPLE(udp6_ext_frame, 94),
    SAMPLE(icmp6_frame, 62),
    SAMPLE(ipv4_first_frag_frame, 42),
    SAMPLE(ipv4_later_frag_frame, 34),
    SAMPLE(ipv6_later_frag_frame, 62),
    SAMPLE(lldp_frame, 14),
};

/* Every prefix of every sample is either rejected, when it cuts into a
 * header, or parses exactly like the whole frame, when only payload is
 * missing.  Each prefix sits flush against a guard page, so this also proves
 * that no parser reads a byte past the end of its input. */
static void
test_truncation_at_every_length(void **state)
{
    for (size_t i = 0; i < ARRAY_SIZE(samples); i++) {
        const struct sample *s = &samples[i];
        struct pkt_info whole, info;

        assert_int_equal(parse(s->frame, s->len, &whole), 0);
        for (size_t len = 0; len <= s->len; len++) {
            int retval = parse(s->frame, len, &info);

            if (len < s->hdr_len) {
                if (retval != -1) {
                    fail_msg("%s cut to %zu bytes: returned %d, expected -1",
                             s->name, len, retval);
                }
            } else {
                if (retval != 0) {
                    fail_msg("%s cut to %zu bytes: returned %d, expected 0",
                             s->name, len, retval);
                }
                assert_memory_equal(&info, &whole, sizeof info);
            }
        }
    }
}

/* Which parser a header goes through. */
enum parser {
    PARSE_ETH,
    PARSE_ARP,
    PARSE_IPV4,
    PARSE_IPV6,
    PARSE_UDP,
    PARSE_TCP,
    PARSE_ICMP,
};

/* Runs parser 'p' on ['data', 'end') and returns what it returned.  Stores
 * where the cursor ended up in '*pos'. */
static int
run_parser(enum parser p, uint8_t *data, uint8_t *end, void **pos)
{
    struct pkt_cursor c;
    struct pkt_eth *eth;
    struct pkt_arp *arp;
    struct pkt_ipv4 *ip;
    struct pkt_ipv6 *ip6;
    struct pkt_udp *udp;
    struct pkt_tcp *tcp;
    struct pkt_icmp *icmp;
    uint16_t vlan;
    bool fragment;
    int retval = -1;

    pkt_cursor_init(&c, data, end);
    switch (p) {
    case PARSE_ETH:
        retval = pkt_parse_eth(&c, &eth, &vlan);
        break;
    case PARSE_ARP:
        retval = pkt_parse_arp(&c, &arp);
        break;
    case PARSE_IPV4:
        retval = pkt_parse_ipv4(&c, &ip);
        break;
    case PARSE_IPV6:
        retval = pkt_parse_ipv6(&c, &ip6, &fragment);
        break;
    case PARSE_UDP:
        retval = pkt_parse_udp(&c, &udp);
        break;
    case PARSE_TCP:
        retval = pkt_parse_tcp(&c, &tcp);
        break;
    case PARSE_ICMP:
        retval = pkt_parse_icmp(&c, &icmp);
        break;
    }
    *pos = c.pos;
    return retval;
}

/* Each parser on its own rejects its header cut short at any length, even
 * where a later parser would catch the truncation in pkt_parse_frame(), and
 * accepts it whole. */
static void
test_each_parser_rejects_its_truncated_header(void **state)
{
    static const struct {
        const char *name;     /* For failure messages. */
        const uint8_t *frame; /* A sample frame. */
        size_t off;           /* Where the header starts in 'frame'. */
        size_t len;           /* Its length. */
        enum parser parser;   /* Which parser it goes through. */
        int retval;           /* What the parser returns on it whole. */
    } headers[] = {
        {"Ethernet with 802.1Q", tcp4_vlan_frame, 0, 18, PARSE_ETH, 0x0800},
        {"ARP", arp_request_frame, 14, 28, PARSE_ARP, 0},
        {"IPv4 with options", icmp4_opts_frame, 14, 24, PARSE_IPV4, 1},
        {"IPv6 with 3 extensions", udp6_ext_frame, 14, 72, PARSE_IPV6, 17},
        {"UDP", udp4_frame, 34, 8, PARSE_UDP, 0},
        {"TCP with options", tcp4_vlan_frame, 38, 32, PARSE_TCP, 0},
        {"ICMPv6", icmp6_frame, 54, 8, PARSE_ICMP, 0},
    };

    for (size_t i = 0; i < ARRAY_SIZE(headers); i++) {
        for (size_t len = 0; len <= headers[i].len; len++) {
            int expected = len < headers[i].len ? -1 : headers[i].retval;
            struct guard_buf b;
            uint8_t *data;
            void *pos;
            int retval;

            data = guard_buf_init(&b, headers[i].frame + headers[i].off, len);
            retval = run_parser(headers[i].parser, data, data + len, &pos);
            if (retval != expected) {
                fail_msg("%s cut to %zu bytes: returned %d, expected %d",
                         headers[i].name, len, retval, expected);
            }
            if (retval >= 0) {
                assert_ptr_equal(pos, data + len);
            }
            guard_buf_destroy(&b);
        }
    }
}

/* An IPv4 ethertype with anything but version 4 inside is rejected, and so
 * is an IPv6 ethertype with anything but version 6. */
static void
test_malformed_ip_version(void **state)
{
    COPY_FRAME(v4, udp4_frame);
    COPY_FRAME(v6, icmp6_frame);
    struct pkt_info info;

    v4[14] = 0x65;
    assert_int_equal(parse(v4, sizeof v4, &info), -1);
    v6[14] = 0x40;
    assert_int_equal(parse(v6, sizeof v6, &info), -1);
}

/* An IPv4 header shorter than 20 bytes is rejected. */
static void
test_malformed_ipv4_ihl(void **state)
{
    COPY_FRAME(frame, udp4_frame);
    struct pkt_info info;

    for (uint8_t ihl = 0; ihl < 5; ihl++) {
        frame[14] = 0x40 | ihl;
        assert_int_equal(parse(frame, sizeof frame, &info), -1);
    }
}

/* An IPv4 header whose total length does not even cover the header itself is
 * rejected, with and without options. */
static void
test_malformed_ipv4_tot_len(void **state)
{
    COPY_FRAME(plain, udp4_frame);
    COPY_FRAME(opts, icmp4_opts_frame);
    struct pkt_info info;

    plain[16] = 0x00;
    plain[17] = 19;
    assert_int_equal(parse(plain, sizeof plain, &info), -1);
    plain[17] = 0;
    assert_int_equal(parse(plain, sizeof plain, &info), -1);

    opts[16] = 0x00;
    opts[17] = 20; /* Covers the fixed part but not the 4 option bytes. */
    assert_int_equal(parse(opts, sizeof opts, &info), -1);
    opts[17] = 24;
    assert_int_equal(parse(opts, sizeof opts, &info), 0);
}

/* A TCP data offset below 5 words is rejected, and so is one that runs past
 * the end of the frame. */
static void
test_malformed_tcp_doff(void **state)
{
    COPY_FRAME(frame, tcp4_vlan_frame);
    struct pkt_info info;
    const size_t doff = 38 + 12;

    for (uint8_t words = 0; words < 5; words++) {
        frame[doff] = words << 4;
        assert_int_equal(parse(frame, sizeof frame, &info), -1);
    }
    frame[doff] = 9 << 4; /* 36 bytes, 4 more than the frame has. */
    assert_int_equal(parse(frame, sizeof frame, &info), -1);
    frame[doff] = 5 << 4; /* Options are then payload, which is fine. */
    assert_int_equal(parse(frame, sizeof frame, &info), 0);
}

/* A UDP length below the 8-byte header is rejected. */
static void
test_malformed_udp_len(void **state)
{
    COPY_FRAME(frame, udp4_frame);
    struct pkt_info info;

    frame[38] = 0x00;
    for (uint8_t len = 0; len < 8; len++) {
        frame[39] = len;
        assert_int_equal(parse(frame, sizeof frame, &info), -1);
    }
    frame[39] = 8;
    assert_int_equal(parse(frame, sizeof frame, &info), 0);
}

/* ARP for anything but Ethernet and IPv4 is rejected. */
static void
test_malformed_arp(void **state)
{
    struct {
        size_t off;    /* Byte to change. */
        uint8_t value; /* What to write there. */
    } breaks[] = {
        {14 + 1, 6},    /* htype 6, IEEE 802. */
        {14 + 0, 1},    /* htype 0x0101. */
        {14 + 2, 0x86}, /* ptype 0x8600. */
        {14 + 4, 8},    /* hlen 8. */
        {14 + 5, 16},   /* plen 16, as for IPv6. */
    };
    struct pkt_info info;

    for (size_t i = 0; i < ARRAY_SIZE(breaks); i++) {
        COPY_FRAME(frame, arp_request_frame);

        frame[breaks[i].off] = breaks[i].value;
        assert_int_equal(parse(frame, sizeof frame, &info), -1);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_eth_ipv4_udp),
        cmocka_unit_test(test_eth_vlan_ipv4_tcp_options),
        cmocka_unit_test(test_eth_8021ad_tag),
        cmocka_unit_test(test_ipv4_options_icmp),
        cmocka_unit_test(test_arp_request),
        cmocka_unit_test(test_ipv6_extension_headers_udp),
        cmocka_unit_test(test_icmpv6_echo),
        cmocka_unit_test(test_ipv4_fragments),
        cmocka_unit_test(test_ipv6_fragments),
        cmocka_unit_test(test_unknown_protocols),
        cmocka_unit_test(test_parsers_walk_header_by_header),
        cmocka_unit_test(test_truncation_at_every_length),
        cmocka_unit_test(test_each_parser_rejects_its_truncated_header),
        cmocka_unit_test(test_malformed_ip_version),
        cmocka_unit_test(test_malformed_ipv4_ihl),
        cmocka_unit_test(test_malformed_ipv4_tot_len),
        cmocka_unit_test(test_malformed_tcp_doff),
        cmocka_unit_test(test_malformed_udp_len),
        cmocka_unit_test(test_malformed_arp),
    };

    return cmocka_run_group_tests_name("packet/parse.h", tests, NULL, NULL);
}
