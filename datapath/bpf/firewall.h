/* The distributed firewall in the fast path (doc/firewall.md): conntrack
 * first, and the policy only for the first packet of a connection, with at
 * most POLICY_LOOKUPS_MAX hash lookups per local endpoint whatever the
 * number of rules.
 *
 * The work is in two global functions, which the verifier checks once each
 * rather than once per path through the programs that call them: composed
 * inline, the conntrack and policy stages took the port program past the
 * verifier's instruction budget. */
#ifndef DATAPATH_BPF_FIREWALL_H
#define DATAPATH_BPF_FIREWALL_H 1

#include "datapath/bpf/index.h"
#include "datapath/bpf/port-security.h"
#include "datapath/bpf/stats.h"
#include "firewall/ct.h"
#include "firewall/policy.h"

/* From <linux/errno.h>, which vmlinux.h lacks: a full map refuses an
 * insertion with -E2BIG. */
#define FAB_E2BIG 7

/* Who is on each side of a frame, as the caller knows it.  A side is local
 * when its ifindex is set. */
struct fab_fw_args {
    __u32 vni;          /* The frame's virtual network. */
    __u32 frame_off;    /* Where the Ethernet frame that 'info' describes
                         * starts: 0, or past the VXLAN headers. */
    __u32 src_ifindex;  /* Local sending port, 0 if from the underlay. */
    __u32 dst_ifindex;  /* Local receiving port, 0 if remote. */
    __u32 src_slot;     /* Counters of the local sending port. */
    __u32 dst_slot;     /* Counters of the local receiving port. */
    __u32 src_flags;    /* DP_PORT_FW_* of the local sending port. */
    __u32 dst_flags;    /* DP_PORT_FW_* of the local receiving port. */
    __u16 src_identity; /* The sender's port's, or the VXLAN-GBP group. */
    __u16 dst_identity; /* The local receiver's port's. */
    __u32 src_external; /* DP_VTEP_EXTERNAL: the sender is behind an
                         * external VTEP, known by its address alone. */
    __u32 flags;        /* FAB_FW_*. */
};

/* fab_fw_args 'flags': judge by the policy alone, neither using nor
 * creating a conntrack entry (see fab_fw_trackable()). */
#define FAB_FW_STATELESS 0x1

/* Per-CPU scratch space for the programs that call the firewall: with
 * their headers and arguments on the stack, the chain of calls would pass
 * the 512 bytes the verifier allows all frames together. */
struct fab_pkt_scratch {
    struct pkt_info info;  /* The frame's headers. */
    struct fab_fw_args fw; /* The firewall's view of it. */
    __be32 vtep;           /* Remote destination's VTEP, if not local. */
    __u32 nh_slot;         /* Its next hop's slot (fab_fdb_entry). */
    __u32 dst_port_flags;  /* DP_PORT_* of the local destination. */
    __u8 has_qos;          /* The sending port has a QoS entry. */
    __u8 dst_has_qos;      /* The local destination has one. */
    __u8 pad[2];
};

/* The firewall stages (FAB_STAGE_* of datapath/bpf/abi.h), tail-called by
 * the programs: a program's stack and the firewall's chain of calls do not
 * fit in one 512-byte budget, nor do they with the flood loop's.  Pinned, so
 * that the stages stay in place while no agent runs. */
struct {
    __uint(type, BPF_MAP_TYPE_PROG_ARRAY);
    __uint(max_entries, FAB_N_STAGES);
    __type(key, __u32);
    __type(value, __u32);
    __uint(pinning, LIBBPF_PIN_BY_NAME);
} fab_fw_stages SEC(".maps");

/* Pinned like the tables, because it carries a frame's state from a
 * program into its firewall stage, and those two may come from different
 * loads while a restarted agent swaps programs. */
struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct fab_pkt_scratch);
    __uint(pinning, LIBBPF_PIN_BY_NAME);
} fab_pkt_tmp SEC(".maps");

