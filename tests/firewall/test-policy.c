/* Unit tests for firewall/policy.h: which keys a packet looks up and in
 * which order, how the results combine (deny beats allow, default deny in a
 * governed group, the network default otherwise), how port ranges compile
 * to entries, a small end-to-end story over a table of compiled rules, and
 * the one decision of a side (policy_side_decide()) over accessors to small
 * tables. */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "firewall/policy.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof(a)[0])

#define WEB 10   /* The group whose rules govern. */
#define ADMIN 20 /* A peer group. */

/* Checks that 'k' is the key (proto, port, peer, match) of group WEB,
 * ingress. */
static void
check_key(const struct policy_key *k, unsigned int proto, unsigned int port,
          unsigned int peer, unsigned int match)
{
    static const uint8_t zero[3];

    assert_int_equal(k->group, WEB);
    assert_int_equal(k->direction, POLICY_INGRESS);
    assert_int_equal(k->proto, proto);
    assert_int_equal(k->port, port);
    assert_int_equal(k->peer, peer);
    assert_int_equal(k->match, match);
    assert_memory_equal(k->pad, zero, sizeof k->pad);
}

/* TCP to port 8443 from ADMIN: eight lookups, most specific first. */
static void
test_keys_tcp_with_peer(void **state)
{
    struct policy_key keys[POLICY_LOOKUPS_MAX];
    int n;

    (void) state;
    memset(keys, 0xa5, sizeof keys);
    n = policy_keys_build(WEB, POLICY_INGRESS, PKT_IPPROTO_TCP, 8443, ADMIN,
                          keys);
    assert_int_equal(n, 8);
    check_key(&keys[0], 6, 8443, ADMIN, POLICY_MATCH_PORT);
    check_key(&keys[1], 6, 8443, 0, POLICY_MATCH_PORT);
    check_key(&keys[2], 6, 8443 / 256, ADMIN, POLICY_MATCH_BUCKET);
    check_key(&keys[3], 6, 8443 / 256, 0, POLICY_MATCH_BUCKET);
    check_key(&keys[4], 6, 0, ADMIN, POLICY_MATCH_ANY_PORT);
    check_key(&keys[5], 6, 0, 0, POLICY_MATCH_ANY_PORT);
    check_key(&keys[6], 0, 0, ADMIN, POLICY_MATCH_ANY_PROTO);
    check_key(&keys[7], 0, 0, 0, POLICY_MATCH_ANY_PROTO);
}

/* A peer without identity only looks up rules for any peer. */
static void
test_keys_unknown_peer(void **state)
{
    struct policy_key keys[POLICY_LOOKUPS_MAX];
    int n;

    (void) state;
    n = policy_keys_build(WEB, POLICY_INGRESS, PKT_IPPROTO_UDP, 53,
                          POLICY_PEER_ANY, keys);
    assert_int_equal(n, 4);
    check_key(&keys[0], 17, 53, 0, POLICY_MATCH_PORT);
    check_key(&keys[1], 17, 0, 0, POLICY_MATCH_BUCKET);
    check_key(&keys[2], 17, 0, 0, POLICY_MATCH_ANY_PORT);
    check_key(&keys[3], 0, 0, 0, POLICY_MATCH_ANY_PROTO);
}

/* ICMP matches its type but has no buckets; GRE has no port at all. */
static void
test_keys_portless(void **state)
{
    struct policy_key keys[POLICY_LOOKUPS_MAX];
    int n;

    (void) state;
    n = policy_keys_build(WEB, POLICY_INGRESS, PKT_IPPROTO_ICMP, 8, ADMIN,
                          keys);
    assert_int_equal(n, 6);
    check_key(&keys[0], 1, 8, ADMIN, POLICY_MATCH_PORT);
    check_key(&keys[1], 1, 8, 0, POLICY_MATCH_PORT);
    check_key(&keys[2], 1, 0, ADMIN, POLICY_MATCH_ANY_PORT);
    check_key(&keys[5], 0, 0, 0, POLICY_MATCH_ANY_PROTO);

    n = policy_keys_build(WEB, POLICY_INGRESS, 47, 0, ADMIN, keys);
    assert_int_equal(n, 4);
    check_key(&keys[0], 47, 0, ADMIN, POLICY_MATCH_ANY_PORT);
    check_key(&keys[1], 47, 0, 0, POLICY_MATCH_ANY_PORT);
    check_key(&keys[2], 0, 0, ADMIN, POLICY_MATCH_ANY_PROTO);
    check_key(&keys[3], 0, 0, 0, POLICY_MATCH_ANY_PROTO);
}

