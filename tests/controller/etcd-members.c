/* Real etcd members for tests (tests/controller/etcd-members.h). */

#include "tests/controller/etcd-members.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "utils/util.h"

/* How long a cluster may take to serve its first request on a loaded
 * machine. */
#define ETCD_MEMBERS_START_MS 30000

int
etcd_members_free_port(void)
{
    struct sockaddr_in sin = {.sin_family = AF_INET};
    socklen_t len = sizeof sin;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int port = -1;

    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd >= 0 && !bind(fd, (struct sockaddr *) &sin, sizeof sin)
        && !getsockname(fd, (struct sockaddr *) &sin, &len)) {
        port = ntohs(sin.sin_port);
    }
    if (fd >= 0) {
        close(fd);
    }
    return port;
}

static size_t
discard_cb(char *p, size_t size, size_t n, void *aux)
{
    return size * n;
}

/* Whether member 'i' answers a range with 200. */
static bool
member_serves(const struct etcd_members *m, int i)
{
    CURL *curl = curl_easy_init();
    char *url =
        xasprintf("http://127.0.0.1:%d/v3/kv/range", m->client_ports[i]);
    long status = 0;

    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, "{\"key\":\"eA==\"}");
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 2000L);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, discard_cb);
    if (curl_easy_perform(curl) == CURLE_OK) {
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    }
    curl_easy_cleanup(curl);
    free(url);
    return 200 == status;
}

static pid_t member_spawn(const struct etcd_members *, int i);

bool
etcd_members_start(struct etcd_members *m, int n)
{
    const char *tmp = getenv("TMPDIR");
    char *cluster = xstrdup("");

    memset(m, 0, sizeof *m);
    m->dir =
        xasprintf("%s/fabric-test-etcd.XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
    if (!mkdtemp(m->dir)) {
        free(m->dir);
        free(cluster);
        m->dir = NULL;
        return false;
    }
    m->n = n;
    for (int i = 0; i < n; i++) {
        char *c;

        m->client_ports[i] = etcd_members_free_port();
        m->peer_ports[i] = etcd_members_free_port();
        c = xasprintf("%s%sm%d=http://127.0.0.1:%d", cluster, i ? "," : "", i,
                      m->peer_ports[i]);
        free(cluster);
        cluster = c;
    }
    m->cluster = cluster;
    for (int i = 0; i < n; i++) {
        m->pids[i] = member_spawn(m, i);
    }
    return etcd_members_wait(m);
}

/* Starts member 'i' of 'm' and returns its pid. */
static pid_t
member_spawn(const struct etcd_members *m, int i)
{
    const char *cluster = m->cluster;
    pid_t pid = fork();

    if (0 == pid) {
        char *name = xasprintf("m%d", i);
        char *data = xasprintf("%s/m%d", m->dir, i);
        char *client = xasprintf("http://127.0.0.1:%d", m->client_ports[i]);
        char *peer = xasprintf("http://127.0.0.1:%d", m->peer_ports[i]);
        char *log = xasprintf("%s/m%d.log", m->dir, i);
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);

        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        /* A test that fails (or crashes) before it stops its members
         * takes them with it: no member outlives its test. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        /* Transactions of the tests write up to thousands of objects at
         * once; requests keep etcd's default limit of 1.5 MiB, which
         * test_too_large() exceeds. */
        execlp("etcd", "etcd", "--name", name, "--data-dir", data,
               "--listen-client-urls", client, "--advertise-client-urls",
               client, "--listen-peer-urls", peer,
               "--initial-advertise-peer-urls", peer, "--initial-cluster",
               cluster, "--initial-cluster-token", m->dir, "--max-txn-ops",
               "20000", "--logger", "zap", "--log-level", "warn",
               (char *) NULL);
        _exit(127);
    }
    return pid;
}

bool
etcd_members_wait(struct etcd_members *m)
{
    int64_t deadline = time_msec() + ETCD_MEMBERS_START_MS;

    for (int i = 0; i < m->n; i++) {
        while (m->pids[i] && !member_serves(m, i)) {
            if (time_msec() > deadline) {
                fprintf(stderr,
                        "etcd member %d did not start: see %s/m%d.log\n", i,
                        m->dir, i);
                etcd_members_destroy(m);
                return false;
            }
            usleep(50 * 1000);
        }
    }
    return true;
}

char *
etcd_members_url(const struct etcd_members *m, const char *prefix)
{
    char *url = xstrdup("etcd://");

    for (int i = 0; i < m->n; i++) {
        char *u = xasprintf("%s%s127.0.0.1:%d", url, i ? "," : "",
                            m->client_ports[i]);
        free(url);
        url = u;
    }
    if (prefix) {
        char *u = xasprintf("%s%s", url, prefix);
        free(url);
        url = u;
    }
    return url;
}

void
etcd_members_kill(struct etcd_members *m, int i)
{
    if (m->pids[i] > 0) {
        kill(m->pids[i], SIGKILL);
        waitpid(m->pids[i], NULL, 0);
        m->pids[i] = 0;
    }
}

void
etcd_members_restart(struct etcd_members *m, int i)
{
    if (!m->pids[i]) {
        m->pids[i] = member_spawn(m, i);
    }
}

void
etcd_members_pause(struct etcd_members *m, int i, bool pause)
{
    if (m->pids[i] > 0) {
        kill(m->pids[i], pause ? SIGSTOP : SIGCONT);
    }
}

void
etcd_members_destroy(struct etcd_members *m)
{
    for (int i = 0; i < m->n; i++) {
        etcd_members_pause(m, i, false);
        etcd_members_kill(m, i);
    }
    if (m->dir) {
        remove_tree(m->dir);
        free(m->dir);
        m->dir = NULL;
    }
    free(m->cluster);
    m->cluster = NULL;
}
