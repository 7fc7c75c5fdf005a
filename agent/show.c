#include "agent/show.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <net/if.h>
#include <string.h>

#include "agent/firewall.h"
#include "agent/reconcile.h"
#include "datapath/dp.h"
#include "utils/addr.h"
#include "utils/util.h"

/* Both outputs come from one JSON document, so they always agree: the text
 * form is that document laid out in columns. */

static json_t *
json_ipv4(uint32_t ip)
{
    char s[INET_ADDRSTRLEN];

    return json_string(inet_ntop(AF_INET, &ip, s, sizeof s));
}

static json_t *
json_mac(const uint8_t mac[6])
{
    char s[ADDR_MAC_STRLEN];

    addr_format_mac(mac, s);
    return json_string(s);
}

/* Returns the name of device 'ifindex', or JSON null if there is none (any
 * more). */
static json_t *
json_device(uint32_t ifindex)
{
    char name[IF_NAMESIZE];

    return ifindex && if_indextoname(ifindex, name) ? json_string(name)
                                                    : json_null();
}

/* Returns {"ifindex": N, "device": NAME} for a local port or {"vtep": IP}
 * for a remote VTEP. */
static json_t *
json_location(uint32_t ifindex, uint32_t vtep)
{
    if (ifindex) {
        return json_pack("{s:I, s:o}", "ifindex", (json_int_t) ifindex,
                         "device", json_device(ifindex));
    }
    return json_pack("{s:o}", "vtep", json_ipv4(vtep));
}

static json_t *
json_port(const struct dp_port_key *key, const struct dp_port *port)
{
    static const uint8_t zero6[16];
    json_t *flags = json_array();
    json_t *obj;

    if (port->flags & DP_PORT_SECURITY) {
        json_array_append_new(flags, json_string("port-security"));
    }
    if (port->flags & DP_PORT_VETH) {
        json_array_append_new(flags, json_string("veth"));
    }
    if (port->flags & DP_PORT_FW_INGRESS) {
        json_array_append_new(flags, json_string("fw-ingress"));
    }
    if (port->flags & DP_PORT_FW_EGRESS) {
        json_array_append_new(flags, json_string("fw-egress"));
    }
    if (port->flags & DP_PORT_FW_DEFAULT_DENY) {
        json_array_append_new(flags, json_string("fw-default-deny"));
    }
    if (port->flags & DP_PORT_STANDBY) {
        json_array_append_new(flags, json_string("standby"));
    }
    obj = json_pack("{s:I, s:o, s:I, s:o, s:I, s:o}", "ifindex",
                    (json_int_t) key->ifindex, "device",
                    json_device(key->ifindex), "vni", (json_int_t) port->vni,
                    "mac", json_mac(port->mac), "mtu", (json_int_t) port->mtu,
                    "flags", flags);
    json_object_set_new(obj, "identity", json_integer(port->identity));
    if (port->ip4) {
        json_object_set_new(obj, "ip", json_ipv4(port->ip4));
    }
    if (memcmp(port->ip6, zero6, sizeof zero6)) {
        char s[INET6_ADDRSTRLEN];

        json_object_set_new(
            obj, "ipv6",
            json_string(inet_ntop(AF_INET6, port->ip6, s, sizeof s)));
    }
    return obj;
}

