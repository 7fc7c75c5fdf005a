/* Security groups: /v1/security-groups and their rules, the identities of
 * the group sets ports have, and the rule hit counters agents report
 * (doc/firewall.md). */
#include "controller/api.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controller/desired.h"
#include "controller/store.h"
#include "utils/addr.h"
#include "utils/util.h"

/* Rule ids are stored zero-padded to this many digits, so that a group's
 * rules sort by id. */
#define RULE_ID_DIGITS 10
#define RULE_ID_MAX 9999999999LL

/* The largest hit count: the largest JSON integer (json_int_t is long
 * long). */
#define HITS_MAX LLONG_MAX

/* The highest TCP or UDP port. */
#define PORT_MAX 65535

/* The highest ICMP type. */
#define ICMP_TYPE_MAX 255

static const struct api_field sg_fields[] = {
    {"name", API_STRING, API_IMMUTABLE, true},
    {"description", API_STRING, API_RW, false},
    {"selector", API_OBJECT, API_RW, false},
    {"members", API_ARRAY, API_RO, false},
    {"version", API_INTEGER, API_VERSION, false},
    {"revision", API_INTEGER, API_RO, false},
    {"created_at", API_STRING, API_RO, false},
    {"updated_at", API_STRING, API_RO, false},
};

/* The fields of a rule but "log", a boolean, which api_check_input() does
 * not know: rule_check() checks it. */
static const struct api_field rule_fields[] = {
    {"direction", API_STRING, API_RW, true},
    {"protocol", API_STRING, API_RW, true},
    {"ports", API_STRING, API_RW, false},
    {"icmp_type", API_INTEGER, API_RW, false},
    {"peer_group", API_STRING, API_RW, false},
    {"peer_cidr", API_STRING, API_RW, false},
    {"action", API_STRING, API_RW, true},
    {"id", API_INTEGER, API_RO, false},
    {"group", API_STRING, API_RO, false},
    {"hits", API_INTEGER, API_RO, false},
    {"created_at", API_STRING, API_RO, false},
};

static const struct api_field rule_hits_fields[] = {
    {"hits", API_OBJECT, API_RW, true},
};

/* Membership and identities. */

/* Whether 'labels' include every pair of 'selector'.  An empty selector
 * selects no port: a group without one has only explicit members. */
static bool
selector_matches(const json_t *selector, const json_t *labels)
{
    const char *key;
    json_t *value;

    if (!json_object_size(selector)) {
        return false;
    }
    json_object_foreach((json_t *) selector, key, value)
    {
        const char *have = api_get_string(labels, key);

        if (!have || strcmp(have, json_string_value(value))) {
            return false;
        }
    }
    return true;
}

static int
selectors_cb(const struct store_obj *obj, void *selectors)
{
    const json_t *selector = json_object_get(obj->body, "selector");

    if (json_object_size(selector)) {
        json_object_set(selectors, obj->name, (json_t *) selector);
    }
    return 0;
}

/* Reads into '*selectors' an object that maps the name of every group
 * with a selector to it. */
static int
load_selectors(struct store_txn *txn, json_t **selectors)
{
    int error;

    *selectors = json_object();
    error =
        store_list(txn, "security-group", NULL, 0, selectors_cb, *selectors);
    if (error) {
        json_decref(*selectors);
        *selectors = NULL;
    }
    return error;
}

static int
compare_strings(const void *a, const void *b)
{
    return strcmp(*(const char *const *) a, *(const char *const *) b);
}

/* Returns the keys of object 'set' as a sorted array. */
static json_t *
sorted_keys(const json_t *set)
{
    size_t n = json_object_size(set), i = 0;
    const char **names = xcalloc(n ? n : 1, sizeof *names);
    json_t *array = json_array();
    const char *key;
    json_t *value;

    json_object_foreach((json_t *) set, key, value)
    {
        names[i++] = key;
    }
    qsort(names, n, sizeof *names, compare_strings);
    for (i = 0; i < n; i++) {
        json_array_append_new(array, json_string(names[i]));
    }
    free(names);
    return array;
}

/* Returns the sorted group set of port 'body': its explicit
 * "security_groups" and the groups of 'selectors' its labels match. */
static json_t *
port_groups(const json_t *body, const json_t *selectors)
{
    const json_t *labels = json_object_get(body, "labels");
    json_t *set = json_object();
    const char *name;
    json_t *value, *groups;
    size_t i;

    json_array_foreach(json_object_get(body, "security_groups"), i, value)
    {
        json_object_set_new(set, json_string_value(value), json_null());
    }
    json_object_foreach((json_t *) selectors, name, value)
    {
        if (selector_matches(value, labels)) {
            json_object_set_new(set, name, json_null());
        }
    }
    groups = sorted_keys(set);
    json_decref(set);
    return groups;
}

/* Returns the name of the "identity-set" index of sorted 'groups':
 * "a,b".  Group names have no ",".  The caller frees it. */
static char *
groups_key(const json_t *groups)
{
    size_t len = 1, i;
    json_t *value;
    char *key;

    json_array_foreach(groups, i, value)
    {
        len += strlen(json_string_value(value)) + 1;
    }
    key = xzalloc(len);
    json_array_foreach(groups, i, value)
    {
        strcat(key, i ? "," : "");
        strcat(key, json_string_value(value));
    }
    return key;
}

