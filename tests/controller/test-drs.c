/* The balancer's planner (controller/drs.c) as a pure function: hosts with
 * loads and VMs with sizes and rules in, migrations out.  Each case is a
 * small cloud: already balanced, one hot host, hosts out of service,
 * anti-affinity and affinity that block a move, capacity that blocks one,
 * pinned and recently moved VMs, the move limit, ties and memory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "controller/drs.h"
#include "utils/util.h"

/* A ready host with 'vcpus', 16 GiB of memory, 100 GiB of disk, the
 * default ratios, a hypervisor that takes live migrations, and nothing
 * claimed. */
static struct sched_host
host(const char *name, int64_t vcpus)
{
    return (struct sched_host){
        .name = name,
        .ready = true,
        .has_capacity = true,
        .migrates_in = true,
        .capacity = {vcpus, 16384, 100},
        .cpu_ratio = SCHED_CPU_RATIO_DEFAULT,
        .memory_ratio = SCHED_MEMORY_RATIO_DEFAULT,
        .disk_ratio = SCHED_DISK_RATIO_DEFAULT,
    };
}

/* A cloud in the making: hosts, VMs on them, groups. */
struct cloud {
    struct sched_host hosts[8];
    size_t n_hosts;
    struct drs_vm vms[32];
    size_t n_vms;
    struct drs_group groups[4];
    size_t n_groups;
    size_t group_of[32]; /* Per VM: its one group, if it has one. */
};

static void
add_host(struct cloud *c, const char *name, int64_t vcpus)
{
    c->hosts[c->n_hosts++] = host(name, vcpus);
}

/* Adds VM 'name' on host 'h' with 1 vCPU and 1 GiB claimed, using 'cpu'
 * vCPUs and no memory (so that CPU alone makes the load), movable; claims
 * its resources on the host. */
static struct drs_vm *
add_vm(struct cloud *c, const char *name, size_t h, double cpu)
{
    struct drs_vm *vm = &c->vms[c->n_vms++];

    *vm = (struct drs_vm){
        .name = name,
        .host = h,
        .need = {1, 1024, 1},
        .cpu = cpu,
        .memory_kb = 0,
        .movable = true,
    };
    c->hosts[h].allocated.vcpus += 1;
    c->hosts[h].allocated.memory_mb += 1024;
    c->hosts[h].allocated.disk_gb += 1;
    c->hosts[h].vms++;
    return vm;
}

/* Puts VM 'vm' of 'c' into group 'g'. */
static void
join(struct cloud *c, struct drs_vm *vm, size_t g)
{
    size_t v = vm - c->vms;

    c->group_of[v] = g;
    vm->groups = &c->group_of[v];
    vm->n_groups = 1;
}

/* Plans for 'c' with 'threshold' and 'max' moves and checks the plan
 * against 'expected': "VM:FROM>TO" per move, separated by spaces ("" for
 * no move).  Returns the imbalance before. */
static double
expect_plan(const struct cloud *c, double threshold, size_t max,
            const char *expected)
{
    struct drs_move moves[32];
    double imbalance, last;
    char got[1024] = "";
    size_t n, len = 0;

    n = drs_plan(c->hosts, c->n_hosts, c->vms, c->n_vms, c->groups,
                 c->n_groups, threshold, max, moves, &imbalance);
    assert_true(n <= max);
    last = imbalance;
    for (size_t i = 0; i < n; i++) {
        len +=
            snprintf(got + len, sizeof got - len, "%s%s:%s>%s", i ? " " : "",
                     c->vms[moves[i].vm].name, c->hosts[moves[i].from].name,
                     c->hosts[moves[i].to].name);
        /* Every move makes things better than the one before. */
        assert_true(moves[i].imbalance < last);
        assert_int_equal(moves[i].from, c->vms[moves[i].vm].host);
        last = moves[i].imbalance;
    }
    if (strcmp(got, expected)) {
        fail_msg("expected plan \"%s\", got \"%s\"", expected, got);
    }
    return imbalance;
}

static void
test_load(void **state)
{
    struct sched_host h = host("a", 4);

    (void) state;
    /* CPU: 2 of 4 vCPUs busy. */
    assert_true(drs_load(&h, 2.0, 0) == 0.5);
    /* Memory: 12 of 16 GiB, more than CPU's 0.25. */
    assert_true(drs_load(&h, 1.0, 12LL * 1024 * 1024) == 0.75);
    /* A host without capacity weighs nothing. */
    h.has_capacity = false;
    assert_true(drs_load(&h, 4.0, 0) == 0);
    assert_false(drs_in_service(&h));
}

static void
test_modes(void **state)
{
    enum drs_mode m;

    (void) state;
    assert_true(drs_mode_parse("off", &m) && m == DRS_OFF);
    assert_true(drs_mode_parse("manual", &m) && m == DRS_MANUAL);
    assert_true(drs_mode_parse("automatic", &m) && m == DRS_AUTOMATIC);
    assert_false(drs_mode_parse("Automatic", &m));
    assert_false(drs_mode_parse("", &m));
    assert_false(drs_mode_parse(NULL, &m));
    assert_string_equal(drs_mode_name(DRS_MANUAL), "manual");
}

