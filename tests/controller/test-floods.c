/* The controller under floods, over real HTTP on the loopback: a flood of
 * bad tokens must not push the changes out of the audit trail, and idle or
 * slow connections must not take the controller's threads from everybody
 * else (per-address limit, a deadline to authenticate, /healthz and an
 * authenticated client still answered). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "controller/server.h"
#include "controller/store.h"
#include "tests/controller/fixture.h"
#include "utils/util.h"

static double
now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* The store revision, from GET /v1/status. */
static json_int_t
store_revision_of(struct fixture *f)
{
    struct reply r;
    json_int_t revision;

    assert_int_equal(
        fixture_call(f, "GET", "/v1/status", f->admin, NULL, NULL, &r), 200);
    revision = json_integer_value(json_object_get(r.json, "revision"));
    reply_clear(&r);
    return revision;
}

/* Returns how far one write transaction moves the revision of 'f''s store:
 * one with SQLite, more with etcd, where taking the write lock is a
 * revision too (doc/replication.md).  The smallest of a few tries, in case
 * the controller wrote in between. */
static int64_t
store_revision_step(struct fixture *f)
{
    int64_t step = INT64_MAX;
    int64_t prev = 0;
    struct store *store;

    assert_int_equal(store_open(f->db, &store), 0);
    for (int i = 0; i < 4; i++) {
        struct store_txn *txn;
        json_t *body = json_object();
        int64_t revision;

        assert_int_equal(store_begin(store, true, &txn), 0);
        assert_int_equal(
            store_put(txn, "test-step", "x", body, STORE_ANY, NULL), 0);
        assert_int_equal(store_commit(txn, &revision), 0);
        json_decref(body);
        if (i && revision - prev < step) {
            step = revision - prev;
        }
        prev = revision;
    }
    store_close(store);
    return step;
}

/* 10,500 requests with a forged token, after three changes by the admin:
 * every change stays in the trail, and the refusals are one aggregate that
 * counts them all. */
static void
test_bad_token_flood(void **state)
{
    struct fixture *f = fixture_start(30, false);
    const int n_forged = 10500;
    struct reply r;
    json_t *items;
    size_t n_changes = 0;
    json_int_t rev_before, rev_after;
    int64_t step;
    double start, seconds;

    (void) state;
    fixture_expect(f, "POST", "/v1/networks", f->admin,
                   "{\"name\": \"blue\", \"cidr\": \"10.0.0.0/24\"}", 201,
                   NULL);
    fixture_expect(f, "PATCH", "/v1/networks/blue", f->admin,
                   "{\"mtu\": 1400}", 200, NULL);
    fixture_expect(f, "POST", "/v1/networks", f->admin,
                   "{\"name\": \"red\", \"cidr\": \"10.1.0.0/24\"}", 201,
                   NULL);

    step = store_revision_step(f);
    rev_before = store_revision_of(f);
    start = now();
    for (int i = 0; i < n_forged; i++) {
        long status =
            fixture_call(f, i % 2 ? "GET" : "DELETE", "/v1/networks/blue",
                         "forged", NULL, NULL, &r);

        reply_clear(&r);
        assert_int_equal(status, 401);
    }
    seconds = now() - start;
    /* The refusals cost a store write a second at most, not one each. */
    rev_after = store_revision_of(f);
    print_message("%d forged requests in %.2f s: the store revision moved "
                  "by %lld, %lld a write\n",
                  n_forged, seconds, (long long) (rev_after - rev_before),
                  (long long) step);
    assert_true(rev_after - rev_before <= (seconds + 2) * step);
    /* Without a token, a change that reaches no handler is a refusal too. */
    fixture_expect(f, "POST", "/v1/nowhere", NULL, "{}", 404, NULL);

    assert_int_equal(fixture_call(f, "GET", "/v1/audit?limit=1000", f->admin,
                                  NULL, NULL, &r),
                     200);
    items = json_object_get(r.json, "items");
    for (size_t i = 0; i < json_array_size(items); i++) {
        const json_t *e = json_array_get(items, i);

        assert_string_equal(json_string_value(json_object_get(e, "who")),
                            "admin");
        assert_string_equal(json_string_value(json_object_get(e, "client")),
                            "127.0.0.1");
        n_changes++;
    }
    assert_int_equal(n_changes, 3);
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(items, 2), "message")),
                        "created network \"blue\"");
    reply_clear(&r);

    assert_int_equal(
        fixture_call(f, "GET", "/v1/audit/refused", f->admin, NULL, NULL, &r),
        200);
    items = json_object_get(r.json, "items");
    assert_int_equal(json_array_size(items), 2);
    for (size_t i = 0; i < 2; i++) {
        const json_t *e = json_array_get(items, i);
        json_int_t status = json_integer_value(json_object_get(e, "status"));
        json_int_t count = json_integer_value(json_object_get(e, "count"));

        assert_string_equal(json_string_value(json_object_get(e, "client")),
                            "127.0.0.1");
        assert_true((status == 401 && count == n_forged)
                    || (status == 404 && count == 1));
    }
    /* The most recently seen first. */
    assert_int_equal(json_integer_value(
                         json_object_get(json_array_get(items, 0), "status")),
                     404);
    reply_clear(&r);
    fixture_expect(f, "GET", "/v1/audit/refused?limit=0", f->admin, NULL, 400,
                   "limit");
    fixture_expect(f, "GET", "/v1/audit/refused?page=2", f->admin, NULL, 400,
                   "page");
    fixture_stop(f);
}

