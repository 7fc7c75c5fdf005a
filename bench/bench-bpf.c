/* bench-bpf: nanoseconds per packet of each path through the BPF fast path,
 * measured by the kernel with BPF_PROG_TEST_RUN, against a trivial tc
 * program measured the same way in the same run.
 *
 * Usage: bench-bpf [RUNS]   (or FAB_BENCH_RUNS=RUNS; default 1000000)
 *
 * Encapsulation, decapsulation and the ARP responder rewrite the frame, so
 * running them repeatedly on one skb (the command's "repeat") would measure
 * some other path from the second run on.  Every path is therefore measured
 * as RUNS separate commands of one run each, summing the kernel's own
 * duration (ns in the program, excluding the system call and the skb set-up);
 * the paths that leave the frame alone are also measured as one command
 * repeating RUNS times.  Needs root, like the tests whose world it borrows
 * (tests/bpf/fixture.h).  It prints figures and never fails on them. */
#include <errno.h>
#include <linux/pkt_cls.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/libbpf.h>

#include "bench/trivial.skel.h"
#include "tests/bpf/craft.h"
#include "tests/bpf/fixture.h"

#define BENCH_RUNS_DEFAULT 1000000
#define BENCH_ENCAP_TARGET 3.0 /* Full encap path vs trivial, at most. */

/* One path through the fast path and the frame that takes it. */
struct bench_path {
    const char *name;   /* For the table. */
    int prog;           /* Program fd. */
    uint32_t ifindex;   /* Device the frame arrives on. */
    uint8_t pkt[256];   /* The frame. */
    size_t len;         /* Its length. */
    int verdict;        /* The verdict that proves the path. */
    size_t out_len;     /* The output length that proves it. */
    bool mutates;       /* Rewrites the frame: no repeat mode. */
    double per_call_ns; /* Mean over RUNS commands of one run. */
    double repeat_ns;   /* One command of RUNS runs, if allowed. */
};

enum {
    PATH_TRIVIAL,
    PATH_LOCAL,
    PATH_ENCAP,
    PATH_DECAP,
    PATH_ARP,
    PATH_PASSTHROUGH,
    N_PATHS
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
    if (errno || *end || runs == 0 || runs > UINT32_MAX) {
        fprintf(stderr,
                "bench-bpf: runs \"%s\": must be an integer "
                "1..4294967295\n",
                s);
        exit(EXIT_FAILURE);
    }
    return runs;
}

/* Builds the frame of every path; 'f' provides the programs, devices and
 * addresses. */
