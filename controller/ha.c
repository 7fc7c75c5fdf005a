/* The HA monitor. */
#include "controller/ha.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "controller/api.h"
#include "controller/audit.h"
#include "controller/leader.h"
#include "controller/store.h"
#include "utils/log.h"
#include "utils/util.h"

struct ha {
    struct api *api;  /* What it watches, and records in the audit
                       * trail of. */
    pthread_t thread; /* The monitor thread... */
    bool running;     /* ...if it runs. */

    pthread_mutex_t mutex;   /* Protects what follows. */
    pthread_cond_t wake;     /* Wakes the thread to stop. */
    bool stop;               /* ha_destroy() was called. */
    struct ha_counts counts; /* What it has done. */
};

struct ha *
ha_create(struct api *api)
{
    struct ha *ha = xzalloc(sizeof *ha);

    ha->api = api;
    pthread_mutex_init(&ha->mutex, NULL);
    pthread_cond_init(&ha->wake, NULL);
    return ha;
}

/* Records event 'event' ("host.failed", "vm.ha-restart") in the audit
 * trail, as the migrations do, and in the log, with message 'msg'. */
static void
record(struct ha *ha, const char *event, const char *msg)
{
    struct audit_entry e = {
        .client = "-",
        .who = "controller",
        .role = "-",
        .method = "EVENT",
        .path = event,
        .status = 200,
        .message = msg,
    };

    if (ha->api->audit) {
        audit_record(ha->api->audit, &e);
    } else {
        LOG_INFO("%s: %s", event, msg);
    }
}

static int
host_cb(const struct store_obj *obj, void *names)
{
    json_array_append_new(names, json_string(obj->name));
    return 0;
}

/* Returns the names of the registered hosts (a new array). */
static json_t *
list_hosts(struct api *api)
{
    json_t *names = json_array();
    struct api_error err = {0};
    struct store_txn *txn;

    if (!api_begin(api, false, &txn, &err)) {
        store_list(txn, "host", NULL, 0, host_cb, names);
        store_abort(txn);
    }
    api_error_clear(&err);
    return names;
}

/* Whether the peers of host 'host' that reported within 'lease' ms of
 * 'now' say, by majority, that its agent does not answer their probes (no
 * such peer: it does not).  Stores in '*n' how many reported and in '*no'
 * how many of them say so. */
static bool
peers_lost(struct api *api, const char *host, uint64_t now, int lease,
           size_t *n, size_t *no)
{
    const char *peer;
    json_t *report;

    *n = *no = 0;
    pthread_mutex_lock(&api->mutex);
    json_object_foreach(api->peers, peer, report)
    {
        uint64_t at = json_integer_value(json_object_get(report, "at"));
        const json_t *seen =
            json_object_get(json_object_get(report, "peers"), host);

        if (!strcmp(peer, host) || at + lease < now
            || json_object_get(api->failed, peer)) {
            continue;
        }
        (*n)++;
        *no += !json_is_true(json_object_get(seen, "answers"));
    }
    pthread_mutex_unlock(&api->mutex);
    return *n == 0 || *no * 2 > *n;
}

/* Declares host 'host' failed if both signals say so at 'now'.  A host
 * not heard from since 'from' (when this controller started, or became
 * the leader) counts as heard from then. */
static void
check_host(struct ha *ha, const char *host, uint64_t now, uint64_t from)
{
    struct api *api = ha->api;
    int lease = atomic_load(&api->ha_lease_ms);
    int margin = atomic_load(&api->ha_fence_margin_ms);
    const json_t *heard;
    uint64_t last;
    size_t n, no;
    char *msg;

    pthread_mutex_lock(&api->mutex);
    heard = json_object_get(api->heard_ms, host);
    last = heard ? (uint64_t) json_integer_value(heard) : from;
    pthread_mutex_unlock(&api->mutex);
    if (last < from) {
        last = from;
    }
    if (now < last + lease + margin
        || !peers_lost(api, host, now, lease, &n, &no)
        || !api_host_set_failed(api, host, true)) {
        return;
    }
    msg = xasprintf("host \"%s\" failed: no heartbeat for %llu ms (lease %d "
                    "ms + fence margin %d ms), and %zu of the %zu peers "
                    "that reported say its agent does not answer",
                    host, (unsigned long long) (now - last), lease, margin, no,
                    n);
    LOG_WARN("%s: restarting its HA VMs elsewhere", msg);
    record(ha, "host.failed", msg);
    free(msg);
    pthread_mutex_lock(&ha->mutex);
    ha->counts.host_failures++;
    pthread_mutex_unlock(&ha->mutex);
}

