/* vmm-glue's libvirt driver: VMs as persistent libvirt domains, for hosts
 * that run libvirtd.
 *
 * VM NAME of driver instance INSTANCE is domain "INSTANCE-NAME" (so two
 * agents, or an agent and anything else, can share one libvirtd), defined
 * from XML made here and marked as fabric's by a metadata element naming
 * the instance.  libvirtd keeps the domain and its QEMU, so vmm_close() and
 * a new vmm_open() change nothing; the console goes to RUN_DIR/NAME/
 * console.log.  QEMU runs as root with no relabelling of files (a static
 * DAC label, and no AppArmor profile where AppArmor is on): disks and
 * images are in fabric's storage directory, owned by root, shared by every
 * host, and must not change owner as VMs start and stop.
 *
 * Live migration between libvirtds is libvirt's own protocol, not the
 * QEMU-level hooks of vmm.h; this driver refuses those (EOPNOTSUPP). */
#include <errno.h>
#include <stdarg.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "utils/log.h"
#include "utils/util.h"
#include "vmm-glue/vmm-provider.h"

#define LIBVIRT_NS "https://fabric.invalid/vmm-glue/1"
#define LIBVIRT_DEFAULT_URI "qemu:///system"
#define LIBVIRT_DESTROY_TIMEOUT_MS 10000

struct vmm_libvirt {
    struct vmm up;      /* Must be first. */
    virConnectPtr conn; /* Connection to libvirtd. */
    char *run_dir;      /* Console logs live here. */
    char *instance;     /* Domain name prefix. */
};

static struct vmm_libvirt *
vmm_libvirt_cast(struct vmm *vmm)
{
    return (struct vmm_libvirt *) vmm;
}

/* libvirt prints every error on standard error unless told otherwise;
 * the driver logs them itself, with the VM's name. */
static void
libvirt_quiet(void *opaque, virErrorPtr error)
{
}

static const char *
libvirt_error(void)
{
    const char *msg = virGetLastErrorMessage();

    return msg ? msg : "unknown libvirt error";
}

static char *
libvirt_domain_name(const struct vmm_libvirt *lv, const char *name)
{
    return xasprintf("%s-%s", lv->instance, name);
}

/* Whether 'dom' is a VM of this driver instance's, by its metadata. */
static bool
libvirt_is_ours(const struct vmm_libvirt *lv, virDomainPtr dom)
{
    char *meta =
        virDomainGetMetadata(dom, VIR_DOMAIN_METADATA_ELEMENT, LIBVIRT_NS, 0);
    char *want = xasprintf("instance=\"%s\"", lv->instance);
    bool ours = meta && strstr(meta, want);

    free(want);
    free(meta);
    return ours;
}

/* Looks up VM 'name''s domain, if it is one of ours. */
static virDomainPtr
libvirt_lookup(const struct vmm_libvirt *lv, const char *name)
{
    char *dom_name = libvirt_domain_name(lv, name);
    virDomainPtr dom = virDomainLookupByName(lv->conn, dom_name);

    free(dom_name);
    if (dom && !libvirt_is_ours(lv, dom)) {
        virDomainFree(dom);
        dom = NULL;
    }
    return dom;
}

static int
libvirt_open(const struct vmm_options *options, struct vmm **vmmp)
{
    const char *uri = options->uri ? options->uri : LIBVIRT_DEFAULT_URI;
    const char *instance = options->instance ? options->instance : "fabric";
    struct vmm_libvirt *lv;
    virConnectPtr conn;

    int error = vmm_run_dir_make("libvirt", options->run_dir, 0755);

    if (error) {
        return error;
    }
    if (instance[0] == '\0' || strlen(instance) > 64
        || strspn(instance, "abcdefghijklmnopqrstuvwxyz0123456789-")
               != strlen(instance)) {
        LOG_ERR("vmm: libvirt: instance \"%s\" invalid: use 1 to 64 "
                "characters of a-z, 0-9 and \"-\"",
                instance);
        return EINVAL;
    }
    virSetErrorFunc(NULL, libvirt_quiet);
    conn = virConnectOpen(uri);
    if (conn == NULL) {
        LOG_ERR("vmm: libvirt: cannot connect to %s: %s (is libvirtd "
                "running?  \"systemctl start libvirtd\", or \"libvirtd -d\" "
                "without systemd)",
                uri, libvirt_error());
        return ENOENT;
    }
    lv = xzalloc(sizeof *lv);
    lv->conn = conn;
    lv->run_dir = xstrdup(options->run_dir);
    lv->instance = xstrdup(instance);
    *vmmp = &lv->up;
    return 0;
}

