/* The agent's HA lease and its probes (doc/mobility.md): what an agent
 * may do with its HA VMs with and without a lease and answers from its
 * peers, and real UDP probes between two agents' probe threads on
 * 127.0.0.1 and 127.0.0.2, with crafted datagrams that must be counted
 * and dropped, never answered. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "agent/lease.h"
#include "agent/probe.h"
#include "utils/util.h"

static void
test_lease_decisions(void **state)
{
    struct lease l;

    (void) state;
    /* A new agent holds no lease: it starts no HA VM, but fences only
     * once the lease it may have held has run out. */
    lease_init(&l, 1000);
    assert_false(lease_held(&l, 1000));
    assert_int_equal(lease_decide(&l, 1000, false), LEASE_HOLD);
    assert_int_equal(lease_decide(&l, 1000 + LEASE_DEFAULT_MS - 1, false),
                     LEASE_HOLD);
    assert_int_equal(lease_decide(&l, 1000 + LEASE_DEFAULT_MS, false),
                     LEASE_FENCE);
    assert_int_equal(lease_decide(&l, 1000 + LEASE_DEFAULT_MS, true),
                     LEASE_HOLD);

    /* A lease counts from when the heartbeat was sent, not answered; it
     * runs HA VMs only with a document the controller gave since the
     * agent started. */
    lease_granted(&l, 2000, 3000);
    assert_true(lease_held(&l, 4999));
    assert_false(lease_held(&l, 5000));
    assert_int_equal(lease_decide(&l, 2500, false), LEASE_HOLD);
    lease_document(&l, 2600);
    assert_int_equal(lease_decide(&l, 4999, false), LEASE_RUN);
    assert_int_equal(lease_decide(&l, 5000, true), LEASE_HOLD);
    assert_int_equal(lease_decide(&l, 5000, false), LEASE_FENCE);

    /* An answer to an older heartbeat that arrives late never shortens
     * the lease. */
    lease_granted(&l, 4000, 3000);
    lease_granted(&l, 3000, 3000);
    assert_true(lease_held(&l, 6999));
    assert_false(lease_held(&l, 7000));

    /* Back under a lease after it lapsed (at 7000): the document of
     * before may list VMs that moved meanwhile, so only a newer one lets
     * them run. */
    lease_granted(&l, 9000, 3000);
    assert_int_equal(lease_decide(&l, 9500, false), LEASE_HOLD);
    lease_document(&l, 6000);
    assert_int_equal(lease_decide(&l, 9500, false), LEASE_HOLD);
    lease_document(&l, 9200);
    assert_int_equal(lease_decide(&l, 9500, false), LEASE_RUN);
    /* A document older than the last one changes nothing. */
    lease_document(&l, 100);
    assert_int_equal(lease_decide(&l, 9600, false), LEASE_RUN);

    /* Heartbeats at least every quarter of the lease. */
    assert_int_equal(lease_heartbeat_ms(&l, 5000), 750);
    assert_int_equal(lease_heartbeat_ms(&l, 500), 500);
    assert_string_equal(lease_action_name(LEASE_FENCE), "fence");
}

#define ASK "fabric-probe 1 ask 7 host-a"
#define ANSWER "fabric-probe 1 answer 18446744073709551615 b"

static void
test_probe_parse(void **state)
{
    static const char *const bad[] = {
        "",
        "fabric-probe 1 ask 7",
        "fabric-probe 1 ask 7 ",
        "fabric-probe 2 ask 7 host-a",
        "fabric-probe 1 shout 7 host-a",
        "fabric-probe 1 ask x host-a",
        "fabric-probe 1 ask 7 Host-A",
        "fabric-probe 1 ask 7 host-a extra",
        "fabric-probe 1 ask 7 -host",
        "FABRIC-PROBE 1 ask 7 host-a",
        "fabric-probe 1 ask  7 host-a",
        "fabric-probe 1\task 7 host-a",
        "fabric-probe 1 ask -1 host-a",
        "fabric-probe 1 ask +1 host-a",
        "fabric-probe 1 ask 07 host-a",
        "fabric-probe 1 ask 18446744073709551616 host-a",
        "fabric-probe 1 ask 7 host-a\n",
    };
    char host[64], big[300];
    uint64_t seq;
    bool answer;

    (void) state;
    assert_true(probe_parse(ASK, strlen(ASK), &answer, &seq, host));
    assert_false(answer);
    assert_int_equal(seq, 7);
    assert_string_equal(host, "host-a");
    assert_true(probe_parse("fabric-probe 1 answer 18446744073709551615 b", 44,
                            &answer, &seq, host));
    assert_true(answer);
    assert_true(seq == UINT64_MAX);
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        if (probe_parse(bad[i], strlen(bad[i]), &answer, &seq, host)) {
            fail_msg("\"%s\" taken for a probe", bad[i]);
        }
    }
    /* A NUL inside, and a datagram longer than any probe. */
    assert_false(
        probe_parse("fabric-probe 1 ask 7 a\0b", 24, &answer, &seq, host));
    memset(big, 'a', sizeof big);
    memcpy(big, "fabric-probe 1 ask 7 ", 21);
    assert_false(probe_parse(big, sizeof big, &answer, &seq, host));
}

