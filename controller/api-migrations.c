/* Live migrations: POST /v1/vms/NAME/migrate and /migrate/cancel, GET
 * /v1/migrations, the state machine the agents' reports drive, the
 * conntrack relay from the source's agent to the destination's, and the
 * metrics and audit events of it all (doc/mobility.md).
 *
 * The controller never calls QEMU: it writes what each host's document
 * says (controller/desired.c reads the "migration" objects) and reads
 * what the agents report. */
#include "controller/migrations.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "controller/agents.h"
#include "controller/api.h"
#include "controller/audit.h"
#include "controller/store.h"
#include "utils/log.h"
#include "utils/util.h"

/* The limits of a request. */
#define DOWNTIME_MAX_MS 60000      /* Longest pause one may allow. */
#define BANDWIDTH_MAX_MBPS 1000000 /* 1 Tbit/s. */
#define CT_ENTRIES_MAX 65536       /* Most conntrack entries per POST. */
#define CT_HEX_MAX 1024            /* Longest key or value, hex digits. */
#define REPORT_TEXT_MAX 1024       /* Longest error text in a report. */
#define URI_MAX 256                /* Longest migration URI. */

/* The histograms' upper bounds, seconds. */
static const double downtime_buckets[] = {0.01, 0.025, 0.05, 0.1, 0.25,
                                          0.5,  1,     2.5,  5,   10};
static const double duration_buckets[] = {1,  2.5, 5,   10,  30,
                                          60, 120, 300, 600, 1800};
#define N_BUCKETS 10

/* A histogram of the Prometheus kind. */
struct histogram {
    uint64_t counts[N_BUCKETS]; /* Observations at most each bound. */
    uint64_t count;             /* All observations. */
    double sum;                 /* Their sum. */
};

/* What the metrics count, since the controller started. */
struct api_migr {
    pthread_mutex_t mutex;     /* Protects everything below. */
    uint64_t completed;        /* Migrations that completed... */
    uint64_t failed;           /* ...failed... */
    uint64_t cancelled;        /* ...or were cancelled. */
    struct histogram downtime; /* Their downtime, seconds. */
    struct histogram duration; /* Their duration, seconds. */
};

struct api_migr *
api_migrations_create(void)
{
    struct api_migr *m = xzalloc(sizeof *m);

    pthread_mutex_init(&m->mutex, NULL);
    return m;
}

void
api_migrations_destroy(struct api_migr *m)
{
    if (m) {
        pthread_mutex_destroy(&m->mutex);
        free(m);
    }
}

static void
observe(struct histogram *h, const double *bounds, double value)
{
    for (size_t i = 0; i < N_BUCKETS; i++) {
        h->counts[i] += value <= bounds[i];
    }
    h->count++;
    h->sum += value;
}

/* The wall clock in milliseconds: migration times outlive the process. */
static int64_t
wall_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static json_int_t
get_int(const json_t *obj, const char *key)
{
    return json_integer_value(json_object_get(obj, key));
}

/* What ended in a write transaction, for the metrics and the audit trail
 * once it committed: an array of {"vm", "id", "state", "from", "to",
 * "error", "downtime_ms", "total_ms"}. */
static void
finished_add(json_t *finished, const json_t *mig, const char *state,
             const json_t *result)
{
    json_t *f;

    if (!finished) {
        return;
    }
    f = json_pack("{sOsOsssOsO}", "vm", json_object_get(mig, "vm"), "id",
                  json_object_get(mig, "id"), "state", state, "from",
                  json_object_get(mig, "from"), "to",
                  json_object_get(mig, "to"));
    json_object_update(f, (json_t *) result);
    json_array_append_new(finished, f);
}

/* Counts the migrations of 'finished' and writes their audit events. */
static void
finished_done(struct api *api, const json_t *finished)
{
    struct api_migr *m = api->migr;
    const json_t *f;
    size_t i;

    json_array_foreach(finished, i, f)
    {
        const char *state = api_get_string(f, "state");
        const char *vm = api_get_string(f, "vm");
        const char *error = api_get_string(f, "error");
        const json_t *downtime = json_object_get(f, "downtime_ms");
        const json_t *total = json_object_get(f, "total_ms");
        char *message;

        pthread_mutex_lock(&m->mutex);
        if (!strcmp(state, "completed")) {
            m->completed++;
            if (json_is_integer(total)) {
                observe(&m->duration, duration_buckets,
                        json_integer_value(total) / 1000.0);
            }
        } else if (!strcmp(state, "cancelled")) {
            m->cancelled++;
        } else if (!strcmp(state, "failed")) {
            m->failed++;
        }
        if (json_is_integer(downtime)) {
            observe(&m->downtime, downtime_buckets,
                    json_integer_value(downtime) / 1000.0);
        }
        pthread_mutex_unlock(&m->mutex);
        if (!strcmp(state, "downtime")) {
            /* Only the source's late word on a completed one. */
            continue;
        }
        message = xasprintf(
            "vm \"%s\": migration %s from host \"%s\" to host \"%s\" %s%s%s",
            vm, api_get_string(f, "id"), api_get_string(f, "from"),
            api_get_string(f, "to"), state, error ? ": " : "",
            error ? error : "");
        LOG_INFO("%s", message);
        if (api->audit) {
            struct audit_entry e = {
                .client = "-",
                .who = "controller",
                .role = "-",
                .method = "EVENT",
                .path = "vm.migrate",
                .status = strcmp(state, "completed") ? 500 : 200,
                .message = message,
            };

            audit_record(api->audit, &e);
        }
        free(message);
    }
}

/* Reads the migration of VM 'vm' into 'obj': 0, ENOENT or a store
 * error. */
static int
get_migration(struct store_txn *txn, const char *vm, struct store_obj *obj)
{
    return store_get(txn, "migration", vm, obj);
}

/* The API form of stored migration 'body' with its progress object
 * 'progress' (NULL: none): the body without what only the controller
 * keeps. */
static json_t *
migration_out(const json_t *body, const json_t *progress)
{
    json_t *out = json_deep_copy(body);
    const json_t *p = json_object_get(progress, "progress");

    json_object_del(out, "started_ms");
    if (p) {
        json_object_set(out, "progress", (json_t *) p);
    }
    return out;
}

