/* bench-qos: nanoseconds per packet that a port's QoS policy adds to the
 * port program, with the QoS table full of other ports' policies, against
 * the same program and frame with no policy on the port, measured in the
 * same run with BPF_PROG_TEST_RUN.
 *
 * Usage: bench-qos [RUNS]   (or FAB_BENCH_RUNS=RUNS; default 300000)
 *
 * The world is the BPF tests' (tests/bpf/fixture.h).  Before measuring, it
 * creates BENCH_QOS_POLICIES ifb devices (a port needs a device: the
 * program is attached to it) and installs a port and a policy on each, as
 * many as the tables take, so that the lookups run in tables as full as a
 * busy host's.  The fixture's tables hold 4096 ports and 4096 policies
 * (fab_ports and fab_qos in datapath/bpf/maps.h), so about 4092 go in;
 * the figure is printed.  The measured port is p1, a real veth.  Two paths,
 * each without a policy on p1, with an egress limit and with DSCP marking:
 *
 *   local delivery   p1 -> p2 on this host: the limit is policed, on the
 *                    scheduler tick when its burst lasts 8 ticks (100 Gbit/s,
 *                    4 GB: 343 ms) and on the fine clock otherwise
 *                    (10 Tbit/s, 4 GB: 3.4 ms); see qos/bucket.h
 *   encap            p1 -> a VM behind another VTEP: the limit is HTB's,
 *                    the program sets skb->priority to the port's class
 *
 * The limits are far above what the runs send, so every frame passes and
 * the policer's whole work (clock, compare-and-swap, arithmetic) is
 * measured.  Encap rewrites the frame, so, as bench-bpf does, every
 * figure is RUNS commands of one run each, summing the kernel's own
 * duration.  Local delivery leaves the frame as it was (DSCP marking sets
 * the same DSCP again), so it is also measured in repeat mode: per round,
 * one command that runs the frame RUNS / rounds times, which leaves out
 * the syscall and its jitter (some 70 ns a run here, varying by more than
 * the 10 ns to measure).  The variants take turns in rounds so that drift
 * in the machine's speed spreads over all of them.  The cost a policy adds
 * is given as the difference of the means and as the median over the
 * rounds of the difference within a round; the target is judged on the
 * latter, in repeat mode where the path allows it: it is what most rounds
 * saw, not what the noisiest did.  Prints figures and never fails on
 * them. */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/pkt_cls.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "datapath/bpf/abi.h"
#include "datapath/bpf/port.skel.h"
#include "tests/bpf/craft.h"
#include "tests/bpf/fixture.h"

#define BENCH_RUNS_DEFAULT 300000
#define BENCH_ROUNDS 20          /* Turns each variant takes. */
#define BENCH_QOS_POLICIES 10000 /* Other ports' policies wanted. */
#define BENCH_TARGET_NS 10.0     /* Added per packet, at most. */
#define BENCH_DSCP 46            /* EF. */
#define BENCH_HTB_MINOR 7        /* The port's class, for encap. */

/* What policy p1 has while a variant runs. */
enum bench_qos { QOS_NONE, QOS_LIMIT, QOS_LIMIT_FINE, QOS_DSCP, N_QOS };

/* The frames' paths. */
enum bench_path { PATH_LOCAL, PATH_ENCAP, N_PATHS };

/* One measured combination of path and policy. */
struct bench_variant {
    uint8_t pkt[256];         /* The frame. */
    size_t len;               /* Its length. */
    size_t out_len;           /* The output length that proves the path. */
    struct dp_qos qos;        /* p1's policy; unused with QOS_NONE. */
    unsigned long long total; /* Sum of kernel-measured ns. */
    unsigned long runs;       /* Runs summed in 'total'. */
    bool unused;              /* Not a distinct case on this path. */
    double round_ns[BENCH_ROUNDS];  /* Mean ns/packet of each round. */
    double repeat_ns[BENCH_ROUNDS]; /* Each round's repeat-mode figure;
                                     * local delivery only. */
};

