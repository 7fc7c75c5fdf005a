/* The controller's store (controller/store.h) over etcd 3.4, through its
 * v3 JSON gateway (controller/etcd.h), with the layout and transaction
 * rules of doc/replication.md:
 *
 *   PREFIX/o/KIND/NAME  one object; the value is its body's JSON, and
 *                       etcd's version, create_revision and mod_revision of
 *                       the key are the object's.
 *   PREFIX/meta/schema  the layout's schema version.
 *   PREFIX/meta/writer  the write lock, on the holder's process lease.
 *   PREFIX/elect/ROLE   the leader of ROLE, on the leader's lease.
 *
 * A read transaction reads at one revision: the first read's.  A write
 * transaction takes the write lock (so writers take turns across every
 * controller on the cluster), reads at the latest revision, keeps its
 * changes in memory, and commits them in one etcd txn whose compare checks
 * that the lock is still the one it took, and which deletes the lock.
 *
 * One watch stream per store, on PREFIX/o/, on a thread of its own, feeds
 * the revision per kind of store.c with every replica's commits. */

#include "controller/store.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "controller/etcd.h"
#include "controller/store-provider.h"
#include "utils/log.h"
#include "utils/util.h"

/* How long a write transaction waits for the write lock (held by this or
 * another controller) before it fails with EBUSY.  Longer than the process
 * lease, so that the lock of a controller that died lapses first. */
#define ETCD_BUSY_TIMEOUT_MS 10000

/* The lease of each process's write lock, in seconds, and how often it is
 * kept alive. */
#define ETCD_PROCESS_LEASE_S 5
#define ETCD_PROCESS_KEEPALIVE_MS 1000

/* How long a commit waits for the store's watch to deliver it. */
#define ETCD_WATCH_WAIT_MS 2000

/* Objects a page of store_list() reads at once. */
#define ETCD_PAGE 500

/* One step of the layout's history, as SQLite's migrations: 'run' brings a
 * store at schema version N (the step's index) to N + 1.  The first step
 * has nothing to create: an empty prefix is an empty store. */
struct etcd_migration {
    const char *description; /* What the step adds, for the log. */
};

static const struct etcd_migration etcd_migrations[] = {
    {"objects, meta, elections (doc/replication.md)"},
};

#define ETCD_SCHEMA_VERSION ((int64_t) ARRAY_SIZE(etcd_migrations))

struct etcd_store {
    struct store up;   /* The common part. */
    struct etcd *etcd; /* The client. */
    char *url;         /* As given, for messages. */
    char *prefix;      /* E.g. "/fabric", without a trailing '/'. */

    pthread_mutex_t mutex; /* Guards the members below. */
    int64_t lease;         /* The process lease, 0 if none. */

    volatile bool stop;         /* Tells the threads to end. */
    pthread_t watch_thread;     /* Runs store_etcd_watch_main(). */
    pthread_t keepalive_thread; /* Runs store_etcd_keepalive_main(). */
    bool threads;               /* The threads run. */
    int64_t watch_from;         /* The revision the watch starts at. */
};

/* A change a write transaction will commit. */
struct etcd_write {
    char *kind;           /* Owned. */
    char *name;           /* Owned. */
    char *value;          /* The body's JSON, or NULL to delete. */
    int64_t base_version; /* Version in etcd before the transaction. */
    int64_t version;      /* Version after it, 0 once deleted. */
};

struct etcd_txn {
    struct store_txn up;       /* The common part. */
    struct etcd_store *store;  /* The store it belongs to. */
    bool write;                /* Begun as a write transaction. */
    int64_t revision;          /* Read: the snapshot's, 0 before the first
                                * read.  Write: the lock's create_revision. */
    int64_t lease;             /* Write: the lease of the lock. */
    struct etcd_write *writes; /* Changes to commit. */
    size_t n_writes;           /* Entries in 'writes'. */
};

static struct etcd_store *
etcd_store_cast(struct store *store)
{
    return STORE_CONTAINER_OF(store, struct etcd_store, up);
}

static struct etcd_txn *
etcd_txn_cast(struct store_txn *txn)
{
    return STORE_CONTAINER_OF(txn, struct etcd_txn, up);
}

/* Returns the base64 of the key PREFIX/'suffix'. */
static char *
store_etcd_key(const struct etcd_store *store, const char *suffix)
{
    char *key = xasprintf("%s/%s", store->prefix, suffix);
    char *b64 = etcd_b64(key, strlen(key));

    free(key);
    return b64;
}

/* Returns the base64 of the key of object (kind, name). */
static char *
store_etcd_obj_key(const struct etcd_store *store, const char *kind,
                   const char *name)
{
    char *key = xasprintf("%s/o/%s/%s", store->prefix, kind, name);
    char *b64 = etcd_b64(key, strlen(key));

    free(key);
    return b64;
}

/* Returns the base64 of the end of the range of keys that start with
 * PREFIX/'suffix': the same with its last byte plus one. */
static char *
store_etcd_range_end(const struct etcd_store *store, const char *suffix)
{
    char *key = xasprintf("%s/%s", store->prefix, suffix);
    size_t len = strlen(key);
    char *b64;

    key[len - 1]++;
    b64 = etcd_b64(key, len);
    free(key);
    return b64;
}

/* Parses 'url' ("etcd://H:P[,H:P...][/PREFIX]" or "etcds://...") into
 * base URLs of the members and a prefix. */
static int
store_etcd_parse_url(const char *url, char ***endpointsp, size_t *np,
                     char **prefixp)
{
    bool tls = !strncmp(url, "etcds://", 8);
    const char *hosts = url + (tls ? 8 : 7);
    size_t hosts_len = strcspn(hosts, "/?#");
    const char *rest = hosts + hosts_len;
    char **endpoints = NULL;
    size_t n = 0;
    char *list, *save = NULL;
    int error = 0;

    if (strpbrk(url, "?#")) {
        LOG_ERR("store \"%s\": a query or fragment is not part of an etcd "
                "URL: use etcd://HOST:PORT[,HOST:PORT...][/PREFIX]",
                url);
        return EINVAL;
    }
    if (!hosts_len) {
        LOG_ERR("store \"%s\": no etcd member named: use "
                "etcd://HOST:PORT[,HOST:PORT...][/PREFIX]",
                url);
        return EINVAL;
    }
    list = xasprintf("%.*s", (int) hosts_len, hosts);
    for (char *h = strtok_r(list, ",", &save); h && !error;
         h = strtok_r(NULL, ",", &save)) {
        char *colon = strrchr(h, ':');
        char *end;
        long port = colon ? strtol(colon + 1, &end, 10) : 0;

        if (!colon || colon == h || !colon[1] || *end || port < 1
            || port > 65535 || strspn(h, " \t")) {
            LOG_ERR("store \"%s\": etcd member \"%s\" is not HOST:PORT "
                    "with a port of 1 to 65535",
                    url, h);
            error = EINVAL;
            break;
        }
        endpoints = xrealloc(endpoints, (n + 1) * sizeof *endpoints);
        endpoints[n++] = xasprintf("%s://%s", tls ? "https" : "http", h);
    }
    if (!error
        && (!n || strstr(hosts, ",,") || hosts[0] == ','
            || hosts[hosts_len - 1] == ',')) {
        LOG_ERR("store \"%s\": an empty etcd member in the list", url);
        error = EINVAL;
    }
    free(list);
    if (!error) {
        size_t len = strlen(rest);

        while (len > 1 && rest[len - 1] == '/') {
            len--;
        }
        if (len <= 1) {
            *prefixp = xstrdup("/fabric");
        } else if (strstr(rest, "//") || memchr(rest, '\0', len)) {
            LOG_ERR("store \"%s\": prefix \"%s\" has an empty segment", url,
                    rest);
            error = EINVAL;
        } else {
            *prefixp = xasprintf("%.*s", (int) len, rest);
        }
    }
    if (error) {
        for (size_t i = 0; i < n; i++) {
            free(endpoints[i]);
        }
        free(endpoints);
        return error;
    }
    *endpointsp = endpoints;
    *np = n;
    return 0;
}

