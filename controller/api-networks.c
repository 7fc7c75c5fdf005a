/* Networks: /v1/networks. */
#include "controller/api.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controller/store.h"
#include "utils/addr.h"
#include "utils/util.h"

static const struct api_field network_fields[] = {
    {"name", API_STRING, API_IMMUTABLE, true},
    {"vni", API_INTEGER, API_IMMUTABLE, false},
    {"cidr", API_STRING, API_IMMUTABLE, true},
    {"mtu", API_INTEGER, API_RW, false},
    {"description", API_STRING, API_RW, false},
    {"default_qos", API_STRING, API_RW, false},
    {"default_action", API_STRING, API_RW, false},
    {"dns_servers", API_ARRAY, API_RW, false},
    {"version", API_INTEGER, API_VERSION, false},
    {"revision", API_INTEGER, API_RO, false},
    {"created_at", API_STRING, API_RO, false},
    {"updated_at", API_STRING, API_RO, false},
};

static const struct api_kind network_kind = {
    .kind = "network",
    .plural = "networks",
    .fields = network_fields,
    .n_fields = ARRAY_SIZE(network_fields),
};

const char *
api_parse_ipv4_prefix(const char *cidr, const char *problem, uint32_t *ip,
                      int *prefix)
{
    const char *slash = strchr(cidr, '/');
    char addr[INET_ADDRSTRLEN];
    size_t digits;
    uint32_t be;

    if (!slash || slash - cidr >= (long) sizeof addr) {
        return problem;
    }
    memcpy(addr, cidr, slash - cidr);
    addr[slash - cidr] = '\0';
    if (!addr_parse_ipv4(addr, &be)) {
        return "not an IPv4 address before the \"/\" (expected a.b.c.d/N)";
    }
    digits = strspn(slash + 1, "0123456789");
    if (digits == 0 || digits > 2 || slash[1 + digits] != '\0'
        || atoi(slash + 1) > 32) {
        return "prefix length must be 0..32";
    }
    *ip = ntohl(be);
    *prefix = atoi(slash + 1);
    return NULL;
}

const char *
api_parse_cidr(const char *cidr, uint32_t *netp, int *prefixp)
{
    const char *problem;
    uint32_t net, mask;
    int prefix;

    problem = api_parse_ipv4_prefix(
        cidr, "not a CIDR (expected a.b.c.d/N, e.g. 10.0.0.0/24)", &net,
        &prefix);
    if (problem) {
        return problem;
    }
    if (prefix < API_PREFIX_MIN || prefix > API_PREFIX_MAX) {
        return "prefix length must be 8..30 (a network needs at least two "
               "usable addresses)";
    }
    mask = UINT32_MAX << (32 - prefix);
    if (net & ~mask) {
        return "host bits must be zero (the prefix's first address, e.g. "
               "10.0.0.0/24)";
    }
    if ((net >> 24) == 0 || (net >> 24) == 127 || (net >> 29) == 7) {
        return "not a unicast range (0.0.0.0/8, 127.0.0.0/8 and 224.0.0.0/3 "
               "are not allowed)";
    }
    *netp = net;
    *prefixp = prefix;
    return NULL;
}

uint32_t
api_dhcp_server_ip(uint32_t net, int prefix)
{
    return (net | ~(UINT32_MAX << (32 - prefix))) - 1;
}

/* Checks the "dns_servers" of 'in', if present, and copies it into 'body'
 * as a list of dotted quads (null or [] removes it).  Returns 0 or 400. */
static int
apply_dns_servers(const json_t *in, json_t *body, const char *what,
                  struct api_error *err)
{
    const json_t *value = json_object_get(in, "dns_servers");
    const json_t *server;
    json_t *servers;
    size_t i;

    if (!value || json_is_null(value) || !json_array_size(value)) {
        if (value) {
            json_object_del(body, "dns_servers");
        }
        return 0;
    }
    if (json_array_size(value) > API_DNS_SERVERS_MAX) {
        return api_fail(err, 400, "dns_servers",
                        "%s: dns_servers: %zu addresses, at most %d are "
                        "allowed (DHCP hands out the first three)",
                        what, json_array_size(value), API_DNS_SERVERS_MAX);
    }
    servers = json_array();
    json_array_foreach(value, i, server)
    {
        const char *s = json_string_value(server);
        uint32_t be, ip;

        if (!s) {
            json_decref(servers);
            return api_fail(err, 400, "dns_servers",
                            "%s: dns_servers[%zu]: not a string (expected "
                            "an IPv4 address a.b.c.d)",
                            what, i);
        }
        if (!addr_parse_ipv4(s, &be)) {
            char *q = api_quote(s);

            api_fail(err, 400, "dns_servers",
                     "%s: dns_servers[%zu] %s: not an IPv4 address "
                     "(expected a.b.c.d)",
                     what, i, q);
            free(q);
            json_decref(servers);
            return 400;
        }
        ip = ntohl(be);
        if ((ip >> 24) == 0 || (ip >> 24) == 127 || (ip >> 29) == 7) {
            api_fail(err, 400, "dns_servers",
                     "%s: dns_servers[%zu] \"%s\": not a unicast address "
                     "(0.0.0.0/8, 127.0.0.0/8 and 224.0.0.0/3 are not "
                     "allowed)",
                     what, i, s);
            json_decref(servers);
            return 400;
        }
        json_array_append_new(
            servers, json_sprintf("%u.%u.%u.%u", ip >> 24, (ip >> 16) & 0xff,
                                  (ip >> 8) & 0xff, ip & 0xff));
    }
    json_object_set_new(body, "dns_servers", servers);
    return 0;
}

