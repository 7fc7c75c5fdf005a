/* The VMs of a host: what makes the desired state's "vms" (doc/vms.md,
 * "Agent") run through vmm-glue.
 *
 * Each VM's NICs are taps that vms_prepare() makes (persistent, so that
 * they outlive the agent) before the reconciliation that puts the port
 * program on them; vms_update() then learns which taps the datapath has,
 * and a VM starts only once all of its NICs are fabric ports, so that no
 * frame of the guest ever bypasses the fabric.
 *
 * Everything that may take time runs off the caller's thread: a monitor
 * thread asks the hypervisor how each VM does every VMS_POLL_MS and
 * decides what to do, and each action (make the disk and seed and start;
 * stop; reset; stop, destroy and remove) runs in a thread of its own, so
 * that a guest slow to power off never holds up the reconciliation or
 * another VM.
 *
 * The agent never stops a VM because it restarted: a new process finds
 * the VMs the driver runs (vmm_list()) and the records it keeps of the
 * VMs it started (one file per VM under the run directory), and carries
 * on.  It only ever destroys a VM it has a record of, so that it never
 * touches a hypervisor's other guests.  A VM left out of the desired
 * state because of a mistake in it (state_vm_is_skipped()) is left as it
 * is; one that left the document is stopped (ACPI, then forced after
 * VMM_STOP_TIMEOUT seconds), destroyed, and its taps, disk and seed are
 * removed, unless it migrated in and never arrived or it moved to another
 * host ("moved_vms"): then its disk and seed stay, for the host that runs
 * it. */
#ifndef AGENT_VMS_H
#define AGENT_VMS_H 1

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/lease.h"

struct json_t;
struct state;

#define VMS_POLL_MS 1000          /* How often each VM's status is read. */
#define VMS_RETRY_MIN_MS 1000     /* A failed start is retried after this... */
#define VMS_RETRY_MAX_MS 60000    /* ...doubling up to this. */
#define VMS_CONSOLE_DEFAULT 65536 /* Bytes of a console answered... */
#define VMS_CONSOLE_MAX 1048576   /* ...and the most asked for. */
#define VMS_MIGRATION_POLL_MS                                                 \
    5                                /* How often a migrating source asks     \
                                      * QEMU how it does, so that its pause   \
                                      * before the switch-over is short. */
#define VMS_MIGRATION_REPORT_MS 1000 /* Progress reports, at least. */
#define VMS_ACTIVATE_GRACE_MS                                                 \
    1000 /* How long a destination waits for the first frame of a VM whose    \
          * QEMU finished the migration and runs it before it activates the   \
          * VM's ports itself. */

/* Settings (agent/agent-config.h). */
struct vms_config {
    const char *hypervisor;  /* "qemu" or "libvirt"; NULL for "qemu". */
    const char *storage;     /* The storage directory every host sees. */
    const char *run_dir;     /* The driver's per-VM files, and the
                              * agent's records of its VMs. */
    const char *accel;       /* "auto" (or NULL), "kvm" or "tcg". */
    const char *probe_cache; /* Where vmm_accel_probe() keeps its answer
                              * for the machine's other agents. */
    const char *instance;    /* The agent's datapath instance: libvirt
                              * names its domains after it. */
};

struct vms;

/* Opens the hypervisor driver, decides between KVM and TCG, finds the VMs
 * already running and starts the monitor thread.  Returns 0, or an errno
 * value after logging why (no hypervisor, a run directory that cannot be
 * made). */
int vms_open(const struct vms_config *, struct vms **);

/* Stops the monitor thread and closes the driver, leaving every VM as it
 * is.  NULL is a no-op. */
void vms_close(struct vms *);

/* Makes the taps of the NICs of the VMs of 's' that are missing.  Call
 * before reconciling the datapath with 's', so that the reconciliation
 * puts the port program on them. */
void vms_prepare(struct vms *, const struct state *s);

/* Whether the datapath has tap 'device' as a port (its program is on
 * it), asked with 'aux'. */
typedef bool vms_ready_func(const char *device, void *aux);

/* Makes 's' the desired state of the VMs, asking 'ready' about each NIC's
 * tap.  Never blocks on a VM. */
void vms_update(struct vms *, const struct state *s, vms_ready_func *ready,
                void *aux);

