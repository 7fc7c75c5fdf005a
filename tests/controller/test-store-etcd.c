/* Tests for the controller's store over etcd (controller/store-etcd.c):
 * real etcd members started by the test on free ports of 127.0.0.1, each
 * test on a fresh prefix.  Two stores opened on one prefix play two
 * controllers. */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "controller/etcd.h"
#include "controller/store.h"
#include "tests/controller/etcd-members.h"
#include "utils/util.h"

/* One member for most tests, started once. */
static struct etcd_members single;
static int n_prefix;

struct fixture {
    char *url;           /* The store's URL, on a fresh prefix. */
    struct store *a, *b; /* Two "controllers" on it. */
};

static int
group_setup(void **state)
{
    return etcd_members_start(&single, 1) ? 0 : -1;
}

static int
group_teardown(void **state)
{
    etcd_members_destroy(&single);
    return 0;
}

static char *
fresh_url(const struct etcd_members *m)
{
    char prefix[64];

    snprintf(prefix, sizeof prefix, "/t%ld-%d", (long) getpid(), ++n_prefix);
    return etcd_members_url(m, prefix);
}

static int
setup(void **state)
{
    struct fixture *f = xzalloc(sizeof *f);

    f->url = fresh_url(&single);
    assert_int_equal(store_open(f->url, &f->a), 0);
    assert_int_equal(store_open(f->url, &f->b), 0);
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    struct fixture *f = *state;

    store_close(f->a);
    store_close(f->b);
    free(f->url);
    free(f);
    return 0;
}

/* Puts 'text' as (kind, name) in a transaction of its own. */
static int
put1(struct store *store, const char *kind, const char *name, const char *text,
     int64_t expected, int64_t *revision)
{
    struct store_txn *txn;
    json_t *body = json_loads(text, 0, NULL);
    int error;

    assert_non_null(body);
    assert_int_equal(store_begin(store, true, &txn), 0);
    error = store_put(txn, kind, name, body, expected, NULL);
    json_decref(body);
    if (error) {
        store_abort(txn);
        return error;
    }
    return store_commit(txn, revision);
}

static int
count_cb(const struct store_obj *obj, void *names_)
{
    json_array_append_new(names_, json_string(obj->name));
    return 0;
}

/* Creates, reads, updates, deletes, lists by pages and counts, with the
 * version checks of store.h and etcd's revisions. */
