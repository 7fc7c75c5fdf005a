/* Maintenance and the balancer over real HTTP and SQLite: the settings of
 * /v1/drs (defaults, bad values refused with nothing changed, admins only,
 * kept in the store), POST /v1/hosts/NAME/maintenance (its errors, what a
 * host in maintenance still holds and why, no placements on it), and the
 * balancer's recommendations on a load that fake hosts report through
 * their port-status reports. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "controller/server.h"
#include "controller/store.h"
#include "tests/controller/fixture.h"
#include "utils/util.h"

/* Writes object 'name' of 'kind' with body 'text' (read by fixture_json())
 * through a store connection of its own, as the images API would. */
static void
put_object(struct fixture *f, const char *kind, const char *name,
           const char *text)
{
    json_t *body = fixture_json(text);
    struct store *store;
    struct store_txn *txn;

    assert_int_equal(store_open(f->db, &store), 0);
    assert_int_equal(store_begin(store, true, &txn), 0);
    assert_int_equal(store_put(txn, kind, name, body, STORE_ANY, NULL), 0);
    assert_int_equal(store_commit(txn, NULL), 0);
    json_decref(body);
    store_close(store);
}

/* Registers host 'name' (VTEP 192.0.2.'n') with 4 vCPUs and 8 GiB. */
static void
add_host(struct fixture *f, const char *name, int n)
{
    char *body = xasprintf(
        "{\"name\": \"%s\", \"vtep\": \"192.0.2.%d\", \"underlay\": "
        "\"eth0\", \"capacity\": {\"vcpus\": 4, \"memory_mb\": 8192, "
        "\"disk_gb\": 100}, \"hypervisor\": {\"driver\": \"qemu\", "
        "\"accel\": \"tcg\", \"reason\": \"no /dev/kvm\"}}",
        name, n);

    assert_int_equal(fixture_admin(f, "POST", "/v1/hosts", body), 201);
    free(body);
}

/* 'method' 'path' as admin with 'body', expecting 'status'; returns the
 * answer's JSON (the caller frees it). */
static json_t *
call(struct fixture *f, const char *method, const char *path, const char *body,
     long status)
{
    struct reply r;
    json_t *out;

    fixture_call(f, method, path, f->admin, body, NULL, &r);
    if (r.status != status) {
        fail_msg("%s %s %s: expected %ld, got %ld: %s", method, path,
                 body ? body : "", status, r.status, r.body);
    }
    out = json_incref(r.json);
    reply_clear(&r);
    return out;
}

/* Asserts that 'method' 'path' with 'body' is refused with 'status', on
 * input field 'field' (NULL: any) with a message holding 'text'. */
static void
refused(struct fixture *f, const char *method, const char *path,
        const char *body, long status, const char *field, const char *text)
{
    struct reply r;

    fixture_call(f, method, path, f->admin, body, NULL, &r);
    if (r.status != status || (field && strcmp(reply_field(&r), field))
        || !strstr(reply_message(&r), text)) {
        fail_msg("%s %s %s: expected %ld on \"%s\" with \"%s\", got %ld: %s",
                 method, path, body ? body : "", status, field ? field : "",
                 text, r.status, r.body);
    }
    reply_clear(&r);
}

