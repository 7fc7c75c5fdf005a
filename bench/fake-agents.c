/* fake-agents: plays N hosts against fabric-controller over the real agent
 * protocol (doc/api.md, "Hosts" and "Desired state"), without datapaths,
 * from one process, so that one machine can load a controller as a
 * thousand hosts do.
 *
 * Each simulated host registers as fabric-agent does (POST /v1/hosts,
 * again whenever the controller forgets it), keeps its desired-state
 * document with the long poll (GET /v1/hosts/NAME/desired-state, the
 * whole document first, then ?since=R&wait=S, applying the changes of each
 * answer as the agent does, agent/changes.c), and reports its ports "up"
 * (PUT /v1/hosts/NAME/port-status) whenever the document's ports change.
 * A few reporter threads send every host's heartbeat at the interval.
 *
 * Every answer of a long poll is written as one line to the events file,
 *
 *   TIME_US HOST REVISION full|delta CHANGES [OP:KIND:KEY...]
 *
 * TIME_US the wall clock (CLOCK_REALTIME, microseconds) when the answer
 * arrived, CHANGES the number of changes (the number of ports and remotes
 * for a full document), and with -k the key of each change, so that a
 * benchmark can tell when a change reached each host and a test which
 * hosts it reached.  Once every host has its first document, "fake-agents:
 * N hosts watching" goes to stderr.
 *
 * The controller is a comma-separated list of URLs: a request that cannot
 * connect, times out or gets 503 goes to the next, and the long poll
 * resumes there from the revision it holds (doc/replication.md,
 * "Clients").  SIGTERM or SIGINT stops it; with -s, it then writes each
 * host's document as it holds it, one line per host, "HOST REVISION PORTS
 * REMOTES" (the counts), to the file named. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "agent/changes.h"
#include "agent/http-client.h"
#include "utils/util.h"

/* The long poll's "wait", and how much longer than that its request may
 * take, as fabric-agent's watch. */
#define FAKE_WAIT_DEFAULT 30
#define FAKE_POLL_SLACK_MS 15000
/* Any other request. */
#define FAKE_REQUEST_TIMEOUT_MS 10000
/* The pause after a failed request, before the next URL is tried. */
#define FAKE_RETRY_MS 500
/* A simulated host's thread does little: a small stack lets a thousand of
 * them fit. */
#define FAKE_STACK_SIZE (256 * 1024)

struct fake;

/* One simulated host. */
struct fake_host {
    struct fake *fake;        /* The whole run. */
    char *name;               /* Its name. */
    char vtep[16];            /* Its VTEP, unique in the run. */
    pthread_t thread;         /* Runs host_main(). */
    json_t *doc;              /* Its document, or NULL before the first. */
    int64_t revision;         /* The revision of 'doc'. */
    struct http_client *http; /* The long poll's client, of URL 'url'. */
    size_t url;               /* Index of the URL it talks to. */

    /* Shared with the reporters, under 'fake->mutex'. */
    bool registered;      /* The controller knows it. */
    json_t *ports;        /* Port name -> "up": the report to send. */
    bool watching;        /* Has had its first document. */
    bool status_dirty;    /* 'ports' is not yet reported. */
    int64_t next_beat_ms; /* When its next heartbeat is due. */
};

struct fake {
    char **urls;             /* The controller's URLs. */
    size_t n_urls;           /* Entries in 'urls'. */
    char *token;             /* Bearer token. */
    char *cacert;            /* CA file for https, or NULL. */
    int wait;                /* The long poll's "wait", seconds. */
    int heartbeat_ms;        /* Interval of heartbeats. */
    bool keys;               /* -k: log the key of each change. */
    struct fake_host *hosts; /* The simulated hosts. */
    size_t n_hosts;          /* Entries in 'hosts'. */

