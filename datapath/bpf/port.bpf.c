/* tc ingress on the host side of every VM port: everything a VM sends
 * enters the fabric here.
 *
 *   parse -> port security -> MTU -> ARP responder -> DSCP marking
 *         -> L2 lookup in the VNI
 *         -> egress policy
 *         -> local port (policed) | VXLAN to the remote VTEP (HTB class,
 *            else paced or policed) | flood list (likewise) */
#include "datapath/bpf/arp.h"
#include "datapath/bpf/common.h"
#include "datapath/bpf/deliver.h"
#include "datapath/bpf/encap.h"
#include "datapath/bpf/flood.h"
#include "datapath/bpf/port-security.h"
#include "datapath/bpf/qos.h"
#include "datapath/bpf/stats.h"
#include "packet/parse.h"

SEC("tc")
int
fab_port_ingress(struct __sk_buff *skb)
{
    struct dp_port_key key = {.ifindex = skb->ifindex};
    struct fab_port_entry *entry;
    struct fab_qos_entry *qos;
    enum dp_drop_reason reason;
    struct dp_fdb_key fdb_key = {};
    struct dp_fdb_entry *fdb;
    struct pkt_info info;
    struct dp_port *port;
    void *data, *end;
    __u32 slot;
    int rc;

    entry = bpf_map_lookup_elem(&fab_ports, &key);
    if (!entry) {
        return fab_drop(FAB_SLOT_UNKNOWN, DP_DROP_NO_PORT);
    }
    port = &entry->port;
    slot = entry->stats_slot;
    fab_count_rx(slot, skb->len);

    fab_pull_headers(skb);
    data = fab_data(skb);
    end = fab_data_end(skb);
    if (pkt_parse_frame(data, end, &info) < 0
        || info.l3_off != sizeof(struct pkt_eth) || skb->vlan_present) {
        /* VM ports are access ports: a tagged frame is malformed. */
        return fab_drop(slot, DP_DROP_MALFORMED);
    }
    if (fab_truncated(skb, &info, 0)) {
        return fab_drop(slot, DP_DROP_MALFORMED);
    }
    if (port->flags & DP_PORT_SECURITY) {
        reason = fab_port_security(port, &info, data, end);
        if (reason != DP_DROP_N_REASONS) {
            return fab_drop(slot, reason);
        }
    }
    if (fab_oversize(skb, &info, port->mtu)) {
        return fab_drop(slot, DP_DROP_OVERSIZE);
    }
    if (info.l3_proto == PKT_ETH_P_ARP) {
        rc = fab_arp_respond(skb, entry, &info);
        if (rc >= 0) {
            return rc;
        }
    }

    qos = fab_qos_of(key.ifindex);
    if (qos) {
        fab_qos_mark(skb, qos, &info);
    }

    if (pkt_mac_is_multicast(info.dst_mac)) {
        reason = fab_qos_egress(skb, qos, true);
        if (reason != DP_DROP_N_REASONS) {
            return fab_drop(slot, reason);
        }
        return fab_flood(skb, key.ifindex, slot, &info, port->vni, false);
    }
    fdb_key.vni = port->vni;
    pkt_copy_mac(fdb_key.mac, info.dst_mac);
    fdb = bpf_map_lookup_elem(&fab_fdb, &fdb_key);
    if (!fdb) {
        reason = fab_qos_egress(skb, qos, true);
        if (reason != DP_DROP_N_REASONS) {
            return fab_drop(slot, reason);
        }
        return fab_flood(skb, key.ifindex, slot, &info, port->vni, false);
    }
    if (fdb->ifindex) {
        reason = fab_qos_egress(skb, qos, false);
        if (reason != DP_DROP_N_REASONS) {
            return fab_drop(slot, reason);
        }
        return fab_deliver_local(skb, slot, fdb->ifindex, port->vni, true);
    }
    reason = fab_qos_egress(skb, qos, true);
    if (reason != DP_DROP_N_REASONS) {
        return fab_drop(slot, reason);
    }
    return fab_encap_send(skb, slot, &info, port->vni, fdb->vtep);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