/* A full quota of aggregates makes room by dropping the one seen least
 * recently, never a change; pages of aggregates. */
static void
test_refused_quota(void **state)
{
    struct server_config limits = {.audit_keep = 5, .audit_refused_keep = 2};
    struct fixture *f = fixture_start_config(30, false, &limits);
    char *viewer = fixture_token(f, "ops", "viewer", NULL);
    char *agent = fixture_token(f, "h1-agent", "agent", "h1");
    struct reply r;
    json_t *items;

    (void) state;
    fixture_expect(f, "POST", "/v1/networks", f->admin,
                   "{\"name\": \"blue\", \"cidr\": \"10.0.0.0/24\"}", 201,
                   NULL);
    fixture_expect(f, "GET", "/v1/networks", "forged", NULL, 401, NULL);
    fixture_expect(f, "POST", "/v1/networks", viewer, "{}", 403, NULL);
    usleep(2000);
    fixture_expect(f, "POST", "/v1/networks", agent, "{}", 403, NULL);

    assert_int_equal(
        fixture_call(f, "GET", "/v1/audit/refused", f->admin, NULL, NULL, &r),
        200);
    items = json_object_get(r.json, "items");
    assert_int_equal(json_array_size(items), 2);
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(items, 0), "who")),
        "h1-agent");
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(items, 1), "who")),
        "ops");
    reply_clear(&r);

    /* Pages, for clients that want fewer at a time. */
    assert_int_equal(fixture_call(f, "GET", "/v1/audit/refused?limit=1",
                                  f->admin, NULL, NULL, &r),
                     200);
    assert_int_equal(json_array_size(json_object_get(r.json, "items")), 1);
    {
        char *path = xasprintf(
            "/v1/audit/refused?limit=1&page_token=%s",
            json_string_value(json_object_get(r.json, "next_page_token")));

        for (char *p = path; *p; p++) {
            *p = *p == ' ' ? '+' : *p;
        }
        reply_clear(&r);
        assert_int_equal(
            fixture_call(f, "GET", path, f->admin, NULL, NULL, &r), 200);
        free(path);
    }
    items = json_object_get(r.json, "items");
    assert_int_equal(json_array_size(items), 1);
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(items, 0), "who")),
        "ops");
    assert_null(json_object_get(r.json, "next_page_token"));
    reply_clear(&r);
    fixture_expect(f, "GET", "/v1/audit/refused?page_token=x", f->admin, NULL,
                   400, "page_token");

    fixture_call(f, "GET", "/v1/audit", f->admin, NULL, NULL, &r);
    items = json_object_get(r.json, "items");
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(items, 0), "message")),
                        "created network \"blue\"");
    reply_clear(&r);
    free(viewer);
    free(agent);
    fixture_stop(f);
}

/* Connects to the fixture's port from 'source' (a loopback address) and
 * returns the socket. */
static int
connect_from(struct fixture *f, const char *source)
{
    struct sockaddr_in src = {.sin_family = AF_INET};
    struct sockaddr_in dst = {.sin_family = AF_INET};
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    assert_true(fd >= 0);
    assert_int_equal(inet_pton(AF_INET, source, &src.sin_addr), 1);
    assert_int_equal(bind(fd, (struct sockaddr *) &src, sizeof src), 0);
    dst.sin_port = htons(server_port(f->server));
    inet_pton(AF_INET, "127.0.0.1", &dst.sin_addr);
    assert_int_equal(connect(fd, (struct sockaddr *) &dst, sizeof dst), 0);
    return fd;
}

/* Whether the server closed 'fd' within 'ms' milliseconds. */
static bool
closed_within(int fd, int ms)
{
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    char c;

    if (poll(&pfd, 1, ms) <= 0) {
        return false;
    }
    return recv(fd, &c, 1, MSG_DONTWAIT) <= 0;
}

/* Sends a GET of 'path' with 'token' (or none) on 'fd' and returns the
 * status of the answer, or 0 if the connection was closed instead. */
