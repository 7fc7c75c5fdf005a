/* The web console's side of the controller, over real HTTP on the
 * loopback: its static files at /ui/ (types, caching, the security
 * headers, and no way out of ui-dir whatever the path), and the change
 * stream it follows, GET /v1/changes (its parameters, roles, what wakes
 * it and what does not, and many idle pollers within the connection
 * limits). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "controller/server.h"
#include "tests/controller/fixture.h"
#include "utils/util.h"

/* What must never leave the controller through /ui/. */
#define SECRET "the-secret-beside-ui-dir"

/* A controller whose ui-dir is 'dir'/ui, with a secret file beside it and
 * a link in it that leads out. */
struct ui_env {
    char *dir;         /* Temporary directory: "ui" and "secret.txt". */
    char *ui;          /* The ui-dir. */
    struct fixture *f; /* The controller. */
};

static void
put_file(const char *dir, const char *name, const char *text)
{
    char *path = xasprintf("%s/%s", dir, name);

    assert_int_equal(write_file_atomic(path, text, strlen(text)), 0);
    free(path);
}

static int
ui_setup(void **state)
{
    struct ui_env *e = xzalloc(sizeof *e);
    struct server_config limits = {0};
    char *link, *sub;

    e->dir = fixture_dir_create();
    e->ui = xasprintf("%s/ui", e->dir);
    assert_int_equal(mkdir(e->ui, 0755), 0);
    put_file(e->dir, "secret.txt", SECRET "\n");
    put_file(e->ui, "index.html", "<!doctype html><title>fabric</title>\n");
    put_file(e->ui, "app-3FJQ2KXA.js", "console.log(1);\n");
    put_file(e->ui, "app-3FJQ2KXA.css", "body{margin:0}\n");
    put_file(e->ui, "notes.js", "plain\n");
    put_file(e->ui, ".hidden.txt", SECRET "\n");
    put_file(e->ui, "data.bin", SECRET "\n");
    link = xasprintf("%s/out.txt", e->ui);
    assert_int_equal(symlink("../secret.txt", link), 0);
    free(link);
    sub = xasprintf("%s/sub.txt", e->ui);
    assert_int_equal(mkdir(sub, 0755), 0);
    free(sub);
    limits.ui_dir = e->ui;
    e->f = fixture_start_config(30, false, &limits);
    *state = e;
    return 0;
}

static int
ui_teardown(void **state)
{
    struct ui_env *e = *state;

    fixture_stop(e->f);
    fixture_dir_remove(e->dir);
    free(e->ui);
    free(e);
    return 0;
}

/* Sends "GET 'path'" as it is, byte for byte (curl would resolve "..")
 * on a connection of its own, and returns the whole answer. */
static char *
raw_get(struct fixture *f, const char *path)
{
    struct sockaddr_in sin = {
        .sin_family = AF_INET,
        .sin_port = htons(server_port(f->server)),
        .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
    };
    char *request = xasprintf("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                              "Connection: close\r\n\r\n",
                              path);
    char *answer = xzalloc(1);
    size_t len = 0;
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    assert_true(fd >= 0);
    assert_int_equal(connect(fd, (struct sockaddr *) &sin, sizeof sin), 0);
    assert_int_equal(write(fd, request, strlen(request)),
                     (ssize_t) strlen(request));
    for (;;) {
        char buf[4096];
        ssize_t n = read(fd, buf, sizeof buf);

        if (n <= 0) {
            break;
        }
        answer = xrealloc(answer, len + n + 1);
        memcpy(answer + len, buf, n);
        len += n;
        answer[len] = '\0';
    }
    close(fd);
    free(request);
    return answer;
}

/* The status of raw answer 'a'. */
static int
raw_status(const char *a)
{
    int status = 0;

    assert_int_equal(sscanf(a, "HTTP/1.1 %d", &status), 1);
    return status;
}

/* Asserts that 'path' answers 'status' with header line 'line' (NULL:
 * none checked). */
