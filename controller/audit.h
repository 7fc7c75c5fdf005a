/* The audit trail: who changed what, and who was turned away.
 *
 * Every request that changes something, and every request refused with
 * 401 or 403, becomes one entry (kind "audit" in the store) with its time,
 * token name, role, method, path, status and message, and one log line.
 * Entry names count down from a large number as entries are added, so
 * that the store lists the newest first; only the last 'keep' are kept. */
#ifndef CONTROLLER_AUDIT_H
#define CONTROLLER_AUDIT_H 1

#include <stddef.h>

#include <jansson.h>

struct audit;
struct api_error;
struct store;

/* How many entries the trail keeps by default. */
#define AUDIT_KEEP_DEFAULT 10000

struct audit *audit_create(struct store *, size_t keep);
void audit_destroy(struct audit *);

/* One request that the trail records. */
struct audit_entry {
    const char *who;     /* Token name, or NULL if unauthenticated. */
    const char *role;    /* Its role, or NULL. */
    const char *method;  /* HTTP method. */
    const char *path;    /* Request path. */
    int status;          /* HTTP status of the answer. */
    const char *message; /* What happened, or why not. */
};

/* Records 'entry' in the store and the log.  Failures are logged: the
 * request has already been answered. */
void audit_record(struct audit *, const struct audit_entry *entry);

/* GET /v1/audit?limit=N&page_token=T: entries, newest first. */
int audit_list(struct audit *, const json_t *query, json_t **out,
               struct api_error *err);

#endif /* controller/audit.h */
