/* vmm-glue: dispatch to a driver, and what does not depend on one (disks,
 * seeds, the KVM probe, the helpers drivers share). */
#include "vmm-glue/vmm.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/ethtool.h>
#include <linux/kvm.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "utils/log.h"
#include "utils/names.h"
#include "utils/util.h"
#include "vmm-glue/vmm-provider.h"

const char *
vmm_accel_name(enum vmm_accel accel)
{
    return accel == VMM_ACCEL_KVM ? "kvm" : "tcg";
}

const char *
vmm_state_name(enum vmm_state state)
{
    switch (state) {
    case VMM_STATE_SHUTOFF:
        return "shutoff";
    case VMM_STATE_RUNNING:
        return "running";
    case VMM_STATE_PAUSED:
        return "paused";
    case VMM_STATE_SHUTDOWN:
        return "shutdown";
    case VMM_STATE_CRASHED:
        return "crashed";
    }
    return "unknown";
}

void
vmm_spec_destroy(struct vmm_spec *spec)
{
    if (spec == NULL) {
        return;
    }
    free(spec->name);
    free(spec->disk);
    free(spec->seed);
    for (size_t i = 0; i < spec->n_nics; i++) {
        free(spec->nics[i].device);
    }
    memset(spec, 0, sizeof *spec);
}

void
vmm_spec_clone(struct vmm_spec *dst, const struct vmm_spec *src)
{
    *dst = *src;
    dst->name = xstrdup(src->name);
    dst->disk = xstrdup(src->disk);
    dst->seed = src->seed ? xstrdup(src->seed) : NULL;
    for (size_t i = 0; i < src->n_nics; i++) {
        dst->nics[i].device = xstrdup(src->nics[i].device);
    }
}

/* Dispatch. */

static const struct vmm_class *const vmm_classes[] = {
    &vmm_qemu_class,
    &vmm_libvirt_class,
};

int
vmm_open(const struct vmm_options *options, struct vmm **vmmp)
{
    const char *type = options->type ? options->type : "qemu";

    *vmmp = NULL;
    for (size_t i = 0; i < ARRAY_SIZE(vmm_classes); i++) {
        if (!strcmp(vmm_classes[i]->type, type)) {
            int error = vmm_classes[i]->open(options, vmmp);

            if (!error) {
                (*vmmp)->class = vmm_classes[i];
            }
            return error;
        }
    }
    LOG_ERR("vmm: hypervisor driver \"%s\" unknown: use \"qemu\" or "
            "\"libvirt\"",
            type);
    return EAFNOSUPPORT;
}

void
vmm_close(struct vmm *vmm)
{
    if (vmm) {
        vmm->class->close(vmm);
    }
}

const char *
vmm_type(const struct vmm *vmm)
{
    return vmm->class->type;
}

/* Whether 'name' can name a VM, logging why not. */
static bool
vmm_name_ok(const char *name)
{
    if (name == NULL || !names_object_is_valid(name)) {
        char *p = name ? xstrdup_printable(name) : xstrdup("(null)");

        LOG_ERR("vmm: VM name \"%s\" invalid: use 1 to %d characters of "
                "a-z, 0-9 and \"-\", starting and ending with a letter or "
                "digit",
                p, VMM_NAME_MAX);
        free(p);
        return false;
    }
    return true;
}

int
vmm_start(struct vmm *vmm, const struct vmm_spec *spec)
{
    int error = vmm_spec_check(spec);

    return error ? error : vmm->class->start(vmm, spec);
}

int
vmm_stop(struct vmm *vmm, const char *name, int timeout)
{
    return (!vmm_name_ok(name) ? EINVAL
            : timeout < 0      ? EINVAL
                               : vmm->class->stop(vmm, name, timeout));
}

int
vmm_reboot(struct vmm *vmm, const char *name)
{
    return vmm_name_ok(name) ? vmm->class->reboot(vmm, name) : EINVAL;
}

int
vmm_destroy(struct vmm *vmm, const char *name)
{
    return vmm_name_ok(name) ? vmm->class->destroy(vmm, name) : EINVAL;
}

int
vmm_status(struct vmm *vmm, const char *name, struct vmm_status *status)
{
    memset(status, 0, sizeof *status);
    return vmm_name_ok(name) ? vmm->class->status(vmm, name, status) : EINVAL;
}

