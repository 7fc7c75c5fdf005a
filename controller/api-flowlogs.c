/* Flow logs: POST /v1/flowlogs from agents, GET /v1/flowlogs for people
 * (doc/api.md, "Flow logs"; doc/firewall.md).  The records are kept by
 * controller/flowlogs.c; this module checks what comes in and reads the
 * query. */
#include "controller/api.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "controller/flowlogs.h"
#include "utils/util.h"

/* What a record may hold: type, whether it is required, and the range of
 * an integer. */
struct record_field {
    const char *name;   /* JSON member name. */
    enum api_type type; /* API_STRING or API_INTEGER. */
    bool required;      /* Must be present. */
    json_int_t min;     /* Smallest integer. */
    json_int_t max;     /* Largest integer. */
};

static const struct record_field record_fields[] = {
    {"time", API_STRING, true, 0, 0},
    {"network", API_STRING, true, 0, 0},
    {"vni", API_INTEGER, true, 1, API_VNI_MAX},
    {"protocol", API_STRING, true, 0, 0},
    {"src_ip", API_STRING, true, 0, 0},
    {"dst_ip", API_STRING, true, 0, 0},
    {"src_port", API_INTEGER, false, 0, 65535},
    {"dst_port", API_INTEGER, false, 0, 65535},
    {"icmp_type", API_INTEGER, false, 0, 255},
    {"icmp_code", API_INTEGER, false, 0, 255},
    {"port", API_STRING, true, 0, 0},
    {"direction", API_STRING, true, 0, 0},
    {"src_identity", API_INTEGER, false, 0, 65535},
    {"dst_identity", API_INTEGER, false, 0, 65535},
    {"rule", API_INTEGER, false, 0, UINT32_MAX},
    {"verdict", API_STRING, true, 0, 0},
    {"reason", API_STRING, true, 0, 0},
    {"count", API_INTEGER, false, 1, UINT32_MAX},
    {"last_time", API_STRING, false, 0, 0},
    {"suppressed", API_INTEGER, false, 0, UINT32_MAX},
};

/* Protocols by name; others go by their number, "0".."255". */
static const char *const protocols[] = {"tcp",    "udp",  "icmp",
                                        "icmpv6", "sctp", NULL};
static const char *const directions[] = {"ingress", "egress", NULL};
static const char *const verdicts[] = {"allow", "deny", NULL};
static const char *const reasons[] = {"rule",
                                      "default-deny",
                                      "network-default",
                                      "conntrack-full",
                                      "invalid",
                                      "no-connection",
                                      NULL};

/* Returns "a, b, c" for 'choices' (the caller frees it). */
static char *
join(const char *const *choices)
{
    char *s = xstrdup("");

    for (size_t i = 0; choices[i]; i++) {
        char *more = xasprintf("%s%s%s", s, i ? ", " : "", choices[i]);

        free(s);
        s = more;
    }
    return s;
}

/* Reads 'n' decimal digits at '*p' into '*value' and advances '*p'. */
static bool
digits(const char **p, int n, int *value)
{
    *value = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char) (*p)[i])) {
            return false;
        }
        *value = *value * 10 + ((*p)[i] - '0');
    }
    *p += n;
    return true;
}

bool
api_parse_rfc3339(const char *s, int64_t *us)
{
    int year, mon, day, hour, min, sec, off_h = 0, off_m = 0;
    int64_t frac = 0, scale = 1000000;
    const char *p = s;
    struct tm tm;
    time_t t;

    if (!digits(&p, 4, &year) || *p++ != '-' || !digits(&p, 2, &mon)
        || *p++ != '-' || !digits(&p, 2, &day) || (*p != 'T' && *p != 't')
        || (p++, !digits(&p, 2, &hour)) || *p++ != ':' || !digits(&p, 2, &min)
        || *p++ != ':' || !digits(&p, 2, &sec)) {
        return false;
    }
    if (*p == '.') {
        p++;
        if (!isdigit((unsigned char) *p)) {
            return false;
        }
        /* Digits past microseconds are read and dropped. */
        for (; isdigit((unsigned char) *p); p++) {
            if (scale > 1) {
                scale /= 10;
                frac += (*p - '0') * scale;
            }
        }
    }
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int sign = *p++ == '-' ? -1 : 1;

        if (!digits(&p, 2, &off_h) || *p++ != ':' || !digits(&p, 2, &off_m)
            || off_h > 23 || off_m > 59) {
            return false;
        }
        off_h *= sign;
        off_m *= sign;
    } else {
        return false;
    }
    if (*p || mon < 1 || mon > 12 || day < 1 || day > 31 || hour > 23
        || min > 59 || sec > 60) {
        return false;
    }
    memset(&tm, 0, sizeof tm);
    tm.tm_year = year - 1900;
    tm.tm_mon = mon - 1;
    tm.tm_mday = day;
    tm.tm_hour = hour;
    tm.tm_min = min;
    tm.tm_sec = sec;
    t = timegm(&tm);
    /* timegm() normalizes 31 February into March: refuse what moved. */
    if (tm.tm_mday != day && sec != 60) {
        return false;
    }
    t -= (time_t) off_h * 3600 + (time_t) off_m * 60;
    *us = (int64_t) t * 1000000 + frac;
    return true;
}

