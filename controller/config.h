/* fabric-controller's settings: defaults, a "key = value" file, and
 * command-line options of the same names, which override the file.
 *
 *   listen = 127.0.0.1:9470
 *   store = /var/lib/fabric/controller.db   ("db" is an alias)
 *   tls-cert = /etc/fabric/controller.crt
 *   tls-key = /etc/fabric/controller.key
 *   bootstrap-token-file = /var/lib/fabric/admin.token
 *   heartbeat-timeout = 30
 *   max-connections = 1024
 *   max-connections-per-address = 64
 *   idle-timeout = 10
 *   authenticated-idle-timeout = 330
 *   storage = /var/lib/fabric/storage
 *   image-size-max = 64G
 *   log-level = info
 *   scheduler-weigher = spread
 *   ha-lease = 5000
 *   ha-fence-margin = 2000
 *   ui-dir = /usr/share/fabric/ui
 *   advertise = http://198.18.0.10:9470
 *   leader-lease = 3000
 *
 * Blank lines and lines starting with "#" are ignored, as is anything
 * after a "#" that follows white space. */
#ifndef CONTROLLER_CONFIG_H
#define CONTROLLER_CONFIG_H 1

#include <stdbool.h>
#include <stdint.h>

#include "controller/scheduler.h"
#include "utils/log.h"

#define CONFIG_FILE_DEFAULT "/etc/fabric/controller.conf"
#define CONFIG_LISTEN_DEFAULT "127.0.0.1:9470"
#define CONFIG_DB_DEFAULT "/var/lib/fabric/controller.db"
#define CONFIG_TOKEN_FILE_DEFAULT "/var/lib/fabric/admin.token"
#define CONFIG_STORAGE_DEFAULT "/var/lib/fabric/storage"
#define CONFIG_HEARTBEAT_TIMEOUT_DEFAULT 30
#define CONFIG_HEARTBEAT_TIMEOUT_MAX 86400
#define CONFIG_CONNECTIONS_MAX 65536  /* Largest max-connections. */
#define CONFIG_IDLE_TIMEOUT_MAX 86400 /* Largest idle timeouts. */
#define CONFIG_HA_LEASE_MIN_MS 500    /* "ha-lease" range, ms. */
#define CONFIG_HA_LEASE_MAX_MS 600000
#define CONFIG_HA_MARGIN_MAX_MS 600000 /* Largest "ha-fence-margin". */

/* The settings, one member per key. */
struct config {
    char *listen;                         /* "listen": ADDR:PORT. */
    char *db;                             /* "store" or "db": its URL. */
    char *tls_cert;                       /* "tls-cert": PEM file, or NULL. */
    char *tls_key;                        /* "tls-key": PEM file, or NULL. */
    char *bootstrap_token_file;           /* "bootstrap-token-file". */
    int heartbeat_timeout;                /* "heartbeat-timeout": seconds. */
    unsigned int max_connections;         /* "max-connections". */
    unsigned int max_per_address;         /* "max-connections-per-address". */
    unsigned int idle_timeout;            /* "idle-timeout": seconds. */
    unsigned int auth_idle_timeout;       /* "authenticated-idle-timeout". */
    char *storage;                        /* "storage": directory. */
    uint64_t image_size_max;              /* "image-size-max": bytes. */
    enum log_level log_level;             /* "log-level". */
    enum sched_weigher scheduler_weigher; /* "scheduler-weigher". */
    int ha_lease_ms;                      /* "ha-lease": ms. */
    int ha_fence_margin_ms;               /* "ha-fence-margin": ms. */
    char *ui_dir;                         /* "ui-dir": the web console's
                                           * files. */
    char *advertise;                      /* "advertise": the URL other
                                           * controllers and clients reach
                                           * this one at, or NULL. */
    int leader_lease_ms;                  /* "leader-lease": ms. */
    unsigned int set;                     /* Bit N: key N was given (see
                                           * config.c's table). */
};

/* Fills 'cfg' with the defaults, marking nothing as given. */
void config_init(struct config *cfg);
void config_destroy(struct config *cfg);

/* Sets 'key' to 'value' in 'cfg' and marks it given.  Returns NULL, or a
 * message saying what is wrong (the caller frees it). */
char *config_set(struct config *cfg, const char *key, const char *value);

/* Reads the file 'path' into 'cfg'.  Returns 0, ENOENT if it does not
 * exist, or another errno value with '*msg' set to a message naming the
 * file and line (the caller frees it). */
int config_read_file(struct config *cfg, const char *path, char **msg);

/* Copies into 'dst' every key given in 'src'. */
void config_override(struct config *dst, const struct config *src);

/* The leader's election lease, ms: "leader-lease" if given, else the
 * default if it is shorter than "ha-lease", else half of "ha-lease" (but
 * at least LEADER_LEASE_MIN_MS). */
int config_leader_lease_ms(const struct config *cfg);

/* Checks settings that depend on each other.  Returns NULL or a message
 * (the caller frees it). */
char *config_check(const struct config *cfg);

#endif /* controller/config.h */
