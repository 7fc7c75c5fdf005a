/* The daemon's core: the datapath, its reconciler and the desired state in
 * force, behind one lock.
 *
 * Several threads share them: the main thread, which looks for devices
 * that come and go; in controller mode the thread that watches the
 * controller and the one that reports to it; and the metrics server.
 * Every access to the datapath or the state goes through here, so that
 * one reconciliation never runs into another and a scrape never sees a
 * half-changed state.
 *
 * The core also revalidates the datapath's connection tracker
 * (fw_revalidate()) after every reconciliation that changed what the
 * firewall decides by, and every FW_REVALIDATE_INTERVAL_MS from
 * core_poll(). */
#ifndef AGENT_CORE_H
#define AGENT_CORE_H 1

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/dhcp.h"
#include "agent/state.h"
#include "agent/vms.h"
#include "datapath/dp.h"

struct json_t;
struct state;
struct state_errors;
struct vms;

struct core;

/* Creates a core over the open datapath 'dp' and the VMs 'vms' (NULL if
 * this agent runs none), which stay the caller's and must outlive the
 * core.  'controller' says whether the desired state comes from a
 * controller (for the metrics). */
struct core *core_create(struct dp *dp, struct vms *vms, bool controller);

/* Returns the VMs of 'core', or NULL. */
struct vms *core_vms(struct core *);
void core_destroy(struct core *);

/* Makes the desired-state document 'doc' (a new reference is taken) the
 * desired state and reconciles the datapath with it.  'revision' is the
 * controller's revision of the document, 0 for a file.
 *
 * What the host can apply is applied: core_parse() leaves out the
 * elements that are wrong or that do not fit the underlay, and
 * core_conditions() says why.  Only a document that nothing can be taken
 * from (not an object, a bad "host") is refused: EINVAL, with the reasons
 * in 'errors', and the state in force stays, untouched.  Otherwise returns
 * reconcile_run()'s result; after a failure core_poll() tries again.
 *
 * When the underlay's MTU changes, core_poll() fits the document in force
 * to it again: a network that fits no more is left out, one that fits
 * again comes back. */
int core_apply(struct core *, const struct json_t *doc, int64_t revision,
               struct state_errors *errors);

/* Parses 'doc' with state_from_json_partial(), fitting its networks to the
 * MTU of the underlay device it names, if that device exists (its MTU, or
 * 0, in '*underlay_mtu'). */
int core_parse(const struct json_t *doc, struct state **statep,
               uint32_t *underlay_mtu, struct state_errors *errors);

/* Logs a warning for each element 's' left out, unless 'old' (NULL for
 * none) left it out for the same reason. */
void core_log_skipped(const struct state *s, const struct state *old);

/* Reconciles again if there is a state in force and reconcile_poll() says
 * something changed (a device came or went, a next hop moved, the last
 * run failed), or if the fast path activated a standby port whose punt
 * the agent missed (see core_port_activated()).  Returns true if it
 * reconciled. */
bool core_poll(struct core *);

/* Returns a new JSON object that maps the name of every port of the state
 * in force to "up" (its device exists and the datapath has it), "down",
 * or "refused" (the document's port was left out: core_conditions() says
 * why).  Empty if there is no state yet. */
struct json_t *core_port_status(struct core *);

/* Returns a new JSON array of what the host cannot apply, as
 * {"kind": K, "name": N, "reason": R}: each element of the document in
 * force that was left out (K "network", "port", "remote" or "identity"),
 * and {"kind": "host", "reason": R} if the last document was refused as a
 * whole.  Empty when everything applies. */
struct json_t *core_conditions(struct core *);

/* Records whether the controller is reachable, for the metrics. */
void core_set_connected(struct core *, bool connected);

/* One port's counters. */
struct core_port_stats {
    char *name;            /* The port's name. */
    struct dp_stats stats; /* Its counters. */
    struct dp_ct_usage ct; /* Its share of the conntrack table. */
};

/* What the metrics show, taken at one moment. */
struct core_snapshot {
    struct core_port_stats *ports;  /* Ports in the datapath, in the order
                                     * of the desired state. */
    size_t n_ports;                 /* Number of 'ports'. */
    bool have_underlay;             /* Whether 'underlay' is set. */
    struct dp_stats underlay;       /* The underlay device's counters. */
    uint64_t reconciles;            /* Reconciliations run. */
    uint64_t reconcile_errors;      /* Of which failed. */
    bool controller;                /* Controller mode. */
    bool connected;                 /* The controller is reachable. */
    int64_t revision;               /* Revision of the state in force. */
    bool ready;                     /* A reconciliation has succeeded. */
    size_t left_out[STATE_N_KINDS]; /* Elements of the desired state left
                                     * out, by kind. */
    uint64_t ct_entries;            /* Conntrack entries at the last
                                     * revalidation. */
    uint64_t ct_expired;            /* Entries it deleted as expired... */
    uint64_t ct_denied;             /* ...and as denied now... */
    uint64_t ct_evicted;            /* ...and evicted, in all. */
    uint64_t flowlog_aggregated;    /* Flow events counted as repeats. */
    uint64_t flowlog_suppressed;    /* Flow events whose records a port's
                                     * rate limit dropped. */
    struct dhcp_stats dhcp;         /* The DHCP responder's counters. */
    bool have_fw_stats;             /* Whether 'fw' is set. */
    struct dp_fw_stats fw;          /* The datapath's firewall counters. */
    bool have_vms;                  /* Whether 'vms' is set. */
    struct vms_counts vms;          /* The VMs (agent/vms.h). */
    struct core_rule_hits {
        uint32_t rule_id; /* A rule installed on this host... */
        uint64_t hits;    /* ...and its counter. */
    } * rule_hits;        /* By rule id. */
    size_t n_rule_hits;   /* Number of 'rule_hits'. */
};

