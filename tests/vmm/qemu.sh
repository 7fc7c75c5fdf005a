#!/bin/bash
# vmm-glue's QEMU driver (QMP, no daemon) with a real guest: the story of
# tests/vmm/test-driver.c.
set -u
. "$(dirname "$0")/driver.sh" qemu