static __always_inline struct fab_pkt_scratch *
fab_pkt_scratch_get(void)
{
    __u32 zero = 0;

    return bpf_map_lookup_elem(&fab_pkt_tmp, &zero);
}

/* One direction's policy decision. */
struct fab_fw_decision {
    struct policy_verdict v; /* Action, reason, rule. */
    __u16 peer;              /* The peer identity the policy saw. */
    __u8 log;                /* The deciding entry has POLICY_F_LOG. */
    __u8 pad;
};

/* Per-CPU scratch space: the stack cannot hold it beside the callers. */
struct fab_fw_scratch {
    struct policy_key keys[POLICY_LOOKUPS_MAX];
    struct policy_value results[POLICY_LOOKUPS_MAX];
    struct policy_cidr_key cidr;
    struct policy_side side;
    struct ct_key key;
    struct dp_ct entry;
};

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct fab_fw_scratch);
} fab_fw_tmp SEC(".maps");

static __always_inline struct fab_fw_scratch *
fab_fw_scratch_get(void)
{
    __u32 zero = 0;

    return bpf_map_lookup_elem(&fab_fw_tmp, &zero);
}

/* Returns true if a local port with firewall flags 'flags' is firewalled at
 * all; a port that is not skips conntrack entirely. */
static __always_inline bool
fab_fw_wanted(__u32 flags)
{
    return flags & DP_PORT_FW_ANY;
}

/* Returns true if conntrack may carry the IP packet that 'info' describes
 * to the local port 'dst' (NULL: the receiver is on another host, which
 * decides for itself): a packet to a unicast address that is the port's
 * own configured one, or any unicast address if the port has none of that
 * family.  Everything else (broadcast, multicast, a link-local or another
 * port's address) is judged by the policy packet by packet.  A conntrack
 * entry does not say which port it was made for, so an entry that one
 * receiver's policy allowed must not carry the same packet to another
 * receiver, and a unicast reply to a broadcast never finds an entry to
 * ride on. */
static __always_inline bool
fab_fw_trackable(const struct pkt_info *info, const struct dp_port *dst)
{
    if (info->l3_proto == PKT_ETH_P_IPV4) {
        /* 224.0.0.0/4 multicast, and 240.0.0.0/4 with 255.255.255.255. */
        if ((bpf_ntohl(info->dst4) >> 28) >= 0xe) {
            return false;
        }
        return !dst || !dst->ip4 || dst->ip4 == info->dst4;
    }
    if (info->dst6[0] == 0xff) {
        return false;
    }
    return !dst || fab_ip6_is_zero(dst->ip6)
           || fab_ip6_equal(dst->ip6, info->dst6);
}

/* policy_side_decide()'s accessors to the tables; 'ctx' is the struct
 * fab_fw_scratch. */
static __always_inline bool
fab_fw_lookup(void *ctx, const struct policy_key *key,
              struct policy_value *value)
{
    struct policy_value *v = bpf_map_lookup_elem(&fab_policies, key);

    if (!v) {
        return false;
    }
    *value = *v;
    return true;
}

static __always_inline __u16
fab_fw_binding(void *ctx, __u32 vni, __u8 family, const __u8 *addr)
{
    struct dp_binding_key bkey = {.vni = vni};
    struct dp_binding *b;

    __builtin_memcpy(&bkey.ip4, addr, 4);
    b = bpf_map_lookup_elem(&fab_bindings, &bkey);
    return b ? b->identity : 0;
}

static __always_inline __u16
fab_fw_cidr(void *ctx, __u32 vni, __u8 family, const __u8 *addr)
{
    struct fab_fw_scratch *s = ctx;
    struct dp_policy_cidr *c;

    policy_cidr_key_build(&s->cidr, vni, family, addr,
                          family == CT_FAMILY_IPV4 ? 32 : 128);
    c = bpf_map_lookup_elem(&fab_policy_cidrs, &s->cidr);
    return c ? c->identity : POLICY_PEER_ANY;
}

