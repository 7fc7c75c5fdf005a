/* Desired-state documents for agents, and the differences between them.
 *
 * A host's document is the form fabric-agent reads from a file:
 *
 *   {"host": {"name", "vtep", "underlay"},
 *    "networks": [{"name", "vni", "mtu"}],            the networks of its
 *                                                      ports, by name
 *    "ports": [{"name", "network", "device", "mac", "ip",     by name
 *               "qos": {"egress_rate", "egress_burst", "ingress_rate",
 *                       "ingress_burst", "dscp"}}],
 *    "remotes": [{"network", "mac", "ip", "vtep"}]}   the other hosts'
 *                                                      ports in those
 *                                                      networks
 *
 * The firewall (doc/firewall.md) adds: "default_action" to a network
 * that denies by default (absent means "allow"); "identity" to a port or
 * a remote in some security group (absent means none); and, when the
 * host's ports have identities,
 *
 *    "identities": [{"id", "groups", "governs", "rules": [{"id", "group",
 *                    "direction", "protocol", "ports": [lo, hi],
 *                    "icmp_type", "peer_identities" | "peer_cidrs",
 *                    "action", "log"}]}]                by id
 *
 * with only the identities of the host's own ports, each with the rules of
 * all its groups and each group peer resolved to every identity whose set
 * holds the group.
 *
 * A host with VMs has "vms" (doc/vms.md), by name: each VM placed on it,
 * {"name", "uuid", "vcpus", "memory_mb", "power", "boot", "disk": {"file",
 * "image", "size_gb"}, "seed": {"file", "hostname", "ssh_keys",
 * "user_data"}, "nics": [{"port", "device", "mac", "mtu"}]}, files named
 * relative to the storage directory.
 *
 * A port's "qos" holds the parameters of its own QoS policy, or else of
 * its network's "default_qos" (rates in bits per second, bursts in bytes,
 * DSCP 0..63), each member only when the policy sets it; it is absent
 * when no policy applies or the policy sets nothing.
 *
 * The controller remembers the last documents it sent to each host, by
 * store revision, so that an agent that asks "what changed since revision
 * R" gets a list of changes instead of the whole document. */
#ifndef CONTROLLER_DESIRED_H
#define CONTROLLER_DESIRED_H 1

#include <stdint.h>

#include <jansson.h>

struct desired;
struct store;
struct store_txn;

/* How many documents per host the cache keeps: the last one sent, and the
 * one before in case the agent never got the answer. */
#define DESIRED_KEEP 2

/* Creates the cache of documents.  With a nonnull 'store', it also
 * follows the store's changes (store_watch()) on a thread of its own and
 * works out which hosts' documents each change may alter, for
 * desired_revision() and desired_wait(): a port's change concerns its
 * host and the hosts whose documents have its network, not the fabric.
 * With a NULL 'store' only the cache works (desired_remember() and what
 * follows). */
struct desired *desired_create(struct store *store);
void desired_destroy(struct desired *);

/* Computes host 'host''s document from the store in 'txn' into '*doc'.
 * Returns 0, ENOENT if there is no such host, or a store error. */
int desired_compute(struct store_txn *txn, const char *host, json_t **doc);

/* Returns the changes that turn document 'old' into 'new' (both of the
 * same host), as an array of {"op": "set", "kind", "object"} and {"op":
 * "delete", "kind", "key"}: removals first (VMs, remotes, ports,
 * identities, networks), then additions and changes (networks,
 * identities, ports, remotes, VMs), so that applying them in order never
 * leaves a port without its network or its identity, nor a VM without its
 * ports.  Networks, ports and VMs are keyed by name, remotes by
 * "NETWORK/MAC", identities by their decimal "id".  Returns NULL if the
 * "host" part or the "external_vteps" differ, which only a full document
 * expresses. */
json_t *desired_diff(const json_t *old, const json_t *new);

/* Remembers that 'host' was sent 'doc' (a new reference is taken) at
 * 'revision'. */
void desired_remember(struct desired *, const char *host, int64_t revision,
                      json_t *doc);
/* Returns a new reference to the document sent to 'host' at 'revision', or
 * NULL if it is not remembered. */
json_t *desired_recall(struct desired *, const char *host, int64_t revision);
/* Forgets every document of 'host'. */
void desired_forget(struct desired *, const char *host);

/* Returns the latest revision of a commit that may have changed the
 * document of 'host' whose networks are those of document 'doc': one that
 * changed the host itself or its ports, or one of those networks or the
 * ports in them, or something that concerns every host (a security group
 * rule, a migration...), or the store's revision when following began.
 * A document computed at revision R is still the host's while this is R
 * or less.  Changes the following thread has yet to take in are not
 * counted; desired_wait() waits for them. */
int64_t desired_revision(struct desired *, const char *host,
                         const json_t *doc);

/* Waits up to 'timeout_ms' until the following thread has taken in every
 * change queued so far, and returns 0, or ETIMEDOUT.  A backend reports a
 * commit's objects before its revision becomes the store's, so after
 * this, desired_revision() counts every commit up to the store_revision()
 * read before the call; after ETIMEDOUT the caller computes the document
 * rather than trusting desired_revision(). */
int desired_sync(struct desired *, int timeout_ms);

/* Waits up to 'timeout_ms' until desired_revision() of 'host' and 'doc'
 * exceeds 'revision', and returns 0, or ETIMEDOUT.  Only a change that
 * concerns the host wakes it. */
int desired_wait(struct desired *, const char *host, const json_t *doc,
                 int64_t revision, int timeout_ms);

/* How many times changes woke the waiters of 'host' (NULL: of every host)
 * since desired_create(); a change that concerns every host counts once
 * per host that had a waiter.  For the tests and /metrics. */
uint64_t desired_wakeups(struct desired *, const char *host);

/* Counts a computation of a document for a long poll, and returns how many
 * there were since desired_create(), for /metrics. */
void desired_count_compute(struct desired *);
uint64_t desired_computes(struct desired *);

#endif /* controller/desired.h */
