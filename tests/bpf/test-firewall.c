/* The firewall of the real port and uplink programs, run by the kernel on
 * crafted packets with BPF_PROG_TEST_RUN: conntrack transitions, policy
 * decisions, VXLAN group identities, flow events and traces.  Policy
 * entries are written through dp.h as the agent writes them, in the world
 * that fixture.h describes:
 *
 *   p1  "web", identity 300: egress governed; may open TCP anywhere except
 *       port 5433 (rule 3 denies it, rule 2 allows the rest)
 *   p2  "db", identity 301: ingress and egress governed; accepts TCP 5432
 *       from web (rule 1) and from 10.0.0.0/24 outside any group (rule 4),
 *       UDP 6000 from web (rule 5), and nothing else; sends nothing of its
 *       own
 *   tap0, p3: not firewalled; tap0 (10.0.0.4) is the attacker of the
 *       flood tests, in no group, so db lets in only its TCP 5432 */
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <errno.h>
#include <linux/pkt_cls.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <net/if.h>
#include <unistd.h>

#include <cmocka.h>

#include "tests/bpf/craft.h"
#include "tests/bpf/fixture.h"

#include "datapath/bpf/abi.h"
#include "firewall/policy.h"
#include "packet/parse.h"

static struct fixture fx;
static struct fx_result res;

#define WEB 300
#define DB 301
#define OTHER_GROUP 999
#define CIDR_ID 49152

#define RULE_DB_FROM_WEB 1
#define RULE_WEB_OUT 2
#define RULE_WEB_DENY_5433 3
#define RULE_DB_FROM_CIDR 4
#define RULE_DB_UDP6 5
#define RULE_WEB_UDP 6

#define TCP_SYN 0x02
#define TCP_ACK 0x10
#define TCP_SYNACK 0x12

#define FOREIGN_VTEP CRAFT_IP4(192, 168, 100, 77)

static const struct fx_port *
port(enum fx_port_id id)
{
    return &fx.ports[id];
}

/* Writes an IPv4 frame of IP protocol 'proto' (TCP or UDP) between two
 * addresses with 'payload' bytes of payload to 'buf'. */
static size_t
l4_frame(uint8_t *buf, const uint8_t *src_mac, const uint8_t *dst_mac,
         uint32_t src_ip, uint32_t dst_ip, uint8_t proto, uint16_t sport,
         uint16_t dport, size_t payload)
{
    struct craft_flow flow = {
        .dst_mac = dst_mac,
        .src_mac = src_mac,
        .src_ip = src_ip,
        .dst_ip = dst_ip,
        .proto = proto,
        .sport = sport,
        .dport = dport,
    };

    return craft_ipv4_frame(buf, &flow, payload);
}

/* Writes a TCP frame between two VMs' addresses with 'flags' to 'buf'. */
static size_t
tcp_frame(uint8_t *buf, const uint8_t *src_mac, const uint8_t *dst_mac,
          uint32_t src_ip, uint32_t dst_ip, uint16_t sport, uint16_t dport,
          uint8_t flags)
{
    size_t len =
        l4_frame(buf, src_mac, dst_mac, src_ip, dst_ip, 6, sport, dport, 0);

    buf[CRAFT_ETH_LEN + CRAFT_IPV4_LEN + 13] = flags;
    return len;
}

/* A UDP datagram between two addresses, with 4 bytes of payload. */
static size_t
udp_frame(uint8_t *buf, const uint8_t *src_mac, const uint8_t *dst_mac,
          uint32_t src_ip, uint32_t dst_ip, uint16_t sport, uint16_t dport)
{
    return l4_frame(buf, src_mac, dst_mac, src_ip, dst_ip, 17, sport, dport,
                    4);
}

/* TCP from port 'from' to port 'to'. */
static size_t
tcp_between(uint8_t *buf, enum fx_port_id from, enum fx_port_id to,
            uint16_t sport, uint16_t dport, uint8_t flags)
{
    return tcp_frame(buf, port(from)->mac, port(to)->mac, port(from)->ip4,
                     port(to)->ip4, sport, dport, flags);
}

/* An ICMP message of 'type' from 'from' to 'to', quoting 'quote' (an IPv4
 * packet, its first 28 bytes) for errors, or carrying echo id 'id'. */
static size_t
icmp_between(uint8_t *buf, enum fx_port_id from, enum fx_port_id to,
             uint8_t type, const uint8_t *quote, uint16_t id)
{
    struct craft_ipv4 ip = {
        .src = port(from)->ip4, .dst = port(to)->ip4, .proto = 1};
    size_t body = 8 + (quote ? 28 : 0);
    uint8_t *p = buf;

    p += craft_eth(p, port(to)->mac, port(from)->mac, 0x0800);
    p += craft_ipv4_hdr(p, &ip, body);
    memset(p, 0, 8);
    p[0] = type;
    p[1] = type == 3 ? 3 : 0; /* Port unreachable. */
    craft_put16(p + 4, id);
    craft_put16(p + 6, 1);
    if (quote) {
        memcpy(p + 8, quote, 28);
    }
    return (size_t) (p - buf) + body;
}

/* Wraps 'inner' in VXLAN from 'vtep' to us in 'vni', with group policy id
 * 'group' (no G flag if 0). */
static size_t
vxlan_from_vni(uint8_t *buf, uint32_t vtep, uint32_t vni, uint16_t group,
               const uint8_t *inner, size_t len)
{
    struct craft_outer o = {
        .ip = {.src = vtep, .dst = FX_VTEP_LOCAL, .df = true},
        .sport = 51234,
        .dport = 4789,
        .flags = group ? 0x88 : 0x08,
        .vni = vni,
    };
    size_t n;

    memcpy(o.dst_mac, fx.underlay_mac, 6);
    memcpy(o.src_mac, fx_remote_vtep_mac, 6);
    n = craft_vxlan_frame(buf, &o, inner, len);
    craft_put16(buf + CRAFT_ETH_LEN + CRAFT_IPV4_LEN + CRAFT_UDP_LEN + 2,
                group);
    return n;
}

/* The same in VNI FX_VNI_A. */
static size_t
vxlan_from(uint8_t *buf, uint32_t vtep, uint16_t group, const uint8_t *inner,
           size_t len)
{
    return vxlan_from_vni(buf, vtep, FX_VNI_A, group, inner, len);
}

static void
run_port(enum fx_port_id from, const uint8_t *frame, size_t len)
{
    assert_int_equal(
        fixture_run(fx.port_prog, port(from)->ifindex, frame, len, 0, &res),
        0);
}

static void
run_uplink(const uint8_t *frame, size_t len)
{
    assert_int_equal(
        fixture_run(fx.uplink_prog, fx.underlay, frame, len, 0, &res), 0);
}

static uint64_t
drops(uint32_t ifindex, enum dp_drop_reason reason)
{
    struct dp_stats s;

    assert_int_equal(dp_stats_get(fx.dp, ifindex, &s), 0);
    return s.drops[reason];
}

/* Runs 'frame' ('len' bytes) from port 'from' and asserts that the
 * firewall drops it, counted as "firewall-deny" on port 'on'. */
static void
expect_denied(enum fx_port_id from, const uint8_t *frame, size_t len,
              enum fx_port_id on)
{
    uint64_t before = drops(port(on)->ifindex, DP_DROP_FW_DENY);

    run_port(from, frame, len);
    assert_int_equal(res.verdict, TC_ACT_SHOT);
    assert_int_equal(drops(port(on)->ifindex, DP_DROP_FW_DENY), before + 1);
}

/* Tables. */

static void
set_policy(uint16_t group, uint8_t direction, uint8_t proto, uint16_t port_,
           uint16_t peer, uint8_t match, uint32_t rule, uint8_t action,
           uint8_t flags)
{
    struct policy_key key = {
        .group = group,
        .direction = direction,
        .proto = proto,
        .port = port_,
        .peer = peer,
        .match = match,
    };
    struct policy_value value = {
        .rule_id = rule, .action = action, .flags = flags};
    struct dp_rule_key rkey = {.rule_id = rule};
    struct dp_rule_hits hits = {0};

    assert_int_equal(dp_table_set(fx.dp, DP_POLICIES, &key, &value), 0);
    if (dp_table_get(fx.dp, DP_RULE_HITS, &rkey, &hits) == ENOENT) {
        assert_int_equal(dp_table_set(fx.dp, DP_RULE_HITS, &rkey, &hits), 0);
    }
}

static uint64_t
rule_hits(uint32_t rule)
{
    struct dp_rule_key key = {.rule_id = rule};
    struct dp_rule_hits hits;

    assert_int_equal(dp_table_get(fx.dp, DP_RULE_HITS, &key, &hits), 0);
    return hits.hits;
}

static void
set_binding_identity(uint32_t ip, const uint8_t *mac, uint16_t identity)
{
    struct dp_binding_key key = {.vni = FX_VNI_A, .ip4 = htonl(ip)};
    struct dp_binding b = {.identity = identity};

    memcpy(b.mac, mac, 6);
    assert_int_equal(dp_table_set(fx.dp, DP_BINDINGS, &key, &b), 0);
}

static int
collect_key(const void *key, const void *value, void *aux)
{
    struct {
        uint8_t keys[70000][sizeof(struct ct_key)];
        size_t n;
    } *all = aux;

    (void) value;
    if (all->n < 70000) {
        memcpy(all->keys[all->n++], key, sizeof(struct ct_key));
    }
    return 0;
}

