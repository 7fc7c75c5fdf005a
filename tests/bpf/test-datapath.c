/* The real port and uplink programs, run by the kernel on crafted packets
 * with BPF_PROG_TEST_RUN, against tables programmed through dp.h.
 *
 * Each test tells one story about a frame: what the program decides (the
 * tc verdict), what the frame looks like afterwards (byte for byte, against
 * packets built independently in craft.c) and which counters moved.  Every
 * counter of every device is compared, so a test also fails when something
 * it did not expect was counted.  The world the frames travel in is
 * described in fixture.h. */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <linux/pkt_cls.h>
#include <net/if.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <bpf/bpf.h>

#include "tests/bpf/craft.h"
#include "tests/bpf/fixture.h"

#include "datapath/bpf/abi.h"
#include "datapath/dp-bpf-index.h"
#include "dhcp/dhcp.h"
#include "packet/parse.h"
#include "vxlan/vxlan.h"

static struct fixture fx;

/* The outcome of the last run, kept out of the stack: it holds a frame. */
static struct fx_result res;

static const uint8_t broadcast_mac[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
static const uint8_t zero_mac[6];
static const uint8_t unknown_mac[6] = {0x02, 0, 0, 0, 0, 0x99};
static const uint8_t spoofed_mac[6] = {0x02, 0, 0, 0, 0, 0x66};

#define UNBOUND_IP CRAFT_IP4(10, 0, 0, 99)
#define SPOOFED_IP CRAFT_IP4(10, 0, 0, 66)

/* Counters. */

/* The devices that have counters: the ports (in enum fx_port_id order), the
 * underlay, and key 0 for frames from devices fabric does not know. */
enum dev {
    D_P1 = FX_P1,
    D_P2 = FX_P2,
    D_TAP = FX_TAP,
    D_P3 = FX_P3,
    D_UL,
    D_NONE,
    N_DEVS
};

static const char *const dev_names[N_DEVS] = {
    "p1", "p2", "tap0", "p3", "ul0", "(no device)",
};

struct counters {
    struct dp_stats dev[N_DEVS];
};

static uint32_t
dev_ifindex(enum dev d)
{
    return d < D_UL ? fx.ports[d].ifindex : d == D_UL ? fx.underlay : 0;
}

static void
counters_read(struct counters *c)
{
    for (int d = 0; d < N_DEVS; d++) {
        int error = dp_stats_get(fx.dp, dev_ifindex(d), &c->dev[d]);

        if (error) {
            fail_msg("dp_stats_get(%s): %s", dev_names[d], strerror(error));
        }
    }
}

static void
count_rx(struct counters *c, enum dev d, size_t bytes)
{
    c->dev[d].rx_packets++;
    c->dev[d].rx_bytes += bytes;
}

static void
count_tx(struct counters *c, enum dev d, size_t bytes)
{
    c->dev[d].tx_packets++;
    c->dev[d].tx_bytes += bytes;
}

static void
count_drop(struct counters *c, enum dev d, enum dp_drop_reason reason)
{
    c->dev[d].drops[reason]++;
}

/* Compares one counter and reports a mismatch; returns true if equal. */
static bool
counter_check(enum dev d, const char *name, uint64_t want, uint64_t got)
{
    if (want != got) {
        print_error("%s: %s: expected %llu, got %llu\n", dev_names[d], name,
                    (unsigned long long) want, (unsigned long long) got);
        return false;
    }
    return true;
}

/* Asserts that every counter of every device now equals 'want'. */
static void
counters_assert(const struct counters *want)
{
    struct counters got;
    bool ok = true;

    counters_read(&got);
    for (int d = 0; d < N_DEVS; d++) {
        const struct dp_stats *w = &want->dev[d], *g = &got.dev[d];

        ok &= counter_check(d, "rx_packets", w->rx_packets, g->rx_packets);
        ok &= counter_check(d, "rx_bytes", w->rx_bytes, g->rx_bytes);
        ok &= counter_check(d, "tx_packets", w->tx_packets, g->tx_packets);
        ok &= counter_check(d, "tx_bytes", w->tx_bytes, g->tx_bytes);
        ok &= counter_check(d, "punted", w->punted, g->punted);
        for (int r = 0; r < DP_DROP_N_REASONS; r++) {
            ok &= counter_check(d, dp_drop_reason_name(r), w->drops[r],
                                g->drops[r]);
        }
    }
    if (!ok) {
        fail_msg("counters differ from what the story expects (above)");
    }
}

static uint64_t
drops_total(const struct dp_stats *s)
{
    uint64_t n = 0;

    for (int r = 0; r < DP_DROP_N_REASONS; r++) {
        n += s->drops[r];
    }
    return n;
}

/* Checks that the counters moved from 'a' to 'b' as a run of 'len' bytes
 * entering at 'in' with 'verdict' must move them, whatever the frame was:
 * a passed-through frame (uplink only) is not counted at all, any other is
 * received once; a dropped frame has exactly one drop reason and went
 * nowhere (unless it was a flood that failed half way); a redirected one
 * went to exactly one place and was not dropped;
 * a flooded one went somewhere, with no drop other than a VTEP whose next
 * hop is unresolved.  Returns NULL or what is wrong. */
static const char *
accounting_error(const struct counters *a, const struct counters *b,
                 enum dev in, int verdict, size_t len)
{
    uint64_t rx = 0, tx = 0, drops = 0, neigh_drops = 0;

    for (int d = 0; d < N_DEVS; d++) {
        rx += b->dev[d].rx_packets - a->dev[d].rx_packets;
        tx += b->dev[d].tx_packets - a->dev[d].tx_packets;
        drops += drops_total(&b->dev[d]) - drops_total(&a->dev[d]);
        neigh_drops += b->dev[d].drops[DP_DROP_NO_NEIGH]
                       - a->dev[d].drops[DP_DROP_NO_NEIGH];
    }
    if (verdict == TC_ACT_OK) {
        if (in != D_UL) {
            return "a port never passes a frame to the host stack";
        }
        return rx || tx || drops ? "a passed-through frame was counted" : NULL;
    }
    if (rx != 1 || b->dev[in].rx_packets != a->dev[in].rx_packets + 1
        || b->dev[in].rx_bytes != a->dev[in].rx_bytes + len) {
        return "the frame was not counted once as received where it entered";
    }
    switch (verdict) {
    case TC_ACT_SHOT:
        if (drops != 1
            || drops_total(&b->dev[in]) != drops_total(&a->dev[in]) + 1) {
            return "a dropped frame must have exactly one drop reason, "
                   "counted where it entered";
        }
        /* A flood whose encapsulation failed has already sent its local
         * copies. */
        if (tx
            && b->dev[in].drops[DP_DROP_ENCAP_FAILED]
                   == a->dev[in].drops[DP_DROP_ENCAP_FAILED]) {
            return "a dropped frame was counted as sent";
        }
        return NULL;
    case TC_ACT_REDIRECT:
        if (drops) {
            return "a redirected frame was counted as dropped";
        }
        return tx != 1 ? "a redirected frame must be sent exactly once" : NULL;
    case TC_ACT_STOLEN:
        if (drops != neigh_drops) {
            return "a flooded frame was counted as dropped";
        }
        return tx ? NULL : "a flooded frame was sent nowhere";
    default:
        return "unexpected verdict";
    }
}

/* Running the programs. */

/* Runs the port program on 'len' bytes at 'pkt' as if the VM of port 'from'
 * sent them, and returns the verdict. */
static int
run_port_gso(enum fx_port_id from, const uint8_t *pkt, size_t len,
             uint32_t gso_size)
{
    int error = fixture_run(fx.port_prog, fx.ports[from].ifindex, pkt, len,
                            gso_size, &res);

    if (error) {
        fail_msg("BPF_PROG_TEST_RUN of the port program on %zu bytes: %s", len,
                 strerror(error));
    }
    return res.verdict;
}

static int
run_port(enum fx_port_id from, const uint8_t *pkt, size_t len)
{
    return run_port_gso(from, pkt, len, 0);
}

/* Runs the uplink program as if the underlay received the frame. */
static int
run_uplink(const uint8_t *pkt, size_t len)
{
    int error = fixture_run(fx.uplink_prog, fx.underlay, pkt, len, 0, &res);

    if (error) {
        fail_msg("BPF_PROG_TEST_RUN of the uplink program on %zu bytes: %s",
                 len, strerror(error));
    }
    return res.verdict;
}

static void
hexdump(const char *title, const uint8_t *p, size_t len)
{
    print_error("%s (%zu bytes):", title, len);
    for (size_t i = 0; i < len; i++) {
        print_error("%s%02x", i % 16 ? " " : "\n  ", p[i]);
    }
    print_error("\n");
}

/* Asserts that the last run left exactly the 'len' bytes at 'want'. */
static void
assert_output(const uint8_t *want, size_t len)
{
    size_t i;

    if (res.out_len == len && !memcmp(res.out, want, len)) {
        return;
    }
    for (i = 0; i < len && i < res.out_len && want[i] == res.out[i]; i++) {
        continue;
    }
    hexdump("expected", want, len);
    hexdump("got", res.out, res.out_len);
    fail_msg("output differs from the expected %zu bytes at offset %zu", len,
             i);
}

/* Building frames. */

static const struct fx_port *
port(enum fx_port_id id)
{
    return &fx.ports[id];
}

/* Writes a TCP frame from the VM of 'from' to 'dst_mac'/'dst_ip' with
 * 'payload' bytes of payload to 'buf'; returns its length. */
static size_t
tcp_from(uint8_t *buf, enum fx_port_id from, const uint8_t *dst_mac,
         uint32_t dst_ip, size_t payload)
{
    struct craft_flow flow = {
        .dst_mac = dst_mac,
        .src_mac = port(from)->mac,
        .src_ip = port(from)->ip4,
        .dst_ip = dst_ip,
        .proto = 6,
        .sport = 40000,
        .dport = 80,
    };

    return craft_ipv4_frame(buf, &flow, payload);
}

/* The same as UDP with a given TOS. */
static size_t
udp_from(uint8_t *buf, enum fx_port_id from, const uint8_t *dst_mac,
         uint32_t dst_ip, uint8_t tos, size_t payload)
{
    struct craft_flow flow = {
        .dst_mac = dst_mac,
        .src_mac = port(from)->mac,
        .src_ip = port(from)->ip4,
        .dst_ip = dst_ip,
        .proto = 17,
        .tos = tos,
        .sport = 5353,
        .dport = 9999,
    };

    return craft_ipv4_frame(buf, &flow, payload);
}

/* Writes an ARP request from the VM of 'from' asking for 'target'. */
static size_t
arp_request_from(uint8_t *buf, enum fx_port_id from, uint32_t spa,
                 uint32_t target)
{
    return craft_arp_frame(buf, broadcast_mac, port(from)->mac, 1,
                           port(from)->mac, spa, zero_mac, target);
}

/* The outer headers a remote VTEP (192.168.100.2) puts on a frame for us
 * in 'vni'. */
static struct craft_outer
outer_to_us(uint32_t vni)
{
    struct craft_outer o = {
        .ip = {.src = FX_VTEP_REMOTE, .dst = FX_VTEP_LOCAL, .df = true},
        .sport = 51234,
        .dport = 4789,
        .flags = 0x08,
        .vni = vni,
    };

    memcpy(o.dst_mac, fx.underlay_mac, 6);
    memcpy(o.src_mac, fx_remote_vtep_mac, 6);
    return o;
}

static size_t
vxlan_to_us(uint8_t *buf, uint32_t vni, const uint8_t *inner, size_t len)
{
    struct craft_outer o = outer_to_us(vni);

    return craft_vxlan_frame(buf, &o, inner, len);
}

/* Returns the outer UDP source port the datapath must pick for 'inner': the
 * shared flow hash (vxlan.h defines it) over the shared parser's view. */
static uint16_t
expected_sport(const uint8_t *inner, size_t len)
{
    uint8_t copy[CRAFT_MAX_FRAME];
    struct pkt_info info;

    memcpy(copy, inner, len);
    assert_int_equal(pkt_parse_frame(copy, copy + len, &info), 0);
    return vxlan_src_port(vxlan_flow_hash(&info));
}

/* Returns the outer TOS for 'inner': its DSCP and ECN field for IP (RFC
 * 6040, normal mode), otherwise 0. */
static uint8_t
expected_tos(const uint8_t *inner)
{
    uint16_t type = craft_get16(inner + 12);

    if (type == 0x0800) {
        return inner[15];
    }
    if (type == 0x86dd) {
        return (uint8_t) (craft_get16(inner + 14) >> 4);
    }
    return 0;
}

/* Writes to 'buf' what 'inner' must look like after encapsulation towards
 * 'vtep', whose next hop has MAC 'vtep_mac', in 'vni'. */
static size_t
expected_encap(uint8_t *buf, const uint8_t *inner, size_t len, uint32_t vni,
               uint32_t vtep, const uint8_t *vtep_mac)
{
    struct craft_outer o = {
        .ip = {.src = FX_VTEP_LOCAL,
               .dst = vtep,
               .tos = expected_tos(inner),
               .ttl = 64,
               .df = true},
        .sport = expected_sport(inner, len),
        .dport = 4789,
        .flags = 0x08,
        .vni = vni,
    };

    memcpy(o.dst_mac, vtep_mac, 6);
    memcpy(o.src_mac, fx.underlay_mac, 6);
    return craft_vxlan_frame(buf, &o, inner, len);
}

/* Capturing what the fast path sent elsewhere (flood copies). */

/* Opens a capture on 'name', with anything already queued thrown away. */
static int
capture_open(const char *name)
{
    uint8_t buf[CRAFT_MAX_FRAME];
    int fd = fixture_capture_open(name);

    if (fd < 0) {
        fail_msg("capturing on %s: %s", name, strerror(errno));
    }
    while (fixture_capture_recv(fd, buf, sizeof buf, 0, NULL) >= 0) {
        continue;
    }
    return fd;
}

/* Asserts that the next frame captured on 'fd' is the 'len' bytes at
 * 'want'. */
static void
capture_expect(int fd, const char *where, const uint8_t *want, size_t len)
{
    uint8_t got[CRAFT_MAX_FRAME];
    int n = fixture_capture_recv(fd, got, sizeof got, 1000, NULL);

    if (n < 0) {
        fail_msg("no frame arrived on %s", where);
    }
    if ((size_t) n != len || memcmp(got, want, len)) {
        hexdump("expected", want, len);
        hexdump("got", got, n);
        fail_msg("the frame on %s differs from the expected one", where);
    }
}

static void
capture_expect_none(int fd, const char *where)
{
    uint8_t got[CRAFT_MAX_FRAME];
    int n = fixture_capture_recv(fd, got, sizeof got, 200, NULL);

    if (n >= 0) {
        hexdump("unexpected", got, n);
        fail_msg("a frame arrived on %s, where none should", where);
    }
}

/* a) Local delivery. */

/* p1 and p2 share VNI 100: a frame between them is handed to p2's peer
 * unchanged, and counted as received from p1 and sent to p2. */
static void
test_local_delivery_veth(void **state)
{
    uint8_t pkt[256];
    size_t len = tcp_from(pkt, FX_P1, port(FX_P2)->mac, port(FX_P2)->ip4, 100);
    struct counters want;

    counters_read(&want);
    assert_int_equal(run_port(FX_P1, pkt, len), TC_ACT_REDIRECT);
    assert_output(pkt, len);
    count_rx(&want, D_P1, len);
    count_tx(&want, D_P2, len);
    counters_assert(&want);
}

/* A tap port is delivered to by plain redirect; the verdict is the same. */
static void
test_local_delivery_tap(void **state)
{
    uint8_t pkt[256];
    size_t len =
        udp_from(pkt, FX_P1, port(FX_TAP)->mac, port(FX_TAP)->ip4, 0, 64);
    struct counters want;

    counters_read(&want);
    assert_int_equal(run_port(FX_P1, pkt, len), TC_ACT_REDIRECT);
    assert_output(pkt, len);
    count_rx(&want, D_P1, len);
    count_tx(&want, D_TAP, len);
    counters_assert(&want);
}

/* An FDB entry in VNI 100 that points at p3 (VNI 200) is a programming
 * error; the fast path refuses to cross networks even so. */
static void
test_local_delivery_refuses_other_vni(void **state)
{
    static const uint8_t stray_mac[6] = {0x02, 0, 0, 0, 0, 0x77};
    struct dp_fdb_key key = {.vni = FX_VNI_A};
    struct dp_fdb_entry entry = {.ifindex = port(FX_P3)->ifindex};
    struct counters want;
    uint8_t pkt[256];
    size_t len = tcp_from(pkt, FX_P1, stray_mac, port(FX_P3)->ip4, 10);

    memcpy(key.mac, stray_mac, 6);
    assert_int_equal(dp_table_set(fx.dp, DP_FDB, &key, &entry), 0);
    counters_read(&want);
    assert_int_equal(run_port(FX_P1, pkt, len), TC_ACT_SHOT);
    count_rx(&want, D_P1, len);
    count_drop(&want, D_P1, DP_DROP_VNI_MISMATCH);
    counters_assert(&want);
    assert_int_equal(dp_table_del(fx.dp, DP_FDB, &key), 0);
    assert_int_equal(dp_table_get(fx.dp, DP_FDB, &key, &entry), ENOENT);
}

/* b) Encapsulation towards a remote VTEP. */

/* The story in full: a TCP frame from p1 to an endpoint behind
 * 192.168.100.2 leaves by the underlay with exactly 50 bytes of outer
 * headers in front of the untouched frame. */
static void
test_encap_remote_unicast(void **state)
{
    uint8_t pkt[256], want_pkt[512];
    size_t len = tcp_from(pkt, FX_P1, fx_remote_mac, FX_REMOTE_IP, 64);
    size_t want_len = expected_encap(want_pkt, pkt, len, FX_VNI_A,
                                     FX_VTEP_REMOTE, fx_remote_vtep_mac);
    const uint8_t *o = res.out;
    struct counters want;
    uint16_t sport;

    counters_read(&want);
    assert_int_equal(run_port(FX_P1, pkt, len), TC_ACT_REDIRECT);

    /* Field by field first, so that a failure names the field. */
    assert_int_equal(res.out_len, len + 50);
    assert_memory_equal(o, fx_remote_vtep_mac, 6);
    assert_memory_equal(o + 6, fx.underlay_mac, 6);
    assert_int_equal(craft_get16(o + 12), 0x0800);
    assert_int_equal(o[14], 0x45);
    assert_int_equal(o[15], 0);                      /* TOS. */
    assert_int_equal(craft_get16(o + 16), len + 36); /* Total length. */
    assert_int_equal(craft_get16(o + 20), 0x4000);   /* DF, offset 0. */
    assert_int_equal(o[22], 64);                     /* TTL. */
    assert_int_equal(o[23], 17);                     /* UDP. */
    assert_int_equal(craft_csum(o + 14, 20), 0);     /* Valid checksum. */
    assert_int_equal(craft_get32(o + 26), FX_VTEP_LOCAL);
    assert_int_equal(craft_get32(o + 30), FX_VTEP_REMOTE);
    sport = craft_get16(o + 34);
    assert_in_range(sport, 49152, 65535);
    assert_int_equal(sport, expected_sport(pkt, len));
    assert_int_equal(craft_get16(o + 36), 4789);
    assert_int_equal(craft_get16(o + 38), len + 16); /* UDP length. */
    assert_int_equal(craft_get16(o + 40), 0);        /* No checksum. */
    assert_int_equal(o[42], 0x08);                   /* I flag only. */
    assert_int_equal(o[43] | o[44] | o[45], 0);      /* Reserved. */
    assert_int_equal(craft_get32(o + 46) >> 8, FX_VNI_A);
    assert_int_equal(o[49], 0); /* Reserved. */
    assert_memory_equal(o + 50, pkt, len);

    /* Then all of it, against the independently built packet. */
    assert_output(want_pkt, want_len);

    count_rx(&want, D_P1, len);
    count_tx(&want, D_UL, len + 50);
    counters_assert(&want);
}

/* The shared vxlan_build_outer() agrees with the crafted headers, so the
 * tests and the fast path do not merely share a mistake. */
static void
test_encap_matches_vxlan_build_outer(void **state)
{
    uint8_t pkt[256], want_pkt[512];
    size_t len = tcp_from(pkt, FX_P1, fx_remote_mac, FX_REMOTE_IP, 64);
    struct vxlan_encap_params p = {
        .src_ip = htonl(FX_VTEP_LOCAL),
        .dst_ip = htonl(FX_VTEP_REMOTE),
        .vni = FX_VNI_A,
        .ttl = 64,
        .dont_fragment = 1,
    };
    struct vxlan_outer outer;
    struct pkt_info info;

    memcpy(p.src_mac, fx.underlay_mac, 6);
    memcpy(p.dst_mac, fx_remote_vtep_mac, 6);
    assert_int_equal(pkt_parse_frame(pkt, pkt + len, &info), 0);
    vxlan_build_outer(&outer, &p, &info, len);
    expected_encap(want_pkt, pkt, len, FX_VNI_A, FX_VTEP_REMOTE,
                   fx_remote_vtep_mac);
    assert_int_equal(sizeof outer, 50);
    assert_memory_equal(&outer, want_pkt, sizeof outer);
}

/* The outer header copies the inner DSCP (uniform model) and, per RFC
 * 6040's normal mode, its ECN field: ECT(1) here. */
static void
test_encap_copies_dscp(void **state)
{
    uint8_t pkt[256], want_pkt[512];
    size_t len = udp_from(pkt, FX_P1, fx_remote_mac, FX_REMOTE_IP, 0xb9, 20);
    size_t want_len = expected_encap(want_pkt, pkt, len, FX_VNI_A,
                                     FX_VTEP_REMOTE, fx_remote_vtep_mac);

    assert_int_equal(run_port(FX_P1, pkt, len), TC_ACT_REDIRECT);
    assert_int_equal(res.out[15], 0xb9);
    assert_output(want_pkt, want_len);
}

/* IPv6 from a link-local address is encapsulated the same way, its outer
 * source port hashed from the IPv6 flow. */
static void
test_encap_ipv6(void **state)
{
    static const uint8_t ll_src[16] = {0xfe, 0x80, [15] = 1};
    static const uint8_t ll_dst[16] = {0xfe, 0x80, [15] = 0x0a};
    uint8_t pkt[256], want_pkt[512];
    struct counters want;
    size_t len, want_len;

    len = craft_ipv6_udp_frame(pkt, fx_remote_mac, port(FX_P1)->mac, ll_src,
                               ll_dst, 30);
    want_len = expected_encap(want_pkt, pkt, len, FX_VNI_A, FX_VTEP_REMOTE,
                              fx_remote_vtep_mac);
    counters_read(&want);
    assert_int_equal(run_port(FX_P1, pkt, len), TC_ACT_REDIRECT);
    assert_output(want_pkt, want_len);
    count_rx(&want, D_P1, len);
    count_tx(&want, D_UL, len + 50);
    counters_assert(&want);
}

/* A VM's unicast ARP reply to an endpoint behind another VTEP is
 * encapsulated like any other frame; its outer source port comes from the
 * MAC addresses. */
static void
test_encap_arp(void **state)
{
    uint8_t pkt[128], want_pkt[256];
    size_t len = craft_arp_frame(pkt, fx_remote_mac, port(FX_P1)->mac, 2,
                                 port(FX_P1)->mac, port(FX_P1)->ip4,
                                 fx_remote_mac, FX_REMOTE_IP);
    size_t want_len = expected_encap(want_pkt, pkt, len, FX_VNI_A,
                                     FX_VTEP_REMOTE, fx_remote_vtep_mac);
    struct counters want;

    counters_read(&want);
    run_port(FX_P1, pkt, len);
    count_rx(&want, D_P1, len);
    count_tx(&want, D_UL, len + 50);
    counters_assert(&want);
    assert_int_equal(res.verdict, TC_ACT_REDIRECT);
    assert_output(want_pkt, want_len);
}

/* The outer TTL comes from the configuration, 64 when it says 0. */
static void
test_encap_ttl_from_config(void **state)
{
    struct dp_config config, saved;
    uint8_t pkt[256];
    size_t len = tcp_from(pkt, FX_P1, fx_remote_mac, FX_REMOTE_IP, 10);

    assert_int_equal(dp_get_config(fx.dp, &saved), 0);
    assert_int_equal(ntohl(saved.vtep_ip), FX_VTEP_LOCAL);
    assert_int_equal(saved.underlay_ifindex, fx.underlay);

    config = saved;
    config.ttl = 7;
    assert_int_equal(dp_configure(fx.dp, &config), 0);
    assert_int_equal(run_port(FX_P1, pkt, len), TC_ACT_REDIRECT);
    assert_int_equal(res.out[22], 7);
    assert_int_equal(craft_csum(res.out + 14, 20), 0);

    config.ttl = 0;
    assert_int_equal(dp_configure(fx.dp, &config), 0);
    assert_int_equal(run_port(FX_P1, pkt, len), TC_ACT_REDIRECT);
    assert_int_equal(res.out[22], 64);
    assert_int_equal(craft_csum(res.out + 14, 20), 0);

    assert_int_equal(dp_configure(fx.dp, &saved), 0);
}

/* While the agent has not resolved a VTEP's next hop, IPv4 still leaves
 * encapsulated (the kernel resolves the neighbour, so the outer MACs are
 * its business); ARP cannot, and is dropped as "no-neighbour". */
static void
test_encap_unresolved_next_hop(void **state)
{
    uint8_t pkt[256], want_pkt[512];
    struct counters want;
    size_t len, want_len;

    len = tcp_from(pkt, FX_P1, fx_no_neigh_mac, FX_REMOTE_IP, 10);
    want_len = expected_encap(want_pkt, pkt, len, FX_VNI_A, FX_VTEP_NO_NEIGH,
                              zero_mac);
    counters_read(&want);
    assert_int_equal(run_port(FX_P1, pkt, len), TC_ACT_REDIRECT);
    assert_int_equal(res.out_len, want_len);
    assert_memory_equal(res.out + 12, want_pkt + 12, want_len - 12);
    count_rx(&want, D_P1, len);
    count_tx(&want, D_UL, len + 50);
    counters_assert(&want);

    len = craft_arp_frame(pkt, fx_no_neigh_mac, port(FX_P1)->mac, 2,
                          port(FX_P1)->mac, port(FX_P1)->ip4, fx_no_neigh_mac,
                          FX_REMOTE_IP);
    assert_int_equal(run_port(FX_P1, pkt, len), TC_ACT_SHOT);
    count_rx(&want, D_P1, len);
    count_drop(&want, D_P1, DP_DROP_NO_NEIGH);
    counters_assert(&want);
}

/* A next hop that goes away and comes back (the agent deletes it when the
 * neighbour fails, rewrites it when it resolves again): encapsulation
 * follows at once, through the VTEP's next-hop slot. */
static void
test_encap_next_hop_removed_and_back(void **state)
{
    struct dp_nexthop_key key = {.vtep = htonl(FX_VTEP_REMOTE)};
    uint8_t pkt[256], want_pkt[512];
    struct dp_nexthop saved;
    size_t len, want_len;

    (void) state;
    assert_int_equal(dp_table_get(fx.dp, DP_NEXTHOPS, &key, &saved), 0);
    assert_int_equal(dp_table_del(fx.dp, DP_NEXTHOPS, &key), 0);

    len = tcp_from(pkt, FX_P1, fx_remote_mac, FX_REMOTE_IP, 10);
    want_len =
        expected_encap(want_pkt, pkt, len, FX_VNI_A, FX_VTEP_REMOTE, zero_mac);
    assert_int_equal(run_port(FX_P1, pkt, len), TC_ACT_REDIRECT);
    assert_int_equal(res.out_len, want_len);
    /* The kernel fills in the outer MACs: they are not ours to check. */
    assert_memory_equal(res.out + 12, want_pkt + 12, want_len - 12);
    len = craft_arp_frame(pkt, fx_remote_mac, port(FX_P1)->mac, 2,
                          port(FX_P1)->mac, port(FX_P1)->ip4, fx_remote_mac,
                          FX_REMOTE_IP);
    assert_int_equal(run_port(FX_P1, pkt, len), TC_ACT_SHOT);

    assert_int_equal(dp_table_set(fx.dp, DP_NEXTHOPS, &key, &saved), 0);
    len = tcp_from(pkt, FX_P1, fx_remote_mac, FX_REMOTE_IP, 10);
    want_len = expected_encap(want_pkt, pkt, len, FX_VNI_A, FX_VTEP_REMOTE,
                              fx_remote_vtep_mac);
    assert_int_equal(run_port(FX_P1, pkt, len), TC_ACT_REDIRECT);
    assert_output(want_pkt, want_len);
}

/* c) Decapsulation on the underlay. */

/* VXLAN for VNI 100 to p2's MAC: the outer 50 bytes go, the inner frame is
 * handed to p2 byte for byte. */
static void
test_decap_to_local_port(void **state)
{
    struct craft_flow flow = {
        .dst_mac = port(FX_P2)->mac,
        .src_mac = fx_remote_mac,
        .src_ip = FX_REMOTE_IP,
        .dst_ip = port(FX_P2)->ip4,
        .proto = 6,
        .sport = 443,
        .dport = 40001,
    };
    uint8_t inner[256], pkt[512];
    size_t inner_len = craft_ipv4_frame(inner, &flow, 200);
    struct counters want;
    size_t len;

    len = vxlan_to_us(pkt, FX_VNI_A, inner, inner_len);
    counters_read(&want);
    assert_int_equal(run_uplink(pkt, len), TC_ACT_REDIRECT);
    assert_output(inner, inner_len);
    count_rx(&want, D_UL, len);
    count_tx(&want, D_P2, inner_len);
    counters_assert(&want);
}

/* The same to the tap, and with IPv6 and ARP inside. */
static void
test_decap_tap_ipv6_arp(void **state)
{
    static const uint8_t src6[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 0x0a};
    static const uint8_t dst6[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 0x04};
    uint8_t inner[256], pkt[512];
    struct counters want;
    size_t inner_len, len;

    counters_read(&want);
    inner_len = craft_ipv6_udp_frame(inner, port(FX_TAP)->mac, fx_remote_mac,
                                     src6, dst6, 40);
    len = vxlan_to_us(pkt, FX_VNI_A, inner, inner_len);
    assert_int_equal(run_uplink(pkt, len), TC_ACT_REDIRECT);
    assert_output(inner, inner_len);
    count_rx(&want, D_UL, len);
    count_tx(&want, D_TAP, inner_len);

    inner_len = craft_arp_frame(inner, port(FX_P2)->mac, fx_remote_mac, 2,
                                fx_remote_mac, FX_REMOTE_IP, port(FX_P2)->mac,
                                port(FX_P2)->ip4);
    len = vxlan_to_us(pkt, FX_VNI_A, inner, inner_len);
    assert_int_equal(run_uplink(pkt, len), TC_ACT_REDIRECT);
    assert_output(inner, inner_len);
    count_rx(&want, D_UL, len);
    count_tx(&want, D_P2, inner_len);
    counters_assert(&want);
}

/* Real traffic this time, not BPF_PROG_TEST_RUN: p2's VM side moves to a
 * namespace of its own, as in production, and VXLAN sent into the underlay
 * is decapsulated by the program dp_configure() attached and delivered by
 * bpf_redirect_peer().  The VM's stack must receive each frame as what it
 * is: it hands a frame to the protocol skb->protocol names, so an ARP frame
 * still marked with the outer IPv4 ends up in ip_rcv() and is dropped as a
 * bad IPv4 header. */
static void
test_decap_delivers_inner_protocol(void **state)
{
    static const uint8_t src6[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 0x0a};
    static const uint8_t dst6[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 0x02};
    int vm_fd = fixture_capture_open_guest(&fx, "p2vm");
    uint8_t inner[256], pkt[512], got[CRAFT_MAX_FRAME];
    struct counters want;

    assert_true(vm_fd >= 0);
    counters_read(&want);
    for (int i = 0; i < 3; i++) {
        const char *what = i == 0 ? "IPv4" : i == 1 ? "IPv6" : "ARP";
        uint16_t type = i == 0 ? 0x0800 : i == 1 ? 0x86dd : 0x0806;
        uint16_t protocol = 0;
        size_t inner_len, len;
        int n;

        if (i == 0) {
            inner_len = udp_from(inner, FX_P1, port(FX_P2)->mac,
                                 port(FX_P2)->ip4, 0, 20);
            memcpy(inner + 6, fx_remote_mac, 6);
        } else if (i == 1) {
            inner_len = craft_ipv6_udp_frame(inner, port(FX_P2)->mac,
                                             fx_remote_mac, src6, dst6, 20);
        } else {
            /* A unicast request, as a host revalidating its cache sends. */
            inner_len = craft_arp_frame(inner, port(FX_P2)->mac, fx_remote_mac,
                                        1, fx_remote_mac, FX_REMOTE_IP,
                                        zero_mac, port(FX_P2)->ip4);
        }
        len = vxlan_to_us(pkt, FX_VNI_A, inner, inner_len);
        assert_int_equal(fixture_inject("ul1", pkt, len), 0);
        count_rx(&want, D_UL, len);
        count_tx(&want, D_P2, inner_len);

        n = fixture_capture_recv(vm_fd, got, sizeof got, 1000, &protocol);
        if (n < 0) {
            fail_msg("%s: nothing reached the VM", what);
        }
        if ((size_t) n != inner_len || memcmp(got, inner, inner_len)) {
            hexdump("expected", inner, inner_len);
            hexdump("got", got, n);
            fail_msg("%s: the VM received other bytes", what);
        }
        if (protocol != type) {
            fail_msg("%s: the VM's stack got the frame as protocol %#06x "
                     "(skb->protocol), not %#06x, and passes it to the "
                     "wrong handler",
                     what, protocol, type);
        }
    }
    counters_assert(&want);
    close(vm_fd);
}

static int
p2_to_guest(void **state)
{
    fixture_drain_tap(&fx);
    return fixture_to_guest(&fx, "p2vm") ? -1 : 0;
}

static int
p2_from_guest(void **state)
{
    return fixture_from_guest(&fx, "p2vm") ? -1 : 0;
}

/* A frame from the underlay for a MAC that lives behind another VTEP is
 * never sent back to the underlay. */
static void
test_decap_never_back_to_underlay(void **state)
{
    uint8_t inner[256], pkt[512];
    size_t inner_len =
        udp_from(inner, FX_P1, fx_remote_mac, FX_REMOTE_IP, 0, 10);
    size_t len = vxlan_to_us(pkt, FX_VNI_A, inner, inner_len);
    struct counters want;

    counters_read(&want);
    assert_int_equal(run_uplink(pkt, len), TC_ACT_SHOT);
    count_rx(&want, D_UL, len);
    count_drop(&want, D_UL, DP_DROP_NO_DEST);
    counters_assert(&want);
}

/* d) The ARP responder. */

/* p1 asks for p2's address: the request comes back as the reply p2 would
 * have sent, out of p1, and is flooded nowhere.  p3 owns the same address
 * in VNI 200, which must not matter. */
static void
test_arp_reply_for_bound_ip(void **state)
{
    uint8_t pkt[128], want_pkt[128];
    size_t len =
        arp_request_from(pkt, FX_P1, port(FX_P1)->ip4, port(FX_P2)->ip4);
    size_t want_len = craft_arp_frame(
        want_pkt, port(FX_P1)->mac, port(FX_P2)->mac, 2, port(FX_P2)->mac,
        port(FX_P2)->ip4, port(FX_P1)->mac, port(FX_P1)->ip4);
    struct counters want;

    counters_read(&want);
    assert_int_equal(run_port(FX_P1, pkt, len), TC_ACT_REDIRECT);
    assert_output(want_pkt, want_len);
    count_rx(&want, D_P1, len);
    count_tx(&want, D_P1, len);
    counters_assert(&want);
}

/* A VM pads its ARP request to the 60-byte Ethernet minimum; the reply
 * keeps the length, and the answer for a remote endpoint is its MAC. */
static void
test_arp_reply_padded_and_remote(void **state)
{
    uint8_t pkt[128], want_pkt[128];

    memset(pkt, 0, sizeof pkt);
    memset(want_pkt, 0, sizeof want_pkt);
    arp_request_from(pkt, FX_P1, port(FX_P1)->ip4, FX_REMOTE_IP);
    craft_arp_frame(want_pkt, port(FX_P1)->mac, fx_remote_mac, 2,
                    fx_remote_mac, FX_REMOTE_IP, port(FX_P1)->mac,
                    port(FX_P1)->ip4);
    assert_int_equal(run_port(FX_P1, pkt, 60), TC_ACT_REDIRECT);
    assert_output(want_pkt, 60);
}

/* Bindings belong to a VNI: p3 (VNI 200) gets the answer for an address
 * bound in VNI 200, and p1 (VNI 100) asking for the same address does
 * not. */
static void
test_arp_bindings_are_per_vni(void **state)
{
    uint8_t pkt[128], want_pkt[128];
    size_t len =
        arp_request_from(pkt, FX_P3, port(FX_P3)->ip4, FX_REMOTE_B_IP);
    size_t want_len = craft_arp_frame(
        want_pkt, port(FX_P3)->mac, fx_remote_b_mac, 2, fx_remote_b_mac,
        FX_REMOTE_B_IP, port(FX_P3)->mac, port(FX_P3)->ip4);

    struct counters before, after;

    assert_int_equal(run_port(FX_P3, pkt, len), TC_ACT_REDIRECT);
    assert_output(want_pkt, want_len);

    /* Not answered: nothing goes back to p1, and the request is flooded
     * (what becomes of its remote copies is test_arp_flood's story). */
    len = arp_request_from(pkt, FX_P1, port(FX_P1)->ip4, FX_REMOTE_B_IP);
    counters_read(&before);
    assert_int_not_equal(run_port(FX_P1, pkt, len), TC_ACT_REDIRECT);
    counters_read(&after);
    assert_int_equal(after.dev[D_P1].tx_packets, before.dev[D_P1].tx_packets);
    assert_int_equal(after.dev[D_P2].tx_packets,
                     before.dev[D_P2].tx_packets + 1);
}

/* Requests the responder must not answer are flooded instead, to the local
 * ports and to every remote VTEP: one for an unbound address, a gratuitous
 * ARP (sender = target, as a migrated VM announces itself) and a duplicate
 * address probe (sender 0.0.0.0), which must reach the other endpoints. */
static void
test_arp_flood(void **state)
{
    const struct {
        const char *what;
        uint32_t spa;
        uint32_t tpa;
    } cases[] = {
        {"unbound", port(FX_P1)->ip4, UNBOUND_IP},
        {"gratuitous", port(FX_P1)->ip4, port(FX_P1)->ip4},
        {"probe", 0, port(FX_P2)->ip4},
    };

    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        uint8_t pkt[128];
        size_t len = arp_request_from(pkt, FX_P1, cases[i].spa, cases[i].tpa);
        struct counters want;

        counters_read(&want);
        run_port(FX_P1, pkt, len);
        print_message("ARP %s:\n", cases[i].what);
        count_rx(&want, D_P1, len);
        count_tx(&want, D_P2, len);
        count_tx(&want, D_TAP, len);
        count_tx(&want, D_UL, len + 50);
        count_tx(&want, D_UL, len + 50);
        counters_assert(&want);
        assert_int_equal(res.verdict, TC_ACT_STOLEN);
    }
}

