/* udpseq: a probe stream of sequence-numbered datagrams, to count what a
 * path loses while something moves under it (a live migration).
 *
 *   udpseq send ADDR:PORT [-i USEC] [-d SEC] [-w MS] [-s BYTES] [-j]
 *       Sends one UDP datagram every USEC microseconds (default 1000) for
 *       SEC seconds (default 10; 0 until SIGINT or SIGTERM), each with a
 *       64-bit sequence number and its send time, and counts the ones an
 *       echo sends back; waits MS milliseconds (default 1000) for the last
 *       ones, then prints what it counted.
 *   udpseq recv [ADDR:]PORT [-d SEC] [-j]
 *       Counts the datagrams of a sender on the way in, for SEC seconds
 *       (default 0: until SIGINT or SIGTERM), then prints what it counted.
 *   udpseq echo [ADDR:]PORT
 *       Sends every UDP datagram back where it came from, until killed.
 *   udpseq tcp ADDR:PORT [-i USEC] [-d SEC] [-w MS] [-j]
 *       The same probe over one TCP connection to an echo service (default
 *       every 10000 us): every record must come back, in order and
 *       unchanged, on the same connection.
 *
 * The report (one line, key=value, or JSON with -j): sent, received,
 * lost, reordered, duplicates, invalid (datagrams that are not the
 * probe's), longest_loss (most consecutive numbers lost), loss_runs
 * (how many runs of lost numbers) and first_loss_runs (where the first
 * ones start and how long they are: "FIRST+COUNT"),
 * longest_gap_ms (longest time between two arrivals), gap_before (the
 * number that ended it), rtt_max_ms (send to echo; 0 for recv) and, for
 * tcp, error.  Exit status: 0,
 * 1 on an error or (tcp) a record that did not come back, 2 on bad usage.
 *
 * It is built static (tests/tools/automake.mk), so scripts/build-test-image
 * puts it into the test guest, which runs "udpseq echo 7". */

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "tests/tools/seqstat.h"

/* A probe record: the whole datagram (padded with zeros to -s), or one
 * fixed-size record of the TCP stream. */
#define UDPSEQ_MAGIC 0x46535131u /* "FSQ1" */
#define UDPSEQ_RECORD 24
#define UDPSEQ_MAX_DATAGRAM 65507

struct udpseq_options {
    struct sockaddr_in addr; /* Where to send, or where to listen. */
    long interval_us;        /* Time between two records. */
    long duration_s;         /* How long to send; 0 until a signal. */
    long linger_ms;          /* How long to wait for the last echoes. */
    long size;               /* Datagram size, at least UDPSEQ_RECORD. */
    bool json;               /* Report in JSON. */
};

static volatile sig_atomic_t stop_requested;

static void
on_stop(int sig)
{
    stop_requested = 1;
}

static uint64_t
now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void
put_be64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        p[i] = v & 0xff;
        v >>= 8;
    }
}

static uint64_t
get_be64(const uint8_t *p)
{
    uint64_t v = 0;

    for (int i = 0; i < 8; i++) {
        v = v << 8 | p[i];
    }
    return v;
}

/* Writes record 'seq', sent at 'sent', into 'buf' (UDPSEQ_RECORD bytes). */
static void
record_put(uint8_t *buf, uint64_t seq, uint64_t sent)
{
    uint32_t magic = htonl(UDPSEQ_MAGIC);

    memcpy(buf, &magic, 4);
    memset(buf + 4, 0, 4);
    put_be64(buf + 8, seq);
    put_be64(buf + 16, sent);
}

/* Reads a record out of the 'n' bytes at 'buf': returns false if they are
 * not one of ours. */
static bool
record_get(const uint8_t *buf, size_t n, uint64_t *seq, uint64_t *sent)
{
    uint32_t magic;

    if (n < UDPSEQ_RECORD) {
        return false;
    }
    memcpy(&magic, buf, 4);
    if (ntohl(magic) != UDPSEQ_MAGIC) {
        return false;
    }
    *seq = get_be64(buf + 8);
    *sent = get_be64(buf + 16);
    return true;
}

