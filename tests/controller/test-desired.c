/* The desired state the controller hands to agents: each host's document
 * (its ports, their networks, and the other hosts' ports in them as
 * remotes), which fabric-agent's own parser must accept; the changes
 * between two documents; and the long poll that waits for them. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "agent/state.h"
#include "controller/api.h"
#include "controller/desired.h"
#include "controller/store.h"
#include "tests/controller/fixture.h"
#include "utils/log.h"
#include "utils/util.h"

/* JSON written with ' for ", as fixture_json() reads it. */
#define J(TEXT) fixture_json(TEXT)

/* The cloud of these tests: two networks, three hosts, four ports.
 *
 *   a: blue on h1, 10.0.0.1    b: blue on h2, 10.0.0.2
 *   c: red on h2, 10.1.0.1     d: blue, not placed, 10.0.0.3 */
static int
setup(void **state)
{
    struct fixture_env *env;

    fixture_env_setup(state);
    env = *state;

    fixture_create(env, api_network_create,
                   "{'name': 'blue', 'cidr': '10.0.0.0/24', 'vni': 100, "
                   "'dns_servers': ['10.9.0.1', '10.9.0.2']}");
    fixture_create(
        env, api_network_create,
        "{'name': 'red', 'cidr': '10.1.0.0/24', 'vni': 200, 'mtu': 9000}");
    fixture_create(env, api_host_register,
                   "{'name': 'h1', 'vtep': '192.0.2.1', 'underlay': 'eth0'}");
    fixture_create(env, api_host_register,
                   "{'name': 'h2', 'vtep': '192.0.2.2', 'underlay': 'eth1'}");
    fixture_create(env, api_host_register,
                   "{'name': 'h3', 'vtep': '192.0.2.3', 'underlay': 'eth0'}");
    fixture_create(env, api_port_create,
                   "{'name': 'a', 'network': 'blue', 'host': 'h1', 'mac': "
                   "'02:00:00:00:00:0a'}");
    fixture_create(env, api_port_create,
                   "{'name': 'b', 'network': 'blue', 'host': 'h2', 'mac': "
                   "'02:00:00:00:00:0b'}");
    fixture_create(env, api_port_create,
                   "{'name': 'c', 'network': 'red', 'host': 'h2', 'mac': "
                   "'02:00:00:00:00:0c', 'device': 'tap-c'}");
    fixture_create(
        env, api_port_create,
        "{'name': 'd', 'network': 'blue', 'mac': '02:00:00:00:00:0d'}");
    return 0;
}

/* Asserts that fabric-agent's parser takes 'doc' as it is. */
static void
expect_agent_accepts(const json_t *doc)
{
    struct state_errors errors;
    struct state *s;

    state_errors_init(&errors);
    if (state_from_json(doc, &s, &errors)) {
        fail_msg("fabric-agent refuses the document: %s",
                 errors.n ? errors.msgs[0] : "?");
    }
    state_destroy(s);
    state_errors_destroy(&errors);
}

static void
test_documents(void **state)
{
    struct fixture_env *env = *state;
    struct store_txn *txn;
    json_t *doc;

    doc = fixture_compute(env, "h1");
    fixture_expect_json(
        doc,
        "{'host': {'name': 'h1', 'vtep': '192.0.2.1', 'underlay': "
        "'eth0'}, 'networks': [{'name': 'blue', 'vni': 100, 'mtu': "
        "1450, 'cidr': '10.0.0.0/24', 'dns_servers': ['10.9.0.1', "
        "'10.9.0.2']}], 'ports': [{'name': 'a', 'network': 'blue', 'device': "
        "'fp-a', 'mac': '02:00:00:00:00:0a', 'ip': '10.0.0.1'}], "
        "'remotes': [{'network': 'blue', 'mac': '02:00:00:00:00:0b', "
        "'ip': '10.0.0.2', 'vtep': '192.0.2.2'}]}");
    expect_agent_accepts(doc);
    json_decref(doc);

    doc = fixture_compute(env, "h2");
    fixture_expect_json(
        doc,
        "{'host': {'name': 'h2', 'vtep': '192.0.2.2', 'underlay': 'eth1'}, "
        "'networks': [{'name': 'blue', 'vni': 100, 'mtu': 1450, 'cidr': "
        "'10.0.0.0/24', 'dns_servers': ['10.9.0.1', '10.9.0.2']}, "
        "{'name': 'red', 'vni': 200, 'mtu': 9000, 'cidr': '10.1.0.0/24'}], "
        "'ports': [{'name': 'b', "
        "'network': 'blue', 'device': 'fp-b', 'mac': '02:00:00:00:00:0b', "
        "'ip': '10.0.0.2'},           {'name': 'c', 'network': 'red', "
        "'device': 'tap-c', 'mac': '02:00:00:00:00:0c', 'ip': '10.1.0.1'}], "
        "'remotes': [{'network': 'blue', 'mac': '02:00:00:00:00:0a', 'ip': "
        "'10.0.0.1', 'vtep': '192.0.2.1'}]}");
    expect_agent_accepts(doc);
    json_decref(doc);

    /* A host without ports has an empty document, which is valid too. */
    doc = fixture_compute(env, "h3");
    fixture_expect_json(
        doc, "{'host': {'name': 'h3', 'vtep': '192.0.2.3', 'underlay': "
             "'eth0'}, 'networks': [], 'ports': [], 'remotes': []}");
    expect_agent_accepts(doc);
    json_decref(doc);

    assert_int_equal(store_begin(env->store, false, &txn), 0);
    assert_int_equal(desired_compute(txn, "h9", &doc), ENOENT);
    assert_null(doc);
    store_abort(txn);
}

