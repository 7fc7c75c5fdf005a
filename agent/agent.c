/* fabric-agent: the per-host daemon that makes the datapath hold what a
 * desired-state document says.  This file is the program around the
 * model (state.c), the reconciliation (reconcile.c, behind core.c) and the
 * controller client (watch.c): options and the configuration file,
 * loading the document, and the signal-driven main loop. */
#include <arpa/inet.h>
#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <getopt.h>
#include <libgen.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "agent/agent-config.h"
#include "agent/core.h"
#include "agent/dhcp.h"
#include "agent/firewall.h"
#include "agent/flowlog.h"
#include "agent/migrate.h"
#include "agent/metrics.h"
#include "agent/trace.h"
#include "agent/reconcile.h"
#include "agent/vms.h"
#include "agent/show.h"
#include "agent/state.h"
#include "agent/watch.h"
#include "datapath/dp.h"
#include "datapath/netlink.h"
#include "utils/log.h"
#include "utils/util.h"

#define AGENT_PROGRAM "fabric-agent"
#define AGENT_POLL_MS 1000 /* How often pending devices are retried. */

enum agent_mode {
    AGENT_RUN,       /* Reconcile, then follow changes. */
    AGENT_ONCE,      /* Reconcile once and exit. */
    AGENT_CHECK,     /* Validate the document only. */
    AGENT_SHOW,      /* Print the datapath. */
    AGENT_CONNTRACK, /* Print the tracked connections. */
    AGENT_PURGE,     /* Remove the datapath instance. */
};

/* The command line, and the settings it leads to. */
struct agent_options {
    enum agent_mode mode;        /* What to do. */
    const char *mode_option;     /* The option that chose 'mode', or
                                  * NULL. */
    const char *config_file;     /* -c, or NULL for the default file. */
    struct agent_config cmdline; /* Keys given on the command line. */
    struct agent_config cfg;     /* In force: the file's keys overridden
                                  * by the command line's. */
    bool json;                   /* -o json. */
    bool output_set;             /* Whether -o was given. */
};

