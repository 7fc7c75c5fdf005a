/* Per-device counters and named drops. */
#ifndef DATAPATH_BPF_STATS_H
#define DATAPATH_BPF_STATS_H 1

#include "datapath/bpf/common.h"

/* Counters are addressed by slot (datapath/bpf/abi.h), not by ifindex. */
static __always_inline struct dp_stats *
fab_stats_of(__u32 slot)
{
    return bpf_map_lookup_elem(&fab_stats, &slot);
}

static __always_inline void
fab_count_rx(__u32 slot, __u32 bytes)
{
    struct dp_stats *s = fab_stats_of(slot);

    if (s) {
        s->rx_packets++;
        s->rx_bytes += bytes;
    }
}

static __always_inline void
fab_count_tx(__u32 slot, __u32 bytes)
{
    struct dp_stats *s = fab_stats_of(slot);

    if (s) {
        s->tx_packets++;
        s->tx_bytes += bytes;
    }
}

/* Returns true if 'skb' is a frame that dp_trace() runs through the
 * program: it must change nothing but counters, and reports in its cb[]. */
static __always_inline bool
fab_tracing(const struct __sk_buff *skb)
{
    return skb->cb[0] == DP_TRACE_MAGIC0 && skb->cb[1] == DP_TRACE_MAGIC1;
}

/* Counts a drop of the current frame against 'slot' and returns the tc
 * verdict that drops it.  Every drop in fabric goes through here.  The
 * reason also goes to the frame's cb[], which only a trace reads back. */
static __always_inline int
fab_drop(struct __sk_buff *skb, __u32 slot, enum dp_drop_reason reason)
{
    struct dp_stats *s = fab_stats_of(slot);

    if (s && reason < DP_DROP_N_REASONS) {
        s->drops[reason]++;
    }
    skb->cb[DP_TRACE_CB_DROP] = reason + 1;
    return TC_ACT_SHOT;
}

#endif /* datapath/bpf/stats.h */
