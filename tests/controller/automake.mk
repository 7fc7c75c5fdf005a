# store: tests/controller/test-store runs the SQLite store on real database
# files in a temporary directory.
check_PROGRAMS += tests/controller/test-store
TESTS += tests/controller/test-store
tests_controller_test_store_SOURCES = tests/controller/test-store.c
tests_controller_test_store_CPPFLAGS = $(AM_CPPFLAGS) $(CMOCKA_CFLAGS) \
	$(JANSSON_CFLAGS) $(SQLITE_CFLAGS)
tests_controller_test_store_LDADD = $(STORE_LIBS) $(CMOCKA_LIBS)
# end of store