int
vmm_list(struct vmm *vmm, vmm_list_cb *cb, void *aux)
{
    return vmm->class->list(vmm, cb, aux);
}

int
vmm_console(struct vmm *vmm, const char *name, size_t max, char **text)
{
    *text = NULL;
    return vmm_name_ok(name) ? vmm->class->console(vmm, name, max, text)
                             : EINVAL;
}

/* Whether 'uri' is "tcp:HOST:PORT", the one form the migration hooks
 * take, logging why not. */
static bool
vmm_migration_uri_ok(const char *name, const char *uri)
{
    const char *colon = uri ? strrchr(uri, ':') : NULL;

    if (uri == NULL || strncmp(uri, "tcp:", 4) || colon == uri + 3
        || colon[1] == '\0'
        || strspn(colon + 1, "0123456789") != strlen(colon + 1)) {
        LOG_ERR("vmm: VM %s: migration URI \"%s\" invalid: use "
                "\"tcp:ADDRESS:PORT\"",
                name, uri ? uri : "(null)");
        return false;
    }
    return true;
}

int
vmm_migrate_in(struct vmm *vmm, const char *name, const char *uri)
{
    return (vmm_name_ok(name) && vmm_migration_uri_ok(name, uri)
                ? vmm->class->migrate_in(vmm, name, uri)
                : EINVAL);
}

int
vmm_migrate_out(struct vmm *vmm, const char *name, const char *uri)
{
    return (vmm_name_ok(name) && vmm_migration_uri_ok(name, uri)
                ? vmm->class->migrate_out(vmm, name, uri)
                : EINVAL);
}

int
vmm_migration(struct vmm *vmm, const char *name, struct vmm_migration *m)
{
    memset(m, 0, sizeof *m);
    return vmm_name_ok(name) ? vmm->class->migration(vmm, name, m) : EINVAL;
}

int
vmm_migrate_set(struct vmm *vmm, const char *name,
                const struct vmm_migrate_params *params)
{
    if (!vmm_name_ok(name)) {
        return EINVAL;
    }
    if (params->downtime_ms > VMM_DOWNTIME_MAX_MS) {
        LOG_ERR("vmm: VM %s: migration downtime %llu ms out of range: use "
                "1..%d ms (0 for QEMU's default)",
                name, (unsigned long long) params->downtime_ms,
                VMM_DOWNTIME_MAX_MS);
        return EINVAL;
    }
    return vmm->class->migrate_set(vmm, name, params);
}

int
vmm_migrate_continue(struct vmm *vmm, const char *name)
{
    return vmm_name_ok(name) ? vmm->class->migrate_continue(vmm, name)
                             : EINVAL;
}

int
vmm_migrate_cancel(struct vmm *vmm, const char *name)
{
    return vmm_name_ok(name) ? vmm->class->migrate_cancel(vmm, name) : EINVAL;
}

/* Specs. */

static bool
vmm_uuid_ok(const char *uuid)
{
    static const char pattern[] = "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx";

    if (strlen(uuid) != sizeof pattern - 1) {
        return false;
    }
    for (size_t i = 0; pattern[i]; i++) {
        if (pattern[i] == '-' ? uuid[i] != '-'
                              : !strchr("0123456789abcdef", uuid[i])) {
            return false;
        }
    }
    return true;
}

bool
vmm_is_tap(const char *name)
{
    struct ethtool_drvinfo info = {.cmd = ETHTOOL_GDRVINFO};
    struct ifreq ifr;
    bool tap;
    int fd;

    if (!names_device_is_valid(name)) {
        return false;
    }
    /* Asked of the kernel in this process's network namespace: sysfs
     * shows the devices of the namespace it was mounted in, which is not
     * this one for an agent entered into a host's namespace with
     * "nsenter --net". */
    fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return false;
    }
    memset(&ifr, 0, sizeof ifr);
    snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", name);
    ifr.ifr_data = (void *) &info;
    tap = !ioctl(fd, SIOCETHTOOL, &ifr) && !strcmp(info.driver, "tun")
          && !strcmp(info.bus_info, "tap");
    close(fd);
    return tap;
}

