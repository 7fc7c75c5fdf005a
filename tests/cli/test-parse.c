/* Unit tests for cli/parse.h: how command lines become commands, options
 * and arguments, and what a mistake is told.  The tables here are small
 * on purpose; test-fabricctl.c runs fabricctl's real ones. */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "cli/parse.h"

static int
run_nothing(struct cli_ctx *ctx, const struct cli_args *args)
{
    return 0;
}

static const char *const colours[] = {"red", "blue", NULL};

static const struct cli_option globals[] = {
    {.name = "output",
     .short_name = 'o',
     .value = CLI_VALUE_CHOICE,
     .metavar = "FORMAT",
     .choices = (const char *const[]){"table", "json", NULL},
     .help = "Format"},
    {.name = "timeout",
     .value = CLI_VALUE_SECONDS,
     .metavar = "SECONDS",
     .help = "Limit"},
    {.name = NULL},
};

static const struct cli_option create_options[] = {
    {.name = "cidr",
     .value = CLI_VALUE_STRING,
     .metavar = "CIDR",
     .required = true,
     .help = "Subnet"},
    {.name = "mtu", .value = CLI_VALUE_NUMBER, .metavar = "N", .help = "MTU"},
    {.name = "label",
     .value = CLI_VALUE_LABEL,
     .metavar = "KEY=VALUE",
     .repeatable = true,
     .help = "Label"},
    {.name = "remove-label",
     .value = CLI_VALUE_KEY,
     .metavar = "KEY",
     .repeatable = true,
     .help = "Unlabel"},
    {.name = "colour",
     .value = CLI_VALUE_CHOICE,
     .metavar = "COLOUR",
     .choices = colours,
     .help = "Colour"},
    {.name = "dry-run", .value = CLI_VALUE_NONE, .help = "Pretend"},
    {.name = "rate", .value = CLI_VALUE_RATE, .metavar = "R", .help = "Rate"},
    {.name = "burst",
     .value = CLI_VALUE_SIZE,
     .metavar = "S",
     .help = "Burst"},
    {.name = "dscp",
     .value = CLI_VALUE_DSCP,
     .metavar = "N|keep",
     .help = "DSCP"},
    {.name = "priority",
     .value = CLI_VALUE_PRIORITY,
     .metavar = "N|default",
     .help = "Priority"},
    {.name = NULL},
};

static const struct cli_resource resources[] = {
    {"network", "Networks"},
    {"status", "Status"},
    {"group", "Groups, whose rules take two-word verbs"},
    {NULL, NULL},
};

static const struct cli_command commands[] = {
    {.resource = "network",
     .verb = "create",
     .args = "NAME",
     .n_args = 1,
     .options = create_options,
     .summary = "Create",
     .run = run_nothing},
    {.resource = "network",
     .verb = "list",
     .summary = "List",
     .run = run_nothing},
    {.resource = "status", .summary = "Status", .run = run_nothing},
    {.resource = "group",
     .verb = "create",
     .args = "NAME",
     .n_args = 1,
     .summary = "Create",
     .run = run_nothing},
    {.resource = "group",
     .verb = "rule add",
     .args = "GROUP",
     .n_args = 1,
     .options = create_options,
     .summary = "Add a rule",
     .run = run_nothing},
    {.resource = "group",
     .verb = "rule delete",
     .args = "GROUP ID",
     .n_args = 2,
     .summary = "Delete a rule",
     .run = run_nothing},
    {.resource = NULL},
};

static const struct cli_program program = {
    .name = "prog",
    .summary = "A test program.",
    .globals = globals,
    .resources = resources,
    .commands = commands,
};

/* Parses the NULL-terminated words into 'args' and returns the result. */
static enum cli_parse_result
parse(struct cli_args *args, ...)
{
    char *words[32];
    int n = 0;
    va_list ap;

    va_start(ap, args);
    while ((words[n] = va_arg(ap, char *)) != NULL) {
        n++;
    }
    va_end(ap);
    return cli_parse(&program, n, words, args);
}