/* e) Networks do not leak into each other. */

/* VXLAN for a VNI this host has no network for is dropped. */
static void
test_unknown_vni_dropped(void **state)
{
    uint8_t inner[256], pkt[512];
    size_t inner_len =
        tcp_from(inner, FX_P1, port(FX_P2)->mac, port(FX_P2)->ip4, 10);
    size_t len = vxlan_to_us(pkt, FX_VNI_UNKNOWN, inner, inner_len);
    struct counters want;

    counters_read(&want);
    assert_int_equal(run_uplink(pkt, len), TC_ACT_SHOT);
    count_rx(&want, D_UL, len);
    count_drop(&want, D_UL, DP_DROP_UNKNOWN_VNI);
    counters_assert(&want);
}

/* p1 (VNI 100) sends to p3's MAC (VNI 200): there is no such MAC in VNI
 * 100, so the frame floods VNI 100 and p3 never sees it. */
static void
test_no_delivery_across_vnis_from_port(void **state)
{
    int p3_fd = capture_open("p3vm");
    int p2_fd = capture_open("p2vm");
    uint8_t pkt[256];
    size_t len = tcp_from(pkt, FX_P1, port(FX_P3)->mac, port(FX_P3)->ip4, 10);
    struct counters want;

    counters_read(&want);
    assert_int_equal(run_port(FX_P1, pkt, len), TC_ACT_STOLEN);
    count_rx(&want, D_P1, len);
    count_tx(&want, D_P2, len);
    count_tx(&want, D_TAP, len);
    count_tx(&want, D_UL, len + 50);
    count_tx(&want, D_UL, len + 50);
    counters_assert(&want);
    /* The remote copies are for VNI 100 too. */
    assert_int_equal(craft_get32(res.out + 46) >> 8, FX_VNI_A);
    capture_expect(p2_fd, "p2vm", pkt, len);
    capture_expect_none(p3_fd, "p3vm");
    close(p2_fd);
    close(p3_fd);
}

