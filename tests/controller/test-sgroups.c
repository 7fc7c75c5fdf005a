/* The distributed firewall's model (doc/firewall.md) on a real SQLite
 * store: security groups and their rules (every validation error names its
 * field, nothing is half-applied), the identities of group sets (shared by
 * ports with the same set, following labels and selectors, freed and
 * reused), the per-host documents agents get (only their own identities,
 * peer groups resolved) and their changes, rule hit counters, and roles
 * over real HTTP. */
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

#include "controller/api.h"
#include "controller/desired.h"
#include "controller/store.h"
#include "datapath/dp-tables.h"
#include "tests/controller/fixture.h"
#include "utils/log.h"
#include "utils/util.h"

/* The controller hands out the identities the fast path expects. */
_Static_assert(API_IDENTITY_MIN == DP_GROUP_IDENTITY_MIN,
               "API_IDENTITY_MIN must be DP_GROUP_IDENTITY_MIN");
_Static_assert(API_IDENTITY_MAX == DP_GROUP_IDENTITY_MAX,
               "API_IDENTITY_MAX must be DP_GROUP_IDENTITY_MAX");

/* JSON written with ' for ", as fixture_json() reads it. */
#define J(TEXT) fixture_json(TEXT)

/* Checks that 'status' and 'err' are the error 'want' naming 'field' (or
 * none if NULL) with 'text' in the message, and clears 'err'. */
static void
check_error(int status, struct api_error *err, const char *what, int want,
            const char *field, const char *text)
{
    if (status != want) {
        fail_msg("%s: expected %d, got %d (%s)", what, want, status,
                 err->message ? err->message : "no message");
    }
    if (field) {
        if (!err->field || strcmp(err->field, field)) {
            fail_msg("%s: expected field %s, got %s (%s)", what, field,
                     err->field ? err->field : "none", err->message);
        }
    }
    if (text && !strstr(err->message, text)) {
        fail_msg("%s: message \"%s\" lacks \"%s\"", what, err->message, text);
    }
    api_error_clear(err);
}

/* Expects creating 'text' with 'fn' to fail with 'status' on 'field'. */
static void
refuse(struct fixture_env *env, fixture_create_func *fn, const char *text,
       int status, const char *field, const char *message)
{
    struct api_error err = {0};
    json_t *in = J(text), *out = NULL;

    check_error(fn(&env->api, in, &out, &err), &err, text, status, field,
                message);
    assert_null(out);
    json_decref(in);
}

/* Adds rule 'text' to 'group' and returns its id. */
static json_int_t
add_rule(struct fixture_env *env, const char *group, const char *text)
{
    struct api_error err = {0};
    json_t *in = J(text), *out = NULL;
    json_int_t id;
    int status = api_sg_rule_create(&env->api, group, in, &out, &err);

    if (status != 201) {
        fail_msg("%s: %d %s", text, status, err.message);
    }
    id = json_integer_value(json_object_get(out, "id"));
    assert_true(id > 0);
    json_decref(in);
    json_decref(out);
    return id;
}

static void
refuse_rule(struct fixture_env *env, const char *group, const char *text,
            int status, const char *field, const char *message)
{
    struct api_error err = {0};
    json_t *in = J(text), *out = NULL;

    check_error(api_sg_rule_create(&env->api, group, in, &out, &err), &err,
                text, status, field, message);
    assert_null(out);
    json_decref(in);
}

static json_t *
get_group(struct fixture_env *env, const char *name)
{
    struct api_error err = {0};
    json_t *out = NULL;

    assert_int_equal(api_sg_get(&env->api, name, &out, &err), 200);
    return out;
}

/* The identity of port 'port' in its host's document, read from the
 * store: 0 for none. */
static json_int_t
identity_of(struct fixture_env *env, const char *port)
{
    struct store_txn *txn;
    struct store_obj obj;
    json_int_t id = 0;

    assert_int_equal(store_begin(env->store, false, &txn), 0);
    if (!store_get(txn, "port-identity", port, &obj)) {
        id = json_integer_value(json_object_get(obj.body, "identity"));
        store_obj_clear(&obj);
    }
    store_abort(txn);
    return id;
}

/* How many identities the store holds. */
static size_t
identities(struct fixture_env *env)
{
    struct store_txn *txn;
    size_t n;

    assert_int_equal(store_begin(env->store, false, &txn), 0);
    assert_int_equal(store_count(txn, "identity", &n), 0);
    store_abort(txn);
    return n;
}

/* A network, three hosts and the groups of the stories below. */
static void
cloud(struct fixture_env *env)
{
    fixture_create(env, api_network_create,
                   "{'name': 'blue', 'cidr': '10.0.0.0/24', 'vni': 100}");
    fixture_create(env, api_host_register,
                   "{'name': 'h1', 'vtep': '192.0.2.1', 'underlay': 'eth0'}");
    fixture_create(env, api_host_register,
                   "{'name': 'h2', 'vtep': '192.0.2.2', 'underlay': 'eth0'}");
    fixture_create(env, api_host_register,
                   "{'name': 'h3', 'vtep': '192.0.2.3', 'underlay': 'eth0'}");
    fixture_create(
        env, api_sg_create,
        "{'name': 'web', 'selector': {'tier': 'web'}, 'description': "
        "'front ends'}");
    fixture_create(env, api_sg_create, "{'name': 'db'}");
}

/* Port web1 on h1, in group web by its label, and port db1 on h2, in group
 * db by name. */