/* Grants a lease of 'ttl_s' seconds and stores its ID in '*lease'. */
static int
store_etcd_grant(struct etcd_store *store, int ttl_s, int64_t *lease)
{
    json_t *request = json_pack("{si}", "TTL", ttl_s);
    json_t *reply;
    int error =
        etcd_call(store->etcd, "/v3/lease/grant", request, true, &reply);

    json_decref(request);
    if (!error) {
        *lease = etcd_int(reply, "ID");
        if (!*lease) {
            LOG_ERR("store %s: etcd granted no lease", store->url);
            error = EPROTO;
        }
        json_decref(reply);
    }
    return error;
}

static void
store_etcd_revoke(struct etcd_store *store, int64_t lease)
{
    char id[32];
    json_t *request, *reply;

    snprintf(id, sizeof id, "%" PRId64, lease);
    request = json_pack("{ss}", "ID", id);
    if (!etcd_call(store->etcd, "/v3/lease/revoke", request, true, &reply)) {
        json_decref(reply);
    }
    json_decref(request);
}

/* Sends one keep-alive of 'lease' and stores in '*ttl_s' the TTL etcd
 * answers, 0 if the lease is gone. */
static int
store_etcd_keepalive(struct etcd_store *store, int64_t lease, int64_t *ttl_s)
{
    char id[32];
    json_t *request, *reply;
    int error;

    snprintf(id, sizeof id, "%" PRId64, lease);
    request = json_pack("{ss}", "ID", id);
    error =
        etcd_call(store->etcd, "/v3/lease/keepalive", request, true, &reply);
    json_decref(request);
    if (!error) {
        *ttl_s = etcd_int(json_object_get(reply, "result"), "TTL");
        json_decref(reply);
    }
    return error;
}

/* Reads the keys from 'key' (base64) to 'range_end' (base64, or NULL for
 * 'key' alone) at 'revision' (0: the latest) into '*reply'.  'limit' 0 is
 * no limit. */
static int
store_etcd_range(struct etcd_store *store, const char *key,
                 const char *range_end, int64_t revision, size_t limit,
                 bool count_only, json_t **reply)
{
    json_t *request = json_pack("{ss}", "key", key);
    int error;

    if (range_end) {
        json_object_set_new(request, "range_end", json_string(range_end));
    }
    if (revision) {
        char rev[32];

        snprintf(rev, sizeof rev, "%" PRId64, revision);
        json_object_set_new(request, "revision", json_string(rev));
    }
    if (limit) {
        json_object_set_new(request, "limit", json_integer(limit));
    }
    if (count_only) {
        json_object_set_new(request, "count_only", json_true());
    }
    error = etcd_call(store->etcd, "/v3/kv/range", request, true, reply);
    json_decref(request);
    if (ERANGE == error) {
        LOG_WARN("store %s: revision %" PRId64 " has been compacted: the "
                 "transaction must start again",
                 store->url, revision);
        error = EAGAIN;
    }
    return error;
}

/* Runs the txn 'request' ('retry' as etcd_call()'s) and stores whether it
 * succeeded in '*succeeded' and the reply in '*reply'. */
static int
store_etcd_txn(struct etcd_store *store, json_t *request, bool retry,
               bool *succeeded, json_t **reply)
{
    int error = etcd_call(store->etcd, "/v3/kv/txn", request, retry, reply);

    if (!error) {
        *succeeded = json_is_true(json_object_get(*reply, "succeeded"));
    }
    return error;
}

/* Returns a txn compare that key (base64) 'key' has create_revision
 * 'revision' (0: the key does not exist). */
static json_t *
compare_created(const char *key, int64_t revision)
{
    char rev[32];

    snprintf(rev, sizeof rev, "%" PRId64, revision);
    return json_pack("{ss ss ss ss}", "key", key, "target", "CREATE", "result",
                     "EQUAL", "create_revision", rev);
}

/* Reads, creates or migrates PREFIX/meta/schema and stores the store's
 * revision in '*revision'. */
static int
store_etcd_check_schema(struct etcd_store *store, int64_t *revision)
{
    char *key = store_etcd_key(store, "meta/schema");
    json_t *reply = NULL;
    int error;

    error = store_etcd_range(store, key, NULL, 0, 0, false, &reply);
    if (ENOTCONN == error) {
        LOG_ERR("store %s: no etcd member answered: start etcd or fix the "
                "store URL",
                store->url);
    }
    while (!error) {
        json_t *kv = json_array_get(json_object_get(reply, "kvs"), 0);
        char *value = NULL;
        int64_t version;

        *revision = etcd_revision(reply);
        if (kv) {
            char *end;

            if (!etcd_unb64(json_string_value(json_object_get(kv, "value")),
                            &value, NULL)
                || (version = strtoll(value, &end, 10)) <= 0 || *end) {
                LOG_ERR("store %s: %s/meta/schema holds \"%s\", not a "
                        "schema version",
                        store->url, store->prefix, value ? value : "");
                error = EPROTO;
            } else if (version > ETCD_SCHEMA_VERSION) {
                LOG_ERR("store %s: schema version %" PRId64 " is newer than "
                        "the version %" PRId64 " this program knows: it was "
                        "written by a newer fabric; run that release",
                        store->url, version, ETCD_SCHEMA_VERSION);
                error = EPROTO;
            } else if (version < ETCD_SCHEMA_VERSION) {
                /* No step has been added since the first yet; a step would
                 * run here and bump the version in one txn. */
                LOG_ERR("store %s: schema version %" PRId64 " cannot be "
                        "migrated",
                        store->url, version);
                error = EPROTO;
            }
            free(value);
            break;
        }

        /* No schema: an empty prefix becomes a store, anything else is
         * not ours to take. */
        char *all = store_etcd_key(store, "");
        char *all_end = store_etcd_range_end(store, "");
        json_t *count;

        error = store_etcd_range(store, all, all_end, 0, 0, true, &count);
        if (!error && etcd_int(count, "count")) {
            LOG_ERR("store %s: the prefix %s holds keys but no schema "
                    "version: it is not a fabric store; name another prefix",
                    store->url, store->prefix);
            error = EPROTO;
        }
        json_decref(count);
        free(all);
        free(all_end);
        if (!error) {
            char *one = xasprintf("%" PRId64, ETCD_SCHEMA_VERSION);
            char *value64 = etcd_b64(one, strlen(one));
            json_t *request = json_pack(
                "{s[o] s[{s{ssss}}]}", "compare", compare_created(key, 0),
                "success", "request_put", "key", key, "value", value64);
            bool created;

            json_decref(reply);
            reply = NULL;
            error = store_etcd_txn(store, request, true, &created, &reply);
            if (!error && created) {
                LOG_INFO("store %s: created, schema version %" PRId64,
                         store->url, ETCD_SCHEMA_VERSION);
            }
            json_decref(request);
            free(value64);
            free(one);
            /* Whether this process or another created it, read it. */
            json_decref(reply);
            reply = NULL;
            if (!error) {
                error =
                    store_etcd_range(store, key, NULL, 0, 0, false, &reply);
            }
        }
    }
    json_decref(reply);
    free(key);
    return error;
}