static void
test_crud(void **state)
{
    struct fixture *f = *state;
    struct store_obj obj;
    struct store_txn *txn;
    int64_t r1, r2;
    json_t *names;
    size_t n;

    assert_int_equal(
        put1(f->a, "network", "blue", "{\"vni\": 100}", STORE_CREATE, &r1), 0);
    assert_int_equal(put1(f->a, "network", "blue", "{}", STORE_CREATE, NULL),
                     EEXIST);
    assert_int_equal(put1(f->a, "network", "blue", "{}", 7, NULL), ESTALE);
    assert_int_equal(put1(f->a, "network", "none", "{}", 1, NULL), ENOENT);
    assert_int_equal(put1(f->a, "network", "blue", "{\"vni\": 101}", 1, &r2),
                     0);
    assert_true(r2 > r1);

    assert_int_equal(store_begin(f->b, false, &txn), 0);
    assert_int_equal(store_get(txn, "network", "blue", &obj), 0);
    assert_int_equal(json_integer_value(json_object_get(obj.body, "vni")),
                     101);
    assert_int_equal(obj.version, 2);
    assert_int_equal(obj.create_revision, r1);
    assert_int_equal(obj.mod_revision, r2);
    store_obj_clear(&obj);
    assert_int_equal(store_get(txn, "network", "red", &obj), ENOENT);
    assert_int_equal(
        store_put(txn, "network", "red", json_object(), STORE_ANY, NULL),
        EROFS);
    store_abort(txn);

    /* Names that sort around each other, listed two at a time. */
    const char *all[] = {"a", "a-b", "b", "bb", "c", "c0"};
    for (size_t i = 0; i < ARRAY_SIZE(all); i++) {
        assert_int_equal(put1(f->a, "port", all[i], "{}", STORE_CREATE, NULL),
                         0);
    }
    assert_int_equal(put1(f->a, "porta", "x", "{}", STORE_CREATE, NULL), 0);
    names = json_array();
    assert_int_equal(store_begin(f->b, false, &txn), 0);
    assert_int_equal(store_list(txn, "port", NULL, 2, count_cb, names), 0);
    assert_int_equal(store_list(txn, "port", "a-b", 2, count_cb, names), 0);
    assert_int_equal(store_list(txn, "port", "bb", 0, count_cb, names), 0);
    assert_int_equal(store_count(txn, "port", &n), 0);
    store_abort(txn);
    assert_int_equal(n, ARRAY_SIZE(all));
    assert_int_equal(json_array_size(names), ARRAY_SIZE(all));
    for (size_t i = 0; i < ARRAY_SIZE(all); i++) {
        assert_string_equal(json_string_value(json_array_get(names, i)),
                            all[i]);
    }
    json_decref(names);

    /* Deletes. */
    assert_int_equal(store_begin(f->a, true, &txn), 0);
    assert_int_equal(store_delete(txn, "port", "b", 5), ESTALE);
    assert_int_equal(store_delete(txn, "port", "zz", STORE_ANY), ENOENT);
    assert_int_equal(store_delete(txn, "port", "b", 1), 0);
    assert_int_equal(store_get(txn, "port", "b", &obj), ENOENT);
    assert_int_equal(store_commit(txn, NULL), 0);
    assert_int_equal(store_begin(f->b, false, &txn), 0);
    assert_int_equal(store_get(txn, "port", "b", &obj), ENOENT);
    assert_int_equal(store_count(txn, "port", &n), 0);
    assert_int_equal(n, ARRAY_SIZE(all) - 1);
    store_abort(txn);

    /* A kind with a '/' could not be told from a name. */
    assert_int_equal(put1(f->a, "a/b", "x", "{}", STORE_ANY, NULL), EINVAL);
}

/* A write transaction sees its own changes in get, list and count; an
 * aborted one leaves nothing; a read transaction keeps its snapshot while
 * another controller commits. */
