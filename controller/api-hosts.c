/* Hosts: /v1/hosts, heartbeats, port status reports, the desired-state long
 * poll, and /v1/status. */
#include "controller/api.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "controller/auth.h"
#include "controller/desired.h"
#include "controller/leader.h"
#include "controller/migrations.h"
#include "controller/scheduler.h"
#include "controller/secrets.h"
#include "controller/store.h"
#include "utils/addr.h"
#include "utils/log.h"
#include "utils/util.h"

static const struct api_field host_fields[] = {
    {"name", API_STRING, API_IMMUTABLE, true},
    {"vtep", API_STRING, API_RW, true},
    {"underlay", API_STRING, API_RW, true},
    {"capacity", API_OBJECT, API_RW, false},
    {"uplink_rate", API_INTEGER, API_RW, false},
    {"agent_url", API_STRING, API_RW, false},
    {"agent_token", API_STRING, API_RW, false},
    {"limits", API_OBJECT, API_RW, false},
    {"hypervisor", API_OBJECT, API_RW, false},
    {"overcommit", API_OBJECT, API_RW, false},
    {"maintenance", API_BOOLEAN, API_RW, false},
    {"maintenance_status", API_OBJECT, API_RO, false},
    {"allocated", API_OBJECT, API_RO, false},
    {"status", API_STRING, API_RO, false},
    {"conditions", API_ARRAY, API_RO, false},
    {"last_heartbeat", API_STRING, API_RO, false},
    {"version", API_INTEGER, API_VERSION, false},
    {"revision", API_INTEGER, API_RO, false},
    {"created_at", API_STRING, API_RO, false},
    {"updated_at", API_STRING, API_RO, false},
};

static const struct api_field heartbeat_fields[] = {
    {"load", API_OBJECT, API_RW, false},
    {"limits", API_OBJECT, API_RW, false},
    {"hypervisor", API_OBJECT, API_RW, false},
    {"peers", API_OBJECT, API_RW, false},
    {"traffic", API_OBJECT, API_RW, false},
};

/* The most peers one heartbeat reports. */
#define PEERS_MAX 65536

static const struct api_field port_status_fields[] = {
    {"ports", API_OBJECT, API_RW, true},
    {"conditions", API_ARRAY, API_RW, false},
    {"vms", API_OBJECT, API_RW, false},
};

/* The longest a long poll sleeps before checking whether the controller is
 * stopping. */
#define WAIT_SLICE_MS 500

/* The least time between two computations of one long poll's document. */
#define RECOMPUTE_MS 100

/* Records a heartbeat from 'name' now, with what it says of its peers
 * ('peers', NULL if nothing).  A host declared failed has come back: it
 * is not failed any more, once no restart of its VMs is under way. */
static void
heard_from(struct api *api, const char *name, const json_t *peers)
{
    time_t now = time(NULL);
    uint64_t now_ms = (uint64_t) time_msec();

    if (api_host_is_failed(api, name)) {
        pthread_mutex_lock(&api->ha_mutex);
        if (api_host_set_failed(api, name, false)) {
            LOG_INFO("host \"%s\": its agent is back after the host was "
                     "declared failed; it takes VMs again",
                     name);
        }
        pthread_mutex_unlock(&api->ha_mutex);
    }
    pthread_mutex_lock(&api->mutex);
    json_object_set_new(api->heartbeats, name, json_integer(now));
    json_object_set_new(api->heard_ms, name, json_integer(now_ms));
    if (peers) {
        json_object_set_new(
            api->peers, name,
            json_pack("{sIsO}", "at", (json_int_t) now_ms, "peers", peers));
    }
    pthread_mutex_unlock(&api->mutex);
    api_sched_heard(api, name, now);
}

bool
api_host_set_failed(struct api *api, const char *name, bool failed)
{
    bool changed;

    pthread_mutex_lock(&api->mutex);
    changed = failed != (json_object_get(api->failed, name) != NULL);
    if (changed && failed) {
        char now[32];

        api_now(now);
        json_object_set_new(api->failed, name, json_string(now));
    } else if (changed) {
        json_object_del(api->failed, name);
    }
    pthread_mutex_unlock(&api->mutex);
    return changed;
}

void
api_liveness_publish(struct api *api, bool force)
{
    int timeout_ms = atomic_load(&api->heartbeat_timeout) * 1000;
    int64_t now = time_msec();
    struct store_txn *txn;
    json_t *body;
    int error;

    if (!api->shared_store || (!force && now < api->liveness_next_ms)) {
        return;
    }
    api->liveness_next_ms =
        now + (timeout_ms / 4 > 1000 ? timeout_ms / 4 : 1000);
    pthread_mutex_lock(&api->mutex);
    /* Copies: what was published is compared with what is live. */
    body = json_pack(
        "{s:s?, s:o, s:o, s:o}", "leader", leader_self(api->leader), "hosts",
        json_deep_copy(api->heartbeats), "failed", json_deep_copy(api->failed),
        "ha_waiting", json_deep_copy(api->ha_waiting));
    pthread_mutex_unlock(&api->mutex);
    if (json_equal(body, api->liveness_last)) {
        json_decref(body);
        return;
    }
    error = store_begin(api->store, true, &txn);
    if (!error) {
        error = api_put_changed(txn, "liveness", "hosts", body);
        if (!error) {
            error = store_commit(txn, NULL);
        } else {
            store_abort(txn);
        }
    }
    if (error) {
        LOG_WARN("cannot publish the hosts' liveness to the other "
                 "controllers: %s; trying again in a second",
                 strerror(error));
        api->liveness_next_ms = now + 1000;
        json_decref(body);
        return;
    }
    json_decref(api->liveness_last);
    api->liveness_last = body;
}

void
api_liveness_sync(struct api *api)
{
    int64_t rev = store_kind_revision(api->store, "liveness");
    struct store_txn *txn;
    struct store_obj obj;
    json_t *value, *newer;
    const char *name;
    int error;

    if (!api->shared_store
        || (api->liveness_revision >= 0 && rev <= api->liveness_revision)) {
        return;
    }
    error = store_begin(api->store, false, &txn);
    if (error) {
        return;
    }
    error = store_get(txn, "liveness", "hosts", &obj);
    store_abort(txn);
    if (error) {
        /* ENOENT: no leader published yet; look again next time. */
        return;
    }
    newer = json_object();
    api->liveness_revision = obj.mod_revision > rev ? obj.mod_revision : rev;
    pthread_mutex_lock(&api->mutex);
    json_object_foreach(json_object_get(obj.body, "hosts"), name, value)
    {
        json_t *mine = json_object_get(api->heartbeats, name);

        if (json_is_integer(value)
            && (!mine
                || json_integer_value(mine) < json_integer_value(value))) {
            json_object_set(api->heartbeats, name, value);
            json_object_set(newer, name, value);
        }
    }
    if (json_is_object(json_object_get(obj.body, "failed"))) {
        json_decref(api->failed);
        api->failed = json_deep_copy(json_object_get(obj.body, "failed"));
    }
    if (json_is_object(json_object_get(obj.body, "ha_waiting"))) {
        json_decref(api->ha_waiting);
        api->ha_waiting =
            json_deep_copy(json_object_get(obj.body, "ha_waiting"));
    }
    pthread_mutex_unlock(&api->mutex);
    json_object_foreach(newer, name, value)
    {
        api_sched_heard(api, name, json_integer_value(value));
    }
    json_decref(newer);
    store_obj_clear(&obj);
}

bool
api_host_is_failed(struct api *api, const char *name)
{
    bool failed;

    pthread_mutex_lock(&api->mutex);
    failed = json_object_get(api->failed, name) != NULL;
    pthread_mutex_unlock(&api->mutex);
    return failed;
}

const char *
api_host_status(struct api *api, const char *name, time_t *last)
{
    time_t now = time(NULL), ref;

    pthread_mutex_lock(&api->mutex);
    *last = json_integer_value(json_object_get(api->heartbeats, name));
    pthread_mutex_unlock(&api->mutex);

    if (api_host_is_failed(api, name)) {
        return "failed";
    }
    /* A host this process has not heard from yet gets a full timeout from
     * our start, so that a controller restart does not declare every host
     * unreachable at once. */
    ref = *last ? *last : api->started;
    return now - ref > atomic_load(&api->heartbeat_timeout) ? "unreachable"
                                                            : "ready";
}