static void
bench_paths_init(struct bench_path *paths, const struct fixture *f,
                 int trivial_prog)
{
    const struct fx_port *p1 = &f->ports[FX_P1], *p2 = &f->ports[FX_P2];
    struct craft_flow flow = {
        .dst_mac = p2->mac,
        .src_mac = p1->mac,
        .src_ip = p1->ip4,
        .dst_ip = p2->ip4,
        .proto = 6,
        .sport = 40000,
        .dport = 80,
    };
    struct craft_outer outer = {
        .ip = {.src = FX_VTEP_REMOTE, .dst = FX_VTEP_LOCAL, .df = true},
        .sport = 51234,
        .dport = 4789,
        .flags = 0x08,
        .vni = FX_VNI_A,
    };
    uint8_t inner[256];
    size_t inner_len;
    struct bench_path *p;

    /* A small TCP segment between two VMs on this host. */
    p = &paths[PATH_LOCAL];
    p->name = "local delivery";
    p->prog = f->port_prog;
    p->ifindex = p1->ifindex;
    p->len = craft_ipv4_frame(p->pkt, &flow, 64);
    p->verdict = TC_ACT_REDIRECT;
    p->out_len = p->len;

    /* The baseline runs on the very same frame. */
    paths[PATH_TRIVIAL] = *p;
    paths[PATH_TRIVIAL].name = "trivial (baseline)";
    paths[PATH_TRIVIAL].prog = trivial_prog;
    paths[PATH_TRIVIAL].verdict = TC_ACT_OK;

    /* The same segment to a VM behind another VTEP. */
    p = &paths[PATH_ENCAP];
    p->name = "encap (remote unicast)";
    p->prog = f->port_prog;
    p->ifindex = p1->ifindex;
    flow.dst_mac = fx_remote_mac;
    flow.dst_ip = FX_REMOTE_IP;
    p->len = craft_ipv4_frame(p->pkt, &flow, 64);
    p->verdict = TC_ACT_REDIRECT;
    p->out_len = p->len + CRAFT_VXLAN_OVERHEAD;
    p->mutates = true;

    /* A segment from that VM, arriving by VXLAN for p2. */
    p = &paths[PATH_DECAP];
    p->name = "decap (uplink)";
    p->prog = f->uplink_prog;
    p->ifindex = f->underlay;
    flow.dst_mac = p2->mac;
    flow.src_mac = fx_remote_mac;
    flow.dst_ip = p2->ip4;
    flow.src_ip = FX_REMOTE_IP;
    inner_len = craft_ipv4_frame(inner, &flow, 64);
    memcpy(outer.dst_mac, f->underlay_mac, 6);
    memcpy(outer.src_mac, fx_remote_vtep_mac, 6);
    p->len = craft_vxlan_frame(p->pkt, &outer, inner, inner_len);
    p->verdict = TC_ACT_REDIRECT;
    p->out_len = inner_len;
    p->mutates = true;

    /* p1 asks for p2's MAC. */
    p = &paths[PATH_ARP];
    p->name = "ARP reply";
    p->prog = f->port_prog;
    p->ifindex = p1->ifindex;
    p->len = craft_arp_frame(
        p->pkt, (const uint8_t[6]){0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
        p1->mac, 1, p1->mac, p1->ip4, (const uint8_t[6]){0}, p2->ip4);
    p->verdict = TC_ACT_REDIRECT;
    p->out_len = p->len;
    p->mutates = true;

    /* Plain UDP to the host's own address on the underlay. */
    p = &paths[PATH_PASSTHROUGH];
    p->name = "uplink passthrough";
    p->prog = f->uplink_prog;
    p->ifindex = f->underlay;
    flow.dst_mac = f->underlay_mac;
    flow.src_mac = fx_remote_vtep_mac;
    flow.src_ip = FX_VTEP_REMOTE;
    flow.dst_ip = FX_VTEP_LOCAL;
    flow.proto = 17;
    flow.dport = 53;
    p->len = craft_ipv4_frame(p->pkt, &flow, 64);
    p->verdict = TC_ACT_OK;
    p->out_len = p->len;
}

/* Runs 'p' once with its output and checks that it takes the path it
 * claims to.  Returns false after saying why not. */
static bool
bench_path_check(const struct bench_path *p)
{
    static struct fx_result r;
    int error = fixture_run(p->prog, p->ifindex, p->pkt, p->len, 0, &r);

    if (error) {
        fprintf(stderr, "bench-bpf: %s: BPF_PROG_TEST_RUN: %s\n", p->name,
                strerror(error));
        return false;
    }
    if (r.verdict != p->verdict || r.out_len != p->out_len) {
        fprintf(stderr,
                "bench-bpf: %s: verdict %d and %u bytes out, "
                "expected %d and %zu: not the path to measure\n",
                p->name, r.verdict, r.out_len, p->verdict, p->out_len);
        return false;
    }
    return true;
}

/* Measures 'p' as 'runs' commands of one run each.  Returns false if a run
 * failed or left the path. */
static bool
bench_per_call(struct bench_path *p, unsigned long runs)
{
    unsigned long long total = 0;

    for (unsigned long i = 0; i < runs; i++) {
        uint32_t duration;
        int verdict;
        int error = fixture_run_repeat(p->prog, p->ifindex, p->pkt, p->len, 1,
                                       &verdict, &duration);

        if (error || verdict != p->verdict) {
            fprintf(stderr, "bench-bpf: %s: run %lu: %s, verdict %d\n",
                    p->name, i, error ? strerror(error) : "ok", verdict);
            return false;
        }
        total += duration;
    }
    p->per_call_ns = (double) total / runs;
    return true;
}

/* Measures 'p' as one command repeating 'runs' times. */
static bool
bench_repeat(struct bench_path *p, unsigned long runs)
{
    uint32_t duration;
    int verdict;
    int error = fixture_run_repeat(p->prog, p->ifindex, p->pkt, p->len, runs,
                                   &verdict, &duration);

    if (error || verdict != p->verdict) {
        fprintf(stderr, "bench-bpf: %s: repeat %lu: %s, verdict %d\n", p->name,
                runs, error ? strerror(error) : "ok", verdict);
        return false;
    }
    p->repeat_ns = duration;
    return true;
}

static void
bench_report(const struct bench_path *paths, unsigned long runs, int cpu)
{
    const struct bench_path *base = &paths[PATH_TRIVIAL];
    const struct bench_path *encap = &paths[PATH_ENCAP];
    double ratio;

    printf("fabric BPF fast path, BPF_PROG_TEST_RUN, kernel-measured ns per "
           "packet\n");
    printf("%lu runs per path and mode, pinned to CPU %d; \"per call\": one "
           "run per command,\n\"repeat\": one command of %lu runs (only for "
           "paths that leave the frame alone)\n\n",
           runs, cpu, runs);
    printf("%-24s %5s %12s %9s %12s %9s\n", "path", "bytes", "per call ns",
           "x trivial", "repeat ns", "x trivial");
    for (int i = 0; i < N_PATHS; i++) {
        const struct bench_path *p = &paths[i];

        printf("%-24s %5zu %12.1f %9.2f", p->name, p->len, p->per_call_ns,
               p->per_call_ns / base->per_call_ns);
        if (p->mutates) {
            printf(" %12s %9s\n", "-", "-");
        } else {
            printf(" %12.1f %9.2f\n", p->repeat_ns,
                   p->repeat_ns / base->repeat_ns);
        }
    }
    ratio = encap->per_call_ns / base->per_call_ns;
    printf("\ntarget: full encap path <= %.0fx trivial (per call): %.2fx "
           "(%.1f ns vs %.1f ns): %s\n",
           BENCH_ENCAP_TARGET, ratio, encap->per_call_ns, base->per_call_ns,
           ratio <= BENCH_ENCAP_TARGET ? "MET" : "NOT MET");
}

int
main(int argc, char *argv[])
{
    static struct bench_path paths[N_PATHS];
    static struct fixture f;
    unsigned long runs = bench_runs(argc, argv);
    struct fab_trivial *trivial;
    cpu_set_t cpus;
    int cpu, error;
    bool ok = true;

    fixture_require_root();
    /* One CPU for the whole run: the per-CPU scratch and counters stay warm
     * and every path sees the same caches and frequency. */
    cpu = sched_getcpu();
    CPU_ZERO(&cpus);
    CPU_SET(cpu, &cpus);
    if (sched_setaffinity(0, sizeof cpus, &cpus) < 0) {
        perror("bench-bpf: sched_setaffinity");
    }
    error = fixture_init(&f);
    if (error) {
        fprintf(stderr, "bench-bpf: cannot set up the datapath: %s\n",
                strerror(error));
        fixture_destroy(&f);
        return EXIT_FAILURE;
    }
    trivial = fab_trivial__open_and_load();
    if (!trivial) {
        fprintf(stderr, "bench-bpf: loading the trivial program: %s\n",
                strerror(errno));
        fixture_destroy(&f);
        return EXIT_FAILURE;
    }
    bench_paths_init(paths, &f, bpf_program__fd(trivial->progs.bench_trivial));

    for (int i = 0; ok && i < N_PATHS; i++) {
        ok = bench_path_check(&paths[i]);
    }
    for (int i = 0; ok && i < N_PATHS; i++) {
        ok = bench_per_call(&paths[i], runs);
        if (ok && !paths[i].mutates) {
            ok = bench_repeat(&paths[i], runs);
        }
    }
    if (ok) {
        bench_report(paths, runs, cpu);
    }
    fab_trivial__destroy(trivial);
    fixture_destroy(&f);
    return ok ? EXIT_SUCCESS : EXIT_FAILURE;
}