/* Empties a table whose keys are 'key_size' bytes. */
static void
table_clear(enum dp_table table)
{
    struct {
        uint8_t keys[70000][sizeof(struct ct_key)];
        size_t n;
    } *all = calloc(1, sizeof *all);
    size_t key_size = dp_table_key_size(table);
    uint8_t key[sizeof(struct ct_key)];

    assert_non_null(all);
    assert_true(key_size <= sizeof key);
    /* collect_key() copies whole ct_key sizes: fine for smaller keys,
     * whose bytes past 'key_size' are ignored. */
    assert_int_equal(dp_table_dump(fx.dp, table, collect_key, all), 0);
    for (size_t i = 0; i < all->n; i++) {
        memcpy(key, all->keys[i], key_size);
        assert_int_equal(dp_table_del(fx.dp, table, key), 0);
    }
    free(all);
}

static int
count_one(const void *key, const void *value, void *n)
{
    (void) key;
    (void) value;
    (*(size_t *) n)++;
    return 0;
}

static size_t
table_count(enum dp_table table)
{
    size_t n = 0;

    assert_int_equal(dp_table_dump(fx.dp, table, count_one, &n), 0);
    return n;
}

/* Returns the conntrack key of a TCP flow from 'a' to 'b' on VNI A, and
 * in '*reply' which way it goes in the key. */
static struct ct_key
ct_tcp_key(uint32_t a_ip, uint16_t a_port, uint32_t b_ip, uint16_t b_port,
           bool *reply)
{
    struct pkt_info info = {
        .l3_proto = PKT_ETH_P_IPV4,
        .l4_proto = 6,
        .src4 = htonl(a_ip),
        .dst4 = htonl(b_ip),
        .sport = htons(a_port),
        .dport = htons(b_port),
    };
    struct ct_key key;

    assert_int_equal(ct_key_from_info(&info, FX_VNI_A, &key, reply),
                     CT_KEY_FLOW);
    return key;
}

/* Returns the conntrack entry for a TCP flow between 'a' and 'b'. */
static bool
ct_find(uint32_t a_ip, uint16_t a_port, uint32_t b_ip, uint16_t b_port,
        struct dp_ct *entry)
{
    bool reply;
    struct ct_key key = ct_tcp_key(a_ip, a_port, b_ip, b_port, &reply);

    return dp_table_get(fx.dp, DP_CONNTRACK, &key, entry) == 0;
}

/* Flow events. */

struct events {
    struct dp_flow_event e[64];
    size_t n;
};

static void
event_cb(const struct dp_flow_event *e, void *events_)
{
    struct events *events = events_;

    if (events->n < 64) {
        events->e[events->n++] = *e;
    }
}

/* Collects the events waiting in the ring buffer. */
static void
events_read(struct events *events)
{
    struct dp_flow_events *reader;

    memset(events, 0, sizeof *events);
    assert_int_equal(dp_flow_events_open(fx.dp, event_cb, events, &reader), 0);
    assert_int_equal(dp_flow_events_poll(reader, 0), 0);
    dp_flow_events_close(reader);
}

/* The policy of the header comment, fresh for every test. */
static int
setup(void **state)
{
    struct events drained;
    struct dp_policy_cidr cidr = {.identity = CIDR_ID};
    struct policy_cidr_key ckey;
    uint8_t net[4] = {10, 0, 0, 0};

    (void) state;
    table_clear(DP_CONNTRACK);
    table_clear(DP_POLICIES);
    table_clear(DP_RULE_HITS);
    events_read(&drained);
    assert_int_equal(
        fixture_set_port(&fx, FX_P1, DP_PORT_VETH | DP_PORT_FW_EGRESS, WEB),
        0);
    assert_int_equal(
        fixture_set_port(&fx, FX_P2,
                         DP_PORT_VETH | DP_PORT_FW_INGRESS | DP_PORT_FW_EGRESS,
                         DB),
        0);
    set_binding_identity(port(FX_P1)->ip4, port(FX_P1)->mac, WEB);
    set_binding_identity(port(FX_P2)->ip4, port(FX_P2)->mac, DB);
    set_policy(DB, POLICY_INGRESS, 6, 5432, WEB, POLICY_MATCH_PORT,
               RULE_DB_FROM_WEB, POLICY_ALLOW, 0);
    set_policy(DB, POLICY_INGRESS, 6, 5432, CIDR_ID, POLICY_MATCH_PORT,
               RULE_DB_FROM_CIDR, POLICY_ALLOW, POLICY_F_LOG);
    set_policy(WEB, POLICY_EGRESS, 6, 0, POLICY_PEER_ANY,
               POLICY_MATCH_ANY_PORT, RULE_WEB_OUT, POLICY_ALLOW, 0);
    set_policy(WEB, POLICY_EGRESS, 6, 5433, POLICY_PEER_ANY, POLICY_MATCH_PORT,
               RULE_WEB_DENY_5433, POLICY_DENY, 0);
    set_policy(DB, POLICY_INGRESS, 17, 6000, WEB, POLICY_MATCH_PORT,
               RULE_DB_UDP6, POLICY_ALLOW, 0);
    policy_cidr_key_build(&ckey, FX_VNI_A, 4, net, 24);
    assert_int_equal(dp_table_set(fx.dp, DP_POLICY_CIDRS, &ckey, &cidr), 0);
    return 0;
}

static int
teardown(void **state)
{
    (void) state;
    fixture_set_port(&fx, FX_P1, DP_PORT_VETH, 0);
    fixture_set_port(&fx, FX_P2, DP_PORT_VETH, 0);
    set_binding_identity(port(FX_P1)->ip4, port(FX_P1)->mac, 0);
    set_binding_identity(port(FX_P2)->ip4, port(FX_P2)->mac, 0);
    table_clear(DP_CONNTRACK);
    fixture_drain_tap(&fx);
    return 0;
}

/* Tests. */

/* Ports that no security group governs skip conntrack entirely. */
static void
test_unfirewalled_ports_skip_conntrack(void **state)
{
    uint8_t frame[CRAFT_MAX_FRAME];
    size_t len;

    (void) state;
    fixture_set_port(&fx, FX_P1, DP_PORT_VETH, 0);
    fixture_set_port(&fx, FX_P2, DP_PORT_VETH, 0);
    len = tcp_between(frame, FX_P1, FX_P2, 40000, 22, TCP_SYN);
    run_port(FX_P1, frame, len);
    assert_int_equal(res.verdict, TC_ACT_REDIRECT);
    assert_int_equal(table_count(DP_CONNTRACK), 0);
}

/* An allowed connection gets one entry, which its replies ride on although
 * the replier's own policy allows it to send nothing. */
static void
test_allowed_connection_and_replies(void **state)
{
    uint8_t frame[CRAFT_MAX_FRAME];
    struct dp_ct ct;
    size_t len;

    (void) state;
    len = tcp_between(frame, FX_P1, FX_P2, 40000, 5432, TCP_SYN);
    run_port(FX_P1, frame, len);
    assert_int_equal(res.verdict, TC_ACT_REDIRECT);
    assert_true(ct_find(port(FX_P1)->ip4, 40000, port(FX_P2)->ip4, 5432, &ct));
    assert_int_equal(ct.ct.state, CT_SYN_SENT);
    assert_int_equal(ct.egress_rule, RULE_WEB_OUT);
    assert_int_equal(ct.ingress_rule, RULE_DB_FROM_WEB);
    assert_int_equal(ct.orig_src_identity, WEB);
    assert_int_equal(ct.orig_dst_identity, DB);
    assert_int_equal(rule_hits(RULE_WEB_OUT), 1);
    assert_int_equal(rule_hits(RULE_DB_FROM_WEB), 1);

    len = tcp_between(frame, FX_P2, FX_P1, 5432, 40000, TCP_SYNACK);
    run_port(FX_P2, frame, len);
    assert_int_equal(res.verdict, TC_ACT_REDIRECT);
    len = tcp_between(frame, FX_P1, FX_P2, 40000, 5432, TCP_ACK);
    run_port(FX_P1, frame, len);
    assert_int_equal(res.verdict, TC_ACT_REDIRECT);
    assert_true(ct_find(port(FX_P1)->ip4, 40000, port(FX_P2)->ip4, 5432, &ct));
    assert_int_equal(ct.ct.state, CT_ESTABLISHED);
    assert_int_equal(ct.ct.packets[CT_DIR_ORIG], 2);
    assert_int_equal(ct.ct.packets[CT_DIR_REPLY], 1);
    /* Hits count connections, not packets. */
    assert_int_equal(rule_hits(RULE_DB_FROM_WEB), 1);

    /* The replier may not open a connection of its own. */
    len = tcp_between(frame, FX_P2, FX_P1, 5432, 40001, TCP_SYN);
    run_port(FX_P2, frame, len);
    assert_int_equal(res.verdict, TC_ACT_SHOT);
}

/* Ingress default deny: nothing allows TCP 22 into db.  The drop counts on
 * db's port, and a flow event says why. */
static void
test_default_deny_counted_and_logged(void **state)
{
    uint8_t frame[CRAFT_MAX_FRAME];
    struct events ev;
    size_t len;

    (void) state;
    len = tcp_between(frame, FX_P1, FX_P2, 40000, 22, TCP_SYN);
    expect_denied(FX_P1, frame, len, FX_P2);
    assert_int_equal(table_count(DP_CONNTRACK), 0);

    events_read(&ev);
    assert_int_equal(ev.n, 1);
    assert_int_equal(ev.e[0].action, POLICY_DENY);
    assert_int_equal(ev.e[0].reason, POLICY_BY_DEFAULT_DENY);
    assert_int_equal(ev.e[0].direction, POLICY_INGRESS);
    assert_int_equal(ev.e[0].ifindex, port(FX_P2)->ifindex);
    assert_int_equal(ev.e[0].rule_id, 0);
    assert_int_equal(ev.e[0].src_identity, WEB);
    assert_int_equal(ev.e[0].dst_identity, DB);
    assert_int_equal(ev.e[0].vni, FX_VNI_A);
    assert_int_equal(ev.e[0].family, 4);
    assert_int_equal(ev.e[0].proto, 6);
    assert_int_equal(ntohs(ev.e[0].dport), 22);
    assert_int_equal(ntohs(ev.e[0].sport), 40000);
    assert_memory_equal(ev.e[0].src, &(uint32_t){htonl(port(FX_P1)->ip4)}, 4);
}

