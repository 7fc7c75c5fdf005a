/* Live migrations of VMs between hosts: the controller's side (see
 * doc/mobility.md).  POST /v1/vms/NAME/migrate, host maintenance and the
 * balancer all start migrations through migrations_start(), so that every
 * migration meets the same checks and the same claim. */
#ifndef CONTROLLER_MIGRATIONS_H
#define CONTROLLER_MIGRATIONS_H 1

#include <stdbool.h>

#include <jansson.h>

struct api;
struct api_error;

/* What to migrate where, and how. */
struct migration_request {
    const char *vm;         /* The VM's name. */
    const char *to;         /* Destination host, NULL for the scheduler's
                             * choice. */
    const char *reason;     /* "api", "maintenance" or "drs". */
    int downtime_ms;        /* Longest pause allowed, 0 for the default
                             * (MIGRATION_DOWNTIME_DEFAULT_MS). */
    int max_bandwidth_mbps; /* 0 for no limit. */
    bool auto_converge;     /* Throttle a guest that dirties memory faster
                             * than it is copied. */
};

#define MIGRATION_DOWNTIME_DEFAULT_MS 300

/* Starts the migration 'req' (checks, claim on the destination, the
 * "migration" index object, in one write transaction).  Returns 0 and
 * sets '*out' (if nonnull) to the migration object, or an HTTP status
 * (400, 404, 409, 503) with 'err' set and nothing changed. */
int migrations_start(struct api *, const struct migration_request *,
                     json_t **out, struct api_error *err);

/* Number of migrations running now, and whether VM 'vm' has one. */
int migrations_running(struct api *);
bool migrations_vm_busy(struct api *, const char *vm);

#endif /* controller/migrations.h */
