/* One story, told to each vmm-glue driver (the type in $VMM_TEST_TYPE) with
 * a real guest: the tiny test image under the accelerator the probe picks
 * (TCG on a machine whose KVM cannot run guests).
 *
 * Bad input first, which must leave nothing behind: a missing image, a
 * disk smaller than its image, a disk that exists, zero vCPUs or memory, a
 * missing tap, a bad name, an unknown driver.  Then one guest, shared by
 * the checks that follow to keep the story short at TCG speed: its disk is
 * a qcow2 overlay on the image and its NoCloud seed names it "vmm-web1";
 * it boots and says so on its console with that hostname (its tap has no
 * DHCP server, so the line is "dhcp failed"); it runs and has used CPU; a
 * second start of the same name is refused; a new driver handle finds it
 * (same pid, still running) and reboots it; an ACPI stop powers it off well
 * before the timeout; it starts again; it migrates live to a second VM
 * waiting on the same disk, once cancelled while paused before its
 * switch-over (it runs on), once continued from there (QEMU driver;
 * libvirt refuses the hooks); a
 * guest that powers itself off is shut off, not crashed; its
 * process is killed behind the driver's back and the driver calls that a
 * crash, not a shutoff; destroy forgets it and leaves the caller's disk and
 * seed.
 *
 * The wrapper (tests/vmm/qemu.sh, libvirt.sh) makes the tap, the image and
 * the directories, and passes them in $VMM_TEST_TAP, $VMM_TEST_IMAGE,
 * $VMM_TEST_KERNEL and $VMM_TEST_DIR. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "utils/util.h"
#include "vmm-glue/qmp.h"
#include "vmm-glue/vmm.h"

#define BOOT_TIMEOUT_MS (180 * 1000) /* TCG on a loaded machine is slow. */
#define VM "vmm-web1"
#define VM_DST "vmm-web1-dst" /* Where VM migrates to. */

static const char *type, *tap, *tap2, *image, *kernel, *dir, *instance;
static struct vmm *vmm;
static struct vmm_spec spec;
static enum vmm_accel accel;
static int first_pid;

static char *
path_in(const char *name)
{
    return xasprintf("%s/%s", dir, name);
}

static bool
exists(const char *path)
{
    return access(path, F_OK) == 0;
}

/* Whether process 'pid' runs (a zombie that its new parent has not reaped
 * yet does not). */
static bool
alive(int pid)
{
    char path[64], *text, *p;
    bool running;

    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    if (pid <= 1 || read_file(path, &text, NULL)) {
        return false;
    }
    p = strrchr(text, ')');
    running = p && p[1] && p[2] != 'Z' && p[2] != 'X';
    free(text);
    return running;
}

static struct vmm *
open_driver(void)
{
    char *run_dir = path_in("run");
    struct vmm_options options = {
        .type = type, .run_dir = run_dir, .instance = instance};
    struct vmm *v;

    assert_int_equal(vmm_open(&options, &v), 0);
    free(run_dir);
    return v;
}

/* How many times 'needle' appears on VM 'name''s console. */
static int
console_count_of(const char *name, const char *needle)
{
    char *text;
    int n = 0;

    assert_int_equal(vmm_console(vmm, name, 1 << 20, &text), 0);
    for (const char *p = text; (p = strstr(p, needle)); p++) {
        n++;
    }
    free(text);
    return n;
}

static int
console_count(const char *needle)
{
    return console_count_of(VM, needle);
}

/* Waits for the 'n'th 'needle' on VM 'name''s console; returns the seconds
 * it took. */
static double
wait_console_of(const char *name, const char *needle, int n)
{
    int64_t start = time_msec();

    while (console_count_of(name, needle) < n) {
        if (time_msec() - start > BOOT_TIMEOUT_MS) {
            char *text;

            vmm_console(vmm, name, 4096, &text);
            fail_msg("no %d x \"%s\" on the console after %d s; it says:\n%s",
                     n, needle, BOOT_TIMEOUT_MS / 1000, text);
        }
        usleep(250 * 1000);
    }
    return (time_msec() - start) / 1000.0;
}

static double
wait_console(const char *needle, int n)
{
    return wait_console_of(VM, needle, n);
}

static void
list_cb(const char *name, void *aux)
{
    if (!strcmp(name, VM)) {
        (*(int *) aux)++;
    }
}