static void
expect_file(struct fixture *f, const char *path, long status, const char *type,
            const char *cache)
{
    struct reply r;
    char *h;

    assert_int_equal(fixture_call(f, "GET", path, NULL, NULL, NULL, &r),
                     status);
    h = reply_header(&r, "Content-Type");
    assert_non_null(h);
    assert_string_equal(h, type);
    free(h);
    if (cache) {
        h = reply_header(&r, "Cache-Control");
        assert_non_null(h);
        assert_string_equal(h, cache);
        free(h);
    }
    h = reply_header(&r, "Content-Security-Policy");
    assert_non_null(h);
    /* No inline script or style, no eval, no framing. */
    assert_non_null(strstr(h, "script-src 'self';"));
    assert_non_null(strstr(h, "style-src 'self';"));
    assert_non_null(strstr(h, "frame-ancestors 'none'"));
    assert_null(strstr(h, "unsafe"));
    free(h);
    h = reply_header(&r, "X-Content-Type-Options");
    assert_non_null(h);
    assert_string_equal(h, "nosniff");
    free(h);
    assert_null(strstr(r.body, SECRET));
    reply_clear(&r);
}

/* The files, by type, with the cache that suits each: a hashed name for a
 * year, index.html on every use. */
static void
test_ui_files(void **state)
{
    struct ui_env *e = *state;
    struct fixture *f = e->f;
    struct reply r;
    char *h;

    expect_file(f, "/ui/", 200, "text/html; charset=utf-8", "no-cache");
    expect_file(f, "/ui/index.html", 200, "text/html; charset=utf-8",
                "no-cache");
    expect_file(f, "/ui/app-3FJQ2KXA.js", 200,
                "text/javascript; charset=utf-8",
                "public, max-age=31536000, immutable");
    expect_file(f, "/ui/app-3FJQ2KXA.css", 200, "text/css; charset=utf-8",
                "public, max-age=31536000, immutable");
    expect_file(f, "/ui/notes.js", 200, "text/javascript; charset=utf-8",
                "no-cache");

    assert_int_equal(
        fixture_call(f, "GET", "/ui/index.html", NULL, NULL, NULL, &r), 200);
    assert_string_equal(r.body, "<!doctype html><title>fabric</title>\n");
    reply_clear(&r);

    /* "/ui" leads to "/ui/", so that relative names resolve under it. */
    assert_int_equal(fixture_call(f, "GET", "/ui", NULL, NULL, NULL, &r), 301);
    h = reply_header(&r, "Location");
    assert_string_equal(h, "/ui/");
    free(h);
    reply_clear(&r);

    /* The files are for reading only. */
    assert_int_equal(
        fixture_call(f, "POST", "/ui/index.html", NULL, "{}", NULL, &r), 405);
    reply_clear(&r);
}

/* Every way out of ui-dir, and every file in it that is not the
 * console's, is 404 without a byte of the secret. */
static void
test_ui_no_escape(void **state)
{
    static const char *const paths[] = {
        "/ui/../secret.txt",
        "/ui/..",
        "/ui/%2e%2e",
        "/ui/%2e%2e/secret.txt",
        "/ui/..%2fsecret.txt",
        "/ui/%2e%2e%2fsecret.txt",
        "/ui/%2E%2E%2Fsecret.txt",
        "/ui/..%5csecret.txt",
        "/ui/....//secret.txt",
        "/ui//../secret.txt",
        "/ui/./../secret.txt",
        "/ui/%252e%252e%252fsecret.txt",
        "/ui/out.txt",
        "/ui/.hidden.txt",
        "/ui/%2ehidden.txt",
        "/ui/data.bin",
        "/ui/sub.txt",
        "/ui/sub.txt/x.js",
        "/ui/nope.js",
        "/ui/..%00/secret.txt",
        "/ui/index.html/",
        "/ui/a/b/c.js",
        "/ui/%2fetc%2fpasswd",
    };
    struct ui_env *e = *state;

    for (size_t i = 0; i < ARRAY_SIZE(paths); i++) {
        char *a = raw_get(e->f, paths[i]);

        print_message("GET %s: %.12s\n", paths[i], a);
        assert_int_equal(raw_status(a), 404);
        assert_null(strstr(a, SECRET));
        assert_null(strstr(a, "root:"));
        free(a);
    }
}

/* A controller whose ui-dir does not exist says so, and still serves the
 * API. */
