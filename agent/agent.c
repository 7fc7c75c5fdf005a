/* fabric-agent: the per-host daemon that makes the datapath hold what a
 * desired-state document says.  This file is the program around the
 * model (state.c) and the reconciliation (reconcile.c): options, loading
 * the document, and the signal-driven main loop. */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdarg.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "agent/reconcile.h"
#include "agent/show.h"
#include "agent/state.h"
#include "datapath/dp.h"
#include "datapath/netlink.h"
#include "utils/log.h"
#include "utils/util.h"

#define AGENT_PROGRAM "fabric-agent"
#define AGENT_POLL_MS 1000 /* How often pending devices are retried. */

enum agent_mode {
    AGENT_RUN,   /* Reconcile, then follow changes. */
    AGENT_ONCE,  /* Reconcile once and exit. */
    AGENT_CHECK, /* Validate the document only. */
    AGENT_SHOW,  /* Print the datapath. */
    AGENT_PURGE, /* Remove the datapath instance. */
};

/* The command line. */
struct agent_options {
    enum agent_mode mode;    /* What to do. */
    const char *mode_option; /* The option that chose 'mode', or NULL. */
    const char *state_path;  /* --state. */
    const char *instance;    /* --instance. */
    const char *pidfile;     /* --pidfile, or NULL. */
    bool json;               /* -o json. */
    bool output_set;         /* Whether -o was given. */
};

static void
usage(void)
{
    printf("\
Usage: %s [OPTIONS]\n\
Makes this host's fabric datapath hold what a desired-state document says,\n\
by difference, and keeps it so.\n\
\n\
Modes (default: run as a daemon):\n\
      --once             reconcile once and exit (status 0 on success)\n\
      --check            validate the document only; print \"FILE: ok\" or\n\
                         the errors, touching nothing\n\
      --show             print the datapath's tables and counters and exit\n\
      --purge            remove the datapath instance and exit; forwarding\n\
                         stops\n\
\n\
Options:\n\
  -s, --state FILE       the desired-state document (JSON); required to run,\n\
                         with --once and with --check\n\
  -i, --instance NAME    datapath instance, pinned under /sys/fs/bpf/NAME\n\
                         (default: fabric)\n\
  -o, --output FORMAT    --show output: text (default) or json\n\
  -l, --log-level LEVEL  error, warn, info (default) or debug\n\
      --pidfile FILE     write the daemon's process id to FILE\n\
  -h, --help             print this help and exit\n\
  -V, --version          print the version and exit\n\
\n\
Signals: SIGHUP re-reads the document (an invalid one is refused and the\n\
previous state stays in force); SIGTERM and SIGINT exit and leave the\n\
datapath forwarding.\n\
\n\
Exit status: 0 success, 1 failure or invalid document, 2 bad usage.\n\
See fabric-agent(8).\n",
           AGENT_PROGRAM);
}

/* Reports a command-line error and exits with status 2. */
static void __attribute__((noreturn, format(printf, 1, 2)))
usage_error(const char *format, ...)
{
    va_list args;

    fprintf(stderr, "%s: ", AGENT_PROGRAM);
    va_start(args, format);
    vfprintf(stderr, format, args);
    va_end(args);
    fprintf(stderr, " (try '%s --help')\n", AGENT_PROGRAM);
    exit(2);
}

static void
set_mode(struct agent_options *o, enum agent_mode mode, const char *option)
{
    if (o->mode_option && strcmp(o->mode_option, option)) {
        usage_error("%s and %s cannot be used together", o->mode_option,
                    option);
    }
    o->mode = mode;
    o->mode_option = option;
}

