/* The REST resources without HTTP: every field's validation (a 400 that
 * names the object, the field and the reason), IP, MAC and VNI
 * allocation, uniqueness (409), merge patches and versions, all on a real
 * SQLite store in a temporary directory. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "controller/api.h"
#include "controller/auth.h"
#include "controller/store.h"
#include "tests/controller/fixture.h"
#include "utils/log.h"
#include "utils/util.h"

/* JSON written with ' for ", as fixture_json() reads it. */
#define J(TEXT) fixture_json(TEXT)

/* Calls 'create' with 'text'; returns the status and, on success, the
 * object in '*out' (if 'out' is not NULL). */
static int
try_create(struct fixture_env *env, fixture_create_func *create,
           const char *text, json_t **out, struct api_error *err)
{
    json_t *in = J(text), *result = NULL;
    int status = create(&env->api, in, &result, err);

    json_decref(in);
    if (out) {
        *out = result;
    } else {
        json_decref(result);
    }
    return status;
}

/* Asserts that creating 'text' fails with 'status' naming 'field' and
 * that the message contains each of the NULL-terminated strings. */
static void
expect_error(struct fixture_env *env, fixture_create_func *create,
             const char *text, int status, const char *field, ...)
{
    struct api_error err = {0};
    const char *s;
    va_list args;
    int got = try_create(env, create, text, NULL, &err);

    if (got != status) {
        fail_msg("%s: expected %d, got %d (%s)", text, status, got,
                 err.message ? err.message : "no message");
    }
    if (field) {
        assert_non_null(err.field);
        assert_string_equal(err.field, field);
    }
    va_start(args, field);
    while ((s = va_arg(args, const char *))) {
        if (!strstr(err.message, s)) {
            fail_msg("%s: message \"%s\" lacks \"%s\"", text, err.message, s);
        }
    }
    va_end(args);
    api_error_clear(&err);
}

static void
expect_ok(struct fixture_env *env, fixture_create_func *create,
          const char *text)
{
    struct api_error err = {0};
    int status = try_create(env, create, text, NULL, &err);

    if (status != 201) {
        fail_msg("%s: expected 201, got %d (%s)", text, status,
                 err.message ? err.message : "");
    }
}

/* Creates 'text' and returns string member 'key' of the result. */
static char *
create_get(struct fixture_env *env, fixture_create_func *create,
           const char *text, const char *key)
{
    struct api_error err = {0};
    json_t *out;
    char *value;
    int status = try_create(env, create, text, &out, &err);

    if (status != 201) {
        fail_msg("%s: expected 201, got %d (%s)", text, status,
                 err.message ? err.message : "");
    }
    value = xstrdup(json_string_value(json_object_get(out, key)));
    json_decref(out);
    return value;
}

static void
test_network_validation(void **state)
{
    struct fixture_env *env = *state;
    fixture_create_func *c = api_network_create;

    /* The example of doc/api.md, word for word. */
    expect_error(
        env, c, "{'name': 'blue', 'cidr': '10.0.0.0/33'}", 400, "cidr",
        "network \"blue\": cidr \"10.0.0.0/33\": prefix length must be 0..32",
        NULL);
    expect_error(env, c, "{'name': 'blue'}", 400, "cidr", "network \"blue\"",
                 "required", NULL);
    expect_error(env, c, "{'cidr': '10.0.0.0/24'}", 400, "name", "required",
                 NULL);
    expect_error(env, c, "{'name': 'Blue', 'cidr': '10.0.0.0/24'}", 400,
                 "name", "network \"Blue\": name \"Blue\"", "a-z", NULL);
    expect_error(env, c, "{'name': '-blue', 'cidr': '10.0.0.0/24'}", 400,
                 "name", NULL);
    expect_error(env, c, "{'name': 'blue-', 'cidr': '10.0.0.0/24'}", 400,
                 "name", NULL);
    expect_error(env, c, "{'name': 'a_b', 'cidr': '10.0.0.0/24'}", 400, "name",
                 NULL);
    expect_error(env, c,
                 "{'name': "
                 "'a2345678901234567890123456789012345678901234567890123456789"
                 "01234', 'cidr': '10.0.0.0/24'}",
                 400, "name", NULL);
    expect_error(env, c, "{'name': 'blue', 'cidr': '10.0.0.1/24'}", 400,
                 "cidr", "host bits must be zero", NULL);
    expect_error(env, c, "{'name': 'blue', 'cidr': '10.0.0.0/31'}", 400,
                 "cidr", "8..30", NULL);
    expect_error(env, c, "{'name': 'blue', 'cidr': '10.0.0.0/7'}", 400, "cidr",
                 "8..30", NULL);
    expect_error(env, c, "{'name': 'blue', 'cidr': '10.0.0.0/-1'}", 400,
                 "cidr", NULL);
    expect_error(env, c, "{'name': 'blue', 'cidr': '127.0.0.0/8'}", 400,
                 "cidr", "unicast", NULL);
    expect_error(env, c, "{'name': 'blue', 'cidr': '224.1.0.0/16'}", 400,
                 "cidr", "unicast", NULL);
    expect_error(env, c, "{'name': 'blue', 'cidr': '10.0.0/24'}", 400, "cidr",
                 "IPv4", NULL);
    expect_error(env, c, "{'name': 'blue', 'cidr': '10.0.0.0'}", 400, "cidr",
                 "a.b.c.d/N", NULL);
    expect_error(env, c, "{'name': 'blue', 'cidr': 24}", 400, "cidr",
                 "expected a string, got an integer", NULL);
    expect_error(env, c, "{'name': 'blue', 'cidr': '10.0.0.0/24', 'vni': 0}",
                 400, "vni", "vni 0: must be 1..16777215", NULL);
    expect_error(env, c,
                 "{'name': 'blue', 'cidr': '10.0.0.0/24', 'vni': 16777216}",
                 400, "vni", NULL);
    expect_error(env, c, "{'name': 'blue', 'cidr': '10.0.0.0/24', 'vni': '5'}",
                 400, "vni", "expected an integer, got a string", NULL);
    expect_error(env, c, "{'name': 'blue', 'cidr': '10.0.0.0/24', 'vni': 1.5}",
                 400, "vni", "got a number with a fraction", NULL);
    expect_error(env, c, "{'name': 'blue', 'cidr': '10.0.0.0/24', 'mtu': 575}",
                 400, "mtu", "576..9000", NULL);
    expect_error(env, c,
                 "{'name': 'blue', 'cidr': '10.0.0.0/24', 'mtu': 9001}", 400,
                 "mtu", NULL);
    expect_error(env, c,
                 "{'name': 'blue', 'cidr': '10.0.0.0/24', 'mtu': null}", 400,
                 "mtu", "null", NULL);
    expect_error(env, c,
                 "{'name': 'blue', 'cidr': '10.0.0.0/24', 'color': 'red'}",
                 400, "color", "unknown field", "expected one of", NULL);
    expect_error(env, c,
                 "{'name': 'blue', 'cidr': '10.0.0.0/24', 'version': 1}", 400,
                 "version", NULL);
    expect_error(env, c,
                 "{'name': 'blue', 'cidr': '10.0.0.0/24', 'revision': 3}", 400,
                 "revision", "read-only", NULL);
    expect_error(env, c, "['blue']", 400, NULL, "JSON object", NULL);

    char *long_text = xmalloc(300 + 64);
    char *desc = xmalloc(600);

    memset(desc, 'x', 257);
    desc[257] = '\0';
    snprintf(long_text, 300 + 64,
             "{'name': 'blue', 'cidr': '10.0.0.0/24', 'description': '%s'}",
             desc);
    expect_error(env, c, long_text, 400, "description", "257 characters",
                 NULL);
    /* 256 two-byte characters are 256 characters, not 512. */
    desc[0] = '\0';
    for (int i = 0; i < 256; i++) {
        strcat(desc, "\xc3\xa9");
    }
    free(long_text);
    long_text = xasprintf(
        "{'name': 'blue', 'cidr': '10.0.0.0/24', 'description': '%s'}", desc);
    expect_ok(env, c, long_text);
    free(long_text);
    free(desc);
}

static void
test_network_defaults_and_vni(void **state)
{
    struct fixture_env *env = *state;
    struct api_error err = {0};
    json_t *out;

    assert_int_equal(try_create(env, api_network_create,
                                "{'name': 'a', 'cidr': '10.1.0.0/24'}", &out,
                                &err),
                     201);
    assert_int_equal(json_integer_value(json_object_get(out, "vni")), 1000);
    assert_int_equal(json_integer_value(json_object_get(out, "mtu")), 1450);
    assert_int_equal(json_integer_value(json_object_get(out, "version")), 1);
    assert_non_null(json_object_get(out, "created_at"));
    assert_true(json_integer_value(json_object_get(out, "revision")) > 0);
    json_decref(out);

    expect_ok(env, api_network_create,
              "{'name': 'b', 'cidr': '10.2.0.0/24', 'vni': 1001}");
    /* Allocation skips what is taken. */
    expect_ok(env, api_network_create,
              "{'name': 'c', 'cidr': '10.3.0.0/24', 'mtu': 9000}");
    assert_int_equal(api_network_get(&env->api, "c", &out, &err), 200);
    assert_int_equal(json_integer_value(json_object_get(out, "vni")), 1002);
    assert_int_equal(json_integer_value(json_object_get(out, "mtu")), 9000);
    json_decref(out);

    expect_error(env, api_network_create,
                 "{'name': 'd', 'cidr': '10.4.0.0/24', 'vni': 1000}", 409,
                 "vni", "vni 1000: in use by network \"a\"", NULL);
    expect_error(env, api_network_create,
                 "{'name': 'a', 'cidr': '10.4.0.0/24'}", 409, "name",
                 "network \"a\": already exists", NULL);

    /* A freed VNI is the lowest free one again. */
    assert_int_equal(api_network_delete(&env->api, "a", NULL, STORE_ANY, &err),
                     204);
    assert_int_equal(try_create(env, api_network_create,
                                "{'name': 'e', 'cidr': '10.5.0.0/24'}", &out,
                                &err),
                     201);
    assert_int_equal(json_integer_value(json_object_get(out, "vni")), 1000);
    json_decref(out);
    assert_int_equal(api_network_get(&env->api, "a", &out, &err), 404);
    assert_non_null(strstr(err.message, "network \"a\": not found"));
    api_error_clear(&err);
}

static void
test_network_patch(void **state)
{
    struct fixture_env *env = *state;
    struct api_error err = {0};
    json_t *in, *out;

    expect_ok(env, api_network_create,
              "{'name': 'blue', 'cidr': '10.0.0.0/24', 'description': 'x'}");

    in = J("{'mtu': 1500, 'description': null, 'cidr': '10.0.0.0/24', 'name': "
           "'blue'}");
    assert_int_equal(
        api_network_patch(&env->api, "blue", in, STORE_ANY, &out, &err), 200);
    json_decref(in);
    assert_int_equal(json_integer_value(json_object_get(out, "mtu")), 1500);
    assert_null(json_object_get(out, "description"));
    assert_int_equal(json_integer_value(json_object_get(out, "version")), 2);
    json_decref(out);

    /* An empty patch changes nothing, not even the version. */
    in = J("{}");
    assert_int_equal(
        api_network_patch(&env->api, "blue", in, STORE_ANY, &out, &err), 200);
    assert_int_equal(json_integer_value(json_object_get(out, "version")), 2);
    json_decref(out);
    json_decref(in);

    /* Immutable and read-only fields may only repeat their value. */
    in = J("{'cidr': '10.9.0.0/24'}");
    assert_int_equal(
        api_network_patch(&env->api, "blue", in, STORE_ANY, &out, &err), 400);
    assert_string_equal(err.field, "cidr");
    assert_non_null(strstr(err.message, "network \"blue\": cidr"));
    json_decref(in);
    in = J("{'name': 'green'}");
    assert_int_equal(
        api_network_patch(&env->api, "blue", in, STORE_ANY, &out, &err), 400);
    assert_string_equal(err.field, "name");
    json_decref(in);
    in = J("{'vni': null}");
    assert_int_equal(
        api_network_patch(&env->api, "blue", in, STORE_ANY, &out, &err), 400);
    assert_string_equal(err.field, "vni");
    json_decref(in);

    /* Versions: stale in the body or in If-Match is 409; the two
     * disagreeing is 400. */
    in = J("{'mtu': 1400, 'version': 1}");
    assert_int_equal(
        api_network_patch(&env->api, "blue", in, STORE_ANY, &out, &err), 409);
    assert_string_equal(err.field, "version");
    assert_non_null(strstr(err.message, "version 1 is stale"));
    assert_int_equal(api_network_patch(&env->api, "blue", in, 2, &out, &err),
                     400);
    json_decref(in);
    in = J("{'mtu': 1400}");
    assert_int_equal(api_network_patch(&env->api, "blue", in, 1, &out, &err),
                     409);
    assert_int_equal(api_network_patch(&env->api, "blue", in, 2, &out, &err),
                     200);
    json_decref(out);
    json_decref(in);
    assert_int_equal(api_network_delete(&env->api, "blue", NULL, 2, &err),
                     409);
    assert_int_equal(
        api_network_patch(&env->api, "nope", NULL, STORE_ANY, &out, &err),
        404);
    assert_int_equal(api_network_delete(&env->api, "blue", NULL, 3, &err),
                     204);
    api_error_clear(&err);
}

/* A network's "dns_servers", which DHCP hands out: at most three unicast
 * IPv4 addresses; a bad one is a 400 that names it and
 * changes nothing; null or [] removes them. */
