/* fabricctl flowlog and fabricctl trace. */
#include "cli/observe.h"

#include <inttypes.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/client.h"
#include "cli/table.h"
#include "utils/util.h"

/* Seconds between two looks for new records with --follow. */
#define FLOWLOG_FOLLOW_INTERVAL 2

/* How far before the newest record seen --follow looks again: agents
 * report records a few seconds after their time, and a record that comes
 * later than this is missed. */
#define FLOWLOG_FOLLOW_SLACK 60

/* The API's largest "limit". */
#define FLOWLOG_LIMIT_MAX 1000

static const char *const verdicts[] = {"allow", "deny", NULL};
static const char *const protocols[] = {"tcp", "udp", "icmp", NULL};

const struct cli_option observe_flowlog_options[] = {
    {.name = "port",
     .value = CLI_VALUE_STRING,
     .metavar = "PORT",
     .complete = CLI_COMPLETE_PORT,
     .help = "Only the records of this port"},
    {.name = "host",
     .value = CLI_VALUE_STRING,
     .metavar = "HOST",
     .complete = CLI_COMPLETE_HOST,
     .help = "Only the records this host reported"},
    {.name = "verdict",
     .value = CLI_VALUE_CHOICE,
     .metavar = "VERDICT",
     .choices = verdicts,
     .complete = CLI_COMPLETE_CHOICES,
     .help = "Only allowed or only denied connections"},
    {.name = "network",
     .value = CLI_VALUE_STRING,
     .metavar = "NETWORK",
     .complete = CLI_COMPLETE_NETWORK,
     .help = "Only the records of this network"},
    {.name = "since",
     .value = CLI_VALUE_STRING,
     .metavar = "TIME",
     .help = "Only records at or after TIME, RFC 3339: "
             "2026-11-22T10:00:00Z"},
    {.name = "limit",
     .value = CLI_VALUE_NUMBER,
     .metavar = "N",
     .help = "Show the latest N records, 1 to 1000 (default 100)"},
    {.name = "follow",
     .short_name = 'f',
     .value = CLI_VALUE_NONE,
     .help = "Keep printing new records as agents report them, oldest "
             "first, until interrupted"},
    {.name = NULL},
};

const struct cli_option observe_trace_options[] = {
    {.name = "from",
     .value = CLI_VALUE_STRING,
     .metavar = "PORT",
     .required = true,
     .complete = CLI_COMPLETE_PORT,
     .help = "The port the packet leaves from"},
    {.name = "to",
     .value = CLI_VALUE_STRING,
     .metavar = "IP",
     .required = true,
     .help = "The IPv4 address it goes to, in the port's network"},
    {.name = "proto",
     .value = CLI_VALUE_CHOICE,
     .metavar = "PROTO",
     .choices = protocols,
     .required = true,
     .complete = CLI_COMPLETE_CHOICES,
     .help = "tcp (a SYN), udp or icmp (an echo request)"},
    {.name = "dport",
     .value = CLI_VALUE_NUMBER,
     .metavar = "N",
     .help = "Destination port, 1 to 65535 (tcp and udp: required)"},
    {.name = "sport",
     .value = CLI_VALUE_NUMBER,
     .metavar = "N",
     .help = "Source port, 1 to 65535 (default 40000)"},
    {.name = "icmp-type",
     .value = CLI_VALUE_NUMBER,
     .metavar = "T",
     .help = "ICMP type, 0 to 255 (default 8, echo request)"},
    {.name = NULL},
};

/* Flow logs. */

/* Returns "IP:PORT" (or "[IP]:PORT" for IPv6, or IP alone without a port)
 * for endpoint 'which' ("src" or "dst") of 'record'. */
static char *
endpoint(const json_t *record, const char *which)
{
    char *ip_key = xasprintf("%s_ip", which);
    char *port_key = xasprintf("%s_port", which);
    const char *ip = json_string_value(json_object_get(record, ip_key));
    const json_t *port = json_object_get(record, port_key);
    char *s;

    if (!ip) {
        s = xstrdup(TABLE_NONE);
    } else if (!json_is_integer(port)) {
        s = xstrdup(ip);
    } else {
        s = xasprintf(strchr(ip, ':') ? "[%s]:%" JSON_INTEGER_FORMAT
                                      : "%s:%" JSON_INTEGER_FORMAT,
                      ip, json_integer_value(port));
    }
    free(ip_key);
    free(port_key);
    return s;
}

