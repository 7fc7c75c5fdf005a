#include "cli/parse.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "utils/units.h"
#include "utils/util.h"

/* Help text is wrapped to fit a standard terminal. */
#define HELP_WIDTH 79

/* Looks up the command 'resource' 'verb' ('verb' NULL for commands without
 * verbs) in 'program'.  Returns NULL if there is none. */
static const struct cli_command *
find_command(const struct cli_program *program, const char *resource,
             const char *verb)
{
    for (const struct cli_command *c = program->commands; c->resource; c++) {
        if (strcmp(c->resource, resource)) {
            continue;
        }
        if (verb == NULL ? c->verb == NULL
                         : c->verb != NULL && !strcmp(c->verb, verb)) {
            return c;
        }
    }
    return NULL;
}

static const struct cli_resource *
find_resource(const struct cli_program *program, const char *name)
{
    for (const struct cli_resource *r = program->resources; r->name; r++) {
        if (!strcmp(r->name, name)) {
            return r;
        }
    }
    return NULL;
}

static const struct cli_option *
find_in(const struct cli_option *options, const char *name, bool is_short)
{
    for (const struct cli_option *o = options; o && o->name; o++) {
        if (is_short ? o->short_name == name[0] && name[1] == '\0'
                     : !strcmp(o->name, name)) {
            return o;
        }
    }
    return NULL;
}

const struct cli_option *
cli_find_option(const struct cli_program *program,
                const struct cli_command *command, const char *name,
                bool is_short)
{
    const struct cli_option *o = NULL;

    if (command) {
        o = find_in(command->options, name, is_short);
    }
    return o ? o : find_in(program->globals, name, is_short);
}

static bool
is_choice(const char *const *choices, const char *text)
{
    for (size_t i = 0; choices && choices[i]; i++) {
        if (!strcmp(choices[i], text)) {
            return true;
        }
    }
    return false;
}

/* Returns the malloc'd string "a, b, c" of 'choices'. */
static char *
join_choices(const char *const *choices)
{
    size_t len = 1;
    char *s;

    for (size_t i = 0; choices && choices[i]; i++) {
        len += strlen(choices[i]) + 2;
    }
    s = xzalloc(len);
    for (size_t i = 0; choices && choices[i]; i++) {
        if (i) {
            strcat(s, ", ");
        }
        strcat(s, choices[i]);
    }
    return s;
}

/* Whether values of 'kind' are comma-separated lists. */
static bool
is_list(enum cli_value kind)
{
    return kind == CLI_VALUE_LABEL || kind == CLI_VALUE_KEY
           || kind == CLI_VALUE_SELECTOR;
}

static char *check_item(enum cli_value, const char *const *choices,
                        const char *text);

char *
cli_check_value(enum cli_value kind, const char *const *choices,
                const char *text)
{
    const char *p = text;

    if (!is_list(kind) || !strchr(text, ',')) {
        return check_item(kind, choices, text);
    }
    /* "a=1,b=2": each item on its own, named in the message. */
    for (;;) {
        size_t len = strcspn(p, ",");
        char *item = xasprintf("%.*s", (int) len, p);
        char *problem = len ? check_item(kind, choices, item) : NULL;

        if (!len) {
            problem = xstrdup("an empty item: items are separated by one "
                              "\",\", with none at either end");
        } else if (problem) {
            char *more = xasprintf("item \"%s\": %s", item, problem);

            free(problem);
            problem = more;
        }
        free(item);
        if (problem || !p[len]) {
            return problem;
        }
        p += len + 1;
    }
}

