/* Aggregation and rate limiting of the firewall's flow events, per port,
 * before they become flow log records (doc/firewall.md, "Flow logs").
 *
 * A flood of denials must not drown the flow log: a VM that sends the same
 * denied packet ten thousand times a second should cost one record now and
 * then, and a VM that scans must not fill the controller's store.  So:
 *
 * - Aggregation.  The first event of a flow (same port, network, addresses,
 *   ports, protocol, direction, verdict, reason, rule and identities) is
 *   reported at once.  Its repeats within the next 'window_ns' are only
 *   counted; when the window ends they become one record with their count
 *   and the times of the first and last of them, and a new window starts.
 *   A window without repeats ends the flow's aggregation.
 * - Rate limit.  Each port may report 'rate' records a second, with bursts
 *   of 'burst'; records beyond that are suppressed, and the events they
 *   stood for counted: in the port's next record that gets through
 *   ('suppressed') and in flowagg_get_stats().
 *
 * At most 'max_flows' flows are aggregated at once; events of further
 * flows are reported one by one, still rate limited.  Times are
 * CLOCK_MONOTONIC nanoseconds, as in struct dp_flow_event.  Not thread
 * safe: one thread feeds and flushes. */
#ifndef AGENT_FLOWAGG_H
#define AGENT_FLOWAGG_H 1

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "datapath/dp.h"

/* Defaults. */
#define FLOWAGG_WINDOW_MS 5000  /* Repeats within this make one record. */
#define FLOWAGG_RATE 20         /* Records per second per port. */
#define FLOWAGG_BURST 100       /* Records a port may send at once. */
#define FLOWAGG_MAX_FLOWS 16384 /* Flows aggregated at once. */

struct flowagg_config {
    uint64_t window_ns; /* Aggregation window; 0: FLOWAGG_WINDOW_MS. */
    uint32_t rate;      /* Records per second per port; 0: FLOWAGG_RATE. */
    uint32_t burst;     /* Bucket depth in records; 0: FLOWAGG_BURST. */
    size_t max_flows;   /* Flows aggregated at once; 0: FLOWAGG_MAX_FLOWS. */
};

/* One record to report. */
struct flowagg_record {
    const struct dp_flow_event *ev; /* The first event it stands for: its
                                     * 'time_ns' is the first's time. */
    uint64_t count;                 /* Events it stands for, at least 1. */
    uint64_t last_ns;               /* Time of the last of them. */
    uint64_t suppressed;            /* Events of the port whose records
                                     * the rate limit suppressed since its
                                     * previous record. */
};

/* Reports 'record'; the pointers in it are valid during the call only. */
typedef void flowagg_emit_func(const struct flowagg_record *record, void *aux);

struct flowagg;

struct flowagg *flowagg_create(const struct flowagg_config *,
                               flowagg_emit_func *emit, void *aux);
/* Frees, without reporting what is pending (see flowagg_flush()). */
void flowagg_destroy(struct flowagg *);

/* Takes event 'ev'. */
void flowagg_event(struct flowagg *, const struct dp_flow_event *ev);

/* Reports the aggregates whose window ended by 'now_ns', or with 'all'
 * every pending aggregate. */
void flowagg_flush(struct flowagg *, uint64_t now_ns, bool all);

struct flowagg_stats {
    uint64_t events;     /* Events taken. */
    uint64_t records;    /* Records reported. */
    uint64_t aggregated; /* Events counted as repeats of a flow. */
    uint64_t suppressed; /* Events whose records the rate limit dropped. */
    size_t flows;        /* Flows being aggregated now. */
};
void flowagg_get_stats(const struct flowagg *, struct flowagg_stats *);

#endif /* agent/flowagg.h */