static void
test_settings(void **state)
{
    static const struct {
        const char *body;  /* A bad PUT... */
        const char *field; /* ...the field it names... */
        const char *text;  /* ...and what the message says. */
    } bad[] = {
        {"{\"mode\": \"auto\"}", "mode", "expected \"off\", \"manual\""},
        {"{\"mode\": 1}", "mode", "expected \"off\""},
        {"{\"threshold\": 0}", "threshold", "from 0.01 to 1"},
        {"{\"threshold\": 1.5}", "threshold", "from 0.01 to 1"},
        {"{\"threshold\": \"0.3\"}", "threshold", "a number"},
        {"{\"interval_s\": 4}", "interval_s", "from 5 to 86400"},
        {"{\"interval_s\": 86401}", "interval_s", "from 5 to 86400"},
        {"{\"interval_s\": 60.5}", "interval_s", "an integer"},
        {"{\"max_concurrent\": 0}", "max_concurrent", "from 1 to 16"},
        {"{\"max_concurrent\": 17}", "max_concurrent", "from 1 to 16"},
        {"{\"modes\": \"manual\"}", "modes", "unknown field"},
        /* Nothing half-applied: a good mode beside a bad threshold. */
        {"{\"mode\": \"automatic\", \"threshold\": -1}", "threshold",
         "from 0.01"},
        {"[\"manual\"]", NULL, "expected an object"},
    };
    struct fixture *f = *state;
    char *viewer = fixture_token(f, "ops", "viewer", NULL);
    char *agent = fixture_token(f, "agent-h1", "agent", "h1");
    struct store_txn *txn;
    struct store_obj obj;
    struct store *store;
    json_t *out;

    out = call(f, "GET", "/v1/drs", NULL, 200);
    fixture_expect_json(out, "{'mode': 'off', 'threshold': 0.2, "
                             "'interval_s': 60, 'max_concurrent': 2}");
    json_decref(out);

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        refused(f, "PUT", "/v1/drs", bad[i].body, 400, bad[i].field,
                bad[i].text);
    }
    /* Viewers read, only admins change. */
    fixture_expect(f, "GET", "/v1/drs", viewer, NULL, 200, NULL);
    fixture_expect(f, "PUT", "/v1/drs", viewer, "{\"mode\": \"manual\"}", 403,
                   NULL);
    fixture_expect(f, "PUT", "/v1/drs", agent, "{\"mode\": \"manual\"}", 403,
                   NULL);
    fixture_expect(f, "GET", "/v1/drs/recommendations", viewer, NULL, 200,
                   NULL);
    fixture_expect(f, "GET", "/v1/drs", NULL, NULL, 401, NULL);
    out = call(f, "GET", "/v1/drs", NULL, 200);
    fixture_expect_json(out, "{'mode': 'off', 'threshold': 0.2, "
                             "'interval_s': 60, 'max_concurrent': 2}");
    json_decref(out);

    /* A PUT changes what it names and keeps the rest. */
    out = call(f, "PUT", "/v1/drs",
               "{\"mode\": \"manual\", \"threshold\": 0.35}", 200);
    fixture_expect_json(out, "{'mode': 'manual', 'threshold': 0.35, "
                             "'interval_s': 60, 'max_concurrent': 2}");
    json_decref(out);
    out = call(f, "PUT", "/v1/drs", "{\"max_concurrent\": 3}", 200);
    fixture_expect_json(out, "{'mode': 'manual', 'threshold': 0.35, "
                             "'interval_s': 60, 'max_concurrent': 3}");
    json_decref(out);

    /* Kept in the store, where a restarted controller finds them. */
    assert_int_equal(store_open(f->db, &store), 0);
    assert_int_equal(store_begin(store, false, &txn), 0);
    assert_int_equal(store_get(txn, "settings", "drs", &obj), 0);
    fixture_expect_json(obj.body, "{'mode': 'manual', 'threshold': 0.35, "
                                  "'interval_s': 60, 'max_concurrent': 3}");
    store_obj_clear(&obj);
    store_abort(txn);
    store_close(store);

    /* The change is in the audit trail. */
    out = call(f, "GET", "/v1/audit?limit=1", NULL, 200);
    assert_non_null(strstr(
        json_string_value(json_object_get(
            json_array_get(json_object_get(out, "items"), 0), "message")),
        "drs: mode manual, threshold 0.35"));
    json_decref(out);
    free(viewer);
    free(agent);
}

/* A host's "maintenance_status", or NULL. */
static json_t *
maintenance_status(struct fixture *f, const char *host)
{
    char *path = xasprintf("/v1/hosts/%s", host);
    json_t *out = call(f, "GET", path, NULL, 200);
    json_t *status = json_incref(json_object_get(out, "maintenance_status"));

    free(path);
    json_decref(out);
    return status;
}

