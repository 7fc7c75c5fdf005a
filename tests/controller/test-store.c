/* Tests for the controller's store (controller/store.h) over SQLite.
 *
 * Every test opens a store on a real database file in a fresh temporary
 * directory, removed afterwards.  The migration tests build old and future
 * databases with raw SQLite calls, written down here from the schema's
 * history rather than taken from the store's code, so that they catch a
 * released migration step being changed. */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <sqlite3.h>

#include "controller/store.h"
#include "utils/util.h"

/* The schema version the store writes today. */
#define CURRENT_SCHEMA 3

/* One test's world. */
struct fixture {
    char dir[256];       /* Temporary directory, removed at the end. */
    char path[512];      /* The database file in it. */
    struct store *store; /* Open on 'path', or NULL. */
};

static int
setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    const char *tmp = getenv("TMPDIR");

    assert_non_null(f);
    assert_true((size_t) snprintf(f->dir, sizeof f->dir,
                                  "%s/fabric-test-store.XXXXXX",
                                  tmp && tmp[0] ? tmp : "/tmp")
                < sizeof f->dir);
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof f->path, "%s/store.db", f->dir);
    *state = f;
    return 0;
}

/* Like setup(), with the store open. */
static int
setup_open(void **state)
{
    struct fixture *f;

    setup(state);
    f = *state;
    assert_int_equal(store_open(f->path, &f->store), 0);
    return 0;
}

static int
teardown(void **state)
{
    struct fixture *f = *state;

    store_close(f->store);
    remove_tree(f->dir);
    free(f);
    return 0;
}

static void
reopen(struct fixture *f)
{
    store_close(f->store);
    f->store = NULL;
    assert_int_equal(store_open(f->path, &f->store), 0);
}

static json_t *
parse(const char *text)
{
    json_t *json = json_loads(text, 0, NULL);

    assert_non_null(json);
    return json;
}

/* Writes 'body' (JSON text) as (kind, name) in a transaction of its own.
 * Returns store_put()'s answer; the new version goes into '*version'. */
static int
put1(struct store *store, const char *kind, const char *name, const char *body,
     int64_t expected, int64_t *version)
{
    struct store_txn *txn;
    json_t *json = parse(body);
    int error;

    assert_int_equal(store_begin(store, true, &txn), 0);
    error = store_put(txn, kind, name, json, expected, version);
    json_decref(json);
    if (error) {
        store_abort(txn);
    } else {
        assert_int_equal(store_commit(txn, NULL), 0);
    }
    return error;
}

/* Reads (kind, name) in a read transaction of its own. */
static int
get1(struct store *store, const char *kind, const char *name,
     struct store_obj *obj)
{
    struct store_txn *txn;
    int error;

    assert_int_equal(store_begin(store, false, &txn), 0);
    error = store_get(txn, kind, name, obj);
    assert_int_equal(store_commit(txn, NULL), 0);
    return error;
}

static int
delete1(struct store *store, const char *kind, const char *name,
        int64_t expected)
{
    struct store_txn *txn;
    int error;

    assert_int_equal(store_begin(store, true, &txn), 0);
    error = store_delete(txn, kind, name, expected);
    if (error) {
        store_abort(txn);
    } else {
        assert_int_equal(store_commit(txn, NULL), 0);
    }
    return error;
}

/* Asserts that 'obj''s body is the JSON text 'expect'. */
static void
assert_body(const struct store_obj *obj, const char *expect)
{
    json_t *json = parse(expect);

    assert_true(json_equal(obj->body, json));
    json_decref(json);
}

static double
now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

/* Runs 'sql' on the database file 'path' with a connection of its own. */
static void
raw_exec(const char *path, const char *sql)
{
    sqlite3 *db;
    char *msg = NULL;

    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        fail_msg("%s: %s", sql, msg);
    }
    sqlite3_close(db);
}

/* Returns the integer that 'sql' answers on the database file 'path'. */
static int64_t
raw_int(const char *path, const char *sql)
{
    sqlite3_stmt *stmt;
    sqlite3 *db;
    int64_t value;

    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &stmt, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
    value = sqlite3_column_int64(stmt, 0);
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    return value;
}

/* A store opens on a plain path or "sqlite:PATH", in an existing directory
 * only, and refuses other schemes and files that are not fabric stores. */
static void
test_open(void **state)
{
    struct fixture *f = *state;
    struct store *store;
    char url[600];

    snprintf(url, sizeof url, "sqlite:%s", f->path);
    assert_int_equal(store_open(url, &store), 0);
    assert_int_equal(store_revision(store), 0);
    store_close(store);
    assert_int_equal(raw_int(f->path, "SELECT journal_mode = 'wal'"
                                      " FROM pragma_journal_mode"),
                     1);

    snprintf(url, sizeof url, "%s/missing/store.db", f->dir);
    assert_int_equal(store_open(url, &store), ENOENT);
    assert_null(store);
    snprintf(url, sizeof url, "%s/missing", f->dir);
    assert_int_equal(access(url, F_OK), -1);

    assert_int_equal(store_open("redis://127.0.0.1:6379", &store),
                     EPROTONOSUPPORT);
    assert_null(store);
    assert_int_equal(store_open("sqlite:", &store), EINVAL);
    assert_int_equal(store_open("", &store), EINVAL);
    assert_int_equal(store_open(":memory:", &store), EINVAL);

    /* An SQLite database of something else. */
    snprintf(url, sizeof url, "%s/other.db", f->dir);
    raw_exec(url, "CREATE TABLE t (x)");
    assert_int_equal(store_open(url, &store), EPROTO);
    assert_null(store);

    /* A file that is no database at all. */
    snprintf(url, sizeof url, "%s/text.db", f->dir);
    FILE *file = fopen(url, "w");
    assert_non_null(file);
    fputs("this is not an SQLite database, but it is long enough to look "
          "like a header of one to anyone who only checks the length\n",
          file);
    fclose(file);
    assert_int_equal(store_open(url, &store), EIO);
    assert_null(store);
}

