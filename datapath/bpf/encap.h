/* VXLAN encapsulation towards remote VTEPs, built on vxlan/vxlan.h. */
#ifndef DATAPATH_BPF_ENCAP_H
#define DATAPATH_BPF_ENCAP_H 1

#include "datapath/bpf/stats.h"
#include "vxlan/vxlan.h"

#define FAB_TTL_DEFAULT 64

/* The outer headers followed by the inner Ethernet header, written to the
 * frame in one store after the room for them is made. */
struct fab_encap_hdrs {
    struct vxlan_outer outer; /* Outer Ethernet, IPv4, UDP, VXLAN. */
    struct pkt_eth inner;     /* The original Ethernet header. */
} __attribute__((packed));

/* Per-CPU scratch space for encapsulation.  The stack (512 bytes, shared
 * by every inlined stage and the flood callback) cannot hold all of this. */
struct fab_encap_scratch {
    struct fab_encap_hdrs h;     /* Headers written to the frame. */
    struct vxlan_encap_params p; /* Their inputs. */
    __u32 nh_flags;              /* DP_NEXTHOP_* of the VTEP addressed. */
};

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct fab_encap_scratch);
} fab_encap_tmp SEC(".maps");

static __always_inline struct fab_encap_scratch *
fab_encap_scratch_get(void)
{
    __u32 zero = 0;

    return bpf_map_lookup_elem(&fab_encap_tmp, &zero);
}

/* Returns DP_NEXTHOP_GBP if 'vtep' is a fabric host, which takes
 * VXLAN-GBP, for a VTEP whose next hop is not resolved yet; else 0. */
static __always_inline __u32
fab_vtep_gbp(__be32 vtep)
{
    struct dp_vtep_key key = {.vtep = vtep};
    struct dp_vtep *v = bpf_map_lookup_elem(&fab_vteps, &key);

    return v && !(v->flags & DP_VTEP_EXTERNAL) ? DP_NEXTHOP_GBP : 0;
}

/* Finds the underlay next hop for 'vtep' in the tables the agent keeps,
 * filling the outer MACs and the next hop's DP_NEXTHOP_* flags in 's' and
 * the egress ifindex in '*oif': from slot 'nh_slot' of fab_nexthop_slots
 * if that is the VTEP's, else (a flood member, which has no slot) from
 * fab_nexthops.  Returns DP_DROP_N_REASONS on success or DP_DROP_NO_NEIGH,
 * with '*oif' then the underlay device, while the agent has not resolved
 * the VTEP yet. */
static __always_inline enum dp_drop_reason
fab_underlay_route(const struct dp_config *cfg, __be32 vtep, __u32 nh_slot,
                   struct fab_encap_scratch *s, __u32 *oif)
{
    struct dp_nexthop_key key = {.vtep = vtep};
    struct fab_nexthop_slot *slot = NULL;
    struct dp_nexthop *nh = NULL;

    if (nh_slot) {
        slot = bpf_map_lookup_elem(&fab_nexthop_slots, &nh_slot);
    }
    if (slot && slot->vtep == vtep) {
        nh = slot->nh.ifindex ? &slot->nh : NULL;
    } else {
        nh = bpf_map_lookup_elem(&fab_nexthops, &key);
    }
    if (!nh) {
        *oif = cfg->underlay_ifindex;
        __builtin_memset(s->p.src_mac, 0, sizeof s->p.src_mac);
        __builtin_memset(s->p.dst_mac, 0, sizeof s->p.dst_mac);
        s->nh_flags = fab_vtep_gbp(vtep);
        return DP_DROP_NO_NEIGH;
    }
    *oif = nh->ifindex;
    s->nh_flags = nh->flags;
    pkt_copy_mac(s->p.src_mac, nh->src_mac);
    pkt_copy_mac(s->p.dst_mac, nh->dst_mac);
    return DP_DROP_N_REASONS;
}

static __always_inline bool
fab_is_ip(const struct pkt_info *info)
{
    return info->l3_proto == PKT_ETH_P_IPV4
           || info->l3_proto == PKT_ETH_P_IPV6;
}

/* Returns the group to send to the VTEP that fab_underlay_route() last
 * found for 's': the sender's 'group' if that VTEP takes VXLAN-GBP, else 0
 * for plain RFC 7348. */
static __always_inline __u16
fab_encap_group(const struct fab_encap_scratch *s, __u16 group)
{
    return s->nh_flags & DP_NEXTHOP_GBP ? group : 0;
}

/* Makes room for the outer headers in front of the frame and writes them,
 * addressed to 'vtep' (MACs and whether it takes VXLAN-GBP in 's', from
 * fab_underlay_route()).
 *
 * GSO frames grow with bpf_skb_adjust_room(), which turns them into UDP
 * tunnel GSO frames that the kernel segments with the outer headers copied
 * onto every segment; so do IPv6 frames, for which it also sets the outer
 * skb->protocol.  It refuses any other skb->protocol, so ARP and other
 * non-IP frames, never GSO, get their room with bpf_skb_change_head(), as
 * do IPv4 frames that are not GSO. */