static void
test_transactions(void **state)
{
    struct fixture *f = *state;
    struct store_txn *txn, *snap;
    struct store_obj obj;
    json_t *names = json_array();
    size_t n;

    assert_int_equal(put1(f->a, "vm", "b", "{\"x\": 1}", STORE_CREATE, NULL),
                     0);
    assert_int_equal(put1(f->a, "vm", "d", "{}", STORE_CREATE, NULL), 0);

    assert_int_equal(store_begin(f->b, false, &snap), 0);
    assert_int_equal(store_get(snap, "vm", "b", &obj), 0);
    store_obj_clear(&obj);

    assert_int_equal(store_begin(f->a, true, &txn), 0);
    assert_int_equal(
        store_put(txn, "vm", "a", json_object(), STORE_CREATE, NULL), 0);
    assert_int_equal(
        store_put(txn, "vm", "c", json_object(), STORE_CREATE, NULL), 0);
    assert_int_equal(store_delete(txn, "vm", "d", STORE_ANY), 0);
    assert_int_equal(
        store_put(txn, "vm", "b", json_pack("{si}", "x", 2), 1, NULL), 0);
    assert_int_equal(store_list(txn, "vm", NULL, 0, count_cb, names), 0);
    assert_int_equal(json_array_size(names), 3);
    assert_string_equal(json_string_value(json_array_get(names, 0)), "a");
    assert_string_equal(json_string_value(json_array_get(names, 1)), "b");
    assert_string_equal(json_string_value(json_array_get(names, 2)), "c");
    assert_int_equal(store_count(txn, "vm", &n), 0);
    assert_int_equal(n, 3);
    assert_int_equal(store_get(txn, "vm", "b", &obj), 0);
    assert_int_equal(obj.version, 2);
    store_obj_clear(&obj);
    store_abort(txn);

    /* Nothing of the aborted transaction is there. */
    assert_int_equal(store_begin(f->b, false, &txn), 0);
    assert_int_equal(store_count(txn, "vm", &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(store_get(txn, "vm", "a", &obj), ENOENT);
    store_abort(txn);

    /* Another controller's commit is not in the snapshot. */
    assert_int_equal(put1(f->a, "vm", "b", "{\"x\": 3}", STORE_ANY, NULL), 0);
    assert_int_equal(store_get(snap, "vm", "b", &obj), 0);
    assert_int_equal(json_integer_value(json_object_get(obj.body, "x")), 1);
    store_obj_clear(&obj);
    store_abort(snap);
    json_decref(names);
}

struct rmw {
    struct store *store; /* The controller this thread writes through. */
    int n;               /* Increments to make. */
};

static void *
rmw_main(void *rmw_)
{
    struct rmw *rmw = rmw_;

    for (int i = 0; i < rmw->n; i++) {
        struct store_txn *txn;
        struct store_obj obj;
        int error;

        error = store_begin(rmw->store, true, &txn);
        if (!error) {
            error = store_get(txn, "counter", "c", &obj);
        }
        if (!error) {
            json_int_t v = json_integer_value(json_object_get(obj.body, "n"));
            json_t *body = json_pack("{sI}", "n", v + 1);

            error = store_put(txn, "counter", "c", body, obj.version, NULL);
            json_decref(body);
            store_obj_clear(&obj);
        }
        error = error ? (store_abort(txn), error) : store_commit(txn, NULL);
        if (error) {
            fprintf(stderr, "increment failed: %s\n", strerror(error));
            abort();
        }
    }
    return NULL;
}

/* Read-modify-write transactions through two controllers at once lose no
 * increment: writers take turns across replicas. */
static void
test_writers_serialized(void **state)
{
    struct fixture *f = *state;
    struct rmw ra = {f->a, 25}, rb = {f->b, 25};
    pthread_t ta, tb;
    struct store_txn *txn;
    struct store_obj obj;

    assert_int_equal(
        put1(f->a, "counter", "c", "{\"n\": 0}", STORE_CREATE, NULL), 0);
    pthread_create(&ta, NULL, rmw_main, &ra);
    pthread_create(&tb, NULL, rmw_main, &rb);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    assert_int_equal(store_begin(f->b, false, &txn), 0);
    assert_int_equal(store_get(txn, "counter", "c", &obj), 0);
    assert_int_equal(json_integer_value(json_object_get(obj.body, "n")), 50);
    assert_int_equal(obj.version, 51);
    store_obj_clear(&obj);
    store_abort(txn);
}

struct later {
    struct store *store;
    const char *kind;
};

static void *
commit_later(void *later_)
{
    struct later *later = later_;

    usleep(300 * 1000);
    if (put1(later->store, later->kind, "late", "{}", STORE_ANY, NULL)) {
        abort();
    }
    return NULL;
}

/* What store_watch() reported, for test_watch_across(). */
struct seen {
    pthread_mutex_t mutex; /* Guards 'changes'. */
    json_t *changes;       /* [revision, kind, name] each. */
};

static void
seen_cb(int64_t revision, const char *kind, const char *name, void *seen_)
{
    struct seen *seen = seen_;

    pthread_mutex_lock(&seen->mutex);
    json_array_append_new(seen->changes,
                          json_pack("[Iss]", (json_int_t) revision,
                                    kind ? kind : "*", name ? name : "*"));
    pthread_mutex_unlock(&seen->mutex);
}

/* A commit through controller A wakes a store_wait_kinds() of the kind on
 * controller B (through B's watch), and not one of other kinds;
 * store_kind_revision() on B follows A's commits. */
static void
test_watch_across(void **state)
{
    static const char *const ports[] = {"port"};
    static const char *const vms[] = {"vm"};
    struct fixture *f = *state;
    struct later later = {f->a, "port"};
    int64_t start = store_revision(f->b);
    int64_t committed;
    pthread_t t;

    pthread_create(&t, NULL, commit_later, &later);
    assert_int_equal(store_wait_kinds(f->b, vms, 1, start, 1500), ETIMEDOUT);
    pthread_join(t, NULL);
    assert_int_equal(store_wait_kinds(f->b, ports, 1, start, 10000), 0);
    assert_true(store_kind_revision(f->b, "port") > start);
    assert_int_equal(store_kind_revision(f->b, "vm"), 0);

    /* B's store_watch() hears of each object of A's commits, in order,
     * before B's revision moves past them. */
    struct seen seen = {PTHREAD_MUTEX_INITIALIZER, json_array()};
    struct store_txn *txn;
    int64_t first;
    store_watch(f->b, seen_cb, &seen);
    assert_int_equal(put1(f->a, "vm", "w", "{}", STORE_ANY, &first), 0);
    assert_int_equal(store_begin(f->a, true, &txn), 0);
    assert_int_equal(
        store_put(txn, "vm", "x/1", json_object(), STORE_ANY, NULL), 0);
    assert_int_equal(store_delete(txn, "vm", "w", STORE_ANY), 0);
    assert_int_equal(store_commit(txn, &committed), 0);
    assert_int_equal(store_wait(f->b, committed - 1, 10000), 0);
    store_unwatch(f->b, seen_cb, &seen);
    pthread_mutex_lock(&seen.mutex);
    json_t *expected = json_pack("[[Iss][Iss][Iss]]", (json_int_t) first, "vm",
                                 "w", (json_int_t) committed, "vm", "x/1",
                                 (json_int_t) committed, "vm", "w");
    assert_true(json_equal(seen.changes, expected));
    pthread_mutex_unlock(&seen.mutex);
    json_decref(expected);
    json_decref(seen.changes);

    assert_int_equal(put1(f->a, "vm", "v", "{}", STORE_ANY, &committed), 0);
    assert_int_equal(store_wait_kinds(f->b, vms, 1, committed - 1, 10000), 0);
    assert_int_equal(store_kind_revision(f->b, "vm"), committed);
    assert_int_equal(store_wait(f->b, committed - 1, 10000), 0);
    assert_true(store_revision(f->b) >= committed);
}

/* Malformed URLs and an etcd that is not there fail at open, quickly and
 * naming the problem; a prefix holding keys that are not a store, and a
 * schema newer than this program, are refused with nothing written. */
static void
test_open_errors(void **state)
{
    static const char *const bad[] = {
        "etcd://",
        "etcd:///fabric",
        "etcd://127.0.0.1",
        "etcd://127.0.0.1:0",
        "etcd://127.0.0.1:65536",
        "etcd://127.0.0.1:2379,",
        "etcd://,127.0.0.1:2379",
        "etcd://127.0.0.1:x",
        "etcd://127.0.0.1:2379/a//b",
        "etcd://127.0.0.1:2379/p?x=1",
    };
    struct store *store = (void *) &store;
    char *endpoint, *url, *prefix;
    int64_t start;
    struct etcd *etcd;
    json_t *reply, *request;

    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        assert_int_equal(store_open(bad[i], &store), EINVAL);
        assert_null(store);
    }
    assert_int_equal(store_open("etcdx://127.0.0.1:1", &store),
                     EPROTONOSUPPORT);

    /* Nothing listens there. */
    url = xasprintf("etcd://127.0.0.1:%d/x", etcd_members_free_port());
    start = time_msec();
    assert_int_equal(store_open(url, &store), ENOTCONN);
    assert_true(time_msec() - start < 5000);
    free(url);

    /* Keys that are not a store's, and a schema from the future. */
    endpoint = xasprintf("http://127.0.0.1:%d", single.client_ports[0]);
    etcd = etcd_create(&endpoint, 1);
    prefix = xasprintf("/foreign%ld", (long) getpid());
    char *k = xasprintf("%s/something", prefix);
    char *k64 = etcd_b64(k, strlen(k));
    request = json_pack("{ssss}", "key", k64, "value", "eA==");
    assert_int_equal(etcd_call(etcd, "/v3/kv/put", request, false, &reply), 0);
    json_decref(reply);
    json_decref(request);
    url = etcd_members_url(&single, prefix);
    assert_int_equal(store_open(url, &store), EPROTO);
    free(url);

    char *schema = xasprintf("%s-new/meta/schema", prefix);
    char *schema64 = etcd_b64(schema, strlen(schema));
    request =
        json_pack("{ssss}", "key", schema64, "value", "OTk5"); /* "999" */
    assert_int_equal(etcd_call(etcd, "/v3/kv/put", request, false, &reply), 0);
    json_decref(reply);
    json_decref(request);
    url =
        xasprintf("etcd://127.0.0.1:%d%s-new", single.client_ports[0], prefix);
    assert_int_equal(store_open(url, &store), EPROTO);
    free(url);

    /* Neither open wrote anything: one key under each prefix. */
    char *all = xasprintf("%s", prefix);
    char *all64 = etcd_b64(all, strlen(all));
    all[strlen(all) - 1]++;
    char *end64 = etcd_b64(all, strlen(all));
    request = json_pack("{ssss sb}", "key", all64, "range_end", end64,
                        "count_only", 1);
    assert_int_equal(etcd_call(etcd, "/v3/kv/range", request, true, &reply),
                     0);
    assert_int_equal(etcd_int(reply, "count"), 2);
    json_decref(reply);
    json_decref(request);

    free(all);
    free(all64);
    free(end64);
    free(schema);
    free(schema64);
    free(k);
    free(k64);
    free(prefix);
    etcd_destroy(etcd);
    free(endpoint);
}

/* A value in etcd that is not JSON is reported as EIO naming the object,
 * by get and list, and the other objects still read. */
static void
test_not_json(void **state)
{
    struct fixture *f = *state;
    char *endpoint = xasprintf("http://127.0.0.1:%d", single.client_ports[0]);
    struct etcd *etcd = etcd_create(&endpoint, 1);
    const char *prefix = strchr(f->url + 7, '/');
    char *key = xasprintf("%s/o/network/bad", prefix);
    char *key64 = etcd_b64(key, strlen(key));
    char *value64 = etcd_b64("{\"vni\": ", 8);
    json_t *request = json_pack("{ssss}", "key", key64, "value", value64);
    json_t *reply, *names = json_array();
    struct store_txn *txn;
    struct store_obj obj;

    assert_int_equal(put1(f->a, "network", "good", "{}", STORE_CREATE, NULL),
                     0);
    assert_int_equal(etcd_call(etcd, "/v3/kv/put", request, false, &reply), 0);
    json_decref(reply);
    assert_int_equal(store_begin(f->b, false, &txn), 0);
    assert_int_equal(store_get(txn, "network", "bad", &obj), EIO);
    assert_int_equal(store_get(txn, "network", "good", &obj), 0);
    store_obj_clear(&obj);
    assert_int_equal(store_list(txn, "network", NULL, 0, count_cb, names),
                     EIO);
    store_abort(txn);

    json_decref(names);
    json_decref(request);
    free(value64);
    free(key64);
    free(key);
    etcd_destroy(etcd);
    free(endpoint);
}

/* A transaction larger than etcd accepts fails with EFBIG, commits
 * nothing, and gives the write lock back. */
static void
test_too_large(void **state)
{
    struct fixture *f = *state;
    size_t big = 2 * 1024 * 1024;
    char *text = xmalloc(big + 1);
    struct store_txn *txn;
    struct store_obj obj;

    memset(text, 'x', big);
    text[big] = '\0';
    assert_int_equal(store_begin(f->a, true, &txn), 0);
    assert_int_equal(
        store_put(txn, "image", "small", json_object(), STORE_CREATE, NULL),
        0);
    assert_int_equal(
        store_put(txn, "image", "big", json_string(text), STORE_CREATE, NULL),
        0);
    assert_int_equal(store_commit(txn, NULL), EFBIG);
    free(text);

    assert_int_equal(put1(f->b, "image", "after", "{}", STORE_CREATE, NULL),
                     0);
    assert_int_equal(store_begin(f->b, false, &txn), 0);
    assert_int_equal(store_get(txn, "image", "small", &obj), ENOENT);
    assert_int_equal(store_get(txn, "image", "big", &obj), ENOENT);
    store_abort(txn);
}

/* With the one member down, a commit fails with ENOTCONN; once it is back
 * nothing of the transaction is there and writes work again. */
static void
test_member_down_mid_write(void **state)
{
    struct etcd_members m;
    struct store_txn *txn;
    struct store_obj obj;
    struct store *store;
    char *url;

    assert_true(etcd_members_start(&m, 1));
    url = etcd_members_url(&m, "/down");
    assert_int_equal(store_open(url, &store), 0);
    assert_int_equal(store_begin(store, true, &txn), 0);
    assert_int_equal(
        store_put(txn, "network", "a", json_object(), STORE_CREATE, NULL), 0);
    assert_int_equal(
        store_put(txn, "network", "b", json_object(), STORE_CREATE, NULL), 0);
    etcd_members_kill(&m, 0);
    assert_int_equal(store_commit(txn, NULL), ENOTCONN);
    assert_int_equal(store_begin(store, false, &txn), 0);
    assert_int_equal(store_get(txn, "network", "a", &obj), ENOTCONN);
    store_abort(txn);

    etcd_members_restart(&m, 0);
    assert_true(etcd_members_wait(&m));
    assert_int_equal(store_begin(store, false, &txn), 0);
    assert_int_equal(store_get(txn, "network", "a", &obj), ENOENT);
    assert_int_equal(store_get(txn, "network", "b", &obj), ENOENT);
    store_abort(txn);
    assert_int_equal(put1(store, "network", "c", "{}", STORE_CREATE, NULL), 0);

    store_close(store);
    free(url);
    etcd_members_destroy(&m);
}

/* In a cluster of three, killing the member a controller talks to first
 * does not stop its writes, nor another controller's watch of them. */
static void
test_member_killed(void **state)
{
    static const char *const kinds[] = {"network"};
    struct etcd_members m;
    struct store *a, *b;
    int64_t committed;
    char *url;

    assert_true(etcd_members_start(&m, 3));
    url = etcd_members_url(&m, "/three");
    assert_int_equal(store_open(url, &a), 0);
    assert_int_equal(store_open(url, &b), 0);
    assert_int_equal(put1(a, "network", "before", "{}", STORE_CREATE, NULL),
                     0);
    etcd_members_kill(&m, 0);
    assert_int_equal(
        put1(a, "network", "after", "{}", STORE_CREATE, &committed), 0);
    assert_int_equal(store_wait_kinds(b, kinds, 1, committed - 1, 15000), 0);

    store_close(a);
    store_close(b);
    free(url);
    etcd_members_destroy(&m);
}

/* Two candidates, each through its own member of a cluster of three: one
 * leads; when its member is cut off (stopped), it stops leading within its
 * lease, and only then does the other lead.  When the new leader resigns,
 * the first (reconnected) takes over at once. */
static void
test_election_partition(void **state)
{
    struct etcd_members m;
    struct store *sa, *sb;
    struct store_election *a, *b;
    char *url_a, *url_b, *leader;
    int64_t a_ended, b_began;

    assert_true(etcd_members_start(&m, 3));
    url_a = xasprintf("etcd://127.0.0.1:%d/el", m.client_ports[0]);
    url_b = xasprintf("etcd://127.0.0.1:%d,127.0.0.1:%d/el", m.client_ports[1],
                      m.client_ports[2]);
    assert_int_equal(store_open(url_a, &sa), 0);
    assert_int_equal(store_open(url_b, &sb), 0);

    assert_int_equal(store_election_start(sa, "ha", "http://a", 2000, &a), 0);
    assert_int_equal(store_election_start(sb, "ha", "http://b", 2000, &b), 0);
    assert_true(store_election_is_leader(a));
    assert_false(store_election_is_leader(b));
    leader = store_election_leader(b);
    assert_string_equal(leader, "http://a");
    free(leader);
    /* B stays a follower while A keeps its lease alive. */
    assert_int_equal(store_election_wait(b, false, 3000), ETIMEDOUT);

    etcd_members_pause(&m, 0, true);
    assert_int_equal(store_election_wait(a, true, 10000), 0);
    a_ended = time_msec();
    assert_int_equal(store_election_wait(b, false, 15000), 0);
    b_began = time_msec();
    assert_true(store_election_is_leader(b));
    assert_false(store_election_is_leader(a));
    assert_true(a_ended <= b_began);
    leader = store_election_leader(b);
    assert_string_equal(leader, "http://b");
    free(leader);

    /* A comes back as a follower; B resigns; A takes over well before a
     * lease would have lapsed. */
    etcd_members_pause(&m, 0, false);
    assert_int_equal(store_election_wait(a, false, 3000), ETIMEDOUT);
    store_election_stop(b);
    assert_int_equal(store_election_wait(a, false, 1900), 0);

    store_election_stop(a);
    store_close(sa);
    store_close(sb);
    free(url_a);
    free(url_b);
    etcd_members_destroy(&m);
}

static int
collect_cb(const struct store_obj *obj, void *all_)
{
    json_t *all = all_;
    char *key = xasprintf("%s/%s", obj->kind, obj->name);

    json_object_set(all, key, obj->body);
    if (obj->version != 1) {
        json_object_set_new(all, "bad-version", json_string(key));
    }
    free(key);
    return 0;
}

/* Every object of 'store', "KIND/NAME": body. */
static json_t *
everything(struct store *store)
{
    json_t *all = json_object();
    struct store_txn *txn;
    char **kinds;
    size_t n;

    assert_int_equal(store_begin(store, false, &txn), 0);
    assert_int_equal(store_kinds(txn, &kinds, &n), 0);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(store_list(txn, kinds[i], NULL, 0, collect_cb, all),
                         0);
        free(kinds[i]);
    }
    free(kinds);
    store_abort(txn);
    return all;
}

