/* The HA monitor (controller/ha.c) on a real SQLite store: a host is
 * declared failed only when its heartbeats stop for the lease and the
 * fence margin and a majority of its reporting peers say its agent does
 * not answer their probes; a host cut from the controller but answering
 * its peers is never failed; a controller that has just started waits;
 * the VMs of a failed host are restarted elsewhere by priority, once,
 * those with "ha" "off" stay, and one that fits nowhere waits with the
 * scheduler's reasons until its host comes back. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "controller/api.h"
#include "controller/ha.h"
#include "controller/store.h"
#include "tests/controller/fixture.h"
#include "utils/util.h"

/* JSON written with ' for ", as fixture_json() reads it. */
#define J(TEXT) fixture_json(TEXT)

/* The short lease and margin of these tests, ms. */
#define LEASE 400
#define MARGIN 100

/* Three hosts h1..h3 of 2 vCPUs and 1 GiB, image "tiny", network "blue",
 * a lease of LEASE ms, and a controller that has run long enough to
 * declare failures. */
static void
cloud(struct fixture_env *env)
{
    struct store_txn *txn;
    json_t *image =
        json_pack("{sssssI}", "status", "active", "format", "qcow2",
                  "virtual_size_bytes", (json_int_t) 1 << 30);

    fixture_create(env, api_network_create,
                   "{'name': 'blue', 'cidr': '10.0.0.0/24'}");
    assert_int_equal(store_begin(env->store, true, &txn), 0);
    assert_int_equal(store_put(txn, "image", "tiny", image, STORE_ANY, NULL),
                     0);
    assert_int_equal(store_commit(txn, NULL), 0);
    json_decref(image);
    for (int i = 1; i <= 3; i++) {
        char *text = xasprintf("{'name': 'h%d', 'vtep': '192.0.2.%d', "
                               "'underlay': 'eth0', 'capacity': {'vcpus': 2, "
                               "'memory_mb': 1024, 'disk_gb': 100}}",
                               i, i);

        fixture_create(env, api_host_register, text);
        free(text);
    }
    atomic_store(&env->api.ha_lease_ms, LEASE);
    atomic_store(&env->api.ha_fence_margin_ms, MARGIN);
    env->api.started_ms -= 10 * (LEASE + MARGIN);
}

/* Host 'host' heartbeats, saying whether each of 'n' peers (name, then
 * bool answers) answers its probes. */
static void
beat(struct fixture_env *env, const char *host, int n, ...)
{
    json_t *in = json_object(), *peers = json_object();
    struct api_error err = {0};
    va_list args;

    va_start(args, n);
    for (int i = 0; i < n; i++) {
        const char *peer = va_arg(args, const char *);
        int answers = va_arg(args, int);

        json_object_set_new(peers, peer,
                            json_pack("{sb}", "answers", answers));
    }
    va_end(args);
    json_object_set_new(in, "peers", peers);
    assert_int_equal(fixture_heartbeat(env, host, in, &err), 200);
    json_decref(in);
}

/* Waits out the lease and the margin of a host that went silent, while
 * h2 and h3 heartbeat with what they say of h1 ('h2_sees' and 'h3_sees')
 * and of each other. */
static void
silence_h1(struct fixture_env *env, bool h2_sees, bool h3_sees)
{
    for (int i = 0; i < 6; i++) {
        usleep((LEASE + MARGIN) * 1000 / 4);
        beat(env, "h2", 2, "h1", h2_sees, "h3", true);
        beat(env, "h3", 2, "h1", h3_sees, "h2", true);
    }
}

static const char *
status_of(struct fixture_env *env, const char *host)
{
    static char buf[32];
    struct api_error err = {0};
    json_t *out;

    assert_int_equal(api_host_get(&env->api, host, &out, &err), 200);
    snprintf(buf, sizeof buf, "%s",
             json_string_value(json_object_get(out, "status")));
    json_decref(out);
    return buf;
}

