/* The assembled controller: routes, authorization, audit and metrics. */
#include "controller/server.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <curl/curl.h>

#include "controller/api.h"
#include "controller/audit.h"
#include "controller/ha.h"
#include "controller/auth.h"
#include "controller/flowlogs.h"
#include "controller/http.h"
#include "controller/leader.h"
#include "controller/metrics.h"
#include "controller/migrations.h"
#include "controller/openapi.h"
#include "controller/secrets.h"
#include "controller/store.h"
#include "controller/ui.h"
#include "utils/log.h"
#include "utils/util.h"

struct server {
    struct api api;           /* Resources and shared state. */
    struct audit *audit;      /* The audit trail. */
    struct metrics *metrics;  /* Request counts and latencies. */
    struct http_server *http; /* The HTTP server. */
    atomic_int polls;         /* Desired-state requests in progress. */
    pthread_t ticker;         /* Fails stalled migrations. */
    bool ticking;             /* Whether 'ticker' runs. */
    char *tls_cert;           /* PEM certificate, kept while serving. */
    char *tls_key;            /* PEM key, kept while serving. */
    char *ui_dir;             /* The web console's files. */
};

/* Who may call a route (the low byte of a route's 'access'). */
enum {
    ACCESS_PUBLIC,     /* Anyone, without a token. */
    ACCESS_READ,       /* Admins and viewers. */
    ACCESS_ADMIN,      /* Admins. */
    ACCESS_REGISTER,   /* Admins, and agents for their own host (the
                        * handler checks the name in the body). */
    ACCESS_HOST_READ,  /* Admins, viewers, and the agent of the host named
                        * by the path. */
    ACCESS_HOST_WRITE, /* Admins, and the agent of the host named by the
                        * path. */
};

/* Flag in a route's 'access': successful calls are not audited
 * (heartbeats, which come every few seconds from every host). */
#define ACCESS_QUIET 0x100

/* How long stopping waits for long polls to answer, and then for the
 * answers to leave, in milliseconds. */
#define STOP_WAIT_MS 2000
#define STOP_GRACE_MS 100

/* The operations of one kind of object (controller/api.h). */
struct resource {
    const char *kind; /* "network"... for notes. */

    /* POST to the collection. */
    int (*create)(struct api *, const json_t *in, json_t **out,
                  struct api_error *);
    /* GET of one object. */
    int (*get)(struct api *, const char *name, json_t **out,
               struct api_error *);
    /* GET of the collection. */
    int (*list)(struct api *, const json_t *query, json_t **out,
                struct api_error *);
    /* PATCH of one object, or NULL. */
    int (*patch)(struct api *, const char *name, const json_t *in,
                 int64_t if_match, json_t **out, struct api_error *);
    /* DELETE of one object. */
    int (*delete)(struct api *, const char *name, const json_t *in,
                  int64_t if_match, struct api_error *);
};

static const struct resource networks = {
    .kind = "network",
    .create = api_network_create,
    .get = api_network_get,
    .list = api_network_list,
    .patch = api_network_patch,
    .delete = api_network_delete,
};

static const struct resource ports = {
    .kind = "port",
    .create = api_port_create,
    .get = api_port_get,
    .list = api_port_list,
    .patch = api_port_patch,
    .delete = api_port_delete,
};

static const struct resource qos_policies = {
    .kind = "qos-policy",
    .create = api_qos_create,
    .get = api_qos_get,
    .list = api_qos_list,
    .patch = api_qos_patch,
    .delete = api_qos_delete,
};

static const struct resource security_groups = {
    .kind = "security group",
    .create = api_sg_create,
    .get = api_sg_get,
    .list = api_sg_list,
    .patch = api_sg_patch,
    .delete = api_sg_delete,
};

static const struct resource hosts = {
    .kind = "host",
    .create = api_host_register,
    .get = api_host_get,
    .list = api_host_list,
    .patch = api_host_patch,
    .delete = api_host_delete,
};

static const struct resource external_vteps = {
    .kind = "external VTEP",
    .create = api_external_vtep_create,
    .get = api_external_vtep_get,
    .list = api_external_vtep_list,
    .patch = api_external_vtep_patch,
    .delete = api_external_vtep_delete,
};

static const struct resource images = {
    .kind = "image",
    .create = api_image_create,
    .get = api_image_get,
    .list = api_image_list,
    .delete = api_image_delete,
};

static const struct resource vms = {
    .kind = "vm",
    .create = api_vm_create,
    .get = api_vm_get,
    .list = api_vm_list,
    .patch = api_vm_patch,
    .delete = api_vm_delete,
};

static const struct resource vm_groups = {
    .kind = "vm-group",
    .create = api_vm_group_create,
    .get = api_vm_group_get,
    .list = api_vm_group_list,
    .patch = api_vm_group_patch,
    .delete = api_vm_group_delete,
};

/* Migrations are only listed here; they start with a VM's migrate. */
static const struct resource migrations = {
    .kind = "migration",
    .list = api_migration_list,
};

static const struct resource tokens = {
    .kind = "token",
    .create = auth_token_create,
    .get = auth_token_get,
    .list = auth_token_list,
    .delete = auth_token_delete,
};

/* Flow logs are only listed here; POST has a route of its own. */
static const struct resource flowlogs = {
    .kind = "flow log",
    .list = api_flowlogs_list,
};

static void
identity_destroy(void *id)
{
    auth_identity_clear(id);
    free(id);
}

static bool
may(const struct auth_identity *id, int access, const char *host)
{
    switch (id->role) {
    case AUTH_ADMIN:
        return true;
    case AUTH_VIEWER:
        return access == ACCESS_READ || access == ACCESS_HOST_READ;
    case AUTH_AGENT:
    default:
        if (access == ACCESS_REGISTER) {
            return true;
        }
        return (access == ACCESS_HOST_READ || access == ACCESS_HOST_WRITE)
               && host && id->host && !strcmp(host, id->host);
    }
}