static void
web_and_db(struct fixture_env *env)
{
    fixture_create(env, api_port_create,
                   "{'name': 'web1', 'network': 'blue', 'host': 'h1', 'mac': "
                   "'02:00:00:00:00:01', 'labels': {'tier': 'web'}}");
    fixture_create(env, api_port_create,
                   "{'name': 'db1', 'network': 'blue', 'host': 'h2', 'mac': "
                   "'02:00:00:00:00:02', 'security_groups': ['db']}");
}

static void
test_group_validation(void **state)
{
    struct fixture_env *env = *state;
    struct api_error err = {0};
    json_t *out, *in;

    refuse(env, api_sg_create, "{'name': 'Web'}", 400, "name", "a-z");
    refuse(env, api_sg_create, "{}", 400, "name", "required");
    refuse(env, api_sg_create, "{'name': 'web', 'rules': []}", 400, "rules",
           "unknown field");
    refuse(env, api_sg_create, "{'name': 'web', 'selector': {'tier': 1}}", 400,
           "selector", "expected a string value");
    refuse(env, api_sg_create, "{'name': 'web', 'selector': {'a=b': 'c'}}",
           400, "selector", "without \"=\"");
    refuse(env, api_sg_create, "{'name': 'web', 'selector': 'tier=web'}", 400,
           "selector", "expected an object");
    /* "env=prod,tier=web" is two pairs to fabricctl and kubectl: never one
     * odd value, nor a key. */
    refuse(env, api_sg_create,
           "{'name': 'web', 'selector': {'env': 'prod,tier=web'}}", 400,
           "selector", "may not hold \",\"");
    refuse(env, api_sg_create,
           "{'name': 'web', 'selector': {'env,tier': 'a'}}", 400, "selector",
           "without \"=\" or \",\"");
    refuse(env, api_port_create,
           "{'name': 'p', 'network': 'n', 'labels': {'env': 'prod,tier=web'}}",
           400, "labels", "may not hold \",\"");
    refuse(env, api_sg_create, "{'name': 'web', 'members': ['p']}", 400,
           "members", "read-only");

    out = fixture_make(
        env, api_sg_create,
        "{'name': 'web', 'selector': {'tier': 'web', 'env': 'prod'}}");
    fixture_expect_json(json_object_get(out, "selector"),
                        "{'tier': 'web', 'env': 'prod'}");
    fixture_expect_json(json_object_get(out, "members"), "[]");
    assert_int_equal(json_integer_value(json_object_get(out, "version")), 1);
    json_decref(out);
    refuse(env, api_sg_create, "{'name': 'web'}", 409, "name",
           "already exists");

    /* A merge patch: a null member removes one pair. */
    out = fixture_patch(
        env, api_sg_patch, "web",
        "{'selector': {'env': null, 'app': 'shop'}, 'description': "
        "'x'}");
    fixture_expect_json(json_object_get(out, "selector"),
                        "{'tier': 'web', 'app': 'shop'}");
    assert_int_equal(json_integer_value(json_object_get(out, "version")), 2);
    json_decref(out);

    /* A stale version changes nothing. */
    in = J("{'description': 'y'}");
    check_error(api_sg_patch(&env->api, "web", in, 1, &out, &err), &err,
                "stale patch", 409, "version", "stale");
    json_decref(in);
    out = get_group(env, "web");
    assert_string_equal(json_string_value(json_object_get(out, "description")),
                        "x");
    json_decref(out);

    check_error(api_sg_get(&env->api, "nope", &out, &err), &err, "get", 404,
                NULL, "not found");
    check_error(api_sg_delete(&env->api, "web", NULL, 1, &err), &err,
                "stale delete", 409, "version", "stale");
    assert_int_equal(api_sg_delete(&env->api, "web", NULL, 2, &err), 204);
    check_error(api_sg_delete(&env->api, "web", NULL, STORE_ANY, &err), &err,
                "delete again", 404, NULL, NULL);
}