/* Returns the JSON form of entry 'i' of 'table'. */
static json_t *
json_entry(enum dp_table id, const struct reconcile_table *table, size_t i)
{
    const void *key = reconcile_table_key(table, i);
    const void *value = reconcile_table_value(table, i);

    switch (id) {
    case DP_PORTS:
        return json_port(key, value);
    case DP_NETWORKS: {
        const struct dp_network_key *k = key;
        const struct dp_network *v = value;

        return json_pack("{s:I, s:I}", "vni", (json_int_t) k->vni, "mtu",
                         (json_int_t) v->mtu);
    }
    case DP_FDB: {
        const struct dp_fdb_key *k = key;
        const struct dp_fdb_entry *v = value;

        json_t *obj = json_pack("{s:I, s:o, s:o}", "vni", (json_int_t) k->vni,
                                "mac", json_mac(k->mac), "to",
                                json_location(v->ifindex, v->vtep));

        /* A MAC in migration: where it still runs, or where it went. */
        if (v->flags & DP_FDB_STANDBY) {
            json_object_set_new(obj, "standby_from", json_ipv4(v->vtep));
        } else if (v->flags & DP_FDB_FORWARD) {
            json_object_set_new(obj, "forward", json_true());
        }
        return obj;
    }
    case DP_BINDINGS: {
        const struct dp_binding_key *k = key;
        const struct dp_binding *v = value;

        return json_pack("{s:I, s:o, s:o, s:I}", "vni", (json_int_t) k->vni,
                         "ip", json_ipv4(k->ip4), "mac", json_mac(v->mac),
                         "identity", (json_int_t) v->identity);
    }
    case DP_FLOOD: {
        const struct dp_flood_key *k = key;
        const struct dp_flood *v = value;
        json_t *members = json_array();

        for (uint32_t m = 0; m < v->n_members && m < DP_FLOOD_MAX; m++) {
            json_array_append_new(members, json_location(v->members[m].ifindex,
                                                         v->members[m].vtep));
        }
        return json_pack("{s:I, s:o}", "vni", (json_int_t) k->vni, "members",
                         members);
    }
    case DP_NEXTHOPS: {
        const struct dp_nexthop_key *k = key;
        const struct dp_nexthop *v = value;

        return json_pack("{s:o, s:I, s:o, s:o, s:o, s:b}", "vtep",
                         json_ipv4(k->vtep), "ifindex",
                         (json_int_t) v->ifindex, "device",
                         json_device(v->ifindex), "src_mac",
                         json_mac(v->src_mac), "dst_mac", json_mac(v->dst_mac),
                         "gbp", (v->flags & DP_NEXTHOP_GBP) != 0);
    }
    case DP_QOS: {
        const struct dp_qos_key *k = key;
        const struct dp_qos *v = value;
        json_t *o = json_pack("{s:I, s:o}", "ifindex", (json_int_t) k->ifindex,
                              "device", json_device(k->ifindex));

        if (v->egress_rate) {
            json_object_set_new(o, "egress_rate",
                                json_integer((json_int_t) v->egress_rate));
            json_object_set_new(o, "egress_burst",
                                json_integer(v->egress_burst));
        }
        if (v->ingress_rate) {
            json_object_set_new(o, "ingress_rate",
                                json_integer((json_int_t) v->ingress_rate));
            json_object_set_new(o, "ingress_burst",
                                json_integer(v->ingress_burst));
            json_object_set_new(o, "ingress",
                                json_string(v->flags & DP_QOS_INGRESS_HTB
                                                ? "shaped"
                                                : "policed"));
        }
        if (v->dscp != DP_QOS_DSCP_KEEP) {
            json_object_set_new(o, "dscp", json_integer(v->dscp));
        }
        if (v->flags & DP_QOS_EGRESS_HTB) {
            char class[16];

            snprintf(class, sizeof class, "%x:%x", DP_QOS_HTB_MAJOR,
                     v->htb_minor);
            json_object_set_new(o, "egress", json_string("shaped"));
            json_object_set_new(o, "egress_class", json_string(class));
        } else if (v->egress_rate) {
            json_object_set_new(o, "egress",
                                json_string(v->flags & DP_QOS_EGRESS_POLICE
                                                ? "policed"
                                                : "paced"));
        }
        return o;
    }
    case DP_POLICIES: {
        const struct policy_key *k = key;
        const struct policy_value *v = value;
        static const char *const matches[] = {
            [POLICY_MATCH_PORT] = "port",
            [POLICY_MATCH_BUCKET] = "bucket",
            [POLICY_MATCH_ANY_PORT] = "any-port",
            [POLICY_MATCH_ANY_PROTO] = "any-protocol",
        };
        const char *proto = reconcile_proto_name(k->proto);
        json_t *o = json_pack(
            "{s:I, s:s, s:o, s:s, s:I, s:I, s:I, s:s, s:b}", "group",
            (json_int_t) k->group, "direction",
            k->direction == POLICY_INGRESS ? "ingress" : "egress", "protocol",
            proto ? json_string(proto) : json_integer(k->proto), "match",
            k->match < ARRAY_SIZE(matches) && matches[k->match]
                ? matches[k->match]
                : "?",
            "port", (json_int_t) k->port, "peer", (json_int_t) k->peer, "rule",
            (json_int_t) v->rule_id, "action",
            v->action == POLICY_ALLOW ? "allow" : "deny", "log",
            (v->flags & POLICY_F_LOG) != 0);

        return o;
    }
    case DP_POLICY_CIDRS: {
        const struct policy_cidr_key *k = key;
        const struct dp_policy_cidr *v = value;
        char addr[INET6_ADDRSTRLEN], cidr[INET6_ADDRSTRLEN + 16];

        inet_ntop(k->family == 4 ? AF_INET : AF_INET6, k->addr, addr,
                  sizeof addr);
        snprintf(cidr, sizeof cidr, "%s/%d", addr,
                 (int) k->prefixlen - POLICY_CIDR_KEY_FIXED_BITS);
        return json_pack("{s:I, s:s, s:I}", "vni", (json_int_t) ntohl(k->vni),
                         "cidr", cidr, "identity", (json_int_t) v->identity);
    }
    case DP_VTEPS: {
        const struct dp_vtep_key *k = key;
        const struct dp_vtep *v = value;

        /* A fabric host's entry holds for every VNI: "vni" 0. */
        return json_pack("{s:o, s:I, s:b}", "vtep", json_ipv4(k->vtep), "vni",
                         (json_int_t) k->vni, "external",
                         (v->flags & DP_VTEP_EXTERNAL) != 0);
    }
    case DP_RULE_HITS: {
        const struct dp_rule_key *k = key;
        const struct dp_rule_hits *v = value;

        return json_pack("{s:I, s:I}", "rule", (json_int_t) k->rule_id, "hits",
                         (json_int_t) v->hits);
    }
    case DP_CONNTRACK:
    case DP_N_TABLES:
    default:
        return json_null();
    }
}

