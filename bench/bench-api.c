/* bench-api: requests per second of fabric-controller's REST API, against
 * GET /healthz measured the same way in the same run.
 *
 * Usage: bench-api [-d SECONDS] [-t THREADS[,THREADS]...] [-n PORTS]
 *                  [-C CONTROLLER] [-s STORE]
 *        (or FAB_BENCH_SECONDS, FAB_BENCH_THREADS, FAB_BENCH_PORTS and
 *        FAB_BENCH_CONTROLLER; defaults 5 s, "1,4", 10000 ports and
 *        controller/fabric-controller next to this program's folder)
 *
 * The benchmark starts its own controller on 127.0.0.1 (a free port) with
 * a store (an SQLite file, or the store URL STORE, e.g. an empty etcd
 * prefix, as bench/store.sh gives) and a bootstrap token in a temporary
 * folder, logging at its
 * default level, info.  It creates one network, "bench" (10.0.0.0/16),
 * and PORTS ports in it spread over 100 hosts, then measures, for each
 * number of client threads, each request kind in turn for SECONDS: every
 * thread has one libcurl easy handle, so one kept-alive HTTP/1.1
 * connection, and sends its next request as soon as the answer is in.
 *
 *   GET /healthz                    the baseline: no store, no token
 *   GET /v1/ports/NAME              a random port of the PORTS
 *   GET /v1/ports?network=bench&limit=100
 *                                   the first page of the network's ports
 *   POST /v1/ports                  creates a new port (IP and MAC
 *                                   allocated by the controller)
 *
 * The ports the POSTs created are then deleted again, as fast as the same
 * threads manage (shown as DELETE, not timed to SECONDS), so that every
 * measurement sees a store of PORTS ports and the /16 never runs out.
 *
 * Clients and controller share the machine's CPUs, so the figures are
 * those of one machine doing both; the CPU each side used is shown.  A
 * benchmark, not a test: it prints figures and gates nothing.  It fails
 * only when it cannot measure (the controller does not start, or not one
 * request of a kind succeeds). */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "utils/util.h"

#define BENCH_SECONDS_DEFAULT 5.0
#define BENCH_THREADS_DEFAULT "1,4"
#define BENCH_PORTS_DEFAULT 10000
#define BENCH_HOSTS 100          /* Ports are spread over this many hosts. */
#define BENCH_MAX_THREADS 256    /* Per measurement. */
#define BENCH_MAX_RUNS 16        /* Thread counts per run. */
#define BENCH_GET_TARGET 5000.0  /* GET /v1/ports/NAME per second. */
#define BENCH_NETWORK "bench"    /* The one network. */
#define BENCH_CIDR "10.0.0.0/16" /* Its addresses: 65534 ports at most. */

/* What the controller logs once it listens, before the port number. */
#define BENCH_SERVING "serving HTTP on 127.0.0.1:0 port "

/* What a worker asks for. */
enum bench_kind {
    BENCH_HEALTHZ,  /* GET /healthz: the baseline. */
    BENCH_GET_PORT, /* GET /v1/ports/NAME, NAME random. */
    BENCH_LIST,     /* GET /v1/ports?network=...&limit=100. */
    BENCH_CREATE,   /* POST /v1/ports. */
    BENCH_DELETE,   /* DELETE /v1/ports/NAME. */
    N_BENCH_KINDS
};

static const char *const bench_kind_names[N_BENCH_KINDS] = {
    [BENCH_HEALTHZ] = "GET /healthz (baseline)",
    [BENCH_GET_PORT] = "GET /v1/ports/NAME",
    [BENCH_LIST] = "GET /v1/ports?network&limit=100",
    [BENCH_CREATE] = "POST /v1/ports",
    [BENCH_DELETE] = "DELETE /v1/ports/NAME (clean-up)",
};

/* The controller under test. */
struct bench_controller {
    pid_t pid;        /* Its process. */
    char *dir;        /* Temporary folder: store, token, log. */
    char *log;        /* Its standard error. */
    char *base_url;   /* http://127.0.0.1:PORT */
    char *auth;       /* "Authorization: Bearer TOKEN" */
    long clock_ticks; /* sysconf(_SC_CLK_TCK), for its CPU time. */
};