static void
test_network_dns_servers(void **state)
{
    struct fixture_env *env = *state;
    struct api_error err = {0};
    json_t *in, *out, *dns;

    expect_error(env, api_network_create,
                 "{'name': 'a', 'cidr': '10.0.0.0/24', 'dns_servers': "
                 "['10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.0.4']}",
                 400, "dns_servers", "4 addresses, at most 3", NULL);
    expect_error(env, api_network_create,
                 "{'name': 'a', 'cidr': '10.0.0.0/24', 'dns_servers': "
                 "['10.0.0.1', 'ns1.example.com']}",
                 400, "dns_servers",
                 "dns_servers[1] \"ns1.example.com\": not an IPv4 address",
                 NULL);
    expect_error(env, api_network_create,
                 "{'name': 'a', 'cidr': '10.0.0.0/24', 'dns_servers': "
                 "['224.0.0.1']}",
                 400, "dns_servers", "not a unicast address", NULL);
    expect_error(env, api_network_create,
                 "{'name': 'a', 'cidr': '10.0.0.0/24', 'dns_servers': "
                 "['127.0.0.53']}",
                 400, "dns_servers", "not a unicast address", NULL);
    expect_error(env, api_network_create,
                 "{'name': 'a', 'cidr': '10.0.0.0/24', 'dns_servers': [53]}",
                 400, "dns_servers", "dns_servers[0]: not a string", NULL);
    expect_error(env, api_network_create,
                 "{'name': 'a', 'cidr': '10.0.0.0/24', 'dns_servers': "
                 "'10.0.0.1'}",
                 400, "dns_servers", NULL);
    /* Nothing was half-created. */
    assert_int_equal(api_network_get(&env->api, "a", &out, &err), 404);

    expect_ok(env, api_network_create,
              "{'name': 'a', 'cidr': '10.0.0.0/24', 'dns_servers': "
              "['10.9.0.1', '10.9.0.2']}");
    assert_int_equal(api_network_get(&env->api, "a", &out, &err), 200);
    dns = json_object_get(out, "dns_servers");
    assert_int_equal(json_array_size(dns), 2);
    assert_string_equal(json_string_value(json_array_get(dns, 0)), "10.9.0.1");
    json_decref(out);

    in = J("{'dns_servers': ['192.0.2.53']}");
    assert_int_equal(
        api_network_patch(&env->api, "a", in, STORE_ANY, &out, &err), 200);
    dns = json_object_get(out, "dns_servers");
    assert_int_equal(json_array_size(dns), 1);
    assert_string_equal(json_string_value(json_array_get(dns, 0)),
                        "192.0.2.53");
    json_decref(out);
    json_decref(in);
    in = J("{'dns_servers': ['192.0.2.53', '0.1.2.3']}");
    assert_int_equal(
        api_network_patch(&env->api, "a", in, STORE_ANY, &out, &err), 400);
    assert_string_equal(err.field, "dns_servers");
    json_decref(in);
    in = J("{'dns_servers': null}");
    assert_int_equal(
        api_network_patch(&env->api, "a", in, STORE_ANY, &out, &err), 200);
    assert_null(json_object_get(out, "dns_servers"));
    json_decref(out);
    json_decref(in);
    api_error_clear(&err);
}

/* Calls api_qos_patch() of 'name' with 'text' and If-Match 'if_match';
 * returns the status, the policy in '*out' on success. */
static int
qos_patch(struct fixture_env *env, const char *name, const char *text,
          int64_t if_match, json_t **out, struct api_error *err)
{
    json_t *in = J(text), *result = NULL;
    int status = api_qos_patch(&env->api, name, in, if_match, &result, err);

    json_decref(in);
    if (out) {
        *out = result;
    } else {
        json_decref(result);
    }
    return status;
}

static void
test_qos_validation(void **state)
{
    struct fixture_env *env = *state;
    fixture_create_func *c = api_qos_create;
    struct api_error err = {0};
    json_t *out;

    expect_error(env, c, "{'egress': {'rate': 1000}}", 400, "name", NULL);
    expect_error(env, c, "{'name': 'Gold'}", 400, "name", NULL);
    expect_error(env, c, "{'name': 'g', 'egress': 5}", 400, "egress", NULL);
    expect_error(env, c, "{'name': 'g', 'egress': {'burst': 1000}}", 400,
                 "egress", "qos policy \"g\": egress.rate: required", NULL);
    expect_error(env, c, "{'name': 'g', 'egress': {'rate': 0}}", 400, "egress",
                 "egress.rate 0: must be greater than zero", NULL);
    expect_error(env, c, "{'name': 'g', 'ingress': {'rate': -5}}", 400,
                 "ingress", "ingress.rate -5: must be greater than zero",
                 NULL);
    expect_error(env, c,
                 "{'name': 'g', 'ingress': {'rate': 1000, 'burst': 0}}", 400,
                 "ingress", "ingress.burst 0", NULL);
    expect_error(env, c, "{'name': 'g', 'egress': {'rate': '100mbit'}}", 400,
                 "egress", "expected an integer (bits per second)", NULL);
    expect_error(env, c, "{'name': 'g', 'egress': {'rate': 1.5}}", 400,
                 "egress", NULL);
    expect_error(env, c, "{'name': 'g', 'egress': {'rate': 7}}", 400, "egress",
                 "must be 8..10000000000000 bits per second", NULL);
    expect_error(env, c,
                 "{'name': 'g', 'egress': {'rate': 1000, 'burst': "
                 "4294967296}}",
                 400, "egress", "must be 1..4294967295 bytes", NULL);
    expect_error(env, c, "{'name': 'g', 'egress': {'rate': 1000, 'ceil': 2}}",
                 400, "egress", "unknown field \"ceil\"", NULL);
    expect_error(env, c, "{'name': 'g', 'dscp': 64}", 400, "dscp",
                 "dscp 64: must be 0..63", NULL);
    expect_error(env, c, "{'name': 'g', 'dscp': -1}", 400, "dscp", NULL);
    expect_error(env, c, "{'name': 'g', 'dscp': 'ef'}", 400, "dscp", NULL);
    expect_error(env, c, "{'name': 'g', 'description': 5}", 400, "description",
                 NULL);
    expect_error(env, c, "{'name': 'g', 'rate': 5}", 400, "rate",
                 "unknown field", NULL);

    /* A guaranteed minimum: egress only, at most the rate. */
    expect_error(env, c,
                 "{'name': 'g', 'egress': {'rate': 1000, 'min_rate': 2000}}",
                 400, "egress.min_rate",
                 "qos policy \"g\": egress.min_rate 2000: must not exceed "
                 "egress.rate 1000",
                 NULL);
    expect_error(env, c, "{'name': 'g', 'egress': {'min_rate': 0}}", 400,
                 "egress", "egress.min_rate 0: must be greater than zero",
                 NULL);
    expect_error(env, c, "{'name': 'g', 'egress': {'min_rate': '1mbit'}}", 400,
                 "egress", "expected an integer (bits per second)", NULL);
    expect_error(env, c,
                 "{'name': 'g', 'egress': {'min_rate': 1000, 'burst': 100}}",
                 400, "egress", "egress.rate: required", "with a burst", NULL);
    expect_error(env, c, "{'name': 'g', 'egress': {}}", 400, "egress",
                 "egress.rate: required", NULL);
    expect_error(
        env, c, "{'name': 'g', 'ingress': {'rate': 1000, 'min_rate': 10}}",
        400, "ingress.min_rate",
        "qos policy \"g\": ingress.min_rate: not supported yet", NULL);
    expect_error(env, c, "{'name': 'g', 'ingress': {'min_rate': 10}}", 400,
                 "ingress.min_rate", "not supported yet", NULL);
    expect_error(env, c, "{'name': 'g', 'min_rate': 1000}", 400, "min_rate",
                 "give egress.min_rate", NULL);

    /* A priority: the policy's, 0..7. */
    expect_error(env, c, "{'name': 'g', 'priority': 8}", 400, "priority",
                 "qos policy \"g\": priority 8: must be 0..7", NULL);
    expect_error(env, c, "{'name': 'g', 'priority': -1}", 400, "priority",
                 NULL);
    expect_error(env, c, "{'name': 'g', 'priority': 'high'}", 400, "priority",
                 NULL);
    expect_error(env, c, "{'name': 'g', 'ingress': {'priority': 3}}", 400,
                 "ingress.priority", "give \"priority\" at the top level",
                 NULL);
    expect_error(env, c,
                 "{'name': 'g', 'egress': {'rate': 1000, 'priority': 3}}", 400,
                 "egress.priority", NULL);
    expect_error(env, c, "{'name': 'g', 'egress': {'rate': 1000, 'ceil': 2}}",
                 400, "egress",
                 "expected \"rate\", \"burst\" and \"min_rate\"", NULL);

    /* Both accepted, stored as given; min_rate alone, or equal to the
     * rate. */
    assert_int_equal(try_create(env, c,
                                "{'name': 'floor', 'egress': {'min_rate': "
                                "10000000}, 'priority': 0}",
                                &out, &err),
                     201);
    assert_int_equal(json_integer_value(json_object_get(
                         json_object_get(out, "egress"), "min_rate")),
                     10000000);
    assert_null(json_object_get(json_object_get(out, "egress"), "rate"));
    assert_int_equal(json_integer_value(json_object_get(out, "priority")), 0);
    json_decref(out);
    expect_ok(env, c,
              "{'name': 'flat', 'egress': {'rate': 1000, 'min_rate': 1000}, "
              "'priority': 7}");
    assert_int_equal(api_qos_delete(&env->api, "floor", NULL, STORE_ANY, &err),
                     204);
    assert_int_equal(api_qos_delete(&env->api, "flat", NULL, STORE_ANY, &err),
                     204);

    /* Everything is optional but the name; burst is optional. */
    expect_ok(env, c, "{'name': 'empty'}");
    assert_int_equal(
        try_create(env, c,
                   "{'name': 'gold', 'egress': {'rate': 100000000, 'burst': "
                   "65536}, 'ingress': {'rate': 1000000000}, 'dscp': 46, "
                   "'description': 'VIPs'}",
                   &out, &err),
        201);
    assert_int_equal(json_integer_value(json_object_get(
                         json_object_get(out, "egress"), "burst")),
                     65536);
    assert_null(json_object_get(json_object_get(out, "ingress"), "burst"));
    assert_int_equal(json_integer_value(json_object_get(out, "dscp")), 46);
    assert_int_equal(json_integer_value(json_object_get(out, "version")), 1);
    json_decref(out);
    expect_error(env, c, "{'name': 'gold'}", 409, NULL, "already exists",
                 NULL);

    /* Get and list. */
    assert_int_equal(api_qos_get(&env->api, "gold", &out, &err), 200);
    assert_string_equal(json_string_value(json_object_get(out, "description")),
                        "VIPs");
    json_decref(out);
    assert_int_equal(api_qos_get(&env->api, "nope", &out, &err), 404);
    json_t *query = J("{'limit': '1'}");
    assert_int_equal(api_qos_list(&env->api, query, &out, &err), 200);
    json_decref(query);
    assert_int_equal(json_array_size(json_object_get(out, "items")), 1);
    assert_string_equal(
        json_string_value(json_object_get(out, "next_page_token")), "empty");
    json_decref(out);
    api_error_clear(&err);
}

static void
test_qos_patch(void **state)
{
    struct fixture_env *env = *state;
    struct api_error err = {0};
    json_t *out;

    expect_ok(env, api_qos_create,
              "{'name': 'gold', 'egress': {'rate': 100000000, 'burst': "
              "65536}, 'dscp': 46}");

    /* A merge patch: a direction's members merge, null removes. */
    assert_int_equal(qos_patch(env, "gold",
                               "{'egress': {'rate': 200000000}, 'ingress': "
                               "{'rate': 5000000}}",
                               STORE_ANY, &out, &err),
                     200);
    assert_int_equal(json_integer_value(json_object_get(
                         json_object_get(out, "egress"), "rate")),
                     200000000);
    assert_int_equal(json_integer_value(json_object_get(
                         json_object_get(out, "egress"), "burst")),
                     65536);
    assert_int_equal(json_integer_value(json_object_get(out, "version")), 2);
    json_decref(out);
    assert_int_equal(qos_patch(env, "gold",
                               "{'egress': {'burst': null}, 'ingress': null, "
                               "'dscp': null}",
                               STORE_ANY, &out, &err),
                     200);
    assert_null(json_object_get(json_object_get(out, "egress"), "burst"));
    assert_null(json_object_get(out, "ingress"));
    assert_null(json_object_get(out, "dscp"));
    json_decref(out);

    /* Nothing changes: same version. */
    assert_int_equal(qos_patch(env, "gold", "{}", STORE_ANY, &out, &err), 200);
    assert_int_equal(json_integer_value(json_object_get(out, "version")), 3);
    json_decref(out);

    /* Validation as on creation, naming the field. */
    assert_int_equal(qos_patch(env, "gold", "{'egress': {'rate': null}}",
                               STORE_ANY, &out, &err),
                     400);
    assert_string_equal(err.field, "egress");
    assert_int_equal(
        qos_patch(env, "gold", "{'dscp': 99}", STORE_ANY, &out, &err), 400);
    assert_string_equal(err.field, "dscp");
    assert_int_equal(
        qos_patch(env, "gold", "{'min_rate': 5}", STORE_ANY, &out, &err), 400);
    assert_string_equal(err.field, "min_rate");
    assert_int_equal(qos_patch(env, "gold", "{'ingress': {'min_rate': 5}}",
                               STORE_ANY, &out, &err),
                     400);
    assert_string_equal(err.field, "ingress.min_rate");
    assert_non_null(strstr(err.message, "not supported yet"));
    /* The minimum is checked against the rate after the merge. */
    assert_int_equal(qos_patch(env, "gold",
                               "{'egress': {'min_rate': 300000000}}",
                               STORE_ANY, &out, &err),
                     400);
    assert_string_equal(err.field, "egress.min_rate");
    assert_non_null(strstr(err.message, "must not exceed egress.rate "
                                        "200000000"));
    assert_int_equal(
        qos_patch(env, "gold", "{'priority': 8}", STORE_ANY, &out, &err), 400);
    assert_string_equal(err.field, "priority");
    assert_int_equal(
        qos_patch(env, "gold", "{'name': 'silver'}", STORE_ANY, &out, &err),
        400);
    assert_string_equal(err.field, "name");

    /* Versions. */
    assert_int_equal(qos_patch(env, "gold", "{'dscp': 10}", 2, &out, &err),
                     409);
    assert_int_equal(qos_patch(env, "gold", "{'dscp': 10, 'version': 3}",
                               STORE_ANY, &out, &err),
                     200);
    json_decref(out);
    assert_int_equal(
        qos_patch(env, "nope", "{'dscp': 10}", STORE_ANY, &out, &err), 404);
    assert_int_equal(api_qos_delete(&env->api, "gold", NULL, 3, &err), 409);
    assert_int_equal(api_qos_delete(&env->api, "gold", NULL, 4, &err), 204);
    assert_int_equal(api_qos_delete(&env->api, "gold", NULL, STORE_ANY, &err),
                     404);

    /* A guaranteed minimum and a priority merge like the rest; a minimum
     * alone is an egress of its own, and stays at most the rate. */
    expect_ok(env, api_qos_create,
              "{'name': 'floor', 'egress': {'rate': 100000000, 'min_rate': "
              "10000000}, 'priority': 2}");
    assert_int_equal(qos_patch(env, "floor", "{'egress': {'rate': null}}",
                               STORE_ANY, &out, &err),
                     200);
    fixture_expect_json(json_object_get(out, "egress"),
                        "{'min_rate': 10000000}");
    assert_int_equal(json_integer_value(json_object_get(out, "priority")), 2);
    json_decref(out);
    assert_int_equal(qos_patch(env, "floor", "{'egress': {'rate': 5000000}}",
                               STORE_ANY, &out, &err),
                     400);
    assert_string_equal(err.field, "egress.min_rate");
    assert_int_equal(qos_patch(env, "floor", "{'egress': {'min_rate': null}}",
                               STORE_ANY, &out, &err),
                     400);
    assert_string_equal(err.field, "egress");
    assert_int_equal(qos_patch(env, "floor",
                               "{'egress': {'min_rate': 1000000}, "
                               "'priority': null}",
                               STORE_ANY, &out, &err),
                     200);
    fixture_expect_json(json_object_get(out, "egress"),
                        "{'min_rate': 1000000}");
    assert_null(json_object_get(out, "priority"));
    json_decref(out);
    api_error_clear(&err);
}