void
api_vni_key(uint32_t vni, char buf[16])
{
    /* Zero-padded, so that the index sorts by number. */
    snprintf(buf, 16, "%08" PRIu32, vni);
}

int
api_vni_allocate(struct store_txn *txn, uint32_t *vni)
{
    char after[16];
    int64_t n;
    int error;

    api_vni_key(API_VNI_FIRST - 1, after);
    error = api_lowest_free(txn, "vni", after, API_VNI_FIRST, API_VNI_MAX, &n);
    if (!error) {
        *vni = n;
    }
    return error;
}

/* Checks the values of the network fields in 'in' that are present, and
 * copies them into 'body' (null removes or resets). */
static int
apply_fields(const json_t *in, json_t *body, const char *what,
             struct api_error *err)
{
    const json_t *value;
    int status;

    value = json_object_get(in, "cidr");
    if (value) {
        const char *cidr = json_string_value(value);
        const char *problem;
        uint32_t net;
        int prefix;

        problem = api_parse_cidr(cidr, &net, &prefix);
        if (problem) {
            char *q = api_quote(cidr);

            api_fail(err, 400, "cidr", "%s: cidr %s: %s", what, q, problem);
            free(q);
            return 400;
        }
        json_object_set_new(body, "cidr",
                            json_sprintf("%u.%u.%u.%u/%d", net >> 24,
                                         (net >> 16) & 0xff, (net >> 8) & 0xff,
                                         net & 0xff, prefix));
    }
    value = json_object_get(in, "vni");
    if (value) {
        json_int_t vni = json_integer_value(value);

        if (vni < 1 || vni > API_VNI_MAX) {
            return api_fail(err, 400, "vni",
                            "%s: vni %" JSON_INTEGER_FORMAT ": must be 1..%d",
                            what, vni, API_VNI_MAX);
        }
        json_object_set_new(body, "vni", json_integer(vni));
    }
    value = json_object_get(in, "mtu");
    if (json_is_null(value)) {
        json_object_set_new(body, "mtu", json_integer(API_MTU_DEFAULT));
    } else if (value) {
        json_int_t mtu = json_integer_value(value);

        if (mtu < API_MTU_MIN || mtu > API_MTU_MAX) {
            return api_fail(err, 400, "mtu",
                            "%s: mtu %" JSON_INTEGER_FORMAT ": must be %d..%d",
                            what, mtu, API_MTU_MIN, API_MTU_MAX);
        }
        json_object_set_new(body, "mtu", json_integer(mtu));
    }
    status = api_apply_description(in, body, what, err);
    if (!status) {
        status = apply_dns_servers(in, body, what, err);
    }
    if (status) {
        return status;
    }
    /* What the firewall does with a direction no security group of a port
     * governs (doc/firewall.md). */
    value = json_object_get(in, "default_action");
    if (json_is_null(value)) {
        json_object_set_new(body, "default_action", json_string("allow"));
    } else if (value) {
        const char *action = json_string_value(value);

        if (strcmp(action, "allow") && strcmp(action, "deny")) {
            char *q = api_quote(action);

            api_fail(err, 400, "default_action",
                     "%s: default_action %s: expected \"allow\" or \"deny\"",
                     what, q);
            free(q);
            return 400;
        }
        json_object_set(body, "default_action", (json_t *) value);
    }
    return 0;
}

/* Checks "default_qos" of 'in', which must name an existing policy, and
 * copies it into 'body' (null removes it). */
static int
apply_default_qos(struct store_txn *txn, const json_t *in, json_t *body,
                  const char *what, struct api_error *err)
{
    const json_t *value = json_object_get(in, "default_qos");
    int status = api_qos_check_ref(txn, value, "default_qos", what, err);

    if (!status) {
        api_merge_member(body, "default_qos", in);
    }
    return status;
}