int
vmm_spec_check(const struct vmm_spec *spec)
{
    const char *name = spec->name;
    struct stat st;

    if (!vmm_name_ok(name)) {
        return EINVAL;
    }
    if (!vmm_uuid_ok(spec->uuid)) {
        LOG_ERR("vmm: VM %s: UUID \"%.36s\" invalid: use 36 characters of "
                "lower-case hex digits and dashes (8-4-4-4-12)",
                name, spec->uuid);
        return EINVAL;
    }
    if (spec->vcpus < 1 || spec->vcpus > VMM_VCPUS_MAX) {
        LOG_ERR("vmm: VM %s: %u vCPUs: give 1 to %d", name, spec->vcpus,
                VMM_VCPUS_MAX);
        return EINVAL;
    }
    if (spec->memory_mb < VMM_MEMORY_MIN_MB
        || spec->memory_mb > VMM_MEMORY_MAX_MB) {
        LOG_ERR("vmm: VM %s: memory %llu MiB: give %d to %llu MiB", name,
                (unsigned long long) spec->memory_mb, VMM_MEMORY_MIN_MB,
                VMM_MEMORY_MAX_MB);
        return EINVAL;
    }
    if (spec->disk == NULL || spec->disk[0] != '/') {
        LOG_ERR("vmm: VM %s: disk \"%s\" must be an absolute path", name,
                spec->disk ? spec->disk : "(none)");
        return EINVAL;
    }
    if (stat(spec->disk, &st) || !S_ISREG(st.st_mode)) {
        LOG_ERR("vmm: VM %s: disk %s: no such file (make it with "
                "vmm_disk_create() first)",
                name, spec->disk);
        return ENOENT;
    }
    if (spec->seed
        && (spec->seed[0] != '/' || stat(spec->seed, &st)
            || !S_ISREG(st.st_mode))) {
        LOG_ERR("vmm: VM %s: seed %s: no such file (an absolute path, made "
                "by vmm_seed_create())",
                name, spec->seed);
        return spec->seed[0] == '/' ? ENOENT : EINVAL;
    }
    if (spec->n_nics > VMM_NICS_MAX) {
        LOG_ERR("vmm: VM %s: %zu NICs: at most %d", name, spec->n_nics,
                VMM_NICS_MAX);
        return EINVAL;
    }
    for (size_t i = 0; i < spec->n_nics; i++) {
        const char *dev = spec->nics[i].device;

        if (dev == NULL || !vmm_is_tap(dev)) {
            char *p = dev ? xstrdup_printable(dev) : xstrdup("(null)");

            LOG_ERR("vmm: VM %s: NIC %zu: tap device \"%s\" does not exist "
                    "(the agent makes it before it starts the VM)",
                    name, i, p);
            free(p);
            return ENOENT;
        }
        for (size_t j = 0; j < i; j++) {
            if (!strcmp(dev, spec->nics[j].device)) {
                LOG_ERR("vmm: VM %s: NICs %zu and %zu both use tap %s", name,
                        j, i, dev);
                return EINVAL;
            }
        }
    }
    return 0;
}

void
vmm_mac_format(const uint8_t mac[6], char buf[18])
{
    snprintf(buf, 18, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2],
             mac[3], mac[4], mac[5]);
}

json_t *
vmm_spec_to_json(const struct vmm_spec *spec)
{
    json_t *nics = json_array();

    for (size_t i = 0; i < spec->n_nics; i++) {
        char mac[18];

        vmm_mac_format(spec->nics[i].mac, mac);
        json_array_append_new(nics, json_pack("{s:s, s:s, s:I}", "device",
                                              spec->nics[i].device, "mac", mac,
                                              "mtu",
                                              (json_int_t) spec->nics[i].mtu));
    }
    return json_pack("{s:s, s:s, s:I, s:I, s:s, s:s?, s:o, s:s, s:b}", "name",
                     spec->name, "uuid", spec->uuid, "vcpus",
                     (json_int_t) spec->vcpus, "memory_mb",
                     (json_int_t) spec->memory_mb, "disk", spec->disk, "seed",
                     spec->seed, "nics", nics, "accel",
                     vmm_accel_name(spec->accel), "incoming", spec->incoming);
}

