# bench: filled in by its owner.

# --- iperf benchmarks over network namespaces (bench/iperf*.sh, run-*.sh).
# Not built or run by "make check"; "make bench-iperf" runs them as root.
EXTRA_DIST += bench/iperf-vxlan.sh bench/iperf-lib.sh
bench-iperf: all
	top_srcdir='$(abs_top_srcdir)' top_builddir='$(abs_top_builddir)' \
	    $(abs_top_srcdir)/bench/iperf-vxlan.sh
bench: bench-iperf
.PHONY: bench-iperf
# --- end of iperf benchmarks.

# --- BPF fast path microbenchmark (bench/bench-bpf.c, bench/trivial.bpf.c).
# Not run by "make check"; "make bench-bpf" runs it as root, and
# "make bench-bpf BENCH_BPF_RUNS=100000" is a quick run.  It shares the
# tests' world (tests/bpf/fixture.c) and measures a trivial tc program,
# compiled by the BPF rules in datapath/automake.mk, as its baseline.
noinst_PROGRAMS += bench/bench-bpf
bench_bench_bpf_SOURCES = \
	bench/bench-bpf.c \
	tests/bpf/craft.c \
	tests/bpf/craft.h \
	tests/bpf/fixture.c \
	tests/bpf/fixture.h
bench_bench_bpf_CPPFLAGS = $(AM_CPPFLAGS) $(LIBBPF_CFLAGS)
bench_bench_bpf_LDADD = $(DATAPATH_LIBS)
$(bench_bench_bpf_OBJECTS): bench/trivial.skel.h $(BPF_SKELS)
CLEANFILES += bench/trivial.bpf.o bench/trivial.skel.h
EXTRA_DIST += bench/trivial.bpf.c
BENCH_BPF_RUNS =
bench-bpf: bench/bench-bpf
	$(builddir)/bench/bench-bpf $(BENCH_BPF_RUNS)
# "make bench" runs every benchmark; each adds itself as a prerequisite.
bench: bench-bpf
.PHONY: bench bench-bpf
# --- end of the BPF fast path microbenchmark.

# --- Control-plane benchmarks: the controller's REST API (bench/bench-api.c),
# the scheduler's placements (bench/bench-placement.c), the agent's full resync (bench/agent-resync.sh) and the convergence of a
# new port across hosts (bench/convergence.sh).  Not run by "make check".
# "make bench-api" needs no root; "make bench-api BENCH_API_ARGS='-d 2 -t 2'"
# is a quick run.  The two scripts need root and build netns topologies
# with tests/lib/common.sh.
noinst_PROGRAMS += bench/bench-api bench/first-reply
bench_bench_api_SOURCES = bench/bench-api.c
bench_bench_api_CPPFLAGS = $(AM_CPPFLAGS) $(CURL_CFLAGS)
bench_bench_api_LDADD = utils/libfabric-utils.a $(CURL_LIBS) -lpthread
BENCH_API_ARGS =
bench-api: bench/bench-api controller/fabric-controller
	$(builddir)/bench/bench-api \
	    -C $(builddir)/controller/fabric-controller $(BENCH_API_ARGS)
# "make bench-store": API writes and reads per second on SQLite, etcd with
# one member and etcd with three, beside etcd's own put and read rates
# through the same gateway (bench/etcd-put) in the same run.  No root.
noinst_PROGRAMS += bench/etcd-put
bench_etcd_put_SOURCES = bench/etcd-put.c
bench_etcd_put_CPPFLAGS = $(AM_CPPFLAGS) $(CURL_CFLAGS)
bench_etcd_put_LDADD = utils/libfabric-utils.a $(CURL_LIBS) -lpthread
EXTRA_DIST += bench/store.sh
bench-store: bench/bench-api bench/etcd-put controller/fabric-controller
	top_builddir=$(abs_top_builddir) top_srcdir=$(abs_top_srcdir) \
	    $(abs_top_srcdir)/bench/store.sh
.PHONY: bench-store
# bench/fake-agents plays N hosts over the agent protocol against a real
# controller (registration, heartbeats, the desired-state watch, port-status
# reports), for bench/scale.sh and tests/controller/fake-agents.sh.
noinst_PROGRAMS += bench/fake-agents
bench_fake_agents_SOURCES = \
	bench/fake-agents.c \
	agent/changes.c \
	agent/changes.h \
	agent/http-client.c \
	agent/http-client.h
