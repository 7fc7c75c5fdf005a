/* Test packets built byte by byte; see craft.h. */
#include "tests/bpf/craft.h"

#include <string.h>

void
craft_put16(uint8_t *p, uint16_t v)
{
    p[0] = v >> 8;
    p[1] = v & 0xff;
}

void
craft_put32(uint8_t *p, uint32_t v)
{
    p[0] = v >> 24;
    p[1] = (v >> 16) & 0xff;
    p[2] = (v >> 8) & 0xff;
    p[3] = v & 0xff;
}

uint16_t
craft_get16(const uint8_t *p)
{
    return (uint16_t) (p[0] << 8 | p[1]);
}

uint32_t
craft_get32(const uint8_t *p)
{
    return (uint32_t) p[0] << 24 | (uint32_t) p[1] << 16 | (uint32_t) p[2] << 8
           | p[3];
}

uint16_t
craft_csum(const uint8_t *p, size_t len)
{
    uint32_t sum = 0;
    size_t i;

    for (i = 0; i + 1 < len; i += 2) {
        sum += craft_get16(p + i);
    }
    if (len & 1) {
        sum += (uint32_t) p[len - 1] << 8;
    }
    while (sum >> 16) {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    return (uint16_t) ~sum;
}

size_t
craft_eth(uint8_t *p, const uint8_t *dst, const uint8_t *src, uint16_t type)
{
    memcpy(p, dst, 6);
    memcpy(p + 6, src, 6);
    craft_put16(p + 12, type);
    return CRAFT_ETH_LEN;
}

size_t
craft_ipv4_hdr(uint8_t *p, const struct craft_ipv4 *ip, size_t payload_len)
{
    memset(p, 0, CRAFT_IPV4_LEN);
    p[0] = 0x45;
    p[1] = ip->tos;
    craft_put16(p + 2, CRAFT_IPV4_LEN + payload_len);
    craft_put16(p + 6, ip->df ? 0x4000 : 0);
    p[8] = ip->ttl ? ip->ttl : 64;
    p[9] = ip->proto;
    craft_put32(p + 12, ip->src);
    craft_put32(p + 16, ip->dst);
    craft_put16(p + 10, craft_csum(p, CRAFT_IPV4_LEN));
    return CRAFT_IPV4_LEN;
}

size_t
craft_ipv6_hdr(uint8_t *p, const uint8_t *src, const uint8_t *dst,
               uint8_t nexthdr, size_t payload_len)
{
    craft_put32(p, 0x60000000);
    craft_put16(p + 4, payload_len);
    p[6] = nexthdr;
    p[7] = 64;
    memcpy(p + 8, src, 16);
    memcpy(p + 24, dst, 16);
    return CRAFT_IPV6_LEN;
}

size_t
craft_udp_hdr(uint8_t *p, uint16_t sport, uint16_t dport, size_t payload_len)
{
    craft_put16(p, sport);
    craft_put16(p + 2, dport);
    craft_put16(p + 4, CRAFT_UDP_LEN + payload_len);
    craft_put16(p + 6, 0);
    return CRAFT_UDP_LEN;
}

size_t
craft_tcp_hdr(uint8_t *p, uint16_t sport, uint16_t dport)
{
    memset(p, 0, CRAFT_TCP_LEN);
    craft_put16(p, sport);
    craft_put16(p + 2, dport);
    craft_put32(p + 4, 0x01020304);   /* Sequence number. */
    craft_put32(p + 8, 0x05060708);   /* Acknowledgement number. */
    p[12] = (CRAFT_TCP_LEN / 4) << 4; /* Data offset. */
    p[13] = 0x18;                     /* PSH and ACK. */
    craft_put16(p + 14, 65535);       /* Window. */
    return CRAFT_TCP_LEN;
}

size_t
craft_arp(uint8_t *p, uint16_t op, const uint8_t *sha, uint32_t spa,
          const uint8_t *tha, uint32_t tpa)
{
    craft_put16(p, 1);          /* Ethernet. */
    craft_put16(p + 2, 0x0800); /* IPv4. */
    p[4] = 6;
    p[5] = 4;
    craft_put16(p + 6, op);
    memcpy(p + 8, sha, 6);
    craft_put32(p + 14, spa);
    memcpy(p + 18, tha, 6);
    craft_put32(p + 24, tpa);
    return CRAFT_ARP_LEN;
}

size_t
craft_vxlan_hdr(uint8_t *p, uint8_t flags, uint32_t vni)
{
    memset(p, 0, CRAFT_VXLAN_LEN);
    p[0] = flags;
    craft_put32(p + 4, vni << 8);
    return CRAFT_VXLAN_LEN;
}

void
craft_payload(uint8_t *p, size_t len)
{
    size_t i;

    for (i = 0; i < len; i++) {
        p[i] = (uint8_t) (i * 7 + 3);
    }
}

size_t
craft_ipv4_frame(uint8_t *buf, const struct craft_flow *flow,
                 size_t payload_len)
{
    size_t l4_len = flow->proto == 6 ? CRAFT_TCP_LEN : CRAFT_UDP_LEN;
    struct craft_ipv4 ip = {
        .src = flow->src_ip,
        .dst = flow->dst_ip,
        .proto = flow->proto,
        .tos = flow->tos,
    };
    uint8_t *p = buf;

    p += craft_eth(p, flow->dst_mac, flow->src_mac, 0x0800);
    p += craft_ipv4_hdr(p, &ip, l4_len + payload_len);
    if (flow->proto == 6) {
        p += craft_tcp_hdr(p, flow->sport, flow->dport);
    } else {
        p += craft_udp_hdr(p, flow->sport, flow->dport, payload_len);
    }
    craft_payload(p, payload_len);
    return (size_t) (p - buf) + payload_len;
}

size_t
craft_ipv6_udp_frame(uint8_t *buf, const uint8_t *dst_mac,
                     const uint8_t *src_mac, const uint8_t *src_ip,
                     const uint8_t *dst_ip, size_t payload_len)
{
    uint8_t *p = buf;

    p += craft_eth(p, dst_mac, src_mac, 0x86dd);
    p += craft_ipv6_hdr(p, src_ip, dst_ip, 17, CRAFT_UDP_LEN + payload_len);
    p += craft_udp_hdr(p, 5000, 6000, payload_len);
    craft_payload(p, payload_len);
    return (size_t) (p - buf) + payload_len;
}

size_t
craft_arp_frame(uint8_t *buf, const uint8_t *eth_dst, const uint8_t *eth_src,
                uint16_t op, const uint8_t *sha, uint32_t spa,
                const uint8_t *tha, uint32_t tpa)
{
    uint8_t *p = buf;

    p += craft_eth(p, eth_dst, eth_src, 0x0806);
    p += craft_arp(p, op, sha, spa, tha, tpa);
    return (size_t) (p - buf);
}

size_t
craft_vlan_tag(uint8_t *frame, size_t len, uint16_t vid)
{
    memmove(frame + 16, frame + 12, len - 12);
    craft_put16(frame + 12, 0x8100);
    craft_put16(frame + 14, vid);
    return len + 4;
}

size_t
craft_ipv4_add_options(uint8_t *frame, size_t len, size_t l3_off)
{
    uint8_t *ip = frame + l3_off;

    memmove(ip + CRAFT_IPV4_LEN + 4, ip + CRAFT_IPV4_LEN,
            len - l3_off - CRAFT_IPV4_LEN);
    memset(ip + CRAFT_IPV4_LEN, 1, 4); /* Four NOPs. */
    ip[0] = 0x46;
    craft_put16(ip + 2, craft_get16(ip + 2) + 4);
    craft_put16(ip + 10, 0);
    craft_put16(ip + 10, craft_csum(ip, CRAFT_IPV4_LEN + 4));
    return len + 4;
}

size_t
craft_vxlan_frame(uint8_t *buf, const struct craft_outer *outer,
                  const uint8_t *inner, size_t inner_len)
{
    struct craft_ipv4 ip = outer->ip;
    uint8_t *p = buf;

    ip.proto = 17;
    p += craft_eth(p, outer->dst_mac, outer->src_mac, 0x0800);
    p += craft_ipv4_hdr(p, &ip, CRAFT_UDP_LEN + CRAFT_VXLAN_LEN + inner_len);
    p += craft_udp_hdr(p, outer->sport, outer->dport,
                       CRAFT_VXLAN_LEN + inner_len);
    p += craft_vxlan_hdr(p, outer->flags, outer->vni);
    memmove(p, inner, inner_len);
    return (size_t) (p - buf) + inner_len;
}