static const char *const flowlog_headers[] = {
    "TIME", "HOST",    "PORT", "DIR",    "PROTO", "SRC",
    "DST",  "VERDICT", "RULE", "REASON", "COUNT", NULL};

/* Adds the row of 'record' to 't'. */
static void
flowlog_row(struct table *t, const json_t *record)
{
    const json_t *rule = json_object_get(record, "rule");
    const json_t *type = json_object_get(record, "icmp_type");
    char *src = endpoint(record, "src");
    char *dst = endpoint(record, "dst");

    table_add_row(t);
    table_add_json(t, json_object_get(record, "time"));
    table_add_json(t, json_object_get(record, "host"));
    table_add_json(t, json_object_get(record, "port"));
    table_add_json(t, json_object_get(record, "direction"));
    if (json_is_integer(type)) {
        /* ICMP is told apart by its type: "icmp/8" is an echo request. */
        char *proto = xasprintf(
            "%s/%" JSON_INTEGER_FORMAT,
            json_string_value(json_object_get(record, "protocol")) ?: "?",
            json_integer_value(type));

        table_add_cell(t, proto);
        free(proto);
    } else {
        table_add_json(t, json_object_get(record, "protocol"));
    }
    table_add_cell(t, src);
    table_add_cell(t, dst);
    table_add_json(t, json_object_get(record, "verdict"));
    table_add_json(t, json_integer_value(rule) > 0 ? rule : NULL);
    table_add_json(t, json_object_get(record, "reason"));
    /* How many times the agent saw this flow decided so, within its
     * aggregation window (doc/firewall.md). */
    table_add_json(t, json_object_get(record, "count"));
    free(src);
    free(dst);
}

/* Prints 'items' as a table, in their order or, with 'reverse', the other
 * way round.  With 'header' false, leaves the header line out. */
static void
flowlog_print(struct cli_ctx *ctx, const json_t *items, bool reverse,
              bool header)
{
    struct table *t = table_create(flowlog_headers);
    size_t n = json_array_size(items);
    char *text, *body;

    for (size_t i = 0; i < n; i++) {
        flowlog_row(t, json_array_get(items, reverse ? n - 1 - i : i));
    }
    text = table_format(t);
    body = header ? text : strchr(text, '\n');
    fputs(body ? body + !header : "", ctx->out);
    free(text);
    table_destroy(t);
}

/* GETs the records for 'query' into '*items'. */
static int
flowlog_get(struct cli_ctx *ctx, const char *query, json_t **items)
{
    char *path = xasprintf("/v1/flowlogs?%s", query[0] ? query + 1 : "");
    json_t *answer;
    int status;

    *items = NULL;
    status = commands_request(ctx, "GET", path, NULL, &answer);
    free(path);
    if (status) {
        return status;
    }
    *items = json_incref(json_object_get(answer, "items"));
    json_decref(answer);
    if (!json_is_array(*items)) {
        json_decref(*items);
        *items = NULL;
        commands_error(ctx, "the answer to GET /v1/flowlogs has no \"items\" "
                            "list");
        return CLI_EXIT_API;
    }
    return CLI_EXIT_OK;
}

/* Returns RFC 3339 UTC time 'time' ("...Z") moved FLOWLOG_FOLLOW_SLACK
 * seconds back, or a copy of it if it is in another form. */
