/* The ARP responder: requests for IPv4 addresses the agent has bound in the
 * VNI are answered on the spot and never flooded. */
#ifndef DATAPATH_BPF_ARP_H
#define DATAPATH_BPF_ARP_H 1

#include "datapath/bpf/stats.h"
#include "packet/parse.h"

/* Turns the ARP request in 'skb' into the reply for the binding of its
 * target and sends it back out the port it came in by.  Returns the tc
 * verdict, or -1 if the request is not one to answer (no binding, or a
 * gratuitous ARP or probe, which must reach the other endpoints). */
static __always_inline int
fab_arp_respond(struct __sk_buff *skb, const struct fab_port_entry *entry,
                const struct pkt_info *info)
{
    struct dp_binding_key key = {.vni = entry->port.vni, .ip4 = info->dst4};
    void *data = fab_data(skb);
    void *end = fab_data_end(skb);
    struct dp_binding *binding;
    struct pkt_eth *eth = data;
    struct pkt_arp *arp;

    if (info->arp_op != PKT_ARP_OP_REQUEST || info->src4 == info->dst4
        || info->src4 == 0) {
        return -1;
    }
    binding = bpf_map_lookup_elem(&fab_bindings, &key);
    if (!binding) {
        return -1;
    }
    if (info->l3_off > FAB_PULL_LEN) {
        return -1;
    }
    arp = data + info->l3_off;
    if ((void *) (eth + 1) > end || (void *) (arp + 1) > end) {
        return -1;
    }
    pkt_copy_mac(eth->dst, info->src_mac);
    pkt_copy_mac(eth->src, binding->mac);
    arp->op = bpf_htons(PKT_ARP_OP_REPLY);
    pkt_copy_mac(arp->tha, info->src_mac);
    arp->tpa = info->src4;
    pkt_copy_mac(arp->sha, binding->mac);
    arp->spa = info->dst4;

    fab_count_tx(entry->stats_slot, skb->len);
    return bpf_redirect(skb->ifindex, 0);
}

#endif /* datapath/bpf/arp.h */
