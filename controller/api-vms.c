/* VMs: /v1/vms, their placement by the scheduler (controller/scheduler.h),
 * their power actions and the status their hosts' agents report. */
#include "controller/api.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "controller/migrations.h"
#include "controller/scheduler.h"
#include "controller/store.h"
#include "utils/util.h"

static const struct api_field vm_fields[] = {
    {"name", API_STRING, API_IMMUTABLE, true},
    {"vcpus", API_INTEGER, API_IMMUTABLE, true},
    {"memory_mb", API_INTEGER, API_IMMUTABLE, true},
    {"image", API_STRING, API_IMMUTABLE, true},
    {"disk_gb", API_INTEGER, API_IMMUTABLE, false},
    {"nics", API_ARRAY, API_IMMUTABLE, false},
    {"host", API_STRING, API_IMMUTABLE, false},
    {"pinned", API_BOOLEAN, API_RO, false},
    {"groups", API_ARRAY, API_IMMUTABLE, false},
    {"placement", API_STRING, API_IMMUTABLE, false},
    {"hostname", API_STRING, API_IMMUTABLE, false},
    {"ssh_keys", API_ARRAY, API_IMMUTABLE, false},
    {"user_data", API_STRING, API_IMMUTABLE, false},
    {"power", API_STRING, API_RW, false},
    {"description", API_STRING, API_RW, false},
    {"ha", API_STRING, API_RW, false},
    {"ha_priority", API_INTEGER, API_RW, false},
    {"uuid", API_STRING, API_RO, false},
    {"boot", API_INTEGER, API_RO, false},
    {"status", API_STRING, API_RO, false},
    {"status_reason", API_STRING, API_RO, false},
    {"usage", API_OBJECT, API_RO, false},
    {"migration", API_OBJECT, API_RO, false},
    {"version", API_INTEGER, API_VERSION, false},
    {"revision", API_INTEGER, API_RO, false},
    {"created_at", API_STRING, API_RO, false},
    {"updated_at", API_STRING, API_RO, false},
};

/* What a VM's NIC takes: a subset of a port's fields. */
static const struct api_field nic_fields[] = {
    {"network", API_STRING, API_IMMUTABLE, true},
    {"ip", API_STRING, API_IMMUTABLE, false},
    {"labels", API_OBJECT, API_IMMUTABLE, false},
    {"security_groups", API_ARRAY, API_IMMUTABLE, false},
    {"qos", API_STRING, API_IMMUTABLE, false},
};

/* The most hosts a refusal names, one reason each. */
#define MAX_REASONS 20

/* The scheduler's view of the hosts, kept between placements so that one
 * placement does not read every host and allocation from the store.  It is
 * only a hint: the chosen host's allocation is read again in the write
 * transaction that claims it, and a placement that finds no room in it
 * rebuilds it from the store before refusing. */
struct api_sched {
    pthread_mutex_t mutex;      /* Protects everything below. */
    bool valid;                 /* Built, and not known to be stale. */
    int64_t revision;           /* Store revision it was built at: a later
                                 * change to a host makes it stale. */
    struct sched_host *hosts;   /* The hosts. */
    time_t *heard;              /* Per host: its last heartbeat, or 0. */
    size_t n;                   /* Number of 'hosts'. */
    json_t *index;              /* Host name -> its index in 'hosts'. */
    enum sched_weigher weigher; /* The default weigher. */
};

static void
sched_cache_clear(struct api_sched *c)
{
    for (size_t i = 0; i < c->n; i++) {
        free((char *) c->hosts[i].name);
    }
    free(c->hosts);
    c->hosts = NULL;
    free(c->heard);
    c->heard = NULL;
    c->n = 0;
    json_decref(c->index);
    c->index = NULL;
    c->valid = false;
}

struct api_sched *
api_sched_create(void)
{
    struct api_sched *c = xzalloc(sizeof *c);

    pthread_mutex_init(&c->mutex, NULL);
    c->weigher = SCHED_SPREAD;
    return c;
}

void
api_sched_destroy(struct api_sched *c)
{
    if (c) {
        sched_cache_clear(c);
        pthread_mutex_destroy(&c->mutex);
        free(c);
    }
}

void
api_sched_set_weigher(struct api *api, enum sched_weigher w)
{
    pthread_mutex_lock(&api->sched->mutex);
    api->sched->weigher = w;
    pthread_mutex_unlock(&api->sched->mutex);
}

/* Reads ratio 'key' of "overcommit" of host body 'body', or 'dflt'. */
static double
ratio(const json_t *body, const char *key, double dflt)
{
    const json_t *v =
        json_object_get(json_object_get(body, "overcommit"), key);

    return v ? json_number_value(v) : dflt;
}

/* Fills 'h' from stored host 'obj' (its allocation left as it is). */
static void
host_from_body(struct sched_host *h, const json_t *body)
{
    const json_t *cap = json_object_get(body, "capacity");
    const json_t *disk = json_object_get(cap, "disk_gb");

    h->maintenance = json_is_true(json_object_get(body, "maintenance"));
    h->migrates_in = !strcmp(
        api_get_string(json_object_get(body, "hypervisor"), "driver") ?: "",
        "qemu");
    h->has_capacity =
        json_object_get(cap, "vcpus") && json_object_get(cap, "memory_mb");
    h->capacity.vcpus = json_integer_value(json_object_get(cap, "vcpus"));
    h->capacity.memory_mb =
        json_integer_value(json_object_get(cap, "memory_mb"));
    h->capacity.disk_gb = disk ? json_integer_value(disk) : -1;
    h->cpu_ratio = ratio(body, "cpu", SCHED_CPU_RATIO_DEFAULT);
    h->memory_ratio = ratio(body, "memory", SCHED_MEMORY_RATIO_DEFAULT);
    h->disk_ratio = ratio(body, "disk", SCHED_DISK_RATIO_DEFAULT);
}

/* Sets the allocation of 'h' from stored "alloc" body 'body' (NULL:
 * none). */
static void
alloc_from_body(struct sched_host *h, const json_t *body)
{
    h->allocated.vcpus = json_integer_value(json_object_get(body, "vcpus"));
    h->allocated.memory_mb =
        json_integer_value(json_object_get(body, "memory_mb"));
    h->allocated.disk_gb =
        json_integer_value(json_object_get(body, "disk_gb"));
    h->vms = json_integer_value(json_object_get(body, "vms"));
}

static int
cache_host_cb(const struct store_obj *obj, void *c_)
{
    struct api_sched *c = c_;
    struct sched_host *h;

    c->hosts = xrealloc(c->hosts, (c->n + 1) * sizeof *c->hosts);
    c->heard = xrealloc(c->heard, (c->n + 1) * sizeof *c->heard);
    c->heard[c->n] = 0;
    h = &c->hosts[c->n];
    memset(h, 0, sizeof *h);
    h->name = xstrdup(obj->name);
    host_from_body(h, obj->body);
    json_object_set_new(c->index, obj->name, json_integer(c->n));
    c->n++;
    return 0;
}

static int
cache_alloc_cb(const struct store_obj *obj, void *c_)
{
    struct api_sched *c = c_;
    const json_t *i = json_object_get(c->index, obj->name);

    if (i) {
        alloc_from_body(&c->hosts[json_integer_value(i)], obj->body);
    }
    return 0;
}

/* Rebuilds 'c' from the store in 'txn', with 'c->mutex' held, and the
 * heartbeats from 'api'. */
static int
sched_cache_build(struct api *api, struct api_sched *c, struct store_txn *txn)
{
    int error;

    sched_cache_clear(c);
    c->index = json_object();
    c->revision = store_revision(api->store);
    error = store_list(txn, "host", NULL, 0, cache_host_cb, c);
    if (!error) {
        error = store_list(txn, "alloc", NULL, 0, cache_alloc_cb, c);
    }
    if (error) {
        sched_cache_clear(c);
        return error;
    }
    pthread_mutex_lock(&api->mutex);
    for (size_t i = 0; i < c->n; i++) {
        c->heard[i] = json_integer_value(
            json_object_get(api->heartbeats, c->hosts[i].name));
    }
    pthread_mutex_unlock(&api->mutex);
    c->valid = true;
    return 0;
}

void
api_sched_heard(struct api *api, const char *name, time_t t)
{
    struct api_sched *c = api->sched;
    const json_t *i;

    pthread_mutex_lock(&c->mutex);
    i = c->valid ? json_object_get(c->index, name) : NULL;
    if (i) {
        c->heard[json_integer_value(i)] = t;
    }
    pthread_mutex_unlock(&c->mutex);
}

/* Marks in every host of 'c' whether it was heard from within the
 * heartbeat timeout, as api_host_status() says. */
