/* The firewall's compilation: which DP_POLICIES, DP_POLICY_CIDRS, DP_VTEPS
 * and DP_RULE_HITS entries the identities of a desired state turn into,
 * and which identities and flags its ports and bindings get.  Each test
 * compares the sorted entries of a table with the list it expects. */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/firewall.h"
#include "agent/reconcile.h"
#include "agent/state.h"
#include "utils/util.h"

#define HOST "'host': {'vtep': '192.168.100.1', 'underlay': 'eth0'}"

/* Parses 'text', single-quoted, which must be valid. */
static struct state *
parse(const char *text)
{
    struct state_errors errors;
    struct state *s;
    char *json = xstrdup(text);

    for (char *p = json; *p; p++) {
        *p = *p == '\'' ? '"' : *p;
    }
    state_errors_init(&errors);
    if (state_parse(json, strlen(json), &s, &errors)) {
        for (size_t i = 0; i < errors.n; i++) {
            print_error("%s\n", errors.msgs[i]);
        }
        fail_msg("document refused");
    }
    state_errors_destroy(&errors);
    free(json);
    return s;
}

/* A document with network 'blue' (VNI 100, default 'ACTION'), port web1
 * of identity 300 on it, db1 of identity 301 on network 'red' (VNI 200),
 * and a remote of identity 302; 'IDS' are the identities 300 and 301. */
#define DOC(ACTION, IDS)                                                      \
    "{" HOST ","                                                              \
    " 'networks': [{'name': 'blue', 'vni': 100, 'default_action': '" ACTION   \
    "'},"                                                                     \
    "              {'name': 'red', 'vni': 200}],"                             \
    " 'ports': [{'name': 'web1', 'network': 'blue', 'identity': 300,"         \
    "            'mac': '02:00:00:00:01:01', 'ip': '10.0.0.2'},"              \
    "           {'name': 'db1', 'network': 'red', 'identity': 301,"           \
    "            'mac': '02:00:00:00:01:02', 'ip': '10.0.1.2'},"              \
    "           {'name': 'free', 'network': 'red',"                           \
    "            'mac': '02:00:00:00:01:03', 'ip': '10.0.1.3'}],"             \
    " 'remotes': [{'network': 'blue', 'mac': '02:00:00:00:02:01',"            \
    "              'ip': '10.0.0.3', 'vtep': '192.168.100.2',"                \
    "              'identity': 302},"                                         \
    "             {'network': 'red', 'mac': '02:00:00:00:02:02',"             \
    "              'vtep': '192.168.100.2'},"                                 \
    "             {'network': 'red', 'mac': '02:00:00:00:02:03',"             \
    "              'vtep': '192.168.100.3'}],"                                \
    " 'identities': [" IDS "]}"

/* Identity 300 governing 'GOVERNS' with 'RULES', and 301 with none. */
#define IDS(GOVERNS, RULES)                                                   \
    "{'id': 300, 'groups': ['web'], 'governs': [" GOVERNS "],"                \
    " 'rules': [" RULES "]},"                                                 \
    "{'id': 301, 'groups': ['db'], 'governs': []}"

/* Parses DOC("allow", ...) in which identity 300 governs ingress with the
 * two rules 'a' and 'b' (JSON objects, single-quoted). */
static struct state *
parse_ingress_rules(const char *a, const char *b)
{
    char *rules = xasprintf("%s, %s", a, b);
    char *text = xasprintf(DOC("allow", IDS("'ingress'", "%s")), rules);
    struct state *s = parse(text);

    free(text);
    free(rules);
    return s;
}

/* Compiles 's' with 'ids' (NULL: a fresh assignment) into '*t', sorted. */
static void
compile(const struct state *s, struct fw_cidr_ids *ids,
        struct reconcile_tables *t)
{
    struct fw_cidr_ids *own = ids ? NULL : fw_cidr_ids_create();

    reconcile_tables_init(t);
    assert_int_equal(fw_desired(s, ids ? ids : own, t), 0);
    for (int i = 0; i < DP_N_TABLES; i++) {
        reconcile_table_sort(&t->t[i]);
    }
    fw_cidr_ids_destroy(own);
}