static void
identity_name(int64_t id, char buf[16])
{
    /* Zero-padded, so that identities sort by number. */
    snprintf(buf, 16, "%05" PRId64, id);
}

/* Writes identity 'id' of 'groups' with 'ports' ports. */
static int
identity_put(struct store_txn *txn, int64_t id, const json_t *groups,
             int64_t ports)
{
    json_t *body =
        json_pack("{sOsI}", "groups", groups, "ports", (json_int_t) ports);
    char name[16];
    int error;

    identity_name(id, name);
    error = store_put(txn, "identity", name, body, STORE_ANY, NULL);
    json_decref(body);
    return error;
}

/* Counts one more port with sorted group set 'groups' (index name 'key'),
 * allocating the lowest free identity for a new set, and stores the
 * identity in '*idp'. */
static int
identity_acquire(struct store_txn *txn, const json_t *groups, const char *key,
                 int64_t *idp)
{
    struct store_obj obj;
    char name[16];
    json_t *index;
    int error;

    error = store_get(txn, "identity-set", key, &obj);
    if (!error) {
        *idp = json_integer_value(json_object_get(obj.body, "id"));
        store_obj_clear(&obj);
        identity_name(*idp, name);
        error = store_get(txn, "identity", name, &obj);
        if (error) {
            /* An index without its identity: the store is corrupt. */
            return error == ENOENT ? EIO : error;
        }
        error = identity_put(
            txn, *idp, groups,
            json_integer_value(json_object_get(obj.body, "ports")) + 1);
        store_obj_clear(&obj);
        return error;
    } else if (error != ENOENT) {
        return error;
    }

    identity_name(API_IDENTITY_MIN - 1, name);
    error = api_lowest_free(txn, "identity", name, API_IDENTITY_MIN,
                            API_IDENTITY_MAX, idp);
    if (error) {
        return error;
    }
    error = identity_put(txn, *idp, groups, 1);
    if (!error) {
        index = json_pack("{sI}", "id", (json_int_t) *idp);
        error = store_put(txn, "identity-set", key, index, STORE_CREATE, NULL);
        json_decref(index);
    }
    return error;
}

/* Counts one port less with identity 'id', freeing it at none. */
static int
identity_release(struct store_txn *txn, int64_t id)
{
    struct store_obj obj;
    const json_t *groups;
    int64_t ports;
    char name[16];
    int error;

    identity_name(id, name);
    error = store_get(txn, "identity", name, &obj);
    if (error) {
        return error == ENOENT ? 0 : error;
    }
    groups = json_object_get(obj.body, "groups");
    ports = json_integer_value(json_object_get(obj.body, "ports")) - 1;
    if (ports > 0) {
        error = identity_put(txn, id, groups, ports);
    } else {
        char *key = groups_key(groups);

        error = store_delete(txn, "identity", name, STORE_ANY);
        if (!error) {
            error = store_delete(txn, "identity-set", key, STORE_ANY);
            error = error == ENOENT ? 0 : error;
        }
        free(key);
    }
    store_obj_clear(&obj);
    return error;
}

/* api_sg_port_sync() with the groups' selectors already read. */
static int
port_sync(struct store_txn *txn, const json_t *selectors, const char *name,
          const json_t *body)
{
    json_t *groups = body ? port_groups(body, selectors) : json_array();
    char *key = groups_key(groups);
    struct store_obj old;
    int64_t id;
    bool had;
    int error;

    error = store_get(txn, "port-identity", name, &old);
    had = !error;
    if (error && error != ENOENT) {
        goto out;
    }
    error = 0;
    if (had && json_equal(json_object_get(old.body, "groups"), groups)) {
        goto out;
    }
    /* The new set is acquired before the old one is released, so that an
     * identity a port leaves is not handed to another set in the same
     * change, while packets stamped with it may still be in flight. */
    if (json_array_size(groups)) {
        error = identity_acquire(txn, groups, key, &id);
        if (!error) {
            json_t *index = json_pack("{sIsO}", "identity", (json_int_t) id,
                                      "groups", groups);

            error =
                store_put(txn, "port-identity", name, index, STORE_ANY, NULL);
            json_decref(index);
        }
    } else if (had) {
        error = store_delete(txn, "port-identity", name, STORE_ANY);
    }
    if (!error && had) {
        error = identity_release(
            txn, json_integer_value(json_object_get(old.body, "identity")));
    }

out:
    if (had) {
        store_obj_clear(&old);
    }
    json_decref(groups);
    free(key);
    return error;
}

int
api_sg_port_sync(struct store_txn *txn, const char *name, const json_t *body)
{
    json_t *selectors;
    int error;

    error = load_selectors(txn, &selectors);
    if (!error) {
        error = port_sync(txn, selectors, name, body);
        json_decref(selectors);
    }
    return error;
}

int
api_sg_sync_error(int error, const char *what, struct api_error *err)
{
    if (error == ENOSPC) {
        return api_fail(err, 409, NULL,
                        "%s: no free group identity left (%d..%d are all "
                        "in use by distinct sets of security groups)",
                        what, API_IDENTITY_MIN, API_IDENTITY_MAX);
    }
    return api_store_error(error, what, err);
}

