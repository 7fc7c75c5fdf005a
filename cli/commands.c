#include "cli/commands.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/drs.h"
#include "cli/observe.h"
#include "cli/table.h"
#include "utils/units.h"
#include "utils/util.h"

/* What audit shows without --limit: enough to see what just happened. */
#define AUDIT_DEFAULT_LIMIT 100

/* Metadata every object has, shown after its own fields. */
#define META_FIELDS "version", "revision", "created_at", "updated_at"

/* A kind of object of the API and how people see it. */
struct kind {
    const char *resource;       /* Command word: "network". */
    const char *plural;         /* In messages: "networks". */
    const char *path;           /* Its collection: "/v1/networks". */
    const char *const *headers; /* Table column headers. */
    const char *const *columns; /* The field shown in each column. */
    const char *const *fields;  /* Order of "show"'s fields. */
    /* Returns a new object that shows object 'obj' to people (e.g. with
     * rates in human units), or NULL to show 'obj' as it is. */
    json_t *(*display)(const json_t *obj);
};

static json_t *qos_display(const json_t *);
static json_t *host_display(const json_t *);
static json_t *rule_display(const json_t *);
static json_t *external_vtep_display(const json_t *);
static json_t *image_display(const json_t *);
static json_t *vm_display(const json_t *);
static json_t *migration_display(const json_t *);

static const struct kind kinds[] = {
    {
        .resource = "network",
        .plural = "networks",
        .path = "/v1/networks",
        .headers = (const char *const[]){"NAME", "VNI", "CIDR", "MTU",
                                         "DESCRIPTION", NULL},
        .columns = (const char *const[]){"name", "vni", "cidr", "mtu",
                                         "description", NULL},
        .fields = (const char *const[]){"name", "vni", "cidr", "mtu",
                                        "default_qos", "default_action",
                                        "description", META_FIELDS, NULL},
    },
    {
        .resource = "port",
        .plural = "ports",
        .path = "/v1/ports",
        .headers =
            (const char *const[]){"NAME", "NETWORK", "MAC", "IP", "HOST",
                                  "STATUS", "LABELS", "GROUPS", NULL},
        .columns =
            (const char *const[]){"name", "network", "mac", "ip", "host",
                                  "status", "labels", "groups", NULL},
        .fields = (const char *const[]){"name", "network", "mac", "ip", "host",
                                        "device", "status", "status_reason",
                                        "labels", "security_groups", "groups",
                                        "identity", "qos", META_FIELDS, NULL},
    },
    {
        .resource = "qos",
        .plural = "QoS policies",
        .path = "/v1/qos-policies",
        .headers = (const char *const[]){"NAME", "EGRESS-RATE", "EGRESS-BURST",
                                         "MIN-RATE", "PRIO", "INGRESS-RATE",
                                         "INGRESS-BURST", "DSCP",
                                         "DESCRIPTION", NULL},
        .columns = (const char *const[]){"name", "egress_rate", "egress_burst",
                                         "egress_min_rate", "priority",
                                         "ingress_rate", "ingress_burst",
                                         "dscp", "description", NULL},
        .fields =
            (const char *const[]){"name", "egress_rate", "egress_burst",
                                  "egress_min_rate", "priority",
                                  "ingress_rate", "ingress_burst", "dscp",
                                  "description", META_FIELDS, NULL},
        .display = qos_display,
    },
    {
        .resource = "sg",
        .plural = "security groups",
        .path = "/v1/security-groups",
        .headers = (const char *const[]){"NAME", "SELECTOR", "MEMBERS",
                                         "DESCRIPTION", NULL},
        .columns = (const char *const[]){"name", "selector", "members",
                                         "description", NULL},
        .fields = (const char *const[]){"name", "description", "selector",
                                        "members", META_FIELDS, NULL},
    },
    {
        /* The rules of a group, under "/v1/security-groups/GROUP/rules":
         * 'path' is only the collection's parent. */
        .resource = "sg rule",
        .plural = "rules",
        .path = "/v1/security-groups",
        .headers =
            (const char *const[]){"ID", "DIRECTION", "PROTOCOL", "PORTS",
                                  "PEER", "ACTION", "LOG", "HITS", NULL},
        .columns =
            (const char *const[]){"id", "direction", "protocol", "ports",
                                  "peer", "action", "log", "hits", NULL},
        .fields = (const char *const[]){"id", "group", "direction", "protocol",
                                        "ports", "icmp_type", "peer_group",
                                        "peer_cidr", "action", "log", "hits",
                                        "created_at", NULL},
        .display = rule_display,
    },
    {
        .resource = "host",
        .plural = "hosts",
        .path = "/v1/hosts",
        .headers = (const char *const[]){"NAME", "VTEP", "UNDERLAY", "UPLINK",
                                         "STATUS", "LAST-HEARTBEAT", "VMS",
                                         "VCPUS", "MEMORY", "MAINT", NULL},
        .columns =
            (const char *const[]){"name", "vtep", "underlay", "uplink_rate",
                                  "status", "last_heartbeat", "vms", "vcpus",
                                  "memory", "maintenance", NULL},
        .fields =
            (const char *const[]){"name", "vtep", "underlay", "uplink_rate",
                                  "status", "conditions", "last_heartbeat",
                                  "hypervisor", "vms", "vcpus", "memory",
                                  "disk", "overcommit", "maintenance",
                                  "capacity", "limits", META_FIELDS, NULL},
        .display = host_display,
    },
    {
        .resource = "external-vtep",
        .plural = "external VTEPs",
        .path = "/v1/external-vteps",
        .headers = (const char *const[]){"NAME", "ADDRESS", "NETWORKS", "GBP",
                                         "ENDPOINTS", "DESCRIPTION", NULL},
        .columns = (const char *const[]){"name", "address", "networks", "gbp",
                                         "endpoints", "description", NULL},
        .fields = (const char *const[]){"name", "address", "networks", "gbp",
                                        "endpoints", "description",
                                        META_FIELDS, NULL},
        .display = external_vtep_display,
    },
    {
        .resource = "vm",
        .plural = "VMs",
        .path = "/v1/vms",
        .headers = (const char *const[]){"NAME", "STATUS", "HOST", "VCPUS",
                                         "MEMORY", "IMAGE", "IPS", NULL},
        .columns = (const char *const[]){"name", "status", "host", "vcpus",
                                         "memory", "image", "ips", NULL},
        .fields =
            (const char *const[]){
                "name",      "uuid",        "status",    "status_reason",
                "power",     "host",        "vcpus",     "memory",
                "image",     "disk",        "nics",      "groups",
                "placement", "hostname",    "ha",        "ha_priority",
                "migration", "description", META_FIELDS, NULL},
        .display = vm_display,
    },
    {
        .resource = "migration",
        .plural = "migrations",
        .path = "/v1/migrations",
        .headers = (const char *const[]){"VM", "FROM", "TO", "STATE", "REASON",
                                         "PROGRESS", "STARTED", NULL},
        .columns = (const char *const[]){"vm", "from", "to", "state", "reason",
                                         "progress", "started", NULL},
        .display = migration_display,
    },
    {
        .resource = "vm-group",
        .plural = "VM groups",
        .path = "/v1/vm-groups",
        .headers = (const char *const[]){"NAME", "POLICY", "STRICT", "VMS",
                                         "DESCRIPTION", NULL},
        .columns = (const char *const[]){"name", "policy", "strict", "vms",
                                         "description", NULL},
        .fields = (const char *const[]){"name", "policy", "strict", "vms",
                                        "description", META_FIELDS, NULL},
    },
    {
        .resource = "image",
        .plural = "images",
        .path = "/v1/images",
        .headers = (const char *const[]){"NAME", "STATUS", "FORMAT", "SIZE",
                                         "VIRTUAL-SIZE", "DESCRIPTION", NULL},
        .columns = (const char *const[]){"name", "status", "format", "size",
                                         "virtual_size", "description", NULL},
        .fields = (const char *const[]){"name", "status", "format", "size",
                                        "virtual_size", "sha256", "file",
                                        "description", META_FIELDS, NULL},
        .display = image_display,
    },
    {
        .resource = "token",
        .plural = "tokens",
        .path = "/v1/tokens",
        .headers =
            (const char *const[]){"NAME", "ROLE", "HOST", "CREATED", NULL},
        .columns =
            (const char *const[]){"name", "role", "host", "created_at", NULL},
        .fields = (const char *const[]){"name", "role", "host", "token",
                                        META_FIELDS, NULL},
    },
    {
        .resource = "audit",
        .plural = "audit records",
        .path = "/v1/audit",
        .headers =
            (const char *const[]){"TIME", "CLIENT", "WHO", "ROLE", "METHOD",
                                  "PATH", "STATUS", "MESSAGE", NULL},
        .columns =
            (const char *const[]){"time", "client", "who", "role", "method",
                                  "path", "status", "message", NULL},
        .fields = NULL,
    },
    {
        .resource = "refused",
        .plural = "refused requests",
        .path = "/v1/audit/refused",
        .headers =
            (const char *const[]){"LAST", "CLIENT", "WHO", "STATUS", "COUNT",
                                  "FIRST", "METHOD", "PATH", "MESSAGE", NULL},
        .columns = (const char *const[]){"last_time", "client", "who",
                                         "status", "count", "first_time",
                                         "method", "path", "message", NULL},
        .fields = NULL,
    },
};

static const struct kind *
find_kind(const char *resource)
{
    for (size_t i = 0; i < ARRAY_SIZE(kinds); i++) {
        if (!strcmp(kinds[i].resource, resource)) {
            return &kinds[i];
        }
    }
    abort();
}

/* Messages. */

void
commands_error(struct cli_ctx *ctx, const char *format, ...)
{
    va_list ap;

    fputs("fabricctl: ", ctx->err);
    va_start(ap, format);
    vfprintf(ctx->err, format, ap);
    va_end(ap);
    fputc('\n', ctx->err);
}

int
commands_usage_error(struct cli_ctx *ctx, const struct cli_args *args,
                     const char *message)
{
    const struct cli_command *c = args->command;

    /* A command without a verb ("flowlog") is named by its resource
     * alone. */
    if (c->verb) {
        commands_error(ctx, "%s %s: %s", c->resource, c->verb, message);
        fprintf(ctx->err, "Try 'fabricctl %s %s --help'\n", c->resource,
                c->verb);
    } else {
        commands_error(ctx, "%s: %s", c->resource, message);
        fprintf(ctx->err, "Try 'fabricctl %s --help'\n", c->resource);
    }
    return CLI_EXIT_USAGE;
}

/* Requests. */

/* Makes the client of 'ctx' if it has none.  Returns an exit status. */
static int
ensure_client(struct cli_ctx *ctx)
{
    int error;

    if (ctx->client == NULL) {
        error = client_create(&ctx->config, &ctx->client);
        if (error) {
            commands_error(ctx, "cannot initialize libcurl: %s",
                           strerror(error));
            return CLI_EXIT_CONNECT;
        }
    }
    return CLI_EXIT_OK;
}

/* Reports the outcome of a request: 'error' and 'msg' from the client,
 * or answer 'r'.  Returns CLI_EXIT_OK for a 2xx answer, leaving 'r' to
 * the caller; otherwise prints why, clears 'r' and returns the exit
 * status: CLI_EXIT_CONNECT without an answer, CLI_EXIT_API for an error
 * answer. */
static int
check_answer(struct cli_ctx *ctx, int error, char *msg,
             struct client_response *r)
{
    if (error) {
        commands_error(ctx, "%s", msg);
        free(msg);
        return CLI_EXIT_CONNECT;
    }
    if (r->status < 200 || r->status > 299) {
        msg = client_error_message(r);
        if (r->status == 401 && !ctx->token_given) {
            commands_error(ctx,
                           "%s (no token was given: use --token-file, "
                           "--token or FABRIC_TOKEN)",
                           msg);
        } else {
            commands_error(ctx, "%s", msg);
        }
        free(msg);
        client_response_clear(r);
        return CLI_EXIT_API;
    }
    return CLI_EXIT_OK;
}

/* Stores in '*answer' the JSON of 2xx answer 'r' (NULL if it had none),
 * which this clears.  Returns an exit status. */
static int
json_answer(struct cli_ctx *ctx, const char *method, const char *path,
            struct client_response *r, json_t **answer)
{
    if (r->json == NULL && r->text[strspn(r->text, " \t\r\n")] != '\0') {
        commands_error(ctx, "the answer of %s to %s %s is not JSON",
                       client_url(ctx->client), method, path);
        client_response_clear(r);
        return CLI_EXIT_API;
    }
    *answer = json_incref(r->json);
    client_response_clear(r);
    return CLI_EXIT_OK;
}

/* Sends 'method' 'path' with 'body' (or none if NULL) and "If-Match" for
 * 'if_version' (if positive).  On a 2xx answer stores its JSON (NULL if it
 * had none) in '*answer' and returns CLI_EXIT_OK; otherwise prints why and
 * returns the exit status: CLI_EXIT_CONNECT without an answer,
 * CLI_EXIT_API for an error answer. */
static int
request(struct cli_ctx *ctx, const char *method, const char *path,
        const json_t *body, int64_t if_version, json_t **answer)
{
    struct client_response r;
    char *msg = NULL;
    int status;

    *answer = NULL;
    status = ensure_client(ctx);
    if (!status) {
        int error = client_request(ctx->client, method, path, body, if_version,
                                   &r, &msg);

        status = check_answer(ctx, error, msg, &r);
    }
    return status ? status : json_answer(ctx, method, path, &r, answer);
}

int
commands_request(struct cli_ctx *ctx, const char *method, const char *path,
                 const json_t *body, json_t **answer)
{
    return request(ctx, method, path, body, 0, answer);
}

/* Returns the malloc'd path of object 'name' of 'kind'. */
static char *
object_path(const struct kind *kind, const char *name)
{
    char *escaped = client_escape(name);
    char *path = xasprintf("%s/%s", kind->path, escaped);

    free(escaped);
    return path;
}

void
commands_query_add(char **query, const char *key, const char *value)
{
    char *escaped = client_escape(value);
    char *q = xasprintf("%s&%s=%s", *query, key, escaped);

    free(escaped);
    free(*query);
    *query = q;
}

char *
commands_args_query(const struct cli_args *args, const char *const *names,
                    size_t n)
{
    char *query = xstrdup("");

    for (size_t i = 0; i < n; i++) {
        const char *value;
        size_t pos = 0;

        while ((value = cli_args_next(args, names[i], &pos)) != NULL) {
            commands_query_add(&query, names[i], value);
        }
    }
    return query;
}

/* GETs the list at 'path' with the extra 'query' ("" or "&k=v..."), page
 * after page, until its end or until 'max' items (0 for no limit), and
 * stores the items in '*itemsp' as one JSON array.  Returns an exit
 * status, having printed why if it is not CLI_EXIT_OK. */
static int
list_all(struct cli_ctx *ctx, const char *path, const char *query, size_t max,
         json_t **itemsp)
{
    json_t *items = json_array();
    char *page_token = NULL;
    int status;

    *itemsp = NULL;
    for (;;) {
        size_t limit = ctx->page_size;
        char *url = xasprintf("%s?limit=", path);
        json_t *answer, *page;
        const char *next;
        char *full;

        if (max && max - json_array_size(items) < limit) {
            limit = max - json_array_size(items);
        }
        full = xasprintf("%s%zu%s", url, limit, query);
        free(url);
        if (page_token) {
            commands_query_add(&full, "page_token", page_token);
        }
        status = request(ctx, "GET", full, NULL, 0, &answer);
        free(full);
        if (status) {
            break;
        }

        page = json_object_get(answer, "items");
        if (!json_is_array(page)) {
            commands_error(ctx, "the answer to GET %s has no \"items\" list",
                           path);
            json_decref(answer);
            status = CLI_EXIT_API;
            break;
        }
        json_array_extend(items, page);

        next = json_string_value(json_object_get(answer, "next_page_token"));
        if (next == NULL || next[0] == '\0'
            || (max && json_array_size(items) >= max)) {
            json_decref(answer);
            break;
        }
        /* A controller that hands out the same page again would keep this
         * loop going for ever. */
        if (page_token && !strcmp(page_token, next)) {
            commands_error(ctx,
                           "the controller repeated page token \"%s\" of "
                           "GET %s",
                           next, path);
            json_decref(answer);
            status = CLI_EXIT_API;
            break;
        }
        free(page_token);
        page_token = xstrdup(next);
        json_decref(answer);
    }
    free(page_token);

    if (status) {
        json_decref(items);
        return status;
    }
    /* A controller may round a page up; the caller asked for 'max'. */
    while (max && json_array_size(items) > max) {
        json_array_remove(items, json_array_size(items) - 1);
    }
    *itemsp = items;
    return CLI_EXIT_OK;
}

