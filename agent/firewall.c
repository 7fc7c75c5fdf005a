#include "agent/firewall.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/param.h>
#include <time.h>

#include "agent/reconcile-table.h"
#include "agent/state.h"
#include "utils/log.h"
#include "utils/util.h"

uint32_t
fw_port_flags(const struct state *s, const struct state_port *port)
{
    const struct state_identity *id = state_find_identity(s, port->identity);
    uint32_t flags = 0;

    if (id && (id->governs & STATE_GOVERNS(POLICY_INGRESS))) {
        flags |= DP_PORT_FW_INGRESS;
    }
    if (id && (id->governs & STATE_GOVERNS(POLICY_EGRESS))) {
        flags |= DP_PORT_FW_EGRESS;
    }
    if (s->networks[port->network].default_deny) {
        flags |= DP_PORT_FW_DEFAULT_DENY;
    }
    return flags;
}

/* ------------------------------------------------------------------------
 * CIDR identities. */

/* One CIDR and its identity. */
struct fw_cidr_id {
    struct state_cidr cidr; /* The CIDR. */
    uint16_t id;            /* Its identity. */
};

struct fw_cidr_ids {
    struct fw_cidr_id *ids; /* The assignment, in no order. */
    size_t n;               /* Number of 'ids'. */
    bool seeded;            /* Whether it has been seeded or used. */
};

struct fw_cidr_ids *
fw_cidr_ids_create(void)
{
    return xzalloc(sizeof(struct fw_cidr_ids));
}

void
fw_cidr_ids_destroy(struct fw_cidr_ids *ids)
{
    if (ids) {
        free(ids->ids);
        free(ids);
    }
}

static bool
cidr_equal(const struct state_cidr *a, const struct state_cidr *b)
{
    return a->family == b->family && a->prefix_len == b->prefix_len
           && !memcmp(a->addr, b->addr, sizeof a->addr);
}

/* Whether the 'bits' leading bits of 'a' and 'b' are equal. */
static bool
prefix_equal(const uint8_t *a, const uint8_t *b, unsigned int bits)
{
    unsigned int bytes = bits / 8;
    uint8_t mask;

    if (memcmp(a, b, bytes)) {
        return false;
    }
    if (!(bits % 8)) {
        return true;
    }
    mask = 0xff << (8 - bits % 8);
    return !((a[bytes] ^ b[bytes]) & mask);
}

/* Whether 'outer' contains 'inner' (or is it). */
static bool
cidr_contains(const struct state_cidr *outer, const struct state_cidr *inner)
{
    return outer->family == inner->family
           && outer->prefix_len <= inner->prefix_len
           && prefix_equal(outer->addr, inner->addr, outer->prefix_len);
}

uint16_t
fw_cidr_ids_find(const struct fw_cidr_ids *ids, const struct state_cidr *cidr)
{
    for (size_t i = 0; i < ids->n; i++) {
        if (cidr_equal(&ids->ids[i].cidr, cidr)) {
            return ids->ids[i].id;
        }
    }
    return 0;
}

void
fw_cidr_ids_seed(struct fw_cidr_ids *ids, const struct reconcile_table *cidrs)
{
    if (ids->seeded) {
        return;
    }
    ids->seeded = true;
    ids->ids = xcalloc(cidrs->n, sizeof *ids->ids);
    for (size_t i = 0; i < cidrs->n; i++) {
        const struct policy_cidr_key *k = reconcile_table_key(cidrs, i);
        const struct dp_policy_cidr *v = reconcile_table_value(cidrs, i);
        struct state_cidr c;

        if ((k->family != 4 && k->family != 6)
            || k->prefixlen < POLICY_CIDR_KEY_FIXED_BITS
            || k->prefixlen - POLICY_CIDR_KEY_FIXED_BITS
                   > (k->family == 4 ? 32u : 128u)
            || v->identity < DP_CIDR_IDENTITY_MIN) {
            continue;
        }
        memset(&c, 0, sizeof c);
        c.family = k->family;
        c.prefix_len = k->prefixlen - POLICY_CIDR_KEY_FIXED_BITS;
        memcpy(c.addr, k->addr, c.family == 4 ? 4 : 16);
        if (!fw_cidr_ids_find(ids, &c)) {
            ids->ids[ids->n].cidr = c;
            ids->ids[ids->n++].id = v->identity;
        }
    }
}

/* Whether 'id' is taken in the 'n' assignments of 'list'. */
static bool
id_taken(const struct fw_cidr_id *list, size_t n, uint16_t id)
{
    for (size_t i = 0; i < n; i++) {
        if (list[i].id == id) {
            return true;
        }
    }
    return false;
}

/* ------------------------------------------------------------------------
 * Compilation. */