/* A deny beats an allow that matches too (rule 2 allows all TCP). */
static void
test_deny_beats_allow(void **state)
{
    uint8_t frame[CRAFT_MAX_FRAME];
    struct events ev;
    size_t len;

    (void) state;
    len = tcp_between(frame, FX_P1, FX_TAP, 40000, 5433, TCP_SYN);
    expect_denied(FX_P1, frame, len, FX_P1);
    assert_int_equal(rule_hits(RULE_WEB_DENY_5433), 1);
    events_read(&ev);
    assert_int_equal(ev.n, 1);
    assert_int_equal(ev.e[0].rule_id, RULE_WEB_DENY_5433);
    assert_int_equal(ev.e[0].direction, POLICY_EGRESS);

    /* The neighbouring port is allowed, to a port with no firewall. */
    len = tcp_between(frame, FX_P1, FX_TAP, 40000, 5434, TCP_SYN);
    run_port(FX_P1, frame, len);
    assert_int_equal(res.verdict, TC_ACT_REDIRECT);
}

/* TCP that does not start with a SYN is no connection to allow, and an
 * echo reply needs its request. */
static void
test_no_connection_without_opening(void **state)
{
    uint8_t frame[CRAFT_MAX_FRAME];
    uint64_t invalid = drops(port(FX_P1)->ifindex, DP_DROP_CT_INVALID);
    size_t len;

    (void) state;
    len = tcp_between(frame, FX_P1, FX_P2, 40000, 5432, TCP_ACK);
    run_port(FX_P1, frame, len);
    assert_int_equal(res.verdict, TC_ACT_SHOT);
    assert_int_equal(drops(port(FX_P1)->ifindex, DP_DROP_CT_INVALID),
                     invalid + 1);
    assert_int_equal(table_count(DP_CONNTRACK), 0);

    len = icmp_between(frame, FX_P2, FX_P1, 0, NULL, 77);
    run_port(FX_P2, frame, len);
    assert_int_equal(res.verdict, TC_ACT_SHOT);
}

/* An ICMP error passes for a connection conntrack knows, not for another. */
static void
test_related_icmp_error(void **state)
{
    uint8_t frame[CRAFT_MAX_FRAME], quote[CRAFT_MAX_FRAME];
    size_t len;

    (void) state;
    len = tcp_between(frame, FX_P1, FX_P2, 40000, 5432, TCP_SYN);
    run_port(FX_P1, frame, len);
    assert_int_equal(res.verdict, TC_ACT_REDIRECT);

    tcp_between(quote, FX_P1, FX_P2, 40000, 5432, TCP_SYN);
    len = icmp_between(frame, FX_P2, FX_P1, 3, quote + CRAFT_ETH_LEN, 0);
    run_port(FX_P2, frame, len);
    assert_int_equal(res.verdict, TC_ACT_REDIRECT);

    tcp_between(quote, FX_P1, FX_P2, 40000, 5555, TCP_SYN);
    len = icmp_between(frame, FX_P2, FX_P1, 3, quote + CRAFT_ETH_LEN, 0);
    run_port(FX_P2, frame, len);
    assert_int_equal(res.verdict, TC_ACT_SHOT);
}

/* Remote senders: the VXLAN group id is the peer identity of ingress
 * rules; without one, the source address's CIDR identity is. */
static void
test_remote_ingress_by_group(void **state)
{
    uint8_t inner[CRAFT_MAX_FRAME], frame[CRAFT_MAX_FRAME];
    uint64_t before = drops(port(FX_P2)->ifindex, DP_DROP_FW_DENY);
    struct events ev;
    size_t ilen, len;

    (void) state;
    ilen = tcp_frame(inner, fx_remote_mac, port(FX_P2)->mac, FX_REMOTE_IP,
                     port(FX_P2)->ip4, 41000, 5432, TCP_SYN);
    len = vxlan_from(frame, FX_VTEP_REMOTE, WEB, inner, ilen);
    run_uplink(frame, len);
    assert_int_equal(res.verdict, TC_ACT_REDIRECT);
    assert_int_equal(res.out_len, ilen);
    assert_memory_equal(res.out, inner, ilen);

    ilen = tcp_frame(inner, fx_remote_mac, port(FX_P2)->mac, FX_REMOTE_IP,
                     port(FX_P2)->ip4, 41001, 5432, TCP_SYN);
    len = vxlan_from(frame, FX_VTEP_REMOTE, OTHER_GROUP, inner, ilen);
    run_uplink(frame, len);
    assert_int_equal(res.verdict, TC_ACT_SHOT);
    assert_int_equal(drops(port(FX_P2)->ifindex, DP_DROP_FW_DENY), before + 1);

    /* No group: 10.0.0.10 is in 10.0.0.0/24, whose rule logs. */
    events_read(&ev);
    ilen = tcp_frame(inner, fx_remote_mac, port(FX_P2)->mac, FX_REMOTE_IP,
                     port(FX_P2)->ip4, 41002, 5432, TCP_SYN);
    len = vxlan_from(frame, FX_VTEP_REMOTE, 0, inner, ilen);
    run_uplink(frame, len);
    assert_int_equal(res.verdict, TC_ACT_REDIRECT);
    assert_int_equal(rule_hits(RULE_DB_FROM_CIDR), 1);
    events_read(&ev);
    assert_int_equal(ev.n, 1);
    assert_int_equal(ev.e[0].action, POLICY_ALLOW);
    assert_int_equal(ev.e[0].rule_id, RULE_DB_FROM_CIDR);
    assert_int_equal(ev.e[0].src_identity, CIDR_ID);

    /* The reply goes back out by the connection. */
    ilen = tcp_frame(inner, port(FX_P2)->mac, fx_remote_mac, port(FX_P2)->ip4,
                     FX_REMOTE_IP, 5432, 41002, TCP_SYNACK);
    run_port(FX_P2, inner, ilen);
    assert_int_equal(res.verdict, TC_ACT_REDIRECT);
    assert_int_equal(res.out_len, ilen + CRAFT_VXLAN_OVERHEAD);
}

/* VXLAN from a host that is not a fabric VTEP is dropped, whatever group
 * it claims. */
static void
test_foreign_vtep_dropped(void **state)
{
    uint8_t inner[CRAFT_MAX_FRAME], frame[CRAFT_MAX_FRAME];
    uint64_t before = drops(fx.underlay, DP_DROP_FOREIGN_VTEP);
    size_t ilen, len;

    (void) state;
    ilen = tcp_frame(inner, fx_remote_mac, port(FX_P2)->mac, FX_REMOTE_IP,
                     port(FX_P2)->ip4, 41000, 5432, TCP_SYN);
    len = vxlan_from(frame, FOREIGN_VTEP, WEB, inner, ilen);
    run_uplink(frame, len);
    assert_int_equal(res.verdict, TC_ACT_SHOT);
    assert_int_equal(drops(fx.underlay, DP_DROP_FOREIGN_VTEP), before + 1);
    assert_int_equal(table_count(DP_CONNTRACK), 0);
}

/* What a port sends to another host carries its identity in VXLAN-GBP. */
static void
test_encap_carries_group(void **state)
{
    uint8_t frame[CRAFT_MAX_FRAME];
    const uint8_t *vx;
    size_t len;

    (void) state;
    len = tcp_frame(frame, port(FX_P1)->mac, fx_remote_mac, port(FX_P1)->ip4,
                    FX_REMOTE_IP, 40000, 443, TCP_SYN);
    run_port(FX_P1, frame, len);
    assert_int_equal(res.verdict, TC_ACT_REDIRECT);
    assert_int_equal(res.out_len, len + CRAFT_VXLAN_OVERHEAD);
    vx = res.out + CRAFT_ETH_LEN + CRAFT_IPV4_LEN + CRAFT_UDP_LEN;
    assert_int_equal(vx[0], 0x88);
    assert_int_equal(craft_get16(vx + 2), WEB);
}

/* Sets whether the next hop of 'vtep' takes VXLAN-GBP, keeping its route;
 * returns the flags it had. */
static uint32_t
set_nexthop_gbp(uint32_t vtep, bool gbp)
{
    struct dp_nexthop_key key = {.vtep = htonl(vtep)};
    struct dp_nexthop nh;
    uint32_t old;

    assert_int_equal(dp_table_get(fx.dp, DP_NEXTHOPS, &key, &nh), 0);
    old = nh.flags;
    nh.flags = gbp ? DP_NEXTHOP_GBP : 0;
    assert_int_equal(dp_table_set(fx.dp, DP_NEXTHOPS, &key, &nh), 0);
    return old;
}

/* A VTEP that does not take VXLAN-GBP (Open vSwitch or a Linux vxlan
 * device without "gbp") drops a frame with the G bit set, so what a
 * grouped port sends to it is plain RFC 7348: I flag only, no group.  The
 * same port's frames to a VTEP that does take it still carry the group. */