/* Creating, reading and updating an object, with its version and
 * revisions. */
static void
test_create_get_update(void **state)
{
    struct fixture *f = *state;
    struct store_obj obj;
    int64_t version = 0;

    assert_int_equal(put1(f->store, "network", "blue",
                          "{\"vni\": 100, \"cidr\": \"10.0.0.0/24\"}",
                          STORE_CREATE, &version),
                     0);
    assert_int_equal(version, 1);

    assert_int_equal(get1(f->store, "network", "blue", &obj), 0);
    assert_string_equal(obj.kind, "network");
    assert_string_equal(obj.name, "blue");
    assert_int_equal(obj.version, 1);
    assert_int_equal(obj.create_revision, 1);
    assert_int_equal(obj.mod_revision, 1);
    assert_body(&obj, "{\"vni\": 100, \"cidr\": \"10.0.0.0/24\"}");
    store_obj_clear(&obj);
    assert_null(obj.body);
    store_obj_clear(NULL);

    /* An update based on version 1. */
    assert_int_equal(put1(f->store, "network", "blue",
                          "{\"vni\": 100, \"mtu\": 9000}", 1, &version),
                     0);
    assert_int_equal(version, 2);
    assert_int_equal(get1(f->store, "network", "blue", &obj), 0);
    assert_int_equal(obj.version, 2);
    assert_int_equal(obj.create_revision, 1);
    assert_int_equal(obj.mod_revision, 2);
    assert_body(&obj, "{\"vni\": 100, \"mtu\": 9000}");
    store_obj_clear(&obj);

    /* An update of whatever is there, and a creation through STORE_ANY. */
    assert_int_equal(
        put1(f->store, "network", "blue", "{}", STORE_ANY, &version), 0);
    assert_int_equal(version, 3);
    assert_int_equal(
        put1(f->store, "network", "red", "[1, 2]", STORE_ANY, &version), 0);
    assert_int_equal(version, 1);
    assert_int_equal(get1(f->store, "network", "red", &obj), 0);
    assert_int_equal(obj.create_revision, 4);
    assert_body(&obj, "[1, 2]");
    store_obj_clear(&obj);

    /* The same name in another kind is another object. */
    assert_int_equal(get1(f->store, "port", "blue", &obj), ENOENT);
    assert_null(obj.body);
    assert_int_equal(put1(f->store, "port", "blue", "{}", STORE_CREATE, NULL),
                     0);
    assert_int_equal(store_revision(f->store), 5);
}

/* Each way a write can be refused. */
static void
test_put_errors(void **state)
{
    struct fixture *f = *state;
    struct store_txn *txn;
    struct store_obj obj;
    json_t *body = json_object();
    int64_t version = 42;

    assert_int_equal(put1(f->store, "host", "h1", "{}", STORE_CREATE, NULL),
                     0);
    assert_int_equal(put1(f->store, "host", "h1", "{}", 1, NULL), 0);

    assert_int_equal(
        put1(f->store, "host", "h1", "{\"x\": 1}", STORE_CREATE, &version),
        EEXIST);
    assert_int_equal(version, 42);
    assert_int_equal(put1(f->store, "host", "h1", "{\"x\": 1}", 1, NULL),
                     ESTALE);
    assert_int_equal(put1(f->store, "host", "h1", "{\"x\": 1}", 3, NULL),
                     ESTALE);
    assert_int_equal(put1(f->store, "host", "h2", "{\"x\": 1}", 1, NULL),
                     ENOENT);

    /* Nothing of those reached the object. */
    assert_int_equal(get1(f->store, "host", "h1", &obj), 0);
    assert_int_equal(obj.version, 2);
    assert_body(&obj, "{}");
    store_obj_clear(&obj);
    assert_int_equal(store_revision(f->store), 2);

    assert_int_equal(store_begin(f->store, true, &txn), 0);
    assert_int_equal(store_put(txn, NULL, "h1", body, STORE_ANY, NULL),
                     EINVAL);
    assert_int_equal(store_put(txn, "", "h1", body, STORE_ANY, NULL), EINVAL);
    assert_int_equal(store_put(txn, "host", NULL, body, STORE_ANY, NULL),
                     EINVAL);
    assert_int_equal(store_put(txn, "host", "", body, STORE_ANY, NULL),
                     EINVAL);
    assert_int_equal(store_put(txn, "host", "h1", NULL, STORE_ANY, NULL),
                     EINVAL);
    assert_int_equal(store_put(txn, "host", "h1", body, -2, NULL), EINVAL);
    assert_int_equal(store_get(txn, NULL, "h1", &obj), EINVAL);
    assert_int_equal(store_get(txn, "host", "", &obj), EINVAL);
    assert_int_equal(store_delete(txn, "host", "", STORE_ANY), EINVAL);
    /* The refusals do not spoil the transaction. */
    assert_int_equal(store_put(txn, "host", "h3", body, STORE_CREATE, NULL),
                     0);
    assert_int_equal(store_commit(txn, NULL), 0);
    assert_int_equal(store_revision(f->store), 3);

    /* A read transaction cannot write. */
    assert_int_equal(store_begin(f->store, false, &txn), 0);
    assert_int_equal(store_put(txn, "host", "h4", body, STORE_ANY, NULL),
                     EROFS);
    assert_int_equal(store_delete(txn, "host", "h1", STORE_ANY), EROFS);
    store_abort(txn);
    store_abort(NULL);
    json_decref(body);
}