/* cli_check_value() for one item of a list, or a value of another kind. */
static char *
check_item(enum cli_value kind, const char *const *choices, const char *text)
{
    char *end, *list, *msg;

    switch (kind) {
    case CLI_VALUE_NONE:
    case CLI_VALUE_STRING:
        return NULL;

    case CLI_VALUE_NUMBER:
        if (text[0] == '\0' || strspn(text, "0123456789") != strlen(text)) {
            return xstrdup("must be a whole number (0, 1, 2, ...)");
        }
        errno = 0;
        (void) strtoll(text, &end, 10);
        if (errno == ERANGE) {
            return xstrdup("is too large");
        }
        return NULL;

    case CLI_VALUE_SECONDS: {
        double d;

        /* strtod() also takes "inf", "nan" and hexadecimal, none of which
         * anyone means by a number of seconds. */
        if (text[0] == '\0' || strspn(text, "0123456789.") != strlen(text)) {
            return xstrdup("must be a number of seconds, e.g. 10 or 2.5");
        }
        d = strtod(text, &end);
        if (*end != '\0' || !isfinite(d)) {
            return xstrdup("must be a number of seconds, e.g. 10 or 2.5");
        }
        return NULL;
    }

    case CLI_VALUE_LABEL: {
        const char *eq = strchr(text, '=');

        if (eq == NULL) {
            return xstrdup("must be KEY=VALUE");
        }
        if (eq == text) {
            return xstrdup("the key before \"=\" must not be empty");
        }
        return NULL;
    }

    case CLI_VALUE_SELECTOR:
        if (text[0] == '\0') {
            return xstrdup("must be KEY=VALUE or KEY");
        }
        if (text[0] == '=') {
            return xstrdup("the key before \"=\" must not be empty");
        }
        return NULL;

    case CLI_VALUE_KEY:
        if (text[0] == '\0') {
            return xstrdup("must not be empty");
        }
        if (strchr(text, '=')) {
            return xstrdup("must be a label key alone, without \"=\"");
        }
        return NULL;

    case CLI_VALUE_RATE:
    case CLI_VALUE_SIZE: {
        uint64_t n;
        char *prefix;

        if (kind == CLI_VALUE_RATE) {
            units_parse_rate(text, &n, &msg);
        } else {
            units_parse_size(text, &n, &msg);
        }
        if (msg == NULL) {
            return NULL;
        }
        /* The caller names the option and its value already: keep only
         * what is wrong with it. */
        prefix = xasprintf(
            "%s \"%s\": ", kind == CLI_VALUE_RATE ? "rate" : "size", text);
        if (!strncmp(msg, prefix, strlen(prefix))) {
            memmove(msg, msg + strlen(prefix),
                    strlen(msg) - strlen(prefix) + 1);
        }
        free(prefix);
        return msg;
    }

    case CLI_VALUE_MIB:
    case CLI_VALUE_GIB: {
        uint64_t unit = kind == CLI_VALUE_MIB ? 1ULL << 20 : 1ULL << 30;
        const char *example = kind == CLI_VALUE_MIB ? "256M or 1G" : "2G";
        size_t len = strlen(text);
        uint64_t n;

        if (!len || (text[len - 1] >= '0' && text[len - 1] <= '9')) {
            return xasprintf("needs a unit, e.g. %s", example);
        }
        msg = check_item(CLI_VALUE_SIZE, NULL, text);
        if (!msg) {
            units_parse_size(text, &n, &msg);
            free(msg);
            msg = NULL;
            if (n % unit || n / unit > INT32_MAX) {
                msg =
                    xasprintf("must be a whole number of %s up to %d%s, "
                              "e.g. %s",
                              kind == CLI_VALUE_MIB ? "MiB" : "GiB", INT32_MAX,
                              kind == CLI_VALUE_MIB ? "M" : "G", example);
            }
        }
        return msg;
    }

    case CLI_VALUE_RATIO: {
        double d;

        if (text[0] == '\0' || strspn(text, "0123456789.") != strlen(text)
            || (d = strtod(text, &end), *end) || !(d > 0) || d > 1000) {
            return xstrdup("must be a ratio above 0 and at most 1000, e.g. "
                           "4 or 1.5");
        }
        return NULL;
    }

    case CLI_VALUE_DSCP:
        if (!strcmp(text, "keep")
            || (text[0] != '\0' && strlen(text) <= 2
                && strspn(text, "0123456789") == strlen(text)
                && atoi(text) <= 63)) {
            return NULL;
        }
        return xstrdup("must be a DSCP value 0 to 63, or \"keep\"");

    case CLI_VALUE_PRIORITY:
        if (!strcmp(text, "default")
            || (text[0] >= '0' && text[0] <= '7' && text[1] == '\0')) {
            return NULL;
        }
        return xstrdup("must be a priority 0 to 7 (0 is the highest), or "
                       "\"default\"");

    case CLI_VALUE_CHOICE:
        if (is_choice(choices, text)) {
            return NULL;
        }
        list = join_choices(choices);
        msg = xasprintf("must be one of: %s", list);
        free(list);
        return msg;
    }
    return NULL;
}