/* Counts of the conntrack table, by state. */
struct ct_count {
    uint64_t now_ns;      /* Now, CLOCK_MONOTONIC. */
    uint64_t entries;     /* Entries. */
    uint64_t expired;     /* Of which timed out, not yet deleted. */
    uint64_t by_state[9]; /* By enum ct_state. */
};

static int
ct_count_cb(const void *key, const void *value, void *count_)
{
    const struct dp_ct *ct = value;
    struct ct_count *count = count_;

    (void) key;
    count->entries++;
    count->expired += ct_entry_expired(&ct->ct, count->now_ns);
    if (ct->ct.state < ARRAY_SIZE(count->by_state)) {
        count->by_state[ct->ct.state]++;
    }
    return 0;
}

/* Returns the firewall summary of 'dp': conntrack by state, the fast
 * path's counters, how many policy entries and CIDRs it holds. */
/* Names of enum ct_state, as --show and --conntrack print them. */
static const char *const ct_states[] = {
    "new",        "syn-sent", "syn-recv",  "established", "fin-wait",
    "close-wait", "last-ack", "time-wait", "close"};

static json_t *
json_firewall(struct dp *dp, const struct reconcile_tables *tables)
{
    const char *const *states = ct_states;
    struct ct_count count = {.now_ns = fw_now_ns()};
    struct dp_fw_stats stats;
    json_t *fw = json_object();
    json_t *by_state = json_object();

    if (!dp_table_dump(dp, DP_CONNTRACK, ct_count_cb, &count)) {
        for (size_t i = 0; i < ARRAY_SIZE(ct_states); i++) {
            if (count.by_state[i]) {
                json_object_set_new(by_state, states[i],
                                    json_integer(count.by_state[i]));
            }
        }
        json_object_set_new(fw, "conntrack_entries",
                            json_integer(count.entries));
        json_object_set_new(fw, "conntrack_expired",
                            json_integer(count.expired));
        json_object_set_new(fw, "conntrack_by_state", by_state);
    } else {
        json_decref(by_state);
    }
    if (!dp_fw_stats_get(dp, &stats)) {
        json_object_set_new(fw, "conntrack_full", json_integer(stats.ct_full));
        json_object_set_new(fw, "flowlog_events_lost",
                            json_integer(stats.events_lost));
    }
    json_object_set_new(fw, "policy_entries",
                        json_integer(tables->t[DP_POLICIES].n));
    json_object_set_new(fw, "cidr_entries",
                        json_integer(tables->t[DP_POLICY_CIDRS].n));
    json_object_set_new(fw, "vteps", json_integer(tables->t[DP_VTEPS].n));
    return fw;
}

