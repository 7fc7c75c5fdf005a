/* fabric-controller's settings. */
#include "controller/config.h"

#include <ctype.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "controller/api.h"
#include "controller/http.h"
#include "controller/leader.h"
#include "controller/scheduler.h"
#include "controller/ui.h"
#include "utils/conffile.h"
#include "utils/units.h"
#include "utils/url-list.h"
#include "utils/util.h"

/* The keys, in the order of the bits of 'set' in struct config. */
enum config_key {
    KEY_LISTEN,
    KEY_DB,
    KEY_TLS_CERT,
    KEY_TLS_KEY,
    KEY_TOKEN_FILE,
    KEY_HEARTBEAT_TIMEOUT,
    KEY_MAX_CONNECTIONS,
    KEY_MAX_PER_ADDRESS,
    KEY_IDLE_TIMEOUT,
    KEY_AUTH_IDLE_TIMEOUT,
    KEY_STORAGE,
    KEY_IMAGE_SIZE_MAX,
    KEY_LOG_LEVEL,
    KEY_SCHEDULER_WEIGHER,
    KEY_HA_LEASE,
    KEY_HA_FENCE_MARGIN,
    KEY_UI_DIR,
    KEY_ADVERTISE,
    KEY_LEADER_LEASE,
    N_KEYS
};

static const char *const key_names[N_KEYS] = {
    [KEY_LISTEN] = "listen",
    [KEY_DB] = "db",
    [KEY_TLS_CERT] = "tls-cert",
    [KEY_TLS_KEY] = "tls-key",
    [KEY_TOKEN_FILE] = "bootstrap-token-file",
    [KEY_HEARTBEAT_TIMEOUT] = "heartbeat-timeout",
    [KEY_MAX_CONNECTIONS] = "max-connections",
    [KEY_MAX_PER_ADDRESS] = "max-connections-per-address",
    [KEY_IDLE_TIMEOUT] = "idle-timeout",
    [KEY_AUTH_IDLE_TIMEOUT] = "authenticated-idle-timeout",
    [KEY_STORAGE] = "storage",
    [KEY_IMAGE_SIZE_MAX] = "image-size-max",
    [KEY_LOG_LEVEL] = "log-level",
    [KEY_SCHEDULER_WEIGHER] = "scheduler-weigher",
    [KEY_HA_LEASE] = "ha-lease",
    [KEY_HA_FENCE_MARGIN] = "ha-fence-margin",
    [KEY_UI_DIR] = "ui-dir",
    [KEY_ADVERTISE] = "advertise",
    [KEY_LEADER_LEASE] = "leader-lease",
};

/* The unsigned members that numeric keys set, with their ranges and units,
 * by key. */
struct number_key {
    size_t offset;    /* Of the member in struct config. */
    unsigned int max; /* Largest value; the smallest is 1. */
    const char *unit; /* "seconds", "connections". */
};

static const struct number_key number_keys[N_KEYS] = {
    [KEY_MAX_CONNECTIONS] = {offsetof(struct config, max_connections),
                             CONFIG_CONNECTIONS_MAX, "connections"},
    [KEY_MAX_PER_ADDRESS] = {offsetof(struct config, max_per_address),
                             CONFIG_CONNECTIONS_MAX, "connections"},
    [KEY_IDLE_TIMEOUT] = {offsetof(struct config, idle_timeout),
                          CONFIG_IDLE_TIMEOUT_MAX, "seconds"},
    [KEY_AUTH_IDLE_TIMEOUT] = {offsetof(struct config, auth_idle_timeout),
                               CONFIG_IDLE_TIMEOUT_MAX, "seconds"},
};