/* From the underlay: VNI 200 traffic for p2's MAC reaches only VNI 200's
 * port, and VNI 100 traffic for p3's MAC only VNI 100's ports. */
static void
test_no_delivery_across_vnis_from_underlay(void **state)
{
    uint8_t inner[256], pkt[512];
    struct counters want;
    size_t inner_len, len;

    counters_read(&want);
    inner_len =
        udp_from(inner, FX_P1, port(FX_P2)->mac, port(FX_P2)->ip4, 0, 10);
    len = vxlan_to_us(pkt, FX_VNI_B, inner, inner_len);
    assert_int_equal(run_uplink(pkt, len), TC_ACT_STOLEN);
    assert_output(inner, inner_len);
    count_rx(&want, D_UL, len);
    count_tx(&want, D_P3, inner_len);
    counters_assert(&want);

    inner_len =
        udp_from(inner, FX_P1, port(FX_P3)->mac, port(FX_P3)->ip4, 0, 10);
    len = vxlan_to_us(pkt, FX_VNI_A, inner, inner_len);
    assert_int_equal(run_uplink(pkt, len), TC_ACT_STOLEN);
    count_rx(&want, D_UL, len);
    count_tx(&want, D_P1, inner_len);
    count_tx(&want, D_P2, inner_len);
    count_tx(&want, D_TAP, inner_len);
    counters_assert(&want);
}

/* e2) ECN across the tunnel (RFC 6040, vxlan/ecn.h). */

/* Sends VXLAN to p2 whose outer TOS is 'outer_tos' around a UDP frame from
 * the remote VM with TOS 'inner_tos'; returns the verdict, the inner frame
 * sent in 'inner' and its length in '*inner_len'. */
static int
ecn_decap_run(uint8_t outer_tos, uint8_t inner_tos, uint8_t *inner,
              size_t *inner_len)
{
    struct craft_flow flow = {
        .dst_mac = port(FX_P2)->mac,
        .src_mac = fx_remote_mac,
        .src_ip = FX_REMOTE_IP,
        .dst_ip = port(FX_P2)->ip4,
        .proto = 17,
        .tos = inner_tos,
        .sport = 7000,
        .dport = 7001,
    };
    struct craft_outer o = outer_to_us(FX_VNI_A);
    uint8_t pkt[512];
    size_t len;

    *inner_len = craft_ipv4_frame(inner, &flow, 30);
    o.ip.tos = outer_tos;
    len = craft_vxlan_frame(pkt, &o, inner, *inner_len);
    return run_uplink(pkt, len);
}

/* Congestion the underlay marked on the outer header reaches an
 * ECN-capable inner header as CE, with its checksum still right; outer
 * ECT(1) over inner ECT(0) becomes ECT(1); and an unmarked outer header
 * changes nothing, DSCP included.  Outer CE over a Not-ECT inner header is
 * dropped and counted as "ecn-ce-not-ect": delivering it would hide the
 * congestion from a transport that cannot hear of it. */
static void
test_decap_ecn(void **state)
{
    static const struct {
        uint8_t outer, inner, want; /* TOS bytes. */
    } cases[] = {
        {0x03, 0x02, 0x03}, /* CE over ECT(0): CE. */
        {0x03, 0xb9, 0xbb}, /* CE over EF with ECT(1): EF with CE. */
        {0xb9, 0x02, 0x01}, /* ECT(1) over ECT(0): ECT(1). */
        {0x02, 0xb8, 0xb8}, /* ECT(0) over Not-ECT: unchanged. */
        {0x00, 0x03, 0x03}, /* Not-ECT over CE: still CE. */
        {0xfc, 0x01, 0x01}, /* Outer DSCP never leaks inside. */
    };
    uint8_t inner[256];
    struct counters want;
    size_t inner_len;

    counters_read(&want);
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        print_message("outer %#x inner %#x\n", cases[i].outer, cases[i].inner);
        assert_int_equal(
            ecn_decap_run(cases[i].outer, cases[i].inner, inner, &inner_len),
            TC_ACT_REDIRECT);
        assert_int_equal(res.out_len, inner_len);
        assert_int_equal(res.out[14 + 1], cases[i].want);
        assert_int_equal(craft_csum(res.out + 14, 20), 0);
        /* Nothing else of the frame changes. */
        assert_memory_equal(res.out, inner, 15);
        assert_memory_equal(res.out + 16, inner + 16, 8);
        assert_memory_equal(res.out + 26, inner + 26, inner_len - 26);
        count_rx(&want, D_UL, inner_len + 50);
        count_tx(&want, D_P2, inner_len);
    }
    counters_assert(&want);

    assert_int_equal(ecn_decap_run(0x03, 0x00, inner, &inner_len),
                     TC_ACT_SHOT);
    assert_int_equal(ecn_decap_run(0xbb, 0xb8, inner, &inner_len),
                     TC_ACT_SHOT);
    count_rx(&want, D_UL, inner_len + 50);
    count_rx(&want, D_UL, inner_len + 50);
    count_drop(&want, D_UL, DP_DROP_ECN_NOT_ECT);
    count_drop(&want, D_UL, DP_DROP_ECN_NOT_ECT);
    counters_assert(&want);
}

/* The same for IPv6, whose ECN field straddles its first two bytes: outer
 * CE marks an ECT(0) inner header CE, and only the two bits change. */
static void
test_decap_ecn_ipv6(void **state)
{
    static const uint8_t src6[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 0x0a};
    static const uint8_t dst6[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 0x04};
    struct craft_outer o = outer_to_us(FX_VNI_A);
    uint8_t inner[256], pkt[512];
    size_t inner_len, len;

    inner_len = craft_ipv6_udp_frame(inner, port(FX_TAP)->mac, fx_remote_mac,
                                     src6, dst6, 40);
    inner[15] |= 0x20; /* Traffic class 0x02: ECT(0). */
    o.ip.tos = 0x03;
    len = craft_vxlan_frame(pkt, &o, inner, inner_len);
    assert_int_equal(run_uplink(pkt, len), TC_ACT_REDIRECT);
    assert_int_equal(res.out_len, inner_len);
    assert_int_equal(res.out[14], inner[14]);
    assert_int_equal(res.out[15], inner[15] | 0x30);
    assert_memory_equal(res.out + 16, inner + 16, inner_len - 16);
}

/* f) Port security. */

/* Runs 'pkt' from p1 and checks it is dropped for 'reason'. */
static void
expect_port_drop(const char *what, const uint8_t *pkt, size_t len,
                 enum dp_drop_reason reason)
{
    struct counters want;

    counters_read(&want);
    if (run_port(FX_P1, pkt, len) != TC_ACT_SHOT) {
        fail_msg("%s: verdict %d, expected TC_ACT_SHOT (%s)", what,
                 res.verdict, dp_drop_reason_name(reason));
    }
    count_rx(&want, D_P1, len);
    count_drop(&want, D_P1, reason);
    counters_assert(&want);
}

/* A VM sends only from its own MAC and IPv4 address, in Ethernet and in
 * ARP alike, and IPv6 only from its address or link-local. */
static void
test_port_security_drops_spoofing(void **state)
{
    static const uint8_t global6[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 1};
    static const uint8_t peer6[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 2};
    struct craft_flow flow = {
        .dst_mac = port(FX_P2)->mac,
        .src_mac = spoofed_mac,
        .src_ip = port(FX_P1)->ip4,
        .dst_ip = port(FX_P2)->ip4,
        .proto = 17,
        .sport = 1,
        .dport = 2,
    };
    uint8_t pkt[256];
    size_t len;

    len = craft_ipv4_frame(pkt, &flow, 10);
    expect_port_drop("spoofed MAC", pkt, len, DP_DROP_SPOOF_MAC);

    flow.src_mac = port(FX_P1)->mac;
    flow.src_ip = SPOOFED_IP;
    len = craft_ipv4_frame(pkt, &flow, 10);
    expect_port_drop("spoofed IPv4", pkt, len, DP_DROP_SPOOF_IP);

    len = craft_arp_frame(pkt, broadcast_mac, port(FX_P1)->mac, 1, spoofed_mac,
                          port(FX_P1)->ip4, zero_mac, port(FX_P2)->ip4);
    expect_port_drop("ARP with a spoofed sender MAC", pkt, len,
                     DP_DROP_SPOOF_MAC);

    len = craft_arp_frame(pkt, broadcast_mac, port(FX_P1)->mac, 1,
                          port(FX_P1)->mac, SPOOFED_IP, zero_mac,
                          port(FX_P2)->ip4);
    expect_port_drop("ARP with a spoofed sender IP", pkt, len,
                     DP_DROP_SPOOF_IP);

    len = craft_ipv6_udp_frame(pkt, port(FX_P2)->mac, port(FX_P1)->mac,
                               global6, peer6, 10);
    expect_port_drop("IPv6 from an address not the port's", pkt, len,
                     DP_DROP_SPOOF_IP);
}

/* What port security lets through: IPv6 link-local and unspecified
 * sources.  (IPv4 from 0.0.0.0 is a DHCP client's, which is punted:
 * test_dhcp_punted().) */
static void
test_port_security_allows(void **state)
{
    static const uint8_t ll[16] = {0xfe, 0x80, [15] = 1};
    static const uint8_t unspecified[16];
    static const uint8_t all_nodes[16] = {0xff, 0x02, [15] = 1};
    uint8_t pkt[512];
    size_t len;

    len = craft_ipv6_udp_frame(pkt, port(FX_P2)->mac, port(FX_P1)->mac, ll,
                               all_nodes, 10);
    assert_int_equal(run_port(FX_P1, pkt, len), TC_ACT_REDIRECT);
    len = craft_ipv6_udp_frame(pkt, port(FX_P2)->mac, port(FX_P1)->mac,
                               unspecified, all_nodes, 10);
    assert_int_equal(run_port(FX_P1, pkt, len), TC_ACT_REDIRECT);
}

/* DHCP from the fabric (doc/vms.md). */

/* Writes to 'buf' a DHCP client message of type 'type' in a frame from
 * 'src_mac', 'src_ip' to 'dst_mac', 'dst_ip' (UDP 68 -> 67), asking for
 * 'chaddr'; returns its length. */
static size_t
dhcp_frame(uint8_t *buf, const uint8_t *src_mac, uint32_t src_ip,
           const uint8_t *dst_mac, uint32_t dst_ip, const uint8_t *chaddr,
           uint8_t type)
{
    struct craft_flow flow = {
        .dst_mac = dst_mac,
        .src_mac = src_mac,
        .src_ip = src_ip,
        .dst_ip = dst_ip,
        .proto = 17,
        .sport = DHCP_CLIENT_PORT,
        .dport = DHCP_SERVER_PORT,
    };
    size_t len = craft_ipv4_frame(buf, &flow, 300);
    struct dhcp_header *h = (struct dhcp_header *) (buf + 42);
    uint8_t *opt = (uint8_t *) (h + 1);

    memset(h, 0, 300);
    h->op = DHCP_OP_REQUEST;
    h->htype = DHCP_HTYPE_ETHER;
    h->hlen = 6;
    h->xid = htonl(0x5eed);
    h->ciaddr = htonl(src_ip);
    memcpy(h->chaddr, chaddr, 6);
    h->magic = htonl(DHCP_MAGIC);
    opt[0] = DHCP_OPT_MSG_TYPE;
    opt[1] = 1;
    opt[2] = type;
    opt[3] = DHCP_OPT_END;
    /* The UDP checksum covers what was just written: 0 says "none". */
    buf[40] = buf[41] = 0;
    return len;
}

/* Collects punts from the ring into 'aux', a struct punts. */
struct punts {
    struct dp_punt last; /* The last one read. */
    int n;               /* How many were read. */
};

static void
punt_cb(const struct dp_punt *p, void *aux)
{
    struct punts *punts = aux;

    punts->last = *p;
    punts->n++;
}

/* Reads every waiting punt into 'out'. */
static void
punts_read(struct dp_punts *reader, struct punts *out)
{
    memset(out, 0, sizeof *out);
    assert_int_equal(dp_punts_poll(reader, 0), 0);
}

/* A DISCOVER from 0.0.0.0 to the broadcast address, and a renewal
 * unicast from the port's address to the server, go to the agent through
 * the punt ring, whole, and nowhere else: no port, no VTEP, no flood, and
 * counted as punted.  A trace says "punted" and sends nothing. */
