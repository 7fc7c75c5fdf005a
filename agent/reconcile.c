#include "agent/reconcile.h"

#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/param.h>

#include "agent/dhcp.h"
#include "agent/firewall.h"
#include "agent/state.h"
#include "datapath/netlink.h"
#include "utils/addr.h"
#include "utils/log.h"
#include "utils/util.h"

/* The order in which tables receive additions and changes: an entry is set
 * only after those it refers to (a port's network, an FDB entry's port or
 * the next hop of its VTEP...).  Deletions go in the reverse order.  The
 * firewall's entries come before the ports that they govern, so that a port
 * never becomes firewalled before its rules are there, and a CIDR identity's
 * rules before the CIDR that leads to them.  DP_CONNTRACK belongs to the
 * fast path and is never reconciled. */
static const enum dp_table set_order[] = {
    DP_NEXTHOPS, DP_VTEPS,        DP_NETWORKS, DP_RULE_HITS,
    DP_POLICIES, DP_POLICY_CIDRS, DP_PORTS,    DP_QOS,
    DP_FDB,      DP_BINDINGS,     DP_FLOOD};

static void __attribute__((format(printf, 3, 4)))
append(char *buf, size_t size, const char *format, ...)
{
    size_t len = strnlen(buf, size);
    va_list args;

    if (len + 1 < size) {
        va_start(args, format);
        vsnprintf(buf + len, size - len, format, args);
        va_end(args);
    }
}

static void
append_ipv4(char *buf, size_t size, uint32_t ip)
{
    char s[INET_ADDRSTRLEN];

    append(buf, size, "%s", inet_ntop(AF_INET, &ip, s, sizeof s));
}

static void
append_mac(char *buf, size_t size, const uint8_t mac[6])
{
    char s[ADDR_MAC_STRLEN];

    addr_format_mac(mac, s);
    append(buf, size, "%s", s);
}

static void
format_port(const struct dp_port *port, char *buf, size_t size)
{
    static const uint8_t zero6[16];

    append(buf, size, "vni %u mac ", port->vni);
    append_mac(buf, size, port->mac);
    append(buf, size, " mtu %u", port->mtu);
    if (port->ip4) {
        append(buf, size, " ip ");
        append_ipv4(buf, size, port->ip4);
    }
    if (memcmp(port->ip6, zero6, sizeof zero6)) {
        char s[INET6_ADDRSTRLEN];

        append(buf, size, " ipv6 %s",
               inet_ntop(AF_INET6, port->ip6, s, sizeof s));
    }
    append(buf, size, "%s%s",
           port->flags & DP_PORT_SECURITY ? " port-security" : "",
           port->flags & DP_PORT_VETH ? " veth" : "");
    if (port->identity) {
        append(buf, size, " identity %u", port->identity);
    }
    append(buf, size, "%s%s%s%s",
           port->flags & DP_PORT_FW_INGRESS ? " fw-ingress" : "",
           port->flags & DP_PORT_FW_EGRESS ? " fw-egress" : "",
           port->flags & DP_PORT_FW_DEFAULT_DENY ? " fw-default-deny" : "",
           port->flags & DP_PORT_STANDBY ? " standby" : "");
}

const char *
reconcile_proto_name(uint8_t proto)
{
    switch (proto) {
    case 0:
        return "any";
    case PKT_IPPROTO_TCP:
        return "tcp";
    case PKT_IPPROTO_UDP:
        return "udp";
    case PKT_IPPROTO_ICMP:
        return "icmp";
    case PKT_IPPROTO_ICMPV6:
        return "icmpv6";
    case POLICY_IPPROTO_SCTP:
        return "sctp";
    default:
        return NULL;
    }
}

/* Formats policy key 'k' as "group 300 egress tcp port 5432 peer 301". */
static void
format_policy_key(const struct policy_key *k, char *buf, size_t size)
{
    const char *proto = reconcile_proto_name(k->proto);

    append(buf, size, "group %u %s ", k->group,
           k->direction == POLICY_INGRESS ? "ingress" : "egress");
    if (proto) {
        append(buf, size, "%s", proto);
    } else {
        append(buf, size, "proto %u", k->proto);
    }
    switch (k->match) {
    case POLICY_MATCH_PORT:
        append(buf, size, " port %u", k->port);
        break;
    case POLICY_MATCH_BUCKET:
        append(buf, size, " ports %u-%u", k->port << POLICY_BUCKET_SHIFT,
               (k->port << POLICY_BUCKET_SHIFT) + POLICY_BUCKET_SIZE - 1);
        break;
    case POLICY_MATCH_ANY_PORT:
    case POLICY_MATCH_ANY_PROTO:
        break;
    default:
        append(buf, size, " match %u port %u", k->match, k->port);
        break;
    }
    if (k->peer == POLICY_PEER_ANY) {
        append(buf, size, " peer any");
    } else {
        append(buf, size, " peer %u", k->peer);
    }
}

/* Formats CIDR key 'k' as "vni 100 192.0.2.0/24". */
static void
format_cidr_key(const struct policy_cidr_key *k, char *buf, size_t size)
{
    char s[INET6_ADDRSTRLEN];

    append(
        buf, size, "vni %u %s/%d", ntohl(k->vni),
        inet_ntop(k->family == 4 ? AF_INET : AF_INET6, k->addr, s, sizeof s),
        (int) k->prefixlen - POLICY_CIDR_KEY_FIXED_BITS);
}

static void
format_qos(const struct dp_qos *qos, char *buf, size_t size)
{
    bool any = false;

    if (qos->egress_rate) {
        append(buf, size, " egress %llu bit/s burst %u",
               (unsigned long long) qos->egress_rate, qos->egress_burst);
        any = true;
    }
    if (qos->ingress_rate) {
        append(buf, size, " ingress %llu bit/s burst %u",
               (unsigned long long) qos->ingress_rate, qos->ingress_burst);
        any = true;
    }
    if (qos->dscp != DP_QOS_DSCP_KEEP) {
        append(buf, size, " dscp %u", qos->dscp);
        any = true;
    }
    if (qos->flags & DP_QOS_EGRESS_POLICE) {
        append(buf, size, " egress-policed");
    }
    if (qos->flags & DP_QOS_EGRESS_HTB) {
        append(buf, size, " egress-class %x:%x", DP_QOS_HTB_MAJOR,
               qos->htb_minor);
        any = true;
    }
    if (qos->flags & DP_QOS_INGRESS_HTB) {
        append(buf, size, " ingress-shaped");
    }
    if (!any) {
        append(buf, size, " (none)");
    }
}

static void
format_location(uint32_t ifindex, uint32_t vtep, char *buf, size_t size)
{
    if (ifindex) {
        append(buf, size, "port %u", ifindex);
    } else {
        append(buf, size, "vtep ");
        append_ipv4(buf, size, vtep);
    }
}

