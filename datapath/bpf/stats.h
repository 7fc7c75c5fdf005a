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

/* Reads and writes word 'i' (a constant) of skb->cb[], in assembly for the
 * reason fab_data() gives: code that touches several words makes clang
 * fold their offset into the context pointer, which the verifier refuses. */
static __always_inline __u32
fab_cb_get__(const struct __sk_buff *skb, const __u32 off)
{
    __u32 v;

    asm volatile("%0 = *(u32 *)(%1 + %2)" : "=r"(v) : "r"(skb), "i"(off));
    return v;
}

static __always_inline void
fab_cb_set__(struct __sk_buff *skb, const __u32 off, __u32 v)
{
    asm volatile("*(u32 *)(%0 + %1) = %2"
                 :
                 : "r"(skb), "i"(off), "r"(v)
                 : "memory");
}

#define FAB_CB_OFF(i) (__builtin_offsetof(struct __sk_buff, cb) + 4 * (i))
#define fab_cb_get(skb, i) fab_cb_get__(skb, FAB_CB_OFF(i))
#define fab_cb_set(skb, i, v) fab_cb_set__(skb, FAB_CB_OFF(i), v)

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
    fab_cb_set(skb, DP_TRACE_CB_DROP, reason + 1);
    return TC_ACT_SHOT;
}

#endif /* datapath/bpf/stats.h */
