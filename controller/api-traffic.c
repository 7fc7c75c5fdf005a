/* Ports' traffic counters, as agents report them in their heartbeats
 * ("traffic"), kept in memory: the last report of each port with the time
 * it came, for GET /v1/ports/NAME/traffic (the web console's charts draw
 * rates from successive answers).  Counters change no revision: they would
 * wake every watcher every few seconds. */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "controller/api.h"
#include "utils/util.h"

/* The counters a port's report holds. */
static const char *const traffic_counters[] = {
    "rx_bytes",
    "rx_packets",
    "tx_bytes",
    "tx_packets",
};

struct api_traffic {
    pthread_mutex_t mutex; /* Protects 'ports'. */
    json_t *ports;         /* Port name -> {"host", "at_ms" (Unix ms), and
                            * the counters}. */
};

struct api_traffic *
api_traffic_create(void)
{
    struct api_traffic *t = xzalloc(sizeof *t);

    pthread_mutex_init(&t->mutex, NULL);
    t->ports = json_object();
    return t;
}

void
api_traffic_destroy(struct api_traffic *t)
{
    if (t) {
        pthread_mutex_destroy(&t->mutex);
        json_decref(t->ports);
        free(t);
    }
}

int
api_traffic_check(const json_t *traffic, const char *what,
                  struct api_error *err)
{
    const char *port;
    json_t *c;

    if (!json_is_object(traffic)) {
        return api_fail(
            err, 400, "traffic",
            "%s: traffic: expected an object {PORT: {\"rx_bytes\", "
            "\"rx_packets\", \"tx_bytes\", \"tx_packets\"}}",
            what);
    }
    if (json_object_size(traffic) > API_TRAFFIC_PORTS_MAX) {
        return api_fail(err, 400, "traffic",
                        "%s: traffic: %zu ports (expected at most %d)", what,
                        json_object_size(traffic), API_TRAFFIC_PORTS_MAX);
    }
    json_object_foreach((json_t *) traffic, port, c)
    {
        size_t n = 0;

        if (!api_name_is_valid(port)) {
            char *q = api_quote(port);

            api_fail(err, 400, "traffic",
                     "%s: traffic: %s: expected a port name", what, q);
            free(q);
            return 400;
        }
        for (size_t i = 0; i < ARRAY_SIZE(traffic_counters); i++) {
            const json_t *v = json_object_get(c, traffic_counters[i]);

            if (v && (!json_is_integer(v) || json_integer_value(v) < 0)) {
                return api_fail(err, 400, "traffic",
                                "%s: traffic: \"%s\": %s: expected an "
                                "integer 0 or more",
                                what, port, traffic_counters[i]);
            }
            n += v != NULL;
        }
        if (!json_is_object(c) || json_object_size(c) != n) {
            return api_fail(err, 400, "traffic",
                            "%s: traffic: \"%s\": expected {\"rx_bytes\", "
                            "\"rx_packets\", \"tx_bytes\", \"tx_packets\"} "
                            "(integers, each optional), nothing else",
                            what, port);
        }
    }
    return 0;
}

void
api_traffic_note(struct api *api, const char *host, const json_t *traffic)
{
    struct api_traffic *t = api->traffic;
    struct timespec ts;
    int64_t at_ms;
    const char *port;
    json_t *c;

    clock_gettime(CLOCK_REALTIME, &ts);
    at_ms = (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    pthread_mutex_lock(&t->mutex);
    json_object_foreach((json_t *) traffic, port, c)
    {
        json_t *r = json_deep_copy(c);

        json_object_set_new(r, "host", json_string(host));
        json_object_set_new(r, "at_ms", json_integer(at_ms));
        json_object_set_new(t->ports, port, r);
    }
    pthread_mutex_unlock(&t->mutex);
}

int
api_port_traffic(struct api *api, const char *name, json_t **out,
                 struct api_error *err)
{
    struct api_traffic *t = api->traffic;
    json_t *port = NULL, *r;
    const char *host;
    char when[40], date[32];
    int64_t at_ms;
    int status;

    status = api_port_get(api, name, &port, err);
    if (status != 200) {
        return status;
    }
    host = api_get_string(port, "host");
    pthread_mutex_lock(&t->mutex);
    r = json_object_get(t->ports, name);
    /* Only the report of the port's own host counts: another host's agent
     * never carries it, and an old host's report is of another life. */
    r = r && host && !strcmp(api_get_string(r, "host"), host)
            ? json_deep_copy(r)
            : NULL;
    pthread_mutex_unlock(&t->mutex);
    json_decref(port);
    if (!r) {
        return api_fail(err, 404, NULL,
                        "port \"%s\": no traffic reported by the agent of "
                        "its host %s%s%s yet (agents report it in their "
                        "heartbeats, to the controller they reach)",
                        name, host ? "\"" : "(none)", host ? host : "",
                        host ? "\"" : "");
    }
    at_ms = json_integer_value(json_object_get(r, "at_ms"));
    api_format_time((time_t) (at_ms / 1000), date);
    /* "2026-12-03T19:44:01Z" with the milliseconds before the "Z", so
     * that rates between two answers are exact. */
    snprintf(when, sizeof when, "%.*s.%03dZ", (int) strlen(date) - 1, date,
             (int) (at_ms % 1000));
    json_object_del(r, "at_ms");
    json_object_set_new(r, "port", json_string(name));
    json_object_set_new(r, "time", json_string(when));
    for (size_t i = 0; i < ARRAY_SIZE(traffic_counters); i++) {
        if (!json_object_get(r, traffic_counters[i])) {
            json_object_set_new(r, traffic_counters[i], json_integer(0));
        }
    }
    *out = r;
    return 200;
}
