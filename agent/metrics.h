/* The agent's operations endpoint: Prometheus metrics, liveness and
 * readiness over HTTP, served by libmicrohttpd on a thread of its own.
 *
 *   GET /metrics   Prometheus text format (version 0.0.4): per-port and
 *                  underlay counters from the datapath, reconciliations,
 *                  whether the controller is reachable, the revision of
 *                  the desired state in force.
 *   GET /healthz   200 "ok" while the process serves.
 *   GET /readyz    200 once a reconciliation has succeeded, else 503.
 *   POST /v1/trace the controller's traces (agent/trace.h).
 *   GET /v1/vms/NAME/console  the tail of a VM's serial console, for the
 *                  controller (agent/vms.h), with the trace token.
 *   POST /v1/migrations/ID/conntrack  the conntrack entries of a VM
 *                  migrating in, from the controller (agent/migrate.h),
 *                  with the trace token. */
#ifndef AGENT_METRICS_H
#define AGENT_METRICS_H 1

struct core;
struct core_snapshot;
struct metrics;

/* Starts serving on 'listen' ("ADDR:PORT", see
 * agent_config_parse_listen()) what 'core' (which must outlive the
 * server) holds.  Returns 0 and the server in '*mp', or an errno value
 * after logging why. */
int metrics_start(const char *listen, struct core *core, struct metrics **mp);
void metrics_stop(struct metrics *);

/* Returns the Prometheus text for 'snap'.  The caller frees it. */
char *metrics_render(const struct core_snapshot *snap);

#endif /* agent/metrics.h */
