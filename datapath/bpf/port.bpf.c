/* tc ingress on the host side of every VM port: everything a VM sends
 * enters the fabric here.
 *
 *   parse -> port security -> MTU -> standby activation -> DHCP punt
 *         -> ARP responder
 *         -> DSCP marking
 *         -> L2 lookup in the VNI (a MAC on its way here: still remote)
 *         -> firewall (conntrack, then egress and local ingress policy)
 *         -> egress QoS
 *         -> local port (policed) | VXLAN to the remote VTEP (HTB class,
 *            else paced or policed) | flood list (likewise) */
#include "datapath/bpf/arp.h"
#include "datapath/bpf/common.h"
#include "datapath/bpf/deliver.h"
#include "datapath/bpf/encap.h"
#include "datapath/bpf/firewall.h"
#include "datapath/bpf/flood.h"
#include "datapath/bpf/index.h"
#include "datapath/bpf/port-security.h"
#include "datapath/bpf/punt.h"
#include "datapath/bpf/qos.h"
#include "datapath/bpf/stats.h"
#include "packet/parse.h"

/* For the firewall stage: sends the frame that 'tmp' describes, from the
 * port whose QoS entry is 'qos' (or NULL), to the local port in 'tmp' if
 * there is one, else to the remote VTEP there, and returns the tc
 * verdict. */
static __always_inline int
fab_port_forward(struct __sk_buff *skb, struct fab_pkt_scratch *tmp,
                 struct fab_qos_entry *qos)
{
    const struct fab_fw_args *fw = &tmp->fw;
    enum dp_drop_reason reason;

    reason = fab_qos_egress(skb, qos, !fw->dst_ifindex);
    if (reason != DP_DROP_N_REASONS) {
        return fab_drop(skb, fw->src_slot, reason);
    }
    if (fw->dst_ifindex) {
        return fab_deliver(skb, fw->src_slot, fw->dst_ifindex, fw->dst_slot,
                           tmp->dst_port_flags, tmp->dst_has_qos, true);
    }
    return fab_encap_send(skb, fw->src_slot, &tmp->info, fw->vni,
                          fw->src_identity, tmp->vtep, tmp->nh_slot);
}

/* Copies the headers 'info' of a frame from the port 'src' on
 * 'src_ifindex' into the per-CPU scratch 'tmp' for a stage, with the
 * sender's half of the firewall's arguments, and returns those. */
static __always_inline struct fab_fw_args *
fab_port_stage_args(struct fab_pkt_scratch *tmp, const struct pkt_info *info,
                    const struct fab_port_entry *src, __u32 src_ifindex)
{
    struct fab_fw_args *fw = &tmp->fw;

    /* Parsed on the stack, where the common paths read it fastest. */
    tmp->info = *info;
    __builtin_memset(fw, 0, sizeof *fw);
    fw->vni = src->port.vni;
    fw->src_ifindex = src_ifindex;
    fw->src_slot = src->stats_slot;
    fw->src_flags = src->port.flags;
    fw->src_identity = src->port.identity;
    return fw;
}

/* Hands the frame whose headers 'info' describes, from the port 'src' on
 * 'src_ifindex' (QoS entry 'qos' or NULL), to the firewall stage, bound
 * for the local port 'dst' on 'dst_ifindex' or, if NULL, for the remote
 * MAC whose FDB entry is 'remote'.  Returns the verdict if the stage cannot
 * be called. */
