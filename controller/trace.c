/* POST /v1/trace. */
#include "controller/trace.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "controller/agents.h"
#include "controller/api.h"
#include "controller/store.h"
#include "packet/csum.h"
#include "packet/hdr.h"
#include "utils/addr.h"
#include "utils/base64.h"
#include "utils/log.h"
#include "utils/util.h"

/* The VXLAN UDP port (RFC 7348). */
#define TRACE_VXLAN_PORT 4789

/* Payload bytes of a traced UDP datagram or ICMP echo. */
#define TRACE_PAYLOAD 8

/* Adds 'len' bytes at 'data' to one's complement sum 'sum' as 16-bit
 * words in network order. */
static uint32_t
csum_add(uint32_t sum, const void *data, size_t len)
{
    const uint8_t *p = data;

    for (size_t i = 0; i + 1 < len; i += 2) {
        sum += (uint32_t) p[i] << 8 | p[i + 1];
    }
    if (len & 1) {
        sum += (uint32_t) p[len - 1] << 8;
    }
    return sum;
}

/* Returns the checksum, in network order, of 'len' bytes of 'data' behind
 * the IPv4 pseudo header of 'ip' (if nonnull). */
static uint16_t
l4_csum(const struct pkt_ipv4 *ip, const void *data, size_t len)
{
    uint32_t sum = 0;

    if (ip) {
        sum = csum_add(sum, &ip->saddr, 4);
        sum = csum_add(sum, &ip->daddr, 4);
        sum += ip->protocol;
        sum += (uint32_t) len;
    }
    sum = csum_add(sum, data, len);
    while (sum >> 16) {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    return htons((uint16_t) ~sum);
}

size_t
trace_build_frame(const struct trace_flow *flow, uint8_t *buf, size_t size)
{
    struct pkt_eth *eth = (struct pkt_eth *) buf;
    struct pkt_ipv4 *ip = (struct pkt_ipv4 *) (eth + 1);
    uint8_t *l4 = (uint8_t *) (ip + 1);
    size_t l4_len;

    switch (flow->protocol) {
    case PKT_IPPROTO_TCP:
        l4_len = sizeof(struct pkt_tcp);
        break;
    case PKT_IPPROTO_UDP:
        l4_len = sizeof(struct pkt_udp) + TRACE_PAYLOAD;
        break;
    case PKT_IPPROTO_ICMP:
        l4_len = sizeof(struct pkt_icmp) + TRACE_PAYLOAD;
        break;
    default:
        return 0;
    }
    if (size < sizeof *eth + sizeof *ip + l4_len) {
        return 0;
    }
    memset(buf, 0, sizeof *eth + sizeof *ip + l4_len);
    memcpy(eth->dst, flow->dst_mac, 6);
    memcpy(eth->src, flow->src_mac, 6);
    eth->type = htons(PKT_ETH_P_IPV4);

    ip->ver_ihl = 0x45;
    ip->tot_len = htons(sizeof *ip + l4_len);
    ip->frag_off = htons(PKT_IPV4_DF);
    ip->ttl = 64;
    ip->protocol = flow->protocol;
    ip->saddr = flow->src_ip;
    ip->daddr = flow->dst_ip;
    ip->check = pkt_ipv4_csum(ip);

    if (flow->protocol == PKT_IPPROTO_TCP) {
        struct pkt_tcp *tcp = (struct pkt_tcp *) l4;

        tcp->source = htons(flow->sport);
        tcp->dest = htons(flow->dport);
        tcp->seq = htonl(1);
        tcp->doff_res = 5 << 4;
        tcp->flags = PKT_TCP_SYN;
        tcp->window = htons(64240);
        tcp->check = l4_csum(ip, l4, l4_len);
    } else if (flow->protocol == PKT_IPPROTO_UDP) {
        struct pkt_udp *udp = (struct pkt_udp *) l4;

        udp->source = htons(flow->sport);
        udp->dest = htons(flow->dport);
        udp->len = htons(l4_len);
        udp->check = l4_csum(ip, l4, l4_len);
        if (!udp->check) {
            udp->check = 0xffff;
        }
    } else {
        struct pkt_icmp *icmp = (struct pkt_icmp *) l4;

        icmp->type = flow->icmp_type;
        icmp->id = htons(0xfab);
        icmp->seq = htons(1);
        icmp->check = l4_csum(NULL, l4, l4_len);
    }
    return sizeof *eth + sizeof *ip + l4_len;
}

bool
trace_frame_is_vxlan(const uint8_t *frame, size_t len, uint32_t *vtep)
{
    const struct pkt_eth *eth = (const struct pkt_eth *) frame;
    const struct pkt_ipv4 *ip = (const struct pkt_ipv4 *) (eth + 1);
    const struct pkt_udp *udp;
    size_t ihl;

    if (len < sizeof *eth + sizeof *ip || eth->type != htons(PKT_ETH_P_IPV4)
        || (ip->ver_ihl >> 4) != 4 || ip->protocol != PKT_IPPROTO_UDP) {
        return false;
    }
    ihl = (ip->ver_ihl & 0xf) * 4;
    if (ihl < sizeof *ip || len < sizeof *eth + ihl + sizeof *udp) {
        return false;
    }
    udp = (const struct pkt_udp *) ((const uint8_t *) ip + ihl);
    if (udp->dest != htons(TRACE_VXLAN_PORT)) {
        return false;
    }
    *vtep = ip->daddr;
    return true;
}

char *
trace_base64_encode(const uint8_t *data, size_t len)
{
    return base64_encode(data, len);
}

bool
trace_base64_decode(const char *s, uint8_t *buf, size_t size, size_t *lenp)
{
    return base64_decode(s, buf, size, lenp);
}

json_t *
trace_stage_from_answer(const char *host, const char *program,
                        const json_t *answer, uint8_t *out, size_t *out_len,
                        char **msg)
{
    const char *tc_action = api_get_string(answer, "tc_action");
    const json_t *drop = json_object_get(answer, "drop_reason");
    const json_t *fw = json_object_get(answer, "firewall");
    const char *frame = api_get_string(answer, "frame");

    *msg = NULL;
    if (!tc_action) {
        *msg = xstrdup("no \"tc_action\"");
    } else if (drop && !json_is_null(drop) && !json_is_string(drop)) {
        *msg = xstrdup("\"drop_reason\" is neither a string nor null");
    } else if (fw && !json_is_null(fw)
               && (!json_is_object(fw) || !api_get_string(fw, "action")
                   || !api_get_string(fw, "reason"))) {
        *msg = xstrdup("\"firewall\" lacks \"action\" or \"reason\"");
    } else if (!frame
               || !trace_base64_decode(frame, out, TRACE_FRAME_MAX, out_len)) {
        *msg = xstrdup("\"frame\" is not the base64 of a frame of at most "
                       "2048 bytes");
    }
    if (*msg) {
        return NULL;
    }
    return json_pack("{sssssssOsO}", "host", host, "program", program,
                     "tc_action", tc_action, "drop_reason",
                     drop ? drop : json_null(), "firewall",
                     fw ? fw : json_null());
}

json_t *
trace_conclude(const json_t *stages)
{
    const json_t *decided = NULL, *stage;
    size_t i;

    json_array_foreach(stages, i, stage)
    {
        const json_t *fw = json_object_get(stage, "firewall");
        const char *drop = api_get_string(stage, "drop_reason");

        if (json_is_object(fw)) {
            decided = fw;
            if (!strcmp(api_get_string(fw, "action"), "deny")) {
                break;
            }
        }
        if (drop) {
            return json_pack("{sssssn}", "verdict", "drop", "reason", drop,
                             "rule");
        }
    }
    if (!decided) {
        return json_pack("{sssssn}", "verdict", "allow", "reason",
                         "not-firewalled", "rule");
    }
    {
        json_int_t id = json_integer_value(json_object_get(decided, "rule"));
        json_t *rule =
            id ? json_pack("{sIsOsO}", "id", id, "direction",
                           json_object_get(decided, "direction"), "action",
                           json_object_get(decided, "action"))
               : json_null();

        return json_pack("{sOsOso}", "verdict",
                         json_object_get(decided, "action"), "reason",
                         json_object_get(decided, "reason"), "rule", rule);
    }
}

/* The trace request. */

/* What the trace needs to know about a host, read from the store. */
struct trace_host {
    struct agents_target agent; /* Its agent; 'agent.host' is NULL until
                                 * the host is known. */
    uint32_t vtep;              /* Its VTEP, network order, or 0. */
};

static void
trace_host_clear(struct trace_host *h)
{
    agents_target_clear(&h->agent);
    h->vtep = 0;
}

static char *
dup_string(const json_t *obj, const char *key)
{
    const char *s = api_get_string(obj, key);

    return s ? xstrdup(s) : NULL;
}

/* Reads host 'name' into 'h', its agent's token unsealed with 'api''s
 * secrets. */
static int
read_host(const struct api *api, struct store_txn *txn, const char *name,
          struct trace_host *h, struct api_error *err)
{
    json_t *body;
    int status;

    status = agents_target_read(api, txn, name, &h->agent, &body, err);
    if (status) {
        return status;
    }
    if (!api_get_string(body, "vtep")
        || !addr_parse_ipv4(api_get_string(body, "vtep"), &h->vtep)) {
        h->vtep = 0;
    }
    json_decref(body);
    return 0;
}

/* Runs one stage: 'program' on 'host' (for "port", on port 'port') with
 * 'frame' ('*len' bytes), which it replaces with the frame the program
 * left.  Appends the stage to 'stages'. */
static int
run_stage(const struct trace_host *host, const char *program, const char *port,
          uint8_t *frame, size_t *len, json_t *stages, struct api_error *err)
{
    const char *name = host->agent.host;
    char *b = trace_base64_encode(frame, *len);
    json_t *body = json_pack("{ssss}", "program", program, "frame", b);
    struct agents_reply reply;
    json_t *answer, *stage;
    char *msg = NULL;
    int status;

    free(b);
    if (port) {
        json_object_set_new(body, "port", json_string(port));
    }
    /* An agent's answer carries one frame: far below a megabyte. */
    status = agents_call(&host->agent, "POST", "/v1/trace", body, 1024 * 1024,
                         "trace", &reply, err);
    json_decref(body);
    if (status) {
        return status;
    }
    answer = json_loadb(reply.body, reply.len, 0, NULL);
    if (reply.status != 200 || !json_is_object(answer)) {
        const char *m = api_get_string(answer, "error");

        api_fail(err, 502, NULL,
                 "trace: the agent of host \"%s\": %s/v1/trace: answered "
                 "%ld%s%s",
                 name, host->agent.url, reply.status, m ? ": " : "",
                 m ? m : "");
        json_decref(answer);
        agents_reply_clear(&reply);
        return 502;
    }
    agents_reply_clear(&reply);
    stage = trace_stage_from_answer(name, program, answer, frame, len, &msg);
    json_decref(answer);
    if (!stage) {
        api_fail(err, 502, NULL,
                 "trace: the agent of host \"%s\" answered nonsense: %s", name,
                 msg);
        free(msg);
        return 502;
    }
    json_array_append_new(stages, stage);
    return 0;
}

/* The port whose address is 'ip' (network order) in 'network', found
 * through the "ip" index, or NULL. */
static char *
port_by_ip(struct store_txn *txn, const char *network, uint32_t ip)
{
    char *key = api_ip_key(network, ntohl(ip));
    struct store_obj obj;
    char *port = NULL;

    if (!store_get(txn, "ip", key, &obj)) {
        port = dup_string(obj.body, "port");
        store_obj_clear(&obj);
    }
    free(key);
    return port;
}

/* The group of rule 'id', from the security groups' "sg-rule" objects
 * ("GROUP/ID", the id zero-padded), or NULL. */
struct rule_search {
    json_int_t id; /* The rule sought. */
    char *group;   /* Its group, once found. */
};

static int
rule_search_cb(const struct store_obj *obj, void *rs_)
{
    struct rule_search *rs = rs_;
    const char *slash = strrchr(obj->name, '/');

    if (slash && strtoll(slash + 1, NULL, 10) == rs->id) {
        rs->group = xasprintf("%.*s", (int) (slash - obj->name), obj->name);
        return API_STOP;
    }
    return 0;
}

/* Adds "group" to the "rule" of 'verdict', if it has one. */
static void
add_rule_group(struct store_txn *txn, json_t *verdict)
{
    json_t *rule = json_object_get(verdict, "rule");
    struct rule_search rs = {.group = NULL};

    if (!json_is_object(rule)) {
        return;
    }
    rs.id = json_integer_value(json_object_get(rule, "id"));
    store_list(txn, "sg-rule", NULL, 0, rule_search_cb, &rs);
    json_object_set_new(rule, "group",
                        rs.group ? json_string(rs.group) : json_null());
    free(rs.group);
}

/* The trace's input. */
static const struct api_field trace_fields[] = {
    {"from", API_STRING, API_RW, true},
    {"to", API_STRING, API_RW, true},
    {"protocol", API_STRING, API_RW, true},
    {"dport", API_INTEGER, API_RW, false},
    {"sport", API_INTEGER, API_RW, false},
    {"icmp_type", API_INTEGER, API_RW, false},
};

/* The source port used when the request names none. */
#define TRACE_SPORT_DEFAULT 40000

/* Checks 'in' and fills 'flow' with all but the MACs and the source. */
static int
check_input(const json_t *in, struct trace_flow *flow, struct api_error *err)
{
    const char *proto = api_get_string(in, "protocol");
    const char *to = api_get_string(in, "to");
    const json_t *dport = json_object_get(in, "dport");
    const json_t *sport = json_object_get(in, "sport");
    const json_t *icmp_type = json_object_get(in, "icmp_type");
    int status;

    status = api_check_input(in, trace_fields, ARRAY_SIZE(trace_fields),
                             "trace", NULL, false, err);
    if (!status) {
        status =
            api_check_name(api_get_string(in, "from"), "from", "trace", err);
    }
    if (status) {
        return status;
    }
    if (!addr_parse_ipv4(to, &flow->dst_ip)) {
        return api_fail(err, 400, "to",
                        "trace: to \"%s\": expected an IPv4 address", to);
    }
    if (!strcmp(proto, "tcp") || !strcmp(proto, "udp")) {
        flow->protocol = proto[0] == 't' ? PKT_IPPROTO_TCP : PKT_IPPROTO_UDP;
        if (!dport) {
            return api_fail(err, 400, "dport", "trace: dport: required for %s",
                            proto);
        }
        if (icmp_type) {
            return api_fail(err, 400, "icmp_type",
                            "trace: icmp_type: only for icmp");
        }
    } else if (!strcmp(proto, "icmp")) {
        flow->protocol = PKT_IPPROTO_ICMP;
        if (dport || sport) {
            return api_fail(err, 400, dport ? "dport" : "sport",
                            "trace: %s: only for tcp and udp",
                            dport ? "dport" : "sport");
        }
    } else {
        return api_fail(err, 400, "protocol",
                        "trace: protocol \"%s\": expected tcp, udp or icmp",
                        proto);
    }
    if (dport
        && (json_integer_value(dport) < 1
            || json_integer_value(dport) > 65535)) {
        return api_fail(err, 400, "dport", "trace: dport: must be 1..65535");
    }
    if (sport
        && (json_integer_value(sport) < 1
            || json_integer_value(sport) > 65535)) {
        return api_fail(err, 400, "sport", "trace: sport: must be 1..65535");
    }
    if (icmp_type
        && (json_integer_value(icmp_type) < 0
            || json_integer_value(icmp_type) > 255)) {
        return api_fail(err, 400, "icmp_type",
                        "trace: icmp_type: must be 0..255");
    }
    flow->dport = json_integer_value(dport);
    flow->sport = sport ? json_integer_value(sport) : TRACE_SPORT_DEFAULT;
    flow->icmp_type = icmp_type ? json_integer_value(icmp_type) : 8;
    return 0;
}

/* Everything the trace found in the store. */
struct trace_plan {
    struct trace_flow flow; /* The packet. */
    char *network;          /* The source port's network. */
    struct trace_host src;  /* The source port's host. */
    struct trace_host dst;  /* The destination's host, if any. */
    char *dst_port;         /* The destination port, or NULL. */
    json_t *source;         /* {"port", "host", "network", "mac", "ip"}. */
    json_t *destination;    /* Likewise, or {"ip", "network"} if unknown. */
};

static void
trace_plan_clear(struct trace_plan *p)
{
    free(p->network);
    trace_host_clear(&p->src);
    trace_host_clear(&p->dst);
    free(p->dst_port);
    json_decref(p->source);
    json_decref(p->destination);
}

/* Reads port 'name' and fills 'mac' and '*desc' from it. */
static int
read_port(struct store_txn *txn, const char *name, const char *role,
          uint8_t mac[6], json_t **desc, struct api_error *err)
{
    char *what = api_what("port", name);
    struct store_obj obj;
    int status;

    status = api_get_object(txn, "port", name, what, &obj, err);
    if (!status
        && !addr_parse_mac(api_get_string(obj.body, "mac") ?: "", mac)) {
        status =
            api_fail(err, 500, NULL, "trace: %s: stored MAC is bad", what);
    }
    if (!status && !api_get_string(obj.body, "host")) {
        status = api_fail(err, 409, role,
                          "trace: %s: not placed on any host: there is no "
                          "fast path to trace it in",
                          what);
    }
    if (!status) {
        *desc = json_pack("{sssOsOsOsO}", "port", name, "host",
                          json_object_get(obj.body, "host"), "network",
                          json_object_get(obj.body, "network"), "mac",
                          json_object_get(obj.body, "mac"), "ip",
                          json_object_get(obj.body, "ip"));
    }
    if (status == 404) {
        api_fail(err, 404, role, "trace: %s: not found", what);
    }
    store_obj_clear(&obj);
    free(what);
    return status;
}

/* Finds the source and destination of the trace in the store. */
static int
plan(struct api *api, const json_t *in, struct trace_plan *p,
     struct api_error *err)
{
    const char *from = api_get_string(in, "from");
    struct store_txn *txn;
    int status;

    status = api_begin(api, false, &txn, err);
    if (status) {
        return status;
    }
    status = read_port(txn, from, "from", p->flow.src_mac, &p->source, err);
    if (!status) {
        p->network = dup_string(p->source, "network");
        addr_parse_ipv4(api_get_string(p->source, "ip") ?: "",
                        &p->flow.src_ip);
        status = read_host(api, txn, api_get_string(p->source, "host"),
                           &p->src, err);
        if (status == 404) {
            /* A port may name a host that has not registered yet: its
             * agent has no address, which run_stage() reports if it
             * comes to that. */
            api_error_clear(err);
            p->src.agent.host = dup_string(p->source, "host");
            status = 0;
        }
    }
    if (!status) {
        p->dst_port = port_by_ip(txn, p->network, p->flow.dst_ip);
    }
    if (!status && p->dst_port) {
        status = read_port(txn, p->dst_port, "to", p->flow.dst_mac,
                           &p->destination, err);
        if (status == 409) {
            /* An unplaced destination is simply not there. */
            api_error_clear(err);
            json_decref(p->destination);
            p->destination = NULL;
            free(p->dst_port);
            p->dst_port = NULL;
            status = 0;
        }
    }
    if (!status && p->dst_port
        && strcmp(api_get_string(p->destination, "host"), p->src.agent.host)) {
        status = read_host(api, txn, api_get_string(p->destination, "host"),
                           &p->dst, err);
        if (status == 404) {
            /* A port may name a host that has not registered yet. */
            api_error_clear(err);
            status = 0;
        }
    }
    store_abort(txn);
    return status;
}

int
api_trace(struct api *api, const json_t *in, json_t **out,
          struct api_error *err)
{
    struct trace_plan p;
    uint8_t frame[TRACE_FRAME_MAX];
    json_t *stages = json_array(), *verdict;
    struct store_txn *txn;
    size_t len;
    uint32_t vtep;
    int status;

    memset(&p, 0, sizeof p);
    status = check_input(in, &p.flow, err);
    if (!status) {
        status = plan(api, in, &p, err);
    }
    if (status) {
        goto out;
    }
    if (!p.dst_port) {
        char ip[INET_ADDRSTRLEN];

        inet_ntop(AF_INET, &p.flow.dst_ip, ip, sizeof ip);
        *out = json_pack("{sssssnsos{ssss}so}", "verdict", "drop", "reason",
                         "unknown-destination", "rule", "source",
                         json_incref(p.source), "destination", "ip", ip,
                         "network", p.network, "stages", stages);
        stages = NULL;
        status = 200;
        goto out;
    }

    len = trace_build_frame(&p.flow, frame, sizeof frame);
    status = run_stage(&p.src, "port", api_get_string(in, "from"), frame, &len,
                       stages, err);
    if (status) {
        goto out;
    }
    /* A frame that leaves as VXLAN for another host goes on there. */
    if (!strcmp(api_get_string(json_array_get(stages, 0), "tc_action"),
                "redirect")
        && trace_frame_is_vxlan(frame, len, &vtep) && vtep != p.src.vtep) {
        if (!p.dst.agent.host || vtep != p.dst.vtep) {
            char ip[INET_ADDRSTRLEN];

            inet_ntop(AF_INET, &vtep, ip, sizeof ip);
            status = api_fail(err, 502, NULL,
                              "trace: host \"%s\" sent the frame to VTEP %s, "
                              "which is not the VTEP of port \"%s\"'s host",
                              p.src.agent.host, ip, p.dst_port);
            goto out;
        }
        status = run_stage(&p.dst, "uplink", NULL, frame, &len, stages, err);
        if (status) {
            goto out;
        }
    }

    verdict = trace_conclude(stages);
    if (!api_begin(api, false, &txn, err)) {
        add_rule_group(txn, verdict);
        store_abort(txn);
    }
    api_error_clear(err);
    json_object_set(verdict, "source", p.source);
    json_object_set(verdict, "destination", p.destination);
    json_object_set_new(verdict, "stages", stages);
    stages = NULL;
    *out = verdict;
    status = 200;

out:
    json_decref(stages);
    trace_plan_clear(&p);
    return status;
}