static int
collect_cb(const struct store_obj *obj, void *objects)
{
    json_object_set(objects, obj->name, obj->body);
    return 0;
}

/* Brings the identity of every port in line with the groups' selectors,
 * after a group's selector changed or a group went away. */
static int
sync_all_ports(struct store_txn *txn)
{
    json_t *selectors, *ports = json_object();
    const char *name;
    json_t *body;
    int error;

    /* Ports are read first and changed afterwards, so that the walk never
     * sees its own writes. */
    error = load_selectors(txn, &selectors);
    if (!error) {
        error = store_list(txn, "port", NULL, 0, collect_cb, ports);
    }
    if (!error) {
        json_object_foreach(ports, name, body)
        {
            error = port_sync(txn, selectors, name, body);
            if (error) {
                break;
            }
        }
    }
    json_decref(selectors);
    json_decref(ports);
    return error;
}

/* Checks. */

/* Applies the group fields of checked input 'in' to 'body': for a
 * creation if 'obj' is NULL, otherwise as a merge patch of stored group
 * 'obj' (an api_apply_func; 'txn' is not needed). */
static int
sg_apply(struct store_txn *txn, const struct store_obj *obj, const json_t *in,
         json_t *body, const char *what, struct api_error *err)
{
    bool patch = obj != NULL;
    const json_t *value = json_object_get(in, "description");
    int status;

    if (!patch) {
        /* A group without a selector has only explicit members. */
        json_object_set_new(body, "selector", json_object());
    }
    status = api_check_description(value, what, err);
    if (!status) {
        status = api_check_labels(json_object_get(in, "selector"), "selector",
                                  patch, what, err);
    }
    if (status) {
        return status;
    }
    api_merge_member(body, "description", in);

    api_merge_labels(body, "selector", json_object_get(in, "selector"));
    return 0;
}

/* Groups. */

/* The search for the ports whose group set holds a group. */
struct members {
    const char *group; /* The group. */
    json_t *names;     /* The ports found, in name order. */
};

static int
members_cb(const struct store_obj *obj, void *m_)
{
    struct members *m = m_;
    json_t *value;
    size_t i;

    json_array_foreach(json_object_get(obj->body, "groups"), i, value)
    {
        if (!strcmp(json_string_value(value), m->group)) {
            json_array_append_new(m->names, json_string(obj->name));
            break;
        }
    }
    return 0;
}

/* The API form of stored group 'obj', with its "members" read in 'txn'
 * (an api_out_func; 'api' is not needed). */
static json_t *
sg_out(struct api *api, struct store_txn *txn, const struct store_obj *obj)
{
    struct members m = {.group = obj->name, .names = json_array()};
    json_t *out = api_object_out(obj);

    if (txn) {
        store_list(txn, "port-identity", NULL, 0, members_cb, &m);
    }
    json_object_set_new(out, "members", m.names);
    return out;
}

/* Brings the ports' identities in line when a group's selector changed
 * (an api_written_func): a new group with an empty one selects nothing. */
static int
sg_written(struct store_txn *txn, const char *name, const json_t *old,
           const json_t *body, const char *what, struct api_error *err)
{
    const json_t *selector = json_object_get(body, "selector");
    int error;

    if (old ? json_equal(json_object_get(old, "selector"), selector)
            : !json_object_size(selector)) {
        return 0;
    }
    error = sync_all_ports(txn);
    return error ? api_sg_sync_error(error, what, err) : 0;
}

static const struct api_kind sg_kind = {
    .kind = "security-group",
    .plural = "security groups",
    .fields = sg_fields,
    .n_fields = ARRAY_SIZE(sg_fields),
    .out = sg_out,
    .written = sg_written,
};

int
api_sg_create(struct api *api, const json_t *in, json_t **out,
              struct api_error *err)
{
    char *what = api_what("security group", api_get_string(in, "name"));
    int status;

    status = api_check_input(in, sg_fields, ARRAY_SIZE(sg_fields), what, NULL,
                             false, err);
    if (!status) {
        status = api_kind_create(api, &sg_kind, in, what, sg_apply, out, err);
    }
    free(what);
    return status;
}

int
api_sg_get(struct api *api, const char *name, json_t **out,
           struct api_error *err)
{
    return api_kind_get(api, &sg_kind, name, out, err);
}

static int
sg_page_cb(const struct store_obj *obj, void *items)
{
    json_array_append_new(items, sg_out(NULL, NULL, obj));
    return 0;
}

/* Adds port 'obj' to the "members" of the groups in 'groups' (name ->
 * API form) that its group set holds. */
static int
add_member_cb(const struct store_obj *obj, void *groups)
{
    json_t *group;
    size_t i;

    json_array_foreach(json_object_get(obj->body, "groups"), i, group)
    {
        json_t *sg = json_object_get(groups, json_string_value(group));

        if (sg) {
            json_array_append_new(json_object_get(sg, "members"),
                                  json_string(obj->name));
        }
    }
    return 0;
}

int
api_sg_list(struct api *api, const json_t *query, json_t **out,
            struct api_error *err)
{
    json_t *items = json_array(), *groups = json_object(), *item;
    struct store_txn *txn = NULL;
    const char *page_token;
    size_t limit, i;
    int status, error;