    pthread_mutex_t mutex; /* Guards the hosts' shared members, 'events'
                            * and the counts. */
    FILE *events;          /* Where answers are logged. */
    size_t watching;       /* Hosts with their first document. */
    atomic_bool stopping;  /* SIGTERM came. */
    atomic_ulong answers;  /* Long poll answers with a document. */
    atomic_ulong failures; /* Requests that failed. */
};

static int64_t
now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Sleeps 'ms' milliseconds unless the run is stopping.  Returns false if
 * it is. */
static bool
fake_sleep(struct fake *f, int ms)
{
    for (int slept = 0; slept < ms; slept += 50) {
        if (atomic_load(&f->stopping)) {
            return false;
        }
        usleep(50 * 1000);
    }
    return !atomic_load(&f->stopping);
}

/* Sends 'method' 'path' with 'body' over '*http' (of URL '*url'), and on a
 * failure to connect, a timeout or a 503 moves '*http' to the next URL
 * for the next request.  Returns true if an answer other than 503 came. */
static bool
fake_request(struct fake *f, struct http_client **http, size_t *url,
             const char *method, const char *path, const json_t *body,
             long timeout_ms, struct http_response *r)
{
    int error = http_client_request(*http, method, path, body, timeout_ms, r);

    if (!error && r->status != 503) {
        return true;
    }
    if (error != ECANCELED && !atomic_load(&f->stopping)) {
        atomic_fetch_add(&f->failures, 1);
        fprintf(stderr, "fake-agents: %s %s%s: %s\n", method, f->urls[*url],
                path,
                r->message ? r->message
                : error    ? strerror(error)
                           : "503 unavailable");
    }
    if (f->n_urls > 1 && error != ECANCELED) {
        /* Under the mutex, which the main thread holds to cancel every
         * client when it stops the run. */
        pthread_mutex_lock(&f->mutex);
        http_client_destroy(*http);
        *url = (*url + 1) % f->n_urls;
        *http = http_client_create(f->urls[*url], f->cacert, f->token);
        if (atomic_load(&f->stopping)) {
            http_client_cancel(*http);
        }
        pthread_mutex_unlock(&f->mutex);
    }
    return false;
}

/* POST /v1/hosts, as fabric-agent registers. */
static bool
host_register(struct fake_host *h)
{
    struct fake *f = h->fake;
    struct http_response r = {0};
    json_t *body;
    bool ok;

    body =
        json_pack("{sssssss{sisi}s{sisi}}", "name", h->name, "vtep", h->vtep,
                  "underlay", "fake0", "capacity", "vcpus", 8, "memory_mb",
                  16384, "limits", "flood_members", 256, "underlay_mtu", 1500);
    ok = fake_request(f, &h->http, &h->url, "POST", "/v1/hosts", body,
                      FAKE_REQUEST_TIMEOUT_MS, &r);
    if (ok && r.status != 200 && r.status != 201) {
        fprintf(stderr, "fake-agents: host %s: registration refused: %ld %s\n",
                h->name, r.status, r.message ? r.message : "");
        atomic_fetch_add(&f->failures, 1);
        ok = false;
    }
    json_decref(body);
    http_response_clear(&r);
    if (ok) {
        pthread_mutex_lock(&f->mutex);
        h->registered = true;
        h->status_dirty = true;
        h->next_beat_ms = time_msec();
        pthread_mutex_unlock(&f->mutex);
    }
    return ok;
}

/* Writes the events line of answer 'body' of host 'h', which arrived at
 * 'when'. */