/* Returns the name of the kind of the object key 'key' (not base64) in a
 * new string, or NULL if it is not one. */
static char *
store_etcd_key_kind(const struct etcd_store *store, const char *key)
{
    size_t plen = strlen(store->prefix);
    const char *kind, *slash;

    if (strncmp(key, store->prefix, plen) || strncmp(key + plen, "/o/", 3)) {
        return NULL;
    }
    kind = key + plen + 3;
    slash = strchr(kind, '/');
    return slash ? xasprintf("%.*s", (int) (slash - kind), kind) : NULL;
}

/* The objects of one commit, as the watch delivers them. */
struct etcd_commit {
    int64_t revision; /* The commit's, 0 before the first event. */
    char **kinds;     /* The kind and... */
    char **names;     /* ...name of each object put or deleted. */
    size_t n;         /* Entries in each. */
};

/* Tells store.c of 'c''s objects, then of its revision, and empties it. */
static void
etcd_commit_flush(struct etcd_store *store, struct etcd_commit *c)
{
    if (c->revision) {
        store_note_objects(&store->up, c->revision, c->kinds, c->names, c->n);
        store_note_commit(&store->up, c->revision, c->kinds, c->n);
        store->watch_from = c->revision + 1;
    }
    for (size_t i = 0; i < c->n; i++) {
        free(c->kinds[i]);
        free(c->names[i]);
    }
    c->n = 0;
}

/* Feeds the objects of the 'events' of one watch message to store.c, one
 * commit (revision) at a time, in order. */
static int
store_etcd_watch_cb(json_t *result, void *store_)
{
    struct etcd_store *store = store_;
    json_t *events = json_object_get(result, "events");
    struct etcd_commit c = {0, NULL, NULL, 0};
    size_t plen = strlen(store->prefix) + 3;
    size_t i;
    json_t *event;

    if (json_is_true(json_object_get(result, "canceled"))
        || etcd_int(result, "compact_revision")) {
        LOG_WARN("store %s: the watch was cancelled (compacted at %" PRId64
                 "): restarting from the latest revision",
                 store->url, etcd_int(result, "compact_revision"));
        return ERANGE;
    }
    json_array_foreach(events, i, event)
    {
        json_t *kv = json_object_get(event, "kv");
        int64_t mod = etcd_int(kv, "mod_revision");
        char *key, *kind;

        if (c.revision && mod != c.revision) {
            etcd_commit_flush(store, &c);
        }
        c.revision = mod;
        if (!etcd_unb64(json_string_value(json_object_get(kv, "key")), &key,
                        NULL)) {
            continue;
        }
        kind = store_etcd_key_kind(store, key);
        if (kind) {
            c.kinds = xrealloc(c.kinds, (c.n + 1) * sizeof *c.kinds);
            c.names = xrealloc(c.names, (c.n + 1) * sizeof *c.names);
            c.kinds[c.n] = kind;
            c.names[c.n] = xstrdup(key + plen + strlen(kind) + 1);
            c.n++;
        }
        free(key);
    }
    etcd_commit_flush(store, &c);
    free(c.kinds);
    free(c.names);
    return 0;
}

/* Sleeps 'ms' milliseconds or until 'stop'. */
static void
sleep_unless_stopped(const volatile bool *stop, int ms)
{
    for (int slept = 0; slept < ms && !*stop; slept += 50) {
        struct timespec ts = {0, 50 * 1000 * 1000};

        nanosleep(&ts, NULL);
    }
}

static void *
store_etcd_watch_main(void *store_)
{
    struct etcd_store *store = store_;
    char *key = store_etcd_key(store, "o/");
    char *end = store_etcd_range_end(store, "o/");

    while (!store->stop) {
        char from[32];
        json_t *create;
        json_t *reply;

        snprintf(from, sizeof from, "%" PRId64, store->watch_from);
        create = json_pack("{ss ss ss}", "key", key, "range_end", end,
                           "start_revision", from);
        etcd_watch(store->etcd, create, store_etcd_watch_cb, store,
                   &store->stop);
        json_decref(create);
        if (store->stop) {
            break;
        }

        /* Events may have been missed: restart from the latest revision
         * and tell every waiter that anything may have changed. */
        sleep_unless_stopped(&store->stop, 200);
        if (!store_etcd_range(store, key, end, 0, 1, true, &reply)) {
            int64_t latest = etcd_revision(reply);

            store_note_all_kinds(&store->up, latest);
            store->watch_from = latest + 1;
            json_decref(reply);
        }
    }
    free(key);
    free(end);
    return NULL;
}

/* Keeps the process lease alive, and grants a new one if it lapsed (after
 * etcd was out of reach for longer than its TTL). */
static void *
store_etcd_keepalive_main(void *store_)
{
    struct etcd_store *store = store_;

    while (!store->stop) {
        int64_t lease, ttl;

        sleep_unless_stopped(&store->stop, ETCD_PROCESS_KEEPALIVE_MS);
        pthread_mutex_lock(&store->mutex);
        lease = store->lease;
        pthread_mutex_unlock(&store->mutex);
        if (store->stop) {
            break;
        }
        if (lease && !store_etcd_keepalive(store, lease, &ttl) && ttl <= 0) {
            LOG_WARN("store %s: the process lease lapsed: granting another",
                     store->url);
            lease = 0;
        }
        if (!lease && !store_etcd_grant(store, ETCD_PROCESS_LEASE_S, &lease)) {
            pthread_mutex_lock(&store->mutex);
            store->lease = lease;
            pthread_mutex_unlock(&store->mutex);
        }
    }
    return NULL;
}

static void store_etcd_close(struct store *);

static int
store_etcd_open(const char *url, struct store **storep)
{
    struct etcd_store *store;
    char **endpoints;
    int64_t revision = 0;
    char *prefix;
    size_t n;
    int error;

    error = store_etcd_parse_url(url, &endpoints, &n, &prefix);
    if (error) {
        return error;
    }
    store = xzalloc(sizeof *store);
    store_init(&store->up, &store_etcd_class, url, 0);
    store->etcd = etcd_create(endpoints, n);
    store->url = xstrdup(url);
    store->prefix = prefix;
    pthread_mutex_init(&store->mutex, NULL);
    for (size_t i = 0; i < n; i++) {
        free(endpoints[i]);
    }
    free(endpoints);

    error = store_etcd_check_schema(store, &revision);
    if (!error) {
        error = store_etcd_grant(store, ETCD_PROCESS_LEASE_S, &store->lease);
    }
    if (!error) {
        store->up.revision = revision;
        store->watch_from = revision + 1;
        if (pthread_create(&store->watch_thread, NULL, store_etcd_watch_main,
                           store)) {
            abort();
        }
        if (pthread_create(&store->keepalive_thread, NULL,
                           store_etcd_keepalive_main, store)) {
            abort();
        }
        store->threads = true;
    }
    if (error) {
        store_etcd_close(&store->up);
        return error;
    }
    *storep = &store->up;
    return 0;
}

static void
store_etcd_close(struct store *store_)
{
    struct etcd_store *store = etcd_store_cast(store_);

    store->stop = true;
    if (store->threads) {
        pthread_join(store->watch_thread, NULL);
        pthread_join(store->keepalive_thread, NULL);
    }
    if (store->lease) {
        store_etcd_revoke(store, store->lease);
    }
    etcd_destroy(store->etcd);
    pthread_mutex_destroy(&store->mutex);
    store_destroy(&store->up);
    free(store->url);
    free(store->prefix);
    free(store);
}

static void
store_etcd_status(struct store *store_, json_t *status)
{
    struct etcd_store *store = etcd_store_cast(store_);

    json_object_set_new(status, "endpoints", etcd_endpoints(store->etcd));
    json_object_set_new(status, "prefix", json_string(store->prefix));
}