/* The port rules match: destination port, or ICMP type. */
static void
test_port_from_info(void **state)
{
    struct pkt_info info;

    (void) state;
    memset(&info, 0, sizeof info);
    info.l4_proto = PKT_IPPROTO_TCP;
    info.sport = bpf_htons(40000);
    info.dport = bpf_htons(443);
    assert_int_equal(policy_port_from_info(&info), 443);
    info.l4_proto = PKT_IPPROTO_ICMPV6;
    info.sport = bpf_htons(128 << 8 | 0);
    info.dport = bpf_htons(77);
    assert_int_equal(policy_port_from_info(&info), 128);
    info.l4_proto = 47;
    assert_int_equal(policy_port_from_info(&info), 0);
}

static struct policy_value
val(uint32_t rule_id, uint8_t action)
{
    struct policy_value v;

    memset(&v, 0, sizeof v);
    v.rule_id = rule_id;
    v.action = action;
    return v;
}

static void
check_verdict(struct policy_verdict v, int action, int reason,
              uint32_t rule_id)
{
    assert_int_equal(v.action, action);
    assert_int_equal(v.reason, reason);
    assert_int_equal(v.rule_id, rule_id);
}

/* A broad deny beats a specific allow, wherever it sits. */
static void
test_decide_deny_beats_allow(void **state)
{
    struct policy_value r[POLICY_LOOKUPS_MAX];

    (void) state;
    memset(r, 0, sizeof r);
    r[0] = val(1, POLICY_ALLOW);
    r[7] = val(2, POLICY_DENY);
    check_verdict(policy_decide(r, 8, true, POLICY_ALLOW), POLICY_DENY,
                  POLICY_BY_RULE, 2);

    /* Two denies: the most specific one is reported. */
    r[3] = val(3, POLICY_DENY);
    check_verdict(policy_decide(r, 8, false, POLICY_ALLOW), POLICY_DENY,
                  POLICY_BY_RULE, 3);

    /* Results past 'n' were never looked up. */
    check_verdict(policy_decide(r, 3, true, POLICY_DENY), POLICY_ALLOW,
                  POLICY_BY_RULE, 1);
}

static void
test_decide_first_allow_reported(void **state)
{
    struct policy_value r[POLICY_LOOKUPS_MAX];

    (void) state;
    memset(r, 0, sizeof r);
    r[2] = val(30, POLICY_ALLOW);
    r[5] = val(31, POLICY_ALLOW);
    r[6] = val(32, 7); /* Not an action: ignored. */
    check_verdict(policy_decide(r, 8, true, POLICY_DENY), POLICY_ALLOW,
                  POLICY_BY_RULE, 30);
}

/* Nothing matched: a governed group denies, otherwise the network says. */
static void
test_decide_defaults(void **state)
{
    struct policy_value r[POLICY_LOOKUPS_MAX];

    (void) state;
    memset(r, 0, sizeof r);
    check_verdict(policy_decide(r, 8, true, POLICY_ALLOW), POLICY_DENY,
                  POLICY_BY_DEFAULT_DENY, 0);
    check_verdict(policy_decide(r, 8, false, POLICY_ALLOW), POLICY_ALLOW,
                  POLICY_BY_NETWORK_DEFAULT, 0);
    check_verdict(policy_decide(r, 8, false, POLICY_DENY), POLICY_DENY,
                  POLICY_BY_NETWORK_DEFAULT, 0);
    check_verdict(policy_decide(r, 0, false, 0), POLICY_DENY,
                  POLICY_BY_NETWORK_DEFAULT, 0);
}

/* Returns how 'lo'..'hi' expands, checking that it fits 'out'. */
static int
expand(unsigned int lo, unsigned int hi, struct policy_port_match *out,
       int max)
{
    int n = policy_range_expand(lo, hi, out, max);

    assert_in_range(n, 1, max);
    return n;
}

static void
check_match(const struct policy_port_match *m, unsigned int port,
            unsigned int match)
{
    assert_int_equal(m->port, port);
    assert_int_equal(m->match, match);
    assert_int_equal(m->pad, 0);
}

