/* The tables that userspace writes and the fast path reads.
 *
 * These are the datapath's whole view of the world: the eBPF backend keeps
 * each table in a pinned map, the DPDK backend in its own hash tables, and
 * the agent diffs desired against actual contents table by table.  Compiles
 * under "clang -target bpf" and gcc. */
#ifndef DATAPATH_DP_TABLES_H
#define DATAPATH_DP_TABLES_H 1

#include "packet/types.h"

/* Local ports plus remote VTEPs per VNI; a power of two. */
#define DP_FLOOD_MAX 256

/* DP_PORTS: a VM port, keyed by the ifindex of its host-side device
 * (a veth or a tap). */
struct dp_port_key {
    __u32 ifindex; /* Host-side device. */
};

#define DP_PORT_SECURITY 0x1 /* Drop frames not from the port's MAC/IP. */
#define DP_PORT_VETH 0x2     /* A veth: deliver with redirect to peer. */

struct dp_port {
    __u32 vni;              /* The port's virtual network. */
    __u32 flags;            /* DP_PORT_*. */
    __u8 mac[PKT_ETH_ALEN]; /* The VM's MAC. */
    __u16 mtu;              /* Largest L3 packet the VM may send. */
    __be32 ip4;             /* The VM's IPv4 address, 0 for none. */
    __u8 ip6[16];           /* The VM's IPv6 address, zero for none. */
};

/* DP_NETWORKS: a virtual network, keyed by VNI.  Frames for a VNI without an
 * entry are dropped. */
struct dp_network_key {
    __u32 vni; /* 24-bit VXLAN network identifier. */
};

struct dp_network {
    __u32 mtu;   /* VM-facing MTU of the network. */
    __u32 flags; /* Reserved, 0. */
};

/* DP_FDB: where a MAC lives within a VNI.  Written by the agent only; the
 * fast path never learns. */
struct dp_fdb_key {
    __u32 vni;              /* Virtual network. */
    __u8 mac[PKT_ETH_ALEN]; /* Endpoint MAC. */
    __u16 pad;              /* Zero. */
};

struct dp_fdb_entry {
    __u32 ifindex; /* Local port's device, or 0 if remote. */
    __be32 vtep;   /* Remote VTEP address, when ifindex is 0. */
};

/* DP_BINDINGS: IPv4 to MAC within a VNI, answered by the ARP responder. */
struct dp_binding_key {
    __u32 vni;  /* Virtual network. */
    __be32 ip4; /* Endpoint address. */
};

struct dp_binding {
    __u8 mac[PKT_ETH_ALEN]; /* The MAC that owns 'ip4'. */
    __u16 pad;              /* Zero. */
};

/* DP_FLOOD: where broadcast, multicast and unknown unicast of a VNI go. */
struct dp_flood_key {
    __u32 vni; /* Virtual network. */
};

struct dp_flood_member {
    __u32 ifindex; /* A local port's device, or 0. */
    __be32 vtep;   /* A remote VTEP, when 'ifindex' is 0. */
};

struct dp_flood {
    __u32 n_members; /* Used entries of 'members'. */
    __u32 pad;       /* Zero. */
    struct dp_flood_member members[DP_FLOOD_MAX]; /* Locals first. */
};

/* DP_NEXTHOPS: how to reach a remote VTEP on the underlay, resolved by the
 * agent from the kernel's routes and neighbours.  The fast path never
 * consults the FIB itself: a lookup here is cheaper, and bpf_fib_lookup()
 * would demand IP forwarding on the underlay device. */
struct dp_nexthop_key {
    __be32 vtep; /* Remote VTEP address. */
};

struct dp_nexthop {
    __u32 ifindex;              /* Device to send by. */
    __u8 src_mac[PKT_ETH_ALEN]; /* That device's MAC. */
    __u8 dst_mac[PKT_ETH_ALEN]; /* The next hop's MAC. */
};

/* DP_QOS: a port's rate limits and DSCP marking, keyed by the ifindex of
 * its host-side device like DP_PORTS.  A port without an entry is not
 * limited.  Setting an entry with other parameters takes effect at once:
 * the limiters keep their state (backlog, tokens used) and only the rate
 * and burst change. */
struct dp_qos_key {
    __u32 ifindex; /* Host-side device of the port. */
};

#define DP_QOS_DSCP_KEEP 0xff /* Leave the DSCP of the VM's packets. */

/* Police what a VM sends to other hosts instead of pacing it, for an
 * underlay device without the fq qdisc that pacing needs. */
#define DP_QOS_EGRESS_POLICE 0x1

/* What a VM sends to other hosts is shaped by the HTB class
 * DP_QOS_HTB_MAJOR:'htb_minor' that the agent made on the underlay
 * device: the fast path only sets skb->priority to that class, and
 * neither paces nor polices. */
#define DP_QOS_EGRESS_HTB 0x2

/* Major number of the HTB qdisc the agent installs on the underlay. */
#define DP_QOS_HTB_MAJOR 0xfab0U

/* The skb->priority, a tc class handle, of HTB class 'minor'. */
#define DP_QOS_HTB_HANDLE(minor) ((DP_QOS_HTB_MAJOR << 16) | (minor))

struct dp_qos {
    __u64 egress_rate;   /* VM to fabric, bits/s; 0 for no limit. */
    __u64 ingress_rate;  /* Fabric to VM, bits/s; 0 for no limit. */
    __u32 egress_burst;  /* Bytes, wherever egress is policed. */
    __u32 ingress_burst; /* Bytes; the policer's bucket. */
    __u8 dscp;           /* DSCP to mark, or DP_QOS_DSCP_KEEP. */
    __u8 flags;          /* DP_QOS_*. */
    __u16 htb_minor;     /* With DP_QOS_EGRESS_HTB: the port's class. */
    __u8 pad[4];         /* Zero. */
};

/* The host's underlay settings, a single entry. */
struct dp_config {
    __be32 vtep_ip;         /* Our VTEP address; 0 disables VXLAN. */
    __u32 underlay_ifindex; /* Device VXLAN leaves by. */
    __u8 ttl;               /* Outer TTL. */
    __u8 pad[3];            /* Zero. */
};

#endif /* datapath/dp-tables.h */
