# vmm-glue's drivers with real guests (the tiny test image under the
# accelerator the probe picks): tests/vmm/test-driver.c tells the story,
# one wrapper per driver makes its tap and directories.  They need root.
check_PROGRAMS += tests/vmm/test-driver
tests_vmm_test_driver_SOURCES = tests/vmm/test-driver.c
tests_vmm_test_driver_CPPFLAGS = $(AM_CPPFLAGS) $(CMOCKA_CFLAGS)
tests_vmm_test_driver_LDADD = $(VMM_GLUE_LIBS) $(CMOCKA_LIBS)
TESTS += tests/vmm/qemu.sh tests/vmm/libvirt.sh
EXTRA_DIST += tests/vmm/driver.sh tests/vmm/qemu.sh tests/vmm/libvirt.sh \
	scripts/build-test-image scripts/start-libvirtd

# vmm-glue's QMP client against a QMP server the test plays on a real unix
# socket (events before the greeting and between command and reply, split
# lines, a reply cut short); it needs no QEMU.
check_PROGRAMS += tests/vmm/test-qmp
tests_vmm_test_qmp_SOURCES = tests/vmm/test-qmp.c
tests_vmm_test_qmp_CPPFLAGS = $(AM_CPPFLAGS) $(CMOCKA_CFLAGS)
tests_vmm_test_qmp_LDADD = $(VMM_GLUE_LIBS) $(CMOCKA_LIBS) -lpthread
TESTS += tests/vmm/test-qmp
