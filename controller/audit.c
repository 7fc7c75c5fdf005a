/* The audit trail. */
#include "controller/audit.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "controller/api.h"
#include "controller/store.h"
#include "utils/log.h"
#include "utils/util.h"

/* Entry names are AUDIT_TOP minus the entry's sequence number, zero-padded
 * to 19 digits: the newest entry has the smallest name. */
#define AUDIT_TOP UINT64_C(9999999999999999999)

/* Entries pruned per pass at most; each record normally prunes one. */
#define PRUNE_BATCH 100

/* The store kind of the aggregates of refused requests. */
#define REFUSED_KIND "audit-refused"

/* Refused requests of one client address, status and token name. */
struct refusal {
    char *name;      /* Its store name, "CLIENT/STATUS/WHO". */
    char *client;    /* Client address. */
    char *who;       /* Token name, or "-". */
    int status;      /* 401, 403... */
    uint64_t count;  /* Requests refused so far. */
    uint64_t logged; /* 'count' when last logged. */
    char first[32];  /* Time of the first, RFC 3339. */
    char last[32];   /* Time of the last, RFC 3339. */
    int64_t last_us; /* 'last' in microseconds, for order and eviction. */
    char *method;    /* The last request's method. */
    char *path;      /* Its path. */
    char *message;   /* Why it was refused. */
    bool dirty;      /* Changed since it was last written. */
};

struct audit {
    struct store *store;   /* Where entries go. */
    size_t keep;           /* How many change entries to keep. */
    size_t refused_keep;   /* How many aggregates of refusals to keep. */
    pthread_mutex_t mutex; /* Protects the members below. */
    uint64_t seq;          /* Sequence number of the last entry. */

    struct refusal *refusals; /* Aggregates of refused requests. */
    size_t n_refusals;        /* Number of 'refusals'. */
    json_t *evicted;          /* Names of aggregates to delete. */
    int64_t flushed_ms;       /* When refusals were last written. */
    bool flushing;            /* A thread is writing them now. */
};

static void
entry_name(uint64_t seq, char buf[24])
{
    snprintf(buf, 24, "%019" PRIu64, AUDIT_TOP - seq);
}

/* Formats the time now into 'stamp' (RFC 3339 UTC with microseconds) and
 * returns it in microseconds since the epoch. */
