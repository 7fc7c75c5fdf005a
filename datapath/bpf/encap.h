/* VXLAN encapsulation towards remote VTEPs, built on vxlan/vxlan.h. */
#ifndef DATAPATH_BPF_ENCAP_H
#define DATAPATH_BPF_ENCAP_H 1

#include "datapath/bpf/stats.h"
#include "vxlan/vxlan.h"

#define FAB_TTL_DEFAULT 64

/* The outer headers followed by the inner Ethernet header, written to the
 * frame in one store after the room for them is made. */
struct fab_encap_hdrs {
    struct vxlan_outer outer;   /* Outer Ethernet, IPv4, UDP, VXLAN. */
    struct pkt_eth inner;       /* The original Ethernet header. */
} __attribute__((packed));

/* Per-CPU scratch space for encapsulation.  The stack (512 bytes, shared
 * by every inlined stage and the flood callback) cannot hold all of this. */
struct fab_encap_scratch {
    struct fab_encap_hdrs h;        /* Headers written to the frame. */
    struct vxlan_encap_params p;    /* Their inputs. */
    struct bpf_fib_lookup fib;      /* Underlay route lookup. */
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

/* Resolves the underlay next hop for 'vtep' through the kernel's FIB and
 * neighbour table, filling the outer MACs in 's' and returning the egress
 * ifindex in '*oif'.  Returns DP_DROP_N_REASONS on success, DP_DROP_NO_NEIGH when
 * only the neighbour is missing ('*oif' then holds the device), or another
 * drop reason. */
static __always_inline enum dp_drop_reason
fab_underlay_route(struct __sk_buff *skb, const struct dp_config *cfg,
                   __be32 vtep, struct fab_encap_scratch *s, __u32 *oif)
{
    struct bpf_fib_lookup *fib = &s->fib;
    long rc;

    __builtin_memset(fib, 0, sizeof *fib);
    fib->family = AF_INET;
    fib->l4_protocol = PKT_IPPROTO_UDP;
    fib->ipv4_src = cfg->vtep_ip;
    fib->ipv4_dst = vtep;
    fib->ifindex = cfg->underlay_ifindex;
    rc = bpf_fib_lookup(skb, fib, sizeof *fib, BPF_FIB_LOOKUP_OUTPUT);
    *oif = fib->ifindex;
    if (rc == BPF_FIB_LKUP_RET_NO_NEIGH) {
        return DP_DROP_NO_NEIGH;
    }
    if (rc != BPF_FIB_LKUP_RET_SUCCESS) {
        return DP_DROP_NO_ROUTE;
    }
    pkt_copy_mac(s->p.src_mac, fib->smac);
    pkt_copy_mac(s->p.dst_mac, fib->dmac);
    return DP_DROP_N_REASONS;
}

/* Makes room for the outer headers in front of the frame and writes them,
 * addressed to 'vtep' (MACs in 's', from fab_underlay_route()).
 * GSO frames become UDP tunnel GSO frames, so the kernel segments them with
 * the outer headers copied onto every segment. */
static __always_inline enum dp_drop_reason
fab_encap_push(struct __sk_buff *skb, const struct pkt_info *info,
               const struct dp_config *cfg, __u32 vni, __be32 vtep,
               struct fab_encap_scratch *s)
{
    struct fab_encap_hdrs *h = &s->h;
    struct vxlan_encap_params *p = &s->p;
    __u64 flags;

    p->src_ip = cfg->vtep_ip;
    p->dst_ip = vtep;
    p->vni = vni;
    p->group = 0;
    p->ttl = cfg->ttl ? cfg->ttl : FAB_TTL_DEFAULT;
    p->dont_fragment = 1;
    vxlan_build_outer(&h->outer, p, info, skb->len);
    pkt_copy_mac(h->inner.dst, info->dst_mac);
    pkt_copy_mac(h->inner.src, info->src_mac);
    h->inner.type = bpf_htons(info->l3_proto);

    flags = BPF_F_ADJ_ROOM_FIXED_GSO | BPF_F_ADJ_ROOM_ENCAP_L3_IPV4
            | BPF_F_ADJ_ROOM_ENCAP_L4_UDP | BPF_F_ADJ_ROOM_ENCAP_L2_ETH
            | BPF_F_ADJ_ROOM_ENCAP_L2(sizeof(struct pkt_eth));
    if (bpf_skb_adjust_room(skb, VXLAN_OVERHEAD, BPF_ADJ_ROOM_MAC, flags)) {
        return DP_DROP_ENCAP_FAILED;
    }
    if (bpf_skb_store_bytes(skb, 0, h, sizeof *h, 0)) {
        return DP_DROP_ENCAP_FAILED;
    }
    return DP_DROP_N_REASONS;
}

/* Readdresses an already encapsulated frame to another VTEP, for flooding.
 * Only the outer Ethernet and IPv4 headers change. */
static __always_inline enum dp_drop_reason
fab_encap_readdress(struct __sk_buff *skb, struct fab_encap_scratch *s,
                    __be32 vtep)
{
    struct fab_encap_hdrs *h = &s->h;

    vxlan_set_outer_dst(&h->outer, vtep, s->p.dst_mac);
    pkt_copy_mac(h->outer.eth.src, s->p.src_mac);
    if (bpf_skb_store_bytes(skb, 0, &h->outer,
                            sizeof h->outer.eth + sizeof h->outer.ip, 0)) {
        return DP_DROP_ENCAP_FAILED;
    }
    return DP_DROP_N_REASONS;
}

/* Sends the frame to remote 'vtep' in 'vni' and returns the tc verdict.
 * When the next hop's MAC is not yet known, the kernel resolves it
 * (bpf_redirect_neigh), which it can do only for IPv4 frames; others are
 * dropped as "no-neighbour" until the agent's resolution completes. */
static __always_inline int
fab_encap_send(struct __sk_buff *skb, __u32 in_ifindex,
               const struct pkt_info *info, __u32 vni, __be32 vtep)
{
    struct fab_encap_scratch *s = fab_encap_scratch_get();
    enum dp_drop_reason reason;
    struct dp_config *cfg;
    __u32 zero = 0;
    __u32 oif = 0;

    cfg = bpf_map_lookup_elem(&fab_config, &zero);
    if (!cfg || !cfg->vtep_ip || !s) {
        return fab_drop(in_ifindex, DP_DROP_NOT_CONFIGURED);
    }
    reason = fab_underlay_route(skb, cfg, vtep, s, &oif);
    if (reason == DP_DROP_NO_NEIGH
        && skb->protocol != bpf_htons(PKT_ETH_P_IPV4)) {
        return fab_drop(in_ifindex, reason);
    }
    if (reason != DP_DROP_N_REASONS && reason != DP_DROP_NO_NEIGH) {
        return fab_drop(in_ifindex, reason);
    }
    if (fab_encap_push(skb, info, cfg, vni, vtep, s) != DP_DROP_N_REASONS) {
        return fab_drop(in_ifindex, DP_DROP_ENCAP_FAILED);
    }
    fab_count_tx(cfg->underlay_ifindex, skb->len);
    if (reason == DP_DROP_NO_NEIGH) {
        /* The kernel routes the outer header again and resolves. */
        return bpf_redirect_neigh(oif, NULL, 0, 0);
    }
    return bpf_redirect(oif, 0);
}

#endif /* datapath/bpf/encap.h */
