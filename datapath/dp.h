/* The backend-neutral datapath interface used by the agent.
 *
 * A datapath is a set of tables (see dp-tables.h) that the fast path reads,
 * plus per-port statistics it writes.  Userspace programs it only through
 * the generic table operations below, so that reconciliation works the same
 * for every backend: dump what is there, compare with what should be there,
 * set and delete the difference.
 *
 * Setting a DP_PORTS entry also attaches the fast path to that device, and
 * deleting it detaches; both are idempotent.  dp_configure() attaches the
 * fast path to the underlay device.
 *
 * All functions return 0 or a positive errno value. */
#ifndef DATAPATH_DP_H
#define DATAPATH_DP_H 1

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "datapath/dp-tables.h"
#include "datapath/drop.h"

struct dp;

enum dp_table {
    DP_PORTS,        /* struct dp_port_key -> struct dp_port */
    DP_NETWORKS,     /* struct dp_network_key -> struct dp_network */
    DP_FDB,          /* struct dp_fdb_key -> struct dp_fdb_entry */
    DP_BINDINGS,     /* struct dp_binding_key -> struct dp_binding */
    DP_FLOOD,        /* struct dp_flood_key -> struct dp_flood */
    DP_NEXTHOPS,     /* struct dp_nexthop_key -> dp_nexthop */
    DP_QOS,          /* struct dp_qos_key -> struct dp_qos */
    DP_POLICIES,     /* struct policy_key -> struct policy_value */
    DP_POLICY_CIDRS, /* struct policy_cidr_key -> struct dp_policy_cidr */
    DP_VTEPS,        /* struct dp_vtep_key -> struct dp_vtep */
    DP_CONNTRACK,    /* struct ct_key -> struct dp_ct; read, delete only */
    DP_RULE_HITS,    /* struct dp_rule_key -> struct dp_rule_hits */
    DP_N_TABLES
};

/* How to open a datapath. */
struct dp_options {
    const char *type;     /* Backend, "bpf" if NULL: see dp_type_known(). */
    const char *instance; /* Name of this datapath, "fabric" if NULL. */
    const char *bpffs;    /* BPF filesystem, "/sys/fs/bpf" if NULL. */
    uint32_t max_ports;   /* Table sizes, 0 for the defaults. */
    uint32_t max_fdb;
    uint32_t max_conntrack;          /* Connections tracked at once. */
    uint32_t max_conntrack_per_port; /* Of which one port may own, 0 for
                                      * max_conntrack / DP_CT_PORT_SHARE_DIV:
                                      * see dp_ct_usage_get(). */
    uint32_t max_policies;           /* DP_POLICIES entries. */
    bool read_only; /* Open existing tables only: no program is
                     * loaded or attached and nothing written. */
};

/* Returns true if 'type' names a datapath backend built into this
 * program.  dp_types() lists them, separated by ", ", for messages. */
bool dp_type_known(const char *type);
const char *dp_types(void);

/* Opens the datapath instance named in 'options' with the backend its
 * 'type' names (EAFNOSUPPORT if there is no such backend), creating its
 * tables on first use.  Reopening a running instance keeps its tables and
 * atomically replaces the programs on every device it is attached to, so
 * forwarding never stops. */
int dp_open(const struct dp_options *, struct dp **);
void dp_close(struct dp *);

/* Sets the underlay: our VTEP address and the device VXLAN leaves by, and
 * attaches the fast path to that device.  A previous underlay device, if
 * different, is detached. */
int dp_configure(struct dp *, const struct dp_config *);
int dp_get_config(struct dp *, struct dp_config *);

const char *dp_table_name(enum dp_table);
size_t dp_table_key_size(enum dp_table);
size_t dp_table_value_size(enum dp_table);

int dp_table_set(struct dp *, enum dp_table, const void *key,
                 const void *value);
int dp_table_del(struct dp *, enum dp_table, const void *key);

/* Like dp_table_set(), but never waits for the fast path.  Rewriting an
 * entry may wait for the readers of its previous version to finish (an
 * RCU grace period: 10-40 ms on a busy host), which a guest paused for
 * its live migration's switch-over cannot afford; here the entry is then
 * looked up a little more slowly, by hash, until dp_settle() waits once
 * for all such entries.  The fast path sees the new value at once either
 * way. */
