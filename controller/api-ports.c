/* Ports: /v1/ports, with IP and MAC allocation. */
#include "controller/api.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "controller/store.h"
#include "utils/addr.h"
#include "utils/util.h"

static const struct api_field port_fields[] = {
    {"name", API_STRING, API_IMMUTABLE, true},
    {"network", API_STRING, API_IMMUTABLE, true},
    {"mac", API_STRING, API_IMMUTABLE, false},
    {"ip", API_STRING, API_IMMUTABLE, false},
    {"host", API_STRING, API_RW, false},
    {"device", API_STRING, API_IMMUTABLE, false},
    {"labels", API_OBJECT, API_RW, false},
    {"description", API_STRING, API_RW, false},
    {"security_groups", API_ARRAY, API_RW, false},
    {"qos", API_STRING, API_RW, false},
    {"vm", API_STRING, API_RO, false},
    {"status", API_STRING, API_RO, false},
    {"status_reason", API_STRING, API_RO, false},
    {"groups", API_ARRAY, API_RO, false},
    {"identity", API_INTEGER, API_RO, false},
    {"version", API_INTEGER, API_VERSION, false},
    {"revision", API_INTEGER, API_RO, false},
    {"created_at", API_STRING, API_RO, false},
    {"updated_at", API_STRING, API_RO, false},
};

/* How many random MACs to try before giving up: with 2^32 choices, a
 * collision even twice in a row means something else is wrong. */
#define MAC_ATTEMPTS 16

/* Formats 'ip' (host order) as a dotted quad into 'buf'. */
static void
format_ip(uint32_t ip, char buf[16])
{
    snprintf(buf, 16, "%u.%u.%u.%u", ip >> 24, (ip >> 16) & 0xff,
             (ip >> 8) & 0xff, ip & 0xff);
}

/* Parses dotted quad 's', zero-padded or not, into '*ip' (host order). */
static bool
parse_ip(const char *s, uint32_t *ip)
{
    unsigned int a, b, c, d;
    char extra;

    if (sscanf(s, "%u.%u.%u.%u%c", &a, &b, &c, &d, &extra) != 4 || a > 255
        || b > 255 || c > 255 || d > 255) {
        return false;
    }
    *ip = a << 24 | b << 16 | c << 8 | d;
    return true;
}

char *
api_ip_key(const char *network, uint32_t ip)
{
    /* Zero-padded, so that a network's addresses sort by value. */
    return xasprintf("%s/%03u.%03u.%03u.%03u", network, ip >> 24,
                     (ip >> 16) & 0xff, (ip >> 8) & 0xff, ip & 0xff);
}

/* State of the search for the lowest free address. */
struct ip_scan {
    const char *prefix; /* "NETWORK/". */
    uint32_t candidate; /* Lowest address not known to be taken. */
    uint32_t last;      /* Last usable address. */
};

static int
ip_scan_cb(const struct store_obj *obj, void *scan_)
{
    struct ip_scan *scan = scan_;
    size_t len = strlen(scan->prefix);
    uint32_t ip;

    if (strncmp(obj->name, scan->prefix, len)
        || !parse_ip(obj->name + len, &ip) || ip > scan->candidate) {
        return API_STOP;
    }
    if (ip == scan->candidate) {
        scan->candidate++;
    }
    return scan->candidate > scan->last ? API_STOP : 0;
}

/* Reads the allocation hint of 'network': every address below it is
 * taken.  Returns 0 if there is none. */
static uint32_t
ipam_hint(struct store_txn *txn, const char *network)
{
    struct store_obj obj;
    uint32_t hint = 0;

    if (!store_get(txn, "ipam", network, &obj)) {
        const char *next = api_get_string(obj.body, "next");

        if (!next || !parse_ip(next, &hint)) {
            hint = 0;
        }
        store_obj_clear(&obj);
    }
    return hint;
}

static int
ipam_set_hint(struct store_txn *txn, const char *network, uint32_t hint)
{
    char buf[16];
    json_t *body;
    int error;

    format_ip(hint, buf);
    body = json_pack("{ss}", "next", buf);
    error = store_put(txn, "ipam", network, body, STORE_ANY, NULL);
    json_decref(body);
    return error;
}

int
api_ipam_allocate(struct store_txn *txn, const char *network, uint32_t net,
                  int prefix, uint32_t *ip)
{
    struct ip_scan scan;
    uint32_t hint;
    char *after;
    int error;

    scan.prefix = NULL;
    scan.candidate = net + 1;
    /* The last usable address is the DHCP server's. */
    scan.last = api_dhcp_server_ip(net, prefix) - 1;
    hint = ipam_hint(txn, network);
    if (hint > scan.candidate && hint <= scan.last + 1) {
        scan.candidate = hint;
    }
    if (scan.candidate > scan.last) {
        return ENOSPC;
    }

    /* The hint makes allocation in a network that only grows one lookup:
     * scan from the hint for the first address without an index entry. */
    scan.prefix = xasprintf("%s/", network);
    after = api_ip_key(network, scan.candidate - 1);
    error = store_list(txn, "ip", after, 0, ip_scan_cb, &scan);
    free(after);
    free((char *) scan.prefix);
    if (error && error != API_STOP) {
        return error;
    }
    if (scan.candidate > scan.last) {
        return ENOSPC;
    }
    *ip = scan.candidate;
    return 0;
}

int
api_mac_allocate(struct store_txn *txn, uint8_t mac[6])
{
    for (int i = 0; i < MAC_ATTEMPTS; i++) {
        char key[ADDR_MAC_STRLEN];
        struct store_obj obj;
        int error;

        mac[0] = 0x02;
        mac[1] = 0xfa;
        if (getrandom(mac + 2, 4, 0) != 4) {
            return errno ? errno : EIO;
        }
        addr_format_mac(mac, key);
        error = store_get(txn, "mac", key, &obj);
        if (error == ENOENT) {
            return 0;
        } else if (error) {
            return error;
        }
        store_obj_clear(&obj);
    }
    return EEXIST;
}

const char *
api_port_status(struct store_txn *txn, const char *name, const char *host,
                char **reason)
{
    static const char *const statuses[] = {"up", "down", "refused", NULL};
    const char *status = "pending";
    struct store_obj obj;

    if (reason) {
        *reason = NULL;
    }
    if (host && !store_get(txn, "port-status", name, &obj)) {
        const char *reported = api_get_string(obj.body, "status");
        const char *on = api_get_string(obj.body, "host");

        /* A report from the port's previous host says nothing about the
         * current one. */
        for (size_t i = 0; on && !strcmp(on, host) && reported && statuses[i];
             i++) {
            if (!strcmp(reported, statuses[i])) {
                status = statuses[i];
            }
        }
        if (reason && !strcmp(status, "refused")) {
            const char *why = api_get_string(obj.body, "reason");

            *reason = xstrdup(why ? why : "its host's agent cannot apply it");
        }
        store_obj_clear(&obj);
    }
    return status;
}

/* Returns why a port on 'host' (NULL: none) is pending, read in 'txn':
 * a port may be placed on a host before it registers, and then waits for
 * it, which an operator who mistyped the host's name must be able to
 * see. */