static void
sched_cache_liveness(struct api *api, struct api_sched *c)
{
    int timeout = atomic_load(&api->heartbeat_timeout);
    time_t now = time(NULL);

    for (size_t i = 0; i < c->n; i++) {
        time_t last = c->heard[i] ? c->heard[i] : api->started;

        /* A failed host takes no VM until its agent comes back. */
        c->hosts[i].ready = now - last <= timeout
                            && !api_host_is_failed(api, c->hosts[i].name);
    }
}

/* Records in 'c' (if it is valid) that host 'host' now has allocation
 * 'alloc', as just committed. */
static void
sched_cache_note(struct api *api, const char *host, const json_t *alloc)
{
    struct api_sched *c = api->sched;
    const json_t *i;

    pthread_mutex_lock(&c->mutex);
    i = c->valid ? json_object_get(c->index, host) : NULL;
    if (i) {
        alloc_from_body(&c->hosts[json_integer_value(i)], alloc);
    }
    pthread_mutex_unlock(&c->mutex);
}

int
api_sched_snapshot(struct api *api, struct store_txn *txn,
                   struct sched_host **hostsp, size_t *np)
{
    struct api_sched *c = api->sched;
    struct sched_host *hosts;
    int error = 0;

    pthread_mutex_lock(&c->mutex);
    if (!c->valid || store_kind_revision(api->store, "host") > c->revision
        || store_kind_revision(api->store, "alloc") > c->revision) {
        error = sched_cache_build(api, c, txn);
    }
    if (error) {
        pthread_mutex_unlock(&c->mutex);
        return error;
    }
    sched_cache_liveness(api, c);
    hosts = xcalloc(c->n + 1, sizeof *hosts);
    for (size_t i = 0; i < c->n; i++) {
        hosts[i] = c->hosts[i];
        hosts[i].name = xstrdup(c->hosts[i].name);
        hosts[i].members = NULL;
    }
    *hostsp = hosts;
    *np = c->n;
    pthread_mutex_unlock(&c->mutex);
    return 0;
}

void
api_sched_snapshot_free(struct sched_host *hosts, size_t n)
{
    for (size_t i = 0; hosts && i < n; i++) {
        free((char *) hosts[i].name);
    }
    free(hosts);
}

/* The groups of a VM being placed. */
struct vm_groups {
    size_t n;                   /* Number of groups. */
    struct sched_group *groups; /* Each group. */
    json_t *members;            /* Per group: host name -> members. */
};

static void
vm_groups_destroy(struct vm_groups *g)
{
    for (size_t i = 0; i < g->n; i++) {
        free((char *) g->groups[i].name);
        free((char *) g->groups[i].where);
    }
    free(g->groups);
    json_decref(g->members);
}

/* A walk over one group's members. */
struct member_walk {
    const char *prefix;    /* "GROUP/". */
    const char *skip;      /* Members on this host do not count, or NULL. */
    json_t *hosts;         /* Host name -> members there. */
    struct sched_group *g; /* The group. */
};

static int
member_cb(const struct store_obj *obj, void *w_)
{
    struct member_walk *w = w_;
    const char *host = api_get_string(obj->body, "host");

    if (strncmp(obj->name, w->prefix, strlen(w->prefix))) {
        return API_STOP;
    }
    if (host && (!w->skip || strcmp(host, w->skip))) {
        json_int_t n = json_integer_value(json_object_get(w->hosts, host));

        json_object_set_new(w->hosts, host, json_integer(n + 1));
        w->g->total++;
        if (!w->g->where) {
            w->g->where = xstrdup(host);
        }
    }
    return 0;
}

/* Reads the groups named in "groups" of VM input 'in' in 'txn' into
 * 'g': each must exist (400 otherwise) and appear once.  Members on host
 * 'skip' (if not NULL) are left out: they are leaving it. */
static int
read_groups(struct store_txn *txn, const json_t *in, const char *skip,
            struct vm_groups *g, const char *what, struct api_error *err)
{
    const json_t *list = json_object_get(in, "groups");
    const json_t *value;
    size_t i;

    g->n = 0;
    g->groups = xcalloc(json_array_size(list) + 1, sizeof *g->groups);
    g->members = json_array();
    json_array_foreach(list, i, value)
    {
        const char *name = json_string_value(value);
        struct member_walk w;
        struct store_obj obj;
        int error;

        if (!name || !api_name_is_valid(name)) {
            return api_fail(err, 400, "groups",
                            "%s: groups[%zu]: expected the name of a VM "
                            "group",
                            what, i);
        }
        for (size_t j = 0; j < g->n; j++) {
            if (!strcmp(g->groups[j].name, name)) {
                return api_fail(err, 400, "groups",
                                "%s: groups: \"%s\" is named twice", what,
                                name);
            }
        }
        error = store_get(txn, "vm-group", name, &obj);
        if (error == ENOENT) {
            return api_fail(err, 400, "groups",
                            "%s: groups: \"%s\": no such VM group (create "
                            "it with POST /v1/vm-groups)",
                            what, name);
        } else if (error) {
            return api_store_error(error, what, err);
        }
        g->groups[g->n] = (struct sched_group){
            .name = xstrdup(name),
            .affinity =
                !strcmp(api_get_string(obj.body, "policy") ?: "", "affinity"),
            .strict = !json_is_false(json_object_get(obj.body, "strict")),
        };
        store_obj_clear(&obj);
        w.prefix = xasprintf("%s/", name);
        w.skip = skip;
        w.hosts = json_object();
        w.g = &g->groups[g->n];
        g->n++;
        json_array_append_new(g->members, w.hosts);
        error = store_list(txn, "vm-group-member", w.prefix, 0, member_cb, &w);
        free((char *) w.prefix);
        if (error && error != API_STOP) {
            return api_store_error(error, what, err);
        }
    }
    return 0;
}

/* Sets the groups (read into 'g', members on host 'skip' left out) and
 * the weigher of 'req' from VM input or body 'in'. */
static int
request_rules(struct api *api, struct store_txn *txn, const json_t *in,
              const char *skip, struct sched_request *req, struct vm_groups *g,
              const char *what, struct api_error *err)
{
    const char *placement = api_get_string(in, "placement");
    int status = read_groups(txn, in, skip, g, what, err);

    if (status) {
        return status;
    }
    req->groups = g->groups;
    req->n_groups = g->n;
    pthread_mutex_lock(&api->sched->mutex);
    req->weigher = api->sched->weigher;
    pthread_mutex_unlock(&api->sched->mutex);
    if (placement) {
        sched_weigher_parse(placement, &req->weigher);
    }
    return 0;
}

/* Chooses a host for 'req' among the hosts of 'api->sched', in write
 * transaction 'txn', and stores its name in '*host' (the caller frees it)
 * and its allocation before the VM in 'alloc'.  Answers 409 with the
 * reasons if no host can take the VM. */
static int
choose_host(struct api *api, struct store_txn *txn,
            const struct sched_request *req, const struct vm_groups *g,
            char **host, struct sched_resources *alloc, int64_t *vms,
            const char *what, struct api_error *err)
{
    struct api_sched *c = api->sched;
    uint32_t *members = NULL;
    bool rebuilt = false;
    char *why = NULL;
    int status = 0;
    long best;

    pthread_mutex_lock(&c->mutex);
    if (!c->valid || store_kind_revision(api->store, "host") > c->revision) {
        int error = sched_cache_build(api, c, txn);

        if (error) {
            pthread_mutex_unlock(&c->mutex);
            return api_store_error(error, what, err);
        }
        rebuilt = true;
    }
    for (;;) {
        struct store_obj obj;
        struct sched_host *h;
        int error;

        sched_cache_liveness(api, c);
        if (g->n) {
            free(members);
            members = xcalloc(c->n * g->n, sizeof *members);
            for (size_t i = 0; i < c->n; i++) {
                for (size_t j = 0; j < g->n; j++) {
                    members[i * g->n + j] = json_integer_value(json_object_get(
                        json_array_get(g->members, j), c->hosts[i].name));
                }
                c->hosts[i].members = &members[i * g->n];
            }
        }
        free(why);
        why = NULL;
        best = sched_choose(c->hosts, c->n, req, MAX_REASONS, &why);
        for (size_t i = 0; g->n && i < c->n; i++) {
            c->hosts[i].members = NULL;
        }
        if (best < 0) {
            if (!rebuilt) {
                /* The cache may be behind: ask the store before
                 * refusing. */
                error = sched_cache_build(api, c, txn);
                if (error) {
                    status = api_store_error(error, what, err);
                    break;
                }
                rebuilt = true;
                continue;
            }
            status = api_fail(err, 409, req->host ? "host" : NULL,
                              "%s: no host can take it: %s", what, why);
            break;
        }

        /* The claim goes by the store, not the cache. */
        h = &c->hosts[best];
        error = store_get(txn, "alloc", h->name, &obj);
        if (error && error != ENOENT) {
            status = api_store_error(error, what, err);
            break;
        }
        if (!error) {
            struct sched_resources was = h->allocated;
            int64_t was_vms = h->vms;

            alloc_from_body(h, obj.body);
            store_obj_clear(&obj);
            if (memcmp(&was, &h->allocated, sizeof was) || was_vms != h->vms) {
                continue;
            }
        } else if (h->vms) {
            alloc_from_body(h, NULL);
            continue;
        }
        *host = xstrdup(h->name);
        *alloc = h->allocated;
        *vms = h->vms;
        break;
    }
    pthread_mutex_unlock(&c->mutex);
    free(members);
    free(why);
    return status;
}

