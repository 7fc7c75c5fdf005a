/* External VTEPs: /v1/external-vteps.
 *
 * A VTEP outside the fabric (an Open vSwitch, a Linux vxlan device, a
 * gateway or a switch) that joins networks: every host with a port in a
 * network it joined floods to it, accepts its VXLAN in that network, and
 * reaches its static endpoints (MAC and optional IPv4 address) through it.
 * It is never trusted with a security group: fabric hosts identify its
 * endpoints by their addresses (rules with a CIDR peer), and send it
 * VXLAN-GBP only if "gbp" says it takes it.
 *
 * Its address, and each endpoint's MAC and address, are claimed in the
 * same index objects as hosts' VTEPs and ports' MACs and addresses
 * ("vtep", "mac", "ip", with {"external_vtep": NAME}), so that nothing
 * the agents would refuse as a duplicate is ever accepted here. */
#include "controller/api.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controller/store.h"
#include "utils/addr.h"
#include "utils/util.h"

/* Limits on one external VTEP. */
#define EXT_NETWORKS_MAX 64    /* Networks it joins. */
#define EXT_ENDPOINTS_MAX 1024 /* Its static endpoints. */

static int ext_written(struct store_txn *txn, const char *name,
                       const json_t *old, const json_t *body, const char *what,
                       struct api_error *err);

static const struct api_field ext_fields[] = {
    {"name", API_STRING, API_IMMUTABLE, true},
    {"address", API_STRING, API_RW, true},
    {"networks", API_ARRAY, API_RW, true},
    {"gbp", API_BOOLEAN, API_RW, false},
    {"endpoints", API_ARRAY, API_RW, false},
    {"description", API_STRING, API_RW, false},
    {"version", API_INTEGER, API_VERSION, false},
    {"revision", API_INTEGER, API_RO, false},
    {"created_at", API_STRING, API_RO, false},
    {"updated_at", API_STRING, API_RO, false},
};

static const struct api_kind ext_kind = {
    .kind = "external-vtep",
    .plural = "external-vteps",
    .fields = ext_fields,
    .n_fields = ARRAY_SIZE(ext_fields),
    .written = ext_written,
};

/* Parses unicast IPv4 address 's' into '*ip' (host order).  Returns NULL
 * or what is wrong with it. */
static const char *
parse_unicast(const char *s, uint32_t *ip)
{
    uint32_t be;

    if (!s || !addr_parse_ipv4(s, &be)) {
        return "not an IPv4 address (expected a.b.c.d)";
    }
    *ip = ntohl(be);
    if ((*ip >> 24) == 0 || (*ip >> 24) == 127 || (*ip >> 29) == 7) {
        return "not a unicast address (0.0.0.0/8, 127.0.0.0/8 and "
               "224.0.0.0/3 are not allowed)";
    }
    return NULL;
}

static json_t *
format_ip(uint32_t ip)
{
    return json_sprintf("%u.%u.%u.%u", ip >> 24, (ip >> 16) & 0xff,
                        (ip >> 8) & 0xff, ip & 0xff);
}

/* Checks "address" of 'in', if present, into 'body'. */
static int
apply_address(const json_t *in, json_t *body, const char *what,
              struct api_error *err)
{
    const json_t *value = json_object_get(in, "address");
    const char *problem;
    uint32_t ip;

    if (!value) {
        return 0;
    }
    problem = parse_unicast(json_string_value(value), &ip);
    if (problem) {
        char *q = api_quote(json_string_value(value));

        api_fail(err, 400, "address", "%s: address %s: %s", what, q, problem);
        free(q);
        return 400;
    }
    json_object_set_new(body, "address", format_ip(ip));
    return 0;
}

/* Checks "networks" of 'in', if present: 1 to EXT_NETWORKS_MAX distinct
 * network names.  Whether they exist is ext_written()'s business. */
static int
apply_networks(const json_t *in, json_t *body, const char *what,
               struct api_error *err)
{
    const json_t *list = json_object_get(in, "networks");
    const json_t *value;
    size_t i;

    if (!list) {
        return 0;
    }
    if (!json_array_size(list) || json_array_size(list) > EXT_NETWORKS_MAX) {
        return api_fail(err, 400, "networks",
                        "%s: networks: %zu names (expected 1 to %d network "
                        "names)",
                        what, json_array_size(list), EXT_NETWORKS_MAX);
    }
    json_array_foreach(list, i, value)
    {
        const char *name = json_string_value(value);

        if (!name || !api_name_is_valid(name)) {
            return api_fail(err, 400, "networks",
                            "%s: networks[%zu]: expected a network name", what,
                            i);
        }
        for (size_t j = 0; j < i; j++) {
            if (!strcmp(name, json_string_value(json_array_get(list, j)))) {
                return api_fail(err, 400, "networks",
                                "%s: networks[%zu]: \"%s\" is listed twice",
                                what, i, name);
            }
        }
    }
    json_object_set(body, "networks", (json_t *) list);
    return 0;
}

