#include "agent/watch.h"

#include <errno.h>
#include <arpa/inet.h>
#include <inttypes.h>
#include <jansson.h>
#include <libgen.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/param.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agent/changes.h"
#include "agent/core.h"
#include "agent/http-client.h"
#include "agent/lease.h"
#include "agent/probe.h"
#include "agent/state.h"
#include "agent/vms.h"
#include "datapath/dp-tables.h"
#include "datapath/netlink.h"
#include "utils/log.h"
#include "utils/util.h"

/* Timeout of a request other than the long poll, milliseconds. */
#define WATCH_REQUEST_TIMEOUT_MS 10000

/* How much longer than its "wait" a long poll may take before it counts
 * as lost, milliseconds. */
#define WATCH_POLL_SLACK_MS 15000

/* What became of a request. */
enum outcome {
    OUTCOME_OK,          /* An answer the caller can use. */
    OUTCOME_UNREACHABLE, /* No answer, or 5xx: back off and retry. */
    OUTCOME_REFUSED,     /* 4xx: retry slowly. */
    OUTCOME_NOT_FOUND,   /* 404: the controller does not know the host. */
    OUTCOME_BAD_ANSWER,  /* An answer that makes no sense: back off. */
    OUTCOME_CANCELLED,   /* watch_stop() was called. */
};

/* How the controller answers, as last logged. */
enum link {
    LINK_UNKNOWN,     /* Not asked yet. */
    LINK_UP,          /* It answers. */
    LINK_UNREACHABLE, /* It does not answer, or fails. */
    LINK_REFUSED,     /* It refuses the agent. */
};

struct watch {
    /* Settings, fixed at creation. */
    char *controller;                /* Base URL. */
    char *host;                      /* This host's name. */
    char *vtep;                      /* Its VTEP address. */
    char *underlay;                  /* Its underlay device. */
    uint32_t vcpus;                  /* Its CPUs. */
    uint32_t memory_mb;              /* Its memory, 0 if unknown. */
    char *cache;                     /* The state cache file. */
    unsigned int heartbeat_interval; /* Seconds between heartbeats. */
    char *agent_url;                 /* For traces, or NULL. */
    char *agent_token;               /* Likewise. */
    uint16_t probe_port;             /* UDP port of the peer probes. */
    struct core *core;               /* The datapath and the state. */
    struct probe *probe;             /* The peer probes, or NULL. */

    /* The watch thread's own, also used by watch_load_cache() before it
     * starts. */
    struct http_client *watch_http; /* Its connection. */
    json_t *doc;                    /* The controller's document at
                                     * 'revision', NULL to ask for the
                                     * whole of it. */
    int64_t revision;               /* Revision of 'doc'. */
    char *digest;                   /* The controller's "digest" of 'doc',
                                     * or NULL: sent back with the long
                                     * poll, so that another replica can
                                     * tell the agent has what it would
                                     * send. */
    struct watch_backoff backoff;   /* Retry delays. */
    int cache_error;                /* Last error writing the cache. */

    /* The report thread's own. */
    struct http_client *report_http; /* Its connection. */

    pthread_t watch_thread;  /* Registers and watches. */
    pthread_t report_thread; /* Heartbeats and port status. */
    bool started;            /* Whether the threads run. */

    pthread_mutex_t mutex; /* Protects the members below. */
    pthread_cond_t cond;   /* Signalled when one of them changes. */
    bool stopping;         /* watch_stop() was called. */
    bool registered;       /* The controller knows this host. */
    bool kick;             /* Cut the watch thread's retry wait short. */
    bool status_dirty;     /* Ports may have changed status. */
    bool status_resend;    /* Send the port status even if unchanged. */
    enum link link;        /* How the controller answers. */
    char *link_message;    /* Why it failed, as last logged. */
    struct lease lease;    /* The HA lease (agent/lease.h). */
};

