#include "agent/metrics.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <microhttpd.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent-config.h"
#include "agent/core.h"
#include "agent/migrate.h"
#include "agent/state.h"
#include "agent/trace.h"
#include "agent/vms.h"
#include "datapath/dp.h"
#include "utils/log.h"
#include "utils/util.h"

/* Seconds an idle scrape connection is kept. */
#define METRICS_CONNECTION_TIMEOUT 10

struct metrics {
    struct MHD_Daemon *daemon; /* The HTTP server. */
    struct core *core;         /* What it shows. */
};

/* One counter of struct dp_stats. */
struct counter {
    const char *name;          /* The name's end, e.g. "rx_bytes_total". */
    const char *port_help;     /* HELP text for a port. */
    const char *underlay_help; /* HELP text for the underlay. */
    size_t offset;             /* Where struct dp_stats has it. */
};

static const struct counter counters[] = {
    {"rx_packets_total",
     "Frames the switch received from the port (the VM sent them).",
     "VXLAN packets received on the underlay device for this host.",
     offsetof(struct dp_stats, rx_packets)},
    {"rx_bytes_total", "Bytes of the frames received from the port.",
     "Bytes of the VXLAN packets received on the underlay device.",
     offsetof(struct dp_stats, rx_bytes)},
    {"tx_packets_total", "Frames the switch delivered to the port.",
     "VXLAN packets sent out of the underlay device.",
     offsetof(struct dp_stats, tx_packets)},
    {"tx_bytes_total", "Bytes of the frames delivered to the port.",
     "Bytes of the VXLAN packets sent out of the underlay device.",
     offsetof(struct dp_stats, tx_bytes)},
    {"punted_total",
     "Frames the port handed to the agent (DHCP) instead of forwarding.",
     "Frames handed to the agent: none come from the underlay.",
     offsetof(struct dp_stats, punted)},
};

static uint64_t
counter_value(const struct dp_stats *stats, const struct counter *c)
{
    uint64_t v;

    memcpy(&v, (const char *) stats + c->offset, sizeof v);
    return v;
}

/* Writes 's' to 'out' as a Prometheus label value: backslash, double quote
 * and newline escaped. */
static void
put_label(FILE *out, const char *s)
{
    for (; *s; s++) {
        if (*s == '\\' || *s == '"') {
            fprintf(out, "\\%c", *s);
        } else if (*s == '\n') {
            fputs("\\n", out);
        } else {
            fputc(*s, out);
        }
    }
}

