/* Bounds-checked header parsing through a cursor.
 *
 * Each parser checks that its whole header lies before the end of the
 * buffer, advances the cursor past it and returns the protocol that follows
 * (or 0), or -1 when the header is truncated or malformed.  Nothing here reads
 * a byte it has not bounds-checked, so the same code satisfies the BPF
 * verifier and is safe on arbitrary input in userspace. */
#ifndef PACKET_PARSE_H
#define PACKET_PARSE_H 1

#include "packet/hdr.h"

struct pkt_cursor {
    __u8 *pos; /* Next unparsed byte. */
    __u8 *end; /* One past the last byte of the buffer. */
};

PKT_INLINE void
pkt_cursor_init(struct pkt_cursor *c, void *data, void *end)
{
    c->pos = data;
    c->end = end;
}

/* Parses an Ethernet header and at most one 802.1Q or 802.1ad tag.  Stores
 * the VLAN id (0 when untagged) in '*vlan_id' and returns the ethertype of
 * the payload in host order. */
PKT_INLINE int
pkt_parse_eth(struct pkt_cursor *c, struct pkt_eth **ethp, __u16 *vlan_id)
{
    struct pkt_eth *eth = (struct pkt_eth *) c->pos;
    __u16 type;

    if ((__u8 *) (eth + 1) > c->end) {
        return -1;
    }
    c->pos = (__u8 *) (eth + 1);
    *ethp = eth;
    *vlan_id = 0;
    type = bpf_ntohs(eth->type);
    if (type == PKT_ETH_P_8021Q || type == PKT_ETH_P_8021AD) {
        struct pkt_vlan *vlan = (struct pkt_vlan *) c->pos;

        if ((__u8 *) (vlan + 1) > c->end) {
            return -1;
        }
        c->pos = (__u8 *) (vlan + 1);
        *vlan_id = bpf_ntohs(vlan->tci) & 0x0fff;
        type = bpf_ntohs(vlan->type);
    }
    return type;
}

/* Parses an Ethernet/IPv4 ARP packet. */
PKT_INLINE int
pkt_parse_arp(struct pkt_cursor *c, struct pkt_arp **arpp)
{
    struct pkt_arp *arp = (struct pkt_arp *) c->pos;

    if ((__u8 *) (arp + 1) > c->end) {
        return -1;
    }
    if (arp->htype != bpf_htons(PKT_ARP_HTYPE_ETHER)
        || arp->ptype != bpf_htons(PKT_ETH_P_IPV4) || arp->hlen != 6
        || arp->plen != 4) {
        return -1;
    }
    c->pos = (__u8 *) (arp + 1);
    *arpp = arp;
    return 0;
}

/* Parses an IPv4 header including options and returns its protocol.  A
 * header whose length fields contradict each other is malformed. */
PKT_INLINE int
pkt_parse_ipv4(struct pkt_cursor *c, struct pkt_ipv4 **ipp)
{
    struct pkt_ipv4 *ip = (struct pkt_ipv4 *) c->pos;
    __u32 hlen;

    if ((__u8 *) (ip + 1) > c->end) {
        return -1;
    }
    if ((ip->ver_ihl >> 4) != 4) {
        return -1;
    }
    hlen = (ip->ver_ihl & 0x0f) * 4;
    if (hlen < sizeof *ip || bpf_ntohs(ip->tot_len) < hlen) {
        return -1;
    }
    if (c->pos + hlen > c->end) {
        return -1;
    }
    c->pos += hlen;
    *ipp = ip;
    return ip->protocol;
}

PKT_INLINE bool
pkt_ipv4_is_later_fragment(const struct pkt_ipv4 *ip)
{
    return (bpf_ntohs(ip->frag_off) & PKT_IPV4_OFFSET_MASK) != 0;
}

PKT_INLINE bool
pkt_ipv4_is_fragment(const struct pkt_ipv4 *ip)
{
    return (bpf_ntohs(ip->frag_off) & (PKT_IPV4_MF | PKT_IPV4_OFFSET_MASK))
           != 0;
}

#define PKT_IPV6_EXT_MAX 4 /* Extension headers walked at most. */
#define PKT_IPV6_HOPOPTS 0
#define PKT_IPV6_ROUTING 43
#define PKT_IPV6_FRAGMENT 44
#define PKT_IPV6_DSTOPTS 60

struct pkt_ipv6_ext {
    __u8 nexthdr; /* Next header. */
    __u8 len;     /* Length in 8-byte units, first excluded. */
} __attribute__((packed));

PKT_INLINE bool
pkt_ipv6_is_ext(int nexthdr)
{
    return nexthdr == PKT_IPV6_HOPOPTS || nexthdr == PKT_IPV6_ROUTING
           || nexthdr == PKT_IPV6_FRAGMENT || nexthdr == PKT_IPV6_DSTOPTS;
}

