/* Maintenance and balancing (doc/mobility.md): /v1/drs, its
 * recommendations and their application, POST /v1/hosts/NAME/maintenance,
 * what a host in maintenance still holds, and the balancer thread, which
 * every second migrates the VMs of hosts in maintenance away and every
 * interval plans (and in mode automatic runs) the balancer's migrations,
 * all through migrations_start() (controller/migrations.h), never more
 * than max_concurrent running at once.
 *
 * The VMs' CPU use is a rate: the growth of the "cpu_time_ns" their
 * agents report between two reports, over the time between them, as this
 * controller received them.  It is kept in memory only: after a restart
 * the balancer sees memory alone until each VM has reported twice. */
#include "controller/api.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "controller/audit.h"
#include "controller/drs.h"
#include "controller/leader.h"
#include "controller/migrations.h"
#include "controller/store.h"
#include "utils/log.h"
#include "utils/util.h"

/* Two reports closer than this give no rate: the clock's and the agent's
 * jitter would make it up. */
#define RATE_MIN_MS 100

/* The store object of the settings: kind "settings", this name. */
#define SETTINGS_KIND "settings"
#define SETTINGS_NAME "drs"

struct api_drs {
    pthread_mutex_t mutex;  /* Protects everything below. */
    pthread_cond_t wake;    /* Signalled to wake the balancer. */
    pthread_t thread;       /* The balancer, if 'running'. */
    bool running;           /* 'thread' runs. */
    bool stop;              /* Tells 'thread' to end. */
    bool kicked;            /* Tells 'thread' to make a pass now. */
    json_t *usage;          /* "HOST/VM" -> {"cpu_time_ns", "at_ms", "cpu"
                             * (vCPUs in use), "memory_kb"}, from HOST's
                             * last reports. */
    json_t *blocked;        /* Host name -> {VM name -> why it cannot leave
                             * the host in maintenance}, from the last
                             * evacuation pass. */
    json_t *moved;          /* VM name -> time_msec() when maintenance or
                             * the balancer last migrated it. */
    double imbalance;       /* The last plan's imbalance. */
    uint64_t migrations[2]; /* Migrations started, by reason: maintenance,
                             * then drs. */
};

struct api_drs *
api_drs_create(void)
{
    struct api_drs *d = xzalloc(sizeof *d);

    pthread_mutex_init(&d->mutex, NULL);
    pthread_cond_init(&d->wake, NULL);
    d->usage = json_object();
    d->blocked = json_object();
    d->moved = json_object();
    return d;
}

void
api_drs_destroy(struct api_drs *d)
{
    if (d) {
        pthread_mutex_destroy(&d->mutex);
        pthread_cond_destroy(&d->wake);
        json_decref(d->usage);
        json_decref(d->blocked);
        json_decref(d->moved);
        free(d);
    }
}

void
api_drs_note_usage(struct api *api, const char *host, const json_t *vms)
{
    struct api_drs *d = api->drs;
    size_t prefix_len = strlen(host) + 1;
    char *prefix = xasprintf("%s/", host);
    int64_t now = time_msec();
    const char *key, *name;
    json_t *report, *old;
    void *tmp;

    pthread_mutex_lock(&d->mutex);
    /* A VM the report leaves out is not this host's any more. */
    json_object_foreach_safe(d->usage, tmp, key, old)
    {
        if (!strncmp(key, prefix, prefix_len)
            && !json_object_get(vms, key + prefix_len)) {
            json_object_del(d->usage, key);
        }
    }
    json_object_foreach((json_t *) vms, name, report)
    {
        const json_t *cpu_ns = json_object_get(report, "cpu_time_ns");
        const json_t *mem = json_object_get(report, "memory_kb");
        char *k = xasprintf("%s%s", prefix, name);
        double rate = 0;

        old = json_object_get(d->usage, k);
        if (old) {
            json_int_t was =
                json_integer_value(json_object_get(old, "cpu_time_ns"));
            json_int_t at = json_integer_value(json_object_get(old, "at_ms"));

            rate = json_real_value(json_object_get(old, "cpu"));
            if (now - at < RATE_MIN_MS) {
                /* Too soon to tell: keep the older sample. */
                if (mem) {
                    json_object_set(old, "memory_kb", (json_t *) mem);
                }
                free(k);
                continue;
            }
            if (cpu_ns && json_integer_value(cpu_ns) >= was) {
                rate = (double) (json_integer_value(cpu_ns) - was)
                       / ((double) (now - at) * 1e6);
            }
        }
        json_object_set_new(d->usage, k,
                            json_pack("{sIsIsfsI}", "cpu_time_ns",
                                      (json_int_t) json_integer_value(cpu_ns),
                                      "at_ms", (json_int_t) now, "cpu", rate,
                                      "memory_kb",
                                      (json_int_t) json_integer_value(mem)));
        free(k);
    }
    pthread_mutex_unlock(&d->mutex);
    free(prefix);
}