static double
now_monotonic(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double
random_fraction(void)
{
    return (double) random() / RAND_MAX;
}

void
watch_backoff_reset(struct watch_backoff *b)
{
    b->delay = 0;
}

double
watch_backoff_next(struct watch_backoff *b, double r)
{
    b->delay =
        b->delay ? MIN(b->delay * 2, WATCH_BACKOFF_MAX) : WATCH_BACKOFF_MIN;
    r = r < 0 ? 0 : r > 1 ? 1 : r;
    return b->delay * (1 - WATCH_BACKOFF_JITTER * r);
}

struct watch *
watch_create(const struct watch_config *cfg, struct core *core)
{
    struct watch *w = xzalloc(sizeof *w);

    w->controller = xstrdup(cfg->controller);
    w->host = xstrdup(cfg->host);
    w->vtep = xstrdup(cfg->vtep);
    w->underlay = xstrdup(cfg->underlay);
    w->vcpus = cfg->vcpus;
    w->memory_mb = cfg->memory_mb;
    w->cache = xstrdup(cfg->cache);
    w->heartbeat_interval = cfg->heartbeat_interval;
    w->agent_url = cfg->agent_url ? xstrdup(cfg->agent_url) : NULL;
    w->agent_token = cfg->agent_token ? xstrdup(cfg->agent_token) : NULL;
    w->probe_port = cfg->probe_port ? cfg->probe_port : PROBE_PORT_DEFAULT;
    w->core = core;
    w->watch_http =
        http_client_create(cfg->controller, cfg->cacert, cfg->token);
    w->report_http =
        http_client_create(cfg->controller, cfg->cacert, cfg->token);
    pthread_mutex_init(&w->mutex, NULL);
    cond_init_monotonic(&w->cond);
    srandom(time(NULL) ^ getpid());
    return w;
}

void
watch_destroy(struct watch *w)
{
    if (w) {
        watch_stop(w);
        http_client_destroy(w->watch_http);
        http_client_destroy(w->report_http);
        pthread_mutex_destroy(&w->mutex);
        pthread_cond_destroy(&w->cond);
        json_decref(w->doc);
        free(w->digest);
        free(w->link_message);
        free(w->controller);
        free(w->host);
        free(w->vtep);
        free(w->underlay);
        free(w->cache);
        free(w->agent_url);
        free(w->agent_token);
        free(w);
    }
}

/* Records how the controller answers and logs a change.  'message' says
 * why it failed (NULL for LINK_UP). */
static void
watch_set_link(struct watch *w, enum link link, const char *message)
{
    bool connected = link == LINK_UP;
    enum link old;

    pthread_mutex_lock(&w->mutex);
    old = w->link;
    /* A refusal is logged again when its reason changes (another token,
     * say); being unreachable is one state whatever fails. */
    if (link == old
        && (link != LINK_REFUSED || !strcmp(message, w->link_message ?: ""))) {
        pthread_mutex_unlock(&w->mutex);
        return;
    }
    w->link = link;
    free(w->link_message);
    w->link_message = message ? xstrdup(message) : NULL;
    switch (link) {
    case LINK_UP:
        if (old == LINK_UNKNOWN) {
            LOG_INFO("connected to controller %s",
                     http_client_url(w->watch_http));
        } else {
            LOG_INFO("controller reachable again");
        }
        /* Whatever waits for it may go on at once, and the controller
         * hears the port status again, in case it lost it. */
        w->kick = true;
        w->status_resend = true;
        w->status_dirty = true;
        break;
    case LINK_UNREACHABLE:
        LOG_WARN("controller unreachable: %s; retrying (the datapath keeps "
                 "forwarding as programmed)",
                 message);
        break;
    case LINK_REFUSED:
        LOG_ERR("controller refused the agent: %s; retrying every %.0f s "
                "(fix the token or the host's settings; SIGHUP re-reads "
                "the token)",
                message, WATCH_REFUSED_RETRY);
        break;
    case LINK_UNKNOWN:
    default:
        break;
    }
    pthread_cond_broadcast(&w->cond);
    pthread_mutex_unlock(&w->mutex);
    core_set_connected(w->core, connected);
}

/* Sorts the result of a request: 'error' and 'r' from
 * http_client_request() for 'what' ("METHOD PATH").  Logs failures as
 * watch_set_link() does. */
static enum outcome
watch_classify(struct watch *w, int error, const struct http_response *r,
               const char *what)
{
    char *msg;

    if (error == ECANCELED) {
        return OUTCOME_CANCELLED;
    } else if (error || r->status >= 500) {
        msg = error ? xasprintf("%s: %s", what, r->message)
                    : xasprintf("%s: %ld: %s", what, r->status, r->message);
        watch_set_link(w, LINK_UNREACHABLE, msg);
        free(msg);
        return OUTCOME_UNREACHABLE;
    } else if (r->status == 404) {
        return OUTCOME_NOT_FOUND;
    } else if (r->status >= 400) {
        msg = xasprintf("%s: %ld: %s", what, r->status, r->message);
        watch_set_link(w, LINK_REFUSED, msg);
        free(msg);
        return OUTCOME_REFUSED;
    }
    watch_set_link(w, LINK_UP, NULL);
    return OUTCOME_OK;
}

/* Waits 'seconds', or less if watch_stop() or a kick comes.  Returns false
 * if stopping. */
static bool
watch_sleep(struct watch *w, double seconds)
{
    struct timespec deadline;
    double end = now_monotonic() + seconds;
    bool stopping;

    deadline.tv_sec = end;
    deadline.tv_nsec = (end - deadline.tv_sec) * 1e9;
    pthread_mutex_lock(&w->mutex);
    while (!w->stopping && !w->kick
           && pthread_cond_timedwait(&w->cond, &w->mutex, &deadline)
                  != ETIMEDOUT) {
        continue;
    }
    stopping = w->stopping;
    pthread_mutex_unlock(&w->mutex);
    return !stopping;
}

/* Creates the directory the state cache goes in, if it is missing. */
static void
watch_make_cache_dir(const struct watch *w)
{
    char *copy = xstrdup(w->cache);
    const char *dir = dirname(copy);

    if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
        LOG_DBG("state cache: cannot create %s: %s", dir, strerror(errno));
    }
    free(copy);
}