static void
test_dhcp_punted(void **state)
{
    struct dp_trace_result *trace = calloc(1, sizeof *trace);
    struct dp_punts *reader;
    struct counters want;
    struct punts got;
    uint8_t pkt[512];
    size_t len;
    int p2vm;

    assert_int_equal(dp_punts_open(fx.dp, punt_cb, &got, &reader), 0);
    punts_read(reader, &got);
    p2vm = capture_open("p2");

    len = dhcp_frame(pkt, port(FX_P1)->mac, 0, broadcast_mac,
                     CRAFT_IP4(255, 255, 255, 255), port(FX_P1)->mac,
                     DHCP_DISCOVER);
    counters_read(&want);
    assert_int_equal(run_port(FX_P1, pkt, len), TC_ACT_STOLEN);
    count_rx(&want, D_P1, len);
    want.dev[D_P1].punted++;
    counters_assert(&want);
    punts_read(reader, &got);
    assert_int_equal(got.n, 1);
    assert_int_equal(got.last.ifindex, port(FX_P1)->ifindex);
    assert_int_equal(got.last.reason, DP_PUNT_DHCP);
    assert_int_equal(got.last.len, len);
    assert_int_equal(got.last.copied, len);
    assert_memory_equal(got.last.frame, pkt, len);

    len = dhcp_frame(pkt, port(FX_P1)->mac, port(FX_P1)->ip4, unknown_mac,
                     CRAFT_IP4(10, 0, 0, 254), port(FX_P1)->mac, DHCP_REQUEST);
    assert_int_equal(run_port(FX_P1, pkt, len), TC_ACT_STOLEN);
    count_rx(&want, D_P1, len);
    want.dev[D_P1].punted++;
    counters_assert(&want);
    punts_read(reader, &got);
    assert_int_equal(got.n, 1);
    assert_memory_equal(got.last.frame, pkt, len);
    capture_expect_none(p2vm, "p2");

    assert_int_equal(
        dp_trace(fx.dp, DP_TRACE_PORT, port(FX_P1)->ifindex, pkt, len, trace),
        0);
    assert_true(trace->punted);
    assert_int_equal(trace->tc_action, TC_ACT_STOLEN);
    assert_int_equal(trace->drop_reason, -1);
    count_rx(&want, D_P1, len);
    counters_assert(&want);
    punts_read(reader, &got);
    assert_int_equal(got.n, 0);

    close(p2vm);
    dp_punts_close(reader);
    free(trace);
}

/* Nothing is behind the DHCP server's MAC but the punt: anything else to
 * it, such as a guest's ICMP error about an answer, is dropped rather than
 * flooded as unknown unicast. */
static void
test_dhcp_server_mac_not_flooded(void **state)
{
    static const uint8_t server_mac[6] = DP_DHCP_SERVER_MAC;
    struct craft_flow flow = {
        .dst_mac = server_mac,
        .src_mac = port(FX_P1)->mac,
        .src_ip = port(FX_P1)->ip4,
        .dst_ip = CRAFT_IP4(10, 0, 0, 254),
        .proto = 17,
        .sport = 68,
        .dport = 9,
    };
    uint8_t pkt[512];
    size_t len;

    len = craft_ipv4_frame(pkt, &flow, 100);
    expect_port_drop("UDP to the DHCP server's MAC", pkt, len,
                     DP_DROP_TO_DHCP_SERVER);
}

/* A DHCP message for another MAC (chaddr) or from another MAC is dropped
 * with its reason, with port security or without: the agent answers for
 * the port's MAC only. */
static void
test_dhcp_spoofed(void **state)
{
    uint8_t pkt[512];
    size_t len;

    for (int security = 1; security >= 0; security--) {
        assert_int_equal(
            fixture_set_port_flags(&fx, FX_P1,
                                   security ? DP_PORT_SECURITY | DP_PORT_VETH
                                            : DP_PORT_VETH),
            0);
        len = dhcp_frame(pkt, port(FX_P1)->mac, 0, broadcast_mac,
                         CRAFT_IP4(255, 255, 255, 255), spoofed_mac,
                         DHCP_DISCOVER);
        expect_port_drop("DHCP for another chaddr", pkt, len,
                         DP_DROP_SPOOF_CHADDR);
        len = dhcp_frame(pkt, spoofed_mac, 0, broadcast_mac,
                         CRAFT_IP4(255, 255, 255, 255), spoofed_mac,
                         DHCP_DISCOVER);
        expect_port_drop("DHCP from another MAC", pkt, len, DP_DROP_SPOOF_MAC);
    }
    assert_int_equal(
        fixture_set_port_flags(&fx, FX_P1, DP_PORT_SECURITY | DP_PORT_VETH),
        0);
}

/* From 0.0.0.0, port security lets only a DHCP client's broadcast to
 * port 67 through: other UDP, to another port or address, and TCP are
 * dropped as spoofed. */
static void
test_dhcp_only_from_nowhere(void **state)
{
    struct craft_flow flow = {
        .dst_mac = broadcast_mac,
        .src_mac = port(FX_P1)->mac,
        .src_ip = 0,
        .dst_ip = CRAFT_IP4(255, 255, 255, 255),
        .proto = 17,
        .sport = 68,
        .dport = 53,
    };
    uint8_t pkt[512];
    size_t len;

    len = craft_ipv4_frame(pkt, &flow, 300);
    expect_port_drop("UDP 68->53 from 0.0.0.0", pkt, len, DP_DROP_SPOOF_IP);
    flow.sport = 5000;
    flow.dport = 67;
    len = craft_ipv4_frame(pkt, &flow, 300);
    expect_port_drop("UDP 5000->67 from 0.0.0.0", pkt, len, DP_DROP_SPOOF_IP);
    flow.dst_mac = port(FX_P2)->mac;
    flow.dst_ip = port(FX_P2)->ip4;
    flow.sport = 68;
    flow.dport = 67;
    len = craft_ipv4_frame(pkt, &flow, 300);
    expect_port_drop("DHCP from 0.0.0.0 unicast to a VM", pkt, len,
                     DP_DROP_SPOOF_IP);
    flow.proto = 6;
    len = craft_ipv4_frame(pkt, &flow, 0);
    expect_port_drop("TCP from 0.0.0.0", pkt, len, DP_DROP_SPOOF_IP);
}

/* A VM that floods DHCP gets DP_PUNT_BURST punts at once, then
 * "punt-rate-limit" drops; another port's punts are not held back. */
static void
test_dhcp_rate_limited(void **state)
{
    struct dp_punts *reader;
    struct punts got;
    uint8_t pkt[512];
    int punted = 0, limited = 0;
    struct dp_stats before, after;
    size_t len;

    assert_int_equal(dp_punts_open(fx.dp, punt_cb, &got, &reader), 0);
    punts_read(reader, &got);
    assert_int_equal(dp_stats_get(fx.dp, port(FX_P2)->ifindex, &before), 0);
    len = dhcp_frame(pkt, port(FX_P2)->mac, 0, broadcast_mac,
                     CRAFT_IP4(255, 255, 255, 255), port(FX_P2)->mac,
                     DHCP_DISCOVER);
    for (int i = 0; i < 200; i++) {
        if (run_port(FX_P2, pkt, len) == TC_ACT_STOLEN) {
            punted++;
        } else {
            limited++;
        }
    }
    assert_int_equal(dp_stats_get(fx.dp, port(FX_P2)->ifindex, &after), 0);
    /* The burst, and what the rate refilled while the loop ran. */
    assert_in_range(punted, DP_PUNT_BURST, DP_PUNT_BURST + 2);
    assert_int_equal(after.punted - before.punted, punted);
    assert_int_equal(after.drops[DP_DROP_PUNT_RATE]
                         - before.drops[DP_DROP_PUNT_RATE],
                     limited);
    punts_read(reader, &got);
    assert_int_equal(got.n, punted);

    len = dhcp_frame(pkt, port(FX_P3)->mac, 0, broadcast_mac,
                     CRAFT_IP4(255, 255, 255, 255), port(FX_P3)->mac,
                     DHCP_DISCOVER);
    assert_int_equal(run_port(FX_P3, pkt, len), TC_ACT_STOLEN);
    punts_read(reader, &got);
    assert_int_equal(got.n, 1);
    assert_int_equal(got.last.ifindex, port(FX_P3)->ifindex);
    dp_punts_close(reader);
}

/* dp_inject() sends a frame to the VM behind a port, here the tap's
 * reader, and refuses lengths out of range. */
static void
test_dhcp_inject(void **state)
{
    uint8_t pkt[512];
    size_t len;

    len = dhcp_frame(pkt, unknown_mac, CRAFT_IP4(10, 0, 0, 254),
                     port(FX_TAP)->mac, port(FX_TAP)->ip4, port(FX_TAP)->mac,
                     DHCP_ACK);
    assert_int_equal(dp_inject(fx.dp, port(FX_TAP)->ifindex, pkt, len), 0);
    capture_expect(fx.tap_fd, "tap0", pkt, len);
    assert_int_equal(dp_inject(fx.dp, port(FX_TAP)->ifindex, pkt, 13),
                     EMSGSIZE);
    assert_int_equal(
        dp_inject(fx.dp, port(FX_TAP)->ifindex, pkt, DP_INJECT_MAX + 1),
        EMSGSIZE);
}

/* Writes a neighbour solicitation (type 135) or advertisement (136) from
 * p1 to 'buf': from 'src' to 'dst' (multicast MAC 33:33:00:00:00:01) for
 * 'target', with 'n_pad' options of an unchecked type (nonces of 24
 * bytes each) and then, if 'lla' is nonnull, a link-layer address option
 * (source for a solicitation, target for an advertisement) carrying 'lla'.
 * Returns the frame's length. */
static size_t
nd_frame(uint8_t *buf, uint8_t type, const uint8_t *src, const uint8_t *dst,
         const uint8_t *target, int n_pad, const uint8_t *lla)
{
    static const uint8_t all_nodes_mac[6] = {0x33, 0x33, 0, 0, 0, 1};
    size_t body = 24 + 24 * n_pad + (lla ? 8 : 0);
    uint8_t *p = buf;

    p += craft_eth(p, all_nodes_mac, port(FX_P1)->mac, 0x86dd);
    p += craft_ipv6_hdr(p, src, dst, 58, body);
    memset(p, 0, body);
    p[0] = type;
    memcpy(p + 8, target, 16);
    for (int i = 0; i < n_pad; i++) {
        p[24 + 24 * i] = 14;
        p[25 + 24 * i] = 3;
    }
    if (lla) {
        p[24 + 24 * n_pad] = type == 135 ? 1 : 2;
        p[25 + 24 * n_pad] = 1;
        memcpy(p + 26 + 24 * n_pad, lla, 6);
    }
    return (size_t) (p - buf) + body;
}

/* Port security covers neighbour discovery as it covers ARP: a VM
 * advertises only its own addresses (configured or link-local) and only
 * its own MAC, and probes (duplicate address detection) only for its own
 * addresses; it may solicit anyone's.  Options are checked wherever they
 * are, past the headers the program reads directly too. */
static void
test_port_security_nd(void **state)
{
    static const uint8_t own6[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 1};
    static const uint8_t other6[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 2};
    static const uint8_t ll[16] = {0xfe, 0x80, [15] = 1};
    static const uint8_t all_nodes[16] = {0xff, 0x02, [15] = 1};
    static const uint8_t unspecified[16];
    struct dp_port_key key = {.ifindex = port(FX_P1)->ifindex};
    const uint8_t *mine = port(FX_P1)->mac;
    struct dp_port saved, with6;
    uint8_t pkt[512];
    size_t len;

    assert_int_equal(dp_table_get(fx.dp, DP_PORTS, &key, &saved), 0);
    with6 = saved;
    memcpy(with6.ip6, own6, 16);
    assert_int_equal(dp_table_set(fx.dp, DP_PORTS, &key, &with6), 0);

    len = nd_frame(pkt, 136, ll, all_nodes, other6, 0, mine);
    expect_port_drop("NA for another VM's address", pkt, len,
                     DP_DROP_SPOOF_ND);
    len = nd_frame(pkt, 136, own6, all_nodes, other6, 0, NULL);
    expect_port_drop("NA for another VM's address, no option", pkt, len,
                     DP_DROP_SPOOF_ND);
    len = nd_frame(pkt, 136, ll, all_nodes, own6, 0, spoofed_mac);
    expect_port_drop("NA for its address with another MAC", pkt, len,
                     DP_DROP_SPOOF_ND);
    len = nd_frame(pkt, 136, ll, all_nodes, own6, 3, spoofed_mac);
    assert_true(len - 8 > 128);
    expect_port_drop("NA with another MAC past 128 bytes", pkt, len,
                     DP_DROP_SPOOF_ND);
    len = nd_frame(pkt, 136, ll, all_nodes, own6, 4, mine);
    expect_port_drop("NA with more options than are checked", pkt, len,
                     DP_DROP_SPOOF_ND);
    len = nd_frame(pkt, 135, ll, all_nodes, other6, 0, spoofed_mac);
    expect_port_drop("NS with another MAC", pkt, len, DP_DROP_SPOOF_ND);
    len = nd_frame(pkt, 135, unspecified, all_nodes, other6, 0, NULL);
    expect_port_drop("DAD probe for another VM's address", pkt, len,
                     DP_DROP_SPOOF_ND);
    len = nd_frame(pkt, 136, ll, all_nodes, own6, 0, mine);
    pkt[CRAFT_ETH_LEN + CRAFT_IPV6_LEN + 25] = 0;
    expect_port_drop("NA with an option of length 0", pkt, len,
                     DP_DROP_MALFORMED);

    /* What a VM's own stack sends passes, to everyone in the network. */
    len = nd_frame(pkt, 136, ll, all_nodes, own6, 0, mine);
    assert_int_equal(run_port(FX_P1, pkt, len), TC_ACT_STOLEN);
    len = nd_frame(pkt, 136, own6, all_nodes, ll, 1, mine);
    assert_int_equal(run_port(FX_P1, pkt, len), TC_ACT_STOLEN);
    len = nd_frame(pkt, 135, ll, all_nodes, other6, 1, mine);
    assert_int_equal(run_port(FX_P1, pkt, len), TC_ACT_STOLEN);
    len = nd_frame(pkt, 135, unspecified, all_nodes, own6, 1, NULL);
    assert_int_equal(run_port(FX_P1, pkt, len), TC_ACT_STOLEN);

    /* Without an IPv6 address the VM owns only link-local ones. */
    assert_int_equal(dp_table_set(fx.dp, DP_PORTS, &key, &saved), 0);
    len = nd_frame(pkt, 136, ll, all_nodes, own6, 0, mine);
    expect_port_drop("NA for a global address of a port without one", pkt, len,
                     DP_DROP_SPOOF_ND);
    len = nd_frame(pkt, 136, ll, all_nodes, ll, 0, mine);
    assert_int_equal(run_port(FX_P1, pkt, len), TC_ACT_STOLEN);
}

/* With port security off, the same spoofed frames are forwarded. */
static void
test_port_security_off(void **state)
{
    struct craft_flow flow = {
        .dst_mac = port(FX_P2)->mac,
        .src_mac = spoofed_mac,
        .src_ip = SPOOFED_IP,
        .dst_ip = port(FX_P2)->ip4,
        .proto = 17,
        .sport = 1,
        .dport = 2,
    };
    struct dp_port_key key = {.ifindex = port(FX_P1)->ifindex};
    struct dp_port programmed;
    struct counters want;
    uint8_t pkt[256];
    size_t len = craft_ipv4_frame(pkt, &flow, 10);

    assert_int_equal(fixture_set_port_flags(&fx, FX_P1, DP_PORT_VETH), 0);
    assert_int_equal(dp_table_get(fx.dp, DP_PORTS, &key, &programmed), 0);
    assert_int_equal(programmed.flags, DP_PORT_VETH);

    counters_read(&want);
    assert_int_equal(run_port(FX_P1, pkt, len), TC_ACT_REDIRECT);
    assert_output(pkt, len);
    count_rx(&want, D_P1, len);
    count_tx(&want, D_P2, len);
    counters_assert(&want);

    assert_int_equal(fixture_set_port_flags(&fx, FX_P1, port(FX_P1)->flags),
                     0);
    expect_port_drop("spoofed MAC, security back on", pkt, len,
                     DP_DROP_SPOOF_MAC);
}

/* g) MTU. */

/* The port's MTU bounds the L3 packet: 1450 bytes pass, 1451 do not. */
static void
test_oversize_dropped(void **state)
{
    static uint8_t pkt[2048];
    size_t len = udp_from(pkt, FX_P1, port(FX_P2)->mac, port(FX_P2)->ip4, 0,
                          FX_PORT_MTU - 28);

    assert_int_equal(len - 14, FX_PORT_MTU);
    assert_int_equal(run_port(FX_P1, pkt, len), TC_ACT_REDIRECT);
    len = udp_from(pkt, FX_P1, port(FX_P2)->mac, port(FX_P2)->ip4, 0,
                   FX_PORT_MTU - 27);
    expect_port_drop("L3 length MTU + 1", pkt, len, DP_DROP_OVERSIZE);
}

/* A GSO frame is judged by the segments it will become: a segment size
 * that makes 1451-byte packets is refused even though the frame at hand is
 * small. */
static void
test_oversize_gso(void **state)
{
    uint8_t pkt[256];
    size_t len = tcp_from(pkt, FX_P1, port(FX_P2)->mac, port(FX_P2)->ip4, 100);
    struct counters want;

    assert_int_equal(run_port_gso(FX_P1, pkt, len, FX_PORT_MTU - 40),
                     TC_ACT_REDIRECT);
    counters_read(&want);
    assert_int_equal(run_port_gso(FX_P1, pkt, len, FX_PORT_MTU - 39),
                     TC_ACT_SHOT);
    count_rx(&want, D_P1, len);
    count_drop(&want, D_P1, DP_DROP_OVERSIZE);
    counters_assert(&want);
}

/* h) What the underlay program leaves alone. */

/* Runs 'pkt' on the uplink and checks that it goes to the host stack as it
 * came. */
static void
expect_passthrough(const char *what, const uint8_t *pkt, size_t len)
{
    if (run_uplink(pkt, len) != TC_ACT_OK) {
        fail_msg("%s: verdict %d, expected TC_ACT_OK", what, res.verdict);
    }
    assert_output(pkt, len);
}

/* Everything that is not VXLAN to our VTEP goes to the host stack as it
 * came, uncounted. */
