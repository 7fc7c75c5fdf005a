/* The firewall's flow logs at the controller. */
#include "controller/flowlogs.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/param.h>

#include <sqlite3.h>

#include "utils/log.h"
#include "utils/util.h"

/* How long a statement waits for the store's writer, which shares the
 * database file, before it fails with EBUSY. */
#define FLOWLOGS_BUSY_TIMEOUT_MS 5000

struct flowlogs {
    char *path;            /* Database file. */
    size_t keep;           /* Records to keep in all. */
    size_t port_keep;      /* Records to keep per port. */
    pthread_mutex_t mutex; /* Serializes use of 'db' and 'ports'. */
    sqlite3 *db;           /* Our own connection. */
    json_t *ports;         /* Port name -> its number of records, for the
                            * ports with records. */
    size_t total;          /* Records in all: the sum of 'ports'. */
};

/* Logs SQLite's failure 'rc' at 'what' and returns EBUSY for a database
 * locked for too long, EIO for anything else. */
static int
flowlogs_error(const struct flowlogs *fl, int rc, const char *what)
{
    int primary = rc & 0xff;

    LOG_ERR("flow logs %s: %s: %s", fl->path, what,
            fl->db ? sqlite3_errmsg(fl->db) : sqlite3_errstr(rc));
    return primary == SQLITE_BUSY || primary == SQLITE_LOCKED ? EBUSY : EIO;
}

/* Counts the records of every port into 'fl->ports' and 'fl->total'. */
static int
load_counts(struct flowlogs *fl)
{
    sqlite3_stmt *stmt;
    int rc;

    json_object_clear(fl->ports);
    fl->total = 0;
    rc = sqlite3_prepare_v2(
        fl->db, "SELECT port, count(*) FROM flowlogs GROUP BY port", -1, &stmt,
        NULL);
    if (rc != SQLITE_OK) {
        return flowlogs_error(fl, rc, "counting records");
    }
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        size_t n = sqlite3_column_int64(stmt, 1);

        json_object_set_new(fl->ports,
                            (const char *) sqlite3_column_text(stmt, 0),
                            json_integer(n));
        fl->total += n;
    }
    sqlite3_finalize(stmt);
    return rc == SQLITE_DONE ? 0 : flowlogs_error(fl, rc, "counting records");
}

int
flowlogs_open(const char *url, size_t keep, size_t port_keep,
              struct flowlogs **flp)
{
    struct flowlogs *fl;
    int rc;

    *flp = NULL;
    if (!url) {
        return EINVAL;
    }
    fl = xzalloc(sizeof *fl);
    /* store_open() has accepted 'url' already: it names a file. */
    fl->path = xstrdup(!strncmp(url, "sqlite:", 7) ? url + 7 : url);
    fl->keep = keep ? keep : FLOWLOGS_KEEP_DEFAULT;
    fl->port_keep =
        port_keep ? port_keep : MAX(fl->keep / FLOWLOGS_PORT_SHARE, 1);
    fl->ports = json_object();
    pthread_mutex_init(&fl->mutex, NULL);
    rc = sqlite3_open_v2(fl->path, &fl->db, SQLITE_OPEN_READWRITE, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_busy_timeout(fl->db, FLOWLOGS_BUSY_TIMEOUT_MS);
        rc = sqlite3_exec(fl->db,
                          "PRAGMA synchronous = NORMAL;"
                          "SELECT count(*) FROM flowlogs WHERE 0",
                          NULL, NULL, NULL);
    }
    if (rc != SQLITE_OK) {
        int error = flowlogs_error(fl, rc, "cannot open");

        flowlogs_close(fl);
        return error;
    }
    if (load_counts(fl)) {
        flowlogs_close(fl);
        return EIO;
    }
    *flp = fl;
    return 0;
}

void
flowlogs_close(struct flowlogs *fl)
{
    if (fl) {
        sqlite3_close(fl->db);
        json_decref(fl->ports);
        pthread_mutex_destroy(&fl->mutex);
        free(fl->path);
        free(fl);
    }
}

/* Runs 'sql', which takes no parameters and produces no rows. */
static int
exec(struct flowlogs *fl, const char *sql)
{
    int rc = sqlite3_exec(fl->db, sql, NULL, NULL, NULL);

    return rc == SQLITE_OK ? 0 : flowlogs_error(fl, rc, sql);
}

/* Inserts one record with 'stmt', prepared from the INSERT below. */
static int
insert_one(struct flowlogs *fl, sqlite3_stmt *stmt, const char *host,
           const struct flowlogs_record *r)
{
    char *text = json_dumps(r->record, JSON_COMPACT);
    int rc;

    if (!text) {
        return ENOMEM;
    }
    sqlite3_bind_int64(stmt, 1, r->time_us);
    sqlite3_bind_text(stmt, 2, host, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 3, r->port, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 4, r->network, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 5, r->verdict, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 6, text, -1, SQLITE_STATIC);
    rc = sqlite3_step(stmt);
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
    free(text);
    return rc == SQLITE_DONE ? 0 : flowlogs_error(fl, rc, "adding a record");
}