static bool
authorize(struct http_request *req, int access, void *server_)
{
    struct server *server = server_;
    struct auth_identity *id;
    struct api_error err = {0};
    int status;

    access &= 0xff;
    if (access == ACCESS_PUBLIC) {
        return true;
    }
    id = xzalloc(sizeof *id);
    status = auth_authenticate(
        &server->api, http_request_header(req, "Authorization"), id, &err);
    if (status) {
        if (status == 401) {
            http_add_header(req, "WWW-Authenticate",
                            "Bearer realm=\"fabric\"");
        }
        http_reply_error(req, status, NULL, "%s", err.message);
        api_error_clear(&err);
        identity_destroy(id);
        return false;
    }
    http_request_set_data(req, id, identity_destroy);
    /* A caller with a valid token may keep its connection open for long:
     * an agent's watch waits on it between long polls. */
    http_request_authenticated(req);
    if (!may(id, access, http_request_param(req, 0))) {
        http_reply_error(req, 403, NULL,
                         "token \"%s\" (role %s%s%s) may not %s %s", id->name,
                         auth_role_name(id->role), id->host ? ", host " : "",
                         id->host ? id->host : "", http_request_method(req),
                         http_request_path(req));
        return false;
    }
    return true;
}

/* Answers with 'status' and 'out' (stolen), or with 'err'. */
static void
answer(struct http_request *req, int status, json_t *out,
       struct api_error *err)
{
    if (status >= 400) {
        http_reply_error(req, status, err->field, "%s",
                         err->message ? err->message : "error");
    } else {
        const json_t *version = json_object_get(out, "version");

        if (json_is_integer(version)) {
            char etag[32];

            snprintf(etag, sizeof etag, "\"%" JSON_INTEGER_FORMAT "\"",
                     json_integer_value(version));
            http_add_header(req, "ETag", etag);
        }
        http_reply_json(req, status,
                        status == 204 || status == 304 ? NULL : out);
        if (status == 204 || status == 304) {
            json_decref(out);
        }
    }
    api_error_clear(err);
}

/* Reads If-Match ("3", W/"3", 3 or *) into '*version' (STORE_ANY if absent
 * or "*").  On a bad value answers 400 and returns false. */
static bool
read_if_match(struct http_request *req, int64_t *version)
{
    const char *h = http_request_header(req, "If-Match");
    const char *s;
    size_t len;

    *version = STORE_ANY;
    if (!h || !strcmp(h, "*")) {
        return true;
    }
    s = h;
    if (!strncmp(s, "W/", 2)) {
        s += 2;
    }
    len = strlen(s);
    if (len >= 2 && s[0] == '"' && s[len - 1] == '"') {
        s++;
        len -= 2;
    }
    if (len == 0 || len > 18 || strspn(s, "0123456789") != len
        || (*version = strtoll(s, NULL, 10)) < 1) {
        *version = STORE_ANY;
        http_reply_error(req, 400, "If-Match",
                         "If-Match %s: expected the version the change is "
                         "based on, e.g. \"3\"",
                         h);
        return false;
    }
    return true;
}

/* The name of the object an answer is about, for notes. */
static const char *
object_name(const json_t *in, const json_t *out, const char *param)
{
    return param ? param
                 : api_get_string(out, "name")
                       ?: api_get_string(in, "name") ?: "?";
}

/* Creates an object of 'res' from request body 'in'. */
static void
create(struct http_request *req, const struct resource *res,
       struct server *server, const json_t *in)
{
    struct api_error err = {0};
    json_t *out = NULL;
    int status;

    status = res->create(&server->api, in, &out, &err);
    if (status < 400) {
        http_request_set_note(req, "%s %s \"%s\"",
                              status == 201 ? "created" : "updated", res->kind,
                              object_name(in, out, NULL));
    }
    answer(req, status, out, &err);
}

static void
do_create(struct http_request *req, const void *res, void *server)
{
    json_t *in;

    if (http_request_json(req, &in)) {
        create(req, res, server, in);
        json_decref(in);
    }
}

static void
do_get(struct http_request *req, const void *res_, void *server_)
{
    const struct resource *res = res_;
    struct server *server = server_;
    struct api_error err = {0};
    json_t *out = NULL;
    int status;

    status = res->get(&server->api, http_request_param(req, 0), &out, &err);
    answer(req, status, out, &err);
}

static void
do_list(struct http_request *req, const void *res_, void *server_)
{
    const struct resource *res = res_;
    struct server *server = server_;
    struct api_error err = {0};
    json_t *out = NULL;
    int status;

    status = res->list(&server->api, http_request_query(req), &out, &err);
    answer(req, status, out, &err);
}

static void
do_patch(struct http_request *req, const void *res_, void *server_)
{
    const struct resource *res = res_;
    struct server *server = server_;
    const char *name = http_request_param(req, 0);
    struct api_error err = {0};
    json_t *in, *out = NULL;
    int64_t if_match;
    int status;

    if (!read_if_match(req, &if_match) || !http_request_json(req, &in)) {
        return;
    }
    status = res->patch(&server->api, name, in, if_match, &out, &err);
    if (status < 400) {
        http_request_set_note(req, "updated %s \"%s\"", res->kind, name);
    }
    answer(req, status, out, &err);
    json_decref(in);
}

static void
do_delete(struct http_request *req, const void *res_, void *server_)
{
    const struct resource *res = res_;
    struct server *server = server_;
    const char *name = http_request_param(req, 0);
    struct api_error err = {0};
    int64_t if_match;
    json_t *in;
    int status;

    if (!read_if_match(req, &if_match) || !http_request_json(req, &in)) {
        return;
    }
    status = res->delete (&server->api, name, in, if_match, &err);
    if (status < 400) {
        http_request_set_note(req, "deleted %s \"%s\"", res->kind, name);
    }
    answer(req, status, NULL, &err);
    json_decref(in);
}

/* POST /v1/hosts: an agent may only register its own host. */
static void
do_register(struct http_request *req, const void *res, void *server)
{
    const struct auth_identity *id = http_request_data(req);
    const char *client = http_request_client(req);
    const char *name, *url;
    json_t *in;

    if (!http_request_json(req, &in)) {
        return;
    }
    name = api_get_string(in, "name");
    url = api_get_string(in, "agent_url");
    if (id && id->role == AUTH_AGENT
        && (!name || !id->host || strcmp(name, id->host))) {
        http_reply_error(
            req, 403, NULL,
            "token \"%s\" (role agent, host %s) may only register host \"%s\"",
            id->name, id->host ? id->host : "?", id->host ? id->host : "?");
    } else if (id && id->role == AUTH_AGENT && url
               && !api_agent_url_is_at(url, client)) {
        /* The controller calls agent_url with a trace: an agent could
         * otherwise point those calls at any address the controller
         * reaches. */
        char *q = api_quote(url);

        http_reply_error(req, 403, "agent_url",
                         "token \"%s\" (role agent, host %s): agent_url %s: "
                         "an agent may only give its own address, %s, as "
                         "http://%s%s%s:PORT (set the agent's --advertise "
                         "or --metrics to it)",
                         id->name, id->host, q, client,
                         strchr(client, ':') ? "[" : "", client,
                         strchr(client, ':') ? "]" : "");
        free(q);
    } else {
        create(req, res, server, in);
    }
    json_decref(in);
}