size_t
api_hosts_connected(struct api *api)
{
    int timeout = atomic_load(&api->heartbeat_timeout);
    time_t now = time(NULL);
    const char *name;
    json_t *value;
    size_t n = 0;

    pthread_mutex_lock(&api->mutex);
    json_object_foreach(api->heartbeats, name, value)
    {
        n += now - json_integer_value(value) <= timeout;
    }
    pthread_mutex_unlock(&api->mutex);
    return n;
}

/* Sets "status" and "last_heartbeat" of host 'name''s API form 'out'. */
static void
set_liveness(struct api *api, const char *name, json_t *out)
{
    time_t last;

    json_object_set_new(out, "status",
                        json_string(api_host_status(api, name, &last)));
    if (last) {
        char buf[32];

        api_format_time(last, buf);
        json_object_set_new(out, "last_heartbeat", json_string(buf));
    }
}

/* Returns a new reference to the conditions host 'name''s agent last
 * reported, read in 'txn' (NULL: in a transaction of its own): an empty
 * array if none. */
static json_t *
host_conditions(struct api *api, struct store_txn *txn, const char *name)
{
    struct store_txn *own = NULL;
    json_t *conditions = NULL;
    struct api_error err = {0};
    struct store_obj obj;

    if (!txn && !api_begin(api, false, &own, &err)) {
        txn = own;
    }
    if (txn && !store_get(txn, "host-conditions", name, &obj)) {
        conditions = json_incref(json_object_get(obj.body, "conditions"));
        store_obj_clear(&obj);
    }
    store_abort(own);
    api_error_clear(&err);
    return json_is_array(conditions) ? conditions : json_array();
}

json_t *
api_host_overcommit(const json_t *body)
{
    static const struct {
        const char *key; /* A member of "overcommit"... */
        double ratio;    /* ...and its default. */
    } ratios[] = {
        {"cpu", SCHED_CPU_RATIO_DEFAULT},
        {"memory", SCHED_MEMORY_RATIO_DEFAULT},
        {"disk", SCHED_DISK_RATIO_DEFAULT},
    };
    const json_t *set = json_object_get(body, "overcommit");
    json_t *out = json_object();

    for (size_t i = 0; i < ARRAY_SIZE(ratios); i++) {
        const json_t *v = json_object_get(set, ratios[i].key);

        json_object_set_new(
            out, ratios[i].key,
            json_real(v ? json_number_value(v) : ratios[i].ratio));
    }
    return out;
}

json_t *
api_host_allocated(struct api *api, struct store_txn *txn, const char *name)
{
    static const char *const keys[] = {"vcpus", "memory_mb", "disk_gb", "vms"};
    struct store_txn *own = NULL;
    struct api_error err = {0};
    json_t *out = json_object();
    struct store_obj obj = {0};

    if (!txn && !api_begin(api, false, &own, &err)) {
        txn = own;
    }
    if (!txn || store_get(txn, "alloc", name, &obj)) {
        obj.body = NULL;
    }
    for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
        json_object_set_new(out, keys[i],
                            json_integer(json_integer_value(
                                json_object_get(obj.body, keys[i]))));
    }
    if (obj.body) {
        store_obj_clear(&obj);
    }
    store_abort(own);
    api_error_clear(&err);
    return out;
}

/* What host 'name' in maintenance still holds (api_drs_maintenance_status()),
 * read in 'txn' (NULL: in a transaction of its own), or NULL if the store
 * cannot tell. */
static json_t *
maintenance_status(struct api *api, struct store_txn *txn, const char *name)
{
    struct store_txn *own = NULL;
    json_t *status = NULL;

    if (!txn && !store_begin(api->store, false, &own)) {
        txn = own;
    }
    if (txn) {
        status = api_drs_maintenance_status(api, txn, name);
    }
    store_abort(own);
    return status;
}

/* The API form of stored host 'obj', with its status and conditions (an
 * api_out_func).  A host that is reachable but whose agent cannot apply
 * part of its desired state is "degraded".  The agent's trace token is a
 * secret between the agent and the controller (controller/trace.c): it is
 * never shown. */
static json_t *
host_out(struct api *api, struct store_txn *txn, const struct store_obj *obj)
{
    json_t *out = api_object_out(obj);
    json_t *conditions = host_conditions(api, txn, obj->name);

    json_object_del(out, "agent_token");
    json_object_del(out, "agent_token_sealed");
    json_object_set_new(out, "overcommit", api_host_overcommit(obj->body));
    if (!json_object_get(out, "maintenance")) {
        json_object_set_new(out, "maintenance", json_false());
    }
    json_object_set_new(out, "allocated",
                        api_host_allocated(api, txn, obj->name));
    if (json_is_true(json_object_get(out, "maintenance"))) {
        json_t *status = maintenance_status(api, txn, obj->name);

        if (status) {
            json_object_set_new(out, "maintenance_status", status);
        }
    }
    set_liveness(api, obj->name, out);
    if (json_array_size(conditions)
        && !strcmp(api_get_string(out, "status"), "ready")) {
        json_object_set_new(out, "status", json_string("degraded"));
    }
    json_object_set_new(out, "conditions", conditions);
    return out;
}

static const struct api_kind host_kind = {
    .kind = "host",
    .plural = "hosts",
    .fields = host_fields,
    .n_fields = ARRAY_SIZE(host_fields),
    .out = host_out,
};

/* Checks "limits" value 'limits' of 'what', as an agent reports it:
 * {"underlay_mtu": N, "flood_members": N}, each optional. */
static int
check_limits(const json_t *limits, const char *what, struct api_error *err)
{
    static const struct {
        const char *key; /* A member... */
        json_int_t min;  /* ...its smallest value... */
        json_int_t max;  /* ...and its largest. */
    } members[] = {
        {"underlay_mtu", API_UNDERLAY_MTU_MIN, API_UNDERLAY_MTU_MAX},
        {"flood_members", 1, API_FLOOD_MEMBERS_MAX},
    };
    const char *key;
    json_t *value;

    json_object_foreach((json_t *) limits, key, value)
    {
        size_t i;

        for (i = 0; i < ARRAY_SIZE(members); i++) {
            if (!strcmp(key, members[i].key)) {
                break;
            }
        }
        if (i == ARRAY_SIZE(members)) {
            char *q = api_quote(key);

            api_fail(err, 400, "limits",
                     "%s: limits: %s: unknown field (expected one of: "
                     "underlay_mtu, flood_members)",
                     what, q);
            free(q);
            return 400;
        }
        if (!json_is_integer(value)
            || json_integer_value(value) < members[i].min
            || json_integer_value(value) > members[i].max) {
            return api_fail(err, 400, "limits",
                            "%s: limits: %s: expected an integer "
                            "%" JSON_INTEGER_FORMAT "..%" JSON_INTEGER_FORMAT,
                            what, key, members[i].min, members[i].max);
        }
    }
    return 0;
}

int
api_host_check_mtu(const char *host, const json_t *body, const char *network,
                   json_int_t mtu, const char *what, struct api_error *err)
{
    const json_t *underlay_mtu =
        json_object_get(json_object_get(body, "limits"), "underlay_mtu");
    json_int_t carried = json_integer_value(underlay_mtu);

    if (!underlay_mtu || mtu + API_VXLAN_OVERHEAD <= carried) {
        return 0;
    }
    return api_fail(err, 409, "mtu",
                    "%s: host \"%s\" cannot carry network \"%s\": its mtu "
                    "%" JSON_INTEGER_FORMAT " plus %d bytes of VXLAN overhead "
                    "is %" JSON_INTEGER_FORMAT ", more than the underlay MTU "
                    "%" JSON_INTEGER_FORMAT " of \"%s\" (give the network "
                    "an mtu of at most %" JSON_INTEGER_FORMAT ", or raise "
                    "the underlay MTU of \"%s\")",
                    what, host, network, mtu, API_VXLAN_OVERHEAD,
                    mtu + API_VXLAN_OVERHEAD, carried, host,
                    carried - API_VXLAN_OVERHEAD, host);
}