static void
test_rule_validation(void **state)
{
    struct fixture_env *env = *state;
    struct api_error err = {0};
    json_int_t a, b, c;
    json_t *out, *query;
    char *token;

    cloud(env);
    refuse_rule(env, "nope",
                "{'direction': 'ingress', 'protocol': 'tcp', "
                "'action': 'allow'}",
                404, NULL, "not found");
    refuse_rule(env, "web",
                "{'direction': 'in', 'protocol': 'tcp', "
                "'action': 'allow'}",
                400, "direction", "ingress");
    refuse_rule(env, "web",
                "{'direction': 'ingress', 'protocol': 'sctp', "
                "'action': 'allow'}",
                400, "protocol", "tcp, udp, icmp, icmpv6, any");
    refuse_rule(env, "web", "{'direction': 'ingress', 'protocol': 'tcp'}", 400,
                "action", "required");
    refuse_rule(env, "web",
                "{'direction': 'ingress', 'protocol': 'tcp', "
                "'action': 'drop'}",
                400, "action", "allow");
    refuse_rule(env, "web",
                "{'direction': 'ingress', 'protocol': 'icmp', "
                "'ports': '80', 'action': 'allow'}",
                400, "ports", "only for protocol tcp or udp");
    refuse_rule(env, "web",
                "{'direction': 'ingress', 'protocol': 'tcp', "
                "'ports': 80, 'action': 'allow'}",
                400, "ports", "expected a string");
    refuse_rule(env, "web",
                "{'direction': 'ingress', 'protocol': 'tcp', "
                "'ports': '0', 'action': 'allow'}",
                400, "ports", "LO-HI");
    refuse_rule(env, "web",
                "{'direction': 'ingress', 'protocol': 'udp', "
                "'ports': '2000-1000', 'action': 'allow'}",
                400, "ports", "LO <= HI");
    refuse_rule(env, "web",
                "{'direction': 'ingress', 'protocol': 'tcp', "
                "'ports': '65536', 'action': 'allow'}",
                400, "ports", NULL);
    refuse_rule(env, "web",
                "{'direction': 'ingress', 'protocol': 'tcp', "
                "'ports': '80,443', 'action': 'allow'}",
                400, "ports", NULL);
    refuse_rule(env, "web",
                "{'direction': 'ingress', 'protocol': 'tcp', "
                "'icmp_type': 8, 'action': 'allow'}",
                400, "icmp_type", "only for protocol icmp");
    refuse_rule(env, "web",
                "{'direction': 'ingress', 'protocol': 'icmp', "
                "'icmp_type': 256, 'action': 'allow'}",
                400, "icmp_type", "0..255");
    refuse_rule(env, "web",
                "{'direction': 'ingress', 'protocol': 'any', "
                "'peer_group': 'ghosts', 'action': 'allow'}",
                400, "peer_group", "no such security group");
    refuse_rule(env, "web",
                "{'direction': 'ingress', 'protocol': 'any', "
                "'peer_group': 'db', 'peer_cidr': '10.0.0.0/8', "
                "'action': 'allow'}",
                400, "peer_cidr", "not both");
    refuse_rule(env, "web",
                "{'direction': 'ingress', 'protocol': 'any', "
                "'peer_cidr': '10.0.0.1/8', 'action': 'allow'}",
                400, "peer_cidr", "host bits");
    refuse_rule(env, "web",
                "{'direction': 'ingress', 'protocol': 'any', "
                "'peer_cidr': '10.0.0.0/33', 'action': 'allow'}",
                400, "peer_cidr", "0..32");
    refuse_rule(env, "web",
                "{'direction': 'ingress', 'protocol': 'any', "
                "'action': 'allow', 'log': 'yes'}",
                400, "log", "true or false");
    refuse_rule(env, "web",
                "{'direction': 'ingress', 'protocol': 'any', "
                "'action': 'allow', 'id': 5}",
                400, "id", "read-only");

    /* Ids are unique in the fabric and never reused. */
    a = add_rule(env, "web",
                 "{'direction': 'egress', 'protocol': 'tcp', "
                 "'ports': '5432', 'peer_group': 'db', "
                 "'action': 'allow'}");
    b = add_rule(env, "db",
                 "{'direction': 'ingress', 'protocol': 'tcp', "
                 "'ports': '5432-5433', 'peer_group': 'web', "
                 "'action': 'allow', 'log': true}");
    assert_true(b > a);
    {
        char id[24];

        snprintf(id, sizeof id, "%" JSON_INTEGER_FORMAT, b);
        assert_int_equal(api_sg_rule_delete(&env->api, "db", id, &err), 204);
        check_error(api_sg_rule_delete(&env->api, "db", id, &err), &err,
                    "deleted twice", 404, NULL, NULL);
        /* A rule is reached through its own group only. */
        snprintf(id, sizeof id, "%" JSON_INTEGER_FORMAT, a);
        check_error(api_sg_rule_get(&env->api, "db", id, &out, &err), &err,
                    "other group", 404, NULL, NULL);
        assert_int_equal(api_sg_rule_get(&env->api, "web", id, &out, &err),
                         200);
        assert_non_null(json_object_get(out, "created_at"));
        json_object_del(out, "created_at");
        fixture_expect_json(out,
                            "{'direction': 'egress', 'protocol': 'tcp', "
                            "'ports': '5432', 'peer_group': 'db', 'action': "
                            "'allow', 'log': false, 'group': 'web', 'id': 1, "
                            "'hits': 0}");
        json_decref(out);
    }
    c = add_rule(env, "db",
                 "{'direction': 'ingress', 'protocol': 'icmp', "
                 "'icmp_type': 0, 'peer_cidr': '192.0.2.0/24', "
                 "'action': 'deny'}");
    assert_true(c > b);

    query = J("{}");
    assert_int_equal(api_sg_rule_list(&env->api, "db", query, &out, &err),
                     200);
    json_decref(query);
    assert_int_equal(json_array_size(json_object_get(out, "items")), 1);
    assert_int_equal(
        json_integer_value(json_object_get(
            json_array_get(json_object_get(out, "items"), 0), "id")),
        c);
    json_decref(out);

    /* Pages of rules, by id. */
    add_rule(env, "db",
             "{'direction': 'egress', 'protocol': 'any', "
             "'action': 'allow'}");
    add_rule(env, "db",
             "{'direction': 'egress', 'protocol': 'icmpv6', "
             "'action': 'deny'}");
    query = J("{'limit': '2'}");
    assert_int_equal(api_sg_rule_list(&env->api, "db", query, &out, &err),
                     200);
    json_decref(query);
    assert_int_equal(json_array_size(json_object_get(out, "items")), 2);
    token = xasprintf("%" JSON_INTEGER_FORMAT, c + 1);
    assert_string_equal(
        json_string_value(json_object_get(out, "next_page_token")), token);
    free(token);
    query = json_pack("{sO}", "page_token",
                      json_object_get(out, "next_page_token"));
    json_decref(out);
    assert_int_equal(api_sg_rule_list(&env->api, "db", query, &out, &err),
                     200);
    json_decref(query);
    assert_int_equal(json_array_size(json_object_get(out, "items")), 1);
    assert_null(json_object_get(out, "next_page_token"));
    json_decref(out);
    query = J("{'page_token': 'x'}");
    check_error(api_sg_rule_list(&env->api, "db", query, &out, &err), &err,
                "bad token", 400, "page_token", NULL);
    json_decref(query);
}