static void
put_header(FILE *out, const char *name, const char *type, const char *help)
{
    fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* Writes metric 'name', of 'type' with 'help', that has one sample and no
 * labels: 'value'. */
static void
put_metric(FILE *out, const char *name, const char *type, const char *help,
           uint64_t value)
{
    put_header(out, name, type, help);
    fprintf(out, "%s %" PRIu64 "\n", name, value);
}

/* Writes gauge 'name' with 'help' for every port of 'snap': the uint64_t
 * at 'offset' in its struct core_port_stats. */
static void
put_port_gauge(FILE *out, const char *name, const char *help,
               const struct core_snapshot *snap, size_t offset)
{
    put_header(out, name, "gauge", help);
    for (size_t i = 0; i < snap->n_ports; i++) {
        uint64_t value;

        memcpy(&value, (const char *) &snap->ports[i] + offset, sizeof value);
        fprintf(out, "%s{port=\"", name);
        put_label(out, snap->ports[i].name);
        fprintf(out, "\"} %" PRIu64 "\n", value);
    }
}

static void
render_ports(FILE *out, const struct core_snapshot *snap)
{
    for (size_t c = 0; c < ARRAY_SIZE(counters); c++) {
        char name[64];

        snprintf(name, sizeof name, "fabric_agent_port_%s", counters[c].name);
        put_header(out, name, "counter", counters[c].port_help);
        for (size_t i = 0; i < snap->n_ports; i++) {
            fprintf(out, "%s{port=\"", name);
            put_label(out, snap->ports[i].name);
            fprintf(out, "\"} %" PRIu64 "\n",
                    counter_value(&snap->ports[i].stats, &counters[c]));
        }
    }
    /* Every reason is shown, zeros too, so that a drop counter exists
     * before its first drop and rate() sees that first drop. */
    put_header(out, "fabric_agent_port_drops_total", "counter",
               "Frames dropped at the port, by reason.");
    for (size_t i = 0; i < snap->n_ports; i++) {
        for (int r = 0; r < DP_DROP_N_REASONS; r++) {
            fputs("fabric_agent_port_drops_total{port=\"", out);
            put_label(out, snap->ports[i].name);
            fprintf(out, "\",reason=\"%s\"} %" PRIu64 "\n",
                    dp_drop_reason_name(r),
                    (uint64_t) snap->ports[i].stats.drops[r]);
        }
    }
    put_port_gauge(out, "fabric_agent_port_conntrack_entries",
                   "Connections tracked that take the port's share of the "
                   "conntrack table.",
                   snap, offsetof(struct core_port_stats, ct.tracked));
    put_port_gauge(out, "fabric_agent_port_conntrack_max",
                   "The port's share of the conntrack table: beyond it, its "
                   "new connections are dropped as conntrack-port-limit (0: "
                   "no limit).",
                   snap, offsetof(struct core_port_stats, ct.max));
}

static void
render_underlay(FILE *out, const struct core_snapshot *snap)
{
    for (size_t c = 0; c < ARRAY_SIZE(counters); c++) {
        char name[64];

        snprintf(name, sizeof name, "fabric_agent_underlay_%s",
                 counters[c].name);
        put_header(out, name, "counter", counters[c].underlay_help);
        if (snap->have_underlay) {
            fprintf(out, "%s %" PRIu64 "\n", name,
                    counter_value(&snap->underlay, &counters[c]));
        }
    }
    put_header(out, "fabric_agent_underlay_drops_total", "counter",
               "Packets dropped at the underlay device, by reason.");
    for (int r = 0; snap->have_underlay && r < DP_DROP_N_REASONS; r++) {
        fprintf(out,
                "fabric_agent_underlay_drops_total{reason=\"%s\"} %" PRIu64
                "\n",
                dp_drop_reason_name(r), (uint64_t) snap->underlay.drops[r]);
    }
}

/* The DHCP responder's counters (agent/dhcp.h).  Every label value is
 * shown, zeros too, as for drops. */
static void
render_dhcp(FILE *out, const struct core_snapshot *snap)
{
    static const char *const types[] = {
        [0] = "other",
        [DHCP_DISCOVER] = "discover",
        [DHCP_OFFER] = "offer",
        [DHCP_REQUEST] = "request",
        [DHCP_DECLINE] = "decline",
        [DHCP_ACK] = "ack",
        [DHCP_NAK] = "nak",
        [DHCP_RELEASE] = "release",
        [DHCP_INFORM] = "inform",
    };
    const struct dhcp_stats *d = &snap->dhcp;

    put_header(out, "fabric_agent_dhcp_received_total", "counter",
               "DHCP client messages the fast path punted to the agent, by "
               "message type.");
    for (int t = 0; t <= DHCP_INFORM; t++) {
        if (t != DHCP_OFFER && t != DHCP_ACK && t != DHCP_NAK) {
            fprintf(out,
                    "fabric_agent_dhcp_received_total{type=\"%s\"} %" PRIu64
                    "\n",
                    types[t], d->received[t]);
        }
    }
    put_header(out, "fabric_agent_dhcp_sent_total", "counter",
               "DHCP answers the agent sent to VM ports, by message type.");
    for (int t = DHCP_OFFER; t <= DHCP_NAK; t++) {
        if (t != DHCP_REQUEST && t != DHCP_DECLINE) {
            fprintf(out,
                    "fabric_agent_dhcp_sent_total{type=\"%s\"} %" PRIu64 "\n",
                    types[t], d->sent[t]);
        }
    }
    put_header(out, "fabric_agent_dhcp_ignored_total", "counter",
               "DHCP client messages the agent did not answer, by reason.");
    for (int r = 0; r < AGENT_DHCP_N_IGNORED; r++) {
        fprintf(out,
                "fabric_agent_dhcp_ignored_total{reason=\"%s\"} %" PRIu64 "\n",
                agent_dhcp_ignored_name(r), d->ignored[r]);
    }
}

/* The firewall's counters (doc/firewall.md). */
static void
render_firewall(FILE *out, const struct core_snapshot *snap)
{
    put_metric(out, "fabric_conntrack_entries", "gauge",
               "Connections tracked, as of the last revalidation.",
               snap->ct_entries);
    put_metric(out, "fabric_conntrack_expired_total", "counter",
               "Conntrack entries the agent deleted as timed out.",
               snap->ct_expired);
    put_metric(out, "fabric_conntrack_revalidated_deleted_total", "counter",
               "Conntrack entries the agent deleted because the policy "
               "denies them now.",
               snap->ct_denied);
    put_metric(out, "fabric_conntrack_evicted_total", "counter",
               "Conntrack entries the agent evicted to make room in a table "
               "nearly full: half-open and finished connections of ports "
               "over their fair share.",
               snap->ct_evicted);
    put_header(out, "fabric_conntrack_full_total", "counter",
               "New connections refused because the conntrack table was "
               "full.");
    if (snap->have_fw_stats) {
        fprintf(out, "fabric_conntrack_full_total %" PRIu64 "\n",
                snap->fw.ct_full);
    }
    put_metric(out, "fabric_flowlog_aggregated_total", "counter",
               "Flow events counted as repeats of a flow, reported in one "
               "record per window.",
               snap->flowlog_aggregated);
    put_metric(out, "fabric_flowlog_suppressed_total", "counter",
               "Flow events whose records a port's rate limit dropped.",
               snap->flowlog_suppressed);
    put_header(out, "fabric_flowlog_events_lost_total", "counter",
               "Flow log events the fast path lost: its ring buffer was "
               "full.");
    if (snap->have_fw_stats) {
        fprintf(out, "fabric_flowlog_events_lost_total %" PRIu64 "\n",
                snap->fw.events_lost);
    }
    put_header(out, "fabric_rule_hits_total", "counter",
               "Connections a security group rule allowed and packets it "
               "denied on this host, by rule id.");
    for (size_t i = 0; i < snap->n_rule_hits; i++) {
        fprintf(out,
                "fabric_rule_hits_total{rule=\"%" PRIu32 "\"} %" PRIu64 "\n",
                snap->rule_hits[i].rule_id, snap->rule_hits[i].hits);
    }
}

/* The VMs (agent/vms.h): how many are in each state, and what each
 * uses.  Without VMs (--once, tests) there are no such metrics. */
static void
render_vms(FILE *out, const struct core_snapshot *snap)
{
    const struct vms_counts *c = &snap->vms;

    if (!snap->have_vms) {
        return;
    }
    put_header(out, "fabric_agent_vms", "gauge",
               "VMs of the desired state, by the state they are in.");
    for (size_t i = 0; vms_state_name(i); i++) {
        fprintf(out, "fabric_agent_vms{state=\"%s\"} %zu\n", vms_state_name(i),
                c->by_state[i]);
    }
    put_header(out, "fabric_agent_vm_cpu_seconds_total", "counter",
               "vCPU time a VM used since it last started.");
    for (size_t i = 0; i < c->n_usage; i++) {
        fputs("fabric_agent_vm_cpu_seconds_total{vm=\"", out);
        put_label(out, c->usage[i].name);
        fprintf(out, "\"} %.9f\n", c->usage[i].cpu_time_ns / 1e9);
    }
    put_header(out, "fabric_agent_vm_memory_bytes", "gauge",
               "Resident memory of a VM's hypervisor process.");
    for (size_t i = 0; i < c->n_usage; i++) {
        fputs("fabric_agent_vm_memory_bytes{vm=\"", out);
        put_label(out, c->usage[i].name);
        fprintf(out, "\"} %" PRIu64 "\n", c->usage[i].memory_kb * 1024);
    }
}

char *
metrics_render(const struct core_snapshot *snap)
{
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);

    if (!out) {
        return xstrdup("");
    }
    render_ports(out, snap);
    render_underlay(out, snap);
    put_metric(out, "fabric_agent_reconciles_total", "counter",
               "Reconciliations of the datapath with the desired state.",
               snap->reconciles);
    put_metric(out, "fabric_agent_reconcile_errors_total", "counter",
               "Reconciliations that failed (and are retried).",
               snap->reconcile_errors);
    put_header(out, "fabric_agent_controller_connected", "gauge",
               "1 while the controller answers, 0 otherwise (always 0 "
               "without a controller).");
    fprintf(out, "fabric_agent_controller_connected %d\n",
            snap->controller && snap->connected);
    put_header(out, "fabric_agent_desired_revision", "gauge",
               "Controller revision of the desired state in force (0 for a "
               "file).");
    fprintf(out, "fabric_agent_desired_revision %" PRId64 "\n",
            snap->revision);
    put_header(out, "fabric_agent_ready", "gauge",
               "1 once a reconciliation has succeeded.");
    fprintf(out, "fabric_agent_ready %d\n", snap->ready);
    put_header(out, "fabric_agent_desired_left_out", "gauge",
               "Elements of the desired state in force that this host "
               "cannot apply and left out, by kind.");
    for (int k = 0; k < STATE_N_KINDS; k++) {
        fprintf(out, "fabric_agent_desired_left_out{kind=\"%s\"} %zu\n",
                state_kind_name(k), snap->left_out[k]);
    }
    render_firewall(out, snap);
    render_vms(out, snap);
    render_dhcp(out, snap);
    if (fclose(out)) {
        free(text);
        return xstrdup("");
    }
    return text;
}

