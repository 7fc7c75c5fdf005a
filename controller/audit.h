/* The audit trail: who changed what, and who was turned away.
 *
 * Changes.  Every request by an authenticated caller that changes
 * something (or tried to) becomes one entry (kind "audit" in the store)
 * with its time, client address, token name, role, method, path, status
 * and message, and one log line.  Entry names count down from a large
 * number as entries are added, so that the store lists the newest first;
 * only the last 'keep' are kept.
 *
 * Refusals.  Requests refused with 401 or 403, and unauthenticated ones
 * that would change something but reached no handler (404, 405, 413), are
 * kept apart, so that a flood of them can never push a change out of the
 * trail.  They are aggregated per client address, status and token name
 * (kind "audit-refused", one object per aggregate) with a count, the first
 * and last time and the last request's method, path and message.  At most
 * 'refused_keep' aggregates are kept, the one seen least recently making
 * room for a new one.  Aggregates are counted in memory and written to the
 * store, and logged, at most once per AUDIT_REFUSED_FLUSH_MS, so a flood
 * costs neither a store write nor a log line per request. */
#ifndef CONTROLLER_AUDIT_H
#define CONTROLLER_AUDIT_H 1

#include <stddef.h>

#include <jansson.h>

struct audit;
struct api_error;
struct store;

/* How many change entries the trail keeps by default. */
#define AUDIT_KEEP_DEFAULT 10000

/* How many aggregates of refused requests are kept by default. */
#define AUDIT_REFUSED_KEEP_DEFAULT 1000

/* Refused requests are written and logged at most this often. */
#define AUDIT_REFUSED_FLUSH_MS 1000

/* Keeps 'keep' change entries (0: AUDIT_KEEP_DEFAULT) and 'refused_keep'
 * aggregates of refused requests (0: AUDIT_REFUSED_KEEP_DEFAULT) in
 * 'store', continuing what a previous run left there. */
struct audit *audit_create(struct store *, size_t keep, size_t refused_keep);
/* Writes what is pending and frees. */
void audit_destroy(struct audit *);

/* One request that the trail records. */
struct audit_entry {
    const char *client;  /* Client address, "192.0.2.7" or "2001:db8::7". */
    const char *who;     /* Token name, or NULL if unauthenticated. */
    const char *role;    /* Its role, or NULL. */
    const char *method;  /* HTTP method. */
    const char *path;    /* Request path. */
    int status;          /* HTTP status of the answer. */
    const char *message; /* What happened, or why not. */
};

/* Records change 'entry' in the store and the log.  Failures are logged:
 * the request has already been answered. */
void audit_record(struct audit *, const struct audit_entry *entry);

/* Counts refused request 'entry' in its aggregate. */
void audit_refuse(struct audit *, const struct audit_entry *entry);

/* GET /v1/audit?limit=N&page_token=T: change entries, newest first. */
int audit_list(struct audit *, const json_t *query, json_t **out,
               struct api_error *err);

/* GET /v1/audit/refused?limit=N&page_token=T: aggregates of refused
 * requests, the most recently seen first. */
int audit_list_refused(struct audit *, const json_t *query, json_t **out,
                       struct api_error *err);

#endif /* controller/audit.h */