/* The context a host's agent token is sealed for: its own host, so that
 * a sealed token copied into another host's body does not open there. */
static char *
token_context(const char *name)
{
    return xasprintf("host/%s", name);
}

char *
api_host_agent_token(const struct api *api, const char *name,
                     const json_t *body)
{
    const char *sealed = api_get_string(body, "agent_token_sealed");
    char *context, *token;

    if (!sealed || !api->secrets) {
        return NULL;
    }
    context = token_context(name);
    token = secrets_unseal(api->secrets, context, sealed);
    free(context);
    return token;
}

/* Replaces the plaintext "agent_token" in 'body' of host 'name' by its
 * sealed form, keeping the sealed form of 'old' (NULL: none) if it holds
 * the same token, so that a registration that changes nothing writes
 * nothing. */
static int
seal_token(const struct api *api, const char *name, const json_t *old,
           json_t *body)
{
    const char *token = api_get_string(body, "agent_token");
    char *context, *was, *sealed;

    if (!token) {
        return 0;
    }
    if (!api->secrets) {
        return ENOTSUP;
    }
    was = old ? api_host_agent_token(api, name, old) : NULL;
    if (was && !strcmp(was, token)) {
        sealed = xstrdup(api_get_string(old, "agent_token_sealed"));
    } else {
        context = token_context(name);
        sealed = secrets_seal(api->secrets, context, token);
        free(context);
    }
    free(was);
    if (!sealed) {
        return EIO;
    }
    json_object_set_new(body, "agent_token_sealed", json_string(sealed));
    json_object_del(body, "agent_token");
    free(sealed);
    return 0;
}

/* A walk over the hosts whose tokens are in plain text. */
struct seal_walk {
    struct api *api;       /* Holds the secrets. */
    struct store_txn *txn; /* Where hosts are rewritten. */
    json_t *bodies;        /* Host name -> body to write. */
};

/* Seals the plaintext token of host 'obj', if it has one, into a body to
 * write (a store_list_cb). */
static int
seal_cb(const struct store_obj *obj, void *walk_)
{
    struct seal_walk *walk = walk_;

    if (api_get_string(obj->body, "agent_token")) {
        json_t *body = json_deep_copy(obj->body);
        int error = seal_token(walk->api, obj->name, NULL, body);

        if (error) {
            json_decref(body);
            return error;
        }
        json_object_set_new(walk->bodies, obj->name, body);
    }
    return 0;
}

int
api_host_seal_tokens(struct api *api)
{
    struct seal_walk walk = {.api = api, .bodies = json_object()};
    const char *name;
    json_t *body;
    int error;

    error = store_begin(api->store, true, &walk.txn);
    if (error) {
        json_decref(walk.bodies);
        LOG_ERR("sealing agent tokens: %s", strerror(error));
        return error;
    }
    /* The store cannot write while it lists: collect, then write. */
    error = store_list(walk.txn, "host", NULL, 0, seal_cb, &walk);
    json_object_foreach(walk.bodies, name, body)
    {
        if (!error) {
            error = store_put(walk.txn, "host", name, body, STORE_ANY, NULL);
        }
    }
    if (!error && json_object_size(walk.bodies)) {
        error = store_commit(walk.txn, NULL);
        walk.txn = NULL;
        if (!error) {
            LOG_INFO("sealed the agent tokens of %zu host%s that an older "
                     "release stored in plain text",
                     json_object_size(walk.bodies),
                     json_object_size(walk.bodies) == 1 ? "" : "s");
        }
    }
    store_abort(walk.txn);
    if (error) {
        LOG_ERR("sealing agent tokens: %s", strerror(error));
    }
    json_decref(walk.bodies);
    return error;
}

bool
api_agent_url_is_at(const char *url, const char *address)
{
    uint8_t a[16], b[16];
    const char *host, *end;
    char *text;
    int family;
    bool same;

    if (!strncmp(url, "http://", 7)) {
        host = url + 7;
    } else if (!strncmp(url, "https://", 8)) {
        host = url + 8;
    } else {
        return false;
    }
    if (*host == '[') {
        host++;
        end = strchr(host, ']');
        if (!end || (end[1] && end[1] != ':' && end[1] != '/')) {
            return false;
        }
    } else {
        end = host + strcspn(host, ":/");
    }
    /* "http://a@b" would be user "a" at host "b": no literal address has
     * an "@", so such a URL never matches. */
    text = xasprintf("%.*s", (int) (end - host), host);
    family = strchr(text, ':') ? AF_INET6 : AF_INET;
    same = inet_pton(family, text, a) == 1
           && inet_pton(family, address, b) == 1
           && !memcmp(a, b, family == AF_INET ? 4 : 16);
    free(text);
    return same;
}

/* Checks "hypervisor" value 'hv' of 'what', as an agent reports it:
 * {"driver": "qemu"|"libvirt", "accel": "kvm"|"tcg", "reason": "..."}. */
static int
check_hypervisor(const json_t *hv, const char *what, struct api_error *err)
{
    static const char *const drivers[] = {"qemu", "libvirt", NULL};
    static const char *const accels[] = {"kvm", "tcg", NULL};
    const char *driver = api_get_string(hv, "driver");
    const char *accel = api_get_string(hv, "accel");
    const json_t *reason = json_object_get(hv, "reason");
    size_t n = 2 + (reason != NULL);

    if (json_object_size(hv) != n || !driver || !api_is_one_of(driver, drivers)
        || !accel || !api_is_one_of(accel, accels)
        || (reason
            && (!json_is_string(reason)
                || json_string_length(reason) > API_CONDITION_TEXT_MAX))) {
        return api_fail(err, 400, "hypervisor",
                        "%s: hypervisor: expected {\"driver\": \"qemu\" or "
                        "\"libvirt\", \"accel\": \"kvm\" or \"tcg\", "
                        "\"reason\": a string of at most %d characters "
                        "(optional)}",
                        what, API_CONDITION_TEXT_MAX);
    }
    return 0;
}

/* Checks "overcommit" merge patch 'value' of 'what' ({"cpu", "memory",
 * "disk"}, each a ratio from API_OVERCOMMIT_MIN to API_OVERCOMMIT_MAX, or
 * null for the default) and applies it to 'body'. */
static int
apply_overcommit(const json_t *value, json_t *body, const char *what,
                 struct api_error *err)
{
    json_t *ratios = json_deep_copy(json_object_get(body, "overcommit"));
    const char *key;
    json_t *v;

    if (!ratios) {
        ratios = json_object();
    }
    json_object_foreach((json_t *) value, key, v)
    {
        double ratio = json_number_value(v);

        if (strcmp(key, "cpu") && strcmp(key, "memory")
            && strcmp(key, "disk")) {
            json_decref(ratios);
            return api_fail(err, 400, "overcommit",
                            "%s: overcommit: %s: unknown field (expected one "
                            "of: cpu, memory, disk)",
                            what, key);
        }
        if (json_is_null(v)) {
            json_object_del(ratios, key);
            continue;
        }
        if (!json_is_number(v) || ratio < API_OVERCOMMIT_MIN
            || ratio > API_OVERCOMMIT_MAX) {
            json_decref(ratios);
            return api_fail(err, 400, "overcommit",
                            "%s: overcommit: %s: expected a number from %g to "
                            "%g (the default is %g)",
                            what, key, API_OVERCOMMIT_MIN, API_OVERCOMMIT_MAX,
                            !strcmp(key, "cpu") ? SCHED_CPU_RATIO_DEFAULT
                            : !strcmp(key, "memory")
                                ? SCHED_MEMORY_RATIO_DEFAULT
                                : SCHED_DISK_RATIO_DEFAULT);
        }
        json_object_set_new(ratios, key, json_real(ratio));
    }
    if (json_object_size(ratios)) {
        json_object_set_new(body, "overcommit", ratios);
    } else {
        json_object_del(body, "overcommit");
        json_decref(ratios);
    }
    return 0;
}