static void
libvirt_close(struct vmm *vmm)
{
    struct vmm_libvirt *lv = vmm_libvirt_cast(vmm);

    virConnectClose(lv->conn);
    free(lv->run_dir);
    free(lv->instance);
    free(lv);
}

/* Appends 's' to 'buf' with XML's five special characters escaped. */
static void
libvirt_xml_text(char **buf, size_t *len, const char *s)
{
    for (; *s; s++) {
        const char *esc = (*s == '&'    ? "&amp;"
                           : *s == '<'  ? "&lt;"
                           : *s == '>'  ? "&gt;"
                           : *s == '\'' ? "&apos;"
                           : *s == '"'  ? "&quot;"
                                        : NULL);
        size_t n = esc ? strlen(esc) : 1;

        *buf = xrealloc(*buf, *len + n + 1);
        memcpy(*buf + *len, esc ? esc : s, n);
        *len += n;
        (*buf)[*len] = '\0';
    }
}

/* Appends printf-formatted text to 'buf'. */
static void __attribute__((format(printf, 3, 4)))
libvirt_xml(char **buf, size_t *len, const char *format, ...)
{
    va_list args;
    char *s;

    va_start(args, format);
    if (vasprintf(&s, format, args) < 0) {
        abort();
    }
    va_end(args);
    *buf = xrealloc(*buf, *len + strlen(s) + 1);
    strcpy(*buf + *len, s);
    *len += strlen(s);
    free(s);
}

static bool
libvirt_apparmor_enabled(void)
{
    char *text;
    bool on = false;

    if (!read_file("/sys/module/apparmor/parameters/enabled", &text, NULL)) {
        on = text[0] == 'Y';
        free(text);
    }
    return on;
}

/* The domain XML of 'spec'. */
static char *
libvirt_domain_xml(const struct vmm_libvirt *lv, const struct vmm_spec *spec)
{
    char *x = xstrdup(""), *dom_name = libvirt_domain_name(lv, spec->name);
    size_t n = 0;

    libvirt_xml(&x, &n,
                "<domain type='%s'>\n"
                "  <name>%s</name>\n"
                "  <uuid>%s</uuid>\n"
                "  <metadata>\n"
                "    <fabric:vm xmlns:fabric='" LIBVIRT_NS "' "
                "instance='%s' name='%s'/>\n"
                "  </metadata>\n"
                "  <memory unit='MiB'>%llu</memory>\n"
                "  <vcpu>%u</vcpu>\n"
                "  <os><type arch='x86_64' machine='pc'>hvm</type>"
                "<boot dev='hd'/></os>\n"
                "  <features><acpi/></features>\n"
                "  <cpu mode='%s'/>\n"
                "  <on_poweroff>destroy</on_poweroff>\n"
                "  <on_reboot>restart</on_reboot>\n"
                "  <on_crash>destroy</on_crash>\n"
                "  <devices>\n"
                "    <emulator>/usr/bin/qemu-system-x86_64</emulator>\n",
                spec->accel == VMM_ACCEL_KVM ? "kvm" : "qemu", dom_name,
                spec->uuid, lv->instance, spec->name,
                (unsigned long long) spec->memory_mb, spec->vcpus,
                spec->accel == VMM_ACCEL_KVM ? "host-passthrough" : "maximum");
    libvirt_xml(&x, &n,
                "    <disk type='file' device='disk'>"
                "<driver name='qemu' type='qcow2'/><source file='");
    libvirt_xml_text(&x, &n, spec->disk);
    libvirt_xml(&x, &n, "'/><target dev='vda' bus='virtio'/></disk>\n");
    if (spec->seed) {
        libvirt_xml(&x, &n,
                    "    <disk type='file' device='disk'>"
                    "<driver name='qemu' type='raw'/><source file='");
        libvirt_xml_text(&x, &n, spec->seed);
        libvirt_xml(&x, &n,
                    "'/><target dev='vdb' bus='virtio'/>"
                    "<readonly/></disk>\n");
    }
    for (size_t i = 0; i < spec->n_nics; i++) {
        char mac[18];

        vmm_mac_format(spec->nics[i].mac, mac);
        libvirt_xml(&x, &n,
                    "    <interface type='ethernet'>"
                    "<target dev='%s' managed='no'/><mac address='%s'/>"
                    "<model type='virtio'/>",
                    spec->nics[i].device, mac);
        if (spec->nics[i].mtu) {
            libvirt_xml(&x, &n, "<mtu size='%u'/>", spec->nics[i].mtu);
        }
        libvirt_xml(&x, &n, "</interface>\n");
    }
    libvirt_xml(&x, &n, "    <serial type='file'><source path='");
    libvirt_xml_text(&x, &n, lv->run_dir);
    libvirt_xml(&x, &n, "/");
    libvirt_xml_text(&x, &n, spec->name);
    libvirt_xml(&x, &n,
                "/console.log' append='off'/>"
                "<target port='0'/></serial>\n"
                "    <panic model='isa'/>\n"
                "    <memballoon model='none'/>\n"
                "  </devices>\n"
                "  <seclabel type='static' model='dac' "
                "relabel='no'><label>+0:+0</label></seclabel>\n");
    if (libvirt_apparmor_enabled()) {
        libvirt_xml(&x, &n, "  <seclabel type='none' model='apparmor'/>\n");
    }
    libvirt_xml(&x, &n, "</domain>\n");
    free(dom_name);
    return x;
}