/* Calls 'patch' of 'name' with 'text'; returns the status. */
static int
patch_text(struct fixture_env *env,
           int (*patch)(struct api *, const char *, const json_t *, int64_t,
                        json_t **, struct api_error *),
           const char *name, const char *text, json_t **out,
           struct api_error *err)
{
    json_t *in = J(text), *result = NULL;
    int status = patch(&env->api, name, in, STORE_ANY, &result, err);

    json_decref(in);
    if (out) {
        *out = result;
    } else {
        json_decref(result);
    }
    return status;
}

static void
test_qos_references(void **state)
{
    struct fixture_env *env = *state;
    struct api_error err = {0};
    json_t *out;

    expect_ok(env, api_qos_create,
              "{'name': 'gold', 'egress': {'rate': 100000000}}");
    expect_ok(env, api_qos_create, "{'name': 'bronze', 'dscp': 8}");
    expect_ok(env, api_network_create,
              "{'name': 'blue', 'cidr': '10.0.0.0/24'}");

    /* Ports name an existing policy. */
    expect_error(env, api_port_create,
                 "{'name': 'p1', 'network': 'blue', 'qos': 'silver'}", 400,
                 "qos", "qos \"silver\": no such qos policy", NULL);
    assert_int_equal(
        try_create(env, api_port_create,
                   "{'name': 'p1', 'network': 'blue', 'qos': 'gold'}", &out,
                   &err),
        201);
    assert_string_equal(json_string_value(json_object_get(out, "qos")),
                        "gold");
    json_decref(out);
    expect_ok(env, api_port_create, "{'name': 'p2', 'network': 'blue'}");

    /* In use: 409, naming a user. */
    assert_int_equal(api_qos_delete(&env->api, "gold", NULL, STORE_ANY, &err),
                     409);
    assert_non_null(strstr(err.message, "qos policy \"gold\": in use by "
                                        "port \"p1\""));

    /* PATCH changes and removes it, and checks it. */
    assert_int_equal(
        patch_text(env, api_port_patch, "p1", "{'qos': 'silver'}", &out, &err),
        400);
    assert_string_equal(err.field, "qos");
    assert_int_equal(
        patch_text(env, api_port_patch, "p1", "{'qos': 5}", &out, &err), 400);
    assert_string_equal(err.field, "qos");
    assert_int_equal(
        patch_text(env, api_port_patch, "p1", "{'qos': 'bronze'}", &out, &err),
        200);
    assert_string_equal(json_string_value(json_object_get(out, "qos")),
                        "bronze");
    json_decref(out);
    assert_int_equal(
        patch_text(env, api_port_patch, "p1", "{'qos': null}", &out, &err),
        200);
    assert_null(json_object_get(out, "qos"));
    json_decref(out);

    /* Networks' default_qos, the same way. */
    expect_error(env, api_network_create,
                 "{'name': 'red', 'cidr': '10.1.0.0/24', 'default_qos': "
                 "'silver'}",
                 400, "default_qos",
                 "network \"red\": default_qos \"silver\": no such qos "
                 "policy",
                 NULL);
    expect_ok(env, api_network_create,
              "{'name': 'red', 'cidr': '10.1.0.0/24', 'default_qos': "
              "'gold'}");
    assert_int_equal(api_qos_delete(&env->api, "gold", NULL, STORE_ANY, &err),
                     409);
    assert_non_null(strstr(err.message, "in use by network \"red\""));
    assert_int_equal(patch_text(env, api_network_patch, "blue",
                                "{'default_qos': 'nope'}", &out, &err),
                     400);
    assert_string_equal(err.field, "default_qos");
    assert_int_equal(patch_text(env, api_network_patch, "red",
                                "{'default_qos': null}", &out, &err),
                     200);
    assert_null(json_object_get(out, "default_qos"));
    json_decref(out);

    /* Unused now: deleted. */
    assert_int_equal(api_qos_delete(&env->api, "gold", NULL, STORE_ANY, &err),
                     204);
    api_error_clear(&err);
}

static void
test_port_validation(void **state)
{
    struct fixture_env *env = *state;
    fixture_create_func *c = api_port_create;

    expect_ok(env, api_network_create,
              "{'name': 'blue', 'cidr': '10.0.0.0/24'}");
    expect_error(env, c, "{'network': 'blue'}", 400, "name", "required", NULL);
    expect_error(env, c, "{'name': 'p1'}", 400, "network",
                 "port \"p1\": network: required", NULL);
    expect_error(env, c, "{'name': 'p1', 'network': 'Blue'}", 400, "network",
                 NULL);
    expect_error(env, c, "{'name': 'p1', 'network': 'red'}", 400, "network",
                 "network \"red\": no such network", NULL);
    expect_error(env, c, "{'name': 'p1', 'network': 'blue', 'mac': 'zz'}", 400,
                 "mac", "port \"p1\": mac \"zz\": not a MAC", NULL);
    expect_error(
        env, c,
        "{'name': 'p1', 'network': 'blue', 'mac': '01:00:5e:00:00:01'}", 400,
        "mac", "multicast", NULL);
    expect_error(
        env, c,
        "{'name': 'p1', 'network': 'blue', 'mac': '00:00:00:00:00:00'}", 400,
        "mac", "zero", NULL);
    expect_error(env, c,
                 "{'name': 'p1', 'network': 'blue', 'ip': '10.0.0.256'}", 400,
                 "ip", "not an IPv4 address", NULL);
    expect_error(env, c, "{'name': 'p1', 'network': 'blue', 'ip': '10.0.1.5'}",
                 400, "ip", "not inside network \"blue\" (10.0.0.0/24)", NULL);
    expect_error(env, c, "{'name': 'p1', 'network': 'blue', 'ip': '10.0.0.0'}",
                 400, "ip", "network address", NULL);
    expect_error(env, c,
                 "{'name': 'p1', 'network': 'blue', 'ip': '10.0.0.255'}", 400,
                 "ip", "broadcast address", NULL);
    expect_error(env, c, "{'name': 'p1', 'network': 'blue', 'host': 'H_1'}",
                 400, "host", NULL);
    expect_error(env, c, "{'name': 'p1', 'network': 'blue', 'device': 'a/b'}",
                 400, "device", NULL);
    expect_error(
        env, c,
        "{'name': 'p1', 'network': 'blue', 'device': 'abcdefghijklmnop'}", 400,
        "device", "15", NULL);
    expect_error(env, c,
                 "{'name': 'p1', 'network': 'blue', 'labels': {'k': 1}}", 400,
                 "labels", "expected a string", NULL);
    expect_error(env, c,
                 "{'name': 'p1', 'network': 'blue', 'labels': {'': 'v'}}", 400,
                 "labels", NULL);
    expect_error(env, c,
                 "{'name': 'p1', 'network': 'blue', 'labels': {'a=b': 'v'}}",
                 400, "labels", NULL);
    expect_error(
        env, c,
        "{'name': 'p1', 'network': 'blue', 'labels': {'k': "
        "'1234567890123456789012345678901234567890123456789012345678901234'}}",
        400, "labels", "longer than 63", NULL);
    expect_error(env, c, "{'name': 'p1', 'network': 'blue', 'labels': []}",
                 400, "labels", "expected an object", NULL);
    expect_error(
        env, c,
        "{'name': 'p1', 'network': 'blue', 'security_groups': ['web']}", 400,
        "security_groups", "\"web\": no such security group", NULL);
    expect_error(env, c, "{'name': 'p1', 'network': 'blue', 'qos': 'gold'}",
                 400, "qos", "port \"p1\": qos \"gold\": no such qos policy",
                 NULL);
    expect_error(env, c, "{'name': 'p1', 'network': 'blue', 'qos': 'Gold'}",
                 400, "qos", NULL);
    expect_error(env, c, "{'name': 'p1', 'network': 'blue', 'qos': 7}", 400,
                 "qos", NULL);
    expect_error(env, c, "{'name': 'p1', 'network': 'blue', 'status': 'up'}",
                 400, "status", "read-only", NULL);
    expect_error(env, c, "{'name': 'p1', 'network': 'blue', 'description': 7}",
                 400, "description", NULL);
    /* Nothing was half-created by all that. */
    expect_ok(env, c,
              "{'name': 'p1', 'network': 'blue', 'security_groups': [], "
              "'labels': {'app': 'web'}, 'description': 'the first'}");
    expect_error(env, c, "{'name': 'p1', 'network': 'blue'}", 409, "name",
                 "port \"p1\": already exists", NULL);
}

static void
test_host_and_token_validation(void **state)
{
    struct fixture_env *env = *state;
    fixture_create_func *h = api_host_register;

    expect_error(env, h, "{'name': 'h1', 'underlay': 'eth0'}", 400, "vtep",
                 "host \"h1\": vtep: required", NULL);
    expect_error(env, h, "{'name': 'h1', 'vtep': '192.0.2.1'}", 400,
                 "underlay", NULL);
    expect_error(env, h,
                 "{'name': 'h1', 'vtep': '192.0.2', 'underlay': 'eth0'}", 400,
                 "vtep", "not an IPv4 address", NULL);
    expect_error(env, h,
                 "{'name': 'h1', 'vtep': '239.1.1.1', 'underlay': 'eth0'}",
                 400, "vtep", "unicast", NULL);
    expect_error(env, h,
                 "{'name': 'h1', 'vtep': '192.0.2.1', 'underlay': 'a b'}", 400,
                 "underlay", NULL);
    expect_error(env, h,
                 "{'name': 'h1', 'vtep': '192.0.2.1', 'underlay': 'eth0', "
                 "'capacity': {'cpus': 4}}",
                 400, "capacity", "cpus: unknown field", NULL);
    expect_error(env, h,
                 "{'name': 'h1', 'vtep': '192.0.2.1', 'underlay': 'eth0', "
                 "'capacity': {'vcpus': -1}}",
                 400, "capacity", NULL);
    expect_error(env, h,
                 "{'name': 'h1', 'vtep': '192.0.2.1', 'underlay': 'eth0', "
                 "'status': 'ready'}",
                 400, "status", "read-only", NULL);
    expect_ok(env, h,
              "{'name': 'h1', 'vtep': '192.0.2.1', 'underlay': 'eth0', "
              "'capacity': {'vcpus': 8, 'memory_mb': 16384}}");
    expect_error(
        env, h, "{'name': 'h2', 'vtep': '192.0.2.1', 'underlay': 'eth0'}", 409,
        "vtep", "vtep \"192.0.2.1\": in use by host \"h1\"", NULL);

    /* A repeated registration updates, as agents do on every start. */
    struct api_error err = {0};
    json_t *out;

    assert_int_equal(
        try_create(env, h,
                   "{'name': 'h1', 'vtep': '192.0.2.9', 'underlay': 'eth1'}",
                   &out, &err),
        200);
    assert_int_equal(json_integer_value(json_object_get(out, "version")), 2);
    assert_null(json_object_get(out, "capacity"));
    assert_string_equal(json_string_value(json_object_get(out, "status")),
                        "ready");
    assert_non_null(json_object_get(out, "last_heartbeat"));
    json_decref(out);
    /* The old VTEP is free again. */
    expect_ok(env, h,
              "{'name': 'h2', 'vtep': '192.0.2.1', 'underlay': 'eth0'}");

    fixture_create_func *t = auth_token_create;

    expect_error(env, t, "{'name': 'ops', 'role': 'root'}", 400, "role",
                 "token \"ops\": role \"root\"", NULL);
    expect_error(env, t, "{'name': 'ops'}", 400, "role", "required", NULL);
    expect_error(env, t, "{'name': 'a1', 'role': 'agent'}", 400, "host",
                 "required for an agent token", NULL);
    expect_error(env, t, "{'name': 'v1', 'role': 'viewer', 'host': 'h1'}", 400,
                 "host", "only agent tokens", NULL);
    expect_error(env, t, "{'name': 'v1', 'role': 'viewer', 'token': 'x'}", 400,
                 "token", "unknown field", NULL);
    assert_int_equal(
        try_create(env, t, "{'name': 'v1', 'role': 'viewer'}", &out, &err),
        201);
    assert_int_equal(strlen(json_string_value(json_object_get(out, "token"))),
                     AUTH_TOKEN_LEN);
    /* Only the hash is stored, and it is never shown. */
    assert_null(json_object_get(out, "hash"));
    json_decref(out);
    assert_int_equal(auth_token_get(&env->api, "v1", &out, &err), 200);
    assert_null(json_object_get(out, "token"));
    assert_null(json_object_get(out, "hash"));
    json_decref(out);
    expect_error(env, t, "{'name': 'v1', 'role': 'viewer'}", 409, "name",
                 NULL);
}

