#include "agent/state.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/param.h>

#include "datapath/dp-tables.h"
#include "firewall/policy.h"
#include "utils/addr.h"
#include "utils/names.h"
#include "utils/util.h"

#define STATE_MAX_NAME 63 /* Longest network or port name. */
#define STATE_NO_NETWORK SIZE_MAX

void
state_errors_init(struct state_errors *errors)
{
    errors->msgs = NULL;
    errors->n = 0;
}

void
state_errors_destroy(struct state_errors *errors)
{
    if (errors) {
        for (size_t i = 0; i < errors->n; i++) {
            free(errors->msgs[i]);
        }
        free(errors->msgs);
        state_errors_init(errors);
    }
}

static void
state_errors_addv(struct state_errors *errors, const char *format,
                  va_list args)
{
    char *msg;

    if (vasprintf(&msg, format, args) < 0) {
        msg = xstrdup("(out of memory formatting an error)");
    }
    errors->msgs =
        xrealloc(errors->msgs, (errors->n + 1) * sizeof *errors->msgs);
    errors->msgs[errors->n++] = msg;
}

void
state_errors_add(struct state_errors *errors, const char *format, ...)
{
    va_list args;

    va_start(args, format);
    state_errors_addv(errors, format, args);
    va_end(args);
}

/* Reports a problem with member 'key' of the object at 'path' ("" for the
 * document's top level; 'key' NULL for the object itself). */
static void __attribute__((format(printf, 4, 5)))
field_error(struct state_errors *errors, const char *path, const char *key,
            const char *format, ...)
{
    const char *sep = *path && key ? "." : "";
    char *msg;
    va_list args;

    if (!*path && !key) {
        path = "document";
    }
    va_start(args, format);
    if (vasprintf(&msg, format, args) < 0) {
        msg = NULL;
    }
    va_end(args);
    state_errors_add(errors, "%s%s%s: %s", path, sep, key ? key : "",
                     msg ? msg : "(out of memory)");
    free(msg);
}

/* How messages about a state document name the type of 'value'.  Not
 * shared with the controller's type_name() (controller/api.c): the two
 * word a real number differently, and their messages must stay as they
 * are. */
static const char *
json_type_name(const json_t *value)
{
    switch (json_typeof(value)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
        return "an integer";
    case JSON_REAL:
        return "a real number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    case JSON_NULL:
    default:
        return "null";
    }
}

/* Returns the string 's' quoted and escaped as JSON writes it, for
 * messages.  The caller frees it. */
static char *
quote(const char *s)
{
    json_t *value = json_string(s);
    char *q = value ? json_dumps(value, JSON_ENCODE_ANY) : NULL;

    json_decref(value);
    return q ? q : xstrdup("\"?\"");
}

static bool name_is_valid(const char *s, size_t max);

/* Returns 's', a name or key from the document, as a message shows it: as
 * it is when it is a plain word, otherwise quoted and escaped by quote(), so
 * that no line break or control character in a document can forge lines
 * of the log.  The caller frees it. */
static char *
word_for_message(const char *s)
{
    return name_is_valid(s, SIZE_MAX) ? xstrdup(s) : quote(s);
}

/* Reports each member of 'obj' (at 'path') whose key is not one of the
 * NULL-terminated 'allowed'. */
static void
check_keys(struct state_errors *errors, const char *path, const json_t *obj,
           const char *const allowed[])
{
    json_t *o = (json_t *) obj;

    for (void *it = json_object_iter(o); it;
         it = json_object_iter_next(o, it)) {
        const char *key = json_object_iter_key(it);
        size_t i;

        for (i = 0; allowed[i]; i++) {
            if (!strcmp(key, allowed[i])) {
                break;
            }
        }
        if (!allowed[i]) {
            char *shown = word_for_message(key);
            size_t len = 0;
            char *list;

            for (i = 0; allowed[i]; i++) {
                len += strlen(allowed[i]) + 2;
            }
            list = xzalloc(len + 1);
            for (i = 0; allowed[i]; i++) {
                strcat(list, i ? ", " : "");
                strcat(list, allowed[i]);
            }
            field_error(errors, path, shown,
                        "unknown key (expected one of: %s)", list);
            free(shown);
            free(list);
        }
    }
}

/* Returns member 'key' of 'obj' (at 'path') if it is present and has type
 * 'type', otherwise NULL.  Reports it if it has another type, or if it is
 * absent and 'required'.  'expected' describes a good value for
 * messages. */
static const json_t *
get_member(struct state_errors *errors, const json_t *obj, const char *path,
           const char *key, json_type type, bool required,
           const char *expected)
{
    const json_t *value = json_object_get(obj, key);

    if (!value) {
        if (required) {
            field_error(errors, path, key, "missing (expected %s)", expected);
        }
        return NULL;
    }
    if (json_typeof(value) != type
        && !(type == JSON_TRUE && json_typeof(value) == JSON_FALSE)) {
        field_error(errors, path, key, "expected %s, got %s", expected,
                    json_type_name(value));
        return NULL;
    }
    return value;
}

/* Whether 's' is a name of at most 'max' characters in a state document.
 * This is looser than names_object_is_valid() on purpose: a document may
 * be written by hand for file mode, and its names (host names up to 253
 * characters among them) may use upper case, '.' and '_', while the
 * controller's API names are lower case only. */
static bool
name_is_valid(const char *s, size_t max)
{
    size_t len = strlen(s);

    if (len == 0 || len > max) {
        return false;
    }
    return strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                     "0123456789._-")
           == len;
}

#define NAME_EXPECTED "a name of 1 to 63 letters, digits, '.', '_' or '-'"
#define HOSTNAME_EXPECTED                                                     \
    "a hostname of 1 to 63 letters, digits, '.', '_' or '-'"
#define HOST_NAME_EXPECTED                                                    \
    "a host name of 1 to 253 letters, digits, '.', '_' or '-'"
#define DEVICE_EXPECTED                                                       \
    "a device name of 1 to 15 characters without '/', ':' or spaces"

/* Parses the name 'key' of 'obj' into '*out': at most 'max' characters,
 * as 'expected' describes.  A string is stored even if it is not a valid
 * name (after reporting it), so that references to it do not also fail.
 * Returns true if '*out' was set. */
static bool
parse_name(struct state_errors *errors, const json_t *obj, const char *path,
           const char *key, size_t max, const char *expected, char **out)
{
    const json_t *value;
    char *what;

    what = xasprintf("a string, %s", expected);
    value = get_member(errors, obj, path, key, JSON_STRING, true, what);
    free(what);
    if (!value) {
        return false;
    }
    *out = xstrdup(json_string_value(value));
    if (!name_is_valid(*out, max)) {
        char *q = quote(*out);

        field_error(errors, path, key, "%s: not a valid name (expected %s)", q,
                    expected);
        free(q);
    }
    return true;
}

/* Parses the device name 'key' of 'obj' into '*out'.  Returns true if it
 * was present and valid. */
static bool
parse_device(struct state_errors *errors, const json_t *obj, const char *path,
             const char *key, bool required, char **out)
{
    const json_t *value = get_member(errors, obj, path, key, JSON_STRING,
                                     required, "a string, " DEVICE_EXPECTED);
    const char *s;

    if (!value) {
        return false;
    }
    s = json_string_value(value);
    if (!names_device_is_valid(s)) {
        char *q = quote(s);

        field_error(errors, path, key,
                    "%s: not a valid device name (expected %s)", q,
                    DEVICE_EXPECTED);
        free(q);
        return false;
    }
    *out = xstrdup(s);
    return true;
}

#define MAC_EXPECTED "a MAC address xx:xx:xx:xx:xx:xx"

/* Parses the unicast MAC 'key' of 'obj' into 'mac'.  Returns true if it was
 * present and valid. */
static bool
parse_mac(struct state_errors *errors, const json_t *obj, const char *path,
          const char *key, uint8_t mac[6])
{
    const json_t *value = get_member(errors, obj, path, key, JSON_STRING, true,
                                     "a string, " MAC_EXPECTED);
    const char *problem = NULL;
    const char *s;

    if (!value) {
        return false;
    }
    s = json_string_value(value);
    if (!addr_parse_mac(s, mac)) {
        problem = "not a MAC address (expected xx:xx:xx:xx:xx:xx)";
    } else if (mac[0] & 1) {
        problem = "a multicast MAC (expected a unicast MAC: the low bit of "
                  "the first byte clear)";
    } else if (addr_mac_is_zero(mac)) {
        problem = "the zero MAC (expected a unicast MAC)";
    }
    if (problem) {
        char *q = quote(s);

        field_error(errors, path, key, "%s: %s", q, problem);
        free(q);
        memset(mac, 0, 6);
        return false;
    }
    return true;
}

#define IPV4_EXPECTED "an IPv4 address a.b.c.d"

/* Parses 's' as a unicast IPv4 address into '*ip' (network order).
 * Returns NULL, or what is wrong with it. */
static const char *
ipv4_unicast_problem(const char *s, uint32_t *ip)
{
    uint32_t host;

    if (!addr_parse_ipv4(s, ip)) {
        return "not an IPv4 address (expected a.b.c.d)";
    }
    host = ntohl(*ip);
    if ((host >> 24) == 0 || (host >> 24) == 127 || (host >> 29) == 7) {
        return "not a unicast address (expected a unicast IPv4 address, "
               "not in 0.0.0.0/8, 127.0.0.0/8 or 224.0.0.0/3; omit the "
               "key for none)";
    }
    return NULL;
}

/* Parses the unicast IPv4 address 'key' of 'obj' into '*ip' (network
 * order).  Returns true if it was present and valid. */
static bool
parse_ipv4(struct state_errors *errors, const json_t *obj, const char *path,
           const char *key, bool required, uint32_t *ip)
{
    const json_t *value = get_member(errors, obj, path, key, JSON_STRING,
                                     required, "a string, " IPV4_EXPECTED);
    const char *problem;
    const char *s;

    if (!value) {
        return false;
    }
    s = json_string_value(value);
    problem = ipv4_unicast_problem(s, ip);
    if (problem) {
        char *q = quote(s);

        field_error(errors, path, key, "%s: %s", q, problem);
        free(q);
        *ip = 0;
        return false;
    }
    return true;
}

/* Parses the unicast IPv6 address 'key' of 'obj' into 'ip'.  Returns true
 * if it was present and valid. */
static bool
parse_ipv6(struct state_errors *errors, const json_t *obj, const char *path,
           const char *key, uint8_t ip[16])
{
    static const uint8_t loopback[16] = {[15] = 1};
    static const uint8_t zero[16];
    const json_t *value = get_member(errors, obj, path, key, JSON_STRING,
                                     false, "a string, an IPv6 address");
    const char *problem = NULL;
    const char *s;

    if (!value) {
        return false;
    }
    s = json_string_value(value);
    if (!addr_parse_ipv6(s, ip)) {
        problem = "not an IPv6 address (expected e.g. fd00::1)";
    } else if (!memcmp(ip, zero, 16) || !memcmp(ip, loopback, 16)
               || ip[0] == 0xff) {
        problem = "not a unicast address (expected a unicast IPv6 address, "
                  "not ::, ::1 or in ff00::/8; omit the key for none)";
    }
    if (problem) {
        char *q = quote(s);

        field_error(errors, path, key, "%s: %s", q, problem);
        free(q);
        memset(ip, 0, 16);
        return false;
    }
    return true;
}

/* Parses the integer 'key' of 'obj', which must be in 'min'..'max', into
 * '*out'.  Returns true if it was present and valid. */
static bool
parse_uint(struct state_errors *errors, const json_t *obj, const char *path,
           const char *key, bool required, uint32_t min, uint32_t max,
           uint32_t *out)
{
    char expected[64];
    const json_t *value;
    json_int_t n;

    snprintf(expected, sizeof expected, "an integer %" PRIu32 "..%" PRIu32,
             min, max);
    value =
        get_member(errors, obj, path, key, JSON_INTEGER, required, expected);
    if (!value) {
        return false;
    }
    n = json_integer_value(value);
    if (n < min || n > max) {
        field_error(errors, path, key,
                    "%" JSON_INTEGER_FORMAT " is out of range %" PRIu32
                    "..%" PRIu32,
                    n, min, max);
        return false;
    }
    *out = n;
    return true;
}

/* Parses the boolean 'key' of 'obj' into '*out', if present. */
static void
parse_bool(struct state_errors *errors, const json_t *obj, const char *path,
           const char *key, bool *out)
{
    const json_t *value =
        get_member(errors, obj, path, key, JSON_TRUE, false, "true or false");

    if (value) {
        *out = json_is_true(value);
    }
}

/* Returns the array 'key' of the top-level object 'root', or NULL if it is
 * absent (an empty list) or not an array (reported). */
static const json_t *
get_list(struct state_errors *errors, const json_t *root, const char *key)
{
    return get_member(errors, root, "", key, JSON_ARRAY, false,
                      "an array of objects");
}

