/* Unit tests for qos/bucket.h: the policer and the EDT pacer, driven by a
 * simulated clock.
 *
 * The story: a port policed at 10 Mbit/s .. 100 Gbit/s and offered twice
 * its rate for one second passes its rate (plus the one burst it starts
 * with) to within 0.5%, with full-size and with minimum-size frames, on
 * the fine clock and on a 4 ms tick.  A full bucket passes its burst at
 * once, exactly where a byte's time is a whole number of policer units and
 * short by at most a unit per packet otherwise, never more; an idle one
 * never fills beyond it.  Time may wrap around 2^64 units.  Four threads
 * charging one shared bucket at once pass exactly its burst.  A pacer
 * spaces departures exactly at the rate and drops what would leave beyond
 * its horizon.  Expected values are computed here from
 * the rate with 128-bit or floating-point arithmetic, independently of the
 * header's fixed point. */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <pthread.h>
#include <cmocka.h>

#include "qos/bucket.h"

#define MBIT 1000000ULL
#define GBIT 1000000000ULL

/* Whether 'got' is within 'tolerance' (a fraction) of 'want'. */
#define WITHIN(got, want, tolerance)                                          \
    ((got) >= (want) * (1 - (tolerance))                                      \
     && (got) <= (want) * (1 + (tolerance)))

#define MTU_FRAME 1514 /* A full-size Ethernet frame. */
#define MIN_FRAME 64   /* A minimum-size Ethernet frame. */

/* Arrival times of packets of 'len' bytes offered back to back at 'rate'
 * bits per second: the exact times, rounded down to whole nanoseconds,
 * with the remainder carried so that no error accumulates. */
struct arrivals {
    uint64_t now;  /* Current arrival time, ns. */
    uint64_t step; /* Whole ns between arrivals. */
    uint64_t num;  /* Remainder numerator per step, in 1/'den' ns. */
    uint64_t den;  /* Denominator: the offered rate. */
    uint64_t rem;  /* Accumulated remainder, below 'den'. */
};

static void
arrivals_init(struct arrivals *a, uint64_t rate, uint32_t len)
{
    uint64_t ns_times_rate = (uint64_t) len * 8 * QOS_NS_PER_S;

    a->now = 0;
    a->step = ns_times_rate / rate;
    a->num = ns_times_rate % rate;
    a->den = rate;
    a->rem = 0;
}

static void
arrivals_next(struct arrivals *a)
{
    a->now += a->step;
    a->rem += a->num;
    if (a->rem >= a->den) {
        a->rem -= a->den;
        a->now++;
    }
}

static void
test_ns_per_byte(void **state)
{
    static const uint64_t rates[] = {
        8,         10 * MBIT, 100 * MBIT, 3 * GBIT,     GBIT,
        10 * GBIT, 40 * GBIT, 100 * GBIT, QOS_RATE_MAX,
    };
    size_t i;

    (void) state;

    /* Rates whose byte time is a whole number of ns are exact. */
    assert_int_equal(qos_ns_per_byte(GBIT), 8ULL << 32);
    assert_int_equal(qos_ns_per_byte(8), QOS_NS_PER_S << 32);

    /* The others are within half a unit of the last place. */
    for (i = 0; i < sizeof rates / sizeof rates[0]; i++) {
        unsigned __int128 want = ((unsigned __int128) 8 * QOS_NS_PER_S << 32);
        unsigned __int128 got = qos_ns_per_byte(rates[i]);
        unsigned __int128 lo = got * rates[i];

        /* |got - want / rate| <= 1/2  <=>  |got * rate - want| <= rate/2. */
        if (lo > want) {
            assert_true(lo - want <= rates[i] / 2);
        } else {
            assert_true(want - lo <= rates[i] / 2);
        }
    }
}

static void
test_init_rejects(void **state)
{
    struct qos_bucket b = {.ns_per_byte = 42};
    struct qos_edt e = {.ns_per_byte = 42};

    (void) state;

    assert_false(qos_bucket_init(&b, 0, 1500));
    assert_false(qos_bucket_init(&b, QOS_RATE_MIN - 1, 1500));
    assert_false(qos_bucket_init(&b, QOS_RATE_MAX + 1, 1500));
    assert_false(qos_bucket_init(&b, GBIT, 0));
    assert_int_equal(b.ns_per_byte, 42);
    assert_false(qos_edt_init(&e, 0));
    assert_false(qos_edt_init(&e, QOS_RATE_MAX + 1));
    assert_int_equal(e.ns_per_byte, 42);

    assert_true(qos_bucket_init(&b, QOS_RATE_MIN, 1));
    assert_true(qos_bucket_init(&b, QOS_RATE_MAX, UINT32_MAX));
    assert_true(qos_edt_init(&e, QOS_RATE_MAX));
}