/* Writes 'w->doc' and 'w->revision' to the state cache. */
static void
watch_write_cache(struct watch *w)
{
    json_t *cache = json_pack("{sIsO}", "revision", (json_int_t) w->revision,
                              "document", w->doc);
    char *text = json_dumps(cache, JSON_INDENT(2));
    char *file = xasprintf("%s\n", text ? text : "");
    int error;

    watch_make_cache_dir(w);
    error = write_file_atomic(w->cache, file, strlen(file));
    if (error && error != w->cache_error) {
        LOG_ERR("state cache %s: cannot write it: %s; an agent restarted "
                "while the controller is away would start from an older "
                "state",
                w->cache, strerror(error));
    } else if (!error && w->cache_error) {
        LOG_INFO("state cache %s: written again", w->cache);
    }
    w->cache_error = error;
    free(file);
    free(text);
    json_decref(cache);
}

/* Makes the fabric hosts of 'w->doc' (the VTEPs of its remotes, not
 * those of external VTEPs) the peers to probe. */
static void
watch_set_peers(struct watch *w)
{
    const json_t *remotes = json_object_get(w->doc, "remotes");
    const json_t *externals = json_object_get(w->doc, "external_vteps");
    uint32_t *vteps;
    const json_t *r, *e;
    size_t i, j, n = 0;

    if (!w->probe) {
        return;
    }
    vteps = xcalloc(json_array_size(remotes) + 1, sizeof *vteps);
    json_array_foreach(remotes, i, r)
    {
        const char *vtep = json_string_value(json_object_get(r, "vtep"));
        bool external = false;
        struct in_addr a;

        json_array_foreach(externals, j, e)
        {
            external |=
                vtep
                && !strcmp(vtep, json_string_value(json_object_get(e, "vtep"))
                                     ?: "");
        }
        if (vtep && !external && inet_pton(AF_INET, vtep, &a) == 1) {
            vteps[n++] = a.s_addr;
        }
    }
    probe_set_peers(w->probe, vteps, n);
    free(vteps);
}

/* The probe thread's tick (a probe_tick_func): decides what the VMs with
 * "ha" "restart" may do from the lease and the peers' answers. */
static void
watch_ha_tick(void *w_)
{
    struct watch *w = w_;
    bool answers = w->probe && probe_any_answers(w->probe);
    enum lease_action action;

    pthread_mutex_lock(&w->mutex);
    action = lease_decide(&w->lease, (uint64_t) time_msec(), answers);
    pthread_mutex_unlock(&w->mutex);
    if (core_vms(w->core)) {
        vms_set_ha(core_vms(w->core), action);
    }
}

/* Validates 'w->doc' (at 'w->revision') and, if it is valid, reconciles
 * the datapath with it.  'received' is when the answer arrived, for the
 * log; 'what' describes the document ("revision 7: 2 changes").  Unless
 * 'from_cache', a document that was applied is written to the cache and
 * the report thread told.  Returns 0 or EINVAL if the document was
 * refused. */
static int
watch_commit(struct watch *w, const char *what, double received,
             bool from_cache)
{
    struct state_errors errors;
    int error;

    state_errors_init(&errors);
    error = core_apply(w->core, w->doc, w->revision, &errors);
    if (error == EINVAL) {
        for (size_t i = 0; i < errors.n; i++) {
            LOG_ERR("desired state %s: %s", what, errors.msgs[i]);
        }
        LOG_ERR("desired state %s: invalid, refused; the state in force "
                "stays",
                what);
        state_errors_destroy(&errors);
        if (!from_cache) {
            /* The controller hears of the refusal. */
            watch_notify(w);
        }
        return EINVAL;
    }
    state_errors_destroy(&errors);
    LOG_INFO("desired state %s: reconciled%s in %.1f ms", what,
             error ? " with errors (retrying)" : "",
             (now_monotonic() - received) * 1e3);
    watch_set_peers(w);
    if (!from_cache) {
        watch_write_cache(w);
        watch_notify(w);
    }
    return 0;
}