    status = api_list_query(query, "security groups", NULL, &limit,
                            &page_token, err);
    if (!status) {
        status = api_begin(api, false, &txn, err);
    }
    if (status) {
        goto out;
    }
    /* The store cannot nest walks: the page first, then the members of
     * its groups in one walk of the ports' group sets. */
    error = store_list(txn, "security-group", page_token, limit + 1,
                       sg_page_cb, items);
    json_array_foreach(items, i, item)
    {
        json_object_set(groups, api_get_string(item, "name"), item);
    }
    if (!error) {
        error =
            store_list(txn, "port-identity", NULL, 0, add_member_cb, groups);
    }
    if (error) {
        status = api_store_error(error, "listing security groups", err);
        goto out;
    }
    *out = api_list_page(items, limit);
    items = NULL;
    status = 200;

out:
    store_abort(txn);
    json_decref(items);
    json_decref(groups);
    return status;
}

int
api_sg_patch(struct api *api, const char *name, const json_t *in,
             int64_t if_match, json_t **out, struct api_error *err)
{
    char *what = api_what("security group", name);
    int status = api_kind_patch(api, &sg_kind, name, in, if_match, what,
                                sg_apply, out, err);

    free(what);
    return status;
}

/* What still names a group about to be deleted. */
struct sg_user {
    const char *group; /* The group. */
    char *message;     /* Who uses it, for a 409, or NULL. */
    json_t *own;       /* The keys of the group's own rules. */
};

static int
port_user_cb(const struct store_obj *obj, void *u_)
{
    struct sg_user *u = u_;
    json_t *value;
    size_t i;

    json_array_foreach(json_object_get(obj->body, "security_groups"), i, value)
    {
        if (!strcmp(json_string_value(value), u->group)) {
            u->message =
                xasprintf("in use by port \"%s\" (its security_groups); "
                          "remove it from the port first",
                          obj->name);
            return API_STOP;
        }
    }
    return 0;
}

static int
rule_user_cb(const struct store_obj *obj, void *u_)
{
    struct sg_user *u = u_;
    const char *group = api_get_string(obj->body, "group");
    const char *peer = api_get_string(obj->body, "peer_group");

    if (group && !strcmp(group, u->group)) {
        json_array_append_new(u->own, json_string(obj->name));
    } else if (peer && !strcmp(peer, u->group)) {
        u->message = xasprintf(
            "rule %" JSON_INTEGER_FORMAT
            " of security group \"%s\" names it as peer_group; delete "
            "that rule first",
            json_integer_value(json_object_get(obj->body, "id")),
            group ? group : "?");
        return API_STOP;
    }
    return 0;
}

int
api_sg_delete(struct api *api, const char *name, const json_t *in,
              int64_t if_match, struct api_error *err)
{
    char *what = api_what("security group", name);
    struct sg_user u = {.group = name, .own = json_array()};
    struct store_txn *txn = NULL;
    struct store_obj obj = {0};
    json_t *key;
    int status, error;
    size_t i;

    status = api_kind_delete_begin(api, &sg_kind, name, in, if_match, what,
                                   &txn, &obj, err);
    if (status) {
        goto out;
    }
    error = store_list(txn, "port", NULL, 0, port_user_cb, &u);
    if (!u.message && (!error || error == API_STOP)) {
        error = store_list(txn, "sg-rule", NULL, 0, rule_user_cb, &u);
    }
    if (u.message) {
        status = api_fail(err, 409, NULL, "%s: %s", what, u.message);
        goto out;
    } else if (error && error != API_STOP) {
        status = api_store_error(error, what, err);
        goto out;
    }

    /* A group's rules go with it. */
    error = 0;
    json_array_foreach(u.own, i, key)
    {
        error =
            store_delete(txn, "sg-rule", json_string_value(key), STORE_ANY);
        if (error) {
            break;
        }
    }
    if (!error) {
        error = store_delete(txn, "security-group", name, obj.version);
    }
    if (error) {
        status = api_store_error(error, what, err);
        goto out;
    }
    if (json_object_size(json_object_get(obj.body, "selector"))) {
        error = sync_all_ports(txn);
        if (error) {
            status = api_sg_sync_error(error, what, err);
            goto out;
        }
    }
    status = api_finish_no_content(&txn, 0, what, err);

out:
    store_abort(txn);
    store_obj_clear(&obj);
    json_decref(u.own);
    free(u.message);
    free(what);
    return status;
}

int
api_sg_check_port_groups(struct store_txn *txn, const json_t *value,
                         const char *what, struct api_error *err)
{
    json_t *seen, *group;
    int status = 0;
    size_t i;

    if (!value || json_is_null(value)) {
        return 0;
    }
    seen = json_object();
    json_array_foreach(value, i, group)
    {
        const char *name = json_string_value(group);
        struct store_obj obj;
        int error;

        if (!name) {
            status = api_fail(err, 400, "security_groups",
                              "%s: security_groups: expected an array of "
                              "group names (strings)",
                              what);
            break;
        }
        status = api_check_name(name, "security_groups", what, err);
        if (status) {
            break;
        }
        if (json_object_get(seen, name)) {
            status = api_fail(err, 400, "security_groups",
                              "%s: security_groups: \"%s\" is named twice",
                              what, name);
            break;
        }
        json_object_set_new(seen, name, json_null());
        error = store_get(txn, "security-group", name, &obj);
        if (error == ENOENT) {
            status = api_fail(err, 400, "security_groups",
                              "%s: security_groups: \"%s\": no such "
                              "security group (create it with POST "
                              "/v1/security-groups)",
                              what, name);
            break;
        } else if (error) {
            status = api_store_error(error, what, err);
            break;
        }
        store_obj_clear(&obj);
    }
    json_decref(seen);
    return status;
}