int
vmm_spec_from_json(const json_t *json, struct vmm_spec *spec)
{
    const char *name, *uuid, *disk, *seed = NULL, *accel;
    json_int_t vcpus, memory_mb;
    json_t *nics;
    int incoming;
    json_error_t err;

    memset(spec, 0, sizeof *spec);
    if (json_unpack_ex((json_t *) json, &err, 0,
                       "{s:s, s:s, s:I, s:I, s:s, s?s, s:o, s:s, s:b}", "name",
                       &name, "uuid", &uuid, "vcpus", &vcpus, "memory_mb",
                       &memory_mb, "disk", &disk, "seed", &seed, "nics", &nics,
                       "accel", &accel, "incoming", &incoming)
        || strlen(uuid) >= sizeof spec->uuid || !json_is_array(nics)
        || json_array_size(nics) > VMM_NICS_MAX || vcpus < 0
        || memory_mb < 0) {
        LOG_ERR("vmm: a stored VM spec is not what vmm-glue writes: %s",
                err.text[0] ? err.text : "bad uuid or nics");
        return EINVAL;
    }
    spec->name = xstrdup(name);
    memcpy(spec->uuid, uuid, strlen(uuid) + 1);
    spec->vcpus = vcpus;
    spec->memory_mb = memory_mb;
    spec->disk = xstrdup(disk);
    spec->seed = seed ? xstrdup(seed) : NULL;
    spec->accel = !strcmp(accel, "kvm") ? VMM_ACCEL_KVM : VMM_ACCEL_TCG;
    spec->incoming = incoming;
    for (size_t i = 0; i < json_array_size(nics); i++) {
        const char *dev, *mac;
        json_int_t mtu;
        struct vmm_nic *nic = &spec->nics[i];

        if (json_unpack(json_array_get(nics, i), "{s:s, s:s, s:I}", "device",
                        &dev, "mac", &mac, "mtu", &mtu)
            || sscanf(mac, "%2hhx:%2hhx:%2hhx:%2hhx:%2hhx:%2hhx", &nic->mac[0],
                      &nic->mac[1], &nic->mac[2], &nic->mac[3], &nic->mac[4],
                      &nic->mac[5])
                   != 6) {
            LOG_ERR("vmm: VM %s: stored NIC %zu is not what vmm-glue writes",
                    name, i);
            vmm_spec_destroy(spec);
            return EINVAL;
        }
        nic->device = xstrdup(dev);
        nic->mtu = mtu;
        spec->n_nics++;
    }
    return 0;
}

/* Running programs. */

int
vmm_run(char *const argv[], char **output)
{
    int fds[2];
    pid_t pid;
    char *buf = NULL;
    size_t len = 0, cap = 0;
    int status;

    if (output) {
        *output = NULL;
    }
    if (pipe2(fds, O_CLOEXEC)) {
        return errno;
    }
    pid = fork();
    if (pid < 0) {
        int error = errno;

        close(fds[0]);
        close(fds[1]);
        return error;
    }
    if (pid == 0) {
        /* Only async-signal-safe calls: the caller may have threads. */
        int null = open("/dev/null", O_RDONLY);

        dup2(null, 0);
        dup2(fds[1], 1);
        dup2(fds[1], 2);
        close_range(3, ~0U, 0);
        execvp(argv[0], argv);
        _exit(127);
    }
    close(fds[1]);
    for (;;) {
        ssize_t n;

        if (cap - len < 4096) {
            cap = cap ? 2 * cap : 8192;
            buf = xrealloc(buf, cap);
        }
        n = read(fds[0], buf + len, cap - len - 1);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            break;
        }
        len += n;
    }
    close(fds[0]);
    buf = buf ? buf : xmalloc(1);
    buf[len] = '\0';
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
        continue;
    }
    if (output) {
        *output = buf;
    } else {
        free(buf);
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 127) {
        return ENOENT;
    }
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : EIO;
}

char *
vmm_last_line(const char *text)
{
    size_t len = strlen(text);
    const char *start;

    while (len && strchr(" \t\r\n", text[len - 1])) {
        len--;
    }
    for (start = text + len; start > text && start[-1] != '\n'; start--) {
        continue;
    }
    return xasprintf("%.*s", (int) (text + len - start), start);
}

int
vmm_read_tail(const char *path, size_t max, char **text)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    size_t len = 0;
    char *buf;

    *text = NULL;
    if (fd < 0) {
        return errno;
    }
    if (fstat(fd, &st)) {
        int error = errno;

        close(fd);
        return error;
    }
    if ((uint64_t) st.st_size > max) {
        lseek(fd, st.st_size - max, SEEK_SET);
    } else {
        max = st.st_size;
    }
    buf = xmalloc(max + 1);
    while (len < max) {
        ssize_t n = read(fd, buf + len, max - len);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            break;
        }
        len += n;
    }
    close(fd);
    buf[len] = '\0';
    /* A console may carry NUL bytes; the caller gets text. */
    for (size_t i = 0; i < len; i++) {
        if (buf[i] == '\0') {
            buf[i] = ' ';
        }
    }
    *text = buf;
    return 0;
}