void
reconcile_format_entry(enum dp_table table, const void *key, const void *value,
                       char *buf, size_t size)
{
    if (size == 0) {
        return;
    }
    buf[0] = '\0';
    append(buf, size, "%s ", dp_table_name(table));
    switch (table) {
    case DP_PORTS: {
        const struct dp_port_key *k = key;

        append(buf, size, "ifindex %u", k->ifindex);
        if (value) {
            append(buf, size, " -> ");
            format_port(value, buf, size);
        }
        break;
    }
    case DP_NETWORKS: {
        const struct dp_network_key *k = key;
        const struct dp_network *v = value;

        append(buf, size, "vni %u", k->vni);
        if (v) {
            append(buf, size, " -> mtu %u", v->mtu);
        }
        break;
    }
    case DP_FDB: {
        const struct dp_fdb_key *k = key;
        const struct dp_fdb_entry *v = value;

        append(buf, size, "vni %u ", k->vni);
        append_mac(buf, size, k->mac);
        if (v) {
            append(buf, size, " -> ");
            format_location(v->ifindex,
                            v->flags & DP_FDB_STANDBY ? 0 : v->vtep, buf,
                            size);
            if (v->flags & DP_FDB_STANDBY) {
                append(buf, size, " standby, running at ");
                append_ipv4(buf, size, v->vtep);
            } else if (v->flags & DP_FDB_FORWARD) {
                append(buf, size, " forward");
            }
        }
        break;
    }
    case DP_BINDINGS: {
        const struct dp_binding_key *k = key;
        const struct dp_binding *v = value;

        append(buf, size, "vni %u ", k->vni);
        append_ipv4(buf, size, k->ip4);
        if (v) {
            append(buf, size, " -> ");
            append_mac(buf, size, v->mac);
            if (v->identity) {
                append(buf, size, " identity %u", v->identity);
            }
        }
        break;
    }
    case DP_FLOOD: {
        const struct dp_flood_key *k = key;
        const struct dp_flood *v = value;

        append(buf, size, "vni %u", k->vni);
        if (v) {
            append(buf, size, " ->");
            for (uint32_t i = 0; i < v->n_members && i < DP_FLOOD_MAX; i++) {
                append(buf, size, i ? ", " : " ");
                format_location(v->members[i].ifindex, v->members[i].vtep, buf,
                                size);
            }
            if (!v->n_members) {
                append(buf, size, " (empty)");
            }
        }
        break;
    }
    case DP_NEXTHOPS: {
        const struct dp_nexthop_key *k = key;
        const struct dp_nexthop *v = value;

        append(buf, size, "vtep ");
        append_ipv4(buf, size, k->vtep);
        if (v) {
            append(buf, size, " -> ifindex %u ", v->ifindex);
            append_mac(buf, size, v->src_mac);
            append(buf, size, " to ");
            append_mac(buf, size, v->dst_mac);
            append(buf, size, v->flags & DP_NEXTHOP_GBP ? " gbp" : " plain");
        }
        break;
    }
    case DP_QOS: {
        const struct dp_qos_key *k = key;

        append(buf, size, "ifindex %u", k->ifindex);
        if (value) {
            append(buf, size, " ->");
            format_qos(value, buf, size);
        }
        break;
    }
    case DP_POLICIES: {
        const struct policy_value *v = value;

        format_policy_key(key, buf, size);
        if (v) {
            append(buf, size, " -> rule %u %s%s", v->rule_id,
                   v->action == POLICY_ALLOW  ? "allow"
                   : v->action == POLICY_DENY ? "deny"
                                              : "none",
                   v->flags & POLICY_F_LOG ? " log" : "");
        }
        break;
    }
    case DP_POLICY_CIDRS: {
        const struct dp_policy_cidr *v = value;

        format_cidr_key(key, buf, size);
        if (v) {
            append(buf, size, " -> identity %u", v->identity);
        }
        break;
    }
    case DP_VTEPS: {
        const struct dp_vtep_key *k = key;
        const struct dp_vtep *v = value;

        append_ipv4(buf, size, k->vtep);
        if (k->vni) {
            append(buf, size, " vni %u", k->vni);
        }
        if (v && v->flags & DP_VTEP_EXTERNAL) {
            append(buf, size, " external");
        }
        break;
    }
    case DP_CONNTRACK: {
        const struct ct_key *k = key;
        int af = k->family == CT_FAMILY_IPV4 ? AF_INET : AF_INET6;
        char a[INET6_ADDRSTRLEN], b[INET6_ADDRSTRLEN];

        append(buf, size, "vni %u proto %u %s.%u %s.%u", k->vni, k->proto,
               inet_ntop(af, k->addr_a, a, sizeof a), ntohs(k->port_a),
               inet_ntop(af, k->addr_b, b, sizeof b), ntohs(k->port_b));
        break;
    }
    case DP_RULE_HITS: {
        const struct dp_rule_key *k = key;
        const struct dp_rule_hits *v = value;

        append(buf, size, "rule %u", k->rule_id);
        if (v) {
            append(buf, size, " -> %llu hits", (unsigned long long) v->hits);
        }
        break;
    }
    case DP_N_TABLES:
    default:
        break;
    }
}

/* Appends 'vtep' to 'flood' unless it is there already. */
static void
flood_add_vtep(struct dp_flood *flood, uint32_t vtep)
{
    for (uint32_t i = 0; i < flood->n_members; i++) {
        if (!flood->members[i].ifindex && flood->members[i].vtep == vtep) {
            return;
        }
    }
    if (flood->n_members < DP_FLOOD_MAX) {
        flood->members[flood->n_members++].vtep = vtep;
    }
}

/* Returns true if 'ip4' is the DHCP server's address in 'net', which the
 * controller gives no endpoint; a document written by hand that does so
 * gets no ARP binding for the endpoint, rather than two. */
static bool
reconcile_is_dhcp_server(const struct state_network *net, uint32_t ip4)
{
    return net->prefix_len
           && ip4 == agent_dhcp_server_ip(net->net4, net->prefix_len);
}

void
reconcile_desired(const struct state *s, uint32_t underlay_mtu,
                  const struct reconcile_link *links,
                  struct fw_cidr_ids *cidr_ids,
                  struct reconcile_tables *tables)
{
    struct dp_flood *floods = xcalloc(s->n_networks, sizeof *floods);
    struct fw_cidr_ids *own_ids = cidr_ids ? NULL : fw_cidr_ids_create();

    fw_desired(s, cidr_ids ? cidr_ids : own_ids, tables);
    fw_cidr_ids_destroy(own_ids);