/* Fails unless table 'id' of 't' holds exactly the 'n' entries 'want'
 * (as reconcile_format_entry() writes them), in any order. */
static void
assert_entries(const struct reconcile_tables *t, enum dp_table id,
               const char *const want[], size_t n)
{
    const struct reconcile_table *table = &t->t[id];
    bool ok = table->n == n;
    char **got = xcalloc(table->n + 1, sizeof *got);

    for (size_t i = 0; i < table->n; i++) {
        got[i] = xzalloc(256);
        reconcile_format_entry(id, reconcile_table_key(table, i),
                               reconcile_table_value(table, i), got[i], 256);
    }
    for (size_t i = 0; ok && i < n; i++) {
        bool found = false;

        for (size_t j = 0; j < table->n && !found; j++) {
            found = !strcmp(got[j], want[i]);
        }
        ok = found;
    }
    if (!ok) {
        for (size_t i = 0; i < table->n; i++) {
            print_error("got:  %s\n", got[i]);
        }
        for (size_t i = 0; i < n; i++) {
            print_error("want: %s\n", want[i]);
        }
        fail_msg("table %s differs", dp_table_name(id));
    }
    for (size_t i = 0; i < table->n; i++) {
        free(got[i]);
    }
    free(got);
}

#define ASSERT_ENTRIES(T, ID, ...)                                            \
    do {                                                                      \
        static const char *const want_[] = {__VA_ARGS__};                     \
        assert_entries(T, ID, want_, ARRAY_SIZE(want_));                      \
    } while (0)

/* Each protocol and peer shape compiles to its entries: a port for a
 * single port, buckets for whole blocks of 256, a whole protocol, any
 * protocol, an ICMP type; one entry per peer identity, none for a group
 * without members. */
static void
test_rule_shapes(void **state)
{
    struct state *s = parse(DOC(
        "allow", IDS("'ingress', 'egress'",
                     "{'id': 7, 'direction': 'egress', 'protocol': 'tcp',"
                     " 'ports': [5432, 5432], 'peer_identities': [301, 305],"
                     " 'action': 'allow'},"
                     "{'id': 8, 'direction': 'ingress', 'protocol': 'udp',"
                     " 'ports': [510, 1025], 'action': 'allow', 'log': true},"
                     "{'id': 9, 'direction': 'ingress', 'protocol': 'icmp',"
                     " 'icmp_type': 8, 'action': 'allow'},"
                     "{'id': 10, 'direction': 'egress', 'protocol': 'any',"
                     " 'action': 'deny'},"
                     "{'id': 11, 'direction': 'egress', 'protocol': 'udp',"
                     " 'action': 'allow'},"
                     "{'id': 12, 'direction': 'egress', 'protocol': 'tcp',"
                     " 'ports': [0, 65535], 'peer_identities': [],"
                     " 'action': 'allow'}")));
    struct reconcile_tables t;

    compile(s, NULL, &t);
    ASSERT_ENTRIES(
        &t, DP_POLICIES,
        "policies group 300 egress tcp port 5432 peer 301 -> rule 7 allow",
        "policies group 300 egress tcp port 5432 peer 305 -> rule 7 allow",
        "policies group 300 ingress udp port 510 peer any -> rule 8 allow log",
        "policies group 300 ingress udp port 511 peer any -> rule 8 allow log",
        "policies group 300 ingress udp ports 512-767 peer any -> rule 8 "
        "allow log",
        "policies group 300 ingress udp ports 768-1023 peer any -> rule 8 "
        "allow log",
        "policies group 300 ingress udp port 1024 peer any -> rule 8 allow "
        "log",
        "policies group 300 ingress udp port 1025 peer any -> rule 8 allow "
        "log",
        "policies group 300 ingress icmp port 8 peer any -> rule 9 allow",
        "policies group 300 egress any peer any -> rule 10 deny",
        "policies group 300 egress udp peer any -> rule 11 allow");
    ASSERT_ENTRIES(&t, DP_RULE_HITS, "rule-hits rule 7 -> 0 hits",
                   "rule-hits rule 8 -> 0 hits", "rule-hits rule 9 -> 0 hits",
                   "rule-hits rule 10 -> 0 hits",
                   "rule-hits rule 11 -> 0 hits",
                   "rule-hits rule 12 -> 0 hits");
    ASSERT_ENTRIES(&t, DP_VTEPS, "vteps 192.168.100.2", "vteps 192.168.100.3");
    assert_int_equal(t.t[DP_POLICY_CIDRS].n, 0);
    reconcile_tables_destroy(&t);
    state_destroy(s);
}

