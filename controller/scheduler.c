/* The VM scheduler: filters, then weighers. */
#include "controller/scheduler.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "utils/util.h"

bool
sched_weigher_parse(const char *s, enum sched_weigher *w)
{
    if (s && !strcmp(s, "spread")) {
        *w = SCHED_SPREAD;
    } else if (s && !strcmp(s, "pack")) {
        *w = SCHED_PACK;
    } else {
        return false;
    }
    return true;
}

const char *
sched_weigher_name(enum sched_weigher w)
{
    return w == SCHED_PACK ? "pack" : "spread";
}

void
sched_format_mb(int64_t mb, char buf[32])
{
    /* Exact, so that "3G free, needs 3073M" never reads "needs 3.0G". */
    if (mb >= 1024 && mb % 1024 == 0) {
        snprintf(buf, 32, "%" PRId64 "G", mb / 1024);
    } else if (mb >= 1024 && mb * 10 % 1024 == 0) {
        snprintf(buf, 32, "%.1fG", mb / 1024.0);
    } else {
        snprintf(buf, 32, "%" PRId64 "M", mb);
    }
}

/* 'capacity' times 'ratio', rounded down, less 'allocated'. */
static int64_t
left(int64_t capacity, double ratio, int64_t allocated)
{
    return (int64_t) ((double) capacity * ratio) - allocated;
}

void
sched_free(const struct sched_host *h, struct sched_resources *free)
{
    free->vcpus = left(h->capacity.vcpus, h->cpu_ratio, h->allocated.vcpus);
    free->memory_mb =
        left(h->capacity.memory_mb, h->memory_ratio, h->allocated.memory_mb);
    free->disk_gb =
        h->capacity.disk_gb < 0
            ? INT64_MAX
            : left(h->capacity.disk_gb, h->disk_ratio, h->allocated.disk_gb);
}

/* Whether 'req' can go on 'h'.  If not, and 'reason' is not NULL, stores
 * why in '*reason' (a new string): a placement that finds a host asks no
 * reasons, so that hosts that are full cost no formatting. */
static bool
filter(const struct sched_host *h, const struct sched_request *req,
       char **reason)
{
    struct sched_resources free;
    const char *fixed = NULL;

    if (req->exclude && !strcmp(req->exclude, h->name)) {
        fixed = "the VM runs there already";
    } else if (!h->ready) {
        fixed = "unreachable (no heartbeat within the timeout)";
    } else if (h->maintenance) {
        fixed = "in maintenance";
    } else if (!h->has_capacity) {
        fixed = "its agent reported no capacity";
    } else if (req->migration && !h->migrates_in) {
        fixed = "its hypervisor driver takes no live migration in (only "
                "\"qemu\" does)";
    }
    if (fixed) {
        if (reason) {
            *reason = xstrdup(fixed);
        }
        return false;
    }
    sched_free(h, &free);
    if (free.vcpus < req->need.vcpus) {
        if (reason) {
            *reason =
                xasprintf("vcpus %" PRId64 " free (%" PRId64 " x %g, %" PRId64
                          " allocated), needs %" PRId64,
                          free.vcpus < 0 ? 0 : free.vcpus, h->capacity.vcpus,
                          h->cpu_ratio, h->allocated.vcpus, req->need.vcpus);
        }
        return false;
    }
    if (free.memory_mb < req->need.memory_mb) {
        if (reason) {
            char has[32], needs[32];

            sched_format_mb(free.memory_mb < 0 ? 0 : free.memory_mb, has);
            sched_format_mb(req->need.memory_mb, needs);
            *reason = xasprintf("memory %s free, needs %s", has, needs);
        }
        return false;
    }
    if (free.disk_gb < req->need.disk_gb) {
        if (reason) {
            *reason = xasprintf("disk %" PRId64 "G free, needs %" PRId64 "G",
                                free.disk_gb < 0 ? 0 : free.disk_gb,
                                req->need.disk_gb);
        }
        return false;
    }
    for (size_t i = 0; i < req->n_groups; i++) {
        const struct sched_group *g = &req->groups[i];
        uint32_t here = h->members ? h->members[i] : 0;

        if (!g->strict) {
            continue;
        }
        if (g->affinity && g->total && !here) {
            if (reason) {
                *reason = xasprintf("affinity group \"%s\": its VMs are on "
                                    "host \"%s\"",
                                    g->name, g->where ? g->where : "?");
            }
            return false;
        }
        if (!g->affinity && here) {
            if (reason) {
                *reason = xasprintf("anti-affinity group \"%s\": %" PRIu32
                                    " of its VMs %s here",
                                    g->name, here, here == 1 ? "is" : "are");
            }
            return false;
        }
    }
    return true;
}

