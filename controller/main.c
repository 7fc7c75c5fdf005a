/* fabric-controller: the REST API over the desired-state store.  This file
 * reads the options and the configuration file, starts the server and
 * waits for signals: SIGTERM or SIGINT stop it, SIGHUP reloads what can
 * change while it runs. */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "controller/api.h"
#include "controller/config.h"
#include "controller/http.h"
#include "controller/leader.h"
#include "controller/server.h"
#include "controller/store.h"
#include "controller/ui.h"
#include "utils/log.h"
#include "utils/util.h"

static void
usage(FILE *stream)
{
    fprintf(stream,
            "usage: fabric-controller [OPTION]...\n"
            "Serve the fabric REST API (doc/api.md) over the desired-state "
            "store.\n"
            "\n"
            "  -c, --config=FILE              configuration file (default "
            "%s;\n"
            "                                 optional unless given)\n"
            "      --listen=ADDR:PORT         where to listen (default %s)\n"
            "      --store=URL                the store: an SQLite file "
            "(default %s),\n"
            "                                 sqlite:PATH or "
            "etcd://HOST:PORT[,...][/PREFIX]\n"
            "      --db=URL                   the same as --store\n"
            "      --tls-cert=FILE            PEM certificate: serve HTTPS\n"
            "      --tls-key=FILE             PEM private key for "
            "--tls-cert\n"
            "      --bootstrap-token-file=FILE  where the first admin "
            "token is written\n"
            "                                 (default %s)\n"
            "      --heartbeat-timeout=SECONDS  silence before a host is "
            "unreachable\n"
            "                                 (default %d)\n"
            "      --max-connections=N        connections at once (default "
            "%d)\n"
            "      --max-connections-per-address=N  from one client "
            "address (default %d)\n"
            "      --idle-timeout=SECONDS     idle time of a connection "
            "before it\n"
            "                                 authenticates (default %d)\n"
            "      --authenticated-idle-timeout=SECONDS  idle time after "
            "(default %d)\n"
            "      --storage=DIR              the storage directory every "
            "host sees,\n"
            "                                 for images (default %s)\n"
            "      --image-size-max=SIZE      largest image file (default "
            "64G)\n"
            "  -l, --log-level=LEVEL          error, warn, info (default) "
            "or debug\n"
            "      --scheduler-weigher=W      where VMs go: spread "
            "(default) or pack\n"
            "      --ha-lease=MS              the lease a heartbeat grants "
            "(default %d)\n"
            "      --ha-fence-margin=MS       the time a fencing agent "
            "takes (default %d)\n"
            "      --ui-dir=DIR               the web console's files, served "
            "at /ui/\n"
            "                                 (default %s)\n"
            "      --advertise=URL            the URL other controllers and "
            "clients\n"
            "                                 reach this one at (default "
            "from --listen)\n"
            "      --leader-lease=MS          the lease of the leader of the "
            "singleton\n"
            "                                 work (default %d)\n"
            "      --migrate-store FROM TO    copy every object of store "
            "FROM into the\n"
            "                                 empty store TO and exit (the "
            "only option)\n"
            "  -h, --help                     show this help and exit\n"
            "  -V, --version                  show the version and exit\n"
            "\n"
            "Options override the configuration file's keys of the same "
            "names.\n"
            "See fabric-controller(8).\n",
            CONFIG_FILE_DEFAULT, CONFIG_LISTEN_DEFAULT, CONFIG_DB_DEFAULT,
            CONFIG_TOKEN_FILE_DEFAULT, CONFIG_HEARTBEAT_TIMEOUT_DEFAULT,
            HTTP_MAX_CONNECTIONS, HTTP_MAX_PER_ADDRESS, HTTP_IDLE_TIMEOUT,
            HTTP_AUTH_IDLE_TIMEOUT, CONFIG_STORAGE_DEFAULT,
            API_HA_LEASE_DEFAULT_MS, API_HA_FENCE_MARGIN_DEFAULT_MS,
            UI_DIR_DEFAULT, LEADER_LEASE_DEFAULT_MS);
}

/* Parses the command line into 'cmdline' and '*config_file'.  Exits on
 * errors, --help and --version. */
