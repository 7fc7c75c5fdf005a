#include "agent/vms.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <arpa/inet.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "agent/state.h"
#include "datapath/netlink.h"
#include "utils/log.h"
#include "utils/util.h"
#include "vmm-glue/vmm.h"

/* The longest instance name libvirt's driver takes. */
#define VMS_INSTANCE_MAX 64

/* What is being done to a VM, in a thread of its own. */
enum vm_op {
    OP_NONE,        /* Nothing. */
    OP_START,       /* Make its disk and seed, and start it. */
    OP_STOP,        /* Power it off (ACPI, then forced). */
    OP_REBOOT,      /* Reset it. */
    OP_REMOVE,      /* Power it off, destroy it, remove its taps and files
                     * (but never those of a VM another host runs on). */
    OP_MIGRATE_IN,  /* Start it waiting for a live migration, and listen. */
    OP_MIGRATE_OUT, /* Send it live to another host (doc/mobility.md). */
    OP_FENCE,       /* Force it off at once (its host lost its HA lease). */
};

/* The states a VM is reported in (doc/vms.md), by struct vms_counts
 * index. */
enum vm_state {
    VM_STARTING,
    VM_RUNNING,
    VM_STOPPING,
    VM_STOPPED,
    VM_FAILED,
    VM_INCOMING,
    VM_N_STATES
};

static const char *const state_names[VM_N_STATES] = {
    "starting", "running", "stopping", "stopped", "failed", "incoming"};

/* What the agent keeps about a VM it started, in a file of its own under
 * the run directory, so that a restarted agent can still remove it. */
struct vm_record {
    char uuid[37];               /* Its UUID. */
    char *disk;                  /* Its disk, an absolute path. */
    char *seed;                  /* Its seed, or NULL. */
    char *devices[VMM_NICS_MAX]; /* Its taps. */
    size_t n_devices;            /* Number of 'devices'. */
    uint64_t boot;               /* The reboots done (the guest was reset
                                  * up to this value of "boot"). */
};

/* What the document wants of a VM. */
struct vm_want {
    struct vmm_spec spec;     /* How to start it. */
    char *image;              /* The image its disk overlays, absolute. */
    uint64_t disk_gb;         /* The disk's size, 0 for the image's. */
    char *hostname;           /* The seed's. */
    char **ssh_keys;          /* The seed's, NULL-terminated. */
    char *user_data;          /* The seed's, or NULL. */
    bool running;             /* Its power. */
    uint64_t boot;            /* Reboots asked for. */
    char *incoming_id;        /* Migrating in: the migration's id, or NULL. */
    char *migrate_id;         /* Migrating out: the migration's id, or NULL;
                               * then the rest of the "migrate": */
    char *migrate_uri;        /* Where to send it. */
    char *migrate_to;         /* The destination host's name... */
    uint32_t migrate_to_vtep; /* ...and its VTEP, network order. */
    struct vmm_migrate_params migrate_params; /* How. */
    bool ha; /* "ha" "restart": runs only under a lease. */
};

/* The last live migration of a VM, in or out, as it is reported. */
struct vm_migration {
    char *id;              /* Its id, or NULL if there was none. */
    bool source;           /* This host sends the VM (else receives). */
    bool ended;            /* Completed or failed: nothing more is done
                            * for this id. */
    char status[32];       /* "listening" (destination), QEMU's word,
                            * "completed" or "failed". */
    char *uri;             /* Where the destination listens, or NULL. */
    uint64_t transferred;  /* Bytes sent so far... */
    uint64_t remaining;    /* ...left in this pass... */
    uint64_t total;        /* ...of the guest's memory. */
    uint64_t downtime_ms;  /* QEMU's downtime, once completed. */
    uint64_t total_ms;     /* QEMU's total time, once completed. */
    bool activated;        /* Destination: the VM's first frame came. */
    uint64_t completed_ms; /* Destination: when QEMU was first seen done
                            * (now_ms()), or 0. */
    bool not_run_logged;   /* Destination: that QEMU does not run it was
                            * logged. */
    char *error;           /* Why it failed, or NULL. */
    char *ct_error;        /* Why its conntrack did not move, or NULL. */
};

/* One VM the agent knows of. */
struct vm {
    char *name;               /* Its name, which never changes. */
    bool wanted;              /* In the desired state: 'want' is set. */
    bool held;                /* Left out of the desired state by a
                               * mistake in it: left as it is. */
    struct vm_want want;      /* What the desired state says. */
    char *waiting_for;        /* A NIC's tap that is not a port yet, or
                               * NULL. */
    bool recorded;            /* 'record' is set and on disk. */
    struct vm_record record;  /* What the agent keeps about it. */
    bool known;               /* The driver knows it: 'status' is set. */
    struct vmm_status status; /* What the driver says of it. */
    bool told_foreign;        /* Logged that it is not ours to remove. */
    enum vm_op op;            /* What a thread does to it, or OP_NONE. */
    pthread_t thread;         /* That thread. */
    char *failure;            /* Why it could not be started, or NULL. */
    uint64_t retry_ms;        /* The delay before the next start after a
                               * failure. */
    uint64_t retry_at;        /* When that is, monotonic ms. */
    uint64_t up_since;        /* When it was last seen going up, or 0. */
    bool moved;               /* Left the desired state while listed in
                               * its "moved_vms" with its record's UUID:
                               * it runs on another host now, which owns
                               * its disk and seed.  Kept until it goes,
                               * even once the listing does. */
    bool gone;                /* Removed: the monitor drops it. */
    bool was_incoming;        /* The last desired state that had it had it
                               * migrating in. */
    struct vm_migration mig;  /* Its last live migration. */
};

struct vms {
    struct vmm *vmm;      /* The driver. */
    char *storage;        /* The storage directory. */
    char *records;        /* Where the records are. */
    enum vmm_accel accel; /* How VMs run here... */
    char *accel_reason;   /* ...and why... */
    bool accel_known;     /* ...once this is set. */
    char *probe_cache;    /* Where the KVM probe keeps its answer. */
    pthread_t monitor;    /* The monitor thread. */
    bool started;         /* Whether it runs. */

    pthread_mutex_t mutex; /* Protects what follows. */
    pthread_cond_t cond;   /* Wakes the monitor. */
    bool stopping;         /* vms_close() was called. */
    struct vm **vms;       /* The VMs known, by pointer: only the
                            * monitor frees one. */
    size_t n_vms;          /* Number of 'vms'. */
    size_t n_ops;          /* Operation threads running. */
    uint64_t changes;      /* Grows when a VM's state may have. */
    bool have_desired;     /* vms_update() was called: until then
                            * nothing is decided, so that a restarted
                            * agent never takes its VMs for ones that
                            * left the desired state. */
    uint32_t vtep;         /* This host's VTEP, where incoming migrations
                            * listen (network order). */
    struct vms_migration_hooks hooks; /* What a migration asks of the
                                       * rest of the agent. */
    void *hooks_aux;                  /* Their argument. */
    enum lease_action ha; /* What the HA lease allows for the VMs with
                           * "ha" "restart" (vms_set_ha()). */
};

static uint64_t
now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000ULL + ts.tv_nsec / 1000000;
}

/* Taps. */

/* Opens tap 'device', creating it if it does not exist, and makes it
 * persistent or not ('persist'), for 'what' VM 'vm' needs ("make",
 * "remove").  Returns 0 or an errno value after logging why. */
static int
tap_set_persist(const char *vm, const char *device, bool persist,
                const char *what)
{
    struct ifreq ifr;
    int fd, error = 0;

    fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        error = errno;
        LOG_ERR("VM \"%s\": cannot %s tap \"%s\": /dev/net/tun: %s", vm, what,
                device, strerror(error));
        return error;
    }
    memset(&ifr, 0, sizeof ifr);
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
    snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", device);
    if (ioctl(fd, TUNSETIFF, &ifr) < 0
        || ioctl(fd, TUNSETPERSIST, persist ? 1 : 0) < 0) {
        error = errno;
        LOG_ERR("VM \"%s\": cannot %s tap \"%s\": %s%s", vm, what, device,
                strerror(error),
                error == EBUSY ? " (is a process still using it?)" : "");
    } else {
        LOG_INFO("VM \"%s\": %s tap \"%s\": done", vm, what, device);
    }
    close(fd);
    return error;
}

/* Makes 'device' a persistent tap, unless it exists.  Returns 0 or an
 * errno value after logging why. */
static int
tap_create(const char *vm, const char *device)
{
    struct nl_link link;
    int error;

    error = nl_link_get(device, &link);
    if (!error) {
        if (strcmp(link.kind, "tun")) {
            LOG_ERR("VM \"%s\": device \"%s\" exists and is not a tap (it is "
                    "a %s); remove it or give the port another device",
                    vm, device, link.kind[0] ? link.kind : "physical device");
            return EEXIST;
        }
        return 0;
    } else if (error != ENODEV) {
        LOG_ERR("VM \"%s\": tap \"%s\": lookup failed: %s", vm, device,
                strerror(error));
        return error;
    }
    return tap_set_persist(vm, device, true, "make");
}

