/* Live migrations, the controller's side (doc/mobility.md), over real
 * HTTP on a real SQLite store, driven by agents' reports posted with the
 * agents' own tokens: refusals with nothing changed (unknown VM or host,
 * a VM that does not run, its own host, no capacity, anti-affinity, a
 * libvirt host, an underlay MTU or a flood list too small, bad fields);
 * the happy path with the documents of both hosts (and a third) at each
 * phase; activation moving the VM, its ports and its claim at once;
 * failure and cancel rolling back to exactly what was; the conntrack
 * relay to the destination's agent (a small HTTP server that stands for
 * it); metrics; agents silent for too long; an HA restart of the VM
 * ending its migration; the list, page by page; a controller restarted
 * mid-migration keeping it. */
#include <microhttpd.h>
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

/* The agent token the hosts register with, for the relay's calls. */
#define AGENT_TOKEN                                                           \
    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

/* The tokens of the hosts' agents, h1..h4. */
struct cloud {
    struct fixture *f;
    char *agent[5];
};

/* Formats 'fmt' with 'args' into a new string. */
static char *
vformat(const char *fmt, va_list args)
{
    char *text;

    assert_true(vasprintf(&text, fmt, args) >= 0);
    return text;
}

/* Sends 'method' 'path' with 'token' and body 'fmt' (JSON written with '
 * for ", NULL: none) and returns the answer's status, the answer in 'r'
 * (which the caller clears) if not NULL. */
static long __attribute__((format(printf, 5, 6)))
call(struct fixture *f, struct reply *r, const char *method, const char *path,
     const char *fmt, ...)
{
    struct reply mine;
    char *body = NULL;
    long status;

    if (fmt) {
        va_list args;
        char *text;
        json_t *json;

        va_start(args, fmt);
        text = vformat(fmt, args);
        va_end(args);
        json = fixture_json(text);
        body = json_dumps(json, JSON_COMPACT);
        json_decref(json);
        free(text);
    }
    status =
        fixture_call(f, method, path, f->admin, body, NULL, r ? r : &mine);
    if (!r) {
        reply_clear(&mine);
    }
    free(body);
    return status;
}

/* Posts port-status report 'fmt' of host 'host' (1..4) with its agent's
 * token and expects 204. */
static void __attribute__((format(printf, 3, 4)))
report(struct cloud *c, int host, const char *fmt, ...)
{
    char *text, *body, *path = xasprintf("/v1/hosts/h%d/port-status", host);
    struct reply r;
    va_list args;
    json_t *json;

    va_start(args, fmt);
    text = vformat(fmt, args);
    va_end(args);
    json = fixture_json(text);
    body = json_dumps(json, JSON_COMPACT);
    fixture_call(c->f, "PUT", path, c->agent[host], body, NULL, &r);
    if (r.status != 204) {
        fail_msg("PUT %s %s: expected 204, got %ld: %s", path, body, r.status,
                 r.body);
    }
    reply_clear(&r);
    json_decref(json);
    free(text);
    free(body);
    free(path);
}

/* GETs 'path' as admin, expecting 200, and returns the JSON answer. */
static json_t *
get(struct fixture *f, const char *path)
{
    struct reply r;
    json_t *json;

    fixture_call(f, "GET", path, f->admin, NULL, NULL, &r);
    if (r.status != 200) {
        fail_msg("GET %s: %ld %s", path, r.status, r.body);
    }
    json = json_incref(r.json);
    reply_clear(&r);
    return json;
}

/* Host 'host''s full desired-state document. */
static json_t *
doc(struct fixture *f, const char *host)
{
    char *path = xasprintf("/v1/hosts/%s/desired-state", host);
    json_t *answer = get(f, path), *d;

    d = json_incref(json_object_get(answer, "document"));
    assert_non_null(d);
    json_decref(answer);
    free(path);
    return d;
}

/* Returns the element of array 'list' of 'obj' whose 'key' is 'value'
 * (borrowed), or NULL. */
static json_t *
find(const json_t *obj, const char *list, const char *key, const char *value)
{
    json_t *e;
    size_t i;

    json_array_foreach(json_object_get(obj, list), i, e)
    {
        if (!strcmp(json_string_value(json_object_get(e, key)) ?: "", value)) {
            return e;
        }
    }
    return NULL;
}