/* Parses an IPv6 header and up to PKT_IPV6_EXT_MAX extension headers, and
 * returns the upper-layer protocol.  Sets '*fragment' when a fragment header
 * with a non-zero offset was seen: then no L4 header follows, and the walk
 * stops there.  More extension headers than PKT_IPV6_EXT_MAX make the packet
 * malformed, so that nobody mistakes an extension header for L4. */
PKT_INLINE int
pkt_parse_ipv6(struct pkt_cursor *c, struct pkt_ipv6 **ipp, bool *fragment)
{
    struct pkt_ipv6 *ip = (struct pkt_ipv6 *) c->pos;
    int nexthdr;
    int i;

    if ((__u8 *) (ip + 1) > c->end) {
        return -1;
    }
    if ((bpf_ntohl(ip->ver_tc_flow) >> 28) != 6) {
        return -1;
    }
    c->pos = (__u8 *) (ip + 1);
    *ipp = ip;
    *fragment = false;
    nexthdr = ip->nexthdr;
    for (i = 0; i < PKT_IPV6_EXT_MAX; i++) {
        struct pkt_ipv6_ext *ext = (struct pkt_ipv6_ext *) c->pos;
        __u32 len;

        if (!pkt_ipv6_is_ext(nexthdr)) {
            return nexthdr;
        }
        if ((__u8 *) (ext + 1) > c->end) {
            return -1;
        }
        if (nexthdr == PKT_IPV6_FRAGMENT) {
            __u8 *off = c->pos + 2;

            if (off + 2 > c->end) {
                return -1;
            }
            len = 8;
            *fragment = ((off[0] << 8 | off[1]) & 0xfff8) != 0;
        } else {
            len = (ext->len + 1) * 8;
        }
        if (c->pos + len > c->end) {
            return -1;
        }
        nexthdr = ext->nexthdr;
        c->pos += len;
        if (*fragment) {
            return nexthdr;
        }
    }
    return pkt_ipv6_is_ext(nexthdr) ? -1 : nexthdr;
}

PKT_INLINE int
pkt_parse_udp(struct pkt_cursor *c, struct pkt_udp **udpp)
{
    struct pkt_udp *udp = (struct pkt_udp *) c->pos;

    if ((__u8 *) (udp + 1) > c->end) {
        return -1;
    }
    if (bpf_ntohs(udp->len) < sizeof *udp) {
        return -1;
    }
    c->pos = (__u8 *) (udp + 1);
    *udpp = udp;
    return 0;
}

PKT_INLINE int
pkt_parse_tcp(struct pkt_cursor *c, struct pkt_tcp **tcpp)
{
    struct pkt_tcp *tcp = (struct pkt_tcp *) c->pos;
    __u32 hlen;

    if ((__u8 *) (tcp + 1) > c->end) {
        return -1;
    }
    hlen = (tcp->doff_res >> 4) * 4;
    if (hlen < sizeof *tcp || c->pos + hlen > c->end) {
        return -1;
    }
    c->pos += hlen;
    *tcpp = tcp;
    return 0;
}

/* Parses an ICMP or ICMPv6 header; both share one layout. */
PKT_INLINE int
pkt_parse_icmp(struct pkt_cursor *c, struct pkt_icmp **icmpp)
{
    struct pkt_icmp *icmp = (struct pkt_icmp *) c->pos;

    if ((__u8 *) (icmp + 1) > c->end) {
        return -1;
    }
    c->pos = (__u8 *) (icmp + 1);
    *icmpp = icmp;
    return 0;
}

/* What the pipeline needs to know about a frame, as values rather than
 * pointers so that it survives packet rewrites. */
struct pkt_info {
    __u8 dst_mac[PKT_ETH_ALEN]; /* Destination MAC. */
    __u8 src_mac[PKT_ETH_ALEN]; /* Source MAC. */
    __u16 l3_proto;             /* Ethertype of the payload, host order. */
    __u16 vlan_id;              /* 802.1Q id, 0 when untagged. */
    __u16 l3_off;               /* Offset of the L3 header in the frame. */
    __u16 l4_off;               /* Offset of the L4 header, 0 if none. */
    __u8 l4_proto;              /* IP protocol, 0 when not IP. */
    __u8 tos;                   /* IPv4 TOS or IPv6 traffic class. */
    __u8 fragment;              /* Non-first IP fragment: no L4 header. */
    __u8 fragmented;            /* Any IP fragment, first one included. */
    __be32 src4;                /* IPv4 source (or ARP sender). */
    __be32 dst4;                /* IPv4 destination (or ARP target). */
    __u8 src6[16];              /* IPv6 source. */
    __u8 dst6[16];              /* IPv6 destination. */
    __be16 sport;               /* L4 source port, or ICMP type and code. */
    __be16 dport;               /* L4 destination port, or ICMP id. */
    __u16 arp_op;               /* ARP operation, host order. */
    __u16 pad;                  /* Zero. */
    __u32 l3_len;               /* IP header plus payload as the header
                                 * says, 0 when not IP. */
};