/* Output. */

void
commands_print_json(struct cli_ctx *ctx, const json_t *json, size_t flags)
{
    json_dumpf(json, ctx->out, flags | JSON_PRESERVE_ORDER);
    fputc('\n', ctx->out);
}

/* Prints object 'obj' of 'kind' as JSON or as "key: value" lines. */
static void
print_object(struct cli_ctx *ctx, const struct kind *kind, const json_t *obj)
{
    if (ctx->json) {
        commands_print_json(ctx, obj, JSON_INDENT(2));
    } else if (json_is_object(obj)) {
        json_t *shown = kind->display ? kind->display(obj) : NULL;
        char *s = table_format_fields(shown ? shown : obj, kind->fields);

        fputs(s, ctx->out);
        free(s);
        json_decref(shown);
    }
}

/* Builds the table of 'items' with 'headers', a column per field of
 * 'columns'. */
static struct table *
make_table(const json_t *items, const char *const *headers,
           const char *const *columns)
{
    struct table *t = table_create(headers);

    for (size_t i = 0; i < json_array_size(items); i++) {
        const json_t *item = json_array_get(items, i);

        table_add_row(t);
        for (size_t c = 0; columns[c]; c++) {
            table_add_json(t, json_object_get(item, columns[c]));
        }
    }
    return t;
}

/* Prints the table of list 'items' of 'kind', shown to people the way
 * 'kind' says. */
static void
print_table(struct cli_ctx *ctx, const struct kind *kind, const json_t *items)
{
    json_t *shown = NULL;
    struct table *t;

    if (kind->display) {
        shown = json_array();
        for (size_t i = 0; i < json_array_size(items); i++) {
            json_array_append_new(shown,
                                  kind->display(json_array_get(items, i)));
        }
    }
    t = make_table(shown ? shown : items, kind->headers, kind->columns);
    table_print(t, ctx->out);
    table_destroy(t);
    json_decref(shown);
}

/* Prints list 'items' of 'kind' as a JSON array or as a table.  An empty
 * table is reported on the error stream, so that the output stays empty
 * for "| wc -l" and the like. */
static void
print_list(struct cli_ctx *ctx, const struct kind *kind, const json_t *items)
{
    if (ctx->json) {
        commands_print_json(ctx, items, JSON_INDENT(2));
        return;
    }
    if (json_array_size(items) == 0) {
        fprintf(ctx->err, "No %s found.\n", kind->plural);
        return;
    }
    print_table(ctx, kind, items);
}

/* Generic verbs. */

static int
run_list(struct cli_ctx *ctx, const struct cli_args *args)
{
    const struct kind *kind = find_kind(args->command->resource);
    static const char *const filters[] = {"network", "host", "label"};
    /* Only "port list" has these options; other lists get none. */
    char *query = commands_args_query(args, filters, ARRAY_SIZE(filters));
    json_t *items;
    int status;

    status = list_all(ctx, kind->path, query, 0, &items);
    free(query);
    if (status == CLI_EXIT_OK) {
        print_list(ctx, kind, items);
        json_decref(items);
    }
    return status;
}

static int
run_show(struct cli_ctx *ctx, const struct cli_args *args)
{
    const struct kind *kind = find_kind(args->command->resource);
    char *path = object_path(kind, args->pos[0]);
    json_t *obj;
    int status;

    status = request(ctx, "GET", path, NULL, 0, &obj);
    free(path);
    if (status == CLI_EXIT_OK) {
        print_object(ctx, kind, obj);
        json_decref(obj);
    }
    return status;
}

static int
run_delete(struct cli_ctx *ctx, const struct cli_args *args)
{
    const struct kind *kind = find_kind(args->command->resource);
    char *path = object_path(kind, args->pos[0]);
    int64_t if_version = 0;
    json_t *answer;
    int status;

    cli_args_get_number(args, "if-version", &if_version);
    status = request(ctx, "DELETE", path, NULL, if_version, &answer);
    free(path);
    if (status == CLI_EXIT_OK) {
        if (!ctx->json) {
            fprintf(ctx->out, "%s \"%s\" deleted\n", kind->resource,
                    args->pos[0]);
        } else if (answer) {
            commands_print_json(ctx, answer, JSON_INDENT(2));
        }
        json_decref(answer);
    }
    return status;
}

/* POSTs 'body' (which this steals) to the collection of the command's
 * kind and prints the object created. */
static int
create(struct cli_ctx *ctx, const struct cli_args *args, json_t *body)
{
    const struct kind *kind = find_kind(args->command->resource);
    json_t *obj;
    int status;

    status = request(ctx, "POST", kind->path, body, 0, &obj);
    json_decref(body);
    if (status == CLI_EXIT_OK) {
        print_object(ctx, kind, obj);
        json_decref(obj);
    }
    return status;
}

/* PATCHes the command's object with 'body' (which this steals), based on
 * --if-version if given, and prints the object as it is now. */
static int
patch(struct cli_ctx *ctx, const struct cli_args *args, json_t *body)
{
    const struct kind *kind = find_kind(args->command->resource);
    char *path = object_path(kind, args->pos[0]);
    int64_t if_version = 0;
    json_t *obj;
    int status;

    cli_args_get_number(args, "if-version", &if_version);
    status = request(ctx, "PATCH", path, body, if_version, &obj);
    json_decref(body);
    free(path);
    if (status == CLI_EXIT_OK) {
        print_object(ctx, kind, obj);
        json_decref(obj);
    }
    return status;
}

/* Sets member 'key' of 'obj' to option 'name''s value as a string, if the
 * option was given. */
static void
set_string(json_t *obj, const char *key, const struct cli_args *args,
           const char *name)
{
    const char *value = cli_args_get(args, name);

    if (value) {
        json_object_set_new(obj, key, json_string(value));
    }
}

/* Sets member 'key' of 'obj' to option 'name''s value as an integer, if
 * the option was given. */
static void
set_number(json_t *obj, const char *key, const struct cli_args *args,
           const char *name)
{
    int64_t n;

    if (cli_args_get_number(args, name, &n)) {
        json_object_set_new(obj, key, json_integer(n));
    }
}

/* Sets member 'key' of 'obj' to option 'name''s value as a string if the
 * option was given, or to null (merge-patch removal) if it was "". */
static void
set_optional(json_t *obj, const char *key, const struct cli_args *args,
             const char *name)
{
    const char *value = cli_args_get(args, name);

    if (value) {
        json_object_set_new(obj, key,
                            value[0] ? json_string(value) : json_null());
    }
}

/* Adds every "--label KEY=VALUE" of 'args' to 'labels'; a key given twice
 * takes the last value, as a later assignment would. */
static void
add_labels(json_t *labels, const struct cli_args *args)
{
    const char *label;
    size_t pos = 0;

    while ((label = cli_args_next(args, "label", &pos)) != NULL) {
        const char *eq = strchr(label, '=');
        char *key = xasprintf("%.*s", (int) (eq - label), label);

        json_object_set_new(labels, key, json_string(eq + 1));
        free(key);
    }
}

/* Returns the list of the values of every "--OPTION VALUE" of 'args', or
 * NULL if none was given; a "" among them stands for nothing at all, so
 * that "--security-group ''" empties a port's list of groups. */
static json_t *
repeated_list(const struct cli_args *args, const char *option)
{
    json_t *groups = NULL;
    const char *group;
    size_t pos = 0;

    while ((group = cli_args_next(args, option, &pos)) != NULL) {
        if (!groups) {
            groups = json_array();
        }
        if (group[0]) {
            json_array_append_new(groups, json_string(group));
        }
    }
    return groups;
}

/* Networks. */

/* Sets "dns_servers" of 'body' to the "--dns" options of 'args', if any:
 * "--dns ''" alone removes them. */
static void
set_dns_servers(json_t *body, const struct cli_args *args)
{
    json_t *servers = repeated_list(args, "dns");

    if (servers) {
        json_object_set_new(body, "dns_servers", servers);
    }
}

static int
run_network_create(struct cli_ctx *ctx, const struct cli_args *args)
{
    json_t *body = json_object();

    json_object_set_new(body, "name", json_string(args->pos[0]));
    set_string(body, "cidr", args, "cidr");
    set_number(body, "vni", args, "vni");
    set_number(body, "mtu", args, "mtu");
    set_string(body, "description", args, "description");
    set_string(body, "default_qos", args, "default-qos");
    set_string(body, "default_action", args, "default-action");
    set_dns_servers(body, args);
    return create(ctx, args, body);
}

static int
run_network_update(struct cli_ctx *ctx, const struct cli_args *args)
{
    json_t *body = json_object();

    set_number(body, "mtu", args, "mtu");
    set_string(body, "description", args, "description");
    set_optional(body, "default_qos", args, "default-qos");
    set_string(body, "default_action", args, "default-action");
    set_dns_servers(body, args);
    if (json_object_size(body) == 0) {
        json_decref(body);
        return commands_usage_error(
            ctx, args,
            "nothing to change: give --mtu, --description, "
            "--default-qos, --default-action or --dns");
    }
    return patch(ctx, args, body);
}

/* Ports. */

static int
run_port_create(struct cli_ctx *ctx, const struct cli_args *args)
{
    json_t *body = json_object();
    json_t *labels = json_object();
    const char *host = cli_args_get(args, "host");
    json_t *groups;

    json_object_set_new(body, "name", json_string(args->pos[0]));
    set_string(body, "network", args, "network");
    set_string(body, "mac", args, "mac");
    set_string(body, "ip", args, "ip");
    /* An empty host means "not placed yet", which the API spells as no
     * host at all. */
    if (host && host[0]) {
        json_object_set_new(body, "host", json_string(host));
    }
    set_string(body, "device", args, "device");
    if (cli_args_get(args, "qos") && cli_args_get(args, "qos")[0]) {
        set_string(body, "qos", args, "qos");
    }
    add_labels(labels, args);
    if (json_object_size(labels)) {
        json_object_set(body, "labels", labels);
    }
    json_decref(labels);
    groups = repeated_list(args, "security-group");
    if (json_array_size(groups)) {
        json_object_set(body, "security_groups", groups);
    }
    json_decref(groups);
    return create(ctx, args, body);
}

static int
run_port_update(struct cli_ctx *ctx, const struct cli_args *args)
{
    json_t *body = json_object();
    json_t *labels = json_object();
    const char *host = cli_args_get(args, "host");
    json_t *groups;
    const char *key;
    size_t pos = 0;

    /* The body is a JSON merge patch: null removes a member. */
    if (host) {
        json_object_set_new(body, "host",
                            host[0] ? json_string(host) : json_null());
    }
    set_optional(body, "qos", args, "qos");
    add_labels(labels, args);
    while ((key = cli_args_next(args, "remove-label", &pos)) != NULL) {
        if (json_object_get(labels, key)) {
            char *msg = xasprintf("label \"%s\" is both set and removed", key);
            int status = commands_usage_error(ctx, args, msg);

            free(msg);
            json_decref(labels);
            json_decref(body);
            return status;
        }
        json_object_set_new(labels, key, json_null());
    }
    if (json_object_size(labels)) {
        json_object_set(body, "labels", labels);
    }
    json_decref(labels);
    /* The list given replaces the port's. */
    groups = repeated_list(args, "security-group");
    if (groups) {
        json_object_set_new(body, "security_groups", groups);
    }
    if (json_object_size(body) == 0) {
        json_decref(body);
        return commands_usage_error(
            ctx, args,
            "nothing to change: give --host, --qos, "
            "--label, --remove-label or --security-group");
    }
    return patch(ctx, args, body);
}

/* QoS policies. */

/* Formats integer member 'key' of 'from' with 'format' (units_format_rate()
 * or units_format_size()) into member 'to' of 'shown', if present. */
static void
show_units(json_t *shown, const char *to, const json_t *from, const char *key,
           char *(*format)(uint64_t, char *, size_t))
{
    json_int_t n = json_integer_value(json_object_get(from, key));
    char buf[UNITS_STRLEN];

    if (n > 0) {
        json_object_set_new(shown, to,
                            json_string(format(n, buf, sizeof buf)));
    }
}

/* Shows QoS policy 'obj' flat, with rates and sizes in human units,
 * "keep" for an absent DSCP and "default" for an absent priority. */
static json_t *
qos_display(const json_t *obj)
{
    const json_t *egress = json_object_get(obj, "egress");
    const json_t *ingress = json_object_get(obj, "ingress");
    json_t *shown = json_deep_copy(obj);
    const json_t *dscp = json_object_get(obj, "dscp");

    json_object_del(shown, "egress");
    json_object_del(shown, "ingress");
    show_units(shown, "egress_rate", egress, "rate", units_format_rate);
    show_units(shown, "egress_burst", egress, "burst", units_format_size);
    show_units(shown, "egress_min_rate", egress, "min_rate",
               units_format_rate);
    show_units(shown, "ingress_rate", ingress, "rate", units_format_rate);
    show_units(shown, "ingress_burst", ingress, "burst", units_format_size);
    if (!dscp) {
        json_object_set_new(shown, "dscp", json_string("keep"));
    }
    if (!json_object_get(obj, "priority")) {
        json_object_set_new(shown, "priority", json_string("default"));
    }
    return shown;
}

/* Sets member 'key' of direction 'dir' of 'body' to option 'name''s value
 * in bits per second or bytes, if the option was given. */
static void
set_units(json_t *body, const char *dir, const char *key,
          const struct cli_args *args, const char *name)
{
    json_t *d = json_object_get(body, dir);
    uint64_t n;

    if (!cli_args_get_units(args, name, &n)) {
        return;
    }
    if (!d) {
        d = json_object();
        json_object_set_new(body, dir, d);
    }
    json_object_set_new(d, key, json_integer((json_int_t) n));
}

/* Fills QoS policy 'body' from the options of 'args'.  In an update
 * ('patch'), "--dscp keep" removes the marking, "--priority default" the
 * priority and "--description ''" the description. */
static void
qos_body(json_t *body, const struct cli_args *args, bool patch)
{
    const char *dscp = cli_args_get(args, "dscp");
    const char *priority = cli_args_get(args, "priority");

    set_units(body, "egress", "rate", args, "egress-rate");
    set_units(body, "egress", "burst", args, "egress-burst");
    set_units(body, "egress", "min_rate", args, "egress-min-rate");
    set_units(body, "ingress", "rate", args, "ingress-rate");
    set_units(body, "ingress", "burst", args, "ingress-burst");
    if (dscp && strcmp(dscp, "keep")) {
        json_object_set_new(body, "dscp", json_integer(atoi(dscp)));
    } else if (dscp && patch) {
        json_object_set_new(body, "dscp", json_null());
    }
    if (priority && strcmp(priority, "default")) {
        json_object_set_new(body, "priority", json_integer(atoi(priority)));
    } else if (priority && patch) {
        json_object_set_new(body, "priority", json_null());
    }
    if (patch) {
        set_optional(body, "description", args, "description");
    } else {
        set_string(body, "description", args, "description");
    }
}

static int
run_qos_create(struct cli_ctx *ctx, const struct cli_args *args)
{
    json_t *body = json_object();

    json_object_set_new(body, "name", json_string(args->pos[0]));
    qos_body(body, args, false);
    return create(ctx, args, body);
}

static int
run_qos_update(struct cli_ctx *ctx, const struct cli_args *args)
{
    json_t *body = json_object();

    qos_body(body, args, true);
    if (json_object_size(body) == 0) {
        json_decref(body);
        return commands_usage_error(ctx, args,
                                    "nothing to change: give --egress-rate, "
                                    "--egress-burst, --egress-min-rate, "
                                    "--ingress-rate, --ingress-burst, --dscp, "
                                    "--priority or --description");
    }
    return patch(ctx, args, body);
}

/* Security groups. */

/* Adds every "--selector KEY=VALUE" of 'args' to 'selector', and in an
 * update every "--remove-selector KEY" as a removal.  Returns NULL or a
 * malloc'd usage problem. */
static char *
add_selector(json_t *selector, const struct cli_args *args)
{
    const char *pair, *key;
    size_t pos = 0;

    while ((pair = cli_args_next(args, "selector", &pos)) != NULL) {
        const char *eq = strchr(pair, '=');
        char *k = xasprintf("%.*s", (int) (eq - pair), pair);

        json_object_set_new(selector, k, json_string(eq + 1));
        free(k);
    }
    pos = 0;
    while ((key = cli_args_next(args, "remove-selector", &pos)) != NULL) {
        if (json_object_get(selector, key)) {
            return xasprintf("selector key \"%s\" is both set and removed",
                             key);
        }
        json_object_set_new(selector, key, json_null());
    }
    return NULL;
}

