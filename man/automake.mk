# Manual pages, installed by section from their suffix.
dist_man_MANS += man/fabric-agent.8

# fabricctl(1): the operator's command-line client (owner: cli/).
dist_man_MANS += man/fabricctl.1

# fabric-controller(8): the REST API server (owner: controller/).
dist_man_MANS += man/fabric-controller.8