/* Removes the persistent tap 'device', if it is one.  Returns 0 or an
 * errno value after logging why. */
static int
tap_remove(const char *vm, const char *device)
{
    struct nl_link link;

    if (nl_link_get(device, &link) || strcmp(link.kind, "tun")) {
        return 0;
    }
    return tap_set_persist(vm, device, false, "remove");
}

/* Records. */

static void
record_clear(struct vm_record *r)
{
    free(r->disk);
    free(r->seed);
    for (size_t i = 0; i < r->n_devices; i++) {
        free(r->devices[i]);
    }
    memset(r, 0, sizeof *r);
}

static char *
record_path(const struct vms *vms, const char *name)
{
    return xasprintf("%s/%s.json", vms->records, name);
}

/* Writes the record of 'vm'.  Returns 0 or an errno value. */
static int
record_write(const struct vms *vms, const char *name,
             const struct vm_record *r)
{
    json_t *devices = json_array();
    char *path = record_path(vms, name);
    json_t *j;
    char *text;
    int error;

    for (size_t i = 0; i < r->n_devices; i++) {
        json_array_append_new(devices, json_string(r->devices[i]));
    }
    j = json_pack("{sssssososI}", "uuid", r->uuid, "disk", r->disk, "seed",
                  r->seed ? json_string(r->seed) : json_null(), "devices",
                  devices, "boot", (json_int_t) r->boot);
    text = json_dumps(j, JSON_COMPACT);
    error = write_file_atomic(path, text, strlen(text));
    if (error) {
        LOG_ERR("VM \"%s\": cannot write its record %s: %s", name, path,
                strerror(error));
    }
    free(text);
    json_decref(j);
    free(path);
    return error;
}

/* Reads the record at 'path' into 'r'.  Returns true if it is one. */
static bool
record_read(const char *path, struct vm_record *r)
{
    const char *uuid, *disk;
    const json_t *devices, *d, *seed, *boot;
    json_t *j = json_load_file(path, 0, NULL);
    size_t i;

    memset(r, 0, sizeof *r);
    uuid = json_string_value(json_object_get(j, "uuid"));
    disk = json_string_value(json_object_get(j, "disk"));
    seed = json_object_get(j, "seed");
    devices = json_object_get(j, "devices");
    boot = json_object_get(j, "boot");
    if (!uuid || strlen(uuid) != 36 || !disk || disk[0] != '/'
        || !json_is_array(devices) || json_array_size(devices) > VMM_NICS_MAX
        || !json_is_integer(boot)
        || (!json_is_null(seed) && !json_is_string(seed))) {
        json_decref(j);
        return false;
    }
    memcpy(r->uuid, uuid, 37);
    r->disk = xstrdup(disk);
    r->seed = json_is_string(seed) ? xstrdup(json_string_value(seed)) : NULL;
    r->boot = json_integer_value(boot);
    json_array_foreach(devices, i, d)
    {
        if (json_is_string(d)) {
            r->devices[r->n_devices++] = xstrdup(json_string_value(d));
        }
    }
    json_decref(j);
    return true;
}

/* The desired state. */

static void
want_clear(struct vm_want *w)
{
    vmm_spec_destroy(&w->spec);
    free(w->image);
    free(w->hostname);
    for (size_t i = 0; w->ssh_keys && w->ssh_keys[i]; i++) {
        free(w->ssh_keys[i]);
    }
    free(w->ssh_keys);
    free(w->user_data);
    free(w->incoming_id);
    free(w->migrate_id);
    free(w->migrate_uri);
    free(w->migrate_to);
    memset(w, 0, sizeof *w);
}

/* Returns the absolute path of 'file' of the storage. */
static char *
storage_path(const struct vms *vms, const char *file)
{
    return xasprintf("%s/%s", vms->storage, file);
}

/* Fills 'w' with what 'v' of the desired state says. */
static void
want_from_state(const struct vms *vms, const struct state_vm *v,
                struct vm_want *w)
{
    memset(w, 0, sizeof *w);
    w->spec.name = xstrdup(v->name);
    memcpy(w->spec.uuid, v->uuid, sizeof w->spec.uuid);
    w->spec.vcpus = v->vcpus;
    w->spec.memory_mb = v->memory_mb;
    w->spec.disk = storage_path(vms, v->disk);
    w->spec.seed = v->seed ? storage_path(vms, v->seed) : NULL;
    for (size_t i = 0; i < v->n_nics && i < VMM_NICS_MAX; i++) {
        w->spec.nics[i].device = xstrdup(v->nics[i].device);
        memcpy(w->spec.nics[i].mac, v->nics[i].mac, 6);
        w->spec.nics[i].mtu = v->nics[i].mtu;
    }
    w->spec.n_nics = v->n_nics;
    w->image = storage_path(vms, v->image);
    w->disk_gb = v->disk_gb;
    w->hostname = xstrdup(v->hostname ? v->hostname : v->name);
    w->ssh_keys = xcalloc(v->n_ssh_keys + 1, sizeof *w->ssh_keys);
    for (size_t i = 0; i < v->n_ssh_keys; i++) {
        w->ssh_keys[i] = xstrdup(v->ssh_keys[i]);
    }
    w->user_data = v->user_data ? xstrdup(v->user_data) : NULL;
    w->running = v->running;
    w->ha = v->ha;
    w->boot = v->boot;
    w->incoming_id = v->incoming ? xstrdup(v->incoming->id) : NULL;
    if (v->migrate) {
        w->migrate_id = xstrdup(v->migrate->id);
        w->migrate_uri = xstrdup(v->migrate->uri);
        w->migrate_to = xstrdup(v->migrate->to);
        w->migrate_to_vtep = v->migrate->to_vtep;
        w->migrate_params = (struct vmm_migrate_params){
            .auto_converge = v->migrate->auto_converge,
            .pause_before_switchover = true,
            .downtime_ms = v->migrate->downtime_ms,
            .max_bandwidth =
                (uint64_t) v->migrate->max_bandwidth_mbps * 1000000 / 8,
        };
    }
}

/* Fills 'r' (empty) with the record of a VM started as 'w'. */
static void
record_from_want(const struct vm_want *w, struct vm_record *r)
{
    memcpy(r->uuid, w->spec.uuid, sizeof r->uuid);
    r->disk = xstrdup(w->spec.disk);
    r->seed = w->spec.seed ? xstrdup(w->spec.seed) : NULL;
    for (size_t i = 0; i < w->spec.n_nics; i++) {
        r->devices[r->n_devices++] = xstrdup(w->spec.nics[i].device);
    }
    r->boot = w->boot;
}

static void
want_copy(const struct vm_want *src, struct vm_want *dst)
{
    size_t n = 0;

    memset(dst, 0, sizeof *dst);
    dst->spec = src->spec;
    dst->spec.name = xstrdup(src->spec.name);
    dst->spec.disk = xstrdup(src->spec.disk);
    dst->spec.seed = src->spec.seed ? xstrdup(src->spec.seed) : NULL;
    for (size_t i = 0; i < src->spec.n_nics; i++) {
        dst->spec.nics[i].device = xstrdup(src->spec.nics[i].device);
    }
    dst->image = xstrdup(src->image);
    dst->disk_gb = src->disk_gb;
    dst->hostname = xstrdup(src->hostname);
    while (src->ssh_keys[n]) {
        n++;
    }
    dst->ssh_keys = xcalloc(n + 1, sizeof *dst->ssh_keys);
    for (size_t i = 0; i < n; i++) {
        dst->ssh_keys[i] = xstrdup(src->ssh_keys[i]);
    }
    dst->user_data = src->user_data ? xstrdup(src->user_data) : NULL;
    dst->running = src->running;
    dst->boot = src->boot;
    dst->incoming_id = src->incoming_id ? xstrdup(src->incoming_id) : NULL;
    dst->migrate_id = src->migrate_id ? xstrdup(src->migrate_id) : NULL;
    dst->migrate_uri = src->migrate_uri ? xstrdup(src->migrate_uri) : NULL;
    dst->migrate_to = src->migrate_to ? xstrdup(src->migrate_to) : NULL;
    dst->migrate_to_vtep = src->migrate_to_vtep;
    dst->migrate_params = src->migrate_params;
}

/* Migrations. */

static void
mig_clear(struct vm_migration *m)
{
    free(m->id);
    free(m->uri);
    free(m->error);
    free(m->ct_error);
    memset(m, 0, sizeof *m);
}

/* Makes 'm' the start of migration 'id', 'source' or destination. */
static void
mig_begin(struct vm_migration *m, const char *id, bool source,
          const char *status)
{
    mig_clear(m);
    m->id = xstrdup(id);
    m->source = source;
    snprintf(m->status, sizeof m->status, "%s", status);
}

/* Ends 'm' in failure because of 'error' (a new string, taken). */
static void
mig_fail(struct vm_migration *m, char *error)
{
    free(m->error);
    m->error = error;
    m->ended = true;
    snprintf(m->status, sizeof m->status, "failed");
}

