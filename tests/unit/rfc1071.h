/* The Internet checksum as RFC 1071 defines it, written from the RFC and
 * independent of packet/csum.h, so that tests check the fast path's
 * checksums against a second implementation. */
#ifndef TESTS_UNIT_RFC1071_H
#define TESTS_UNIT_RFC1071_H 1

#include <stddef.h>
#include <stdint.h>

/* Returns the RFC 1071 Internet checksum of the 'len' bytes at 'p': the
 * one's complement of the one's complement sum of its big-endian 16-bit
 * words, an odd last byte padded with zero.  Over a header that holds a
 * correct checksum the result is 0. */
static inline uint16_t
rfc1071_csum(const void *p, size_t len)
{
    const uint8_t *b = p;
    uint32_t sum = 0;

    for (size_t i = 0; i + 1 < len; i += 2) {
        sum += (uint32_t) b[i] << 8 | b[i + 1];
    }
    if (len % 2) {
        sum += (uint32_t) b[len - 1] << 8;
    }
    while (sum >> 16) {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    return (uint16_t) ~sum;
}

#endif /* tests/unit/rfc1071.h */
