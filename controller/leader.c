#include "controller/leader.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "controller/store.h"
#include "utils/log.h"
#include "utils/util.h"

/* How long the follower thread waits for a change at a time, so that it
 * notices leader_stop() (ms). */
#define LEADER_POLL_MS 200

struct leader {
    struct store_election *election; /* The store's election. */
    char *self;                      /* Our candidate string. */
    atomic_llong since_ms;           /* When we last became the leader,
                                      * or 0 while we do not lead. */
    atomic_bool stop;                /* leader_stop() was called. */
    pthread_t thread;                /* Follows the election. */
};

/* Follows the election: notes and logs every change of our leadership. */
static void *
follow_main(void *l_)
{
    struct leader *l = l_;
    bool was = false;

    while (!atomic_load(&l->stop)) {
        bool is;

        store_election_wait(l->election, was, LEADER_POLL_MS);
        is = store_election_is_leader(l->election);
        if (is == was) {
            continue;
        }
        if (is) {
            atomic_store(&l->since_ms, time_msec());
            LOG_INFO("leader: this controller (%s) leads now: it runs the "
                     "HA monitor, the balancer and the migrations' ticker",
                     l->self);
        } else {
            char *other = store_election_leader(l->election);

            atomic_store(&l->since_ms, 0);
            LOG_WARN("leader: this controller (%s) no longer leads (the "
                     "leader is %s): its singleton work stops",
                     l->self, other ? other : "not known yet");
            free(other);
        }
        was = is;
    }
    return NULL;
}

int
leader_start(struct store *store, const char *candidate, int ttl_ms,
             struct leader **leaderp)
{
    struct leader *l = xzalloc(sizeof *l);
    int error;

    *leaderp = NULL;
    error = store_election_start(store, LEADER_ROLE, candidate, ttl_ms,
                                 &l->election);
    if (error) {
        LOG_ERR("leader: cannot enter the election as \"%s\": %s", candidate,
                strerror(error));
        free(l);
        return error;
    }
    l->self = xstrdup(candidate);
    atomic_init(&l->since_ms, 0);
    atomic_init(&l->stop, false);
    if (store_election_is_leader(l->election)) {
        /* SQLite, or an etcd election won at once: the follower would
         * note it only after its first wait. */
        atomic_store(&l->since_ms, time_msec());
    }
    error = pthread_create(&l->thread, NULL, follow_main, l);
    if (error) {
        LOG_ERR("leader: cannot start the thread that follows the "
                "election: %s",
                strerror(error));
        store_election_stop(l->election);
        free(l->self);
        free(l);
        return error;
    }
    *leaderp = l;
    return 0;
}

void
leader_stop(struct leader *l)
{
    if (l) {
        atomic_store(&l->stop, true);
        pthread_join(l->thread, NULL);
        store_election_stop(l->election);
        free(l->self);
        free(l);
    }
}

bool
leader_is(struct leader *l)
{
    return !l || store_election_is_leader(l->election);
}

int64_t
leader_since_ms(struct leader *l)
{
    if (!l || !store_election_is_leader(l->election)) {
        return 0;
    }
    return atomic_load(&l->since_ms);
}

const char *
leader_self(const struct leader *l)
{
    return l ? l->self : NULL;
}

char *
leader_current(struct leader *l)
{
    return l ? store_election_leader(l->election) : NULL;
}