static int
count_listed(void)
{
    int n = 0;

    assert_int_equal(vmm_list(vmm, list_cb, &n), 0);
    return n;
}

static void
make_spec(struct vmm_spec *s)
{
    memset(s, 0, sizeof *s);
    s->name = xstrdup(VM);
    /* Of this run's own: libvirtd is machine-wide. */
    snprintf(s->uuid, sizeof s->uuid, "0f1e2d3c-4b5a-6978-8796-%012x",
             (unsigned int) getpid());
    s->vcpus = 1;
    s->memory_mb = 128;
    s->disk = path_in("web1.qcow2");
    s->seed = path_in("web1.seed.iso");
    s->n_nics = 1;
    s->nics[0].device = xstrdup(tap);
    memcpy(s->nics[0].mac, (uint8_t[6]){0x02, 0x00, 0x5e, 0x10, 0x00, 0x01},
           6);
    s->nics[0].mtu = 1450;
    s->accel = accel;
}

/* The probe answers within its bound, says why, and is cached per boot. */
static void
test_accel_probe(void **state)
{
    char *why, *why2, *cache = path_in("probe");
    int64_t t0 = time_msec();
    enum vmm_accel a2;

    accel = vmm_accel_probe(cache, kernel, &why);
    assert_true(time_msec() - t0 < (VMM_PROBE_TIMEOUT + 10) * 1000);
    assert_non_null(why);
    assert_true(strlen(why) > 10);
    printf("# accel %s: %s\n", vmm_accel_name(accel), why);

    t0 = time_msec();
    a2 = vmm_accel_probe(cache, kernel, &why2);
    assert_true(time_msec() - t0 < 1000);
    assert_int_equal(a2, accel);
    assert_string_equal(why2, why);
    free(why2);

    /* A cache of another boot is not believed. */
    char *file = xasprintf("%s/accel-probe", cache);
    const char *stale = "not-this-boot\nkvm\nstale verdict\n";
    assert_int_equal(write_file_atomic(file, stale, strlen(stale)), 0);
    a2 = vmm_accel_probe(cache, kernel, &why2);
    assert_int_equal(a2, accel);
    assert_string_not_equal(why2, "stale verdict");
    free(why2);
    free(file);

    /* No kernel to boot: TCG, and why. */
    assert_int_equal(vmm_accel_probe(NULL, "/nonexistent/vmlinuz", &why2),
                     VMM_ACCEL_TCG);
    assert_non_null(strstr(why2, "/nonexistent/vmlinuz"));
    free(why2);
    free(why);
    free(cache);
}

static void
test_bad_input(void **state)
{
    char *disk = path_in("bad.qcow2"), *big = path_in("big.raw");
    struct vmm_options options = {.type = "xen", .run_dir = dir};
    struct vmm_spec s;
    struct vmm_status st;
    struct vmm *v;

    assert_int_equal(vmm_open(&options, &v), EAFNOSUPPORT);
    assert_int_equal(vmm_disk_create(disk, "/nonexistent/tiny.qcow2", 1),
                     ENOENT);
    assert_false(exists(disk));

    /* An image of 2 GiB cannot back a disk of 1 GiB. */
    char *argv_cmd = xasprintf("qemu-img create -q -f raw %s 2G", big);
    assert_int_equal(system(argv_cmd), 0);
    free(argv_cmd);
    assert_int_equal(vmm_disk_create(disk, big, 1), EINVAL);
    assert_false(exists(disk));
    assert_int_equal(vmm_disk_create(disk, big, 3), 0);
    assert_int_equal(vmm_disk_create(disk, big, 3), EEXIST);
    unlink(disk);
    unlink(big);

    /* Not an image at all. */
    assert_int_equal(vmm_disk_create(disk, "/proc/self/status", 1), EINVAL);
    assert_false(exists(disk));

    struct vmm_seed bad_seed = {.instance_id = "x", .hostname = ""};
    char *seed = path_in("bad.iso");
    assert_int_equal(vmm_seed_create(seed, &bad_seed), EINVAL);
    assert_false(exists(seed));
    free(seed);

    make_spec(&s);
    /* The disk does not exist yet. */
    assert_int_equal(vmm_start(vmm, &s), ENOENT);
    assert_int_equal(vmm_disk_create(s.disk, image, 1), 0);
    struct vmm_seed good = {.instance_id = s.uuid, .hostname = VM};
    assert_int_equal(vmm_seed_create(s.seed, &good), 0);

    s.vcpus = 0;
    assert_int_equal(vmm_start(vmm, &s), EINVAL);
    s.vcpus = 1;
    s.memory_mb = 0;
    assert_int_equal(vmm_start(vmm, &s), EINVAL);
    s.memory_mb = 10ull << 30; /* 10 PiB. */
    assert_int_equal(vmm_start(vmm, &s), EINVAL);
    s.memory_mb = 128;
    free(s.nics[0].device);
    s.nics[0].device = xstrdup("fvmissing0");
    assert_int_equal(vmm_start(vmm, &s), ENOENT);
    free(s.name);
    s.name = xstrdup("Bad_Name");
    assert_int_equal(vmm_start(vmm, &s), EINVAL);
    assert_int_equal(vmm_stop(vmm, "../../etc", 0), EINVAL);

    /* Nothing of those attempts is left. */
    assert_int_equal(count_listed(), 0);
    assert_int_equal(vmm_status(vmm, VM, &st), ENOENT);
    assert_int_equal(vmm_stop(vmm, VM, 0), ENOENT);
    assert_int_equal(vmm_reboot(vmm, VM), ENOENT);
    vmm_spec_destroy(&s);
    free(disk);
    free(big);
}