/* A VM of a failed host to restart. */
struct candidate {
    char *name;      /* Its name. */
    json_int_t prio; /* Its "ha_priority". */
};

static int
compare_candidates(const void *a_, const void *b_)
{
    const struct candidate *a = a_, *b = b_;

    if (a->prio != b->prio) {
        return a->prio > b->prio ? -1 : 1;
    }
    return strcmp(a->name, b->name);
}

/* The walk over a failed host's VMs. */
struct vm_walk {
    struct store_txn *txn; /* Where to read. */
    const char *prefix;    /* "HOST/". */
    struct candidate *vms; /* Its VMs with "ha" "restart". */
    size_t n;              /* Number of 'vms'. */
};

static int
vm_cb(const struct store_obj *index, void *w_)
{
    struct vm_walk *w = w_;
    size_t len = strlen(w->prefix);
    struct store_obj obj;
    const json_t *prio;

    if (strncmp(index->name, w->prefix, len)) {
        return STORE_STOP;
    }
    if (store_get(w->txn, "vm", index->name + len, &obj)) {
        return 0;
    }
    if (strcmp(api_get_string(obj.body, "ha") ?: "restart", "off")) {
        prio = json_object_get(obj.body, "ha_priority");
        w->vms = xrealloc(w->vms, (w->n + 1) * sizeof *w->vms);
        w->vms[w->n++] = (struct candidate){
            .name = xstrdup(obj.name),
            .prio =
                prio ? json_integer_value(prio) : API_VM_HA_PRIORITY_DEFAULT,
        };
    }
    store_obj_clear(&obj);
    return 0;
}

/* Restarts the HA VMs of failed host 'host' elsewhere, by priority, and
 * adds those that must wait to 'waiting' (VM name -> why). */
static void
restart_vms(struct ha *ha, const char *host, json_t *waiting)
{
    struct api *api = ha->api;
    struct vm_walk w = {.prefix = NULL};
    struct api_error err = {0};
    char *prefix = xasprintf("%s/", host);

    w.prefix = prefix;
    if (!api_begin(api, false, &w.txn, &err)) {
        store_list(w.txn, "host-vm", prefix, 0, vm_cb, &w);
        store_abort(w.txn);
    }
    qsort(w.vms, w.n, sizeof *w.vms, compare_candidates);
    for (size_t i = 0; i < w.n; i++) {
        const char *vm = w.vms[i].name;
        char *to = NULL, *msg;
        bool was_waiting;
        int status;

        /* A host whose agent came back keeps the VMs not moved yet; the
         * lock makes its heartbeat wait for a restart under way.  A
         * controller that no longer leads stops at once: the new leader
         * goes on. */
        pthread_mutex_lock(&api->ha_mutex);
        if (!api_host_is_failed(api, host) || !leader_is(api->leader)) {
            pthread_mutex_unlock(&api->ha_mutex);
            break;
        }
        status = api_vm_ha_restart(api, vm, host, &to, &err);
        pthread_mutex_unlock(&api->ha_mutex);

        pthread_mutex_lock(&api->mutex);
        was_waiting = json_object_get(api->ha_waiting, vm) != NULL;
        pthread_mutex_unlock(&api->mutex);
        if (status) {
            const char *why = err.message ? err.message : "?";
            const char *colon = strstr(why, ": no host can take it: ");

            msg = xasprintf("ha: waiting for capacity: %s",
                            colon ? colon + 2 : why);
            json_object_set_new(waiting, vm, json_string(msg));
            if (!was_waiting) {
                char *line = xasprintf("vm \"%s\" of failed host \"%s\": %s",
                                       vm, host, msg);

                record(ha, "vm.ha-restart", line);
                free(line);
                pthread_mutex_lock(&ha->mutex);
                ha->counts.restarts_failed++;
                pthread_mutex_unlock(&ha->mutex);
            }
            free(msg);
        } else if (to) {
            msg = xasprintf("vm \"%s\" restarted on host \"%s\" (host \"%s\" "
                            "failed; priority %lld)",
                            vm, to, host, (long long) w.vms[i].prio);
            record(ha, "vm.ha-restart", msg);
            free(msg);
            pthread_mutex_lock(&ha->mutex);
            ha->counts.restarts_ok++;
            pthread_mutex_unlock(&ha->mutex);
        }
        free(to);
        api_error_clear(&err);
    }
    for (size_t i = 0; i < w.n; i++) {
        free(w.vms[i].name);
    }
    free(w.vms);
    free(prefix);
    api_error_clear(&err);
}

