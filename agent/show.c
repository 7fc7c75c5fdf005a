#include "agent/show.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <net/if.h>
#include <string.h>

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
    obj = json_pack("{s:I, s:o, s:I, s:o, s:I, s:o}", "ifindex",
                    (json_int_t) key->ifindex, "device",
                    json_device(key->ifindex), "vni", (json_int_t) port->vni,
                    "mac", json_mac(port->mac), "mtu", (json_int_t) port->mtu,
                    "flags", flags);
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

        return json_pack("{s:I, s:o, s:o}", "vni", (json_int_t) k->vni, "mac",
                         json_mac(k->mac), "to",
                         json_location(v->ifindex, v->vtep));
    }
    case DP_BINDINGS: {
        const struct dp_binding_key *k = key;
        const struct dp_binding *v = value;

        return json_pack("{s:I, s:o, s:o}", "vni", (json_int_t) k->vni, "ip",
                         json_ipv4(k->ip4), "mac", json_mac(v->mac));
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

        return json_pack(
            "{s:o, s:I, s:o, s:o, s:o}", "vtep", json_ipv4(k->vtep), "ifindex",
            (json_int_t) v->ifindex, "device", json_device(v->ifindex),
            "src_mac", json_mac(v->src_mac), "dst_mac", json_mac(v->dst_mac));
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
    case DP_N_TABLES:
    default:
        return json_null();
    }
}

/* Returns the counters of device 'ifindex' (0: frames of no known device)
 * as JSON, or NULL if the datapath has none for it. */
static json_t *
json_counters(struct dp *dp, uint32_t ifindex, const char *role)
{
    struct dp_stats stats;
    json_t *drops;

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
    return json_pack("{s:I, s:o, s:s, s:I, s:I, s:I, s:I, s:o}", "ifindex",
                     (json_int_t) ifindex, "device", json_device(ifindex),
                     "role", role, "rx_packets", (json_int_t) stats.rx_packets,
                     "rx_bytes", (json_int_t) stats.rx_bytes, "tx_packets",
                     (json_int_t) stats.tx_packets, "tx_bytes",
                     (json_int_t) stats.tx_bytes, "drops", drops);
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
        json_t *list = json_array();

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
                   " MTU   IP              IPV6                     FLAGS");
    for (i = 0; (e = json_array_get(list, i)); i++) {
        const json_t *flags, *flag;
        size_t j;

        fprintf(out, "  %-16s %-7lld %-10lld %-18s %-5lld %-15s %-24s",
                str(e, "device"), num(e, "ifindex"), num(e, "vni"),
                str(e, "mac"), num(e, "mtu"), str(e, "ip"), str(e, "ipv6"));
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

    list = heading(out, doc, "bindings", "VNI        IP              MAC");
    for (i = 0; (e = json_array_get(list, i)); i++) {
        fprintf(out, "  %-10lld %-15s %s\n", num(e, "vni"), str(e, "ip"),
                str(e, "mac"));
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
                   "INGRESS-BIT/S BURST      DSCP");
    for (i = 0; (e = json_array_get(list, i)); i++) {
        const json_t *dscp = json_object_get(e, "dscp");

        snprintf(buf, sizeof buf, "%lld", json_integer_value(dscp));
        fprintf(out, "  %-16s %-13lld %-10lld %-8s %-13lld %-10lld %s\n",
                str(e, "device"), num(e, "egress_rate"),
                num(e, "egress_burst"), str(e, "egress"),
                num(e, "ingress_rate"), num(e, "ingress_burst"),
                dscp ? buf : "-");
    }

    list = heading(out, doc, "counters",
                   "DEVICE           ROLE          RX-PACKETS   RX-BYTES    "
                   " TX-PACKETS   TX-BYTES     DROPS");
    for (i = 0; (e = json_array_get(list, i)); i++) {
        json_t *drops = json_object_get(e, "drops");
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