    for (size_t i = 0; i < s->n_networks; i++) {
        const struct state_network *net = &s->networks[i];
        struct dp_network_key key = {.vni = net->vni};
        struct dp_network value = {
            .mtu = state_network_mtu(net, underlay_mtu),
        };

        reconcile_tables_add(tables, DP_NETWORKS, &key, &value);
        /* The DHCP server's address answers ARP, so that a client renews
         * by unicast (doc/vms.md). */
        if (net->prefix_len) {
            struct dp_binding_key bkey = {
                .vni = net->vni,
                .ip4 = agent_dhcp_server_ip(net->net4, net->prefix_len),
            };
            struct dp_binding binding = {.mac = DP_DHCP_SERVER_MAC};

            reconcile_tables_add(tables, DP_BINDINGS, &bkey, &binding);
        }
    }
    for (size_t i = 0; i < s->n_ports; i++) {
        const struct state_port *port = &s->ports[i];
        const struct state_network *net = &s->networks[port->network];
        struct dp_port_key key = {.ifindex = links[i].ifindex};
        struct dp_port value = {
            .vni = net->vni,
            .mtu = state_network_mtu(net, underlay_mtu),
            .ip4 = port->ip4,
            .identity = port->identity,
        };
        struct dp_fdb_key fdb_key = {.vni = net->vni};
        struct dp_fdb_entry fdb = {.ifindex = links[i].ifindex};
        struct dp_flood *flood = &floods[port->network];
        bool standby = port->standby && !port->activated;

        if (!links[i].ifindex) {
            continue;
        }
        value.flags = (port->port_security ? DP_PORT_SECURITY : 0)
                      | (links[i].veth ? DP_PORT_VETH : 0)
                      | (standby ? DP_PORT_STANDBY : 0)
                      | fw_port_flags(s, port);
        /* Live migration (doc/mobility.md): the MAC of a VM migrating in
         * stays where the VM still runs, for frames of this host, until
         * its first frame here; the MAC of a VM switching over to another
         * host is sent on there, whatever brings frames for it here. */
        if (port->forward_vtep) {
            fdb = (struct dp_fdb_entry){.vtep = port->forward_vtep,
                                        .flags = DP_FDB_FORWARD};
        } else if (standby && port->standby_vtep) {
            fdb.vtep = port->standby_vtep;
            fdb.flags = DP_FDB_STANDBY;
        }
        memcpy(value.mac, port->mac, sizeof value.mac);
        memcpy(value.ip6, port->ip6, sizeof value.ip6);
        reconcile_tables_add(tables, DP_PORTS, &key, &value);
        if (state_qos_is_set(&port->qos)) {
            struct dp_qos_key qkey = {.ifindex = links[i].ifindex};
            struct dp_qos qos = {
                .egress_rate = port->qos.egress_rate,
                .egress_burst = port->qos.egress_burst,
                .ingress_rate = port->qos.ingress_rate,
                .ingress_burst = port->qos.ingress_burst,
                .dscp = port->qos.dscp,
            };

            if (links[i].htb_minor) {
                qos.flags |= DP_QOS_EGRESS_HTB;
                qos.htb_minor = links[i].htb_minor;
            }
            if (links[i].ingress_htb) {
                qos.flags |= DP_QOS_INGRESS_HTB;
            }

            reconcile_tables_add(tables, DP_QOS, &qkey, &qos);
        }

        memcpy(fdb_key.mac, port->mac, sizeof fdb_key.mac);
        reconcile_tables_add(tables, DP_FDB, &fdb_key, &fdb);

        if (port->ip4 && !reconcile_is_dhcp_server(net, port->ip4)) {
            struct dp_binding_key bkey = {.vni = net->vni, .ip4 = port->ip4};
            struct dp_binding binding = {.identity = port->identity};

            memcpy(binding.mac, port->mac, sizeof binding.mac);
            reconcile_tables_add(tables, DP_BINDINGS, &bkey, &binding);
        }
        /* A standby port gets no floods: the VM still runs elsewhere and
         * gets them there. */
        if (!standby && flood->n_members < DP_FLOOD_MAX) {
            flood->members[flood->n_members++].ifindex = links[i].ifindex;
        }
    }
    for (size_t i = 0; i < s->n_remotes; i++) {
        const struct state_remote *remote = &s->remotes[i];
        uint32_t vni = s->networks[remote->network].vni;
        struct dp_fdb_key fdb_key = {.vni = vni};
        struct dp_fdb_entry fdb = {.vtep = remote->vtep};

        memcpy(fdb_key.mac, remote->mac, sizeof fdb_key.mac);
        /* A MAC that just left this host has its FDB entry from
         * "forward" (below); its remote gives its address and flooding. */
        if (!state_is_forwarded(s, vni, remote->mac)) {
            reconcile_tables_add(tables, DP_FDB, &fdb_key, &fdb);
        }
        if (remote->ip4
            && !reconcile_is_dhcp_server(&s->networks[remote->network],
                                         remote->ip4)) {
            struct dp_binding_key bkey = {.vni = vni, .ip4 = remote->ip4};
            struct dp_binding binding = {.identity = remote->identity};

            memcpy(binding.mac, remote->mac, sizeof binding.mac);
            reconcile_tables_add(tables, DP_BINDINGS, &bkey, &binding);
        }
    }
    /* The MACs that left this host a moment ago (doc/mobility.md
     * "forward"): what other hosts still send here for them goes on to
     * where they are now. */
    for (size_t i = 0; i < s->n_forwards; i++) {
        const struct state_forward *f = &s->forwards[i];
        struct dp_fdb_key fdb_key = {.vni = f->vni};
        struct dp_fdb_entry fdb = {.vtep = f->vtep, .flags = DP_FDB_FORWARD};

        memcpy(fdb_key.mac, f->mac, sizeof fdb_key.mac);
        reconcile_tables_add(tables, DP_FDB, &fdb_key, &fdb);
    }
    /* Remote VTEPs go after all local ports, each once per network, and
     * so do the external VTEPs that joined it. */
    for (size_t i = 0; i < s->n_remotes; i++) {
        flood_add_vtep(&floods[s->remotes[i].network], s->remotes[i].vtep);
    }
    for (size_t i = 0; i < s->n_external_vteps; i++) {
        flood_add_vtep(&floods[s->external_vteps[i].network],
                       s->external_vteps[i].vtep);
    }
    for (size_t i = 0; i < s->n_networks; i++) {
        struct dp_flood_key key = {.vni = s->networks[i].vni};

        reconcile_tables_add(tables, DP_FLOOD, &key, &floods[i]);
    }
    free(floods);
}

void
reconcile_desired_nexthops(const struct reconcile_nexthop *vteps, size_t n,
                           const struct reconcile_table *actual,
                           struct reconcile_tables *tables)
{
    for (size_t i = 0; i < n; i++) {
        struct dp_nexthop_key key = {.vtep = vteps[i].vtep};

        if (!vteps[i].error) {
            reconcile_tables_add(tables, DP_NEXTHOPS, &key, &vteps[i].hop);
        } else if (vteps[i].error == EAGAIN) {
            for (size_t j = 0; j < actual->n; j++) {
                if (!memcmp(reconcile_table_key(actual, j), &key,
                            sizeof key)) {
                    struct dp_nexthop hop;

                    /* The route is the old one until it is resolved again;
                     * whether the VTEP takes VXLAN-GBP is up to date. */
                    memcpy(&hop, reconcile_table_value(actual, j), sizeof hop);
                    hop.flags = vteps[i].hop.flags;
                    reconcile_tables_add(tables, DP_NEXTHOPS, &key, &hop);
                    break;
                }
            }
        }
    }
}

static void
ops_add(struct reconcile_ops *ops, enum reconcile_op_type type,
        enum dp_table table, const void *key, const void *value)
{
    struct reconcile_op *op;

    if (ops->n == ops->allocated) {
        ops->allocated = ops->allocated ? 2 * ops->allocated : 16;
        ops->ops = xrealloc(ops->ops, ops->allocated * sizeof *ops->ops);
    }
    op = &ops->ops[ops->n++];
    op->type = type;
    op->table = table;
    op->key = key;
    op->value = value;
}

/* Walks the sorted 'desired' and 'actual' contents of table 'id' side by
 * side, appending to 'ops' either the additions and changes ('sets') or
 * the deletions. */
static void
diff_table(enum dp_table id, const struct reconcile_table *desired,
           const struct reconcile_table *actual, bool sets,
           struct reconcile_ops *ops)
{
    size_t i = 0, j = 0;

    while (i < desired->n || j < actual->n) {
        const void *dkey =
            i < desired->n ? reconcile_table_key(desired, i) : NULL;
        const void *akey =
            j < actual->n ? reconcile_table_key(actual, j) : NULL;
        int cmp = !dkey   ? 1
                  : !akey ? -1
                          : reconcile_table_compare_keys(desired, dkey, akey);

        if (dkey && i > 0
            && !reconcile_table_compare_keys(
                desired, dkey, reconcile_table_key(desired, i - 1))) {
            /* A duplicate desired key: the first one counts. */
            i++;
        } else if (cmp < 0) {
            if (sets) {
                ops_add(ops, RECONCILE_ADD, id, dkey,
                        reconcile_table_value(desired, i));
            }
            i++;
        } else if (cmp > 0) {
            if (!sets) {
                ops_add(ops, RECONCILE_DEL, id, akey,
                        reconcile_table_value(actual, j));
            }
            j++;
        } else {
            const void *dvalue = reconcile_table_value(desired, i);

            if (sets
                && !reconcile_values_equal(id, dvalue,
                                           reconcile_table_value(actual, j))) {
                ops_add(ops, RECONCILE_MODIFY, id, dkey, dvalue);
            }
            i++;
            j++;
        }
    }
}

void
reconcile_diff(struct reconcile_tables *desired,
               struct reconcile_tables *actual, struct reconcile_ops *ops)
{
    for (int i = 0; i < DP_N_TABLES; i++) {
        reconcile_table_sort(&desired->t[i]);
        reconcile_table_sort(&actual->t[i]);
    }
    for (size_t i = 0; i < ARRAY_SIZE(set_order); i++) {
        enum dp_table id = set_order[i];

        diff_table(id, &desired->t[id], &actual->t[id], true, ops);
    }
    for (size_t i = ARRAY_SIZE(set_order); i-- > 0;) {
        enum dp_table id = set_order[i];

        diff_table(id, &desired->t[id], &actual->t[id], false, ops);
    }
}

