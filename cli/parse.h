/* Command-line parsing for a "PROGRAM [OPTIONS] RESOURCE VERB [ARGS]"
 * tool, driven by tables of resources, commands and options.
 *
 * The parser checks everything that can be checked without the server
 * (unknown words, missing arguments, values that must be numbers or
 * KEY=VALUE pairs), so that a typo costs no round trip and gets a message
 * that says which word was wrong and where to find help.  It never prints
 * and never exits: it reports what it found in a struct cli_args, which
 * makes it easy to test. */
#ifndef CLI_PARSE_H
#define CLI_PARSE_H 1

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct cli_ctx;
struct cli_args;

/* What an option takes after its name. */
enum cli_value {
    CLI_VALUE_NONE,    /* Nothing: a switch such as "--client". */
    CLI_VALUE_STRING,  /* Any text, the empty string included. */
    CLI_VALUE_NUMBER,  /* A non-negative decimal integer. */
    CLI_VALUE_SECONDS, /* A non-negative decimal number, e.g. "2.5". */
    /* The next three take a comma-separated list, as kubectl does
     * ("env=prod,tier=web"): the parser stores each item as a value of
     * its own.  No label key or value has a comma (the API refuses it). */
    CLI_VALUE_LABEL,    /* "KEY=VALUE" with a non-empty KEY. */
    CLI_VALUE_KEY,      /* A label key: non-empty, without "=". */
    CLI_VALUE_SELECTOR, /* A label selector: "KEY=VALUE" or "KEY". */
    CLI_VALUE_CHOICE,   /* One of the option's 'choices'. */
    CLI_VALUE_RATE,     /* A rate: "100mbit" (utils/units.h). */
    CLI_VALUE_SIZE,     /* A size: "64kb" (utils/units.h). */
    CLI_VALUE_MIB,      /* A size in whole MiB, with its unit: "256M",
                         * "1G" (a VM's memory). */
    CLI_VALUE_GIB,      /* A size in whole GiB, with its unit: "2G" (a
                         * VM's disk). */
    CLI_VALUE_RATIO,    /* A decimal number above 0: "4", "1.5". */
    CLI_VALUE_DSCP,     /* A DSCP value 0..63, or "keep". */
    CLI_VALUE_PRIORITY, /* A priority 0..7, or "default". */
};

/* What shell completion offers for an option's value or an argument. */
enum cli_complete {
    CLI_COMPLETE_NONE,    /* Nothing: free text. */
    CLI_COMPLETE_FILE,    /* File names. */
    CLI_COMPLETE_CHOICES, /* The option's or command's choices. */
    CLI_COMPLETE_NETWORK, /* Names of existing networks. */
    CLI_COMPLETE_PORT,    /* Names of existing ports. */
    CLI_COMPLETE_HOST,    /* Names of registered hosts. */
    CLI_COMPLETE_TOKEN,   /* Names of API tokens. */
    CLI_COMPLETE_QOS,     /* Names of QoS policies. */
    CLI_COMPLETE_SGROUP,  /* Names of security groups. */
    CLI_COMPLETE_EXTVTEP, /* Names of external VTEPs. */
    CLI_COMPLETE_VM,      /* Names of VMs. */
    CLI_COMPLETE_VMGROUP, /* Names of VM groups. */
    CLI_COMPLETE_IMAGE,   /* Names of images. */
};

/* One option.  Tables of options end with an entry whose 'name' is NULL. */
struct cli_option {
    const char *name;           /* Long name without "--": "mtu". */
    char short_name;            /* 'o' for "-o", or 0 for none. */
    enum cli_value value;       /* What follows the option. */
    const char *metavar;        /* The value's name in help: "N". */
    const char *const *choices; /* NULL-terminated, for CLI_VALUE_CHOICE. */
    bool required;              /* Must be given. */
    bool repeatable;            /* May be given more than once. */
    enum cli_complete complete; /* What completion offers as value. */
    const char *help;           /* One line: what it does. */
};

/* One command: a verb of a resource ("network create") or a resource that
 * takes no verb ("status").  Tables end with an entry whose 'resource' is
 * NULL. */
struct cli_command {
    const char *resource;             /* First word: "network". */
    const char *verb;                 /* "create", or NULL for none; two
                                       * words for a verb of a part of
                                       * the resource ("rule add"). */
    const char *args;                 /* Positionals in help: "NAME". */
    size_t n_args;                    /* How many positionals, exactly. */
    const char *const *arg_choices;   /* Allowed positionals, or NULL. */
    enum cli_complete complete;       /* What completion offers for them. */
    const struct cli_option *options; /* Its options, or NULL. */
    const char *summary;              /* One line for the list of verbs. */
    const char *description;          /* More, for its own help, or NULL. */
    int (*run)(struct cli_ctx *, const struct cli_args *);
};

