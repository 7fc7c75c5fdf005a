/* The agent's HA lease. */
#include "agent/lease.h"

void
lease_init(struct lease *l, uint64_t now_ms)
{
    l->expires_ms = 0;
    l->length_ms = LEASE_DEFAULT_MS;
    l->start_ms = now_ms;
    l->lapsed_ms = now_ms;
    l->doc_ms = 0;
}

void
lease_granted(struct lease *l, uint64_t sent_ms, uint64_t lease_ms)
{
    uint64_t expires = sent_ms + lease_ms;

    if (l->expires_ms && l->expires_ms < sent_ms) {
        /* It ran out before this heartbeat went. */
        l->lapsed_ms = l->expires_ms;
    }
    l->length_ms = lease_ms;
    /* Answers may come back out of order: a later send wins. */
    if (expires > l->expires_ms) {
        l->expires_ms = expires;
    }
}

void
lease_document(struct lease *l, uint64_t at_ms)
{
    if (at_ms > l->doc_ms) {
        l->doc_ms = at_ms;
    }
}

bool
lease_held(const struct lease *l, uint64_t now_ms)
{
    return l->expires_ms && now_ms < l->expires_ms;
}

enum lease_action
lease_decide(const struct lease *l, uint64_t now_ms, bool peer_answers)
{
    /* Until the first answer, the agent counts as having held a lease
     * from its start. */
    uint64_t end = l->expires_ms ? l->expires_ms : l->start_ms + l->length_ms;

    if (lease_held(l, now_ms) && l->doc_ms > l->lapsed_ms) {
        return LEASE_RUN;
    }
    return peer_answers || now_ms < end ? LEASE_HOLD : LEASE_FENCE;
}

uint64_t
lease_heartbeat_ms(const struct lease *l, uint64_t interval_ms)
{
    uint64_t quarter = l->length_ms / 4;

    return quarter && quarter < interval_ms ? quarter : interval_ms;
}

const char *
lease_action_name(enum lease_action a)
{
    return a == LEASE_RUN ? "run" : a == LEASE_HOLD ? "hold" : "fence";
}