int
api_make_uuid(char buf[37])
{
    uint8_t b[16];

    if (getrandom(b, sizeof b, 0) != sizeof b) {
        return errno ? errno : EIO;
    }
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    snprintf(buf, 37,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
             "%02x%02x%02x%02x%02x%02x",
             b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10],
             b[11], b[12], b[13], b[14], b[15]);
    return 0;
}

/* Checks integer field 'key' of 'in' (if present) against 'min'..'max'
 * ('unit' says in what). */
static int
check_range(const json_t *in, const char *key, json_int_t min, json_int_t max,
            const char *unit, const char *what, struct api_error *err)
{
    const json_t *v = json_object_get(in, key);

    if (v && (json_integer_value(v) < min || json_integer_value(v) > max)) {
        return api_fail(err, 400, key,
                        "%s: %s %" JSON_INTEGER_FORMAT
                        ": must be %" JSON_INTEGER_FORMAT
                        "..%" JSON_INTEGER_FORMAT " (%s)",
                        what, key, json_integer_value(v), min, max, unit);
    }
    return 0;
}

/* Checks string "power" value 'power' of 'what'. */
static int
check_power(const char *power, const char *what, struct api_error *err)
{
    static const char *const powers[] = {"running", "stopped", NULL};

    if (power && !api_is_one_of(power, powers)) {
        char *q = api_quote(power);

        api_fail(err, 400, "power",
                 "%s: power %s: expected \"running\" or \"stopped\"", what, q);
        free(q);
        return 400;
    }
    return 0;
}

/* Checks "ha" and "ha_priority" of VM input 'in' (doc/mobility.md), if
 * present. */
static int
check_ha(const json_t *in, const char *what, struct api_error *err)
{
    static const char *const modes[] = {"restart", "off", NULL};
    const char *ha = api_get_string(in, "ha");

    if (ha && !api_is_one_of(ha, modes)) {
        char *q = api_quote(ha);

        api_fail(err, 400, "ha",
                 "%s: ha %s: expected \"restart\" (start it on another host "
                 "when its host fails) or \"off\"",
                 what, q);
        free(q);
        return 400;
    }
    return check_range(in, "ha_priority", API_VM_HA_PRIORITY_MIN,
                       API_VM_HA_PRIORITY_MAX, "higher restarts first", what,
                       err);
}

/* Checks the values of VM input 'in' that need no store. */
static int
check_vm(const json_t *in, const char *what, struct api_error *err)
{
    const char *name = api_get_string(in, "name");
    const json_t *keys = json_object_get(in, "ssh_keys");
    const char *s;
    enum sched_weigher w;
    const json_t *value;
    size_t i;
    int status;

    if (strlen(name) > API_VM_NAME_MAX) {
        return api_fail(err, 400, "name",
                        "%s: name: at most %d characters (its NICs are ports "
                        "named NAME-0 to NAME-7)",
                        what, API_VM_NAME_MAX);
    }
    status = check_range(in, "vcpus", 1, API_VM_VCPUS_MAX, "virtual CPUs",
                         what, err);
    if (!status) {
        status = check_range(in, "memory_mb", 1, API_VM_MEMORY_MAX, "MiB",
                             what, err);
    }
    if (!status) {
        status =
            check_range(in, "disk_gb", 1, API_VM_DISK_MAX, "GiB", what, err);
    }
    if (!status) {
        status = check_power(api_get_string(in, "power"), what, err);
    }
    if (!status) {
        status = check_ha(in, what, err);
    }
    if (!status && (s = api_get_string(in, "host"))) {
        status = api_check_name(s, "host", what, err);
    }
    if (!status && (s = api_get_string(in, "hostname"))) {
        status = api_check_name(s, "hostname", what, err);
    }
    if (!status && (s = api_get_string(in, "image"))) {
        status = api_check_name(s, "image", what, err);
    }
    if (!status && (s = api_get_string(in, "placement"))
        && !sched_weigher_parse(s, &w)) {
        status = api_fail(err, 400, "placement",
                          "%s: placement \"%s\": expected \"spread\" or "
                          "\"pack\"",
                          what, s);
    }
    if (!status) {
        status = api_check_description(json_object_get(in, "description"),
                                       what, err);
    }
    if (status) {
        return status;
    }
    if (json_array_size(json_object_get(in, "nics")) > API_VM_NICS_MAX) {
        return api_fail(err, 400, "nics",
                        "%s: nics: %zu of them (expected at most %d)", what,
                        json_array_size(json_object_get(in, "nics")),
                        API_VM_NICS_MAX);
    }
    if (json_array_size(keys) > API_VM_SSH_KEYS_MAX) {
        return api_fail(err, 400, "ssh_keys",
                        "%s: ssh_keys: %zu of them (expected at most %d)",
                        what, json_array_size(keys), API_VM_SSH_KEYS_MAX);
    }
    json_array_foreach(keys, i, value)
    {
        if (!json_is_string(value) || !json_string_length(value)
            || json_string_length(value) > API_VM_SSH_KEY_MAX
            || strchr(json_string_value(value), '\n')) {
            return api_fail(err, 400, "ssh_keys",
                            "%s: ssh_keys[%zu]: expected one line of 1 to %d "
                            "characters",
                            what, i, API_VM_SSH_KEY_MAX);
        }
    }
    value = json_object_get(in, "user_data");
    if (value && json_string_length(value) > API_VM_USER_DATA_MAX) {
        return api_fail(err, 400, "user_data",
                        "%s: user_data: %zu bytes (expected at most %d)", what,
                        json_string_length(value), API_VM_USER_DATA_MAX);
    }
    return 0;
}

/* Reads image 'name' in 'txn' for 'what': it must exist (400) and be
 * active (409).  Stores its virtual size, in GiB rounded up, in
 * '*size_gb'. */
static int
read_image(struct store_txn *txn, const char *name, int64_t *size_gb,
           const char *what, struct api_error *err)
{
    struct store_obj obj;
    const char *status;
    json_int_t bytes;
    int error = store_get(txn, "image", name, &obj);

    if (error == ENOENT) {
        return api_fail(err, 400, "image",
                        "%s: image \"%s\": no such image (see GET "
                        "/v1/images)",
                        what, name);
    } else if (error) {
        return api_store_error(error, what, err);
    }
    status = api_get_string(obj.body, "status");
    bytes =
        json_integer_value(json_object_get(obj.body, "virtual_size_bytes"));
    if (!status || strcmp(status, "active")) {
        api_fail(err, 409, "image",
                 "%s: image \"%s\": is %s, not active (upload its file with "
                 "PUT /v1/images/%s/file first)",
                 what, name, status ? status : "not ready", name);
        store_obj_clear(&obj);
        return 409;
    }
    store_obj_clear(&obj);
    *size_gb = (bytes + (1LL << 30) - 1) >> 30;
    if (*size_gb < 1) {
        *size_gb = 1;
    }
    return 0;
}

/* Rewrites the field of 'err', an error about NIC 'i', as "nics[I].FIELD"
 * ("nics[I]" if it named none). */
static void
nic_field(struct api_error *err, size_t i)
{
    char *field = err->field ? xasprintf("nics[%zu].%s", i, err->field)
                             : xasprintf("nics[%zu]", i);

    free(err->field);
    err->field = field;
}

/* Creates the ports of VM 'name' (UUID 'uuid', on 'host') for the NICs
 * of input 'in' in 'txn', and stores the NICs as the VM keeps them into
 * 'body'. */
static int
add_nics(struct store_txn *txn, const char *name, const char *uuid,
         const char *host, const json_t *in, json_t *body, const char *what,
         struct api_error *err)
{
    const json_t *nics = json_object_get(in, "nics");
    json_t *kept = json_array();
    const json_t *nic;
    size_t i;
    int status = 0;