/* Prints the runs of lost numbers of 'r' as "FIRST+COUNT" separated by
 * 'sep', with "..." when there were more. */
static void
runs_print(const struct seqstat_report *r, const char *sep)
{
    for (uint64_t i = 0; i < r->n_runs && i < SEQSTAT_RUNS; i++) {
        printf("%s%" PRIu64 "+%" PRIu64, i ? sep : "", r->runs[i].first,
               r->runs[i].count);
    }
    if (r->n_runs > SEQSTAT_RUNS) {
        printf("%s...", sep);
    }
}

static void
report_print(const struct seqstat_report *r, const char *error, bool json)
{
    if (json) {
        printf("{\"sent\": %" PRIu64 ", \"received\": %" PRIu64
               ", \"lost\": %" PRIu64 ", \"reordered\": %" PRIu64
               ", \"duplicates\": %" PRIu64 ", \"invalid\": %" PRIu64
               ", \"longest_loss\": %" PRIu64 ", \"loss_runs\": %" PRIu64
               ", \"first_loss_runs\": \"",
               r->sent, r->received, r->lost, r->reordered, r->duplicates,
               r->invalid, r->longest_loss, r->n_runs);
        runs_print(r, " ");
        printf("\", \"longest_gap_ms\": %.3f, \"gap_before\": %" PRIu64
               ", \"rtt_max_ms\": %.3f",
               r->longest_gap_ms, r->gap_before, r->rtt_max_ms);
        if (error) {
            /* Our own messages: no quote or backslash to escape. */
            printf(", \"error\": \"%s\"", error);
        }
        printf("}\n");
    } else {
        printf("sent=%" PRIu64 " received=%" PRIu64 " lost=%" PRIu64
               " reordered=%" PRIu64 " duplicates=%" PRIu64 " invalid=%" PRIu64
               " longest_loss=%" PRIu64 " loss_runs=%" PRIu64
               " first_loss_runs=",
               r->sent, r->received, r->lost, r->reordered, r->duplicates,
               r->invalid, r->longest_loss, r->n_runs);
        runs_print(r, ",");
        printf(" longest_gap_ms=%.3f gap_before=%" PRIu64 " rtt_max_ms=%.3f",
               r->longest_gap_ms, r->gap_before, r->rtt_max_ms);
        if (error) {
            printf(" error=\"%s\"", error);
        }
        printf("\n");
    }
    fflush(stdout);
}

/* Parses "ADDR:PORT", or "PORT" alone when 'port_only_ok' (any address). */
static bool
parse_addr(const char *s, bool port_only_ok, struct sockaddr_in *sin)
{
    const char *colon = strrchr(s, ':');
    const char *port = colon ? colon + 1 : s;
    char host[INET_ADDRSTRLEN];
    char *end;
    long p;

    memset(sin, 0, sizeof *sin);
    sin->sin_family = AF_INET;
    errno = 0;
    p = strtol(port, &end, 10);
    if (errno || *port == '\0' || *end != '\0' || p < 1 || p > 65535) {
        return false;
    }
    sin->sin_port = htons(p);
    if (!colon) {
        sin->sin_addr.s_addr = htonl(INADDR_ANY);
        return port_only_ok;
    }
    if (colon - s >= (ptrdiff_t) sizeof host) {
        return false;
    }
    memcpy(host, s, colon - s);
    host[colon - s] = '\0';
    return inet_pton(AF_INET, host, &sin->sin_addr) == 1;
}

/* A timer that fires every 'interval_us', so the stream keeps its rate
 * whatever else the loop does; a late wake-up sends the missed records at
 * once, so the count of records says how long the stream ran. */
static int
timer_open(long interval_us)
{
    struct itimerspec its = {
        .it_interval = {interval_us / 1000000, interval_us % 1000000 * 1000},
    };
    int fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);

    its.it_value = its.it_interval;
    if (fd < 0 || timerfd_settime(fd, 0, &its, NULL) < 0) {
        perror("udpseq: timerfd");
        exit(1);
    }
    return fd;
}

