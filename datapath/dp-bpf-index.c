/* Writing the fast path's table indexes: see datapath/bpf/abi.h for the
 * layout and the update protocol, datapath/dp-bpf-index.h for the rules
 * callers follow. */
#include "datapath/dp-bpf-index.h"

#include <errno.h>
#include <linux/membarrier.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "datapath/bpf/abi.h"
#include "datapath/bpf/port.skel.h"
#include "datapath/bpf/uplink.skel.h"
#include "utils/log.h"
#include "utils/util.h"

/* Where a slot's copies start: after the 32-bit tag and its padding. */
#define DP_BPF_INDEX_COPIES 8

static uint32_t *
dp_bpf_index_tag(const struct dp_bpf_index *idx, uint32_t i)
{
    return (uint32_t *) (idx->base + (size_t) i * idx->slot_size);
}

static uint8_t *
dp_bpf_index_copy(const struct dp_bpf_index *idx, uint32_t i, bool second)
{
    return idx->base + (size_t) i * idx->slot_size + DP_BPF_INDEX_COPIES
           + (second ? idx->record_size : 0);
}

/* Returns the record that slot 'i' holds, or NULL if it is empty.  The
 * loader is the only writer, so it reads its own stores plainly. */
static const uint8_t *
dp_bpf_index_current(const struct dp_bpf_index *idx, uint32_t i)
{
    uint32_t tag = *dp_bpf_index_tag(idx, i);

    return tag & FAB_INDEX_VALID
               ? dp_bpf_index_copy(idx, i, tag & FAB_INDEX_COPY)
               : NULL;
}

/* Waits until every program run that started before has finished: BPF
 * programs run in RCU read-side sections, and MEMBARRIER_CMD_GLOBAL waits
 * for an RCU grace period.  Then no reader holds a tag older than the
 * current one. */
static int
dp_bpf_index_grace(struct dp_bpf_index *idx)
{
    if (syscall(__NR_membarrier, MEMBARRIER_CMD_GLOBAL, 0, 0) < 0) {
        return errno;
    }
    memset(idx->hot, 0, (size_t) idx->mask + 1);
    return 0;
}

static void
dp_bpf_index_store_tag(struct dp_bpf_index *idx, uint32_t i, uint32_t tag)
{
    __atomic_store_n(dp_bpf_index_tag(idx, i), tag, __ATOMIC_RELEASE);
    idx->hot[i] = 1;
}

/* Empties every slot.  No copy is rewritten afterwards, so this needs no
 * grace period. */
static void
dp_bpf_index_clear(struct dp_bpf_index *idx)
{
    for (uint32_t i = 0; i <= idx->mask; i++) {
        __atomic_store_n(dp_bpf_index_tag(idx, i), 0, __ATOMIC_RELEASE);
    }
}

/* Maps the index in map 'map_fd', whose slots hold records of 'key_size'
 * plus an entry, 'record_size' in all.  An index that cannot be used (no
 * membarrier(2) here, say) is emptied, and the fast path then uses the
 * hash tables alone; that is not an error. */
int
dp_bpf_index_open(struct dp_bpf_index *idx, const char *name, int map_fd,
                  size_t key_size, size_t record_size,
                  dp_bpf_index_hash_fn *hash)
{
    struct bpf_map_info info = {};
    uint32_t len = sizeof info;
    long page = sysconf(_SC_PAGESIZE);
    int error;

    memset(idx, 0, sizeof *idx);
    idx->name = name;
    idx->key_size = key_size;
    idx->record_size = record_size;
    idx->hash = hash;
    idx->slot_size = (DP_BPF_INDEX_COPIES + 2 * record_size + 7) & ~(size_t) 7;
    if (bpf_obj_get_info_by_fd(map_fd, &info, &len)) {
        return errno;
    }
    if (info.value_size != DP_BPF_INDEX_COPIES + 2 * record_size
        || !info.max_entries || (info.max_entries & (info.max_entries - 1))) {
        LOG_ERR("%s: unexpected layout (%u slots of %u bytes)", name,
                info.max_entries, info.value_size);
        return EINVAL;
    }
    idx->mask = info.max_entries - 1;
    idx->map_len = idx->slot_size * info.max_entries;
    idx->map_len = (idx->map_len + page - 1) / page * page;
    idx->base = mmap(NULL, idx->map_len, PROT_READ | PROT_WRITE, MAP_SHARED,
                     map_fd, 0);
    if (idx->base == MAP_FAILED) {
        idx->base = NULL;
        return errno;
    }
    idx->hot = xzalloc(info.max_entries);
    /* A previous loader's updates may still be in readers' hands. */
    error = dp_bpf_index_grace(idx);
    if (error) {
        LOG_WARN("%s: membarrier: %s; the fast path uses hash lookups only",
                 name, strerror(error));
        dp_bpf_index_clear(idx);
        dp_bpf_index_close(idx);
    }
    return 0;
}