/* Checks the host fields present in 'in' and copies them into 'body'. */
static int
apply_fields(const json_t *in, json_t *body, const char *what,
             struct api_error *err)
{
    const char *vtep = api_get_string(in, "vtep");
    const char *underlay = api_get_string(in, "underlay");
    const json_t *capacity = json_object_get(in, "capacity");
    const json_t *uplink_rate = json_object_get(in, "uplink_rate");
    const char *agent_url = api_get_string(in, "agent_url");
    const char *agent_token = api_get_string(in, "agent_token");
    const json_t *limits = json_object_get(in, "limits");

    if (!agent_url != !agent_token) {
        return api_fail(err, 400, agent_url ? "agent_token" : "agent_url",
                        "%s: agent_url and agent_token go together", what);
    }
    if (agent_url) {
        size_t len = strlen(agent_url);

        if ((strncmp(agent_url, "http://", 7)
             && strncmp(agent_url, "https://", 8))
            || len > API_AGENT_URL_MAX || agent_url[len - 1] == '/'
            || strcspn(agent_url, " \t\r\n") != len) {
            char *q = api_quote(agent_url);

            api_fail(err, 400, "agent_url",
                     "%s: agent_url %s: expected http://HOST:PORT or "
                     "https://..., without a trailing \"/\", at most %d "
                     "characters",
                     what, q, API_AGENT_URL_MAX);
            free(q);
            return 400;
        }
        if (strlen(agent_token) != API_AGENT_TOKEN_LEN
            || strspn(agent_token, "0123456789abcdef")
                   != API_AGENT_TOKEN_LEN) {
            return api_fail(err, 400, "agent_token",
                            "%s: agent_token: expected %d lower-case hex "
                            "digits",
                            what, API_AGENT_TOKEN_LEN);
        }
        json_object_set_new(body, "agent_url", json_string(agent_url));
        json_object_set_new(body, "agent_token", json_string(agent_token));
    }
    if (vtep) {
        uint32_t be, ip;
        char *q = api_quote(vtep);
        int status = 0;

        if (!addr_parse_ipv4(vtep, &be)) {
            status =
                api_fail(err, 400, "vtep",
                         "%s: vtep %s: not an IPv4 address (expected a.b.c.d)",
                         what, q);
        } else {
            ip = ntohl(be);
            if ((ip >> 24) == 0 || (ip >> 24) == 127 || (ip >> 29) == 7) {
                status =
                    api_fail(err, 400, "vtep",
                             "%s: vtep %s: not a unicast address (0.0.0.0/8, "
                             "127.0.0.0/8 and 224.0.0.0/3 are not allowed)",
                             what, q);
            }
        }
        free(q);
        if (status) {
            return status;
        }
        json_object_set_new(body, "vtep", json_string(vtep));
    }
    if (underlay) {
        if (!api_device_is_valid(underlay)) {
            char *q = api_quote(underlay);

            api_fail(err, 400, "underlay",
                     "%s: underlay %s: must be a device name of 1 to %d "
                     "characters without \"/\", \":\" or spaces",
                     what, q, API_DEVICE_MAX);
            free(q);
            return 400;
        }
        json_object_set_new(body, "underlay", json_string(underlay));
    }
    if (json_is_null(capacity)) {
        json_object_del(body, "capacity");
    } else if (capacity) {
        const char *key;
        json_t *value;

        json_object_foreach((json_t *) capacity, key, value)
        {
            if (strcmp(key, "vcpus") && strcmp(key, "memory_mb")
                && strcmp(key, "disk_gb")) {
                return api_fail(err, 400, "capacity",
                                "%s: capacity: %s: unknown field (expected "
                                "one of: vcpus, memory_mb, disk_gb)",
                                what, key);
            }
            if (!json_is_integer(value) || json_integer_value(value) < 0) {
                return api_fail(
                    err, 400, "capacity",
                    "%s: capacity: %s: expected an integer 0 or more", what,
                    key);
            }
        }
        json_object_set(body, "capacity", (json_t *) capacity);
    }
    if (limits) {
        int status = check_limits(limits, what, err);

        if (status) {
            return status;
        }
        json_object_set(body, "limits", (json_t *) limits);
    }
    if (json_object_get(in, "hypervisor")) {
        int status =
            check_hypervisor(json_object_get(in, "hypervisor"), what, err);

        if (status) {
            return status;
        }
        json_object_set(body, "hypervisor", json_object_get(in, "hypervisor"));
    }
    if (json_object_get(in, "overcommit")) {
        int status = apply_overcommit(json_object_get(in, "overcommit"), body,
                                      what, err);

        if (status) {
            return status;
        }
    }
    api_merge_member(body, "maintenance", in);
    if (json_is_null(uplink_rate)) {
        json_object_del(body, "uplink_rate");
    } else if (uplink_rate) {
        json_int_t rate = json_integer_value(uplink_rate);

        if (rate < API_UPLINK_RATE_MIN || rate > API_UPLINK_RATE_MAX) {
            return api_fail(err, 400, "uplink_rate",
                            "%s: uplink_rate %" JSON_INTEGER_FORMAT
                            ": must be %lld..%lld bits per second (1 Mbit/s "
                            "to 1 Tbit/s)",
                            what, rate, API_UPLINK_RATE_MIN,
                            API_UPLINK_RATE_MAX);
        }
        json_object_set_new(body, "uplink_rate", json_integer(rate));
    }
    return 0;
}

/* Moves the VTEP index of host 'name' from 'old' (NULL: none) to 'new'. */
static int
move_vtep(struct store_txn *txn, const char *name, const char *old,
          const char *new, const char *what, struct api_error *err)
{
    struct store_obj owner;
    json_t *index;
    int error;

    if (old && !strcmp(old, new)) {
        return 0;
    }
    error = store_get(txn, "vtep", new, &owner);
    if (!error) {
        const char *host = api_get_string(owner.body, "host");

        api_fail(err, 409, "vtep", "%s: vtep \"%s\": in use by %s \"%s\"",
                 what, new, host ? "host" : "external VTEP",
                 host ?: api_get_string(owner.body, "external_vtep") ?: "?");
        store_obj_clear(&owner);
        return 409;
    } else if (error != ENOENT) {
        return api_store_error(error, what, err);
    }
    index = json_pack("{ss}", "host", name);
    error = store_put(txn, "vtep", new, index, STORE_CREATE, NULL);
    json_decref(index);
    if (!error && old) {
        error = store_delete(txn, "vtep", old, STORE_ANY);
        error = error == ENOENT ? 0 : error;
    }
    return error ? api_store_error(error, what, err) : 0;
}

/* Creates host 'name' (if 'obj' has no body) or updates it, from checked
 * input 'in' ('patch': as a merge patch).  Answers 201, 200 or an
 * error. */