static const char *
str(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

static json_t *
vm(struct fixture *f, const char *name)
{
    char *path = xasprintf("/v1/vms/%s", name);
    json_t *out = get(f, path);

    free(path);
    return out;
}

/* Host 'name''s "allocated". */
static json_t *
allocated(struct fixture *f, const char *name)
{
    char *path = xasprintf("/v1/hosts/%s", name);
    json_t *out = get(f, path), *alloc;

    alloc = json_incref(json_object_get(out, "allocated"));
    json_decref(out);
    free(path);
    return alloc;
}

/* Writes an active image "tiny" as the images API leaves one. */
static void
put_image(struct fixture *f)
{
    json_t *body = json_pack("{sssssI}", "status", "active", "format", "qcow2",
                             "virtual_size_bytes", (json_int_t) 1 << 30);
    struct store *store;
    struct store_txn *txn;

    assert_int_equal(store_open(f->db, &store), 0);
    assert_int_equal(store_begin(store, true, &txn), 0);
    assert_int_equal(store_put(txn, "image", "tiny", body, STORE_ANY, NULL),
                     0);
    assert_int_equal(store_commit(txn, NULL), 0);
    json_decref(body);
    store_close(store);
}

/* Registers host h'n' with 'vcpus' vCPUs, hypervisor 'driver' and agent
 * URL 'url' (NULL: none), and makes its agent's token. */
static void
add_host(struct cloud *c, int n, int vcpus, const char *driver,
         const char *url)
{
    char *name = xasprintf("h%d", n);
    char *body = xasprintf(
        "{'name': '%s', 'vtep': '192.0.2.%d', 'underlay': 'eth0', "
        "'capacity': {'vcpus': %d, 'memory_mb': 4096, 'disk_gb': 100}, "
        "'hypervisor': {'driver': '%s', 'accel': 'tcg', 'reason': 'test'}"
        "%s%s%s}",
        name, n, vcpus, driver, url ? ", 'agent_url': '" : "", url ? url : "",
        url ? "', 'agent_token': '" AGENT_TOKEN "'" : "");

    assert_int_equal(call(c->f, NULL, "POST", "/v1/hosts", "%s", body), 201);
    c->agent[n] = fixture_token(c->f, name, "agent", name);
    free(body);
    free(name);
}

/* A cloud of hosts h1, h2 (qemu, 4 vCPUs) and h3 (libvirt), network
 * "blue" and VM "w" (2 vCPUs, one NIC) on h1, running. */
static void
cloud_start(struct cloud *c, const char *h2_url)
{
    memset(c, 0, sizeof *c);
    c->f = fixture_start(30, false);
    /* No agent sends heartbeats here: a lease of 10 minutes keeps the HA
     * monitor from declaring the hosts failed, however slow the
     * machine. */
    server_set_ha(c->f->server, 600000, 0);
    put_image(c->f);
    assert_int_equal(call(c->f, NULL, "POST", "/v1/networks",
                          "{'name': 'blue', 'cidr': '10.0.0.0/24'}"),
                     201);
    add_host(c, 1, 4, "qemu", NULL);
    add_host(c, 2, 4, "qemu", h2_url);
    add_host(c, 3, 4, "libvirt", NULL);
    assert_int_equal(call(c->f, NULL, "POST", "/v1/vms",
                          "{'name': 'w', 'vcpus': 2, 'memory_mb': 256, "
                          "'image': 'tiny', 'host': 'h1', 'nics': "
                          "[{'network': 'blue'}]}"),
                     201);
    report(c, 1,
           "{'ports': {'w-0': 'up'}, 'vms': {'w': {'state': "
           "'running'}}}");
}

static void
cloud_stop(struct cloud *c)
{
    for (size_t i = 0; i < ARRAY_SIZE(c->agent); i++) {
        free(c->agent[i]);
    }
    fixture_stop(c->f);
}

/* The id of the running migration of VM 'name'. */
static char *
migration_id(struct fixture *f, const char *name)
{
    json_t *v = vm(f, name);
    const char *id = str(json_object_get(v, "migration"), "id");
    char *copy;

    assert_non_null(id);
    copy = xstrdup(id);
    json_decref(v);
    return copy;
}

/* Counts the objects of 'kind' in the store. */
static size_t
count(struct fixture *f, const char *kind)
{
    struct store *store;
    struct store_txn *txn;
    size_t n;

    assert_int_equal(store_open(f->db, &store), 0);
    assert_int_equal(store_begin(store, false, &txn), 0);
    assert_int_equal(store_count(txn, kind, &n), 0);
    store_abort(txn);
    store_close(store);
    return n;
}

/* Expects POST /v1/vms/w/migrate 'body' to fail with 'status' on 'field'
 * (NULL: any) with 'text' in its message, and nothing to change: the
 * documents of h1 and h2, their allocations, no migration. */
static void
expect_refused(struct cloud *c, const char *name, const char *body,
               long status, const char *field, const char *text)
{
    json_t *d1 = doc(c->f, "h1"), *d2 = doc(c->f, "h2");
    json_t *a1 = allocated(c->f, "h1"), *a2 = allocated(c->f, "h2");
    char *path = xasprintf("/v1/vms/%s/migrate", name);
    struct reply r;
    json_t *after;

    call(c->f, &r, "POST", path, "%s", body);
    if (r.status != status || !strstr(reply_message(&r), text)
        || (field && strcmp(reply_field(&r), field))) {
        fail_msg("POST %s %s: expected %ld on %s with \"%s\", got %ld: %s",
                 path, body, status, field ? field : "-", text, r.status,
                 r.body);
    }
    reply_clear(&r);
    assert_int_equal(count(c->f, "migration"), 0);
    after = doc(c->f, "h1");
    assert_true(json_equal(after, d1));
    json_decref(after);
    after = doc(c->f, "h2");
    assert_true(json_equal(after, d2));
    json_decref(after);
    after = allocated(c->f, "h1");
    assert_true(json_equal(after, a1));
    json_decref(after);
    after = allocated(c->f, "h2");
    assert_true(json_equal(after, a2));
    json_decref(after);
    json_decref(d1);
    json_decref(d2);
    json_decref(a1);
    json_decref(a2);
    free(path);
}

static void
test_refusals(void **state)
{
    struct cloud c;
    struct reply r;

    (void) state;
    cloud_start(&c, NULL);
    expect_refused(&c, "nope", "{}", 404, NULL, "vm \"nope\": not found");
    expect_refused(&c, "w", "{'to': 'h9'}", 404, "to",
                   "host \"h9\": no such host");
    expect_refused(&c, "w", "{'to': 'h1'}", 409, "to",
                   "runs on host \"h1\" already");
    expect_refused(&c, "w", "{'to': 'h3'}", 409, "host",
                   "h3: its hypervisor driver takes no live migration in");
    expect_refused(&c, "w", "{'to': 'Bad!'}", 400, "to", "");
    expect_refused(&c, "w", "{'to': 5}", 400, "to", "");
    expect_refused(&c, "w", "{'downtime_ms': 0}", 400, "downtime_ms",
                   "must be 1..60000");
    expect_refused(&c, "w", "{'downtime_ms': 60001}", 400, "downtime_ms",
                   "must be 1..60000");
    expect_refused(&c, "w", "{'downtime_ms': '300'}", 400, "downtime_ms", "");
    expect_refused(&c, "w", "{'max_bandwidth_mbps': -1}", 400,
                   "max_bandwidth_mbps", "must be 0..1000000");
    expect_refused(&c, "w", "{'auto_converge': 'yes'}", 400, "auto_converge",
                   "");
    expect_refused(&c, "w", "{'force': true}", 400, "force", "");
    expect_refused(&c, "w", "[1]", 400, NULL, "expected an object");

    /* No room: h2 full, h3 libvirt, h1 its own. */
    assert_int_equal(call(c.f, NULL, "POST", "/v1/vms",
                          "{'name': 'big', 'vcpus': 15, 'memory_mb': 256, "
                          "'image': 'tiny', 'host': 'h2'}"),
                     201);
    expect_refused(&c, "w", "{}", 409, NULL,
                   "h2: vcpus 1 free (4 x 4, 15 allocated), needs 2");
    expect_refused(&c, "w", "{}", 409, NULL, "h1: the VM runs there already");
    assert_int_equal(call(c.f, NULL, "DELETE", "/v1/vms/big", NULL), 204);

    /* A strict anti-affinity group with a member on h2. */
    assert_int_equal(call(c.f, NULL, "POST", "/v1/vm-groups",
                          "{'name': 'apart', 'policy': 'anti-affinity'}"),
                     201);
    assert_int_equal(call(c.f, NULL, "POST", "/v1/vms",
                          "{'name': 'a1', 'vcpus': 1, 'memory_mb': 128, "
                          "'image': 'tiny', 'host': 'h1', 'groups': "
                          "['apart']}"),
                     201);
    assert_int_equal(call(c.f, NULL, "POST", "/v1/vms",
                          "{'name': 'a2', 'vcpus': 1, 'memory_mb': 128, "
                          "'image': 'tiny', 'host': 'h2', 'groups': "
                          "['apart']}"),
                     201);
    report(&c, 1,
           "{'ports': {'w-0': 'up'}, 'vms': {'w': {'state': "
           "'running'}, 'a1': {'state': 'running'}}}");
    expect_refused(&c, "a1", "{'to': 'h2'}", 409, "host",
                   "anti-affinity group \"apart\": 1 of its VMs is here");

    /* A host whose underlay cannot carry "blue" (1450 + 50), and then
     * one whose datapath holds flood lists of one member: w's NIC there
     * plus p1 on h1 make two. */
    assert_int_equal(call(c.f, NULL, "POST", "/v1/ports",
                          "{'name': 'p1', 'network': 'blue', 'host': "
                          "'h1'}"),
                     201);
    assert_int_equal(
        call(c.f, NULL, "POST", "/v1/hosts",
             "{'name': 'h4', 'vtep': '192.0.2.4', 'underlay': 'eth0', "
             "'capacity': {'vcpus': 4, 'memory_mb': 4096, 'disk_gb': 100}, "
             "'hypervisor': {'driver': 'qemu', 'accel': 'tcg'}, 'limits': "
             "{'underlay_mtu': 1400}}"),
        201);
    expect_refused(&c, "w", "{'to': 'h4'}", 409, NULL,
                   "more than the underlay MTU 1400 of \"h4\"");
    assert_int_equal(call(c.f, NULL, "DELETE", "/v1/hosts/h4", NULL), 204);
    assert_int_equal(
        call(c.f, NULL, "POST", "/v1/hosts",
             "{'name': 'h4', 'vtep': '192.0.2.4', 'underlay': 'eth0', "
             "'capacity': {'vcpus': 4, 'memory_mb': 4096, 'disk_gb': 100}, "
             "'hypervisor': {'driver': 'qemu', 'accel': 'tcg'}, 'limits': "
             "{'flood_members': 1}}"),
        201);
    expect_refused(&c, "w", "{'to': 'h4'}", 409, "to", "flood");
    assert_int_equal(call(c.f, NULL, "DELETE", "/v1/hosts/h4", NULL), 204);

    /* Not running: scheduled (never reported), then stopped. */
    assert_int_equal(call(c.f, NULL, "POST", "/v1/vms",
                          "{'name': 'new', 'vcpus': 1, 'memory_mb': 128, "
                          "'image': 'tiny', 'host': 'h1'}"),
                     201);
    expect_refused(&c, "new", "{'to': 'h2'}", 409, NULL,
                   "is scheduled, not running");
    report(&c, 1,
           "{'ports': {'w-0': 'up'}, 'vms': {'w': {'state': "
           "'stopped'}, 'a1': {'state': 'running'}}}");
    expect_refused(&c, "w", "{'to': 'h2'}", 409, NULL,
                   "is starting, not running");

    /* Nothing to cancel; viewers may not migrate. */
    call(c.f, &r, "POST", "/v1/vms/w/migrate/cancel", NULL);
    assert_int_equal(r.status, 409);
    assert_non_null(strstr(reply_message(&r), "no migration of it"));
    reply_clear(&r);
    call(c.f, &r, "POST", "/v1/vms/nope/migrate/cancel", NULL);
    assert_int_equal(r.status, 404);
    reply_clear(&r);
    {
        char *viewer = fixture_token(c.f, "v", "viewer", NULL);

        fixture_call(c.f, "POST", "/v1/vms/a1/migrate", viewer, "{}", NULL,
                     &r);
        assert_int_equal(r.status, 403);
        reply_clear(&r);
        fixture_call(c.f, "GET", "/v1/migrations", viewer, NULL, NULL, &r);
        assert_int_equal(r.status, 200);
        reply_clear(&r);
        free(viewer);
    }
    cloud_stop(&c);
}

/* Starts migrating "w" to h2 and returns its id. */
static char *
start(struct cloud *c)
{
    struct reply r;
    char *id;

    call(c->f, &r, "POST", "/v1/vms/w/migrate",
         "{'to': 'h2', 'downtime_ms': 200, 'max_bandwidth_mbps': 100}");
    if (r.status != 202) {
        fail_msg("migrate: %ld %s", r.status, r.body);
    }
    assert_string_equal(str(r.json, "status"), "migrating");
    reply_clear(&r);
    id = migration_id(c->f, "w");
    return id;
}

static void
test_happy_path(void **state)
{
    json_t *v0, *v, *m, *d1, *d2, *e, *list, *a1_before;
    const char *mac, *uuid;
    struct cloud c;
    struct reply r;
    char *id;

    (void) state;
    cloud_start(&c, NULL);
    v0 = vm(c.f, "w");
    mac = str(json_array_get(json_object_get(v0, "nics"), 0), "mac");
    uuid = str(v0, "uuid");
    a1_before = allocated(c.f, "h1");
    /* A port that stays on h1, so that h1 keeps network "blue". */
    assert_int_equal(call(c.f, NULL, "POST", "/v1/ports",
                          "{'name': 'p1', 'network': 'blue', 'host': "
                          "'h1'}"),
                     201);
    /* And one on h3, a third host that only sees w as a remote. */
    assert_int_equal(call(c.f, NULL, "POST", "/v1/ports",
                          "{'name': 'p3', 'network': 'blue', 'host': "
                          "'h3'}"),
                     201);

    /* Preparing: h2 claims it, its document has the VM incoming and its
     * NIC a standby port (and no remote for its MAC), h1's is as it
     * was. */
    id = start(&c);
    v = vm(c.f, "w");
    m = json_object_get(v, "migration");
    assert_string_equal(str(m, "state"), "preparing");
    assert_string_equal(str(m, "from"), "h1");
    assert_string_equal(str(m, "to"), "h2");
    assert_string_equal(str(m, "reason"), "api");
    assert_int_equal(json_integer_value(json_object_get(m, "downtime_ms")),
                     200);
    assert_null(json_object_get(m, "started_ms"));
    json_decref(v);
    e = allocated(c.f, "h2");
    fixture_expect_json(e, "{'vcpus': 2, 'memory_mb': 256, 'disk_gb': 1, "
                           "'vms': 1}");
    json_decref(e);
    d2 = doc(c.f, "h2");
    e = find(d2, "vms", "name", "w");
    assert_non_null(e);
    m = json_object_get(e, "incoming");
    assert_string_equal(str(m, "id"), id);
    json_object_del(m, "id");
    fixture_expect_json(m, "{'from': 'h1', 'from_vtep': '192.0.2.1'}");
    e = find(d2, "ports", "name", "w-0");
    assert_non_null(e);
    assert_true(json_is_true(json_object_get(e, "standby")));
    assert_null(find(d2, "remotes", "mac", mac));
    assert_non_null(find(d2, "networks", "name", "blue"));
    assert_non_null(find(d2, "remotes", "vtep", "192.0.2.1"));
    json_decref(d2);
    d1 = doc(c.f, "h1");
    assert_null(json_object_get(find(d1, "vms", "name", "w"), "migrate"));
    assert_non_null(find(d1, "ports", "name", "w-0"));
    json_decref(d1);
    list = get(c.f, "/v1/migrations");
    assert_int_equal(json_array_size(json_object_get(list, "items")), 1);
    json_decref(list);

    /* Once is enough; a VM migrating is not deleted. */
    call(c.f, &r, "POST", "/v1/vms/w/migrate", "{}");
    assert_int_equal(r.status, 409);
    assert_non_null(strstr(reply_message(&r), "is migrating already"));
    reply_clear(&r);
    call(c.f, &r, "DELETE", "/v1/vms/w", NULL);
    assert_int_equal(r.status, 409);
    reply_clear(&r);

    /* A report of another migration's id changes nothing. */
    report(&c, 2,
           "{'ports': {}, 'vms': {'w': {'state': 'incoming', "
           "'migration': {'id': 'other', 'role': 'destination', "
           "'status': 'completed', 'activated': true}}}}");
    v = vm(c.f, "w");
    assert_string_equal(str(v, "host"), "h1");
    json_decref(v);

    /* Migrating: the destination listens; the source's VM gets
     * "migrate". */
    report(&c, 2,
           "{'ports': {'w-0': 'up'}, 'vms': {'w': {'state': 'incoming', "
           "'migration': {'id': '%s', 'role': 'destination', 'status': "
           "'listening', 'uri': 'tcp:192.0.2.2:49152'}}}}",
           id);
    d1 = doc(c.f, "h1");
    m = json_object_get(find(d1, "vms", "name", "w"), "migrate");
    assert_non_null(m);
    assert_string_equal(str(m, "id"), id);
    json_object_del(m, "id");
    fixture_expect_json(m, "{'to': 'h2', 'to_vtep': '192.0.2.2', 'uri': "
                           "'tcp:192.0.2.2:49152', 'downtime_ms': 200, "
                           "'max_bandwidth_mbps': 100, 'auto_converge': "
                           "true}");
    json_decref(d1);
    report(&c, 1,
           "{'ports': {'w-0': 'up'}, 'vms': {'w': {'state': 'running', "
           "'migration': {'id': '%s', 'role': 'source', 'status': 'active', "
           "'transferred_bytes': 100, 'remaining_bytes': 900, "
           "'total_bytes': 1000}}}}",
           id);
    v = vm(c.f, "w");
    m = json_object_get(v, "migration");
    assert_string_equal(str(m, "state"), "migrating");
    assert_string_equal(str(m, "uri"), "tcp:192.0.2.2:49152");
    fixture_expect_json(json_object_get(m, "progress"),
                        "{'transferred_bytes': 100, 'remaining_bytes': 900, "
                        "'total_bytes': 1000}");
    assert_string_equal(str(v, "status"), "migrating");
    json_decref(v);

    /* Switching, then the source's QEMU completes. */
    report(&c, 1,
           "{'ports': {'w-0': 'up'}, 'vms': {'w': {'state': 'running', "
           "'migration': {'id': '%s', 'role': 'source', 'status': "
           "'pre-switchover', 'transferred_bytes': 1000, "
           "'remaining_bytes': 0, 'total_bytes': 1000}}}}",
           id);
    v = vm(c.f, "w");
    assert_string_equal(str(json_object_get(v, "migration"), "state"),
                        "switching");
    json_decref(v);
    report(&c, 1,
           "{'ports': {'w-0': 'up'}, 'vms': {'w': {'state': 'running', "
           "'migration': {'id': '%s', 'role': 'source', 'status': "
           "'completed', 'downtime_ms': 42, 'total_ms': 1234}}}}",
           id);
    v = vm(c.f, "w");
    assert_string_equal(str(v, "host"), "h1");
    json_decref(v);

    /* Until the activation every other host sends w's frames to h1, and
     * accepts VXLAN from h2, whence w answers as soon as it runs there;
     * the two hosts of the migration have no "fabric_vteps". */
    e = doc(c.f, "h3");
    assert_string_equal(str(find(e, "remotes", "mac", mac), "vtep"),
                        "192.0.2.1");
    fixture_expect_json(json_object_get(e, "fabric_vteps"), "['192.0.2.2']");
    json_decref(e);
    e = doc(c.f, "h1");
    assert_null(json_object_get(e, "fabric_vteps"));
    json_decref(e);
    e = doc(c.f, "h2");
    assert_null(json_object_get(e, "fabric_vteps"));
    json_decref(e);

    /* The destination's activation moves it all at once. */
    report(&c, 2,
           "{'ports': {'w-0': 'up'}, 'vms': {'w': {'state': 'running', "
           "'migration': {'id': '%s', 'role': 'destination', 'status': "
           "'completed', 'activated': true}}}}",
           id);
    v = vm(c.f, "w");
    assert_string_equal(str(v, "host"), "h2");
    assert_string_equal(str(v, "status"), "running");
    m = json_object_get(v, "migration");
    assert_string_equal(str(m, "state"), "completed");
    fixture_expect_json(json_object_get(m, "result"),
                        "{'downtime_ms': 42, 'total_ms': 1234}");
    json_decref(v);
    v = get(c.f, "/v1/ports/w-0");
    assert_string_equal(str(v, "host"), "h2");
    json_decref(v);
    e = allocated(c.f, "h1");
    assert_int_equal(json_integer_value(json_object_get(e, "vms")),
                     json_integer_value(json_object_get(a1_before, "vms"))
                         - 1);
    json_decref(e);
    e = allocated(c.f, "h2");
    assert_int_equal(json_integer_value(json_object_get(e, "vcpus")), 2);
    json_decref(e);
    assert_int_equal(count(c.f, "migration"), 0);
    list = get(c.f, "/v1/migrations");
    assert_int_equal(json_array_size(json_object_get(list, "items")), 0);
    json_decref(list);

    e = doc(c.f, "h3");
    assert_string_equal(str(find(e, "remotes", "mac", mac), "vtep"),
                        "192.0.2.2");
    assert_null(json_object_get(e, "fabric_vteps"));
    json_decref(e);

    /* h1 lists it as moved and forwards its frames to h2 for a while
     * (h3 may take its revision after h1's); its MAC is a remote at h2
     * too, for its address and the flooding to h2, so that h1's own VMs
     * reach it meanwhile; h3 is a remote's VTEP there already, so no
     * "fabric_vteps"; h2 runs it plainly. */
    d1 = doc(c.f, "h1");
    assert_null(find(d1, "vms", "name", "w"));
    assert_null(find(d1, "ports", "name", "w-0"));
    assert_string_equal(str(json_object_get(d1, "moved_vms"), "w") ?: "",
                        uuid);
    assert_string_equal(str(find(d1, "remotes", "mac", mac), "vtep"),
                        "192.0.2.2");
    e = find(d1, "forward", "mac", mac);
    assert_non_null(e);
    assert_int_equal(json_array_size(json_object_get(d1, "forward")), 1);
    assert_string_equal(str(e, "vtep"), "192.0.2.2");
    assert_int_equal(json_integer_value(json_object_get(e, "vni")),
                     json_integer_value(json_object_get(
                         find(d1, "networks", "name", "blue"), "vni")));
    assert_null(json_object_get(d1, "fabric_vteps"));
    json_decref(d1);
    e = doc(c.f, "h3");
    assert_null(json_object_get(e, "forward"));
    json_decref(e);
    /* After MIGRATION_FORWARD_GRACE_MS the ticker (every second) ends
     * it: h1's remote for the MAC points at h2. */
    for (int i = 0; i < 100; i++) {
        d1 = doc(c.f, "h1");
        if (!json_object_get(d1, "forward")) {
            break;
        }
        json_decref(d1);
        d1 = NULL;
        usleep(100 * 1000);
    }
    assert_non_null(d1);
    assert_string_equal(str(find(d1, "remotes", "mac", mac), "vtep"),
                        "192.0.2.2");
    assert_int_equal(count(c.f, "vm-forward"), 0);
    json_decref(d1);
    d2 = doc(c.f, "h2");
    e = find(d2, "vms", "name", "w");
    assert_non_null(e);
    assert_null(json_object_get(e, "incoming"));
    assert_null(json_object_get(find(d2, "ports", "name", "w-0"), "standby"));
    json_decref(d2);

    /* h1 reports it gone: "moved_vms" goes. */
    report(&c, 1, "{'ports': {}, 'vms': {'w': {'state': 'running'}}}");
    assert_int_equal(count(c.f, "vm-moved"), 1);
    report(&c, 1, "{'ports': {}, 'vms': {}}");
    assert_int_equal(count(c.f, "vm-moved"), 0);
    d1 = doc(c.f, "h1");
    assert_null(json_object_get(d1, "moved_vms"));
    json_decref(d1);

    /* Metrics and audit. */
    fixture_call(c.f, "GET", "/metrics", NULL, NULL, NULL, &r);
    assert_non_null(
        strstr(r.body, "fabric_migrations_total{result=\"completed\"} 1\n"));
    assert_non_null(strstr(r.body, "fabric_migrations_running 0\n"));
    assert_non_null(strstr(
        r.body, "fabric_migration_downtime_seconds_bucket{le=\"0.05\"} 1\n"));
    assert_non_null(
        strstr(r.body, "fabric_migration_duration_seconds_count 1\n"));
    reply_clear(&r);
    fixture_call(c.f, "GET", "/v1/audit", c.f->admin, NULL, NULL, &r);
    assert_non_null(strstr(r.body, "vm.migrate: vm \\\"w\\\" from host "
                                   "\\\"h1\\\" to host \\\"h2\\\""));
    assert_non_null(strstr(r.body, "completed"));
    reply_clear(&r);

    /* And back again, by the scheduler's choice (h1: h3 is libvirt). */
    report(&c, 2,
           "{'ports': {'w-0': 'up'}, 'vms': {'w': {'state': "
           "'running'}}}");
    call(c.f, &r, "POST", "/v1/vms/w/migrate", "{}");
    assert_int_equal(r.status, 202);
    assert_string_equal(str(json_object_get(r.json, "migration"), "to"), "h1");
    reply_clear(&r);
    json_decref(a1_before);
    json_decref(v0);
    free(id);
    cloud_stop(&c);
}

/* Expects "w" back on h1, running, with h1's and h2's documents and
 * allocations 'd1', 'd2', 'a2' and its last migration 'state' with an
 * error containing 'error'. */
static void
expect_rolled_back(struct cloud *c, const json_t *d1, const json_t *d2,
                   const json_t *a2, const char *state, const char *error)
{
    json_t *v = vm(c->f, "w"), *m, *now;

    assert_string_equal(str(v, "host"), "h1");
    assert_string_equal(str(v, "status"), "running");
    m = json_object_get(v, "migration");
    assert_string_equal(str(m, "state"), state);
    if (!strstr(str(json_object_get(m, "result"), "error") ?: "", error)) {
        fail_msg("result %s lacks \"%s\"",
                 json_dumps(json_object_get(m, "result"), 0), error);
    }
    json_decref(v);
    assert_int_equal(count(c->f, "migration"), 0);
    now = doc(c->f, "h1");
    assert_true(json_equal(now, d1));
    json_decref(now);
    now = doc(c->f, "h2");
    assert_true(json_equal(now, d2));
    json_decref(now);
    now = allocated(c->f, "h2");
    assert_true(json_equal(now, a2));
    json_decref(now);
}

static void
test_failure_and_cancel(void **state)
{
    json_t *d1, *d2, *a2;
    struct cloud c;
    struct reply r;
    char *id;

    (void) state;
    cloud_start(&c, NULL);
    d1 = doc(c.f, "h1");
    d2 = doc(c.f, "h2");
    a2 = allocated(c.f, "h2");

    /* Cancelled while preparing. */
    id = start(&c);
    call(c.f, &r, "POST", "/v1/vms/w/migrate/cancel", NULL);
    assert_int_equal(r.status, 200);
    reply_clear(&r);
    expect_rolled_back(&c, d1, d2, a2, "cancelled", "cancelled");
    free(id);

    /* The destination's QEMU dies while migrating. */
    id = start(&c);
    report(&c, 2,
           "{'ports': {}, 'vms': {'w': {'state': 'incoming', 'migration': "
           "{'id': '%s', 'role': 'destination', 'status': 'listening', "
           "'uri': 'tcp:192.0.2.2:5000'}}}}",
           id);
    report(&c, 2,
           "{'ports': {}, 'vms': {'w': {'state': 'failed', 'reason': 'qemu "
           "exited with status 1', 'migration': {'id': '%s', 'role': "
           "'destination', 'status': 'failed'}}}}",
           id);
    expect_rolled_back(&c, d1, d2, a2, "failed",
                       "host \"h2\": qemu exited with status 1");
    free(id);

    /* The source's migrate fails. */
    id = start(&c);
    report(&c, 2,
           "{'ports': {}, 'vms': {'w': {'state': 'incoming', 'migration': "
           "{'id': '%s', 'role': 'destination', 'status': 'listening', "
           "'uri': 'tcp:192.0.2.2:5000'}}}}",
           id);
    report(&c, 1,
           "{'ports': {'w-0': 'up'}, 'vms': {'w': {'state': 'running', "
           "'migration': {'id': '%s', 'role': 'source', 'status': "
           "'failed', 'error': 'Unable to write to socket'}}}}",
           id);
    expect_rolled_back(&c, d1, d2, a2, "failed", "Unable to write to socket");
    free(id);

    /* Cancelled while switching; a late word of the destination on it
     * changes nothing. */
    id = start(&c);
    report(&c, 1,
           "{'ports': {'w-0': 'up'}, 'vms': {'w': {'state': 'running', "
           "'migration': {'id': '%s', 'role': 'source', 'status': "
           "'pre-switchover'}}}}",
           id);
    call(c.f, &r, "POST", "/v1/vms/w/migrate/cancel", "{'now': true}");
    assert_int_equal(r.status, 400);
    reply_clear(&r);
    call(c.f, &r, "POST", "/v1/vms/w/migrate/cancel", "{}");
    assert_int_equal(r.status, 200);
    reply_clear(&r);
    report(&c, 2,
           "{'ports': {}, 'vms': {'w': {'state': 'running', 'migration': "
           "{'id': '%s', 'role': 'destination', 'status': 'completed', "
           "'activated': true}}}}",
           id);
    expect_rolled_back(&c, d1, d2, a2, "cancelled", "cancelled");
    free(id);

    /* Bad reports are refused whole, and change nothing. */
    id = start(&c);
    {
        static const char *const bad[] = {
            "{'id': 'x', 'role': 'both', 'status': 'active'}",
            "{'id': 'x', 'role': 'source', 'status': 'Active!'}",
            "{'id': 'x', 'role': 'source', 'status': 'active', "
            "'remaining_bytes': -1}",
            "{'id': 'x', 'role': 'source', 'status': 'active', 'extra': 1}",
            "{'role': 'source', 'status': 'active'}",
            "{'id': 'x', 'role': 'destination', 'status': 'listening', "
            "'uri': ''}",
            "{'id': 'x', 'role': 'destination', 'status': 'completed', "
            "'activated': 'yes'}",
            "'migration'",
        };

        for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
            char *text = xasprintf("{'ports': {}, 'vms': {'w': {'state': "
                                   "'incoming', 'migration': %s}}}",
                                   bad[i]);
            json_t *json = fixture_json(text);
            char *body = json_dumps(json, JSON_COMPACT);

            fixture_call(c.f, "PUT", "/v1/hosts/h2/port-status", c.agent[2],
                         body, NULL, &r);
            if (r.status != 400) {
                fail_msg("%s: expected 400, got %ld", body, r.status);
            }
            reply_clear(&r);
            json_decref(json);
            free(body);
            free(text);
        }
    }
    /* Another host's agent may not speak for h2. */
    fixture_call(c.f, "PUT", "/v1/hosts/h2/port-status", c.agent[1],
                 "{\"ports\": {}}", NULL, &r);
    assert_int_equal(r.status, 403);
    reply_clear(&r);
    assert_int_equal(count(c.f, "migration"), 1);
    call(c.f, &r, "POST", "/v1/vms/w/migrate/cancel", NULL);
    assert_int_equal(r.status, 200);
    reply_clear(&r);
    free(id);

    fixture_call(c.f, "GET", "/metrics", NULL, NULL, NULL, &r);
    assert_non_null(
        strstr(r.body, "fabric_migrations_total{result=\"cancelled\"} 3\n"));
    assert_non_null(
        strstr(r.body, "fabric_migrations_total{result=\"failed\"} 2\n"));
    reply_clear(&r);

    json_decref(d1);
    json_decref(d2);
    json_decref(a2);
    cloud_stop(&c);
}