/* Ends migration 'm' of VM 'name' in failure because of 'error' (a new
 * string, taken), and logs it. */
static void
mig_fail_log(struct vm_migration *m, const char *name, char *error)
{
    LOG_WARN("VM \"%s\": migration %s failed here: %s", name, m->id, error);
    mig_fail(m, error);
}

/* Whether 'm' is migration 'id' (NULL: none). */
static bool
mig_is(const struct vm_migration *m, const char *id)
{
    return id && m->id && !strcmp(m->id, id);
}

/* Something a migration did must reach the controller now, not at the
 * next periodic report.  The caller holds the mutex. */
static void
vms_notify(struct vms *vms)
{
    vms->changes++;
    if (vms->hooks.notify) {
        vms->hooks.notify(vms->hooks_aux);
    }
}

/* The VMs. */

/* Returns the VM named 'name', or NULL.  The caller holds the mutex. */
static struct vm *
vms_find(const struct vms *vms, const char *name)
{
    for (size_t i = 0; i < vms->n_vms; i++) {
        if (!strcmp(vms->vms[i]->name, name)) {
            return vms->vms[i];
        }
    }
    return NULL;
}

/* Returns the VM named 'name', added if it is new.  The caller holds the
 * mutex. */
static struct vm *
vms_get(struct vms *vms, const char *name)
{
    struct vm *vm = vms_find(vms, name);

    if (!vm) {
        vm = xzalloc(sizeof *vm);
        vm->name = xstrdup(name);
        vms->vms = xrealloc(vms->vms, (vms->n_vms + 1) * sizeof *vms->vms);
        vms->vms[vms->n_vms++] = vm;
    }
    return vm;
}

static void
vm_free(struct vm *vm)
{
    free(vm->name);
    mig_clear(&vm->mig);
    want_clear(&vm->want);
    record_clear(&vm->record);
    free(vm->waiting_for);
    free(vm->failure);
    free(vm);
}

/* Operations, each in a thread of its own. */

/* What an operation thread works on: copies, so that the desired state
 * may change meanwhile. */
struct op_ctx {
    struct vms *vms;         /* The VMs. */
    struct vm *vm;           /* The VM: only its 'name' is read outside
                              * the mutex. */
    enum vm_op op;           /* What to do. */
    struct vm_want want;     /* OP_START, OP_REBOOT: the desired state. */
    struct vm_record record; /* OP_REMOVE: what to remove. */
    bool known;              /* OP_REMOVE: whether the driver knows it. */
    bool keep_files;         /* OP_REMOVE: leave its disk and seed, which
                              * another host runs on. */
    uint32_t vtep;           /* OP_MIGRATE_IN: where to listen. */
};

/* Makes the disk and the seed of 'w', if missing.  Returns NULL or why it
 * could not (the caller frees it). */
static char *
op_make_files(struct vms *vms, const struct vm_want *w)
{
    const char *name = w->spec.name;
    struct vmm_seed seed;
    char *dir;
    int error;

    dir = xasprintf("%s/%s", vms->storage, STATE_VM_DIR);
    if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
        error = errno;
        free(dir);
        return xasprintf("cannot make the directory %s%s: %s", vms->storage,
                         "/" STATE_VM_DIR, strerror(error));
    }
    free(dir);
    if (access(w->spec.disk, F_OK) < 0) {
        error = vmm_disk_create(w->spec.disk, w->image, w->disk_gb);
        if (error) {
            return xasprintf("cannot make its disk %s from image %s: %s",
                             w->spec.disk, w->image, strerror(error));
        }
        LOG_INFO("VM \"%s\": made its disk %s, an overlay of %s", name,
                 w->spec.disk, w->image);
    }
    if (w->spec.seed && access(w->spec.seed, F_OK) < 0) {
        seed = (struct vmm_seed){
            .instance_id = w->spec.uuid,
            .hostname = w->hostname,
            .ssh_keys = (const char *const *) w->ssh_keys,
            .user_data = w->user_data,
        };
        error = vmm_seed_create(w->spec.seed, &seed);
        if (error) {
            return xasprintf("cannot make its seed %s: %s", w->spec.seed,
                             strerror(error));
        }
        LOG_INFO("VM \"%s\": made its seed %s", name, w->spec.seed);
    }
    return NULL;
}

/* Writes the record of the VM of 'ctx' and makes its taps, before it
 * starts.  Returns NULL or why it failed (the caller frees it). */
static char *
op_prepare(struct op_ctx *ctx)
{
    struct vms *vms = ctx->vms;
    const struct vm_want *w = &ctx->want;
    const char *name = w->spec.name;
    struct vm_record r;
    int error;

    memset(&r, 0, sizeof r);
    /* The record comes first: whatever happens next, a later agent can
     * remove what this one made. */
    record_from_want(w, &r);
    error = record_write(vms, name, &r);
    record_clear(&r);
    if (error) {
        return xasprintf("cannot write its record under %s: %s", vms->records,
                         strerror(error));
    }
    pthread_mutex_lock(&vms->mutex);
    record_clear(&ctx->vm->record);
    record_from_want(w, &ctx->vm->record);
    ctx->vm->recorded = true;
    pthread_mutex_unlock(&vms->mutex);

    for (size_t i = 0; i < w->spec.n_nics; i++) {
        error = tap_create(name, w->spec.nics[i].device);
        if (error) {
            return xasprintf("cannot make tap \"%s\": %s",
                             w->spec.nics[i].device, strerror(error));
        }
    }
    return NULL;
}

/* OP_START.  Returns NULL or why it failed (the caller frees it). */
static char *
op_start(struct op_ctx *ctx)
{
    struct vms *vms = ctx->vms;
    const struct vm_want *w = &ctx->want;
    const char *name = w->spec.name;
    char *problem;
    int error;

    problem = op_prepare(ctx);
    if (!problem) {
        problem = op_make_files(vms, w);
    }
    if (problem) {
        return problem;
    }
    error = vmm_start(vms->vmm, &w->spec);
    if (error == EEXIST) {
        LOG_INFO("VM \"%s\": already running", name);
    } else if (error) {
        return xasprintf("the %s driver could not start it: %s (the agent's "
                         "log has more)",
                         vmm_type(vms->vmm), strerror(error));
    } else {
        LOG_INFO("VM \"%s\": started (%" PRIu32 " vCPU, %" PRIu64 " MiB, %zu "
                 "NIC%s, %s)",
                 name, w->spec.vcpus, w->spec.memory_mb, w->spec.n_nics,
                 w->spec.n_nics == 1 ? "" : "s",
                 vmm_accel_name(w->spec.accel));
    }
    return NULL;
}

/* OP_REMOVE.  Returns NULL or why it failed (the caller frees it). */
static char *
op_remove(struct op_ctx *ctx)
{
    struct vms *vms = ctx->vms;
    const char *name = ctx->vm->name;
    const struct vm_record *r = &ctx->record;
    char *path;
    int error;

    if (ctx->known) {
        error = vmm_stop(vms->vmm, name, VMM_STOP_TIMEOUT);
        if (error && error != ENOENT) {
            LOG_WARN("VM \"%s\": stopping it: %s; destroying it anyway", name,
                     strerror(error));
        }
        error = vmm_destroy(vms->vmm, name);
        if (error && error != ENOENT) {
            return xasprintf("the %s driver could not destroy it: %s",
                             vmm_type(vms->vmm), strerror(error));
        }
    }
    for (size_t i = 0; i < r->n_devices; i++) {
        error = tap_remove(name, r->devices[i]);
        if (error) {
            return xasprintf("cannot remove tap \"%s\": %s", r->devices[i],
                             strerror(error));
        }
    }
    if (!ctx->keep_files && unlink(r->disk) < 0 && errno != ENOENT) {
        return xasprintf("cannot remove its disk %s: %s", r->disk,
                         strerror(errno));
    }
    if (!ctx->keep_files && r->seed && unlink(r->seed) < 0
        && errno != ENOENT) {
        return xasprintf("cannot remove its seed %s: %s", r->seed,
                         strerror(errno));
    }
    path = record_path(vms, name);
    if (unlink(path) < 0 && errno != ENOENT) {
        LOG_WARN("VM \"%s\": cannot remove its record %s: %s", name, path,
                 strerror(errno));
    }
    free(path);
    if (ctx->keep_files) {
        LOG_INFO("VM \"%s\": removed here (its QEMU, taps); its disk %s "
                 "stays, another host runs on it",
                 name, r->disk);
    } else {
        LOG_INFO("VM \"%s\": removed (its QEMU, taps, disk and seed)", name);
    }
    return NULL;
}

/* Picks a TCP port free on 'vtep' for an incoming migration to listen on,
 * and stores "tcp:VTEP:PORT" in '*uri'.  Returns 0 or an errno value. */
