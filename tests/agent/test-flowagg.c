/* The agent's aggregation and rate limiting of flow events per port
 * (agent/flowagg.c), fed the way the fast path feeds it: floods of one
 * denied flow, scans of many, several ports at once. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "agent/flowagg.h"
#include "utils/util.h"

#define MS 1000000ULL
#define SEC 1000000000ULL

/* What came out, in order. */
struct sink {
    struct dp_flow_event ev[4096];   /* Each record's first event. */
    struct flowagg_record rec[4096]; /* The records ('ev' not valid). */
    size_t n;                        /* Records. */
};

static void
collect(const struct flowagg_record *r, void *sink_)
{
    struct sink *sink = sink_;

    assert_true(sink->n < ARRAY_SIZE(sink->ev));
    sink->ev[sink->n] = *r->ev;
    sink->rec[sink->n] = *r;
    sink->n++;
}

/* A denied TCP event of port 'ifindex' from source port 'sport' at 't'. */
static struct dp_flow_event
denial(uint32_t ifindex, uint16_t sport, uint64_t t)
{
    struct dp_flow_event ev = {
        .time_ns = t,
        .vni = 1000,
        .ifindex = ifindex,
        .family = 4,
        .proto = 6,
        .action = POLICY_DENY,
        .reason = POLICY_BY_DEFAULT_DENY,
        .direction = POLICY_INGRESS,
        .sport = sport,
        .dport = 5432,
        .src = {10, 0, 0, 2},
        .dst = {10, 0, 0, 3},
    };

    return ev;
}

/* Ten thousand repeats of one denied flow within a window: the first at
 * once, the rest as one record with their count and first and last time
 * when the window ends, and one record per window while it goes on. */
static void
test_repeats_aggregate(void **state)
{
    struct flowagg_config cfg = {.window_ns = 5 * SEC};
    struct sink *sink = xzalloc(sizeof *sink);
    struct flowagg *agg = flowagg_create(&cfg, collect, sink);
    struct flowagg_stats stats;
    uint64_t t0 = 1000 * SEC;

    (void) state;
    for (int i = 0; i < 10000; i++) {
        struct dp_flow_event ev = denial(7, 40000, t0 + i * 100000ULL);

        flowagg_event(agg, &ev);
    }
    assert_int_equal(sink->n, 1);
    assert_int_equal(sink->rec[0].count, 1);
    assert_int_equal(sink->ev[0].time_ns, t0);

    flowagg_flush(agg, t0 + 4 * SEC, false);
    assert_int_equal(sink->n, 1);
    flowagg_flush(agg, t0 + 5 * SEC, false);
    assert_int_equal(sink->n, 2);
    assert_int_equal(sink->rec[1].count, 9999);
    assert_int_equal(sink->ev[1].time_ns, t0 + 100000ULL);
    assert_int_equal(sink->rec[1].last_ns, t0 + 9999 * 100000ULL);
    assert_int_equal(sink->ev[1].sport, 40000);

    /* It goes on: one record per window, not one per event. */
    for (int w = 0; w < 3; w++) {
        uint64_t start = t0 + (5 + 5 * w) * SEC;

        for (int i = 0; i < 1000; i++) {
            struct dp_flow_event ev =
                denial(7, 40000, start + 1 + i * 1000000ULL);

            flowagg_event(agg, &ev);
        }
        flowagg_flush(agg, start + 5 * SEC, false);
        assert_int_equal(sink->n, 3 + w);
        assert_int_equal(sink->rec[2 + w].count, 1000);
    }
    /* A quiet window ends it; the next event is reported at once. */
    flowagg_flush(agg, t0 + 30 * SEC, false);
    assert_int_equal(sink->n, 5);
    flowagg_get_stats(agg, &stats);
    assert_int_equal(stats.flows, 0);
    assert_int_equal(stats.events, 13000);
    assert_int_equal(stats.aggregated, 12999);
    assert_int_equal(stats.records, 5);
    {
        struct dp_flow_event ev = denial(7, 40000, t0 + 31 * SEC);

        flowagg_event(agg, &ev);
    }
    assert_int_equal(sink->n, 6);
    assert_int_equal(sink->rec[5].count, 1);

    /* Different flows are different records. */
    {
        struct dp_flow_event ev = denial(7, 40001, t0 + 31 * SEC);

        flowagg_event(agg, &ev);
        ev = denial(8, 40000, t0 + 31 * SEC);
        flowagg_event(agg, &ev);
        ev = denial(7, 40000, t0 + 31 * SEC);
        ev.action = POLICY_ALLOW;
        flowagg_event(agg, &ev);
    }
    assert_int_equal(sink->n, 9);

    /* Stopping reports what is pending. */
    {
        struct dp_flow_event ev = denial(7, 40001, t0 + 32 * SEC);

        flowagg_event(agg, &ev);
    }
    flowagg_flush(agg, t0 + 32 * SEC, true);
    assert_int_equal(sink->n, 10);
    assert_int_equal(sink->rec[9].count, 1);
    flowagg_get_stats(agg, &stats);
    assert_int_equal(stats.flows, 0);
    flowagg_destroy(agg);
    free(sink);
}