/* Queues an answer with 'status', 'type' and 'body' (which it takes). */
static enum MHD_Result
reply(struct MHD_Connection *conn, unsigned int status, const char *type,
      char *body)
{
    struct MHD_Response *response;
    enum MHD_Result r;

    response = MHD_create_response_from_buffer(strlen(body), body,
                                               MHD_RESPMEM_MUST_FREE);
    if (!response) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    r = MHD_queue_response(conn, status, response);
    MHD_destroy_response(response);
    return r;
}

/* The body of a POST being received. */
struct upload {
    char *data;    /* Bytes so far, NUL-terminated. */
    size_t len;    /* Bytes in 'data'. */
    bool too_long; /* More than UPLOAD_MAX came: refused. */
};

/* The largest body the listener takes: a trace request carries one frame
 * of at most 2 KiB, in base64. */
#define UPLOAD_MAX (64 * 1024)

/* Whether 'url' is /v1/migrations/ID/conntrack, ID a UUID's characters;
 * stores ID in 'id'. */
static bool
is_conntrack_url(const char *url, char id[37])
{
    const char *p = url + strlen("/v1/migrations/");
    size_t len;

    if (strncmp(url, "/v1/migrations/", 15)) {
        return false;
    }
    len = strspn(p, "0123456789abcdef-");
    if (len != 36 || strcmp(p + len, "/conntrack")) {
        return false;
    }
    memcpy(id, p, 36);
    id[36] = '\0';
    return true;
}