void
vmm_proc_usage(int pid, struct vmm_status *status)
{
    char path[64], *text;
    long tick = sysconf(_SC_CLK_TCK);

    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    if (!read_file(path, &text, NULL)) {
        /* Fields after the command: state (3) ... utime (14), stime (15),
         * starttime (22), counted from 1. */
        const char *p = strrchr(text, ')');
        unsigned long long utime = 0, stime = 0, start = 0;

        if (p
            && sscanf(p + 2,
                      "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu "
                      "%*d %*d %*d %*d %*d %*d %llu",
                      &utime, &stime, &start)
                   == 3) {
            char *stat;

            status->cpu_time_ns = (utime + stime) * (1000000000ull / tick);
            if (!read_file("/proc/stat", &stat, NULL)) {
                const char *b = strstr(stat, "\nbtime ");
                if (b) {
                    status->started_at =
                        strtoull(b + 7, NULL, 10) + start / tick;
                }
                free(stat);
            }
        }
        free(text);
    }
    snprintf(path, sizeof path, "/proc/%d/status", pid);
    if (!read_file(path, &text, NULL)) {
        const char *rss = strstr(text, "\nVmRSS:");

        if (rss) {
            status->memory_kb = strtoull(rss + 7, NULL, 10);
        }
        free(text);
    }
}

int
vmm_run_dir_make(const char *type, const char *run_dir, mode_t mode)
{
    if (run_dir == NULL || run_dir[0] != '/') {
        LOG_ERR("vmm: %s: run directory \"%s\" must be an absolute path", type,
                run_dir ? run_dir : "(none)");
        return EINVAL;
    }
    if (mkdir(run_dir, mode) && errno != EEXIST) {
        int error = errno;

        LOG_ERR("vmm: %s: cannot make run directory %s: %s", type, run_dir,
                strerror(error));
        return error;
    }
    return 0;
}

int
vmm_console_file(const char *run_dir, const char *name, size_t max,
                 char **text)
{
    char *path = xasprintf("%s/%s/console.log", run_dir, name);
    int error = vmm_read_tail(path, max, text);

    if (error == ENOENT) {
        *text = xstrdup("");
        error = 0;
    }
    free(path);
    return error;
}

/* Disks. */

int
vmm_disk_create(const char *path, const char *base, uint64_t size_gb)
{
    char *info_argv[] = {"qemu-img", "info",        "--output=json",
                         "-U",       (char *) base, NULL};
    char *out, *size_arg;
    const char *format;
    json_int_t vsize;
    json_t *info;
    struct stat st;
    int error;

    if (path == NULL || base == NULL || path[0] == '\0') {
        return EINVAL;
    }
    if (stat(base, &st) || !S_ISREG(st.st_mode)) {
        LOG_ERR("vmm: disk %s: image %s: no such file", path, base);
        return ENOENT;
    }
    if (lstat(path, &st) == 0) {
        LOG_ERR("vmm: disk %s exists already: a disk is never overwritten "
                "(remove it first to start from the image again)",
                path);
        return EEXIST;
    }
    error = vmm_run(info_argv, &out);
    info = error ? NULL : json_loads(out, 0, NULL);
    if (info == NULL
        || json_unpack(info, "{s:s, s:I}", "format", &format, "virtual-size",
                       &vsize)
        || (strcmp(format, "qcow2") && strcmp(format, "raw"))) {
        char *line = vmm_last_line(out ? out : "");

        LOG_ERR("vmm: disk %s: image %s is not a qcow2 or raw image%s%s", path,
                base, line[0] ? ": " : "", line);
        free(line);
        free(out);
        json_decref(info);
        return error == ENOENT ? ENOENT : EINVAL;
    }
    free(out);
    if (size_gb > (UINT64_MAX >> 30)
        || (size_gb && (size_gb << 30) < (uint64_t) vsize)) {
        LOG_ERR("vmm: disk %s: %llu GiB is smaller than image %s (%lld "
                "bytes): give at least %lld GiB",
                path, (unsigned long long) size_gb, base, (long long) vsize,
                (long long) ((vsize + (1ll << 30) - 1) >> 30));
        json_decref(info);
        return EINVAL;
    }
    size_arg =
        xasprintf("%llu", (unsigned long long) (size_gb ? size_gb << 30
                                                        : (uint64_t) vsize));
    char *create_argv[] = {"qemu-img",    "create", "-q",
                           "-f",          "qcow2",  "-b",
                           (char *) base, "-F",     (char *) format,
                           (char *) path, size_arg, NULL};
    error = vmm_run(create_argv, &out);
    if (error) {
        char *line = vmm_last_line(out);

        LOG_ERR("vmm: disk %s: qemu-img create failed: %s", path, line);
        free(line);
        unlink(path);
    }
    free(out);
    free(size_arg);
    json_decref(info);
    return error;
}

