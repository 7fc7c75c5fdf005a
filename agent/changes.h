/* The "changes" of a delta answer of the desired-state watch (doc/api.md,
 * "Desired state"), applied to the document they change: what fabric-agent
 * does with them, and bench/fake-agents too. */
#ifndef AGENT_CHANGES_H
#define AGENT_CHANGES_H 1

struct json_t;

/* Applies the "changes" array 'changes' of a delta answer to the desired
 * state document 'doc', in order: {"op": "set", "kind": K, "object": O}
 * replaces the element of the same key in the list of kind K ("network",
 * "port", "remote", "identity" or "vm") or appends O; {"op": "delete",
 * "kind": K, "key": KEY} removes every element with that key, and is
 * harmless if there is none.  Networks, ports and VMs are keyed by "name",
 * remotes by
 * "NETWORK/MAC" (the MAC in any case), identities by their "id" in decimal
 * ("300").
 *
 * Returns 0, or EINVAL with '*msg' saying which change is malformed (the
 * caller frees it); 'doc' may then hold some of the changes, so callers
 * apply them to a copy. */
int changes_apply(struct json_t *doc, const struct json_t *changes,
                  char **msg);

#endif /* agent/changes.h */
