/* Firewall cost against the number of rules: the real port program, run by
 * the kernel with BPF_PROG_TEST_RUN in the tests' world (tests/bpf/
 * fixture.h), between two local ports whose groups hold N rules each.
 *
 * For each N it measures, in ns per packet (the kernel's own timing of
 * 'runs' repeated runs on one skb):
 *
 *   hit   a packet of an established connection: one conntrack lookup;
 *   new   the first packet of a connection: conntrack miss plus the policy
 *         lookups of both ports.  Measured in trace mode (DP_TRACE_MAGIC*
 *         in the skb's cb), which makes every run a new connection: the
 *         same lookups, without the insertion that would turn the next run
 *         into a hit.
 *
 * beside the same program between the same ports without firewall, in the
 * same run.  Target: flat, new(100k rules) <= 1.2 x new(10 rules).
 *
 * Usage: bench-firewall [RUNS]   (default 1000000; needs root) */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/pkt_cls.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "datapath/bpf/abi.h"
#include "firewall/policy.h"
#include "tests/bpf/craft.h"
#include "tests/bpf/fixture.h"

#define WEB 300
#define DB 301
#define RULE_ALLOW 1
#define TARGET 1.2

static struct fixture fx;

/* Runs the port program 'runs' times on 'frame' from 'from' and returns
 * the mean ns per run, marked as a trace if 'trace'. */
static double
measure(enum fx_port_id from, const uint8_t *frame, size_t len, int runs,
        bool trace, int want_verdict)
{
    struct __sk_buff ctx = {.ifindex = fx.ports[from].ifindex};
    LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = frame, .data_size_in = len,
                .ctx_in = &ctx, .ctx_size_in = sizeof ctx, .repeat = runs);

    if (trace) {
        ctx.cb[0] = DP_TRACE_MAGIC0;
        ctx.cb[1] = DP_TRACE_MAGIC1;
    }
    if (bpf_prog_test_run_opts(fx.port_prog, &opts)) {
        fprintf(stderr, "BPF_PROG_TEST_RUN: %s\n", strerror(errno));
        exit(1);
    }
    if ((int) opts.retval != want_verdict) {
        fprintf(stderr, "verdict %d, expected %d\n", (int) opts.retval,
                want_verdict);
        exit(1);
    }
    return opts.duration;
}

/* A TCP frame with 'flags' of the connection from p1 port 40000 to p2
 * port 5432, in its original direction or, if 'reply', the other way. */
static size_t
tcp_frame(uint8_t *buf, bool reply, uint8_t flags)
{
    const struct fx_port *a = &fx.ports[reply ? FX_P2 : FX_P1];
    const struct fx_port *b = &fx.ports[reply ? FX_P1 : FX_P2];
    struct craft_flow flow = {
        .dst_mac = b->mac,
        .src_mac = a->mac,
        .src_ip = a->ip4,
        .dst_ip = b->ip4,
        .proto = 6,
        .sport = reply ? 5432 : 40000,
        .dport = reply ? 40000 : 5432,
    };
    size_t len = craft_ipv4_frame(buf, &flow, 64);

    buf[CRAFT_ETH_LEN + CRAFT_IPV4_LEN + 13] = flags;
    return len;
}

static void
set(enum dp_table table, const void *key, const void *value)
{
    int error = dp_table_set(fx.dp, table, key, value);

    if (error) {
        fprintf(stderr, "dp_table_set(%s): %s\n", dp_table_name(table),
                strerror(error));
        exit(1);
    }
}

/* Installs 'n' rules for each of web (egress) and db (ingress), all on
 * other ports or peers than the measured flow, plus the two rules it
 * needs.  Rule n of a group covers TCP port 1024 + n % 60000 towards peer
 * identity 1000 + n / 60000, so that every rule is a distinct entry. */
static void
install_rules(uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        uint16_t port = 1024 + i % 60000;
        uint16_t peer = 1000 + i / 60000;
        struct policy_key web = {.group = WEB,
                                 .direction = POLICY_EGRESS,
                                 .proto = 6,
                                 .port = port,
                                 .peer = peer,
                                 .match = POLICY_MATCH_PORT};
        struct policy_key db = web;
        struct policy_value v = {.rule_id = 1000 + i, .action = POLICY_ALLOW};

        db.group = DB;
        db.direction = POLICY_INGRESS;
        set(DP_POLICIES, &web, &v);
        set(DP_POLICIES, &db, &v);
    }
}

