/* fabricctl host maintenance and fabricctl drs. */
#include "cli/drs.h"

#include <inttypes.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/client.h"
#include "cli/table.h"
#include "utils/util.h"

/* How long "host maintenance enter --wait" waits without --timeout, in
 * seconds: each VM migrates live, a few at a time. */
#define MAINTENANCE_WAIT_DEFAULT 600

/* How often it looks, in milliseconds. */
#define MAINTENANCE_POLL_MS 500

/* How long every VM left must stay blocked before it gives up: a VM that
 * just arrived from another host is not reported running at once. */
#define MAINTENANCE_BLOCKED_MS 5000

static const char *const modes[] = {"off", "manual", "automatic", NULL};

const struct cli_option drs_maintenance_options[] = {
    {.name = "wait",
     .value = CLI_VALUE_NONE,
     .help = "Wait until the host holds no VM, for at most --timeout "
             "seconds (default 600); fail, with their reasons, once every "
             "VM left has been unable to leave for 5 s"},
    {.name = "timeout",
     .value = CLI_VALUE_SECONDS,
     .metavar = "S",
     .help = "With --wait, give up after S seconds (0: wait for ever)"},
    {.name = NULL},
};

const struct cli_option drs_set_options[] = {
    {.name = "mode",
     .value = CLI_VALUE_CHOICE,
     .metavar = "MODE",
     .choices = modes,
     .complete = CLI_COMPLETE_CHOICES,
     .help = "off, manual (recommendations only) or automatic (the "
             "balancer migrates VMs itself)"},
    {.name = "threshold",
     .value = CLI_VALUE_RATIO,
     .metavar = "LOAD",
     .help = "The largest difference of load between hosts left alone, "
             "0.01 to 1 (default 0.2)"},
    {.name = "interval",
     .value = CLI_VALUE_NUMBER,
     .metavar = "S",
     .help = "Seconds between two plans, 5 to 86400 (default 60); a VM "
             "moved stays that long"},
    {.name = "max-concurrent",
     .value = CLI_VALUE_NUMBER,
     .metavar = "N",
     .help = "Most migrations at once, of maintenance and the balancer, 1 "
             "to 16 (default 2)"},
    {.name = NULL},
};

/* The path of host 'name', and of its maintenance. */
static char *
host_path(const char *name, const char *tail)
{
    char *escaped = client_escape(name);
    char *path = xasprintf("/v1/hosts/%s%s", escaped, tail);

    free(escaped);
    return path;
}

/* Prints the blocked VMs of host 'host''s "maintenance_status" 'ms' on
 * 'f', one "  VM: REASON" line each. */
static void
print_blocked(FILE *f, const json_t *ms)
{
    const json_t *b;
    size_t i;

    json_array_foreach(json_object_get(ms, "blocked"), i, b)
    {
        fprintf(f, "  %s: %s\n",
                json_string_value(json_object_get(b, "vm")) ?: "?",
                json_string_value(json_object_get(b, "reason")) ?: "?");
    }
}

/* Prints where host 'host' ('obj') stands with maintenance, for people. */
static void
print_maintenance(struct cli_ctx *ctx, const char *host, const json_t *obj)
{
    const json_t *ms = json_object_get(obj, "maintenance_status");
    json_int_t vms = json_integer_value(json_object_get(ms, "vms"));
    size_t blocked = json_array_size(json_object_get(ms, "blocked"));

    if (ctx->json) {
        commands_print_json(ctx, obj, JSON_INDENT(2));
    } else if (!json_is_true(json_object_get(obj, "maintenance"))) {
        fprintf(ctx->out, "host \"%s\": out of maintenance, takes VMs\n",
                host);
    } else if (!vms) {
        fprintf(ctx->out, "host \"%s\": in maintenance, no VMs left\n", host);
    } else {
        fprintf(ctx->out,
                "host \"%s\": entering maintenance, %" JSON_INTEGER_FORMAT
                " VM%s left%s\n",
                host, vms, vms == 1 ? "" : "s",
                blocked ? "; these cannot leave:" : "");
        print_blocked(ctx->out, ms);
    }
}

/* Polls host 'host' until its maintenance status is "in-maintenance",
 * for at most 'seconds' (0: for ever), or until every VM it holds has been
 * blocked for MAINTENANCE_BLOCKED_MS.  Returns an exit status. */