/* The host VM 'name' is on (a new string). */
static char *
vm_host(struct fixture_env *env, const char *name)
{
    struct api_error err = {0};
    json_t *out;
    char *host;

    assert_int_equal(api_vm_get(&env->api, name, &out, &err), 200);
    host = xstrdup(json_string_value(json_object_get(out, "host")));
    json_decref(out);
    return host;
}

static void
expect_vm(struct fixture_env *env, const char *name, const char *host,
          const char *status, const char *reason_part)
{
    struct api_error err = {0};
    const char *reason;
    json_t *out;

    assert_int_equal(api_vm_get(&env->api, name, &out, &err), 200);
    assert_string_equal(json_string_value(json_object_get(out, "host")), host);
    assert_string_equal(json_string_value(json_object_get(out, "status")),
                        status);
    reason = json_string_value(json_object_get(out, "status_reason"));
    if (reason_part && (!reason || !strstr(reason, reason_part))) {
        fail_msg("vm %s: status_reason \"%s\" lacks \"%s\"", name,
                 reason ? reason : "(none)", reason_part);
    }
    json_decref(out);
}

/* A host cut from the controller whose agent answers its peers is
 * unreachable, never failed, and keeps its VMs. */
static void
test_unreachable_is_not_failed(void **state)
{
    struct fixture_env *env = *state;
    struct ha *ha = ha_create(&env->api);
    struct ha_counts c;
    char *host;

    cloud(env);
    fixture_create(env, api_vm_create,
                   "{'name': 'web', 'vcpus': 1, 'memory_mb': 256, "
                   "'image': 'tiny', 'host': 'h1'}");
    beat(env, "h1", 2, "h2", true, "h3", true);
    silence_h1(env, true, true);
    ha_run(ha, (uint64_t) time_msec());
    assert_false(api_host_is_failed(&env->api, "h1"));

    /* A split vote is no majority either. */
    silence_h1(env, false, true);
    ha_run(ha, (uint64_t) time_msec());
    assert_false(api_host_is_failed(&env->api, "h1"));
    host = vm_host(env, "web");
    assert_string_equal(host, "h1");
    free(host);
    ha_counts(ha, &c);
    assert_int_equal(c.host_failures, 0);
    assert_int_equal(c.restarts_ok, 0);

    /* Heard from within the lease and margin: nothing, whatever the
     * peers say. */
    beat(env, "h1", 0);
    beat(env, "h2", 1, "h1", false);
    beat(env, "h3", 1, "h1", false);
    ha_run(ha, (uint64_t) time_msec());
    assert_false(api_host_is_failed(&env->api, "h1"));
    ha_destroy(ha);
}

/* A controller that has just started declares nothing for one lease and
 * margin, even of a host it has never heard from. */
static void
test_new_controller_waits(void **state)
{
    struct fixture_env *env = *state;
    struct ha *ha = ha_create(&env->api);

    cloud(env);
    env->api.started_ms = (uint64_t) time_msec();
    ha_run(ha, (uint64_t) time_msec() + LEASE + MARGIN - 50);
    assert_false(api_host_is_failed(&env->api, "h1"));
    assert_string_equal(status_of(env, "h1"), "ready");
    ha_run(ha, (uint64_t) time_msec() + LEASE + MARGIN + 50);
    assert_true(api_host_is_failed(&env->api, "h1"));
    ha_destroy(ha);
}

