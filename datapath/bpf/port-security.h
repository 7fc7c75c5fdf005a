/* Port security: a VM may only send from its own MAC and IP addresses. */
#ifndef DATAPATH_BPF_PORT_SECURITY_H
#define DATAPATH_BPF_PORT_SECURITY_H 1

#include "datapath/bpf/common.h"
#include "packet/parse.h"

static __always_inline bool
fab_ip6_is_zero(const __u8 *a)
{
    const __u32 *w = (const __u32 *) a;

    return (w[0] | w[1] | w[2] | w[3]) == 0;
}

static __always_inline bool
fab_ip6_equal(const __u8 *a, const __u8 *b)
{
    const __u32 *x = (const __u32 *) a, *y = (const __u32 *) b;

    return x[0] == y[0] && x[1] == y[1] && x[2] == y[2] && x[3] == y[3];
}

/* IPv6 sources a VM may use besides its configured address: link-local
 * (fe80::/10), which every IPv6 stack uses for neighbour discovery, and the
 * unspecified address of duplicate address detection. */
static __always_inline bool
fab_ip6_source_allowed(const struct dp_port *port, const __u8 *src)
{
    if ((src[0] == 0xfe && (src[1] & 0xc0) == 0x80) || fab_ip6_is_zero(src)) {
        return true;
    }
    return !fab_ip6_is_zero(port->ip6) && fab_ip6_equal(port->ip6, src);
}

/* Returns DP_DROP_N_REASONS if 'info' may leave 'port', otherwise the
 * reason to drop it.  0.0.0.0 is allowed as an IPv4 source so that DHCP and
 * ARP probes work. */
static __always_inline enum dp_drop_reason
fab_port_security(const struct dp_port *port, const struct pkt_info *info,
                  void *data, void *end)
{
    if (!pkt_mac_equal(info->src_mac, port->mac)) {
        return DP_DROP_SPOOF_MAC;
    }
    if (info->l3_proto == PKT_ETH_P_IPV4) {
        if (info->src4 != port->ip4 && info->src4 != 0) {
            return DP_DROP_SPOOF_IP;
        }
    } else if (info->l3_proto == PKT_ETH_P_ARP) {
        struct pkt_arp *arp;

        /* The bound lets the verifier track the offset (it gives up on
         * offsets that could reach 64 KiB). */
        if (info->l3_off > FAB_PULL_LEN) {
            return DP_DROP_MALFORMED;
        }
        arp = data + info->l3_off;
        if ((void *) (arp + 1) > end) {
            return DP_DROP_MALFORMED;
        }
        if (!pkt_mac_equal(arp->sha, port->mac)) {
            return DP_DROP_SPOOF_MAC;
        }
        if (info->src4 != port->ip4 && info->src4 != 0) {
            return DP_DROP_SPOOF_IP;
        }
    } else if (info->l3_proto == PKT_ETH_P_IPV6) {
        if (!fab_ip6_source_allowed(port, info->src6)) {
            return DP_DROP_SPOOF_IP;
        }
    }
    return DP_DROP_N_REASONS;
}

/* Returns true if the IP header of the frame that starts 'offset' bytes
 * into 'skb' claims more bytes than there are.  The kernel's stack would
 * drop such a packet; so do we, rather than forward garbage.  GSO frames
 * are checked by the stack that built them. */
static __always_inline bool
fab_truncated(const struct __sk_buff *skb, const struct pkt_info *info,
              __u32 offset)
{
    return !skb->gso_size && info->l3_len
           && offset + info->l3_off + info->l3_len > skb->len;
}

/* Returns true if the frame's L3 packet, or each segment it will be cut
 * into, is larger than 'mtu'.  For GSO frames the segment size is checked
 * with a minimal TCP header, so a VM whose MTU is too large is caught on its
 * first segment. */
static __always_inline bool
fab_oversize(const struct __sk_buff *skb, const struct pkt_info *info,
             __u32 mtu)
{
    if (skb->gso_size) {
        __u32 l4_off = info->l4_off ? info->l4_off : info->l3_off;

        return skb->gso_size + (l4_off - info->l3_off) + 20 > mtu;
    }
    return skb->len - info->l3_off > mtu;
}

#endif /* datapath/bpf/port-security.h */