static void
test_encap_plain_to_vtep_without_gbp(void **state)
{
    uint8_t frame[CRAFT_MAX_FRAME];
    const uint8_t *vx =
        res.out + CRAFT_ETH_LEN + CRAFT_IPV4_LEN + CRAFT_UDP_LEN;
    uint32_t old = set_nexthop_gbp(FX_VTEP_REMOTE, false);
    size_t len;

    (void) state;
    len = tcp_frame(frame, port(FX_P1)->mac, fx_remote_mac, port(FX_P1)->ip4,
                    FX_REMOTE_IP, 40000, 443, TCP_SYN);
    run_port(FX_P1, frame, len);
    assert_int_equal(res.verdict, TC_ACT_REDIRECT);
    assert_int_equal(res.out_len, len + CRAFT_VXLAN_OVERHEAD);
    assert_int_equal(craft_get32(res.out + CRAFT_ETH_LEN + 16),
                     FX_VTEP_REMOTE);
    assert_int_equal(vx[0], 0x08);
    assert_int_equal(vx[1], 0);
    assert_int_equal(craft_get16(vx + 2), 0);

    set_nexthop_gbp(FX_VTEP_REMOTE, true);
    len = tcp_frame(frame, port(FX_P1)->mac, fx_remote_mac, port(FX_P1)->ip4,
                    FX_REMOTE_IP, 40001, 443, TCP_SYN);
    run_port(FX_P1, frame, len);
    assert_int_equal(res.verdict, TC_ACT_REDIRECT);
    assert_int_equal(vx[0], 0x88);
    assert_int_equal(craft_get16(vx + 2), WEB);
    set_nexthop_gbp(FX_VTEP_REMOTE, old & DP_NEXTHOP_GBP);
}

/* An external VTEP's VXLAN is accepted in the networks it joined, and only
 * there; the group it claims is ignored, and its endpoints are known by
 * address alone: from 10.0.0.10 it gets the CIDR identity (rule 4 lets it
 * reach db on 5432), and claiming web's address and web's group gets it
 * nothing web may do (UDP 6000 is for web alone). */
static void
test_external_vtep_known_by_address(void **state)
{
    struct dp_vtep_key key = {.vtep = htonl(FOREIGN_VTEP), .vni = FX_VNI_A};
    struct dp_vtep ext = {.flags = DP_VTEP_EXTERNAL};
    uint8_t inner[CRAFT_MAX_FRAME], frame[CRAFT_MAX_FRAME];
    uint64_t foreign = drops(fx.underlay, DP_DROP_FOREIGN_VTEP);
    uint64_t denied = drops(port(FX_P2)->ifindex, DP_DROP_FW_DENY);
    struct events ev;
    size_t ilen, len;

    (void) state;
    assert_int_equal(dp_table_set(fx.dp, DP_VTEPS, &key, &ext), 0);
    events_read(&ev);

    ilen = tcp_frame(inner, fx_remote_mac, port(FX_P2)->mac, FX_REMOTE_IP,
                     port(FX_P2)->ip4, 41000, 5432, TCP_SYN);
    len = vxlan_from(frame, FOREIGN_VTEP, OTHER_GROUP, inner, ilen);
    run_uplink(frame, len);
    assert_int_equal(res.verdict, TC_ACT_REDIRECT);
    assert_memory_equal(res.out, inner, ilen);
    assert_int_equal(rule_hits(RULE_DB_FROM_CIDR), 1);
    events_read(&ev);
    assert_int_equal(ev.n, 1);
    assert_int_equal(ev.e[0].src_identity, CIDR_ID);

    /* Another network: not joined. */
    len = vxlan_from_vni(frame, FOREIGN_VTEP, FX_VNI_B, 0, inner, ilen);
    run_uplink(frame, len);
    assert_int_equal(res.verdict, TC_ACT_SHOT);
    assert_int_equal(drops(fx.underlay, DP_DROP_FOREIGN_VTEP), foreign + 1);

    /* Web's address and group, from outside: no web rule applies. */
    ilen = udp_frame(inner, fx_remote_mac, port(FX_P2)->mac, port(FX_P1)->ip4,
                     port(FX_P2)->ip4, 41001, 6000);
    len = vxlan_from(frame, FOREIGN_VTEP, WEB, inner, ilen);
    run_uplink(frame, len);
    assert_int_equal(res.verdict, TC_ACT_SHOT);
    assert_int_equal(drops(port(FX_P2)->ifindex, DP_DROP_FW_DENY), denied + 1);
    assert_int_equal(rule_hits(RULE_DB_UDP6), 0);

    /* From a fabric host, the same frame is web's. */
    len = vxlan_from(frame, FX_VTEP_REMOTE, WEB, inner, ilen);
    run_uplink(frame, len);
    assert_int_equal(res.verdict, TC_ACT_REDIRECT);
    assert_int_equal(rule_hits(RULE_DB_UDP6), 1);
    assert_int_equal(dp_table_del(fx.dp, DP_VTEPS, &key), 0);
}

/* A trace reports the decision and its rule and changes nothing. */
static void
test_trace_has_no_side_effects(void **state)
{
    static struct dp_trace_result tr;
    uint8_t frame[CRAFT_MAX_FRAME];
    struct events ev;
    size_t len;

    (void) state;
    len = tcp_between(frame, FX_P1, FX_P2, 40000, 22, TCP_SYN);
    assert_int_equal(
        dp_trace(fx.dp, DP_TRACE_PORT, port(FX_P1)->ifindex, frame, len, &tr),
        0);
    assert_int_equal(tr.tc_action, TC_ACT_SHOT);
    assert_int_equal(tr.drop_reason, DP_DROP_FW_DENY);
    assert_true(tr.fw_ran);
    assert_int_equal(tr.fw_action, POLICY_DENY);
    assert_int_equal(tr.fw_reason, POLICY_BY_DEFAULT_DENY);
    assert_int_equal(tr.fw_direction, POLICY_INGRESS);

    len = tcp_between(frame, FX_P1, FX_P2, 40000, 5432, TCP_SYN);
    assert_int_equal(
        dp_trace(fx.dp, DP_TRACE_PORT, port(FX_P1)->ifindex, frame, len, &tr),
        0);
    assert_int_equal(tr.tc_action, TC_ACT_REDIRECT);
    assert_int_equal(tr.drop_reason, -1);
    assert_true(tr.fw_ran);
    assert_int_equal(tr.fw_action, POLICY_ALLOW);
    assert_int_equal(tr.fw_rule, RULE_DB_FROM_WEB);
    assert_int_equal(tr.out_len, len);

    assert_int_equal(table_count(DP_CONNTRACK), 0);
    assert_int_equal(rule_hits(RULE_DB_FROM_WEB), 0);
    events_read(&ev);
    assert_int_equal(ev.n, 0);

    /* Not firewalled: the trace says so. */
    len = tcp_between(frame, FX_TAP, FX_P1, 40000, 80, TCP_SYN);
    fixture_set_port(&fx, FX_P1, DP_PORT_VETH, WEB);
    assert_int_equal(
        dp_trace(fx.dp, DP_TRACE_PORT, port(FX_TAP)->ifindex, frame, len, &tr),
        0);
    assert_int_equal(tr.tc_action, TC_ACT_REDIRECT);
    assert_false(tr.fw_ran);
}

/* A full table refuses new connections, counted, while connections it
 * holds carry on. */
static void
test_conntrack_full(void **state)
{
    uint8_t frame[CRAFT_MAX_FRAME];
    struct dp_fw_stats before, after;
    struct dp_ct filler = {.ct = {.state = CT_ESTABLISHED}};
    uint64_t full = drops(port(FX_P1)->ifindex, DP_DROP_CT_FULL);
    size_t len, n;

    (void) state;
    len = tcp_between(frame, FX_P1, FX_P2, 40000, 5432, TCP_SYN);
    run_port(FX_P1, frame, len);
    assert_int_equal(res.verdict, TC_ACT_REDIRECT);

    /* Fill the table with other connections until it refuses. */
    filler.ct.last_seen_ns = UINT64_MAX / 2;
    for (n = 0;; n++) {
        struct ct_key key = {.proto = 17, .family = 4, .vni = 7};

        memcpy(key.addr_a, &n, sizeof n);
        if (dp_table_set(fx.dp, DP_CONNTRACK, &key, &filler)) {
            break;
        }
        assert_true(n < 10000000);
    }
    assert_int_equal(dp_fw_stats_get(fx.dp, &before), 0);

    len = tcp_between(frame, FX_P1, FX_P2, 40001, 5432, TCP_SYN);
    run_port(FX_P1, frame, len);
    assert_int_equal(res.verdict, TC_ACT_SHOT);
    assert_int_equal(drops(port(FX_P1)->ifindex, DP_DROP_CT_FULL), full + 1);
    assert_int_equal(dp_fw_stats_get(fx.dp, &after), 0);
    assert_int_equal(after.ct_full, before.ct_full + 1);

    len = tcp_between(frame, FX_P2, FX_P1, 5432, 40000, TCP_SYNACK);
    run_port(FX_P2, frame, len);
    assert_int_equal(res.verdict, TC_ACT_REDIRECT);
    table_clear(DP_CONNTRACK);
}

/* Restarts the datapath with a share of 'max' connections per port (0 for
 * the default), as an agent restarted with --conntrack-port-max would. */
static void
restart_with_port_max(uint32_t max)
{
    struct dp_options options = {.bpffs = "/sys/fs/bpf",
                                 .instance = strrchr(fx.pin_dir, '/') + 1,
                                 .max_conntrack_per_port = max};

    dp_close(fx.dp);
    fx.dp = NULL;
    assert_int_equal(dp_open(&options, &fx.dp), 0);
}

static uint64_t
ct_tracked(enum fx_port_id id)
{
    struct dp_ct_usage usage;

    assert_int_equal(dp_ct_usage_get(fx.dp, port(id)->ifindex, &usage), 0);
    return usage.tracked;
}

/* A port may own only its share of the conntrack table: past it, its new
 * connections are dropped and counted as "conntrack-port-limit", while
 * other ports still open theirs.  Deleting an entry, or the fast path
 * replacing an expired one, gives the share back. */
