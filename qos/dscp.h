/* DSCP marking: rewriting the Differentiated Services code point of an
 * IPv4 or IPv6 header in place, as a port's QoS policy asks.
 *
 * The six DSCP bits are the top of the IPv4 TOS byte and of the IPv6
 * traffic class; the two ECN bits below them belong to the transport's
 * congestion control and are always kept.  Marking happens on the inner
 * (VM) header; the caller then updates pkt_info's 'tos' with
 * qos_dscp_tos(), and the VXLAN encapsulation copies the DSCP from there
 * to the outer header (vxlan_outer_tos()).
 *
 * The IPv4 header checksum is updated incrementally (RFC 1624, eqn. 3),
 * which leaves the one's complement sum of the header unchanged, so a
 * CHECKSUM_COMPLETE value of the packet stays right.  The IPv6 traffic
 * class has no checksum, but changing it does change the packet's sum: a
 * backend that may see CHECKSUM_COMPLETE packets must account for the
 * changed word (bpf_csum_diff() and bpf_csum_update() in eBPF). */
#ifndef QOS_DSCP_H
#define QOS_DSCP_H 1

#include "packet/csum.h"
#include "packet/parse.h"

#define QOS_DSCP_MAX 63      /* Largest code point. */
#define QOS_DSCP_KEEP 0xff   /* Leave the packet's DSCP as it is. */
#define QOS_DSCP_SHIFT 2     /* DSCP position in the TOS byte. */
#define QOS_ECN_MASK 0x03    /* ECN bits of the TOS byte. */
#define QOS_IPV6_TC_SHIFT 20 /* Traffic class position in ver_tc_flow. */

/* Whether 'dscp' is a code point or QOS_DSCP_KEEP. */
PKT_INLINE bool
qos_dscp_is_valid(__u8 dscp)
{
    return dscp <= QOS_DSCP_MAX || dscp == QOS_DSCP_KEEP;
}

/* Returns TOS byte (or traffic class) 'tos' with its DSCP set to 'dscp'
 * and its ECN bits kept, or 'tos' itself for QOS_DSCP_KEEP. */
PKT_INLINE __u8
qos_dscp_tos(__u8 tos, __u8 dscp)
{
    if (dscp == QOS_DSCP_KEEP) {
        return tos;
    }
    return (__u8) ((dscp << QOS_DSCP_SHIFT) | (tos & QOS_ECN_MASK));
}

/* Sets the DSCP of the IPv4 header at 'c->pos' to 'dscp', updating its
 * checksum.  The cursor is not moved.  Returns 0 when done or when there
 * was nothing to do ('dscp' is QOS_DSCP_KEEP, which reads nothing, or the
 * header already carries it), or -1, changing nothing, when the fixed
 * header is truncated, is not IPv4 or has an IHL below 5, or 'dscp' is
 * invalid. */
PKT_INLINE int
qos_dscp_set_ipv4(const struct pkt_cursor *c, __u8 dscp)
{
    struct pkt_ipv4 *ip = (struct pkt_ipv4 *) c->pos;
    __u16 old_word, new_word, check;
    __u8 tos;

    if (dscp == QOS_DSCP_KEEP) {
        return 0;
    }
    if (dscp > QOS_DSCP_MAX) {
        return -1;
    }
    if ((__u8 *) (ip + 1) > c->end) {
        return -1;
    }
    if ((ip->ver_ihl >> 4) != 4 || (ip->ver_ihl & 0x0f) < 5) {
        return -1;
    }
    tos = qos_dscp_tos(ip->tos, dscp);
    if (tos == ip->tos) {
        return 0;
    }

    /* HC' = ~(~HC + ~m + m'), where m is the 16-bit word that holds the
     * version, IHL and TOS. */
    old_word = (__u16) (ip->ver_ihl << 8 | ip->tos);
    new_word = (__u16) (ip->ver_ihl << 8 | tos);
    check = bpf_ntohs(ip->check);
    ip->check = bpf_htons(
        pkt_csum_fold((__u32) (__u16) ~check + (__u16) ~old_word + new_word));
    ip->tos = tos;
    return 0;
}

/* Sets the DSCP of the IPv6 header at 'c->pos' to 'dscp'; the flow label
 * is kept.  The cursor is not moved.  Returns as qos_dscp_set_ipv4(), -1
 * meaning a truncated fixed header, a version other than 6 or an invalid
 * 'dscp'. */
PKT_INLINE int
qos_dscp_set_ipv6(const struct pkt_cursor *c, __u8 dscp)
{
    struct pkt_ipv6 *ip = (struct pkt_ipv6 *) c->pos;
    __u32 word;
    __u8 tc;

    if (dscp == QOS_DSCP_KEEP) {
        return 0;
    }
    if (dscp > QOS_DSCP_MAX) {
        return -1;
    }
    if ((__u8 *) (ip + 1) > c->end) {
        return -1;
    }
    word = bpf_ntohl(ip->ver_tc_flow);
    if ((word >> 28) != 6) {
        return -1;
    }
    tc = (__u8) (word >> QOS_IPV6_TC_SHIFT);
    word &= ~((__u32) 0xff << QOS_IPV6_TC_SHIFT);
    word |= (__u32) qos_dscp_tos(tc, dscp) << QOS_IPV6_TC_SHIFT;
    ip->ver_tc_flow = bpf_htonl(word);
    return 0;
}

/* Sets the DSCP of the L3 header of ethertype 'l3_proto' (host order) at
 * 'c->pos' to 'dscp'.  Frames other than IPv4 and IPv6 have no DSCP and
 * are left alone (0).  Returns as qos_dscp_set_ipv4(). */
PKT_INLINE int
qos_dscp_set(const struct pkt_cursor *c, __u16 l3_proto, __u8 dscp)
{
    if (l3_proto == PKT_ETH_P_IPV4) {
        return qos_dscp_set_ipv4(c, dscp);
    } else if (l3_proto == PKT_ETH_P_IPV6) {
        return qos_dscp_set_ipv6(c, dscp);
    }
    return 0;
}

#endif /* qos/dscp.h */
