/* The controller's store (controller/store.h) over SQLite.
 *
 * Layout of the database:
 *
 *   meta(key, value)      "schema_version" and "revision", the latest
 *                         committed store revision.
 *   objects(kind, name, version, create_revision, mod_revision, body)
 *                         one row per object, 'body' its JSON text.
 *   changes(revision, kind, name, op)
 *                         which objects each of the last STORE_CHANGES_KEPT
 *                         revisions put or deleted, for audit and debugging
 *                         and for a watch that resumes from a revision the
 *                         way etcd's does.
 *
 * Connections and locking.  One connection, the writer, serves every write
 * transaction; a flag under 'mutex' makes write transactions take turns
 * (a flag and not a mutex held for the whole transaction, because a caller
 * may commit on another thread than the one that began).  Read transactions
 * run on connections of their own, taken from a small pool, so that in WAL
 * mode they read a consistent snapshot while a write transaction is in
 * progress instead of waiting for it.  Each connection caches its prepared
 * statements and is used by one transaction at a time, so the connections
 * are opened without SQLite's own per-connection mutex.
 *
 * Revisions.  A write transaction reads the revision from 'meta' when it
 * begins; everything it writes gets that revision plus one as its
 * mod_revision, and only if it wrote something does the commit store that
 * revision in 'meta'.  The latest committed revision is also kept in memory
 * under 'mutex', so that store_revision() and store_wait() do not touch the
 * database; writes by another process to the same file are not seen there
 * (the store is meant to have a single controller process). */

#include "controller/store.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "controller/store-provider.h"
#include "utils/log.h"
#include "utils/util.h"

/* How long a transaction waits for the database or for the writer before
 * it fails with EBUSY. */
#define STORE_BUSY_TIMEOUT_MS 5000

/* How many revisions the change log keeps. */
#define STORE_CHANGES_KEPT 10000

/* How many idle read connections the pool keeps open.  More are opened
 * when more read transactions run at once, and closed when they end. */
#define STORE_MAX_IDLE_READERS 8

/* One step of the schema's history: running 'sql' on a database at schema
 * version N (the step's index) brings it to version N + 1.  Steps are only
 * ever appended; a released step never changes, because databases out there
 * already went through it. */
struct store_migration {
    const char *description; /* What the step adds, for the log. */
    const char *sql;         /* One or more SQL statements. */
};

static const struct store_migration migrations[] = {
    {
        "objects",
        "CREATE TABLE meta ("
        "  key TEXT PRIMARY KEY NOT NULL,"
        "  value INTEGER NOT NULL);"
        "INSERT INTO meta (key, value) VALUES"
        "  ('schema_version', 1), ('revision', 0);"
        "CREATE TABLE objects ("
        "  kind TEXT NOT NULL,"
        "  name TEXT NOT NULL,"
        "  version INTEGER NOT NULL,"
        "  create_revision INTEGER NOT NULL,"
        "  mod_revision INTEGER NOT NULL,"
        "  body TEXT NOT NULL,"
        "  PRIMARY KEY (kind, name));",
    },
    {
        /* Schema 1 had no history of changes.  Revisions before the
         * migration have no entries, as if they had been pruned. */
        "change log",
        "CREATE TABLE changes ("
        "  revision INTEGER NOT NULL,"
        "  kind TEXT NOT NULL,"
        "  name TEXT NOT NULL,"
        "  op TEXT NOT NULL CHECK (op IN ('put', 'delete')),"
        "  PRIMARY KEY (revision, kind, name)) WITHOUT ROWID;",
    },
    {
        /* The firewall's flow logs (controller/flowlogs.h): a side table
         * outside the objects and their revisions, written and read only
         * by that module over a connection of its own, because records
         * come by the thousand and are filtered by column. */
        "flow logs",
        "CREATE TABLE flowlogs ("
        "  id INTEGER PRIMARY KEY,"
        "  time_us INTEGER NOT NULL,"
        "  host TEXT NOT NULL,"
        "  port TEXT NOT NULL,"
        "  network TEXT NOT NULL,"
        "  verdict TEXT NOT NULL,"
        "  body TEXT NOT NULL);"
        "CREATE INDEX flowlogs_time ON flowlogs (time_us, id);"
        "CREATE INDEX flowlogs_port ON flowlogs (port, time_us);"
        "CREATE INDEX flowlogs_host ON flowlogs (host, time_us);"
        "CREATE INDEX flowlogs_network ON flowlogs (network, time_us);",
    },
};

/* The schema version this code reads and writes. */
#define STORE_SCHEMA_VERSION ((int64_t) ARRAY_SIZE(migrations))

/* The statements each connection prepares once, on first use. */
enum store_stmt {
    STMT_BEGIN,
    STMT_BEGIN_IMMEDIATE,
    STMT_COMMIT,
    STMT_ROLLBACK,
    STMT_SCHEMA_TABLES,
    STMT_SCHEMA_VERSION,
    STMT_SET_SCHEMA_VERSION,
    STMT_GET_REVISION,
    STMT_SET_REVISION,
    STMT_GET,
    STMT_GET_VERSION,
    STMT_INSERT,
    STMT_UPDATE,
    STMT_DELETE,
    STMT_LOG_CHANGE,
    STMT_PRUNE_CHANGES,
    STMT_LIST,
    STMT_COUNT,
    STMT_KINDS,
    N_STMTS
};