static void
test_range_expand(void **state)
{
    static struct policy_port_match out[POLICY_RANGE_ENTRIES_MAX];
    int n;

    (void) state;
    n = expand(80, 80, out, ARRAY_SIZE(out));
    assert_int_equal(n, 1);
    check_match(&out[0], 80, POLICY_MATCH_PORT);

    n = expand(1000, 1100, out, ARRAY_SIZE(out));
    assert_int_equal(n, 101);
    check_match(&out[0], 1000, POLICY_MATCH_PORT);
    check_match(&out[100], 1100, POLICY_MATCH_PORT);

    /* 250..255 exact, 256..1023 as buckets 1..3, 1024..1030 exact. */
    n = expand(250, 1030, out, ARRAY_SIZE(out));
    assert_int_equal(n, 6 + 3 + 7);
    check_match(&out[5], 255, POLICY_MATCH_PORT);
    check_match(&out[6], 1, POLICY_MATCH_BUCKET);
    check_match(&out[8], 3, POLICY_MATCH_BUCKET);
    check_match(&out[9], 1024, POLICY_MATCH_PORT);
    check_match(&out[15], 1030, POLICY_MATCH_PORT);

    n = expand(0, 65535, out, ARRAY_SIZE(out));
    assert_int_equal(n, 1);
    check_match(&out[0], 0, POLICY_MATCH_ANY_PORT);

    /* The top bucket ends at the last port without wrapping. */
    n = expand(65280, 65535, out, ARRAY_SIZE(out));
    assert_int_equal(n, 1);
    check_match(&out[0], 255, POLICY_MATCH_BUCKET);

    /* The worst case fits the bound. */
    n = expand(1, 65534, out, ARRAY_SIZE(out));
    assert_int_equal(n, 255 + 254 + 255);

    assert_int_equal(policy_range_expand(2, 1, out, ARRAY_SIZE(out)), -1);
}

/* A short array gets the first entries and the count it would need. */
static void
test_range_expand_short_array(void **state)
{
    struct policy_port_match out[4];

    (void) state;
    memset(out, 0xee, sizeof out);
    assert_int_equal(policy_range_expand(10, 20, out, 3), 11);
    check_match(&out[2], 12, POLICY_MATCH_PORT);
    assert_int_equal(out[3].port, 0xeeee);
}

/* A table of compiled entries, standing in for the backend's hash map. */
struct table {
    struct policy_key keys[2048];     /* Keys, in insertion order. */
    struct policy_value values[2048]; /* Their values. */
    size_t n;                         /* Entries in use. */
};

/* Adds rule 'rule_id' of group WEB, ingress: 'action' for 'proto' ports
 * 'lo'..'hi' from 'peer', compiled the way the controller would. */
static void
add_rule(struct table *t, uint32_t rule_id, uint8_t action, uint8_t proto,
         uint16_t lo, uint16_t hi, uint16_t peer)
{
    static struct policy_port_match m[POLICY_RANGE_ENTRIES_MAX];
    int n = expand(lo, hi, m, ARRAY_SIZE(m));

    for (int i = 0; i < n; i++) {
        struct policy_key *k = &t->keys[t->n];

        assert_true(t->n < ARRAY_SIZE(t->keys));
        memset(k, 0, sizeof *k);
        k->group = WEB;
        k->direction = POLICY_INGRESS;
        k->proto = proto;
        k->port = m[i].port;
        k->peer = peer;
        k->match = m[i].match;
        t->values[t->n++] = val(rule_id, action);
    }
}

/* Looks up a TCP connection to 'port' from 'peer' and decides. */
static struct policy_verdict
classify(const struct table *t, uint16_t port, uint16_t peer)
{
    struct policy_key keys[POLICY_LOOKUPS_MAX];
    struct policy_value r[POLICY_LOOKUPS_MAX];
    int n = policy_keys_build(WEB, POLICY_INGRESS, PKT_IPPROTO_TCP, port, peer,
                              keys);

    memset(r, 0, sizeof r);
    for (int i = 0; i < n; i++) {
        for (size_t j = 0; j < t->n; j++) {
            if (!memcmp(&keys[i], &t->keys[j], sizeof keys[i])) {
                r[i] = t->values[j];
            }
        }
    }
    return policy_decide(r, n, true, POLICY_ALLOW);
}

