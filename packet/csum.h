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
    const __u16 *w = (const __u16 *) ip;
    __u32 sum = 0;
    int i;

#pragma unroll
    for (i = 0; i < (int) (sizeof *ip / 2); i++) {
        if (i != 5) {
            sum += w[i];
        }
    }
    return (__sum16) pkt_csum_fold(sum);
}

#endif /* packet/csum.h */
