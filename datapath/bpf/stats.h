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

/* Counts a drop of the current frame against 'slot' and returns the tc
 * verdict that drops it.  Every drop in fabric goes through here. */
static __always_inline int
fab_drop(__u32 slot, enum dp_drop_reason reason)
{
    struct dp_stats *s = fab_stats_of(slot);

    if (s && reason < DP_DROP_N_REASONS) {
        s->drops[reason]++;
    }
    return TC_ACT_SHOT;
}

#endif /* datapath/bpf/stats.h */