static int
libvirt_start(struct vmm *vmm, const struct vmm_spec *spec)
{
    struct vmm_libvirt *lv = vmm_libvirt_cast(vmm);
    const char *name = spec->name;
    virDomainPtr dom = libvirt_lookup(lv, name);
    char *dir, *xml;
    int error = 0;

    if (spec->incoming) {
        LOG_ERR("vmm: VM %s: the libvirt driver does not take incoming "
                "migrations through vmm-glue (use the qemu driver)",
                name);
        if (dom) {
            virDomainFree(dom);
        }
        return EOPNOTSUPP;
    }
    if (dom) {
        int active = virDomainIsActive(dom);

        if (active) {
            LOG_ERR("vmm: VM %s runs already (libvirt domain %s-%s): stop it "
                    "first",
                    name, lv->instance, name);
            virDomainFree(dom);
            return EEXIST;
        }
        /* A stopped VM starts again with the spec given, which may differ
         * (even in its UUID) from the one it was defined with. */
        virDomainUndefine(dom);
        virDomainFree(dom);
    }

    dir = xasprintf("%s/%s", lv->run_dir, name);
    if (mkdir(dir, 0755) && errno != EEXIST) {
        error = errno;
        LOG_ERR("vmm: VM %s: cannot make %s: %s", name, dir, strerror(error));
        free(dir);
        return error;
    }
    free(dir);

    xml = libvirt_domain_xml(lv, spec);
    dom = virDomainDefineXML(lv->conn, xml);
    free(xml);
    if (dom == NULL) {
        LOG_ERR("vmm: VM %s: libvirt refused its domain: %s", name,
                libvirt_error());
        return EINVAL;
    }
    if (virDomainCreate(dom) < 0) {
        LOG_ERR("vmm: VM %s: libvirt did not start it: %s", name,
                libvirt_error());
        error = EIO;
    }
    virDomainFree(dom);
    return error;
}

/* Waits up to 'timeout_ms' for 'dom' to be off. */
static bool
libvirt_wait_off(virDomainPtr dom, int64_t timeout_ms)
{
    int64_t deadline = time_msec() + timeout_ms;

    while (virDomainIsActive(dom) == 1) {
        if (time_msec() >= deadline) {
            return false;
        }
        usleep(100 * 1000);
    }
    return true;
}