static void
test_failed_host_restarts_by_priority(void **state)
{
    struct fixture_env *env = *state;
    struct ha *ha = ha_create(&env->api);
    struct ha_counts c;
    json_t *doc;
    char *a, *b;

    cloud(env);
    /* h2 and h3 have room for one 512M VM each after "base": of the three
     * HA VMs of h1, the two of priority 500 go first, in name order, and
     * "low" waits. */
    fixture_create(env, api_vm_create,
                   "{'name': 'base2', 'vcpus': 1, 'memory_mb': 512, "
                   "'image': 'tiny', 'host': 'h2'}");
    fixture_create(env, api_vm_create,
                   "{'name': 'base3', 'vcpus': 1, 'memory_mb': 512, "
                   "'image': 'tiny', 'host': 'h3'}");
    fixture_create(env, api_vm_create,
                   "{'name': 'low', 'vcpus': 1, 'memory_mb': 300, "
                   "'image': 'tiny', 'host': 'h1', 'ha_priority': 10}");
    fixture_create(env, api_vm_create,
                   "{'name': 'zeta', 'vcpus': 1, 'memory_mb': 300, "
                   "'image': 'tiny', 'host': 'h1', 'ha_priority': 500, "
                   "'nics': [{'network': 'blue'}]}");
    fixture_create(env, api_vm_create,
                   "{'name': 'alpha', 'vcpus': 1, 'memory_mb': 300, "
                   "'image': 'tiny', 'host': 'h1', 'ha_priority': 500}");
    fixture_create(env, api_vm_create,
                   "{'name': 'keep', 'vcpus': 1, 'memory_mb': 64, "
                   "'image': 'tiny', 'host': 'h1', 'ha': 'off'}");
    beat(env, "h1", 2, "h2", true, "h3", true);
    silence_h1(env, false, false);

    ha_run(ha, (uint64_t) time_msec());
    assert_true(api_host_is_failed(&env->api, "h1"));
    assert_string_equal(status_of(env, "h1"), "failed");
    a = vm_host(env, "alpha");
    b = vm_host(env, "zeta");
    assert_true(!strcmp(a, "h2") || !strcmp(a, "h3"));
    assert_true(!strcmp(b, "h2") || !strcmp(b, "h3"));
    assert_string_not_equal(a, b);
    free(a);
    free(b);
    expect_vm(env, "low", "h1", "pending", "ha: waiting for capacity: ");
    expect_vm(env, "low", "h1", "pending", "memory");
    expect_vm(env, "keep", "h1", "failed", "ha off");
    ha_counts(ha, &c);
    assert_int_equal(c.host_failures, 1);
    assert_int_equal(c.restarts_ok, 2);
    assert_int_equal(c.restarts_failed, 1);
    assert_int_equal(c.waiting, 1);

    /* Exactly once: another pass moves nothing and counts nothing. */
    ha_run(ha, (uint64_t) time_msec());
    ha_counts(ha, &c);
    assert_int_equal(c.host_failures, 1);
    assert_int_equal(c.restarts_ok, 2);
    assert_int_equal(c.restarts_failed, 1);
    doc = fixture_compute(env, "h1");
    assert_int_equal(json_object_size(json_object_get(doc, "moved_vms")), 2);
    assert_non_null(
        json_object_get(json_object_get(doc, "moved_vms"), "zeta"));
    json_decref(doc);

    /* Room appears (base2 goes): "low" follows on the next pass. */
    assert_int_equal(api_vm_delete(&env->api, "base2", NULL, STORE_ANY,
                                   &(struct api_error){0}),
                     204);
    ha_run(ha, (uint64_t) time_msec());
    a = vm_host(env, "low");
    assert_string_equal(a, "h2");
    free(a);
    ha_counts(ha, &c);
    assert_int_equal(c.restarts_ok, 3);
    assert_int_equal(c.waiting, 0);

    /* h1's agent comes back: ready, and it keeps "keep". */
    beat(env, "h1", 0);
    assert_false(api_host_is_failed(&env->api, "h1"));
    assert_string_equal(status_of(env, "h1"), "ready");
    ha_run(ha, (uint64_t) time_msec());
    a = vm_host(env, "keep");
    assert_string_equal(a, "h1");
    free(a);
    ha_destroy(ha);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        FIXTURE_ENV_TEST(test_unreachable_is_not_failed),
        FIXTURE_ENV_TEST(test_new_controller_waits),
        FIXTURE_ENV_TEST(test_failed_host_restarts_by_priority),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
