/* The HA monitor (doc/mobility.md, "HA: restart after a host fails").
 *
 * Every HA_INTERVAL_MS a thread looks at every registered host.  A host
 * is declared failed when both signals say so: its last heartbeat is older
 * than the lease (ha-lease) plus the time a fencing agent takes
 * (ha-fence-margin), so that its agent has forced off its HA VMs by then
 * if it still runs; and, of the other hosts whose heartbeats carried
 * "peers" within the last lease, a majority say its agent does not answer
 * their UDP probes (a host no peer reports on counts as not answering).  A
 * host cut from the controller whose agent still answers its peers stays
 * "unreachable" and keeps its VMs.  A controller that has just started
 * waits one lease and margin before it declares anything.
 *
 * The VMs of a failed host with "ha" "restart" are then restarted on other
 * hosts, highest "ha_priority" first (then by name), each in a write
 * transaction of its own (api_vm_ha_restart()); one that fits nowhere
 * waits, with the scheduler's reasons as its status, and is tried again
 * on every pass until the host's agent comes back. */
#ifndef CONTROLLER_HA_H
#define CONTROLLER_HA_H 1

#include <stdint.h>

struct api;
struct ha;

/* How often the monitor looks, in milliseconds. */
#define HA_INTERVAL_MS 500

/* What the monitor has done, for the metrics. */
struct ha_counts {
    uint64_t host_failures;   /* Hosts declared failed. */
    uint64_t restarts_ok;     /* VMs restarted on another host. */
    uint64_t restarts_failed; /* Restarts that found no host (or failed in
                               * the store), counted once per VM and
                               * failure. */
    uint64_t waiting;         /* VMs waiting for a host now. */
};

/* Creates the monitor of 'api', which records what it does in the audit
 * trail of 'api' (if it has one). */
struct ha *ha_create(struct api *);
/* Starts its thread.  Returns 0 or an errno value. */
int ha_start(struct ha *);
/* Stops its thread, if it runs, and frees.  NULL is a no-op. */
void ha_destroy(struct ha *);

/* One pass of the monitor at monotonic time 'now_ms' (tests call it
 * directly, with times of their own). */
void ha_run(struct ha *, uint64_t now_ms);

void ha_counts(struct ha *, struct ha_counts *);

#endif /* controller/ha.h */