static int64_t
now_stamp(char stamp[32])
{
    struct timespec ts;
    struct tm tm;

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    strftime(stamp, 24, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(stamp + strlen(stamp), 32 - strlen(stamp), ".%06ldZ",
             ts.tv_nsec / 1000);
    return (int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int
newest_cb(const struct store_obj *obj, void *seq_)
{
    uint64_t *seq = seq_;

    *seq = AUDIT_TOP - strtoull(obj->name, NULL, 10);
    return API_STOP;
}

static void
refusal_clear(struct refusal *r)
{
    free(r->name);
    free(r->client);
    free(r->who);
    free(r->method);
    free(r->path);
    free(r->message);
}

/* Copies string member 'key' of 'body' into 'dst' of 'size' bytes. */
static void
copy_member(const json_t *body, const char *key, char *dst, size_t size)
{
    snprintf(dst, size, "%s", api_get_string(body, key) ?: "");
}

/* Loads one stored aggregate of refusals. */
static int
load_refusal_cb(const struct store_obj *obj, void *a_)
{
    struct audit *a = a_;
    struct refusal *r;
    int64_t us;

    if (a->n_refusals >= a->refused_keep) {
        /* Kept by a run with a larger quota: the next flush drops it. */
        json_array_append_new(a->evicted, json_string(obj->name));
        return 0;
    }
    r = &a->refusals[a->n_refusals++];
    memset(r, 0, sizeof *r);
    r->name = xstrdup(obj->name);
    r->client = xstrdup(api_get_string(obj->body, "client") ?: "-");
    r->who = xstrdup(api_get_string(obj->body, "who") ?: "-");
    r->status = json_integer_value(json_object_get(obj->body, "status"));
    r->count = json_integer_value(json_object_get(obj->body, "count"));
    r->logged = r->count;
    copy_member(obj->body, "first_time", r->first, sizeof r->first);
    copy_member(obj->body, "last_time", r->last, sizeof r->last);
    r->last_us = api_parse_rfc3339(r->last, &us) ? us : 0;
    r->method = xstrdup(api_get_string(obj->body, "method") ?: "");
    r->path = xstrdup(api_get_string(obj->body, "path") ?: "");
    r->message = xstrdup(api_get_string(obj->body, "message") ?: "");
    return 0;
}

struct audit *
audit_create(struct store *store, size_t keep, size_t refused_keep)
{
    struct audit *a = xzalloc(sizeof *a);
    struct store_txn *txn;

    a->store = store;
    a->keep = keep ? keep : AUDIT_KEEP_DEFAULT;
    a->refused_keep = refused_keep ? refused_keep : AUDIT_REFUSED_KEEP_DEFAULT;
    a->refusals = xcalloc(a->refused_keep, sizeof *a->refusals);
    a->evicted = json_array();
    a->flushed_ms = time_msec();
    pthread_mutex_init(&a->mutex, NULL);
    /* Continue the numbering where the last run stopped, and the counts
     * of refusals. */
    if (!store_begin(store, false, &txn)) {
        store_list(txn, "audit", NULL, 1, newest_cb, &a->seq);
        store_list(txn, REFUSED_KIND, NULL, SIZE_MAX, load_refusal_cb, a);
        store_abort(txn);
    }
    return a;
}

static void flush_refusals(struct audit *);

void
audit_destroy(struct audit *a)
{
    if (a) {
        flush_refusals(a);
        for (size_t i = 0; i < a->n_refusals; i++) {
            refusal_clear(&a->refusals[i]);
        }
        free(a->refusals);
        json_decref(a->evicted);
        pthread_mutex_destroy(&a->mutex);
        free(a);
    }
}

/* Names of entries to prune. */
static int
collect_cb(const struct store_obj *obj, void *names)
{
    json_array_append_new(names, json_string(obj->name));
    return 0;
}

void
audit_record(struct audit *a, const struct audit_entry *e)
{
    struct store_txn *txn;
    char stamp[32], name[24], after[24];
    json_t *body, *old, *value;
    uint64_t seq;
    size_t i;
    int error;

    LOG_INFO("audit: %s %s (%s) %s %s: %d %s", e->client ? e->client : "-",
             e->who ? e->who : "-", e->role ? e->role : "-", e->method,
             e->path, e->status, e->message ? e->message : "");

    now_stamp(stamp);
    body = json_pack("{sssssssssssssiss}", "time", stamp, "client",
                     e->client ? e->client : "-", "who", e->who ? e->who : "-",
                     "role", e->role ? e->role : "-", "method", e->method,
                     "path", e->path, "status", e->status, "message",
                     e->message ? e->message : "");

    pthread_mutex_lock(&a->mutex);
    seq = ++a->seq;
    pthread_mutex_unlock(&a->mutex);
    entry_name(seq, name);

    old = json_array();
    error = store_begin(a->store, true, &txn);
    if (!error) {
        error = store_put(txn, "audit", name, body, STORE_ANY, NULL);
    }
    if (!error && seq > a->keep) {
        /* Everything at or before sequence number seq - keep goes. */
        entry_name(seq - a->keep + 1, after);
        error = store_list(txn, "audit", after, PRUNE_BATCH, collect_cb, old);
        json_array_foreach(old, i, value)
        {
            if (!error) {
                error = store_delete(txn, "audit", json_string_value(value),
                                     STORE_ANY);
            }
        }
    }
    if (!error) {
        error = store_commit(txn, NULL);
    } else {
        store_abort(txn);
    }
    if (error) {
        LOG_ERR("audit: cannot record %s %s: %s", e->method, e->path,
                strerror(error));
    }
    json_decref(old);
    json_decref(body);
}

/* The JSON form of 'r', as stored and as listed. */
static json_t *
refusal_to_json(const struct refusal *r)
{
    return json_pack("{sssssisssIssssssssss}", "client", r->client, "who",
                     r->who, "status", r->status, "reason",
                     api_reason(r->status), "count", (json_int_t) r->count,
                     "first_time", r->first, "last_time", r->last, "method",
                     r->method, "path", r->path, "message", r->message);
}

/* Writes the aggregates changed since the last flush and deletes the
 * evicted ones, in one transaction, and logs what changed.  Only one
 * thread flushes at a time; the others go on counting. */
static void
flush_refusals(struct audit *a)
{
    json_t *puts = json_object();
    struct store_txn *txn = NULL;
    json_t *evicted, *body;
    const char *name;
    json_t *value;
    size_t i;
    int error;

    pthread_mutex_lock(&a->mutex);
    if (a->flushing) {
        pthread_mutex_unlock(&a->mutex);
        json_decref(puts);
        return;
    }
    a->flushing = true;
    a->flushed_ms = time_msec();
    for (i = 0; i < a->n_refusals; i++) {
        struct refusal *r = &a->refusals[i];

        if (!r->dirty) {
            continue;
        }
        r->dirty = false;
        json_object_set_new(puts, r->name, refusal_to_json(r));
        LOG_INFO("audit: refused %" PRIu64 " request%s from %s (token %s): "
                 "%d, %" PRIu64 " since %s; the last: %s %s: %s",
                 r->count - r->logged, r->count - r->logged == 1 ? "" : "s",
                 r->client, r->who, r->status, r->count, r->first, r->method,
                 r->path, r->message);
        r->logged = r->count;
    }
    evicted = a->evicted;
    a->evicted = json_array();
    pthread_mutex_unlock(&a->mutex);

    if (json_object_size(puts) || json_array_size(evicted)) {
        error = store_begin(a->store, true, &txn);
        json_array_foreach(evicted, i, value)
        {
            if (!error) {
                error = store_delete(txn, REFUSED_KIND,
                                     json_string_value(value), STORE_ANY);
                error = error == ENOENT ? 0 : error;
            }
        }
        json_object_foreach(puts, name, body)
        {
            if (!error) {
                error =
                    store_put(txn, REFUSED_KIND, name, body, STORE_ANY, NULL);
            }
        }
        if (!error) {
            error = store_commit(txn, NULL);
        } else if (txn) {
            store_abort(txn);
        }
        if (error) {
            LOG_ERR("audit: cannot record %zu aggregates of refused "
                    "requests: %s; they are counted on in memory",
                    json_object_size(puts), strerror(error));
        }
    }
    json_decref(evicted);
    json_decref(puts);

    pthread_mutex_lock(&a->mutex);
    a->flushing = false;
    pthread_mutex_unlock(&a->mutex);
}

/* Returns the aggregate of 'client', 'status' and 'who', making room for
 * it if it is new. */
static struct refusal *
find_refusal(struct audit *a, const char *client, int status, const char *who)
{
    char *name = xasprintf("%s/%d/%s", client, status, who);
    struct refusal *r;

    for (size_t i = 0; i < a->n_refusals; i++) {
        if (!strcmp(a->refusals[i].name, name)) {
            free(name);
            return &a->refusals[i];
        }
    }
    if (a->n_refusals < a->refused_keep) {
        r = &a->refusals[a->n_refusals++];
    } else {
        /* The quota is full: the aggregate seen least recently goes. */
        r = &a->refusals[0];
        for (size_t i = 1; i < a->n_refusals; i++) {
            if (a->refusals[i].last_us < r->last_us) {
                r = &a->refusals[i];
            }
        }
        json_array_append_new(a->evicted, json_string(r->name));
        refusal_clear(r);
    }
    memset(r, 0, sizeof *r);
    r->name = name;
    r->client = xstrdup(client);
    r->who = xstrdup(who);
    r->status = status;
    return r;
}

/* Replaces '*dst' by a copy of 'src' unless they are equal. */
static void
set_string(char **dst, const char *src)
{
    if (!*dst || strcmp(*dst, src)) {
        free(*dst);
        *dst = xstrdup(src);
    }
}

void
audit_refuse(struct audit *a, const struct audit_entry *e)
{
    struct refusal *r;
    char stamp[32];
    int64_t us = now_stamp(stamp);
    bool flush;

    pthread_mutex_lock(&a->mutex);
    r = find_refusal(a, e->client ? e->client : "-", e->status,
                     e->who ? e->who : "-");
    if (!r->count) {
        snprintf(r->first, sizeof r->first, "%s", stamp);
    }
    r->count++;
    snprintf(r->last, sizeof r->last, "%s", stamp);
    r->last_us = us;
    set_string(&r->method, e->method);
    set_string(&r->path, e->path);
    set_string(&r->message, e->message ? e->message : "");
    r->dirty = true;
    flush =
        time_msec() - a->flushed_ms >= AUDIT_REFUSED_FLUSH_MS && !a->flushing;
    pthread_mutex_unlock(&a->mutex);

    if (flush) {
        flush_refusals(a);
    }
}

/* An audit page in the making. */
static int
entry_cb(const struct store_obj *obj, void *items)
{
    json_t *entry = json_deep_copy(obj->body);

    json_object_set_new(entry, "id", json_string(obj->name));
    if (!json_object_get(entry, "client")) {
        /* Recorded before entries had it. */
        json_object_set_new(entry, "client", json_string("-"));
    }
    json_array_append_new(items, entry);
    return 0;
}

int
audit_list(struct audit *a, const json_t *query, json_t **out,
           struct api_error *err)
{
    const char *page_token;
    struct store_txn *txn;
    size_t limit;
    json_t *items;
    int error;
    int status;

    status =
        api_list_query(query, "audit entries", NULL, &limit, &page_token, err);
    if (status) {
        return status;
    }
    error = store_begin(a->store, false, &txn);
    if (error) {
        return api_store_error(error, "reading the audit trail", err);
    }
    items = json_array();
    error = store_list(txn, "audit", page_token, limit + 1, entry_cb, items);
    store_abort(txn);
    if (error) {
        json_decref(items);
        return api_store_error(error, "reading the audit trail", err);
    }
    *out = json_object();
    if (json_array_size(items) > limit) {
        json_array_remove(items, limit);
        json_object_set(
            *out, "next_page_token",
            json_object_get(json_array_get(items, limit - 1), "id"));
    }
    json_object_set_new(*out, "items", items);
    return 200;
}

/* The order of aggregates, the most recently seen first: negative if the
 * one seen last at 'a_us' named 'a_name' comes before 'b_us' 'b_name'. */
static int
order_refusals(int64_t a_us, const char *a_name, int64_t b_us,
               const char *b_name)
{
    if (a_us != b_us) {
        return a_us > b_us ? -1 : 1;
    }
    return strcmp(a_name, b_name);
}

/* qsort() in order_refusals() order. */
static int
compare_refusals(const void *a_, const void *b_)
{
    const struct refusal *const *a = a_;
    const struct refusal *const *b = b_;

    return order_refusals((*a)->last_us, (*a)->name, (*b)->last_us,
                          (*b)->name);
}

int
audit_list_refused(struct audit *a, const json_t *query, json_t **out,
                   struct api_error *err)
{
    size_t limit = API_LIST_DEFAULT;
    const char *after_name = NULL;
    int64_t after_us = 0;
    const struct refusal **sorted;
    const char *key;
    json_t *value, *items;
    size_t n = 0, i;

    json_object_foreach((json_t *) query, key, value)
    {
        const char *s = json_string_value(value);
        int len = 0;

        if (!strcmp(key, "limit")) {
            if (!api_parse_limit(s, &limit)) {
                return api_fail(err, 400, "limit",
                                "refused requests: limit \"%s\": must be an "
                                "integer 1..%d",
                                s ? s : "", API_LIST_MAX);
            }
        } else if (!strcmp(key, "page_token")) {
            /* A token is "LAST-MICROSECONDS NAME" of the page's last. */
            if (!s || sscanf(s, "%" SCNd64 " %n", &after_us, &len) != 1 || !len
                || !s[len]) {
                return api_fail(err, 400, "page_token",
                                "refused requests: page_token: not a token "
                                "from a previous page");
            }
            after_name = s + len;
        } else {
            return api_fail(err, 400, key,
                            "refused requests: %s: unknown query parameter "
                            "(expected limit or page_token)",
                            key);
        }
    }

    items = json_array();
    *out = json_object();
    pthread_mutex_lock(&a->mutex);
    sorted = xcalloc(a->n_refusals + 1, sizeof *sorted);
    for (i = 0; i < a->n_refusals; i++) {
        const struct refusal *r = &a->refusals[i];

        if (!after_name
            || order_refusals(r->last_us, r->name, after_us, after_name) > 0) {
            sorted[n++] = r;
        }
    }
    qsort(sorted, n, sizeof *sorted, compare_refusals);
    for (i = 0; i < n && i < limit; i++) {
        json_array_append_new(items, refusal_to_json(sorted[i]));
    }
    if (n > limit) {
        json_object_set_new(*out, "next_page_token",
                            json_sprintf("%" PRId64 " %s",
                                         sorted[limit - 1]->last_us,
                                         sorted[limit - 1]->name));
    }
    pthread_mutex_unlock(&a->mutex);
    free(sorted);
    json_object_set_new(*out, "items", items);
    return 200;
}