    json_array_foreach(nics, i, nic)
    {
        char *nic_what = xasprintf("%s: nics[%zu]", what, i);
        char *port = xasprintf("%s-%zu", name, i);
        char *port_what = xasprintf("%s (port \"%s\")", nic_what, port);
        json_t *port_in;

        status = api_check_input(nic, nic_fields, ARRAY_SIZE(nic_fields),
                                 nic_what, NULL, false, err);
        if (!status) {
            port_in = json_deep_copy(nic);
            json_object_set_new(port_in, "host", json_string(host));
            json_object_set_new(port_in, "vm", json_string(name));
            json_object_set_new(port_in, "device",
                                json_sprintf("fv%.8s%zu", uuid, i));
            status = api_port_add(txn, port, port_in, port_what, err);
            json_decref(port_in);
        }
        if (status) {
            nic_field(err, i);
        } else {
            json_array_append(kept, (json_t *) nic);
        }
        free(nic_what);
        free(port);
        free(port_what);
        if (status) {
            break;
        }
    }
    json_object_set_new(body, "nics", kept);
    return status;
}

/* Writes the index objects of VM 'name' on 'host' of image 'image' in
 * groups 'g', and 'alloc' (with the VM) as the host's allocation. */
static int
claim(struct store_txn *txn, const char *name, const char *host,
      const char *image, const struct vm_groups *g, const json_t *alloc)
{
    json_t *empty = json_object();
    json_t *member = json_pack("{ss}", "host", host);
    char *key = xasprintf("%s/%s", host, name);
    int error;

    error = store_put(txn, "alloc", host, (json_t *) alloc, STORE_ANY, NULL);
    if (!error) {
        error = store_put(txn, "host-vm", key, empty, STORE_ANY, NULL);
    }
    if (!error) {
        /* Back on a host it once left. */
        error = store_delete(txn, "vm-moved", key, STORE_ANY);
        error = error == ENOENT ? 0 : error;
    }
    free(key);
    key = xasprintf("%s/%s", image, name);
    if (!error) {
        error = store_put(txn, "image-user", key, empty, STORE_ANY, NULL);
    }
    for (size_t i = 0; !error && i < g->n; i++) {
        free(key);
        key = xasprintf("%s/%s", g->groups[i].name, name);
        error =
            store_put(txn, "vm-group-member", key, member, STORE_ANY, NULL);
    }
    free(key);
    json_decref(member);
    json_decref(empty);
    return error;
}

/* Returns the allocation body of 'alloc' and 'vms'. */
static json_t *
alloc_body(const struct sched_resources *alloc, int64_t vms)
{
    return json_pack("{sIsIsIsI}", "vcpus", (json_int_t) alloc->vcpus,
                     "memory_mb", (json_int_t) alloc->memory_mb, "disk_gb",
                     (json_int_t) alloc->disk_gb, "vms", (json_int_t) vms);
}

/* Returns the reason of host 'host''s condition of kind "vm" about VM
 * 'name', read in 'txn' (a new string), or NULL if it has none. */
static char *
vm_condition(struct store_txn *txn, const char *host, const char *name)
{
    const json_t *c;
    struct store_obj obj;
    char *reason = NULL;
    size_t i;

    if (store_get(txn, "host-conditions", host, &obj)) {
        return NULL;
    }
    json_array_foreach(json_object_get(obj.body, "conditions"), i, c)
    {
        if (!reason && !strcmp(api_get_string(c, "kind") ?: "", "vm")
            && !strcmp(api_get_string(c, "name") ?: "", name)) {
            reason = xstrdup(api_get_string(c, "reason") ?: "?");
        }
    }
    store_obj_clear(&obj);
    return reason;
}

/* The status of VM 'obj' from its desired power and its host agent's
 * report, with why in '*reason' (a new string) when it is not plain, and
 * the resources the report says it uses in '*usage' ({"cpu_time_ns",
 * "memory_kb"}, a new object; NULL without a report).  A VM its host's
 * agent reports as a condition (it cannot run it) and not in its "vms" is
 * "failed" with the condition's reason. */
static const char *
vm_status(struct store_txn *txn, const struct store_obj *obj, char **reason,
          json_t **usage)
{
    const char *host = api_get_string(obj->body, "host");
    bool running =
        !strcmp(api_get_string(obj->body, "power") ?: "running", "running");
    const char *state = NULL, *why = NULL, *status;
    struct store_obj report = {0};

    *reason = NULL;
    *usage = NULL;
    if (!host) {
        *reason = xstrdup("not placed on a host");
        return "pending";
    }
    if (txn && !store_get(txn, "vm-status", obj->name, &report)) {
        const char *on = api_get_string(report.body, "host");

        /* A report from another host (an older placement) says nothing
         * about this one. */
        if (on && !strcmp(on, host)) {
            state = api_get_string(report.body, "state");
            why = api_get_string(report.body, "reason");
            *usage = json_pack(
                "{sIsI}", "cpu_time_ns",
                json_integer_value(
                    json_object_get(report.body, "cpu_time_ns")),
                "memory_kb",
                json_integer_value(json_object_get(report.body, "memory_kb")));
        }
    }
    if (!state && txn && (*reason = vm_condition(txn, host, obj->name))) {
        status = "failed";
    } else if (!state) {
        *reason = xasprintf("placed on host \"%s\"; its agent has not "
                            "reported the VM yet",
                            host);
        status = "scheduled";
    } else if (!strcmp(state, "failed")) {
        *reason = xstrdup(why ? why : "its host's agent reports a failure");
        status = "failed";
    } else if (running) {
        /* On its way up, or an agent that has not seen "running" yet. */
        status = !strcmp(state, "running") ? "running" : "starting";
    } else {
        status = !strcmp(state, "stopped") ? "stopped" : "stopping";
    }
    if (why && !*reason && strcmp(status, "running")
        && strcmp(status, "stopped")) {
        *reason = xstrdup(why);
    }
    if (report.body) {
        store_obj_clear(&report);
    }
    return status;
}

/* Replaces '*status' and '*reason' (a new string) of stored VM 'obj' if
 * its host is declared failed: an HA VM is "pending" until the HA monitor
 * restarts it elsewhere (saying why it waits), one with "ha" "off" is
 * "failed". */
static void
ha_status(struct api *api, const struct store_obj *obj, const char **status,
          char **reason)
{
    const char *host = api_get_string(obj->body, "host");
    const json_t *waiting;
    char *why = NULL;

    if (!api || !host || !api_host_is_failed(api, host)) {
        return;
    }
    if (!strcmp(api_get_string(obj->body, "ha") ?: "restart", "off")) {
        *status = "failed";
        why = xasprintf("its host \"%s\" failed (ha off: not restarted "
                        "elsewhere)",
                        host);
    } else {
        pthread_mutex_lock(&api->mutex);
        waiting = json_object_get(api->ha_waiting, obj->name);
        why = waiting ? xstrdup(json_string_value(waiting)) : NULL;
        pthread_mutex_unlock(&api->mutex);
        *status = "pending";
        if (!why) {
            why = xasprintf("ha: its host \"%s\" failed; being restarted "
                            "elsewhere",
                            host);
        }
    }
    free(*reason);
    *reason = why;
}

/* The API form of stored VM 'obj' (an api_out_func): its NICs with their
 * ports' addresses and devices, its status. */
static json_t *
vm_out(struct api *api, struct store_txn *txn, const struct store_obj *obj)
{
    json_t *out = api_object_out(obj);
    json_t *nics = json_array();
    const json_t *nic;
    const char *status;
    json_t *usage;
    char *reason;
    size_t i;

    json_array_foreach(json_object_get(obj->body, "nics"), i, nic)
    {
        char *name = xasprintf("%s-%zu", obj->name, i);
        json_t *copy = json_deep_copy(nic);
        struct store_obj port;

        json_object_set_new(copy, "port", json_string(name));
        if (txn && !store_get(txn, "port", name, &port)) {
            static const char *const keys[] = {"mac", "ip", "device"};

            for (size_t k = 0; k < ARRAY_SIZE(keys); k++) {
                json_object_set(copy, keys[k],
                                json_object_get(port.body, keys[k]));
            }
            store_obj_clear(&port);
        }
        json_array_append_new(nics, copy);
        free(name);
    }
    json_object_set_new(out, "nics", nics);
    /* VMs stored before HA existed have the defaults. */
    if (!json_object_get(out, "ha")) {
        json_object_set_new(out, "ha", json_string("restart"));
    }
    if (!json_object_get(out, "ha_priority")) {
        json_object_set_new(out, "ha_priority",
                            json_integer(API_VM_HA_PRIORITY_DEFAULT));
    }
    status = vm_status(txn, obj, &reason, &usage);
    ha_status(api, obj, &status, &reason);
    json_object_set_new(out, "status", json_string(status));
    if (reason) {
        json_object_set_new(out, "status_reason", json_string(reason));
        free(reason);
    }
    if (usage) {
        json_object_set_new(out, "usage", usage);
    }
    if (txn) {
        api_migration_vm_out(txn, obj->name, out);
    }
    return out;
}

