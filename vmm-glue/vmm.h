/* vmm-glue: one interface to a hypervisor, so that fabric-agent runs VMs
 * without knowing whether QEMU is driven directly over QMP or through
 * libvirtd.
 *
 * A driver is a table of functions (struct vmm_class) behind an opaque
 * handle (struct vmm) that vmm_open() picks by type, as the datapath picks
 * its backend.  A VM is described by a plain struct (struct vmm_spec) and
 * named by its fabric name, which is unique on a host; everything a driver
 * keeps about a VM (its QMP socket, pidfile, console log, domain XML) lives
 * under the driver's run directory or in libvirtd, never only in memory, so
 * that a restarted agent re-attaches to the VMs it finds with vmm_list()
 * and never stops or restarts one to do so.
 *
 * Disks are files in a storage directory that every host sees: the agent
 * makes a VM's disk a qcow2 overlay of an image with vmm_disk_create() and
 * attaches a NoCloud seed made by vmm_seed_create().  NICs are tap devices
 * the agent made (and put the fabric's port program on) before the VM
 * starts; a driver only hands them to the hypervisor.
 *
 * Functions return 0 or a positive errno value.  Errors that need more than
 * an errno value are also logged by the driver with the VM's name. */
#ifndef VMM_GLUE_VMM_H
#define VMM_GLUE_VMM_H 1

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VMM_NAME_MAX 63     /* Longest VM name (as utils/names.h). */
#define VMM_NICS_MAX 8      /* Most NICs a VM may have. */
#define VMM_STOP_TIMEOUT 30 /* Seconds from ACPI power-down to force off. */

/* How guests are run: hardware virtualisation when /dev/kvm works, else
 * QEMU's TCG. */
enum vmm_accel {
    VMM_ACCEL_TCG,
    VMM_ACCEL_KVM,
};

const char *vmm_accel_name(enum vmm_accel); /* "tcg" or "kvm". */

/* Whether KVM can run a guest here.  /dev/kvm must open, answer
 * KVM_GET_API_VERSION with 12 and create a VM; then a real guest must
 * finish booting under KVM in bounded time: QEMU boots Linux kernel
 * 'kernel' (NULL: /boot/vmlinuz-RELEASE of the running kernel, then
 * /vmlinuz) with -accel kvm and no root file system, and the guest must
 * reach its "cannot mount root" panic within VMM_PROBE_TIMEOUT seconds.  A
 * /dev/kvm that only looks right (a host whose KVM cannot run real-mode
 * firmware and boot code, as nested or software KVM sometimes cannot) hangs
 * there, and so does any other reason guests hang.  Anything but success,
 * and no kernel to boot, means TCG.  '*why' (if not NULL) gets a one-line
 * reason to report, which the caller frees.
 *
 * The answer is cached in 'cache_dir'/accel-probe (if 'cache_dir' is not
 * NULL) for as long as the machine's boot id stays the same, so a restarted
 * agent does not wait for it again. */
#define VMM_PROBE_TIMEOUT 15
enum vmm_accel vmm_accel_probe(const char *cache_dir, const char *kernel,
                               char **why);

/* One NIC: a tap device that exists before the VM starts. */
struct vmm_nic {
    char *device;   /* Tap device name. */
    uint8_t mac[6]; /* The guest's MAC, from its fabric port. */
    uint32_t mtu;   /* The network's MTU (the guest learns it by DHCP). */
};

/* What a VM is. */
struct vmm_spec {
    char *name;         /* Fabric name, unique on the host. */
    char uuid[37];      /* Its UUID, as text. */
    uint32_t vcpus;     /* Virtual CPUs, 1 or more. */
    uint64_t memory_mb; /* Memory, MiB. */
    char *disk;         /* Absolute path of the qcow2 overlay. */
    char *seed;         /* Absolute path of the NoCloud seed, or
                         * NULL for none. */
    struct vmm_nic nics[VMM_NICS_MAX]; /* Its NICs, in guest order. */
    size_t n_nics;                     /* Number of 'nics'. */
    enum vmm_accel accel;              /* How to run it. */
    bool incoming;                     /* Start paused, waiting for a live
                                        * migration (vmm_migrate_in()). */
};

