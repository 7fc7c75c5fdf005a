/* Per-port rate limiting for the fast path: a policer (drop what exceeds
 * rate and burst) for traffic towards a VM, and earliest-departure-time
 * (EDT) pacing for traffic from a VM.
 *
 * Both keep their state as a time rather than a count of bytes.  A byte at
 * rate R costs 8e9 / R nanoseconds; a policer remembers the "theoretical
 * arrival time" (TAT) at which its bucket would be full again, and a pacer
 * remembers the time at which its next packet may leave.  Refilling a
 * bucket is then just the passing of time: no multiplication by the idle
 * period, and nothing to overflow however long a port stays idle.
 *
 * Fixed point.  The cost of a byte is held in 32.32 fixed point
 * ("ns_per_byte": nanoseconds times 2^32) and times in 64.32 fixed point
 * (struct qos_time).  The cost of a packet, len * ns_per_byte, is computed
 * exactly in two 32 x 32 -> 64-bit products (the BPF target has no 128-bit
 * arithmetic), and the fraction of a nanosecond is carried from packet to
 * packet instead of being dropped.  Therefore the only error is the
 * rounding of ns_per_byte itself, at most 2^-33 ns per byte: a relative
 * rate error of at most R / (8e9 * 2^33), that is 1.5e-13 at 10 Mbit/s,
 * 1.5e-9 at 100 Gbit/s and 1.5e-7 at QOS_RATE_MAX.  Departure times are
 * reported in whole nanoseconds, rounded down, so a single packet may leave
 * up to 1 ns early, but the error never accumulates.  Keeping the fraction
 * matters: at 100 Gbit/s a 64-byte frame costs 5.12 ns, and rounding each
 * packet's cost to whole nanoseconds would make the rate wrong by 2%.
 *
 * Ranges.  Rates are QOS_RATE_MIN..QOS_RATE_MAX bits per second, so the
 * whole part of ns_per_byte is below 2^30; with a 32-bit length or burst,
 * every product stays below 2^62 and sums of a clock value below 2^62 ns
 * (146 years of uptime) and such a product stay below 2^64.
 *
 * Concurrency.  A VM's packets are processed on many CPUs at once (several
 * queues, RPS, softirqs on whichever CPU the vCPU thread ran), and a single
 * flow may sit on one CPU.  Per-CPU state with the rate split between CPUs
 * would therefore give a one-flow VM only rate / ncpus, so the state is
 * per port and shared.  Both functions are read-modify-write of a 96-bit
 * time, which no single atomic instruction covers, and an unsynchronized
 * update lets two CPUs take the same departure slot, exceeding the rate by
 * up to a factor of the number of CPUs in the worst case.  A backend must
 * therefore serialize the calls per port: the eBPF backend keeps the
 * struct next to a struct bpf_spin_lock in one map value and holds the
 * lock just around the call (the functions call no helper and are inlined,
 * as the verifier requires under a lock); it reads bpf_ktime_get_ns()
 * before taking the lock.  A DPDK backend takes an rte_spinlock, or needs
 * none when one lcore owns the port.  A clock value a little older than
 * the state (read on another CPU just before) is harmless: the state never
 * moves backwards.
 *
 * Reconfiguration.  qos_bucket_init() and qos_edt_init() reset the state:
 * a policer starts with a full bucket and a pacer with no backlog.  An agent
 * that rewrites a port's settings therefore grants at most one extra
 * burst. */
#ifndef QOS_BUCKET_H
#define QOS_BUCKET_H 1

#include "packet/types.h"

#define QOS_RATE_MIN 8ULL              /* Bits/s: one byte per second. */
#define QOS_RATE_MAX 10000000000000ULL /* Bits/s: 10 Tbit/s. */
#define QOS_NS_PER_S 1000000000ULL

/* What the fast path does with a packet. */
enum qos_verdict {
    QOS_PASS = 0,         /* Conforms: forward it. */
    QOS_DROP_RATE = 1,    /* Exceeds rate and burst: the policer drops. */
    QOS_DROP_HORIZON = 2, /* Would leave later than the horizon: drop. */
};

/* A time in nanoseconds, 'ns' + 'frac' / 2^32. */
struct qos_time {
    __u64 ns;   /* Whole nanoseconds. */
    __u32 frac; /* Fraction of a nanosecond, in units of 2^-32 ns. */
    __u32 pad;  /* Zero; makes the layout explicit for maps. */
};

/* A policer: passes a packet when the bytes sent so far, less what the rate
 * has drained since, stay within the burst. */
struct qos_bucket {
    __u64 ns_per_byte;     /* Cost of a byte, 32.32 fixed point. */
    struct qos_time burst; /* Cost of the whole burst. */
    struct qos_time tat;   /* When the bucket is full again. */
};

/* A pacer: spaces packets out at the rate by giving each a departure
 * time for the fq qdisc. */
struct qos_edt {
    __u64 ns_per_byte;    /* Cost of a byte, 32.32 fixed point. */
    struct qos_time next; /* Earliest departure of the next packet. */
};

/* Whether 'rate' bits per second is within what the fixed point covers. */
PKT_INLINE bool
qos_rate_is_valid(__u64 rate)
{
    return rate >= QOS_RATE_MIN && rate <= QOS_RATE_MAX;
}

/* Returns the time one byte takes at 'rate' bits per second, in
 * nanoseconds as 32.32 fixed point, rounded to nearest.  'rate' must be
 * valid.  The fraction is divided out 16 bits at a time so that no
 * intermediate value needs more than 64 bits: the remainder stays below
 * 'rate' < 2^44. */