/* An external VTEP that joined blue: every host with a port in blue floods
 * to it, accepts it in blue, and reaches its endpoints in blue through it
 * (without identities); a host only in red hears nothing of it.  The
 * agent accepts each document.  Changing it changes the documents as a
 * whole, which a diff does not express. */
static void
test_external_vteps(void **state)
{
    struct fixture_env *env = *state;
    json_t *doc, *doc2, *answer;

    fixture_create(env, api_external_vtep_create,
                   "{'name': 'ovs', 'address': '192.0.2.50', 'networks': "
                   "['blue'], 'endpoints': [{'network': 'blue', 'mac': "
                   "'02:00:00:00:00:50', 'ip': '10.0.0.50'}, {'network': "
                   "'blue', 'mac': '02:00:00:00:00:51'}]}");
    doc = fixture_compute(env, "h1");
    fixture_expect_json(json_object_get(doc, "external_vteps"),
                        "[{'network': 'blue', 'vtep': '192.0.2.50'}]");
    fixture_expect_json(
        json_object_get(doc, "remotes"),
        "[{'network': 'blue', 'mac': '02:00:00:00:00:0b', 'ip': '10.0.0.2', "
        "'vtep': '192.0.2.2'}, {'network': 'blue', 'mac': "
        "'02:00:00:00:00:50', 'ip': '10.0.0.50', 'vtep': '192.0.2.50'}, "
        "{'network': 'blue', 'mac': '02:00:00:00:00:51', 'vtep': "
        "'192.0.2.50'}]");
    expect_agent_accepts(doc);

    answer = fixture_patch(env, api_external_vtep_patch, "ovs",
                           "{'gbp': true, 'networks': ['blue', 'red']}");
    json_decref(answer);
    doc2 = fixture_compute(env, "h2");
    fixture_expect_json(json_object_get(doc2, "external_vteps"),
                        "[{'network': 'blue', 'vtep': '192.0.2.50', 'gbp': "
                        "true}, {'network': 'red', 'vtep': '192.0.2.50', "
                        "'gbp': true}]");
    expect_agent_accepts(doc2);
    json_decref(doc2);
    doc2 = fixture_compute(env, "h1");
    assert_null(desired_diff(doc, doc2));
    expect_agent_accepts(doc2);
    json_decref(doc2);
    json_decref(doc);

    /* h3 has no port: nothing of it. */
    doc = fixture_compute(env, "h3");
    assert_null(json_object_get(doc, "external_vteps"));
    json_decref(doc);
}

static void
test_remotes_need_a_registered_host(void **state)
{
    struct fixture_env *env = *state;
    json_t *doc;

    /* A port placed on a host that has not registered has no VTEP to be
     * reached by, so it is not a remote yet. */
    fixture_create(env, api_port_create,
                   "{'name': 'e', 'network': 'blue', 'host': 'h9', 'mac': "
                   "'02:00:00:00:00:0e'}");
    doc = fixture_compute(env, "h1");
    assert_int_equal(json_array_size(json_object_get(doc, "remotes")), 1);
    json_decref(doc);
    fixture_create(env, api_host_register,
                   "{'name': 'h9', 'vtep': '192.0.2.9', 'underlay': 'eth0'}");
    doc = fixture_compute(env, "h1");
    assert_int_equal(json_array_size(json_object_get(doc, "remotes")), 2);
    json_decref(doc);
}

static void
test_diff(void **state)
{
    json_t *old =
        J("{'host': {'name': 'h1', 'vtep': '192.0.2.1', 'underlay': 'eth0'}, "
          "'networks': [{'name': 'blue', 'vni': 100, 'mtu': 1450},            "
          "  {'name': 'red', 'vni': 200, 'mtu': 1450}], 'ports': [{'name': "
          "'a', 'network': 'blue'},           {'name': 'r', 'network': "
          "'red'}], 'remotes': [{'network': 'blue', 'mac': 'm1', 'ip': 'x', "
          "'vtep': 'v'},             {'network': 'red', 'mac': 'm2', 'ip': "
          "'y', 'vtep': 'v'}]}");
    json_t *new =
        J("{'host': {'name': 'h1', 'vtep': '192.0.2.1', 'underlay': 'eth0'}, "
          "'networks': [{'name': 'blue', 'vni': 100, 'mtu': 9000}], 'ports': "
          "[{'name': 'a', 'network': 'blue'},           {'name': 'n', "
          "'network': 'blue'}], 'remotes': [{'network': 'blue', 'mac': 'm1', "
          "'ip': 'x', 'vtep': 'w'}]}");
    json_t *changes = desired_diff(old, new);

    /* Removals before additions, remotes before the ports before the
     * networks they need; the reverse for additions. */
    fixture_expect_json(
        changes,
        "[{'op': 'delete', 'kind': 'remote', 'key': 'red/m2'}, {'op': "
        "'delete', 'kind': 'port', 'key': 'r'}, {'op': 'delete', 'kind': "
        "'network', 'key': 'red'}, {'op': 'set', 'kind': 'network', 'object': "
        "{'name': 'blue', 'vni': 100, 'mtu': 9000}}, {'op': 'set', 'kind': "
        "'port', 'object': {'name': 'n', 'network': 'blue'}}, {'op': 'set', "
        "'kind': 'remote', 'object': {'network': 'blue', 'mac': 'm1', 'ip': "
        "'x', 'vtep': 'w'}}]");
    json_decref(changes);

    changes = desired_diff(new, new);
    fixture_expect_json(changes, "[]");
    json_decref(changes);

    /* The host part changes only with a full document. */
    json_object_set_new(json_object_get(new, "host"), "vtep",
                        json_string("192.0.2.7"));
    assert_null(desired_diff(old, new));
    json_decref(old);
    json_decref(new);
    (void) state;
}

