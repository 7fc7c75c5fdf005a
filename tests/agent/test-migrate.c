/* The agent's network side of a live migration (agent/migrate.h) against a
 * real datapath, in a private network namespace and a private instance.
 *
 * A document has VM web1 migrating in, its NIC port standby on veth mg0:
 * the port is programmed DP_PORT_STANDBY, its MAC standby to the source's
 * VTEP, and the port is in no flood list.  The controller's conntrack
 * hand-over, POST /v1/migrations/ID/conntrack over real HTTP, is refused
 * without the controller's token (401), for a malformed body or a port
 * that is not the VM's (400, nothing written) and for an unknown migration
 * (404); a good entry is written, charged to the port, and exported again
 * as it came.  The VM's first frame here (the punt) makes the port local:
 * its MAC points at it, it floods; once only.  An activation whose punt
 * was missed is found by the next poll.  A VM that runs here but sent no
 * frame has its ports activated by the agent.  A source's switch-over
 * forwards the VM's MAC to the destination's VTEP without waiting for the
 * fast path's readers (the entry leaves the fast path's index until the
 * next poll puts it back) and a failure puts it back. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "agent/core.h"
#include "agent/http-client.h"
#include "agent/metrics.h"
#include "agent/migrate.h"
#include "agent/state.h"
#include "agent/trace.h"
#include "datapath/bpf/abi.h"
#include "datapath/dp.h"
#include "utils/util.h"

#define MIG_ID "9f0e1d2c-3b4a-4596-8877-665544332211"
#define MIG2_ID "9f0e1d2c-3b4a-4596-8877-665544332222"
#define MIG3_ID "9f0e1d2c-3b4a-4596-8877-665544332233"
#define WEB1_IP "10.0.0.1"
#define SOURCE_VTEP "192.168.100.2"
#define DEST_VTEP "192.168.100.3"

static const uint8_t web1_mac[6] = {2, 0, 0, 0, 1, 1};

static struct dp *dp;
static struct core *core;
static struct metrics *metrics;
static char instance[32];
static char base_url[64];
static uint32_t mg0;

static const char doc_text[] =
    "{\"host\": {\"vtep\": \"192.168.100.1\", \"underlay\": \"ul0\"},"
    " \"networks\": [{\"name\": \"blue\", \"vni\": 100}],"
    " \"ports\": [{\"name\": \"web1-0\", \"network\": \"blue\","
    "              \"device\": \"mg0\", \"mac\": \"02:00:00:00:01:01\","
    "              \"ip\": \"" WEB1_IP "\", \"standby\": true},"
    "            {\"name\": \"db1-0\", \"network\": \"blue\","
    "              \"device\": \"mg1\", \"mac\": \"02:00:00:00:01:02\","
    "              \"ip\": \"10.0.0.2\"},"
    "            {\"name\": \"app1-0\", \"network\": \"blue\","
    "              \"device\": \"mg2\", \"mac\": \"02:00:00:00:01:03\","
    "              \"ip\": \"10.0.0.3\", \"standby\": true},"
    "            {\"name\": \"api1-0\", \"network\": \"blue\","
    "              \"device\": \"mg3\", \"mac\": \"02:00:00:00:01:04\","
    "              \"ip\": \"10.0.0.4\", \"standby\": true}],"
    " \"vms\": [{\"name\": \"web1\","
    "            \"uuid\": \"1a2b3c4d-0000-4000-8000-000000000001\","
    "            \"vcpus\": 1, \"memory_mb\": 64,"
    "            \"disk\": {\"file\": \"vms/web1\", \"image\": \"images/t\"},"
    "            \"nics\": [{\"port\": \"web1-0\", \"device\": \"mg0\","
    "                        \"mac\": \"02:00:00:00:01:01\"}],"
    "            \"incoming\": {\"id\": \"" MIG_ID "\", \"from\": \"a\","
    "                           \"from_vtep\": \"" SOURCE_VTEP "\"}},"
    "           {\"name\": \"app1\","
    "            \"uuid\": \"1a2b3c4d-0000-4000-8000-000000000003\","
    "            \"vcpus\": 1, \"memory_mb\": 64,"
    "            \"disk\": {\"file\": \"vms/app1\", \"image\": \"images/t\"},"
    "            \"nics\": [{\"port\": \"app1-0\", \"device\": \"mg2\","
    "                        \"mac\": \"02:00:00:00:01:03\"}],"
    "            \"incoming\": {\"id\": \"" MIG2_ID "\", \"from\": \"a\","
    "                           \"from_vtep\": \"" SOURCE_VTEP "\"}},"
    "           {\"name\": \"api1\","
    "            \"uuid\": \"1a2b3c4d-0000-4000-8000-000000000004\","
    "            \"vcpus\": 1, \"memory_mb\": 64,"
    "            \"disk\": {\"file\": \"vms/api1\", \"image\": \"images/t\"},"
    "            \"nics\": [{\"port\": \"api1-0\", \"device\": \"mg3\","
    "                        \"mac\": \"02:00:00:00:01:04\"}],"
    "            \"incoming\": {\"id\": \"" MIG3_ID "\", \"from\": \"a\","
    "                           \"from_vtep\": \"" SOURCE_VTEP "\"}}]}";

static int
group_setup(void **state)
{
    struct dp_options opts = {.type = "bpf", .instance = instance};
    struct state_errors errors;
    const char *ci = getenv("CI");
    json_t *doc;
    int port = 20000 + getpid() % 20000;
    char listen[32];

    if (geteuid()) {
        if (ci && !strcmp(ci, "true")) {
            fprintf(stderr, "test-migrate needs root (a datapath in a "
                            "network namespace) and CI=true forbids "
                            "skipping it\n");
            exit(EXIT_FAILURE);
        }
        fprintf(stderr, "skipped: test-migrate needs root\n");
        exit(77);
    }
    assert_int_equal(unshare(CLONE_NEWNET), 0);
    assert_int_equal(system("ip link set lo up && "
                            "ip link add mg0 type veth peer name mg0vm && "
                            "ip link add mg1 type veth peer name mg1vm && "
                            "ip link add mg2 type veth peer name mg2vm && "
                            "ip link add mg3 type veth peer name mg3vm && "
                            "for d in mg0 mg0vm mg1 mg1vm mg2 mg2vm mg3 "
                            "mg3vm; do "
                            "ip link set $d up; done"),
                     0);
    mg0 = if_nametoindex("mg0");
    snprintf(instance, sizeof instance, "test-migrate-%d", (int) getpid());
    assert_int_equal(dp_open(&opts, &dp), 0);
    core = core_create(dp, NULL, false);
    doc = json_loads(doc_text, 0, NULL);
    assert_non_null(doc);
    state_errors_init(&errors);
    assert_int_equal(core_apply(core, doc, 0, &errors), 0);
    assert_int_equal(errors.n, 0);
    state_errors_destroy(&errors);
    json_decref(doc);

    curl_global_init(CURL_GLOBAL_DEFAULT);
    snprintf(listen, sizeof listen, "127.0.0.1:%d", port);
    snprintf(base_url, sizeof base_url, "http://%s", listen);
    assert_int_equal(metrics_start(listen, core, &metrics), 0);
    (void) state;
    return 0;
}

static int
group_teardown(void **state)
{
    char *pins = xasprintf("/sys/fs/bpf/%s", instance);
    char *cmd = xasprintf("rm -rf '%s'", pins);

    (void) state;
    metrics_stop(metrics);
    core_destroy(core);
    dp_close(dp);
    /* The instance is this test's own: its pins go with it. */
    if (system(cmd)) {
        fprintf(stderr, "could not remove %s\n", pins);
    }
    free(cmd);
    free(pins);
    curl_global_cleanup();
    return 0;
}

