# Shared QoS packet logic: header-only, compiled into the eBPF programs, the
# DPDK backend and the tests (tests/qos).
noinst_HEADERS += \
	qos/bucket.h \
	qos/dscp.h
EXTRA_DIST += qos/README.md