void
watch_load_cache(struct watch *w)
{
    const char *problem = NULL;
    const json_t *revision, *doc, *name;
    json_error_t jerror;
    json_t *cache;
    char *what;

    cache = json_load_file(w->cache, JSON_REJECT_DUPLICATES, &jerror);
    if (!cache) {
        if (access(w->cache, F_OK) < 0 && errno == ENOENT) {
            LOG_INFO("no state cache %s yet: waiting for the controller",
                     w->cache);
        } else {
            LOG_WARN("state cache %s: unreadable, ignored: line %d: %s",
                     w->cache, jerror.line, jerror.text);
        }
        return;
    }
    revision = json_object_get(cache, "revision");
    doc = json_object_get(cache, "document");
    name = json_object_get(json_object_get(doc, "host"), "name");
    if (!json_is_integer(revision) || json_integer_value(revision) < 0
        || !json_is_object(doc)) {
        problem = "expected {\"revision\": R, \"document\": {...}}";
    } else if (name
               && (!json_is_string(name)
                   || strcmp(json_string_value(name), w->host))) {
        problem = "it is the desired state of another host";
    }
    if (problem) {
        LOG_WARN("state cache %s: ignored: %s", w->cache, problem);
        json_decref(cache);
        return;
    }
    w->doc = json_incref((json_t *) doc);
    w->revision = json_integer_value(revision);
    what = xasprintf("revision %" PRId64 " (state cache)", w->revision);
    if (watch_commit(w, what, now_monotonic(), true)) {
        json_decref(w->doc);
        w->doc = NULL;
        w->revision = 0;
    } else {
        LOG_INFO("started from the state cache %s (revision %" PRId64
                 "); asking the controller what changed since",
                 w->cache, w->revision);
    }
    free(what);
    json_decref(cache);
}

/* Returns what this host can carry, for the controller to refuse what it
 * cannot: {"underlay_mtu": N (when the underlay is there), "flood_members":
 * N}. */
static json_t *
watch_limits(const struct watch *w)
{
    json_t *limits = json_pack("{si}", "flood_members", DP_FLOOD_MAX);
    struct nl_link link;

    if (!nl_link_get(w->underlay, &link)) {
        json_object_set_new(limits, "underlay_mtu", json_integer(link.mtu));
    }
    return limits;
}

/* Adds to 'body' (a registration or a heartbeat) how this host runs VMs,
 * "hypervisor", once the agent knows; and, if 'capacity' (a
 * registration, which has "capacity"), the storage's size in it. */
static void
watch_add_hypervisor(const struct watch *w, json_t *body, bool capacity)
{
    struct vms *vms = core_vms(w->core);
    json_t *hv = vms ? vms_hypervisor(vms) : NULL;
    uint64_t disk_gb = vms && capacity ? vms_disk_gb(vms) : 0;

    if (hv) {
        json_object_set_new(body, "hypervisor", hv);
    }
    if (disk_gb) {
        json_object_set_new(json_object_get(body, "capacity"), "disk_gb",
                            json_integer(disk_gb));
    }
}

/* POST /v1/hosts. */
static enum outcome
watch_register(struct watch *w)
{
    struct http_response r;
    enum outcome outcome;
    json_t *body;
    int error;

    body = json_pack("{sssssss{si}so}", "name", w->host, "vtep", w->vtep,
                     "underlay", w->underlay, "capacity", "vcpus",
                     (int) w->vcpus, "limits", watch_limits(w));
    if (w->memory_mb) {
        json_object_set_new(json_object_get(body, "capacity"), "memory_mb",
                            json_integer(w->memory_mb));
    }
    watch_add_hypervisor(w, body, true);
    if (w->agent_url && w->agent_token) {
        /* How the controller asks this agent for traces. */
        json_object_set_new(body, "agent_url", json_string(w->agent_url));
        json_object_set_new(body, "agent_token", json_string(w->agent_token));
    }
    error = http_client_request(w->watch_http, "POST", "/v1/hosts", body,
                                WATCH_REQUEST_TIMEOUT_MS, &r);
    json_decref(body);
    outcome = watch_classify(w, error, &r, "POST /v1/hosts");
    if (outcome == OUTCOME_NOT_FOUND) {
        char *msg = xasprintf("POST /v1/hosts: 404: %s", r.message);

        /* Not an API that knows hosts: as good as a refusal. */
        watch_set_link(w, LINK_REFUSED, msg);
        free(msg);
        outcome = OUTCOME_REFUSED;
    } else if (outcome == OUTCOME_OK) {
        LOG_INFO("registered host \"%s\" (vtep %s, underlay %s, %" PRIu32
                 " vcpus, %" PRIu32 " MiB)",
                 w->host, w->vtep, w->underlay, w->vcpus, w->memory_mb);
        pthread_mutex_lock(&w->mutex);
        w->registered = true;
        w->status_resend = true;
        w->status_dirty = true;
        pthread_cond_broadcast(&w->cond);
        pthread_mutex_unlock(&w->mutex);
    }
    http_response_clear(&r);
    return outcome;
}