static __always_inline int
fab_port_to_firewall(struct __sk_buff *skb, const struct pkt_info *info,
                     const struct fab_port_entry *src, __u32 src_ifindex,
                     const struct fab_port_entry *dst, __u32 dst_ifindex,
                     const struct fab_fdb_entry *remote,
                     const struct fab_qos_entry *qos)
{
    struct fab_pkt_scratch *tmp = fab_pkt_scratch_get();
    struct fab_fw_args *fw;

    if (!tmp) {
        return fab_drop(skb, src->stats_slot, DP_DROP_INTERNAL);
    }
    fw = fab_port_stage_args(tmp, info, src, src_ifindex);
    if (dst) {
        fw->dst_ifindex = dst_ifindex;
        fw->dst_slot = dst->stats_slot;
        fw->dst_flags = dst->port.flags;
        fw->dst_identity = dst->port.identity;
        tmp->dst_port_flags = dst->port.flags;
        tmp->dst_has_qos = dst->has_qos;
    }
    if (!fab_fw_trackable(info, dst ? &dst->port : NULL)) {
        fw->flags = FAB_FW_STATELESS;
    }
    if (remote) {
        tmp->vtep = remote->fdb.vtep;
        tmp->nh_slot = remote->nh_slot;
    }
    tmp->has_qos = qos != NULL;
    bpf_tail_call(skb, &fab_fw_stages, FAB_STAGE_PORT_FIREWALL);
    /* Only a missing stage gets here: never let traffic past it. */
    return fab_drop(skb, src->stats_slot, DP_DROP_NO_STAGE);
}

/* Floods the frame that 'info' describes, from the port 'src' on
 * 'src_ifindex'.  An IP frame goes to the flood stage, where each copy
 * meets the firewall (datapath/bpf/flood.h) on a stack of its own; the
 * rest floods here. */
static __always_inline int
fab_port_flood_any(struct __sk_buff *skb, const struct pkt_info *info,
                   const struct fab_port_entry *src, __u32 src_ifindex)
{
    struct fab_pkt_scratch *tmp;

    if (!fab_is_ip(info)) {
        return fab_flood(skb, src_ifindex, src->stats_slot, info,
                         src->port.vni, src->port.identity, src->port.flags,
                         false, false, false);
    }
    tmp = fab_pkt_scratch_get();
    if (!tmp) {
        return fab_drop(skb, src->stats_slot, DP_DROP_INTERNAL);
    }
    fab_port_stage_args(tmp, info, src, src_ifindex);
    bpf_tail_call(skb, &fab_fw_stages, FAB_STAGE_PORT_FLOOD);
    /* Only a missing stage gets here: never let traffic past it. */
    return fab_drop(skb, src->stats_slot, DP_DROP_NO_STAGE);
}