/* A growing list of policy entries. */
struct fw_entries {
    struct fw_entry {
        struct policy_key key;     /* The key. */
        struct policy_value value; /* The value. */
    } * e;                         /* The entries. */
    size_t n;                      /* Number of 'e'. */
    size_t allocated;              /* Allocated 'e'. */
};

static void
entries_add(struct fw_entries *list, const struct policy_key *key,
            const struct policy_value *value)
{
    if (list->n == list->allocated) {
        list->allocated = list->allocated ? 2 * list->allocated : 64;
        list->e = xrealloc(list->e, list->allocated * sizeof *list->e);
    }
    list->e[list->n].key = *key;
    list->e[list->n].value = *value;
    list->n++;
}

/* Orders entries by key, and entries of one key so that the one that wins
 * a collision comes first: a deny before an allow, then the lower rule
 * id. */
static int
compare_fw_entries(const void *a_, const void *b_)
{
    const struct fw_entry *a = a_, *b = b_;
    int cmp = memcmp(&a->key, &b->key, sizeof a->key);

    if (cmp) {
        return cmp;
    }
    if (a->value.action != b->value.action) {
        return a->value.action == POLICY_DENY ? -1 : 1;
    }
    return a->value.rule_id < b->value.rule_id   ? -1
           : a->value.rule_id > b->value.rule_id ? 1
                                                 : 0;
}

/* Returns in '*np' the port matches of 'rule': the entries of its port
 * range, its ICMP type, its whole protocol, or any protocol.  The caller
 * frees them. */
static struct policy_port_match *
rule_port_matches(const struct state_rule *rule, size_t *np)
{
    struct policy_port_match *m;
    int n;

    if (rule->has_ports) {
        m = xcalloc(POLICY_RANGE_ENTRIES_MAX, sizeof *m);
        n = policy_range_expand(rule->port_lo, rule->port_hi, m,
                                POLICY_RANGE_ENTRIES_MAX);
        *np = n > 0 ? n : 0;
        return m;
    }
    m = xzalloc(sizeof *m);
    if (!rule->proto) {
        m->match = POLICY_MATCH_ANY_PROTO;
    } else if (rule->has_icmp_type) {
        m->match = POLICY_MATCH_PORT;
        m->port = rule->icmp_type;
    } else {
        m->match = POLICY_MATCH_ANY_PORT;
    }
    *np = 1;
    return m;
}

/* The CIDRs installed on one network: those of the rules of every identity
 * that has a port there. */
struct fw_net_cidrs {
    const struct state_cidr **cidrs; /* The CIDRs, each once. */
    size_t n;                        /* Number of 'cidrs'. */
};

static void
net_cidrs_add(struct fw_net_cidrs *nc, const struct state_cidr *c)
{
    for (size_t i = 0; i < nc->n; i++) {
        if (cidr_equal(nc->cidrs[i], c)) {
            return;
        }
    }
    nc->cidrs = xrealloc(nc->cidrs, (nc->n + 1) * sizeof *nc->cidrs);
    nc->cidrs[nc->n++] = c;
}

/* Whether identity 'id' has a port on network 'net' of 's'. */
static bool
identity_on_network(const struct state *s, uint16_t id, size_t net)
{
    for (size_t i = 0; i < s->n_ports; i++) {
        if (s->ports[i].identity == id && s->ports[i].network == net) {
            return true;
        }
    }
    return false;
}

/* Gives every CIDR of 'nets' (one per network of 's') an identity in
 * 'ids', keeping those it had.  Returns 0 or ENOSPC. */
static int
assign_cidr_ids(const struct state *s, const struct fw_net_cidrs *nets,
                struct fw_cidr_ids *ids)
{
    struct fw_cidr_id *old = ids->ids;
    size_t n_old = ids->n;
    struct fw_cidr_id *new = NULL;
    size_t n_new = 0, allocated = 0;
    uint32_t next = DP_CIDR_IDENTITY_MIN;
    int error = 0;

    ids->seeded = true;
    for (size_t i = 0; i < s->n_networks; i++) {
        for (size_t j = 0; j < nets[i].n; j++) {
            const struct state_cidr *c = nets[i].cidrs[j];
            bool have = false;
            uint16_t id;

            for (size_t k = 0; k < n_new && !have; k++) {
                have = cidr_equal(&new[k].cidr, c);
            }
            if (have) {
                continue;
            }
            id = fw_cidr_ids_find(ids, c);
            if (!id) {
                /* The lowest identity neither in use now nor given up
                 * in this run. */
                while (next <= DP_CIDR_IDENTITY_MAX
                       && (id_taken(old, n_old, next)
                           || id_taken(new, n_new, next))) {
                    next++;
                }
                if (next > DP_CIDR_IDENTITY_MAX) {
                    error = ENOSPC;
                    continue;
                }
                id = next++;
            }
            if (n_new == allocated) {
                allocated = allocated ? 2 * allocated : 16;
                new = xrealloc(new, allocated * sizeof *new);
            }
            new[n_new].cidr = *c;
            new[n_new++].id = id;
        }
    }
    if (error) {
        LOG_ERR("firewall: more than %d distinct CIDRs in rules; the CIDRs "
                "beyond that match no traffic",
                DP_CIDR_IDENTITY_MAX - DP_CIDR_IDENTITY_MIN + 1);
    }
    free(old);
    ids->ids = new;
    ids->n = n_new;
    return error;
}

