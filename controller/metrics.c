/* The controller's Prometheus metrics. */
#include "controller/metrics.h"
#include "controller/migrations.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "controller/api.h"
#include "controller/desired.h"
#include "controller/ha.h"
#include "controller/store.h"
#include "utils/util.h"

/* Methods counted by name; anything else counts as "other". */
static const char *const methods[] = {
    "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "other",
};
#define N_METHODS ARRAY_SIZE(methods)

/* Status codes 100..599. */
#define CODE_MIN 100
#define N_CODES 500

/* Upper bounds of the latency histogram's buckets, in seconds: from a
 * cached GET to a long poll that waits its full 300 s. */
static const double buckets[] = {
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
    0.5,    1,     2.5,    5,     10,   30,    60,   300,
};
#define N_BUCKETS ARRAY_SIZE(buckets)

struct metrics {
    atomic_uint_fast64_t requests[N_METHODS][N_CODES]; /* Answers. */
    atomic_uint_fast64_t counts[N_BUCKETS + 1]; /* Requests per bucket; the
                                                 * last is above all. */
    atomic_uint_fast64_t sum_us; /* Total latency, microseconds. */
};

struct metrics *
metrics_create(void)
{
    return xzalloc(sizeof(struct metrics));
}

void
metrics_destroy(struct metrics *m)
{
    free(m);
}

void
metrics_observe(struct metrics *m, const char *method, int status,
                double seconds)
{
    size_t i, b;

    for (i = 0; i < N_METHODS - 1; i++) {
        if (!strcmp(method, methods[i])) {
            break;
        }
    }
    if (status >= CODE_MIN && status < CODE_MIN + N_CODES) {
        atomic_fetch_add(&m->requests[i][status - CODE_MIN], 1);
    }
    for (b = 0; b < N_BUCKETS && seconds > buckets[b]; b++) {
        continue;
    }
    atomic_fetch_add(&m->counts[b], 1);
    atomic_fetch_add(&m->sum_us, (uint64_t) (seconds * 1e6));
}

/* A string that grows as text is appended. */
struct text {
    char *s;     /* The text, NUL-terminated. */
    size_t len;  /* strlen(s). */
    size_t size; /* Allocated bytes. */
};

static void __attribute__((format(printf, 2, 3)))
text_add(struct text *t, const char *format, ...)
{
    for (;;) {
        va_list args;
        int n;

        va_start(args, format);
        n = vsnprintf(t->s + t->len, t->size - t->len, format, args);
        va_end(args);
        if ((size_t) n < t->size - t->len) {
            t->len += n;
            return;
        }
        t->size = 2 * t->size + n;
        t->s = xrealloc(t->s, t->size);
    }
}

/* Host counts by status. */
struct host_counts {
    struct api *api;           /* For host status. */
    size_t ready, unreachable; /* The counts. */
};

static int
host_cb(const struct store_obj *obj, void *hc_)
{
    struct host_counts *hc = hc_;
    time_t last;

    if (!strcmp(api_host_status(hc->api, obj->name, &last), "ready")) {
        hc->ready++;
    } else {
        hc->unreachable++;
    }
    return 0;
}

static void
render_store(struct text *t, struct api *api)
{
    static const char *const kinds[] = {"network", "port", "host", "token"};
    struct host_counts hc = {.api = api};
    size_t counts[ARRAY_SIZE(kinds)] = {0};
    struct store_txn *txn;
    bool ok = false;

    if (!store_begin(api->store, false, &txn)) {
        ok = true;
        for (size_t i = 0; i < ARRAY_SIZE(kinds) && ok; i++) {
            ok = !store_count(txn, kinds[i], &counts[i]);
        }
        ok = ok && !store_list(txn, "host", NULL, 0, host_cb, &hc);
        store_abort(txn);
    }
    if (!ok) {
        /* Leave the store's metrics out rather than report zeros. */
        return;
    }
    text_add(t, "# HELP fabric_controller_objects Objects in the store, "
                "by kind.\n# TYPE fabric_controller_objects gauge\n");
    for (size_t i = 0; i < ARRAY_SIZE(kinds); i++) {
        text_add(t, "fabric_controller_objects{kind=\"%s\"} %zu\n", kinds[i],
                 counts[i]);
    }
    text_add(t,
             "# HELP fabric_controller_hosts Registered hosts, by status "
             "(unreachable: no heartbeat within heartbeat-timeout).\n"
             "# TYPE fabric_controller_hosts gauge\n"
             "fabric_controller_hosts{status=\"ready\"} %zu\n"
             "fabric_controller_hosts{status=\"unreachable\"} %zu\n",
             hc.ready, hc.unreachable);
}