static void
test_maintenance(void **state)
{
    struct fixture *f = *state;
    char *viewer = fixture_token(f, "ops", "viewer", NULL);
    char *agent = fixture_token(f, "agent-h1", "agent", "h1");
    json_t *out;

    add_host(f, "h1", 1);
    add_host(f, "h2", 2);
    put_object(f, "image", "tiny",
               "{'status': 'active', 'format': 'qcow2', "
               "'virtual_size_bytes': 1073741824}");
    assert_int_equal(
        fixture_admin(f, "POST", "/v1/networks",
                      "{\"name\": \"blue\", \"cidr\": \"10.0.0.0/24\"}"),
        201);

    refused(f, "POST", "/v1/hosts/h1/maintenance", "{}", 400, "action",
            "expected {\"action\": \"enter\"}");
    refused(f, "POST", "/v1/hosts/h1/maintenance", "{\"action\": \"on\"}", 400,
            "action", "host \"h1\": maintenance");
    refused(f, "POST", "/v1/hosts/h1/maintenance",
            "{\"action\": \"enter\", \"now\": true}", 400, "action",
            "expected");
    refused(f, "POST", "/v1/hosts/h1/maintenance", "[\"enter\"]", 400,
            "action", "expected");
    refused(f, "POST", "/v1/hosts/h9/maintenance", "{\"action\": \"enter\"}",
            404, NULL, "host \"h9\": not found");
    fixture_expect(f, "POST", "/v1/hosts/h1/maintenance", viewer,
                   "{\"action\": \"enter\"}", 403, NULL);
    fixture_expect(f, "POST", "/v1/hosts/h1/maintenance", agent,
                   "{\"action\": \"enter\"}", 403, NULL);
    /* None of that changed the host. */
    assert_null(maintenance_status(f, "h1"));

    /* An empty host is in maintenance at once. */
    out = call(f, "POST", "/v1/hosts/h1/maintenance",
               "{\"action\": \"enter\"}", 200);
    assert_true(json_is_true(json_object_get(out, "maintenance")));
    fixture_expect_json(json_object_get(out, "maintenance_status"),
                        "{'state': 'in-maintenance', 'vms': 0, "
                        "'blocked': []}");
    json_decref(out);
    /* Entering twice is no error. */
    json_decref(call(f, "POST", "/v1/hosts/h1/maintenance",
                     "{\"action\": \"enter\"}", 200));

    /* No new VM goes to it: a VM pinned there is refused, an unpinned one
     * goes to h2. */
    refused(f, "POST", "/v1/vms",
            "{\"name\": \"p1\", \"vcpus\": 1, \"memory_mb\": 512, "
            "\"image\": \"tiny\", \"host\": \"h1\"}",
            409, "host", "h1: in maintenance");
    out = call(f, "POST", "/v1/vms",
               "{\"name\": \"v1\", \"vcpus\": 1, \"memory_mb\": 512, "
               "\"image\": \"tiny\"}",
               201);
    assert_string_equal(json_string_value(json_object_get(out, "host")), "h2");
    json_decref(out);
    out = call(f, "POST", "/v1/vms",
               "{\"name\": \"p2\", \"vcpus\": 1, \"memory_mb\": 512, "
               "\"image\": \"tiny\", \"host\": \"h2\"}",
               201);
    assert_true(json_is_true(json_object_get(out, "pinned")));
    json_decref(out);

    /* h2 entering maintenance keeps its VMs until they migrate: the
     * pinned one cannot, and one that does not run neither. */
    out = call(f, "POST", "/v1/hosts/h2/maintenance",
               "{\"action\": \"enter\"}", 200);
    fixture_expect_json(
        json_object_get(out, "maintenance_status"),
        "{'state': 'entering', 'vms': 2, 'blocked': ["
        "{'vm': 'p2', 'reason': 'pinned to host \\\"h2\\\" (created "
        "with \\\"host\\\"): delete it or exit maintenance'}, "
        "{'vm': 'v1', 'reason': 'not running: only running VMs migrate "
        "live; stop and delete it, or start it'}]}");
    json_decref(out);
    /* Nothing takes VMs now. */
    refused(f, "POST", "/v1/vms",
            "{\"name\": \"v2\", \"vcpus\": 1, \"memory_mb\": 512, "
            "\"image\": \"tiny\"}",
            409, NULL, "in maintenance");

    /* Exit clears both. */
    out = call(f, "POST", "/v1/hosts/h1/maintenance", "{\"action\": \"exit\"}",
               200);
    assert_true(json_is_false(json_object_get(out, "maintenance")));
    assert_null(json_object_get(out, "maintenance_status"));
    json_decref(out);
    json_decref(call(f, "POST", "/v1/vms",
                     "{\"name\": \"v2\", \"vcpus\": 1, \"memory_mb\": 512, "
                     "\"image\": \"tiny\"}",
                     201));
    free(viewer);
    free(agent);
}