static const char *const stmt_sql[N_STMTS] = {
    [STMT_BEGIN] = "BEGIN DEFERRED",
    /* A write transaction takes SQLite's write lock at once, so that it
     * cannot fail half-way for want of it. */
    [STMT_BEGIN_IMMEDIATE] = "BEGIN IMMEDIATE",
    [STMT_COMMIT] = "COMMIT",
    [STMT_ROLLBACK] = "ROLLBACK",
    [STMT_SCHEMA_TABLES] =
        "SELECT count(*), coalesce(sum(name = 'meta'), 0) FROM sqlite_master"
        " WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'",
    [STMT_SCHEMA_VERSION] =
        "SELECT value FROM meta WHERE key = 'schema_version'",
    [STMT_SET_SCHEMA_VERSION] =
        "UPDATE meta SET value = ?1 WHERE key = 'schema_version'",
    [STMT_GET_REVISION] = "SELECT value FROM meta WHERE key = 'revision'",
    [STMT_SET_REVISION] = "UPDATE meta SET value = ?1 WHERE key = 'revision'",
    [STMT_GET] = "SELECT version, create_revision, mod_revision, body"
                 " FROM objects WHERE kind = ?1 AND name = ?2",
    [STMT_GET_VERSION] =
        "SELECT version FROM objects WHERE kind = ?1 AND name = ?2",
    [STMT_INSERT] = "INSERT INTO objects (kind, name, version,"
                    " create_revision, mod_revision, body)"
                    " VALUES (?1, ?2, 1, ?3, ?3, ?4)",
    [STMT_UPDATE] = "UPDATE objects SET version = ?3, mod_revision = ?4,"
                    " body = ?5 WHERE kind = ?1 AND name = ?2",
    [STMT_DELETE] = "DELETE FROM objects WHERE kind = ?1 AND name = ?2",
    /* One entry per object and revision: a transaction that puts and then
     * deletes an object leaves only the delete, as etcd would. */
    [STMT_LOG_CHANGE] = "INSERT OR REPLACE INTO changes"
                        " (revision, kind, name, op) VALUES (?1, ?2, ?3, ?4)",
    [STMT_PRUNE_CHANGES] = "DELETE FROM changes WHERE revision <= ?1",
    [STMT_LIST] = "SELECT name, version, create_revision, mod_revision, body"
                  " FROM objects WHERE kind = ?1 AND name > ?2"
                  " ORDER BY name LIMIT ?3",
    [STMT_COUNT] = "SELECT count(*) FROM objects WHERE kind = ?1",
    [STMT_KINDS] = "SELECT DISTINCT kind FROM objects ORDER BY kind",
};

/* One SQLite connection and its prepared statements. */
struct store_conn {
    struct sqlite_store *store;   /* Owner, for its path in messages. */
    sqlite3 *db;                  /* The connection. */
    sqlite3_stmt *stmts[N_STMTS]; /* Prepared on first use, or NULL. */
};

struct sqlite_store {
    struct store up;           /* The common part; 'up.revision' is the
                                * latest committed revision. */
    char *path;                /* Database file. */
    struct store_conn *writer; /* Serves every write transaction. */

    pthread_mutex_t mutex; /* Guards the members below. */
    size_t n_idle;         /* Number of connections in 'idle'. */
    /* Idle read connections, the most recently used last. */
    struct store_conn *idle[STORE_MAX_IDLE_READERS];
};

struct sqlite_txn {
    struct store_txn up;        /* The common part. */
    struct sqlite_store *store; /* The store it belongs to. */
    struct store_conn *conn;    /* The writer, or a read connection. */
    bool write;                 /* Begun as a write transaction. */
    bool dirty;                 /* Wrote something. */
    int error;                  /* First SQLite failure, or 0. */
    int64_t revision;           /* Write: revision when it began. */
    char **kinds;               /* Kinds written, each once. */
    size_t n_kinds;             /* Entries in 'kinds'. */
    char **changed_kinds;       /* The kind and... */
    char **changed_names;       /* ...name of each object written. */
    size_t n_changed;           /* Entries in each. */
};

/* Logs SQLite's failure 'rc' at 'what' on 'db' (which may be NULL) and
 * returns the errno value for it: EBUSY when the database stayed locked
 * for longer than the busy timeout, EIO otherwise. */
static int
store_sqlite_error(const struct sqlite_store *store, sqlite3 *db, int rc,
                   const char *what)
{
    const char *msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    int primary = rc & 0xff;

    if (primary == SQLITE_BUSY || primary == SQLITE_LOCKED) {
        LOG_WARN("store %s: %s: %s (locked for more than %d ms by another "
                 "connection)",
                 store->path, what, msg, STORE_BUSY_TIMEOUT_MS);
        return EBUSY;
    }
    LOG_ERR("store %s: %s: %s", store->path, what, msg);
    return EIO;
}

static int
conn_error(const struct store_conn *conn, int rc, const char *what)
{
    return store_sqlite_error(conn->store, conn->db, rc, what);
}

/* Stores in '*stmtp' the statement 'id' of 'conn', preparing it on first
 * use.  Returns 0 or an errno value. */
static int
conn_stmt(struct store_conn *conn, enum store_stmt id, sqlite3_stmt **stmtp)
{
    if (!conn->stmts[id]) {
        int rc = sqlite3_prepare_v3(conn->db, stmt_sql[id], -1,
                                    SQLITE_PREPARE_PERSISTENT,
                                    &conn->stmts[id], NULL);
        if (rc != SQLITE_OK) {
            *stmtp = NULL;
            return conn_error(conn, rc, stmt_sql[id]);
        }
    }
    *stmtp = conn->stmts[id];
    return 0;
}

/* Makes 'stmt' ready for its next use.  Its errors were reported by the
 * sqlite3_step() that caused them. */
static void
stmt_done(sqlite3_stmt *stmt)
{
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
}

