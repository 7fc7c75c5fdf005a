/* Policy lookup for the distributed firewall: the keys the fast path looks
 * up, in which order, and how their results combine into one verdict.
 *
 * Rules belong to a group (the 16-bit identity that VXLAN-GBP carries) and a
 * direction, and match an IP protocol, a destination port (or port range)
 * and a peer.  The controller compiles them into hash entries keyed by
 * struct policy_key; the fast path makes at most POLICY_LOOKUPS_MAX hash
 * lookups per new connection, whatever the number of rules, and never walks
 * a rule list.  Only the first packet of a connection asks the policy;
 * everything after it, return traffic included, rides on the conntrack
 * entry (firewall/ct.h).
 *
 * Who governs which packet:
 *
 *   - POLICY_EGRESS: a packet a local endpoint sends.  'group' is the
 *     sender's group, 'peer' the receiver's identity.
 *   - POLICY_INGRESS: a packet a local endpoint receives.  'group' is the
 *     receiver's group, 'peer' the sender's identity.
 *   - The port is the destination port for TCP, UDP and SCTP, and the
 *     message type for ICMP and ICMPv6.
 *
 * Peer identity: the group of a local endpoint (from the port table), or the
 * group that a VXLAN-GBP frame carries; otherwise the identity that the
 * controller gave the longest CIDR containing the peer's address, found with
 * one LPM trie lookup keyed by struct policy_cidr_key; otherwise
 * POLICY_PEER_ANY, which only rules for any peer match.  Because an LPM trie
 * returns only the longest match, the controller gives the entries of a CIDR
 * identity the rules of every shorter CIDR that contains it too: with an
 * allow for 10.0.0.0/8 and a deny for 10.1.0.0/16, the identity of
 * 10.1.0.0/16 carries both.
 *
 * Port ranges: policy_range_expand() turns a range into hash entries.  Each
 * aligned block of 256 ports that the range covers whole becomes one
 * POLICY_MATCH_BUCKET entry keyed by the block number (port / 256); the
 * ports at the ragged ends (at most 255 on each side) become
 * POLICY_MATCH_PORT entries; the full range 0-65535 becomes one
 * POLICY_MATCH_ANY_PORT entry.  That bounds a range at 766 entries and a
 * packet at one extra lookup.
 *
 * Verdict: policy_decide() below; a deny anywhere beats any allow. */
#ifndef FIREWALL_POLICY_H
#define FIREWALL_POLICY_H 1

#include "packet/parse.h"

/* Directions, from the local endpoint's point of view. */
#define POLICY_INGRESS 0 /* Towards the local endpoint. */
#define POLICY_EGRESS 1  /* From the local endpoint. */

/* How much of the packet an entry matches. */
#define POLICY_MATCH_PORT 1      /* Protocol and exact port. */
#define POLICY_MATCH_BUCKET 2    /* Protocol and port / 256. */
#define POLICY_MATCH_ANY_PORT 3  /* Protocol, any port. */
#define POLICY_MATCH_ANY_PROTO 4 /* Any protocol, any port. */

#define POLICY_PEER_ANY 0       /* Any peer, or a peer with no identity. */
#define POLICY_IPPROTO_SCTP 132 /* Has ports like TCP and UDP. */
#define POLICY_BUCKET_SHIFT 8
#define POLICY_BUCKET_SIZE (1 << POLICY_BUCKET_SHIFT)

/* The key of one policy hash entry.  Fields that an entry's 'match' does not
 * cover are zero. */
struct policy_key {
    __u16 group;    /* The local endpoint's group, whose rules govern. */
    __u8 direction; /* POLICY_INGRESS or POLICY_EGRESS. */
    __u8 proto;     /* IP protocol, 0 for POLICY_MATCH_ANY_PROTO. */
    __u16 port;     /* Port, ICMP type or bucket number, host order. */
    __u16 peer;     /* Peer identity, or POLICY_PEER_ANY. */
    __u8 match;     /* POLICY_MATCH_*. */
    __u8 pad[3];    /* Zero. */
};