/* Adds to 'list' the entries of 'rule' of identity 'id', for peer 'peer'
 * and the 'n' port matches 'm'. */
static void
add_rule_entries(struct fw_entries *list, const struct state_identity *id,
                 const struct state_rule *rule, uint16_t peer,
                 const struct policy_port_match *m, size_t n)
{
    struct policy_value value = {
        .rule_id = rule->id,
        .action = rule->action,
        .flags = rule->log ? POLICY_F_LOG : 0,
    };

    for (size_t i = 0; i < n; i++) {
        struct policy_key key;

        policy_key_set(&key, 0, id->id, rule->direction,
                       m[i].match == POLICY_MATCH_ANY_PROTO ? 0 : rule->proto,
                       m[i].port, peer, m[i].match);
        entries_add(list, &key, &value);
    }
}

/* Adds to 'list' the entries of the rules of identity 'id' of 's' whose
 * peers are CIDRs: one set per CIDR identity that can be looked up for a
 * port of 'id' (the CIDRs of the networks where it has ports), with the
 * rules whose CIDRs contain that CIDR. */
static void
add_cidr_entries(struct fw_entries *list, const struct state *s,
                 const struct state_identity *id,
                 const struct fw_net_cidrs *nets,
                 const struct fw_cidr_ids *ids)
{
    uint16_t *done = NULL;
    size_t n_done = 0;

    for (size_t i = 0; i < s->n_networks; i++) {
        if (!identity_on_network(s, id->id, i)) {
            continue;
        }
        for (size_t j = 0; j < nets[i].n; j++) {
            const struct state_cidr *c = nets[i].cidrs[j];
            uint16_t cid = fw_cidr_ids_find(ids, c);
            bool seen = false;

            for (size_t k = 0; k < n_done && !seen; k++) {
                seen = done[k] == cid;
            }
            if (!cid || seen) {
                continue;
            }
            done = xrealloc(done, (n_done + 1) * sizeof *done);
            done[n_done++] = cid;
            for (size_t r = 0; r < id->n_rules; r++) {
                const struct state_rule *rule = &id->rules[r];
                bool match = false;

                if (rule->peer != STATE_PEER_CIDRS) {
                    continue;
                }
                for (size_t k = 0; k < rule->n_cidrs && !match; k++) {
                    match = cidr_contains(&rule->cidrs[k], c);
                }
                if (match) {
                    struct policy_port_match *m;
                    size_t n;

                    m = rule_port_matches(rule, &n);
                    add_rule_entries(list, id, rule, cid, m, n);
                    free(m);
                }
            }
        }
    }
    free(done);
}

static int
compare_u32(const void *a_, const void *b_)
{
    uint32_t a = *(const uint32_t *) a_, b = *(const uint32_t *) b_;

    return a < b ? -1 : a > b;
}

/* Sorts the 'n' words at 'words' in ascending order and drops repeats, so
 * that each value is entered once.  Returns how many words remain. */
static size_t
sort_unique_u32(uint32_t *words, size_t n)
{
    size_t n_unique = 0;

    qsort(words, n, sizeof *words, compare_u32);
    for (size_t i = 0; i < n; i++) {
        if (i == 0 || words[i] != words[i - 1]) {
            words[n_unique++] = words[i];
        }
    }
    return n_unique;
}

int
fw_desired(const struct state *s, struct fw_cidr_ids *ids,
           struct reconcile_tables *tables)
{
    struct fw_net_cidrs *nets = xcalloc(s->n_networks, sizeof *nets);
    struct fw_entries list = {0};
    uint32_t *words;
    size_t n_words = 0, n_rules = 0;
    int error;

    /* The CIDRs of each network, then their identities. */
    for (size_t i = 0; i < s->n_identities; i++) {
        const struct state_identity *id = &s->identities[i];

        for (size_t net = 0; net < s->n_networks; net++) {
            if (!identity_on_network(s, id->id, net)) {
                continue;
            }
            for (size_t r = 0; r < id->n_rules; r++) {
                const struct state_rule *rule = &id->rules[r];

                for (size_t k = 0;
                     rule->peer == STATE_PEER_CIDRS && k < rule->n_cidrs;
                     k++) {
                    net_cidrs_add(&nets[net], &rule->cidrs[k]);
                }
            }
        }
        n_rules += id->n_rules;
    }
    error = assign_cidr_ids(s, nets, ids);
    for (size_t i = 0; i < s->n_networks; i++) {
        for (size_t j = 0; j < nets[i].n; j++) {
            const struct state_cidr *c = nets[i].cidrs[j];
            struct dp_policy_cidr value = {.identity =
                                               fw_cidr_ids_find(ids, c)};
            struct policy_cidr_key key;

            if (value.identity) {
                policy_cidr_key_build(&key, s->networks[i].vni, c->family,
                                      c->addr, c->prefix_len);
                reconcile_tables_add(tables, DP_POLICY_CIDRS, &key, &value);
            }
        }
    }

