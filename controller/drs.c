/* The balancer's planner. */
#include "controller/drs.h"

#include <stdlib.h>
#include <string.h>

#include "utils/util.h"

/* Loads closer than this are equal: sums of doubles in another order must
 * not turn a tie into a preference. */
#define EPSILON 1e-9

bool
drs_mode_parse(const char *s, enum drs_mode *mode)
{
    if (s && !strcmp(s, "off")) {
        *mode = DRS_OFF;
    } else if (s && !strcmp(s, "manual")) {
        *mode = DRS_MANUAL;
    } else if (s && !strcmp(s, "automatic")) {
        *mode = DRS_AUTOMATIC;
    } else {
        return false;
    }
    return true;
}

const char *
drs_mode_name(enum drs_mode mode)
{
    return mode == DRS_AUTOMATIC ? "automatic"
           : mode == DRS_MANUAL  ? "manual"
                                 : "off";
}

double
drs_load(const struct sched_host *h, double cpu, int64_t memory_kb)
{
    double c, m;

    if (!h->has_capacity || h->capacity.vcpus <= 0
        || h->capacity.memory_mb <= 0) {
        return 0;
    }
    c = cpu / (double) h->capacity.vcpus;
    m = (double) memory_kb / ((double) h->capacity.memory_mb * 1024.0);
    return c > m ? c : m;
}

bool
drs_in_service(const struct sched_host *h)
{
    return h->ready && !h->maintenance && h->has_capacity
           && h->capacity.vcpus > 0 && h->capacity.memory_mb > 0;
}

/* The planner's picture of the hosts, changed by each planned move. */
struct picture {
    const struct drs_vm *vms;       /* The VMs. */
    const struct drs_group *groups; /* Their groups. */
    size_t n_hosts, n_vms, n_groups;
    struct sched_host *hosts; /* Copies, with claims as moved. */
    double *cpu;              /* Per host: its VMs' CPU use. */
    int64_t *memory_kb;       /* Per host: their memory use. */
    double *load;             /* Per host: drs_load() of the above. */
    uint32_t *members;        /* Per host, per group: members there. */
    size_t *where;            /* Per VM: its host now. */
    bool *moved;              /* Per VM: planned to move already. */
};

static void
picture_init(struct picture *p, const struct sched_host *hosts, size_t n_hosts,
             const struct drs_vm *vms, size_t n_vms,
             const struct drs_group *groups, size_t n_groups)
{
    p->vms = vms;
    p->groups = groups;
    p->n_hosts = n_hosts;
    p->n_vms = n_vms;
    p->n_groups = n_groups;
    p->hosts = xcalloc(n_hosts + 1, sizeof *p->hosts);
    if (n_hosts) {
        memcpy(p->hosts, hosts, n_hosts * sizeof *p->hosts);
    }
    p->cpu = xcalloc(n_hosts + 1, sizeof *p->cpu);
    p->memory_kb = xcalloc(n_hosts + 1, sizeof *p->memory_kb);
    p->load = xcalloc(n_hosts + 1, sizeof *p->load);
    p->members = xcalloc(n_hosts * n_groups + 1, sizeof *p->members);
    p->where = xcalloc(n_vms + 1, sizeof *p->where);
    p->moved = xcalloc(n_vms + 1, sizeof *p->moved);
    for (size_t i = 0; i < n_hosts; i++) {
        p->hosts[i].members = NULL;
    }
    for (size_t v = 0; v < n_vms; v++) {
        size_t h = vms[v].host;

        p->where[v] = h;
        if (h >= n_hosts) {
            continue;
        }
        p->cpu[h] += vms[v].cpu;
        p->memory_kb[h] += vms[v].memory_kb;
        for (size_t g = 0; g < vms[v].n_groups; g++) {
            if (vms[v].groups[g] < n_groups) {
                p->members[h * n_groups + vms[v].groups[g]]++;
            }
        }
    }
    for (size_t h = 0; h < n_hosts; h++) {
        p->load[h] = drs_load(&p->hosts[h], p->cpu[h], p->memory_kb[h]);
    }
}

static void
picture_destroy(struct picture *p)
{
    free(p->hosts);
    free(p->cpu);
    free(p->memory_kb);
    free(p->load);
    free(p->members);
    free(p->where);
    free(p->moved);
}

/* The imbalance of 'p' if host 'a' had load 'la' and host 'b' load 'lb'
 * (SIZE_MAX for none), and in '*hot' (if nonnull) the most loaded host in
 * service, the first by name among equals (SIZE_MAX if fewer than two are
 * in service). */
static double
imbalance(const struct picture *p, size_t a, double la, size_t b, double lb,
          size_t *hot)
{
    double max = 0, min = 0;
    size_t n = 0, top = SIZE_MAX;

    for (size_t h = 0; h < p->n_hosts; h++) {
        double l = h == a ? la : h == b ? lb : p->load[h];

        if (!drs_in_service(&p->hosts[h])) {
            continue;
        }
        if (!n || l < min) {
            min = l;
        }
        if (!n || l > max + EPSILON
            || (l > max - EPSILON
                && strcmp(p->hosts[h].name, p->hosts[top].name) < 0)) {
            max = l > max ? l : max;
            top = h;
        }
        n++;
    }
    if (hot) {
        *hot = n >= 2 ? top : SIZE_MAX;
    }
    return n >= 2 ? max - min : 0;
}