/* Checks that the words fail with 'error' and 'hint'. */
#define assert_usage_error(ERROR, HINT, ...)                                  \
    do {                                                                      \
        struct cli_args args_;                                                \
                                                                              \
        assert_int_equal(parse(&args_, __VA_ARGS__, NULL), CLI_PARSE_ERROR);  \
        assert_string_equal(args_.error, ERROR);                              \
        assert_string_equal(args_.hint, HINT);                                \
        cli_args_clear(&args_);                                               \
    } while (0)

/* Options and arguments may come in any order, global options before or
 * after the command words, values joined by "=" or not. */
static void
test_good(void **state)
{
    struct cli_args args;
    const char *v;
    int64_t n;
    size_t pos = 0;

    assert_int_equal(parse(&args, "-o", "json", "network", "create",
                           "--mtu=9000", "blue", "--cidr", "10.0.0.0/24",
                           "--label", "env=prod", "--label", "tier=web=x",
                           "--timeout", "2.5", "--dry-run", NULL),
                     CLI_PARSE_RUN);
    assert_ptr_equal(args.command, &commands[0]);
    assert_int_equal(args.n_pos, 1);
    assert_string_equal(args.pos[0], "blue");
    assert_string_equal(cli_args_get(&args, "output"), "json");
    assert_string_equal(cli_args_get(&args, "cidr"), "10.0.0.0/24");
    assert_string_equal(cli_args_get(&args, "timeout"), "2.5");
    assert_string_equal(cli_args_get(&args, "dry-run"), "");
    assert_true(cli_args_get_number(&args, "mtu", &n));
    assert_int_equal(n, 9000);
    assert_false(cli_args_get_number(&args, "vni", &n));
    assert_null(cli_args_get(&args, "colour"));

    /* Repeated labels come back in order; only the first "=" splits. */
    v = cli_args_next(&args, "label", &pos);
    assert_string_equal(v, "env=prod");
    v = cli_args_next(&args, "label", &pos);
    assert_string_equal(v, "tier=web=x");
    assert_null(cli_args_next(&args, "label", &pos));
    cli_args_clear(&args);

    /* "--label a=1,b=2" is two labels, as with kubectl, in their place
     * among the others. */
    pos = 0;
    assert_int_equal(parse(&args, "network", "create", "blue", "--cidr", "x",
                           "--label", "env=prod,tier=web", "--label", "a=b",
                           NULL),
                     CLI_PARSE_RUN);
    assert_string_equal(cli_args_next(&args, "label", &pos), "env=prod");
    assert_string_equal(cli_args_next(&args, "label", &pos), "tier=web");
    assert_string_equal(cli_args_next(&args, "label", &pos), "a=b");
    assert_null(cli_args_next(&args, "label", &pos));
    cli_args_clear(&args);

    /* "-oVALUE", and "--" before an argument that starts with "-". */
    assert_int_equal(parse(&args, "-ojson", "network", "create", "--cidr", "x",
                           "--", "-odd", NULL),
                     CLI_PARSE_RUN);
    assert_string_equal(cli_args_get(&args, "output"), "json");
    assert_string_equal(args.pos[0], "-odd");
    cli_args_clear(&args);

    /* A global option given twice: the last wins, so aliases can be
     * overridden. */
    assert_int_equal(parse(&args, "-o", "json", "status", "-o", "table", NULL),
                     CLI_PARSE_RUN);
    assert_ptr_equal(args.command, &commands[2]);
    assert_string_equal(cli_args_get(&args, "output"), "table");
    cli_args_clear(&args);
}

/* "--help" anywhere asks for the help of the level reached. */
static void
test_help(void **state)
{
    struct cli_args args;

    assert_int_equal(parse(&args, "--help", NULL), CLI_PARSE_HELP);
    assert_null(args.resource);
    cli_args_clear(&args);

    assert_int_equal(parse(&args, "network", "-h", NULL), CLI_PARSE_HELP);
    assert_non_null(args.resource);
    assert_null(args.command);
    cli_args_clear(&args);

    /* Help wins over the missing NAME and --cidr. */
    assert_int_equal(parse(&args, "network", "create", "--help", NULL),
                     CLI_PARSE_HELP);
    assert_ptr_equal(args.command, &commands[0]);
    cli_args_clear(&args);
}