static void
test_boot(void **state)
{
    struct vmm_status st;

    make_spec(&spec);
    assert_true(exists(spec.disk));
    double s;

    int64_t t0 = time_msec();
    assert_int_equal(vmm_start(vmm, &spec), 0);
    double start_s = (time_msec() - t0) / 1000.0;
    s = wait_console("fabric-test-image: dhcp failed " VM, 1);
    printf("# %s: vmm_start() took %.1f s, the guest was up %.1f s later "
           "(%s)\n",
           type, start_s, s, vmm_accel_name(accel));
    assert_int_equal(vmm_status(vmm, VM, &st), 0);
    assert_int_equal(st.state, VMM_STATE_RUNNING);
    assert_true(st.pid > 0);
    assert_true(st.cpu_time_ns > 0);
    assert_true(st.memory_kb > 1024);
    assert_true(st.started_at > 1000000000);
    first_pid = st.pid;
    assert_int_equal(count_listed(), 1);

    /* Its disk is an overlay of the image, not a copy. */
    char *cmd = xasprintf("qemu-img info -U %s | grep -q 'backing file: %s'",
                          spec.disk, image);
    assert_int_equal(system(cmd), 0);
    free(cmd);
}

static void
test_duplicate(void **state)
{
    assert_int_equal(vmm_start(vmm, &spec), EEXIST);
}

static void
test_reattach(void **state)
{
    struct vmm_status st;

    vmm_close(vmm);
    vmm = open_driver();
    assert_int_equal(count_listed(), 1);
    assert_int_equal(vmm_status(vmm, VM, &st), 0);
    assert_int_equal(st.state, VMM_STATE_RUNNING);
    assert_int_equal(st.pid, first_pid);
}

static void
test_reboot(void **state)
{
    struct vmm_status st;

    assert_int_equal(vmm_reboot(vmm, VM), 0);
    wait_console("fabric-test-image: dhcp failed " VM, 2);
    assert_int_equal(vmm_status(vmm, VM, &st), 0);
    assert_int_equal(st.state, VMM_STATE_RUNNING);
    assert_int_equal(st.pid, first_pid);
}

static void
test_acpi_stop(void **state)
{
    struct vmm_status st;
    int64_t t0 = time_msec();

    assert_int_equal(vmm_stop(vmm, VM, VMM_STOP_TIMEOUT), 0);
    /* The guest powered itself off: no wait for the timeout. */
    assert_true(time_msec() - t0 < (VMM_STOP_TIMEOUT - 5) * 1000);
    assert_int_equal(console_count("power button, powering off"), 1);
    assert_int_equal(vmm_status(vmm, VM, &st), 0);
    assert_int_equal(st.state, VMM_STATE_SHUTOFF);
    assert_int_equal(st.pid, 0);
    assert_false(alive(first_pid));
    assert_int_equal(vmm_reboot(vmm, VM), EINVAL);
    /* Stopping a stopped VM is no error. */
    assert_int_equal(vmm_stop(vmm, VM, VMM_STOP_TIMEOUT), 0);
}