static void
log_answer(struct fake_host *h, const json_t *body, int64_t when)
{
    struct fake *f = h->fake;
    bool full = json_is_true(json_object_get(body, "full"));
    const json_t *changes = json_object_get(body, "changes");
    size_t n = full ? json_array_size(json_object_get(h->doc, "ports"))
                          + json_array_size(json_object_get(h->doc, "remotes"))
                    : json_array_size(changes);

    pthread_mutex_lock(&f->mutex);
    fprintf(f->events, "%" PRId64 " %s %" PRId64 " %s %zu", when, h->name,
            h->revision, full ? "full" : "delta", n);
    if (f->keys && !full) {
        const json_t *c;
        size_t i;

        json_array_foreach(changes, i, c)
        {
            const char *op = json_string_value(json_object_get(c, "op"));
            const char *kind = json_string_value(json_object_get(c, "kind"));
            const json_t *object = json_object_get(c, "object");
            const char *key = json_string_value(json_object_get(c, "key"));
            char *made = NULL;

            if (!key && !strcmp(kind ?: "", "remote")) {
                key = made = xasprintf(
                    "%s/%s",
                    json_string_value(json_object_get(object, "network")),
                    json_string_value(json_object_get(object, "mac")));
            } else if (!key) {
                key = json_string_value(json_object_get(object, "name"));
            }
            fprintf(f->events, " %s:%s:%s", op ?: "?", kind ?: "?",
                    key ?: "?");
            free(made);
        }
    }
    fputc('\n', f->events);
    fflush(f->events);
    pthread_mutex_unlock(&f->mutex);
}

/* Takes answer 'body' of the long poll into 'h''s document, and the
 * document's ports into its report.  Returns false if the answer cannot
 * apply, so that the next poll asks for the whole document. */
static bool
host_take(struct fake_host *h, const json_t *body, int64_t when)
{
    struct fake *f = h->fake;
    json_t *doc, *ports = json_object();
    const json_t *port;
    char *msg = NULL;
    size_t i;

    if (json_is_true(json_object_get(body, "full"))) {
        doc = json_incref(json_object_get(body, "document"));
    } else if (h->doc) {
        doc = json_deep_copy(h->doc);
        if (changes_apply(doc, json_object_get(body, "changes"), &msg)) {
            fprintf(stderr, "fake-agents: host %s: %s\n", h->name, msg);
            free(msg);
            json_decref(doc);
            doc = NULL;
        }
    } else {
        doc = NULL;
    }
    if (!json_is_object(doc)
        || !json_is_integer(json_object_get(body, "revision"))) {
        json_decref(doc);
        json_decref(ports);
        json_decref(h->doc);
        h->doc = NULL;
        atomic_fetch_add(&f->failures, 1);
        return false;
    }
    json_decref(h->doc);
    h->doc = doc;
    h->revision = json_integer_value(json_object_get(body, "revision"));
    log_answer(h, body, when);
    atomic_fetch_add(&f->answers, 1);

    json_array_foreach(json_object_get(doc, "ports"), i, port)
    {
        const char *name = json_string_value(json_object_get(port, "name"));

        if (name) {
            json_object_set_new(ports, name, json_string("up"));
        }
    }
    pthread_mutex_lock(&f->mutex);
    if (!json_equal(ports, h->ports)) {
        json_decref(h->ports);
        h->ports = json_incref(ports);
        h->status_dirty = true;
    }
    if (!h->watching && ++f->watching == f->n_hosts) {
        fprintf(stderr, "fake-agents: %zu hosts watching\n", f->n_hosts);
    }
    h->watching = true;
    pthread_mutex_unlock(&f->mutex);
    json_decref(ports);
    return true;
}

/* A simulated host's watch: registration, then the long poll. */
static void *
host_main(void *h_)
{
    struct fake_host *h = h_;
    struct fake *f = h->fake;

    while (!atomic_load(&f->stopping)) {
        struct http_response r = {0};
        bool registered;
        char *path;

        pthread_mutex_lock(&f->mutex);
        registered = h->registered;
        pthread_mutex_unlock(&f->mutex);
        if (!registered) {
            if (!host_register(h) && !fake_sleep(f, FAKE_RETRY_MS)) {
                break;
            }
            continue;
        }

        path = h->doc ? xasprintf("/v1/hosts/%s/desired-state?since=%" PRId64
                                  "&wait=%d",
                                  h->name, h->revision, f->wait)
                      : xasprintf("/v1/hosts/%s/desired-state", h->name);
        if (!fake_request(f, &h->http, &h->url, "GET", path, NULL,
                          f->wait * 1000L + FAKE_POLL_SLACK_MS, &r)) {
            fake_sleep(f, FAKE_RETRY_MS);
        } else if (r.status == 200) {
            host_take(h, r.body, now_us());
        } else if (r.status == 404) {
            /* Deleted, or a controller on a fresh store: as the agent. */
            pthread_mutex_lock(&f->mutex);
            h->registered = false;
            pthread_mutex_unlock(&f->mutex);
        } else if (r.status != 304) {
            fprintf(stderr, "fake-agents: host %s: desired state: %ld %s\n",
                    h->name, r.status, r.message ? r.message : "");
            atomic_fetch_add(&f->failures, 1);
            fake_sleep(f, FAKE_RETRY_MS);
        }
        http_response_clear(&r);
        free(path);
    }
    return NULL;
}