/* What the destination's agent got. */
struct agent {
    struct MHD_Daemon *daemon; /* Its HTTP server. */
    char *url;                 /* "http://127.0.0.1:PORT". */
    char *path;                /* The last request's path. */
    char *auth;                /* Its Authorization. */
    char *body;                /* Its body. */
    size_t len;                /* Bytes of 'body'. */
};

static enum MHD_Result
agent_answer(void *a_, struct MHD_Connection *conn, const char *url,
             const char *method, const char *version, const char *data,
             size_t *size, void **con_cls)
{
    struct agent *a = a_;
    struct MHD_Response *resp;
    enum MHD_Result ret;
    static const char answer[] = "{\"imported\": 1}";

    (void) version;
    if (!*con_cls) {
        *con_cls = a;
        free(a->body);
        a->body = xzalloc(1);
        a->len = 0;
        return MHD_YES;
    }
    if (*size) {
        a->body = xrealloc(a->body, a->len + *size + 1);
        memcpy(a->body + a->len, data, *size);
        a->len += *size;
        a->body[a->len] = '\0';
        *size = 0;
        return MHD_YES;
    }
    free(a->path);
    free(a->auth);
    a->path = xasprintf("%s %s", method, url);
    a->auth = xstrdup(
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization")
            ?: "");
    resp = MHD_create_response_from_buffer(strlen(answer), (void *) answer,
                                           MHD_RESPMEM_PERSISTENT);
    ret = MHD_queue_response(conn, MHD_HTTP_OK, resp);
    MHD_destroy_response(resp);
    return ret;
}

