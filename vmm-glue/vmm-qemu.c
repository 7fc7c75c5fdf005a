/* vmm-glue's QEMU driver: one daemonized qemu-system-x86_64 per VM, driven
 * over QMP, with no daemon of ours in between.
 *
 * Everything about VM NAME is in RUN_DIR/NAME/:
 *
 *     spec.json    the struct vmm_spec it was started with
 *     pid          QEMU's pidfile (-pidfile)
 *     qmp.sock     QEMU's QMP socket
 *     console.log  its serial console, since it was last started
 *     qemu.log     what QEMU printed on standard error when it started
 *     state        "stopping" while vmm_stop() works, "stopped" after it
 *                  or after the guest powered itself off
 *
 * so that a new process (a restarted agent) finds every VM with
 * vmm_list() and drives it as the old one did.  QEMU runs with
 * -no-shutdown: when the guest powers off, QEMU stays and says "shutdown",
 * which is how a guest's own power-off (shutoff) is told from a QEMU that
 * died (crashed). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "utils/log.h"
#include "utils/util.h"
#include "vmm-glue/qmp.h"
#include "vmm-glue/vmm-provider.h"

#define QEMU_QMP_TIMEOUT_MS 5000    /* A QMP command's deadline. */
#define QEMU_START_TIMEOUT_MS 30000 /* -daemonize returns by then. */
#define QEMU_QUIT_TIMEOUT_MS 5000   /* From "quit" to SIGKILL. */

struct vmm_qemu {
    struct vmm up; /* Must be first. */
    char *run_dir; /* Per-VM directories live here. */
    char *qemu;    /* The binary. */
};

static struct vmm_qemu *
vmm_qemu_cast(struct vmm *vmm)
{
    return (struct vmm_qemu *) vmm;
}

/* The path of 'file' of VM 'name'. */
static char *
qemu_path(const struct vmm_qemu *q, const char *name, const char *file)
{
    return file ? xasprintf("%s/%s/%s", q->run_dir, name, file)
                : xasprintf("%s/%s", q->run_dir, name);
}

static int
qemu_open(const struct vmm_options *options, struct vmm **vmmp)
{
    const char *qemu = options->qemu ? options->qemu : "qemu-system-x86_64";
    char *argv[] = {(char *) qemu, "-version", NULL};
    int error = vmm_run_dir_make("qemu", options->run_dir, 0700);
    struct vmm_qemu *q;
    char *out;

    if (error) {
        return error;
    }
    if (vmm_run(argv, &out)) {
        LOG_ERR("vmm: qemu: %s does not run: install qemu-system-x86 (or "
                "run scripts/install-deps)",
                qemu);
        free(out);
        return ENOENT;
    }
    free(out);
    q = xzalloc(sizeof *q);
    q->run_dir = xstrdup(options->run_dir);
    q->qemu = xstrdup(qemu);
    *vmmp = &q->up;
    return 0;
}

static void
qemu_close(struct vmm *vmm)
{
    struct vmm_qemu *q = vmm_qemu_cast(vmm);

    free(q->run_dir);
    free(q->qemu);
    free(q);
}

/* Reads VM 'name''s spec into 'spec'.  ENOENT if there is no such VM. */
static int
qemu_load_spec(const struct vmm_qemu *q, const char *name,
               struct vmm_spec *spec)
{
    char *path = qemu_path(q, name, "spec.json");
    json_t *json = json_load_file(path, 0, NULL);
    int error;

    if (json == NULL) {
        error = access(path, F_OK) ? ENOENT : EINVAL;
        if (error == EINVAL) {
            LOG_ERR("vmm: VM %s: %s is not valid JSON", name, path);
        }
        free(path);
        return error;
    }
    free(path);
    error = vmm_spec_from_json(json, spec);
    json_decref(json);
    return error;
}

/* Reads VM 'name''s state marker ("", "stopping", "stopped"). */
static void
qemu_get_marker(const struct vmm_qemu *q, const char *name, char buf[16])
{
    char *path = qemu_path(q, name, "state");
    char *text;

    buf[0] = '\0';
    if (!read_file(path, &text, NULL)) {
        snprintf(buf, 16, "%s", text);
        free(text);
    }
    free(path);
}

static void
qemu_set_marker(const struct vmm_qemu *q, const char *name, const char *m)
{
    char *path = qemu_path(q, name, "state");

    if (m) {
        write_file_atomic(path, m, strlen(m));
    } else {
        unlink(path);
    }
    free(path);
}

