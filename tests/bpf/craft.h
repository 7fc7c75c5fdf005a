/* Test packets built byte by byte.
 *
 * These builders deliberately share no code with packet/ or vxlan/: every
 * field is written at its RFC offset with explicit big-endian stores, so a
 * test that compares the fast path's output against a crafted packet checks
 * the datapath against a second, independent implementation rather than
 * against itself.  Addresses are given in host byte order. */
#ifndef TESTS_BPF_CRAFT_H
#define TESTS_BPF_CRAFT_H 1

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Large enough for any frame the tests build, plus VXLAN overhead. */
#define CRAFT_MAX_FRAME 4096

#define CRAFT_ETH_LEN 14
#define CRAFT_IPV4_LEN 20
#define CRAFT_IPV6_LEN 40
#define CRAFT_UDP_LEN 8
#define CRAFT_TCP_LEN 20
#define CRAFT_ARP_LEN 28
#define CRAFT_VXLAN_LEN 8
#define CRAFT_VXLAN_OVERHEAD                                                  \
    (CRAFT_ETH_LEN + CRAFT_IPV4_LEN + CRAFT_UDP_LEN + CRAFT_VXLAN_LEN)

/* Builds an IPv4 address in host byte order from its four octets. */
#define CRAFT_IP4(a, b, c, d)                                                 \
    ((uint32_t) (a) << 24 | (uint32_t) (b) << 16 | (uint32_t) (c) << 8        \
     | (uint32_t) (d))

/* Stores 'v' at 'p' in network byte order. */
void craft_put16(uint8_t *p, uint16_t v);
void craft_put32(uint8_t *p, uint32_t v);
uint16_t craft_get16(const uint8_t *p);
uint32_t craft_get32(const uint8_t *p);

/* Returns the Internet checksum (RFC 1071) of 'len' bytes at 'p', ready to
 * be stored with craft_put16().  Over a header that already holds its
 * correct checksum, the result is 0. */
uint16_t craft_csum(const uint8_t *p, size_t len);

/* An IPv4 header without options. */
struct craft_ipv4 {
    uint32_t src;  /* Source address. */
    uint32_t dst;  /* Destination address. */
    uint8_t proto; /* Next protocol. */
    uint8_t tos;   /* DSCP and ECN. */
    uint8_t ttl;   /* Time to live, 64 if 0. */
    bool df;       /* Set Don't Fragment. */
};

/* Each writes one header at 'p' and returns its length.  'payload_len' is
 * what follows the header, for the length fields. */
size_t craft_eth(uint8_t *p, const uint8_t *dst, const uint8_t *src,
                 uint16_t type);
size_t craft_ipv4_hdr(uint8_t *p, const struct craft_ipv4 *,
                      size_t payload_len);
size_t craft_ipv6_hdr(uint8_t *p, const uint8_t *src, const uint8_t *dst,
                      uint8_t nexthdr, size_t payload_len);
size_t craft_udp_hdr(uint8_t *p, uint16_t sport, uint16_t dport,
                     size_t payload_len);
size_t craft_tcp_hdr(uint8_t *p, uint16_t sport, uint16_t dport);
size_t craft_arp(uint8_t *p, uint16_t op, const uint8_t *sha, uint32_t spa,
                 const uint8_t *tha, uint32_t tpa);
size_t craft_vxlan_hdr(uint8_t *p, uint8_t flags, uint32_t vni);

/* Fills 'len' bytes at 'p' with a fixed, recognisable pattern. */
void craft_payload(uint8_t *p, size_t len);

/* An IPv4 frame carrying TCP or UDP. */
struct craft_flow {
    const uint8_t *dst_mac; /* Ethernet destination. */
    const uint8_t *src_mac; /* Ethernet source. */
    uint32_t src_ip;        /* IPv4 source. */
    uint32_t dst_ip;        /* IPv4 destination. */
    uint8_t proto;          /* 6 (TCP) or 17 (UDP). */
    uint8_t tos;            /* IPv4 TOS. */
    uint16_t sport;         /* L4 source port. */
    uint16_t dport;         /* L4 destination port. */
};

/* Writes the whole frame for 'flow' with 'payload_len' bytes of payload to
 * 'buf' and returns its length. */
size_t craft_ipv4_frame(uint8_t *buf, const struct craft_flow *flow,
                        size_t payload_len);

/* Writes an IPv6/UDP frame and returns its length. */
size_t craft_ipv6_udp_frame(uint8_t *buf, const uint8_t *dst_mac,
                            const uint8_t *src_mac, const uint8_t *src_ip,
                            const uint8_t *dst_ip, size_t payload_len);

/* Writes an Ethernet/ARP frame and returns its length. */
size_t craft_arp_frame(uint8_t *buf, const uint8_t *eth_dst,
                       const uint8_t *eth_src, uint16_t op, const uint8_t *sha,
                       uint32_t spa, const uint8_t *tha, uint32_t tpa);

/* Inserts an 802.1Q tag with VLAN id 'vid' into the 'len'-byte frame at
 * 'frame', which must have room for 4 more bytes, and returns the new
 * length. */
size_t craft_vlan_tag(uint8_t *frame, size_t len, uint16_t vid);

/* Gives the IPv4 header at offset 'l3_off' of the 'len'-byte frame at
 * 'frame' four bytes of NOP options (IHL 6), fixing its length and
 * checksum, and returns the new frame length.  Needs room for 4 bytes. */
size_t craft_ipv4_add_options(uint8_t *frame, size_t len, size_t l3_off);

/* The outer headers of a VXLAN packet. */
struct craft_outer {
    uint8_t dst_mac[6];   /* Underlay next hop. */
    uint8_t src_mac[6];   /* Underlay source. */
    struct craft_ipv4 ip; /* Outer IPv4 (proto is forced to UDP). */
    uint16_t sport;       /* UDP source port. */
    uint16_t dport;       /* UDP destination port, normally 4789. */
    uint8_t flags;        /* VXLAN flags byte, 0x08 for valid. */
    uint32_t vni;         /* 24-bit network identifier. */
};

/* Writes 'inner' ('inner_len' bytes) encapsulated under 'outer' to 'buf'
 * and returns the total length. */
size_t craft_vxlan_frame(uint8_t *buf, const struct craft_outer *outer,
                         const uint8_t *inner, size_t inner_len);

#endif /* tests/bpf/craft.h */