/* Handles a 200 answer 'body' to the long poll, received at 'received'. */
static enum outcome
watch_handle(struct watch *w, const json_t *body, double received)
{
    const json_t *revision = json_object_get(body, "revision");
    const json_t *full = json_object_get(body, "full");
    int64_t rev = json_integer_value(revision);
    const char *digest;
    json_t *doc;
    char *what;

    if (!json_is_integer(revision) || !json_is_boolean(full)
        || (json_is_true(full)
            && !json_is_object(json_object_get(body, "document")))
        || (!json_is_true(full)
            && !json_is_array(json_object_get(body, "changes")))) {
        LOG_ERR("desired state: the controller's answer lacks \"revision\", "
                "\"full\" and \"document\" or \"changes\"; asking for the "
                "whole document");
        json_decref(w->doc);
        w->doc = NULL;
        return OUTCOME_BAD_ANSWER;
    }
    if (json_is_true(full)) {
        doc = json_incref(json_object_get(body, "document"));
        what = xasprintf("revision %" PRId64 " (whole document)", rev);
    } else {
        const json_t *changes = json_object_get(body, "changes");
        char *msg;

        if (!w->doc) {
            LOG_ERR("desired state revision %" PRId64 ": the controller "
                    "sent changes without being asked; asking for the "
                    "whole document",
                    rev);
            return OUTCOME_BAD_ANSWER;
        }
        doc = json_deep_copy(w->doc);
        if (changes_apply(doc, changes, &msg)) {
            LOG_ERR("desired state revision %" PRId64 ": %s; asking for the "
                    "whole document",
                    rev, msg);
            free(msg);
            json_decref(doc);
            json_decref(w->doc);
            w->doc = NULL;
            return OUTCOME_BAD_ANSWER;
        }
        what = xasprintf("revision %" PRId64 " (%zu change%s)", rev,
                         json_array_size(changes),
                         json_array_size(changes) == 1 ? "" : "s");
    }
    /* The next delta is relative to this document, whether or not it is
     * valid: it is what the controller sent. */
    json_decref(w->doc);
    w->doc = doc;
    w->revision = rev;
    /* It goes back in a URL: only what a SHA-256 in hex looks like. */
    digest = json_string_value(json_object_get(body, "digest"));
    free(w->digest);
    w->digest = digest && strlen(digest) == 64
                        && strspn(digest, "0123456789abcdef") == 64
                    ? xstrdup(digest)
                    : NULL;
    watch_commit(w, what, received, false);
    free(what);
    return OUTCOME_OK;
}