static void
agent_start(struct agent *a)
{
    const union MHD_DaemonInfo *info;

    memset(a, 0, sizeof *a);
    a->daemon = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL,
                                 NULL, agent_answer, a, MHD_OPTION_END);
    assert_non_null(a->daemon);
    info = MHD_get_daemon_info(a->daemon, MHD_DAEMON_INFO_BIND_PORT);
    a->url = xasprintf("http://127.0.0.1:%u", info->port);
}

static void
agent_stop(struct agent *a)
{
    MHD_stop_daemon(a->daemon);
    free(a->url);
    free(a->path);
    free(a->auth);
    free(a->body);
}

static void
test_conntrack_relay(void **state)
{
    struct agent a;
    struct cloud c;
    struct reply r;
    char *id, *path, *expected;

    (void) state;
    agent_start(&a);
    cloud_start(&c, a.url);
    path = xasprintf("/v1/hosts/h1/migrations/nope/conntrack");
    fixture_call(c.f, "POST", path, c.agent[1], "{\"entries\": []}", NULL, &r);
    assert_int_equal(r.status, 404);
    reply_clear(&r);
    free(path);

    id = start(&c);
    path = xasprintf("/v1/hosts/h1/migrations/%s/conntrack", id);
    {
        static const char *const bad[] = {
            "{}",
            "{\"entries\": {}}",
            "{\"entries\": [], \"more\": 1}",
            "{\"entries\": [{\"port\": \"x-0\", \"key\": \"00\", "
            "\"value\": \"00\"}]}",
            "{\"entries\": [{\"port\": \"w-0\", \"key\": \"0\", "
            "\"value\": \"00\"}]}",
            "{\"entries\": [{\"port\": \"w-0\", \"key\": \"zz\", "
            "\"value\": \"00\"}]}",
            "{\"entries\": [{\"port\": \"w-0\", \"key\": \"00\"}]}",
        };

        for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
            fixture_call(c.f, "POST", path, c.agent[1], bad[i], NULL, &r);
            if (r.status != 400) {
                fail_msg("%s: expected 400, got %ld", bad[i], r.status);
            }
            reply_clear(&r);
        }
    }
    assert_null(a.path);
    /* Only the source's agent may send them. */
    fixture_call(c.f, "POST", path, c.agent[2], "{\"entries\": []}", NULL, &r);
    assert_int_equal(r.status, 403);
    reply_clear(&r);
    free(path);
    path = xasprintf("/v1/hosts/h2/migrations/%s/conntrack", id);
    fixture_call(c.f, "POST", path, c.agent[2], "{\"entries\": []}", NULL, &r);
    assert_int_equal(r.status, 409);
    reply_clear(&r);
    free(path);

    path = xasprintf("/v1/hosts/h1/migrations/%s/conntrack", id);
    fixture_call(c.f, "POST", path, c.agent[1],
                 "{\"entries\": [{\"port\": \"w-0\", \"key\": \"0a0b\", "
                 "\"value\": \"ff00\"}]}",
                 NULL, &r);
    if (r.status != 200) {
        fail_msg("relay: %ld %s", r.status, r.body);
    }
    fixture_expect_json(r.json, "{'imported': 1}");
    reply_clear(&r);
    expected = xasprintf("POST /v1/migrations/%s/conntrack", id);
    assert_string_equal(a.path, expected);
    assert_string_equal(a.auth, "Bearer " AGENT_TOKEN);
    {
        json_t *got = json_loads(a.body, 0, NULL);

        fixture_expect_json(got, "{'entries': [{'port': 'w-0', 'key': "
                                 "'0a0b', 'value': 'ff00'}]}");
        json_decref(got);
    }
    free(expected);
    free(path);
    free(id);
    cloud_stop(&c);
    agent_stop(&a);
}