static json_t *
pending_reason(struct store_txn *txn, const char *host)
{
    struct store_obj obj;
    int error;

    if (!host) {
        return json_string("not placed on a host");
    }
    error = txn ? store_get(txn, "host", host, &obj) : 0;
    if (ENOENT == error) {
        return json_sprintf("host \"%s\" is not registered: the port waits "
                            "for it",
                            host);
    } else if (!error && txn) {
        store_obj_clear(&obj);
    }
    return json_sprintf("the agent of host \"%s\" has not reported it yet",
                        host);
}

int
api_port_check_records(struct api *api, const char *host,
                       const json_t *records, struct api_error *err)
{
    struct store_txn *txn;
    const json_t *record;
    size_t i;
    int status;

    status = api_begin(api, false, &txn, err);
    json_array_foreach(records, i, record)
    {
        const char *name = api_get_string(record, "port");
        const char *network = api_get_string(record, "network");
        const char *on, *in;
        struct store_obj obj;
        char *field;
        int error;

        if (status || !name || !network) {
            /* The records' own checks name what is missing. */
            continue;
        }
        error = store_get(txn, "port", name, &obj);
        if (error && ENOENT != error) {
            status = api_store_error(error, "flow logs", err);
            break;
        }
        on = error ? NULL : api_get_string(obj.body, "host");
        in = error ? NULL : api_get_string(obj.body, "network");
        field = xasprintf("records[%zu].port", i);
        if (error || !on || strcmp(on, host)) {
            char *q = api_quote(name);

            status = api_fail(err, 403, field,
                              "flow logs: record %zu: port %s is not a port "
                              "of host \"%s\": a host posts only the records "
                              "of its own ports",
                              i, q, host);
            free(q);
        } else if (!in || strcmp(in, network)) {
            char *q = api_quote(network);

            free(field);
            field = xasprintf("records[%zu].network", i);
            status = api_fail(err, 403, field,
                              "flow logs: record %zu: network %s: port "
                              "\"%s\" is in network \"%s\"",
                              i, q, name, in ? in : "?");
            free(q);
        }
        free(field);
        if (!error) {
            store_obj_clear(&obj);
        }
    }
    store_abort(txn);
    return status;
}

/* The API form of stored port 'obj', with its status read in 'txn' (an
 * api_out_func; 'api' is not needed).  A refused port says why in
 * "status_reason". */
static json_t *
port_out(struct api *api, struct store_txn *txn, const struct store_obj *obj)
{
    const char *host = api_get_string(obj->body, "host");
    json_t *out = api_object_out(obj);
    struct store_obj index;
    const char *status;
    char *reason;

    status = api_port_status(txn, obj->name, host, &reason);
    json_object_set_new(out, "status", json_string(status));
    if (reason) {
        json_object_set_new(out, "status_reason", json_string(reason));
        free(reason);
    } else if (!strcmp(status, "pending")) {
        json_object_set_new(out, "status_reason", pending_reason(txn, host));
    }
    /* The groups the port is in, named in its "security_groups" or
     * selecting its labels, and the identity that set has: what the
     * firewall goes by. */
    if (txn && !store_get(txn, "port-identity", obj->name, &index)) {
        json_object_set(out, "groups", json_object_get(index.body, "groups"));
        json_object_set(out, "identity",
                        json_object_get(index.body, "identity"));
        store_obj_clear(&index);
    } else {
        json_object_set_new(out, "groups", json_array());
        json_object_set_new(out, "identity", json_integer(0));
    }
    return out;
}

/* Labels and security_groups decide a port's group set, and so its
 * identity (an api_written_func). */
static int
port_written(struct store_txn *txn, const char *name, const json_t *old,
             const json_t *body, const char *what, struct api_error *err)
{
    int error = api_sg_port_sync(txn, name, body);

    return error ? api_sg_sync_error(error, what, err) : 0;
}

static const struct api_kind port_kind = {
    .kind = "port",
    .plural = "ports",
    .fields = port_fields,
    .n_fields = ARRAY_SIZE(port_fields),
    .out = port_out,
    .written = port_written,
};

/* Checks "security_groups" of 'in' in 'txn' and copies it into 'body'
 * (null or an empty list removes it). */
static int
apply_security_groups(struct store_txn *txn, const json_t *in, json_t *body,
                      const char *what, struct api_error *err)
{
    const json_t *groups = json_object_get(in, "security_groups");
    int status = api_sg_check_port_groups(txn, groups, what, err);

    if (status || !groups) {
        return status;
    }
    if (json_array_size(groups)) {
        json_object_set(body, "security_groups", (json_t *) groups);
    } else {
        json_object_del(body, "security_groups");
    }
    return 0;
}

/* Creates index object ('kind', 'key') with 'body' for 'what', or answers
 * 409 naming 'field' 'value' and the port that holds it already. */
static int
claim(struct store_txn *txn, const char *kind, const char *key, json_t *body,
      const char *what, const char *field, const char *value,
      struct api_error *err)
{
    struct store_obj owner;
    int error = store_get(txn, kind, key, &owner);

    if (!error) {
        const char *port = api_get_string(owner.body, "port");

        api_fail(err, 409, field, "%s: %s %s: in use by %s \"%s\"", what,
                 field, value, port ? "port" : "external VTEP",
                 port ?: api_get_string(owner.body, "external_vtep") ?: "?");
        store_obj_clear(&owner);
        return 409;
    } else if (error != ENOENT) {
        return api_store_error(error, what, err);
    }
    error = store_put(txn, kind, key, body, STORE_CREATE, NULL);
    return error ? api_store_error(error, what, err) : 0;
}

/* Returns the MTU of network 'network' in 'txn' into '*mtu'. */
static int
network_mtu(struct store_txn *txn, const char *network, json_int_t *mtu,
            const char *what, struct api_error *err)
{
    struct store_obj obj;
    int error = store_get(txn, "network", network, &obj);

    if (error) {
        return api_store_error(error, what, err);
    }
    *mtu = json_integer_value(json_object_get(obj.body, "mtu"));
    store_obj_clear(&obj);
    return 0;
}

/* A network's ports by host, while counting them from its "net-port" index
 * for a network that has no flood index yet. */
struct flood_count {
    const char *prefix; /* "NETWORK/", of its "net-port" index. */
    const char *port;   /* The port being placed, whose old place does
                         * not count, or NULL. */
    json_t *hosts;      /* Host name -> its ports in the network. */
};

static int
flood_count_cb(const struct store_obj *index, void *fc_)
{
    struct flood_count *fc = fc_;
    size_t len = strlen(fc->prefix);
    const char *host = api_get_string(index->body, "host");

    if (strncmp(index->name, fc->prefix, len)) {
        return API_STOP;
    }
    if (host && (!fc->port || strcmp(index->name + len, fc->port))) {
        json_int_t n = json_integer_value(json_object_get(fc->hosts, host));

        json_object_set_new(fc->hosts, host, json_integer(n + 1));
    }
    return 0;
}

