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
 * removed, but for one the document lists in "moved_vms" with its UUID
 * (doc/mobility.md): it runs on another host, whose disk and seed they
 * are now, so they stay. */
#ifndef AGENT_VMS_H
#define AGENT_VMS_H 1

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct json_t;
struct state;

#define VMS_POLL_MS 1000          /* How often each VM's status is read. */
#define VMS_RETRY_MIN_MS 1000     /* A failed start is retried after this... */
#define VMS_RETRY_MAX_MS 60000    /* ...doubling up to this. */
#define VMS_CONSOLE_DEFAULT 65536 /* Bytes of a console answered... */
#define VMS_CONSOLE_MAX 1048576   /* ...and the most asked for. */

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

/* Returns a new JSON object that maps each VM of the desired state to
 * {"state": "starting"|"running"|"stopping"|"stopped"|"failed", "reason":
 * TEXT (when there is one), "cpu_time_ns": N, "memory_kb": N, "boot": N}
 * (doc/vms.md). */
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
    size_t by_state[5]; /* Per vms_state_name() index. */
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
 * "running", "stopping", "stopped", "failed"), or NULL past the last. */
const char *vms_state_name(size_t i);

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