/* Where two rules compile to one key, a deny wins, then the lower rule
 * id, whatever their order. */
static void
test_collisions(void **state)
{
    struct state *s = parse(
        DOC("allow", IDS("'egress'",
                         "{'id': 20, 'direction': 'egress', 'protocol': 'tcp',"
                         " 'ports': [80, 80], 'action': 'allow'},"
                         "{'id': 21, 'direction': 'egress', 'protocol': 'tcp',"
                         " 'ports': [80, 81], 'action': 'deny', 'log': true},"
                         "{'id': 5, 'direction': 'egress', 'protocol': 'tcp',"
                         " 'ports': [81, 82], 'action': 'deny'},"
                         "{'id': 4, 'direction': 'egress', 'protocol': 'tcp',"
                         " 'ports': [82, 83], 'action': 'allow'},"
                         "{'id': 3, 'direction': 'egress', 'protocol': 'tcp',"
                         " 'ports': [83, 83], 'action': 'allow'}")));
    struct reconcile_tables t;

    compile(s, NULL, &t);
    ASSERT_ENTRIES(
        &t, DP_POLICIES,
        "policies group 300 egress tcp port 80 peer any -> rule 21 deny log",
        "policies group 300 egress tcp port 81 peer any -> rule 5 deny",
        "policies group 300 egress tcp port 82 peer any -> rule 5 deny",
        "policies group 300 egress tcp port 83 peer any -> rule 3 allow");
    reconcile_tables_destroy(&t);
    state_destroy(s);
}

/* CIDRs get identities from DP_CIDR_IDENTITY_MIN, installed for the VNI of
 * the identity's ports only; the identity of a CIDR carries the rules of
 * every CIDR that contains it, so that the longest match alone decides. */
static void
test_cidrs(void **state)
{
    struct state *s = parse(DOC(
        "allow",
        IDS("'ingress'",
            "{'id': 30, 'direction': 'ingress', 'protocol': 'tcp',"
            " 'ports': [22, 22], 'peer_cidrs': ['10.0.0.0/8'],"
            " 'action': 'allow'},"
            "{'id': 31, 'direction': 'ingress', 'protocol': 'any',"
            " 'peer_cidrs': ['10.1.0.0/16', 'fd00::/8'], 'action': 'deny'},"
            "{'id': 32, 'direction': 'ingress', 'protocol': 'tcp',"
            " 'ports': [22, 22], 'peer_cidrs': ['192.0.2.0/24'],"
            " 'action': 'allow'}")));
    struct reconcile_tables t;
    struct fw_cidr_ids *ids = fw_cidr_ids_create();
    struct state_cidr c = {.family = 4, .prefix_len = 8, .addr = {10}};

    compile(s, ids, &t);
    ASSERT_ENTRIES(&t, DP_POLICY_CIDRS,
                   "policy-cidrs vni 100 10.0.0.0/8 -> identity 49152",
                   "policy-cidrs vni 100 10.1.0.0/16 -> identity 49153",
                   "policy-cidrs vni 100 fd00::/8 -> identity 49154",
                   "policy-cidrs vni 100 192.0.2.0/24 -> identity 49155");
    ASSERT_ENTRIES(
        &t, DP_POLICIES,
        "policies group 300 ingress tcp port 22 peer 49152 -> rule 30 allow",
        "policies group 300 ingress tcp port 22 peer 49153 -> rule 30 allow",
        "policies group 300 ingress any peer 49153 -> rule 31 deny",
        "policies group 300 ingress any peer 49154 -> rule 31 deny",
        "policies group 300 ingress tcp port 22 peer 49155 -> rule 32 "
        "allow");
    assert_int_equal(fw_cidr_ids_find(ids, &c), 49152);
    reconcile_tables_destroy(&t);
    fw_cidr_ids_destroy(ids);
    state_destroy(s);
}