/* Returns the malloc'd name of the help that fits the level 'args' reached,
 * e.g. "fabricctl port create --help". */
static char *
help_command_line(const struct cli_program *program,
                  const struct cli_args *args)
{
    if (args->command && args->command->verb) {
        return xasprintf("%s %s %s --help", program->name,
                         args->command->resource, args->command->verb);
    } else if (args->resource) {
        return xasprintf("%s %s --help", program->name, args->resource->name);
    }
    return xasprintf("%s --help", program->name);
}

/* Returns the malloc'd words of the command reached so far followed by
 * ": ", e.g. "port create: ", or "" before the first word. */
static char *
context_prefix(const struct cli_args *args)
{
    if (args->command && args->command->verb) {
        return xasprintf("%s %s: ", args->command->resource,
                         args->command->verb);
    } else if (args->resource) {
        return xasprintf("%s: ", args->resource->name);
    }
    return xstrdup("");
}

/* Records a usage error with a printf-style message after the context
 * prefix, and the help to try.  Returns CLI_PARSE_ERROR. */
static enum cli_parse_result usage_error(const struct cli_program *,
                                         struct cli_args *, const char *format,
                                         ...)
    __attribute__((format(printf, 3, 4)));

static enum cli_parse_result
usage_error(const struct cli_program *program, struct cli_args *args,
            const char *format, ...)
{
    char *prefix = context_prefix(args);
    char *help = help_command_line(program, args);
    char *msg;
    va_list ap;

    va_start(ap, format);
    if (vasprintf(&msg, format, ap) < 0) {
        abort();
    }
    va_end(ap);

    args->error = xasprintf("%s%s", prefix, msg);
    args->hint = xasprintf("Try '%s'", help);
    free(prefix);
    free(help);
    free(msg);
    return CLI_PARSE_ERROR;
}

static void
add_value(struct cli_args *args, const struct cli_option *option,
          const char *value)
{
    if (args->n_values >= args->allocated) {
        args->allocated = args->allocated ? 2 * args->allocated : 8;
        args->values =
            xrealloc(args->values, args->allocated * sizeof *args->values);
    }
    args->values[args->n_values].option = option;
    args->values[args->n_values].value = value;
    args->n_values++;
}

static bool
option_given(const struct cli_args *args, const struct cli_option *option)
{
    for (size_t i = 0; i < args->n_values; i++) {
        if (args->values[i].option == option) {
            return true;
        }
    }
    return false;
}

/* Returns the malloc'd way 'option' is written in messages: "--mtu". */
static char *
option_text(const struct cli_option *option)
{
    return xasprintf("--%s", option->name);
}

/* Parses the option in 'argv[*i]', taking its value from the next word if
 * it needs one and was not written as "--name=value" or "-oVALUE". */
static enum cli_parse_result
parse_option(const struct cli_program *program, int argc, char *argv[], int *i,
             struct cli_args *args)
{
    const char *arg = argv[*i];
    const struct cli_option *option;
    const char *value = NULL;
    char *name, *problem, *text;
    bool is_short = arg[1] != '-';