/* GET /v1/hosts/NAME/desired-state, and what follows. */
static enum outcome
watch_poll(struct watch *w)
{
    struct http_response r;
    enum outcome outcome;
    double received;
    char *path;
    int error;

    path = w->doc ? xasprintf(
               "/v1/hosts/%s/desired-state?since=%" PRId64 "&wait=%d%s%s",
               w->host, w->revision, WATCH_WAIT, w->digest ? "&digest=" : "",
               w->digest ? w->digest : "")
                  : xasprintf("/v1/hosts/%s/desired-state", w->host);
    LOG_DBG("GET %s", path);
    error = http_client_request(w->watch_http, "GET", path, NULL,
                                WATCH_WAIT * 1000 + WATCH_POLL_SLACK_MS, &r);
    received = now_monotonic();
    outcome = watch_classify(w, error, &r, "GET desired-state");
    if (outcome == OUTCOME_NOT_FOUND) {
        LOG_WARN("the controller does not know host \"%s\" (deleted?): "
                 "registering it again",
                 w->host);
        pthread_mutex_lock(&w->mutex);
        w->registered = false;
        pthread_mutex_unlock(&w->mutex);
    } else if (outcome == OUTCOME_OK && r.status == 200) {
        outcome = watch_handle(w, r.body, received);
    } else if (outcome == OUTCOME_OK && r.status == 304) {
        LOG_DBG("desired state: no change since revision %" PRId64,
                w->revision);
    } else if (outcome == OUTCOME_OK) {
        LOG_ERR("desired state: unexpected status %ld from the controller",
                r.status);
        outcome = OUTCOME_BAD_ANSWER;
    }
    if (outcome == OUTCOME_OK) {
        /* What the agent runs is what the controller wants now: HA VMs
         * may start again after a lapse of the lease. */
        pthread_mutex_lock(&w->mutex);
        lease_document(&w->lease, (uint64_t) time_msec());
        pthread_mutex_unlock(&w->mutex);
        watch_ha_tick(w);
    }
    http_response_clear(&r);
    free(path);
    return outcome;
}

static void *
watch_main(void *w_)
{
    struct watch *w = w_;

    for (;;) {
        enum outcome outcome;
        bool registered;
        double delay;

        pthread_mutex_lock(&w->mutex);
        registered = w->registered;
        w->kick = false;
        pthread_mutex_unlock(&w->mutex);

        outcome = registered ? watch_poll(w) : watch_register(w);
        switch (outcome) {
        case OUTCOME_OK:
            watch_backoff_reset(&w->backoff);
            continue;
        case OUTCOME_REFUSED:
            delay = WATCH_REFUSED_RETRY
                    * (1 - WATCH_BACKOFF_JITTER * random_fraction());
            break;
        case OUTCOME_CANCELLED:
            return NULL;
        case OUTCOME_UNREACHABLE:
        case OUTCOME_NOT_FOUND:
        case OUTCOME_BAD_ANSWER:
        default:
            delay = watch_backoff_next(&w->backoff, random_fraction());
            break;
        }
        LOG_DBG("retrying in %.1f s", delay);
        if (!watch_sleep(w, delay)) {
            return NULL;
        }
    }
}

/* The traffic counters of the host's ports, {PORT: {"rx_bytes",
 * "rx_packets", "tx_bytes", "tx_packets"}}, for the controller's charts. */
static json_t *
port_traffic(const struct watch *w)
{
    struct core_snapshot snap;
    json_t *traffic = json_object();

    core_snapshot(w->core, &snap);
    for (size_t i = 0; i < snap.n_ports; i++) {
        const struct dp_stats *st = &snap.ports[i].stats;

        json_object_set_new(traffic, snap.ports[i].name,
                            json_pack("{sIsIsIsI}", "rx_bytes",
                                      (json_int_t) st->rx_bytes, "rx_packets",
                                      (json_int_t) st->rx_packets, "tx_bytes",
                                      (json_int_t) st->tx_bytes, "tx_packets",
                                      (json_int_t) st->tx_packets));
    }
    core_snapshot_destroy(&snap);
    return traffic;
}

/* Returns the body of a heartbeat: the host's load and limits, and its
 * ports' traffic. */
static json_t *
heartbeat_body(const struct watch *w, const json_t *status)
{
    json_t *load = json_object();
    const char *port;
    json_t *value, *body;
    double avg[3];
    size_t up = 0;

    json_object_foreach((json_t *) status, port, value)
    {
        up += !strcmp(json_string_value(value), "up");
    }
    json_object_set_new(load, "ports", json_integer(json_object_size(status)));
    json_object_set_new(load, "ports_up", json_integer(up));
    if (getloadavg(avg, 3) == 3) {
        json_object_set_new(load, "load1", json_real(avg[0]));
        json_object_set_new(load, "load5", json_real(avg[1]));
        json_object_set_new(load, "load15", json_real(avg[2]));
    }
    body = json_pack("{soso}", "load", load, "limits", watch_limits(w));
    watch_add_hypervisor(w, body, false);
    if (w->probe) {
        json_object_set_new(body, "peers", probe_peers(w->probe));
    }
    json_object_set_new(body, "traffic", port_traffic(w));
    return body;
}