static void
test_delete(void **state)
{
    struct fixture *f = *state;
    struct store_obj obj;

    assert_int_equal(delete1(f->store, "port", "p1", STORE_ANY), ENOENT);
    assert_int_equal(put1(f->store, "port", "p1", "{}", STORE_CREATE, NULL),
                     0);
    assert_int_equal(put1(f->store, "port", "p2", "{}", STORE_CREATE, NULL),
                     0);
    assert_int_equal(put1(f->store, "port", "p2", "{}", 1, NULL), 0);

    assert_int_equal(delete1(f->store, "port", "p1", 2), ESTALE);
    assert_int_equal(delete1(f->store, "port", "p1", STORE_CREATE), EINVAL);
    assert_int_equal(delete1(f->store, "port", "p1", 1), 0);
    assert_int_equal(get1(f->store, "port", "p1", &obj), ENOENT);
    assert_int_equal(delete1(f->store, "port", "p1", 1), ENOENT);
    assert_int_equal(delete1(f->store, "port", "p2", STORE_ANY), 0);
    assert_int_equal(get1(f->store, "port", "p2", &obj), ENOENT);
    assert_int_equal(store_revision(f->store), 5);

    /* A name can be used again, starting from version 1. */
    int64_t version;
    assert_int_equal(
        put1(f->store, "port", "p1", "{}", STORE_CREATE, &version), 0);
    assert_int_equal(version, 1);
    assert_int_equal(get1(f->store, "port", "p1", &obj), 0);
    assert_int_equal(obj.create_revision, 6);
    store_obj_clear(&obj);
}

/* Collects the names store_list() passes, and stops after 'stop_after'
 * (if nonzero) with a recognizable value. */
struct names {
    char *names[64];   /* Names seen, in order. */
    size_t n;          /* Number of names seen. */
    size_t stop_after; /* Stop after this many, or 0. */
};

static int
collect(const struct store_obj *obj, void *names_)
{
    struct names *names = names_;

    assert_string_equal(obj->kind, "port");
    assert_true(json_is_object(obj->body));
    assert_int_equal(json_integer_value(json_object_get(obj->body, "n")),
                     atoi(obj->name + 5));
    assert_true(names->n < 64);
    names->names[names->n++] = strdup(obj->name);
    return names->stop_after && names->n == names->stop_after ? 1234 : 0;
}

static void
names_clear(struct names *names)
{
    for (size_t i = 0; i < names->n; i++) {
        free(names->names[i]);
    }
    memset(names, 0, sizeof *names);
}

/* Listing pages through a kind in name order, whatever order the objects
 * were created in. */
static void
test_list(void **state)
{
    struct fixture *f = *state;
    struct store_txn *txn;
    struct names names = {0};
    char after[32] = "";
    size_t count;
    int pages;

    /* port-00 .. port-24, created in a scrambled order (7 is coprime with
     * 25), and objects of other kinds around them. */
    assert_int_equal(store_begin(f->store, true, &txn), 0);
    for (int i = 0; i < 25; i++) {
        int n = i * 7 % 25;
        char name[16];
        json_t *body = json_pack("{si}", "n", n);

        snprintf(name, sizeof name, "port-%02d", n);
        assert_int_equal(
            store_put(txn, "port", name, body, STORE_CREATE, NULL), 0);
        json_decref(body);
        assert_int_equal(
            store_put(txn, "portx", name, json_null(), STORE_CREATE, NULL), 0);
    }
    assert_int_equal(
        store_put(txn, "net", "a", json_null(), STORE_CREATE, NULL), 0);
    assert_int_equal(store_commit(txn, NULL), 0);

    /* Pages of 10: 10, 10, 5. */
    assert_int_equal(store_begin(f->store, false, &txn), 0);
    for (pages = 0;; pages++) {
        size_t before = names.n;

        assert_int_equal(store_list(txn, "port", after[0] ? after : NULL, 10,
                                    collect, &names),
                         0);
        if (names.n == before) {
            break;
        }
        assert_true(names.n - before <= 10);
        snprintf(after, sizeof after, "%s", names.names[names.n - 1]);
    }
    assert_int_equal(pages, 3);
    assert_int_equal(names.n, 25);
    for (size_t i = 0; i < names.n; i++) {
        char name[32];

        snprintf(name, sizeof name, "port-%02zu", i);
        assert_string_equal(names.names[i], name);
    }
    names_clear(&names);

    /* No limit; after a name that is not there; after the last. */
    assert_int_equal(store_list(txn, "port", NULL, 0, collect, &names), 0);
    assert_int_equal(names.n, 25);
    names_clear(&names);
    assert_int_equal(store_list(txn, "port", "port-10x", 3, collect, &names),
                     0);
    assert_int_equal(names.n, 3);
    assert_string_equal(names.names[0], "port-11");
    names_clear(&names);
    assert_int_equal(store_list(txn, "port", "port-24", 0, collect, &names),
                     0);
    assert_int_equal(names.n, 0);

    /* The callback stops the listing. */
    names.stop_after = 4;
    assert_int_equal(store_list(txn, "port", NULL, 0, collect, &names), 1234);
    assert_int_equal(names.n, 4);
    names_clear(&names);

    assert_int_equal(store_count(txn, "port", &count), 0);
    assert_int_equal(count, 25);
    assert_int_equal(store_count(txn, "net", &count), 0);
    assert_int_equal(count, 1);
    assert_int_equal(store_count(txn, "nothing", &count), 0);
    assert_int_equal(count, 0);
    assert_int_equal(store_count(txn, NULL, &count), EINVAL);
    assert_int_equal(store_list(txn, NULL, NULL, 0, collect, &names), EINVAL);
    assert_int_equal(store_commit(txn, NULL), 0);
}

/* The revision moves once per write transaction that committed a change,
 * and all of its objects carry it. */