static void
parse_options(int argc, char *argv[], struct config *cmdline,
              const char **config_file)
{
    static const struct option options[] = {
        {"config", required_argument, NULL, 'c'},
        {"listen", required_argument, NULL, 0},
        {"db", required_argument, NULL, 0},
        {"store", required_argument, NULL, 0},
        {"tls-cert", required_argument, NULL, 0},
        {"tls-key", required_argument, NULL, 0},
        {"bootstrap-token-file", required_argument, NULL, 0},
        {"heartbeat-timeout", required_argument, NULL, 0},
        {"max-connections", required_argument, NULL, 0},
        {"max-connections-per-address", required_argument, NULL, 0},
        {"idle-timeout", required_argument, NULL, 0},
        {"authenticated-idle-timeout", required_argument, NULL, 0},
        {"storage", required_argument, NULL, 0},
        {"image-size-max", required_argument, NULL, 0},
        {"log-level", required_argument, NULL, 'l'},
        {"scheduler-weigher", required_argument, NULL, 0},
        {"ha-lease", required_argument, NULL, 0},
        {"ha-fence-margin", required_argument, NULL, 0},
        {"ui-dir", required_argument, NULL, 0},
        {"advertise", required_argument, NULL, 0},
        {"leader-lease", required_argument, NULL, 0},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };

    for (;;) {
        const char *key = NULL;
        char *problem;
        int index = 0;
        int c = getopt_long(argc, argv, "c:l:hV", options, &index);

        if (c == -1) {
            break;
        }
        switch (c) {
        case 'c':
            *config_file = optarg;
            continue;
        case 'l':
            key = "log-level";
            break;
        case 0:
            key = options[index].name;
            break;
        case 'h':
            usage(stdout);
            exit(0);
        case 'V':
            printf("fabric-controller %s\n", PACKAGE_VERSION);
            exit(0);
        default:
            usage(stderr);
            exit(2);
        }
        problem = config_set(cmdline, key, optarg);
        if (problem) {
            fprintf(stderr, "fabric-controller: --%s\n", problem);
            free(problem);
            exit(2);
        }
    }
    if (optind < argc) {
        fprintf(stderr,
                "fabric-controller: unexpected argument \"%s\" (see "
                "--help)\n",
                argv[optind]);
        exit(2);
    }
}

/* Builds the settings from the defaults, 'file' (which must exist if
 * 'required') and 'cmdline'.  Returns 0, or EINVAL with '*msg' set. */
static int
load_config(const char *file, bool required, const struct config *cmdline,
            struct config *cfg, char **msg)
{
    int error;

    config_init(cfg);
    error = config_read_file(cfg, file, msg);
    if (error == ENOENT && !required) {
        error = 0;
    } else if (error == ENOENT) {
        *msg = xasprintf("%s: %s", file, strerror(error));
    }
    if (!error) {
        config_override(cfg, cmdline);
        *msg = config_check(cfg);
        error = *msg ? EINVAL : 0;
    }
    if (error) {
        config_destroy(cfg);
    }
    return error;
}

static const char *
level_name(enum log_level level)
{
    static const char *const names[] = {"error", "warn", "info", "debug"};

    return names[level];
}

/* Moves '*old' into '*new', freeing what '*new' held. */
static void
keep(char **new, char **old)
{
    free(*new);
    *new = *old;
    *old = NULL;
}

/* SIGHUP: applies what can change without a restart, and says what
 * cannot. */
static void
reload(struct server *server, const char *file, bool required,
       const struct config *cmdline, struct config *cfg)
{
    struct config new;
    char *msg = NULL;

    if (load_config(file, required, cmdline, &new, &msg)) {
        LOG_ERR("SIGHUP: not reloaded, keeping the current settings: %s", msg);
        free(msg);
        return;
    }
    log_set_level(new.log_level);
    server_set_heartbeat_timeout(server, new.heartbeat_timeout);
    server_set_weigher(server, new.scheduler_weigher);
    server_set_ha(server, new.ha_lease_ms, new.ha_fence_margin_ms);
    LOG_INFO("SIGHUP: reloaded %s: log-level %s, heartbeat-timeout %d s, "
             "scheduler-weigher %s, ha-lease %d ms, ha-fence-margin %d ms",
             file, level_name(new.log_level), new.heartbeat_timeout,
             sched_weigher_name(new.scheduler_weigher), new.ha_lease_ms,
             new.ha_fence_margin_ms);
    if (strcmp(new.listen, cfg->listen) || strcmp(new.db, cfg->db)
        || !new.tls_cert != !cfg->tls_cert
        || (new.tls_cert &&strcmp(new.tls_cert, cfg->tls_cert))
        || (new.tls_key &&strcmp(new.tls_key, cfg->tls_key))) {
        LOG_WARN("SIGHUP: listen, db, tls-cert and tls-key changes take "
                 "effect only on restart");
    }
    if (new.max_connections != cfg->max_connections
        || new.max_per_address != cfg->max_per_address
        || new.idle_timeout != cfg->idle_timeout
        || new.auth_idle_timeout != cfg->auth_idle_timeout) {
        LOG_WARN("SIGHUP: connection limit and idle timeout changes take "
                 "effect only on restart");
    }
    if (strcmp(new.ui_dir, cfg->ui_dir)) {
        /* The HTTP threads read the directory's name without a lock. */
        LOG_WARN("SIGHUP: ui-dir \"%s\" takes effect only on restart: the "
                 "web console is still served from \"%s\"",
                 new.ui_dir, cfg->ui_dir);
    }
    /* The running server keeps what it started with. */
    keep(&new.listen, &cfg->listen);
    keep(&new.db, &cfg->db);
    keep(&new.tls_cert, &cfg->tls_cert);
    keep(&new.tls_key, &cfg->tls_key);
    keep(&new.bootstrap_token_file, &cfg->bootstrap_token_file);
    keep(&new.ui_dir, &cfg->ui_dir);
    new.max_connections = cfg->max_connections;
    new.max_per_address = cfg->max_per_address;
    new.idle_timeout = cfg->idle_timeout;
    new.auth_idle_timeout = cfg->auth_idle_timeout;
    config_destroy(cfg);
    *cfg = new;
}

