#include "cli/fabricctl.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/commands.h"
#include "cli/parse.h"
#include "utils/url-list.h"
#include "utils/util.h"

#define DEFAULT_CONTROLLER "http://127.0.0.1:9470"
#define DEFAULT_TIMEOUT_MS 30000 /* Per request, unless --timeout. */
#define COMPLETE_TIMEOUT_MS                                                   \
    3000 /* Per request while completing a word:                              \
          * a shell that hangs on TAB is worse than                           \
          * one that offers nothing. */
#define MAX_TIMEOUT_MS (14 * 86400 * 1000L) /* Longer means none. */
#define DEFAULT_PAGE_SIZE 500               /* Items per list page. */
#define MAX_PAGE_SIZE 1000                  /* The API's largest "limit". */

static const char *const formats[] = {"table", "json", NULL};

static const struct cli_option globals[] = {
    {.name = "controller",
     .value = CLI_VALUE_STRING,
     .metavar = "URL",
     .help = "The controller's base URL, or several replicas' separated "
             "by commas, tried in turn (default: $FABRIC_CONTROLLER, "
             "else " DEFAULT_CONTROLLER ")"},
    {.name = "token",
     .value = CLI_VALUE_STRING,
     .metavar = "TOKEN",
     .help = "API token (default: $FABRIC_TOKEN); other users can see it "
             "in ps, so prefer --token-file"},
    {.name = "token-file",
     .value = CLI_VALUE_STRING,
     .metavar = "FILE",
     .complete = CLI_COMPLETE_FILE,
     .help = "Read the API token from FILE (default: $FABRIC_TOKEN_FILE)"},
    {.name = "cacert",
     .value = CLI_VALUE_STRING,
     .metavar = "FILE",
     .complete = CLI_COMPLETE_FILE,
     .help = "CA certificates to verify an https:// controller with "
             "(default: $FABRIC_CACERT, else the system's)"},
    {.name = "output",
     .short_name = 'o',
     .value = CLI_VALUE_CHOICE,
     .metavar = "FORMAT",
     .choices = formats,
     .complete = CLI_COMPLETE_CHOICES,
     .help = "table (default, for people) or json (the API's JSON, for "
             "scripts)"},
    {.name = "timeout",
     .value = CLI_VALUE_SECONDS,
     .metavar = "SECONDS",
     .help = "Give up on a request after SECONDS (default 30; 0 waits for "
             "ever)"},
    {.name = "verbose",
     .short_name = 'v',
     .value = CLI_VALUE_NONE,
     .help = "Say on stderr which controller answered each request, and "
             "which failed"},
    {.name = "page-size",
     .value = CLI_VALUE_NUMBER,
     .metavar = "N",
     .help = "Objects fetched per request when listing, 1 to 1000 (default "
             "500)"},
    {.name = NULL},
};

static const struct cli_program program = {
    .name = "fabricctl",
    .summary =
        "fabricctl manages a fabric cloud's virtual networks, ports, VMs, "
        "hosts and API tokens through fabric-controller's REST API.",
    .footer = "Run 'fabricctl COMMAND --help' for a command's verbs and "
              "options.\n"
              "Environment: FABRIC_CONTROLLER, FABRIC_TOKEN, "
              "FABRIC_TOKEN_FILE, FABRIC_CACERT.\n"
              "Exit status: 0 done, 1 the controller refused, 2 usage error, "
              "3 controller unreachable.\n"
              "See fabricctl(1) for more.",
    .globals = globals,
    .resources = commands_resources,
    .commands = commands_table,
};

/* Returns environment variable 'name', or NULL if it is unset or empty. */
static const char *
env(const char *name)
{
    const char *value = getenv(name);

    return value && value[0] ? value : NULL;
}

/* Reports a configuration problem ("source" "value": "problem") with a
 * hint at the global options.  Returns CLI_EXIT_USAGE. */
