/* What the eBPF backend's loader (datapath/dp-bpf.c) and its BPF programs
 * agree on beyond the backend-neutral tables: how a port finds its
 * counters. */
#ifndef DATAPATH_BPF_ABI_H
#define DATAPATH_BPF_ABI_H 1

#include "datapath/dp-tables.h"

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
};

#endif /* datapath/bpf/abi.h */