/* Reports, as host 'host''s agent with token 'token', the first 'n' of
 * VMs 'vms' running with 'memory_kb' each and 'cpu_time_ns' of CPU
 * time. */
static void
report_state(struct fixture *f, const char *host, const char *token,
             const char *const *vms, size_t n, const char *state,
             long long memory_kb, long long cpu_time_ns)
{
    json_t *body = json_pack("{s{}s{}}", "ports", "vms");
    char *path = xasprintf("/v1/hosts/%s/port-status", host);
    char *text;

    for (size_t i = 0; i < n; i++) {
        json_object_set_new(json_object_get(body, "vms"), vms[i],
                            json_pack("{sssIsI}", "state", state, "memory_kb",
                                      (json_int_t) memory_kb, "cpu_time_ns",
                                      (json_int_t) cpu_time_ns));
    }
    text = json_dumps(body, 0);
    fixture_expect(f, "PUT", path, token, text, 204, NULL);
    free(text);
    free(path);
    json_decref(body);
}

static void
report(struct fixture *f, const char *host, const char *token,
       const char *const *vms, size_t n, long long memory_kb,
       long long cpu_time_ns)
{
    report_state(f, host, token, vms, n, "running", memory_kb, cpu_time_ns);
}

/* Member 'key' of host 'name' in plan 'plan'. */
static double
host_value(const json_t *plan, const char *name, const char *key)
{
    const json_t *h;
    size_t i;

    json_array_foreach(json_object_get(plan, "hosts"), i, h)
    {
        if (!strcmp(json_string_value(json_object_get(h, "name")), name)) {
            return json_number_value(json_object_get(h, key));
        }
    }
    fail_msg("no host \"%s\" in the plan", name);
    return 0;
}

/* Registers hosts h1, h2 and h3 and image "tiny", and packs the 'n' VMs
 * 'vms' (1 vCPU, 1 GiB each) on h1: the first pinned there if 'pin_first',
 * the others placed while h2 and h3 are in maintenance. */
static void
pack(struct fixture *f, const char *const *vms, size_t n, bool pin_first)
{
    add_host(f, "h1", 1);
    add_host(f, "h2", 2);
    add_host(f, "h3", 3);
    put_object(f, "image", "tiny",
               "{'status': 'active', 'format': 'qcow2', "
               "'virtual_size_bytes': 1073741824}");
    json_decref(call(f, "POST", "/v1/hosts/h2/maintenance",
                     "{\"action\": \"enter\"}", 200));
    json_decref(call(f, "POST", "/v1/hosts/h3/maintenance",
                     "{\"action\": \"enter\"}", 200));
    for (size_t i = 0; i < n; i++) {
        char *body =
            xasprintf("{\"name\": \"%s\", \"vcpus\": 1, "
                      "\"memory_mb\": 1024, \"image\": \"tiny\"%s}",
                      vms[i], pin_first && !i ? ", \"host\": \"h1\"" : "");
        json_t *out = call(f, "POST", "/v1/vms", body, 201);

        assert_string_equal(json_string_value(json_object_get(out, "host")),
                            "h1");
        json_decref(out);
        free(body);
    }
    json_decref(call(f, "POST", "/v1/hosts/h2/maintenance",
                     "{\"action\": \"exit\"}", 200));
    json_decref(call(f, "POST", "/v1/hosts/h3/maintenance",
                     "{\"action\": \"exit\"}", 200));
}

