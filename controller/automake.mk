# controller: filled in by its owners.

# store: the desired-state store (controller/store.h) over SQLite.
noinst_LIBRARIES += controller/libfabric-store.a
controller_libfabric_store_a_SOURCES = \
	controller/store-sqlite.c \
	controller/store.h
controller_libfabric_store_a_CPPFLAGS = $(AM_CPPFLAGS) $(JANSSON_CFLAGS) \
	$(SQLITE_CFLAGS)
# What a program linking the store needs.
STORE_LIBS = controller/libfabric-store.a utils/libfabric-utils.a \
	$(SQLITE_LIBS) $(JANSSON_LIBS) -lpthread
# end of store