/* Returns the datapath's FDB entry of web1's MAC. */
static struct dp_fdb_entry
web1_fdb(void)
{
    struct dp_fdb_key key = {.vni = 100};
    struct dp_fdb_entry fdb;

    memcpy(key.mac, web1_mac, 6);
    assert_int_equal(dp_table_get(dp, DP_FDB, &key, &fdb), 0);
    return fdb;
}

/* Returns the flags of web1's FDB record in the fast path's index, or -1
 * if the index does not hold it. */
static int
web1_fdb_indexed(void)
{
    char *path = xasprintf("/sys/fs/bpf/%s/fab_fdb_index", instance);
    struct bpf_map_info info = {};
    uint32_t len = sizeof info;
    int fd = bpf_obj_get(path), flags = -1;

    assert_true(fd >= 0);
    assert_int_equal(bpf_obj_get_info_by_fd(fd, &info, &len), 0);
    assert_int_equal(info.value_size, sizeof(struct fab_fdb_slot));
    for (uint32_t i = 0; i < info.max_entries; i++) {
        struct fab_fdb_slot slot;
        const struct fab_fdb_record *r;

        assert_int_equal(bpf_map_lookup_elem(fd, &i, &slot), 0);
        r = &slot.copy[slot.tag & FAB_INDEX_COPY ? 1 : 0];
        if (slot.tag & FAB_INDEX_VALID && r->key.vni == 100
            && !memcmp(r->key.mac, web1_mac, 6)) {
            flags = r->entry.fdb.flags;
        }
    }
    close(fd);
    free(path);
    return flags;
}