/* A reporter: the heartbeats and port-status reports of every host whose
 * index is 'first' modulo 'step'. */
struct reporter {
    struct fake *f;           /* The run. */
    size_t first, step;       /* Its hosts. */
    struct http_client *http; /* Its client, of URL 'url'. */
    size_t url;               /* Index of the URL it talks to. */
    pthread_t thread;         /* Runs reporter_main(). */
};

/* Sends host 'h''s heartbeat if due and its report if it changed. */
static void
report_host(struct reporter *rep, struct fake_host *h)
{
    struct fake *f = rep->f;
    json_t *report = NULL;
    struct http_response r;
    bool beat;
    char *path;

    pthread_mutex_lock(&f->mutex);
    beat = h->registered && time_msec() >= h->next_beat_ms;
    if (beat) {
        h->next_beat_ms = time_msec() + f->heartbeat_ms;
    }
    if (h->registered && h->status_dirty && h->ports) {
        report = json_pack("{sO}", "ports", h->ports);
        h->status_dirty = false;
    }
    pthread_mutex_unlock(&f->mutex);

    if (beat) {
        json_t *body = json_pack("{s{sisi}s{sisi}}", "load", "ports",
                                 (int) json_object_size(h->ports), "ports_up",
                                 (int) json_object_size(h->ports), "limits",
                                 "flood_members", 256, "underlay_mtu", 1500);

        path = xasprintf("/v1/hosts/%s/heartbeat", h->name);
        memset(&r, 0, sizeof r);
        fake_request(f, &rep->http, &rep->url, "POST", path, body,
                     FAKE_REQUEST_TIMEOUT_MS, &r);
        http_response_clear(&r);
        json_decref(body);
        free(path);
    }
    if (report) {
        path = xasprintf("/v1/hosts/%s/port-status", h->name);
        memset(&r, 0, sizeof r);
        if (!fake_request(f, &rep->http, &rep->url, "PUT", path, report,
                          FAKE_REQUEST_TIMEOUT_MS, &r)
            || r.status != 204) {
            /* Again at the next round. */
            pthread_mutex_lock(&f->mutex);
            h->status_dirty = true;
            pthread_mutex_unlock(&f->mutex);
        }
        http_response_clear(&r);
        json_decref(report);
        free(path);
    }
}

static void *
reporter_main(void *rep_)
{
    struct reporter *rep = rep_;

    while (fake_sleep(rep->f, 100)) {
        for (size_t i = rep->first; i < rep->f->n_hosts; i += rep->step) {
            report_host(rep, &rep->f->hosts[i]);
        }
    }
    return NULL;
}

/* Writes each host's revision and the counts of its document's ports and
 * remotes to 'file'.  Returns false, having said why, if it cannot. */
static bool
write_summary(const struct fake *f, const char *file)
{
    FILE *stream = fopen(file, "w");

    if (!stream) {
        fprintf(stderr, "fake-agents: %s: %s\n", file, strerror(errno));
        return false;
    }
    for (size_t i = 0; i < f->n_hosts; i++) {
        const struct fake_host *h = &f->hosts[i];

        fprintf(stream, "%s %" PRId64 " %zu %zu\n", h->name, h->revision,
                json_array_size(json_object_get(h->doc, "ports")),
                json_array_size(json_object_get(h->doc, "remotes")));
    }
    if (fclose(stream)) {
        fprintf(stderr, "fake-agents: %s: %s\n", file, strerror(errno));
        return false;
    }
    return true;
}

