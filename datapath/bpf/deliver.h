/* Handing a frame to a local VM port. */
#ifndef DATAPATH_BPF_DELIVER_H
#define DATAPATH_BPF_DELIVER_H 1

#include "datapath/bpf/stats.h"

/* Delivers the frame to the port on 'ifindex', which must belong to 'vni',
 * and returns the tc verdict.  A veth port gets the frame straight into its
 * peer's ingress, skipping the host-side device, when 'protocol_known' says
 * skb->protocol matches the frame: bpf_redirect_peer() does not derive it
 * again, unlike a transmit, which is what taps and the other cases get. */
static __always_inline int
fab_deliver_local(struct __sk_buff *skb, __u32 in_ifindex, __u32 ifindex,
                  __u32 vni, bool protocol_known)
{
    struct dp_port_key key = { .ifindex = ifindex };
    struct dp_port *dst = bpf_map_lookup_elem(&fab_ports, &key);
    long rc;

    if (!dst) {
        return fab_drop(in_ifindex, DP_DROP_NO_DEST);
    }
    if (dst->vni != vni) {
        return fab_drop(in_ifindex, DP_DROP_VNI_MISMATCH);
    }
    fab_count_tx(ifindex, skb->len);
    rc = (dst->flags & DP_PORT_VETH) && protocol_known
             ? bpf_redirect_peer(ifindex, 0)
             : bpf_redirect(ifindex, 0);
    if (rc != TC_ACT_REDIRECT) {
        return fab_drop(in_ifindex, DP_DROP_REDIRECT_FAILED);
    }
    return rc;
}

#endif /* datapath/bpf/deliver.h */
