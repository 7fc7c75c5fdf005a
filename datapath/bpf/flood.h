/* Replication of broadcast, multicast and unknown unicast to a VNI's flood
 * list: copies to local ports first, then one encapsulated copy per remote
 * VTEP.  Frames that arrived from the underlay are only replicated to local
 * ports (split horizon), so a flood never loops between hosts. */
#ifndef DATAPATH_BPF_FLOOD_H
#define DATAPATH_BPF_FLOOD_H 1

#include "datapath/bpf/encap.h"
#include "datapath/bpf/index.h"
#include "datapath/bpf/stats.h"

/* State shared by the iterations of one flood.  The iterations run in a
 * bpf_loop() callback so the verifier checks one member, not DP_FLOOD_MAX. */
struct fab_flood_ctx {
    struct __sk_buff *skb;       /* The frame being replicated. */
    struct dp_flood *flood;      /* The VNI's flood list. */
    const struct pkt_info *info; /* The frame's headers. */
    struct dp_config *cfg;       /* Underlay settings. */
    struct fab_encap_scratch *s; /* Outer headers once encapsulated. */
    __u32 in_ifindex;            /* Where the frame came from. */
    __u32 in_slot;               /* Its counters. */
    __u32 vni;                   /* Its network. */
    __u32 n_sent;                /* Copies sent so far. */
    __u16 group;                 /* Sender's security identity. */
    bool from_underlay;          /* Arrived by VXLAN: locals only. */
    bool unicast_ip;             /* Unknown unicast IP: not for
                                  * firewalled ports. */
    bool encapsulated;           /* Outer headers are on the frame. */
    bool failed;                 /* Encapsulation failed: stop. */
};

static long
fab_flood_member(__u32 i, void *arg)
{
    struct fab_flood_ctx *c = arg;
    struct dp_flood_member *m;
    __u32 oif = 0;

    if (i >= DP_FLOOD_MAX || i >= c->flood->n_members) {
        return 1;
    }
    /* Clang drops a plain mask as redundant after the checks above and then
     * indexes with a register the verifier cannot bound; the asm keeps it. */
    asm volatile("%0 &= %1" : "+r"(i) : "i"(DP_FLOOD_MAX - 1));
    m = &c->flood->members[i];
    if (m->ifindex) {
        const struct fab_port_entry *dst;

        /* Locals come first, so the frame is still unencapsulated. */
        if (m->ifindex == c->in_ifindex || c->encapsulated) {
            return 0;
        }
        dst = fab_port_find(m->ifindex);
        if (c->unicast_ip && dst && (dst->port.flags & DP_PORT_FW_ANY)) {
            /* Unknown unicast would bypass the port's firewall, which
             * judges only frames addressed to it. */
            fab_drop(c->skb, dst->stats_slot, DP_DROP_FW_DENY);
            return 0;
        }
        if (!bpf_clone_redirect(c->skb, m->ifindex, 0)) {
            fab_count_tx(dst ? dst->stats_slot : FAB_SLOT_UNKNOWN,
                         c->skb->len);
            c->n_sent++;
        }
        return 0;
    }
    if (c->from_underlay) {
        return 1;
    }
    if (fab_underlay_route(c->cfg, m->vtep, 0, c->s, &oif)
        != DP_DROP_N_REASONS) {
        /* This VTEP misses the copy until the agent has resolved it. */
        fab_drop(c->skb, c->in_slot, DP_DROP_NO_NEIGH);
        return 0;
    }
    if (!c->encapsulated) {
        if (fab_encap_push(c->skb, c->info, c->cfg, c->vni, c->group, m->vtep,
                           c->s)
            != DP_DROP_N_REASONS) {
            c->failed = true;
            return 1;
        }
        c->encapsulated = true;
    } else if (fab_encap_readdress(c->skb, c->s, m->vtep, c->group)
               != DP_DROP_N_REASONS) {
        c->failed = true;
        return 1;
    }
    if (!bpf_clone_redirect(c->skb, oif, 0)) {
        fab_count_tx(FAB_SLOT_UNDERLAY, c->skb->len);
        c->n_sent++;
    }
    return 0;
}

/* Floods the frame within 'vni'.  'in_ifindex' is the device it came from
 * (never sent back there) and 'in_slot' its counters; 'from_underlay'
 * restricts the copies to local ports.  Consumes the frame and returns the
 * tc verdict. */
static __always_inline int
fab_flood(struct __sk_buff *skb, __u32 in_ifindex, __u32 in_slot,
          const struct pkt_info *info, __u32 vni, __u16 group,
          bool from_underlay)
{
    struct dp_flood_key key = {.vni = vni};
    struct fab_flood_ctx c = {};
    __u32 zero = 0;

    c.flood = bpf_map_lookup_elem(&fab_flood_lists, &key);
    if (!c.flood || !c.flood->n_members) {
        return fab_drop(skb, in_slot, DP_DROP_NO_DEST);
    }
    c.cfg = bpf_map_lookup_elem(&fab_config, &zero);
    c.s = fab_encap_scratch_get();
    if (!c.cfg || !c.s) {
        return fab_drop(skb, in_slot, DP_DROP_NOT_CONFIGURED);
    }
    c.skb = skb;
    c.info = info;
    c.in_ifindex = in_ifindex;
    c.in_slot = in_slot;
    c.vni = vni;
    c.group = group;
    c.unicast_ip = fab_is_ip(info) && !pkt_mac_is_multicast(info->dst_mac);
    c.from_underlay = from_underlay || !c.cfg->vtep_ip;
    bpf_loop(DP_FLOOD_MAX, fab_flood_member, &c, 0);
    if (c.failed) {
        return fab_drop(skb, in_slot, DP_DROP_ENCAP_FAILED);
    }
    if (!c.n_sent) {
        return fab_drop(skb, in_slot, DP_DROP_NO_DEST);
    }
    return TC_ACT_STOLEN;
}

#endif /* datapath/bpf/flood.h */
