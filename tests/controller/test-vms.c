/* VMs and their placement: /v1/vms and /v1/vm-groups on a real SQLite
 * store, the scheduler's filters and weighers through the API (capacity
 * and overcommit, maintenance, pins, strict and preferred affinity and
 * anti-affinity), bad input refused with nothing half-created, the
 * desired-state document and its diff, status from agents' reports, and
 * 32 concurrent creates over real HTTP that never overcommit a host. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "agent/state.h"
#include "controller/api.h"
#include "controller/desired.h"
#include "controller/scheduler.h"
#include "controller/store.h"
#include "tests/controller/fixture.h"
#include "utils/util.h"

/* JSON written with ' for ", as fixture_json() reads it. */
#define J(TEXT) fixture_json(TEXT)

/* Writes image 'name' into the store as the images API leaves it:
 * 'status' "active" (with a 1 GiB disk) or "queued". */
static void
put_image(struct fixture_env *env, const char *name, const char *status)
{
    struct store_txn *txn;
    json_t *body = json_pack("{sssssI}", "status", status, "format", "qcow2",
                             "virtual_size_bytes", (json_int_t) 1 << 30);

    assert_int_equal(store_begin(env->store, true, &txn), 0);
    assert_int_equal(store_put(txn, "image", name, body, STORE_ANY, NULL), 0);
    assert_int_equal(store_commit(txn, NULL), 0);
    json_decref(body);
}

/* Registers host 'name' (VTEP 192.0.2.'n') with 'vcpus' and 'memory_mb'
 * and 100 GiB of disk. */
static void
add_host(struct fixture_env *env, const char *name, int n, int vcpus,
         int memory_mb)
{
    char *text = xasprintf("{'name': '%s', 'vtep': '192.0.2.%d', "
                           "'underlay': 'eth0', 'capacity': {'vcpus': %d, "
                           "'memory_mb': %d, 'disk_gb': 100}, "
                           "'hypervisor': {'driver': 'qemu', 'accel': 'tcg', "
                           "'reason': 'no /dev/kvm'}}",
                           name, n, vcpus, memory_mb);

    fixture_create(env, api_host_register, text);
    free(text);
}

/* A cloud: network "blue", image "tiny", and hosts h1..h'n_hosts' with
 * 'vcpus' and 'memory_mb' each. */
static void
cloud(struct fixture_env *env, int n_hosts, int vcpus, int memory_mb)
{
    fixture_create(env, api_network_create,
                   "{'name': 'blue', 'cidr': '10.0.0.0/24'}");
    put_image(env, "tiny", "active");
    for (int i = 1; i <= n_hosts; i++) {
        char name[16];

        snprintf(name, sizeof name, "h%d", i);
        add_host(env, name, i, vcpus, memory_mb);
    }
}

/* Creates 'text' with api_vm_create(); returns the status, and the VM in
 * '*out' if 'out' is not NULL. */
static int
try_vm(struct fixture_env *env, const char *text, json_t **out,
       struct api_error *err)
{
    json_t *in = J(text), *result = NULL;
    int status = api_vm_create(&env->api, in, &result, err);

    json_decref(in);
    if (out) {
        *out = result;
    } else {
        json_decref(result);
    }
    return status;
}

/* Creates VM 'text' and returns the host it was placed on. */
static char *
vm_on(struct fixture_env *env, const char *text)
{
    struct api_error err = {0};
    json_t *out;
    char *host;
    int status = try_vm(env, text, &out, &err);

    if (status != 201) {
        fail_msg("%s: expected 201, got %d (%s)", text, status,
                 err.message ? err.message : "");
    }
    host = xstrdup(json_string_value(json_object_get(out, "host")));
    json_decref(out);
    return host;
}

/* Counts every object of the kinds a VM creation writes but the
 * "net-hosts" count of the network's flood index, which a network keeps
 * once it had a port. */
static size_t
count_objects(struct fixture_env *env)
{
    static const char *const kinds[] = {
        "vm",
        "port",
        "ip",
        "mac",
        "net-port",
        "host-port",
        "device",
        "net-host",
        "flood-slack",
        "alloc",
        "host-vm",
        "image-user",
        "vm-group-member",
        "port-identity",
        "identity",
    };
    struct store_txn *txn;
    size_t total = 0;

    assert_int_equal(store_begin(env->store, false, &txn), 0);
    for (size_t i = 0; i < ARRAY_SIZE(kinds); i++) {
        size_t n;

        assert_int_equal(store_count(txn, kinds[i], &n), 0);
        total += n;
    }
    store_abort(txn);
    return total;
}

/* Asserts that creating 'text' fails with 'status' naming 'field' (unless
 * NULL) with a message that contains each of the NULL-terminated strings,
 * and that it left no object behind. */
static void
expect_refused(struct fixture_env *env, const char *text, int status,
               const char *field, ...)
{
    size_t before = count_objects(env);
    struct api_error err = {0};
    int got = try_vm(env, text, NULL, &err);
    const char *s;
    va_list args;

    if (got != status) {
        fail_msg("%s: expected %d, got %d (%s)", text, status, got,
                 err.message ? err.message : "no message");
    }
    if (field && (!err.field || strcmp(err.field, field))) {
        fail_msg("%s: expected field %s, got %s (%s)", text, field,
                 err.field ? err.field : "none", err.message);
    }
    va_start(args, field);
    while ((s = va_arg(args, const char *))) {
        if (!strstr(err.message, s)) {
            fail_msg("%s: message \"%s\" lacks \"%s\"", text, err.message, s);
        }
    }
    va_end(args);
    assert_int_equal(count_objects(env), before);
    api_error_clear(&err);
}

/* Reads object ('kind', 'name') into a new reference, NULL if absent. */
static json_t *
read_object(struct fixture_env *env, const char *kind, const char *name)
{
    struct store_txn *txn;
    struct store_obj obj;
    json_t *body = NULL;

    assert_int_equal(store_begin(env->store, false, &txn), 0);
    if (!store_get(txn, kind, name, &obj)) {
        body = json_incref(obj.body);
        store_obj_clear(&obj);
    }
    store_abort(txn);
    return body;
}

/* Host 'name''s "allocated", as GET /v1/hosts/NAME shows it. */
static json_t *
allocated(struct fixture_env *env, const char *name)
{
    struct api_error err = {0};
    json_t *out, *alloc;

    assert_int_equal(api_host_get(&env->api, name, &out, &err), 200);
    alloc = json_incref(json_object_get(out, "allocated"));
    json_decref(out);
    return alloc;
}

static void
delete_vm(struct fixture_env *env, const char *name)
{
    struct api_error err = {0};

    assert_int_equal(api_vm_delete(&env->api, name, NULL, STORE_ANY, &err),
                     204);
}