static void
test_port_groups(void **state)
{
    struct fixture_env *env = *state;
    struct api_error err = {0};
    json_t *out, *in;

    cloud(env);
    refuse(env, api_port_create,
           "{'name': 'p1', 'network': 'blue', 'security_groups': ['ghosts']}",
           400, "security_groups", "no such security group");
    refuse(env, api_port_create,
           "{'name': 'p1', 'network': 'blue', 'security_groups': ['db', "
           "'db']}",
           400, "security_groups", "named twice");
    refuse(env, api_port_create,
           "{'name': 'p1', 'network': 'blue', 'security_groups': [7]}", 400,
           "security_groups", NULL);
    /* Nothing of the refused ports remains: their address is free. */
    out = fixture_make(env, api_port_create,
                       "{'name': 'p1', 'network': 'blue', 'security_groups': "
                       "['db']}");
    assert_string_equal(json_string_value(json_object_get(out, "ip")),
                        "10.0.0.1");
    fixture_expect_json(json_object_get(out, "security_groups"), "['db']");
    json_decref(out);

    /* A group a port names cannot go; nor one another group's rule names
     * as its peer; a rule naming its own group does not hold it. */
    check_error(api_sg_delete(&env->api, "db", NULL, STORE_ANY, &err), &err,
                "delete db", 409, NULL, "port \"p1\"");
    add_rule(env, "web",
             "{'direction': 'egress', 'protocol': 'tcp', "
             "'peer_group': 'web', 'action': 'allow'}");
    fixture_create(env, api_sg_create, "{'name': 'ops'}");
    add_rule(env, "ops",
             "{'direction': 'ingress', 'protocol': 'tcp', "
             "'peer_group': 'web', 'action': 'allow'}");
    check_error(api_sg_delete(&env->api, "web", NULL, STORE_ANY, &err), &err,
                "delete web", 409, NULL, "security group \"ops\"");

    /* An update replaces the list; null and [] empty it. */
    in = J("{'security_groups': ['ghosts']}");
    check_error(api_port_patch(&env->api, "p1", in, STORE_ANY, &out, &err),
                &err, "patch ghosts", 400, "security_groups", "ghosts");
    json_decref(in);
    out = fixture_patch(env, api_port_patch, "p1",
                        "{'security_groups': ['web']}");
    fixture_expect_json(json_object_get(out, "security_groups"), "['web']");
    json_decref(out);
    assert_int_equal(api_sg_delete(&env->api, "db", NULL, STORE_ANY, &err),
                     204);
    out =
        fixture_patch(env, api_port_patch, "p1", "{'security_groups': null}");
    assert_null(json_object_get(out, "security_groups"));
    json_decref(out);
    out = fixture_patch(env, api_port_patch, "p1",
                        "{'security_groups': ['ops']}");
    json_decref(out);
    out = fixture_patch(env, api_port_patch, "p1", "{'security_groups': []}");
    assert_null(json_object_get(out, "security_groups"));
    json_decref(out);

    /* A network's default action. */
    out = fixture_make(env, api_network_create,
                       "{'name': 'red', 'cidr': '10.1.0.0/24'}");
    assert_string_equal(
        json_string_value(json_object_get(out, "default_action")), "allow");
    json_decref(out);
    refuse(env, api_network_create,
           "{'name': 'green', 'cidr': '10.2.0.0/24', 'default_action': "
           "'reject'}",
           400, "default_action", "\"allow\" or \"deny\"");
    out = fixture_patch(env, api_network_patch, "red",
                        "{'default_action': 'deny'}");
    assert_string_equal(
        json_string_value(json_object_get(out, "default_action")), "deny");
    json_decref(out);
    out = fixture_patch(env, api_network_patch, "red",
                        "{'default_action': null}");
    assert_string_equal(
        json_string_value(json_object_get(out, "default_action")), "allow");
    json_decref(out);
}

