/* UDP probes between the agents of fabric hosts. */
#include "agent/probe.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "utils/log.h"
#include "utils/names.h"
#include "utils/util.h"

/* One peer. */
struct peer {
    uint32_t vtep;        /* Its VTEP, network order. */
    char name[64];        /* Its host name, once it answered. */
    uint64_t last_answer; /* Monotonic ms of its last answer, or 0. */
};

struct probe {
    int fd;                /* The socket. */
    char *host;            /* This host's name. */
    uint32_t vtep;         /* This host's VTEP, network order. */
    uint16_t port;         /* The probe port. */
    probe_tick_func *tick; /* Called after every round. */
    void *aux;             /* Its argument. */
    pthread_t thread;      /* Answers and probes. */
    int stop_pipe[2];      /* Written to stop the thread. */

    pthread_mutex_t mutex; /* Protects what follows. */
    struct peer *peers;    /* The peers. */
    size_t n_peers;        /* Number of 'peers'. */
    uint64_t seq;          /* Last sequence number sent. */
    uint64_t bad;          /* Datagrams that were not probes. */
};

bool
probe_parse(const char *buf, size_t len, bool *answer, uint64_t *seq,
            char host[64])
{
    static const char prefix[] = "fabric-probe 1 ";
    const char *p = buf, *end = buf + len;
    size_t n;

    if (len > PROBE_MAX || len < sizeof prefix - 1
        || memcmp(p, prefix, sizeof prefix - 1)) {
        return false;
    }
    p += sizeof prefix - 1;
    if (end - p > 4 && !memcmp(p, "ask ", 4)) {
        *answer = false;
        p += 4;
    } else if (end - p > 7 && !memcmp(p, "answer ", 7)) {
        *answer = true;
        p += 7;
    } else {
        return false;
    }
    /* SEQ: decimal digits, without a leading zero, that fit 64 bits. */
    if (p == end || *p < '0' || *p > '9'
        || (*p == '0' && p + 1 < end && p[1] != ' ')) {
        return false;
    }
    for (*seq = 0; p < end && *p >= '0' && *p <= '9'; p++) {
        if (*seq > (UINT64_MAX - (*p - '0')) / 10) {
            return false;
        }
        *seq = *seq * 10 + (*p - '0');
    }
    if (p == end || *p++ != ' ') {
        return false;
    }
    /* HOST: a host name, to the end. */
    n = end - p;
    if (n == 0 || n > 63) {
        return false;
    }
    memcpy(host, p, n);
    host[n] = '\0';
    return strlen(host) == n && names_object_is_valid(host);
}

/* Sends "fabric-probe 1 KIND SEQ HOST" to 'vtep'. */
static void
send_probe(struct probe *p, uint32_t vtep, const char *kind, uint64_t seq)
{
    struct sockaddr_in to = {
        .sin_family = AF_INET,
        .sin_port = htons(p->port),
        .sin_addr.s_addr = vtep,
    };
    char buf[PROBE_MAX + 1];
    int len = snprintf(buf, sizeof buf, "fabric-probe 1 %s %" PRIu64 " %s",
                       kind, seq, p->host);

    /* A peer that is down or unreachable is what probes are for: a failed
     * send is no news. */
    if (len > 0 && len <= PROBE_MAX) {
        sendto(p->fd, buf, len, MSG_DONTWAIT, (struct sockaddr *) &to,
               sizeof to);
    }
}

/* Reads one datagram, answering an ask and recording an answer. */
static void
receive(struct probe *p)
{
    struct sockaddr_in from;
    socklen_t from_len = sizeof from;
    char buf[PROBE_MAX + 1], host[64];
    uint64_t seq;
    bool answer;
    ssize_t n;

    n = recvfrom(p->fd, buf, sizeof buf, MSG_DONTWAIT,
                 (struct sockaddr *) &from, &from_len);
    if (n < 0) {
        return;
    }
    if (!probe_parse(buf, n, &answer, &seq, host) || from_len != sizeof from
        || from.sin_family != AF_INET || ntohs(from.sin_port) != p->port) {
        pthread_mutex_lock(&p->mutex);
        p->bad++;
        pthread_mutex_unlock(&p->mutex);
        return;
    }
    if (!answer) {
        send_probe(p, from.sin_addr.s_addr, "answer", seq);
        return;
    }
    pthread_mutex_lock(&p->mutex);
    for (size_t i = 0; i < p->n_peers; i++) {
        struct peer *peer = &p->peers[i];

        /* Only an answer to a recent probe counts. */
        if (peer->vtep == from.sin_addr.s_addr && seq <= p->seq
            && p->seq - seq < PROBE_LOST_MS / PROBE_INTERVAL_MS) {
            snprintf(peer->name, sizeof peer->name, "%s", host);
            peer->last_answer = (uint64_t) time_msec();
        }
    }
    pthread_mutex_unlock(&p->mutex);
}

