#include "agent/flowlog.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <libgen.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/param.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agent/core.h"
#include "agent/flowagg.h"
#include "agent/http-client.h"
#include "agent/reconcile.h"
#include "utils/log.h"
#include "utils/util.h"

/* How long one wait for flow events lasts, so that stopping is quick. */
#define FLOWLOG_POLL_MS 200

/* Timeout of a request to the controller, milliseconds. */
#define FLOWLOG_REQUEST_TIMEOUT_MS 10000

/* Batches posted at most per FLOWLOG_POST_INTERVAL_MS, so that a backlog
 * drains without flooding the controller. */
#define FLOWLOG_BATCHES_PER_POST 10

struct flowlog {
    struct dp *dp;                 /* The datapath, not owned. */
    struct core *core;             /* Names, and rule hits, not owned. */
    struct dp_flow_events *events; /* The fast path's events. */

    /* The reader thread's own. */
    struct flowagg *agg; /* Aggregates and rate limits events. */
    char *path;          /* The local log, or NULL. */
    FILE *file;          /* It, open for appending, or NULL. */
    uint64_t size;       /* Bytes in it. */
    int file_error;      /* Last error writing it, as logged. */
    pthread_t reader;    /* Reads events, writes the file. */

    /* The sender thread's own (controller mode). */
    char *host;               /* This host's name. */
    struct http_client *http; /* Its connection, or NULL standalone. */
    pthread_t sender;         /* Posts records and rule hits. */
    bool post_failing;        /* The last POST failed (logged once). */

    pthread_mutex_t mutex;      /* Protects the members below. */
    pthread_cond_t cond;        /* Signalled on stop. */
    bool stopping;              /* flowlog_stop() was called. */
    json_t *backlog;            /* Records for the controller, oldest first. */
    struct flowlog_stats stats; /* Counters. */
};

void
flowlog_format_time(uint64_t wall_ns, char buf[32])
{
    time_t secs = wall_ns / 1000000000ULL;
    unsigned int ms = wall_ns / 1000000ULL % 1000;
    struct tm tm;

    gmtime_r(&secs, &tm);
    /* The bounds only tell the compiler that it fits. */
    snprintf(buf, 32, "%04u-%02u-%02uT%02u:%02u:%02u.%03uZ",
             (unsigned int) (tm.tm_year + 1900) % 10000,
             (unsigned int) (tm.tm_mon + 1) % 100,
             (unsigned int) tm.tm_mday % 100, (unsigned int) tm.tm_hour % 100,
             (unsigned int) tm.tm_min % 100, (unsigned int) tm.tm_sec % 100,
             ms);
}

const char *
flowlog_reason_name(int reason)
{
    switch (reason) {
    case POLICY_BY_RULE:
        return "rule";
    case POLICY_BY_DEFAULT_DENY:
        return "default-deny";
    case POLICY_BY_NETWORK_DEFAULT:
        return "network-default";
    case DP_FW_BY_CT_FULL:
        return "conntrack-full";
    case DP_FW_BY_INVALID:
        return "invalid";
    case DP_FW_BY_NO_CONN:
        return "no-connection";
    default:
        return "unknown";
    }
}

static json_t *
json_addr(uint8_t family, const uint8_t *addr)
{
    char s[INET6_ADDRSTRLEN];

    return json_string(
        inet_ntop(family == 4 ? AF_INET : AF_INET6, addr, s, sizeof s));
}