    /* The rules' entries. */
    for (size_t i = 0; i < s->n_identities; i++) {
        const struct state_identity *id = &s->identities[i];

        for (size_t r = 0; r < id->n_rules; r++) {
            const struct state_rule *rule = &id->rules[r];
            struct policy_port_match *m;
            size_t n;

            if (rule->peer == STATE_PEER_CIDRS) {
                continue;
            }
            m = rule_port_matches(rule, &n);
            if (rule->peer == STATE_PEER_ANY) {
                add_rule_entries(&list, id, rule, POLICY_PEER_ANY, m, n);
            }
            for (size_t k = 0; rule->peer == STATE_PEER_IDENTITIES
                               && k < rule->n_peer_identities;
                 k++) {
                add_rule_entries(&list, id, rule, rule->peer_identities[k], m,
                                 n);
            }
            free(m);
        }
        add_cidr_entries(&list, s, id, nets, ids);
    }
    qsort(list.e, list.n, sizeof *list.e, compare_fw_entries);
    for (size_t i = 0; i < list.n; i++) {
        if (i == 0
            || memcmp(&list.e[i].key, &list.e[i - 1].key,
                      sizeof list.e[i].key)) {
            reconcile_tables_add(tables, DP_POLICIES, &list.e[i].key,
                                 &list.e[i].value);
        }
    }

    /* Every rule's counter, and every remote VTEP, once. */
    words =
        xcalloc(MAX(n_rules, s->n_remotes + 2 * s->n_ports + s->n_fabric_vteps
                                 + s->n_vms + s->n_forwards)
                    + 1,
                sizeof *words);
    for (size_t i = 0; i < s->n_identities; i++) {
        for (size_t r = 0; r < s->identities[i].n_rules; r++) {
            words[n_words++] = s->identities[i].rules[r].id;
        }
    }
    n_words = sort_unique_u32(words, n_words);
    for (size_t i = 0; i < n_words; i++) {
        struct dp_rule_key key = {.rule_id = words[i]};
        struct dp_rule_hits hits = {.hits = 0};

        reconcile_tables_add(tables, DP_RULE_HITS, &key, &hits);
    }
    n_words = 0;
    for (size_t i = 0; i < s->n_remotes; i++) {
        if (!state_vtep_is_external(s, s->remotes[i].vtep)) {
            words[n_words++] = s->remotes[i].vtep;
        }
    }
    /* The hosts of a live migration (doc/mobility.md): the source, whose
     * frames for a standby port's MAC come here, and the destination, to
     * which a port's frames are forwarded; and the fabric hosts the
     * document names without an endpoint here (a migration's destination,
     * whose VM answers before this host's remotes say it moved). */
    for (size_t i = 0; i < s->n_ports; i++) {
        if (s->ports[i].standby && s->ports[i].standby_vtep) {
            words[n_words++] = s->ports[i].standby_vtep;
        }
        if (s->ports[i].forward_vtep) {
            words[n_words++] = s->ports[i].forward_vtep;
        }
    }
    for (size_t i = 0; i < s->n_fabric_vteps; i++) {
        words[n_words++] = s->fabric_vteps[i];
    }
    for (size_t i = 0; i < s->n_vms; i++) {
        if (s->vms[i].migrate) {
            words[n_words++] = s->vms[i].migrate->to_vtep;
        }
    }
    for (size_t i = 0; i < s->n_forwards; i++) {
        words[n_words++] = s->forwards[i].vtep;
    }
    n_words = sort_unique_u32(words, n_words);
    for (size_t i = 0; i < n_words; i++) {
        struct dp_vtep_key key = {.vtep = words[i]};
        struct dp_vtep vtep = {.flags = 0};

        reconcile_tables_add(tables, DP_VTEPS, &key, &vtep);
    }
    /* An external VTEP only for the networks it joined. */
    for (size_t i = 0; i < s->n_external_vteps; i++) {
        const struct state_external_vtep *ext = &s->external_vteps[i];
        struct dp_vtep_key key = {.vtep = ext->vtep,
                                  .vni = s->networks[ext->network].vni};
        struct dp_vtep vtep = {.flags = DP_VTEP_EXTERNAL};

        reconcile_tables_add(tables, DP_VTEPS, &key, &vtep);
    }