static void
test_identities(void **state)
{
    struct fixture_env *env = *state;
    struct api_error err = {0};
    json_int_t web, db;
    json_t *out, *query;

    cloud(env);
    fixture_create(
        env, api_port_create,
        "{'name': 'web1', 'network': 'blue', 'host': 'h1', 'labels': "
        "{'tier': 'web'}}");
    fixture_create(
        env, api_port_create,
        "{'name': 'web2', 'network': 'blue', 'host': 'h2', 'labels': "
        "{'tier': 'web'}}");
    fixture_create(env, api_port_create,
                   "{'name': 'db1', 'network': 'blue', 'host': 'h2', "
                   "'security_groups': ['db']}");
    fixture_create(env, api_port_create,
                   "{'name': 'lone', 'network': 'blue'}");

    /* One identity per distinct set, the lowest free first. */
    web = identity_of(env, "web1");
    db = identity_of(env, "db1");
    assert_int_equal(web, API_IDENTITY_MIN);
    assert_int_equal(identity_of(env, "web2"), web);
    assert_int_equal(db, API_IDENTITY_MIN + 1);
    assert_int_equal(identity_of(env, "lone"), 0);
    assert_int_equal(identities(env), 2);
    out = get_group(env, "web");
    fixture_expect_json(json_object_get(out, "members"), "['web1', 'web2']");
    json_decref(out);

    /* Labels move a port between sets; a set both groups select is a new
     * one. */
    json_decref(fixture_patch(env, api_port_patch, "web2",
                              "{'labels': {'tier': 'db'}, 'security_groups': "
                              "['db']}"));
    assert_int_equal(identity_of(env, "web2"), db);
    json_decref(fixture_patch(env, api_port_patch, "db1",
                              "{'labels': {'tier': 'web'}}"));
    assert_int_equal(identity_of(env, "db1"), API_IDENTITY_MIN + 2);
    assert_int_equal(identities(env), 3);
    out = get_group(env, "db");
    fixture_expect_json(json_object_get(out, "members"), "['db1', 'web2']");
    json_decref(out);

    /* A freed identity is the next one handed out. */
    assert_int_equal(api_port_delete(&env->api, "web1", NULL, STORE_ANY, &err),
                     204);
    assert_int_equal(identities(env), 2);
    json_decref(fixture_patch(env, api_port_patch, "lone",
                              "{'labels': {'tier': 'web'}}"));
    assert_int_equal(identity_of(env, "lone"), API_IDENTITY_MIN);

    /* Selectors decide membership too: a changed one moves ports, a
     * deleted group takes its selected members with it. */
    json_decref(fixture_patch(env, api_sg_patch, "web",
                              "{'selector': {'tier': 'front'}}"));
    assert_int_equal(identity_of(env, "lone"), 0);
    assert_int_equal(identity_of(env, "db1"), db);
    assert_int_equal(identities(env), 1);
    json_decref(fixture_patch(env, api_sg_patch, "db",
                              "{'selector': {'tier': "
                              "'web'}}"));
    assert_int_equal(identity_of(env, "lone"), db);
    assert_int_equal(api_sg_delete(&env->api, "web", NULL, STORE_ANY, &err),
                     204);
    assert_int_equal(identity_of(env, "lone"), db);
    out = get_group(env, "db");
    fixture_expect_json(json_object_get(out, "members"),
                        "['db1', 'lone', 'web2']");
    json_decref(out);

    /* Lists show the members too. */
    fixture_create(env, api_sg_create, "{'name': 'aaa'}");
    query = J("{'limit': '1', 'page_token': 'aaa'}");
    assert_int_equal(api_sg_list(&env->api, query, &out, &err), 200);
    fixture_expect_json(
        json_object_get(json_array_get(json_object_get(out, "items"), 0),
                        "members"),
        "['db1', 'lone', 'web2']");
    assert_null(json_object_get(out, "next_page_token"));
    json_decref(out);
    json_decref(query);
}

/* When every identity is taken, the change that needs a new one is refused
 * and leaves nothing behind; a set that has one still gets it. */
static void
test_identities_exhausted(void **state)
{
    struct fixture_env *env = *state;
    struct store_txn *txn;
    struct api_error err = {0};
    json_t *body, *in, *out = NULL;

    cloud(env);
    fixture_create(
        env, api_port_create,
        "{'name': 'web1', 'network': 'blue', 'labels': {'tier': 'web'}}");
    body = J("{'groups': ['elsewhere'], 'ports': 1}");
    assert_int_equal(store_begin(env->store, true, &txn), 0);
    for (int id = API_IDENTITY_MIN + 1; id <= API_IDENTITY_MAX; id++) {
        char name[16];

        snprintf(name, sizeof name, "%05d", id);
        assert_int_equal(
            store_put(txn, "identity", name, body, STORE_CREATE, NULL), 0);
    }
    assert_int_equal(store_commit(txn, NULL), 0);
    json_decref(body);

    refuse(env, api_port_create,
           "{'name': 'db1', 'network': 'blue', 'security_groups': ['db']}",
           409, NULL, "no free group identity");
    check_error(api_port_get(&env->api, "db1", &out, &err), &err, "db1", 404,
                NULL, NULL);
    in = J("{'labels': {'tier': 'web', 'x': 'y'}, 'security_groups': "
           "['db']}");
    check_error(api_port_patch(&env->api, "web1", in, STORE_ANY, &out, &err),
                &err, "web1 patch", 409, NULL, "no free group identity");
    json_decref(in);
    out = get_group(env, "db");
    fixture_expect_json(json_object_get(out, "members"), "[]");
    json_decref(out);
    fixture_create(
        env, api_port_create,
        "{'name': 'web2', 'network': 'blue', 'labels': {'tier': 'web'}}");
    assert_int_equal(identity_of(env, "web2"), API_IDENTITY_MIN);
}

/* Returns rule 'id' of an identity of 'doc', or fails. */
static json_t *
doc_identity(const json_t *doc, json_int_t id)
{
    json_t *identity;
    size_t i;

    json_array_foreach(json_object_get(doc, "identities"), i, identity)
    {
        if (json_integer_value(json_object_get(identity, "id")) == id) {
            return identity;
        }
    }
    fail_msg("identity %" JSON_INTEGER_FORMAT " not in the document", id);
    return NULL;
}