/* POST /v1/hosts/NAME/heartbeat. */
static void
report_heartbeat(struct watch *w, const json_t *status)
{
    json_t *body = heartbeat_body(w, status);
    char *path = xasprintf("/v1/hosts/%s/heartbeat", w->host);
    uint64_t sent = (uint64_t) time_msec(), timeout;
    struct http_response r;
    enum outcome outcome;
    int error;

    /* A heartbeat that takes longer than half the lease would be answered
     * with a lease mostly run out. */
    pthread_mutex_lock(&w->mutex);
    timeout = w->lease.length_ms / 2;
    pthread_mutex_unlock(&w->mutex);
    if (timeout > WATCH_REQUEST_TIMEOUT_MS) {
        timeout = WATCH_REQUEST_TIMEOUT_MS;
    }
    error =
        http_client_request(w->report_http, "POST", path, body, timeout, &r);
    outcome = watch_classify(w, error, &r, "POST heartbeat");
    if (outcome == OUTCOME_NOT_FOUND) {
        /* The watch thread finds out too, and registers again. */
        LOG_DBG("heartbeat: the controller does not know host \"%s\"",
                w->host);
    } else if (outcome == OUTCOME_OK && r.status == 200) {
        json_t *lease = json_object_get(r.body, "lease_ms");

        if (json_is_integer(lease) && json_integer_value(lease) > 0) {
            bool had;

            pthread_mutex_lock(&w->mutex);
            had = lease_held(&w->lease, (uint64_t) time_msec());
            lease_granted(&w->lease, sent, json_integer_value(lease));
            pthread_mutex_unlock(&w->mutex);
            if (!had) {
                LOG_INFO("HA lease of %" JSON_INTEGER_FORMAT " ms granted",
                         json_integer_value(lease));
                watch_ha_tick(w);
            }
        } else {
            LOG_WARN("heartbeat: the controller's answer grants no lease "
                     "(expected {\"lease_ms\": N})");
        }
    }
    http_response_clear(&r);
    json_decref(body);
    free(path);
}

/* PUT /v1/hosts/NAME/port-status with 'body', {"ports": STATUS,
 * "conditions": [...]}.  Returns true if the controller took it. */
static bool
report_status(struct watch *w, const json_t *body)
{
    char *path = xasprintf("/v1/hosts/%s/port-status", w->host);
    const json_t *status = json_object_get(body, "ports");
    struct http_response r;
    bool ok;
    int error;

    error = http_client_request(w->report_http, "PUT", path, body,
                                WATCH_REQUEST_TIMEOUT_MS, &r);
    ok = watch_classify(w, error, &r, "PUT port-status") == OUTCOME_OK;
    if (ok) {
        LOG_DBG("reported the status of %zu port%s", json_object_size(status),
                json_object_size(status) == 1 ? "" : "s");
    }
    http_response_clear(&r);
    free(path);
    return ok;
}

/* Cuts the string member 'key' of 'obj' to WATCH_CONDITION_TEXT_MAX
 * bytes. */
static void
bound_text(json_t *obj, const char *key)
{
    const char *s = json_string_value(json_object_get(obj, key));
    size_t cut = WATCH_CONDITION_TEXT_MAX - 3;
    char *text;

    if (!s || strlen(s) <= WATCH_CONDITION_TEXT_MAX) {
        return;
    }
    /* Never inside a UTF-8 sequence: the result must stay valid. */
    while (cut > 0 && ((unsigned char) s[cut] & 0xc0) == 0x80) {
        cut--;
    }
    text = xasprintf("%.*s...", (int) cut, s);
    json_object_set_new(obj, key, json_string(text));
    free(text);
}

void
watch_bound_conditions(json_t *conditions)
{
    size_t n = json_array_size(conditions);
    json_t *c;
    size_t i;

    if (n > WATCH_CONDITIONS_MAX) {
        char *more = xasprintf("%zu more elements of the desired state are "
                               "left out; the agent's log names them",
                               n - (WATCH_CONDITIONS_MAX - 1));

        while (json_array_size(conditions) >= WATCH_CONDITIONS_MAX) {
            json_array_remove(conditions, json_array_size(conditions) - 1);
        }
        json_array_append_new(
            conditions, json_pack("{ssss}", "kind", "host", "reason", more));
        free(more);
    }
    json_array_foreach(conditions, i, c)
    {
        bound_text(c, "name");
        bound_text(c, "reason");
    }
}