static void
test_ui_missing(void **state)
{
    struct server_config limits = {.ui_dir = "/nonexistent/fabric-ui"};
    struct fixture *f = fixture_start_config(30, false, &limits);
    struct reply r;

    assert_int_equal(fixture_call(f, "GET", "/ui/", NULL, NULL, NULL, &r),
                     404);
    assert_non_null(strstr(reply_message(&r), "not installed"));
    assert_non_null(strstr(reply_message(&r), "/nonexistent/fabric-ui"));
    reply_clear(&r);
    fixture_expect(f, "GET", "/v1/networks", f->admin, NULL, 200, NULL);
    fixture_stop(f);
}

/* GET /v1/changes as 'token' with query 'query'; returns the status and
 * the answer in 'r'. */
static long
changes(struct fixture *f, const char *token, const char *query,
        struct reply *r)
{
    char *path = xasprintf("/v1/changes%s", query);
    long status = fixture_call_new(f, "GET", path, token, NULL, NULL, r);

    free(path);
    return status;
}

/* The revision of answer 'r'. */
static json_int_t
revision_of(const struct reply *r)
{
    const json_t *rev = json_object_get(r->json, "revision");

    assert_true(json_is_integer(rev));
    return json_integer_value(rev);
}

/* Whether answer 'r' names collection 'name' among the changed. */
static bool
names(const struct reply *r, const char *name)
{
    const json_t *changed = json_object_get(r->json, "changed");
    size_t i;
    json_t *v;

    assert_true(json_is_array(changed));
    json_array_foreach(changed, i, v)
    {
        if (!strcmp(json_string_value(v), name)) {
            return true;
        }
    }
    return false;
}

/* The current revision, from a GET /v1/changes without one. */
static json_int_t
current(struct fixture *f)
{
    struct reply r;
    json_int_t rev;

    assert_int_equal(changes(f, f->admin, "", &r), 200);
    assert_int_equal(json_array_size(json_object_get(r.json, "changed")), 0);
    rev = revision_of(&r);
    reply_clear(&r);
    return rev;
}

static void
test_changes_bad_requests(void **state)
{
    static const struct {
        const char *query; /* The query. */
        const char *field; /* The field the 400 names. */
    } bad[] = {
        {"?revision=x", "revision"},
        {"?revision=-1", "revision"},
        {"?revision=", "revision"},
        {"?revision=1.5", "revision"},
        {"?revision=99999999999999999999", "revision"},
        {"?revision=1&timeout=301", "timeout"},
        {"?revision=1&timeout=-1", "timeout"},
        {"?revision=1&timeout=1e3", "timeout"},
        {"?revision=1&since=1", "since"},
        {"?revision=1&revision=2", "revision"},
    };
    struct fixture *f = *state;
    char *viewer = fixture_token(f, "v", "viewer", NULL);
    char *agent = fixture_token(f, "a", "agent", "h1");
    struct reply r;

    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        assert_int_equal(changes(f, viewer, bad[i].query, &r), 400);
        assert_string_equal(reply_field(&r), bad[i].field);
        reply_clear(&r);
    }
    /* Viewers may follow changes; agents watch their own documents, and
     * nobody without a token. */
    assert_int_equal(changes(f, viewer, "?revision=0&timeout=0", &r), 200);
    reply_clear(&r);
    assert_int_equal(changes(f, agent, "?revision=0&timeout=0", &r), 403);
    reply_clear(&r);
    assert_int_equal(changes(f, NULL, "?revision=0&timeout=0", &r), 401);
    reply_clear(&r);
    free(viewer);
    free(agent);
}

/* GET /v1/whoami names the caller's token and role, and nobody's
 * without one. */
static void
test_whoami(void **state)
{
    struct fixture *f = *state;
    char *viewer = fixture_token(f, "ops", "viewer", NULL);
    char *agent = fixture_token(f, "a", "agent", "h1");
    struct reply r;

    assert_int_equal(
        fixture_call(f, "GET", "/v1/whoami", viewer, NULL, NULL, &r), 200);
    fixture_expect_json(r.json, "{'name': 'ops', 'role': 'viewer'}");
    reply_clear(&r);
    assert_int_equal(
        fixture_call(f, "GET", "/v1/whoami", f->admin, NULL, NULL, &r), 200);
    fixture_expect_json(r.json, "{'name': 'admin', 'role': 'admin'}");
    reply_clear(&r);
    fixture_expect(f, "GET", "/v1/whoami", agent, NULL, 403, NULL);
    fixture_expect(f, "GET", "/v1/whoami", "forged", NULL, 401, NULL);
    fixture_expect(f, "GET", "/v1/whoami", NULL, NULL, 401, NULL);
    free(viewer);
    free(agent);
}

