/* fabric-agent's settings: a "key = value" file and command-line options
 * of the same names, which override the file.
 *
 *   # /etc/fabric/agent.conf
 *   controller = https://ctl1.example.net:9470,https://ctl2.example.net:9470
 *   token-file = /etc/fabric/agent.token
 *   cacert = /etc/fabric/ca.pem
 *   underlay = eth1
 *   metrics = 198.18.0.1:9471
 *   advertise = http://198.18.0.1:9471
 *
 * Blank lines and lines starting with "#" are ignored, as is anything
 * after a "#" that follows white space.  Every key is a long option of
 * fabric-agent; options that choose what the program does (--once,
 * --show...) are not keys.
 *
 * Values are checked as they are set, so a mistake is reported with the
 * option or the file and line it came from.  Defaults that depend on the
 * machine (the host name, its CPUs and memory) are filled in by
 * agent_config_defaults(), after the sources are merged. */
#ifndef AGENT_AGENT_CONFIG_H
#define AGENT_AGENT_CONFIG_H 1

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "utils/log.h"

#define AGENT_CONFIG_FILE_DEFAULT "/etc/fabric/agent.conf"
#define AGENT_CONFIG_INSTANCE_DEFAULT "fabric"
#define AGENT_CONFIG_HEARTBEAT_DEFAULT 5 /* Seconds. */
#define AGENT_CONFIG_HEARTBEAT_MAX 3600  /* Seconds. */
#define AGENT_CONFIG_CACHE_DIR "/var/lib/fabric"
#define AGENT_CONFIG_STORAGE_DEFAULT "/var/lib/fabric/storage"
#define AGENT_CONFIG_RUN_DIR "/run/fabric"
#define AGENT_CONFIG_CONNTRACK_MIN 16
#define AGENT_CONFIG_CONNTRACK_MAX_MAX 16777216

/* The keys, in the order of the bits of 'set' in struct agent_config. */
enum agent_config_key {
    AGENT_CONFIG_STATE,
    AGENT_CONFIG_INSTANCE,
    AGENT_CONFIG_LOG_LEVEL,
    AGENT_CONFIG_PIDFILE,
    AGENT_CONFIG_CONTROLLER,
    AGENT_CONFIG_TOKEN,
    AGENT_CONFIG_TOKEN_FILE,
    AGENT_CONFIG_CACERT,
    AGENT_CONFIG_HOST,
    AGENT_CONFIG_VTEP,
    AGENT_CONFIG_UNDERLAY,
    AGENT_CONFIG_VCPUS,
    AGENT_CONFIG_MEMORY_MB,
    AGENT_CONFIG_STATE_CACHE,
    AGENT_CONFIG_METRICS,
    AGENT_CONFIG_HEARTBEAT_INTERVAL,
    AGENT_CONFIG_ADVERTISE,
    AGENT_CONFIG_FLOW_LOG,
    AGENT_CONFIG_CONNTRACK_MAX,
    AGENT_CONFIG_CONNTRACK_PORT_MAX,
    AGENT_CONFIG_DATAPATH,
    AGENT_CONFIG_HYPERVISOR,
    AGENT_CONFIG_STORAGE,
    AGENT_CONFIG_VM_RUN_DIR,
    AGENT_CONFIG_ACCEL,
    AGENT_CONFIG_PROBE_PORT,
    AGENT_CONFIG_N_KEYS
};

