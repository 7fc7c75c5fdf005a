/* QoS policies: /v1/qos-policies, and how ports resolve theirs. */
#include "controller/api.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controller/store.h"
#include "utils/util.h"

static const struct api_field qos_fields[] = {
    {"name", API_STRING, API_IMMUTABLE, true},
    {"egress", API_OBJECT, API_RW, false},
    {"ingress", API_OBJECT, API_RW, false},
    {"dscp", API_INTEGER, API_RW, false},
    {"priority", API_INTEGER, API_RW, false},
    {"description", API_STRING, API_RW, false},
    {"version", API_INTEGER, API_VERSION, false},
    {"revision", API_INTEGER, API_RO, false},
    {"created_at", API_STRING, API_RO, false},
    {"updated_at", API_STRING, API_RO, false},
};

static const struct api_kind qos_kind = {
    .kind = "qos-policy",
    .plural = "qos-policies",
    .fields = qos_fields,
    .n_fields = ARRAY_SIZE(qos_fields),
};

/* Answers 400 if object 'in' (the policy, or its direction 'dir', or NULL
 * for the policy itself) has a field in the wrong place: "min_rate" only
 * in "egress" (only egress is shaped), "priority" only at the top. */
static int
check_placement(const json_t *in, const char *dir, const char *what,
                struct api_error *err)
{
    if (!dir && json_object_get(in, "min_rate")) {
        return api_fail(err, 400, "min_rate",
                        "%s: min_rate: a direction's field, not the "
                        "policy's (give egress.min_rate)",
                        what);
    }
    if (dir && !strcmp(dir, "ingress") && json_object_get(in, "min_rate")) {
        return api_fail(err, 400, "ingress.min_rate",
                        "%s: ingress.min_rate: not supported yet (only "
                        "egress is shaped: give egress.min_rate, or leave "
                        "it out)",
                        what);
    }
    if (dir && json_object_get(in, "priority")) {
        char *field = xasprintf("%s.priority", dir);

        api_fail(err, 400, field,
                 "%s: %s: the policy's field, not a direction's (give "
                 "\"priority\" at the top level)",
                 what, field);
        free(field);
        return 400;
    }
    return 0;
}

/* Checks value 'value' of member 'key' ("rate", "burst" or "min_rate")
 * of direction 'dir': an integer within the limits fabric-agent
 * accepts. */
static int
check_limit(const json_t *value, const char *dir, const char *key,
            const char *what, struct api_error *err)
{
    bool rate = strcmp(key, "burst") != 0;
    json_int_t min = rate ? API_RATE_MIN : 1;
    json_int_t max = rate ? API_RATE_MAX : API_BURST_MAX;
    const char *unit = rate ? "bits per second" : "bytes";
    char *s;
    int status;

    if (json_is_integer(value) && json_integer_value(value) >= min
        && json_integer_value(value) <= max) {
        return 0;
    }
    s = json_dumps(value, JSON_ENCODE_ANY | JSON_COMPACT);
    if (!json_is_integer(value)) {
        status =
            api_fail(err, 400, dir, "%s: %s.%s %s: expected an integer (%s)",
                     what, dir, key, s ? s : "?", unit);
    } else if (json_integer_value(value) <= 0) {
        status = api_fail(err, 400, dir,
                          "%s: %s.%s %s: must be greater than zero (%s)", what,
                          dir, key, s ? s : "?", unit);
    } else {
        status = api_fail(err, 400, dir,
                          "%s: %s.%s %s: must be %" JSON_INTEGER_FORMAT
                          "..%" JSON_INTEGER_FORMAT " %s",
                          what, dir, key, s ? s : "?", min, max, unit);
    }
    free(s);
    return status;
}

/* Applies direction 'dir' ("egress" or "ingress") of input 'in' to 'body',
 * as a merge patch when 'patch'. */