void
reconcile_ops_destroy(struct reconcile_ops *ops)
{
    if (ops) {
        free(ops->ops);
        memset(ops, 0, sizeof *ops);
    }
}

/* A device that a run looked for. */
struct reconcile_device {
    char *port;       /* The port's name, NULL for the underlay. */
    char *name;       /* The device's name. */
    uint32_t ifindex; /* Its ifindex then, 0 if it was missing. */
};

/* A shaped port's class on the underlay's HTB qdisc, or, for ingress, its
 * device's one class. */
struct reconcile_class {
    uint32_t ifindex;      /* The port's device. */
    uint16_t minor;        /* Class DP_QOS_HTB_MAJOR:'minor'. */
    struct nl_htb_class c; /* Its parameters as last set. */
};

struct reconciler {
    struct dp *dp;                    /* The datapath. */
    struct reconcile_device *devices; /* Looked for by the last run. */
    size_t n_devices;                 /* Number of 'devices'. */
    struct reconcile_nexthop *vteps;  /* Remote VTEPs of the last run. */
    size_t n_vteps;                   /* Number of 'vteps'. */
    bool ran;                         /* Whether it has run at all. */
    bool failed;                      /* Whether the last run failed. */
    int fq_error;                     /* Why fq could not be installed on
                                       * the underlay, or 0. */
    struct reconcile_class *classes;  /* Shaped ports' HTB classes. */
    size_t n_classes;                 /* Number of 'classes'. */
    bool classes_known;               /* 'classes' says what the underlay
                                       * has: set by a run that installed
                                       * the HTB or found no need. */
    int htb_error;                    /* Why the HTB could not be installed
                                       * on the underlay, or 0. */
    struct reconcile_class *ingress;  /* Ports whose ingress is shaped, as
                                       * last set; the minor is unused. */
    size_t n_ingress;                 /* Number of 'ingress'. */
    bool ingress_known;               /* 'ingress' says what the devices
                                       * have: false until a first run. */
    int ingress_error;                /* Why the last run could not shape a
                                       * port's ingress, or 0. */
    struct fw_cidr_ids *cidr_ids;     /* CIDR identities. */
    bool fw_changed;                  /* A run changed an entry the
                                       * firewall decides by. */
};

struct reconciler *
reconcile_create(struct dp *dp)
{
    struct reconciler *rc = xzalloc(sizeof *rc);

    rc->dp = dp;
    rc->cidr_ids = fw_cidr_ids_create();
    return rc;
}

static void
reconcile_forget_devices(struct reconciler *rc)
{
    for (size_t i = 0; i < rc->n_devices; i++) {
        free(rc->devices[i].port);
        free(rc->devices[i].name);
    }
    free(rc->devices);
    rc->devices = NULL;
    rc->n_devices = 0;
}

void
reconcile_destroy(struct reconciler *rc)
{
    if (rc) {
        reconcile_forget_devices(rc);
        free(rc->vteps);
        free(rc->classes);
        free(rc->ingress);
        fw_cidr_ids_destroy(rc->cidr_ids);
        free(rc);
    }
}

/* Returns what the last run found of device 'name' for port 'port' (NULL
 * for the underlay), or NULL if it did not look for it.  'hint' is where
 * it probably is, when the document did not change. */
static const struct reconcile_device *
reconcile_find_device(const struct reconciler *rc, const char *port,
                      const char *name, size_t hint)
{
    for (size_t k = 0; k < rc->n_devices; k++) {
        const struct reconcile_device *d =
            &rc->devices[(hint + k) % rc->n_devices];

        if (!strcmp(d->name, name)
            && (port && d->port ? !strcmp(d->port, port) : port == d->port)) {
            return d;
        }
    }
    return NULL;
}

/* Logs what changed about device 'name' ('ifindex' now, 0 if missing)
 * since the last run: a missing device once, and its arrival. */
static void
reconcile_report_device(const struct reconciler *rc, const char *port,
                        const char *name, uint32_t ifindex, size_t hint)
{
    const struct reconcile_device *old;

    old = reconcile_find_device(rc, port, name, hint);
    if (!ifindex && (!old || old->ifindex)) {
        if (port) {
            LOG_WARN("port \"%s\": device \"%s\" does not exist (yet); the "
                     "port is pending until it appears",
                     port, name);
        } else {
            LOG_WARN("underlay device \"%s\" does not exist (yet); VXLAN is "
                     "not configured until it appears, and network MTUs "
                     "assume an underlay MTU of %d",
                     name, STATE_DEFAULT_UNDERLAY_MTU);
        }
    } else if (ifindex && old && !old->ifindex) {
        LOG_INFO("%s%s%sdevice \"%s\" appeared (ifindex %u)",
                 port ? "port \"" : "underlay ", port ? port : "",
                 port ? "\": " : "", name, ifindex);
    }
}

/* Looks up device 'name' into '*link', which is zeroed if it does not
 * exist. */
static void
reconcile_lookup(const char *name, struct nl_link *link)
{
    int error = nl_link_get(name, link);

    if (error) {
        if (error != ENODEV) {
            LOG_ERR("device \"%s\": lookup failed: %s", name, strerror(error));
        }
        memset(link, 0, sizeof *link);
    }
}

/* Whether the firewall's verdicts depend on entries of 'table': policies,
 * CIDR identities, and the identities and flags of ports and bindings. */
static bool
reconcile_is_fw_table(enum dp_table table)
{
    return table == DP_POLICIES || table == DP_POLICY_CIDRS
           || table == DP_PORTS || table == DP_BINDINGS;
}

/* Applies 'op' to the datapath.  Returns 0 or an errno value. */
static int
reconcile_apply(struct reconciler *rc, const struct reconcile_op *op)
{
    static const char *const verbs[] = {
        [RECONCILE_ADD] = "add",
        [RECONCILE_MODIFY] = "change",
        [RECONCILE_DEL] = "delete",
    };
    char entry[1536];
    int error;

    error = op->type == RECONCILE_DEL
                ? dp_table_del(rc->dp, op->table, op->key)
                : dp_table_set(rc->dp, op->table, op->key, op->value);
    if (error || log_enabled(LOG_LEVEL_DBG)) {
        reconcile_format_entry(op->table, op->key, op->value, entry,
                               sizeof entry);
        if (error) {
            LOG_ERR("%s %s: %s", verbs[op->type], entry, strerror(error));
        } else {
            LOG_DBG("%s %s", verbs[op->type], entry);
        }
    }
    return error;
}

/* Sets the underlay configuration of 'rc''s datapath for 's' with the
 * underlay device 'ifindex', unless it is set already.  Returns 0 or an
 * errno value; sets '*changed' if it changed it. */
static int
reconcile_config(struct reconciler *rc, const struct state *s,
                 uint32_t ifindex, bool *changed)
{
    struct dp_config want = {.vtep_ip = s->host.vtep,
                             .underlay_ifindex = ifindex,
                             .ttl = s->host.ttl};
    struct dp_config have;
    char ip[INET_ADDRSTRLEN];
    int error;

    *changed = false;
    if (!dp_get_config(rc->dp, &have) && have.vtep_ip == want.vtep_ip
        && have.underlay_ifindex == want.underlay_ifindex
        && have.ttl == want.ttl) {
        return 0;
    }
    inet_ntop(AF_INET, &want.vtep_ip, ip, sizeof ip);
    error = dp_configure(rc->dp, &want);
    if (error) {
        LOG_ERR("configuring vtep %s underlay \"%s\" (ifindex %u) ttl %u: %s",
                ip, s->host.underlay, ifindex, want.ttl, strerror(error));
    } else {
        LOG_DBG("configured vtep %s underlay \"%s\" (ifindex %u) ttl %u", ip,
                s->host.underlay, ifindex, want.ttl);
        *changed = true;
    }
    return error;
}