/* Writes the progress object of migration 'vm': the agents' last
 * 'progress' (NULL: keep it) and now as its last word. */
static int
touch(struct store_txn *txn, const char *vm, const json_t *progress,
      const json_t *source)
{
    struct store_obj obj;
    json_t *body;
    int error = store_get(txn, "migration-progress", vm, &obj);

    if (error && error != ENOENT) {
        return error;
    }
    body = error ? json_object() : json_deep_copy(obj.body);
    if (!error) {
        store_obj_clear(&obj);
    }
    if (progress) {
        json_object_set(body, "progress", (json_t *) progress);
    }
    if (source) {
        json_object_set(body, "source", (json_t *) source);
    }
    json_object_set_new(body, "touched_ms", json_integer(wall_ms()));
    error = store_put(txn, "migration-progress", vm, body, STORE_ANY, NULL);
    json_decref(body);
    return error;
}

/* Ends migration 'mig' (of VM 'mig->name') in 'txn' in 'state'
 * ("completed", "failed" or "cancelled") with 'result' ({"error"} or
 * {"downtime_ms", "total_ms"}): deletes it and its progress, and keeps
 * what came of it as the VM's "migration-result".  Adds it to
 * 'finished'. */
static int
end_migration(struct store_txn *txn, const struct store_obj *mig,
              const char *state, const json_t *result, json_t *finished)
{
    json_t *last = json_deep_copy(mig->body);
    char now[32];
    int error;

    api_now(now);
    json_object_del(last, "started_ms");
    json_object_set_new(last, "state", json_string(state));
    json_object_set(last, "result", (json_t *) result);
    json_object_set_new(last, "finished", json_string(now));
    error = store_delete(txn, "migration", mig->name, STORE_ANY);
    if (!error) {
        error = store_delete(txn, "migration-progress", mig->name, STORE_ANY);
        error = error == ENOENT ? 0 : error;
    }
    if (!error) {
        error = store_put(txn, "migration-result", mig->name, last, STORE_ANY,
                          NULL);
    }
    json_decref(last);
    if (!error) {
        finished_add(finished, mig->body, state, result);
    }
    return error;
}

/* Rolls back migration 'mig' in 'txn': the destination's documents lose
 * the incoming VM, the source's its "migrate", the destination its claim.
 * 'state' is "failed" or "cancelled", 'why' the error.  The destination's
 * new allocation goes in '*allocp' for api_sched_note(). */
static int
roll_back(struct store_txn *txn, const struct store_obj *mig,
          const char *state, const char *why, json_t **allocp,
          json_t *finished)
{
    const char *vm = mig->name;
    const char *to = api_get_string(mig->body, "to");
    json_t *result = json_pack("{ss}", "error", why);
    struct store_obj obj;
    int error = store_get(txn, "vm", vm, &obj);

    *allocp = NULL;
    if (!error) {
        error = api_vm_release_claim(txn, obj.body, to, allocp);
        store_obj_clear(&obj);
    } else if (error == ENOENT) {
        error = 0;
    }
    if (!error) {
        error = end_migration(txn, mig, state, result, finished);
    }
    json_decref(result);
    return error;
}

/* Completes migration 'mig' on the destination's activation: moves the
 * VM, its ports and its claim in 'txn' (vms_move_host(), the destination
 * claimed when it started). */
static int
activate(struct api *api, struct store_txn *txn, const struct store_obj *mig,
         const json_t *source, json_t *finished)
{
    const char *to = api_get_string(mig->body, "to");
    char *what = api_what("vm", mig->name);
    json_t *result = json_object();
    struct api_error err = {0};
    struct store_obj vm;
    int error = store_get(txn, "vm", mig->name, &vm);

    if (!error) {
        if (vms_move_host(api, txn, &vm, to, false, what, &err)) {
            LOG_ERR("%s: completing its migration to host \"%s\": %s", what,
                    to, err.message);
            error = EIO;
        }
        store_obj_clear(&vm);
    }
    if (!error) {
        /* The source forwards the VM's frames a while longer: the other
         * hosts may take the revision that moves the VM after the source
         * (doc/mobility.md "forward"). */
        char *key =
            xasprintf("%s/%s", api_get_string(mig->body, "from"), mig->name);
        json_t *until =
            json_pack("{sI}", "until_ms",
                      (json_int_t) (wall_ms() + MIGRATION_FORWARD_GRACE_MS));

        error = store_put(txn, "vm-forward", key, until, STORE_ANY, NULL);
        json_decref(until);
        free(key);
    }
    api_error_clear(&err);
    free(what);
    if (json_is_integer(json_object_get(source, "downtime_ms"))) {
        json_object_set(result, "downtime_ms",
                        json_object_get(source, "downtime_ms"));
    }
    json_object_set_new(
        result, "total_ms",
        json_is_integer(json_object_get(source, "total_ms"))
            ? json_incref(json_object_get(source, "total_ms"))
            : json_integer(wall_ms() - get_int(mig->body, "started_ms")));
    if (!error) {
        error = end_migration(txn, mig, "completed", result, finished);
    }
    json_decref(result);
    return error;
}

/* Checks that host 'to' can take the NICs of VM 'vm' as the activation
 * will place them: it carries their networks' MTU, and every host of
 * those networks keeps a flood list its datapath holds.  Refused now
 * rather than then, when the VM runs there already. */
static int
check_nics(struct store_txn *txn, const struct store_obj *vm, const char *to,
           const char *what, struct api_error *err)
{
    struct store_obj host;
    const json_t *nic;
    size_t i;
    int status = 0, error;

    error = store_get(txn, "host", to, &host);
    if (error) {
        return api_store_error(error, what, err);
    }
    json_array_foreach(json_object_get(vm->body, "nics"), i, nic)
    {
        const char *network = api_get_string(nic, "network");
        struct store_obj net;

        error = store_get(txn, "network", network ?: "", &net);
        if (error == ENOENT) {
            continue;
        } else if (error) {
            status = api_store_error(error, what, err);
            break;
        }
        status = api_host_check_mtu(to, host.body, network,
                                    get_int(net.body, "mtu"), what, err);
        store_obj_clear(&net);
        if (!status) {
            char *port = xasprintf("%s-%zu", vm->name, i);

            status =
                api_check_flood_lists(txn, port, network, to, "to", what, err);
            free(port);
        }
        if (status) {
            break;
        }
    }
    store_obj_clear(&host);
    return status;
}