/* Returns the records the timer says are due, 0 if none. */
static uint64_t
timer_due(int fd)
{
    uint64_t n;

    return read(fd, &n, sizeof n) == sizeof n ? n : 0;
}

/* Whether the stream should stop sending at 'now' (started at 'start'). */
static bool
send_over(const struct udpseq_options *o, uint64_t start, uint64_t now)
{
    return stop_requested
           || (o->duration_s
               && now - start >= (uint64_t) o->duration_s * 1000000000);
}

/* One turn of a probe's loop, over the socket 'pfd[0]' and the timer
 * 'pfd[1]': returns false once the stream is over ('o''s time is up, and
 * all 'sent' records came back or '*linger_end' passed), else waits up
 * to 10 ms for either, the timer only while sending. */
static bool
stream_turn(const struct udpseq_options *o, uint64_t start,
            uint64_t *linger_end, uint64_t received, uint64_t sent,
            struct pollfd pfd[2])
{
    uint64_t now = now_ns();

    if (!*linger_end && send_over(o, start, now)) {
        *linger_end = now + (uint64_t) o->linger_ms * 1000000;
    }
    if (*linger_end && (now >= *linger_end || received >= sent)) {
        return false;
    }
    if (poll(pfd, *linger_end ? 1 : 2, 10) < 0 && errno != EINTR) {
        perror("udpseq: poll");
        exit(1);
    }
    return true;
}

static int
udp_socket(void)
{
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    int rcvbuf = 4 << 20;

    if (fd < 0) {
        perror("udpseq: socket");
        exit(1);
    }
    /* A burst after a pause must not overflow the socket: what the path
     * delivered counts as delivered. */
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    return fd;
}

/* Counts every datagram waiting on 'fd' into 'st'; 'round_trip' says
 * whether they come back to their sender, whose send times are then on our
 * clock. */
static void
udp_drain(int fd, struct seqstat *st, uint8_t *buf, bool round_trip)
{
    for (;;) {
        ssize_t n = recv(fd, buf, UDPSEQ_MAX_DATAGRAM, MSG_DONTWAIT);
        uint64_t seq, sent;

        if (n < 0) {
            /* An ICMP error for an earlier datagram (the echo not there
             * yet) reads as ECONNREFUSED once: it is only a loss. */
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
                return;
            }
            continue;
        }
        if (record_get(buf, n, &seq, &sent)) {
            seqstat_add(st, seq, round_trip ? sent : 0, now_ns());
        } else {
            st->invalid++;
        }
    }
}

static int
run_send(const struct udpseq_options *o)
{
    uint8_t *buf = calloc(1, UDPSEQ_MAX_DATAGRAM);
    int fd = udp_socket(), tfd = timer_open(o->interval_us);
    uint64_t seq = 0, start = now_ns(), linger_end = 0;
    struct seqstat_report r;
    struct seqstat st;

    if (!buf) {
        fprintf(stderr, "udpseq: out of memory\n");
        return 1;
    }
    if (connect(fd, (struct sockaddr *) &o->addr, sizeof o->addr) < 0) {
        perror("udpseq: connect");
        return 1;
    }
    seqstat_init(&st);
    for (;;) {
        struct pollfd pfd[2] = {{fd, POLLIN, 0}, {tfd, POLLIN, 0}};

        if (!stream_turn(o, start, &linger_end, st.received, seq, pfd)) {
            break;
        }
        if (pfd[0].revents) {
            udp_drain(fd, &st, buf, true);
        }
        if (!linger_end && pfd[1].revents) {
            for (uint64_t n = timer_due(tfd); n > 0; n--) {
                record_put(buf, seq, now_ns());
                memset(buf + UDPSEQ_RECORD, 0, o->size - UDPSEQ_RECORD);
                /* A refused datagram (ICMP unreachable, no buffer) is one
                 * the path lost; the stream goes on. */
                send(fd, buf, o->size, 0);
                seq++;
            }
        }
    }
    seqstat_report(&st, seq, &r);
    report_print(&r, NULL, o->json);
    seqstat_destroy(&st);
    free(buf);
    return 0;
}

