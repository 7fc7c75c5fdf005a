/* Port security: a VM may only send from its own MAC and IP addresses. */
#ifndef DATAPATH_BPF_PORT_SECURITY_H
#define DATAPATH_BPF_PORT_SECURITY_H 1

#include "datapath/bpf/common.h"
#include "dhcp/dhcp.h"
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

/* Returns true if 'info' is what a DHCP client without an address sends:
 * a DISCOVER or REQUEST from 0.0.0.0 to 255.255.255.255:67, which the port
 * program then punts to the agent (datapath/bpf/punt.h). */
static __always_inline bool
fab_dhcp_from_nowhere(const struct pkt_info *info)
{
    return info->src4 == 0 && info->dst4 == 0xffffffff
           && info->l4_proto == PKT_IPPROTO_UDP && !info->fragmented
           && info->sport == bpf_htons(DHCP_CLIENT_PORT)
           && info->dport == bpf_htons(DHCP_SERVER_PORT);
}

/* Returns DP_DROP_N_REASONS if 'info' may leave 'port', otherwise the
 * reason to drop it.  0.0.0.0 is allowed as an IPv4 source only for a DHCP
 * client's broadcast, which goes to the agent and nowhere else, and as an
 * ARP sender for probes (RFC 5227). */
static __always_inline enum dp_drop_reason
fab_port_security(const struct dp_port *port, const struct pkt_info *info,
                  void *data, void *end)
{
    if (!pkt_mac_equal(info->src_mac, port->mac)) {
        return DP_DROP_SPOOF_MAC;
    }
    if (info->l3_proto == PKT_ETH_P_IPV4) {
        if (info->src4 != port->ip4 && !fab_dhcp_from_nowhere(info)) {
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

/* ICMPv6 neighbour discovery messages (RFC 4861) that claim addresses. */
#define FAB_ND_NS 135        /* Neighbour solicitation. */
#define FAB_ND_NA 136        /* Neighbour advertisement. */
#define FAB_ND_OPT_SLLA 1    /* Option: source link-layer address. */
#define FAB_ND_OPT_TLLA 2    /* Option: target link-layer address. */
#define FAB_ND_FIXED_LEN 24  /* ICMPv6 header, flags and target. */
#define FAB_ND_OPTIONS_MAX 4 /* Options checked; more is refused. */

/* Returns true if a VM on 'port' may claim the IPv6 address 'a' in
 * neighbour discovery: its configured address, or a link-local one, which
 * the fabric does not know (as for sources, fab_ip6_source_allowed()). */
static __always_inline bool
fab_nd_owned(const struct dp_port *port, const __u8 *a)
{
    return (a[0] == 0xfe && (a[1] & 0xc0) == 0x80)
           || (!fab_ip6_is_zero(port->ip6) && fab_ip6_equal(port->ip6, a));
}

/* Port security for neighbour discovery, as ARP has it: returns
 * DP_DROP_N_REASONS if the IPv6 frame that 'info' describes may leave
 * 'port', otherwise the reason to drop it.  A neighbour advertisement must
 * be for an address the VM owns, and so must the solicitation of duplicate
 * address detection (from ::), which would otherwise make the owner give
 * its address up; every link-layer address option must be the VM's MAC, or
 * neighbours would send another VM's traffic to it.  Options are read with
 * bpf_skb_load_bytes(), wherever in the frame they are.  A fragmented
 * message, one with more options than are checked, or an option of length
 * 0 (RFC 4861 says to discard it) is dropped.  Not inline: its frame would
 * add to the port program's, which the flood loop leaves no room to grow. */
static __attribute__((noinline, unused)) enum dp_drop_reason
fab_nd_security(struct __sk_buff *skb, const struct dp_port *port,
                const struct pkt_info *info)
{
    __u8 target[16], opt[8];
    __u32 off, end;
    __u8 type;

    if (!port || !info || info->l3_proto != PKT_ETH_P_IPV6
        || info->l4_proto != PKT_IPPROTO_ICMPV6 || !info->l4_off) {
        return DP_DROP_N_REASONS;
    }
    type = bpf_ntohs(info->sport) >> 8;
    if (type != FAB_ND_NS && type != FAB_ND_NA) {
        return DP_DROP_N_REASONS;
    }
    if (info->fragmented) {
        return DP_DROP_SPOOF_ND;
    }
    off = info->l4_off + 8;
    end = info->l3_off + info->l3_len;
    if (off + 16 > end || bpf_skb_load_bytes(skb, off, target, 16)) {
        return DP_DROP_MALFORMED;
    }
    if ((type == FAB_ND_NA || fab_ip6_is_zero(info->src6))
        && !fab_nd_owned(port, target)) {
        return DP_DROP_SPOOF_ND;
    }
    off += 16;
    for (int i = 0; i < FAB_ND_OPTIONS_MAX; i++) {
        if (off >= end) {
            return DP_DROP_N_REASONS;
        }
        if (off + 8 > end || bpf_skb_load_bytes(skb, off, opt, 8) || !opt[1]) {
            return DP_DROP_MALFORMED;
        }
        if ((opt[0] == FAB_ND_OPT_SLLA || opt[0] == FAB_ND_OPT_TLLA)
            && !pkt_mac_equal(opt + 2, port->mac)) {
            return DP_DROP_SPOOF_ND;
        }
        off += opt[1] * 8;
    }
    return off >= end ? DP_DROP_N_REASONS : DP_DROP_SPOOF_ND;
}

/* Returns true if the IP header of the frame that starts 'offset' bytes
 * into 'skb' claims more bytes than there are.  The kernel's stack would
 * drop such a packet; so do we, rather than forward garbage.  GSO frames
 * are checked by the stack that built them. */
static __always_inline bool
fab_truncated(const struct __sk_buff *skb, const struct pkt_info *info,
              __u32 offset)
{
    return !fab_gso_size(skb) && info->l3_len
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
    if (fab_gso_size(skb)) {
        __u32 l4_off = info->l4_off ? info->l4_off : info->l3_off;

        return fab_gso_size(skb) + (l4_off - info->l3_off) + 20 > mtu;
    }
    return skb->len - info->l3_off > mtu;
}

#endif /* datapath/bpf/port-security.h */