static void
test_balanced(void **state)
{
    struct cloud c = {0};

    (void) state;
    add_host(&c, "a", 4);
    add_host(&c, "b", 4);
    add_vm(&c, "v1", 0, 1.0);
    add_vm(&c, "v2", 1, 1.0);
    /* Equal loads: nothing to do. */
    assert_true(expect_plan(&c, 0.2, 2, "") == 0);

    /* 0.25 apart is within a threshold of 0.3, beyond one of 0.2. */
    c.vms[0].cpu = 2.0;
    assert_true(expect_plan(&c, 0.3, 2, "") == 0.25);
    /* Moving v1 (2 vCPUs) would make it 0.75, worse than 0.25; v2 is on
     * the cold host. */
    expect_plan(&c, 0.2, 2, "");
}

static void
test_no_hosts(void **state)
{
    struct cloud c = {0};

    (void) state;
    assert_true(expect_plan(&c, 0.2, 2, "") == 0);
    add_host(&c, "a", 4);
    add_vm(&c, "v1", 0, 4.0);
    /* One host is balanced with itself. */
    assert_true(expect_plan(&c, 0.2, 2, "") == 0);
}

static void
test_one_hot_host(void **state)
{
    struct cloud c = {0};

    (void) state;
    add_host(&c, "a", 4);
    add_host(&c, "b", 4);
    add_host(&c, "c", 4);
    add_vm(&c, "v1", 0, 1.0);
    add_vm(&c, "v2", 0, 1.0);
    add_vm(&c, "v3", 0, 1.0);
    add_vm(&c, "v4", 0, 1.0);
    /* a is at 1.0, b and c at 0: the first move goes to b (first by
     * name), the second to c, which leaves 0.5, 0.25, 0.25. */
    assert_true(expect_plan(&c, 0.2, 2, "v1:a>b v2:a>c") == 1.0);
    /* 0.25 is beyond the threshold, but a third move (0.25, 0.5, 0.25)
     * would be no better: the plan stops, whatever room is left. */
    expect_plan(&c, 0.2, 5, "v1:a>b v2:a>c");
    expect_plan(&c, 0.1, 5, "v1:a>b v2:a>c");
    /* A limit of 1 makes one move. */
    expect_plan(&c, 0.2, 1, "v1:a>b");
    /* A limit of 0 none. */
    expect_plan(&c, 0.2, 0, "");
}

static void
test_biggest_first(void **state)
{
    struct cloud c = {0};

    (void) state;
    add_host(&c, "a", 8);
    add_host(&c, "b", 8);
    add_vm(&c, "small", 0, 1.0);
    add_vm(&c, "big", 0, 3.0);
    add_vm(&c, "mid", 0, 2.0);
    /* a at 6/8, b empty: moving "big" leaves 3/8 vs 3/8, the best. */
    assert_true(expect_plan(&c, 0.2, 2, "big:a>b") == 0.75);
}

static void
test_out_of_service(void **state)
{
    struct cloud c = {0};

    (void) state;
    add_host(&c, "a", 4);
    add_host(&c, "b", 4);
    add_host(&c, "c", 4);
    add_vm(&c, "v1", 0, 2.0);
    add_vm(&c, "v2", 0, 2.0);
    /* b in maintenance and c unreachable: neither is weighed (a is alone
     * in service, so balanced) nor takes a VM. */
    c.hosts[1].maintenance = true;
    c.hosts[2].ready = false;
    assert_true(expect_plan(&c, 0.2, 2, "") == 0);
    c.hosts[2].ready = true;
    expect_plan(&c, 0.2, 2, "v1:a>c");
    /* A host without capacity reported is out too. */
    c.hosts[2].has_capacity = false;
    expect_plan(&c, 0.2, 2, "");
    /* A host whose hypervisor takes no migration in (libvirt) is weighed
     * but takes nothing. */
    c.hosts[2].has_capacity = true;
    c.hosts[2].migrates_in = false;
    assert_true(expect_plan(&c, 0.2, 2, "") == 1.0);
}

static void
test_anti_affinity(void **state)
{
    struct cloud c = {0};

    (void) state;
    add_host(&c, "a", 4);
    add_host(&c, "b", 4);
    c.groups[c.n_groups++] =
        (struct drs_group){.name = "web", .affinity = false, .strict = true};
    join(&c, add_vm(&c, "w1", 0, 1.0), 0);
    add_vm(&c, "x1", 0, 0.5);
    add_vm(&c, "y1", 0, 1.0)->movable = false;
    join(&c, add_vm(&c, "w2", 1, 0), 0);
    /* a at 0.625, b at 0: w1 to b would leave 0.125, x1 to b 0.375; but
     * w2 of the same strict anti-affinity group is on b. */
    assert_true(expect_plan(&c, 0.2, 1, "x1:a>b") == 0.625);
    /* A preferred (non-strict) group is no filter: w1 goes. */
    c.groups[0].strict = false;
    expect_plan(&c, 0.2, 1, "w1:a>b");
    /* Strict again, without w2 in it: w1 goes. */
    c.groups[0].strict = true;
    c.vms[3].n_groups = 0;
    expect_plan(&c, 0.2, 1, "w1:a>b");
}