static void
usage(void)
{
    printf(
        "usage: fake-agents -c URL[,URL...] -T TOKEN-FILE -n N [OPTION]...\n"
        "Play N hosts against fabric-controller over the agent protocol.\n"
        "\n"
        "  -c URLS        the controller, a comma-separated list\n"
        "  -T FILE        file with the bearer token (the bootstrap "
        "admin's)\n"
        "  -n N           how many hosts (1..65535)\n"
        "  -p PREFIX      host names PREFIX-00000... (default fake)\n"
        "  -f FIRST       number of the first host (default 0), for "
        "several runs\n"
        "  -H SECONDS     heartbeat interval (default 5, as the agent)\n"
        "  -w SECONDS     the long poll's wait (default 30)\n"
        "  -r N           reporter threads (default 4)\n"
        "  -o FILE        events file (default standard output)\n"
        "  -k             log the key of each change\n"
        "  -s FILE        at the end, each host's revision and counts of "
        "ports and remotes\n"
        "  --cacert FILE  CA certificates for an https controller\n");
}

/* Reads a number in 'min'..'max' from option 'opt''s 'arg', or exits. */
static long
number_arg(int opt, const char *arg, long min, long max)
{
    char *end;
    long n = strtol(arg, &end, 10);

    if (!*arg || *end || n < min || n > max) {
        fprintf(stderr,
                "fake-agents: -%c \"%s\": expected a number %ld..%ld\n", opt,
                arg, min, max);
        exit(2);
    }
    return n;
}

