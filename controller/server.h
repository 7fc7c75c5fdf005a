/* The assembled controller: store, REST routes, authorization, audit and
 * metrics behind one HTTP server.  main.c runs one; tests run one on an
 * ephemeral port. */
#ifndef CONTROLLER_SERVER_H
#define CONTROLLER_SERVER_H 1

#include <stddef.h>
#include <stdint.h>

#include "controller/scheduler.h"

struct server;

/* What a controller needs to start. */
struct server_config {
    const char *listen;   /* "ADDR:PORT"; port 0 picks a free one. */
    const char *db;       /* Store URL or SQLite file. */
    const char *tls_cert; /* PEM certificate file, or NULL. */
    const char *tls_key;  /* PEM key file, with 'tls_cert'. */
    const char *bootstrap_token_file; /* Where the first admin token
                                       * goes. */
    int heartbeat_timeout;            /* Seconds. */
    size_t audit_keep;                /* Audit entries kept; 0 for the
                                       * default. */
    size_t audit_refused_keep;        /* Aggregates of refused requests
                                       * kept; 0 for the default. */
    size_t flowlogs_keep;             /* Flow log records kept; 0 for
                                       * FLOWLOGS_KEEP_DEFAULT. */
    size_t flowlogs_port_keep;        /* Of them per port; 0 for a tenth
                                       * of 'flowlogs_keep'. */
    unsigned int max_connections;     /* Connections at once; 0 for
                                       * HTTP_MAX_CONNECTIONS. */
    unsigned int max_per_address;     /* From one client address; 0 for
                                       * HTTP_MAX_PER_ADDRESS. */
    unsigned int idle_timeout;        /* Idle seconds before a request
                                       * authenticates; 0 for
                                       * HTTP_IDLE_TIMEOUT. */
    unsigned int auth_idle_timeout;   /* Idle seconds after; 0 for
                                       * HTTP_AUTH_IDLE_TIMEOUT. */
    const char *storage;              /* Storage directory (doc/vms.md),
                                       * created if missing; NULL for
                                       * none (image files refused). */
    uint64_t image_size_max;          /* Largest image file, bytes; 0
                                       * for API_IMAGE_SIZE_MAX_DEFAULT. */
    enum sched_weigher weigher;       /* VMs' default weigher. */
    int ha_lease_ms;                  /* The lease a heartbeat grants;
                                       * 0 for API_HA_LEASE_DEFAULT_MS. */
    int ha_fence_margin_ms;           /* The time a fencing agent takes
                                       * (doc/mobility.md), ms. */
    const char *ui_dir;               /* The web console's files, served
                                       * at /ui/; NULL for
                                       * UI_DIR_DEFAULT. */
    const char *advertise;            /* The URL others reach this
                                       * controller at, its name in the
                                       * election; NULL: made from
                                       * 'listen'. */
    int leader_lease_ms;              /* The election's lease; 0 for
                                       * LEADER_LEASE_DEFAULT_MS. */
};

/* Opens the store, creates the bootstrap token if needed and starts
 * serving.  Returns 0 or an errno value, having logged why. */
int server_start(const struct server_config *, struct server **);
/* The port the server listens on. */
uint16_t server_port(const struct server *);
/* Changes the heartbeat timeout of a running server (SIGHUP). */
void server_set_heartbeat_timeout(struct server *, int seconds);
/* Changes the weigher of VMs without a "placement" of their own. */
void server_set_weigher(struct server *, enum sched_weigher);
/* Changes the HA lease and fence margin of a running server (SIGHUP). */
void server_set_ha(struct server *, int lease_ms, int fence_margin_ms);
/* Ends long polls, stops serving, closes the store and frees. */
void server_stop(struct server *);

#endif /* controller/server.h */