static int
apply_direction(const json_t *in, json_t *body, const char *dir, bool patch,
                const char *what, struct api_error *err)
{
    const json_t *value = json_object_get(in, dir);
    bool egress = !strcmp(dir, "egress");
    json_t *merged = NULL;
    const json_t *rate, *min_rate;
    const char *key;
    json_t *member;
    int status = 0;

    if (!value) {
        goto out;
    }
    if (json_is_null(value)) {
        json_object_del(body, dir);
        goto out;
    }
    status = check_placement(value, dir, what, err);
    if (status) {
        goto out;
    }
    merged = patch ? json_deep_copy(json_object_get(body, dir)) : NULL;
    if (!merged) {
        merged = json_object();
    }
    json_object_foreach((json_t *) value, key, member)
    {
        if (strcmp(key, "rate") && strcmp(key, "burst")
            && (!egress || strcmp(key, "min_rate"))) {
            status = api_fail(err, 400, dir,
                              "%s: %s: unknown field \"%s\" (expected %s)",
                              what, dir, key,
                              egress ? "\"rate\", \"burst\" and \"min_rate\""
                                     : "\"rate\" and \"burst\"");
            goto out;
        }
        if (json_is_null(member) && patch) {
            json_object_del(merged, key);
            continue;
        }
        status = check_limit(member, dir, key, what, err);
        if (status) {
            goto out;
        }
        json_object_set(merged, key, member);
    }
    rate = json_object_get(merged, "rate");
    min_rate = json_object_get(merged, "min_rate");
    if (!rate && (!min_rate || json_object_get(merged, "burst"))) {
        /* A burst is allowed above the rate, so it needs one; a guaranteed
         * minimum alone shapes without a limit. */
        status = api_fail(err, 400, dir,
                          "%s: %s.rate: required when \"%s\" is given%s (bits "
                          "per second)",
                          what, dir, dir, min_rate ? " with a burst" : "");
        goto out;
    }
    if (rate && min_rate
        && json_integer_value(min_rate) > json_integer_value(rate)) {
        status = api_fail(err, 400, "egress.min_rate",
                          "%s: egress.min_rate %" JSON_INTEGER_FORMAT
                          ": must not exceed egress.rate %" JSON_INTEGER_FORMAT
                          " (the guaranteed minimum is at most the limit)",
                          what, json_integer_value(min_rate),
                          json_integer_value(rate));
        goto out;
    }
    json_object_set(body, dir, merged);

out:
    json_decref(merged);
    return status;
}

/* Checks the values of the policy fields present in 'in' and copies them
 * into 'body' (null removes): for a creation if 'obj' is NULL, otherwise as
 * a merge patch of stored policy 'obj' (an api_apply_func; 'txn' is not
 * needed). */
static int
apply_fields(struct store_txn *txn, const struct store_obj *obj,
             const json_t *in, json_t *body, const char *what,
             struct api_error *err)
{
    bool patch = obj != NULL;
    const json_t *value;
    int status;

    status = apply_direction(in, body, "egress", patch, what, err);
    if (!status) {
        status = apply_direction(in, body, "ingress", patch, what, err);
    }
    if (status) {
        return status;
    }
    value = json_object_get(in, "dscp");
    if (json_is_null(value)) {
        json_object_del(body, "dscp");
    } else if (value) {
        json_int_t dscp = json_integer_value(value);

        if (dscp < 0 || dscp > API_DSCP_MAX) {
            return api_fail(err, 400, "dscp",
                            "%s: dscp %" JSON_INTEGER_FORMAT
                            ": must be 0..%d (leave it out to keep the "
                            "packets' own)",
                            what, dscp, API_DSCP_MAX);
        }
        json_object_set_new(body, "dscp", json_integer(dscp));
    }
    value = json_object_get(in, "priority");
    if (json_is_null(value)) {
        json_object_del(body, "priority");
    } else if (value) {
        json_int_t priority = json_integer_value(value);

        if (priority < 0 || priority > API_PRIORITY_MAX) {
            return api_fail(err, 400, "priority",
                            "%s: priority %" JSON_INTEGER_FORMAT
                            ": must be 0..%d (0 is the highest; leave it "
                            "out for the default, %d)",
                            what, priority, API_PRIORITY_MAX,
                            API_PRIORITY_DEFAULT);
        }
        json_object_set_new(body, "priority", json_integer(priority));
    }
    return api_apply_description(in, body, what, err);
}

/* Checks 'in' for creation ('current' NULL) or as a patch of 'current'. */
static int
check_input(const json_t *in, const json_t *current, const char *what,
            struct api_error *err)
{
    int status = 0;