/* Added to a slack before it is written into a "flood-slack" name, so that
 * negative ones (a limit lowered below what a host carries) sort first
 * too. */
#define FLOOD_SLACK_BIAS INT64_C(1000000000000000)

/* The "flood_members" limit of host body 'host' (NULL: not registered),
 * or -1 for none. */
static json_int_t
flood_limit(const json_t *host)
{
    const json_t *max =
        json_object_get(json_object_get(host, "limits"), "flood_members");

    return json_is_integer(max) ? json_integer_value(max) : -1;
}

/* Writes (with 'keep') or deletes the "flood-slack" entry of host 'host',
 * of limit 'limit' with 'ports' ports, in network 'network'. */
static int
flood_slack_put(struct store_txn *txn, const char *network, const char *host,
                json_int_t limit, json_int_t ports, bool keep)
{
    char *key = xasprintf("%s/%020" PRId64 "/%s", network,
                          (int64_t) (limit - ports) + FLOOD_SLACK_BIAS, host);
    int error;

    if (keep) {
        json_t *body = json_pack("{sIsI}", "limit", limit, "ports", ports);

        error = store_put(txn, "flood-slack", key, body, STORE_ANY, NULL);
        json_decref(body);
    } else {
        error = store_delete(txn, "flood-slack", key, STORE_ANY);
        error = error == ENOENT ? 0 : error;
    }
    free(key);
    return error;
}

/* Moves host 'host''s entries in network 'network''s flood index from
 * 'ports' ports and host body 'old' to 'new_ports' and 'new' (bodies NULL:
 * not registered) and adds to '*registered' the change in registered
 * hosts with ports in the network. */
static int
flood_move(struct store_txn *txn, const char *network, const char *host,
           json_int_t ports, const json_t *old, json_int_t new_ports,
           const json_t *new, json_int_t *registered)
{
    json_int_t old_limit = flood_limit(old), new_limit = flood_limit(new);
    char *key = xasprintf("%s/%s", network, host);
    int error = 0;

    if (ports != new_ports && new_ports > 0) {
        json_t *body = json_pack("{sI}", "ports", new_ports);

        error = store_put(txn, "net-host", key, body, STORE_ANY, NULL);
        json_decref(body);
    } else if (ports != new_ports) {
        error = store_delete(txn, "net-host", key, STORE_ANY);
        error = error == ENOENT ? 0 : error;
    }
    if (!error && old_limit >= 0 && ports > 0
        && (new_limit != old_limit || new_ports != ports)) {
        error = flood_slack_put(txn, network, host, old_limit, ports, false);
    }
    if (!error && new_limit >= 0 && new_ports > 0
        && (new_limit != old_limit || new_ports != ports)) {
        error =
            flood_slack_put(txn, network, host, new_limit, new_ports, true);
    }
    *registered += (new &&new_ports > 0) - (old && ports > 0);
    free(key);
    return error;
}

/* Reads into '*ports' how many ports of network 'network' are placed on
 * host 'host' by its "net-host" index (0 for none). */
static int
net_host_ports(struct store_txn *txn, const char *network, const char *host,
               json_int_t *ports)
{
    char *key = xasprintf("%s/%s", network, host);
    struct store_obj obj;
    int error = store_get(txn, "net-host", key, &obj);

    *ports = 0;
    if (!error) {
        *ports = json_integer_value(json_object_get(obj.body, "ports"));
        store_obj_clear(&obj);
    }
    free(key);
    return error == ENOENT ? 0 : error;
}

/* Makes network 'network''s flood index, once, from what came before it:
 * the "net-hosts" summary {"hosts": {H: n}} of older stores, or, without
 * one, the network's "net-port" index leaving out port 'port' (NULL:
 * none), in which case '*counted' is set.  Reads every host of the
 * network once; every later placement reads only its own. */
static int
flood_index_build(struct store_txn *txn, const char *network, const char *port,
                  const json_t *old, json_int_t *registered, bool *counted)
{
    struct flood_count fc = {
        .prefix = xasprintf("%s/", network),
        .port = port,
        .hosts = json_deep_copy(json_object_get(old, "hosts")),
    };
    const char *host;
    json_t *n, *body;
    int error = 0;

    *registered = 0;
    *counted = !json_is_object(fc.hosts);
    if (*counted) {
        json_decref(fc.hosts);
        fc.hosts = json_object();
        error = store_list(txn, "net-port", fc.prefix, 0, flood_count_cb, &fc);
        error = error == API_STOP ? 0 : error;
    }
    json_object_foreach(fc.hosts, host, n)
    {
        struct store_obj h;

        if (error || json_integer_value(n) <= 0) {
            continue;
        }
        error = store_get(txn, "host", host, &h);
        if (!error) {
            error = flood_move(txn, network, host, 0, NULL,
                               json_integer_value(n), h.body, registered);
            store_obj_clear(&h);
        } else if (error == ENOENT) {
            error = flood_move(txn, network, host, 0, NULL,
                               json_integer_value(n), NULL, registered);
        }
    }
    if (!error) {
        body = json_pack("{sI}", "registered", *registered);
        error = store_put(txn, "net-hosts", network, body, STORE_ANY, NULL);
        json_decref(body);
    }
    free((char *) fc.prefix);
    json_decref(fc.hosts);
    return error;
}

/* Reads into '*registered' how many registered hosts have ports of network
 * 'network', from its "net-hosts" object, which a network's flood index
 * keeps beside its "net-host" and "flood-slack" entries; makes the index
 * first if the network has none yet (see flood_index_build(), which sets
 * '*counted'). */
static int
flood_index_load(struct store_txn *txn, const char *network, const char *port,
                 json_int_t *registered, bool *counted)
{
    struct store_obj obj = {.body = NULL};
    int error = store_get(txn, "net-hosts", network, &obj);

    *counted = false;
    if (error && error != ENOENT) {
        return error;
    }
    if (!error && json_is_integer(json_object_get(obj.body, "registered"))) {
        *registered =
            json_integer_value(json_object_get(obj.body, "registered"));
    } else {
        error = flood_index_build(txn, network, port, error ? NULL : obj.body,
                                  registered, counted);
    }
    store_obj_clear(&obj);
    return error;
}

/* Writes network 'network''s count of registered hosts with its ports. */
static int
flood_index_save(struct store_txn *txn, const char *network,
                 json_int_t registered)
{
    json_t *body = json_pack("{sI}", "registered", registered);
    int error = store_put(txn, "net-hosts", network, body, STORE_ANY, NULL);

    json_decref(body);
    return error;
}

/* What a network's flood index holds about one of its hosts. */
struct flood_here {
    json_int_t registered; /* Registered hosts with ports of the network. */
    json_int_t ports;      /* The network's ports on the host. */
    bool counted;          /* The index was just counted from the ports. */
};

/* Reads into '*fh' what network 'network''s flood index holds about host
 * 'host' (NULL: none, only the count), making the index first if the
 * network has none (see flood_index_load() for 'port'). */
