#include "agent/agent-config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "datapath/dp.h"
#include "utils/addr.h"
#include "utils/conffile.h"
#include "utils/names.h"
#include "utils/url-list.h"
#include "utils/util.h"

#define VCPUS_MAX 1048576u
#define MEMORY_MB_MAX 2147483647u

/* How a key's value is checked and stored. */
enum value_type {
    TYPE_PATH,     /* A file name: any non-empty string. */
    TYPE_INSTANCE, /* A datapath instance name. */
    TYPE_LEVEL,    /* A log level. */
    TYPE_URL,      /* An http:// or https:// URL. */
    TYPE_URLS,     /* Such URLs separated by commas (utils/url-list.h). */
    TYPE_TOKEN,    /* An API token. */
    TYPE_HOST,     /* A fabric host name. */
    TYPE_IPV4,     /* A unicast IPv4 address. */
    TYPE_DEVICE,   /* A network device name. */
    TYPE_DATAPATH, /* A datapath backend type. */
    TYPE_UINT,     /* An integer in 'min'..'max'. */
    TYPE_LISTEN,   /* ADDR:PORT. */
    TYPE_DIR,      /* An absolute directory name. */
    TYPE_WORD,     /* One of the NULL-terminated 'words'. */
};

/* One key. */
struct key_info {
    const char *name;         /* The key, and the long option. */
    enum value_type type;     /* Its kind of value. */
    size_t offset;            /* Where struct agent_config stores it. */
    uint32_t min, max;        /* Range, for TYPE_UINT. */
    const char *const *words; /* The values TYPE_WORD takes. */
};

static const char *const hypervisors[] = {"qemu", "libvirt", NULL};
static const char *const accels[] = {"auto", "kvm", "tcg", NULL};

static const struct key_info keys[AGENT_CONFIG_N_KEYS] = {
    [AGENT_CONFIG_STATE] = {"state", TYPE_PATH,
                            offsetof(struct agent_config, state), 0, 0},
    [AGENT_CONFIG_INSTANCE] = {"instance", TYPE_INSTANCE,
                               offsetof(struct agent_config, instance), 0, 0},
    [AGENT_CONFIG_LOG_LEVEL] = {"log-level", TYPE_LEVEL,
                                offsetof(struct agent_config, log_level), 0,
                                0},
    [AGENT_CONFIG_PIDFILE] = {"pidfile", TYPE_PATH,
                              offsetof(struct agent_config, pidfile), 0, 0},
    [AGENT_CONFIG_CONTROLLER] = {"controller", TYPE_URLS,
                                 offsetof(struct agent_config, controller), 0,
                                 0},
    [AGENT_CONFIG_TOKEN] = {"token", TYPE_TOKEN,
                            offsetof(struct agent_config, token), 0, 0},
    [AGENT_CONFIG_TOKEN_FILE] = {"token-file", TYPE_PATH,
                                 offsetof(struct agent_config, token_file), 0,
                                 0},
    [AGENT_CONFIG_CACERT] = {"cacert", TYPE_PATH,
                             offsetof(struct agent_config, cacert), 0, 0},
    [AGENT_CONFIG_HOST] = {"host", TYPE_HOST,
                           offsetof(struct agent_config, host), 0, 0},
    [AGENT_CONFIG_VTEP] = {"vtep", TYPE_IPV4,
                           offsetof(struct agent_config, vtep), 0, 0},
    [AGENT_CONFIG_UNDERLAY] = {"underlay", TYPE_DEVICE,
                               offsetof(struct agent_config, underlay), 0, 0},
    [AGENT_CONFIG_VCPUS] = {"vcpus", TYPE_UINT,
                            offsetof(struct agent_config, vcpus), 1,
                            VCPUS_MAX},
    [AGENT_CONFIG_MEMORY_MB] = {"memory-mb", TYPE_UINT,
                                offsetof(struct agent_config, memory_mb), 1,
                                MEMORY_MB_MAX},
    [AGENT_CONFIG_STATE_CACHE] = {"state-cache", TYPE_PATH,
                                  offsetof(struct agent_config, state_cache),
                                  0, 0},
    [AGENT_CONFIG_METRICS] = {"metrics", TYPE_LISTEN,
                              offsetof(struct agent_config, metrics), 0, 0},
    [AGENT_CONFIG_HEARTBEAT_INTERVAL] = {"heartbeat-interval", TYPE_UINT,
                                         offsetof(struct agent_config,
                                                  heartbeat_interval),
                                         1, AGENT_CONFIG_HEARTBEAT_MAX},
    [AGENT_CONFIG_ADVERTISE] = {"advertise", TYPE_URL,
                                offsetof(struct agent_config, advertise), 0,
                                0},
    [AGENT_CONFIG_FLOW_LOG] = {"flow-log", TYPE_PATH,
                               offsetof(struct agent_config, flow_log), 0, 0},
    [AGENT_CONFIG_CONNTRACK_MAX] =
        {"conntrack-max", TYPE_UINT,
         offsetof(struct agent_config, conntrack_max),
         AGENT_CONFIG_CONNTRACK_MIN, AGENT_CONFIG_CONNTRACK_MAX_MAX},
    [AGENT_CONFIG_CONNTRACK_PORT_MAX] = {"conntrack-port-max", TYPE_UINT,
                                         offsetof(struct agent_config,
                                                  conntrack_port_max),
                                         1, AGENT_CONFIG_CONNTRACK_MAX_MAX},
    [AGENT_CONFIG_DATAPATH] = {"datapath", TYPE_DATAPATH,
                               offsetof(struct agent_config, datapath), 0, 0},
    [AGENT_CONFIG_HYPERVISOR] = {"hypervisor", TYPE_WORD,
                                 offsetof(struct agent_config, hypervisor), 0,
                                 0, hypervisors},
    [AGENT_CONFIG_STORAGE] = {"storage", TYPE_DIR,
                              offsetof(struct agent_config, storage), 0, 0},
    [AGENT_CONFIG_VM_RUN_DIR] = {"vm-run-dir", TYPE_DIR,
                                 offsetof(struct agent_config, vm_run_dir), 0,
                                 0},
    [AGENT_CONFIG_ACCEL] = {"accel", TYPE_WORD,
                            offsetof(struct agent_config, accel), 0, 0,
                            accels},
    [AGENT_CONFIG_PROBE_PORT] = {"probe-port", TYPE_UINT,
                                 offsetof(struct agent_config, probe_port), 1,
                                 65535},
};