static void *
report_main(void *w_)
{
    struct watch *w = w_;
    json_t *reported = NULL; /* The report the controller has. */
    double next_heartbeat = 0;

    pthread_mutex_lock(&w->mutex);
    while (!w->stopping) {
        double now = now_monotonic();
        json_t *status, *report;
        bool heartbeat, dirty;

        if (!w->registered) {
            /* The first heartbeat goes right after the registration: its
             * answer is the lease the HA VMs wait for. */
            next_heartbeat = now;
            pthread_cond_wait(&w->cond, &w->mutex);
            continue;
        }
        heartbeat = now >= next_heartbeat;
        dirty = w->status_dirty;
        if (!heartbeat && !dirty) {
            struct timespec deadline;

            deadline.tv_sec = next_heartbeat;
            deadline.tv_nsec = (next_heartbeat - deadline.tv_sec) * 1e9;
            pthread_cond_timedwait(&w->cond, &w->mutex, &deadline);
            continue;
        }
        w->status_dirty = false;
        if (w->status_resend) {
            w->status_resend = false;
            json_decref(reported);
            reported = NULL;
        }
        pthread_mutex_unlock(&w->mutex);

        /* Every heartbeat also compares the status with what was last
         * reported, so that a change nobody announced, or a report that
         * failed, goes out within one interval. */
        status = core_port_status(w->core);
        if (heartbeat) {
            report_heartbeat(w, status);
            pthread_mutex_lock(&w->mutex);
            next_heartbeat = now_monotonic()
                             + lease_heartbeat_ms(
                                   &w->lease, w->heartbeat_interval * 1000ull)
                                   / 1e3;
            pthread_mutex_unlock(&w->mutex);
        }
        report = json_pack("{soso}", "ports", status, "conditions",
                           core_conditions(w->core));
        if (core_vms(w->core)) {
            json_t *vms = vms_status(core_vms(w->core));
            const char *name;
            json_t *vm;

            json_object_foreach(vms, name, vm)
            {
                bound_text(vm, "reason");
            }
            if (json_object_size(vms) || reported) {
                json_object_set_new(report, "vms", vms);
            } else {
                json_decref(vms);
            }
        }
        watch_bound_conditions(json_object_get(report, "conditions"));
        if (!json_equal(report, reported)
            && (json_object_size(status)
                || json_array_size(json_object_get(report, "conditions"))
                || reported)) {
            if (report_status(w, report)) {
                json_decref(reported);
                reported = json_incref(report);
            }
        }
        json_decref(report);
        pthread_mutex_lock(&w->mutex);
    }
    pthread_mutex_unlock(&w->mutex);
    json_decref(reported);
    return NULL;
}

int
watch_start(struct watch *w)
{
    struct in_addr vtep;
    int error;

    LOG_INFO("controller mode: %s as host \"%s\", state cache %s",
             w->controller, w->host, w->cache);
    /* Until the controller grants a lease, no HA VM starts; none is
     * fenced before the lease it may still hold has run out. */
    lease_init(&w->lease, (uint64_t) time_msec());
    if (core_vms(w->core)) {
        vms_set_ha(core_vms(w->core), LEASE_HOLD);
    }
    if (inet_pton(AF_INET, w->vtep, &vtep) == 1
        && !probe_start(w->host, vtep.s_addr, w->probe_port, watch_ha_tick, w,
                        &w->probe)) {
        watch_set_peers(w);
    }
    error = pthread_create(&w->watch_thread, NULL, watch_main, w);
    if (error) {
        return error;
    }
    error = pthread_create(&w->report_thread, NULL, report_main, w);
    if (error) {
        pthread_mutex_lock(&w->mutex);
        w->stopping = true;
        pthread_cond_broadcast(&w->cond);
        pthread_mutex_unlock(&w->mutex);
        http_client_cancel(w->watch_http);
        pthread_join(w->watch_thread, NULL);
        return error;
    }
    w->started = true;
    return 0;
}

void
watch_notify(struct watch *w)
{
    pthread_mutex_lock(&w->mutex);
    w->status_dirty = true;
    pthread_cond_broadcast(&w->cond);
    pthread_mutex_unlock(&w->mutex);
}

void
watch_set_token(struct watch *w, const char *token)
{
    http_client_set_token(w->watch_http, token);
    http_client_set_token(w->report_http, token);
    pthread_mutex_lock(&w->mutex);
    w->kick = true;
    pthread_cond_broadcast(&w->cond);
    pthread_mutex_unlock(&w->mutex);
}

void
watch_stop(struct watch *w)
{
    if (!w->started) {
        return;
    }
    pthread_mutex_lock(&w->mutex);
    w->stopping = true;
    pthread_cond_broadcast(&w->cond);
    pthread_mutex_unlock(&w->mutex);
    http_client_cancel(w->watch_http);
    http_client_cancel(w->report_http);
    pthread_join(w->watch_thread, NULL);
    pthread_join(w->report_thread, NULL);
    probe_stop(w->probe);
    w->probe = NULL;
    w->started = false;
}