static void
test_create_and_delete(void **state)
{
    struct fixture_env *env = *state;
    size_t before;
    struct api_error err = {0};
    json_t *vm, *port, *alloc, *in, *out;
    const char *uuid, *device;
    char want[32];

    cloud(env, 1, 4, 4096);
    fixture_create(env, api_network_create,
                   "{'name': 'red', 'cidr': '10.1.0.0/24'}");
    before = count_objects(env);
    assert_int_equal(
        try_vm(
            env,
            "{'name': 'web1', 'vcpus': 2, 'memory_mb': 512, 'image': "
            "'tiny', 'nics': [{'network': 'blue', 'labels': {'tier': "
            "'web'}}, {'network': 'red', 'ip': '10.1.0.9'}], "
            "'ssh_keys': ['ssh-ed25519 AAAA me'], 'user_data': '#!/bin/sh'}",
            &vm, &err),
        201);
    uuid = json_string_value(json_object_get(vm, "uuid"));
    assert_non_null(uuid);
    assert_int_equal(strlen(uuid), 36);
    assert_string_equal(json_string_value(json_object_get(vm, "host")), "h1");
    assert_string_equal(json_string_value(json_object_get(vm, "status")),
                        "scheduled");
    assert_string_equal(json_string_value(json_object_get(vm, "power")),
                        "running");
    assert_string_equal(json_string_value(json_object_get(vm, "hostname")),
                        "web1");
    assert_int_equal(json_integer_value(json_object_get(vm, "disk_gb")), 1);
    assert_int_equal(json_array_size(json_object_get(vm, "nics")), 2);

    /* Each NIC is a port VM-N on the VM's host, with the tap's name. */
    snprintf(want, sizeof want, "fv%.8s1", uuid);
    device = json_string_value(json_object_get(
        json_array_get(json_object_get(vm, "nics"), 1), "device"));
    assert_string_equal(device, want);
    assert_string_equal(
        json_string_value(json_object_get(
            json_array_get(json_object_get(vm, "nics"), 1), "ip")),
        "10.1.0.9");
    assert_int_equal(api_port_get(&env->api, "web1-0", &port, &err), 200);
    assert_string_equal(json_string_value(json_object_get(port, "vm")),
                        "web1");
    assert_string_equal(json_string_value(json_object_get(port, "host")),
                        "h1");
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(port, "labels"), "tier")),
                        "web");
    json_decref(port);

    alloc = allocated(env, "h1");
    fixture_expect_json(alloc, "{'vcpus': 2, 'memory_mb': 512, 'disk_gb': 1, "
                               "'vms': 1}");
    json_decref(alloc);
    json_decref(read_object(env, "image-user", "tiny/web1"));
    assert_non_null(read_object(env, "image-user", "tiny/web1"));
    json_decref(read_object(env, "image-user", "tiny/web1"));

    /* A VM's port goes with its VM: neither deleted nor moved alone. */
    assert_int_equal(
        api_port_delete(&env->api, "web1-0", NULL, STORE_ANY, &err), 409);
    assert_non_null(strstr(err.message, "NIC of VM \"web1\""));
    in = J("{'host': 'h2'}");
    assert_int_equal(
        api_port_patch(&env->api, "web1-1", in, STORE_ANY, &out, &err), 409);
    assert_string_equal(err.field, "host");
    json_decref(in);
    api_error_clear(&err);

    /* The same name twice is refused, and so is deleting the host. */
    expect_refused(env,
                   "{'name': 'web1', 'vcpus': 1, 'memory_mb': 64, 'image': "
                   "'tiny'}",
                   409, "name", "already exists", NULL);
    assert_int_equal(api_host_delete(&env->api, "h1", NULL, STORE_ANY, &err),
                     409);
    assert_non_null(strstr(err.message, "still has"));
    api_error_clear(&err);

    /* Delete takes the VM, its ports and its claim away, all at once. */
    delete_vm(env, "web1");
    assert_int_equal(count_objects(env), before);
    assert_int_equal(api_port_get(&env->api, "web1-0", &port, &err), 404);
    alloc = allocated(env, "h1");
    fixture_expect_json(alloc, "{'vcpus': 0, 'memory_mb': 0, 'disk_gb': 0, "
                               "'vms': 0}");
    json_decref(alloc);
    assert_int_equal(api_vm_delete(&env->api, "web1", NULL, STORE_ANY, &err),
                     404);
    api_error_clear(&err);
    json_decref(vm);
}

static void
test_bad_input(void **state)
{
    struct fixture_env *env = *state;
    struct api_error err = {0};
    json_t *port;

    cloud(env, 1, 4, 4096);
    put_image(env, "half", "queued");
    expect_refused(env,
                   "{'name': 'a', 'vcpus': 1, 'memory_mb': 64, "
                   "'image': 'nope'}",
                   400, "image", "image \"nope\": no such image", NULL);
    expect_refused(env,
                   "{'name': 'a', 'vcpus': 1, 'memory_mb': 64, "
                   "'image': 'half'}",
                   409, "image", "is queued, not active", NULL);
    expect_refused(env,
                   "{'name': 'a', 'vcpus': 1, 'memory_mb': 0, "
                   "'image': 'tiny'}",
                   400, "memory_mb", "memory_mb 0: must be 1..", NULL);
    expect_refused(env,
                   "{'name': 'a', 'vcpus': 1, 'memory_mb': 10485760, "
                   "'image': 'tiny'}",
                   400, "memory_mb", "memory_mb 10485760", NULL);
    expect_refused(env,
                   "{'name': 'a', 'vcpus': 0, 'memory_mb': 64, "
                   "'image': 'tiny'}",
                   400, "vcpus", "vcpus 0: must be 1..", NULL);
    expect_refused(env,
                   "{'name': 'a', 'vcpus': 1, 'memory_mb': 64, "
                   "'image': 'tiny', 'disk_gb': 0}",
                   400, "disk_gb", NULL);
    expect_refused(env,
                   "{'name': 'a', 'vcpus': '1', 'memory_mb': 64, "
                   "'image': 'tiny'}",
                   400, "vcpus", "expected an integer", NULL);
    expect_refused(env, "{'name': 'a', 'memory_mb': 64, 'image': 'tiny'}", 400,
                   "vcpus", "required", NULL);
    expect_refused(env,
                   "{'name': 'a', 'vcpus': 1, 'memory_mb': 64, "
                   "'image': 'tiny', 'nics': [{'network': 'blue'}, "
                   "{'network': 'green'}]}",
                   400, "nics[1].network", "no such network", NULL);
    expect_refused(env,
                   "{'name': 'a', 'vcpus': 1, 'memory_mb': 64, "
                   "'image': 'tiny', 'nics': [{'network': 'blue', "
                   "'mac': '02:00:00:00:00:01'}]}",
                   400, "nics[0].mac", "unknown field", NULL);
    expect_refused(env,
                   "{'name': 'a', 'vcpus': 1, 'memory_mb': 64, "
                   "'image': 'tiny', 'nics': [{'network': 'blue', "
                   "'ip': '10.9.0.1'}]}",
                   400, "nics[0].ip", "not inside network", NULL);
    expect_refused(env,
                   "{'name': 'a', 'vcpus': 1, 'memory_mb': 64, "
                   "'image': 'tiny', 'nics': [{'network': 'blue'}, "
                   "{'network': 'blue'}, {'network': 'blue'}, "
                   "{'network': 'blue'}, {'network': 'blue'}, "
                   "{'network': 'blue'}, {'network': 'blue'}, "
                   "{'network': 'blue'}, {'network': 'blue'}]}",
                   400, "nics", "9 of them (expected at most 8)", NULL);
    expect_refused(env,
                   "{'name': 'a', 'vcpus': 1, 'memory_mb': 64, "
                   "'image': 'tiny', 'power': 'off'}",
                   400, "power", NULL);
    expect_refused(env,
                   "{'name': 'a', 'vcpus': 1, 'memory_mb': 64, "
                   "'image': 'tiny', 'groups': ['nope']}",
                   400, "groups", "no such VM group", NULL);
    expect_refused(env,
                   "{'name': 'a', 'vcpus': 1, 'memory_mb': 64, "
                   "'image': 'tiny', 'host': 'h9'}",
                   400, "host", "no such host", NULL);
    expect_refused(env,
                   "{'name': 'a', 'vcpus': 1, 'memory_mb': 64, "
                   "'image': 'tiny', 'placement': 'random'}",
                   400, "placement", NULL);
    expect_refused(env,
                   "{'name': 'a', 'vcpus': 1, 'memory_mb': 64, "
                   "'image': 'tiny', 'ssh_keys': ['a\\nb']}",
                   400, "ssh_keys", NULL);
    expect_refused(env,
                   "{'name': 'a', 'vcpus': 1, 'memory_mb': 64, "
                   "'image': 'tiny', 'uuid': 'x'}",
                   400, "uuid", "read-only", NULL);
    expect_refused(
        env,
        "{'name': "
        "'a23456789012345678901234567890123456789012345678901234567890"
        "12', 'vcpus': 1, 'memory_mb': 64, 'image': 'tiny'}",
        400, "name", "at most 61", NULL);

    /* A NIC whose port name is taken fails after the first NIC's port was
     * made: the whole VM is refused, that port too. */
    fixture_create(env, api_port_create, "{'name': 'a-1', 'network': 'blue'}");
    expect_refused(env,
                   "{'name': 'a', 'vcpus': 1, 'memory_mb': 64, "
                   "'image': 'tiny', 'nics': [{'network': 'blue'}, "
                   "{'network': 'blue'}]}",
                   409, "nics[1].name", "port \"a-1\"", "already exists",
                   NULL);
    assert_int_equal(api_port_get(&env->api, "a-0", &port, &err), 404);
    api_error_clear(&err);
}