/* Returns element 'i' of 'list', named 'name', if it is an object with no
 * unknown keys; reports it and returns NULL if it is not an object.  Stores
 * its path ("ports[3]") in 'path'. */
static const json_t *
get_element(struct state_errors *errors, const json_t *list, const char *name,
            size_t i, const char *const keys[], char *path, size_t path_size)
{
    const json_t *obj = json_array_get(list, i);

    snprintf(path, path_size, "%s[%zu]", name, i);
    if (!json_is_object(obj)) {
        field_error(errors, path, NULL, "expected an object, got %s",
                    json_type_name(obj));
        return NULL;
    }
    check_keys(errors, path, obj, keys);
    return obj;
}

/* Parses the integer 'key' of 'obj', which must be in 'min'..'max', into
 * '*out', if present.  Returns true if it was present and valid. */
static bool
parse_u64(struct state_errors *errors, const json_t *obj, const char *path,
          const char *key, uint64_t min, uint64_t max, const char *unit,
          uint64_t *out)
{
    char expected[96];
    const json_t *value;
    json_int_t n;

    snprintf(expected, sizeof expected,
             "an integer %" PRIu64 "..%" PRIu64 ", in %s", min, max, unit);
    value = get_member(errors, obj, path, key, JSON_INTEGER, false, expected);
    if (!value) {
        return false;
    }
    n = json_integer_value(value);
    if (n < 0 || (uint64_t) n < min || (uint64_t) n > max) {
        field_error(errors, path, key,
                    "%" JSON_INTEGER_FORMAT " is out of range %" PRIu64
                    "..%" PRIu64 " (%s)",
                    n, min, max, unit);
        return false;
    }
    *out = n;
    return true;
}

/* Parses the string 'key' of 'obj', which must be one of the
 * NULL-terminated 'words', into '*out' (its index), if present.  Returns
 * true if it was present and valid. */
static bool
parse_word(struct state_errors *errors, const json_t *obj, const char *path,
           const char *key, bool required, const char *const words[], int *out)
{
    char expected[128] = "";
    const json_t *value;
    const char *s;
    char *q;

    for (int i = 0; words[i]; i++) {
        size_t len = strlen(expected);

        snprintf(expected + len, sizeof expected - len, "%s\"%s\"",
                 i == 0         ? ""
                 : words[i + 1] ? ", "
                                : " or ",
                 words[i]);
    }
    value =
        get_member(errors, obj, path, key, JSON_STRING, required, expected);
    if (!value) {
        return false;
    }
    s = json_string_value(value);
    for (int i = 0; words[i]; i++) {
        if (!strcmp(s, words[i])) {
            *out = i;
            return true;
        }
    }
    q = quote(s);
    field_error(errors, path, key, "%s: expected %s", q, expected);
    free(q);
    return false;
}

/* Parses the optional "default_action" of the network 'net' at 'path'. */
static void
parse_default_action(struct state_errors *errors, const json_t *obj,
                     const char *path, struct state_network *net)
{
    static const char *const actions[] = {"allow", "deny", NULL};
    int action = 0;

    parse_word(errors, obj, path, "default_action", false, actions, &action);
    net->default_deny = action == 1;
}

#define IDENTITY_EXPECTED "0 for no group, or 256..49151"

/* Parses the optional security identity 'key' of 'obj' into '*out' (0 if
 * it is absent). */
static void
parse_identity_ref(struct state_errors *errors, const json_t *obj,
                   const char *path, const char *key, uint16_t *out)
{
    const json_t *value = get_member(errors, obj, path, key, JSON_INTEGER,
                                     false, "an integer, " IDENTITY_EXPECTED);
    json_int_t n;

    *out = 0;
    if (!value) {
        return;
    }
    n = json_integer_value(value);
    if (n != 0 && (n < STATE_MIN_IDENTITY || n > STATE_MAX_IDENTITY)) {
        field_error(errors, path, key,
                    "%" JSON_INTEGER_FORMAT " is not a group identity "
                    "(expected " IDENTITY_EXPECTED ")",
                    n);
        return;
    }
    *out = n;
}

static void
parse_host(struct state_errors *errors, const json_t *root,
           struct state_host *host)
{
    static const char *const keys[] = {"name", "vtep",        "underlay",
                                       "ttl",  "uplink_rate", NULL};
    const json_t *obj;
    uint32_t ttl = STATE_DEFAULT_TTL;

    obj = get_member(errors, root, "", "host", JSON_OBJECT, true,
                     "an object with \"vtep\" and \"underlay\"");
    if (!obj) {
        return;
    }
    check_keys(errors, "host", obj, keys);
    if (json_object_get(obj, "name")) {
        parse_name(errors, obj, "host", "name", 253, HOST_NAME_EXPECTED,
                   &host->name);
    }
    parse_ipv4(errors, obj, "host", "vtep", true, &host->vtep);
    parse_device(errors, obj, "host", "underlay", true, &host->underlay);
    parse_uint(errors, obj, "host", "ttl", false, 1, 255, &ttl);
    host->ttl = ttl;
    parse_u64(errors, obj, "host", "uplink_rate", STATE_MIN_UPLINK_RATE,
              STATE_MAX_RATE, "bits per second", &host->uplink_rate);
}

static const char *parse_cidr_string(const char *, struct state_cidr *);

/* Parses what DHCP needs of the network 'net' at 'path': its optional
 * "cidr" (an IPv4 prefix of 8..30 bits, as the controller's networks have)
 * and "dns_servers" (at most STATE_MAX_DNS_SERVERS unicast IPv4
 * addresses). */
static void
parse_network_dhcp(struct state_errors *errors, const json_t *obj,
                   const char *path, struct state_network *net)
{
    const json_t *value = get_member(errors, obj, path, "cidr", JSON_STRING,
                                     false, "a string, an IPv4 CIDR");
    const json_t *list;

    if (value) {
        const char *problem;
        struct state_cidr cidr;

        problem = parse_cidr_string(json_string_value(value), &cidr);
        if (!problem
            && (cidr.family != 4 || cidr.prefix_len < 8
                || cidr.prefix_len > 30)) {
            problem = "expected an IPv4 prefix of 8 to 30 bits";
        }
        if (problem) {
            char *q = quote(json_string_value(value));

            field_error(errors, path, "cidr", "%s: %s", q, problem);
            free(q);
        } else {
            memcpy(&net->net4, cidr.addr, 4);
            net->prefix_len = cidr.prefix_len;
        }
    }
    list = get_member(errors, obj, path, "dns_servers", JSON_ARRAY, false,
                      "an array of IPv4 addresses");
    if (list && json_array_size(list) > STATE_MAX_DNS_SERVERS) {
        field_error(errors, path, "dns_servers",
                    "%zu addresses (expected at most %d)",
                    json_array_size(list), STATE_MAX_DNS_SERVERS);
        return;
    }
    for (size_t i = 0; i < json_array_size(list); i++) {
        const char *s = json_string_value(json_array_get(list, i));
        uint32_t be;

        if (!s || !addr_parse_ipv4(s, &be) || (ntohl(be) >> 24) == 0
            || (ntohl(be) >> 24) == 127 || (ntohl(be) >> 29) == 7) {
            char *q = s ? quote(s) : xstrdup("not a string");

            field_error(errors, path, "dns_servers",
                        "[%zu] %s: not a unicast IPv4 address (expected "
                        "a.b.c.d, not in 0.0.0.0/8, 127.0.0.0/8 or "
                        "224.0.0.0/3)",
                        i, q);
            free(q);
            continue;
        }
        net->dns[net->n_dns++] = be;
    }
}

static void
parse_networks(struct state_errors *errors, const json_t *root,
               struct state *s)
{
    static const char *const keys[] = {
        "name", "vni", "mtu", "default_action", "cidr", "dns_servers", NULL};
    const json_t *list = get_list(errors, root, "networks");

    s->n_networks = json_array_size(list);
    s->networks = xcalloc(s->n_networks, sizeof *s->networks);
    for (size_t i = 0; i < s->n_networks; i++) {
        struct state_network *net = &s->networks[i];
        const json_t *obj;
        char path[32];

        obj =
            get_element(errors, list, "networks", i, keys, path, sizeof path);
        if (obj) {
            parse_name(errors, obj, path, "name", STATE_MAX_NAME,
                       NAME_EXPECTED, &net->name);
            parse_uint(errors, obj, path, "vni", true, 1, STATE_MAX_VNI,
                       &net->vni);
            parse_uint(errors, obj, path, "mtu", false, STATE_MIN_MTU,
                       UINT16_MAX, &net->mtu);
            parse_default_action(errors, obj, path, net);
            parse_network_dhcp(errors, obj, path, net);
        }
    }
}

/* Resolves the network name 'key' of 'obj' to an index in 's->networks'.
 * Returns STATE_NO_NETWORK if it is absent, invalid or unknown
 * (reported). */
static size_t
parse_network_ref(struct state_errors *errors, const json_t *obj,
                  const char *path, const struct state *s)
{
    const json_t *value = get_member(errors, obj, path, "network", JSON_STRING,
                                     true, "a string, the name of a network");
    const char *name;
    char *q;

    if (!value) {
        return STATE_NO_NETWORK;
    }
    name = json_string_value(value);
    for (size_t i = 0; i < s->n_networks; i++) {
        if (s->networks[i].name && !strcmp(s->networks[i].name, name)) {
            return i;
        }
    }
    q = quote(name);
    if (s->n_networks == 0) {
        field_error(errors, path, "network",
                    "%s: no such network (\"networks\" is empty)", q);
    } else if (s->n_networks <= 8) {
        char *names[8];
        size_t len = 0;
        char *list;

        for (size_t i = 0; i < s->n_networks; i++) {
            names[i] = word_for_message(
                s->networks[i].name ? s->networks[i].name : "");
            len += strlen(names[i]) + 2;
        }
        list = xzalloc(len + 1);
        for (size_t i = 0; i < s->n_networks; i++) {
            strcat(list, i ? ", " : "");
            strcat(list, names[i]);
            free(names[i]);
        }
        field_error(errors, path, "network",
                    "%s: no such network (expected one of: %s)", q, list);
        free(list);
    } else {
        field_error(errors, path, "network",
                    "%s: no such network (expected the name of one of the "
                    "%zu networks)",
                    q, s->n_networks);
    }
    free(q);
    return STATE_NO_NETWORK;
}

uint32_t
state_default_burst(uint64_t rate)
{
    uint64_t burst = rate / 8 / (1000 / STATE_BURST_TIME_MS);

    if (burst < STATE_MIN_BURST) {
        return STATE_MIN_BURST;
    }
    return burst > UINT32_MAX ? UINT32_MAX : (uint32_t) burst;
}

bool
state_qos_is_set(const struct state_qos *qos)
{
    return state_qos_is_shaped(qos) || qos->ingress_rate
           || qos->dscp != STATE_DSCP_KEEP;
}

bool
state_qos_is_shaped(const struct state_qos *qos)
{
    return qos->egress_rate || qos->egress_min_rate
           || qos->egress_priority != STATE_DEFAULT_PRIORITY;
}

/* Parses one direction of a QoS object at 'path': rate 'rate_key' and burst
 * 'burst_key' into '*rate' and '*burst'.  A burst needs a rate; a rate
 * without a burst gets state_default_burst(). */
static void
parse_qos_limit(struct state_errors *errors, const json_t *obj,
                const char *path, const char *rate_key, const char *burst_key,
                uint64_t *rate, uint32_t *burst)
{
    bool has_rate, has_burst;
    uint64_t b = 0;

    has_rate = parse_u64(errors, obj, path, rate_key, STATE_MIN_RATE,
                         STATE_MAX_RATE, "bits per second", rate);
    has_burst =
        parse_u64(errors, obj, path, burst_key, 1, UINT32_MAX, "bytes", &b);
    if (json_object_get(obj, burst_key) && !json_object_get(obj, rate_key)) {
        field_error(errors, path, burst_key,
                    "a burst without a rate (expected \"%s\" as well, or "
                    "no \"%s\")",
                    rate_key, burst_key);
        return;
    }
    if (has_rate) {
        *burst = has_burst ? (uint32_t) b : state_default_burst(*rate);
    } else {
        *rate = 0;
    }
}

/* Parses the optional "qos" object of the port at 'path'. */
static void
parse_qos(struct state_errors *errors, const json_t *port, const char *path,
          struct state_qos *qos)
{
    static const char *const keys[] = {"egress_rate",
                                       "egress_burst",
                                       "egress_min_rate",
                                       "egress_priority",
                                       "ingress_rate",
                                       "ingress_burst",
                                       "dscp",
                                       NULL};
    uint32_t dscp, priority;
    const json_t *obj;
    char qpath[48];