/* Actions. */
#define POLICY_NONE 0  /* No entry: the lookup missed. */
#define POLICY_ALLOW 1 /* Allow the connection. */
#define POLICY_DENY 2  /* Drop it. */

/* The value of one policy hash entry, and the result of one lookup. */
struct policy_value {
    __u32 rule_id; /* The rule the entry came from, never 0. */
    __u8 action;   /* POLICY_ALLOW or POLICY_DENY; POLICY_NONE on a miss. */
    __u8 flags;    /* POLICY_F_*. */
    __u8 pad[2];   /* Zero. */
};

#define POLICY_F_LOG 0x1 /* Log the connections this entry allows. */

/* Why policy_decide() decided as it did. */
#define POLICY_BY_RULE 0            /* A rule matched: 'rule_id' says which. */
#define POLICY_BY_DEFAULT_DENY 1    /* The group governs, nothing allowed. */
#define POLICY_BY_NETWORK_DEFAULT 2 /* No group governs: network default. */

struct policy_verdict {
    __u32 rule_id; /* Deciding rule, 0 unless 'reason' is POLICY_BY_RULE. */
    __u8 action;   /* POLICY_ALLOW or POLICY_DENY. */
    __u8 reason;   /* POLICY_BY_*. */
    __u8 pad[2];   /* Zero. */
};

/* The most lookups one packet costs: four port matches (exact, bucket, any
 * port, any protocol), each for the peer's identity and for any peer. */
#define POLICY_LOOKUPS_MAX 8

/* The key of the LPM trie that maps a peer address to a CIDR identity.
 * 'prefixlen' counts the 64 bits of 'vni' and 'family' (always matched
 * whole: address spaces of different networks may overlap) plus the CIDR's
 * prefix length. */
struct policy_cidr_key {
    __u32 prefixlen; /* 64 + CIDR prefix length. */
    __u32 vni;       /* The virtual network, in network order. */
    __u8 family;     /* 4 or 6. */
    __u8 pad[3];     /* Zero. */
    __u8 addr[16];   /* Address; IPv4 in the first four bytes. */
};

#define POLICY_CIDR_KEY_FIXED_BITS 64

/* Returns true if packets of IP protocol 'proto' have a port (or ICMP type)
 * that rules can match. */
PKT_INLINE bool
policy_proto_has_port(__u8 proto)
{
    return proto == PKT_IPPROTO_TCP || proto == PKT_IPPROTO_UDP
           || proto == POLICY_IPPROTO_SCTP || proto == PKT_IPPROTO_ICMP
           || proto == PKT_IPPROTO_ICMPV6;
}

/* Returns the port that rules match for the packet 'info' describes: the
 * destination port, or the ICMP type; 0 for other protocols. */
PKT_INLINE __u16
policy_port_from_info(const struct pkt_info *info)
{
    if (info->l4_proto == PKT_IPPROTO_ICMP
        || info->l4_proto == PKT_IPPROTO_ICMPV6) {
        return bpf_ntohs(info->sport) >> 8;
    }
    if (policy_proto_has_port(info->l4_proto)) {
        return bpf_ntohs(info->dport);
    }
    return 0;
}

/* Fills in the 'n'th key of 'keys' and returns 'n' + 1. */
PKT_INLINE int
policy_key_set(struct policy_key *keys, int n, __u16 group, __u8 direction,
               __u8 proto, __u16 port, __u16 peer, __u8 match)
{
    struct policy_key *k = &keys[n];

    __builtin_memset(k, 0, sizeof *k);
    k->group = group;
    k->direction = direction;
    k->proto = proto;
    k->port = port;
    k->peer = peer;
    k->match = match;
    return n + 1;
}