/* Claims VNI 'vni' for network 'name', or a free one if 'vni' is 0, and
 * stores it in '*vnip'. */
static int
claim_vni(struct store_txn *txn, const char *name, uint32_t vni,
          const char *what, uint32_t *vnip, struct api_error *err)
{
    struct store_obj owner;
    char key[16];
    json_t *index;
    int error;

    if (!vni) {
        error = api_vni_allocate(txn, &vni);
        if (error == ENOSPC) {
            return api_fail(
                err, 409, "vni",
                "%s: no free VNI left from %d up (give one explicitly)", what,
                API_VNI_FIRST);
        } else if (error) {
            return api_store_error(error, what, err);
        }
    }
    api_vni_key(vni, key);
    error = store_get(txn, "vni", key, &owner);
    if (!error) {
        api_fail(err, 409, "vni",
                 "%s: vni %" PRIu32 ": in use by network \"%s\"", what, vni,
                 api_get_string(owner.body, "network") ?: "?");
        store_obj_clear(&owner);
        return 409;
    } else if (error != ENOENT) {
        return api_store_error(error, what, err);
    }
    index = json_pack("{ss}", "network", name);
    error = store_put(txn, "vni", key, index, STORE_CREATE, NULL);
    json_decref(index);
    if (error) {
        return api_store_error(error, what, err);
    }
    *vnip = vni;
    return 0;
}

int
api_network_create(struct api *api, const json_t *in, json_t **out,
                   struct api_error *err)
{
    const char *name = api_get_string(in, "name");
    char *what = api_what("network", name);
    struct store_txn *txn = NULL;
    json_t *body = json_object();
    uint32_t vni = 0;
    int status;

    status = api_check_input(in, network_fields, ARRAY_SIZE(network_fields),
                             what, NULL, false, err);
    if (!status) {
        status = api_check_name(name, "name", what, err);
    }
    if (!status) {
        json_object_set_new(body, "mtu", json_integer(API_MTU_DEFAULT));
        json_object_set_new(body, "default_action", json_string("allow"));
        status = apply_fields(in, body, what, err);
    }
    if (!status) {
        status =
            api_kind_create_begin(api, &network_kind, name, what, &txn, err);
    }
    if (!status) {
        status = apply_default_qos(txn, in, body, what, err);
    }
    if (status) {
        goto out;
    }
    status =
        claim_vni(txn, name, json_integer_value(json_object_get(body, "vni")),
                  what, &vni, err);
    if (status) {
        goto out;
    }
    json_object_set_new(body, "vni", json_integer(vni));
    status = api_kind_create_finish(api, &network_kind, name, what, &txn, body,
                                    out, err);

out:
    store_abort(txn);
    json_decref(body);
    free(what);
    return status;
}

int
api_network_get(struct api *api, const char *name, json_t **out,
                struct api_error *err)
{
    struct store_txn *txn;
    struct store_obj obj;
    int status, error;

    status = api_begin(api, false, &txn, err);
    if (status) {
        return status;
    }
    error = store_get(txn, "network", name, &obj);
    store_abort(txn);
    if (error == ENOENT) {
        char *q = api_quote(name);

        api_fail(err, 404, NULL, "network %s: not found", q);
        free(q);
        return 404;
    } else if (error) {
        return api_store_error(error, "reading a network", err);
    }
    *out = api_object_out(&obj);
    store_obj_clear(&obj);
    return 200;
}

int
api_network_list(struct api *api, const json_t *query, json_t **out,
                 struct api_error *err)
{
    return api_kind_list(api, &network_kind, query, out, err);
}

/* The hosts of a network's ports, while checking that they carry it. */
struct mtu_check {
    struct store_txn *txn; /* Where to read. */
    const char *prefix;    /* "NETWORK/", of its "net-port" index. */
    const char *network;   /* The network. */
    json_int_t mtu;        /* Its new MTU. */
    json_t *seen;          /* Host name -> null, for the hosts checked. */
    const char *what;      /* For messages. */
    struct api_error *err; /* Where a refusal goes. */
    int status;            /* The refusal or store error, or 0. */
};

static int
mtu_check_cb(const struct store_obj *index, void *mc_)
{
    struct mtu_check *mc = mc_;
    const char *host = api_get_string(index->body, "host");
    struct store_obj obj;
    int error;

    if (strncmp(index->name, mc->prefix, strlen(mc->prefix))) {
        return API_STOP;
    }
    if (!host || json_object_get(mc->seen, host)) {
        return 0;
    }
    json_object_set_new(mc->seen, host, json_null());
    error = store_get(mc->txn, "host", host, &obj);
    if (error == ENOENT) {
        return 0;
    } else if (error) {
        mc->status = api_store_error(error, mc->what, mc->err);
        return API_STOP;
    }
    mc->status = api_host_check_mtu(host, obj.body, mc->network, mc->mtu,
                                    mc->what, mc->err);
    store_obj_clear(&obj);
    return mc->status ? API_STOP : 0;
}