static int
free_port_uri(uint32_t vtep, char **uri)
{
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = vtep};
    socklen_t len = sizeof sin;
    char addr[INET_ADDRSTRLEN];
    int fd, error = 0;

    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return errno;
    }
    if (bind(fd, (struct sockaddr *) &sin, sizeof sin) < 0
        || getsockname(fd, (struct sockaddr *) &sin, &len) < 0) {
        error = errno;
    }
    close(fd);
    if (!error) {
        inet_ntop(AF_INET, &vtep, addr, sizeof addr);
        *uri = xasprintf("tcp:%s:%u", addr, ntohs(sin.sin_port));
    }
    return error;
}

/* OP_MIGRATE_IN: the destination's side of phase 1 (doc/mobility.md).
 * Starts the VM paused, waiting for its state, and makes it listen on a
 * free port of this host's VTEP address.  Its disk and seed are the
 * source's, on the shared storage: never made here.  Returns NULL or why
 * it failed (the caller frees it). */
static char *
op_migrate_in(struct op_ctx *ctx)
{
    struct vms *vms = ctx->vms;
    struct vm_want *w = &ctx->want;
    const char *name = w->spec.name;
    char *problem, *uri = NULL;
    int error;

    problem = op_prepare(ctx);
    if (problem) {
        return problem;
    }
    w->spec.incoming = true;
    error = vmm_start(vms->vmm, &w->spec);
    if (error) {
        return xasprintf("the %s driver could not start it for the incoming "
                         "migration: %s (the agent's log has more)",
                         vmm_type(vms->vmm), strerror(error));
    }
    error = free_port_uri(ctx->vtep, &uri);
    if (error) {
        return xasprintf("no free TCP port on the VTEP address to receive "
                         "it on: %s",
                         strerror(error));
    }
    error = vmm_migrate_in(vms->vmm, name, uri);
    if (error) {
        free(uri);
        return xasprintf("QEMU does not listen for it: %s", strerror(error));
    }
    LOG_INFO("VM \"%s\": migration %s: waiting for it on %s", name,
             w->incoming_id, uri);
    pthread_mutex_lock(&vms->mutex);
    if (mig_is(&ctx->vm->mig, w->incoming_id)) {
        free(ctx->vm->mig.uri);
        ctx->vm->mig.uri = uri;
        uri = NULL;
        snprintf(ctx->vm->mig.status, sizeof ctx->vm->mig.status, "listening");
    }
    pthread_mutex_unlock(&vms->mutex);
    free(uri);
    return NULL;
}

/* Copies QEMU's progress 'm' into 'mig'.  Returns true if its status
 * changed.  The caller holds the mutex. */
static bool
mig_update(struct vm_migration *mig, const struct vmm_migration *m)
{
    bool changed = strcmp(mig->status, m->status) != 0;

    snprintf(mig->status, sizeof mig->status, "%s", m->status);
    mig->transferred = m->transferred;
    mig->remaining = m->remaining;
    mig->total = m->total;
    if (m->completed) {
        mig->downtime_ms = m->downtime_ms;
        mig->total_ms = m->total_ms;
        mig->ended = true;
    } else if (m->failed) {
        free(mig->error);
        mig->error = xstrdup(m->error[0] ? m->error : m->status);
        mig->ended = true;
    }
    return changed;
}

/* OP_MIGRATE_OUT: the source's side (doc/mobility.md, phases 2 to 4).  Sets
 * QEMU's capabilities and parameters and sends the VM, reporting progress
 * every second and each change of status at once.  At "pre-switchover"
 * (the guest paused, its last state not sent) the network moves first
 * (the hooks' switch_over: FDB forward to the destination, conntrack
 * handed over), then QEMU goes on.  A migration that fails, or that the
 * desired state takes back (cancelled), leaves the VM running here with
 * the network as it was.  Returns NULL or why it failed (the caller frees
 * it). */
static char *
op_migrate_out(struct op_ctx *ctx)
{
    struct vms *vms = ctx->vms;
    struct vm *vm = ctx->vm;
    const struct vm_want *w = &ctx->want;
    const char *name = w->spec.name, *id = w->migrate_id;
    struct vms_migration_hooks hooks;
    void *aux;
    bool switched = false, cancelled = false;
    int settling = 0;
    uint64_t last_report = now_ms();
    struct vmm_migration m;
    char *problem = NULL;
    int error;

    pthread_mutex_lock(&vms->mutex);
    hooks = vms->hooks;
    aux = vms->hooks_aux;
    pthread_mutex_unlock(&vms->mutex);

    error = vmm_migrate_set(vms->vmm, name, &w->migrate_params);
    if (!error) {
        error = vmm_migrate_out(vms->vmm, name, w->migrate_uri);
    }
    if (error) {
        return xasprintf("QEMU would not send it to %s: %s (the agent's log "
                         "has more)",
                         w->migrate_uri, strerror(error));
    }
    LOG_INFO("VM \"%s\": migration %s: sending it to %s (%s)", name, id,
             w->migrate_to, w->migrate_uri);
    for (;;) {
        bool wanted, changed;

        /* QEMU waits at "pre-switchover" with the guest paused: the
         * sooner that is seen, the shorter the downtime. */
        usleep(VMS_MIGRATION_POLL_MS * 1000);
        pthread_mutex_lock(&vms->mutex);
        wanted = !vms->stopping && vm->wanted
                 && mig_is(&vm->mig, vm->want.migrate_id);
        pthread_mutex_unlock(&vms->mutex);
        if (!wanted && !cancelled) {
            LOG_INFO("VM \"%s\": migration %s: no longer wanted; "
                     "cancelling it",
                     name, id);
            vmm_migrate_cancel(vms->vmm, name);
            cancelled = true;
        }
        error = vmm_migration(vms->vmm, name, &m);
        if (error) {
            problem = xasprintf("cannot read its progress from QEMU: %s",
                                strerror(error));
            break;
        }
        if (m.pre_switchover && !switched && !cancelled) {
            uint64_t t0 = now_ms();
            char *ct_error = NULL;

            switched = true;
            pthread_mutex_lock(&vms->mutex);
            mig_update(&vm->mig, &m);
            vms_notify(vms);
            pthread_mutex_unlock(&vms->mutex);
            if (hooks.switch_over) {
                ct_error =
                    hooks.switch_over(aux, name, id, w->migrate_to_vtep);
            }
            error = vmm_migrate_continue(vms->vmm, name);
            LOG_INFO("VM \"%s\": migration %s: switch-over: the network "
                     "moved in %" PRIu64 " ms, QEMU goes on",
                     name, id, now_ms() - t0);
            pthread_mutex_lock(&vms->mutex);
            free(vm->mig.ct_error);
            vm->mig.ct_error = ct_error;
            pthread_mutex_unlock(&vms->mutex);
            if (error) {
                vmm_migrate_cancel(vms->vmm, name);
                problem = xasprintf("QEMU would not go on from the "
                                    "switch-over: %s",
                                    strerror(error));
                break;
            }
            continue;
        }
        if (m.completed && !m.total_ms && ++settling < 200) {
            /* QEMU says "completed" a moment before it has computed the
             * downtime and total time. */
            continue;
        }
        pthread_mutex_lock(&vms->mutex);
        changed = mig_update(&vm->mig, &m);
        if (changed || now_ms() - last_report >= VMS_MIGRATION_REPORT_MS) {
            last_report = now_ms();
            vms_notify(vms);
        }
        pthread_mutex_unlock(&vms->mutex);
        if (m.completed || m.failed) {
            break;
        }
    }
    if (problem || !m.completed) {
        if (switched && hooks.revert) {
            hooks.revert(aux, name, id);
        }
        pthread_mutex_lock(&vms->mutex);
        if (problem) {
            mig_fail(&vm->mig, xstrdup(problem));
        }
        LOG_WARN("VM \"%s\": migration %s %s: %s; it runs on here", name, id,
                 cancelled ? "cancelled" : "failed",
                 vm->mig.error ? vm->mig.error : "?");
        pthread_mutex_unlock(&vms->mutex);
        return problem;
    }
    LOG_INFO("VM \"%s\": migration %s completed: %" PRIu64 " ms in all, "
             "downtime %" PRIu64 " ms",
             name, id, m.total_ms, m.downtime_ms);
    return NULL;
}

/* Backs off the next start of 'vm' (VMS_RETRY_MIN_MS, doubling up to
 * VMS_RETRY_MAX_MS).  The caller holds the mutex. */
static void
vms_back_off(struct vm *vm)
{
    vm->retry_ms = vm->retry_ms ? vm->retry_ms * 2 : VMS_RETRY_MIN_MS;
    if (vm->retry_ms > VMS_RETRY_MAX_MS) {
        vm->retry_ms = VMS_RETRY_MAX_MS;
    }
    vm->retry_at = now_ms() + vm->retry_ms;
}