/* Decides a new connection for the local endpoint that 'side' describes
 * (policy_side_decide()).  Fills '*out' and returns 0, or -1 on an
 * internal failure ('*out' then denies). */
__attribute__((noinline)) int
fab_fw_policy(const struct policy_side *side, struct fab_fw_decision *out)
{
    struct fab_fw_scratch *s = fab_fw_scratch_get();
    struct policy_side_result r;

    if (!out) {
        return -1;
    }
    __builtin_memset(out, 0, sizeof *out);
    if (!s || !side) {
        out->v.action = POLICY_DENY;
        out->v.reason = POLICY_BY_DEFAULT_DENY;
        return -1;
    }
    policy_side_decide(side, s->keys, s->results, fab_fw_lookup,
                       fab_fw_binding, fab_fw_cidr, s, &r);
    out->v = r.v;
    out->peer = r.peer;
    out->log = r.log;
    return 0;
}

/* Reports a firewall decision to a trace (see DP_TRACE_CB_*). */
static __always_inline void
fab_fw_trace(struct __sk_buff *skb, __u8 action, __u8 reason, __u8 direction,
             __u32 rule)
{
    skb->cb[DP_TRACE_CB_FW] = action | (__u32) reason << 8
                              | (__u32) direction << 16
                              | (__u32) DP_TRACE_FW_RAN << 24;
    skb->cb[DP_TRACE_CB_RULE] = rule;
}

static __always_inline void
fab_fw_count_rule(__u32 rule_id)
{
    struct dp_rule_key key = {.rule_id = rule_id};
    struct dp_rule_hits *h;

    if (!rule_id) {
        return;
    }
    h = bpf_map_lookup_elem(&fab_rule_hits, &key);
    if (h) {
        __sync_fetch_and_add(&h->hits, 1);
    }
}

static __always_inline struct fab_fw_counters *
fab_fw_counters_get(void)
{
    __u32 zero = 0;

    return bpf_map_lookup_elem(&fab_fw_counters, &zero);
}

#define FAB_FW_EVENT_WHAT(action, reason, direction)                          \
    ((__u32) (action) | ((__u32) (reason) << 8) | ((__u32) (direction) << 16))
#define FAB_FW_IDS(src, dst) ((__u32) (src) | ((__u32) (dst) << 16))

/* Sends a flow event for the frame that 'info' describes: 'what' packs the
 * action, reason and direction (FAB_FW_EVENT_WHAT), 'ids' the sender's and
 * receiver's identities (FAB_FW_IDS).  The local port named is the sender's
 * for egress, the receiver's for ingress. */
__attribute__((noinline)) int
fab_fw_event(const struct pkt_info *info, const struct fab_fw_args *a,
             __u32 what, __u32 rule, __u32 ids)
{
    __u8 direction = (what >> 16) & 0xff;
    struct dp_flow_event *e;

    if (!info || !a) {
        return -1;
    }
    e = bpf_ringbuf_reserve(&fab_flow_events, sizeof *e, 0);
    if (!e) {
        struct fab_fw_counters *c = fab_fw_counters_get();

        if (c) {
            c->events_lost++;
        }
        return -1;
    }
    __builtin_memset(e, 0, sizeof *e);
    e->time_ns = bpf_ktime_get_ns();
    e->vni = a->vni;
    e->ifindex = direction == POLICY_EGRESS ? a->src_ifindex : a->dst_ifindex;
    e->rule_id = rule;
    e->proto = info->l4_proto;
    e->action = what & 0xff;
    e->reason = (what >> 8) & 0xff;
    e->direction = direction;
    e->src_identity = ids & 0xffff;
    e->dst_identity = ids >> 16;
    e->sport = info->sport;
    e->dport = info->dport;
    if (info->l3_proto == PKT_ETH_P_IPV4) {
        e->family = CT_FAMILY_IPV4;
        __builtin_memcpy(e->src, &info->src4, 4);
        __builtin_memcpy(e->dst, &info->dst4, 4);
    } else {
        e->family = CT_FAMILY_IPV6;
        __builtin_memcpy(e->src, info->src6, 16);
        __builtin_memcpy(e->dst, info->dst6, 16);
    }
    bpf_ringbuf_submit(e, 0);
    return 0;
}

