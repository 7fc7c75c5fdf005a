/* Counting a stream of sequence-numbered datagrams: what arrived, what was
 * lost, reordered or duplicated, and the longest silence between two
 * arrivals.  tests/tools/udpseq.c uses it for the 1 ms probe that runs
 * through a migrating guest (tests/integration/migrate.sh,
 * bench/migration.sh); it is plain C with no I/O, so tests/tools/
 * test-seqstat.c checks it on made-up arrivals. */
#ifndef TESTS_TOOLS_SEQSTAT_H
#define TESTS_TOOLS_SEQSTAT_H 1

#include <stdbool.h>
#include <stdint.h>

/* Sequence numbers at or above this are refused as garbage: 2^28 is 74
 * hours of a 1 ms stream, and the bitmap of received numbers stays under
 * 32 MiB whatever a stray datagram claims. */
#define SEQSTAT_MAX_SEQ (UINT64_C(1) << 28)

/* What a stream's receiver has counted so far. */
struct seqstat {
    uint8_t *seen;            /* Bitmap: bit N set once N arrived. */
    uint64_t seen_bits;       /* Size of 'seen', in bits. */
    uint64_t received;        /* Distinct sequence numbers that arrived. */
    uint64_t duplicates;      /* Arrivals of a number already counted. */
    uint64_t reordered;       /* Arrivals below the highest number seen. */
    uint64_t invalid;         /* Arrivals refused (number too large). */
    uint64_t next;            /* One past the highest number seen. */
    bool any;                 /* Whether anything arrived yet. */
    uint64_t last_arrival_ns; /* Arrival time of the last datagram. */
    uint64_t longest_gap_ns;  /* Longest time between two arrivals. */
    uint64_t gap_before;      /* Number of the datagram that ended the
                               * longest gap. */
    uint64_t rtt_max_ns;      /* Longest send-to-arrival time seen. */
};

/* How many runs of lost numbers a report lists, the first ones. */
#define SEQSTAT_RUNS 8

/* What seqstat_report() makes of a stream. */
struct seqstat_report {
    uint64_t sent;         /* Datagrams sent (as given or inferred). */
    uint64_t received;     /* Distinct ones that arrived. */
    uint64_t lost;         /* 'sent' - 'received'. */
    uint64_t reordered;    /* As in struct seqstat. */
    uint64_t duplicates;   /* As in struct seqstat. */
    uint64_t invalid;      /* As in struct seqstat. */
    uint64_t longest_loss; /* Longest run of consecutive lost numbers. */
    struct {
        uint64_t first;    /* First number lost. */
        uint64_t count;    /* How many in a row from there. */
    } runs[SEQSTAT_RUNS];  /* The first runs of lost numbers: where the
                            * stream lost what it lost. */
    uint64_t n_runs;       /* Runs of lost numbers in all. */
    double longest_gap_ms; /* Longest time between two arrivals. */
    uint64_t gap_before;   /* Number that ended the longest gap. */
    double rtt_max_ms;     /* Longest send-to-arrival time. */
};

void seqstat_init(struct seqstat *);
void seqstat_destroy(struct seqstat *);

/* Counts datagram number 'seq', sent at 'sent_ns' and arrived at
 * 'now_ns' (both on the clock of whoever sent it, for round trips; pass
 * 'sent_ns' 0 when the clocks differ).  Returns 0, EINVAL for a number at
 * or above SEQSTAT_MAX_SEQ (counted as invalid), or ENOMEM. */
int seqstat_add(struct seqstat *, uint64_t seq, uint64_t sent_ns,
                uint64_t now_ns);

/* Fills 'r' for a stream of 'sent' datagrams numbered from 0, or, when
 * 'sent' is 0, of as many as the highest number that arrived says (a
 * one-way receiver cannot see losses after the last arrival). */
void seqstat_report(const struct seqstat *, uint64_t sent,
                    struct seqstat_report *r);

#endif /* tests/tools/seqstat.h */