static void
test_uplink_passthrough(void **state)
{
    static const uint8_t src6[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 2};
    static const uint8_t dst6[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 1};
    uint8_t inner[128], pkt[512];
    size_t inner_len =
        tcp_from(inner, FX_P1, port(FX_P2)->mac, port(FX_P2)->ip4, 10);
    struct craft_outer outer = outer_to_us(FX_VNI_A);
    struct craft_flow flow = {
        .dst_mac = fx.underlay_mac,
        .src_mac = fx_remote_vtep_mac,
        .src_ip = FX_VTEP_REMOTE,
        .dst_ip = FX_VTEP_LOCAL,
        .proto = 17,
        .sport = 5000,
        .dport = 53,
    };
    struct counters want;
    size_t len;

    counters_read(&want);

    len = craft_ipv4_frame(pkt, &flow, 20);
    expect_passthrough("UDP to our VTEP, another port", pkt, len);

    flow.proto = 6;
    flow.dport = 4789;
    len = craft_ipv4_frame(pkt, &flow, 20);
    expect_passthrough("TCP to our VTEP, port 4789", pkt, len);

    outer.ip.dst = CRAFT_IP4(192, 168, 100, 77);
    len = craft_vxlan_frame(pkt, &outer, inner, inner_len);
    expect_passthrough("VXLAN to another address", pkt, len);

    len = craft_arp_frame(pkt, broadcast_mac, fx_remote_vtep_mac, 1,
                          fx_remote_vtep_mac, FX_VTEP_REMOTE, zero_mac,
                          FX_VTEP_LOCAL);
    expect_passthrough("ARP for our VTEP", pkt, len);

    len = craft_ipv6_udp_frame(pkt, fx.underlay_mac, fx_remote_vtep_mac, src6,
                               dst6, 20);
    craft_put16(pkt + 14 + 40 + 2, 4789);
    expect_passthrough("IPv6 UDP to port 4789", pkt, len);

    /* RFC 7348 lets a VTEP leave fragments to the host stack. */
    len = vxlan_to_us(pkt, FX_VNI_A, inner, inner_len);
    craft_put16(pkt + 14 + 6, 0x2000); /* MF, offset 0. */
    craft_put16(pkt + 14 + 10, 0);
    craft_put16(pkt + 14 + 10, craft_csum(pkt + 14, 20));
    expect_passthrough("the first fragment of a VXLAN packet", pkt, len);

    /* The underlay is untagged; a tagged frame is for a VLAN device. */
    len = vxlan_to_us(pkt, FX_VNI_A, inner, inner_len);
    len = craft_vlan_tag(pkt, len, 42);
    expect_passthrough("VXLAN in an 802.1Q tag", pkt, len);

    counters_assert(&want);
}

/* A frame on a device that is not a port (ul1, which has no counters of
 * its own) is dropped as "no-port", counted under key 0. */
static void
test_port_program_on_unknown_device(void **state)
{
    uint8_t pkt[128];
    size_t len = tcp_from(pkt, FX_P1, port(FX_P2)->mac, port(FX_P2)->ip4, 10);
    struct counters want;
    int error;

    counters_read(&want);
    error =
        fixture_run(fx.port_prog, if_nametoindex("ul1"), pkt, len, 0, &res);
    assert_int_equal(error, 0);
    assert_int_equal(res.verdict, TC_ACT_SHOT);
    count_drop(&want, D_NONE, DP_DROP_NO_PORT);
    counters_assert(&want);
}

/* i) Truncated and malformed input. */

/* The kernel itself refuses to run a tc program on less than an Ethernet
 * header, and on IPv4 and IPv6 frames shorter than the fixed IP header, so
 * the sweeps below start at 14 bytes and expect those refusals.  A frame of
 * another type is run from 14 bytes on. */
static void
test_short_input_refused(void **state)
{
    uint8_t pkt[64];

    memset(pkt, 0xff, sizeof pkt);
    for (size_t len = 0; len < 14; len++) {
        assert_int_equal(
            fixture_run(fx.port_prog, port(FX_P1)->ifindex, pkt, len, 0, &res),
            EINVAL);
        assert_int_equal(
            fixture_run(fx.uplink_prog, fx.underlay, pkt, len, 0, &res),
            EINVAL);
    }
    tcp_from(pkt, FX_P1, port(FX_P2)->mac, port(FX_P2)->ip4, 10);
    assert_int_equal(
        fixture_run(fx.uplink_prog, fx.underlay, pkt, 33, 0, &res), EINVAL);
    assert_int_equal(
        fixture_run(fx.uplink_prog, fx.underlay, pkt, 34, 0, &res), 0);
    craft_put16(pkt + 12, 0x86dd);
    assert_int_equal(
        fixture_run(fx.uplink_prog, fx.underlay, pkt, 53, 0, &res), EINVAL);
    craft_put16(pkt + 12, 0x0806);
    assert_int_equal(
        fixture_run(fx.uplink_prog, fx.underlay, pkt, 14, 0, &res), 0);
    assert_int_equal(res.verdict, TC_ACT_OK);
}

/* Returns true if BPF_PROG_TEST_RUN refuses the 'len' bytes at 'pkt': less
 * than an Ethernet header, or an IPv4 or IPv6 frame too short for the fixed
 * IP header (Linux checks this before it runs the program).  A real device
 * can deliver such frames to tc, but the kernel will not let us test
 * them. */
static bool
kernel_refuses(const uint8_t *pkt, size_t len)
{
    uint16_t type = len >= 14 ? craft_get16(pkt + 12) : 0;

    return len < 14 || (type == 0x0800 && len < 14 + 20)
           || (type == 0x86dd && len < 14 + 40);
}

/* Runs the port program (the VM of 'in' sending) or the uplink program
 * ('in' is D_UL) on the 'len' bytes at 'pkt', checks that the counters
 * account for the frame, and returns the verdict, or -1 if the kernel
 * refused the input as kernel_refuses() predicts. */
static int
run_accounted(enum dev in, const uint8_t *pkt, size_t len)
{
    int prog = in == D_UL ? fx.uplink_prog : fx.port_prog;
    struct counters before, after;
    const char *error;
    int verdict, rc;

    counters_read(&before);
    rc = fixture_run(prog, dev_ifindex(in), pkt, len, 0, &res);
    if (kernel_refuses(pkt, len)) {
        if (rc != EINVAL) {
            fail_msg("%zu bytes: BPF_PROG_TEST_RUN returned %d, expected "
                     "EINVAL",
                     len, rc);
        }
        return -1;
    } else if (rc) {
        fail_msg("BPF_PROG_TEST_RUN on %zu bytes into %s: %s", len,
                 dev_names[in], strerror(rc));
    }
    verdict = res.verdict;
    counters_read(&after);
    error = accounting_error(&before, &after, in, verdict, len);
    if (error) {
        hexdump("input", pkt, len);
        fail_msg("%zu bytes into %s, verdict %d: %s", len, dev_names[in],
                 verdict, error);
    }
    if (verdict == TC_ACT_OK
        && (res.out_len != len || memcmp(res.out, pkt, len))) {
        fail_msg("%zu bytes into %s were passed on modified", len,
                 dev_names[in]);
    }
    return verdict;
}

/* Collects the lengths at which a sweep saw a verdict it should not. */
struct sweep {
    char bad[1024]; /* "len:verdict " for each. */
    size_t n_bad;   /* How many. */
};

static void
sweep_note(struct sweep *s, size_t len, int verdict)
{
    size_t used = strlen(s->bad);

    if (used + 16 < sizeof s->bad) {
        snprintf(s->bad + used, sizeof s->bad - used, "%zu:%d ", len, verdict);
    }
    s->n_bad++;
}

/* Every proper prefix of a valid VXLAN packet is either passed to the host
 * stack untouched (too short to be VXLAN to us) or dropped and counted;
 * none is decapsulated and delivered. */
static void
test_uplink_truncated_vxlan(void **state)
{
    uint8_t inner[256], pkt[512];
    size_t inner_len =
        tcp_from(inner, FX_P1, port(FX_P2)->mac, port(FX_P2)->ip4, 32);
    size_t len = vxlan_to_us(pkt, FX_VNI_A, inner, inner_len);
    struct sweep s = {.n_bad = 0};

    for (size_t n = 14; n < len; n++) {
        int verdict = run_accounted(D_UL, pkt, n);

        if (verdict >= 0 && verdict != TC_ACT_OK && verdict != TC_ACT_SHOT) {
            sweep_note(&s, n, verdict);
        }
    }
    assert_int_equal(run_accounted(D_UL, pkt, len), TC_ACT_REDIRECT);
    if (s.n_bad) {
        fail_msg("%zu of the prefixes of a %zu-byte VXLAN packet were "
                 "forwarded although the outer IPv4 header says %zu bytes; "
                 "length:verdict = %s",
                 s.n_bad, len, len - 14, s.bad);
    }
}

/* Every proper prefix of a valid TCP frame from a VM is dropped and
 * counted. */
static void
test_port_truncated_tcp(void **state)
{
    uint8_t pkt[256];
    size_t len = tcp_from(pkt, FX_P1, port(FX_P2)->mac, port(FX_P2)->ip4, 32);
    struct sweep s = {.n_bad = 0};

    for (size_t n = 14; n < len; n++) {
        int verdict = run_accounted(D_P1, pkt, n);

        if (verdict >= 0 && verdict != TC_ACT_SHOT) {
            sweep_note(&s, n, verdict);
        }
    }
    assert_int_equal(run_accounted(D_P1, pkt, len), TC_ACT_REDIRECT);
    if (s.n_bad) {
        fail_msg("%zu of the prefixes of a %zu-byte TCP frame were "
                 "forwarded although its IPv4 header says %zu bytes; "
                 "length:verdict = %s",
                 s.n_bad, len, len - 14, s.bad);
    }
}

/* Ethernet pads short frames to 60 bytes: bytes after the IPv4 packet are
 * not truncation, and such a frame is delivered. */
static void
test_padded_frame_delivered(void **state)
{
    uint8_t pkt[64];
    size_t len =
        udp_from(pkt, FX_P1, port(FX_P2)->mac, port(FX_P2)->ip4, 0, 4);

    assert_int_equal(len, 46);
    memset(pkt + len, 0, sizeof pkt - len);
    assert_int_equal(run_accounted(D_P1, pkt, 60), TC_ACT_REDIRECT);
    assert_output(pkt, 60);
}

/* Headers that are there but wrong. */
static void
test_malformed_headers(void **state)
{
    uint8_t inner[128], pkt[512];
    size_t inner_len =
        tcp_from(inner, FX_P1, port(FX_P2)->mac, port(FX_P2)->ip4, 10);
    struct counters want;
    size_t len;

    /* IPv4 with a header length below 5 words, from a VM. */
    len = tcp_from(pkt, FX_P1, port(FX_P2)->mac, port(FX_P2)->ip4, 10);
    pkt[14] = 0x44;
    expect_port_drop("IHL 4 from a VM", pkt, len, DP_DROP_MALFORMED);
    /* A total length shorter than the header. */
    pkt[14] = 0x45;
    craft_put16(pkt + 16, 19);
    expect_port_drop("total length 19", pkt, len, DP_DROP_MALFORMED);
    /* A VLAN tag: VM ports are access ports. */
    len = tcp_from(pkt, FX_P1, port(FX_P2)->mac, port(FX_P2)->ip4, 10);
    len = craft_vlan_tag(pkt, len, 5);
    expect_port_drop("802.1Q-tagged from a VM", pkt, len, DP_DROP_MALFORMED);

    counters_read(&want);
    /* On the underlay, an outer IHL below 5 is not VXLAN to us. */
    len = vxlan_to_us(pkt, FX_VNI_A, inner, inner_len);
    pkt[14] = 0x44;
    assert_int_equal(run_uplink(pkt, len), TC_ACT_OK);
    assert_output(pkt, len);
    counters_assert(&want);

    /* VXLAN with the I flag clear. */
    len = vxlan_to_us(pkt, FX_VNI_A, inner, inner_len);
    pkt[42] = 0;
    assert_int_equal(run_uplink(pkt, len), TC_ACT_SHOT);
    count_rx(&want, D_UL, len);
    count_drop(&want, D_UL, DP_DROP_BAD_VXLAN);
    counters_assert(&want);

    /* An outer header with options. */
    len = vxlan_to_us(pkt, FX_VNI_A, inner, inner_len);
    len = craft_ipv4_add_options(pkt, len, CRAFT_ETH_LEN);
    assert_int_equal(run_uplink(pkt, len), TC_ACT_SHOT);
    count_rx(&want, D_UL, len);
    count_drop(&want, D_UL, DP_DROP_BAD_VXLAN);
    counters_assert(&want);

    /* A tagged inner frame. */
    len = craft_vlan_tag(inner, inner_len, 5);
    len = vxlan_to_us(pkt, FX_VNI_A, inner, len);
    assert_int_equal(run_uplink(pkt, len), TC_ACT_SHOT);
    count_rx(&want, D_UL, len);
    count_drop(&want, D_UL, DP_DROP_MALFORMED);
    counters_assert(&want);
}

/* A small deterministic generator, so a failure can be replayed. */
static uint32_t
prng(uint32_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return *s;
}

/* Mutated and random input on both programs: whatever the verdict, the
 * counters account for the frame, and a passed frame is untouched. */
static void
test_mutations_and_garbage(void **state)
{
    uint8_t inner[256], vxlan[512], tcp[256], pkt[512];
    size_t inner_len =
        tcp_from(inner, FX_P1, port(FX_P2)->mac, port(FX_P2)->ip4, 40);
    size_t vxlan_len = vxlan_to_us(vxlan, FX_VNI_A, inner, inner_len);
    size_t tcp_len =
        tcp_from(tcp, FX_P1, port(FX_P2)->mac, port(FX_P2)->ip4, 40);
    uint32_t seed = 0x5eed;

    for (int i = 0; i < 3000; i++) {
        bool uplink = i & 1;
        const uint8_t *base = uplink ? vxlan : tcp;
        size_t len = uplink ? vxlan_len : tcp_len;
        int kind = i % 6;

        if (kind < 4) {
            /* One to four bytes of the headers changed. */
            memcpy(pkt, base, len);
            for (uint32_t n = prng(&seed) % 4 + 1; n; n--) {
                pkt[prng(&seed) % (uplink ? 100 : 60)] = prng(&seed);
            }
        } else {
            /* Garbage, behind a valid start or not at all. */
            size_t keep = kind == 4 ? prng(&seed) % len : 0;

            memcpy(pkt, base, keep);
            len = 14 + prng(&seed) % 300;
            for (size_t j = keep; j < len; j++) {
                pkt[j] = prng(&seed);
            }
        }
        run_accounted(uplink ? D_UL : D_P1, pkt, len);
    }
}

/* j) Flooding. */

/* Unknown unicast from p1 floods VNI 100: a copy to every other local port
 * first, then one encapsulated copy per remote VTEP, each addressed to its
 * own VTEP; never back to p1, never to VNI 200. */
static void
test_flood_unknown_unicast_from_port(void **state)
{
    int p2_fd = capture_open("p2vm");
    int p1_fd = capture_open("p1vm");
    int ul_fd = capture_open("ul1");
    uint8_t pkt[256], to_remote[512], to_remote2[512];
    size_t len = udp_from(pkt, FX_P1, unknown_mac, UNBOUND_IP, 0, 30);
    size_t remote_len = expected_encap(to_remote, pkt, len, FX_VNI_A,
                                       FX_VTEP_REMOTE, fx_remote_vtep_mac);
    struct counters want;

    expected_encap(to_remote2, pkt, len, FX_VNI_A, FX_VTEP_REMOTE2,
                   fx_remote2_vtep_mac);
    counters_read(&want);
    assert_int_equal(run_port(FX_P1, pkt, len), TC_ACT_STOLEN);
    count_rx(&want, D_P1, len);
    count_tx(&want, D_P2, len);
    count_tx(&want, D_TAP, len);
    count_tx(&want, D_UL, remote_len);
    count_tx(&want, D_UL, remote_len);
    counters_assert(&want);

    capture_expect(p2_fd, "p2vm", pkt, len);
    capture_expect(fx.tap_fd, "tap0", pkt, len);
    capture_expect(ul_fd, "ul1 (copy to 192.168.100.2)", to_remote,
                   remote_len);
    capture_expect(ul_fd, "ul1 (copy to 192.168.100.3)", to_remote2,
                   remote_len);
    capture_expect_none(ul_fd, "ul1");
    capture_expect_none(p1_fd, "p1vm");
    /* The frame itself ends as the last copy. */
    assert_output(to_remote2, remote_len);
    close(p1_fd);
    close(p2_fd);
    close(ul_fd);
}

/* A broadcast from the underlay floods only to local ports (split horizon):
 * nothing goes back out to the underlay. */
static void
test_flood_from_underlay_split_horizon(void **state)
{
    int p2_fd = capture_open("p2vm");
    int ul_fd = capture_open("ul1");
    uint8_t inner[128], pkt[512];
    size_t inner_len =
        craft_arp_frame(inner, broadcast_mac, fx_remote_mac, 1, fx_remote_mac,
                        FX_REMOTE_IP, zero_mac, UNBOUND_IP);
    size_t len = vxlan_to_us(pkt, FX_VNI_A, inner, inner_len);
    struct counters want;

    counters_read(&want);
    assert_int_equal(run_uplink(pkt, len), TC_ACT_STOLEN);
    assert_output(inner, inner_len);
    count_rx(&want, D_UL, len);
    count_tx(&want, D_P1, inner_len);
    count_tx(&want, D_P2, inner_len);
    count_tx(&want, D_TAP, inner_len);
    counters_assert(&want);
    capture_expect(p2_fd, "p2vm", inner, inner_len);
    capture_expect(fx.tap_fd, "tap0", inner, inner_len);
    capture_expect_none(ul_fd, "ul1");
    close(p2_fd);
    close(ul_fd);
}

/* A flood with nowhere to go is a "no-destination" drop: p3 is alone in
 * VNI 200 once the remote VTEP leaves its list, and so is a VNI without a
 * list at all. */