static void
test_cache(void **state)
{
    struct desired *d = desired_create(NULL);
    json_t *doc1 = J("{'n': 1}"), *doc2 = J("{'n': 2}"), *doc3 = J("{'n': 3}");
    json_t *got;

    desired_remember(d, "h1", 10, doc1);
    desired_remember(d, "h1", 20, doc2);
    got = desired_recall(d, "h1", 10);
    assert_true(json_equal(got, doc1));
    json_decref(got);
    assert_null(desired_recall(d, "h2", 10));
    /* Only the last DESIRED_KEEP documents are kept. */
    desired_remember(d, "h1", 30, doc3);
    assert_null(desired_recall(d, "h1", 10));
    got = desired_recall(d, "h1", 30);
    assert_true(json_equal(got, doc3));
    json_decref(got);
    desired_forget(d, "h1");
    assert_null(desired_recall(d, "h1", 30));

    /* Two documents of a host share the elements that did not change. */
    {
        json_t *a = J("{'ports': [{'name': 'p', 'mac': 'm'}], 'remotes': "
                      "[{'network': 'n', 'mac': 'r1', 'vtep': 'v'}, "
                      "{'network': 'n', 'mac': 'r2', 'vtep': 'v'}]}");
        json_t *b = J("{'ports': [{'name': 'p', 'mac': 'm'}], 'remotes': "
                      "[{'network': 'n', 'mac': 'r1', 'vtep': 'v'}, "
                      "{'network': 'n', 'mac': 'r2', 'vtep': 'w'}]}");
        json_t *ga, *gb;

        desired_remember(d, "h2", 40, a);
        desired_remember(d, "h2", 50, b);
        ga = desired_recall(d, "h2", 40);
        gb = desired_recall(d, "h2", 50);
        assert_ptr_equal(json_array_get(json_object_get(ga, "ports"), 0),
                         json_array_get(json_object_get(gb, "ports"), 0));
        assert_ptr_equal(json_array_get(json_object_get(ga, "remotes"), 0),
                         json_array_get(json_object_get(gb, "remotes"), 0));
        assert_ptr_not_equal(
            json_array_get(json_object_get(ga, "remotes"), 1),
            json_array_get(json_object_get(gb, "remotes"), 1));
        fixture_expect_json(json_array_get(json_object_get(gb, "remotes"), 1),
                            "{'network': 'n', 'mac': 'r2', 'vtep': 'w'}");
        json_decref(ga);
        json_decref(gb);
        json_decref(a);
        json_decref(b);
    }
    desired_destroy(d);
    json_decref(doc1);
    json_decref(doc2);
    json_decref(doc3);
    (void) state;
}

/* Runs the long poll for 'host' with 'query' and returns its status;
 * '*out' gets the answer (NULL on 304). */
static int
poll_state(struct fixture_env *env, const char *host, const char *query,
           json_t **out, struct api_error *err)
{
    json_t *q = J(query);
    int status;

    *out = NULL;
    status = api_host_desired_state(&env->api, host, q, out, err);
    json_decref(q);
    return status;
}