static void store_etcd_unlock(struct etcd_store *, int64_t revision);

/* Returns the first key-value of the range answer in the failure branch
 * of txn 'reply', or NULL. */
static json_t *
txn_failure_kv(json_t *reply)
{
    json_t *response = json_array_get(json_object_get(reply, "responses"), 0);

    return json_array_get(
        json_object_get(json_object_get(response, "response_range"), "kvs"),
        0);
}

/* Takes PREFIX/meta/writer on the process lease and stores its
 * create_revision in '*revision' and the lease in '*lease', waiting for
 * other controllers' write transactions to end.  The caller is this
 * process's only writer, so a lock on the process lease is a leftover of a
 * transaction whose end did not reach etcd, and is taken over. */
static int
store_etcd_lock(struct etcd_store *store, int64_t *revision, int64_t *leasep)
{
    int64_t deadline = time_msec() + ETCD_BUSY_TIMEOUT_MS;
    char *key = store_etcd_key(store, "meta/writer");
    char hostname[256] = "";
    int delay_ms = 1;
    int error;

    gethostname(hostname, sizeof hostname - 1);
    for (;;) {
        char lease[32], *holder, *holder64;
        json_t *request, *reply, *kv;
        bool taken;

        pthread_mutex_lock(&store->mutex);
        *leasep = store->lease;
        pthread_mutex_unlock(&store->mutex);
        snprintf(lease, sizeof lease, "%" PRId64, *leasep);
        holder = xasprintf("%s:%ld:%s", hostname, (long) getpid(), lease);
        holder64 = etcd_b64(holder, strlen(holder));
        request = json_pack("{s[o] s[{s{ssssss}}] s[{s{ss}}]}", "compare",
                            compare_created(key, 0), "success", "request_put",
                            "key", key, "value", holder64, "lease", lease,
                            "failure", "request_range", "key", key);
        error = store_etcd_txn(store, request, true, &taken, &reply);
        json_decref(request);
        free(holder64);
        free(holder);
        if (!error) {
            *revision = etcd_revision(reply);
            kv = txn_failure_kv(reply);
            if (!taken && kv && *leasep && etcd_int(kv, "lease") == *leasep) {
                LOG_INFO("store %s: taking over a write lock this process "
                         "left behind",
                         store->url);
                store_etcd_unlock(store, etcd_int(kv, "create_revision"));
                json_decref(reply);
                continue;
            }
            json_decref(reply);
            if (taken) {
                break;
            }
        } else if (error != EPROTO) {
            break;
        }
        if (time_msec() >= deadline) {
            LOG_WARN("store %s: the write lock %s/meta/writer has been held "
                     "by another controller for more than %d ms",
                     store->url, store->prefix, ETCD_BUSY_TIMEOUT_MS);
            error = EBUSY;
            break;
        }
        /* EPROTO: the lease lapsed, and the keep-alive thread grants
         * another within a second. */
        usleep(delay_ms * 1000);
        delay_ms = delay_ms < 64 ? delay_ms * 2 : delay_ms;
    }
    free(key);
    return error;
}

/* Deletes the write lock taken at 'revision' unless it already lapsed. */
static void
store_etcd_unlock(struct etcd_store *store, int64_t revision)
{
    char *key = store_etcd_key(store, "meta/writer");
    json_t *request = json_pack("{s[o] s[{s{ss}}]}", "compare",
                                compare_created(key, revision), "success",
                                "request_delete_range", "key", key);
    json_t *reply;
    bool done;

    if (!store_etcd_txn(store, request, true, &done, &reply)) {
        json_decref(reply);
    }
    json_decref(request);
    free(key);
}

static int
store_etcd_begin(struct store *store_, bool write, struct store_txn **txnp)
{
    struct etcd_store *store = etcd_store_cast(store_);
    struct etcd_txn *txn;
    int64_t revision = 0;
    int64_t lease = 0;
    int error;

    if (write) {
        error = store_acquire_writer(&store->up, ETCD_BUSY_TIMEOUT_MS);
        if (error) {
            return error;
        }
        error = store_etcd_lock(store, &revision, &lease);
        if (error) {
            store_release_writer(&store->up);
            return error;
        }
    }
    txn = xzalloc(sizeof *txn);
    txn->up.store = &store->up;
    txn->store = store;
    txn->write = write;
    txn->revision = revision;
    txn->lease = lease;
    *txnp = &txn->up;
    return 0;
}

static void
txn_free(struct etcd_txn *txn)
{
    for (size_t i = 0; i < txn->n_writes; i++) {
        free(txn->writes[i].kind);
        free(txn->writes[i].name);
        free(txn->writes[i].value);
    }
    free(txn->writes);
    free(txn);
}

static void
store_etcd_abort(struct store_txn *txn_)
{
    struct etcd_txn *txn = etcd_txn_cast(txn_);

    if (txn->write) {
        store_etcd_unlock(txn->store, txn->revision);
        store_release_writer(&txn->store->up);
    }
    txn_free(txn);
}

/* After the commit 'request' of 'txn' reached a member that gave no answer,
 * finds out whether it was applied from the 'marker' key it writes (with
 * value 'lock_rev'), and sends it again if it was not: its compare on the
 * lock keeps it from being applied twice.  Answers as store_etcd_txn(). */
static int
txn_settle(struct etcd_txn *txn, json_t *request, const char *marker,
           const char *lock_rev, bool *done, json_t **reply)
{
    struct etcd_store *store = txn->store;
    int64_t deadline = time_msec() + ETCD_BUSY_TIMEOUT_MS;
    int error = ECONNABORTED;

    while (ECONNABORTED == error && time_msec() < deadline) {
        json_t *range, *kv;
        char *value = NULL;

        usleep(200 * 1000);
        if (store_etcd_range(store, marker, NULL, 0, 0, false, &range)) {
            continue;
        }
        kv = json_array_get(json_object_get(range, "kvs"), 0);
        if (kv
            && etcd_unb64(json_string_value(json_object_get(kv, "value")),
                          &value, NULL)
            && !strcmp(value, lock_rev)) {
            LOG_INFO("store %s: the commit whose answer was lost was "
                     "applied",
                     store->url);
            *done = true;
            *reply = json_pack("{s{sI}}", "header", "revision",
                               (json_int_t) etcd_int(kv, "mod_revision"));
            error = 0;
        } else {
            error = store_etcd_txn(store, request, false, done, reply);
        }
        free(value);
        json_decref(range);
    }
    if (error) {
        LOG_ERR("store %s: etcd did not tell whether a commit was applied: "
                "it may or may not have been",
                store->url);
    }
    return error;
}