/* Gives the port devices in 'links' the MTU of their network and brings
 * them up.  Returns 0 or the first errno value. */
static int
reconcile_port_devices(const struct state *s, uint32_t underlay_mtu,
                       const struct nl_link *links)
{
    int first_error = 0;

    for (size_t i = 0; i < s->n_ports; i++) {
        const struct state_port *port = &s->ports[i];
        const struct nl_link *link = &links[i];
        uint32_t mtu;
        int error = 0;

        if (!link->ifindex) {
            continue;
        }
        mtu = state_network_mtu(&s->networks[port->network], underlay_mtu);
        if (link->mtu != mtu) {
            error = nl_link_set_mtu(link->ifindex, mtu);
            if (error) {
                LOG_ERR("port \"%s\": setting MTU %u on \"%s\": %s",
                        port->name, mtu, port->device, strerror(error));
            } else {
                LOG_DBG("port \"%s\": MTU of \"%s\" %u -> %u", port->name,
                        port->device, link->mtu, mtu);
            }
        }
        if (!error && !link->up) {
            error = nl_link_set_up(link->ifindex);
            if (error) {
                LOG_ERR("port \"%s\": bringing \"%s\" up: %s", port->name,
                        port->device, strerror(error));
            } else {
                LOG_DBG("port \"%s\": brought \"%s\" up", port->name,
                        port->device);
            }
        }
        if (error && !first_error) {
            first_error = error;
        }
    }
    return first_error;
}

static int
compare_u32(const void *a_, const void *b_)
{
    uint32_t a = *(const uint32_t *) a_, b = *(const uint32_t *) b_;

    return a < b ? -1 : a > b;
}

/* Asks the kernel how to reach 'vtep', into 'nh'. */
static void
reconcile_lookup_nexthop(uint32_t vtep, struct reconcile_nexthop *nh)
{
    struct nl_nexthop hop;

    memset(nh, 0, sizeof *nh);
    nh->vtep = vtep;
    nh->error = nl_nexthop_get(vtep, &hop);
    if (!nh->error) {
        nh->hop.ifindex = hop.ifindex;
        memcpy(nh->hop.src_mac, hop.src_mac, sizeof nh->hop.src_mac);
        memcpy(nh->hop.dst_mac, hop.dst_mac, sizeof nh->hop.dst_mac);
    }
}

static bool
nexthops_equal(const struct reconcile_nexthop *a,
               const struct reconcile_nexthop *b)
{
    return a->vtep == b->vtep && a->error == b->error
           && !memcmp(&a->hop, &b->hop, sizeof a->hop);
}

/* Returns in '*np' the distinct remote VTEPs of 's', fabric hosts and
 * external VTEPs, with how to reach each and whether it takes VXLAN-GBP.
 * Without the underlay ('have_underlay' false) the kernel is not asked:
 * they all count as being resolved.  A VTEP that cannot be reached is
 * reported when that is news since the last run of 'rc'. */
static struct reconcile_nexthop *
reconcile_resolve_vteps(const struct reconciler *rc, const struct state *s,
                        bool have_underlay, size_t *np)
{
    size_t n_addrs = s->n_remotes + s->n_external_vteps + 2 * s->n_ports
                     + s->n_vms + s->n_forwards;
    struct reconcile_nexthop *vteps = xcalloc(n_addrs, sizeof *vteps);
    uint32_t *addrs = xcalloc(n_addrs, sizeof *addrs);
    size_t n = 0;

    n_addrs = 0;
    for (size_t i = 0; i < s->n_remotes; i++) {
        addrs[n_addrs++] = s->remotes[i].vtep;
    }
    for (size_t i = 0; i < s->n_external_vteps; i++) {
        addrs[n_addrs++] = s->external_vteps[i].vtep;
    }
    /* The hosts a migrating VM comes from or goes to, which may have no
     * other endpoint in this host's networks. */
    for (size_t i = 0; i < s->n_ports; i++) {
        if (s->ports[i].standby && s->ports[i].standby_vtep) {
            addrs[n_addrs++] = s->ports[i].standby_vtep;
        }
        if (s->ports[i].forward_vtep) {
            addrs[n_addrs++] = s->ports[i].forward_vtep;
        }
    }
    /* A migration's destination gets its next hop from the start, so that
     * the switch-over only rewrites FDB entries. */
    for (size_t i = 0; i < s->n_vms; i++) {
        if (s->vms[i].migrate) {
            addrs[n_addrs++] = s->vms[i].migrate->to_vtep;
        }
    }
    for (size_t i = 0; i < s->n_forwards; i++) {
        addrs[n_addrs++] = s->forwards[i].vtep;
    }
    qsort(addrs, n_addrs, sizeof *addrs, compare_u32);
    for (size_t i = 0; i < n_addrs; i++) {
        struct reconcile_nexthop *nh = &vteps[n];
        char ip[INET_ADDRSTRLEN];
        bool news = true;

        if (i > 0 && addrs[i] == addrs[i - 1]) {
            continue;
        }
        n++;
        if (!have_underlay) {
            memset(nh, 0, sizeof *nh);
            nh->vtep = addrs[i];
            nh->error = EAGAIN;
        } else {
            reconcile_lookup_nexthop(addrs[i], nh);
        }
        nh->hop.flags = state_vtep_takes_gbp(s, addrs[i]) ? DP_NEXTHOP_GBP : 0;
        if (!have_underlay) {
            continue;
        }
        for (size_t j = 0; j < rc->n_vteps; j++) {
            if (rc->vteps[j].vtep == nh->vtep) {
                news = rc->vteps[j].error != nh->error;
                break;
            }
        }
        inet_ntop(AF_INET, &nh->vtep, ip, sizeof ip);
        if (nh->error == EAGAIN) {
            LOG_DBG("remote vtep %s: resolving its next hop", ip);
        } else if (nh->error && news) {
            LOG_WARN("remote vtep %s: no next hop on the underlay: %s; the "
                     "kernel routes its traffic until there is one",
                     ip, strerror(nh->error));
        }
    }
    free(addrs);
    *np = n;
    return vteps;
}

/* Remembers the devices of this run for reconcile_poll() and the next
 * run's reports. */
static void
reconcile_remember(struct reconciler *rc, const struct state *s,
                   const struct nl_link *underlay, const struct nl_link *links)
{
    reconcile_forget_devices(rc);
    rc->n_devices = s->n_ports + 1;
    rc->devices = xcalloc(rc->n_devices, sizeof *rc->devices);
    for (size_t i = 0; i < s->n_ports; i++) {
        rc->devices[i].port = xstrdup(s->ports[i].name);
        rc->devices[i].name = xstrdup(s->ports[i].device);
        rc->devices[i].ifindex = links[i].ifindex;
    }
    rc->devices[s->n_ports].name = xstrdup(s->host.underlay);
    rc->devices[s->n_ports].ifindex = underlay->ifindex;
}

/* The HTB hierarchy on the underlay device, while a port is shaped:
 *
 *   qdisc fab0:  (unclassified packets to class fab0:1)
 *     class fab0:ffff  rate = ceil = uplink
 *       class fab0:1   the host's own, unshaped traffic: rate 1% of the
 *                      uplink (at least RECONCILE_HTB_FLOOR), ceil uplink
 *       class fab0:N   one per shaped port, N >= RECONCILE_HTB_FIRST */
#define RECONCILE_HTB_DEFAULT 1
#define RECONCILE_HTB_ROOT 0xffff
#define RECONCILE_HTB_FIRST 2
#define RECONCILE_HTB_MAX_CLASSES 4096
#define RECONCILE_HTB_FLOOR 1000000 /* Bits/s. */