/* Returns the counters of device 'ifindex' (0: frames of no known device)
 * as JSON, or NULL if the datapath has none for it. */
static json_t *
json_counters(struct dp *dp, uint32_t ifindex, const char *role)
{
    struct dp_stats stats;
    struct dp_ct_usage ct;
    json_t *drops, *obj;

    if (dp_stats_get(dp, ifindex, &stats)) {
        return NULL;
    }
    drops = json_object();
    for (int r = 0; r < DP_DROP_N_REASONS; r++) {
        if (stats.drops[r]) {
            json_object_set_new(drops, dp_drop_reason_name(r),
                                json_integer(stats.drops[r]));
        }
    }
    obj = json_pack("{s:I, s:o, s:s, s:I, s:I, s:I, s:I, s:o}", "ifindex",
                    (json_int_t) ifindex, "device", json_device(ifindex),
                    "role", role, "rx_packets", (json_int_t) stats.rx_packets,
                    "rx_bytes", (json_int_t) stats.rx_bytes, "tx_packets",
                    (json_int_t) stats.tx_packets, "tx_bytes",
                    (json_int_t) stats.tx_bytes, "drops", drops);
    if (stats.punted) {
        json_object_set_new(obj, "punted", json_integer(stats.punted));
    }
    if (ifindex && !dp_ct_usage_get(dp, ifindex, &ct)) {
        /* The port's share of the conntrack table (dp_ct_usage_get()). */
        json_object_set_new(obj, "conntrack",
                            json_pack("{s:I, s:I}", "tracked",
                                      (json_int_t) ct.tracked, "max",
                                      (json_int_t) ct.max));
    }
    return obj;
}

/* Collects everything about 'dp' into '*docp'. */
static int
show_collect(struct dp *dp, json_t **docp)
{
    struct reconcile_tables tables;
    const struct reconcile_table *ports;
    struct dp_config config;
    json_t *doc, *counters, *c;
    int error;

    reconcile_tables_init(&tables);
    error = reconcile_dump(dp, &tables);
    if (error) {
        reconcile_tables_destroy(&tables);
        return error;
    }
    doc = json_object();
    if (dp_get_config(dp, &config) || !config.underlay_ifindex) {
        json_object_set_new(doc, "config", json_null());
    } else {
        json_object_set_new(
            doc, "config",
            json_pack("{s:o, s:I, s:o, s:I}", "vtep",
                      json_ipv4(config.vtep_ip), "underlay_ifindex",
                      (json_int_t) config.underlay_ifindex, "underlay",
                      json_device(config.underlay_ifindex), "ttl",
                      (json_int_t) config.ttl));
    }
    for (int id = 0; id < DP_N_TABLES; id++) {
        struct reconcile_table *table = &tables.t[id];
        json_t *list;

        if (id == DP_CONNTRACK) {
            /* Possibly millions of entries: summed up in "firewall". */
            continue;
        }
        list = json_array();
        reconcile_table_sort(table);
        for (size_t i = 0; i < table->n; i++) {
            json_array_append_new(list, json_entry(id, table, i));
        }
        json_object_set_new(doc, dp_table_name(id), list);
    }

    counters = json_array();
    ports = &tables.t[DP_PORTS];
    for (size_t i = 0; i < ports->n; i++) {
        const struct dp_port_key *key = reconcile_table_key(ports, i);

        c = json_counters(dp, key->ifindex, "port");
        if (c) {
            json_array_append_new(counters, c);
        }
    }
    if (json_object_get(doc, "config") != json_null()) {
        c = json_counters(dp, config.underlay_ifindex, "underlay");
        if (c) {
            json_array_append_new(counters, c);
        }
    }
    c = json_counters(dp, 0, "unattributed");
    if (c) {
        json_array_append_new(counters, c);
    }
    json_object_set_new(doc, "counters", counters);
    json_object_set_new(doc, "firewall", json_firewall(dp, &tables));
    reconcile_tables_destroy(&tables);
    *docp = doc;
    return 0;
}

