/* GET /v1/vms/NAME/console: the tail of a VM's serial console, which only
 * the agent of the VM's host has (doc/vms.md "Agent"), fetched from it on
 * each request. */
#include "controller/api.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controller/agents.h"
#include "controller/store.h"
#include "utils/util.h"

/* Reads query parameter "bytes" of 'query' (the only one allowed) into
 * '*bytes'. */
static int
parse_query(const json_t *query, const char *what, long *bytes,
            struct api_error *err)
{
    const char *key, *s;
    json_t *value;
    char *end;

    *bytes = API_CONSOLE_BYTES_DEFAULT;
    json_object_foreach((json_t *) query, key, value)
    {
        if (strcmp(key, "bytes")) {
            return api_fail(err, 400, key,
                            "%s: console: unknown query parameter \"%s\" "
                            "(only \"bytes\")",
                            what, key);
        }
    }
    value = json_object_get(query, "bytes");
    if (!value) {
        return 0;
    }
    s = json_string_value(value);
    errno = 0;
    *bytes = s ? strtol(s, &end, 10) : 0;
    if (!s || !*s || *end || errno || strspn(s, "0123456789") != strlen(s)
        || *bytes < 1 || *bytes > API_CONSOLE_BYTES_MAX) {
        return api_fail(err, 400, "bytes",
                        "%s: console: bytes must be a number of bytes, "
                        "1..%d (the tail of the console to show)",
                        what, API_CONSOLE_BYTES_MAX);
    }
    return 0;
}

int
api_vm_console(struct api *api, const char *name, const json_t *query,
               char **text, size_t *len, struct api_error *err)
{
    char *what = api_what("vm", name);
    struct agents_target agent = {0};
    struct agents_reply reply = {0};
    struct store_txn *txn = NULL;
    struct store_obj vm = {0};
    const char *host;
    char *path = NULL, *context = NULL;
    long bytes;
    int status;

    *text = NULL;
    *len = 0;
    status = parse_query(query, what, &bytes, err);
    if (!status) {
        status = api_begin(api, false, &txn, err);
    }
    if (!status) {
        status = api_get_object(txn, "vm", name, what, &vm, err);
    }
    if (status) {
        goto out;
    }
    host = api_get_string(vm.body, "host");
    if (!host) {
        const char *vm_status = api_get_string(vm.body, "status");

        status = api_fail(err, 409, NULL,
                          "%s: console: it is on no host yet (status %s), "
                          "so it has no console",
                          what, vm_status ? vm_status : "?");
        goto out;
    }
    status = agents_target_read(api, txn, host, &agent, NULL, err);
    if (status == 404) {
        status = api_fail(err, 503, NULL,
                          "%s: console: its host \"%s\" is not registered "
                          "(its agent has not started yet?)",
                          what, host);
    }
    store_abort(txn);
    txn = NULL;
    if (status) {
        goto out;
    }
    /* Names are of [a-z0-9-]: nothing to escape in a path. */
    path = xasprintf("/v1/vms/%s/console?bytes=%ld", name, bytes);
    context = xasprintf("%s: console", what);
    status = agents_call(&agent, "GET", path, NULL,
                         API_CONSOLE_BYTES_MAX + 4096, context, &reply, err);
    if (status) {
        goto out;
    }
    if (reply.status == 200) {
        *text = reply.body;
        *len = reply.len;
        reply.body = NULL;
        status = 200;
    } else {
        json_t *answer = json_loadb(reply.body, reply.len, 0, NULL);
        const json_t *error = json_object_get(answer, "error");
        /* Agents answer {"error": "MESSAGE"}; anything in front of them
         * that speaks this API, {"error": {"message": "MESSAGE"}}. */
        const char *m = json_is_string(error)
                            ? json_string_value(error)
                            : api_get_string(error, "message");

        if (reply.status == 404) {
            status = api_fail(err, 404, NULL,
                              "%s: console: the agent of host \"%s\" does "
                              "not run it (yet)%s%s",
                              what, host, m ? ": " : "", m ? m : "");
        } else {
            status =
                api_fail(err, 502, NULL,
                         "%s: console: the agent of host \"%s\" "
                         "answered %ld%s%s",
                         what, host, reply.status, m ? ": " : "", m ? m : "");
        }
        json_decref(answer);
    }

out:
    store_abort(txn);
    store_obj_clear(&vm);
    agents_target_clear(&agent);
    agents_reply_clear(&reply);
    free(path);
    free(context);
    free(what);
    return status;
}