static void
test_conntrack_port_limit(void **state)
{
    uint8_t inner[CRAFT_MAX_FRAME], frame[CRAFT_MAX_FRAME];
    uint64_t limit_drops, full_drops;
    struct dp_ct_usage usage;
    struct dp_ct entry;
    struct ct_key key;
    bool reply;
    size_t len, ilen;

    (void) state;
    restart_with_port_max(4);
    limit_drops = drops(port(FX_P1)->ifindex, DP_DROP_CT_PORT_LIMIT);
    full_drops = drops(port(FX_P1)->ifindex, DP_DROP_CT_FULL);
    assert_int_equal(dp_ct_usage_get(fx.dp, port(FX_P1)->ifindex, &usage), 0);
    assert_int_equal(usage.max, 4);
    assert_int_equal(usage.tracked, 0);

    /* Web opens its four, then a fifth is refused: a flood of SYNs from
     * new ports. */
    for (uint16_t sport = 40000; sport < 40004; sport++) {
        len = tcp_between(frame, FX_P1, FX_P2, sport, 5432, TCP_SYN);
        run_port(FX_P1, frame, len);
        assert_int_equal(res.verdict, TC_ACT_REDIRECT);
    }
    assert_int_equal(ct_tracked(FX_P1), 4);
    for (uint16_t sport = 40004; sport < 40104; sport++) {
        len = tcp_between(frame, FX_P1, FX_P2, sport, 5432, TCP_SYN);
        run_port(FX_P1, frame, len);
        assert_int_equal(res.verdict, TC_ACT_SHOT);
    }
    assert_int_equal(drops(port(FX_P1)->ifindex, DP_DROP_CT_PORT_LIMIT),
                     limit_drops + 100);
    assert_int_equal(drops(port(FX_P1)->ifindex, DP_DROP_CT_FULL), full_drops);
    assert_int_equal(table_count(DP_CONNTRACK), 4);
    assert_int_equal(ct_tracked(FX_P1), 4);

    /* Its connections carry on. */
    len = tcp_between(frame, FX_P2, FX_P1, 5432, 40000, TCP_SYNACK);
    run_port(FX_P2, frame, len);
    assert_int_equal(res.verdict, TC_ACT_REDIRECT);

    /* Another port's new connection, here one that a remote endpoint
     * opens to db, takes db's share, not web's. */
    ilen = tcp_frame(inner, fx_remote_mac, port(FX_P2)->mac, FX_REMOTE_IP,
                     port(FX_P2)->ip4, 41000, 5432, TCP_SYN);
    len = vxlan_from(frame, FX_VTEP_REMOTE, WEB, inner, ilen);
    run_uplink(frame, len);
    assert_int_equal(res.verdict, TC_ACT_REDIRECT);
    assert_int_equal(ct_tracked(FX_P2), 1);
    assert_int_equal(ct_tracked(FX_P1), 4);

    /* The agent deletes one of web's: web may open one more. */
    key = ct_tcp_key(port(FX_P1)->ip4, 40000, port(FX_P2)->ip4, 5432, &reply);
    assert_int_equal(dp_table_del(fx.dp, DP_CONNTRACK, &key), 0);
    assert_int_equal(ct_tracked(FX_P1), 3);
    len = tcp_between(frame, FX_P1, FX_P2, 40200, 5432, TCP_SYN);
    run_port(FX_P1, frame, len);
    assert_int_equal(res.verdict, TC_ACT_REDIRECT);
    assert_int_equal(ct_tracked(FX_P1), 4);

    /* One of web's expires; a new connection on its ports replaces it, and
     * the count stays right. */
    key = ct_tcp_key(port(FX_P1)->ip4, 40001, port(FX_P2)->ip4, 5432, &reply);
    assert_int_equal(dp_table_get(fx.dp, DP_CONNTRACK, &key, &entry), 0);
    assert_int_equal(entry.owner_ifindex, port(FX_P1)->ifindex);
    entry.ct.state = CT_CLOSE;
    entry.ct.last_seen_ns = 1;
    assert_int_equal(dp_table_set(fx.dp, DP_CONNTRACK, &key, &entry), 0);
    len = tcp_between(frame, FX_P1, FX_P2, 40001, 5432, TCP_SYN);
    run_port(FX_P1, frame, len);
    assert_int_equal(res.verdict, TC_ACT_REDIRECT);
    assert_int_equal(ct_tracked(FX_P1), 4);
    assert_int_equal(table_count(DP_CONNTRACK), 5);

    /* Collecting everything gives every share back. */
    table_clear(DP_CONNTRACK);
    assert_int_equal(ct_tracked(FX_P1), 0);
    assert_int_equal(ct_tracked(FX_P2), 0);
    restart_with_port_max(0);
    assert_int_equal(dp_ct_usage_get(fx.dp, port(FX_P1)->ifindex, &usage), 0);
    assert_int_equal(usage.max, 65536 / DP_CT_PORT_SHARE_DIV);
}

/* Expired entries count as missing: a TCP ACK of a long-gone connection is
 * judged afresh, and refused. */
static void
test_expired_entry_is_a_miss(void **state)
{
    uint8_t frame[CRAFT_MAX_FRAME];
    struct dp_ct old = {.ct = {.state = CT_ESTABLISHED, .proto = 6}};
    struct ct_key key;
    bool reply;
    size_t len;

    (void) state;
    key = ct_tcp_key(port(FX_P1)->ip4, 40000, port(FX_P2)->ip4, 5432, &reply);
    old.ct.orig_key_dir = reply;
    old.ct.state = CT_CLOSE; /* Expires 10 s after its last packet... */
    old.ct.last_seen_ns = 1; /* ...which came at boot. */
    assert_int_equal(dp_table_set(fx.dp, DP_CONNTRACK, &key, &old), 0);
    len = tcp_between(frame, FX_P1, FX_P2, 40000, 5432, TCP_ACK);
    run_port(FX_P1, frame, len);
    assert_int_equal(res.verdict, TC_ACT_SHOT);

    old.ct.state = CT_ESTABLISHED;
    old.ct.last_seen_ns = UINT64_MAX / 2; /* Fresh. */
    assert_int_equal(dp_table_set(fx.dp, DP_CONNTRACK, &key, &old), 0);
    run_port(FX_P1, frame, len);
    assert_int_equal(res.verdict, TC_ACT_REDIRECT);
}

static const uint8_t web6[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 1};
static const uint8_t db6[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 2};

/* An IPv6 UDP frame between two ports, from port 'sport' to 'dport'. */
static size_t
udp6_between(uint8_t *buf, enum fx_port_id from, enum fx_port_id to,
             const uint8_t *src, const uint8_t *dst, uint16_t sport,
             uint16_t dport)
{
    size_t len = craft_ipv6_udp_frame(buf, port(to)->mac, port(from)->mac, src,
                                      dst, 16);

    craft_put16(buf + CRAFT_ETH_LEN + CRAFT_IPV6_LEN, sport);
    craft_put16(buf + CRAFT_ETH_LEN + CRAFT_IPV6_LEN + 2, dport);
    return len;
}

/* IPv6 goes through the same conntrack and policy as IPv4, and the ICMPv6
 * that IPv6 itself needs (neighbour discovery) passes a port that governs
 * its ingress without a rule for it. */
static void
test_ipv6_connection_and_nd(void **state)
{
    uint8_t frame[CRAFT_MAX_FRAME];
    uint8_t *icmp;
    size_t len;

    (void) state;
    /* Web may send UDP too, for this test. */
    set_policy(WEB, POLICY_EGRESS, 17, 0, POLICY_PEER_ANY,
               POLICY_MATCH_ANY_PORT, RULE_WEB_UDP, POLICY_ALLOW, 0);
    len = udp6_between(frame, FX_P1, FX_P2, web6, db6, 5000, 6000);
    run_port(FX_P1, frame, len);
    assert_int_equal(res.verdict, TC_ACT_REDIRECT);
    assert_int_equal(table_count(DP_CONNTRACK), 1);
    assert_int_equal(rule_hits(RULE_DB_UDP6), 1);

    len = udp6_between(frame, FX_P2, FX_P1, db6, web6, 6000, 5000);
    run_port(FX_P2, frame, len);
    assert_int_equal(res.verdict, TC_ACT_REDIRECT);

    len = udp6_between(frame, FX_P1, FX_P2, web6, db6, 5000, 7000);
    run_port(FX_P1, frame, len);
    assert_int_equal(res.verdict, TC_ACT_SHOT);
    assert_int_equal(table_count(DP_CONNTRACK), 1);

    /* A neighbour solicitation: ICMPv6 type 135 with a target. */
    len = craft_eth(frame, port(FX_P2)->mac, port(FX_P1)->mac, 0x86dd);
    len += craft_ipv6_hdr(frame + len, web6, db6, 58, 24);
    icmp = frame + len;
    memset(icmp, 0, 24);
    icmp[0] = 135;
    memcpy(icmp + 8, db6, 16);
    len += 24;
    run_port(FX_P1, frame, len);
    assert_int_equal(res.verdict, TC_ACT_REDIRECT);
    assert_int_equal(table_count(DP_CONNTRACK), 1);
}

/* Broadcast, multicast and addresses not the receiver's. */