static int
wait_maintenance(struct cli_ctx *ctx, const char *host, double seconds)
{
    char *path = host_path(host, "");
    int64_t deadline = time_msec() + (int64_t) (seconds * 1000);
    int64_t all_blocked = 0;
    json_t *obj = NULL;
    int status;

    for (;;) {
        const json_t *ms;
        json_int_t vms;
        size_t blocked;

        json_decref(obj);
        status = commands_request(ctx, "GET", path, NULL, &obj);
        if (status) {
            break;
        }
        if (!json_is_true(json_object_get(obj, "maintenance"))) {
            commands_error(ctx,
                           "host \"%s\" left maintenance while waiting for "
                           "it to empty",
                           host);
            status = CLI_EXIT_API;
            break;
        }
        ms = json_object_get(obj, "maintenance_status");
        vms = json_integer_value(json_object_get(ms, "vms"));
        blocked = json_array_size(json_object_get(ms, "blocked"));
        if (!strcmp(json_string_value(json_object_get(ms, "state")) ?: "",
                    "in-maintenance")) {
            print_maintenance(ctx, host, obj);
            break;
        }
        if (!vms || blocked < (size_t) vms) {
            all_blocked = 0;
        } else if (!all_blocked) {
            all_blocked = time_msec();
        }
        if (all_blocked
            && time_msec() - all_blocked >= MAINTENANCE_BLOCKED_MS) {
            commands_error(ctx,
                           "host \"%s\": %" JSON_INTEGER_FORMAT " VM%s cannot "
                           "leave:",
                           host, vms, vms == 1 ? "" : "s");
            print_blocked(ctx->err, ms);
            status = CLI_EXIT_API;
            break;
        }
        if (seconds > 0 && time_msec() >= deadline) {
            commands_error(ctx,
                           "host \"%s\" still holds %" JSON_INTEGER_FORMAT
                           " VM%s after %g s (--timeout waits longer)",
                           host, vms, vms == 1 ? "" : "s", seconds);
            print_blocked(ctx->err, ms);
            status = CLI_EXIT_API;
            break;
        }
        usleep(MAINTENANCE_POLL_MS * 1000);
    }
    json_decref(obj);
    free(path);
    return status;
}

/* "host maintenance enter|exit HOST [--wait] [--timeout S]". */
int
drs_maintenance(struct cli_ctx *ctx, const struct cli_args *args)
{
    const char *verb = args->command->verb;
    const char *action = strchr(verb, ' ') ? strchr(verb, ' ') + 1 : verb;
    const char *host = args->pos[0];
    char *path = host_path(host, "/maintenance");
    json_t *body = json_pack("{ss}", "action", action);
    const char *timeout = cli_args_get(args, "timeout");
    json_t *obj = NULL;
    int status;

    status = commands_request(ctx, "POST", path, body, &obj);
    if (!status && cli_args_get(args, "wait") && !strcmp(action, "enter")) {
        status = wait_maintenance(ctx, host,
                                  timeout ? strtod(timeout, NULL)
                                          : MAINTENANCE_WAIT_DEFAULT);
    } else if (!status) {
        print_maintenance(ctx, host, obj);
    }
    json_decref(obj);
    json_decref(body);
    free(path);
    return status;
}

/* Prints settings 'obj' as "key: value" lines, or JSON. */
static void
print_settings(struct cli_ctx *ctx, const json_t *obj)
{
    static const char *const order[] = {"mode", "threshold", "interval_s",
                                        "max_concurrent", NULL};

    if (ctx->json) {
        commands_print_json(ctx, obj, JSON_INDENT(2));
    } else {
        char *s = table_format_fields(obj, order);

        fputs(s, ctx->out);
        free(s);
    }
}

int
drs_show(struct cli_ctx *ctx, const struct cli_args *args)
{
    json_t *obj = NULL;
    int status = commands_request(ctx, "GET", "/v1/drs", NULL, &obj);

    (void) args;
    if (!status) {
        print_settings(ctx, obj);
    }
    json_decref(obj);
    return status;
}

int
drs_set(struct cli_ctx *ctx, const struct cli_args *args)
{
    json_t *body = json_object(), *obj = NULL;
    const char *value;
    int64_t n;
    int status;

    if ((value = cli_args_get(args, "mode")) != NULL) {
        json_object_set_new(body, "mode", json_string(value));
    }
    if ((value = cli_args_get(args, "threshold")) != NULL) {
        json_object_set_new(body, "threshold", json_real(strtod(value, NULL)));
    }
    if (cli_args_get_number(args, "interval", &n)) {
        json_object_set_new(body, "interval_s", json_integer(n));
    }
    if (cli_args_get_number(args, "max-concurrent", &n)) {
        json_object_set_new(body, "max_concurrent", json_integer(n));
    }
    if (!json_object_size(body)) {
        json_decref(body);
        return commands_usage_error(ctx, args,
                                    "nothing to change: give --mode, "
                                    "--threshold, --interval or "
                                    "--max-concurrent");
    }
    status = commands_request(ctx, "PUT", "/v1/drs", body, &obj);
    if (!status) {
        print_settings(ctx, obj);
    }
    json_decref(obj);
    json_decref(body);
    return status;
}

