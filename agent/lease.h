/* The agent's HA lease (doc/mobility.md, "HA: restart after a host
 * fails").
 *
 * Every heartbeat the controller answers with 200 grants a lease of
 * "lease_ms", counted from when the heartbeat was sent, so that the agent
 * never believes it holds a lease the controller already counts as run
 * out.  What the agent may do with its VMs whose "ha" is "restart" follows
 * from the lease and from its peers' answers to its UDP probes
 * (agent/probe.h):
 *
 *   lease held, document fresh      run them, start them
 *   lease held, document stale      as without a lease (below): the last
 *                                   document may still list VMs that
 *                                   moved away while the lease was lost
 *   no lease, some peer answers     keep them running, start none: the
 *                                   controller is away, not this host, and
 *                                   the peers tell the controller so
 *   no lease, no peer answers       fence: force them off, start none, for
 *                                   the controller restarts them elsewhere
 *
 * A document is fresh when the controller answered the watch after the
 * lease last lapsed (or after the agent started).  A new agent holds no
 * lease until its first heartbeat is answered, but
 * fences only once the lease it would have held has run out: a restarted
 * agent leaves its guests running (they run on without it). */
#ifndef AGENT_LEASE_H
#define AGENT_LEASE_H 1

#include <stdbool.h>
#include <stdint.h>

/* The lease a new agent assumes until the controller says, ms. */
#define LEASE_DEFAULT_MS 5000

/* What the agent may do with its HA VMs. */
enum lease_action {
    LEASE_RUN,   /* Run and start them. */
    LEASE_HOLD,  /* Keep them running, start none. */
    LEASE_FENCE, /* Force them off, start none. */
};

/* The lease of one agent. */
struct lease {
    uint64_t expires_ms; /* Monotonic ms it runs out at, or 0 for none
                          * granted yet. */
    uint64_t length_ms;  /* The last lease granted (or the default). */
    uint64_t start_ms;   /* When the agent started, monotonic ms. */
    uint64_t lapsed_ms;  /* When the lease last ran out (at first, the
                          * start). */
    uint64_t doc_ms;     /* When the controller last answered the watch,
                          * or 0. */
};

/* Starts 'l' at monotonic time 'now_ms' with no lease held. */
void lease_init(struct lease *l, uint64_t now_ms);

/* Records a lease of 'lease_ms' granted by the answer to a heartbeat sent
 * at 'sent_ms'. */
void lease_granted(struct lease *l, uint64_t sent_ms, uint64_t lease_ms);

/* Records that the controller answered the watch (a document, changes or
 * "no change") at 'at_ms'. */
void lease_document(struct lease *l, uint64_t at_ms);

/* Whether 'l' is held at 'now_ms'. */
bool lease_held(const struct lease *l, uint64_t now_ms);

/* What to do at 'now_ms' with HA VMs, given whether some peer answers the
 * probes ('peer_answers'). */
enum lease_action lease_decide(const struct lease *l, uint64_t now_ms,
                               bool peer_answers);

/* How often to heartbeat, ms: every 'interval_ms' configured, but at
 * least every quarter of the lease. */
uint64_t lease_heartbeat_ms(const struct lease *l, uint64_t interval_ms);

const char *lease_action_name(enum lease_action);

#endif /* agent/lease.h */
