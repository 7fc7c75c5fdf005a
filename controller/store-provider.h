/* The interface between controller/store.c, which picks a backend from the
 * store's URL and does what every backend shares, and the backends
 * (controller/store-sqlite.c, controller/store-etcd.c), in the manner of
 * Open vSwitch's dpif providers: each backend is a table of functions over
 * structures that embed the common ones below as their first member. */
#ifndef CONTROLLER_STORE_PROVIDER_H
#define CONTROLLER_STORE_PROVIDER_H 1

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "controller/store.h"

/* Given 'pointer' to member 'member' of a 'type', returns the 'type'. */
#define STORE_CONTAINER_OF(pointer, type, member)                             \
    ((type *) (void *) ((char *) (pointer) -offsetof(type, member)))

/* The latest revision that changed an object of 'kind', for
 * store_kind_revision() and store_wait_kinds(). */
struct store_kind_rev {
    char *kind;       /* Owned. */
    int64_t revision; /* Latest such revision. */
};

/* A callback of store_watch(). */
struct store_watcher {
    store_change_cb *cb; /* What to call. */
    void *aux;           /* Its argument. */
};

/* The part of an open store that every backend shares. */
struct store {
    const struct store_class *class; /* The backend. */
    char *name;                      /* Path or URL, for messages. */

    pthread_mutex_t mutex;          /* Guards the members below. */
    int64_t revision;               /* Latest committed revision known. */
    pthread_cond_t committed;       /* Broadcast when 'revision' increases. */
    struct store_kind_rev *kinds;   /* Latest commit per kind written. */
    size_t n_kinds;                 /* Entries in 'kinds'. */
    int64_t all_kinds_revision;     /* Revision that changed every kind. */
    struct store_watcher *watchers; /* store_watch()'s callbacks. */
    size_t n_watchers;              /* Entries in 'watchers'. */
    bool writing;                   /* A write transaction is in progress. */
    pthread_cond_t writer_done;     /* Signalled when 'writing' ends. */
};

/* The part of a transaction that every backend shares. */
struct store_txn {
    struct store *store; /* The store it belongs to. */
};

/* The part of an election that every backend shares. */
struct store_election {
    struct store *store; /* The store it belongs to. */
};

/* A backend: the functions of controller/store.h that differ between
 * backends, with the same contracts.  The dispatcher has checked the
 * arguments that every backend checks the same way (see store.c). */
struct store_class {
    const char *name; /* "sqlite", "etcd". */

    /* Opens the store at 'url', whose scheme picked this class, and
     * initializes the common part with store_init(). */
    int (*open)(const char *url, struct store **);
    void (*close)(struct store *);

    int (*begin)(struct store *, bool write, struct store_txn **);
    int (*commit)(struct store_txn *, int64_t *revision);
    void (*abort)(struct store_txn *);
    int (*get)(struct store_txn *, const char *kind, const char *name,
               struct store_obj *);
    int (*put)(struct store_txn *, const char *kind, const char *name,
               json_t *body, int64_t expected_version, int64_t *version);
    int (*delete)(struct store_txn *, const char *kind, const char *name,
                  int64_t expected_version);
    int (*list)(struct store_txn *, const char *kind, const char *after,
                size_t limit, store_list_cb *, void *aux);
    int (*count)(struct store_txn *, const char *kind, size_t *count);
    int (*kinds)(struct store_txn *, char ***kinds, size_t *n);

    /* Adds this backend's members to the store's status: see
     * store_status(). */
    void (*status)(struct store *, json_t *status);

    int (*election_start)(struct store *, const char *role,
                          const char *candidate, int ttl_ms,
                          struct store_election **);
    bool (*election_is_leader)(struct store_election *);
    int (*election_wait)(struct store_election *, bool was_leader,
                         int timeout_ms);
    char *(*election_leader)(struct store_election *);
    void (*election_stop)(struct store_election *);
};

extern const struct store_class store_sqlite_class;
extern const struct store_class store_etcd_class;

/* Initializes the common part of 'store' of 'class', named 'name' in
 * messages, at revision 'revision'; store_destroy() undoes it. */
void store_init(struct store *, const struct store_class *, const char *name,
                int64_t revision);
void store_destroy(struct store *);

/* Makes the caller the only writer of this process, waiting up to
 * 'timeout_ms' for the current one to finish (a flag and not a mutex held
 * for the whole transaction, because a caller may commit on another thread
 * than the one that began).  Returns 0 or EBUSY. */
int store_acquire_writer(struct store *, int timeout_ms);
void store_release_writer(struct store *);

/* Records that the 'n' 'kinds' changed at 'revision' and wakes the
 * waiters.  A 'revision' not above the latest known one only notes the
 * kinds. */
void store_note_commit(struct store *, int64_t revision, char *const *kinds,
                       size_t n);

/* Tells the store_watch() callbacks that the commit of 'revision' put or
 * deleted the 'n' objects ('kinds[i]', 'names[i]').  A backend calls it
 * for every commit it learns of, its own or (etcd) another process's, in
 * the order of revisions, before store_note_commit(). */
void store_note_objects(struct store *, int64_t revision, char *const *kinds,
                        char *const *names, size_t n);

/* Records that every kind may have changed at 'revision', for a backend
 * that lost track of which did (etcd after a compacted watch), and tells
 * the store_watch() callbacks so. */
void store_note_all_kinds(struct store *, int64_t revision);

/* Checks 'expected_version' against 'current', the version of an object
 * (0 if there is none) that is about to be changed: 0, EEXIST, ENOENT or
 * ESTALE as store_put() describes. */
int store_check_version(int64_t expected_version, int64_t current);

#endif /* controller/store-provider.h */