static const char *const bench_path_names[N_PATHS] = {
    [PATH_LOCAL] = "local delivery",
    [PATH_ENCAP] = "encap",
};

static const char *const bench_qos_names[N_QOS] = {
    [QOS_NONE] = "no QoS",
    [QOS_LIMIT] = "limit (tick)",
    [QOS_LIMIT_FINE] = "limit (fine)",
    [QOS_DSCP] = "DSCP 46",
};

static unsigned long
bench_runs(int argc, char *argv[])
{
    const char *s = argc > 1 ? argv[1] : getenv("FAB_BENCH_RUNS");
    unsigned long runs;
    char *end;

    if (!s || !*s) {
        return BENCH_RUNS_DEFAULT;
    }
    errno = 0;
    runs = strtoul(s, &end, 10);
    if (errno || *end || runs < BENCH_ROUNDS || runs > UINT32_MAX) {
        fprintf(stderr,
                "bench-qos: runs \"%s\": must be an integer "
                "%d..4294967295\n",
                s, BENCH_ROUNDS);
        exit(EXIT_FAILURE);
    }
    return runs;
}

/* Creates 'n' ifb devices "bq0".. (the kernel may lack dummy) in our namespace
 * with "ip -batch", for ports that need a device to attach to.  Returns 0 or
 * an errno value. */
static int
bench_make_devices(uint32_t n)
{
    FILE *ip = popen("ip -batch -", "w");
    int status;

    if (!ip) {
        return errno;
    }
    for (uint32_t i = 0; i < n; i++) {
        fprintf(ip, "link add bq%u type ifb\n", i);
    }
    status = pclose(ip);
    if (status != 0) {
        fprintf(stderr, "bench-qos: ip -batch: status %d\n", status);
        return EIO;
    }
    return 0;
}

/* Installs ports on up to 'n' of those devices and a policy on each, as many
 * as the tables take, leaving room for p1's policy.  Stores in '*n_ports'
 * and '*n_policies' how many went in.  Returns 0 or an errno value. */
static int
bench_fill_tables(struct fixture *f, uint32_t n, uint32_t *n_ports,
                  uint32_t *n_policies)
{
    struct dp_qos_key p1_key = {.ifindex = f->ports[FX_P1].ifindex};
    struct dp_qos qos = {
        .egress_rate = 100000000,
        .ingress_rate = 100000000,
        .egress_burst = 1000000,
        .ingress_burst = 1000000,
        .dscp = 10,
    };
    struct dp_port port = {
        .vni = FX_VNI_A,
        .flags = DP_PORT_VETH,
        .mtu = FX_PORT_MTU,
        .mac = {0x02, 0xbe, 0, 0, 0, 0},
    };
    uint32_t i, *ifindexes = calloc(n, sizeof *ifindexes);
    int error = ifindexes ? bench_make_devices(n) : ENOMEM;

    *n_ports = *n_policies = 0;
    for (i = 0; !error && i < n; i++) {
        char name[16];

        snprintf(name, sizeof name, "bq%u", i);
        ifindexes[i] = if_nametoindex(name);
        if (!ifindexes[i]) {
            error = errno;
            fprintf(stderr, "bench-qos: %s: %s\n", name, strerror(error));
        }
    }
    for (i = 0; !error && i < n; i++) {
        struct dp_port_key key = {.ifindex = ifindexes[i]};

        port.mac[4] = (uint8_t) (i >> 8);
        port.mac[5] = (uint8_t) i;
        port.ip4 = htonl(CRAFT_IP4(10, 1, 0, 0) + i);
        if (dp_table_set(f->dp, DP_PORTS, &key, &port)) {
            break;
        }
        *n_ports = i + 1;
    }
    for (i = 0; !error && i < *n_ports; i++) {
        struct dp_qos_key key = {.ifindex = ifindexes[i]};

        if (dp_table_set(f->dp, DP_QOS, &key, &qos)) {
            break;
        }
        *n_policies = i + 1;
    }
    /* Give back one slot for p1 if the table is full, and prove it fits. */
    if (!error && dp_table_set(f->dp, DP_QOS, &p1_key, &qos)
        && *n_policies > 0) {
        struct dp_qos_key key = {.ifindex = ifindexes[*n_policies - 1]};

        dp_table_del(f->dp, DP_QOS, &key);
        --*n_policies;
        error = dp_table_set(f->dp, DP_QOS, &p1_key, &qos);
        if (error) {
            fprintf(stderr, "bench-qos: no room for p1's policy: %s\n",
                    strerror(error));
        }
    }
    if (!error) {
        error = dp_table_del(f->dp, DP_QOS, &p1_key);
    }
    free(ifindexes);
    return error;
}