    free(words);
    free(list.e);
    for (size_t i = 0; i < s->n_networks; i++) {
        free(nets[i].cidrs);
    }
    free(nets);
    return error;
}

/* ------------------------------------------------------------------------
 * Revalidation. */

uint64_t
fw_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

/* A local port's address and what the firewall knows of it. */
struct fw_local {
    uint32_t vni;      /* Its network. */
    uint8_t family;    /* 4 or 6. */
    uint8_t addr[16];  /* Its address; IPv4 in the first four bytes. */
    uint16_t identity; /* Its identity, 0 for none. */
    uint32_t flags;    /* Its DP_PORT_* flags. */
};

/* What the datapath says about endpoints, read once per revalidation. */
struct fw_view {
    struct fw_local *locals;        /* Local ports' addresses, sorted. */
    size_t n_locals;                /* Number of 'locals'. */
    struct reconcile_tables tables; /* DP_BINDINGS, sorted, and
                                     * DP_POLICY_CIDRS. */
};

static int
compare_locals(const void *a_, const void *b_)
{
    const struct fw_local *a = a_, *b = b_;

    if (a->vni != b->vni) {
        return a->vni < b->vni ? -1 : 1;
    }
    if (a->family != b->family) {
        return a->family < b->family ? -1 : 1;
    }
    return memcmp(a->addr, b->addr, sizeof a->addr);
}

/* dp_table_dump() callback for DP_PORTS: adds the port's addresses to the
 * struct fw_view in 'view_'. */
static int
view_add_port(const void *key, const void *value, void *view_)
{
    static const uint8_t zero6[16];
    const struct dp_port *port = value;
    struct fw_view *view = view_;
    struct fw_local l = {
        .vni = port->vni, .identity = port->identity, .flags = port->flags};

    (void) key;
    view->locals =
        xrealloc(view->locals, (view->n_locals + 2) * sizeof *view->locals);
    if (port->ip4) {
        l.family = 4;
        memset(l.addr, 0, sizeof l.addr);
        memcpy(l.addr, &port->ip4, 4);
        view->locals[view->n_locals++] = l;
    }
    if (memcmp(port->ip6, zero6, 16)) {
        l.family = 6;
        memcpy(l.addr, port->ip6, 16);
        view->locals[view->n_locals++] = l;
    }
    return 0;
}

static int
view_read(struct dp *dp, struct fw_view *view)
{
    int error;

    memset(view, 0, sizeof *view);
    reconcile_tables_init(&view->tables);
    error = dp_table_dump(dp, DP_PORTS, view_add_port, view);
    if (!error) {
        error = reconcile_dump_table(dp, DP_BINDINGS, &view->tables);
    }
    if (!error) {
        error = reconcile_dump_table(dp, DP_POLICY_CIDRS, &view->tables);
    }
    qsort(view->locals, view->n_locals, sizeof *view->locals, compare_locals);
    reconcile_table_sort(&view->tables.t[DP_BINDINGS]);
    return error;
}

static void
view_destroy(struct fw_view *view)
{
    free(view->locals);
    reconcile_tables_destroy(&view->tables);
}

/* Returns the local port with address 'addr' ('family' 4 or 6) on 'vni',
 * or NULL. */
static const struct fw_local *
view_find_local(const struct fw_view *view, uint32_t vni, uint8_t family,
                const uint8_t *addr)
{
    struct fw_local l = {.vni = vni, .family = family};

    memcpy(l.addr, addr, 16);
    return bsearch(&l, view->locals, view->n_locals, sizeof l, compare_locals);
}

/* Returns the identity of the binding of IPv4 'addr' on 'vni', or -1 if
 * there is none. */
static int
view_binding_identity(const struct fw_view *view, uint32_t vni,
                      const uint8_t *addr)
{
    const struct reconcile_table *t = &view->tables.t[DP_BINDINGS];
    struct dp_binding_key key = {.vni = vni};
    size_t lo = 0, hi = t->n;

    memcpy(&key.ip4, addr, 4);
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const struct dp_binding_key *k = reconcile_table_key(t, mid);

        if (k->vni == key.vni && k->ip4 == key.ip4) {
            const struct dp_binding *b = reconcile_table_value(t, mid);

            return b->identity;
        }
        if (k->vni < key.vni
            || (k->vni == key.vni && memcmp(&k->ip4, &key.ip4, 4) < 0)) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return -1;
}

/* Returns the CIDR identity of 'addr' ('family' 4 or 6) on 'vni': that of
 * the longest CIDR of DP_POLICY_CIDRS that contains it, or
 * POLICY_PEER_ANY. */