void
api_drs_note_moved(struct api *api, const char *vm)
{
    struct api_drs *d = api->drs;

    pthread_mutex_lock(&d->mutex);
    json_object_set_new(d->moved, vm, json_integer(time_msec()));
    pthread_mutex_unlock(&d->mutex);
}

void
api_drs_set_blocked(struct api *api, const char *host, json_t *blocked)
{
    struct api_drs *d = api->drs;

    pthread_mutex_lock(&d->mutex);
    if (blocked && json_object_size(blocked)) {
        json_object_set(d->blocked, host, blocked);
    } else {
        json_object_del(d->blocked, host);
    }
    pthread_mutex_unlock(&d->mutex);
    json_decref(blocked);
}

double
api_drs_imbalance(struct api *api)
{
    double imbalance;

    pthread_mutex_lock(&api->drs->mutex);
    imbalance = api->drs->imbalance;
    pthread_mutex_unlock(&api->drs->mutex);
    return imbalance;
}

/* The settings. */

/* Fills 's' from stored settings 'body' (NULL: none stored), defaults for
 * what it lacks. */
static void
settings_from_body(struct drs_settings *s, const json_t *body)
{
    const json_t *v;

    s->mode = DRS_OFF;
    drs_mode_parse(api_get_string(body, "mode"), &s->mode);
    v = json_object_get(body, "threshold");
    s->threshold = v ? json_number_value(v) : DRS_THRESHOLD_DEFAULT;
    v = json_object_get(body, "interval_s");
    s->interval_s = v ? json_integer_value(v) : DRS_INTERVAL_DEFAULT;
    v = json_object_get(body, "max_concurrent");
    s->max_concurrent = v ? json_integer_value(v) : DRS_MAX_CONCURRENT_DEFAULT;
}

static json_t *
settings_json(const struct drs_settings *s)
{
    return json_pack("{sssfsisi}", "mode", drs_mode_name(s->mode), "threshold",
                     s->threshold, "interval_s", s->interval_s,
                     "max_concurrent", s->max_concurrent);
}

/* Reads the settings in 'txn' into 's'.  Returns 0 or a store error. */
static int
read_settings(struct store_txn *txn, struct drs_settings *s)
{
    struct store_obj obj;
    int error = store_get(txn, SETTINGS_KIND, SETTINGS_NAME, &obj);

    if (error == ENOENT) {
        settings_from_body(s, NULL);
        return 0;
    } else if (error) {
        return error;
    }
    settings_from_body(s, obj.body);
    store_obj_clear(&obj);
    return 0;
}

int
api_drs_settings(struct api *api, struct drs_settings *s)
{
    struct store_txn *txn;
    int error = store_begin(api->store, false, &txn);

    if (!error) {
        error = read_settings(txn, s);
        store_abort(txn);
    }
    return error;
}

int
api_drs_get(struct api *api, json_t **out, struct api_error *err)
{
    struct drs_settings s;
    int error = api_drs_settings(api, &s);

    if (error) {
        return api_store_error(error, "drs", err);
    }
    *out = settings_json(&s);
    return 200;
}

