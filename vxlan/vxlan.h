/* VXLAN (RFC 7348) with the Group Policy extension
 * (draft-smith-vxlan-group-policy): header layout, building and stripping
 * the outer Ethernet/IPv4/UDP/VXLAN headers, and the outer UDP source port
 * derived from the inner flow.
 *
 * Everything works on plain buffers so that the tc programs, the DPDK
 * backend and the unit tests share it. */
#ifndef VXLAN_VXLAN_H
#define VXLAN_VXLAN_H 1

#include "packet/csum.h"
#include "packet/parse.h"
#include "vxlan/ecn.h"

#define VXLAN_PORT 4789
#define VXLAN_SRC_PORT_MIN 49152 /* Outer source ports span 49152..65535. */
#define VXLAN_VNI_MAX 0xffffff

/* Flag bits of the first two bytes. */
#define VXLAN_FLAG_I 0x08 /* Byte 0: the VNI is valid. */
#define VXLAN_FLAG_G 0x80 /* Byte 0: a group policy id is present. */
#define VXLAN_GBP_D 0x40  /* Byte 1: don't learn. */
#define VXLAN_GBP_A 0x08  /* Byte 1: policy already applied. */

struct vxlan_hdr {
    __u8 flags;     /* G and I bits. */
    __u8 gbp_flags; /* D and A bits of the GBP extension. */
    __be16 group;   /* Group policy id, when G is set. */
    __be32 vni_res; /* VNI in the upper 24 bits. */
} __attribute__((packed));

/* The whole outer encapsulation in front of the inner Ethernet frame. */
struct vxlan_outer {
    struct pkt_eth eth;     /* Underlay MACs. */
    struct pkt_ipv4 ip;     /* Underlay IPv4 without options. */
    struct pkt_udp udp;     /* UDP to port 4789. */
    struct vxlan_hdr vxlan; /* VNI and group. */
} __attribute__((packed));

#define VXLAN_OVERHEAD ((int) sizeof(struct vxlan_outer)) /* 50 bytes. */

/* What the encapsulating side decides about one packet. */
struct vxlan_encap_params {
    __u8 src_mac[PKT_ETH_ALEN]; /* Underlay source MAC. */
    __u8 dst_mac[PKT_ETH_ALEN]; /* Underlay next-hop MAC. */
    __be32 src_ip;              /* Our VTEP address. */
    __be32 dst_ip;              /* The remote VTEP address. */
    __u32 vni;                  /* Virtual network, 24 bits. */
    __u16 group;                /* Sender's group policy id, 0 for none. */
    __u8 ttl;                   /* Outer TTL. */
    __u8 dont_fragment;         /* Set DF on the outer header. */
};

PKT_INLINE __u32
vxlan_hash_mix(__u32 h, __u32 v)
{
    v *= 0xcc9e2d51;
    v = (v << 15) | (v >> 17);
    v *= 0x1b873593;
    h ^= v;
    h = (h << 13) | (h >> 19);
    return h * 5 + 0xe6546b64;
}

PKT_INLINE __u32
vxlan_hash_final(__u32 h)
{
    h ^= h >> 16;
    h *= 0x85ebca6b;
    h ^= h >> 13;
    h *= 0xc2b2ae35;
    h ^= h >> 16;
    return h;
}

PKT_INLINE __u32
vxlan_mac_word(const __u8 *mac)
{
    return (__u32) mac[0] << 24 | (__u32) mac[1] << 16 | (__u32) mac[2] << 8
           | mac[3];
}

/* Returns a hash of the inner flow: the IP 5-tuple for IPv4 and IPv6 (the
 * addresses and protocol only for fragments), otherwise the Ethernet
 * addresses and type.  Both directions of a flow hash
 * differently, as they may, since each direction is its own underlay flow. */