int
migrations_start(struct api *api, const struct migration_request *req,
                 json_t **out, struct api_error *err)
{
    static const char *const reasons[] = {"api", "maintenance", "drs", NULL};
    char *what = api_what("vm", req->vm);
    struct store_txn *txn = NULL;
    struct store_obj vm = {0}, mig;
    json_t *alloc = NULL, *body = NULL, *progress = NULL;
    const char *from, *vm_status;
    char *to = NULL;
    char id[37], now[32];
    int downtime = req->downtime_ms ?: MIGRATION_DOWNTIME_DEFAULT_MS;
    int status, error;

    if (out) {
        *out = NULL;
    }
    if (!req->vm || !api_name_is_valid(req->vm)) {
        status = api_fail(err, 404, NULL, "%s: not found", what);
        goto out;
    }
    if (!req->reason || !api_is_one_of(req->reason, reasons)) {
        status = api_fail(err, 400, "reason",
                          "%s: migrate: reason: expected \"api\", "
                          "\"maintenance\" or \"drs\"",
                          what);
        goto out;
    }
    if (downtime < 1 || downtime > DOWNTIME_MAX_MS) {
        status = api_fail(err, 400, "downtime_ms",
                          "%s: migrate: downtime_ms %d: must be 1..%d "
                          "(milliseconds the guest may pause)",
                          what, downtime, DOWNTIME_MAX_MS);
        goto out;
    }
    if (req->max_bandwidth_mbps < 0
        || req->max_bandwidth_mbps > BANDWIDTH_MAX_MBPS) {
        status = api_fail(err, 400, "max_bandwidth_mbps",
                          "%s: migrate: max_bandwidth_mbps %d: must be "
                          "0..%d (Mbit/s, 0 for no limit)",
                          what, req->max_bandwidth_mbps, BANDWIDTH_MAX_MBPS);
        goto out;
    }
    if (req->to) {
        status = api_check_name(req->to, "to", what, err);
        if (status) {
            goto out;
        }
    }
    status = api_begin(api, true, &txn, err);
    if (!status) {
        status = api_get_object(txn, "vm", req->vm, what, &vm, err);
    }
    if (status) {
        goto out;
    }
    from = api_get_string(vm.body, "host");
    error = get_migration(txn, req->vm, &mig);
    if (!error) {
        status = api_fail(err, 409, NULL,
                          "%s: is migrating already, from host \"%s\" to "
                          "host \"%s\" (cancel it with POST "
                          "/v1/vms/%s/migrate/cancel)",
                          what, api_get_string(mig.body, "from"),
                          api_get_string(mig.body, "to"), req->vm);
        store_obj_clear(&mig);
        goto out;
    } else if (error != ENOENT) {
        status = api_store_error(error, what, err);
        goto out;
    }
    vm_status = api_vm_status(txn, &vm);
    if (strcmp(vm_status, "running")) {
        status = api_fail(err, 409, NULL,
                          "%s: is %s, not running: only a running VM "
                          "migrates live",
                          what, vm_status);
        goto out;
    }
    if (req->to) {
        status = api_check_present(txn, "host", req->to, what, err);
        if (status == 404) {
            status = api_fail(err, 404, "to",
                              "%s: migrate: host \"%s\": no such host (see "
                              "GET /v1/hosts)",
                              what, req->to);
        }
        if (status) {
            goto out;
        }
        if (from && !strcmp(req->to, from)) {
            status = api_fail(err, 409, "to",
                              "%s: migrate: runs on host \"%s\" already", what,
                              from);
            goto out;
        }
    }
    status = api_vm_claim_elsewhere(api, txn, &vm, req->to, true, &to, &alloc,
                                    what, err);
    if (!status) {
        status = check_nics(txn, &vm, to, what, err);
    }
    if (status) {
        goto out;
    }
    error = api_make_uuid(id);
    if (error) {
        status = api_store_error(error, what, err);
        goto out;
    }
    api_now(now);
    body =
        json_pack("{sssssssssssssisisbsssI}", "id", id, "vm", req->vm, "from",
                  from, "to", to, "state", "preparing", "reason", req->reason,
                  "downtime_ms", downtime, "max_bandwidth_mbps",
                  req->max_bandwidth_mbps, "auto_converge", req->auto_converge,
                  "started", now, "started_ms", (json_int_t) wall_ms());
    error = store_put(txn, "migration", req->vm, body, STORE_CREATE, NULL);
    if (!error) {
        error = touch(txn, req->vm, NULL, NULL);
    }
    if (!error) {
        error = store_get(txn, "migration-progress", req->vm, &mig);
        if (!error) {
            progress = json_incref(mig.body);
            store_obj_clear(&mig);
        }
    }
    if (error) {
        status = api_store_error(error, what, err);
        goto out;
    }
    status = api_commit(txn, NULL, err);
    txn = NULL;
    if (status) {
        goto out;
    }
    api_sched_note(api, to, alloc);
    LOG_INFO("%s: migration %s from host \"%s\" to host \"%s\" started "
             "(reason %s)",
             what, id, from, to, req->reason);
    if (out) {
        *out = migration_out(body, progress);
    }

out:
    store_abort(txn);
    if (vm.body) {
        store_obj_clear(&vm);
    }
    json_decref(alloc);
    json_decref(body);
    json_decref(progress);
    free(to);
    free(what);
    return status;
}

int
migrations_running(struct api *api)
{
    struct store_txn *txn;
    size_t n = 0;

    if (!store_begin(api->store, false, &txn)) {
        store_count(txn, "migration", &n);
        store_abort(txn);
    }
    return n;
}

bool
migrations_vm_busy(struct api *api, const char *vm)
{
    struct store_txn *txn;
    struct store_obj obj;
    bool busy = false;

    if (!store_begin(api->store, false, &txn)) {
        if (!get_migration(txn, vm, &obj)) {
            busy = true;
            store_obj_clear(&obj);
        }
        store_abort(txn);
    }
    return busy;
}