static int
bound_socket(int type, const struct sockaddr_in *addr)
{
    int fd = type == SOCK_DGRAM ? udp_socket() : socket(AF_INET, type, 0);
    int one = 1;

    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, (const struct sockaddr *) addr, sizeof *addr) < 0) {
        fprintf(stderr, "udpseq: bind %s:%d: %s\n", inet_ntoa(addr->sin_addr),
                ntohs(addr->sin_port), strerror(errno));
        exit(1);
    }
    return fd;
}

static int
run_recv(const struct udpseq_options *o)
{
    uint8_t *buf = calloc(1, UDPSEQ_MAX_DATAGRAM);
    int fd = bound_socket(SOCK_DGRAM, &o->addr);
    uint64_t start = now_ns();
    struct seqstat_report r;
    struct seqstat st;

    if (!buf) {
        fprintf(stderr, "udpseq: out of memory\n");
        return 1;
    }
    seqstat_init(&st);
    while (!send_over(o, start, now_ns())) {
        struct pollfd pfd = {fd, POLLIN, 0};

        if (poll(&pfd, 1, 10) > 0) {
            udp_drain(fd, &st, buf, false);
        }
    }
    seqstat_report(&st, 0, &r);
    report_print(&r, NULL, o->json);
    seqstat_destroy(&st);
    free(buf);
    return 0;
}

static int
run_echo(const struct udpseq_options *o)
{
    static uint8_t buf[UDPSEQ_MAX_DATAGRAM];
    int fd = bound_socket(SOCK_DGRAM, &o->addr);

    while (!stop_requested) {
        struct sockaddr_in from;
        socklen_t len = sizeof from;
        ssize_t n =
            recvfrom(fd, buf, sizeof buf, 0, (struct sockaddr *) &from, &len);

        if (n >= 0) {
            sendto(fd, buf, n, 0, (struct sockaddr *) &from, len);
        }
    }
    return 0;
}

/* Connects to 'addr' within 10 seconds. */
static int
tcp_connect(const struct sockaddr_in *addr)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct timeval tv = {10, 0};
    int one = 1;

    if (fd < 0) {
        perror("udpseq: socket");
        exit(1);
    }
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (connect(fd, (const struct sockaddr *) addr, sizeof *addr) < 0) {
        fprintf(stderr, "udpseq: connect to %s:%d: %s\n",
                inet_ntoa(addr->sin_addr), ntohs(addr->sin_port),
                strerror(errno));
        exit(1);
    }
    /* Records go out when due, not when Nagle thinks it is time. */
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

static int
run_tcp(const struct udpseq_options *o)
{
    int fd = tcp_connect(&o->addr), tfd = timer_open(o->interval_us);
    uint8_t in[64 * UDPSEQ_RECORD], rec[UDPSEQ_RECORD];
    uint64_t seq = 0, start = now_ns(), linger_end = 0;
    const char *error = NULL;
    size_t have = 0;
    struct seqstat_report r;
    struct seqstat st;

    seqstat_init(&st);
    while (!error) {
        struct pollfd pfd[2] = {{fd, POLLIN, 0}, {tfd, POLLIN, 0}};

        if (!stream_turn(o, start, &linger_end, st.received, seq, pfd)) {
            break;
        }
        if (pfd[0].revents) {
            ssize_t n = recv(fd, in + have, sizeof in - have, MSG_DONTWAIT);
            size_t off = 0;

            if (n == 0) {
                error = "the echo service closed the connection";
                break;
            } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
                error = errno == ECONNRESET ? "connection reset"
                                            : "connection failed";
                break;
            }
            have += n > 0 ? n : 0;
            for (; have - off >= UDPSEQ_RECORD; off += UDPSEQ_RECORD) {
                uint64_t got, sent;

                /* A stream echo returns every record in order: anything
                 * else is a corrupted connection. */
                if (!record_get(in + off, UDPSEQ_RECORD, &got, &sent)
                    || got != st.next) {
                    error = "the echo returned a record out of order";
                    break;
                }
                seqstat_add(&st, got, sent, now_ns());
            }
            memmove(in, in + off, have - off);
            have -= off;
        }
        if (!linger_end && pfd[1].revents) {
            for (uint64_t n = timer_due(tfd); n > 0 && !error; n--) {
                record_put(rec, seq, now_ns());
                if (send(fd, rec, sizeof rec, MSG_NOSIGNAL) != sizeof rec) {
                    error = "connection failed on send";
                }
                seq++;
            }
        }
    }
    seqstat_report(&st, seq, &r);
    if (!error && r.lost) {
        error = "records did not come back";
    }
    report_print(&r, error, o->json);
    seqstat_destroy(&st);
    close(fd);
    return error ? 1 : 0;
}