/* Builds the frame and policy of every variant from 'f'. */
static void
bench_variants_init(struct bench_variant v[N_PATHS][N_QOS],
                    const struct fixture *f)
{
    const struct fx_port *p1 = &f->ports[FX_P1], *p2 = &f->ports[FX_P2];
    struct craft_flow flow = {
        .dst_mac = p2->mac,
        .src_mac = p1->mac,
        .src_ip = p1->ip4,
        .dst_ip = p2->ip4,
        .proto = 6,
        .tos = 0x01,
        .sport = 40000,
        .dport = 80,
    };

    for (int q = 0; q < N_QOS; q++) {
        struct bench_variant *l = &v[PATH_LOCAL][q], *e = &v[PATH_ENCAP][q];

        flow.dst_mac = p2->mac;
        flow.dst_ip = p2->ip4;
        l->len = craft_ipv4_frame(l->pkt, &flow, 64);
        l->out_len = l->len;
        flow.dst_mac = fx_remote_mac;
        flow.dst_ip = FX_REMOTE_IP;
        e->len = craft_ipv4_frame(e->pkt, &flow, 64);
        e->out_len = e->len + CRAFT_VXLAN_OVERHEAD;
        l->qos.dscp = e->qos.dscp = DP_QOS_DSCP_KEEP;
    }
    /* Limits that nothing here reaches, with a 4 GB burst: 100 Gbit/s (on
     * the tick) and 10 Tbit/s (on the fine clock).  On the local path they
     * are policed; to other hosts the limit is HTB's, whatever its burst. */
    v[PATH_LOCAL][QOS_LIMIT].qos.egress_rate = 100000000000ULL;
    v[PATH_LOCAL][QOS_LIMIT].qos.egress_burst = UINT32_MAX;
    v[PATH_LOCAL][QOS_LIMIT_FINE].qos.egress_rate = 10000000000000ULL;
    v[PATH_LOCAL][QOS_LIMIT_FINE].qos.egress_burst = UINT32_MAX;
    v[PATH_ENCAP][QOS_LIMIT].qos = v[PATH_LOCAL][QOS_LIMIT].qos;
    v[PATH_ENCAP][QOS_LIMIT].qos.flags = DP_QOS_EGRESS_HTB;
    v[PATH_ENCAP][QOS_LIMIT].qos.htb_minor = BENCH_HTB_MINOR;
    v[PATH_ENCAP][QOS_LIMIT_FINE].unused = true;
    v[PATH_LOCAL][QOS_DSCP].qos.dscp = BENCH_DSCP;
    v[PATH_ENCAP][QOS_DSCP].qos.dscp = BENCH_DSCP;
}

/* Gives p1 the policy of variant 'v' of kind 'q'.  Returns 0 or an errno
 * value. */
static int
bench_set_qos(struct fixture *f, const struct bench_variant *v,
              enum bench_qos q)
{
    struct dp_qos_key key = {.ifindex = f->ports[FX_P1].ifindex};
    int error;

    if (q == QOS_NONE) {
        error = dp_table_del(f->dp, DP_QOS, &key);
        return error == ENOENT ? 0 : error;
    }
    return dp_table_set(f->dp, DP_QOS, &key, &v->qos);
}

/* Reads p1's QoS entry as the fast path finds it, in fab_qos_live at the
 * port's counter slot.  Returns 0 or an errno value. */
