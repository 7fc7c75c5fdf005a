/* Aggregation and rate limiting of flow events, per port. */
#include "agent/flowagg.h"

#include <stdlib.h>
#include <string.h>

#include "utils/util.h"

/* Buckets of the table of ports: a host has a few hundred at most. */
#define PORT_BUCKETS 256

/* A flow being aggregated. */
struct flow {
    struct flow *next;          /* In its hash bucket. */
    struct dp_flow_event key;   /* Its first event, 'time_ns' zeroed. */
    uint64_t window_end;        /* When its current window ends. */
    struct dp_flow_event first; /* The first repeat in this window. */
    uint64_t repeats;           /* Repeats in this window. */
    uint64_t last_ns;           /* Time of the last of them. */
};

/* A port's token bucket. */
struct port {
    struct port *next;    /* In its hash bucket. */
    uint32_t ifindex;     /* The port. */
    double tokens;        /* Records it may report now. */
    uint64_t refilled_ns; /* When 'tokens' was last topped up. */
    uint64_t suppressed;  /* Events suppressed since its last record. */
};

struct flowagg {
    struct flowagg_config cfg;        /* With the defaults filled in. */
    flowagg_emit_func *emit;          /* Reports a record. */
    void *aux;                        /* For 'emit'. */
    struct flow **flows;              /* Hash buckets of flows. */
    size_t mask;                      /* Number of 'flows' buckets - 1. */
    struct port *ports[PORT_BUCKETS]; /* Hash buckets of ports. */
    struct flowagg_stats stats;       /* Counters. */
};

struct flowagg *
flowagg_create(const struct flowagg_config *cfg, flowagg_emit_func *emit,
               void *aux)
{
    struct flowagg *agg = xzalloc(sizeof *agg);
    size_t n = 1;

    agg->cfg.window_ns =
        cfg->window_ns ? cfg->window_ns : FLOWAGG_WINDOW_MS * 1000000ULL;
    agg->cfg.rate = cfg->rate ? cfg->rate : FLOWAGG_RATE;
    agg->cfg.burst = cfg->burst ? cfg->burst : FLOWAGG_BURST;
    agg->cfg.max_flows = cfg->max_flows ? cfg->max_flows : FLOWAGG_MAX_FLOWS;
    agg->emit = emit;
    agg->aux = aux;
    while (n < agg->cfg.max_flows) {
        n *= 2;
    }
    agg->flows = xcalloc(n, sizeof *agg->flows);
    agg->mask = n - 1;
    return agg;
}

void
flowagg_destroy(struct flowagg *agg)
{
    if (!agg) {
        return;
    }
    for (size_t i = 0; i <= agg->mask; i++) {
        for (struct flow *f = agg->flows[i], *next; f; f = next) {
            next = f->next;
            free(f);
        }
    }
    for (size_t i = 0; i < PORT_BUCKETS; i++) {
        for (struct port *p = agg->ports[i], *next; p; p = next) {
            next = p->next;
            free(p);
        }
    }
    free(agg->flows);
    free(agg);
}

/* FNV-1a over the 'n' bytes at 'p'. */
static uint64_t
hash_bytes(const void *p_, size_t n)
{
    const uint8_t *p = p_;
    uint64_t h = 0xcbf29ce484222325ULL;

    for (size_t i = 0; i < n; i++) {
        h = (h ^ p[i]) * 0x100000001b3ULL;
    }
    return h;
}

/* Returns the bucket of port 'ifindex', creating it full. */
static struct port *
get_port(struct flowagg *agg, uint32_t ifindex, uint64_t now_ns)
{
    struct port **bucket = &agg->ports[ifindex % PORT_BUCKETS];
    struct port *p;

    for (p = *bucket; p; p = p->next) {
        if (p->ifindex == ifindex) {
            return p;
        }
    }
    p = xzalloc(sizeof *p);
    p->ifindex = ifindex;
    p->tokens = agg->cfg.burst;
    p->refilled_ns = now_ns;
    p->next = *bucket;
    *bucket = p;
    return p;
}