/* Steps 'stmt' of 'conn' and sets '*row' to whether it produced a row.
 * 'row' may be NULL for a statement that produces none.  On failure resets
 * 'stmt' and returns an errno value. */
static int
conn_step(struct store_conn *conn, sqlite3_stmt *stmt, bool *row)
{
    int rc = sqlite3_step(stmt);

    if (rc == SQLITE_ROW || rc == SQLITE_DONE) {
        if (row) {
            *row = rc == SQLITE_ROW;
        }
        return 0;
    }

    int error = conn_error(conn, rc, sqlite3_sql(stmt));
    stmt_done(stmt);
    return error;
}

/* Runs statement 'id' of 'conn', which takes no parameters and produces no
 * rows. */
static int
conn_exec(struct store_conn *conn, enum store_stmt id)
{
    sqlite3_stmt *stmt;
    int error = conn_stmt(conn, id, &stmt);

    if (!error) {
        error = conn_step(conn, stmt, NULL);
        stmt_done(stmt);
    }
    return error;
}

/* Runs statement 'id' of 'conn', which produces one integer, and stores
 * it in '*value'.  ENOENT if it produced no row. */
static int
conn_query_int(struct store_conn *conn, enum store_stmt id, int64_t *value)
{
    sqlite3_stmt *stmt;
    bool row;
    int error = conn_stmt(conn, id, &stmt);

    if (error) {
        return error;
    }
    error = conn_step(conn, stmt, &row);
    if (!error) {
        if (row) {
            *value = sqlite3_column_int64(stmt, 0);
        } else {
            error = ENOENT;
        }
        stmt_done(stmt);
    }
    return error;
}

/* Binds 'text' as parameter 'idx' of 'stmt'.  The text must outlive the
 * statement's next step. */
static int
conn_bind_text(struct store_conn *conn, sqlite3_stmt *stmt, int idx,
               const char *text)
{
    /* Binding fails only for text longer than SQLite's length limit. */
    int rc = sqlite3_bind_text(stmt, idx, text, -1, SQLITE_STATIC);

    if (rc != SQLITE_OK) {
        sqlite3_clear_bindings(stmt);
        return conn_error(conn, rc, "binding a parameter");
    }
    return 0;
}

/* Binds 'kind' and 'name' as the first two parameters of 'stmt'. */
static int
conn_bind_key(struct store_conn *conn, sqlite3_stmt *stmt, const char *kind,
              const char *name)
{
    int error = conn_bind_text(conn, stmt, 1, kind);

    return error ? error : conn_bind_text(conn, stmt, 2, name);
}

static void
conn_close(struct store_conn *conn)
{
    if (conn) {
        for (size_t i = 0; i < N_STMTS; i++) {
            sqlite3_finalize(conn->stmts[i]);
        }
        sqlite3_close(conn->db);
        free(conn);
    }
}

/* Runs PRAGMA 'sql' on 'conn' and, if 'expect' is nonnull, checks that the
 * pragma answers with that value. */
static int
conn_pragma(struct store_conn *conn, const char *sql, const char *expect)
{
    sqlite3_stmt *stmt;
    int rc = sqlite3_prepare_v2(conn->db, sql, -1, &stmt, NULL);
    int error = 0;

    if (rc != SQLITE_OK) {
        return conn_error(conn, rc, sql);
    }
    rc = sqlite3_step(stmt);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        error = conn_error(conn, rc, sql);
    } else if (expect) {
        const char *value =
            (rc == SQLITE_ROW ? (const char *) sqlite3_column_text(stmt, 0)
                              : NULL);

        if (!value || strcasecmp(value, expect)) {
            LOG_ERR("store %s: %s: answered \"%s\" instead of \"%s\"",
                    conn->store->path, sql, value ? value : "", expect);
            error = EIO;
        }
    }
    sqlite3_finalize(stmt);
    return error;
}

/* Opens a connection to 'store''s database: the writer, which may create
 * the file, if 'writer' is true, or else a read connection. */
static int
conn_open(struct sqlite_store *store, bool writer, struct store_conn **connp)
{
    struct store_conn *conn = xzalloc(sizeof *conn);
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX;
    int error;
    int rc;

    *connp = NULL;
    conn->store = store;
    if (writer) {
        flags |= SQLITE_OPEN_CREATE;
    }
    rc = sqlite3_open_v2(store->path, &conn->db, flags, NULL);
    if (rc != SQLITE_OK) {
        int sys_errno = conn->db ? sqlite3_system_errno(conn->db) : 0;

        error = store_sqlite_error(store, conn->db, rc, "cannot open");
        if ((rc & 0xff) == SQLITE_CANTOPEN && sys_errno > 0) {
            error = sys_errno;
        }
        conn_close(conn);
        return error;
    }
    sqlite3_busy_timeout(conn->db, STORE_BUSY_TIMEOUT_MS);

    /* The database is in WAL mode (see store_open()).  With WAL,
     * synchronous=NORMAL syncs the log at checkpoints rather than at every
     * commit: a commit is still atomic and survives the controller
     * crashing, but a power failure may lose the last commits before a
     * checkpoint (never corrupting the database).  The desired state can
     * afford that, since agents re-register and clients retry what they
     * got no answer for, whereas an fsync per commit would add milliseconds
     * to every write while it holds the writer.  synchronous is a setting
     * of each connection; readers get it too because the last connection
     * to close runs the final checkpoint. */
    error = conn_pragma(conn, "PRAGMA synchronous = NORMAL", NULL);
    if (!error && writer) {
        /* What a write replaces or deletes is overwritten with zeros, not
         * left in free pages: old secrets (a token sealed anew, an agent
         * token an older release kept in plain text) go with it. */
        error = conn_pragma(conn, "PRAGMA secure_delete = ON", NULL);
    }
    if (!error && !writer) {
        /* A read connection is never meant to write. */
        error = conn_pragma(conn, "PRAGMA query_only = ON", NULL);
    }
    if (error) {
        conn_close(conn);
        return error;
    }
    *connp = conn;
    return 0;
}

