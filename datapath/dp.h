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
    DP_PORTS,    /* struct dp_port_key -> struct dp_port */
    DP_NETWORKS, /* struct dp_network_key -> struct dp_network */
    DP_FDB,      /* struct dp_fdb_key -> struct dp_fdb_entry */
    DP_BINDINGS, /* struct dp_binding_key -> struct dp_binding */
    DP_FLOOD,    /* struct dp_flood_key -> struct dp_flood */
    DP_NEXTHOPS, /* struct dp_nexthop_key -> dp_nexthop */
    DP_QOS,      /* struct dp_qos_key -> struct dp_qos */
    DP_N_TABLES
};

/* How to open a datapath. */
struct dp_options {
    const char *instance; /* Name of this datapath, "fabric" if NULL. */
    const char *bpffs;    /* BPF filesystem, "/sys/fs/bpf" if NULL. */
    uint32_t max_ports;   /* Table sizes, 0 for the defaults. */
    uint32_t max_fdb;
    bool read_only; /* Open existing tables only: no program is
                     * loaded or attached and nothing written. */
};

/* Opens the datapath instance named in 'options', creating its tables on
 * first use.  Reopening a running instance keeps its tables and atomically
 * replaces the programs on every device it is attached to, so forwarding
 * never stops. */
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

#endif /* datapath/dp.h */