static void
test_overcommit(void **state)
{
    struct fixture_env *env = *state;
    struct api_error err = {0};
    json_t *in, *out;

    /* 2 vCPUs at the default 4.0 are 8; 1 GiB at 1.0 is 1 GiB. */
    cloud(env, 1, 2, 1024);
    for (int i = 0; i < 8; i++) {
        char *text = xasprintf("{'name': 'v%d', 'vcpus': 1, 'memory_mb': 64, "
                               "'image': 'tiny'}",
                               i);

        free(vm_on(env, text));
        free(text);
    }
    expect_refused(env,
                   "{'name': 'v8', 'vcpus': 1, 'memory_mb': 64, "
                   "'image': 'tiny'}",
                   409, NULL, "no host can take it",
                   "h1: vcpus 0 free (2 x 4, 8 allocated), needs 1", NULL);
    expect_refused(env,
                   "{'name': 'big', 'vcpus': 1, 'memory_mb': 1024, "
                   "'image': 'tiny'}",
                   409, NULL, "h1: vcpus 0 free", NULL);

    /* An admin raises the CPU ratio: the host takes more. */
    out =
        fixture_patch(env, api_host_patch, "h1", "{'overcommit': {'cpu': 8}}");
    fixture_expect_json(json_object_get(out, "overcommit"),
                        "{'cpu': 8.0, 'memory': 1.0, 'disk': 1.0}");
    json_decref(out);
    free(vm_on(env, "{'name': 'v8', 'vcpus': 1, 'memory_mb': 64, "
                    "'image': 'tiny'}"));
    /* Memory is not overcommitted by default: 9 x 64M used, 448M left. */
    expect_refused(env,
                   "{'name': 'big', 'vcpus': 1, 'memory_mb': 512, "
                   "'image': 'tiny'}",
                   409, NULL, "h1: memory 448M free, needs 512M", NULL);
    expect_refused(env,
                   "{'name': 'big', 'vcpus': 1, 'memory_mb': 2048, "
                   "'image': 'tiny'}",
                   409, NULL, "h1: memory 448M free, needs 2G", NULL);
    /* Nor is disk: 100 GiB, 9 used. */
    expect_refused(env,
                   "{'name': 'big', 'vcpus': 1, 'memory_mb': 64, "
                   "'image': 'tiny', 'disk_gb': 92}",
                   409, NULL, "h1: disk 91G free, needs 92G", NULL);

    /* Bad ratios are refused. */
    in = J("{'overcommit': {'cpu': 0}}");
    assert_int_equal(
        api_host_patch(&env->api, "h1", in, STORE_ANY, &out, &err), 400);
    assert_string_equal(err.field, "overcommit");
    json_decref(in);
    in = J("{'overcommit': {'gpu': 2}}");
    assert_int_equal(
        api_host_patch(&env->api, "h1", in, STORE_ANY, &out, &err), 400);
    json_decref(in);
    in = J("{'allocated': {'vcpus': 0}}");
    assert_int_equal(
        api_host_patch(&env->api, "h1", in, STORE_ANY, &out, &err), 400);
    assert_string_equal(err.field, "allocated");
    json_decref(in);
    api_error_clear(&err);

    /* A stopped VM keeps its claim (as Nova's); a deleted one frees it. */
    in = J("{}");
    assert_int_equal(api_vm_action(&env->api, "v0", "stop", in, &out, &err),
                     200);
    json_decref(out);
    json_decref(in);
    out = allocated(env, "h1");
    assert_int_equal(json_integer_value(json_object_get(out, "vcpus")), 9);
    json_decref(out);
    delete_vm(env, "v0");
    out = allocated(env, "h1");
    fixture_expect_json(out, "{'vcpus': 8, 'memory_mb': 512, 'disk_gb': 8, "
                             "'vms': 8}");
    json_decref(out);
}

static void
test_anti_affinity(void **state)
{
    struct fixture_env *env = *state;
    char *hosts[3];

    cloud(env, 3, 8, 8192);
    fixture_create(env, api_vm_group_create,
                   "{'name': 'db', 'policy': 'anti-affinity'}");
    for (int i = 0; i < 3; i++) {
        char *text = xasprintf("{'name': 'db%d', 'vcpus': 1, 'memory_mb': "
                               "256, 'image': 'tiny', 'groups': ['db']}",
                               i);

        hosts[i] = vm_on(env, text);
        free(text);
    }
    assert_string_not_equal(hosts[0], hosts[1]);
    assert_string_not_equal(hosts[1], hosts[2]);
    assert_string_not_equal(hosts[0], hosts[2]);
    expect_refused(env,
                   "{'name': 'db3', 'vcpus': 1, 'memory_mb': 256, "
                   "'image': 'tiny', 'groups': ['db']}",
                   409, NULL,
                   "h1: anti-affinity group \"db\": 1 of its VMs is here",
                   "h2: anti-affinity group \"db\"",
                   "h3: anti-affinity group \"db\"", NULL);

    /* Once one goes, its host is free for the group again. */
    delete_vm(env, "db1");
    free(hosts[1]);
    hosts[1] = vm_on(env, "{'name': 'db3', 'vcpus': 1, 'memory_mb': 256, "
                          "'image': 'tiny', 'groups': ['db']}");
    for (int i = 0; i < 3; i++) {
        free(hosts[i]);
    }
}

static void
test_affinity(void **state)
{
    struct fixture_env *env = *state;
    struct api_error err = {0};
    json_t *in, *out;
    char *first;

    cloud(env, 3, 4, 1024);
    fixture_create(env, api_vm_group_create,
                   "{'name': 'app', 'policy': 'affinity'}");
    first = vm_on(env, "{'name': 'a0', 'vcpus': 1, 'memory_mb': 256, "
                       "'image': 'tiny', 'groups': ['app']}");
    for (int i = 1; i < 4; i++) {
        char *text = xasprintf("{'name': 'a%d', 'vcpus': 1, 'memory_mb': 256, "
                               "'image': 'tiny', 'groups': ['app']}",
                               i);
        char *host = vm_on(env, text);

        assert_string_equal(host, first);
        free(host);
        free(text);
    }
    /* Its host is full: the group cannot grow, though others have room. */
    expect_refused(env,
                   "{'name': 'a4', 'vcpus': 1, 'memory_mb': 256, "
                   "'image': 'tiny', 'groups': ['app']}",
                   409, NULL, "memory 0M free, needs 256M",
                   "affinity group \"app\": its VMs are on host", NULL);

    /* A group in use is not deleted; its members are shown. */
    assert_int_equal(
        api_vm_group_delete(&env->api, "app", NULL, STORE_ANY, &err), 409);
    assert_non_null(strstr(err.message, "in use by VM"));
    assert_int_equal(api_vm_group_get(&env->api, "app", &out, &err), 200);
    assert_int_equal(json_array_size(json_object_get(out, "vms")), 4);
    json_decref(out);

    /* Groups: policy checked, policy and strictness fixed. */
    in = J("{'name': 'x', 'policy': 'together'}");
    assert_int_equal(api_vm_group_create(&env->api, in, &out, &err), 400);
    assert_string_equal(err.field, "policy");
    json_decref(in);
    in = J("{'policy': 'anti-affinity'}");
    assert_int_equal(
        api_vm_group_patch(&env->api, "app", in, STORE_ANY, &out, &err), 400);
    json_decref(in);
    api_error_clear(&err);
    out = fixture_patch(env, api_vm_group_patch, "app",
                        "{'description': 'the app tier'}");
    json_decref(out);
    for (int i = 0; i < 4; i++) {
        char name[8];

        snprintf(name, sizeof name, "a%d", i);
        delete_vm(env, name);
    }
    assert_int_equal(
        api_vm_group_delete(&env->api, "app", NULL, STORE_ANY, &err), 204);
    free(first);
}