static void
parse_options(int argc, char *argv[], struct agent_options *o)
{
    enum {
        OPT_ONCE = 256,
        OPT_CHECK,
        OPT_SHOW,
        OPT_PURGE,
        OPT_PIDFILE,
    };
    static const struct option long_options[] = {
        {"state", required_argument, NULL, 's'},
        {"instance", required_argument, NULL, 'i'},
        {"output", required_argument, NULL, 'o'},
        {"log-level", required_argument, NULL, 'l'},
        {"once", no_argument, NULL, OPT_ONCE},
        {"check", no_argument, NULL, OPT_CHECK},
        {"show", no_argument, NULL, OPT_SHOW},
        {"purge", no_argument, NULL, OPT_PURGE},
        {"pidfile", required_argument, NULL, OPT_PIDFILE},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    enum log_level level;
    int c;

    memset(o, 0, sizeof *o);
    o->instance = "fabric";
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":s:i:o:l:hV", long_options, NULL))
           != -1) {
        switch (c) {
        case 's':
            o->state_path = optarg;
            break;
        case 'i':
            if (!*optarg || strchr(optarg, '/') || optarg[0] == '.') {
                usage_error("--instance \"%s\": expected a name without "
                            "'/' that does not start with '.'",
                            optarg);
            }
            o->instance = optarg;
            break;
        case 'o':
            if (strcmp(optarg, "json") && strcmp(optarg, "text")) {
                usage_error("--output \"%s\": expected text or json", optarg);
            }
            o->json = !strcmp(optarg, "json");
            o->output_set = true;
            break;
        case 'l':
            if (log_parse_level(optarg, &level)) {
                usage_error("--log-level \"%s\": expected error, warn, info "
                            "or debug",
                            optarg);
            }
            log_set_level(level);
            break;
        case OPT_ONCE:
            set_mode(o, AGENT_ONCE, "--once");
            break;
        case OPT_CHECK:
            set_mode(o, AGENT_CHECK, "--check");
            break;
        case OPT_SHOW:
            set_mode(o, AGENT_SHOW, "--show");
            break;
        case OPT_PURGE:
            set_mode(o, AGENT_PURGE, "--purge");
            break;
        case OPT_PIDFILE:
            o->pidfile = optarg;
            break;
        case 'h':
            usage();
            exit(0);
        case 'V':
            printf("%s (fabric) %s\n", AGENT_PROGRAM, PACKAGE_VERSION);
            exit(0);
        case ':':
            usage_error("option %s requires an argument", argv[optind - 1]);
        case '?':
        default:
            if (optopt) {
                usage_error("unknown option -%c", optopt);
            }
            usage_error("unknown option %s", argv[optind - 1]);
        }
    }
    if (optind < argc) {
        usage_error("unexpected argument \"%s\"", argv[optind]);
    }
    if (o->mode == AGENT_SHOW || o->mode == AGENT_PURGE) {
        if (o->state_path) {
            usage_error("--state does not apply to %s", o->mode_option);
        }
    } else if (!o->state_path) {
        usage_error("--state FILE is required%s%s",
                    o->mode_option ? " with " : "",
                    o->mode_option ? o->mode_option : "");
    }
    if (o->output_set && o->mode != AGENT_SHOW) {
        usage_error("--output applies to --show only");
    }
    if (o->pidfile && o->mode != AGENT_RUN) {
        usage_error("--pidfile applies to the daemon only, not %s",
                    o->mode_option);
    }
}

/* Reads, parses and validates the document at 'path' into '*statep'.  On
 * failure returns an errno value and appends the reasons to 'errors'.  If
 * the underlay device exists, network MTUs are checked against it;
 * otherwise '*underlay_found' is set to false. */
static int
agent_load(const char *path, struct state **statep,
           struct state_errors *errors, bool *underlay_found)
{
    struct nl_link underlay;
    size_t len;
    char *text;
    int error;

    *statep = NULL;
    *underlay_found = false;
    error = read_file(path, &text, &len);
    if (error) {
        state_errors_add(errors, "cannot read the file: %s", strerror(error));
        return error;
    }
    error = state_parse(text, len, statep, errors);
    free(text);
    if (error) {
        return error;
    }
    if (!nl_link_get((*statep)->host.underlay, &underlay)) {
        *underlay_found = true;
        error = state_check_mtus(*statep, underlay.mtu, errors);
        if (error) {
            state_destroy(*statep);
            *statep = NULL;
        }
    }
    return error;
}

/* Loads 'path' like agent_load(), logging what is wrong. */
static struct state *
agent_load_logged(const char *path)
{
    struct state_errors errors;
    struct state *state;
    bool underlay_found;

    state_errors_init(&errors);
    agent_load(path, &state, &errors, &underlay_found);
    for (size_t i = 0; i < errors.n; i++) {
        LOG_ERR("%s: %s", path, errors.msgs[i]);
    }
    state_errors_destroy(&errors);
    return state;
}

static int
agent_check(const char *path)
{
    struct state_errors errors;
    struct state *state;
    bool underlay_found;
    int error;

    state_errors_init(&errors);
    error = agent_load(path, &state, &errors, &underlay_found);
    if (error) {
        for (size_t i = 0; i < errors.n; i++) {
            fprintf(stderr, "%s: %s\n", path, errors.msgs[i]);
        }
    } else if (underlay_found) {
        printf("%s: ok\n", path);
    } else {
        printf("%s: ok (underlay \"%s\" is not on this host: network MTUs "
               "not checked against it)\n",
               path, state->host.underlay);
    }
    state_errors_destroy(&errors);
    state_destroy(state);
    return error ? 1 : 0;
}

static int
agent_open(const char *instance, bool read_only, struct dp **dpp)
{
    struct dp_options options = {.instance = instance, .read_only = read_only};
    int error = dp_open(&options, dpp);

    if (error == ENOENT && read_only) {
        LOG_ERR("datapath instance \"%s\" does not exist (nothing pinned "
                "under /sys/fs/bpf/%s)",
                instance, instance);
    } else if (error) {
        LOG_ERR("opening datapath instance \"%s\": %s", instance,
                strerror(error));
    }
    return error;
}

static int
agent_show(const struct agent_options *o)
{
    struct dp *dp;
    int error;

    if (agent_open(o->instance, true, &dp)) {
        return 1;
    }
    error = show_datapath(dp, o->json, stdout);
    if (error) {
        LOG_ERR("showing datapath instance \"%s\": %s", o->instance,
                strerror(error));
    }
    dp_close(dp);
    return error ? 1 : 0;
}