/* Deletes the 'n' oldest records (by arrival) of 'port' and counts them
 * out. */
static int
evict(struct flowlogs *fl, const char *port, size_t n)
{
    json_t *count = json_object_get(fl->ports, port);
    sqlite3_stmt *stmt;
    size_t deleted;
    int rc;

    rc = sqlite3_prepare_v2(fl->db,
                            "DELETE FROM flowlogs WHERE id IN (SELECT id FROM"
                            " flowlogs WHERE port = ?1 ORDER BY id LIMIT ?2)",
                            -1, &stmt, NULL);
    if (rc != SQLITE_OK) {
        return flowlogs_error(fl, rc, "pruning");
    }
    sqlite3_bind_text(stmt, 1, port, -1, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 2, (int64_t) n);
    rc = sqlite3_step(stmt);
    sqlite3_finalize(stmt);
    if (rc != SQLITE_DONE) {
        return flowlogs_error(fl, rc, "pruning");
    }
    deleted = sqlite3_changes(fl->db);
    fl->total -= deleted;
    if ((size_t) json_integer_value(count) <= deleted) {
        json_object_del(fl->ports, port);
    } else {
        json_integer_set(count, json_integer_value(count) - deleted);
    }
    return 0;
}

/* Returns the id of the oldest record of 'port', INT64_MAX if there is
 * none or on error. */
static int64_t
oldest_id(struct flowlogs *fl, const char *port)
{
    int64_t id = INT64_MAX;
    sqlite3_stmt *stmt;

    if (sqlite3_prepare_v2(fl->db,
                           "SELECT min(id) FROM flowlogs WHERE port = ?1", -1,
                           &stmt, NULL)
        == SQLITE_OK) {
        sqlite3_bind_text(stmt, 1, port, -1, SQLITE_STATIC);
        if (sqlite3_step(stmt) == SQLITE_ROW
            && sqlite3_column_type(stmt, 0) != SQLITE_NULL) {
            id = sqlite3_column_int64(stmt, 0);
        }
        sqlite3_finalize(stmt);
    }
    return id;
}

/* Returns the port that holds 'most' records, or of several the one with
 * the oldest record. */
static const char *
fullest_port(struct flowlogs *fl, size_t most)
{
    const char *victim = NULL, *port;
    int64_t victim_oldest = INT64_MAX;
    size_t n_fullest = 0;
    json_t *value;

    json_object_foreach(fl->ports, port, value)
    {
        if ((size_t) json_integer_value(value) == most) {
            victim = port;
            n_fullest++;
        }
    }
    if (n_fullest > 1) {
        json_object_foreach(fl->ports, port, value)
        {
            int64_t oldest;

            if ((size_t) json_integer_value(value) == most
                && (oldest = oldest_id(fl, port)) < victim_oldest) {
                victim = port;
                victim_oldest = oldest;
            }
        }
    }
    return victim;
}

/* Brings the ports in 'batch' (names) within 'fl->port_keep' records each,
 * then the store within 'fl->keep' records, taking from the ports over
 * their fair share, the fullest first. */
static int
prune(struct flowlogs *fl, const json_t *batch)
{
    const char *port;
    json_t *value;
    size_t share, before;
    int error = 0;

    json_object_foreach((json_t *) batch, port, value)
    {
        size_t n = json_integer_value(json_object_get(fl->ports, port));

        if (n > fl->port_keep) {
            error = evict(fl, port, n - fl->port_keep);
            if (error) {
                return error;
            }
        }
    }
    while (fl->total > fl->keep) {
        size_t most = 0;

        /* Every port within its share means at most 'keep' records, so
         * the fullest port is over its share here. */
        share = fl->keep / json_object_size(fl->ports);
        json_object_foreach(fl->ports, port, value)
        {
            most = MAX(most, (size_t) json_integer_value(value));
        }
        before = fl->total;
        error = evict(fl, fullest_port(fl, most),
                      MIN(most - share, fl->total - fl->keep));
        if (error) {
            return error;
        }
        if (fl->total == before) {
            /* The counts were wrong (the file changed under us): take
             * them again, and prune again with the next addition. */
            LOG_WARN("flow logs %s: the counts of records per port were "
                     "wrong; counting again",
                     fl->path);
            return load_counts(fl);
        }
    }
    return 0;
}

