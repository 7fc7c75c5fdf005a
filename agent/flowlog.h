/* Flow logs (doc/firewall.md): the firewall's decisions that the fast path
 * reports, as JSON lines in a local file and, in controller mode, batches
 * posted to the controller; and the rule hit counters reported to it.
 *
 * A thread of its own reads the datapath's flow events, so that neither
 * the datapath nor the agent's other work ever waits for the disk or the
 * controller.  Records that the controller cannot take yet wait in a
 * bounded backlog (FLOWLOG_BACKLOG_MAX, oldest dropped first, counted). */
#ifndef AGENT_FLOWLOG_H
#define AGENT_FLOWLOG_H 1

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "datapath/dp.h"

struct core;
struct json_t;

#define FLOWLOG_ROTATE_BYTES (64 * 1024 * 1024) /* Rotate flows.log here. */
#define FLOWLOG_BATCH_MAX 1000     /* Records per POST /v1/flowlogs. */
#define FLOWLOG_BACKLOG_MAX 100000 /* Records waiting for the controller. */
#define FLOWLOG_POST_INTERVAL_MS 1000
#define FLOWLOG_HITS_INTERVAL_MS 10000 /* PUT rule-hits this often. */

/* What the flow logger needs. */
struct flowlog_config {
    const char *path;       /* The local log, or NULL for none. */
    const char *controller; /* Base URL in controller mode, else NULL. */
    const char *cacert;     /* CA bundle for https, or NULL. */
    const char *token;      /* API token, or NULL. */
    const char *host;       /* This host's name (controller mode). */
};

struct flowlog;

/* Starts logging the flow events of 'dp' as 'cfg' says, with names from
 * 'core'.  Both must outlive the logger.  Returns 0 and the logger in
 * '*flp', or an errno value after logging why. */
int flowlog_start(const struct flowlog_config *cfg, struct dp *dp,
                  struct core *core, struct flowlog **flp);

/* Stops the thread, writing what it has. */
void flowlog_stop(struct flowlog *);

/* Replaces the API token. */
void flowlog_set_token(struct flowlog *, const char *token);

/* Counters, for the metrics. */
struct flowlog_stats {
    uint64_t events;  /* Flow events read. */
    uint64_t dropped; /* Records dropped: backlog full. */
    uint64_t posted;  /* Records the controller took. */
};
void flowlog_get_stats(const struct flowlog *, struct flowlog_stats *);

/* Converts 'ev' into its JSON record, 'port' and 'network' being the names
 * of its port and network (NULL if unknown) and 'wall_ns' the event time on
 * the wall clock (nanoseconds since the epoch). */
struct json_t *flowlog_record(const struct dp_flow_event *ev, const char *port,
                              const char *network, uint64_t wall_ns);

/* Returns the name of POLICY_BY_* or DP_FW_BY_* 'reason' as flow logs and
 * traces give it (doc/firewall.md): "rule", "default-deny", ..., or
 * "unknown". */
const char *flowlog_reason_name(int reason);

/* Formats 'wall_ns' (nanoseconds since the epoch) as RFC 3339 UTC with
 * milliseconds, "2026-11-22T10:00:00.123Z", into 'buf'. */
void flowlog_format_time(uint64_t wall_ns, char buf[32]);

#endif /* agent/flowlog.h */