/* A report an agent sends about its host /v1/hosts/HOST/...: heartbeat,
 * port-status or rule-hits. */
struct host_report {
    /* Records report 'in' of host 'host'. */
    int (*put)(struct api *, const char *host, const json_t *in,
               struct api_error *);
    /* Or, for a report answered with a body ('*out'), this. */
    int (*put_answer)(struct api *, const char *host, const json_t *in,
                      json_t **out, struct api_error *);
    /* Notes an accepted report 'in' of 'host' on 'req', or NULL. */
    void (*note)(struct http_request *req, const char *host, const json_t *in);
};

static void
note_heartbeat(struct http_request *req, const char *host, const json_t *in)
{
    http_request_set_note(req, "heartbeat");
}

static void
note_port_status(struct http_request *req, const char *host, const json_t *in)
{
    size_t n = json_object_size(json_object_get(in, "ports"));

    http_request_set_note(req, "port status of host \"%s\": %zu port%s", host,
                          n, n == 1 ? "" : "s");
}

static const struct host_report heartbeat = {
    .put_answer = api_host_heartbeat,
    .note = note_heartbeat,
};

static const struct host_report port_status = {
    .put = api_host_port_status,
    .note = note_port_status,
};

/* Counters come every few seconds and are not audited: no note. */
static const struct host_report rule_hits = {
    .put = api_host_rule_hits,
};

static void
do_host_report(struct http_request *req, const void *report_, void *server_)
{
    const struct host_report *report = report_;
    struct server *server = server_;
    const char *host = http_request_param(req, 0);
    struct api_error err = {0};
    json_t *in, *out = NULL;
    int status;

    if (!http_request_json(req, &in)) {
        return;
    }
    status = report->put_answer
                 ? report->put_answer(&server->api, host, in, &out, &err)
                 : report->put(&server->api, host, in, &err);
    if (status < 400 && report->note) {
        /* An error's message replaces any note, so notes are for
         * successes. */
        report->note(req, host, in);
    }
    answer(req, status, out, &err);
    json_decref(in);
}

/* /v1/security-groups/GROUP/rules[/ID]: a group's rules. */
static void
do_sg_rules(struct http_request *req, const void *data, void *server_)
{
    struct server *server = server_;
    const char *method = http_request_method(req);
    const char *group = http_request_param(req, 0);
    const char *id = http_request_param(req, 1);
    struct api_error err = {0};
    json_t *in = NULL, *out = NULL;
    int status;

    if (!strcmp(method, "POST")) {
        if (!http_request_json(req, &in)) {
            return;
        }
        status = api_sg_rule_create(&server->api, group, in, &out, &err);
        if (status < 400) {
            http_request_set_note(
                req,
                "created rule %" JSON_INTEGER_FORMAT
                " of security group \"%s\"",
                json_integer_value(json_object_get(out, "id")), group);
        }
        json_decref(in);
    } else if (!strcmp(method, "DELETE")) {
        status = api_sg_rule_delete(&server->api, group, id, &err);
        if (status < 400) {
            http_request_set_note(
                req, "deleted rule %s of security group \"%s\"", id, group);
        }
    } else if (id) {
        status = api_sg_rule_get(&server->api, group, id, &out, &err);
    } else {
        status = api_sg_rule_list(&server->api, group, http_request_query(req),
                                  &out, &err);
    }
    answer(req, status, out, &err);
}

static void
do_desired_state(struct http_request *req, const void *data, void *server_)
{
    struct server *server = server_;
    struct api_error err = {0};
    json_t *out = NULL;
    int status;

    atomic_fetch_add(&server->polls, 1);
    status = api_host_desired_state(&server->api, http_request_param(req, 0),
                                    http_request_query(req), &out, &err);
    answer(req, status, out, &err);
    atomic_fetch_sub(&server->polls, 1);
}

static void
do_status(struct http_request *req, const void *data, void *server_)
{
    struct server *server = server_;
    struct api_error err = {0};
    json_t *out = NULL;
    int status;

    status = api_status(&server->api, &out, &err);
    answer(req, status, out, &err);
}

static void
do_audit(struct http_request *req, const void *data, void *server_)
{
    struct server *server = server_;
    struct api_error err = {0};
    json_t *out = NULL;
    int status;

    status = audit_list(server->audit, http_request_query(req), &out, &err);
    answer(req, status, out, &err);
}

static void
do_audit_refused(struct http_request *req, const void *data, void *server_)
{
    struct server *server = server_;
    struct api_error err = {0};
    json_t *out = NULL;
    int status;

    status =
        audit_list_refused(server->audit, http_request_query(req), &out, &err);
    answer(req, status, out, &err);
}

/* POST /v1/flowlogs: an agent may only post its own host's records. */
static void
do_flowlogs_post(struct http_request *req, const void *data, void *server_)
{
    const struct auth_identity *id = http_request_data(req);
    struct server *server = server_;
    struct api_error err = {0};
    const char *host;
    json_t *in;
    int status;

    if (!http_request_json(req, &in)) {
        return;
    }
    host = api_get_string(in, "host");
    if (id && id->role == AUTH_AGENT
        && (!host || !id->host || strcmp(host, id->host))) {
        http_reply_error(req, 403, "host",
                         "token \"%s\" (role agent, host %s) may only post "
                         "the flow logs of host \"%s\"",
                         id->name, id->host ? id->host : "?",
                         id->host ? id->host : "?");
    } else {
        /* An agent's records are of its own ports only: records of other
         * hosts' ports would blame them for traffic they never saw. */
        status =
            id && id->role == AUTH_AGENT ? api_port_check_records(
                &server->api, id->host, json_object_get(in, "records"), &err)
                                         : 0;
        if (!status) {
            status = api_flowlogs_post(&server->api, in, &err);
        }
        if (status < 400) {
            size_t n = json_array_size(json_object_get(in, "records"));

            http_request_set_note(req,
                                  "flow logs of host \"%s\": %zu record%s",
                                  host, n, n == 1 ? "" : "s");
        }
        answer(req, status, NULL, &err);
    }
    json_decref(in);
}