    if (is_short) {
        name = xasprintf("%c", arg[1]);
        if (arg[2] != '\0') {
            value = arg + 2;
        }
    } else {
        const char *eq = strchr(arg, '=');

        name = eq ? xasprintf("%.*s", (int) (eq - arg - 2), arg + 2)
                  : xstrdup(arg + 2);
        value = eq ? eq + 1 : NULL;
    }
    option = cli_find_option(program, args->command, name, is_short);
    free(name);
    if (option == NULL) {
        const char *eq = is_short ? NULL : strchr(arg, '=');

        return usage_error(program, args, "unknown option \"%.*s\"",
                           eq ? (int) (eq - arg) : (int) strlen(arg), arg);
    }

    text = option_text(option);
    if (option->value == CLI_VALUE_NONE) {
        if (value) {
            enum cli_parse_result r =
                usage_error(program, args, "option %s takes no value", text);

            free(text);
            return r;
        }
        value = "";
    } else if (value == NULL) {
        if (*i + 1 >= argc) {
            enum cli_parse_result r =
                usage_error(program, args, "option %s needs a value (%s)",
                            text, option->metavar ? option->metavar : "VALUE");

            free(text);
            return r;
        }
        value = argv[++*i];
    }

    problem = cli_check_value(option->value, option->choices, value);
    if (problem) {
        enum cli_parse_result r =
            usage_error(program, args, "%s \"%s\": %s", text, value, problem);

        free(problem);
        free(text);
        return r;
    }

    /* A global option given twice takes the last value, so that a shell
     * alias with "-o json" can be overridden; a command's option given
     * twice is more likely a mistake than a wish. */
    if (!option->repeatable && option_given(args, option)
        && find_in(program->globals, option->name, false) != option) {
        enum cli_parse_result r =
            usage_error(program, args, "option %s given more than once", text);

        free(text);
        return r;
    }
    free(text);
    if (is_list(option->value) && strchr(value, ',')) {
        /* Checked above: every item is fine. */
        for (const char *p = value;; p++) {
            size_t len = strcspn(p, ",");
            char *item = xasprintf("%.*s", (int) len, p);

            args->items = xrealloc(args->items,
                                   (args->n_items + 1) * sizeof *args->items);
            args->items[args->n_items++] = item;
            add_value(args, option, item);
            p += len;
            if (!*p) {
                break;
            }
        }
    } else {
        add_value(args, option, value);
    }
    return CLI_PARSE_RUN;
}

/* Returns the malloc'd list of the verbs of 'resource': "create, list". */
static char *
verb_list(const struct cli_program *program,
          const struct cli_resource *resource)
{
    const char *verbs[16];
    size_t n = 0;

    for (const struct cli_command *c = program->commands; c->resource; c++) {
        if (!strcmp(c->resource, resource->name) && c->verb
            && n < ARRAY_SIZE(verbs) - 1) {
            verbs[n++] = c->verb;
        }
    }
    verbs[n] = NULL;
    return join_choices(verbs);
}

/* Whether some verb of 'resource' is two words starting with 'word'. */
static bool
is_verb_prefix(const struct cli_program *program, const char *resource,
               const char *word)
{
    size_t len = strlen(word);

    for (const struct cli_command *c = program->commands; c->resource; c++) {
        if (!strcmp(c->resource, resource) && c->verb
            && !strncmp(c->verb, word, len) && c->verb[len] == ' ') {
            return true;
        }
    }
    return false;
}

/* Handles the positional word 'arg': the resource, the verb (or either
 * word of a two-word verb) or an argument of the command, depending on how
 * far parsing got. */
static enum cli_parse_result
parse_word(const struct cli_program *program, const char *arg,
           struct cli_args *args)
{
    const struct cli_command *c = args->command;