static const char *
str(const json_t *obj, const char *key)
{
    const char *s = json_string_value(json_object_get(obj, key));

    return s ? s : "-";
}

static long long
num(const json_t *obj, const char *key)
{
    return json_integer_value(json_object_get(obj, key));
}

/* Formats {"ifindex", "device"} or {"vtep"} as "veth0 (7)" or
 * "vtep 192.168.1.2" into 'buf'. */
static const char *
location(const json_t *loc, char *buf, size_t size)
{
    if (json_object_get(loc, "vtep")) {
        snprintf(buf, size, "vtep %s", str(loc, "vtep"));
    } else {
        snprintf(buf, size, "%s (%lld)", str(loc, "device"),
                 num(loc, "ifindex"));
    }
    return buf;
}

/* Prints the heading of table 'name' of 'doc' and returns its entries. */
static const json_t *
heading(FILE *out, const json_t *doc, const char *name, const char *columns)
{
    const json_t *list = json_object_get(doc, name);

    fprintf(out, "\n%s (%zu):\n", name, json_array_size(list));
    if (json_array_size(list)) {
        fprintf(out, "  %s\n", columns);
    }
    return list;
}

/* Prints the firewall's part of 'doc': a summary, the CIDR identities and
 * the rule counters.  The policy entries themselves, which a port range
 * multiplies, are in the JSON output only. */
static void
show_firewall_text(FILE *out, const json_t *doc)
{
    const json_t *fw = json_object_get(doc, "firewall");
    const json_t *by_state = json_object_get(fw, "conntrack_by_state");
    const json_t *list, *e;
    const char *state;
    json_t *n;
    size_t i;

    fprintf(out,
            "\nfirewall: %lld policy entries, %lld CIDR entries, "
            "%lld remote VTEPs\n",
            num(fw, "policy_entries"), num(fw, "cidr_entries"),
            num(fw, "vteps"));
    if (json_object_get(fw, "conntrack_entries")) {
        fprintf(out, "  conntrack: %lld entries (%lld expired)",
                num(fw, "conntrack_entries"), num(fw, "conntrack_expired"));
        json_object_foreach((json_t *) by_state, state, n)
        {
            fprintf(out, ", %s %lld", state,
                    (long long) json_integer_value(n));
        }
        fputc('\n', out);
    }
    if (json_object_get(fw, "conntrack_full")) {
        fprintf(out, "  refused, table full: %lld; flow events lost: %lld\n",
                num(fw, "conntrack_full"), num(fw, "flowlog_events_lost"));
    }

    list = heading(out, doc, "policy-cidrs",
                   "VNI        CIDR                                        "
                   "IDENTITY");
    for (i = 0; (e = json_array_get(list, i)); i++) {
        fprintf(out, "  %-10lld %-43s %lld\n", num(e, "vni"), str(e, "cidr"),
                num(e, "identity"));
    }

    list = heading(out, doc, "rule-hits", "RULE       HITS");
    for (i = 0; (e = json_array_get(list, i)); i++) {
        fprintf(out, "  %-10lld %lld\n", num(e, "rule"), num(e, "hits"));
    }
}