/* Empties the pinned map 'name' (keys of at most 64 bytes). */
static void
clear_map(const char *name)
{
    static uint8_t keys[262144][64];
    uint8_t key[64];
    void *prev = NULL;
    size_t n = 0;
    char path[128];
    int fd;

    snprintf(path, sizeof path, "%s/%s", fx.pin_dir, name);
    fd = bpf_obj_get(path);
    if (fd < 0) {
        fprintf(stderr, "%s: %s\n", path, strerror(errno));
        exit(1);
    }
    while (n < 262144 && !bpf_map_get_next_key(fd, prev, key)) {
        memcpy(keys[n], key, sizeof key);
        prev = keys[n++];
    }
    for (size_t i = 0; i < n; i++) {
        bpf_map_delete_elem(fd, keys[i]);
    }
    close(fd);
}

static void
fx_clear_conntrack(void)
{
    clear_map("fab_conntrack");
}

int
main(int argc, char *argv[])
{
    static const uint32_t counts[] = {10, 1000, 10000, 100000};
    int runs = argc > 1 ? atoi(argv[1]) : 1000000;
    uint8_t syn[CRAFT_MAX_FRAME], synack[CRAFT_MAX_FRAME];
    uint8_t ack[CRAFT_MAX_FRAME];
    double base, hit[4], fresh[4];
    size_t syn_len, synack_len, ack_len;
    struct policy_value allow = {.rule_id = RULE_ALLOW,
                                 .action = POLICY_ALLOW};
    struct policy_key web_any = {.group = WEB,
                                 .direction = POLICY_EGRESS,
                                 .proto = 6,
                                 .match = POLICY_MATCH_ANY_PORT};
    struct policy_key db_5432 = {.group = DB,
                                 .direction = POLICY_INGRESS,
                                 .proto = 6,
                                 .port = 5432,
                                 .peer = WEB,
                                 .match = POLICY_MATCH_PORT};

    if (runs <= 0) {
        fprintf(stderr, "usage: %s [RUNS]\n", argv[0]);
        return 2;
    }
    fixture_require_root();
    if (fixture_init(&fx)) {
        return 1;
    }
    syn_len = tcp_frame(syn, false, 0x02);
    synack_len = tcp_frame(synack, true, 0x12);
    ack_len = tcp_frame(ack, false, 0x10);

    /* Without firewall; the first run warms the caches up. */
    measure(FX_P1, ack, ack_len, runs, false, TC_ACT_REDIRECT);
    base = measure(FX_P1, ack, ack_len, runs, false, TC_ACT_REDIRECT);

    fixture_set_port(&fx, FX_P1, DP_PORT_VETH | DP_PORT_FW_EGRESS, WEB);
    fixture_set_port(&fx, FX_P2, DP_PORT_VETH | DP_PORT_FW_INGRESS, DB);
    for (size_t c = 0; c < 4; c++) {
        clear_map("fab_policies");
        install_rules(counts[c]);
        set(DP_POLICIES, &web_any, &allow);
        set(DP_POLICIES, &db_5432, &allow);
        fx_clear_conntrack();
        fresh[c] = measure(FX_P1, syn, syn_len, runs, true, TC_ACT_REDIRECT);
        /* One real handshake opens the connection the ACKs then hit. */
        fx_clear_conntrack();
        measure(FX_P1, syn, syn_len, 1, false, TC_ACT_REDIRECT);
        measure(FX_P2, synack, synack_len, 1, false, TC_ACT_REDIRECT);
        hit[c] = measure(FX_P1, ack, ack_len, runs, false, TC_ACT_REDIRECT);
    }

    printf("port program, local delivery, %d runs per figure (ns/packet)\n",
           runs);
    printf("  no firewall            %7.1f\n", base);
    printf("  rules/group   new-flow  x no-fw  x 10 rules   "
           "conntrack-hit  x no-fw\n");
    for (size_t c = 0; c < 4; c++) {
        printf("  %-10u %10.1f %8.2f %10.2f %14.1f %8.2f\n", counts[c],
               fresh[c], fresh[c] / base, fresh[c] / fresh[0], hit[c],
               hit[c] / base);
    }
    printf("target: new-flow at 100k rules <= %.1fx at 10 rules: %.2fx %s\n",
           TARGET, fresh[3] / fresh[0],
           fresh[3] / fresh[0] <= TARGET ? "MET" : "NOT MET");
    printf("target: conntrack hit at 100k rules <= %.1fx at 10 rules: %.2fx "
           "%s\n",
           TARGET, hit[3] / hit[0],
           hit[3] / hit[0] <= TARGET ? "MET" : "NOT MET");
    fixture_destroy(&fx);
    return 0;
}
