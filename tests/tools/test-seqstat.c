/* Unit tests for tests/tools/seqstat.c: what the probe of a migration
 * counts.  Each test feeds made-up arrivals (number, send time, arrival
 * time) and checks the report: a clean stream, a hole, late and repeated
 * datagrams, a silence, the one-way count, and numbers no sender of ours
 * would send. */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>

#include "tests/tools/seqstat.h"

#define MS 1000000ULL

/* Datagram 'seq' of a 1 ms stream, back 'rtt' ms after it left. */
static void
arrive(struct seqstat *st, uint64_t seq, uint64_t rtt)
{
    assert_int_equal(seqstat_add(st, seq, seq * MS + 1, seq * MS + rtt * MS),
                     0);
}

static void
test_clean_stream(void **state)
{
    struct seqstat_report r;
    struct seqstat st;

    seqstat_init(&st);
    for (uint64_t i = 0; i < 20000; i++) {
        arrive(&st, i, 1);
    }
    seqstat_report(&st, 20000, &r);
    assert_int_equal(r.sent, 20000);
    assert_int_equal(r.received, 20000);
    assert_int_equal(r.lost, 0);
    assert_int_equal(r.reordered, 0);
    assert_int_equal(r.duplicates, 0);
    assert_int_equal(r.longest_loss, 0);
    assert_true(r.longest_gap_ms > 0.99 && r.longest_gap_ms < 1.01);
    assert_true(r.rtt_max_ms > 0.99 && r.rtt_max_ms < 1.01);
    seqstat_destroy(&st);
}

/* 120 datagrams lost in the middle, 3 more at the end of the stream: the
 * round-trip sender knows it sent 1000, so the tail counts. */
static void
test_losses(void **state)
{
    struct seqstat_report r;
    struct seqstat st;

    seqstat_init(&st);
    for (uint64_t i = 0; i < 997; i++) {
        if (i < 400 || i >= 520) {
            arrive(&st, i, 1);
        }
    }
    seqstat_report(&st, 1000, &r);
    assert_int_equal(r.received, 877);
    assert_int_equal(r.lost, 123);
    assert_int_equal(r.longest_loss, 120);
    assert_int_equal(r.n_runs, 2);
    assert_int_equal(r.runs[0].first, 400);
    assert_int_equal(r.runs[0].count, 120);
    assert_int_equal(r.runs[1].first, 997);
    assert_int_equal(r.runs[1].count, 3);
    assert_int_equal(r.gap_before, 520);
    assert_true(r.longest_gap_ms > 120.9 && r.longest_gap_ms < 121.1);

    /* One way, the receiver sees only up to the last arrival. */
    seqstat_report(&st, 0, &r);
    assert_int_equal(r.sent, 997);
    assert_int_equal(r.lost, 120);
    seqstat_destroy(&st);
}

/* Datagrams that queued while the guest was paused arrive in a burst, one
 * of them twice and one after a later one: nothing is lost, the silence is
 * what the pause cost. */
static void
test_pause_reorder_duplicate(void **state)
{
    struct seqstat_report r;
    struct seqstat st;

    seqstat_init(&st);
    for (uint64_t i = 0; i < 100; i++) {
        arrive(&st, i, 1);
    }
    /* 100..399 were held for 300 ms and come out at 400 ms. */
    for (uint64_t i = 100; i < 400; i++) {
        if (i != 250) {
            assert_int_equal(seqstat_add(&st, i, i * MS, 400 * MS), 0);
        }
    }
    assert_int_equal(seqstat_add(&st, 250, 250 * MS, 400 * MS), 0);
    assert_int_equal(seqstat_add(&st, 300, 300 * MS, 400 * MS), 0);
    for (uint64_t i = 400; i < 500; i++) {
        arrive(&st, i, 1);
    }
    seqstat_report(&st, 500, &r);
    assert_int_equal(r.received, 500);
    assert_int_equal(r.lost, 0);
    assert_int_equal(r.reordered, 1);
    assert_int_equal(r.duplicates, 1);
    assert_int_equal(r.gap_before, 100);
    assert_true(r.longest_gap_ms > 299.9 && r.longest_gap_ms < 300.1);
    assert_true(r.rtt_max_ms > 299.9 && r.rtt_max_ms < 300.1);
    seqstat_destroy(&st);
}

/* A datagram claiming a huge number is refused without growing the
 * bitmap to it; a number just below the limit is counted. */
static void
test_invalid_numbers(void **state)
{
    struct seqstat_report r;
    struct seqstat st;

    seqstat_init(&st);
    assert_int_equal(seqstat_add(&st, UINT64_MAX, 0, 1), EINVAL);
    assert_int_equal(seqstat_add(&st, SEQSTAT_MAX_SEQ, 0, 1), EINVAL);
    assert_int_equal(st.seen_bits, 0);
    assert_int_equal(seqstat_add(&st, SEQSTAT_MAX_SEQ - 1, 0, 2), 0);
    seqstat_report(&st, 0, &r);
    assert_int_equal(r.invalid, 2);
    assert_int_equal(r.received, 1);
    assert_int_equal(r.sent, SEQSTAT_MAX_SEQ);
    assert_int_equal(r.longest_loss, SEQSTAT_MAX_SEQ - 1);
    seqstat_destroy(&st);
    seqstat_destroy(NULL);
}

/* Every other datagram lost: the report lists the first runs and counts
 * them all. */
static void
test_many_runs(void **state)
{
    struct seqstat_report r;
    struct seqstat st;

    seqstat_init(&st);
    for (uint64_t i = 0; i < 100; i += 2) {
        arrive(&st, i, 1);
    }
    seqstat_report(&st, 100, &r);
    assert_int_equal(r.lost, 50);
    assert_int_equal(r.longest_loss, 1);
    assert_int_equal(r.n_runs, 50);
    for (int i = 0; i < SEQSTAT_RUNS; i++) {
        assert_int_equal(r.runs[i].first, 2 * i + 1);
        assert_int_equal(r.runs[i].count, 1);
    }
    seqstat_destroy(&st);
}

/* Nothing arrived: everything sent is lost, and there is no gap. */
static void
test_nothing(void **state)
{
    struct seqstat_report r;
    struct seqstat st;

    seqstat_init(&st);
    seqstat_report(&st, 50, &r);
    assert_int_equal(r.lost, 50);
    assert_int_equal(r.longest_loss, 50);
    assert_true(r.longest_gap_ms == 0);
    seqstat_destroy(&st);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_clean_stream),
        cmocka_unit_test(test_losses),
        cmocka_unit_test(test_pause_reorder_duplicate),
        cmocka_unit_test(test_invalid_numbers),
        cmocka_unit_test(test_many_runs),
        cmocka_unit_test(test_nothing),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