static void
test_preferred_groups_and_weighers(void **state)
{
    struct fixture_env *env = *state;
    char *a, *b, *c;

    cloud(env, 2, 8, 8192);
    /* Spread (the default) takes the emptiest host... */
    a = vm_on(env, "{'name': 's0', 'vcpus': 1, 'memory_mb': 512, "
                   "'image': 'tiny'}");
    b = vm_on(env, "{'name': 's1', 'vcpus': 1, 'memory_mb': 512, "
                   "'image': 'tiny'}");
    assert_string_not_equal(a, b);
    free(b);
    /* ...pack the fullest. */
    b = vm_on(env, "{'name': 'p0', 'vcpus': 1, 'memory_mb': 1024, "
                   "'image': 'tiny', 'placement': 'pack'}");
    c = vm_on(env, "{'name': 'p1', 'vcpus': 1, 'memory_mb': 512, "
                   "'image': 'tiny', 'placement': 'pack'}");
    assert_string_equal(b, c);
    free(a);
    free(b);
    free(c);

    /* A preferred anti-affinity group spreads even a packing VM, and a
     * preferred affinity group gathers even a spreading one. */
    fixture_create(env, api_vm_group_create,
                   "{'name': 'soft-anti', 'policy': 'anti-affinity', "
                   "'strict': false}");
    fixture_create(env, api_vm_group_create,
                   "{'name': 'soft', 'policy': 'affinity', 'strict': false}");
    a = vm_on(env, "{'name': 'x0', 'vcpus': 1, 'memory_mb': 64, "
                   "'image': 'tiny', 'groups': ['soft-anti'], "
                   "'placement': 'pack'}");
    b = vm_on(env, "{'name': 'x1', 'vcpus': 1, 'memory_mb': 64, "
                   "'image': 'tiny', 'groups': ['soft-anti'], "
                   "'placement': 'pack'}");
    assert_string_not_equal(a, b);
    /* Both hosts have one: a third may go anywhere, unlike strict. */
    free(vm_on(env, "{'name': 'x2', 'vcpus': 1, 'memory_mb': 64, "
                    "'image': 'tiny', 'groups': ['soft-anti']}"));
    free(a);
    free(b);
    a = vm_on(env, "{'name': 'y0', 'vcpus': 1, 'memory_mb': 64, "
                   "'image': 'tiny', 'groups': ['soft']}");
    for (int i = 1; i < 4; i++) {
        char *text = xasprintf("{'name': 'y%d', 'vcpus': 1, 'memory_mb': 64, "
                               "'image': 'tiny', 'groups': ['soft']}",
                               i);

        b = vm_on(env, text);
        assert_string_equal(a, b);
        free(b);
        free(text);
    }
    free(a);
}

static void
test_maintenance_and_pins(void **state)
{
    struct fixture_env *env = *state;
    json_t *out;

    cloud(env, 2, 2, 1024);
    out = fixture_patch(env, api_host_patch, "h1", "{'maintenance': true}");
    assert_true(json_is_true(json_object_get(out, "maintenance")));
    json_decref(out);
    for (int i = 0; i < 3; i++) {
        char *text = xasprintf("{'name': 'm%d', 'vcpus': 1, 'memory_mb': 128, "
                               "'image': 'tiny'}",
                               i);
        char *host = vm_on(env, text);

        assert_string_equal(host, "h2");
        free(host);
        free(text);
    }
    expect_refused(env,
                   "{'name': 'pin', 'vcpus': 1, 'memory_mb': 128, "
                   "'image': 'tiny', 'host': 'h1'}",
                   409, "host", "h1: in maintenance", NULL);

    /* A pin to a full host is refused with that host's reason only. */
    free(vm_on(env, "{'name': 'fill', 'vcpus': 1, 'memory_mb': 640, "
                    "'image': 'tiny', 'host': 'h2'}"));
    expect_refused(env,
                   "{'name': 'pin', 'vcpus': 1, 'memory_mb': 128, "
                   "'image': 'tiny', 'host': 'h2'}",
                   409, "host",
                   "no host can take it: h2: memory 0M free, "
                   "needs 128M",
                   NULL);
    /* A host's VMs come by name, a page at a time. */
    {
        struct api_error err = {0};
        json_t *in = J("{'host': 'h2', 'limit': '2'}");

        assert_int_equal(api_vm_list(&env->api, in, &out, &err), 200);
        fixture_expect_json(json_object_get(out, "next_page_token"), "'m0'");
        assert_string_equal(
            json_string_value(json_object_get(
                json_array_get(json_object_get(out, "items"), 0), "name")),
            "fill");
        json_decref(out);
        json_decref(in);
        in = J("{'host': 'h2', 'limit': '2', 'page_token': 'm0'}");
        assert_int_equal(api_vm_list(&env->api, in, &out, &err), 200);
        assert_null(json_object_get(out, "next_page_token"));
        assert_int_equal(json_array_size(json_object_get(out, "items")), 2);
        assert_string_equal(
            json_string_value(json_object_get(
                json_array_get(json_object_get(out, "items"), 1), "name")),
            "m2");
        json_decref(out);
        json_decref(in);
    }
    out = fixture_patch(env, api_host_patch, "h1", "{'maintenance': false}");
    json_decref(out);
    free(vm_on(env, "{'name': 'pin', 'vcpus': 1, 'memory_mb': 128, "
                    "'image': 'tiny', 'host': 'h1'}"));

    /* A host that is not heard from takes nothing. */
    atomic_store(&env->api.heartbeat_timeout, -1);
    expect_refused(env,
                   "{'name': 'late', 'vcpus': 1, 'memory_mb': 128, "
                   "'image': 'tiny'}",
                   409, NULL, "h1: unreachable", "h2: unreachable", NULL);
}

/* Sends port-status report 'text' of host 'host'. */
static int
report(struct fixture_env *env, const char *host, const char *text,
       struct api_error *err)
{
    json_t *in = J(text);
    int status = api_host_port_status(&env->api, host, in, err);

    json_decref(in);
    return status;
}

/* Asserts VM 'name''s status and that its reason (if 'reason') holds
 * 'reason'. */
static void
expect_status(struct fixture_env *env, const char *name, const char *status,
              const char *reason)
{
    struct api_error err = {0};
    json_t *out;

    assert_int_equal(api_vm_get(&env->api, name, &out, &err), 200);
    assert_string_equal(json_string_value(json_object_get(out, "status")),
                        status);
    if (reason) {
        const char *got =
            json_string_value(json_object_get(out, "status_reason"));

        if (!got || !strstr(got, reason)) {
            fail_msg("%s: reason \"%s\" lacks \"%s\"", name, got ?: "",
                     reason);
        }
    }
    json_decref(out);
}