/* A resource: the first word.  Tables end with a NULL 'name'. */
struct cli_resource {
    const char *name;    /* "network". */
    const char *summary; /* One line for the program's help. */
};

/* Everything the parser and the help texts need to know about a program. */
struct cli_program {
    const char *name;                     /* "fabricctl". */
    const char *summary;                  /* First paragraph of its help. */
    const char *footer;                   /* Last paragraph, or NULL. */
    const struct cli_option *globals;     /* Options valid everywhere. */
    const struct cli_resource *resources; /* First words. */
    const struct cli_command *commands;   /* Every command. */
};

/* Most positional arguments any command takes. */
#define CLI_MAX_ARGS 4

/* One option found on the command line. */
struct cli_arg_value {
    const struct cli_option *option; /* Which one (global or command's). */
    const char *value;               /* Its value; "" for switches. */
};

/* What cli_parse() found. */
struct cli_args {
    const struct cli_resource *resource; /* First word, once known. */
    const struct cli_command *command;   /* The command, once known. */
    const char *verb_prefix;             /* The first word of a two-word
                                          * verb, until the second. */
    const char *pos[CLI_MAX_ARGS];       /* Positional arguments. */
    size_t n_pos;                        /* Number of them. */
    struct cli_arg_value *values;        /* Options, in order given. */
    size_t n_values;                     /* Number of them. */
    size_t allocated;                    /* Capacity of 'values'. */
    char **items;                        /* The items of comma-separated
                                          * values, which 'values' point
                                          * to. */
    size_t n_items;                      /* Number of 'items'. */
    char *error;                         /* CLI_PARSE_ERROR: what is wrong. */
    char *hint;                          /* CLI_PARSE_ERROR: "Try ..." help. */
};

/* What the caller should do next. */
enum cli_parse_result {
    CLI_PARSE_RUN,   /* Run 'args->command'. */
    CLI_PARSE_HELP,  /* Print help for the deepest level found. */
    CLI_PARSE_ERROR, /* Print 'args->error' and 'args->hint'. */
};

/* Parses 'argc' words of 'argv' (without the program name) for 'program'
 * into 'args', which the caller must later release with cli_args_clear().
 * Global options are recognized before and after the command words; the
 * command's own options after them.  "--" ends options.  Values are kept
 * as pointers into 'argv'. */
enum cli_parse_result cli_parse(const struct cli_program *, int argc,
                                char *argv[], struct cli_args *);
void cli_args_clear(struct cli_args *);

/* Returns the last value given for option 'name', or NULL if absent. */
const char *cli_args_get(const struct cli_args *, const char *name);

/* Iterates over the values of a repeatable option 'name': returns the next
 * one at or after index '*pos' (start with 0) and advances '*pos' past it,
 * or NULL when there are no more. */
const char *cli_args_next(const struct cli_args *, const char *name,
                          size_t *pos);

/* Stores option 'name''s value, which the parser checked to be a
 * CLI_VALUE_NUMBER, in '*n'.  Returns false if the option is absent. */
bool cli_args_get_number(const struct cli_args *, const char *name,
                         int64_t *n);

/* Stores option 'name''s value, which the parser checked to be a
 * CLI_VALUE_RATE, CLI_VALUE_SIZE, CLI_VALUE_MIB or CLI_VALUE_GIB, in '*n'
 * (bits per second or bytes).
 * Returns false if the option is absent. */
bool cli_args_get_units(const struct cli_args *, const char *name,
                        uint64_t *n);

/* Checks 'text' as a value of the given kind.  Returns NULL if it is fine,
 * otherwise a malloc'd message that says what is wrong ("must be a whole
 * number"). */
char *cli_check_value(enum cli_value, const char *const *choices,
                      const char *text);

/* Looks up option 'name' (without dashes, or one letter for a short
 * option when 'is_short') among 'command''s options (if 'command' is not
 * NULL) and then the global ones. */
const struct cli_option *cli_find_option(const struct cli_program *,
                                         const struct cli_command *,
                                         const char *name, bool is_short);

/* Prints the help for the deepest level 'args' reached: the program's,
 * a resource's or a command's. */
void cli_print_help(FILE *, const struct cli_program *,
                    const struct cli_args *);

#endif /* cli/parse.h */
