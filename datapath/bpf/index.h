/* Finding ports and FDB entries: through their index first, by hash if the
 * index does not have them.  The index's layout and update protocol are in
 * datapath/bpf/abi.h. */
#ifndef DATAPATH_BPF_INDEX_H
#define DATAPATH_BPF_INDEX_H 1

#include "datapath/bpf/common.h"
#include "packet/parse.h"

/* Slots of each index minus one, set by the loader before it loads the
 * program (the indexes are sized at run time).  A mask that does not match
 * the map only costs speed: every key then falls back to its hash. */
const volatile __u32 fab_port_index_mask = 4095;
const volatile __u32 fab_fdb_index_mask = 65535;

/* Returns the copy of slot 's' that its tag names, or NULL for an empty
 * slot.  The tag is loaded once; the copy's address depends on it, which
 * orders the two loads against the loader's release store. */
#define FAB_INDEX_CURRENT(s)                                                  \
    ({                                                                        \
        __u32 tag_ = *(volatile __u32 *) &(s)->tag;                           \
        (tag_ & FAB_INDEX_VALID) ? &(s)->copy[!!(tag_ & FAB_INDEX_COPY)]      \
                                 : NULL;                                      \
    })

/* Returns the entry of the local port on 'ifindex', or NULL. */
static __always_inline const struct fab_port_entry *
fab_port_find(__u32 ifindex)
{
    struct dp_port_key key = {.ifindex = ifindex};
    __u32 h = fab_port_index_hash(&key);

#pragma unroll
    for (int k = 0; k < FAB_INDEX_PROBES; k++) {
        __u32 i = (h + k) & fab_port_index_mask;
        struct fab_port_slot *s = bpf_map_lookup_elem(&fab_port_index, &i);
        struct fab_port_record *r = s ? FAB_INDEX_CURRENT(s) : NULL;

        if (r && r->key.ifindex == ifindex) {
            return &r->entry;
        }
    }
    return bpf_map_lookup_elem(&fab_ports, &key);
}

/* Returns the FDB entry for 'key', or NULL. */
static __always_inline const struct fab_fdb_entry *
fab_fdb_find(const struct dp_fdb_key *key)
{
    __u32 h = fab_fdb_index_hash(key);

#pragma unroll
    for (int k = 0; k < FAB_INDEX_PROBES; k++) {
        __u32 i = (h + k) & fab_fdb_index_mask;
        struct fab_fdb_slot *s = bpf_map_lookup_elem(&fab_fdb_index, &i);
        struct fab_fdb_record *r = s ? FAB_INDEX_CURRENT(s) : NULL;

        if (r && r->key.vni == key->vni
            && pkt_mac_equal(r->key.mac, key->mac)) {
            return &r->entry;
        }
    }
    return bpf_map_lookup_elem(&fab_fdb, key);
}

#endif /* datapath/bpf/index.h */