static int
flood_here_read(struct store_txn *txn, const char *network, const char *port,
                const char *host, struct flood_here *fh)
{
    int error =
        flood_index_load(txn, network, port, &fh->registered, &fh->counted);

    fh->ports = 0;
    return error || !host ? error
                          : net_host_ports(txn, network, host, &fh->ports);
}

/* Adds 'delta' (1 or -1) to the ports of network 'network' placed on host
 * 'host' (body 'h', NULL if not registered), of which the network's flood
 * index holds '*fh', read in this transaction.  The index keeps them per
 * host ("net-host"), ordered by how close each registered host is to its
 * flood list limit ("flood-slack"), and the number of registered hosts
 * with ports ("net-hosts"), so that a placement reads and writes a few
 * small objects whatever the number of hosts.  An index just counted from
 * the network's ports left out the one moving: a removal then has nothing
 * left to change. */
static int
flood_here_add(struct store_txn *txn, const char *network, const char *host,
               const json_t *h, const struct flood_here *fh, int delta)
{
    json_int_t registered = fh->registered;
    int error;

    if ((fh->counted && delta < 0) || fh->ports + delta < 0) {
        return 0;
    }
    error = flood_move(txn, network, host, fh->ports, h, fh->ports + delta, h,
                       &registered);
    if (!error && registered != fh->registered) {
        error = flood_index_save(txn, network, registered);
    }
    return error;
}

/* The first "flood-slack" entry of a network that is not its 'skip'
 * host's. */
struct flood_tight {
    const char *prefix; /* "NETWORK/". */
    const char *skip;   /* A host name, or NULL. */
    char *host;         /* Found: its host, its limit and its ports. */
    json_int_t limit, ports;
};

static int
flood_tight_cb(const struct store_obj *obj, void *ft_)
{
    struct flood_tight *ft = ft_;
    size_t len = strlen(ft->prefix);
    const char *host;

    if (strncmp(obj->name, ft->prefix, len)
        || !(host = strchr(obj->name + len, '/'))) {
        return API_STOP;
    }
    host++;
    if (ft->skip && !strcmp(host, ft->skip)) {
        return 0;
    }
    ft->host = xstrdup(host);
    ft->limit = json_integer_value(json_object_get(obj->body, "limit"));
    ft->ports = json_integer_value(json_object_get(obj->body, "ports"));
    return API_STOP;
}

/* Fails with 409 if a host carrying 'local' ports of network 'network',
 * 'others' other registered hosts and 'n_external' external VTEPs has more
 * flood list members than its 'limit' (-1: none). */
static int
flood_fail(const char *network, const char *host, json_int_t limit,
           json_int_t local, json_int_t others, size_t n_external,
           const char *field, const char *what, struct api_error *err)
{
    json_int_t total = local + others + (json_int_t) n_external;
    char *externals;
    int status;

    if (limit < 0 || total <= limit) {
        return 0;
    }
    externals = n_external ? xasprintf(", plus %zu external VTEPs", n_external)
                           : xstrdup("");
    status =
        api_fail(err, 409, field,
                 "%s: network \"%s\" would have %" JSON_INTEGER_FORMAT
                 " flood list members on host \"%s\" (%" JSON_INTEGER_FORMAT
                 " local ports and %" JSON_INTEGER_FORMAT " other hosts%s), "
                 "more than the %" JSON_INTEGER_FORMAT " its datapath holds "
                 "(place the port on a host the network already has, or split "
                 "the network)",
                 what, network, total, host, local, others, externals, limit);
    free(externals);
    return status;
}

/* api_check_flood_lists() for host 'host' whose body is 'h' (NULL: not
 * registered). */
static int
check_flood_lists(struct store_txn *txn, const char *port, const char *network,
                  const char *host, const json_t *h, struct flood_here *fh,
                  const char *field, const char *what, struct api_error *err)
{
    struct flood_tight ft = {.skip = host};
    json_int_t registered, ports = 0;
    size_t n_external = 0;
    int status = 0, error;

    /* A moving port was taken out of the index when it left its old host;
     * an index made now leaves it out too. */
    error = flood_here_read(txn, network, port, host, fh);
    registered = fh->registered;
    if (!error) {
        error = api_external_vtep_count(txn, network, &n_external);
    }
    if (h) {
        ports = fh->ports;
        registered += ports == 0;
    }
    if (!error) {
        ft.prefix = xasprintf("%s/", network);
        error =
            store_list(txn, "flood-slack", ft.prefix, 0, flood_tight_cb, &ft);
        error = error == API_STOP ? 0 : error;
        free((char *) ft.prefix);
    }
    if (error) {
        free(ft.host);
        return api_store_error(error, what, err);
    }
    if (h) {
        status = flood_fail(network, host, flood_limit(h), ports + 1,
                            registered - 1, n_external, field, what, err);
    }
    if (!status && ft.host) {
        status = flood_fail(network, ft.host, ft.limit, ft.ports,
                            registered - 1, n_external, field, what, err);
    }
    free(ft.host);
    return status;
}

int
api_check_flood_lists(struct store_txn *txn, const char *port,
                      const char *network, const char *host, const char *field,
                      const char *what, struct api_error *err)
{
    struct store_obj h = {.body = NULL};
    int status, error = host ? store_get(txn, "host", host, &h) : ENOENT;
    struct flood_here fh;

    if (error && error != ENOENT) {
        return api_store_error(error, what, err);
    }
    status = check_flood_lists(txn, port, network, host, h.body, &fh, field,
                               what, err);
    if (h.body) {
        store_obj_clear(&h);
    }
    return status;
}

/* Brings every flood index entry of host 'name' (in the networks it has
 * ports of) in line with its body moving from 'old' to 'new' (NULL: not
 * registered): a registration, a deletion or a new limit.  Reads the host's
 * ports only when its limit or registration changed. */
struct host_networks {
    const char *prefix; /* "HOST/", of its "host-port" index. */
    json_t *ports;      /* The names of the host's ports. */
};

static int
host_ports_cb(const struct store_obj *index, void *hn_)
{
    struct host_networks *hn = hn_;
    size_t len = strlen(hn->prefix);

    if (strncmp(index->name, hn->prefix, len)) {
        return API_STOP;
    }
    json_array_append_new(hn->ports, json_string(index->name + len));
    return 0;
}