/* The queue of a port's class holds RECONCILE_HTB_QUEUE_MS at its ceiling,
 * but at least RECONCILE_HTB_MIN_QUEUE bytes (four GSO packets). */
#define RECONCILE_HTB_QUEUE_MS 50
#define RECONCILE_HTB_MIN_QUEUE (4 * 65536)

/* Minors of ports' classes stay below this, so that the handles of their
 * queues (minor:0) never meet the HTB's own. */
#define RECONCILE_HTB_MAX_MINOR 0xf000

/* Returns the speed of device 'name' in bits/s, or 0 if it does not tell
 * (sysfs says -1, or nothing, for most virtual devices). */
static uint64_t
reconcile_link_speed(const char *name)
{
    char path[64];
    long long mbits = 0;
    FILE *f;

    snprintf(path, sizeof path, "/sys/class/net/%s/speed", name);
    f = fopen(path, "r");
    if (!f) {
        return 0;
    }
    if (fscanf(f, "%lld", &mbits) != 1 || mbits <= 0) {
        mbits = 0;
    }
    fclose(f);
    return (uint64_t) mbits * 1000000;
}

/* Returns the class of the port on 'ifindex' in 'classes' (of 'n'), or
 * NULL. */
static struct reconcile_class *
reconcile_find_class(struct reconcile_class *classes, size_t n,
                     uint32_t ifindex)
{
    for (size_t i = 0; i < n; i++) {
        if (classes[i].ifindex == ifindex) {
            return &classes[i];
        }
    }
    return NULL;
}

/* Returns the lowest minor that none of the 'n' 'classes' has. */
static uint16_t
reconcile_free_minor(const struct reconcile_class *classes, size_t n)
{
    for (uint16_t minor = RECONCILE_HTB_FIRST;; minor++) {
        bool used = false;

        for (size_t i = 0; i < n && !used; i++) {
            used = classes[i].minor == minor;
        }
        if (!used) {
            return minor;
        }
    }
}

/* Whether one of the 'n' 'classes' has 'minor'. */
static bool
reconcile_find_minor(const struct reconcile_class *classes, size_t n,
                     uint16_t minor)
{
    for (size_t i = 0; i < n; i++) {
        if (classes[i].minor == minor) {
            return true;
        }
    }
    return false;
}

/* Whether 'minor' is one of the 'n' in 'minors'. */
static bool
reconcile_has_minor(const uint16_t *minors, size_t n, uint16_t minor)
{
    for (size_t i = 0; i < n; i++) {
        if (minors[i] == minor) {
            return true;
        }
    }
    return false;
}

/* Sets class 'major':'minor' of the HTB on 'ifindex' to 'c', and its
 * queue to RECONCILE_HTB_QUEUE_MS at its ceiling, unless 'known' says it
 * has that already and it is among the 'n' 'existing' minors.  Returns 0 or
 * a positive errno. */
static int
reconcile_class_set(uint32_t ifindex, uint16_t major, uint16_t parent,
                    uint16_t minor, const struct nl_htb_class *c,
                    const struct nl_htb_class *known, const uint16_t *existing,
                    size_t n)
{
    uint64_t queue = c->ceil / 8 / (1000 / RECONCILE_HTB_QUEUE_MS);
    int error;

    if (known && !memcmp(known, c, sizeof *c)
        && reconcile_has_minor(existing, n, minor)) {
        return 0;
    }
    error = nl_htb_class_set(ifindex, major, parent, minor, c);
    if (error) {
        return error;
    }
    queue = MAX(queue, RECONCILE_HTB_MIN_QUEUE);
    return nl_htb_leaf_set(ifindex, major, minor, MIN(queue, UINT32_MAX));
}

/* The class that shapes 'qos' on an uplink of 'uplink' bits/s. */
static struct nl_htb_class
reconcile_port_class(const struct state_qos *qos, uint64_t uplink)
{
    struct nl_htb_class c = {.prio = qos->egress_priority};

    c.rate = qos->egress_min_rate ? qos->egress_min_rate : RECONCILE_HTB_FLOOR;
    if (qos->egress_rate && c.rate > qos->egress_rate) {
        c.rate = qos->egress_rate;
    }
    c.ceil = qos->egress_rate ? qos->egress_rate : uplink;
    if (c.ceil < c.rate) {
        c.ceil = c.rate;
    }
    return c;
}

/* Makes the underlay device 'ifindex' (0: not there yet) have the HTB
 * hierarchy above when a port of 's' is shaped, with one class per shaped
 * port whose device is there ('links'), and stores each port's minor in
 * 'links' (0 for none).  Classes are changed in place, never re-created,
 * so flows go on through a change; classes of ports that are gone are
 * deleted, and so is the qdisc once no port is shaped.  A port keeps its
 * minor across runs; the first run takes them from 'qos', the datapath's
 * DP_QOS table, so that a restarted agent keeps them too.  Sets
 * '*installed' to whether the HTB is the underlay's root qdisc: when it is
 * needed but cannot be had, the caller falls back to pacing or policing.
 * Returns 0, or a positive errno if a class could not be set or deleted
 * (that port is then not shaped). */
