noinst_HEADERS += vxlan/vxlan.h vxlan/ecn.h