static void
show_text(FILE *out, const json_t *doc)
{
    const json_t *config = json_object_get(doc, "config");
    const json_t *list, *e;
    char buf[64];
    size_t i;

    if (json_is_null(config)) {
        fprintf(out, "config: not configured (no VTEP, no underlay)\n");
    } else {
        fprintf(out, "config: vtep %s underlay %s (%lld) ttl %lld\n",
                str(config, "vtep"), str(config, "underlay"),
                num(config, "underlay_ifindex"), num(config, "ttl"));
    }

    list = heading(out, doc, "networks", "VNI        MTU");
    for (i = 0; (e = json_array_get(list, i)); i++) {
        fprintf(out, "  %-10lld %lld\n", num(e, "vni"), num(e, "mtu"));
    }

    list = heading(out, doc, "ports",
                   "DEVICE           IFINDEX VNI        MAC               "
                   " MTU   IP              IPV6                     "
                   "IDENTITY FLAGS");
    for (i = 0; (e = json_array_get(list, i)); i++) {
        const json_t *flags, *flag;
        size_t j;

        fprintf(out, "  %-16s %-7lld %-10lld %-18s %-5lld %-15s %-24s %-8lld",
                str(e, "device"), num(e, "ifindex"), num(e, "vni"),
                str(e, "mac"), num(e, "mtu"), str(e, "ip"), str(e, "ipv6"),
                num(e, "identity"));
        flags = json_object_get(e, "flags");
        for (j = 0; (flag = json_array_get(flags, j)); j++) {
            fprintf(out, "%s%s", j ? "," : " ", json_string_value(flag));
        }
        fputc('\n', out);
    }

    list = heading(out, doc, "fdb", "VNI        MAC                TO");
    for (i = 0; (e = json_array_get(list, i)); i++) {
        fprintf(out, "  %-10lld %-18s %s\n", num(e, "vni"), str(e, "mac"),
                location(json_object_get(e, "to"), buf, sizeof buf));
    }

    list = heading(out, doc, "bindings",
                   "VNI        IP              MAC                IDENTITY");
    for (i = 0; (e = json_array_get(list, i)); i++) {
        fprintf(out, "  %-10lld %-15s %-18s %lld\n", num(e, "vni"),
                str(e, "ip"), str(e, "mac"), num(e, "identity"));
    }

    list = heading(out, doc, "flood", "VNI        MEMBERS");
    for (i = 0; (e = json_array_get(list, i)); i++) {
        const json_t *members, *m;
        size_t j;

        fprintf(out, "  %-10lld", num(e, "vni"));
        members = json_object_get(e, "members");
        for (j = 0; (m = json_array_get(members, j)); j++) {
            fprintf(out, "%s%s", j ? ", " : " ", location(m, buf, sizeof buf));
        }
        fputc('\n', out);
    }

    list = heading(out, doc, "nexthops",
                   "VTEP            DEVICE           SOURCE MAC         "
                   "NEXT-HOP MAC");
    for (i = 0; (e = json_array_get(list, i)); i++) {
        snprintf(buf, sizeof buf, "%s (%lld)", str(e, "device"),
                 num(e, "ifindex"));
        fprintf(out, "  %-15s %-16s %-18s %s\n", str(e, "vtep"), buf,
                str(e, "src_mac"), str(e, "dst_mac"));
    }

    list = heading(out, doc, "qos",
                   "DEVICE           EGRESS-BIT/S  BURST      MODE     "
                   "INGRESS-BIT/S BURST      MODE     DSCP");
    for (i = 0; (e = json_array_get(list, i)); i++) {
        const json_t *dscp = json_object_get(e, "dscp");

        snprintf(buf, sizeof buf, "%lld", json_integer_value(dscp));
        fprintf(out, "  %-16s %-13lld %-10lld %-8s %-13lld %-10lld %-8s %s\n",
                str(e, "device"), num(e, "egress_rate"),
                num(e, "egress_burst"), str(e, "egress"),
                num(e, "ingress_rate"), num(e, "ingress_burst"),
                str(e, "ingress"), dscp ? buf : "-");
    }

    show_firewall_text(out, doc);

    list = heading(out, doc, "counters",
                   "DEVICE           ROLE          RX-PACKETS   RX-BYTES    "
                   " TX-PACKETS   TX-BYTES     DROPS");
    for (i = 0; (e = json_array_get(list, i)); i++) {
        json_t *drops = json_object_get(e, "drops");
        json_t *ct = json_object_get(e, "conntrack");
        long long n_drops = 0;
        void *it;

        for (it = json_object_iter(drops); it;
             it = json_object_iter_next(drops, it)) {
            n_drops += json_integer_value(json_object_iter_value(it));
        }
        fprintf(out, "  %-16s %-13s %-12lld %-12lld %-12lld %-12lld %lld\n",
                str(e, "device"), str(e, "role"), num(e, "rx_packets"),
                num(e, "rx_bytes"), num(e, "tx_packets"), num(e, "tx_bytes"),
                n_drops);
        if (num(e, "punted")) {
            fprintf(out, "      punted to the agent: %lld\n",
                    num(e, "punted"));
        }
        if (ct && num(ct, "max")) {
            fprintf(out, "      conntrack: %lld of %lld connections\n",
                    num(ct, "tracked"), num(ct, "max"));
        } else if (ct) {
            fprintf(out, "      conntrack: %lld connections, no limit\n",
                    num(ct, "tracked"));
        }
        for (it = json_object_iter(drops); it;
             it = json_object_iter_next(drops, it)) {
            fprintf(
                out, "      dropped %s: %lld\n", json_object_iter_key(it),
                (long long) json_integer_value(json_object_iter_value(it)));
        }
    }
}