/* A host's uplink rate: set by registration or PATCH, kept by a
 * registration that leaves it out, removed by null in a PATCH. */
static void
test_host_uplink_rate(void **state)
{
    struct fixture_env *env = *state;
    fixture_create_func *h = api_host_register;
    struct api_error err = {0};
    json_t *out;

    expect_error(env, h,
                 "{'name': 'h1', 'vtep': '192.0.2.1', 'underlay': 'eth0', "
                 "'uplink_rate': 999999}",
                 400, "uplink_rate",
                 "host \"h1\": uplink_rate 999999: must be "
                 "1000000..1000000000000 bits per second",
                 NULL);
    expect_error(env, h,
                 "{'name': 'h1', 'vtep': '192.0.2.1', 'underlay': 'eth0', "
                 "'uplink_rate': 1000000000001}",
                 400, "uplink_rate", NULL);
    expect_error(env, h,
                 "{'name': 'h1', 'vtep': '192.0.2.1', 'underlay': 'eth0', "
                 "'uplink_rate': '10gbit'}",
                 400, "uplink_rate", "expected", NULL);
    expect_error(env, h,
                 "{'name': 'h1', 'vtep': '192.0.2.1', 'underlay': 'eth0', "
                 "'uplink_rate': null}",
                 400, "uplink_rate", NULL);
    assert_int_equal(try_create(env, h,
                                "{'name': 'h1', 'vtep': '192.0.2.1', "
                                "'underlay': 'eth0', 'uplink_rate': "
                                "10000000000}",
                                &out, &err),
                     201);
    assert_int_equal(json_integer_value(json_object_get(out, "uplink_rate")),
                     10000000000LL);
    json_decref(out);

    /* An agent that does not know its uplink keeps the operator's. */
    assert_int_equal(try_create(env, h,
                                "{'name': 'h1', 'vtep': '192.0.2.1', "
                                "'underlay': 'eth1'}",
                                &out, &err),
                     200);
    assert_int_equal(json_integer_value(json_object_get(out, "uplink_rate")),
                     10000000000LL);
    json_decref(out);

    assert_int_equal(patch_text(env, api_host_patch, "h1",
                                "{'uplink_rate': 1000000}", &out, &err),
                     200);
    assert_int_equal(json_integer_value(json_object_get(out, "uplink_rate")),
                     1000000);
    assert_int_equal(json_integer_value(json_object_get(out, "version")), 3);
    json_decref(out);
    assert_int_equal(patch_text(env, api_host_patch, "h1",
                                "{'uplink_rate': 0}", &out, &err),
                     400);
    assert_string_equal(err.field, "uplink_rate");
    assert_int_equal(api_host_get(&env->api, "h1", &out, &err), 200);
    assert_int_equal(json_integer_value(json_object_get(out, "uplink_rate")),
                     1000000);
    json_decref(out);
    assert_int_equal(patch_text(env, api_host_patch, "h1",
                                "{'uplink_rate': null}", &out, &err),
                     200);
    assert_null(json_object_get(out, "uplink_rate"));
    json_decref(out);
    api_error_clear(&err);
}

/* Creates port 'name' in 'network' and returns its address. */
static char *
port_ip(struct fixture_env *env, const char *network, const char *name)
{
    char *text = xasprintf("{'name': '%s', 'network': '%s'}", name, network);
    char *ip = create_get(env, api_port_create, text, "ip");

    free(text);
    return ip;
}

static void
expect_ip(struct fixture_env *env, const char *network, const char *name,
          const char *expected)
{
    char *ip = port_ip(env, network, name);

    assert_string_equal(ip, expected);
    free(ip);
}

static void
test_ipam(void **state)
{
    struct fixture_env *env = *state;
    struct api_error err = {0};

    expect_ok(env, api_network_create,
              "{'name': 'small', 'cidr': '10.1.0.0/29'}");
    /* The lowest free address, never the network's (.0), the broadcast
     * (.7) nor the DHCP server's (.6, the last usable one). */
    expect_ip(env, "small", "p1", "10.1.0.1");
    expect_ip(env, "small", "p2", "10.1.0.2");
    expect_ip(env, "small", "p3", "10.1.0.3");
    expect_ok(env, api_port_create,
              "{'name': 'p5', 'network': 'small', 'ip': '10.1.0.5'}");
    expect_ip(env, "small", "p4", "10.1.0.4");
    expect_error(env, api_port_create, "{'name': 'p7', 'network': 'small'}",
                 409, "ip", "network \"small\" has no free address", NULL);
    expect_error(env, api_port_create,
                 "{'name': 'p6', 'network': 'small', 'ip': '10.1.0.6'}", 400,
                 "ip",
                 "ip \"10.1.0.6\": the fabric's DHCP server address of "
                 "network \"small\"",
                 NULL);

    /* A freed address is the lowest free one again, once. */
    assert_int_equal(api_port_delete(&env->api, "p2", NULL, STORE_ANY, &err),
                     204);
    expect_ip(env, "small", "p2b", "10.1.0.2");
    expect_error(env, api_port_create, "{'name': 'p8', 'network': 'small'}",
                 409, "ip", NULL);
    expect_error(
        env, api_port_create,
        "{'name': 'p9', 'network': 'small', 'ip': '10.1.0.3'}", 409, "ip",
        "ip 10.1.0.3: in use by port \"p3\" in network \"small\"", NULL);

    /* A /30 has two usable addresses: one for a port, one for DHCP. */
    expect_ok(env, api_network_create,
              "{'name': 'tiny', 'cidr': '10.2.0.0/30'}");
    expect_ip(env, "tiny", "t1", "10.2.0.1");
    expect_error(env, api_port_create, "{'name': 't3', 'network': 'tiny'}",
                 409, "ip", NULL);
    /* Addresses are per network: 10.2.0.1 elsewhere is fine. */
    expect_ok(env, api_network_create,
              "{'name': 'other', 'cidr': '10.2.0.0/24'}");
    expect_ok(env, api_port_create,
              "{'name': 'o1', 'network': 'other', 'ip': '10.2.0.1'}");
    expect_ip(env, "other", "o2", "10.2.0.2");

    /* A network whose name extends another's keeps its own addresses. */
    expect_ok(env, api_network_create,
              "{'name': 'tiny-2', 'cidr': '10.3.0.0/30'}");
    expect_ip(env, "tiny-2", "u1", "10.3.0.1");

    /* Deleting the lowest port moves allocation back down. */
    assert_int_equal(api_port_delete(&env->api, "t1", NULL, STORE_ANY, &err),
                     204);
    expect_ip(env, "tiny", "t4", "10.2.0.1");
    api_error_clear(&err);
}

static void
test_mac(void **state)
{
    struct fixture_env *env = *state;
    char *mac;

    expect_ok(env, api_network_create,
              "{'name': 'blue', 'cidr': '10.0.0.0/24'}");
    expect_ok(env, api_network_create,
              "{'name': 'red', 'cidr': '10.0.0.0/24'}");
    mac = create_get(env, api_port_create, "{'name': 'p1', 'network': 'blue'}",
                     "mac");
    assert_int_equal(strlen(mac), 17);
    assert_memory_equal(mac, "02:fa:", 6);
    free(mac);
    mac = create_get(
        env, api_port_create,
        "{'name': 'p2', 'network': 'blue', 'mac': '0A-BB-CC-DD-EE-FF'}",
        "mac");
    assert_string_equal(mac, "0a:bb:cc:dd:ee:ff");
    free(mac);
    /* MACs are unique across networks. */
    expect_error(
        env, api_port_create,
        "{'name': 'p3', 'network': 'red', 'mac': '0a:bb:cc:dd:ee:ff'}", 409,
        "mac", "in use by port \"p2\"", NULL);
}

/* External VTEPs: every field is checked with a message naming it; the
 * address, MACs and addresses are unique among hosts, ports and external
 * VTEPs alike (both ways); a network an external VTEP joins cannot be
 * deleted; deleting it frees all it held. */
static void
test_external_vteps(void **state)
{
    struct fixture_env *env = *state;
    struct api_error err = {0};
    json_t *out;

    expect_ok(env, api_network_create,
              "{'name': 'blue', 'cidr': '10.0.0.0/24'}");
    expect_ok(env, api_network_create,
              "{'name': 'red', 'cidr': '10.1.0.0/24'}");
    expect_ok(env, api_host_register,
              "{'name': 'h1', 'vtep': '192.0.2.1', 'underlay': 'eth0'}");
    expect_ok(env, api_port_create,
              "{'name': 'p1', 'network': 'blue', 'ip': '10.0.0.7', 'mac': "
              "'02:00:00:00:00:07'}");

    expect_error(env, api_external_vtep_create,
                 "{'name': 'x', 'networks': ['blue']}", 400, "address", NULL);
    expect_error(env, api_external_vtep_create,
                 "{'name': 'x', 'address': '224.0.0.5', 'networks': "
                 "['blue']}",
                 400, "address", "not a unicast address", NULL);
    expect_error(env, api_external_vtep_create,
                 "{'name': 'x', 'address': '192.0.2.9/24', 'networks': "
                 "['blue']}",
                 400, "address", "not an IPv4 address", NULL);
    expect_error(env, api_external_vtep_create,
                 "{'name': 'x', 'address': '192.0.2.9', 'networks': []}", 400,
                 "networks", "expected 1 to 64", NULL);
    expect_error(env, api_external_vtep_create,
                 "{'name': 'x', 'address': '192.0.2.9', 'networks': "
                 "['blue', 'blue']}",
                 400, "networks", "listed twice", NULL);
    expect_error(env, api_external_vtep_create,
                 "{'name': 'x', 'address': '192.0.2.9', 'networks': "
                 "['green']}",
                 400, "networks", "\"green\": no such network", NULL);
    expect_error(env, api_external_vtep_create,
                 "{'name': 'x', 'address': '192.0.2.9', 'networks': "
                 "['blue'], 'gbp': 'yes'}",
                 400, "gbp", "true or false", NULL);
    expect_error(env, api_external_vtep_create,
                 "{'name': 'x', 'address': '192.0.2.9', 'networks': "
                 "['blue'], 'endpoints': [{'network': 'red', 'mac': "
                 "'02:00:00:00:00:99'}]}",
                 400, "endpoints", "\"red\" is not one of the networks", NULL);
    expect_error(env, api_external_vtep_create,
                 "{'name': 'x', 'address': '192.0.2.9', 'networks': "
                 "['blue'], 'endpoints': [{'network': 'blue', 'mac': "
                 "'01:00:5e:00:00:01'}]}",
                 400, "endpoints", "endpoints[0].mac: expected a unicast",
                 NULL);
    expect_error(env, api_external_vtep_create,
                 "{'name': 'x', 'address': '192.0.2.9', 'networks': "
                 "['blue'], 'endpoints': [{'network': 'blue', 'mac': "
                 "'02:00:00:00:00:99', 'vlan': 5}]}",
                 400, "endpoints", "endpoints[0].vlan: unknown field", NULL);
    expect_error(env, api_external_vtep_create,
                 "{'name': 'x', 'address': '192.0.2.9', 'networks': "
                 "['blue'], 'endpoints': [{'network': 'blue', 'mac': "
                 "'02:00:00:00:00:99', 'ip': '10.1.0.5'}]}",
                 400, "endpoints", "not a usable address of network", NULL);
    expect_error(env, api_external_vtep_create,
                 "{'name': 'x', 'address': '192.0.2.9', 'networks': "
                 "['blue'], 'endpoints': [{'network': 'blue', 'mac': "
                 "'02:00:00:00:00:99', 'ip': '10.0.0.255'}]}",
                 400, "endpoints", "not a usable address", NULL);
    /* Held by others. */
    expect_error(env, api_external_vtep_create,
                 "{'name': 'x', 'address': '192.0.2.1', 'networks': "
                 "['blue']}",
                 409, "address", "in use by host \"h1\"", NULL);
    expect_error(env, api_external_vtep_create,
                 "{'name': 'x', 'address': '192.0.2.9', 'networks': "
                 "['blue'], 'endpoints': [{'network': 'blue', 'mac': "
                 "'02:00:00:00:00:07'}]}",
                 409, "endpoints", "in use by port \"p1\"", NULL);
    expect_error(env, api_external_vtep_create,
                 "{'name': 'x', 'address': '192.0.2.9', 'networks': "
                 "['blue'], 'endpoints': [{'network': 'blue', 'mac': "
                 "'02:00:00:00:00:99', 'ip': '10.0.0.7'}]}",
                 409, "endpoints", "in use by port \"p1\"", NULL);
    expect_error(env, api_external_vtep_create,
                 "{'name': 'x', 'address': '192.0.2.9', 'networks': "
                 "['blue'], 'endpoints': [{'network': 'blue', 'mac': "
                 "'02:00:00:00:00:99'}, {'network': 'blue', 'mac': "
                 "'02:00:00:00:00:99'}]}",
                 400, "endpoints", "in use by external VTEP \"x\"", NULL);

    expect_ok(env, api_external_vtep_create,
              "{'name': 'ovs', 'address': '192.0.2.9', 'networks': "
              "['blue'], 'endpoints': [{'network': 'blue', 'mac': "
              "'02:00:00:00:00:99', 'ip': '10.0.0.99'}]}");
    /* Nothing of the refused attempts stayed. */
    assert_int_equal(api_external_vtep_get(&env->api, "x", &out, &err), 404);
    api_error_clear(&err);

    /* And the other way round. */
    expect_error(env, api_host_register,
                 "{'name': 'h2', 'vtep': '192.0.2.9', 'underlay': 'eth0'}",
                 409, "vtep", "in use by external VTEP \"ovs\"", NULL);
    expect_error(env, api_port_create,
                 "{'name': 'p2', 'network': 'blue', 'ip': '10.0.0.99'}", 409,
                 "ip", "in use by external VTEP \"ovs\"", NULL);
    expect_error(env, api_port_create,
                 "{'name': 'p2', 'network': 'blue', 'mac': "
                 "'02:00:00:00:00:99'}",
                 409, "mac", "in use by external VTEP \"ovs\"", NULL);
    expect_error(env, api_external_vtep_create,
                 "{'name': 'ovs2', 'address': '192.0.2.9', 'networks': "
                 "['red']}",
                 409, "address", "in use by external VTEP \"ovs\"", NULL);

    /* A patch moves what it holds. */
    out = fixture_patch(env, api_external_vtep_patch, "ovs",
                        "{'endpoints': [{'network': 'blue', 'mac': "
                        "'02:00:00:00:00:98', 'ip': '10.0.0.98'}]}");
    assert_false(json_is_true(json_object_get(out, "gbp")));
    json_decref(out);
    expect_ok(env, api_port_create,
              "{'name': 'p2', 'network': 'blue', 'ip': '10.0.0.99', 'mac': "
              "'02:00:00:00:00:99'}");

    assert_int_equal(api_network_delete(&env->api, "blue", NULL, -1, &err),
                     409);
    assert_non_null(strstr(err.message, "external VTEP \"ovs\" joins it"));
    api_error_clear(&err);
    assert_int_equal(
        api_external_vtep_delete(&env->api, "ovs", NULL, -1, &err), 204);
    expect_ok(env, api_port_create,
              "{'name': 'p3', 'network': 'blue', 'ip': '10.0.0.98', 'mac': "
              "'02:00:00:00:00:98'}");
    expect_ok(env, api_host_register,
              "{'name': 'h2', 'vtep': '192.0.2.9', 'underlay': 'eth0'}");
}

