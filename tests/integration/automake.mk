# Integration tests: each builds a small cloud of network namespaces with
# tests/lib/common.sh, runs fabric-agent on every simulated host and tells
# one story.  They need root; as another user they skip (fail under CI).
TESTS += tests/integration/forwarding.sh
EXTRA_DIST += tests/integration/forwarding.sh
TESTS += tests/integration/kernel-vxlan-interop.sh
EXTRA_DIST += tests/integration/kernel-vxlan-interop.sh
TESTS += tests/integration/tshark-decode.sh
EXTRA_DIST += tests/integration/tshark-decode.sh
TESTS += tests/integration/agent-restart.sh
EXTRA_DIST += tests/integration/agent-restart.sh
TESTS += tests/integration/security.sh
EXTRA_DIST += tests/integration/security.sh
TESTS += tests/integration/arp-responder.sh
EXTRA_DIST += tests/integration/arp-responder.sh
TESTS += tests/integration/qos-rate.sh
EXTRA_DIST += tests/integration/qos-rate.sh
TESTS += tests/integration/qos-shaping.sh
EXTRA_DIST += tests/integration/qos-shaping.sh
TESTS += tests/integration/qos-burst-dscp.sh
EXTRA_DIST += tests/integration/qos-burst-dscp.sh
EXTRA_DIST += tests/integration/README.md
TESTS += tests/integration/firewall.sh
EXTRA_DIST += tests/integration/firewall.sh
TESTS += tests/integration/firewall-conntrack-full.sh
EXTRA_DIST += tests/integration/firewall-conntrack-full.sh
TESTS += tests/integration/firewall-conntrack-fair.sh
EXTRA_DIST += tests/integration/firewall-conntrack-fair.sh
TESTS += tests/integration/partial-apply.sh
EXTRA_DIST += tests/integration/partial-apply.sh
TESTS += tests/integration/external-vtep.sh
EXTRA_DIST += tests/integration/external-vtep.sh
TESTS += tests/integration/firewall-broadcast.sh
EXTRA_DIST += tests/integration/firewall-broadcast.sh
TESTS += tests/integration/vms.sh
EXTRA_DIST += tests/integration/vms.sh
# Maintenance empties a host of real guests by live migration; the
# balancer spreads guests packed on one host.
TESTS += tests/integration/maintenance.sh
EXTRA_DIST += tests/integration/maintenance.sh
TESTS += tests/integration/ha.sh
EXTRA_DIST += tests/integration/ha.sh
TESTS += tests/integration/dhcp.sh
EXTRA_DIST += tests/integration/dhcp.sh
TESTS += tests/integration/dhcp-controlled.sh
EXTRA_DIST += tests/integration/dhcp-controlled.sh
TESTS += tests/integration/migrate.sh
EXTRA_DIST += tests/integration/migrate.sh

# Three controllers on a 3-member etcd cluster: the leader controller and
# the etcd leader killed in turn; needs root, etcd, etcdctl, the agent,
# the controller and fabricctl.
TESTS += tests/integration/replication.sh
EXTRA_DIST += tests/integration/replication.sh
