/* The controller over real HTTP on 127.0.0.1: routing (404, 405), JSON
 * errors, the body limit, the Content-Type of bodies (415), tokens and roles,
 * versions under concurrent updates, pages, the desired-state long poll, the
 * audit trail, the operations endpoints, keep-alive and HTTPS. */
#include <pthread.h>
#include <regex.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <jansson.h>

#include "tests/controller/fixture.h"
#include "utils/util.h"

/* Asserts that 'r' is an error with 'status' and 'reason', in the shape of
 * doc/api.md. */
static void
expect_error(const struct reply *r, long status, const char *reason)
{
    json_t *error = json_object_get(r->json, "error");
    char *type = reply_header(r, "Content-Type");

    if (r->status != status) {
        fail_msg("expected %ld, got %ld: %s", status, r->status, r->body);
    }
    assert_non_null(type);
    assert_string_equal(type, "application/json");
    free(type);
    assert_non_null(error);
    assert_int_equal(json_integer_value(json_object_get(error, "status")),
                     status);
    assert_string_equal(reply_reason(r), reason);
    assert_true(strlen(reply_message(r)) > 0);
}

static void
test_routing_and_errors(void **state)
{
    struct fixture *f = *state;
    struct reply r;
    char *allow, *etag;

    fixture_call(f, "GET", "/v1/nothing", f->admin, NULL, NULL, &r);
    expect_error(&r, 404, "not-found");
    reply_clear(&r);
    fixture_call(f, "GET", "/v1/networks/blue", f->admin, NULL, NULL, &r);
    expect_error(&r, 404, "not-found");
    assert_non_null(strstr(reply_message(&r), "network \"blue\""));
    reply_clear(&r);
    fixture_call(f, "GET", "/v1/networks/", f->admin, NULL, NULL, &r);
    expect_error(&r, 404, "not-found");
    reply_clear(&r);

    fixture_call(f, "PUT", "/v1/networks", f->admin, "{}", NULL, &r);
    expect_error(&r, 405, "method-not-allowed");
    allow = reply_header(&r, "Allow");
    assert_non_null(allow);
    assert_non_null(strstr(allow, "GET"));
    assert_non_null(strstr(allow, "POST"));
    free(allow);
    reply_clear(&r);
    fixture_call(f, "POST", "/v1/networks/blue", f->admin, "{}", NULL, &r);
    expect_error(&r, 405, "method-not-allowed");
    reply_clear(&r);

    fixture_call(f, "POST", "/v1/networks", f->admin, "{\"name\": ", NULL, &r);
    expect_error(&r, 400, "invalid");
    assert_non_null(strstr(reply_message(&r), "malformed JSON"));
    reply_clear(&r);
    /* jansson's error quotes the body near the error, here a line break
     * after a backslash; the message, which the audit log writes as a log
     * line too, stays one line. */
    fixture_call(f, "POST", "/v1/networks", f->admin,
                 "{\"name\": \"a\\\nforged log line\"}", NULL, &r);
    expect_error(&r, 400, "invalid");
    assert_non_null(strstr(reply_message(&r), "malformed JSON"));
    assert_null(strpbrk(reply_message(&r), "\n\r"));
    assert_non_null(strstr(reply_message(&r), "\\n"));
    reply_clear(&r);
    fixture_call(
        f, "POST", "/v1/networks", f->admin,
        "{\"name\": \"a\", \"name\": \"b\", \"cidr\": \"10.0.0.0/24\"}", NULL,
        &r);
    expect_error(&r, 400, "invalid");
    reply_clear(&r);
    fixture_call(f, "POST", "/v1/networks", f->admin, NULL, NULL, &r);
    expect_error(&r, 400, "invalid");
    reply_clear(&r);
    fixture_call(f, "POST", "/v1/networks", f->admin,
                 "{\"name\": \"blue\", \"cidr\": \"10.0.0.0/33\"}", NULL, &r);
    expect_error(&r, 400, "invalid");
    assert_string_equal(reply_field(&r), "cidr");
    assert_string_equal(
        reply_message(&r),
        "network \"blue\": cidr \"10.0.0.0/33\": prefix length must be 0..32");
    reply_clear(&r);

    /* Created objects carry their version as an ETag. */
    fixture_call(f, "POST", "/v1/networks", f->admin,
                 "{\"name\": \"blue\", \"cidr\": \"10.0.0.0/24\"}", NULL, &r);
    assert_int_equal(r.status, 201);
    etag = reply_header(&r, "ETag");
    assert_string_equal(etag, "\"1\"");
    free(etag);
    reply_clear(&r);
    fixture_call(f, "POST", "/v1/networks", f->admin,
                 "{\"name\": \"blue\", \"cidr\": \"10.1.0.0/24\"}", NULL, &r);
    expect_error(&r, 409, "conflict");
    reply_clear(&r);
    fixture_call(f, "PATCH", "/v1/networks/blue", f->admin, "{\"mtu\": 1500}",
                 "If-Match: soon", &r);
    expect_error(&r, 400, "invalid");
    assert_string_equal(reply_field(&r), "If-Match");
    reply_clear(&r);
    fixture_expect(f, "PATCH", "/v1/networks/blue", f->admin,
                   "{\"mtu\": 1500}", 200, NULL);
    fixture_call(f, "PATCH", "/v1/networks/blue", f->admin, "{\"mtu\": 1400}",
                 "If-Match: \"1\"", &r);
    expect_error(&r, 409, "conflict");
    reply_clear(&r);
    fixture_expect(f, "PATCH", "/v1/networks/blue", f->admin,
                   "{\"mtu\": 1400, \"version\": 2}", 200, NULL);

    /* Deleting a network that has ports: 409, nothing lost. */
    fixture_expect(f, "POST", "/v1/ports", f->admin,
                   "{\"name\": \"p1\", \"network\": \"blue\"}", 201, NULL);
    fixture_call(f, "DELETE", "/v1/networks/blue", f->admin, NULL, NULL, &r);
    expect_error(&r, 409, "conflict");
    assert_non_null(strstr(reply_message(&r), "p1"));
    reply_clear(&r);
    fixture_expect(f, "DELETE", "/v1/ports/p1", f->admin, NULL, 204, NULL);
    fixture_expect(f, "DELETE", "/v1/networks/blue", f->admin,
                   "{\"version\": 3}", 204, NULL);
    fixture_expect(f, "GET", "/v1/networks/blue", f->admin, NULL, 404, NULL);
}