int
show_datapath(struct dp *dp, bool json, FILE *out)
{
    json_t *doc;
    int error;

    error = show_collect(dp, &doc);
    if (error) {
        return error;
    }
    if (json) {
        if (json_dumpf(doc, out, JSON_INDENT(2) | JSON_PRESERVE_ORDER) < 0) {
            error = EIO;
        }
        fputc('\n', out);
    } else {
        show_text(out, doc);
    }
    json_decref(doc);
    return error ? error : ferror(out) ? EIO : 0;
}

/* --conntrack: the connections, like "conntrack -L". */

/* Formats address 'addr' of family 'family' (CT_FAMILY_*) and 'port'
 * (network order) as "a.b.c.d:p" or "[v6]:p", without the port for
 * protocols that have none. */
static json_t *
json_endpoint(const uint8_t addr[16], uint8_t family, uint16_t port,
              bool has_port)
{
    char ip[INET6_ADDRSTRLEN];
    char *s;
    json_t *j;

    inet_ntop(family == CT_FAMILY_IPV4 ? AF_INET : AF_INET6, addr, ip,
              sizeof ip);
    if (!has_port) {
        return json_string(ip);
    }
    s = family == CT_FAMILY_IPV4 ? xasprintf("%s:%u", ip, ntohs(port))
                                 : xasprintf("[%s]:%u", ip, ntohs(port));
    j = json_string(s);
    free(s);
    return j;
}

struct ct_list {
    json_t *list;    /* The connections so far. */
    uint64_t now_ns; /* CLOCK_MONOTONIC, as the fast path stamps. */
};

