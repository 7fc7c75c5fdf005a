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
struct store_txn;

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

/* A migration whose agents report nothing about it for this long, before
 * the destination's activation, fails and is rolled back. */
#define MIGRATION_TIMEOUT_MS 30000

/* For this long after a migration's activation, its source's document
 * keeps the VM's MACs in "forward" (doc/mobility.md): every other host
 * takes the revision that moves the VM well within it. */
#define MIGRATION_FORWARD_GRACE_MS 5000

/* Starts the migration 'req' (checks, claim on the destination, the
 * "migration" index object, in one write transaction).  Returns 0 and
 * sets '*out' (if nonnull) to the migration object, or an HTTP status
 * (400, 404, 409, 503) with 'err' set and nothing changed. */
int migrations_start(struct api *, const struct migration_request *,
                     json_t **out, struct api_error *err);

/* Number of migrations running now, and whether VM 'vm' has one. */
int migrations_running(struct api *);
bool migrations_vm_busy(struct api *, const char *vm);

/* Every 'api' holds one of these: what the metrics count. */
struct api_migr *api_migrations_create(void);
void api_migrations_destroy(struct api_migr *);

/* POST /v1/vms/NAME/migrate with body 'in' (NULL or {"to", "downtime_ms",
 * "max_bandwidth_mbps", "auto_converge"}): 202 with the VM in '*out'. */
int api_vm_migrate(struct api *, const char *name, const json_t *in,
                   json_t **out, struct api_error *);
/* POST /v1/vms/NAME/migrate/cancel: rolls the running migration back, 200
 * with the VM in '*out'; 409 if none runs. */
int api_vm_migrate_cancel(struct api *, const char *name, const json_t *in,
                          json_t **out, struct api_error *);
/* GET /v1/migrations: the running migrations, by VM name. */
int api_migration_list(struct api *, const json_t *query, json_t **out,
                       struct api_error *);
/* Adds to the API form 'out' of VM 'name' its "migration", read in 'txn':
 * the running one (and then "status" "migrating"), or else the last
 * finished one. */
void api_migration_vm_out(struct store_txn *, const char *name, json_t *out);

/* Checks the "migration" member 'm' of the port-status report of VM
 * 'name' by 'what' (a host).  Returns 0 or 400. */
int api_migration_check_report(const json_t *m, const char *name,
                               const char *what, struct api_error *);
/* Drives the migrations that the checked VM reports 'vms' of host 'host'
 * speak of, in write transaction 'txn' (doc/mobility.md).  Adds to
 * 'allocs' {HOST: allocation or null} of the claims that changed and to
 * 'finished' the migrations that ended, for api_migrations_committed()
 * once 'txn' committed.  Returns 0 or a store error. */
int api_migrations_note_reports(struct api *, struct store_txn *txn,
                                const char *host, const json_t *vms,
                                json_t *allocs, json_t *finished);
void api_migrations_committed(struct api *, const json_t *allocs,
                              const json_t *finished);
/* Fails the migrations nothing was reported about for
 * MIGRATION_TIMEOUT_MS.  The controller calls it every second.  Returns 0
 * or a store error (logged). */
int migrations_tick(struct api *);

/* POST /v1/hosts/HOST/migrations/ID/conntrack from the source's agent:
 * checks body 'in' ({"entries": [{"port", "key", "value"}]}) and passes
 * it on to the destination's agent (POST /v1/migrations/ID/conntrack).
 * 200 with the agent's answer in '*out'; 404 unknown migration; 409 not
 * HOST's; 400 bad entries; 502/503 the agent cannot take them. */
int api_migration_conntrack(struct api *, const char *host, const char *id,
                            const json_t *in, json_t **out,
                            struct api_error *);

/* The migration metrics in the Prometheus text format (a new string). */
char *api_migrations_metrics(struct api *);

#endif /* controller/migrations.h */