const char *
api_vm_status(struct store_txn *txn, const struct store_obj *obj)
{
    const char *status;
    json_t *usage;
    char *reason;

    status = vm_status(txn, obj, &reason, &usage);
    free(reason);
    json_decref(usage);
    return status;
}

static const struct api_kind vm_kind = {
    .kind = "vm",
    .plural = "vms",
    .fields = vm_fields,
    .n_fields = ARRAY_SIZE(vm_fields),
    .out = vm_out,
};

/* Creates VM 'name' from checked input 'in' in write transaction 'txn':
 * places it, claims its host, creates its ports.  Stores the new body in
 * 'body' and the host's new allocation in '*allocp'. */
static int
create_vm(struct api *api, struct store_txn *txn, const char *name,
          const json_t *in, json_t *body, json_t **allocp, const char *what,
          struct api_error *err)
{
    const char *image = api_get_string(in, "image");
    const char *pin = api_get_string(in, "host");
    struct vm_groups g = {.n = 0};
    struct sched_request req = {
        .need.vcpus = json_integer_value(json_object_get(in, "vcpus")),
        .need.memory_mb = json_integer_value(json_object_get(in, "memory_mb")),
        .host = pin,
    };
    struct sched_resources alloc = {0};
    int64_t image_gb = 0, vms = 0;
    char *host = NULL;
    char uuid[37];
    int status, error;

    status = read_image(txn, image, &image_gb, what, err);
    if (status) {
        goto out;
    }
    req.need.disk_gb = json_object_get(in, "disk_gb")
                           ? json_integer_value(json_object_get(in, "disk_gb"))
                           : image_gb;
    if (req.need.disk_gb < image_gb) {
        status = api_fail(err, 400, "disk_gb",
                          "%s: disk_gb %" PRId64 ": smaller than image "
                          "\"%s\", whose disk is %" PRId64 " GiB",
                          what, req.need.disk_gb, image, image_gb);
        goto out;
    }
    if (pin) {
        status = api_check_present(txn, "host", pin, what, err);
        if (status == 404) {
            status = api_fail(err, 400, "host",
                              "%s: host \"%s\": no such host (see GET "
                              "/v1/hosts)",
                              what, pin);
        }
        if (status) {
            goto out;
        }
    }
    status = request_rules(api, txn, in, NULL, &req, &g, what, err);
    if (status) {
        goto out;
    }
    status = choose_host(api, txn, &req, &g, &host, &alloc, &vms, what, err);
    if (status) {
        goto out;
    }

    alloc.vcpus += req.need.vcpus;
    alloc.memory_mb += req.need.memory_mb;
    alloc.disk_gb += req.need.disk_gb;
    *allocp = alloc_body(&alloc, vms + 1);
    error = api_make_uuid(uuid);
    if (!error) {
        error = claim(txn, name, host, image, &g, *allocp);
    }
    if (error) {
        status = api_store_error(error, what, err);
        goto out;
    }

    json_object_set_new(body, "uuid", json_string(uuid));
    json_object_set(body, "vcpus", json_object_get(in, "vcpus"));
    json_object_set(body, "memory_mb", json_object_get(in, "memory_mb"));
    json_object_set_new(body, "image", json_string(image));
    json_object_set_new(body, "disk_gb", json_integer(req.need.disk_gb));
    json_object_set_new(body, "host", json_string(host));
    if (pin) {
        /* Maintenance and the balancer leave it where it was asked to
         * be. */
        json_object_set_new(body, "pinned", json_true());
    }
    json_object_set_new(body, "hostname",
                        json_string(api_get_string(in, "hostname") ?: name));
    json_object_set_new(body, "power",
                        json_string(api_get_string(in, "power") ?: "running"));
    json_object_set_new(body, "boot", json_integer(0));
    json_object_set_new(body, "ha",
                        json_string(api_get_string(in, "ha") ?: "restart"));
    json_object_set_new(body, "ha_priority",
                        json_integer(json_object_get(in, "ha_priority")
                                         ? json_integer_value(json_object_get(
                                             in, "ha_priority"))
                                         : API_VM_HA_PRIORITY_DEFAULT));
    json_object_set_new(body, "groups",
                        json_deep_copy(json_object_get(in, "groups"))
                            ?: json_array());
    if (api_get_string(in, "placement")) {
        json_object_set(body, "placement", json_object_get(in, "placement"));
    }
    if (json_object_get(in, "ssh_keys")) {
        json_object_set(body, "ssh_keys", json_object_get(in, "ssh_keys"));
    }
    if (json_object_get(in, "user_data")) {
        json_object_set(body, "user_data", json_object_get(in, "user_data"));
    }
    if (json_object_get(in, "description")) {
        json_object_set(body, "description",
                        json_object_get(in, "description"));
    }
    status = add_nics(txn, name, uuid, host, in, body, what, err);

out:
    vm_groups_destroy(&g);
    free(host);
    return status;
}

int
api_vm_create(struct api *api, const json_t *in, json_t **out,
              struct api_error *err)
{
    const char *name = api_get_string(in, "name");
    char *what = api_what("vm", name);
    struct store_txn *txn = NULL;
    json_t *body = json_object();
    json_t *alloc = NULL;
    int status;

    status = api_check_input(in, vm_fields, ARRAY_SIZE(vm_fields), what, NULL,
                             false, err);
    if (!status) {
        status = api_check_name(name, "name", what, err);
    }
    if (!status) {
        status = check_vm(in, what, err);
    }
    if (!status) {
        status = api_kind_create_begin(api, &vm_kind, name, what, &txn, err);
    }
    if (!status) {
        status = create_vm(api, txn, name, in, body, &alloc, what, err);
    }
    if (!status) {
        status = api_kind_create_finish(api, &vm_kind, name, what, &txn, body,
                                        out, err);
    }
    if (status == 201) {
        sched_cache_note(api, api_get_string(body, "host"), alloc);
    }
    store_abort(txn);
    json_decref(body);
    json_decref(alloc);
    free(what);
    return status;
}

int
api_vm_get(struct api *api, const char *name, json_t **out,
           struct api_error *err)
{
    return api_kind_get(api, &vm_kind, name, out, err);
}

/* A VM list in the making. */
struct vm_filter {
    struct api *api;       /* For the API form. */
    struct store_txn *txn; /* Where to read. */
    const char *host;      /* Only VMs on this host, or NULL. */
    const char *status;    /* Only VMs of this status, or NULL. */
    const char *image;     /* Only VMs of this image, or NULL. */
    size_t want;           /* Items wanted: the limit plus one. */
    json_t *items;         /* The VMs found. */
    const char *prefix;    /* "HOST/", when walking a host's index. */
    int error;             /* A store failure of that walk, or 0. */
};

static int
vm_list_cb(const struct store_obj *obj, void *f_)
{
    struct vm_filter *f = f_;
    const char *host = api_get_string(obj->body, "host");
    const char *image = api_get_string(obj->body, "image");
    json_t *out;

    if ((f->host && (!host || strcmp(host, f->host)))
        || (f->image && (!image || strcmp(image, f->image)))) {
        return 0;
    }
    out = vm_out(f->api, f->txn, obj);
    if (f->status && strcmp(api_get_string(out, "status"), f->status)) {
        json_decref(out);
        return 0;
    }
    json_array_append_new(f->items, out);
    return json_array_size(f->items) >= f->want ? API_STOP : 0;
}

/* Visits the VMs named by a "host-vm" index under 'f->prefix'. */
static int
host_vm_cb(const struct store_obj *index, void *f_)
{
    struct vm_filter *f = f_;
    size_t len = strlen(f->prefix);
    struct store_obj obj;
    int error;

    if (strncmp(index->name, f->prefix, len)) {
        return API_STOP;
    }
    error = store_get(f->txn, "vm", index->name + len, &obj);
    if (error == ENOENT) {
        return 0;
    } else if (error) {
        f->error = error;
        return API_STOP;
    }
    error = vm_list_cb(&obj, f);
    store_obj_clear(&obj);
    return error;
}