static int
write_host(struct api *api, struct store_txn *txn, const char *name,
           const json_t *in, bool patch, struct store_obj *obj,
           const char *what, json_t **out, struct api_error *err)
{
    bool create = !obj->body;
    json_t *body = create ? json_object() : json_deep_copy(obj->body);
    int64_t revision;
    char now[32];
    int status, error;

    /* A registration describes the whole host, but for "uplink_rate": an
     * operator may have set it for an agent that does not know it, so a
     * registration without it keeps it. */
    if (!create && !patch && !json_object_get(in, "capacity")) {
        json_object_del(body, "capacity");
    }
    /* Likewise an agent that restarts without an address for traces has
     * none any more, and one that reports no limits has none known. */
    if (!create && !patch && !json_object_get(in, "agent_url")) {
        json_object_del(body, "agent_url");
        json_object_del(body, "agent_token");
        json_object_del(body, "agent_token_sealed");
    }
    if (!create && !patch && !json_object_get(in, "limits")) {
        json_object_del(body, "limits");
    }
    if (!create && !patch && !json_object_get(in, "hypervisor")) {
        json_object_del(body, "hypervisor");
    }
    status = apply_fields(in, body, what, err);
    if (!status) {
        /* The token never reaches the store in plain text. */
        error = seal_token(api, name, obj->body, body);
        if (error) {
            status = api_fail(err, 500, "agent_token",
                              "%s: agent_token: cannot seal it: %s", what,
                              strerror(error));
        }
    }
    if (!status) {
        status = move_vtep(txn, name,
                           create ? NULL : api_get_string(obj->body, "vtep"),
                           api_get_string(body, "vtep"), what, err);
    }
    if (status) {
        goto out;
    }
    if (!create && json_equal(body, obj->body)) {
        *out = host_out(api, txn, obj);
        status = 200;
        goto out;
    }

    api_now(now);
    if (create) {
        json_object_set_new(body, "created_at", json_string(now));
    }
    json_object_set_new(body, "updated_at", json_string(now));
    error = store_put(txn, "host", name, body,
                      create ? STORE_CREATE : obj->version, NULL);
    if (!error) {
        error =
            api_flood_host_sync(txn, name, create ? NULL : obj->body, body);
    }
    if (error) {
        status = api_store_error(error, what, err);
        goto out;
    }
    status = api_commit(txn, &revision, err);
    if (!status) {
        struct store_obj written = {
            .kind = "host",
            .name = (char *) name,
            .body = body,
            .version = create ? 1 : obj->version + 1,
            .mod_revision = revision,
        };

        *out = host_out(api, NULL, &written);
        status = create ? 201 : 200;
    }
    json_decref(body);
    return status;

out:
    store_abort(txn);
    json_decref(body);
    return status;
}

int
api_host_register(struct api *api, const json_t *in, json_t **out,
                  struct api_error *err)
{
    const char *name = api_get_string(in, "name");
    char *what = api_what("host", name);
    struct store_txn *txn = NULL;
    struct store_obj obj = {0};
    json_t *current = NULL;
    int64_t expected;
    int status, error;

    if (!json_is_object(in) || !name) {
        /* Reports what is wrong with the body or its name. */
        status = api_check_input(in, host_fields, ARRAY_SIZE(host_fields),
                                 what, NULL, false, err);
        goto out;
    }
    status = api_check_name(name, "name", what, err);
    if (!status) {
        status = api_begin(api, true, &txn, err);
    }
    if (status) {
        goto out;
    }
    error = store_get(txn, "host", name, &obj);
    if (!error) {
        current = host_out(api, txn, &obj);
    } else if (error != ENOENT) {
        status = api_store_error(error, what, err);
        goto out;
    }
    status = api_check_input(in, host_fields, ARRAY_SIZE(host_fields), what,
                             current, false, err);
    if (!status && current) {
        status = api_expected_version(in, STORE_ANY, what, &expected, err);
        if (!status) {
            status = api_check_version(expected, obj.version, what, err);
        }
    }
    if (!status && current) {
        /* A registration names every field, as a creation does. */
        for (size_t i = 0; i < ARRAY_SIZE(host_fields); i++) {
            if (host_fields[i].required
                && !json_object_get(in, host_fields[i].name)) {
                status =
                    api_fail(err, 400, host_fields[i].name, "%s: %s: required",
                             what, host_fields[i].name);
                break;
            }
        }
    }
    if (status) {
        goto out;
    }
    status = write_host(api, txn, name, in, false, &obj, what, out, err);
    txn = NULL;
    if (status == 200 || status == 201) {
        /* An agent registers when it starts: it is alive. */
        heard_from(api, name, NULL);
        set_liveness(api, name, *out);
    }

out:
    store_abort(txn);
    store_obj_clear(&obj);
    json_decref(current);
    free(what);
    return status;
}

int
api_host_get(struct api *api, const char *name, json_t **out,
             struct api_error *err)
{
    return api_kind_get(api, &host_kind, name, out, err);
}

int
api_host_list(struct api *api, const json_t *query, json_t **out,
              struct api_error *err)
{
    return api_kind_list(api, &host_kind, query, out, err);
}

int
api_host_patch(struct api *api, const char *name, const json_t *in,
               int64_t if_match, json_t **out, struct api_error *err)
{
    char *what = api_what("host", name);
    struct store_txn *txn = NULL;
    struct store_obj obj = {0};
    json_t *current = NULL;
    int status = 0;

    if (json_object_get(in, "agent_url")
        || json_object_get(in, "agent_token")) {
        status = api_fail(err, 400,
                          json_object_get(in, "agent_url") ? "agent_url"
                                                           : "agent_token",
                          "%s: agent_url and agent_token are set by the "
                          "host's agent when it registers",
                          what);
    } else if (json_object_get(in, "limits")) {
        status = api_fail(err, 400, "limits",
                          "%s: limits are what the host's agent reports "
                          "when it registers and in its heartbeats",
                          what);
    }
    if (!status) {
        status = api_kind_patch_begin(api, &host_kind, name, in, if_match,
                                      what, &txn, &obj, &current, err);
    }
    if (!status) {
        status = write_host(api, txn, name, in, true, &obj, what, out, err);
        txn = NULL;
    }
    store_abort(txn);
    store_obj_clear(&obj);
    json_decref(current);
    free(what);
    return status;
}

int
api_host_maintenance(struct api *api, const char *name, const json_t *in,
                     json_t **out, struct api_error *err)
{
    static const char *const actions[] = {"enter", "exit", NULL};
    const char *action = api_get_string(in, "action");
    char *what = api_what("host", name);
    json_t *patch;
    int status;

    if (!json_is_object(in) || !action || !api_is_one_of(action, actions)
        || json_object_size(in) != 1) {
        status = api_fail(err, 400, "action",
                          "%s: maintenance: expected {\"action\": "
                          "\"enter\"} or {\"action\": \"exit\"}",
                          what);
        free(what);
        return status;
    }
    free(what);
    patch = json_pack("{sb}", "maintenance", !strcmp(action, "enter"));
    status = api_host_patch(api, name, patch, STORE_ANY, out, err);
    json_decref(patch);
    if (status < 400) {
        if (!strcmp(action, "exit")) {
            api_drs_set_blocked(api, name, NULL);
        }
        api_drs_kick(api);
    }
    return status;
}

/* Whether a "host-port" index walk found a port. */
struct any_port {
    const char *prefix; /* "HOST/". */
    char *first;        /* The first port found, or NULL. */
};

static int
any_port_cb(const struct store_obj *obj, void *ap_)
{
    struct any_port *ap = ap_;
    size_t len = strlen(ap->prefix);

    if (!strncmp(obj->name, ap->prefix, len)) {
        ap->first = xstrdup(obj->name + len);
    }
    return API_STOP;
}

int
api_host_delete(struct api *api, const char *name, const json_t *in,
                int64_t if_match, struct api_error *err)
{
    char *what = api_what("host", name);
    struct any_port ap = {.first = NULL};
    struct store_txn *txn = NULL;
    struct store_obj obj = {0};
    int status, error;

    status = api_kind_delete_begin(api, &host_kind, name, in, if_match, what,
                                   &txn, &obj, err);
    if (status) {
        goto out;
    }
    ap.prefix = xasprintf("%s/", name);
    error = store_list(txn, "host-port", ap.prefix, 1, any_port_cb, &ap);
    if (error && error != API_STOP) {
        status = api_store_error(error, what, err);
        goto out;
    }
    if (ap.first) {
        status = api_fail(
            err, 409, NULL,
            "%s: still has ports (\"%s\" first); move or delete them first",
            what, ap.first);
        goto out;
    }
    error = store_list(txn, "host-vm", ap.prefix, 1, any_port_cb, &ap);
    if (error && error != API_STOP) {
        status = api_store_error(error, what, err);
        goto out;
    }
    if (ap.first) {
        status = api_fail(err, 409, NULL,
                          "%s: still has VMs (\"%s\" first); delete them "
                          "first",
                          what, ap.first);
        goto out;
    }
    error = store_delete(txn, "host", name, obj.version);
    if (!error) {
        error = api_flood_host_sync(txn, name, obj.body, NULL);
    }
    if (!error) {
        error = store_delete(txn, "host-conditions", name, STORE_ANY);
        error = error == ENOENT ? 0 : error;
    }
    if (!error && api_get_string(obj.body, "vtep")) {
        error = store_delete(txn, "vtep", api_get_string(obj.body, "vtep"),
                             STORE_ANY);
        error = error == ENOENT ? 0 : error;
    }
    if (error) {
        status = api_store_error(error, what, err);
        goto out;
    }
    status = api_commit(txn, NULL, err);
    txn = NULL;
    if (!status) {
        pthread_mutex_lock(&api->mutex);
        json_object_del(api->heartbeats, name);
        pthread_mutex_unlock(&api->mutex);
        desired_forget(api->desired, name);
        status = 204;
    }

out:
    store_abort(txn);
    store_obj_clear(&obj);
    free((char *) ap.prefix);
    free(ap.first);
    free(what);
    return status;
}