int dp_table_set_nowait(struct dp *, enum dp_table, const void *key,
                        const void *value);
int dp_settle(struct dp *);
int dp_table_get(struct dp *, enum dp_table, const void *key, void *value);

/* Calls 'cb' for every entry of 'table', stopping early if 'cb' returns
 * non-zero (which is then returned). */
typedef int dp_dump_cb(const void *key, const void *value, void *aux);
int dp_table_dump(struct dp *, enum dp_table, dp_dump_cb *cb, void *aux);

/* Fetches the counters of the port or underlay device 'ifindex' (0 for
 * frames that could not be attributed to any device), summed over CPUs.
 * ENOENT if 'ifindex' is neither.  A port's counters start at zero when it
 * is added and survive updates of its entry and restarts of the agent. */
int dp_stats_get(struct dp *, uint32_t ifindex, struct dp_stats *);

/* Removes every trace of the datapath instance: detaches from all devices
 * it is attached to and unpins its tables.  Forwarding stops. */
int dp_purge(struct dp *);

const char *dp_drop_reason_name(enum dp_drop_reason);

/* Flow log events (struct dp_flow_event) from the fast path.  Open a
 * reader, then call dp_flow_events_poll() whenever dp_flow_events_fd() is
 * readable (or with a timeout): it calls 'cb' for each waiting event. */
struct dp_flow_events;
typedef void dp_flow_cb(const struct dp_flow_event *, void *aux);
int dp_flow_events_open(struct dp *, dp_flow_cb *, void *aux,
                        struct dp_flow_events **);
int dp_flow_events_fd(const struct dp_flow_events *);
int dp_flow_events_poll(struct dp_flow_events *, int timeout_ms);
void dp_flow_events_close(struct dp_flow_events *);

/* Firewall counters of the whole datapath, summed over CPUs. */
struct dp_fw_stats {
    uint64_t ct_full;     /* New connections refused: table full. */
    uint64_t events_lost; /* Flow log events lost: ring buffer full. */
    uint64_t ct_capacity; /* Connections the conntrack table holds. */
};
int dp_fw_stats_get(struct dp *, struct dp_fw_stats *);

/* A port's share of the conntrack table.  Every entry belongs to one local
 * port (struct dp_ct's 'owner_ifindex'): the sender of the connection's
 * first packet if it is local, else its receiver.  The fast path refuses a
 * new connection that would take a port past its share, dropping the
 * packet as "conntrack-port-limit", so that one port cannot fill the table
 * and lock every other port out.  Deleting an entry (dp_table_del()) gives
 * the share back. */
#define DP_CT_PORT_SHARE_DIV 4 /* The default share: a quarter. */

struct dp_ct_usage {
    uint64_t tracked; /* Entries the port owns now. */
    uint64_t max;     /* How many it may own; 0 for no limit. */
};

/* Reads the share of port 'ifindex'.  ENOENT if it is not a port. */
int dp_ct_usage_get(struct dp *, uint32_t ifindex, struct dp_ct_usage *);

/* Conntrack in transit, for a live migration (doc/mobility.md).
 *
 * dp_ct_export() calls 'cb' for every live entry of network 'vni' with the
 * address 'addr' (family 'family': CT_FAMILY_IPV4, the address in the first
 * four bytes, or CT_FAMILY_IPV6) as either endpoint, stopping early if 'cb'
 * returns non-zero (which is then returned).  The entry handed to 'cb' has
 * its times made relative: 'ct.created_ns' and 'ct.last_seen_ns' hold how
 * long ago they were, so that another host's clock does not matter.
 * EINVAL for another family.
 *
 * dp_ct_import() writes such an entry into this datapath for the local port
 * 'ifindex': times rebased on this host's clock, 'owner_ifindex' the port
 * (charged to its share, dp_ct_usage_get()), and 'orig_ifindex' the port if
 * the connection's originator is the port's address, else 0 (it came from
 * the underlay).  It refuses, writing nothing, with EINVAL an entry that is
 * not the port's: another network, a malformed key or state, or neither
 * endpoint the port's address of that family (when it has one); ENOENT if
 * 'ifindex' is not a port; EEXIST if a live local entry for the connection
 * was seen more recently (it is left alone; an older one is replaced);
 * ENOSPC when the table or the port's share is full. */