static void *
op_main(void *ctx_)
{
    struct op_ctx *ctx = ctx_;
    struct vms *vms = ctx->vms;
    struct vm *vm = ctx->vm;
    char *problem = NULL;
    int error = 0;

    switch (ctx->op) {
    case OP_START:
        problem = op_start(ctx);
        break;
    case OP_STOP:
        LOG_INFO("VM \"%s\": stopping (ACPI power button, forced after %d s)",
                 vm->name, VMM_STOP_TIMEOUT);
        error = vmm_stop(vms->vmm, vm->name, VMM_STOP_TIMEOUT);
        if (error && error != ENOENT) {
            problem = xasprintf("could not stop it: %s", strerror(error));
        }
        break;
    case OP_REBOOT:
        error = vmm_reboot(vms->vmm, vm->name);
        if (error) {
            problem = xasprintf("could not reset it: %s", strerror(error));
        } else {
            LOG_INFO("VM \"%s\": reset (boot %" PRIu64 ")", vm->name,
                     ctx->want.boot);
        }
        break;
    case OP_REMOVE:
        problem = op_remove(ctx);
        break;
    case OP_MIGRATE_IN:
        problem = op_migrate_in(ctx);
        break;
    case OP_MIGRATE_OUT:
        problem = op_migrate_out(ctx);
        break;
    case OP_FENCE:
        error = vmm_destroy(vms->vmm, vm->name);
        if (error && error != ENOENT) {
            problem = xasprintf("could not force it off to fence this host: "
                                "%s",
                                strerror(error));
        } else {
            LOG_WARN("VM \"%s\": fenced: forced off, as this host holds no "
                     "HA lease and no peer answers its probes (the "
                     "controller restarts it elsewhere; its disk stays)",
                     vm->name);
        }
        break;
    case OP_NONE:
    default:
        break;
    }

    pthread_mutex_lock(&vms->mutex);
    if (problem) {
        LOG_ERR("VM \"%s\": %s", vm->name, problem);
    }
    if (ctx->op == OP_START) {
        free(vm->failure);
        vm->failure = problem;
        problem = NULL;
        if (vm->failure) {
            vms_back_off(vm);
        } else {
            vm->record.boot = ctx->want.boot;
        }
    } else if (ctx->op == OP_REBOOT && !problem) {
        vm->record.boot = ctx->want.boot;
        record_write(vms, vm->name, &vm->record);
    } else if (ctx->op == OP_REMOVE && !problem) {
        vm->recorded = false;
        record_clear(&vm->record);
        vm->known = false;
        vm->gone = true;
    } else if (ctx->op == OP_MIGRATE_IN && problem
               && mig_is(&vm->mig, ctx->want.incoming_id)) {
        mig_fail(&vm->mig, problem);
        problem = NULL;
    } else if (ctx->op == OP_MIGRATE_OUT && problem
               && mig_is(&vm->mig, ctx->want.migrate_id)) {
        mig_fail(&vm->mig, problem);
        problem = NULL;
    }
    if (ctx->op == OP_MIGRATE_IN || ctx->op == OP_MIGRATE_OUT) {
        vms_notify(vms);
    }
    free(problem);
    vm->op = OP_NONE;
    vms->n_ops--;
    vms->changes++;
    pthread_cond_broadcast(&vms->cond);
    pthread_mutex_unlock(&vms->mutex);

    want_clear(&ctx->want);
    record_clear(&ctx->record);
    free(ctx);
    return NULL;
}

/* Starts operation 'op' on 'vm' in a thread of its own.  The caller holds
 * the mutex. */
static void
vms_spawn(struct vms *vms, struct vm *vm, enum vm_op op)
{
    struct op_ctx *ctx = xzalloc(sizeof *ctx);
    pthread_attr_t attr;
    int error;

    ctx->vms = vms;
    ctx->vm = vm;
    ctx->op = op;
    if (vm->wanted) {
        want_copy(&vm->want, &ctx->want);
        ctx->want.spec.accel = vms->accel;
    }
    if (op == OP_REMOVE) {
        struct vm_record *r = &vm->record;

        ctx->record = *r;
        ctx->record.disk = xstrdup(r->disk);
        ctx->record.seed = r->seed ? xstrdup(r->seed) : NULL;
        for (size_t i = 0; i < r->n_devices; i++) {
            ctx->record.devices[i] = xstrdup(r->devices[i]);
        }
        ctx->known = vm->known;
        ctx->keep_files = vm->moved || vm->was_incoming;
    }
    ctx->vtep = vms->vtep;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    error = pthread_create(&vm->thread, &attr, op_main, ctx);
    pthread_attr_destroy(&attr);
    if (error) {
        LOG_ERR("VM \"%s\": cannot start a thread: %s; retrying", vm->name,
                strerror(error));
        want_clear(&ctx->want);
        record_clear(&ctx->record);
        free(ctx);
        return;
    }
    vm->op = op;
    vms->n_ops++;
    vms->changes++;
}

/* Whether the driver's state 'st' is a VM that runs (or is about to). */
static bool
is_up(enum vmm_state st)
{
    return st == VMM_STATE_RUNNING || st == VMM_STATE_PAUSED
           || st == VMM_STATE_SHUTDOWN;
}

/* Decides what to do with 'vm', which the desired state has migrating in
 * or out ('up' says whether its QEMU runs).  Returns true if that was all
 * to decide, false if it is to be treated as any VM.  The caller holds the
 * mutex and 'vm' has no operation running. */
static bool
vms_decide_migration(struct vms *vms, struct vm *vm, bool up)
{
    const char *in = vm->want.incoming_id, *out = vm->want.migrate_id;

    if (in) {
        if (!mig_is(&vm->mig, in) && up) {
            /* An agent restarted during the migration: the QEMU that
             * waits lost the one who knew where it listens. */
            mig_begin(&vm->mig, in, false, "starting");
            mig_fail_log(&vm->mig, vm->name,
                         xstrdup("the agent restarted while the VM was "
                                 "migrating in"));
            vms_notify(vms);
        } else if (!mig_is(&vm->mig, in) && !vm->waiting_for) {
            /* Once its taps are ports. */
            mig_begin(&vm->mig, in, false, "starting");
            vms_spawn(vms, vm, OP_MIGRATE_IN);
            vms_notify(vms);
        } else if (mig_is(&vm->mig, in) && !vm->mig.ended && !up) {
            mig_fail_log(&vm->mig, vm->name,
                         xasprintf("its QEMU ended while it migrated in (%s)",
                                   vm->known ? vmm_state_name(vm->status.state)
                                             : "gone"));
            vms_notify(vms);
        }
        /* Never started again here while it migrates in: the source still
         * runs it. */
        return true;
    }
    if (!mig_is(&vm->mig, out)) {
        mig_begin(&vm->mig, out, true, "setup");
        if (up && vm->status.state == VMM_STATE_RUNNING) {
            vms_spawn(vms, vm, OP_MIGRATE_OUT);
        } else {
            mig_fail_log(&vm->mig, vm->name,
                         xstrdup("the VM does not run here"));
        }
        vms_notify(vms);
        return true;
    }
    /* Sent away: its QEMU stays paused until the desired state lets it go.
     * Failed: it goes on as any VM. */
    return vm->mig.ended && !vm->mig.error;
}

/* Decides what to do with 'vm' and starts it.  The caller holds the mutex
 * and 'vm' has no operation running. */
static void
vms_decide(struct vms *vms, struct vm *vm)
{
    bool up = vm->known && is_up(vm->status.state);

    if (vm->held) {
        return;
    }
    if (vm->wanted && (vm->want.incoming_id || vm->want.migrate_id)) {
        if (vms_decide_migration(vms, vm, up)) {
            return;
        }
    } else if (vm->wanted && vm->mig.source && vm->mig.ended
               && !vm->mig.error) {
        /* Its QEMU sent it away and stays paused until the desired
         * state lets it go (moved_vms). */
        return;
    }
    if (!vm->wanted) {
        if (vm->recorded) {
            vms_spawn(vms, vm, OP_REMOVE);
        } else if (vm->known && !vm->told_foreign) {
            LOG_INFO("VM \"%s\": the %s driver runs it, but it is not in the "
                     "desired state and this agent did not start it: left "
                     "alone",
                     vm->name, vmm_type(vms->vmm));
            vm->told_foreign = true;
        } else if (!vm->known) {
            vm->gone = true;
        }
        return;
    }
    if (!vm->recorded && vm->known) {
        /* A VM the driver runs that the desired state has, without a
         * record (the records were lost): adopted as it is. */
        record_from_want(&vm->want, &vm->record);
        vm->recorded = !record_write(vms, vm->name, &vm->record);
    }
    if (vm->want.ha && vms->ha == LEASE_FENCE) {
        if (vm->known && vm->status.state != VMM_STATE_SHUTOFF) {
            vms_spawn(vms, vm, OP_FENCE);
        }
        return;
    }
    if (!vm->want.running) {
        if (vm->known && vm->status.state != VMM_STATE_SHUTOFF
            && vm->status.state != VMM_STATE_SHUTDOWN
            && vm->status.state != VMM_STATE_CRASHED) {
            vms_spawn(vms, vm, OP_STOP);
        } else if (vm->recorded && vm->record.boot != vm->want.boot) {
            /* A reboot of a VM that is off is done: its next start is a
             * boot. */
            vm->record.boot = vm->want.boot;
            record_write(vms, vm->name, &vm->record);
        }
        return;
    }
    if (up) {
        if (vm->status.state == VMM_STATE_RUNNING && vm->recorded
            && vm->record.boot < vm->want.boot) {
            vms_spawn(vms, vm, OP_REBOOT);
        }
        return;
    }
    if (vm->want.ha && vms->ha != LEASE_RUN) {
        /* Another host may be starting it: only a lease says it is this
         * one's. */
        return;
    }
    if (!vm->waiting_for && now_ms() >= vm->retry_at) {
        vms_spawn(vms, vm, OP_START);
    }
}