PKT_INLINE void
pkt_copy_mac(__u8 *dst, const __u8 *src)
{
    __builtin_memcpy(dst, src, PKT_ETH_ALEN);
}

PKT_INLINE void
pkt_copy_ip6(__u8 *dst, const __u8 *src)
{
    __builtin_memcpy(dst, src, 16);
}

PKT_INLINE int
pkt_parse_l4(struct pkt_cursor *c, struct pkt_info *info, __u8 proto,
             __u16 l3_offset_end)
{
    info->l4_proto = proto;
    if (info->fragment) {
        return 0;
    }
    info->l4_off = l3_offset_end;
    if (proto == PKT_IPPROTO_TCP) {
        struct pkt_tcp *tcp;

        if (pkt_parse_tcp(c, &tcp) < 0) {
            return -1;
        }
        info->sport = tcp->source;
        info->dport = tcp->dest;
    } else if (proto == PKT_IPPROTO_UDP) {
        struct pkt_udp *udp;

        if (pkt_parse_udp(c, &udp) < 0) {
            return -1;
        }
        info->sport = udp->source;
        info->dport = udp->dest;
    } else if (proto == PKT_IPPROTO_ICMP || proto == PKT_IPPROTO_ICMPV6) {
        struct pkt_icmp *icmp;

        if (pkt_parse_icmp(c, &icmp) < 0) {
            return -1;
        }
        info->sport = bpf_htons((__u16) (icmp->type << 8 | icmp->code));
        info->dport = icmp->id;
    } else {
        info->l4_off = 0;
    }
    return 0;
}

/* Parses a whole Ethernet frame in ['data', 'end') into '*info'.  Returns 0
 * on success (including for ethertypes it does not know, which it leaves
 * unparsed past L2) or -1 if any header it recognises is malformed. */
PKT_INLINE int
pkt_parse_frame(void *data, void *end, struct pkt_info *info)
{
    __u8 *start = (__u8 *) data;
    struct pkt_cursor c;
    struct pkt_eth *eth;
    int type;

    __builtin_memset(info, 0, sizeof *info);
    pkt_cursor_init(&c, data, end);
    type = pkt_parse_eth(&c, &eth, &info->vlan_id);
    if (type < 0) {
        return -1;
    }
    pkt_copy_mac(info->dst_mac, eth->dst);
    pkt_copy_mac(info->src_mac, eth->src);
    info->l3_proto = type;
    info->l3_off = c.pos - start;

    if (type == PKT_ETH_P_IPV4) {
        struct pkt_ipv4 *ip;
        int proto = pkt_parse_ipv4(&c, &ip);

        if (proto < 0) {
            return -1;
        }
        info->src4 = ip->saddr;
        info->dst4 = ip->daddr;
        info->tos = ip->tos;
        info->fragment = pkt_ipv4_is_later_fragment(ip);
        info->fragmented = pkt_ipv4_is_fragment(ip);
        info->l3_len = bpf_ntohs(ip->tot_len);
        return pkt_parse_l4(&c, info, proto, c.pos - start);
    } else if (type == PKT_ETH_P_IPV6) {
        struct pkt_ipv6 *ip6;
        bool fragment;
        int proto = pkt_parse_ipv6(&c, &ip6, &fragment);

        if (proto < 0) {
            return -1;
        }
        pkt_copy_ip6(info->src6, ip6->saddr);
        pkt_copy_ip6(info->dst6, ip6->daddr);
        info->tos = (bpf_ntohl(ip6->ver_tc_flow) >> 20) & 0xff;
        info->fragment = fragment;
        info->fragmented = fragment;
        info->l3_len = bpf_ntohs(ip6->payload_len) + sizeof *ip6;
        return pkt_parse_l4(&c, info, proto, c.pos - start);
    } else if (type == PKT_ETH_P_ARP) {
        struct pkt_arp *arp;

        if (pkt_parse_arp(&c, &arp) < 0) {
            return -1;
        }
        info->src4 = arp->spa;
        info->dst4 = arp->tpa;
        info->arp_op = bpf_ntohs(arp->op);
    }
    return 0;
}

PKT_INLINE bool
pkt_mac_is_multicast(const __u8 *mac)
{
    return (mac[0] & 1) != 0;
}

PKT_INLINE bool
pkt_mac_equal(const __u8 *a, const __u8 *b)
{
    return a[0] == b[0] && a[1] == b[1] && a[2] == b[2] && a[3] == b[3]
           && a[4] == b[4] && a[5] == b[5];
}

#endif /* packet/parse.h */