/* Checks PUT /v1/drs input 'in' and applies it to 's'. */
static int
apply_settings(const json_t *in, struct drs_settings *s, struct api_error *err)
{
    static const char *const known[] = {"mode", "threshold", "interval_s",
                                        "max_concurrent", NULL};
    const char *key;
    json_t *v;

    if (!json_is_object(in)) {
        return api_fail(err, 400, NULL,
                        "drs: expected an object with mode, threshold, "
                        "interval_s and max_concurrent");
    }
    json_object_foreach((json_t *) in, key, v)
    {
        if (!api_is_one_of(key, known)) {
            return api_fail(err, 400, key,
                            "drs: %s: unknown field (expected mode, "
                            "threshold, interval_s, max_concurrent)",
                            key);
        }
    }
    v = json_object_get(in, "mode");
    if (v && !drs_mode_parse(json_string_value(v), &s->mode)) {
        return api_fail(err, 400, "mode",
                        "drs: mode: expected \"off\", \"manual\" or "
                        "\"automatic\"");
    }
    v = json_object_get(in, "threshold");
    if (v) {
        double t = json_number_value(v);

        if (!json_is_number(v) || !isfinite(t) || t < DRS_THRESHOLD_MIN
            || t > DRS_THRESHOLD_MAX) {
            return api_fail(err, 400, "threshold",
                            "drs: threshold: expected a number from %g to "
                            "%g (the largest difference of load between "
                            "hosts left alone)",
                            DRS_THRESHOLD_MIN, DRS_THRESHOLD_MAX);
        }
        s->threshold = t;
    }
    v = json_object_get(in, "interval_s");
    if (v) {
        if (!json_is_integer(v) || json_integer_value(v) < DRS_INTERVAL_MIN
            || json_integer_value(v) > DRS_INTERVAL_MAX) {
            return api_fail(err, 400, "interval_s",
                            "drs: interval_s: expected an integer from %d "
                            "to %d (seconds)",
                            DRS_INTERVAL_MIN, DRS_INTERVAL_MAX);
        }
        s->interval_s = json_integer_value(v);
    }
    v = json_object_get(in, "max_concurrent");
    if (v) {
        if (!json_is_integer(v) || json_integer_value(v) < 1
            || json_integer_value(v) > DRS_MAX_CONCURRENT_MAX) {
            return api_fail(err, 400, "max_concurrent",
                            "drs: max_concurrent: expected an integer from "
                            "1 to %d",
                            DRS_MAX_CONCURRENT_MAX);
        }
        s->max_concurrent = json_integer_value(v);
    }
    return 0;
}

int
api_drs_put(struct api *api, const json_t *in, json_t **out,
            struct api_error *err)
{
    struct store_txn *txn = NULL;
    struct drs_settings s;
    json_t *body = NULL;
    int status, error;

    status = api_begin(api, true, &txn, err);
    if (status) {
        return status;
    }
    error = read_settings(txn, &s);
    if (error) {
        status = api_store_error(error, "drs", err);
        goto out;
    }
    status = apply_settings(in, &s, err);
    if (status) {
        goto out;
    }
    body = settings_json(&s);
    error = api_put_changed(txn, SETTINGS_KIND, SETTINGS_NAME, body);
    if (error) {
        status = api_store_error(error, "drs", err);
        goto out;
    }
    status = api_commit(txn, NULL, err);
    txn = NULL;
    if (!status) {
        *out = body;
        body = NULL;
        status = 200;
    }

out:
    store_abort(txn);
    json_decref(body);
    return status;
}

/* The planner's input, read from the store. */

struct cloud {
    struct sched_host *hosts; /* The hosts. */
    size_t n_hosts;
    json_t *host_index; /* Host name -> index in 'hosts'. */
    struct drs_vm *vms; /* The VMs placed on a known host. */
    size_t n_vms;
    size_t *vm_groups;        /* Their groups' indexes, 'n_vms' slices. */
    struct drs_group *groups; /* The VM groups. */
    size_t n_groups;
    json_t *group_index; /* Group name -> index in 'groups'. */
    json_t *names;       /* Keeps the names the structs point to. */
};

static void
cloud_destroy(struct cloud *c)
{
    api_sched_snapshot_free(c->hosts, c->n_hosts);
    json_decref(c->host_index);
    free(c->vms);
    free(c->vm_groups);
    free(c->groups);
    json_decref(c->group_index);
    json_decref(c->names);
}

/* A name kept alive by 'c'. */
static const char *
keep(struct cloud *c, const char *s)
{
    json_t *v = json_string(s);

    json_array_append_new(c->names, v);
    return json_string_value(v);
}

static int
group_cb(const struct store_obj *obj, void *c_)
{
    struct cloud *c = c_;

    c->groups = xrealloc(c->groups, (c->n_groups + 1) * sizeof *c->groups);
    c->groups[c->n_groups] = (struct drs_group){
        .name = keep(c, obj->name),
        .affinity =
            !strcmp(api_get_string(obj->body, "policy") ?: "", "affinity"),
        .strict = !json_is_false(json_object_get(obj->body, "strict")),
    };
    json_object_set_new(c->group_index, obj->name, json_integer(c->n_groups));
    c->n_groups++;
    return 0;
}