static void
test_body_limit(void **state)
{
    struct fixture *f = *state;
    size_t len = 2 * 1024 * 1024;
    char *big = xmalloc(len + 1);
    struct reply r;

    memset(big, ' ', len);
    big[0] = '{';
    big[len - 1] = '}';
    big[len] = '\0';
    /* The answer comes before the body is read: a client that asks first
     * (as curl does for large bodies) never sends it. */
    fixture_call_new(f, "POST", "/v1/networks", f->admin, big,
                     "Expect: 100-continue", &r);
    expect_error(&r, 413, "too-large");
    reply_clear(&r);
    /* Without a length up front, the limit still holds. */
    fixture_call_new(f, "POST", "/v1/networks", f->admin, big,
                     "Transfer-Encoding: chunked", &r);
    expect_error(&r, 413, "too-large");
    reply_clear(&r);
    /* Just under the limit is read, and judged on its content. */
    big[1024 * 1024 - 1] = '}';
    big[1024 * 1024] = '\0';
    fixture_call_new(f, "POST", "/v1/networks", f->admin, big, NULL, &r);
    expect_error(&r, 400, "invalid");
    reply_clear(&r);
    free(big);
    fixture_expect(f, "GET", "/healthz", NULL, NULL, 200, NULL);
}

/* A body must say it is JSON: a form, text or another charset is refused
 * with 415 before it is parsed, and nothing is created. */
