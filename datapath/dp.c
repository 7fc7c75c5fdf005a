#include "datapath/dp.h"

#include <errno.h>
#include <string.h>

#include "datapath/dp-provider.h"
#include "utils/addr.h"
#include "utils/util.h"

static const struct {
    const char *name;  /* For messages. */
    size_t key_size;   /* Key struct size. */
    size_t value_size; /* Value struct size. */
} dp_tables[DP_N_TABLES] = {
    [DP_PORTS] = {"ports", sizeof(struct dp_port_key), sizeof(struct dp_port)},
    [DP_NETWORKS] = {"networks", sizeof(struct dp_network_key),
                     sizeof(struct dp_network)},
    [DP_FDB] = {"fdb", sizeof(struct dp_fdb_key), sizeof(struct dp_fdb_entry)},
    [DP_BINDINGS] = {"bindings", sizeof(struct dp_binding_key),
                     sizeof(struct dp_binding)},
    [DP_FLOOD] = {"flood", sizeof(struct dp_flood_key),
                  sizeof(struct dp_flood)},
    [DP_NEXTHOPS] = {"nexthops", sizeof(struct dp_nexthop_key),
                     sizeof(struct dp_nexthop)},
    [DP_QOS] = {"qos", sizeof(struct dp_qos_key), sizeof(struct dp_qos)},
    [DP_POLICIES] = {"policies", sizeof(struct policy_key),
                     sizeof(struct policy_value)},
    [DP_POLICY_CIDRS] = {"policy-cidrs", sizeof(struct policy_cidr_key),
                         sizeof(struct dp_policy_cidr)},
    [DP_VTEPS] = {"vteps", sizeof(struct dp_vtep_key), sizeof(struct dp_vtep)},
    [DP_CONNTRACK] = {"conntrack", sizeof(struct ct_key),
                      sizeof(struct dp_ct)},
    [DP_RULE_HITS] = {"rule-hits", sizeof(struct dp_rule_key),
                      sizeof(struct dp_rule_hits)},
};

static const char *const dp_drop_names[DP_DROP_N_REASONS] = {
#define DP_DROP_NAME(NAME, STR) [DP_DROP_##NAME] = STR,
    DP_DROP_REASONS(DP_DROP_NAME)
#undef DP_DROP_NAME
};

static bool
dp_table_valid(enum dp_table table)
{
    return (unsigned) table < DP_N_TABLES;
}

const char *
dp_table_name(enum dp_table table)
{
    return dp_table_valid(table) ? dp_tables[table].name : "unknown";
}

size_t
dp_table_key_size(enum dp_table table)
{
    return dp_table_valid(table) ? dp_tables[table].key_size : 0;
}

size_t
dp_table_value_size(enum dp_table table)
{
    return dp_table_valid(table) ? dp_tables[table].value_size : 0;
}

const char *
dp_drop_reason_name(enum dp_drop_reason reason)
{
    return (unsigned) reason < DP_DROP_N_REASONS ? dp_drop_names[reason]
                                                 : "unknown";
}

/* The backends built in; the first is the default. */
static const struct dp_class *const dp_classes[] = {&dp_bpf_class};

static const struct dp_class *
dp_class_find(const char *type)
{
    if (!type) {
        return dp_classes[0];
    }
    for (size_t i = 0; i < ARRAY_SIZE(dp_classes); i++) {
        if (!strcmp(dp_classes[i]->name, type)) {
            return dp_classes[i];
        }
    }
    return NULL;
}

bool
dp_type_known(const char *type)
{
    return type && dp_class_find(type);
}

const char *
dp_types(void)
{
    /* One backend today: when a second comes, build the list once. */
    return dp_classes[0]->name;
}

int
dp_open(const struct dp_options *options, struct dp **dpp)
{
    static const struct dp_options defaults;
    const struct dp_class *class;

    *dpp = NULL;
    options = options ? options : &defaults;
    class = dp_class_find(options->type);
    return class ? class->open(options, dpp) : EAFNOSUPPORT;
}

void
dp_close(struct dp *dp)
{
    if (dp) {
        dp->class->close(dp);
    }
}

int
dp_configure(struct dp *dp, const struct dp_config *config)
{
    return dp->read_only ? EROFS : dp->class->configure(dp, config);
}

int
dp_get_config(struct dp *dp, struct dp_config *config)
{
    return dp->class->get_config(dp, config);
}

int
dp_table_set(struct dp *dp, enum dp_table table, const void *key,
             const void *value)
{
    if (!dp_table_valid(table)) {
        return EINVAL;
    }
    return dp->read_only ? EROFS : dp->class->table_set(dp, table, key, value);
}

int
dp_table_set_nowait(struct dp *dp, enum dp_table table, const void *key,
                    const void *value)
{
    if (!dp_table_valid(table)) {
        return EINVAL;
    }
    return dp->read_only ? EROFS
                         : dp->class->table_set_nowait(dp, table, key, value);
}

int
dp_settle(struct dp *dp)
{
    return dp->read_only ? 0 : dp->class->settle(dp);
}