/* Fails 'err' with 400 about member 'member' of record 'i'. */
static int record_fail(struct api_error *err, size_t i, const char *member,
                       const char *format, ...)
    __attribute__((format(printf, 4, 5)));

static int
record_fail(struct api_error *err, size_t i, const char *member,
            const char *format, ...)
{
    char *field = xasprintf("records[%zu].%s", i, member);
    char *msg;
    va_list args;

    va_start(args, format);
    if (vasprintf(&msg, format, args) < 0) {
        msg = xstrdup("(out of memory)");
    }
    va_end(args);
    api_fail(err, 400, field, "flow logs: record %zu: %s: %s", i, member, msg);
    free(msg);
    free(field);
    return 400;
}

/* Checks that string member 'member' of record 'i' is one of 'choices'. */
static int
check_choice(const json_t *record, size_t i, const char *member,
             const char *const *choices, struct api_error *err)
{
    const char *s = api_get_string(record, member);

    if (!api_is_one_of(s, choices)) {
        char *list = join(choices);
        char *q = api_quote(s);
        int status =
            record_fail(err, i, member, "%s: expected one of: %s", q, list);

        free(q);
        free(list);
        return status;
    }
    return 0;
}

/* Parses address 's' into '*family' (4 or 6). */
static bool
parse_ip(const char *s, int *family)
{
    uint8_t buf[16];

    if (inet_pton(AF_INET, s, buf) == 1) {
        *family = 4;
        return true;
    } else if (inet_pton(AF_INET6, s, buf) == 1) {
        *family = 6;
        return true;
    }
    return false;
}

/* Checks record 'i' of a POST and fills in 'r' from it. */
static int
check_record(const json_t *record, size_t i, struct flowlogs_record *r,
             struct api_error *err)
{
    const char *key, *s;
    int families[2];
    json_t *value;
    int status = 0;

    if (!json_is_object(record)) {
        return api_fail(err, 400, "records",
                        "flow logs: record %zu: expected an object", i);
    }
    json_object_foreach((json_t *) record, key, value)
    {
        bool known = false;

        for (size_t f = 0; f < ARRAY_SIZE(record_fields); f++) {
            known |= !strcmp(key, record_fields[f].name);
        }
        if (!known) {
            return record_fail(err, i, key, "unknown field");
        }
    }
    for (size_t f = 0; f < ARRAY_SIZE(record_fields); f++) {
        const struct record_field *rf = &record_fields[f];

        value = json_object_get(record, rf->name);
        if (!value || (json_is_null(value) && !rf->required)) {
            if (rf->required) {
                return record_fail(err, i, rf->name, "required");
            }
            continue;
        }
        if (rf->type == API_STRING && !json_is_string(value)) {
            return record_fail(err, i, rf->name, "expected a string");
        }
        if (rf->type == API_INTEGER) {
            json_int_t n = json_integer_value(value);

            if (!json_is_integer(value) || n < rf->min || n > rf->max) {
                return record_fail(err, i, rf->name,
                                   "expected an integer %" JSON_INTEGER_FORMAT
                                   "..%" JSON_INTEGER_FORMAT,
                                   rf->min, rf->max);
            }
        }
    }

    s = api_get_string(record, "time");
    if (!api_parse_rfc3339(s, &r->time_us)) {
        return record_fail(err, i, "time",
                           "\"%s\": expected an RFC 3339 time, e.g. "
                           "\"2026-11-22T10:00:00.123Z\"",
                           s);
    }
    s = api_get_string(record, "last_time");
    if (s) {
        int64_t last_us;

        if (!api_parse_rfc3339(s, &last_us)) {
            return record_fail(err, i, "last_time",
                               "\"%s\": expected an RFC 3339 time, e.g. "
                               "\"2026-11-22T10:00:00.123Z\"",
                               s);
        }
        if (last_us < r->time_us) {
            return record_fail(err, i, "last_time",
                               "\"%s\": before the record's time", s);
        }
    }
    for (int k = 0; k < 2; k++) {
        const char *member = k ? "dst_ip" : "src_ip";

        s = api_get_string(record, member);
        if (!parse_ip(s, &families[k])) {
            return record_fail(err, i, member,
                               "\"%s\": expected an IPv4 or IPv6 address", s);
        }
    }
    if (families[0] != families[1]) {
        return record_fail(err, i, "dst_ip",
                           "\"%s\": not of the same family as src_ip",
                           api_get_string(record, "dst_ip"));
    }
    for (int k = 0; k < 2; k++) {
        const char *member = k ? "port" : "network";

        s = api_get_string(record, member);
        if (!api_name_is_valid(s)) {
            char *q = api_quote(s);

            record_fail(err, i, member, "%s: not a valid name", q);
            free(q);
            return 400;
        }
    }
    s = api_get_string(record, "protocol");
    if (!(*s && strlen(s) <= 3 && strspn(s, "0123456789") == strlen(s)
          && atoi(s) <= 255)) {
        status = check_choice(record, i, "protocol", protocols, err);
    }
    if (!status) {
        status = check_choice(record, i, "direction", directions, err);
    }
    if (!status) {
        status = check_choice(record, i, "verdict", verdicts, err);
    }
    if (!status) {
        status = check_choice(record, i, "reason", reasons, err);
    }
    if (status) {
        return status;
    }
    if (!strcmp(api_get_string(record, "reason"), "rule")
        && json_integer_value(json_object_get(record, "rule")) < 1) {
        return record_fail(err, i, "rule",
                           "required, 1 or more, when reason is \"rule\"");
    }
    r->port = api_get_string(record, "port");
    r->network = api_get_string(record, "network");
    r->verdict = api_get_string(record, "verdict");
    r->record = record;
    return 0;
}