static void
test_bad_words(void **state)
{
    struct cli_args args;

    assert_int_equal(cli_parse(&program, 0, NULL, &args), CLI_PARSE_ERROR);
    assert_string_equal(args.error, "missing command");
    assert_string_equal(args.hint, "Try 'prog --help'");
    cli_args_clear(&args);

    assert_usage_error("unknown command \"frob\"", "Try 'prog --help'",
                       "frob");
    assert_usage_error("network: missing verb (one of: create, list)",
                       "Try 'prog network --help'", "network");
    assert_usage_error("network: unknown verb \"make\" (verbs: create, "
                       "list)",
                       "Try 'prog network --help'", "network", "make");
    assert_usage_error("network create: missing NAME",
                       "Try 'prog network create --help'", "network", "create",
                       "--cidr", "x");
    assert_usage_error("network create: missing --cidr CIDR",
                       "Try 'prog network create --help'", "network", "create",
                       "blue");
    assert_usage_error("network list: unexpected argument \"blue\"",
                       "Try 'prog network list --help'", "network", "list",
                       "blue");
    assert_usage_error("status: unexpected argument \"now\"",
                       "Try 'prog status --help'", "status", "now");
}

/* A verb of a part of a resource is two words ("group rule add"); its
 * first word alone is no verb. */
static void
test_two_word_verbs(void **state)
{
    struct cli_args args;

    assert_int_equal(
        parse(&args, "group", "rule", "add", "web", "--cidr", "x", NULL),
        CLI_PARSE_RUN);
    assert_ptr_equal(args.command, &commands[4]);
    assert_int_equal(args.n_pos, 1);
    assert_string_equal(args.pos[0], "web");
    cli_args_clear(&args);

    assert_int_equal(parse(&args, "group", "rule", "delete", "web", "7", NULL),
                     CLI_PARSE_RUN);
    assert_ptr_equal(args.command, &commands[5]);
    assert_string_equal(args.pos[1], "7");
    cli_args_clear(&args);

    assert_int_equal(parse(&args, "group", "rule", "add", "-h", NULL),
                     CLI_PARSE_HELP);
    assert_ptr_equal(args.command, &commands[4]);
    cli_args_clear(&args);
    assert_int_equal(parse(&args, "group", "rule", "-h", NULL),
                     CLI_PARSE_HELP);
    assert_null(args.command);
    assert_string_equal(args.verb_prefix, "rule");
    cli_args_clear(&args);

    assert_usage_error("group: missing verb after \"rule\" (verbs: create, "
                       "rule add, rule delete)",
                       "Try 'prog group --help'", "group", "rule");
    assert_usage_error("group: unknown verb \"rule frob\" (verbs: create, "
                       "rule add, rule delete)",
                       "Try 'prog group --help'", "group", "rule", "frob");
    assert_usage_error("group: unknown verb \"rules\" (verbs: create, rule "
                       "add, rule delete)",
                       "Try 'prog group --help'", "group", "rules");
    assert_usage_error("group rule add: missing GROUP",
                       "Try 'prog group rule add --help'", "group", "rule",
                       "add", "--cidr", "x");
    assert_usage_error("group rule add: missing --cidr CIDR",
                       "Try 'prog group rule add --help'", "group", "rule",
                       "add", "web");
    assert_usage_error("group rule delete: unexpected argument \"8\"",
                       "Try 'prog group rule delete --help'", "group", "rule",
                       "delete", "web", "7", "8");
}