static int
bench_live_qos(const struct fixture *f, struct fab_qos_entry *live)
{
    struct dp_port_key key = {.ifindex = f->ports[FX_P1].ifindex};
    struct fab_port_entry port;

    if (bpf_map_lookup_elem(bpf_map__fd(f->port_obj->maps.fab_ports), &key,
                            &port)
            < 0
        || bpf_map_lookup_elem(bpf_map__fd(f->port_obj->maps.fab_qos_live),
                               &port.stats_slot, live)
               < 0) {
        return errno;
    }
    return 0;
}

/* Runs variant 'v' (path 'p', policy 'q') once and checks that it took
 * the path and did the QoS work it claims to.  Returns false after saying
 * why not. */
static bool
bench_check(const struct fixture *f, const struct bench_variant *v,
            enum bench_path p, enum bench_qos q)
{
    static struct fx_result r;
    int error = fixture_run(f->port_prog, f->ports[FX_P1].ifindex, v->pkt,
                            v->len, 0, &r);
    size_t ip = p == PATH_ENCAP ? 14 + CRAFT_VXLAN_OVERHEAD : 14;
    uint8_t want_tos = q == QOS_DSCP ? (BENCH_DSCP << 2) | 0x01 : 0x01;
    uint32_t want_prio = p == PATH_ENCAP && q == QOS_LIMIT
                             ? DP_QOS_HTB_HANDLE(BENCH_HTB_MINOR)
                             : 0;
    bool want_tick = q == QOS_LIMIT;
    struct fab_qos_entry live;

    if (error) {
        fprintf(stderr, "bench-qos: %s, %s: BPF_PROG_TEST_RUN: %s\n",
                bench_path_names[p], bench_qos_names[q], strerror(error));
        return false;
    }
    if (r.verdict != TC_ACT_REDIRECT || r.out_len != v->out_len
        || r.out[ip + 1] != want_tos || r.priority != want_prio) {
        fprintf(stderr,
                "bench-qos: %s, %s: verdict %d, %u bytes out, inner TOS "
                "%#x, priority %#x; expected %d, %zu, %#x, %#x: not the "
                "path to measure\n",
                bench_path_names[p], bench_qos_names[q], r.verdict, r.out_len,
                r.out[ip + 1], r.priority, TC_ACT_REDIRECT, v->out_len,
                want_tos, want_prio);
        return false;
    }
    if (p == PATH_LOCAL && (q == QOS_LIMIT || q == QOS_LIMIT_FINE)) {
        error = bench_live_qos(f, &live);
        if (error || !live.egress_police.tick != !want_tick) {
            fprintf(stderr,
                    "bench-qos: %s, %s: %s; expected the policer on the "
                    "%s\n",
                    bench_path_names[p], bench_qos_names[q],
                    error                     ? strerror(error)
                    : live.egress_police.tick ? "policed on the tick"
                                              : "policed on the fine clock",
                    want_tick ? "tick" : "fine clock");
            return false;
        }
    }
    return true;
}

/* Adds 'runs' commands of one run each of variant 'v' to its total and
 * records their mean as round 'round'.  Returns false if a run failed or
 * left the path. */
static bool
bench_measure(const struct fixture *f, struct bench_variant *v, int round,
              unsigned long runs)
{
    unsigned long long before = v->total;

    for (unsigned long i = 0; i < runs; i++) {
        uint32_t duration;
        int verdict;
        int error = fixture_run_repeat(f->port_prog, f->ports[FX_P1].ifindex,
                                       v->pkt, v->len, 1, &verdict, &duration);

        if (error || verdict != TC_ACT_REDIRECT) {
            fprintf(stderr, "bench-qos: run %lu: %s, verdict %d\n", i,
                    error ? strerror(error) : "ok", verdict);
            return false;
        }
        v->total += duration;
    }
    v->runs += runs;
    v->round_ns[round] = (double) (v->total - before) / runs;
    return true;
}

/* Measures variant 'v' as one command repeating the frame 'runs' times, as
 * round 'round' of its repeat-mode figure.  Only for a frame the program
 * leaves as it was, so that every run sees the same frame: local delivery,
 * whose DSCP marking sets the same DSCP again.  Returns false if the
 * command failed or the frame left the path. */
