# Every test runs under "make check".  Each folder owns its fragment.
EXTRA_DIST += tests/lib/common.sh tests/lib/dhcp.sh tests/lib/migrate.sh tests/lib/ports.sh
include tests/unit/automake.mk
include tests/fuzz/automake.mk
include tests/qos/automake.mk
include tests/bpf/automake.mk
include tests/agent/automake.mk
include tests/integration/automake.mk
include tests/controller/automake.mk
include tests/cli/automake.mk
include tests/firewall/automake.mk
include tests/openapi/automake.mk
include tests/vmm/automake.mk
include tests/tools/automake.mk
include tests/ui/automake.mk