static int
config_error(FILE *err, const char *source, const char *value,
             const char *problem)
{
    fprintf(err, "fabricctl: %s \"%s\": %s\nTry 'fabricctl --help'\n", source,
            value, problem);
    return CLI_EXIT_USAGE;
}

/* Reads the token from file 'path' into '*token', without the line end
 * an editor or "echo" leaves behind.  'source' names where 'path' came
 * from for messages.  Returns an exit status. */
static int
read_token_file(FILE *err, const char *source, const char *path, char **token)
{
    size_t len;
    int error;

    error = read_file(path, token, &len);
    if (error) {
        char *problem = xasprintf("cannot read it: %s", strerror(error));

        config_error(err, source, path, problem);
        free(problem);
        return CLI_EXIT_USAGE;
    }
    while (len > 0 && strchr(" \t\r\n", (*token)[len - 1])) {
        (*token)[--len] = '\0';
    }
    if (len == 0) {
        return config_error(err, source, path, "the file is empty");
    }
    return CLI_EXIT_OK;
}

/* Fills in 'ctx' from the global options in 'args' and the environment.
 * A token read from a file is stored in '*token_buf', which the caller
 * frees after 'ctx' is no longer used.  Returns an exit status, having
 * reported any problem on 'err'. */
static int
configure(struct cli_ctx *ctx, const struct cli_args *args, char **token_buf,
          FILE *out, FILE *err)
{
    const char *url, *token, *token_file, *timeout, *output;
    const char *url_source = "--controller";
    const char *token_source = "--token-file";
    const char *cacert_source = "--cacert";
    struct url_list urls;
    int64_t page_size;
    char *bad;

    memset(ctx, 0, sizeof *ctx);
    *token_buf = NULL;
    ctx->out = out;
    ctx->err = err;

    url = cli_args_get(args, "controller");
    if (url == NULL && (url = env("FABRIC_CONTROLLER")) != NULL) {
        url_source = "FABRIC_CONTROLLER";
    }
    if (url == NULL) {
        url = DEFAULT_CONTROLLER;
    }
    bad = url_list_parse(url, &urls);
    if (bad) {
        config_error(err, url_source, url, bad);
        free(bad);
        return CLI_EXIT_USAGE;
    }
    url_list_clear(&urls);
    ctx->config.url = url;
    if (cli_args_get(args, "verbose")) {
        ctx->config.verbose = err;
    }

    /* The command line wins over the environment; within each, a token
     * given directly wins over a file. */
    token = cli_args_get(args, "token");
    token_file = cli_args_get(args, "token-file");
    if (token && token_file) {
        fprintf(err, "fabricctl: give --token or --token-file, not both\n"
                     "Try 'fabricctl --help'\n");
        return CLI_EXIT_USAGE;
    }
    if (token == NULL && token_file == NULL) {
        token = env("FABRIC_TOKEN");
        if (token == NULL) {
            token_file = env("FABRIC_TOKEN_FILE");
            token_source = "FABRIC_TOKEN_FILE";
        }
    }
    if (token_file) {
        int status = read_token_file(err, token_source, token_file, token_buf);

        if (status) {
            return status;
        }
        token = *token_buf;
    }
    if (token) {
        /* It goes into an HTTP header, where a line end would start a
         * header of its own. */
        for (const char *p = token; *p; p++) {
            if ((unsigned char) *p <= ' ' || *p == 0x7f) {
                fprintf(err, "fabricctl: the API token contains a space or "
                             "a control character\n");
                return CLI_EXIT_USAGE;
            }
        }
        ctx->config.token = token;
        ctx->token_given = true;
    }

    ctx->config.cacert = cli_args_get(args, "cacert");
    if (ctx->config.cacert == NULL
        && (ctx->config.cacert = env("FABRIC_CACERT")) != NULL) {
        cacert_source = "FABRIC_CACERT";
    }
    /* libcurl would report a missing file as a TLS failure, exit status
     * 3, when it is a mistake in the command line. */
    if (ctx->config.cacert && access(ctx->config.cacert, R_OK)) {
        char *problem = xasprintf("cannot read it: %s", strerror(errno));

        config_error(err, cacert_source, ctx->config.cacert, problem);
        free(problem);
        return CLI_EXIT_USAGE;
    }

    ctx->config.timeout_ms = DEFAULT_TIMEOUT_MS;
    timeout = cli_args_get(args, "timeout");
    if (timeout) {
        double ms = strtod(timeout, NULL) * 1000;

        /* Weeks are as good as for ever, and stay within a long. */
        ctx->config.timeout_ms = ms < MAX_TIMEOUT_MS ? (long) ms : 0;
    }

    ctx->page_size = DEFAULT_PAGE_SIZE;
    if (cli_args_get_number(args, "page-size", &page_size)) {
        if (page_size < 1 || page_size > MAX_PAGE_SIZE) {
            return config_error(err, "--page-size",
                                cli_args_get(args, "page-size"),
                                "must be 1 to 1000");
        }
        ctx->page_size = page_size;
    }

    output = cli_args_get(args, "output");
    ctx->json = output && !strcmp(output, "json");
    return CLI_EXIT_OK;
}

