#include "agent/reconcile-table.h"

#include <stdlib.h>
#include <string.h>

#include "utils/util.h"

/* Key and value sizes by table.  The datapath library has the same, but
 * the pure steps here do not need a datapath to know them. */
static const struct {
    size_t key_size;   /* Bytes per key. */
    size_t value_size; /* Bytes per value. */
} table_sizes[DP_N_TABLES] = {
    [DP_PORTS] = {sizeof(struct dp_port_key), sizeof(struct dp_port)},
    [DP_NETWORKS] = {sizeof(struct dp_network_key), sizeof(struct dp_network)},
    [DP_FDB] = {sizeof(struct dp_fdb_key), sizeof(struct dp_fdb_entry)},
    [DP_BINDINGS] = {sizeof(struct dp_binding_key), sizeof(struct dp_binding)},
    [DP_FLOOD] = {sizeof(struct dp_flood_key), sizeof(struct dp_flood)},
    [DP_NEXTHOPS] = {sizeof(struct dp_nexthop_key), sizeof(struct dp_nexthop)},
    [DP_QOS] = {sizeof(struct dp_qos_key), sizeof(struct dp_qos)},
    [DP_POLICIES] = {sizeof(struct policy_key), sizeof(struct policy_value)},
    [DP_POLICY_CIDRS] = {sizeof(struct policy_cidr_key),
                         sizeof(struct dp_policy_cidr)},
    [DP_VTEPS] = {sizeof(struct dp_vtep_key), sizeof(struct dp_vtep)},
    [DP_CONNTRACK] = {sizeof(struct ct_key), sizeof(struct dp_ct)},
    [DP_RULE_HITS] = {sizeof(struct dp_rule_key), sizeof(struct dp_rule_hits)},
};

void
reconcile_tables_init(struct reconcile_tables *tables)
{
    memset(tables, 0, sizeof *tables);
    for (int i = 0; i < DP_N_TABLES; i++) {
        tables->t[i].id = i;
        tables->t[i].key_size = table_sizes[i].key_size;
        tables->t[i].value_size = table_sizes[i].value_size;
    }
}

void
reconcile_tables_destroy(struct reconcile_tables *tables)
{
    if (tables) {
        for (int i = 0; i < DP_N_TABLES; i++) {
            free(tables->t[i].data);
        }
        reconcile_tables_init(tables);
    }
}

static size_t
entry_size(const struct reconcile_table *table)
{
    return table->key_size + table->value_size;
}

static void
table_append(struct reconcile_table *table, const void *key, const void *value)
{
    uint8_t *entry;

    if (table->n == table->allocated) {
        table->allocated = table->allocated ? 2 * table->allocated : 16;
        table->data =
            xrealloc(table->data, table->allocated * entry_size(table));
    }
    entry = table->data + table->n++ * entry_size(table);
    memcpy(entry, key, table->key_size);
    memcpy(entry + table->key_size, value, table->value_size);
}

void
reconcile_tables_add(struct reconcile_tables *tables, enum dp_table id,
                     const void *key, const void *value)
{
    table_append(&tables->t[id], key, value);
}

const void *
reconcile_table_key(const struct reconcile_table *table, size_t i)
{
    return table->data + i * entry_size(table);
}

const void *
reconcile_table_value(const struct reconcile_table *table, size_t i)
{
    return table->data + i * entry_size(table) + table->key_size;
}

/* Compares two keys of 'table'.  Most keys start with a host-order VNI or
 * ifindex, compared as a number; what follows (MACs, network-order
 * addresses) sorts right byte by byte, as do next-hop keys, which are an
 * address alone. */
int
reconcile_table_compare_keys(const struct reconcile_table *table,
                             const void *a, const void *b)
{
    uint32_t x, y;

    if (table->id != DP_NEXTHOPS) {
        memcpy(&x, a, sizeof x);
        memcpy(&y, b, sizeof y);
        if (x != y) {
            return x < y ? -1 : 1;
        }
    }
    return memcmp(a, b, table->key_size);
}

/* qsort_r() comparator over the entries of the table in 'table'. */
static int
compare_entries(const void *a, const void *b, void *table)
{
    return reconcile_table_compare_keys(table, a, b);
}

void
reconcile_table_sort(struct reconcile_table *table)
{
    qsort_r(table->data, table->n, entry_size(table), compare_entries, table);
}

bool
reconcile_values_equal(enum dp_table table, const void *a, const void *b)
{
    if (table == DP_PORTS) {
        struct dp_port desired = *(const struct dp_port *) a;
        const struct dp_port *actual = b;

        if (!(actual->flags & DP_PORT_STANDBY)) {
            desired.flags &= ~DP_PORT_STANDBY;
        }
        return !memcmp(&desired, actual, sizeof desired);
    }
    if (table == DP_FLOOD) {
        const struct dp_flood *x = a, *y = b;

        return x->n_members == y->n_members && x->n_members <= DP_FLOOD_MAX
               && !memcmp(x->members, y->members,
                          x->n_members * sizeof x->members[0]);
    }
    if (table == DP_RULE_HITS) {
        /* Counters, which the fast path owns once the entry exists. */
        return true;
    }
    return !memcmp(a, b, table_sizes[table].value_size);
}

/* Appends to the string in 'buf' (of 'size' bytes), truncating. */

/* dp_table_dump() callback: appends the entry to the reconcile_table in
 * 'table'. */
static int
dump_entry(const void *key, const void *value, void *table)
{
    table_append(table, key, value);
    return 0;
}

int
reconcile_dump_table(struct dp *dp, enum dp_table id,
                     struct reconcile_tables *tables)
{
    return dp_table_dump(dp, id, dump_entry, &tables->t[id]);
}

int
reconcile_dump(struct dp *dp, struct reconcile_tables *tables)
{
    for (int i = 0; i < DP_N_TABLES; i++) {
        int error =
            i == DP_CONNTRACK ? 0 : reconcile_dump_table(dp, i, tables);

        if (error) {
            return error;
        }
    }
    return 0;
}