static char **
string_member(struct agent_config *cfg, enum agent_config_key key)
{
    return (char **) ((char *) cfg + keys[key].offset);
}

static uint32_t *
uint_member(struct agent_config *cfg, enum agent_config_key key)
{
    return (uint32_t *) ((char *) cfg + keys[key].offset);
}

static bool
is_string(enum agent_config_key key)
{
    return keys[key].type != TYPE_UINT && keys[key].type != TYPE_LEVEL;
}

void
agent_config_init(struct agent_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->log_level = LOG_LEVEL_INFO;
}

void
agent_config_destroy(struct agent_config *cfg)
{
    if (cfg) {
        for (int k = 0; k < AGENT_CONFIG_N_KEYS; k++) {
            if (is_string(k)) {
                free(*string_member(cfg, k));
            }
        }
        agent_config_init(cfg);
    }
}

enum agent_config_key
agent_config_find(const char *name)
{
    int k;

    for (k = 0; k < AGENT_CONFIG_N_KEYS; k++) {
        if (!strcmp(name, keys[k].name)) {
            break;
        }
    }
    return k;
}

const char *
agent_config_key_name(enum agent_config_key key)
{
    return key < AGENT_CONFIG_N_KEYS ? keys[key].name : "?";
}

bool
agent_config_is_set(const struct agent_config *cfg, enum agent_config_key key)
{
    return (cfg->set >> key) & 1;
}

bool
agent_config_host_is_valid(const char *name)
{
    /* The host registers under this name, so the controller's rule for
     * object names is the rule. */
    return names_object_is_valid(name);
}

