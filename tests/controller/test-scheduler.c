/* The scheduler's filters and weighers (controller/scheduler.c) as pure
 * functions over candidate hosts: each filter's reason word for word,
 * overcommit arithmetic, pins, strict and preferred groups, spread and
 * pack, ties, and how a refusal that names many hosts is cut short. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "controller/scheduler.h"
#include "utils/util.h"

/* A ready host with 'vcpus', 'memory_mb' and 100 GiB of disk, the default
 * ratios and nothing allocated. */
static struct sched_host
host(const char *name, int64_t vcpus, int64_t memory_mb)
{
    return (struct sched_host){
        .name = name,
        .ready = true,
        .has_capacity = true,
        .capacity = {vcpus, memory_mb, 100},
        .cpu_ratio = SCHED_CPU_RATIO_DEFAULT,
        .memory_ratio = SCHED_MEMORY_RATIO_DEFAULT,
        .disk_ratio = SCHED_DISK_RATIO_DEFAULT,
    };
}

/* A request for 'vcpus', 'memory_mb' and 1 GiB of disk. */
static struct sched_request
request(int64_t vcpus, int64_t memory_mb)
{
    return (struct sched_request){.need = {vcpus, memory_mb, 1}};
}

/* Asserts that 'req' cannot go on 'h' for 'reason', word for word (NULL:
 * it can). */
static void
expect_filter(const struct sched_host *h, const struct sched_request *req,
              const char *reason)
{
    char *got = sched_filter(h, req);

    if (!reason != !got || (got && strcmp(got, reason))) {
        fail_msg("%s: expected \"%s\", got \"%s\"", h->name,
                 reason ? reason : "(passes)", got ? got : "(passes)");
    }
    free(got);
}

static void
test_filters(void **state)
{
    struct sched_request req = request(1, 1024);
    struct sched_host h = host("host-b", 2, 2048);

    (void) state;
    expect_filter(&h, &req, NULL);

    /* The example of the issue, word for word. */
    h.allocated.memory_mb = 2048 - 900;
    expect_filter(&h, &req, "memory 900M free, needs 1G");
    h.allocated.memory_mb = 0;

    /* 2 vCPUs at 4.0 are 8. */
    h.allocated.vcpus = 7;
    expect_filter(&h, &req, NULL);
    h.allocated.vcpus = 8;
    expect_filter(&h, &req, "vcpus 0 free (2 x 4, 8 allocated), needs 1");
    h.cpu_ratio = 8.0;
    expect_filter(&h, &req, NULL);
    /* A ratio lowered below what is placed shows nothing free, not a
     * negative number. */
    h.cpu_ratio = 1.0;
    expect_filter(&h, &req, "vcpus 0 free (2 x 1, 8 allocated), needs 1");
    h.allocated.vcpus = 0;

    h.memory_ratio = 1.5;
    req.need.memory_mb = 3072;
    expect_filter(&h, &req, NULL);
    req.need.memory_mb = 3073;
    expect_filter(&h, &req, "memory 3G free, needs 3073M");
    req.need.memory_mb = 64;

    req.need.disk_gb = 101;
    expect_filter(&h, &req, "disk 100G free, needs 101G");
    /* A host that reports no disk is not checked for it. */
    h.capacity.disk_gb = -1;
    expect_filter(&h, &req, NULL);

    /* State comes first. */
    h.maintenance = true;
    expect_filter(&h, &req, "in maintenance");
    h.ready = false;
    expect_filter(&h, &req, "unreachable (no heartbeat within the timeout)");
    h.ready = true;
    h.maintenance = false;
    h.has_capacity = false;
    expect_filter(&h, &req, "its agent reported no capacity");
}