static int
store_etcd_commit(struct store_txn *txn_, int64_t *revisionp)
{
    struct etcd_txn *txn = etcd_txn_cast(txn_);
    struct etcd_store *store = txn->store;
    char **kinds = NULL;
    size_t n_kinds = 0;
    int64_t revision = 0;
    json_t *request, *ops, *reply;
    char *lock;
    bool done;
    int error = 0;

    if (!txn->write) {
        revision = txn->revision;
        if (!revision && revisionp) {
            char *key = store_etcd_key(store, "meta/schema");

            error = store_etcd_range(store, key, NULL, 0, 0, true, &reply);
            if (!error) {
                revision = etcd_revision(reply);
                json_decref(reply);
            }
            free(key);
        }
        txn_free(txn);
        if (!error && revisionp) {
            *revisionp = revision;
        }
        return error;
    }
    if (!txn->n_writes) {
        /* Nothing to commit: as SQLite's, no new revision. */
        store_etcd_unlock(store, txn->revision);
        store_release_writer(&store->up);
        txn_free(txn);
        if (revisionp) {
            *revisionp = store_revision(&store->up);
        }
        return 0;
    }

    lock = store_etcd_key(store, "meta/writer");
    ops = json_array();
    for (size_t i = 0; i < txn->n_writes; i++) {
        const struct etcd_write *w = &txn->writes[i];
        char *key = store_etcd_obj_key(store, w->kind, w->name);
        bool seen = false;

        if (w->value) {
            char *value = etcd_b64(w->value, strlen(w->value));

            json_array_append_new(ops, json_pack("{s{ssss}}", "request_put",
                                                 "key", key, "value", value));
            free(value);
        } else if (w->base_version) {
            json_array_append_new(
                ops, json_pack("{s{ss}}", "request_delete_range", "key", key));
        }
        free(key);
        for (size_t j = 0; j < n_kinds; j++) {
            seen = seen || !strcmp(kinds[j], w->kind);
        }
        if (!seen) {
            kinds = xrealloc(kinds, (n_kinds + 1) * sizeof *kinds);
            kinds[n_kinds++] = w->kind;
        }
    }
    json_array_append_new(
        ops, json_pack("{s{ss}}", "request_delete_range", "key", lock));

    /* A marker that this commit happened, for when its answer is lost. */
    char lock_rev[32], lease[32];
    snprintf(lock_rev, sizeof lock_rev, "%" PRId64, txn->revision);
    snprintf(lease, sizeof lease, "%" PRId64, txn->lease);
    char *marker_suffix = xasprintf("meta/commit/%s", lease);
    char *marker = store_etcd_key(store, marker_suffix);
    char *lock_rev64 = etcd_b64(lock_rev, strlen(lock_rev));
    json_array_append_new(ops, json_pack("{s{ssssss}}", "request_put", "key",
                                         marker, "value", lock_rev64, "lease",
                                         lease));

    request = json_pack("{s[o] so}", "compare",
                        compare_created(lock, txn->revision), "success", ops);
    error = store_etcd_txn(store, request, false, &done, &reply);
    if (ECONNABORTED == error) {
        error = txn_settle(txn, request, marker, lock_rev, &done, &reply);
    }
    json_decref(request);
    free(marker_suffix);
    free(marker);
    free(lock_rev64);
    if (!error) {
        revision = etcd_revision(reply);
        json_decref(reply);
        if (!done) {
            LOG_WARN("store %s: the write lock lapsed during the "
                     "transaction (etcd was out of reach for longer than "
                     "the process lease): nothing was committed",
                     store->url);
            error = EAGAIN;
        }
    } else {
        /* The lock may still be held: give it back. */
        store_etcd_unlock(store, txn->revision);
    }
    if (!error && store_wait(&store->up, revision - 1, ETCD_WATCH_WAIT_MS)) {
        /* The store's watch tells store.c of every commit, this one too,
         * in order (store_watch()'s callbacks hear of the objects before
         * the revision moves); waiting for it gives the caller's next read
         * of store_kind_revision() the commit.  A watch that lags that
         * much restarts and reports every kind changed anyway. */
        LOG_WARN("store %s: the store's watch has not delivered revision "
                 "%" PRId64 " after %d ms",
                 store->url, revision, ETCD_WATCH_WAIT_MS);
        store_note_commit(&store->up, revision, kinds, n_kinds);
    }
    free(kinds);
    free(lock);
    store_release_writer(&store->up);
    txn_free(txn);
    if (!error && revisionp) {
        *revisionp = revision;
    }
    return error;
}

/* Returns the change 'txn' holds for (kind, name), or NULL. */
static struct etcd_write *
txn_find_write(struct etcd_txn *txn, const char *kind, const char *name)
{
    for (size_t i = 0; i < txn->n_writes; i++) {
        struct etcd_write *w = &txn->writes[i];

        if (!strcmp(w->kind, kind) && !strcmp(w->name, name)) {
            return w;
        }
    }
    return NULL;
}

/* Fills 'obj' from etcd key-value 'kv' of object (kind, name). */
static int
obj_from_kv(struct etcd_store *store, json_t *kv, const char *kind,
            const char *name, struct store_obj *obj)
{
    const char *value64 = json_string_value(json_object_get(kv, "value"));
    json_error_t jerr;
    size_t len;
    char *value;

    memset(obj, 0, sizeof *obj);
    if (!etcd_unb64(value64 ? value64 : "", &value, &len)) {
        LOG_ERR("store %s: %s \"%s\": etcd's value is not base64", store->url,
                kind, name);
        return EIO;
    }
    obj->body = json_loadb(value, len, JSON_DECODE_ANY, &jerr);
    free(value);
    if (!obj->body) {
        LOG_ERR("store %s: %s \"%s\" (key %s/o/%s/%s): stored body is not "
                "JSON: %s; delete or rewrite the key",
                store->url, kind, name, store->prefix, kind, name, jerr.text);
        return EIO;
    }
    obj->kind = xstrdup(kind);
    obj->name = xstrdup(name);
    obj->version = etcd_int(kv, "version");
    obj->create_revision = etcd_int(kv, "create_revision");
    obj->mod_revision = etcd_int(kv, "mod_revision");
    return 0;
}

/* Pins a read transaction to the revision of its first read's 'reply'. */
static void
txn_pin(struct etcd_txn *txn, const json_t *reply)
{
    if (!txn->write && !txn->revision) {
        txn->revision = etcd_revision(reply);
    }
}

/* The revision 'txn' reads at: its snapshot's, or the latest (0) for a
 * write transaction, whose lock keeps others from writing. */
static int64_t
txn_read_revision(const struct etcd_txn *txn)
{
    return txn->write ? 0 : txn->revision;
}

/* Kinds name a range of keys, so they cannot hold a '/'. */
static int
check_kind(const struct etcd_store *store, const char *kind)
{
    if (strchr(kind, '/')) {
        LOG_ERR("store %s: kind \"%s\" has a '/', which etcd keys cannot "
                "tell from the name's",
                store->url, kind);
        return EINVAL;
    }
    return 0;
}

/* Reads (kind, name) from etcd (not the transaction's changes). */
static int
txn_read(struct etcd_txn *txn, const char *kind, const char *name,
         struct store_obj *obj, bool *found)
{
    struct etcd_store *store = txn->store;
    char *key = store_etcd_obj_key(store, kind, name);
    json_t *reply, *kv;
    int error;

    memset(obj, 0, sizeof *obj);
    error = store_etcd_range(store, key, NULL, txn_read_revision(txn), 0,
                             false, &reply);
    free(key);
    if (error) {
        return error;
    }
    txn_pin(txn, reply);
    kv = json_array_get(json_object_get(reply, "kvs"), 0);
    *found = kv != NULL;
    error = kv ? obj_from_kv(store, kv, kind, name, obj) : 0;
    json_decref(reply);
    return error;
}

static int
store_etcd_get(struct store_txn *txn_, const char *kind, const char *name,
               struct store_obj *obj)
{
    struct etcd_txn *txn = etcd_txn_cast(txn_);
    struct etcd_write *w;
    bool found;
    int error;