/* Answers 404 unless host 'name' exists. */
static int
check_host_exists(struct api *api, const char *name, const char *what,
                  struct api_error *err)
{
    struct store_txn *txn;
    int status;

    status = api_begin(api, false, &txn, err);
    if (!status) {
        status = api_check_present(txn, "host", name, what, err);
        store_abort(txn);
    }
    return status;
}

/* The members of a heartbeat that are recorded in the host's body. */
static const char *const reported_members[] = {"limits", "hypervisor"};

/* Whether heartbeat 'in' brings a member of 'reported_members' that
 * stored host body 'body' does not hold as it is. */
static bool
reports_changed(const json_t *in, const json_t *body)
{
    for (size_t i = 0; i < ARRAY_SIZE(reported_members); i++) {
        const char *key = reported_members[i];
        const json_t *value = json_object_get(in, key);

        if (value && !json_equal(json_object_get(body, key), value)) {
            return true;
        }
    }
    return false;
}

/* Records the "limits" and "hypervisor" that host 'name''s agent reports
 * in heartbeat 'in', if they changed: the limits are what the controller
 * checks changes against (api_host_check_mtu()).  Heartbeats come every
 * few seconds from every host and rarely change anything, so they are
 * compared in a read transaction first, and only a change takes the
 * store's write lock. */
static int
update_reports(struct api *api, const char *name, const json_t *in,
               const char *what, struct api_error *err)
{
    const json_t *limits = json_object_get(in, "limits");
    const json_t *hv = json_object_get(in, "hypervisor");
    struct store_txn *txn = NULL;
    struct store_obj obj = {0};
    int status = 0, error;
    bool write = false;

    if (limits) {
        status = check_limits(limits, what, err);
    }
    if (!status && hv) {
        status = check_hypervisor(hv, what, err);
    }
    while (!status) {
        status = api_begin(api, write, &txn, err);
        if (status) {
            break;
        }
        error = store_get(txn, "host", name, &obj);
        if (error == ENOENT) {
            status = api_fail(err, 404, NULL, "%s: not found", what);
        } else if (error) {
            status = api_store_error(error, what, err);
        } else if (!reports_changed(in, obj.body)) {
            break;
        } else if (write) {
            json_t *body = json_deep_copy(obj.body);
            char now[32];

            api_now(now);
            for (size_t i = 0; i < ARRAY_SIZE(reported_members); i++) {
                api_merge_member(body, reported_members[i], in);
            }
            json_object_set_new(body, "updated_at", json_string(now));
            error = store_put(txn, "host", name, body, obj.version, NULL);
            if (!error) {
                error = api_flood_host_sync(txn, name, obj.body, body);
            }
            json_decref(body);
            status = error ? api_store_error(error, what, err)
                           : api_commit(txn, NULL, err);
            txn = error ? txn : NULL;
            break;
        }
        /* Changed: again, for writing. */
        store_abort(txn);
        txn = NULL;
        store_obj_clear(&obj);
        write = true;
    }
    store_abort(txn);
    store_obj_clear(&obj);
    return status;
}

/* Checks "peers" value 'peers' of a heartbeat of 'what': host name ->
 * {"answers": BOOL, "last_answer_ms_ago": N (0 or more; absent if it never
 * answered)}. */
static int
check_peers(const json_t *peers, const char *what, struct api_error *err)
{
    const char *name;
    json_t *p;

    if (json_object_size(peers) > PEERS_MAX) {
        return api_fail(err, 400, "peers",
                        "%s: peers: %zu of them (expected at most %d)", what,
                        json_object_size(peers), PEERS_MAX);
    }
    json_object_foreach((json_t *) peers, name, p)
    {
        const json_t *ago = json_object_get(p, "last_answer_ms_ago");

        if (!api_name_is_valid(name)) {
            char *q = api_quote(name);

            api_fail(err, 400, "peers", "%s: peers: %s: expected a host name",
                     what, q);
            free(q);
            return 400;
        }
        if (!json_is_object(p)
            || !json_is_boolean(json_object_get(p, "answers"))
            || json_object_size(p) != 1 + (ago != NULL)
            || (ago
                && (!json_is_integer(ago) || json_integer_value(ago) < 0))) {
            return api_fail(err, 400, "peers",
                            "%s: peers: \"%s\": expected {\"answers\": "
                            "true|false, \"last_answer_ms_ago\": N (an "
                            "integer 0 or more, optional)}",
                            what, name);
        }
    }
    return 0;
}

int
api_host_heartbeat(struct api *api, const char *name, const json_t *in,
                   json_t **out, struct api_error *err)
{
    char *what = api_what("host", name);
    const json_t *limits = json_object_get(in, "limits");
    int status = 0;

    if (in) {
        /* The load is accepted for the scheduler to come; nothing reads it
         * yet. */
        status =
            api_check_input(in, heartbeat_fields, ARRAY_SIZE(heartbeat_fields),
                            what, NULL, false, err);
    }
    if (!status && json_object_get(in, "peers")) {
        status = check_peers(json_object_get(in, "peers"), what, err);
    }
    if (!status && json_object_get(in, "traffic")) {
        status = api_traffic_check(json_object_get(in, "traffic"), what, err);
    }
    if (!status) {
        /* Only the leader grants leases and judges heartbeats. */
        status = api_check_leader(api, "heartbeat", err);
    }
    if (!status) {
        status = limits || json_object_get(in, "hypervisor")
                     ? update_reports(api, name, in, what, err)
                     : check_host_exists(api, name, what, err);
    }
    if (!status) {
        heard_from(api, name, json_object_get(in, "peers"));
        if (json_object_get(in, "traffic")) {
            api_traffic_note(api, name, json_object_get(in, "traffic"));
        }
        /* The lease: the agent may run its HA VMs for this long from
         * when it sent this heartbeat (doc/mobility.md). */
        *out = json_pack("{si}", "lease_ms", atomic_load(&api->ha_lease_ms));
        status = 200;
    }
    free(what);
    return status;
}

/* Checks "conditions" value 'conditions' of a report of 'what': at most
 * API_CONDITIONS_MAX objects {"kind", "name", "reason"}, "kind" one of
 * "host", "network", "port", "remote", "identity", "external-vtep", "vm",
 * "name" (which only "host" may leave out) and "reason" strings of 1 to
 * API_CONDITION_TEXT_MAX characters. */
static int
check_conditions(const json_t *conditions, const char *what,
                 struct api_error *err)
{
    static const char *const kinds[] = {"host",   "network",  "port",
                                        "remote", "identity", "external-vtep",
                                        "vm",     NULL};
    const json_t *c;
    size_t i;

