/* Internet checksum helpers shared by the fast path and userspace. */
#ifndef PACKET_CSUM_H
#define PACKET_CSUM_H 1

#include "packet/hdr.h"

/* Folds a 32-bit one's complement sum into 16 bits. */
PKT_INLINE __u16
pkt_csum_fold(__u32 sum)
{
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    return (__u16) ~sum;
}

/* Returns the checksum of an option-less IPv4 header, computed with its
 * 'check' field taken as zero. */
PKT_INLINE __sum16
pkt_ipv4_csum(const struct pkt_ipv4 *ip)
{
    const __u8 *bytes = (const __u8 *) ip;
    __u32 sum = 0;
    int i;

    /* Words are copied out rather than read through a __u16 pointer: the
     * header is a packed struct, and gcc may reorder aliased loads. */
    for (i = 0; i < (int) sizeof *ip; i += 2) {
        __u16 word;

        if (i != 10) {
            __builtin_memcpy(&word, bytes + i, sizeof word);
            sum += word;
        }
    }
    return (__sum16) pkt_csum_fold(sum);
}

#endif /* packet/csum.h */
