/* Proves that firewall/ct.h and firewall/policy.h compile under
 * "clang -target bpf": a tc program that runs one packet through every
 * per-packet function, so that none of them is optimised away unchecked.
 * It is built by "make check" and never loaded. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#include "firewall/ct.h"
#include "firewall/policy.h"

#define TC_ACT_OK 0
#define TC_ACT_SHOT 2

/* Where the program leaves its results, so the compiler keeps them. */
struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct ct_entry);
} fw_check_entry SEC(".maps");

/* Stands in for the policy table of policy_side_decide()'s accessors. */
struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 16);
    __type(key, struct policy_key);
    __type(value, struct policy_value);
} fw_check_policy SEC(".maps");

static __always_inline bool
check_lookup(void *ctx, const struct policy_key *key,
             struct policy_value *value)
{
    struct policy_value *v = bpf_map_lookup_elem(&fw_check_policy, key);

    if (!v) {
        return false;
    }
    *value = *v;
    return true;
}

static __always_inline __u16
check_peer(void *ctx, __u32 vni, __u8 family, const __u8 *addr)
{
    return addr[0] == 10 ? 300 : POLICY_PEER_ANY;
}

/* The one decision of a side, with accessors that the compiler must
 * inline: the BPF target has no indirect calls. */
static __always_inline int
check_side(const struct pkt_info *info, struct policy_key *keys,
           struct policy_value *results)
{
    struct policy_side_result r;
    struct policy_side side = {
        .vni = 100,
        .group = 7,
        .direction = POLICY_INGRESS,
        .proto = info->l4_proto,
        .port = policy_port_from_info(info),
        .governed = 1,
        .family = 4,
    };

    __builtin_memcpy(side.peer_addr, &info->src4, 4);
    policy_side_decide(&side, keys, results, check_lookup, check_peer,
                       check_peer, NULL, &r);
    return r.v.action == POLICY_ALLOW ? TC_ACT_OK : TC_ACT_SHOT;
}

SEC("tc")
int
fw_compile_check(struct __sk_buff *skb)
{
    void *data = (void *) (long) skb->data;
    void *end = (void *) (long) skb->data_end;
    struct policy_key keys[POLICY_LOOKUPS_MAX];
    struct policy_value results[POLICY_LOOKUPS_MAX];
    struct policy_verdict verdict;
    struct pkt_info info;
    struct ct_entry *entry;
    struct ct_key key;
    __u32 zero = 0;
    bool dir = false;
    int kind;
    int n;
    int i;

    if (pkt_parse_frame(data, end, &info) < 0) {
        return TC_ACT_SHOT;
    }
    kind = ct_key_from_info(&info, 100, &key, &dir);
    if (kind == CT_KEY_RELATED) {
        return ct_key_from_icmp_error(data, end, &info, 100, &key, &dir) < 0
                   ? TC_ACT_SHOT
                   : TC_ACT_OK;
    }
    if (kind != CT_KEY_FLOW) {
        return info.l3_proto == PKT_ETH_P_IPV4
                   ? check_side(&info, keys, results)
                   : TC_ACT_OK;
    }
    entry = bpf_map_lookup_elem(&fw_check_entry, &zero);
    if (!entry) {
        return TC_ACT_SHOT;
    }
    if (ct_entry_expired(entry, bpf_ktime_get_ns())) {
        n = policy_keys_build(7, POLICY_INGRESS, info.l4_proto,
                              policy_port_from_info(&info), key.port_a, keys);
        __builtin_memset(results, 0, sizeof results);
        for (i = 0; i < POLICY_LOOKUPS_MAX && i < n; i++) {
            /* Stands in for the map lookup of 'keys'[i]. */
            results[i].rule_id = keys[i].port;
            results[i].action = keys[i].match == POLICY_MATCH_PORT
                                    ? POLICY_ALLOW
                                    : POLICY_NONE;
        }
        verdict = policy_decide(results, n, true, POLICY_ALLOW);
        if (verdict.action != POLICY_ALLOW || !ct_info_may_create(&info)) {
            return TC_ACT_SHOT;
        }
        ct_entry_init(entry, info.l4_proto, dir, bpf_ktime_get_ns());
    }
    if (ct_entry_update(entry, dir, ct_tcp_flags(data, end, &info),
                        bpf_ktime_get_ns(), skb->len)
        != CT_ACCEPT) {
        return TC_ACT_SHOT;
    }
    return ct_entry_timeout_ns(entry) > CT_SEC ? TC_ACT_OK : TC_ACT_SHOT;
}

char LICENSE[] SEC("license") = "GPL";