/* Fills 'keys' with the lookups for a connection of IP protocol 'proto' to
 * port (or ICMP type) 'port', governed by 'group' in 'direction', with a
 * peer of identity 'peer', most specific first: exact port, port bucket,
 * any port, any protocol, each with the peer's identity before any peer.
 * Lookups that cannot match are left out: port and bucket for protocols
 * without ports, the bucket for ICMP, the peer's own for POLICY_PEER_ANY.
 * Returns how many keys it filled, at most POLICY_LOOKUPS_MAX. */
PKT_INLINE int
policy_keys_build(__u16 group, __u8 direction, __u8 proto, __u16 port,
                  __u16 peer, struct policy_key keys[POLICY_LOOKUPS_MAX])
{
    bool icmp = proto == PKT_IPPROTO_ICMP || proto == PKT_IPPROTO_ICMPV6;
    int n = 0;

    if (policy_proto_has_port(proto)) {
        if (peer != POLICY_PEER_ANY) {
            n = policy_key_set(keys, n, group, direction, proto, port, peer,
                               POLICY_MATCH_PORT);
        }
        n = policy_key_set(keys, n, group, direction, proto, port,
                           POLICY_PEER_ANY, POLICY_MATCH_PORT);
        if (!icmp) {
            __u16 bucket = port >> POLICY_BUCKET_SHIFT;

            if (peer != POLICY_PEER_ANY) {
                n = policy_key_set(keys, n, group, direction, proto, bucket,
                                   peer, POLICY_MATCH_BUCKET);
            }
            n = policy_key_set(keys, n, group, direction, proto, bucket,
                               POLICY_PEER_ANY, POLICY_MATCH_BUCKET);
        }
    }
    if (peer != POLICY_PEER_ANY) {
        n = policy_key_set(keys, n, group, direction, proto, 0, peer,
                           POLICY_MATCH_ANY_PORT);
    }
    n = policy_key_set(keys, n, group, direction, proto, 0, POLICY_PEER_ANY,
                       POLICY_MATCH_ANY_PORT);
    if (peer != POLICY_PEER_ANY) {
        n = policy_key_set(keys, n, group, direction, 0, 0, peer,
                           POLICY_MATCH_ANY_PROTO);
    }
    n = policy_key_set(keys, n, group, direction, 0, 0, POLICY_PEER_ANY,
                       POLICY_MATCH_ANY_PROTO);
    return n;
}

/* Combines the results of the lookups of policy_keys_build(), 'results'[i]
 * being the value found for key i (action POLICY_NONE on a miss), 'n' of
 * them (at most POLICY_LOOKUPS_MAX), into one verdict:
 *
 *   1. Any deny wins, reported with the first (most specific) deny's rule.
 *   2. Otherwise any allow wins, reported with the first allow's rule.
 *   3. Otherwise, if the group has rules for this direction ('governed',
 *      which the backend keeps with the group or the port), deny by
 *      default: a group's rules are a whitelist.
 *   4. Otherwise 'network_default' (POLICY_ALLOW or POLICY_DENY) of the
 *      virtual network.
 *
 * Entries whose action is neither POLICY_ALLOW nor POLICY_DENY count as
 * misses. */
PKT_INLINE struct policy_verdict
policy_decide(const struct policy_value *results, int n, bool governed,
              __u8 network_default)
{
    struct policy_verdict v;
    __u32 allow_rule = 0;
    bool allowed = false;
    int i;

    __builtin_memset(&v, 0, sizeof v);
    for (i = 0; i < POLICY_LOOKUPS_MAX; i++) {
        if (i >= n) {
            break;
        }
        if (results[i].action == POLICY_DENY) {
            v.action = POLICY_DENY;
            v.reason = POLICY_BY_RULE;
            v.rule_id = results[i].rule_id;
            return v;
        }
        if (results[i].action == POLICY_ALLOW && !allowed) {
            allowed = true;
            allow_rule = results[i].rule_id;
        }
    }
    if (allowed) {
        v.action = POLICY_ALLOW;
        v.reason = POLICY_BY_RULE;
        v.rule_id = allow_rule;
    } else if (governed) {
        v.action = POLICY_DENY;
        v.reason = POLICY_BY_DEFAULT_DENY;
    } else {
        v.action =
            network_default == POLICY_ALLOW ? POLICY_ALLOW : POLICY_DENY;
        v.reason = POLICY_BY_NETWORK_DEFAULT;
    }
    return v;
}