/* A poll started later than a change (or at one). */
struct later {
    struct fixture *f;  /* The controller. */
    const char *method; /* The change to make after 300 ms. */
    const char *path;
    const char *body;
    long status; /* Its answer. */
};

static void *
later_main(void *l_)
{
    struct later *l = l_;
    struct reply r;

    usleep(300 * 1000);
    l->status = fixture_call_new(l->f, l->method, l->path, l->f->admin,
                                 l->body, NULL, &r);
    reply_clear(&r);
    return NULL;
}

/* What wakes a poll and what it names; a revision beyond the store's or
 * from before the controller started names everything. */
static void
test_changes_wakes(void **state)
{
    struct fixture *f = *state;
    struct later l = {f, "POST", "/v1/networks",
                      "{\"name\": \"blue\", \"cidr\": \"10.0.0.0/24\"}", 0};
    json_int_t rev = current(f), rev2;
    pthread_t thread;
    struct reply r;
    char *q;

    /* Nothing happens: the timeout answers nothing changed, and a
     * revision to go on from (this one, or a later one that changed none
     * of the collections). */
    q = xasprintf("?revision=%lld&timeout=1", (long long) rev);
    assert_int_equal(changes(f, f->admin, q, &r), 200);
    assert_true(revision_of(&r) >= rev);
    assert_int_equal(json_array_size(json_object_get(r.json, "changed")), 0);
    reply_clear(&r);

    /* A network created while the poll waits wakes it. */
    pthread_create(&thread, NULL, later_main, &l);
    assert_int_equal(changes(f, f->admin, q, &r), 200);
    pthread_join(thread, NULL);
    assert_int_equal(l.status, 201);
    assert_true(revision_of(&r) > rev);
    assert_true(names(&r, "networks"));
    assert_false(names(&r, "ports"));
    rev = revision_of(&r);
    reply_clear(&r);
    free(q);

    /* A change already made answers at once, even with the revision of
     * before it far behind (steps of more than one revision). */
    fixture_expect(f, "POST", "/v1/ports", f->admin,
                   "{\"name\": \"p1\", \"network\": \"blue\", "
                   "\"host\": \"h1\"}",
                   201, NULL);
    fixture_expect(f, "POST", "/v1/qos-policies", f->admin,
                   "{\"name\": \"slow\", \"egress\": {\"rate\": 1000000}}",
                   201, NULL);
    q = xasprintf("?revision=%lld&timeout=30", (long long) rev);
    assert_int_equal(changes(f, f->admin, q, &r), 200);
    assert_true(names(&r, "ports"));
    assert_true(names(&r, "qos-policies"));
    assert_false(names(&r, "networks"));
    rev2 = revision_of(&r);
    assert_true(rev2 >= rev + 2);
    reply_clear(&r);
    free(q);

    /* A token is no collection of the console's: its creation does not
     * wake a poll, which times out with nothing changed. */
    free(fixture_token(f, "other", "viewer", NULL));
    q = xasprintf("?revision=%lld&timeout=1", (long long) rev2);
    assert_int_equal(changes(f, f->admin, q, &r), 200);
    assert_int_equal(json_array_size(json_object_get(r.json, "changed")), 0);
    assert_true(revision_of(&r) >= rev2);
    reply_clear(&r);
    free(q);

    /* A revision the store never reached, or one before this controller
     * started: everything must be read again. */
    q = xasprintf("?revision=%lld&timeout=30", (long long) rev2 + 1000);
    assert_int_equal(changes(f, f->admin, q, &r), 200);
    assert_true(names(&r, "networks"));
    assert_true(names(&r, "hosts"));
    assert_true(names(&r, "vms"));
    assert_int_equal(revision_of(&r), current(f));
    reply_clear(&r);
    free(q);
    assert_int_equal(changes(f, f->admin, "?revision=0&timeout=30", &r), 200);
    assert_true(names(&r, "security-groups"));
    reply_clear(&r);
}