/* Rules. */

/* Sums the counters of the registered hosts. */
struct hits_sum {
    struct store_txn *txn; /* Where hosts are looked up. */
    json_t *totals;        /* Rule id (decimal) -> total hits. */
};

static int
hits_cb(const struct store_obj *obj, void *sum_)
{
    struct hits_sum *sum = sum_;
    struct store_obj host;
    const char *id;
    json_t *value;

    /* The counters of a host that was deleted count no more. */
    if (store_get(sum->txn, "host", obj->name, &host)) {
        return 0;
    }
    store_obj_clear(&host);
    json_object_foreach(json_object_get(obj->body, "hits"), id, value)
    {
        json_int_t total =
            json_integer_value(json_object_get(sum->totals, id));
        json_int_t n = json_integer_value(value);

        /* Each report is 0..HITS_MAX, and so is the sum: it saturates
         * instead of wrapping to a negative count. */
        total = n > 0 && total > HITS_MAX - n ? HITS_MAX : total + n;
        json_object_set_new(sum->totals, id, json_integer(total));
    }
    return 0;
}

/* Returns an object of the hits of every rule, summed over hosts. */
static json_t *
load_hits(struct store_txn *txn)
{
    struct hits_sum sum = {.txn = txn, .totals = json_object()};

    store_list(txn, "rule-hits", NULL, 0, hits_cb, &sum);
    return sum.totals;
}

/* The API form of stored rule 'body', with its hits from 'hits'. */
static json_t *
rule_out(const json_t *body, const json_t *hits)
{
    json_t *out = json_deep_copy(body);
    char id[24];

    snprintf(id, sizeof id, "%" JSON_INTEGER_FORMAT,
             json_integer_value(json_object_get(body, "id")));
    json_object_set_new(
        out, "hits",
        json_integer(json_integer_value(json_object_get(hits, id))));
    return out;
}

static char *
rule_key(const char *group, int64_t id)
{
    return xasprintf("%s/%0*" PRId64, group, RULE_ID_DIGITS, id);
}

/* Parses a decimal rule id in 'text' ("7"). */
static bool
parse_rule_id(const char *text, int64_t *id)
{
    size_t len = strlen(text);

    if (!len || len > RULE_ID_DIGITS || strspn(text, "0123456789") != len) {
        return false;
    }
    *id = strtoll(text, NULL, 10);
    return *id > 0;
}

/* Parses "ports" value 'text': "N" or "LO-HI", 1..PORT_MAX, LO <= HI. */
static bool
parse_ports(const char *text, long *lo, long *hi)
{
    const char *dash = strchr(text, '-');
    size_t n1 = strspn(text, "0123456789");

    if (!n1 || n1 > 5) {
        return false;
    }
    *lo = strtol(text, NULL, 10);
    if (!dash) {
        *hi = *lo;
        if (text[n1]) {
            return false;
        }
    } else {
        size_t n2 = strspn(dash + 1, "0123456789");

        if (dash != text + n1 || !n2 || n2 > 5 || dash[1 + n2]) {
            return false;
        }
        *hi = strtol(dash + 1, NULL, 10);
    }
    return *lo >= 1 && *hi <= PORT_MAX && *lo <= *hi;
}

/* Parses and normalizes "peer_cidr" value 'text': an IPv4 prefix of 0 to
 * 32 bits with its host bits zero.  Returns NULL or what is wrong. */
static const char *
parse_peer_cidr(const char *text, char buf[24])
{
    const char *problem;
    uint32_t ip, mask;
    int prefix;

    problem = api_parse_ipv4_prefix(
        text, "not a CIDR (expected a.b.c.d/N, e.g. 192.0.2.0/24)", &ip,
        &prefix);
    if (problem) {
        return problem;
    }
    mask = prefix ? UINT32_MAX << (32 - prefix) : 0;
    if (ip & ~mask) {
        return "host bits must be zero (the prefix's first address, e.g. "
               "192.0.2.0/24)";
    }
    snprintf(buf, 24, "%u.%u.%u.%u/%d", ip >> 24, (ip >> 16) & 0xff,
             (ip >> 8) & 0xff, ip & 0xff, prefix);
    return NULL;
}

/* Checks rule input 'in' for 'what' and builds its stored body (without
 * "id", "group" and "created_at") into '*bodyp'.  Checks everything that
 * needs no store: "peer_group" is checked by the caller. */