static void
test_affinity(void **state)
{
    struct cloud c = {0};

    (void) state;
    add_host(&c, "a", 4);
    add_host(&c, "b", 4);
    c.groups[c.n_groups++] =
        (struct drs_group){.name = "db", .affinity = true, .strict = true};
    join(&c, add_vm(&c, "d1", 0, 2.0), 0);
    join(&c, add_vm(&c, "d2", 0, 2.0), 0);
    /* Together on a at 1.0: neither may leave the other. */
    assert_true(expect_plan(&c, 0.2, 2, "") == 1.0);
    /* Alone in its group, a VM moves freely. */
    c.vms[1].n_groups = 0;
    expect_plan(&c, 0.2, 2, "d1:a>b");
}

static void
test_capacity(void **state)
{
    struct cloud c = {0};

    (void) state;
    add_host(&c, "a", 4);
    add_host(&c, "b", 4);
    add_host(&c, "c", 4);
    add_vm(&c, "big", 0, 3.0);
    add_vm(&c, "small", 0, 1.0);
    /* b has no claimable memory left, c no vCPUs (4 x 4 claimed). */
    c.hosts[1].allocated.memory_mb = 16384;
    c.hosts[2].allocated.vcpus = 16;
    assert_true(expect_plan(&c, 0.2, 2, "") == 1.0);
    /* Room for one VM on b: "big" goes (0.25, 0.75, 0 beats 0.75, 0.25,
     * 0 by name); b is then full, so "small" stays. */
    c.hosts[1].allocated.memory_mb = 15360;
    expect_plan(&c, 0.2, 2, "big:a>b");
    /* Disk counts as well. */
    c.hosts[1].allocated.disk_gb = 100;
    expect_plan(&c, 0.2, 2, "");
}

static void
test_pinned_and_recent(void **state)
{
    struct cloud c = {0};

    (void) state;
    add_host(&c, "a", 4);
    add_host(&c, "b", 4);
    add_vm(&c, "v1", 0, 2.0)->movable = false;
    add_vm(&c, "v2", 0, 1.0);
    /* v1 would be the best move; it is pinned (or was moved lately), so
     * v2 goes. */
    expect_plan(&c, 0.2, 2, "v2:a>b");
    c.vms[1].movable = false;
    expect_plan(&c, 0.2, 2, "");
}

static void
test_ties(void **state)
{
    struct cloud c = {0};

    (void) state;
    add_host(&c, "c", 4);
    add_host(&c, "b", 4);
    add_host(&c, "a", 4);
    add_vm(&c, "vz", 0, 1.0);
    add_vm(&c, "vy", 0, 1.0);
    add_vm(&c, "vx", 0, 1.0);
    add_vm(&c, "vw", 0, 1.0);
    /* All VMs and both empty hosts are equal: the first names win, in
     * whatever order they are given. */
    expect_plan(&c, 0.2, 2, "vw:c>a vx:c>b");
    for (int i = 0; i < 10; i++) {
        expect_plan(&c, 0.2, 2, "vw:c>a vx:c>b");
    }

    /* Two hosts equally hot: the first by name gives first. */
    memset(&c, 0, sizeof c);
    add_host(&c, "h2", 4);
    add_host(&c, "h1", 4);
    add_host(&c, "h3", 4);
    add_vm(&c, "p1", 0, 1.0);
    add_vm(&c, "p2", 0, 1.0);
    add_vm(&c, "q1", 1, 1.0);
    add_vm(&c, "q2", 1, 1.0);
    expect_plan(&c, 0.2, 1, "q1:h1>h3");
}

static void
test_memory(void **state)
{
    struct cloud c = {0};
    struct drs_vm *vm;

    (void) state;
    add_host(&c, "a", 16);
    add_host(&c, "b", 16);
    /* Idle VMs, but with 6 GiB each in use: memory makes a hot. */
    vm = add_vm(&c, "m1", 0, 0.1);
    vm->memory_kb = 6LL << 20;
    vm = add_vm(&c, "m2", 0, 0.1);
    vm->memory_kb = 6LL << 20;
    assert_true(expect_plan(&c, 0.2, 2, "m1:a>b") == 0.75);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_load),
        cmocka_unit_test(test_modes),
        cmocka_unit_test(test_balanced),
        cmocka_unit_test(test_no_hosts),
        cmocka_unit_test(test_one_hot_host),
        cmocka_unit_test(test_biggest_first),
        cmocka_unit_test(test_out_of_service),
        cmocka_unit_test(test_anti_affinity),
        cmocka_unit_test(test_affinity),
        cmocka_unit_test(test_capacity),
        cmocka_unit_test(test_pinned_and_recent),
        cmocka_unit_test(test_ties),
        cmocka_unit_test(test_memory),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