static void
test_revisions(void **state)
{
    struct fixture *f = *state;
    struct store_txn *txn;
    struct store_obj obj;
    json_t *body = json_object();
    int64_t revision;

    assert_int_equal(store_revision(f->store), 0);

    /* Three puts and a delete, one revision. */
    assert_int_equal(store_begin(f->store, true, &txn), 0);
    assert_int_equal(store_put(txn, "a", "1", body, STORE_CREATE, NULL), 0);
    assert_int_equal(store_put(txn, "a", "2", body, STORE_CREATE, NULL), 0);
    assert_int_equal(store_put(txn, "a", "2", body, 1, NULL), 0);
    assert_int_equal(store_put(txn, "a", "3", body, STORE_CREATE, NULL), 0);
    assert_int_equal(store_delete(txn, "a", "3", 1), 0);
    /* The transaction reads its own writes. */
    assert_int_equal(store_get(txn, "a", "2", &obj), 0);
    assert_int_equal(obj.version, 2);
    assert_int_equal(obj.mod_revision, 1);
    store_obj_clear(&obj);
    assert_int_equal(store_commit(txn, &revision), 0);
    assert_int_equal(revision, 1);
    assert_int_equal(store_revision(f->store), 1);

    assert_int_equal(get1(f->store, "a", "1", &obj), 0);
    assert_int_equal(obj.mod_revision, 1);
    store_obj_clear(&obj);
    assert_int_equal(get1(f->store, "a", "2", &obj), 0);
    assert_int_equal(obj.version, 2);
    assert_int_equal(obj.create_revision, 1);
    assert_int_equal(obj.mod_revision, 1);
    store_obj_clear(&obj);
    assert_int_equal(get1(f->store, "a", "3", &obj), ENOENT);

    /* A write transaction that writes nothing. */
    assert_int_equal(store_begin(f->store, true, &txn), 0);
    assert_int_equal(store_get(txn, "a", "1", &obj), 0);
    store_obj_clear(&obj);
    assert_int_equal(store_commit(txn, &revision), 0);
    assert_int_equal(revision, 1);

    /* One whose only write was refused. */
    assert_int_equal(store_begin(f->store, true, &txn), 0);
    assert_int_equal(store_put(txn, "a", "1", body, STORE_CREATE, NULL),
                     EEXIST);
    assert_int_equal(store_commit(txn, &revision), 0);
    assert_int_equal(revision, 1);

    /* A read transaction answers its snapshot's revision. */
    assert_int_equal(store_begin(f->store, false, &txn), 0);
    assert_int_equal(store_commit(txn, &revision), 0);
    assert_int_equal(revision, 1);

    /* An aborted write. */
    assert_int_equal(store_begin(f->store, true, &txn), 0);
    assert_int_equal(store_put(txn, "a", "4", body, STORE_CREATE, NULL), 0);
    store_abort(txn);
    assert_int_equal(store_revision(f->store), 1);

    /* The next committed write is revision 2, not 3. */
    assert_int_equal(store_begin(f->store, true, &txn), 0);
    assert_int_equal(store_put(txn, "a", "4", body, STORE_CREATE, NULL), 0);
    assert_int_equal(store_commit(txn, &revision), 0);
    assert_int_equal(revision, 2);
    assert_int_equal(store_revision(f->store), 2);
    json_decref(body);
}

/* An aborted transaction leaves nothing behind, even after a refused
 * write: the claim of an index object and the object that needs it go
 * together or not at all. */
static void
test_abort_atomicity(void **state)
{
    struct fixture *f = *state;
    struct store_txn *txn;
    struct store_obj obj;
    json_t *body = parse("{\"network\": \"red\"}");
    size_t count;

    assert_int_equal(put1(f->store, "vni", "100", "{\"network\": \"blue\"}",
                          STORE_CREATE, NULL),
                     0);

    assert_int_equal(store_begin(f->store, true, &txn), 0);
    assert_int_equal(
        store_put(txn, "network", "red", body, STORE_CREATE, NULL), 0);
    assert_int_equal(store_put(txn, "vni", "100", body, STORE_CREATE, NULL),
                     EEXIST);
    store_abort(txn);

    assert_int_equal(get1(f->store, "network", "red", &obj), ENOENT);
    assert_int_equal(get1(f->store, "vni", "100", &obj), 0);
    assert_body(&obj, "{\"network\": \"blue\"}");
    assert_int_equal(obj.version, 1);
    store_obj_clear(&obj);
    assert_int_equal(store_revision(f->store), 1);

    /* A plain abort of an update and a delete. */
    assert_int_equal(store_begin(f->store, true, &txn), 0);
    assert_int_equal(store_put(txn, "vni", "100", body, 1, NULL), 0);
    assert_int_equal(store_put(txn, "vni", "101", body, STORE_CREATE, NULL),
                     0);
    assert_int_equal(store_delete(txn, "vni", "100", STORE_ANY), 0);
    store_abort(txn);
    assert_int_equal(get1(f->store, "vni", "100", &obj), 0);
    assert_int_equal(obj.version, 1);
    assert_body(&obj, "{\"network\": \"blue\"}");
    store_obj_clear(&obj);

    assert_int_equal(store_begin(f->store, false, &txn), 0);
    assert_int_equal(store_count(txn, "vni", &count), 0);
    assert_int_equal(count, 1);
    store_abort(txn);
    assert_int_equal(store_revision(f->store), 1);
    json_decref(body);
}

/* A read transaction reads a snapshot: it neither waits for an open write
 * transaction nor sees it, and sees only what was committed before it
 * began reading. */