static int
reconcile_htb(struct reconciler *rc, const struct state *s, uint32_t ifindex,
              struct reconcile_link *links, const struct reconcile_table *qos,
              bool *installed)
{
    struct reconcile_class *classes;
    struct nl_htb_class c;
    uint16_t *existing;
    size_t n = 0, n_existing = 0;
    uint64_t uplink;
    int error = 0;
    int e;

    for (size_t i = 0; i < s->n_ports; i++) {
        links[i].htb_minor = 0;
        n += links[i].ifindex && state_qos_is_shaped(&s->ports[i].qos);
    }
    *installed = false;
    if (!ifindex) {
        return 0;
    }
    if (!n) {
        error = nl_htb_remove(ifindex, DP_QOS_HTB_MAJOR);
        if (error) {
            LOG_WARN("%s: cannot remove the HTB qdisc: %s", s->host.underlay,
                     strerror(error));
        }
        free(rc->classes);
        rc->classes = NULL;
        rc->n_classes = 0;
        rc->classes_known = !error;
        return error;
    }

    if (!rc->classes_known && !rc->n_classes) {
        /* Minors of the last agent, from the datapath. */
        free(rc->classes);
        rc->classes = xcalloc(qos->n, sizeof *rc->classes);
        for (size_t i = 0; i < qos->n; i++) {
            const struct dp_qos_key *k = reconcile_table_key(qos, i);
            const struct dp_qos *v = reconcile_table_value(qos, i);

            if ((v->flags & DP_QOS_EGRESS_HTB) && v->htb_minor
                && v->htb_minor < RECONCILE_HTB_MAX_MINOR
                && v->htb_minor != RECONCILE_HTB_DEFAULT) {
                rc->classes[rc->n_classes].ifindex = k->ifindex;
                rc->classes[rc->n_classes++].minor = v->htb_minor;
            }
        }
    }

    /* Rates are what VMs send, as the port counters and policers
     * count it: not the VXLAN headers the underlay adds. */
    error = nl_htb_ensure(ifindex, DP_QOS_HTB_MAJOR, RECONCILE_HTB_DEFAULT,
                          -STATE_VXLAN_OVERHEAD);
    if (error) {
        if (error != rc->htb_error) {
            LOG_WARN("%s: cannot install the HTB qdisc: %s; egress is not "
                     "shaped and guarantees and priorities do not apply",
                     s->host.underlay, strerror(error));
        }
        rc->htb_error = error;
        rc->classes_known = false;
        return 0;
    }
    *installed = true;
    if (rc->htb_error) {
        LOG_INFO("%s: HTB qdisc installed: egress is shaped",
                 s->host.underlay);
    }
    rc->htb_error = 0;

    existing = xcalloc(RECONCILE_HTB_MAX_CLASSES, sizeof *existing);
    error = nl_htb_class_list(ifindex, DP_QOS_HTB_MAJOR, existing,
                              RECONCILE_HTB_MAX_CLASSES, &n_existing);
    if (error) {
        /* Set every class; stale ones stay until a later run. */
        LOG_WARN("%s: cannot list the HTB classes: %s", s->host.underlay,
                 strerror(error));
        n_existing = 0;
    }

    /* Minors: the ones the ports had, then the lowest free ones. */
    classes = xcalloc(n, sizeof *classes);
    n = 0;
    for (size_t i = 0; i < s->n_ports; i++) {
        const struct reconcile_class *old;

        if (!links[i].ifindex || !state_qos_is_shaped(&s->ports[i].qos)) {
            continue;
        }
        old =
            reconcile_find_class(rc->classes, rc->n_classes, links[i].ifindex);
        if (old) {
            classes[n++] = *old;
        }
    }
    for (size_t i = 0; i < s->n_ports; i++) {
        if (!links[i].ifindex || !state_qos_is_shaped(&s->ports[i].qos)
            || reconcile_find_class(classes, n, links[i].ifindex)) {
            continue;
        }
        classes[n].ifindex = links[i].ifindex;
        classes[n].minor = reconcile_free_minor(classes, n);
        memset(&classes[n].c, 0, sizeof classes[n].c);
        n++;
    }

    uplink = state_uplink_rate(s, reconcile_link_speed(s->host.underlay));
    c = (struct nl_htb_class){.rate = uplink, .ceil = uplink};
    e = nl_htb_class_set(ifindex, DP_QOS_HTB_MAJOR, 0, RECONCILE_HTB_ROOT, &c);
    error = error ? error : e;
    c.rate = MAX(uplink / 100, RECONCILE_HTB_FLOOR);
    c.rate = MIN(c.rate, uplink);
    c.prio = STATE_DEFAULT_PRIORITY;
    e = nl_htb_class_set(ifindex, DP_QOS_HTB_MAJOR, RECONCILE_HTB_ROOT,
                         RECONCILE_HTB_DEFAULT, &c);
    error = error ? error : e;
    for (size_t i = 0; i < s->n_ports; i++) {
        struct reconcile_class *cl;
        const struct reconcile_class *old;

        if (!links[i].ifindex || !state_qos_is_shaped(&s->ports[i].qos)) {
            continue;
        }
        cl = reconcile_find_class(classes, n, links[i].ifindex);
        old =
            reconcile_find_class(rc->classes, rc->n_classes, links[i].ifindex);
        c = reconcile_port_class(&s->ports[i].qos, uplink);
        e = reconcile_class_set(
            ifindex, DP_QOS_HTB_MAJOR, RECONCILE_HTB_ROOT, cl->minor, &c,
            old && rc->classes_known ? &old->c : NULL, existing, n_existing);
        if (e) {
            LOG_WARN("port \"%s\": cannot set HTB class %x:%x on %s: %s",
                     s->ports[i].name, DP_QOS_HTB_MAJOR, cl->minor,
                     s->host.underlay, strerror(e));
            error = error ? error : e;
            continue;
        }
        cl->c = c;
        links[i].htb_minor = cl->minor;
    }
    for (size_t i = 0; i < n_existing; i++) {
        uint16_t minor = existing[i];

        if (minor != RECONCILE_HTB_ROOT && minor != RECONCILE_HTB_DEFAULT
            && !reconcile_find_minor(classes, n, minor)) {
            e = nl_htb_class_del(ifindex, DP_QOS_HTB_MAJOR, minor);
            error = error ? error : e;
        }
    }
    free(existing);
    free(rc->classes);
    rc->classes = classes;
    rc->n_classes = n;
    rc->classes_known = !error;
    return error;
}

/* The one class of the HTB qdisc that shapes what a port receives, on its
 * device:
 *
 *   qdisc fab1:  (every packet to class fab1:1)
 *     class fab1:1  rate = ceil = the ingress rate, burst the ingress
 *                   burst, bfifo of RECONCILE_HTB_QUEUE_MS at the rate */
#define RECONCILE_INGRESS_CLASS 1

/* Makes every port of 's' that has an ingress rate and whose device is
 * there ('links') have the HTB qdisc above on its device, and sets
 * 'links[i].ingress_htb' for those that have it; a port whose qdisc cannot
 * be set is policed instead, and tried again on the next run.  Takes the
 * qdisc off ports that the last run shaped and that have no ingress rate
 * any more (on the first run, those the datapath's DP_QOS table 'qos' says
 * were shaped).  Queues, classes and flows stay when only the rate or the
 * burst changes.  A qdisc that someone removes by hand is put back only
 * when the port's limit changes. */
static void
reconcile_ingress_htb(struct reconciler *rc, const struct state *s,
                      struct reconcile_link *links,
                      const struct reconcile_table *qos)
{
    struct reconcile_class *shaped = xcalloc(s->n_ports, sizeof *shaped);
    size_t n = 0;
    int error = 0;

    if (!rc->ingress_known) {
        free(rc->ingress);
        rc->ingress = xcalloc(qos->n, sizeof *rc->ingress);
        rc->n_ingress = 0;
        for (size_t i = 0; i < qos->n; i++) {
            const struct dp_qos_key *k = reconcile_table_key(qos, i);
            const struct dp_qos *v = reconcile_table_value(qos, i);

            if (v->flags & DP_QOS_INGRESS_HTB) {
                rc->ingress[rc->n_ingress++].ifindex = k->ifindex;
            }
        }
        rc->ingress_known = true;
    }
    for (size_t i = 0; i < s->n_ports; i++) {
        const struct state_qos *q = &s->ports[i].qos;
        struct nl_htb_class c = {.rate = q->ingress_rate,
                                 .ceil = q->ingress_rate,
                                 .burst = q->ingress_burst};
        const struct reconcile_class *old;
        int e = 0;

        links[i].ingress_htb = false;
        if (!links[i].ifindex || !q->ingress_rate) {
            continue;
        }
        old =
            reconcile_find_class(rc->ingress, rc->n_ingress, links[i].ifindex);
        if (!old || memcmp(&old->c, &c, sizeof c)) {
            e = nl_htb_ensure(links[i].ifindex, DP_QOS_INGRESS_HTB_MAJOR,
                              RECONCILE_INGRESS_CLASS, 0);
            if (!e) {
                e = reconcile_class_set(
                    links[i].ifindex, DP_QOS_INGRESS_HTB_MAJOR, 0,
                    RECONCILE_INGRESS_CLASS, &c, NULL, NULL, 0);
            }
        }
        if (e) {
            if (e != rc->ingress_error) {
                LOG_WARN("port \"%s\": cannot shape what it receives with "
                         "an HTB qdisc on %s: %s; it is policed instead",
                         s->ports[i].name, s->ports[i].device, strerror(e));
            }
            error = e;
            continue;
        }
        shaped[n].ifindex = links[i].ifindex;
        shaped[n++].c = c;
        links[i].ingress_htb = true;
    }
    rc->ingress_error = error;
    for (size_t i = 0; i < rc->n_ingress; i++) {
        uint32_t ifindex = rc->ingress[i].ifindex;
        int e;

        if (reconcile_find_class(shaped, n, ifindex)) {
            continue;
        }
        e = nl_htb_remove(ifindex, DP_QOS_INGRESS_HTB_MAJOR);
        if (e && e != ENODEV) {
            LOG_WARN("device %u: cannot remove the HTB qdisc that "
                     "shaped a port's ingress: %s",
                     ifindex, strerror(e));
        }
    }
    free(rc->ingress);
    rc->ingress = shaped;
    rc->n_ingress = n;
}

/* Makes sure the fq qdisc is the root of the underlay device 'ifindex' (0:
 * not there yet) when a port of 's' has an egress rate: the fast path paces
 * such a port's packets by giving them departure times, and only fq holds
 * packets until then.  An fq already there, or put there by hand, is left
 * alone; none is removed when no port needs it any more.  Returns false if
 * fq is needed but cannot be had (a kernel without sch_fq, say): the
 * caller then has egress limits policed instead. */