static void
test_documents(void **state)
{
    struct fixture_env *env = *state;
    json_t *doc;

    cloud(env);
    fixture_create(env, api_network_create,
                   "{'name': 'red', 'cidr': '10.1.0.0/24', 'vni': 200, "
                   "'default_action': 'deny'}");
    web_and_db(env);
    fixture_create(env, api_port_create,
                   "{'name': 'both', 'network': 'blue', 'host': 'h3', 'mac': "
                   "'02:00:00:00:00:03', 'labels': {'tier': 'web'}, "
                   "'security_groups': ['db']}");
    fixture_create(env, api_port_create,
                   "{'name': 'r1', 'network': 'red', 'host': 'h3', 'mac': "
                   "'02:00:00:00:00:04'}");
    add_rule(env, "web",
             "{'direction': 'egress', 'protocol': 'tcp', "
             "'ports': '5432', 'peer_group': 'db', 'action': "
             "'allow'}");
    add_rule(env, "web",
             "{'direction': 'ingress', 'protocol': 'any', "
             "'peer_cidr': '192.0.2.0/24', 'action': 'deny', "
             "'log': true}");
    add_rule(env, "web",
             "{'direction': 'ingress', 'protocol': 'icmp', "
             "'icmp_type': 8, 'action': 'allow'}");
    add_rule(env, "db",
             "{'direction': 'ingress', 'protocol': 'tcp', "
             "'ports': '5432-5433', 'peer_group': 'web', "
             "'action': 'allow'}");

    /* web1: 256 {web}; db1: 257 {db}; both: 258 {db, web}.  h1 gets only
     * its own identity, with peer groups resolved to every identity whose
     * set holds them. */
    doc = fixture_compute(env, "h1");
    fixture_expect_json(
        json_object_get(doc, "ports"),
        "[{'name': 'web1', 'network': 'blue', 'device': 'fp-web1', "
        "'mac': '02:00:00:00:00:01', 'ip': '10.0.0.1', 'identity': "
        "256}]");
    fixture_expect_json(
        json_object_get(doc, "remotes"),
        "[{'network': 'blue', 'mac': '02:00:00:00:00:03', 'ip': "
        "'10.0.0.3', 'vtep': '192.0.2.3', 'identity': 258}, "
        "{'network': 'blue', 'mac': '02:00:00:00:00:02', 'ip': "
        "'10.0.0.2', 'vtep': '192.0.2.2', 'identity': 257}]");
    fixture_expect_json(json_object_get(doc, "networks"),
                        "[{'name': 'blue', 'vni': 100, 'mtu': 1450, "
                        "'cidr': '10.0.0.0/24'}]");
    fixture_expect_json(
        json_object_get(doc, "identities"),
        "[{'id': 256, 'groups': ['web'], 'governs': ['ingress', 'egress'], "
        "'rules': [{'id': 1, 'group': 'web', 'direction': 'egress', "
        "'protocol': 'tcp', 'ports': [5432, 5432], 'peer_identities': [257, "
        "258], 'action': 'allow', 'log': false}, {'id': 2, 'group': 'web', "
        "'direction': 'ingress', 'protocol': 'any', 'peer_cidrs': "
        "['192.0.2.0/24'], 'action': 'deny', 'log': true}, {'id': 3, "
        "'group': 'web', 'direction': 'ingress', 'protocol': 'icmp', "
        "'icmp_type': 8, 'action': 'allow', 'log': false}]}]");
    json_decref(doc);

    /* h2 holds only db1. */
    doc = fixture_compute(env, "h2");
    fixture_expect_json(
        json_object_get(doc, "identities"),
        "[{'id': 257, 'groups': ['db'], 'governs': ['ingress'], 'rules': "
        "[{'id': 4, 'group': 'db', 'direction': 'ingress', 'protocol': "
        "'tcp', 'ports': [5432, 5433], 'peer_identities': [256, 258], "
        "'action': 'allow', 'log': false}]}]");
    json_decref(doc);

    /* h3: a port in two groups gets the rules of both; a network that
     * denies by default says so; a port in no group has no identity. */
    doc = fixture_compute(env, "h3");
    assert_int_equal(json_array_size(json_object_get(doc, "identities")), 1);
    assert_int_equal(
        json_array_size(json_object_get(doc_identity(doc, 258), "rules")), 4);
    fixture_expect_json(json_object_get(doc_identity(doc, 258), "groups"),
                        "['db', 'web']");
    fixture_expect_json(
        json_object_get(doc, "networks"),
        "[{'name': 'blue', 'vni': 100, 'mtu': 1450, 'cidr': '10.0.0.0/24'}, "
        "{'name': 'red', 'vni': 200, 'mtu': 1450, 'cidr': '10.1.0.0/24', "
        "'default_action': 'deny'}]");
    assert_null(json_object_get(
        json_array_get(json_object_get(doc, "ports"), 1), "identity"));
    json_decref(doc);
}

static void
test_deltas(void **state)
{
    struct fixture_env *env = *state;
    json_t *h1, *h2, *h3, *doc, *changes;

    cloud(env);
    web_and_db(env);
    fixture_create(env, api_network_create,
                   "{'name': 'red', 'cidr': '10.1.0.0/24', 'vni': 200}");
    fixture_create(env, api_port_create,
                   "{'name': 'r1', 'network': 'red', 'host': 'h3'}");
    h1 = fixture_compute(env, "h1");
    h2 = fixture_compute(env, "h2");
    h3 = fixture_compute(env, "h3");

    /* A rule of web concerns web's host only. */
    add_rule(env, "web",
             "{'direction': 'egress', 'protocol': 'udp', "
             "'ports': '53', 'action': 'allow'}");
    doc = fixture_compute(env, "h1");
    changes = desired_diff(h1, doc);
    fixture_expect_json(
        changes, "[{'op': 'set', 'kind': 'identity', 'object': {'id': 256, "
                 "'groups': ['web'], 'governs': ['egress'], 'rules': [{'id': "
                 "1, 'group': 'web', 'direction': 'egress', 'protocol': "
                 "'udp', 'ports': [53, 53], 'action': 'allow', 'log': "
                 "false}]}}]");
    json_decref(changes);
    json_decref(h1);
    h1 = doc;
    doc = fixture_compute(env, "h2");
    assert_true(json_equal(doc, h2));
    json_decref(doc);
    doc = fixture_compute(env, "h3");
    assert_true(json_equal(doc, h3));
    json_decref(doc);

    /* A label change moves web1 into db's set: its host loses identity
     * 256 for 257, and db1's host sees the remote's new identity. */
    json_decref(fixture_patch(env, api_port_patch, "web1",
                              "{'labels': {'tier': null}, 'security_groups': "
                              "['db']}"));
    doc = fixture_compute(env, "h1");
    changes = desired_diff(h1, doc);
    assert_int_equal(json_array_size(changes), 3);
    fixture_expect_json(json_array_get(changes, 0),
                        "{'op': 'delete', 'kind': 'identity', 'key': '256'}");
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(changes, 1), "kind")),
        "identity");
    fixture_expect_json(
        json_object_get(json_object_get(json_array_get(changes, 2), "object"),
                        "identity"),
        "257");
    json_decref(changes);
    json_decref(doc);
    doc = fixture_compute(env, "h2");
    changes = desired_diff(h2, doc);
    fixture_expect_json(
        changes, "[{'op': 'set', 'kind': 'remote', 'object': {'network': "
                 "'blue', 'mac': '02:00:00:00:00:01', 'ip': '10.0.0.1', "
                 "'vtep': '192.0.2.1', 'identity': 257}}]");
    json_decref(changes);
    json_decref(doc);
    doc = fixture_compute(env, "h3");
    assert_true(json_equal(doc, h3));
    json_decref(doc);
    json_decref(h1);
    json_decref(h2);
    json_decref(h3);
}