static double
now_seconds(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* What a helper thread does after a delay, during a long poll. */
struct later {
    struct fixture_env *env; /* Where. */
    int delay_ms;            /* When. */
    fixture_create_func *fn; /* What to create... */
    const char *text;        /* ...from this JSON. */
};

static void *
later_main(void *l_)
{
    struct later *l = l_;

    usleep(l->delay_ms * 1000);
    fixture_create(l->env, l->fn, l->text);
    return NULL;
}

static void
test_long_poll(void **state)
{
    struct fixture_env *env = *state;
    struct api_error err = {0};
    json_t *out;
    int64_t r1;
    char *query;
    double t0;

    /* Without "since": the full document, at once. */
    assert_int_equal(poll_state(env, "h1", "{}", &out, &err), 200);
    assert_true(json_is_true(json_object_get(out, "full")));
    assert_non_null(json_object_get(out, "document"));
    r1 = json_integer_value(json_object_get(out, "revision"));
    assert_true(r1 > 0);
    json_decref(out);

    /* Nothing changed: 304, at once with wait=0 and after about a second
     * with wait=1. */
    query = xasprintf("{'since': '%lld', 'wait': '0'}", (long long) r1);
    assert_int_equal(poll_state(env, "h1", query, &out, &err), 304);
    free(query);
    query = xasprintf("{'since': '%lld', 'wait': '1'}", (long long) r1);
    t0 = now_seconds();
    assert_int_equal(poll_state(env, "h1", query, &out, &err), 304);
    assert_true(now_seconds() - t0 >= 0.9);
    assert_true(now_seconds() - t0 < 3);

    /* A change elsewhere (another network, another host's port there)
     * wakes the poll but is not an answer for h1. */
    struct later unrelated = {
        env,
        200,
        api_port_create,
        "{'name': 'f', 'network': 'red', 'host': 'h3'}",
    };
    pthread_t thread;

    pthread_create(&thread, NULL, later_main, &unrelated);
    t0 = now_seconds();
    assert_int_equal(poll_state(env, "h1", query, &out, &err), 304);
    assert_true(now_seconds() - t0 >= 0.9);
    pthread_join(thread, NULL);
    free(query);

    /* A change for h1 answers at once, as a list of changes. */
    struct later related = {
        env,
        200,
        api_port_create,
        "{'name': 'g', 'network': 'blue', 'host': 'h3', 'mac': "
        "'02:00:00:00:00:10'}",
    };

    pthread_create(&thread, NULL, later_main, &related);
    query = xasprintf("{'since': '%lld', 'wait': '10'}", (long long) r1);
    t0 = now_seconds();
    assert_int_equal(poll_state(env, "h1", query, &out, &err), 200);
    assert_true(now_seconds() - t0 < 5);
    pthread_join(thread, NULL);
    free(query);
    fixture_expect_json(
        json_object_get(out, "changes"),
        "[{'op': 'set', 'kind': 'remote', 'object': {'network': "
        "'blue', 'mac': '02:00:00:00:00:10', 'ip': '10.0.0.4', "
        "'vtep': '192.0.2.3'}}]");
    assert_true(json_is_false(json_object_get(out, "full")));
    assert_true(json_integer_value(json_object_get(out, "revision")) > r1);
    json_decref(out);

    /* A revision this controller never sent: a full document. */
    assert_int_equal(poll_state(env, "h1", "{'since': '999999'}", &out, &err),
                     200);
    assert_true(json_is_true(json_object_get(out, "full")));
    json_decref(out);

    /* Bad queries and unknown hosts. */
    assert_int_equal(poll_state(env, "h1", "{'since': 'x'}", &out, &err), 400);
    assert_string_equal(err.field, "since");
    assert_int_equal(poll_state(env, "h1", "{'wait': '301'}", &out, &err),
                     400);
    assert_string_equal(err.field, "wait");
    assert_int_equal(poll_state(env, "h1", "{'sinc': '1'}", &out, &err), 400);
    assert_int_equal(poll_state(env, "h9", "{}", &out, &err), 404);
    api_error_clear(&err);
}

/* Returns port 'name' of document 'doc' (borrowed). */
static const json_t *
doc_port(const json_t *doc, const char *name)
{
    const json_t *port;
    size_t i;

    json_array_foreach(json_object_get(doc, "ports"), i, port)
    {
        if (!strcmp(json_string_value(json_object_get(port, "name")), name)) {
            return port;
        }
    }
    fail_msg("no port \"%s\" in the document", name);
    return NULL;
}

static void
test_qos_documents(void **state)
{
    struct fixture_env *env = *state;
    json_t *doc;

    fixture_create(
        env, api_qos_create,
        "{'name': 'gold', 'egress': {'rate': 100000000, 'burst': 65536}, "
        "'ingress': {'rate': 1000000000}, 'dscp': 46, 'description': "
        "'x'}");
    fixture_create(env, api_qos_create,
                   "{'name': 'bronze', 'ingress': {'rate': 5000000}}");
    fixture_create(env, api_qos_create, "{'name': 'empty'}");

    /* No policy anywhere: no "qos" at all. */
    doc = fixture_compute(env, "h1");
    assert_null(json_object_get(doc_port(doc, "a"), "qos"));
    json_decref(doc);

    /* A port's own policy, resolved into flat parameters. */
    json_decref(fixture_patch(env, api_port_patch, "a", "{'qos': 'gold'}"));
    doc = fixture_compute(env, "h1");
    fixture_expect_json(
        doc_port(doc, "a"),
        "{'name': 'a', 'network': 'blue', 'device': 'fp-a', 'mac': "
        "'02:00:00:00:00:0a', 'ip': '10.0.0.1', 'qos': "
        "{'egress_rate': 100000000, 'egress_burst': 65536, "
        "'ingress_rate': 1000000000, 'dscp': 46}}");
    expect_agent_accepts(doc);
    json_decref(doc);

    /* A network's default applies to its ports without a policy of their
     * own; members the policy does not set are absent. */
    json_decref(fixture_patch(env, api_network_patch, "red",
                              "{'default_qos': 'bronze'}"));
    json_decref(fixture_patch(env, api_network_patch, "blue",
                              "{'default_qos': 'bronze'}"));
    doc = fixture_compute(env, "h2");
    fixture_expect_json(json_object_get(doc_port(doc, "b"), "qos"),
                        "{'ingress_rate': 5000000}");
    fixture_expect_json(json_object_get(doc_port(doc, "c"), "qos"),
                        "{'ingress_rate': 5000000}");
    expect_agent_accepts(doc);
    json_decref(doc);
    doc = fixture_compute(env, "h1");
    assert_int_equal(json_integer_value(json_object_get(
                         json_object_get(doc_port(doc, "a"), "qos"), "dscp")),
                     46);
    json_decref(doc);

    /* A policy that sets nothing is no "qos" either. */
    json_decref(fixture_patch(env, api_port_patch, "c", "{'qos': 'empty'}"));
    doc = fixture_compute(env, "h2");
    assert_null(json_object_get(doc_port(doc, "c"), "qos"));
    json_decref(doc);

    /* Removing the port's own policy falls back to the default. */
    json_decref(fixture_patch(env, api_port_patch, "a", "{'qos': null}"));
    doc = fixture_compute(env, "h1");
    fixture_expect_json(json_object_get(doc_port(doc, "a"), "qos"),
                        "{'ingress_rate': 5000000}");
    json_decref(doc);
}

/* The HTB parameters of a policy: the guaranteed minimum and the priority
 * reach the port's "qos" only when the policy sets them; a host's uplink
 * rate reaches the document's "host". */
static void
test_shaping_documents(void **state)
{
    struct fixture_env *env = *state;
    json_t *doc;

    fixture_create(
        env, api_qos_create,
        "{'name': 'gold', 'egress': {'rate': 100000000, 'min_rate': "
        "20000000}, 'priority': 1}");
    fixture_create(env, api_qos_create,
                   "{'name': 'floor', 'egress': {'min_rate': 5000000}}");
    fixture_create(env, api_qos_create, "{'name': 'first', 'priority': 0}");
    json_decref(fixture_patch(env, api_port_patch, "a", "{'qos': 'gold'}"));
    json_decref(fixture_patch(env, api_port_patch, "b", "{'qos': 'floor'}"));
    json_decref(fixture_patch(env, api_port_patch, "c", "{'qos': 'first'}"));

    doc = fixture_compute(env, "h1");
    fixture_expect_json(
        json_object_get(doc_port(doc, "a"), "qos"),
        "{'egress_rate': 100000000, 'egress_min_rate': 20000000, "
        "'egress_priority': 1}");
    fixture_expect_json(
        json_object_get(doc, "host"),
        "{'name': 'h1', 'vtep': '192.0.2.1', 'underlay': 'eth0'}");
    expect_agent_accepts(doc);
    json_decref(doc);
    doc = fixture_compute(env, "h2");
    fixture_expect_json(json_object_get(doc_port(doc, "b"), "qos"),
                        "{'egress_min_rate': 5000000}");
    /* A priority alone is a policy that sets something. */
    fixture_expect_json(json_object_get(doc_port(doc, "c"), "qos"),
                        "{'egress_priority': 0}");
    expect_agent_accepts(doc);
    json_decref(doc);

    /* A policy without a priority leaves it to the agent (4). */
    json_decref(
        fixture_patch(env, api_qos_patch, "gold", "{'priority': null}"));
    doc = fixture_compute(env, "h1");
    fixture_expect_json(
        json_object_get(doc_port(doc, "a"), "qos"),
        "{'egress_rate': 100000000, 'egress_min_rate': 20000000}");
    json_decref(doc);

    json_decref(fixture_patch(env, api_host_patch, "h1",
                              "{'uplink_rate': 10000000000}"));
    doc = fixture_compute(env, "h1");
    fixture_expect_json(
        json_object_get(doc, "host"),
        "{'name': 'h1', 'vtep': '192.0.2.1', 'underlay': 'eth0', "
        "'uplink_rate': 10000000000}");
    expect_agent_accepts(doc);
    json_decref(doc);
}

/* A policy change during a long poll, from another thread. */
struct later_patch {
    struct fixture_env *env; /* Where. */
    int delay_ms;            /* When. */
    const char *name;        /* Which policy... */
    const char *text;        /* ...gets this patch. */
};

static void *
later_patch_main(void *l_)
{
    struct later_patch *l = l_;

    usleep(l->delay_ms * 1000);
    json_decref(fixture_patch(l->env, api_qos_patch, l->name, l->text));
    return NULL;
}

static void
test_qos_change_wakes_long_poll(void **state)
{
    struct fixture_env *env = *state;
    struct api_error err = {0};
    struct later_patch later = {env, 200, "gold",
                                "{'egress': {'rate': 200000000}, 'dscp': 10}"};
    pthread_t thread;
    json_t *out;
    char *query;
    int64_t r;
    double t0;

    fixture_create(
        env, api_qos_create,
        "{'name': 'gold', 'egress': {'rate': 100000000}, 'dscp': 46}");
    json_decref(fixture_patch(env, api_port_patch, "b", "{'qos': 'gold'}"));
    json_decref(fixture_patch(env, api_network_patch, "red",
                              "{'default_qos': 'gold'}"));

    assert_int_equal(poll_state(env, "h2", "{}", &out, &err), 200);
    r = json_integer_value(json_object_get(out, "revision"));
    json_decref(out);

    /* The policy changes: every port using it, directly or through its
     * network, changes in h2's document, and the poll wakes at once. */
    pthread_create(&thread, NULL, later_patch_main, &later);
    query = xasprintf("{'since': '%lld', 'wait': '10'}", (long long) r);
    t0 = now_seconds();
    assert_int_equal(poll_state(env, "h2", query, &out, &err), 200);
    assert_true(now_seconds() - t0 < 5);
    pthread_join(thread, NULL);
    free(query);
    fixture_expect_json(
        json_object_get(out, "changes"),
        "[{'op': 'set', 'kind': 'port', 'object': {'name': 'b', "
        "'network': 'blue', 'device': 'fp-b', 'mac': "
        "'02:00:00:00:00:0b', 'ip': '10.0.0.2', 'qos': "
        "{'egress_rate': 200000000, 'dscp': 10}}}, "
        "{'op': 'set', 'kind': 'port', 'object': {'name': 'c', "
        "'network': 'red', 'device': 'tap-c', 'mac': "
        "'02:00:00:00:00:0c', 'ip': '10.1.0.1', 'qos': "
        "{'egress_rate': 200000000, 'dscp': 10}}}]");
    json_decref(out);

    /* h1 has no port using it: the change is no answer there. */
    assert_int_equal(poll_state(env, "h1", "{}", &out, &err), 200);
    r = json_integer_value(json_object_get(out, "revision"));
    json_decref(out);
    later.text = "{'dscp': 12}";
    pthread_create(&thread, NULL, later_patch_main, &later);
    query = xasprintf("{'since': '%lld', 'wait': '1'}", (long long) r);
    assert_int_equal(poll_state(env, "h1", query, &out, &err), 304);
    pthread_join(thread, NULL);
    free(query);
    api_error_clear(&err);
}

/* An agent that comes over from another replica asks for the changes
 * since a revision this controller never sent it (doc/replication.md,
 * "Clients"): if nothing the document depends on changed since, it gets
 * none, and later changes come as changes, not the whole document. */
static void
test_resume_from_another_replica(void **state)
{
    struct fixture_env *env = *state;
    struct api_error err = {0};
    int64_t r1, r2, opened;
    json_t *out;
    char *query, *digest;

    assert_int_equal(poll_state(env, "h1", "{}", &out, &err), 200);
    r1 = json_integer_value(json_object_get(out, "revision"));
    json_decref(out);
    query = xasprintf("{'since': '%lld', 'wait': '0'}", (long long) r1);

    /* Another replica, which never sent h1 anything. */
    desired_forget(env->api.desired, "h1");
    assert_int_equal(poll_state(env, "h1", query, &out, &err), 304);

    /* A change for h1 then arrives as a change. */
    fixture_create(env, api_port_create,
                   "{'name': 'g', 'network': 'blue', 'host': 'h3', 'mac': "
                   "'02:00:00:00:00:10'}");
    assert_int_equal(poll_state(env, "h1", query, &out, &err), 200);
    assert_true(json_is_false(json_object_get(out, "full")));
    assert_int_equal(json_array_size(json_object_get(out, "changes")), 1);
    json_decref(out);

    /* The port came after r1: a replica that never sent r1 cannot tell
     * what the agent has, and sends the whole document. */
    desired_forget(env->api.desired, "h1");
    assert_int_equal(poll_state(env, "h1", query, &out, &err), 200);
    assert_true(json_is_true(json_object_get(out, "full")));
    json_decref(out);

    /* Unless the agent sends the digest of what it holds: then commits
     * that left its document as it was (a network of no port of its) do
     * not cost it the whole document. */
    assert_int_equal(poll_state(env, "h1", "{}", &out, &err), 200);
    r2 = json_integer_value(json_object_get(out, "revision"));
    digest = xasprintf("{'since': '%lld', 'wait': '0', 'digest': '%s'}",
                       (long long) r2,
                       json_string_value(json_object_get(out, "digest")));
    json_decref(out);
    fixture_create(env, api_network_create,
                   "{'name': 'green', 'cidr': '10.7.0.0/24'}");
    desired_forget(env->api.desired, "h1");
    assert_int_equal(poll_state(env, "h1", digest, &out, &err), 304);
    free(digest);
    desired_forget(env->api.desired, "h1");
    digest = xasprintf("{'since': '%lld', 'wait': '0', 'digest': '%064d'}",
                       (long long) r2, 0);
    assert_int_equal(poll_state(env, "h1", digest, &out, &err), 200);
    assert_true(json_is_true(json_object_get(out, "full")));
    json_decref(out);
    free(digest);
    assert_int_equal(
        poll_state(env, "h1", "{'since': '1', 'digest': 'ABC'}", &out, &err),
        400);
    assert_string_equal(err.field, "digest");

    /* Nor can one that opened the store after r1: commits before it are
     * unknown to it. */
    opened = env->api.opened_revision;
    env->api.opened_revision = r1 + 1;
    desired_forget(env->api.desired, "h2");
    assert_int_equal(poll_state(env, "h2", "{}", &out, &err), 200);
    json_decref(out);
    desired_forget(env->api.desired, "h2");
    assert_int_equal(poll_state(env, "h2", query, &out, &err), 200);
    assert_true(json_is_true(json_object_get(out, "full")));
    json_decref(out);
    env->api.opened_revision = opened;
    free(query);
    api_error_clear(&err);
}

static void
test_host_change_is_full(void **state)
{
    struct fixture_env *env = *state;
    struct api_error err = {0};
    json_t *out;
    char *query;
    int64_t r;

    assert_int_equal(poll_state(env, "h1", "{}", &out, &err), 200);
    r = json_integer_value(json_object_get(out, "revision"));
    json_decref(out);
    fixture_create(env, api_host_register,
                   "{'name': 'h1', 'vtep': '192.0.2.11', 'underlay': 'eth0'}");
    query = xasprintf("{'since': '%lld', 'wait': '5'}", (long long) r);
    assert_int_equal(poll_state(env, "h1", query, &out, &err), 200);
    free(query);
    assert_true(json_is_true(json_object_get(out, "full")));
    assert_string_equal(
        json_string_value(json_object_get(
            json_object_get(json_object_get(out, "document"), "host"),
            "vtep")),
        "192.0.2.11");
    json_decref(out);

    /* And h2 sees the new VTEP of its remote as a change. */
    assert_int_equal(poll_state(env, "h2", "{}", &out, &err), 200);
    json_decref(out);
    api_error_clear(&err);
}

static void
test_stopping(void **state)
{
    struct fixture_env *env = *state;
    struct api_error err = {0};
    json_t *out;
    char *query;
    int64_t r;

    assert_int_equal(poll_state(env, "h1", "{}", &out, &err), 200);
    r = json_integer_value(json_object_get(out, "revision"));
    json_decref(out);
    /* A stopping controller ends long polls, so that it can stop. */
    atomic_store(&env->api.stopping, true);
    query = xasprintf("{'since': '%lld', 'wait': '300'}", (long long) r);
    assert_int_equal(poll_state(env, "h1", query, &out, &err), 503);
    free(query);
    api_error_clear(&err);
}

/* With the firewall, every document still reads as fabric-agent expects
 * (doc/firewall.md): identities, rules with every kind of peer, ports and
 * remotes with identities, a network that denies by default. */
static void
test_firewall_documents(void **state)
{
    struct fixture_env *env = *state;
    struct api_error err = {0};
    json_t *in, *out, *doc;
    static const char *const rules[][2] = {
        {"web", "{'direction': 'egress', 'protocol': 'tcp', 'ports': "
                "'5432', 'peer_group': 'db', 'action': 'allow'}"},
        {"web", "{'direction': 'ingress', 'protocol': 'any', 'peer_cidr': "
                "'192.0.2.0/24', 'action': 'deny', 'log': true}"},
        {"web", "{'direction': 'ingress', 'protocol': 'icmp', 'icmp_type': "
                "8, 'action': 'allow'}"},
        {"db", "{'direction': 'ingress', 'protocol': 'udp', 'ports': "
               "'1000-2000', 'peer_group': 'web', 'action': 'allow'}"},
    };

    fixture_create(env, api_sg_create,
                   "{'name': 'web', 'selector': {'app': 'a'}}");
    fixture_create(env, api_sg_create, "{'name': 'db'}");
    for (size_t i = 0; i < ARRAY_SIZE(rules); i++) {
        in = J(rules[i][1]);
        assert_int_equal(
            api_sg_rule_create(&env->api, rules[i][0], in, &out, &err), 201);
        json_decref(in);
        json_decref(out);
    }
    in = J("{'labels': {'app': 'a'}}");
    assert_int_equal(api_port_patch(&env->api, "a", in, STORE_ANY, &out, &err),
                     200);
    json_decref(in);
    json_decref(out);
    in = J("{'security_groups': ['db']}");
    assert_int_equal(api_port_patch(&env->api, "b", in, STORE_ANY, &out, &err),
                     200);
    json_decref(in);
    json_decref(out);
    in = J("{'default_action': 'deny'}");
    assert_int_equal(
        api_network_patch(&env->api, "red", in, STORE_ANY, &out, &err), 200);
    json_decref(in);
    json_decref(out);

    for (int h = 1; h <= 3; h++) {
        char host[8];

        snprintf(host, sizeof host, "h%d", h);
        doc = fixture_compute(env, host);
        expect_agent_accepts(doc);
        json_decref(doc);
    }
    doc = fixture_compute(env, "h1");
    assert_int_equal(json_array_size(json_object_get(doc, "identities")), 1);
    json_decref(doc);
}

/* A long poll of one host run on a thread of its own. */
struct poller {
    struct fixture_env *env; /* Where. */
    const char *host;        /* Whose document. */
    char *query;             /* Since its revision, for a few seconds. */
    int status;              /* The answer's status... */
    json_t *out;             /* ...and body (NULL on 304). */
    pthread_t thread;        /* Runs poller_main(). */
};

static void *
poller_main(void *p_)
{
    struct poller *p = p_;
    struct api_error err = {0};

    p->status = poll_state(p->env, p->host, p->query, &p->out, &err);
    api_error_clear(&err);
    return NULL;
}

/* Stores in '*revision' the revision of host 'host''s full document, which
 * the controller now remembers as sent. */
static void
poll_full(struct fixture_env *env, const char *host, int64_t *revision)
{
    struct api_error err = {0};
    json_t *out;

    assert_int_equal(poll_state(env, host, "{}", &out, &err), 200);
    *revision = json_integer_value(json_object_get(out, "revision"));
    json_decref(out);
}

/* Waits until the controller has taken in the change of 'revision' for
 * host 'host', whose document 'doc' it concerns. */
static void
expect_concerned(struct fixture_env *env, const char *host, const json_t *doc,
                 int64_t revision)
{
    assert_int_equal(
        desired_wait(env->api.desired, host, doc, revision - 1, 10000), 0);
    assert_true(desired_revision(env->api.desired, host, doc) >= revision);
}

/* Returns the store's latest revision. */
static int64_t
latest(struct fixture_env *env)
{
    return store_revision(env->store);
}

/* A port's change concerns its host and the hosts with ports in its
 * network, and no other: the others' documents are neither recomputed nor
 * their long polls woken. */
static void
test_change_concerns_few_hosts(void **state)
{
    struct fixture_env *env = *state;
    json_t *doc1 = fixture_compute(env, "h1"); /* blue */
    json_t *doc2 = fixture_compute(env, "h2"); /* blue, red */
    json_t *doc3 = fixture_compute(env, "h3"); /* nothing */
    struct poller polls[3] = {
        {.env = env, .host = "h1"},
        {.env = env, .host = "h2"},
        {.env = env, .host = "h3"},
    };
    uint64_t computes, wakeups1, wakeups3;
    int64_t before, rev;

    /* A port in red on h2: h2 only. */
    before = latest(env);
    fixture_create(env, api_port_create,
                   "{'name': 'e', 'network': 'red', 'host': 'h2'}");
    rev = latest(env);
    expect_concerned(env, "h2", doc2, rev);
    assert_true(desired_revision(env->api.desired, "h1", doc1) <= before);
    assert_true(desired_revision(env->api.desired, "h3", doc3) <= before);

    /* A port in blue on h3: h3 (its host), h1 and h2 (blue's). */
    before = latest(env);
    fixture_create(env, api_port_create,
                   "{'name': 'f', 'network': 'blue', 'host': 'h3'}");
    rev = latest(env);
    expect_concerned(env, "h3", doc3, rev);
    expect_concerned(env, "h1", doc1, rev);
    expect_concerned(env, "h2", doc2, rev);
    json_decref(doc1);
    json_decref(doc2);
    json_decref(doc3);

    /* A host registering again with the same VTEP concerns itself only;
     * with another VTEP, the hosts with ports in its networks too, whose
     * remotes are behind it. */
    doc1 = fixture_compute(env, "h1");
    doc2 = fixture_compute(env, "h2");
    before = latest(env);
    fixture_create(env, api_host_register,
                   "{'name': 'h3', 'vtep': '192.0.2.3', 'underlay': 'eth0'}");
    doc3 = fixture_compute(env, "h3");
    expect_concerned(env, "h3", doc3, latest(env));
    assert_true(desired_revision(env->api.desired, "h1", doc1) <= before);
    json_decref(doc3);
    fixture_create(env, api_host_register,
                   "{'name': 'h3', 'vtep': '192.0.2.33', 'underlay': "
                   "'eth0'}");
    expect_concerned(env, "h1", doc1, latest(env));
    expect_concerned(env, "h2", doc2, latest(env));
    json_decref(doc1);
    json_decref(doc2);

    /* The three agents wait; a port in red on h2 answers h2, without
     * waking h1 or h3 or computing their documents. */
    for (size_t i = 0; i < ARRAY_SIZE(polls); i++) {
        int64_t r;

        poll_full(env, polls[i].host, &r);
        polls[i].query =
            xasprintf("{'since': '%lld', 'wait': '3'}", (long long) r);
    }
    computes = desired_computes(env->api.desired);
    wakeups1 = desired_wakeups(env->api.desired, "h1");
    wakeups3 = desired_wakeups(env->api.desired, "h3");
    for (size_t i = 0; i < ARRAY_SIZE(polls); i++) {
        pthread_create(&polls[i].thread, NULL, poller_main, &polls[i]);
    }
    usleep(500 * 1000);
    fixture_create(env, api_port_create,
                   "{'name': 'g', 'network': 'red', 'host': 'h2', 'mac': "
                   "'02:00:00:00:00:11'}");
    for (size_t i = 0; i < ARRAY_SIZE(polls); i++) {
        pthread_join(polls[i].thread, NULL);
        free(polls[i].query);
    }
    assert_int_equal(polls[0].status, 304);
    assert_int_equal(polls[1].status, 200);
    assert_int_equal(polls[2].status, 304);
    assert_int_equal(json_array_size(json_object_get(polls[1].out, "changes")),
                     1);
    json_decref(polls[1].out);
    /* h2's document only, once. */
    assert_int_equal(desired_computes(env->api.desired) - computes, 1);
    assert_int_equal(desired_wakeups(env->api.desired, "h1"), wakeups1);
    assert_int_equal(desired_wakeups(env->api.desired, "h3"), wakeups3);
}

/* What concerns every host (a security group's rule, here) wakes every
 * long poll, and an agent that asks again with nothing new for it waits
 * without its document being computed. */
static void
test_change_concerns_every_host(void **state)
{
    struct fixture_env *env = *state;
    json_t *doc1 = fixture_compute(env, "h1");
    json_t *doc3 = fixture_compute(env, "h3");
    struct api_error err = {0};
    uint64_t computes;
    char *query;
    json_t *out;
    int64_t r;

    fixture_create(env, api_qos_create,
                   "{'name': 'gold', 'egress': {'rate': 1000000}}");
    expect_concerned(env, "h1", doc1, latest(env));
    expect_concerned(env, "h3", doc3, latest(env));
    json_decref(doc1);
    json_decref(doc3);

    poll_full(env, "h1", &r);
    computes = desired_computes(env->api.desired);
    query = xasprintf("{'since': '%lld', 'wait': '0'}", (long long) r);
    assert_int_equal(poll_state(env, "h1", query, &out, &err), 304);
    free(query);
    assert_int_equal(desired_computes(env->api.desired), computes);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_documents, setup,
                                        fixture_env_teardown),
        cmocka_unit_test_setup_teardown(test_external_vteps, setup,
                                        fixture_env_teardown),
        cmocka_unit_test_setup_teardown(test_remotes_need_a_registered_host,
                                        setup, fixture_env_teardown),
        cmocka_unit_test(test_diff),
        cmocka_unit_test(test_cache),
        cmocka_unit_test_setup_teardown(test_long_poll, setup,
                                        fixture_env_teardown),
        cmocka_unit_test_setup_teardown(test_qos_documents, setup,
                                        fixture_env_teardown),
        cmocka_unit_test_setup_teardown(test_shaping_documents, setup,
                                        fixture_env_teardown),
        cmocka_unit_test_setup_teardown(test_qos_change_wakes_long_poll, setup,
                                        fixture_env_teardown),
        cmocka_unit_test_setup_teardown(test_resume_from_another_replica,
                                        setup, fixture_env_teardown),
        cmocka_unit_test_setup_teardown(test_host_change_is_full, setup,
                                        fixture_env_teardown),
        cmocka_unit_test_setup_teardown(test_stopping, setup,
                                        fixture_env_teardown),
        cmocka_unit_test_setup_teardown(test_firewall_documents, setup,
                                        fixture_env_teardown),
        cmocka_unit_test_setup_teardown(test_change_concerns_few_hosts, setup,
                                        fixture_env_teardown),
        cmocka_unit_test_setup_teardown(test_change_concerns_every_host, setup,
                                        fixture_env_teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