const char *
agent_config_parse_listen(const char *s, struct sockaddr_storage *ss,
                          socklen_t *len)
{
    const char *colon = strrchr(s, ':');
    char host[INET6_ADDRSTRLEN + 2];
    size_t host_len;
    char *end;
    long port;

    memset(ss, 0, sizeof *ss);
    if (!colon) {
        return "expected ADDR:PORT, e.g. 127.0.0.1:9471 or [::1]:9471";
    }
    port = strtol(colon + 1, &end, 10);
    if (!isdigit((unsigned char) colon[1]) || *end || port < 1
        || port > 65535) {
        return "expected a port 1..65535 after the last ':'";
    }
    host_len = colon - s;
    if (host_len >= sizeof host) {
        return "expected an IPv4 address or an IPv6 address in brackets "
               "before the port";
    }
    memcpy(host, s, host_len);
    host[host_len] = '\0';
    if (host_len >= 2 && host[0] == '[' && host[host_len - 1] == ']') {
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *) ss;

        host[host_len - 1] = '\0';
        if (inet_pton(AF_INET6, host + 1, &sin6->sin6_addr) != 1) {
            return "expected an IPv6 address between the brackets";
        }
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons(port);
        *len = sizeof *sin6;
    } else {
        struct sockaddr_in *sin = (struct sockaddr_in *) ss;

        if (inet_pton(AF_INET, host, &sin->sin_addr) != 1) {
            return "expected an IPv4 address (or an IPv6 address in "
                   "brackets) before the port";
        }
        sin->sin_family = AF_INET;
        sin->sin_port = htons(port);
        *len = sizeof *sin;
    }
    return NULL;
}

/* Checks and stores 'value' for the string key 'key'.  Returns NULL or a
 * message. */
static char *
set_string(struct agent_config *cfg, enum agent_config_key key,
           const char *value)
{
    const char *name = keys[key].name;
    char **member = string_member(cfg, key);
    const char *problem = NULL;
    char types[128];
    char *copy;

    switch (keys[key].type) {
    case TYPE_INSTANCE:
        if (strchr(value, '/') || value[0] == '.') {
            problem = "expected a name without '/' that does not start "
                      "with '.'";
        }
        break;
    case TYPE_URL:
        problem = url_list_check_one(value);
        break;
    case TYPE_URLS: {
        struct url_list list;
        char *msg = url_list_parse(value, &list);

        if (msg) {
            char *error = xasprintf("%s \"%s\": %s", name, value, msg);

            free(msg);
            return error;
        }
        /* Stored as checked, without trailing '/'s. */
        copy = xstrdup(list.urls[0]);
        for (size_t i = 1; i < list.n; i++) {
            char *longer = xasprintf("%s,%s", copy, list.urls[i]);

            free(copy);
            copy = longer;
        }
        url_list_clear(&list);
        free(*member);
        *member = copy;
        return NULL;
    }
    case TYPE_TOKEN:
        for (const char *p = value; *p; p++) {
            if (!isgraph((unsigned char) *p)) {
                problem = "expected a token of printable characters without "
                          "white space";
                break;
            }
        }
        break;
    case TYPE_HOST:
        if (!agent_config_host_is_valid(value)) {
            problem = "expected 1 to 63 lower-case letters, digits or '-', "
                      "starting and ending with a letter or digit";
        }
        break;
    case TYPE_IPV4: {
        uint32_t be, ip;

        if (!addr_parse_ipv4(value, &be)) {
            problem = "expected an IPv4 address a.b.c.d";
            break;
        }
        ip = ntohl(be);
        if ((ip >> 24) == 0 || (ip >> 24) == 127 || (ip >> 29) == 7) {
            problem = "expected a unicast IPv4 address, not in 0.0.0.0/8, "
                      "127.0.0.0/8 or 224.0.0.0/3";
        }
        break;
    }
    case TYPE_DATAPATH:
        if (!dp_type_known(value)) {
            snprintf(types, sizeof types,
                     "expected a datapath type this agent has: %s",
                     dp_types());
            problem = types;
        }
        break;
    case TYPE_DEVICE:
        if (!names_device_is_valid(value)) {
            problem = "expected a device name of 1 to 15 characters without "
                      "'/', ':' or white space";
        }
        break;
    case TYPE_LISTEN: {
        struct sockaddr_storage ss;
        socklen_t len;

        problem = agent_config_parse_listen(value, &ss, &len);
        break;
    }
    case TYPE_DIR:
        if (value[0] != '/' || strpbrk(value, "\r\n")) {
            problem = "expected an absolute directory name";
        }
        break;
    case TYPE_WORD: {
        const char *const *w;

        for (w = keys[key].words; *w && strcmp(*w, value); w++) {
            continue;
        }
        if (!*w) {
            size_t len = strlen("expected ");

            strcpy(types, "expected ");
            for (w = keys[key].words; *w; w++) {
                len += snprintf(types + len, sizeof types - len, "%s%s",
                                w == keys[key].words ? ""
                                : w[1]               ? ", "
                                                     : " or ",
                                *w);
            }
            problem = types;
        }
        break;
    }
    case TYPE_PATH:
    case TYPE_LEVEL:
    case TYPE_UINT:
    default:
        break;
    }
    if (problem) {
        return xasprintf("%s \"%s\": %s", name, value, problem);
    }
    copy = xstrdup(value);
    if (keys[key].type == TYPE_URL) {
        size_t len = strlen(copy);

        while (len > 0 && copy[len - 1] == '/') {
            copy[--len] = '\0';
        }
    }
    free(*member);
    *member = copy;
    return NULL;
}

