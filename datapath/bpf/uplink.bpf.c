/* tc ingress on the host's underlay device: VXLAN addressed to our VTEP is
 * decapsulated and delivered to local ports of its VNI; everything else goes
 * to the host stack untouched.
 *
 *   classify -> VNI check -> parse inner -> decap -> local port | flood */
#include "datapath/bpf/common.h"
#include "datapath/bpf/deliver.h"
#include "datapath/bpf/flood.h"
#include "datapath/bpf/port-security.h"
#include "datapath/bpf/stats.h"
#include "packet/parse.h"
#include "vxlan/vxlan.h"

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
    return bpf_skb_store_bytes(skb, 0, &eth, sizeof eth, 0) ? -1 : 0;
}

SEC("tc")
int
fab_uplink_ingress(struct __sk_buff *skb)
{
    __u32 ifindex = skb->ifindex;
    struct dp_network_key net_key = {};
    struct dp_fdb_key fdb_key = {};
    struct vxlan_decap_info d = {};
    struct dp_fdb_entry *fdb;
    struct dp_config *cfg;
    struct pkt_info inner;
    enum vxlan_classify kind;
    void *data, *end;
    __u32 zero = 0;

    cfg = bpf_map_lookup_elem(&fab_config, &zero);
    if (!cfg || !cfg->vtep_ip) {
        return TC_ACT_OK;
    }
    fab_pull_headers(skb);
    data = fab_data(skb);
    end = fab_data_end(skb);
    kind = vxlan_classify(data, end, skb->len, cfg->vtep_ip, &d);
    if (kind == VXLAN_NOT_OURS) {
        return TC_ACT_OK;
    }
    fab_count_rx(FAB_SLOT_UNDERLAY, skb->len);
    if (kind != VXLAN_OK) {
        return fab_drop(FAB_SLOT_UNDERLAY, DP_DROP_BAD_VXLAN);
    }
    net_key.vni = d.vni;
    if (!bpf_map_lookup_elem(&fab_networks, &net_key)) {
        return fab_drop(FAB_SLOT_UNDERLAY, DP_DROP_UNKNOWN_VNI);
    }
    if (d.inner_off > FAB_PULL_LEN) {
        return fab_drop(FAB_SLOT_UNDERLAY, DP_DROP_BAD_VXLAN);
    }
    if (pkt_parse_frame(data + d.inner_off, end, &inner) < 0
        || inner.l3_off != sizeof(struct pkt_eth)
        || fab_truncated(skb, &inner, d.inner_off)) {
        return fab_drop(FAB_SLOT_UNDERLAY, DP_DROP_MALFORMED);
    }
    if (fab_decap(skb, &inner) < 0) {
        return fab_drop(FAB_SLOT_UNDERLAY, DP_DROP_DECAP_FAILED);
    }

    if (pkt_mac_is_multicast(inner.dst_mac)) {
        return fab_flood(skb, ifindex, FAB_SLOT_UNDERLAY, &inner, d.vni, true);
    }
    fdb_key.vni = d.vni;
    pkt_copy_mac(fdb_key.mac, inner.dst_mac);
    fdb = bpf_map_lookup_elem(&fab_fdb, &fdb_key);
    if (!fdb) {
        return fab_flood(skb, ifindex, FAB_SLOT_UNDERLAY, &inner, d.vni, true);
    }
    if (!fdb->ifindex) {
        /* Never forward underlay to underlay. */
        return fab_drop(FAB_SLOT_UNDERLAY, DP_DROP_NO_DEST);
    }
    return fab_deliver_local(skb, FAB_SLOT_UNDERLAY, fdb->ifindex, d.vni,
                             fab_is_ip(&inner));
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