/* Fills 'snap' with the current counters and status. */
void core_snapshot(struct core *, struct core_snapshot *snap);
void core_snapshot_destroy(struct core_snapshot *);

/* Whether a reconciliation has succeeded yet. */
bool core_is_ready(struct core *);

/* Stores in '*port' and '*network' (which the caller frees) the names of
 * the port whose device is 'ifindex' and of the network of 'vni' in the
 * state in force, NULL for either if there is none.  Returns false if
 * there is no state at all yet. */
bool core_flow_names(struct core *, uint32_t ifindex, uint32_t vni,
                     char **port, char **network);

/* Fills 'lease' with what DHCP gives the VM of the port whose device is
 * 'ifindex' in the state in force (its address, its network's prefix, MTU
 * and DNS servers, its hostname, our server identifier and MAC), and 'mac'
 * with the port's MAC.  Returns false, with the reason in '*why', if
 * there is no such port with an address, or its network has no cidr. */
bool core_dhcp_lease(struct core *, uint32_t ifindex, struct dhcp_lease *,
                     uint8_t mac[6], enum agent_dhcp_ignored *why);

/* Sends 'frame' to the VM of the port device 'ifindex' (dp_inject()). */
int core_inject(struct core *, uint32_t ifindex, const void *frame,
                size_t len);

/* Sets the DHCP responder's counters for the metrics. */
void core_set_dhcp_stats(struct core *, const struct dhcp_stats *);

/* Sets the flow logger's counters (agent/flowagg.h) for the metrics. */
void core_set_flowlog_stats(struct core *, uint64_t aggregated,
                            uint64_t suppressed);

/* Runs 'frame' ('len' bytes) through 'program' with dp_trace() (see
 * agent/trace.h): the program of the device of port 'port' of the state
 * in force, or the uplink's ('port' NULL).  ENOENT if the state has no
 * such port, ENODEV if its device or the underlay is not in the
 * datapath. */
int core_trace(struct core *, enum dp_trace_program program, const char *port,
               const void *frame, size_t len, struct dp_trace_result *result);

/* Live migration (doc/mobility.md). */

/* The standby port whose device is 'ifindex' sent its first frame (the
 * fast path punted DP_PUNT_ACTIVATED): from now on it is programmed as any
 * local port (its MAC's FDB entry points at it, it joins its flood list)
 * until the document drops "standby".  Stores in '*vm' (the caller frees
 * it) the name of the VM it is a NIC of, or NULL.  Returns true if that is
 * news, false for a port that is not standby or was activated before. */
bool core_port_activated(struct core *, uint32_t ifindex, char **vm);

/* Activates every standby port of VM 'vm' that no frame activated yet, as
 * its first frames would have (see core_port_activated()), for a VM whose
 * QEMU finished the migration here and runs it but sent nothing.  Returns
 * the number of ports activated. */
size_t core_vm_activate(struct core *, const char *vm);

/* Sends what comes for the NICs of VM 'vm' to VTEP 'vtep' (network order)
 * from now on, as DP_FDB_FORWARD entries, or back to the local ports for
 * 'vtep' 0.  The forward entries are written at once, for a guest paused
 * until they are, and the rest (the next hop to 'vtep') reconciled at the
 * next core_poll().  Returns ENOENT if the state in force has no such VM,
 * else the datapath's or reconcile_run()'s result. */
int core_vm_forward(struct core *, const char *vm, uint32_t vtep);

/* Stores in '*entries' a new JSON array of the conntrack entries of the
 * addresses of the NICs of VM 'vm', {"port", "key", "value"} in hex
 * (dp_ct_export(), dp_ct_to_hex()).  Returns 0, ENOENT for an unknown VM,
 * or the datapath's error (the entries found until then are kept). */
int core_vm_ct_export(struct core *, const char *vm, struct json_t **entries);

/* One conntrack entry handed over, for the NIC port 'port'. */
struct core_ct_entry {
    const char *port;   /* The port's name. */
    struct ct_key key;  /* The connection... */
    struct dp_ct value; /* ...and its state, times made relative. */
};

/* What core_ct_import() did. */
struct core_ct_counts {
    size_t imported; /* Written. */
    size_t existing; /* Left alone: a newer local entry was there. */
    size_t failed;   /* Refused by the datapath (logged). */
};

/* Writes the 'n' 'entries' of migration 'id' into the conntrack table, for
 * the standby ports of the VM that migrates in as 'id'.  Returns ENOENT if
 * no VM of the state in force migrates in as 'id', EINVAL if an entry names
 * a port that is not one of its NICs, EAGAIN if a NIC's tap is not a port
 * yet, each with nothing written and '*problem' saying why (the caller
 * frees it); otherwise 0 with what was done in 'counts'. */
int core_ct_import(struct core *, const char *id,
                   const struct core_ct_entry *entries, size_t n,
                   struct core_ct_counts *counts, char **problem);

#endif /* agent/core.h */