/* What a VM walk needs besides the cloud. */
struct vm_walk {
    struct cloud *c;       /* The cloud being read. */
    struct store_txn *txn; /* For the VMs' status. */
    struct api_drs *d;     /* Usage and moves, with its mutex held. */
    int64_t now;           /* time_msec(). */
    int interval_ms;       /* The balancer's interval. */
    json_t *group_lists;   /* Per VM: its groups' indexes. */
};

/* Whether VM 'obj' on 'host' runs there now, by its desired power and its
 * agent's last report. */
static bool
vm_running(struct store_txn *txn, const struct store_obj *obj,
           const char *host)
{
    struct store_obj report;
    bool running = false;

    if (strcmp(api_get_string(obj->body, "power") ?: "running", "running")) {
        return false;
    }
    if (!store_get(txn, "vm-status", obj->name, &report)) {
        running =
            !strcmp(api_get_string(report.body, "host") ?: "", host)
            && !strcmp(api_get_string(report.body, "state") ?: "", "running");
        store_obj_clear(&report);
    }
    return running;
}

/* Whether VM 'name' is migrating now, as read in 'txn'. */
static bool
vm_migrating(struct store_txn *txn, const char *name)
{
    struct store_obj obj;

    if (store_get(txn, "migration", name, &obj)) {
        return false;
    }
    store_obj_clear(&obj);
    return true;
}

static int
vm_cb(const struct store_obj *obj, void *w_)
{
    struct vm_walk *w = w_;
    struct cloud *c = w->c;
    const char *host = api_get_string(obj->body, "host");
    const json_t *h = json_object_get(c->host_index, host ?: "");
    const json_t *moved = json_object_get(w->d->moved, obj->name);
    json_t *groups = json_array();
    const json_t *usage, *g;
    struct drs_vm *vm;
    char *key;
    size_t i;

    if (!h) {
        json_decref(groups);
        return 0;
    }
    c->vms = xrealloc(c->vms, (c->n_vms + 1) * sizeof *c->vms);
    vm = &c->vms[c->n_vms++];
    *vm = (struct drs_vm){
        .name = keep(c, obj->name),
        .host = json_integer_value(h),
        .need.vcpus = json_integer_value(json_object_get(obj->body, "vcpus")),
        .need.memory_mb =
            json_integer_value(json_object_get(obj->body, "memory_mb")),
        .need.disk_gb =
            json_integer_value(json_object_get(obj->body, "disk_gb")),
        .movable =
            !json_is_true(json_object_get(obj->body, "pinned"))
            && vm_running(w->txn, obj, host)
            && !(moved && w->now - json_integer_value(moved) < w->interval_ms),
    };
    key = xasprintf("%s/%s", host, obj->name);
    usage = json_object_get(w->d->usage, key);
    free(key);
    if (usage) {
        vm->cpu = json_real_value(json_object_get(usage, "cpu"));
        vm->memory_kb =
            json_integer_value(json_object_get(usage, "memory_kb"));
    }
    json_array_foreach(json_object_get(obj->body, "groups"), i, g)
    {
        const json_t *gi =
            json_object_get(c->group_index, json_string_value(g) ?: "");

        if (gi) {
            json_array_append(groups, (json_t *) gi);
        }
    }
    json_array_append_new(w->group_lists, groups);
    return 0;
}

/* Reads the cloud in 'txn' into 'c' for settings 's'. */
static int
read_cloud(struct api *api, struct store_txn *txn,
           const struct drs_settings *s, struct cloud *c)
{
    struct vm_walk w = {
        .c = c,
        .txn = txn,
        .d = api->drs,
        .now = time_msec(),
        .interval_ms = s->interval_s * 1000,
        .group_lists = json_array(),
    };
    size_t n_groups = 0;
    int error;

    memset(c, 0, sizeof *c);
    c->host_index = json_object();
    c->group_index = json_object();
    c->names = json_array();
    error = api_sched_snapshot(api, txn, &c->hosts, &c->n_hosts);
    if (error) {
        json_decref(w.group_lists);
        return error;
    }
    for (size_t i = 0; i < c->n_hosts; i++) {
        json_object_set_new(c->host_index, c->hosts[i].name, json_integer(i));
    }
    error = store_list(txn, "vm-group", NULL, 0, group_cb, c);
    if (!error) {
        pthread_mutex_lock(&api->drs->mutex);
        error = store_list(txn, "vm", NULL, 0, vm_cb, &w);
        pthread_mutex_unlock(&api->drs->mutex);
    }
    if (!error) {
        size_t i, j;
        json_t *list;

        for (i = 0; i < c->n_vms; i++) {
            n_groups += json_array_size(json_array_get(w.group_lists, i));
        }
        c->vm_groups = xcalloc(n_groups + 1, sizeof *c->vm_groups);
        n_groups = 0;
        json_array_foreach(w.group_lists, i, list)
        {
            const json_t *g;

            c->vms[i].groups = &c->vm_groups[n_groups];
            c->vms[i].n_groups = json_array_size(list);
            json_array_foreach(list, j, g)
            {
                c->vm_groups[n_groups++] = json_integer_value(g);
            }
        }
    }
    json_decref(w.group_lists);
    return error;
}