/* Returns true for ICMPv6 messages that IPv6 itself needs, like ARP for
 * IPv4: multicast listener and neighbour discovery. */
static __always_inline bool
fab_fw_is_nd(const struct pkt_info *info)
{
    __u8 type = ct_icmp_type(info);

    return info->l4_proto == PKT_IPPROTO_ICMPV6 && !info->fragment
           && ((type >= 130 && type <= 137) || type == 143);
}

/* Drops a frame the firewall refused, counting it against the local port
 * on the side that refused it. */
static __always_inline int
fab_fw_drop(struct __sk_buff *skb, const struct fab_fw_args *a, __u8 direction,
            enum dp_drop_reason reason)
{
    bool src_side =
        (direction == POLICY_EGRESS && a->src_ifindex) || !a->dst_ifindex;

    return fab_drop(skb, src_side ? a->src_slot : a->dst_slot, reason);
}

/* Fills the scratch's policy side for the local endpoint of identity
 * 'group' with DP_PORT_FW_* 'flags', facing the peer at 'addr' that
 * carries identity 'carried' (and is behind an external VTEP if
 * 'external'), in 'direction', and decides it into '*out'. */
static __always_inline void
fab_fw_side(struct fab_fw_scratch *s, const struct pkt_info *info,
            const struct fab_fw_args *a, __u8 family, const __u8 *addr,
            __u16 group, __u16 carried, bool external, __u32 flags,
            __u8 direction, struct fab_fw_decision *out)
{
    struct policy_side *side = &s->side;

    __builtin_memset(side, 0, sizeof *side);
    side->vni = a->vni;
    side->group = group;
    side->peer_carried = carried;
    side->direction = direction;
    side->proto = info->l4_proto;
    side->port = policy_port_from_info(info);
    side->governed = (flags
                      & (direction == POLICY_INGRESS ? DP_PORT_FW_INGRESS
                                                     : DP_PORT_FW_EGRESS))
                     != 0;
    side->default_deny = (flags & DP_PORT_FW_DEFAULT_DENY) != 0;
    side->family = family;
    side->peer_external = external;
    if (family == CT_FAMILY_IPV4) {
        __builtin_memcpy(side->peer_addr, addr, 4);
    } else {
        __builtin_memcpy(side->peer_addr, addr, 16);
    }
    fab_fw_policy(side, out);
}

/* Decides a new connection for both local endpoints: egress of a local
 * sender, then ingress of a local receiver.  Returns the direction that
 * refused it, or -1 if both allow. */
__attribute__((noinline)) int
fab_fw_decide_new(const struct pkt_info *info, const struct fab_fw_args *a,
                  struct fab_fw_decision *egress,
                  struct fab_fw_decision *ingress)
{
    struct fab_fw_scratch *s = fab_fw_scratch_get();
    const __u8 *src, *dst;
    __u8 family;

    if (!s || !info || !a || !egress || !ingress) {
        return POLICY_EGRESS;
    }
    if (info->l3_proto == PKT_ETH_P_IPV4) {
        family = CT_FAMILY_IPV4;
        src = (const __u8 *) &info->src4;
        dst = (const __u8 *) &info->dst4;
    } else {
        family = CT_FAMILY_IPV6;
        src = info->src6;
        dst = info->dst6;
    }
    if (a->src_ifindex && fab_fw_wanted(a->src_flags)) {
        /* Only a local receiver's identity is known before a lookup. */
        fab_fw_side(s, info, a, family, dst, a->src_identity,
                    a->dst_ifindex ? a->dst_identity : 0, false, a->src_flags,
                    POLICY_EGRESS, egress);
        if (egress->v.action != POLICY_ALLOW) {
            return POLICY_EGRESS;
        }
    }
    if (a->dst_ifindex && fab_fw_wanted(a->dst_flags)) {
        fab_fw_side(s, info, a, family, src, a->dst_identity, a->src_identity,
                    a->src_external, a->dst_flags, POLICY_INGRESS, ingress);
        if (ingress->v.action != POLICY_ALLOW) {
            return POLICY_INGRESS;
        }
    }
    return -1;
}