uint32_t
dp_bpf_port_index_hash(const void *key)
{
    return fab_port_index_hash(key);
}

uint32_t
dp_bpf_fdb_index_hash(const void *key)
{
    return fab_fdb_index_hash(key);
}

/* Tells the programs of 'port' and 'uplink', opened but not loaded yet and
 * with their maps sized, how many slots the indexes have. */
void
dp_bpf_index_set_masks(struct fab_port *port, struct fab_uplink *uplink)
{
    uint32_t port_mask = bpf_map__max_entries(port->maps.fab_port_index) - 1;
    uint32_t fdb_mask = bpf_map__max_entries(port->maps.fab_fdb_index) - 1;

    port->rodata->fab_port_index_mask = port_mask;
    uplink->rodata->fab_port_index_mask = port_mask;
    port->rodata->fab_fdb_index_mask = fdb_mask;
    uplink->rodata->fab_fdb_index_mask = fdb_mask;
}

void
dp_bpf_index_close(struct dp_bpf_index *idx)
{
    if (idx->base) {
        munmap(idx->base, idx->map_len);
        idx->base = NULL;
    }
    free(idx->hot);
    idx->hot = NULL;
    free(idx->deferred);
    idx->deferred = NULL;
    idx->n_deferred = idx->max_deferred = 0;
}

/* Returns the slot that holds 'key', or UINT32_MAX; and in '*free' the
 * first empty slot of the key's window, or UINT32_MAX. */
static uint32_t
dp_bpf_index_find(const struct dp_bpf_index *idx, const void *key,
                  uint32_t *free)
{
    uint32_t h = idx->hash(key);

    *free = UINT32_MAX;
    for (uint32_t k = 0; k < FAB_INDEX_PROBES; k++) {
        uint32_t i = (h + k) & idx->mask;
        const uint8_t *r = dp_bpf_index_current(idx, i);

        if (r && !memcmp(r, key, idx->key_size)) {
            return i;
        }
        if (!r && *free == UINT32_MAX) {
            *free = i;
        }
    }
    return UINT32_MAX;
}

/* Remembers that the key of 'record' is out of the index until
 * dp_bpf_index_settle(). */
static void
dp_bpf_index_defer(struct dp_bpf_index *idx, const void *record)
{
    for (size_t i = 0; i < idx->n_deferred; i++) {
        if (!memcmp(idx->deferred + i * idx->key_size, record,
                    idx->key_size)) {
            return;
        }
    }
    if (idx->n_deferred == idx->max_deferred) {
        idx->max_deferred = idx->max_deferred ? 2 * idx->max_deferred : 8;
        idx->deferred =
            xrealloc(idx->deferred, idx->max_deferred * idx->key_size);
    }
    memcpy(idx->deferred + idx->n_deferred++ * idx->key_size, record,
           idx->key_size);
}

/* Puts 'record' (key, then entry) in the index, replacing the key's record
 * there.  A key whose window is full stays out: the fast path finds it by
 * hash. */