static bool
reconcile_fq(struct reconciler *rc, const struct state *s, uint32_t ifindex)
{
    int error;

    if (!ifindex) {
        return true;
    }
    for (size_t i = 0; i < s->n_ports; i++) {
        if (s->ports[i].qos.egress_rate) {
            error = nl_qdisc_ensure_fq(ifindex);
            if (error && error != rc->fq_error) {
                LOG_WARN("%s: cannot make fq the root qdisc: %s; egress "
                         "rate limits are policed instead of shaped",
                         s->host.underlay, strerror(error));
            } else if (!error && rc->fq_error) {
                LOG_INFO("%s: fq is the root qdisc: egress rate limits are "
                         "shaped",
                         s->host.underlay);
            }
            rc->fq_error = error;
            return !error;
        }
    }
    return true;
}

/* Makes every DP_QOS entry of 'tables' without an HTB class police egress
 * instead of pacing. */
static void
reconcile_police_egress(struct reconcile_tables *tables)
{
    struct reconcile_table *t = &tables->t[DP_QOS];

    for (size_t i = 0; i < t->n; i++) {
        struct dp_qos *qos = (struct dp_qos *) reconcile_table_value(t, i);

        if (!(qos->flags & DP_QOS_EGRESS_HTB)) {
            qos->flags |= DP_QOS_EGRESS_POLICE;
        }
    }
}

int
reconcile_run(struct reconciler *rc, const struct state *s)
{
    struct reconcile_tables desired, actual;
    struct reconcile_ops ops = {0};
    struct reconcile_nexthop *vteps;
    struct reconcile_link *rlinks;
    size_t counts[3] = {0};
    size_t n_vteps;
    struct nl_link underlay;
    struct nl_link *links;
    size_t n_pending = 0;
    char pending[64] = "";
    bool changed = false;
    bool htb = false;
    int error = 0;
    int e;

    reconcile_lookup(s->host.underlay, &underlay);
    if (underlay.ifindex) {
        struct state_errors errors;

        state_errors_init(&errors);
        if (state_check_mtus(s, underlay.mtu, &errors)) {
            for (size_t i = 0; i < errors.n; i++) {
                LOG_ERR("%s", errors.msgs[i]);
            }
            LOG_ERR("the desired state does not fit this host's underlay: "
                    "nothing changed");
            state_errors_destroy(&errors);
            return EINVAL;
        }
    }

    links = xcalloc(s->n_ports, sizeof *links);
    rlinks = xcalloc(s->n_ports, sizeof *rlinks);
    for (size_t i = 0; i < s->n_ports; i++) {
        reconcile_lookup(s->ports[i].device, &links[i]);
        rlinks[i].ifindex = links[i].ifindex;
        rlinks[i].veth = !strcmp(links[i].kind, "veth");
        reconcile_report_device(rc, s->ports[i].name, s->ports[i].device,
                                links[i].ifindex, i);
        n_pending += !links[i].ifindex;
    }
    reconcile_report_device(rc, NULL, s->host.underlay, underlay.ifindex,
                            s->n_ports);
    reconcile_remember(rc, s, &underlay, links);

    vteps = reconcile_resolve_vteps(rc, s, underlay.ifindex != 0, &n_vteps);
    free(rc->vteps);
    rc->vteps = vteps;
    rc->n_vteps = n_vteps;

    reconcile_tables_init(&desired);
    reconcile_tables_init(&actual);
    error = reconcile_dump(rc->dp, &actual);
    if (error) {
        LOG_ERR("reading the datapath's tables: %s", strerror(error));
        goto out;
    }
    /* Shaped by HTB where it can be had; otherwise paced by fq, or
     * policed.  Under HTB, a port left without a class is policed: HTB
     * ignores departure times. */
    error = reconcile_htb(rc, s, underlay.ifindex, rlinks, &actual.t[DP_QOS],
                          &htb);
    reconcile_ingress_htb(rc, s, rlinks, &actual.t[DP_QOS]);
    fw_cidr_ids_seed(rc->cidr_ids, &actual.t[DP_POLICY_CIDRS]);
    reconcile_desired(s, underlay.mtu, rlinks, rc->cidr_ids, &desired);
    if (htb || !reconcile_fq(rc, s, underlay.ifindex)) {
        reconcile_police_egress(&desired);
    }
    reconcile_desired_nexthops(vteps, n_vteps, &actual.t[DP_NEXTHOPS],
                               &desired);
    reconcile_diff(&desired, &actual, &ops);

    if (underlay.ifindex) {
        e = reconcile_config(rc, s, underlay.ifindex, &changed);
        error = error ? error : e;
    }
    for (size_t i = 0; i < ops.n; i++) {
        if (ops.ops[i].type != RECONCILE_DEL) {
            e = reconcile_apply(rc, &ops.ops[i]);

            counts[ops.ops[i].type] += !e;
            error = error ? error : e;
        }
        rc->fw_changed |= reconcile_is_fw_table(ops.ops[i].table);
    }
    e = reconcile_port_devices(s, underlay.mtu, links);
    error = error ? error : e;
    for (size_t i = 0; i < ops.n; i++) {
        if (ops.ops[i].type == RECONCILE_DEL) {
            e = reconcile_apply(rc, &ops.ops[i]);

            counts[RECONCILE_DEL] += !e;
            error = error ? error : e;
        }
    }
    changed = changed || counts[RECONCILE_ADD] || counts[RECONCILE_MODIFY]
              || counts[RECONCILE_DEL];
    if (n_pending) {
        snprintf(pending, sizeof pending, ", %zu port%s pending", n_pending,
                 n_pending == 1 ? "" : "s");
    }
    /* A run that changed nothing is news only the first time. */
    log_msg(changed || !rc->ran || error ? LOG_LEVEL_INFO : LOG_LEVEL_DBG,
            "reconciled: +%zu -%zu ~%zu entries%s%s", counts[RECONCILE_ADD],
            counts[RECONCILE_DEL], counts[RECONCILE_MODIFY], pending,
            error ? " (with errors; retrying)" : "");

out:
    rc->ran = true;
    rc->failed = error != 0;
    reconcile_ops_destroy(&ops);
    reconcile_tables_destroy(&desired);
    reconcile_tables_destroy(&actual);
    free(rlinks);
    free(links);
    return error;
}

bool
reconcile_take_fw_changed(struct reconciler *rc)
{
    bool changed = rc->fw_changed;

    rc->fw_changed = false;
    return changed;
}

bool
reconcile_poll(struct reconciler *rc)
{
    struct if_nameindex *ifs;
    bool changed = false;

    if (rc->failed) {
        return true;
    }
    ifs = if_nameindex();
    if (!ifs) {
        return false;
    }
    for (size_t i = 0; i < rc->n_devices && !changed; i++) {
        const struct reconcile_device *d = &rc->devices[i];
        uint32_t ifindex = 0;

        for (const struct if_nameindex *p = ifs; p->if_index; p++) {
            if (!strcmp(p->if_name, d->name)) {
                ifindex = p->if_index;
                break;
            }
        }
        changed = ifindex != d->ifindex;
    }
    if_freenameindex(ifs);

    /* Next hops are looked up only while the underlay is there. */
    if (rc->n_devices && rc->devices[rc->n_devices - 1].ifindex) {
        for (size_t i = 0; i < rc->n_vteps && !changed; i++) {
            struct reconcile_nexthop nh;

            reconcile_lookup_nexthop(rc->vteps[i].vtep, &nh);
            /* Whether the VTEP takes VXLAN-GBP comes from the document,
             * not from the kernel: only the route may have changed. */
            nh.hop.flags = rc->vteps[i].hop.flags;
            changed = !nexthops_equal(&nh, &rc->vteps[i]);
        }
    }
    return changed;
}