static int
libvirt_stop(struct vmm *vmm, const char *name, int timeout)
{
    struct vmm_libvirt *lv = vmm_libvirt_cast(vmm);
    virDomainPtr dom = libvirt_lookup(lv, name);
    int error = 0;

    if (dom == NULL) {
        return ENOENT;
    }
    int state, reason;

    /* Only a running guest can answer the power button; a paused one is
     * forced off at once rather than after the whole timeout. */
    if (timeout > 0 && virDomainGetState(dom, &state, &reason, 0) == 0
        && state == VIR_DOMAIN_RUNNING) {
        if (virDomainShutdownFlags(dom, VIR_DOMAIN_SHUTDOWN_ACPI_POWER_BTN)
            < 0) {
            LOG_WARN("vmm: VM %s: ACPI power-down failed: %s", name,
                     libvirt_error());
        } else if (!libvirt_wait_off(dom, timeout * 1000LL)) {
            LOG_WARN("vmm: VM %s did not power off within %d s of ACPI "
                     "power-down: forcing it off",
                     name, timeout);
        }
    }
    if (virDomainIsActive(dom) == 1 && virDomainDestroy(dom) < 0
        && virDomainIsActive(dom) == 1) {
        LOG_ERR("vmm: VM %s: cannot force it off: %s", name, libvirt_error());
        error = EIO;
    }
    if (!error && !libvirt_wait_off(dom, LIBVIRT_DESTROY_TIMEOUT_MS)) {
        error = ETIMEDOUT;
    }
    virDomainFree(dom);
    return error;
}

static int
libvirt_reboot(struct vmm *vmm, const char *name)
{
    struct vmm_libvirt *lv = vmm_libvirt_cast(vmm);
    virDomainPtr dom = libvirt_lookup(lv, name);
    int error = 0;

    if (dom == NULL) {
        return ENOENT;
    }
    if (virDomainIsActive(dom) != 1) {
        LOG_ERR("vmm: VM %s is not running: start it instead of rebooting "
                "it",
                name);
        error = EINVAL;
    } else if (virDomainReset(dom, 0) < 0) {
        LOG_ERR("vmm: VM %s: reset failed: %s", name, libvirt_error());
        error = EIO;
    }
    virDomainFree(dom);
    return error;
}

static int
libvirt_destroy(struct vmm *vmm, const char *name)
{
    struct vmm_libvirt *lv = vmm_libvirt_cast(vmm);
    int error = libvirt_stop(vmm, name, 0);
    virDomainPtr dom;
    char *dir;

    if (error) {
        return error;
    }
    dom = libvirt_lookup(lv, name);
    if (dom) {
        if (virDomainUndefine(dom) < 0) {
            LOG_ERR("vmm: VM %s: cannot undefine its domain: %s", name,
                    libvirt_error());
            error = EIO;
        }
        virDomainFree(dom);
    }
    dir = xasprintf("%s/%s", lv->run_dir, name);
    remove_dir_flat(dir);
    free(dir);
    return error;
}

/* QEMU's pid for running domain 'dom_name', from libvirt's pidfile. */
static int
libvirt_qemu_pid(const char *dom_name)
{
    char *path = xasprintf("/run/libvirt/qemu/%s.pid", dom_name);
    char *text;
    int pid = 0;

    if (!read_file(path, &text, NULL)) {
        pid = atoi(text);
        free(text);
    }
    free(path);
    return pid;
}