/* Answers the API form of VM 'name' after a migration request. */
static int
vm_answer(struct api *api, const char *name, int status, json_t **out,
          struct api_error *err)
{
    int got = api_vm_get(api, name, out, err);

    return got == 200 ? status : got;
}

int
api_vm_migrate(struct api *api, const char *name, const json_t *in,
               json_t **out, struct api_error *err)
{
    static const struct api_field fields[] = {
        {"to", API_STRING, API_RW, false},
        {"downtime_ms", API_INTEGER, API_RW, false},
        {"max_bandwidth_mbps", API_INTEGER, API_RW, false},
        {"auto_converge", API_BOOLEAN, API_RW, false},
    };
    char *what = api_what("vm", name);
    struct migration_request req = {
        .vm = name,
        .reason = "api",
        .auto_converge = true,
    };
    const json_t *v;
    int status;

    if (in && !json_is_object(in)) {
        status =
            api_fail(err, 400, NULL, "%s: migrate: expected an object", what);
        goto out;
    }
    status = in ? api_check_input(in, fields, ARRAY_SIZE(fields), what, NULL,
                                  false, err)
                : 0;
    if (status) {
        goto out;
    }
    req.to = api_get_string(in, "to");
    if ((v = json_object_get(in, "downtime_ms"))) {
        json_int_t n = json_integer_value(v);

        if (n < 1 || n > DOWNTIME_MAX_MS) {
            status = api_fail(err, 400, "downtime_ms",
                              "%s: migrate: downtime_ms %" JSON_INTEGER_FORMAT
                              ": must be 1..%d (milliseconds the guest may "
                              "pause)",
                              what, n, DOWNTIME_MAX_MS);
            goto out;
        }
        req.downtime_ms = n;
    }
    if ((v = json_object_get(in, "max_bandwidth_mbps"))) {
        json_int_t n = json_integer_value(v);

        if (n < 0 || n > BANDWIDTH_MAX_MBPS) {
            status = api_fail(err, 400, "max_bandwidth_mbps",
                              "%s: migrate: max_bandwidth_mbps "
                              "%" JSON_INTEGER_FORMAT
                              ": must be 0..%d (Mbit/s, 0 for no limit)",
                              what, n, BANDWIDTH_MAX_MBPS);
            goto out;
        }
        req.max_bandwidth_mbps = n;
    }
    if ((v = json_object_get(in, "auto_converge"))) {
        req.auto_converge = json_is_true(v);
    }
    status = migrations_start(api, &req, NULL, err);
    if (!status) {
        status = vm_answer(api, name, 202, out, err);
    }

out:
    free(what);
    return status;
}

int
api_vm_migrate_cancel(struct api *api, const char *name, const json_t *in,
                      json_t **out, struct api_error *err)
{
    char *what = api_what("vm", name);
    json_t *finished = json_array(), *alloc = NULL;
    struct store_txn *txn = NULL;
    struct store_obj mig = {0};
    char *to = NULL;
    int status, error;

    if (in && (!json_is_object(in) || json_object_size(in))) {
        status = api_fail(err, 400, NULL,
                          "%s: migrate/cancel: takes no body (or an empty "
                          "object)",
                          what);
        goto out;
    }
    status = api_begin(api, true, &txn, err);
    if (!status) {
        status = api_check_present(txn, "vm", name, what, err);
    }
    if (status) {
        goto out;
    }
    error = get_migration(txn, name, &mig);
    if (error == ENOENT) {
        status = api_fail(err, 409, NULL,
                          "%s: migrate/cancel: no migration of it is "
                          "running",
                          what);
        goto out;
    } else if (error) {
        status = api_store_error(error, what, err);
        goto out;
    }
    to = xstrdup(api_get_string(mig.body, "to"));
    error = roll_back(txn, &mig, "cancelled", "cancelled through the API",
                      &alloc, finished);
    if (error) {
        status = api_store_error(error, what, err);
        goto out;
    }
    status = api_commit(txn, NULL, err);
    txn = NULL;
    if (!status) {
        api_sched_note(api, to, alloc);
        finished_done(api, finished);
        status = vm_answer(api, name, 200, out, err);
    }

out:
    store_abort(txn);
    if (mig.body) {
        store_obj_clear(&mig);
    }
    json_decref(finished);
    json_decref(alloc);
    free(to);
    free(what);
    return status;
}

/* A list of migrations in the making. */
struct list_walk {
    struct store_txn *txn; /* Where to read. */
    size_t want;           /* Items wanted: the limit plus one. */
    json_t *items;         /* The migrations found. */
};

static int
list_cb(const struct store_obj *obj, void *lw_)
{
    struct list_walk *lw = lw_;

    json_array_append(lw->items, obj->body);
    return json_array_size(lw->items) >= lw->want ? API_STOP : 0;
}

int
api_migration_list(struct api *api, const json_t *query, json_t **out,
                   struct api_error *err)
{
    static const char *const extra[] = {NULL};
    struct list_walk lw = {.items = json_array()};
    const char *page_token;
    json_t *items, *token;
    const json_t *body;
    size_t limit, i;
    int status, error;

    status =
        api_list_query(query, "migrations", extra, &limit, &page_token, err);
    if (!status) {
        status = api_begin(api, false, &lw.txn, err);
    }
    if (status) {
        json_decref(lw.items);
        return status;
    }
    lw.want = limit + 1;
    error = store_list(lw.txn, "migration", page_token, 0, list_cb, &lw);
    error = error == API_STOP ? 0 : error;
    items = json_array();
    json_array_foreach(lw.items, i, body)
    {
        struct store_obj progress;
        bool has = !error
                   && !store_get(lw.txn, "migration-progress",
                                 api_get_string(body, "vm") ?: "", &progress);

        json_array_append_new(items,
                              migration_out(body, has ? progress.body : NULL));
        if (has) {
            store_obj_clear(&progress);
        }
    }
    store_abort(lw.txn);
    json_decref(lw.items);
    if (error) {
        json_decref(items);
        return api_store_error(error, "listing migrations", err);
    }
    /* A migration is named by its VM: the page token is the VM of the
     * page's last one. */
    token = json_array_size(items) > limit ? json_incref(
                json_object_get(json_array_get(items, limit - 1), "vm"))
                                           : NULL;
    *out = api_list_page(items, limit);
    if (token) {
        json_object_set_new(*out, "next_page_token", token);
    }
    return 200;
}