PKT_INLINE __u64
qos_ns_per_byte(__u64 rate)
{
    const __u64 num = 8 * QOS_NS_PER_S;
    __u64 whole = num / rate;
    __u64 rem = num % rate;
    __u64 hi, lo;

    rem <<= 16;
    hi = rem / rate;
    rem = (rem % rate) << 16;
    lo = (rem + rate / 2) / rate;
    return (whole << 32) + (hi << 16) + lo;
}

/* Stores in '*t' the exact time 'bytes' take at 'ns_per_byte'. */
PKT_INLINE void
qos_time_of_bytes(struct qos_time *t, __u64 ns_per_byte, __u32 bytes)
{
    __u64 low = (ns_per_byte & 0xffffffffULL) * bytes;

    t->ns = (ns_per_byte >> 32) * bytes + (low >> 32);
    t->frac = (__u32) low;
    t->pad = 0;
}

/* Adds 'b' to '*a'. */
PKT_INLINE void
qos_time_add(struct qos_time *a, const struct qos_time *b)
{
    __u64 frac = (__u64) a->frac + b->frac;

    a->ns += b->ns + (frac >> 32);
    a->frac = (__u32) frac;
}

/* Whether 'a' is later than 'b'. */
PKT_INLINE bool
qos_time_after(const struct qos_time *a, const struct qos_time *b)
{
    return a->ns > b->ns || (a->ns == b->ns && a->frac > b->frac);
}

/* Sets '*t' to the later of itself and 'now_ns'. */
PKT_INLINE void
qos_time_catch_up(struct qos_time *t, __u64 now_ns)
{
    if (t->ns < now_ns) {
        t->ns = now_ns;
        t->frac = 0;
    }
}

/* Initializes 'b' to police at 'rate' bits per second with bursts of
 * 'burst' bytes, starting full.  Returns false, leaving 'b' alone, if
 * 'rate' is out of range or 'burst' is 0.  A packet longer than 'burst'
 * never passes, so 'burst' must cover the largest packet the port sees,
 * GSO packets included (64 KiB). */
PKT_INLINE bool
qos_bucket_init(struct qos_bucket *b, __u64 rate, __u32 burst)
{
    if (!qos_rate_is_valid(rate) || burst == 0) {
        return false;
    }
    b->ns_per_byte = qos_ns_per_byte(rate);
    qos_time_of_bytes(&b->burst, b->ns_per_byte, burst);
    b->tat.ns = 0;
    b->tat.frac = 0;
    b->tat.pad = 0;
    return true;
}

/* Decides whether a packet of 'len' bytes seen at 'now_ns' conforms to
 * 'b', and if so charges it.  Tokens refill with time up to the burst:
 * after any idle period, at most the burst passes at once. */
PKT_INLINE enum qos_verdict
qos_police(struct qos_bucket *b, __u64 now_ns, __u32 len)
{
    struct qos_time tat = b->tat;
    struct qos_time limit = {.ns = now_ns};
    struct qos_time cost;

    qos_time_catch_up(&tat, now_ns);
    qos_time_of_bytes(&cost, b->ns_per_byte, len);
    qos_time_add(&tat, &cost);
    qos_time_add(&limit, &b->burst);
    if (qos_time_after(&tat, &limit)) {
        return QOS_DROP_RATE;
    }
    b->tat = tat;
    return QOS_PASS;
}

/* Initializes 'e' to pace at 'rate' bits per second with no backlog.
 * Returns false, leaving 'e' alone, if 'rate' is out of range. */
PKT_INLINE bool
qos_edt_init(struct qos_edt *e, __u64 rate)
{
    if (!qos_rate_is_valid(rate)) {
        return false;
    }
    e->ns_per_byte = qos_ns_per_byte(rate);
    e->next.ns = 0;
    e->next.frac = 0;
    e->next.pad = 0;
    return true;
}

/* Computes when a packet of 'len' bytes seen at 'now_ns' may leave, so
 * that the packets of 'e' leave at its rate, and stores it in '*tstamp':
 * 'now_ns' after an idle period, otherwise when the previous packet has
 * had its time.  Returns QOS_PASS and charges the packet, or
 * QOS_DROP_HORIZON, charging nothing, if it would leave more than
 * 'horizon_ns' after 'now_ns': this bounds the queue the pacing qdisc
 * holds for the port to 'horizon_ns' worth of traffic.
 *
 * The backend stores '*tstamp' as the packet's delivery time on the
 * CLOCK_MONOTONIC base that bpf_ktime_get_ns() reads (the eBPF backend
 * calls bpf_skb_set_tstamp() with BPF_SKB_CLOCK_MONOTONIC), and the fq
 * qdisc on the egress device holds the packet until then.  If the packet
 * already carries a later departure time (TCP's own pacing), the later of
 * the two wins.  fq's own horizon and per-flow limit must be at least as
 * generous as 'horizon_ns', or fq drops first. */
PKT_INLINE enum qos_verdict
qos_edt_departure(struct qos_edt *e, __u64 now_ns, __u32 len, __u64 horizon_ns,
                  __u64 *tstamp)
{
    struct qos_time next = e->next;
    struct qos_time cost;

    qos_time_catch_up(&next, now_ns);
    if (next.ns - now_ns > horizon_ns) {
        return QOS_DROP_HORIZON;
    }
    *tstamp = next.ns;
    qos_time_of_bytes(&cost, e->ns_per_byte, len);
    qos_time_add(&next, &cost);
    e->next = next;
    return QOS_PASS;
}

#endif /* qos/bucket.h */