static void
test_recommendations(void **state)
{
    static const char *const vms[] = {"v0", "v1", "v2", "v3"};
    struct fixture *f = *state;
    char *agent1 = fixture_token(f, "agent-h1", "agent", "h1");
    char *agent2 = fixture_token(f, "agent-h2", "agent", "h2");
    struct reply r;
    json_t *out;

    /* Four VMs packed on h1, v0 pinned there. */
    pack(f, vms, 4, true);

    /* 1.5 GiB in use each: h1 at 6 of 8 GiB. */
    report(f, "h1", agent1, vms, 4, 1572864, 0);
    /* h2's agent claiming h1's VMs is not believed. */
    report(f, "h2", agent2, vms, 4, 8388608, 0);
    out = call(f, "GET", "/v1/drs/recommendations", NULL, 200);
    assert_string_equal(json_string_value(json_object_get(out, "mode")),
                        "off");
    assert_true(host_value(out, "h1", "load") == 0.75);
    assert_true(host_value(out, "h2", "load") == 0);
    assert_true(json_number_value(json_object_get(out, "imbalance")) == 0.75);
    /* Off: nothing recommended. */
    assert_int_equal(json_array_size(json_object_get(out, "recommendations")),
                     0);
    json_decref(out);

    /* Manual: two moves, never the pinned v0, the next by name first. */
    json_decref(call(f, "PUT", "/v1/drs", "{\"mode\": \"manual\"}", 200));
    out = call(f, "GET", "/v1/drs/recommendations", NULL, 200);
    fixture_expect_json(
        json_object_get(out, "recommendations"),
        "[{'vm': 'v1', 'from': 'h1', 'to': 'h2', 'imbalance': 0.5625}, "
        "{'vm': 'v2', 'from': 'h1', 'to': 'h3', 'imbalance': 0.1875}]");
    json_decref(out);

    /* A threshold above the imbalance: nothing to do. */
    json_decref(call(f, "PUT", "/v1/drs", "{\"threshold\": 0.8}", 200));
    out = call(f, "GET", "/v1/drs/recommendations", NULL, 200);
    assert_int_equal(json_array_size(json_object_get(out, "recommendations")),
                     0);
    json_decref(out);

    /* CPU is a rate: 4 vCPU-seconds each within about half a second is
     * far more than h1's 4 vCPUs. */
    usleep(500 * 1000);
    report(f, "h1", agent1, vms, 4, 1572864, 4000000000LL);
    out = call(f, "GET", "/v1/drs/recommendations", NULL, 200);
    assert_true(host_value(out, "h1", "load") > 1.0);
    json_decref(out);

    /* The gauge follows the last plan. */
    fixture_call(f, "GET", "/metrics", f->admin, NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\nfabric_drs_imbalance "));
    assert_null(strstr(r.body, "\nfabric_drs_imbalance 0.000000\n"));
    reply_clear(&r);

    /* A VM the report leaves out is gone from the host's load. */
    report(f, "h1", agent1, vms, 1, 1572864, 4000000000LL);
    out = call(f, "GET", "/v1/drs/recommendations", NULL, 200);
    assert_true(host_value(out, "h1", "memory_kb") == 1572864);
    json_decref(out);
    free(agent1);
    free(agent2);
}

/* A cloud of three hosts with VMs "v1", "v2", "v3" packed on h1 (placed
 * while h2 and h3 were in maintenance), each reported running by h1's
 * agent with 2 GiB in use; returns h1's agent token. */
static char *
packed_cloud(struct fixture *f)
{
    static const char *const vms[] = {"v1", "v2", "v3"};
    char *agent = fixture_token(f, "agent-h1", "agent", "h1");

    pack(f, vms, 3, false);
    report(f, "h1", agent, vms, 3, 2097152, 0);
    return agent;
}

/* Waits up to 20 s for GET /v1/migrations to list 'n' migrations, and
 * returns them as "VM:REASON" separated by spaces, by VM. */
static char *
wait_migrations(struct fixture *f, size_t n)
{
    char *got = NULL;

    for (int i = 0; i < 200; i++) {
        json_t *out = call(f, "GET", "/v1/migrations", NULL, 200);
        const json_t *items = json_object_get(out, "items"), *m;
        size_t j;

        free(got);
        got = xstrdup("");
        json_array_foreach(items, j, m)
        {
            char *next =
                xasprintf("%s%s%s:%s", got, j ? " " : "",
                          json_string_value(json_object_get(m, "vm")),
                          json_string_value(json_object_get(m, "reason")));

            free(got);
            got = next;
        }
        j = json_array_size(items);
        json_decref(out);
        if (j >= n) {
            break;
        }
        usleep(100 * 1000);
    }
    return got;
}

/* Asserts that /metrics says 'line'. */
static void
expect_metric(struct fixture *f, const char *line)
{
    struct reply r;
    char *want = xasprintf("\n%s\n", line);

    fixture_call(f, "GET", "/metrics", f->admin, NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    if (!strstr(r.body, want)) {
        fail_msg("/metrics lacks \"%s\"", line);
    }
    reply_clear(&r);
    free(want);
}

static void
test_evacuation(void **state)
{
    struct fixture *f = *state;
    char *agent = packed_cloud(f);
    json_t *out, *ms;
    char *got;

    /* a1 of a strict anti-affinity group that has a VM on h2 and on h3
     * has nowhere to go. */
    json_decref(call(f, "POST", "/v1/vm-groups",
                     "{\"name\": \"apart\", \"policy\": "
                     "\"anti-affinity\", \"strict\": true}",
                     201));
    json_decref(call(f, "POST", "/v1/vms",
                     "{\"name\": \"a2\", \"vcpus\": 1, \"memory_mb\": "
                     "512, \"image\": \"tiny\", \"groups\": [\"apart\"], "
                     "\"host\": \"h2\"}",
                     201));
    json_decref(call(f, "POST", "/v1/vms",
                     "{\"name\": \"a3\", \"vcpus\": 1, \"memory_mb\": "
                     "512, \"image\": \"tiny\", \"groups\": [\"apart\"], "
                     "\"host\": \"h3\"}",
                     201));
    json_decref(call(f, "POST", "/v1/vms",
                     "{\"name\": \"a1\", \"vcpus\": 1, \"memory_mb\": "
                     "512, \"image\": \"tiny\", \"groups\": [\"apart\"]}",
                     201));
    {
        static const char *const vms[] = {"v1", "v2", "v3", "a1"};

        report(f, "h1", agent, vms, 4, 2097152, 0);
    }

    /* Entering maintenance starts two migrations (max_concurrent), by
     * name: a1 is refused by the scheduler, v1 and v2 go. */
    json_decref(call(f, "POST", "/v1/hosts/h1/maintenance",
                     "{\"action\": \"enter\"}", 200));
    got = wait_migrations(f, 2);
    assert_string_equal(got, "v1:maintenance v2:maintenance");
    free(got);
    for (int i = 0; i < 100; i++) {
        ms = maintenance_status(f, "h1");
        if (json_array_size(json_object_get(ms, "blocked"))) {
            break;
        }
        json_decref(ms);
        ms = NULL;
        usleep(100 * 1000);
    }
    assert_non_null(ms);
    assert_string_equal(json_string_value(json_object_get(ms, "state")),
                        "entering");
    assert_int_equal(json_integer_value(json_object_get(ms, "vms")), 4);
    assert_int_equal(json_array_size(json_object_get(ms, "blocked")), 1);
    out = json_array_get(json_object_get(ms, "blocked"), 0);
    assert_string_equal(json_string_value(json_object_get(out, "vm")), "a1");
    assert_non_null(strstr(json_string_value(json_object_get(out, "reason")),
                           "anti-affinity group \"apart\""));
    json_decref(ms);

    /* A source pauses its guest for the switch-over (its agent reports it
     * "starting", reason "paused"): a VM on its way is not blocked,
     * whatever its host reports meanwhile. */
    {
        static const char *const vms[] = {"v1", "v2", "v3", "a1"};
        static const char *const moving[] = {"v1", "v2"};

        report_state(f, "h1", agent, moving, 2, "starting", 2097152, 0);
        ms = maintenance_status(f, "h1");
        assert_int_equal(json_array_size(json_object_get(ms, "blocked")), 1);
        json_decref(ms);
        report(f, "h1", agent, vms, 4, 2097152, 0);
    }

    /* No third one while two run. */
    usleep(1500 * 1000);
    got = wait_migrations(f, 0);
    assert_string_equal(got, "v1:maintenance v2:maintenance");
    free(got);
    expect_metric(f, "fabric_drs_migrations_total{reason=\"maintenance\"} 2");
    out = call(f, "GET", "/v1/audit?limit=20", NULL, 200);
    got = json_dumps(out, 0);
    assert_non_null(strstr(got, "started (reason maintenance)"));
    free(got);
    json_decref(out);

    /* Exit: nothing blocked any more, no more moves. */
    json_decref(call(f, "POST", "/v1/hosts/h1/maintenance",
                     "{\"action\": \"exit\"}", 200));
    assert_null(maintenance_status(f, "h1"));
    free(agent);
}

static void
test_apply(void **state)
{
    struct fixture *f = *state;
    char *agent = packed_cloud(f);
    char *viewer = fixture_token(f, "ops", "viewer", NULL);
    json_t *out;
    char *got;

    refused(f, "POST", "/v1/drs/apply", NULL, 409, "mode", "mode is off");
    refused(f, "POST", "/v1/drs/apply", "{\"now\": true}", 400, NULL,
            "takes no body");
    fixture_expect(f, "POST", "/v1/drs/apply", viewer, NULL, 403, NULL);
    fixture_expect(f, "POST", "/v1/drs/apply", agent, NULL, 403, NULL);
    got = wait_migrations(f, 0);
    assert_string_equal(got, "");
    free(got);

    /* h1 at 0.75: v1 to h2 and v2 to h3. */
    json_decref(call(f, "PUT", "/v1/drs", "{\"mode\": \"manual\"}", 200));
    out = call(f, "POST", "/v1/drs/apply", NULL, 200);
    assert_int_equal(json_array_size(json_object_get(out, "started")), 2);
    assert_string_equal(
        json_string_value(json_object_get(
            json_array_get(json_object_get(out, "started"), 0), "to")),
        "h2");
    assert_int_equal(json_array_size(json_object_get(out, "refused")), 0);
    json_decref(out);
    got = wait_migrations(f, 2);
    assert_string_equal(got, "v1:drs v2:drs");
    free(got);

    /* The VMs that migrate are not planned again; v3 would be, but two
     * run already. */
    json_decref(call(f, "PUT", "/v1/drs", "{\"threshold\": 0.01}", 200));
    out = call(f, "POST", "/v1/drs/apply", NULL, 200);
    assert_int_equal(json_array_size(json_object_get(out, "started")), 0);
    fixture_expect_json(json_object_get(out, "refused"),
                        "[{'vm': 'v3', 'reason': 'max_concurrent "
                        "migrations run already'}]");
    json_decref(out);
    expect_metric(f, "fabric_drs_migrations_total{reason=\"drs\"} 2");
    free(viewer);
    free(agent);
}

static void
test_automatic(void **state)
{
    struct fixture *f = *state;
    char *agent = packed_cloud(f);
    char *got;

    /* Automatic: the balancer runs its plan on its own, at once after
     * the change and then every interval. */
    json_decref(call(f, "PUT", "/v1/drs",
                     "{\"mode\": \"automatic\", \"interval_s\": 5}", 200));
    got = wait_migrations(f, 2);
    assert_string_equal(got, "v1:drs v2:drs");
    free(got);
    free(agent);
}

/* A controller whose HA monitor never declares the hosts of these tests,
 * which send no heartbeats, failed (and moves no VM itself). */
static int
setup(void **state)
{
    struct server_config limits = {.ha_lease_ms = 600000};

    *state = fixture_start_config(30, false, &limits);
    return 0;
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_settings, setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_maintenance, setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_recommendations, setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_evacuation, setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_apply, setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_automatic, setup,
                                        fixture_teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