int
api_flowlogs_post(struct api *api, const json_t *in, struct api_error *err)
{
    static const struct api_field fields[] = {
        {"host", API_STRING, API_RW, true},
        {"records", API_ARRAY, API_RW, true},
    };
    struct flowlogs_record *records = NULL;
    const json_t *array;
    const char *host;
    size_t n;
    int status, error;

    status = api_check_input(in, fields, ARRAY_SIZE(fields), "flow logs", NULL,
                             false, err);
    if (status) {
        return status;
    }
    host = api_get_string(in, "host");
    status = api_check_name(host, "host", "flow logs", err);
    if (status) {
        return status;
    }
    array = json_object_get(in, "records");
    n = json_array_size(array);
    if (n > API_FLOWLOGS_POST_MAX) {
        return api_fail(err, 400, "records",
                        "flow logs: %zu records: at most %d per request; "
                        "send the rest in another",
                        n, API_FLOWLOGS_POST_MAX);
    }
    records = xcalloc(n ? n : 1, sizeof *records);
    for (size_t i = 0; i < n; i++) {
        status = check_record(json_array_get(array, i), i, &records[i], err);
        if (status) {
            free(records);
            return status;
        }
    }
    error = flowlogs_add(api->flowlogs, host, records, n);
    free(records);
    if (error) {
        return api_store_error(error, "flow logs", err);
    }
    return 204;
}

int
api_flowlogs_list(struct api *api, const json_t *query, json_t **out,
                  struct api_error *err)
{
    static const char *const keys[] = {"port",  "host",  "verdict", "network",
                                       "since", "limit", NULL};
    struct flowlogs_filter f = {.limit = API_LIST_DEFAULT};
    json_t *items, *value;
    const char *key;
    int error;

    json_object_foreach((json_t *) query, key, value)
    {
        const char *s = json_string_value(value);

        if (!api_is_one_of(key, keys)) {
            char *list = join(keys);

            api_fail(err, 400, key,
                     "flow logs: %s: unknown query parameter (expected one "
                     "of: %s)",
                     key, list);
            free(list);
            return 400;
        }
        if (!s) {
            return api_fail(err, 400, key, "flow logs: %s: expected a value",
                            key);
        }
        if (!strcmp(key, "limit")) {
            if (!api_parse_limit(s, &f.limit)) {
                return api_fail(err, 400, "limit",
                                "flow logs: limit \"%s\": must be an "
                                "integer 1..%d",
                                s, API_LIST_MAX);
            }
        } else if (!strcmp(key, "since")) {
            if (!api_parse_rfc3339(s, &f.since_us)) {
                return api_fail(err, 400, "since",
                                "flow logs: since \"%s\": expected an RFC "
                                "3339 time, e.g. 2026-11-22T10:00:00Z",
                                s);
            }
            f.has_since = true;
        } else if (!strcmp(key, "verdict")) {
            if (!api_is_one_of(s, verdicts)) {
                return api_fail(err, 400, "verdict",
                                "flow logs: verdict \"%s\": expected allow "
                                "or deny",
                                s);
            }
            f.verdict = s;
        } else if (!api_name_is_valid(s)) {
            /* Nothing by an invalid name was ever stored: say so rather
             * than answer an empty list. */
            char *q = api_quote(s);

            api_fail(err, 400, key, "flow logs: %s %s: not a valid name", key,
                     q);
            free(q);
            return 400;
        } else if (!strcmp(key, "port")) {
            f.port = s;
        } else if (!strcmp(key, "host")) {
            f.host = s;
        } else {
            f.network = s;
        }
    }
    error = flowlogs_query(api->flowlogs, &f, &items);
    if (error) {
        return api_store_error(error, "flow logs", err);
    }
    *out = json_pack("{so}", "items", items);
    return 200;
}
