/* bench-placement: VM placements per second of fabric-controller's
 * scheduler, against plain port creations measured the same way in the
 * same run.
 *
 * Usage: bench-placement [-H HOSTS] [-n VMS] [-b BARE_VMS] [-w spread|pack]
 *        (defaults 1000 hosts, 10000 VMs, 10000 bare VMs, spread)
 *
 * The benchmark opens a fresh SQLite store in a temporary folder (in
 * /dev/shm when there is one, as the API's fuzz target does, so that the
 * disk does not set the pace) and calls the controller's API functions
 * (controller/api.h) directly, in one thread: what POST /v1/vms and POST
 * /v1/ports do behind HTTP, validation, transactions, allocation and the
 * commit included, without the HTTP layer (bench/bench-api measures
 * that).  It registers HOSTS hosts (64 vCPUs, 256 GiB, 2000 GiB of disk
 * each) and one image, then measures in turn:
 *
 *   ports      VMS plain port creations ({"name", "network"}), the
 *              baseline: one write transaction each, with an address
 *              and a MAC allocated
 *   vms        VMS VM creations with one NIC each, the placement the
 *              issue means: a placement over every host (filters,
 *              weighers), the claim on the chosen host, the VM and its
 *              NIC's port on that host, whose placement checks the flood
 *              lists of the network's hosts, in one write transaction
 *   bare       BARE_VMS VM creations without NICs: the placement and the
 *              claim alone
 *   decisions  the scheduler alone (sched_choose()) over HOSTS hosts,
 *              without the store, as many times
 *
 * and checks that every host's allocation is the sum of its VMs.  A
 * benchmark, not a test: it prints figures and gates nothing (the issue's
 * target, 5000 placements per second, is shown beside them).  It fails
 * only when it cannot measure. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "controller/api.h"
#include "controller/scheduler.h"
#include "controller/store.h"
#include "utils/log.h"
#include "utils/util.h"

#define BENCH_HOSTS_DEFAULT 1000
#define BENCH_VMS_DEFAULT 10000
#define BENCH_BARE_VMS_DEFAULT 10000
#define BENCH_TARGET 5000.0 /* Placements per second, issue 12. */

/* Seconds on the monotonic clock: each phase lasts a good part of a
 * second or more, for which milliseconds are precise enough. */
static double
now(void)
{
    return time_msec() / 1e3;
}

/* Exits with 'what' and the API's error. */
static void
die(const char *what, const struct api_error *err)
{
    fprintf(stderr, "bench-placement: %s: %s\n", what,
            err && err->message ? err->message : "failed");
    exit(1);
}

/* Calls create operation 'fn' with JSON 'text', which must succeed. */
static void
create(struct api *api,
       int (*fn)(struct api *, const json_t *, json_t **, struct api_error *),
       const char *text)
{
    struct api_error err = {0};
    json_error_t jerr;
    json_t *in = json_loads(text, 0, &jerr), *out = NULL;
    int status;

    if (!in) {
        fprintf(stderr, "bench-placement: %s: %s\n", text, jerr.text);
        exit(1);
    }
    status = fn(api, in, &out, &err);
    if (status != 201 && status != 200) {
        die(text, &err);
    }
    json_decref(in);
    json_decref(out);
}

/* Sums the VMs' claims per host and compares them with the hosts'
 * allocations; returns how many hosts disagree. */
static size_t
check_allocations(struct api *api, size_t n_hosts, int64_t *n_vms)
{
    struct api_error err = {0};
    json_t *sums = json_object();
    char *token = NULL;
    size_t bad = 0;

    *n_vms = 0;
    do {
        json_t *query = json_pack("{ss}", "limit", "1000"), *list;
        const json_t *vm;
        size_t j;

        if (token) {
            json_object_set_new(query, "page_token", json_string(token));
        }
        if (api_vm_list(api, query, &list, &err) != 200) {
            die("listing VMs", &err);
        }
        json_array_foreach(json_object_get(list, "items"), j, vm)
        {
            const char *host = json_string_value(json_object_get(vm, "host"));
            json_t *sum = json_object_get(sums, host);

            if (!sum) {
                sum = json_pack("[II]", (json_int_t) 0, (json_int_t) 0);
                json_object_set_new(sums, host, sum);
            }
            json_array_set_new(
                sum, 0,
                json_integer(
                    json_integer_value(json_array_get(sum, 0))
                    + json_integer_value(json_object_get(vm, "vcpus"))));
            json_array_set_new(
                sum, 1,
                json_integer(json_integer_value(json_array_get(sum, 1)) + 1));
            (*n_vms)++;
        }
        free(token);
        token = json_string_value(json_object_get(list, "next_page_token"))
                    ? xstrdup(json_string_value(
                        json_object_get(list, "next_page_token")))
                    : NULL;
        json_decref(query);
        json_decref(list);
    } while (token);

    for (size_t i = 0; i < n_hosts; i++) {
        const json_t *alloc, *sum;
        char name[32];
        json_t *host;

        snprintf(name, sizeof name, "host-%zu", i);
        if (api_host_get(api, name, &host, &err) != 200) {
            die(name, &err);
        }
        alloc = json_object_get(host, "allocated");
        sum = json_object_get(sums, name);
        bad += json_integer_value(json_array_get(sum, 0))
                   != json_integer_value(json_object_get(alloc, "vcpus"))
               || json_integer_value(json_array_get(sum, 1))
                      != json_integer_value(json_object_get(alloc, "vms"));
        json_decref(host);
    }
    json_decref(sums);
    return bad;
}