json_t *
flowlog_record(const struct dp_flow_event *ev, const char *port,
               const char *network, uint64_t wall_ns)
{
    const char *proto = ev->proto ? reconcile_proto_name(ev->proto) : NULL;
    json_t *r = json_object();
    char time[32];

    flowlog_format_time(wall_ns, time);
    json_object_set_new(r, "time", json_string(time));
    json_object_set_new(r, "network",
                        network ? json_string(network) : json_null());
    json_object_set_new(r, "vni", json_integer(ev->vni));
    if (proto) {
        json_object_set_new(r, "protocol", json_string(proto));
    } else {
        char number[8];

        snprintf(number, sizeof number, "%u", ev->proto);
        json_object_set_new(r, "protocol", json_string(number));
    }
    json_object_set_new(r, "src_ip", json_addr(ev->family, ev->src));
    json_object_set_new(r, "dst_ip", json_addr(ev->family, ev->dst));
    if (ev->proto == PKT_IPPROTO_ICMP || ev->proto == PKT_IPPROTO_ICMPV6) {
        /* The fast path puts type << 8 | code where a port would be. */
        uint16_t tc = ntohs(ev->sport);

        json_object_set_new(r, "icmp_type", json_integer(tc >> 8));
        json_object_set_new(r, "icmp_code", json_integer(tc & 0xff));
    } else if (ev->proto == PKT_IPPROTO_TCP || ev->proto == PKT_IPPROTO_UDP
               || ev->proto == POLICY_IPPROTO_SCTP) {
        json_object_set_new(r, "src_port", json_integer(ntohs(ev->sport)));
        json_object_set_new(r, "dst_port", json_integer(ntohs(ev->dport)));
    }
    json_object_set_new(r, "port", port ? json_string(port) : json_null());
    json_object_set_new(
        r, "direction",
        json_string(ev->direction == POLICY_INGRESS ? "ingress" : "egress"));
    json_object_set_new(r, "src_identity", json_integer(ev->src_identity));
    json_object_set_new(r, "dst_identity", json_integer(ev->dst_identity));
    if (ev->rule_id) {
        json_object_set_new(r, "rule", json_integer(ev->rule_id));
    }
    json_object_set_new(
        r, "verdict",
        json_string(ev->action == POLICY_ALLOW ? "allow" : "deny"));
    json_object_set_new(r, "reason",
                        json_string(flowlog_reason_name(ev->reason)));
    return r;
}

/* Opens the local log for appending, creating its directory, unless it is
 * open.  Logs a failure once. */
static void
flowlog_open_file(struct flowlog *fl)
{
    struct stat st;
    char *copy;
    int error = 0;

    if (fl->file || !fl->path) {
        return;
    }
    copy = xstrdup(fl->path);
    if (mkdir(dirname(copy), 0755) < 0 && errno != EEXIST) {
        error = errno;
    }
    free(copy);
    if (!error) {
        /* Mode 0640 whatever the umask: the records name every flow of
         * the host's VMs, which is not for every local user to read.
         * fopen() would create the file 0666 less the umask. */
        int fd =
            open(fl->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);

        fl->file = fd < 0 ? NULL : fdopen(fd, "a");
        error = fl->file ? 0 : errno;
        if (fd >= 0 && !fl->file) {
            close(fd);
        }
    }
    if (error) {
        if (error != fl->file_error) {
            LOG_ERR("flow log %s: cannot open it: %s; flow records are not "
                    "written locally",
                    fl->path, strerror(error));
        }
        fl->file_error = error;
        return;
    }
    fl->file_error = 0;
    fl->size = !fstat(fileno(fl->file), &st) ? (uint64_t) st.st_size : 0;
}

/* Moves the local log aside to "PATH.1" (replacing an older one) once it
 * holds FLOWLOG_ROTATE_BYTES. */
static void
flowlog_rotate(struct flowlog *fl)
{
    char *old;

    if (!fl->file || fl->size < FLOWLOG_ROTATE_BYTES) {
        return;
    }
    fclose(fl->file);
    fl->file = NULL;
    old = xasprintf("%s.1", fl->path);
    if (rename(fl->path, old) < 0) {
        LOG_WARN("flow log %s: cannot rotate it to %s: %s", fl->path, old,
                 strerror(errno));
    }
    free(old);
    flowlog_open_file(fl);
}

/* Returns CLOCK_MONOTONIC 'mono_ns' on the wall clock. */
static uint64_t
wall_time(uint64_t mono_ns)
{
    struct timespec mono, real;
    uint64_t now_mono, now_real;

    clock_gettime(CLOCK_MONOTONIC, &mono);
    clock_gettime(CLOCK_REALTIME, &real);
    now_mono = (uint64_t) mono.tv_sec * 1000000000ULL + mono.tv_nsec;
    now_real = (uint64_t) real.tv_sec * 1000000000ULL + real.tv_nsec;
    return now_real - (now_mono > mono_ns ? now_mono - mono_ns : 0);
}

