/* Per-port QoS in the fast path, built on qos/bucket.h and qos/dscp.h:
 * DSCP marking and rate limits of what a VM sends, policing of what it
 * receives.
 *
 * A port's limiters live in its fab_qos_live entry and are shared by all
 * CPUs.  Policers are charged with a compare-and-swap, on the scheduler
 * tick when their burst allows it (qos/bucket.h); the pacer is updated
 * under the entry's bpf_spin_lock, held only around the pure function of
 * qos/, which calls no helper, after the clock is read. */
#ifndef DATAPATH_BPF_QOS_H
#define DATAPATH_BPF_QOS_H 1

#include "datapath/bpf/stats.h"
#include "packet/parse.h"
#include "qos/bucket.h"
#include "qos/dscp.h"

/* Returns the QoS entry of the port whose counters are in 'slot'; only
 * meaningful for a port whose entry says 'has_qos'. */
static __always_inline struct fab_qos_entry *
fab_qos_at(__u32 slot)
{
    return bpf_map_lookup_elem(&fab_qos_live, &slot);
}

/* Sets the DSCP of the VM's IPv4 or IPv6 packet, whose L3 header follows
 * an untagged Ethernet header, as 'q' asks, and updates 'info->tos' so
 * that VXLAN encapsulation copies it to the outer header.  The IPv4
 * checksum is updated in the header; for IPv6 the packet's checksum, if
 * the kernel has a complete one, is adjusted for the changed word. */
static __always_inline void
fab_qos_mark(struct __sk_buff *skb, const struct fab_qos_entry *q,
             struct pkt_info *info)
{
    __u8 dscp = q->qos.dscp;
    struct pkt_ipv6 *ip6;
    struct pkt_cursor c;
    __be32 old, new;
    void *data, *end;

    if (dscp == DP_QOS_DSCP_KEEP) {
        return;
    }
    data = fab_data(skb);
    end = fab_data_end(skb);
    pkt_cursor_init(&c, data + sizeof(struct pkt_eth), end);
    if (info->l3_proto == PKT_ETH_P_IPV4) {
        if (!qos_dscp_set_ipv4(&c, dscp)) {
            info->tos = qos_dscp_tos(info->tos, dscp);
        }
    } else if (info->l3_proto == PKT_ETH_P_IPV6) {
        ip6 = (struct pkt_ipv6 *) c.pos;
        if ((void *) (ip6 + 1) > end) {
            return;
        }
        old = ip6->ver_tc_flow;
        if (!qos_dscp_set_ipv6(&c, dscp)) {
            info->tos = qos_dscp_tos(info->tos, dscp);
        }
        new = ip6->ver_tc_flow;
        if (new != old) {
            bpf_csum_update(
                skb, bpf_csum_diff(&old, sizeof old, &new, sizeof new, 0));
        }
    }
}

/* Polices a frame of 'len' bytes with 'bucket'.  Returns DP_DROP_N_REASONS
 * or DP_DROP_QOS_RATE. */
static __always_inline enum dp_drop_reason
fab_qos_police(struct qos_bucket *bucket, __u32 len)
{
    __u64 tick = bucket->tick;
    __u64 now =
        tick ? bpf_jiffies64() * tick : qos_police_units(bpf_ktime_get_ns());

    return qos_police_shared(bucket, now, len) == QOS_PASS ? DP_DROP_N_REASONS
                                                           : DP_DROP_QOS_RATE;
}

/* Gives the frame its departure time at the port's egress rate, for the
 * fq qdisc on the underlay device to hold it until then.  A later
 * departure time the frame already carries (the VM's TCP pacing) is kept.
 * Returns DP_DROP_N_REASONS, or DP_DROP_QOS_HORIZON if the port's backlog
 * is already FAB_QOS_HORIZON_NS long. */
static __always_inline enum dp_drop_reason
fab_qos_pace(struct __sk_buff *skb, struct fab_qos_entry *q)
{
    __u64 now = bpf_ktime_get_ns();
    __u32 len = skb->len;
    enum qos_verdict verdict;
    __u64 t = 0;

    bpf_spin_lock(&q->lock);
    verdict = qos_edt_departure(&q->egress, now, len, FAB_QOS_HORIZON_NS, &t);
    bpf_spin_unlock(&q->lock);
    if (verdict != QOS_PASS) {
        return DP_DROP_QOS_HORIZON;
    }
    if (skb->tstamp_type == BPF_SKB_TSTAMP_DELIVERY_MONO && skb->tstamp > t) {
        return DP_DROP_N_REASONS;
    }
    /* Non-IP frames (ARP) cannot carry a departure time; they are few and
     * charged anyway. */
    bpf_skb_set_tstamp(skb, t, BPF_SKB_CLOCK_MONOTONIC);
    return DP_DROP_N_REASONS;
}

/* Applies the egress policy of 'q' (NULL: none) to what its VM sends.  A
 * frame that leaves the host ('remote') is put in the port's HTB class on
 * the underlay device if the entry has one, which shapes it (and gives it
 * its guarantee and priority); otherwise it is paced, unless the entry says
 * to police.  A frame to another port on this host, where no qdisc would
 * hold it, is policed at the egress rate and burst.  Returns
 * DP_DROP_N_REASONS or the reason to drop the frame. */
static __always_inline enum dp_drop_reason
fab_qos_egress(struct __sk_buff *skb, struct fab_qos_entry *q, bool remote)
{
    if (!q) {
        return DP_DROP_N_REASONS;
    }
    if (remote && (q->qos.flags & DP_QOS_EGRESS_HTB)) {
        skb->priority = DP_QOS_HTB_HANDLE(q->qos.htb_minor);
        return DP_DROP_N_REASONS;
    }
    if (!q->qos.egress_rate) {
        return DP_DROP_N_REASONS;
    }
    if (remote && !(q->qos.flags & DP_QOS_EGRESS_POLICE)) {
        return fab_qos_pace(skb, q);
    }
    return fab_qos_police(&q->egress_police, skb->len);
}

/* Applies the ingress limit of the port whose counters are in 'slot' to a
 * frame delivered to it.  A port whose device shapes what it receives
 * (DP_QOS_INGRESS_HTB) gets the frame through that device's qdisc: sets
 * '*shaped', and clears skb->priority, which HTB would otherwise take as a
 * class to put the frame in, or as a request to skip shaping.  Otherwise
 * polices at the ingress rate and burst.  Returns DP_DROP_N_REASONS or
 * DP_DROP_QOS_RATE. */
static __always_inline enum dp_drop_reason
fab_qos_ingress(struct __sk_buff *skb, __u32 slot, bool *shaped)
{
    struct fab_qos_entry *q = fab_qos_at(slot);

    if (!q || !q->qos.ingress_rate) {
        return DP_DROP_N_REASONS;
    }
    if (q->qos.flags & DP_QOS_INGRESS_HTB) {
        *shaped = true;
        skb->priority = 0;
        return DP_DROP_N_REASONS;
    }
    return fab_qos_police(&q->ingress, skb->len);
}

#endif /* datapath/bpf/qos.h */