/* Adds a rule to group "db" after a delay, during a long poll. */
static void *
add_rule_later(void *env_)
{
    usleep(200 * 1000);
    add_rule(env_, "db",
             "{'direction': 'ingress', 'protocol': 'tcp', "
             "'action': 'allow'}");
    return NULL;
}

static void
test_long_poll_wakes(void **state)
{
    struct fixture_env *env = *state;
    struct api_error err = {0};
    json_t *query, *out = NULL;
    pthread_t thread;
    char *text;
    json_int_t r;
    time_t t0;

    cloud(env);
    fixture_create(env, api_port_create,
                   "{'name': 'db1', 'network': 'blue', 'host': 'h2', "
                   "'security_groups': ['db']}");
    query = J("{}");
    assert_int_equal(
        api_host_desired_state(&env->api, "h2", query, &out, &err), 200);
    json_decref(query);
    r = json_integer_value(json_object_get(out, "revision"));
    json_decref(out);

    /* A new rule wakes the poll of the host it concerns at once. */
    pthread_create(&thread, NULL, add_rule_later, env);
    text = xasprintf("{'since': '%" JSON_INTEGER_FORMAT "', 'wait': '20'}", r);
    query = J(text);
    t0 = time(NULL);
    assert_int_equal(
        api_host_desired_state(&env->api, "h2", query, &out, &err), 200);
    assert_true(time(NULL) - t0 < 10);
    pthread_join(thread, NULL);
    assert_true(json_is_false(json_object_get(out, "full")));
    assert_string_equal(
        json_string_value(json_object_get(
            json_array_get(json_object_get(out, "changes"), 0), "kind")),
        "identity");
    json_decref(out);
    json_decref(query);
    free(text);
}

/* Has agent token 'agent' report 'count' hits of rule 1 for host h1, and
 * expects viewer 'viewer' to see 'total' hits of that rule. */
static void
expect_total_hits(struct fixture *f, const char *agent, const char *viewer,
                  const char *count, long long total)
{
    char *body = xasprintf("{\"hits\": {\"1\": %s}}", count);
    struct reply r;

    fixture_expect(f, "PUT", "/v1/hosts/h1/rule-hits", agent, body, 204, NULL);
    fixture_call(f, "GET", "/v1/security-groups/web/rules/1", viewer, NULL,
                 NULL, &r);
    assert_int_equal(r.status, 200);
    assert_true(json_integer_value(json_object_get(r.json, "hits")) == total);
    reply_clear(&r);
    free(body);
}