/* Network "blue", host "h1" (registered with 'token', an admin's or its
 * agent's) and port "p1" of blue on h1. */
static void
make_port_p1(struct fixture *f, const char *token)
{
    fixture_expect(f, "POST", "/v1/networks", f->admin,
                   "{\"name\": \"blue\", \"cidr\": \"10.0.0.0/24\"}", 201,
                   NULL);
    fixture_expect(f, "POST", "/v1/hosts", token,
                   "{\"name\": \"h1\", \"vtep\": \"192.0.2.1\", "
                   "\"underlay\": \"eth0\"}",
                   201, NULL);
    fixture_expect(f, "POST", "/v1/ports", f->admin,
                   "{\"name\": \"p1\", \"network\": \"blue\", "
                   "\"host\": \"h1\"}",
                   201, NULL);
}

/* An agent's report that a port went down changes the port's status,
 * not the port: it wakes a poll with "ports". */
static void
test_changes_port_status(void **state)
{
    struct fixture *f = *state;
    struct later l = {f, "PUT", "/v1/hosts/h1/port-status",
                      "{\"ports\": {\"p1\": \"down\"}}", 0};
    pthread_t thread;
    json_int_t rev;
    struct reply r;
    char *q;

    make_port_p1(f, f->admin);
    fixture_expect(f, "PUT", "/v1/hosts/h1/port-status", f->admin,
                   "{\"ports\": {\"p1\": \"up\"}}", 204, NULL);
    rev = current(f);
    q = xasprintf("?revision=%lld&timeout=30", (long long) rev);
    pthread_create(&thread, NULL, later_main, &l);
    assert_int_equal(changes(f, f->admin, q, &r), 200);
    pthread_join(thread, NULL);
    assert_int_equal(l.status, 204);
    assert_true(names(&r, "ports"));
    assert_false(names(&r, "networks"));
    reply_clear(&r);
    free(q);
    fixture_expect(f, "GET", "/v1/ports/p1", f->admin, NULL, 200, NULL);
}

/* Ports' traffic counters come in heartbeats, are answered for the
 * port's own host only, and bad ones are refused whole. */
static void
test_port_traffic(void **state)
{
    static const char *const bad[] = {
        "{'traffic': []}",
        "{'traffic': {'p1': {'rx_bytes': -1}}}",
        "{'traffic': {'p1': {'rx_bytes': 1.5}}}",
        "{'traffic': {'p1': {'rx_bytes': '7'}}}",
        "{'traffic': {'p1': {'rx_bytes': 1, 'colour': 2}}}",
        "{'traffic': {'p1': 5}}",
        "{'traffic': {'Not A Port!': {'rx_bytes': 1}}}",
    };
    struct fixture *f = *state;
    char *h1 = fixture_token(f, "a1", "agent", "h1");
    char *h2 = fixture_token(f, "a2", "agent", "h2");
    char *viewer = fixture_token(f, "v", "viewer", NULL);
    struct reply r;
    json_int_t rev;
    char *q;

    make_port_p1(f, h1);
    fixture_expect(f, "POST", "/v1/hosts", h2,
                   "{\"name\": \"h2\", \"vtep\": \"192.0.2.2\", "
                   "\"underlay\": \"eth0\"}",
                   201, NULL);
    fixture_expect(f, "GET", "/v1/ports/p1/traffic", viewer, NULL, 404, NULL);
    fixture_expect(f, "GET", "/v1/ports/nope/traffic", viewer, NULL, 404,
                   NULL);

    /* Bad reports are refused, and nothing of them is kept. */
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        json_t *in = fixture_json(bad[i]);
        char *text = json_dumps(in, 0);

        fixture_expect(f, "POST", "/v1/hosts/h1/heartbeat", h1, text, 400,
                       "traffic");
        free(text);
        json_decref(in);
    }
    fixture_expect(f, "GET", "/v1/ports/p1/traffic", viewer, NULL, 404, NULL);

    /* Another host's agent reporting p1 is not believed; h1's is.
     * Counters change no collection: they wake no watcher. */
    rev = current(f);
    fixture_expect(f, "POST", "/v1/hosts/h2/heartbeat", h2,
                   "{\"traffic\": {\"p1\": {\"rx_bytes\": 666}}}", 200, NULL);
    fixture_expect(f, "GET", "/v1/ports/p1/traffic", viewer, NULL, 404, NULL);
    fixture_expect(f, "POST", "/v1/hosts/h1/heartbeat", h1,
                   "{\"traffic\": {\"p1\": {\"rx_bytes\": 1000, "
                   "\"rx_packets\": 10, \"tx_bytes\": 2000}}}",
                   200, NULL);
    q = xasprintf("?revision=%lld&timeout=0", (long long) rev);
    assert_int_equal(changes(f, viewer, q, &r), 200);
    assert_int_equal(json_array_size(json_object_get(r.json, "changed")), 0);
    reply_clear(&r);
    free(q);
    assert_int_equal(
        fixture_call(f, "GET", "/v1/ports/p1/traffic", viewer, NULL, NULL, &r),
        200);
    assert_string_equal(api_get_string(r.json, "port"), "p1");
    assert_string_equal(api_get_string(r.json, "host"), "h1");
    assert_int_equal(json_integer_value(json_object_get(r.json, "rx_bytes")),
                     1000);
    assert_int_equal(json_integer_value(json_object_get(r.json, "rx_packets")),
                     10);
    assert_int_equal(json_integer_value(json_object_get(r.json, "tx_bytes")),
                     2000);
    assert_int_equal(json_integer_value(json_object_get(r.json, "tx_packets")),
                     0);
    /* "2026-12-03T19:44:01.123Z" */
    assert_int_equal(strlen(api_get_string(r.json, "time")), 24);
    reply_clear(&r);

    /* Moved to h2, the port's h1 report no longer counts. */
    fixture_expect(f, "PATCH", "/v1/ports/p1", f->admin, "{\"host\": \"h2\"}",
                   200, NULL);
    fixture_expect(f, "GET", "/v1/ports/p1/traffic", viewer, NULL, 404, NULL);
    free(h1);
    free(h2);
    free(viewer);
}