/* Parses 'url', "sqlite:PATH" or a PATH without a scheme (the dispatcher
 * checked), into the path of a database file in '*pathp'.  A relative path
 * that looks like a URL ("data:x.db") needs a "./" in front. */
static int
store_parse_url(const char *url, char **pathp)
{
    const char *path = url;

    if (!strncmp(url, "sqlite:", 7)) {
        path = url + 7;
    }
    if (!path[0]) {
        LOG_ERR("store \"%s\": no database file named", url);
        return EINVAL;
    }
    if (!strcmp(path, ":memory:")) {
        LOG_ERR("store \"%s\": an in-memory database cannot be shared by "
                "the store's connections: name a file",
                url);
        return EINVAL;
    }
    *pathp = xstrdup(path);
    return 0;
}

/* Fails unless the directory that holds 'path' exists.  The store creates
 * its database file but never a directory, so that a mistyped path is an
 * error instead of a new, empty store. */
static int
store_check_directory(const char *path)
{
    const char *slash = strrchr(path, '/');
    struct stat st;
    int error = 0;
    char *dir;

    if (!slash) {
        dir = xstrdup(".");
    } else if (slash == path) {
        dir = xstrdup("/");
    } else {
        dir = xasprintf("%.*s", (int) (slash - path), path);
    }

    if (stat(dir, &st)) {
        error = errno;
        LOG_ERR("store %s: directory %s: %s%s", path, dir, strerror(error),
                ENOENT == error ? " (create it first)" : "");
    } else if (!S_ISDIR(st.st_mode)) {
        error = ENOTDIR;
        LOG_ERR("store %s: %s is not a directory", path, dir);
    }
    free(dir);
    return error;
}

/* Creates the database file 'path' with mode 0600 if it does not exist
 * yet.  SQLite would create it 0644 less the umask, readable by every
 * local user under the usual umask 022 (and writable by them under 000),
 * while the store holds the hashes of every token and the agents' trace
 * secrets.  SQLite gives the -wal, -shm and -journal files it makes later
 * the database file's own mode, so this covers them too.  A file that
 * exists keeps the mode its owner gave it. */
static int
store_create_file(const char *path)
{
    int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);

    if (fd < 0) {
        int error = errno;

        if (EEXIST == error) {
            return 0;
        }
        LOG_ERR("store %s: cannot create it: %s", path, strerror(error));
        return error;
    }
    /* open() applied the umask, which can only have taken bits away. */
    close(fd);
    return 0;
}

/* Reads the schema version of the writer's database into '*version': 0 for
 * a database without tables. */
static int
store_schema_version(struct sqlite_store *store, int64_t *version)
{
    struct store_conn *conn = store->writer;
    sqlite3_stmt *stmt;
    int64_t n_tables, has_meta;
    bool row;
    int error;

    error = conn_stmt(conn, STMT_SCHEMA_TABLES, &stmt);
    if (!error) {
        error = conn_step(conn, stmt, &row);
    }
    if (error) {
        return error;
    }
    n_tables = sqlite3_column_int64(stmt, 0);
    has_meta = sqlite3_column_int64(stmt, 1);
    stmt_done(stmt);

    if (0 == n_tables) {
        *version = 0;
        return 0;
    }
    error = ENOENT;
    if (has_meta) {
        error = conn_query_int(conn, STMT_SCHEMA_VERSION, version);
    }
    if (!error && *version <= 0) {
        error = ENOENT;
    }
    if (ENOENT == error) {
        LOG_ERR("store %s: not a fabric store (it has tables but no schema "
                "version): name another file",
                store->path);
        return EPROTO;
    }
    return error;
}

/* Brings the writer's database to STORE_SCHEMA_VERSION in one transaction
 * and reads the store's revision. */
static int
store_migrate(struct sqlite_store *store)
{
    struct store_conn *conn = store->writer;
    int64_t version;
    int error;

    error = conn_exec(conn, STMT_BEGIN_IMMEDIATE);
    if (error) {
        return error;
    }
    error = store_schema_version(store, &version);
    if (!error && version > STORE_SCHEMA_VERSION) {
        LOG_ERR("store %s: schema version %" PRId64 " is newer than the "
                "version %" PRId64 " this program knows: it was written by "
                "a newer fabric; run that release or restore a backup",
                store->path, version, STORE_SCHEMA_VERSION);
        error = EPROTO;
    }
    for (int64_t v = version; !error && v < STORE_SCHEMA_VERSION; v++) {
        char *msg = NULL;
        int rc = sqlite3_exec(conn->db, migrations[v].sql, NULL, NULL, &msg);

        if (rc != SQLITE_OK) {
            LOG_ERR("store %s: migrating schema %" PRId64 " to %" PRId64
                    " (%s): %s",
                    store->path, v, v + 1, migrations[v].description,
                    msg ? msg : sqlite3_errstr(rc));
            error = EIO;
        }
        sqlite3_free(msg);
    }
    if (!error && version < STORE_SCHEMA_VERSION) {
        sqlite3_stmt *stmt;

        error = conn_stmt(conn, STMT_SET_SCHEMA_VERSION, &stmt);
        if (!error) {
            sqlite3_bind_int64(stmt, 1, STORE_SCHEMA_VERSION);
            error = conn_step(conn, stmt, NULL);
            stmt_done(stmt);
        }
    }
    if (!error) {
        error = conn_query_int(conn, STMT_GET_REVISION, &store->up.revision);
        if (ENOENT == error) {
            LOG_ERR("store %s: the meta table has no revision", store->path);
            error = EPROTO;
        }
    }
    if (!error) {
        error = conn_exec(conn, STMT_COMMIT);
    }
    if (error) {
        if (!sqlite3_get_autocommit(conn->db)) {
            conn_exec(conn, STMT_ROLLBACK);
        }
        return error;
    }
    if (0 == version) {
        LOG_INFO("store %s: created, schema version %" PRId64, store->path,
                 STORE_SCHEMA_VERSION);
    } else if (version < STORE_SCHEMA_VERSION) {
        LOG_INFO("store %s: schema migrated from version %" PRId64
                 " to %" PRId64,
                 store->path, version, STORE_SCHEMA_VERSION);
    }
    return 0;
}