static void
do_trace(struct http_request *req, const void *data, void *server_)
{
    struct server *server = server_;
    struct api_error err = {0};
    json_t *in, *out = NULL;
    int status;

    if (!http_request_json(req, &in)) {
        return;
    }
    status = api_trace(&server->api, in, &out, &err);
    if (status < 400) {
        http_request_set_note(req, "trace from port \"%s\" to %s",
                              api_get_string(in, "from") ?: "?",
                              api_get_string(in, "to") ?: "?");
    }
    answer(req, status, out, &err);
    json_decref(in);
}

/* POST /v1/vms/NAME/ACTION: 'action' is "start", "stop" or "reboot". */
static void
do_vm_action(struct http_request *req, const void *action_, void *server_)
{
    struct server *server = server_;
    const char *name = http_request_param(req, 0);
    const char *action = action_;
    struct api_error err = {0};
    json_t *in, *out = NULL;
    int status;

    if (!http_request_json(req, &in)) {
        return;
    }
    status = api_vm_action(&server->api, name, action, in, &out, &err);
    if (status < 400) {
        http_request_set_note(req, "%s vm \"%s\"", action, name);
    }
    answer(req, status, out, &err);
    json_decref(in);
}

/* POST /v1/hosts/NAME/maintenance. */
static void
do_host_maintenance(struct http_request *req, const void *data, void *server_)
{
    struct server *server = server_;
    const char *name = http_request_param(req, 0);
    struct api_error err = {0};
    json_t *in, *out = NULL;
    int status;

    if (!http_request_json(req, &in)) {
        return;
    }
    status = api_host_maintenance(&server->api, name, in, &out, &err);
    if (status < 400) {
        http_request_set_note(req, "host \"%s\": maintenance %s", name,
                              api_get_string(in, "action"));
    }
    answer(req, status, out, &err);
    json_decref(in);
}

/* GET and PUT /v1/drs. */
static void
do_drs(struct http_request *req, const void *data, void *server_)
{
    struct server *server = server_;
    struct api_error err = {0};
    json_t *in, *out = NULL;
    int status;

    if (!strcmp(http_request_method(req), "GET")) {
        status = api_drs_get(&server->api, &out, &err);
        answer(req, status, out, &err);
        return;
    }
    if (!http_request_json(req, &in)) {
        return;
    }
    status = api_drs_put(&server->api, in, &out, &err);
    if (status < 400) {
        http_request_set_note(
            req,
            "drs: mode %s, threshold %g, interval %lld s, at most %lld "
            "at once",
            api_get_string(out, "mode"),
            json_number_value(json_object_get(out, "threshold")),
            (long long) json_integer_value(json_object_get(out, "interval_s")),
            (long long) json_integer_value(
                json_object_get(out, "max_concurrent")));
        api_drs_kick(&server->api);
    }
    answer(req, status, out, &err);
    json_decref(in);
}

static void
do_drs_recommendations(struct http_request *req, const void *data,
                       void *server_)
{
    struct server *server = server_;
    struct api_error err = {0};
    json_t *out = NULL;
    int status;

    status = api_drs_recommendations(&server->api, &out, &err);
    answer(req, status, out, &err);
}

/* POST /v1/vms/NAME/migrate and /migrate/cancel ('cancel' not NULL). */
static void
do_vm_migrate(struct http_request *req, const void *cancel, void *server_)
{
    struct server *server = server_;
    const char *name = http_request_param(req, 0);
    struct api_error err = {0};
    json_t *in, *out = NULL;
    int status;

    if (!http_request_json(req, &in)) {
        return;
    }
    status = cancel ? api_vm_migrate_cancel(&server->api, name, in, &out, &err)
                    : api_vm_migrate(&server->api, name, in, &out, &err);
    if (status < 400 && cancel) {
        http_request_set_note(req, "cancelled the migration of vm \"%s\"",
                              name);
    } else if (status < 400) {
        const json_t *m = json_object_get(out, "migration");

        http_request_set_note(req,
                              "vm.migrate: vm \"%s\" from host \"%s\" to "
                              "host \"%s\" (migration %s)",
                              name, api_get_string(m, "from") ?: "?",
                              api_get_string(m, "to") ?: "?",
                              api_get_string(m, "id") ?: "?");
    }
    answer(req, status, out, &err);
    json_decref(in);
}

/* POST /v1/hosts/HOST/migrations/ID/conntrack: the source's agent hands
 * the conntrack entries of a migrating VM to the destination's. */
static void
do_migration_conntrack(struct http_request *req, const void *data,
                       void *server_)
{
    struct server *server = server_;
    const char *host = http_request_param(req, 0);
    const char *id = http_request_param(req, 1);
    struct api_error err = {0};
    json_t *in, *out = NULL;
    int status;

    if (!http_request_json(req, &in)) {
        return;
    }
    status = api_migration_conntrack(&server->api, host, id, in, &out, &err);
    if (status < 400) {
        size_t n = json_array_size(json_object_get(in, "entries"));

        http_request_set_note(req,
                              "conntrack of migration %s from host \"%s\": "
                              "%zu entr%s",
                              id, host, n, n == 1 ? "y" : "ies");
    }
    answer(req, status, out, &err);
    json_decref(in);
}

/* Fails stalled migrations every second until the controller stops, while
 * it leads (controller/leader.h). */
static void *
ticker_main(void *server_)
{
    struct server *server = server_;

    while (!atomic_load(&server->api.stopping)) {
        for (int i = 0; i < 10 && !atomic_load(&server->api.stopping); i++) {
            usleep(100 * 1000);
        }
        if (!atomic_load(&server->api.stopping)
            && leader_is(server->api.leader)) {
            migrations_tick(&server->api);
        }
    }
    return NULL;
}

/* POST /v1/drs/apply: the current plan, once. */
static void
do_drs_apply(struct http_request *req, const void *data, void *server_)
{
    struct server *server = server_;
    struct api_error err = {0};
    json_t *in, *out = NULL;
    int status;

    if (!http_request_json(req, &in)) {
        return;
    }
    if (in && (!json_is_object(in) || json_object_size(in))) {
        status = api_fail(&err, 400, NULL,
                          "drs: apply: takes no body (or an empty object)");
    } else {
        status = api_drs_apply(&server->api, &out, &err);
    }
    if (status < 400) {
        http_request_set_note(
            req, "drs: applied the plan: %zu migrations started, %zu refused",
            json_array_size(json_object_get(out, "started")),
            json_array_size(json_object_get(out, "refused")));
    }
    answer(req, status, out, &err);
    json_decref(in);
}