bench_fake_agents_CPPFLAGS = $(AM_CPPFLAGS) $(JANSSON_CFLAGS) $(CURL_CFLAGS)
bench_fake_agents_LDADD = utils/libfabric-utils.a $(JANSSON_LIBS) \
	$(CURL_LIBS) -lpthread
# "make bench-scale" (no root): one port change reaching the 10 hosts it
# concerns among 1000 simulated hosts with 100k ports, p50 and p99, beside
# 10 hosts in the same run; memory per port; a 10k-port resync
# (bench/scale.sh).  "make bench-scale BENCH_SCALE_ARGS='-H 100 -c 10'" is
# quick.
EXTRA_DIST += bench/scale.sh
BENCH_SCALE_ARGS =
bench-scale: bench/fake-agents controller/fabric-controller
	top_srcdir='$(abs_top_srcdir)' top_builddir='$(abs_top_builddir)' \
	    $(abs_top_srcdir)/bench/scale.sh $(BENCH_SCALE_ARGS)
bench: bench-scale
.PHONY: bench-scale
# bench/first-reply pings every few ms until the first answer, for
# bench/convergence.sh (ping(8) slows down to 10 ms while unanswered).
bench_first_reply_SOURCES = bench/first-reply.c
EXTRA_DIST += bench/agent-resync.sh bench/convergence.sh
bench-agent-resync: all
	top_srcdir='$(abs_top_srcdir)' top_builddir='$(abs_top_builddir)' \
	    $(abs_top_srcdir)/bench/agent-resync.sh $(BENCH_RESYNC_ARGS)
bench-convergence: all
	top_srcdir='$(abs_top_srcdir)' top_builddir='$(abs_top_builddir)' \
	    $(abs_top_srcdir)/bench/convergence.sh $(BENCH_CONVERGENCE_ARGS)
# "make bench-placement" needs no root (bench/bench-placement.c);
# "make bench-placement BENCH_PLACEMENT_ARGS='-H 100 -n 1000'" is quick.
noinst_PROGRAMS += bench/bench-placement
bench_bench_placement_SOURCES = bench/bench-placement.c
bench_bench_placement_CPPFLAGS = $(AM_CPPFLAGS) $(JANSSON_CFLAGS)
bench_bench_placement_LDADD = $(CONTROLLER_LIBS)
BENCH_PLACEMENT_ARGS =
bench-placement: bench/bench-placement
	$(builddir)/bench/bench-placement $(BENCH_PLACEMENT_ARGS)
BENCH_RESYNC_ARGS =
BENCH_CONVERGENCE_ARGS =
bench: bench-api bench-placement bench-agent-resync bench-convergence
.PHONY: bench-api bench-placement bench-agent-resync bench-convergence
# "make bench-vm-boot" (root, QEMU): "fabricctl vm create" to the guest's
# first ping, p50 over 10 VMs, beside a bare QEMU boot of the same image
# (bench/vm-boot.sh); "make bench-vm-boot BENCH_VM_BOOT_ARGS='-n 2'" is
# quick.
EXTRA_DIST += bench/vm-boot.sh
BENCH_VM_BOOT_ARGS =
bench-vm-boot: all bench/first-reply
	top_srcdir='$(abs_top_srcdir)' top_builddir='$(abs_top_builddir)' \
	    $(abs_top_srcdir)/bench/vm-boot.sh $(BENCH_VM_BOOT_ARGS)
bench: bench-vm-boot
.PHONY: bench-vm-boot
# "make bench-ha" (root, QEMU): a host killed under a guest, to its QEMU on
# another host and to its first ping there, medians over 5 failures as
# ratios to the targets of 10 s and 30 s (bench/ha-failover.sh); "make
# bench-ha BENCH_HA_ARGS='-n 1'" is quick.
EXTRA_DIST += bench/ha-failover.sh bench/bench-lib.sh
BENCH_HA_ARGS =
bench-ha: all bench/first-reply
	top_srcdir='$(abs_top_srcdir)' top_builddir='$(abs_top_builddir)' \
	    $(abs_top_srcdir)/bench/ha-failover.sh $(BENCH_HA_ARGS)
bench: bench-ha
.PHONY: bench-ha
# --- end of the control-plane benchmarks.