/* Makes 'action' what the VMs with "ha" "restart" may do (agent/lease.h):
 * run and start (the default, and always without a controller), keep
 * running but not start, or be forced off at once. */
void vms_set_ha(struct vms *, enum lease_action action);

/* Returns a new JSON object that maps each VM of the desired state to
 * {"state": "starting"|"running"|"stopping"|"stopped"|"failed"|"incoming",
 * "reason": TEXT (when there is one), "cpu_time_ns": N, "memory_kb": N,
 * "boot": N} (doc/vms.md), with "migration" (doc/mobility.md) once it
 * migrated in or out: {"id", "role": "source"|"destination", "status",
 * "uri" (destination), "transferred_bytes", "remaining_bytes",
 * "total_bytes", "downtime_ms" and "total_ms" (a completed source),
 * "activated" (destination), "error", "ct_error"}. */
struct json_t *vms_status(struct vms *);

/* Returns {"driver": "qemu"|"libvirt", "accel": "kvm"|"tcg", "reason":
 * TEXT}: how this host runs VMs, for the controller; NULL while the
 * monitor is still finding out whether KVM works. */
struct json_t *vms_hypervisor(struct vms *);

/* Returns the size of the storage directory's file system in GiB, or 0 if
 * it cannot be read. */
uint64_t vms_disk_gb(struct vms *);

/* VMs by state, and what each uses, for the metrics. */
struct vms_counts {
    size_t by_state[6]; /* Per vms_state_name() index. */
    struct vms_usage {
        char *name;           /* A VM of the desired state... */
        uint64_t cpu_time_ns; /* ...its vCPU time since it started... */
        uint64_t memory_kb;   /* ...and its process's resident memory. */
    } * usage;                /* Of the VMs the driver knows. */
    size_t n_usage;           /* Number of 'usage'. */
};

void vms_counts(struct vms *, struct vms_counts *);
void vms_counts_destroy(struct vms_counts *);

/* Returns the name of state 'i' of struct vms_counts ("starting",
 * "running", "stopping", "stopped", "failed", "incoming"), or NULL past
 * the last. */
const char *vms_state_name(size_t i);

/* Live migration (doc/mobility.md).  A VM with "incoming" is started
 * paused and waits for its state on a free port of this host's VTEP
 * address; one with "migrate" is sent, and at its switch-over the hooks
 * move the network.  What the VMs ask of the rest of the agent: */
struct vms_migration_hooks {
    /* The source VM 'vm' of migration 'id' is paused before its
     * switch-over: move the network to the destination, VTEP 'to_vtep'
     * (network order).  Returns NULL or, when its conntrack could not be
     * handed over (the migration goes on), why (the caller frees it). */
    char *(*switch_over)(void *aux, const char *vm, const char *id,
                         uint32_t to_vtep);
    /* Migration 'id' of 'vm' failed after switch_over(): put the network
     * back. */
    void (*revert)(void *aux, const char *vm, const char *id);
    /* A migration's status changed: report it now. */
    void (*notify)(void *aux);
    /* The VM 'vm' migrated in: its QEMU finished the migration and runs
     * it, but no frame of its came within VMS_ACTIVATE_GRACE_MS (an idle
     * guest whose QEMU's announcement was lost, or came before its port
     * was standby): activate its standby ports as its first frame would
     * have. */
    void (*activate)(void *aux, const char *vm);
};

/* Sets the hooks ('hooks' is copied), called with 'aux'. */
void vms_set_migration_hooks(struct vms *,
                             const struct vms_migration_hooks *hooks,
                             void *aux);

/* The VM 'name' migrating in sent its first frame here: it runs here now.
 * Returns true if that is news. */
bool vms_activated(struct vms *, const char *name);

/* Returns true if a VM's state may have changed since the call that
 * stored '*seen' (0 at first), and stores where things are now. */
bool vms_changed(struct vms *, uint64_t *seen);

/* Stores in '*text' the last 'max' bytes at most of the serial console of
 * VM 'name' of the desired state.  Returns 0, ENOENT if there is no such
 * VM, or another errno value. */
int vms_console(struct vms *, const char *name, size_t max, char **text);

/* fabric-agent --purge: forces off and destroys every VM the agent has a
 * record of in 'cfg''s run directory and removes its taps, leaving disks
 * and seeds in the storage.  Returns 0 or the first errno value. */
int vms_purge(const struct vms_config *cfg);

#endif /* agent/vms.h */