/* One thread of test_concurrent_creation(). */
struct creator {
    struct fixture_env *env; /* Where to create. */
    int id;                  /* Thread number, for names. */
    int created;             /* Ports created. */
};

#define N_THREADS 4
#define PORTS_PER_THREAD 25

static void *
creator_main(void *c_)
{
    struct creator *c = c_;

    for (int i = 0; i < PORTS_PER_THREAD; i++) {
        struct api_error err = {0};
        json_t *in, *out = NULL;

        in = json_pack("{ssss}", "name", "", "network", "blue");
        json_object_set_new(in, "name", json_sprintf("t%d-%d", c->id, i));
        if (api_port_create(&c->env->api, in, &out, &err) == 201) {
            c->created++;
        }
        json_decref(in);
        json_decref(out);
        api_error_clear(&err);
    }
    return NULL;
}

static int
collect_cb(const struct store_obj *obj, void *set)
{
    json_t *ip = json_object_get(obj->body, "ip");
    json_t *mac = json_object_get(obj->body, "mac");

    json_object_set_new(set, json_string_value(ip), json_true());
    json_object_set_new(set, json_string_value(mac), json_true());
    return 0;
}

static void
test_concurrent_creation(void **state)
{
    struct fixture_env *env = *state;
    struct creator c[N_THREADS];
    pthread_t threads[N_THREADS];
    struct store_txn *txn;
    json_t *seen = json_object();
    size_t n;

    expect_ok(env, api_network_create,
              "{'name': 'blue', 'cidr': '10.0.0.0/24'}");
    for (int i = 0; i < N_THREADS; i++) {
        c[i] = (struct creator){.env = env, .id = i};
        assert_int_equal(
            pthread_create(&threads[i], NULL, creator_main, &c[i]), 0);
    }
    for (int i = 0; i < N_THREADS; i++) {
        pthread_join(threads[i], NULL);
        assert_int_equal(c[i].created, PORTS_PER_THREAD);
    }

    /* Every port got its own address and its own MAC. */
    assert_int_equal(store_begin(env->store, false, &txn), 0);
    assert_int_equal(store_count(txn, "port", &n), 0);
    assert_int_equal(n, N_THREADS * PORTS_PER_THREAD);
    assert_int_equal(store_list(txn, "port", NULL, 0, collect_cb, seen), 0);
    store_abort(txn);
    assert_int_equal(json_object_size(seen), 2 * N_THREADS * PORTS_PER_THREAD);
    /* And the lowest ones: .1 to .100. */
    assert_non_null(json_object_get(seen, "10.0.0.1"));
    assert_non_null(json_object_get(seen, "10.0.0.100"));
    assert_null(json_object_get(seen, "10.0.0.101"));
    json_decref(seen);
}

static void
test_devices_and_placement(void **state)
{
    struct fixture_env *env = *state;
    struct api_error err = {0};
    json_t *in, *out;
    char *device;

    expect_ok(env, api_network_create,
              "{'name': 'blue', 'cidr': '10.0.0.0/24'}");
    expect_ok(env, api_host_register,
              "{'name': 'h1', 'vtep': '192.0.2.1', 'underlay': 'eth0'}");
    device = create_get(
        env, api_port_create,
        "{'name': 'web-server-01a', 'network': 'blue', 'host': 'h1'}",
        "device");
    assert_string_equal(device, "fp-web-server-0");
    free(device);
    /* The default device of a similar name collides on the same host... */
    expect_error(env, api_port_create,
                 "{'name': 'web-server-01b', 'network': 'blue', 'host': 'h1'}",
                 409, "device",
                 "device \"fp-web-server-0\": in use by port "
                 "\"web-server-01a\" on host \"h1\"",
                 NULL);
    /* ...but not on another host, nor with a device of its own. */
    expect_ok(env, api_port_create,
              "{'name': 'web-server-01b', 'network': 'blue', 'host': 'h2'}");
    expect_ok(env, api_port_create,
              "{'name': 'web-server-01c', 'network': 'blue', 'host': 'h1', "
              "'device': 'tap-c'}");
    expect_error(
        env, api_port_create,
        "{'name': 'p9', 'network': 'blue', 'host': 'h1', 'device': 'eth0'}",
        409, "device", "underlay device of host \"h1\"", NULL);

    /* Moving onto h1 meets the same rule. */
    in = J("{'host': 'h1'}");
    assert_int_equal(
        api_port_patch(&env->api, "web-server-01b", in, STORE_ANY, &out, &err),
        409);
    assert_string_equal(err.field, "device");
    json_decref(in);
    in = J("{'host': 'h3', 'labels': {'tier': 'web'}}");
    assert_int_equal(
        api_port_patch(&env->api, "web-server-01b", in, STORE_ANY, &out, &err),
        200);
    assert_string_equal(json_string_value(json_object_get(out, "host")), "h3");
    assert_int_equal(json_integer_value(json_object_get(out, "version")), 2);
    json_decref(out);
    json_decref(in);
    /* A host and a network cannot go while ports use them. */
    assert_int_equal(api_host_delete(&env->api, "h1", NULL, STORE_ANY, &err),
                     409);
    assert_non_null(strstr(err.message, "host \"h1\": still has ports"));
    assert_int_equal(
        api_network_delete(&env->api, "blue", NULL, STORE_ANY, &err), 409);
    assert_non_null(
        strstr(err.message, "network \"blue\": still has 3 ports"));
    /* Unplacing frees the device name on the old host. */
    in = J("{'host': null}");
    assert_int_equal(
        api_port_patch(&env->api, "web-server-01a", in, STORE_ANY, &out, &err),
        200);
    assert_null(json_object_get(out, "host"));
    assert_string_equal(json_string_value(json_object_get(out, "status")),
                        "pending");
    json_decref(out);
    json_decref(in);
    in = J("{'host': 'h1'}");
    assert_int_equal(
        api_port_patch(&env->api, "web-server-01b", in, STORE_ANY, &out, &err),
        200);
    json_decref(out);
    json_decref(in);
    api_error_clear(&err);
}

static void
test_port_patch_labels(void **state)
{
    struct fixture_env *env = *state;
    struct api_error err = {0};
    json_t *in, *out;

    expect_ok(env, api_network_create,
              "{'name': 'blue', 'cidr': '10.0.0.0/24'}");
    expect_ok(
        env, api_port_create,
        "{'name': 'p1', 'network': 'blue', 'labels': {'a': '1', 'b': '2'}}");
    in = J("{'labels': {'a': null, 'c': '3'}, 'description': 'x'}");
    assert_int_equal(
        api_port_patch(&env->api, "p1", in, STORE_ANY, &out, &err), 200);
    json_decref(in);
    in = J("{'b': '2', 'c': '3'}");
    assert_true(json_equal(json_object_get(out, "labels"), in));
    json_decref(in);
    json_decref(out);
    /* Immutable fields, and status, are refused unless repeated. */
    in = J("{'ip': '10.0.0.9'}");
    assert_int_equal(
        api_port_patch(&env->api, "p1", in, STORE_ANY, &out, &err), 400);
    assert_string_equal(err.field, "ip");
    json_decref(in);
    in = J("{'status': 'up'}");
    assert_int_equal(
        api_port_patch(&env->api, "p1", in, STORE_ANY, &out, &err), 400);
    json_decref(in);
    in = J("{'status': 'pending', 'network': 'blue', 'labels': null}");
    assert_int_equal(
        api_port_patch(&env->api, "p1", in, STORE_ANY, &out, &err), 200);
    assert_int_equal(json_object_size(json_object_get(out, "labels")), 0);
    json_decref(out);
    json_decref(in);
    api_error_clear(&err);
}

/* Lists ports with 'query' (JSON with ') and returns their names joined by
 * spaces, and the next page token in '*next' (if not NULL). */
static char *
list_ports(struct fixture_env *env, const char *query, char **next)
{
    struct api_error err = {0};
    json_t *q = J(query), *out, *item;
    char *names = xstrdup("");
    size_t i;

    if (api_port_list(&env->api, q, &out, &err) != 200) {
        fail_msg("listing %s: %s", query, err.message);
    }
    json_array_foreach(json_object_get(out, "items"), i, item)
    {
        char *more =
            xasprintf("%s%s%s", names, i ? " " : "",
                      json_string_value(json_object_get(item, "name")));
        free(names);
        names = more;
    }
    if (next) {
        const char *t =
            json_string_value(json_object_get(out, "next_page_token"));

        *next = t ? xstrdup(t) : NULL;
    }
    json_decref(out);
    json_decref(q);
    return names;
}

static void
expect_list(struct fixture_env *env, const char *query, const char *expected)
{
    char *names = list_ports(env, query, NULL);

    if (strcmp(names, expected)) {
        fail_msg("listing %s: expected \"%s\", got \"%s\"", query, expected,
                 names);
    }
    free(names);
}

static void
test_port_list(void **state)
{
    struct fixture_env *env = *state;
    struct api_error err = {0};
    char *next, *names, *query;
    json_t *q, *out;

    expect_ok(env, api_network_create,
              "{'name': 'blue', 'cidr': '10.0.0.0/24'}");
    expect_ok(env, api_network_create,
              "{'name': 'blue-2', 'cidr': '10.0.1.0/24'}");
    expect_ok(env, api_port_create,
              "{'name': 'a', 'network': 'blue', 'host': 'h1', 'labels': "
              "{'app': 'web', 'env': 'prod'}}");
    expect_ok(env, api_port_create,
              "{'name': 'b', 'network': 'blue', 'host': 'h2', 'labels': "
              "{'app': 'db'}}");
    expect_ok(env, api_port_create,
              "{'name': 'c', 'network': 'blue-2', 'host': 'h1', 'labels': "
              "{'app': 'web'}}");
    expect_ok(env, api_port_create, "{'name': 'd', 'network': 'blue'}");

    expect_list(env, "{}", "a b c d");
    expect_list(env, "{'network': 'blue'}", "a b d");
    expect_list(env, "{'network': 'blue-2'}", "c");
    expect_list(env, "{'host': 'h1'}", "a c");
    expect_list(env, "{'host': 'h1', 'network': 'blue'}", "a");
    expect_list(env, "{'label': 'app=web'}", "a c");
    expect_list(env, "{'label': 'env'}", "a");
    expect_list(env, "{'label': ['app=web', 'env=prod']}", "a");
    expect_list(env, "{'label': 'app=nope'}", "");
    expect_list(env, "{'host': 'nope'}", "");

    /* A network that does not exist is not an empty one; a host need not
     * be registered, since ports wait for it. */
    q = J("{'network': 'nope'}");
    assert_int_equal(api_port_list(&env->api, q, &out, &err), 404);
    assert_string_equal(err.field, "network");
    json_decref(q);
    api_error_clear(&err);

    /* Pages of two: a token until the last page. */
    names = list_ports(env, "{'limit': '2'}", &next);
    assert_string_equal(names, "a b");
    assert_string_equal(next, "b");
    free(names);
    query = xasprintf("{'limit': '2', 'page_token': '%s'}", next);
    free(next);
    names = list_ports(env, query, &next);
    assert_string_equal(names, "c d");
    assert_null(next);
    free(names);
    free(query);
    names = list_ports(
        env, "{'limit': '2', 'network': 'blue', 'page_token': 'a'}", &next);
    assert_string_equal(names, "b d");
    assert_null(next);
    free(names);

    q = J("{'limit': '0'}");
    assert_int_equal(api_port_list(&env->api, q, &out, &err), 400);
    assert_string_equal(err.field, "limit");
    json_decref(q);
    q = J("{'limit': '1001'}");
    assert_int_equal(api_port_list(&env->api, q, &out, &err), 400);
    json_decref(q);
    q = J("{'limit': 'ten'}");
    assert_int_equal(api_port_list(&env->api, q, &out, &err), 400);
    json_decref(q);
    q = J("{'sort': 'name'}");
    assert_int_equal(api_port_list(&env->api, q, &out, &err), 400);
    assert_string_equal(err.field, "sort");
    json_decref(q);
    q = J("{'label': '=x'}");
    assert_int_equal(api_port_list(&env->api, q, &out, &err), 400);
    assert_string_equal(err.field, "label");
    json_decref(q);
    api_error_clear(&err);
}