int
api_vm_list(struct api *api, const json_t *query, json_t **out,
            struct api_error *err)
{
    static const char *const extra[] = {"host", "status", "image", NULL};
    static const char *const statuses[] = {"pending", "scheduled", "starting",
                                           "running", "stopping",  "stopped",
                                           "failed",  "migrating", NULL};
    struct vm_filter f = {.api = api};
    const char *page_token;
    size_t limit;
    int status, error;

    status = api_list_query(query, "vms", extra, &limit, &page_token, err);
    if (status) {
        return status;
    }
    f.host = api_get_string(query, "host");
    f.status = api_get_string(query, "status");
    f.image = api_get_string(query, "image");
    if (f.host) {
        status = api_check_name(f.host, "host", "listing vms", err);
    }
    if (!status && f.image) {
        status = api_check_name(f.image, "image", "listing vms", err);
    }
    if (!status && f.status && !api_is_one_of(f.status, statuses)) {
        status = api_fail(err, 400, "status",
                          "listing vms: status \"%s\": expected pending, "
                          "scheduled, starting, running, stopping, stopped, "
                          "failed or migrating",
                          f.status);
    }
    if (!status) {
        status = api_begin(api, false, &f.txn, err);
    }
    if (status) {
        return status;
    }
    f.want = limit + 1;
    f.items = json_array();
    if (f.host) {
        /* A host's VMs by its index, rather than every VM. */
        char *after = xasprintf("%s/%s", f.host, page_token ?: "");

        f.prefix = xasprintf("%s/", f.host);
        error = store_list(f.txn, "host-vm", after, 0, host_vm_cb, &f);
        error = error == API_STOP ? f.error : error;
        free((char *) f.prefix);
        free(after);
    } else {
        error = store_list(f.txn, "vm", page_token, 0, vm_list_cb, &f);
    }
    store_abort(f.txn);
    if (error && error != API_STOP) {
        json_decref(f.items);
        return api_store_error(error, "listing vms", err);
    }
    *out = api_list_page(f.items, limit);
    return 200;
}

/* Begins a write transaction into '*txn' and reads VM 'name' into 'obj'
 * (404 if there is none). */
static int
begin_vm(struct api *api, const char *name, const char *what,
         struct store_txn **txn, struct store_obj *obj, struct api_error *err)
{
    int status = api_begin(api, true, txn, err);

    return status ? status : api_get_object(*txn, "vm", name, what, obj, err);
}

/* Adds 'sign' (1 or -1) times the resources of VM body 'vm' (and one VM)
 * to the allocation of host 'host' in 'txn', and stores the new
 * allocation in '*allocp' (NULL if there was none to release from). */
static int
alloc_add(struct store_txn *txn, const char *host, const json_t *vm, int sign,
          json_t **allocp)
{
    struct sched_host h = {.name = host};
    struct store_obj alloc;
    int error = store_get(txn, "alloc", host, &alloc);

    *allocp = NULL;
    if (!error) {
        alloc_from_body(&h, alloc.body);
        store_obj_clear(&alloc);
    } else if (error != ENOENT || sign < 0) {
        /* Nothing to release from a host without an allocation. */
        return error == ENOENT ? 0 : error;
    }
    h.allocated.vcpus +=
        sign * json_integer_value(json_object_get(vm, "vcpus"));
    h.allocated.memory_mb +=
        sign * json_integer_value(json_object_get(vm, "memory_mb"));
    h.allocated.disk_gb +=
        sign * json_integer_value(json_object_get(vm, "disk_gb"));
    h.vms += sign;
    *allocp = alloc_body(&h.allocated, h.vms);
    error = h.vms > 0 ? store_put(txn, "alloc", host, *allocp, STORE_ANY, NULL)
                      : store_delete(txn, "alloc", host, STORE_ANY);
    return error == ENOENT ? 0 : error;
}

/* Undoes claim() and add_nics() for stored VM 'obj', in 'txn', and stores
 * the host's allocation without it in '*allocp'. */
static int
release(struct store_txn *txn, const struct store_obj *obj, json_t **allocp,
        const char *what, struct api_error *err)
{
    const char *host = api_get_string(obj->body, "host");
    const char *image = api_get_string(obj->body, "image");
    const json_t *value;
    char *key;
    size_t i;
    int status = 0, error;

    json_array_foreach(json_object_get(obj->body, "nics"), i, value)
    {
        char *name = xasprintf("%s-%zu", obj->name, i);
        struct store_obj port;

        error = store_get(txn, "port", name, &port);
        if (!error) {
            status = api_port_remove(txn, &port, what, err);
            store_obj_clear(&port);
        } else if (error != ENOENT) {
            status = api_store_error(error, what, err);
        }
        free(name);
        if (status) {
            return status;
        }
    }
    json_array_foreach(json_object_get(obj->body, "groups"), i, value)
    {
        key = xasprintf("%s/%s", json_string_value(value), obj->name);
        error = store_delete(txn, "vm-group-member", key, STORE_ANY);
        free(key);
        if (error && error != ENOENT) {
            return api_store_error(error, what, err);
        }
    }
    key = xasprintf("%s/%s", image ? image : "", obj->name);
    error = store_delete(txn, "image-user", key, STORE_ANY);
    free(key);
    if (!error || error == ENOENT) {
        error = store_delete(txn, "vm-status", obj->name, STORE_ANY);
    }
    if (!error || error == ENOENT) {
        error = store_delete(txn, "migration-result", obj->name, STORE_ANY);
    }
    if (!host) {
        return error && error != ENOENT ? api_store_error(error, what, err)
                                        : 0;
    }
    key = xasprintf("%s/%s", host, obj->name);
    if (!error || error == ENOENT) {
        error = store_delete(txn, "host-vm", key, STORE_ANY);
    }
    free(key);
    if (!error || error == ENOENT) {
        error = alloc_add(txn, host, obj->body, -1, allocp);
    }
    return error && error != ENOENT ? api_store_error(error, what, err) : 0;
}

int
vms_move_host(struct api *api, struct store_txn *txn,
              const struct store_obj *vm, const char *to, bool claim_to,
              const char *what, struct api_error *err)
{
    const char *from = api_get_string(vm->body, "host");
    json_t *from_alloc = NULL, *to_alloc = NULL;
    json_t *empty = json_object();
    json_t *member = json_pack("{ss}", "host", to);
    json_t *body = NULL;
    const json_t *value;
    char *key = NULL;
    char now[32];
    int status = 0, error = 0;
    size_t i;

    if (!from || !strcmp(from, to)) {
        status = api_fail(err, 409, "host", "%s: is on host \"%s\" already",
                          what, to);
        goto out;
    }
    error = alloc_add(txn, from, vm->body, -1, &from_alloc);
    if (!error && claim_to) {
        error = alloc_add(txn, to, vm->body, 1, &to_alloc);
    }
    key = xasprintf("%s/%s", from, vm->name);
    if (!error) {
        error = store_delete(txn, "host-vm", key, STORE_ANY);
        error = error == ENOENT ? 0 : error;
    }
    if (!error) {
        /* The VM's disk and seed are the new host's now: the old host's
         * agent must remove the VM without them (doc/mobility.md). */
        json_t *moved =
            json_pack("{sO}", "uuid", json_object_get(vm->body, "uuid"));

        error = store_put(txn, "vm-moved", key, moved, STORE_ANY, NULL);
        json_decref(moved);
    }
    free(key);
    key = xasprintf("%s/%s", to, vm->name);
    if (!error) {
        error = store_put(txn, "host-vm", key, empty, STORE_ANY, NULL);
    }
    if (!error) {
        /* A report from the old host says nothing about the new one. */
        error = store_delete(txn, "vm-status", vm->name, STORE_ANY);
        error = error == ENOENT ? 0 : error;
    }
    json_array_foreach(json_object_get(vm->body, "groups"), i, value)
    {
        if (!error) {
            free(key);
            key = xasprintf("%s/%s", json_string_value(value), vm->name);
            error = store_put(txn, "vm-group-member", key, member, STORE_ANY,
                              NULL);
        }
    }
    if (error) {
        status = api_store_error(error, what, err);
        goto out;
    }
    json_array_foreach(json_object_get(vm->body, "nics"), i, value)
    {
        char *port = xasprintf("%s-%zu", vm->name, i);

        status = api_port_move(txn, port, to, what, err);
        free(port);
        if (status) {
            goto out;
        }
    }
    body = json_deep_copy(vm->body);
    api_now(now);
    json_object_set_new(body, "host", json_string(to));
    json_object_set_new(body, "updated_at", json_string(now));
    error = store_put(txn, "vm", vm->name, body, vm->version, NULL);
    if (error) {
        status = api_store_error(error, what, err);
        goto out;
    }
    if (from_alloc) {
        sched_cache_note(api, from, from_alloc);
    }
    if (to_alloc) {
        sched_cache_note(api, to, to_alloc);
    }

out:
    free(key);
    json_decref(body);
    json_decref(member);
    json_decref(empty);
    json_decref(from_alloc);
    json_decref(to_alloc);
    return status;
}