static int
rule_check(const json_t *in, const char *what, json_t **bodyp,
           struct api_error *err)
{
    static const char *const directions[] = {"ingress", "egress", NULL};
    static const char *const protocols[] = {"tcp",    "udp", "icmp",
                                            "icmpv6", "any", NULL};
    static const char *const actions[] = {"allow", "deny", NULL};
    const char *direction, *protocol, *action, *ports, *peer_cidr;
    const json_t *log, *icmp_type, *peer_group;
    json_t *rest, *body;
    bool l4, icmp;
    int status;

    *bodyp = NULL;
    log = json_is_object(in) ? json_object_get(in, "log") : NULL;
    rest =
        json_is_object(in) ? json_deep_copy(in) : json_incref((json_t *) in);
    if (json_is_object(rest)) {
        json_object_del(rest, "log");
    }
    status = api_check_input(rest, rule_fields, ARRAY_SIZE(rule_fields), what,
                             NULL, false, err);
    json_decref(rest);
    if (status) {
        return status;
    }
    if (log && !json_is_boolean(log)) {
        return api_fail(err, 400, "log", "%s: log: expected true or false",
                        what);
    }

    direction = api_get_string(in, "direction");
    protocol = api_get_string(in, "protocol");
    action = api_get_string(in, "action");
    ports = api_get_string(in, "ports");
    peer_cidr = api_get_string(in, "peer_cidr");
    icmp_type = json_object_get(in, "icmp_type");
    peer_group = json_object_get(in, "peer_group");
    if (!api_is_one_of(direction, directions)) {
        return api_fail(err, 400, "direction",
                        "%s: direction \"%s\": expected \"ingress\" or "
                        "\"egress\"",
                        what, direction);
    }
    if (!api_is_one_of(protocol, protocols)) {
        return api_fail(err, 400, "protocol",
                        "%s: protocol \"%s\": expected one of: tcp, udp, "
                        "icmp, icmpv6, any",
                        what, protocol);
    }
    if (!api_is_one_of(action, actions)) {
        return api_fail(err, 400, "action",
                        "%s: action \"%s\": expected \"allow\" or \"deny\"",
                        what, action);
    }
    l4 = !strcmp(protocol, "tcp") || !strcmp(protocol, "udp");
    icmp = !strcmp(protocol, "icmp") || !strcmp(protocol, "icmpv6");

    body = json_pack("{ssss}", "direction", direction, "protocol", protocol);
    if (ports) {
        long lo, hi;

        if (!l4) {
            json_decref(body);
            return api_fail(err, 400, "ports",
                            "%s: ports: only for protocol tcp or udp, not "
                            "\"%s\" (leave it out)",
                            what, protocol);
        }
        if (!parse_ports(ports, &lo, &hi)) {
            json_decref(body);
            return api_fail(err, 400, "ports",
                            "%s: ports \"%s\": expected a port \"N\" or a "
                            "range \"LO-HI\", 1..%d with LO <= HI",
                            what, ports, PORT_MAX);
        }
        json_object_set_new(body, "ports",
                            lo == hi ? json_sprintf("%ld", lo)
                                     : json_sprintf("%ld-%ld", lo, hi));
    }
    if (icmp_type) {
        json_int_t type = json_integer_value(icmp_type);

        if (!icmp) {
            json_decref(body);
            return api_fail(err, 400, "icmp_type",
                            "%s: icmp_type: only for protocol icmp or "
                            "icmpv6, not \"%s\" (leave it out)",
                            what, protocol);
        }
        if (type < 0 || type > ICMP_TYPE_MAX) {
            json_decref(body);
            return api_fail(err, 400, "icmp_type",
                            "%s: icmp_type %" JSON_INTEGER_FORMAT
                            ": must be 0..%d",
                            what, type, ICMP_TYPE_MAX);
        }
        json_object_set_new(body, "icmp_type", json_integer(type));
    }
    if (peer_group && peer_cidr) {
        json_decref(body);
        return api_fail(err, 400, "peer_cidr",
                        "%s: peer_group and peer_cidr: give one peer or "
                        "neither (any peer), not both",
                        what);
    }
    if (peer_group) {
        status = api_check_name(json_string_value(peer_group), "peer_group",
                                what, err);
        if (status) {
            json_decref(body);
            return status;
        }
        json_object_set(body, "peer_group", (json_t *) peer_group);
    }
    if (peer_cidr) {
        const char *problem;
        char buf[24];

        problem = parse_peer_cidr(peer_cidr, buf);
        if (problem) {
            char *q = api_quote(peer_cidr);

            api_fail(err, 400, "peer_cidr", "%s: peer_cidr %s: %s", what, q,
                     problem);
            free(q);
            json_decref(body);
            return 400;
        }
        json_object_set_new(body, "peer_cidr", json_string(buf));
    }
    json_object_set_new(body, "action", json_string(action));
    json_object_set_new(body, "log", json_boolean(json_is_true(log)));
    *bodyp = body;
    return 0;
}

/* Reads and advances the fabric-wide rule id counter. */
static int
next_rule_id(struct store_txn *txn, int64_t *id)
{
    struct store_obj obj;
    json_t *counter;
    int error;

    *id = 1;
    error = store_get(txn, "sg-counter", "rule-id", &obj);
    if (!error) {
        *id = json_integer_value(json_object_get(obj.body, "next"));
        store_obj_clear(&obj);
    } else if (error != ENOENT) {
        return error;
    }
    if (*id < 1 || *id > RULE_ID_MAX) {
        return *id < 1 ? EIO : ENOSPC;
    }
    counter = json_pack("{sI}", "next", (json_int_t) (*id + 1));
    error = store_put(txn, "sg-counter", "rule-id", counter, STORE_ANY, NULL);
    json_decref(counter);
    return error;
}

