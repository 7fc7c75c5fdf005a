/* Handing a frame to a local VM port. */
#ifndef DATAPATH_BPF_DELIVER_H
#define DATAPATH_BPF_DELIVER_H 1

#include "datapath/bpf/qos.h"
#include "datapath/bpf/stats.h"

/* Delivers the frame to the port on 'ifindex', which must belong to 'vni',
 * and returns the tc verdict.  Drops count against 'in_slot'.  A veth port
 * gets the frame straight into its peer's ingress, skipping the host-side
 * device, when 'protocol_known' says skb->protocol matches the frame:
 * bpf_redirect_peer() does not derive it again, unlike a transmit, which is
 * what taps and the other cases get.  A port with an ingress rate limit
 * polices first; its drops count against the port as "qos-rate". */
static __always_inline int
fab_deliver_local(struct __sk_buff *skb, __u32 in_slot, __u32 ifindex,
                  __u32 vni, bool protocol_known)
{
    struct dp_port_key key = {.ifindex = ifindex};
    struct fab_port_entry *dst = bpf_map_lookup_elem(&fab_ports, &key);
    long rc;

    if (!dst) {
        return fab_drop(in_slot, DP_DROP_NO_DEST);
    }
    if (dst->port.vni != vni) {
        return fab_drop(in_slot, DP_DROP_VNI_MISMATCH);
    }
    if (fab_qos_police_ingress(skb, ifindex) != DP_DROP_N_REASONS) {
        return fab_drop(dst->stats_slot, DP_DROP_QOS_RATE);
    }
    fab_count_tx(dst->stats_slot, skb->len);
    rc = (dst->port.flags & DP_PORT_VETH) && protocol_known
             ? bpf_redirect_peer(ifindex, 0)
             : bpf_redirect(ifindex, 0);
    if (rc != TC_ACT_REDIRECT) {
        return fab_drop(in_slot, DP_DROP_REDIRECT_FAILED);
    }
    return rc;
}

#endif /* datapath/bpf/deliver.h */