/* Over HTTP: who may do what, and the rule hit counters. */
static void
test_http_roles_and_hits(void **state)
{
    struct fixture *f = fixture_start(30, false);
    char *viewer = fixture_token(f, "ops", "viewer", NULL);
    char *agent = fixture_token(f, "agent-h1", "agent", "h1");
    struct reply r;
    json_t *rule;

    fixture_expect(f, "POST", "/v1/hosts", f->admin,
                   "{\"name\": \"h1\", \"vtep\": \"192.0.2.1\", \"underlay\": "
                   "\"eth0\"}",
                   201, NULL);
    fixture_expect(f, "POST", "/v1/hosts", f->admin,
                   "{\"name\": \"h2\", \"vtep\": \"192.0.2.2\", \"underlay\": "
                   "\"eth0\"}",
                   201, NULL);
    fixture_expect(f, "POST", "/v1/security-groups", viewer,
                   "{\"name\": \"web\"}", 403, NULL);
    fixture_expect(f, "POST", "/v1/security-groups", f->admin,
                   "{\"name\": \"web\", \"selector\": {\"tier\": \"web\"}}",
                   201, NULL);
    fixture_expect(f, "POST", "/v1/security-groups/web/rules", f->admin,
                   "{\"direction\": \"up\", \"protocol\": \"tcp\", "
                   "\"action\": \"allow\"}",
                   400, "direction");
    fixture_expect(f, "POST", "/v1/security-groups/web/rules", viewer,
                   "{\"direction\": \"ingress\", \"protocol\": \"tcp\", "
                   "\"action\": \"allow\"}",
                   403, NULL);
    fixture_expect(f, "POST", "/v1/security-groups/web/rules", f->admin,
                   "{\"direction\": \"ingress\", \"protocol\": \"tcp\", "
                   "\"ports\": \"80\", \"action\": \"allow\"}",
                   201, NULL);
    fixture_expect(f, "GET", "/v1/security-groups", viewer, NULL, 200, NULL);
    fixture_expect(f, "GET", "/v1/security-groups/web/rules", viewer, NULL,
                   200, NULL);
    fixture_expect(f, "GET", "/v1/security-groups/web/rules", agent, NULL, 403,
                   NULL);
    fixture_expect(f, "PATCH", "/v1/security-groups/web", viewer,
                   "{\"description\": \"x\"}", 403, NULL);

    /* Agents report their own host's counters only, of the rules their
     * host enforces: those of the groups of its ports. */
    fixture_expect(f, "PUT", "/v1/hosts/h1/rule-hits", agent,
                   "{\"hits\": {\"1\": 120}}", 403, "hits");
    fixture_expect(f, "POST", "/v1/networks", f->admin,
                   "{\"name\": \"blue\", \"cidr\": \"10.0.0.0/24\"}", 201,
                   NULL);
    fixture_expect(f, "POST", "/v1/ports", f->admin,
                   "{\"name\": \"web1\", \"network\": \"blue\", \"host\": "
                   "\"h1\", \"labels\": {\"tier\": \"web\"}}",
                   201, NULL);
    fixture_expect(f, "PUT", "/v1/hosts/h2/rule-hits", f->admin,
                   "{\"hits\": {\"1\": 5}}", 403, "hits");
    fixture_expect(f, "POST", "/v1/ports", f->admin,
                   "{\"name\": \"web2\", \"network\": \"blue\", \"host\": "
                   "\"h2\", \"labels\": {\"tier\": \"web\"}}",
                   201, NULL);
    fixture_expect(f, "POST", "/v1/security-groups", f->admin,
                   "{\"name\": \"db\", \"selector\": {\"tier\": \"db\"}}", 201,
                   NULL);
    fixture_expect(f, "POST", "/v1/security-groups/db/rules", f->admin,
                   "{\"direction\": \"ingress\", \"protocol\": \"tcp\", "
                   "\"ports\": \"5432\", \"action\": \"allow\"}",
                   201, NULL);
    fixture_call(f, "PUT", "/v1/hosts/h1/rule-hits", agent,
                 "{\"hits\": {\"1\": 1, \"2\": 1000000}}", NULL, &r);
    assert_int_equal(r.status, 403);
    assert_non_null(strstr(reply_message(&r), "rule 2: not a rule"));
    reply_clear(&r);

    /* They add up. */
    fixture_expect(f, "PUT", "/v1/hosts/h1/rule-hits", agent,
                   "{\"hits\": {\"1\": 120}}", 204, NULL);
    fixture_expect(f, "PUT", "/v1/hosts/h2/rule-hits", agent,
                   "{\"hits\": {\"1\": 5}}", 403, NULL);
    fixture_expect(f, "PUT", "/v1/hosts/h2/rule-hits", f->admin,
                   "{\"hits\": {\"1\": 5}}", 204, NULL);
    fixture_expect(f, "PUT", "/v1/hosts/h1/rule-hits", agent,
                   "{\"hits\": {\"x\": 5}}", 400, "hits");
    fixture_expect(f, "PUT", "/v1/hosts/h1/rule-hits", agent,
                   "{\"hits\": {\"1\": -5}}", 400, "hits");
    fixture_expect(f, "PUT", "/v1/hosts/h9/rule-hits", f->admin,
                   "{\"hits\": {}}", 404, NULL);
    fixture_call(f, "GET", "/v1/security-groups/web/rules/1", viewer, NULL,
                 NULL, &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(json_integer_value(json_object_get(r.json, "hits")), 125);
    reply_clear(&r);
    /* Absolute counters: a new report replaces the host's last one. */
    fixture_expect(f, "PUT", "/v1/hosts/h1/rule-hits", agent,
                   "{\"hits\": {\"1\": 130}}", 204, NULL);
    fixture_call(f, "GET", "/v1/security-groups/web/rules", viewer, NULL, NULL,
                 &r);
    rule = json_array_get(json_object_get(r.json, "items"), 0);
    assert_int_equal(json_integer_value(json_object_get(rule, "hits")), 135);
    reply_clear(&r);

    /* The sum saturates at the largest count instead of wrapping to a
     * negative one (host h2 reports 5). */
    expect_total_hits(f, agent, viewer, "9223372036854775807",
                      9223372036854775807LL);
    expect_total_hits(f, agent, viewer, "9223372036854775802",
                      9223372036854775807LL);
    expect_total_hits(f, agent, viewer, "9223372036854775801",
                      9223372036854775806LL);

    fixture_expect(f, "GET", "/v1/security-groups/web/rules/abc", viewer, NULL,
                   404, NULL);
    fixture_expect(f, "DELETE", "/v1/security-groups/web/rules/1", viewer,
                   NULL, 403, NULL);
    fixture_expect(f, "DELETE", "/v1/security-groups/web/rules/1", f->admin,
                   NULL, 204, NULL);
    fixture_expect(f, "GET", "/v1/security-groups/web/rules/1", viewer, NULL,
                   404, NULL);
    fixture_expect(f, "DELETE", "/v1/security-groups/web", f->admin, NULL, 204,
                   NULL);
    free(viewer);
    free(agent);
    fixture_stop(f);
    (void) state;
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        FIXTURE_ENV_TEST(test_group_validation),
        FIXTURE_ENV_TEST(test_rule_validation),
        FIXTURE_ENV_TEST(test_port_groups),
        FIXTURE_ENV_TEST(test_identities),
        FIXTURE_ENV_TEST(test_identities_exhausted),
        FIXTURE_ENV_TEST(test_documents),
        FIXTURE_ENV_TEST(test_deltas),
        FIXTURE_ENV_TEST(test_long_poll_wakes),
        cmocka_unit_test(test_http_roles_and_hits),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