int
api_drs_plan(struct api *api, bool all, json_t **out, struct api_error *err)
{
    struct store_txn *txn = NULL;
    struct drs_settings s;
    struct drs_move *moves;
    struct cloud c;
    double imbalance;
    json_t *hosts, *recs;
    size_t n = 0;
    int status, error;

    status = api_begin(api, false, &txn, err);
    if (status) {
        return status;
    }
    error = read_settings(txn, &s);
    if (!error) {
        error = read_cloud(api, txn, &s, &c);
    }
    store_abort(txn);
    if (error) {
        return api_store_error(error, "drs", err);
    }

    moves = xcalloc(s.max_concurrent + 1, sizeof *moves);
    n = drs_plan(c.hosts, c.n_hosts, c.vms, c.n_vms, c.groups, c.n_groups,
                 s.threshold, s.max_concurrent, moves, &imbalance);
    pthread_mutex_lock(&api->drs->mutex);
    api->drs->imbalance = imbalance;
    pthread_mutex_unlock(&api->drs->mutex);
    if (s.mode == DRS_OFF && !all) {
        n = 0;
    }

    hosts = json_array();
    for (size_t i = 0; i < c.n_hosts; i++) {
        const struct sched_host *h = &c.hosts[i];
        double cpu = 0;
        int64_t mem = 0;

        for (size_t v = 0; v < c.n_vms; v++) {
            if (c.vms[v].host == i) {
                cpu += c.vms[v].cpu;
                mem += c.vms[v].memory_kb;
            }
        }
        json_array_append_new(hosts, json_pack("{sssfsfsIsb}", "name", h->name,
                                               "load", drs_load(h, cpu, mem),
                                               "cpu_used", cpu, "memory_kb",
                                               (json_int_t) mem, "in_service",
                                               drs_in_service(h)));
    }
    recs = json_array();
    for (size_t i = 0; i < n; i++) {
        json_array_append_new(
            recs, json_pack("{sssssssf}", "vm", c.vms[moves[i].vm].name,
                            "from", c.hosts[moves[i].from].name, "to",
                            c.hosts[moves[i].to].name, "imbalance",
                            moves[i].imbalance));
    }
    *out = json_pack("{sssfsfsoso}", "mode", drs_mode_name(s.mode),
                     "threshold", s.threshold, "imbalance", imbalance, "hosts",
                     hosts, "recommendations", recs);
    free(moves);
    cloud_destroy(&c);
    return 200;
}

int
api_drs_recommendations(struct api *api, json_t **out, struct api_error *err)
{
    int status = api_check_leader(api, "drs: recommendations", err);

    return status ? status : api_drs_plan(api, false, out, err);
}

/* Maintenance. */

/* A walk over the VMs of one host. */
struct host_walk {
    struct store_txn *txn;  /* Where to read them. */
    const char *prefix;     /* "HOST/". */
    const char *host;       /* HOST. */
    const json_t *recorded; /* VM -> why, from the last evacuation pass. */
    size_t n;               /* VMs on the host. */
    json_t *blocked;        /* [{"vm", "reason"}]. */
};