static uint64_t
now_mono_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

/* flowagg emit callback: one record, to the file and the backlog. */
static void
flowlog_emit(const struct flowagg_record *agg, void *fl_)
{
    struct flowlog *fl = fl_;
    const struct dp_flow_event *ev = agg->ev;
    char *port, *network;
    json_t *record;

    core_flow_names(fl->core, ev->ifindex, ev->vni, &port, &network);
    record = flowlog_record(ev, port, network, wall_time(ev->time_ns));
    if (agg->count > 1) {
        char last[32];

        flowlog_format_time(wall_time(agg->last_ns), last);
        /* The API takes 32 bits; more in one window is unlikely. */
        json_object_set_new(record, "count",
                            json_integer(MIN(agg->count, UINT32_MAX)));
        json_object_set_new(record, "last_time", json_string(last));
    }
    if (agg->suppressed) {
        json_object_set_new(record, "suppressed",
                            json_integer(MIN(agg->suppressed, UINT32_MAX)));
    }

    if (fl->file) {
        char *line = json_dumps(record, JSON_COMPACT | JSON_PRESERVE_ORDER);

        if (line) {
            int n = fprintf(fl->file, "%s\n", line);

            if (n < 0) {
                LOG_ERR("flow log %s: write failed: %s", fl->path,
                        strerror(errno));
                fclose(fl->file);
                fl->file = NULL;
            } else {
                fl->size += n;
            }
            free(line);
        }
    }

    pthread_mutex_lock(&fl->mutex);
    /* The controller refuses a batch with a record that names no port or
     * network (one whose port went away meanwhile): those stay local. */
    if (fl->http && port && network) {
        if (json_array_size(fl->backlog) >= FLOWLOG_BACKLOG_MAX) {
            json_array_remove(fl->backlog, 0);
            fl->stats.dropped++;
        }
        json_array_append(fl->backlog, record);
    }
    pthread_mutex_unlock(&fl->mutex);

    json_decref(record);
    free(port);
    free(network);
}

/* dp_flow_events_poll() callback: one event. */
static void
flowlog_event(const struct dp_flow_event *ev, void *fl_)
{
    struct flowlog *fl = fl_;

    pthread_mutex_lock(&fl->mutex);
    fl->stats.events++;
    pthread_mutex_unlock(&fl->mutex);
    flowagg_event(fl->agg, ev);
}

static bool
flowlog_stopping(struct flowlog *fl)
{
    bool stopping;

    pthread_mutex_lock(&fl->mutex);
    stopping = fl->stopping;
    pthread_mutex_unlock(&fl->mutex);
    return stopping;
}

static void *
flowlog_reader(void *fl_)
{
    struct flowlog *fl = fl_;
    struct flowagg_stats agg_stats;

    flowlog_open_file(fl);
    while (!flowlog_stopping(fl)) {
        int error = dp_flow_events_poll(fl->events, FLOWLOG_POLL_MS);

        if (error && error != EINTR) {
            LOG_ERR("flow events: %s; flow logging stops", strerror(error));
            break;
        }
        flowagg_flush(fl->agg, now_mono_ns(), false);
        flowagg_get_stats(fl->agg, &agg_stats);
        core_set_flowlog_stats(fl->core, agg_stats.aggregated,
                               agg_stats.suppressed);
        if (fl->file) {
            fflush(fl->file);
            flowlog_rotate(fl);
        } else {
            /* Perhaps the directory can be made now. */
            flowlog_open_file(fl);
        }
    }
    /* What is counted but not reported yet goes out now. */
    flowagg_flush(fl->agg, now_mono_ns(), true);
    if (fl->file) {
        fclose(fl->file);
        fl->file = NULL;
    }
    return NULL;
}

/* Posts up to FLOWLOG_BATCH_MAX records of the backlog.  Returns true if
 * more are waiting and the controller took these. */