static void
test_groups(void **state)
{
    struct sched_group groups[] = {
        {.name = "app", .affinity = true, .strict = true},
        {.name = "db", .affinity = false, .strict = true},
    };
    uint32_t a_members[] = {0, 0}, b_members[] = {2, 0}, c_members[] = {0, 1};
    struct sched_host hosts[] = {host("a", 8, 8192), host("b", 8, 8192),
                                 host("c", 8, 8192)};
    struct sched_request req = request(1, 512);
    char *why = NULL;

    (void) state;
    hosts[0].members = a_members;
    hosts[1].members = b_members;
    hosts[2].members = c_members;
    req.groups = groups;
    req.n_groups = 2;

    /* An affinity group with no VM yet goes anywhere. */
    expect_filter(&hosts[0], &req, NULL);
    groups[0].total = 2;
    groups[0].where = "b";
    expect_filter(&hosts[0], &req,
                  "affinity group \"app\": its VMs are on host \"b\"");
    expect_filter(&hosts[1], &req, NULL);
    expect_filter(&hosts[2], &req,
                  "affinity group \"app\": its VMs are on host \"b\"");
    b_members[1] = 2;
    expect_filter(&hosts[1], &req,
                  "anti-affinity group \"db\": 2 of its VMs are here");
    assert_int_equal(sched_choose(hosts, 3, &req, 10, &why), -1);
    assert_string_equal(
        why, "a: affinity group \"app\": its VMs are on host \"b\"; "
             "b: anti-affinity group \"db\": 2 of its VMs are here; "
             "c: affinity group \"app\": its VMs are on host \"b\"");
    free(why);

    /* Preferred groups weigh, and before spread or pack: one VM of a
     * preferred anti-affinity group on "c" sends the VM to "a", however
     * full "a" is. */
    groups[0].strict = false;
    groups[1].strict = false;
    b_members[1] = 3;
    hosts[0].allocated.memory_mb = 4096;
    assert_int_equal(sched_choose(hosts, 3, &req, 10, NULL), 0);
    /* With more of the preferred affinity group on "b" than of the
     * anti-affinity group, "b" wins. */
    b_members[0] = 5;
    assert_int_equal(sched_choose(hosts, 3, &req, 10, NULL), 1);
}

static void
test_weighers(void **state)
{
    struct sched_host hosts[] = {host("h3", 8, 8192), host("h1", 8, 8192),
                                 host("h2", 16, 8192)};
    struct sched_request req = request(1, 512);
    enum sched_weigher w;

    (void) state;
    /* Ties go by name, whatever the order of the candidates. */
    assert_int_equal(sched_choose(hosts, 2, &req, 10, NULL), 1);

    /* Spread: the most free memory as a fraction, then vCPUs. */
    hosts[1].allocated.memory_mb = 1024;
    assert_int_equal(sched_choose(hosts, 3, &req, 10, NULL), 2);
    hosts[2].allocated.memory_mb = 512;
    hosts[0].allocated.memory_mb = 512;
    assert_int_equal(sched_choose(hosts, 3, &req, 10, NULL), 2);
    hosts[2].allocated.vcpus = 60;
    assert_int_equal(sched_choose(hosts, 3, &req, 10, NULL), 0);

    /* Pack: the least. */
    req.weigher = SCHED_PACK;
    assert_int_equal(sched_choose(hosts, 3, &req, 10, NULL), 1);
    hosts[1].maintenance = true;
    assert_int_equal(sched_choose(hosts, 3, &req, 10, NULL), 2);

    /* A pin considers the pinned host alone, and names only it. */
    req.host = "h1";
    {
        char *why = NULL;

        assert_int_equal(sched_choose(hosts, 3, &req, 10, &why), -1);
        assert_string_equal(why, "h1: in maintenance");
        free(why);
    }
    req.host = "h3";
    assert_int_equal(sched_choose(hosts, 3, &req, 10, NULL), 0);

    assert_true(sched_weigher_parse("spread", &w));
    assert_int_equal(w, SCHED_SPREAD);
    assert_true(sched_weigher_parse("pack", &w));
    assert_int_equal(w, SCHED_PACK);
    assert_false(sched_weigher_parse("Pack", &w));
    assert_false(sched_weigher_parse(NULL, &w));
    assert_string_equal(sched_weigher_name(SCHED_PACK), "pack");
}

static void
test_refusals(void **state)
{
    struct sched_host hosts[25] = {{0}};
    struct sched_request req = request(1, 512);
    char names[25][8];
    char *why = NULL;
    char buf[32];

    (void) state;
    assert_int_equal(sched_choose(hosts, 0, &req, 20, &why), -1);
    assert_string_equal(why, "no host is registered");
    free(why);

    for (int i = 0; i < 25; i++) {
        snprintf(names[i], sizeof names[i], "h%02d", i);
        hosts[i] = host(names[i], 1, 256);
    }
    assert_int_equal(sched_choose(hosts, 25, &req, 20, &why), -1);
    assert_non_null(strstr(why, "h00: memory 256M free, needs 512M; "));
    assert_non_null(strstr(why, "h19: memory 256M free, needs 512M; and 5 "
                                "more hosts"));
    assert_null(strstr(why, "h20"));
    free(why);

    sched_format_mb(512, buf);
    assert_string_equal(buf, "512M");
    sched_format_mb(1024, buf);
    assert_string_equal(buf, "1G");
    sched_format_mb(1536, buf);
    assert_string_equal(buf, "1.5G");
    sched_format_mb(3073, buf);
    assert_string_equal(buf, "3073M");
    sched_format_mb(4194304, buf);
    assert_string_equal(buf, "4096G");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_filters),
        cmocka_unit_test(test_groups),
        cmocka_unit_test(test_weighers),
        cmocka_unit_test(test_refusals),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