static bool
bench_measure_repeat(const struct fixture *f, struct bench_variant *v,
                     int round, unsigned long runs)
{
    uint32_t duration;
    int verdict;
    int error = fixture_run_repeat(f->port_prog, f->ports[FX_P1].ifindex,
                                   v->pkt, v->len, runs, &verdict, &duration);

    if (error || verdict != TC_ACT_REDIRECT) {
        fprintf(stderr, "bench-qos: repeat %lu: %s, verdict %d\n", runs,
                error ? strerror(error) : "ok", verdict);
        return false;
    }
    v->repeat_ns[round] = duration;
    return true;
}

static int
bench_compare_doubles(const void *a_, const void *b_)
{
    double a = *(const double *) a_, b = *(const double *) b_;

    return a < b ? -1 : a > b;
}

/* Returns the median of 'n' values at 'x'. */
static double
bench_median(double *x, size_t n)
{
    qsort(x, n, sizeof x[0], bench_compare_doubles);
    return (x[(n - 1) / 2] + x[n / 2]) / 2;
}

/* Returns the median over the rounds of what round figures 'v' (one per
 * round) cost more than 'base' in the same round: pairing the rounds
 * cancels the machine's drift, and the median ignores the rounds an
 * interrupt storm or another tenant spoiled. */
static double
bench_added_median(const double v[BENCH_ROUNDS],
                   const double base[BENCH_ROUNDS])
{
    double d[BENCH_ROUNDS];

    for (int r = 0; r < BENCH_ROUNDS; r++) {
        d[r] = v[r] - base[r];
    }
    return bench_median(d, BENCH_ROUNDS);
}

/* Notes 'added', what policy 'q' costs on path 'p' in the figure the
 * target is judged on, in '*worst' or, for a policer on the fine clock,
 * '*fine'. */
static void
bench_judge(enum bench_qos q, double added, double *worst, double *fine)
{
    if (q == QOS_LIMIT_FINE) {
        *fine = added;
    } else if (added > *worst) {
        *worst = added;
    }
}

static void
bench_report(struct bench_variant v[N_PATHS][N_QOS], unsigned long runs,
             int cpu, uint32_t n_ports, uint32_t n_policies)
{
    const struct bench_variant *local = v[PATH_LOCAL];
    double worst = 0, fine = 0;

    printf("fabric port program, cost of QoS, BPF_PROG_TEST_RUN, "
           "kernel-measured ns per packet\n");
    printf("%lu runs per variant in %d rounds, pinned to CPU %d;\n%u other "
           "ports and %u other ports' policies installed (%d wanted)\n\n",
           runs, BENCH_ROUNDS, cpu, n_ports, n_policies, BENCH_QOS_POLICIES);
    printf("one run per command (what a packet costs with a syscall's "
           "jitter around it)\n");
    printf("%-16s %-14s %8s %10s %12s\n", "path", "p1's policy", "ns/pkt",
           "added ns", "added ns");
    printf("%-16s %-14s %8s %10s %12s\n", "", "", "(mean)", "(means)",
           "(median of");
    printf("%-16s %-14s %8s %10s %12s\n", "", "", "", "", "paired rnds)");
    for (int p = 0; p < N_PATHS; p++) {
        double base = (double) v[p][QOS_NONE].total / v[p][QOS_NONE].runs;

        for (int q = 0; q < N_QOS; q++) {
            double ns, added;

            if (v[p][q].unused) {
                continue;
            }
            ns = (double) v[p][q].total / v[p][q].runs;
            printf("%-16s %-14s %8.1f", bench_path_names[p],
                   bench_qos_names[q], ns);
            if (q == QOS_NONE) {
                printf(" %10s\n", "(baseline)");
                continue;
            }
            added =
                bench_added_median(v[p][q].round_ns, v[p][QOS_NONE].round_ns);
            printf(" %+10.1f %+12.1f\n", ns - base, added);
            if (p == PATH_ENCAP) {
                bench_judge(q, added, &worst, &fine);
            }
        }
    }

    printf("\nlocal delivery, one command of %lu runs per round (the "
           "program alone)\n",
           runs / BENCH_ROUNDS);
    printf("%-16s %-14s %8s %10s\n", "path", "p1's policy", "ns/pkt",
           "added ns");
    printf("%-16s %-14s %8s %10s\n", "", "", "(median)", "(median of");
    printf("%-16s %-14s %8s %10s\n", "", "", "", "paired rnds)");
    for (int q = 0; q < N_QOS; q++) {
        double rounds[BENCH_ROUNDS], added;

        memcpy(rounds, local[q].repeat_ns, sizeof rounds);
        printf("%-16s %-14s %8.1f", bench_path_names[PATH_LOCAL],
               bench_qos_names[q], bench_median(rounds, BENCH_ROUNDS));
        if (q == QOS_NONE) {
            printf(" %10s\n", "(baseline)");
            continue;
        }
        added =
            bench_added_median(local[q].repeat_ns, local[QOS_NONE].repeat_ns);
        printf(" %+10.1f\n", added);
        bench_judge(q, added, &worst, &fine);
    }

    printf("\ntarget: <= %.0f ns added per packet: worst %+.1f ns: %s\n"
           "(medians of paired rounds: local delivery in repeat mode, encap "
           "one run per command,\nwhich is all it allows; policers on the "
           "tick, as with bursts of >= 8 ticks and the\ndefault burst of "
           "100 ms; HTB classes; DSCP marking).  A policer on the fine "
           "clock\n(burst < 8 ticks) adds %+.1f ns.\n",
           BENCH_TARGET_NS, worst,
           worst <= BENCH_TARGET_NS ? "MET" : "NOT MET", fine);
}