SEC("tc")
int
fab_port_ingress(struct __sk_buff *skb)
{
    struct dp_port_key key = {.ifindex = skb->ifindex};
    const struct fab_port_entry *entry, *dst;
    struct fab_qos_entry *qos;
    enum dp_drop_reason reason;
    struct dp_fdb_key fdb_key = {};
    const struct fab_fdb_entry *fdb;
    struct pkt_info info_buf, *info = &info_buf;
    const struct dp_port *port;
    void *data, *end;
    __u32 slot;
    int rc;

    entry = fab_port_find(key.ifindex);
    if (!entry) {
        return fab_drop(skb, FAB_SLOT_UNKNOWN, DP_DROP_NO_PORT);
    }
    port = &entry->port;
    slot = entry->stats_slot;
    fab_count_rx(slot, skb->len);

    fab_pull_headers(skb);
    data = fab_data(skb);
    end = fab_data_end(skb);
    if (pkt_parse_frame(data, end, info) < 0
        || info->l3_off != sizeof(struct pkt_eth) || skb->vlan_present) {
        /* VM ports are access ports: a tagged frame is malformed. */
        return fab_drop(skb, slot, DP_DROP_MALFORMED);
    }
    if (fab_truncated(skb, info, 0)) {
        return fab_drop(skb, slot, DP_DROP_MALFORMED);
    }
    if (port->flags & DP_PORT_SECURITY) {
        reason = fab_port_security(port, info, data, end);
        if (reason == DP_DROP_N_REASONS
            && info->l4_proto == PKT_IPPROTO_ICMPV6) {
            reason = fab_nd_security(skb, port, info);
        }
        if (reason != DP_DROP_N_REASONS) {
            return fab_drop(skb, slot, reason);
        }
    }
    if (fab_oversize(skb, info, port->mtu)) {
        return fab_drop(skb, slot, DP_DROP_OVERSIZE);
    }
    if (port->flags & DP_PORT_STANDBY) {
        /* The VM runs here now: tell the agent, once, and go on. */
        fab_port_activate(skb, entry);
    }
    if (fab_is_dhcp_client(info)) {
        return fab_dhcp_punt(skb, entry, info);
    }
    if (info->l3_proto == PKT_ETH_P_ARP) {
        rc = fab_arp_respond(skb, entry, info);
        if (rc >= 0) {
            return rc;
        }
    }

    qos = entry->has_qos ? fab_qos_at(slot) : NULL;
    if (qos) {
        fab_qos_mark(skb, qos, info);
    }

    if (pkt_mac_is_multicast(info->dst_mac)) {
        reason = fab_qos_egress(skb, qos, true);
        if (reason != DP_DROP_N_REASONS) {
            return fab_drop(skb, slot, reason);
        }
        return fab_port_flood_any(skb, info, entry, key.ifindex);
    }
    fdb_key.vni = port->vni;
    pkt_copy_mac(fdb_key.mac, info->dst_mac);
    fdb = fab_fdb_find(&fdb_key);
    if (!fdb) {
        if (fab_to_dhcp_server(info)) {
            return fab_drop(skb, slot, DP_DROP_TO_DHCP_SERVER);
        }
        reason = fab_qos_egress(skb, qos, true);
        if (reason != DP_DROP_N_REASONS) {
            return fab_drop(skb, slot, reason);
        }
        return fab_port_flood_any(skb, info, entry, key.ifindex);
    }
    if (fdb->fdb.ifindex && !(fdb->fdb.flags & DP_FDB_STANDBY)) {
        __u32 dst_ifindex = fdb->fdb.ifindex;

        dst = fab_port_find(dst_ifindex);
        if (!dst) {
            return fab_drop(skb, slot, DP_DROP_NO_DEST);
        }
        if (dst->port.vni != port->vni) {
            return fab_drop(skb, slot, DP_DROP_VNI_MISMATCH);
        }
        if (fab_is_ip(info)
            && (fab_fw_wanted(port->flags)
                || fab_fw_wanted(dst->port.flags))) {
            return fab_port_to_firewall(skb, info, entry, key.ifindex, dst,
                                        dst_ifindex, NULL, qos);
        }
        reason = fab_qos_egress(skb, qos, false);
        if (reason != DP_DROP_N_REASONS) {
            return fab_drop(skb, slot, reason);
        }
        return fab_deliver(skb, slot, dst_ifindex, dst->stats_slot,
                           dst->port.flags, dst->has_qos, true);
    }
    if (fab_is_ip(info) && fab_fw_wanted(port->flags)) {
        return fab_port_to_firewall(skb, info, entry, key.ifindex, NULL, 0,
                                    fdb, qos);
    }
    reason = fab_qos_egress(skb, qos, true);
    if (reason != DP_DROP_N_REASONS) {
        return fab_drop(skb, slot, reason);
    }
    return fab_encap_send(skb, slot, info, port->vni, port->identity,
                          fdb->fdb.vtep, fdb->nh_slot);
}

/* The firewall stage of the port program, tail-called from it so that it
 * has a stack of its own: conntrack and policy, then on to the
 * destination. */
SEC("tc")
int
fab_port_firewall(struct __sk_buff *skb)
{
    struct fab_pkt_scratch *tmp;
    int rc = fab_fw_stage(skb, &tmp);

    if (rc) {
        return rc;
    }
    return fab_port_forward(
        skb, tmp, tmp->has_qos ? fab_qos_at(tmp->fw.src_slot) : NULL);
}

/* The flood stage of the port program, tail-called from it for IP frames
 * to flood (fab_port_flood_any()). */
SEC("tc")
int
fab_port_flood(struct __sk_buff *skb)
{
    struct fab_pkt_scratch *tmp = fab_pkt_scratch_get();

    if (!tmp) {
        return fab_drop(skb, FAB_SLOT_UNKNOWN, DP_DROP_INTERNAL);
    }
    return fab_flood(skb, tmp->fw.src_ifindex, tmp->fw.src_slot, &tmp->info,
                     tmp->fw.vni, tmp->fw.src_identity, tmp->fw.src_flags,
                     false, false, true);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