static int
blocked_cb(const struct store_obj *index, void *w_)
{
    struct host_walk *w = w_;
    const char *vm = index->name + strlen(w->prefix);
    const char *why = NULL;
    char *reason = NULL;
    struct store_obj obj;

    if (strncmp(index->name, w->prefix, strlen(w->prefix))) {
        return API_STOP;
    }
    w->n++;
    if (store_get(w->txn, "vm", vm, &obj)) {
        return 0;
    }
    if (vm_migrating(w->txn, vm)) {
        /* On its way: a source pauses its guest for the switch-over and
         * reports it paused until the destination takes over, which on a
         * loaded host may take seconds.  Not blocked. */
    } else if (json_is_true(json_object_get(obj.body, "pinned"))) {
        reason = xasprintf("pinned to host \"%s\" (created with \"host\"): "
                           "delete it or exit maintenance",
                           w->host);
    } else if (!vm_running(w->txn, &obj, w->host)) {
        reason = xstrdup("not running: only running VMs migrate live; stop "
                         "and delete it, or start it");
    } else if ((why = api_get_string(w->recorded, vm))) {
        reason = xstrdup(why);
    }
    if (reason) {
        json_array_append_new(w->blocked,
                              json_pack("{ssss}", "vm", vm, "reason", reason));
    }
    free(reason);
    store_obj_clear(&obj);
    return 0;
}

json_t *
api_drs_maintenance_status(struct api *api, struct store_txn *txn,
                           const char *host)
{
    struct host_walk w = {
        .txn = txn,
        .host = host,
        .blocked = json_array(),
    };
    json_t *recorded;
    int error;

    pthread_mutex_lock(&api->drs->mutex);
    recorded = json_deep_copy(json_object_get(api->drs->blocked, host));
    pthread_mutex_unlock(&api->drs->mutex);
    w.recorded = recorded;
    w.prefix = xasprintf("%s/", host);
    error = store_list(txn, "host-vm", w.prefix, 0, blocked_cb, &w);
    free((char *) w.prefix);
    json_decref(recorded);
    if (error && error != API_STOP) {
        json_decref(w.blocked);
        return NULL;
    }
    return json_pack("{sssIso}", "state", w.n ? "entering" : "in-maintenance",
                     "vms", (json_int_t) w.n, "blocked", w.blocked);
}

/* Migrations. */

/* The most one maintenance pass waits before it tries again to move a VM
 * it started to move (whose migration failed since). */
#define MAINTENANCE_RETRY_MS 10000

/* Starts migrating VM 'vm' to host 'to' (NULL: where the scheduler says)
 * for 'reason' ("maintenance" or "drs"): counted, remembered as moved,
 * and recorded in the audit trail.  Returns 0 and the migration in '*out'
 * (if nonnull), or the HTTP status with 'err' set. */
static int
start_migration(struct api *api, const char *vm, const char *to,
                const char *reason, json_t **out, struct api_error *err)
{
    struct migration_request req = {
        .vm = vm,
        .to = to,
        .reason = reason,
        .auto_converge = true,
    };
    json_t *m = NULL;
    char *message;
    int status;

    status = migrations_start(api, &req, &m, err);
    if (status) {
        return status;
    }
    api_drs_note_moved(api, vm);
    pthread_mutex_lock(&api->drs->mutex);
    api->drs->migrations[!strcmp(reason, "drs")]++;
    pthread_mutex_unlock(&api->drs->mutex);
    message = xasprintf("vm \"%s\": migration %s from host \"%s\" to host "
                        "\"%s\" started (reason %s)",
                        vm, api_get_string(m, "id") ?: "?",
                        api_get_string(m, "from") ?: "?",
                        api_get_string(m, "to") ?: "?", reason);
    LOG_INFO("%s: %s", reason, message);
    if (api->audit) {
        struct audit_entry e = {
            .client = "-",
            .who = reason,
            .role = "-",
            .method = "EVENT",
            .path = "vm.migrate",
            .status = 202,
            .message = message,
        };

        audit_record(api->audit, &e);
    }
    free(message);
    if (out) {
        *out = m;
    } else {
        json_decref(m);
    }
    return 0;
}

/* How many more migrations maintenance and the balancer may start now,
 * at most 'max_concurrent' running in all. */
static int
room(struct api *api, int max_concurrent)
{
    int n = max_concurrent - migrations_running(api);

    return n > 0 ? n : 0;
}

/* Starts the migrations of plan 'plan' (api_drs_plan()), as many as
 * 'room' allows.  Returns {"imbalance", "started": [migration...],
 * "refused": [{"vm", "reason"}]}. */
