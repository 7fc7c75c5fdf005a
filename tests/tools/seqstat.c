/* Counting a stream of sequence-numbered datagrams (see seqstat.h). */
#include "tests/tools/seqstat.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void
seqstat_init(struct seqstat *st)
{
    memset(st, 0, sizeof *st);
}

void
seqstat_destroy(struct seqstat *st)
{
    if (st) {
        free(st->seen);
        st->seen = NULL;
        st->seen_bits = 0;
    }
}

/* Grows the bitmap of 'st' to hold number 'seq', doubling so a long
 * stream reallocates a few dozen times in all. */
static int
seqstat_grow(struct seqstat *st, uint64_t seq)
{
    uint64_t bits = st->seen_bits ? st->seen_bits : 8192;
    uint8_t *seen;

    while (bits <= seq) {
        bits *= 2;
    }
    seen = realloc(st->seen, bits / 8);
    if (!seen) {
        return ENOMEM;
    }
    memset(seen + st->seen_bits / 8, 0, (bits - st->seen_bits) / 8);
    st->seen = seen;
    st->seen_bits = bits;
    return 0;
}

static bool
seqstat_seen(const struct seqstat *st, uint64_t seq)
{
    return seq < st->seen_bits && (st->seen[seq / 8] >> (seq % 8)) & 1;
}

int
seqstat_add(struct seqstat *st, uint64_t seq, uint64_t sent_ns,
            uint64_t now_ns)
{
    if (seq >= SEQSTAT_MAX_SEQ) {
        st->invalid++;
        return EINVAL;
    }
    if (seq >= st->seen_bits) {
        int error = seqstat_grow(st, seq);

        if (error) {
            return error;
        }
    }

    /* The silence ends with any arrival, a duplicate's too: it says the
     * path works again. */
    if (st->any && now_ns > st->last_arrival_ns
        && now_ns - st->last_arrival_ns > st->longest_gap_ns) {
        st->longest_gap_ns = now_ns - st->last_arrival_ns;
        st->gap_before = seq;
    }
    if (!st->any || now_ns > st->last_arrival_ns) {
        st->last_arrival_ns = now_ns;
    }
    st->any = true;

    if (seqstat_seen(st, seq)) {
        st->duplicates++;
        return 0;
    }
    st->seen[seq / 8] |= 1 << (seq % 8);
    st->received++;
    if (seq < st->next) {
        st->reordered++;
    } else {
        st->next = seq + 1;
    }
    if (sent_ns && now_ns > sent_ns && now_ns - sent_ns > st->rtt_max_ns) {
        st->rtt_max_ns = now_ns - sent_ns;
    }
    return 0;
}

void
seqstat_report(const struct seqstat *st, uint64_t sent,
               struct seqstat_report *r)
{
    uint64_t run = 0;

    memset(r, 0, sizeof *r);
    r->sent = sent ? sent : st->next;
    r->received = st->received;
    r->lost = r->sent > st->received ? r->sent - st->received : 0;
    r->reordered = st->reordered;
    r->duplicates = st->duplicates;
    r->invalid = st->invalid;
    for (uint64_t seq = 0; seq < r->sent; seq++) {
        if (seqstat_seen(st, seq)) {
            run = 0;
            continue;
        }
        if (run++ == 0) {
            if (r->n_runs < SEQSTAT_RUNS) {
                r->runs[r->n_runs].first = seq;
            }
            r->n_runs++;
        }
        if (r->n_runs <= SEQSTAT_RUNS) {
            r->runs[r->n_runs - 1].count = run;
        }
        if (run > r->longest_loss) {
            r->longest_loss = run;
        }
    }
    r->longest_gap_ms = st->longest_gap_ns / 1e6;
    r->gap_before = st->gap_before;
    r->rtt_max_ms = st->rtt_max_ns / 1e6;
}