static void
test_read_snapshot(void **state)
{
    struct fixture *f = *state;
    struct store_txn *writer, *reader;
    struct store_obj obj;
    json_t *body = parse("{\"v\": 2}");
    int64_t revision;

    assert_int_equal(
        put1(f->store, "k", "x", "{\"v\": 1}", STORE_CREATE, NULL), 0);

    assert_int_equal(store_begin(f->store, true, &writer), 0);
    assert_int_equal(store_put(writer, "k", "x", body, 1, NULL), 0);
    assert_int_equal(store_put(writer, "k", "y", body, STORE_CREATE, NULL), 0);

    assert_int_equal(store_begin(f->store, false, &reader), 0);
    assert_int_equal(store_get(reader, "k", "x", &obj), 0);
    assert_body(&obj, "{\"v\": 1}");
    store_obj_clear(&obj);
    assert_int_equal(store_get(reader, "k", "y", &obj), ENOENT);

    assert_int_equal(store_commit(writer, &revision), 0);
    assert_int_equal(revision, 2);

    /* Still the old snapshot, and its revision. */
    assert_int_equal(store_get(reader, "k", "x", &obj), 0);
    assert_int_equal(obj.version, 1);
    store_obj_clear(&obj);
    assert_int_equal(store_get(reader, "k", "y", &obj), ENOENT);
    assert_int_equal(store_commit(reader, &revision), 0);
    assert_int_equal(revision, 1);

    assert_int_equal(get1(f->store, "k", "y", &obj), 0);
    assert_int_equal(obj.mod_revision, 2);
    store_obj_clear(&obj);
    json_decref(body);
}

/* What was committed survives closing and reopening the store. */
static void
test_durability(void **state)
{
    struct fixture *f = *state;
    struct store_obj obj;

    assert_int_equal(put1(f->store, "network", "blue", "{\"mtu\": 1450}",
                          STORE_CREATE, NULL),
                     0);
    assert_int_equal(
        put1(f->store, "network", "blue", "{\"mtu\": 9000}", 1, NULL), 0);
    assert_int_equal(
        put1(f->store, "network", "gone", "{}", STORE_CREATE, NULL), 0);
    assert_int_equal(delete1(f->store, "network", "gone", 1), 0);
    assert_int_equal(store_revision(f->store), 4);

    reopen(f);
    assert_int_equal(store_revision(f->store), 4);
    assert_int_equal(get1(f->store, "network", "blue", &obj), 0);
    assert_int_equal(obj.version, 2);
    assert_int_equal(obj.create_revision, 1);
    assert_int_equal(obj.mod_revision, 2);
    assert_body(&obj, "{\"mtu\": 9000}");
    store_obj_clear(&obj);
    assert_int_equal(get1(f->store, "network", "gone", &obj), ENOENT);

    /* Versions and revisions carry on where they were. */
    int64_t version;
    assert_int_equal(put1(f->store, "network", "blue", "{}", 2, &version), 0);
    assert_int_equal(version, 3);
    assert_int_equal(store_revision(f->store), 5);
    assert_int_equal(raw_int(f->path, "SELECT value FROM meta"
                                      " WHERE key = 'schema_version'"),
                     CURRENT_SCHEMA);
}

/* The change log names what each revision put or deleted. */
static void
test_change_log(void **state)
{
    struct fixture *f = *state;
    struct store_txn *txn;
    json_t *body = json_object();

    assert_int_equal(put1(f->store, "port", "p1", "{}", STORE_CREATE, NULL),
                     0);
    assert_int_equal(store_begin(f->store, true, &txn), 0);
    assert_int_equal(store_put(txn, "port", "p2", body, STORE_CREATE, NULL),
                     0);
    assert_int_equal(store_delete(txn, "port", "p1", 1), 0);
    /* Put, then deleted in the same revision: only the delete counts. */
    assert_int_equal(store_put(txn, "port", "p3", body, STORE_CREATE, NULL),
                     0);
    assert_int_equal(store_delete(txn, "port", "p3", 1), 0);
    assert_int_equal(store_commit(txn, NULL), 0);
    json_decref(body);

    assert_int_equal(raw_int(f->path, "SELECT count(*) FROM changes"), 4);
    assert_int_equal(raw_int(f->path, "SELECT count(*) FROM changes WHERE"
                                      " revision = 1 AND kind = 'port'"
                                      " AND name = 'p1' AND op = 'put'"),
                     1);
    assert_int_equal(raw_int(f->path, "SELECT count(*) FROM changes WHERE"
                                      " revision = 2 AND ((name = 'p2'"
                                      " AND op = 'put') OR (name IN ('p1',"
                                      " 'p3') AND op = 'delete'))"),
                     3);
}

/* The change log keeps the last 10000 revisions. */
static void
test_change_log_bounded(void **state)
{
    struct fixture *f = *state;
    json_t *body = json_object();
    double start = now_us();

    for (int i = 0; i < 10050; i++) {
        struct store_txn *txn;

        assert_int_equal(store_begin(f->store, true, &txn), 0);
        assert_int_equal(store_put(txn, "k", "x", body, STORE_ANY, NULL), 0);
        assert_int_equal(store_commit(txn, NULL), 0);
    }
    printf("# 10050 write transactions of one put each: %.1f us each\n",
           (now_us() - start) / 10050);
    json_decref(body);

    assert_int_equal(store_revision(f->store), 10050);
    assert_int_equal(raw_int(f->path, "SELECT count(*) FROM changes"), 10000);
    assert_int_equal(raw_int(f->path, "SELECT min(revision) FROM changes"),
                     51);
}

/* A database at schema 1, the first release's, written by hand: meta and
 * objects but no change log.  Opening it migrates it, keeping its objects
 * and revision. */