/* POST /v1/trace (agent/trace.c) and POST /v1/migrations/ID/conntrack
 * (agent/migrate.h): collects the body over the calls libmicrohttpd makes,
 * up to 'max' bytes, then answers. */
static enum MHD_Result
post_cb(struct metrics *m, struct MHD_Connection *conn, const char *url,
        const char *data, size_t *size, void **con_cls)
{
    struct upload *up = *con_cls;
    size_t max = UPLOAD_MAX;
    char *answer;
    char id[37];
    int status;
    bool ct = is_conntrack_url(url, id);

    if (ct) {
        max = MIGRATE_CT_BODY_MAX;
    }

    if (!up) {
        *con_cls = xzalloc(sizeof *up);
        return MHD_YES;
    }
    if (*size) {
        if (up->len + *size > max) {
            up->too_long = true;
        } else {
            up->data = xrealloc(up->data, up->len + *size + 1);
            memcpy(up->data + up->len, data, *size);
            up->len += *size;
            up->data[up->len] = '\0';
        }
        *size = 0;
        return MHD_YES;
    }
    if (up->too_long) {
        return reply(conn, MHD_HTTP_CONTENT_TOO_LARGE, "application/json",
                     xasprintf("{\"error\":\"%s: body too large (at most "
                               "%zu bytes)\"}",
                               ct ? "conntrack" : "trace", max));
    }
    if (ct) {
        status =
            migrate_conntrack_post(m->core,
                                   MHD_lookup_connection_value(
                                       conn, MHD_HEADER_KIND, "Authorization"),
                                   id, up->data, up->len, &answer);
        return reply(conn, status, "application/json",
                     answer ? answer
                            : xstrdup("{\"error\":\"out of memory\"}"));
    }
    status = agent_trace_handle(
        m->core,
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization"),
        up->data, up->len, &answer);
    return reply(conn, status, "application/json",
                 answer ? answer : xstrdup("{\"error\":\"out of memory\"}"));
}