int
api_flood_host_sync(struct store_txn *txn, const char *name, const json_t *old,
                    const json_t *new)
{
    struct host_networks hn = {
        .prefix = xasprintf("%s/", name),
        .ports = json_array(),
    };
    json_t *networks = json_object(), *value;
    const char *network;
    int error = 0;
    size_t i;

    if (!old != !new || flood_limit(old) != flood_limit(new)) {
        error = store_list(txn, "host-port", hn.prefix, 0, host_ports_cb, &hn);
        error = error == API_STOP ? 0 : error;
    }
    json_array_foreach(hn.ports, i, value)
    {
        struct store_obj port;

        if (!error) {
            error = store_get(txn, "port", json_string_value(value), &port);
            if (!error) {
                network = api_get_string(port.body, "network");
                if (network) {
                    json_object_set_new(networks, network, json_true());
                }
                store_obj_clear(&port);
            }
            error = error == ENOENT ? 0 : error;
        }
    }
    json_object_foreach(networks, network, value)
    {
        struct store_obj obj;
        json_int_t registered, was, ports;

        if (error) {
            break;
        }
        /* A network without an index yet reads every host when it makes
         * one. */
        error = store_get(txn, "net-hosts", network, &obj);
        if (error) {
            error = error == ENOENT ? 0 : error;
            continue;
        }
        was = registered =
            json_integer_value(json_object_get(obj.body, "registered"));
        if (json_is_integer(json_object_get(obj.body, "registered"))) {
            error = net_host_ports(txn, network, name, &ports);
            if (!error && ports) {
                error = flood_move(txn, network, name, ports, old, ports, new,
                                   &registered);
            }
            if (!error && registered != was) {
                error = flood_index_save(txn, network, registered);
            }
        }
        store_obj_clear(&obj);
    }
    json_decref(networks);
    json_decref(hn.ports);
    free((char *) hn.prefix);
    return error;
}

/* Places port 'port' of network 'network' with device 'device' on 'host':
 * checks that the host carries the network's MTU and that every host of
 * the network keeps a flood list its datapath holds, claims the device
 * name on that host and adds the port to the host's index. */
static int
place(struct store_txn *txn, const char *port, const char *network,
      const char *host, const char *device, const char *what,
      struct api_error *err)
{
    char *key = xasprintf("%s/%s", host, device);
    json_t *index = json_pack("{ss}", "port", port);
    struct store_obj h = {.body = NULL};
    char *q = api_quote(device);
    struct flood_here fh;
    bool checked = false;
    int status, error;

    error = store_get(txn, "host", host, &h);
    if (!error) {
        const char *underlay = api_get_string(h.body, "underlay");
        json_int_t mtu = 0;

        if (underlay && !strcmp(underlay, device)) {
            status = api_fail(
                err, 409, "device",
                "%s: device %s: is the underlay device of host \"%s\"", what,
                q, host);
            store_obj_clear(&h);
            goto out;
        }
        status = network_mtu(txn, network, &mtu, what, err);
        if (!status) {
            status = api_host_check_mtu(host, h.body, network, mtu, what, err);
        }
        if (!status) {
            status = check_flood_lists(txn, port, network, host, h.body, &fh,
                                       "host", what, err);
            checked = !status;
        }
        if (status) {
            goto out;
        }
    } else if (error != ENOENT) {
        status = api_store_error(error, what, err);
        goto out;
    }

    status = claim(txn, "device", key, index, what, "device", q, err);
    if (status == 409) {
        /* Say where, and what to do: the default device name keeps only
         * the first 12 characters of the port's name. */
        char *msg =
            xasprintf("%s on host \"%s\" (give the port another \"device\")",
                      err->message, host);

        free(err->message);
        err->message = msg;
    }
    if (!status) {
        char *hp = xasprintf("%s/%s", host, port);
        json_t *empty = json_object();

        error = store_put(txn, "host-port", hp, empty, STORE_ANY, NULL);
        if (!error) {
            /* What the check read is still so: nothing in between
             * touched the flood index. */
            error =
                checked ? 0 : flood_here_read(txn, network, port, host, &fh);
        }
        if (!error) {
            error = flood_here_add(txn, network, host, h.body, &fh, 1);
        }
        if (error) {
            status = api_store_error(error, what, err);
        }
        json_decref(empty);
        free(hp);
    }

out:
    if (h.body) {
        store_obj_clear(&h);
    }
    json_decref(index);
    free(key);
    free(q);
    return status;
}

/* Undoes place(). */
static int
unplace(struct store_txn *txn, const char *port, const char *network,
        const char *host, const char *device)
{
    char *key = xasprintf("%s/%s", host, device);
    char *hp = xasprintf("%s/%s", host, port);
    struct store_obj h = {.body = NULL};
    struct flood_here fh;
    int error;

    error = store_delete(txn, "device", key, STORE_ANY);
    if (!error || error == ENOENT) {
        error = store_delete(txn, "host-port", hp, STORE_ANY);
    }
    if (!error || error == ENOENT) {
        error = store_get(txn, "host", host, &h);
    }
    if (!error || error == ENOENT) {
        error = flood_here_read(txn, network, port, host, &fh);
    }
    if (!error) {
        error = flood_here_add(txn, network, host, h.body, &fh, -1);
    }
    if (h.body) {
        store_obj_clear(&h);
    }
    free(key);
    free(hp);
    return error == ENOENT ? 0 : error;
}

/* Writes the network's index entry for port 'name' from its 'body'. */
static int
put_net_port(struct store_txn *txn, const char *name, const json_t *body)
{
    char *key = xasprintf("%s/%s", api_get_string(body, "network"), name);
    json_t *index = json_pack("{sOsO}", "mac", json_object_get(body, "mac"),
                              "ip", json_object_get(body, "ip"));
    const json_t *host = json_object_get(body, "host");
    int error;

    if (host) {
        json_object_set(index, "host", (json_t *) host);
    }
    error = store_put(txn, "net-port", key, index, STORE_ANY, NULL);
    json_decref(index);
    free(key);
    return error;
}

/* Checks the values of the port fields given in 'in' for creation. */
static int
check_create(const json_t *in, const char *what, struct api_error *err)
{
    const char *s;
    int status;

    status =
        api_check_name(api_get_string(in, "network"), "network", what, err);
    if (!status && (s = api_get_string(in, "host"))) {
        status = api_check_name(s, "host", what, err);
    }
    if (!status && (s = api_get_string(in, "device"))
        && !api_device_is_valid(s)) {
        char *q = api_quote(s);

        status = api_fail(err, 400, "device",
                          "%s: device %s: must be 1 to %d characters without "
                          "\"/\", \":\" or spaces",
                          what, q, API_DEVICE_MAX);
        free(q);
    }
    if (!status && (s = api_get_string(in, "mac"))) {
        uint8_t mac[6];
        const char *problem = NULL;

        if (!addr_parse_mac(s, mac)) {
            problem = "not a MAC address (expected xx:xx:xx:xx:xx:xx)";
        } else if (mac[0] & 1) {
            problem = "a multicast MAC (expected a unicast MAC: the low bit "
                      "of the first byte clear)";
        } else if (addr_mac_is_zero(mac)) {
            problem = "the zero MAC (expected a unicast MAC)";
        }
        if (problem) {
            char *q = api_quote(s);

            status =
                api_fail(err, 400, "mac", "%s: mac %s: %s", what, q, problem);
            free(q);
        }
    }
    if (!status && (s = api_get_string(in, "ip"))) {
        uint32_t ip;

        if (!parse_ip(s, &ip) || !addr_parse_ipv4(s, &ip)) {
            char *q = api_quote(s);

            status = api_fail(
                err, 400, "ip",
                "%s: ip %s: not an IPv4 address (expected a.b.c.d)", what, q);
            free(q);
        }
    }
    if (!status) {
        status = api_check_labels(json_object_get(in, "labels"), "labels",
                                  false, what, err);
    }
    if (!status) {
        status = api_check_description(json_object_get(in, "description"),
                                       what, err);
    }
    return status;
}