static void
test_status(void **state)
{
    struct fixture_env *env = *state;
    struct api_error err = {0};
    json_t *in, *out;

    cloud(env, 2, 2, 1024);
    free(vm_on(env, "{'name': 'w', 'vcpus': 1, 'memory_mb': 128, "
                    "'image': 'tiny', 'host': 'h1'}"));
    expect_status(env, "w", "scheduled", "not reported");
    assert_int_equal(report(env, "h1",
                            "{'ports': {}, 'vms': {'w': {'state': "
                            "'starting'}}}",
                            &err),
                     204);
    expect_status(env, "w", "starting", NULL);
    /* Another host's word about it does not count. */
    assert_int_equal(report(env, "h2",
                            "{'ports': {}, 'vms': {'w': {'state': "
                            "'failed', 'reason': 'no'}}}",
                            &err),
                     204);
    expect_status(env, "w", "starting", NULL);
    assert_int_equal(report(env, "h1",
                            "{'ports': {}, 'vms': {'w': {'state': 'running', "
                            "'cpu_time_ns': 5, 'memory_kb': 1000, 'boot': 0}, "
                            "'gone': {'state': 'stopped'}}}",
                            &err),
                     204);
    expect_status(env, "w", "running", NULL);
    assert_int_equal(api_vm_get(&env->api, "w", &out, &err), 200);
    fixture_expect_json(json_object_get(out, "usage"),
                        "{'cpu_time_ns': 5, 'memory_kb': 1000}");
    json_decref(out);

    /* Stop: "stopping" until the agent says it stopped. */
    in = J("{}");
    assert_int_equal(api_vm_action(&env->api, "w", "stop", in, &out, &err),
                     200);
    assert_string_equal(json_string_value(json_object_get(out, "status")),
                        "stopping");
    json_decref(out);
    assert_int_equal(api_vm_action(&env->api, "w", "reboot", in, &out, &err),
                     409);
    assert_string_equal(err.field, "power");
    assert_int_equal(report(env, "h1",
                            "{'ports': {}, 'vms': {'w': {'state': "
                            "'stopped'}}}",
                            &err),
                     204);
    expect_status(env, "w", "stopped", NULL);
    assert_int_equal(api_vm_action(&env->api, "w", "start", in, &out, &err),
                     200);
    json_decref(out);
    expect_status(env, "w", "starting", NULL);
    assert_int_equal(api_vm_action(&env->api, "w", "reboot", in, &out, &err),
                     200);
    assert_int_equal(json_integer_value(json_object_get(out, "boot")), 1);
    json_decref(out);
    assert_int_equal(api_vm_action(&env->api, "w", "pause", in, &out, &err),
                     404);
    assert_int_equal(api_vm_action(&env->api, "nope", "start", in, &out, &err),
                     404);
    json_decref(in);
    in = J("{'force': true}");
    assert_int_equal(api_vm_action(&env->api, "w", "stop", in, &out, &err),
                     400);
    json_decref(in);

    assert_int_equal(report(env, "h1",
                            "{'ports': {}, 'vms': {'w': {'state': 'failed', "
                            "'reason': 'qemu exited with status 1'}}}",
                            &err),
                     204);
    expect_status(env, "w", "failed", "qemu exited with status 1");

    /* Bad reports are refused whole. */
    assert_int_equal(
        report(env, "h1", "{'ports': {}, 'vms': {'w': {'state': 'dancing'}}}",
               &err),
        400);
    assert_string_equal(err.field, "vms");
    assert_int_equal(report(env, "h1",
                            "{'ports': {}, 'vms': {'w': {'state': 'running', "
                            "'cpu_time_ns': -1}}}",
                            &err),
                     400);
    assert_int_equal(report(env, "h1",
                            "{'ports': {}, 'vms': {'w': {'state': 'running', "
                            "'extra': 1}}}",
                            &err),
                     400);
    assert_int_equal(
        report(env, "h1", "{'ports': {}, 'vms': {'W!': {}}}", &err), 400);
    expect_status(env, "w", "failed", NULL);
    api_error_clear(&err);

    /* A VM its host's agent cannot run is a condition of the host, and
     * the VM's failure. */
    free(vm_on(env, "{'name': 'held', 'vcpus': 1, 'memory_mb': 128, "
                    "'image': 'tiny', 'host': 'h2'}"));
    assert_int_equal(report(env, "h2",
                            "{'ports': {}, 'conditions': [{'kind': 'vm', "
                            "'name': 'held', 'reason': 'this host cannot "
                            "run VMs'}]}",
                            &err),
                     204);
    expect_status(env, "held", "failed", "this host cannot run VMs");
    assert_int_equal(report(env, "h2", "{'ports': {}}", &err), 204);
    expect_status(env, "held", "scheduled", "not reported");
    delete_vm(env, "held");

    /* Listing by status and host. */
    in = J("{'status': 'failed', 'host': 'h1'}");
    assert_int_equal(api_vm_list(&env->api, in, &out, &err), 200);
    assert_int_equal(json_array_size(json_object_get(out, "items")), 1);
    json_decref(out);
    json_decref(in);
    in = J("{'host': 'h2'}");
    assert_int_equal(api_vm_list(&env->api, in, &out, &err), 200);
    assert_int_equal(json_array_size(json_object_get(out, "items")), 0);
    json_decref(out);
    json_decref(in);
    in = J("{'status': 'asleep'}");
    assert_int_equal(api_vm_list(&env->api, in, &out, &err), 400);
    json_decref(in);
    api_error_clear(&err);
}

static void
test_desired_state(void **state)
{
    struct fixture_env *env = *state;
    struct state_errors errors;
    struct state *s = NULL;
    json_t *doc, *before, *changes, *vm, *in, *out;
    struct api_error err = {0};
    const char *uuid;
    char *text;

    cloud(env, 2, 2, 1024);
    before = fixture_compute(env, "h1");
    assert_null(json_object_get(before, "vms"));
    free(vm_on(env, "{'name': 'web', 'vcpus': 1, 'memory_mb': 256, "
                    "'image': 'tiny', 'host': 'h1', 'hostname': 'www', "
                    "'ssh_keys': ['ssh-ed25519 AAAA k'], "
                    "'nics': [{'network': 'blue'}]}"));
    doc = fixture_compute(env, "h1");
    vm = json_array_get(json_object_get(doc, "vms"), 0);
    uuid = json_string_value(json_object_get(vm, "uuid"));
    text = xasprintf(
        "{'name': 'web', 'uuid': '%s', 'vcpus': 1, 'memory_mb': 256, "
        "'power': 'running', 'boot': 0, 'disk': {'file': 'vms/%s.qcow2', "
        "'image': 'images/tiny.qcow2', 'size_gb': 1}, 'seed': {'file': "
        "'vms/%s.seed.iso', 'hostname': 'www', 'ssh_keys': ['ssh-ed25519 "
        "AAAA k']}, 'nics': [{'port': 'web-0', 'device': 'fv%.8s0', 'mac': "
        "'%s', 'mtu': 1450}], 'ha': 'restart'}",
        uuid, uuid, uuid, uuid,
        json_string_value(json_object_get(
            json_array_get(json_object_get(vm, "nics"), 0), "mac")));
    fixture_expect_json(vm, text);
    free(text);
    /* The other host's document has no VM. */
    json_decref(before);
    before = fixture_compute(env, "h2");
    assert_null(json_object_get(before, "vms"));
    json_decref(before);

    /* What the controller sends, the agent reads. */
    state_errors_init(&errors);
    if (state_from_json(doc, &s, &errors)) {
        fail_msg("fabric-agent refuses the document: %s",
                 errors.n ? errors.msgs[0] : "?");
    }
    assert_int_equal(s->n_vms, 1);
    /* The VM's NIC is a port whose DHCP answers name the VM. */
    assert_int_equal(s->n_ports, 1);
    assert_string_equal(s->ports[0].hostname, "www");
    state_destroy(s);
    state_errors_destroy(&errors);

    /* A reboot is a change of kind "vm"; a delete removes the VM before
     * its port. */
    in = J("{}");
    assert_int_equal(api_vm_action(&env->api, "web", "reboot", in, &out, &err),
                     200);
    json_decref(out);
    json_decref(in);
    before = doc;
    doc = fixture_compute(env, "h1");
    changes = desired_diff(before, doc);
    assert_int_equal(json_array_size(changes), 1);
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(changes, 0), "kind")),
        "vm");
    assert_int_equal(
        json_integer_value(json_object_get(
            json_object_get(json_array_get(changes, 0), "object"), "boot")),
        1);
    json_decref(changes);
    json_decref(before);
    before = doc;
    delete_vm(env, "web");
    doc = fixture_compute(env, "h1");
    changes = desired_diff(before, doc);
    fixture_expect_json(changes,
                        "[{'op': 'delete', 'kind': 'vm', 'key': 'web'}, "
                        "{'op': 'delete', 'kind': 'port', 'key': 'web-0'}, "
                        "{'op': 'delete', 'kind': 'network', 'key': "
                        "'blue'}]");
    json_decref(changes);
    json_decref(before);
    json_decref(doc);
}

