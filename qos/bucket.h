/* Per-port rate limiting for the fast path: a policer (drop what exceeds
 * rate and burst) for traffic towards a VM and between VMs of one host, and
 * earliest-departure-time (EDT) pacing for traffic from a VM.
 *
 * Both keep their state as a time rather than a count of bytes.  A byte at
 * rate R costs 8e9 / R nanoseconds; a policer remembers the "theoretical
 * arrival time" (TAT) at which its bucket would be full again, and a pacer
 * remembers the time at which its next packet may leave.  Refilling a
 * bucket is then just the passing of time: no multiplication by the idle
 * period, and nothing to overflow however long a port stays idle.
 *
 * Byte times.  The cost of a byte is held in 32.32 fixed point
 * ("ns_per_byte": nanoseconds times 2^32), the rounding of which is the
 * rate's only systematic error: at most 2^-33 ns per byte, a relative error
 * of R / (8e9 * 2^33), that is 1.5e-13 at 10 Mbit/s and 1.5e-9 at
 * 100 Gbit/s.  Products are taken as two 32 x 32 -> 64-bit halves (the BPF
 * target has no 128-bit arithmetic).  Rates are QOS_RATE_MIN..QOS_RATE_MAX
 * bits per second, so the whole part of ns_per_byte is below 2^30.
 *
 * The pacer keeps its next departure in 64.32 fixed point (struct
 * qos_time) and carries the fraction of a nanosecond from packet to
 * packet, so its rate is exact; departures are reported in whole
 * nanoseconds, rounded down, a single packet leaving up to 1 ns early.
 * With a 32-bit length, a packet's cost stays below 2^62 ns, and so does a
 * clock value for 146 years of uptime, so their sum never overflows.
 *
 * The policer keeps its TAT in one 64-bit word, in units of
 * 2^-QOS_POLICE_SHIFT ns, so that CPUs can update it with a single
 * compare-and-swap instead of a lock (see Concurrency).  Each packet's
 * cost is rounded up to a whole unit, 1/32 ns: the policer never passes
 * more than the rate, and passes less by at most that per packet, 0.6% of
 * a 64-byte frame at 100 Gbit/s and 0.002% of a 1500-byte frame at
 * 10 Gbit/s.  Times are compared modulo 2^64 (2^59 ns, 18 years), so the
 * clock's origin does not matter; a TAT that is not ahead of now by a
 * possible amount, QOS_POLICE_BURST_MAX at most, stands for a full bucket,
 * and so does 0, which a bucket never stores otherwise.
 *
 * Clocks.  A policer does not need nanoseconds: its burst already allows
 * for packets arriving together.  Reading a fine clock costs the eBPF fast
 * path about 37 ns a packet, reading the scheduler tick (jiffies) 5 ns, so
 * a bucket whose burst lasts at least QOS_TICK_MIN_BURST ticks at its rate
 * runs on the tick (qos_bucket_set_tick()) and the others on the fine
 * clock.  On the tick, time advances in steps of a tick: over any interval
 * the policer passes at most what it would on a fine clock over the
 * interval plus one tick, that is a burst at most 1/QOS_TICK_MIN_BURST
 * larger, and the long-term rate is unchanged.  The pacer needs the fine
 * clock: its times are departure times.
 *
 * Concurrency.  A VM's packets are processed on many CPUs at once (several
 * queues, RPS, softirqs on whichever CPU the vCPU thread ran), and a single
 * flow may sit on one CPU.  Per-CPU state with the rate split between CPUs
 * would therefore give a one-flow VM only rate / ncpus, so the state is
 * per port and shared.  qos_police_shared() charges a packet with a
 * compare-and-swap of the TAT, retried while other CPUs win the race; an
 * unsynchronized update would let two CPUs take the same tokens.  The
 * pacer's state is wider than a word, so a backend serializes its calls
 * per port: the eBPF backend holds a struct bpf_spin_lock of the map value
 * just around qos_edt_departure() (which calls no helper and is inlined, as
 * the verifier requires under a lock); a DPDK backend takes an
 * rte_spinlock, or needs none when one lcore owns the port.  A clock value
 * a little older than the state (read on another CPU just before) is
 * harmless: the state never moves backwards.
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

/* Policer time: units of 2^-QOS_POLICE_SHIFT ns. */
#define QOS_POLICE_SHIFT 5

/* The longest burst a policer holds, in its units: 2^56 ns, 2.3 years.  A
 * TAT further ahead of now than this is impossible. */
#define QOS_POLICE_BURST_MAX (1ULL << 61)

/* A policer runs on the scheduler tick only if its burst lasts at least
 * this many ticks at its rate. */
#define QOS_TICK_MIN_BURST 8

/* A policer: passes a packet when the bytes sent so far, less what the rate
 * has drained since, stay within the burst.  Times are in units of
 * 2^-QOS_POLICE_SHIFT ns on the bucket's clock. */