/* Shell completion: "fabricctl __complete WORD... CURRENT" prints the
 * candidates for CURRENT, one per line, given the words before it; or
 * ":file" when CURRENT is a file name.  The script that calls it
 * (cli/fabricctl.bash-completion) filters them by what was typed. */

static void
print_choices(FILE *out, const char *const *choices)
{
    for (size_t i = 0; choices && choices[i]; i++) {
        fprintf(out, "%s\n", choices[i]);
    }
}

/* Prints the names of the objects 'what' stands for, asking the controller
 * the way the words typed so far ('args') say to.  Any failure prints
 * nothing: a completion has no place to report errors. */
static void
print_names(FILE *out, const struct cli_args *args, enum cli_complete what)
{
    char *discard = NULL;
    size_t discard_len = 0;
    FILE *devnull = open_memstream(&discard, &discard_len);
    struct cli_ctx ctx;
    char *token_buf;
    json_t *names = NULL;

    if (devnull == NULL) {
        return;
    }
    if (configure(&ctx, args, &token_buf, out, devnull) == CLI_EXIT_OK) {
        if (cli_args_get(args, "timeout") == NULL) {
            ctx.config.timeout_ms = COMPLETE_TIMEOUT_MS;
        }
        if (commands_list_names(&ctx, what, &names) == CLI_EXIT_OK) {
            for (size_t i = 0; i < json_array_size(names); i++) {
                fprintf(out, "%s\n",
                        json_string_value(json_array_get(names, i)));
            }
        }
        json_decref(names);
        commands_ctx_clear(&ctx);
    }
    free(token_buf);
    fclose(devnull);
    free(discard);
}

static void
print_values(FILE *out, const struct cli_args *args, enum cli_complete what,
             const char *const *choices)
{
    if (what == CLI_COMPLETE_FILE) {
        fprintf(out, ":file\n");
    } else if (what == CLI_COMPLETE_CHOICES) {
        print_choices(out, choices);
    } else if (what != CLI_COMPLETE_NONE) {
        print_names(out, args, what);
    }
}

static void
print_option_names(FILE *out, const struct cli_option *options)
{
    for (const struct cli_option *o = options; o && o->name; o++) {
        fprintf(out, "--%s\n", o->name);
    }
}

/* Returns the option that word 'word' names if it needs its value in the
 * next word ("--network", "-o"), else NULL. */
static const struct cli_option *
option_awaiting_value(const struct cli_args *args, const char *word)
{
    const struct cli_option *o = NULL;

    if (word[0] != '-' || word[1] == '\0' || !strcmp(word, "--")) {
        return NULL;
    }
    if (word[1] == '-' && strchr(word, '=') == NULL) {
        o = cli_find_option(&program, args->command, word + 2, false);
    } else if (word[1] != '-' && word[2] == '\0') {
        o = cli_find_option(&program, args->command, word + 1, true);
    }
    return o && o->value != CLI_VALUE_NONE ? o : NULL;
}

