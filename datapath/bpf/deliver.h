/* Handing a frame to a local VM port. */
#ifndef DATAPATH_BPF_DELIVER_H
#define DATAPATH_BPF_DELIVER_H 1

#include "datapath/bpf/qos.h"
#include "datapath/bpf/stats.h"

/* Delivers the frame to the local port on 'ifindex', whose counters are in
 * 'dst_slot' and whose DP_PORT_* flags are 'dst_flags', and returns the tc
 * verdict.  The caller has checked that the port is in the frame's network.
 * Drops count against 'in_slot'.  A veth port gets the frame straight into
 * its peer's ingress, skipping the host-side device, when 'protocol_known'
 * says skb->protocol matches the frame: bpf_redirect_peer() does not derive
 * it again, unlike a transmit, which is what taps and the other cases get.
 * A port with a QoS entry ('dst_has_qos') and an ingress rate limit polices
 * first, its drops counting against the port as "qos-rate", unless its
 * device shapes what it receives: then the frame goes to that device's
 * egress, through its qdisc, veth or not. */
static __always_inline int
fab_deliver(struct __sk_buff *skb, __u32 in_slot, __u32 ifindex,
            __u32 dst_slot, __u32 dst_flags, bool dst_has_qos,
            bool protocol_known)
{
    bool shaped = false;
    long rc;

    if (dst_has_qos
        && fab_qos_ingress(skb, dst_slot, &shaped) != DP_DROP_N_REASONS) {
        return fab_drop(skb, dst_slot, DP_DROP_QOS_RATE);
    }
    fab_count_tx(dst_slot, skb->len);
    rc = (dst_flags & DP_PORT_VETH) && protocol_known && !shaped
             ? bpf_redirect_peer(ifindex, 0)
             : bpf_redirect(ifindex, 0);
    if (rc != TC_ACT_REDIRECT) {
        return fab_drop(skb, in_slot, DP_DROP_REDIRECT_FAILED);
    }
    return rc;
}

#endif /* datapath/bpf/deliver.h */