void
api_migration_vm_out(struct store_txn *txn, const char *name, json_t *out)
{
    struct store_obj obj, progress;

    if (!get_migration(txn, name, &obj)) {
        bool has = !store_get(txn, "migration-progress", name, &progress);
        char *reason = xasprintf(
            "migrating from host \"%s\" to host \"%s\" (%s)",
            api_get_string(obj.body, "from"), api_get_string(obj.body, "to"),
            api_get_string(obj.body, "state"));

        json_object_set_new(
            out, "migration",
            migration_out(obj.body, has ? progress.body : NULL));
        json_object_set_new(out, "status", json_string("migrating"));
        json_object_set_new(out, "status_reason", json_string(reason));
        free(reason);
        if (has) {
            store_obj_clear(&progress);
        }
        store_obj_clear(&obj);
    } else if (!store_get(txn, "migration-result", name, &obj)) {
        json_object_set(out, "migration", obj.body);
        store_obj_clear(&obj);
    }
}

/* Checks the "migration" member 'm' of the report of VM 'name' of 'what'
 * (doc/mobility.md): {"id", "role", "status", "uri", the byte counts,
 * "downtime_ms", "total_ms", "activated", "error", "ct_error"}. */
int
api_migration_check_report(const json_t *m, const char *name, const char *what,
                           struct api_error *err)
{
    static const char *const roles[] = {"source", "destination", NULL};
    static const char *const counts[] = {
        "transferred_bytes", "remaining_bytes", "total_bytes",
        "downtime_ms",       "total_ms",
    };
    static const char *const texts[] = {"error", "ct_error"};
    const char *id = api_get_string(m, "id");
    const char *role = api_get_string(m, "role");
    const char *status = api_get_string(m, "status");
    const json_t *uri = json_object_get(m, "uri");
    const json_t *activated = json_object_get(m, "activated");
    size_t known = 3;

    if (!json_is_object(m) || !id || strlen(id) > 64 || !role
        || !api_is_one_of(role, roles) || !status || !*status
        || strlen(status) > 32
        || strspn(status, "abcdefghijklmnopqrstuvwxyz-") != strlen(status)) {
        return api_fail(err, 400, "vms",
                        "%s: vms: \"%s\": migration: expected {\"id\", "
                        "\"role\": \"source\" or \"destination\", "
                        "\"status\": QEMU's word for it, ...}",
                        what, name);
    }
    if (uri) {
        known++;
        if (!json_is_string(uri) || !json_string_length(uri)
            || json_string_length(uri) > URI_MAX) {
            return api_fail(err, 400, "vms",
                            "%s: vms: \"%s\": migration: uri: expected a "
                            "string of 1 to %d characters",
                            what, name, URI_MAX);
        }
    }
    if (activated) {
        known++;
        if (!json_is_boolean(activated)) {
            return api_fail(err, 400, "vms",
                            "%s: vms: \"%s\": migration: activated: "
                            "expected true or false",
                            what, name);
        }
    }
    for (size_t i = 0; i < ARRAY_SIZE(counts); i++) {
        const json_t *v = json_object_get(m, counts[i]);

        if (v) {
            known++;
            if (!json_is_integer(v) || json_integer_value(v) < 0) {
                return api_fail(err, 400, "vms",
                                "%s: vms: \"%s\": migration: %s: expected "
                                "an integer 0 or more",
                                what, name, counts[i]);
            }
        }
    }
    for (size_t i = 0; i < ARRAY_SIZE(texts); i++) {
        const json_t *v = json_object_get(m, texts[i]);

        if (v) {
            known++;
            if (!json_is_string(v)
                || json_string_length(v) > REPORT_TEXT_MAX) {
                return api_fail(err, 400, "vms",
                                "%s: vms: \"%s\": migration: %s: expected a "
                                "string of at most %d characters",
                                what, name, texts[i], REPORT_TEXT_MAX);
            }
        }
    }
    if (known != json_object_size(m)) {
        return api_fail(err, 400, "vms",
                        "%s: vms: \"%s\": migration: unknown field (expected "
                        "id, role, status, uri, transferred_bytes, "
                        "remaining_bytes, total_bytes, downtime_ms, "
                        "total_ms, activated, error, ct_error)",
                        what, name);
    }
    return 0;
}

/* The source's statuses that mean its guest is paused for the switch. */
static bool
switching(const char *status)
{
    return !strcmp(status, "pre-switchover") || !strcmp(status, "device")
           || !strcmp(status, "completed");
}

/* Sets the "state" (and "uri" if not NULL) of migration 'mig' in 'txn'
 * when it changes. */
static int
set_state(struct store_txn *txn, const struct store_obj *mig,
          const char *state, const char *uri)
{
    json_t *body = json_deep_copy(mig->body);
    int error;

    json_object_set_new(body, "state", json_string(state));
    if (uri) {
        json_object_set_new(body, "uri", json_string(uri));
    }
    error = api_put_changed(txn, "migration", mig->name, body);
    json_decref(body);
    return error;
}

/* Records the late word of the source 'm' on the completed migration of
 * VM 'name', whose result the controller kept without it. */