void
config_init(struct config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->listen = xstrdup(CONFIG_LISTEN_DEFAULT);
    cfg->db = xstrdup(CONFIG_DB_DEFAULT);
    cfg->bootstrap_token_file = xstrdup(CONFIG_TOKEN_FILE_DEFAULT);
    cfg->heartbeat_timeout = CONFIG_HEARTBEAT_TIMEOUT_DEFAULT;
    cfg->max_connections = HTTP_MAX_CONNECTIONS;
    cfg->max_per_address = HTTP_MAX_PER_ADDRESS;
    cfg->idle_timeout = HTTP_IDLE_TIMEOUT;
    cfg->auth_idle_timeout = HTTP_AUTH_IDLE_TIMEOUT;
    cfg->storage = xstrdup(CONFIG_STORAGE_DEFAULT);
    cfg->ui_dir = xstrdup(UI_DIR_DEFAULT);
    cfg->image_size_max = API_IMAGE_SIZE_MAX_DEFAULT;
    cfg->log_level = LOG_LEVEL_INFO;
    cfg->scheduler_weigher = SCHED_SPREAD;
    cfg->ha_lease_ms = API_HA_LEASE_DEFAULT_MS;
    cfg->ha_fence_margin_ms = API_HA_FENCE_MARGIN_DEFAULT_MS;
    cfg->leader_lease_ms = LEADER_LEASE_DEFAULT_MS;
}

void
config_destroy(struct config *cfg)
{
    if (cfg) {
        free(cfg->listen);
        free(cfg->db);
        free(cfg->tls_cert);
        free(cfg->tls_key);
        free(cfg->bootstrap_token_file);
        free(cfg->storage);
        free(cfg->ui_dir);
        free(cfg->advertise);
        memset(cfg, 0, sizeof *cfg);
    }
}

static void
replace(char **dst, const char *value)
{
    free(*dst);
    *dst = value ? xstrdup(value) : NULL;
}

