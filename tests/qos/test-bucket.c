/* Unit tests for qos/bucket.h: the policer and the EDT pacer, driven by a
 * simulated clock.
 *
 * The story: a port policed at 10 Mbit/s .. 100 Gbit/s and offered twice
 * its rate for one second passes its rate (plus the one burst it starts
 * with) to within 0.5%, with full-size and with minimum-size frames.  A
 * full bucket passes exactly its burst at once; an idle one never fills
 * beyond it.  A pacer spaces departures exactly at the rate and drops what
 * would leave beyond its horizon.  Expected values are computed here from
 * the rate with 128-bit or floating-point arithmetic, independently of the
 * header's fixed point. */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
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
 * 'rate' with a burst of 64 KiB, and checks that it passes 'rate' for that
 * second, plus the burst it starts with, to within 0.5%. */
static void
check_police_rate(uint64_t rate, uint32_t len)
{
    const uint32_t burst = 65536;
    struct qos_bucket b = {0};
    struct arrivals a;
    uint64_t passed = 0, dropped = 0;
    double want, got;

    assert_true(qos_bucket_init(&b, rate, burst));
    for (arrivals_init(&a, 2 * rate, len); a.now < QOS_NS_PER_S;
         arrivals_next(&a)) {
        if (qos_police(&b, a.now, len) == QOS_PASS) {
            passed += len;
        } else {
            dropped += len;
        }
    }
    want = (double) rate / 8;
    got = (double) (passed - burst);
    if (!WITHIN(got, want, 0.005)) {
        fail_msg("%llu bit/s, %u-byte packets: passed %llu bytes, want "
                 "%.0f +- 0.5%% plus the %u-byte burst",
                 (unsigned long long) rate, len, (unsigned long long) passed,
                 want, burst);
    }
    /* Twice the rate was offered, so about half was dropped. */
    assert_true(dropped > passed / 2);
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

/* A full bucket passes exactly its burst at one instant: burst / len
 * packets of 'len' bytes, then a last one that fills it to the byte. */
static void
test_police_burst_exact(void **state)
{
    static const uint64_t rates[] = {10 * MBIT, 3 * GBIT, 100 * GBIT};
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

        assert_true(qos_bucket_init(&b, 3 * GBIT, burst));
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
    assert_int_equal(qos_police(&b, 1000, burst), QOS_PASS);
    assert_int_equal(qos_police(&b, 1000, 1), QOS_DROP_RATE);

    /* 100 bytes' time later, 100 bytes pass and not 101. */
    now = 1000 + 100 * 8;
    assert_int_equal(qos_police(&b, now, 101), QOS_DROP_RATE);
    assert_int_equal(qos_police(&b, now, 100), QOS_PASS);
    assert_int_equal(qos_police(&b, now, 1), QOS_DROP_RATE);

    /* An hour of idling refills the burst and no more. */
    now += 3600 * QOS_NS_PER_S;
    assert_int_equal(qos_police(&b, now, burst + 1), QOS_DROP_RATE);
    assert_int_equal(qos_police(&b, now, burst), QOS_PASS);
    assert_int_equal(qos_police(&b, now, 1), QOS_DROP_RATE);

    /* A dropped packet costs nothing: half the burst's time later, half the
     * burst passes even after a flood of drops. */
    now += burst / 2 * 8;
    for (int i = 0; i < 100; i++) {
        assert_int_equal(qos_police(&b, now, burst), QOS_DROP_RATE);
    }
    assert_int_equal(qos_police(&b, now, burst / 2), QOS_PASS);
    assert_int_equal(qos_police(&b, now, 1), QOS_DROP_RATE);
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
        cmocka_unit_test(test_police_refill_capped),
        cmocka_unit_test(test_edt_spacing),
        cmocka_unit_test(test_edt_idle),
        cmocka_unit_test(test_edt_horizon),
        cmocka_unit_test(test_edt_flood),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