static void
test_migrate_from_v1(void **state)
{
    struct fixture *f = *state;
    struct store_obj obj;
    int64_t version;

    raw_exec(f->path,
             "PRAGMA journal_mode = WAL;"
             "CREATE TABLE meta (key TEXT PRIMARY KEY NOT NULL,"
             "  value INTEGER NOT NULL);"
             "INSERT INTO meta VALUES ('schema_version', 1), ('revision', 7);"
             "CREATE TABLE objects (kind TEXT NOT NULL, name TEXT NOT NULL,"
             "  version INTEGER NOT NULL, create_revision INTEGER NOT NULL,"
             "  mod_revision INTEGER NOT NULL, body TEXT NOT NULL,"
             "  PRIMARY KEY (kind, name));"
             "INSERT INTO objects VALUES"
             "  ('network', 'blue', 3, 2, 7, '{\"vni\": 100}');");

    assert_int_equal(store_open(f->path, &f->store), 0);
    assert_int_equal(raw_int(f->path, "SELECT value FROM meta"
                                      " WHERE key = 'schema_version'"),
                     CURRENT_SCHEMA);
    assert_int_equal(store_revision(f->store), 7);
    assert_int_equal(get1(f->store, "network", "blue", &obj), 0);
    assert_int_equal(obj.version, 3);
    assert_int_equal(obj.create_revision, 2);
    assert_int_equal(obj.mod_revision, 7);
    assert_body(&obj, "{\"vni\": 100}");
    store_obj_clear(&obj);

    /* The migrated store works, change log included. */
    assert_int_equal(put1(f->store, "network", "blue", "{}", 3, &version), 0);
    assert_int_equal(version, 4);
    assert_int_equal(store_revision(f->store), 8);
    assert_int_equal(raw_int(f->path, "SELECT revision FROM changes"), 8);

    /* Opening it again migrates nothing. */
    reopen(f);
    assert_int_equal(store_revision(f->store), 8);
}

/* A database from a newer release is refused and left alone. */
static void
test_refuse_future_schema(void **state)
{
    struct fixture *f = *state;

    raw_exec(f->path, "CREATE TABLE meta (key TEXT PRIMARY KEY NOT NULL,"
                      "  value INTEGER NOT NULL);"
                      "INSERT INTO meta VALUES ('schema_version', 99),"
                      "  ('revision', 5);"
                      "CREATE TABLE things_of_the_future (x);");

    assert_int_equal(store_open(f->path, &f->store), EPROTO);
    assert_null(f->store);
    assert_int_equal(raw_int(f->path, "SELECT value FROM meta"
                                      " WHERE key = 'schema_version'"),
                     99);
    assert_int_equal(raw_int(f->path, "SELECT count(*) FROM sqlite_master"
                                      " WHERE name = 'objects'"),
                     0);
    assert_int_equal(raw_int(f->path, "SELECT journal_mode = 'delete'"
                                      " FROM pragma_journal_mode"),
                     1);
}

/* cmocka's assertions may only fail on the main thread, so the threads
 * below check with this instead: a failure ends the whole test program,
 * which fails the test just as well. */