/* A CIDR keeps its identity when others come and go, and a new CIDR never
 * takes the identity another gave up in the same run; a new assignment
 * taken from the datapath (a restarted agent) is the old one. */
static void
test_cidr_ids_stable(void **state)
{
    const char *r1 = "{'id': 40, 'direction': 'ingress', 'protocol': 'udp',"
                     " 'peer_cidrs': ['10.2.0.0/16'], 'action': 'allow'}";
    const char *r2 = "{'id': 41, 'direction': 'ingress', 'protocol': 'udp',"
                     " 'peer_cidrs': ['10.3.0.0/16'], 'action': 'allow'}";
    const char *r3 = "{'id': 42, 'direction': 'ingress', 'protocol': 'udp',"
                     " 'peer_cidrs': ['10.1.0.0/16'], 'action': 'allow'}";
    struct fw_cidr_ids *ids = fw_cidr_ids_create();
    struct fw_cidr_ids *restarted = fw_cidr_ids_create();
    struct reconcile_tables t;
    struct state *s;

    s = parse_ingress_rules(r1, r2);
    compile(s, ids, &t);
    ASSERT_ENTRIES(&t, DP_POLICY_CIDRS,
                   "policy-cidrs vni 100 10.2.0.0/16 -> identity 49152",
                   "policy-cidrs vni 100 10.3.0.0/16 -> identity 49153");
    reconcile_tables_destroy(&t);
    state_destroy(s);

    /* 10.2/16 goes, 10.1/16 comes: 49152 is not reused at once. */
    s = parse_ingress_rules(r3, r2);
    compile(s, ids, &t);
    ASSERT_ENTRIES(&t, DP_POLICY_CIDRS,
                   "policy-cidrs vni 100 10.1.0.0/16 -> identity 49154",
                   "policy-cidrs vni 100 10.3.0.0/16 -> identity 49153");
    ASSERT_ENTRIES(
        &t, DP_POLICIES,
        "policies group 300 ingress udp peer 49153 -> rule 41 allow",
        "policies group 300 ingress udp peer 49154 -> rule 42 allow");

    /* Another agent, taking over this datapath, keeps them. */
    fw_cidr_ids_seed(restarted, &t.t[DP_POLICY_CIDRS]);
    reconcile_tables_destroy(&t);
    compile(s, restarted, &t);
    ASSERT_ENTRIES(&t, DP_POLICY_CIDRS,
                   "policy-cidrs vni 100 10.1.0.0/16 -> identity 49154",
                   "policy-cidrs vni 100 10.3.0.0/16 -> identity 49153");
    reconcile_tables_destroy(&t);
    state_destroy(s);
    fw_cidr_ids_destroy(ids);
    fw_cidr_ids_destroy(restarted);
}

/* Ports carry their identity, the directions it governs and their
 * network's default; bindings carry the identity of their endpoint. */
