/* The network side of live migration: see agent/migrate.h. */
#include "agent/migrate.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/core.h"
#include "agent/http-client.h"
#include "agent/trace.h"
#include "agent/vms.h"
#include "utils/log.h"
#include "utils/util.h"

struct migrate {
    struct core *core;      /* The datapath and the state in force. */
    char *controller;       /* Base URL, or NULL. */
    char *cacert;           /* CA bundle, or NULL. */
    char *host;             /* This host's name. */
    void (*notify)(void *); /* Reports now, or NULL... */
    void *notify_aux;       /* ...with this. */
    pthread_mutex_t mutex;  /* Protects 'token'. */
    char *token;            /* API token, or NULL. */
};

/* Sends the conntrack entries 'entries' of migration 'id' to the
 * controller.  Returns NULL or why not (the caller frees it). */
static char *
migrate_send_ct(struct migrate *m, const char *id, json_t *entries)
{
    json_t *body = json_pack("{sO}", "entries", entries);
    struct http_response response;
    struct http_client *client;
    char *path, *problem = NULL;
    int error;

    pthread_mutex_lock(&m->mutex);
    client = http_client_create(m->controller, m->cacert, m->token);
    pthread_mutex_unlock(&m->mutex);
    path = xasprintf("/v1/hosts/%s/migrations/%s/conntrack", m->host, id);
    error = http_client_request(client, "POST", path, body,
                                MIGRATE_CT_TIMEOUT_MS, &response);
    if (error) {
        problem =
            xasprintf("POST %s: %s", path,
                      response.message ? response.message : strerror(error));
    } else if (response.status != 200) {
        problem = xasprintf("POST %s: %ld %s", path, response.status,
                            response.message ? response.message : "");
    }
    http_response_clear(&response);
    http_client_destroy(client);
    json_decref(body);
    free(path);
    return problem;
}

/* The source's switch-over (a vms_migration_hooks switch_over): the FDB
 * first, so that frames still coming here go on to the destination, then
 * the conntrack entries, before QEMU sends the guest's last state. */
static char *
migrate_switch_over(void *m_, const char *vm, const char *id, uint32_t to_vtep)
{
    struct migrate *m = m_;
    int64_t t0 = time_msec(), t1, t2;
    char *problem = NULL;
    json_t *entries;
    int error;

    error = core_vm_forward(m->core, vm, to_vtep);
    if (error) {
        LOG_WARN("VM \"%s\": migration %s: forwarding its frames to the "
                 "destination: %s",
                 vm, id, strerror(error));
    }
    t1 = time_msec();
    error = core_vm_ct_export(m->core, vm, &entries);
    t2 = time_msec();
    if (error) {
        problem =
            xasprintf("exporting its conntrack entries: %s", strerror(error));
    } else if (!m->controller) {
        problem = xasprintf("no controller to hand its %zu conntrack "
                            "entries over to (file mode)",
                            json_array_size(entries));
    } else {
        problem = migrate_send_ct(m, id, entries);
    }
    LOG_INFO("VM \"%s\": migration %s: FDB forwarded in %" PRId64 " ms, "
             "%zu conntrack entries exported in %" PRId64 " ms, handed over "
             "in %" PRId64 " ms",
             vm, id, t1 - t0, json_array_size(entries), t2 - t1,
             time_msec() - t2);
    if (problem) {
        LOG_WARN("VM \"%s\": migration %s: conntrack not handed over: %s; "
                 "its connections meet the rules anew",
                 vm, id, problem);
    }
    json_decref(entries);
    return problem;
}

/* A migration that failed after its switch-over: the VM's frames are
 * local again (a vms_migration_hooks revert). */
static void
migrate_revert(void *m_, const char *vm, const char *id)
{
    struct migrate *m = m_;
    int error = core_vm_forward(m->core, vm, 0);

    if (error) {
        LOG_ERR("VM \"%s\": migration %s: putting its FDB entries back: %s",
                vm, id, strerror(error));
    } else {
        LOG_INFO("VM \"%s\": migration %s: its FDB entries are local again",
                 vm, id);
    }
}

static void
migrate_notify(void *m_)
{
    struct migrate *m = m_;

    if (m->notify) {
        m->notify(m->notify_aux);
    }
}

/* VM 'vm' migrated in and runs here but sent no frame: its ports are
 * activated without one. */
static void
migrate_activate(void *m_, const char *vm)
{
    struct migrate *m = m_;
    size_t n = core_vm_activate(m->core, vm);

    LOG_INFO("VM \"%s\": %zu standby port(s) activated without a frame", vm,
             n);
    vms_activated(core_vms(m->core), vm);
}

