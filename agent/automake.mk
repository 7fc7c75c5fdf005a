# fabric-agent: the per-host daemon that reconciles the datapath with a
# desired-state document, from a file or from fabric-controller.
sbin_PROGRAMS += agent/fabric-agent
agent_fabric_agent_SOURCES = \
	agent/agent.c \
	agent/agent-config.c \
	agent/agent-config.h \
	agent/changes.c \
	agent/changes.h \
	agent/core.c \
	agent/core.h \
	agent/dhcp.c \
	agent/dhcp.h \
	agent/firewall.c \
	agent/firewall.h \
	agent/flowagg.c \
	agent/flowagg.h \
	agent/flowlog.c \
	agent/flowlog.h \
	agent/http-client.c \
	agent/http-client.h \
	agent/lease.c \
	agent/lease.h \
	agent/metrics.c \
	agent/metrics.h \
	agent/migrate.c \
	agent/migrate.h \
	agent/probe.c \
	agent/probe.h \
	agent/reconcile-table.c \
	agent/reconcile-table.h \
	agent/reconcile.c \
	agent/reconcile.h \
	agent/show.c \
	agent/show.h \
	agent/state.c \
	agent/state.h \
	agent/trace.c \
	agent/trace.h \
	agent/vms.c \
	agent/vms.h \
	agent/watch.c \
	agent/watch.h
agent_fabric_agent_CPPFLAGS = $(AM_CPPFLAGS) $(JANSSON_CFLAGS) \
	$(LIBBPF_CFLAGS) $(CURL_CFLAGS) $(MHD_CFLAGS)
agent_fabric_agent_LDADD = $(DATAPATH_LIBS) $(VMM_GLUE_LIBS) $(JANSSON_LIBS) \
	$(CURL_LIBS) $(MHD_LIBS) -lpthread

# The unit names the installed binary, so it is made from a template at
# build time, when $(sbindir) is final.
systemdsystemunit_DATA += agent/fabric-agent.service
agent/fabric-agent.service: agent/fabric-agent.service.in Makefile
	$(AM_V_GEN)$(MKDIR_P) $(@D) && \
	sed -e 's|@sbindir[@]|$(sbindir)|g' \
		$(srcdir)/agent/fabric-agent.service.in > $@.tmp && \
	mv $@.tmp $@
CLEANFILES += agent/fabric-agent.service
EXTRA_DIST += agent/fabric-agent.service.in