/* fabric-controller --migrate-store FROM TO: copies one consistent
 * snapshot of FROM into the empty store TO (store_copy()) and prints the
 * objects copied per kind.  Returns the exit status. */
static int
migrate_store(int argc, char *argv[])
{
    struct store *from = NULL, *to = NULL;
    const char *from_url, *to_url;
    json_t *counts = NULL;
    int error;

    if (argc != 4) {
        fprintf(stderr, "fabric-controller: --migrate-store takes two "
                        "arguments, FROM and TO, and no other option\n");
        return 2;
    }
    from_url = argv[2];
    to_url = argv[3];
    if (strncmp(from_url, "etcd://", 7) && strncmp(from_url, "etcds://", 8)) {
        /* Opening an SQLite file that is not there would make an empty
         * store of it and copy nothing. */
        const char *path =
            from_url + (strncmp(from_url, "sqlite:", 7) ? 0 : 7);

        if (access(path, F_OK)) {
            fprintf(stderr,
                    "fabric-controller: --migrate-store: store %s: %s\n",
                    from_url, strerror(errno));
            return 1;
        }
    }
    error = store_open(from_url, &from);
    if (!error) {
        error = store_open(to_url, &to);
    }
    if (!error) {
        error = store_copy(from, to, &counts);
    }
    if (!error) {
        const char *kind;
        json_int_t total = 0;
        json_t *n;

        json_object_foreach(counts, kind, n)
        {
            printf("%s %" JSON_INTEGER_FORMAT "\n", kind,
                   json_integer_value(n));
            total += json_integer_value(n);
        }
        printf("copied %" JSON_INTEGER_FORMAT " objects of %zu kinds from %s "
               "to %s\n",
               total, json_object_size(counts), from_url, to_url);
    } else {
        fprintf(stderr,
                "fabric-controller: --migrate-store %s %s: %s (see the "
                "messages above)\n",
                from_url, to_url, strerror(error));
    }
    json_decref(counts);
    store_close(to);
    store_close(from);
    return error ? 1 : 0;
}

int
main(int argc, char *argv[])
{
    const char *file = NULL;
    struct config cmdline, cfg;
    struct server *server;
    sigset_t signals;
    char *msg = NULL;
    int error;

    log_set_program("fabric-controller");
    if (argc > 1 && !strcmp(argv[1], "--migrate-store")) {
        return migrate_store(argc, argv);
    }
    config_init(&cmdline);
    parse_options(argc, argv, &cmdline, &file);
    if (load_config(file ? file : CONFIG_FILE_DEFAULT, file != NULL, &cmdline,
                    &cfg, &msg)) {
        fprintf(stderr, "fabric-controller: %s\n", msg);
        free(msg);
        return 2;
    }
    log_set_level(cfg.log_level);

    /* Every thread inherits this mask, so only sigwait() below sees these
     * signals. */
    sigemptyset(&signals);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &signals, NULL);
    signal(SIGPIPE, SIG_IGN);

    struct server_config sc = {
        .listen = cfg.listen,
        .db = cfg.db,
        .tls_cert = cfg.tls_cert,
        .tls_key = cfg.tls_key,
        .bootstrap_token_file = cfg.bootstrap_token_file,
        .heartbeat_timeout = cfg.heartbeat_timeout,
        .max_connections = cfg.max_connections,
        .max_per_address = cfg.max_per_address,
        .idle_timeout = cfg.idle_timeout,
        .auth_idle_timeout = cfg.auth_idle_timeout,
        .storage = cfg.storage,
        .image_size_max = cfg.image_size_max,
        .weigher = cfg.scheduler_weigher,
        .ha_lease_ms = cfg.ha_lease_ms,
        .ha_fence_margin_ms = cfg.ha_fence_margin_ms,
        .ui_dir = cfg.ui_dir,
        .advertise = cfg.advertise,
        .leader_lease_ms = config_leader_lease_ms(&cfg),
    };
    error = server_start(&sc, &server);
    if (error) {
        config_destroy(&cfg);
        config_destroy(&cmdline);
        return 1;
    }

    for (;;) {
        int sig;

        if (sigwait(&signals, &sig)) {
            continue;
        }
        if (sig == SIGHUP) {
            reload(server, file ? file : CONFIG_FILE_DEFAULT, file != NULL,
                   &cmdline, &cfg);
            continue;
        }
        LOG_INFO("%s: stopping", strsignal(sig));
        break;
    }
    server_stop(server);
    LOG_INFO("stopped");
    config_destroy(&cfg);
    config_destroy(&cmdline);
    return 0;
}
