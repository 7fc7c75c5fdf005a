/* Replication of broadcast, multicast and unknown unicast to a VNI's flood
 * list: copies to local ports first, then one encapsulated copy per remote
 * VTEP.  Frames that arrived from the underlay are only replicated to local
 * ports (split horizon), so a flood never loops between hosts.
 *
 * An IP frame meets the firewall once per copy (doc/firewall.md): each
 * local copy is judged by the sender's egress policy and the receiver's
 * ingress policy as if sent to that receiver alone, and the copies to
 * other hosts by the sender's egress policy, whose receivers' hosts judge
 * their ingress.  A denied copy is dropped as "firewall-deny" on the port
 * whose policy refused it, and logged; the others go on.  Flooded frames
 * are judged packet by packet, never by conntrack (fab_fw_trackable()). */
#ifndef DATAPATH_BPF_FLOOD_H
#define DATAPATH_BPF_FLOOD_H 1

#include "datapath/bpf/encap.h"
#include "datapath/bpf/firewall.h"
#include "datapath/bpf/index.h"
#include "datapath/bpf/punt.h"
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
    __u32 n_denied;              /* Copies the firewall dropped. */
    __u32 src_flags;             /* DP_PORT_* of a local sender. */
    __u32 src_external;          /* From the underlay: sent from behind an
                                  * external VTEP (DP_VTEP_EXTERNAL). */
    __u32 trace_fw;              /* For a trace: the decision reported */
    __u32 trace_rule;            /* (DP_TRACE_CB_FW, _RULE), and how */
    __u32 trace_rank;            /* telling it is (fab_flood_trace()). */
    __u16 group;                 /* Sender's security identity. */
    bool from_underlay;          /* Arrived by VXLAN: locals only. */
    bool from_port;              /* Sent by the local port 'in_ifindex'. */
    bool unicast_ip;             /* Unknown unicast IP: not for
                                  * firewalled ports. */
    bool tracing;                /* A trace: send nothing (fab_tracing()). */
    bool encapsulated;           /* Outer headers are on the frame. */
    bool failed;                 /* Encapsulation failed: stop. */
};

/* Returns true if the local port 'dst' owns the destination address of the
 * IP frame that 'info' describes. */
static __always_inline bool
fab_flood_is_owner(const struct dp_port *dst, const struct pkt_info *info)
{
    if (info->l3_proto == PKT_ETH_P_IPV4) {
        return dst->ip4 && dst->ip4 == info->dst4;
    }
    return !fab_ip6_is_zero(dst->ip6) && fab_ip6_equal(dst->ip6, info->dst6);
}

/* For a trace: keeps the firewall decision just reported in the frame's
 * cb[] if it tells more than the one kept so far.  A flood meets the
 * firewall once per copy, and a trace reports one decision: that for the
 * port that owns the destination address ('owner'), which a trace of that
 * address asks about, else the first deny, else the first allow. */
static __always_inline void
fab_flood_trace(struct fab_flood_ctx *c, bool owner)
{
    __u32 fw = fab_cb_get(c->skb, DP_TRACE_CB_FW);
    __u32 rank;

    if (fw >> 24 != DP_TRACE_FW_RAN) {
        return;
    }
    rank = owner ? 3 : (fw & 0xff) == POLICY_DENY ? 2 : 1;
    if (rank > c->trace_rank) {
        c->trace_rank = rank;
        c->trace_fw = fw;
        c->trace_rule = fab_cb_get(c->skb, DP_TRACE_CB_RULE);
    }
}

/* Runs the firewall on the copy of the flood in 'c' for the local port
 * 'dst' on 'dst_ifindex', or, if 'dst' is NULL, on the copies for other
 * hosts.  Returns true if it dropped the copy (counted and logged). */
static __always_inline bool
fab_flood_denied(struct fab_flood_ctx *c, const struct fab_port_entry *dst,
                 __u32 dst_ifindex)
{
    /* The arguments go in the per-CPU scratch, whose own copy the flood
     * stage has read into 'c': on the stack they would take the stage past
     * the verifier's budget. */
    struct fab_pkt_scratch *tmp = fab_pkt_scratch_get();
    struct fab_fw_args *a;
    int rc;

    if (!fab_fw_wanted(c->src_flags)
        && !(dst && fab_fw_wanted(dst->port.flags))) {
        return false;
    }
    if (!tmp) {
        fab_drop(c->skb, c->in_slot, DP_DROP_INTERNAL);
        c->n_denied++;
        return true;
    }
    a = &tmp->fw;
    __builtin_memset(a, 0, sizeof *a);
    a->vni = c->vni;
    a->src_slot = c->in_slot;
    a->src_identity = c->group;
    if (c->from_port) {
        a->src_ifindex = c->in_ifindex;
        a->src_flags = c->src_flags;
    }
    a->src_external = c->src_external;
    if (dst) {
        a->dst_ifindex = dst_ifindex;
        a->dst_slot = dst->stats_slot;
        a->dst_flags = dst->port.flags;
        a->dst_identity = dst->port.identity;
    }
    if (c->tracing) {
        fab_cb_set(c->skb, DP_TRACE_CB_FW, 0);
    }
    rc = fab_fw_stateless(c->skb, c->info, a);
    if (c->tracing) {
        fab_flood_trace(c, dst && fab_flood_is_owner(&dst->port, c->info));
    }
    if (rc) {
        c->n_denied++;
        return true;
    }
    return false;
}