static void *
probe_main(void *p_)
{
    struct probe *p = p_;
    uint64_t next = 0;

    for (;;) {
        struct pollfd fds[2] = {
            {.fd = p->fd, .events = POLLIN},
            {.fd = p->stop_pipe[0], .events = POLLIN},
        };
        uint64_t now = (uint64_t) time_msec();

        if (now >= next) {
            uint32_t *vteps;
            uint64_t seq;
            size_t n;

            pthread_mutex_lock(&p->mutex);
            seq = ++p->seq;
            n = p->n_peers;
            vteps = xcalloc(n + 1, sizeof *vteps);
            for (size_t i = 0; i < n; i++) {
                vteps[i] = p->peers[i].vtep;
            }
            pthread_mutex_unlock(&p->mutex);
            for (size_t i = 0; i < n; i++) {
                send_probe(p, vteps[i], "ask", seq);
            }
            free(vteps);
            if (p->tick) {
                p->tick(p->aux);
            }
            next = now + PROBE_INTERVAL_MS;
            continue;
        }
        if (poll(fds, 2, next - now) > 0) {
            if (fds[1].revents) {
                break;
            }
            if (fds[0].revents & POLLIN) {
                receive(p);
            }
        }
    }
    return NULL;
}

int
probe_start(const char *host, uint32_t vtep, uint16_t port,
            probe_tick_func *tick, void *aux, struct probe **pp)
{
    struct sockaddr_in addr = {
        .sin_family = AF_INET,
        .sin_port = htons(port),
        .sin_addr.s_addr = vtep,
    };
    struct probe *p = xzalloc(sizeof *p);
    char text[INET_ADDRSTRLEN];
    int error;

    *pp = NULL;
    inet_ntop(AF_INET, &vtep, text, sizeof text);
    p->fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (p->fd < 0 || bind(p->fd, (struct sockaddr *) &addr, sizeof addr) < 0) {
        error = errno;
        LOG_ERR("probes: cannot listen on UDP %s:%u: %s (is \"vtep\" this "
                "host's underlay address, and \"probe-port\" free?)",
                text, port, strerror(error));
        if (p->fd >= 0) {
            close(p->fd);
        }
        free(p);
        return error;
    }
    if (pipe2(p->stop_pipe, O_CLOEXEC) < 0) {
        error = errno;
        close(p->fd);
        free(p);
        return error;
    }
    p->host = xstrdup(host);
    p->vtep = vtep;
    p->port = port;
    p->tick = tick;
    p->aux = aux;
    pthread_mutex_init(&p->mutex, NULL);
    error = pthread_create(&p->thread, NULL, probe_main, p);
    if (error) {
        LOG_ERR("probes: cannot start a thread: %s", strerror(error));
        pthread_mutex_destroy(&p->mutex);
        close(p->stop_pipe[0]);
        close(p->stop_pipe[1]);
        close(p->fd);
        free(p->host);
        free(p);
        return error;
    }
    LOG_INFO("probes: answering on UDP %s:%u, probing peers every %d ms", text,
             port, PROBE_INTERVAL_MS);
    *pp = p;
    return 0;
}

void
probe_stop(struct probe *p)
{
    if (!p) {
        return;
    }
    if (write(p->stop_pipe[1], "x", 1) < 0) {
        LOG_WARN("probes: cannot stop the thread: %s", strerror(errno));
    }
    pthread_join(p->thread, NULL);
    close(p->stop_pipe[0]);
    close(p->stop_pipe[1]);
    close(p->fd);
    pthread_mutex_destroy(&p->mutex);
    free(p->peers);
    free(p->host);
    free(p);
}

void
probe_set_peers(struct probe *p, const uint32_t *vteps, size_t n)
{
    struct peer *peers = xcalloc(n + 1, sizeof *peers);
    size_t k = 0;

    pthread_mutex_lock(&p->mutex);
    for (size_t i = 0; i < n; i++) {
        bool seen = vteps[i] == p->vtep;

        for (size_t j = 0; j < k && !seen; j++) {
            seen = peers[j].vtep == vteps[i];
        }
        if (seen) {
            continue;
        }
        peers[k].vtep = vteps[i];
        /* A peer probed before keeps what it said. */
        for (size_t j = 0; j < p->n_peers; j++) {
            if (p->peers[j].vtep == vteps[i]) {
                peers[k] = p->peers[j];
            }
        }
        k++;
    }
    free(p->peers);
    p->peers = peers;
    p->n_peers = k;
    pthread_mutex_unlock(&p->mutex);
}

json_t *
probe_peers(struct probe *p)
{
    json_t *out = json_object();
    uint64_t now = (uint64_t) time_msec();

    pthread_mutex_lock(&p->mutex);
    for (size_t i = 0; i < p->n_peers; i++) {
        const struct peer *peer = &p->peers[i];

        if (peer->last_answer) {
            json_object_set_new(
                out, peer->name,
                json_pack("{sbsI}", "answers",
                          now - peer->last_answer < PROBE_LOST_MS,
                          "last_answer_ms_ago",
                          (json_int_t) (now - peer->last_answer)));
        }
    }
    pthread_mutex_unlock(&p->mutex);
    return out;
}

bool
probe_any_answers(struct probe *p)
{
    uint64_t now = (uint64_t) time_msec();
    bool any = false;

    pthread_mutex_lock(&p->mutex);
    for (size_t i = 0; i < p->n_peers && !any; i++) {
        any = p->peers[i].last_answer
              && now - p->peers[i].last_answer < PROBE_LOST_MS;
    }
    pthread_mutex_unlock(&p->mutex);
    return any;
}

uint64_t
probe_bad(struct probe *p)
{
    uint64_t bad;

    pthread_mutex_lock(&p->mutex);
    bad = p->bad;
    pthread_mutex_unlock(&p->mutex);
    return bad;
}