/* Frees the upload of a request that ended, answered or not. */
static void
completed_cb(void *m, struct MHD_Connection *conn, void **con_cls,
             enum MHD_RequestTerminationCode code)
{
    struct upload *up = *con_cls;

    if (up) {
        free(up->data);
        free(up);
        *con_cls = NULL;
    }
}

/* GET /v1/vms/NAME/console[?bytes=N] for the controller (agent/vms.h):
 * the tail of VM NAME's serial console, as text. */
static enum MHD_Result
console_cb(struct metrics *m, struct MHD_Connection *conn, const char *url)
{
    static const char *json = "application/json";
    struct vms *vms = core_vms(m->core);
    const char *name = url + strlen("/v1/vms/");
    size_t name_len = strlen(name) - strlen("/console");
    const char *bytes;
    unsigned long long max = VMS_CONSOLE_DEFAULT;
    char *vm, *text, *end;
    int error;

    if (!agent_trace_authorized(MHD_lookup_connection_value(
            conn, MHD_HEADER_KIND, "Authorization"))) {
        return reply(conn, MHD_HTTP_UNAUTHORIZED, json,
                     xstrdup("{\"error\":\"console: only the controller may "
                             "read consoles, with the token this agent "
                             "registered\"}"));
    }
    bytes = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "bytes");
    if (bytes) {
        errno = 0;
        max = strtoull(bytes, &end, 10);
        if (!isdigit((unsigned char) *bytes) || *end || errno || max < 1
            || max > VMS_CONSOLE_MAX) {
            return reply(conn, MHD_HTTP_BAD_REQUEST, json,
                         xasprintf("{\"error\":\"console: bytes: expected "
                                   "an integer 1..%d\"}",
                                   VMS_CONSOLE_MAX));
        }
    }
    vm = xasprintf("%.*s", (int) name_len, name);
    error = vms ? vms_console(vms, vm, max, &text) : ENOENT;
    if (error) {
        json_t *j = json_pack("{ss}", "error", "");
        char *msg =
            xasprintf("console: VM %s: %s", vm,
                      error == ENOENT ? "not on this host" : strerror(error));
        char *body;

        json_object_set_new(j, "error", json_string(msg));
        body = json_dumps(j, JSON_COMPACT);
        json_decref(j);
        free(msg);
        free(vm);
        return reply(conn,
                     error == ENOENT ? MHD_HTTP_NOT_FOUND
                                     : MHD_HTTP_INTERNAL_SERVER_ERROR,
                     json, body);
    }
    free(vm);
    return reply(conn, MHD_HTTP_OK, "text/plain; charset=utf-8", text);
}

