/* The controller's leadership of its singleton work (doc/replication.md,
 * "Leaders").
 *
 * Several controllers may serve one store; the work that must run in one
 * of them at a time (the host heartbeat and HA monitor, controller/ha.c;
 * the balancer and maintenance, controller/api-drs.c; the migrations'
 * ticker, controller/server.c) runs in the leader of one role, "leader",
 * elected through the store (store_election_start()).  It is one role,
 * not one per kind of work, so that the heartbeats the HA monitor judges
 * by, the usage the balancer weighs and the failures it declares are all
 * in the one process that receives the agents' heartbeats: a controller
 * that does not lead answers heartbeats with 503, and agents with a list
 * of controllers go on to the next until they reach the leader.
 *
 * With SQLite the one controller always leads.  With etcd a controller
 * that loses its lease stops leading at once (leader_is() turns false
 * before another can be elected); one that gains it notes when, so that
 * the HA monitor gives every host a full lease and fence margin from then
 * before it declares any failed. */
#ifndef CONTROLLER_LEADER_H
#define CONTROLLER_LEADER_H 1

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

struct leader;
struct store;

/* The role every controller runs for. */
#define LEADER_ROLE "leader"

/* "leader-lease": the election's lease, ms; shorter than the HA lease. */
#define LEADER_LEASE_DEFAULT_MS 3000
#define LEADER_LEASE_MIN_MS 300
#define LEADER_LEASE_MAX_MS 60000

/* Enters this controller, named by 'candidate' (its advertised URL), in
 * the election of 'store' with a lease of 'ttl_ms', and starts the thread
 * that follows it.  Returns 0 with '*leaderp' set, or an errno value
 * (logged). */
int leader_start(struct store *, const char *candidate, int ttl_ms,
                 struct leader **leaderp);
/* Resigns (another controller may lead at once) and frees.  NULL is a
 * no-op. */
void leader_stop(struct leader *);

/* Whether this controller leads now.  NULL (a controller without an
 * election, as in unit tests): true. */
bool leader_is(struct leader *);
/* The monotonic time (time_msec()) this controller last became the
 * leader, or 0 if it does not lead now.  NULL: 0. */
int64_t leader_since_ms(struct leader *);
/* This controller's candidate string (its advertised URL).  NULL:
 * NULL. */
const char *leader_self(const struct leader *);
/* The candidate string of the controller that leads now (the caller
 * frees it), or NULL if none does or the store cannot tell. */
char *leader_current(struct leader *);

#endif /* controller/leader.h */