/* One measurement: a kind of request sent by some threads, until
 * 'deadline' or, without one, until 'next_port' passes 'last_port'.
 * POST and DELETE take the number N of port-N from 'next_port'. */
struct bench_phase {
    enum bench_kind kind;               /* What to send. */
    const struct bench_controller *ctl; /* Where. */
    struct curl_slist *headers;         /* Authorization, Content-Type. */
    unsigned int n_ports;               /* GET picks among port-1..n_ports. */
    atomic_uint next_port;              /* The next N for POST, DELETE. */
    unsigned int last_port;             /* Without a deadline: stop after. */
    bool timed;                         /* Stop at 'deadline'? */
    struct timespec deadline;           /* When timed. */
    pthread_barrier_t start;            /* Workers and the main thread. */
};

/* One client thread and what it measured. */
struct bench_worker {
    pthread_t thread;          /* The thread. */
    struct bench_phase *phase; /* What it does. */
    unsigned int id;           /* 0, 1, ... within the phase. */
    CURL *curl;                /* Its handle: one kept-alive connection. */
    uint64_t rng;              /* xorshift64 state. */
    char *body;                /* The last answer's body. */
    size_t body_len;           /* Its length. */
    size_t body_alloc;         /* Allocated for 'body'. */
    unsigned long n_ok;        /* Answered with the expected status. */
    unsigned long n_err;       /* Anything else. */
    char *first_error;         /* What went wrong first, or NULL. */
    float *latency_us;         /* Of every successful request. */
    size_t n_latency;          /* Number of latencies. */
    size_t latency_alloc;      /* Allocated for 'latency_us'. */
    struct timespec end;       /* When its last request came back. */
};

/* The outcome of one phase. */
struct bench_result {
    unsigned long n_ok;  /* Successful requests. */
    unsigned long n_err; /* Failed ones. */
    double seconds;      /* From start to the last answer. */
    double rate;         /* n_ok / seconds. */
    double p50_ms;       /* Latency percentiles of successful requests. */
    double p99_ms;       /* (in milliseconds) */
    double server_cores; /* Controller CPU seconds / seconds. */
    double client_cores; /* This program's CPU seconds / seconds. */
};

/* The controller of this run, stopped by exit() however it comes. */
static struct bench_controller bench_ctl;

/* Set by SIGINT or SIGTERM: the workers stop, the program cleans up. */
static volatile sig_atomic_t bench_interrupted;

/* The options. */
struct bench_options {
    double seconds;                       /* Per measurement. */
    unsigned int threads[BENCH_MAX_RUNS]; /* Thread counts to measure. */
    size_t n_threads;                     /* Number of thread counts. */
    unsigned int n_ports;                 /* Ports created before. */
    const char *controller;               /* The program to start. */
    const char *store;                    /* Store URL, or NULL. */
};

static double
ts_seconds(const struct timespec *ts)
{
    return ts->tv_sec + ts->tv_nsec / 1e9;
}

static double
now_seconds(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts_seconds(&ts);
}