    if (args->resource == NULL) {
        args->resource = find_resource(program, arg);
        if (args->resource == NULL) {
            return usage_error(program, args, "unknown command \"%s\"", arg);
        }
        args->command = find_command(program, arg, NULL);
    } else if (c == NULL) {
        char *verb = args->verb_prefix
                         ? xasprintf("%s %s", args->verb_prefix, arg)
                         : xstrdup(arg);

        args->command = find_command(program, args->resource->name, verb);
        if (args->command == NULL && args->verb_prefix == NULL
            && is_verb_prefix(program, args->resource->name, arg)) {
            args->verb_prefix = arg;
        } else if (args->command == NULL) {
            char *verbs = verb_list(program, args->resource);
            enum cli_parse_result r = usage_error(
                program, args, "unknown verb \"%s\" (verbs: %s)", verb, verbs);

            free(verbs);
            free(verb);
            return r;
        }
        free(verb);
    } else if (args->n_pos >= c->n_args || args->n_pos >= CLI_MAX_ARGS) {
        return usage_error(program, args, "unexpected argument \"%s\"", arg);
    } else if (c->arg_choices && !is_choice(c->arg_choices, arg)) {
        char *list = join_choices(c->arg_choices);
        enum cli_parse_result r = usage_error(
            program, args, "%s \"%s\" is not one of: %s", c->args, arg, list);

        free(list);
        return r;
    } else {
        args->pos[args->n_pos++] = arg;
    }
    return CLI_PARSE_RUN;
}

enum cli_parse_result
cli_parse(const struct cli_program *program, int argc, char *argv[],
          struct cli_args *args)
{
    bool help = false;
    bool options_done = false;

    memset(args, 0, sizeof *args);
    for (int i = 0; i < argc; i++) {
        const char *arg = argv[i];
        enum cli_parse_result r;

        if (options_done || arg[0] != '-' || arg[1] == '\0') {
            r = parse_word(program, arg, args);
        } else if (!strcmp(arg, "--")) {
            options_done = true;
            r = CLI_PARSE_RUN;
        } else if (!strcmp(arg, "-h") || !strcmp(arg, "--help")) {
            help = true;
            r = CLI_PARSE_RUN;
        } else {
            r = parse_option(program, argc, argv, &i, args);
        }
        if (r != CLI_PARSE_RUN) {
            return r;
        }
    }
    if (help) {
        return CLI_PARSE_HELP;
    }

    if (args->resource == NULL) {
        return usage_error(program, args, "missing command");
    }
    if (args->command == NULL) {
        char *verbs = verb_list(program, args->resource);
        enum cli_parse_result r =
            args->verb_prefix
                ? usage_error(program, args,
                              "missing verb after \"%s\" (verbs: %s)",
                              args->verb_prefix, verbs)
                : usage_error(program, args, "missing verb (one of: %s)",
                              verbs);

        free(verbs);
        return r;
    }
    if (args->n_pos < args->command->n_args) {
        return usage_error(program, args, "missing %s", args->command->args);
    }
    for (const struct cli_option *o = args->command->options; o && o->name;
         o++) {
        if (o->required && !option_given(args, o)) {
            return usage_error(program, args, "missing --%s %s", o->name,
                               o->metavar);
        }
    }
    return CLI_PARSE_RUN;
}

void
cli_args_clear(struct cli_args *args)
{
    if (args) {
        for (size_t i = 0; i < args->n_items; i++) {
            free(args->items[i]);
        }
        free(args->items);
        free(args->values);
        free(args->error);
        free(args->hint);
        memset(args, 0, sizeof *args);
    }
}

const char *
cli_args_next(const struct cli_args *args, const char *name, size_t *pos)
{
    for (; *pos < args->n_values; (*pos)++) {
        const struct cli_arg_value *v = &args->values[*pos];

        if (!strcmp(v->option->name, name)) {
            (*pos)++;
            return v->value;
        }
    }
    return NULL;
}