/* Sends the frame in 'c', as it is now, to device 'ifindex', and counts it
 * on slot 'slot'; a trace only counts the copy. */
static __always_inline void
fab_flood_send(struct fab_flood_ctx *c, __u32 ifindex, __u32 slot)
{
    if (c->tracing) {
        c->n_sent++;
        return;
    }
    if (!bpf_clone_redirect(c->skb, ifindex, 0)) {
        fab_count_tx(slot, c->skb->len);
        c->n_sent++;
    }
}

/* Sends the flood in 'c' to its 'i'th member, through the firewall if
 * 'firewall' (a constant: see fab_flood()).  Returns 1 to end the loop. */
static __always_inline long
fab_flood_member__(__u32 i, struct fab_flood_ctx *c, bool firewall)
{
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
        if (dst && fab_port_standby(dst)) {
            /* Its VM does not run here yet: copies would only fill the
             * tap's queue ahead of the frames meant for it. */
            return 0;
        }
        if (c->unicast_ip && dst && (dst->port.flags & DP_PORT_FW_ANY)) {
            /* Unknown unicast would bypass the port's firewall, which
             * judges only frames addressed to it. */
            fab_drop(c->skb, dst->stats_slot, DP_DROP_FW_DENY);
            c->n_denied++;
            return 0;
        }
        if (firewall && fab_flood_denied(c, dst, m->ifindex)) {
            return 0;
        }
        fab_flood_send(c, m->ifindex,
                       dst ? dst->stats_slot : FAB_SLOT_UNKNOWN);
        return 0;
    }
    if (c->from_underlay) {
        return 1;
    }
    if (!c->encapsulated && firewall && fab_flood_denied(c, NULL, 0)) {
        /* The sender may not send this to other hosts: no remote copy. */
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
    fab_flood_send(c, oif, FAB_SLOT_UNDERLAY);
    return 0;
}

/* The bpf_loop() callbacks: one for frames that are not IP, and one that
 * runs the firewall on each copy of an IP frame, whose deeper stack only
 * the flood stages can afford. */
static long
fab_flood_member(__u32 i, void *c)
{
    return fab_flood_member__(i, c, false);
}

static long
fab_flood_member_fw(__u32 i, void *c)
{
    return fab_flood_member__(i, c, true);
}

/* Floods the frame within 'vni'.  'in_ifindex' is the device it came from
 * (never sent back there) and 'in_slot' its counters; 'from_underlay'
 * says it came by VXLAN, with group identity 'group', and restricts the
 * copies to local ports; otherwise the local port that sent it has the
 * DP_PORT_* flags 'src_flags' and identity 'group'.  'src_external' says
 * that a frame from the underlay came from behind an external VTEP, whose
 * senders the firewall knows by address alone.  'firewall' (a
 * constant) runs each copy of an IP frame through the firewall: the
 * programs flood IP only from their flood stages, which have the stack for
 * it.  Consumes the frame and returns the tc verdict: stolen if any copy
 * went, else a drop, which the firewall has counted if it refused every
 * copy. */
static __always_inline int
fab_flood(struct __sk_buff *skb, __u32 in_ifindex, __u32 in_slot,
          const struct pkt_info *info, __u32 vni, __u16 group, __u32 src_flags,
          bool src_external, bool from_underlay, bool firewall)
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
    c.tracing = fab_tracing(skb);
    c.from_port = !from_underlay;
    c.src_flags = from_underlay ? 0 : src_flags;
    c.src_external = from_underlay && src_external;
    c.from_underlay = from_underlay || !c.cfg->vtep_ip;
    if (firewall) {
        bpf_loop(DP_FLOOD_MAX, fab_flood_member_fw, &c, 0);
    } else {
        bpf_loop(DP_FLOOD_MAX, fab_flood_member, &c, 0);
    }
    if (c.tracing && c.trace_rank) {
        fab_cb_set(skb, DP_TRACE_CB_FW, c.trace_fw);
        fab_cb_set(skb, DP_TRACE_CB_RULE, c.trace_rule);
        fab_cb_set(skb, DP_TRACE_CB_DROP,
                   (c.trace_fw & 0xff) == POLICY_DENY ? DP_DROP_FW_DENY + 1
                                                      : 0);
    }
    if (c.failed) {
        return fab_drop(skb, in_slot, DP_DROP_ENCAP_FAILED);
    }
    if (!c.n_sent) {
        return c.n_denied ? TC_ACT_SHOT
                          : fab_drop(skb, in_slot, DP_DROP_NO_DEST);
    }
    return TC_ACT_STOLEN;
}

#endif /* datapath/bpf/flood.h */