/* Reads 'network' in 'txn' for 'what': its address range (host order)
 * and its CIDR as text into 'cidr_buf'. */
static int
read_network(struct store_txn *txn, const char *network, const char *what,
             uint32_t *net, int *prefix, char cidr_buf[24],
             struct api_error *err)
{
    struct store_obj obj;
    const char *cidr;
    int error = store_get(txn, "network", network, &obj);

    if (error == ENOENT) {
        return api_fail(err, 400, "network",
                        "%s: network \"%s\": no such network", what, network);
    } else if (error) {
        return api_store_error(error, what, err);
    }
    cidr = api_get_string(obj.body, "cidr");
    if (!cidr || api_parse_cidr(cidr, net, prefix)) {
        store_obj_clear(&obj);
        return api_fail(err, 500, NULL,
                        "%s: network \"%s\" has a corrupt cidr in the store",
                        what, network);
    }
    snprintf(cidr_buf, 24, "%s", cidr);
    store_obj_clear(&obj);
    return 0;
}

/* Claims the port's address: 'given' if not NULL, or else the lowest free
 * one.  Stores it into 'body' as "ip". */
static int
claim_ip(struct store_txn *txn, const char *name, const char *network,
         const char *given, json_t *body, const char *what,
         struct api_error *err)
{
    uint32_t net, ip, mask;
    json_t *index;
    char cidr[24];
    char buf[16];
    char *key;
    int prefix;
    int status, error;

    status = read_network(txn, network, what, &net, &prefix, cidr, err);
    if (status) {
        return status;
    }
    mask = UINT32_MAX << (32 - prefix);
    if (given) {
        parse_ip(given, &ip);
        format_ip(ip, buf);
        if ((ip & mask) != net) {
            return api_fail(err, 400, "ip",
                            "%s: ip \"%s\": not inside network \"%s\" (%s)",
                            what, buf, network, cidr);
        }
        if (ip == net || ip == (net | ~mask)) {
            return api_fail(err, 400, "ip",
                            "%s: ip \"%s\": the %s address of network \"%s\" "
                            "cannot be given to a port",
                            what, buf, ip == net ? "network" : "broadcast",
                            network);
        }
        if (ip == api_dhcp_server_ip(net, prefix)) {
            return api_fail(err, 400, "ip",
                            "%s: ip \"%s\": the fabric's DHCP server address "
                            "of network \"%s\" (its last usable one) cannot "
                            "be given to a port",
                            what, buf, network);
        }
    } else {
        error = api_ipam_allocate(txn, network, net, prefix, &ip);
        if (error == ENOSPC) {
            return api_fail(err, 409, "ip",
                            "%s: network \"%s\" has no free address left",
                            what, network);
        } else if (error) {
            return api_store_error(error, what, err);
        }
        error = ipam_set_hint(txn, network, ip + 1);
        if (error) {
            return api_store_error(error, what, err);
        }
        format_ip(ip, buf);
    }

    key = api_ip_key(network, ip);
    index = json_pack("{ss}", "port", name);
    status = claim(txn, "ip", key, index, what, "ip", buf, err);
    if (status == 409) {
        char *msg = xasprintf("%s in network \"%s\"", err->message, network);

        free(err->message);
        err->message = msg;
    }
    json_decref(index);
    free(key);
    json_object_set_new(body, "ip", json_string(buf));
    return status;
}

/* Claims the port's MAC: 'given' if not NULL, or else a random free one.
 * Stores it into 'body' as "mac". */
static int
claim_mac(struct store_txn *txn, const char *name, const char *given,
          json_t *body, const char *what, struct api_error *err)
{
    char buf[ADDR_MAC_STRLEN];
    uint8_t mac[6];
    json_t *index;
    int status;

    if (given) {
        addr_parse_mac(given, mac);
    } else {
        int error = api_mac_allocate(txn, mac);

        if (error) {
            return api_store_error(error, what, err);
        }
    }
    addr_format_mac(mac, buf);
    index = json_pack("{ss}", "port", name);
    status = claim(txn, "mac", buf, index, what, "mac", buf, err);
    json_decref(index);
    json_object_set_new(body, "mac", json_string(buf));
    return status;
}

/* Makes the body of new port 'name' from input 'in' (checked against its
 * fields) in 'txn': checks the values, claims its address, MAC and device
 * and places it on its host, writing the index objects that go with them,
 * but not the port itself.  Returns 0 or the error status for 'what'. */
static int
build_port(struct store_txn *txn, const char *name, const json_t *in,
           json_t *body, const char *what, struct api_error *err)
{
    const char *network = api_get_string(in, "network");
    const char *host = api_get_string(in, "host");
    int status, error;

    status = check_create(in, what, err);
    if (!status) {
        status = api_qos_check_ref(txn, json_object_get(in, "qos"), "qos",
                                   what, err);
    }
    if (!status) {
        status = apply_security_groups(txn, in, body, what, err);
    }
    if (status) {
        return status;
    }
    json_object_set_new(body, "network", json_string(network));
    status = claim_ip(txn, name, network, api_get_string(in, "ip"), body, what,
                      err);
    if (!status) {
        status =
            claim_mac(txn, name, api_get_string(in, "mac"), body, what, err);
    }
    if (status) {
        return status;
    }
    if (json_object_get(in, "device")) {
        json_object_set(body, "device", json_object_get(in, "device"));
    } else {
        json_object_set_new(body, "device", json_sprintf("fp-%.12s", name));
    }
    if (host) {
        json_object_set_new(body, "host", json_string(host));
        status = place(txn, name, network, host,
                       api_get_string(body, "device"), what, err);
        if (status) {
            return status;
        }
    }
    if (json_object_get(in, "labels")) {
        json_object_set(body, "labels", json_object_get(in, "labels"));
    } else {
        json_object_set_new(body, "labels", json_object());
    }
    if (json_object_get(in, "description")) {
        json_object_set(body, "description",
                        json_object_get(in, "description"));
    }
    if (json_is_string(json_object_get(in, "qos"))) {
        json_object_set(body, "qos", json_object_get(in, "qos"));
    }
    if (json_object_get(in, "vm")) {
        json_object_set(body, "vm", json_object_get(in, "vm"));
    }
    error = put_net_port(txn, name, body);
    return error ? api_store_error(error, what, err) : 0;
}

int
api_port_create(struct api *api, const json_t *in, json_t **out,
                struct api_error *err)
{
    const char *name = api_get_string(in, "name");
    char *what = api_what("port", name);
    struct store_txn *txn = NULL;
    json_t *body = json_object();
    int status;

    status = api_check_input(in, port_fields, ARRAY_SIZE(port_fields), what,
                             NULL, false, err);
    if (!status) {
        status = api_check_name(name, "name", what, err);
    }
    if (!status) {
        status = api_kind_create_begin(api, &port_kind, name, what, &txn, err);
    }
    if (!status) {
        status = build_port(txn, name, in, body, what, err);
    }
    if (!status) {
        status = api_kind_create_finish(api, &port_kind, name, what, &txn,
                                        body, out, err);
    }
    store_abort(txn);
    json_decref(body);
    free(what);
    return status;
}