/* Writes the last word of the agents on the migration of VM 'vm' as the
 * epoch, long before the controller started, keeping what they said
 * (if 'keep') or not. */
static void
silence_keeping(struct fixture *f, const char *vm, bool keep)
{
    struct store *store;
    struct store_txn *txn;
    struct store_obj obj;
    json_t *body;

    assert_int_equal(store_open(f->db, &store), 0);
    assert_int_equal(store_begin(store, true, &txn), 0);
    assert_int_equal(store_get(txn, "migration-progress", vm, &obj), 0);
    body = keep ? json_deep_copy(obj.body) : json_object();
    json_object_set_new(body, "touched_ms", json_integer(0));
    assert_int_equal(
        store_put(txn, "migration-progress", vm, body, STORE_ANY, NULL), 0);
    assert_int_equal(store_commit(txn, NULL), 0);
    store_obj_clear(&obj);
    json_decref(body);
    store_close(store);
}

static void
silence(struct fixture *f, const char *vm)
{
    silence_keeping(f, vm, false);
}

static void
silence_after(struct fixture *f, const char *vm)
{
    silence_keeping(f, vm, true);
}

static void
test_stalled(void **state)
{
    json_t *d1, *d2, *a2, *v = NULL;
    struct cloud c;
    char *id;

    (void) state;
    cloud_start(&c, NULL);
    d1 = doc(c.f, "h1");
    d2 = doc(c.f, "h2");
    a2 = allocated(c.f, "h2");
    id = start(&c);
    report(&c, 2,
           "{'ports': {}, 'vms': {'w': {'state': 'incoming', 'migration': "
           "{'id': '%s', 'role': 'destination', 'status': 'listening', "
           "'uri': 'tcp:192.0.2.2:5000'}}}}",
           id);
    /* The agents fall silent: the controller's ticker, every second,
     * fails it. */
    silence(c.f, "w");
    for (int i = 0; i < 100; i++) {
        json_decref(v);
        v = vm(c.f, "w");
        if (strcmp(str(v, "status"), "migrating")) {
            break;
        }
        usleep(100 * 1000);
    }
    json_decref(v);
    expect_rolled_back(&c, d1, d2, a2, "failed",
                       "no progress reported for 30 s (in state migrating)");
    free(id);

    /* Once the source's QEMU completed, silence rolls nothing back: the
     * destination runs the only copy of the guest. */
    id = start(&c);
    report(&c, 2,
           "{'ports': {}, 'vms': {'w': {'state': 'incoming', 'migration': "
           "{'id': '%s', 'role': 'destination', 'status': 'listening', "
           "'uri': 'tcp:192.0.2.2:5000'}}}}",
           id);
    report(&c, 1,
           "{'ports': {}, 'vms': {'w': {'state': 'running', 'migration': "
           "{'id': '%s', 'role': 'source', 'status': 'completed', "
           "'downtime_ms': 10, 'total_ms': 900}}}}",
           id);
    silence_after(c.f, "w");
    usleep(2500 * 1000);
    v = vm(c.f, "w");
    assert_string_equal(str(json_object_get(v, "migration"), "state"),
                        "switching");
    json_decref(v);
    json_decref(d1);
    json_decref(d2);
    json_decref(a2);
    free(id);
    cloud_stop(&c);
}

