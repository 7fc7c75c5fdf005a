/* The store's dispatcher (controller/store.h): the URL picks a backend
 * (controller/store-provider.h), and what every backend shares is here:
 * the arguments' checks, the revision per kind and the waits on them. */

#include "controller/store.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "controller/store-provider.h"
#include "utils/log.h"
#include "utils/util.h"

/* Returns true if 'url' starts with a URL scheme (RFC 3986): a letter,
 * then letters, digits, '+', '-' or '.', then ':'. */
static bool
has_scheme(const char *url)
{
    static const char letters[] = "abcdefghijklmnopqrstuvwxyz"
                                  "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    size_t len = strspn(url, letters);

    len += strspn(url + len, "abcdefghijklmnopqrstuvwxyz"
                             "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                             "0123456789+-.");
    return len > 0 && strchr(letters, url[0]) && url[len] == ':';
}

int
store_open(const char *url, struct store **storep)
{
    const struct store_class *class;

    *storep = NULL;
    if (!url) {
        return EINVAL;
    }
    if (!strncmp(url, "etcd://", 7) || !strncmp(url, "etcds://", 8)) {
        class = &store_etcd_class;
    } else if (!strncmp(url, "sqlite:", 7) || !has_scheme(url)) {
        class = &store_sqlite_class;
    } else {
        LOG_ERR("store \"%s\": unsupported store type \"%.*s\": use "
                "\"sqlite:PATH\", a plain PATH, "
                "\"etcd://HOST:PORT[,HOST:PORT...][/PREFIX]\" or "
                "\"etcds://...\"",
                url, (int) strcspn(url, ":"), url);
        return EPROTONOSUPPORT;
    }
    return class->open(url, storep);
}

void
store_close(struct store *store)
{
    if (store) {
        store->class->close(store);
    }
}

json_t *
store_status(struct store *store)
{
    json_t *status = json_pack("{ss}", "backend", store->class->name);

    store->class->status(store, status);
    return status;
}

void
store_init(struct store *store, const struct store_class *class,
           const char *name, int64_t revision)
{
    store->class = class;
    store->name = xstrdup(name);
    pthread_mutex_init(&store->mutex, NULL);
    cond_init_monotonic(&store->committed);
    cond_init_monotonic(&store->writer_done);
    store->writing = false;
    store->revision = revision;
    store->kinds = NULL;
    store->n_kinds = 0;
    store->all_kinds_revision = 0;
    store->watchers = NULL;
    store->n_watchers = 0;
}

void
store_destroy(struct store *store)
{
    for (size_t i = 0; i < store->n_kinds; i++) {
        free(store->kinds[i].kind);
    }
    free(store->kinds);
    free(store->watchers);
    pthread_cond_destroy(&store->committed);
    pthread_cond_destroy(&store->writer_done);
    pthread_mutex_destroy(&store->mutex);
    free(store->name);
}

int
store_acquire_writer(struct store *store, int timeout_ms)
{
    struct timespec deadline;
    int error = 0;

    time_deadline_after(&deadline, timeout_ms);
    pthread_mutex_lock(&store->mutex);
    while (store->writing && !error) {
        error = pthread_cond_timedwait(&store->writer_done, &store->mutex,
                                       &deadline);
    }
    if (!store->writing) {
        store->writing = true;
        error = 0;
    }
    pthread_mutex_unlock(&store->mutex);
    if (error) {
        LOG_WARN("store %s: another write transaction has been running for "
                 "more than %d ms",
                 store->name, timeout_ms);
        return EBUSY;
    }
    return 0;
}

void
store_release_writer(struct store *store)
{
    pthread_mutex_lock(&store->mutex);
    store->writing = false;
    pthread_cond_signal(&store->writer_done);
    pthread_mutex_unlock(&store->mutex);
}

/* Records, with 'store->mutex' held, that 'revision' changed 'kind'. */
static void
store_note_kind(struct store *store, const char *kind, int64_t revision)
{
    for (size_t i = 0; i < store->n_kinds; i++) {
        if (!strcmp(store->kinds[i].kind, kind)) {
            if (revision > store->kinds[i].revision) {
                store->kinds[i].revision = revision;
            }
            return;
        }
    }
    store->kinds =
        xrealloc(store->kinds, (store->n_kinds + 1) * sizeof *store->kinds);
    store->kinds[store->n_kinds].kind = xstrdup(kind);
    store->kinds[store->n_kinds].revision = revision;
    store->n_kinds++;
}

void
store_note_commit(struct store *store, int64_t revision, char *const *kinds,
                  size_t n)
{
    pthread_mutex_lock(&store->mutex);
    for (size_t i = 0; i < n; i++) {
        store_note_kind(store, kinds[i], revision);
    }
    if (revision > store->revision) {
        store->revision = revision;
    }
    pthread_cond_broadcast(&store->committed);
    pthread_mutex_unlock(&store->mutex);
}

void
store_watch(struct store *store, store_change_cb *cb, void *aux)
{
    pthread_mutex_lock(&store->mutex);
    store->watchers = xrealloc(store->watchers, (store->n_watchers + 1)
                                                    * sizeof *store->watchers);
    store->watchers[store->n_watchers++] =
        (struct store_watcher){.cb = cb, .aux = aux};
    pthread_mutex_unlock(&store->mutex);
}

void
store_unwatch(struct store *store, store_change_cb *cb, void *aux)
{
    pthread_mutex_lock(&store->mutex);
    for (size_t i = 0; i < store->n_watchers; i++) {
        if (store->watchers[i].cb == cb && store->watchers[i].aux == aux) {
            store->watchers[i] = store->watchers[--store->n_watchers];
            break;
        }
    }
    pthread_mutex_unlock(&store->mutex);
}

void
store_note_objects(struct store *store, int64_t revision, char *const *kinds,
                   char *const *names, size_t n)
{
    pthread_mutex_lock(&store->mutex);
    for (size_t i = 0; i < store->n_watchers; i++) {
        const struct store_watcher *w = &store->watchers[i];

        for (size_t j = 0; j < n; j++) {
            w->cb(revision, kinds[j], names[j], w->aux);
        }
    }
    pthread_mutex_unlock(&store->mutex);
}

void
store_note_all_kinds(struct store *store, int64_t revision)
{
    pthread_mutex_lock(&store->mutex);
    for (size_t i = 0; i < store->n_watchers; i++) {
        store->watchers[i].cb(revision, NULL, NULL, store->watchers[i].aux);
    }
    if (revision > store->all_kinds_revision) {
        store->all_kinds_revision = revision;
    }
    if (revision > store->revision) {
        store->revision = revision;
    }
    pthread_cond_broadcast(&store->committed);
    pthread_mutex_unlock(&store->mutex);
}

/* Returns the latest revision, with 'store->mutex' held, that changed any
 * of the 'n' 'kinds' as far as this process knows, 0 if none did. */
static int64_t
store_kinds_revision(const struct store *store, const char *const *kinds,
                     size_t n)
{
    int64_t revision = store->all_kinds_revision;

    for (size_t i = 0; i < store->n_kinds; i++) {
        for (size_t j = 0; j < n; j++) {
            if (!strcmp(store->kinds[i].kind, kinds[j])
                && store->kinds[i].revision > revision) {
                revision = store->kinds[i].revision;
            }
        }
    }
    return revision;
}

int64_t
store_revision(struct store *store)
{
    int64_t revision;

    pthread_mutex_lock(&store->mutex);
    revision = store->revision;
    pthread_mutex_unlock(&store->mutex);
    return revision;
}

int64_t
store_kind_revision(struct store *store, const char *kind)
{
    int64_t revision;

    pthread_mutex_lock(&store->mutex);
    revision = store_kinds_revision(store, &kind, 1);
    pthread_mutex_unlock(&store->mutex);
    return revision;
}

/* Waits with 'store->mutex' held until 'revision' is below what
 * store_kinds_revision() answers for 'kinds' (all kinds if 'kinds' is
 * NULL) or 'timeout_ms' passes (negative: no limit). */
static int
store_wait__(struct store *store, const char *const *kinds, size_t n,
             int64_t revision, int timeout_ms)
{
    struct timespec deadline;
    int error = 0;

    if (timeout_ms >= 0) {
        time_deadline_after(&deadline, timeout_ms);
    }
    pthread_mutex_lock(&store->mutex);
    for (;;) {
        int64_t latest =
            (kinds ? store_kinds_revision(store, kinds, n) : store->revision);

        if (latest > revision) {
            error = 0;
            break;
        } else if (error) {
            break;
        } else if (timeout_ms < 0) {
            pthread_cond_wait(&store->committed, &store->mutex);
        } else {
            error = pthread_cond_timedwait(&store->committed, &store->mutex,
                                           &deadline);
        }
    }
    pthread_mutex_unlock(&store->mutex);
    return error ? ETIMEDOUT : 0;
}

int
store_wait(struct store *store, int64_t revision, int timeout_ms)
{
    return store_wait__(store, NULL, 0, revision, timeout_ms);
}

int
store_wait_kinds(struct store *store, const char *const *kinds, size_t n,
                 int64_t revision, int timeout_ms)
{
    return store_wait__(store, kinds, n, revision, timeout_ms);
}

int
store_begin(struct store *store, bool write, struct store_txn **txnp)
{
    *txnp = NULL;
    return store ? store->class->begin(store, write, txnp) : EINVAL;
}

int
store_commit(struct store_txn *txn, int64_t *revision)
{
    return txn ? txn->store->class->commit(txn, revision) : EINVAL;
}

void
store_abort(struct store_txn *txn)
{
    if (txn) {
        txn->store->class->abort(txn);
    }
}

void
store_obj_clear(struct store_obj *obj)
{
    if (obj) {
        free(obj->kind);
        free(obj->name);
        json_decref(obj->body);
        memset(obj, 0, sizeof *obj);
    }
}

/* Checks the arguments that every object operation takes. */
static int
check_key(const struct store_txn *txn, const char *kind, const char *name)
{
    return txn && kind && kind[0] && name && name[0] ? 0 : EINVAL;
}

int
store_get(struct store_txn *txn, const char *kind, const char *name,
          struct store_obj *obj)
{
    int error = check_key(txn, kind, name);

    memset(obj, 0, sizeof *obj);
    return error ? error : txn->store->class->get(txn, kind, name, obj);
}

int
store_check_version(int64_t expected_version, int64_t current)
{
    if (STORE_CREATE == expected_version) {
        return current ? EEXIST : 0;
    } else if (STORE_ANY == expected_version) {
        return 0;
    } else if (!current) {
        return ENOENT;
    } else {
        return current == expected_version ? 0 : ESTALE;
    }
}

int
store_put(struct store_txn *txn, const char *kind, const char *name,
          json_t *body, int64_t expected_version, int64_t *version)
{
    int error = check_key(txn, kind, name);

    if (!error && (!body || expected_version < STORE_ANY)) {
        error = EINVAL;
    }
    return (error ? error
                  : txn->store->class->put(txn, kind, name, body,
                                           expected_version, version));
}

int
store_delete(struct store_txn *txn, const char *kind, const char *name,
             int64_t expected_version)
{
    int error = check_key(txn, kind, name);

    /* STORE_CREATE would name a version no object ever has. */
    if (!error
        && (expected_version < STORE_ANY
            || STORE_CREATE == expected_version)) {
        error = EINVAL;
    }
    return (
        error ? error
              : txn->store->class->delete (txn, kind, name, expected_version));
}

int
store_list(struct store_txn *txn, const char *kind, const char *after,
           size_t limit, store_list_cb *cb, void *aux)
{
    if (!txn || !kind || !kind[0] || !cb) {
        return EINVAL;
    }
    return txn->store->class->list(txn, kind, after, limit, cb, aux);
}

int
store_count(struct store_txn *txn, const char *kind, size_t *count)
{
    if (!txn || !kind || !kind[0]) {
        return EINVAL;
    }
    return txn->store->class->count(txn, kind, count);
}

int
store_kinds(struct store_txn *txn, char ***kinds, size_t *n)
{
    *kinds = NULL;
    *n = 0;
    return txn ? txn->store->class->kinds(txn, kinds, n) : EINVAL;
}

/* State of store_copy() while it lists one kind of 'from'. */
struct store_copy {
    struct store *to;      /* Where the objects go. */
    struct store_txn *txn; /* The write transaction on 'to' now, or NULL. */
    size_t in_txn;         /* Objects written in 'txn'. */
    size_t copied;         /* Objects committed to 'to' in all. */
};

/* Commits the batch of 'c' in progress, if any. */
static int
store_copy_flush(struct store_copy *c)
{
    int error = 0;

    if (c->txn) {
        error = store_commit(c->txn, NULL);
        c->txn = NULL;
        if (!error) {
            c->copied += c->in_txn;
        }
        c->in_txn = 0;
    }
    return error;
}

static int
store_copy_cb(const struct store_obj *obj, void *c_)
{
    struct store_copy *c = c_;
    int error = 0;

    if (!c->txn) {
        error = store_begin(c->to, true, &c->txn);
    }
    if (!error) {
        error = store_put(c->txn, obj->kind, obj->name, obj->body,
                          STORE_CREATE, NULL);
    }
    if (!error && ++c->in_txn >= STORE_COPY_BATCH) {
        error = store_copy_flush(c);
    }
    if (error) {
        LOG_ERR("store %s: copying %s \"%s\": %s", c->to->name, obj->kind,
                obj->name, strerror(error));
    }
    return error;
}

int
store_copy(struct store *from, struct store *to, json_t **countsp)
{
    struct store_copy c = {.to = to};
    struct store_txn *snapshot;
    char **kinds = NULL;
    size_t n_kinds = 0;
    int error;

    *countsp = NULL;
    error = store_begin(to, false, &snapshot);
    if (!error) {
        error = store_kinds(snapshot, &kinds, &n_kinds);
        store_abort(snapshot);
    }
    if (!error && n_kinds) {
        LOG_ERR("store %s: it holds objects (of kind \"%s\" and maybe "
                "others): copy only into an empty store",
                to->name, kinds[0]);
        error = EEXIST;
    }
    for (size_t i = 0; i < n_kinds; i++) {
        free(kinds[i]);
    }
    free(kinds);
    if (error) {
        return error;
    }

    error = store_begin(from, false, &snapshot);
    if (!error) {
        error = store_kinds(snapshot, &kinds, &n_kinds);
    }
    *countsp = json_object();
    for (size_t i = 0; !error && i < n_kinds; i++) {
        size_t before = c.copied + c.in_txn;

        error = store_list(snapshot, kinds[i], NULL, 0, store_copy_cb, &c);
        json_object_set_new(*countsp, kinds[i],
                            json_integer(c.copied + c.in_txn - before));
    }
    if (!error) {
        error = store_copy_flush(&c);
    }
    store_abort(c.txn);
    store_abort(snapshot);
    for (size_t i = 0; i < n_kinds; i++) {
        free(kinds[i]);
    }
    free(kinds);
    if (error) {
        if (c.copied) {
            LOG_ERR("store %s: %zu objects were copied before the failure: "
                    "empty it before copying again",
                    to->name, c.copied);
        }
        json_decref(*countsp);
        *countsp = NULL;
    }
    return error;
}

int
store_election_start(struct store *store, const char *role,
                     const char *candidate, int ttl_ms,
                     struct store_election **electionp)
{
    *electionp = NULL;
    if (!store || !role || !role[0] || strchr(role, '/') || !candidate
        || !candidate[0] || ttl_ms < 300) {
        return EINVAL;
    }
    return store->class->election_start(store, role, candidate, ttl_ms,
                                        electionp);
}

bool
store_election_is_leader(struct store_election *election)
{
    return election->store->class->election_is_leader(election);
}

int
store_election_wait(struct store_election *election, bool was_leader,
                    int timeout_ms)
{
    return election->store->class->election_wait(election, was_leader,
                                                 timeout_ms);
}

char *
store_election_leader(struct store_election *election)
{
    return election->store->class->election_leader(election);
}

void
store_election_stop(struct store_election *election)
{
    if (election) {
        election->store->class->election_stop(election);
    }
}