static int
ct_list_cb(const void *key_, const void *value_, void *aux)
{
    const struct ct_key *key = key_;
    const struct dp_ct *v = value_;
    struct ct_list *l = aux;
    const struct ct_entry *e = &v->ct;
    bool ab = e->orig_key_dir == CT_KEY_DIR_AB;
    bool ports =
        key->proto == PKT_IPPROTO_TCP || key->proto == PKT_IPPROTO_UDP;
    const char *proto = reconcile_proto_name(key->proto);
    json_t *c;

    c = json_pack(
        "{s:o, s:I, s:o, s:o, s:s, s:f, s:f, s:b, s:{s:I, s:I}, s:{s:I, s:I},"
        " s:I, s:I, s:I, s:I, s:o}",
        "protocol", proto ? json_string(proto) : json_integer(key->proto),
        "vni", (json_int_t) key->vni, "source",
        json_endpoint(ab ? key->addr_a : key->addr_b, key->family,
                      ab ? key->port_a : key->port_b, ports),
        "destination",
        json_endpoint(ab ? key->addr_b : key->addr_a, key->family,
                      ab ? key->port_b : key->port_a, ports),
        "state", e->state < ARRAY_SIZE(ct_states) ? ct_states[e->state] : "?",
        "age_s",
        l->now_ns > e->created_ns ? (l->now_ns - e->created_ns) / 1e9 : 0.0,
        "idle_s",
        l->now_ns > e->last_seen_ns ? (l->now_ns - e->last_seen_ns) / 1e9
                                    : 0.0,
        "expired", ct_entry_expired(e, l->now_ns), "packets", "original",
        (json_int_t) e->packets[CT_DIR_ORIG], "reply",
        (json_int_t) e->packets[CT_DIR_REPLY], "bytes", "original",
        (json_int_t) e->bytes[CT_DIR_ORIG], "reply",
        (json_int_t) e->bytes[CT_DIR_REPLY], "egress_rule",
        (json_int_t) v->egress_rule, "ingress_rule",
        (json_int_t) v->ingress_rule, "source_identity",
        (json_int_t) v->orig_src_identity, "destination_identity",
        (json_int_t) v->orig_dst_identity, "owner",
        json_device(v->owner_ifindex));
    json_array_append_new(l->list, c);
    return 0;
}

int
show_conntrack(struct dp *dp, bool json, FILE *out)
{
    struct ct_list l = {.list = json_array(), .now_ns = fw_now_ns()};
    size_t i;
    json_t *c;
    int error;

    error = dp_table_dump(dp, DP_CONNTRACK, ct_list_cb, &l);
    if (error) {
        json_decref(l.list);
        return error;
    }
    if (json) {
        if (json_dumpf(l.list, out, JSON_INDENT(2) | JSON_PRESERVE_ORDER)
            < 0) {
            error = EIO;
        }
        fputc('\n', out);
    } else {
        fprintf(out, "%-6s %-8s %-24s %-24s %-12s %8s %8s %9s %9s %s\n",
                "PROTO", "VNI", "SOURCE", "DESTINATION", "STATE", "AGE",
                "IDLE", "PKTS>", "PKTS<", "RULES");
        json_array_foreach(l.list, i, c)
        {
            const json_t *p = json_object_get(c, "packets");
            const json_t *proto = json_object_get(c, "protocol");
            char proto_num[8];

            snprintf(proto_num, sizeof proto_num, "%lld",
                     (long long) json_integer_value(proto));
            fprintf(
                out,
                "%-6s %-8lld %-24s %-24s %-12s %7.0fs %7.0fs %9lld "
                "%9lld out %lld in %lld owner %s%s\n",
                json_is_string(proto) ? json_string_value(proto) : proto_num,
                (long long) json_integer_value(json_object_get(c, "vni")),
                json_string_value(json_object_get(c, "source")),
                json_string_value(json_object_get(c, "destination")),
                json_string_value(json_object_get(c, "state")),
                json_real_value(json_object_get(c, "age_s")),
                json_real_value(json_object_get(c, "idle_s")),
                (long long) json_integer_value(json_object_get(p, "original")),
                (long long) json_integer_value(json_object_get(p, "reply")),
                (long long) json_integer_value(
                    json_object_get(c, "egress_rule")),
                (long long) json_integer_value(
                    json_object_get(c, "ingress_rule")),
                str(c, "owner"),
                json_is_true(json_object_get(c, "expired")) ? " (expired)"
                                                            : "");
        }
        fprintf(out, "%zu connection%s\n", json_array_size(l.list),
                json_array_size(l.list) == 1 ? "" : "s");
    }
    json_decref(l.list);
    return error ? error : ferror(out) ? EIO : 0;
}