/* Offers 'len'-byte packets at twice 'rate' for one second to a policer of
 * 'rate' with a burst of 'burst' bytes, on a clock that advances by
 * 'tick_ns' at a time (0: every nanosecond) and starts at 'origin' units,
 * and checks that it passes 'rate' for that second, plus the burst it
 * starts with and, on a tick, at most one tick's worth more, to within
 * 0.5%. */
static void
check_police_rate_on(uint64_t rate, uint32_t len, uint32_t burst,
                     uint64_t tick_ns, uint64_t origin)
{
    struct qos_bucket b = {0};
    struct arrivals a;
    uint64_t passed = 0, dropped = 0;
    double want, got, slack;

    assert_true(qos_bucket_init(&b, rate, burst));
    if (tick_ns) {
        assert_true(qos_bucket_set_tick(&b, tick_ns));
        assert_int_equal(b.tick, qos_police_units(tick_ns));
    }
    for (arrivals_init(&a, 2 * rate, len); a.now < QOS_NS_PER_S;
         arrivals_next(&a)) {
        uint64_t ns = tick_ns ? a.now / tick_ns * tick_ns : a.now;

        if (qos_police(&b, origin + qos_police_units(ns), len) == QOS_PASS) {
            passed += len;
        } else {
            dropped += len;
        }
    }
    want = (double) rate / 8;
    got = (double) (passed - burst);
    slack = (double) rate / 8 * tick_ns / QOS_NS_PER_S;
    if (got < want * (1 - 0.005) || got > (want + slack) * (1 + 0.005)) {
        fail_msg("%llu bit/s, %u-byte packets, %llu ns tick: passed %llu "
                 "bytes, want %.0f (+ %.0f) +- 0.5%% plus the %u-byte burst",
                 (unsigned long long) rate, len, (unsigned long long) tick_ns,
                 (unsigned long long) passed, want, slack, burst);
    }
    /* Twice the rate was offered, so about half was dropped. */
    assert_true(dropped > passed / 2);
}

/* The same with a burst of 64 KiB on the fine clock, from time 0. */
static void
check_police_rate(uint64_t rate, uint32_t len)
{
    check_police_rate_on(rate, len, 65536, 0, 0);
}

static void
test_police_10mbit(void **state)
{
    (void) state;
    check_police_rate(10 * MBIT, MTU_FRAME);
    check_police_rate(10 * MBIT, MIN_FRAME);
}

static void
test_police_100mbit(void **state)
{
    (void) state;
    check_police_rate(100 * MBIT, MTU_FRAME);
    check_police_rate(100 * MBIT, MIN_FRAME);
}

static void
test_police_1gbit(void **state)
{
    (void) state;
    check_police_rate(GBIT, MTU_FRAME);
    check_police_rate(GBIT, MIN_FRAME);
}

static void
test_police_100gbit(void **state)
{
    (void) state;
    check_police_rate(100 * GBIT, MTU_FRAME);
    check_police_rate(100 * GBIT, MIN_FRAME);
}

/* A full bucket passes exactly its burst at one instant where a byte's time
 * is a whole number of policer units (10 Mbit/s: 800 ns, 1 Gbit/s: 8 ns,
 * 16 Gbit/s: 0.5 ns): burst / len packets of 'len' bytes, then a last one
 * that fills it to the byte. */