static int
complete(int argc, char *argv[], FILE *out)
{
    const struct cli_option *option = NULL;
    const char *current;
    struct cli_args args;
    int n;

    if (argc < 1) {
        return CLI_EXIT_OK;
    }
    current = argv[argc - 1];
    n = argc - 1;

    /* Bash splits "--network=blue" into "--network", "=", "blue". */
    if (n >= 2 && !strcmp(argv[n - 1], "=")) {
        cli_parse(&program, n - 2, argv, &args);
        option = option_awaiting_value(&args, argv[n - 2]);
    } else if (n >= 1) {
        cli_parse(&program, n - 1, argv, &args);
        option = option_awaiting_value(&args, argv[n - 1]);
    } else {
        cli_parse(&program, 0, argv, &args);
    }
    if (option) {
        print_values(out, &args, option->complete, option->choices);
        cli_args_clear(&args);
        return CLI_EXIT_OK;
    }
    cli_args_clear(&args);

    /* Whatever parsing reports, 'args' holds how far it got: that is the
     * context of the word being completed. */
    cli_parse(&program, n, argv, &args);
    if (current[0] == '-') {
        if (args.command) {
            print_option_names(out, args.command->options);
        }
        print_option_names(out, globals);
        fprintf(out, "--help\n");
    } else if (args.resource == NULL) {
        for (const struct cli_resource *r = commands_resources; r->name; r++) {
            fprintf(out, "%s\n", r->name);
        }
    } else if (args.command == NULL) {
        const char *last = NULL;
        size_t last_len = 0;

        /* A two-word verb ("rule add") offers its first word once, then
         * its second words after it. */
        for (const struct cli_command *c = commands_table; c->resource; c++) {
            const char *verb = c->verb;
            size_t len;

            if (strcmp(c->resource, args.resource->name) || !verb) {
                continue;
            }
            if (args.verb_prefix) {
                len = strlen(args.verb_prefix);
                if (!strncmp(verb, args.verb_prefix, len)
                    && verb[len] == ' ') {
                    fprintf(out, "%s\n", verb + len + 1);
                }
                continue;
            }
            len = strcspn(verb, " ");
            if (!last || last_len != len || strncmp(last, verb, len)) {
                fprintf(out, "%.*s\n", (int) len, verb);
            }
            last = verb;
            last_len = len;
        }
    } else if (args.n_pos < args.command->n_args) {
        print_values(out, &args, args.command->complete,
                     args.command->arg_choices);
    }
    cli_args_clear(&args);
    return CLI_EXIT_OK;
}

int
fabricctl_run(int argc, char *argv[], FILE *out, FILE *err)
{
    struct cli_args args;
    struct cli_ctx ctx;
    char *token_buf = NULL;
    int status;

    if (argc >= 2 && !strcmp(argv[1], "__complete")) {
        return complete(argc - 2, argv + 2, out);
    }

    switch (cli_parse(&program, argc - 1, argv + 1, &args)) {
    case CLI_PARSE_HELP:
        cli_print_help(out, &program, &args);
        status = CLI_EXIT_OK;
        break;

    case CLI_PARSE_ERROR:
        fprintf(err, "fabricctl: %s\n%s\n", args.error, args.hint);
        status = CLI_EXIT_USAGE;
        break;

    case CLI_PARSE_RUN:
    default:
        status = configure(&ctx, &args, &token_buf, out, err);
        if (status == CLI_EXIT_OK) {
            status = args.command->run(&ctx, &args);
            commands_ctx_clear(&ctx);
        }
        free(token_buf);
        break;
    }
    cli_args_clear(&args);
    return status;
}