void
ha_run(struct ha *ha, uint64_t now)
{
    struct api *api = ha->api;
    int lease = atomic_load(&api->ha_lease_ms);
    int margin = atomic_load(&api->ha_fence_margin_ms);
    json_t *hosts, *waiting, *value;
    uint64_t from = api->started_ms;
    int64_t since = leader_since_ms(api->leader);
    size_t i;

    /* Only the leader declares failures and restarts VMs; the others
     * follow what it publishes (doc/replication.md). */
    if (!leader_is(api->leader)) {
        api_liveness_sync(api);
        return;
    }
    api_liveness_publish(api, false);
    /* Hosts heard from before this process started, or before it became
     * the leader, had no chance to heartbeat to it yet. */
    if (api->leader && (uint64_t) since > from) {
        from = since;
    }
    if (now < from + lease + margin) {
        return;
    }
    waiting = json_object();
    hosts = list_hosts(api);
    json_array_foreach(hosts, i, value)
    {
        if (!api_host_is_failed(api, json_string_value(value))) {
            check_host(ha, json_string_value(value), now, from);
        }
    }
    json_array_foreach(hosts, i, value)
    {
        if (api_host_is_failed(api, json_string_value(value))) {
            restart_vms(ha, json_string_value(value), waiting);
        }
    }
    pthread_mutex_lock(&api->mutex);
    json_decref(api->ha_waiting);
    api->ha_waiting = waiting;
    pthread_mutex_unlock(&api->mutex);
    pthread_mutex_lock(&ha->mutex);
    ha->counts.waiting = json_object_size(waiting);
    pthread_mutex_unlock(&ha->mutex);
    json_decref(hosts);
    api_liveness_publish(api, false);
}

static void *
monitor_main(void *ha_)
{
    struct ha *ha = ha_;

    pthread_mutex_lock(&ha->mutex);
    while (!ha->stop) {
        struct timespec until;

        pthread_mutex_unlock(&ha->mutex);
        ha_run(ha, (uint64_t) time_msec());
        pthread_mutex_lock(&ha->mutex);
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += HA_INTERVAL_MS * 1000000L;
        until.tv_sec += until.tv_nsec / 1000000000L;
        until.tv_nsec %= 1000000000L;
        if (!ha->stop) {
            pthread_cond_timedwait(&ha->wake, &ha->mutex, &until);
        }
    }
    pthread_mutex_unlock(&ha->mutex);
    return NULL;
}

int
ha_start(struct ha *ha)
{
    int error = pthread_create(&ha->thread, NULL, monitor_main, ha);

    if (error) {
        LOG_ERR("ha: cannot start the monitor: %s", strerror(error));
        return error;
    }
    ha->running = true;
    return 0;
}

void
ha_destroy(struct ha *ha)
{
    if (!ha) {
        return;
    }
    if (ha->running) {
        pthread_mutex_lock(&ha->mutex);
        ha->stop = true;
        pthread_cond_signal(&ha->wake);
        pthread_mutex_unlock(&ha->mutex);
        pthread_join(ha->thread, NULL);
    }
    pthread_cond_destroy(&ha->wake);
    pthread_mutex_destroy(&ha->mutex);
    free(ha);
}

void
ha_counts(struct ha *ha, struct ha_counts *c)
{
    pthread_mutex_lock(&ha->mutex);
    *c = ha->counts;
    pthread_mutex_unlock(&ha->mutex);
}