/* Whether process 'pid' is alive (not a zombie) and is the QEMU of the VM
 * with UUID 'uuid', not another process that got its pid since. */
static bool
qemu_pid_is_ours(int pid, const char *uuid)
{
    char path[64], *text, *p;
    size_t len;
    bool ours = false;

    if (pid <= 0) {
        return false;
    }
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    if (read_file(path, &text, NULL)) {
        return false;
    }
    p = strrchr(text, ')');
    if (p == NULL || p[1] == '\0' || p[2] == 'Z' || p[2] == 'X') {
        free(text);
        return false;
    }
    free(text);
    snprintf(path, sizeof path, "/proc/%d/cmdline", pid);
    if (read_file(path, &text, &len)) {
        return false;
    }
    for (p = text; p < text + len; p += strlen(p) + 1) {
        if (!strcmp(p, "-uuid") && p + strlen(p) + 1 < text + len
            && !strcmp(p + strlen(p) + 1, uuid)) {
            ours = true;
            break;
        }
    }
    free(text);
    return ours;
}

/* VM 'name''s QEMU pid, if its QEMU runs, else 0. */
static int
qemu_running_pid(const struct vmm_qemu *q, const char *name,
                 const struct vmm_spec *spec)
{
    char *path = qemu_path(q, name, "pid");
    char *text;
    int pid = 0;

    if (!read_file(path, &text, NULL)) {
        pid = atoi(text);
        free(text);
    }
    free(path);
    return qemu_pid_is_ours(pid, spec->uuid) ? pid : 0;
}

/* Connects to VM 'name''s QMP. */
static int
qemu_qmp(const struct vmm_qemu *q, const char *name, struct qmp **qmpp)
{
    char *path = qemu_path(q, name, "qmp.sock");
    int error = qmp_open(path, QEMU_QMP_TIMEOUT_MS, qmpp);

    if (error) {
        LOG_WARN("vmm: VM %s: QMP %s: %s", name, path, strerror(error));
    }
    free(path);
    return error;
}

/* Runs one QMP 'command' on VM 'name', logging QEMU's refusal. */
static int
qemu_command(const struct vmm_qemu *q, const char *name, const char *command,
             json_t *args, json_t **ret)
{
    struct qmp *qmp;
    int error = qemu_qmp(q, name, &qmp);

    if (error) {
        json_decref(args);
        return error;
    }
    error = qmp_execute(qmp, command, args, QEMU_QMP_TIMEOUT_MS, ret);
    if (error) {
        LOG_ERR("vmm: VM %s: %s: %s", name, command, qmp_error(qmp));
    }
    qmp_close(qmp);
    return error;
}

/* Waits up to 'timeout_ms' for process 'pid' to end. */
static bool
qemu_wait_gone(int pid, const char *uuid, int timeout_ms)
{
    int64_t deadline = time_msec() + timeout_ms;

    while (qemu_pid_is_ours(pid, uuid)) {
        if (time_msec() >= deadline) {
            return false;
        }
        /* When the agent started it, QEMU is our child until -daemonize's
         * fork; its daemon is reaped by init, or by us if we are a
         * subreaper. */
        waitpid(pid, NULL, WNOHANG);
        usleep(20 * 1000);
    }
    return true;
}

/* Ends VM 'name''s QEMU 'pid' now: "quit", then SIGKILL. */
static void
qemu_kill(const struct vmm_qemu *q, const char *name, int pid,
          const char *uuid)
{
    struct qmp *qmp;

    if (!qemu_qmp(q, name, &qmp)) {
        qmp_execute(qmp, "quit", NULL, 1000, NULL);
        qmp_close(qmp);
    }
    if (!qemu_wait_gone(pid, uuid, QEMU_QUIT_TIMEOUT_MS)) {
        LOG_WARN("vmm: VM %s: QEMU %d did not quit, killing it", name, pid);
        kill(pid, SIGKILL);
        qemu_wait_gone(pid, uuid, QEMU_QUIT_TIMEOUT_MS);
    }
}

/* The QMP run state of VM 'name' ("running", "shutdown", ...) in 'buf'. */
static int
qemu_run_state(const struct vmm_qemu *q, const char *name, char buf[32])
{
    json_t *ret;
    int error = qemu_command(q, name, "query-status", NULL, &ret);

    if (!error) {
        const char *s = json_string_value(json_object_get(ret, "status"));

        snprintf(buf, 32, "%s", s ? s : "");
        json_decref(ret);
    }
    return error;
}

