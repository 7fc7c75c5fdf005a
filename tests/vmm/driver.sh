# shellcheck shell=bash
# Runs tests/vmm/test-driver against the vmm-glue driver named in $1 with a
# tap device, the tiny test image and a scratch directory of this run's
# own.  Sourced by tests/vmm/qemu.sh and tests/vmm/libvirt.sh.
. "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"

vmm_type=$1
require_root
require_cmd qemu-system-x86_64 qemu-img genisoimage
test_driver=$top_builddir/tests/vmm/test-driver
[ -x "$test_driver" ] || fail "$test_driver not built: run \"make check\""

if [ "$vmm_type" = libvirt ]; then
    require_cmd libvirtd virsh
    "$top_srcdir/scripts/start-libvirtd" || fail "libvirtd does not run"
fi

image=$("$top_srcdir/scripts/build-test-image" \
    "$top_builddir/tests/images/tiny.qcow2") \
    || fail "scripts/build-test-image failed"

# Per-pid names, so concurrent runs never share a tap or a directory.
tap=fvt$$
tap=${tap:0:14}a
tap2=${tap%a}b # The destination of a live migration.
dir=$(mktemp -d "${TMPDIR:-/tmp}/fabric-vmm-$vmm_type.XXXXXX")
chmod 755 "$dir"

cleanup() {
    local pidfile
    # A failed run may leave its own QEMUs behind: end those, by the pids
    # in its own run directory, and nothing else.
    for pidfile in "$dir"/run/*/pid; do
        [ -f "$pidfile" ] && kill -9 "$(cat "$pidfile")" 2>/dev/null
    done
    if [ "$vmm_type" = libvirt ]; then
        local dom
        for dom in $(virsh -q -c qemu:///system list --all --name \
            | grep "^vmmtest-$$-"); do
            virsh -q -c qemu:///system destroy "$dom" >/dev/null 2>&1
            virsh -q -c qemu:///system undefine "$dom" >/dev/null 2>&1
        done
    fi
    ip link del "$tap" 2>/dev/null
    ip link del "$tap2" 2>/dev/null
    rm -rf "$dir"
}
trap cleanup EXIT

for t in "$tap" "$tap2"; do
    ip tuntap add dev "$t" mode tap || fail "cannot make tap $t"
    ip link set "$t" up
done

say "$vmm_type driver, tap $tap, image $image"
VMM_TEST_TYPE=$vmm_type VMM_TEST_TAP=$tap VMM_TEST_TAP2=$tap2 \
    VMM_TEST_IMAGE=$image \
    VMM_TEST_KERNEL=${image%.qcow2}.vmlinuz VMM_TEST_DIR=$dir VMM_TEST_INSTANCE=vmmtest-$$ \
    "$test_driver"