    qos->dscp = STATE_DSCP_KEEP;
    qos->egress_priority = STATE_DEFAULT_PRIORITY;
    obj =
        get_member(errors, port, path, "qos", JSON_OBJECT, false, "an object");
    if (!obj) {
        return;
    }
    snprintf(qpath, sizeof qpath, "%s.qos", path);
    check_keys(errors, qpath, obj, keys);
    parse_qos_limit(errors, obj, qpath, "egress_rate", "egress_burst",
                    &qos->egress_rate, &qos->egress_burst);
    parse_qos_limit(errors, obj, qpath, "ingress_rate", "ingress_burst",
                    &qos->ingress_rate, &qos->ingress_burst);
    if (parse_u64(errors, obj, qpath, "egress_min_rate", STATE_MIN_RATE,
                  STATE_MAX_RATE, "bits per second", &qos->egress_min_rate)
        && qos->egress_rate && qos->egress_min_rate > qos->egress_rate) {
        field_error(errors, qpath, "egress_min_rate",
                    "%" PRIu64 " is more than \"egress_rate\" %" PRIu64
                    " (expected a guarantee no higher than the limit)",
                    qos->egress_min_rate, qos->egress_rate);
    }
    if (parse_uint(errors, obj, qpath, "egress_priority", false, 0,
                   STATE_MAX_PRIORITY, &priority)) {
        qos->egress_priority = priority;
    }
    if (parse_uint(errors, obj, qpath, "dscp", false, 0, STATE_MAX_DSCP,
                   &dscp)) {
        qos->dscp = dscp;
    }
}

static void
parse_ports(struct state_errors *errors, const json_t *root, struct state *s)
{
    static const char *const keys[] = {
        "name",          "network", "device",   "mac",      "ip",      "ipv6",
        "port_security", "qos",     "identity", "hostname", "standby", NULL};
    const json_t *list = get_list(errors, root, "ports");

    s->n_ports = json_array_size(list);
    s->ports = xcalloc(s->n_ports, sizeof *s->ports);
    for (size_t i = 0; i < s->n_ports; i++) {
        struct state_port *port = &s->ports[i];
        const json_t *obj;
        char path[32];

        port->network = STATE_NO_NETWORK;
        port->port_security = true;
        port->qos.dscp = STATE_DSCP_KEEP;
        port->qos.egress_priority = STATE_DEFAULT_PRIORITY;
        obj = get_element(errors, list, "ports", i, keys, path, sizeof path);
        if (!obj) {
            continue;
        }
        parse_name(errors, obj, path, "name", STATE_MAX_NAME, NAME_EXPECTED,
                   &port->name);
        port->network = parse_network_ref(errors, obj, path, s);
        if (json_object_get(obj, "device")) {
            parse_device(errors, obj, path, "device", false, &port->device);
        } else if (port->name && name_is_valid(port->name, STATE_MAX_NAME)) {
            if (names_device_is_valid(port->name)) {
                port->device = xstrdup(port->name);
            } else {
                field_error(errors, path, "name",
                            "\"%s\": too long to be a device name, and "
                            "\"device\" is not set (expected a name of at "
                            "most 15 characters, or \"device\")",
                            port->name);
            }
        }
        if (port->device && s->host.underlay
            && !strcmp(port->device, s->host.underlay)) {
            field_error(errors, path, "device",
                        "\"%s\" is the underlay device (expected the "
                        "host-side device of a VM, a veth or a tap)",
                        port->device);
        }
        parse_mac(errors, obj, path, "mac", port->mac);
        parse_ipv4(errors, obj, path, "ip", false, &port->ip4);
        parse_ipv6(errors, obj, path, "ipv6", port->ip6);
        parse_bool(errors, obj, path, "port_security", &port->port_security);
        parse_bool(errors, obj, path, "standby", &port->standby);
        parse_qos(errors, obj, path, &port->qos);
        parse_identity_ref(errors, obj, path, "identity", &port->identity);
        if (json_object_get(obj, "hostname")) {
            parse_name(errors, obj, path, "hostname", STATE_MAX_HOSTNAME,
                       HOSTNAME_EXPECTED, &port->hostname);
        }
    }
}

static void
parse_remotes(struct state_errors *errors, const json_t *root, struct state *s)
{
    static const char *const keys[] = {"network", "mac",      "ip",
                                       "vtep",    "identity", NULL};
    const json_t *list = get_list(errors, root, "remotes");

    s->n_remotes = json_array_size(list);
    s->remotes = xcalloc(s->n_remotes, sizeof *s->remotes);
    for (size_t i = 0; i < s->n_remotes; i++) {
        struct state_remote *remote = &s->remotes[i];
        const json_t *obj;
        char path[32];

        remote->network = STATE_NO_NETWORK;
        obj = get_element(errors, list, "remotes", i, keys, path, sizeof path);
        if (!obj) {
            continue;
        }
        remote->network = parse_network_ref(errors, obj, path, s);
        parse_mac(errors, obj, path, "mac", remote->mac);
        parse_ipv4(errors, obj, path, "ip", false, &remote->ip4);
        if (parse_ipv4(errors, obj, path, "vtep", true, &remote->vtep)
            && s->host.vtep && remote->vtep == s->host.vtep) {
            char ip[INET_ADDRSTRLEN];

            inet_ntop(AF_INET, &remote->vtep, ip, sizeof ip);
            field_error(errors, path, "vtep",
                        "%s is this host's own VTEP (expected the VTEP of "
                        "another host; local endpoints belong in "
                        "\"ports\")",
                        ip);
        }
        parse_identity_ref(errors, obj, path, "identity", &remote->identity);
    }
}

static void
parse_external_vteps(struct state_errors *errors, const json_t *root,
                     struct state *s)
{
    static const char *const keys[] = {"network", "vtep", "gbp", NULL};
    const json_t *list = get_list(errors, root, "external_vteps");

    s->n_external_vteps = json_array_size(list);
    s->external_vteps =
        xcalloc(s->n_external_vteps, sizeof *s->external_vteps);
    for (size_t i = 0; i < s->n_external_vteps; i++) {
        struct state_external_vtep *ext = &s->external_vteps[i];
        const json_t *obj;
        char path[40];

        ext->network = STATE_NO_NETWORK;
        obj = get_element(errors, list, "external_vteps", i, keys, path,
                          sizeof path);
        if (!obj) {
            continue;
        }
        ext->network = parse_network_ref(errors, obj, path, s);
        if (parse_ipv4(errors, obj, path, "vtep", true, &ext->vtep)
            && s->host.vtep && ext->vtep == s->host.vtep) {
            field_error(errors, path, "vtep",
                        "is this host's own VTEP (expected the address of "
                        "a VTEP outside the fabric)");
        }
        parse_bool(errors, obj, path, "gbp", &ext->gbp);
    }
}

bool
state_vtep_is_external(const struct state *s, uint32_t vtep)
{
    for (size_t i = 0; i < s->n_external_vteps; i++) {
        if (s->external_vteps[i].vtep == vtep) {
            return true;
        }
    }
    return false;
}

bool
state_is_forwarded(const struct state *s, uint32_t vni, const uint8_t mac[6])
{
    for (size_t i = 0; i < s->n_forwards; i++) {
        if (s->forwards[i].vni == vni && !memcmp(s->forwards[i].mac, mac, 6)) {
            return true;
        }
    }
    return false;
}

bool
state_vtep_takes_gbp(const struct state *s, uint32_t vtep)
{
    for (size_t i = 0; i < s->n_external_vteps; i++) {
        if (s->external_vteps[i].vtep == vtep) {
            return s->external_vteps[i].gbp;
        }
    }
    return true;
}

/* Checks that an external VTEP says one thing about VXLAN-GBP, and that
 * the remote endpoints behind one are in a network it joined and carry no
 * identity: only fabric hosts vouch for their endpoints' groups. */
static void
check_external_vteps(struct state_errors *errors, const struct state *s)
{
    for (size_t i = 0; i < s->n_external_vteps; i++) {
        const struct state_external_vtep *ext = &s->external_vteps[i];

        for (size_t j = 0; j < i; j++) {
            const struct state_external_vtep *other = &s->external_vteps[j];
            char path[40];

            if (other->vtep != ext->vtep || other->gbp == ext->gbp) {
                continue;
            }
            snprintf(path, sizeof path, "external_vteps[%zu]", i);
            field_error(errors, path, "gbp",
                        "%s, but external_vteps[%zu] with the same VTEP says "
                        "%s (expected one setting per VTEP)",
                        ext->gbp ? "true" : "false", j,
                        other->gbp ? "true" : "false");
            break;
        }
    }
    for (size_t i = 0; i < s->n_remotes; i++) {
        const struct state_remote *remote = &s->remotes[i];
        bool external = false, joined = false;
        char path[32];

        for (size_t j = 0; j < s->n_external_vteps; j++) {
            if (s->external_vteps[j].vtep == remote->vtep) {
                external = true;
                joined |= s->external_vteps[j].network == remote->network;
            }
        }
        if (!external || remote->network == STATE_NO_NETWORK) {
            continue;
        }
        snprintf(path, sizeof path, "remotes[%zu]", i);
        if (!joined) {
            field_error(errors, path, "network",
                        "\"%s\": the remote's VTEP is an external VTEP that "
                        "did not join this network (expected an entry of "
                        "\"external_vteps\" for it)",
                        s->networks[remote->network].name);
        }
        if (remote->identity) {
            field_error(errors, path, "identity",
                        "%u: an endpoint behind an external VTEP has no "
                        "security identity (omit the key; the firewall knows "
                        "it by its address)",
                        (unsigned int) remote->identity);
        }
    }
}

/* Parses the CIDR 's' ("10.0.0.0/8", "fd00::/64") into '*cidr'.  Returns
 * NULL, or what is wrong with it. */
static const char *
parse_cidr_string(const char *s, struct state_cidr *cidr)
{
    const char *slash = strchr(s, '/');
    char addr[INET6_ADDRSTRLEN];
    unsigned int max;
    char *end;
    long len;

    memset(cidr, 0, sizeof *cidr);
    if (!slash || (size_t) (slash - s) >= sizeof addr) {
        return "not a CIDR (expected ADDRESS/LENGTH, e.g. 192.0.2.0/24 or "
               "fd00::/64)";
    }
    memcpy(addr, s, slash - s);
    addr[slash - s] = '\0';
    if (strchr(addr, ':')) {
        if (!addr_parse_ipv6(addr, cidr->addr)) {
            return "not a CIDR: bad IPv6 address (expected e.g. fd00::/64)";
        }
        cidr->family = 6;
        max = 128;
    } else {
        uint32_t ip;

        if (!addr_parse_ipv4(addr, &ip)) {
            return "not a CIDR: bad IPv4 address (expected e.g. "
                   "192.0.2.0/24)";
        }
        memcpy(cidr->addr, &ip, 4);
        cidr->family = 4;
        max = 32;
    }
    len = strtol(slash + 1, &end, 10);
    if (slash[1] < '0' || slash[1] > '9' || *end || len < 0 || len > max) {
        return cidr->family == 4
                   ? "bad prefix length (expected 0..32 after the '/')"
                   : "bad prefix length (expected 0..128 after the '/')";
    }
    cidr->prefix_len = len;
    for (unsigned int bit = len; bit < max; bit++) {
        if (cidr->addr[bit / 8] & (0x80 >> (bit % 8))) {
            return "host bits are set (expected the network address, with "
                   "every bit after the prefix length zero)";
        }
    }
    return NULL;
}

/* Returns the array member 'key' of 'obj' at 'path', or NULL if it is
 * absent (reported if 'required') or not an array (reported). */
static const json_t *
get_array(struct state_errors *errors, const json_t *obj, const char *path,
          const char *key, bool required, const char *expected)
{
    return get_member(errors, obj, path, key, JSON_ARRAY, required, expected);
}

/* Parses "governs" of the identity at 'path' into '*governs'. */
static void
parse_governs(struct state_errors *errors, const json_t *obj, const char *path,
              unsigned int *governs)
{
    static const char *const dirs[] = {"ingress", "egress", NULL};
    static const uint8_t bits[] = {POLICY_INGRESS, POLICY_EGRESS};
    const json_t *list, *value;
    char key[32];
    size_t i;

    *governs = 0;
    list = get_array(errors, obj, path, "governs", true,
                     "an array of \"ingress\" and \"egress\"");
    json_array_foreach(list, i, value)
    {
        const char *s = json_string_value(value);
        int d;

        snprintf(key, sizeof key, "governs[%zu]", i);
        for (d = 0; s && dirs[d]; d++) {
            if (!strcmp(s, dirs[d])) {
                break;
            }
        }
        if (!s || !dirs[d]) {
            char *q = s ? quote(s) : NULL;

            field_error(errors, path, key,
                        "%s%sexpected \"ingress\" or \"egress\"", q ? q : "",
                        q ? ": " : "");
            free(q);
        } else if (*governs & STATE_GOVERNS(bits[d])) {
            field_error(errors, path, key,
                        "\"%s\" is listed twice (expected each direction "
                        "at most once)",
                        s);
        } else {
            *governs |= STATE_GOVERNS(bits[d]);
        }
    }
}

