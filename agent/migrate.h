/* The agent's side of live migration (doc/mobility.md) that is about the
 * network: agent/vms.c runs QEMU through the migration, and this module
 * moves what the fabric knows of the VM along with it.
 *
 *   - Source, at the switch-over (the guest paused before its last state
 *     is sent): the FDB entries of the VM's MACs forward to the
 *     destination's VTEP, and the conntrack entries of the VM's addresses
 *     are exported and sent to the controller
 *     (POST /v1/hosts/HOST/migrations/ID/conntrack), which passes them on
 *     to the destination's agent.  A migration that fails after that puts
 *     the FDB entries back.
 *
 *   - Destination: the controller's POST /v1/migrations/ID/conntrack to
 *     this agent's HTTP server writes those entries for the VM's standby
 *     ports (migrate_conntrack_post()); the first frame of the VM here
 *     (DP_PUNT_ACTIVATED, read by the punt reader of agent/dhcp.c) makes
 *     its ports local ones and reports the migration completed at once
 *     (migrate_activated()). */
#ifndef AGENT_MIGRATE_H
#define AGENT_MIGRATE_H 1

#include <stddef.h>
#include <stdint.h>

struct core;
struct migrate;

/* How long the source waits for the controller to take the conntrack
 * entries: this is part of the guest's downtime. */
#define MIGRATE_CT_TIMEOUT_MS 2000

/* The most conntrack entries one hand-over carries, and the largest body
 * the agent's HTTP server takes for one. */
#define MIGRATE_CT_MAX 65536
#define MIGRATE_CT_BODY_MAX (MIGRATE_CT_MAX * 320)

/* What the source needs to reach the controller. */
struct migrate_config {
    const char *controller; /* Base URL, or NULL in file mode: then the
                             * conntrack entries stay here. */
    const char *cacert;     /* CA bundle for https, or NULL. */
    const char *token;      /* API token (agent role), or NULL. */
    const char *host;       /* This host's name. */
};

/* Creates the migration side of the network over 'core' (which must
 * outlive it) and sets the hooks of its VMs, if it runs any; 'notify'
 * (if not NULL) is called with 'aux' when a migration's status must be
 * reported at once. */
struct migrate *migrate_create(const struct migrate_config *,
                               struct core *core, void (*notify)(void *),
                               void *aux);
void migrate_destroy(struct migrate *);

/* Sends 'token' from now on. */
void migrate_set_token(struct migrate *, const char *token);

/* The fast path punted DP_PUNT_ACTIVATED for the port whose device is
 * 'ifindex': the VM migrating in runs here now. */
void migrate_activated(struct core *core, uint32_t ifindex);

/* POST /v1/migrations/ID/conntrack of the agent's HTTP server: imports the
 * entries of the 'len' bytes of 'body' ({"entries": [{"port", "key",
 * "value"}]}) for migration 'id', if 'authorization' (the request's
 * Authorization header, or NULL) is the controller's.  Returns the HTTP
 * status (200, 400, 401, 404, 409) and a new JSON text in '*answer':
 * {"imported": N, "existing": N, "failed": N} or {"error": MESSAGE}. */
int migrate_conntrack_post(struct core *core, const char *authorization,
                           const char *id, const char *body, size_t len,
                           char **answer);

#endif /* agent/migrate.h */