static json_t *
run_plan(struct api *api, const json_t *plan, int room)
{
    json_t *started = json_array(), *refused = json_array();
    const json_t *r;
    size_t i;

    json_array_foreach(json_object_get(plan, "recommendations"), i, r)
    {
        const char *vm = api_get_string(r, "vm");
        struct api_error err = {0};
        json_t *m;

        if ((int) i >= room) {
            json_array_append_new(
                refused, json_pack("{ssss}", "vm", vm, "reason",
                                   "max_concurrent migrations run already"));
        } else if (start_migration(api, vm, api_get_string(r, "to"), "drs", &m,
                                   &err)) {
            json_array_append_new(
                refused, json_pack("{ssss}", "vm", vm, "reason", err.message));
        } else {
            json_array_append_new(started, m);
        }
        api_error_clear(&err);
    }
    return json_pack("{sOsoso}", "imbalance",
                     json_object_get(plan, "imbalance"), "started", started,
                     "refused", refused);
}

int
api_drs_apply(struct api *api, json_t **out, struct api_error *err)
{
    struct drs_settings s;
    json_t *plan = NULL;
    int status, error;

    status = api_check_leader(api, "drs: apply", err);
    if (status) {
        return status;
    }
    error = api_drs_settings(api, &s);
    if (error) {
        return api_store_error(error, "drs", err);
    }
    if (s.mode == DRS_OFF) {
        return api_fail(err, 409, "mode",
                        "drs: mode is off: set it to manual (PUT /v1/drs "
                        "{\"mode\": \"manual\"}) to see and apply its "
                        "recommendations");
    }
    status = api_drs_plan(api, false, &plan, err);
    if (status != 200) {
        return status;
    }
    *out = run_plan(api, plan, room(api, s.max_concurrent));
    json_decref(plan);
    return 200;
}

/* Maintenance. */

/* A walk over the VMs a maintenance pass may move off one host. */
struct evacuee_walk {
    struct store_txn *txn; /* Where to read them. */
    const char *prefix;    /* "HOST/". */
    const char *host;      /* HOST. */
    json_t *vms;           /* The names of those that may leave. */
};

static int
evacuee_cb(const struct store_obj *index, void *w_)
{
    struct evacuee_walk *w = w_;
    const char *vm = index->name + strlen(w->prefix);
    struct store_obj obj;

    if (strncmp(index->name, w->prefix, strlen(w->prefix))) {
        return API_STOP;
    }
    if (store_get(w->txn, "vm", vm, &obj)) {
        return 0;
    }
    if (!json_is_true(json_object_get(obj.body, "pinned"))
        && vm_running(w->txn, &obj, w->host) && !vm_migrating(w->txn, vm)) {
        json_array_append_new(w->vms, json_string(vm));
    }
    store_obj_clear(&obj);
    return 0;
}

static int
maintenance_host_cb(const struct store_obj *obj, void *hosts_)
{
    if (json_is_true(json_object_get(obj->body, "maintenance"))) {
        json_array_append_new(hosts_, json_string(obj->name));
    }
    return 0;
}

/* Moves what may leave host 'host' in maintenance, at most '*room' VMs
 * (less those started), and records why the others cannot. */
static void
evacuate(struct api *api, const char *host, int *room)
{
    struct api_drs *d = api->drs;
    struct evacuee_walk w = {.host = host, .vms = json_array()};
    json_t *blocked = json_object(), *old;
    int64_t now = time_msec();
    const json_t *v;
    size_t i;

    if (store_begin(api->store, false, &w.txn)) {
        json_decref(w.vms);
        json_decref(blocked);
        return;
    }
    w.prefix = xasprintf("%s/", host);
    store_list(w.txn, "host-vm", w.prefix, 0, evacuee_cb, &w);
    store_abort(w.txn);
    free((char *) w.prefix);

    pthread_mutex_lock(&d->mutex);
    old = json_deep_copy(json_object_get(d->blocked, host));
    pthread_mutex_unlock(&d->mutex);
    json_array_foreach(w.vms, i, v)
    {
        const char *vm = json_string_value(v);
        const json_t *why = json_object_get(old, vm);
        struct api_error err = {0};
        json_int_t moved;

        pthread_mutex_lock(&d->mutex);
        moved = json_integer_value(json_object_get(d->moved, vm));
        pthread_mutex_unlock(&d->mutex);
        if (*room <= 0 || (moved && now - moved < MAINTENANCE_RETRY_MS)) {
            /* Its turn comes later: what held it stays true till then. */
            if (why) {
                json_object_set(blocked, vm, (json_t *) why);
            }
        } else if (start_migration(api, vm, NULL, "maintenance", NULL, &err)) {
            json_object_set_new(blocked, vm, json_string(err.message));
        } else {
            (*room)--;
        }
        api_error_clear(&err);
    }
    api_drs_set_blocked(api, host, blocked);
    json_decref(old);
    json_decref(w.vms);
}

