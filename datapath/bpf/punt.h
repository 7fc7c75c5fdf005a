/* Punts: frames a VM port hands to the agent.  DHCPv4 client messages go
 * to the agent instead of being forwarded, and it answers them for the
 * port's own MAC (doc/vms.md), so that DHCP is never broadcast to other VMs
 * or the underlay; the first frame from a standby port goes to the agent as
 * well as on its way, to say that a migrated VM runs here now
 * (doc/mobility.md). */
#ifndef DATAPATH_BPF_PUNT_H
#define DATAPATH_BPF_PUNT_H 1

#include "datapath/bpf/stats.h"
#include "dhcp/dhcp.h"
#include "packet/parse.h"
#include "qos/bucket.h"

/* Where the client's MAC sits in a DHCP message. */
#define FAB_DHCP_CHADDR_OFF __builtin_offsetof(struct dhcp_header, chaddr)

/* Returns true if the frame that 'info' describes is for the DHCP
 * server's MAC (DP_DHCP_SERVER_MAC). */
static __always_inline bool
fab_to_dhcp_server(const struct pkt_info *info)
{
    const __u8 server[PKT_ETH_ALEN] = DP_DHCP_SERVER_MAC;

    return pkt_mac_equal(info->dst_mac, server);
}

/* Returns true if 'info' is a DHCPv4 client frame: IPv4 UDP 68 -> 67,
 * whatever its addresses, so that a renewal unicast to the server id is
 * punted like a broadcast.  The first fragment of one counts too, to be
 * dropped: clients never fragment.  (Later fragments carry no ports; from
 * 0.0.0.0 port security drops them.) */
static __always_inline bool
fab_is_dhcp_client(const struct pkt_info *info)
{
    return info->l3_proto == PKT_ETH_P_IPV4
           && info->l4_proto == PKT_IPPROTO_UDP
           && info->sport == bpf_htons(DHCP_CLIENT_PORT)
           && info->dport == bpf_htons(DHCP_SERVER_PORT);
}

/* Returns true if port slot 'slot' may punt one more frame now: each port
 * has a policer of DP_PUNT_PER_SEC punts a second with bursts of
 * DP_PUNT_BURST, a punt costing one "byte".  A slot's policer is set up by
 * its first punt (a zeroed one costs nothing), which two CPUs may both do,
 * to the same settings. */
static __always_inline bool
fab_punt_allowed(__u32 slot)
{
    struct qos_bucket *b = bpf_map_lookup_elem(&fab_punt_limits, &slot);
    __u64 now;

    if (!b) {
        return false;
    }
    if (!b->ns_per_byte) {
        struct qos_bucket init;

        if (!qos_bucket_init(&init, DP_PUNT_PER_SEC * 8ULL, DP_PUNT_BURST)) {
            return false;
        }
        b->burst = init.burst;
        b->tick = 0;
        b->ns_per_byte = init.ns_per_byte;
    }
    now = qos_police_units(bpf_ktime_get_ns());
    return qos_police_shared(b, now, 1) == QOS_PASS;
}

/* Copies the frame in 'skb' into a punt of 'reason' and submits it to the
 * agent's ring, counting it on port slot 'slot'.  Returns
 * DP_DROP_N_REASONS, or why it could not: DP_DROP_PUNT_FULL while the agent
 * is behind, DP_DROP_MALFORMED for a frame that cannot be read. */
static __always_inline enum dp_drop_reason
fab_punt(struct __sk_buff *skb, __u32 slot, __u16 reason)
{
    struct dp_stats *s;
    struct dp_punt *p;
    __u32 len, copy;

    p = bpf_ringbuf_reserve(&fab_punts, sizeof *p, 0);
    if (!p) {
        return DP_DROP_PUNT_FULL;
    }
    len = skb->len;
    copy = len < DP_PUNT_FRAME_MAX ? len : DP_PUNT_FRAME_MAX;
    if (copy < 1 || bpf_skb_load_bytes(skb, 0, p->frame, copy)) {
        bpf_ringbuf_discard(p, 0);
        return DP_DROP_MALFORMED;
    }
    p->ifindex = skb->ifindex;
    p->reason = reason;
    p->len = len;
    p->copied = copy;
    __builtin_memset(p->pad, 0, sizeof p->pad);
    bpf_ringbuf_submit(p, 0);

    s = fab_stats_of(slot);
    if (s) {
        s->punted++;
    }
    return DP_DROP_N_REASONS;
}