char *
config_set(struct config *cfg, const char *key, const char *value)
{
    int k;

    /* "store" is the name doc/replication.md gives the store's URL; "db",
     * from when it could only be an SQLite file, stays an alias. */
    if (!strcmp(key, "store")) {
        key = "db";
    }
    for (k = 0; k < N_KEYS; k++) {
        if (!strcmp(key, key_names[k])) {
            break;
        }
    }
    if (k == N_KEYS) {
        return xasprintf(
            "unknown key \"%s\" (expected one of: listen, store, db, "
            "tls-cert, "
            "tls-key, bootstrap-token-file, heartbeat-timeout, "
            "max-connections, max-connections-per-address, idle-timeout, "
            "authenticated-idle-timeout, storage, image-size-max, "
            "log-level, scheduler-weigher, ha-lease, ha-fence-margin, "
            "ui-dir, advertise, leader-lease)",
            key);
    }
    if (!*value) {
        return xasprintf("%s: empty value", key);
    }
    switch ((enum config_key) k) {
    case KEY_LISTEN: {
        struct sockaddr_storage ss;
        const char *problem;
        socklen_t len;

        problem = http_parse_listen(value, &ss, &len);
        if (problem) {
            return xasprintf("listen \"%s\": %s", value, problem);
        }
        replace(&cfg->listen, value);
        break;
    }
    case KEY_DB:
        replace(&cfg->db, value);
        break;
    case KEY_TLS_CERT:
        replace(&cfg->tls_cert, value);
        break;
    case KEY_TLS_KEY:
        replace(&cfg->tls_key, value);
        break;
    case KEY_TOKEN_FILE:
        replace(&cfg->bootstrap_token_file, value);
        break;
    case KEY_HEARTBEAT_TIMEOUT: {
        char *end;
        long n = strtol(value, &end, 10);

        if (!isdigit((unsigned char) *value) || *end || n < 1
            || n > CONFIG_HEARTBEAT_TIMEOUT_MAX) {
            return xasprintf("heartbeat-timeout \"%s\": expected a number of "
                             "seconds, 1..%d",
                             value, CONFIG_HEARTBEAT_TIMEOUT_MAX);
        }
        cfg->heartbeat_timeout = n;
        break;
    }
    case KEY_MAX_CONNECTIONS:
    case KEY_MAX_PER_ADDRESS:
    case KEY_IDLE_TIMEOUT:
    case KEY_AUTH_IDLE_TIMEOUT: {
        const struct number_key *nk = &number_keys[k];
        char *end;
        long n = strtol(value, &end, 10);

        if (!isdigit((unsigned char) *value) || *end || n < 1
            || n > (long) nk->max) {
            return xasprintf("%s \"%s\": expected a number of %s, 1..%u", key,
                             value, nk->unit, nk->max);
        }
        *(unsigned int *) ((char *) cfg + nk->offset) = n;
        break;
    }
    case KEY_STORAGE:
        if (value[0] != '/') {
            return xasprintf("storage \"%s\": expected an absolute path "
                             "(the directory every host sees)",
                             value);
        }
        replace(&cfg->storage, value);
        break;
    case KEY_IMAGE_SIZE_MAX: {
        uint64_t bytes;
        char *problem;

        if (units_parse_size(value, &bytes, &problem)) {
            char *msg = xasprintf("image-size-max: %s", problem);

            free(problem);
            return msg;
        }
        if (bytes > INT64_MAX) {
            return xasprintf("image-size-max \"%s\": at most 8 EiB", value);
        }
        cfg->image_size_max = bytes;
        break;
    }
    case KEY_LOG_LEVEL:
        if (log_parse_level(value, &cfg->log_level)) {
            return xasprintf(
                "log-level \"%s\": expected error, warn, info or debug",
                value);
        }
        break;
    case KEY_SCHEDULER_WEIGHER:
        if (!sched_weigher_parse(value, &cfg->scheduler_weigher)) {
            return xasprintf("scheduler-weigher \"%s\": expected spread or "
                             "pack",
                             value);
        }
        break;
    case KEY_HA_LEASE:
    case KEY_HA_FENCE_MARGIN: {
        bool lease = k == KEY_HA_LEASE;
        long min = lease ? CONFIG_HA_LEASE_MIN_MS : 0;
        long max = lease ? CONFIG_HA_LEASE_MAX_MS : CONFIG_HA_MARGIN_MAX_MS;
        char *end;
        long n = strtol(value, &end, 10);

        if (!isdigit((unsigned char) *value) || *end || n < min || n > max) {
            return xasprintf("%s \"%s\": expected a number of milliseconds, "
                             "%ld..%ld",
                             key, value, min, max);
        }
        *(lease ? &cfg->ha_lease_ms : &cfg->ha_fence_margin_ms) = n;
        break;
    }
    case KEY_UI_DIR:
        if (value[0] != '/') {
            return xasprintf("ui-dir \"%s\": expected an absolute path (the "
                             "directory of the web console's files)",
                             value);
        }
        replace(&cfg->ui_dir, value);
        break;
    case KEY_ADVERTISE: {
        const char *problem = url_list_check_one(value);

        if (problem) {
            return xasprintf("advertise \"%s\": %s (the URL other "
                             "controllers and clients reach this one at)",
                             value, problem);
        }
        replace(&cfg->advertise, value);
        break;
    }
    case KEY_LEADER_LEASE: {
        char *end;
        long n = strtol(value, &end, 10);

        if (!isdigit((unsigned char) *value) || *end || n < LEADER_LEASE_MIN_MS
            || n > LEADER_LEASE_MAX_MS) {
            return xasprintf("leader-lease \"%s\": expected a number of "
                             "milliseconds, %d..%d",
                             value, LEADER_LEASE_MIN_MS, LEADER_LEASE_MAX_MS);
        }
        cfg->leader_lease_ms = n;
        break;
    }
    case N_KEYS:
    default:
        break;
    }
    cfg->set |= 1u << k;
    return NULL;
}

