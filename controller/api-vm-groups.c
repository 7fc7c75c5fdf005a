/* VM groups: /v1/vm-groups, the affinity and anti-affinity rules the
 * scheduler places VMs by (controller/scheduler.h).  A group's members are
 * the "vm-group-member" index objects "GROUP/VM" {"host": H} that VMs
 * write when they are created with the group in their "groups". */
#include "controller/api.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "controller/store.h"
#include "utils/util.h"

static const struct api_field group_fields[] = {
    {"name", API_STRING, API_IMMUTABLE, true},
    {"policy", API_STRING, API_IMMUTABLE, true},
    {"strict", API_BOOLEAN, API_IMMUTABLE, false},
    {"description", API_STRING, API_RW, false},
    {"vms", API_ARRAY, API_RO, false},
    {"version", API_INTEGER, API_VERSION, false},
    {"revision", API_INTEGER, API_RO, false},
    {"created_at", API_STRING, API_RO, false},
    {"updated_at", API_STRING, API_RO, false},
};

/* A walk over a group's members. */
struct members {
    const char *prefix; /* "GROUP/". */
    json_t *vms;        /* Their names. */
    size_t max;         /* Stop after this many (0: all). */
};

static int
members_cb(const struct store_obj *obj, void *m_)
{
    struct members *m = m_;
    size_t len = strlen(m->prefix);

    if (strncmp(obj->name, m->prefix, len)) {
        return API_STOP;
    }
    json_array_append_new(m->vms, json_string(obj->name + len));
    return m->max && json_array_size(m->vms) >= m->max ? API_STOP : 0;
}

/* Reads up to 'max' (0: all) members of group 'name' in 'txn' into a new
 * array '*vms'. */
static int
read_members(struct store_txn *txn, const char *name, size_t max, json_t **vms)
{
    struct members m = {
        .prefix = xasprintf("%s/", name),
        .vms = json_array(),
        .max = max,
    };
    int error =
        store_list(txn, "vm-group-member", m.prefix, 0, members_cb, &m);

    free((char *) m.prefix);
    *vms = m.vms;
    return error == API_STOP ? 0 : error;
}

/* The API form of stored group 'obj', with its members (an
 * api_out_func). */
static json_t *
group_out(struct api *api, struct store_txn *txn, const struct store_obj *obj)
{
    json_t *out = api_object_out(obj);
    json_t *vms = NULL;

    if (!txn || read_members(txn, obj->name, 0, &vms)) {
        json_decref(vms);
        vms = json_array();
    }
    json_object_set_new(out, "vms", vms);
    return out;
}

static const struct api_kind group_kind = {
    .kind = "vm-group",
    .plural = "vm-groups",
    .fields = group_fields,
    .n_fields = ARRAY_SIZE(group_fields),
    .out = group_out,
};

/* Makes a group's body from input 'in' (an api_apply_func): for a
 * creation, "policy" and "strict" (default true); for a patch, only the
 * description changes. */
static int
apply_fields(struct store_txn *txn, const struct store_obj *obj,
             const json_t *in, json_t *body, const char *what,
             struct api_error *err)
{
    static const char *const policies[] = {"affinity", "anti-affinity", NULL};
    const char *policy = api_get_string(in, "policy");

    if (!obj) {
        if (!api_is_one_of(policy, policies)) {
            char *q = api_quote(policy);

            api_fail(err, 400, "policy",
                     "%s: policy %s: expected \"affinity\" or "
                     "\"anti-affinity\"",
                     what, q);
            free(q);
            return 400;
        }
        json_object_set_new(body, "policy", json_string(policy));
        json_object_set_new(
            body, "strict",
            json_boolean(!json_is_false(json_object_get(in, "strict"))));
    }
    return api_apply_description(in, body, what, err);
}

int
api_vm_group_create(struct api *api, const json_t *in, json_t **out,
                    struct api_error *err)
{
    char *what = api_what("vm-group", api_get_string(in, "name"));
    int status;

    status = api_check_input(in, group_fields, ARRAY_SIZE(group_fields), what,
                             NULL, false, err);
    if (!status) {
        status = api_kind_create(api, &group_kind, in, what, apply_fields, out,
                                 err);
    }
    free(what);
    return status;
}

int
api_vm_group_get(struct api *api, const char *name, json_t **out,
                 struct api_error *err)
{
    return api_kind_get(api, &group_kind, name, out, err);
}

int
api_vm_group_list(struct api *api, const json_t *query, json_t **out,
                  struct api_error *err)
{
    return api_kind_list(api, &group_kind, query, out, err);
}

int
api_vm_group_patch(struct api *api, const char *name, const json_t *in,
                   int64_t if_match, json_t **out, struct api_error *err)
{
    char *what = api_what("vm-group", name);
    int status = api_kind_patch(api, &group_kind, name, in, if_match, what,
                                apply_fields, out, err);

    free(what);
    return status;
}

int
api_vm_group_delete(struct api *api, const char *name, const json_t *in,
                    int64_t if_match, struct api_error *err)
{
    char *what = api_what("vm-group", name);
    struct store_txn *txn = NULL;
    struct store_obj obj = {0};
    json_t *vms = NULL;
    int status, error;

    status = api_kind_delete_begin(api, &group_kind, name, in, if_match, what,
                                   &txn, &obj, err);
    if (status) {
        goto out;
    }
    error = read_members(txn, name, 1, &vms);
    if (error) {
        status = api_store_error(error, what, err);
        goto out;
    }
    if (json_array_size(vms)) {
        status = api_fail(err, 409, NULL,
                          "%s: in use by VM \"%s\" (delete its VMs first)",
                          what, json_string_value(json_array_get(vms, 0)));
        goto out;
    }
    error = store_delete(txn, "vm-group", name, obj.version);
    status = api_finish_no_content(&txn, error, what, err);

out:
    store_abort(txn);
    store_obj_clear(&obj);
    json_decref(vms);
    free(what);
    return status;
}