static bool
ts_before(const struct timespec *a, const struct timespec *b)
{
    return a->tv_sec < b->tv_sec
           || (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

static void
usage(FILE *stream)
{
    fprintf(stream,
            "usage: bench-api [-d SECONDS] [-t THREADS[,THREADS]...] "
            "[-n PORTS] [-C CONTROLLER] [-s STORE]\n"
            "Requests per second of fabric-controller's REST API against "
            "GET /healthz.\n"
            "\n"
            "  -d SECONDS     length of each measurement (default %.0f; "
            "FAB_BENCH_SECONDS)\n"
            "  -t LIST        client thread counts, comma-separated "
            "(default %s;\n"
            "                 FAB_BENCH_THREADS)\n"
            "  -n PORTS       ports created before measuring (default %d; "
            "FAB_BENCH_PORTS)\n"
            "  -C PROGRAM     the fabric-controller to start (default: "
            "../controller/\n"
            "                 fabric-controller from this program's "
            "folder; FAB_BENCH_CONTROLLER)\n"
            "  -s STORE       the controller's store URL (default: an "
            "SQLite file in\n"
            "                 a temporary folder; FAB_BENCH_STORE)\n"
            "  -h             show this help\n",
            BENCH_SECONDS_DEFAULT, BENCH_THREADS_DEFAULT, BENCH_PORTS_DEFAULT);
}

/* Exits after printing "bench-api: " and the message. */
static void __attribute__((format(printf, 1, 2), noreturn))
die(const char *format, ...)
{
    va_list args;

    fputs("bench-api: ", stderr);
    va_start(args, format);
    vfprintf(stderr, format, args);
    va_end(args);
    fputc('\n', stderr);
    exit(EXIT_FAILURE);
}

static double
parse_seconds(const char *s)
{
    char *end;
    double d;

    errno = 0;
    d = strtod(s, &end);
    if (errno || end == s || *end || !(d >= 0.1 && d <= 3600)) {
        die("seconds \"%s\": must be a number from 0.1 to 3600", s);
    }
    return d;
}

static unsigned long
parse_count(const char *s, const char *what, unsigned long max)
{
    char *end;
    unsigned long n;

    errno = 0;
    n = strtoul(s, &end, 10);
    if (errno || end == s || *end || n == 0 || n > max) {
        die("%s \"%s\": must be an integer from 1 to %lu", what, s, max);
    }
    return n;
}

/* Parses "1,4" into 'o->threads'. */
static void
parse_threads(struct bench_options *o, const char *list)
{
    char *copy = xstrdup(list);
    char *save = NULL;

    o->n_threads = 0;
    for (char *s = strtok_r(copy, ",", &save); s;
         s = strtok_r(NULL, ",", &save)) {
        if (o->n_threads == BENCH_MAX_RUNS) {
            die("threads \"%s\": at most %d thread counts", list,
                BENCH_MAX_RUNS);
        }
        o->threads[o->n_threads++] =
            parse_count(s, "threads", BENCH_MAX_THREADS);
    }
    if (!o->n_threads) {
        die("threads \"%s\": give at least one thread count", list);
    }
    free(copy);
}

/* The default controller: ../controller/fabric-controller from the folder
 * this program is in, which is where the build puts it. */
static char *
default_controller(void)
{
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    char *slash;

    if (n < 0) {
        return xstrdup("controller/fabric-controller");
    }
    self[n] = '\0';
    slash = strrchr(self, '/');
    if (slash) {
        *slash = '\0';
    }
    return xasprintf("%s/../controller/fabric-controller", self);
}

static void
parse_options(int argc, char *argv[], struct bench_options *o)
{
    const char *s;
    int c;

    o->seconds = BENCH_SECONDS_DEFAULT;
    o->n_ports = BENCH_PORTS_DEFAULT;
    o->controller = NULL;
    parse_threads(o, BENCH_THREADS_DEFAULT);
    if ((s = getenv("FAB_BENCH_SECONDS")) && *s) {
        o->seconds = parse_seconds(s);
    }
    if ((s = getenv("FAB_BENCH_THREADS")) && *s) {
        parse_threads(o, s);
    }
    if ((s = getenv("FAB_BENCH_PORTS")) && *s) {
        o->n_ports = parse_count(s, "ports", 60000);
    }
    if ((s = getenv("FAB_BENCH_CONTROLLER")) && *s) {
        o->controller = s;
    }
    if ((s = getenv("FAB_BENCH_STORE")) && *s) {
        o->store = s;
    }
    while ((c = getopt(argc, argv, "d:t:n:C:s:h")) != -1) {
        switch (c) {
        case 'd':
            o->seconds = parse_seconds(optarg);
            break;
        case 't':
            parse_threads(o, optarg);
            break;
        case 'n':
            o->n_ports = parse_count(optarg, "ports", 60000);
            break;
        case 'C':
            o->controller = optarg;
            break;
        case 's':
            o->store = optarg;
            break;
        case 'h':
            usage(stdout);
            exit(EXIT_SUCCESS);
        default:
            usage(stderr);
            exit(2);
        }
    }
    if (optind < argc) {
        fprintf(stderr, "bench-api: unexpected argument \"%s\"\n",
                argv[optind]);
        usage(stderr);
        exit(2);
    }
    if (!o->controller) {
        o->controller = default_controller();
    }
}

/* ------------------------------------------------------------------------
 * The controller. */

/* Starts 'program' on 127.0.0.1, port chosen by the kernel, with its files
 * in a new temporary folder, and waits until its log names the port. */
static void
controller_start(struct bench_controller *ctl, const char *program,
                 const char *store)
{
    char template[] = "/tmp/fabric-bench-api.XXXXXX";
    double give_up;
    char *token_file;

    if (access(program, X_OK)) {
        die("%s: %s (run \"make\" first, or give -C)", program,
            strerror(errno));
    }
    if (!mkdtemp(template)) {
        die("mkdtemp: %s", strerror(errno));
    }
    ctl->dir = xstrdup(template);
    ctl->log = xasprintf("%s/controller.log", ctl->dir);
    ctl->clock_ticks = sysconf(_SC_CLK_TCK);
    token_file = xasprintf("%s/admin.token", ctl->dir);

    ctl->pid = fork();
    if (ctl->pid < 0) {
        die("fork: %s", strerror(errno));
    }
    if (!ctl->pid) {
        char *db = (store ? xasprintf("--store=%s", store)
                          : xasprintf("--store=%s/controller.db", ctl->dir));
        char *tok = xasprintf("--bootstrap-token-file=%s", token_file);
        char *storage = xasprintf("--storage=%s/storage", ctl->dir);
        FILE *log = freopen(ctl->log, "w", stderr);

        /* The controller ends with us, however we end. */
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (!log || !freopen("/dev/null", "r", stdin)) {
            _exit(127);
        }
        /* An empty configuration file: /etc/fabric stays out of it. */
        execl(program, program, "--config=/dev/null", "--listen=127.0.0.1:0",
              db, tok, storage, (char *) NULL);
        fprintf(stderr, "bench-api: exec %s: %s\n", program, strerror(errno));
        _exit(127);
    }

    give_up = now_seconds() + 10;
    for (;;) {
        char *log = NULL, *token = NULL, *p;
        size_t len;
        int status;

        if (waitpid(ctl->pid, &status, WNOHANG) == ctl->pid) {
            ctl->pid = 0;
            die("the controller exited at start; its log %s says:\n%s",
                ctl->log, read_file(ctl->log, &log, &len) ? "" : log);
        }
        if (!read_file(ctl->log, &log, &len)
            && (p = strstr(log, BENCH_SERVING))
            && !read_file(token_file, &token, &len)) {
            unsigned int port = strtoul(p + strlen(BENCH_SERVING), NULL, 10);

            token[strcspn(token, " \t\r\n")] = '\0';
            ctl->base_url = xasprintf("http://127.0.0.1:%u", port);
            ctl->auth = xasprintf("Authorization: Bearer %s", token);
            free(log);
            free(token);
            break;
        }
        free(log);
        free(token);
        if (now_seconds() > give_up) {
            die("the controller did not say where it serves within 10 s "
                "(log: %s)",
                ctl->log);
        }
        usleep(20 * 1000);
    }
    free(token_file);
}

static void
on_signal(int signo)
{
    (void) signo;
    bench_interrupted = 1;
}

/* Stops the controller and removes its folder. */
static void
controller_stop(struct bench_controller *ctl)
{
    if (ctl->pid > 0) {
        kill(ctl->pid, SIGTERM);
        waitpid(ctl->pid, NULL, 0);
        ctl->pid = 0;
    }
    if (ctl->dir) {
        remove_tree(ctl->dir);
    }
    free(ctl->dir);
    free(ctl->log);
    free(ctl->base_url);
    free(ctl->auth);
    memset(ctl, 0, sizeof *ctl);
}

static void
controller_stop_at_exit(void)
{
    controller_stop(&bench_ctl);
}

/* Returns the CPU seconds the controller has used so far. */
static double
controller_cpu(const struct bench_controller *ctl)
{
    char *path = xasprintf("/proc/%d/stat", (int) ctl->pid);
    unsigned long utime, stime;
    char *stat = NULL, *p;
    double cpu = 0;
    size_t len;

    /* Fields 14 and 15, counted after the ")" that ends field 2. */
    if (!read_file(path, &stat, &len) && (p = strrchr(stat, ')'))
        && sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
                  &utime, &stime)
               == 2) {
        cpu = (double) (utime + stime) / ctl->clock_ticks;
    }
    free(stat);
    free(path);
    return cpu;
}

static double
self_cpu(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return ts_seconds(&(struct timespec){ru.ru_utime.tv_sec,
                                         ru.ru_utime.tv_usec * 1000})
           + ts_seconds(&(struct timespec){ru.ru_stime.tv_sec,
                                           ru.ru_stime.tv_usec * 1000});
}

/* ------------------------------------------------------------------------
 * Workers. */

static size_t
worker_write(char *data, size_t size, size_t n, void *w_)
{
    struct bench_worker *w = w_;
    size_t len = size * n;

    if (w->body_len + len + 1 > w->body_alloc) {
        w->body_alloc = 2 * (w->body_len + len + 1);
        w->body = xrealloc(w->body, w->body_alloc);
    }
    memcpy(w->body + w->body_len, data, len);
    w->body_len += len;
    w->body[w->body_len] = '\0';
    return len;
}

static uint64_t
worker_random(struct bench_worker *w)
{
    w->rng ^= w->rng << 13;
    w->rng ^= w->rng >> 7;
    w->rng ^= w->rng << 17;
    return w->rng;
}

static void
worker_init(struct bench_worker *w, struct bench_phase *phase, unsigned int id)
{
    memset(w, 0, sizeof *w);
    w->phase = phase;
    w->id = id;
    w->rng = 0x9e3779b97f4a7c15ULL * (id + 1) ^ (uint64_t) time(NULL);
    w->curl = curl_easy_init();
    if (!w->curl) {
        die("curl_easy_init failed");
    }
    curl_easy_setopt(w->curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(w->curl, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(w->curl, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(w->curl, CURLOPT_HTTPHEADER, phase->headers);
    curl_easy_setopt(w->curl, CURLOPT_WRITEFUNCTION, worker_write);
    curl_easy_setopt(w->curl, CURLOPT_WRITEDATA, w);
}

static void
worker_destroy(struct bench_worker *w)
{
    curl_easy_cleanup(w->curl);
    free(w->body);
    free(w->first_error);
    free(w->latency_us);
}

/* Sends one request of the phase's kind, 'port' naming the port to create
 * or read (0: a random one).  Returns true if the answer had the expected
 * status; otherwise records the first error. */
static bool
worker_request(struct bench_worker *w, enum bench_kind kind, unsigned int port)
{
    const struct bench_phase *phase = w->phase;
    const char *base = phase->ctl->base_url;
    char url[256], body[256];
    long expect = 200, status = 0;
    CURLcode rc;

    w->body_len = 0;
    switch (kind) {
    case BENCH_HEALTHZ:
        snprintf(url, sizeof url, "%s/healthz", base);
        curl_easy_setopt(w->curl, CURLOPT_HTTPGET, 1L);
        break;
    case BENCH_GET_PORT:
        if (!port) {
            port = 1 + worker_random(w) % phase->n_ports;
        }
        snprintf(url, sizeof url, "%s/v1/ports/port-%u", base, port);
        curl_easy_setopt(w->curl, CURLOPT_HTTPGET, 1L);
        break;
    case BENCH_LIST:
        snprintf(url, sizeof url, "%s/v1/ports?network=%s&limit=100", base,
                 BENCH_NETWORK);
        curl_easy_setopt(w->curl, CURLOPT_HTTPGET, 1L);
        break;
    case BENCH_CREATE:
        snprintf(url, sizeof url, "%s/v1/ports", base);
        snprintf(body, sizeof body,
                 "{\"name\": \"port-%u\", \"network\": \"%s\", "
                 "\"host\": \"hv-%u\", \"labels\": {\"bench\": \"api\"}}",
                 port, BENCH_NETWORK, port % BENCH_HOSTS);
        curl_easy_setopt(w->curl, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(w->curl, CURLOPT_POSTFIELDSIZE, (long) strlen(body));
        expect = 201;
        break;
    case BENCH_DELETE:
        snprintf(url, sizeof url, "%s/v1/ports/port-%u", base, port);
        curl_easy_setopt(w->curl, CURLOPT_HTTPGET, 1L);
        curl_easy_setopt(w->curl, CURLOPT_CUSTOMREQUEST, "DELETE");
        expect = 204;
        break;
    case N_BENCH_KINDS:
    default:
        abort();
    }
    curl_easy_setopt(w->curl, CURLOPT_URL, url);
    rc = curl_easy_perform(w->curl);
    curl_easy_setopt(w->curl, CURLOPT_CUSTOMREQUEST, NULL);
    if (rc == CURLE_OK) {
        curl_easy_getinfo(w->curl, CURLINFO_RESPONSE_CODE, &status);
        if (status == expect) {
            return true;
        }
    }
    w->n_err++;
    if (!w->first_error) {
        w->first_error = rc != CURLE_OK
                             ? xasprintf("%s: %s", url, curl_easy_strerror(rc))
                             : xasprintf("%s: HTTP %ld: %.300s", url, status,
                                         w->body ? w->body : "");
    }
    return false;
}

static void
worker_record(struct bench_worker *w, double seconds)
{
    if (w->n_latency == w->latency_alloc) {
        w->latency_alloc = w->latency_alloc ? 2 * w->latency_alloc : 4096;
        w->latency_us =
            xrealloc(w->latency_us, w->latency_alloc * sizeof *w->latency_us);
    }
    w->latency_us[w->n_latency++] = seconds * 1e6;
    w->n_ok++;
}

static void *
worker_main(void *w_)
{
    struct bench_worker *w = w_;
    struct bench_phase *phase = w->phase;

    /* Open the connection before the clock starts. */
    worker_request(w, BENCH_HEALTHZ, 0);
    w->n_err = 0;
    free(w->first_error);
    w->first_error = NULL;
    pthread_barrier_wait(&phase->start);

    for (;;) {
        unsigned int port = 0;
        struct timespec t0, t1;

        if (phase->kind == BENCH_CREATE || phase->kind == BENCH_DELETE) {
            port = atomic_fetch_add(&phase->next_port, 1);
            if (!phase->timed && port > phase->last_port) {
                break;
            }
        }
        clock_gettime(CLOCK_MONOTONIC, &t0);
        if (worker_request(w, phase->kind, port)) {
            clock_gettime(CLOCK_MONOTONIC, &t1);
            worker_record(w, ts_seconds(&t1) - ts_seconds(&t0));
        } else {
            clock_gettime(CLOCK_MONOTONIC, &t1);
        }
        w->end = t1;
        if (bench_interrupted
            || (phase->timed && !ts_before(&t1, &phase->deadline))) {
            break;
        }
    }
    return NULL;
}

static int
compare_float(const void *a_, const void *b_)
{
    float a = *(const float *) a_, b = *(const float *) b_;

    return a < b ? -1 : a > b;
}

/* Runs 'phase' with 'n' threads for 'seconds' (or, if 0, until the ports
 * up to phase->last_port exist) and fills in 'r'. */
static void
run_phase(struct bench_phase *phase, unsigned int n, double seconds,
          struct bench_result *r)
{
    struct bench_worker *workers = xcalloc(n, sizeof *workers);
    double server0, client0, start, end = 0;
    struct timespec ts;
    float *all;
    size_t n_all = 0;

    phase->timed = seconds > 0;
    pthread_barrier_init(&phase->start, NULL, n + 1);
    for (unsigned int i = 0; i < n; i++) {
        worker_init(&workers[i], phase, i);
        errno =
            pthread_create(&workers[i].thread, NULL, worker_main, &workers[i]);
        if (errno) {
            die("pthread_create: %s", strerror(errno));
        }
    }

    /* The workers have connected: start the clock, then let them go. */
    server0 = controller_cpu(phase->ctl);
    client0 = self_cpu();
    clock_gettime(CLOCK_MONOTONIC, &ts);
    start = ts_seconds(&ts);
    ts.tv_sec += (time_t) seconds;
    ts.tv_nsec += (long) ((seconds - (time_t) seconds) * 1e9);
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    phase->deadline = ts;
    pthread_barrier_wait(&phase->start);

    memset(r, 0, sizeof *r);
    for (unsigned int i = 0; i < n; i++) {
        struct bench_worker *w = &workers[i];

        pthread_join(w->thread, NULL);
        r->n_ok += w->n_ok;
        r->n_err += w->n_err;
        if (ts_seconds(&w->end) > end) {
            end = ts_seconds(&w->end);
        }
        if (w->first_error) {
            fprintf(stderr, "bench-api: %s: %lu errors, the first: %s\n",
                    bench_kind_names[phase->kind], w->n_err, w->first_error);
        }
    }
    r->seconds = end > start ? end - start : 1e-9;
    r->rate = r->n_ok / r->seconds;
    r->server_cores = (controller_cpu(phase->ctl) - server0) / r->seconds;
    r->client_cores = (self_cpu() - client0) / r->seconds;

    all = xcalloc(r->n_ok ? r->n_ok : 1, sizeof *all);
    for (unsigned int i = 0; i < n; i++) {
        memcpy(all + n_all, workers[i].latency_us,
               workers[i].n_latency * sizeof *all);
        n_all += workers[i].n_latency;
        worker_destroy(&workers[i]);
    }
    if (n_all) {
        qsort(all, n_all, sizeof *all, compare_float);
        r->p50_ms = all[n_all / 2] / 1e3;
        r->p99_ms = all[(size_t) (n_all * 0.99)] / 1e3;
    }
    free(all);
    free(workers);
    pthread_barrier_destroy(&phase->start);
    if (bench_interrupted) {
        die("interrupted");
    }
}

/* Sends one request outside any measurement, for the set-up; dies unless
 * the answer is 'expect'. */
static void
setup_request(const struct bench_controller *ctl, struct curl_slist *headers,
              const char *path, const char *post, long expect)
{
    CURL *curl = curl_easy_init();
    char *url = xasprintf("%s%s", ctl->base_url, path);
    struct bench_worker w;
    long status = 0;
    CURLcode rc;

    memset(&w, 0, sizeof w);
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, worker_write);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &w);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, 30L);
    if (post) {
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, post);
    }
    rc = curl_easy_perform(curl);
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    if (rc != CURLE_OK || status != expect) {
        die("%s %s: %s (expected HTTP %ld): %s", post ? "POST" : "GET", url,
            rc != CURLE_OK ? curl_easy_strerror(rc) : "unexpected status",
            expect, w.body ? w.body : "");
    }
    free(w.body);
    free(url);
    curl_easy_cleanup(curl);
}

/* Waits up to 10 s for /readyz. */
static void
wait_ready(const struct bench_controller *ctl)
{
    CURL *curl = curl_easy_init();
    char *url = xasprintf("%s/readyz", ctl->base_url);
    double give_up = now_seconds() + 10;
    struct bench_worker w;

    memset(&w, 0, sizeof w);
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, worker_write);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &w);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, 2L);
    for (;;) {
        long status = 0;

        if (curl_easy_perform(curl) == CURLE_OK) {
            curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
            if (status == 200) {
                break;
            }
        }
        if (now_seconds() > give_up) {
            die("%s: not ready within 10 s (log: %s)", url, ctl->log);
        }
        usleep(20 * 1000);
    }
    free(w.body);
    free(url);
    curl_easy_cleanup(curl);
}