/* Parses "groups" of the identity at 'path' into 'id'. */
static void
parse_groups(struct state_errors *errors, const json_t *obj, const char *path,
             struct state_identity *id)
{
    const json_t *list, *value;
    size_t i;

    list = get_array(errors, obj, path, "groups", false,
                     "an array of group names");
    id->groups = xcalloc(json_array_size(list), sizeof *id->groups);
    json_array_foreach(list, i, value)
    {
        if (!json_is_string(value)) {
            char key[32];

            snprintf(key, sizeof key, "groups[%zu]", i);
            field_error(errors, path, key, "expected a group name, got %s",
                        json_type_name(value));
            continue;
        }
        id->groups[id->n_groups++] = xstrdup(json_string_value(value));
    }
}

/* Parses the peer of the rule 'obj' at 'path' into 'rule': one of
 * "peer_identities", "peer_cidrs" or neither. */
static void
parse_rule_peer(struct state_errors *errors, const json_t *obj,
                const char *path, struct state_rule *rule)
{
    const json_t *ids = json_object_get(obj, "peer_identities");
    const json_t *cidrs = json_object_get(obj, "peer_cidrs");
    const json_t *value;
    char key[48];
    size_t i;

    rule->peer = STATE_PEER_ANY;
    if (ids && cidrs) {
        field_error(errors, path, NULL,
                    "both \"peer_identities\" and \"peer_cidrs\" (expected "
                    "at most one of them; neither for any peer)");
        return;
    }
    if (ids) {
        rule->peer = STATE_PEER_IDENTITIES;
        ids = get_array(errors, obj, path, "peer_identities", false,
                        "an array of identities 256..49151");
        rule->peer_identities =
            xcalloc(json_array_size(ids), sizeof *rule->peer_identities);
        json_array_foreach(ids, i, value)
        {
            json_int_t n = json_integer_value(value);

            snprintf(key, sizeof key, "peer_identities[%zu]", i);
            if (!json_is_integer(value)) {
                field_error(errors, path, key,
                            "expected an identity 256..49151, got %s",
                            json_type_name(value));
            } else if (n < STATE_MIN_IDENTITY || n > STATE_MAX_IDENTITY) {
                field_error(errors, path, key,
                            "%" JSON_INTEGER_FORMAT " is out of range "
                            "256..49151 (group identities)",
                            n);
            } else {
                rule->peer_identities[rule->n_peer_identities++] = n;
            }
        }
    } else if (cidrs) {
        rule->peer = STATE_PEER_CIDRS;
        cidrs = get_array(errors, obj, path, "peer_cidrs", false,
                          "an array of CIDRs");
        if (cidrs && !json_array_size(cidrs)) {
            field_error(errors, path, "peer_cidrs",
                        "empty (expected at least one CIDR; leave "
                        "\"peer_cidrs\" out for any peer)");
        }
        rule->cidrs = xcalloc(json_array_size(cidrs), sizeof *rule->cidrs);
        json_array_foreach(cidrs, i, value)
        {
            const char *problem;

            snprintf(key, sizeof key, "peer_cidrs[%zu]", i);
            if (!json_is_string(value)) {
                field_error(errors, path, key,
                            "expected a CIDR string, got %s",
                            json_type_name(value));
                continue;
            }
            problem = parse_cidr_string(json_string_value(value),
                                        &rule->cidrs[rule->n_cidrs]);
            if (problem) {
                char *q = quote(json_string_value(value));

                field_error(errors, path, key, "%s: %s", q, problem);
                free(q);
                continue;
            }
            rule->n_cidrs++;
        }
    }
}

/* Parses "ports" of the rule 'obj' at 'path' into 'rule'. */
static void
parse_rule_ports(struct state_errors *errors, const json_t *obj,
                 const char *path, struct state_rule *rule)
{
    static const char *expected = "an array [LO, HI] of ports 0..65535, "
                                  "LO <= HI";
    const json_t *ports =
        get_array(errors, obj, path, "ports", false, expected);
    const json_t *lo, *hi;

    if (!ports) {
        return;
    }
    if (rule->proto != PKT_IPPROTO_TCP && rule->proto != PKT_IPPROTO_UDP) {
        field_error(errors, path, "ports",
                    "only \"tcp\" and \"udp\" rules have ports (leave "
                    "\"ports\" out for this protocol)");
        return;
    }
    lo = json_array_get(ports, 0);
    hi = json_array_get(ports, 1);
    if (json_array_size(ports) != 2 || !json_is_integer(lo)
        || !json_is_integer(hi)) {
        field_error(errors, path, "ports", "expected %s", expected);
        return;
    }
    if (json_integer_value(lo) < 0 || json_integer_value(hi) > 65535
        || json_integer_value(lo) > json_integer_value(hi)) {
        field_error(errors, path, "ports",
                    "[%" JSON_INTEGER_FORMAT ", %" JSON_INTEGER_FORMAT
                    "] is not a port range (expected %s)",
                    json_integer_value(lo), json_integer_value(hi), expected);
        return;
    }
    rule->has_ports = true;
    rule->port_lo = json_integer_value(lo);
    rule->port_hi = json_integer_value(hi);
}

/* Parses the rule 'obj' at 'path' of identity 'id' into 'rule'. */
static void
parse_rule(struct state_errors *errors, const json_t *obj, const char *path,
           const struct state_identity *id, struct state_rule *rule)
{
    static const char *const dirs[] = {"ingress", "egress", NULL};
    static const char *const protos[] = {"tcp",    "udp", "icmp",
                                         "icmpv6", "any", NULL};
    static const uint8_t proto_numbers[] = {PKT_IPPROTO_TCP, PKT_IPPROTO_UDP,
                                            PKT_IPPROTO_ICMP,
                                            PKT_IPPROTO_ICMPV6, 0};
    static const char *const actions[] = {"allow", "deny", NULL};
    const json_t *group;
    bool log = false;
    uint32_t type;
    int d = 0, p = 4, a = 1;

    parse_uint(errors, obj, path, "id", true, 1, UINT32_MAX, &rule->id);
    group = get_member(errors, obj, path, "group", JSON_STRING, false,
                       "a string, the name of one of the identity's "
                       "groups");
    if (group) {
        const char *name = json_string_value(group);
        size_t i;

        rule->group = xstrdup(name);
        for (i = 0; i < id->n_groups; i++) {
            if (!strcmp(id->groups[i], name)) {
                break;
            }
        }
        if (id->n_groups && i == id->n_groups) {
            char *q = quote(name);

            field_error(errors, path, "group",
                        "%s is not one of the identity's \"groups\"", q);
            free(q);
        }
    }
    parse_word(errors, obj, path, "direction", true, dirs, &d);
    rule->direction = d == 0 ? POLICY_INGRESS : POLICY_EGRESS;
    parse_word(errors, obj, path, "protocol", true, protos, &p);
    rule->proto = proto_numbers[p];
    parse_rule_ports(errors, obj, path, rule);
    if (json_object_get(obj, "icmp_type")) {
        if (rule->proto != PKT_IPPROTO_ICMP
            && rule->proto != PKT_IPPROTO_ICMPV6) {
            field_error(errors, path, "icmp_type",
                        "only \"icmp\" and \"icmpv6\" rules have an ICMP "
                        "type (leave \"icmp_type\" out for this protocol)");
        } else if (parse_uint(errors, obj, path, "icmp_type", false, 0, 255,
                              &type)) {
            rule->has_icmp_type = true;
            rule->icmp_type = type;
        }
    }
    parse_rule_peer(errors, obj, path, rule);
    parse_word(errors, obj, path, "action", true, actions, &a);
    rule->action = a == 0 ? POLICY_ALLOW : POLICY_DENY;
    parse_bool(errors, obj, path, "log", &log);
    rule->log = log;
}

static void
parse_identities(struct state_errors *errors, const json_t *root,
                 struct state *s)
{
    static const char *const keys[] = {"id", "groups", "governs", "rules",
                                       NULL};
    static const char *const rule_keys[] = {
        "id",        "group",           "direction",  "protocol", "ports",
        "icmp_type", "peer_identities", "peer_cidrs", "action",   "log",
        NULL};
    const json_t *list = get_list(errors, root, "identities");

    s->n_identities = json_array_size(list);
    s->identities = xcalloc(s->n_identities, sizeof *s->identities);
    for (size_t i = 0; i < s->n_identities; i++) {
        struct state_identity *id = &s->identities[i];
        const json_t *obj, *rules;
        char rules_path[64];
        uint32_t n;
        char path[48];

        obj = get_element(errors, list, "identities", i, keys, path,
                          sizeof path);
        if (!obj) {
            continue;
        }
        if (parse_uint(errors, obj, path, "id", true, STATE_MIN_IDENTITY,
                       STATE_MAX_IDENTITY, &n)) {
            id->id = n;
        }
        parse_groups(errors, obj, path, id);
        parse_governs(errors, obj, path, &id->governs);
        rules = get_array(errors, obj, path, "rules", false,
                          "an array of rule objects");
        id->rules = xcalloc(json_array_size(rules), sizeof *id->rules);
        id->n_rules = json_array_size(rules);
        snprintf(rules_path, sizeof rules_path, "%s.rules", path);
        for (size_t j = 0; j < id->n_rules; j++) {
            struct state_rule *rule = &id->rules[j];
            const json_t *robj;
            char rpath[96];

            robj = get_element(errors, rules, rules_path, j, rule_keys, rpath,
                               sizeof rpath);
            if (!robj) {
                continue;
            }
            parse_rule(errors, robj, rpath, id, rule);
            if (json_object_get(robj, "direction")
                && !(id->governs & STATE_GOVERNS(rule->direction))) {
                field_error(errors, rpath, "direction",
                            "\"%s\", which the identity does not govern "
                            "(expected the direction in \"governs\" too)",
                            rule->direction == POLICY_INGRESS ? "ingress"
                                                              : "egress");
            }
            for (size_t k = 0; k < j; k++) {
                if (rule->id && id->rules[k].id == rule->id) {
                    field_error(errors, rpath, "id",
                                "%" PRIu32 " is already used by %s[%zu] "
                                "(expected a unique value)",
                                rule->id, rules_path, k);
                    break;
                }
            }
        }
    }
}

/* A value that must be unique, and where it came from.  Values are either
 * strings ('str') or bytes ('key'), which for per-network values start with
 * the network's index. */
struct uniq_item {
    const char *str;             /* The string, or NULL. */
    uint8_t key[20];             /* The bytes, when 'str' is NULL. */
    char text[INET6_ADDRSTRLEN]; /* 'key' as people write it. */
    const char *list;            /* "networks", "ports" or "remotes". */
    size_t index;                /* Index in 'list'. */
    size_t seq;                  /* Order of appearance in the document. */
};

/* The items being checked for duplicates. */
struct uniq_set {
    struct uniq_item *items; /* The items. */
    size_t n;                /* Number of 'items'. */
    size_t allocated;        /* Allocated 'items'. */
};

static struct uniq_item *
uniq_add(struct uniq_set *set, const char *list, size_t index)
{
    struct uniq_item *item;

    if (set->n == set->allocated) {
        set->allocated = set->allocated ? 2 * set->allocated : 16;
        set->items = xrealloc(set->items, set->allocated * sizeof *set->items);
    }
    item = &set->items[set->n];
    memset(item, 0, sizeof *item);
    item->list = list;
    item->index = index;
    item->seq = set->n++;
    return item;
}

static struct uniq_item *
uniq_add_addr(struct uniq_set *set, const char *list, size_t index,
              size_t network, const void *addr, size_t len)
{
    struct uniq_item *item = uniq_add(set, list, index);
    uint32_t net = network;

    memcpy(item->key, &net, sizeof net);
    memcpy(item->key + sizeof net, addr, len);
    return item;
}

static int
uniq_compare_values(const struct uniq_item *a, const struct uniq_item *b)
{
    if (a->str || b->str) {
        return strcmp(a->str ? a->str : "", b->str ? b->str : "");
    }
    return memcmp(a->key, b->key, sizeof a->key);
}

static int
uniq_compare(const void *a_, const void *b_)
{
    const struct uniq_item *a = a_, *b = b_;
    int cmp = uniq_compare_values(a, b);

    return cmp ? cmp : a->seq < b->seq ? -1 : a->seq > b->seq;
}

/* Reports every item of 'set' whose value an earlier item already has, as
 * a duplicate of field 'field'.  If 's' is nonnull the values are
 * per-network and the messages name the network.  Frees 'set'. */
