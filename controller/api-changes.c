/* GET /v1/changes: the change stream of people's clients (the web
 * console), a long poll on the store's revisions that names the
 * collections whose objects changed. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "controller/api.h"
#include "utils/util.h"

/* How often a waiting poll looks at 'api->stopping', in milliseconds. */
#define CHANGES_SLICE_MS 500

/* A collection of the API and the store kinds its answers are made of: a
 * commit that writes one of them changes what a GET of the collection
 * answers. */
struct changes_collection {
    const char *name;         /* As in the path, "networks". */
    const char *const *kinds; /* Store kinds, NULL-terminated. */
};

static const char *const network_kinds[] = {"network", NULL};
/* A port's status is an object of its own, so that an agent's report
 * never changes the port's version; it changes what the list shows. */
static const char *const port_kinds[] = {"port", "port-status",
                                         "port-identity", NULL};
static const char *const host_kinds[] = {"host", "alloc", NULL};
static const char *const vm_kinds[] = {"vm", "vm-status", "migration",
                                       "migration-result", NULL};
static const char *const migration_kinds[] = {"migration", "migration-result",
                                              NULL};
/* Rule hit counters come with the rules' answers. */
static const char *const sg_kinds[] = {"security-group", "sg-rule",
                                       "rule-hits", NULL};
static const char *const qos_kinds[] = {"qos-policy", NULL};
static const char *const image_kinds[] = {"image", NULL};
static const char *const vm_group_kinds[] = {"vm-group", NULL};
static const char *const evtep_kinds[] = {"external-vtep", NULL};

static const struct changes_collection collections[] = {
    {"networks", network_kinds},     {"ports", port_kinds},
    {"hosts", host_kinds},           {"vms", vm_kinds},
    {"migrations", migration_kinds}, {"security-groups", sg_kinds},
    {"qos-policies", qos_kinds},     {"images", image_kinds},
    {"vm-groups", vm_group_kinds},   {"external-vteps", evtep_kinds},
};

/* Every kind of 'collections', once, for store_wait_kinds(). */
static const char *const all_kinds[] = {
    "network",
    "port",
    "port-status",
    "port-identity",
    "host",
    "alloc",
    "vm",
    "vm-status",
    "migration",
    "migration-result",
    "security-group",
    "sg-rule",
    "rule-hits",
    "qos-policy",
    "image",
    "vm-group",
    "external-vtep",
};

/* The names of the collections that a commit past 'revision' changed, as
 * a new JSON array; all of them with 'all'. */
static json_t *
changed_collections(struct api *api, int64_t revision, bool all)
{
    json_t *changed = json_array();

    for (size_t i = 0; i < ARRAY_SIZE(collections); i++) {
        const struct changes_collection *c = &collections[i];
        bool hit = all;

        for (const char *const *k = c->kinds; *k && !hit; k++) {
            hit = store_kind_revision(api->store, *k) > revision;
        }
        if (hit) {
            json_array_append_new(changed, json_string(c->name));
        }
    }
    return changed;
}

int
api_changes(struct api *api, const json_t *query, json_t **out,
            struct api_error *err)
{
    long long since = -1, timeout = API_WAIT_DEFAULT;
    int64_t current, deadline;
    const char *key;
    json_t *value;
    int status;

    json_object_foreach((json_t *) query, key, value)
    {
        if (strcmp(key, "revision") && strcmp(key, "timeout")) {
            return api_fail(err, 400, key,
                            "changes: %s: unknown query parameter (expected "
                            "revision, timeout)",
                            key);
        }
    }
    status =
        api_query_int(query, "revision", 0, INT64_MAX, "changes", &since, err);
    if (!status) {
        status = api_query_int(query, "timeout", 0, API_WAIT_MAX, "changes",
                               &timeout, err);
    }
    if (status) {
        return status;
    }

    deadline = time_msec() + timeout * 1000;
    for (;;) {
        int64_t remaining;
        json_t *changed;
        bool all;

        /* The revision is read before the kinds: a commit updates both at
         * once, so every commit up to 'current' is among the kinds read
         * after (a later one may be too, which costs a client one refetch
         * and loses nothing). */
        current = store_revision(api->store);
        if (since < 0) {
            /* No revision: where to start from, at once. */
            *out = json_pack("{sIs[]}", "revision", (json_int_t) current,
                             "changed");
            return 200;
        }
        /* A revision from before this process opened the store (its
         * commits are not known kind by kind), or one the store never
         * reached (another store, or one restored from a backup): the
         * client must reread everything. */
        all = since < api->opened_revision || since > current;
        changed = changed_collections(api, since, all);
        if (json_array_size(changed)) {
            *out = json_pack("{sIso}", "revision", (json_int_t) current,
                             "changed", changed);
            return 200;
        }
        json_decref(changed);

        remaining = deadline - time_msec();
        if (remaining <= 0) {
            /* Nothing the collections show changed up to 'current'. */
            *out = json_pack("{sIs[]}", "revision",
                             (json_int_t) (current > since ? current : since),
                             "changed");
            return 200;
        }
        if (atomic_load(&api->stopping)) {
            return api_fail(err, 503, NULL,
                            "changes: the controller is stopping; poll "
                            "again");
        }
        store_wait_kinds(api->store, all_kinds, ARRAY_SIZE(all_kinds), since,
                         remaining < CHANGES_SLICE_MS ? remaining
                                                      : CHANGES_SLICE_MS);
    }
}