/* Fills '*key' with the LPM trie key for address 'addr' (4 or 16 bytes as
 * 'family' is 4 or 6) on virtual network 'vni', matching its first
 * 'prefix_len' bits: the full length for a lookup, the CIDR's for an
 * entry. */
PKT_INLINE void
policy_cidr_key_build(struct policy_cidr_key *key, __u32 vni, __u8 family,
                      const __u8 *addr, __u32 prefix_len)
{
    __builtin_memset(key, 0, sizeof *key);
    key->prefixlen = POLICY_CIDR_KEY_FIXED_BITS + prefix_len;
    key->vni = bpf_htonl(vni);
    key->family = family;
    if (family == 4) {
        __builtin_memcpy(key->addr, addr, 4);
    } else {
        __builtin_memcpy(key->addr, addr, 16);
    }
}

/* One side of a new connection as the policy of its local endpoint sees
 * it.  The backend fills it from what it knows of the frame (or, when it
 * revalidates, of the connection). */
struct policy_side {
    __u32 vni;          /* The connection's virtual network. */
    __u16 group;        /* The local endpoint's identity. */
    __u16 peer_carried; /* The peer's identity as its frames carry it: its
                         * local port's, or the VXLAN-GBP group; 0 if
                         * none is known. */
    __u8 direction;     /* POLICY_EGRESS: the local endpoint opens the
                         * connection; POLICY_INGRESS: the peer does. */
    __u8 proto;         /* IP protocol. */
    __u16 port;         /* Port or ICMP type: policy_port_from_info(). */
    __u8 governed;      /* The endpoint's groups govern 'direction'. */
    __u8 default_deny;  /* If not, its network's default is deny. */
    __u8 family;        /* 4 or 6, of 'peer_addr'. */
    __u8 peer_external; /* The peer is behind an external VTEP, which may
                         * claim any address: only its CIDR says who it
                         * is, never a binding. */
    __u8 peer_addr[16]; /* The peer's address; IPv4 in the first four
                         * bytes. */
};

/* What policy_side_decide() decided. */
struct policy_side_result {
    struct policy_verdict v; /* Action, reason, rule. */
    __u16 peer;              /* The peer's identity, as the policy saw it. */
    __u8 log;                /* The deciding entry has POLICY_F_LOG. */
    __u8 pad;                /* Zero. */
};

/* The backend's accessors to its tables, for policy_side_decide(); 'ctx'
 * is the backend's own.  A lookup of the policy table stores the entry of
 * 'key' in '*value' and returns true, or returns false on a miss.  A peer
 * lookup returns the identity of address 'addr' ('family' 4 or 6) on
 * 'vni': the binding lookup that of the endpoint owning the address (0 if
 * there is none, or it has no group; only asked for IPv4), the CIDR lookup
 * that of the longest rule CIDR holding it (POLICY_PEER_ANY if none). */
typedef bool policy_lookup_fn(void *ctx, const struct policy_key *key,
                              struct policy_value *value);
typedef __u16 policy_peer_fn(void *ctx, __u32 vni, __u8 family,
                             const __u8 *addr);

/* Returns the identity of the peer of 'side', the first of: the identity
 * its frames carry; for IPv4, unless the peer is external, the identity of
 * its address's binding; the CIDR identity of its address;
 * POLICY_PEER_ANY.  'binding' and 'cidr' are asked only when needed. */
PKT_INLINE __u16
policy_peer_identity(const struct policy_side *side, policy_peer_fn *binding,
                     policy_peer_fn *cidr, void *ctx)
{
    __u16 id = side->peer_carried;

    if (!id && side->family == 4 && !side->peer_external) {
        id = binding(ctx, side->vni, side->family, side->peer_addr);
    }
    if (!id) {
        id = cidr(ctx, side->vni, side->family, side->peer_addr);
    }
    return id;
}