int
main(int argc, char *argv[])
{
    static struct bench_variant v[N_PATHS][N_QOS];
    static struct fixture f;
    unsigned long runs = bench_runs(argc, argv);
    uint32_t n_ports, n_policies;
    cpu_set_t cpus;
    int cpu, error;
    bool ok = true;

    fixture_require_root();
    /* One CPU for the whole run, as in bench-bpf. */
    cpu = sched_getcpu();
    CPU_ZERO(&cpus);
    CPU_SET(cpu, &cpus);
    if (sched_setaffinity(0, sizeof cpus, &cpus) < 0) {
        perror("bench-qos: sched_setaffinity");
    }
    /* Room for the other ports beside the fixture's own. */
    error = fixture_init_sized(&f, BENCH_QOS_POLICIES + 16);
    if (!error) {
        error =
            bench_fill_tables(&f, BENCH_QOS_POLICIES, &n_ports, &n_policies);
    }
    if (error) {
        fprintf(stderr, "bench-qos: cannot set up the datapath: %s\n",
                strerror(error));
        fixture_destroy(&f);
        return EXIT_FAILURE;
    }
    bench_variants_init(v, &f);

    for (int p = 0; ok && p < N_PATHS; p++) {
        for (int q = 0; ok && q < N_QOS; q++) {
            ok = v[p][q].unused
                 || (!bench_set_qos(&f, &v[p][q], q)
                     && bench_check(&f, &v[p][q], p, q));
        }
    }
    for (int round = 0; ok && round < BENCH_ROUNDS; round++) {
        for (int p = 0; ok && p < N_PATHS; p++) {
            for (int q = 0; ok && q < N_QOS; q++) {
                ok = v[p][q].unused
                     || (!bench_set_qos(&f, &v[p][q], q)
                         && bench_measure(&f, &v[p][q], round,
                                          runs / BENCH_ROUNDS)
                         && (p != PATH_LOCAL
                             || bench_measure_repeat(&f, &v[p][q], round,
                                                     runs / BENCH_ROUNDS)));
            }
        }
    }
    if (ok) {
        bench_report(v, runs / BENCH_ROUNDS * BENCH_ROUNDS, cpu, n_ports,
                     n_policies);
    }
    fixture_destroy(&f);
    return ok ? EXIT_SUCCESS : EXIT_FAILURE;
}