static int
run_sg_create(struct cli_ctx *ctx, const struct cli_args *args)
{
    json_t *body = json_object();
    json_t *selector = json_object();

    json_object_set_new(body, "name", json_string(args->pos[0]));
    set_string(body, "description", args, "description");
    free(add_selector(selector, args));
    if (json_object_size(selector)) {
        json_object_set(body, "selector", selector);
    }
    json_decref(selector);
    return create(ctx, args, body);
}

static int
run_sg_update(struct cli_ctx *ctx, const struct cli_args *args)
{
    json_t *body = json_object();
    json_t *selector = json_object();
    char *problem;

    set_optional(body, "description", args, "description");
    problem = add_selector(selector, args);
    if (problem) {
        int status = commands_usage_error(ctx, args, problem);

        free(problem);
        json_decref(selector);
        json_decref(body);
        return status;
    }
    if (json_object_size(selector)) {
        json_object_set(body, "selector", selector);
    }
    json_decref(selector);
    if (json_object_size(body) == 0) {
        json_decref(body);
        return commands_usage_error(ctx, args,
                                    "nothing to change: give --description, "
                                    "--selector or --remove-selector");
    }
    return patch(ctx, args, body);
}

/* Returns the malloc'd path of the rules of group 'group', or of its rule
 * 'id' if not NULL. */
static char *
rules_path(const char *group, const char *id)
{
    char *escaped = client_escape(group);
    char *path = id ? xasprintf("/v1/security-groups/%s/rules/%s", escaped, id)
                    : xasprintf("/v1/security-groups/%s/rules", escaped);

    free(escaped);
    return path;
}

/* Shows rule 'obj' in a table row: its peer as "sg:GROUP", a CIDR or
 * "any"; its ports as the range, the ICMP type or "all". */
static json_t *
rule_display(const json_t *obj)
{
    const json_t *icmp_type = json_object_get(obj, "icmp_type");
    const char *group = json_string_value(json_object_get(obj, "peer_group"));
    const json_t *cidr = json_object_get(obj, "peer_cidr");
    json_t *shown = json_deep_copy(obj);

    if (group) {
        json_object_set_new(shown, "peer", json_sprintf("sg:%s", group));
    } else if (cidr) {
        json_object_set(shown, "peer", (json_t *) cidr);
    } else {
        json_object_set_new(shown, "peer", json_string("any"));
    }
    if (icmp_type) {
        json_object_set_new(shown, "ports",
                            json_sprintf("type=%" JSON_INTEGER_FORMAT,
                                         json_integer_value(icmp_type)));
    } else if (!json_object_get(obj, "ports")) {
        json_object_set_new(shown, "ports", json_string("all"));
    }
    return shown;
}

/* GETs every rule of group 'group' into '*rules'. */
static int
list_rules(struct cli_ctx *ctx, const char *group, json_t **rules)
{
    char *path = rules_path(group, NULL);
    int status = list_all(ctx, path, "", 0, rules);

    free(path);
    return status;
}

static int
run_sg_show(struct cli_ctx *ctx, const struct cli_args *args)
{
    const struct kind *kind = find_kind("sg");
    char *path = object_path(kind, args->pos[0]);
    json_t *group = NULL, *rules = NULL;
    int status;

    status = request(ctx, "GET", path, NULL, 0, &group);
    free(path);
    if (status == CLI_EXIT_OK) {
        status = list_rules(ctx, args->pos[0], &rules);
    }
    if (status == CLI_EXIT_OK && ctx->json) {
        json_object_set(group, "rules", rules);
        commands_print_json(ctx, group, JSON_INDENT(2));
    } else if (status == CLI_EXIT_OK) {
        print_object(ctx, kind, group);
        fputc('\n', ctx->out);
        if (json_array_size(rules)) {
            fprintf(ctx->out, "Rules:\n");
            print_table(ctx, find_kind("sg rule"), rules);
        } else {
            fprintf(ctx->out, "No rules.\n");
        }
    }
    json_decref(group);
    json_decref(rules);
    return status;
}

static int
run_sg_rule_add(struct cli_ctx *ctx, const struct cli_args *args)
{
    json_t *body = json_object();
    char *path;
    json_t *rule;
    int status;

    if (cli_args_get(args, "peer-group") && cli_args_get(args, "peer-cidr")) {
        json_decref(body);
        return commands_usage_error(
            ctx, args,
            "give --peer-group or --peer-cidr, not both "
            "(neither: any peer)");
    }
    set_string(body, "direction", args, "direction");
    set_string(body, "protocol", args, "protocol");
    set_string(body, "ports", args, "ports");
    set_number(body, "icmp_type", args, "icmp-type");
    set_string(body, "peer_group", args, "peer-group");
    set_string(body, "peer_cidr", args, "peer-cidr");
    set_string(body, "action", args, "action");
    if (cli_args_get(args, "log")) {
        json_object_set_new(body, "log", json_true());
    }
    path = rules_path(args->pos[0], NULL);
    status = request(ctx, "POST", path, body, 0, &rule);
    free(path);
    json_decref(body);
    if (status == CLI_EXIT_OK && ctx->json) {
        commands_print_json(ctx, rule, JSON_INDENT(2));
    } else if (status == CLI_EXIT_OK) {
        /* One rule shows its fields as they are, without the table's
         * summaries. */
        char *text = table_format_fields(rule, find_kind("sg rule")->fields);

        fputs(text, ctx->out);
        free(text);
    }
    json_decref(rule);
    return status;
}

static int
run_sg_rule_list(struct cli_ctx *ctx, const struct cli_args *args)
{
    json_t *rules;
    int status;

    status = list_rules(ctx, args->pos[0], &rules);
    if (status == CLI_EXIT_OK) {
        print_list(ctx, find_kind("sg rule"), rules);
        json_decref(rules);
    }
    return status;
}

static int
run_sg_rule_delete(struct cli_ctx *ctx, const struct cli_args *args)
{
    char *path;
    json_t *answer;
    int status;

    /* Rule ids are numbers: anything else cannot name one. */
    if (!args->pos[1][0]
        || strspn(args->pos[1], "0123456789") != strlen(args->pos[1])) {
        char *msg =
            xasprintf("ID \"%s\": must be a rule id, a number", args->pos[1]);
        int status2 = commands_usage_error(ctx, args, msg);

        free(msg);
        return status2;
    }
    path = rules_path(args->pos[0], args->pos[1]);
    status = request(ctx, "DELETE", path, NULL, 0, &answer);
    free(path);
    if (status == CLI_EXIT_OK) {
        if (!ctx->json) {
            fprintf(ctx->out, "rule %s of security group \"%s\" deleted\n",
                    args->pos[1], args->pos[0]);
        }
        json_decref(answer);
    }
    return status;
}

/* Hosts. */

/* Returns host condition 'c' as people read it: "KIND NAME: REASON". */
static char *
condition_text(const json_t *c)
{
    const char *name = json_string_value(json_object_get(c, "name"));

    return xasprintf("%s%s%s: %s",
                     json_string_value(json_object_get(c, "kind")) ?: "?",
                     name ? " " : "", name ? name : "",
                     json_string_value(json_object_get(c, "reason")) ?: "");
}

/* Sets member 'to' of 'shown' to "ALLOCATED/CAPACITY" of member 'key' of
 * host 'obj''s "allocated" and "capacity", each formatted by 'format'
 * after a shift left by 'shift' (MiB to bytes), or as a number if it is
 * NULL. */
static void
show_allocation(json_t *shown, const char *to, const json_t *obj,
                const char *key, int shift)
{
    const json_t *a = json_object_get(json_object_get(obj, "allocated"), key);
    const json_t *c = json_object_get(json_object_get(obj, "capacity"), key);
    char abuf[UNITS_STRLEN], cbuf[UNITS_STRLEN];

    if (!json_is_integer(c)) {
        return;
    }
    if (shift) {
        units_format_size((uint64_t) json_integer_value(a) << shift, abuf,
                          sizeof abuf);
        units_format_size((uint64_t) json_integer_value(c) << shift, cbuf,
                          sizeof cbuf);
    } else {
        snprintf(abuf, sizeof abuf, "%" JSON_INTEGER_FORMAT,
                 json_integer_value(a));
        snprintf(cbuf, sizeof cbuf, "%" JSON_INTEGER_FORMAT,
                 json_integer_value(c));
    }
    json_object_set_new(shown, to, json_sprintf("%s/%s", abuf, cbuf));
}

/* Adds to 'shown' what host 'obj' says about VMs, as people read it:
 * "vcpus", "memory" and "disk" as ALLOCATED/CAPACITY, "vms",
 * "maintenance" as no, yes, or how far entering it got ("yes, entering
 * (2 VMs left, 1 blocked)"), the overcommit ratios and the hypervisor. */
static void
host_display_vms(json_t *shown, const json_t *obj)
{
    const json_t *oc = json_object_get(obj, "overcommit");
    const json_t *hv = json_object_get(obj, "hypervisor");
    const json_t *vms =
        json_object_get(json_object_get(obj, "allocated"), "vms");

    show_allocation(shown, "vcpus", obj, "vcpus", 0);
    show_allocation(shown, "memory", obj, "memory_mb", 20);
    show_allocation(shown, "disk", obj, "disk_gb", 30);
    if (json_is_integer(vms)) {
        json_object_set(shown, "vms", (json_t *) vms);
    }
    if (json_object_get(obj, "maintenance")) {
        const json_t *ms = json_object_get(obj, "maintenance_status");
        json_int_t left = json_integer_value(json_object_get(ms, "vms"));
        size_t blocked = json_array_size(json_object_get(ms, "blocked"));

        if (!json_is_true(json_object_get(obj, "maintenance"))) {
            json_object_set_new(shown, "maintenance", json_string("no"));
        } else if (!left) {
            json_object_set_new(shown, "maintenance", json_string("yes"));
        } else {
            json_object_set_new(
                shown, "maintenance",
                json_sprintf("yes, entering (%" JSON_INTEGER_FORMAT
                             " VMs left, %zu blocked)",
                             left, blocked));
        }
        json_object_del(shown, "maintenance_status");
    }
    if (json_is_object(oc)) {
        json_object_set_new(
            shown, "overcommit",
            json_sprintf("cpu %g, memory %g",
                         json_number_value(json_object_get(oc, "cpu")),
                         json_number_value(json_object_get(oc, "memory"))));
    }
    if (json_is_object(hv)) {
        const char *reason = json_string_value(json_object_get(hv, "reason"));

        json_object_set_new(
            shown, "hypervisor",
            json_sprintf(
                "%s/%s%s%s%s",
                json_string_value(json_object_get(hv, "driver")) ?: "?",
                json_string_value(json_object_get(hv, "accel")) ?: "?",
                reason ? " (" : "", reason ? reason : "", reason ? ")" : ""));
    }
    json_object_del(shown, "allocated");
}

/* Shows host 'obj' with its uplink's rate in human units and its
 * conditions as text, "KIND NAME: REASON; ...". */
static json_t *
host_display(const json_t *obj)
{
    const json_t *conditions = json_object_get(obj, "conditions");
    json_t *shown = json_deep_copy(obj);
    char *text = xstrdup("");

    show_units(shown, "uplink_rate", obj, "uplink_rate", units_format_rate);
    host_display_vms(shown, obj);
    for (size_t i = 0; i < json_array_size(conditions); i++) {
        char *c = condition_text(json_array_get(conditions, i));
        char *joined = xasprintf("%s%s%s", text, i ? "; " : "", c);

        free(text);
        free(c);
        text = joined;
    }
    json_object_set_new(shown, "conditions", json_string(text));
    free(text);
    return shown;
}

static int
run_host_update(struct cli_ctx *ctx, const struct cli_args *args)
{
    json_t *body = json_object();
    uint64_t n;

    json_t *overcommit = json_object();
    const char *value;

    if (cli_args_get_units(args, "uplink-rate", &n)) {
        json_object_set_new(body, "uplink_rate", json_integer((json_int_t) n));
    }
    value = cli_args_get(args, "maintenance");
    if (value) {
        json_object_set_new(body, "maintenance",
                            json_boolean(!strcmp(value, "on")));
    }
    if ((value = cli_args_get(args, "cpu-overcommit")) != NULL) {
        json_object_set_new(overcommit, "cpu", json_real(strtod(value, NULL)));
    }
    if ((value = cli_args_get(args, "memory-overcommit")) != NULL) {
        json_object_set_new(overcommit, "memory",
                            json_real(strtod(value, NULL)));
    }
    if (json_object_size(overcommit)) {
        json_object_set(body, "overcommit", overcommit);
    }
    json_decref(overcommit);
    if (json_object_size(body) == 0) {
        json_decref(body);
        return commands_usage_error(ctx, args,
                                    "nothing to change: give --uplink-rate, "
                                    "--maintenance, --cpu-overcommit or "
                                    "--memory-overcommit");
    }
    return patch(ctx, args, body);
}

/* External VTEPs. */

/* Shows each endpoint as "NETWORK/MAC/IP" (or "NETWORK/MAC"), the way
 * --endpoint takes it, and "gbp" as on or off. */
static json_t *
external_vtep_display(const json_t *obj)
{
    json_t *shown = json_deep_copy(obj);
    json_t *endpoints = json_array();
    const json_t *e;
    size_t i;

    json_array_foreach(json_object_get(obj, "endpoints"), i, e)
    {
        const char *ip = json_string_value(json_object_get(e, "ip"));

        json_array_append_new(
            endpoints,
            json_sprintf("%s/%s%s%s",
                         json_string_value(json_object_get(e, "network")),
                         json_string_value(json_object_get(e, "mac")),
                         ip ? "/" : "", ip ? ip : ""));
    }
    json_object_set_new(shown, "endpoints", endpoints);
    json_object_set_new(
        shown, "gbp",
        json_string(json_is_true(json_object_get(obj, "gbp")) ? "on" : "off"));
    return shown;
}

/* Sets "networks" of 'body' from every --network of 'args', if any. */
static void
set_networks(json_t *body, const struct cli_args *args)
{
    json_t *networks = NULL;
    const char *name;
    size_t pos = 0;

    while ((name = cli_args_next(args, "network", &pos)) != NULL) {
        if (!networks) {
            networks = json_array();
        }
        json_array_append_new(networks, json_string(name));
    }
    if (networks) {
        json_object_set_new(body, "networks", networks);
    }
}

/* Sets "endpoints" of 'body' from every --endpoint NETWORK/MAC[/IP] of
 * 'args' (one "" alone: none), if any.  Returns 0, or the usage error
 * status after reporting a malformed one. */
static int
set_endpoints(struct cli_ctx *ctx, json_t *body, const struct cli_args *args)
{
    json_t *endpoints = NULL;
    const char *text;
    size_t pos = 0;

    while ((text = cli_args_next(args, "endpoint", &pos)) != NULL) {
        char *copy = xstrdup(text), *mac, *ip;
        json_t *e;

        if (!endpoints) {
            endpoints = json_array();
        }
        if (!text[0]) {
            free(copy);
            continue;
        }
        mac = strchr(copy, '/');
        ip = mac ? strchr(mac + 1, '/') : NULL;
        if (!mac || mac == copy || !mac[1] || (ip && !ip[1])) {
            char *msg = xasprintf("--endpoint \"%s\": expected "
                                  "NETWORK/MAC or NETWORK/MAC/IP",
                                  text);
            int status = commands_usage_error(ctx, args, msg);

            free(msg);
            free(copy);
            json_decref(endpoints);
            return status;
        }
        *mac++ = '\0';
        if (ip) {
            *ip++ = '\0';
        }
        e = json_pack("{ssss}", "network", copy, "mac", mac);
        if (ip) {
            json_object_set_new(e, "ip", json_string(ip));
        }
        json_array_append_new(endpoints, e);
        free(copy);
    }
    if (endpoints) {
        json_object_set_new(body, "endpoints", endpoints);
    }
    return 0;
}

/* Sets "gbp" of 'body' from --gbp on|off, if given. */
static void
set_gbp(json_t *body, const struct cli_args *args)
{
    const char *gbp = cli_args_get(args, "gbp");

    if (gbp) {
        json_object_set_new(body, "gbp", json_boolean(!strcmp(gbp, "on")));
    }
}