char *
agent_config_set(struct agent_config *cfg, enum agent_config_key key,
                 const char *value)
{
    const struct key_info *info;

    if (key >= AGENT_CONFIG_N_KEYS) {
        return xasprintf("unknown key");
    }
    info = &keys[key];
    if (!*value) {
        return xasprintf("%s: empty value", info->name);
    }
    if (info->type == TYPE_LEVEL) {
        if (log_parse_level(value, &cfg->log_level)) {
            return xasprintf("%s \"%s\": expected error, warn, info or debug",
                             info->name, value);
        }
    } else if (info->type == TYPE_UINT) {
        unsigned long long n;
        char *end;

        errno = 0;
        n = strtoull(value, &end, 10);
        if (!isdigit((unsigned char) *value) || *end || errno || n < info->min
            || n > info->max) {
            return xasprintf("%s \"%s\": expected an integer %" PRIu32
                             "..%" PRIu32,
                             info->name, value, info->min, info->max);
        }
        *uint_member(cfg, key) = n;
    } else {
        char *problem = set_string(cfg, key, value);

        if (problem) {
            return problem;
        }
    }
    cfg->set |= 1u << key;
    return NULL;
}

void
agent_config_unset(struct agent_config *cfg, enum agent_config_key key)
{
    if (key >= AGENT_CONFIG_N_KEYS) {
        return;
    }
    if (is_string(key)) {
        char **member = string_member(cfg, key);

        free(*member);
        *member = NULL;
    } else if (keys[key].type == TYPE_UINT) {
        *uint_member(cfg, key) = 0;
    } else {
        cfg->log_level = LOG_LEVEL_INFO;
    }
    cfg->set &= ~(1u << key);
}

/* Takes setting 'name' = 'value' from a configuration file into 'cfg'
 * (a conffile_set_func).  Returns NULL or a message. */
static char *
set_cb(void *cfg, const char *name, const char *value)
{
    enum agent_config_key key = agent_config_find(name);

    if (key == AGENT_CONFIG_N_KEYS) {
        size_t len = 0;
        char *list, *msg;

        for (int k = 0; k < AGENT_CONFIG_N_KEYS; k++) {
            len += strlen(keys[k].name) + 2;
        }
        list = xzalloc(len + 1);
        for (int k = 0; k < AGENT_CONFIG_N_KEYS; k++) {
            strcat(list, k ? ", " : "");
            strcat(list, keys[k].name);
        }
        msg =
            xasprintf("unknown key \"%s\" (expected one of: %s)", name, list);
        free(list);
        return msg;
    }
    return agent_config_set(cfg, key, value);
}

int
agent_config_read_file(struct agent_config *cfg, const char *path, char **msg)
{
    return conffile_read(path, set_cb, cfg, msg);
}

bool
agent_config_same(const struct agent_config *a, const struct agent_config *b,
                  enum agent_config_key key)
{
    struct agent_config *x = (struct agent_config *) a;
    struct agent_config *y = (struct agent_config *) b;