static void
uniq_check(struct state_errors *errors, struct uniq_set *set,
           const char *field, const struct state *s)
{
    if (set->n < 2) {
        /* Nothing can repeat, and an empty set has no array for qsort(). */
        free(set->items);
        return;
    }
    qsort(set->items, set->n, sizeof *set->items, uniq_compare);
    for (size_t i = 1, first = 0; i < set->n; i++) {
        const struct uniq_item *item = &set->items[i];
        const struct uniq_item *orig = &set->items[first];
        char path[32];
        char *value;

        if (uniq_compare_values(item, orig)) {
            first = i;
            continue;
        }
        snprintf(path, sizeof path, "%s[%zu]", item->list, item->index);
        value = item->str ? quote(item->str) : xstrdup(item->text);
        if (s) {
            char *network;
            uint32_t net;

            memcpy(&net, item->key, sizeof net);
            network = quote(s->networks[net].name);
            field_error(errors, path, field,
                        "%s is already used in network %s by %s[%zu] "
                        "(expected a value unique within the network)",
                        value, network, orig->list, orig->index);
            free(network);
        } else {
            field_error(errors, path, field,
                        "%s is already used by %s[%zu] (expected a unique "
                        "value)",
                        value, orig->list, orig->index);
        }
        free(value);
    }
    free(set->items);
}

const struct state_identity *
state_find_identity(const struct state *s, uint16_t id)
{
    for (size_t i = 0; id && i < s->n_identities; i++) {
        if (s->identities[i].id == id) {
            return &s->identities[i];
        }
    }
    return NULL;
}

/* Checks that identities are unique and that every port's identity is one
 * of them. */
static void
check_identities(struct state_errors *errors, const struct state *s)
{
    for (size_t i = 0; i < s->n_identities; i++) {
        for (size_t j = 0; j < i; j++) {
            if (s->identities[i].id
                && s->identities[i].id == s->identities[j].id) {
                char path[48];

                snprintf(path, sizeof path, "identities[%zu]", i);
                field_error(errors, path, "id",
                            "%u is already used by identities[%zu] "
                            "(expected a unique value)",
                            s->identities[i].id, j);
                break;
            }
        }
    }
    for (size_t i = 0; i < s->n_ports; i++) {
        uint16_t id = s->ports[i].identity;

        if (id && !state_find_identity(s, id)) {
            char path[48];

            snprintf(path, sizeof path, "ports[%zu]", i);
            field_error(errors, path, "identity",
                        "%u is not in \"identities\" (expected 0 for no "
                        "group, or the id of one of the document's "
                        "identities)",
                        id);
        }
    }
}

static void
check_unique_names(struct state_errors *errors, const struct state *s)
{
    struct uniq_set names = {0}, vnis = {0}, ports = {0}, devices = {0};

    for (size_t i = 0; i < s->n_networks; i++) {
        const struct state_network *net = &s->networks[i];

        if (net->name) {
            uniq_add(&names, "networks", i)->str = net->name;
        }
        if (net->vni) {
            struct uniq_item *item = uniq_add(&vnis, "networks", i);

            memcpy(item->key, &net->vni, sizeof net->vni);
            snprintf(item->text, sizeof item->text, "%" PRIu32, net->vni);
        }
    }
    for (size_t i = 0; i < s->n_ports; i++) {
        if (s->ports[i].name) {
            uniq_add(&ports, "ports", i)->str = s->ports[i].name;
        }
        if (s->ports[i].device) {
            uniq_add(&devices, "ports", i)->str = s->ports[i].device;
        }
    }
    uniq_check(errors, &names, "name", NULL);
    uniq_check(errors, &vnis, "vni", NULL);
    uniq_check(errors, &ports, "name", NULL);
    uniq_check(errors, &devices, "device", NULL);
}

/* Checks that MACs and IP addresses are unique within each network. */
static void
check_unique_addresses(struct state_errors *errors, const struct state *s)
{
    struct uniq_set macs = {0}, ip4s = {0}, ip6s = {0};
    static const uint8_t zero6[16];
    struct uniq_item *item;

    for (size_t i = 0; i < s->n_ports; i++) {
        const struct state_port *port = &s->ports[i];

        if (port->network == STATE_NO_NETWORK) {
            continue;
        }
        if (!addr_mac_is_zero(port->mac)) {
            item =
                uniq_add_addr(&macs, "ports", i, port->network, port->mac, 6);
            addr_format_mac(port->mac, item->text);
        }
        if (port->ip4) {
            item =
                uniq_add_addr(&ip4s, "ports", i, port->network, &port->ip4, 4);
            inet_ntop(AF_INET, &port->ip4, item->text, sizeof item->text);
        }
        if (memcmp(port->ip6, zero6, 16)) {
            item =
                uniq_add_addr(&ip6s, "ports", i, port->network, port->ip6, 16);
            inet_ntop(AF_INET6, port->ip6, item->text, sizeof item->text);
        }
    }
    for (size_t i = 0; i < s->n_remotes; i++) {
        const struct state_remote *remote = &s->remotes[i];

        if (remote->network == STATE_NO_NETWORK) {
            continue;
        }
        if (!addr_mac_is_zero(remote->mac)) {
            item = uniq_add_addr(&macs, "remotes", i, remote->network,
                                 remote->mac, 6);
            addr_format_mac(remote->mac, item->text);
        }
        if (remote->ip4) {
            item = uniq_add_addr(&ip4s, "remotes", i, remote->network,
                                 &remote->ip4, 4);
            inet_ntop(AF_INET, &remote->ip4, item->text, sizeof item->text);
        }
    }
    uniq_check(errors, &macs, "mac", s);
    uniq_check(errors, &ip4s, "ip", s);
    uniq_check(errors, &ip6s, "ipv6", s);
}

static int
compare_u64(const void *a_, const void *b_)
{
    uint64_t a = *(const uint64_t *) a_, b = *(const uint64_t *) b_;

    return a < b ? -1 : a > b;
}

/* Checks that no network needs more than DP_FLOOD_MAX flood list members:
 * its local ports plus the distinct VTEPs of its remote endpoints. */
static void
check_flood_lists(struct state_errors *errors, const struct state *s)
{
    size_t *n_locals = xcalloc(s->n_networks, sizeof *n_locals);
    size_t *n_vteps = xcalloc(s->n_networks, sizeof *n_vteps);
    uint64_t *pairs =
        xcalloc(s->n_remotes + s->n_external_vteps, sizeof *pairs);
    size_t n_pairs = 0;

    for (size_t i = 0; i < s->n_ports; i++) {
        if (s->ports[i].network != STATE_NO_NETWORK) {
            n_locals[s->ports[i].network]++;
        }
    }
    for (size_t i = 0; i < s->n_remotes; i++) {
        const struct state_remote *remote = &s->remotes[i];

        if (remote->network != STATE_NO_NETWORK && remote->vtep) {
            pairs[n_pairs++] = (uint64_t) remote->network << 32 | remote->vtep;
        }
    }
    for (size_t i = 0; i < s->n_external_vteps; i++) {
        const struct state_external_vtep *ext = &s->external_vteps[i];

        if (ext->network != STATE_NO_NETWORK && ext->vtep) {
            pairs[n_pairs++] = (uint64_t) ext->network << 32 | ext->vtep;
        }
    }
    qsort(pairs, n_pairs, sizeof *pairs, compare_u64);
    for (size_t i = 0; i < n_pairs; i++) {
        if (i == 0 || pairs[i] != pairs[i - 1]) {
            n_vteps[pairs[i] >> 32]++;
        }
    }
    for (size_t i = 0; i < s->n_networks; i++) {
        size_t n = n_locals[i] + n_vteps[i];

        if (n > DP_FLOOD_MAX) {
            char *name = quote(s->networks[i].name);
            char path[32];

            snprintf(path, sizeof path, "networks[%zu]", i);
            field_error(errors, path, NULL,
                        "network %s has %zu flood list members (%zu local "
                        "ports and %zu remote VTEPs; expected at most %d)",
                        name, n, n_locals[i], n_vteps[i], DP_FLOOD_MAX);
            free(name);
        }
    }
    free(n_locals);
    free(n_vteps);
    free(pairs);
}

#define PATH_EXPECTED(DIR)                                                    \
    "a file name under \"" DIR "\" of the storage directory, of letters, "    \
    "digits, '.', '_', '-' and '/', without \"..\""

/* Whether 's' is a file name in the storage directory under 'dir': a
 * relative path of plain components, none of them "." or "..", that
 * cannot leave the directory. */
static bool
storage_path_is_valid(const char *s, const char *dir)
{
    size_t len = strlen(s), dir_len = strlen(dir);

    if (len <= dir_len || len > STATE_MAX_PATH || strncmp(s, dir, dir_len)
        || strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                     "0123456789._-/")
               != len) {
        return false;
    }
    for (const char *c = s; *c;) {
        size_t n = strcspn(c, "/");

        if (n == 0 || (n == 1 && c[0] == '.')
            || (n == 2 && c[0] == '.' && c[1] == '.')) {
            return false;
        }
        c += n;
        c += *c == '/';
        if (c[-1] == '/' && !*c) {
            return false;
        }
    }
    return true;
}

/* Parses the file name 'key' of 'obj', under directory 'dir' of the
 * storage, into '*out'.  Returns true if it was present and valid. */
static bool
parse_storage_path(struct state_errors *errors, const json_t *obj,
                   const char *path, const char *key, const char *dir,
                   const char *expected, char **out)
{
    const json_t *value =
        get_member(errors, obj, path, key, JSON_STRING, true, expected);
    const char *s;

    if (!value) {
        return false;
    }
    s = json_string_value(value);
    if (!storage_path_is_valid(s, dir)) {
        char *q = quote(s);

        field_error(errors, path, key, "%s: expected %s", q, expected);
        free(q);
        return false;
    }
    *out = xstrdup(s);
    return true;
}

/* Checks the string 'value' at 'path' (member 'key', or NULL for the
 * element itself): at most 'max' bytes, without a NUL, and, unless
 * 'multiline', without a line break.  Returns a copy of it, or NULL after
 * reporting it. */
static char *
check_text(struct state_errors *errors, const json_t *value, const char *path,
           const char *key, size_t max, bool multiline)
{
    size_t len = json_string_length(value);
    const char *s = json_string_value(value);

    if (len > max || strlen(s) != len || (!multiline && strpbrk(s, "\r\n"))) {
        field_error(errors, path, key,
                    "expected a string of at most %zu bytes%s, with no NUL",
                    max, multiline ? "" : " on one line");
        return NULL;
    }
    return xstrdup(s);
}

/* Whether 's' is a UUID as text: 8-4-4-4-12 lower-case hex digits, as
 * the controller writes them and the hypervisor drivers take them. */
static bool
uuid_is_valid(const char *s)
{
    if (strlen(s) != 36) {
        return false;
    }
    for (int i = 0; i < 36; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;

        if (dash ? s[i] != '-' : !strchr("0123456789abcdef", s[i])) {
            return false;
        }
    }
    return true;
}

/* Returns the index in 's->ports' of the port named 'name', or SIZE_MAX. */
static size_t
find_port(const struct state *s, const char *name)
{
    for (size_t i = 0; i < s->n_ports; i++) {
        if (s->ports[i].name && !strcmp(s->ports[i].name, name)) {
            return i;
        }
    }
    return SIZE_MAX;
}

/* Parses NIC 'obj' at 'path' of a VM into 'nic': a port of 's', with its
 * device and MAC. */
static void
parse_vm_nic(struct state_errors *errors, const json_t *obj, const char *path,
             const struct state *s, struct state_vm_nic *nic)
{
    const struct state_port *port;
    size_t index;
    char *q;

    if (!parse_name(errors, obj, path, "port", STATE_MAX_NAME, NAME_EXPECTED,
                    &nic->port)) {
        return;
    }
    parse_device(errors, obj, path, "device", true, &nic->device);
    parse_mac(errors, obj, path, "mac", nic->mac);
    if (!parse_uint(errors, obj, path, "mtu", false, STATE_MIN_MTU, UINT16_MAX,
                    &nic->mtu)) {
        nic->mtu = 0;
    }
    index = find_port(s, nic->port);
    q = quote(nic->port);
    if (index == SIZE_MAX) {
        field_error(errors, path, "port",
                    "%s: no such port (expected the name of one of the "
                    "document's \"ports\", which the NIC is)",
                    q);
        free(q);
        return;
    }
    port = &s->ports[index];
    if (nic->device && port->device && strcmp(nic->device, port->device)) {
        field_error(errors, path, "device",
                    "\"%s\", but port %s has device \"%s\" (expected the "
                    "port's device)",
                    nic->device, q, port->device);
    }
    if (!addr_mac_is_zero(nic->mac) && !addr_mac_is_zero(port->mac)
        && memcmp(nic->mac, port->mac, 6)) {
        char mac[18];

        addr_format_mac(port->mac, mac);
        field_error(errors, path, "mac",
                    "port %s has MAC %s (expected the port's MAC)", q, mac);
    }
    free(q);
}