/* Returns 0 if the ICMP error that 'info' describes, in the frame at
 * 'frame_off', is about a connection conntrack knows, else -1. */
__attribute__((noinline)) int
fab_fw_related(struct __sk_buff *skb, const struct pkt_info *info,
               const struct fab_fw_args *a)
{
    struct fab_fw_scratch *s = fab_fw_scratch_get();
    void *data, *end;
    struct dp_ct *e;
    bool key_dir;
    __u32 off;

    if (!s || !info || !a) {
        return -1;
    }
    off = a->frame_off;
    if (off > FAB_PULL_LEN) {
        return -1;
    }
    asm volatile("%0 &= %1" : "+r"(off) : "i"(2 * FAB_PULL_LEN - 1));
    data = fab_data(skb);
    end = fab_data_end(skb);
    if (data + off > end) {
        return -1;
    }
    if (ct_key_from_icmp_error(data + off, end, info, a->vni, &s->key,
                               &key_dir)
        < 0) {
        return -1;
    }
    e = bpf_map_lookup_elem(&fab_conntrack, &s->key);
    return e && !ct_entry_expired(&e->ct, bpf_ktime_get_ns()) ? 0 : -1;
}

/* Returns the share of the conntrack table of the port in counter slot
 * 'slot', or NULL. */
static __always_inline struct fab_ct_port *
fab_ct_port_get(__u32 slot)
{
    return bpf_map_lookup_elem(&fab_ct_ports, &slot);
}

/* Counts a new entry against 'owner' (NULL: nobody's).  Returns false,
 * counting nothing, if the owner already has all it may. */
static __always_inline bool
fab_ct_charge(struct fab_ct_port *owner)
{
    __s64 before;

    if (!owner) {
        return true;
    }
    before = __sync_fetch_and_add(&owner->tracked, 1);
    if (owner->max && before >= (__s64) owner->max) {
        __sync_fetch_and_add(&owner->tracked, -1);
        return false;
    }
    return true;
}

/* Deletes the expired entry of 'key', which port 'owner_ifindex' owns, and
 * gives the owner its share back.  Only the one deletion that succeeds
 * does: the agent may be collecting the same entry. */
static __always_inline void
fab_ct_release(const struct ct_key *key, __u32 owner_ifindex)
{
    const struct fab_port_entry *port;
    struct fab_ct_port *owner;

    if (bpf_map_delete_elem(&fab_conntrack, key)) {
        return;
    }
    port = owner_ifindex ? fab_port_find(owner_ifindex) : NULL;
    owner = port ? fab_ct_port_get(port->stats_slot) : NULL;
    if (owner) {
        __sync_fetch_and_add(&owner->tracked, -1);
    }
}

/* Sends a flow event for a connection that decision 'd' in 'direction'
 * allowed, if its rule asks for logging. */
static __always_inline void
fab_fw_log_allowed(const struct pkt_info *info, const struct fab_fw_args *a,
                   const struct fab_fw_decision *d, __u8 direction, __u32 ids)
{
    if (d->log) {
        fab_fw_event(info, a,
                     FAB_FW_EVENT_WHAT(POLICY_ALLOW, d->v.reason, direction),
                     d->v.rule_id, ids);
    }
}

/* Reports to a trace that decisions 'egress' and 'ingress' allowed the
 * frame between the endpoints in '*a': the receiver's if it is local and
 * firewalled, else the sender's. */