/* Appends what the HA monitor has done. */
static void
render_ha(struct text *t, struct api *api)
{
    struct ha_counts c = {0};

    if (api->ha) {
        ha_counts(api->ha, &c);
    }
    text_add(t,
             "# HELP fabric_ha_host_failures_total Hosts the HA monitor "
             "declared failed.\n"
             "# TYPE fabric_ha_host_failures_total counter\n"
             "fabric_ha_host_failures_total %llu\n"
             "# HELP fabric_ha_restarts_total Restarts of the VMs of failed "
             "hosts on other hosts, by result (failed: no host could take "
             "the VM; counted once until it is restarted).\n"
             "# TYPE fabric_ha_restarts_total counter\n"
             "fabric_ha_restarts_total{result=\"ok\"} %llu\n"
             "fabric_ha_restarts_total{result=\"failed\"} %llu\n"
             "# HELP fabric_ha_vms_waiting VMs of failed hosts that no host "
             "can take yet.\n"
             "# TYPE fabric_ha_vms_waiting gauge\n"
             "fabric_ha_vms_waiting %llu\n",
             (unsigned long long) c.host_failures,
             (unsigned long long) c.restarts_ok,
             (unsigned long long) c.restarts_failed,
             (unsigned long long) c.waiting);
}

char *
metrics_render(struct metrics *m, struct api *api)
{
    struct text t = {.s = xmalloc(4096), .len = 0, .size = 4096};
    uint64_t total = 0, maintenance, drs;
    char *migrations;

    t.s[0] = '\0';
    text_add(&t, "# HELP fabric_controller_http_requests_total HTTP "
                 "requests answered, by method and status code.\n"
                 "# TYPE fabric_controller_http_requests_total counter\n");
    for (size_t i = 0; i < N_METHODS; i++) {
        for (size_t c = 0; c < N_CODES; c++) {
            uint64_t n = atomic_load(&m->requests[i][c]);

            if (n) {
                text_add(&t,
                         "fabric_controller_http_requests_total{method=\"%s\","
                         "code=\"%zu\"} %llu\n",
                         methods[i], c + CODE_MIN, (unsigned long long) n);
            }
        }
    }

    text_add(&t, "# HELP fabric_controller_http_request_duration_seconds "
                 "Time from a request's arrival to its answer (long polls "
                 "included).\n"
                 "# TYPE fabric_controller_http_request_duration_seconds "
                 "histogram\n");
    for (size_t b = 0; b <= N_BUCKETS; b++) {
        total += atomic_load(&m->counts[b]);
        if (b < N_BUCKETS) {
            text_add(&t,
                     "fabric_controller_http_request_duration_seconds_bucket"
                     "{le=\"%g\"} %llu\n",
                     buckets[b], (unsigned long long) total);
        }
    }
    text_add(&t,
             "fabric_controller_http_request_duration_seconds_bucket"
             "{le=\"+Inf\"} %llu\n"
             "fabric_controller_http_request_duration_seconds_sum %.6f\n"
             "fabric_controller_http_request_duration_seconds_count %llu\n",
             (unsigned long long) total, atomic_load(&m->sum_us) / 1e6,
             (unsigned long long) total);

    render_store(&t, api);
    migrations = api_migrations_metrics(api);
    text_add(&t, "%s", migrations);
    free(migrations);
    text_add(&t,
             "# HELP fabric_controller_agents_connected Hosts heard from "
             "within heartbeat-timeout.\n"
             "# TYPE fabric_controller_agents_connected gauge\n"
             "fabric_controller_agents_connected %zu\n",
             api_hosts_connected(api));
    text_add(&t,
             "# HELP fabric_controller_store_revision The store's latest "
             "revision.\n"
             "# TYPE fabric_controller_store_revision gauge\n"
             "fabric_controller_store_revision %lld\n",
             (long long) store_revision(api->store));
    text_add(&t,
             "# HELP fabric_controller_desired_computes_total Desired-state "
             "documents computed for agents' long polls.\n"
             "# TYPE fabric_controller_desired_computes_total counter\n"
             "fabric_controller_desired_computes_total %llu\n"
             "# HELP fabric_controller_desired_wakeups_total Long polls woken "
             "by a change that concerns their host.\n"
             "# TYPE fabric_controller_desired_wakeups_total counter\n"
             "fabric_controller_desired_wakeups_total %llu\n",
             (unsigned long long) desired_computes(api->desired),
             (unsigned long long) desired_wakeups(api->desired, NULL));
    text_add(&t,
             "# HELP fabric_drs_imbalance The difference of load between "
             "the most and the least loaded hosts in service, at the "
             "balancer's last plan.\n"
             "# TYPE fabric_drs_imbalance gauge\n"
             "fabric_drs_imbalance %.6f\n",
             api_drs_imbalance(api));
    api_drs_counts(api, &maintenance, &drs);
    text_add(&t,
             "# HELP fabric_drs_migrations_total Live migrations started by "
             "maintenance and by the balancer.\n"
             "# TYPE fabric_drs_migrations_total counter\n"
             "fabric_drs_migrations_total{reason=\"maintenance\"} %llu\n"
             "fabric_drs_migrations_total{reason=\"drs\"} %llu\n",
             (unsigned long long) maintenance, (unsigned long long) drs);
    render_ha(&t, api);
    return t.s;
}