static char *
follow_since(const char *time)
{
    int year, mon, day, hour, min, sec, n = 0;
    struct tm tm;
    char buf[32];
    time_t t;

    if (sscanf(time, "%4d-%2d-%2dT%2d:%2d:%2d%n", &year, &mon, &day, &hour,
               &min, &sec, &n)
            != 6
        || time[strlen(time) - 1] != 'Z') {
        return xstrdup(time);
    }
    memset(&tm, 0, sizeof tm);
    tm.tm_year = year - 1900;
    tm.tm_mon = mon - 1;
    tm.tm_mday = day;
    tm.tm_hour = hour;
    tm.tm_min = min;
    tm.tm_sec = sec;
    t = timegm(&tm) - FLOWLOG_FOLLOW_SLACK;
    gmtime_r(&t, &tm);
    strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return xstrdup(buf);
}

/* --follow: prints 'items' (newest first) oldest first, then whatever
 * arrives later, for ever. */
static int
flowlog_follow(struct cli_ctx *ctx, const char *query, json_t *items)
{
    json_int_t last_id = 0;
    bool header = true;
    char *since = NULL;

    for (;;) {
        json_t *fresh = json_array();
        const json_t *item;
        size_t i;

        json_array_foreach(items, i, item)
        {
            json_int_t id = json_integer_value(json_object_get(item, "id"));

            if (id > last_id) {
                json_array_append(fresh, (json_t *) item);
            }
        }
        json_array_foreach(items, i, item)
        {
            json_int_t id = json_integer_value(json_object_get(item, "id"));
            const char *time =
                json_string_value(json_object_get(item, "time"));

            if (id > last_id) {
                last_id = id;
            }
            /* The newest record comes first: the next look starts a
             * little before its time, and the ids tell which records were
             * shown already. */
            if (i == 0 && time) {
                free(since);
                since = follow_since(time);
            }
        }
        if (ctx->json) {
            for (size_t k = json_array_size(fresh); k-- > 0;) {
                commands_print_json(ctx, json_array_get(fresh, k),
                                    JSON_COMPACT);
            }
        } else if (json_array_size(fresh)) {
            flowlog_print(ctx, fresh, true, header);
            header = false;
        }
        fflush(ctx->out);
        json_decref(fresh);
        json_decref(items);
        items = NULL;

        sleep(FLOWLOG_FOLLOW_INTERVAL);
        {
            char *q = xstrdup(query);
            int status;

            if (since) {
                commands_query_add(&q, "since", since);
            }
            status = flowlog_get(ctx, q, &items);
            free(q);
            if (status) {
                free(since);
                return status;
            }
        }
    }
}

int
observe_flowlog(struct cli_ctx *ctx, const struct cli_args *args)
{
    static const char *const filters[] = {"port", "host", "verdict", "network",
                                          "since"};
    char *query = commands_args_query(args, filters, ARRAY_SIZE(filters));
    json_t *items;
    int64_t limit;
    int status;

    if (cli_args_get_number(args, "limit", &limit)) {
        char n[32];

        if (limit < 1 || limit > FLOWLOG_LIMIT_MAX) {
            free(query);
            return commands_usage_error(ctx, args,
                                        "--limit: must be 1 to 1000");
        }
        snprintf(n, sizeof n, "%" PRId64, limit);
        commands_query_add(&query, "limit", n);
    }
    status = flowlog_get(ctx, query, &items);
    if (status) {
        free(query);
        return status;
    }
    if (cli_args_get(args, "follow")) {
        /* The limit was for the first look only. */
        char *filters_only =
            commands_args_query(args, filters, ARRAY_SIZE(filters) - 1);

        free(query);
        status = flowlog_follow(ctx, filters_only, items);
        free(filters_only);
        return status;
    }
    if (ctx->json) {
        commands_print_json(ctx, items, JSON_INDENT(2));
    } else if (!json_array_size(items)) {
        fprintf(ctx->err, "No flow log records found.\n");
    } else {
        flowlog_print(ctx, items, false, true);
    }
    json_decref(items);
    free(query);
    return CLI_EXIT_OK;
}

/* Trace. */

static const char *
str(const json_t *obj, const char *key)
{
    const char *s = json_string_value(json_object_get(obj, key));

    return s ? s : "?";
}

/* Returns "egress allow by rule 7" or "ingress deny (default-deny)" for
 * firewall decision 'fw'. */
