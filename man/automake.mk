# Manual pages, installed by section from their suffix.
dist_man_MANS += man/fabric-agent.8