static void
test_flood_nowhere(void **state)
{
    struct dp_flood_key key = {.vni = FX_VNI_B};
    struct dp_flood saved, alone = {.n_members = 1};
    struct counters want;
    uint8_t pkt[128];
    size_t len =
        udp_from(pkt, FX_P3, broadcast_mac, CRAFT_IP4(10, 0, 0, 255), 0, 10);

    assert_int_equal(dp_table_get(fx.dp, DP_FLOOD, &key, &saved), 0);
    assert_int_equal(saved.n_members, 2);
    alone.members[0].ifindex = port(FX_P3)->ifindex;
    assert_int_equal(dp_table_set(fx.dp, DP_FLOOD, &key, &alone), 0);

    counters_read(&want);
    assert_int_equal(run_port(FX_P3, pkt, len), TC_ACT_SHOT);
    count_rx(&want, D_P3, len);
    count_drop(&want, D_P3, DP_DROP_NO_DEST);
    counters_assert(&want);

    assert_int_equal(dp_table_del(fx.dp, DP_FLOOD, &key), 0);
    assert_int_equal(run_port(FX_P3, pkt, len), TC_ACT_SHOT);
    count_rx(&want, D_P3, len);
    count_drop(&want, D_P3, DP_DROP_NO_DEST);
    counters_assert(&want);

    assert_int_equal(dp_table_set(fx.dp, DP_FLOOD, &key, &saved), 0);
}

/* A VTEP whose next hop is unresolved misses its copy ("no-neighbour") and
 * the others still get theirs. */
static void
test_flood_skips_unresolved_vtep(void **state)
{
    struct dp_flood_key key = {.vni = FX_VNI_B};
    struct dp_flood saved, list;
    struct counters want;
    uint8_t pkt[128];
    size_t len =
        udp_from(pkt, FX_P3, broadcast_mac, CRAFT_IP4(10, 0, 0, 255), 0, 10);

    assert_int_equal(dp_table_get(fx.dp, DP_FLOOD, &key, &saved), 0);
    list = saved;
    list.members[list.n_members++].vtep = htonl(FX_VTEP_NO_NEIGH);
    assert_int_equal(dp_table_set(fx.dp, DP_FLOOD, &key, &list), 0);

    counters_read(&want);
    assert_int_equal(run_port(FX_P3, pkt, len), TC_ACT_STOLEN);
    count_rx(&want, D_P3, len);
    count_tx(&want, D_UL, len + 50);
    count_drop(&want, D_P3, DP_DROP_NO_NEIGH);
    counters_assert(&want);

    assert_int_equal(dp_table_set(fx.dp, DP_FLOOD, &key, &saved), 0);
}

/* The API reads back what the fixture programmed. */
static int
count_entry(const void *key, const void *value, void *n_)
{
    (*(int *) n_)++;
    return 0;
}

static void
test_tables_read_back(void **state)
{
    struct dp_port_key key = {.ifindex = port(FX_P2)->ifindex};
    struct dp_port p;
    int n = 0;

    assert_int_equal(dp_table_get(fx.dp, DP_PORTS, &key, &p), 0);
    assert_int_equal(p.vni, FX_VNI_A);
    assert_memory_equal(p.mac, port(FX_P2)->mac, 6);
    assert_int_equal(ntohl(p.ip4), port(FX_P2)->ip4);
    assert_int_equal(p.mtu, FX_PORT_MTU);
    assert_int_equal(dp_table_dump(fx.dp, DP_PORTS, count_entry, &n), 0);
    assert_int_equal(n, FX_N_PORTS);
}

/* QoS. */

/* Gives port 'id' the QoS entry 'qos'. */
static void
qos_set(enum fx_port_id id, const struct dp_qos *qos)
{
    struct dp_qos_key key = {.ifindex = port(id)->ifindex};

    assert_int_equal(dp_table_set(fx.dp, DP_QOS, &key, qos), 0);
}

/* After a QoS test: no port has QoS any more. */
static int
qos_clear(void **state)
{
    for (int id = 0; id < FX_N_PORTS; id++) {
        struct dp_qos_key key = {.ifindex = port(id)->ifindex};

        dp_table_del(fx.dp, DP_QOS, &key);
    }
    return 0;
}

/* A port marked with DSCP 46 (EF) sends a UDP packet whose TOS carries
 * DSCP 0 and ECN 01: the inner header leaves with TOS 0xb9 and a checksum
 * still valid, and the outer header copies the DSCP and the ECN bits.
 * The whole frame is compared against one crafted with TOS 0xb9. */
static void
test_qos_dscp_marking(void **state)
{
    struct dp_qos qos = {.dscp = 46};
    uint8_t pkt[256], marked[256], want_pkt[512];
    size_t len = udp_from(pkt, FX_P1, fx_remote_mac, FX_REMOTE_IP, 0x01, 20);
    size_t want_len;
    struct counters want;

    udp_from(marked, FX_P1, fx_remote_mac, FX_REMOTE_IP, 0xb9, 20);
    want_len = expected_encap(want_pkt, marked, len, FX_VNI_A, FX_VTEP_REMOTE,
                              fx_remote_vtep_mac);
    qos_set(FX_P1, &qos);
    counters_read(&want);
    assert_int_equal(run_port(FX_P1, pkt, len), TC_ACT_REDIRECT);
    assert_int_equal(res.out[15], 0xb9);      /* Outer: DSCP and ECN. */
    assert_int_equal(res.out[50 + 15], 0xb9); /* Inner: DSCP and ECN. */
    assert_int_equal(craft_csum(res.out + 50 + 14, 20), 0);
    assert_output(want_pkt, want_len);
    count_rx(&want, D_P1, len);
    count_tx(&want, D_UL, len + 50);
    counters_assert(&want);

    /* DP_QOS_DSCP_KEEP leaves the packet alone. */
    qos.dscp = DP_QOS_DSCP_KEEP;
    qos_set(FX_P1, &qos);
    want_len = expected_encap(want_pkt, pkt, len, FX_VNI_A, FX_VTEP_REMOTE,
                              fx_remote_vtep_mac);
    assert_int_equal(run_port(FX_P1, pkt, len), TC_ACT_REDIRECT);
    assert_output(want_pkt, want_len);
}

/* Builds in 'inner' a UDP frame of 200 bytes of payload from the remote VM
 * to p2, storing its length in '*inner_len', and in 'pkt' (512 bytes) the
 * VXLAN packet that carries it to us.  Returns the packet's length. */
static size_t
udp_from_remote_to_p2(uint8_t inner[256], size_t *inner_len, uint8_t *pkt)
{
    struct craft_flow flow = {
        .dst_mac = port(FX_P2)->mac,
        .src_mac = fx_remote_mac,
        .src_ip = FX_REMOTE_IP,
        .dst_ip = port(FX_P2)->ip4,
        .proto = 17,
        .sport = 5000,
        .dport = 5001,
    };

    *inner_len = craft_ipv4_frame(inner, &flow, 200);
    return vxlan_to_us(pkt, FX_VNI_A, inner, *inner_len);
}

/* Frames from the underlay to a port with an ingress limit pass while they
 * fit the burst; the next is dropped as "qos-rate", counted on the port. */
static void
test_qos_ingress_policing(void **state)
{
    uint8_t inner[256], pkt[512];
    size_t inner_len;
    size_t len = udp_from_remote_to_p2(inner, &inner_len, pkt);
    /* 1000 bytes/s: the bucket refills by a byte a millisecond, far less
     * than half a frame during the test. */
    struct dp_qos qos = {
        .ingress_rate = 8000,
        .ingress_burst = 3 * inner_len + inner_len / 2,
        .dscp = DP_QOS_DSCP_KEEP,
    };
    struct counters want;

    qos_set(FX_P2, &qos);
    counters_read(&want);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(run_uplink(pkt, len), TC_ACT_REDIRECT);
        assert_output(inner, inner_len);
        count_rx(&want, D_UL, len);
        count_tx(&want, D_P2, inner_len);
    }
    assert_int_equal(run_uplink(pkt, len), TC_ACT_SHOT);
    count_rx(&want, D_UL, len);
    count_drop(&want, D_P2, DP_DROP_QOS_RATE);
    counters_assert(&want);

    /* A live change keeps the bucket's state: a larger burst lets the next
     * frame through at once, without granting a whole new burst. */
    qos.ingress_burst = 4 * inner_len + inner_len / 2;
    qos_set(FX_P2, &qos);
    assert_int_equal(run_uplink(pkt, len), TC_ACT_REDIRECT);
    assert_int_equal(run_uplink(pkt, len), TC_ACT_SHOT);
}

/* A port whose device shapes what it receives (DP_QOS_INGRESS_HTB: the
 * agent's HTB qdisc there) gets every frame, however far over its rate
 * and burst: the qdisc queues them instead.  Without the flag the same
 * limit polices. */
static void
test_qos_ingress_shaped(void **state)
{
    uint8_t inner[256], pkt[512];
    size_t inner_len;
    size_t len = udp_from_remote_to_p2(inner, &inner_len, pkt);
    struct dp_qos qos = {
        .ingress_rate = 8000,
        .ingress_burst = inner_len + inner_len / 2,
        .dscp = DP_QOS_DSCP_KEEP,
        .flags = DP_QOS_INGRESS_HTB,
    };
    struct counters want;

    (void) state;

    qos_set(FX_P2, &qos);
    counters_read(&want);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(run_uplink(pkt, len), TC_ACT_REDIRECT);
        assert_output(inner, inner_len);
        assert_int_equal(res.priority, 0);
        count_rx(&want, D_UL, len);
        count_tx(&want, D_P2, inner_len);
    }
    counters_assert(&want);

    qos.flags = 0;
    qos_set(FX_P2, &qos);
    assert_int_equal(run_uplink(pkt, len), TC_ACT_REDIRECT);
    assert_int_equal(run_uplink(pkt, len), TC_ACT_SHOT);
}

/* A port with an egress rate of 8 Mbit/s (a byte per microsecond) sends
 * back to back: each frame's departure time is the previous one's plus
 * its length times 1000 ns, and frames beyond the horizon are dropped as
 * "qos-horizon". */
static void
test_qos_egress_departure_times(void **state)
{
    struct dp_qos qos = {
        .egress_rate = 8000000,
        .egress_burst = 65536,
        .dscp = DP_QOS_DSCP_KEEP,
    };
    uint8_t pkt[1500];
    size_t len = udp_from(pkt, FX_P1, fx_remote_mac, FX_REMOTE_IP, 0, 1000);
    uint64_t prev = 0;
    struct counters want;
    size_t n_sent, n_max;

    qos_set(FX_P1, &qos);
    counters_read(&want);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(run_port(FX_P1, pkt, len), TC_ACT_REDIRECT);
        assert_true(res.tstamp != 0);
        if (i) {
            assert_int_equal(res.tstamp - prev, len * 1000);
        }
        prev = res.tstamp;
        count_rx(&want, D_P1, len);
        count_tx(&want, D_UL, len + 50);
    }
    counters_assert(&want);

    /* The horizon is 100 ms: 100000 bytes may wait, a little more as time
     * passes during the runs, before a frame is dropped. */
    n_max = 2 * (100000 / len);
    for (n_sent = 3; n_sent <= n_max; n_sent++) {
        if (run_port(FX_P1, pkt, len) != TC_ACT_REDIRECT) {
            break;
        }
    }
    assert_int_equal(res.verdict, TC_ACT_SHOT);
    assert_true(n_sent * len > 100000);
    counters_read(&want);
    assert_int_equal(want.dev[D_P1].drops[DP_DROP_QOS_HORIZON], 1);
}

/* Same-host traffic meets no qdisc: it is policed at the egress rate. */
static void
test_qos_egress_local_policing(void **state)
{
    uint8_t pkt[256];
    size_t len = tcp_from(pkt, FX_P1, port(FX_P2)->mac, port(FX_P2)->ip4, 64);
    struct dp_qos qos = {
        .egress_rate = 8000,
        .egress_burst = 2 * len + len / 2,
        .dscp = DP_QOS_DSCP_KEEP,
    };
    struct counters want;

    qos_set(FX_P1, &qos);
    counters_read(&want);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(run_port(FX_P1, pkt, len), TC_ACT_REDIRECT);
        count_rx(&want, D_P1, len);
        count_tx(&want, D_P2, len);
    }
    assert_int_equal(run_port(FX_P1, pkt, len), TC_ACT_SHOT);
    count_rx(&want, D_P1, len);
    count_drop(&want, D_P1, DP_DROP_QOS_RATE);
    counters_assert(&want);
}

/* Without fq on the underlay the agent asks for egress to be policed:
 * frames to other hosts then get no departure time, and those beyond the
 * burst are dropped as "qos-rate". */
static void
test_qos_egress_policed(void **state)
{
    uint8_t pkt[256];
    size_t len = tcp_from(pkt, FX_P1, fx_remote_mac, FX_REMOTE_IP, 64);
    struct dp_qos qos = {
        .egress_rate = 8000,
        .egress_burst = 2 * len + len / 2,
        .dscp = DP_QOS_DSCP_KEEP,
        .flags = DP_QOS_EGRESS_POLICE,
    };
    struct counters want;

    qos_set(FX_P1, &qos);
    counters_read(&want);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(run_port(FX_P1, pkt, len), TC_ACT_REDIRECT);
        assert_int_equal(res.tstamp, 0);
        count_rx(&want, D_P1, len);
        count_tx(&want, D_UL, len + 50);
    }
    assert_int_equal(run_port(FX_P1, pkt, len), TC_ACT_SHOT);
    count_rx(&want, D_P1, len);
    count_drop(&want, D_P1, DP_DROP_QOS_RATE);
    counters_assert(&want);
}

/* With an HTB class on the underlay the agent sets DP_QOS_EGRESS_HTB:
 * frames to other hosts and floods leave with skb->priority naming the
 * port's class, neither paced nor policed however many are sent, while
 * same-host traffic, which meets no qdisc, is still policed. */
static void
test_qos_egress_htb_class(void **state)
{
    uint8_t pkt[256];
    size_t len = tcp_from(pkt, FX_P1, fx_remote_mac, FX_REMOTE_IP, 64);
    struct dp_qos qos = {
        .egress_rate = 8000,
        .egress_burst = 2 * len + len / 2,
        .dscp = DP_QOS_DSCP_KEEP,
        .flags = DP_QOS_EGRESS_HTB,
        .htb_minor = 7,
    };
    struct counters want;

    qos_set(FX_P1, &qos);
    counters_read(&want);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(run_port(FX_P1, pkt, len), TC_ACT_REDIRECT);
        assert_int_equal(res.priority, 0xfab00007);
        assert_int_equal(res.tstamp, 0);
        count_rx(&want, D_P1, len);
        count_tx(&want, D_UL, len + 50);
    }
    counters_assert(&want);

    len = tcp_from(pkt, FX_P1, port(FX_P2)->mac, port(FX_P2)->ip4, 64);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(run_port(FX_P1, pkt, len), TC_ACT_REDIRECT);
        assert_int_equal(res.priority, 0);
        count_rx(&want, D_P1, len);
        count_tx(&want, D_P2, len);
    }
    assert_int_equal(run_port(FX_P1, pkt, len), TC_ACT_SHOT);
    count_rx(&want, D_P1, len);
    count_drop(&want, D_P1, DP_DROP_QOS_RATE);
    counters_assert(&want);
}

/* The QoS table reads back as written, however the limiters move. */
static void
test_qos_table_read_back(void **state)
{
    struct dp_qos qos = {
        .egress_rate = 100000000,
        .egress_burst = 125000,
        .ingress_rate = 50000000,
        .ingress_burst = 65536,
        .dscp = 10,
        .flags = DP_QOS_EGRESS_HTB,
        .htb_minor = 0x1234,
    };
    struct dp_qos_key key = {.ifindex = port(FX_P1)->ifindex};
    struct dp_qos got;
    int n = 0;

    qos_set(FX_P1, &qos);
    assert_int_equal(dp_table_get(fx.dp, DP_QOS, &key, &got), 0);
    assert_memory_equal(&got, &qos, sizeof qos);
    assert_int_equal(dp_table_dump(fx.dp, DP_QOS, count_entry, &n), 0);
    assert_int_equal(n, 1);
}

/* l) The indexes of the port and FDB tables (datapath/bpf/abi.h). */

/* One index and the hash table it mirrors, by their pinned names. */
struct index_desc {
    const char *index;  /* The index map. */
    const char *table;  /* Its hash table. */
    size_t key_size;    /* A record is the key, then the entry. */
    size_t record_size; /* Both. */
    uint32_t (*hash)(const void *key);
};

static const struct index_desc port_index = {
    "fab_port_index", "fab_ports", sizeof(struct dp_port_key),
    sizeof(struct fab_port_record), dp_bpf_port_index_hash};
static const struct index_desc fdb_index = {
    "fab_fdb_index", "fab_fdb", sizeof(struct dp_fdb_key),
    sizeof(struct fab_fdb_record), dp_bpf_fdb_index_hash};

static int
pinned_map(const char *name)
{
    char path[160];
    int fd;

    snprintf(path, sizeof path, "%s/%s", fx.pin_dir, name);
    fd = bpf_obj_get(path);
    if (fd < 0) {
        fail_msg("%s: %s", path, strerror(errno));
    }
    return fd;
}

static uint32_t
map_entries(int fd)
{
    struct bpf_map_info info = {};
    uint32_t len = sizeof info;

    assert_int_equal(bpf_obj_get_info_by_fd(fd, &info, &len), 0);
    return info.max_entries;
}

/* Counts the entries of the table of 'd'. */
static size_t
table_count(const struct index_desc *d)
{
    int fd = pinned_map(d->table);
    uint8_t key[64], *prev = NULL;
    size_t n = 0;

    while (!bpf_map_get_next_key(fd, prev, key)) {
        prev = key;
        n++;
    }
    close(fd);
    return n;
}

/* Reads slot 'i' of the index of 'd' into 'slot' (8 bytes of tag and
 * padding, then two records) and returns its current record, or NULL. */
static const uint8_t *
index_slot(const struct index_desc *d, int fd, uint32_t i, uint8_t *slot)
{
    uint32_t tag;

    assert_int_equal(bpf_map_lookup_elem(fd, &i, slot), 0);
    memcpy(&tag, slot, sizeof tag);
    if (!(tag & FAB_INDEX_VALID)) {
        return NULL;
    }
    return slot + 8 + (tag & FAB_INDEX_COPY ? d->record_size : 0);
}