/* Seeds. */

/* Writes 'text' to 'dir'/'name'. */
static int
vmm_write_in(const char *dir, const char *name, const char *text)
{
    char *path = xasprintf("%s/%s", dir, name);
    FILE *f = fopen(path, "we");
    int error = 0;

    if (f == NULL) {
        error = errno;
    } else {
        fputs(text, f);
        if (fclose(f)) {
            error = errno;
        }
    }
    free(path);
    return error;
}

/* 's' as a YAML double-quoted scalar, which is JSON's string syntax. */
static char *
vmm_yaml_string(const char *s)
{
    json_t *j = json_string(s);
    char *text = j ? json_dumps(j, JSON_ENCODE_ANY) : NULL;

    json_decref(j);
    return text ? text : xstrdup("\"\"");
}

int
vmm_seed_create(const char *path, const struct vmm_seed *seed)
{
    char dir[] = "/tmp/fabric-seed.XXXXXX";
    char *tmp = xasprintf("%s.tmp", path);
    size_t cap = 4096, len = 0;
    char *meta = xmalloc(cap);
    char *user = NULL;
    int error = 0;

#define APPEND(...)                                                           \
    do {                                                                      \
        int n_ = snprintf(meta + len, cap - len, __VA_ARGS__);                \
        if ((size_t) n_ >= cap - len) {                                       \
            cap = 2 * (len + n_ + 1);                                         \
            meta = xrealloc(meta, cap);                                       \
            snprintf(meta + len, cap - len, __VA_ARGS__);                     \
        }                                                                     \
        len += n_;                                                            \
    } while (0)

    if (seed->instance_id == NULL || seed->hostname == NULL
        || seed->instance_id[0] == '\0' || seed->hostname[0] == '\0') {
        LOG_ERR("vmm: seed %s: needs an instance id and a hostname", path);
        free(meta);
        free(tmp);
        return EINVAL;
    }
    /* cloud-init reads meta-data as YAML; the keys in "public-keys" are
     * what its NoCloud source hands to the default user. */
    char *q_id = vmm_yaml_string(seed->instance_id);
    char *q_host = vmm_yaml_string(seed->hostname);
    APPEND("instance-id: %s\nlocal-hostname: %s\n", q_id, q_host);
    free(q_id);
    free(q_host);
    if (seed->ssh_keys && seed->ssh_keys[0]) {
        APPEND("public-keys:\n");
        for (size_t i = 0; seed->ssh_keys[i]; i++) {
            char *q = vmm_yaml_string(seed->ssh_keys[i]);

            APPEND("  - %s\n", q);
            free(q);
        }
    }
    if (seed->user_data) {
        user = xstrdup(seed->user_data);
    } else {
        /* No user data of the caller's: a cloud-config that says the
         * hostname and keys again the way cloud-config spells them. */
        size_t ulen = 0, ucap = 4096;
        char *q = vmm_yaml_string(seed->hostname);

        user = xmalloc(ucap);
        ulen = snprintf(user, ucap, "#cloud-config\nhostname: %s\n", q);
        free(q);
        if (seed->ssh_keys && seed->ssh_keys[0]) {
            user = xrealloc(user, ucap += 32);
            ulen +=
                snprintf(user + ulen, ucap - ulen, "ssh_authorized_keys:\n");
            for (size_t i = 0; seed->ssh_keys[i]; i++) {
                q = vmm_yaml_string(seed->ssh_keys[i]);
                ucap += strlen(q) + 8;
                user = xrealloc(user, ucap);
                ulen += snprintf(user + ulen, ucap - ulen, "  - %s\n", q);
                free(q);
            }
        }
    }
#undef APPEND

    if (mkdtemp(dir) == NULL) {
        error = errno;
        LOG_ERR("vmm: seed %s: cannot make a temporary directory: %s", path,
                strerror(error));
        goto out;
    }
    error = vmm_write_in(dir, "meta-data", meta);
    error = error ? error : vmm_write_in(dir, "user-data", user);
    if (!error) {
        char *meta_path = xasprintf("%s/meta-data", dir);
        char *user_path = xasprintf("%s/user-data", dir);
        char *argv[] = {"genisoimage", "-quiet",  "-o", tmp,
                        "-V",          "cidata",  "-J", "-r",
                        meta_path,     user_path, NULL};
        char *out;

        error = vmm_run(argv, &out);
        if (error) {
            char *line = vmm_last_line(out);

            LOG_ERR("vmm: seed %s: genisoimage failed: %s", path,
                    error == ENOENT ? "not installed (run "
                                      "scripts/install-deps)"
                                    : line);
            free(line);
        } else if (rename(tmp, path)) {
            error = errno;
            LOG_ERR("vmm: seed %s: %s", path, strerror(error));
        }
        unlink(tmp);
        unlink(meta_path);
        unlink(user_path);
        free(out);
        free(meta_path);
        free(user_path);
    } else {
        LOG_ERR("vmm: seed %s: cannot write its files in %s: %s", path, dir,
                strerror(error));
        char *p = xasprintf("%s/meta-data", dir);
        unlink(p);
        free(p);
    }
    rmdir(dir);
out:
    free(meta);
    free(user);
    free(tmp);
    return error;
}