static int
note_late_result(struct store_txn *txn, const char *name, const json_t *m,
                 json_t *finished)
{
    const json_t *downtime = json_object_get(m, "downtime_ms");
    struct store_obj obj;
    json_t *body, *result;
    int error;

    if (strcmp(api_get_string(m, "role"), "source")
        || strcmp(api_get_string(m, "status"), "completed")
        || !json_is_integer(downtime)) {
        return 0;
    }
    error = store_get(txn, "migration-result", name, &obj);
    if (error) {
        return error == ENOENT ? 0 : error;
    }
    result = json_object_get(obj.body, "result");
    if (strcmp(api_get_string(obj.body, "id") ?: "", api_get_string(m, "id"))
        || strcmp(api_get_string(obj.body, "state") ?: "", "completed")
        || json_object_get(result, "downtime_ms")) {
        store_obj_clear(&obj);
        return 0;
    }
    body = json_deep_copy(obj.body);
    result = json_object_get(body, "result");
    json_object_set(result, "downtime_ms", (json_t *) downtime);
    if (json_is_integer(json_object_get(m, "total_ms"))) {
        json_object_set(result, "total_ms", json_object_get(m, "total_ms"));
    }
    error = store_put(txn, "migration-result", name, body, obj.version, NULL);
    if (!error && finished) {
        json_t *f =
            json_pack("{sssOsO}", "state", "downtime", "vm",
                      json_object_get(body, "vm"), "downtime_ms", downtime);

        json_array_append_new(finished, f);
    }
    json_decref(body);
    store_obj_clear(&obj);
    return error;
}

/* Drives migration 'mig' by report 'report' (VM 'name') of host 'host',
 * in 'txn'.  'allocs' gets {HOST: allocation} of the claims that
 * changed. */
static int
note_report(struct api *api, struct store_txn *txn, const char *host,
            const char *name, const json_t *report,
            const struct store_obj *mig, json_t *allocs, json_t *finished)
{
    const json_t *m = json_object_get(report, "migration");
    const char *role = api_get_string(m, "role");
    const char *status = api_get_string(m, "status");
    const char *state = api_get_string(mig->body, "state");
    const char *from = api_get_string(mig->body, "from");
    const char *to = api_get_string(mig->body, "to");
    const char *error_text = api_get_string(m, "error");
    json_t *alloc = NULL;
    char *why = NULL;
    int error = 0;

    if (!strcmp(host, to) && !strcmp(role, "destination")) {
        if (!strcmp(status, "completed")) {
            struct store_obj progress;
            json_t *source = NULL;

            if (!store_get(txn, "migration-progress", name, &progress)) {
                source = json_incref(json_object_get(progress.body, "source"));
                store_obj_clear(&progress);
            }
            error = activate(api, txn, mig, source, finished);
            json_decref(source);
            return error;
        }
        if (!strcmp(status, "failed")
            || !strcmp(api_get_string(report, "state") ?: "", "failed")) {
            why = xasprintf("the destination, host \"%s\": %s", to,
                            error_text ?: api_get_string(report, "reason")
                                              ?: "failed");
        } else {
            const char *uri = api_get_string(m, "uri");

            if (!strcmp(status, "listening") && uri
                && !strcmp(state, "preparing")) {
                error = set_state(txn, mig, "migrating", uri);
            }
            return error ? error : touch(txn, name, NULL, NULL);
        }
    } else if (!strcmp(host, from) && !strcmp(role, "source")) {
        json_t *progress = json_object();
        static const char *const counts[] = {"transferred_bytes",
                                             "remaining_bytes", "total_bytes"};

        for (size_t i = 0; i < ARRAY_SIZE(counts); i++) {
            const json_t *v = json_object_get(m, counts[i]);

            if (v) {
                json_object_set(progress, counts[i], (json_t *) v);
            }
        }
        if (!strcmp(status, "failed") || !strcmp(status, "cancelled")) {
            why = xasprintf("the source, host \"%s\": %s", from,
                            error_text ?: status);
        } else {
            /* A source cannot switch before the destination listens:
             * a word of it while preparing moves nothing. */
            if (switching(status) && strcmp(state, "preparing")) {
                error = set_state(txn, mig, "switching", NULL);
            }
            if (!error) {
                error = touch(txn, name,
                              json_object_size(progress) ? progress : NULL, m);
            }
            json_decref(progress);
            return error;
        }
        json_decref(progress);
    } else {
        return 0;
    }
    error = roll_back(txn, mig, "failed", why, &alloc, finished);
    if (!error) {
        json_object_set_new(allocs, to, alloc ? alloc : json_null());
        alloc = NULL;
    }
    free(why);
    return error;
}

int
api_migrations_note_reports(struct api *api, struct store_txn *txn,
                            const char *host, const json_t *vms,
                            json_t *allocs, json_t *finished)
{
    const char *name;
    json_t *report;
    int error = 0;

    json_object_foreach((json_t *) vms, name, report)
    {
        const json_t *m = json_object_get(report, "migration");
        struct store_obj mig;

        if (!m) {
            continue;
        }
        error = get_migration(txn, name, &mig);
        if (error == ENOENT) {
            error = note_late_result(txn, name, m, finished);
        } else if (!error) {
            if (!strcmp(api_get_string(mig.body, "id") ?: "",
                        api_get_string(m, "id"))) {
                error = note_report(api, txn, host, name, report, &mig, allocs,
                                    finished);
            }
            store_obj_clear(&mig);
        }
        if (error) {
            return error;
        }
    }
    return 0;
}

void
api_migrations_committed(struct api *api, const json_t *allocs,
                         const json_t *finished)
{
    const char *host;
    json_t *alloc;

    json_object_foreach((json_t *) allocs, host, alloc)
    {
        api_sched_note(api, host, json_is_null(alloc) ? NULL : alloc);
    }
    finished_done(api, finished);
}

static int
names_cb(const struct store_obj *obj, void *names)
{
    json_array_append_new(names, json_string(obj->name));
    return 0;
}

/* Why migration 'mig' cannot go on, read in 'txn' with 'deadline' for its
 * agents' last word: a new string, or NULL if it may. */