static int
run_external_vtep_create(struct cli_ctx *ctx, const struct cli_args *args)
{
    json_t *body = json_object();
    int status;

    json_object_set_new(body, "name", json_string(args->pos[0]));
    set_string(body, "address", args, "address");
    set_networks(body, args);
    set_gbp(body, args);
    set_string(body, "description", args, "description");
    status = set_endpoints(ctx, body, args);
    if (status) {
        json_decref(body);
        return status;
    }
    return create(ctx, args, body);
}

static int
run_external_vtep_update(struct cli_ctx *ctx, const struct cli_args *args)
{
    json_t *body = json_object();
    int status;

    set_string(body, "address", args, "address");
    set_networks(body, args);
    set_gbp(body, args);
    set_optional(body, "description", args, "description");
    status = set_endpoints(ctx, body, args);
    if (status) {
        json_decref(body);
        return status;
    }
    if (json_object_size(body) == 0) {
        json_decref(body);
        return commands_usage_error(
            ctx, args,
            "nothing to change: give --address, --network, --gbp, "
            "--endpoint or --description");
    }
    return patch(ctx, args, body);
}

/* Images. */

/* Shows image 'obj' with its sizes in human units. */
static json_t *
image_display(const json_t *obj)
{
    json_t *shown = json_deep_copy(obj);

    show_units(shown, "size", obj, "size_bytes", units_format_size);
    show_units(shown, "virtual_size", obj, "virtual_size_bytes",
               units_format_size);
    json_object_del(shown, "size_bytes");
    json_object_del(shown, "virtual_size_bytes");
    return shown;
}

/* "image create NAME --file F": POSTs the image, then streams the file;
 * if the file is refused, the queued image goes too, so that a failed
 * create leaves nothing. */
static int
run_image_create(struct cli_ctx *ctx, const struct cli_args *args)
{
    const struct kind *kind = find_kind("image");
    const char *file = cli_args_get(args, "file");
    char *path = object_path(kind, args->pos[0]);
    char *file_path = xasprintf("%s/file", path);
    json_t *body = json_pack("{ss}", "name", args->pos[0]);
    struct client_response r;
    json_t *obj = NULL, *ignored;
    char *msg = NULL;
    int status, error;

    if (access(file, R_OK)) {
        char *problem = xasprintf("--file \"%s\": cannot read it: %s", file,
                                  strerror(errno));

        status = commands_usage_error(ctx, args, problem);
        free(problem);
        goto out;
    }
    set_string(body, "description", args, "description");
    status = request(ctx, "POST", kind->path, body, 0, &obj);
    if (status) {
        goto out;
    }
    json_decref(obj);
    obj = NULL;
    error = client_upload(ctx->client, "PUT", file_path, file, &r, &msg);
    status = check_answer(ctx, error, msg, &r);
    if (status) {
        /* Whatever went wrong is reported; the queued image would only be
         * in the way of the next try. */
        request(ctx, "DELETE", path, NULL, 0, &ignored);
        json_decref(ignored);
        goto out;
    }
    status = json_answer(ctx, "PUT", file_path, &r, &obj);
    if (!status) {
        print_object(ctx, kind, obj);
    }

out:
    json_decref(obj);
    json_decref(body);
    free(file_path);
    free(path);
    return status;
}

/* VM groups. */

static int
run_vm_group_create(struct cli_ctx *ctx, const struct cli_args *args)
{
    json_t *body = json_pack("{sssssb}", "name", args->pos[0], "policy",
                             cli_args_get(args, "policy"), "strict",
                             cli_args_get(args, "strict") != NULL);

    set_string(body, "description", args, "description");
    return create(ctx, args, body);
}

/* VMs. */

/* How long "--wait" waits without --timeout, in seconds: a guest under
 * TCG takes tens of seconds to boot. */
#define VM_WAIT_DEFAULT 300

/* Joins the strings that 'fn' makes of each element of 'array' with
 * 'sep' into a new JSON string. */
static json_t *
join_array(const json_t *array, char *(*fn)(const json_t *), const char *sep)
{
    char *text = xstrdup("");
    json_t *joined;

    for (size_t i = 0; i < json_array_size(array); i++) {
        char *item = fn(json_array_get(array, i));
        char *next =
            xasprintf("%s%s%s", text, *text && *item ? sep : "", item);

        free(item);
        free(text);
        text = next;
    }
    joined = json_string(text);
    free(text);
    return joined;
}

/* A NIC's address, or "". */
static char *
nic_ip(const json_t *nic)
{
    return xstrdup(json_string_value(json_object_get(nic, "ip")) ?: "");
}

/* A NIC as people read it: "NETWORK IP MAC (PORT on DEVICE)". */
static char *
nic_text(const json_t *nic)
{
    const char *fields[] = {"network", "ip", "mac"};
    const char *port = json_string_value(json_object_get(nic, "port"));
    const char *device = json_string_value(json_object_get(nic, "device"));
    char *text = xstrdup("");

    for (size_t i = 0; i < ARRAY_SIZE(fields); i++) {
        const char *v = json_string_value(json_object_get(nic, fields[i]));
        char *next =
            v ? xasprintf("%s%s%s", text, *text ? " " : "", v) : xstrdup(text);

        free(text);
        text = next;
    }
    if (port) {
        char *next = xasprintf("%s (port %s%s%s)", text, port,
                               device ? ", tap " : "", device ? device : "");

        free(text);
        text = next;
    }
    return text;
}

/* Shows VM 'obj' with memory and disk in human units, its addresses
 * together and each NIC on one line. */
/* Returns malloc'd string 's' as a JSON string, freeing 's'. */
static json_t *
string_of(char *s)
{
    json_t *j = json_string(s);

    free(s);
    return j;
}

/* A migration's progress in words: "45% of 1 GiB", or "" before the
 * source said anything. */
static char *
migration_progress(const json_t *m)
{
    const json_t *p = json_object_get(m, "progress");
    json_int_t total = json_integer_value(json_object_get(p, "total_bytes"));
    json_int_t left =
        json_integer_value(json_object_get(p, "remaining_bytes"));
    char size[UNITS_STRLEN];

    if (!total) {
        return xstrdup("");
    }
    units_format_size(total, size, sizeof size);
    return xasprintf(
        "%d%% of %s",
        (int) (100 * (total - (left < total ? left : total)) / total), size);
}

/* A VM's "migration" in one line: "completed from h1 to h2 (downtime 42
 * ms, 1234 ms in all)", "migrating from h1 to h2: 45% of 1 GiB". */
static char *
migration_text(const json_t *m)
{
    const char *state = json_string_value(json_object_get(m, "state")) ?: "?";
    const json_t *result = json_object_get(m, "result");
    const char *error = json_string_value(json_object_get(result, "error"));
    const json_t *downtime = json_object_get(result, "downtime_ms");
    const json_t *total = json_object_get(result, "total_ms");
    char *progress = migration_progress(m);
    char *text, *detail;

    if (error) {
        detail = xasprintf(": %s", error);
    } else if (total) {
        char *down = downtime
                         ? xasprintf("downtime %" JSON_INTEGER_FORMAT " ms, ",
                                     json_integer_value(downtime))
                         : xstrdup("");

        detail = xasprintf(" (%s%" JSON_INTEGER_FORMAT " ms in all)", down,
                           json_integer_value(total));
        free(down);
    } else {
        detail = *progress ? xasprintf(": %s", progress) : xstrdup("");
    }
    text =
        xasprintf("%s from %s to %s%s", state,
                  json_string_value(json_object_get(m, "from")) ?: "?",
                  json_string_value(json_object_get(m, "to")) ?: "?", detail);
    free(detail);
    free(progress);
    return text;
}

static json_t *
migration_display(const json_t *obj)
{
    json_t *shown = json_deep_copy(obj);

    json_object_set_new(shown, "progress", string_of(migration_progress(obj)));
    return shown;
}

static json_t *
vm_display(const json_t *obj)
{
    const json_t *nics = json_object_get(obj, "nics");
    json_t *shown = json_deep_copy(obj);
    const json_t *mb = json_object_get(obj, "memory_mb");
    const json_t *gb = json_object_get(obj, "disk_gb");
    char buf[UNITS_STRLEN];

    if (json_is_integer(mb)) {
        units_format_size((uint64_t) json_integer_value(mb) << 20, buf,
                          sizeof buf);
        json_object_set_new(shown, "memory", json_string(buf));
    }
    if (json_is_integer(gb)) {
        units_format_size((uint64_t) json_integer_value(gb) << 30, buf,
                          sizeof buf);
        json_object_set_new(shown, "disk", json_string(buf));
    }
    json_object_set_new(shown, "ips", join_array(nics, nic_ip, ","));
    json_object_set_new(shown, "nics", join_array(nics, nic_text, "; "));
    json_object_del(shown, "memory_mb");
    json_object_del(shown, "disk_gb");
    if (json_object_get(obj, "migration")) {
        json_object_set_new(
            shown, "migration",
            string_of(migration_text(json_object_get(obj, "migration"))));
    }
    return shown;
}

/* Parses "--network NETWORK[,ip=ADDRESS][,sg=GROUP]...[,qos=POLICY]"
 * value 'value' into a NIC, or returns NULL with '*problem' set. */
static json_t *
parse_nic(const char *value, char **problem)
{
    char *copy = xstrdup(value), *rest = copy;
    char *network = strsep(&rest, ",");
    json_t *nic = NULL, *groups = json_array();
    char *item;

    *problem = NULL;
    if (!*network || strchr(network, '=')) {
        *problem = xasprintf("--network \"%s\": expected "
                             "NETWORK[,ip=ADDRESS][,sg=GROUP]...[,qos=POLICY]",
                             value);
        goto out;
    }
    nic = json_pack("{ss}", "network", network);
    while (!*problem && (item = strsep(&rest, ",")) != NULL) {
        char *eq = strchr(item, '=');
        const char *key = item;

        if (!eq || eq == item || !eq[1]) {
            *problem = xasprintf("--network \"%s\": \"%s\" is not KEY=VALUE "
                                 "(ip=ADDRESS, sg=GROUP or qos=POLICY)",
                                 value, item);
            break;
        }
        *eq = '\0';
        if (!strcmp(key, "sg")) {
            json_array_append_new(groups, json_string(eq + 1));
        } else if ((!strcmp(key, "ip") || !strcmp(key, "qos"))
                   && !json_object_get(nic, key)) {
            json_object_set_new(nic, key, json_string(eq + 1));
        } else {
            *problem = xasprintf("--network \"%s\": %s \"%s\" (expected "
                                 "ip=ADDRESS and qos=POLICY once each, "
                                 "sg=GROUP any number of times)",
                                 value,
                                 strcmp(key, "ip") && strcmp(key, "qos")
                                     ? "unknown key"
                                     : "repeated key",
                                 key);
        }
    }
    if (json_array_size(groups)) {
        json_object_set(nic, "security_groups", groups);
    }

out:
    if (*problem) {
        json_decref(nic);
        nic = NULL;
    }
    json_decref(groups);
    free(copy);
    return nic;
}

/* Reads option 'option''s file 'file' into '*text' as a JSON string
 * ('*text' stays NULL and a usage error is reported if it cannot). */
static int
read_text_file(struct cli_ctx *ctx, const struct cli_args *args,
               const char *option, const char *file, json_t **text)
{
    char *contents, *problem = NULL;
    size_t len;
    int error = read_file(file, &contents, &len);

    *text = NULL;
    if (error) {
        problem = xasprintf("--%s \"%s\": cannot read it: %s", option, file,
                            strerror(error));
    } else if (!(*text = json_stringn(contents, len))) {
        problem = xasprintf("--%s \"%s\": not UTF-8 text", option, file);
    }
    if (!error) {
        free(contents);
    }
    if (problem) {
        error = commands_usage_error(ctx, args, problem);
        free(problem);
        return error;
    }
    return CLI_EXIT_OK;
}

/* Adds the keys of every --ssh-key-file of 'args' to 'body' as
 * "ssh_keys": each line that is neither blank nor a comment. */
static int
add_ssh_keys(struct cli_ctx *ctx, const struct cli_args *args, json_t *body)
{
    json_t *keys = json_array();
    const char *file;
    size_t pos = 0;
    int status = CLI_EXIT_OK;

    while (!status
           && (file = cli_args_next(args, "ssh-key-file", &pos)) != NULL) {
        json_t *text;
        char *copy, *save = NULL, *line;
        size_t before = json_array_size(keys);

        status = read_text_file(ctx, args, "ssh-key-file", file, &text);
        if (status) {
            break;
        }
        copy = xstrdup(json_string_value(text));
        for (line = strtok_r(copy, "\r\n", &save); line;
             line = strtok_r(NULL, "\r\n", &save)) {
            line += strspn(line, " \t");
            if (*line && *line != '#') {
                json_array_append_new(keys, json_string(line));
            }
        }
        free(copy);
        json_decref(text);
        if (json_array_size(keys) == before) {
            char *problem =
                xasprintf("--ssh-key-file \"%s\": holds no key", file);

            status = commands_usage_error(ctx, args, problem);
            free(problem);
        }
    }
    if (!status && json_array_size(keys)) {
        json_object_set(body, "ssh_keys", keys);
    }
    json_decref(keys);
    return status;
}

/* The number of seconds "--wait" waits: --timeout's, else
 * VM_WAIT_DEFAULT; 0 for ever. */
static double
wait_seconds(const struct cli_args *args)
{
    const char *timeout = cli_args_get(args, "timeout");

    return timeout ? strtod(timeout, NULL) : VM_WAIT_DEFAULT;
}

/* Polls VM 'name' until its status is 'want' ("running", "stopped"), or
 * until it is gone if 'want' is NULL, for at most 'seconds' (0: for
 * ever).  Prints the VM when it gets there (unless it is gone).  A VM that
 * fails is an error with its status_reason.  Returns an exit status. */
static int
wait_vm(struct cli_ctx *ctx, const char *name, const char *want,
        double seconds)
{
    const struct kind *kind = find_kind("vm");
    char *path = object_path(kind, name);
    int64_t deadline = time_msec() + (int64_t) (seconds * 1000);
    const char *status = "?";
    json_t *vm = NULL;
    int exit_status;

    for (;;) {
        struct client_response r;
        char *msg = NULL;
        int error;

        exit_status = ensure_client(ctx);
        if (exit_status) {
            break;
        }
        error = client_request(ctx->client, "GET", path, NULL, 0, &r, &msg);
        if (!error && r.status == 404 && !want) {
            client_response_clear(&r);
            if (!ctx->json) {
                fprintf(ctx->out, "vm \"%s\" deleted\n", name);
            }
            break;
        }
        exit_status = check_answer(ctx, error, msg, &r);
        if (!exit_status) {
            json_decref(vm);
            exit_status = json_answer(ctx, "GET", path, &r, &vm);
        }
        if (exit_status) {
            break;
        }
        status = json_string_value(json_object_get(vm, "status")) ?: "?";
        if (want && !strcmp(status, want)) {
            print_object(ctx, kind, vm);
            break;
        }
        if (!strcmp(status, "failed")) {
            commands_error(
                ctx, "vm \"%s\" failed: %s", name,
                json_string_value(json_object_get(vm, "status_reason"))
                    ?: "no reason given");
            exit_status = CLI_EXIT_API;
            break;
        }
        if (seconds > 0 && time_msec() >= deadline) {
            commands_error(ctx,
                           "vm \"%s\" is still %s after %g s (waiting for "
                           "it to be %s; --timeout waits longer)",
                           name, status, seconds, want ? want : "deleted");
            exit_status = CLI_EXIT_API;
            break;
        }
        usleep(250 * 1000);
    }
    json_decref(vm);
    free(path);
    return exit_status;
}

/* Sets "ha" and "ha_priority" of VM 'body' from --ha and --ha-priority,
 * when given. */
static void
set_ha(json_t *body, const struct cli_args *args)
{
    int64_t prio;

    set_string(body, "ha", args, "ha");
    if (cli_args_get_number(args, "ha-priority", &prio)) {
        json_object_set_new(body, "ha_priority", json_integer(prio));
    }
}

/* "vm update NAME": the HA settings. */
static int
run_vm_update(struct cli_ctx *ctx, const struct cli_args *args)
{
    json_t *body = json_object();

    set_ha(body, args);
    if (json_object_size(body) == 0) {
        json_decref(body);
        return commands_usage_error(ctx, args,
                                    "nothing to change: give --ha or "
                                    "--ha-priority");
    }
    return patch(ctx, args, body);
}

