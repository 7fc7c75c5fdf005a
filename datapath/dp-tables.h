/* The tables that userspace writes and the fast path reads.
 *
 * These are the datapath's whole view of the world: the eBPF backend keeps
 * each table in a pinned map, the DPDK backend in its own hash tables, and
 * the agent diffs desired against actual contents table by table.  Compiles
 * under "clang -target bpf" and gcc. */
#ifndef DATAPATH_DP_TABLES_H
#define DATAPATH_DP_TABLES_H 1

#include "firewall/ct.h"
#include "firewall/policy.h"
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
/* The firewall (doc/firewall.md): which directions the port's security
 * groups govern, and what the network's default is for a direction they
 * do not govern.  A port with none of these bits is not firewalled. */
#define DP_PORT_FW_INGRESS 0x4       /* Ingress: the groups' rules decide. */
#define DP_PORT_FW_EGRESS 0x8        /* Egress: the groups' rules decide. */
#define DP_PORT_FW_DEFAULT_DENY 0x10 /* Ungoverned directions: deny. */
#define DP_PORT_FW_ANY                                                        \
    (DP_PORT_FW_INGRESS | DP_PORT_FW_EGRESS | DP_PORT_FW_DEFAULT_DENY)
/* The port of an incoming VM (doc/mobility.md): frames to it are delivered
 * (they wait in the tap until the guest runs), a flood skips it, and the
 * first frame from it activates it: the fast path punts one
 * DP_PUNT_ACTIVATED and forwards the frame as usual.  Once activated, the
 * port reads back (dp_table_get(), dp_table_dump()) without the flag, and
 * writing the flag again keeps it activated; only an entry written
 * without the flag in between, or a new port, arms it again. */
#define DP_PORT_STANDBY 0x20