/* Parses the optional "seed" of the VM at 'path' into 'vm'. */
static void
parse_vm_seed(struct state_errors *errors, const json_t *vm_obj,
              const char *path, struct state_vm *vm)
{
    static const char *const keys[] = {"file", "hostname", "ssh_keys",
                                       "user_data", NULL};
    const json_t *obj, *list, *value;
    char spath[96];
    size_t i;

    obj = get_member(errors, vm_obj, path, "seed", JSON_OBJECT, false,
                     "an object with \"file\"");
    if (!obj) {
        return;
    }
    snprintf(spath, sizeof spath, "%s.seed", path);
    check_keys(errors, spath, obj, keys);
    parse_storage_path(errors, obj, spath, "file", STATE_VM_DIR,
                       PATH_EXPECTED(STATE_VM_DIR), &vm->seed);
    if (json_object_get(obj, "hostname")) {
        parse_name(errors, obj, spath, "hostname", 253, HOST_NAME_EXPECTED,
                   &vm->hostname);
    }
    value = get_member(errors, obj, spath, "user_data", JSON_STRING, false,
                       "a string");
    if (value) {
        vm->user_data = check_text(errors, value, spath, "user_data",
                                   STATE_MAX_USER_DATA, true);
    }
    list = get_array(errors, obj, spath, "ssh_keys", false,
                     "an array of strings");
    if (json_array_size(list) > STATE_MAX_SSH_KEYS) {
        field_error(errors, spath, "ssh_keys",
                    "%zu keys (expected at most %d)", json_array_size(list),
                    STATE_MAX_SSH_KEYS);
        return;
    }
    vm->ssh_keys = xcalloc(json_array_size(list) + 1, sizeof *vm->ssh_keys);
    json_array_foreach(list, i, value)
    {
        char kpath[128];
        char *key;

        snprintf(kpath, sizeof kpath, "%s.ssh_keys[%zu]", spath, i);
        if (!json_is_string(value)) {
            field_error(errors, kpath, NULL, "expected a string, got %s",
                        json_type_name(value));
            continue;
        }
        key = check_text(errors, value, kpath, NULL, STATE_MAX_SSH_KEY, false);
        if (key) {
            vm->ssh_keys[vm->n_ssh_keys++] = key;
        }
    }
}

/* Parses the "disk" of the VM at 'path' into 'vm'. */
static void
parse_vm_disk(struct state_errors *errors, const json_t *vm_obj,
              const char *path, struct state_vm *vm)
{
    static const char *const keys[] = {"file", "image", "size_gb", NULL};
    const json_t *obj;
    char dpath[96];

    obj = get_member(errors, vm_obj, path, "disk", JSON_OBJECT, true,
                     "an object with \"file\" and \"image\"");
    if (!obj) {
        return;
    }
    snprintf(dpath, sizeof dpath, "%s.disk", path);
    check_keys(errors, dpath, obj, keys);
    parse_storage_path(errors, obj, dpath, "file", STATE_VM_DIR,
                       PATH_EXPECTED(STATE_VM_DIR), &vm->disk);
    parse_storage_path(errors, obj, dpath, "image", STATE_IMAGE_DIR,
                       PATH_EXPECTED(STATE_IMAGE_DIR), &vm->image);
    parse_u64(errors, obj, dpath, "size_gb", 1, STATE_MAX_DISK_GB, "GiB",
              &vm->disk_gb);
}

/* Parses the migration id 'key' of 'obj' at 'path' into '*out'. */
static void
parse_migration_id(struct state_errors *errors, const json_t *obj,
                   const char *path, char **out)
{
    const json_t *id = get_member(errors, obj, path, "id", JSON_STRING, true,
                                  "a string, the migration's UUID");

    if (id && !uuid_is_valid(json_string_value(id))) {
        char *q = quote(json_string_value(id));

        field_error(errors, path, "id",
                    "%s: not a UUID (expected 8-4-4-4-12 lower-case hex "
                    "digits)",
                    q);
        free(q);
    } else if (id) {
        *out = xstrdup(json_string_value(id));
    }
}

/* Whether 'uri' is "tcp:A.B.C.D:PORT", the form the agent listens on. */
static bool
migration_uri_is_valid(const char *uri)
{
    unsigned int a, b, c, d, port;
    char end;

    return sscanf(uri, "tcp:%u.%u.%u.%u:%u%c", &a, &b, &c, &d, &port, &end)
               == 5
           && a < 256 && b < 256 && c < 256 && d < 256 && port > 0
           && port < 65536
           && strspn(uri + 4, "0123456789.:") == strlen(uri + 4);
}

/* Parses the optional "incoming" and "migrate" of the VM at 'path' into
 * 'vm' (doc/mobility.md). */
static void
parse_vm_migration(struct state_errors *errors, const json_t *vm_obj,
                   const char *path, struct state_vm *vm)
{
    static const char *const in_keys[] = {"id", "from", "from_vtep", NULL};
    static const char *const out_keys[] = {"id",
                                           "to",
                                           "to_vtep",
                                           "uri",
                                           "downtime_ms",
                                           "max_bandwidth_mbps",
                                           "auto_converge",
                                           NULL};
    const json_t *obj;
    char mpath[96];

    obj = get_member(errors, vm_obj, path, "incoming", JSON_OBJECT, false,
                     "an object with \"id\", \"from\" and \"from_vtep\"");
    if (obj) {
        struct state_vm_incoming *in = xzalloc(sizeof *in);

        vm->incoming = in;
        snprintf(mpath, sizeof mpath, "%s.incoming", path);
        check_keys(errors, mpath, obj, in_keys);
        parse_migration_id(errors, obj, mpath, &in->id);
        parse_name(errors, obj, mpath, "from", 253, HOST_NAME_EXPECTED,
                   &in->from);
        parse_ipv4(errors, obj, mpath, "from_vtep", true, &in->from_vtep);
    }
    obj = get_member(errors, vm_obj, path, "migrate", JSON_OBJECT, false,
                     "an object with \"id\", \"to\", \"to_vtep\" and "
                     "\"uri\"");
    if (obj) {
        struct state_vm_migrate *out = xzalloc(sizeof *out);
        const json_t *uri;
        uint64_t n;

        vm->migrate = out;
        out->downtime_ms = STATE_DEFAULT_DOWNTIME_MS;
        out->auto_converge = true;
        snprintf(mpath, sizeof mpath, "%s.migrate", path);
        check_keys(errors, mpath, obj, out_keys);
        parse_migration_id(errors, obj, mpath, &out->id);
        parse_name(errors, obj, mpath, "to", 253, HOST_NAME_EXPECTED,
                   &out->to);
        parse_ipv4(errors, obj, mpath, "to_vtep", true, &out->to_vtep);
        uri = get_member(errors, obj, mpath, "uri", JSON_STRING, true,
                         "a string \"tcp:A.B.C.D:PORT\"");
        if (uri && !migration_uri_is_valid(json_string_value(uri))) {
            char *q = quote(json_string_value(uri));

            field_error(errors, mpath, "uri",
                        "%s: expected \"tcp:A.B.C.D:PORT\", where the "
                        "destination's QEMU listens",
                        q);
            free(q);
        } else if (uri) {
            out->uri = xstrdup(json_string_value(uri));
        }
        if (parse_u64(errors, obj, mpath, "downtime_ms", 1,
                      STATE_MAX_DOWNTIME_MS, "ms", &n)) {
            out->downtime_ms = n;
        }
        if (parse_u64(errors, obj, mpath, "max_bandwidth_mbps", 0,
                      STATE_MAX_BANDWIDTH_MBPS, "Mbit/s, 0 for no limit",
                      &n)) {
            out->max_bandwidth_mbps = n;
        }
        parse_bool(errors, obj, mpath, "auto_converge", &out->auto_converge);
    }
    if (vm->incoming && vm->migrate) {
        field_error(errors, path, "migrate",
                    "the VM is also \"incoming\" (expected one of "
                    "\"incoming\" and \"migrate\", never both)");
    }
}

/* Parses the optional "fabric_vteps" of 'root' into 's': the VTEPs of
 * other fabric hosts, unicast, neither ours nor an external VTEP's. */
static void
parse_fabric_vteps(struct state_errors *errors, const json_t *root,
                   struct state *s)
{
    const json_t *list =
        get_member(errors, root, "", "fabric_vteps", JSON_ARRAY, false,
                   "an array of IPv4 addresses");
    const json_t *value;
    size_t i;

    s->fabric_vteps =
        xcalloc(json_array_size(list) + 1, sizeof *s->fabric_vteps);
    json_array_foreach(list, i, value)
    {
        const char *problem = "expected a string, an IPv4 address";
        char path[48];
        uint32_t vtep;

        snprintf(path, sizeof path, "fabric_vteps[%zu]", i);
        if (json_is_string(value)) {
            problem = ipv4_unicast_problem(json_string_value(value), &vtep);
        }
        if (!problem
            && (vtep == s->host.vtep || state_vtep_is_external(s, vtep))) {
            problem = "this host's own VTEP or an external VTEP (expected "
                      "another fabric host's)";
        }
        if (problem) {
            field_error(errors, path, NULL, "%s", problem);
        } else {
            s->fabric_vteps[s->n_fabric_vteps++] = vtep;
        }
    }
}

/* Whether 's' has a port with MAC 'mac' in the network of VNI 'vni'. */
static bool
state_has_port_mac(const struct state *s, uint32_t vni, const uint8_t mac[6])
{
    for (size_t i = 0; i < s->n_ports; i++) {
        size_t net = s->ports[i].network;

        if (net < s->n_networks && s->networks[net].vni == vni
            && !memcmp(s->ports[i].mac, mac, 6)) {
            return true;
        }
    }
    return false;
}

/* The remote with MAC 'mac' in the network of VNI 'vni' in 's', or NULL. */
static const struct state_remote *
state_find_remote(const struct state *s, uint32_t vni, const uint8_t mac[6])
{
    for (size_t i = 0; i < s->n_remotes; i++) {
        size_t net = s->remotes[i].network;

        if (net < s->n_networks && s->networks[net].vni == vni
            && !memcmp(s->remotes[i].mac, mac, 6)) {
            return &s->remotes[i];
        }
    }
    return NULL;
}

/* Parses the optional "forward" of 'root' into 's' (doc/mobility.md): each
 * {"vni", "mac", "vtep"} a MAC that moved to another fabric host, once in
 * its VNI, never a port's there, and a remote's only at the same VTEP (the
 * remote gives its addresses and flooding; the FDB entry, one per MAC, is
 * the forward's). */
static void
parse_forwards(struct state_errors *errors, const json_t *root,
               struct state *s)
{
    static const char *const keys[] = {"vni", "mac", "vtep", NULL};
    const json_t *list = get_list(errors, root, "forward");
    size_t n = json_array_size(list);

    s->forwards = xcalloc(n + 1, sizeof *s->forwards);
    for (size_t i = 0; i < n; i++) {
        struct state_forward f = {.vni = 0};
        const struct state_remote *remote;
        const json_t *obj;
        bool ok;
        char path[32];

        obj = get_element(errors, list, "forward", i, keys, path, sizeof path);
        if (!obj) {
            continue;
        }
        ok = parse_uint(errors, obj, path, "vni", true, 1, STATE_MAX_VNI,
                        &f.vni);
        ok = parse_mac(errors, obj, path, "mac", f.mac) && ok;
        ok = parse_ipv4(errors, obj, path, "vtep", true, &f.vtep) && ok;
        if (ok
            && (f.vtep == s->host.vtep || state_vtep_is_external(s, f.vtep))) {
            field_error(errors, path, "vtep",
                        "this host's own VTEP or an external VTEP (expected "
                        "the fabric host the MAC moved to)");
            ok = false;
        }
        if (ok && state_has_port_mac(s, f.vni, f.mac)) {
            field_error(errors, path, "mac",
                        "a port's MAC in VNI %u (expected a MAC that left "
                        "this host)",
                        f.vni);
            ok = false;
        }
        remote = ok ? state_find_remote(s, f.vni, f.mac) : NULL;
        if (remote && remote->vtep != f.vtep) {
            field_error(errors, path, "vtep",
                        "a remote has the MAC in VNI %u behind another VTEP "
                        "(expected the remote's VTEP, where the MAC went)",
                        f.vni);
            ok = false;
        }
        if (ok && state_is_forwarded(s, f.vni, f.mac)) {
            field_error(errors, path, "mac",
                        "listed twice in VNI %u (expected each MAC once)",
                        f.vni);
            ok = false;
        }
        if (ok) {
            s->forwards[s->n_forwards++] = f;
        }
    }
}

/* Gives each standby port the VTEP of the VM migrating in that has it as a
 * NIC. */
