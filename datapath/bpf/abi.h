/* What the eBPF backend's loader (datapath/dp-bpf.c) and its BPF programs
 * agree on beyond the backend-neutral tables: how a port finds its
 * counters. */
#ifndef DATAPATH_BPF_ABI_H
#define DATAPATH_BPF_ABI_H 1

#ifndef __bpf__
#include <linux/bpf.h> /* struct bpf_spin_lock; vmlinux.h has it in BPF. */
#endif
#include "datapath/dp-tables.h"
#include "qos/bucket.h"

/* Counters live in a per-CPU array, whose lookups the verifier inlines; a
 * per-CPU hash keyed by ifindex cost about 85 ns a packet in lookups.  The
 * loader gives every port a slot; these two are fixed. */
#define FAB_SLOT_UNKNOWN 0    /* Frames no known device can be blamed for. */
#define FAB_SLOT_UNDERLAY 1   /* The underlay device. */
#define FAB_SLOT_FIRST_PORT 2 /* Ports take slots from here on. */

/* The value of the fab_ports map.  The table entry comes first, so what the
 * backend-neutral API reads is a prefix of it. */
struct fab_port_entry {
    struct dp_port port; /* The table entry as written. */
    __u32 stats_slot;    /* Index into fab_stats. */
    __u32 has_qos;       /* 1 if the port has a QoS entry, which the
                          * fast path then finds in fab_qos_live at
                          * 'stats_slot'. */
};

/* The value of the fab_qos map: the table entry as its prefix, then the
 * limiters' state, shared by all CPUs (see qos/bucket.h): the pacer is
 * serialized by 'lock', the policers update their TAT with a
 * compare-and-swap.  The loader fills in the limiters from the table entry
 * and the length of a scheduler tick, and, on a change, keeps their times
 * and changes only the rates, unless a policer changes clocks. */
struct fab_qos_entry {
    struct dp_qos qos;               /* The table entry as written. */
    struct bpf_spin_lock lock;       /* Held around the pacer's updates. */
    __u32 pad;                       /* Zero. */
    struct qos_edt egress;           /* Pacer of what the VM sends. */
    struct qos_bucket egress_police; /* Policer of what it sends where
                                      * no pacing applies. */
    struct qos_bucket ingress;       /* Policer of what the VM receives. */
};

/* How far ahead of now a VM's packet may be paced before it is dropped as
 * "qos-horizon": the most queueing delay a rate limit adds to what a VM
 * sends (TCP, whose socket keeps its packets accounted while fq holds
 * them, queues far less).  fq's own horizon, 10 s, is wider. */
#define FAB_QOS_HORIZON_NS (100ULL * 1000 * 1000)

/* The value of the fab_fdb map: the table entry as its prefix, then, for a
 * remote MAC, the slot of its VTEP in fab_nexthop_slots (0: none).  The
 * loader gives each VTEP a slot the first time an entry or a next hop
 * names it, so that encapsulation reads its next hop from an array: a hash
 * lookup cost about 45 ns a packet there. */
struct fab_fdb_entry {
    struct dp_fdb_entry fdb; /* The table entry as written. */
    __u32 nh_slot;           /* Index into fab_nexthop_slots, or 0. */
};

/* The value of fab_nexthop_slots: a copy of the DP_NEXTHOPS entry of
 * 'vtep', or zeros there while it is not resolved.  Slot 0 is never used. */
struct fab_nexthop_slot {
    __be32 vtep;          /* Whose slot this is; 0 for a free slot. */
    __u32 pad;            /* Zero. */
    struct dp_nexthop nh; /* Its next hop; ifindex 0 while unresolved. */
};

#define FAB_NEXTHOP_SLOTS 4096

/* The most TTL a frame sent back to the host it came from keeps: enough for
 * a routed underlay's hops, and few round trips should both hosts forward
 * the MAC to each other (which the documents never ask: a destination's
 * entry is standby or local until the VM leaves it again, and the host it
 * leaves for holds a standby entry by then). */
#define FAB_FORWARD_BACK_TTL 8

