# The firewall's per-packet logic, header-only and shared by the backends:
# connection tracking and policy lookup.  Tests: tests/firewall/.
noinst_HEADERS += \
	firewall/ct.h \
	firewall/policy.h