/* Sends PATCH 'text' of VM 'name' and returns the status; the error's
 * field and message in 'err'. */
static int
patch_vm(struct fixture_env *env, const char *name, const char *text,
         struct api_error *err)
{
    json_t *in = J(text), *out = NULL;
    int status = api_vm_patch(&env->api, name, in, STORE_ANY, &out, err);

    json_decref(in);
    json_decref(out);
    return status;
}

static void
test_ha_settings(void **state)
{
    struct fixture_env *env = *state;
    struct api_error err = {0};
    json_t *vm, *doc;
    size_t before;

    cloud(env, 1, 2, 1024);
    expect_refused(env,
                   "{'name': 'a', 'vcpus': 1, 'memory_mb': 64, 'image': "
                   "'tiny', 'ha': 'always'}",
                   400, "ha", "ha \"always\"", "\"restart\"", "\"off\"", NULL);
    expect_refused(env,
                   "{'name': 'a', 'vcpus': 1, 'memory_mb': 64, 'image': "
                   "'tiny', 'ha_priority': 1001}",
                   400, "ha_priority", "ha_priority 1001", "0..1000", NULL);
    expect_refused(env,
                   "{'name': 'a', 'vcpus': 1, 'memory_mb': 64, 'image': "
                   "'tiny', 'ha_priority': -1}",
                   400, "ha_priority", NULL);
    expect_refused(env,
                   "{'name': 'a', 'vcpus': 1, 'memory_mb': 64, 'image': "
                   "'tiny', 'ha': 1}",
                   400, "ha", NULL);

    /* The defaults, and the document. */
    vm = fixture_make(env, api_vm_create,
                      "{'name': 'a', 'vcpus': 1, 'memory_mb': 64, 'image': "
                      "'tiny'}");
    assert_string_equal(json_string_value(json_object_get(vm, "ha")),
                        "restart");
    assert_int_equal(json_integer_value(json_object_get(vm, "ha_priority")),
                     100);
    json_decref(vm);
    vm = fixture_make(env, api_vm_create,
                      "{'name': 'b', 'vcpus': 1, 'memory_mb': 64, 'image': "
                      "'tiny', 'ha': 'off', 'ha_priority': 0}");
    assert_string_equal(json_string_value(json_object_get(vm, "ha")), "off");
    assert_int_equal(json_integer_value(json_object_get(vm, "ha_priority")),
                     0);
    json_decref(vm);
    doc = fixture_compute(env, "h1");
    assert_string_equal(
        json_string_value(json_object_get(
            json_array_get(json_object_get(doc, "vms"), 0), "ha")),
        "restart");
    assert_string_equal(
        json_string_value(json_object_get(
            json_array_get(json_object_get(doc, "vms"), 1), "ha")),
        "off");
    json_decref(doc);

    /* PATCH changes these two and nothing else. */
    vm = fixture_patch(env, api_vm_patch, "b",
                       "{'ha': 'restart', 'ha_priority': 1000}");
    assert_string_equal(json_string_value(json_object_get(vm, "ha")),
                        "restart");
    assert_int_equal(json_integer_value(json_object_get(vm, "ha_priority")),
                     1000);
    json_decref(vm);
    before = count_objects(env);
    assert_int_equal(patch_vm(env, "b", "{'vcpus': 2}", &err), 400);
    assert_string_equal(err.field, "vcpus");
    assert_non_null(strstr(err.message, "only ha and ha_priority"));
    assert_int_equal(
        patch_vm(env, "b", "{'ha': 'off', 'power': 'stopped'}", &err), 400);
    assert_string_equal(err.field, "power");
    assert_int_equal(patch_vm(env, "b", "{'ha': 'maybe'}", &err), 400);
    assert_string_equal(err.field, "ha");
    assert_int_equal(patch_vm(env, "b", "{'ha_priority': 5000}", &err), 400);
    assert_string_equal(err.field, "ha_priority");
    assert_int_equal(patch_vm(env, "b", "{'ha_priority': null}", &err), 400);
    assert_int_equal(patch_vm(env, "b", "{'ha': null}", &err), 400);
    assert_int_equal(patch_vm(env, "b", "[1]", &err), 400);
    assert_int_equal(patch_vm(env, "nope", "{'ha': 'off'}", &err), 404);
    assert_int_equal(count_objects(env), before);
    vm = read_object(env, "vm", "b");
    assert_string_equal(json_string_value(json_object_get(vm, "ha")),
                        "restart");
    assert_int_equal(json_integer_value(json_object_get(vm, "ha_priority")),
                     1000);
    json_decref(vm);
    api_error_clear(&err);
}

/* The host VM 'name' is on, as stored (a new string). */
static char *
host_of(struct fixture_env *env, const char *kind, const char *name)
{
    json_t *body = read_object(env, kind, name);
    char *host;

    assert_non_null(body);
    host = xstrdup(json_string_value(json_object_get(body, "host")));
    json_decref(body);
    return host;
}