static int ticks;

static void
count_tick(void *aux)
{
    (void) aux;
    __atomic_add_fetch(&ticks, 1, __ATOMIC_SEQ_CST);
}

/* Whether 'p' says of peer 'host' that it answers ('answers'). */
static bool
peer_says(struct probe *p, const char *host, bool answers)
{
    json_t *peers = probe_peers(p);
    json_t *peer = json_object_get(peers, host);
    bool says =
        peer && json_is_true(json_object_get(peer, "answers")) == answers
        && json_is_integer(json_object_get(peer, "last_answer_ms_ago"));

    json_decref(peers);
    return says;
}

/* Waits up to 'ms' for 'p' to say that 'host' answers ('answers'). */
static void
wait_peer(struct probe *p, const char *host, bool answers, int ms)
{
    uint64_t deadline = (uint64_t) time_msec() + ms;

    while (!peer_says(p, host, answers)) {
        if ((uint64_t) time_msec() > deadline) {
            json_t *peers = probe_peers(p);
            char *text = json_dumps(peers, 0);

            fail_msg("after %d ms, peers %s: not %s answering", ms, text,
                     host);
        }
        usleep(50 * 1000);
    }
}

/* Sends 'len' bytes of 'buf' from 127.0.0.3 port 'from_port' to
 * 127.0.0.1 port 'port' and returns whether anything came back within
 * 'ms'. */
static bool
send_crafted(uint16_t port, uint16_t from_port, const char *buf, size_t len,
             int ms)
{
    struct sockaddr_in me = {.sin_family = AF_INET,
                             .sin_port = htons(from_port)};
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(port)};
    struct timeval tv = {.tv_sec = 0, .tv_usec = ms * 1000};
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    char reply[256];
    ssize_t n;

    assert_true(fd >= 0);
    inet_pton(AF_INET, "127.0.0.3", &me.sin_addr);
    inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
    assert_int_equal(bind(fd, (struct sockaddr *) &me, sizeof me), 0);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    assert_true(sendto(fd, buf, len, 0, (struct sockaddr *) &to, sizeof to)
                == (ssize_t) len);
    n = recv(fd, reply, sizeof reply, 0);
    close(fd);
    return n > 0;
}

static void
test_probes(void **state)
{
    uint16_t port = 20000 + getpid() % 20000;
    struct in_addr a, b;
    struct probe *pa, *pb;
    uint32_t peers[2];
    char big[200];

    (void) state;
    inet_pton(AF_INET, "127.0.0.1", &a);
    inet_pton(AF_INET, "127.0.0.2", &b);
    assert_int_equal(
        probe_start("host-a", a.s_addr, port, count_tick, NULL, &pa), 0);
    assert_int_equal(probe_start("host-b", b.s_addr, port, NULL, NULL, &pb),
                     0);
    /* A's own VTEP among its peers is left out. */
    peers[0] = b.s_addr;
    peers[1] = a.s_addr;
    probe_set_peers(pa, peers, 2);
    probe_set_peers(pb, peers + 1, 1);

    wait_peer(pa, "host-b", true, 5000);
    wait_peer(pb, "host-a", true, 5000);
    assert_true(probe_any_answers(pa));
    assert_null(json_object_get(probe_peers(pa), "host-a"));
    assert_true(__atomic_load_n(&ticks, __ATOMIC_SEQ_CST) >= 1);

    /* The same port taken twice: a clear error, no probe. */
    {
        struct probe *dup;

        assert_int_not_equal(
            probe_start("host-c", a.s_addr, port, NULL, NULL, &dup), 0);
        assert_null(dup);
    }

    /* Crafted datagrams are counted and never answered; a real ask from a
     * probe port is. */
    assert_false(
        send_crafted(port, port + 1, "fabric-probe 1 ask 1 X", 22, 300));
    memset(big, 'x', sizeof big);
    assert_false(send_crafted(port, port + 1, big, sizeof big, 300));
    assert_false(
        send_crafted(port, port + 1, "fabric-probe 1 ask 1 evil", 25, 300));
    assert_true(probe_bad(pa) >= 3);
    assert_true(
        send_crafted(port, port, "fabric-probe 1 ask 1 evil", 25, 2000));
    /* An answer nobody asked for names no peer. */
    assert_false(
        send_crafted(port, port, "fabric-probe 1 answer 1 evil", 28, 300));
    assert_null(json_object_get(probe_peers(pa), "evil"));

    /* B's agent dies: A says so once PROBE_LOST_MS has passed. */
    probe_stop(pb);
    wait_peer(pa, "host-b", false, PROBE_LOST_MS + 3000);
    assert_false(probe_any_answers(pa));
    probe_stop(pa);
    probe_stop(NULL);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lease_decisions),
        cmocka_unit_test(test_probe_parse),
        cmocka_unit_test(test_probes),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