/* Whether the flood list of VNI 100 has port 'ifindex'. */
static bool
floods_to(uint32_t ifindex)
{
    struct dp_flood_key key = {.vni = 100};
    struct dp_flood flood;

    assert_int_equal(dp_table_get(dp, DP_FLOOD, &key, &flood), 0);
    for (uint32_t i = 0; i < flood.n_members; i++) {
        if (flood.members[i].ifindex == ifindex) {
            return true;
        }
    }
    return false;
}

static uint32_t
port_flags(uint32_t ifindex)
{
    struct dp_port_key key = {.ifindex = ifindex};
    struct dp_port port;

    assert_int_equal(dp_table_get(dp, DP_PORTS, &key, &port), 0);
    return port.flags;
}

/* An established TCP connection of web1's, 10.0.0.1:40000 to
 * 10.0.0.99:80, as a source exports it: times as ages. */
static void
make_entry(struct ct_key *key, struct dp_ct *ct)
{
    uint32_t a = inet_addr(WEB1_IP), b = inet_addr("10.0.0.99");

    memset(key, 0, sizeof *key);
    memset(ct, 0, sizeof *ct);
    memcpy(key->addr_a, &a, 4);
    memcpy(key->addr_b, &b, 4);
    key->port_a = htons(40000);
    key->port_b = htons(80);
    key->vni = 100;
    key->proto = 6;
    key->family = CT_FAMILY_IPV4;
    ct->ct.created_ns = 2000000000ULL;
    ct->ct.last_seen_ns = 100000000ULL;
    ct->ct.packets[0] = ct->ct.packets[1] = 3;
    ct->ct.state = CT_ESTABLISHED;
    ct->ct.proto = 6;
    ct->ct.orig_key_dir = CT_KEY_DIR_AB;
    ct->ct.seen[0] = ct->ct.seen[1] = CT_SEEN_SYN | CT_SEEN_ACK;
}

/* POSTs 'body' to the agent's conntrack endpoint of migration 'id' with
 * 'token' (NULL: none) and returns the status; the answer in '*answer'
 * if not NULL. */
static long
post_ct(const char *id, const char *token, const char *body, json_t **answer)
{
    struct http_client *client = http_client_create(base_url, NULL, token);
    struct http_response r;
    char *path = xasprintf("/v1/migrations/%s/conntrack", id);
    json_t *j = json_loads(body, 0, NULL);
    long status;

    assert_non_null(j);
    assert_int_equal(http_client_request(client, "POST", path, j, 5000, &r),
                     0);
    status = r.status;
    if (answer) {
        *answer = json_incref(r.body);
    }
    if (status != 200) {
        printf("# %ld %s\n", status, r.message ? r.message : "");
    }
    http_response_clear(&r);
    http_client_destroy(client);
    json_decref(j);
    free(path);
    return status;
}

/* The port of a VM migrating in is standby until its first frame. */
static void
test_standby(void **state)
{
    struct dp_fdb_entry fdb = web1_fdb();

    (void) state;
    assert_true(port_flags(mg0) & DP_PORT_STANDBY);
    assert_int_equal(fdb.ifindex, mg0);
    assert_int_equal(fdb.vtep, inet_addr(SOURCE_VTEP));
    assert_int_equal(fdb.flags, DP_FDB_STANDBY);
    assert_false(floods_to(mg0));
    assert_true(floods_to(if_nametoindex("mg1")));
}

/* The conntrack hand-over: every refusal first, each writing nothing,
 * then a good entry. */