struct dp_port {
    __u32 vni;              /* The port's virtual network. */
    __u32 flags;            /* DP_PORT_*. */
    __u8 mac[PKT_ETH_ALEN]; /* The VM's MAC. */
    __u16 mtu;              /* Largest L3 packet the VM may send. */
    __be32 ip4;             /* The VM's IPv4 address, 0 for none. */
    __u8 ip6[16];           /* The VM's IPv6 address, zero for none. */
    __u16 identity;         /* Security identity of the port's group set,
                             * sent in VXLAN-GBP; 0 for no group. */
    __u16 pad;              /* Zero. */
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

/* A MAC on its way here (live migration, doc/mobility.md): 'ifindex' is
 * the standby port the VM will run behind, 'vtep' the host it still runs
 * on.  Frames from local ports go to 'vtep', as for a remote entry; frames
 * from the underlay are delivered to 'ifindex'. */
#define DP_FDB_STANDBY 0x1
/* A MAC that has just left (live migration): 'ifindex' is 0 and 'vtep' the
 * host it went to.  Frames from local ports are encapsulated to 'vtep';
 * frames from the underlay, sent by a fabric host other than 'vtep', are
 * sent on to 'vtep' with their VXLAN header unchanged (the only path from
 * the underlay back to it; anything else is dropped as "forward-loop"). */
#define DP_FDB_FORWARD 0x2

struct dp_fdb_entry {
    __u32 ifindex; /* Local port's device, or 0 if remote. */
    __be32 vtep;   /* Remote VTEP address, when ifindex is 0, or with
                    * DP_FDB_STANDBY. */
    __u32 flags;   /* DP_FDB_*, 0 for a plain local or remote entry. */
};

/* DP_BINDINGS: IPv4 to MAC within a VNI, answered by the ARP responder. */
struct dp_binding_key {
    __u32 vni;  /* Virtual network. */
    __be32 ip4; /* Endpoint address. */
};

struct dp_binding {
    __u8 mac[PKT_ETH_ALEN]; /* The MAC that owns 'ip4'. */
    __u16 identity;         /* Its security identity, 0 for no group: the
                             * peer identity egress rules match. */
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

/* The VTEP accepts the VXLAN Group Policy extension: frames to it carry
 * the sender's group.  Without it they are plain RFC 7348, which every
 * VTEP takes: Open vSwitch without "gbp" on its port and a Linux vxlan
 * device without "gbp" drop a frame whose G bit is set. */
#define DP_NEXTHOP_GBP 0x1

struct dp_nexthop {
    __u32 ifindex;              /* Device to send by. */
    __u8 src_mac[PKT_ETH_ALEN]; /* That device's MAC. */
    __u8 dst_mac[PKT_ETH_ALEN]; /* The next hop's MAC. */
    __u32 flags;                /* DP_NEXTHOP_*. */
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

/* What the VM receives is shaped by the HTB qdisc with major number
 * DP_QOS_INGRESS_HTB_MAJOR that the agent made on the port's host-side
 * device: the fast path hands frames to that device's egress, through the
 * qdisc, instead of policing them (and, for a veth, instead of into the
 * peer's ingress directly). */
#define DP_QOS_INGRESS_HTB 0x4

/* Major number of the HTB qdisc the agent installs on the underlay. */
#define DP_QOS_HTB_MAJOR 0xfab0U

/* Major number of the HTB qdisc on the device of a port whose ingress is
 * shaped; its one class, DP_QOS_INGRESS_HTB_MAJOR:1, has the port's
 * ingress rate and burst. */
#define DP_QOS_INGRESS_HTB_MAJOR 0xfab1U

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

/* DP_POLICIES: struct policy_key -> struct policy_value (firewall/policy.h),
 * the compiled rules of the identities of this host's ports. */

/* DP_POLICY_CIDRS: struct policy_cidr_key -> struct dp_policy_cidr, an LPM
 * trie giving a peer address without a group its CIDR identity. */
struct dp_policy_cidr {
    __u16 identity; /* CIDR identity, DP_CIDR_IDENTITY_MIN or above. */
    __u16 pad;      /* Zero. */
};

/* Identities: 0 is "no group" (and "any peer" in a policy key); the
 * controller gives group sets DP_GROUP_IDENTITY_MIN..MAX, and they travel in
 * VXLAN-GBP; the agent gives CIDRs identities of its own, which never leave
 * the host. */
#define DP_GROUP_IDENTITY_MIN 256
#define DP_GROUP_IDENTITY_MAX 49151
#define DP_CIDR_IDENTITY_MIN 49152
#define DP_CIDR_IDENTITY_MAX 65535

/* DP_VTEPS: the remote VTEPs VXLAN is accepted from.  A fabric host has
 * one entry with 'vni' 0, for every network; an external VTEP (a gateway,
 * a switch, another vendor's VTEP) one entry per network it joined, with
 * DP_VTEP_EXTERNAL.  VXLAN to our VTEP from any other source, or from an
 * external VTEP in a network it did not join, is dropped as
 * "foreign-vtep". */
struct dp_vtep_key {
    __be32 vtep; /* Remote VTEP address. */
    __u32 vni;   /* 0 for a fabric host; else a network it joined. */
};

/* An external VTEP: only fabric hosts may claim a group identity, so the
 * group in its VXLAN-GBP headers is ignored and its endpoints are known
 * by their addresses alone (the firewall's CIDR identities), never by the
 * fabric's bindings, whose addresses it could claim. */
#define DP_VTEP_EXTERNAL 0x1

struct dp_vtep {
    __u32 flags; /* DP_VTEP_*. */
};

/* DP_CONNTRACK: struct ct_key (firewall/ct.h) -> struct dp_ct, written by
 * the fast path; userspace only reads, expires and revalidates entries. */
struct dp_ct {
    struct ct_entry ct;      /* The connection's state. */
    __u32 egress_rule;       /* Rule that allowed it out of a local port, 0
                              * for a default or no egress check. */
    __u32 ingress_rule;      /* Likewise into a local port. */
    __u16 orig_src_identity; /* Identities of the originator and the */
    __u16 orig_dst_identity; /* responder when the entry was made. */
    __u32 orig_ifindex;      /* Local port the first packet came from, 0 if
                              * it came from the underlay. */
    __u32 owner_ifindex;     /* Local port whose share of the table the
                              * entry takes: the sender of the first packet
                              * if it is local, else its receiver. */
};

/* DP_RULE_HITS: per-rule counters.  Userspace creates an entry (zeroed)
 * for every installed rule and deletes it with the rule; the fast path only
 * increments existing entries, and userspace must never overwrite one. */
struct dp_rule_key {
    __u32 rule_id; /* The rule, as in struct policy_value. */
};

struct dp_rule_hits {
    __u64 hits; /* Connections the rule allowed, packets it denied. */
};

/* A flow log event, from the fast path's ring buffer: a connection the
 * firewall denied (every packet), or one it allowed by a rule with
 * POLICY_F_LOG (its first packet). */
struct dp_flow_event {
    __u64 time_ns;      /* bpf_ktime_get_ns(): CLOCK_MONOTONIC. */
    __u32 vni;          /* Virtual network. */
    __u32 ifindex;      /* Local port whose policy decided. */
    __u32 rule_id;      /* Deciding rule, 0 for a default. */
    __u8 family;        /* 4 or 6. */
    __u8 proto;         /* IP protocol. */
    __u8 action;        /* POLICY_ALLOW or POLICY_DENY. */
    __u8 reason;        /* POLICY_BY_* or DP_FW_BY_*. */
    __u8 direction;     /* POLICY_INGRESS or POLICY_EGRESS. */
    __u8 pad[1];        /* Zero. */
    __u16 src_identity; /* Sender's identity, 0 if none. */
    __u16 dst_identity; /* Receiver's identity, 0 if none. */
    __be16 sport;       /* Ports; ICMP: type << 8 | code, and 0. */
    __be16 dport;
    __u8 src[16]; /* Addresses; IPv4 in the first four bytes. */
    __u8 dst[16];
};

/* Reasons beyond POLICY_BY_* in struct dp_flow_event and traces. */
#define DP_FW_BY_CT_FULL 16 /* Allowed, but the conntrack table is full. */
#define DP_FW_BY_INVALID 17 /* Not valid for its connection (TCP state). */
#define DP_FW_BY_NO_CONN 18 /* A reply or error without a connection. */
#define DP_FW_BY_CT_HIT 19  /* Part of a connection already allowed. */
#define DP_FW_BY_CT_PORT_LIMIT                                                \
    20 /* Allowed, but the port tracks as many                                \
        * connections as it may. */

/* A punt: a frame the fast path handed to the agent, from the punt ring
 * buffer (dp_punts_open()): DHCP client frames from VM ports instead of
 * forwarding them (doc/vms.md), and a copy of the frame that activated a
 * standby port, which is forwarded as well (doc/mobility.md). */
#define DP_PUNT_DHCP 1 /* A DHCPv4 client message (UDP 68->67). */
#define DP_PUNT_ACTIVATED                                                     \
    2 /* The first frame from a DP_PORT_STANDBY port:                         \
       * the VM runs here now. */
#define DP_PUNT_FRAME_MAX                                                     \
    1536                   /* Bytes of a frame kept; longer ones are          \
                            * cut, 'len' says by how much. */
#define DP_PUNT_PER_SEC 10 /* Punts a port may make a second... */
#define DP_PUNT_BURST                                                         \
    20 /* ...and at once: more are dropped as                                 \
        * "punt-rate-limit", so that a flooding                               \
        * VM never fills the ring for others. */

/* The MAC of the fabric's DHCP server, which the agent answers from and
 * binds the server's address to: locally administered, outside the
 * controller's 02:fa:... range.  Nothing is behind it but the punt, so
 * other frames to it (a guest's ICMP error about an answer) are dropped
 * as "to-dhcp-server" rather than flooded as unknown unicast. */
#define DP_DHCP_SERVER_MAC                                                    \
    {                                                                         \
        0x0e, 0xfa, 0xb0, 0x00, 0x00, 0x67                                    \
    }

struct dp_punt {
    __u32 ifindex;                 /* The port it came from. */
    __u16 reason;                  /* DP_PUNT_*. */
    __u16 len;                     /* The frame's length. */
    __u16 copied;                  /* Bytes of it in 'frame'. */
    __u16 pad[3];                  /* Zero. */
    __u8 frame[DP_PUNT_FRAME_MAX]; /* From its Ethernet header on. */
};

/* Tracing: a frame run through a program with BPF_PROG_TEST_RUN whose
 * skb->cb[0] and cb[1] hold DP_TRACE_MAGIC0/1 changes nothing (no
 * conntrack entry, no flow log, no rule hit) and reports in the cb[] that
 * the run hands back: */
#define DP_TRACE_MAGIC0 0xfab7ace0U
#define DP_TRACE_MAGIC1 0x5eedf00dU
#define DP_TRACE_CB_FW                                                        \
    2                      /* action | reason << 8 | direction << 16 |        \
                            * DP_TRACE_FW_RAN << 24 for each firewall         \
                            * decision; the last one is kept. */
#define DP_TRACE_CB_RULE 3 /* Deciding rule of that decision. */
#define DP_TRACE_CB_DROP                                                      \
    4 /* enum dp_drop_reason + 1 of a drop, else 0;                           \
       * DP_TRACE_PUNTED for a punt. */
#define DP_TRACE_PUNTED 0xffffU
#define DP_TRACE_FW_RAN 1

#endif /* datapath/dp-tables.h */