static void
link_standby_ports(struct state *s)
{
    for (size_t i = 0; i < s->n_vms; i++) {
        const struct state_vm *vm = &s->vms[i];

        for (size_t j = 0; vm->incoming && j < vm->n_nics; j++) {
            size_t index =
                vm->nics[j].port ? find_port(s, vm->nics[j].port) : SIZE_MAX;

            if (index != SIZE_MAX && s->ports[index].standby) {
                s->ports[index].standby_vtep = vm->incoming->from_vtep;
            }
        }
    }
}

static void
parse_vms(struct state_errors *errors, const json_t *root, struct state *s)
{
    static const char *const keys[] = {
        "name", "uuid", "vcpus", "memory_mb", "power",   "boot", "disk",
        "seed", "nics", "ha",    "incoming",  "migrate", NULL};
    static const char *const has[] = {"restart", "off", NULL};
    static const char *const nic_keys[] = {"port", "device", "mac", "mtu",
                                           NULL};
    static const char *const powers[] = {"running", "stopped", NULL};
    const json_t *list = get_list(errors, root, "vms");

    s->n_vms = json_array_size(list);
    s->vms = xcalloc(s->n_vms, sizeof *s->vms);
    for (size_t i = 0; i < s->n_vms; i++) {
        struct state_vm *vm = &s->vms[i];
        const json_t *obj, *nics, *uuid;
        char nics_path[48];
        int power = 0;
        char path[32];

        obj = get_element(errors, list, "vms", i, keys, path, sizeof path);
        if (!obj) {
            continue;
        }
        parse_name(errors, obj, path, "name", STATE_MAX_NAME, NAME_EXPECTED,
                   &vm->name);
        uuid = get_member(errors, obj, path, "uuid", JSON_STRING, true,
                          "a string, a UUID");
        if (uuid && !uuid_is_valid(json_string_value(uuid))) {
            char *q = quote(json_string_value(uuid));

            field_error(errors, path, "uuid",
                        "%s: not a UUID (expected 8-4-4-4-12 lower-case hex "
                        "digits)",
                        q);
            free(q);
        } else if (uuid) {
            memcpy(vm->uuid, json_string_value(uuid), 37);
        }
        parse_uint(errors, obj, path, "vcpus", true, 1, STATE_MAX_VCPUS,
                   &vm->vcpus);
        if (!json_object_get(obj, "memory_mb")) {
            field_error(errors, path, "memory_mb",
                        "missing (expected an integer 1..%d, in MiB)",
                        STATE_MAX_VM_MEMORY_MB);
        }
        parse_u64(errors, obj, path, "memory_mb", 1, STATE_MAX_VM_MEMORY_MB,
                  "MiB", &vm->memory_mb);
        parse_word(errors, obj, path, "power", false, powers, &power);
        vm->running = power == 0;
        power = 0;
        parse_word(errors, obj, path, "ha", false, has, &power);
        vm->ha = power == 0;
        parse_u64(errors, obj, path, "boot", 0, INT64_MAX, "reboots",
                  &vm->boot);
        parse_vm_disk(errors, obj, path, vm);
        parse_vm_seed(errors, obj, path, vm);
        parse_vm_migration(errors, obj, path, vm);
        nics = get_array(errors, obj, path, "nics", false,
                         "an array of NIC objects");
        if (json_array_size(nics) > STATE_MAX_VM_NICS) {
            field_error(errors, path, "nics", "%zu NICs (expected at most %d)",
                        json_array_size(nics), STATE_MAX_VM_NICS);
            continue;
        }
        vm->n_nics = json_array_size(nics);
        vm->nics = xcalloc(vm->n_nics, sizeof *vm->nics);
        snprintf(nics_path, sizeof nics_path, "%s.nics", path);
        for (size_t j = 0; j < vm->n_nics; j++) {
            const json_t *nobj;
            char npath[64];

            nobj = get_element(errors, nics, nics_path, j, nic_keys, npath,
                               sizeof npath);
            if (nobj) {
                parse_vm_nic(errors, nobj, npath, s, &vm->nics[j]);
            }
        }
    }
}

/* Parses "moved_vms": {NAME: UUID}, the VMs that moved to another
 * host. */
static void
parse_moved_vms(struct state_errors *errors, const json_t *root,
                struct state *s)
{
    const json_t *moved = json_object_get(root, "moved_vms");
    const char *name;
    json_t *uuid;

    if (!moved) {
        return;
    }
    if (!json_is_object(moved)) {
        field_error(errors, "", "moved_vms",
                    "expected an object {VM name: UUID}, got %s",
                    json_type_name(moved));
        return;
    }
    s->moved_vms = xcalloc(json_object_size(moved), sizeof *s->moved_vms);
    json_object_foreach((json_t *) moved, name, uuid)
    {
        struct state_moved_vm *m = &s->moved_vms[s->n_moved_vms];

        if (!names_object_is_valid(name) || strlen(name) > STATE_MAX_NAME) {
            char *q = quote(name);

            field_error(errors, "moved_vms", NULL, "%s: not a VM name", q);
            free(q);
            continue;
        }
        if (!json_is_string(uuid) || !uuid_is_valid(json_string_value(uuid))) {
            field_error(errors, "moved_vms", name,
                        "expected a UUID (8-4-4-4-12 lower-case hex digits)");
            continue;
        }
        m->name = xstrdup(name);
        memcpy(m->uuid, json_string_value(uuid), 37);
        s->n_moved_vms++;
    }
}

const struct state_moved_vm *
state_find_moved_vm(const struct state *s, const char *name)
{
    for (size_t i = 0; i < s->n_moved_vms; i++) {
        if (!strcmp(s->moved_vms[i].name, name)) {
            return &s->moved_vms[i];
        }
    }
    return NULL;
}

/* Checks that VMs' names, UUIDs and files are unique, and that no port is
 * the NIC of two VMs (or twice of one). */
static void
check_vms(struct state_errors *errors, const struct state *s)
{
    struct uniq_set names = {0}, uuids = {0}, files = {0}, ports = {0};

    for (size_t i = 0; i < s->n_vms; i++) {
        const struct state_vm *vm = &s->vms[i];

        if (vm->name) {
            uniq_add(&names, "vms", i)->str = vm->name;
        }
        if (vm->uuid[0]) {
            uniq_add(&uuids, "vms", i)->str = vm->uuid;
        }
        if (vm->disk) {
            uniq_add(&files, "vms", i)->str = vm->disk;
        }
        if (vm->seed) {
            uniq_add(&files, "vms", i)->str = vm->seed;
        }
        for (size_t j = 0; j < vm->n_nics; j++) {
            if (vm->nics[j].port) {
                uniq_add(&ports, "vms", i)->str = vm->nics[j].port;
            }
        }
    }
    uniq_check(errors, &names, "name", NULL);
    uniq_check(errors, &uuids, "uuid", NULL);
    uniq_check(errors, &files, "disk.file or seed.file", NULL);
    uniq_check(errors, &ports, "nics", NULL);
}

const struct state_vm *
state_find_vm(const struct state *s, const char *name)
{
    for (size_t i = 0; i < s->n_vms; i++) {
        if (s->vms[i].name && !strcmp(s->vms[i].name, name)) {
            return &s->vms[i];
        }
    }
    return NULL;
}

bool
state_vm_is_skipped(const struct state *s, const char *name)
{
    for (size_t i = 0; i < s->n_skipped; i++) {
        if (s->skipped[i].kind == STATE_KIND_VM
            && !strcmp(s->skipped[i].name, name)) {
            return true;
        }
    }
    return false;
}

int
state_from_json(const struct json_t *root, struct state **statep,
                struct state_errors *errors)
{
    static const char *const keys[] = {
        "host",         "networks",       "ports", "remotes",
        "identities",   "external_vteps", "vms",   "moved_vms",
        "fabric_vteps", "forward",        NULL};
    struct state *s = xzalloc(sizeof *s);
    size_t n_errors = errors->n;

    if (!json_is_object(root)) {
        field_error(errors, "", NULL, "expected an object, got %s",
                    json_type_name(root));
    } else {
        check_keys(errors, "", root, keys);
        parse_host(errors, root, &s->host);
        parse_networks(errors, root, s);
        parse_ports(errors, root, s);
        parse_remotes(errors, root, s);
        parse_external_vteps(errors, root, s);
        parse_identities(errors, root, s);
        parse_vms(errors, root, s);
        parse_moved_vms(errors, root, s);
        link_standby_ports(s);
        parse_fabric_vteps(errors, root, s);
        parse_forwards(errors, root, s);
        check_external_vteps(errors, s);
        check_identities(errors, s);
        check_unique_names(errors, s);
        check_unique_addresses(errors, s);
        check_flood_lists(errors, s);
        check_vms(errors, s);
    }
    if (errors->n > n_errors) {
        state_destroy(s);
        *statep = NULL;
        return EINVAL;
    }
    *statep = s;
    return 0;
}

/* The lists of elements, by enum state_kind, and what one element is
 * called. */
static const char *const kind_lists[STATE_N_KINDS] = {
    "networks", "ports", "remotes", "identities", "external_vteps", "vms"};
static const char *const kind_names[STATE_N_KINDS] = {
    "network", "port", "remote", "identity", "external-vtep", "vm"};

const char *
state_kind_name(enum state_kind kind)
{
    return kind < STATE_N_KINDS ? kind_names[kind] : "?";
}

/* Finds the element that error message 'msg' is about: every message of
 * field_error() starts with the path of its object ("ports[3].mac: ...").
 * Returns true, with the element's list and index in '*kind' and '*index'
 * and the message without the element's path in '*rest', if it is about an
 * element of a list; false if it is about the document or its "host". */
static bool
error_element(const char *msg, enum state_kind *kind, size_t *index,
              const char **rest)
{
    for (int k = 0; k < STATE_N_KINDS; k++) {
        size_t len = strlen(kind_lists[k]);
        unsigned long long i;
        char *end;

        if (strncmp(msg, kind_lists[k], len) || msg[len] != '['
            || !isdigit((unsigned char) msg[len + 1])) {
            continue;
        }
        errno = 0;
        i = strtoull(msg + len + 1, &end, 10);
        if (errno || *end != ']' || i > SIZE_MAX) {
            return false;
        }
        end++;
        if (*end == '.') {
            end++;
        } else if (!strncmp(end, ": ", 2)) {
            end += 2;
        }
        *kind = k;
        *index = i;
        *rest = end;
        return true;
    }
    return false;
}

/* A document being cut down to what can be applied. */
struct partial {
    json_t *doc;                   /* A copy of the document, whose bad
                                    * elements are being removed. */
    size_t *orig[STATE_N_KINDS];   /* Per list, the index each element
                                    * left in 'doc' had in the original. */
    struct state_skip *skipped;    /* What was removed, and why. */
    size_t n_skipped;              /* Number of 'skipped'. */
    char **reasons[STATE_N_KINDS]; /* Per list and element of 'doc', why
                                    * it goes in this round, or NULL. */
};

/* Returns the name a condition gives element 'obj' of list 'kind', which
 * was element 'orig' of the original document. */
static char *
element_name(enum state_kind kind, const json_t *obj, size_t orig)
{
    const char *name = json_string_value(json_object_get(obj, "name"));
    const char *net = json_string_value(json_object_get(obj, "network"));
    const char *mac = json_string_value(json_object_get(obj, "mac"));
    const json_t *id = json_object_get(obj, "id");

    if ((kind == STATE_KIND_NETWORK || kind == STATE_KIND_PORT
         || kind == STATE_KIND_VM)
        && name && *name) {
        return xstrdup(name);
    } else if (kind == STATE_KIND_REMOTE && net && mac) {
        return xasprintf("%s/%s", net, mac);
    } else if (kind == STATE_KIND_EXTERNAL_VTEP && net
               && json_string_value(json_object_get(obj, "vtep"))) {
        return xasprintf("%s/%s", net,
                         json_string_value(json_object_get(obj, "vtep")));
    } else if (kind == STATE_KIND_IDENTITY && json_is_integer(id)) {
        return xasprintf("%" JSON_INTEGER_FORMAT, json_integer_value(id));
    }
    return xasprintf("%s[%zu]", kind_lists[kind], orig);
}

/* Marks element 'i' of list 'kind' of 'p' to go, because of 'reason'
 * (appended to what it already has). */
static void
partial_mark(struct partial *p, enum state_kind kind, size_t i,
             const char *reason)
{
    char **r = &p->reasons[kind][i];
    char *joined = *r ? xasprintf("%s; %s", *r, reason) : xstrdup(reason);

    free(*r);
    *r = joined;
}

/* Whether some element of list 'kind' of 'p' that stays has member 'key'
 * equal to 'value'. */
static bool
partial_keeps(const struct partial *p, enum state_kind kind, const char *key,
              const json_t *value)
{
    const json_t *list = json_object_get(p->doc, kind_lists[kind]);

    for (size_t i = 0; i < json_array_size(list); i++) {
        if (!p->reasons[kind][i]
            && json_equal(json_object_get(json_array_get(list, i), key),
                          (json_t *) value)) {
            return true;
        }
    }
    return false;
}