static void
do_vm_console(struct http_request *req, const void *data, void *server_)
{
    struct server *server = server_;
    struct api_error err = {0};
    char *text;
    size_t len;
    int status;

    status = api_vm_console(&server->api, http_request_param(req, 0),
                            http_request_query(req), &text, &len, &err);
    if (status == 200) {
        http_reply(req, 200, "text/plain", text, len);
        free(text);
    } else {
        answer(req, status, NULL, &err);
    }
}

/* PUT /v1/images/NAME/file: the bytes stream into the storage
 * directory. */
static void *
image_upload_begin(struct http_request *req, void *server_)
{
    struct server *server = server_;
    const char *name = http_request_param(req, 0);
    const char *type = http_request_header(req, "Content-Type");
    const char *length_s = http_request_header(req, "Content-Length");
    struct api_image_upload *up = NULL;
    struct api_error err = {0};
    int64_t length = -1;
    int status;

    if (type && strncasecmp(type, "application/octet-stream", 24)) {
        http_reply_error(req, 415, "Content-Type",
                         "PUT %s: the body must be the image's bytes with "
                         "\"Content-Type: application/octet-stream\" (not "
                         "\"%s\")",
                         http_request_path(req), type);
        return NULL;
    }
    if (length_s && strspn(length_s, "0123456789") == strlen(length_s)
        && strlen(length_s) < 19) {
        length = strtoll(length_s, NULL, 10);
    }
    status = api_image_upload_begin(&server->api, name, length, &up, &err);
    if (status) {
        answer(req, status, NULL, &err);
        return NULL;
    }
    return up;
}

static void
image_upload_write(void *up, const void *buf, size_t len)
{
    api_image_upload_write(up, buf, len);
}

static void
image_upload_finish(struct http_request *req, void *up, void *server)
{
    struct api_error err = {0};
    json_t *out = NULL;
    int status;

    status = api_image_upload_finish(up, &out, &err);
    if (status < 400) {
        http_request_set_note(req, "uploaded the file of image \"%s\"",
                              http_request_param(req, 0));
    }
    answer(req, status, out, &err);
}

static void
image_upload_destroy(void *up)
{
    api_image_upload_destroy(up);
}

static const struct http_upload image_upload = {
    .begin = image_upload_begin,
    .write = image_upload_write,
    .finish = image_upload_finish,
    .destroy = image_upload_destroy,
};

static void
do_openapi(struct http_request *req, const void *data, void *server)
{
    http_reply(req, 200, "application/json", openapi_json, openapi_json_len);
}

static void
do_healthz(struct http_request *req, const void *data, void *server)
{
    http_reply(req, 200, "text/plain; charset=utf-8", "ok\n", 3);
}

static void
do_readyz(struct http_request *req, const void *data, void *server_)
{
    struct server *server = server_;
    struct store_txn *txn;
    int error = store_begin(server->api.store, false, &txn);

    if (error) {
        char *msg = xasprintf("not ready: store: %s\n", strerror(error));

        http_reply(req, 503, "text/plain; charset=utf-8", msg, strlen(msg));
        free(msg);
        return;
    }
    store_abort(txn);
    http_reply(req, 200, "text/plain; charset=utf-8", "ready\n", 6);
}

/* GET /v1/ports/NAME/traffic. */
static void
do_port_traffic(struct http_request *req, const void *data, void *server_)
{
    struct server *server = server_;
    struct api_error err = {0};
    json_t *out = NULL;
    int status;

    status =
        api_port_traffic(&server->api, http_request_param(req, 0), &out, &err);
    answer(req, status, out, &err);
}

/* GET /v1/whoami: the caller's token, so that a client (the web console)
 * shows only what its role may do; the API refuses the rest anyway. */
static void
do_whoami(struct http_request *req, const void *data, void *server_)
{
    const struct auth_identity *id = http_request_data(req);
    json_t *out = json_pack("{ssss}", "name", id->name, "role",
                            auth_role_name(id->role));

    if (id->host) {
        json_object_set_new(out, "host", json_string(id->host));
    }
    http_reply_json(req, 200, out);
}

/* GET /v1/changes: a long poll, counted with the agents' so that
 * stopping waits for its answer. */
static void
do_changes(struct http_request *req, const void *data, void *server_)
{
    struct server *server = server_;
    struct api_error err = {0};
    json_t *out = NULL;
    int status;

    atomic_fetch_add(&server->polls, 1);
    status = api_changes(&server->api, http_request_query(req), &out, &err);
    answer(req, status, out, &err);
    atomic_fetch_sub(&server->polls, 1);
}

/* GET /ui: the console's address ends with "/", so that its files'
 * relative names resolve under it. */
static void
do_ui_redirect(struct http_request *req, const void *data, void *server_)
{
    ui_add_security_headers(req);
    http_add_header(req, "Location", "/ui/");
    http_reply(req, 301, "text/plain; charset=utf-8", "/ui/\n", 5);
}

/* GET /ui/ and /ui/FILE: the web console.  Its files are public (the
 * login page among them); everything it shows comes from the API with
 * the user's token. */
static void
do_ui(struct http_request *req, const void *data, void *server_)
{
    struct server *server = server_;
    const char *name = http_request_param(req, 0);

    ui_serve(req, server->ui_dir, name ? name : "index.html");
}

static void
do_metrics(struct http_request *req, const void *data, void *server_)
{
    struct server *server = server_;
    char *text = metrics_render(server->metrics, &server->api);

    http_reply(req, 200, "text/plain; version=0.0.4; charset=utf-8", text,
               strlen(text));
    free(text);
}