static int
libvirt_status(struct vmm *vmm, const char *name, struct vmm_status *status)
{
    struct vmm_libvirt *lv = vmm_libvirt_cast(vmm);
    virDomainPtr dom = libvirt_lookup(lv, name);
    virDomainInfo info;
    int state, reason;

    if (dom == NULL) {
        return ENOENT;
    }
    if (virDomainGetState(dom, &state, &reason, 0) < 0
        || virDomainGetInfo(dom, &info) < 0) {
        LOG_ERR("vmm: VM %s: libvirt has no state for it: %s", name,
                libvirt_error());
        virDomainFree(dom);
        return EIO;
    }
    switch (state) {
    case VIR_DOMAIN_RUNNING:
    case VIR_DOMAIN_BLOCKED:
        status->state = VMM_STATE_RUNNING;
        break;
    case VIR_DOMAIN_PAUSED:
    case VIR_DOMAIN_PMSUSPENDED:
        status->state = VMM_STATE_PAUSED;
        break;
    case VIR_DOMAIN_SHUTDOWN:
        status->state = VMM_STATE_SHUTDOWN;
        break;
    case VIR_DOMAIN_CRASHED:
        status->state = VMM_STATE_CRASHED;
        break;
    case VIR_DOMAIN_SHUTOFF:
    default:
        status->state = (reason == VIR_DOMAIN_SHUTOFF_CRASHED
                                 || reason == VIR_DOMAIN_SHUTOFF_FAILED
                             ? VMM_STATE_CRASHED
                             : VMM_STATE_SHUTOFF);
        break;
    }
    if (virDomainIsActive(dom) == 1) {
        char *dom_name = libvirt_domain_name(lv, name);
        struct vmm_status usage;

        status->pid = libvirt_qemu_pid(dom_name);
        free(dom_name);
        memset(&usage, 0, sizeof usage);
        if (status->pid) {
            vmm_proc_usage(status->pid, &usage);
        }
        status->cpu_time_ns = info.cpuTime;
        status->memory_kb = usage.memory_kb ? usage.memory_kb : info.memory;
        status->started_at = usage.started_at;
    }
    virDomainFree(dom);
    return 0;
}

static int
libvirt_list(struct vmm *vmm, vmm_list_cb *cb, void *aux)
{
    struct vmm_libvirt *lv = vmm_libvirt_cast(vmm);
    virDomainPtr *doms;
    size_t prefix_len = strlen(lv->instance) + 1;
    int n = virConnectListAllDomains(lv->conn, &doms, 0);

    if (n < 0) {
        LOG_ERR("vmm: libvirt: cannot list domains: %s", libvirt_error());
        return EIO;
    }
    for (int i = 0; i < n; i++) {
        const char *dom_name = virDomainGetName(doms[i]);

        if (dom_name && !strncmp(dom_name, lv->instance, prefix_len - 1)
            && dom_name[prefix_len - 1] == '-'
            && libvirt_is_ours(lv, doms[i])) {
            cb(dom_name + prefix_len, aux);
        }
        virDomainFree(doms[i]);
    }
    free(doms);
    return 0;
}

static int
libvirt_console(struct vmm *vmm, const char *name, size_t max, char **text)
{
    struct vmm_libvirt *lv = vmm_libvirt_cast(vmm);
    virDomainPtr dom = libvirt_lookup(lv, name);

    if (dom == NULL) {
        return ENOENT;
    }
    virDomainFree(dom);
    return vmm_console_file(lv->run_dir, name, max, text);
}

static int
libvirt_no_migration(struct vmm *vmm, const char *name)
{
    LOG_ERR("vmm: VM %s: the libvirt driver does not migrate through "
            "vmm-glue's hooks (use the qemu driver)",
            name);
    return EOPNOTSUPP;
}

static int
libvirt_migrate_in(struct vmm *vmm, const char *name, const char *uri)
{
    return libvirt_no_migration(vmm, name);
}

static int
libvirt_migrate_out(struct vmm *vmm, const char *name, const char *uri)
{
    return libvirt_no_migration(vmm, name);
}

static int
libvirt_migration(struct vmm *vmm, const char *name, struct vmm_migration *m)
{
    return libvirt_no_migration(vmm, name);
}

static int
libvirt_migrate_set(struct vmm *vmm, const char *name,
                    const struct vmm_migrate_params *params)
{
    return libvirt_no_migration(vmm, name);
}

static int
libvirt_migrate_name_only(struct vmm *vmm, const char *name)
{
    return libvirt_no_migration(vmm, name);
}

const struct vmm_class vmm_libvirt_class = {
    .type = "libvirt",
    .open = libvirt_open,
    .close = libvirt_close,
    .start = libvirt_start,
    .stop = libvirt_stop,
    .reboot = libvirt_reboot,
    .destroy = libvirt_destroy,
    .status = libvirt_status,
    .list = libvirt_list,
    .console = libvirt_console,
    .migrate_in = libvirt_migrate_in,
    .migrate_out = libvirt_migrate_out,
    .migration = libvirt_migration,
    .migrate_set = libvirt_migrate_set,
    .migrate_continue = libvirt_migrate_name_only,
    .migrate_cancel = libvirt_migrate_name_only,
};