/* Evacuates every host in maintenance, within 's''s max_concurrent. */
static void
maintenance_pass(struct api *api, const struct drs_settings *s)
{
    json_t *hosts = json_array();
    struct store_txn *txn;
    const json_t *h;
    int n;
    size_t i;

    if (store_begin(api->store, false, &txn)) {
        json_decref(hosts);
        return;
    }
    store_list(txn, "host", NULL, 0, maintenance_host_cb, hosts);
    store_abort(txn);
    n = json_array_size(hosts) ? room(api, s->max_concurrent) : 0;
    json_array_foreach(hosts, i, h)
    {
        evacuate(api, json_string_value(h), &n);
    }
    json_decref(hosts);
}

/* The balancer thread. */

/* Makes one pass of the balancer: plans, logs a plan that changed, and
 * runs it in mode automatic. */
static void
pass(struct api *api, const struct drs_settings *s, json_t **last)
{
    struct api_error err = {0};
    json_t *plan = NULL;

    if (api_drs_plan(api, false, &plan, &err) != 200) {
        LOG_WARN("drs: cannot plan: %s", err.message);
        api_error_clear(&err);
        return;
    }
    if (s->mode == DRS_AUTOMATIC) {
        json_decref(run_plan(api, plan, room(api, s->max_concurrent)));
    } else if (!json_equal(json_object_get(plan, "recommendations"),
                           json_object_get(*last, "recommendations"))) {
        const json_t *r;
        size_t i;

        json_array_foreach(json_object_get(plan, "recommendations"), i, r)
        {
            LOG_INFO("drs: imbalance %.3f: recommends migrating vm \"%s\" "
                     "from host \"%s\" to host \"%s\" (imbalance %.3f)",
                     json_real_value(json_object_get(plan, "imbalance")),
                     api_get_string(r, "vm"), api_get_string(r, "from"),
                     api_get_string(r, "to"),
                     json_real_value(json_object_get(r, "imbalance")));
        }
    }
    json_decref(*last);
    *last = plan;
}

static void *
balancer_main(void *api_)
{
    struct api *api = api_;
    struct api_drs *d = api->drs;
    int64_t next = 0;
    json_t *last = NULL;

    pthread_mutex_lock(&d->mutex);
    while (!d->stop) {
        struct drs_settings s;
        bool kicked = d->kicked;
        struct timespec until;

        d->kicked = false;
        pthread_mutex_unlock(&d->mutex);
        if (!leader_is(api->leader)) {
            /* The leader balances; a new one plans at once. */
            next = 0;
        } else if (!api_drs_settings(api, &s)) {
            /* Maintenance every second; the balancer every interval. */
            maintenance_pass(api, &s);
            if (kicked || time_msec() >= next) {
                pass(api, &s, &last);
                next = time_msec() + s.interval_s * 1000LL;
            }
        }
        pthread_mutex_lock(&d->mutex);
        if (d->stop || d->kicked) {
            continue;
        }
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += 1;
        pthread_cond_timedwait(&d->wake, &d->mutex, &until);
    }
    pthread_mutex_unlock(&d->mutex);
    json_decref(last);
    return NULL;
}

int
api_drs_start(struct api *api)
{
    struct api_drs *d = api->drs;
    int error = pthread_create(&d->thread, NULL, balancer_main, api);

    if (error) {
        LOG_ERR("drs: cannot start the balancer: %s", strerror(error));
        return error;
    }
    d->running = true;
    return 0;
}

void
api_drs_stop(struct api *api)
{
    struct api_drs *d = api->drs;

    if (!d->running) {
        return;
    }
    pthread_mutex_lock(&d->mutex);
    d->stop = true;
    pthread_cond_signal(&d->wake);
    pthread_mutex_unlock(&d->mutex);
    pthread_join(d->thread, NULL);
    d->running = false;
}

void
api_drs_kick(struct api *api)
{
    struct api_drs *d = api->drs;

    pthread_mutex_lock(&d->mutex);
    d->kicked = true;
    pthread_cond_signal(&d->wake);
    pthread_mutex_unlock(&d->mutex);
}

void
api_drs_counts(struct api *api, uint64_t *maintenance, uint64_t *drs)
{
    pthread_mutex_lock(&api->drs->mutex);
    *maintenance = api->drs->migrations[0];
    *drs = api->drs->migrations[1];
    pthread_mutex_unlock(&api->drs->mutex);
}