    error = check_kind(txn->store, kind);
    if (error) {
        return error;
    }
    w = txn->write ? txn_find_write(txn, kind, name) : NULL;
    if (w) {
        struct store_obj old;

        if (!w->value) {
            return ENOENT;
        }
        /* Its revisions are etcd's of before the transaction (0 for a new
         * object): the commit's are not known yet. */
        error = txn_read(txn, kind, name, &old, &found);
        if (error) {
            return error;
        }
        obj->kind = xstrdup(kind);
        obj->name = xstrdup(name);
        obj->body = json_loads(w->value, JSON_DECODE_ANY, NULL);
        obj->version = w->version;
        obj->create_revision = found ? old.create_revision : 0;
        obj->mod_revision = found ? old.mod_revision : 0;
        store_obj_clear(&old);
        return 0;
    }
    error = txn_read(txn, kind, name, obj, &found);
    return error ? error : found ? 0 : ENOENT;
}

/* Returns the version of (kind, name) as 'txn' sees it, 0 if none, and
 * the change 'txn' holds for it in '*wp' (NULL if none). */
static int
txn_current_version(struct etcd_txn *txn, const char *kind, const char *name,
                    int64_t *version, struct etcd_write **wp)
{
    struct etcd_store *store = txn->store;
    char *key;
    json_t *reply, *kv;
    int error;

    *wp = txn_find_write(txn, kind, name);
    if (*wp) {
        *version = (*wp)->version;
        return 0;
    }
    key = store_etcd_obj_key(store, kind, name);
    error = store_etcd_range(store, key, NULL, 0, 0, false, &reply);
    free(key);
    if (!error) {
        kv = json_array_get(json_object_get(reply, "kvs"), 0);
        *version = kv ? etcd_int(kv, "version") : 0;
        json_decref(reply);
    }
    return error;
}

/* Records a change of (kind, name) to 'value' (NULL: delete) in 'txn'. */
static void
txn_add_write(struct etcd_txn *txn, struct etcd_write *w, const char *kind,
              const char *name, int64_t current, char *value)
{
    if (!w) {
        txn->writes =
            xrealloc(txn->writes, (txn->n_writes + 1) * sizeof *txn->writes);
        w = &txn->writes[txn->n_writes++];
        w->kind = xstrdup(kind);
        w->name = xstrdup(name);
        w->base_version = current;
        w->value = NULL;
    }
    free(w->value);
    w->value = value;
    w->version = value ? current + 1 : 0;
}

static int
check_write(const struct etcd_txn *txn, const char *kind, const char *name)
{
    if (!txn->write) {
        LOG_ERR("store %s: writing %s \"%s\" in a read-only transaction",
                txn->store->url, kind, name);
        return EROFS;
    }
    return check_kind(txn->store, kind);
}

static int
store_etcd_put(struct store_txn *txn_, const char *kind, const char *name,
               json_t *body, int64_t expected_version, int64_t *versionp)
{
    struct etcd_txn *txn = etcd_txn_cast(txn_);
    struct etcd_write *w;
    int64_t current;
    char *text;
    int error;

    error = check_write(txn, kind, name);
    if (!error) {
        error = txn_current_version(txn, kind, name, &current, &w);
    }
    if (!error) {
        error = store_check_version(expected_version, current);
    }
    if (error) {
        return error;
    }
    text = json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!text) {
        LOG_ERR("store %s: %s \"%s\": body cannot be serialized",
                txn->store->url, kind, name);
        return EINVAL;
    }
    txn_add_write(txn, w, kind, name, current, text);
    if (versionp) {
        *versionp = current + 1;
    }
    return 0;
}

static int
store_etcd_delete(struct store_txn *txn_, const char *kind, const char *name,
                  int64_t expected_version)
{
    struct etcd_txn *txn = etcd_txn_cast(txn_);
    struct etcd_write *w;
    int64_t current;
    int error;

    error = check_write(txn, kind, name);
    if (!error) {
        error = txn_current_version(txn, kind, name, &current, &w);
    }
    if (!error && !current) {
        error = ENOENT;
    }
    if (!error) {
        error = store_check_version(expected_version, current);
    }
    if (!error) {
        txn_add_write(txn, w, kind, name, current, NULL);
    }
    return error;
}

/* Whether 'a' sorts before 'b' as etcd sorts keys: by bytes. */
static int
name_cmp(const char *a, const char *b)
{
    return strcmp(a, b);
}

/* Calls 'cb' for an object that 'txn' changed, as store_list() would. */
static int
list_write(struct etcd_txn *txn, const struct etcd_write *w, store_list_cb *cb,
           void *aux)
{
    struct store_obj obj;
    int error;

    memset(&obj, 0, sizeof obj);
    error = store_etcd_get(&txn->up, w->kind, w->name, &obj);
    if (!error) {
        error = cb(&obj, aux);
    }
    store_obj_clear(&obj);
    return error;
}

static int
store_etcd_list(struct store_txn *txn_, const char *kind, const char *after,
                size_t limit, store_list_cb *cb, void *aux)
{
    struct etcd_txn *txn = etcd_txn_cast(txn_);
    struct etcd_store *store = txn->store;
    char *kind_prefix = xasprintf("o/%s/", kind);
    char *end = store_etcd_range_end(store, kind_prefix);
    size_t prefix_len = strlen(store->prefix) + strlen(kind_prefix) + 1;
    char *last = after ? xstrdup(after) : NULL;
    /* The transaction's own changes of this kind, in name order, merged
     * with what etcd holds. */
    const struct etcd_write **mine = NULL;
    size_t n_mine = 0, next_mine = 0, n_done = 0;
    int error;

    error = check_kind(store, kind);
    for (size_t i = 0; !error && txn->write && i < txn->n_writes; i++) {
        const struct etcd_write *w = &txn->writes[i];

        if (!strcmp(w->kind, kind)
            && (!after || name_cmp(w->name, after) > 0)) {
            size_t j = n_mine;

            mine = xrealloc(mine, (n_mine + 1) * sizeof *mine);
            while (j > 0 && name_cmp(mine[j - 1]->name, w->name) > 0) {
                mine[j] = mine[j - 1];
                j--;
            }
            mine[j] = w;
            n_mine++;
        }
    }

    bool more = !error;
    while (more && !error && (!limit || n_done < limit)) {
        char *start_key, *start;
        json_t *reply, *kvs, *kv;
        size_t i;

        start_key =
            (last ? xasprintf("%s/o/%s/%s%c", store->prefix, kind, last, '\0')
                  : xasprintf("%s/o/%s/", store->prefix, kind));
        /* A name's successor: the same with a NUL byte after it. */
        start = etcd_b64(start_key, strlen(start_key) + (last ? 1 : 0));
        free(start_key);
        error = store_etcd_range(store, start, end, txn_read_revision(txn),
                                 ETCD_PAGE, false, &reply);
        free(start);
        if (error) {
            break;
        }
        txn_pin(txn, reply);
        more = json_is_true(json_object_get(reply, "more"));
        kvs = json_object_get(reply, "kvs");
        json_array_foreach(kvs, i, kv)
        {
            char *key, *name;
            struct store_obj obj;
            const struct etcd_write *w;

            if (!etcd_unb64(json_string_value(json_object_get(kv, "key")),
                            &key, NULL)) {
                error = EIO;
                break;
            }
            name = xstrdup(key + prefix_len);
            free(key);
            free(last);
            last = name;
            /* Changes of the transaction that sort before this one. */
            while (!error && next_mine < n_mine
                   && name_cmp(mine[next_mine]->name, name) < 0
                   && (!limit || n_done < limit)) {
                w = mine[next_mine++];
                if (w->value) {
                    error = list_write(txn, w, cb, aux);
                    n_done++;
                }
            }
            if (error || (limit && n_done >= limit)) {
                break;
            }
            w = (next_mine < n_mine && !strcmp(mine[next_mine]->name, name)
                     ? mine[next_mine++]
                     : NULL);
            if (w) {
                if (w->value) {
                    error = list_write(txn, w, cb, aux);
                    n_done++;
                }
                continue;
            }
            error = obj_from_kv(store, kv, kind, name, &obj);
            if (!error) {
                error = cb(&obj, aux);
                n_done++;
            }
            store_obj_clear(&obj);
            if (error || (limit && n_done >= limit)) {
                break;
            }
        }
        json_decref(reply);
    }
    while (!error && next_mine < n_mine && (!limit || n_done < limit)) {
        const struct etcd_write *w = mine[next_mine++];

        if (w->value) {
            error = list_write(txn, w, cb, aux);
            n_done++;
        }
    }
    free(mine);
    free(last);
    free(end);
    free(kind_prefix);
    return error;
}