static void sqlite_close(struct store *);

static struct sqlite_store *
sqlite_store_cast(struct store *store)
{
    return STORE_CONTAINER_OF(store, struct sqlite_store, up);
}

static struct sqlite_txn *
sqlite_txn_cast(struct store_txn *txn)
{
    return STORE_CONTAINER_OF(txn, struct sqlite_txn, up);
}

static int
sqlite_open(const char *url, struct store **storep)
{
    struct sqlite_store *store;
    char *path;
    int error;

    error = store_parse_url(url, &path);
    if (error) {
        return error;
    }
    if (!sqlite3_threadsafe()) {
        LOG_ERR("store %s: this SQLite library was built without thread "
                "support, which the store needs",
                path);
        free(path);
        return ENOTSUP;
    }
    error = store_check_directory(path);
    if (!error) {
        error = store_create_file(path);
    }
    if (error) {
        free(path);
        return error;
    }

    store = xzalloc(sizeof *store);
    store_init(&store->up, &store_sqlite_class, path, 0);
    store->path = path;
    pthread_mutex_init(&store->mutex, NULL);

    error = conn_open(store, true, &store->writer);
    if (!error) {
        error = store_migrate(store);
    }
    if (!error) {
        /* WAL lets read transactions work on a snapshot while the writer
         * commits.  The mode is kept in the file; it is set only once the
         * schema is known to be ours, so that a database this program
         * refuses is left as it was. */
        error = conn_pragma(store->writer, "PRAGMA journal_mode = WAL", "wal");
    }
    if (error) {
        sqlite_close(&store->up);
        return error;
    }
    *storep = &store->up;
    return 0;
}

static void
sqlite_close(struct store *store_)
{
    struct sqlite_store *store = sqlite_store_cast(store_);

    for (size_t i = 0; i < store->n_idle; i++) {
        conn_close(store->idle[i]);
    }
    conn_close(store->writer);
    pthread_mutex_destroy(&store->mutex);
    store_destroy(&store->up);
    free(store->path);
    free(store);
}

static void
sqlite_status(struct store *store_, json_t *status)
{
    struct sqlite_store *store = sqlite_store_cast(store_);

    json_object_set_new(status, "path", json_string(store->path));
}

static int
store_acquire_reader(struct sqlite_store *store, struct store_conn **connp)
{
    struct store_conn *conn = NULL;

    pthread_mutex_lock(&store->mutex);
    if (store->n_idle > 0) {
        conn = store->idle[--store->n_idle];
    }
    pthread_mutex_unlock(&store->mutex);
    if (conn) {
        *connp = conn;
        return 0;
    }
    return conn_open(store, false, connp);
}

/* Returns read connection 'conn' to the pool, or closes it if the pool is
 * full or the connection is unusable. */
static void
store_release_reader(struct sqlite_store *store, struct store_conn *conn)
{
    if (sqlite3_get_autocommit(conn->db)) {
        pthread_mutex_lock(&store->mutex);
        if (store->n_idle < STORE_MAX_IDLE_READERS) {
            store->idle[store->n_idle++] = conn;
            conn = NULL;
        }
        pthread_mutex_unlock(&store->mutex);
    }
    conn_close(conn);
}

static int
sqlite_begin(struct store *store_, bool write, struct store_txn **txnp)
{
    struct sqlite_store *store = sqlite_store_cast(store_);
    struct sqlite_txn *txn;
    struct store_conn *conn;
    int64_t revision = 0;
    int error;

    if (write) {
        error = store_acquire_writer(&store->up, STORE_BUSY_TIMEOUT_MS);
        if (error) {
            return error;
        }
        conn = store->writer;
        error = conn_exec(conn, STMT_BEGIN_IMMEDIATE);
        if (!error) {
            error = conn_query_int(conn, STMT_GET_REVISION, &revision);
            if (error) {
                conn_exec(conn, STMT_ROLLBACK);
            }
        }
        if (error) {
            store_release_writer(&store->up);
            return error;
        }
    } else {
        error = store_acquire_reader(store, &conn);
        if (error) {
            return error;
        }
        error = conn_exec(conn, STMT_BEGIN);
        if (error) {
            store_release_reader(store, conn);
            return error;
        }
    }
    txn = xzalloc(sizeof *txn);
    txn->up.store = &store->up;
    txn->store = store;
    txn->conn = conn;
    txn->write = write;
    txn->revision = revision;
    *txnp = &txn->up;
    return 0;
}

/* Ends 'txn''s SQLite transaction if it is still open, gives back its
 * connection and frees it. */
