/* The fast path's tables as BTF-defined maps, pinned by name under the
 * instance's directory so that they outlive the agent and are shared by the
 * port and uplink programs.  Sizes here are defaults; the loader resizes them
 * from its options before the first load. */
#ifndef DATAPATH_BPF_MAPS_H
#define DATAPATH_BPF_MAPS_H 1

#include "datapath/bpf/abi.h"
#include "datapath/dp-tables.h"
#include "datapath/drop.h"

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 4096);
    __type(key, struct dp_port_key);
    __type(value, struct fab_port_entry);
    __uint(pinning, LIBBPF_PIN_BY_NAME);
} fab_ports SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 4096);
    __type(key, struct dp_network_key);
    __type(value, struct dp_network);
    __uint(pinning, LIBBPF_PIN_BY_NAME);
} fab_networks SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 65536);
    __type(key, struct dp_fdb_key);
    __type(value, struct fab_fdb_entry);
    __uint(pinning, LIBBPF_PIN_BY_NAME);
} fab_fdb SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 65536);
    __type(key, struct dp_binding_key);
    __type(value, struct dp_binding);
    __uint(pinning, LIBBPF_PIN_BY_NAME);
} fab_bindings SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 4096);
    __type(key, struct dp_flood_key);
    __type(value, struct dp_flood);
    __uint(pinning, LIBBPF_PIN_BY_NAME);
} fab_flood_lists SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 4096);
    __type(key, struct dp_nexthop_key);
    __type(value, struct dp_nexthop);
    __uint(pinning, LIBBPF_PIN_BY_NAME);
} fab_nexthops SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, FAB_NEXTHOP_SLOTS);
    __type(key, __u32);
    __type(value, struct fab_nexthop_slot);
    __uint(pinning, LIBBPF_PIN_BY_NAME);
} fab_nexthop_slots SEC(".maps");

/* The indexes of fab_ports and fab_fdb (struct fab_port_slot in
 * datapath/bpf/abi.h).  The loader maps them into its memory to write them
 * with ordered stores, and sizes them to a power of two at least as large
 * as their tables. */
struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 4096);
    __uint(map_flags, BPF_F_MMAPABLE);
    __type(key, __u32);
    __type(value, struct fab_port_slot);
    __uint(pinning, LIBBPF_PIN_BY_NAME);
} fab_port_index SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 65536);
    __uint(map_flags, BPF_F_MMAPABLE);
    __type(key, __u32);
    __type(value, struct fab_fdb_slot);
    __uint(pinning, LIBBPF_PIN_BY_NAME);
} fab_fdb_index SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct dp_config);
    __uint(pinning, LIBBPF_PIN_BY_NAME);
} fab_config SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 4096);
    __type(key, struct dp_qos_key);
    __type(value, struct fab_qos_entry);
    __uint(pinning, LIBBPF_PIN_BY_NAME);
} fab_qos SEC(".maps");

/* The QoS the fast path applies, by port slot (struct fab_port_entry):
 * an array read instead of a hash lookup.  The loader copies each port's
 * fab_qos entry here; the limiters' state lives here. */
struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 4096 + FAB_SLOT_FIRST_PORT);
    __type(key, __u32);
    __type(value, struct fab_qos_entry);
    __uint(pinning, LIBBPF_PIN_BY_NAME);
} fab_qos_live SEC(".maps");

/* The firewall's tables: doc/firewall.md. */
struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 262144);
    __type(key, struct policy_key);
    __type(value, struct policy_value);
    __uint(pinning, LIBBPF_PIN_BY_NAME);
} fab_policies SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_LPM_TRIE);
    __uint(max_entries, 16384);
    __uint(map_flags, BPF_F_NO_PREALLOC);
    __type(key, struct policy_cidr_key);
    __type(value, struct dp_policy_cidr);
    __uint(pinning, LIBBPF_PIN_BY_NAME);
} fab_policy_cidrs SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 4096);
    __type(key, struct dp_vtep_key);
    __type(value, struct dp_vtep);
    __uint(pinning, LIBBPF_PIN_BY_NAME);
} fab_vteps SEC(".maps");

/* A plain hash, not an LRU: when it is full, new connections are refused
 * and counted rather than established ones evicted.  The agent collects
 * expired entries. */
struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 65536);
    __type(key, struct ct_key);
    __type(value, struct dp_ct);
    __uint(pinning, LIBBPF_PIN_BY_NAME);
} fab_conntrack SEC(".maps");

/* Each port's share of fab_conntrack, by port slot (struct fab_ct_port). */
struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 4096 + FAB_SLOT_FIRST_PORT);
    __uint(map_flags, BPF_F_MMAPABLE);
    __type(key, __u32);
    __type(value, struct fab_ct_port);
    __uint(pinning, LIBBPF_PIN_BY_NAME);
} fab_ct_ports SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 262144);
    __type(key, struct dp_rule_key);
    __type(value, struct dp_rule_hits);
    __uint(pinning, LIBBPF_PIN_BY_NAME);
} fab_rule_hits SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_RINGBUF);
    __uint(max_entries, 1 << 20);
    __uint(pinning, LIBBPF_PIN_BY_NAME);
} fab_flow_events SEC(".maps");

/* Punts (struct dp_punt) for the agent: DHCP client frames of VM ports. */
struct {
    __uint(type, BPF_MAP_TYPE_RINGBUF);
    __uint(max_entries, 1 << 18);
    __uint(pinning, LIBBPF_PIN_BY_NAME);
} fab_punts SEC(".maps");

/* Each port's punt rate limiter, by port slot: a policer whose "bytes" are
 * punts (datapath/bpf/punt.h). */
struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 4096 + FAB_SLOT_FIRST_PORT);
    __type(key, __u32);
    __type(value, struct qos_bucket);
    __uint(pinning, LIBBPF_PIN_BY_NAME);
} fab_punt_limits SEC(".maps");

/* Whether each standby port (DP_PORT_STANDBY) has activated, by port slot:
 * 1 once its first frame has been seen and punted.  The fast path sets it
 * with a compare-and-swap, so exactly one frame punts; the loader arms it
 * (0) when it writes a port into standby, and reports an activated port's
 * entry without the flag. */
struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 4096 + FAB_SLOT_FIRST_PORT);
    __type(key, __u32);
    __type(value, __u64); /* 64 bits: the compare-and-swap BPF has. */
    __uint(pinning, LIBBPF_PIN_BY_NAME);
} fab_port_active SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct fab_fw_counters);
    __uint(pinning, LIBBPF_PIN_BY_NAME);
} fab_fw_counters SEC(".maps");

/* Indexed by the slots of datapath/bpf/abi.h. */
struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 4096 + FAB_SLOT_FIRST_PORT);
    __type(key, __u32);
    __type(value, struct dp_stats);
    __uint(pinning, LIBBPF_PIN_BY_NAME);
} fab_stats SEC(".maps");

#endif /* datapath/bpf/maps.h */
