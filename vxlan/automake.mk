noinst_HEADERS += vxlan/vxlan.h