int
api_sg_rule_create(struct api *api, const char *group, const json_t *in,
                   json_t **out, struct api_error *err)
{
    char *what = api_what("security group", group);
    char *rule_what = xasprintf("%s: new rule", what);
    const char *peer = api_get_string(in, "peer_group");
    struct store_txn *txn = NULL;
    struct store_obj obj;
    json_t *body = NULL;
    char *key = NULL;
    char now[32];
    int64_t id, revision;
    int status, error;

    status = api_begin(api, true, &txn, err);
    if (!status) {
        status = api_check_present(txn, "security-group", group, what, err);
    }
    if (!status) {
        status = rule_check(in, rule_what, &body, err);
    }
    if (status) {
        goto out;
    }
    if (peer) {
        error = store_get(txn, "security-group", peer, &obj);
        if (error == ENOENT) {
            status = api_fail(err, 400, "peer_group",
                              "%s: peer_group \"%s\": no such security group",
                              rule_what, peer);
            goto out;
        } else if (error) {
            status = api_store_error(error, what, err);
            goto out;
        }
        store_obj_clear(&obj);
    }
    error = next_rule_id(txn, &id);
    if (error == ENOSPC) {
        status = api_fail(err, 409, NULL, "%s: no rule id left", rule_what);
        goto out;
    } else if (error) {
        status = api_store_error(error, what, err);
        goto out;
    }
    api_now(now);
    json_object_set_new(body, "id", json_integer(id));
    json_object_set_new(body, "group", json_string(group));
    json_object_set_new(body, "created_at", json_string(now));
    key = rule_key(group, id);
    error = store_put(txn, "sg-rule", key, body, STORE_CREATE, NULL);
    if (error) {
        status = api_store_error(error, what, err);
        goto out;
    }
    status = api_commit(txn, &revision, err);
    txn = NULL;
    if (!status) {
        json_t *none = json_object();

        *out = rule_out(body, none);
        json_decref(none);
        status = 201;
    }

out:
    store_abort(txn);
    json_decref(body);
    free(key);
    free(rule_what);
    free(what);
    return status;
}

/* A page of a group's rules in the making. */
struct rule_page {
    const char *prefix; /* "GROUP/". */
    const json_t *hits; /* Hits by rule id. */
    size_t want;        /* The limit plus one. */
    json_t *items;      /* The rules found. */
};

static int
rule_page_cb(const struct store_obj *obj, void *page_)
{
    struct rule_page *page = page_;

    if (strncmp(obj->name, page->prefix, strlen(page->prefix))) {
        return API_STOP;
    }
    json_array_append_new(page->items, rule_out(obj->body, page->hits));
    return json_array_size(page->items) >= page->want ? API_STOP : 0;
}

int
api_sg_rule_list(struct api *api, const char *group, const json_t *query,
                 json_t **out, struct api_error *err)
{
    char *what = api_what("security group", group);
    struct rule_page page = {.items = NULL};
    struct store_txn *txn = NULL;
    const char *page_token;
    json_t *hits = NULL;
    char *after = NULL;
    size_t limit;
    int64_t token_id = 0;
    int status, error;

    status = api_list_query(query, "rules", NULL, &limit, &page_token, err);
    if (!status && page_token && !parse_rule_id(page_token, &token_id)) {
        status = api_fail(err, 400, "page_token",
                          "listing rules: page_token: not a token from a "
                          "previous page");
    }
    if (!status) {
        status = api_begin(api, false, &txn, err);
    }
    if (!status) {
        status = api_check_present(txn, "security-group", group, what, err);
    }
    if (status) {
        goto out;
    }

    hits = load_hits(txn);
    page.prefix = xasprintf("%s/", group);
    page.hits = hits;
    page.want = limit + 1;
    page.items = json_array();
    after = token_id ? rule_key(group, token_id) : xstrdup(page.prefix);
    error = store_list(txn, "sg-rule", after, 0, rule_page_cb, &page);
    if (error && error != API_STOP) {
        status = api_store_error(error, what, err);
        goto out;
    }
    *out = json_object();
    if (json_array_size(page.items) > limit) {
        json_array_remove(page.items, limit);
        json_object_set_new(
            *out, "next_page_token",
            json_sprintf("%" JSON_INTEGER_FORMAT,
                         json_integer_value(json_object_get(
                             json_array_get(page.items, limit - 1), "id"))));
    }
    json_object_set(*out, "items", page.items);
    status = 200;

out:
    store_abort(txn);
    json_decref(hits);
    json_decref(page.items);
    free((char *) page.prefix);
    free(after);
    free(what);
    return status;
}

/* Reads rule 'id' (text from the path) of 'group' into 'obj', answering
 * 404 when either is missing. */
static int
rule_read(struct store_txn *txn, const char *group, const char *id_text,
          struct store_obj *obj, struct api_error *err)
{
    char *what = api_what("security group", group);
    int64_t id;
    char *key, *rule_what;
    int status;

