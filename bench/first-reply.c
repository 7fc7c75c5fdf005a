/* first-reply: sends an ICMP echo request to an IPv4 address every few
 * milliseconds, whether or not the previous one was answered, until the
 * first reply, and prints when that reply arrived.  bench/convergence.sh
 * runs it in a VM's network namespace to see when a new port starts
 * carrying traffic; ping(8) cannot do that, because while a request is
 * unanswered it waits at least 10 ms before sending the next one.
 *
 * Usage: first-reply [-i INTERVAL_US] [-w DEADLINE_S] IPV4
 *        (defaults: a request every 2000 us, give up after 10 s)
 *
 * Prints "sending" once the first request has left (so that a caller
 * knows the probe runs), then "reply SECONDS.NANOSECONDS SEQ" with the
 * wall-clock time (CLOCK_REALTIME, as bash's EPOCHREALTIME) at which the
 * kernel received the first reply and the sequence number it answers.
 * Exits 0 after a reply, 1 if none came before the deadline, 2 on bad
 * usage.  Needs a raw socket: root, or CAP_NET_RAW. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/ip_icmp.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define FIRST_REPLY_INTERVAL_US 2000 /* Default gap between requests. */
#define FIRST_REPLY_DEADLINE_S 10    /* Default time to give up after. */

static void
usage(FILE *stream)
{
    fprintf(stream,
            "usage: first-reply [-i INTERVAL_US] [-w DEADLINE_S] IPV4\n"
            "Pings IPV4 every INTERVAL_US microseconds (default %d) until "
            "the first reply\nor DEADLINE_S seconds (default %d), and "
            "prints when the reply arrived.\n",
            FIRST_REPLY_INTERVAL_US, FIRST_REPLY_DEADLINE_S);
}

static long
parse_long(const char *s, const char *what, long min, long max)
{
    char *end;
    long n;

    errno = 0;
    n = strtol(s, &end, 10);
    if (errno || end == s || *end || n < min || n > max) {
        fprintf(stderr,
                "first-reply: %s \"%s\": must be an integer %ld..%ld\n", what,
                s, min, max);
        exit(2);
    }
    return n;
}

static int64_t
now_ns(clockid_t clock)
{
    struct timespec ts;

    clock_gettime(clock, &ts);
    return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* The Internet checksum of the 'len' bytes at 'data'. */
static uint16_t
inet_checksum(const void *data, size_t len)
{
    const uint8_t *p = data;
    uint32_t sum = 0;

    for (size_t i = 0; i + 1 < len; i += 2) {
        sum += (uint32_t) p[i] << 8 | p[i + 1];
    }
    if (len & 1) {
        sum += (uint32_t) p[len - 1] << 8;
    }
    while (sum >> 16) {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    return htons(~sum & 0xffff);
}

/* Sends echo request 'seq' with identifier 'id' to 'dst' on 'fd'. */
static int
send_echo(int fd, const struct sockaddr_in *dst, uint16_t id, uint16_t seq)
{
    struct {
        struct icmphdr icmp; /* Type, code, checksum, id, sequence. */
        uint8_t payload[56]; /* Like ping's default. */
    } msg;

    memset(&msg, 0, sizeof msg);
    msg.icmp.type = ICMP_ECHO;
    msg.icmp.un.echo.id = htons(id);
    msg.icmp.un.echo.sequence = htons(seq);
    msg.icmp.checksum = inet_checksum(&msg, sizeof msg);
    if (sendto(fd, &msg, sizeof msg, 0, (const struct sockaddr *) dst,
               sizeof *dst)
        < 0) {
        return errno;
    }
    return 0;
}

/* Reads one datagram from 'fd', without waiting.  Returns 1 if it is an
 * echo reply from 'dst' with identifier 'id', storing its sequence number
 * in '*seq' and the time the kernel received it in '*when'; 0 if it is
 * something else; -1 if there was nothing to read. */
static int
recv_reply(int fd, const struct sockaddr_in *dst, uint16_t id, uint16_t *seq,
           struct timespec *when)
{
    uint8_t buf[1500];
    char control[CMSG_SPACE(sizeof(struct timespec))];
    struct sockaddr_in from;
    struct iovec iov = {.iov_base = buf, .iov_len = sizeof buf};
    struct msghdr mh = {
        .msg_name = &from,
        .msg_namelen = sizeof from,
        .msg_iov = &iov,
        .msg_iovlen = 1,
        .msg_control = control,
        .msg_controllen = sizeof control,
    };
    const struct icmphdr *icmp;
    const struct iphdr *ip;
    ssize_t n = recvmsg(fd, &mh, MSG_DONTWAIT);
    size_t hlen;

    if (n < 0) {
        return -1;
    }
    if (n < (ssize_t) sizeof *ip
        || from.sin_addr.s_addr != dst->sin_addr.s_addr) {
        return 0;
    }
    ip = (const struct iphdr *) buf;
    hlen = ip->ihl * 4;
    if ((size_t) n < hlen + sizeof *icmp) {
        return 0;
    }
    icmp = (const struct icmphdr *) (buf + hlen);
    if (icmp->type != ICMP_ECHOREPLY || ntohs(icmp->un.echo.id) != id) {
        return 0;
    }
    *seq = ntohs(icmp->un.echo.sequence);
    clock_gettime(CLOCK_REALTIME, when);
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) {
            memcpy(when, CMSG_DATA(c), sizeof *when);
        }
    }
    return 1;
}

