/* tc ingress on the host's underlay device: VXLAN addressed to our VTEP is
 * decapsulated and delivered to local ports of its VNI; everything else goes
 * to the host stack untouched.
 *
 *   classify -> sender is a fabric host, or an external VTEP of the VNI ->
 *     parse inner -> ECN (RFC 6040) -> L2 lookup in the VNI (a miss: is the
 *     VNI known?) -> firewall (conntrack, then ingress policy) -> decap ->
 *     local port | flood
 *   | a MAC that has just moved on (DP_FDB_FORWARD): on to its new host */
#include "datapath/bpf/common.h"
#include "datapath/bpf/deliver.h"
#include "datapath/bpf/encap.h"
#include "datapath/bpf/firewall.h"
#include "datapath/bpf/flood.h"
#include "datapath/bpf/index.h"
#include "datapath/bpf/port-security.h"
#include "datapath/bpf/stats.h"
#include "packet/parse.h"
#include "vxlan/vxlan.h"

/* Returns the DP_VTEPS entry that lets VTEP 'src' send in 'vni': its own as
 * a fabric host, or else its entry as an external VTEP of that network; or
 * NULL if it may not. */
static __always_inline const struct dp_vtep *
fab_vtep_find(__be32 src, __u32 vni)
{
    struct dp_vtep_key key = {.vtep = src};
    const struct dp_vtep *v = bpf_map_lookup_elem(&fab_vteps, &key);

    if (v && !(v->flags & DP_VTEP_EXTERNAL)) {
        return v;
    }
    key.vni = vni;
    return bpf_map_lookup_elem(&fab_vteps, &key);
}

/* Carries the congestion mark of the outer header, of TOS 'outer_tos', onto
 * the inner IP header that 'inner' describes, at 'l3' in the frame that
 * ends at 'end', per RFC 6040 (vxlan/ecn.h), and keeps 'inner' in step.
 * Returns DP_DROP_N_REASONS, or DP_DROP_ECN_NOT_ECT for outer CE over an
 * inner header that is not ECN-capable. */
static __always_inline enum dp_drop_reason
fab_ecn_decap(void *l3, void *end, __u8 outer_tos, struct pkt_info *inner)
{
    int ecn = vxlan_ecn_decap(outer_tos, inner->tos);

    if (ecn == VXLAN_ECN_DROP) {
        return DP_DROP_ECN_NOT_ECT;
    }
    if (ecn == (inner->tos & VXLAN_ECN_MASK)) {
        return DP_DROP_N_REASONS;
    }
    if (inner->l3_proto == PKT_ETH_P_IPV4) {
        if (l3 + sizeof(struct pkt_ipv4) > end) {
            return DP_DROP_MALFORMED;
        }
        vxlan_ipv4_set_ecn(l3, ecn);
    } else {
        if (l3 + sizeof(struct pkt_ipv6) > end) {
            return DP_DROP_MALFORMED;
        }
        vxlan_ipv6_set_ecn(l3, ecn);
    }
    inner->tos = (inner->tos & ~VXLAN_ECN_MASK) | ecn;
    return DP_DROP_N_REASONS;
}

/* Strips the outer headers so the frame starts at the inner Ethernet
 * header, and tells the kernel the new L3 protocol. */
static __always_inline int
fab_decap(struct __sk_buff *skb, const struct pkt_info *inner)
{
    struct pkt_eth eth = {};
    __u64 flags = BPF_F_ADJ_ROOM_FIXED_GSO;

    pkt_copy_mac(eth.dst, inner->dst_mac);
    pkt_copy_mac(eth.src, inner->src_mac);
    eth.type = bpf_htons(inner->l3_proto);
    if (inner->l3_proto == PKT_ETH_P_IPV4) {
        flags |= BPF_F_ADJ_ROOM_DECAP_L3_IPV4;
    } else if (inner->l3_proto == PKT_ETH_P_IPV6) {
        flags |= BPF_F_ADJ_ROOM_DECAP_L3_IPV6;
    }
    if (bpf_skb_adjust_room(skb, -VXLAN_OVERHEAD, BPF_ADJ_ROOM_MAC, flags)) {
        return -1;
    }
    /* Shrinking unclones the skb, so the header is ours to write. */
    return fab_store_head(skb, &eth, sizeof eth) ? -1 : 0;
}

/* Strips the outer headers and delivers the inner frame, which 'inner'
 * describes, to the local port on 'ifindex' (see fab_deliver()). */