static int
agent_purge(const struct agent_options *o)
{
    struct dp_options options = {.instance = o->instance, .read_only = true};
    struct dp *dp;
    int error;

    /* Opening for writing would create the instance if it did not exist,
     * only to remove it again. */
    error = dp_open(&options, &dp);
    if (error == ENOENT) {
        LOG_INFO("datapath instance \"%s\" does not exist: nothing to purge",
                 o->instance);
        return 0;
    }
    dp_close(dp);
    if (agent_open(o->instance, false, &dp)) {
        return 1;
    }
    error = dp_purge(dp);
    if (error) {
        LOG_ERR("purging datapath instance \"%s\": %s", o->instance,
                strerror(error));
    } else {
        LOG_INFO("purged datapath instance \"%s\"", o->instance);
    }
    dp_close(dp);
    return error ? 1 : 0;
}

static int
agent_once(const struct agent_options *o)
{
    struct state *state = agent_load_logged(o->state_path);
    struct reconciler *rc;
    struct dp *dp;
    int error;

    if (!state) {
        return 1;
    }
    if (agent_open(o->instance, false, &dp)) {
        state_destroy(state);
        return 1;
    }
    rc = reconcile_create(dp);
    error = reconcile_run(rc, state);
    reconcile_destroy(rc);
    dp_close(dp);
    state_destroy(state);
    return error ? 1 : 0;
}

/* Blocks the signals the daemon handles and returns a signalfd for them,
 * or -1. */
static int
agent_signals(void)
{
    sigset_t mask;
    int fd;

    sigemptyset(&mask);
    sigaddset(&mask, SIGHUP);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0) {
        return -1;
    }
    fd = signalfd(-1, &mask, SFD_CLOEXEC);
    return fd;
}

static int
agent_write_pidfile(const char *path)
{
    char *pid = xasprintf("%ld\n", (long) getpid());
    int error = write_file_atomic(path, pid, strlen(pid));

    if (error) {
        LOG_ERR("%s: cannot write the pidfile: %s", path, strerror(error));
    }
    free(pid);
    return error;
}

/* Waits for a signal or the next poll interval.  Returns the signal number,
 * 0 on timeout, or -1 on error. */
static int
agent_wait(int sfd)
{
    struct pollfd pfd = {.fd = sfd, .events = POLLIN};
    struct signalfd_siginfo info;
    int n = poll(&pfd, 1, AGENT_POLL_MS);

    if (n < 0) {
        return errno == EINTR ? 0 : -1;
    }
    if (n == 0) {
        return 0;
    }
    if (read(sfd, &info, sizeof info) != sizeof info) {
        return errno == EINTR || errno == EAGAIN ? 0 : -1;
    }
    return info.ssi_signo;
}

static int
agent_daemon(const struct agent_options *o)
{
    struct state *state = NULL;
    struct reconciler *rc = NULL;
    struct dp *dp = NULL;
    int status = 1;
    int sfd;

    sfd = agent_signals();
    if (sfd < 0) {
        LOG_ERR("cannot set up signal handling: %s", strerror(errno));
        return 1;
    }
    state = agent_load_logged(o->state_path);
    if (!state || agent_open(o->instance, false, &dp)) {
        goto out;
    }
    if (o->pidfile && agent_write_pidfile(o->pidfile)) {
        goto out;
    }
    LOG_INFO("started: instance \"%s\", desired state %s", o->instance,
             o->state_path);
    rc = reconcile_create(dp);
    reconcile_run(rc, state);
    for (;;) {
        int sig = agent_wait(sfd);

        if (sig < 0) {
            LOG_ERR("waiting for signals: %s", strerror(errno));
            break;
        } else if (sig == SIGHUP) {
            struct state *new;

            LOG_INFO("reloading %s", o->state_path);
            new = agent_load_logged(o->state_path);
            if (new) {
                state_destroy(state);
                state = new;
                reconcile_run(rc, state);
            } else {
                LOG_ERR("%s: refused; the previous desired state stays in "
                        "force",
                        o->state_path);
            }
        } else if (sig) {
            LOG_INFO("exiting on %s; the datapath stays in place and keeps "
                     "forwarding",
                     strsignal(sig));
            status = 0;
            break;
        } else if (reconcile_poll(rc)) {
            reconcile_run(rc, state);
        }
    }
    if (o->pidfile) {
        unlink(o->pidfile);
    }

out:
    reconcile_destroy(rc);
    dp_close(dp);
    state_destroy(state);
    close(sfd);
    return status;
}

int
main(int argc, char *argv[])
{
    struct agent_options options;

    log_set_program(AGENT_PROGRAM);
    parse_options(argc, argv, &options);
    switch (options.mode) {
    case AGENT_CHECK:
        return agent_check(options.state_path);
    case AGENT_SHOW:
        return agent_show(&options);
    case AGENT_PURGE:
        return agent_purge(&options);
    case AGENT_ONCE:
        return agent_once(&options);
    case AGENT_RUN:
    default:
        return agent_daemon(&options);
    }
}