/* The fast path's index of the port and FDB tables (datapath/bpf/index.h
 * reads it, datapath/dp-bpf-index.c writes it).  A hash lookup costs the
 * fast path 30-40 ns, most of the budget of a frame; an index is an
 * open-addressed array of copies of the hash tables' records that the
 * verifier turns into a few loads.  The hash tables stay the truth: a
 * record that is not in its index (no room in its window of probes) is
 * looked up by hash, and so is everything while the index is empty.
 *
 * A slot holds two copies of its record and a tag that says which is
 * current.  The loader writes the other copy, then switches the tag with
 * a release store; a reader loads the tag once and reads the copy it names.
 * A copy that a reader may still be reading is rewritten only after an RCU
 * grace period, which the loader waits for with membarrier(2), so a reader
 * never sees a record half written. */
#define FAB_INDEX_VALID 1u /* Tag bit: the slot holds a record. */
#define FAB_INDEX_COPY 2u  /* Tag bit: the current copy is copy[1]. */
#define FAB_INDEX_PROBES 4 /* Slots a key may occupy, from its hash on. */

/* A record of the port index: a fab_ports entry with its key. */
struct fab_port_record {
    struct dp_port_key key;
    struct fab_port_entry entry;
};

struct fab_port_slot {
    __u32 tag; /* FAB_INDEX_*. */
    __u32 pad; /* Zero. */
    struct fab_port_record copy[2];
};

/* A record of the FDB index: a fab_fdb entry with its key. */
struct fab_fdb_record {
    struct dp_fdb_key key;
    struct fab_fdb_entry entry;
};

struct fab_fdb_slot {
    __u32 tag; /* FAB_INDEX_*. */
    __u32 pad; /* Zero. */
    struct fab_fdb_record copy[2];
};

/* The first slot of a port's window: ifindexes are small and dense, so they
 * spread on their own. */
PKT_INLINE __u32
fab_port_index_hash(const struct dp_port_key *key)
{
    return key->ifindex;
}

/* The first slot of an FDB key's window, before masking: a multiplicative
 * hash of the VNI and the MAC, whose last bytes vary most. */
PKT_INLINE __u32
fab_fdb_index_hash(const struct dp_fdb_key *key)
{
    __u32 h = key->vni * 0x9e3779b1u;

    h ^= (__u32) key->mac[2] << 24 | (__u32) key->mac[3] << 16
         | (__u32) key->mac[4] << 8 | key->mac[5];
    h *= 0x85ebca6bu;
    h ^= (__u32) key->mac[0] << 8 | key->mac[1];
    return h ^ (h >> 15);
}

/* Slots of the stage table fab_fw_stages, which the loader fills. */
#define FAB_STAGE_PORT_FIREWALL 0
#define FAB_STAGE_UPLINK_FIREWALL 1
#define FAB_STAGE_PORT_FLOOD 2   /* An IP flood from a port. */
#define FAB_STAGE_UPLINK_FLOOD 3 /* An IP flood from the underlay. */
#define FAB_N_STAGES 4

/* The value of fab_fw_counters, per CPU: the firewall's counters that
 * belong to no port (struct dp_fw_stats sums them). */
struct fab_fw_counters {
    __u64 ct_full;     /* New connections refused: table full. */
    __u64 events_lost; /* Flow events the ring buffer had no room for. */
};

/* The value of fab_ct_ports, by port slot: a port's share of the conntrack
 * table.  The fast path adds to 'tracked' when it creates an entry the port
 * owns (struct dp_ct's 'owner_ifindex') and refuses the connection as
 * "conntrack-port-limit" if that would pass 'max'; whoever deletes an entry
 * (the fast path replacing an expired one, the loader for the agent)
 * subtracts.  The loader maps the array into its memory, so that its
 * subtractions and its stores of 'max' are atomic beside the fast path's
 * additions.  A race of two deletions can leave 'tracked' off by one;
 * 'tracked' is signed so that a count that ends up below zero lets
 * connections through rather than blocking the port. */
struct fab_ct_port {
    __s64 tracked; /* Entries the port owns. */
    __u32 max;     /* How many it may own, 0 for no limit. */
    __u32 pad;     /* Zero. */
};

#endif /* datapath/bpf/abi.h */