PKT_INLINE __u32
vxlan_flow_hash(const struct pkt_info *info)
{
    __u32 h = 0x9747b28c;
    int i;

    if (info->l3_proto == PKT_ETH_P_IPV4) {
        h = vxlan_hash_mix(h, info->src4);
        h = vxlan_hash_mix(h, info->dst4);
    } else if (info->l3_proto == PKT_ETH_P_IPV6) {
        for (i = 0; i < 16; i += 4) {
            __u32 src, dst;

            /* Copied, not read through a __u32 pointer: gcc may reorder
             * loads that alias a byte array. */
            __builtin_memcpy(&src, &info->src6[i], sizeof src);
            __builtin_memcpy(&dst, &info->dst6[i], sizeof dst);
            h = vxlan_hash_mix(h, src);
            h = vxlan_hash_mix(h, dst);
        }
    } else {
        /* MACs sit at odd offsets; BPF forbids misaligned stack loads. */
        h = vxlan_hash_mix(h, vxlan_mac_word(info->src_mac));
        h = vxlan_hash_mix(h, vxlan_mac_word(info->dst_mac));
        h = vxlan_hash_mix(
            h, (__u32) info->src_mac[4] << 24 | (__u32) info->src_mac[5] << 16
                   | (__u32) info->dst_mac[4] << 8 | info->dst_mac[5]);
        return vxlan_hash_final(h ^ info->l3_proto);
    }
    /* Fragments of one datagram must take one underlay path, and only the
     * first carries the ports, so no fragment hashes them. */
    if (!info->fragmented) {
        h = vxlan_hash_mix(h, (__u32) info->sport << 16 | info->dport);
    }
    return vxlan_hash_final(h ^ info->l4_proto);
}

/* Maps a flow hash onto the outer UDP source port range 49152..65535. */
PKT_INLINE __u16
vxlan_src_port(__u32 hash)
{
    return VXLAN_SRC_PORT_MIN + (hash & 0x3fff);
}

/* Returns the TOS for the outer header: the uniform model copies the inner
 * header's DSCP so the underlay can honour it, and RFC 6040's normal mode
 * copies its ECN field so the underlay can mark congestion on ECN-capable
 * traffic (vxlan/ecn.h carries the mark back on decapsulation). */
PKT_INLINE __u8
vxlan_outer_tos(const struct pkt_info *inner)
{
    if (inner->l3_proto == PKT_ETH_P_IPV4
        || inner->l3_proto == PKT_ETH_P_IPV6) {
        return inner->tos;
    }
    return 0;
}

/* Makes the VXLAN header 'vx' carry group policy id 'group' with the G bit,
 * or, for 'group' 0, no group at all: a plain RFC 7348 header, as VTEPs
 * without the Group Policy extension demand. */
PKT_INLINE void
vxlan_set_group(struct vxlan_hdr *vx, __u16 group)
{
    vx->flags = VXLAN_FLAG_I | (group ? VXLAN_FLAG_G : 0);
    vx->gbp_flags = 0;
    vx->group = bpf_htons(group);
}

/* Fills '*o' with the outer headers for an inner Ethernet frame of
 * 'inner_len' bytes described by 'inner'. */
PKT_INLINE void
vxlan_build_outer(struct vxlan_outer *o, const struct vxlan_encap_params *p,
                  const struct pkt_info *inner, __u32 inner_len)
{
    __u32 hash = vxlan_flow_hash(inner);

    pkt_copy_mac(o->eth.dst, p->dst_mac);
    pkt_copy_mac(o->eth.src, p->src_mac);
    o->eth.type = bpf_htons(PKT_ETH_P_IPV4);

    o->ip.ver_ihl = 0x45;
    o->ip.tos = vxlan_outer_tos(inner);
    o->ip.tot_len = bpf_htons(
        (__u16) (inner_len + VXLAN_OVERHEAD - sizeof(struct pkt_eth)));
    o->ip.id = 0;
    o->ip.frag_off = p->dont_fragment ? bpf_htons(PKT_IPV4_DF) : 0;
    o->ip.ttl = p->ttl;
    o->ip.protocol = PKT_IPPROTO_UDP;
    o->ip.saddr = p->src_ip;
    o->ip.daddr = p->dst_ip;
    o->ip.check = pkt_ipv4_csum(&o->ip);

    o->udp.source = bpf_htons(vxlan_src_port(hash));
    o->udp.dest = bpf_htons(VXLAN_PORT);
    o->udp.len =
        bpf_htons((__u16) (inner_len + sizeof o->udp + sizeof o->vxlan));
    o->udp.check = 0;

    vxlan_set_group(&o->vxlan, p->group);
    o->vxlan.vni_res = bpf_htonl(p->vni << 8);
}