static void
test_heartbeats_and_port_status(void **state)
{
    struct fixture_env *env = *state;
    struct api_error err = {0};
    time_t last;
    json_t *in, *out;

    expect_ok(env, api_network_create,
              "{'name': 'blue', 'cidr': '10.0.0.0/24'}");
    expect_ok(env, api_host_register,
              "{'name': 'h1', 'vtep': '192.0.2.1', 'underlay': 'eth0'}");
    expect_ok(env, api_port_create,
              "{'name': 'p1', 'network': 'blue', 'host': 'h1'}");
    expect_ok(env, api_port_create,
              "{'name': 'p2', 'network': 'blue', 'host': 'h1'}");
    expect_ok(env, api_port_create,
              "{'name': 'p3', 'network': 'blue', 'host': 'h2'}");

    /* Long silent: unreachable, until the next heartbeat. */
    pthread_mutex_lock(&env->api.mutex);
    json_object_set_new(env->api.heartbeats, "h1",
                        json_integer(time(NULL) - 31));
    pthread_mutex_unlock(&env->api.mutex);
    assert_string_equal(api_host_status(&env->api, "h1", &last),
                        "unreachable");
    assert_int_equal(api_hosts_connected(&env->api), 0);
    in = J("{'load': {'cpu': 0.5}}");
    assert_int_equal(fixture_heartbeat(env, "h1", in, &err), 200);
    json_decref(in);
    assert_string_equal(api_host_status(&env->api, "h1", &last), "ready");
    assert_int_equal(api_hosts_connected(&env->api), 1);
    in = J("{'cpu': 1}");
    assert_int_equal(fixture_heartbeat(env, "h1", in, &err), 400);
    assert_string_equal(err.field, "cpu");
    json_decref(in);
    assert_int_equal(fixture_heartbeat(env, "h9", NULL, &err), 404);
    /* A host never heard from counts from the controller's start. */
    env->api.started = time(NULL) - 100;
    assert_string_equal(api_host_status(&env->api, "h9", &last),
                        "unreachable");
    assert_int_equal(last, 0);

    in = J("{'ports': {'p1': 'up', 'p2': 'down', 'p3': 'up', 'gone': 'up'}}");
    assert_int_equal(api_host_port_status(&env->api, "h1", in, &err), 204);
    json_decref(in);
    assert_int_equal(api_port_get(&env->api, "p1", &out, &err), 200);
    assert_string_equal(json_string_value(json_object_get(out, "status")),
                        "up");
    json_decref(out);
    assert_int_equal(api_port_get(&env->api, "p2", &out, &err), 200);
    assert_string_equal(json_string_value(json_object_get(out, "status")),
                        "down");
    json_decref(out);
    /* p3 is on h2: h1 cannot speak for it. */
    assert_int_equal(api_port_get(&env->api, "p3", &out, &err), 200);
    assert_string_equal(json_string_value(json_object_get(out, "status")),
                        "pending");
    json_decref(out);

    assert_int_equal(api_status(&env->api, &out, &err), 200);
    in = J("{'hosts': {'total': 1, 'ready': 1, 'degraded': 0, "
           "'unreachable': 0}, 'networks': 1, 'ports': {'total': 3, 'up': 1, "
           "'down': 1, 'pending': 1, 'refused': 0}}");
    json_object_set(in, "revision", json_object_get(out, "revision"));
    /* Who answers and who leads are doc/replication.md's; the store's
     * members depend on the backend the test runs on (etcd-suite.sh). */
    assert_non_null(json_string_value(
        json_object_get(json_object_get(out, "store"), "backend")));
    json_object_set(in, "controller", json_object_get(out, "controller"));
    json_object_set(in, "leaders", json_object_get(out, "leaders"));
    json_object_set(in, "store", json_object_get(out, "store"));
    assert_true(json_equal(in, out));
    json_decref(in);
    json_decref(out);

    in = J("{'ports': {'p1': 'sideways'}}");
    assert_int_equal(api_host_port_status(&env->api, "h1", in, &err), 400);
    assert_string_equal(err.field, "ports");
    json_decref(in);
    in = J("{'ports': ['p1']}");
    assert_int_equal(api_host_port_status(&env->api, "h1", in, &err), 400);
    json_decref(in);
    api_error_clear(&err);
}

/* Patches 'name' with 'fn' and 'text', expecting 'status' and a message
 * that contains 'want' (NULL: any). */
static void
expect_patch(struct fixture_env *env, fixture_patch_func *fn, const char *name,
             const char *text, int status, const char *want)
{
    struct api_error err = {0};
    int got = patch_text(env, fn, name, text, NULL, &err);

    if (got != status) {
        fail_msg("%s %s: expected %d, got %d (%s)", name, text, status, got,
                 err.message ? err.message : "");
    }
    if (want && !strstr(err.message, want)) {
        fail_msg("%s %s: message \"%s\" lacks \"%s\"", name, text, err.message,
                 want);
    }
    api_error_clear(&err);
}

/* Returns string member 'key' of object 'name' read with 'get'. */
static char *
get_string(struct fixture_env *env,
           int (*get)(struct api *, const char *, json_t **,
                      struct api_error *),
           const char *name, const char *key)
{
    struct api_error err = {0};
    json_t *out;
    char *value;

    assert_int_equal(get(&env->api, name, &out, &err), 200);
    value = xstrdup(json_string_value(json_object_get(out, key)) ?: "");
    json_decref(out);
    return value;
}

/* The controller refuses what the agents would refuse: a network MTU that
 * the underlay of a host with a port in it cannot carry, and a port placed
 * on such a host.  What an agent still cannot apply, it reports, and the
 * API shows it. */
static void
test_host_limits(void **state)
{
    struct fixture_env *env = *state;
    struct api_error err = {0};
    json_int_t revision;
    json_t *in, *out;
    char *s;

    expect_ok(env, api_network_create,
              "{'name': 'green', 'cidr': '10.0.0.0/24'}");
    expect_ok(env, api_host_register,
              "{'name': 'h1', 'vtep': '192.0.2.1', 'underlay': 'eth0', "
              "'limits': {'underlay_mtu': 1500, 'flood_members': 256}}");
    expect_ok(env, api_host_register,
              "{'name': 'h2', 'vtep': '192.0.2.2', 'underlay': 'eth0', "
              "'limits': {'underlay_mtu': 9000}}");
    expect_ok(env, api_host_register,
              "{'name': 'old', 'vtep': '192.0.2.3', 'underlay': 'eth0'}");
    expect_ok(env, api_port_create,
              "{'name': 'p1', 'network': 'green', 'host': 'h1'}");
    expect_ok(env, api_port_create,
              "{'name': 'p2', 'network': 'green', 'host': 'old'}");

    /* h1's 1500 bytes carry 1450 and no more. */
    expect_patch(env, api_network_patch, "green", "{'mtu': 9000}", 409,
                 "network \"green\": host \"h1\" cannot carry network "
                 "\"green\": its mtu 9000 plus 50 bytes of VXLAN overhead is "
                 "9050, more than the underlay MTU 1500 of \"h1\" (give the "
                 "network an mtu of at most 1450, or raise the underlay MTU "
                 "of \"h1\")");
    expect_patch(env, api_network_patch, "green", "{'mtu': 1451}", 409,
                 "underlay MTU 1500");
    s = get_string(env, api_network_get, "green", "updated_at");
    expect_patch(env, api_network_patch, "green", "{'mtu': 1400}", 200, NULL);
    expect_patch(env, api_network_patch, "green", "{'mtu': 1450}", 200, NULL);
    free(s);

    /* A host that cannot carry the network gets none of its ports, whether
     * created there or moved there; one that reported nothing is not
     * judged. */
    expect_ok(env, api_network_create,
              "{'name': 'jumbo', 'cidr': '10.0.1.0/24', 'mtu': 8950}");
    expect_error(env, api_port_create,
                 "{'name': 'p3', 'network': 'jumbo', 'host': 'h1'}", 409,
                 "mtu",
                 "port \"p3\": host \"h1\" cannot carry network "
                 "\"jumbo\": its mtu 8950",
                 NULL);
    expect_ok(env, api_port_create,
              "{'name': 'p3', 'network': 'jumbo', 'host': 'h2'}");
    expect_ok(env, api_port_create,
              "{'name': 'p4', 'network': 'jumbo', 'host': 'old'}");
    expect_patch(env, api_port_patch, "p3", "{'host': 'h1'}", 409,
                 "host \"h1\" cannot carry network \"jumbo\"");
    s = get_string(env, api_port_get, "p3", "host");
    assert_string_equal(s, "h2");
    free(s);
    expect_patch(env, api_network_patch, "jumbo", "{'mtu': 8951}", 409,
                 "underlay MTU 9000 of \"h2\"");

    /* Limits come from the agent: a heartbeat updates them, an operator
     * cannot; bad ones are refused. */
    in = J("{'limits': {'underlay_mtu': 8000}}");
    assert_int_equal(fixture_heartbeat(env, "h2", in, &err), 200);
    json_decref(in);
    assert_int_equal(api_host_get(&env->api, "h2", &out, &err), 200);
    assert_int_equal(json_integer_value(json_object_get(
                         json_object_get(out, "limits"), "underlay_mtu")),
                     8000);
    json_decref(out);
    /* The same limits again write nothing; an unknown host is 404. */
    assert_int_equal(api_status(&env->api, &out, &err), 200);
    revision = json_integer_value(json_object_get(out, "revision"));
    json_decref(out);
    in = J("{'limits': {'underlay_mtu': 8000}}");
    assert_int_equal(fixture_heartbeat(env, "h2", in, &err), 200);
    assert_int_equal(fixture_heartbeat(env, "h8", in, &err), 404);
    json_decref(in);
    assert_int_equal(api_status(&env->api, &out, &err), 200);
    assert_int_equal(json_integer_value(json_object_get(out, "revision")),
                     revision);
    json_decref(out);
    expect_patch(env, api_host_patch, "h2",
                 "{'limits': {'underlay_mtu': 9000}}", 400,
                 "limits are what the host's agent reports");
    static const char *const bad_limits[] = {
        "{'limits': {'underlay_mtu': 67}}",
        "{'limits': {'underlay_mtu': 65536}}",
        "{'limits': {'underlay_mtu': '1500'}}",
        "{'limits': {'flood_members': 0}}",
        "{'limits': {'mtu': 1500}}",
        "{'limits': 1500}",
    };
    for (size_t i = 0; i < ARRAY_SIZE(bad_limits); i++) {
        in = J(bad_limits[i]);
        if (fixture_heartbeat(env, "h2", in, &err) != 400) {
            fail_msg("heartbeat %s accepted", bad_limits[i]);
        }
        json_decref(in);
    }
    expect_error(env, api_host_register,
                 "{'name': 'h9', 'vtep': '192.0.2.9', 'underlay': 'eth0', "
                 "'limits': {'underlay_mtu': -1}}",
                 400, "limits", "underlay_mtu: expected an integer 68..65535",
                 NULL);

    /* h2's underlay shrank under jumbo: its agent leaves out the network
     * and p3, and says so; the rest of the host applies. */
    in =
        J("{'ports': {'p3': 'refused'}, 'conditions': ["
          "{'kind': 'network', 'name': 'jumbo', 'reason': 'mtu: 8950 is "
          "larger than 7950'},"
          "{'kind': 'port', 'name': 'p3', 'reason': 'network \\\"jumbo\\\" is "
          "left out: mtu: 8950 is larger than 7950'}]}");
    assert_int_equal(api_host_port_status(&env->api, "h2", in, &err), 204);
    json_decref(in);
    assert_int_equal(api_port_get(&env->api, "p3", &out, &err), 200);
    assert_string_equal(json_string_value(json_object_get(out, "status")),
                        "refused");
    assert_string_equal(
        json_string_value(json_object_get(out, "status_reason")),
        "network \"jumbo\" is left out: mtu: 8950 is larger than 7950");
    json_decref(out);
    assert_int_equal(api_host_get(&env->api, "h2", &out, &err), 200);
    assert_string_equal(json_string_value(json_object_get(out, "status")),
                        "degraded");
    assert_int_equal(json_array_size(json_object_get(out, "conditions")), 2);
    json_decref(out);
    assert_int_equal(api_status(&env->api, &out, &err), 200);
    assert_int_equal(json_integer_value(json_object_get(
                         json_object_get(out, "hosts"), "degraded")),
                     1);
    assert_int_equal(json_integer_value(json_object_get(
                         json_object_get(out, "ports"), "refused")),
                     1);
    json_decref(out);
    assert_int_equal(api_host_get(&env->api, "h1", &out, &err), 200);
    assert_string_equal(json_string_value(json_object_get(out, "status")),
                        "ready");
    assert_int_equal(json_array_size(json_object_get(out, "conditions")), 0);
    json_decref(out);

    /* Fixed: the next report clears it. */
    in = J("{'ports': {'p3': 'up'}, 'conditions': []}");
    assert_int_equal(api_host_port_status(&env->api, "h2", in, &err), 204);
    json_decref(in);
    s = get_string(env, api_host_get, "h2", "status");
    assert_string_equal(s, "ready");
    free(s);
    s = get_string(env, api_port_get, "p3", "status");
    assert_string_equal(s, "up");
    free(s);

    /* Reports are bounded and checked as a whole. */
    static const char *const bad_reports[] = {
        "{'ports': {}, 'conditions': [{'kind': 'disk', 'name': 'x', "
        "'reason': 'r'}]}",
        "{'ports': {}, 'conditions': [{'kind': 'port', 'reason': 'r'}]}",
        "{'ports': {}, 'conditions': [{'kind': 'port', 'name': 'x', "
        "'reason': ''}]}",
        "{'ports': {}, 'conditions': [{'kind': 'port', 'name': 'x', "
        "'reason': 'r', 'extra': 1}]}",
        "{'ports': {}, 'conditions': ['x']}",
        "{'ports': {}, 'conditions': {}}",
        "{'ports': {'p3': 'broken'}}",
    };
    for (size_t i = 0; i < ARRAY_SIZE(bad_reports); i++) {
        in = J(bad_reports[i]);
        if (api_host_port_status(&env->api, "h2", in, &err) != 400) {
            fail_msg("report %s accepted", bad_reports[i]);
        }
        json_decref(in);
    }
    in = json_pack("{s{}s[]}", "ports", "conditions");
    for (int i = 0; i <= API_CONDITIONS_MAX; i++) {
        json_array_append_new(
            json_object_get(in, "conditions"),
            json_pack("{sssiss}", "kind", "remote", "name", i, "reason", "r"));
    }
    assert_int_equal(api_host_port_status(&env->api, "h2", in, &err), 400);
    json_decref(in);
    in = json_pack("{s{}s[{sssssO}]}", "ports", "conditions", "kind", "host",
                   "name", "h2", "reason", json_null());
    assert_int_equal(api_host_port_status(&env->api, "h2", in, &err), 400);
    json_decref(in);
    {
        char *reason = xzalloc(API_CONDITION_TEXT_MAX + 2);

        memset(reason, 'x', API_CONDITION_TEXT_MAX + 1);
        in = json_pack("{s{}s[{ssss}]}", "ports", "conditions", "kind", "host",
                       "reason", reason);
        assert_int_equal(api_host_port_status(&env->api, "h2", in, &err), 400);
        json_decref(in);
        free(reason);
    }
    s = get_string(env, api_host_get, "h2", "status");
    assert_string_equal(s, "ready");
    free(s);
    api_error_clear(&err);
}

