noinst_HEADERS += \
	packet/csum.h \
	packet/hdr.h \
	packet/parse.h \
	packet/types.h