const char *
cli_args_get(const struct cli_args *args, const char *name)
{
    const char *last = NULL, *value;
    size_t pos = 0;

    while ((value = cli_args_next(args, name, &pos)) != NULL) {
        last = value;
    }
    return last;
}

bool
cli_args_get_number(const struct cli_args *args, const char *name, int64_t *n)
{
    const char *value = cli_args_get(args, name);

    if (value == NULL) {
        return false;
    }
    *n = strtoll(value, NULL, 10);
    return true;
}

bool
cli_args_get_units(const struct cli_args *args, const char *name, uint64_t *n)
{
    const struct cli_arg_value *found = NULL;
    char *msg = NULL;

    for (size_t i = 0; i < args->n_values; i++) {
        if (!strcmp(args->values[i].option->name, name)) {
            found = &args->values[i];
        }
    }
    if (found == NULL) {
        return false;
    }
    if (found->option->value == CLI_VALUE_RATE) {
        units_parse_rate(found->value, n, &msg);
    } else {
        units_parse_size(found->value, n, &msg);
    }
    /* The parser checked the value already. */
    free(msg);
    return true;
}

/* Help output. */

/* Prints 'text' wrapped at HELP_WIDTH, assuming the cursor is at column
 * 'col' and indenting continuation lines by 'indent'.  A '\n' in 'text'
 * forces a new line. */
static void
print_wrapped(FILE *f, const char *text, size_t col, size_t indent)
{
    const char *p = text;

    while (*p) {
        size_t word = strcspn(p, " \n");

        if (col > indent && col + 1 + word > HELP_WIDTH) {
            fprintf(f, "\n%*s", (int) indent, "");
            col = indent;
        } else if (col > indent) {
            fputc(' ', f);
            col++;
        }
        fwrite(p, 1, word, f);
        col += word;
        p += word;
        if (*p == '\n') {
            fprintf(f, "\n%*s", (int) indent, "");
            col = indent;
            p++;
        }
        p += strspn(p, " ");
    }
    fputc('\n', f);
}

/* Returns the malloc'd left column of 'o' in a list of options:
 * "-o, --output FORMAT". */
static char *
option_usage(const struct cli_option *o)
{
    const char *sep = o->value == CLI_VALUE_NONE ? "" : " ";
    const char *meta = o->value == CLI_VALUE_NONE ? "" : o->metavar;

    if (o->short_name) {
        return xasprintf("-%c, --%s%s%s", o->short_name, o->name, sep, meta);
    }
    return xasprintf("    --%s%s%s", o->name, sep, meta);
}

static size_t
options_width(const struct cli_option *options, size_t width)
{
    for (const struct cli_option *o = options; o && o->name; o++) {
        char *u = option_usage(o);

        if (strlen(u) > width) {
            width = strlen(u);
        }
        free(u);
    }
    return width;
}

static void
print_options(FILE *f, const struct cli_option *options, size_t width)
{
    for (const struct cli_option *o = options; o && o->name; o++) {
        char *u = option_usage(o);
        char *help =
            xasprintf("%s%s%s", o->help, o->required ? " (required)" : "",
                      o->repeatable ? " (repeatable)" : "");

        fprintf(f, "  %-*s  ", (int) width, u);
        print_wrapped(f, help, width + 4, width + 4);
        free(help);
        free(u);
    }
}

static void
print_help_option(FILE *f, size_t width, const char *what)
{
    fprintf(f, "  %-*s  %s\n", (int) width, "-h, --help", what);
}

