/* Fixed-width types, byte order and inlining for code that compiles both
 * under "clang -target bpf" and under gcc for userspace.
 *
 * BPF programs include vmlinux.h before any fabric header, which already
 * defines the kernel's __u8..__u64 and __be16/__be32 types; userspace takes
 * them from <linux/types.h>. */
#ifndef PACKET_TYPES_H
#define PACKET_TYPES_H 1

#ifdef __bpf__
#include <bpf/bpf_helpers.h>
#define PKT_INLINE static __always_inline
#else
#include <linux/types.h>
#include <stdbool.h>
#include <stddef.h>
#define PKT_INLINE static inline __attribute__((always_inline))
#endif
#include <bpf/bpf_endian.h>

#define PKT_ETH_ALEN 6

/* Ethertypes and IP protocols, named once for every module. */
#define PKT_ETH_P_IPV4 0x0800
#define PKT_ETH_P_ARP 0x0806
#define PKT_ETH_P_8021Q 0x8100
#define PKT_ETH_P_8021AD 0x88A8
#define PKT_ETH_P_IPV6 0x86DD
#define PKT_ETH_P_TEB 0x6558

#define PKT_IPPROTO_ICMP 1
#define PKT_IPPROTO_TCP 6
#define PKT_IPPROTO_UDP 17
#define PKT_IPPROTO_ICMPV6 58

#endif /* packet/types.h */