    status = api_check_present(txn, "security-group", group, what, err);
    if (status) {
        free(what);
        return status;
    }
    rule_what = xasprintf("%s: rule %s", what, id_text);
    if (!parse_rule_id(id_text, &id)) {
        status = api_fail(err, 404, NULL,
                          "%s: not found (rule ids are numbers)", rule_what);
    } else {
        key = rule_key(group, id);
        status = api_get_object(txn, "sg-rule", key, rule_what, obj, err);
        free(key);
    }
    free(rule_what);
    free(what);
    return status;
}

int
api_sg_rule_get(struct api *api, const char *group, const char *id,
                json_t **out, struct api_error *err)
{
    struct store_txn *txn;
    struct store_obj obj;
    int status;

    status = api_begin(api, false, &txn, err);
    if (status) {
        return status;
    }
    status = rule_read(txn, group, id, &obj, err);
    if (!status) {
        json_t *hits = load_hits(txn);

        *out = rule_out(obj.body, hits);
        json_decref(hits);
        store_obj_clear(&obj);
        status = 200;
    }
    store_abort(txn);
    return status;
}

int
api_sg_rule_delete(struct api *api, const char *group, const char *id,
                   struct api_error *err)
{
    struct store_txn *txn = NULL;
    struct store_obj obj;
    int status, error;

    status = api_begin(api, true, &txn, err);
    if (status) {
        return status;
    }
    status = rule_read(txn, group, id, &obj, err);
    if (!status) {
        error = store_delete(txn, "sg-rule", obj.name, STORE_ANY);
        store_obj_clear(&obj);
        status = api_finish_no_content(&txn, error, "deleting a rule", err);
    }
    store_abort(txn);
    return status;
}

/* Rule hits. */

/* Adds the id of every rule in desired-state document 'doc' to 'ids' (an
 * object keyed by decimal id). */
static void
doc_rule_ids(const json_t *doc, json_t *ids)
{
    const json_t *identity, *rule;
    size_t i, j;

    json_array_foreach(json_object_get(doc, "identities"), i, identity)
    {
        json_array_foreach(json_object_get(identity, "rules"), j, rule)
        {
            char id[24];

            snprintf(id, sizeof id, "%" JSON_INTEGER_FORMAT,
                     json_integer_value(json_object_get(rule, "id")));
            json_object_set_new(ids, id, json_true());
        }
    }
}

/* Fails with 403 unless every rule in 'hits' is one that host 'host'
 * enforces: a rule of a group one of its ports is in, as its desired
 * state says.  A host's counters count in every rule's total, so without
 * this a host could add to the hits of rules it never sees. */
static int
check_own_rules(struct store_txn *txn, const char *host, const json_t *hits,
                const char *what, struct api_error *err)
{
    json_t *doc = NULL, *ids, *value;
    const char *id;
    int status = 0;
    int error;

    error = desired_compute(txn, host, &doc);
    if (error) {
        return api_store_error(error, what, err);
    }
    ids = json_object();
    doc_rule_ids(doc, ids);
    json_object_foreach((json_t *) hits, id, value)
    {
        char canonical[24];
        int64_t n;

        /* Compare as numbers: "007" is rule 7. */
        parse_rule_id(id, &n);
        snprintf(canonical, sizeof canonical, "%" PRId64, n);
        if (!json_object_get(ids, canonical)) {
            status = api_fail(err, 403, "hits",
                              "%s: hits: rule %s: not a rule of any security "
                              "group of this host's ports; a host reports "
                              "only the counters of the rules it enforces",
                              what, canonical);
            break;
        }
    }
    json_decref(ids);
    json_decref(doc);
    return status;
}

int
api_host_rule_hits(struct api *api, const char *host, const json_t *in,
                   struct api_error *err)
{
    char *what = api_what("host", host);
    struct store_txn *txn = NULL;
    json_t *hits, *body = NULL, *value;
    const char *id;
    int status, error;

    status =
        api_check_input(in, rule_hits_fields, ARRAY_SIZE(rule_hits_fields),
                        what, NULL, false, err);
    if (status) {
        goto out;
    }
    hits = json_object_get(in, "hits");
    json_object_foreach(hits, id, value)
    {
        int64_t n;

        if (!parse_rule_id(id, &n)) {
            status =
                api_fail(err, 400, "hits",
                         "%s: hits: \"%s\": expected a rule id", what, id);
            goto out;
        }
        if (!json_is_integer(value) || json_integer_value(value) < 0) {
            status = api_fail(err, 400, "hits",
                              "%s: hits: \"%s\": expected a count, an "
                              "integer 0 or more",
                              what, id);
            goto out;
        }
    }
    status = api_begin(api, true, &txn, err);
    if (!status) {
        status = api_check_present(txn, "host", host, what, err);
    }
    if (!status) {
        status = check_own_rules(txn, host, hits, what, err);
    }
    if (status) {
        goto out;
    }
    /* Counters that did not move are not worth a write. */
    body = json_pack("{sO}", "hits", hits);
    error = api_put_changed(txn, "rule-hits", host, body);
    status = api_finish_no_content(&txn, error, what, err);

out:
    store_abort(txn);
    json_decref(body);
    free(what);
    return status;
}
