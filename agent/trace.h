/* Traces for the controller: POST /v1/trace on the agent's HTTP listener
 * (agent/metrics.c) runs one frame through this host's fast path with
 * dp_trace(), which changes nothing, and answers what happened
 * (doc/firewall.md; the controller's side is controller/trace.c).
 *
 *   request   {"program": "port"|"uplink", "port": NAME (for "port"),
 *              "frame": BASE64}
 *   answer    {"tc_action": "ok"|"shot"|"redirect"|..., "drop_reason":
 *              NAME or null, "firewall": {"action", "reason",
 *              "direction", "rule"} or null, "frame": BASE64}
 *
 * Only the controller may ask: the request must carry "Authorization:
 * Bearer TOKEN" with the token this process made up when it started
 * (agent_trace_token()) and gave the controller when it registered,
 * together with the address to reach it at (agent_trace_url()). */
#ifndef AGENT_TRACE_H
#define AGENT_TRACE_H 1

#include <stdbool.h>
#include <stddef.h>

struct core;

/* The largest frame a trace takes. */
#define AGENT_TRACE_FRAME_MAX 2048

/* Returns this process's trace token: 32 random bytes in hex, made on the
 * first call and kept in memory only. */
const char *agent_trace_token(void);

/* Whether 'authorization' (an "Authorization" header, or NULL) is "Bearer
 * TOKEN" with this process's token, compared in constant time: the
 * controller's credential for this agent's listener (traces, consoles). */
bool agent_trace_authorized(const char *authorization);

/* Returns the base URL the controller reaches this agent's listener at:
 * 'advertise' if it is set; otherwise "http://" + 'metrics' if 'metrics'
 * (ADDR:PORT) names a specific address rather than 0.0.0.0 or [::], and
 * not a loopback address unless 'controller' (its URL) is on loopback
 * too; otherwise NULL, and the agent offers no traces.  The caller frees
 * it. */
char *agent_trace_url(const char *advertise, const char *metrics,
                      const char *controller);

/* Answers the trace request with body 'body' ('len' bytes) and header
 * 'authorization' (NULL if absent) using 'core'.  Returns the HTTP status
 * and stores the answer's JSON text in '*answer' (the caller frees it). */
int agent_trace_handle(struct core *, const char *authorization,
                       const char *body, size_t len, char **answer);

#endif /* agent/trace.h */