/* Checks every record in the index of 'd': in its key's window of slots,
 * identical to the table's entry for the key, and no key twice.  Returns
 * how many records there are. */
static size_t
index_check(const struct index_desc *d)
{
    int fd = pinned_map(d->index), table = pinned_map(d->table);
    uint32_t n_slots = map_entries(fd);
    uint8_t slot[256], entry[128];
    size_t n = 0;

    assert_true(8 + 2 * d->record_size <= sizeof slot);
    for (uint32_t i = 0; i < n_slots; i++) {
        const uint8_t *r = index_slot(d, fd, i, slot);
        uint32_t first, k;

        if (!r) {
            continue;
        }
        n++;
        first = d->hash(r);
        for (k = 0; k < FAB_INDEX_PROBES; k++) {
            if (((first + k) & (n_slots - 1)) == i) {
                break;
            }
        }
        if (k == FAB_INDEX_PROBES) {
            fail_msg("%s slot %u: a record outside its key's window", d->index,
                     i);
        }
        if (bpf_map_lookup_elem(table, r, entry) < 0) {
            fail_msg("%s slot %u: a record whose key is not in %s", d->index,
                     i, d->table);
        }
        assert_memory_equal(r + d->key_size, entry,
                            d->record_size - d->key_size);
        for (k = 1; k < FAB_INDEX_PROBES; k++) {
            uint8_t other[256];
            uint32_t j = (first + k) & (n_slots - 1);
            const uint8_t *o = j > i ? index_slot(d, fd, j, other) : NULL;

            if (o && !memcmp(o, r, d->key_size)) {
                fail_msg("%s: a key in slots %u and %u", d->index, i, j);
            }
        }
    }
    close(fd);
    close(table);
    return n;
}

/* The indexes mirror the tables as they change: every port and FDB entry
 * is there, an update replaces the record, a deletion removes it. */
static void
test_index_mirrors_tables(void **state)
{
    static const uint8_t mac[6] = {0x02, 0, 0, 0, 0, 0x5a};
    struct dp_fdb_key key = {.vni = FX_VNI_A};
    struct dp_fdb_entry entry = {.vtep = htonl(FX_VTEP_REMOTE2)};
    size_t ports = table_count(&port_index), fdb = table_count(&fdb_index);

    assert_int_equal(ports, FX_N_PORTS);
    assert_int_equal(index_check(&port_index), ports);
    assert_int_equal(index_check(&fdb_index), fdb);

    memcpy(key.mac, mac, 6);
    assert_int_equal(dp_table_set(fx.dp, DP_FDB, &key, &entry), 0);
    assert_int_equal(index_check(&fdb_index), fdb + 1);
    entry.vtep = htonl(FX_VTEP_REMOTE);
    assert_int_equal(dp_table_set(fx.dp, DP_FDB, &key, &entry), 0);
    assert_int_equal(index_check(&fdb_index), fdb + 1);
    assert_int_equal(dp_table_del(fx.dp, DP_FDB, &key), 0);
    assert_int_equal(index_check(&fdb_index), fdb);

    /* Twice in a row: the second update of a slot waits for readers of
     * the first. */
    assert_int_equal(fixture_set_port_flags(&fx, FX_P2, 0), 0);
    assert_int_equal(fixture_set_port_flags(&fx, FX_P2, port(FX_P2)->flags),
                     0);
    assert_int_equal(index_check(&port_index), ports);
}

/* The agent picks its backend by type: "bpf" opens the fixture's running
 * instance, a type this build lacks is refused before anything is pinned,
 * and no type at all means "bpf". */
static void
test_open_by_type(void **state)
{
    char instance[64], path[PATH_MAX];
    struct dp_options options = {.bpffs = "/sys/fs/bpf", .read_only = true};
    struct dp *dp;

    (void) state;
    options.instance = strrchr(fx.pin_dir, '/') + 1;
    options.type = "bpf";
    assert_int_equal(dp_open(&options, &dp), 0);
    dp_close(dp);
    options.type = NULL;
    assert_int_equal(dp_open(&options, &dp), 0);
    dp_close(dp);

    snprintf(instance, sizeof instance, "%s-typed", options.instance);
    snprintf(path, sizeof path, "/sys/fs/bpf/%s", instance);
    options.instance = instance;
    options.read_only = false;
    options.type = "dpdk";
    assert_int_equal(dp_open(&options, &dp), EAFNOSUPPORT);
    assert_null(dp);
    assert_int_equal(access(path, F_OK), -1);
    assert_true(dp_type_known("bpf"));
    assert_false(dp_type_known("dpdk"));
    assert_false(dp_type_known(NULL));
}

/* What the fast path reads is the index: a record there that contradicts
 * the table (a crash between the two, say) decides, until the next start
 * of the datapath puts the table's entry back.  An emptied index leaves
 * the hash tables to answer, and a restart fills it again. */
static void
test_index_repaired_on_restart(void **state)
{
    uint8_t pkt[256], slot[256];
    size_t len = tcp_from(pkt, FX_P1, port(FX_P2)->mac, port(FX_P2)->ip4, 20);
    size_t enc_len;
    uint8_t enc[256];
    int fd = pinned_map(port_index.index);
    uint32_t n_slots = map_entries(fd), i;
    struct counters want;

    enc_len = tcp_from(enc, FX_P1, fx_remote_mac, FX_REMOTE_IP, 20);

    /* p2's record now says VNI 200. */
    for (i = 0; i < n_slots; i++) {
        uint8_t *r = (uint8_t *) index_slot(&port_index, fd, i, slot);
        struct fab_port_record rec;

        if (r) {
            memcpy(&rec, r, sizeof rec);
        }
        if (r && rec.key.ifindex == port(FX_P2)->ifindex) {
            rec.entry.port.vni = FX_VNI_B;
            memcpy(r, &rec, sizeof rec);
            assert_int_equal(bpf_map_update_elem(fd, &i, slot, BPF_ANY), 0);
            break;
        }
    }
    assert_true(i < n_slots);
    counters_read(&want);
    assert_int_equal(run_port(FX_P1, pkt, len), TC_ACT_SHOT);
    count_rx(&want, D_P1, len);
    count_drop(&want, D_P1, DP_DROP_VNI_MISMATCH);
    counters_assert(&want);

    assert_int_equal(fixture_restart(&fx), 0);
    assert_int_equal(index_check(&port_index), FX_N_PORTS);
    assert_int_equal(run_port(FX_P1, pkt, len), TC_ACT_REDIRECT);
    assert_output(pkt, len);

    /* Empty both indexes: the hash tables answer. */
    memset(slot, 0, sizeof slot);
    for (i = 0; i < n_slots; i++) {
        assert_int_equal(bpf_map_update_elem(fd, &i, slot, BPF_ANY), 0);
    }
    close(fd);
    fd = pinned_map(fdb_index.index);
    n_slots = map_entries(fd);
    for (i = 0; i < n_slots; i++) {
        assert_int_equal(bpf_map_update_elem(fd, &i, slot, BPF_ANY), 0);
    }
    close(fd);
    assert_int_equal(index_check(&port_index), 0);
    assert_int_equal(index_check(&fdb_index), 0);
    assert_int_equal(run_port(FX_P1, pkt, len), TC_ACT_REDIRECT);
    assert_output(pkt, len);
    assert_int_equal(run_port(FX_P1, enc, enc_len), TC_ACT_REDIRECT);
    assert_int_equal(res.out_len, enc_len + 50);
    assert_memory_equal(res.out + 50, enc, enc_len);

    assert_int_equal(fixture_restart(&fx), 0);
    assert_int_equal(index_check(&port_index), FX_N_PORTS);
    assert_int_equal(index_check(&fdb_index), table_count(&fdb_index));
}

/* Keys whose windows are full stay out of the index and are found by hash:
 * five remote MACs whose windows start at the same slot all reach their
 * VTEP, and only four are in the index. */
static void
test_index_full_window_falls_back(void **state)
{
    int fd = pinned_map(fdb_index.index);
    uint32_t mask = map_entries(fd) - 1, want_slot = 0;
    struct dp_fdb_key keys[FAB_INDEX_PROBES + 1];
    struct dp_fdb_entry entry = {.vtep = htonl(FX_VTEP_REMOTE)};
    size_t fdb = table_count(&fdb_index);
    int n = 0;

    close(fd);
    for (uint32_t x = 1; n < FAB_INDEX_PROBES + 1; x++) {
        struct dp_fdb_key k = {
            .vni = FX_VNI_A, .mac = {0x02, 0xaa, x >> 24, x >> 16, x >> 8, x}};
        uint32_t first = fab_fdb_index_hash(&k) & mask;

        if (!n) {
            want_slot = first;
        }
        if (first == want_slot) {
            keys[n++] = k;
        }
    }
    for (int i = 0; i < n; i++) {
        assert_int_equal(dp_table_set(fx.dp, DP_FDB, &keys[i], &entry), 0);
    }
    /* The fixture's own entries may have taken some of the window too. */
    assert_in_range(index_check(&fdb_index), fdb + 1, fdb + FAB_INDEX_PROBES);
    for (int i = 0; i < n; i++) {
        uint8_t pkt[256];
        size_t len = tcp_from(pkt, FX_P1, keys[i].mac, FX_REMOTE_IP, 10);

        assert_int_equal(run_port(FX_P1, pkt, len), TC_ACT_REDIRECT);
        assert_int_equal(res.out_len, len + 50);
        assert_int_equal(craft_get32(res.out + 30), FX_VTEP_REMOTE);
        assert_memory_equal(res.out + 50, pkt, len);
    }
    for (int i = 0; i < n; i++) {
        assert_int_equal(dp_table_del(fx.dp, DP_FDB, &keys[i]), 0);
    }
    assert_int_equal(index_check(&fdb_index), fdb);
}

/* Reads the live QoS entry of port 'id' from the pinned tables, as the
 * fast path finds it (fab_qos_live at the port's counter slot). */
static void
qos_live(enum fx_port_id id, struct fab_qos_entry *entry)
{
    struct dp_port_key key = {.ifindex = port(id)->ifindex};
    struct fab_port_entry pe;
    int ports = pinned_map("fab_ports"), live = pinned_map("fab_qos_live");

    assert_int_equal(bpf_map_lookup_elem(ports, &key, &pe), 0);
    assert_int_equal(pe.has_qos, 1);
    assert_int_equal(bpf_map_lookup_elem(live, &pe.stats_slot, entry), 0);
    close(ports);
    close(live);
}

/* A policer whose burst lasts QOS_TICK_MIN_BURST scheduler ticks runs on
 * the tick (bpf_jiffies64(), cheap), a shorter one on bpf_ktime_get_ns();
 * the loader takes the tick's length from the coarse clock's resolution.
 * Moving a drained bucket to the other clock starts it full; on the fine
 * clock, a millisecond refills a millisecond's worth. */
static void
test_qos_policer_clock(void **state)
{
    uint8_t inner[256], pkt[512];
    size_t inner_len;
    size_t len = udp_from_remote_to_p2(inner, &inner_len, pkt);
    /* 1000 bytes/s, two and a half frames: 0.6 s, 150 ticks at HZ=250. */
    struct dp_qos qos = {
        .ingress_rate = 8000,
        .ingress_burst = 2 * inner_len + inner_len / 2,
        .dscp = DP_QOS_DSCP_KEEP,
    };
    struct fab_qos_entry live;
    struct timespec tick_res;
    uint64_t tick, tat;

    (void) state;

    assert_int_equal(clock_getres(CLOCK_MONOTONIC_COARSE, &tick_res), 0);
    tick = qos_police_units(tick_res.tv_nsec);
    qos_set(FX_P2, &qos);
    qos_live(FX_P2, &live);
    assert_int_equal(live.ingress.tick, tick);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(run_uplink(pkt, len), TC_ACT_REDIRECT);
    }
    assert_int_equal(run_uplink(pkt, len), TC_ACT_SHOT);

    /* 8 Mbit/s, a byte a microsecond: the same burst lasts ~0.6 ms, far
     * less than a tick, so the fine clock, and the bucket starts full. */
    qos.ingress_rate = 8000000;
    qos_set(FX_P2, &qos);
    qos_live(FX_P2, &live);
    assert_int_equal(live.ingress.tick, 0);
    assert_int_equal(run_uplink(pkt, len), TC_ACT_REDIRECT);
    assert_int_equal(run_uplink(pkt, len), TC_ACT_REDIRECT);
    /* Not a whole frame's time (~0.2 ms) passes before the next. */
    assert_int_equal(run_uplink(pkt, len), TC_ACT_SHOT);
    usleep(1000);
    assert_int_equal(run_uplink(pkt, len), TC_ACT_REDIRECT);

    /* Same clock, larger burst: the bucket keeps its time, so no fresh
     * burst. */
    qos_live(FX_P2, &live);
    tat = live.ingress.tat;
    assert_int_not_equal(tat, 0);
    qos.ingress_burst = 3 * inner_len;
    qos_set(FX_P2, &qos);
    qos_live(FX_P2, &live);
    assert_int_equal(live.ingress.tick, 0);
    assert_int_equal(live.ingress.tat, tat);
}

/* Before each test: nothing left over on the tap. */
static int
drain_tap(void **state)
{
    fixture_drain_tap(&fx);
    return 0;
}

static int
group_setup(void **state)
{
    int error = fixture_init(&fx);

    if (error) {
        fprintf(stderr, "cannot set up the test datapath: %s\n",
                strerror(error));
        return -1;
    }
    return 0;
}

static int
group_teardown(void **state)
{
    fixture_destroy(&fx);
    return 0;
}

/* e) Live migration (doc/mobility.md). */

/* Programs p2's FDB entry with 'ifindex', 'vtep' (host order) and 'flags'. */
static void
set_p2_fdb(uint32_t ifindex, uint32_t vtep, uint32_t flags)
{
    struct dp_fdb_key key = {.vni = FX_VNI_A};
    struct dp_fdb_entry entry = {
        .ifindex = ifindex, .vtep = htonl(vtep), .flags = flags};

    memcpy(key.mac, port(FX_P2)->mac, 6);
    assert_int_equal(dp_table_set(fx.dp, DP_FDB, &key, &entry), 0);
}

/* Puts p2 back as the fixture made it. */
static int
p2_restore(void **state)
{
    (void) state;
    set_p2_fdb(port(FX_P2)->ifindex, 0, 0);
    return fixture_set_port_flags(&fx, FX_P2, port(FX_P2)->flags);
}

/* Returns p2's flags as the datapath reports them. */
static uint32_t
p2_flags(void)
{
    struct dp_port_key key = {.ifindex = port(FX_P2)->ifindex};
    struct dp_port value;

    assert_int_equal(dp_table_get(fx.dp, DP_PORTS, &key, &value), 0);
    return value.flags;
}

/* A broadcast ARP from p1 (flooded), and whether p2 got a copy. */
static bool
flood_reaches_p2(void)
{
    uint8_t pkt[128];
    size_t len = arp_request_from(pkt, FX_P1, port(FX_P1)->ip4,
                                  CRAFT_IP4(10, 0, 0, 77));
    struct dp_stats before, after;

    assert_int_equal(dp_stats_get(fx.dp, port(FX_P2)->ifindex, &before), 0);
    assert_int_equal(run_port(FX_P1, pkt, len), TC_ACT_STOLEN);
    assert_int_equal(dp_stats_get(fx.dp, port(FX_P2)->ifindex, &after), 0);
    return after.tx_packets > before.tx_packets;
}

/* p2 is the port of an incoming VM: frames to it are delivered, floods
 * skip it, and its first frame (QEMU's announcement) activates it with one
 * punt and goes on.  The activation sticks while the document still says
 * standby; only a port written out of standby and back is armed again. */
static void
test_standby_port_activates_once(void **state)
{
    struct dp_trace_result *trace = calloc(1, sizeof *trace);
    uint32_t flags = port(FX_P2)->flags;
    struct dp_punts *reader;
    struct punts got;
    uint8_t pkt[256], rarp[128];
    size_t len, rarp_len;

    (void) state;
    assert_int_equal(dp_punts_open(fx.dp, punt_cb, &got, &reader), 0);
    punts_read(reader, &got);
    assert_int_equal(
        fixture_set_port_flags(&fx, FX_P2, flags | DP_PORT_STANDBY), 0);
    assert_true(p2_flags() & DP_PORT_STANDBY);

    /* To it: delivered.  Flooded: not to it. */
    len = udp_from(pkt, FX_P1, port(FX_P2)->mac, port(FX_P2)->ip4, 0, 10);
    assert_int_equal(run_port(FX_P1, pkt, len), TC_ACT_REDIRECT);
    assert_false(flood_reaches_p2());
    /* Frames of other ports punt nothing; a trace activates nothing. */
    punts_read(reader, &got);
    assert_int_equal(got.n, 0);
    len = udp_from(pkt, FX_P2, port(FX_P1)->mac, port(FX_P1)->ip4, 0, 10);
    assert_int_equal(
        dp_trace(fx.dp, DP_TRACE_PORT, port(FX_P2)->ifindex, pkt, len, trace),
        0);
    assert_false(trace->punted);
    punts_read(reader, &got);
    assert_int_equal(got.n, 0);
    assert_true(p2_flags() & DP_PORT_STANDBY);

    /* Its first frame, QEMU's announcement (RARP): flooded as usual, and
     * punted once, whole. */
    rarp_len = craft_arp_frame(rarp, broadcast_mac, port(FX_P2)->mac, 3,
                               port(FX_P2)->mac, 0, port(FX_P2)->mac, 0);
    craft_put16(rarp + 12, 0x8035);
    assert_int_equal(run_port(FX_P2, rarp, rarp_len), TC_ACT_STOLEN);
    punts_read(reader, &got);
    assert_int_equal(got.n, 1);
    assert_int_equal(got.last.reason, DP_PUNT_ACTIVATED);
    assert_int_equal(got.last.ifindex, port(FX_P2)->ifindex);
    assert_int_equal(got.last.len, rarp_len);
    assert_memory_equal(got.last.frame, rarp, rarp_len);
    assert_false(p2_flags() & DP_PORT_STANDBY);
    assert_true(flood_reaches_p2());
    assert_int_equal(run_port(FX_P2, pkt, len), TC_ACT_REDIRECT);
    punts_read(reader, &got);
    assert_int_equal(got.n, 0);

    /* The document still says standby: it stays active. */
    assert_int_equal(
        fixture_set_port_flags(&fx, FX_P2, flags | DP_PORT_STANDBY), 0);
    assert_false(p2_flags() & DP_PORT_STANDBY);
    assert_int_equal(run_port(FX_P2, pkt, len), TC_ACT_REDIRECT);
    punts_read(reader, &got);
    assert_int_equal(got.n, 0);
    assert_true(flood_reaches_p2());

    /* Out of standby and back in: armed again. */
    assert_int_equal(fixture_set_port_flags(&fx, FX_P2, flags), 0);
    assert_int_equal(
        fixture_set_port_flags(&fx, FX_P2, flags | DP_PORT_STANDBY), 0);
    assert_true(p2_flags() & DP_PORT_STANDBY);
    assert_false(flood_reaches_p2());
    assert_int_equal(run_port(FX_P2, pkt, len), TC_ACT_REDIRECT);
    punts_read(reader, &got);
    assert_int_equal(got.n, 1);
    assert_int_equal(got.last.reason, DP_PUNT_ACTIVATED);

    dp_punts_close(reader);
    free(trace);
}