static const struct http_route routes[] = {
    {"GET", "/healthz", do_healthz, NULL, ACCESS_PUBLIC},
    {"GET", "/readyz", do_readyz, NULL, ACCESS_PUBLIC},
    {"GET", "/metrics", do_metrics, NULL, ACCESS_PUBLIC},
    {"GET", "/v1/openapi.json", do_openapi, NULL, ACCESS_READ},
    {"GET", "/v1/status", do_status, NULL, ACCESS_READ},
    {"GET", "/v1/changes", do_changes, NULL, ACCESS_READ},
    {"GET", "/v1/whoami", do_whoami, NULL, ACCESS_READ},
    {"GET", "/ui", do_ui_redirect, NULL, ACCESS_PUBLIC},
    {"GET", "/ui/", do_ui, NULL, ACCESS_PUBLIC},
    {"GET", "/ui/*", do_ui, NULL, ACCESS_PUBLIC},

    {"GET", "/v1/networks", do_list, &networks, ACCESS_READ},
    {"POST", "/v1/networks", do_create, &networks, ACCESS_ADMIN},
    {"GET", "/v1/networks/*", do_get, &networks, ACCESS_READ},
    {"PATCH", "/v1/networks/*", do_patch, &networks, ACCESS_ADMIN},
    {"DELETE", "/v1/networks/*", do_delete, &networks, ACCESS_ADMIN},

    {"GET", "/v1/ports", do_list, &ports, ACCESS_READ},
    {"POST", "/v1/ports", do_create, &ports, ACCESS_ADMIN},
    {"GET", "/v1/ports/*", do_get, &ports, ACCESS_READ},
    {"PATCH", "/v1/ports/*", do_patch, &ports, ACCESS_ADMIN},
    {"DELETE", "/v1/ports/*", do_delete, &ports, ACCESS_ADMIN},
    {"GET", "/v1/ports/*/traffic", do_port_traffic, NULL, ACCESS_READ},

    {"GET", "/v1/qos-policies", do_list, &qos_policies, ACCESS_READ},
    {"POST", "/v1/qos-policies", do_create, &qos_policies, ACCESS_ADMIN},
    {"GET", "/v1/qos-policies/*", do_get, &qos_policies, ACCESS_READ},
    {"PATCH", "/v1/qos-policies/*", do_patch, &qos_policies, ACCESS_ADMIN},
    {"DELETE", "/v1/qos-policies/*", do_delete, &qos_policies, ACCESS_ADMIN},

    {"GET", "/v1/security-groups", do_list, &security_groups, ACCESS_READ},
    {"POST", "/v1/security-groups", do_create, &security_groups, ACCESS_ADMIN},
    {"GET", "/v1/security-groups/*", do_get, &security_groups, ACCESS_READ},
    {"PATCH", "/v1/security-groups/*", do_patch, &security_groups,
     ACCESS_ADMIN},
    {"DELETE", "/v1/security-groups/*", do_delete, &security_groups,
     ACCESS_ADMIN},
    {"GET", "/v1/security-groups/*/rules", do_sg_rules, NULL, ACCESS_READ},
    {"POST", "/v1/security-groups/*/rules", do_sg_rules, NULL, ACCESS_ADMIN},
    {"GET", "/v1/security-groups/*/rules/*", do_sg_rules, NULL, ACCESS_READ},
    {"DELETE", "/v1/security-groups/*/rules/*", do_sg_rules, NULL,
     ACCESS_ADMIN},

    {"GET", "/v1/external-vteps", do_list, &external_vteps, ACCESS_READ},
    {"POST", "/v1/external-vteps", do_create, &external_vteps, ACCESS_ADMIN},
    {"GET", "/v1/external-vteps/*", do_get, &external_vteps, ACCESS_READ},
    {"PATCH", "/v1/external-vteps/*", do_patch, &external_vteps, ACCESS_ADMIN},
    {"DELETE", "/v1/external-vteps/*", do_delete, &external_vteps,
     ACCESS_ADMIN},

    {"GET", "/v1/hosts", do_list, &hosts, ACCESS_READ},
    {"POST", "/v1/hosts", do_register, &hosts, ACCESS_REGISTER},
    {"GET", "/v1/hosts/*", do_get, &hosts, ACCESS_READ},
    {"PATCH", "/v1/hosts/*", do_patch, &hosts, ACCESS_ADMIN},
    {"DELETE", "/v1/hosts/*", do_delete, &hosts, ACCESS_ADMIN},
    {"POST", "/v1/hosts/*/heartbeat", do_host_report, &heartbeat,
     ACCESS_HOST_WRITE | ACCESS_QUIET},
    {"PUT", "/v1/hosts/*/port-status", do_host_report, &port_status,
     ACCESS_HOST_WRITE},
    {"GET", "/v1/hosts/*/desired-state", do_desired_state, NULL,
     ACCESS_HOST_READ},
    /* Agents report their counters every few seconds: not audited. */
    {"PUT", "/v1/hosts/*/rule-hits", do_host_report, &rule_hits,
     ACCESS_HOST_WRITE | ACCESS_QUIET},

    {"POST", "/v1/hosts/*/maintenance", do_host_maintenance, NULL,
     ACCESS_ADMIN},

    {"GET", "/v1/drs", do_drs, NULL, ACCESS_READ},
    {"PUT", "/v1/drs", do_drs, NULL, ACCESS_ADMIN},
    {"GET", "/v1/drs/recommendations", do_drs_recommendations, NULL,
     ACCESS_READ},
    {"POST", "/v1/drs/apply", do_drs_apply, NULL, ACCESS_ADMIN},

    {"GET", "/v1/images", do_list, &images, ACCESS_READ},
    {"POST", "/v1/images", do_create, &images, ACCESS_ADMIN},
    {"GET", "/v1/images/*", do_get, &images, ACCESS_READ},
    {"DELETE", "/v1/images/*", do_delete, &images, ACCESS_ADMIN},
    {"PUT", "/v1/images/*/file", NULL, &image_upload, ACCESS_ADMIN},

    {"GET", "/v1/vms/*/console", do_vm_console, NULL, ACCESS_READ},
    {"GET", "/v1/vms", do_list, &vms, ACCESS_READ},
    {"POST", "/v1/vms", do_create, &vms, ACCESS_ADMIN},
    {"GET", "/v1/vms/*", do_get, &vms, ACCESS_READ},
    {"PATCH", "/v1/vms/*", do_patch, &vms, ACCESS_ADMIN},
    {"DELETE", "/v1/vms/*", do_delete, &vms, ACCESS_ADMIN},
    {"POST", "/v1/vms/*/start", do_vm_action, "start", ACCESS_ADMIN},
    {"POST", "/v1/vms/*/stop", do_vm_action, "stop", ACCESS_ADMIN},
    {"POST", "/v1/vms/*/reboot", do_vm_action, "reboot", ACCESS_ADMIN},
    {"POST", "/v1/vms/*/migrate", do_vm_migrate, NULL, ACCESS_ADMIN},
    {"POST", "/v1/vms/*/migrate/cancel", do_vm_migrate, "cancel",
     ACCESS_ADMIN},
    {"GET", "/v1/migrations", do_list, &migrations, ACCESS_READ},
    {"POST", "/v1/hosts/*/migrations/*/conntrack", do_migration_conntrack,
     NULL, ACCESS_HOST_WRITE},

    {"GET", "/v1/vm-groups", do_list, &vm_groups, ACCESS_READ},
    {"POST", "/v1/vm-groups", do_create, &vm_groups, ACCESS_ADMIN},
    {"GET", "/v1/vm-groups/*", do_get, &vm_groups, ACCESS_READ},
    {"PATCH", "/v1/vm-groups/*", do_patch, &vm_groups, ACCESS_ADMIN},
    {"DELETE", "/v1/vm-groups/*", do_delete, &vm_groups, ACCESS_ADMIN},

    {"GET", "/v1/tokens", do_list, &tokens, ACCESS_ADMIN},
    {"POST", "/v1/tokens", do_create, &tokens, ACCESS_ADMIN},
    {"GET", "/v1/tokens/*", do_get, &tokens, ACCESS_ADMIN},
    {"DELETE", "/v1/tokens/*", do_delete, &tokens, ACCESS_ADMIN},

    {"GET", "/v1/audit", do_audit, NULL, ACCESS_READ},
    {"GET", "/v1/audit/refused", do_audit_refused, NULL, ACCESS_READ},

    /* Flow logs come every few seconds from every host: not audited. */
    {"POST", "/v1/flowlogs", do_flowlogs_post, NULL,
     ACCESS_REGISTER | ACCESS_QUIET},
    {"GET", "/v1/flowlogs", do_list, &flowlogs, ACCESS_READ},
    {"POST", "/v1/trace", do_trace, NULL, ACCESS_READ},
};

