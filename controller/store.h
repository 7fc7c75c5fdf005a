/* The controller's desired-state store.
 *
 * A store holds JSON objects addressed by (kind, name), each with a version
 * that counts its updates, and a store-wide revision that every committed
 * change increases (by one with SQLite, by one or more with etcd, whose
 * write lock takes revisions too).  All access goes through transactions, so
 * that a check ("is VNI 100 free?") and the change that depends on it ("claim
 * it") are atomic.  Uniqueness beyond names is kept with index objects written
 * in the same transaction (kind "vni", name "100" -> {"network": "blue"}).
 *
 * The interface is that of a transactional key-value store with
 * revisions, so that backends implement it with nothing changed above this
 * header: SQLite (controller/store-sqlite.c, one controller) and etcd
 * (controller/store-etcd.c, any number of controllers on one cluster, as
 * doc/replication.md lays out).  controller/store.c picks the backend from
 * the store's URL.
 *
 * Thread-safe: any number of threads may hold read transactions at once;
 * write transactions are serialized.  Functions return 0 or a positive errno
 * value. */
#ifndef CONTROLLER_STORE_H
#define CONTROLLER_STORE_H 1

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

struct store;
struct store_txn;
struct store_election;

/* One stored object. */
struct store_obj {
    char *kind;              /* E.g. "network". */
    char *name;              /* Unique within its kind. */
    json_t *body;            /* Owned reference. */
    int64_t version;         /* 1 on creation, +1 per update. */
    int64_t create_revision; /* Store revision that created it. */
    int64_t mod_revision;    /* Store revision that last changed it. */
};

void store_obj_clear(struct store_obj *);

/* Opens the store at 'url': "sqlite:PATH" or a plain PATH for SQLite
 * (created and migrated to the current schema as needed), or
 * "etcd://HOST:PORT[,HOST:PORT...][/PREFIX]" ("etcds://" for TLS) for etcd
 * (an empty prefix becomes a store).  Other schemes fail with
 * EPROTONOSUPPORT, a malformed URL with EINVAL, an etcd that no member
 * answers for with ENOTCONN, a store of another schema with EPROTO.
 *
 * With etcd, any function that talks to etcd may also fail with ENOTCONN
 * (no member answered; nothing was changed), ECONNABORTED (a commit whose
 * outcome etcd never told), EFBIG (a commit larger than etcd takes) or
 * EAGAIN (the transaction must start again). */
int store_open(const char *url, struct store **);
void store_close(struct store *);

/* Returns a new JSON object that describes the store for GET /v1/status:
 * {"backend": "sqlite", "path": ...} or {"backend": "etcd", "endpoints":
 * [...], "prefix": ...}. */
json_t *store_status(struct store *);

/* The latest committed revision. */
int64_t store_revision(struct store *);

/* The latest revision at which this process committed a change to an
 * object of kind 'kind' (with etcd: any controller on the store, as far as
 * the store's watch has seen), or 0 if none was committed since
 * store_open().  A cache of objects of 'kind' built at a revision at least
 * that is up to date. */
int64_t store_kind_revision(struct store *, const char *kind);

/* Blocks until the store's revision exceeds 'revision' or 'timeout_ms'
 * passes.  Returns 0 or ETIMEDOUT. */
int store_wait(struct store *, int64_t revision, int timeout_ms);

/* Like store_wait(), but only a commit past 'revision' that wrote an object
 * of one of the 'n' 'kinds' ends the wait, so that a watcher of ports is not
 * woken by, say, audit entries.  It knows the commits this process made
 * since store_open() (with etcd, every controller's, through the watch);
 * earlier ones are in any revision a caller holds. */
int store_wait_kinds(struct store *, const char *const *kinds, size_t n,
                     int64_t revision, int timeout_ms);

/* A change committed to the store, as store_watch() reports it: object
 * ('kind', 'name') was put or deleted by the commit of 'revision'; or,
 * with 'kind' and 'name' NULL, objects of any kind may have changed up to
 * 'revision' without being reported one by one (a watch that lost its
 * place and restarted from the latest revision). */
typedef void store_change_cb(int64_t revision, const char *kind,
                             const char *name, void *aux);

/* Calls 'cb' with 'aux' for every change committed after this call, by
 * this process or, with a shared store, by any other, in the order of
 * their revisions, until store_unwatch() with the same 'cb' and 'aux'.
 * 'cb' runs on the committing thread (or the store's watch thread) with
 * the store's locks held: it must be quick and must not call the store;
 * a consumer that needs to read queues the change for a thread of its
 * own.  This is what lets the controller work out which hosts a change
 * concerns (controller/desired.h) instead of waking every watcher. */