static void
test_conntrack(void **state)
{
    char key_hex[DP_CT_KEY_HEX_LEN + 1], value_hex[DP_CT_VALUE_HEX_LEN + 1];
    const char *token = agent_trace_token();
    struct dp_ct_usage usage;
    struct ct_key key;
    struct dp_ct ct;
    json_t *answer = NULL, *entries;
    char *body;

    (void) state;
    make_entry(&key, &ct);
    dp_ct_to_hex(&key, &ct, key_hex, value_hex);
    body = xasprintf("{\"entries\": [{\"port\": \"web1-0\", \"key\": \"%s\","
                     " \"value\": \"%s\"}]}",
                     key_hex, value_hex);

    assert_int_equal(post_ct(MIG_ID, NULL, body, NULL), 401);
    assert_int_equal(post_ct(MIG_ID, "0123", body, NULL), 401);
    assert_int_equal(post_ct(MIG_ID, token, "{}", NULL), 400);
    assert_int_equal(post_ct(MIG_ID, token, "[]", NULL), 400);
    assert_int_equal(post_ct(MIG_ID, token, "{\"entries\": {}}", NULL), 400);
    assert_int_equal(post_ct(MIG_ID, token, "{\"entries\": [7]}", NULL), 400);
    assert_int_equal(post_ct(MIG_ID, token,
                             "{\"entries\": [{\"port\": \"web1-0\","
                             " \"key\": \"00\", \"value\": \"00\"}]}",
                             NULL),
                     400);
    {
        /* A good entry, then one with an extra member: none is written. */
        char *two = xasprintf(
            "{\"entries\": [{\"port\": \"web1-0\", \"key\": \"%s\","
            " \"value\": \"%s\"}, {\"port\": \"web1-0\", \"key\": \"%s\","
            " \"value\": \"%s\", \"x\": 1}]}",
            key_hex, value_hex, key_hex, value_hex);

        assert_int_equal(post_ct(MIG_ID, token, two, NULL), 400);
        free(two);
    }
    {
        /* A port of this host that is not the VM's NIC. */
        char *other = xasprintf("{\"entries\": [{\"port\": \"db1-0\","
                                " \"key\": \"%s\", \"value\": \"%s\"}]}",
                                key_hex, value_hex);

        assert_int_equal(post_ct(MIG_ID, token, other, NULL), 400);
        free(other);
    }
    assert_int_equal(
        post_ct("00000000-0000-4000-8000-000000000000", token, body, NULL),
        404);
    assert_int_equal(dp_ct_usage_get(dp, mg0, &usage), 0);
    assert_int_equal(usage.tracked, 0);

    assert_int_equal(post_ct(MIG_ID, token, body, &answer), 200);
    assert_int_equal(json_integer_value(json_object_get(answer, "imported")),
                     1);
    assert_int_equal(json_integer_value(json_object_get(answer, "failed")), 0);
    json_decref(answer);
    assert_int_equal(dp_ct_usage_get(dp, mg0, &usage), 0);
    assert_int_equal(usage.tracked, 1);

    /* It leaves again as it came: same connection, same state. */
    assert_int_equal(core_vm_ct_export(core, "web1", &entries), 0);
    assert_int_equal(json_array_size(entries), 1);
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(entries, 0), "key")),
        key_hex);
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(entries, 0), "port")),
        "web1-0");
    json_decref(entries);
    assert_int_equal(core_vm_ct_export(core, "nope", &entries), ENOENT);
    json_decref(entries);
    free(body);
}

/* The VM's first frame here. */
static void
test_activation(void **state)
{
    struct dp_fdb_entry fdb;
    char *vm;

    (void) state;
    assert_false(core_port_activated(core, if_nametoindex("mg1"), &vm));
    assert_null(vm);
    assert_true(core_port_activated(core, mg0, &vm));
    assert_string_equal(vm, "web1");
    free(vm);
    fdb = web1_fdb();
    assert_int_equal(fdb.ifindex, mg0);
    assert_int_equal(fdb.vtep, 0);
    assert_int_equal(fdb.flags, 0);
    assert_false(port_flags(mg0) & DP_PORT_STANDBY);
    assert_true(floods_to(mg0));
    /* Once only: a later frame is no news. */
    assert_false(core_port_activated(core, mg0, &vm));
    free(vm);
}

/* A VM whose QEMU runs it here with no frame of its (an idle guest whose
 * announcement was lost): the agent activates its ports itself, as its
 * first frame would have; a VM its frame activated, or one that is not
 * here, is left alone. */
