/* Two controllers on one etcd (doc/replication.md), over real HTTP, with
 * a real etcd member that the test starts on free ports: a write through
 * one reaches the long poll of an agent watching the other, and etcd going
 * away answers 503 with nothing half-applied. */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "tests/controller/etcd-members.h"
#include "tests/controller/fixture.h"
#include "utils/util.h"

static struct etcd_members members;

/* Every fixture of this program opens a fresh prefix of its own member. */
static int
group_setup(void **state)
{
    char *url;

    if (!etcd_members_start(&members, 1)) {
        return -1;
    }
    url = etcd_members_url(&members, NULL);
    setenv("FABRIC_TEST_STORE", url, 1);
    free(url);
    return 0;
}

static int
group_teardown(void **state)
{
    etcd_members_destroy(&members);
    return 0;
}

/* Creates port 'body' through 'f' after a delay. */
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
    if (r.status != 201) {
        fprintf(stderr, "POST /v1/ports: %ld %s\n", r.status, r.body);
        abort();
    }
    reply_clear(&r);
    return NULL;
}

/* A port created through controller A wakes the desired-state long poll of
 * host h1 on controller B, as a change of h1's document, and B serves the
 * port. */
static void
test_write_through_a_wakes_b(void **state)
{
    struct fixture *a = fixture_start(30, false);
    struct fixture *b = fixture_start_replica(a);
    struct later later = {
        a,
        "{\"name\": \"p2\", \"network\": \"blue\", \"host\": \"h2\"}",
    };
    long long revision;
    pthread_t thread;
    struct reply r;
    int64_t start;
    char *path;

    fixture_expect(a, "POST", "/v1/networks", a->admin,
                   "{\"name\": \"blue\", \"cidr\": \"10.0.0.0/24\"}", 201,
                   NULL);
    for (int i = 1; i <= 2; i++) {
        char *host = xasprintf("{\"name\": \"h%d\", \"vtep\": \"192.0.2.%d\","
                               " \"underlay\": \"eth0\"}",
                               i, i);

        fixture_expect(a, "POST", "/v1/hosts", a->admin, host, 201, NULL);
        free(host);
    }
    fixture_expect(a, "POST", "/v1/ports", a->admin,
                   "{\"name\": \"p1\", \"network\": \"blue\", \"host\": "
                   "\"h1\"}",
                   201, NULL);

    assert_int_equal(fixture_call(b, "GET", "/v1/hosts/h1/desired-state",
                                  b->admin, NULL, NULL, &r),
                     200);
    assert_int_equal(json_array_size(json_object_get(
                         json_object_get(r.json, "document"), "ports")),
                     1);
    revision = json_integer_value(json_object_get(r.json, "revision"));
    reply_clear(&r);

    pthread_create(&thread, NULL, later_main, &later);
    path =
        xasprintf("/v1/hosts/h1/desired-state?since=%lld&wait=20", revision);
    start = time_msec();
    assert_int_equal(fixture_call(b, "GET", path, b->admin, NULL, NULL, &r),
                     200);
    /* Woken by the write, not by the end of the wait. */
    assert_true(time_msec() - start < 15000);
    pthread_join(thread, NULL);
    assert_true(json_is_false(json_object_get(r.json, "full")));
    {
        /* p2 on h2 is a remote of h1. */
        json_t *change = json_array_get(json_object_get(r.json, "changes"), 0);

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

    assert_int_equal(
        fixture_call(b, "GET", "/v1/ports/p2", b->admin, NULL, NULL, &r), 200);
    assert_string_equal(json_string_value(json_object_get(r.json, "host")),
                        "h2");
    reply_clear(&r);

    fixture_stop(b);
    fixture_stop(a);
}

/* With etcd gone, a change answers 503 saying the store is out of reach;
 * once etcd is back, nothing of it is there and it can be made. */
static void
test_etcd_down(void **state)
{
    struct fixture *f = fixture_start(30, false);
    struct reply r;

    fixture_expect(f, "POST", "/v1/networks", f->admin,
                   "{\"name\": \"blue\", \"cidr\": \"10.0.0.0/24\"}", 201,
                   NULL);
    etcd_members_kill(&members, 0);
    fixture_call(f, "POST", "/v1/networks", f->admin,
                 "{\"name\": \"red\", \"cidr\": \"10.1.0.0/24\"}", NULL, &r);
    assert_int_equal(r.status, 503);
    assert_non_null(strstr(r.body, "out of reach"));
    reply_clear(&r);
    fixture_call(f, "GET", "/v1/networks/blue", f->admin, NULL, NULL, &r);
    assert_int_equal(r.status, 503);
    reply_clear(&r);

    etcd_members_restart(&members, 0);
    assert_true(etcd_members_wait(&members));
    fixture_expect(f, "GET", "/v1/networks/red", f->admin, NULL, 404, NULL);
    fixture_expect(f, "GET", "/v1/networks/blue", f->admin, NULL, 200, NULL);
    fixture_expect(f, "POST", "/v1/networks", f->admin,
                   "{\"name\": \"red\", \"cidr\": \"10.1.0.0/24\"}", 201,
                   NULL);
    fixture_stop(f);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_write_through_a_wakes_b),
        cmocka_unit_test(test_etcd_down),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