void
dp_bpf_index_set(struct dp_bpf_index *idx, const void *record, bool wait)
{
    const uint8_t *cur;
    uint32_t i, free;
    bool second;

    if (!idx->base) {
        return;
    }
    i = dp_bpf_index_find(idx, record, &free);
    if (i == UINT32_MAX) {
        i = free;
        if (i == UINT32_MAX) {
            return;
        }
    }
    cur = dp_bpf_index_current(idx, i);
    if (cur && !memcmp(cur, record, idx->record_size)) {
        return;
    }
    if (idx->hot[i] && (!wait || dp_bpf_index_grace(idx))) {
        /* Without a grace period the other copy may be in use: take the
         * record out of the index rather than risk a torn read.  A reader
         * that loaded the old tag reads the old copy, intact; later ones
         * find the new entry by hash. */
        if (cur) {
            dp_bpf_index_store_tag(idx, i, 0);
        }
        if (!wait) {
            dp_bpf_index_defer(idx, record);
        }
        return;
    }
    /* The copy the tag does not name; either, for an empty slot. */
    second = cur && !(*dp_bpf_index_tag(idx, i) & FAB_INDEX_COPY);
    memcpy(dp_bpf_index_copy(idx, i, second), record, idx->record_size);
    dp_bpf_index_store_tag(idx, i,
                           FAB_INDEX_VALID | (second ? FAB_INDEX_COPY : 0));
}

/* Takes 'key' out of the index. */
void
dp_bpf_index_del(struct dp_bpf_index *idx, const void *key)
{
    uint32_t i, free;

    if (idx->base) {
        i = dp_bpf_index_find(idx, key, &free);
        if (i != UINT32_MAX) {
            dp_bpf_index_store_tag(idx, i, 0);
        }
    }
}

/* Makes the index hold exactly what the hash table 'table_fd' holds, as far
 * as the windows have room: after a restart, the index is whatever the
 * previous loader left, which a crash may have left behind its table. */
int
dp_bpf_index_sync(struct dp_bpf_index *idx, int table_fd)
{
    size_t value_size = idx->record_size - idx->key_size;
    uint8_t *record = xzalloc(idx->record_size);
    uint8_t *value = xzalloc(value_size);
    void *prev = NULL;
    int error = 0;

    if (!idx->base) {
        goto out;
    }
    for (uint32_t i = 0; i <= idx->mask; i++) {
        const uint8_t *r = dp_bpf_index_current(idx, i);

        if (r && bpf_map_lookup_elem(table_fd, r, value) < 0) {
            dp_bpf_index_store_tag(idx, i, 0);
        }
    }
    while (!bpf_map_get_next_key(table_fd, prev, record)) {
        prev = record;
        if (bpf_map_lookup_elem(table_fd, record, record + idx->key_size)
            < 0) {
            if (errno == ENOENT) {
                continue;
            }
            error = errno;
            break;
        }
        dp_bpf_index_set(idx, record, true);
    }
out:
    free(record);
    free(value);
    return error;
}

/* Puts back in the index, as the hash table 'table_fd' has them now, the
 * keys that updates without waiting took out: after one grace period for
 * all of them. */
int
dp_bpf_index_settle(struct dp_bpf_index *idx, int table_fd)
{
    uint8_t *record;
    int error;

    if (!idx->base || !idx->n_deferred) {
        return 0;
    }
    error = dp_bpf_index_grace(idx);
    if (error) {
        return error;
    }
    record = xzalloc(idx->record_size);
    for (size_t i = 0; i < idx->n_deferred; i++) {
        memcpy(record, idx->deferred + i * idx->key_size, idx->key_size);
        if (!bpf_map_lookup_elem(table_fd, record, record + idx->key_size)) {
            dp_bpf_index_set(idx, record, true);
        }
    }
    idx->n_deferred = 0;
    free(record);
    return 0;
}

/* Returns how many records the index holds. */
size_t
dp_bpf_index_count(const struct dp_bpf_index *idx)
{
    size_t n = 0;

    for (uint32_t i = 0; idx->base && i <= idx->mask; i++) {
        n += dp_bpf_index_current(idx, i) != NULL;
    }
    return n;
}

/* Copies the index's record for 'key' to 'record' and returns true, or
 * returns false if the index does not hold the key. */
bool
dp_bpf_index_get(const struct dp_bpf_index *idx, const void *key, void *record)
{
    uint32_t i, free;

    if (!idx->base) {
        return false;
    }
    i = dp_bpf_index_find(idx, key, &free);
    if (i == UINT32_MAX) {
        return false;
    }
    memcpy(record, dp_bpf_index_current(idx, i), idx->record_size);
    return true;
}