int
flowlogs_add(struct flowlogs *fl, const char *host,
             const struct flowlogs_record *records, size_t n)
{
    json_t *batch = json_object();
    sqlite3_stmt *stmt = NULL;
    int error, rc;

    if (!n) {
        return 0;
    }
    pthread_mutex_lock(&fl->mutex);
    /* IMMEDIATE takes the write lock now, so that the transaction cannot
     * fail half-way for want of it. */
    error = exec(fl, "BEGIN IMMEDIATE");
    if (error) {
        goto out;
    }
    rc = sqlite3_prepare_v2(fl->db,
                            "INSERT INTO flowlogs (time_us, host, port,"
                            " network, verdict, body)"
                            " VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                            -1, &stmt, NULL);
    if (rc != SQLITE_OK) {
        error = flowlogs_error(fl, rc, "adding records");
    }
    for (size_t i = 0; !error && i < n; i++) {
        const char *port = records[i].port;
        json_t *count = json_object_get(fl->ports, port);

        error = insert_one(fl, stmt, host, &records[i]);
        if (!error) {
            json_object_set_new(fl->ports, port,
                                json_integer(json_integer_value(count) + 1));
            json_object_set_new(batch, port, json_true());
            fl->total++;
        }
    }
    if (!error) {
        error = prune(fl, batch);
    }
    if (!error) {
        error = exec(fl, "COMMIT");
    }
    if (error) {
        if (!sqlite3_get_autocommit(fl->db)) {
            exec(fl, "ROLLBACK");
        }
        /* The counts moved with the rolled back changes. */
        load_counts(fl);
    }

out:
    sqlite3_finalize(stmt);
    pthread_mutex_unlock(&fl->mutex);
    json_decref(batch);
    return error;
}

int
flowlogs_query(struct flowlogs *fl, const struct flowlogs_filter *f,
               json_t **itemsp)
{
    const char *columns[] = {"port", "host", "network", "verdict"};
    const char *values[] = {f->port, f->host, f->network, f->verdict};
    char *sql = xstrdup("SELECT id, host, body FROM flowlogs WHERE 1");
    json_t *items = json_array();
    sqlite3_stmt *stmt = NULL;
    int error = 0, rc, idx;

    *itemsp = NULL;
    for (size_t i = 0; i < ARRAY_SIZE(columns); i++) {
        if (values[i]) {
            char *more = xasprintf("%s AND %s = ?", sql, columns[i]);

            free(sql);
            sql = more;
        }
    }
    if (f->has_since) {
        char *more = xasprintf("%s AND time_us >= ?", sql);

        free(sql);
        sql = more;
    }
    {
        char *more =
            xasprintf("%s ORDER BY time_us DESC, id DESC LIMIT ?", sql);

        free(sql);
        sql = more;
    }

    pthread_mutex_lock(&fl->mutex);
    rc = sqlite3_prepare_v2(fl->db, sql, -1, &stmt, NULL);
    if (rc != SQLITE_OK) {
        error = flowlogs_error(fl, rc, "querying");
        goto out;
    }
    idx = 1;
    for (size_t i = 0; i < ARRAY_SIZE(columns); i++) {
        if (values[i]) {
            sqlite3_bind_text(stmt, idx++, values[i], -1, SQLITE_STATIC);
        }
    }
    if (f->has_since) {
        sqlite3_bind_int64(stmt, idx++, f->since_us);
    }
    sqlite3_bind_int64(stmt, idx, (int64_t) f->limit);
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        const char *text = (const char *) sqlite3_column_text(stmt, 2);
        json_t *record = text ? json_loads(text, 0, NULL) : NULL;

        if (!json_is_object(record)) {
            /* Only this module writes the table: a bad body is a bug or
             * a damaged file, not a reason to hide the other records. */
            LOG_WARN("flow logs %s: record %" PRId64 " is not JSON", fl->path,
                     (int64_t) sqlite3_column_int64(stmt, 0));
            json_decref(record);
            continue;
        }
        json_object_set_new(
            record, "host",
            json_string((const char *) sqlite3_column_text(stmt, 1)));
        json_object_set_new(record, "id",
                            json_integer(sqlite3_column_int64(stmt, 0)));
        if (!json_object_get(record, "count")) {
            json_object_set_new(record, "count", json_integer(1));
        }
        json_array_append_new(items, record);
    }
    if (rc != SQLITE_DONE) {
        error = flowlogs_error(fl, rc, "querying");
    }

out:
    sqlite3_finalize(stmt);
    pthread_mutex_unlock(&fl->mutex);
    free(sql);
    if (error) {
        json_decref(items);
    } else {
        *itemsp = items;
    }
    return error;
}

int
flowlogs_count(struct flowlogs *fl, size_t *count)
{
    sqlite3_stmt *stmt;
    int error = 0, rc;

    pthread_mutex_lock(&fl->mutex);
    rc = sqlite3_prepare_v2(fl->db, "SELECT count(*) FROM flowlogs", -1, &stmt,
                            NULL);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(stmt);
        *count = rc == SQLITE_ROW ? (size_t) sqlite3_column_int64(stmt, 0) : 0;
        sqlite3_finalize(stmt);
    }
    if (rc != SQLITE_ROW) {
        error = flowlogs_error(fl, rc, "counting");
    }
    pthread_mutex_unlock(&fl->mutex);
    return error;
}