/* Whether the scheduler's filters let VM 'v' of 'p' go to host 'to'. */
static bool
accepts(const struct picture *p, size_t v, size_t to)
{
    const struct drs_vm *vm = &p->vms[v];
    struct sched_group *groups = xcalloc(vm->n_groups + 1, sizeof *groups);
    uint32_t *here = xcalloc(vm->n_groups + 1, sizeof *here);
    struct sched_request req = {
        .need = vm->need,
        .groups = groups,
        .n_groups = vm->n_groups,
        .exclude = p->hosts[p->where[v]].name,
        .migration = true,
    };
    struct sched_host dest = p->hosts[to];
    char *reason;

    for (size_t i = 0; i < vm->n_groups; i++) {
        size_t g = vm->groups[i];

        if (g >= p->n_groups) {
            continue;
        }
        groups[i].name = p->groups[g].name;
        groups[i].affinity = p->groups[g].affinity;
        groups[i].strict = p->groups[g].strict;
        /* The VM itself does not count: it is the one that moves. */
        for (size_t h = 0; h < p->n_hosts; h++) {
            uint32_t n = p->members[h * p->n_groups + g];

            if (h == p->where[v]) {
                n--;
            }
            groups[i].total += n;
            if (n && !groups[i].where) {
                groups[i].where = p->hosts[h].name;
            }
        }
        here[i] = p->members[to * p->n_groups + g];
    }
    dest.members = here;
    reason = sched_filter(&dest, &req);
    free(groups);
    free(here);
    free(reason);
    return reason == NULL;
}

/* Adds 'sign' times resources 'r' (one VM) to the claims of 'h'. */
static void
claim(struct sched_host *h, const struct sched_resources *r, int sign)
{
    h->allocated.vcpus += sign * r->vcpus;
    h->allocated.memory_mb += sign * r->memory_mb;
    h->allocated.disk_gb += sign * r->disk_gb;
    h->vms += sign;
}

/* Moves VM 'v' of 'p' to host 'to'. */
static void
move(struct picture *p, size_t v, size_t to)
{
    const struct drs_vm *vm = &p->vms[v];
    size_t from = p->where[v];

    p->cpu[from] -= vm->cpu;
    p->memory_kb[from] -= vm->memory_kb;
    p->cpu[to] += vm->cpu;
    p->memory_kb[to] += vm->memory_kb;
    p->load[from] =
        drs_load(&p->hosts[from], p->cpu[from], p->memory_kb[from]);
    p->load[to] = drs_load(&p->hosts[to], p->cpu[to], p->memory_kb[to]);
    claim(&p->hosts[from], &vm->need, -1);
    claim(&p->hosts[to], &vm->need, 1);
    for (size_t i = 0; i < vm->n_groups; i++) {
        if (vm->groups[i] < p->n_groups) {
            p->members[from * p->n_groups + vm->groups[i]]--;
            p->members[to * p->n_groups + vm->groups[i]]++;
        }
    }
    p->where[v] = to;
    p->moved[v] = true;
}

/* Whether moving VM 'v' to host 'h', leaving imbalance 'imb', beats the
 * best so far ('bv' to 'bh', leaving 'bimb'; 'bv' SIZE_MAX for none). */
static bool
better(const struct picture *p, size_t v, size_t h, double imb, size_t bv,
       size_t bh, double bimb)
{
    int c;

    if (bv == SIZE_MAX || imb < bimb - EPSILON) {
        return true;
    }
    if (imb > bimb + EPSILON) {
        return false;
    }
    c = strcmp(p->vms[v].name, p->vms[bv].name);
    return c < 0 || (!c && strcmp(p->hosts[h].name, p->hosts[bh].name) < 0);
}

size_t
drs_plan(const struct sched_host *hosts, size_t n_hosts,
         const struct drs_vm *vms, size_t n_vms,
         const struct drs_group *groups, size_t n_groups, double threshold,
         size_t max_moves, struct drs_move *moves, double *imbalance_p)
{
    struct picture p;
    size_t n = 0, hot;
    double now;

    picture_init(&p, hosts, n_hosts, vms, n_vms, groups, n_groups);
    now = imbalance(&p, SIZE_MAX, 0, SIZE_MAX, 0, &hot);
    *imbalance_p = now;
    while (n < max_moves && hot != SIZE_MAX && now > threshold + EPSILON) {
        size_t best_v = SIZE_MAX, best_h = SIZE_MAX;
        double best = now;

        for (size_t v = 0; v < n_vms; v++) {
            const struct drs_vm *vm = &vms[v];
            double from_load;

            if (p.where[v] != hot || !vm->movable || p.moved[v]) {
                continue;
            }
            from_load = drs_load(&p.hosts[hot], p.cpu[hot] - vm->cpu,
                                 p.memory_kb[hot] - vm->memory_kb);
            for (size_t h = 0; h < n_hosts; h++) {
                double to_load, imb;

                if (h == hot || !drs_in_service(&p.hosts[h])) {
                    continue;
                }
                to_load = drs_load(&p.hosts[h], p.cpu[h] + vm->cpu,
                                   p.memory_kb[h] + vm->memory_kb);
                imb = imbalance(&p, hot, from_load, h, to_load, NULL);
                if (imb < now - EPSILON
                    && better(&p, v, h, imb, best_v, best_h, best)
                    && accepts(&p, v, h)) {
                    best_v = v;
                    best_h = h;
                    best = imb;
                }
            }
        }
        if (best_v == SIZE_MAX) {
            break;
        }
        moves[n++] = (struct drs_move){
            .vm = best_v,
            .from = hot,
            .to = best_h,
            .imbalance = best,
        };
        move(&p, best_v, best_h);
        now = imbalance(&p, SIZE_MAX, 0, SIZE_MAX, 0, &hot);
    }
    picture_destroy(&p);
    return n;
}
