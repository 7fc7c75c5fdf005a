/* Definitions every fabric BPF program starts with. */
#ifndef DATAPATH_BPF_COMMON_H
#define DATAPATH_BPF_COMMON_H 1

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "datapath/bpf/maps.h"

/* From <linux/pkt_cls.h> and <linux/socket.h>, which clash with vmlinux.h. */
#define TC_ACT_OK 0
#define TC_ACT_SHOT 2
#define TC_ACT_STOLEN 4
#define TC_ACT_REDIRECT 7
#define AF_INET 2

/* From <linux/bpf.h>: the inner L2 header length for bpf_skb_adjust_room,
 * in the top byte (the bits above it shift out, as the mask there drops). */
#define BPF_F_ADJ_ROOM_ENCAP_L2(len) ((__u64) (len) << 56)

/* Packet pointers from the context.  The loads are written in assembly so
 * that clang cannot fold the context offset into a shared base register,
 * which the verifier refuses ("dereference of modified ctx ptr"). */
static __always_inline void *
fab_data(const struct __sk_buff *skb)
{
    void *p;

    asm volatile("%0 = *(u32 *)(%1 + %2)"
                 : "=r"(p)
                 : "r"(skb), "i"(__builtin_offsetof(struct __sk_buff, data)));
    return p;
}

static __always_inline void *
fab_data_end(const struct __sk_buff *skb)
{
    void *p;

    asm volatile("%0 = *(u32 *)(%1 + %2)"
                 : "=r"(p)
                 : "r"(skb),
                   "i"(__builtin_offsetof(struct __sk_buff, data_end)));
    return p;
}

/* skb->gso_size, loaded in assembly like the packet pointers above. */
static __always_inline __u32
fab_gso_size(const struct __sk_buff *skb)
{
    __u32 v;

    asm volatile("%0 = *(u32 *)(%1 + %2)"
                 : "=r"(v)
                 : "r"(skb),
                   "i"(__builtin_offsetof(struct __sk_buff, gso_size)));
    return v;
}

/* Enough of the frame to parse every header the pipeline looks at. */
#define FAB_PULL_LEN 128

/* Makes sure the first FAB_PULL_LEN bytes (or the whole frame, if shorter)
 * are in the linear area that direct packet access sees. */
static __always_inline void
fab_pull_headers(struct __sk_buff *skb)
{
    __u32 want = skb->len < FAB_PULL_LEN ? skb->len : FAB_PULL_LEN;

    if (fab_data(skb) + want > fab_data_end(skb)) {
        bpf_skb_pull_data(skb, want);
    }
}

/* Writes the 'len' bytes at 'src' over the start of the frame and returns
 * 0, or a negative errno.  Directly when they are in the linear area, as
 * they are after the programs' own bpf_skb_change_head() or
 * bpf_skb_adjust_room(): a bpf_skb_store_bytes() call cost about 40 ns a
 * packet more.  'len' must be a compile-time constant. */
static __always_inline long
fab_store_head(struct __sk_buff *skb, const void *src, __u32 len)
{
    void *data = fab_data(skb);

    if (data + len > fab_data_end(skb)) {
        return bpf_skb_store_bytes(skb, 0, src, len, 0);
    }
    __builtin_memcpy(data, src, len);
    return 0;
}

#endif /* datapath/bpf/common.h */