/* config_set() for conffile_read(). */
static char *
set_cb(void *cfg, const char *key, const char *value)
{
    return config_set(cfg, key, value);
}

int
config_read_file(struct config *cfg, const char *path, char **msg)
{
    return conffile_read(path, set_cb, cfg, msg);
}

void
config_override(struct config *dst, const struct config *src)
{
    if (src->set & (1u << KEY_LISTEN)) {
        replace(&dst->listen, src->listen);
    }
    if (src->set & (1u << KEY_DB)) {
        replace(&dst->db, src->db);
    }
    if (src->set & (1u << KEY_TLS_CERT)) {
        replace(&dst->tls_cert, src->tls_cert);
    }
    if (src->set & (1u << KEY_TLS_KEY)) {
        replace(&dst->tls_key, src->tls_key);
    }
    if (src->set & (1u << KEY_TOKEN_FILE)) {
        replace(&dst->bootstrap_token_file, src->bootstrap_token_file);
    }
    if (src->set & (1u << KEY_HEARTBEAT_TIMEOUT)) {
        dst->heartbeat_timeout = src->heartbeat_timeout;
    }
    for (int k = KEY_MAX_CONNECTIONS; k <= KEY_AUTH_IDLE_TIMEOUT; k++) {
        if (src->set & (1u << k)) {
            size_t offset = number_keys[k].offset;

            *(unsigned int *) ((char *) dst + offset) =
                *(const unsigned int *) ((const char *) src + offset);
        }
    }
    if (src->set & (1u << KEY_STORAGE)) {
        replace(&dst->storage, src->storage);
    }
    if (src->set & (1u << KEY_IMAGE_SIZE_MAX)) {
        dst->image_size_max = src->image_size_max;
    }
    if (src->set & (1u << KEY_LOG_LEVEL)) {
        dst->log_level = src->log_level;
    }
    if (src->set & (1u << KEY_SCHEDULER_WEIGHER)) {
        dst->scheduler_weigher = src->scheduler_weigher;
    }
    if (src->set & (1u << KEY_HA_LEASE)) {
        dst->ha_lease_ms = src->ha_lease_ms;
    }
    if (src->set & (1u << KEY_HA_FENCE_MARGIN)) {
        dst->ha_fence_margin_ms = src->ha_fence_margin_ms;
    }
    if (src->set & (1u << KEY_UI_DIR)) {
        replace(&dst->ui_dir, src->ui_dir);
    }
    if (src->set & (1u << KEY_ADVERTISE)) {
        replace(&dst->advertise, src->advertise);
    }
    if (src->set & (1u << KEY_LEADER_LEASE)) {
        dst->leader_lease_ms = src->leader_lease_ms;
    }
    dst->set |= src->set;
}

char *
config_check(const struct config *cfg)
{
    if (!cfg->tls_cert != !cfg->tls_key) {
        return xasprintf("tls-cert and tls-key go together: give both for "
                         "HTTPS, or neither for HTTP");
    }
    if (config_leader_lease_ms(cfg) >= cfg->ha_lease_ms) {
        /* A new leader must be elected, and wait, within the lease the
         * old one granted (doc/replication.md). */
        return xasprintf("leader-lease (%d ms) must be shorter than "
                         "ha-lease (%d ms)",
                         cfg->leader_lease_ms, cfg->ha_lease_ms);
    }
    return NULL;
}

int
config_leader_lease_ms(const struct config *cfg)
{
    int half = cfg->ha_lease_ms / 2;

    if (cfg->set & (1u << KEY_LEADER_LEASE)
        || LEADER_LEASE_DEFAULT_MS < cfg->ha_lease_ms) {
        return cfg->leader_lease_ms;
    }
    /* Not given, and the default is too long for a short ha-lease: half
     * of that, so that a setting valid alone never fails for want of
     * another. */
    return half > LEADER_LEASE_MIN_MS ? half : LEADER_LEASE_MIN_MS;
}