    if (json_array_size(conditions) > API_CONDITIONS_MAX) {
        return api_fail(err, 400, "conditions",
                        "%s: conditions: %zu of them (expected at most %d)",
                        what, json_array_size(conditions), API_CONDITIONS_MAX);
    }
    json_array_foreach(conditions, i, c)
    {
        const char *kind = api_get_string(c, "kind");
        const char *name = api_get_string(c, "name");
        const char *reason = api_get_string(c, "reason");
        const char *problem = NULL;

        if (!json_is_object(c)
            || json_object_size(c)
                   != 2 + (json_object_get(c, "name") != NULL)) {
            problem = "expected an object {\"kind\", \"name\", \"reason\"}";
        } else if (!kind || !api_is_one_of(kind, kinds)) {
            problem = "kind: expected \"host\", \"network\", \"port\", "
                      "\"remote\", \"identity\", \"external-vtep\" or "
                      "\"vm\"";
        } else if (json_object_get(c, "name")
                       ? !name || !*name
                             || strlen(name) > API_CONDITION_TEXT_MAX
                       : strcmp(kind, "host")) {
            problem = "name: expected a string of 1 to 1024 characters "
                      "(only a \"host\" condition may leave it out)";
        } else if (!reason || !*reason
                   || strlen(reason) > API_CONDITION_TEXT_MAX) {
            problem = "reason: expected a string of 1 to 1024 characters";
        }
        if (problem) {
            return api_fail(err, 400, "conditions", "%s: conditions[%zu]: %s",
                            what, i, problem);
        }
    }
    return 0;
}

/* Returns the reason of the "port" condition of 'conditions' for port
 * 'port', or NULL. */
static const char *
port_reason(const json_t *conditions, const char *port)
{
    const json_t *c;
    size_t i;

    json_array_foreach(conditions, i, c)
    {
        if (!strcmp(api_get_string(c, "kind"), "port")
            && !strcmp(api_get_string(c, "name") ?: "", port)) {
            return api_get_string(c, "reason");
        }
    }
    return NULL;
}

int
api_host_port_status(struct api *api, const char *name, const json_t *in,
                     struct api_error *err)
{
    char *what = api_what("host", name);
    json_t *allocs = json_object(), *finished = json_array();
    struct store_txn *txn = NULL;
    const json_t *ports, *conditions;
    const char *port;
    json_t *value;
    int status, error;

    status =
        api_check_input(in, port_status_fields, ARRAY_SIZE(port_status_fields),
                        what, NULL, false, err);
    if (status) {
        goto out;
    }
    ports = json_object_get(in, "ports");
    conditions = json_object_get(in, "conditions");
    status = check_conditions(conditions, what, err);
    if (!status) {
        status = api_vm_check_reports(json_object_get(in, "vms"), what, err);
    }
    if (status) {
        goto out;
    }
    json_object_foreach((json_t *) ports, port, value)
    {
        static const char *const statuses[] = {"up", "down", "refused", NULL};
        const char *s = json_string_value(value);

        status = api_check_name(port, "ports", what, err);
        if (status) {
            goto out;
        }
        if (!s || !api_is_one_of(s, statuses)) {
            status = api_fail(err, 400, "ports",
                              "%s: ports: \"%s\": expected \"up\", "
                              "\"down\" or \"refused\"",
                              what, port);
            goto out;
        }
    }
    status = api_begin(api, true, &txn, err);
    if (!status) {
        status = api_check_present(txn, "host", name, what, err);
    }
    if (status) {
        goto out;
    }
    json_object_foreach((json_t *) ports, port, value)
    {
        const char *reason = port_reason(conditions, port);
        struct store_obj obj;
        const char *host;
        json_t *report;

        error = store_get(txn, "port", port, &obj);
        if (error == ENOENT) {
            /* Deleted since the agent last looked: nothing to record. */
            continue;
        } else if (error) {
            status = api_store_error(error, what, err);
            goto out;
        }
        host = api_get_string(obj.body, "host");
        if (!host || strcmp(host, name)) {
            /* Moved away: the new host reports it. */
            store_obj_clear(&obj);
            continue;
        }
        store_obj_clear(&obj);

        report = json_pack("{ssss}", "host", name, "status",
                           json_string_value(value));
        if (reason && !strcmp(json_string_value(value), "refused")) {
            json_object_set_new(report, "reason", json_string(reason));
        }
        error = api_put_changed(txn, "port-status", port, report);
        json_decref(report);
        if (error) {
            status = api_store_error(error, what, err);
            goto out;
        }
    }
    /* Migrations first: an activation moves the VM here, and then this
     * report is its host's. */
    error = api_migrations_note_reports(
        api, txn, name, json_object_get(in, "vms"), allocs, finished);
    if (!error) {
        error = api_vm_record_reports(txn, name, json_object_get(in, "vms"));
    }
    if (!error) {
        api_drs_note_usage(api, name, json_object_get(in, "vms"));
    }
    if (error) {
        status = api_store_error(error, what, err);
        goto out;
    }
    /* An agent that reports no conditions (an older one) has none. */
    if (json_array_size(conditions)) {
        value = json_pack("{sO}", "conditions", conditions);
        error = api_put_changed(txn, "host-conditions", name, value);
        json_decref(value);
    } else {
        error = store_delete(txn, "host-conditions", name, STORE_ANY);
    }
    status =
        api_finish_no_content(&txn, error == ENOENT ? 0 : error, what, err);
    if (status == 204) {
        api_migrations_committed(api, allocs, finished);
    }

out:
    store_abort(txn);
    json_decref(allocs);
    json_decref(finished);
    free(what);
    return status;
}

/* Computes host 'name''s document and the revision it reflects. */
static int
compute(struct api *api, const char *name, const char *what, json_t **doc,
        int64_t *revision, struct api_error *err)
{
    struct store_txn *txn;
    int status, error;

    status = api_begin(api, false, &txn, err);
    if (status) {
        return status;
    }
    desired_count_compute(api->desired);
    error = desired_compute(txn, name, doc);
    if (error) {
        store_abort(txn);
        return error == ENOENT
                   ? api_fail(err, 404, NULL, "%s: not found", what)
                   : api_store_error(error, what, err);
    }
    /* Committing a read transaction answers its snapshot's revision. */
    status = api_commit(txn, revision, err);
    if (status) {
        json_decref(*doc);
    }
    return status;
}

/* Waits until a commit past 'revision' may have changed host 'name''s
 * document 'doc' (desired_wait(): only a change that concerns the host,
 * its ports or its networks) and returns 0, or answers 304 at 'deadline'
 * (time_msec()), or 503 if the controller is stopping. */
static int
wait_for_change(struct api *api, const char *name, const json_t *doc,
                int64_t revision, int64_t deadline, const char *what,
                struct api_error *err)
{
    for (;;) {
        int64_t remaining = deadline - time_msec();

        if (remaining <= 0) {
            return 304;
        }
        if (atomic_load(&api->stopping)) {
            return api_fail(err, 503, NULL,
                            "%s: the controller is stopping; poll again",
                            what);
        }
        if (!desired_wait(api->desired, name, doc, revision,
                          remaining < WAIT_SLICE_MS ? remaining
                                                    : WAIT_SLICE_MS)) {
            return 0;
        }
    }
}

/* The kinds of object a host's desired state is computed from (the
 * indexes "host-port", "net-port" and "host-vm" are written with them):
 * only their commits can change it (audit entries and port status reports
 * do not). */
static const char *const desired_kinds[] = {
    "network", "port",      "host",          "qos-policy",
    "sg-rule", "identity",  "port-identity", "external-vtep",
    "vm",      "migration", "vm-moved",      "vm-forward",
};

/* How long a long poll waits at most for the desired-state cache to take
 * in the store's latest commits before it trusts what it says concerns its
 * host, milliseconds; past it the poll computes the document. */
#define DESIRED_SYNC_MS 100

/* Stores in 'hex' the digest of document 'doc' (SHA-256 of its compact
 * JSON, keys sorted), which answers carry and agents send back, so that a
 * replica that never sent an agent its revision can tell the agent's
 * document is the one it would send now.  Returns 'hex'. */
static const char *
document_digest(const json_t *doc, char hex[65])
{
    char *text = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);

    auth_token_hash(text ? text : "", hex);
    free(text);
    return hex;
}

/* How long an agent that comes over from another replica waits at most
 * for this one's view of the store to catch up with the snapshot of its
 * document, milliseconds. */
#define RESUME_SYNC_MS 1000