struct migrate *
migrate_create(const struct migrate_config *cfg, struct core *core,
               void (*notify)(void *), void *aux)
{
    struct migrate *m = xzalloc(sizeof *m);
    struct vms_migration_hooks hooks = {
        .switch_over = migrate_switch_over,
        .revert = migrate_revert,
        .notify = migrate_notify,
        .activate = migrate_activate,
    };

    m->core = core;
    m->controller = cfg->controller ? xstrdup(cfg->controller) : NULL;
    m->cacert = cfg->cacert ? xstrdup(cfg->cacert) : NULL;
    m->host = xstrdup(cfg->host ? cfg->host : "");
    m->token = cfg->token ? xstrdup(cfg->token) : NULL;
    m->notify = notify;
    m->notify_aux = aux;
    pthread_mutex_init(&m->mutex, NULL);
    if (core_vms(core)) {
        vms_set_migration_hooks(core_vms(core), &hooks, m);
    }
    return m;
}

void
migrate_destroy(struct migrate *m)
{
    if (m) {
        if (core_vms(m->core)) {
            struct vms_migration_hooks none = {0};

            vms_set_migration_hooks(core_vms(m->core), &none, NULL);
        }
        free(m->controller);
        free(m->cacert);
        free(m->host);
        free(m->token);
        pthread_mutex_destroy(&m->mutex);
        free(m);
    }
}

void
migrate_set_token(struct migrate *m, const char *token)
{
    pthread_mutex_lock(&m->mutex);
    free(m->token);
    m->token = token ? xstrdup(token) : NULL;
    pthread_mutex_unlock(&m->mutex);
}

void
migrate_activated(struct core *core, uint32_t ifindex)
{
    char *vm;

    if (core_port_activated(core, ifindex, &vm) && vm && core_vms(core)) {
        vms_activated(core_vms(core), vm);
    }
    free(vm);
}

/* Stores {"error": "conntrack: MESSAGE"} in '*answer' and returns
 * 'status'. */
static int ct_refuse(int status, char **answer, const char *format, ...)
    __attribute__((format(printf, 3, 4)));

static int
ct_refuse(int status, char **answer, const char *format, ...)
{
    va_list args;
    char *msg, *full;
    json_t *j;

    va_start(args, format);
    if (vasprintf(&msg, format, args) < 0) {
        msg = NULL;
    }
    va_end(args);
    if (!msg) {
        *answer = NULL;
        return status;
    }
    full = xasprintf("conntrack: %s", msg);
    j = json_pack("{ss}", "error", full);
    *answer = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    free(full);
    free(msg);
    return status;
}

int
migrate_conntrack_post(struct core *core, const char *authorization,
                       const char *id, const char *body, size_t len,
                       char **answer)
{
    struct core_ct_entry *entries = NULL;
    struct core_ct_counts counts;
    const json_t *list, *e;
    json_error_t jerr;
    json_t *doc;
    char *problem;
    size_t i, n;
    int error;

    if (!agent_trace_authorized(authorization)) {
        return ct_refuse(401, answer,
                         "only the controller may hand conntrack entries "
                         "over, with the token this agent registered");
    }
    doc = json_loadb(body ? body : "", len, 0, &jerr);
    list = json_object_get(doc, "entries");
    if (!json_is_object(doc) || !json_is_array(list)) {
        json_decref(doc);
        return ct_refuse(400, answer,
                         "expected {\"entries\": [{\"port\", \"key\", "
                         "\"value\"}, ...]}%s%s",
                         doc ? "" : ": ", doc ? "" : jerr.text);
    }
    n = json_array_size(list);
    if (n > MIGRATE_CT_MAX) {
        json_decref(doc);
        return ct_refuse(400, answer, "%zu entries (at most %d)", n,
                         MIGRATE_CT_MAX);
    }
    entries = xcalloc(n + 1, sizeof *entries);
    json_array_foreach(list, i, e)
    {
        const char *port = json_string_value(json_object_get(e, "port"));
        const char *key = json_string_value(json_object_get(e, "key"));
        const char *value = json_string_value(json_object_get(e, "value"));

        if (!json_is_object(e) || json_object_size(e) != 3 || !port || !key
            || !value) {
            free(entries);
            json_decref(doc);
            return ct_refuse(400, answer,
                             "entries[%zu]: expected an object with the "
                             "strings \"port\", \"key\" and \"value\" only",
                             i);
        }
        if (dp_ct_from_hex(key, value, &entries[i].key, &entries[i].value)) {
            free(entries);
            json_decref(doc);
            return ct_refuse(400, answer,
                             "entries[%zu]: \"key\" and \"value\" must be %zu "
                             "and %zu hex digits",
                             i, (size_t) DP_CT_KEY_HEX_LEN,
                             (size_t) DP_CT_VALUE_HEX_LEN);
        }
        entries[i].port = port;
    }
    error = core_ct_import(core, id, entries, n, &counts, &problem);
    free(entries);
    json_decref(doc);
    if (error) {
        int status = error == ENOENT ? 404 : error == EINVAL ? 400 : 409;

        status = ct_refuse(status, answer, "%s", problem);
        free(problem);
        return status;
    }
    LOG_INFO("migration %s: %zu conntrack entries imported, %zu newer here, "
             "%zu refused",
             id, counts.imported, counts.existing, counts.failed);
    *answer = xasprintf("{\"imported\":%zu,\"existing\":%zu,\"failed\":%zu}",
                        counts.imported, counts.existing, counts.failed);
    return 200;
}