/* Checks endpoint 'e', element 'i' of "endpoints", into a new normalized
 * object in '*out'. */
static int
check_endpoint(const json_t *e, size_t i, const char *what, json_t **out,
               struct api_error *err)
{
    const char *network = api_get_string(e, "network");
    const char *mac = api_get_string(e, "mac");
    const json_t *ip = json_object_get(e, "ip");
    char buf[ADDR_MAC_STRLEN];
    const char *key, *problem;
    const json_t *value;
    uint8_t m[6];
    uint32_t addr;

    if (!json_is_object(e)) {
        return api_fail(err, 400, "endpoints",
                        "%s: endpoints[%zu]: expected an object {\"network\", "
                        "\"mac\", \"ip\"}",
                        what, i);
    }
    json_object_foreach((json_t *) e, key, value)
    {
        if (strcmp(key, "network") && strcmp(key, "mac")
            && strcmp(key, "ip")) {
            return api_fail(err, 400, "endpoints",
                            "%s: endpoints[%zu].%s: unknown field (expected "
                            "network, mac, ip)",
                            what, i, key);
        }
    }
    if (!network || !api_name_is_valid(network)) {
        return api_fail(err, 400, "endpoints",
                        "%s: endpoints[%zu].network: expected the name of a "
                        "network the VTEP joins",
                        what, i);
    }
    if (!mac || !addr_parse_mac(mac, m) || addr_mac_is_zero(m) || m[0] & 1) {
        return api_fail(err, 400, "endpoints",
                        "%s: endpoints[%zu].mac: expected a unicast MAC "
                        "address xx:xx:xx:xx:xx:xx, not zero",
                        what, i);
    }
    addr_format_mac(m, buf);
    *out = json_pack("{ssss}", "network", network, "mac", buf);
    if (ip) {
        problem = parse_unicast(json_string_value(ip), &addr);
        if (problem) {
            json_decref(*out);
            return api_fail(err, 400, "endpoints", "%s: endpoints[%zu].ip: %s",
                            what, i, problem);
        }
        json_object_set_new(*out, "ip", format_ip(addr));
    }
    return 0;
}

/* Checks "endpoints" of 'in', if present (null: none), into 'body'. */
static int
apply_endpoints(const json_t *in, json_t *body, const char *what,
                struct api_error *err)
{
    const json_t *list = json_object_get(in, "endpoints");
    json_t *endpoints;
    const json_t *e;
    size_t i;

    if (!list) {
        return 0;
    }
    if (json_array_size(list) > EXT_ENDPOINTS_MAX) {
        return api_fail(err, 400, "endpoints",
                        "%s: endpoints: %zu (expected at most %d)", what,
                        json_array_size(list), EXT_ENDPOINTS_MAX);
    }
    endpoints = json_array();
    json_array_foreach(list, i, e)
    {
        json_t *out = NULL;
        int status = check_endpoint(e, i, what, &out, err);

        if (status) {
            json_decref(endpoints);
            return status;
        }
        json_array_append_new(endpoints, out);
    }
    json_object_set_new(body, "endpoints", endpoints);
    return 0;
}

/* Makes the body of an external VTEP from checked input 'in' (an
 * api_apply_func): a creation, or a merge patch of the copy 'body'. */
static int
apply_fields(struct store_txn *txn, const struct store_obj *obj,
             const json_t *in, json_t *body, const char *what,
             struct api_error *err)
{
    const json_t *value;
    int status;

    (void) txn;
    if (!obj) {
        json_object_set_new(body, "gbp", json_false());
        json_object_set_new(body, "endpoints", json_array());
    }
    status = apply_address(in, body, what, err);
    if (!status) {
        status = apply_networks(in, body, what, err);
    }
    if (!status) {
        status = apply_endpoints(in, body, what, err);
    }
    if (status) {
        return status;
    }
    if (json_is_null(json_object_get(in, "endpoints"))) {
        json_object_set_new(body, "endpoints", json_array());
    }
    value = json_object_get(in, "gbp");
    if (value) {
        json_object_set_new(body, "gbp", json_boolean(json_is_true(value)));
    }
    return api_apply_description(in, body, what, err);
}

/* Whether network 'name' is one of the "networks" of external VTEP body
 * 'body'. */
static bool
joins(const json_t *body, const char *name)
{
    const json_t *value;
    size_t i;

    json_array_foreach(json_object_get(body, "networks"), i, value)
    {
        if (!strcmp(json_string_value(value), name)) {
            return true;
        }
    }
    return false;
}

/* Checks that the networks of 'body' exist, and that each endpoint is in
 * one of them, with its address inside that network's CIDR. */