static __always_inline int
fab_uplink_deliver(struct __sk_buff *skb, const struct pkt_info *inner,
                   __u32 ifindex, __u32 dst_slot, __u32 dst_flags,
                   bool dst_has_qos)
{
    if (fab_decap(skb, inner) < 0) {
        return fab_drop(skb, FAB_SLOT_UNDERLAY, DP_DROP_DECAP_FAILED);
    }
    return fab_deliver(skb, FAB_SLOT_UNDERLAY, ifindex, dst_slot, dst_flags,
                       dst_has_qos, fab_is_ip(inner));
}

SEC("tc")
int
fab_uplink_ingress(struct __sk_buff *skb)
{
    __u32 ifindex = skb->ifindex;
    struct dp_network_key net_key = {};
    struct dp_fdb_key fdb_key = {};
    struct vxlan_decap_info d = {};
    const struct fab_port_entry *dst;
    const struct dp_vtep *vtep;
    enum dp_drop_reason reason;
    const struct fab_fdb_entry *fdb;
    __u32 dst_ifindex;
    struct dp_config *cfg;
    struct fab_pkt_scratch *tmp = fab_pkt_scratch_get();
    struct pkt_info *inner;
    enum vxlan_classify kind;
    void *data, *end;
    __u32 zero = 0;

    cfg = bpf_map_lookup_elem(&fab_config, &zero);
    if (!cfg || !cfg->vtep_ip || !tmp) {
        return TC_ACT_OK;
    }
    inner = &tmp->info;
    fab_pull_headers(skb);
    data = fab_data(skb);
    end = fab_data_end(skb);
    kind = vxlan_classify(data, end, skb->len, cfg->vtep_ip, &d);
    if (kind == VXLAN_NOT_OURS) {
        return TC_ACT_OK;
    }
    fab_count_rx(FAB_SLOT_UNDERLAY, skb->len);
    if (kind != VXLAN_OK) {
        return fab_drop(skb, FAB_SLOT_UNDERLAY, DP_DROP_BAD_VXLAN);
    }
    vtep = fab_vtep_find(d.src_ip, d.vni);
    if (!vtep) {
        /* Only fabric hosts may claim any VNI and a group identity, and
         * an external VTEP only the networks it joined. */
        return fab_drop(skb, FAB_SLOT_UNDERLAY, DP_DROP_FOREIGN_VTEP);
    }
    if (vtep->flags & DP_VTEP_EXTERNAL) {
        d.group = 0;
    }
    if (d.inner_off > FAB_PULL_LEN) {
        return fab_drop(skb, FAB_SLOT_UNDERLAY, DP_DROP_BAD_VXLAN);
    }
    if (pkt_parse_frame(data + d.inner_off, end, inner) < 0
        || inner->l3_off != sizeof(struct pkt_eth)
        || fab_truncated(skb, inner, d.inner_off)) {
        return fab_drop(skb, FAB_SLOT_UNDERLAY, DP_DROP_MALFORMED);
    }
    if (fab_is_ip(inner)) {
        reason = fab_ecn_decap(data + d.inner_off + sizeof(struct pkt_eth),
                               end, d.tos, inner);
        if (reason != DP_DROP_N_REASONS) {
            return fab_drop(skb, FAB_SLOT_UNDERLAY, reason);
        }
    }

    fdb = NULL;
    if (!pkt_mac_is_multicast(inner->dst_mac)) {
        fdb_key.vni = d.vni;
        pkt_copy_mac(fdb_key.mac, inner->dst_mac);
        fdb = fab_fdb_find(&fdb_key);
    }
    if (!fdb) {
        /* An FDB entry exists only in a known network, so only the frames
         * without one pay for this lookup. */
        net_key.vni = d.vni;
        if (!bpf_map_lookup_elem(&fab_networks, &net_key)) {
            return fab_drop(skb, FAB_SLOT_UNDERLAY, DP_DROP_UNKNOWN_VNI);
        }
        if (fab_decap(skb, inner) < 0) {
            return fab_drop(skb, FAB_SLOT_UNDERLAY, DP_DROP_DECAP_FAILED);
        }
        if (fab_is_ip(inner)) {
            /* Each copy meets the firewall, in the flood stage. */
            __builtin_memset(&tmp->fw, 0, sizeof tmp->fw);
            tmp->fw.vni = d.vni;
            tmp->fw.src_slot = FAB_SLOT_UNDERLAY;
            tmp->fw.src_identity = d.group;
            tmp->fw.src_external = vtep->flags & DP_VTEP_EXTERNAL;
            bpf_tail_call(skb, &fab_fw_stages, FAB_STAGE_UPLINK_FLOOD);
            /* Only a missing stage gets here: never let traffic past it. */
            return fab_drop(skb, FAB_SLOT_UNDERLAY, DP_DROP_NO_STAGE);
        }
        return fab_flood(skb, ifindex, FAB_SLOT_UNDERLAY, inner, d.vni,
                         d.group, 0, false, true, false);
    }
    if (!fdb->fdb.ifindex) {
        if (!(fdb->fdb.flags & DP_FDB_FORWARD)) {
            /* Never forward underlay to underlay (split horizon)... */
            return fab_drop(skb, FAB_SLOT_UNDERLAY, DP_DROP_NO_DEST);
        }
        /* ...but for a MAC that has just moved on, only from a fabric
         * host, and never to ourselves.  Back to the sender it goes too:
         * a VM on the destination still sends to the migrating VM here
         * (its entry standby to us) until the activation, and the
         * destination delivers what we send back to the standby port. */
        if ((vtep->flags & DP_VTEP_EXTERNAL) || fdb->fdb.vtep == cfg->vtep_ip
            || !fdb->fdb.vtep) {
            return fab_drop(skb, FAB_SLOT_UNDERLAY, DP_DROP_FORWARD_LOOP);
        }
        return fab_encap_forward(skb, cfg, fdb->fdb.vtep, fdb->nh_slot,
                                 fdb->fdb.vtep == d.src_ip);
    }
    dst_ifindex = fdb->fdb.ifindex;
    dst = fab_port_find(dst_ifindex);
    if (!dst) {
        return fab_drop(skb, FAB_SLOT_UNDERLAY, DP_DROP_NO_DEST);
    }
    if (dst->port.vni != d.vni) {
        return fab_drop(skb, FAB_SLOT_UNDERLAY, DP_DROP_VNI_MISMATCH);
    }
    if (fab_is_ip(inner) && fab_fw_wanted(dst->port.flags)) {
        struct fab_fw_args *fw = &tmp->fw;
        __u32 want = d.inner_off + FAB_PULL_LEN;

        __builtin_memset(fw, 0, sizeof *fw);
        fw->vni = d.vni;
        fw->frame_off = d.inner_off;
        fw->dst_ifindex = dst_ifindex;
        fw->src_slot = FAB_SLOT_UNDERLAY;
        fw->dst_slot = dst->stats_slot;
        fw->dst_flags = dst->port.flags;
        fw->src_identity = d.group;
        fw->dst_identity = dst->port.identity;
        fw->src_external = vtep->flags & DP_VTEP_EXTERNAL;
        if (!fab_fw_trackable(inner, &dst->port)) {
            fw->flags = FAB_FW_STATELESS;
        }
        tmp->dst_has_qos = dst->has_qos;
        /* ICMP errors quote headers past what the classifier needed. */
        if (want > skb->len) {
            want = skb->len;
        }
        if (fab_data(skb) + want > fab_data_end(skb)) {
            bpf_skb_pull_data(skb, want);
        }
        bpf_tail_call(skb, &fab_fw_stages, FAB_STAGE_UPLINK_FIREWALL);
        /* Only a missing stage gets here: never let traffic past it. */
        return fab_drop(skb, FAB_SLOT_UNDERLAY, DP_DROP_NO_STAGE);
    }
    return fab_uplink_deliver(skb, inner, dst_ifindex, dst->stats_slot,
                              dst->port.flags, dst->has_qos);
}

/* The firewall stage of the uplink program, tail-called from it (see
 * datapath/bpf/firewall.h): conntrack and ingress policy, then on to the
 * local port. */
SEC("tc")
int
fab_uplink_firewall(struct __sk_buff *skb)
{
    struct fab_pkt_scratch *tmp;
    int rc = fab_fw_stage(skb, &tmp);

    if (rc) {
        return rc;
    }
    return fab_uplink_deliver(skb, &tmp->info, tmp->fw.dst_ifindex,
                              tmp->fw.dst_slot, tmp->fw.dst_flags,
                              tmp->dst_has_qos);
}

/* The flood stage of the uplink program, tail-called from it for IP frames
 * to flood to local ports, already decapsulated. */
SEC("tc")
int
fab_uplink_flood(struct __sk_buff *skb)
{
    struct fab_pkt_scratch *tmp = fab_pkt_scratch_get();

    if (!tmp) {
        return fab_drop(skb, FAB_SLOT_UNDERLAY, DP_DROP_INTERNAL);
    }
    return fab_flood(skb, skb->ifindex, FAB_SLOT_UNDERLAY, &tmp->info,
                     tmp->fw.vni, tmp->fw.src_identity, 0,
                     tmp->fw.src_external, true, true);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