static void
test_ha_restart(void **state)
{
    struct fixture_env *env = *state;
    struct state_errors errors;
    struct api_error err = {0};
    json_t *vm, *doc, *alloc, *in;
    struct state *s = NULL;
    char *uuid, *to, *host;

    cloud(env, 3, 2, 1024);
    fixture_create(env, api_vm_group_create,
                   "{'name': 'apart', 'policy': 'anti-affinity'}");
    vm = fixture_make(env, api_vm_create,
                      "{'name': 'web', 'vcpus': 1, 'memory_mb': 512, "
                      "'image': 'tiny', 'host': 'h1', 'groups': ['apart'], "
                      "'nics': [{'network': 'blue'}]}");
    uuid = xstrdup(json_string_value(json_object_get(vm, "uuid")));
    json_decref(vm);
    free(vm_on(env, "{'name': 'db', 'vcpus': 1, 'memory_mb': 512, "
                    "'image': 'tiny', 'host': 'h2', 'groups': ['apart']}"));
    free(vm_on(env, "{'name': 'off', 'vcpus': 1, 'memory_mb': 64, "
                    "'image': 'tiny', 'host': 'h1', 'ha': 'off'}"));

    /* Host h1 fails: it takes nothing, and is shown failed. */
    assert_true(api_host_set_failed(&env->api, "h1", true));
    assert_false(api_host_set_failed(&env->api, "h1", true));
    assert_int_equal(api_host_get(&env->api, "h1", &vm, &err), 200);
    assert_string_equal(json_string_value(json_object_get(vm, "status")),
                        "failed");
    json_decref(vm);

    /* "off" stays where it is, down with its host; "web" waits for the
     * monitor. */
    assert_int_equal(api_vm_get(&env->api, "off", &vm, &err), 200);
    assert_string_equal(json_string_value(json_object_get(vm, "status")),
                        "failed");
    assert_non_null(strstr(
        json_string_value(json_object_get(vm, "status_reason")), "ha off"));
    json_decref(vm);
    assert_int_equal(api_vm_get(&env->api, "web", &vm, &err), 200);
    assert_string_equal(json_string_value(json_object_get(vm, "status")),
                        "pending");
    json_decref(vm);
    assert_int_equal(api_vm_ha_restart(&env->api, "off", "h1", &to, &err), 0);
    assert_null(to);
    host = host_of(env, "vm", "off");
    assert_string_equal(host, "h1");
    free(host);

    /* "web" may not join "db" on h2 (anti-affinity), nor stay on the failed
     * h1: h3. */
    assert_int_equal(api_vm_ha_restart(&env->api, "web", "h1", &to, &err), 0);
    assert_non_null(to);
    assert_string_equal(to, "h3");
    free(to);
    host = host_of(env, "vm", "web");
    assert_string_equal(host, "h3");
    free(host);
    host = host_of(env, "port", "web-0");
    assert_string_equal(host, "h3");
    free(host);
    vm = read_object(env, "vm-group-member", "apart/web");
    assert_string_equal(json_string_value(json_object_get(vm, "host")), "h3");
    json_decref(vm);
    vm = read_object(env, "vm-moved", "h1/web");
    assert_non_null(vm);
    assert_string_equal(json_string_value(json_object_get(vm, "uuid")), uuid);
    json_decref(vm);
    assert_null(read_object(env, "host-vm", "h1/web"));
    assert_non_null(read_object(env, "host-vm", "h3/web"));
    json_decref(read_object(env, "host-vm", "h3/web"));
    alloc = allocated(env, "h1");
    fixture_expect_json(alloc, "{'vcpus': 1, 'memory_mb': 64, 'disk_gb': 1, "
                               "'vms': 1}");
    json_decref(alloc);
    alloc = allocated(env, "h3");
    fixture_expect_json(alloc, "{'vcpus': 1, 'memory_mb': 512, 'disk_gb': 1, "
                               "'vms': 1}");
    json_decref(alloc);

    /* Done once: a second pass finds it gone from h1. */
    assert_int_equal(api_vm_ha_restart(&env->api, "web", "h1", &to, &err), 0);
    assert_null(to);

    /* h1's document lists it in "moved_vms", which its agent reads; h3's
     * runs it. */
    doc = fixture_compute(env, "h1");
    vm = json_object_get(doc, "moved_vms");
    assert_int_equal(json_object_size(vm), 1);
    assert_string_equal(json_string_value(json_object_get(vm, "web")), uuid);
    state_errors_init(&errors);
    if (state_from_json(doc, &s, &errors)) {
        fail_msg("fabric-agent refuses the document: %s",
                 errors.n ? errors.msgs[0] : "?");
    }
    assert_int_equal(s->n_moved_vms, 1);
    assert_non_null(state_find_moved_vm(s, "web"));
    assert_null(state_find_vm(s, "web"));
    state_destroy(s);
    state_errors_destroy(&errors);
    json_decref(doc);
    doc = fixture_compute(env, "h3");
    assert_string_equal(
        json_string_value(json_object_get(
            json_array_get(json_object_get(doc, "vms"), 0), "uuid")),
        uuid);
    assert_string_equal(
        json_string_value(json_object_get(
            json_array_get(json_object_get(doc, "ports"), 0), "name")),
        "web-0");
    json_decref(doc);

    /* Until h1's agent reports it gone. */
    in = J("{'ports': {}, 'vms': {'web': {'state': 'stopping'}, 'off': "
           "{'state': 'running'}}}");
    assert_int_equal(api_host_port_status(&env->api, "h1", in, &err), 204);
    json_decref(in);
    assert_non_null(read_object(env, "vm-moved", "h1/web"));
    json_decref(read_object(env, "vm-moved", "h1/web"));
    in = J("{'ports': {}, 'vms': {'off': {'state': 'running'}}}");
    assert_int_equal(api_host_port_status(&env->api, "h1", in, &err), 204);
    json_decref(in);
    assert_null(read_object(env, "vm-moved", "h1/web"));
    doc = fixture_compute(env, "h1");
    assert_null(json_object_get(doc, "moved_vms"));
    json_decref(doc);

    /* A VM that fits nowhere waits, and nothing moved: h3 fails too, and
     * "web" may join "db" on h2 no more than before. */
    assert_true(api_host_set_failed(&env->api, "h3", true));
    assert_int_equal(api_vm_ha_restart(&env->api, "web", "h3", &to, &err),
                     409);
    assert_null(to);
    assert_non_null(strstr(err.message, "h2: "));
    assert_non_null(strstr(err.message, "anti-affinity"));
    host = host_of(env, "vm", "web");
    assert_string_equal(host, "h3");
    free(host);
    assert_null(read_object(env, "vm-moved", "h3/web"));

    /* A host that comes back is not failed any more. */
    assert_int_equal(fixture_heartbeat(env, "h1", NULL, &err), 200);
    assert_false(api_host_is_failed(&env->api, "h1"));
    free(uuid);
    api_error_clear(&err);
}

static void
test_hosts(void **state)
{
    struct fixture_env *env = *state;
    struct api_error err = {0};
    json_t *in, *out;

    cloud(env, 1, 2, 1024);
    assert_int_equal(api_host_get(&env->api, "h1", &out, &err), 200);
    fixture_expect_json(json_object_get(out, "hypervisor"),
                        "{'driver': 'qemu', 'accel': 'tcg', 'reason': 'no "
                        "/dev/kvm'}");
    assert_int_equal(json_integer_value(json_object_get(
                         json_object_get(out, "capacity"), "disk_gb")),
                     100);
    assert_true(json_is_false(json_object_get(out, "maintenance")));
    json_decref(out);

    /* A heartbeat brings the hypervisor as it is now. */
    in = J("{'hypervisor': {'driver': 'libvirt', 'accel': 'kvm'}}");
    assert_int_equal(fixture_heartbeat(env, "h1", in, &err), 200);
    json_decref(in);
    assert_int_equal(api_host_get(&env->api, "h1", &out, &err), 200);
    fixture_expect_json(json_object_get(out, "hypervisor"),
                        "{'driver': 'libvirt', 'accel': 'kvm'}");
    json_decref(out);
    in = J("{'hypervisor': {'driver': 'xen', 'accel': 'kvm'}}");
    assert_int_equal(fixture_heartbeat(env, "h1", in, &err), 400);
    assert_string_equal(err.field, "hypervisor");
    json_decref(in);

    /* A registration keeps what an admin set. */
    out = fixture_patch(env, api_host_patch, "h1",
                        "{'maintenance': true, 'overcommit': {'memory': "
                        "1.5}}");
    json_decref(out);
    add_host(env, "h1", 1, 4, 2048);
    assert_int_equal(api_host_get(&env->api, "h1", &out, &err), 200);
    assert_true(json_is_true(json_object_get(out, "maintenance")));
    fixture_expect_json(json_object_get(out, "overcommit"),
                        "{'cpu': 4.0, 'memory': 1.5, 'disk': 1.0}");
    json_decref(out);
    in = J("{'name': 'h2', 'vtep': '192.0.2.2', 'underlay': 'eth0', "
           "'capacity': {'vcpus': 1, 'gpus': 1}}");
    assert_int_equal(api_host_register(&env->api, in, &out, &err), 400);
    assert_string_equal(err.field, "capacity");
    json_decref(in);
    api_error_clear(&err);
}

/* What one of the concurrent creators does. */
struct creator {
    struct fixture *f; /* The controller. */
    int id;            /* Its number. */
    long status;       /* The answer. */
};