static const uint8_t bcast_mac[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
static const uint8_t mcast_mac[6] = {0x01, 0x00, 0x5e, 0x00, 0x00, 0x01};
static const uint8_t mcast6_mac[6] = {0x33, 0x33, 0x00, 0x00, 0x00, 0x01};
#define SUBNET_BCAST CRAFT_IP4(10, 0, 0, 255)
#define LIMITED_BCAST CRAFT_IP4(255, 255, 255, 255)
#define ALL_HOSTS CRAFT_IP4(224, 0, 0, 1)

/* Opens a capture of what arrives on device 'name', with anything queued
 * thrown away. */
static int
capture(const char *name)
{
    uint8_t buf[CRAFT_MAX_FRAME];
    int fd = fixture_capture_open(name);

    assert_true(fd >= 0);
    while (fixture_capture_recv(fd, buf, sizeof buf, 0, NULL) >= 0) {
        continue;
    }
    return fd;
}

/* Returns true if the 'len' bytes at 'frame' arrive on 'fd' (a capture or
 * the tap) within 100 ms.  Other frames (the kernel's own chatter) are
 * skipped. */
static bool
arrives(int fd, const uint8_t *frame, size_t len)
{
    uint8_t got[CRAFT_MAX_FRAME];
    int n;

    while ((n = fixture_capture_recv(fd, got, sizeof got, 100, NULL)) >= 0) {
        if ((size_t) n == len && !memcmp(got, frame, len)) {
            return true;
        }
    }
    return false;
}

/* What the attacker of the flood tests sends to db: IP in a broadcast frame
 * to db's own address, to the subnet broadcast, to 255.255.255.255 and to
 * 224.0.0.1 in a multicast frame, as UDP to db's port 6000 and as TCP SYNs
 * to its port 22; none of which db's policy allows from tap0. */
struct attack {
    const char *what;
    const uint8_t *dst_mac;
    uint32_t dst_ip;
    uint8_t proto;
};

static const struct attack attacks[] = {
    {"UDP to db in a broadcast frame", bcast_mac, CRAFT_IP4(10, 0, 0, 2), 17},
    {"UDP to the subnet broadcast", bcast_mac, SUBNET_BCAST, 17},
    {"UDP to 255.255.255.255", bcast_mac, LIMITED_BCAST, 17},
    {"UDP to 224.0.0.1", mcast_mac, ALL_HOSTS, 17},
    {"TCP SYN to db in a broadcast frame", bcast_mac, CRAFT_IP4(10, 0, 0, 2),
     6},
    {"TCP SYN to the subnet broadcast", bcast_mac, SUBNET_BCAST, 6},
    {"TCP SYN to 224.0.0.1", mcast_mac, ALL_HOSTS, 6},
};

/* Writes the frame of 'a' from the endpoint 'src_mac'/'src_ip'. */
static size_t
attack_frame(uint8_t *buf, const struct attack *a, const uint8_t *src_mac,
             uint32_t src_ip)
{
    return a->proto == 6 ? tcp_frame(buf, src_mac, a->dst_mac, src_ip,
                                     a->dst_ip, 40000, 22, TCP_SYN)
                         : udp_frame(buf, src_mac, a->dst_mac, src_ip,
                                     a->dst_ip, 5000, 6000);
}

/* Asserts that the one event waiting says db's ingress policy refused
 * a frame of protocol 'proto'. */
static void
expect_db_deny_event(uint8_t proto)
{
    struct events ev;

    events_read(&ev);
    assert_int_equal(ev.n, 1);
    assert_int_equal(ev.e[0].action, POLICY_DENY);
    assert_int_equal(ev.e[0].direction, POLICY_INGRESS);
    assert_int_equal(ev.e[0].ifindex, port(FX_P2)->ifindex);
    assert_int_equal(ev.e[0].proto, proto);
}

/* A flooded IP frame meets each receiver's policy: db refuses the
 * attacker's copy (dropped, counted on db, logged), while web, whose
 * ingress no group governs, gets its own, and so do the other hosts.
 * Nothing is tracked. */
static void
test_flood_meets_each_receivers_policy(void **state)
{
    int p1_fd = capture("p1vm"), p2_fd = capture("p2vm");
    uint8_t frame[CRAFT_MAX_FRAME];

    (void) state;
    for (size_t i = 0; i < sizeof attacks / sizeof *attacks; i++) {
        const struct attack *a = &attacks[i];
        uint64_t before = drops(port(FX_P2)->ifindex, DP_DROP_FW_DENY);
        size_t len =
            attack_frame(frame, a, port(FX_TAP)->mac, port(FX_TAP)->ip4);

        print_message("%s\n", a->what);
        run_port(FX_TAP, frame, len);
        assert_int_equal(res.verdict, TC_ACT_STOLEN);
        assert_int_equal(drops(port(FX_P2)->ifindex, DP_DROP_FW_DENY),
                         before + 1);
        assert_false(arrives(p2_fd, frame, len));
        assert_true(arrives(p1_fd, frame, len));
        expect_db_deny_event(a->proto);
    }
    assert_int_equal(table_count(DP_CONNTRACK), 0);
    close(p1_fd);
    close(p2_fd);
}

/* The same frames from another host, by VXLAN: db refuses them whatever
 * group the sender claims but web's, whose UDP to port 6000 it allows. */
static void
test_flood_from_underlay_meets_policy(void **state)
{
    int p2_fd = capture("p2vm");
    uint8_t inner[CRAFT_MAX_FRAME], frame[CRAFT_MAX_FRAME];
    size_t ilen, len;

    (void) state;
    for (size_t i = 0; i < sizeof attacks / sizeof *attacks; i++) {
        const struct attack *a = &attacks[i];
        uint64_t before = drops(port(FX_P2)->ifindex, DP_DROP_FW_DENY);

        for (int group = 0; group < 2; group++) {
            print_message("%s, from another host, group %d\n", a->what,
                          group ? OTHER_GROUP : 0);
            ilen = attack_frame(inner, a, fx_remote_mac, FX_REMOTE_IP);
            len = vxlan_from(frame, FX_VTEP_REMOTE, group ? OTHER_GROUP : 0,
                             inner, ilen);
            run_uplink(frame, len);
            assert_int_equal(res.verdict, TC_ACT_STOLEN);
            assert_int_equal(drops(port(FX_P2)->ifindex, DP_DROP_FW_DENY),
                             before + 1 + group);
            assert_false(arrives(p2_fd, inner, ilen));
            expect_db_deny_event(a->proto);
        }
    }

    ilen = udp_frame(inner, fx_remote_mac, bcast_mac, FX_REMOTE_IP,
                     SUBNET_BCAST, 5000, 6000);
    len = vxlan_from(frame, FX_VTEP_REMOTE, WEB, inner, ilen);
    run_uplink(frame, len);
    assert_int_equal(res.verdict, TC_ACT_STOLEN);
    assert_true(arrives(p2_fd, inner, ilen));
    assert_int_equal(rule_hits(RULE_DB_UDP6), 1);
    assert_int_equal(table_count(DP_CONNTRACK), 0);
    close(p2_fd);
}

/* A broadcast that the receiver's policy allows gets there, but opens
 * nothing: the unicast reply is judged as a connection of its own, and db
 * may send nothing.  (A unicast request would have let it through.) */
static void
test_broadcast_opens_no_hole(void **state)
{
    int p2_fd = capture("p2vm");
    uint8_t frame[CRAFT_MAX_FRAME];
    size_t len;

    (void) state;
    set_policy(WEB, POLICY_EGRESS, 17, 0, POLICY_PEER_ANY,
               POLICY_MATCH_ANY_PORT, RULE_WEB_UDP, POLICY_ALLOW, 0);
    len = udp_frame(frame, port(FX_P1)->mac, bcast_mac, port(FX_P1)->ip4,
                    SUBNET_BCAST, 5000, 6000);
    run_port(FX_P1, frame, len);
    assert_int_equal(res.verdict, TC_ACT_STOLEN);
    assert_true(arrives(p2_fd, frame, len));
    assert_int_equal(rule_hits(RULE_DB_UDP6), 1);
    assert_int_equal(table_count(DP_CONNTRACK), 0);

    len = udp_frame(frame, port(FX_P2)->mac, port(FX_P1)->mac,
                    port(FX_P2)->ip4, port(FX_P1)->ip4, 6000, 5000);
    expect_denied(FX_P2, frame, len, FX_P2);

    /* The same request as unicast opens a connection for its reply. */
    len = udp_frame(frame, port(FX_P1)->mac, port(FX_P2)->mac,
                    port(FX_P1)->ip4, port(FX_P2)->ip4, 5000, 6000);
    run_port(FX_P1, frame, len);
    assert_int_equal(res.verdict, TC_ACT_REDIRECT);
    len = udp_frame(frame, port(FX_P2)->mac, port(FX_P1)->mac,
                    port(FX_P2)->ip4, port(FX_P1)->ip4, 6000, 5000);
    run_port(FX_P2, frame, len);
    assert_int_equal(res.verdict, TC_ACT_REDIRECT);
    close(p2_fd);
}

/* Conntrack carries a packet only to the port it is addressed to: a
 * connection that web's policy let the attacker open to the subnet
 * broadcast, or to web itself, does not carry the same packet into db
 * when the attacker puts db's MAC on it. */
static void
test_connection_not_reused_across_receivers(void **state)
{
    static const uint32_t dsts[] = {SUBNET_BCAST, CRAFT_IP4(10, 0, 0, 1)};
    uint8_t frame[CRAFT_MAX_FRAME];
    size_t len;

    (void) state;
    for (size_t i = 0; i < 2; i++) {
        len = udp_frame(frame, port(FX_TAP)->mac, port(FX_P1)->mac,
                        port(FX_TAP)->ip4, dsts[i], 5000, 6000);
        run_port(FX_TAP, frame, len);
        assert_int_equal(res.verdict, TC_ACT_REDIRECT);

        len = udp_frame(frame, port(FX_TAP)->mac, port(FX_P2)->mac,
                        port(FX_TAP)->ip4, dsts[i], 5000, 6000);
        expect_denied(FX_TAP, frame, len, FX_P2);
    }
    /* Only the packet addressed to web itself was tracked. */
    assert_int_equal(table_count(DP_CONNTRACK), 1);
}

/* A trace of a flooded frame gives the verdict of the fast path: that of
 * the port owning the destination address, here db's deny, and sends no
 * copy anywhere. */
static void
test_flood_trace_gives_real_verdict(void **state)
{
    static struct dp_trace_result tr;
    int p1_fd = capture("p1vm"), p2_fd = capture("p2vm");
    uint8_t frame[CRAFT_MAX_FRAME];
    struct events ev;
    size_t len;

    (void) state;
    len = udp_frame(frame, port(FX_TAP)->mac, bcast_mac, port(FX_TAP)->ip4,
                    port(FX_P2)->ip4, 5000, 6000);
    assert_int_equal(
        dp_trace(fx.dp, DP_TRACE_PORT, port(FX_TAP)->ifindex, frame, len, &tr),
        0);
    assert_true(tr.fw_ran);
    assert_int_equal(tr.fw_action, POLICY_DENY);
    assert_int_equal(tr.fw_reason, POLICY_BY_DEFAULT_DENY);
    assert_int_equal(tr.fw_direction, POLICY_INGRESS);
    assert_int_equal(tr.drop_reason, DP_DROP_FW_DENY);
    assert_false(arrives(p1_fd, frame, len));
    assert_false(arrives(p2_fd, frame, len));

    set_policy(WEB, POLICY_EGRESS, 17, 0, POLICY_PEER_ANY,
               POLICY_MATCH_ANY_PORT, RULE_WEB_UDP, POLICY_ALLOW, 0);
    len = udp_frame(frame, port(FX_P1)->mac, bcast_mac, port(FX_P1)->ip4,
                    port(FX_P2)->ip4, 5000, 6000);
    assert_int_equal(
        dp_trace(fx.dp, DP_TRACE_PORT, port(FX_P1)->ifindex, frame, len, &tr),
        0);
    assert_int_equal(tr.tc_action, TC_ACT_STOLEN);
    assert_true(tr.fw_ran);
    assert_int_equal(tr.fw_action, POLICY_ALLOW);
    assert_int_equal(tr.fw_rule, RULE_DB_UDP6);
    assert_int_equal(tr.drop_reason, -1);
    assert_false(arrives(p2_fd, frame, len));
    assert_int_equal(rule_hits(RULE_DB_UDP6), 0);
    events_read(&ev);
    assert_int_equal(ev.n, 0);
    close(p1_fd);
    close(p2_fd);
}

/* IPv6 multicast meets the policy too, while the neighbour discovery that
 * db needs still reaches it. */
static void
test_ipv6_multicast_meets_policy(void **state)
{
    static const uint8_t ll4[16] = {0xfe, 0x80, [15] = 4};
    static const uint8_t all_nodes[16] = {0xff, 0x02, [15] = 1};
    static const uint8_t solicited[16] = {0xff, 0x02, [11] = 1, 0xff, 0, 0, 2};
    int p2_fd = capture("p2vm");
    uint64_t before = drops(port(FX_P2)->ifindex, DP_DROP_FW_DENY);
    uint8_t frame[CRAFT_MAX_FRAME], *icmp;
    size_t len;

    (void) state;
    len = craft_ipv6_udp_frame(frame, mcast6_mac, port(FX_TAP)->mac, ll4,
                               all_nodes, 16);
    craft_put16(frame + CRAFT_ETH_LEN + CRAFT_IPV6_LEN + 2, 6000);
    run_port(FX_TAP, frame, len);
    assert_int_equal(res.verdict, TC_ACT_STOLEN);
    assert_int_equal(drops(port(FX_P2)->ifindex, DP_DROP_FW_DENY), before + 1);
    assert_false(arrives(p2_fd, frame, len));
    expect_db_deny_event(17);

    len = craft_eth(frame, mcast6_mac, port(FX_TAP)->mac, 0x86dd);
    len += craft_ipv6_hdr(frame + len, ll4, solicited, 58, 32);
    icmp = frame + len;
    memset(icmp, 0, 32);
    icmp[0] = 135;
    memcpy(icmp + 8, db6, 16);
    icmp[24] = 1;
    icmp[25] = 1;
    memcpy(icmp + 26, port(FX_TAP)->mac, 6);
    len += 32;
    run_port(FX_TAP, frame, len);
    assert_int_equal(res.verdict, TC_ACT_STOLEN);
    assert_true(arrives(p2_fd, frame, len));
    assert_int_equal(drops(port(FX_P2)->ifindex, DP_DROP_FW_DENY), before + 1);
    close(p2_fd);
}

/* Empties slot 'stage' of the stage table and returns the id of the
 * program that was there. */
static uint32_t
stage_remove(uint32_t stage)
{
    char *path = NULL;
    uint32_t id;
    int fd;

    assert_true(asprintf(&path, "%s/fab_fw_stages", fx.pin_dir) > 0);
    fd = bpf_obj_get(path);
    free(path);
    assert_true(fd >= 0);
    assert_int_equal(bpf_map_lookup_elem(fd, &stage, &id), 0);
    assert_int_equal(bpf_map_delete_elem(fd, &stage), 0);
    close(fd);
    return id;
}

/* Puts the program of id 'id' back into slot 'stage'. */
static void
stage_restore(uint32_t stage, uint32_t id)
{
    char *path = NULL;
    int fd, prog = bpf_prog_get_fd_by_id(id);

    assert_true(asprintf(&path, "%s/fab_fw_stages", fx.pin_dir) > 0);
    fd = bpf_obj_get(path);
    free(path);
    assert_true(fd >= 0 && prog >= 0);
    assert_int_equal(bpf_map_update_elem(fd, &stage, &prog, BPF_ANY), 0);
    close(prog);
    close(fd);
}

/* A stage missing from the stage table (a half-loaded datapath) lets
 * nothing past it, and says so with a drop reason of its own. */
static void
test_missing_stage_counted(void **state)
{
    uint8_t frame[CRAFT_MAX_FRAME];
    uint64_t before = drops(port(FX_P1)->ifindex, DP_DROP_NO_STAGE);
    uint32_t id;
    size_t len;

    (void) state;
    id = stage_remove(FAB_STAGE_PORT_FIREWALL);
    len = tcp_between(frame, FX_P1, FX_P2, 40000, 5432, TCP_SYN);
    run_port(FX_P1, frame, len);
    stage_restore(FAB_STAGE_PORT_FIREWALL, id);
    assert_int_equal(res.verdict, TC_ACT_SHOT);
    assert_int_equal(drops(port(FX_P1)->ifindex, DP_DROP_NO_STAGE),
                     before + 1);

    id = stage_remove(FAB_STAGE_PORT_FLOOD);
    len = udp_frame(frame, port(FX_P1)->mac, bcast_mac, port(FX_P1)->ip4,
                    SUBNET_BCAST, 5000, 6000);
    run_port(FX_P1, frame, len);
    stage_restore(FAB_STAGE_PORT_FLOOD, id);
    assert_int_equal(res.verdict, TC_ACT_SHOT);
    assert_int_equal(drops(port(FX_P1)->ifindex, DP_DROP_NO_STAGE),
                     before + 2);
}

static int
group_setup(void **state)
{
    int error = fixture_init(&fx);

    (void) state;
    if (error) {
        fprintf(stderr, "cannot set up the test datapath: %s\n",
                strerror(error));
    }
    return error ? -1 : 0;
}

static int
group_teardown(void **state)
{
    (void) state;
    fixture_destroy(&fx);
    return 0;
}

/* Conntrack in transit (doc/mobility.md): web (p1, 10.0.0.1) opens TCP to
 * a remote endpoint here, the source host.  Its entry, exported and carried
 * as hex, is imported on a second datapath instance, the destination, for
 * the VM's new port "pm" there, which denies everything by default.  The
 * remote end's reply passes that port only once the entry is in. */
struct exported {
    struct ct_key key[4];
    struct dp_ct ct[4];
    size_t n;
};

static int
collect_exported(const struct ct_key *key, const struct dp_ct *ct, void *aux)
{
    struct exported *e = aux;

    if (e->n < 4) {
        e->key[e->n] = *key;
        e->ct[e->n++] = *ct;
    }
    return 0;
}

static int
stop_export(const struct ct_key *key, const struct dp_ct *ct, void *aux)
{
    (void) key;
    (void) ct;
    (*(int *) aux)++;
    return 42;
}

/* The remote endpoint's TCP to web, from its VTEP, as 'dst' sees it. */
static size_t
reply_from_remote(uint8_t *buf, uint16_t sport, uint16_t dport, uint8_t flags)
{
    uint8_t inner[CRAFT_MAX_FRAME];
    size_t len =
        tcp_frame(inner, fx_remote_mac, port(FX_P1)->mac, FX_REMOTE_IP,
                  port(FX_P1)->ip4, sport, dport, flags);

    return vxlan_from(buf, FX_VTEP_REMOTE, 0, inner, len);
}

/* The destination of test_conntrack_moves_with_vm(), released by
 * dst_teardown() even when the test fails half-way. */
static struct fixture dst;

static int
dst_teardown(void **state)
{
    if (dst.dp) {
        fixture_destroy(&dst);
    }
    if (system("ip link del pm 2>/dev/null")) {
        /* Never made: nothing to remove. */
    }
    return teardown(state);
}

static void
test_conntrack_moves_with_vm(void **state)
{
    struct dp_options opts = {.max_conntrack_per_port = 2};
    char key_hex[DP_CT_KEY_HEX_LEN + 1], value_hex[DP_CT_VALUE_HEX_LEN + 1];
    uint8_t frame[CRAFT_MAX_FRAME], addr[16] = {0};
    struct dp_port_key pkey;
    struct dp_port pm;
    struct exported ex = {.n = 0};
    struct dp_ct_usage usage;
    struct dp_ct ct, back;
    struct ct_key key;
    uint32_t pm_ifindex, ip = htonl(port(FX_P1)->ip4);
    int calls = 0;
    size_t len;

    (void) state;
    /* Here, the source: web opens a connection that its reply
     * establishes, and another conversation of a different address is
     * not web's to take along. */
    len = tcp_frame(frame, port(FX_P1)->mac, fx_remote_mac, port(FX_P1)->ip4,
                    FX_REMOTE_IP, 40000, 80, TCP_SYN);
    run_port(FX_P1, frame, len);
    assert_int_equal(res.verdict, TC_ACT_REDIRECT);
    len = reply_from_remote(frame, 80, 40000, TCP_SYNACK);
    run_uplink(frame, len);
    assert_int_equal(res.verdict, TC_ACT_REDIRECT);
    len = tcp_frame(frame, port(FX_P1)->mac, fx_remote_mac, port(FX_P1)->ip4,
                    FX_REMOTE_IP, 40000, 80, TCP_ACK);
    run_port(FX_P1, frame, len);
    assert_int_equal(res.verdict, TC_ACT_REDIRECT);
    len = tcp_between(frame, FX_P1, FX_P2, 40001, 5432, TCP_SYN);
    run_port(FX_P1, frame, len);
    assert_int_equal(res.verdict, TC_ACT_REDIRECT);

    memcpy(addr, &ip, 4);
    assert_int_equal(
        dp_ct_export(fx.dp, FX_VNI_A, 5, addr, collect_exported, &ex), EINVAL);
    assert_int_equal(dp_ct_export(fx.dp, FX_VNI_B, CT_FAMILY_IPV4, addr,
                                  collect_exported, &ex),
                     0);
    assert_int_equal(ex.n, 0);
    assert_int_equal(dp_ct_export(fx.dp, FX_VNI_A, CT_FAMILY_IPV4, addr,
                                  stop_export, &calls),
                     42);
    assert_int_equal(calls, 1);
    assert_int_equal(dp_ct_export(fx.dp, FX_VNI_A, CT_FAMILY_IPV4, addr,
                                  collect_exported, &ex),
                     0);
    assert_int_equal(ex.n, 2);
    if (ex.key[0].port_a != htons(80) && ex.key[0].port_b != htons(80)) {
        /* The remote one first. */
        ex.key[2] = ex.key[0];
        ex.ct[2] = ex.ct[0];
        ex.key[0] = ex.key[1];
        ex.ct[0] = ex.ct[1];
        ex.key[1] = ex.key[2];
        ex.ct[1] = ex.ct[2];
    }
    assert_int_equal(ex.ct[0].ct.state, CT_ESTABLISHED);
    /* Ages, not times: both well under the test's run time. */
    assert_true(ex.ct[0].ct.created_ns < 10 * CT_SEC);
    assert_true(ex.ct[0].ct.last_seen_ns <= ex.ct[0].ct.created_ns);

    /* Carried as text. */
    dp_ct_to_hex(&ex.key[0], &ex.ct[0], key_hex, value_hex);
    assert_int_equal(strlen(key_hex), DP_CT_KEY_HEX_LEN);
    assert_int_equal(dp_ct_from_hex(key_hex, value_hex, &key, &ct), 0);
    assert_memory_equal(&key, &ex.key[0], sizeof key);
    assert_memory_equal(&ct, &ex.ct[0], sizeof ct);
    value_hex[3] = 'g';
    assert_int_equal(dp_ct_from_hex(key_hex, value_hex, &key, &back), EINVAL);
    value_hex[DP_CT_VALUE_HEX_LEN - 1] = '\0';
    assert_int_equal(dp_ct_from_hex(key_hex, value_hex, &key, &back), EINVAL);
    assert_int_equal(dp_ct_from_hex(key_hex, NULL, &key, &back), EINVAL);

    /* The destination: the VM's port, default deny, behind device pm. */
    assert_int_equal(system("ip link add pm type veth peer name pmvm && "
                            "ip link set pm up && ip link set pmvm up"),
                     0);
    pm_ifindex = if_nametoindex("pm");
    assert_int_equal(fixture_open_instance(&dst, &fx, "dst", &opts), 0);
    {
        struct dp_config config = {.vtep_ip = htonl(FX_VTEP_LOCAL)};
        struct dp_network_key nkey = {.vni = FX_VNI_A};
        struct dp_network net = {.mtu = FX_PORT_MTU};
        struct dp_vtep_key vkey = {.vtep = htonl(FX_VTEP_REMOTE)};
        struct dp_vtep vtep = {.flags = 0};
        struct dp_fdb_key fkey = {.vni = FX_VNI_A};
        struct dp_fdb_entry fdb = {.ifindex = pm_ifindex};

        assert_int_equal(dp_configure(dst.dp, &config), 0);
        assert_int_equal(dp_table_set(dst.dp, DP_NETWORKS, &nkey, &net), 0);
        assert_int_equal(dp_table_set(dst.dp, DP_VTEPS, &vkey, &vtep), 0);
        memcpy(fkey.mac, port(FX_P1)->mac, 6);
        assert_int_equal(dp_table_set(dst.dp, DP_FDB, &fkey, &fdb), 0);
    }
    pkey.ifindex = pm_ifindex;
    memset(&pm, 0, sizeof pm);
    pm.vni = FX_VNI_A;
    pm.flags = DP_PORT_VETH | DP_PORT_FW_INGRESS | DP_PORT_FW_EGRESS
               | DP_PORT_FW_DEFAULT_DENY;
    pm.mtu = FX_PORT_MTU;
    pm.ip4 = ip;
    pm.identity = WEB;
    memcpy(pm.mac, port(FX_P1)->mac, 6);
    assert_int_equal(dp_table_set(dst.dp, DP_PORTS, &pkey, &pm), 0);

    /* Without the entry, the reply meets the default. */
    len = reply_from_remote(frame, 80, 40000, TCP_ACK);
    assert_int_equal(
        fixture_run(dst.uplink_prog, fx.underlay, frame, len, 0, &res), 0);
    assert_int_equal(res.verdict, TC_ACT_SHOT);

    /* What is not the port's is refused, with nothing written. */
    back = ct;
    key.vni = FX_VNI_B;
    assert_int_equal(dp_ct_import(dst.dp, &key, &ct, pm_ifindex), EINVAL);
    key = ex.key[0];
    key.addr_a[0] ^= 0x40;
    key.addr_b[0] ^= 0x40;
    assert_int_equal(dp_ct_import(dst.dp, &key, &ct, pm_ifindex), EINVAL);
    key = ex.key[0];
    key.family = 5;
    assert_int_equal(dp_ct_import(dst.dp, &key, &ct, pm_ifindex), EINVAL);
    key = ex.key[0];
    back.ct.state = 200;
    assert_int_equal(dp_ct_import(dst.dp, &key, &back, pm_ifindex), EINVAL);
    back = ct;
    back.ct.proto = 17;
    assert_int_equal(dp_ct_import(dst.dp, &key, &back, pm_ifindex), EINVAL);
    assert_int_equal(dp_ct_import(dst.dp, &key, &ct, 999999), ENOENT);
    assert_int_equal(dp_ct_usage_get(dst.dp, pm_ifindex, &usage), 0);
    assert_int_equal(usage.tracked, 0);

    /* The entry goes in, charged to the port, its times on our clock. */
    assert_int_equal(dp_ct_import(dst.dp, &key, &ct, pm_ifindex), 0);
    assert_int_equal(dp_ct_usage_get(dst.dp, pm_ifindex, &usage), 0);
    assert_int_equal(usage.tracked, 1);
    assert_int_equal(dp_table_get(dst.dp, DP_CONNTRACK, &key, &back), 0);
    assert_int_equal(back.owner_ifindex, pm_ifindex);
    assert_int_equal(back.orig_ifindex, pm_ifindex);
    assert_int_equal(back.ct.state, CT_ESTABLISHED);
    assert_true(back.ct.last_seen_ns > ct.ct.last_seen_ns);

    /* Now the reply rides on it. */
    assert_int_equal(
        fixture_run(dst.uplink_prog, fx.underlay, frame, len, 0, &res), 0);
    assert_int_equal(res.verdict, TC_ACT_REDIRECT);

    /* The local entry has seen a packet since: a second import leaves it
     * alone. */
    assert_int_equal(dp_ct_import(dst.dp, &key, &ct, pm_ifindex), EEXIST);
    assert_int_equal(dp_ct_usage_get(dst.dp, pm_ifindex, &usage), 0);
    assert_int_equal(usage.tracked, 1);

    /* The second entry is web's too (to db, 10.0.0.2); then the share of
     * two is full. */
    assert_int_equal(dp_ct_import(dst.dp, &ex.key[1], &ex.ct[1], pm_ifindex),
                     0);
    key = ex.key[1];
    key.port_a ^= 1;
    assert_int_equal(dp_ct_import(dst.dp, &key, &ex.ct[1], pm_ifindex),
                     ENOSPC);
    assert_int_equal(dp_ct_usage_get(dst.dp, pm_ifindex, &usage), 0);
    assert_int_equal(usage.tracked, 2);
}

int
main(void)
{
#define T(NAME) cmocka_unit_test_setup_teardown(NAME, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_unfirewalled_ports_skip_conntrack),
        T(test_allowed_connection_and_replies),
        T(test_default_deny_counted_and_logged),
        T(test_deny_beats_allow),
        T(test_no_connection_without_opening),
        T(test_related_icmp_error),
        T(test_remote_ingress_by_group),
        T(test_foreign_vtep_dropped),
        T(test_encap_carries_group),
        T(test_encap_plain_to_vtep_without_gbp),
        T(test_external_vtep_known_by_address),
        T(test_trace_has_no_side_effects),
        T(test_conntrack_full),
        T(test_conntrack_port_limit),
        T(test_expired_entry_is_a_miss),
        T(test_ipv6_connection_and_nd),
        T(test_flood_meets_each_receivers_policy),
        T(test_flood_from_underlay_meets_policy),
        T(test_broadcast_opens_no_hole),
        T(test_connection_not_reused_across_receivers),
        T(test_flood_trace_gives_real_verdict),
        T(test_ipv6_multicast_meets_policy),
        T(test_missing_stage_counted),
        cmocka_unit_test_setup_teardown(test_conntrack_moves_with_vm, setup,
                                        dst_teardown),
    };
#undef T

    fixture_require_root();
    return cmocka_run_group_tests_name("bpf firewall", tests, group_setup,
                                       group_teardown);
}