typedef int dp_ct_export_cb(const struct ct_key *, const struct dp_ct *,
                            void *aux);
int dp_ct_export(struct dp *, uint32_t vni, int family, const uint8_t addr[16],
                 dp_ct_export_cb *, void *aux);
int dp_ct_import(struct dp *, const struct ct_key *, const struct dp_ct *,
                 uint32_t ifindex);

/* An exported entry as text for the agents' HTTP exchange: the bytes of
 * 'struct ct_key' and of 'struct dp_ct' as laid out in memory, in lower-case
 * hex (both ends run the same release on little-endian hosts, as the
 * tables themselves require).  dp_ct_from_hex() takes upper or lower case
 * and returns EINVAL for a string of the wrong length or a character that
 * is not a hex digit, writing nothing. */
#define DP_CT_KEY_HEX_LEN (2 * sizeof(struct ct_key))
#define DP_CT_VALUE_HEX_LEN (2 * sizeof(struct dp_ct))
void dp_ct_to_hex(const struct ct_key *, const struct dp_ct *,
                  char key_hex[DP_CT_KEY_HEX_LEN + 1],
                  char value_hex[DP_CT_VALUE_HEX_LEN + 1]);
int dp_ct_from_hex(const char *key_hex, const char *value_hex, struct ct_key *,
                   struct dp_ct *);

/* Runs the frame 'frame' ('len' bytes) through the fast path as if it had
 * arrived on device 'ifindex' (a port, or the underlay for DP_TRACE_UPLINK),
 * without side effects beyond counters, and reports what happened. */
enum dp_trace_program {
    DP_TRACE_PORT,   /* The program on VM ports. */
    DP_TRACE_UPLINK, /* The program on the underlay device. */
};

struct dp_trace_result {
    int tc_action;        /* TC_ACT_* the program returned. */
    int drop_reason;      /* enum dp_drop_reason, or -1 if not dropped. */
    bool punted;          /* Handed to the agent (struct dp_punt). */
    bool fw_ran;          /* The firewall decided; then: */
    uint8_t fw_action;    /* POLICY_ALLOW or POLICY_DENY. */
    uint8_t fw_reason;    /* POLICY_BY_* or DP_FW_BY_*. */
    uint8_t fw_direction; /* POLICY_INGRESS or POLICY_EGRESS. */
    uint32_t fw_rule;     /* Deciding rule, 0 for a default. */
    uint8_t out[2048];    /* The frame as the program left it. */
    size_t out_len;       /* Bytes of 'out'. */
};
int dp_trace(struct dp *, enum dp_trace_program, uint32_t ifindex,
             const void *frame, size_t len, struct dp_trace_result *);

/* Punts: frames the fast path hands to the agent (struct dp_punt): a
 * VM's DHCP client messages instead of forwarding them (doc/vms.md), and
 * the frame that activated a standby port (DP_PUNT_ACTIVATED, forwarded
 * too), counted in the port's "punted" counter.  Read them as flow events:
 * open a reader, then call dp_punts_poll() whenever dp_punts_fd() is
 * readable; it calls 'cb' for each waiting punt. */
struct dp_punts;
typedef void dp_punt_cb(const struct dp_punt *, void *aux);
int dp_punts_open(struct dp *, dp_punt_cb *, void *aux, struct dp_punts **);
int dp_punts_fd(const struct dp_punts *);
int dp_punts_poll(struct dp_punts *, int timeout_ms);
void dp_punts_close(struct dp_punts *);

/* Sends the Ethernet frame 'frame' ('len' bytes, 14..DP_INJECT_MAX) to the
 * VM behind port device 'ifindex', and to nothing else: the answer to a
 * punt.  EMSGSIZE for a length out of range. */
#define DP_INJECT_MAX 9018
int dp_inject(struct dp *, uint32_t ifindex, const void *frame, size_t len);

#endif /* datapath/dp.h */