int
main(int argc, char *argv[])
{
    static const struct option options[] = {
        {"cacert", required_argument, NULL, 'C'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct fake f = {.wait = FAKE_WAIT_DEFAULT, .heartbeat_ms = 5000};
    const char *urls = NULL, *token_file = NULL, *prefix = "fake";
    const char *events = NULL, *summary = NULL;
    long first = 0, n_reporters = 4;
    struct reporter *reps;
    pthread_attr_t attr;
    sigset_t sigs;
    char *copy, *save = NULL;
    size_t len;
    int opt, sig, error;

    while ((opt = getopt_long(argc, argv, "c:T:n:p:f:H:w:r:o:s:kh", options,
                              NULL))
           != -1) {
        switch (opt) {
        case 'c':
            urls = optarg;
            break;
        case 'T':
            token_file = optarg;
            break;
        case 'n':
            f.n_hosts = number_arg(opt, optarg, 1, 65535);
            break;
        case 'p':
            prefix = optarg;
            break;
        case 'f':
            first = number_arg(opt, optarg, 0, 1 << 23);
            break;
        case 'H':
            f.heartbeat_ms = number_arg(opt, optarg, 1, 3600) * 1000;
            break;
        case 'w':
            f.wait = number_arg(opt, optarg, 1, 300);
            break;
        case 'r':
            n_reporters = number_arg(opt, optarg, 1, 256);
            break;
        case 'o':
            events = optarg;
            break;
        case 'k':
            f.keys = true;
            break;
        case 's':
            summary = optarg;
            break;
        case 'C':
            f.cacert = optarg;
            break;
        case 'h':
            usage();
            return 0;
        default:
            usage();
            return 2;
        }
    }
    if (!urls || !token_file || !f.n_hosts || optind != argc) {
        fprintf(stderr, "fake-agents: -c, -T and -n are required, and "
                        "nothing else (see --help)\n");
        return 2;
    }
    error = read_file(token_file, &f.token, &len);
    if (error) {
        fprintf(stderr, "fake-agents: %s: cannot read the token: %s\n",
                token_file, strerror(error));
        return 1;
    }
    f.token[strcspn(f.token, "\r\n")] = '\0';
    copy = xstrdup(urls);
    for (char *url = strtok_r(copy, ",", &save); url;
         url = strtok_r(NULL, ",", &save)) {
        f.urls = xrealloc(f.urls, (f.n_urls + 1) * sizeof *f.urls);
        f.urls[f.n_urls++] = xstrdup(url);
    }
    free(copy);
    if (!f.n_urls) {
        fprintf(stderr, "fake-agents: -c \"%s\": no URL\n", urls);
        return 2;
    }
    f.events = events ? fopen(events, "w") : stdout;
    if (!f.events) {
        fprintf(stderr, "fake-agents: %s: %s\n", events, strerror(errno));
        return 1;
    }

    /* Only the main thread takes the signals that stop the run. */
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    pthread_mutex_init(&f.mutex, NULL);
    atomic_init(&f.stopping, false);
    atomic_init(&f.answers, 0);
    atomic_init(&f.failures, 0);

    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, FAKE_STACK_SIZE);
    f.hosts = xcalloc(f.n_hosts, sizeof *f.hosts);
    for (size_t i = 0; i < f.n_hosts; i++) {
        struct fake_host *h = &f.hosts[i];
        long n = first + (long) i + 1;

        h->fake = &f;
        h->name = xasprintf("%s-%05ld", prefix, first + (long) i);
        snprintf(h->vtep, sizeof h->vtep, "10.%ld.%ld.%ld", (n >> 16) & 255,
                 (n >> 8) & 255, n & 255);
        h->url = i % f.n_urls;
        h->http = http_client_create(f.urls[h->url], f.cacert, f.token);
        if (pthread_create(&h->thread, &attr, host_main, h)) {
            fprintf(stderr, "fake-agents: cannot start host %zu's thread\n",
                    i);
            return 1;
        }
    }
    reps = xcalloc(n_reporters, sizeof *reps);
    for (long i = 0; i < n_reporters; i++) {
        reps[i] = (struct reporter){.f = &f, .first = i, .step = n_reporters};
        reps[i].url = i % f.n_urls;
        reps[i].http =
            http_client_create(f.urls[reps[i].url], f.cacert, f.token);
        pthread_create(&reps[i].thread, &attr, reporter_main, &reps[i]);
    }
    pthread_attr_destroy(&attr);

    sigwait(&sigs, &sig);
    pthread_mutex_lock(&f.mutex);
    atomic_store(&f.stopping, true);
    for (size_t i = 0; i < f.n_hosts; i++) {
        http_client_cancel(f.hosts[i].http);
    }
    for (long i = 0; i < n_reporters; i++) {
        http_client_cancel(reps[i].http);
    }
    pthread_mutex_unlock(&f.mutex);
    for (long i = 0; i < n_reporters; i++) {
        pthread_join(reps[i].thread, NULL);
        http_client_destroy(reps[i].http);
    }
    for (size_t i = 0; i < f.n_hosts; i++) {
        pthread_join(f.hosts[i].thread, NULL);
    }
    if (summary && !write_summary(&f, summary)) {
        return 1;
    }
    for (size_t i = 0; i < f.n_hosts; i++) {
        http_client_destroy(f.hosts[i].http);
        json_decref(f.hosts[i].doc);
        json_decref(f.hosts[i].ports);
        free(f.hosts[i].name);
    }
    fprintf(stderr,
            "fake-agents: %zu hosts, %lu answers, %lu failed "
            "requests\n",
            f.n_hosts, atomic_load(&f.answers), atomic_load(&f.failures));
    if (f.events != stdout) {
        fclose(f.events);
    }
    for (size_t i = 0; i < f.n_urls; i++) {
        free(f.urls[i]);
    }
    free(f.urls);
    free(f.hosts);
    free(reps);
    free(f.token);
    pthread_mutex_destroy(&f.mutex);
    curl_global_cleanup();
    return 0;
}