static void
test_content_type(void **state)
{
    static const char *const refused[] = {
        "Content-Type: text/plain",
        "Content-Type: application/x-www-form-urlencoded",
        "Content-Type: application/jsonp",
        "Content-Type: application/json; charset=latin1",
        "Content-Type: application/json; charset=utf-88",
        "Content-Type: application/json, text/plain",
        "Content-Type:",
    };
    static const char *const accepted[] = {
        "Content-Type: application/json; charset=utf-8",
        "Content-Type: Application/JSON;charset=\"UTF-8\"",
        "Content-Type: application/merge-patch+json",
    };
    static const char body[] = "{\"name\": \"blue\", \"cidr\": "
                               "\"10.0.0.0/24\"}";
    struct fixture *f = *state;
    struct reply r;

    for (size_t i = 0; i < ARRAY_SIZE(refused); i++) {
        fixture_call(f, "POST", "/v1/networks", f->admin, body, refused[i],
                     &r);
        expect_error(&r, 415, "unsupported-media-type");
        assert_string_equal(reply_field(&r), "Content-Type");
        assert_non_null(strstr(reply_message(&r), "application/json"));
        reply_clear(&r);
        fixture_expect(f, "GET", "/v1/networks/blue", f->admin, NULL, 404,
                       NULL);
    }
    /* The same for every kind of request that carries a body. */
    fixture_expect(f, "POST", "/v1/networks", f->admin, body, 201, NULL);
    fixture_call(f, "PATCH", "/v1/networks/blue", f->admin, "{\"mtu\": 1400}",
                 "Content-Type: text/plain", &r);
    expect_error(&r, 415, "unsupported-media-type");
    reply_clear(&r);
    fixture_call(f, "DELETE", "/v1/networks/blue", f->admin,
                 "{\"version\": 1}", "Content-Type: text/plain", &r);
    expect_error(&r, 415, "unsupported-media-type");
    reply_clear(&r);
    fixture_expect(f, "POST", "/v1/hosts", f->admin,
                   "{\"name\": \"h1\", \"vtep\": \"192.0.2.1\", "
                   "\"underlay\": \"eth0\"}",
                   201, NULL);
    fixture_call(f, "PUT", "/v1/hosts/h1/rule-hits", f->admin,
                 "{\"hits\": {}}", "Content-Type: text/plain", &r);
    expect_error(&r, 415, "unsupported-media-type");
    reply_clear(&r);
    fixture_call(f, "GET", "/v1/networks/blue", f->admin, NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(json_integer_value(json_object_get(r.json, "mtu")), 1450);
    reply_clear(&r);
    fixture_expect(f, "DELETE", "/v1/networks/blue", f->admin, NULL, 204,
                   NULL);

    for (size_t i = 0; i < ARRAY_SIZE(accepted); i++) {
        fixture_call(f, "POST", "/v1/networks", f->admin, body, accepted[i],
                     &r);
        assert_int_equal(r.status, 201);
        reply_clear(&r);
        fixture_expect(f, "DELETE", "/v1/networks/blue", f->admin, NULL, 204,
                       NULL);
    }
}

/* Expects port 'name' to be pending with a status_reason matching
 * 'reason'. */
static void
expect_pending(struct fixture *f, const char *name, const char *reason)
{
    char *path = xasprintf("/v1/ports/%s", name);
    struct reply r;

    fixture_call(f, "GET", path, f->admin, NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(json_string_value(json_object_get(r.json, "status")),
                        "pending");
    assert_non_null(json_object_get(r.json, "status_reason"));
    assert_string_equal(
        json_string_value(json_object_get(r.json, "status_reason")), reason);
    reply_clear(&r);
    free(path);
}

/* A port placed on a host that is not registered waits for it, and says
 * so; a missing network has no port list. */
static void
test_port_waits_for_host(void **state)
{
    struct fixture *f = *state;
    struct reply r;

    fixture_expect(f, "POST", "/v1/networks", f->admin,
                   "{\"name\": \"blue\", \"cidr\": \"10.0.0.0/24\"}", 201,
                   NULL);
    fixture_expect(f, "POST", "/v1/ports", f->admin,
                   "{\"name\": \"p1\", \"network\": \"blue\", "
                   "\"host\": \"hots-1\"}",
                   201, NULL);
    expect_pending(f, "p1",
                   "host \"hots-1\" is not registered: the port "
                   "waits for it");
    fixture_expect(f, "POST", "/v1/hosts", f->admin,
                   "{\"name\": \"hots-1\", \"vtep\": \"192.0.2.1\", "
                   "\"underlay\": \"eth0\"}",
                   201, NULL);
    expect_pending(f, "p1",
                   "the agent of host \"hots-1\" has not reported it yet");
    fixture_expect(f, "PATCH", "/v1/ports/p1", f->admin, "{\"host\": null}",
                   200, NULL);
    expect_pending(f, "p1", "not placed on a host");
    fixture_expect(f, "PUT", "/v1/hosts/hots-1/port-status", f->admin,
                   "{\"ports\": {}}", 204, NULL);

    /* A port that is up has no reason to give. */
    fixture_expect(f, "PATCH", "/v1/ports/p1", f->admin,
                   "{\"host\": \"hots-1\"}", 200, NULL);
    fixture_expect(f, "PUT", "/v1/hosts/hots-1/port-status", f->admin,
                   "{\"ports\": {\"p1\": \"up\"}}", 204, NULL);
    fixture_call(f, "GET", "/v1/ports/p1", f->admin, NULL, NULL, &r);
    assert_string_equal(json_string_value(json_object_get(r.json, "status")),
                        "up");
    assert_null(json_object_get(r.json, "status_reason"));
    reply_clear(&r);

    fixture_call(f, "GET", "/v1/ports?network=bleu", f->admin, NULL, NULL, &r);
    expect_error(&r, 404, "not-found");
    assert_string_equal(reply_field(&r), "network");
    assert_string_equal(reply_message(&r),
                        "listing ports: network \"bleu\": not found");
    reply_clear(&r);
    fixture_call(f, "GET", "/v1/ports?network=blue", f->admin, NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(json_array_size(json_object_get(r.json, "items")), 1);
    reply_clear(&r);
}

/* Registers host h1 with agent URL 'url' as 'token' into 'r'. */
static long
register_with_url(struct fixture *f, const char *token, const char *url,
                  struct reply *r)
{
    char *body =
        xasprintf("{\"name\": \"h1\", \"vtep\": \"192.0.2.1\", \"underlay\": "
                  "\"eth0\", \"agent_url\": \"%s\", \"agent_token\": "
                  "\"0123456789abcdef0123456789abcdef0123456789abcdef012345678"
                  "9abcdef\"}",
                  url);
    long status = fixture_call(f, "POST", "/v1/hosts", token, body, NULL, r);

    free(body);
    return status;
}

/* The controller calls an agent's agent_url for traces: an agent may
 * only give its own address there, the one it connects from, and no host
 * name; an admin may give any. */
static void
test_agent_url_scope(void **state)
{
    static const char *const refused[] = {
        "http://192.0.2.9:9471",   "http://10.0.0.1",
        "http://localhost:9471",   "http://127.0.0.1.nip.io:80",
        "http://127.0.0.1@x:9471", "https://[::1]:9471",
        "http://127.0.0.2:9471",   "http://127.0.0.10:9471",
    };
    static const char *const accepted[] = {
        "http://127.0.0.1:9471",
        "https://127.0.0.1",
        "http://127.0.0.1/agent",
    };
    struct fixture *f = *state;
    char *agent = fixture_token(f, "agent-h1", "agent", "h1");
    struct reply r;

    for (size_t i = 0; i < ARRAY_SIZE(refused); i++) {
        register_with_url(f, agent, refused[i], &r);
        if (r.status != 403 || strcmp(reply_field(&r), "agent_url")) {
            fail_msg("%s: expected 403 on agent_url, got %ld: %s", refused[i],
                     r.status, r.body);
        }
        assert_non_null(strstr(reply_message(&r), "127.0.0.1"));
        reply_clear(&r);
        fixture_expect(f, "GET", "/v1/hosts/h1", f->admin, NULL, 404, NULL);
    }
    for (size_t i = 0; i < ARRAY_SIZE(accepted); i++) {
        register_with_url(f, agent, accepted[i], &r);
        if (r.status != 201 && r.status != 200) {
            fail_msg("%s: expected 201 or 200, got %ld: %s", accepted[i],
                     r.status, r.body);
        }
        reply_clear(&r);
    }
    /* An admin registers what it is told. */
    fixture_expect(f, "DELETE", "/v1/hosts/h1", f->admin, NULL, 204, NULL);
    assert_int_equal(
        register_with_url(f, f->admin, "http://192.0.2.2:9471", &r), 201);
    reply_clear(&r);
    free(agent);
}

static void
test_auth(void **state)
{
    struct fixture *f = *state;
    char *viewer = fixture_token(f, "ops", "viewer", NULL);
    char *agent = fixture_token(f, "agent-h1", "agent", "h1");
    struct reply r;
    char *www;

    fixture_call(f, "GET", "/v1/networks", NULL, NULL, NULL, &r);
    expect_error(&r, 401, "unauthenticated");
    www = reply_header(&r, "WWW-Authenticate");
    assert_non_null(www);
    free(www);
    reply_clear(&r);
    fixture_call(f, "GET", "/v1/networks", "not-a-token", NULL, NULL, &r);
    expect_error(&r, 401, "unauthenticated");
    reply_clear(&r);
    fixture_call(f, "GET", "/v1/networks", NULL, NULL,
                 "Authorization: Basic YWRtaW46YWRtaW4=", &r);
    expect_error(&r, 401, "unauthenticated");
    reply_clear(&r);

    /* Viewers read everything but tokens, and change nothing. */
    fixture_expect(f, "GET", "/v1/networks", viewer, NULL, 200, NULL);
    fixture_expect(f, "GET", "/v1/status", viewer, NULL, 200, NULL);
    fixture_expect(f, "GET", "/v1/audit", viewer, NULL, 200, NULL);
    fixture_call(f, "POST", "/v1/networks", viewer,
                 "{\"name\": \"blue\", \"cidr\": \"10.0.0.0/24\"}", NULL, &r);
    expect_error(&r, 403, "forbidden");
    assert_non_null(strstr(reply_message(&r), "ops"));
    reply_clear(&r);
    fixture_expect(f, "GET", "/v1/tokens", viewer, NULL, 403, NULL);
    fixture_expect(f, "POST", "/v1/tokens", viewer,
                   "{\"name\": \"me\", \"role\": \"admin\"}", 403, NULL);

    /* An agent speaks for its own host only. */
    fixture_expect(
        f, "POST", "/v1/hosts", agent,
        "{\"name\": \"h1\", \"vtep\": \"192.0.2.1\", \"underlay\": \"eth0\"}",
        201, NULL);
    fixture_expect(
        f, "POST", "/v1/hosts", agent,
        "{\"name\": \"h2\", \"vtep\": \"192.0.2.2\", \"underlay\": \"eth0\"}",
        403, NULL);
    fixture_expect(
        f, "POST", "/v1/hosts", f->admin,
        "{\"name\": \"h2\", \"vtep\": \"192.0.2.2\", \"underlay\": \"eth0\"}",
        201, NULL);
    fixture_expect(f, "GET", "/v1/hosts/h1/desired-state", agent, NULL, 200,
                   NULL);
    fixture_expect(f, "GET", "/v1/hosts/h2/desired-state", agent, NULL, 403,
                   NULL);
    fixture_expect(f, "GET", "/v1/hosts/h2/desired-state", viewer, NULL, 200,
                   NULL);
    fixture_expect(f, "POST", "/v1/hosts/h1/heartbeat", agent, NULL, 200,
                   NULL);
    fixture_expect(f, "POST", "/v1/hosts/h2/heartbeat", agent, NULL, 403,
                   NULL);
    fixture_expect(f, "POST", "/v1/hosts/h1/heartbeat", viewer, NULL, 403,
                   NULL);
    fixture_expect(f, "PUT", "/v1/hosts/h1/port-status", agent,
                   "{\"ports\": {}}", 204, NULL);
    fixture_expect(f, "PUT", "/v1/hosts/h2/port-status", agent,
                   "{\"ports\": {}}", 403, NULL);
    fixture_expect(f, "GET", "/v1/networks", agent, NULL, 403, NULL);
    fixture_expect(f, "GET", "/v1/hosts/h1", agent, NULL, 403, NULL);
    fixture_expect(f, "PATCH", "/v1/hosts/h1", agent,
                   "{\"underlay\": \"eth1\"}", 403, NULL);

    /* Tokens are listed without secrets, and a deleted one is dead. */
    fixture_call(f, "GET", "/v1/tokens", f->admin, NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(json_array_size(json_object_get(r.json, "items")), 3);
    assert_null(strstr(r.body, viewer));
    assert_null(strstr(r.body, "hash"));
    reply_clear(&r);
    fixture_expect(f, "DELETE", "/v1/tokens/ops", f->admin, NULL, 204, NULL);
    fixture_expect(f, "GET", "/v1/networks", viewer, NULL, 401, NULL);
    fixture_call(f, "DELETE", "/v1/tokens/admin", f->admin, NULL, NULL, &r);
    expect_error(&r, 409, "conflict");
    assert_non_null(strstr(reply_message(&r), "last admin token"));
    reply_clear(&r);

    /* The operations endpoints need no token. */
    fixture_expect(f, "GET", "/healthz", NULL, NULL, 200, NULL);
    fixture_expect(f, "GET", "/readyz", NULL, NULL, 200, NULL);
    fixture_expect(f, "GET", "/metrics", NULL, NULL, 200, NULL);
    fixture_expect(f, "GET", "/v1/openapi.json", NULL, NULL, 401, NULL);
    free(viewer);
    free(agent);
}

/* One of two concurrent updates. */
struct updater {
    struct fixture *f; /* Where. */
    const char *body;  /* The change. */
    long status;       /* Its answer. */
};

static void *
updater_main(void *u_)
{
    struct updater *u = u_;
    struct reply r;

    u->status = fixture_call_new(u->f, "PATCH", "/v1/networks/blue",
                                 u->f->admin, u->body, "If-Match: \"1\"", &r);
    reply_clear(&r);
    return NULL;
}

static void
test_optimistic_concurrency(void **state)
{
    struct fixture *f = *state;

    fixture_expect(f, "POST", "/v1/networks", f->admin,
                   "{\"name\": \"blue\", \"cidr\": \"10.0.0.0/24\"}", 201,
                   NULL);
    /* Two clients read version 1 and both try to change it: exactly one
     * wins, the other learns that it is stale. */
    for (int round = 0; round < 5; round++) {
        struct updater u[2] = {
            {f, "{\"mtu\": 1400}", 0},
            {f, "{\"mtu\": 1500}", 0},
        };
        pthread_t t[2];

        for (int i = 0; i < 2; i++) {
            pthread_create(&t[i], NULL, updater_main, &u[i]);
        }
        for (int i = 0; i < 2; i++) {
            pthread_join(t[i], NULL);
        }
        assert_true((u[0].status == 200 && u[1].status == 409)
                    || (u[0].status == 409 && u[1].status == 200));
        /* Start the next round from version 1 again. */
        fixture_expect(f, "DELETE", "/v1/networks/blue", f->admin, NULL, 204,
                       NULL);
        fixture_expect(f, "POST", "/v1/networks", f->admin,
                       "{\"name\": \"blue\", \"cidr\": \"10.0.0.0/24\"}", 201,
                       NULL);
    }
}

static void
test_pagination(void **state)
{
    struct fixture *f = *state;
    char *token = NULL;
    size_t seen = 0;
    int pages = 0;

    for (int i = 0; i < 25; i++) {
        char *body = xasprintf(
            "{\"name\": \"net-%02d\", \"cidr\": \"10.%d.0.0/16\"}", i, i + 1);

        fixture_expect(f, "POST", "/v1/networks", f->admin, body, 201, NULL);
        free(body);
    }
    do {
        char *path =
            token ? xasprintf("/v1/networks?limit=10&page_token=%s", token)
                  : xstrdup("/v1/networks?limit=10");
        const json_t *next;
        struct reply r;
        json_t *items;

        assert_int_equal(
            fixture_call(f, "GET", path, f->admin, NULL, NULL, &r), 200);
        items = json_object_get(r.json, "items");
        /* In name order, continuing where the last page stopped. */
        for (size_t i = 0; i < json_array_size(items); i++) {
            char name[16];

            snprintf(name, sizeof name, "net-%02zu", seen++);
            assert_string_equal(json_string_value(json_object_get(
                                    json_array_get(items, i), "name")),
                                name);
        }
        assert_int_equal(json_array_size(items), pages < 2 ? 10 : 5);
        next = json_object_get(r.json, "next_page_token");
        free(token);
        token = next ? xstrdup(json_string_value(next)) : NULL;
        pages++;
        reply_clear(&r);
        free(path);
    } while (token);
    assert_int_equal(pages, 3);
    assert_int_equal(seen, 25);
    fixture_expect(f, "GET", "/v1/networks?limit=0", f->admin, NULL, 400,
                   NULL);
    fixture_expect(f, "GET", "/v1/networks?limit=1001", f->admin, NULL, 400,
                   NULL);
    fixture_expect(f, "GET", "/v1/networks?colour=red", f->admin, NULL, 400,
                   NULL);
    fixture_expect(f, "GET", "/v1/ports?label=app%3Dweb&label=tier", f->admin,
                   NULL, 200, NULL);
}

/* Creates a port after a delay, during a long poll. */
struct later {
    struct fixture *f; /* Where. */
    const char *body;  /* The port. */
};

static void *
later_main(void *l_)
{
    struct later *l = l_;
    struct reply r;

    usleep(300 * 1000);
    fixture_call_new(l->f, "POST", "/v1/ports", l->f->admin, l->body, NULL,
                     &r);
    assert_int_equal(r.status, 201);
    reply_clear(&r);
    return NULL;
}

static void
test_desired_state(void **state)
{
    struct fixture *f = *state;
    char *agent = fixture_token(f, "agent-h1", "agent", "h1");
    struct later later = {
        f,
        "{\"name\": \"b\", \"network\": \"blue\", \"host\": \"h2\"}",
    };
    pthread_t thread;
    long long revision;
    struct reply r;
    char *path;

    fixture_expect(f, "POST", "/v1/networks", f->admin,
                   "{\"name\": \"blue\", \"cidr\": \"10.0.0.0/24\"}", 201,
                   NULL);
    fixture_expect(
        f, "POST", "/v1/hosts", f->admin,
        "{\"name\": \"h2\", \"vtep\": \"192.0.2.2\", \"underlay\": \"eth0\"}",
        201, NULL);
    fixture_expect(f, "GET", "/v1/hosts/h1/desired-state", agent, NULL, 404,
                   NULL);
    fixture_expect(
        f, "POST", "/v1/hosts", agent,
        "{\"name\": \"h1\", \"vtep\": \"192.0.2.1\", \"underlay\": \"eth0\"}",
        201, NULL);
    fixture_expect(
        f, "POST", "/v1/ports", f->admin,
        "{\"name\": \"a\", \"network\": \"blue\", \"host\": \"h1\"}", 201,
        NULL);

    assert_int_equal(fixture_call(f, "GET", "/v1/hosts/h1/desired-state",
                                  agent, NULL, NULL, &r),
                     200);
    assert_true(json_is_true(json_object_get(r.json, "full")));
    assert_int_equal(json_array_size(json_object_get(
                         json_object_get(r.json, "document"), "ports")),
                     1);
    revision = json_integer_value(json_object_get(r.json, "revision"));
    reply_clear(&r);

    /* Nothing new within a second: 304, with an empty body. */
    path = xasprintf("/v1/hosts/h1/desired-state?since=%lld&wait=1", revision);
    assert_int_equal(fixture_call(f, "GET", path, agent, NULL, NULL, &r), 304);
    assert_int_equal(r.len, 0);
    reply_clear(&r);
    free(path);

    /* A port of h2 in blue becomes a remote of h1. */
    pthread_create(&thread, NULL, later_main, &later);
    path =
        xasprintf("/v1/hosts/h1/desired-state?since=%lld&wait=20", revision);
    assert_int_equal(fixture_call(f, "GET", path, agent, NULL, NULL, &r), 200);
    pthread_join(thread, NULL);
    assert_true(json_is_false(json_object_get(r.json, "full")));
    {
        json_t *change = json_array_get(json_object_get(r.json, "changes"), 0);

        assert_string_equal(json_string_value(json_object_get(change, "op")),
                            "set");
        assert_string_equal(json_string_value(json_object_get(change, "kind")),
                            "remote");
        assert_string_equal(json_string_value(json_object_get(
                                json_object_get(change, "object"), "vtep")),
                            "192.0.2.2");
    }
    assert_true(json_integer_value(json_object_get(r.json, "revision"))
                > revision);
    reply_clear(&r);
    free(path);
    fixture_expect(f, "GET", "/v1/hosts/h1/desired-state?wait=x", agent, NULL,
                   400, NULL);
    free(agent);
}

/* Waits until the audit trail's newest entry has 'status' and returns the
 * trail's first 'limit' entries. */
static json_t *
audit_until(struct fixture *f, int limit, long status)
{
    char *path = xasprintf("/v1/audit?limit=%d", limit);

    /* The trail is written after the answer, so allow it a moment. */
    for (int i = 0; i < 200; i++) {
        struct reply r;
        json_t *items;

        assert_int_equal(
            fixture_call(f, "GET", path, f->admin, NULL, NULL, &r), 200);
        items = json_incref(json_object_get(r.json, "items"));
        reply_clear(&r);
        if (json_integer_value(
                json_object_get(json_array_get(items, 0), "status"))
            == status) {
            free(path);
            return items;
        }
        json_decref(items);
        usleep(10 * 1000);
    }
    fail_msg("no audit entry with status %ld", status);
    return NULL;
}

static const char *
entry_string(const json_t *items, size_t i, const char *key)
{
    return json_string_value(json_object_get(json_array_get(items, i), key));
}

/* Waits until the most recently seen aggregate of refused requests counts
 * 'count' and returns the aggregates. */
static json_t *
refused_until(struct fixture *f, json_int_t count)
{
    for (int i = 0; i < 200; i++) {
        struct reply r;
        json_t *items;

        assert_int_equal(fixture_call(f, "GET", "/v1/audit/refused", f->admin,
                                      NULL, NULL, &r),
                         200);
        items = json_incref(json_object_get(r.json, "items"));
        reply_clear(&r);
        if (json_integer_value(
                json_object_get(json_array_get(items, 0), "count"))
            == count) {
            return items;
        }
        json_decref(items);
        usleep(10 * 1000);
    }
    fail_msg("no aggregate of refused requests counting %lld",
             (long long) count);
    return NULL;
}

/* QoS policies over HTTP: roles, versions, pagination, a 409 while in use
 * and the audit trail, the way networks have them. */
static void
test_qos_policies(void **state)
{
    struct fixture *f = *state;
    char *viewer = fixture_token(f, "ops", "viewer", NULL);
    struct reply r;
    json_t *items;
    char *etag;

    fixture_call(f, "POST", "/v1/qos-policies", f->admin,
                 "{\"name\": \"gold\", \"egress\": {\"rate\": 100000000}}",
                 NULL, &r);
    assert_int_equal(r.status, 201);
    etag = reply_header(&r, "ETag");
    assert_non_null(etag);
    assert_string_equal(etag, "\"1\"");
    free(etag);
    reply_clear(&r);
    fixture_expect(f, "POST", "/v1/qos-policies", f->admin,
                   "{\"name\": \"silver\", \"dscp\": 10}", 201, NULL);
    fixture_expect(f, "POST", "/v1/qos-policies", viewer, "{\"name\": \"x\"}",
                   403, NULL);
    fixture_expect(f, "GET", "/v1/qos-policies/gold", viewer, NULL, 200, NULL);
    fixture_expect(f, "GET", "/v1/qos-policies/nope", viewer, NULL, 404, NULL);

    fixture_call(f, "POST", "/v1/qos-policies", f->admin,
                 "{\"name\": \"x\", \"ingress\": {\"rate\": 1000, "
                 "\"min_rate\": 10}}",
                 NULL, &r);
    expect_error(&r, 400, "invalid");
    assert_string_equal(reply_field(&r), "ingress.min_rate");
    assert_non_null(strstr(reply_message(&r), "not supported yet"));
    reply_clear(&r);
    fixture_call(f, "POST", "/v1/qos-policies", f->admin,
                 "{\"name\": \"x\", \"egress\": {\"rate\": 1000, "
                 "\"min_rate\": 2000}}",
                 NULL, &r);
    expect_error(&r, 400, "invalid");
    assert_string_equal(reply_field(&r), "egress.min_rate");
    reply_clear(&r);

    assert_int_equal(fixture_call(f, "GET", "/v1/qos-policies?limit=1", viewer,
                                  NULL, NULL, &r),
                     200);
    assert_int_equal(json_array_size(json_object_get(r.json, "items")), 1);
    assert_string_equal(
        json_string_value(json_object_get(r.json, "next_page_token")), "gold");
    reply_clear(&r);

    fixture_call(f, "PATCH", "/v1/qos-policies/gold", f->admin,
                 "{\"dscp\": 46}", "If-Match: \"7\"", &r);
    expect_error(&r, 409, "conflict");
    reply_clear(&r);
    fixture_call(f, "PATCH", "/v1/qos-policies/gold", f->admin,
                 "{\"dscp\": 46}", "If-Match: \"1\"", &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(json_integer_value(json_object_get(r.json, "version")),
                     2);
    reply_clear(&r);

    fixture_expect(f, "POST", "/v1/networks", f->admin,
                   "{\"name\": \"blue\", \"cidr\": \"10.0.0.0/24\"}", 201,
                   NULL);
    fixture_call(f, "POST", "/v1/ports", f->admin,
                 "{\"name\": \"p1\", \"network\": \"blue\", \"qos\": "
                 "\"bronze\"}",
                 NULL, &r);
    expect_error(&r, 400, "invalid");
    assert_string_equal(reply_field(&r), "qos");
    reply_clear(&r);
    fixture_expect(f, "POST", "/v1/ports", f->admin,
                   "{\"name\": \"p1\", \"network\": \"blue\", \"qos\": "
                   "\"gold\"}",
                   201, NULL);
    fixture_call(f, "DELETE", "/v1/qos-policies/gold", f->admin, NULL, NULL,
                 &r);
    expect_error(&r, 409, "conflict");
    assert_non_null(strstr(reply_message(&r), "port \"p1\""));
    reply_clear(&r);
    fixture_expect(f, "PATCH", "/v1/ports/p1", f->admin, "{\"qos\": null}",
                   200, NULL);
    fixture_expect(f, "DELETE", "/v1/qos-policies/gold", f->admin, NULL, 204,
                   NULL);
    items = audit_until(f, 10, 204);
    assert_string_equal(entry_string(items, 0, "method"), "DELETE");
    assert_string_equal(entry_string(items, 0, "path"),
                        "/v1/qos-policies/gold");
    json_decref(items);
    free(viewer);
}

static void
test_audit(void **state)
{
    struct fixture *f = *state;
    json_t *items;

    fixture_expect(f, "POST", "/v1/networks", f->admin,
                   "{\"name\": \"blue\", \"cidr\": \"10.0.0.0/24\"}", 201,
                   NULL);
    items = audit_until(f, 10, 201);
    assert_string_equal(entry_string(items, 0, "who"), "admin");
    assert_string_equal(entry_string(items, 0, "role"), "admin");
    assert_string_equal(entry_string(items, 0, "method"), "POST");
    assert_string_equal(entry_string(items, 0, "path"), "/v1/networks");
    assert_string_equal(entry_string(items, 0, "message"),
                        "created network \"blue\"");
    assert_non_null(entry_string(items, 0, "time"));
    json_decref(items);

    /* Failures that change nothing are recorded with their reason. */
    fixture_expect(f, "POST", "/v1/networks", f->admin,
                   "{\"name\": \"blue\", \"cidr\": \"10.0.0.0/24\"}", 409,
                   NULL);
    items = audit_until(f, 10, 409);
    assert_non_null(
        strstr(entry_string(items, 0, "message"), "already exists"));
    assert_string_equal(entry_string(items, 0, "client"), "127.0.0.1");
    json_decref(items);

    /* Requests turned away, reads included, are counted apart: per client
     * address, status and token, with the last one's details. */
    fixture_expect(f, "GET", "/v1/networks", "forged", NULL, 401, NULL);
    fixture_expect(f, "DELETE", "/v1/networks/blue", "forged", NULL, 401,
                   NULL);
    items = refused_until(f, 2);
    assert_int_equal(json_array_size(items), 1);
    assert_string_equal(entry_string(items, 0, "client"), "127.0.0.1");
    assert_string_equal(entry_string(items, 0, "who"), "-");
    assert_string_equal(entry_string(items, 0, "reason"), "unauthenticated");
    assert_string_equal(entry_string(items, 0, "method"), "DELETE");
    assert_string_equal(entry_string(items, 0, "path"), "/v1/networks/blue");
    assert_string_equal(entry_string(items, 0, "message"), "unknown token");
    assert_non_null(entry_string(items, 0, "first_time"));
    assert_non_null(entry_string(items, 0, "last_time"));
    json_decref(items);
    /* ...and not in the trail of changes. */
    items = audit_until(f, 10, 409);
    assert_int_equal(json_integer_value(
                         json_object_get(json_array_get(items, 1), "status")),
                     201);
    json_decref(items);

    /* Heartbeats are not: they come every few seconds from every host. */
    fixture_expect(
        f, "POST", "/v1/hosts", f->admin,
        "{\"name\": \"h1\", \"vtep\": \"192.0.2.1\", \"underlay\": \"eth0\"}",
        201, NULL);
    items = audit_until(f, 10, 201);
    json_decref(items);
    fixture_expect(f, "POST", "/v1/hosts/h1/heartbeat", f->admin, "{}", 200,
                   NULL);
    fixture_expect(f, "GET", "/v1/networks", f->admin, NULL, 200, NULL);
    fixture_expect(f, "DELETE", "/v1/networks/nope", f->admin, NULL, 404,
                   NULL);
    items = audit_until(f, 10, 404);
    assert_string_equal(entry_string(items, 1, "path"), "/v1/hosts");
    json_decref(items);
    fixture_expect(f, "GET", "/v1/audit?limit=0", f->admin, NULL, 400, NULL);
}

/* Checks that 'text' is in the Prometheus text exposition format. */
static void
check_exposition(const char *text)
{
    regex_t help, type, sample;
    char *copy = xstrdup(text);
    char *save = NULL;

    assert_int_equal(regcomp(&help, "^# HELP [a-zA-Z_:][a-zA-Z0-9_:]* .+$",
                             REG_EXTENDED | REG_NOSUB),
                     0);
    assert_int_equal(regcomp(&type,
                             "^# TYPE [a-zA-Z_:][a-zA-Z0-9_:]* "
                             "(counter|gauge|histogram|summary|untyped)$",
                             REG_EXTENDED | REG_NOSUB),
                     0);
    assert_int_equal(
        regcomp(&sample,
                "^[a-zA-Z_:][a-zA-Z0-9_:]*(\\{[a-zA-Z_][a-zA-Z0-9_]*=\"[^\"]*"
                "\"(,[a-zA-Z_][a-zA-Z0-9_]*=\"[^\"]*\")*\\})? "
                "[-+]?([0-9]+(\\.[0-9]*)?([eE][-+]?[0-9]+)?|Inf|NaN)$",
                REG_EXTENDED | REG_NOSUB),
        0);
    for (char *line = strtok_r(copy, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        if (regexec(&help, line, 0, NULL, 0)
            && regexec(&type, line, 0, NULL, 0)
            && regexec(&sample, line, 0, NULL, 0)) {
            fail_msg("not in the exposition format: \"%s\"", line);
        }
    }
    assert_int_equal(text[strlen(text) - 1], '\n');
    regfree(&help);
    regfree(&type);
    regfree(&sample);
    free(copy);
}

static void
test_operations(void **state)
{
    struct fixture *f = *state;
    static const char *const metrics[] = {
        "fabric_controller_http_requests_total{method=\"GET\",code=\"200\"} ",
        "fabric_controller_http_requests_total{method=\"POST\",code=\"201\"} "
        "2\n",
        "fabric_controller_http_request_duration_seconds_bucket{le=\"+Inf\"}",
        "fabric_controller_http_request_duration_seconds_sum ",
        "fabric_controller_http_request_duration_seconds_count ",
        "fabric_controller_objects{kind=\"network\"} 1\n",
        "fabric_controller_objects{kind=\"host\"} 1\n",
        "fabric_controller_hosts{status=\"ready\"} 1\n",
        "fabric_controller_agents_connected 1\n",
        "fabric_controller_store_revision ",
        "# TYPE fabric_controller_http_request_duration_seconds histogram\n",
    };
    static const char *const paths[] = {
        "/v1/networks",
        "/v1/networks/{name}",
        "/v1/ports",
        "/v1/ports/{name}",
        "/v1/qos-policies",
        "/v1/qos-policies/{name}",
        "/v1/security-groups",
        "/v1/security-groups/{name}",
        "/v1/security-groups/{name}/rules",
        "/v1/security-groups/{name}/rules/{id}",
        "/v1/hosts",
        "/v1/hosts/{name}",
        "/v1/hosts/{name}/heartbeat",
        "/v1/hosts/{name}/port-status",
        "/v1/hosts/{name}/desired-state",
        "/v1/hosts/{name}/rule-hits",
        "/v1/external-vteps",
        "/v1/external-vteps/{name}",
        "/v1/tokens",
        "/v1/tokens/{name}",
        "/v1/audit",
        "/v1/status",
        "/v1/openapi.json",
        "/healthz",
        "/readyz",
        "/metrics",
    };
    struct reply r;

    assert_int_equal(fixture_call(f, "GET", "/healthz", NULL, NULL, NULL, &r),
                     200);
    assert_string_equal(r.body, "ok\n");
    reply_clear(&r);
    assert_int_equal(fixture_call(f, "GET", "/readyz", NULL, NULL, NULL, &r),
                     200);
    reply_clear(&r);

    fixture_expect(f, "POST", "/v1/networks", f->admin,
                   "{\"name\": \"blue\", \"cidr\": \"10.0.0.0/24\"}", 201,
                   NULL);
    fixture_expect(
        f, "POST", "/v1/hosts", f->admin,
        "{\"name\": \"h1\", \"vtep\": \"192.0.2.1\", \"underlay\": \"eth0\"}",
        201, NULL);
    assert_int_equal(fixture_call(f, "GET", "/metrics", NULL, NULL, NULL, &r),
                     200);
    check_exposition(r.body);
    for (size_t i = 0; i < sizeof metrics / sizeof *metrics; i++) {
        if (!strstr(r.body, metrics[i])) {
            fail_msg("/metrics lacks \"%s\":\n%s", metrics[i], r.body);
        }
    }
    reply_clear(&r);

    assert_int_equal(
        fixture_call(f, "GET", "/v1/status", f->admin, NULL, NULL, &r), 200);
    assert_int_equal(json_integer_value(json_object_get(r.json, "networks")),
                     1);
    assert_int_equal(json_integer_value(json_object_get(
                         json_object_get(r.json, "hosts"), "ready")),
                     1);
    assert_true(json_integer_value(json_object_get(r.json, "revision")) > 0);
    reply_clear(&r);

    /* The OpenAPI document describes every path served. */
    assert_int_equal(
        fixture_call(f, "GET", "/v1/openapi.json", f->admin, NULL, NULL, &r),
        200);
    assert_non_null(r.json);
    assert_string_equal(json_string_value(json_object_get(r.json, "openapi")),
                        "3.0.3");
    for (size_t i = 0; i < sizeof paths / sizeof *paths; i++) {
        if (!json_object_get(json_object_get(r.json, "paths"), paths[i])) {
            fail_msg("openapi.json lacks %s", paths[i]);
        }
    }
    reply_clear(&r);
}

static void
test_keep_alive(void **state)
{
    struct fixture *f = *state;
    long connects = 0;

    fixture_expect(f, "POST", "/v1/networks", f->admin,
                   "{\"name\": \"blue\", \"cidr\": \"10.0.0.0/24\"}", 201,
                   NULL);
    /* After the first request, every one reuses the connection. */
    for (int i = 0; i < 50; i++) {
        long n;

        fixture_expect(f, "GET", "/v1/networks/blue", f->admin, NULL, 200,
                       NULL);
        curl_easy_getinfo(f->curl, CURLINFO_NUM_CONNECTS, &n);
        connects += n;
    }
    assert_int_equal(connects, 0);
    /* Errors keep the connection too. */
    fixture_expect(f, "GET", "/v1/networks/red", f->admin, NULL, 404, NULL);
    fixture_expect(f, "GET", "/v1/networks/blue", f->admin, NULL, 200, NULL);
    curl_easy_getinfo(f->curl, CURLINFO_NUM_CONNECTS, &connects);
    assert_int_equal(connects, 0);
}

static void
test_https(void **state)
{
    struct fixture *f = fixture_start(30, true);
    struct reply r;

    assert_non_null(strstr(f->base, "https://"));
    fixture_expect(f, "GET", "/healthz", NULL, NULL, 200, NULL);
    fixture_expect(f, "POST", "/v1/networks", f->admin,
                   "{\"name\": \"blue\", \"cidr\": \"10.0.0.0/24\"}", 201,
                   NULL);
    assert_int_equal(
        fixture_call(f, "GET", "/v1/networks/blue", f->admin, NULL, NULL, &r),
        200);
    assert_int_equal(json_integer_value(json_object_get(r.json, "vni")), 1000);
    reply_clear(&r);
    fixture_stop(f);
    (void) state;
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_routing_and_errors, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_body_limit, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_content_type, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_agent_url_scope, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_port_waits_for_host,
                                        fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_auth, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_optimistic_concurrency,
                                        fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_pagination, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_desired_state, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_audit, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_qos_policies, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_operations, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_keep_alive, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test(test_https),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