static __always_inline void
fab_fw_trace_allowed(struct __sk_buff *skb, const struct fab_fw_args *a,
                     const struct fab_fw_decision *egress,
                     const struct fab_fw_decision *ingress)
{
    if (a->dst_ifindex && fab_fw_wanted(a->dst_flags)) {
        fab_fw_trace(skb, POLICY_ALLOW, ingress->v.reason, POLICY_INGRESS,
                     ingress->v.rule_id);
    } else {
        fab_fw_trace(skb, POLICY_ALLOW, egress->v.reason, POLICY_EGRESS,
                     egress->v.rule_id);
    }
}

/* Drops the frame between the endpoints in '*a', whose headers 'info'
 * describes, that decision 'd' in 'direction' refused: counted against the
 * port whose policy refused it and its rule, and logged (a trace only
 * hears of it). */
static __always_inline int
fab_fw_refuse(struct __sk_buff *skb, const struct pkt_info *info,
              const struct fab_fw_args *a, __u8 direction,
              const struct fab_fw_decision *d)
{
    __u16 src_id = a->src_identity, dst_id = a->dst_identity;

    if (direction == POLICY_EGRESS && !a->dst_ifindex) {
        dst_id = d->peer;
    } else if (direction == POLICY_INGRESS && !src_id) {
        src_id = d->peer;
    }
    if (fab_tracing(skb)) {
        fab_fw_trace(skb, POLICY_DENY, d->v.reason, direction, d->v.rule_id);
    } else {
        fab_fw_count_rule(d->v.rule_id);
        fab_fw_event(info, a,
                     FAB_FW_EVENT_WHAT(POLICY_DENY, d->v.reason, direction),
                     d->v.rule_id, FAB_FW_IDS(src_id, dst_id));
    }
    return fab_fw_drop(skb, a, direction, DP_DROP_FW_DENY);
}

/* Judges the IP frame between the endpoints in '*a', whose headers 'info'
 * describes, by the policy alone: for what conntrack cannot track (later
 * fragments, ICMP beyond echo and errors) or must not (fab_fw_trackable()),
 * and for each copy of a flood (datapath/bpf/flood.h).  IPv6's own ICMPv6
 * passes.  An allowed frame counts as a connection of its own for rule
 * hits and logs.  Returns 0 to let it through, or TC_ACT_SHOT once it has
 * counted the drop.  A function of its own, which the verifier checks
 * once, with a small stack for the flood loop to call. */
__attribute__((noinline)) int
fab_fw_stateless(struct __sk_buff *skb, const struct pkt_info *info,
                 const struct fab_fw_args *a)
{
    struct fab_fw_decision egress = {}, ingress = {};
    int refused;

    if (!info || !a) {
        return fab_drop(skb, FAB_SLOT_UNKNOWN, DP_DROP_INTERNAL);
    }
    if (fab_fw_is_nd(info)) {
        return 0;
    }
    refused = fab_fw_decide_new(info, a, &egress, &ingress);
    if (refused >= 0) {
        return fab_fw_refuse(skb, info, a, refused,
                             refused == POLICY_EGRESS ? &egress : &ingress);
    }
    if (fab_tracing(skb)) {
        fab_fw_trace_allowed(skb, a, &egress, &ingress);
        return 0;
    }
    fab_fw_count_rule(egress.v.rule_id);
    fab_fw_count_rule(ingress.v.rule_id);
    fab_fw_log_allowed(info, a, &egress, POLICY_EGRESS,
                       FAB_FW_IDS(a->src_identity ?: ingress.peer,
                                  a->dst_identity ?: egress.peer));
    fab_fw_log_allowed(info, a, &ingress, POLICY_INGRESS,
                       FAB_FW_IDS(a->src_identity ?: ingress.peer,
                                  a->dst_identity ?: egress.peer));
    return 0;
}