/* Hosts h2 and h3 heartbeat, saying that h1 does not answer them. */
static void
heartbeats(struct cloud *c)
{
    for (int i = 2; i <= 3; i++) {
        char *path = xasprintf("/v1/hosts/h%d/heartbeat", i);
        struct reply r;

        fixture_call(c->f, "POST", path, c->agent[i],
                     "{\"peers\": {\"h1\": {\"answers\": false}}}", NULL, &r);
        assert_int_equal(r.status, 200);
        reply_clear(&r);
        free(path);
    }
}

static void
test_ha_moved(void **state)
{
    const char *host = NULL;
    json_t *v = NULL, *d;
    struct cloud c;
    char *id;

    (void) state;
    cloud_start(&c, NULL);
    id = start(&c);
    report(&c, 2,
           "{'ports': {}, 'vms': {'w': {'state': 'incoming', 'migration': "
           "{'id': '%s', 'role': 'destination', 'status': 'listening', "
           "'uri': 'tcp:192.0.2.2:5000'}}}}",
           id);

    /* h1, the source, falls silent; the HA monitor restarts w
     * elsewhere, and the ticker ends its migration. */
    server_set_ha(c.f->server, 500, 0);
    for (int i = 0; i < 150; i++) {
        heartbeats(&c);
        json_decref(v);
        v = vm(c.f, "w");
        host = str(v, "host");
        if (strcmp(host, "h1")
            && strcmp(str(json_object_get(v, "migration"), "state"),
                      "preparing")
            && strcmp(str(json_object_get(v, "migration"), "state"),
                      "migrating")) {
            break;
        }
        usleep(100 * 1000);
    }
    assert_string_not_equal(host, "h1");
    assert_string_equal(str(json_object_get(v, "migration"), "state"),
                        "failed");
    if (!strstr(str(json_object_get(json_object_get(v, "migration"), "result"),
                    "error"),
                "was moved to host")) {
        fail_msg("%s", json_dumps(v, 0));
    }
    assert_int_equal(count(c.f, "migration"), 0);
    /* Its new host runs it once, without "incoming". */
    d = doc(c.f, host);
    {
        const json_t *e;
        size_t i, n = 0;

        json_array_foreach(json_object_get(d, "vms"), i, e)
        {
            if (!strcmp(str(e, "name"), "w")) {
                assert_null(json_object_get(e, "incoming"));
                n++;
            }
        }
        assert_int_equal(n, 1);
    }
    json_decref(d);
    json_decref(v);
    free(id);
    cloud_stop(&c);
}

