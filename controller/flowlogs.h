/* The firewall's flow logs at the controller: what agents report that their
 * fast paths allowed (by a rule with "log") or denied.
 *
 * Records live in the store's database file, in a table of their own
 * ("flowlogs", created by the store's migrations), and not as store
 * objects: they come by the thousand, are never updated, must not bump the
 * store revision that agents' long polls wait on, and are read back by
 * column filters rather than by name.  This module reaches the table over
 * a SQLite connection of its own, serialized by a mutex.
 *
 * No port may hold more than 'port_keep' records: each addition prunes the
 * oldest of its ports beyond that.  And the store holds at most 'keep':
 * past that, the oldest records of the ports over their fair share (keep
 * divided by the number of ports with records) go first, so that a port
 * that floods the store can only push out its own records, never those of
 * a port within its share.  Both in the same transaction as the addition.
 *
 * Functions return 0 or a positive errno value. */
#ifndef CONTROLLER_FLOWLOGS_H
#define CONTROLLER_FLOWLOGS_H 1

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

struct flowlogs;

/* How many records are kept by default, in all and per port. */
#define FLOWLOGS_KEEP_DEFAULT 100000
#define FLOWLOGS_PORT_SHARE 10 /* A port keeps 1/10 of 'keep' by default. */

/* Opens the flow logs of the store at 'url' ("sqlite:PATH" or PATH), which
 * store_open() must have created and migrated already, keeping at most
 * 'keep' records (0: FLOWLOGS_KEEP_DEFAULT) and 'port_keep' per port (0:
 * 'keep' / FLOWLOGS_PORT_SHARE). */
int flowlogs_open(const char *url, size_t keep, size_t port_keep,
                  struct flowlogs **);
void flowlogs_close(struct flowlogs *);

/* One record to add, already checked. */
struct flowlogs_record {
    int64_t time_us;      /* Its "time", microseconds since the epoch. */
    const char *port;     /* Its "port". */
    const char *network;  /* Its "network". */
    const char *verdict;  /* "allow" or "deny". */
    const json_t *record; /* The whole record as the agent sent it. */
};

/* Adds the 'n' 'records' of host 'host' in one transaction: all or none. */
int flowlogs_add(struct flowlogs *, const char *host,
                 const struct flowlogs_record *records, size_t n);

/* Which records a query returns: those matching every member that is set,
 * newest first (by "time", then by arrival), at most 'limit'. */
struct flowlogs_filter {
    const char *port;    /* Only this port, or NULL. */
    const char *host;    /* Only this host, or NULL. */
    const char *network; /* Only this network, or NULL. */
    const char *verdict; /* Only "allow" or "deny", or NULL. */
    bool has_since;      /* Only records at or after 'since_us'. */
    int64_t since_us;    /* Microseconds since the epoch. */
    size_t limit;        /* Most records to return, at least 1. */
};

/* Stores in '*items' a new JSON array of the records 'filter' selects,
 * each the record as sent with "host" and "id" (a number that grows with
 * arrival) added, and "count" 1 if it had none. */
int flowlogs_query(struct flowlogs *, const struct flowlogs_filter *filter,
                   json_t **items);

/* The number of records kept now, for tests and metrics. */
int flowlogs_count(struct flowlogs *, size_t *count);

#endif /* controller/flowlogs.h */
