# DHCPv4 as the fabric answers it (doc/vms.md): header-only, compiled into
# the agent's responder and the port program, tested by tests/unit/test-dhcp
# and the fuzz target tests/fuzz/fuzz-dhcp.c.
noinst_HEADERS += dhcp/dhcp.h