/* Follows 'vm' going up ('was_up' false, 'is_up' true) or down on its
 * own, for its restarts: a guest that keeps powering off or crashing is
 * started again less and less often, and one that stays up for
 * VMS_RETRY_MAX_MS has its delay reset. */
static void
vms_track_up(struct vm *vm, bool was_up, bool is_up)
{
    uint64_t now = now_ms();

    if (is_up && !was_up) {
        vm->up_since = now;
    } else if (is_up && vm->up_since
               && now - vm->up_since >= VMS_RETRY_MAX_MS) {
        vm->retry_ms = 0;
    } else if (!is_up && was_up && vm->wanted && vm->want.running) {
        vm->up_since = 0;
        vms_back_off(vm);
    }
}

/* The incoming migration 'id' of 'vm' completed in QEMU: activates the
 * VM's ports if QEMU has run it for VMS_ACTIVATE_GRACE_MS and no frame of
 * its came meanwhile (vms_activated() does it at the first frame).  The
 * caller holds the mutex. */
static void
vms_await_first_frame(struct vms *vms, struct vm *vm, const char *id)
{
    struct vms_migration_hooks hooks = vms->hooks;
    char *name;

    if (!vm->mig.completed_ms) {
        vm->mig.completed_ms = now_ms();
        return;
    }
    if (now_ms() - vm->mig.completed_ms < VMS_ACTIVATE_GRACE_MS) {
        return;
    }
    if (vm->status.state != VMM_STATE_RUNNING) {
        if (!vm->mig.not_run_logged) {
            LOG_WARN("VM \"%s\": migration %s: QEMU here received it %d ms "
                     "ago or more but does not run it (%s): no frame will "
                     "come to activate it",
                     vm->name, id, VMS_ACTIVATE_GRACE_MS,
                     vmm_state_name(vm->status.state));
            vm->mig.not_run_logged = true;
        }
        return;
    }
    if (!hooks.activate) {
        return;
    }
    LOG_WARN("VM \"%s\": migration %s: QEMU here runs it but no frame of "
             "its came within %d ms: activating its ports without one",
             vm->name, id, VMS_ACTIVATE_GRACE_MS);
    name = xstrdup(vm->name);
    pthread_mutex_unlock(&vms->mutex);
    hooks.activate(vms->hooks_aux, name);
    pthread_mutex_lock(&vms->mutex);
    free(name);
}

/* Reads how the incoming migration of 'vm' does, if it has one waiting
 * or running.  The caller holds the mutex. */
static void
vms_poll_incoming(struct vms *vms, struct vm *vm)
{
    struct vmm_migration m;
    char *id;
    int error;

    if (vm->op != OP_NONE || !vm->wanted || !vm->known
        || !is_up(vm->status.state) || !mig_is(&vm->mig, vm->want.incoming_id)
        || vm->mig.ended) {
        return;
    }
    id = xstrdup(vm->mig.id);
    pthread_mutex_unlock(&vms->mutex);
    error = vmm_migration(vms->vmm, vm->name, &m);
    pthread_mutex_lock(&vms->mutex);
    if (!error && vm->op == OP_NONE && mig_is(&vm->mig, id)
        && !vm->mig.ended) {
        /* Until the source connects, QEMU's words say less than
         * "listening". */
        if (m.active && strcmp(m.status, "setup")) {
            if (mig_update(&vm->mig, &m)) {
                vms_notify(vms);
            }
        } else if (m.completed && vm->want.spec.n_nics) {
            /* The state is in, but the VM counts as arrived only at its
             * first frame here (vms_activated()): the controller moves it
             * on "completed".  QEMU announces the VM as it resumes it, but
             * an idle guest sends nothing else, so a lost announcement
             * would leave it standby for good: once QEMU has run it for a
             * while with no frame, the agent activates it itself. */
            vms_await_first_frame(vms, vm, id);
        } else if (m.completed || m.failed) {
            mig_update(&vm->mig, &m);
            vm->mig.activated = m.completed;
            if (m.failed) {
                LOG_WARN("VM \"%s\": migration %s failed here: %s", vm->name,
                         id, vm->mig.error);
            }
            vms_notify(vms);
        }
    }
    free(id);
}

/* Reads the status of every VM that no operation works on, then decides
 * what to do with each.  The caller holds the mutex. */
static void
vms_poll(struct vms *vms)
{
    for (size_t i = 0; i < vms->n_vms; i++) {
        struct vm *vm = vms->vms[i];
        struct vmm_status st;
        int error;

        if (vm->op != OP_NONE
            || (!vm->known && !vm->recorded && !vm->wanted)) {
            continue;
        }
        /* The driver may take a while (a QMP round trip): the VM stays,
         * since only this thread frees one. */
        pthread_mutex_unlock(&vms->mutex);
        error = vmm_status(vms->vmm, vm->name, &st);
        pthread_mutex_lock(&vms->mutex);
        if (vm->op != OP_NONE) {
            continue;
        }
        if (vm->known && error) {
            vms->changes++;
        }
        if (!error) {
            if (vm->status.state != st.state || !vm->known) {
                LOG_INFO("VM \"%s\": %s", vm->name, vmm_state_name(st.state));
                vms->changes++;
            }
            vms_track_up(vm, vm->known && is_up(vm->status.state),
                         is_up(st.state));
            vm->status = st;
        }
        vm->known = !error;
        if (error && error != ENOENT) {
            LOG_WARN("VM \"%s\": cannot read its status: %s", vm->name,
                     strerror(error));
        }
    }
    for (size_t i = 0; i < vms->n_vms; i++) {
        vms_poll_incoming(vms, vms->vms[i]);
    }
    for (size_t i = 0; vms->have_desired && i < vms->n_vms; i++) {
        if (vms->vms[i]->op == OP_NONE) {
            vms_decide(vms, vms->vms[i]);
        }
    }
    for (size_t i = 0; i < vms->n_vms;) {
        struct vm *vm = vms->vms[i];

        if (vm->gone && vm->op == OP_NONE && !vm->wanted) {
            vm_free(vm);
            vms->vms[i] = vms->vms[--vms->n_vms];
        } else {
            vm->gone = false;
            i++;
        }
    }
}

/* Decides between KVM and TCG, unless the configuration did.  Probing may
 * take a while (it runs a guest), so the monitor does it before it starts
 * any VM, and the agent goes on meanwhile. */
static void
vms_probe(struct vms *vms)
{
    enum vmm_accel accel;
    char *why = NULL;

    if (vms->accel_known) {
        return;
    }
    accel = vmm_accel_probe(vms->probe_cache, NULL, &why);
    pthread_mutex_lock(&vms->mutex);
    vms->accel = accel;
    vms->accel_reason = why ? why : xstrdup("probed");
    vms->accel_known = true;
    pthread_mutex_unlock(&vms->mutex);
    LOG_INFO("VMs: %s (%s)", vmm_accel_name(accel), vms->accel_reason);
}

static void *
monitor_main(void *vms_)
{
    struct vms *vms = vms_;

    vms_probe(vms);
    pthread_mutex_lock(&vms->mutex);
    while (!vms->stopping) {
        struct timespec deadline;
        uint64_t end;

        vms_poll(vms);
        end = now_ms() + VMS_POLL_MS;
        deadline.tv_sec = end / 1000;
        deadline.tv_nsec = end % 1000 * 1000000;
        pthread_cond_timedwait(&vms->cond, &vms->mutex, &deadline);
    }
    pthread_mutex_unlock(&vms->mutex);
    return NULL;
}

/* Creating and closing. */

/* Makes directory 'dir' and its parents, mode 0700.  Returns 0 or an
 * errno value. */
static int
make_dirs(const char *dir)
{
    char *copy = xstrdup(dir);
    int error = 0;

    for (char *p = copy + 1; !error; p++) {
        if (*p == '/' || !*p) {
            char c = *p;

            *p = '\0';
            if (mkdir(copy, 0700) < 0 && errno != EEXIST) {
                error = errno;
            }
            *p = c;
            if (!c) {
                break;
            }
        }
    }
    free(copy);
    return error;
}

/* Adds a VM that the driver lists (a vmm_list_cb). */
static void
list_cb(const char *name, void *vms_)
{
    struct vms *vms = vms_;

    vms_get(vms, name)->known = true;
}