static __always_inline enum dp_drop_reason
fab_encap_push(struct __sk_buff *skb, const struct pkt_info *info,
               const struct dp_config *cfg, __u32 vni, __u16 group,
               __be32 vtep, struct fab_encap_scratch *s)
{
    struct fab_encap_hdrs *h = &s->h;
    struct vxlan_encap_params *p = &s->p;
    __u64 flags;

    p->src_ip = cfg->vtep_ip;
    p->dst_ip = vtep;
    p->vni = vni;
    p->group = fab_encap_group(s, group);
    p->ttl = cfg->ttl ? cfg->ttl : FAB_TTL_DEFAULT;
    p->dont_fragment = 1;
    vxlan_build_outer(&h->outer, p, info, skb->len);
    pkt_copy_mac(h->inner.dst, info->dst_mac);
    pkt_copy_mac(h->inner.src, info->src_mac);
    h->inner.type = bpf_htons(info->l3_proto);

    /* Growing the head unclones it, so the new headers are written with
     * fab_store_head(). */
    if (!fab_is_ip(info)
        || (info->l3_proto == PKT_ETH_P_IPV4 && !skb->gso_size)) {
        /* The original Ethernet header is already where the inner one
         * goes; only the outer headers are written.  For a frame that is
         * not GSO and whose skb->protocol is already the outer one
         * (IPv4), this is also some 20 ns cheaper than
         * bpf_skb_adjust_room(), whose tunnel metadata only GSO needs. */
        if (bpf_skb_change_head(skb, VXLAN_OVERHEAD, 0)
            || fab_store_head(skb, &h->outer, sizeof h->outer)) {
            return DP_DROP_ENCAP_FAILED;
        }
        return DP_DROP_N_REASONS;
    }
    flags = BPF_F_ADJ_ROOM_FIXED_GSO | BPF_F_ADJ_ROOM_ENCAP_L3_IPV4
            | BPF_F_ADJ_ROOM_ENCAP_L4_UDP | BPF_F_ADJ_ROOM_ENCAP_L2_ETH
            | BPF_F_ADJ_ROOM_ENCAP_L2(sizeof(struct pkt_eth));
    if (bpf_skb_adjust_room(skb, VXLAN_OVERHEAD, BPF_ADJ_ROOM_MAC, flags)
        || fab_store_head(skb, h, sizeof *h)) {
        return DP_DROP_ENCAP_FAILED;
    }
    return DP_DROP_N_REASONS;
}

/* Readdresses an already encapsulated frame to another VTEP, for flooding,
 * from a sender of identity 'group' (see fab_encap_push()).  The outer
 * Ethernet and IPv4 headers change, and the VXLAN header too when this
 * VTEP takes VXLAN-GBP and the last one did not, or the other way round. */
static __always_inline enum dp_drop_reason
fab_encap_readdress(struct __sk_buff *skb, struct fab_encap_scratch *s,
                    __be32 vtep, __u16 group)
{
    struct fab_encap_hdrs *h = &s->h;
    __u16 want = fab_encap_group(s, group);

    vxlan_set_outer_dst(&h->outer, vtep, s->p.dst_mac);
    pkt_copy_mac(h->outer.eth.src, s->p.src_mac);
    /* Not fab_store_head(): the frame's data is shared with the copies
     * already sent, and only the helper writes to a copy of its own. */
    if (bpf_skb_store_bytes(skb, 0, &h->outer,
                            sizeof h->outer.eth + sizeof h->outer.ip, 0)) {
        return DP_DROP_ENCAP_FAILED;
    }
    if (want != s->p.group) {
        s->p.group = want;
        vxlan_set_group(&h->outer.vxlan, want);
        if (bpf_skb_store_bytes(skb,
                                __builtin_offsetof(struct vxlan_outer, vxlan),
                                &h->outer.vxlan, sizeof h->outer.vxlan, 0)) {
            return DP_DROP_ENCAP_FAILED;
        }
    }
    return DP_DROP_N_REASONS;
}

/* Sends the frame to remote 'vtep' (next hop in slot 'nh_slot', or 0) in
 * 'vni', from a sender of security identity 'group', and returns the tc
 * verdict.
 * While the next hop is not in the table, the kernel routes the outer
 * header and resolves the neighbour itself (bpf_redirect_neigh).  It picks
 * the outer protocol from skb->protocol, which encapsulation sets to IPv4
 * for IPv4 and IPv6 frames only; other frames are dropped as
 * "no-neighbour" until the agent has resolved the VTEP. */