    if (key >= AGENT_CONFIG_N_KEYS) {
        return true;
    } else if (is_string(key)) {
        const char *s = *string_member(x, key), *t = *string_member(y, key);

        return s && t ? !strcmp(s, t) : s == t;
    } else if (keys[key].type == TYPE_UINT) {
        return *uint_member(x, key) == *uint_member(y, key);
    }
    return a->log_level == b->log_level;
}

void
agent_config_merge(struct agent_config *dst, const struct agent_config *src)
{
    for (int k = 0; k < AGENT_CONFIG_N_KEYS; k++) {
        if (!agent_config_is_set(src, k)) {
            continue;
        }
        if (is_string(k)) {
            char **to = string_member(dst, k);

            free(*to);
            *to = xstrdup(*string_member((struct agent_config *) src, k));
        } else if (keys[k].type == TYPE_UINT) {
            *uint_member(dst, k) =
                *uint_member((struct agent_config *) src, k);
        } else {
            dst->log_level = src->log_level;
        }
        dst->set |= 1u << k;
    }
}

/* Returns the machine's memory in MiB from /proc/meminfo, or 0 if it
 * cannot be read. */
static uint32_t
memory_mb(void)
{
    unsigned long long kb = 0;
    char line[256];
    FILE *f = fopen("/proc/meminfo", "r");

    if (!f) {
        return 0;
    }
    while (fgets(line, sizeof line, f)) {
        if (sscanf(line, "MemTotal: %llu kB", &kb) == 1) {
            break;
        }
    }
    fclose(f);
    kb /= 1024;
    return kb > MEMORY_MB_MAX ? MEMORY_MB_MAX : kb;
}

char *
agent_config_defaults(struct agent_config *cfg)
{
    if (!cfg->instance) {
        cfg->instance = xstrdup(AGENT_CONFIG_INSTANCE_DEFAULT);
    }
    if (!cfg->heartbeat_interval) {
        cfg->heartbeat_interval = AGENT_CONFIG_HEARTBEAT_DEFAULT;
    }
    if (!cfg->state_cache) {
        cfg->state_cache = xasprintf(
            AGENT_CONFIG_CACHE_DIR "/agent-state-%s.json", cfg->instance);
    }
    if (!cfg->vcpus) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);

        cfg->vcpus = n > 0 && n <= VCPUS_MAX ? n : 1;
    }
    if (!cfg->memory_mb) {
        cfg->memory_mb = memory_mb();
    }
    if (!cfg->host) {
        char name[256] = "";
        char *dot;

        if (gethostname(name, sizeof name - 1) < 0) {
            return xasprintf("host: not given, and gethostname() failed: %s "
                             "(give --host)",
                             strerror(errno));
        }
        dot = strchr(name, '.');
        if (dot) {
            *dot = '\0';
        }
        for (char *p = name; *p; p++) {
            *p = tolower((unsigned char) *p);
        }
        if (!agent_config_host_is_valid(name)) {
            return xasprintf("host: not given, and this machine's name "
                             "\"%s\" is not a valid fabric host name "
                             "(expected 1 to 63 lower-case letters, digits "
                             "or '-'; give --host)",
                             name);
        }
        cfg->host = xstrdup(name);
    }
    return NULL;
}

char *
agent_config_check(const struct agent_config *cfg)
{
    if (!cfg->controller) {
        return xasprintf("controller: not given");
    }
    if (cfg->token && cfg->token_file) {
        return xasprintf("token and token-file cannot be used together");
    }
    if (cfg->cacert) {
        struct url_list list;
        char *msg = url_list_parse(cfg->controller, &list);
        bool https = !msg && url_list_all_https(&list);

        free(msg);
        url_list_clear(&list);
        if (!https) {
            return xasprintf("cacert applies to https:// controllers only, "
                             "and \"%s\" lists another",
                             cfg->controller);
        }
    }
    if (!cfg->underlay) {
        return xasprintf("underlay: not given (expected the device VXLAN "
                         "leaves this host by, e.g. --underlay eth1)");
    }
    if (cfg->advertise && !cfg->metrics) {
        return xasprintf("advertise needs metrics: traces are served on the "
                         "metrics listener (e.g. metrics = 198.18.0.1:9471)");
    }
    return NULL;
}