static void
test_start_again(void **state)
{
    struct vmm_status st;

    assert_int_equal(vmm_start(vmm, &spec), 0);
    wait_console("fabric-test-image: dhcp failed " VM, 1);
    assert_int_equal(vmm_status(vmm, VM, &st), 0);
    assert_int_equal(st.state, VMM_STATE_RUNNING);
    assert_int_not_equal(st.pid, first_pid);
    first_pid = st.pid;
}

/* The spec of VM_DST: VM's, on the second tap, with a UUID of its own. */
static void
make_dst_spec(struct vmm_spec *s)
{
    make_spec(s);
    free(s->name);
    s->name = xstrdup(VM_DST);
    s->uuid[0] = 'a';
    free(s->nics[0].device);
    s->nics[0].device = xstrdup(tap2);
}

/* Waits for the outgoing migration of VM to pause before its switch-over,
 * polling as often as an agent does, and fills in '*m'. */
static void
wait_pre_switchover(struct vmm_migration *m)
{
    int64_t t0 = time_msec();

    do {
        assert_true(time_msec() - t0 < 60000);
        usleep(5 * 1000);
        assert_int_equal(vmm_migration(vmm, VM, m), 0);
        assert_false(m->failed);
        assert_false(m->completed);
    } while (!m->pre_switchover);
    assert_true(m->active);
    assert_string_equal(m->status, "pre-switchover");
}

/* A live migration through the hooks, on one host: a second VM on the
 * same disk (shared storage) waits paused for it, VM's memory goes there
 * over TCP, and the destination runs the guest while the source stays
 * paused.  Bad parameters are refused, and so is a continue with nothing
 * to continue.  A first migration, paused before its switch-over, is
 * cancelled there: the source runs on and the destination's QEMU ends.  A
 * second one waits at the switch-over until continued, then completes,
 * QEMU's downtime counting the wait.  The libvirt driver refuses the
 * hooks. */