static void
usage(void)
{
    printf("\
Usage: %s [OPTIONS]\n\
Makes this host's fabric datapath hold what a desired-state document says,\n\
by difference, and keeps it so.  The document comes from a file (--state)\n\
or from fabric-controller (--controller).\n\
\n\
Modes (default: run as a daemon):\n\
      --once             reconcile once from --state and exit (status 0 on\n\
                         success)\n\
      --check            validate the --state document only; print\n\
                         \"FILE: ok\" or the errors, touching nothing\n\
      --show             print the datapath's tables and counters and exit\n\
      --conntrack        print the connections the firewall tracks and exit\n\
      --purge            remove the datapath instance and exit; forwarding\n\
                         stops\n\
\n\
Options:\n\
  -c, --config FILE      read settings from FILE (default %s,\n\
                         if it exists); the command line overrides it\n\
  -s, --state FILE       the desired-state document (JSON), standalone\n\
  -i, --instance NAME    datapath instance, pinned under /sys/fs/bpf/NAME\n\
                         (default: fabric)\n\
      --datapath TYPE    the datapath backend: bpf (the default and, in\n\
                         this build, the only one)\n\
  -o, --output FORMAT    --show and --conntrack output: text (default) or\n\
                         json\n\
  -l, --log-level LEVEL  error, warn, info (default) or debug\n\
      --pidfile FILE     write the daemon's process id to FILE\n\
      --metrics ADDR:PORT  serve /metrics, /healthz and /readyz there\n\
                         (e.g. 127.0.0.1:9471; default: off)\n\
  -h, --help             print this help and exit\n\
  -V, --version          print the version and exit\n\
\n\
Controller mode:\n\
      --controller URL   follow this host's desired state from\n\
                         fabric-controller at URL (http:// or https://)\n\
      --token TOKEN      API token of role agent (default: $FABRIC_TOKEN)\n\
      --token-file FILE  read the API token from FILE\n\
      --cacert FILE      verify an https controller against these CAs\n\
      --host NAME        this host's name (default: the system's, up to\n\
                         its first dot)\n\
      --underlay DEV     the device VXLAN leaves by (required)\n\
      --vtep IP          this host's VTEP (default: the underlay's first\n\
                         IPv4 address)\n\
      --vcpus N          CPUs to report (default: those online)\n\
      --memory-mb N      memory to report (default: from /proc/meminfo)\n\
      --state-cache FILE  where the last desired state is kept (default\n\
                         %s/agent-state-INSTANCE.json)\n\
      --heartbeat-interval S  seconds between heartbeats (default %d)\n\
      --advertise URL    where the controller reaches --metrics for traces\n\
                         (default: http://ADDR:PORT of --metrics, unless\n\
                         ADDR is 0.0.0.0 or [::])\n\
      --probe-port PORT  UDP port on the VTEP address where this agent\n\
                         answers and sends the probes between agents (HA;\n\
                         default 4790)\n\
\n\
Firewall:\n\
      --flow-log FILE    append flow log records (JSON lines) to FILE, or\n\
                         \"none\" (default: flows.log, or\n\
                         flows-INSTANCE.log for another instance, next to\n\
                         the state cache, or in %s)\n\
      --conntrack-max N  connections tracked at once, %d..%d (default\n\
                         65536); set when the datapath is first created:\n\
                         changing it needs --purge\n\
      --conntrack-port-max N  of which one port may have, 1..%d\n\
                         (default: a quarter of --conntrack-max); beyond\n\
                         it the port's new connections are dropped\n\
\n\
VMs (the desired state's \"vms\"; see doc/vms.md):\n\
      --hypervisor TYPE  qemu (default: one QEMU per VM over QMP) or\n\
                         libvirt (libvirtd's qemu:///system)\n\
      --storage DIR      the images and VM disks every host sees (default\n\
                         %s)\n\
      --vm-run-dir DIR   the hypervisor driver's per-VM files: QMP\n\
                         sockets, pidfiles, consoles (default\n\
                         %s/INSTANCE/vms)\n\
      --accel MODE       auto (default: KVM if it works, else TCG), kvm\n\
                         or tcg\n\
\n\
Signals: SIGHUP re-reads the configuration file, the log level and the\n\
token, and, standalone, the document (an invalid one is refused and the\n\
previous state stays in force); SIGTERM and SIGINT exit and leave the\n\
datapath forwarding.\n\
\n\
Exit status: 0 success, 1 failure or invalid document, 2 bad usage or\n\
configuration.  See fabric-agent(8).\n",
           AGENT_PROGRAM, AGENT_CONFIG_FILE_DEFAULT, AGENT_CONFIG_CACHE_DIR,
           AGENT_CONFIG_HEARTBEAT_DEFAULT, AGENT_CONFIG_CACHE_DIR,
           AGENT_CONFIG_CONNTRACK_MIN, AGENT_CONFIG_CONNTRACK_MAX_MAX,
           AGENT_CONFIG_CONNTRACK_MAX_MAX, AGENT_CONFIG_STORAGE_DEFAULT,
           AGENT_CONFIG_RUN_DIR);
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

/* Reports a configuration error and exits with status 2. */
static void __attribute__((noreturn, format(printf, 1, 2)))
config_error(const char *format, ...)
{
    va_list args;

    fprintf(stderr, "%s: ", AGENT_PROGRAM);
    va_start(args, format);
    vfprintf(stderr, format, args);
    va_end(args);
    fputc('\n', stderr);
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

/* Sets 'key' from option 'value' in the command line's settings. */
static void
set_key(struct agent_options *o, enum agent_config_key key, const char *value)
{
    char *problem = agent_config_set(&o->cmdline, key, value);

    if (problem) {
        usage_error("--%s", problem);
    }
}

static void
parse_options(int argc, char *argv[], struct agent_options *o)
{
    enum {
        OPT_ONCE = 256,
        OPT_CHECK,
        OPT_SHOW,
        OPT_CONNTRACK,
        OPT_PURGE,
        /* Every other long option is a configuration key, numbered from
         * here by enum agent_config_key. */
        OPT_KEY,
    };
    static const struct option long_options[] = {
        {"config", required_argument, NULL, 'c'},
        {"state", required_argument, NULL, 's'},
        {"instance", required_argument, NULL, 'i'},
        {"output", required_argument, NULL, 'o'},
        {"log-level", required_argument, NULL, 'l'},
        {"once", no_argument, NULL, OPT_ONCE},
        {"check", no_argument, NULL, OPT_CHECK},
        {"show", no_argument, NULL, OPT_SHOW},
        {"conntrack", no_argument, NULL, OPT_CONNTRACK},
        {"purge", no_argument, NULL, OPT_PURGE},
        {"pidfile", required_argument, NULL, OPT_KEY + AGENT_CONFIG_PIDFILE},
        {"controller", required_argument, NULL,
         OPT_KEY + AGENT_CONFIG_CONTROLLER},
        {"token", required_argument, NULL, OPT_KEY + AGENT_CONFIG_TOKEN},
        {"token-file", required_argument, NULL,
         OPT_KEY + AGENT_CONFIG_TOKEN_FILE},
        {"cacert", required_argument, NULL, OPT_KEY + AGENT_CONFIG_CACERT},
        {"host", required_argument, NULL, OPT_KEY + AGENT_CONFIG_HOST},
        {"vtep", required_argument, NULL, OPT_KEY + AGENT_CONFIG_VTEP},
        {"underlay", required_argument, NULL, OPT_KEY + AGENT_CONFIG_UNDERLAY},
        {"vcpus", required_argument, NULL, OPT_KEY + AGENT_CONFIG_VCPUS},
        {"memory-mb", required_argument, NULL,
         OPT_KEY + AGENT_CONFIG_MEMORY_MB},
        {"state-cache", required_argument, NULL,
         OPT_KEY + AGENT_CONFIG_STATE_CACHE},
        {"metrics", required_argument, NULL, OPT_KEY + AGENT_CONFIG_METRICS},
        {"heartbeat-interval", required_argument, NULL,
         OPT_KEY + AGENT_CONFIG_HEARTBEAT_INTERVAL},
        {"advertise", required_argument, NULL,
         OPT_KEY + AGENT_CONFIG_ADVERTISE},
        {"flow-log", required_argument, NULL, OPT_KEY + AGENT_CONFIG_FLOW_LOG},
        {"conntrack-max", required_argument, NULL,
         OPT_KEY + AGENT_CONFIG_CONNTRACK_MAX},
        {"conntrack-port-max", required_argument, NULL,
         OPT_KEY + AGENT_CONFIG_CONNTRACK_PORT_MAX},
        {"datapath", required_argument, NULL, OPT_KEY + AGENT_CONFIG_DATAPATH},
        {"hypervisor", required_argument, NULL,
         OPT_KEY + AGENT_CONFIG_HYPERVISOR},
        {"storage", required_argument, NULL, OPT_KEY + AGENT_CONFIG_STORAGE},
        {"vm-run-dir", required_argument, NULL,
         OPT_KEY + AGENT_CONFIG_VM_RUN_DIR},
        {"accel", required_argument, NULL, OPT_KEY + AGENT_CONFIG_ACCEL},
        {"probe-port", required_argument, NULL,
         OPT_KEY + AGENT_CONFIG_PROBE_PORT},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    int c;

    memset(o, 0, sizeof *o);
    agent_config_init(&o->cmdline);
    agent_config_init(&o->cfg);
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":c:s:i:o:l:hV", long_options, NULL))
           != -1) {
        switch (c) {
        case 'c':
            o->config_file = optarg;
            break;
        case 's':
            set_key(o, AGENT_CONFIG_STATE, optarg);
            break;
        case 'i':
            set_key(o, AGENT_CONFIG_INSTANCE, optarg);
            break;
        case 'o':
            if (strcmp(optarg, "json") && strcmp(optarg, "text")) {
                usage_error("--output \"%s\": expected text or json", optarg);
            }
            o->json = !strcmp(optarg, "json");
            o->output_set = true;
            break;
        case 'l':
            set_key(o, AGENT_CONFIG_LOG_LEVEL, optarg);
            break;
        case OPT_ONCE:
            set_mode(o, AGENT_ONCE, "--once");
            break;
        case OPT_CHECK:
            set_mode(o, AGENT_CHECK, "--check");
            break;
        case OPT_CONNTRACK:
            set_mode(o, AGENT_CONNTRACK, "--conntrack");
            break;
        case OPT_SHOW:
            set_mode(o, AGENT_SHOW, "--show");
            break;
        case OPT_PURGE:
            set_mode(o, AGENT_PURGE, "--purge");
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
            if (optopt) {
                usage_error("unknown option -%c", optopt);
            }
            usage_error("unknown option %s", argv[optind - 1]);
        default:
            if (c >= OPT_KEY && c < OPT_KEY + AGENT_CONFIG_N_KEYS) {
                set_key(o, c - OPT_KEY, optarg);
                break;
            }
            usage_error("unknown option %s", argv[optind - 1]);
        }
    }
    if (optind < argc) {
        usage_error("unexpected argument \"%s\"", argv[optind]);
    }
    if (o->cmdline.state && o->cmdline.controller) {
        usage_error("--state and --controller cannot be used together");
    }
    if (o->cmdline.token && o->cmdline.token_file) {
        usage_error("--token and --token-file cannot be used together");
    }
    if ((o->mode == AGENT_SHOW || o->mode == AGENT_CONNTRACK
         || o->mode == AGENT_PURGE)
        && o->cmdline.state) {
        usage_error("--state does not apply to %s", o->mode_option);
    }
    if (o->mode != AGENT_RUN && o->cmdline.controller) {
        usage_error("--controller does not apply to %s", o->mode_option);
    }
    if (o->output_set && o->mode != AGENT_SHOW && o->mode != AGENT_CONNTRACK) {
        usage_error("--output applies to --show and --conntrack only");
    }
    if (o->cmdline.pidfile && o->mode != AGENT_RUN) {
        usage_error("--pidfile applies to the daemon only, not %s",
                    o->mode_option);
    }
}