/* Whether element 'obj' refers to 'value' by its member 'key', or, for
 * the key "nics[].port", by the "port" of one of its "nics". */
static bool
element_refers(const json_t *obj, const char *key, const json_t *value)
{
    const json_t *nic;
    size_t i;

    if (strcmp(key, "nics[].port")) {
        return json_equal(json_object_get(obj, key), (json_t *) value);
    }
    json_array_foreach(json_object_get(obj, "nics"), i, nic)
    {
        if (json_equal(json_object_get(nic, "port"), (json_t *) value)) {
            return true;
        }
    }
    return false;
}

/* Marks every element of list 'kind' whose member 'key' refers to element
 * 'obj' of list 'parent' ('obj''s member 'parent_key'), which goes, unless
 * another element of 'parent' that stays answers to the same value. */
static void
partial_mark_dependents(struct partial *p, enum state_kind parent,
                        const json_t *obj, const char *parent_key,
                        const char *why, enum state_kind kind, const char *key)
{
    const json_t *value = json_object_get(obj, parent_key);
    const json_t *list = json_object_get(p->doc, kind_lists[kind]);

    if (!value || partial_keeps(p, parent, parent_key, value)) {
        return;
    }
    for (size_t i = 0; i < json_array_size(list); i++) {
        if (!p->reasons[kind][i]
            && element_refers(json_array_get(list, i), key, value)) {
            partial_mark(p, kind, i, why);
        }
    }
}

/* Removes from 'p->doc' the elements marked to go, recording them. */
static void
partial_remove(struct partial *p)
{
    for (int k = 0; k < STATE_N_KINDS; k++) {
        json_t *list = json_object_get(p->doc, kind_lists[k]);
        size_t n = json_array_size(list), kept = 0;

        for (size_t i = 0; i < n; i++) {
            if (!p->reasons[k][i]) {
                p->orig[k][kept++] = p->orig[k][i];
                continue;
            }
            p->skipped =
                xrealloc(p->skipped, (p->n_skipped + 1) * sizeof *p->skipped);
            p->skipped[p->n_skipped++] = (struct state_skip){
                .kind = k,
                .name =
                    element_name(k, json_array_get(list, i), p->orig[k][i]),
                .reason = p->reasons[k][i],
            };
        }
        /* From the end, so that the indices still to visit stay valid.
         * The reasons went to 'skipped'. */
        for (size_t i = n; i-- > 0;) {
            if (p->reasons[k][i]) {
                json_array_remove(list, i);
                p->reasons[k][i] = NULL;
            }
        }
    }
}

static void
partial_destroy(struct partial *p)
{
    for (int k = 0; k < STATE_N_KINDS; k++) {
        size_t n = json_array_size(json_object_get(p->doc, kind_lists[k]));

        for (size_t i = 0; p->reasons[k] && i < n; i++) {
            free(p->reasons[k][i]);
        }
        free(p->orig[k]);
        free(p->reasons[k]);
    }
    for (size_t i = 0; i < p->n_skipped; i++) {
        free(p->skipped[i].name);
        free(p->skipped[i].reason);
    }
    free(p->skipped);
    json_decref(p->doc);
}

/* Marks to go what 'errors' (of a parse of 'p->doc') blames on elements,
 * and what depends on them.  Returns false if some error is about no
 * element. */
static bool
partial_blame(struct partial *p, const struct state_errors *errors)
{
    static const struct {
        enum state_kind parent; /* An element that goes... */
        const char *parent_key; /* ...with this member... */
        enum state_kind kind;   /* ...takes the elements of this list... */
        const char *key;        /* ...whose member refers to it. */
    } deps[] = {
        {STATE_KIND_NETWORK, "name", STATE_KIND_PORT, "network"},
        {STATE_KIND_NETWORK, "name", STATE_KIND_REMOTE, "network"},
        {STATE_KIND_NETWORK, "name", STATE_KIND_EXTERNAL_VTEP, "network"},
        {STATE_KIND_IDENTITY, "id", STATE_KIND_PORT, "identity"},
        {STATE_KIND_PORT, "name", STATE_KIND_VM, "nics[].port"},
    };

    bool others = false;

    for (size_t i = 0; i < errors->n; i++) {
        enum state_kind kind;
        const char *rest;
        size_t index;

        if (!error_element(errors->msgs[i], &kind, &index, &rest)
            || index >= json_array_size(
                   json_object_get(p->doc, kind_lists[kind]))) {
            return false;
        }
        others |= kind != STATE_KIND_NETWORK;
    }
    /* A network's own trouble may come from elements that are wrong (a
     * flood list counts the ports it would hold, duplicates among them),
     * so networks wait for the round where nothing else is wrong. */
    for (size_t i = 0; i < errors->n; i++) {
        enum state_kind kind;
        const char *rest;
        size_t index;

        error_element(errors->msgs[i], &kind, &index, &rest);
        if (!others || kind != STATE_KIND_NETWORK) {
            partial_mark(p, kind, index, rest);
        }
    }
    for (size_t d = 0; d < ARRAY_SIZE(deps); d++) {
        const json_t *parents =
            json_object_get(p->doc, kind_lists[deps[d].parent]);

        for (size_t i = 0; i < json_array_size(parents); i++) {
            const json_t *obj = json_array_get(parents, i);
            char *name, *why;

            if (!p->reasons[deps[d].parent][i]) {
                continue;
            }
            name =
                element_name(deps[d].parent, obj, p->orig[deps[d].parent][i]);
            why = xasprintf("%s \"%s\" is left out: %s",
                            kind_names[deps[d].parent], name,
                            p->reasons[deps[d].parent][i]);
            partial_mark_dependents(p, deps[d].parent, obj, deps[d].parent_key,
                                    why, deps[d].kind, deps[d].key);
            free(why);
            free(name);
        }
    }
    return true;
}

/* Parses 'root' strictly and, if 'underlay_mtu' is not 0, checks its MTUs.
 * Returns 0 with the model in '*statep', or EINVAL with every problem in
 * 'errors'. */
static int
parse_fitting(const json_t *root, uint32_t underlay_mtu, struct state **statep,
              struct state_errors *errors)
{
    int error = state_from_json(root, statep, errors);

    if (!error && underlay_mtu
        && state_check_mtus(*statep, underlay_mtu, errors)) {
        state_destroy(*statep);
        *statep = NULL;
        error = EINVAL;
    }
    return error;
}

int
state_from_json_partial(const struct json_t *root, uint32_t underlay_mtu,
                        struct state **statep, struct state_errors *errors)
{
    struct partial p = {.doc = NULL};
    struct state_errors round;
    int error;

    state_errors_init(&round);
    error = parse_fitting(root, underlay_mtu, statep, &round);
    if (!error || !json_is_object(root)) {
        goto out;
    }
    p.doc = json_deep_copy(root);
    for (int k = 0; k < STATE_N_KINDS; k++) {
        size_t n = json_array_size(json_object_get(root, kind_lists[k]));

        p.orig[k] = xcalloc(n, sizeof *p.orig[k]);
        p.reasons[k] = xcalloc(n, sizeof *p.reasons[k]);
        for (size_t i = 0; i < n; i++) {
            p.orig[k][i] = i;
        }
    }
    /* Each round leaves out at least one element, so this ends. */
    while (error && partial_blame(&p, &round)) {
        partial_remove(&p);
        state_errors_destroy(&round);
        error = parse_fitting(p.doc, underlay_mtu, statep, &round);
    }
    if (!error) {
        (*statep)->skipped = p.skipped;
        (*statep)->n_skipped = p.n_skipped;
        p.skipped = NULL;
        p.n_skipped = 0;
    }

out:
    for (size_t i = 0; error && i < round.n; i++) {
        state_errors_add(errors, "%s", round.msgs[i]);
    }
    state_errors_destroy(&round);
    partial_destroy(&p);
    return error;
}

int
state_parse(const char *text, size_t len, struct state **statep,
            struct state_errors *errors)
{
    json_error_t jerror;
    json_t *root;
    int error;

    root = json_loadb(text, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY,
                      &jerror);
    if (!root) {
        /* jansson's text quotes the input near the error, line breaks
         * included. */
        char *near = xstrdup_printable(jerror.text);

        state_errors_add(errors, "line %d, column %d: invalid JSON: %s",
                         jerror.line, jerror.column, near);
        free(near);
        *statep = NULL;
        return EINVAL;
    }
    error = state_from_json(root, statep, errors);
    json_decref(root);
    return error;
}

int
state_check_mtus(const struct state *s, uint32_t underlay_mtu,
                 struct state_errors *errors)
{
    size_t n_errors = errors->n;
    uint32_t room;

    room = underlay_mtu > STATE_VXLAN_OVERHEAD
               ? underlay_mtu - STATE_VXLAN_OVERHEAD
               : 0;
    for (size_t i = 0; i < s->n_networks; i++) {
        const struct state_network *net = &s->networks[i];
        char path[32];

        snprintf(path, sizeof path, "networks[%zu]", i);
        if (net->mtu && net->mtu > room) {
            field_error(errors, path, "mtu",
                        "%" PRIu32 " is larger than %" PRIu32 ", the MTU "
                        "of underlay \"%s\" (%" PRIu32 ") minus %d bytes of "
                        "VXLAN overhead",
                        net->mtu, room, s->host.underlay, underlay_mtu,
                        STATE_VXLAN_OVERHEAD);
        } else if (!net->mtu && room < STATE_MIN_MTU) {
            field_error(errors, path, NULL,
                        "the MTU of underlay \"%s\" (%" PRIu32 ") leaves "
                        "%" PRIu32 " bytes after VXLAN overhead, less than "
                        "the minimum network MTU %d",
                        s->host.underlay, underlay_mtu, room, STATE_MIN_MTU);
        }
    }
    return errors->n > n_errors ? EINVAL : 0;
}

uint32_t
state_network_mtu(const struct state_network *net, uint32_t underlay_mtu)
{
    if (net->mtu) {
        return net->mtu;
    }
    if (!underlay_mtu) {
        underlay_mtu = STATE_DEFAULT_UNDERLAY_MTU;
    }
    if (underlay_mtu < STATE_VXLAN_OVERHEAD + STATE_MIN_MTU) {
        return STATE_MIN_MTU;
    }
    /* Port MTUs are 16 bits wide in the datapath. */
    return MIN(underlay_mtu - STATE_VXLAN_OVERHEAD, UINT16_MAX);
}

void
state_destroy(struct state *s)
{
    if (!s) {
        return;
    }
    free(s->host.name);
    free(s->host.underlay);
    for (size_t i = 0; i < s->n_networks; i++) {
        free(s->networks[i].name);
    }
    free(s->networks);
    for (size_t i = 0; i < s->n_ports; i++) {
        free(s->ports[i].name);
        free(s->ports[i].device);
        free(s->ports[i].hostname);
    }
    free(s->ports);
    free(s->remotes);
    free(s->external_vteps);
    for (size_t i = 0; i < s->n_identities; i++) {
        struct state_identity *id = &s->identities[i];

        for (size_t j = 0; j < id->n_groups; j++) {
            free(id->groups[j]);
        }
        free(id->groups);
        for (size_t j = 0; j < id->n_rules; j++) {
            free(id->rules[j].group);
            free(id->rules[j].peer_identities);
            free(id->rules[j].cidrs);
        }
        free(id->rules);
    }
    free(s->identities);
    for (size_t i = 0; i < s->n_vms; i++) {
        struct state_vm *vm = &s->vms[i];

        free(vm->name);
        free(vm->disk);
        free(vm->image);
        free(vm->seed);
        free(vm->hostname);
        for (size_t j = 0; j < vm->n_ssh_keys; j++) {
            free(vm->ssh_keys[j]);
        }
        free(vm->ssh_keys);
        free(vm->user_data);
        for (size_t j = 0; j < vm->n_nics; j++) {
            free(vm->nics[j].port);
            free(vm->nics[j].device);
        }
        free(vm->nics);
        if (vm->incoming) {
            free(vm->incoming->id);
            free(vm->incoming->from);
            free(vm->incoming);
        }
        if (vm->migrate) {
            free(vm->migrate->id);
            free(vm->migrate->to);
            free(vm->migrate->uri);
            free(vm->migrate);
        }
    }
    free(s->vms);
    for (size_t i = 0; i < s->n_moved_vms; i++) {
        free(s->moved_vms[i].name);
    }
    free(s->moved_vms);
    free(s->fabric_vteps);
    free(s->forwards);
    for (size_t i = 0; i < s->n_skipped; i++) {
        free(s->skipped[i].name);
        free(s->skipped[i].reason);
    }
    free(s->skipped);
    free(s);
}

uint64_t
state_uplink_rate(const struct state *s, uint64_t link_speed)
{
    if (s->host.uplink_rate) {
        return s->host.uplink_rate;
    }
    return link_speed ? link_speed : STATE_DEFAULT_UPLINK_RATE;
}