static void
test_bad_options(void **state)
{
    assert_usage_error("unknown option \"--cidr\"", "Try 'prog --help'",
                       "--cidr", "x", "network", "create", "blue");
    assert_usage_error("network create: unknown option \"--vni\"",
                       "Try 'prog network create --help'", "network", "create",
                       "blue", "--vni=5");
    assert_usage_error("network create: unknown option \"-x\"",
                       "Try 'prog network create --help'", "network", "create",
                       "-x");
    assert_usage_error("network create: option --cidr needs a value (CIDR)",
                       "Try 'prog network create --help'", "network", "create",
                       "blue", "--cidr");
    assert_usage_error("network create: option --dry-run takes no value",
                       "Try 'prog network create --help'", "network", "create",
                       "--dry-run=yes");
    assert_usage_error("network create: option --cidr given more than once",
                       "Try 'prog network create --help'", "network", "create",
                       "blue", "--cidr", "a", "--cidr", "b");
    assert_usage_error("network create: --mtu \"1500x\": must be a whole "
                       "number (0, 1, 2, ...)",
                       "Try 'prog network create --help'", "network", "create",
                       "blue", "--cidr", "a", "--mtu", "1500x");
    assert_usage_error("network create: --mtu \"99999999999999999999\": is "
                       "too large",
                       "Try 'prog network create --help'", "network", "create",
                       "--mtu", "99999999999999999999");
    assert_usage_error("network create: --colour \"green\": must be one of: "
                       "red, blue",
                       "Try 'prog network create --help'", "network", "create",
                       "--colour", "green");
    assert_usage_error("--output \"yaml\": must be one of: table, json",
                       "Try 'prog --help'", "-o", "yaml", "status");
    assert_usage_error("status: --timeout \"soon\": must be a number of "
                       "seconds, e.g. 10 or 2.5",
                       "Try 'prog status --help'", "status", "--timeout",
                       "soon");
}

/* Labels are KEY=VALUE with a non-empty key; a label to remove is a key
 * alone. */
static void
test_labels(void **state)
{
    char *msg;

    assert_null(cli_check_value(CLI_VALUE_LABEL, NULL, "env=prod"));
    assert_null(cli_check_value(CLI_VALUE_LABEL, NULL, "env="));
    assert_null(cli_check_value(CLI_VALUE_LABEL, NULL, "a=b=c"));

    msg = cli_check_value(CLI_VALUE_LABEL, NULL, "env");
    assert_string_equal(msg, "must be KEY=VALUE");
    free(msg);
    msg = cli_check_value(CLI_VALUE_LABEL, NULL, "=prod");
    assert_string_equal(msg, "the key before \"=\" must not be empty");
    free(msg);

    /* A selector for "port list" may leave the value out. */
    assert_null(cli_check_value(CLI_VALUE_SELECTOR, NULL, "env=prod"));
    assert_null(cli_check_value(CLI_VALUE_SELECTOR, NULL, "env"));
    msg = cli_check_value(CLI_VALUE_SELECTOR, NULL, "=prod");
    assert_string_equal(msg, "the key before \"=\" must not be empty");
    free(msg);
    msg = cli_check_value(CLI_VALUE_SELECTOR, NULL, "");
    assert_string_equal(msg, "must be KEY=VALUE or KEY");
    free(msg);

    assert_null(cli_check_value(CLI_VALUE_KEY, NULL, "env"));
    msg = cli_check_value(CLI_VALUE_KEY, NULL, "env=prod");
    assert_string_equal(msg, "must be a label key alone, without \"=\"");
    free(msg);
    msg = cli_check_value(CLI_VALUE_KEY, NULL, "");
    assert_string_equal(msg, "must not be empty");
    free(msg);

    /* A comma separates pairs, as with kubectl: each item is checked on
     * its own, and none is left empty. */
    assert_null(cli_check_value(CLI_VALUE_LABEL, NULL, "env=prod,tier=web"));
    assert_null(cli_check_value(CLI_VALUE_SELECTOR, NULL, "env=prod,tier"));
    assert_null(cli_check_value(CLI_VALUE_KEY, NULL, "env,tier"));
    msg = cli_check_value(CLI_VALUE_LABEL, NULL, "env=prod,tier");
    assert_string_equal(msg, "item \"tier\": must be KEY=VALUE");
    free(msg);
    msg = cli_check_value(CLI_VALUE_LABEL, NULL, "env=prod,,tier=web");
    assert_non_null(strstr(msg, "an empty item"));
    free(msg);
    msg = cli_check_value(CLI_VALUE_LABEL, NULL, "env=prod,");
    assert_non_null(strstr(msg, "an empty item"));
    free(msg);
    msg = cli_check_value(CLI_VALUE_KEY, NULL, "env,a=b");
    assert_string_equal(msg, "item \"a=b\": must be a label key alone, "
                             "without \"=\"");
    free(msg);

    assert_usage_error("network create: --label \"tier\": must be KEY=VALUE",
                       "Try 'prog network create --help'", "network", "create",
                       "blue", "--cidr", "x", "--label", "a=b", "--label",
                       "tier");
    assert_usage_error("network create: --remove-label \"a=b\": must be a "
                       "label key alone, without \"=\"",
                       "Try 'prog network create --help'", "network", "create",
                       "--remove-label", "a=b");
}