static int
check_networks(struct store_txn *txn, const json_t *body, const char *what,
               struct api_error *err)
{
    const json_t *value;
    size_t i;

    json_array_foreach(json_object_get(body, "networks"), i, value)
    {
        int status = api_check_present(txn, "network",
                                       json_string_value(value), what, err);

        if (status) {
            return status == 404 ? api_fail(err, 400, "networks",
                                            "%s: networks[%zu]: \"%s\": no "
                                            "such network",
                                            what, i, json_string_value(value))
                                 : status;
        }
    }
    json_array_foreach(json_object_get(body, "endpoints"), i, value)
    {
        const char *network = api_get_string(value, "network");
        const char *ip = api_get_string(value, "ip");
        struct store_obj net;
        uint32_t base, addr, mask;
        int prefix, error;

        if (!joins(body, network)) {
            return api_fail(err, 400, "endpoints",
                            "%s: endpoints[%zu].network: \"%s\" is not one of "
                            "the networks it joins (add it to \"networks\")",
                            what, i, network);
        }
        if (!ip) {
            continue;
        }
        error = store_get(txn, "network", network, &net);
        if (error) {
            return api_store_error(error, what, err);
        }
        error = api_parse_cidr(api_get_string(net.body, "cidr") ?: "", &base,
                               &prefix)
                    ? EIO
                    : 0;
        store_obj_clear(&net);
        if (error) {
            return api_store_error(error, what, err);
        }
        parse_unicast(ip, &addr);
        mask = UINT32_MAX << (32 - prefix);
        if ((addr & mask) != base || addr == base || addr == (base | ~mask)) {
            return api_fail(err, 400, "endpoints",
                            "%s: endpoints[%zu].ip \"%s\": not a usable "
                            "address of network \"%s\"",
                            what, i, ip, network);
        }
    }
    return 0;
}

/* One index object an external VTEP holds. */
struct claim {
    const char *kind;  /* "vtep", "mac" or "ip". */
    char *key;         /* Its name. */
    const char *field; /* The input field, for messages. */
    char *text;        /* What it is, for messages: "address 192.0.2.9". */
};

/* Returns the index objects that 'body' (NULL: none) holds, in '*n'. */
static struct claim *
claims_of(const json_t *body, size_t *n)
{
    const json_t *endpoints = json_object_get(body, "endpoints");
    struct claim *c = xcalloc(2 * json_array_size(endpoints) + 1, sizeof *c);
    const json_t *e;
    size_t i;

    *n = 0;
    if (!body) {
        return c;
    }
    c[(*n)++] = (struct claim){
        "vtep", xstrdup(api_get_string(body, "address")), "address",
        xasprintf("address %s", api_get_string(body, "address"))};
    json_array_foreach(endpoints, i, e)
    {
        const char *network = api_get_string(e, "network");
        const char *ip = api_get_string(e, "ip");
        const char *mac = api_get_string(e, "mac");
        uint32_t addr;

        c[(*n)++] = (struct claim){"mac", xstrdup(mac), "endpoints",
                                   xasprintf("endpoints[%zu].mac %s", i, mac)};
        if (ip && !parse_unicast(ip, &addr)) {
            c[(*n)++] = (struct claim){
                "ip", api_ip_key(network, addr), "endpoints",
                xasprintf("endpoints[%zu].ip %s in network \"%s\"", i, ip,
                          network)};
        }
    }
    return c;
}

static bool
claims_have(const struct claim *c, size_t n, const struct claim *x)
{
    for (size_t i = 0; i < n; i++) {
        if (!strcmp(c[i].kind, x->kind) && !strcmp(c[i].key, x->key)) {
            return true;
        }
    }
    return false;
}

static void
claims_free(struct claim *c, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(c[i].key);
        free(c[i].text);
    }
    free(c);
}

/* Brings the index objects of external VTEP 'name' from those of 'old'
 * (NULL: none) to those of 'body' (NULL: none): frees what it no longer
 * holds, and claims what it now does, answering 409 for what a host, a
 * port or another external VTEP holds. */