/* Builds QEMU's command line for 'spec'. */
static char **
qemu_argv(const struct vmm_qemu *q, const struct vmm_spec *spec)
{
    size_t n = 0, cap = 64 + 4 * VMM_NICS_MAX;
    char **argv = xcalloc(cap, sizeof *argv);
    const char *name = spec->name;

#define ARG(...) (argv[n++] = xasprintf(__VA_ARGS__))
    ARG("%s", q->qemu);
    ARG("-name");
    ARG("guest=%s,process=fabric-vm-%s", name, name);
    ARG("-uuid");
    ARG("%s", spec->uuid);
    ARG("-machine");
    ARG("pc,accel=%s", vmm_accel_name(spec->accel));
    ARG("-cpu");
    ARG("%s", spec->accel == VMM_ACCEL_KVM ? "host" : "max");
    ARG("-smp");
    ARG("%u", spec->vcpus);
    ARG("-m");
    ARG("%llu", (unsigned long long) spec->memory_mb);
    ARG("-nodefaults");
    ARG("-no-user-config");
    ARG("-display");
    ARG("none");
    ARG("-no-shutdown");
    ARG("-chardev");
    ARG("file,id=console,path=%s/%s/console.log", q->run_dir, name);
    ARG("-serial");
    ARG("chardev:console");
    ARG("-qmp");
    ARG("unix:%s/%s/qmp.sock,server=on,wait=off", q->run_dir, name);
    ARG("-pidfile");
    ARG("%s/%s/pid", q->run_dir, name);
    ARG("-device");
    ARG("pvpanic");
    ARG("-drive");
    ARG("file=%s,if=none,id=disk0,format=qcow2,discard=unmap", spec->disk);
    ARG("-device");
    ARG("virtio-blk-pci,drive=disk0,bootindex=0");
    if (spec->seed) {
        ARG("-drive");
        ARG("file=%s,if=none,id=seed0,format=raw,readonly=on", spec->seed);
        ARG("-device");
        ARG("virtio-blk-pci,drive=seed0");
    }
    for (size_t i = 0; i < spec->n_nics; i++) {
        const struct vmm_nic *nic = &spec->nics[i];
        char mac[18];

        vmm_mac_format(nic->mac, mac);
        ARG("-netdev");
        ARG("tap,id=net%zu,ifname=%s,script=no,downscript=no", i, nic->device);
        ARG("-device");
        if (nic->mtu) {
            ARG("virtio-net-pci,netdev=net%zu,mac=%s,host_mtu=%u", i, mac,
                nic->mtu);
        } else {
            ARG("virtio-net-pci,netdev=net%zu,mac=%s", i, mac);
        }
    }
    if (spec->incoming) {
        ARG("-incoming");
        ARG("defer");
    }
    ARG("-daemonize");
#undef ARG
    argv[n] = NULL;
    return argv;
}

static void
qemu_argv_free(char **argv)
{
    for (size_t i = 0; argv[i]; i++) {
        free(argv[i]);
    }
    free(argv);
}

/* Runs 'argv' (QEMU with -daemonize) with standard error to 'log' and
 * waits for it to say whether the VM started. */
static int
qemu_spawn(char **argv, const char *log)
{
    int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    int64_t deadline = time_msec() + QEMU_START_TIMEOUT_MS;
    int status;
    pid_t pid;

    if (fd < 0) {
        return errno;
    }
    pid = fork();
    if (pid < 0) {
        int error = errno;

        close(fd);
        return error;
    }
    if (pid == 0) {
        /* Only async-signal-safe calls here; the VM must inherit none of
         * the agent's descriptors (its listening socket, BPF maps). */
        int null = open("/dev/null", O_RDWR);

        dup2(null, 0);
        dup2(null, 1);
        dup2(fd, 2);
        close_range(3, ~0U, 0);
        setsid();
        execvp(argv[0], argv);
        _exit(127);
    }
    close(fd);
    for (;;) {
        pid_t r = waitpid(pid, &status, WNOHANG);

        if (r == pid) {
            break;
        }
        if (r < 0 && errno != EINTR) {
            return errno;
        }
        if (time_msec() > deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            return ETIMEDOUT;
        }
        usleep(10 * 1000);
    }
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : EIO;
}