int
main(int argc, char *argv[])
{
    long interval_us = FIRST_REPLY_INTERVAL_US;
    long deadline_s = FIRST_REPLY_DEADLINE_S;
    struct sockaddr_in dst = {.sin_family = AF_INET};
    uint16_t id = getpid() & 0xffff, seq = 0;
    int64_t start, next, deadline;
    int fd, c, one = 1;

    while ((c = getopt(argc, argv, "i:w:h")) != -1) {
        switch (c) {
        case 'i':
            interval_us = parse_long(optarg, "interval", 100, 1000000);
            break;
        case 'w':
            deadline_s = parse_long(optarg, "deadline", 1, 3600);
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind != argc - 1
        || inet_pton(AF_INET, argv[optind], &dst.sin_addr) != 1) {
        usage(stderr);
        return 2;
    }

    fd = socket(AF_INET, SOCK_RAW, IPPROTO_ICMP);
    if (fd < 0) {
        fprintf(stderr, "first-reply: raw ICMP socket: %s (needs root)\n",
                strerror(errno));
        return 1;
    }
    setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof one);

    start = now_ns(CLOCK_MONOTONIC);
    next = start;
    deadline = start + deadline_s * 1000000000LL;
    for (;;) {
        int64_t now = now_ns(CLOCK_MONOTONIC);
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        struct timespec timeout, when;
        int64_t wait;

        if (now >= deadline) {
            fprintf(stderr, "first-reply: no reply from %s within %ld s\n",
                    argv[optind], deadline_s);
            return 1;
        }
        if (now >= next) {
            int error = send_echo(fd, &dst, id, seq);

            /* An unreachable network is something the fabric may still
             * fix: keep trying. */
            if (error && error != ENETUNREACH && error != EHOSTUNREACH) {
                fprintf(stderr, "first-reply: send to %s: %s\n", argv[optind],
                        strerror(error));
                return 1;
            }
            if (seq++ == 0) {
                printf("sending\n");
                fflush(stdout);
            }
            next += interval_us * 1000;
            continue;
        }
        wait = next - now;
        timeout.tv_sec = wait / 1000000000LL;
        timeout.tv_nsec = wait % 1000000000LL;
        if (ppoll(&pfd, 1, &timeout, NULL) > 0) {
            uint16_t got;
            int r;

            while ((r = recv_reply(fd, &dst, id, &got, &when)) >= 0) {
                if (r > 0) {
                    printf("reply %lld.%09ld %u\n", (long long) when.tv_sec,
                           when.tv_nsec, got);
                    return 0;
                }
            }
        }
    }
}