static int
run_vm_create(struct cli_ctx *ctx, const struct cli_args *args)
{
    json_t *body = json_pack("{ss}", "name", args->pos[0]);
    json_t *nics = json_array(), *groups = json_array();
    json_t *obj = NULL, *user_data;
    const char *value, *file;
    size_t pos = 0;
    int64_t vcpus;
    uint64_t bytes;
    int status = CLI_EXIT_OK;

    while ((value = cli_args_next(args, "network", &pos)) != NULL) {
        char *problem;
        json_t *nic = parse_nic(value, &problem);

        if (!nic) {
            status = commands_usage_error(ctx, args, problem);
            free(problem);
            goto out;
        }
        json_array_append_new(nics, nic);
    }
    json_object_set(body, "nics", nics);
    cli_args_get_number(args, "vcpus", &vcpus);
    if (vcpus < 1) {
        status = commands_usage_error(ctx, args,
                                      "--vcpus 0: a VM needs at least 1");
        goto out;
    }
    json_object_set_new(body, "vcpus", json_integer(vcpus));
    cli_args_get_units(args, "memory", &bytes);
    json_object_set_new(body, "memory_mb", json_integer(bytes >> 20));
    set_string(body, "image", args, "image");
    if (cli_args_get_units(args, "disk", &bytes)) {
        json_object_set_new(body, "disk_gb", json_integer(bytes >> 30));
    }
    set_string(body, "host", args, "host");
    set_string(body, "hostname", args, "hostname");
    set_string(body, "placement", args, "placement");
    set_string(body, "description", args, "description");
    pos = 0;
    while ((value = cli_args_next(args, "group", &pos)) != NULL) {
        json_array_append_new(groups, json_string(value));
    }
    if (json_array_size(groups)) {
        json_object_set(body, "groups", groups);
    }
    status = add_ssh_keys(ctx, args, body);
    file = cli_args_get(args, "user-data-file");
    if (!status && file) {
        status = read_text_file(ctx, args, "user-data-file", file, &user_data);
        if (!status) {
            json_object_set_new(body, "user_data", user_data);
        }
    }
    if (status) {
        goto out;
    }
    if (cli_args_get(args, "stopped")) {
        json_object_set_new(body, "power", json_string("stopped"));
    }
    set_ha(body, args);
    status = request(ctx, "POST", find_kind("vm")->path, body, 0, &obj);
    if (!status && cli_args_get(args, "wait")) {
        status = wait_vm(ctx, args->pos[0],
                         cli_args_get(args, "stopped") ? "stopped" : "running",
                         wait_seconds(args));
    } else if (!status) {
        print_object(ctx, find_kind("vm"), obj);
    }

out:
    json_decref(obj);
    json_decref(nics);
    json_decref(groups);
    json_decref(body);
    return status;
}

/* "vm start|stop|reboot NAME [--wait]". */
static int
run_vm_power(struct cli_ctx *ctx, const struct cli_args *args)
{
    const char *verb = args->command->verb;
    char *path = object_path(find_kind("vm"), args->pos[0]);
    char *action = xasprintf("%s/%s", path, verb);
    json_t *obj = NULL;
    int status;

    status = request(ctx, "POST", action, NULL, 0, &obj);
    if (!status && cli_args_get(args, "wait")) {
        status = wait_vm(ctx, args->pos[0],
                         strcmp(verb, "stop") ? "running" : "stopped",
                         wait_seconds(args));
    } else if (!status && obj) {
        print_object(ctx, find_kind("vm"), obj);
    }
    json_decref(obj);
    free(action);
    free(path);
    return status;
}

static int
run_vm_delete(struct cli_ctx *ctx, const struct cli_args *args)
{
    char *path = object_path(find_kind("vm"), args->pos[0]);
    int64_t if_version = 0;
    json_t *answer = NULL;
    int status;

    cli_args_get_number(args, "if-version", &if_version);
    status = request(ctx, "DELETE", path, NULL, if_version, &answer);
    if (!status && cli_args_get(args, "wait")) {
        status = wait_vm(ctx, args->pos[0], NULL, wait_seconds(args));
    } else if (!status && !ctx->json) {
        fprintf(ctx->out, "vm \"%s\" is being deleted\n", args->pos[0]);
    } else if (!status && answer) {
        commands_print_json(ctx, answer, JSON_INDENT(2));
    }
    json_decref(answer);
    free(path);
    return status;
}

/* Polls VM 'name' until its migration 'id' ends, for at most 'seconds'
 * (0: for ever).  Prints the VM once it completed; a migration that
 * failed or was cancelled is an error with its reason.  Returns an exit
 * status. */
static int
wait_migration(struct cli_ctx *ctx, const char *name, const char *id,
               double seconds)
{
    const struct kind *kind = find_kind("vm");
    char *path = object_path(kind, name);
    int64_t deadline = time_msec() + (int64_t) (seconds * 1000);
    json_t *vm = NULL;
    int status;

    for (;;) {
        const json_t *m;
        const char *state;

        json_decref(vm);
        status = request(ctx, "GET", path, NULL, 0, &vm);
        if (status) {
            break;
        }
        m = json_object_get(vm, "migration");
        state = json_string_value(json_object_get(m, "state")) ?: "?";
        if (strcmp(json_string_value(json_object_get(m, "id")) ?: "", id)) {
            commands_error(ctx,
                           "vm \"%s\": its migration %s is gone (another "
                           "one has run since)",
                           name, id);
            status = CLI_EXIT_API;
            break;
        }
        if (!strcmp(state, "completed")) {
            print_object(ctx, kind, vm);
            break;
        }
        if (!strcmp(state, "failed") || !strcmp(state, "cancelled")) {
            char *text = migration_text(m);

            commands_error(ctx, "vm \"%s\": migration %s", name, text);
            free(text);
            status = CLI_EXIT_API;
            break;
        }
        if (seconds > 0 && time_msec() >= deadline) {
            char *text = migration_text(m);

            commands_error(ctx,
                           "vm \"%s\": migration still %s after %g s "
                           "(--timeout waits longer; \"vm migrate %s "
                           "--cancel\" stops it)",
                           name, text, seconds, name);
            free(text);
            status = CLI_EXIT_API;
            break;
        }
        usleep(250 * 1000);
    }
    json_decref(vm);
    free(path);
    return status;
}

/* "vm migrate NAME [--to HOST] [--downtime-ms N] [--max-bandwidth MBPS]
 * [--no-auto-converge] [--wait]", or "vm migrate NAME --cancel". */
static int
run_vm_migrate(struct cli_ctx *ctx, const struct cli_args *args)
{
    static const char *const tuning[] = {"to", "downtime-ms", "max-bandwidth",
                                         "no-auto-converge"};
    char *path = object_path(find_kind("vm"), args->pos[0]);
    bool cancel = cli_args_get(args, "cancel") != NULL;
    char *action = xasprintf("%s/migrate%s", path, cancel ? "/cancel" : "");
    json_t *body = json_object(), *obj = NULL;
    int64_t n;
    int status = CLI_EXIT_OK;

    for (size_t i = 0; cancel && i < ARRAY_SIZE(tuning); i++) {
        if (cli_args_get(args, tuning[i])) {
            char *msg = xasprintf("--cancel takes no --%s: it stops the "
                                  "migration that runs",
                                  tuning[i]);

            status = commands_usage_error(ctx, args, msg);
            free(msg);
            goto out;
        }
    }
    set_string(body, "to", args, "to");
    if (cli_args_get_number(args, "downtime-ms", &n)) {
        json_object_set_new(body, "downtime_ms", json_integer(n));
    }
    if (cli_args_get_number(args, "max-bandwidth", &n)) {
        json_object_set_new(body, "max_bandwidth_mbps", json_integer(n));
    }
    if (cli_args_get(args, "no-auto-converge")) {
        json_object_set_new(body, "auto_converge", json_false());
    }
    status = request(ctx, "POST", action, cancel ? NULL : body, 0, &obj);
    if (!status && cli_args_get(args, "wait") && !cancel) {
        const char *id = json_string_value(
            json_object_get(json_object_get(obj, "migration"), "id"));

        status = wait_migration(ctx, args->pos[0], id ? id : "",
                                wait_seconds(args));
    } else if (!status && obj) {
        print_object(ctx, find_kind("vm"), obj);
    }

out:
    json_decref(obj);
    json_decref(body);
    free(action);
    free(path);
    return status;
}

/* "vm console NAME": the tail of its serial console, as it is. */
static int
run_vm_console(struct cli_ctx *ctx, const struct cli_args *args)
{
    char *path = object_path(find_kind("vm"), args->pos[0]);
    int64_t bytes = 0;
    char *console = cli_args_get_number(args, "bytes", &bytes)
                        ? xasprintf("%s/console?bytes=%" PRId64, path, bytes)
                        : xasprintf("%s/console", path);
    struct client_response r;
    char *msg = NULL;
    int status;

    status = ensure_client(ctx);
    if (!status) {
        int error =
            client_request(ctx->client, "GET", console, NULL, 0, &r, &msg);

        status = check_answer(ctx, error, msg, &r);
    }
    if (!status) {
        fwrite(r.text, 1, r.len, ctx->out);
        if (r.len && r.text[r.len - 1] != '\n') {
            fputc('\n', ctx->out);
        }
        client_response_clear(&r);
    }
    free(console);
    free(path);
    return status;
}

/* Tokens. */

static int
run_token_create(struct cli_ctx *ctx, const struct cli_args *args)
{
    json_t *body = json_object();
    int status;

    json_object_set_new(body, "name", json_string(args->pos[0]));
    set_string(body, "role", args, "role");
    set_string(body, "host", args, "host");
    status = create(ctx, args, body);
    if (status == CLI_EXIT_OK && !ctx->json) {
        fprintf(ctx->err, "Save the token now: the controller keeps only a "
                          "hash of it and cannot show it again.\n");
    }
    return status;
}

/* Audit. */

static int
run_audit(struct cli_ctx *ctx, const struct cli_args *args)
{
    const struct kind *kind =
        find_kind(cli_args_get(args, "refused") ? "refused" : "audit");
    int64_t limit = AUDIT_DEFAULT_LIMIT;
    json_t *items;
    int status;

    cli_args_get_number(args, "limit", &limit);
    status = list_all(ctx, kind->path, "", limit, &items);
    if (status == CLI_EXIT_OK) {
        print_list(ctx, kind, items);
        json_decref(items);
    }
    return status;
}

/* Status. */

/* Returns integer member 'key' of 'obj', 0 if there is none. */
static json_int_t
get_int(const json_t *obj, const char *key)
{
    return json_integer_value(json_object_get(obj, key));
}

/* Prints what the agents of 'hosts' cannot apply, if anything, as a table
 * of one condition a row. */
static void
print_conditions(struct cli_ctx *ctx, const json_t *hosts)
{
    static const char *const headers[] = {"HOST", "KIND", "NAME", "REASON",
                                          NULL};
    struct table *t = table_create(headers);
    bool any = false;

    for (size_t i = 0; i < json_array_size(hosts); i++) {
        const json_t *host = json_array_get(hosts, i);
        const json_t *conditions = json_object_get(host, "conditions");

        for (size_t j = 0; j < json_array_size(conditions); j++) {
            const json_t *c = json_array_get(conditions, j);

            table_add_row(t);
            table_add_json(t, json_object_get(host, "name"));
            table_add_json(t, json_object_get(c, "kind"));
            table_add_json(t, json_object_get(c, "name"));
            table_add_json(t, json_object_get(c, "reason"));
            any = true;
        }
    }
    if (any) {
        fprintf(ctx->out,
                "\nNot applied by their hosts (the rest applies):\n");
        table_print(t, ctx->out);
    }
    table_destroy(t);
}

/* Whether VM 'vm' is where its power says it should be: running, or
 * stopped. */
static bool
vm_settled(const json_t *vm)
{
    const char *s = json_string_value(json_object_get(vm, "status"));

    return s && (!strcmp(s, "running") || !strcmp(s, "stopped"));
}

/* Prints the "VMs:" line of the status: how many there are in each
 * status, in the order a VM goes through them. */
static void
print_vm_counts(struct cli_ctx *ctx, const json_t *vms)
{
    static const char *const statuses[] = {"running",   "stopped",  "pending",
                                           "scheduled", "starting", "stopping",
                                           "failed",    NULL};
    const char *sep = " (";

    fprintf(ctx->out, "VMs:         %zu", json_array_size(vms));
    for (size_t i = 0; statuses[i]; i++) {
        size_t n = 0;

        for (size_t j = 0; j < json_array_size(vms); j++) {
            const char *s = json_string_value(
                json_object_get(json_array_get(vms, j), "status"));

            n += s && !strcmp(s, statuses[i]);
        }
        if (n) {
            fprintf(ctx->out, "%s%zu %s", sep, n, statuses[i]);
            sep = ", ";
        }
    }
    fprintf(ctx->out, "%s\n", strcmp(sep, ", ") ? "" : ")");
}

static void
print_status(struct cli_ctx *ctx, const json_t *summary, const json_t *hosts,
             const json_t *ports_not_up, const json_t *vms,
             const json_t *vms_unsettled)
{
    static const char *const vm_headers[] = {"NAME", "STATUS", "HOST",
                                             "REASON", NULL};
    static const char *const vm_columns[] = {"name", "status", "host",
                                             "status_reason", NULL};
    static const char *const port_headers[] = {"NAME",   "NETWORK", "HOST",
                                               "STATUS", "REASON",  NULL};
    static const char *const port_columns[] = {
        "name", "network", "host", "status", "status_reason", NULL};
    const struct kind *host_kind = find_kind("host");
    const json_t *h = json_object_get(summary, "hosts");
    const json_t *p = json_object_get(summary, "ports");
    struct table *t;

    const char *leader = json_string_value(
        json_object_get(json_object_get(summary, "leaders"), "leader"));
    const char *backend = json_string_value(
        json_object_get(json_object_get(summary, "store"), "backend"));

    fprintf(ctx->out,
            "Controller:  %s (store revision %" JSON_INTEGER_FORMAT ")\n",
            client_url(ctx->client), get_int(summary, "revision"));
    /* Several controllers on one store: which one leads. */
    if (json_object_get(summary, "leaders")) {
        fprintf(ctx->out, "Leader:      %s (store: %s)\n",
                leader ? leader : "none (being elected)",
                backend ? backend : "?");
    }
    fprintf(ctx->out,
            "Hosts:       %" JSON_INTEGER_FORMAT " (%" JSON_INTEGER_FORMAT
            " ready, of which %" JSON_INTEGER_FORMAT
            " degraded; %" JSON_INTEGER_FORMAT " unreachable)\n",
            get_int(h, "total"), get_int(h, "ready"), get_int(h, "degraded"),
            get_int(h, "unreachable"));
    fprintf(ctx->out, "Networks:    %" JSON_INTEGER_FORMAT "\n",
            get_int(summary, "networks"));
    fprintf(ctx->out,
            "Ports:       %" JSON_INTEGER_FORMAT " (%" JSON_INTEGER_FORMAT
            " up, %" JSON_INTEGER_FORMAT " down, %" JSON_INTEGER_FORMAT
            " pending, %" JSON_INTEGER_FORMAT " refused)\n",
            get_int(p, "total"), get_int(p, "up"), get_int(p, "down"),
            get_int(p, "pending"), get_int(p, "refused"));
    print_vm_counts(ctx, vms);

    fputc('\n', ctx->out);
    if (json_array_size(hosts) == 0) {
        fprintf(ctx->out, "No hosts registered.\n");
    } else {
        print_table(ctx, host_kind, hosts);
    }
    print_conditions(ctx, hosts);

    fputc('\n', ctx->out);
    if (json_array_size(ports_not_up) == 0) {
        fprintf(ctx->out, "Every port is up.\n");
    } else {
        fprintf(ctx->out, "Ports not up:\n");
        t = make_table(ports_not_up, port_headers, port_columns);
        table_print(t, ctx->out);
        table_destroy(t);
    }
    if (json_array_size(vms_unsettled)) {
        fprintf(ctx->out, "\nVMs neither running nor stopped:\n");
        t = make_table(vms_unsettled, vm_headers, vm_columns);
        table_print(t, ctx->out);
        table_destroy(t);
    }
}