/* A port scanning (a new flow every event) gets its burst and then its
 * rate; what is dropped is counted, in the port's next record and in the
 * totals; another port is not held back by it. */
static void
test_rate_limit(void **state)
{
    struct flowagg_config cfg = {.rate = 20, .burst = 100};
    struct sink *sink = xzalloc(sizeof *sink);
    struct flowagg *agg = flowagg_create(&cfg, collect, sink);
    struct flowagg_stats stats;
    uint64_t t0 = 50 * SEC;
    uint64_t reported = 0, suppressed = 0;

    (void) state;
    /* 10,000 new flows within one second. */
    for (int i = 0; i < 10000; i++) {
        struct dp_flow_event ev = denial(7, i, t0 + i * 100000ULL);

        flowagg_event(agg, &ev);
    }
    /* The burst, and 20 a second after it. */
    assert_true(sink->n >= 100 && sink->n <= 121);
    reported = sink->n;

    /* Another port still gets through. */
    {
        struct dp_flow_event ev = denial(9, 1, t0 + SEC);

        flowagg_event(agg, &ev);
    }
    assert_int_equal(sink->n, reported + 1);
    assert_int_equal(sink->rec[reported].suppressed, 0);

    /* Each record of the flooder says how many were dropped since its
     * previous one, its next one after the flood included. */
    {
        struct dp_flow_event ev = denial(7, 60000, t0 + 3 * SEC);

        flowagg_event(agg, &ev);
    }
    assert_int_equal(sink->n, reported + 2);
    assert_true(sink->rec[reported + 1].suppressed > 0);
    for (size_t i = 0; i < sink->n; i++) {
        suppressed += sink->rec[i].suppressed;
    }
    assert_int_equal(suppressed, 10000 - reported);
    flowagg_get_stats(agg, &stats);
    assert_int_equal(stats.suppressed, suppressed);
    assert_int_equal(stats.records + stats.suppressed, 10002);
    flowagg_destroy(agg);
    free(sink);
}

/* With its table of flows full, events of new flows are reported one by
 * one, still rate limited. */
static void
test_table_full(void **state)
{
    struct flowagg_config cfg = {.max_flows = 4, .burst = 1000};
    struct sink *sink = xzalloc(sizeof *sink);
    struct flowagg *agg = flowagg_create(&cfg, collect, sink);
    struct flowagg_stats stats;

    (void) state;
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < 10; i++) {
            struct dp_flow_event ev = denial(7, i, SEC + round * MS + i);

            flowagg_event(agg, &ev);
        }
    }
    /* Flows 0..3 aggregate their second event; 4..9 report both. */
    assert_int_equal(sink->n, 4 + 2 * 6);
    flowagg_get_stats(agg, &stats);
    assert_int_equal(stats.flows, 4);
    assert_int_equal(stats.aggregated, 4);
    flowagg_destroy(agg);
    free(sink);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_repeats_aggregate),
        cmocka_unit_test(test_rate_limit),
        cmocka_unit_test(test_table_full),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