/* The KVM probe. */

/* This boot's id, in 'buf'. */
static void
vmm_boot_id(char buf[40])
{
    FILE *f = fopen("/proc/sys/kernel/random/boot_id", "re");

    buf[0] = '\0';
    if (f) {
        if (fgets(buf, 40, f) == NULL) {
            buf[0] = '\0';
        }
        buf[strcspn(buf, "\n")] = '\0';
        fclose(f);
    }
}

/* Opens /dev/kvm and makes a VM, the least KVM must do.  Returns NULL or
 * why not. */
static char *
vmm_kvm_device_check(void)
{
    int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    char *why = NULL;
    int version, vm;

    if (kvm < 0) {
        return xasprintf("/dev/kvm: %s", strerror(errno));
    }
    version = ioctl(kvm, KVM_GET_API_VERSION, 0);
    if (version != KVM_API_VERSION) {
        why = xasprintf("/dev/kvm: API version %d, not %d", version,
                        KVM_API_VERSION);
    } else if ((vm = ioctl(kvm, KVM_CREATE_VM, 0)) < 0) {
        why = xasprintf("/dev/kvm: cannot create a VM: %s", strerror(errno));
    } else {
        close(vm);
    }
    close(kvm);
    return why;
}

/* Boots Linux kernel 'kernel' under KVM without a root file system and
 * waits up to VMM_PROBE_TIMEOUT seconds for it to panic on the missing
 * root, its last act, then to reboot, which ends QEMU (-no-reboot).
 * Returns NULL or why it did not. */