/* Group WEB allows TCP 1000-2000 from anyone and 22 from ADMIN, and denies
 * 1100 to ADMIN (say, a debug port admins must not reach). */
static void
test_story_compiled_rules(void **state)
{
    static struct table t;

    (void) state;
    add_rule(&t, 100, POLICY_ALLOW, PKT_IPPROTO_TCP, 1000, 2000,
             POLICY_PEER_ANY);
    add_rule(&t, 101, POLICY_ALLOW, PKT_IPPROTO_TCP, 22, 22, ADMIN);
    add_rule(&t, 102, POLICY_DENY, PKT_IPPROTO_TCP, 1100, 1100, ADMIN);

    /* 1100 lies in bucket 4 (1024..1279), which rule 100 covers whole. */
    check_verdict(classify(&t, 1100, 30), POLICY_ALLOW, POLICY_BY_RULE, 100);
    check_verdict(classify(&t, 1100, ADMIN), POLICY_DENY, POLICY_BY_RULE, 102);
    check_verdict(classify(&t, 1101, ADMIN), POLICY_ALLOW, POLICY_BY_RULE,
                  100);
    /* The ragged ends are exact entries. */
    check_verdict(classify(&t, 1000, 30), POLICY_ALLOW, POLICY_BY_RULE, 100);
    check_verdict(classify(&t, 2000, 30), POLICY_ALLOW, POLICY_BY_RULE, 100);
    check_verdict(classify(&t, 999, 30), POLICY_DENY, POLICY_BY_DEFAULT_DENY,
                  0);
    check_verdict(classify(&t, 2001, 30), POLICY_DENY, POLICY_BY_DEFAULT_DENY,
                  0);
    check_verdict(classify(&t, 22, ADMIN), POLICY_ALLOW, POLICY_BY_RULE, 101);
    check_verdict(classify(&t, 22, 30), POLICY_DENY, POLICY_BY_DEFAULT_DENY,
                  0);
}

static void
test_cidr_key(void **state)
{
    static const uint8_t a4[4] = {192, 0, 2, 7};
    static const uint8_t a6[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 7};
    static const uint8_t zero[12];
    struct policy_cidr_key k;

    (void) state;
    memset(&k, 0xee, sizeof k);
    policy_cidr_key_build(&k, 0x123456, 4, a4, 24);
    assert_int_equal(k.prefixlen, 64 + 24);
    assert_int_equal(bpf_ntohl(k.vni), 0x123456);
    assert_int_equal(k.family, 4);
    assert_memory_equal(k.addr, a4, 4);
    assert_memory_equal(k.addr + 4, zero, 12);
    assert_int_equal(k.pad[0] | k.pad[1] | k.pad[2], 0);

    policy_cidr_key_build(&k, 1, 6, a6, 128);
    assert_int_equal(k.prefixlen, 64 + 128);
    assert_int_equal(k.family, 6);
    assert_memory_equal(k.addr, a6, 16);
}

/* The tables behind policy_side_decide()'s accessors in these tests: a few
 * policy entries, one IPv4 binding, one CIDR, and a count of lookups. */
#define CIDR_ID_TEST 49200       /* The CIDR identity of 192.0.2.0/24. */
#define RULE_ALLOW_ADMIN 31      /* WEB ingress TCP 443 from ADMIN. */
#define RULE_ALLOW_CIDR 32       /* WEB ingress TCP 443 from the CIDR. */
#define RULE_DENY_ANY 33         /* WEB ingress TCP 22 from anyone. */
#define RULE_ALLOW_ANY_LOGGED 34 /* WEB ingress UDP, any port, logged. */

struct side_tables {
    int lookups;  /* Policy lookups asked for. */
    int bindings; /* Binding lookups asked for. */
    int cidrs;    /* CIDR lookups asked for. */
};