static void
print_row(unsigned int threads, enum bench_kind kind,
          const struct bench_result *r, const struct bench_result *base)
{
    printf("%7u  %-32s %9.0f %8.2f %8.2f %7lu %6.2f %6.2f %8.2fx\n", threads,
           bench_kind_names[kind], r->rate, r->p50_ms, r->p99_ms, r->n_err,
           r->server_cores, r->client_cores, r->rate / base->rate);
}

int
main(int argc, char *argv[])
{
    static struct bench_result results[BENCH_MAX_RUNS][N_BENCH_KINDS];
    static const enum bench_kind order[] = {BENCH_HEALTHZ, BENCH_GET_PORT,
                                            BENCH_LIST, BENCH_CREATE};
    struct bench_controller *ctl = &bench_ctl;
    struct sigaction sa = {.sa_handler = on_signal};
    struct curl_slist *headers = NULL;
    struct bench_options o;
    struct bench_phase phase;
    struct bench_result setup;
    unsigned int max_threads = 0, best_threads = 0, next_free;
    double best = 0;
    bool measured = true;

    parse_options(argc, argv, &o);
    for (size_t i = 0; i < o.n_threads; i++) {
        if (o.threads[i] > max_threads) {
            max_threads = o.threads[i];
        }
    }
    if (curl_global_init(CURL_GLOBAL_ALL)) {
        die("curl_global_init failed");
    }
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    atexit(controller_stop_at_exit);
    controller_start(ctl, o.controller, o.store);
    headers = curl_slist_append(headers, ctl->auth);
    headers = curl_slist_append(headers, "Content-Type: application/json");
    wait_ready(ctl);

    printf("fabric-controller REST API, %s, libcurl keep-alive HTTP/1.1, "
           "one connection per client thread, store %s\n",
           ctl->base_url, o.store ? o.store : "SQLite");
    printf("%ld CPUs shared by the controller and the clients; %.1f s per "
           "measurement; controller log level info\n\n",
           sysconf(_SC_NPROCESSORS_ONLN), o.seconds);
    fflush(stdout);

    /* The set-up: one network and its ports, created as fast as the
     * largest number of threads manages. */
    setup_request(ctl, headers, "/v1/networks",
                  "{\"name\": \"" BENCH_NETWORK "\", \"cidr\": \"" BENCH_CIDR
                  "\"}",
                  201);
    memset(&phase, 0, sizeof phase);
    phase.ctl = ctl;
    phase.headers = headers;
    phase.n_ports = o.n_ports;
    phase.kind = BENCH_CREATE;
    atomic_init(&phase.next_port, 1);
    phase.last_port = o.n_ports;
    run_phase(&phase, max_threads, 0, &setup);
    printf("set-up: network \"%s\" %s and %u ports (on %d hosts) created in "
           "%.2f s: %.0f POST/s with %u threads, p50 %.2f ms, p99 %.2f ms\n\n",
           BENCH_NETWORK, BENCH_CIDR, o.n_ports, BENCH_HOSTS, setup.seconds,
           setup.rate, max_threads, setup.p50_ms, setup.p99_ms);
    if (setup.n_err) {
        die("%lu of the %u ports could not be created", setup.n_err,
            o.n_ports);
    }
    next_free = o.n_ports + 1;

    printf("%7s  %-32s %9s %8s %8s %7s %6s %6s %9s\n", "threads", "request",
           "req/s", "p50 ms", "p99 ms", "errors", "ctl", "client", "/healthz");
    printf("%7s  %-32s %9s %8s %8s %7s %6s %6s %9s\n", "", "", "", "", "", "",
           "cores", "cores", "ratio");
    fflush(stdout);
    for (size_t t = 0; t < o.n_threads; t++) {
        struct bench_result *res = results[t];

        for (size_t k = 0; k < ARRAY_SIZE(order); k++) {
            phase.kind = order[k];
            atomic_store(&phase.next_port, next_free);
            run_phase(&phase, o.threads[t], o.seconds, &res[order[k]]);
            print_row(o.threads[t], order[k], &res[order[k]],
                      &res[BENCH_HEALTHZ]);
            fflush(stdout);
            if (!res[order[k]].n_ok) {
                measured = false;
            }
        }

        /* Delete what the POSTs created: port-'next_free' onwards. */
        phase.kind = BENCH_DELETE;
        phase.last_port = atomic_load(&phase.next_port) - 1;
        atomic_store(&phase.next_port, next_free);
        next_free = phase.last_port + 1;
        run_phase(&phase, o.threads[t], 0, &res[BENCH_DELETE]);
        print_row(o.threads[t], BENCH_DELETE, &res[BENCH_DELETE],
                  &res[BENCH_HEALTHZ]);
        fflush(stdout);

        if (res[BENCH_GET_PORT].rate > best) {
            best = res[BENCH_GET_PORT].rate;
            best_threads = o.threads[t];
        }
    }

    printf("\ntarget: GET /v1/ports/NAME >= %.0f/s on this %ld-core "
           "machine: %.0f/s with %u threads: %s\n",
           BENCH_GET_TARGET, sysconf(_SC_NPROCESSORS_ONLN), best, best_threads,
           best >= BENCH_GET_TARGET ? "MET" : "NOT MET");

    curl_slist_free_all(headers);
    controller_stop(ctl);
    curl_global_cleanup();
    return measured ? EXIT_SUCCESS : EXIT_FAILURE;
}