static char *
vmm_kvm_boot_check(const char *kernel)
{
    char dir[] = "/tmp/fabric-kvm-probe.XXXXXX";
    char *log, *serial, *err, *text = NULL, *err_text = NULL, *why = NULL;
    int64_t deadline;
    pid_t pid;
    int status = 0;
    bool exited = false;

    if (mkdtemp(dir) == NULL) {
        return xasprintf("cannot make a directory for the KVM probe: %s",
                         strerror(errno));
    }
    log = xasprintf("%s/console", dir);
    err = xasprintf("%s/stderr", dir);
    serial = xasprintf("file:%s", log);
    char *argv[] = {"qemu-system-x86_64",
                    "-machine",
                    "pc,accel=kvm",
                    "-cpu",
                    "host",
                    "-m",
                    "128",
                    "-nodefaults",
                    "-no-user-config",
                    "-display",
                    "none",
                    "-no-reboot",
                    "-serial",
                    serial,
                    "-kernel",
                    (char *) kernel,
                    "-append",
                    "console=ttyS0 panic=-1 root=/dev/fabric-probe",
                    NULL};

    int err_fd = open(err, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

    pid = fork();
    if (pid == 0) {
        int null = open("/dev/null", O_RDWR);

        dup2(null, 0);
        dup2(null, 1);
        dup2(err_fd >= 0 ? err_fd : null, 2);
        close_range(3, ~0U, 0);
        execvp(argv[0], argv);
        _exit(127);
    }
    if (err_fd >= 0) {
        close(err_fd);
    }
    deadline = time_msec() + VMM_PROBE_TIMEOUT * 1000;
    while (pid > 0 && time_msec() < deadline) {
        pid_t r = waitpid(pid, &status, WNOHANG);

        if (r == pid) {
            exited = true;
            break;
        }
        usleep(50 * 1000);
    }
    if (pid > 0 && !exited) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
    }
    vmm_read_tail(log, 1 << 20, &text);
    vmm_read_tail(err, 4096, &err_text);
    if (pid < 0) {
        why = xasprintf("cannot fork: %s", strerror(errno));
    } else if (exited && WIFEXITED(status) && WEXITSTATUS(status) == 127) {
        why = xstrdup("qemu-system-x86_64 is not installed");
    } else if (text && strstr(text, "Kernel panic")) {
        why = NULL;
    } else if (!exited) {
        why = xasprintf("a test guest (Linux %s) did not finish booting "
                        "under KVM in %d s: KVM is there but cannot run "
                        "guests",
                        kernel, VMM_PROBE_TIMEOUT);
    } else {
        char *line = vmm_last_line(err_text ? err_text : "");

        why = xasprintf("a test guest (Linux %s) under KVM ended before it "
                        "finished booting%s%s",
                        kernel, line[0] ? ": " : "", line);
        free(line);
    }
    free(text);
    free(err_text);
    unlink(log);
    unlink(err);
    free(err);
    rmdir(dir);
    free(log);
    free(serial);
    return why;
}

/* The kernel the probe boots: 'kernel', else the running kernel's image,
 * else /vmlinuz.  NULL if none is readable. */
static char *
vmm_probe_kernel(const char *kernel)
{
    struct utsname u;
    char *path;

    if (kernel) {
        return access(kernel, R_OK) ? NULL : xstrdup(kernel);
    }
    uname(&u);
    path = xasprintf("/boot/vmlinuz-%s", u.release);
    if (access(path, R_OK) == 0) {
        return path;
    }
    free(path);
    return access("/vmlinuz", R_OK) ? NULL : xstrdup("/vmlinuz");
}

enum vmm_accel
vmm_accel_probe(const char *cache_dir, const char *kernel, char **whyp)
{
    char boot_id[40], *cache = NULL, *why, *path;
    enum vmm_accel accel = VMM_ACCEL_TCG;

    vmm_boot_id(boot_id);
    if (cache_dir) {
        char *text;

        cache = xasprintf("%s/accel-probe", cache_dir);
        /* The cache: boot id, accelerator and reason, one a line. */
        if (boot_id[0] && !read_file(cache, &text, NULL)) {
            char *id = strtok(text, "\n");
            char *name = strtok(NULL, "\n");
            char *reason = strtok(NULL, "\n");

            if (id && name && reason && !strcmp(id, boot_id)
                && (!strcmp(name, "kvm") || !strcmp(name, "tcg"))) {
                accel = !strcmp(name, "kvm") ? VMM_ACCEL_KVM : VMM_ACCEL_TCG;
                if (whyp) {
                    *whyp = xstrdup(reason);
                }
                free(text);
                free(cache);
                return accel;
            }
            free(text);
        }
    }

    why = vmm_kvm_device_check();
    if (why == NULL) {
        path = vmm_probe_kernel(kernel);
        if (path == NULL) {
            why = xasprintf("KVM not verified: no Linux kernel to boot a "
                            "test guest with (%s)",
                            kernel ? kernel
                                   : "/boot/vmlinuz-RELEASE or "
                                     "/vmlinuz");
        } else {
            why = vmm_kvm_boot_check(path);
            if (why == NULL) {
                accel = VMM_ACCEL_KVM;
                why =
                    xasprintf("/dev/kvm booted a test guest (Linux %s)", path);
            }
            free(path);
        }
    }
    if (cache && boot_id[0]) {
        char *text =
            xasprintf("%s\n%s\n%s\n", boot_id, vmm_accel_name(accel), why);

        mkdir(cache_dir, 0755);
        write_file_atomic(cache, text, strlen(text));
        free(text);
    }
    free(cache);
    if (whyp) {
        *whyp = why;
    } else {
        free(why);
    }
    return accel;
}