static int
raw_get(int fd, const char *path, const char *token)
{
    char *request = xasprintf("GET %s HTTP/1.1\r\nHost: x\r\n%s%s%s\r\n", path,
                              token ? "Authorization: Bearer " : "",
                              token ? token : "", token ? "\r\n" : "");
    char buf[4096];
    size_t len = 0;
    int status = 0;

    if (send(fd, request, strlen(request), MSG_NOSIGNAL) < 0) {
        free(request);
        return 0;
    }
    free(request);
    /* Read until the end of the headers and the body's Content-Length
     * bytes; the answers here are small. */
    while (len < sizeof buf - 1) {
        ssize_t n = recv(fd, buf + len, sizeof buf - 1 - len, 0);
        const char *end, *cl;

        if (n <= 0) {
            return 0;
        }
        len += n;
        buf[len] = '\0';
        end = strstr(buf, "\r\n\r\n");
        cl = strcasestr(buf, "Content-Length:");
        if (end && cl && cl < end
            && (size_t) (end + 4 - buf) + strtoul(cl + 15, NULL, 10) <= len) {
            break;
        }
    }
    sscanf(buf, "HTTP/1.1 %d", &status);
    return status;
}

/* Hundreds of idle connections from six loopback addresses: each address
 * gets its 50 and no more, /healthz and an authenticated client are still
 * answered at once, and the idle ones are closed after the idle timeout
 * while an authenticated keep-alive connection stays. */
static void
test_idle_connections(void **state)
{
    struct server_config limits = {
        .max_connections = 1000,
        .max_per_address = 50,
        .idle_timeout = 2,
        .auth_idle_timeout = 60,
    };
    struct fixture *f = fixture_start_config(30, false, &limits);
    enum { N_SOURCES = 6, PER_SOURCE = 50 };
    int fds[N_SOURCES][PER_SOURCE];
    int extra, authed, healthz;
    double start;

    (void) state;
    for (int s = 0; s < N_SOURCES; s++) {
        char source[16];

        snprintf(source, sizeof source, "127.0.0.%d", s + 2);
        for (int i = 0; i < PER_SOURCE; i++) {
            fds[s][i] = connect_from(f, source);
        }
    }
    /* One more from the first address is closed at once. */
    extra = connect_from(f, "127.0.0.2");
    assert_true(closed_within(extra, 1000));
    close(extra);

    /* The 300 idle ones are all still open... */
    for (int s = 0; s < N_SOURCES; s++) {
        for (int i = 0; i < PER_SOURCE; i++) {
            assert_false(closed_within(fds[s][i], 0));
        }
    }
    /* ...and the controller answers others promptly. */
    start = now();
    healthz = connect_from(f, "127.0.0.1");
    assert_int_equal(raw_get(healthz, "/healthz", NULL), 200);
    authed = connect_from(f, "127.0.0.1");
    assert_int_equal(raw_get(authed, "/v1/networks", f->admin), 200);
    print_message("with %d idle connections open: /healthz and an "
                  "authenticated GET answered in %.1f ms\n",
                  N_SOURCES * PER_SOURCE, (now() - start) * 1e3);
    assert_true(now() - start < 1.0);

    /* Past the idle timeout the idle connections are gone, the
     * unauthenticated /healthz one too, and the authenticated one is
     * kept. */
    sleep(3);
    for (int s = 0; s < N_SOURCES; s++) {
        for (int i = 0; i < PER_SOURCE; i++) {
            assert_true(closed_within(fds[s][i], 2000));
            close(fds[s][i]);
        }
    }
    assert_true(closed_within(healthz, 2000));
    close(healthz);
    assert_int_equal(raw_get(authed, "/v1/networks", f->admin), 200);
    close(authed);

    /* The address may connect again now. */
    extra = connect_from(f, "127.0.0.2");
    assert_int_equal(raw_get(extra, "/healthz", NULL), 200);
    close(extra);
    fixture_stop(f);
}

/* A client that sends its headers a byte at a time, never silent for
 * long enough for the idle timeout, is still cut off once it has not
 * authenticated within it. */
static void
test_slow_client(void **state)
{
    struct server_config limits = {.idle_timeout = 2};
    struct fixture *f = fixture_start_config(30, false, &limits);
    const char *start = "GET /v1/networks HTTP/1.1\r\nHost: x\r\n";
    int fd = connect_from(f, "127.0.0.1");
    double t0 = now();
    bool closed = false;

    (void) state;
    assert_true(send(fd, start, strlen(start), MSG_NOSIGNAL) > 0);
    while (!closed && now() - t0 < 6) {
        if (send(fd, "X", 1, MSG_NOSIGNAL) < 0) {
            closed = true;
            break;
        }
        closed = closed_within(fd, 500);
    }
    assert_true(closed);
    print_message("a client trickling its headers was cut off after "
                  "%.1f s\n",
                  now() - t0);
    assert_true(now() - t0 < 4);
    close(fd);
    fixture_stop(f);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_token_flood),
        cmocka_unit_test(test_refused_quota),
        cmocka_unit_test(test_idle_connections),
        cmocka_unit_test(test_slow_client),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