/* Rewrites the destination of already built outer headers, for replicating
 * one frame to several VTEPs, and recomputes the IPv4 checksum. */
PKT_INLINE void
vxlan_set_outer_dst(struct vxlan_outer *o, __be32 dst_ip, const __u8 *dst_mac)
{
    o->ip.daddr = dst_ip;
    o->ip.check = pkt_ipv4_csum(&o->ip);
    pkt_copy_mac(o->eth.dst, dst_mac);
}

/* Result of looking at an underlay frame. */
enum vxlan_classify {
    VXLAN_NOT_OURS = 0,  /* Not VXLAN to us: hand to the host stack. */
    VXLAN_OK = 1,        /* Valid VXLAN for 'vtep_ip'. */
    VXLAN_MALFORMED = 2, /* VXLAN to us, but unusable. */
};

/* What decapsulation learns from the outer headers. */
struct vxlan_decap_info {
    __u32 vni;   /* Virtual network. */
    __u16 group; /* Sender's group id, 0 if G is clear. */
    __u8 tos;    /* Outer TOS. */
    __u8 pad;
    __be32 src_ip;   /* Sending VTEP. */
    __u16 inner_off; /* Offset of the inner Ethernet header. */
};

/* Decides whether the frame in ['data', 'end'), whose full length is
 * 'frame_len' ('end' may stop short of it when the rest is not linear), is
 * VXLAN addressed to 'vtep_ip' on UDP port VXLAN_PORT, and if so fills '*d'.
 * Tagged frames and outer fragments are not ours: RFC 7348 lets a VTEP
 * ignore fragments, so the host stack gets them, finds no listener and drops
 * them.  VXLAN to us is VXLAN_MALFORMED when the outer IPv4 header has
 * options, the I flag is clear, there is no whole inner Ethernet header, or
 * the IPv4 or UDP length claims more bytes than the frame has. */
PKT_INLINE enum vxlan_classify
vxlan_classify(void *data, void *end, __u32 frame_len, __be32 vtep_ip,
               struct vxlan_decap_info *d)
{
    __u8 *start = (__u8 *) data;
    struct pkt_cursor c;
    struct pkt_eth *eth;
    struct pkt_ipv4 *ip;
    struct pkt_udp *udp;
    struct vxlan_hdr *vx;
    __u16 vlan;

    pkt_cursor_init(&c, data, end);
    if (pkt_parse_eth(&c, &eth, &vlan) != PKT_ETH_P_IPV4
        || c.pos != start + sizeof *eth) {
        return VXLAN_NOT_OURS;
    }
    if (pkt_parse_ipv4(&c, &ip) != PKT_IPPROTO_UDP || ip->daddr != vtep_ip
        || pkt_ipv4_is_fragment(ip)) {
        return VXLAN_NOT_OURS;
    }
    if (pkt_parse_udp(&c, &udp) < 0 || udp->dest != bpf_htons(VXLAN_PORT)) {
        return VXLAN_NOT_OURS;
    }
    vx = (struct vxlan_hdr *) c.pos;
    if ((__u8 *) (vx + 1) + sizeof(struct pkt_eth) > c.end) {
        return VXLAN_MALFORMED;
    }
    if (!(vx->flags & VXLAN_FLAG_I) || (ip->ver_ihl & 0x0f) != 5) {
        return VXLAN_MALFORMED;
    }
    if (sizeof *eth + bpf_ntohs(ip->tot_len) > frame_len
        || bpf_ntohs(udp->len) > bpf_ntohs(ip->tot_len) - sizeof *ip) {
        return VXLAN_MALFORMED;
    }
    d->vni = bpf_ntohl(vx->vni_res) >> 8;
    d->group = (vx->flags & VXLAN_FLAG_G) ? bpf_ntohs(vx->group) : 0;
    d->tos = ip->tos;
    d->pad = 0;
    d->src_ip = ip->saddr;
    d->inner_off = (__u8 *) (vx + 1) - start;
    return VXLAN_OK;
}

#endif /* vxlan/vxlan.h */