/* Times 'n' creations made by 'fn' from the text 'format' with the number
 * of each; returns the rate per second. */
static double
timed(struct api *api,
      int (*fn)(struct api *, const json_t *, json_t **, struct api_error *),
      const char *format, size_t n, double *seconds)
{
    double start = now();

    for (size_t i = 0; i < n; i++) {
        char *text = xasprintf(format, i, i % 8 + 1);

        create(api, fn, text);
        free(text);
    }
    *seconds = now() - start;
    return n / *seconds;
}

/* Times 'n' decisions of sched_choose() over 'n_hosts' hosts with the
 * allocations of a half-full cloud, no store involved. */
static double
decisions(size_t n_hosts, size_t n, enum sched_weigher w)
{
    struct sched_host *hosts = xcalloc(n_hosts, sizeof *hosts);
    struct sched_request req = {
        .need = {.vcpus = 2, .memory_mb = 2048, .disk_gb = 10},
        .weigher = w,
    };
    char **names = xcalloc(n_hosts, sizeof *names);
    double start, seconds;
    long sum = 0;

    for (size_t i = 0; i < n_hosts; i++) {
        names[i] = xasprintf("host-%zu", i);
        hosts[i] = (struct sched_host){
            .name = names[i],
            .ready = true,
            .has_capacity = true,
            .capacity = {64, 262144, 2000},
            .cpu_ratio = SCHED_CPU_RATIO_DEFAULT,
            .memory_ratio = SCHED_MEMORY_RATIO_DEFAULT,
            .disk_ratio = SCHED_DISK_RATIO_DEFAULT,
            .allocated = {(int64_t) (i % 64), (int64_t) (i * 131 % 262144),
                          (int64_t) (i % 1000)},
        };
    }
    start = now();
    for (size_t i = 0; i < n; i++) {
        long best = sched_choose(hosts, n_hosts, &req, 0, NULL);

        /* Claim, so that successive decisions differ. */
        hosts[best].allocated.memory_mb += req.need.memory_mb;
        hosts[best].allocated.vcpus += req.need.vcpus;
        sum += best;
    }
    seconds = now() - start;
    for (size_t i = 0; i < n_hosts; i++) {
        free(names[i]);
    }
    free(names);
    free(hosts);
    return sum >= 0 ? n / seconds : 0;
}