static void
test_police_burst_exact(void **state)
{
    static const uint64_t rates[] = {10 * MBIT, GBIT, 16 * GBIT};
    const uint32_t burst = 10000;
    size_t i;

    (void) state;

    for (i = 0; i < sizeof rates / sizeof rates[0]; i++) {
        struct qos_bucket b = {0};
        uint32_t sent = 0;
        int n;

        assert_true(qos_bucket_init(&b, rates[i], burst));
        for (n = 0; n < 6; n++) {
            assert_int_equal(qos_police(&b, 0, 1514), QOS_PASS);
            sent += 1514;
        }
        /* 916 bytes are left: 917 do not fit, 916 do, then not one. */
        assert_int_equal(qos_police(&b, 0, burst - sent + 1), QOS_DROP_RATE);
        assert_int_equal(qos_police(&b, 0, burst - sent), QOS_PASS);
        assert_int_equal(qos_police(&b, 0, 1), QOS_DROP_RATE);
    }

    /* Byte by byte: exactly 'burst' one-byte packets. */
    {
        struct qos_bucket b = {0};
        uint32_t n = 0;

        assert_true(qos_bucket_init(&b, GBIT, burst));
        while (qos_police(&b, 0, 1) == QOS_PASS) {
            n++;
        }
        assert_int_equal(n, burst);
    }

    /* A packet larger than the burst never passes. */
    {
        struct qos_bucket b = {0};

        assert_true(qos_bucket_init(&b, GBIT, 1000));
        assert_int_equal(qos_police(&b, 0, 1001), QOS_DROP_RATE);
        assert_int_equal(qos_police(&b, 0, 1000), QOS_PASS);
    }
}

/* Where a byte's time is not a whole number of units, each packet's cost
 * is rounded up: a full bucket of 100 packets' worth passes 99 or 100 of
 * them at once (short by at most a unit per packet, less than a packet),
 * never 101.  One-byte packets at 3 Gbit/s, the worst case, cost 85.33
 * units each, rounded up to 86: 10000 bytes (853333 units, rounded down)
 * pass as 9922 packets, 0.8% short. */
static void
test_police_burst_rounding(void **state)
{
    static const uint64_t rates[] = {3 * GBIT, 40 * GBIT, 100 * GBIT};
    const uint32_t burst = 100 * MTU_FRAME;
    size_t i;

    (void) state;

    for (i = 0; i < sizeof rates / sizeof rates[0]; i++) {
        struct qos_bucket b = {0};
        int n = 0;

        assert_true(qos_bucket_init(&b, rates[i], burst));
        while (qos_police(&b, 7, MTU_FRAME) == QOS_PASS) {
            n++;
        }
        if (n != 99 && n != 100) {
            fail_msg("%llu bit/s: a full bucket of 100 frames passed %d",
                     (unsigned long long) rates[i], n);
        }
    }

    {
        struct qos_bucket b = {0};
        uint32_t n = 0;

        assert_true(qos_bucket_init(&b, 3 * GBIT, 10000));
        while (qos_police(&b, 0, 1) == QOS_PASS) {
            n++;
        }
        assert_int_equal(n, 10000ULL * 256 / 3 / 86);
    }
}

/* Time refills a drained bucket at the rate, but never beyond the burst. */
static void
test_police_refill_capped(void **state)
{
    const uint32_t burst = 3000;
    struct qos_bucket b = {0};
    uint64_t now;

    (void) state;

    /* 1 Gbit/s: one byte per 8 ns. */
    assert_true(qos_bucket_init(&b, GBIT, burst));
    now = qos_police_units(1000);
    assert_int_equal(qos_police(&b, now, burst), QOS_PASS);
    assert_int_equal(qos_police(&b, now, 1), QOS_DROP_RATE);

    /* 100 bytes' time later, 100 bytes pass and not 101. */
    now += qos_police_units(100 * 8);
    assert_int_equal(qos_police(&b, now, 101), QOS_DROP_RATE);
    assert_int_equal(qos_police(&b, now, 100), QOS_PASS);
    assert_int_equal(qos_police(&b, now, 1), QOS_DROP_RATE);

    /* An hour of idling refills the burst and no more. */
    now += qos_police_units(3600 * QOS_NS_PER_S);
    assert_int_equal(qos_police(&b, now, burst + 1), QOS_DROP_RATE);
    assert_int_equal(qos_police(&b, now, burst), QOS_PASS);
    assert_int_equal(qos_police(&b, now, 1), QOS_DROP_RATE);

    /* A dropped packet costs nothing: half the burst's time later, half the
     * burst passes even after a flood of drops. */
    now += qos_police_units(burst / 2 * 8);
    for (int i = 0; i < 100; i++) {
        assert_int_equal(qos_police(&b, now, burst), QOS_DROP_RATE);
    }
    assert_int_equal(qos_police(&b, now, burst / 2), QOS_PASS);
    assert_int_equal(qos_police(&b, now, 1), QOS_DROP_RATE);
}

/* Times are compared modulo 2^64: a clock that wraps around during a
 * flood (the tick clock's origin is arbitrary) changes nothing, and a
 * bucket that idled across the wrap is full, not "ahead". */
