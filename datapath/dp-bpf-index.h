/* The loader's side of the fast path's table indexes (the layout and the
 * protocol are in datapath/bpf/abi.h, the reader in datapath/bpf/index.h).
 *
 * An index is written only by the one process that owns the instance's
 * tables, through a shared mapping of its array map.  Callers keep it a
 * subset of its hash table: they write a record to the hash table before
 * the index, and remove it from the index before the hash table. */
#ifndef DATAPATH_DP_BPF_INDEX_H
#define DATAPATH_DP_BPF_INDEX_H 1

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct fab_port;
struct fab_uplink;

/* The first slot of a key's window, before masking. */
typedef uint32_t dp_bpf_index_hash_fn(const void *key);

struct dp_bpf_index {
    const char *name;           /* The map's name, for logs. */
    uint8_t *base;              /* The mapped slots; NULL: not in use. */
    size_t map_len;             /* Length of the mapping. */
    size_t slot_size;           /* Stride of the slots. */
    size_t key_size;            /* A record is its key, then its entry. */
    size_t record_size;         /* Key and entry. */
    uint32_t mask;              /* Slots minus one, a power of two. */
    dp_bpf_index_hash_fn *hash; /* The programs' hash of a key. */
    uint8_t *hot;               /* Per slot: the tag changed since the last
                                 * grace period, so a reader may still be
                                 * reading the copy the tag left. */
    uint8_t *deferred;          /* Keys that an update without waiting took
                                 * out, 'key_size' bytes each... */
    size_t n_deferred;          /* ...this many... */
    size_t max_deferred;        /* ...of room for this many. */
};

/* The hashes of the port and FDB indexes (struct dp_port_key and struct
 * dp_fdb_key). */
dp_bpf_index_hash_fn dp_bpf_port_index_hash;
dp_bpf_index_hash_fn dp_bpf_fdb_index_hash;

int dp_bpf_index_open(struct dp_bpf_index *, const char *name, int map_fd,
                      size_t key_size, size_t record_size,
                      dp_bpf_index_hash_fn *);
void dp_bpf_index_close(struct dp_bpf_index *);
void dp_bpf_index_set_masks(struct fab_port *, struct fab_uplink *);

/* Puts 'record' in the index.  Rewriting a slot whose previous copy a
 * reader may still hold waits for a grace period (10-40 ms on a busy host)
 * if 'wait', and otherwise takes the record out of the index and remembers
 * its key for dp_bpf_index_settle(): the fast path finds it by hash
 * meanwhile. */
void dp_bpf_index_set(struct dp_bpf_index *, const void *record, bool wait);
void dp_bpf_index_del(struct dp_bpf_index *, const void *key);
int dp_bpf_index_sync(struct dp_bpf_index *, int table_fd);
int dp_bpf_index_settle(struct dp_bpf_index *, int table_fd);

size_t dp_bpf_index_count(const struct dp_bpf_index *);
bool dp_bpf_index_get(const struct dp_bpf_index *, const void *key,
                      void *record);

#endif /* datapath/dp-bpf-index.h */