/* Reads the configuration file of 'o' and overrides it with the command
 * line, into 'cfg' (initialized by the caller).  Returns 0, or an errno
 * value with '*msg' saying what is wrong (the caller frees it). */
static int
agent_read_config(const struct agent_options *o, struct agent_config *cfg,
                  char **msg)
{
    const char *file =
        o->config_file ? o->config_file : AGENT_CONFIG_FILE_DEFAULT;
    int error;

    error = agent_config_read_file(cfg, file, msg);
    if (error == ENOENT && !o->config_file) {
        error = 0;
    } else if (error == ENOENT) {
        *msg = xasprintf("%s: %s", file, strerror(error));
    }
    if (error) {
        return error;
    }
    /* The command line chooses the mode, and the token, as a whole: its
     * --state runs standalone even if the file names a controller. */
    if (o->cmdline.state || o->cmdline.controller) {
        agent_config_unset(cfg, AGENT_CONFIG_STATE);
        agent_config_unset(cfg, AGENT_CONFIG_CONTROLLER);
    }
    if (o->cmdline.token || o->cmdline.token_file) {
        agent_config_unset(cfg, AGENT_CONFIG_TOKEN);
        agent_config_unset(cfg, AGENT_CONFIG_TOKEN_FILE);
    }
    if (cfg->state && cfg->controller) {
        *msg = xasprintf("%s: \"state\" and \"controller\" cannot be used "
                         "together",
                         file);
        return EINVAL;
    }
    if (cfg->token && cfg->token_file) {
        *msg = xasprintf("%s: \"token\" and \"token-file\" cannot be used "
                         "together",
                         file);
        return EINVAL;
    }
    agent_config_merge(cfg, &o->cmdline);
    return 0;
}