static char *
why_stalled(struct store_txn *txn, const struct store_obj *mig,
            int64_t deadline, int *error)
{
    const char *from = api_get_string(mig->body, "from");
    struct store_obj vm, progress;
    char *why = NULL;

    *error = store_get(txn, "vm", mig->name, &vm);
    if (*error == ENOENT) {
        *error = 0;
        return xstrdup("the VM is gone");
    } else if (*error) {
        return NULL;
    }
    if (strcmp(api_get_string(vm.body, "host") ?: "", from)) {
        /* An HA restart moved it while it migrated. */
        why = xasprintf("the VM was moved to host \"%s\" meanwhile",
                        api_get_string(vm.body, "host") ?: "?");
    }
    store_obj_clear(&vm);
    if (!why && !store_get(txn, "migration-progress", mig->name, &progress)) {
        const char *source =
            api_get_string(json_object_get(progress.body, "source"), "status");

        /* Once the source's QEMU completed, the guest's last state has
         * left it: the destination runs the only copy, which a rollback
         * would end.  It waits for the activation (or a cancel). */
        if (get_int(progress.body, "touched_ms") < deadline
            && strcmp(source ?: "", "completed")) {
            why = xasprintf("no progress reported for %d s (in state %s)",
                            MIGRATION_TIMEOUT_MS / 1000,
                            api_get_string(mig->body, "state"));
        }
        store_obj_clear(&progress);
    }
    return why;
}

static int
expired_cb(const struct store_obj *obj, void *ew_)
{
    json_t *ew = ew_;

    if (get_int(obj->body, "until_ms")
        <= json_integer_value(json_object_get(ew, "now"))) {
        json_array_append_new(json_object_get(ew, "names"),
                              json_string(obj->name));
    }
    return 0;
}

/* Deletes the "vm-forward" index objects whose grace has passed, so that
 * the sources' documents drop their "forward" entries. */
static int
expire_forwards(struct api *api, int64_t now)
{
    json_t *ew = json_pack("{sIs[]}", "now", (json_int_t) now, "names");
    json_t *names = json_object_get(ew, "names");
    struct store_txn *txn = NULL;
    const json_t *name;
    size_t i;
    int error = store_begin(api->store, false, &txn);

    if (!error) {
        error = store_list(txn, "vm-forward", NULL, 0, expired_cb, ew);
    }
    store_abort(txn);
    txn = NULL;
    if (!error && json_array_size(names)) {
        error = store_begin(api->store, true, &txn);
        json_array_foreach(names, i, name)
        {
            int e = error ? error
                          : store_delete(txn, "vm-forward",
                                         json_string_value(name), STORE_ANY);

            error = e == ENOENT ? 0 : e;
        }
        if (!error) {
            error = store_commit(txn, NULL);
            txn = NULL;
        }
        store_abort(txn);
    }
    json_decref(ew);
    return error;
}

int
migrations_tick(struct api *api)
{
    /* A controller that was down heard nothing meanwhile: it gives the
     * agents a full timeout from its start. */
    int64_t started = (int64_t) api->started * 1000;
    int64_t now = wall_ms();
    int64_t deadline = now - MIGRATION_TIMEOUT_MS;
    json_t *finished = json_array(), *allocs = json_object();
    json_t *names = json_array(), *stalled = json_array();
    struct store_txn *txn = NULL;
    const json_t *name;
    size_t i;
    int error;

    if (now - started < MIGRATION_TIMEOUT_MS) {
        deadline = started - 1;
    }
    /* A read first, so that the usual second without a stalled migration
     * costs no write transaction. */
    error = store_begin(api->store, false, &txn);
    if (!error) {
        error = store_list(txn, "migration", NULL, 0, names_cb, names);
    }
    json_array_foreach(names, i, name)
    {
        struct store_obj mig;
        char *why;

        if (error || get_migration(txn, json_string_value(name), &mig)) {
            continue;
        }
        why = why_stalled(txn, &mig, deadline, &error);
        if (why) {
            json_array_append(stalled, (json_t *) name);
        }
        free(why);
        store_obj_clear(&mig);
    }
    store_abort(txn);
    txn = NULL;
    if (!error && json_array_size(stalled)) {
        error = store_begin(api->store, true, &txn);
    }
    json_array_foreach(stalled, i, name)
    {
        struct store_obj mig;
        json_t *alloc = NULL;
        char *why;

        /* Read again: a report may have come in between. */
        if (error || get_migration(txn, json_string_value(name), &mig)) {
            continue;
        }
        why = why_stalled(txn, &mig, deadline, &error);
        if (why) {
            error = roll_back(txn, &mig, "failed", why, &alloc, finished);
        }
        if (why && !error) {
            json_object_set_new(allocs, api_get_string(mig.body, "to"),
                                alloc ? alloc : json_null());
        }
        free(why);
        store_obj_clear(&mig);
    }
    if (txn && !error) {
        error = store_commit(txn, NULL);
        txn = NULL;
        if (!error) {
            api_migrations_committed(api, allocs, finished);
        }
    }
    store_abort(txn);
    if (error) {
        LOG_WARN("migrations: checking for stalled ones: %s", strerror(error));
    } else {
        error = expire_forwards(api, now);
        if (error) {
            LOG_WARN("migrations: ending the sources' forwarding: %s",
                     strerror(error));
        }
    }
    json_decref(names);
    json_decref(stalled);
    json_decref(finished);
    json_decref(allocs);
    return error;
}

/* Whether 's' is an even number of hex digits, 2 to CT_HEX_MAX. */
static bool
is_hex(const char *s)
{
    size_t len = s ? strlen(s) : 0;

    return len >= 2 && len <= CT_HEX_MAX && !(len % 2)
           && strspn(s, "0123456789abcdefABCDEF") == len;
}

/* Finds the migration whose "id" is 'id' in 'txn' into 'obj'. */
struct id_walk {
    const char *id;       /* What to find. */
    struct store_obj obj; /* What was found (body NULL: nothing). */
};

static int
id_cb(const struct store_obj *obj, void *iw_)
{
    struct id_walk *iw = iw_;

    if (!strcmp(api_get_string(obj->body, "id") ?: "", iw->id)) {
        iw->obj.name = xstrdup(obj->name);
        iw->obj.body = json_incref(obj->body);
        return STORE_STOP;
    }
    return 0;
}

