/* The agent's side of the distributed firewall (doc/firewall.md): turning
 * the identities of a desired state into datapath entries, and keeping the
 * connection tracker honest.
 *
 * Compilation is pure: fw_desired() adds to a struct reconcile_tables the
 * DP_POLICIES, DP_POLICY_CIDRS, DP_VTEPS and DP_RULE_HITS entries a state
 * asks for, and reconcile.c diffs them against the datapath like every
 * other table.  Port and binding identities and the DP_PORT_FW_* flags go
 * into the DP_PORTS and DP_BINDINGS entries that reconcile_desired() makes,
 * through fw_port_flags().
 *
 * CIDR identities.  Every distinct CIDR of a rule gets a local identity in
 * DP_CIDR_IDENTITY_MIN..MAX, the same on every network it is installed on
 * (the entries of a CIDR identity depend only on the rules of the local
 * identity that looks it up, never on the network).  A struct fw_cidr_ids
 * remembers the assignment from one reconciliation to the next, so that a
 * CIDR keeps its identity, and a change to one rule touches only the
 * entries of that rule; a new CIDR never takes an identity that another
 * CIDR gave up in the same run, so that no entry ever means two CIDRs at
 * once.  A restarted agent takes the assignment back from DP_POLICY_CIDRS.
 *
 * Revalidation.  fw_revalidate() walks DP_CONNTRACK, deletes entries that
 * have expired and asks the policy again, with the identities the
 * datapath holds now, about every other one, exactly as the fast path
 * would for the connection's first packet; entries the policy now denies
 * are deleted, so that the connection's next packet is judged afresh. */
#ifndef AGENT_FIREWALL_H
#define AGENT_FIREWALL_H 1

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "datapath/dp.h"

struct reconcile_table;
struct reconcile_tables;
struct state;
struct state_cidr;
struct state_port;

/* How often the agent revalidates conntrack when nothing changed, ms. */
#define FW_REVALIDATE_INTERVAL_MS 5000

/* Returns the DP_PORT_FW_* flags of 'port' of 's': the directions its
 * identity governs, and DP_PORT_FW_DEFAULT_DENY if its network's default
 * action is deny. */
uint32_t fw_port_flags(const struct state *s, const struct state_port *port);

/* CIDR identities, as the comment at the top says. */
struct fw_cidr_ids;

struct fw_cidr_ids *fw_cidr_ids_create(void);
void fw_cidr_ids_destroy(struct fw_cidr_ids *);

/* Takes the assignment of a previous agent from 'cidrs', a DP_POLICY_CIDRS
 * table, unless 'ids' already has one. */
void fw_cidr_ids_seed(struct fw_cidr_ids *ids,
                      const struct reconcile_table *cidrs);

/* Returns the identity of 'cidr' in 'ids', or 0 if it has none. */
uint16_t fw_cidr_ids_find(const struct fw_cidr_ids *ids,
                          const struct state_cidr *cidr);

/* Adds to 'tables' the DP_POLICIES, DP_POLICY_CIDRS, DP_VTEPS and
 * DP_RULE_HITS entries (the latter zeroed) for 's', each once, and makes
 * 'ids' hold the CIDR identities of 's'.  Returns 0, or ENOSPC after
 * logging it if there are more CIDRs than CIDR identities (the CIDRs left
 * without one do not match). */
int fw_desired(const struct state *s, struct fw_cidr_ids *ids,
               struct reconcile_tables *tables);

/* What one revalidation found. */
struct fw_ct_stats {
    uint64_t entries; /* Entries left in DP_CONNTRACK. */
    uint64_t expired; /* Deleted: timed out. */
    uint64_t denied;  /* Deleted: the policy now denies them. */
    uint64_t evicted; /* Deleted: the table ran short (see below). */
};

/* Eviction.  When the entries left fill at least FW_CT_EVICT_HIGH_PCT
 * percent of the table, the revalidator makes room before the table is
 * full, at the expense of the ports that own more than a fair share
 * (the table divided among the ports that own entries and one more, which
 * a full table may be refusing): it deletes their
 * evictable entries (ct_entry_evictable(): half-open and finished
 * connections), least recently used first, until the entries fill no more
 * than FW_CT_EVICT_LOW_PCT percent or no such port has any left.  A port's
 * established connections, and every entry of a port within its fair
 * share, are never evicted; so a flood of half-open connections from a few
 * ports cannot keep the others out. */
#define FW_CT_EVICT_HIGH_PCT 90
#define FW_CT_EVICT_LOW_PCT 75

/* Revalidates DP_CONNTRACK of 'dp' at 'now_ns' (CLOCK_MONOTONIC, the
 * clock of bpf_ktime_get_ns()), as the comment at the top says.  Returns
 * 0 or the first errno value of the datapath (entries it could not judge
 * are left alone). */
int fw_revalidate(struct dp *dp, uint64_t now_ns, struct fw_ct_stats *stats);

/* Returns CLOCK_MONOTONIC in nanoseconds. */
uint64_t fw_now_ns(void);

#endif /* agent/firewall.h */