/* Whether 'url' is /v1/vms/NAME/console, NAME a name a VM may have. */
static bool
is_console_url(const char *url)
{
    const char *name = url + strlen("/v1/vms/");
    size_t len;

    if (strncmp(url, "/v1/vms/", 8)) {
        return false;
    }
    len = strcspn(name, "/");
    return len > 0 && len <= 63 && !strcmp(name + len, "/console")
           && strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWX"
                           "YZ0123456789._-")
                  == len;
}

static enum MHD_Result
access_cb(void *m_, struct MHD_Connection *conn, const char *url,
          const char *method, const char *version, const char *upload_data,
          size_t *upload_data_size, void **con_cls)
{
    static const char *text = "text/plain; charset=utf-8";
    struct metrics *m = m_;

    char id[37];

    if ((!strcmp(url, "/v1/trace") || is_conntrack_url(url, id))
        && !strcmp(method, "POST")) {
        return post_cb(m, conn, url, upload_data, upload_data_size, con_cls);
    }
    if (strcmp(method, "GET") && strcmp(method, "HEAD")) {
        return reply(conn, MHD_HTTP_METHOD_NOT_ALLOWED, text,
                     xasprintf("%s: method not allowed (use GET)\n", method));
    }
    if (is_console_url(url)) {
        return console_cb(m, conn, url);
    } else if (!strcmp(url, "/metrics")) {
        struct core_snapshot snap;
        char *body;

        core_snapshot(m->core, &snap);
        body = metrics_render(&snap);
        core_snapshot_destroy(&snap);
        return reply(conn, MHD_HTTP_OK,
                     "text/plain; version=0.0.4; charset=utf-8", body);
    } else if (!strcmp(url, "/healthz")) {
        return reply(conn, MHD_HTTP_OK, text, xstrdup("ok\n"));
    } else if (!strcmp(url, "/readyz")) {
        if (core_is_ready(m->core)) {
            return reply(conn, MHD_HTTP_OK, text, xstrdup("ready\n"));
        }
        return reply(conn, MHD_HTTP_SERVICE_UNAVAILABLE, text,
                     xstrdup("not ready: no reconciliation of the datapath "
                             "has succeeded yet\n"));
    }
    return reply(conn, MHD_HTTP_NOT_FOUND, text,
                 xasprintf("%s: not found (try /metrics, /healthz or "
                           "/readyz)\n",
                           url));
}

int
metrics_start(const char *listen, struct core *core, struct metrics **mp)
{
    struct sockaddr_storage ss;
    struct metrics *m;
    const char *problem;
    unsigned int flags;
    socklen_t len;

    *mp = NULL;
    problem = agent_config_parse_listen(listen, &ss, &len);
    if (problem) {
        LOG_ERR("metrics \"%s\": %s", listen, problem);
        return EINVAL;
    }
    m = xzalloc(sizeof *m);
    m->core = core;
    flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL;
    if (ss.ss_family == AF_INET6) {
        flags |= MHD_USE_IPv6;
    }
    m->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, access_cb, m, MHD_OPTION_SOCK_ADDR, &ss,
        MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned int) METRICS_CONNECTION_TIMEOUT, MHD_OPTION_NOTIFY_COMPLETED,
        completed_cb, NULL, MHD_OPTION_END);
    if (!m->daemon) {
        int error = errno ? errno : EADDRINUSE;

        LOG_ERR("metrics: cannot listen on %s: %s", listen, strerror(error));
        free(m);
        return error;
    }
    LOG_INFO("serving metrics on http://%s/metrics", listen);
    *mp = m;
    return 0;
}

void
metrics_stop(struct metrics *m)
{
    if (m) {
        MHD_stop_daemon(m->daemon);
        free(m);
    }
}