/* Formats number member 'key' of 'obj' with 'format' as a JSON string. */
static json_t *
number_text(const json_t *obj, const char *key, const char *format)
{
    char buf[64];

    snprintf(buf, sizeof buf, format,
             json_number_value(json_object_get(obj, key)));
    return json_string(buf);
}

int
drs_recommendations(struct cli_ctx *ctx, const struct cli_args *args)
{
    static const char *const host_headers[] = {
        "HOST", "LOAD", "CPU-USED", "MEMORY-USED", "IN-SERVICE", NULL};
    static const char *const rec_headers[] = {"VM", "FROM", "TO",
                                              "IMBALANCE-AFTER", NULL};
    json_t *plan = NULL;
    const json_t *recs, *h, *r;
    struct table *t;
    size_t i;
    int status;

    (void) args;
    status =
        commands_request(ctx, "GET", "/v1/drs/recommendations", NULL, &plan);
    if (status) {
        return status;
    }
    if (ctx->json) {
        commands_print_json(ctx, plan, JSON_INDENT(2));
        json_decref(plan);
        return CLI_EXIT_OK;
    }
    t = table_create(host_headers);
    json_array_foreach(json_object_get(plan, "hosts"), i, h)
    {
        json_t *cell;

        table_add_row(t);
        table_add_json(t, json_object_get(h, "name"));
        table_add_json(t, cell = number_text(h, "load", "%.3f"));
        json_decref(cell);
        table_add_json(t, cell = number_text(h, "cpu_used", "%.2f"));
        json_decref(cell);
        cell = json_sprintf("%" JSON_INTEGER_FORMAT "MiB",
                            json_integer_value(json_object_get(h, "memory_kb"))
                                / 1024);
        table_add_json(t, cell);
        json_decref(cell);
        cell = json_string(
            json_is_true(json_object_get(h, "in_service")) ? "yes" : "no");
        table_add_json(t, cell);
        json_decref(cell);
    }
    table_print(t, ctx->out);
    table_destroy(t);

    fprintf(ctx->out, "\nmode %s, imbalance %.3f, threshold %g\n",
            json_string_value(json_object_get(plan, "mode")) ?: "?",
            json_number_value(json_object_get(plan, "imbalance")),
            json_number_value(json_object_get(plan, "threshold")));
    recs = json_object_get(plan, "recommendations");
    if (!json_array_size(recs)) {
        fprintf(ctx->out, "No migrations recommended.\n");
        json_decref(plan);
        return CLI_EXIT_OK;
    }
    fputc('\n', ctx->out);
    t = table_create(rec_headers);
    json_array_foreach(recs, i, r)
    {
        json_t *cell;

        table_add_row(t);
        table_add_json(t, json_object_get(r, "vm"));
        table_add_json(t, json_object_get(r, "from"));
        table_add_json(t, json_object_get(r, "to"));
        table_add_json(t, cell = number_text(r, "imbalance", "%.3f"));
        json_decref(cell);
    }
    table_print(t, ctx->out);
    table_destroy(t);
    json_decref(plan);
    return CLI_EXIT_OK;
}

int
drs_apply(struct cli_ctx *ctx, const struct cli_args *args)
{
    static const char *const headers[] = {"VM", "FROM", "TO", "MIGRATION",
                                          NULL};
    static const char *const columns[] = {"vm", "from", "to", "id", NULL};
    json_t *body = json_object(), *out = NULL;
    const json_t *started, *r;
    size_t i;
    int status;

    (void) args;
    status = commands_request(ctx, "POST", "/v1/drs/apply", body, &out);
    json_decref(body);
    if (status) {
        return status;
    }
    if (ctx->json) {
        commands_print_json(ctx, out, JSON_INDENT(2));
        json_decref(out);
        return CLI_EXIT_OK;
    }
    started = json_object_get(out, "started");
    if (json_array_size(started)) {
        struct table *t = table_create(headers);

        json_array_foreach(started, i, r)
        {
            table_add_row(t);
            for (size_t c = 0; columns[c]; c++) {
                table_add_json(t, json_object_get(r, columns[c]));
            }
        }
        table_print(t, ctx->out);
        table_destroy(t);
    } else {
        fprintf(ctx->out, "No migrations started (imbalance %.3f).\n",
                json_number_value(json_object_get(out, "imbalance")));
    }
    json_array_foreach(json_object_get(out, "refused"), i, r)
    {
        fprintf(ctx->err, "fabricctl: vm \"%s\" not moved: %s\n",
                json_string_value(json_object_get(r, "vm")) ?: "?",
                json_string_value(json_object_get(r, "reason")) ?: "?");
    }
    json_decref(out);
    return CLI_EXIT_OK;
}