static bool
flowlog_post(struct flowlog *fl)
{
    struct http_response r;
    json_t *records = json_array();
    json_t *body;
    long status;
    size_t n;
    int error;

    pthread_mutex_lock(&fl->mutex);
    n = MIN(json_array_size(fl->backlog), FLOWLOG_BATCH_MAX);
    for (size_t i = 0; i < n; i++) {
        json_array_append(records, json_array_get(fl->backlog, i));
    }
    pthread_mutex_unlock(&fl->mutex);
    if (!n) {
        json_decref(records);
        return false;
    }

    body = json_pack("{sssO}", "host", fl->host, "records", records);
    error = http_client_request(fl->http, "POST", "/v1/flowlogs", body,
                                FLOWLOG_REQUEST_TIMEOUT_MS, &r);
    json_decref(body);
    json_decref(records);
    status = error ? 0 : r.status;
    if (status >= 200 && status < 300) {
        if (fl->post_failing) {
            LOG_INFO("flow logs: the controller takes them again");
        }
        fl->post_failing = false;
    } else if (status >= 400 && status < 500) {
        /* Sending the same batch again would be refused again. */
        LOG_ERR("flow logs: the controller refused %zu records: %ld: %s; "
                "dropped (they are in the local flow log)",
                n, r.status, r.message ? r.message : "");
    } else {
        if (!fl->post_failing && error != ECANCELED) {
            LOG_WARN("flow logs: POST /v1/flowlogs: %s; keeping up to %d "
                     "records and retrying",
                     r.message ? r.message : strerror(error),
                     FLOWLOG_BACKLOG_MAX);
        }
        fl->post_failing = true;
        http_response_clear(&r);
        return false;
    }
    http_response_clear(&r);

    pthread_mutex_lock(&fl->mutex);
    if (status < 300) {
        fl->stats.posted += n;
    }
    /* The reader may have dropped the oldest meanwhile: remove what was
     * sent, which is at the front unless the backlog overflowed. */
    for (size_t i = 0; i < n && json_array_size(fl->backlog); i++) {
        json_array_remove(fl->backlog, 0);
    }
    n = json_array_size(fl->backlog);
    pthread_mutex_unlock(&fl->mutex);
    return n > 0;
}

/* PUT /v1/hosts/NAME/rule-hits with this host's counters. */
static void
flowlog_put_hits(struct flowlog *fl)
{
    struct core_snapshot snap;
    struct http_response r;
    json_t *hits = json_object();
    json_t *body;
    char *path;
    int error;

    core_snapshot(fl->core, &snap);
    for (size_t i = 0; i < snap.n_rule_hits; i++) {
        char id[16];

        uint64_t n = snap.rule_hits[i].hits;

        snprintf(id, sizeof id, "%" PRIu32, snap.rule_hits[i].rule_id);
        /* A JSON integer is signed 64-bit: a count past it would go out
         * negative and get the whole report refused, so it stays at the
         * largest one. */
        json_object_set_new(
            hits, id,
            json_integer(n > LLONG_MAX ? LLONG_MAX : (json_int_t) n));
    }
    core_snapshot_destroy(&snap);
    body = json_pack("{so}", "hits", hits);
    path = xasprintf("/v1/hosts/%s/rule-hits", fl->host);
    error = http_client_request(fl->http, "PUT", path, body,
                                FLOWLOG_REQUEST_TIMEOUT_MS, &r);
    if (!error && r.status >= 400) {
        LOG_DBG("rule hits: PUT %s: %ld: %s", path, r.status,
                r.message ? r.message : "");
    } else if (error && error != ECANCELED) {
        LOG_DBG("rule hits: PUT %s: %s", path, r.message);
    }
    http_response_clear(&r);
    json_decref(body);
    free(path);
}

/* Waits until 'deadline' (CLOCK_MONOTONIC seconds) or a stop.  Returns
 * false if stopping. */
static bool
flowlog_wait(struct flowlog *fl, double deadline)
{
    struct timespec ts;
    bool stopping;

    ts.tv_sec = deadline;
    ts.tv_nsec = (deadline - ts.tv_sec) * 1e9;
    pthread_mutex_lock(&fl->mutex);
    while (!fl->stopping
           && pthread_cond_timedwait(&fl->cond, &fl->mutex, &ts)
                  != ETIMEDOUT) {
        continue;
    }
    stopping = fl->stopping;
    pthread_mutex_unlock(&fl->mutex);
    return !stopping;
}