static void
test_list(void **state)
{
    struct cloud c;
    json_t *page;
    char *path;

    (void) state;
    cloud_start(&c, NULL);
    assert_int_equal(call(c.f, NULL, "POST", "/v1/vms",
                          "{'name': 'v', 'vcpus': 1, 'memory_mb': 128, "
                          "'image': 'tiny', 'host': 'h1'}"),
                     201);
    report(&c, 1,
           "{'ports': {}, 'vms': {'w': {'state': 'running'}, 'v': "
           "{'state': 'running'}}}");
    assert_int_equal(call(c.f, NULL, "POST", "/v1/vms/w/migrate", "{}"), 202);
    assert_int_equal(call(c.f, NULL, "POST", "/v1/vms/v/migrate", "{}"), 202);
    page = get(c.f, "/v1/migrations?limit=1");
    assert_int_equal(json_array_size(json_object_get(page, "items")), 1);
    assert_string_equal(
        str(json_array_get(json_object_get(page, "items"), 0), "vm"), "v");
    assert_string_equal(str(page, "next_page_token"), "v");
    json_decref(page);
    path = xasprintf("/v1/migrations?limit=1&page_token=v");
    page = get(c.f, path);
    assert_int_equal(json_array_size(json_object_get(page, "items")), 1);
    assert_string_equal(
        str(json_array_get(json_object_get(page, "items"), 0), "vm"), "w");
    assert_null(json_object_get(page, "next_page_token"));
    json_decref(page);
    free(path);
    assert_int_equal(call(c.f, NULL, "GET", "/v1/migrations?limit=0", NULL),
                     400);
    assert_int_equal(call(c.f, NULL, "GET", "/v1/migrations?host=h1", NULL),
                     400);
    cloud_stop(&c);
}