/* Reads the records into 'vms'. */
static void
vms_read_records(struct vms *vms)
{
    DIR *dir = opendir(vms->records);
    struct dirent *de;

    while (dir && (de = readdir(dir))) {
        size_t len = strlen(de->d_name);
        struct vm_record r;
        char *path, *name;

        if (len <= 5 || strcmp(de->d_name + len - 5, ".json")) {
            continue;
        }
        path = xasprintf("%s/%s", vms->records, de->d_name);
        name = xasprintf("%.*s", (int) (len - 5), de->d_name);
        if (record_read(path, &r)) {
            struct vm *vm = vms_get(vms, name);

            vm->record = r;
            vm->recorded = true;
        } else {
            LOG_WARN("%s: not a VM record; ignored", path);
        }
        free(name);
        free(path);
    }
    if (dir) {
        closedir(dir);
    }
}

/* Opens the driver of 'cfg' over its part of the run directory. */
static int
vms_open_driver(const struct vms_config *cfg, char **records,
                struct vmm **vmmp)
{
    char *driver_dir = xasprintf("%s/driver", cfg->run_dir);
    char *instance = xstrdup(cfg->instance ? cfg->instance : "fabric");
    struct vmm_options options = {
        .type = cfg->hypervisor, .run_dir = driver_dir, .instance = instance};
    int error;

    /* libvirt's domain names take a-z, 0-9 and '-': the agent's instance,
     * which takes more, is folded into that. */
    for (char *p = instance; *p; p++) {
        *p = tolower((unsigned char) *p);
        if (!strchr("abcdefghijklmnopqrstuvwxyz0123456789-", *p)) {
            *p = '-';
        }
    }
    if (strlen(instance) > VMS_INSTANCE_MAX) {
        instance[VMS_INSTANCE_MAX] = '\0';
    }

    *records = xasprintf("%s/records", cfg->run_dir);
    error = make_dirs(driver_dir);
    if (!error) {
        error = make_dirs(*records);
    }
    if (error) {
        LOG_ERR("vm-run-dir %s: cannot make it: %s", cfg->run_dir,
                strerror(error));
    } else {
        error = vmm_open(&options, vmmp);
        if (error) {
            LOG_ERR("hypervisor \"%s\": cannot open its driver: %s",
                    cfg->hypervisor ? cfg->hypervisor : "qemu",
                    error == ENOENT ? "it is not installed or not running"
                                    : strerror(error));
        }
    }
    free(driver_dir);
    free(instance);
    return error;
}

int
vms_open(const struct vms_config *cfg, struct vms **vmsp)
{
    struct vms *vms = xzalloc(sizeof *vms);
    int error;

    *vmsp = NULL;
    error = vms_open_driver(cfg, &vms->records, &vms->vmm);
    if (error) {
        free(vms->records);
        free(vms);
        return error;
    }
    vms->storage = xstrdup(cfg->storage);
    vms->probe_cache = xstrdup(cfg->probe_cache);
    if (cfg->accel && strcmp(cfg->accel, "auto")) {
        vms->accel = strcmp(cfg->accel, "kvm") ? VMM_ACCEL_TCG : VMM_ACCEL_KVM;
        vms->accel_reason = xasprintf("configured: accel = %s", cfg->accel);
        vms->accel_known = true;
    }
    LOG_INFO("VMs: %s driver, storage %s, run directory %s",
             vmm_type(vms->vmm), vms->storage, cfg->run_dir);
    pthread_mutex_init(&vms->mutex, NULL);
    cond_init_monotonic(&vms->cond);

    vms_read_records(vms);
    error = vmm_list(vms->vmm, list_cb, vms);
    if (error) {
        LOG_WARN("VMs: cannot list the VMs the %s driver runs: %s",
                 vmm_type(vms->vmm), strerror(error));
    }
    for (size_t i = 0; i < vms->n_vms; i++) {
        const struct vm *vm = vms->vms[i];

        if (vm->known) {
            LOG_INFO("VM \"%s\": found it, re-attached%s", vm->name,
                     vm->recorded ? "" : " (no record of it)");
        }
    }
    error = pthread_create(&vms->monitor, NULL, monitor_main, vms);
    if (error) {
        LOG_ERR("VMs: cannot start the monitor thread: %s", strerror(error));
        vms_close(vms);
        return error;
    }
    vms->started = true;
    *vmsp = vms;
    return 0;
}

void
vms_close(struct vms *vms)
{
    size_t n_ops;

    if (!vms) {
        return;
    }
    pthread_mutex_lock(&vms->mutex);
    vms->stopping = true;
    pthread_cond_broadcast(&vms->cond);
    n_ops = vms->n_ops;
    pthread_mutex_unlock(&vms->mutex);
    if (vms->started) {
        pthread_join(vms->monitor, NULL);
    }
    if (n_ops) {
        /* They may wait for a guest for VMM_STOP_TIMEOUT seconds; the
         * next agent takes up where they leave off.  Their memory goes
         * with the process. */
        LOG_INFO("VMs: leaving %zu operation%s unfinished", n_ops,
                 n_ops == 1 ? "" : "s");
        return;
    }
    for (size_t i = 0; i < vms->n_vms; i++) {
        vm_free(vms->vms[i]);
    }
    free(vms->vms);
    vmm_close(vms->vmm);
    free(vms->storage);
    free(vms->records);
    free(vms->accel_reason);
    free(vms->probe_cache);
    pthread_mutex_destroy(&vms->mutex);
    pthread_cond_destroy(&vms->cond);
    free(vms);
}

/* The desired state. */

void
vms_prepare(struct vms *vms, const struct state *s)
{
    for (size_t i = 0; i < s->n_vms; i++) {
        const struct state_vm *v = &s->vms[i];

        for (size_t j = 0; j < v->n_nics; j++) {
            tap_create(v->name, v->nics[j].device);
        }
    }
}

void
vms_update(struct vms *vms, const struct state *s, vms_ready_func *ready,
           void *aux)
{
    pthread_mutex_lock(&vms->mutex);
    vms->have_desired = true;
    vms->vtep = s->host.vtep;
    for (size_t i = 0; i < vms->n_vms; i++) {
        struct vm *vm = vms->vms[i];

        vm->wanted = false;
        vm->held = false;
    }
    for (size_t i = 0; i < s->n_vms; i++) {
        const struct state_vm *v = &s->vms[i];
        struct vm *vm = vms_get(vms, v->name);

        want_clear(&vm->want);
        want_from_state(vms, v, &vm->want);
        vm->wanted = true;
        vm->was_incoming = v->incoming != NULL;
        free(vm->waiting_for);
        vm->waiting_for = NULL;
        for (size_t j = 0; j < v->n_nics; j++) {
            if (!ready(v->nics[j].device, aux)) {
                vm->waiting_for = xstrdup(v->nics[j].device);
                break;
            }
        }
        vms->changes++;
    }
    for (size_t i = 0; i < vms->n_vms; i++) {
        struct vm *vm = vms->vms[i];
        const struct state_moved_vm *m = state_find_moved_vm(s, vm->name);

        if (vm->wanted) {
            vm->moved = false;
        } else if (m && vm->recorded && !strcmp(m->uuid, vm->record.uuid)) {
            vm->moved = true;
        }
    }
    for (size_t i = 0; i < s->n_skipped; i++) {
        if (s->skipped[i].kind == STATE_KIND_VM) {
            struct vm *vm = vms_find(vms, s->skipped[i].name);

            if (vm) {
                vm->held = true;
            }
        }
    }
    pthread_cond_broadcast(&vms->cond);
    pthread_mutex_unlock(&vms->mutex);
}

void
vms_set_ha(struct vms *vms, enum lease_action action)
{
    pthread_mutex_lock(&vms->mutex);
    if (vms->ha != action) {
        LOG_INFO("HA VMs: %s (was %s)",
                 action == LEASE_RUN ? "run: this host holds a lease"
                 : action == LEASE_HOLD
                     ? "hold: no lease, but peers answer; running ones go "
                       "on, none starts"
                     : "fence: no lease and no peer answers; forcing them "
                       "off",
                 lease_action_name(vms->ha));
        vms->ha = action;
        vms->changes++;
        pthread_cond_broadcast(&vms->cond);
    }
    pthread_mutex_unlock(&vms->mutex);
}

/* Reports. */

/* Returns the state 'vm' is reported in, and its reason in '*reason' (the
 * caller frees it). */