static void
test_migrate(void **state)
{
    struct vmm_spec dst;
    struct vmm_status st, st2;
    struct vmm_migration m;
    struct vmm_migrate_params params = {.auto_converge = true,
                                        .pause_before_switchover = true};
    char uri[64];
    int64_t t0;

    make_dst_spec(&dst);
    dst.incoming = true;
    snprintf(uri, sizeof uri, "tcp:127.0.0.1:%d", 20000 + getpid() % 20000);

    if (!strcmp(type, "libvirt")) {
        assert_int_equal(vmm_start(vmm, &dst), EOPNOTSUPP);
        assert_int_equal(vmm_migrate_out(vmm, VM, uri), EOPNOTSUPP);
        assert_int_equal(vmm_migrate_set(vmm, VM, &params), EOPNOTSUPP);
        assert_int_equal(vmm_migrate_continue(vmm, VM), EOPNOTSUPP);
        assert_int_equal(vmm_migrate_cancel(vmm, VM), EOPNOTSUPP);
        vmm_spec_destroy(&dst);
        return;
    }
    assert_int_equal(vmm_migrate_out(vmm, VM, "udp:1.2.3.4"), EINVAL);
    assert_int_equal(vmm_migrate_in(vmm, VM, "tcp:127.0.0.1:"), EINVAL);
    assert_int_equal(vmm_start(vmm, &dst), 0);
    assert_int_equal(vmm_status(vmm, VM_DST, &st), 0);
    assert_int_equal(st.state, VMM_STATE_PAUSED);
    /* A paused guest cannot answer the power button: it is forced off at
     * once, not after the timeout.  Then it waits again. */
    t0 = time_msec();
    assert_int_equal(vmm_stop(vmm, VM_DST, VMM_STOP_TIMEOUT), 0);
    assert_true(time_msec() - t0 < 10000);
    assert_int_equal(vmm_status(vmm, VM_DST, &st), 0);
    assert_int_equal(st.state, VMM_STATE_SHUTOFF);
    params.downtime_ms = VMM_DOWNTIME_MAX_MS + 1;
    assert_int_equal(vmm_migrate_set(vmm, VM, &params), EINVAL);
    params.downtime_ms = 100;
    assert_int_equal(vmm_migrate_continue(vmm, VM), EIO);
    assert_int_equal(vmm_migrate_cancel(vmm, VM), 0);

    /* Paused before the switch-over, then cancelled: the source guest
     * runs on, and the destination's QEMU, whose incoming stream broke,
     * ends. */
    assert_int_equal(vmm_start(vmm, &dst), 0);
    assert_int_equal(vmm_migrate_in(vmm, VM_DST, uri), 0);
    assert_int_equal(vmm_migrate_set(vmm, VM, &params), 0);
    assert_int_equal(vmm_migrate_out(vmm, VM, uri), 0);
    wait_pre_switchover(&m);
    assert_int_equal(vmm_status(vmm, VM, &st), 0);
    assert_int_equal(st.state, VMM_STATE_PAUSED);
    assert_int_equal(vmm_migrate_cancel(vmm, VM), 0);
    t0 = time_msec();
    do {
        assert_true(time_msec() - t0 < 30000);
        usleep(20 * 1000);
        assert_int_equal(vmm_migration(vmm, VM, &m), 0);
    } while (m.active);
    assert_true(m.failed);
    assert_string_equal(m.status, "cancelled");
    assert_int_equal(vmm_status(vmm, VM, &st), 0);
    assert_int_equal(st.state, VMM_STATE_RUNNING);
    t0 = time_msec();
    do {
        assert_true(time_msec() - t0 < 30000);
        usleep(100 * 1000);
        assert_int_equal(vmm_status(vmm, VM_DST, &st), 0);
    } while (st.state == VMM_STATE_PAUSED);
    assert_int_equal(st.state, VMM_STATE_CRASHED);

    /* Again, continued from the switch-over this time: QEMU waits there
     * for as long as the caller takes, and then completes. */
    assert_int_equal(vmm_start(vmm, &dst), 0);
    assert_int_equal(vmm_migrate_in(vmm, VM_DST, uri), 0);
    assert_int_equal(vmm_migrate_out(vmm, VM, uri), 0);
    t0 = time_msec();
    wait_pre_switchover(&m);
    usleep(300 * 1000);
    assert_int_equal(vmm_migration(vmm, VM, &m), 0);
    assert_true(m.pre_switchover && m.active);
    assert_int_equal(vmm_migrate_continue(vmm, VM), 0);
    do {
        assert_true(time_msec() - t0 < 60000);
        usleep(20 * 1000);
        assert_int_equal(vmm_migration(vmm, VM, &m), 0);
        assert_false(m.failed);
    } while (!m.completed);
    printf("# migrated %llu of %llu bytes in %.1f s (QEMU: %llu ms), "
           "downtime %llu ms\n",
           (unsigned long long) m.transferred, (unsigned long long) m.total,
           (time_msec() - t0) / 1000.0, (unsigned long long) m.total_ms,
           (unsigned long long) m.downtime_ms);
    assert_true(m.transferred > 0);
    assert_true(m.total >= 128ull << 20);
    /* The pause before the switch-over counts in QEMU's downtime. */
    assert_true(m.downtime_ms >= 300);
    assert_true(m.total_ms >= m.downtime_ms);

    assert_int_equal(vmm_status(vmm, VM, &st), 0);
    assert_int_equal(st.state, VMM_STATE_PAUSED);
    for (int i = 0; i < 50; i++) {
        assert_int_equal(vmm_status(vmm, VM_DST, &st), 0);
        if (st.state == VMM_STATE_RUNNING) {
            break;
        }
        usleep(100 * 1000);
    }
    assert_int_equal(st.state, VMM_STATE_RUNNING);
    /* The guest runs there: its CPU time grows. */
    usleep(1000 * 1000);
    assert_int_equal(vmm_status(vmm, VM_DST, &st2), 0);
    assert_true(st2.cpu_time_ns > st.cpu_time_ns);
    vmm_spec_destroy(&dst);
}

/* Waits for VM 'name' to leave state 'state'; returns its new status. */
static struct vmm_status
wait_state_change(const char *name, enum vmm_state state)
{
    struct vmm_status st;
    int64_t t0 = time_msec();

    do {
        assert_true(time_msec() - t0 < 30000);
        usleep(100 * 1000);
        assert_int_equal(vmm_status(vmm, name, &st), 0);
    } while (st.state == state);
    return st;
}

/* A guest that powers itself off (here: its power button pressed behind
 * the driver's back) is shut off, not crashed, and its QEMU ends.  With
 * the QEMU driver that guest is the one that migrated; libvirt boots one. */