static uint16_t
view_cidr_identity(const struct fw_view *view, uint32_t vni, uint8_t family,
                   const uint8_t *addr)
{
    const struct reconcile_table *t = &view->tables.t[DP_POLICY_CIDRS];
    uint16_t best = POLICY_PEER_ANY;
    int best_len = -1;

    for (size_t i = 0; i < t->n; i++) {
        const struct policy_cidr_key *k = reconcile_table_key(t, i);
        int len = (int) k->prefixlen - POLICY_CIDR_KEY_FIXED_BITS;

        if (k->vni == htonl(vni) && k->family == family && len > best_len
            && len <= (family == 4 ? 32 : 128)
            && prefix_equal(k->addr, addr, len)) {
            const struct dp_policy_cidr *v = reconcile_table_value(t, i);

            best = v->identity;
            best_len = len;
        }
    }
    return best;
}

/* Returns the identity that the endpoint at 'addr' ('family' 4 or 6) on
 * 'vni' carries, as the fast path would see it in its frames: a local
 * port's own; a remote IPv4 endpoint's binding's (what its host sends in
 * VXLAN-GBP); else 'recorded', what the fast path saw when it made the
 * entry, unless that is a CIDR identity, which no frame carries and which
 * is looked up afresh.  Stores the local port, or NULL, in '*local'. */
static uint16_t
carried_identity(const struct fw_view *view, uint32_t vni, uint8_t family,
                 const uint8_t *addr, uint16_t recorded,
                 const struct fw_local **local)
{
    int identity = -1;

    *local = view_find_local(view, vni, family, addr);
    if (*local) {
        return (*local)->identity;
    }
    if (family == 4) {
        identity = view_binding_identity(view, vni, addr);
    }
    if (identity >= 0) {
        return identity;
    }
    return recorded < DP_CIDR_IDENTITY_MIN ? recorded : 0;
}

/* Policy entries already looked up in one revalidation, so that the many
 * connections that share a group, port and peer cost the datapath's
 * policy table one round of lookups, not one each.  Direct-mapped: a
 * collision only costs the lookup again. */
#define FW_LOOKUP_CACHE_SIZE 4096 /* A power of 2. */

struct fw_lookup_slot {
    struct policy_key key;     /* The key looked up. */
    struct policy_value value; /* Its entry; action POLICY_NONE for none. */
    bool used;                 /* Whether the slot holds a lookup. */
};

/* The context of policy_side_decide()'s accessors in a revalidation. */
struct fw_judge {
    struct dp *dp;                /* The datapath. */
    const struct fw_view *view;   /* What it says about endpoints. */
    struct fw_lookup_slot *cache; /* Lookups of this revalidation. */
};

static uint32_t
lookup_hash(const struct policy_key *key)
{
    const uint8_t *p = (const uint8_t *) key;
    uint32_t hash = 2166136261u;

    for (size_t i = 0; i < sizeof *key; i++) {
        hash = (hash ^ p[i]) * 16777619u;
    }
    return hash & (FW_LOOKUP_CACHE_SIZE - 1);
}

/* policy_lookup_fn over DP_POLICIES, through the cache. */
static bool
judge_lookup(void *judge_, const struct policy_key *key,
             struct policy_value *value)
{
    struct fw_judge *judge = judge_;
    struct fw_lookup_slot *slot = &judge->cache[lookup_hash(key)];

    if (!slot->used || memcmp(&slot->key, key, sizeof *key)) {
        slot->used = true;
        slot->key = *key;
        if (dp_table_get(judge->dp, DP_POLICIES, key, &slot->value)) {
            memset(&slot->value, 0, sizeof slot->value);
        }
    }
    *value = slot->value;
    return slot->value.action != POLICY_NONE;
}

/* policy_peer_fn over DP_BINDINGS. */
static uint16_t
judge_binding(void *judge_, uint32_t vni, uint8_t family, const uint8_t *addr)
{
    const struct fw_judge *judge = judge_;
    int identity = view_binding_identity(judge->view, vni, addr);

    (void) family;
    return identity > 0 ? identity : 0;
}

/* policy_peer_fn over DP_POLICY_CIDRS. */
static uint16_t
judge_cidr(void *judge_, uint32_t vni, uint8_t family, const uint8_t *addr)
{
    const struct fw_judge *judge = judge_;

    return view_cidr_identity(judge->view, vni, family, addr);
}

/* Asks the policy of local endpoint 'local' about connection 'key' that it
 * opens ('direction' POLICY_EGRESS) or receives (POLICY_INGRESS), to or
 * from the peer at 'peer_addr' that carries identity 'peer_carried', on
 * port (or ICMP type) 'port': policy_side_decide(), as the fast path asked
 * for the connection's first packet.  Returns the verdict's action. */