/* Runs the firewall on an IP frame between the endpoints in '*a', whose
 * headers 'info' describes.  Returns 0 to let it through, or TC_ACT_SHOT
 * once it has counted the drop.  The caller makes sure that a local side
 * with firewall flags exists and that the frame's headers are linear. */
static __always_inline int
fab_firewall(struct __sk_buff *skb, const struct pkt_info *info,
             const struct fab_fw_args *a)
{
    struct fab_fw_decision egress = {}, ingress = {};
    struct fab_fw_scratch *s = fab_fw_scratch_get();
    bool tracing = fab_tracing(skb);
    struct fab_fw_counters *c;
    struct fab_ct_port *owner;
    __u64 now = bpf_ktime_get_ns();
    void *data, *end;
    struct dp_ct *e;
    bool key_dir = false;
    __u32 off, len, ids;
    int kind, refused, err;

    if (!a) {
        return fab_drop(skb, FAB_SLOT_UNKNOWN, DP_DROP_INTERNAL);
    }
    if (!s || !info) {
        return fab_drop(skb, a->src_slot, DP_DROP_INTERNAL);
    }
    off = a->frame_off;
    if (off > FAB_PULL_LEN) {
        return fab_drop(skb, a->src_slot, DP_DROP_NOT_LINEAR);
    }
    asm volatile("%0 &= %1" : "+r"(off) : "i"(2 * FAB_PULL_LEN - 1));
    data = fab_data(skb);
    end = fab_data_end(skb);
    if (data + off > end) {
        return fab_drop(skb, a->src_slot, DP_DROP_NOT_LINEAR);
    }
    data += off;
    len = skb->len > off ? skb->len - off : 0;

    kind = ct_key_from_info(info, a->vni, &s->key, &key_dir);
    if (kind == CT_KEY_NONE || (a->flags & FAB_FW_STATELESS)) {
        return fab_fw_stateless(skb, info, a);
    }
    if (kind == CT_KEY_RELATED) {
        /* An ICMP error passes only for a connection it is about. */
        if (!fab_fw_related(skb, info, a)) {
            if (tracing) {
                fab_fw_trace(skb, POLICY_ALLOW, DP_FW_BY_CT_HIT,
                             a->src_ifindex ? POLICY_EGRESS : POLICY_INGRESS,
                             0);
            }
            return 0;
        }
        refused = a->src_ifindex && fab_fw_wanted(a->src_flags)
                      ? POLICY_EGRESS
                      : POLICY_INGRESS;
        if (tracing) {
            fab_fw_trace(skb, POLICY_DENY, DP_FW_BY_NO_CONN, refused, 0);
        }
        return fab_fw_drop(skb, a, refused, DP_DROP_FW_DENY);
    }
    e = bpf_map_lookup_elem(&fab_conntrack, &s->key);
    if (e && !ct_entry_expired(&e->ct, now)) {
        if (tracing) {
            fab_fw_trace(skb, POLICY_ALLOW, DP_FW_BY_CT_HIT,
                         a->src_ifindex ? POLICY_EGRESS : POLICY_INGRESS,
                         e->egress_rule ?: e->ingress_rule);
            return 0;
        }
        if (ct_entry_update(&e->ct, key_dir, ct_tcp_flags(data, end, info),
                            now, len)
            == CT_INVALID) {
            return fab_fw_drop(skb, a,
                               a->src_ifindex ? POLICY_EGRESS : POLICY_INGRESS,
                               DP_DROP_CT_INVALID);
        }
        return 0;
    }
    if (!ct_info_may_create(info)) {
        /* An echo reply without its request. */
        refused = a->src_ifindex ? POLICY_EGRESS : POLICY_INGRESS;
        if (tracing) {
            fab_fw_trace(skb, POLICY_DENY, DP_FW_BY_NO_CONN, refused, 0);
        }
        return fab_fw_drop(skb, a, refused, DP_DROP_FW_DENY);
    }
    refused = fab_fw_decide_new(info, a, &egress, &ingress);
    if (refused >= 0) {
        goto deny;
    }

    __builtin_memset(&s->entry, 0, sizeof s->entry);
    ct_entry_init(&s->entry.ct, info->l4_proto, key_dir, now);
    if (ct_entry_update(&s->entry.ct, key_dir, ct_tcp_flags(data, end, info),
                        now, len)
        == CT_INVALID) {
        /* TCP that does not open with a SYN: no connection to allow. */
        refused = a->src_ifindex ? POLICY_EGRESS : POLICY_INGRESS;
        if (tracing) {
            fab_fw_trace(skb, POLICY_DENY, DP_FW_BY_INVALID, refused, 0);
        }
        return fab_fw_drop(skb, a, refused, DP_DROP_CT_INVALID);
    }
    s->entry.egress_rule = egress.v.rule_id;
    s->entry.ingress_rule = ingress.v.rule_id;
    s->entry.orig_src_identity = a->src_identity ?: ingress.peer;
    s->entry.orig_dst_identity = a->dst_identity ?: egress.peer;
    s->entry.orig_ifindex = a->src_ifindex;
    if (tracing) {
        fab_fw_trace_allowed(skb, a, &egress, &ingress);
        return 0;
    }
    s->entry.owner_ifindex = a->src_ifindex ?: a->dst_ifindex;
    if (e) {
        fab_ct_release(&s->key, e->owner_ifindex);
    }
    owner = fab_ct_port_get(a->src_ifindex ? a->src_slot : a->dst_slot);
    if (!fab_ct_charge(owner)) {
        return fab_fw_drop(skb, a,
                           a->src_ifindex ? POLICY_EGRESS : POLICY_INGRESS,
                           DP_DROP_CT_PORT_LIMIT);
    }
    err = bpf_map_update_elem(&fab_conntrack, &s->key, &s->entry, BPF_NOEXIST);
    if (err && owner) {
        __sync_fetch_and_add(&owner->tracked, -1);
    }
    if (err == -FAB_E2BIG) {
        c = fab_fw_counters_get();
        if (c) {
            c->ct_full++;
        }
        refused = a->src_ifindex ? POLICY_EGRESS : POLICY_INGRESS;
        fab_fw_event(info, a,
                     FAB_FW_EVENT_WHAT(POLICY_DENY, DP_FW_BY_CT_FULL, refused),
                     0,
                     FAB_FW_IDS(s->entry.orig_src_identity,
                                s->entry.orig_dst_identity));
        return fab_fw_drop(skb, a, refused, DP_DROP_CT_FULL);
    }
    fab_fw_count_rule(egress.v.rule_id);
    fab_fw_count_rule(ingress.v.rule_id);
    ids = FAB_FW_IDS(s->entry.orig_src_identity, s->entry.orig_dst_identity);
    fab_fw_log_allowed(info, a, &egress, POLICY_EGRESS, ids);
    fab_fw_log_allowed(info, a, &ingress, POLICY_INGRESS, ids);
    return 0;

deny:
    return fab_fw_refuse(skb, info, a, refused,
                         refused == POLICY_EGRESS ? &egress : &ingress);
}

/* The start of both firewall stages: runs the firewall on the frame that
 * the calling program left in the per-CPU scratch.  Returns 0 and points
 * '*tmpp' at the scratch if the frame may go on, else the verdict. */
static __always_inline int
fab_fw_stage(struct __sk_buff *skb, struct fab_pkt_scratch **tmpp)
{
    struct fab_pkt_scratch *tmp = fab_pkt_scratch_get();

    if (!tmp) {
        return fab_drop(skb, FAB_SLOT_UNKNOWN, DP_DROP_INTERNAL);
    }
    *tmpp = tmp;
    return fab_firewall(skb, &tmp->info, &tmp->fw);
}

#endif /* datapath/bpf/firewall.h */
