noinst_LIBRARIES += utils/libfabric-utils.a
utils_libfabric_utils_a_SOURCES = \
	utils/addr.c \
	utils/addr.h \
	utils/base64.c \
	utils/base64.h \
	utils/conffile.c \
	utils/conffile.h \
	utils/log.c \
	utils/log.h \
	utils/names.c \
	utils/names.h \
	utils/units.c \
	utils/units.h \
	utils/url-list.c \
	utils/url-list.h \
	utils/util.c \
	utils/util.h
