/* Proof that qos/bucket.h and qos/dscp.h compile for the BPF target and
 * that the verifier-facing code is well formed: "make check" builds this
 * object (it is never loaded).  The program polices, paces and marks one
 * packet the way a port program will. */
#include "vmlinux.h"

#include "qos/bucket.h"
#include "qos/dscp.h"

#define TC_ACT_OK 0
#define TC_ACT_SHOT 2

/* State the real backend keeps in a map value (the pacer's next to a
 * bpf_spin_lock). */
static struct qos_bucket police_state;
static struct qos_edt edt_state;

SEC("tc")
int
qos_compile_check(struct __sk_buff *skb)
{
    struct pkt_cursor c;
    struct pkt_eth *eth;
    __u16 vlan_id;
    int l3_proto;
    __u64 now = bpf_ktime_get_ns();
    __u64 tstamp = 0;

    pkt_cursor_init(&c, (void *) (long) skb->data,
                    (void *) (long) skb->data_end);
    l3_proto = pkt_parse_eth(&c, &eth, &vlan_id);
    if (l3_proto < 0) {
        return TC_ACT_SHOT;
    }
    if (qos_police_shared(&police_state,
                          police_state.tick
                              ? bpf_jiffies64() * police_state.tick
                              : qos_police_units(now),
                          skb->len)
        != QOS_PASS) {
        return TC_ACT_SHOT;
    }
    if (qos_edt_departure(&edt_state, now, skb->len, 2 * QOS_NS_PER_S, &tstamp)
        != QOS_PASS) {
        return TC_ACT_SHOT;
    }
    skb->tstamp = tstamp;
    if (qos_dscp_set(&c, (__u16) l3_proto, 46) < 0) {
        return TC_ACT_SHOT;
    }
    return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