static int
sync_claims(struct store_txn *txn, const char *name, const json_t *old,
            const json_t *body, const char *what, struct api_error *err)
{
    size_t n_old, n_new;
    struct claim *was = claims_of(old, &n_old);
    struct claim *now = claims_of(body, &n_new);
    json_t *index = json_pack("{ss}", "external_vtep", name);
    int status = 0;

    for (size_t i = 0; i < n_old && !status; i++) {
        int error;

        if (claims_have(now, n_new, &was[i])) {
            continue;
        }
        error = store_delete(txn, was[i].kind, was[i].key, STORE_ANY);
        if (error && error != ENOENT) {
            status = api_store_error(error, what, err);
        }
    }
    for (size_t i = 0; i < n_new && !status; i++) {
        struct store_obj owner;
        int error;

        if (claims_have(was, n_old, &now[i])) {
            continue;
        }
        error = store_get(txn, now[i].kind, now[i].key, &owner);
        if (!error) {
            const char *port = api_get_string(owner.body, "port");
            const char *host = api_get_string(owner.body, "host");
            const char *ext = api_get_string(owner.body, "external_vtep");

            status = api_fail(err, ext && !strcmp(ext, name) ? 400 : 409,
                              now[i].field, "%s: %s: in use by %s \"%s\"",
                              what, now[i].text,
                              port   ? "port"
                              : host ? "host"
                                     : "external VTEP",
                              port ?: host ?: ext ?: "?");
            store_obj_clear(&owner);
        } else if (error != ENOENT) {
            status = api_store_error(error, what, err);
        } else {
            error = store_put(txn, now[i].kind, now[i].key, index,
                              STORE_CREATE, NULL);
            status = error ? api_store_error(error, what, err) : 0;
        }
    }
    json_decref(index);
    claims_free(was, n_old);
    claims_free(now, n_new);
    return status;
}

/* After a create or a patch wrote 'body' (an api_written_func): the
 * networks it joins must exist, and every host with ports in one of them
 * must hold the longer flood list. */
static int
ext_written(struct store_txn *txn, const char *name, const json_t *old,
            const json_t *body, const char *what, struct api_error *err)
{
    int status = check_networks(txn, body, what, err);
    const json_t *network;
    size_t i;

    json_array_foreach(json_object_get(body, "networks"), i, network)
    {
        if (!status && !(old && joins(old, json_string_value(network)))) {
            status =
                api_check_flood_lists(txn, NULL, json_string_value(network),
                                      NULL, "networks", what, err);
        }
    }
    return status ? status : sync_claims(txn, name, old, body, what, err);
}

int
api_external_vtep_create(struct api *api, const json_t *in, json_t **out,
                         struct api_error *err)
{
    char *what = api_what("external VTEP", api_get_string(in, "name"));
    int status = api_check_input(in, ext_fields, ARRAY_SIZE(ext_fields), what,
                                 NULL, false, err);

    if (!status) {
        status =
            api_kind_create(api, &ext_kind, in, what, apply_fields, out, err);
    }
    free(what);
    return status;
}

int
api_external_vtep_get(struct api *api, const char *name, json_t **out,
                      struct api_error *err)
{
    return api_kind_get(api, &ext_kind, name, out, err);
}

int
api_external_vtep_list(struct api *api, const json_t *query, json_t **out,
                       struct api_error *err)
{
    return api_kind_list(api, &ext_kind, query, out, err);
}

int
api_external_vtep_patch(struct api *api, const char *name, const json_t *in,
                        int64_t if_match, json_t **out, struct api_error *err)
{
    char *what = api_what("external VTEP", name);
    int status = api_kind_patch(api, &ext_kind, name, in, if_match, what,
                                apply_fields, out, err);

    free(what);
    return status;
}

int
api_external_vtep_delete(struct api *api, const char *name, const json_t *in,
                         int64_t if_match, struct api_error *err)
{
    char *what = api_what("external VTEP", name);
    struct store_txn *txn = NULL;
    struct store_obj obj = {0};
    int status, error;

    status = api_kind_delete_begin(api, &ext_kind, name, in, if_match, what,
                                   &txn, &obj, err);
    if (!status) {
        status = sync_claims(txn, name, obj.body, NULL, what, err);
    }
    if (!status) {
        error = store_delete(txn, "external-vtep", name, obj.version);
        status = api_finish_no_content(&txn, error, what, err);
    }
    store_abort(txn);
    store_obj_clear(&obj);
    free(what);
    return status;
}

/* State of the search for the external VTEPs that join a network. */
struct joiner {
    const char *network; /* The network. */
    char *name;          /* The first external VTEP found, or NULL. */
    size_t n;            /* How many join it. */
    bool all;            /* Count them all, rather than stop at one. */
};

static int
joiner_cb(const struct store_obj *obj, void *j_)
{
    struct joiner *j = j_;

    if (joins(obj->body, j->network)) {
        j->n++;
        if (!j->all) {
            j->name = xstrdup(obj->name);
            return API_STOP;
        }
    }
    return 0;
}

int
api_external_vtep_joining(struct store_txn *txn, const char *network,
                          char **name)
{
    struct joiner j = {.network = network};
    int error = store_list(txn, "external-vtep", NULL, 0, joiner_cb, &j);

    *name = j.name;
    return error == API_STOP ? 0 : error;
}

int
api_external_vtep_count(struct store_txn *txn, const char *network, size_t *n)
{
    struct joiner j = {.network = network, .all = true};
    int error = store_list(txn, "external-vtep", NULL, 0, joiner_cb, &j);

    *n = j.n;
    return error;
}
