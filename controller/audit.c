/* The audit trail. */
#include "controller/audit.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
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

struct audit {
    struct store *store;   /* Where entries go. */
    size_t keep;           /* How many entries to keep. */
    pthread_mutex_t mutex; /* Protects 'seq'. */
    uint64_t seq;          /* Sequence number of the last entry. */
};

static void
entry_name(uint64_t seq, char buf[24])
{
    snprintf(buf, 24, "%019" PRIu64, AUDIT_TOP - seq);
}

static int
newest_cb(const struct store_obj *obj, void *seq_)
{
    uint64_t *seq = seq_;

    *seq = AUDIT_TOP - strtoull(obj->name, NULL, 10);
    return API_STOP;
}

struct audit *
audit_create(struct store *store, size_t keep)
{
    struct audit *a = xzalloc(sizeof *a);
    struct store_txn *txn;

    a->store = store;
    a->keep = keep ? keep : AUDIT_KEEP_DEFAULT;
    pthread_mutex_init(&a->mutex, NULL);
    /* Continue the numbering where the last run stopped. */
    if (!store_begin(store, false, &txn)) {
        store_list(txn, "audit", NULL, 1, newest_cb, &a->seq);
        store_abort(txn);
    }
    return a;
}

void
audit_destroy(struct audit *a)
{
    if (a) {
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
    struct timespec ts;
    char stamp[48], name[24], after[24];
    json_t *body, *old, *value;
    struct tm tm;
    uint64_t seq;
    size_t i;
    int error;

    LOG_INFO("audit: %s (%s) %s %s: %d %s", e->who ? e->who : "-",
             e->role ? e->role : "-", e->method, e->path, e->status,
             e->message ? e->message : "");

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    strftime(stamp, 24, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(stamp + strlen(stamp), sizeof stamp - strlen(stamp), ".%06ldZ",
             ts.tv_nsec / 1000);
    body = json_pack("{sssssssssssiss}", "time", stamp, "who",
                     e->who ? e->who : "-", "role", e->role ? e->role : "-",
                     "method", e->method, "path", e->path, "status", e->status,
                     "message", e->message ? e->message : "");

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

/* An audit page in the making. */
static int
entry_cb(const struct store_obj *obj, void *items)
{
    json_t *entry = json_deep_copy(obj->body);

    json_object_set_new(entry, "id", json_string(obj->name));
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
