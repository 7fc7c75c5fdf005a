/* The balancer's planner (DRS, see doc/mobility.md): which VMs to migrate
 * where so that the hosts' load is spread within a threshold.
 *
 * A host's load is the larger of its CPU use (the sum of its VMs' CPU use,
 * in vCPUs, over its vCPUs) and its memory use (the sum of its VMs'
 * memory_kb over its memory).  The imbalance is the difference between the
 * most and the least loaded hosts in service (ready, not in maintenance,
 * with a reported capacity).  While it exceeds the threshold, the planner
 * takes, among the movable VMs of the most loaded host and the hosts the
 * scheduler's filters for a live migration (controller/scheduler.h: a
 * hypervisor that takes one, capacity, strict groups) accept, the move
 * that leaves the smallest imbalance, if it is smaller than before;
 * applies it to its picture of the hosts (load, claims, group members);
 * and repeats, at most 'max_moves' times and never twice for one VM.
 * Ties go to the VM, then the host, whose name sorts first, so that a plan
 * is repeatable.
 *
 * Everything here is a pure function over plain structs:
 * controller/api-drs.c fills them from the store and the agents'
 * reports; tests/controller/test-drs.c calls it directly. */
#ifndef CONTROLLER_DRS_H
#define CONTROLLER_DRS_H 1

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "controller/scheduler.h"

/* What the balancer does. */
enum drs_mode {
    DRS_OFF,       /* Nothing. */
    DRS_MANUAL,    /* Recommends migrations; an operator runs them. */
    DRS_AUTOMATIC, /* Runs its recommendations every interval. */
};

/* Parses "off", "manual" or "automatic" into '*mode'; false for anything
 * else. */
bool drs_mode_parse(const char *s, enum drs_mode *mode);
const char *drs_mode_name(enum drs_mode);

/* The settings of doc/mobility.md, their defaults and bounds. */
#define DRS_THRESHOLD_DEFAULT 0.2
#define DRS_THRESHOLD_MIN 0.01
#define DRS_THRESHOLD_MAX 1.0
#define DRS_INTERVAL_DEFAULT 60 /* Seconds. */
#define DRS_INTERVAL_MIN 5
#define DRS_INTERVAL_MAX 86400
#define DRS_MAX_CONCURRENT_DEFAULT 2
#define DRS_MAX_CONCURRENT_MAX 16

struct drs_settings {
    enum drs_mode mode; /* What the balancer does. */
    double threshold;   /* Largest imbalance left alone, 0..1. */
    int interval_s;     /* Seconds between two plans. */
    int max_concurrent; /* Most migrations of maintenance and DRS at
                         * once. */
};

/* A group of VMs, as the scheduler sees it. */
struct drs_group {
    const char *name; /* Its name. */
    bool affinity;    /* Affinity (together), else anti-affinity. */
    bool strict;      /* A filter, else a preference (ignored here). */
};

/* A VM and what it uses. */
struct drs_vm {
    const char *name;            /* Its name. */
    size_t host;                 /* Index of its host in the hosts. */
    struct sched_resources need; /* What it claims on its host. */
    double cpu;                  /* CPU use, in vCPUs (1.0: one busy). */
    int64_t memory_kb;           /* Memory use. */
    bool movable;                /* False: pinned, not running, migrating
                                  * or moved within the interval. */
    const size_t *groups;        /* Indexes of its groups. */
    size_t n_groups;             /* Number of 'groups'. */
};

/* One planned migration. */
struct drs_move {
    size_t vm;        /* Index of the VM. */
    size_t from;      /* Index of its host. */
    size_t to;        /* Index of the destination. */
    double imbalance; /* The imbalance once it and the moves before it
                       * are done. */
};

/* The load of host 'h' (0 if it reports no capacity) with VMs that use
 * 'cpu' vCPUs and 'memory_kb' of memory. */
double drs_load(const struct sched_host *h, double cpu, int64_t memory_kb);

/* Whether host 'h' is in service: the balancer weighs it and moves VMs
 * to it. */
bool drs_in_service(const struct sched_host *h);

/* Plans at most 'max_moves' migrations among the 'n_hosts' 'hosts' (their
 * "members" are ignored) for the 'n_vms' 'vms' in the 'n_groups' 'groups',
 * with imbalance threshold 'threshold', into 'moves' (room for
 * 'max_moves').  Stores the imbalance before any move in '*imbalance' (0
 * with fewer than two hosts in service).  Returns the number of moves. */
size_t drs_plan(const struct sched_host *hosts, size_t n_hosts,
                const struct drs_vm *vms, size_t n_vms,
                const struct drs_group *groups, size_t n_groups,
                double threshold, size_t max_moves, struct drs_move *moves,
                double *imbalance);

#endif /* controller/drs.h */
