# vmm-glue: the hypervisor drivers fabric-agent links (vmm-glue/vmm.h).
noinst_LIBRARIES += vmm-glue/libvmm-glue.a
vmm_glue_libvmm_glue_a_SOURCES = \
	vmm-glue/qmp.c \
	vmm-glue/qmp.h \
	vmm-glue/vmm-libvirt.c \
	vmm-glue/vmm-provider.h \
	vmm-glue/vmm-qemu.c \
	vmm-glue/vmm.c \
	vmm-glue/vmm.h
vmm_glue_libvmm_glue_a_CPPFLAGS = $(AM_CPPFLAGS) $(JANSSON_CFLAGS) \
	$(LIBVIRT_CFLAGS)

# What a program that links vmm-glue/libvmm-glue.a links besides.
VMM_GLUE_LIBS = vmm-glue/libvmm-glue.a utils/libfabric-utils.a \
	$(JANSSON_LIBS) $(LIBVIRT_LIBS)
