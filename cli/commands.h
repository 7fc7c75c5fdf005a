/* fabricctl's commands: one per resource and verb of the REST API, each
 * turning its arguments into requests and the answers into tables, "key:
 * value" lists or JSON. */
#ifndef CLI_COMMANDS_H
#define CLI_COMMANDS_H 1

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <jansson.h>

#include "cli/client.h"
#include "cli/parse.h"

/* fabricctl's exit statuses, which scripts rely on. */
enum {
    CLI_EXIT_OK = 0,      /* Done. */
    CLI_EXIT_API = 1,     /* The controller refused (4xx, 5xx) or made no
                           * sense. */
    CLI_EXIT_USAGE = 2,   /* The command line or configuration is wrong. */
    CLI_EXIT_CONNECT = 3, /* No answer: connection, TLS or timeout. */
};

/* Everything a command needs to run. */
struct cli_ctx {
    struct client_config config; /* How to reach the controller. */
    bool token_given;            /* A token came from somewhere. */
    struct client *client;       /* Made by the first request, or NULL. */
    bool json;                   /* "-o json": JSON for scripts. */
    size_t page_size;            /* Items asked for per list page. */
    FILE *out;                   /* Results. */
    FILE *err;                   /* Error messages and notes. */
};

/* The resources and commands, for cli_parse(). */
extern const struct cli_resource commands_resources[];
extern const struct cli_command commands_table[];

/* The bash completion script, generated from cli/fabricctl.bash-completion
 * at build time so that the installed file and "fabricctl completion bash"
 * never differ. */
extern const char commands_bash_completion[];

/* Releases what 'ctx' holds (its client), not 'ctx' itself. */
void commands_ctx_clear(struct cli_ctx *);

/* Fetches every object of the kind that 'what' completes (networks,
 * ports, hosts, tokens) and stores their names in '*names' as a JSON array
 * of strings.  Returns an exit status; errors go to 'ctx->err'. */
int commands_list_names(struct cli_ctx *, enum cli_complete what,
                        json_t **names);

/* Prints "fabricctl: MESSAGE" on 'ctx->err', MESSAGE being 'format' filled
 * in as printf() does. */
void commands_error(struct cli_ctx *, const char *format, ...)
    __attribute__((format(printf, 2, 3)));

/* Reports a usage problem that only shows once options are combined
 * ("update" without anything to change, "trace --proto icmp --dport 22"),
 * the way cli_parse() reports the others: 'message' after the command
 * that 'args' ran, and where to get its help.  Returns CLI_EXIT_USAGE. */
int commands_usage_error(struct cli_ctx *, const struct cli_args *args,
                         const char *message);

/* Prints 'json' on 'ctx->out' with jansson's 'flags' (JSON_INDENT(2) for
 * people, JSON_COMPACT for one line per value), its members in their
 * order, and a new line. */
void commands_print_json(struct cli_ctx *, const json_t *json, size_t flags);

/* Appends "&KEY=VALUE", 'value' URL-escaped, to the malloc'd query string
 * '*query', which it replaces. */
void commands_query_add(char **query, const char *key, const char *value);

/* Returns a new query string, "" or "&KEY=VALUE..." as
 * commands_query_add() makes it, with every value that 'args' holds of
 * each of the 'n' options named in 'names', in that order: the filters of
 * a list, the options named as its query parameters are. */
char *commands_args_query(const struct cli_args *args,
                          const char *const *names, size_t n);

/* Sends 'method' 'path' with 'body' (or none if NULL).  On a 2xx answer
 * stores its JSON (NULL if none) in '*answer' and returns CLI_EXIT_OK;
 * otherwise prints why on 'ctx->err' and returns the exit status. */
int commands_request(struct cli_ctx *, const char *method, const char *path,
                     const json_t *body, json_t **answer);

#endif /* cli/commands.h */