static void
test_police_wraps(void **state)
{
    const uint64_t origin = UINT64_MAX - qos_police_units(QOS_NS_PER_S / 2);
    const uint32_t burst = 3000;
    struct qos_bucket b = {0};
    uint64_t now;

    (void) state;

    check_police_rate_on(100 * MBIT, MTU_FRAME, 65536, 0, origin);
    check_police_rate_on(GBIT, MIN_FRAME, 65536, 0, origin);

    assert_true(qos_bucket_init(&b, GBIT, burst));
    now = UINT64_MAX - qos_police_units(8);
    assert_int_equal(qos_police(&b, now, burst), QOS_PASS);
    assert_int_equal(qos_police(&b, now, 1), QOS_DROP_RATE);
    /* 16 ns later, across the wrap: two bytes' worth. */
    now += qos_police_units(16);
    assert_true(now < qos_police_units(16));
    assert_int_equal(qos_police(&b, now, 3), QOS_DROP_RATE);
    assert_int_equal(qos_police(&b, now, 2), QOS_PASS);
    /* Long after, the bucket is full again, and no more. */
    now += qos_police_units(3600 * QOS_NS_PER_S);
    assert_int_equal(qos_police(&b, now, burst + 1), QOS_DROP_RATE);
    assert_int_equal(qos_police(&b, now, burst), QOS_PASS);
}

/* A bucket whose burst lasts QOS_TICK_MIN_BURST ticks runs on the tick; a
 * shorter one stays on the fine clock.  Changing clocks starts the bucket
 * full (its TAT was on the other clock); keeping the clock keeps it. */
static void
test_police_tick_choice(void **state)
{
    const uint64_t tick_ns = 4000000; /* HZ=250. */
    struct qos_bucket b = {0};

    (void) state;

    /* 100 Mbit/s: 1 MB lasts 80 ms = 20 ticks; 40 kB lasts 3.2 ms. */
    assert_true(qos_bucket_init(&b, 100 * MBIT, 1000000));
    assert_true(qos_bucket_set_tick(&b, tick_ns));
    assert_int_equal(b.tick, qos_police_units(tick_ns));
    assert_true(qos_bucket_init(&b, 100 * MBIT, 40000));
    assert_false(qos_bucket_set_tick(&b, tick_ns));
    assert_int_equal(b.tick, 0);
    /* Exactly 8 ticks' worth (400 kB = 32 ms) is enough; a byte less not. */
    assert_true(qos_bucket_init(&b, 100 * MBIT, 400000));
    assert_true(qos_bucket_set_tick(&b, tick_ns));
    assert_true(qos_bucket_init(&b, 100 * MBIT, 399999));
    assert_false(qos_bucket_set_tick(&b, tick_ns));
    /* No tick known: the fine clock. */
    assert_true(qos_bucket_init(&b, 100 * MBIT, 1000000));
    assert_false(qos_bucket_set_tick(&b, 0));
    assert_int_equal(b.tick, 0);

    /* Draining on the fine clock, then moving to the tick: full again. */
    assert_int_equal(qos_police(&b, 5, 1000000), QOS_PASS);
    assert_int_equal(qos_police(&b, 5, 1), QOS_DROP_RATE);
    assert_false(qos_bucket_set_tick(&b, 0));
    assert_int_equal(qos_police(&b, 5, 1), QOS_DROP_RATE);
    assert_true(qos_bucket_set_tick(&b, tick_ns));
    assert_int_equal(qos_police(&b, 5, 1000000), QOS_PASS);
    assert_int_equal(qos_police(&b, 5, 1), QOS_DROP_RATE);
    assert_false(qos_bucket_set_tick(&b, tick_ns));
    assert_int_equal(qos_police(&b, 5, 1), QOS_DROP_RATE);
}

/* On a 4 ms tick the rate holds from 10 Mbit/s to 10 Gbit/s, with a burst
 * of 10 ticks' worth, and across a wrap of the clock. */
static void
test_police_on_tick(void **state)
{
    static const uint64_t rates[] = {10 * MBIT, 100 * MBIT, GBIT, 10 * GBIT};
    const uint64_t tick_ns = 4000000;
    size_t i;

    (void) state;

    for (i = 0; i < sizeof rates / sizeof rates[0]; i++) {
        uint32_t burst = rates[i] / 8 * 10 * tick_ns / QOS_NS_PER_S;

        check_police_rate_on(rates[i], MTU_FRAME, burst, tick_ns, 0);
        check_police_rate_on(rates[i], MIN_FRAME, burst, tick_ns,
                             UINT64_MAX - qos_police_units(tick_ns * 100));
    }
}