static int
qemu_start(struct vmm *vmm, const struct vmm_spec *spec)
{
    struct vmm_qemu *q = vmm_qemu_cast(vmm);
    const char *name = spec->name;
    struct vmm_spec old;
    char *dir = qemu_path(q, name, NULL);
    char *path, **argv, *text;
    json_t *json;
    int error;

    path = qemu_path(q, name, "qmp.sock");
    if (strlen(path) >= sizeof((struct sockaddr_un *) 0)->sun_path) {
        LOG_ERR("vmm: VM %s: QMP socket path %s is longer than a unix "
                "socket allows (%zu): use a shorter run directory",
                name, path, sizeof((struct sockaddr_un *) 0)->sun_path - 1);
        free(path);
        free(dir);
        return ENAMETOOLONG;
    }
    free(path);

    if (!qemu_load_spec(q, name, &old)) {
        int pid = qemu_running_pid(q, name, &old);

        vmm_spec_destroy(&old);
        if (pid) {
            LOG_ERR("vmm: VM %s runs already (QEMU pid %d): stop it first",
                    name, pid);
            free(dir);
            return EEXIST;
        }
    }
    if (mkdir(dir, 0700) && errno != EEXIST) {
        error = errno;
        LOG_ERR("vmm: VM %s: cannot make %s: %s", name, dir, strerror(error));
        free(dir);
        return error;
    }
    free(dir);

    /* A fresh start: the spec as given, no marker, no old console, no
     * stale socket or pidfile. */
    json = vmm_spec_to_json(spec);
    text = json_dumps(json, JSON_INDENT(2) | JSON_SORT_KEYS);
    json_decref(json);
    path = qemu_path(q, name, "spec.json");
    error = write_file_atomic(path, text, strlen(text));
    free(text);
    free(path);
    if (error) {
        LOG_ERR("vmm: VM %s: cannot write its spec: %s", name,
                strerror(error));
        return error;
    }
    qemu_set_marker(q, name, NULL);
    static const char *const stale[] = {"console.log", "qmp.sock", "pid"};
    for (size_t i = 0; i < ARRAY_SIZE(stale); i++) {
        path = qemu_path(q, name, stale[i]);
        unlink(path);
        free(path);
    }

    argv = qemu_argv(q, spec);
    path = qemu_path(q, name, "qemu.log");
    error = qemu_spawn(argv, path);
    qemu_argv_free(argv);
    if (error) {
        char *out = NULL, *line;

        vmm_read_tail(path, 4096, &out);
        line = vmm_last_line(out ? out : "");
        LOG_ERR("vmm: VM %s: QEMU did not start: %s", name,
                line[0] ? line : strerror(error));
        free(line);
        free(out);
        qemu_set_marker(q, name, "stopped");
    }
    free(path);
    return error;
}

static int
qemu_stop(struct vmm *vmm, const char *name, int timeout)
{
    struct vmm_qemu *q = vmm_qemu_cast(vmm);
    struct vmm_spec spec;
    int error = qemu_load_spec(q, name, &spec);
    char state[32] = "";
    int pid;

    if (error) {
        return error;
    }
    pid = qemu_running_pid(q, name, &spec);
    /* Only a running guest can answer the power button: a paused one
     * (waiting for a migration, or done with one) is forced off at once
     * rather than after the whole timeout. */
    if (pid && timeout > 0 && !qemu_run_state(q, name, state)
        && !strcmp(state, "running")) {
        qemu_set_marker(q, name, "stopping");
        if (!qemu_command(q, name, "system_powerdown", NULL, NULL)) {
            int64_t deadline = time_msec() + timeout * 1000LL;

            while (time_msec() < deadline && qemu_pid_is_ours(pid, spec.uuid)
                   && !qemu_run_state(q, name, state)
                   && strcmp(state, "shutdown")) {
                usleep(100 * 1000);
            }
        }
        if (strcmp(state, "shutdown")) {
            LOG_WARN("vmm: VM %s did not power off within %d s of ACPI "
                     "power-down: forcing it off",
                     name, timeout);
        }
    }
    qemu_set_marker(q, name, "stopped");
    if (pid) {
        qemu_kill(q, name, pid, spec.uuid);
    }
    vmm_spec_destroy(&spec);
    return 0;
}