static void
txn_finish(struct sqlite_txn *txn)
{
    struct store_conn *conn = txn->conn;

    if (!sqlite3_get_autocommit(conn->db)) {
        conn_exec(conn, STMT_ROLLBACK);
    }
    if (txn->write) {
        store_release_writer(&txn->store->up);
    } else {
        store_release_reader(txn->store, conn);
    }
    for (size_t i = 0; i < txn->n_kinds; i++) {
        free(txn->kinds[i]);
    }
    free(txn->kinds);
    for (size_t i = 0; i < txn->n_changed; i++) {
        free(txn->changed_kinds[i]);
        free(txn->changed_names[i]);
    }
    free(txn->changed_kinds);
    free(txn->changed_names);
    free(txn);
}

/* Remembers that 'txn' wrote an object of 'kind'. */
static void
txn_note_kind(struct sqlite_txn *txn, const char *kind)
{
    for (size_t i = 0; i < txn->n_kinds; i++) {
        if (!strcmp(txn->kinds[i], kind)) {
            return;
        }
    }
    txn->kinds = xrealloc(txn->kinds, (txn->n_kinds + 1) * sizeof *txn->kinds);
    txn->kinds[txn->n_kinds++] = xstrdup(kind);
}

/* Records SQLite failure 'error' in 'txn', so that it can no longer commit
 * (SQLite may even have rolled it back already), and returns it. */
static int
txn_fail(struct sqlite_txn *txn, int error)
{
    if (!txn->error) {
        txn->error = error;
    }
    return error;
}

/* Stores the committed write's revision 'revision' in 'meta' and prunes
 * the change log. */
static int
txn_write_revision(struct sqlite_txn *txn, int64_t revision)
{
    struct store_conn *conn = txn->conn;
    sqlite3_stmt *stmt;
    int error;

    error = conn_stmt(conn, STMT_SET_REVISION, &stmt);
    if (!error) {
        sqlite3_bind_int64(stmt, 1, revision);
        error = conn_step(conn, stmt, NULL);
        stmt_done(stmt);
    }
    if (!error && revision > STORE_CHANGES_KEPT) {
        error = conn_stmt(conn, STMT_PRUNE_CHANGES, &stmt);
        if (!error) {
            sqlite3_bind_int64(stmt, 1, revision - STORE_CHANGES_KEPT);
            error = conn_step(conn, stmt, NULL);
            stmt_done(stmt);
        }
    }
    return error;
}

static int
sqlite_commit(struct store_txn *txn_, int64_t *revisionp)
{
    struct sqlite_txn *txn = sqlite_txn_cast(txn_);
    int64_t revision = 0;
    int error;

    error = txn->error;
    if (!error) {
        if (!txn->write) {
            /* A read transaction answers the revision of its snapshot. */
            if (revisionp) {
                error =
                    conn_query_int(txn->conn, STMT_GET_REVISION, &revision);
            }
        } else if (txn->dirty) {
            revision = txn->revision + 1;
            error = txn_write_revision(txn, revision);
        } else {
            revision = txn->revision;
        }
    }
    if (!error) {
        error = conn_exec(txn->conn, STMT_COMMIT);
    }
    if (!error && txn->dirty) {
        /* Still the writer: the watchers hear of commits in order. */
        store_note_objects(&txn->store->up, revision, txn->changed_kinds,
                           txn->changed_names, txn->n_changed);
        store_note_commit(&txn->store->up, revision, txn->kinds, txn->n_kinds);
    }
    txn_finish(txn);
    if (!error && revisionp) {
        *revisionp = revision;
    }
    return error;
}

static void
sqlite_abort(struct store_txn *txn)
{
    txn_finish(sqlite_txn_cast(txn));
}

/* Checks that 'txn' may write (kind, name). */
static int
check_write(const struct sqlite_txn *txn, const char *kind, const char *name)
{
    if (!txn->write) {
        LOG_ERR("store %s: writing %s \"%s\" in a read-only transaction",
                txn->store->path, kind, name);
        return EROFS;
    }
    return 0;
}

/* Parses the JSON text in column 'col' of the current row of 'stmt' into
 * '*bodyp'. */
static int
column_body(struct sqlite_txn *txn, sqlite3_stmt *stmt, int col,
            const char *kind, const char *name, json_t **bodyp)
{
    const char *text = (const char *) sqlite3_column_text(stmt, col);
    size_t len = sqlite3_column_bytes(stmt, col);
    json_error_t jerr;

    *bodyp = text ? json_loadb(text, len, JSON_DECODE_ANY, &jerr) : NULL;
    if (!*bodyp) {
        LOG_ERR("store %s: %s \"%s\": stored body is not JSON: %s",
                txn->store->path, kind, name, text ? jerr.text : "NULL");
        return EIO;
    }
    return 0;
}

static int
sqlite_get(struct store_txn *txn_, const char *kind, const char *name,
           struct store_obj *obj)
{
    struct sqlite_txn *txn = sqlite_txn_cast(txn_);
    struct store_conn *conn = txn->conn;
    sqlite3_stmt *stmt;
    json_t *body;
    bool row;
    int error;

    error = conn_stmt(conn, STMT_GET, &stmt);
    if (!error) {
        error = conn_bind_key(conn, stmt, kind, name);
    }
    if (!error) {
        error = conn_step(conn, stmt, &row);
    }
    if (error) {
        return txn_fail(txn, error);
    }
    if (!row) {
        stmt_done(stmt);
        return ENOENT;
    }
    error = column_body(txn, stmt, 3, kind, name, &body);
    if (!error) {
        obj->kind = xstrdup(kind);
        obj->name = xstrdup(name);
        obj->body = body;
        obj->version = sqlite3_column_int64(stmt, 0);
        obj->create_revision = sqlite3_column_int64(stmt, 1);
        obj->mod_revision = sqlite3_column_int64(stmt, 2);
    }
    stmt_done(stmt);
    return error;
}