static int
store_etcd_count(struct store_txn *txn_, const char *kind, size_t *count)
{
    struct etcd_txn *txn = etcd_txn_cast(txn_);
    struct etcd_store *store = txn->store;
    char *kind_prefix = xasprintf("o/%s/", kind);
    char *start = store_etcd_key(store, kind_prefix);
    char *end = store_etcd_range_end(store, kind_prefix);
    json_t *reply;
    int error;

    error = check_kind(store, kind);
    if (!error) {
        error = store_etcd_range(store, start, end, txn_read_revision(txn), 0,
                                 true, &reply);
    }
    if (!error) {
        int64_t n = etcd_int(reply, "count");

        txn_pin(txn, reply);
        json_decref(reply);
        for (size_t i = 0; txn->write && i < txn->n_writes; i++) {
            const struct etcd_write *w = &txn->writes[i];

            if (!strcmp(w->kind, kind)) {
                n += (w->value ? 1 : 0) - (w->base_version ? 1 : 0);
            }
        }
        *count = n;
    }
    free(start);
    free(end);
    free(kind_prefix);
    return error;
}

static int
compare_strings(const void *a, const void *b)
{
    return strcmp(*(char *const *) a, *(char *const *) b);
}

/* Finds the kinds by skipping from one to the next: a range of one key
 * from the end of the kinds seen so far. */
static int
store_etcd_kinds(struct store_txn *txn_, char ***kinds, size_t *n)
{
    struct etcd_txn *txn = etcd_txn_cast(txn_);
    struct etcd_store *store = txn->store;
    char *end = store_etcd_range_end(store, "o/");
    char *start = store_etcd_key(store, "o/");
    int error = 0;

    for (;;) {
        json_t *reply, *kv;
        char *key, *kind, *next;

        error = store_etcd_range(store, start, end, txn_read_revision(txn), 1,
                                 false, &reply);
        if (error) {
            break;
        }
        txn_pin(txn, reply);
        kv = json_array_get(json_object_get(reply, "kvs"), 0);
        kind = NULL;
        if (kv
            && etcd_unb64(json_string_value(json_object_get(kv, "key")), &key,
                          NULL)) {
            kind = store_etcd_key_kind(store, key);
            free(key);
        }
        json_decref(reply);
        if (!kind) {
            break;
        }
        *kinds = xrealloc(*kinds, (*n + 1) * sizeof **kinds);
        (*kinds)[(*n)++] = kind;
        next = xasprintf("o/%s/", kind);
        free(start);
        start = store_etcd_range_end(store, next);
        free(next);
    }
    free(start);
    free(end);
    /* Keys sort "identity-set/..." before "identity/...": kinds sort by
     * their names, as SQLite's do. */
    qsort(*kinds, *n, sizeof **kinds, compare_strings);
    return error;
}

/* Elections (doc/replication.md): a candidate leads while it holds
 * PREFIX/elect/ROLE on a lease of its own, kept alive every third of the
 * lease's TTL by one thread, while another campaigns: it tries to create
 * the key and, failing that, watches it until it is deleted. */
struct etcd_election {
    struct store_election up; /* The common part. */
    struct etcd_store *store; /* The store it belongs to. */
    char *role;               /* E.g. "ha". */
    char *candidate;          /* The value of the key while it leads. */
    char *key;                /* PREFIX/elect/ROLE, base64. */
    int ttl_ms;               /* The lease's length. */

    pthread_mutex_t mutex;  /* Guards the members below. */
    pthread_cond_t changed; /* Broadcast when the members below change. */
    int64_t lease;          /* The lease, 0 if none (lapsed). */
    bool leading;           /* Holds the key on 'lease'. */
    int64_t valid_until;    /* time_msec() at which 'lease' may lapse. */

    volatile bool stop;         /* Tells the threads to end. */
    pthread_t keepalive_thread; /* Runs election_keepalive_main(). */
    pthread_t campaign_thread;  /* Runs election_campaign_main(). */
};

static struct etcd_election *
etcd_election_cast(struct store_election *election)
{
    return STORE_CONTAINER_OF(election, struct etcd_election, up);
}

/* Grants the election a new lease.  The lease's TTL is etcd's in whole
 * seconds (at least what 'ttl_ms' asks for), while leadership is judged
 * on 'ttl_ms' itself, which is the shorter. */
static int
election_grant(struct etcd_election *e)
{
    int64_t sent = time_msec();
    int64_t lease;
    int error = store_etcd_grant(e->store, (e->ttl_ms + 999) / 1000, &lease);

    if (!error) {
        pthread_mutex_lock(&e->mutex);
        e->lease = lease;
        e->valid_until = sent + e->ttl_ms;
        pthread_cond_broadcast(&e->changed);
        pthread_mutex_unlock(&e->mutex);
    }
    return error;
}

/* Tries once to take the key on the election's lease.  Stores in
 * '*revision' the revision to watch the key from if another holds it. */
static int
election_try(struct etcd_election *e, int64_t *revision)
{
    char lease[32], *value;
    json_t *request, *reply;
    bool taken;
    int error;

    pthread_mutex_lock(&e->mutex);
    snprintf(lease, sizeof lease, "%" PRId64, e->lease);
    pthread_mutex_unlock(&e->mutex);
    value = etcd_b64(e->candidate, strlen(e->candidate));
    request = json_pack("{s[o] s[{s{ssssss}}] s[{s{ss}}]}", "compare",
                        compare_created(e->key, 0), "success", "request_put",
                        "key", e->key, "value", value, "lease", lease,
                        "failure", "request_range", "key", e->key);
    error = store_etcd_txn(e->store, request, true, &taken, &reply);
    if (!error) {
        json_t *kv = txn_failure_kv(reply);

        /* A first attempt whose answer was lost may have taken it. */
        if (!taken && kv
            && etcd_int(kv, "lease") == strtoll(lease, NULL, 10)) {
            taken = true;
        }
        *revision = etcd_revision(reply);
        json_decref(reply);
        pthread_mutex_lock(&e->mutex);
        if (taken != e->leading) {
            e->leading = taken;
            pthread_cond_broadcast(&e->changed);
        }
        pthread_mutex_unlock(&e->mutex);
        if (taken) {
            LOG_INFO("store %s: %s leads \"%s\"", e->store->url, e->candidate,
                     e->role);
        }
    }
    json_decref(request);
    free(value);
    return error;
}

/* Ends the watch of the key once a message shows it deleted. */
static int
election_watch_cb(json_t *result, void *e_)
{
    json_t *event;
    size_t i;

    if (json_is_true(json_object_get(result, "canceled"))) {
        return ERANGE;
    }
    json_array_foreach(json_object_get(result, "events"), i, event)
    {
        const char *type = json_string_value(json_object_get(event, "type"));

        if (type && !strcmp(type, "DELETE")) {
            return EAGAIN;
        }
    }
    return 0;
}