static void *
creator_main(void *c_)
{
    struct creator *c = c_;
    struct reply r = {0};
    char *body =
        xasprintf("{\"name\": \"c%d\", \"vcpus\": 1, \"memory_mb\": "
                  "256, \"image\": \"tiny\", \"groups\": [\"spread\"], "
                  "\"nics\": [{\"network\": \"blue\"}]}",
                  c->id);

    c->status =
        fixture_call_new(c->f, "POST", "/v1/vms", c->f->admin, body, NULL, &r);
    reply_clear(&r);
    free(body);
    return NULL;
}

/* Adds up what the VMs of GET /v1/vms claim on each host into 'sums'
 * (host -> {"vcpus", "memory_mb", "vms"}) and returns how many there
 * are. */
static size_t
sum_vms(struct fixture *f, json_t *sums)
{
    struct reply r = {0};
    const json_t *vm;
    size_t i, n;

    assert_int_equal(
        fixture_call(f, "GET", "/v1/vms?limit=1000", f->admin, NULL, NULL, &r),
        200);
    n = json_array_size(json_object_get(r.json, "items"));
    json_array_foreach(json_object_get(r.json, "items"), i, vm)
    {
        const char *host = json_string_value(json_object_get(vm, "host"));
        json_t *sum = json_object_get(sums, host);

        if (!sum) {
            sum = json_pack("{sIsIsI}", "vcpus", (json_int_t) 0, "memory_mb",
                            (json_int_t) 0, "vms", (json_int_t) 0);
            json_object_set_new(sums, host, sum);
        }
        json_object_set_new(
            sum, "vcpus",
            json_integer(json_integer_value(json_object_get(sum, "vcpus"))
                         + json_integer_value(json_object_get(vm, "vcpus"))));
        json_object_set_new(
            sum, "memory_mb",
            json_integer(
                json_integer_value(json_object_get(sum, "memory_mb"))
                + json_integer_value(json_object_get(vm, "memory_mb"))));
        json_object_set_new(
            sum, "vms",
            json_integer(json_integer_value(json_object_get(sum, "vms")) + 1));
    }
    reply_clear(&r);
    return n;
}

static void
test_concurrent_creates(void **state)
{
    struct fixture *f = fixture_start(30, false);
    struct creator c[32];
    char *viewer = fixture_token(f, "ops", "viewer", NULL);
    json_t *sums = json_object();
    struct reply r = {0};
    size_t created = 0, n;

    (void) state;
    assert_int_equal(
        fixture_admin(f, "POST", "/v1/networks",
                      "{\"name\": \"blue\", \"cidr\": \"10.0.0.0/24\"}"),
        201);
    /* Four hosts of 1 GiB: 16 VMs of 256 MiB fit, 16 do not; the
     * preferred anti-affinity group makes every creator want the same
     * emptiest host at once. */
    for (int i = 1; i <= 4; i++) {
        char *body = xasprintf(
            "{\"name\": \"h%d\", \"vtep\": \"192.0.2.%d\", \"underlay\": "
            "\"eth0\", \"capacity\": {\"vcpus\": 64, \"memory_mb\": 1024}}",
            i, i);

        assert_int_equal(fixture_admin(f, "POST", "/v1/hosts", body), 201);
        free(body);
    }
    assert_int_equal(
        fixture_admin(f, "POST", "/v1/vm-groups",
                      "{\"name\": \"spread\", \"policy\": \"anti-affinity\", "
                      "\"strict\": false}"),
        201);
    /* No image API here: the image is written as it leaves one. */
    {
        struct store *store;
        struct store_txn *txn;
        json_t *img = J("{'status': 'active', 'format': 'raw', "
                        "'virtual_size_bytes': 1048576}");

        assert_int_equal(store_open(f->db, &store), 0);
        assert_int_equal(store_begin(store, true, &txn), 0);
        assert_int_equal(store_put(txn, "image", "tiny", img, STORE_ANY, NULL),
                         0);
        assert_int_equal(store_commit(txn, NULL), 0);
        store_close(store);
        json_decref(img);
    }

    /* Viewers read, only admins write. */
    fixture_expect(f, "POST", "/v1/vms", viewer,
                   "{\"name\": \"v\", \"vcpus\": 1, \"memory_mb\": 64, "
                   "\"image\": \"tiny\"}",
                   403, NULL);
    fixture_expect(f, "POST", "/v1/vm-groups", viewer,
                   "{\"name\": \"g\", \"policy\": \"affinity\"}", 403, NULL);
    fixture_expect(f, "GET", "/v1/vms", viewer, NULL, 200, NULL);
    fixture_expect(f, "GET", "/v1/vm-groups/spread", viewer, NULL, 200, NULL);

    for (int i = 0; i < 32; i++) {
        c[i] = (struct creator){.f = f, .id = i};
    }
    {
        pthread_t threads[32];

        for (int i = 0; i < 32; i++) {
            assert_int_equal(
                pthread_create(&threads[i], NULL, creator_main, &c[i]), 0);
        }
        for (int i = 0; i < 32; i++) {
            pthread_join(threads[i], NULL);
        }
    }
    for (int i = 0; i < 32; i++) {
        if (c[i].status == 201) {
            created++;
        } else if (c[i].status != 409) {
            fail_msg("creator %d: %ld", i, c[i].status);
        }
    }
    assert_int_equal(created, 16);

    /* Every host's allocation is the sum of its VMs, within its
     * memory. */
    n = sum_vms(f, sums);
    assert_int_equal(n, 16);
    for (int i = 1; i <= 4; i++) {
        char *path = xasprintf("/v1/hosts/h%d", i);
        char host[8];
        const json_t *alloc, *sum;

        snprintf(host, sizeof host, "h%d", i);
        assert_int_equal(fixture_call(f, "GET", path, viewer, NULL, NULL, &r),
                         200);
        alloc = json_object_get(r.json, "allocated");
        sum = json_object_get(sums, host);
        assert_non_null(sum);
        assert_int_equal(json_integer_value(json_object_get(alloc, "vms")),
                         json_integer_value(json_object_get(sum, "vms")));
        assert_int_equal(
            json_integer_value(json_object_get(alloc, "memory_mb")),
            json_integer_value(json_object_get(sum, "memory_mb")));
        assert_true(json_integer_value(json_object_get(alloc, "memory_mb"))
                    <= 1024);
        reply_clear(&r);
        free(path);
    }

    /* Actions and deletes over HTTP are audited. */
    fixture_expect(f, "POST", "/v1/vms/c0/stop", f->admin, NULL,
                   c[0].status == 201 ? 200 : 404, NULL);
    fixture_expect(f, "POST", "/v1/vms/c0/stop", viewer, NULL, 403, NULL);
    assert_int_equal(
        fixture_call(f, "GET", "/v1/audit?limit=5", f->admin, NULL, NULL, &r),
        200);
    assert_non_null(strstr(r.body, "vm \\\"c0\\\""));
    reply_clear(&r);

    json_decref(sums);
    free(viewer);
    fixture_stop(f);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        FIXTURE_ENV_TEST(test_create_and_delete),
        FIXTURE_ENV_TEST(test_bad_input),
        FIXTURE_ENV_TEST(test_overcommit),
        FIXTURE_ENV_TEST(test_anti_affinity),
        FIXTURE_ENV_TEST(test_affinity),
        FIXTURE_ENV_TEST(test_preferred_groups_and_weighers),
        FIXTURE_ENV_TEST(test_maintenance_and_pins),
        FIXTURE_ENV_TEST(test_status),
        FIXTURE_ENV_TEST(test_desired_state),
        FIXTURE_ENV_TEST(test_hosts),
        FIXTURE_ENV_TEST(test_ha_settings),
        FIXTURE_ENV_TEST(test_ha_restart),
        cmocka_unit_test(test_concurrent_creates),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