static void
print_program_help(FILE *f, const struct cli_program *p)
{
    size_t width = 0;

    fprintf(f, "Usage: %s [OPTIONS] COMMAND [VERB] [ARGUMENTS] [OPTIONS]\n\n",
            p->name);
    print_wrapped(f, p->summary, 0, 0);
    fprintf(f, "\nCommands:\n");
    for (const struct cli_resource *r = p->resources; r->name; r++) {
        if (strlen(r->name) > width) {
            width = strlen(r->name);
        }
    }
    for (const struct cli_resource *r = p->resources; r->name; r++) {
        fprintf(f, "  %-*s  ", (int) width, r->name);
        print_wrapped(f, r->summary, width + 4, width + 4);
    }

    fprintf(f, "\nGlobal options:\n");
    width = options_width(p->globals, strlen("-h, --help"));
    print_options(f, p->globals, width);
    print_help_option(f, width,
                      "Show help; every command and verb has its own");
    if (p->footer) {
        fputc('\n', f);
        print_wrapped(f, p->footer, 0, 0);
    }
}

static void
print_resource_help(FILE *f, const struct cli_program *p,
                    const struct cli_resource *r)
{
    size_t width = 0;

    fprintf(f, "Usage: %s %s VERB [ARGUMENTS] [OPTIONS]\n\n", p->name,
            r->name);
    print_wrapped(f, r->summary, 0, 0);
    fprintf(f, "\nVerbs:\n");
    for (const struct cli_command *c = p->commands; c->resource; c++) {
        if (!strcmp(c->resource, r->name) && strlen(c->verb) > width) {
            width = strlen(c->verb);
        }
    }
    for (const struct cli_command *c = p->commands; c->resource; c++) {
        if (!strcmp(c->resource, r->name)) {
            fprintf(f, "  %-*s  ", (int) width, c->verb);
            print_wrapped(f, c->summary, width + 4, width + 4);
        }
    }
    fprintf(f,
            "\nRun '%s %s VERB --help' for a verb's arguments and options,\n"
            "'%s --help' for the global options.\n",
            p->name, r->name, p->name);
}

/* Prints the synopsis of 'c', wrapped so that every line fits. */
static void
print_synopsis(FILE *f, const struct cli_program *p,
               const struct cli_command *c)
{
    char *head =
        c->verb ? xasprintf("Usage: %s %s %s", p->name, c->resource, c->verb)
                : xasprintf("Usage: %s %s", p->name, c->resource);
    size_t indent = strlen(head) + 1;
    size_t col = strlen(head);

    fputs(head, f);
    free(head);
    if (c->args) {
        fprintf(f, " %s", c->args);
        col += 1 + strlen(c->args);
    }
    for (const struct cli_option *o = c->options; o && o->name; o++) {
        char *item;

        if (o->value == CLI_VALUE_NONE) {
            item = xasprintf("[--%s]", o->name);
        } else {
            item = xasprintf("%s--%s %s%s%s", o->required ? "" : "[", o->name,
                             o->metavar, o->required ? "" : "]",
                             o->repeatable ? "..." : "");
        }
        if (col + 1 + strlen(item) > HELP_WIDTH) {
            fprintf(f, "\n%*s", (int) indent - 1, "");
            col = indent - 1;
        }
        fprintf(f, " %s", item);
        col += 1 + strlen(item);
        free(item);
    }
    fputc('\n', f);
}

static void
print_command_help(FILE *f, const struct cli_program *p,
                   const struct cli_command *c)
{
    size_t width = options_width(c->options, strlen("-h, --help"));

    char *about = xasprintf("%s.%s%s", c->summary, c->description ? " " : "",
                            c->description ? c->description : "");

    print_synopsis(f, p, c);
    fputc('\n', f);
    print_wrapped(f, about, 0, 0);
    free(about);
    fprintf(f, "\nOptions:\n");
    print_options(f, c->options, width);
    print_help_option(f, width, "Show this help");
    fprintf(f, "\nThe global options of '%s --help' may be given too.\n",
            p->name);
}

void
cli_print_help(FILE *f, const struct cli_program *program,
               const struct cli_args *args)
{
    if (args->command) {
        print_command_help(f, program, args->command);
    } else if (args->resource) {
        print_resource_help(f, program, args->resource);
    } else {
        print_program_help(f, program);
    }
}