static void
test_ports_and_bindings(void **state)
{
    struct state *s = parse(DOC(
        "deny", IDS("'egress'", "{'id': 7, 'direction': 'egress',"
                                " 'protocol': 'tcp', 'action': 'allow'}")));
    struct reconcile_link links[] = {
        {10, true, 0}, {11, true, 0}, {12, true, 0}};
    struct reconcile_tables t;

    assert_int_equal(fw_port_flags(s, &s->ports[0]),
                     DP_PORT_FW_EGRESS | DP_PORT_FW_DEFAULT_DENY);
    assert_int_equal(fw_port_flags(s, &s->ports[1]), 0);
    assert_int_equal(fw_port_flags(s, &s->ports[2]), 0);

    reconcile_tables_init(&t);
    reconcile_desired(s, 1500, links, NULL, &t);
    ASSERT_ENTRIES(&t, DP_PORTS,
                   "ports ifindex 10 -> vni 100 mac 02:00:00:00:01:01 mtu "
                   "1450 ip 10.0.0.2 port-security veth identity 300 "
                   "fw-egress fw-default-deny",
                   "ports ifindex 11 -> vni 200 mac 02:00:00:00:01:02 mtu "
                   "1450 ip 10.0.1.2 port-security veth identity 301",
                   "ports ifindex 12 -> vni 200 mac 02:00:00:00:01:03 mtu "
                   "1450 ip 10.0.1.3 port-security veth");
    ASSERT_ENTRIES(&t, DP_BINDINGS,
                   "bindings vni 100 10.0.0.2 -> 02:00:00:00:01:01 identity "
                   "300",
                   "bindings vni 100 10.0.0.3 -> 02:00:00:00:02:01 identity "
                   "302",
                   "bindings vni 200 10.0.1.2 -> 02:00:00:00:01:02 identity "
                   "301",
                   "bindings vni 200 10.0.1.3 -> 02:00:00:00:01:03");
    reconcile_tables_destroy(&t);
    state_destroy(s);
}

/* A rule that changes only touches its own entries: the diff against the
 * previous compilation modifies, adds and deletes those alone, and never
 * touches a rule's hit counter. */
static void
test_change_touches_only_its_entries(void **state)
{
    struct state *s1 = parse(DOC(
        "allow",
        IDS("'egress'", "{'id': 7, 'direction': 'egress', 'protocol': 'tcp',"
                        " 'ports': [80, 81], 'action': 'allow'},"
                        "{'id': 8, 'direction': 'egress', 'protocol': 'udp',"
                        " 'peer_cidrs': ['10.0.0.0/8'], 'action': 'allow'}")));
    struct state *s2 = parse(DOC(
        "allow",
        IDS("'egress'", "{'id': 7, 'direction': 'egress', 'protocol': 'tcp',"
                        " 'ports': [81, 82], 'action': 'allow', 'log': true},"
                        "{'id': 8, 'direction': 'egress', 'protocol': 'udp',"
                        " 'peer_cidrs': ['10.0.0.0/8'], 'action': 'allow'}")));
    struct fw_cidr_ids *ids = fw_cidr_ids_create();
    struct reconcile_tables a, b;
    struct reconcile_ops ops = {0};
    struct dp_rule_key k7 = {7};
    struct dp_rule_hits hits = {.hits = 42};
    size_t n_add = 0, n_mod = 0, n_del = 0;

    compile(s1, ids, &a);
    /* The fast path has counted hits since. */
    for (size_t i = 0; i < a.t[DP_RULE_HITS].n; i++) {
        if (!memcmp(reconcile_table_key(&a.t[DP_RULE_HITS], i), &k7,
                    sizeof k7)) {
            memcpy((void *) reconcile_table_value(&a.t[DP_RULE_HITS], i),
                   &hits, sizeof hits);
        }
    }
    compile(s2, ids, &b);
    reconcile_diff(&b, &a, &ops);
    for (size_t i = 0; i < ops.n; i++) {
        assert_int_equal(ops.ops[i].table, DP_POLICIES);
        n_add += ops.ops[i].type == RECONCILE_ADD;
        n_mod += ops.ops[i].type == RECONCILE_MODIFY;
        n_del += ops.ops[i].type == RECONCILE_DEL;
    }
    assert_int_equal(n_add, 1); /* Port 82. */
    assert_int_equal(n_mod, 1); /* Port 81: now logged. */
    assert_int_equal(n_del, 1); /* Port 80. */
    reconcile_ops_destroy(&ops);
    reconcile_tables_destroy(&a);
    reconcile_tables_destroy(&b);
    fw_cidr_ids_destroy(ids);
    state_destroy(s1);
    state_destroy(s2);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rule_shapes),
        cmocka_unit_test(test_collisions),
        cmocka_unit_test(test_cidrs),
        cmocka_unit_test(test_cidr_ids_stable),
        cmocka_unit_test(test_ports_and_bindings),
        cmocka_unit_test(test_change_touches_only_its_entries),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
