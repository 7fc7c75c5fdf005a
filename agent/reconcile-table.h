/* The contents of a datapath's tables, held in memory: what a desired
 * state asks for (reconcile_desired(), fw_desired()) and what a datapath
 * holds (reconcile_dump()), in one shape, so that reconcile_diff() can
 * compare them and the firewall, the metrics and --show can read them.
 *
 * This is its own module because several others fill and read tables
 * without reconciling anything; reconcile.c compares and applies them. */
#ifndef AGENT_RECONCILE_TABLE_H
#define AGENT_RECONCILE_TABLE_H 1

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "datapath/dp.h"

/* The contents of one datapath table: fixed-size entries, each a key
 * followed by its value. */
struct reconcile_table {
    enum dp_table id;  /* Which table. */
    size_t key_size;   /* Bytes per key. */
    size_t value_size; /* Bytes per value. */
    uint8_t *data;     /* 'n' entries, key then value. */
    size_t n;          /* Number of entries. */
    size_t allocated;  /* Entries 'data' has room for. */
};

/* The contents of all tables of a datapath. */
struct reconcile_tables {
    struct reconcile_table t[DP_N_TABLES]; /* Indexed by enum dp_table. */
};

void reconcile_tables_init(struct reconcile_tables *);
void reconcile_tables_destroy(struct reconcile_tables *);
void reconcile_tables_add(struct reconcile_tables *, enum dp_table,
                          const void *key, const void *value);

const void *reconcile_table_key(const struct reconcile_table *, size_t i);
const void *reconcile_table_value(const struct reconcile_table *, size_t i);

/* Sorts the entries of 'table' by key: by the key's leading 32-bit field
 * as a number if it is a VNI or an ifindex, then byte by byte. */
void reconcile_table_sort(struct reconcile_table *);

/* Compares keys 'a' and 'b' of 'table' in the order of
 * reconcile_table_sort(): returns less than, equal to or greater than 0. */
int reconcile_table_compare_keys(const struct reconcile_table *, const void *a,
                                 const void *b);

/* Whether the desired value 'desired' of 'table' is what the datapath has,
 * 'actual'.  Only the used members of a flood list count.  A port that
 * the document still has standby while the fast path has activated it
 * (it reads back without DP_PORT_STANDBY, datapath/dp-tables.h) is as
 * desired: the document follows the activation, never the other way. */
bool reconcile_values_equal(enum dp_table, const void *desired,
                            const void *actual);

/* Reads every table of 'dp' into 'tables' (initialized and empty), except
 * DP_CONNTRACK, which is the fast path's and may be large. */
int reconcile_dump(struct dp *dp, struct reconcile_tables *tables);

/* Reads table 'id' of 'dp' into 'tables'. */
int reconcile_dump_table(struct dp *dp, enum dp_table id,
                         struct reconcile_tables *tables);

#endif /* agent/reconcile-table.h */