static void *
election_campaign_main(void *e_)
{
    struct etcd_election *e = e_;

    while (!e->stop) {
        int64_t lease, revision;
        bool leading;

        pthread_mutex_lock(&e->mutex);
        lease = e->lease;
        leading = e->leading;
        pthread_mutex_unlock(&e->mutex);

        if (leading) {
            /* Leads until the keep-alive thread finds the lease gone. */
            pthread_mutex_lock(&e->mutex);
            while (e->leading && !e->stop) {
                struct timespec deadline;

                time_deadline_after(&deadline, 1000);
                pthread_cond_timedwait(&e->changed, &e->mutex, &deadline);
            }
            pthread_mutex_unlock(&e->mutex);
        } else if (!lease) {
            if (election_grant(e)) {
                sleep_unless_stopped(&e->stop, e->ttl_ms / 3);
            }
        } else if (election_try(e, &revision)) {
            sleep_unless_stopped(&e->stop, e->ttl_ms / 3);
        } else {
            pthread_mutex_lock(&e->mutex);
            leading = e->leading;
            pthread_mutex_unlock(&e->mutex);
            if (!leading) {
                char from[32];
                json_t *create;

                snprintf(from, sizeof from, "%" PRId64, revision + 1);
                create = json_pack("{ss ss}", "key", e->key, "start_revision",
                                   from);
                if (etcd_watch(e->store->etcd, create, election_watch_cb, e,
                               &e->stop)
                    == ENOTCONN) {
                    sleep_unless_stopped(&e->stop, e->ttl_ms / 3);
                }
                json_decref(create);
            }
        }
    }
    return NULL;
}

/* Keeps the election's lease alive every third of its length.  Leadership
 * lasts until 'ttl_ms' after the sending of the last keep-alive that
 * succeeded: etcd received it later than that, so the lease outlives the
 * leadership. */
static void *
election_keepalive_main(void *e_)
{
    struct etcd_election *e = e_;

    while (!e->stop) {
        int64_t lease, sent, ttl_s;

        sleep_unless_stopped(&e->stop, e->ttl_ms / 3);
        pthread_mutex_lock(&e->mutex);
        lease = e->lease;
        pthread_mutex_unlock(&e->mutex);
        if (e->stop || !lease) {
            continue;
        }
        sent = time_msec();
        if (store_etcd_keepalive(e->store, lease, &ttl_s)) {
            continue;
        }
        pthread_mutex_lock(&e->mutex);
        if (e->lease == lease) {
            if (ttl_s > 0) {
                e->valid_until = sent + e->ttl_ms;
            } else {
                LOG_WARN("store %s: the lease of %s for \"%s\" lapsed",
                         e->store->url, e->candidate, e->role);
                e->lease = 0;
                e->leading = false;
            }
            pthread_cond_broadcast(&e->changed);
        }
        pthread_mutex_unlock(&e->mutex);
    }
    return NULL;
}

static bool
election_is_leader__(const struct etcd_election *e)
{
    return e->leading && time_msec() < e->valid_until;
}

static int
store_etcd_election_start(struct store *store_, const char *role,
                          const char *candidate, int ttl_ms,
                          struct store_election **electionp)
{
    struct etcd_store *store = etcd_store_cast(store_);
    struct etcd_election *e = xzalloc(sizeof *e);
    char *suffix = xasprintf("elect/%s", role);
    int64_t revision;
    int error;

    e->up.store = store_;
    e->store = store;
    e->role = xstrdup(role);
    e->candidate = xstrdup(candidate);
    e->key = store_etcd_key(store, suffix);
    e->ttl_ms = ttl_ms;
    pthread_mutex_init(&e->mutex, NULL);
    cond_init_monotonic(&e->changed);
    free(suffix);

    /* The first attempt is made here, so that a caller knows at once
     * whether it leads and a store out of reach is an error. */
    error = election_grant(e);
    if (!error) {
        error = election_try(e, &revision);
    }
    if (error) {
        if (e->lease) {
            store_etcd_revoke(store, e->lease);
        }
        pthread_cond_destroy(&e->changed);
        pthread_mutex_destroy(&e->mutex);
        free(e->key);
        free(e->candidate);
        free(e->role);
        free(e);
        return error;
    }
    if (pthread_create(&e->keepalive_thread, NULL, election_keepalive_main, e)
        || pthread_create(&e->campaign_thread, NULL, election_campaign_main,
                          e)) {
        abort();
    }
    *electionp = &e->up;
    return 0;
}

static bool
store_etcd_election_is_leader(struct store_election *election)
{
    struct etcd_election *e = etcd_election_cast(election);
    bool leading;

    pthread_mutex_lock(&e->mutex);
    leading = election_is_leader__(e);
    pthread_mutex_unlock(&e->mutex);
    return leading;
}

static int
store_etcd_election_wait(struct store_election *election, bool was_leader,
                         int timeout_ms)
{
    struct etcd_election *e = etcd_election_cast(election);
    int64_t deadline = timeout_ms < 0 ? INT64_MAX : time_msec() + timeout_ms;
    int error = ETIMEDOUT;

    pthread_mutex_lock(&e->mutex);
    for (;;) {
        int64_t now = time_msec();
        int64_t until = deadline;
        struct timespec ts;

        if (election_is_leader__(e) != was_leader) {
            error = 0;
            break;
        } else if (now >= deadline) {
            break;
        }
        /* Leadership also ends by the clock, with no event. */
        if (e->leading && e->valid_until < until) {
            until = e->valid_until;
        }
        time_deadline_after(
            &ts, (int) (until - now < 1000 ? until - now : 1000) + 1);
        pthread_cond_timedwait(&e->changed, &e->mutex, &ts);
    }
    pthread_mutex_unlock(&e->mutex);
    return error;
}

static char *
store_etcd_election_leader(struct store_election *election)
{
    struct etcd_election *e = etcd_election_cast(election);
    char *leader = NULL;
    json_t *reply, *kv;

    if (!store_etcd_range(e->store, e->key, NULL, 0, 0, false, &reply)) {
        kv = json_array_get(json_object_get(reply, "kvs"), 0);
        if (kv
            && !etcd_unb64(json_string_value(json_object_get(kv, "value")),
                           &leader, NULL)) {
            leader = NULL;
        }
        json_decref(reply);
    }
    return leader;
}

static void
store_etcd_election_stop(struct store_election *election)
{
    struct etcd_election *e = etcd_election_cast(election);

    pthread_mutex_lock(&e->mutex);
    e->stop = true;
    pthread_cond_broadcast(&e->changed);
    pthread_mutex_unlock(&e->mutex);
    pthread_join(e->keepalive_thread, NULL);
    pthread_join(e->campaign_thread, NULL);
    /* Revoking the lease deletes the key: another candidate may lead at
     * once instead of after the lease. */
    if (e->lease) {
        store_etcd_revoke(e->store, e->lease);
    }
    pthread_cond_destroy(&e->changed);
    pthread_mutex_destroy(&e->mutex);
    free(e->key);
    free(e->candidate);
    free(e->role);
    free(e);
}

const struct store_class store_etcd_class = {
    .name = "etcd",
    .open = store_etcd_open,
    .close = store_etcd_close,
    .begin = store_etcd_begin,
    .commit = store_etcd_commit,
    .abort = store_etcd_abort,
    .get = store_etcd_get,
    .put = store_etcd_put,
    .delete = store_etcd_delete,
    .list = store_etcd_list,
    .count = store_etcd_count,
    .kinds = store_etcd_kinds,
    .status = store_etcd_status,
    .election_start = store_etcd_election_start,
    .election_is_leader = store_etcd_election_is_leader,
    .election_wait = store_etcd_election_wait,
    .election_leader = store_etcd_election_leader,
    .election_stop = store_etcd_election_stop,
};
