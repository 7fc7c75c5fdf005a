/* What a datapath backend implements.  dp.c validates arguments and
 * dispatches here; backends never see a table id out of range. */
#ifndef DATAPATH_DP_PROVIDER_H
#define DATAPATH_DP_PROVIDER_H 1

#include "datapath/dp.h"

struct dp_class {
    const char *name; /* Backend name, e.g. "bpf". */
    int (*open)(const struct dp_options *, struct dp **);
    void (*close)(struct dp *);
    int (*configure)(struct dp *, const struct dp_config *);
    int (*get_config)(struct dp *, struct dp_config *);
    int (*table_set)(struct dp *, enum dp_table, const void *key,
                     const void *value);
    int (*table_set_nowait)(struct dp *, enum dp_table, const void *key,
                            const void *value);
    int (*settle)(struct dp *);
    int (*table_del)(struct dp *, enum dp_table, const void *key);
    int (*table_get)(struct dp *, enum dp_table, const void *key, void *value);
    int (*table_dump)(struct dp *, enum dp_table, dp_dump_cb *, void *aux);
    int (*stats_get)(struct dp *, uint32_t ifindex, struct dp_stats *);
    int (*purge)(struct dp *);
    int (*fw_stats_get)(struct dp *, struct dp_fw_stats *);
    int (*ct_usage_get)(struct dp *, uint32_t ifindex, struct dp_ct_usage *);
    int (*ct_export)(struct dp *, uint32_t vni, uint8_t family,
                     const uint8_t addr[16], dp_ct_export_cb *, void *aux);
    int (*ct_import)(struct dp *, const struct ct_key *, const struct dp_ct *,
                     uint32_t ifindex);
    int (*trace)(struct dp *, enum dp_trace_program, uint32_t ifindex,
                 const void *frame, size_t len, struct dp_trace_result *);
    int (*flow_events_open)(struct dp *, dp_flow_cb *, void *aux,
                            struct dp_flow_events **);
    int (*punts_open)(struct dp *, dp_punt_cb *, void *aux,
                      struct dp_punts **);
    int (*inject)(struct dp *, uint32_t ifindex, const void *frame,
                  size_t len);
};

/* Every backend's datapath starts with this. */
struct dp {
    const struct dp_class *class; /* The backend. */
    bool read_only;               /* Opened with dp_options.read_only. */
};

extern const struct dp_class dp_bpf_class;

#endif /* datapath/dp-provider.h */