/* Reads the version of (kind, name) into '*version', 0 if there is none. */
static int
txn_current_version(struct sqlite_txn *txn, const char *kind, const char *name,
                    int64_t *version)
{
    struct store_conn *conn = txn->conn;
    sqlite3_stmt *stmt;
    bool row;
    int error;

    error = conn_stmt(conn, STMT_GET_VERSION, &stmt);
    if (!error) {
        error = conn_bind_key(conn, stmt, kind, name);
    }
    if (!error) {
        error = conn_step(conn, stmt, &row);
    }
    if (error) {
        return error;
    }
    *version = row ? sqlite3_column_int64(stmt, 0) : 0;
    stmt_done(stmt);
    return 0;
}

/* Adds (kind, name) to the change log of the revision 'txn' will commit,
 * with 'op' "put" or "delete". */
static int
txn_log_change(struct sqlite_txn *txn, const char *kind, const char *name,
               const char *op)
{
    struct store_conn *conn = txn->conn;
    sqlite3_stmt *stmt;
    int error;

    error = conn_stmt(conn, STMT_LOG_CHANGE, &stmt);
    if (error) {
        return error;
    }
    sqlite3_bind_int64(stmt, 1, txn->revision + 1);
    error = conn_bind_text(conn, stmt, 2, kind);
    if (!error) {
        error = conn_bind_text(conn, stmt, 3, name);
    }
    if (!error) {
        error = conn_bind_text(conn, stmt, 4, op);
    }
    if (!error) {
        error = conn_step(conn, stmt, NULL);
        stmt_done(stmt);
    }
    if (!error) {
        size_t n = txn->n_changed + 1;

        txn->changed_kinds =
            xrealloc(txn->changed_kinds, n * sizeof *txn->changed_kinds);
        txn->changed_names =
            xrealloc(txn->changed_names, n * sizeof *txn->changed_names);
        txn->changed_kinds[txn->n_changed] = xstrdup(kind);
        txn->changed_names[txn->n_changed] = xstrdup(name);
        txn->n_changed = n;
    }
    return error;
}

/* Inserts (kind, name) with JSON 'text' if 'current' is 0, otherwise
 * updates it to version 'current' + 1. */
static int
txn_write_object(struct sqlite_txn *txn, const char *kind, const char *name,
                 const char *text, int64_t current)
{
    struct store_conn *conn = txn->conn;
    int64_t revision = txn->revision + 1;
    sqlite3_stmt *stmt;
    int error;

    error = conn_stmt(conn, current ? STMT_UPDATE : STMT_INSERT, &stmt);
    if (!error) {
        error = conn_bind_key(conn, stmt, kind, name);
    }
    if (error) {
        return error;
    }
    if (current) {
        sqlite3_bind_int64(stmt, 3, current + 1);
        sqlite3_bind_int64(stmt, 4, revision);
        error = conn_bind_text(conn, stmt, 5, text);
    } else {
        sqlite3_bind_int64(stmt, 3, revision);
        error = conn_bind_text(conn, stmt, 4, text);
    }
    if (!error) {
        error = conn_step(conn, stmt, NULL);
        stmt_done(stmt);
    }
    return error;
}

/* The body is serialized at once, so 'body' is not retained and the caller
 * keeps its own reference. */
static int
sqlite_put(struct store_txn *txn_, const char *kind, const char *name,
           json_t *body, int64_t expected_version, int64_t *versionp)
{
    struct sqlite_txn *txn = sqlite_txn_cast(txn_);
    int64_t current;
    char *text;
    int error;

    error = check_write(txn, kind, name);
    if (error) {
        return error;
    }
    error = txn_current_version(txn, kind, name, &current);
    if (error) {
        return txn_fail(txn, error);
    }
    error = store_check_version(expected_version, current);
    if (error) {
        return error;
    }

    text = json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!text) {
        LOG_ERR("store %s: %s \"%s\": body cannot be serialized",
                txn->store->path, kind, name);
        return EINVAL;
    }
    error = txn_write_object(txn, kind, name, text, current);
    free(text);
    if (!error) {
        error = txn_log_change(txn, kind, name, "put");
    }
    if (error) {
        return txn_fail(txn, error);
    }
    txn->dirty = true;
    txn_note_kind(txn, kind);
    if (versionp) {
        *versionp = current + 1;
    }
    return 0;
}

static int
sqlite_delete(struct store_txn *txn_, const char *kind, const char *name,
              int64_t expected_version)
{
    struct sqlite_txn *txn = sqlite_txn_cast(txn_);
    struct store_conn *conn;
    sqlite3_stmt *stmt;
    int64_t current;
    int error;

    error = check_write(txn, kind, name);
    if (error) {
        return error;
    }
    error = txn_current_version(txn, kind, name, &current);
    if (error) {
        return txn_fail(txn, error);
    }
    if (!current) {
        return ENOENT;
    }
    error = store_check_version(expected_version, current);
    if (error) {
        return error;
    }

    conn = txn->conn;
    error = conn_stmt(conn, STMT_DELETE, &stmt);
    if (!error) {
        error = conn_bind_key(conn, stmt, kind, name);
    }
    if (!error) {
        error = conn_step(conn, stmt, NULL);
        stmt_done(stmt);
    }
    if (!error) {
        error = txn_log_change(txn, kind, name, "delete");
    }
    if (error) {
        return txn_fail(txn, error);
    }
    txn->dirty = true;
    txn_note_kind(txn, kind);
    return 0;
}