/* Whether the desired state of every host at store revision 'since' is
 * what it is now, as far as this process can tell: no commit it knows of
 * (every commit since it opened the store, of every replica: the store's
 * watch feeds store_kind_revision()) changed one of 'desired_kinds' past
 * 'since'.  An agent that comes over from another replica asks for the
 * changes since the revision it holds, which this process never sent;
 * then the document now is the one at 'since', and the agent need not
 * fetch the whole of it again (doc/replication.md, "Clients"). */
static bool
unchanged_since(struct api *api, int64_t since)
{
    if (since < api->opened_revision || since > store_revision(api->store)) {
        return false;
    }
    for (size_t i = 0; i < ARRAY_SIZE(desired_kinds); i++) {
        if (store_kind_revision(api->store, desired_kinds[i]) > since) {
            return false;
        }
    }
    return true;
}

int
api_host_desired_state(struct api *api, const char *name, const json_t *query,
                       json_t **out, struct api_error *err)
{
    char *what = api_what("host", name);
    long long since = 0, wait = API_WAIT_DEFAULT;
    const char *digest = json_string_value(json_object_get(query, "digest"));
    char hex[65];
    bool resume;
    json_t *old = NULL, *doc = NULL;
    int64_t deadline, revision;
    const char *key;
    json_t *value;
    int status = 0;

    json_object_foreach((json_t *) query, key, value)
    {
        if (strcmp(key, "since") && strcmp(key, "wait")
            && strcmp(key, "digest")) {
            status = api_fail(err, 400, key,
                              "desired state: %s: unknown query parameter "
                              "(expected since, wait, digest)",
                              key);
            goto out;
        }
    }
    if (digest
        && (strlen(digest) != 64
            || strspn(digest, "0123456789abcdef") != 64)) {
        status = api_fail(err, 400, "digest",
                          "desired state: digest: expected the 64 lower-case "
                          "hex digits of a \"digest\" answered before");
        goto out;
    }
    status = api_query_int(query, "since", 0, INT64_MAX, "desired state",
                           &since, err);
    if (!status) {
        status = api_query_int(query, "wait", 0, API_WAIT_MAX, "desired state",
                               &wait, err);
    }
    if (status) {
        goto out;
    }

    old = since ? desired_recall(api->desired, name, since) : NULL;
    resume = since && !old;
    deadline = time_msec() + wait * 1000;
    if (old && !desired_sync(api->desired, DESIRED_SYNC_MS)
        && desired_revision(api->desired, name, old) <= since) {
        /* Nothing that concerns this host was committed since, not even
         * a commit acknowledged a moment ago: wait for something that
         * does before computing anything, so that a thousand agents
         * asking again cost nothing. */
        status = wait_for_change(api, name, old, since, deadline, what, err);
        if (status) {
            goto out;
        }
    }
    for (;;) {
        int64_t computed = time_msec(), pause;

        status = compute(api, name, what, &doc, &revision, err);
        if (status) {
            goto out;
        }
        if (resume) {
            /* The agent's document is the one at 'since' if its digest is
             * that of 'doc', or if no commit past 'since' changed what
             * documents depend on: a check that covers every commit only
             * once the store's watch has brought them all up to the one
             * 'doc' reflects. */
            resume = false;
            if ((digest && !strcmp(document_digest(doc, hex), digest))
                || (!store_wait(api->store, revision - 1, RESUME_SYNC_MS)
                    && unchanged_since(api, since))) {
                old = json_incref(doc);
                desired_remember(api->desired, name, since, doc);
            }
        }
        if (!old || !json_equal(old, doc)) {
            json_t *changes = old ? desired_diff(old, doc) : NULL;

            desired_remember(api->desired, name, revision, doc);
            if (changes) {
                *out = json_pack("{sIsbso}", "revision", (json_int_t) revision,
                                 "full", 0, "changes", changes);
            } else {
                *out = json_pack("{sIsbsO}", "revision", (json_int_t) revision,
                                 "full", 1, "document", doc);
            }
            json_object_set_new(*out, "digest",
                                json_string(document_digest(doc, hex)));
            status = 200;
            goto out;
        }
        json_decref(doc);
        doc = NULL;

        /* A change that concerns this host but left its document as it
         * was (a port's description, say) wakes us too; we wait on. */
        status =
            wait_for_change(api, name, old, revision, deadline, what, err);
        if (status) {
            goto out;
        }
        /* Changes come in bursts (a script creating a thousand ports):
         * look again at most every RECOMPUTE_MS, so that a burst costs a
         * few computations of the document rather than one per commit. */
        pause = computed + RECOMPUTE_MS - time_msec();
        if (pause > deadline - time_msec()) {
            pause = deadline - time_msec();
        }
        if (pause > 0) {
            usleep(pause * 1000);
        }
    }

out:
    json_decref(old);
    json_decref(doc);
    free(what);
    return status;
}

/* Counts of ports by status, for /v1/status. */
struct port_counts {
    struct store_txn *txn;                    /* For port status. */
    size_t total, up, down, pending, refused; /* The counts. */
};

static int
count_port_cb(const struct store_obj *obj, void *pc_)
{
    struct port_counts *pc = pc_;
    const char *s = api_port_status(pc->txn, obj->name,
                                    api_get_string(obj->body, "host"), NULL);

    pc->total++;
    if (!strcmp(s, "up")) {
        pc->up++;
    } else if (!strcmp(s, "down")) {
        pc->down++;
    } else if (!strcmp(s, "refused")) {
        pc->refused++;
    } else {
        pc->pending++;
    }
    return 0;
}

/* Counts of hosts by status, for /v1/status. */
struct host_counts {
    struct api *api;               /* For host status. */
    struct store_txn *txn;         /* For host conditions. */
    size_t total, ready, degraded; /* The counts: "ready" hosts, of which
                                    * some are "degraded". */
};

static int
count_host_cb(const struct store_obj *obj, void *hc_)
{
    struct host_counts *hc = hc_;
    time_t last;

    hc->total++;
    if (!strcmp(api_host_status(hc->api, obj->name, &last), "ready")) {
        json_t *conditions = host_conditions(hc->api, hc->txn, obj->name);

        hc->ready++;
        hc->degraded += json_array_size(conditions) != 0;
        json_decref(conditions);
    }
    return 0;
}

int
api_status(struct api *api, json_t **out, struct api_error *err)
{
    struct host_counts hc = {.api = api};
    struct port_counts pc = {.txn = NULL};
    size_t networks = 0;
    char *leader;
    int64_t revision;
    int status, error;

    status = api_begin(api, false, &pc.txn, err);
    if (status) {
        return status;
    }
    hc.txn = pc.txn;
    error = store_list(pc.txn, "host", NULL, 0, count_host_cb, &hc);
    if (!error) {
        error = store_list(pc.txn, "port", NULL, 0, count_port_cb, &pc);
    }
    if (!error) {
        error = store_count(pc.txn, "network", &networks);
    }
    if (error) {
        store_abort(pc.txn);
        return api_store_error(error, "status", err);
    }
    status = api_commit(pc.txn, &revision, err);
    if (status) {
        return status;
    }
    *out = json_pack(
        "{s{sIsIsIsI}sIs{sIsIsIsIsI}sI}", "hosts", "total",
        (json_int_t) hc.total, "ready", (json_int_t) hc.ready, "degraded",
        (json_int_t) hc.degraded, "unreachable",
        (json_int_t) (hc.total - hc.ready), "networks", (json_int_t) networks,
        "ports", "total", (json_int_t) pc.total, "up", (json_int_t) pc.up,
        "down", (json_int_t) pc.down, "pending", (json_int_t) pc.pending,
        "refused", (json_int_t) pc.refused, "revision", (json_int_t) revision);
    /* Which controller answers, which one leads the singleton work, and
     * the store they share (doc/replication.md). */
    leader = leader_current(api->leader);
    json_object_set_new(*out, "controller",
                        api->leader ? json_string(leader_self(api->leader))
                                    : json_null());
    json_object_set_new(*out, "leaders",
                        json_pack("{so}", LEADER_ROLE,
                                  leader ? json_string(leader) : json_null()));
    json_object_set_new(*out, "store", store_status(api->store));
    free(leader);
    return 200;
}
