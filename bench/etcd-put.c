/* etcd-put: the rate of etcd's own puts and reads through its v3 JSON
 * gateway, the baseline of bench/store.sh for the controller's writes and
 * reads on the etcd store: the same gateway, libcurl with one kept-alive
 * connection per client thread, as bench-api's clients and the store use.
 *
 * Usage: etcd-put ENDPOINT SECONDS THREADS
 *
 * Each thread puts keys /fabric-bench/put/T-I with a 300-byte value for
 * SECONDS, then reads one key for SECONDS; prints "puts/s N" and
 * "ranges/s N".  bench/store.sh runs it on etcd members of its own. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "utils/base64.h"
#include "utils/util.h"

struct worker {
    pthread_t thread;     /* Runs worker_main(). */
    int id;               /* Thread number. */
    bool read;            /* Ranges instead of puts. */
    const char *endpoint; /* Base URL. */
    double until;         /* CLOCK_MONOTONIC end, seconds. */
    unsigned long done;   /* Requests answered with 200. */
    unsigned long failed; /* Others. */
};

static double
now_seconds(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static size_t
discard_cb(char *p, size_t size, size_t n, void *aux)
{
    return size * n;
}

static char *
b64(const char *s)
{
    return base64_encode((const uint8_t *) s, strlen(s));
}

static void *
worker_main(void *w_)
{
    struct worker *w = w_;
    CURL *curl = curl_easy_init();
    struct curl_slist *headers =
        curl_slist_append(NULL, "Content-Type: application/json");
    char value[301];
    char *value64, *url;

    memset(value, 'v', 300);
    value[300] = '\0';
    value64 = b64(value);
    url = xasprintf("%s/v3/kv/%s", w->endpoint, w->read ? "range" : "put");
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, discard_cb);
    for (unsigned long i = 0; now_seconds() < w->until; i++) {
        char *key =
            xasprintf("/fabric-bench/put/%d-%lu", w->id, w->read ? 0 : i);
        char *key64 = b64(key);
        char *body = (w->read ? xasprintf("{\"key\":\"%s\"}", key64)
                              : xasprintf("{\"key\":\"%s\",\"value\":\"%s\"}",
                                          key64, value64));
        long status = 0;

        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
        if (curl_easy_perform(curl) == CURLE_OK) {
            curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
        }
        if (200 == status) {
            w->done++;
        } else {
            w->failed++;
        }
        free(body);
        free(key64);
        free(key);
    }
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
    free(value64);
    free(url);
    return NULL;
}

/* Runs 'n' workers for 'seconds' and returns their rate. */
static double
measure(const char *endpoint, double seconds, int n, bool read)
{
    struct worker *w = xcalloc(n, sizeof *w);
    unsigned long done = 0, failed = 0;
    double start = now_seconds();

    for (int i = 0; i < n; i++) {
        w[i] = (struct worker){.id = i,
                               .read = read,
                               .endpoint = endpoint,
                               .until = start + seconds};
        pthread_create(&w[i].thread, NULL, worker_main, &w[i]);
    }
    for (int i = 0; i < n; i++) {
        pthread_join(w[i].thread, NULL);
        done += w[i].done;
        failed += w[i].failed;
    }
    free(w);
    if (!done || failed) {
        fprintf(stderr, "etcd-put: %s: %lu answered, %lu failed\n", endpoint,
                done, failed);
        if (!done) {
            exit(1);
        }
    }
    return done / (now_seconds() - start);
}

int
main(int argc, char *argv[])
{
    double seconds;
    int threads;

    if (argc != 4 || (seconds = atof(argv[2])) <= 0
        || (threads = atoi(argv[3])) < 1) {
        fprintf(stderr, "usage: etcd-put ENDPOINT SECONDS THREADS\n");
        return 2;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    printf("puts/s %.0f\n", measure(argv[1], seconds, threads, false));
    printf("ranges/s %.0f\n", measure(argv[1], seconds, threads, true));
    return 0;
}
