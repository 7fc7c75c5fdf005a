/* Controller mode: the agent as a client of fabric-controller
 * (doc/api.md, "Hosts" and "Desired state (agents)").
 *
 * Two threads talk to the controller, each over its own connection:
 *
 *   - The watch thread registers the host (POST /v1/hosts), then follows
 *     its desired state with a long poll (GET
 *     /v1/hosts/NAME/desired-state?since=REV&wait=30).  A full answer
 *     replaces the document, a delta is applied to it; either way the
 *     result is validated as a whole and, if valid, reconciled by
 *     difference and written to the state cache.  An invalid document is
 *     refused and the state in force stays.
 *
 *   - The report thread sends a heartbeat every few seconds (POST
 *     /v1/hosts/NAME/heartbeat, with the host's load) and the status of
 *     the host's ports (PUT /v1/hosts/NAME/port-status) whenever it
 *     changes.
 *
 * While the controller cannot be reached the datapath is left alone and
 * keeps forwarding; requests are retried with exponential backoff
 * (WATCH_BACKOFF_MIN doubling to WATCH_BACKOFF_MAX seconds, with jitter).
 * An answer that refuses the agent (401, 403, 400...) is logged with the
 * controller's message and retried every WATCH_REFUSED_RETRY seconds, or
 * at once after watch_set_token().  When the controller is back the watch
 * asks for what changed since the last revision it saw, which is cheap.
 *
 * The state cache (a JSON file {"revision": R, "document": {...}}) holds
 * the last valid document and its revision, so that an agent that starts
 * while the controller is away programs the datapath from it, and asks
 * the controller only for what changed since. */
#ifndef AGENT_WATCH_H
#define AGENT_WATCH_H 1

#include <stdbool.h>
#include <stdint.h>

struct core;
struct json_t;

#define WATCH_BACKOFF_MIN 0.5  /* First retry delay, seconds. */
#define WATCH_BACKOFF_MAX 30.0 /* Longest retry delay, seconds. */
#define WATCH_BACKOFF_JITTER                                                  \
    0.25                         /* A delay is shortened by up to this        \
                                  * fraction at random, so that agents        \
                                  * do not retry in step. */
#define WATCH_REFUSED_RETRY 30.0 /* Retry delay after a refusal. */
#define WATCH_WAIT 30            /* Long poll "wait", seconds. */

/* What the controller takes in one port status report (doc/api.md). */
#define WATCH_CONDITIONS_MAX 1000     /* Conditions. */
#define WATCH_CONDITION_TEXT_MAX 1024 /* Bytes of a name or a reason. */

/* What controller mode needs to know. */
struct watch_config {
    const char *controller;          /* Base URL, without trailing '/'. */
    const char *cacert;              /* CA bundle for https, or NULL. */
    const char *token;               /* API token (agent role), or NULL. */
    const char *host;                /* This host's name. */
    const char *vtep;                /* Its VTEP address. */
    const char *underlay;            /* Its underlay device. */
    uint32_t vcpus;                  /* Its CPUs. */
    uint32_t memory_mb;              /* Its memory, 0 if unknown. */
    const char *cache;               /* The state cache file. */
    unsigned int heartbeat_interval; /* Seconds between heartbeats. */
    const char *agent_url;           /* Where the controller reaches this
                                      * agent for traces, or NULL. */
    const char *agent_token;         /* The token it must show then
                                      * (agent/trace.h), with
                                      * 'agent_url'. */
    uint16_t probe_port;             /* UDP port of the probes between
                                      * agents (agent/probe.h); 0 for
                                      * PROBE_PORT_DEFAULT. */
};

struct watch;

/* Creates the controller client for 'core' (which must outlive it). */
struct watch *watch_create(const struct watch_config *, struct core *core);

/* Reads the state cache, if there is one, and reconciles the datapath
 * with its document at once.  Call before watch_start(). */
void watch_load_cache(struct watch *);

/* Starts the watch and report threads.  Returns 0 or an errno value. */
int watch_start(struct watch *);

/* Tells the report thread that ports may have changed status (after a
 * reconciliation the watch did not cause). */
void watch_notify(struct watch *);

/* Sends 'token' from now on, and retries a refused request at once. */
void watch_set_token(struct watch *, const char *token);

/* Stops both threads, aborting a request in progress.  The datapath is
 * left as it is. */
void watch_stop(struct watch *);
void watch_destroy(struct watch *);


/* Bounds the array 'conditions' of core_conditions() to what the
 * controller takes: at most WATCH_CONDITIONS_MAX, the last of them saying
 * how many more there are if there are more, and each "name" and "reason"
 * at most WATCH_CONDITION_TEXT_MAX bytes, cut between characters and ended
 * with "...". */
void watch_bound_conditions(struct json_t *conditions);

/* Exponential backoff. */
struct watch_backoff {
    double delay; /* The last delay before jitter, 0 before the first. */
};

void watch_backoff_reset(struct watch_backoff *);

/* Returns the next delay in seconds: WATCH_BACKOFF_MIN, then twice the
 * previous one up to WATCH_BACKOFF_MAX, each shortened by the fraction
 * WATCH_BACKOFF_JITTER * 'random' ('random' in 0..1). */
double watch_backoff_next(struct watch_backoff *, double random);

#endif /* agent/watch.h */