/* Creates network "wide" and hosts "f1" and "f2", whose datapaths hold flood
 * lists of 2 members. */
static void
flood_setup(struct fixture_env *env)
{
    expect_ok(env, api_network_create,
              "{'name': 'wide', 'cidr': '10.0.0.0/24'}");
    expect_ok(env, api_host_register,
              "{'name': 'f1', 'vtep': '192.0.2.1', 'underlay': 'eth0', "
              "'limits': {'flood_members': 2}}");
    expect_ok(env, api_host_register,
              "{'name': 'f2', 'vtep': '192.0.2.2', 'underlay': 'eth0', "
              "'limits': {'flood_members': 2}}");
}

/* flood_setup(), a third host "f3" without limits and two ports of "wide"
 * on "f1", which fill its flood list. */
static void
flood_fill(struct fixture_env *env)
{
    flood_setup(env);
    expect_ok(env, api_host_register,
              "{'name': 'f3', 'vtep': '192.0.2.3', 'underlay': 'eth0'}");
    expect_ok(env, api_port_create,
              "{'name': 'w1', 'network': 'wide', 'host': 'f1'}");
    expect_ok(env, api_port_create,
              "{'name': 'w2', 'network': 'wide', 'host': 'f1'}");
}

/* A port is not placed where it would give a host of its network a
 * longer flood list than that host's datapath holds: its own ports in the
 * network plus one member per other registered host with ports in it. */
static void
test_host_flood_limits(void **state)
{
    struct fixture_env *env = *state;
    struct api_error err = {0};

    flood_fill(env);
    expect_error(env, api_port_create,
                 "{'name': 'w3', 'network': 'wide', 'host': 'f1'}", 409,
                 "host",
                 "port \"w3\": network \"wide\" would have 3 flood list "
                 "members on host \"f1\" (3 local ports and 0 other hosts), "
                 "more than the 2 its datapath holds",
                 NULL);
    /* A second host costs f1 a member, whether or not it reports limits
     * itself. */
    expect_error(env, api_port_create,
                 "{'name': 'w3', 'network': 'wide', 'host': 'f2'}", 409,
                 "host", "on host \"f1\" (2 local ports and 1 other hosts)",
                 NULL);
    expect_error(env, api_port_create,
                 "{'name': 'w3', 'network': 'wide', 'host': 'f3'}", 409,
                 "host", "on host \"f1\"", NULL);
    /* Moving a port counts it once, where it goes. */
    expect_patch(env, api_port_patch, "w2", "{'host': 'f2'}", 200, NULL);
    expect_patch(env, api_port_patch, "w2", "{'host': 'f2'}", 200, NULL);
    expect_error(env, api_port_create,
                 "{'name': 'w3', 'network': 'wide', 'host': 'f2'}", 409,
                 "host", "on host \"f2\" (2 local ports and 1 other hosts)",
                 NULL);
    /* A host not registered yet is nobody's remote. */
    expect_ok(env, api_port_create,
              "{'name': 'w3', 'network': 'wide', 'host': 'ghost'}");

    /* An external VTEP is a member on every host of the networks it
     * joins: f1 and f2 (one port and one other host each) have room for
     * none, so it cannot join "wide"; it may join "narrow", whose one port
     * is on f3, which reports no limit, but then a port there on f1 (one
     * local port, one other host, the external VTEP) is refused. */
    expect_patch(env, api_port_patch, "w2", "{'host': 'f1'}", 200, NULL);
    expect_patch(env, api_port_patch, "w1", "{'host': 'f2'}", 200, NULL);
    expect_error(env, api_external_vtep_create,
                 "{'name': 'gw', 'address': '192.0.2.9', 'networks': "
                 "['wide']}",
                 409, "networks",
                 "network \"wide\" would have 3 flood list members on host",
                 "(1 local ports and 1 other hosts, plus 1 external VTEPs), "
                 "more than the 2 its datapath holds",
                 NULL);
    expect_ok(env, api_network_create,
              "{'name': 'narrow', 'cidr': '10.1.0.0/24'}");
    expect_ok(env, api_port_create,
              "{'name': 'n1', 'network': 'narrow', 'host': 'f3'}");
    expect_ok(env, api_external_vtep_create,
              "{'name': 'gw', 'address': '192.0.2.9', 'networks': "
              "['narrow']}");
    expect_error(env, api_port_create,
                 "{'name': 'n2', 'network': 'narrow', 'host': 'f1'}", 409,
                 "host",
                 "on host \"f1\" (1 local ports and 1 other hosts, plus 1 "
                 "external VTEPs)",
                 NULL);
    expect_patch(env, api_external_vtep_patch, "gw",
                 "{'networks': ['narrow', 'wide']}", 409,
                 "would have 3 flood list members");
    /* Without the external VTEP, the port fits. */
    assert_int_equal(api_external_vtep_delete(&env->api, "gw", NULL, -1, &err),
                     204);
    expect_ok(env, api_port_create,
              "{'name': 'n2', 'network': 'narrow', 'host': 'f1'}");
}

/* Sends a heartbeat of host 'host' that reports a "flood_members" limit
 * of 'limit'. */
static void
heartbeat_limit(struct fixture_env *env, const char *host, int limit)
{
    json_t *in = json_pack("{s{si}}", "limits", "flood_members", limit);
    struct api_error err = {0};

    assert_int_equal(fixture_heartbeat(env, host, in, &err), 200);
    json_decref(in);
}

/* Registers again a host that is registered: 200. */
static void
reregister(struct fixture_env *env, const char *text)
{
    struct api_error err = {0};
    int status = try_create(env, api_host_register, text, NULL, &err);

    if (status != 200) {
        fail_msg("%s: expected 200, got %d (%s)", text, status,
                 err.message ? err.message : "");
    }
}

/* Appends what 'format' makes to '*s', a string from xasprintf(). */
static void __attribute__((format(printf, 2, 3)))
str_append(char **s, const char *format, ...)
{
    va_list args;
    char *more, *both;

    va_start(args, format);
    assert_true(vasprintf(&more, format, args) >= 0);
    va_end(args);
    both = xasprintf("%s%s", *s, more);
    free(more);
    free(*s);
    *s = both;
}

static int
names_cb(const struct store_obj *obj, void *names)
{
    json_array_append_new(names, json_string(obj->name));
    return 0;
}

/* Lists network 'network''s flood index as text: "registered=K" and then,
 * tightest first, "HOST:PORTS/LIMIT" for each registered host with ports
 * and a limit, then "HOST=PORTS" for every host with ports, by name. */
struct flood_text {
    const char *prefix; /* "NETWORK/". */
    char *out;          /* What was listed so far. */
};

static int
flood_text_cb(const struct store_obj *obj, void *ft_)
{
    struct flood_text *ft = ft_;
    size_t len = strlen(ft->prefix);
    const char *rest = obj->name + len;
    const json_t *ports = json_object_get(obj->body, "ports");

    if (strncmp(obj->name, ft->prefix, len)) {
        return STORE_STOP;
    }
    if (!strcmp(obj->kind, "flood-slack")) {
        str_append(&ft->out,
                   " %s:%" JSON_INTEGER_FORMAT "/%" JSON_INTEGER_FORMAT,
                   strchr(rest, '/') + 1, json_integer_value(ports),
                   json_integer_value(json_object_get(obj->body, "limit")));
    } else {
        str_append(&ft->out, " %s=%" JSON_INTEGER_FORMAT, rest,
                   json_integer_value(ports));
    }
    return 0;
}

/* Asserts that network 'network''s flood index is 'want' (see
 * flood_text_cb()), or "none". */
static void
expect_flood_index(struct fixture_env *env, const char *network,
                   const char *want)
{
    struct flood_text ft = {.prefix = xasprintf("%s/", network)};
    struct store_txn *txn;
    struct store_obj obj;

    assert_int_equal(store_begin(env->store, false, &txn), 0);
    if (store_get(txn, "net-hosts", network, &obj)) {
        ft.out = xstrdup("none");
    } else {
        ft.out = json_dumps(obj.body, JSON_COMPACT);
        store_obj_clear(&obj);
    }
    assert_int_equal(
        store_list(txn, "flood-slack", ft.prefix, 0, flood_text_cb, &ft), 0);
    assert_int_equal(
        store_list(txn, "net-host", ft.prefix, 0, flood_text_cb, &ft), 0);
    store_abort(txn);
    if (strcmp(ft.out, want)) {
        fail_msg("network %s: flood index %s, expected %s", network, ft.out,
                 want);
    }
    free(ft.out);
    free((char *) ft.prefix);
}

/* Deletes network 'network''s flood index, as a store from before it has
 * none, and writes 'old' (if not NULL) as the "net-hosts" summary that
 * came before it. */
static void
flood_index_forget(struct fixture_env *env, const char *network,
                   const char *old)
{
    static const char *const kinds[] = {"net-hosts", "net-host",
                                        "flood-slack"};
    struct store_txn *txn;

    assert_int_equal(store_begin(env->store, true, &txn), 0);
    for (size_t i = 0; i < ARRAY_SIZE(kinds); i++) {
        json_t *names = json_array(), *name;
        size_t j;

        assert_int_equal(store_list(txn, kinds[i], NULL, 0, names_cb, names),
                         0);
        json_array_foreach(names, j, name)
        {
            const char *s = json_string_value(name);

            if (!strcmp(s, network)
                || (!strncmp(s, network, strlen(network))
                    && s[strlen(network)] == '/')) {
                assert_int_equal(store_delete(txn, kinds[i], s, STORE_ANY), 0);
            }
        }
        json_decref(names);
    }
    if (old) {
        json_t *body = fixture_json(old);

        assert_int_equal(
            store_put(txn, "net-hosts", network, body, STORE_ANY, NULL), 0);
        json_decref(body);
    }
    assert_int_equal(store_commit(txn, NULL), 0);
}

/* Flood lists are checked against a per-network index of where its ports
 * are placed, kept through creations, moves and deletions; a network made
 * before the index, with the older summary of every host or with none, is
 * indexed at its next placement or removal; deleting the network deletes
 * it. */