int
api_vm_ha_restart(struct api *api, const char *name, const char *failed,
                  char **to, struct api_error *err)
{
    char *what = api_what("vm", name);
    struct vm_groups g = {.n = 0};
    struct sched_request req = {.host = NULL};
    struct sched_resources alloc;
    struct store_txn *txn = NULL;
    struct store_obj obj = {0};
    const char *host;
    int64_t vms;
    int status;

    *to = NULL;
    status = begin_vm(api, name, what, &txn, &obj, err);
    if (status) {
        goto out;
    }
    host = api_get_string(obj.body, "host");
    if (!host || strcmp(host, failed)
        || !strcmp(api_get_string(obj.body, "ha") ?: "restart", "off")) {
        /* Moved, deleted and made again, or changed since it was
         * listed. */
        goto out;
    }
    req.need.vcpus = json_integer_value(json_object_get(obj.body, "vcpus"));
    req.need.memory_mb =
        json_integer_value(json_object_get(obj.body, "memory_mb"));
    req.need.disk_gb =
        json_integer_value(json_object_get(obj.body, "disk_gb"));
    status = request_rules(api, txn, obj.body, failed, &req, &g, what, err);
    if (status) {
        goto out;
    }
    status = choose_host(api, txn, &req, &g, to, &alloc, &vms, what, err);
    if (!status) {
        status = vms_move_host(api, txn, &obj, *to, true, what, err);
    }
    if (!status) {
        status = api_commit(txn, NULL, err);
        txn = NULL;
    }
    if (status) {
        free(*to);
        *to = NULL;
    }

out:
    vm_groups_destroy(&g);
    store_abort(txn);
    if (obj.body) {
        store_obj_clear(&obj);
    }
    free(what);
    return status;
}

int
api_vm_delete(struct api *api, const char *name, const json_t *in,
              int64_t if_match, struct api_error *err)
{
    char *what = api_what("vm", name);
    struct store_txn *txn = NULL;
    struct store_obj obj = {0};
    json_t *alloc = NULL;
    int status;

    status = api_kind_delete_begin(api, &vm_kind, name, in, if_match, what,
                                   &txn, &obj, err);
    if (!status) {
        struct store_obj mig;

        if (!store_get(txn, "migration", name, &mig)) {
            status = api_fail(err, 409, NULL,
                              "%s: is migrating to host \"%s\" (cancel it "
                              "with POST /v1/vms/%s/migrate/cancel, then "
                              "delete it)",
                              what, api_get_string(mig.body, "to"), name);
            store_obj_clear(&mig);
        }
    }
    if (!status) {
        int error = store_delete(txn, "vm", name, obj.version);

        status = error ? api_store_error(error, what, err)
                       : release(txn, &obj, &alloc, what, err);
    }
    if (!status) {
        status = api_finish_no_content(&txn, 0, what, err);
    }
    if (status == 204 && alloc) {
        sched_cache_note(api, api_get_string(obj.body, "host"), alloc);
    }
    store_abort(txn);
    store_obj_clear(&obj);
    json_decref(alloc);
    free(what);
    return status;
}

int
api_vm_action(struct api *api, const char *name, const char *action,
              const json_t *in, json_t **out, struct api_error *err)
{
    static const char *const actions[] = {"start", "stop", "reboot", NULL};
    char *what = api_what("vm", name);
    struct store_txn *txn = NULL;
    struct store_obj obj = {0};
    const char *power;
    json_t *body = NULL;
    int status;

    if (!api_is_one_of(action, actions)) {
        status = api_fail(err, 404, NULL,
                          "%s: no action \"%s\" (expected start, stop or "
                          "reboot)",
                          what, action);
        goto out;
    }
    if (in && (!json_is_object(in) || json_object_size(in))) {
        status = api_fail(err, 400, NULL,
                          "%s: %s: takes no body (or an empty object)", what,
                          action);
        goto out;
    }
    status = begin_vm(api, name, what, &txn, &obj, err);
    if (status) {
        goto out;
    }
    power = api_get_string(obj.body, "power") ?: "running";
    body = json_deep_copy(obj.body);
    if (!strcmp(action, "reboot")) {
        if (strcmp(power, "running")) {
            status = api_fail(err, 409, "power",
                              "%s: is stopped; start it instead of "
                              "rebooting it",
                              what);
            goto out;
        }
        json_object_set_new(
            body, "boot",
            json_integer(json_integer_value(json_object_get(body, "boot"))
                         + 1));
    } else {
        json_object_set_new(
            body, "power",
            json_string(!strcmp(action, "start") ? "running" : "stopped"));
    }
    if (!json_equal(body, obj.body)) {
        char now[32];
        int64_t revision;
        int error;

        api_now(now);
        json_object_set_new(body, "updated_at", json_string(now));
        error = store_put(txn, "vm", name, body, obj.version, NULL);
        if (error) {
            status = api_store_error(error, what, err);
            goto out;
        }
        api_updated(&obj, body, 0);
        status = api_commit(txn, &revision, err);
        txn = NULL;
        if (status) {
            goto out;
        }
        obj.mod_revision = revision;
    }
    if (!txn) {
        status = api_begin(api, false, &txn, err);
        if (status) {
            goto out;
        }
    }
    *out = vm_out(api, txn, &obj);
    status = 200;

out:
    store_abort(txn);
    store_obj_clear(&obj);
    json_decref(body);
    free(what);
    return status;
}

/* Applies PATCH 'in' of a VM (an api_apply_func): only its HA settings
 * change. */
static int
patch_apply(struct store_txn *txn, const struct store_obj *obj,
            const json_t *in, json_t *body, const char *what,
            struct api_error *err)
{
    const json_t *ha = json_object_get(in, "ha");
    const json_t *prio = json_object_get(in, "ha_priority");

    (void) txn;
    (void) obj;
    if (json_is_null(ha) || json_is_null(prio)) {
        return api_fail(err, 400, json_is_null(ha) ? "ha" : "ha_priority",
                        "%s: %s: cannot be removed; give a value", what,
                        json_is_null(ha) ? "ha" : "ha_priority");
    }
    if (ha) {
        json_object_set(body, "ha", (json_t *) ha);
    }
    if (prio) {
        json_object_set(body, "ha_priority", (json_t *) prio);
    }
    return 0;
}

int
api_vm_patch(struct api *api, const char *name, const json_t *in,
             int64_t if_match, json_t **out, struct api_error *err)
{
    static const char *const mutable[] = {"ha", "ha_priority", "version",
                                          NULL};
    char *what = api_what("vm", name);
    const char *key;
    json_t *value;
    int status = 0;

    if (!json_is_object(in)) {
        status = api_fail(err, 400, NULL,
                          "%s: expected a JSON object (a merge patch)", what);
    }
    json_object_foreach((json_t *) in, key, value)
    {
        if (!status && !api_is_one_of(key, mutable)) {
            status = api_fail(err, 400, key,
                              "%s: %s: cannot be changed by PATCH (only ha "
                              "and ha_priority can; power goes through "
                              "POST /v1/vms/%s/start and /stop, the rest "
                              "is fixed at create)",
                              what, key, name);
        }
    }
    if (!status) {
        status = check_ha(in, what, err);
    }
    if (!status) {
        status = api_kind_patch(api, &vm_kind, name, in, if_match, what,
                                patch_apply, out, err);
    }
    free(what);
    return status;
}

int
api_vm_check_reports(const json_t *vms, const char *what,
                     struct api_error *err)
{
    static const char *const states[] = {"starting", "running", "stopping",
                                         "stopped",  "failed",  "incoming",
                                         NULL};
    static const char *const counters[] = {"cpu_time_ns", "memory_kb", "boot"};
    const char *name;
    json_t *report;