/* Threads charging one shared bucket at one instant, as CPUs do. */
struct police_thread {
    struct qos_bucket *bucket;
    uint64_t now;
    uint32_t offered; /* One-byte packets to offer. */
    uint32_t passed;  /* How many passed. */
};

static void *
police_thread_main(void *arg_)
{
    struct police_thread *arg = arg_;

    for (uint32_t i = 0; i < arg->offered; i++) {
        if (qos_police_shared(arg->bucket, arg->now, 1) == QOS_PASS) {
            arg->passed++;
        }
    }
    return NULL;
}

/* Four threads offer 2.4 times a bucket's burst at once: together they
 * pass exactly the burst, as they would one after another.  Without the
 * compare-and-swap, two threads taking the same tokens pass more. */
static void
test_police_shared_threads(void **state)
{
    enum { N_THREADS = 4 };
    const uint32_t burst = 100000;
    struct police_thread args[N_THREADS];
    pthread_t threads[N_THREADS];
    struct qos_bucket b = {0};
    uint32_t passed = 0;
    int i;

    (void) state;

    for (int round = 0; round < 20; round++) {
        assert_true(qos_bucket_init(&b, GBIT, burst));
        for (i = 0; i < N_THREADS; i++) {
            args[i] = (struct police_thread){
                .bucket = &b,
                .now = qos_police_units(12345),
                .offered = burst * 6 / 10,
            };
            assert_int_equal(pthread_create(&threads[i], NULL,
                                            police_thread_main, &args[i]),
                             0);
        }
        passed = 0;
        for (i = 0; i < N_THREADS; i++) {
            assert_int_equal(pthread_join(threads[i], NULL), 0);
            passed += args[i].passed;
        }
        assert_int_equal(passed, burst);
    }
}

/* Departures of back-to-back packets are spaced exactly at the rate:
 * packet 'k' leaves at floor(k * len * 8e9 / rate) ns after the first, to
 * within the 1 ns the rounding down allows. */
static void
check_edt_spacing(uint64_t rate, uint32_t len)
{
    const uint64_t start = 5 * QOS_NS_PER_S;
    struct qos_edt e = {0};
    uint64_t k;

    assert_true(qos_edt_init(&e, rate));
    for (k = 0; k < 100000; k++) {
        unsigned __int128 exact =
            (unsigned __int128) k * len * 8 * QOS_NS_PER_S / rate;
        uint64_t want = start + (uint64_t) exact;
        __u64 tstamp = 0;

        assert_int_equal(
            qos_edt_departure(&e, start, len, UINT64_MAX, &tstamp), QOS_PASS);
        if (tstamp + 1 < want || tstamp > want + 1) {
            fail_msg("%llu bit/s, %u bytes: packet %llu leaves at %llu, "
                     "want %llu",
                     (unsigned long long) rate, len, (unsigned long long) k,
                     (unsigned long long) tstamp, (unsigned long long) want);
        }
    }
}

static void
test_edt_spacing(void **state)
{
    (void) state;

    check_edt_spacing(10 * MBIT, MTU_FRAME);
    check_edt_spacing(GBIT, MTU_FRAME);
    check_edt_spacing(3 * GBIT, MTU_FRAME);
    check_edt_spacing(100 * GBIT, MIN_FRAME);
    check_edt_spacing(100 * GBIT, MTU_FRAME);
}

/* At 1 Gbit/s a 1500-byte packet takes 12 us: departures are 12 us
 * apart, the first one right away, and an idle pacer gives no credit. */
static void
test_edt_idle(void **state)
{
    struct qos_edt e = {0};
    __u64 t = 0;

    (void) state;

    assert_true(qos_edt_init(&e, GBIT));
    assert_int_equal(qos_edt_departure(&e, 1000, 1500, QOS_NS_PER_S, &t),
                     QOS_PASS);
    assert_int_equal(t, 1000);
    assert_int_equal(qos_edt_departure(&e, 1000, 1500, QOS_NS_PER_S, &t),
                     QOS_PASS);
    assert_int_equal(t, 13000);
    assert_int_equal(qos_edt_departure(&e, 2000, 1500, QOS_NS_PER_S, &t),
                     QOS_PASS);
    assert_int_equal(t, 25000);

    /* After a second of silence, the next packet leaves at once and the
     * one after it a packet's time later: no burst built up. */
    assert_int_equal(
        qos_edt_departure(&e, QOS_NS_PER_S, 1500, QOS_NS_PER_S, &t), QOS_PASS);
    assert_int_equal(t, QOS_NS_PER_S);
    assert_int_equal(
        qos_edt_departure(&e, QOS_NS_PER_S, 1500, QOS_NS_PER_S, &t), QOS_PASS);
    assert_int_equal(t, QOS_NS_PER_S + 12000);
}