static int
run_status(struct cli_ctx *ctx, const struct cli_args *args)
{
    json_t *summary = NULL, *hosts = NULL, *ports = NULL, *vms = NULL;
    json_t *not_up = json_array(), *unsettled = json_array();
    int status;

    status = request(ctx, "GET", "/v1/status", NULL, 0, &summary);
    if (status == CLI_EXIT_OK) {
        status = list_all(ctx, find_kind("host")->path, "", 0, &hosts);
    }
    if (status == CLI_EXIT_OK) {
        status = list_all(ctx, find_kind("port")->path, "", 0, &ports);
    }
    if (status == CLI_EXIT_OK) {
        status = list_all(ctx, find_kind("vm")->path, "", 0, &vms);
    }
    if (status == CLI_EXIT_OK) {
        for (size_t i = 0; i < json_array_size(vms); i++) {
            if (!vm_settled(json_array_get(vms, i))) {
                json_array_append(unsettled, json_array_get(vms, i));
            }
        }
        for (size_t i = 0; i < json_array_size(ports); i++) {
            json_t *port = json_array_get(ports, i);
            const char *s = json_string_value(json_object_get(port, "status"));

            if (s == NULL || strcmp(s, "up")) {
                json_array_append(not_up, port);
            }
        }
        if (ctx->json) {
            json_t *all = json_pack("{s:O, s:O, s:O, s:O}", "status", summary,
                                    "hosts", hosts, "ports_not_up", not_up,
                                    "vms_unsettled", unsettled);

            commands_print_json(ctx, all, JSON_INDENT(2));
            json_decref(all);
        } else {
            print_status(ctx, summary, hosts, not_up, vms, unsettled);
        }
    }
    json_decref(summary);
    json_decref(hosts);
    json_decref(ports);
    json_decref(vms);
    json_decref(unsettled);
    json_decref(not_up);
    return status;
}

/* Version. */

static int
run_version(struct cli_ctx *ctx, const struct cli_args *args)
{
    const char *api_version;
    json_t *openapi;
    int status;

    if (cli_args_get(args, "client")) {
        if (ctx->json) {
            json_t *v = json_pack("{s:s}", "client", PACKAGE_VERSION);

            commands_print_json(ctx, v, JSON_INDENT(2));
            json_decref(v);
        } else {
            fprintf(ctx->out, "fabricctl %s\n", PACKAGE_VERSION);
        }
        return CLI_EXIT_OK;
    }

    /* The API has no version endpoint of its own; its OpenAPI document
     * carries the version in "info". */
    if (!ctx->json) {
        fprintf(ctx->out, "fabricctl %s\n", PACKAGE_VERSION);
        fflush(ctx->out);
    }
    status = request(ctx, "GET", "/v1/openapi.json", NULL, 0, &openapi);
    if (status) {
        return status;
    }
    api_version = json_string_value(
        json_object_get(json_object_get(openapi, "info"), "version"));
    if (ctx->json) {
        json_t *v = json_pack(
            "{s:s, s:{s:s, s:s?}}", "client", PACKAGE_VERSION, "controller",
            "url", client_url(ctx->client), "api_version", api_version);

        commands_print_json(ctx, v, JSON_INDENT(2));
        json_decref(v);
    } else {
        fprintf(ctx->out, "controller %s: API version %s\n",
                client_url(ctx->client),
                api_version ? api_version : "unknown");
    }
    json_decref(openapi);
    return CLI_EXIT_OK;
}

/* Completion. */

static int
run_completion(struct cli_ctx *ctx, const struct cli_args *args)
{
    /* The parser allowed only the shells listed in the command. */
    fputs(commands_bash_completion, ctx->out);
    return CLI_EXIT_OK;
}

void
commands_ctx_clear(struct cli_ctx *ctx)
{
    client_destroy(ctx->client);
    ctx->client = NULL;
}

int
commands_list_names(struct cli_ctx *ctx, enum cli_complete what,
                    json_t **names)
{
    const char *resource = (what == CLI_COMPLETE_NETWORK   ? "network"
                            : what == CLI_COMPLETE_PORT    ? "port"
                            : what == CLI_COMPLETE_HOST    ? "host"
                            : what == CLI_COMPLETE_TOKEN   ? "token"
                            : what == CLI_COMPLETE_QOS     ? "qos"
                            : what == CLI_COMPLETE_SGROUP  ? "sg"
                            : what == CLI_COMPLETE_EXTVTEP ? "external-vtep"
                            : what == CLI_COMPLETE_VM      ? "vm"
                            : what == CLI_COMPLETE_VMGROUP ? "vm-group"
                            : what == CLI_COMPLETE_IMAGE   ? "image"
                                                           : NULL);
    json_t *items;
    int status;

    *names = NULL;
    if (resource == NULL) {
        *names = json_array();
        return CLI_EXIT_OK;
    }
    status = list_all(ctx, find_kind(resource)->path, "", 0, &items);
    if (status) {
        return status;
    }
    *names = json_array();
    for (size_t i = 0; i < json_array_size(items); i++) {
        json_t *name = json_object_get(json_array_get(items, i), "name");

        if (json_is_string(name)) {
            json_array_append(*names, name);
        }
    }
    json_decref(items);
    return CLI_EXIT_OK;
}

/* The tables. */

static const char *const roles[] = {"admin", "viewer", "agent", NULL};
static const char *const shells[] = {"bash", NULL};

static const char *const default_actions[] = {"allow", "deny", NULL};
static const char *const directions[] = {"ingress", "egress", NULL};
static const char *const protocols[] = {"tcp",    "udp", "icmp",
                                        "icmpv6", "any", NULL};
static const char *const actions[] = {"allow", "deny", NULL};

#define OPT_DEFAULT_ACTION                                                    \
    {                                                                         \
        .name = "default-action", .value = CLI_VALUE_CHOICE,                  \
        .metavar = "ACTION", .choices = default_actions,                      \
        .complete = CLI_COMPLETE_CHOICES,                                     \
        .help = "What the firewall does in a direction no security group of " \
                "a port governs: allow (the default) or deny"                 \
    }

#define OPT_SECURITY_GROUP(HELP)                                              \
    {                                                                         \
        .name = "security-group", .value = CLI_VALUE_STRING,                  \
        .metavar = "GROUP", .repeatable = true,                               \
        .complete = CLI_COMPLETE_SGROUP, .help = HELP                         \
    }

#define OPT_DNS(HELP)                                                         \
    {                                                                         \
        .name = "dns", .value = CLI_VALUE_STRING, .metavar = "IP",            \
        .repeatable = true, .help = HELP                                      \
    }

#define OPT_IF_VERSION                                                        \
    {                                                                         \
        .name = "if-version", .value = CLI_VALUE_NUMBER, .metavar = "N",      \
        .help = "Only if the object is still at version N; otherwise the "    \
                "controller refuses with a conflict and nothing changes"      \
    }

static const struct cli_option network_create_options[] = {
    {.name = "cidr",
     .value = CLI_VALUE_STRING,
     .metavar = "CIDR",
     .required = true,
     .help = "IPv4 subnet of the network, e.g. 10.0.0.0/24; cannot change "
             "later"},
    {.name = "vni",
     .value = CLI_VALUE_NUMBER,
     .metavar = "N",
     .help = "VXLAN network identifier, 1 to 16777215 (default: the lowest "
             "free from 1000 up); cannot change later"},
    {.name = "mtu",
     .value = CLI_VALUE_NUMBER,
     .metavar = "N",
     .help = "MTU of the VMs' interfaces, 576 to 9000 (default 1450)"},
    {.name = "description",
     .value = CLI_VALUE_STRING,
     .metavar = "TEXT",
     .help = "Free text for people, at most 256 characters"},
    {.name = "default-qos",
     .value = CLI_VALUE_STRING,
     .metavar = "POLICY",
     .complete = CLI_COMPLETE_QOS,
     .help = "QoS policy of the network's ports that have none of their "
             "own"},
    OPT_DEFAULT_ACTION,
    OPT_DNS("A DNS server the network's VMs get by DHCP, an IPv4 address "
            "(repeatable, at most 3)"),
    {.name = NULL},
};

static const struct cli_option network_update_options[] = {
    {.name = "mtu",
     .value = CLI_VALUE_NUMBER,
     .metavar = "N",
     .help = "New MTU, 576 to 9000"},
    {.name = "description",
     .value = CLI_VALUE_STRING,
     .metavar = "TEXT",
     .help = "New description; \"\" clears it"},
    {.name = "default-qos",
     .value = CLI_VALUE_STRING,
     .metavar = "POLICY",
     .complete = CLI_COMPLETE_QOS,
     .help = "New default QoS policy of the network's ports; \"\" removes "
             "it"},
    OPT_DEFAULT_ACTION,
    OPT_DNS("The network's DNS servers, all of them (repeatable, at most 3; "
            "replaces the list; \"\" alone removes them)"),
    OPT_IF_VERSION,
    {.name = NULL},
};

static const char *const on_off[] = {"on", "off", NULL};

/* An option of "external-vtep create" and "external-vtep update". */
#define OPT_EXT_ADDRESS(REQUIRED, HELP)                                       \
    {                                                                         \
        .name = "address", .value = CLI_VALUE_STRING, .metavar = "IP",        \
        .required = REQUIRED, .help = HELP                                    \
    }
#define OPT_EXT_NETWORK(REQUIRED, HELP)                                       \
    {                                                                         \
        .name = "network", .value = CLI_VALUE_STRING, .metavar = "NETWORK",   \
        .required = REQUIRED, .repeatable = true,                             \
        .complete = CLI_COMPLETE_NETWORK, .help = HELP                        \
    }
#define OPT_EXT_GBP                                                           \
    {                                                                         \
        .name = "gbp", .value = CLI_VALUE_CHOICE, .metavar = "on|off",        \
        .choices = on_off, .complete = CLI_COMPLETE_CHOICES,                  \
        .help = "Whether it takes VXLAN-GBP (the sender's security group): "  \
                "off (the default) sends it plain RFC 7348, which Open "      \
                "vSwitch and Linux vxlan devices without gbp need"            \
    }
#define OPT_EXT_ENDPOINT(HELP)                                                \
    {                                                                         \
        .name = "endpoint", .value = CLI_VALUE_STRING,                        \
        .metavar = "NETWORK/MAC[/IP]", .repeatable = true, .help = HELP       \
    }

static const struct cli_option external_vtep_create_options[] = {
    OPT_EXT_ADDRESS(true, "Its IPv4 address on the underlay"),
    OPT_EXT_NETWORK(true, "A network it joins: it gets the network's floods "
                          "and its VXLAN is accepted there (repeatable)"),
    OPT_EXT_GBP,
    OPT_EXT_ENDPOINT("An endpoint behind it, in a network it joins "
                     "(repeatable)"),
    {.name = "description",
     .value = CLI_VALUE_STRING,
     .metavar = "TEXT",
     .help = "Free text for people, at most 256 characters"},
    {.name = NULL},
};

static const struct cli_option external_vtep_update_options[] = {
    OPT_EXT_ADDRESS(false, "Its new IPv4 address"),
    OPT_EXT_NETWORK(false, "The networks it joins, all of them "
                           "(repeatable; replaces the list)"),
    OPT_EXT_GBP,
    OPT_EXT_ENDPOINT("Its endpoints, all of them (repeatable; replaces the "
                     "list; \"\" alone for none)"),
    {.name = "description",
     .value = CLI_VALUE_STRING,
     .metavar = "TEXT",
     .help = "New description; \"\" clears it"},
    OPT_IF_VERSION,
    {.name = NULL},
};

static const struct cli_option if_version_options[] = {
    OPT_IF_VERSION,
    {.name = NULL},
};

static const struct cli_option sg_create_options[] = {
    {.name = "description",
     .value = CLI_VALUE_STRING,
     .metavar = "TEXT",
     .help = "Free text for people, at most 256 characters"},
    {.name = "selector",
     .value = CLI_VALUE_LABEL,
     .metavar = "KEY=VALUE",
     .repeatable = true,
     .help = "Make every port whose labels include all these pairs a "
             "member"},
    {.name = NULL},
};

static const struct cli_option sg_update_options[] = {
    {.name = "description",
     .value = CLI_VALUE_STRING,
     .metavar = "TEXT",
     .help = "New description; \"\" clears it"},
    {.name = "selector",
     .value = CLI_VALUE_LABEL,
     .metavar = "KEY=VALUE",
     .repeatable = true,
     .help = "Add a pair to the selector, replacing the value of an "
             "existing key"},
    {.name = "remove-selector",
     .value = CLI_VALUE_KEY,
     .metavar = "KEY",
     .repeatable = true,
     .help = "Remove the pair with this key from the selector"},
    OPT_IF_VERSION,
    {.name = NULL},
};

static const struct cli_option sg_rule_add_options[] = {
    {.name = "direction",
     .value = CLI_VALUE_CHOICE,
     .metavar = "DIR",
     .choices = directions,
     .required = true,
     .complete = CLI_COMPLETE_CHOICES,
     .help = "ingress (traffic to the group's ports) or egress (from them)"},
    {.name = "protocol",
     .value = CLI_VALUE_CHOICE,
     .metavar = "PROTO",
     .choices = protocols,
     .required = true,
     .complete = CLI_COMPLETE_CHOICES,
     .help = "tcp, udp, icmp, icmpv6 or any"},
    {.name = "ports",
     .value = CLI_VALUE_STRING,
     .metavar = "N|LO-HI",
     .help = "Destination port or range, tcp and udp only (default: all)"},
    {.name = "icmp-type",
     .value = CLI_VALUE_NUMBER,
     .metavar = "N",
     .help = "ICMP type 0 to 255, icmp and icmpv6 only (default: all)"},
    {.name = "peer-group",
     .value = CLI_VALUE_STRING,
     .metavar = "GROUP",
     .complete = CLI_COMPLETE_SGROUP,
     .help = "Only the ports of this security group as the other end"},
    {.name = "peer-cidr",
     .value = CLI_VALUE_STRING,
     .metavar = "CIDR",
     .help = "Only addresses in this IPv4 CIDR that are in no security "
             "group as the other end (default, without --peer-group: any "
             "peer)"},
    {.name = "action",
     .value = CLI_VALUE_CHOICE,
     .metavar = "ACTION",
     .choices = actions,
     .required = true,
     .complete = CLI_COMPLETE_CHOICES,
     .help = "allow or deny; a deny anywhere beats any allow"},
    {.name = "log",
     .value = CLI_VALUE_NONE,
     .help = "Log the connections the rule decides"},
    {.name = NULL},
};

static const struct cli_option port_create_options[] = {
    {.name = "network",
     .value = CLI_VALUE_STRING,
     .metavar = "NETWORK",
     .required = true,
     .complete = CLI_COMPLETE_NETWORK,
     .help = "Network the port is in; cannot change later"},
    {.name = "mac",
     .value = CLI_VALUE_STRING,
     .metavar = "MAC",
     .help = "Unicast MAC address (default: a free 02:fa:... address)"},
    {.name = "ip",
     .value = CLI_VALUE_STRING,
     .metavar = "IP",
     .help = "IPv4 address inside the network's CIDR (default: the lowest "
             "free one)"},
    {.name = "host",
     .value = CLI_VALUE_STRING,
     .metavar = "HOST",
     .complete = CLI_COMPLETE_HOST,
     .help = "Host the port lives on (default: not placed yet)"},
    {.name = "device",
     .value = CLI_VALUE_STRING,
     .metavar = "DEV",
     .help = "Host-side device name, at most 15 characters (default: \"fp-\" "
             "and the first 12 characters of NAME)"},
    {.name = "qos",
     .value = CLI_VALUE_STRING,
     .metavar = "POLICY",
     .complete = CLI_COMPLETE_QOS,
     .help = "QoS policy of the port (default: its network's default_qos, "
             "if any)"},
    {.name = "label",
     .value = CLI_VALUE_LABEL,
     .metavar = "KEY=VALUE",
     .repeatable = true,
     .help = "Label to attach"},
    OPT_SECURITY_GROUP("Make the port a member of this security group"),
    {.name = NULL},
};

static const struct cli_option port_list_options[] = {
    {.name = "network",
     .value = CLI_VALUE_STRING,
     .metavar = "NETWORK",
     .complete = CLI_COMPLETE_NETWORK,
     .help = "Only the ports of this network"},
    {.name = "host",
     .value = CLI_VALUE_STRING,
     .metavar = "HOST",
     .complete = CLI_COMPLETE_HOST,
     .help = "Only the ports on this host"},
    {.name = "label",
     .value = CLI_VALUE_SELECTOR,
     .metavar = "KEY[=VALUE]",
     .repeatable = true,
     .help = "Only the ports with this label (any value if only KEY is "
             "given); several must all match"},
    {.name = NULL},
};