/* Decides a new connection for one local endpoint: the one decision that
 * the fast path makes for the first packet of a connection and the
 * revalidator makes again for every tracked one.  Resolves the peer's
 * identity (policy_peer_identity()); then, if the endpoint's groups do not
 * govern the direction, follows the network's default without a lookup;
 * otherwise looks up the keys of policy_keys_build() into 'keys' and
 * 'results' (scratch space of POLICY_LOOKUPS_MAX each, which a BPF backend
 * keeps off its stack) with 'lookup', and lets policy_decide() decide,
 * denying by default.  Fills '*out', with the log flag of the deciding
 * entry. */
PKT_INLINE void
policy_side_decide(const struct policy_side *side, struct policy_key *keys,
                   struct policy_value *results, policy_lookup_fn *lookup,
                   policy_peer_fn *binding, policy_peer_fn *cidr, void *ctx,
                   struct policy_side_result *out)
{
    int i, n;

    __builtin_memset(out, 0, sizeof *out);
    out->peer = policy_peer_identity(side, binding, cidr, ctx);
    if (!side->governed) {
        /* Groups that do not govern a direction have no rules for it. */
        out->v.action = side->default_deny ? POLICY_DENY : POLICY_ALLOW;
        out->v.reason = POLICY_BY_NETWORK_DEFAULT;
        return;
    }
    n = policy_keys_build(side->group, side->direction, side->proto,
                          side->port, out->peer, keys);
    for (i = 0; i < POLICY_LOOKUPS_MAX; i++) {
        if (i >= n || !lookup(ctx, &keys[i], &results[i])) {
            __builtin_memset(&results[i], 0, sizeof results[i]);
        }
    }
    out->v = policy_decide(results, n, true, POLICY_DENY);
    for (i = 0; i < POLICY_LOOKUPS_MAX; i++) {
        if (out->v.rule_id && results[i].rule_id == out->v.rule_id) {
            out->log = results[i].flags & POLICY_F_LOG;
            break;
        }
    }
}

/* One hash entry that a port range compiles to. */
struct policy_port_match {
    __u16 port; /* Port or bucket number; 0 for POLICY_MATCH_ANY_PORT. */
    __u8 match; /* POLICY_MATCH_PORT, _BUCKET or _ANY_PORT. */
    __u8 pad;   /* Zero. */
};

/* The most entries policy_range_expand() makes of one range. */
#define POLICY_RANGE_ENTRIES_MAX                                              \
    (2 * (POLICY_BUCKET_SIZE - 1) + 65536 / POLICY_BUCKET_SIZE)

/* For the controller: compiles the port range 'lo'..'hi' (inclusive) into
 * entries as the comment at the top of this file says, storing the first
 * 'max' of them in 'out'.  Returns how many entries the range needs (more
 * than 'max' means 'out' was too small), or -1 if 'lo' > 'hi'. */
PKT_INLINE int
policy_range_expand(__u16 lo, __u16 hi, struct policy_port_match *out, int max)
{
    __u32 p = lo;
    int n = 0;

    if (lo > hi) {
        return -1;
    }
    if (lo == 0 && hi == 0xffff) {
        if (max > 0) {
            out[0].port = 0;
            out[0].match = POLICY_MATCH_ANY_PORT;
            out[0].pad = 0;
        }
        return 1;
    }
    while (p <= hi) {
        struct policy_port_match m;

        m.pad = 0;
        if (!(p % POLICY_BUCKET_SIZE) && p + POLICY_BUCKET_SIZE - 1 <= hi) {
            m.port = p >> POLICY_BUCKET_SHIFT;
            m.match = POLICY_MATCH_BUCKET;
            p += POLICY_BUCKET_SIZE;
        } else {
            m.port = p;
            m.match = POLICY_MATCH_PORT;
            p++;
        }
        if (n < max) {
            out[n] = m;
        }
        n++;
    }
    return n;
}

#endif /* firewall/policy.h */
