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

/* Sends 'method' 'path' with 'body' (or none if NULL).  On a 2xx answer
 * stores its JSON (NULL if none) in '*answer' and returns CLI_EXIT_OK;
 * otherwise prints why on 'ctx->err' and returns the exit status. */
int commands_request(struct cli_ctx *, const char *method, const char *path,
                     const json_t *body, json_t **answer);

#endif /* cli/commands.h */