#define THREAD_ASSERT(cond)                                                   \
    do {                                                                      \
        if (!(cond)) {                                                        \
            fprintf(stderr, "%s:%d: thread assertion failed: %s\n", __FILE__, \
                    __LINE__, #cond);                                         \
            abort();                                                          \
        }                                                                     \
    } while (0)

/* Two threads update one object read-modify-write style, round after
 * round: both read the same version, both try to write based on it, and
 * exactly one of them wins each round. */
#define RMW_ROUNDS 200

/* What the read-modify-write threads share. */
struct rmw {
    struct store *store;       /* The store. */
    pthread_barrier_t barrier; /* Lines the threads up for each round. */
    int wins[2][RMW_ROUNDS];   /* 1 where a thread won a round. */
};

/* The argument of one read-modify-write thread. */
struct rmw_thread {
    struct rmw *rmw; /* Shared state. */
    int id;          /* 0 or 1. */
};

static void *
rmw_thread(void *thread_)
{
    struct rmw_thread *thread = thread_;
    struct rmw *rmw = thread->rmw;

    for (int round = 0; round < RMW_ROUNDS; round++) {
        struct store_txn *txn;
        struct store_obj obj;
        json_int_t n;
        int error;

        /* Read. */
        THREAD_ASSERT(store_begin(rmw->store, false, &txn) == 0);
        THREAD_ASSERT(store_get(txn, "counter", "c", &obj) == 0);
        THREAD_ASSERT(store_commit(txn, NULL) == 0);
        n = json_integer_value(json_object_get(obj.body, "n"));
        json_object_set_new(obj.body, "n", json_integer(n + 1));
        json_object_set_new(obj.body, "by", json_integer(thread->id));

        /* Both have read this round's version before either writes. */
        pthread_barrier_wait(&rmw->barrier);

        THREAD_ASSERT(store_begin(rmw->store, true, &txn) == 0);
        error = store_put(txn, "counter", "c", obj.body, obj.version, NULL);
        if (!error) {
            THREAD_ASSERT(store_commit(txn, NULL) == 0);
            rmw->wins[thread->id][round] = 1;
        } else {
            THREAD_ASSERT(error == ESTALE);
            store_abort(txn);
        }
        store_obj_clear(&obj);

        /* Both are done writing before the next round reads. */
        pthread_barrier_wait(&rmw->barrier);
    }
    return NULL;
}

static void
test_concurrent_rmw(void **state)
{
    struct fixture *f = *state;
    struct rmw_thread threads[2];
    pthread_t tids[2];
    struct rmw rmw;
    struct store_obj obj;

    memset(&rmw, 0, sizeof rmw);
    rmw.store = f->store;
    pthread_barrier_init(&rmw.barrier, NULL, 2);
    assert_int_equal(
        put1(f->store, "counter", "c", "{\"n\": 0}", STORE_CREATE, NULL), 0);

    for (int i = 0; i < 2; i++) {
        threads[i].rmw = &rmw;
        threads[i].id = i;
        assert_int_equal(
            pthread_create(&tids[i], NULL, rmw_thread, &threads[i]), 0);
    }
    for (int i = 0; i < 2; i++) {
        pthread_join(tids[i], NULL);
    }
    pthread_barrier_destroy(&rmw.barrier);

    int wins[2] = {0, 0};
    for (int round = 0; round < RMW_ROUNDS; round++) {
        assert_int_equal(rmw.wins[0][round] + rmw.wins[1][round], 1);
        wins[0] += rmw.wins[0][round];
        wins[1] += rmw.wins[1][round];
    }
    printf("# read-modify-write: %d rounds, thread 0 won %d, thread 1 %d\n",
           RMW_ROUNDS, wins[0], wins[1]);

    assert_int_equal(get1(f->store, "counter", "c", &obj), 0);
    assert_int_equal(obj.version, 1 + RMW_ROUNDS);
    assert_int_equal(json_integer_value(json_object_get(obj.body, "n")),
                     RMW_ROUNDS);
    store_obj_clear(&obj);
    assert_int_equal(store_revision(f->store), 1 + RMW_ROUNDS);
}

/* Many threads reading and writing at once, each on its own objects. */
#define MIX_THREADS 8
#define MIX_OPS 300

static void *
mix_thread(void *store_)
{
    static int next_id;
    struct store *store = store_;
    int id = __atomic_fetch_add(&next_id, 1, __ATOMIC_SEQ_CST);
    char name[32];

    snprintf(name, sizeof name, "t%d", id);
    for (int i = 0; i < MIX_OPS; i++) {
        struct store_txn *txn;
        struct store_obj obj;
        json_t *body = json_pack("{si}", "i", i);

        THREAD_ASSERT(store_begin(store, true, &txn) == 0);
        THREAD_ASSERT(
            store_put(txn, "mix", name, body, i ? i : STORE_CREATE, NULL)
            == 0);
        THREAD_ASSERT(store_commit(txn, NULL) == 0);
        json_decref(body);

        THREAD_ASSERT(store_begin(store, false, &txn) == 0);
        THREAD_ASSERT(store_get(txn, "mix", name, &obj) == 0);
        THREAD_ASSERT(obj.version == i + 1);
        store_obj_clear(&obj);
        store_abort(txn);
    }
    return NULL;
}

static void
test_concurrent_mix(void **state)
{
    struct fixture *f = *state;
    pthread_t tids[MIX_THREADS];

    for (int i = 0; i < MIX_THREADS; i++) {
        assert_int_equal(pthread_create(&tids[i], NULL, mix_thread, f->store),
                         0);
    }
    for (int i = 0; i < MIX_THREADS; i++) {
        pthread_join(tids[i], NULL);
    }
    assert_int_equal(store_revision(f->store), MIX_THREADS * MIX_OPS);
}

static void *
commit_later(void *store)
{
    struct timespec ts = {0, 50 * 1000 * 1000};
    struct store_txn *txn;
    json_t *body = json_object();

    nanosleep(&ts, NULL);
    THREAD_ASSERT(store_begin(store, true, &txn) == 0);
    THREAD_ASSERT(store_put(txn, "k", "late", body, STORE_ANY, NULL) == 0);
    THREAD_ASSERT(store_commit(txn, NULL) == 0);
    json_decref(body);
    return NULL;
}

/* store_wait() wakes up for a commit from another thread and otherwise
 * times out. */
static void
test_wait(void **state)
{
    struct fixture *f = *state;
    pthread_t tid;
    double start;

    assert_int_equal(put1(f->store, "k", "x", "{}", STORE_CREATE, NULL), 0);

    /* Already past: no wait. */
    assert_int_equal(store_wait(f->store, 0, 0), 0);

    start = now_us();
    assert_int_equal(store_wait(f->store, 1, 100), ETIMEDOUT);
    assert_true(now_us() - start >= 100 * 1000);

    start = now_us();
    assert_int_equal(pthread_create(&tid, NULL, commit_later, f->store), 0);
    assert_int_equal(store_wait(f->store, 1, 10000), 0);
    assert_true(now_us() - start < 5 * 1000 * 1000);
    assert_int_equal(store_revision(f->store), 2);
    pthread_join(tid, NULL);

    /* A write transaction that changes nothing wakes nobody. */
    struct store_txn *txn;
    assert_int_equal(store_begin(f->store, true, &txn), 0);
    assert_int_equal(store_commit(txn, NULL), 0);
    assert_int_equal(store_wait(f->store, 2, 20), ETIMEDOUT);
}

/* store_wait_kinds() wakes up only for commits that wrote one of the kinds
 * it watches: a watcher of ports sleeps through audit entries. */
static void
test_wait_kinds(void **state)
{
    static const char *const watched[] = {"port", "network"};
    struct fixture *f = *state;
    pthread_t tid;
    double start;

    /* Nothing of these kinds was committed since the store opened. */
    assert_int_equal(store_wait_kinds(f->store, watched, 2, 0, 20), ETIMEDOUT);

    /* commit_later writes kind "k", which nobody here watches. */
    start = now_us();
    assert_int_equal(pthread_create(&tid, NULL, commit_later, f->store), 0);
    assert_int_equal(store_wait_kinds(f->store, watched, 2, 0, 300),
                     ETIMEDOUT);
    assert_true(now_us() - start >= 300 * 1000);
    pthread_join(tid, NULL);
    assert_int_equal(store_revision(f->store), 1);

    /* Once a port is committed past the revision held, the wait ends. */
    assert_int_equal(put1(f->store, "port", "p1", "{}", STORE_CREATE, NULL),
                     0);
    assert_int_equal(store_wait_kinds(f->store, watched, 2, 1, 10000), 0);
    assert_int_equal(store_wait_kinds(f->store, watched, 2, 2, 20), ETIMEDOUT);
    assert_int_equal(store_wait_kinds(f->store, watched + 1, 1, 0, 20),
                     ETIMEDOUT);
}

/* With SQLite the one controller leads every role from the start of its
 * candidacy: a wait for the leadership to begin ends at once, a wait for it
 * to end times out, and the candidate is the leader.  Bad arguments fail
 * before anything is created. */
static void
test_election(void **state)
{
    struct fixture *f = *state;
    struct store_election *ha, *drs, *bad;
    double start;
    char *leader;

    assert_int_equal(store_election_start(
                         f->store, "ha", "https://c1.example:8443", 3000, &ha),
                     0);
    assert_int_equal(store_election_start(f->store, "drs",
                                          "https://c1.example:8443", 300,
                                          &drs),
                     0);
    assert_true(store_election_is_leader(ha));
    assert_true(store_election_is_leader(drs));
    assert_int_equal(store_election_wait(ha, false, 10000), 0);

    start = now_us();
    assert_int_equal(store_election_wait(drs, true, 100), ETIMEDOUT);
    assert_true(now_us() - start >= 100 * 1000);
    assert_true(store_election_is_leader(drs));

    leader = store_election_leader(ha);
    assert_string_equal(leader, "https://c1.example:8443");
    free(leader);

    bad = (void *) &bad;
    assert_int_equal(store_election_start(f->store, "", "c", 3000, &bad),
                     EINVAL);
    assert_null(bad);
    assert_int_equal(store_election_start(f->store, "a/b", "c", 3000, &bad),
                     EINVAL);
    assert_int_equal(store_election_start(f->store, "ha", "", 3000, &bad),
                     EINVAL);
    assert_int_equal(store_election_start(f->store, "ha", NULL, 3000, &bad),
                     EINVAL);
    assert_int_equal(store_election_start(f->store, "ha", "c", 299, &bad),
                     EINVAL);
    assert_null(bad);

    store_election_stop(ha);
    store_election_stop(drs);
    store_election_stop(NULL);
}

/* store_status() names the backend and the database file. */
static void
test_status(void **state)
{
    struct fixture *f = *state;
    json_t *status = store_status(f->store);

    assert_string_equal(json_string_value(json_object_get(status, "backend")),
                        "sqlite");
    assert_string_equal(json_string_value(json_object_get(status, "path")),
                        f->path);
    json_decref(status);
}

static int
count_cb(const struct store_obj *obj, void *n)
{
    ++*(size_t *) n;
    return 0;
}

/* Timings, printed and not asserted: the machine decides. */
static void
test_timings(void **state)
{
    struct fixture *f = *state;
    enum { N = 10000 };
    struct store_txn *txn;
    json_t *body = parse("{\"network\": \"blue\", \"mac\": "
                         "\"02:fa:00:00:00:01\", \"ip\": \"10.0.0.2\", "
                         "\"host\": \"host-a\", \"labels\": {\"tier\": "
                         "\"web\"}, \"device\": \"fp-web-1\"}");
    double start, create_us, get_us, get_txn_us, list_us;
    size_t n = 0;

    start = now_us();
    assert_int_equal(store_begin(f->store, true, &txn), 0);
    for (int i = 0; i < N; i++) {
        char name[32];

        snprintf(name, sizeof name, "port-%05d", i);
        assert_int_equal(
            store_put(txn, "port", name, body, STORE_CREATE, NULL), 0);
    }
    assert_int_equal(store_commit(txn, NULL), 0);
    create_us = now_us() - start;

    /* GETs in one read transaction. */
    assert_int_equal(store_begin(f->store, false, &txn), 0);
    start = now_us();
    for (int i = 0; i < N; i++) {
        struct store_obj obj;
        char name[32];

        snprintf(name, sizeof name, "port-%05d", i * 7919 % N);
        assert_int_equal(store_get(txn, "port", name, &obj), 0);
        store_obj_clear(&obj);
    }
    get_us = (now_us() - start) / N;
    store_abort(txn);

    /* GETs each in its own read transaction, as the API does them. */
    start = now_us();
    for (int i = 0; i < N; i++) {
        struct store_obj obj;
        char name[32];

        snprintf(name, sizeof name, "port-%05d", i * 7919 % N);
        assert_int_equal(store_begin(f->store, false, &txn), 0);
        assert_int_equal(store_get(txn, "port", name, &obj), 0);
        assert_int_equal(store_commit(txn, NULL), 0);
        store_obj_clear(&obj);
    }
    get_txn_us = (now_us() - start) / N;

    assert_int_equal(store_begin(f->store, false, &txn), 0);
    start = now_us();
    assert_int_equal(store_list(txn, "port", NULL, 0, count_cb, &n), 0);
    list_us = now_us() - start;
    store_abort(txn);
    assert_int_equal(n, N);

    printf("# %d creates in one transaction: %.1f ms (%.2f us each)\n", N,
           create_us / 1000, create_us / N);
    printf("# get in an open read transaction: %.2f us\n", get_us);
    printf("# begin + get + commit: %.2f us\n", get_txn_us);
    printf("# list of %d: %.1f ms\n", N, list_us / 1000);
    json_decref(body);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_open, setup, teardown),
        cmocka_unit_test_setup_teardown(test_create_get_update, setup_open,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_put_errors, setup_open, teardown),
        cmocka_unit_test_setup_teardown(test_delete, setup_open, teardown),
        cmocka_unit_test_setup_teardown(test_list, setup_open, teardown),
        cmocka_unit_test_setup_teardown(test_revisions, setup_open, teardown),
        cmocka_unit_test_setup_teardown(test_abort_atomicity, setup_open,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_read_snapshot, setup_open,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_durability, setup_open, teardown),
        cmocka_unit_test_setup_teardown(test_change_log, setup_open, teardown),
        cmocka_unit_test_setup_teardown(test_change_log_bounded, setup_open,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_migrate_from_v1, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refuse_future_schema, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_rmw, setup_open,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_mix, setup_open,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_wait, setup_open, teardown),
        cmocka_unit_test_setup_teardown(test_wait_kinds, setup_open, teardown),
        cmocka_unit_test_setup_teardown(test_election, setup_open, teardown),
        cmocka_unit_test_setup_teardown(test_status, setup_open, teardown),
        cmocka_unit_test_setup_teardown(test_timings, setup_open, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