static void
completed(struct http_request *req, void *server_)
{
    struct server *server = server_;
    const struct auth_identity *id = http_request_data(req);
    const char *method = http_request_method(req);
    int status = http_request_status(req);
    int access = http_request_access(req);
    double seconds = http_request_seconds(req);
    bool changes;

    if (!status) {
        /* The client went away before an answer. */
        return;
    }
    metrics_observe(server->metrics, method, status, seconds);
    LOG_DBG("%s %s: %d in %.3f ms", method, http_request_path(req), status,
            seconds * 1e3);

    changes = strcmp(method, "GET") && strcmp(method, "HEAD");
    if (changes && access >= 0 && (access & ACCESS_QUIET) && status < 400) {
        changes = false;
    }
    if (changes || status == 401 || status == 403) {
        struct audit_entry e = {
            .client = http_request_client(req),
            .who = id ? id->name : NULL,
            .role = id ? auth_role_name(id->role) : NULL,
            .method = method,
            .path = http_request_path(req),
            .status = status,
            .message = http_request_message(req),
        };

        /* Refusals, and attempts without a token that reached no handler
         * (404, 405, 413), are counted apart: a flood of them must never
         * push a change out of the trail. */
        if (status == 401 || status == 403 || !id) {
            audit_refuse(server->audit, &e);
        } else {
            audit_record(server->audit, &e);
        }
    }
}

/* Returns the URL this controller is reached at, as 'cfg' advertises it
 * or as its listening address 'cfg->listen' and its port 'port' make it
 * (the host's name for a wildcard address).  The caller frees it. */
static char *
advertised_url(const struct server_config *cfg, uint16_t port)
{
    const char *scheme = cfg->tls_cert ? "https" : "http";
    const char *colon = strrchr(cfg->listen, ':');
    size_t len = colon ? (size_t) (colon - cfg->listen) : 0;
    char host[256];

    if (cfg->advertise) {
        return xstrdup(cfg->advertise);
    }
    if (!len || !strncmp(cfg->listen, "0.0.0.0", len)
        || !strncmp(cfg->listen, "[::]", len)) {
        if (gethostname(host, sizeof host)) {
            strcpy(host, "localhost");
        }
        host[sizeof host - 1] = '\0';
        return xasprintf("%s://%s:%u", scheme, host, port);
    }
    return xasprintf("%s://%.*s:%u", scheme, (int) len, cfg->listen, port);
}

/* Stores in '*pathp' the SQLite file that holds what this controller keeps
 * for itself, outside the shared store: the flow logs (controller/flowlogs.c)
 * and, beside it, the key that seals the agents' trace tokens.  With an
 * SQLite store it is the store's own file; with etcd, "replica.db" in the
 * storage directory, an SQLite store of its own (which gives it the flow
 * logs' table). */
static int
server_local_db(struct store *store, const struct server_config *cfg,
                char **pathp)
{
    json_t *status = store_status(store);
    const char *backend =
        json_string_value(json_object_get(status, "backend"));
    struct store *local;
    int error = 0;

    if (!strcmp(backend, "sqlite")) {
        *pathp = xstrdup(json_string_value(json_object_get(status, "path")));
    } else if (!cfg->storage) {
        LOG_ERR("store %s: a controller on etcd keeps its flow logs in "
                "replica.db in its storage directory: set \"storage\"",
                cfg->db);
        *pathp = NULL;
        error = EINVAL;
    } else {
        *pathp = xasprintf("%s/replica.db", cfg->storage);
        error = store_open(*pathp, &local);
        store_close(local);
    }
    json_decref(status);
    if (error) {
        free(*pathp);
        *pathp = NULL;
    }
    return error;
}