/* The object passed to 'cb' lives only until 'cb' returns: a callback
 * that keeps its body takes a reference with json_incref(). */
static int
sqlite_list(struct store_txn *txn_, const char *kind, const char *after,
            size_t limit, store_list_cb *cb, void *aux)
{
    struct sqlite_txn *txn = sqlite_txn_cast(txn_);
    struct store_conn *conn = txn->conn;
    sqlite3_stmt *stmt;
    int error;

    error = conn_stmt(conn, STMT_LIST, &stmt);
    if (!error) {
        /* Every name sorts after the empty string. */
        error = conn_bind_key(conn, stmt, kind, after ? after : "");
    }
    if (error) {
        return txn_fail(txn, error);
    }
    /* A negative LIMIT is no limit to SQLite. */
    sqlite3_bind_int64(
        stmt, 3,
        limit == 0 || limit > (uint64_t) INT64_MAX ? -1 : (int64_t) limit);

    for (;;) {
        struct store_obj obj;
        bool row;

        error = conn_step(conn, stmt, &row);
        if (error) {
            return txn_fail(txn, error);
        }
        if (!row) {
            break;
        }
        obj.kind = (char *) kind;
        obj.name = (char *) sqlite3_column_text(stmt, 0);
        obj.version = sqlite3_column_int64(stmt, 1);
        obj.create_revision = sqlite3_column_int64(stmt, 2);
        obj.mod_revision = sqlite3_column_int64(stmt, 3);
        error = column_body(txn, stmt, 4, kind, obj.name, &obj.body);
        if (!error) {
            error = cb(&obj, aux);
            json_decref(obj.body);
        }
        if (error) {
            break;
        }
    }
    stmt_done(stmt);
    return error;
}

static int
sqlite_count(struct store_txn *txn_, const char *kind, size_t *count)
{
    struct sqlite_txn *txn = sqlite_txn_cast(txn_);
    struct store_conn *conn = txn->conn;
    sqlite3_stmt *stmt;
    bool row;
    int error;

    error = conn_stmt(conn, STMT_COUNT, &stmt);
    if (!error) {
        error = conn_bind_text(conn, stmt, 1, kind);
    }
    if (!error) {
        error = conn_step(conn, stmt, &row);
    }
    if (error) {
        return txn_fail(txn, error);
    }
    *count = row ? (size_t) sqlite3_column_int64(stmt, 0) : 0;
    stmt_done(stmt);
    return 0;
}

static int
sqlite_kinds(struct store_txn *txn_, char ***kinds, size_t *n)
{
    struct sqlite_txn *txn = sqlite_txn_cast(txn_);
    struct store_conn *conn = txn->conn;
    sqlite3_stmt *stmt;
    int error;

    error = conn_stmt(conn, STMT_KINDS, &stmt);
    while (!error) {
        bool row;

        error = conn_step(conn, stmt, &row);
        if (error) {
            return txn_fail(txn, error);
        }
        if (!row) {
            stmt_done(stmt);
            break;
        }
        *kinds = xrealloc(*kinds, (*n + 1) * sizeof **kinds);
        (*kinds)[(*n)++] =
            xstrdup((const char *) sqlite3_column_text(stmt, 0));
    }
    return error;
}

/* Elections.  With SQLite there is one controller, which leads every role
 * from the start to the end of its candidacy. */
struct sqlite_election {
    struct store_election up; /* The common part. */
    char *candidate;          /* The one candidate, so the leader. */
};

static struct sqlite_election *
sqlite_election_cast(struct store_election *election)
{
    return STORE_CONTAINER_OF(election, struct sqlite_election, up);
}

static int
sqlite_election_start(struct store *store, const char *role,
                      const char *candidate, int ttl_ms,
                      struct store_election **electionp)
{
    struct sqlite_election *election = xzalloc(sizeof *election);

    election->up.store = store;
    election->candidate = xstrdup(candidate);
    *electionp = &election->up;
    return 0;
}

static bool
sqlite_election_is_leader(struct store_election *election)
{
    return true;
}

/* The leadership never changes, so a wait for it to end lasts the whole
 * timeout (the caller's loop decides when to stop waiting). */
static int
sqlite_election_wait(struct store_election *election, bool was_leader,
                     int timeout_ms)
{
    if (!was_leader) {
        return 0;
    }
    do {
        struct timespec ts = {timeout_ms < 0 ? 3600 : timeout_ms / 1000,
                              timeout_ms < 0 ? 0
                                             : (timeout_ms % 1000) * 1000000L};

        while (nanosleep(&ts, &ts) && EINTR == errno) {
            continue;
        }
    } while (timeout_ms < 0);
    return ETIMEDOUT;
}

static char *
sqlite_election_leader(struct store_election *election)
{
    return xstrdup(sqlite_election_cast(election)->candidate);
}

static void
sqlite_election_stop(struct store_election *election_)
{
    struct sqlite_election *election = sqlite_election_cast(election_);

    free(election->candidate);
    free(election);
}

const struct store_class store_sqlite_class = {
    .name = "sqlite",
    .open = sqlite_open,
    .close = sqlite_close,
    .begin = sqlite_begin,
    .commit = sqlite_commit,
    .abort = sqlite_abort,
    .get = sqlite_get,
    .put = sqlite_put,
    .delete = sqlite_delete,
    .list = sqlite_list,
    .count = sqlite_count,
    .kinds = sqlite_kinds,
    .status = sqlite_status,
    .election_start = sqlite_election_start,
    .election_is_leader = sqlite_election_is_leader,
    .election_wait = sqlite_election_wait,
    .election_leader = sqlite_election_leader,
    .election_stop = sqlite_election_stop,
};