    if (json_is_object(in)) {
        status = check_placement(in, NULL, what, err);
    }
    if (!status) {
        status = api_check_input(in, qos_fields, ARRAY_SIZE(qos_fields), what,
                                 current, current != NULL, err);
    }
    return status;
}

int
api_qos_create(struct api *api, const json_t *in, json_t **out,
               struct api_error *err)
{
    char *what = api_what("qos policy", api_get_string(in, "name"));
    int status;

    status = check_input(in, NULL, what, err);
    if (!status) {
        status =
            api_kind_create(api, &qos_kind, in, what, apply_fields, out, err);
    }
    free(what);
    return status;
}

int
api_qos_get(struct api *api, const char *name, json_t **out,
            struct api_error *err)
{
    return api_kind_get(api, &qos_kind, name, out, err);
}

int
api_qos_list(struct api *api, const json_t *query, json_t **out,
             struct api_error *err)
{
    return api_kind_list(api, &qos_kind, query, out, err);
}

int
api_qos_patch(struct api *api, const char *name, const json_t *in,
              int64_t if_match, json_t **out, struct api_error *err)
{
    char *what = api_what("qos policy", name);
    int status;

    status = json_is_object(in) ? check_placement(in, NULL, what, err) : 0;
    if (!status) {
        status = api_kind_patch(api, &qos_kind, name, in, if_match, what,
                                apply_fields, out, err);
    }
    free(what);
    return status;
}

/* The search for a user of a policy. */
struct qos_user {
    const char *policy; /* The policy's name. */
    const char *member; /* "qos" for ports, "default_qos" for networks. */
    char *user;         /* The first user found, or NULL. */
};

static int
qos_user_cb(const struct store_obj *obj, void *u_)
{
    struct qos_user *u = u_;
    const char *policy = api_get_string(obj->body, u->member);

    if (policy && !strcmp(policy, u->policy)) {
        u->user = xstrdup(obj->name);
        return API_STOP;
    }
    return 0;
}

/* Answers 409 for 'what' if a port or a network uses policy 'name'. */
static int
check_unused(struct store_txn *txn, const char *name, const char *what,
             struct api_error *err)
{
    static const struct {
        const char *kind;   /* Store kind. */
        const char *member; /* The member that names a policy. */
    } users[] = {
        {"port", "qos"},
        {"network", "default_qos"},
    };

    for (size_t i = 0; i < ARRAY_SIZE(users); i++) {
        struct qos_user u = {.policy = name, .member = users[i].member};
        int error = store_list(txn, users[i].kind, NULL, 0, qos_user_cb, &u);

        if (error && error != API_STOP) {
            return api_store_error(error, what, err);
        }
        if (u.user) {
            api_fail(err, 409, NULL,
                     "%s: in use by %s \"%s\" (its %s); detach it first", what,
                     users[i].kind, u.user, users[i].member);
            free(u.user);
            return 409;
        }
    }
    return 0;
}

int
api_qos_delete(struct api *api, const char *name, const json_t *in,
               int64_t if_match, struct api_error *err)
{
    char *what = api_what("qos policy", name);
    struct store_txn *txn = NULL;
    struct store_obj obj = {0};
    int status, error;

    status = api_kind_delete_begin(api, &qos_kind, name, in, if_match, what,
                                   &txn, &obj, err);
    if (!status) {
        status = check_unused(txn, name, what, err);
    }
    if (status) {
        goto out;
    }
    error = store_delete(txn, "qos-policy", name, obj.version);
    status = api_finish_no_content(&txn, error, what, err);

out:
    store_abort(txn);
    store_obj_clear(&obj);
    free(what);
    return status;
}

int
api_qos_check_ref(struct store_txn *txn, const json_t *value,
                  const char *field, const char *what, struct api_error *err)
{
    const char *name = json_string_value(value);
    struct store_obj obj;
    int status, error;

    if (!value || json_is_null(value)) {
        return 0;
    }
    status = api_check_name(name, field, what, err);
    if (status) {
        return status;
    }
    error = store_get(txn, "qos-policy", name, &obj);
    if (error == ENOENT) {
        return api_fail(err, 400, field,
                        "%s: %s \"%s\": no such qos policy (create it with "
                        "POST /v1/qos-policies)",
                        what, field, name);
    } else if (error) {
        return api_store_error(error, what, err);
    }
    store_obj_clear(&obj);
    return 0;
}