static double
now_monotonic(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void *
flowlog_sender(void *fl_)
{
    struct flowlog *fl = fl_;
    double next_post = now_monotonic() + FLOWLOG_POST_INTERVAL_MS / 1e3;
    double next_hits = now_monotonic() + FLOWLOG_HITS_INTERVAL_MS / 1e3;

    while (flowlog_wait(fl, MIN(next_post, next_hits))) {
        double now = now_monotonic();

        if (now >= next_post) {
            for (int i = 0; i < FLOWLOG_BATCHES_PER_POST && flowlog_post(fl);
                 i++) {
                continue;
            }
            next_post = now_monotonic() + FLOWLOG_POST_INTERVAL_MS / 1e3;
        }
        if (now >= next_hits) {
            flowlog_put_hits(fl);
            next_hits = now_monotonic() + FLOWLOG_HITS_INTERVAL_MS / 1e3;
        }
    }
    return NULL;
}

/* Frees 'fl' and all it holds, once no thread of it runs: what
 * flowlog_stop() leaves after joining them, and what a flowlog_start()
 * that failed half way leaves. */
static void
flowlog_destroy(struct flowlog *fl)
{
    dp_flow_events_close(fl->events);
    flowagg_destroy(fl->agg);
    http_client_destroy(fl->http);
    json_decref(fl->backlog);
    pthread_mutex_destroy(&fl->mutex);
    pthread_cond_destroy(&fl->cond);
    free(fl->host);
    free(fl->path);
    free(fl);
}

int
flowlog_start(const struct flowlog_config *cfg, struct dp *dp,
              struct core *core, struct flowlog **flp)
{
    struct flowlog *fl = xzalloc(sizeof *fl);
    int error;

    *flp = NULL;
    fl->dp = dp;
    fl->core = core;
    fl->path = cfg->path ? xstrdup(cfg->path) : NULL;
    fl->backlog = json_array();
    fl->agg = flowagg_create(&(struct flowagg_config){0}, flowlog_emit, fl);
    pthread_mutex_init(&fl->mutex, NULL);
    cond_init_monotonic(&fl->cond);

    error = dp_flow_events_open(dp, flowlog_event, fl, &fl->events);
    if (error) {
        LOG_ERR("flow logs: cannot read the datapath's flow events: %s; no "
                "flow logs",
                strerror(error));
        goto error;
    }
    if (cfg->controller) {
        fl->host = xstrdup(cfg->host);
        fl->http =
            http_client_create(cfg->controller, cfg->cacert, cfg->token);
    }
    error = pthread_create(&fl->reader, NULL, flowlog_reader, fl);
    if (error) {
        goto error;
    }
    if (fl->http) {
        error = pthread_create(&fl->sender, NULL, flowlog_sender, fl);
        if (error) {
            pthread_mutex_lock(&fl->mutex);
            fl->stopping = true;
            pthread_mutex_unlock(&fl->mutex);
            pthread_join(fl->reader, NULL);
            goto error;
        }
    }
    LOG_INFO("flow logs: %s%s", fl->path ? fl->path : "no local file",
             fl->http ? ", and to the controller" : "");
    *flp = fl;
    return 0;

error:
    flowlog_destroy(fl);
    return error;
}

void
flowlog_stop(struct flowlog *fl)
{
    if (!fl) {
        return;
    }
    pthread_mutex_lock(&fl->mutex);
    fl->stopping = true;
    pthread_cond_broadcast(&fl->cond);
    pthread_mutex_unlock(&fl->mutex);
    if (fl->http) {
        http_client_cancel(fl->http);
        pthread_join(fl->sender, NULL);
    }
    pthread_join(fl->reader, NULL);
    flowlog_destroy(fl);
}

void
flowlog_set_token(struct flowlog *fl, const char *token)
{
    if (fl && fl->http) {
        http_client_set_token(fl->http, token);
    }
}

void
flowlog_get_stats(const struct flowlog *fl, struct flowlog_stats *stats)
{
    struct flowlog *f = (struct flowlog *) fl;

    pthread_mutex_lock(&f->mutex);
    *stats = f->stats;
    pthread_mutex_unlock(&f->mutex);
}