# --- QoS rate accuracy (bench/qos-accuracy.sh): egress limits of 10 Mbit/s,
# 100 Mbit/s and 1 Gbit/s, TCP and UDP, across two hosts, beside the
# unlimited rate of the same run.  Not run by "make check"; "make
# bench-qos-accuracy" runs it as root, and "make bench-qos-accuracy
# BENCH_QOS_ACCURACY_ARGS='-t 2'" is a quick run.
EXTRA_DIST += bench/qos-accuracy.sh
BENCH_QOS_ACCURACY_ARGS =
bench-qos-accuracy: all
	top_srcdir='$(abs_top_srcdir)' top_builddir='$(abs_top_builddir)' \
	    $(abs_top_srcdir)/bench/qos-accuracy.sh $(BENCH_QOS_ACCURACY_ARGS)
bench: bench-qos-accuracy
.PHONY: bench-qos-accuracy
# --- end of the QoS rate accuracy benchmark.

# --- Cost of QoS in the port program (bench/bench-qos.c): ns per packet
# with and without a policy on the port, the QoS table full of other
# ports' policies, by BPF_PROG_TEST_RUN in the tests' world
# (tests/bpf/fixture.c).  Not run by "make check"; "make bench-qos" runs it
# as root, "make bench-qos BENCH_QOS_RUNS=60000" is a quick run.
noinst_PROGRAMS += bench/bench-qos
bench_bench_qos_SOURCES = \
	bench/bench-qos.c \
	tests/bpf/craft.c \
	tests/bpf/craft.h \
	tests/bpf/fixture.c \
	tests/bpf/fixture.h
bench_bench_qos_CPPFLAGS = $(AM_CPPFLAGS) $(LIBBPF_CFLAGS)
bench_bench_qos_LDADD = $(DATAPATH_LIBS)
$(bench_bench_qos_OBJECTS): $(BPF_SKELS)
BENCH_QOS_RUNS =
bench-qos: bench/bench-qos
	$(builddir)/bench/bench-qos $(BENCH_QOS_RUNS)
bench: bench-qos
.PHONY: bench-qos
# --- end of the QoS cost microbenchmark.

# --- Firewall cost against the number of rules (bench/bench-firewall.c).
# Not run by "make check"; "make bench-firewall" runs it as root, and
# "make bench-firewall BENCH_FW_RUNS=100000" is a quick run.
noinst_PROGRAMS += bench/bench-firewall
bench_bench_firewall_SOURCES = \
	bench/bench-firewall.c \
	tests/bpf/craft.c \
	tests/bpf/craft.h \
	tests/bpf/fixture.c \
	tests/bpf/fixture.h
bench_bench_firewall_CPPFLAGS = $(AM_CPPFLAGS) $(LIBBPF_CFLAGS)
bench_bench_firewall_LDADD = $(DATAPATH_LIBS)
$(bench_bench_firewall_OBJECTS): $(BPF_SKELS)
BENCH_FW_RUNS =
bench-firewall: bench/bench-firewall
	$(builddir)/bench/bench-firewall $(BENCH_FW_RUNS)
bench: bench-firewall
.PHONY: bench-firewall
# Cross-host iperf3 with RULES (default 10000) firewall rules, against no
# rules and the kernel path with as many nftables rules.
EXTRA_DIST += bench/iperf-firewall.sh
bench-iperf-firewall: all
	top_srcdir='$(abs_top_srcdir)' top_builddir='$(abs_top_builddir)' \
	    $(abs_top_srcdir)/bench/iperf-firewall.sh
bench: bench-iperf-firewall
.PHONY: bench-iperf-firewall
# --- end of the firewall benchmark.

# --- Live migration (bench/migration.sh): what 10 migrations of the test
# guest between two hosts cost a 1 ms UDP probe from a third, beside bare
# QEMU migrations on a Linux bridge in the same run.  Not run by "make
# check"; "make bench-migration" (root, QEMU), "make bench-migration
# BENCH_MIGRATION_ARGS=2" is quick.
EXTRA_DIST += bench/migration.sh
BENCH_MIGRATION_ARGS =
bench-migration: all
	top_srcdir='$(abs_top_srcdir)' top_builddir='$(abs_top_builddir)' \
	    $(abs_top_srcdir)/bench/migration.sh $(BENCH_MIGRATION_ARGS)
bench: bench-migration
.PHONY: bench-migration
# --- end of the live migration benchmark.
