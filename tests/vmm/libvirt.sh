#!/bin/bash
# vmm-glue's libvirt driver (libvirtd, qemu:///system, domain type qemu
# under TCG) with a real guest: the story of tests/vmm/test-driver.c, as
# the QEMU driver tells it.  Starts libvirtd if it does not run.
set -u
. "$(dirname "$0")/driver.sh" libvirt