void vmm_spec_destroy(struct vmm_spec *); /* Frees members, not 'spec'. */

/* What a VM is doing, as the hypervisor says. */
enum vmm_state {
    VMM_STATE_SHUTOFF,  /* Defined, no process or domain running. */
    VMM_STATE_RUNNING,  /* Guest CPUs run. */
    VMM_STATE_PAUSED,   /* Process up, CPUs stopped (incoming migration,
                         * or the end of an outgoing one). */
    VMM_STATE_SHUTDOWN, /* An ACPI power-down is in progress. */
    VMM_STATE_CRASHED,  /* The process died without being asked to, or
                         * the guest panicked. */
};

const char *vmm_state_name(enum vmm_state);

/* A VM's status and resource use. */
struct vmm_status {
    enum vmm_state state;
    int pid;              /* Hypervisor process, or 0. */
    uint64_t cpu_time_ns; /* vCPU time used since it started. */
    uint64_t memory_kb;   /* Resident memory of the process. */
    uint64_t started_at;  /* Wall clock seconds it started, or 0. */
};

/* Progress of an outgoing or incoming live migration. */
struct vmm_migration {
    bool active;          /* Still copying (pre-switchover included). */
    bool pre_switchover;  /* The source paused before its last state, as
                           * asked by 'pause_before_switchover': it waits
                           * for vmm_migrate_continue(). */
    bool completed;       /* Done: the destination runs the VM. */
    bool failed;          /* Ended in error or cancelled ('error' says
                           * why). */
    char status[32];      /* QEMU's word for it ("none", "setup",
                           * "active", "pre-switchover", "device",
                           * "completed", "failed", "cancelled"...). */
    uint64_t transferred; /* Bytes of memory sent so far. */
    uint64_t remaining;   /* Bytes left in this pass. */
    uint64_t total;       /* Guest memory, bytes. */
    uint64_t downtime_ms; /* Expected or, once completed, actual. */
    uint64_t total_ms;    /* Time since it started or, once completed,
                           * the time it took; 0 where unknown (the
                           * destination). */
    char error[256];      /* Why it failed, or "". */
};

/* How the source sends a live migration (vmm_migrate_set()). */
struct vmm_migrate_params {
    bool auto_converge;           /* Throttle a guest that dirties memory
                                   * faster than it is sent. */
    bool pause_before_switchover; /* Stop in "pre-switchover" with the
                                   * guest paused and its last state not
                                   * sent, until vmm_migrate_continue(). */
    uint64_t downtime_ms;         /* Longest pause allowed at the end,
                                   * 1..VMM_DOWNTIME_MAX_MS; 0 keeps
                                   * QEMU's default (300). */
    uint64_t max_bandwidth;       /* Bytes a second, 0 for no limit. */
};

#define VMM_DOWNTIME_MAX_MS 2000000 /* QEMU's own bound. */

struct vmm;

/* Settings a driver is opened with. */
struct vmm_options {
    const char *type;     /* "qemu" (default when NULL) or "libvirt". */
    const char *run_dir;  /* Where the driver keeps its per-VM files
                           * (QMP sockets, pidfiles, console logs). */
    const char *uri;      /* libvirt: connection URI, NULL for
                           * "qemu:///system". */
    const char *instance; /* libvirt: names this driver's domains
                           * ("INSTANCE-NAME") apart from other
                           * instances' on one libvirtd; a-z, 0-9 and
                           * "-", NULL for "fabric". */
    const char *qemu;     /* qemu: the binary, NULL for
                           * "qemu-system-x86_64" from $PATH. */
};

/* Opens a driver.  EAFNOSUPPORT for an unknown type; ENOENT when the
 * hypervisor is not there (no QEMU binary, no libvirtd socket). */