static void
test_activation_without_frame(void **state)
{
    static const uint8_t api1_mac[6] = {2, 0, 0, 0, 1, 4};
    uint32_t mg3 = if_nametoindex("mg3");
    struct dp_fdb_key fkey = {.vni = 100};
    struct dp_fdb_entry fdb;
    char *vm;

    (void) state;
    memcpy(fkey.mac, api1_mac, 6);
    assert_true(port_flags(mg3) & DP_PORT_STANDBY);
    assert_false(floods_to(mg3));
    assert_int_equal(core_vm_activate(core, "nope"), 0);
    assert_int_equal(core_vm_activate(core, "web1"), 0);

    assert_int_equal(core_vm_activate(core, "api1"), 1);
    assert_false(port_flags(mg3) & DP_PORT_STANDBY);
    assert_true(floods_to(mg3));
    assert_int_equal(dp_table_get(dp, DP_FDB, &fkey, &fdb), 0);
    assert_int_equal(fdb.ifindex, mg3);
    assert_int_equal(fdb.vtep, 0);
    assert_int_equal(fdb.flags, 0);
    /* Once only: neither a frame that comes late nor a second call is
     * news. */
    assert_false(core_port_activated(core, mg3, &vm));
    free(vm);
    assert_int_equal(core_vm_activate(core, "api1"), 0);
}

/* An activation whose punt the agent missed: the fast path reads the
 * port back without DP_PORT_STANDBY, and the next poll finds it. */
static void
test_missed_activation(void **state)
{
    static const uint8_t app1_mac[6] = {2, 0, 0, 0, 1, 3};
    struct dp_port_key key = {.ifindex = if_nametoindex("mg2")};
    struct dp_fdb_key fkey = {.vni = 100};
    struct dp_fdb_entry fdb;
    struct dp_port port;

    (void) state;
    memcpy(fkey.mac, app1_mac, 6);
    assert_false(core_poll(core));
    assert_int_equal(dp_table_get(dp, DP_FDB, &fkey, &fdb), 0);
    assert_int_equal(fdb.flags, DP_FDB_STANDBY);
    assert_false(floods_to(key.ifindex));

    assert_int_equal(dp_table_get(dp, DP_PORTS, &key, &port), 0);
    assert_true(port.flags & DP_PORT_STANDBY);
    port.flags &= ~DP_PORT_STANDBY;
    assert_int_equal(dp_table_set(dp, DP_PORTS, &key, &port), 0);
    assert_true(core_poll(core));
    assert_int_equal(dp_table_get(dp, DP_FDB, &fkey, &fdb), 0);
    assert_int_equal(fdb.ifindex, key.ifindex);
    assert_int_equal(fdb.flags, 0);
    assert_true(floods_to(key.ifindex));
    assert_false(core_poll(core));
}

/* A source's switch-over, then its failure. */
static void
test_forward(void **state)
{
    struct dp_fdb_key key = {0};
    struct dp_fdb_entry fdb;

    (void) state;
    assert_int_equal(core_vm_forward(core, "nope", inet_addr(DEST_VTEP)),
                     ENOENT);
    /* Rewritten twice, web1's index slot has a copy readers may hold, as
     * after any recent change: a switch-over must not wait for them. */
    fdb = web1_fdb();
    key.vni = 100;
    memcpy(key.mac, web1_mac, 6);
    fdb.flags ^= DP_FDB_STANDBY;
    assert_int_equal(dp_table_set(dp, DP_FDB, &key, &fdb), 0);
    fdb.flags ^= DP_FDB_STANDBY;
    assert_int_equal(dp_table_set(dp, DP_FDB, &key, &fdb), 0);
    assert_int_equal(web1_fdb_indexed(), 0);

    assert_int_equal(core_vm_forward(core, "web1", inet_addr(DEST_VTEP)), 0);
    fdb = web1_fdb();
    assert_int_equal(fdb.ifindex, 0);
    assert_int_equal(fdb.vtep, inet_addr(DEST_VTEP));
    assert_int_equal(fdb.flags, DP_FDB_FORWARD);
    assert_int_equal(web1_fdb_indexed(), -1);
    /* The next poll finishes the forward and settles the index. */
    assert_true(core_poll(core));
    assert_int_equal(web1_fdb_indexed(), DP_FDB_FORWARD);
    assert_int_equal(web1_fdb().flags, DP_FDB_FORWARD);
    assert_int_equal(core_vm_forward(core, "web1", 0), 0);
    fdb = web1_fdb();
    assert_int_equal(fdb.ifindex, mg0);
    assert_int_equal(fdb.flags, 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_standby),
        cmocka_unit_test(test_conntrack),
        cmocka_unit_test(test_activation),
        cmocka_unit_test(test_activation_without_frame),
        cmocka_unit_test(test_missed_activation),
        cmocka_unit_test(test_forward),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