/* Activates the standby port 'entry' (DP_PORT_STANDBY), whose frame 'skb'
 * is: the first such frame wins its fab_port_active word with a
 * compare-and-swap and punts a copy of itself as DP_PUNT_ACTIVATED, so the
 * agent hears of it exactly once.  If the ring has no room the word is
 * given back and the next frame tries again.  The frame itself goes on in
 * any case; a trace activates nothing.  A function of its own, called only
 * for a standby port: inlined, its ring and copy made the port program's
 * encapsulation path some 35 ns slower (make bench-bpf). */
static __attribute__((noinline, unused)) void
fab_port_activate(struct __sk_buff *skb, const struct fab_port_entry *entry)
{
    __u32 slot = entry->stats_slot;
    __u64 *active;

    if (fab_tracing(skb)) {
        return;
    }
    active = bpf_map_lookup_elem(&fab_port_active, &slot);
    if (!active || *(volatile __u64 *) active
        || __sync_val_compare_and_swap(active, 0, 1) != 0) {
        return;
    }
    if (fab_punt(skb, slot, DP_PUNT_ACTIVATED) != DP_DROP_N_REASONS) {
        *(volatile __u64 *) active = 0;
    }
}

/* Returns true if the port 'entry' is a standby port that has not
 * activated yet, to which a flood sends no copy. */
static __always_inline bool
fab_port_standby(const struct fab_port_entry *entry)
{
    __u32 slot = entry->stats_slot;
    __u64 *active;

    if (!(entry->port.flags & DP_PORT_STANDBY)) {
        return false;
    }
    active = bpf_map_lookup_elem(&fab_port_active, &slot);
    return !active || !*(volatile __u64 *) active;
}

/* Hands the DHCP client frame in 'skb', which 'info' describes, from the
 * port 'entry' to the agent, and returns the tc verdict.  The frame must
 * come from the port's MAC and ask for it (chaddr): otherwise it is
 * dropped as "spoofed-mac" or "spoofed-chaddr", whether or not the port
 * has port security, since the agent would answer for the port's MAC.  A
 * fragment is malformed.  A trace reports the punt and sends nothing. */
static __always_inline int
fab_dhcp_punt(struct __sk_buff *skb, const struct fab_port_entry *entry,
              const struct pkt_info *info)
{
    __u32 slot = entry->stats_slot;
    __u8 chaddr[PKT_ETH_ALEN];
    enum dp_drop_reason reason;

    if (info->fragmented) {
        return fab_drop(skb, slot, DP_DROP_MALFORMED);
    }
    if (!pkt_mac_equal(info->src_mac, entry->port.mac)) {
        return fab_drop(skb, slot, DP_DROP_SPOOF_MAC);
    }
    if (bpf_skb_load_bytes(skb, info->l4_off + 8 + FAB_DHCP_CHADDR_OFF, chaddr,
                           sizeof chaddr)) {
        return fab_drop(skb, slot, DP_DROP_MALFORMED);
    }
    if (!pkt_mac_equal(chaddr, entry->port.mac)) {
        return fab_drop(skb, slot, DP_DROP_SPOOF_CHADDR);
    }
    if (fab_tracing(skb)) {
        fab_cb_set(skb, DP_TRACE_CB_DROP, DP_TRACE_PUNTED);
        return TC_ACT_STOLEN;
    }
    if (!fab_punt_allowed(slot)) {
        return fab_drop(skb, slot, DP_DROP_PUNT_RATE);
    }
    reason = fab_punt(skb, slot, DP_PUNT_DHCP);
    if (reason != DP_DROP_N_REASONS) {
        return fab_drop(skb, slot, reason);
    }
    return TC_ACT_STOLEN;
}

#endif /* datapath/bpf/punt.h */