int vmm_open(const struct vmm_options *, struct vmm **);
void vmm_close(struct vmm *); /* Leaves every VM running.  NULL: no-op. */
const char *vmm_type(const struct vmm *);

/* Defines and starts VM 'spec' ('spec' is copied).  EEXIST if a VM of that
 * name runs already. */
int vmm_start(struct vmm *, const struct vmm_spec *);

/* Asks the guest to power off (ACPI), then forces it off if it has not
 * after 'timeout' seconds (0: force at once).  Blocks until it is off.
 * ENOENT if there is no such VM. */
int vmm_stop(struct vmm *, const char *name, int timeout);

/* Resets the guest (as the reset button). */
int vmm_reboot(struct vmm *, const char *name);

/* Forces the VM off, if it runs, and forgets everything the driver kept
 * about it (not its disk or seed, which the caller owns). */
int vmm_destroy(struct vmm *, const char *name);

/* Fills in '*status' of VM 'name'.  ENOENT if the driver knows no such VM. */
int vmm_status(struct vmm *, const char *name, struct vmm_status *);

/* Calls 'cb' with the name of every VM the driver finds (running or
 * defined), e.g. after an agent restart. */
typedef void vmm_list_cb(const char *name, void *aux);
int vmm_list(struct vmm *, vmm_list_cb *, void *aux);

/* The last 'max' bytes (at most) of VM 'name''s serial console, in a
 * malloc'd NUL-terminated '*text'. */
int vmm_console(struct vmm *, const char *name, size_t max, char **text);

/* Live migration hooks (doc/mobility.md).  The destination starts the VM
 * with 'incoming' set, then vmm_migrate_in() makes it listen on 'uri'
 * ("tcp:ADDR:PORT"); the source's vmm_migrate_set() says how, its
 * vmm_migrate_out() sends it there; vmm_migration() reports progress on
 * either side.  The libvirt driver takes none of them (EOPNOTSUPP). */
int vmm_migrate_in(struct vmm *, const char *name, const char *uri);
int vmm_migrate_out(struct vmm *, const char *name, const char *uri);
int vmm_migration(struct vmm *, const char *name, struct vmm_migration *);

/* Sets how the source VM 'name' migrates ('params'), before
 * vmm_migrate_out().  QEMU's migration events are turned on as well, so
 * that its log tells each change of status. */
int vmm_migrate_set(struct vmm *, const char *name,
                    const struct vmm_migrate_params *params);

/* Lets a migration waiting in "pre-switchover" go on: the source sends
 * the guest's last state and the destination runs it.  EIO (QEMU's
 * refusal, logged) if it does not wait there. */
int vmm_migrate_continue(struct vmm *, const char *name);

/* Cancels the outgoing migration of VM 'name', if one runs; the source
 * guest then runs on (QEMU resumes it, even from "pre-switchover").  0 as
 * well when none runs. */
int vmm_migrate_cancel(struct vmm *, const char *name);

/* Disks and seeds, which do not depend on the driver. */

/* Creates 'path' as a qcow2 overlay backed by image 'base' (qcow2 or raw,
 * as qemu-img detects), of 'size_gb' GiB (0: the image's size).  EEXIST if
 * 'path' exists (a disk is never overwritten); EINVAL if 'size_gb' is below
 * the image's size. */
int vmm_disk_create(const char *path, const char *base, uint64_t size_gb);

/* What a NoCloud seed carries. */
struct vmm_seed {
    const char *instance_id;     /* The VM's UUID. */
    const char *hostname;        /* Its hostname. */
    const char *const *ssh_keys; /* Authorized keys, NULL-terminated, or
                                  * NULL. */
    const char *user_data;       /* "#cloud-config..." or a script, or NULL. */
};

/* Writes a NoCloud seed (an ISO 9660 image labelled "cidata" with
 * meta-data and user-data) to 'path', replacing it. */
int vmm_seed_create(const char *path, const struct vmm_seed *);

#endif /* vmm-glue/vmm.h */