int
main(int argc, char *argv[])
{
    size_t n_hosts = BENCH_HOSTS_DEFAULT, n_vms = BENCH_VMS_DEFAULT;
    size_t n_bare = BENCH_BARE_VMS_DEFAULT;
    enum sched_weigher weigher = SCHED_SPREAD;
    double port_rate, vm_rate, bare_rate, dec_rate, s_ports, s_vms, s_bare;
    double setup;
    struct store_txn *txn;
    struct store *store;
    struct api api;
    struct stat st;
    int64_t placed;
    char *dir, *db;
    json_t *image;
    size_t bad;
    int c;

    while ((c = getopt(argc, argv, "H:n:b:w:h")) != -1) {
        switch (c) {
        case 'H':
            n_hosts = strtoul(optarg, NULL, 10);
            break;
        case 'n':
            n_vms = strtoul(optarg, NULL, 10);
            break;
        case 'b':
            n_bare = strtoul(optarg, NULL, 10);
            break;
        case 'w':
            if (!sched_weigher_parse(optarg, &weigher)) {
                fprintf(stderr,
                        "bench-placement: -w %s: expected spread or "
                        "pack\n",
                        optarg);
                return 2;
            }
            break;
        default:
            fprintf(stderr, "usage: bench-placement [-H HOSTS] [-n VMS] "
                            "[-b BARE_VMS] [-w spread|pack]\n");
            return c == 'h' ? 0 : 2;
        }
    }
    if (!n_hosts || n_hosts > 38400 || !n_vms || n_vms > 30000 || !n_bare
        || n_bare > 30000) {
        fprintf(stderr, "bench-placement: need 1 to 38400 hosts and 1 to "
                        "30000 VMs (two /16 networks hold their ports)\n");
        return 2;
    }

    log_set_level(LOG_LEVEL_ERR);
    dir = xasprintf("%s/bench-placement-XXXXXX",
                    !stat("/dev/shm", &st) && S_ISDIR(st.st_mode) ? "/dev/shm"
                                                                  : "/tmp");
    if (!mkdtemp(dir)) {
        fprintf(stderr, "bench-placement: %s: %s\n", dir, strerror(errno));
        return 1;
    }
    db = xasprintf("%s/controller.db", dir);
    if (store_open(db, &store)) {
        fprintf(stderr, "bench-placement: cannot open %s\n", db);
        return 1;
    }
    /* The run must not outlast the heartbeats of registration. */
    api_init(&api, store, 86400);
    api_sched_set_weigher(&api, weigher);

    setup = now();
    create(&api, api_network_create,
           "{\"name\": \"ports\", \"cidr\": \"10.0.0.0/16\"}");
    create(&api, api_network_create,
           "{\"name\": \"vms\", \"cidr\": \"10.1.0.0/16\"}");
    for (size_t i = 0; i < n_hosts; i++) {
        char *text =
            xasprintf("{\"name\": \"host-%zu\", \"vtep\": \"10.%zu.%zu.1\", "
                      "\"underlay\": \"eth0\", \"capacity\": {\"vcpus\": 64, "
                      "\"memory_mb\": 262144, \"disk_gb\": 2000}}",
                      i, 100 + i / 256, i % 256);

        create(&api, api_host_register, text);
        free(text);
    }
    /* The image, as the images API leaves an uploaded one. */
    image = json_pack("{sssssIss}", "status", "active", "format", "qcow2",
                      "virtual_size_bytes", (json_int_t) 1 << 30, "file",
                      "images/tiny.qcow2");
    if (store_begin(store, true, &txn)
        || store_put(txn, "image", "tiny", image, STORE_ANY, NULL)
        || store_commit(txn, NULL)) {
        fprintf(stderr, "bench-placement: cannot write the image\n");
        return 1;
    }
    json_decref(image);
    setup = now() - setup;

    printf("bench-placement: %zu hosts registered in %.2f s; %zu ports, %zu "
           "VMs with a NIC, %zu VMs without; weigher %s; one thread, API "
           "functions (no HTTP)\n",
           n_hosts, setup, n_vms, n_vms, n_bare, sched_weigher_name(weigher));
    port_rate = timed(&api, api_port_create,
                      "{\"name\": \"port-%zu\", \"network\": \"ports\", "
                      "\"description\": \"%zu\"}",
                      n_vms, &s_ports);
    vm_rate = timed(&api, api_vm_create,
                    "{\"name\": \"vm-%zu\", \"vcpus\": %zu, \"memory_mb\": "
                    "1024, \"image\": \"tiny\", \"nics\": [{\"network\": "
                    "\"vms\"}]}",
                    n_vms, &s_vms);
    bare_rate = timed(&api, api_vm_create,
                      "{\"name\": \"bare-%zu\", \"vcpus\": %zu, "
                      "\"memory_mb\": 512, \"image\": \"tiny\"}",
                      n_bare, &s_bare);
    dec_rate = decisions(n_hosts, n_vms, weigher);

    printf("  %-44s %9.0f /s  (%.2f s)  baseline\n",
           "POST /v1/ports (api_port_create)", port_rate, s_ports);
    printf("  %-44s %9.0f /s  (%.2f s)  %.2f x ports\n",
           "POST /v1/vms, one NIC (placement + port)", vm_rate, s_vms,
           vm_rate / port_rate);
    printf("  %-44s %9.0f /s  (%.2f s)  %.2f x ports\n",
           "POST /v1/vms, no NIC (placement alone)", bare_rate, s_bare,
           bare_rate / port_rate);
    printf("  %-44s %9.0f /s  (%zu hosts each)\n",
           "sched_choose() alone (no store)", dec_rate, n_hosts);
    printf("  target: %.0f placements/s with a NIC: %s\n", BENCH_TARGET,
           vm_rate >= BENCH_TARGET ? "met" : "NOT met");

    bad = check_allocations(&api, n_hosts, &placed);
    printf("  allocations: %" PRId64 " VMs on %zu hosts, %zu host%s whose "
           "allocation is not the sum of its VMs\n",
           placed, n_hosts, bad, bad == 1 ? "" : "s");

    api_destroy(&api);
    store_close(store);
    remove_tree(dir);
    free(db);
    free(dir);
    return bad || placed != (int64_t) (n_vms + n_bare);
}