/* Loads the settings of 'o' and checks that they fit its mode, exiting
 * with status 2 if not. */
static void
agent_configure(struct agent_options *o)
{
    char *msg = NULL;

    if (agent_read_config(o, &o->cfg, &msg)) {
        config_error("%s", msg);
    }
    log_set_level(o->cfg.log_level);
    if (!o->cfg.instance) {
        o->cfg.instance = xstrdup(AGENT_CONFIG_INSTANCE_DEFAULT);
    }
    switch (o->mode) {
    case AGENT_SHOW:
    case AGENT_CONNTRACK:
    case AGENT_PURGE:
        break;
    case AGENT_ONCE:
    case AGENT_CHECK:
        if (!o->cfg.state) {
            usage_error("--state FILE is required with %s", o->mode_option);
        }
        break;
    case AGENT_RUN:
    default:
        if (!o->cfg.state && !o->cfg.controller) {
            usage_error("--state FILE or --controller URL is required");
        }
        if (o->cfg.controller) {
            msg = agent_config_defaults(&o->cfg);
            if (!msg) {
                msg = agent_config_check(&o->cfg);
            }
            if (msg) {
                config_error("%s", msg);
            }
        }
        break;
    }
}

/* Returns the API token of 'cfg' (from "token", "token-file" or
 * $FABRIC_TOKEN), or NULL after logging why there is none.  The caller
 * frees it. */
static char *
agent_token(const struct agent_config *cfg)
{
    const char *env = getenv("FABRIC_TOKEN");
    char *token;
    size_t len;
    int error;

    if (cfg->token) {
        return xstrdup(cfg->token);
    } else if (!cfg->token_file) {
        if (env && *env) {
            return xstrdup(env);
        }
        LOG_ERR("no API token: give --token-file FILE (or \"token-file\" in "
                "the configuration file), --token, or FABRIC_TOKEN");
        return NULL;
    }
    error = read_file(cfg->token_file, &token, &len);
    if (error) {
        LOG_ERR("token-file %s: %s", cfg->token_file, strerror(error));
        return NULL;
    }
    while (len > 0 && isspace((unsigned char) token[len - 1])) {
        token[--len] = '\0';
    }
    if (!len || strpbrk(token, " \t\r\n")) {
        LOG_ERR("token-file %s: expected one token on one line",
                cfg->token_file);
        free(token);
        return NULL;
    }
    return token;
}

/* Returns the first IPv4 address of device 'name' as a string, or NULL.
 * The caller frees it. */
static char *
agent_device_ipv4(const char *name)
{
    struct ifaddrs *ifas, *ifa;
    char *ip = NULL;

    if (getifaddrs(&ifas) < 0) {
        return NULL;
    }
    for (ifa = ifas; ifa && !ip; ifa = ifa->ifa_next) {
        if (ifa->ifa_addr && ifa->ifa_addr->sa_family == AF_INET
            && !strcmp(ifa->ifa_name, name)) {
            char s[INET_ADDRSTRLEN];
            const struct sockaddr_in *sin = (void *) ifa->ifa_addr;

            ip = xstrdup(inet_ntop(AF_INET, &sin->sin_addr, s, sizeof s));
        }
    }
    freeifaddrs(ifas);
    return ip;
}

