/* Reconciliation: makes a datapath hold what a desired state says, by
 * difference.
 *
 * The work is split in pure steps, which the unit tests drive directly,
 * and one step that does I/O:
 *
 *   1. reconcile_desired(): model plus the host's devices -> the contents
 *      every datapath table should have.
 *   2. reconcile_dump(): what the datapath's tables actually hold.  The
 *      agent keeps no copy of its own, so an agent that restarts (or finds
 *      tables written by someone else) converges from what is really
 *      there.
 *   3. reconcile_diff(): desired and actual -> the operations that turn one
 *      into the other, in a safe order: additions and changes table by
 *      table from networks to flood lists (nothing refers to an entry
 *      before it exists), then deletions in the reverse order (nothing is
 *      removed while another entry still refers to it).  An entry that is
 *      already right is never touched, so forwarding never stops.
 *
 * reconcile_run() does all of it against a live datapath, plus what the
 * kernel needs around it: the underlay configuration, port device MTUs and
 * link state, and resolving the remote VTEPs' next hops. */
#ifndef AGENT_RECONCILE_H
#define AGENT_RECONCILE_H 1

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/reconcile-table.h"
#include "datapath/dp.h"

struct fw_cidr_ids;
struct state;

/* Formats the entry 'key' -> 'value' of 'table' for people into 'buf', e.g.
 * "fdb vni 100 02:00:00:00:02:01 -> vtep 192.168.100.2".  'value' may be
 * NULL to format the key alone. */
void reconcile_format_entry(enum dp_table, const void *key, const void *value,
                            char *buf, size_t size);

/* What the host tells about a port's device. */
struct reconcile_link {
    uint32_t ifindex;   /* 0 if the device does not exist yet: the
                         * port is pending and left out. */
    bool veth;          /* The device is a veth. */
    uint16_t htb_minor; /* The port's class on the underlay's HTB qdisc,
                         * which shapes what it sends to other hosts; 0
                         * for none. */
    bool ingress_htb;   /* An HTB qdisc on the device shapes what the
                         * port receives. */
};

/* What the host tells about a remote VTEP. */
struct reconcile_nexthop {
    uint32_t vtep;         /* The remote VTEP, network order. */
    int error;             /* 0 if 'hop' says how to reach it; EAGAIN while
                            * its next hop is being resolved (or cannot be
                            * asked for); another errno value if it cannot
                            * be reached. */
    struct dp_nexthop hop; /* How to reach it, if 'error' is 0. */
};

/* Fills 'tables' (initialized and empty) with the contents the datapath
 * should have for 's', except next hops, the firewall's included (see
 * agent/firewall.h).  'links' has one element per port of 's';
 * 'underlay_mtu' is the MTU of the underlay device, 0 if unknown.
 * 'cidr_ids' keeps the CIDR identities from one call to the next; NULL
 * gives every CIDR a new one. */
void reconcile_desired(const struct state *s, uint32_t underlay_mtu,
                       const struct reconcile_link *links,
                       struct fw_cidr_ids *cidr_ids,
                       struct reconcile_tables *tables);

/* Adds to 'tables' the next hops of the 'n' remote VTEPs in 'vteps'.  A
 * resolved VTEP gets its next hop.  One being resolved keeps the entry the
 * datapath has for it, if any ('actual' is the datapath's DP_NEXTHOPS
 * table), so that traffic to it goes on unchanged; one that cannot be
 * reached gets none, and the fast path leaves routing to the kernel. */
void reconcile_desired_nexthops(const struct reconcile_nexthop *vteps,
                                size_t n, const struct reconcile_table *actual,
                                struct reconcile_tables *tables);

enum reconcile_op_type {
    RECONCILE_ADD,    /* Set an entry that is not there. */
    RECONCILE_MODIFY, /* Set an entry that has another value. */
    RECONCILE_DEL,    /* Delete an entry that should not be. */
};

/* One change to one table entry. */
struct reconcile_op {
    enum reconcile_op_type type; /* What to do. */
    enum dp_table table;         /* To which table. */
    const void *key;             /* The entry's key. */
    const void *value;           /* The value to set; for RECONCILE_DEL, the
                                  * value being deleted. */
};

/* A list of changes, in the order to apply them. */
struct reconcile_ops {
    struct reconcile_op *ops; /* The changes. */
    size_t n;                 /* Number of 'ops'. */
    size_t allocated;         /* Allocated 'ops'. */
};

/* Computes in 'ops' (initialized to zeros) the changes that turn 'actual'
 * into 'desired'.  Sorts both (see reconcile_table_sort()); the operations
 * point into them, so they must outlive 'ops'.  Of several desired entries
 * with one key, the first counts. */
void reconcile_diff(struct reconcile_tables *desired,
                    struct reconcile_tables *actual,
                    struct reconcile_ops *ops);
void reconcile_ops_destroy(struct reconcile_ops *);

/* Returns the name of IP protocol 'proto' in rules and flow logs ("tcp",
 * "any" for 0...), or NULL for one without a name. */
const char *reconcile_proto_name(uint8_t proto);

/* Reconciles one datapath over time.  Remembers the devices it found at
 * its last run, so that it reports each pending port once and notices when
 * a device appears, disappears or is recreated. */
struct reconciler;

struct reconciler *reconcile_create(struct dp *);
void reconcile_destroy(struct reconciler *);

/* Makes the datapath of 'rc' hold what 's' says.  Ports whose device does
 * not exist are left out (pending), as is the underlay configuration if
 * the underlay device does not exist; neither is an error.  Returns 0,
 * EINVAL if 's' does not fit this host (the errors are logged and nothing
 * is changed), or the first error of the datapath or the kernel (every
 * change that could be made was made). */
int reconcile_run(struct reconciler *rc, const struct state *s);

/* Returns true if reconcile_run() should run again: its last run failed,
 * a device it looked for (a port's or the underlay) has appeared,
 * disappeared or changed its ifindex since, or the next hop of a remote
 * VTEP has been resolved or has changed.  Cheap enough to call every
 * second: one dump of the host's interface names, and a route and a
 * neighbour lookup per remote VTEP. */
bool reconcile_poll(struct reconciler *rc);

/* Returns true if a run of 'rc' since the last call changed (or tried to
 * change) an entry the firewall decides by, so that connections already
 * tracked need judging again (fw_revalidate()). */
bool reconcile_take_fw_changed(struct reconciler *rc);

#endif /* agent/reconcile.h */