/* Tops up the bucket of 'p' for the time up to 'now_ns'. */
static void
refill(const struct flowagg *agg, struct port *p, uint64_t now_ns)
{
    if (now_ns > p->refilled_ns) {
        p->tokens += (now_ns - p->refilled_ns) / 1e9 * agg->cfg.rate;
        if (p->tokens > agg->cfg.burst) {
            p->tokens = agg->cfg.burst;
        }
        p->refilled_ns = now_ns;
    }
}

/* Reports a record for 'count' events starting with 'ev' and ending at
 * 'last_ns', unless its port's rate limit suppresses it. */
static void
report(struct flowagg *agg, const struct dp_flow_event *ev, uint64_t count,
       uint64_t last_ns, uint64_t now_ns)
{
    struct port *p = get_port(agg, ev->ifindex, now_ns);
    struct flowagg_record r;

    refill(agg, p, now_ns);
    if (p->tokens < 1) {
        p->suppressed += count;
        agg->stats.suppressed += count;
        return;
    }
    p->tokens -= 1;
    r = (struct flowagg_record){
        .ev = ev,
        .count = count,
        .last_ns = last_ns,
        .suppressed = p->suppressed,
    };
    p->suppressed = 0;
    agg->stats.records++;
    agg->emit(&r, agg->aux);
}

void
flowagg_event(struct flowagg *agg, const struct dp_flow_event *ev)
{
    struct dp_flow_event key = *ev;
    struct flow **bucket, *f;

    agg->stats.events++;
    key.time_ns = 0;
    bucket = &agg->flows[hash_bytes(&key, sizeof key) & agg->mask];
    for (f = *bucket; f; f = f->next) {
        if (!memcmp(&f->key, &key, sizeof key)) {
            break;
        }
    }
    if (f && ev->time_ns < f->window_end) {
        if (!f->repeats) {
            f->first = *ev;
        }
        f->repeats++;
        f->last_ns = ev->time_ns;
        agg->stats.aggregated++;
        return;
    }
    if (f) {
        /* Its window ended before a flush saw it: report the repeats,
         * and start a new window with this event. */
        if (f->repeats) {
            report(agg, &f->first, f->repeats, f->last_ns, ev->time_ns);
        }
        f->repeats = 0;
        f->window_end = ev->time_ns + agg->cfg.window_ns;
    } else if (agg->stats.flows < agg->cfg.max_flows) {
        f = xzalloc(sizeof *f);
        f->key = key;
        f->window_end = ev->time_ns + agg->cfg.window_ns;
        f->next = *bucket;
        *bucket = f;
        agg->stats.flows++;
    }
    report(agg, ev, 1, ev->time_ns, ev->time_ns);
}

void
flowagg_flush(struct flowagg *agg, uint64_t now_ns, bool all)
{
    for (size_t i = 0; i <= agg->mask; i++) {
        struct flow **fp = &agg->flows[i];

        while (*fp) {
            struct flow *f = *fp;

            if (!all && now_ns < f->window_end) {
                fp = &f->next;
                continue;
            }
            if (f->repeats) {
                report(agg, &f->first, f->repeats, f->last_ns, now_ns);
            }
            if (f->repeats && !all) {
                /* Still going: aggregate its next window too, so that a
                 * steady flood costs one record a window. */
                f->repeats = 0;
                f->window_end = now_ns + agg->cfg.window_ns;
                fp = &f->next;
            } else {
                *fp = f->next;
                free(f);
                agg->stats.flows--;
            }
        }
    }
    /* A port whose bucket is full again and owes no count is forgotten:
     * it would start full anyway. */
    for (size_t i = 0; i < PORT_BUCKETS; i++) {
        struct port **pp = &agg->ports[i];

        while (*pp) {
            struct port *p = *pp;

            refill(agg, p, now_ns);
            if (p->tokens >= agg->cfg.burst && !p->suppressed) {
                *pp = p->next;
                free(p);
            } else {
                pp = &p->next;
            }
        }
    }
}

void
flowagg_get_stats(const struct flowagg *agg, struct flowagg_stats *stats)
{
    *stats = agg->stats;
}