static void
test_guest_poweroff(void **state)
{
    struct vmm_status st;
    int pid;

    if (!strcmp(type, "libvirt")) {
        struct vmm_spec dst;
        char *cmd;

        make_dst_spec(&dst);
        free(dst.disk);
        dst.disk = path_in("dst.qcow2");
        assert_int_equal(vmm_disk_create(dst.disk, image, 0), 0);
        assert_int_equal(vmm_start(vmm, &dst), 0);
        vmm_spec_destroy(&dst);
        wait_console_of(VM_DST, "fabric-test-image: dhcp failed " VM, 1);
        assert_int_equal(vmm_status(vmm, VM_DST, &st), 0);
        pid = st.pid;
        cmd = xasprintf("virsh -q -c qemu:///system shutdown --mode acpi "
                        "%s-%s >/dev/null",
                        instance, VM_DST);
        assert_int_equal(system(cmd), 0);
        free(cmd);
    } else {
        char *sock = path_in("run/" VM_DST "/qmp.sock");
        struct qmp *qmp;

        assert_int_equal(vmm_status(vmm, VM_DST, &st), 0);
        pid = st.pid;
        assert_int_equal(qmp_open(sock, 5000, &qmp), 0);
        assert_int_equal(
            qmp_execute(qmp, "system_powerdown", NULL, 5000, NULL), 0);
        qmp_close(qmp);
        free(sock);
    }
    assert_true(pid > 1);
    st = wait_state_change(VM_DST, VMM_STATE_RUNNING);
    if (st.state == VMM_STATE_SHUTDOWN) {
        st = wait_state_change(VM_DST, VMM_STATE_SHUTDOWN);
    }
    assert_int_equal(st.state, VMM_STATE_SHUTOFF);
    for (int i = 0; i < 50 && alive(pid); i++) {
        usleep(100 * 1000);
    }
    assert_false(alive(pid));
    assert_int_equal(vmm_destroy(vmm, VM_DST), 0);
}

static void
test_crash(void **state)
{
    struct vmm_status st;

    assert_true(first_pid > 1);
    assert_int_equal(kill(first_pid, SIGKILL), 0);
    for (int i = 0;
         i < 100 && !vmm_status(vmm, VM, &st) && st.state != VMM_STATE_CRASHED;
         i++) {
        usleep(50 * 1000);
    }
    assert_int_equal(st.state, VMM_STATE_CRASHED);
}

static void
test_destroy(void **state)
{
    struct vmm_status st;
    char *run = path_in("run/" VM);

    assert_int_equal(vmm_destroy(vmm, VM), 0);
    assert_int_equal(vmm_status(vmm, VM, &st), ENOENT);
    assert_int_equal(count_listed(), 0);
    assert_false(exists(run));
    /* The disk and seed are the caller's. */
    assert_true(exists(spec.disk));
    assert_true(exists(spec.seed));
    assert_int_equal(vmm_destroy(vmm, VM), ENOENT);
    free(run);
}

static int
setup(void **state)
{
    type = getenv("VMM_TEST_TYPE");
    tap = getenv("VMM_TEST_TAP");
    tap2 = getenv("VMM_TEST_TAP2");
    image = getenv("VMM_TEST_IMAGE");
    kernel = getenv("VMM_TEST_KERNEL");
    dir = getenv("VMM_TEST_DIR");
    instance = getenv("VMM_TEST_INSTANCE");
    if (!type || !tap || !tap2 || !image || !kernel || !dir || !instance) {
        fprintf(stderr, "run through tests/vmm/qemu.sh or libvirt.sh\n");
        return -1;
    }
    vmm = open_driver();
    return 0;
}

static int
teardown(void **state)
{
    if (vmm) {
        vmm_destroy(vmm, VM_DST);
        vmm_destroy(vmm, VM);
        vmm_close(vmm);
    }
    vmm_spec_destroy(&spec);
    return 0;
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accel_probe),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_boot),
        cmocka_unit_test(test_duplicate),
        cmocka_unit_test(test_reattach),
        cmocka_unit_test(test_reboot),
        cmocka_unit_test(test_acpi_stop),
        cmocka_unit_test(test_start_again),
        cmocka_unit_test(test_migrate),
        cmocka_unit_test(test_guest_poweroff),
        cmocka_unit_test(test_crash),
        cmocka_unit_test(test_destroy),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