static void
test_restart(void **state)
{
    struct server_config sc = {
        .listen = "127.0.0.1:0",
        .heartbeat_timeout = 30,
        .ha_lease_ms = 600000,
    };
    struct cloud c;
    json_t *v;
    char *id;

    (void) state;
    cloud_start(&c, NULL);
    id = start(&c);
    report(&c, 2,
           "{'ports': {}, 'vms': {'w': {'state': 'incoming', 'migration': "
           "{'id': '%s', 'role': 'destination', 'status': 'listening', "
           "'uri': 'tcp:192.0.2.2:5000'}}}}",
           id);

    /* The controller restarts, on another port. */
    server_stop(c.f->server);
    sc.db = c.f->db;
    sc.bootstrap_token_file = c.f->token_file;
    sc.storage = c.f->storage;
    assert_int_equal(server_start(&sc, &c.f->server), 0);
    free(c.f->base);
    c.f->base = xasprintf("http://127.0.0.1:%u", server_port(c.f->server));

    v = vm(c.f, "w");
    assert_string_equal(str(v, "status"), "migrating");
    assert_string_equal(str(json_object_get(v, "migration"), "state"),
                        "migrating");
    json_decref(v);
    report(&c, 2,
           "{'ports': {'w-0': 'up'}, 'vms': {'w': {'state': 'running', "
           "'migration': {'id': '%s', 'role': 'destination', 'status': "
           "'completed', 'activated': true}}}}",
           id);
    v = vm(c.f, "w");
    assert_string_equal(str(v, "host"), "h2");
    assert_string_equal(str(json_object_get(v, "migration"), "state"),
                        "completed");
    json_decref(v);
    free(id);
    cloud_stop(&c);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_happy_path),
        cmocka_unit_test(test_failure_and_cancel),
        cmocka_unit_test(test_conntrack_relay),
        cmocka_unit_test(test_stalled),
        cmocka_unit_test(test_list),
        cmocka_unit_test(test_ha_moved),
        cmocka_unit_test(test_restart),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