    json_object_foreach((json_t *) vms, name, report)
    {
        const char *state = api_get_string(report, "state");
        const json_t *reason = json_object_get(report, "reason");
        const json_t *migration = json_object_get(report, "migration");
        size_t known = 1 + (reason != NULL) + (migration != NULL);

        if (api_check_name(name, "vms", what, err)) {
            return 400;
        }
        if (!state || !api_is_one_of(state, states)) {
            return api_fail(err, 400, "vms",
                            "%s: vms: \"%s\": state: expected \"starting\", "
                            "\"running\", \"stopping\", \"stopped\", "
                            "\"failed\" or \"incoming\"",
                            what, name);
        }
        if (reason
            && (!json_is_string(reason)
                || json_string_length(reason) > API_CONDITION_TEXT_MAX)) {
            return api_fail(err, 400, "vms",
                            "%s: vms: \"%s\": reason: expected a string of at "
                            "most %d characters",
                            what, name, API_CONDITION_TEXT_MAX);
        }
        if (migration
            && api_migration_check_report(migration, name, what, err)) {
            return 400;
        }
        for (size_t i = 0; i < ARRAY_SIZE(counters); i++) {
            const json_t *v = json_object_get(report, counters[i]);

            if (!v) {
                continue;
            }
            known++;
            if (!json_is_integer(v) || json_integer_value(v) < 0) {
                return api_fail(err, 400, "vms",
                                "%s: vms: \"%s\": %s: expected an integer 0 "
                                "or more",
                                what, name, counters[i]);
            }
        }
        if (known != json_object_size(report)) {
            return api_fail(err, 400, "vms",
                            "%s: vms: \"%s\": unknown field (expected state, "
                            "reason, cpu_time_ns, memory_kb, boot, "
                            "migration)",
                            what, name);
        }
    }
    return 0;
}

/* A walk over the VMs that moved away from one host. */
struct moved_walk {
    const char *prefix; /* "HOST/". */
    const json_t *vms;  /* The host's report of its VMs. */
    json_t *gone;       /* Keys of those it no longer reports. */
};

static int
moved_cb(const struct store_obj *obj, void *mw_)
{
    struct moved_walk *mw = mw_;
    size_t len = strlen(mw->prefix);

    if (strncmp(obj->name, mw->prefix, len)) {
        return API_STOP;
    }
    if (!json_object_get(mw->vms, obj->name + len)) {
        json_array_append_new(mw->gone, json_string(obj->name));
    }
    return 0;
}

/* Deletes the "vm-moved" index objects of host 'host' whose VMs its report
 * 'vms' (NULL: none) no longer holds: its agent has removed them, and
 * "moved_vms" need not name them any more. */
static int
forget_moved(struct store_txn *txn, const char *host, const json_t *vms)
{
    json_t *none = json_object();
    struct moved_walk mw = {
        .prefix = NULL,
        .vms = vms ? vms : none,
        .gone = json_array(),
    };
    const json_t *key;
    size_t i;
    int error;

    mw.prefix = xasprintf("%s/", host);
    error = store_list(txn, "vm-moved", mw.prefix, 0, moved_cb, &mw);
    error = error == API_STOP ? 0 : error;
    json_array_foreach(mw.gone, i, key)
    {
        if (!error) {
            error = store_delete(txn, "vm-moved", json_string_value(key),
                                 STORE_ANY);
        }
    }
    free((char *) mw.prefix);
    json_decref(mw.gone);
    json_decref(none);
    return error;
}

int
api_vm_record_reports(struct store_txn *txn, const char *host,
                      const json_t *vms)
{
    const char *name;
    json_t *report;
    int error = forget_moved(txn, host, vms);

    if (error) {
        return error;
    }

    json_object_foreach((json_t *) vms, name, report)
    {
        struct store_obj obj;
        const char *on;
        json_t *body;

        error = store_get(txn, "vm", name, &obj);

        if (error == ENOENT) {
            /* Deleted since the agent last looked. */
            continue;
        } else if (error) {
            return error;
        }
        on = api_get_string(obj.body, "host");
        if (!on || strcmp(on, host)) {
            /* Not this host's VM. */
            store_obj_clear(&obj);
            continue;
        }
        store_obj_clear(&obj);
        body = json_deep_copy(report);
        /* A migration's progress is the migration's business. */
        json_object_del(body, "migration");
        json_object_set_new(body, "host", json_string(host));
        error = api_put_changed(txn, "vm-status", name, body);
        json_decref(body);
        if (error) {
            return error;
        }
    }
    return 0;
}

void
api_sched_note(struct api *api, const char *host, const json_t *alloc)
{
    sched_cache_note(api, host, alloc);
}

/* The in-flight migrations of other VMs of the groups of 'g', counted as
 * members of their groups on their destinations, so that two migrations
 * started at once never both break a strict anti-affinity group. */
struct inflight_walk {
    const char *vm; /* The VM being placed. */
    json_t *moves;  /* [VM, destination] of the other migrations. */
};

static int
inflight_cb(const struct store_obj *obj, void *iw_)
{
    struct inflight_walk *iw = iw_;
    const char *to = api_get_string(obj->body, "to");

    if (to && strcmp(obj->name, iw->vm)) {
        json_array_append_new(iw->moves, json_pack("[ss]", obj->name, to));
    }
    return 0;
}

static int
count_inflight(struct store_txn *txn, const char *vm, struct vm_groups *g)
{
    struct inflight_walk iw = {.vm = vm, .moves = json_array()};
    const json_t *move;
    size_t i;
    int error;

    error = g->n ? store_list(txn, "migration", NULL, 0, inflight_cb, &iw) : 0;
    json_array_foreach(iw.moves, i, move)
    {
        const char *to = json_string_value(json_array_get(move, 1));
        const json_t *group;
        struct store_obj obj;
        size_t k;

        if (error) {
            break;
        }
        error = store_get(txn, "vm",
                          json_string_value(json_array_get(move, 0)), &obj);
        if (error) {
            error = error == ENOENT ? 0 : error;
            continue;
        }
        json_array_foreach(json_object_get(obj.body, "groups"), k, group)
        {
            for (size_t j = 0; j < g->n; j++) {
                json_t *hosts = json_array_get(g->members, j);

                if (!strcmp(g->groups[j].name, json_string_value(group))) {
                    json_object_set_new(
                        hosts, to,
                        json_integer(
                            json_integer_value(json_object_get(hosts, to))
                            + 1));
                }
            }
        }
        store_obj_clear(&obj);
    }
    json_decref(iw.moves);
    return error;
}

/* Takes VM 'vm', on host 'host', out of the member counts of its own
 * groups 'g': it leaves its host, and must not keep itself there. */
static void
groups_leave(struct vm_groups *g, const char *host)
{
    for (size_t j = 0; host && j < g->n; j++) {
        json_t *hosts = json_array_get(g->members, j);
        json_int_t n = json_integer_value(json_object_get(hosts, host));
        const char *key;
        json_t *value;

        if (n <= 0) {
            continue;
        }
        if (n == 1) {
            json_object_del(hosts, host);
        } else {
            json_object_set_new(hosts, host, json_integer(n - 1));
        }
        g->groups[j].total--;
        free((char *) g->groups[j].where);
        g->groups[j].where = NULL;
        json_object_foreach(hosts, key, value)
        {
            if (!g->groups[j].where && json_integer_value(value) > 0) {
                g->groups[j].where = xstrdup(key);
            }
        }
    }
}

/* The resources stored VM body 'body' claims. */
static void
vm_need(const json_t *body, struct sched_resources *need)
{
    need->vcpus = json_integer_value(json_object_get(body, "vcpus"));
    need->memory_mb = json_integer_value(json_object_get(body, "memory_mb"));
    need->disk_gb = json_integer_value(json_object_get(body, "disk_gb"));
}

int
api_vm_claim_elsewhere(struct api *api, struct store_txn *txn,
                       const struct store_obj *vm, const char *to, bool live,
                       char **host, json_t **allocp, const char *what,
                       struct api_error *err)
{
    const char *from = api_get_string(vm->body, "host");
    struct sched_request req = {
        .host = to,
        .exclude = from,
        .migration = live,
    };
    struct vm_groups g = {.n = 0};
    struct sched_resources alloc = {0};
    int64_t vms = 0;
    int status, error;

    *host = NULL;
    *allocp = NULL;
    vm_need(vm->body, &req.need);
    status = request_rules(api, txn, vm->body, NULL, &req, &g, what, err);
    if (status) {
        goto out;
    }
    groups_leave(&g, from);
    error = count_inflight(txn, vm->name, &g);
    if (error) {
        status = api_store_error(error, what, err);
        goto out;
    }
    status = choose_host(api, txn, &req, &g, host, &alloc, &vms, what, err);
    if (status) {
        goto out;
    }
    error = alloc_add(txn, *host, vm->body, 1, allocp);
    if (error) {
        status = api_store_error(error, what, err);
    }

out:
    if (status) {
        free(*host);
        *host = NULL;
        json_decref(*allocp);
        *allocp = NULL;
    }
    vm_groups_destroy(&g);
    return status;
}

int
api_vm_release_claim(struct store_txn *txn, const json_t *vm, const char *host,
                     json_t **allocp)
{
    return alloc_add(txn, host, vm, -1, allocp);
}