static int
ask_policy(struct fw_judge *judge, const struct fw_local *local,
           const struct ct_key *key, uint8_t direction, uint16_t port,
           const uint8_t *peer_addr, uint16_t peer_carried)
{
    uint32_t governs =
        direction == POLICY_EGRESS ? DP_PORT_FW_EGRESS : DP_PORT_FW_INGRESS;
    struct policy_key keys[POLICY_LOOKUPS_MAX];
    struct policy_value results[POLICY_LOOKUPS_MAX];
    struct policy_side_result r;
    struct policy_side side = {
        .vni = key->vni,
        .group = local->identity,
        .peer_carried = peer_carried,
        .direction = direction,
        .proto = key->proto,
        .port = port,
        .governed = (local->flags & governs) != 0,
        .default_deny = (local->flags & DP_PORT_FW_DEFAULT_DENY) != 0,
        .family = key->family,
    };

    memcpy(side.peer_addr, peer_addr, sizeof side.peer_addr);
    policy_side_decide(&side, keys, results, judge_lookup, judge_binding,
                       judge_cidr, judge, &r);
    return r.v.action;
}

/* Returns the port (or ICMP type) the policy judged the connection 'key'
 * by, from its responder's port 'resp_port': the destination port of TCP
 * and UDP, the echo request's type for ICMP (the only ICMP the tracker
 * keeps entries for), 0 for other protocols. */
static uint16_t
policy_port(const struct ct_key *key, __be16 resp_port)
{
    switch (key->proto) {
    case PKT_IPPROTO_TCP:
    case PKT_IPPROTO_UDP:
        return ntohs(resp_port);
    case PKT_IPPROTO_ICMP:
        return CT_ICMP_ECHO_REQUEST;
    case PKT_IPPROTO_ICMPV6:
        return CT_ICMP6_ECHO_REQUEST;
    default:
        return 0;
    }
}

/* Whether the policy of the datapath of 'judge' denies now the connection
 * 'key' with 'ct'. */
static bool
ct_denied(struct fw_judge *judge, const struct ct_key *key,
          const struct dp_ct *ct)
{
    bool ab = ct->ct.orig_key_dir == CT_KEY_DIR_AB;
    const uint8_t *orig_addr = ab ? key->addr_a : key->addr_b;
    const uint8_t *resp_addr = ab ? key->addr_b : key->addr_a;
    uint16_t port = policy_port(key, ab ? key->port_b : key->port_a);
    const struct fw_local *orig, *resp;
    uint16_t orig_id, resp_id;

    orig_id = carried_identity(judge->view, key->vni, key->family, orig_addr,
                               ct->orig_src_identity, &orig);
    resp_id = carried_identity(judge->view, key->vni, key->family, resp_addr,
                               ct->orig_dst_identity, &resp);
    if (orig && (orig->flags & DP_PORT_FW_ANY)
        && ask_policy(judge, orig, key, POLICY_EGRESS, port, resp_addr,
                      resp ? resp_id : 0)
               == POLICY_DENY) {
        return true;
    }
    return resp && (resp->flags & DP_PORT_FW_ANY)
           && ask_policy(judge, resp, key, POLICY_INGRESS, port, orig_addr,
                         orig_id)
                  == POLICY_DENY;
}

/* A port that owns conntrack entries. */
struct fw_ct_owner {
    uint32_t ifindex; /* The port. */
    uint64_t entries; /* Entries it owns that stay. */
};

/* An entry that may be evicted. */
struct fw_ct_candidate {
    struct ct_key key;     /* Its key. */
    uint64_t last_seen_ns; /* When it last accepted a packet. */
    size_t owner;          /* Its owner, in 'owners' of struct fw_ct_walk. */
};

/* Keys of conntrack entries to delete. */
struct fw_ct_walk {
    struct fw_judge judge;         /* Asks the policy of the datapath. */
    uint64_t now_ns;               /* Now. */
    struct ct_key *doomed;         /* Entries to delete. */
    size_t n_doomed;               /* Number of 'doomed'. */
    size_t allocated;              /* Allocated 'doomed'. */
    struct fw_ct_stats *stats;     /* What it found. */
    struct fw_ct_owner *owners;    /* Owners of the entries that stay. */
    size_t n_owners;               /* Number of 'owners'. */
    struct fw_ct_candidate *cands; /* Entries that stay, but may be
                                    * evicted. */
    size_t n_cands;                /* Number of 'cands'. */
    size_t cands_allocated;        /* Allocated 'cands'. */
};

static void
walk_doom(struct fw_ct_walk *walk, const struct ct_key *key)
{
    if (walk->n_doomed == walk->allocated) {
        walk->allocated = walk->allocated ? 2 * walk->allocated : 64;
        walk->doomed =
            xrealloc(walk->doomed, walk->allocated * sizeof *walk->doomed);
    }
    walk->doomed[walk->n_doomed++] = *key;
}

/* Counts the entry 'key' with 'ct', which stays, for its owner, and
 * remembers it if it may be evicted. */
