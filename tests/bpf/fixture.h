/* The world the BPF tests and benchmarks run the real fast path in.
 *
 * fixture_init() moves the process into a private network namespace and
 * builds this host there:
 *
 *   p1, p2   veth host sides (peers p1vm, p2vm), VNI 100, veth delivery
 *   tap0     a tap, VNI 100, plain redirect delivery; the fixture holds
 *            its file descriptor, as QEMU would, so it has carrier
 *   p3       veth host side (peer p3vm), VNI 200
 *   ul0      underlay, 192.168.100.1/24, peer ul1; our VTEP address
 *
 * Remote VTEPs 192.168.100.2 and .3 have permanent neighbour entries, from
 * which their next hops are programmed as the agent would; .9 has neither.
 *
 * The tables are programmed through the public datapath API (dp.h) in a
 * private instance "test-<pid>", and the port and uplink programs are
 * loaded a second time from their skeletons, sharing the pinned maps, to be
 * run with BPF_PROG_TEST_RUN. */
#ifndef TESTS_BPF_FIXTURE_H
#define TESTS_BPF_FIXTURE_H 1

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "datapath/dp.h"
#include "tests/bpf/craft.h"

struct fab_port;
struct fab_uplink;

#define FX_VNI_A 100       /* p1, p2, tap0 and remote endpoints. */
#define FX_VNI_B 200       /* p3 and one remote endpoint. */
#define FX_VNI_UNKNOWN 999 /* No network. */
#define FX_PORT_MTU 1450   /* Every port's L3 MTU. */

#define FX_VTEP_LOCAL CRAFT_IP4(192, 168, 100, 1)
#define FX_VTEP_REMOTE CRAFT_IP4(192, 168, 100, 2)
#define FX_VTEP_REMOTE2 CRAFT_IP4(192, 168, 100, 3)
#define FX_VTEP_NO_NEIGH CRAFT_IP4(192, 168, 100, 9)

/* The local ports, in the order of 'struct fixture' member 'ports'. */
enum fx_port_id { FX_P1, FX_P2, FX_TAP, FX_P3, FX_N_PORTS };

struct fx_port {
    const char *name; /* Host-side device. */
    const char *peer; /* The VM side of a veth, NULL for a tap. */
    uint32_t vni;     /* Its network. */
    uint32_t flags;   /* DP_PORT_* as programmed. */
    uint8_t mac[6];   /* The VM's MAC. */
    uint32_t ip4;     /* The VM's IPv4 address, host order. */
    uint32_t ifindex; /* Of 'name', once created. */
};

/* Endpoints behind remote VTEPs (MAC, VNI, VTEP in the FDB). */
extern const uint8_t fx_remote_mac[6];         /* VNI 100 at .2. */
extern const uint8_t fx_remote_b_mac[6];       /* VNI 200 at .3. */
extern const uint8_t fx_no_neigh_mac[6];       /* VNI 100 at .9. */
extern const uint8_t fx_remote_vtep_mac[6];    /* Neighbour of .2. */
extern const uint8_t fx_remote2_vtep_mac[6];   /* Neighbour of .3. */
#define FX_REMOTE_IP CRAFT_IP4(10, 0, 0, 10)   /* fx_remote_mac's. */
#define FX_REMOTE_B_IP CRAFT_IP4(10, 0, 0, 33) /* fx_remote_b_mac's. */

struct fixture {
    struct dp *dp;                    /* The datapath under test. */
    char pin_dir[64];                 /* <bpffs>/<instance>. */
    struct fab_port *port_obj;        /* Our load of the port program. */
    struct fab_uplink *uplink_obj;    /* Our load of the uplink program. */
    int port_prog;                    /* fab_port_ingress. */
    int uplink_prog;                  /* fab_uplink_ingress. */
    struct fx_port ports[FX_N_PORTS]; /* The local ports. */
    int tap_fd;                       /* tap0's "VM" end, non-blocking. */
    int host_ns;                      /* Our network namespace. */
    int guest_ns;                     /* Another, for fixture_to_guest(). */
    uint32_t underlay;                /* ifindex of ul0. */
    uint8_t underlay_mac[6];          /* ul0's MAC, the outer source. */
};

/* Exits with 77 (automake's SKIP) when not running as root, or fails when
 * the environment says CI=true, where skipping would hide the tests. */
void fixture_require_root(void);

/* Builds the world described above in 'f'.  Returns 0 or a positive errno
 * value after saying on stderr what failed. */