char *
sched_filter(const struct sched_host *h, const struct sched_request *req)
{
    char *reason = NULL;

    return filter(h, req, &reason) ? NULL : reason;
}

/* The weight of 'h' for 'req' from its preferred groups. */
static int64_t
group_weight(const struct sched_host *h, const struct sched_request *req)
{
    int64_t weight = 0;

    for (size_t i = 0; h->members && i < req->n_groups; i++) {
        if (!req->groups[i].strict) {
            int64_t n = h->members[i];

            weight += req->groups[i].affinity ? n : -n;
        }
    }
    return weight;
}

/* The fraction of what 'h' offers of 'resource' (its capacity times
 * 'ratio') that is still free after 'allocated'. */
static double
free_fraction(int64_t capacity, double ratio, int64_t allocated)
{
    double total = (double) capacity * ratio;

    return total > 0 ? (total - (double) allocated) / total : 0;
}

/* What the weighers rank a host by, computed once per host. */
struct weight {
    int64_t groups; /* Preferred groups: more is better. */
    double memory;  /* Free memory as a fraction: more is better for
                     * spread, less for pack. */
    double cpu;     /* Likewise free vCPUs. */
};

static void
weigh(const struct sched_host *h, const struct sched_request *req,
      struct weight *w)
{
    w->groups = group_weight(h, req);
    w->memory = free_fraction(h->capacity.memory_mb, h->memory_ratio,
                              h->allocated.memory_mb);
    w->cpu =
        free_fraction(h->capacity.vcpus, h->cpu_ratio, h->allocated.vcpus);
}

/* Whether host 'a' (weighed 'wa') ranks before 'b' (weighed 'wb') for
 * 'req': < 0, 0 or > 0. */
static int
compare(const struct sched_host *a, const struct weight *wa,
        const struct sched_host *b, const struct weight *wb,
        const struct sched_request *req)
{
    int sign = req->weigher == SCHED_PACK ? -1 : 1;

    if (wa->groups != wb->groups) {
        return wa->groups > wb->groups ? -1 : 1;
    }
    if (wa->memory != wb->memory) {
        return wa->memory > wb->memory ? -sign : sign;
    }
    if (wa->cpu != wb->cpu) {
        return wa->cpu > wb->cpu ? -sign : sign;
    }
    return strcmp(a->name, b->name);
}

/* Stores in '*why' the reasons of sched_choose() for the 'n' 'hosts', none
 * of which passes the filters for 'req'. */
static void
explain(const struct sched_host *hosts, size_t n,
        const struct sched_request *req, size_t max_reasons, char **why)
{
    size_t n_out = 0, len = 0, alloc = 0;
    char *reasons = NULL;

    for (size_t i = 0; i < n; i++) {
        const struct sched_host *h = &hosts[i];
        char *reason = NULL;

        if (req->host && strcmp(req->host, h->name)) {
            continue;
        }
        filter(h, req, n_out < max_reasons ? &reason : NULL);
        if (reason) {
            size_t need = strlen(h->name) + strlen(reason) + 4;

            if (len + need >= alloc) {
                alloc = 2 * (len + need) + 64;
                reasons = xrealloc(reasons, alloc);
            }
            len += snprintf(reasons + len, alloc - len, "%s%s: %s",
                            len ? "; " : "", h->name, reason);
            free(reason);
        }
        n_out++;
    }
    if (n_out > max_reasons) {
        char *more = xasprintf("%s; and %zu more host%s", reasons ?: "",
                               n_out - max_reasons,
                               n_out - max_reasons == 1 ? "" : "s");

        free(reasons);
        reasons = more;
    }
    *why = reasons ? reasons : xstrdup("no host is registered");
}

long
sched_choose(const struct sched_host *hosts, size_t n,
             const struct sched_request *req, size_t max_reasons, char **why)
{
    struct weight best_w = {0};
    long best = -1;

    for (size_t i = 0; i < n; i++) {
        const struct sched_host *h = &hosts[i];
        struct weight w;

        if ((req->host && strcmp(req->host, h->name))
            || !filter(h, req, NULL)) {
            continue;
        }
        weigh(h, req, &w);
        if (best < 0 || compare(h, &w, &hosts[best], &best_w, req) < 0) {
            best = i;
            best_w = w;
        }
    }
    if (best < 0 && why) {
        explain(hosts, n, req, max_reasons, why);
    }
    return best;
}