struct qos_bucket {
    __u64 ns_per_byte; /* Cost of a byte, 32.32 fixed point. */
    __u64 burst;       /* Time the whole burst takes, in units. */
    __u64 tick;        /* 0: the fine clock; otherwise the bucket runs on
                        * the scheduler tick, and this is a tick in
                        * units. */
    __u64 tat;         /* When the bucket is full again, in units, modulo
                        * 2^64; 0: full. */
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

/* Sets '*t' to the later of itself and 'now_ns'. */
PKT_INLINE void
qos_time_catch_up(struct qos_time *t, __u64 now_ns)
{
    if (t->ns < now_ns) {
        t->ns = now_ns;
        t->frac = 0;
    }
}

/* Returns 'ns' nanoseconds in policer units. */
PKT_INLINE __u64
qos_police_units(__u64 ns)
{
    return ns << QOS_POLICE_SHIFT;
}

/* Returns the time 'bytes' take at 'ns_per_byte' in policer units, rounded
 * up if 'round_up' and down otherwise, or more than QOS_POLICE_BURST_MAX if
 * it is longer than that. */
PKT_INLINE __u64
qos_police_time_of_bytes(__u64 ns_per_byte, __u32 bytes, bool round_up)
{
    const __u64 frac_bits = 32 - QOS_POLICE_SHIFT;
    __u64 whole = (ns_per_byte >> 32) * bytes;
    __u64 low = (ns_per_byte & 0xffffffffULL) * bytes;
    __u64 units;

    if (whole >= QOS_POLICE_BURST_MAX >> QOS_POLICE_SHIFT) {
        return QOS_POLICE_BURST_MAX + 1;
    }
    units = (whole << QOS_POLICE_SHIFT) + (low >> frac_bits);
    if (round_up && (low & ((1ULL << frac_bits) - 1))) {
        units++;
    }
    return units;
}

/* Initializes 'b' to police at 'rate' bits per second with bursts of
 * 'burst' bytes, on the fine clock, starting full.  Returns false, leaving
 * 'b' alone, if 'rate' is out of range or 'burst' is 0.  A packet longer
 * than 'burst' never passes, so 'burst' must cover the largest packet the
 * port sees, GSO packets included (64 KiB).  The burst's time is rounded
 * down and capped at QOS_POLICE_BURST_MAX. */
PKT_INLINE bool
qos_bucket_init(struct qos_bucket *b, __u64 rate, __u32 burst)
{
    __u64 burst_units;

    if (!qos_rate_is_valid(rate) || burst == 0) {
        return false;
    }
    b->ns_per_byte = qos_ns_per_byte(rate);
    burst_units = qos_police_time_of_bytes(b->ns_per_byte, burst, false);
    b->burst = burst_units < QOS_POLICE_BURST_MAX ? burst_units
                                                  : QOS_POLICE_BURST_MAX;
    b->tick = 0;
    b->tat = 0;
    return true;
}

/* Puts 'b' on a clock that advances by 'tick_ns' at a time (0: no such
 * clock) if its burst lasts QOS_TICK_MIN_BURST ticks, and on the fine clock
 * otherwise.  Returns true if the clock changed, in which case the bucket
 * starts full: its TAT was a time on the other clock. */
PKT_INLINE bool
qos_bucket_set_tick(struct qos_bucket *b, __u64 tick_ns)
{
    __u64 tick = 0;

    if (tick_ns && tick_ns < QOS_NS_PER_S
        && b->burst / QOS_TICK_MIN_BURST >= qos_police_units(tick_ns)) {
        tick = qos_police_units(tick_ns);
    }
    if (tick == b->tick) {
        return false;
    }
    b->tick = tick;
    b->tat = 0;
    return true;
}

/* Charges a packet that costs 'cost' units, seen at 'now', to a bucket of
 * 'b''s settings whose TAT is 'tat'.  Returns true and stores the new TAT
 * in '*next' if the packet conforms, false if it exceeds rate and burst. */
PKT_INLINE bool
qos_police_charge(const struct qos_bucket *b, __u64 tat, __u64 now, __u64 cost,
                  __u64 *next)
{
    /* Modulo 2^64, a TAT behind now is far "ahead" of it. */
    if (!tat || tat - now > QOS_POLICE_BURST_MAX) {
        tat = now;
    }
    tat += cost;
    if (tat - now > b->burst) {
        return false;
    }
    *next = tat ? tat : 1;
    return true;
}

/* Decides whether a packet of 'len' bytes seen at 'now' (policer units on
 * the bucket's clock) conforms to 'b', and if so charges it.  Tokens refill
 * with time up to the burst: after any idle period, at most the burst
 * passes at once.  For a bucket that one thread owns; see
 * qos_police_shared() for one that CPUs share. */
PKT_INLINE enum qos_verdict
qos_police(struct qos_bucket *b, __u64 now, __u32 len)
{
    __u64 next;

    if (!qos_police_charge(b, b->tat, now,
                           qos_police_time_of_bytes(b->ns_per_byte, len, true),
                           &next)) {
        return QOS_DROP_RATE;
    }
    b->tat = next;
    return QOS_PASS;
}

/* How often qos_police_shared() tries to charge a packet while other CPUs
 * change the TAT under it.  Each failure is another CPU's success, so only
 * a bucket charged by several CPUs at once runs out of tries; its packet is
 * then dropped, never passed uncharged. */
#define QOS_POLICE_TRIES 4

/* Like qos_police(), for a bucket that CPUs share: the TAT is updated with
 * a compare-and-swap.  The settings may change at any time; a packet is
 * then judged by either the old or the new ones. */
PKT_INLINE enum qos_verdict
qos_police_shared(struct qos_bucket *b, __u64 now, __u32 len)
{
    __u64 cost = qos_police_time_of_bytes(b->ns_per_byte, len, true);
    __u64 tat = *(volatile __u64 *) &b->tat;
    __u64 next, seen;
    int i;

    for (i = 0; i < QOS_POLICE_TRIES; i++) {
        if (!qos_police_charge(b, tat, now, cost, &next)) {
            return QOS_DROP_RATE;
        }
        seen = __sync_val_compare_and_swap(&b->tat, tat, next);
        if (seen == tat) {
            return QOS_PASS;
        }
        tat = seen;
    }
    return QOS_DROP_RATE;
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