/* The kinds of 'store', in store_kinds()'s order. */
static json_t *
kinds_of(struct store *store)
{
    json_t *array = json_array();
    struct store_txn *txn;
    char **kinds;
    size_t n;

    assert_int_equal(store_begin(store, false, &txn), 0);
    assert_int_equal(store_kinds(txn, &kinds, &n), 0);
    for (size_t i = 0; i < n; i++) {
        json_array_append_new(array, json_string(kinds[i]));
        free(kinds[i]);
    }
    free(kinds);
    store_abort(txn);
    return array;
}

/* store_copy() (fabric-controller --migrate-store) from SQLite to etcd,
 * in batches, and back: every object, body and name, at version 1, with
 * counts per kind; a store that holds objects is refused, untouched. */
static void
test_copy(void **state)
{
    struct fixture *f = *state;
    const char *tmp = getenv("TMPDIR");
    char *dir =
        xasprintf("%s/fabric-test-copy.XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
    struct store *sqlite, *back;
    json_t *counts, *orig, *copy;
    struct store_txn *txn;
    char *path, *path2;

    assert_non_null(mkdtemp(dir));
    path = xasprintf("%s/from.db", dir);
    path2 = xasprintf("%s/back.db", dir);
    assert_int_equal(store_open(path, &sqlite), 0);
    assert_int_equal(store_begin(sqlite, true, &txn), 0);
    for (int i = 0; i < 250; i++) {
        char name[16];

        snprintf(name, sizeof name, "p%03d", i);
        assert_int_equal(store_put(txn, "port", name,
                                   json_pack("{si}", "i", i), STORE_CREATE,
                                   NULL),
                         0);
    }
    assert_int_equal(store_commit(txn, NULL), 0);
    assert_int_equal(
        put1(sqlite, "network", "blue", "{\"vni\": 7}", STORE_CREATE, NULL),
        0);
    assert_int_equal(put1(sqlite, "network", "blue", "{\"vni\": 8}", 1, NULL),
                     0);
    /* etcd's keys sort "port-identity/" before "port/". */
    assert_int_equal(
        put1(sqlite, "port-identity", "x", "{}", STORE_CREATE, NULL), 0);

    assert_int_equal(store_copy(sqlite, f->a, &counts), 0);
    assert_int_equal(json_integer_value(json_object_get(counts, "port")), 250);
    assert_int_equal(json_integer_value(json_object_get(counts, "network")),
                     1);
    assert_int_equal(json_object_size(counts), 3);
    json_decref(counts);
    json_t *kinds = kinds_of(f->b);
    json_t *expected_kinds = kinds_of(sqlite);
    assert_true(json_equal(kinds, expected_kinds));
    assert_string_equal(json_string_value(json_array_get(kinds, 1)), "port");
    json_decref(kinds);
    json_decref(expected_kinds);

    orig = everything(sqlite);
    json_object_del(orig, "bad-version"); /* blue is at version 2 there. */
    copy = everything(f->b);
    assert_true(json_equal(orig, copy));
    assert_int_equal(json_object_size(copy), 252);

    /* Not into a store with objects, and nothing added there. */
    assert_int_equal(store_copy(sqlite, f->a, &counts), EEXIST);
    assert_null(counts);
    json_decref(copy);
    copy = everything(f->b);
    assert_int_equal(json_object_size(copy), 252);
    json_decref(copy);

    /* And back to SQLite. */
    assert_int_equal(store_open(path2, &back), 0);
    assert_int_equal(store_copy(f->b, back, &counts), 0);
    json_decref(counts);
    copy = everything(back);
    assert_true(json_equal(orig, copy));

    json_decref(copy);
    json_decref(orig);
    store_close(back);
    store_close(sqlite);
    remove_tree(dir);
    free(path);
    free(path2);
    free(dir);
}

/* store_status() names the backend, the members and the prefix. */
static void
test_status(void **state)
{
    struct fixture *f = *state;
    json_t *status = store_status(f->a);
    char *endpoint = xasprintf("http://127.0.0.1:%d", single.client_ports[0]);

    assert_string_equal(json_string_value(json_object_get(status, "backend")),
                        "etcd");
    assert_string_equal(json_string_value(json_array_get(
                            json_object_get(status, "endpoints"), 0)),
                        endpoint);
    assert_string_equal(json_string_value(json_object_get(status, "prefix")),
                        strchr(f->url + 7, '/'));
    json_decref(status);
    free(endpoint);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_crud, setup, teardown),
        cmocka_unit_test_setup_teardown(test_transactions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_writers_serialized, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_watch_across, setup, teardown),
        cmocka_unit_test(test_open_errors),
        cmocka_unit_test_setup_teardown(test_not_json, setup, teardown),
        cmocka_unit_test_setup_teardown(test_too_large, setup, teardown),
        cmocka_unit_test_setup_teardown(test_status, setup, teardown),
        cmocka_unit_test_setup_teardown(test_copy, setup, teardown),
        cmocka_unit_test(test_member_down_mid_write),
        cmocka_unit_test(test_member_killed),
        cmocka_unit_test(test_election_partition),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