void store_watch(struct store *, store_change_cb *, void *aux);
void store_unwatch(struct store *, store_change_cb *, void *aux);

int store_begin(struct store *, bool write, struct store_txn **);
/* Commits and frees 'txn', storing the new revision in '*revision' (which
 * may be NULL).  A transaction that wrote nothing commits without a new
 * revision. */
int store_commit(struct store_txn *, int64_t *revision);
/* Discards and frees 'txn'.  NULL is a no-op. */
void store_abort(struct store_txn *);

/* Reads (kind, name).  ENOENT if there is none. */
int store_get(struct store_txn *, const char *kind, const char *name,
              struct store_obj *);

#define STORE_CREATE 0 /* expected_version: must not exist yet. */
#define STORE_ANY (-1) /* expected_version: whatever is there. */

/* Writes 'body' (a new reference is taken) as (kind, name).  With
 * STORE_CREATE it fails with EEXIST if the object exists; with a version N
 * it fails with ESTALE unless the current version is N (ENOENT if none).
 * Stores the new version in '*version' if not NULL. */
int store_put(struct store_txn *, const char *kind, const char *name,
              json_t *body, int64_t expected_version, int64_t *version);

/* Deletes (kind, name): ENOENT if absent, ESTALE on a version mismatch
 * unless 'expected_version' is STORE_ANY. */
int store_delete(struct store_txn *, const char *kind, const char *name,
                 int64_t expected_version);

/* Calls 'cb' for up to 'limit' objects of 'kind' (0: no limit) whose names
 * sort after 'after' (NULL: from the start), in name order.  Stops early
 * and returns 'cb''s value if it is non-zero: an errno value, or STORE_STOP
 * to stop without an error. */
typedef int store_list_cb(const struct store_obj *, void *aux);
#define STORE_STOP (-1) /* Negative: never an errno value. */
int store_list(struct store_txn *, const char *kind, const char *after,
               size_t limit, store_list_cb *, void *aux);

int store_count(struct store_txn *, const char *kind, size_t *count);

/* Stores in '*kinds' the kinds that have at least one object, in order,
 * and their number in '*n'.  The caller frees each and the array.  (With
 * etcd, a write transaction's own changes are not counted.) */
int store_kinds(struct store_txn *, char ***kinds, size_t *n);

/* Copies every object of 'from', read in one read transaction (so one
 * consistent snapshot, while controllers may write to 'from'), into 'to',
 * which must hold no object (EEXIST otherwise, with nothing written).
 * Kinds, names and bodies are kept; versions restart at 1 and revisions
 * are 'to''s own.  Writes in transactions of at most STORE_COPY_BATCH
 * objects, which etcd's default --max-txn-ops takes: a failure part way
 * leaves the objects of the batches before it in 'to'.  Stores in
 * '*counts' a new JSON object of the objects copied per kind. */
#define STORE_COPY_BATCH 100
int store_copy(struct store *from, struct store *to, json_t **counts);

/* Elections: which of the controllers sharing a store does the singleton
 * work of 'role' (e.g. "ha"), as doc/replication.md describes.
 *
 * store_election_start() enters 'candidate' (a string naming the caller,
 * its advertised URL) as a candidate for 'role', with a lease of 'ttl_ms'
 * milliseconds.  With SQLite the one controller leads every role at once;
 * with etcd a candidate leads while it holds PREFIX/elect/ROLE on a lease
 * it keeps alive every third of 'ttl_ms'.  EINVAL for an empty 'role' or
 * 'candidate', a 'role' with a '/' or a 'ttl_ms' below 300.
 *
 * store_election_is_leader() tells whether the caller leads now.  With
 * etcd it is true only until the lease would lapse as measured from the
 * sending of the last keep-alive that succeeded, so a leader cut off from
 * etcd stops leading before any other candidate can be elected.
 *
 * store_election_wait() blocks until store_election_is_leader() differs
 * from 'was_leader' or 'timeout_ms' passes (negative: no limit), and
 * returns 0 or ETIMEDOUT.
 *
 * store_election_leader() returns the current leader's candidate string
 * (the caller frees it), or NULL if the role has no leader now.
 *
 * store_election_stop() resigns (another candidate may lead at once) and
 * frees the election.  NULL is a no-op.  No other thread may be inside a
 * function on the same election then. */
int store_election_start(struct store *, const char *role,
                         const char *candidate, int ttl_ms,
                         struct store_election **);
bool store_election_is_leader(struct store_election *);
int store_election_wait(struct store_election *, bool was_leader,
                        int timeout_ms);
char *store_election_leader(struct store_election *);
void store_election_stop(struct store_election *);

#endif /* controller/store.h */