static __always_inline int
fab_encap_send(struct __sk_buff *skb, __u32 in_slot,
               const struct pkt_info *info, __u32 vni, __u16 group,
               __be32 vtep, __u32 nh_slot)
{
    struct fab_encap_scratch *s = fab_encap_scratch_get();
    enum dp_drop_reason reason;
    struct dp_config *cfg;
    __u32 zero = 0;
    __u32 oif = 0;

    cfg = bpf_map_lookup_elem(&fab_config, &zero);
    if (!cfg || !cfg->vtep_ip || !s) {
        return fab_drop(skb, in_slot, DP_DROP_NOT_CONFIGURED);
    }
    reason = fab_underlay_route(cfg, vtep, nh_slot, s, &oif);
    if (reason != DP_DROP_N_REASONS && !fab_is_ip(info)) {
        return fab_drop(skb, in_slot, reason);
    }
    if (fab_encap_push(skb, info, cfg, vni, group, vtep, s)
        != DP_DROP_N_REASONS) {
        return fab_drop(skb, in_slot, DP_DROP_ENCAP_FAILED);
    }
    fab_count_tx(FAB_SLOT_UNDERLAY, skb->len);
    if (reason != DP_DROP_N_REASONS) {
        return bpf_redirect_neigh(oif, NULL, 0, 0);
    }
    return bpf_redirect(oif, 0);
}

/* Sends the VXLAN frame from the underlay in 'skb' on to remote 'vtep' (next
 * hop in slot 'nh_slot', or 0), for a MAC that has just moved there
 * (DP_FDB_FORWARD), and returns the tc verdict.  The outer Ethernet and IPv4
 * headers are rewritten as ours to 'vtep', one hop less of TTL, so that
 * forwarders that point at each other can only pass a frame round so many
 * times ("forward-loop" at the end), and at most FAB_FORWARD_BACK_TTL if
 * 'back' (to the VTEP that sent it); the UDP and VXLAN headers (source port,
 * VNI, group) and the inner frame go on as they came.  A UDP checksum, which
 * fabric hosts never send, is cleared rather than recomputed.  The IPv4
 * header sums to the same with its new checksum, so a checksum the kernel
 * keeps over the frame (CHECKSUM_COMPLETE) stays right. */
static __always_inline int
fab_encap_forward(struct __sk_buff *skb, const struct dp_config *cfg,
                  __be32 vtep, __u32 nh_slot, bool back)
{
    struct fab_encap_scratch *s = fab_encap_scratch_get();
    enum dp_drop_reason reason;
    struct vxlan_outer *o;
    void *data, *end;
    __sum16 udp_check;
    __u32 oif = 0;

    if (!s) {
        return fab_drop(skb, FAB_SLOT_UNDERLAY, DP_DROP_INTERNAL);
    }
    data = fab_data(skb);
    end = fab_data_end(skb);
    if (data + sizeof *o > end) {
        return fab_drop(skb, FAB_SLOT_UNDERLAY, DP_DROP_MALFORMED);
    }
    o = &s->h.outer;
    __builtin_memcpy(o, data, sizeof *o);
    if (o->ip.ttl <= 1) {
        return fab_drop(skb, FAB_SLOT_UNDERLAY, DP_DROP_FORWARD_LOOP);
    }
    reason = fab_underlay_route(cfg, vtep, nh_slot, s, &oif);
    o->ip.ttl--;
    if (back && o->ip.ttl > FAB_FORWARD_BACK_TTL) {
        o->ip.ttl = FAB_FORWARD_BACK_TTL;
    }
    o->ip.saddr = cfg->vtep_ip;
    o->ip.daddr = vtep;
    o->ip.check = pkt_ipv4_csum(&o->ip);
    pkt_copy_mac(o->eth.src, s->p.src_mac);
    pkt_copy_mac(o->eth.dst, s->p.dst_mac);
    udp_check = o->udp.check;
    o->udp.check = 0;
    if (fab_store_head(skb, o, sizeof o->eth + sizeof o->ip)) {
        return fab_drop(skb, FAB_SLOT_UNDERLAY, DP_DROP_ENCAP_FAILED);
    }
    if (udp_check
        && bpf_skb_store_bytes(skb,
                               __builtin_offsetof(struct vxlan_outer, udp)
                                   + __builtin_offsetof(struct pkt_udp, check),
                               &o->udp.check, sizeof o->udp.check,
                               BPF_F_RECOMPUTE_CSUM)) {
        return fab_drop(skb, FAB_SLOT_UNDERLAY, DP_DROP_ENCAP_FAILED);
    }
    fab_count_tx(FAB_SLOT_UNDERLAY, skb->len);
    if (reason != DP_DROP_N_REASONS) {
        return bpf_redirect_neigh(oif, NULL, 0, 0);
    }
    return bpf_redirect(oif, 0);
}

#endif /* datapath/bpf/encap.h */
