/* The baseline of bench-bpf: a tc program that only passes the frame.  What
 * BPF_PROG_TEST_RUN measures for it is the cost of running any program at
 * all (entering it, the timer around it), so the real paths are reported
 * as ratios against it, measured the same way in the same run. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

/* From <linux/pkt_cls.h>, which clashes with vmlinux.h. */
#define TC_ACT_OK 0

SEC("tc")
int
bench_trivial(struct __sk_buff *skb)
{
    return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