static bool
side_lookup(void *ctx, const struct policy_key *key, struct policy_value *v)
{
    static const struct {
        struct policy_key key;
        struct policy_value value;
    } entries[] = {
        {{WEB, POLICY_INGRESS, 6, 443, ADMIN, POLICY_MATCH_PORT, {0}},
         {RULE_ALLOW_ADMIN, POLICY_ALLOW, 0, {0}}},
        {{WEB, POLICY_INGRESS, 6, 443, CIDR_ID_TEST, POLICY_MATCH_PORT, {0}},
         {RULE_ALLOW_CIDR, POLICY_ALLOW, 0, {0}}},
        {{WEB, POLICY_INGRESS, 6, 22, POLICY_PEER_ANY, POLICY_MATCH_PORT, {0}},
         {RULE_DENY_ANY, POLICY_DENY, 0, {0}}},
        {{WEB, POLICY_INGRESS, 6, 22, ADMIN, POLICY_MATCH_PORT, {0}},
         {RULE_ALLOW_ADMIN, POLICY_ALLOW, 0, {0}}},
        {{WEB,
          POLICY_INGRESS,
          17,
          0,
          POLICY_PEER_ANY,
          POLICY_MATCH_ANY_PORT,
          {0}},
         {RULE_ALLOW_ANY_LOGGED, POLICY_ALLOW, POLICY_F_LOG, {0}}},
    };
    struct side_tables *t = ctx;

    t->lookups++;
    for (size_t i = 0; i < ARRAY_SIZE(entries); i++) {
        if (!memcmp(&entries[i].key, key, sizeof *key)) {
            *v = entries[i].value;
            return true;
        }
    }
    return false;
}

static __u16
side_binding(void *ctx, __u32 vni, __u8 family, const __u8 *addr)
{
    struct side_tables *t = ctx;
    uint8_t bound[4] = {10, 0, 0, 5};

    t->bindings++;
    assert_int_equal(family, 4);
    return vni == 100 && !memcmp(addr, bound, 4) ? ADMIN : 0;
}

static __u16
side_cidr(void *ctx, __u32 vni, __u8 family, const __u8 *addr)
{
    struct side_tables *t = ctx;

    t->cidrs++;
    return vni == 100 && family == 4 && addr[0] == 192 && addr[1] == 0
                   && addr[2] == 2
               ? CIDR_ID_TEST
               : POLICY_PEER_ANY;
}

/* Fills 'side' for WEB, ingress of 'proto' to 'port' on VNI 100, from
 * the IPv4 peer at 'addr' that carries 'carried'. */
static void
side_init(struct policy_side *side, uint8_t proto, uint16_t port,
          uint16_t carried, const uint8_t *addr, bool governed)
{
    memset(side, 0, sizeof *side);
    side->vni = 100;
    side->group = WEB;
    side->peer_carried = carried;
    side->direction = POLICY_INGRESS;
    side->proto = proto;
    side->port = port;
    side->governed = governed;
    side->family = 4;
    memcpy(side->peer_addr, addr, 4);
}

/* Decides 'side' over the test's tables, counting lookups in '*t'. */
static struct policy_side_result
side_run(struct side_tables *t, const struct policy_side *side)
{
    struct policy_key keys[POLICY_LOOKUPS_MAX];
    struct policy_value results[POLICY_LOOKUPS_MAX];
    struct policy_side_result r;

    memset(t, 0, sizeof *t);
    policy_side_decide(side, keys, results, side_lookup, side_binding,
                       side_cidr, t, &r);
    return r;
}

static struct policy_side_result
side_decide(struct side_tables *t, uint8_t proto, uint16_t port,
            uint16_t carried, const uint8_t *addr, bool governed)
{
    struct policy_side side;

    side_init(&side, proto, port, carried, addr, governed);
    return side_run(t, &side);
}

/* The peer's identity: what its frames carry first, then its binding, then
 * its CIDR, then any; each looked up only when the one before says
 * nothing. */
static void
test_side_peer_order(void **state)
{
    static const uint8_t bound[4] = {10, 0, 0, 5};
    static const uint8_t in_cidr[4] = {192, 0, 2, 7};
    static const uint8_t nowhere[4] = {198, 51, 100, 1};
    struct side_tables t;
    struct policy_side_result r;

    (void) state;
    r = side_decide(&t, 6, 443, ADMIN, in_cidr, true);
    assert_int_equal(r.peer, ADMIN);
    assert_int_equal(t.bindings + t.cidrs, 0);
    assert_int_equal(r.v.rule_id, RULE_ALLOW_ADMIN);

    r = side_decide(&t, 6, 443, 0, bound, true);
    assert_int_equal(r.peer, ADMIN);
    assert_int_equal(t.bindings, 1);
    assert_int_equal(t.cidrs, 0);
    assert_int_equal(r.v.action, POLICY_ALLOW);

    r = side_decide(&t, 6, 443, 0, in_cidr, true);
    assert_int_equal(r.peer, CIDR_ID_TEST);
    assert_int_equal(t.cidrs, 1);
    assert_int_equal(r.v.rule_id, RULE_ALLOW_CIDR);

    r = side_decide(&t, 6, 443, 0, nowhere, true);
    assert_int_equal(r.peer, POLICY_PEER_ANY);
    assert_int_equal(r.v.action, POLICY_DENY);
    assert_int_equal(r.v.reason, POLICY_BY_DEFAULT_DENY);
}