/* The settings, one member per key.  Strings are NULL when not set. */
struct agent_config {
    char *state;                 /* "state": standalone document. */
    char *instance;              /* "instance": datapath instance. */
    enum log_level log_level;    /* "log-level". */
    char *pidfile;               /* "pidfile". */
    char *controller;            /* "controller": base URLs separated by
                                  * commas (utils/url-list.h), each
                                  * without a trailing "/". */
    char *token;                 /* "token": API token. */
    char *token_file;            /* "token-file": file holding it. */
    char *cacert;                /* "cacert": CA bundle for https. */
    char *host;                  /* "host": this host's fabric name. */
    char *vtep;                  /* "vtep": IPv4 address a.b.c.d. */
    char *underlay;              /* "underlay": device name. */
    uint32_t vcpus;              /* "vcpus": capacity. */
    uint32_t memory_mb;          /* "memory-mb": capacity. */
    char *state_cache;           /* "state-cache": last desired state. */
    char *metrics;               /* "metrics": ADDR:PORT to serve. */
    uint32_t heartbeat_interval; /* "heartbeat-interval": seconds. */
    char *advertise;             /* "advertise": base URL the controller
                                  * reaches this agent's "metrics"
                                  * listener at, for traces. */
    char *flow_log;              /* "flow-log": the local flow log, or
                                  * "none". */
    uint32_t conntrack_max;      /* "conntrack-max": connections tracked
                                  * at once, 0 for the datapath's default;
                                  * fixed when the datapath is created. */
    uint32_t conntrack_port_max; /* "conntrack-port-max": of which one
                                  * port may own, 0 for a quarter of the
                                  * table. */
    char *datapath;              /* "datapath": backend type, NULL for
                                  * the default (see dp_type_known()). */
    char *hypervisor;            /* "hypervisor": "qemu" or "libvirt",
                                  * NULL for "qemu". */
    char *storage;               /* "storage": the directory of images
                                  * and VM disks every host sees, NULL
                                  * for AGENT_CONFIG_STORAGE_DEFAULT. */
    char *vm_run_dir;            /* "vm-run-dir": the hypervisor driver's
                                  * per-VM files, NULL for
                                  * AGENT_CONFIG_RUN_DIR/INSTANCE/vms. */
    char *accel;                 /* "accel": "auto", "kvm" or "tcg", NULL
                                  * for "auto" (vmm_accel_probe()). */
    uint32_t probe_port;         /* "probe-port": UDP port of the probes
                                  * between agents, 0 for 4790
                                  * (agent/probe.h). */
    uint32_t set;                /* Bit (1 << key): the key was given. */
};

void agent_config_init(struct agent_config *);
void agent_config_destroy(struct agent_config *);

/* Returns the key named 'name' (a long option name), or
 * AGENT_CONFIG_N_KEYS if there is none. */
enum agent_config_key agent_config_find(const char *name);
const char *agent_config_key_name(enum agent_config_key);

bool agent_config_is_set(const struct agent_config *, enum agent_config_key);

/* Sets 'key' to 'value' in 'cfg' and marks it given.  Returns NULL, or a
 * message that says what is wrong with 'value' and what is expected,
 * starting with the key's name (the caller frees it). */
char *agent_config_set(struct agent_config *cfg, enum agent_config_key key,
                       const char *value);

/* Forgets 'key': it reads as not given again. */
void agent_config_unset(struct agent_config *cfg, enum agent_config_key key);

/* Reads the file 'path' into 'cfg'.  Returns 0; ENOENT if the file does
 * not exist (with no message); or another errno value with '*msg' set to
 * a message naming the file and, for a bad line, the line number and
 * what is wrong with it (the caller frees it). */
int agent_config_read_file(struct agent_config *cfg, const char *path,
                           char **msg);

/* Whether 'a' and 'b' have the same value for 'key'. */
bool agent_config_same(const struct agent_config *a,
                       const struct agent_config *b,
                       enum agent_config_key key);

/* Copies into 'dst' every key given in 'src'. */
void agent_config_merge(struct agent_config *dst,
                        const struct agent_config *src);

/* Fills in every key that is not given with its default: instance
 * "fabric", the host name from gethostname() (up to its first dot, in
 * lower case), the number of online CPUs, the memory in /proc/meminfo, a
 * state cache in AGENT_CONFIG_CACHE_DIR named after the instance, and a
 * heartbeat every AGENT_CONFIG_HEARTBEAT_DEFAULT seconds.  Returns NULL,
 * or a message if a default cannot be found out (the caller frees it). */
char *agent_config_defaults(struct agent_config *cfg);

/* Checks the controller-mode settings of 'cfg' that depend on each other.
 * Returns NULL or a message (the caller frees it). */
char *agent_config_check(const struct agent_config *cfg);

/* Parses "ADDR:PORT" (an IPv4 address, or an IPv6 one in brackets, and a
 * port 1..65535) into '*ss' and '*len'.  Returns NULL, or a static message
 * that says what is wrong (not naming the value). */
const char *agent_config_parse_listen(const char *s,
                                      struct sockaddr_storage *ss,
                                      socklen_t *len);

/* Whether 'name' is a valid fabric host name: 1 to 63 lower-case letters,
 * digits and '-', starting and ending with a letter or a digit. */
bool agent_config_host_is_valid(const char *name);

#endif /* agent/agent-config.h */