/* Expects what p1 sends to p2's MAC to go to 'vtep', whose next hop has
 * MAC 'vtep_mac', as to a remote MAC. */
static void
expect_p1_to_p2_at(uint32_t vtep, const uint8_t *vtep_mac)
{
    uint8_t inner[256], want[512];
    size_t inner_len =
        udp_from(inner, FX_P1, port(FX_P2)->mac, port(FX_P2)->ip4, 0, 10);

    assert_int_equal(run_port(FX_P1, inner, inner_len), TC_ACT_REDIRECT);
    assert_output(want, expected_encap(want, inner, inner_len, FX_VNI_A, vtep,
                                       vtep_mac));
}

/* p2's MAC on its way here (DP_FDB_STANDBY, still running at .2): what
 * local ports send it goes to .2, as for a remote MAC; what the underlay
 * brings for it is delivered to p2. */
static void
test_fdb_standby(void **state)
{
    uint8_t inner[256], pkt[512];
    size_t inner_len, len;

    (void) state;
    set_p2_fdb(port(FX_P2)->ifindex, FX_VTEP_REMOTE, DP_FDB_STANDBY);
    expect_p1_to_p2_at(FX_VTEP_REMOTE, fx_remote_vtep_mac);

    inner_len =
        udp_from(inner, FX_P1, port(FX_P2)->mac, port(FX_P2)->ip4, 0, 10);
    memcpy(inner + 6, fx_remote_mac, 6);
    len = vxlan_to_us(pkt, FX_VNI_A, inner, inner_len);
    assert_int_equal(run_uplink(pkt, len), TC_ACT_REDIRECT);
    assert_output(inner, inner_len);
}

/* A live migration's switch-over rewrites p2's FDB entry while the guest
 * is paused: dp_table_set_nowait() does not wait for the readers of the
 * entry's index slot, which the previous update left in use.  The entry
 * leaves the index (never a torn record in it), the fast path follows the
 * new value by hash at once, and dp_settle() puts it back in the index. */
static void
test_fdb_set_nowait(void **state)
{
    struct dp_fdb_key key = {.vni = FX_VNI_A};
    struct dp_fdb_entry entry = {.vtep = htonl(FX_VTEP_REMOTE),
                                 .flags = DP_FDB_FORWARD},
                        got;
    size_t fdb = table_count(&fdb_index);

    (void) state;
    memcpy(key.mac, port(FX_P2)->mac, 6);
    assert_int_equal(index_check(&fdb_index), fdb);

    /* The first update makes the slot's other copy one that readers may
     * hold; a second without waiting cannot rewrite it. */
    set_p2_fdb(0, FX_VTEP_REMOTE2, DP_FDB_FORWARD);
    assert_int_equal(index_check(&fdb_index), fdb);
    assert_int_equal(dp_table_set_nowait(fx.dp, DP_FDB, &key, &entry), 0);
    assert_int_equal(index_check(&fdb_index), fdb - 1);
    assert_int_equal(dp_table_get(fx.dp, DP_FDB, &key, &got), 0);
    assert_int_equal(got.vtep, htonl(FX_VTEP_REMOTE));
    assert_int_equal(got.flags, DP_FDB_FORWARD);
    expect_p1_to_p2_at(FX_VTEP_REMOTE, fx_remote_vtep_mac);

    /* Settled: back in the index as the table has it, and used from it. */
    assert_int_equal(dp_settle(fx.dp), 0);
    assert_int_equal(index_check(&fdb_index), fdb);
    expect_p1_to_p2_at(FX_VTEP_REMOTE, fx_remote_vtep_mac);
    assert_int_equal(dp_settle(fx.dp), 0);

    /* Taken out, then deleted before settling: settling brings nothing
     * back, and the deletion stands. */
    entry.vtep = htonl(FX_VTEP_REMOTE2);
    assert_int_equal(dp_table_set_nowait(fx.dp, DP_FDB, &key, &entry), 0);
    assert_int_equal(index_check(&fdb_index), fdb - 1);
    assert_int_equal(dp_table_del(fx.dp, DP_FDB, &key), 0);
    assert_int_equal(dp_settle(fx.dp), 0);
    assert_int_equal(index_check(&fdb_index), fdb - 1);
    assert_int_equal(dp_table_get(fx.dp, DP_FDB, &key, &got), ENOENT);

    /* An update whose slot no reader holds needs no wait: in place. */
    assert_int_equal(dp_table_set_nowait(fx.dp, DP_FDB, &key, &entry), 0);
    assert_int_equal(index_check(&fdb_index), fdb);
    expect_p1_to_p2_at(FX_VTEP_REMOTE2, fx_remote2_vtep_mac);
}

/* The frame the underlay brings for p2's MAC, sent by 'vtep' with outer
 * TTL 'ttl'. */
static size_t
vxlan_for_p2(uint8_t *pkt, uint32_t vtep, uint8_t ttl)
{
    struct craft_outer o = outer_to_us(FX_VNI_A);
    uint8_t inner[256];
    size_t inner_len =
        udp_from(inner, FX_P1, port(FX_P2)->mac, port(FX_P2)->ip4, 0, 10);

    memcpy(inner + 6, fx_remote_mac, 6);
    o.ip.src = vtep;
    o.ip.ttl = ttl;
    o.flags = 0x88;
    return craft_vxlan_frame(pkt, &o, inner, inner_len);
}

/* Expects the uplink to drop 'pkt' as "forward-loop". */
static void
expect_forward_loop(const char *what, const uint8_t *pkt, size_t len)
{
    struct counters want;

    counters_read(&want);
    if (run_uplink(pkt, len) != TC_ACT_SHOT) {
        fail_msg("%s: not dropped", what);
    }
    count_rx(&want, D_UL, len);
    count_drop(&want, D_UL, DP_DROP_FORWARD_LOOP);
    counters_assert(&want);
}

/* Expects the uplink to send 'pkt', a frame for p2's MAC, on to .3: our
 * outer addresses, .3's next hop, outer TTL 'ttl', a checksum anew, and
 * the rest as it came. */
static void
expect_forwarded(const uint8_t *pkt, size_t len, uint8_t ttl)
{
    struct pkt_ipv4 hdr;
    const uint8_t *ip;
    struct counters c;
    uint16_t check;

    counters_read(&c);
    assert_int_equal(run_uplink(pkt, len), TC_ACT_REDIRECT);
    count_rx(&c, D_UL, len);
    count_tx(&c, D_UL, len);
    counters_assert(&c);
    assert_int_equal(res.out_len, len);
    assert_memory_equal(res.out, fx_remote2_vtep_mac, 6);
    assert_memory_equal(res.out + 6, fx.underlay_mac, 6);
    ip = res.out + CRAFT_ETH_LEN;
    assert_int_equal(ip[8], ttl);
    assert_int_equal(craft_get32(ip + 12), FX_VTEP_LOCAL);
    assert_int_equal(craft_get32(ip + 16), FX_VTEP_REMOTE2);
    memcpy(&hdr, ip, sizeof hdr);
    memcpy(&check, ip + 10, sizeof check);
    assert_int_equal(pkt_ipv4_csum(&hdr), check);
    assert_memory_equal(ip + 1, pkt + CRAFT_ETH_LEN + 1, 7);
    assert_memory_equal(ip + CRAFT_IPV4_LEN,
                        pkt + CRAFT_ETH_LEN + CRAFT_IPV4_LEN,
                        len - CRAFT_ETH_LEN - CRAFT_IPV4_LEN);
}

/* p2's MAC has just moved to .3 (DP_FDB_FORWARD): local ports' frames go
 * to .3; a frame from .2 for it goes on to .3 with our outer addresses,
 * .3's next hop, one hop less, and everything from the UDP header on as it
 * came; back to its sender too, with little TTL.  From an external VTEP,
 * to ourselves or out of TTL it is a "forward-loop"; other remote entries
 * keep split horizon. */
static void
test_fdb_forward(void **state)
{
    struct dp_vtep_key ext_key = {.vtep = htonl(CRAFT_IP4(192, 168, 100, 77)),
                                  .vni = FX_VNI_A};
    struct dp_vtep ext = {.flags = DP_VTEP_EXTERNAL};
    uint8_t pkt[512], want[512];
    size_t len;
    struct counters c;
    int ul_fd;

    (void) state;
    set_p2_fdb(0, FX_VTEP_REMOTE2, DP_FDB_FORWARD);
    expect_p1_to_p2_at(FX_VTEP_REMOTE2, fx_remote2_vtep_mac);

    len = vxlan_for_p2(pkt, FX_VTEP_REMOTE, 30);
    expect_forwarded(pkt, len, 29);
    /* For real: into the underlay and straight back out of it. */
    memcpy(want, res.out, len);
    ul_fd = capture_open("ul1");
    assert_int_equal(fixture_inject("ul1", pkt, len), 0);
    capture_expect(ul_fd, "ul1", want, len);
    close(ul_fd);

    /* Back to its sender (a VM there still sends to p2's MAC here, its
     * entry standby to us): with at most FAB_FORWARD_BACK_TTL, so that two
     * hosts forwarding to each other pass it round a few times only. */
    len = vxlan_for_p2(pkt, FX_VTEP_REMOTE2, 30);
    expect_forwarded(pkt, len, FAB_FORWARD_BACK_TTL);
    len = vxlan_for_p2(pkt, FX_VTEP_REMOTE2, 3);
    expect_forwarded(pkt, len, 2);
    len = vxlan_for_p2(pkt, FX_VTEP_REMOTE2, 2);
    expect_forwarded(pkt, len, 1);
    len = vxlan_for_p2(pkt, FX_VTEP_REMOTE2, 1);
    expect_forward_loop("back to its sender, out of TTL", pkt, len);
    len = vxlan_for_p2(pkt, FX_VTEP_REMOTE, 1);
    expect_forward_loop("out of TTL", pkt, len);
    assert_int_equal(dp_table_set(fx.dp, DP_VTEPS, &ext_key, &ext), 0);
    len = vxlan_for_p2(pkt, CRAFT_IP4(192, 168, 100, 77), 30);
    expect_forward_loop("from an external VTEP", pkt, len);
    assert_int_equal(dp_table_del(fx.dp, DP_VTEPS, &ext_key), 0);
    set_p2_fdb(0, FX_VTEP_LOCAL, DP_FDB_FORWARD);
    len = vxlan_for_p2(pkt, FX_VTEP_REMOTE, 30);
    expect_forward_loop("to ourselves", pkt, len);

    /* Without the flag, a remote entry is never forwarded to. */
    set_p2_fdb(0, FX_VTEP_REMOTE2, 0);
    counters_read(&c);
    assert_int_equal(run_uplink(pkt, len), TC_ACT_SHOT);
    count_rx(&c, D_UL, len);
    count_drop(&c, D_UL, DP_DROP_NO_DEST);
    counters_assert(&c);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_decap_ecn, drain_tap),
        cmocka_unit_test_setup(test_decap_ecn_ipv6, drain_tap),
        cmocka_unit_test_setup(test_tables_read_back, drain_tap),
        cmocka_unit_test_setup(test_index_mirrors_tables, drain_tap),
        cmocka_unit_test_setup(test_index_repaired_on_restart, drain_tap),
        cmocka_unit_test(test_open_by_type),
        cmocka_unit_test_setup(test_index_full_window_falls_back, drain_tap),
        cmocka_unit_test_setup_teardown(test_qos_policer_clock, drain_tap,
                                        qos_clear),
        cmocka_unit_test_setup(test_local_delivery_veth, drain_tap),
        cmocka_unit_test_setup(test_local_delivery_tap, drain_tap),
        cmocka_unit_test_setup(test_local_delivery_refuses_other_vni,
                               drain_tap),
        cmocka_unit_test_setup(test_encap_remote_unicast, drain_tap),
        cmocka_unit_test_setup(test_encap_matches_vxlan_build_outer,
                               drain_tap),
        cmocka_unit_test_setup(test_encap_copies_dscp, drain_tap),
        cmocka_unit_test_setup(test_encap_ipv6, drain_tap),
        cmocka_unit_test_setup(test_encap_arp, drain_tap),
        cmocka_unit_test_setup(test_encap_ttl_from_config, drain_tap),
        cmocka_unit_test_setup(test_encap_unresolved_next_hop, drain_tap),
        cmocka_unit_test_setup(test_encap_next_hop_removed_and_back,
                               drain_tap),
        cmocka_unit_test_setup(test_decap_to_local_port, drain_tap),
        cmocka_unit_test_setup(test_decap_tap_ipv6_arp, drain_tap),
        cmocka_unit_test_setup(test_decap_never_back_to_underlay, drain_tap),
        cmocka_unit_test_setup_teardown(test_standby_port_activates_once,
                                        drain_tap, p2_restore),
        cmocka_unit_test_setup_teardown(test_fdb_standby, drain_tap,
                                        p2_restore),
        cmocka_unit_test_setup_teardown(test_fdb_forward, drain_tap,
                                        p2_restore),
        cmocka_unit_test_setup_teardown(test_fdb_set_nowait, drain_tap,
                                        p2_restore),
        cmocka_unit_test_setup_teardown(test_decap_delivers_inner_protocol,
                                        p2_to_guest, p2_from_guest),
        cmocka_unit_test_setup(test_arp_reply_for_bound_ip, drain_tap),
        cmocka_unit_test_setup(test_arp_reply_padded_and_remote, drain_tap),
        cmocka_unit_test_setup(test_arp_bindings_are_per_vni, drain_tap),
        cmocka_unit_test_setup(test_arp_flood, drain_tap),
        cmocka_unit_test_setup(test_unknown_vni_dropped, drain_tap),
        cmocka_unit_test_setup(test_no_delivery_across_vnis_from_port,
                               drain_tap),
        cmocka_unit_test_setup(test_no_delivery_across_vnis_from_underlay,
                               drain_tap),
        cmocka_unit_test_setup(test_port_security_drops_spoofing, drain_tap),
        cmocka_unit_test_setup(test_port_security_allows, drain_tap),
        cmocka_unit_test_setup(test_dhcp_punted, drain_tap),
        cmocka_unit_test_setup(test_dhcp_spoofed, drain_tap),
        cmocka_unit_test_setup(test_dhcp_server_mac_not_flooded, drain_tap),
        cmocka_unit_test_setup(test_dhcp_only_from_nowhere, drain_tap),
        cmocka_unit_test_setup(test_dhcp_rate_limited, drain_tap),
        cmocka_unit_test_setup(test_dhcp_inject, drain_tap),
        cmocka_unit_test_setup(test_port_security_nd, drain_tap),
        cmocka_unit_test_setup(test_port_security_off, drain_tap),
        cmocka_unit_test_setup(test_oversize_dropped, drain_tap),
        cmocka_unit_test_setup(test_oversize_gso, drain_tap),
        cmocka_unit_test_setup(test_uplink_passthrough, drain_tap),
        cmocka_unit_test_setup(test_port_program_on_unknown_device, drain_tap),
        cmocka_unit_test_setup(test_short_input_refused, drain_tap),
        cmocka_unit_test_setup(test_uplink_truncated_vxlan, drain_tap),
        cmocka_unit_test_setup(test_port_truncated_tcp, drain_tap),
        cmocka_unit_test_setup(test_padded_frame_delivered, drain_tap),
        cmocka_unit_test_setup(test_malformed_headers, drain_tap),
        cmocka_unit_test_setup(test_mutations_and_garbage, drain_tap),
        cmocka_unit_test_setup(test_flood_unknown_unicast_from_port,
                               drain_tap),
        cmocka_unit_test_setup(test_flood_from_underlay_split_horizon,
                               drain_tap),
        cmocka_unit_test_setup(test_flood_nowhere, drain_tap),
        cmocka_unit_test_setup(test_flood_skips_unresolved_vtep, drain_tap),
        cmocka_unit_test_setup_teardown(test_qos_dscp_marking, drain_tap,
                                        qos_clear),
        cmocka_unit_test_setup_teardown(test_qos_ingress_policing, drain_tap,
                                        qos_clear),
        cmocka_unit_test_setup_teardown(test_qos_ingress_shaped, drain_tap,
                                        qos_clear),
        cmocka_unit_test_setup_teardown(test_qos_egress_departure_times,
                                        drain_tap, qos_clear),
        cmocka_unit_test_setup_teardown(test_qos_egress_local_policing,
                                        drain_tap, qos_clear),
        cmocka_unit_test_setup_teardown(test_qos_egress_policed, drain_tap,
                                        qos_clear),
        cmocka_unit_test_setup_teardown(test_qos_egress_htb_class, drain_tap,
                                        qos_clear),
        cmocka_unit_test_setup_teardown(test_qos_table_read_back, drain_tap,
                                        qos_clear),
    };

    fixture_require_root();
    return cmocka_run_group_tests_name("bpf datapath", tests, group_setup,
                                       group_teardown);
}