/* Checks that every host with a port in network 'name' carries its MTU
 * 'mtu': what their agents would refuse is refused here, before it is
 * stored. */
static int
check_hosts_carry(struct store_txn *txn, const char *name, json_int_t mtu,
                  const char *what, struct api_error *err)
{
    char *prefix = xasprintf("%s/", name);
    struct mtu_check mc = {
        .txn = txn,
        .prefix = prefix,
        .network = name,
        .mtu = mtu,
        .seen = json_object(),
        .what = what,
        .err = err,
    };
    int error = store_list(txn, "net-port", prefix, 0, mtu_check_cb, &mc);

    if (error && error != API_STOP) {
        mc.status = api_store_error(error, what, err);
    }
    json_decref(mc.seen);
    free(prefix);
    return mc.status;
}

/* Applies a network's merge patch (an api_apply_func). */
static int
patch_apply(struct store_txn *txn, const struct store_obj *obj,
            const json_t *in, json_t *body, const char *what,
            struct api_error *err)
{
    int status = apply_fields(in, body, what, err);
    json_int_t mtu = json_integer_value(json_object_get(body, "mtu"));

    if (!status
        && mtu > json_integer_value(json_object_get(obj->body, "mtu"))) {
        status = check_hosts_carry(txn, obj->name, mtu, what, err);
    }
    return status ? status : apply_default_qos(txn, in, body, what, err);
}

int
api_network_patch(struct api *api, const char *name, const json_t *in,
                  int64_t if_match, json_t **out, struct api_error *err)
{
    char *what = api_what("network", name);
    int status = api_kind_patch(api, &network_kind, name, in, if_match, what,
                                patch_apply, out, err);

    free(what);
    return status;
}

/* Names of the first ports of network 'network', for a message. */
struct port_names {
    const char *prefix; /* "NETWORK/". */
    size_t n;           /* Ports seen so far. */
    json_t *names;      /* The first few port names. */
};

static int
port_names_cb(const struct store_obj *obj, void *pn_)
{
    struct port_names *pn = pn_;
    size_t len = strlen(pn->prefix);

    if (strncmp(obj->name, pn->prefix, len)) {
        return API_STOP;
    }
    if (++pn->n <= 3) {
        json_array_append_new(pn->names, json_string(obj->name + len));
    }
    return 0;
}

int
api_network_delete(struct api *api, const char *name, const json_t *in,
                   int64_t if_match, struct api_error *err)
{
    char *what = api_what("network", name);
    struct port_names pn = {.names = json_array()};
    struct store_txn *txn = NULL;
    struct store_obj obj = {0};
    int status, error;
    char key[16];

    status = api_kind_delete_begin(api, &network_kind, name, in, if_match,
                                   what, &txn, &obj, err);
    if (status) {
        goto out;
    }

    {
        char *ext = NULL;

        error = api_external_vtep_joining(txn, name, &ext);
        if (error) {
            status = api_store_error(error, what, err);
            goto out;
        }
        if (ext) {
            status = api_fail(err, 409, NULL,
                              "%s: external VTEP \"%s\" joins it; remove the "
                              "network from its \"networks\" or delete it "
                              "first",
                              what, ext);
            free(ext);
            goto out;
        }
    }
    pn.prefix = xasprintf("%s/", name);
    error = store_list(txn, "net-port", pn.prefix, 0, port_names_cb, &pn);
    if (error && error != API_STOP) {
        status = api_store_error(error, what, err);
        goto out;
    }
    if (pn.n) {
        char *names = json_dumps(pn.names, JSON_COMPACT);

        status = api_fail(err, 409, NULL,
                          "%s: still has %zu port%s (%s%s); delete them first",
                          what, pn.n, pn.n == 1 ? "" : "s", names,
                          pn.n > 3 ? " and more" : "");
        free(names);
        goto out;
    }

    api_vni_key(json_integer_value(json_object_get(obj.body, "vni")), key);
    error = store_delete(txn, "network", name, obj.version);
    if (!error) {
        error = store_delete(txn, "vni", key, STORE_ANY);
    }
    if (!error || error == ENOENT) {
        error = store_delete(txn, "ipam", name, STORE_ANY);
    }
    if (!error || error == ENOENT) {
        error = store_delete(txn, "net-hosts", name, STORE_ANY);
    }
    status =
        api_finish_no_content(&txn, error == ENOENT ? 0 : error, what, err);

out:
    store_abort(txn);
    store_obj_clear(&obj);
    json_decref(pn.names);
    free((char *) pn.prefix);
    free(what);
    return status;
}
