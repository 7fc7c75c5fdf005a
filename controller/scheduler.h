/* The VM scheduler: which host gets a new VM, as OpenStack Nova decides it.
 *
 * Filters first take out every host that cannot take the VM, each with a
 * reason an operator can act on ("host-b: memory 900M free, needs 1G");
 * weighers then rank the hosts that remain.  The filters are, in order:
 *
 *   pin          the VM names a host: every other host is out
 *   state        the host is unreachable, or in maintenance
 *   migration    for a live migration: the VM's own host, and hosts
 *                whose hypervisor driver takes no migration in
 *   capacity     vCPUs, memory and disk, each capacity times the host's
 *                overcommit ratio, less what VMs placed there claim
 *   affinity     a strict affinity group with members elsewhere
 *   anti-affinity  a strict anti-affinity group with a member here
 *
 * and the weighers: the VM's non-strict groups first (one point per member
 * of a preferred affinity group on the host, minus one per member of a
 * preferred anti-affinity group), then "spread" (the most free memory,
 * then vCPUs, as a fraction of what the host offers) or "pack" (the
 * least), then the host's name, so that a decision is repeatable.
 *
 * Everything here is a pure function over plain structs: the controller
 * (controller/api-vms.c) fills them from its store inside the write
 * transaction that claims the chosen host, so that two concurrent creates
 * never both take the last room of a host; tests and bench/bench-placement
 * call it directly. */
#ifndef CONTROLLER_SCHEDULER_H
#define CONTROLLER_SCHEDULER_H 1

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Default overcommit ratios, as Nova's. */
#define SCHED_CPU_RATIO_DEFAULT 4.0
#define SCHED_MEMORY_RATIO_DEFAULT 1.0
#define SCHED_DISK_RATIO_DEFAULT 1.0

/* How the weighers rank hosts that pass the filters. */
enum sched_weigher {
    SCHED_SPREAD, /* The emptiest host first: fewer VMs lost per host. */
    SCHED_PACK,   /* The fullest first: empty hosts stay empty. */
};

/* Parses "spread" or "pack" into '*w'; false for anything else. */
bool sched_weigher_parse(const char *s, enum sched_weigher *w);
const char *sched_weigher_name(enum sched_weigher);

/* Resources: what a host offers, what is claimed on it, what a VM needs. */
struct sched_resources {
    int64_t vcpus;     /* Virtual CPUs. */
    int64_t memory_mb; /* MiB. */
    int64_t disk_gb;   /* GiB; capacity -1: not reported, not checked. */
};

/* One candidate host. */
struct sched_host {
    const char *name;                /* Its name. */
    bool ready;                      /* Heard from within the timeout. */
    bool maintenance;                /* Takes no new VMs. */
    bool has_capacity;               /* Its agent reported capacity. */
    bool migrates_in;                /* Its hypervisor driver takes live
                                      * migrations in (qemu). */
    struct sched_resources capacity; /* What it has. */
    double cpu_ratio;                /* Overcommit ratios. */
    double memory_ratio;
    double disk_ratio;
    struct sched_resources allocated; /* What VMs placed there claim. */
    int64_t vms;                      /* How many VMs those are. */
    const uint32_t *members;          /* Per group of the request: its
                                       * members on this host (NULL: none
                                       * anywhere). */
};

/* A group of VMs the new VM joins. */
struct sched_group {
    const char *name;  /* Its name. */
    bool affinity;     /* Affinity (together), else anti-affinity. */
    bool strict;       /* A filter, else a weigher. */
    uint32_t total;    /* Its members already placed, all hosts. */
    const char *where; /* For strict affinity: a host of a member. */
};

/* What a VM needs. */
struct sched_request {
    struct sched_resources need;      /* Its resources. */
    const char *host;                 /* Pinned host, or NULL. */
    const struct sched_group *groups; /* Groups it joins. */
    size_t n_groups;                  /* Number of 'groups'. */
    enum sched_weigher weigher;       /* Spread or pack. */
    const char *exclude;              /* A host that is out, or NULL: the
                                       * VM's own, for a migration. */
    bool migration;                   /* A live migration in: only hosts
                                       * that take one. */
};

/* Chooses a host among the 'n' 'hosts' for 'req'.  Returns its index, or
 * -1 if none passes the filters; then, if 'why' is not NULL, stores in
 * '*why' one line (the caller frees it) that gives, for each host a filter
 * took out, "NAME: reason", separated by "; ", at most 'max_reasons' of
 * them followed by how many more there were ("; and 5 more hosts"), or
 * "no host is registered".  With a pin, only the pinned host counts. */
long sched_choose(const struct sched_host *hosts, size_t n,
                  const struct sched_request *req, size_t max_reasons,
                  char **why);

/* Why 'req' cannot go on 'host': a new string that does not name the host
 * ("memory 900M free, needs 1G"), or NULL if it can. */
char *sched_filter(const struct sched_host *host,
                   const struct sched_request *req);

/* What is left of 'host' for new VMs, by its ratios: capacity times ratio
 * less what is allocated (negative when overcommitted by an operator who
 * lowered a ratio).  'free->disk_gb' is INT64_MAX if disk is not
 * reported. */
void sched_free(const struct sched_host *host, struct sched_resources *free);

/* Formats 'mb' MiB the way messages say it, exactly: "512M", "1G",
 * "1.5G", "3073M". */
void sched_format_mb(int64_t mb, char buf[32]);

#endif /* controller/scheduler.h */