static enum vm_state
vm_state(const struct vms *vms, const struct vm *vm, char **reason)
{
    *reason = NULL;
    switch (vm->op) {
    case OP_MIGRATE_IN:
        return VM_INCOMING;
    case OP_MIGRATE_OUT:
        return VM_RUNNING;
    case OP_START:
        return VM_STARTING;
    case OP_STOP:
    case OP_REMOVE:
    case OP_FENCE:
        return VM_STOPPING;
    case OP_REBOOT:
        return VM_RUNNING;
    case OP_NONE:
    default:
        break;
    }
    if (vm->wanted && mig_is(&vm->mig, vm->want.incoming_id)
        && !vm->mig.activated) {
        if (vm->mig.error) {
            *reason =
                xasprintf("incoming migration failed: %s", vm->mig.error);
            return VM_FAILED;
        }
        return VM_INCOMING;
    }
    if (vm->mig.source && vm->mig.ended && !vm->mig.error) {
        *reason = xstrdup("migrated to another host; its QEMU waits to be "
                          "removed");
        return VM_STOPPED;
    }
    if (vm->known) {
        switch (vm->status.state) {
        case VMM_STATE_RUNNING:
            return VM_RUNNING;
        case VMM_STATE_PAUSED:
            *reason = xstrdup("paused");
            return VM_STARTING;
        case VMM_STATE_SHUTDOWN:
            return VM_STOPPING;
        case VMM_STATE_CRASHED:
            *reason = xasprintf(
                "the %s driver says it crashed%s", vmm_type(vms->vmm),
                vm->wanted && vm->want.running ? "; starting it again" : "");
            return VM_FAILED;
        case VMM_STATE_SHUTOFF:
        default:
            break;
        }
    }
    if (!vm->wanted || !vm->want.running) {
        return VM_STOPPED;
    }
    if (vm->failure) {
        *reason = xasprintf("%s; retrying in %" PRIu64 " s", vm->failure,
                            vm->retry_ms / 1000);
        return VM_FAILED;
    }
    if (vm->waiting_for) {
        *reason = xasprintf("waiting for tap \"%s\" to be a fabric port",
                            vm->waiting_for);
    } else if (vm->want.ha && vms->ha != LEASE_RUN) {
        *reason = xstrdup("not started: this host holds no HA lease from "
                          "the controller");
    }
    return VM_STARTING;
}

/* The report of migration 'm' (doc/mobility.md). */
static json_t *
mig_to_json(const struct vm_migration *m)
{
    json_t *j =
        json_pack("{ssssss}", "id", m->id, "role",
                  m->source ? "source" : "destination", "status", m->status);

    if (m->uri) {
        json_object_set_new(j, "uri", json_string(m->uri));
    }
    if (m->total) {
        json_object_set_new(j, "transferred_bytes",
                            json_integer(m->transferred));
        json_object_set_new(j, "remaining_bytes", json_integer(m->remaining));
        json_object_set_new(j, "total_bytes", json_integer(m->total));
    }
    if (m->source && m->ended && !m->error) {
        json_object_set_new(j, "downtime_ms", json_integer(m->downtime_ms));
        json_object_set_new(j, "total_ms", json_integer(m->total_ms));
    }
    if (!m->source) {
        json_object_set_new(j, "activated", json_boolean(m->activated));
    }
    if (m->error) {
        json_object_set_new(j, "error", json_string(m->error));
    }
    if (m->ct_error) {
        json_object_set_new(j, "ct_error", json_string(m->ct_error));
    }
    return j;
}

json_t *
vms_status(struct vms *vms)
{
    json_t *all = json_object();

    pthread_mutex_lock(&vms->mutex);
    for (size_t i = 0; i < vms->n_vms; i++) {
        const struct vm *vm = vms->vms[i];
        enum vm_state state;
        json_t *j;
        char *reason;

        if (!vm->wanted && !vm->held) {
            continue;
        }
        state = vm_state(vms, vm, &reason);
        j = json_pack("{sssIsIsI}", "state", state_names[state], "cpu_time_ns",
                      (json_int_t) (vm->known ? vm->status.cpu_time_ns : 0),
                      "memory_kb",
                      (json_int_t) (vm->known ? vm->status.memory_kb : 0),
                      "boot", (json_int_t) vm->record.boot);
        if (reason || vm->held) {
            json_object_set_new(
                j, "reason",
                json_string(reason ? reason
                                   : "left out of the desired state (see "
                                     "the host's conditions); left as it "
                                     "is"));
        }
        free(reason);
        if (vm->mig.id) {
            json_object_set_new(j, "migration", mig_to_json(&vm->mig));
        }
        json_object_set_new(all, vm->name, j);
    }
    pthread_mutex_unlock(&vms->mutex);
    return all;
}

json_t *
vms_hypervisor(struct vms *vms)
{
    json_t *j = NULL;

    pthread_mutex_lock(&vms->mutex);
    if (vms->accel_known) {
        j = json_pack("{ssssss}", "driver", vmm_type(vms->vmm), "accel",
                      vmm_accel_name(vms->accel), "reason", vms->accel_reason);
    }
    pthread_mutex_unlock(&vms->mutex);
    return j;
}

uint64_t
vms_disk_gb(struct vms *vms)
{
    struct statvfs st;

    if (statvfs(vms->storage, &st) < 0) {
        return 0;
    }
    return (uint64_t) st.f_blocks * st.f_frsize >> 30;
}

const char *
vms_state_name(size_t i)
{
    return i < VM_N_STATES ? state_names[i] : NULL;
}

void
vms_counts(struct vms *vms, struct vms_counts *c)
{
    memset(c, 0, sizeof *c);
    pthread_mutex_lock(&vms->mutex);
    c->usage = xcalloc(vms->n_vms + 1, sizeof *c->usage);
    for (size_t i = 0; i < vms->n_vms; i++) {
        const struct vm *vm = vms->vms[i];
        char *reason;

        if (!vm->wanted && !vm->held) {
            continue;
        }
        c->by_state[vm_state(vms, vm, &reason)]++;
        free(reason);
        if (vm->known) {
            c->usage[c->n_usage++] = (struct vms_usage){
                .name = xstrdup(vm->name),
                .cpu_time_ns = vm->status.cpu_time_ns,
                .memory_kb = vm->status.memory_kb,
            };
        }
    }
    pthread_mutex_unlock(&vms->mutex);
}

void
vms_counts_destroy(struct vms_counts *c)
{
    for (size_t i = 0; i < c->n_usage; i++) {
        free(c->usage[i].name);
    }
    free(c->usage);
    memset(c, 0, sizeof *c);
}

void
vms_set_migration_hooks(struct vms *vms,
                        const struct vms_migration_hooks *hooks, void *aux)
{
    pthread_mutex_lock(&vms->mutex);
    vms->hooks = *hooks;
    vms->hooks_aux = aux;
    pthread_mutex_unlock(&vms->mutex);
}

bool
vms_activated(struct vms *vms, const char *name)
{
    struct vm *vm;
    bool news = false;

    pthread_mutex_lock(&vms->mutex);
    vm = vms_find(vms, name);
    if (vm && vm->wanted && mig_is(&vm->mig, vm->want.incoming_id)
        && !vm->mig.activated) {
        vm->mig.activated = true;
        vm->mig.ended = true;
        free(vm->mig.error);
        vm->mig.error = NULL;
        snprintf(vm->mig.status, sizeof vm->mig.status, "completed");
        LOG_INFO("VM \"%s\": migration %s: it runs here now (its first "
                 "frame came)",
                 name, vm->mig.id);
        vms_notify(vms);
        news = true;
    }
    pthread_mutex_unlock(&vms->mutex);
    return news;
}

bool
vms_changed(struct vms *vms, uint64_t *seen)
{
    bool changed;

    pthread_mutex_lock(&vms->mutex);
    changed = vms->changes != *seen;
    *seen = vms->changes;
    pthread_mutex_unlock(&vms->mutex);
    return changed;
}

int
vms_console(struct vms *vms, const char *name, size_t max, char **text)
{
    const struct vm *vm;
    bool found;

    /* Only the VMs this agent runs: never another guest of the
     * hypervisor's. */
    pthread_mutex_lock(&vms->mutex);
    vm = vms_find(vms, name);
    found = vm && (vm->wanted || vm->held || vm->recorded);
    pthread_mutex_unlock(&vms->mutex);
    if (!found) {
        return ENOENT;
    }
    return vmm_console(vms->vmm, name, max, text);
}

int
vms_purge(const struct vms_config *cfg)
{
    struct vms vms = {0};
    int first_error = 0;

    if (access(cfg->run_dir, F_OK) < 0) {
        return 0;
    }
    if (vms_open_driver(cfg, &vms.records, &vms.vmm)) {
        free(vms.records);
        return EIO;
    }
    vms_read_records(&vms);
    for (size_t i = 0; i < vms.n_vms; i++) {
        struct vm *vm = vms.vms[i];
        char *path = record_path(&vms, vm->name);
        int error = vmm_destroy(vms.vmm, vm->name);

        error = error == ENOENT ? 0 : error;
        if (error) {
            LOG_ERR("VM \"%s\": cannot destroy it: %s", vm->name,
                    strerror(error));
        } else {
            for (size_t j = 0; j < vm->record.n_devices && !error; j++) {
                error = tap_remove(vm->name, vm->record.devices[j]);
            }
        }
        if (!error) {
            unlink(path);
            LOG_INFO("VM \"%s\": destroyed; its disk %s stays", vm->name,
                     vm->record.disk);
        }
        first_error = first_error ? first_error : error;
        free(path);
        vm_free(vm);
    }
    free(vms.vms);
    vmm_close(vms.vmm);
    if (!first_error) {
        /* What is left of the run directory, if nothing else is in it. */
        char *driver_dir = xasprintf("%s/driver", cfg->run_dir);

        rmdir(vms.records);
        rmdir(driver_dir);
        rmdir(cfg->run_dir);
        free(driver_dir);
    }
    free(vms.records);
    return first_error;
}