static const struct cli_option port_update_options[] = {
    {.name = "host",
     .value = CLI_VALUE_STRING,
     .metavar = "HOST",
     .complete = CLI_COMPLETE_HOST,
     .help = "Move the port to this host; \"\" unplaces it"},
    {.name = "qos",
     .value = CLI_VALUE_STRING,
     .metavar = "POLICY",
     .complete = CLI_COMPLETE_QOS,
     .help = "Apply this QoS policy to the port; \"\" removes the port's own "
             "(its network's default_qos applies again)"},
    {.name = "label",
     .value = CLI_VALUE_LABEL,
     .metavar = "KEY=VALUE",
     .repeatable = true,
     .help = "Set a label, replacing the value of an existing key"},
    {.name = "remove-label",
     .value = CLI_VALUE_KEY,
     .metavar = "KEY",
     .repeatable = true,
     .help = "Remove the label with this key"},
    OPT_SECURITY_GROUP("The port's security groups: the groups given "
                       "replace its list; \"\" alone empties it"),
    OPT_IF_VERSION,
    {.name = NULL},
};

/* An option of "qos create" and "qos update", which take the same. */
#define OPT_QOS(NAME, VALUE, METAVAR, HELP)                                   \
    {                                                                         \
        .name = NAME, .value = VALUE, .metavar = METAVAR, .help = HELP        \
    }
#define QOS_EGRESS_RATE                                                       \
    OPT_QOS("egress-rate", CLI_VALUE_RATE, "RATE",                            \
            "Limit traffic from the VM to RATE, tc units: 100mbit, 1gbit "    \
            "(\"mbps\" is megaBYTES per second)")
#define QOS_EGRESS_BURST                                                      \
    OPT_QOS("egress-burst", CLI_VALUE_SIZE, "SIZE",                           \
            "Burst allowed above the egress rate, tc units: 64kb, 1mb")
#define QOS_EGRESS_MIN_RATE                                                   \
    OPT_QOS("egress-min-rate", CLI_VALUE_RATE, "RATE",                        \
            "Guarantee the VM's traffic at least RATE on the host's uplink "  \
            "when it is congested, tc units; at most --egress-rate")
#define QOS_INGRESS_RATE                                                      \
    OPT_QOS("ingress-rate", CLI_VALUE_RATE, "RATE",                           \
            "Limit traffic to the VM to RATE, tc units: 100mbit, 1gbit")
#define QOS_INGRESS_BURST                                                     \
    OPT_QOS("ingress-burst", CLI_VALUE_SIZE, "SIZE",                          \
            "Burst allowed above the ingress rate, tc units: 64kb, 1mb")
#define QOS_DSCP                                                              \
    OPT_QOS("dscp", CLI_VALUE_DSCP, "N|keep",                                 \
            "Mark the VM's packets with DSCP N (0 to 63); \"keep\" leaves "   \
            "their own")
#define QOS_PRIORITY                                                          \
    OPT_QOS("priority", CLI_VALUE_PRIORITY, "N|default",                      \
            "Priority of the VM's traffic on the host's uplink, 0 (highest) " \
            "to 7; \"default\" is 4")
#define QOS_DESCRIPTION                                                       \
    OPT_QOS("description", CLI_VALUE_STRING, "TEXT",                          \
            "Free text for people, at most 256 characters")

static const struct cli_option qos_create_options[] = {
    QOS_EGRESS_RATE,  QOS_EGRESS_BURST,  QOS_EGRESS_MIN_RATE,
    QOS_INGRESS_RATE, QOS_INGRESS_BURST, QOS_DSCP,
    QOS_PRIORITY,     QOS_DESCRIPTION,   {.name = NULL},
};

static const struct cli_option qos_update_options[] = {
    QOS_EGRESS_RATE,   QOS_EGRESS_BURST, QOS_EGRESS_MIN_RATE, QOS_INGRESS_RATE,
    QOS_INGRESS_BURST, QOS_DSCP,         QOS_PRIORITY,        QOS_DESCRIPTION,
    OPT_IF_VERSION,    {.name = NULL},
};

static const struct cli_option host_update_options[] = {
    {.name = "uplink-rate",
     .value = CLI_VALUE_RATE,
     .metavar = "RATE",
     .help = "Rate of the host's uplink, tc units: 10gbit, 25gbit (1mbit to "
             "1tbit); the agent shapes QoS egress within it"},
    {.name = "maintenance",
     .value = CLI_VALUE_CHOICE,
     .metavar = "on|off",
     .choices = on_off,
     .complete = CLI_COMPLETE_CHOICES,
     .help = "on: the scheduler places no new VM on the host (those it runs "
             "stay); off: it does again"},
    {.name = "cpu-overcommit",
     .value = CLI_VALUE_RATIO,
     .metavar = "RATIO",
     .help = "vCPUs the scheduler may place per physical CPU, e.g. 4 (the "
             "default) or 1 for none"},
    {.name = "memory-overcommit",
     .value = CLI_VALUE_RATIO,
     .metavar = "RATIO",
     .help = "Memory the scheduler may place per byte of the host's, e.g. 1 "
             "(the default: none)"},
    OPT_IF_VERSION,
    {.name = NULL},
};

static const struct cli_option image_create_options[] = {
    {.name = "file",
     .value = CLI_VALUE_STRING,
     .metavar = "FILE",
     .required = true,
     .complete = CLI_COMPLETE_FILE,
     .help = "The image: qcow2 standing alone (no backing file) or raw, "
             "uploaded as it is"},
    {.name = "description",
     .value = CLI_VALUE_STRING,
     .metavar = "TEXT",
     .help = "Free text for people, at most 256 characters"},
    {.name = NULL},
};

static const char *const vm_group_policies[] = {"affinity", "anti-affinity",
                                                NULL};

static const struct cli_option vm_group_create_options[] = {
    {.name = "policy",
     .value = CLI_VALUE_CHOICE,
     .metavar = "POLICY",
     .choices = vm_group_policies,
     .required = true,
     .complete = CLI_COMPLETE_CHOICES,
     .help = "affinity: its VMs on one host; anti-affinity: each on a host "
             "of its own"},
    {.name = "strict",
     .value = CLI_VALUE_NONE,
     .help = "A rule, not a wish: a VM that cannot follow it is refused"},
    {.name = "description",
     .value = CLI_VALUE_STRING,
     .metavar = "TEXT",
     .help = "Free text for people, at most 256 characters"},
    {.name = NULL},
};

static const char *const vm_placements[] = {"spread", "pack", NULL};

/* "--wait" of the VM commands; --timeout limits it. */
#define OPT_WAIT(HELP)                                                        \
    {                                                                         \
        .name = "wait", .value = CLI_VALUE_NONE, .help = HELP                 \
    }

static const char *const ha_modes[] = {"restart", "off", NULL};

/* The HA options of "vm create" and "vm update". */
#define OPT_HA                                                                \
    {.name = "ha",                                                            \
     .value = CLI_VALUE_CHOICE,                                               \
     .metavar = "restart|off",                                                \
     .choices = ha_modes,                                                     \
     .complete = CLI_COMPLETE_CHOICES,                                        \
     .help = "restart (the default): when its host fails, start it on "       \
             "another host; off: it stays down with its host"},               \
    {                                                                         \
        .name = "ha-priority", .value = CLI_VALUE_NUMBER, .metavar = "N",     \
        .help = "0..1000 (default 100): higher restarts first after a host "  \
                "failure"                                                     \
    }

static const struct cli_option vm_update_options[] = {
    OPT_HA,
    OPT_IF_VERSION,
    {.name = NULL},
};

static const struct cli_option vm_create_options[] = {
    {.name = "network",
     .value = CLI_VALUE_STRING,
     .metavar = "NETWORK[,ip=A][,sg=G]...[,qos=P]",
     .required = true,
     .repeatable = true,
     .complete = CLI_COMPLETE_NETWORK,
     .help = "A NIC in NETWORK, with its address (default: the next free), "
             "security groups and QoS policy; once per NIC, in order"},
    {.name = "vcpus",
     .value = CLI_VALUE_NUMBER,
     .metavar = "N",
     .required = true,
     .help = "Virtual CPUs, 1 or more"},
    {.name = "memory",
     .value = CLI_VALUE_MIB,
     .metavar = "SIZE",
     .required = true,
     .help = "Memory in whole MiB, with a unit: 256M, 1G"},
    {.name = "image",
     .value = CLI_VALUE_STRING,
     .metavar = "IMAGE",
     .required = true,
     .complete = CLI_COMPLETE_IMAGE,
     .help = "The image its disk is a copy-on-write overlay of"},
    {.name = "disk",
     .value = CLI_VALUE_GIB,
     .metavar = "SIZE",
     .help = "Disk size in whole GiB, e.g. 2G (default: the image's virtual "
             "size, rounded up)"},
    {.name = "host",
     .value = CLI_VALUE_STRING,
     .metavar = "HOST",
     .complete = CLI_COMPLETE_HOST,
     .help = "Put it on this host (the scheduler still checks that it fits)"},
    {.name = "group",
     .value = CLI_VALUE_STRING,
     .metavar = "VM-GROUP",
     .repeatable = true,
     .complete = CLI_COMPLETE_VMGROUP,
     .help = "Make it a member of this VM group (affinity, anti-affinity)"},
    OPT_HA,
    {.name = "hostname",
     .value = CLI_VALUE_STRING,
     .metavar = "NAME",
     .help = "The guest's host name (default: NAME)"},
    {.name = "ssh-key-file",
     .value = CLI_VALUE_STRING,
     .metavar = "FILE",
     .repeatable = true,
     .complete = CLI_COMPLETE_FILE,
     .help = "Authorize the SSH public keys in FILE, one per line, in the "
             "guest (cloud-init)"},
    {.name = "user-data-file",
     .value = CLI_VALUE_STRING,
     .metavar = "FILE",
     .complete = CLI_COMPLETE_FILE,
     .help = "cloud-init user data for the guest"},
    {.name = "placement",
     .value = CLI_VALUE_CHOICE,
     .metavar = "spread|pack",
     .choices = vm_placements,
     .complete = CLI_COMPLETE_CHOICES,
     .help = "Prefer the emptiest hosts (spread, the default) or the fullest "
             "that fit (pack)"},
    {.name = "description",
     .value = CLI_VALUE_STRING,
     .metavar = "TEXT",
     .help = "Free text for people, at most 256 characters"},
    {.name = "stopped",
     .value = CLI_VALUE_NONE,
     .help = "Create it powered off (start it with \"vm start\")"},
    OPT_WAIT("Wait until it runs (or is stopped, with --stopped), for at "
             "most --timeout seconds (default 300); fail with its reason if "
             "it fails"),
    {.name = NULL},
};

static const struct cli_option vm_start_options[] = {
    OPT_WAIT("Wait until it runs, for at most --timeout seconds (default "
             "300)"),
    {.name = NULL},
};

static const struct cli_option vm_stop_options[] = {
    OPT_WAIT("Wait until it is stopped, for at most --timeout seconds "
             "(default 300)"),
    {.name = NULL},
};

static const struct cli_option vm_delete_options[] = {
    OPT_WAIT("Wait until it is gone (its host stopped it and removed its "
             "disk), for at most --timeout seconds (default 300)"),
    OPT_IF_VERSION,
    {.name = NULL},
};

static const struct cli_option vm_migrate_options[] = {
    {.name = "to",
     .value = CLI_VALUE_STRING,
     .metavar = "HOST",
     .complete = CLI_COMPLETE_HOST,
     .help = "Move it to this host (default: the scheduler's choice, as for "
             "a new VM)"},
    {.name = "downtime-ms",
     .value = CLI_VALUE_NUMBER,
     .metavar = "N",
     .help = "The longest pause of the guest allowed, 1 to 60000 ms "
             "(default 300)"},
    {.name = "max-bandwidth",
     .value = CLI_VALUE_NUMBER,
     .metavar = "MBPS",
     .help = "Copy at most this many Mbit/s (default: no limit)"},
    {.name = "no-auto-converge",
     .value = CLI_VALUE_NONE,
     .help = "Never throttle a guest that dirties memory faster than it is "
             "copied"},
    OPT_WAIT("Wait until it completes, for at most --timeout seconds "
             "(default 300); fail with its reason if it fails"),
    {.name = "cancel",
     .value = CLI_VALUE_NONE,
     .help = "Cancel the migration that runs: the VM goes on where it was"},
    {.name = NULL},
};

static const struct cli_option vm_console_options[] = {
    {.name = "bytes",
     .value = CLI_VALUE_NUMBER,
     .metavar = "N",
     .help = "Show the last N bytes, 1 to 1048576 (default 65536)"},
    {.name = NULL},
};

static const struct cli_option token_create_options[] = {
    {.name = "role",
     .value = CLI_VALUE_CHOICE,
     .metavar = "ROLE",
     .choices = roles,
     .required = true,
     .complete = CLI_COMPLETE_CHOICES,
     .help = "admin may do everything, viewer read everything but tokens, "
             "agent only what one host's agent needs"},
    {.name = "host",
     .value = CLI_VALUE_STRING,
     .metavar = "HOST",
     .complete = CLI_COMPLETE_HOST,
     .help = "The host an agent token acts for (required for agents)"},
    {.name = NULL},
};

static const struct cli_option audit_options[] = {
    {.name = "limit",
     .value = CLI_VALUE_NUMBER,
     .metavar = "N",
     .help = "Show the latest N records (default 100; 0 shows all)"},
    {.name = "refused",
     .value = CLI_VALUE_NONE,
     .help = "Show the refused requests instead (401, 403), counted per "
             "client address, status and token"},
    {.name = NULL},
};

static const struct cli_option version_options[] = {
    {.name = "client",
     .value = CLI_VALUE_NONE,
     .help = "Print only fabricctl's version, without asking the "
             "controller"},
    {.name = NULL},
};

const struct cli_resource commands_resources[] = {
    {"network", "Manage virtual networks (VXLAN segments with a subnet)"},
    {"port", "Manage ports: a VM's interface in a network, with its MAC, IP "
             "and host"},
    {"qos", "Manage QoS policies: rate limits, guaranteed rates, priorities "
            "and DSCP marking for ports"},
    {"sg", "Manage security groups and their firewall rules"},
    {"host", "List, inspect, update and remove the hypervisor hosts agents "
             "registered"},
    {"external-vtep", "Manage VTEPs outside the fabric (Open vSwitch, Linux "
                      "vxlan, gateways) that join networks"},
    {"vm", "Create, run and remove VMs: the scheduler places them, their "
           "hosts run them under KVM"},
    {"vm-group", "Manage VM groups: affinity and anti-affinity rules for "
                 "placing VMs"},
    {"migration", "List the live migrations of VMs that run now"},
    {"image", "Manage the disk images VMs boot from"},
    {"token", "Manage API tokens (admin only)"},
    {"drs", "Balance the hosts' load by live migration: settings and "
            "recommendations"},
    {"audit", "Show who changed what, newest first, or who was refused"},
    {"flowlog", "Show the connections the firewall allowed with logging or "
                "denied, newest first"},
    {"trace", "Run one packet from a port through the real fast path and "
              "show what the firewall and the switch do with it"},
    {"status", "Summarize the health of hosts, networks and ports"},
    {"version", "Print fabricctl's and the controller's versions"},
    {"completion", "Print a shell completion script"},
    {NULL, NULL},
};