static int
qemu_reboot(struct vmm *vmm, const char *name)
{
    struct vmm_qemu *q = vmm_qemu_cast(vmm);
    struct vmm_spec spec;
    int error = qemu_load_spec(q, name, &spec);

    if (error) {
        return error;
    }
    if (!qemu_running_pid(q, name, &spec)) {
        LOG_ERR("vmm: VM %s is not running: start it instead of rebooting "
                "it",
                name);
        error = EINVAL;
    } else {
        error = qemu_command(q, name, "system_reset", NULL, NULL);
    }
    vmm_spec_destroy(&spec);
    return error;
}

static int
qemu_destroy(struct vmm *vmm, const char *name)
{
    struct vmm_qemu *q = vmm_qemu_cast(vmm);
    int error = qemu_stop(vmm, name, 0);
    char *dir;

    if (error) {
        return error;
    }
    dir = qemu_path(q, name, NULL);
    remove_dir_flat(dir);
    free(dir);
    return 0;
}

static int
qemu_status(struct vmm *vmm, const char *name, struct vmm_status *status)
{
    struct vmm_qemu *q = vmm_qemu_cast(vmm);
    struct vmm_spec spec;
    char marker[16], state[32];
    int error = qemu_load_spec(q, name, &spec);
    int pid;

    if (error) {
        return error;
    }
    qemu_get_marker(q, name, marker);
    pid = qemu_running_pid(q, name, &spec);
    if (!pid) {
        /* Gone: asked to (or it never started), or it died on its own. */
        status->state = (!strcmp(marker, "stopped") ? VMM_STATE_SHUTOFF
                                                    : VMM_STATE_CRASHED);
    } else if (qemu_run_state(q, name, state)) {
        /* Alive but QMP does not answer: a hung QEMU is not running. */
        status->state = VMM_STATE_CRASHED;
        status->pid = pid;
    } else if (!strcmp(state, "shutdown")) {
        /* The guest powered off.  Unless vmm_stop() is on it, end QEMU
         * here: a powered-off guest has no use for it. */
        status->state = VMM_STATE_SHUTOFF;
        if (strcmp(marker, "stopping")) {
            qemu_set_marker(q, name, "stopped");
            qemu_kill(q, name, pid, spec.uuid);
        }
    } else {
        status->pid = pid;
        vmm_proc_usage(pid, status);
        if (!strcmp(state, "running")) {
            status->state = (!strcmp(marker, "stopping") ? VMM_STATE_SHUTDOWN
                                                         : VMM_STATE_RUNNING);
        } else if (!strcmp(state, "guest-panicked")
                   || !strcmp(state, "internal-error")) {
            status->state = VMM_STATE_CRASHED;
        } else {
            status->state = VMM_STATE_PAUSED;
        }
    }
    vmm_spec_destroy(&spec);
    return 0;
}

static int
qemu_list(struct vmm *vmm, vmm_list_cb *cb, void *aux)
{
    struct vmm_qemu *q = vmm_qemu_cast(vmm);
    DIR *d = opendir(q->run_dir);
    struct dirent *de;

    if (d == NULL) {
        return errno;
    }
    while ((de = readdir(d))) {
        char *path;

        if (de->d_name[0] == '.') {
            continue;
        }
        path = qemu_path(q, de->d_name, "spec.json");
        if (access(path, F_OK) == 0) {
            cb(de->d_name, aux);
        }
        free(path);
    }
    closedir(d);
    return 0;
}

static int
qemu_console(struct vmm *vmm, const char *name, size_t max, char **text)
{
    struct vmm_qemu *q = vmm_qemu_cast(vmm);
    char *path = qemu_path(q, name, "spec.json");
    bool known = access(path, F_OK) == 0;

    free(path);
    return known ? vmm_console_file(q->run_dir, name, max, text) : ENOENT;
}

/* Runs 'command' on running VM 'name'. */
static int
qemu_running_command(struct vmm_qemu *q, const char *name, const char *command,
                     json_t *args, json_t **ret)
{
    struct vmm_spec spec;
    int error = qemu_load_spec(q, name, &spec);

    if (error) {
        json_decref(args);
        return error;
    }
    if (!qemu_running_pid(q, name, &spec)) {
        LOG_ERR("vmm: VM %s: %s: its QEMU does not run", name, command);
        json_decref(args);
        error = EINVAL;
    } else {
        error = qemu_command(q, name, command, args, ret);
    }
    vmm_spec_destroy(&spec);
    return error;
}