int
dp_table_del(struct dp *dp, enum dp_table table, const void *key)
{
    if (!dp_table_valid(table)) {
        return EINVAL;
    }
    return dp->read_only ? EROFS : dp->class->table_del(dp, table, key);
}

int
dp_table_get(struct dp *dp, enum dp_table table, const void *key, void *value)
{
    if (!dp_table_valid(table)) {
        return EINVAL;
    }
    return dp->class->table_get(dp, table, key, value);
}

int
dp_table_dump(struct dp *dp, enum dp_table table, dp_dump_cb *cb, void *aux)
{
    if (!dp_table_valid(table)) {
        return EINVAL;
    }
    return dp->class->table_dump(dp, table, cb, aux);
}

int
dp_stats_get(struct dp *dp, uint32_t ifindex, struct dp_stats *stats)
{
    return dp->class->stats_get(dp, ifindex, stats);
}

int
dp_purge(struct dp *dp)
{
    return dp->read_only ? EROFS : dp->class->purge(dp);
}

int
dp_fw_stats_get(struct dp *dp, struct dp_fw_stats *stats)
{
    return dp->class->fw_stats_get(dp, stats);
}

int
dp_ct_usage_get(struct dp *dp, uint32_t ifindex, struct dp_ct_usage *usage)
{
    return dp->class->ct_usage_get(dp, ifindex, usage);
}

int
dp_ct_export(struct dp *dp, uint32_t vni, int family, const uint8_t addr[16],
             dp_ct_export_cb *cb, void *aux)
{
    if (family != CT_FAMILY_IPV4 && family != CT_FAMILY_IPV6) {
        return EINVAL;
    }
    return dp->class->ct_export(dp, vni, family, addr, cb, aux);
}

int
dp_ct_import(struct dp *dp, const struct ct_key *key, const struct dp_ct *ct,
             uint32_t ifindex)
{
    return dp->read_only ? EROFS : dp->class->ct_import(dp, key, ct, ifindex);
}

static void
dp_hex_encode(const void *data, size_t n, char *hex)
{
    static const char digits[] = "0123456789abcdef";
    const uint8_t *p = data;

    for (size_t i = 0; i < n; i++) {
        hex[2 * i] = digits[p[i] >> 4];
        hex[2 * i + 1] = digits[p[i] & 0xf];
    }
    hex[2 * n] = '\0';
}

/* Decodes 'hex', which must be exactly 2 * 'n' hex digits, into 'data'.
 * Returns 0 or EINVAL, leaving 'data' as it was. */
static int
dp_hex_decode(const char *hex, void *data, size_t n)
{
    uint8_t *bytes;

    if (!hex || strlen(hex) != 2 * n) {
        return EINVAL;
    }
    for (size_t i = 0; i < 2 * n; i++) {
        if (addr_hex_digit(hex[i]) < 0) {
            return EINVAL;
        }
    }
    bytes = data;
    for (size_t i = 0; i < n; i++) {
        bytes[i] =
            addr_hex_digit(hex[2 * i]) << 4 | addr_hex_digit(hex[2 * i + 1]);
    }
    return 0;
}

void
dp_ct_to_hex(const struct ct_key *key, const struct dp_ct *ct,
             char key_hex[DP_CT_KEY_HEX_LEN + 1],
             char value_hex[DP_CT_VALUE_HEX_LEN + 1])
{
    dp_hex_encode(key, sizeof *key, key_hex);
    dp_hex_encode(ct, sizeof *ct, value_hex);
}

int
dp_ct_from_hex(const char *key_hex, const char *value_hex, struct ct_key *key,
               struct dp_ct *ct)
{
    struct ct_key k;
    struct dp_ct v;

    if (dp_hex_decode(key_hex, &k, sizeof k)
        || dp_hex_decode(value_hex, &v, sizeof v)) {
        return EINVAL;
    }
    *key = k;
    *ct = v;
    return 0;
}

int
dp_trace(struct dp *dp, enum dp_trace_program program, uint32_t ifindex,
         const void *frame, size_t len, struct dp_trace_result *result)
{
    if (program != DP_TRACE_PORT && program != DP_TRACE_UPLINK) {
        return EINVAL;
    }
    return dp->class->trace(dp, program, ifindex, frame, len, result);
}

int
dp_flow_events_open(struct dp *dp, dp_flow_cb *cb, void *aux,
                    struct dp_flow_events **eventsp)
{
    *eventsp = NULL;
    return dp->class->flow_events_open(dp, cb, aux, eventsp);
}

int
dp_punts_open(struct dp *dp, dp_punt_cb *cb, void *aux,
              struct dp_punts **puntsp)
{
    *puntsp = NULL;
    return dp->class->punts_open(dp, cb, aux, puntsp);
}

int
dp_inject(struct dp *dp, uint32_t ifindex, const void *frame, size_t len)
{
    if (len < 14 || len > DP_INJECT_MAX) {
        return EMSGSIZE;
    }
    return dp->read_only ? EROFS : dp->class->inject(dp, ifindex, frame, len);
}