static char *
decision_text(const json_t *fw)
{
    json_int_t rule = json_integer_value(json_object_get(fw, "rule"));

    if (rule > 0) {
        return xasprintf("%s %s by rule %" JSON_INTEGER_FORMAT,
                         str(fw, "direction"), str(fw, "action"), rule);
    }
    return xasprintf("%s %s (%s)", str(fw, "direction"), str(fw, "action"),
                     str(fw, "reason"));
}

void
observe_print_trace(FILE *out, const json_t *a)
{
    const json_t *src = json_object_get(a, "source");
    const json_t *dst = json_object_get(a, "destination");
    const json_t *stages = json_object_get(a, "stages");
    const json_t *rule = json_object_get(a, "rule");
    const json_t *stage;
    size_t i;

    fprintf(out, "from: port %s (%s, host %s, network %s)\n", str(src, "port"),
            str(src, "ip"), str(src, "host"), str(src, "network"));
    if (json_object_get(dst, "port")) {
        fprintf(out, "to:   port %s (%s, host %s)\n", str(dst, "port"),
                str(dst, "ip"), str(dst, "host"));
    } else {
        fprintf(out, "to:   %s: no port has this address in network %s\n",
                str(dst, "ip"), str(dst, "network"));
    }
    json_array_foreach(stages, i, stage)
    {
        const json_t *fw = json_object_get(stage, "firewall");
        const char *drop =
            json_string_value(json_object_get(stage, "drop_reason"));
        char *decision = json_is_object(fw) ? decision_text(fw) : NULL;

        fprintf(out, "  %zu. host %s, %s program: %s%s -> %s%s%s\n", i + 1,
                str(stage, "host"), str(stage, "program"),
                decision ? "firewall " : "no firewall here",
                decision ? decision : "", str(stage, "tc_action"),
                drop ? ", dropped: " : "", drop ? drop : "");
        free(decision);
    }
    fprintf(out, "verdict: %s (%s)\n", str(a, "verdict"), str(a, "reason"));
    if (json_is_object(rule)) {
        const json_t *group = json_object_get(rule, "group");

        fprintf(out,
                "rule: %" JSON_INTEGER_FORMAT
                " of security group %s (%s %s)\n",
                json_integer_value(json_object_get(rule, "id")),
                json_is_string(group) ? json_string_value(group)
                                      : "(unknown, deleted since?)",
                str(rule, "direction"), str(rule, "action"));
    }
}

int
observe_trace(struct cli_ctx *ctx, const struct cli_args *args)
{
    const char *proto = cli_args_get(args, "proto");
    bool ports = strcmp(proto, "icmp") != 0;
    json_t *body, *answer;
    int64_t n;
    int status;

    if (ports && !cli_args_get(args, "dport")) {
        return commands_usage_error(ctx, args,
                                    "--dport: required for tcp and udp");
    }
    if (!ports
        && (cli_args_get(args, "dport") || cli_args_get(args, "sport"))) {
        return commands_usage_error(
            ctx, args, "--dport and --sport: only for tcp and udp");
    }
    if (ports && cli_args_get(args, "icmp-type")) {
        return commands_usage_error(ctx, args, "--icmp-type: only for icmp");
    }
    body = json_pack("{ssssss}", "from", cli_args_get(args, "from"), "to",
                     cli_args_get(args, "to"), "protocol", proto);
    if (cli_args_get_number(args, "dport", &n)) {
        json_object_set_new(body, "dport", json_integer(n));
    }
    if (cli_args_get_number(args, "sport", &n)) {
        json_object_set_new(body, "sport", json_integer(n));
    }
    if (cli_args_get_number(args, "icmp-type", &n)) {
        json_object_set_new(body, "icmp_type", json_integer(n));
    }
    status = commands_request(ctx, "POST", "/v1/trace", body, &answer);
    json_decref(body);
    if (status) {
        return status;
    }
    if (ctx->json) {
        commands_print_json(ctx, answer, JSON_INDENT(2));
    } else {
        observe_print_trace(ctx->out, answer);
    }
    json_decref(answer);
    return CLI_EXIT_OK;
}
