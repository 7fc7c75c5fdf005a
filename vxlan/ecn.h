/* Explicit Congestion Notification across the VXLAN tunnel, per RFC 6040
 * ("Tunnelling of Explicit Congestion Notification"), normal mode.
 *
 * Encapsulation copies the inner header's ECN field to the outer header,
 * so that routers of the underlay can mark congestion on ECN-capable
 * traffic instead of dropping it.  Decapsulation carries a mark the
 * underlay made (CE on the outer header) onto the inner header, and drops
 * a frame whose outer header says CE when the inner transport cannot
 * understand it (Not-ECT): delivering it unmarked would hide congestion.
 *
 * Works on plain header structs, so that the tc programs, the DPDK backend
 * and the unit tests share it. */
#ifndef VXLAN_ECN_H
#define VXLAN_ECN_H 1

#include "packet/csum.h"

/* The ECN field: the two low bits of the IPv4 TOS or IPv6 traffic class. */
#define VXLAN_ECN_MASK 0x03
#define VXLAN_ECN_NOT_ECT 0x00 /* Not ECN-capable transport. */
#define VXLAN_ECN_ECT1 0x01    /* ECN-capable transport, ECT(1). */
#define VXLAN_ECN_ECT0 0x02    /* ECN-capable transport, ECT(0). */
#define VXLAN_ECN_CE 0x03      /* Congestion experienced. */

/* What vxlan_ecn_decap() returns for a frame that must be dropped. */
#define VXLAN_ECN_DROP (-1)

/* Returns the ECN field the inner header must carry once decapsulated, for
 * an outer TOS 'outer_tos' and an inner TOS or traffic class 'inner_tos'
 * (RFC 6040, section 4.2, figure 4), or VXLAN_ECN_DROP if the frame must be
 * dropped: outer CE over a Not-ECT inner header.  Outer ECT(0) or ECT(1)
 * over a Not-ECT inner header leaves it Not-ECT; outer ECT(1) over inner
 * ECT(0) makes it ECT(1); outer CE over any ECT makes it CE. */
PKT_INLINE int
vxlan_ecn_decap(__u8 outer_tos, __u8 inner_tos)
{
    __u8 outer = outer_tos & VXLAN_ECN_MASK;
    __u8 inner = inner_tos & VXLAN_ECN_MASK;

    if (inner == VXLAN_ECN_NOT_ECT) {
        return outer == VXLAN_ECN_CE ? VXLAN_ECN_DROP : VXLAN_ECN_NOT_ECT;
    }
    if (outer == VXLAN_ECN_CE) {
        return VXLAN_ECN_CE;
    }
    if (outer == VXLAN_ECN_ECT1 && inner == VXLAN_ECN_ECT0) {
        return VXLAN_ECN_ECT1;
    }
    return inner;
}

/* Sets the ECN field of the option-less or optioned IPv4 header at 'ip' to
 * 'ecn' and updates its checksum incrementally (RFC 1624, eqn. 3), so that
 * the rest of the header need not be readable. */
PKT_INLINE void
vxlan_ipv4_set_ecn(struct pkt_ipv4 *ip, __u8 ecn)
{
    __u16 old_word, new_word, check;
    __u8 *bytes = (__u8 *) ip;

    /* Words are copied out rather than read through a __u16 pointer: the
     * header is packed, and gcc may reorder aliased loads. */
    __builtin_memcpy(&old_word, bytes, sizeof old_word);
    ip->tos = (ip->tos & ~VXLAN_ECN_MASK) | (ecn & VXLAN_ECN_MASK);
    __builtin_memcpy(&new_word, bytes, sizeof new_word);
    __builtin_memcpy(&check, &ip->check, sizeof check);
    check =
        pkt_csum_fold((__u32) (__u16) ~check + (__u16) ~old_word + new_word);
    __builtin_memcpy(&ip->check, &check, sizeof check);
}

/* Sets the ECN field of the IPv6 header at 'ip6' to 'ecn'.  The traffic
 * class straddles the first two bytes; its ECN bits are bits 4 and 5 of
 * the second one.  IPv6 has no header checksum. */
PKT_INLINE void
vxlan_ipv6_set_ecn(struct pkt_ipv6 *ip6, __u8 ecn)
{
    __u8 *bytes = (__u8 *) ip6;

    bytes[1] =
        (bytes[1] & ~(VXLAN_ECN_MASK << 4)) | ((ecn & VXLAN_ECN_MASK) << 4);
}

#endif /* vxlan/ecn.h */