int
api_migration_conntrack(struct api *api, const char *host, const char *id,
                        const json_t *in, json_t **out, struct api_error *err)
{
    char *what = xasprintf("migration %s", id);
    struct agents_target agent = {0};
    struct agents_reply reply = {0};
    struct id_walk iw = {.id = id};
    struct store_txn *txn = NULL;
    const json_t *entries = json_object_get(in, "entries");
    const json_t *entry;
    char *path = NULL, *context = NULL, *nic_prefix = NULL;
    const char *to;
    size_t i;
    int status, error;

    if (!json_is_object(in) || json_object_size(in) != 1
        || !json_is_array(entries)) {
        status = api_fail(err, 400, "entries",
                          "%s: conntrack: expected {\"entries\": [{\"port\", "
                          "\"key\", \"value\"}]}",
                          what);
        goto out;
    }
    if (json_array_size(entries) > CT_ENTRIES_MAX) {
        status = api_fail(err, 400, "entries",
                          "%s: conntrack: %zu entries (at most %d in one "
                          "request)",
                          what, json_array_size(entries), CT_ENTRIES_MAX);
        goto out;
    }
    status = api_begin(api, false, &txn, err);
    if (status) {
        goto out;
    }
    error = store_list(txn, "migration", NULL, 0, id_cb, &iw);
    if (error && error != STORE_STOP) {
        status = api_store_error(error, what, err);
        goto out;
    }
    if (!iw.obj.body) {
        status = api_fail(err, 404, NULL,
                          "%s: not found (it ended, or never ran)", what);
        goto out;
    }
    if (strcmp(api_get_string(iw.obj.body, "from"), host)) {
        status = api_fail(err, 409, NULL,
                          "%s: host \"%s\" is not its source (host \"%s\" "
                          "is)",
                          what, host, api_get_string(iw.obj.body, "from"));
        goto out;
    }
    nic_prefix = xasprintf("%s-", iw.obj.name);
    json_array_foreach(entries, i, entry)
    {
        const char *port = api_get_string(entry, "port");

        if (!json_is_object(entry) || json_object_size(entry) != 3 || !port
            || strncmp(port, nic_prefix, strlen(nic_prefix))
            || !is_hex(api_get_string(entry, "key"))
            || !is_hex(api_get_string(entry, "value"))) {
            status = api_fail(err, 400, "entries",
                              "%s: conntrack: entries[%zu]: expected "
                              "{\"port\": a NIC of vm \"%s\", \"key\" and "
                              "\"value\": hex of at most %d digits}",
                              what, i, iw.obj.name, CT_HEX_MAX);
            goto out;
        }
    }
    to = api_get_string(iw.obj.body, "to");
    status = agents_target_read(api, txn, to, &agent, NULL, err);
    if (status == 404) {
        status = api_fail(err, 503, NULL,
                          "%s: conntrack: its destination host \"%s\" is "
                          "not registered",
                          what, to);
    }
    store_abort(txn);
    txn = NULL;
    if (status) {
        goto out;
    }
    /* Migration ids are UUIDs: nothing to escape in a path. */
    path = xasprintf("/v1/migrations/%s/conntrack", id);
    context = xasprintf("%s: conntrack", what);
    status =
        agents_call(&agent, "POST", path, in, 1 << 20, context, &reply, err);
    if (status) {
        goto out;
    }
    if (reply.status == 200 || reply.status == 204) {
        *out = json_loadb(reply.body, reply.len, 0, NULL);
        if (!json_is_object(*out)) {
            json_decref(*out);
            *out = json_object();
        }
        status = 200;
    } else {
        json_t *answer = json_loadb(reply.body, reply.len, 0, NULL);
        const json_t *e = json_object_get(answer, "error");
        const char *m = json_is_string(e) ? json_string_value(e)
                                          : api_get_string(e, "message");

        status = api_fail(err, 502, NULL,
                          "%s: conntrack: the agent of host \"%s\" answered "
                          "%ld%s%s",
                          what, to, reply.status, m ? ": " : "", m ? m : "");
        json_decref(answer);
    }

out:
    store_abort(txn);
    free(iw.obj.name);
    json_decref(iw.obj.body);
    agents_target_clear(&agent);
    agents_reply_clear(&reply);
    free(path);
    free(context);
    free(nic_prefix);
    free(what);
    return status;
}

/* Appends histogram 'h' named 'name' to 'text'. */
static void
render_histogram(char **text, const char *name, const char *help,
                 const struct histogram *h, const double *bounds)
{
    char *s = xasprintf("%s# HELP %s %s\n# TYPE %s histogram\n", *text, name,
                        help, name);

    free(*text);
    *text = s;
    for (size_t i = 0; i < N_BUCKETS; i++) {
        s = xasprintf("%s%s_bucket{le=\"%g\"} %" PRIu64 "\n", *text, name,
                      bounds[i], h->counts[i]);
        free(*text);
        *text = s;
    }
    s = xasprintf("%s%s_bucket{le=\"+Inf\"} %" PRIu64 "\n%s_sum %.6f\n"
                  "%s_count %" PRIu64 "\n",
                  *text, name, h->count, name, h->sum, name, h->count);
    free(*text);
    *text = s;
}

char *
api_migrations_metrics(struct api *api)
{
    struct api_migr *m = api->migr;
    struct histogram downtime, duration;
    uint64_t completed, failed, cancelled;
    char *text;

    pthread_mutex_lock(&m->mutex);
    completed = m->completed;
    failed = m->failed;
    cancelled = m->cancelled;
    downtime = m->downtime;
    duration = m->duration;
    pthread_mutex_unlock(&m->mutex);
    text = xasprintf(
        "# HELP fabric_migrations_total Live migrations that ended since "
        "the controller started, by result.\n"
        "# TYPE fabric_migrations_total counter\n"
        "fabric_migrations_total{result=\"completed\"} %" PRIu64 "\n"
        "fabric_migrations_total{result=\"failed\"} %" PRIu64 "\n"
        "fabric_migrations_total{result=\"cancelled\"} %" PRIu64 "\n"
        "# HELP fabric_migrations_running Live migrations running now.\n"
        "# TYPE fabric_migrations_running gauge\n"
        "fabric_migrations_running %d\n",
        completed, failed, cancelled, migrations_running(api));
    render_histogram(&text, "fabric_migration_downtime_seconds",
                     "The guest's pause of completed migrations, as QEMU "
                     "reports it.",
                     &downtime, downtime_buckets);
    render_histogram(&text, "fabric_migration_duration_seconds",
                     "How long completed migrations took, start to "
                     "completion.",
                     &duration, duration_buckets);
    return text;
}