int
api_port_add(struct store_txn *txn, const char *name, const json_t *in,
             const char *what, struct api_error *err)
{
    json_t *body = json_object();
    int status;

    status = api_check_absent(txn, "port", name, what, err);
    if (!status) {
        status = build_port(txn, name, in, body, what, err);
    }
    if (!status) {
        status = api_kind_insert(txn, &port_kind, name, body, what, err);
    }
    json_decref(body);
    return status;
}

int
api_port_get(struct api *api, const char *name, json_t **out,
             struct api_error *err)
{
    return api_kind_get(api, &port_kind, name, out, err);
}

/* A port list in the making. */
struct port_filter {
    struct store_txn *txn; /* Where to read ports. */
    const char *network;   /* Only ports of this network, or NULL. */
    const char *host;      /* Only ports on this host, or NULL. */
    json_t *labels;        /* Array of "KEY=VALUE" or "KEY" that every
                            * port must match. */
    const char *prefix;    /* Index name prefix when iterating an
                            * index ("NETWORK/", "HOST/"), or NULL. */
    size_t want;           /* Items wanted: the limit plus one. */
    json_t *items;         /* The ports found. */
    int error;             /* A store failure, or 0. */
};

static bool
port_matches(const struct port_filter *f, const json_t *body)
{
    const json_t *labels = json_object_get(body, "labels");
    const char *host = api_get_string(body, "host");
    const json_t *want;
    size_t i;

    if (f->network && strcmp(f->network, api_get_string(body, "network"))) {
        return false;
    }
    if (f->host && (!host || strcmp(f->host, host))) {
        return false;
    }
    json_array_foreach(f->labels, i, want)
    {
        const char *s = json_string_value(want);
        const char *eq = strchr(s, '=');
        char *key = eq ? xasprintf("%.*s", (int) (eq - s), s) : xstrdup(s);
        const char *value = api_get_string(labels, key);

        free(key);
        if (!value || (eq && strcmp(value, eq + 1))) {
            return false;
        }
    }
    return true;
}

/* Adds port 'obj' to 'f' if it matches.  Stops when 'f' is full. */
static int
filter_port(struct port_filter *f, const struct store_obj *obj)
{
    if (port_matches(f, obj->body)) {
        json_array_append_new(f->items, port_out(NULL, f->txn, obj));
    }
    return json_array_size(f->items) >= f->want ? API_STOP : 0;
}

static int
port_list_cb(const struct store_obj *obj, void *f)
{
    return filter_port(f, obj);
}

/* Visits the ports named by a "net-port" or "host-port" index. */
static int
port_index_cb(const struct store_obj *index, void *f_)
{
    struct port_filter *f = f_;
    size_t len = strlen(f->prefix);
    const char *host = api_get_string(index->body, "host");
    struct store_obj obj;
    int error;

    if (strncmp(index->name, f->prefix, len)) {
        return API_STOP;
    }
    if (f->host && f->network && (!host || strcmp(host, f->host))) {
        /* Saves reading a port the host filter rejects anyway. */
        return 0;
    }
    error = store_get(f->txn, "port", index->name + len, &obj);
    if (error == ENOENT) {
        return 0;
    } else if (error) {
        f->error = error;
        return API_STOP;
    }
    error = filter_port(f, &obj);
    store_obj_clear(&obj);
    return error;
}

/* Reads the label filters of 'query' into 'f'. */
static int
parse_label_filters(const json_t *query, struct port_filter *f,
                    struct api_error *err)
{
    const json_t *labels = json_object_get(query, "label");
    const json_t *value;
    size_t i;

    f->labels = json_array();
    if (json_is_string(labels)) {
        json_array_append(f->labels, (json_t *) labels);
    } else if (json_is_array(labels)) {
        json_array_extend(f->labels, (json_t *) labels);
    }
    json_array_foreach(f->labels, i, value)
    {
        const char *s = json_string_value(value);

        if (!s || !*s || *s == '=' || strchr(s, ',')) {
            return api_fail(err, 400, "label",
                            "listing ports: label \"%s\": expected KEY=VALUE "
                            "or KEY (repeat label= for several)",
                            s ? s : "");
        }
    }
    return 0;
}

int
api_port_list(struct api *api, const json_t *query, json_t **out,
              struct api_error *err)
{
    static const char *const extra[] = {"network", "host", "label", NULL};
    struct port_filter f = {.labels = NULL};
    const char *page_token, *kind;
    char *after = NULL;
    size_t limit;
    int status, error;

    status = api_list_query(query, "ports", extra, &limit, &page_token, err);
    if (status) {
        return status;
    }
    f.network = api_get_string(query, "network");
    f.host = api_get_string(query, "host");
    status = parse_label_filters(query, &f, err);
    if (!status && f.network) {
        status = api_check_name(f.network, "network", "listing ports", err);
    }
    if (!status && f.host) {
        status = api_check_name(f.host, "host", "listing ports", err);
    }
    if (!status) {
        status = api_begin(api, false, &f.txn, err);
    }
    if (!status && f.network) {
        /* An empty list would say the network is there and empty.  Hosts
         * are not checked: ports may wait for a host to register. */
        struct store_obj net;

        error = store_get(f.txn, "network", f.network, &net);
        if (!error) {
            store_obj_clear(&net);
        } else {
            status = ENOENT == error
                         ? api_fail(err, 404, "network",
                                    "listing ports: network \"%s\": not "
                                    "found",
                                    f.network)
                         : api_store_error(error, "listing ports", err);
            store_abort(f.txn);
        }
    }
    if (status) {
        json_decref(f.labels);
        return status;
    }

    f.want = limit + 1;
    f.items = json_array();
    if (f.network || f.host) {
        /* Walk the smaller index: a network's or a host's ports. */
        kind = f.network ? "net-port" : "host-port";
        f.prefix = xasprintf("%s/", f.network ? f.network : f.host);
        after = xasprintf("%s%s", f.prefix, page_token ? page_token : "");
        error = store_list(f.txn, kind, after, 0, port_index_cb, &f);
    } else {
        error = store_list(f.txn, "port", page_token, 0, port_list_cb, &f);
    }
    store_abort(f.txn);
    if (error == API_STOP) {
        error = f.error;
    }
    free(after);
    free((char *) f.prefix);
    json_decref(f.labels);
    if (error) {
        json_decref(f.items);
        return api_store_error(error, "listing ports", err);
    }
    *out = api_list_page(f.items, limit);
    return 200;
}

/* Whether port body 'new' places the port elsewhere than 'old'. */
static bool
moved(const json_t *old, const json_t *new)
{
    const char *a = api_get_string(old, "host");
    const char *b = api_get_string(new, "host");

    return !a != !b || (a && strcmp(a, b));
}

/* Applies the mutable fields of merge patch 'in' to port 'name', whose
 * stored body is 'old', giving 'body'. */