int
server_start(const struct server_config *cfg, struct server **serverp)
{
    struct http_config http = {
        .listen = cfg->listen,
        .body_max = HTTP_BODY_MAX,
        .max_connections = cfg->max_connections,
        .max_per_address = cfg->max_per_address,
        .idle_timeout = cfg->idle_timeout,
        .auth_idle_timeout = cfg->auth_idle_timeout,
    };
    struct http_hooks hooks = {
        .authorize = authorize,
        .completed = completed,
    };
    char *cert = NULL, *key = NULL;
    struct server *server;
    struct store *store;
    int error;

    *serverp = NULL;
    if (cfg->tls_cert) {
        error = read_file(cfg->tls_cert, &cert, NULL);
        if (error) {
            LOG_ERR("tls-cert %s: %s", cfg->tls_cert, strerror(error));
            return error;
        }
        error = read_file(cfg->tls_key, &key, NULL);
        if (error) {
            LOG_ERR("tls-key %s: %s", cfg->tls_key, strerror(error));
            free(cert);
            return error;
        }
        http.tls_cert = cert;
        http.tls_key = key;
    }

    error = store_open(cfg->db, &store);
    if (error) {
        LOG_ERR("cannot open the store %s: %s", cfg->db, strerror(error));
        goto out;
    }
    error = auth_bootstrap(store, cfg->bootstrap_token_file);
    if (error) {
        store_close(store);
        goto out;
    }

    if (cfg->storage) {
        error = api_images_init_storage(cfg->storage);
        if (error) {
            store_close(store);
            goto out;
        }
    }

    server = xzalloc(sizeof *server);
    api_init(&server->api, store, cfg->heartbeat_timeout);
    server->api.storage = cfg->storage ? xstrdup(cfg->storage) : NULL;
    server->ui_dir = xstrdup(cfg->ui_dir ? cfg->ui_dir : UI_DIR_DEFAULT);
    server->api.image_size_max =
        cfg->image_size_max ?: API_IMAGE_SIZE_MAX_DEFAULT;
    api_sched_set_weigher(&server->api, cfg->weigher);
    server_set_ha(server, cfg->ha_lease_ms ?: API_HA_LEASE_DEFAULT_MS,
                  cfg->ha_fence_margin_ms);
    char *local = NULL;
    error = server_local_db(store, cfg, &local);
    if (!error) {
        error = flowlogs_open(local, cfg->flowlogs_keep,
                              cfg->flowlogs_port_keep, &server->api.flowlogs);
    }
    if (!error) {
        /* The key that seals the agents' trace tokens lives beside the
         * local database but outside it: "sqlite:/x/controller.db" keeps
         * it in /x/controller.db.key. */
        char *key_file = xasprintf("%s.key", local);

        error = secrets_open(key_file, &server->api.secrets);
        free(key_file);
        if (!error) {
            error = api_host_seal_tokens(&server->api);
        }
        if (error) {
            flowlogs_close(server->api.flowlogs);
        }
    }
    free(local);
    if (error) {
        secrets_close(server->api.secrets);
        api_destroy(&server->api);
        store_close(store);
        free(server->api.storage);
        free(server->ui_dir);
        free(server);
        goto out;
    }
    /* For the calls to agents that POST /v1/trace makes. */
    curl_global_init(CURL_GLOBAL_DEFAULT);
    server->audit =
        audit_create(store, cfg->audit_keep, cfg->audit_refused_keep);
    server->metrics = metrics_create();
    server->api.audit = server->audit;
    hooks.aux = server;
    error = http_server_start(&http, routes, ARRAY_SIZE(routes), &hooks,
                              &server->http);
    if (!error) {
        char *url = advertised_url(cfg, http_server_port(server->http));

        error = leader_start(store, url,
                             cfg->leader_lease_ms ?: LEADER_LEASE_DEFAULT_MS,
                             &server->api.leader);
        free(url);
        if (error) {
            http_server_stop(server->http);
        }
    }
    if (!error) {
        error = api_drs_start(&server->api);
        if (error) {
            http_server_stop(server->http);
        }
    }
    if (!error) {
        error = pthread_create(&server->ticker, NULL, ticker_main, server);
        if (error) {
            LOG_ERR("cannot start the migrations' ticker: %s",
                    strerror(error));
            atomic_store(&server->api.stopping, true);
            api_drs_stop(&server->api);
            http_server_stop(server->http);
        }
        server->ticking = !error;
    }
    if (!error) {
        server->api.ha = ha_create(&server->api);
        error = ha_start(server->api.ha);
        if (error) {
            ha_destroy(server->api.ha);
            atomic_store(&server->api.stopping, true);
            pthread_join(server->ticker, NULL);
            api_drs_stop(&server->api);
            http_server_stop(server->http);
        }
    }
    if (error) {
        leader_stop(server->api.leader);
        audit_destroy(server->audit);
        metrics_destroy(server->metrics);
        flowlogs_close(server->api.flowlogs);
        secrets_close(server->api.secrets);
        curl_global_cleanup();
        api_destroy(&server->api);
        store_close(store);
        free(server->api.storage);
        free(server->ui_dir);
        free(server);
        goto out;
    }
    LOG_INFO(
        "serving %s on %s port %u, advertised as %s, store %s, "
        "heartbeat timeout %d s, at most %u connections (%u per client "
        "address), idle "
        "timeout %u s (%u s once authenticated), storage %s, web "
        "console from %s",
        cert ? "HTTPS" : "HTTP", cfg->listen, http_server_port(server->http),
        leader_self(server->api.leader), cfg->db, cfg->heartbeat_timeout,
        cfg->max_connections ?: HTTP_MAX_CONNECTIONS,
        cfg->max_per_address ?: HTTP_MAX_PER_ADDRESS,
        cfg->idle_timeout ?: HTTP_IDLE_TIMEOUT,
        cfg->auth_idle_timeout ?: HTTP_AUTH_IDLE_TIMEOUT,
        cfg->storage ? cfg->storage : "none (no image files)", server->ui_dir);
    server->tls_cert = cert;
    server->tls_key = key;
    *serverp = server;
    return 0;

out:
    free(cert);
    free(key);
    return error;
}

uint16_t
server_port(const struct server *server)
{
    return http_server_port(server->http);
}

void
server_set_heartbeat_timeout(struct server *server, int seconds)
{
    atomic_store(&server->api.heartbeat_timeout, seconds);
}

void
server_set_ha(struct server *server, int lease_ms, int fence_margin_ms)
{
    atomic_store(&server->api.ha_lease_ms, lease_ms);
    atomic_store(&server->api.ha_fence_margin_ms, fence_margin_ms);
}

void
server_set_weigher(struct server *server, enum sched_weigher w)
{
    api_sched_set_weigher(&server->api, w);
}

void
server_stop(struct server *server)
{
    if (server) {
        /* Long polls see 'stopping' within half a second and answer 503,
         * which tells agents to poll again (elsewhere, or after the
         * restart) instead of waiting out their timeout.  Give them the
         * time to answer before the connections are closed. */
        atomic_store(&server->api.stopping, true);
        http_server_quiesce(server->http);
        for (int i = 0; i < STOP_WAIT_MS / 10; i++) {
            if (!atomic_load(&server->polls)) {
                break;
            }
            usleep(10 * 1000);
        }
        usleep(STOP_GRACE_MS * 1000);
        api_drs_stop(&server->api);
        if (server->ticking) {
            pthread_join(server->ticker, NULL);
        }
        ha_destroy(server->api.ha);
        http_server_stop(server->http);
        /* Resigning lets another controller lead at once. */
        leader_stop(server->api.leader);
        audit_destroy(server->audit);
        metrics_destroy(server->metrics);
        flowlogs_close(server->api.flowlogs);
        secrets_close(server->api.secrets);
        curl_global_cleanup();
        /* The API's desired-state cache follows the store: it goes
         * first. */
        api_destroy(&server->api);
        store_close(server->api.store);
        free(server->api.storage);
        free(server->tls_cert);
        free(server->tls_key);
        free(server->ui_dir);
        free(server);
    }
}