static int
qemu_migrate_in(struct vmm *vmm, const char *name, const char *uri)
{
    return qemu_running_command(vmm_qemu_cast(vmm), name, "migrate-incoming",
                                json_pack("{s:s}", "uri", uri), NULL);
}

static int
qemu_migrate_out(struct vmm *vmm, const char *name, const char *uri)
{
    return qemu_running_command(vmm_qemu_cast(vmm), name, "migrate",
                                json_pack("{s:s}", "uri", uri), NULL);
}

static int
qemu_migration(struct vmm *vmm, const char *name, struct vmm_migration *m)
{
    json_t *ret, *ram;
    const char *status, *error_desc;
    int error = qemu_running_command(vmm_qemu_cast(vmm), name, "query-migrate",
                                     NULL, &ret);

    if (error) {
        return error;
    }
    status = json_string_value(json_object_get(ret, "status"));
    status = status ? status : "none";
    snprintf(m->status, sizeof m->status, "%s", status);
    m->completed = !strcmp(status, "completed");
    m->failed = !strcmp(status, "failed") || !strcmp(status, "cancelled");
    m->active = !m->completed && !m->failed && strcmp(status, "none");
    m->pre_switchover = !strcmp(status, "pre-switchover");
    ram = json_object_get(ret, "ram");
    m->transferred = json_integer_value(json_object_get(ram, "transferred"));
    m->remaining = json_integer_value(json_object_get(ram, "remaining"));
    m->total = json_integer_value(json_object_get(ram, "total"));
    m->downtime_ms = json_integer_value(
        json_object_get(ret, m->completed ? "downtime" : "expected-downtime"));
    m->total_ms = json_integer_value(json_object_get(ret, "total-time"));
    if (m->completed && json_object_get(ret, "total-time") && !m->total_ms) {
        /* The source's QEMU says "completed" a moment before it computes
         * the times: a query in between reads 0 for both (the agent
         * reported a downtime of 0 ms).  It is not over until they are
         * there.  (A destination's answer has no times at all.) */
        m->completed = false;
        m->active = true;
    }
    error_desc = json_string_value(json_object_get(ret, "error-desc"));
    snprintf(m->error, sizeof m->error, "%s",
             error_desc ? error_desc : (m->failed ? status : ""));
    json_decref(ret);
    return 0;
}

static int
qemu_migrate_set(struct vmm *vmm, const char *name,
                 const struct vmm_migrate_params *p)
{
    struct vmm_qemu *q = vmm_qemu_cast(vmm);
    json_t *caps, *params;
    int error;

    caps = json_pack("{s:[{s:s,s:b},{s:s,s:b},{s:s,s:b}]}", "capabilities",
                     "capability", "events", "state", 1, "capability",
                     "auto-converge", "state", p->auto_converge, "capability",
                     "pause-before-switchover", "state",
                     p->pause_before_switchover);
    error =
        qemu_running_command(q, name, "migrate-set-capabilities", caps, NULL);
    if (error) {
        return error;
    }
    /* QEMU takes a max-bandwidth of 0 for no limit. */
    params =
        json_pack("{s:I}", "max-bandwidth", (json_int_t) p->max_bandwidth);
    if (p->downtime_ms) {
        json_object_set_new(params, "downtime-limit",
                            json_integer(p->downtime_ms));
    }
    return qemu_running_command(q, name, "migrate-set-parameters", params,
                                NULL);
}

static int
qemu_migrate_continue(struct vmm *vmm, const char *name)
{
    return qemu_running_command(vmm_qemu_cast(vmm), name, "migrate-continue",
                                json_pack("{s:s}", "state", "pre-switchover"),
                                NULL);
}

static int
qemu_migrate_cancel(struct vmm *vmm, const char *name)
{
    return qemu_running_command(vmm_qemu_cast(vmm), name, "migrate_cancel",
                                NULL, NULL);
}

const struct vmm_class vmm_qemu_class = {
    .type = "qemu",
    .open = qemu_open,
    .close = qemu_close,
    .start = qemu_start,
    .stop = qemu_stop,
    .reboot = qemu_reboot,
    .destroy = qemu_destroy,
    .status = qemu_status,
    .list = qemu_list,
    .console = qemu_console,
    .migrate_in = qemu_migrate_in,
    .migrate_out = qemu_migrate_out,
    .migration = qemu_migration,
    .migrate_set = qemu_migrate_set,
    .migrate_continue = qemu_migrate_continue,
    .migrate_cancel = qemu_migrate_cancel,
};