static int
patch_port(struct store_txn *txn, const char *name, const json_t *in,
           const json_t *old, json_t *body, const char *what,
           struct api_error *err)
{
    const char *old_host = api_get_string(old, "host");
    const char *device = api_get_string(old, "device");
    const json_t *value;
    int status, error;

    status =
        api_check_description(json_object_get(in, "description"), what, err);
    if (!status) {
        status = api_check_labels(json_object_get(in, "labels"), "labels",
                                  true, what, err);
    }
    if (status) {
        return status;
    }

    value = json_object_get(in, "host");
    if (value && api_get_string(old, "vm")
        && !json_equal(value, json_object_get(old, "host"))) {
        return api_fail(err, 409, "host",
                        "%s: is a NIC of VM \"%s\" and is on its host "
                        "(a VM's ports move with it)",
                        what, api_get_string(old, "vm"));
    }
    if (value) {
        const char *host = json_string_value(value);

        if (host) {
            status = api_check_name(host, "host", what, err);
            if (status) {
                return status;
            }
        }
        if (!old_host || !host || strcmp(old_host, host)) {
            if (old_host) {
                error = unplace(txn, name, api_get_string(old, "network"),
                                old_host, device);
                if (!error) {
                    error = store_delete(txn, "port-status", name, STORE_ANY);
                }
                if (error && error != ENOENT) {
                    return api_store_error(error, what, err);
                }
            }
            if (host) {
                status = place(txn, name, api_get_string(old, "network"), host,
                               device, what, err);
                if (status) {
                    return status;
                }
                json_object_set(body, "host", (json_t *) value);
            } else {
                json_object_del(body, "host");
            }
        }
    }

    api_merge_labels(body, "labels", json_object_get(in, "labels"));

    api_merge_member(body, "description", in);

    value = json_object_get(in, "qos");
    status = api_qos_check_ref(txn, value, "qos", what, err);
    if (status) {
        return status;
    }
    api_merge_member(body, "qos", in);

    /* A new list replaces the old one: a merge patch treats arrays as
     * values. */
    value = json_object_get(in, "security_groups");
    if (json_is_null(value)) {
        json_object_del(body, "security_groups");
        return 0;
    }
    return apply_security_groups(txn, in, body, what, err);
}

/* Applies a port's merge patch (an api_apply_func); a port placed
 * elsewhere gets a new entry in its network's index. */
static int
patch_apply(struct store_txn *txn, const struct store_obj *obj,
            const json_t *in, json_t *body, const char *what,
            struct api_error *err)
{
    int status = patch_port(txn, obj->name, in, obj->body, body, what, err);
    int error;

    if (status || !moved(obj->body, body)) {
        return status;
    }
    error = put_net_port(txn, obj->name, body);
    return error ? api_store_error(error, what, err) : 0;
}

int
api_port_patch(struct api *api, const char *name, const json_t *in,
               int64_t if_match, json_t **out, struct api_error *err)
{
    char *what = api_what("port", name);
    int status = api_kind_patch(api, &port_kind, name, in, if_match, what,
                                patch_apply, out, err);

    free(what);
    return status;
}

int
api_port_move(struct store_txn *txn, const char *name, const char *host,
              const char *what, struct api_error *err)
{
    const char *old_host, *network, *device;
    struct store_obj obj;
    json_t *body;
    char now[32];
    int status = 0, error;

    error = store_get(txn, "port", name, &obj);
    if (error) {
        return api_store_error(error, what, err);
    }
    old_host = api_get_string(obj.body, "host");
    network = api_get_string(obj.body, "network");
    device = api_get_string(obj.body, "device");
    if (old_host && !strcmp(old_host, host)) {
        store_obj_clear(&obj);
        return 0;
    }
    if (old_host) {
        error = unplace(txn, name, network, old_host, device);
        if (!error) {
            /* The old host's report says nothing about the new one. */
            error = store_delete(txn, "port-status", name, STORE_ANY);
            error = error == ENOENT ? 0 : error;
        }
        if (error) {
            store_obj_clear(&obj);
            return api_store_error(error, what, err);
        }
    }
    status = place(txn, name, network, host, device, what, err);
    if (!status) {
        body = json_deep_copy(obj.body);
        api_now(now);
        json_object_set_new(body, "host", json_string(host));
        json_object_set_new(body, "updated_at", json_string(now));
        error = store_put(txn, "port", name, body, obj.version, NULL);
        if (!error) {
            error = put_net_port(txn, name, body);
        }
        json_decref(body);
        status = error ? api_store_error(error, what, err) : 0;
    }
    store_obj_clear(&obj);
    return status;
}

int
api_port_remove(struct store_txn *txn, const struct store_obj *obj,
                const char *what, struct api_error *err)
{
    const char *network = api_get_string(obj->body, "network");
    const char *host = api_get_string(obj->body, "host");
    const char *ip_s = api_get_string(obj->body, "ip");
    const char *mac = api_get_string(obj->body, "mac");
    const char *name = obj->name;
    char *ip_key, *np_key;
    uint32_t ip;
    int error;

    if (!network || !ip_s || !mac || !parse_ip(ip_s, &ip)) {
        return api_fail(err, 500, NULL, "%s: corrupt in the store", what);
    }
    ip_key = api_ip_key(network, ip);
    np_key = xasprintf("%s/%s", network, name);

    error = store_delete(txn, "port", name, obj->version);
    if (!error) {
        error = store_delete(txn, "ip", ip_key, STORE_ANY);
    }
    if (!error) {
        error = store_delete(txn, "mac", mac, STORE_ANY);
    }
    if (!error) {
        error = store_delete(txn, "net-port", np_key, STORE_ANY);
    }
    if (!error && host) {
        error = unplace(txn, name, network, host,
                        api_get_string(obj->body, "device"));
    }
    if (!error) {
        error = store_delete(txn, "port-status", name, STORE_ANY);
        error = error == ENOENT ? 0 : error;
    }
    if (!error) {
        error = api_sg_port_sync(txn, name, NULL);
    }
    if (!error) {
        uint32_t hint = ipam_hint(txn, network);

        /* Keep "every address below the hint is taken" true. */
        if (hint && ip < hint) {
            error = ipam_set_hint(txn, network, ip);
        }
    }
    free(ip_key);
    free(np_key);
    return error ? api_store_error(error, what, err) : 0;
}

int
api_port_delete(struct api *api, const char *name, const json_t *in,
                int64_t if_match, struct api_error *err)
{
    char *what = api_what("port", name);
    struct store_txn *txn = NULL;
    struct store_obj obj = {0};
    const char *vm;
    int status;

    status = api_kind_delete_begin(api, &port_kind, name, in, if_match, what,
                                   &txn, &obj, err);
    if (!status && (vm = api_get_string(obj.body, "vm"))) {
        status = api_fail(err, 409, NULL,
                          "%s: is a NIC of VM \"%s\" and goes with it "
                          "(delete the VM instead)",
                          what, vm);
    }
    if (!status) {
        status = api_port_remove(txn, &obj, what, err);
    }
    if (!status) {
        status = api_finish_no_content(&txn, 0, what, err);
    }
    store_abort(txn);
    store_obj_clear(&obj);
    free(what);
    return status;
}