static void
test_numbers(void **state)
{
    char *msg;

    assert_null(cli_check_value(CLI_VALUE_NUMBER, NULL, "0"));
    assert_null(cli_check_value(CLI_VALUE_NUMBER, NULL, "16777215"));
    for (size_t i = 0; i < 5; i++) {
        static const char *const bad[] = {"", "-1", "+1", "1e3", "0x10"};

        msg = cli_check_value(CLI_VALUE_NUMBER, NULL, bad[i]);
        assert_non_null(msg);
        free(msg);
    }
    assert_null(cli_check_value(CLI_VALUE_SECONDS, NULL, "0"));
    assert_null(cli_check_value(CLI_VALUE_SECONDS, NULL, "0.25"));
    for (size_t i = 0; i < 4; i++) {
        static const char *const bad[] = {"", "inf", "1.2.3", "-1"};

        msg = cli_check_value(CLI_VALUE_SECONDS, NULL, bad[i]);
        assert_non_null(msg);
        free(msg);
    }
}

/* Rates and sizes in tc's units, checked by the parser and read back in
 * bits per second and bytes; DSCP values 0..63 or "keep"; priorities
 * 0..7 or "default". */
static void
test_units(void **state)
{
    struct cli_args args;
    uint64_t n;
    char *msg;

    assert_int_equal(parse(&args, "network", "create", "blue", "--cidr", "x",
                           "--rate", "100mbit", "--burst", "64kb", "--dscp",
                           "46", NULL),
                     CLI_PARSE_RUN);
    assert_true(cli_args_get_units(&args, "rate", &n));
    assert_int_equal(n, 100000000);
    assert_true(cli_args_get_units(&args, "burst", &n));
    assert_int_equal(n, 65536);
    assert_false(cli_args_get_units(&args, "mtu", &n));
    assert_string_equal(cli_args_get(&args, "dscp"), "46");
    cli_args_clear(&args);

    assert_int_equal(parse(&args, "network", "create", "blue", "--cidr", "x",
                           "--rate", "1.5Gbit", "--rate", "1gbit", NULL),
                     CLI_PARSE_ERROR);
    cli_args_clear(&args);

    assert_null(cli_check_value(CLI_VALUE_RATE, NULL, "1gbit"));
    assert_null(cli_check_value(CLI_VALUE_RATE, NULL, "8"));
    assert_null(cli_check_value(CLI_VALUE_SIZE, NULL, "1500"));
    assert_null(cli_check_value(CLI_VALUE_SIZE, NULL, "1mb"));
    msg = cli_check_value(CLI_VALUE_RATE, NULL, "0");
    assert_string_equal(msg, "must be greater than zero");
    free(msg);
    msg = cli_check_value(CLI_VALUE_RATE, NULL, "-1mbit");
    assert_string_equal(msg, "must not be negative");
    free(msg);
    msg = cli_check_value(CLI_VALUE_SIZE, NULL, "64kbit");
    assert_non_null(strstr(msg, "unknown unit \"kbit\""));
    free(msg);

    /* A VM's memory and disk: whole MiB or GiB, with a unit. */
    assert_null(cli_check_value(CLI_VALUE_MIB, NULL, "256M"));
    assert_null(cli_check_value(CLI_VALUE_MIB, NULL, "1G"));
    assert_null(cli_check_value(CLI_VALUE_MIB, NULL, "1.5g"));
    assert_null(cli_check_value(CLI_VALUE_GIB, NULL, "2G"));
    assert_null(cli_check_value(CLI_VALUE_GIB, NULL, "1t"));
    msg = cli_check_value(CLI_VALUE_MIB, NULL, "256");
    assert_string_equal(msg, "needs a unit, e.g. 256M or 1G");
    free(msg);
    msg = cli_check_value(CLI_VALUE_MIB, NULL, "1000k");
    assert_non_null(strstr(msg, "must be a whole number of MiB"));
    free(msg);
    msg = cli_check_value(CLI_VALUE_MIB, NULL, "0M");
    assert_string_equal(msg, "must be greater than zero");
    free(msg);
    msg = cli_check_value(CLI_VALUE_MIB, NULL, "4096T");
    assert_non_null(strstr(msg, "up to 2147483647M"));
    free(msg);
    msg = cli_check_value(CLI_VALUE_GIB, NULL, "1536M");
    assert_non_null(strstr(msg, "must be a whole number of GiB"));
    free(msg);
    msg = cli_check_value(CLI_VALUE_GIB, NULL, "");
    assert_string_equal(msg, "needs a unit, e.g. 2G");
    free(msg);

    /* Overcommit ratios. */
    assert_null(cli_check_value(CLI_VALUE_RATIO, NULL, "4"));
    assert_null(cli_check_value(CLI_VALUE_RATIO, NULL, "1.5"));
    assert_null(cli_check_value(CLI_VALUE_RATIO, NULL, "0.25"));
    for (const char *const *bad =
             (const char *const[]){"0", "0.0", "-1", "1e3", "inf", "", "1.5.2",
                                   "1001", NULL};
         *bad; bad++) {
        msg = cli_check_value(CLI_VALUE_RATIO, NULL, *bad);
        if (!msg || !strstr(msg, "must be a ratio above 0")) {
            fail_msg("ratio \"%s\": %s", *bad, msg ? msg : "accepted");
        }
        free(msg);
    }

    assert_null(cli_check_value(CLI_VALUE_DSCP, NULL, "0"));
    assert_null(cli_check_value(CLI_VALUE_DSCP, NULL, "63"));
    assert_null(cli_check_value(CLI_VALUE_DSCP, NULL, "keep"));
    for (size_t i = 0; i < 5; i++) {
        static const char *const bad[] = {"", "64", "-1", "ef", "100"};

        msg = cli_check_value(CLI_VALUE_DSCP, NULL, bad[i]);
        assert_string_equal(msg, "must be a DSCP value 0 to 63, or \"keep\"");
        free(msg);
    }

    assert_null(cli_check_value(CLI_VALUE_PRIORITY, NULL, "0"));
    assert_null(cli_check_value(CLI_VALUE_PRIORITY, NULL, "7"));
    assert_null(cli_check_value(CLI_VALUE_PRIORITY, NULL, "default"));
    for (size_t i = 0; i < 6; i++) {
        static const char *const bad[] = {"", "8", "-1", "07", "high", "4 "};

        msg = cli_check_value(CLI_VALUE_PRIORITY, NULL, bad[i]);
        assert_string_equal(msg, "must be a priority 0 to 7 (0 is the "
                                 "highest), or \"default\"");
        free(msg);
    }
    assert_int_equal(parse(&args, "network", "create", "blue", "--cidr", "x",
                           "--priority", "0", NULL),
                     CLI_PARSE_RUN);
    assert_string_equal(cli_args_get(&args, "priority"), "0");
    cli_args_clear(&args);
    assert_usage_error("network create: --priority \"9\": must be a priority "
                       "0 to 7 (0 is the highest), or \"default\"",
                       "Try 'prog network create --help'", "network", "create",
                       "blue", "--cidr", "x", "--priority", "9");

    assert_usage_error(
        "network create: --rate \"fast\": must start with a "
        "number; expected a number of bits per second and a "
        "unit: bit, kbit, mbit, gbit, tbit (powers of 1000), "
        "kibit, mibit, gibit, tibit (powers of 1024), or bps, "
        "kbps, mbps, gbps, tbps, kibps, mibps, gibps, tibps for "
        "BYTES per second, as in tc; e.g. \"100mbit\"",
        "Try 'prog network create --help'", "network", "create", "blue",
        "--cidr", "x", "--rate", "fast");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good),
        cmocka_unit_test(test_help),
        cmocka_unit_test(test_bad_words),
        cmocka_unit_test(test_bad_options),
        cmocka_unit_test(test_labels),
        cmocka_unit_test(test_numbers),
        cmocka_unit_test(test_units),
        cmocka_unit_test(test_two_word_verbs),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