/* Many consoles open at once. */
struct poller {
    struct fixture *f; /* The controller. */
    const char *token; /* A viewer's. */
    const char *query; /* The poll's. */
    long status;       /* Its answer. */
    bool networks;     /* Whether it named "networks". */
};

static void *
poller_main(void *p_)
{
    struct poller *p = p_;
    struct reply r;

    p->status = changes(p->f, p->token, p->query, &r);
    p->networks = p->status == 200 && names(&r, "networks");
    reply_clear(&r);
    return NULL;
}

/* 48 idle polls from one address (its limit is 64) hold their
 * connections while the API still answers others, and one change wakes
 * them all. */
static void
test_changes_many_pollers(void **state)
{
    enum { N = 48 };
    struct fixture *f = *state;
    char *viewer = fixture_token(f, "v", "viewer", NULL);
    struct poller pollers[N];
    pthread_t threads[N];
    char *q = xasprintf("?revision=%lld&timeout=120", (long long) current(f));
    struct reply r;

    for (int i = 0; i < N; i++) {
        pollers[i] = (struct poller){f, viewer, q, 0, false};
        pthread_create(&threads[i], NULL, poller_main, &pollers[i]);
    }
    /* Give them the time to connect and wait. */
    sleep(2);
    for (int i = 0; i < N; i++) {
        assert_int_equal(pollers[i].status, 0);
    }
    assert_int_equal(
        fixture_call(f, "GET", "/v1/networks", viewer, NULL, NULL, &r), 200);
    reply_clear(&r);
    fixture_expect(f, "POST", "/v1/networks", f->admin,
                   "{\"name\": \"blue\", \"cidr\": \"10.0.0.0/24\"}", 201,
                   NULL);
    for (int i = 0; i < N; i++) {
        pthread_join(threads[i], NULL);
        assert_int_equal(pollers[i].status, 200);
        assert_true(pollers[i].networks);
    }
    free(q);
    free(viewer);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_ui_files, ui_setup, ui_teardown),
        cmocka_unit_test_setup_teardown(test_ui_no_escape, ui_setup,
                                        ui_teardown),
        cmocka_unit_test(test_ui_missing),
        cmocka_unit_test_setup_teardown(test_changes_bad_requests,
                                        fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_whoami, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_changes_wakes, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_changes_port_status,
                                        fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_port_traffic, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_changes_many_pollers,
                                        fixture_setup, fixture_teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