static void
walk_keep(struct fw_ct_walk *walk, const struct ct_key *key,
          const struct dp_ct *ct)
{
    size_t i;

    if (!ct->owner_ifindex) {
        return;
    }
    for (i = 0; i < walk->n_owners; i++) {
        if (walk->owners[i].ifindex == ct->owner_ifindex) {
            break;
        }
    }
    if (i == walk->n_owners) {
        walk->owners = xrealloc(walk->owners,
                                (walk->n_owners + 1) * sizeof *walk->owners);
        walk->owners[walk->n_owners].ifindex = ct->owner_ifindex;
        walk->owners[walk->n_owners++].entries = 0;
    }
    walk->owners[i].entries++;
    if (ct_entry_evictable(&ct->ct)) {
        struct fw_ct_candidate *c;

        if (walk->n_cands == walk->cands_allocated) {
            walk->cands_allocated =
                walk->cands_allocated ? 2 * walk->cands_allocated : 64;
            walk->cands = xrealloc(walk->cands, walk->cands_allocated
                                                    * sizeof *walk->cands);
        }
        c = &walk->cands[walk->n_cands++];
        c->key = *key;
        c->last_seen_ns = ct->ct.last_seen_ns;
        c->owner = i;
    }
}

static int
compare_candidates(const void *a_, const void *b_)
{
    const struct fw_ct_candidate *a = a_, *b = b_;

    return a->last_seen_ns < b->last_seen_ns   ? -1
           : a->last_seen_ns > b->last_seen_ns ? 1
                                               : 0;
}

/* Dooms, if the entries that stay fill the table of 'capacity' entries
 * past FW_CT_EVICT_HIGH_PCT, the evictable entries of the ports that own
 * more than a fair share, as the comment in agent/firewall.h says. */
static void
walk_evict(struct fw_ct_walk *walk, uint64_t capacity)
{
    uint64_t live = walk->stats->entries;
    uint64_t low = capacity * FW_CT_EVICT_LOW_PCT / 100;
    uint64_t fair;

    if (!capacity || !walk->n_owners
        || live * 100 < capacity * FW_CT_EVICT_HIGH_PCT) {
        return;
    }
    /* One share more than there are owners: the port that the full table
     * refuses owns nothing yet, and needs room too. */
    fair = capacity / (walk->n_owners + 1);
    qsort(walk->cands, walk->n_cands, sizeof *walk->cands, compare_candidates);
    for (size_t i = 0; i < walk->n_cands && live > low; i++) {
        struct fw_ct_owner *owner = &walk->owners[walk->cands[i].owner];

        if (owner->entries > fair) {
            owner->entries--;
            live--;
            walk_doom(walk, &walk->cands[i].key);
            walk->stats->evicted++;
            walk->stats->entries--;
        }
    }
}

/* dp_table_dump() callback for DP_CONNTRACK.  Entries are deleted after
 * the walk: deleting while a hash map is walked may make the walk start
 * over or skip entries. */
static int
walk_entry(const void *key, const void *value, void *walk_)
{
    struct fw_ct_walk *walk = walk_;
    const struct dp_ct *ct = value;

    if (ct_entry_expired(&ct->ct, walk->now_ns)) {
        walk->stats->expired++;
        walk_doom(walk, key);
    } else if (ct_denied(&walk->judge, key, ct)) {
        walk->stats->denied++;
        walk_doom(walk, key);
    } else {
        walk->stats->entries++;
        walk_keep(walk, key, ct);
    }
    return 0;
}

int
fw_revalidate(struct dp *dp, uint64_t now_ns, struct fw_ct_stats *stats)
{
    struct fw_ct_walk walk = {.now_ns = now_ns, .stats = stats};
    struct fw_view view;
    int error;

    memset(stats, 0, sizeof *stats);
    walk.judge.dp = dp;
    walk.judge.cache = xcalloc(FW_LOOKUP_CACHE_SIZE, sizeof *walk.judge.cache);
    error = view_read(dp, &view);
    if (!error) {
        walk.judge.view = &view;
        error = dp_table_dump(dp, DP_CONNTRACK, walk_entry, &walk);
    }
    if (!error) {
        struct dp_fw_stats fw;

        error = dp_fw_stats_get(dp, &fw);
        if (!error) {
            walk_evict(&walk, fw.ct_capacity);
        }
    }
    for (size_t i = 0; i < walk.n_doomed; i++) {
        int e = dp_table_del(dp, DP_CONNTRACK, &walk.doomed[i]);

        /* The fast path may have replaced it meanwhile: gone is fine. */
        if (e && e != ENOENT) {
            error = error ? error : e;
        }
    }
    free(walk.doomed);
    free(walk.owners);
    free(walk.cands);
    free(walk.judge.cache);
    view_destroy(&view);
    return error;
}