/* A peer behind an external VTEP, or an IPv6 one, is never known by a
 * binding: an external VTEP may claim any address, IPv6 has none. */
static void
test_side_peer_without_binding(void **state)
{
    static const uint8_t bound[4] = {10, 0, 0, 5};
    struct side_tables t;
    struct policy_side_result r;
    struct policy_side side;

    (void) state;
    side_init(&side, 6, 443, 0, bound, true);
    side.peer_external = 1;
    r = side_run(&t, &side);
    assert_int_equal(t.bindings, 0);
    assert_int_equal(r.peer, POLICY_PEER_ANY);
    assert_int_equal(r.v.action, POLICY_DENY);

    side.peer_external = 0;
    side.family = 6;
    r = side_run(&t, &side);
    assert_int_equal(t.bindings, 0);
    assert_int_equal(t.cidrs, 1);
}

/* A direction the groups do not govern follows the network's default
 * without a single policy lookup; the peer is still resolved, for the flow
 * log. */
static void
test_side_ungoverned(void **state)
{
    static const uint8_t bound[4] = {10, 0, 0, 5};
    struct side_tables t;
    struct policy_side_result r;
    struct policy_side side;

    (void) state;
    side_init(&side, 6, 22, 0, bound, false);
    r = side_run(&t, &side);
    assert_int_equal(r.v.action, POLICY_ALLOW);
    assert_int_equal(r.v.reason, POLICY_BY_NETWORK_DEFAULT);
    assert_int_equal(r.peer, ADMIN);
    assert_int_equal(t.lookups, 0);

    side.default_deny = 1;
    r = side_run(&t, &side);
    assert_int_equal(r.v.action, POLICY_DENY);
    assert_int_equal(r.v.reason, POLICY_BY_NETWORK_DEFAULT);
    assert_int_equal(t.lookups, 0);
}

/* Governed: at most POLICY_LOOKUPS_MAX lookups, a deny anywhere wins over
 * a more specific allow, and the deciding entry's log flag comes out. */
static void
test_side_governed(void **state)
{
    static const uint8_t bound[4] = {10, 0, 0, 5};
    struct side_tables t;
    struct policy_side_result r;

    (void) state;
    r = side_decide(&t, 6, 22, 0, bound, true);
    assert_int_equal(r.v.action, POLICY_DENY);
    assert_int_equal(r.v.rule_id, RULE_DENY_ANY);
    assert_int_equal(t.lookups, POLICY_LOOKUPS_MAX);
    assert_false(r.log);

    r = side_decide(&t, 17, 53, 0, bound, true);
    assert_int_equal(r.v.action, POLICY_ALLOW);
    assert_int_equal(r.v.rule_id, RULE_ALLOW_ANY_LOGGED);
    assert_true(r.log);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keys_tcp_with_peer),
        cmocka_unit_test(test_keys_unknown_peer),
        cmocka_unit_test(test_keys_portless),
        cmocka_unit_test(test_port_from_info),
        cmocka_unit_test(test_decide_deny_beats_allow),
        cmocka_unit_test(test_decide_first_allow_reported),
        cmocka_unit_test(test_decide_defaults),
        cmocka_unit_test(test_range_expand),
        cmocka_unit_test(test_range_expand_short_array),
        cmocka_unit_test(test_story_compiled_rules),
        cmocka_unit_test(test_cidr_key),
        cmocka_unit_test(test_side_peer_order),
        cmocka_unit_test(test_side_peer_without_binding),
        cmocka_unit_test(test_side_ungoverned),
        cmocka_unit_test(test_side_governed),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