static void
test_flood_index(void **state)
{
    struct fixture_env *env = *state;
    struct api_error err = {0};

    flood_setup(env);
    expect_ok(env, api_port_create,
              "{'name': 'w1', 'network': 'wide', 'host': 'f1'}");
    expect_ok(env, api_port_create,
              "{'name': 'w2', 'network': 'wide', 'host': 'f1'}");
    expect_ok(env, api_port_create, "{'name': 'w0', 'network': 'wide'}");
    expect_flood_index(env, "wide", "{\"registered\":1} f1:2/2 f1=2");
    assert_int_equal(api_port_delete(&env->api, "w2", NULL, STORE_ANY, &err),
                     204);
    expect_flood_index(env, "wide", "{\"registered\":1} f1:1/2 f1=1");
    expect_ok(env, api_port_create,
              "{'name': 'w3', 'network': 'wide', 'host': 'f2'}");
    expect_flood_index(env, "wide",
                       "{\"registered\":2} f1:1/2 f2:1/2 f1=1 f2=1");
    expect_error(env, api_port_create,
                 "{'name': 'w4', 'network': 'wide', 'host': 'f2'}", 409,
                 "host", "on host \"f2\" (2 local ports and 1 other hosts)",
                 NULL);
    expect_patch(env, api_port_patch, "w3", "{'host': 'f1'}", 200, NULL);
    expect_flood_index(env, "wide", "{\"registered\":1} f1:2/2 f1=2");
    /* f2 itself would hold it; f1 would not. */
    expect_error(env, api_port_create,
                 "{'name': 'w4', 'network': 'wide', 'host': 'f2'}", 409,
                 "host", "on host \"f1\" (2 local ports and 1 other hosts)",
                 NULL);
    /* A host that is not registered is counted, but not as a member. */
    expect_patch(env, api_port_patch, "w0", "{'host': 'ghost'}", 200, NULL);
    expect_flood_index(env, "wide", "{\"registered\":1} f1:2/2 f1=2 ghost=1");
    expect_patch(env, api_port_patch, "w0", "{'host': null}", 200, NULL);
    expect_flood_index(env, "wide", "{\"registered\":1} f1:2/2 f1=2");

    /* A store from before any summary: counted from the ports, also when
     * the placement is refused; the index is kept from the next write. */
    flood_index_forget(env, "wide", NULL);
    expect_error(env, api_port_create,
                 "{'name': 'w4', 'network': 'wide', 'host': 'f2'}", 409,
                 "host", "on host \"f1\" (2 local ports and 1 other hosts)",
                 NULL);
    expect_flood_index(env, "wide", "none");
    assert_int_equal(api_port_delete(&env->api, "w3", NULL, STORE_ANY, &err),
                     204);
    expect_flood_index(env, "wide", "{\"registered\":1} f1:1/2 f1=1");
    expect_ok(env, api_port_create,
              "{'name': 'w4', 'network': 'wide', 'host': 'f2'}");
    expect_flood_index(env, "wide",
                       "{\"registered\":2} f1:1/2 f2:1/2 f1=1 f2=1");

    /* A store with the older summary {"hosts": {H: n}}: read once, then
     * the index. */
    flood_index_forget(env, "wide", "{'hosts': {'f1': 1, 'f2': 1}}");
    expect_error(env, api_port_create,
                 "{'name': 'w5', 'network': 'wide', 'host': 'f2'}", 409,
                 "host", "on host \"f2\" (2 local ports and 1 other hosts)",
                 NULL);
    expect_flood_index(env, "wide", "{\"hosts\":{\"f1\":1,\"f2\":1}}");
    reregister(env, "{'name': 'f2', 'vtep': '192.0.2.2', 'underlay': 'eth0', "
                    "'limits': {'flood_members': 5}}");
    expect_ok(env, api_port_create,
              "{'name': 'w5', 'network': 'wide', 'host': 'f2'}");
    expect_flood_index(env, "wide",
                       "{\"registered\":2} f1:1/2 f2:2/5 f1=1 f2=2");
    flood_index_forget(env, "wide", "{'hosts': {'f1': 1, 'f2': 2}}");
    assert_int_equal(api_port_delete(&env->api, "w5", NULL, STORE_ANY, &err),
                     204);
    expect_flood_index(env, "wide",
                       "{\"registered\":2} f1:1/2 f2:1/5 f1=1 f2=1");

    /* Gone with its network. */
    assert_int_equal(api_port_delete(&env->api, "w1", NULL, STORE_ANY, &err),
                     204);
    assert_int_equal(api_port_delete(&env->api, "w4", NULL, STORE_ANY, &err),
                     204);
    assert_int_equal(api_port_delete(&env->api, "w0", NULL, STORE_ANY, &err),
                     204);
    expect_flood_index(env, "wide", "{\"registered\":0}");
    assert_int_equal(
        api_network_delete(&env->api, "wide", NULL, STORE_ANY, &err), 204);
    expect_flood_index(env, "wide", "none");
    api_error_clear(&err);
}

/* A host's limit counts from the registration, heartbeat or report that
 * brings it, in every network it has ports of; a host that gets ports
 * before it registers becomes a member of their networks' flood lists
 * when it does. */
static void
test_flood_index_hosts(void **state)
{
    struct fixture_env *env = *state;
    struct api_error err = {0};

    flood_fill(env);
    expect_error(env, api_port_create,
                 "{'name': 'w3', 'network': 'wide', 'host': 'f3'}", 409,
                 "host", "on host \"f1\" (2 local ports and 1 other hosts)",
                 NULL);

    /* A heartbeat's new limit counts at once. */
    heartbeat_limit(env, "f1", 3);
    expect_flood_index(env, "wide", "{\"registered\":1} f1:2/3 f1=2");
    expect_ok(env, api_port_create,
              "{'name': 'w3', 'network': 'wide', 'host': 'f3'}");
    expect_flood_index(env, "wide", "{\"registered\":2} f1:2/3 f1=2 f3=1");
    heartbeat_limit(env, "f3", 2);
    expect_flood_index(env, "wide",
                       "{\"registered\":2} f1:2/3 f3:1/2 f1=2 f3=1");
    expect_error(env, api_port_create,
                 "{'name': 'w4', 'network': 'wide', 'host': 'f1'}", 409,
                 "host", "on host \"f1\" (3 local ports and 1 other hosts)",
                 NULL);
    /* A registration without limits has none known. */
    reregister(env, "{'name': 'f3', 'vtep': '192.0.2.3', 'underlay': 'eth0'}");
    expect_flood_index(env, "wide", "{\"registered\":2} f1:2/3 f1=2 f3=1");

    /* Ports on a host before it registers. */
    expect_ok(env, api_port_create,
              "{'name': 'l1', 'network': 'wide', 'host': 'late'}");
    expect_flood_index(env, "wide",
                       "{\"registered\":2} f1:2/3 f1=2 f3=1 late=1");
    expect_ok(env, api_host_register,
              "{'name': 'late', 'vtep': '192.0.2.9', 'underlay': 'eth0', "
              "'limits': {'flood_members': 1}}");
    expect_flood_index(env, "wide",
                       "{\"registered\":3} late:1/1 f1:2/3 f1=2 f3=1 late=1");
    expect_error(env, api_port_create,
                 "{'name': 'w4', 'network': 'wide', 'host': 'f3'}", 409,
                 "host", "on host \"late\" (1 local ports and 2 other hosts)",
                 NULL);
    assert_int_equal(api_port_delete(&env->api, "l1", NULL, STORE_ANY, &err),
                     204);
    assert_int_equal(api_host_delete(&env->api, "late", NULL, STORE_ANY, &err),
                     204);
    expect_flood_index(env, "wide", "{\"registered\":2} f1:2/3 f1=2 f3=1");
    expect_ok(env, api_port_create,
              "{'name': 'w4', 'network': 'wide', 'host': 'f3'}");
    api_error_clear(&err);
}

#define MANY_HOSTS 120

/* With many hosts in a network, the one closest to its limit refuses what
 * would overflow it, wherever the port goes, and external VTEPs count as
 * members too. */
static void
test_flood_many_hosts(void **state)
{
    struct fixture_env *env = *state;
    struct api_error err = {0};
    char *text, *want;

    expect_ok(env, api_network_create,
              "{'name': 'many', 'cidr': '10.1.0.0/16'}");
    for (int i = 0; i < MANY_HOSTS; i++) {
        text =
            xasprintf("{'name': 'h%03d', 'vtep': '192.0.%d.%d', "
                      "'underlay': 'eth0', 'limits': {'flood_members': %d}}",
                      i, 2 + i / 200, 1 + i % 200, MANY_HOSTS);
        expect_ok(env, api_host_register, text);
        free(text);
        text = xasprintf("{'name': 'p%03d', 'network': 'many', 'host': "
                         "'h%03d'}",
                         i, i);
        expect_ok(env, api_port_create, text);
        free(text);
    }
    /* Every host is at its limit: one local port, MANY_HOSTS - 1 others. */
    want = xasprintf("(2 local ports and %d other hosts)", MANY_HOSTS - 1);
    expect_error(env, api_port_create,
                 "{'name': 'x', 'network': 'many', 'host': 'h077'}", 409,
                 "host", want, NULL);
    free(want);

    /* h077 could take more, but the others could not take another
     * external VTEP. */
    heartbeat_limit(env, "h077", 1000);
    heartbeat_limit(env, "h042", 100);
    want = xasprintf("on host \"h042\" (1 local ports and %d other hosts)",
                     MANY_HOSTS - 1);
    expect_error(env, api_port_create,
                 "{'name': 'x', 'network': 'many', 'host': 'h077'}", 409,
                 "host", want, NULL);
    free(want);
    heartbeat_limit(env, "h042", 1000);
    expect_ok(env, api_port_create,
              "{'name': 'x', 'network': 'many', 'host': 'h077'}");
    want = xasprintf("on host \"h000\" (1 local ports and %d other hosts, "
                     "plus 1 external VTEPs)",
                     MANY_HOSTS - 1);
    expect_error(env, api_external_vtep_create,
                 "{'name': 'gw', 'address': '198.51.100.1', "
                 "'networks': ['many']}",
                 409, "networks", want, NULL);
    free(want);
    api_error_clear(&err);
}

#define FLOOD_THREADS 4
#define FLOOD_ROUNDS 40
#define FLOOD_HOSTS 5

/* A thread that creates and deletes ports on a few hosts of one network. */
struct flood_worker {
    struct fixture_env *env; /* Shared. */
    int id;                  /* 0..FLOOD_THREADS - 1. */
    int kept;                /* Ports left placed on the way out. */
};

static void *
flood_worker_main(void *w_)
{
    struct flood_worker *w = w_;

    for (int i = 0; i < FLOOD_ROUNDS; i++) {
        struct api_error err = {0};
        json_t *in, *out = NULL;
        char name[32];

        snprintf(name, sizeof name, "c%d-%d", w->id, i);
        in =
            json_pack("{ssssss}", "name", name, "network", "busy", "host", "");
        json_object_set_new(in, "host",
                            json_sprintf("b%d", (w->id + i) % FLOOD_HOSTS));
        if (api_port_create(&w->env->api, in, &out, &err) == 201) {
            w->kept++;
        }
        /* Every third port goes again, so that counts go down too. */
        if (out && i % 3 == 0
            && api_port_delete(&w->env->api, name, NULL, STORE_ANY, &err)
                   == 204) {
            w->kept--;
        }
        json_decref(in);
        json_decref(out);
        api_error_clear(&err);
    }
    return NULL;
}

/* Concurrent creations and deletions leave the flood index exactly what
 * the ports say. */
static void
test_flood_index_concurrent(void **state)
{
    struct fixture_env *env = *state;
    struct flood_worker w[FLOOD_THREADS];
    pthread_t threads[FLOOD_THREADS];
    int per_host[FLOOD_HOSTS] = {0}, kept = 0, registered = 0;
    char *want = xasprintf("{\"registered\":");

    expect_ok(env, api_network_create,
              "{'name': 'busy', 'cidr': '10.2.0.0/16'}");
    for (int i = 0; i < FLOOD_HOSTS - 1; i++) {
        char *text = xasprintf("{'name': 'b%d', 'vtep': '192.0.2.%d', "
                               "'underlay': 'eth0', 'limits': "
                               "{'flood_members': 1000}}",
                               i, 10 + i);

        expect_ok(env, api_host_register, text);
        free(text);
    }
    for (int i = 0; i < FLOOD_THREADS; i++) {
        w[i] = (struct flood_worker){.env = env, .id = i};
        assert_int_equal(
            pthread_create(&threads[i], NULL, flood_worker_main, &w[i]), 0);
    }
    for (int i = 0; i < FLOOD_THREADS; i++) {
        pthread_join(threads[i], NULL);
        kept += w[i].kept;
    }
    for (int t = 0; t < FLOOD_THREADS; t++) {
        for (int i = 0; i < FLOOD_ROUNDS; i++) {
            per_host[(t + i) % FLOOD_HOSTS] += i % 3 != 0;
            kept -= i % 3 != 0;
        }
    }
    assert_int_equal(kept, 0);
    for (int i = 0; i < FLOOD_HOSTS - 1; i++) {
        registered += per_host[i] > 0;
    }
    str_append(&want, "%d}", registered);
    /* Tightest first: most ports, then by name. */
    for (int n = FLOOD_ROUNDS * FLOOD_THREADS; n > 0; n--) {
        for (int i = 0; i < FLOOD_HOSTS - 1; i++) {
            if (per_host[i] == n) {
                str_append(&want, " b%d:%d/1000", i, n);
            }
        }
    }
    for (int i = 0; i < FLOOD_HOSTS; i++) {
        if (per_host[i]) {
            str_append(&want, " b%d=%d", i, per_host[i]);
        }
    }
    expect_flood_index(env, "busy", want);
    free(want);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        FIXTURE_ENV_TEST(test_network_validation),
        FIXTURE_ENV_TEST(test_network_defaults_and_vni),
        FIXTURE_ENV_TEST(test_network_patch),
        FIXTURE_ENV_TEST(test_network_dns_servers),
        FIXTURE_ENV_TEST(test_port_validation),
        FIXTURE_ENV_TEST(test_qos_validation),
        FIXTURE_ENV_TEST(test_qos_patch),
        FIXTURE_ENV_TEST(test_qos_references),
        FIXTURE_ENV_TEST(test_host_uplink_rate),
        FIXTURE_ENV_TEST(test_host_and_token_validation),
        FIXTURE_ENV_TEST(test_ipam),
        FIXTURE_ENV_TEST(test_mac),
        FIXTURE_ENV_TEST(test_external_vteps),
        FIXTURE_ENV_TEST(test_concurrent_creation),
        FIXTURE_ENV_TEST(test_devices_and_placement),
        FIXTURE_ENV_TEST(test_port_patch_labels),
        FIXTURE_ENV_TEST(test_port_list),
        FIXTURE_ENV_TEST(test_heartbeats_and_port_status),
        FIXTURE_ENV_TEST(test_host_limits),
        FIXTURE_ENV_TEST(test_host_flood_limits),
        FIXTURE_ENV_TEST(test_flood_index),
        FIXTURE_ENV_TEST(test_flood_index_hosts),
        FIXTURE_ENV_TEST(test_flood_many_hosts),
        FIXTURE_ENV_TEST(test_flood_index_concurrent),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