const struct cli_command commands_table[] = {
    {.resource = "network",
     .verb = "create",
     .args = "NAME",
     .n_args = 1,
     .options = network_create_options,
     .summary = "Create a network",
     .description = "NAME is 1 to 63 characters of a-z, 0-9 and \"-\", "
                    "starting and ending with a letter or digit.  Prints the "
                    "network as created, with its VNI.",
     .run = run_network_create},
    {.resource = "network",
     .verb = "list",
     .summary = "List every network",
     .run = run_list},
    {.resource = "network",
     .verb = "show",
     .args = "NAME",
     .n_args = 1,
     .complete = CLI_COMPLETE_NETWORK,
     .summary = "Show a network's fields",
     .run = run_show},
    {.resource = "network",
     .verb = "update",
     .args = "NAME",
     .n_args = 1,
     .complete = CLI_COMPLETE_NETWORK,
     .options = network_update_options,
     .summary = "Change a network's MTU, description, default QoS or "
                "default firewall action",
     .description = "Prints the network as it is afterwards.",
     .run = run_network_update},
    {.resource = "network",
     .verb = "delete",
     .args = "NAME",
     .n_args = 1,
     .complete = CLI_COMPLETE_NETWORK,
     .options = if_version_options,
     .summary = "Delete a network that has no ports left",
     .run = run_delete},

    {.resource = "port",
     .verb = "create",
     .args = "NAME",
     .n_args = 1,
     .options = port_create_options,
     .summary = "Create a port in a network",
     .description = "The controller allocates the MAC and the IP address "
                    "unless given.  Prints the port as created.",
     .run = run_port_create},
    {.resource = "port",
     .verb = "list",
     .options = port_list_options,
     .summary = "List ports, all or those of a network, host or label",
     .run = run_list},
    {.resource = "port",
     .verb = "show",
     .args = "NAME",
     .n_args = 1,
     .complete = CLI_COMPLETE_PORT,
     .summary = "Show a port's fields",
     .run = run_show},
    {.resource = "port",
     .verb = "update",
     .args = "NAME",
     .n_args = 1,
     .complete = CLI_COMPLETE_PORT,
     .options = port_update_options,
     .summary = "Move a port, or change its QoS policy, labels or security "
                "groups",
     .description = "Labels not named stay as they are.  Prints the port as "
                    "it is afterwards.",
     .run = run_port_update},
    {.resource = "port",
     .verb = "delete",
     .args = "NAME",
     .n_args = 1,
     .complete = CLI_COMPLETE_PORT,
     .options = if_version_options,
     .summary = "Delete a port",
     .run = run_delete},

    {.resource = "external-vtep",
     .verb = "create",
     .args = "NAME",
     .n_args = 1,
     .options = external_vtep_create_options,
     .summary = "Let a VTEP outside the fabric join networks",
     .description =
         "Every host with a port in a network it joins floods to it, accepts "
         "its VXLAN in that network, and reaches its endpoints through it.  "
         "Its endpoints never get a security group: a rule with a CIDR peer "
         "lets them in.  Prints the external VTEP as created.",
     .run = run_external_vtep_create},
    {.resource = "external-vtep",
     .verb = "list",
     .summary = "List every external VTEP",
     .run = run_list},
    {.resource = "external-vtep",
     .verb = "show",
     .args = "NAME",
     .n_args = 1,
     .complete = CLI_COMPLETE_EXTVTEP,
     .summary = "Show an external VTEP's fields",
     .run = run_show},
    {.resource = "external-vtep",
     .verb = "update",
     .args = "NAME",
     .n_args = 1,
     .complete = CLI_COMPLETE_EXTVTEP,
     .options = external_vtep_update_options,
     .summary = "Change an external VTEP's address, networks, GBP, endpoints "
                "or description",
     .description = "Prints the external VTEP as it is afterwards.",
     .run = run_external_vtep_update},
    {.resource = "external-vtep",
     .verb = "delete",
     .args = "NAME",
     .n_args = 1,
     .complete = CLI_COMPLETE_EXTVTEP,
     .options = if_version_options,
     .summary = "Remove an external VTEP from every network",
     .run = run_delete},

    {.resource = "qos",
     .verb = "create",
     .args = "NAME",
     .n_args = 1,
     .options = qos_create_options,
     .summary = "Create a QoS policy",
     .description = "A direction without a rate is not limited; a burst "
                    "needs its direction's rate.  A guaranteed egress "
                    "minimum needs no rate, and is at most the rate if "
                    "there is one.  Rates and sizes take tc "
                    "units (100mbit, 1gbit, 64kb).  Attach the policy with "
                    "\"port update --qos\" or \"network update "
                    "--default-qos\".",
     .run = run_qos_create},
    {.resource = "qos",
     .verb = "list",
     .summary = "List QoS policies, rates and sizes in human units",
     .run = run_list},
    {.resource = "qos",
     .verb = "show",
     .args = "NAME",
     .n_args = 1,
     .complete = CLI_COMPLETE_QOS,
     .summary = "Show a QoS policy's fields",
     .run = run_show},
    {.resource = "qos",
     .verb = "update",
     .args = "NAME",
     .n_args = 1,
     .complete = CLI_COMPLETE_QOS,
     .options = qos_update_options,
     .summary = "Change a QoS policy's limits, priority, marking or "
                "description",
     .description = "Options not given stay as they are.  Every host with a "
                    "port using the policy gets the change.  Prints the "
                    "policy as it is afterwards.",
     .run = run_qos_update},
    {.resource = "qos",
     .verb = "delete",
     .args = "NAME",
     .n_args = 1,
     .complete = CLI_COMPLETE_QOS,
     .options = if_version_options,
     .summary = "Delete a QoS policy that no port or network uses",
     .run = run_delete},

    {.resource = "sg",
     .verb = "create",
     .args = "NAME",
     .n_args = 1,
     .options = sg_create_options,
     .summary = "Create a security group",
     .description = "Ports join it through its selector or their own "
                    "\"port update --security-group\".  A group without a "
                    "selector has only the ports that name it.",
     .run = run_sg_create},
    {.resource = "sg",
     .verb = "list",
     .summary = "List security groups with their selectors and members",
     .run = run_list},
    {.resource = "sg",
     .verb = "show",
     .args = "NAME",
     .n_args = 1,
     .complete = CLI_COMPLETE_SGROUP,
     .summary = "Show a security group, its members and its rules",
     .run = run_sg_show},
    {.resource = "sg",
     .verb = "update",
     .args = "NAME",
     .n_args = 1,
     .complete = CLI_COMPLETE_SGROUP,
     .options = sg_update_options,
     .summary = "Change a security group's description or selector",
     .description = "Selector pairs not named stay as they are; the ports "
                    "the group selects follow at once.",
     .run = run_sg_update},
    {.resource = "sg",
     .verb = "delete",
     .args = "NAME",
     .n_args = 1,
     .complete = CLI_COMPLETE_SGROUP,
     .options = if_version_options,
     .summary = "Delete a security group and its rules",
     .description = "Refused while a port names the group or a rule of "
                    "another group names it as its peer.",
     .run = run_delete},
    {.resource = "sg",
     .verb = "rule add",
     .args = "GROUP",
     .n_args = 1,
     .complete = CLI_COMPLETE_SGROUP,
     .options = sg_rule_add_options,
     .summary = "Add a firewall rule to a security group",
     .description = "A group governs the directions it has rules for: "
                    "its ports accept in those directions only what some "
                    "rule allows and no rule denies.  Prints the rule with "
                    "its id.",
     .run = run_sg_rule_add},
    {.resource = "sg",
     .verb = "rule list",
     .args = "GROUP",
     .n_args = 1,
     .complete = CLI_COMPLETE_SGROUP,
     .summary = "List a security group's rules with their hit counts",
     .run = run_sg_rule_list},
    {.resource = "sg",
     .verb = "rule delete",
     .args = "GROUP ID",
     .n_args = 2,
     .complete = CLI_COMPLETE_SGROUP,
     .summary = "Delete a rule of a security group",
     .run = run_sg_rule_delete},

    {.resource = "host",
     .verb = "list",
     .summary = "List hosts with their VTEP and health",
     .run = run_list},
    {.resource = "host",
     .verb = "show",
     .args = "NAME",
     .n_args = 1,
     .complete = CLI_COMPLETE_HOST,
     .summary = "Show a host's fields",
     .run = run_show},
    {.resource = "host",
     .verb = "update",
     .args = "NAME",
     .n_args = 1,
     .complete = CLI_COMPLETE_HOST,
     .options = host_update_options,
     .summary = "Set a host's uplink rate, maintenance and overcommit",
     .description = "The host's agent gets the change with its desired "
                    "state; the scheduler uses maintenance and overcommit "
                    "for the VMs it places from then on.  Prints the host "
                    "as it is afterwards.",
     .run = run_host_update},
    {.resource = "host",
     .verb = "delete",
     .args = "NAME",
     .n_args = 1,
     .complete = CLI_COMPLETE_HOST,
     .options = if_version_options,
     .summary = "Forget a host; its agent registers it again when it starts",
     .run = run_delete},
    {.resource = "host",
     .verb = "maintenance enter",
     .args = "NAME",
     .n_args = 1,
     .complete = CLI_COMPLETE_HOST,
     .options = drs_maintenance_options,
     .summary = "Put a host in maintenance: no new VMs, its VMs migrate away",
     .description = "Prints what the host still holds and which VMs cannot "
                    "leave (pinned, not running, no host takes them), or, "
                    "with --wait, waits until it holds no VM.",
     .run = drs_maintenance},
    {.resource = "host",
     .verb = "maintenance exit",
     .args = "NAME",
     .n_args = 1,
     .complete = CLI_COMPLETE_HOST,
     .summary = "Take a host out of maintenance: it takes VMs again",
     .run = drs_maintenance},

    {.resource = "vm",
     .verb = "create",
     .args = "NAME",
     .n_args = 1,
     .options = vm_create_options,
     .summary = "Create a VM; the scheduler picks its host",
     .description = "Each --network is a NIC: a port named NAME-0, NAME-1... "
                    "made and removed with the VM.  Prints the VM as "
                    "created (status pending or scheduled), or, with "
                    "--wait, once it runs.",
     .run = run_vm_create},
    {.resource = "vm",
     .verb = "update",
     .args = "NAME",
     .n_args = 1,
     .complete = CLI_COMPLETE_VM,
     .options = vm_update_options,
     .summary = "Set what becomes of a VM when its host fails",
     .description = "Changes its HA settings (the only ones a VM's update "
                    "takes) and prints the VM as it is afterwards.",
     .run = run_vm_update},
    {.resource = "vm",
     .verb = "list",
     .summary = "List VMs with their status, host and addresses",
     .run = run_list},
    {.resource = "vm",
     .verb = "show",
     .args = "NAME",
     .n_args = 1,
     .complete = CLI_COMPLETE_VM,
     .summary = "Show a VM's fields, its NICs and why it is in its status",
     .run = run_show},
    {.resource = "vm",
     .verb = "start",
     .args = "NAME",
     .n_args = 1,
     .complete = CLI_COMPLETE_VM,
     .options = vm_start_options,
     .summary = "Power a VM on",
     .run = run_vm_power},
    {.resource = "vm",
     .verb = "stop",
     .args = "NAME",
     .n_args = 1,
     .complete = CLI_COMPLETE_VM,
     .options = vm_stop_options,
     .summary = "Shut a VM down (ACPI, then forced after a timeout)",
     .run = run_vm_power},
    {.resource = "vm",
     .verb = "reboot",
     .args = "NAME",
     .n_args = 1,
     .complete = CLI_COMPLETE_VM,
     .options = vm_start_options,
     .summary = "Reset a VM",
     .run = run_vm_power},
    {.resource = "vm",
     .verb = "delete",
     .args = "NAME",
     .n_args = 1,
     .complete = CLI_COMPLETE_VM,
     .options = vm_delete_options,
     .summary = "Stop a VM and remove it with its NICs' ports and its disk",
     .run = run_vm_delete},
    {.resource = "vm",
     .verb = "console",
     .args = "NAME",
     .n_args = 1,
     .complete = CLI_COMPLETE_VM,
     .options = vm_console_options,
     .summary = "Print the tail of a VM's serial console",
     .run = run_vm_console},
    {.resource = "vm",
     .verb = "migrate",
     .args = "NAME",
     .n_args = 1,
     .complete = CLI_COMPLETE_VM,
     .options = vm_migrate_options,
     .summary = "Move a running VM to another host while it runs (live "
                "migration)",
     .description = "Its memory is copied while it runs, its network "
                    "follows it without a lost connection; a failure or "
                    "--cancel leaves it running where it was.  Prints the "
                    "VM (status migrating), or, with --wait, once the "
                    "migration completed.",
     .run = run_vm_migrate},

    {.resource = "migration",
     .verb = "list",
     .summary = "List the live migrations that run, with their progress",
     .run = run_list},

    {.resource = "vm-group",
     .verb = "create",
     .args = "NAME",
     .n_args = 1,
     .options = vm_group_create_options,
     .summary = "Create a VM group; VMs join it with \"vm create --group\"",
     .run = run_vm_group_create},
    {.resource = "vm-group",
     .verb = "list",
     .summary = "List VM groups",
     .run = run_list},
    {.resource = "vm-group",
     .verb = "show",
     .args = "NAME",
     .n_args = 1,
     .complete = CLI_COMPLETE_VMGROUP,
     .summary = "Show a VM group",
     .run = run_show},
    {.resource = "vm-group",
     .verb = "delete",
     .args = "NAME",
     .n_args = 1,
     .complete = CLI_COMPLETE_VMGROUP,
     .options = if_version_options,
     .summary = "Delete a VM group",
     .run = run_delete},

    {.resource = "image",
     .verb = "create",
     .args = "NAME",
     .n_args = 1,
     .options = image_create_options,
     .summary = "Register an image from a file, uploading it",
     .description = "The controller reads the format from the bytes (qcow2 "
                    "or raw), stores the image in its storage directory "
                    "and prints it with its SHA-256.  If the upload fails, "
                    "nothing is left behind.",
     .run = run_image_create},
    {.resource = "image",
     .verb = "list",
     .summary = "List images",
     .run = run_list},
    {.resource = "image",
     .verb = "show",
     .args = "NAME",
     .n_args = 1,
     .complete = CLI_COMPLETE_IMAGE,
     .summary = "Show an image's fields",
     .run = run_show},
    {.resource = "image",
     .verb = "delete",
     .args = "NAME",
     .n_args = 1,
     .complete = CLI_COMPLETE_IMAGE,
     .options = if_version_options,
     .summary = "Delete an image and its file; refused while a VM uses it",
     .run = run_delete},

    {.resource = "token",
     .verb = "create",
     .args = "NAME",
     .n_args = 1,
     .options = token_create_options,
     .summary = "Create a token and print it, this once only",
     .description = "The controller keeps only a hash of the token: save it "
                    "right away (\"-o json\" prints it for scripts).",
     .run = run_token_create},
    {.resource = "token",
     .verb = "list",
     .summary = "List tokens' names and roles, never the tokens",
     .run = run_list},
    {.resource = "token",
     .verb = "delete",
     .args = "NAME",
     .n_args = 1,
     .complete = CLI_COMPLETE_TOKEN,
     .summary = "Revoke a token",
     .run = run_delete},

    {.resource = "drs",
     .verb = "show",
     .summary = "Show the balancer's mode, threshold, interval and limit",
     .run = drs_show},
    {.resource = "drs",
     .verb = "set",
     .options = drs_set_options,
     .summary = "Change the balancer's settings",
     .description = "Settings not given stay as they are.  The controller "
                    "keeps them in its store.  Prints the settings as they "
                    "are afterwards.",
     .run = drs_set},
    {.resource = "drs",
     .verb = "recommendations",
     .summary = "Show the hosts' load and the migrations that would even "
                "it out",
     .description = "A host's load is the larger of its VMs' CPU use over "
                    "its vCPUs and their memory use over its memory, as its "
                    "agent reports them.  Nothing is recommended in mode "
                    "off, or while the most and least loaded hosts differ "
                    "by no more than the threshold.",
     .run = drs_recommendations},
    {.resource = "drs",
     .verb = "apply",
     .summary = "Start the migrations the balancer recommends now, once",
     .description = "As many as the limit of migrations at once allows; "
                    "refused in mode off.  Prints each migration started, "
                    "and why a recommended one was not.",
     .run = drs_apply},

    {.resource = "audit",
     .options = audit_options,
     .summary = "Show who changed what through the API, newest first",
     .description = "Every request that changes something is recorded with "
                    "its time, token name, role, method, path and answer.",
     .run = run_audit},
    {.resource = "flowlog",
     .options = observe_flowlog_options,
     .summary = "Show flow log records, newest first",
     .description = "Agents report every connection the firewall denies and "
                    "every one a rule with logging allows.  Filters combine: "
                    "a record must match them all.",
     .run = observe_flowlog},
    {.resource = "trace",
     .options = observe_trace_options,
     .summary = "Trace a packet from a port to an address",
     .description = "The controller builds the first packet of the "
                    "connection and has the agents of the hosts on its way "
                    "run it through their fast path, changing nothing.  "
                    "Prints each stage, then the verdict and the rule that "
                    "decided it.",
     .run = observe_trace},
    {.resource = "status",
     .summary = "Summarize hosts, networks and ports",
     .description = "Prints the counts of GET /v1/status, every host with its "
                    "health, and the ports that are not up.",
     .run = run_status},
    {.resource = "version",
     .options = version_options,
     .summary = "Print fabricctl's version and the controller's API version",
     .run = run_version},
    {.resource = "completion",
     .args = "SHELL",
     .n_args = 1,
     .arg_choices = shells,
     .complete = CLI_COMPLETE_CHOICES,
     .summary = "Print the completion script for SHELL (bash)",
     .description = "Load it into the current shell with \"source <(fabricctl "
                    "completion bash)\".  Installed packages put it where "
                    "bash-completion finds it.",
     .run = run_completion},
    {.resource = NULL},
};