static void
usage(void)
{
    fprintf(stderr,
            "usage: udpseq send ADDR:PORT [-i USEC] [-d SEC] [-w MS] "
            "[-s BYTES] [-j]\n"
            "       udpseq recv [ADDR:]PORT [-d SEC] [-j]\n"
            "       udpseq echo [ADDR:]PORT\n"
            "       udpseq tcp ADDR:PORT [-i USEC] [-d SEC] [-w MS] [-j]\n");
    exit(2);
}

/* Parses option 'opt''s value 'arg' as a number in 'min'..'max'. */
static long
parse_number(int opt, const char *arg, long min, long max)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(arg, &end, 10);
    if (errno || *arg == '\0' || *end != '\0' || v < min || v > max) {
        fprintf(stderr, "udpseq: -%c \"%s\": must be a number in %ld..%ld\n",
                opt, arg, min, max);
        exit(2);
    }
    return v;
}

int
main(int argc, char *argv[])
{
    struct udpseq_options o = {
        .interval_us = 1000,
        .duration_s = 10,
        .linger_ms = 1000,
        .size = UDPSEQ_RECORD,
    };
    struct sigaction sa = {.sa_handler = on_stop};
    const char *mode;
    int opt;

    if (argc < 3) {
        usage();
    }
    mode = argv[1];
    if (!strcmp(mode, "recv") || !strcmp(mode, "echo")) {
        o.duration_s = 0;
    } else if (!strcmp(mode, "tcp")) {
        o.interval_us = 10000;
    } else if (strcmp(mode, "send")) {
        fprintf(stderr, "udpseq: unknown mode \"%s\"\n", mode);
        usage();
    }
    if (!parse_addr(argv[2], strcmp(mode, "send") && strcmp(mode, "tcp"),
                    &o.addr)) {
        fprintf(stderr,
                "udpseq: \"%s\": expected IPV4ADDR:PORT (or PORT to "
                "listen on)\n",
                argv[2]);
        exit(2);
    }
    optind = 3;
    while ((opt = getopt(argc, argv, "i:d:w:s:j")) != -1) {
        switch (opt) {
        case 'i':
            o.interval_us = parse_number(opt, optarg, 10, 10000000);
            break;
        case 'd':
            o.duration_s = parse_number(opt, optarg, 0, 86400);
            break;
        case 'w':
            o.linger_ms = parse_number(opt, optarg, 0, 600000);
            break;
        case 's':
            o.size = parse_number(opt, optarg, UDPSEQ_RECORD, 1472);
            break;
        case 'j':
            o.json = true;
            break;
        default:
            usage();
        }
    }
    if (optind != argc) {
        usage();
    }

    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (!strcmp(mode, "send")) {
        return run_send(&o);
    } else if (!strcmp(mode, "recv")) {
        return run_recv(&o);
    } else if (!strcmp(mode, "echo")) {
        return run_echo(&o);
    } else {
        return run_tcp(&o);
    }
}