/* With a 120 us horizon at 1 Gbit/s, a flood at one instant queues
 * packets departing at 0, 12, .., 120 us; the 12th would leave at 132 us
 * and is dropped without being charged, so once the clock moves on by a
 * packet's time the next one is taken again. */
static void
test_edt_horizon(void **state)
{
    const uint64_t horizon = 120000;
    struct qos_edt e = {0};
    __u64 t = 0;
    int k;

    (void) state;

    assert_true(qos_edt_init(&e, GBIT));
    for (k = 0; k <= 10; k++) {
        assert_int_equal(qos_edt_departure(&e, 0, 1500, horizon, &t),
                         QOS_PASS);
        assert_int_equal(t, (uint64_t) k * 12000);
    }
    for (k = 0; k < 5; k++) {
        t = 42;
        assert_int_equal(qos_edt_departure(&e, 0, 1500, horizon, &t),
                         QOS_DROP_HORIZON);
        assert_int_equal(t, 42);
    }
    /* 1 ns short of a packet's time, still full; then there is room. */
    assert_int_equal(qos_edt_departure(&e, 11999, 1500, horizon, &t),
                     QOS_DROP_HORIZON);
    assert_int_equal(qos_edt_departure(&e, 12000, 1500, horizon, &t),
                     QOS_PASS);
    assert_int_equal(t, 132000);

    /* A zero horizon takes only packets that can leave now. */
    assert_true(qos_edt_init(&e, GBIT));
    assert_int_equal(qos_edt_departure(&e, 0, 1500, 0, &t), QOS_PASS);
    assert_int_equal(qos_edt_departure(&e, 0, 1500, 0, &t), QOS_DROP_HORIZON);
    assert_int_equal(qos_edt_departure(&e, 12000, 1500, 0, &t), QOS_PASS);
    assert_int_equal(t, 12000);
}

/* Under a sustained flood at twice the rate, what the pacer accepts in a
 * second leaves within that second plus the horizon, at the rate. */
static void
test_edt_flood(void **state)
{
    const uint64_t rate = 100 * MBIT, horizon = 10000000;
    struct qos_edt e = {0};
    struct arrivals a;
    uint64_t accepted = 0, last = 0;
    __u64 t;
    double want;

    (void) state;

    assert_true(qos_edt_init(&e, rate));
    for (arrivals_init(&a, 2 * rate, MTU_FRAME); a.now < QOS_NS_PER_S;
         arrivals_next(&a)) {
        if (qos_edt_departure(&e, a.now, MTU_FRAME, horizon, &t) == QOS_PASS) {
            assert_true(t >= last);
            assert_true(t - a.now <= horizon);
            last = t;
            accepted += MTU_FRAME;
        }
    }
    /* Accepted: a second's worth plus the horizon's, to within 0.5%. */
    want = (double) rate / 8 * (1.0 + (double) horizon / QOS_NS_PER_S);
    assert_true(WITHIN((double) accepted, want, 0.005));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ns_per_byte),
        cmocka_unit_test(test_init_rejects),
        cmocka_unit_test(test_police_10mbit),
        cmocka_unit_test(test_police_100mbit),
        cmocka_unit_test(test_police_1gbit),
        cmocka_unit_test(test_police_100gbit),
        cmocka_unit_test(test_police_burst_exact),
        cmocka_unit_test(test_police_burst_rounding),
        cmocka_unit_test(test_police_wraps),
        cmocka_unit_test(test_police_tick_choice),
        cmocka_unit_test(test_police_on_tick),
        cmocka_unit_test(test_police_shared_threads),
        cmocka_unit_test(test_police_refill_capped),
        cmocka_unit_test(test_edt_spacing),
        cmocka_unit_test(test_edt_idle),
        cmocka_unit_test(test_edt_horizon),
        cmocka_unit_test(test_edt_flood),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