/* Reads the JSON document at 'path' into '*docp'.  On failure returns an
 * errno value and appends the reason to 'errors'. */
static int
agent_read(const char *path, json_t **docp, struct state_errors *errors)
{
    json_error_t jerror;
    size_t len;
    char *text;
    int error;

    *docp = NULL;
    error = read_file(path, &text, &len);
    if (error) {
        state_errors_add(errors, "cannot read the file: %s", strerror(error));
        return error;
    }
    *docp = json_loadb(text, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY,
                       &jerror);
    free(text);
    if (!*docp) {
        state_errors_add(errors, "line %d, column %d: invalid JSON: %s",
                         jerror.line, jerror.column, jerror.text);
        return EINVAL;
    }
    return 0;
}

/* Reads, parses and validates the document at 'path' as a whole into
 * '*statep', for --check: every problem counts.  On failure returns an
 * errno value and appends the reasons to 'errors'.  If the underlay device
 * exists, network MTUs are checked against it; otherwise
 * '*underlay_found' is set to false. */
static int
agent_load(const char *path, struct state **statep,
           struct state_errors *errors, bool *underlay_found)
{
    struct nl_link underlay;
    json_t *doc;
    int error;

    *statep = NULL;
    *underlay_found = false;
    error = agent_read(path, &doc, errors);
    if (error) {
        return error;
    }
    error = state_from_json(doc, statep, errors);
    json_decref(doc);
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

/* Reads the document at 'path', logging what is wrong with it.  Returns
 * it, or NULL if it cannot be read or is not JSON. */
static json_t *
agent_read_logged(const char *path)
{
    struct state_errors errors;
    json_t *doc;

    state_errors_init(&errors);
    agent_read(path, &doc, &errors);
    for (size_t i = 0; i < errors.n; i++) {
        LOG_ERR("%s: %s", path, errors.msgs[i]);
    }
    state_errors_destroy(&errors);
    return doc;
}

/* Makes the document at 'path' the desired state of 'core', logging what
 * is wrong with it.  Returns false if it was refused as a whole. */
static bool
agent_apply_file(struct core *core, const char *path)
{
    json_t *doc = agent_read_logged(path);
    struct state_errors errors;
    int error = EINVAL;

    state_errors_init(&errors);
    if (doc) {
        error = core_apply(core, doc, 0, &errors);
    }
    for (size_t i = 0; i < errors.n; i++) {
        LOG_ERR("%s: %s", path, errors.msgs[i]);
    }
    state_errors_destroy(&errors);
    json_decref(doc);
    return error != EINVAL;
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

/* Opens the datapath instance of 'cfg', creating its tables with room
 * for its "conntrack-max" connections if they do not exist, and giving
 * each port its "conntrack-port-max" share of them. */
static int
agent_open(const struct agent_config *cfg, bool read_only, struct dp **dpp)
{
    const char *instance = cfg->instance;
    struct dp_options options = {
        .type = cfg->datapath,
        .instance = instance,
        .read_only = read_only,
        .max_conntrack = cfg->conntrack_max,
        .max_conntrack_per_port = cfg->conntrack_port_max,
    };
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

    if (agent_open(&o->cfg, true, &dp)) {
        return 1;
    }
    error = o->mode == AGENT_CONNTRACK ? show_conntrack(dp, o->json, stdout)
                                       : show_datapath(dp, o->json, stdout);
    if (error) {
        LOG_ERR("showing datapath instance \"%s\": %s", o->cfg.instance,
                strerror(error));
    }
    dp_close(dp);
    return error ? 1 : 0;
}

/* Fills 'vc' with the VM settings of 'cfg', whose default run directory
 * is stored in '*run_dir' (the caller frees it). */
static void
agent_vms_config(const struct agent_config *cfg, struct vms_config *vc,
                 char **run_dir)
{
    *run_dir = cfg->vm_run_dir
                   ? xstrdup(cfg->vm_run_dir)
                   : xasprintf(AGENT_CONFIG_RUN_DIR "/%s/vms", cfg->instance);
    *vc = (struct vms_config){
        .hypervisor = cfg->hypervisor,
        .storage = cfg->storage ? cfg->storage : AGENT_CONFIG_STORAGE_DEFAULT,
        .run_dir = *run_dir,
        .accel = cfg->accel,
        .probe_cache = AGENT_CONFIG_RUN_DIR,
        .instance = cfg->instance,
    };
}

static int
agent_purge(const struct agent_options *o)
{
    struct dp_options options = {.type = o->cfg.datapath,
                                 .instance = o->cfg.instance,
                                 .read_only = true};
    struct vms_config vc;
    char *run_dir;
    struct dp *dp;
    int error;

    /* The instance's VMs go first: they cannot forward without it. */
    agent_vms_config(&o->cfg, &vc, &run_dir);
    error = vms_purge(&vc);
    if (!error && !o->cfg.vm_run_dir) {
        /* The instance's own directory, empty now. */
        char *dir = xasprintf(AGENT_CONFIG_RUN_DIR "/%s", o->cfg.instance);

        rmdir(dir);
        free(dir);
    }
    free(run_dir);
    if (error) {
        LOG_ERR("purging the VMs of instance \"%s\": %s", o->cfg.instance,
                strerror(error));
        return 1;
    }

    /* Opening for writing would create the instance if it did not exist,
     * only to remove it again. */
    error = dp_open(&options, &dp);
    if (error == ENOENT) {
        LOG_INFO("datapath instance \"%s\" does not exist: nothing to purge",
                 o->cfg.instance);
        return 0;
    }
    dp_close(dp);
    if (agent_open(&o->cfg, false, &dp)) {
        return 1;
    }
    error = dp_purge(dp);
    if (error) {
        LOG_ERR("purging datapath instance \"%s\": %s", o->cfg.instance,
                strerror(error));
    } else {
        LOG_INFO("purged datapath instance \"%s\"", o->cfg.instance);
    }
    dp_close(dp);
    return error ? 1 : 0;
}

static int
agent_once(const struct agent_options *o)
{
    json_t *doc = agent_read_logged(o->cfg.state);
    struct state_errors errors;
    struct state *state = NULL;
    struct reconciler *rc;
    uint32_t underlay_mtu;
    struct dp *dp;
    int error;

    state_errors_init(&errors);
    if (doc) {
        core_parse(doc, &state, &underlay_mtu, &errors);
    }
    for (size_t i = 0; i < errors.n; i++) {
        LOG_ERR("%s: %s", o->cfg.state, errors.msgs[i]);
    }
    state_errors_destroy(&errors);
    json_decref(doc);
    if (!state) {
        return 1;
    }
    core_log_skipped(state, NULL);
    if (agent_open(&o->cfg, false, &dp)) {
        state_destroy(state);
        return 1;
    }
    rc = reconcile_create(dp);
    error = reconcile_run(rc, state);
    if (reconcile_take_fw_changed(rc)) {
        struct fw_ct_stats ct;

        /* Tracked connections that the new policy denies end now. */
        fw_revalidate(dp, fw_now_ns(), &ct);
    }
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

/* Keys that a running daemon cannot change: a SIGHUP that changes one
 * says so. */
static const enum agent_config_key restart_keys[] = {
    AGENT_CONFIG_STATE,
    AGENT_CONFIG_INSTANCE,
    AGENT_CONFIG_PIDFILE,
    AGENT_CONFIG_CONTROLLER,
    AGENT_CONFIG_CACERT,
    AGENT_CONFIG_HOST,
    AGENT_CONFIG_VTEP,
    AGENT_CONFIG_UNDERLAY,
    AGENT_CONFIG_VCPUS,
    AGENT_CONFIG_MEMORY_MB,
    AGENT_CONFIG_STATE_CACHE,
    AGENT_CONFIG_METRICS,
    AGENT_CONFIG_HEARTBEAT_INTERVAL,
    AGENT_CONFIG_FLOW_LOG,
    AGENT_CONFIG_CONNTRACK_MAX,
    AGENT_CONFIG_CONNTRACK_PORT_MAX,
    AGENT_CONFIG_DATAPATH,
    AGENT_CONFIG_HYPERVISOR,
    AGENT_CONFIG_STORAGE,
    AGENT_CONFIG_VM_RUN_DIR,
    AGENT_CONFIG_ACCEL,
    AGENT_CONFIG_PROBE_PORT,
};

/* SIGHUP: re-reads the configuration file and applies what can change
 * while running, the log level and, in controller mode, the token. */
/* Tells the report thread of 'watch' to report now (for agent/migrate.h). */
static void
agent_notify(void *watch)
{
    watch_notify(watch);
}

static void
agent_reload_config(struct agent_options *o, struct watch *watch,
                    struct flowlog *flowlog, struct migrate *migrate)
{
    const char *file =
        o->config_file ? o->config_file : AGENT_CONFIG_FILE_DEFAULT;
    struct agent_config cfg;
    char *msg = NULL;

    agent_config_init(&cfg);
    if (agent_read_config(o, &cfg, &msg)) {
        LOG_ERR("SIGHUP: %s; keeping the current settings", msg);
        free(msg);
        agent_config_destroy(&cfg);
        return;
    }
    log_set_level(cfg.log_level);
    for (size_t i = 0; i < ARRAY_SIZE(restart_keys); i++) {
        enum agent_config_key key = restart_keys[i];

        /* Keys that had defaults compare only if given. */
        if (agent_config_is_set(&cfg, key) != agent_config_is_set(&o->cfg, key)
            || (agent_config_is_set(&cfg, key)
                && !agent_config_same(&cfg, &o->cfg, key))) {
            LOG_WARN("SIGHUP: %s: a change of \"%s\" takes effect only on "
                     "restart",
                     file, agent_config_key_name(key));
        }
    }
    if (watch) {
        char *token = agent_token(&cfg);

        if (token) {
            watch_set_token(watch, token);
            flowlog_set_token(flowlog, token);
            migrate_set_token(migrate, token);
            free(token);
        } else {
            LOG_ERR("SIGHUP: keeping the current token");
        }
    }
    LOG_INFO("SIGHUP: reloaded the configuration (%s)",
             access(file, F_OK) ? "no configuration file" : file);
    agent_config_destroy(&cfg);
}

/* Returns the path of the local flow log of 'cfg', or NULL for none
 * ("none").  By default it lies next to the state cache in controller
 * mode, else in AGENT_CONFIG_CACHE_DIR, named flows.log for the default
 * instance and flows-INSTANCE.log for another, so that the agents of
 * several instances on one machine never share it.  The caller frees
 * it. */
static char *
agent_flow_log_path(const struct agent_config *cfg)
{
    char *dir, *path;

    if (cfg->flow_log) {
        return strcmp(cfg->flow_log, "none") ? xstrdup(cfg->flow_log) : NULL;
    }
    if (cfg->state_cache) {
        char *copy = xstrdup(cfg->state_cache);

        dir = xstrdup(dirname(copy));
        free(copy);
    } else {
        dir = xstrdup(AGENT_CONFIG_CACHE_DIR);
    }
    if (!strcmp(cfg->instance, AGENT_CONFIG_INSTANCE_DEFAULT)) {
        path = xasprintf("%s/flows.log", dir);
    } else {
        path = xasprintf("%s/flows-%s.log", dir, cfg->instance);
    }
    free(dir);
    return path;
}

/* Runs the daemon: standalone over the document in 'o->cfg.state', or
 * following a controller. */
static int
agent_daemon(struct agent_options *o)
{
    const struct agent_config *cfg = &o->cfg;
    bool controller = cfg->controller != NULL;
    struct metrics *metrics = NULL;
    struct watch *watch = NULL;
    struct flowlog *flowlog = NULL;
    struct migrate *migrate = NULL;
    struct dhcp_responder *dhcp = NULL;
    char *flow_log = NULL;
    json_t *doc = NULL;
    struct core *core = NULL;
    struct vms *vms = NULL;
    struct dp *dp = NULL;
    char *vm_run_dir = NULL;
    uint64_t vm_seen = 0;
    bool pidfile_written = false;
    bool curl_ready = false;
    char *token = NULL;
    char *vtep = NULL;
    int status = 1;
    int error;
    int sfd;

    /* Before any thread starts, so that every thread has these signals
     * blocked and only the signalfd sees them. */
    sfd = agent_signals();
    if (sfd < 0) {
        LOG_ERR("cannot set up signal handling: %s", strerror(errno));
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    if (controller) {
        token = agent_token(cfg);
        if (!token) {
            goto out;
        }
        vtep =
            cfg->vtep ? xstrdup(cfg->vtep) : agent_device_ipv4(cfg->underlay);
        if (!vtep) {
            LOG_ERR("--vtep is not given and underlay \"%s\" has no IPv4 "
                    "address to take it from",
                    cfg->underlay);
            goto out;
        } else if (!cfg->vtep) {
            struct agent_config check;
            char *problem;

            /* Checked as if given, so that a loopback address is refused
             * here rather than by the controller. */
            agent_config_init(&check);
            problem = agent_config_set(&check, AGENT_CONFIG_VTEP, vtep);
            agent_config_destroy(&check);
            if (problem) {
                LOG_ERR("underlay \"%s\": its address cannot be the VTEP: "
                        "%s; give --vtep",
                        cfg->underlay, problem);
                free(problem);
                goto out;
            }
        }
        if (curl_global_init(CURL_GLOBAL_ALL)) {
            LOG_ERR("cannot initialize libcurl");
            goto out;
        }
        curl_ready = true;
    } else {
        doc = agent_read_logged(cfg->state);
        if (!doc) {
            goto out;
        }
    }
    if (agent_open(cfg, false, &dp)) {
        goto out;
    }
    if (cfg->pidfile) {
        if (agent_write_pidfile(cfg->pidfile)) {
            goto out;
        }
        pidfile_written = true;
    }
    {
        struct vms_config vc;

        agent_vms_config(cfg, &vc, &vm_run_dir);
        if (vms_open(&vc, &vms)) {
            /* The network goes on without: the VMs of the document are
             * reported as this host's conditions. */
            LOG_ERR("this host cannot run VMs; its ports and networks are "
                    "programmed all the same");
        }
    }
    core = core_create(dp, vms, controller);
    /* Without punts (an older datapath) the rest still runs. */
    dhcp_responder_start(dp, core, &dhcp);
    if (cfg->metrics && metrics_start(cfg->metrics, core, &metrics)) {
        goto out;
    }
    struct migrate_config mc = {
        .controller = cfg->controller,
        .cacert = cfg->cacert,
        .token = token,
        .host = cfg->host,
    };

    flow_log = agent_flow_log_path(cfg);
    if (flow_log || controller) {
        struct flowlog_config fc = {
            .path = flow_log,
            .controller = cfg->controller,
            .cacert = cfg->cacert,
            .token = token,
            .host = cfg->host,
        };

        /* Without flow events (an older datapath) the rest still runs. */
        flowlog_start(&fc, dp, core, &flowlog);
    }
    if (controller) {
        char *agent_url = cfg->metrics ? agent_trace_url(
                              cfg->advertise, cfg->metrics, cfg->controller)
                                       : NULL;
        struct watch_config wc = {
            .controller = cfg->controller,
            .cacert = cfg->cacert,
            .token = token,
            .host = cfg->host,
            .vtep = vtep,
            .underlay = cfg->underlay,
            .vcpus = cfg->vcpus,
            .memory_mb = cfg->memory_mb,
            .cache = cfg->state_cache,
            .heartbeat_interval = cfg->heartbeat_interval,
            .agent_url = agent_url,
            .agent_token = agent_url ? agent_trace_token() : NULL,
            .probe_port = cfg->probe_port,
        };

        LOG_INFO("started: instance \"%s\", controller %s", cfg->instance,
                 cfg->controller);
        watch = watch_create(&wc, core);
        free(agent_url);
        migrate = migrate_create(&mc, core, agent_notify, watch);
        watch_load_cache(watch);
        error = watch_start(watch);
        if (error) {
            LOG_ERR("cannot start the controller threads: %s",
                    strerror(error));
            goto out;
        }
    } else {
        struct state_errors errors;

        LOG_INFO("started: instance \"%s\", desired state %s", cfg->instance,
                 cfg->state);
        migrate = migrate_create(&mc, core, NULL, NULL);
        state_errors_init(&errors);
        error = core_apply(core, doc, 0, &errors);
        for (size_t i = 0; i < errors.n; i++) {
            LOG_ERR("%s: %s", cfg->state, errors.msgs[i]);
        }
        state_errors_destroy(&errors);
        if (error == EINVAL) {
            goto out;
        }
    }
    for (;;) {
        int sig = agent_wait(sfd);

        if (sig < 0) {
            LOG_ERR("waiting for signals: %s", strerror(errno));
            break;
        } else if (sig == SIGHUP) {
            agent_reload_config(o, watch, flowlog, migrate);
            if (!controller) {
                LOG_INFO("reloading %s", cfg->state);
                if (!agent_apply_file(core, cfg->state)) {
                    LOG_ERR("%s: refused; the previous desired state stays "
                            "in force",
                            cfg->state);
                }
            }
        } else if (sig) {
            LOG_INFO("exiting on %s; the datapath stays in place and keeps "
                     "forwarding",
                     strsignal(sig));
            status = 0;
            break;
        } else if ((core_poll(core) || (vms && vms_changed(vms, &vm_seen)))
                   && watch) {
            watch_notify(watch);
        }
    }

out:
    watch_destroy(watch);
    migrate_destroy(migrate);
    flowlog_stop(flowlog);
    dhcp_responder_stop(dhcp);
    free(flow_log);
    metrics_stop(metrics);
    if (pidfile_written) {
        unlink(cfg->pidfile);
    }
    core_destroy(core);
    vms_close(vms);
    free(vm_run_dir);
    dp_close(dp);
    json_decref(doc);
    if (curl_ready) {
        curl_global_cleanup();
    }
    free(token);
    free(vtep);
    close(sfd);
    return status;
}

int
main(int argc, char *argv[])
{
    struct agent_options options;
    int status;

    log_set_program(AGENT_PROGRAM);
    parse_options(argc, argv, &options);
    agent_configure(&options);
    switch (options.mode) {
    case AGENT_CHECK:
        status = agent_check(options.cfg.state);
        break;
    case AGENT_SHOW:
    case AGENT_CONNTRACK:
        status = agent_show(&options);
        break;
    case AGENT_PURGE:
        status = agent_purge(&options);
        break;
    case AGENT_ONCE:
        status = agent_once(&options);
        break;
    case AGENT_RUN:
    default:
        status = agent_daemon(&options);
        break;
    }
    agent_config_destroy(&options.cmdline);
    agent_config_destroy(&options.cfg);
    return status;
}