int fixture_init(struct fixture *f);

/* Like fixture_init(), with tables for 'max_ports' ports (and as many QoS
 * entries) instead of the default. */
int fixture_init_sized(struct fixture *f, uint32_t max_ports);

/* Opens a second datapath instance "test-<pid>-'suffix'" in '*g' with
 * 'options' (their bpffs and instance are ignored), as another host's, and
 * loads its programs for BPF_PROG_TEST_RUN.  It shares the world of 'f'
 * (its devices, in 'g''s copy of the ports) but none of its tables, which
 * start empty: nothing is attached to the underlay.  Release it with
 * fixture_destroy().  Returns 0 or an errno after saying what failed. */
int fixture_open_instance(struct fixture *g, const struct fixture *f,
                          const char *suffix, const struct dp_options *);

/* Closes the datapath and opens it again on the same pinned tables, as a
 * restarted agent does.  Returns 0 or an errno after saying what failed. */
int fixture_restart(struct fixture *f);

/* Purges the datapath instance and releases everything in 'f'.  The
 * namespace and its devices go away with the process. */
void fixture_destroy(struct fixture *f);

/* Programs the port 'id' again with 'flags' and security 'identity';
 * returns 0 or an errno. */
int fixture_set_port(struct fixture *f, enum fx_port_id id, uint32_t flags,
                     uint16_t identity);

/* Programs the port 'id' again with 'flags'; returns 0 or an errno. */
int fixture_set_port_flags(struct fixture *f, enum fx_port_id id,
                           uint32_t flags);

/* The outcome of one BPF_PROG_TEST_RUN. */
struct fx_result {
    int verdict;                  /* The program's return value. */
    uint32_t duration;            /* Kernel-measured ns per run. */
    uint32_t out_len;             /* Bytes in 'out'. */
    uint64_t tstamp;              /* skb->tstamp as the program left it. */
    uint32_t priority;            /* skb->priority as the program left it. */
    uint8_t out[CRAFT_MAX_FRAME]; /* The frame as the program left it. */
};

/* Runs 'prog' once on the 'len' bytes at 'pkt' as if received on device
 * 'ifindex' (with 'gso_size' as the skb's GSO size, normally 0).  Returns 0
 * or the positive errno of the BPF_PROG_TEST_RUN command. */
int fixture_run(int prog, uint32_t ifindex, const void *pkt, size_t len,
                uint32_t gso_size, struct fx_result *r);

/* Runs 'prog' 'repeat' times on one skb, without copying the output, and
 * stores the verdict of the last run and the mean ns per run.  Returns 0 or
 * a positive errno. */
int fixture_run_repeat(int prog, uint32_t ifindex, const void *pkt, size_t len,
                       uint32_t repeat, int *verdict, uint32_t *duration);

/* Opens a packet socket that captures frames arriving on device 'name' and
 * returns it, or -1 with errno set. */
int fixture_capture_open(const char *name);

/* Waits up to 'timeout_ms' for a frame on 'fd', a capture socket or the
 * tap's file descriptor, and copies it to 'buf'.  Returns its length, or -1
 * if none came.  For a capture socket, stores in '*protocol' (if nonnull)
 * the ethertype the kernel gave the frame (skb->protocol, host order), which
 * decides the protocol handler the receiving stack passes it to. */
int fixture_capture_recv(int fd, uint8_t *buf, size_t size, int timeout_ms,
                         uint16_t *protocol);

/* Sends the 'len' bytes at 'pkt' out of device 'name' as they are (so
 * they arrive at its veth peer for real).  Returns 0 or an errno value. */
int fixture_inject(const char *name, const void *pkt, size_t len);

/* Moves the VM side of a veth port, device 'name', into a second network
 * namespace (the "guest", created on first use) and brings it up there,
 * which bpf_redirect_peer() needs to deliver to it for real.  Returns 0 or
 * an errno value. */
int fixture_to_guest(struct fixture *f, const char *name);

/* Moves device 'name' back from the guest and brings it up; returns 0 or an
 * errno value.  Does nothing if it is not in the guest. */
int fixture_from_guest(struct fixture *f, const char *name);

/* Opens a capture socket on device 'name' in the guest namespace; see
 * fixture_capture_open(). */
int fixture_capture_open_guest(struct fixture *f, const char *name);

/* Throws away every frame queued on the tap, so that floods in one test do
 * not fill its queue for the next. */
void fixture_drain_tap(struct fixture *f);

#endif /* tests/bpf/fixture.h */
