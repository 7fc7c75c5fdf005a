/* Real etcd members for the store's tests: each test starts the members it
 * needs on free ports of 127.0.0.1, with data directories of their own
 * under a temporary directory, and stops them (only them) at the end. */
#ifndef TESTS_CONTROLLER_ETCD_MEMBERS_H
#define TESTS_CONTROLLER_ETCD_MEMBERS_H 1

#include <stdbool.h>
#include <sys/types.h>

#define ETCD_MEMBERS_MAX 3

struct etcd_members {
    char *dir;                    /* Data directories, removed after. */
    int n;                        /* Members. */
    pid_t pids[ETCD_MEMBERS_MAX]; /* 0 once stopped. */
    int client_ports[ETCD_MEMBERS_MAX];
    int peer_ports[ETCD_MEMBERS_MAX];
    char *cluster; /* --initial-cluster. */
};

/* Starts 'n' members as one cluster and waits until it serves requests.
 * Returns false (having stopped what it started) if it could not. */
bool etcd_members_start(struct etcd_members *, int n);

/* Returns "etcd://127.0.0.1:P1[,...]/PREFIX" for the members (the caller
 * frees it). */
char *etcd_members_url(const struct etcd_members *, const char *prefix);

/* Kills member 'i' with SIGKILL and waits for it. */
void etcd_members_kill(struct etcd_members *, int i);

/* Starts member 'i' again, on its data, after etcd_members_kill(), and
 * etcd_members_wait() waits until every running member serves. */
void etcd_members_restart(struct etcd_members *, int i);
bool etcd_members_wait(struct etcd_members *);

/* Stops (SIGSTOP) or continues (SIGCONT) member 'i': a member that is
 * stopped holds its connections open but answers nothing, as across a
 * network partition. */
void etcd_members_pause(struct etcd_members *, int i, bool pause);

/* Kills every member that still runs and removes the data. */
void etcd_members_destroy(struct etcd_members *);

/* Returns a port of 127.0.0.1 that nothing listened on just now. */
int etcd_members_free_port(void);

#endif /* tests/controller/etcd-members.h */
