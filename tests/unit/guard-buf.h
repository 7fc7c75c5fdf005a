/* A copy of some bytes that ends exactly where readable memory ends.
 *
 * The bytes are placed flush against a page mapped PROT_NONE, so a parser
 * that reads even one byte past the end of a packet crashes the test at once
 * instead of quietly reading neighbouring heap memory.  This lets a plain
 * "make check" prove that the parsers stay in bounds on every truncated or
 * mutated input, with no valgrind or sanitizer needed (though both work on
 * top of it).  Reads before the start are not caught; the parsers only ever
 * move forward. */
#ifndef TESTS_UNIT_GUARD_BUF_H
#define TESTS_UNIT_GUARD_BUF_H 1

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

struct guard_buf {
    uint8_t *map;   /* Start of the mapping. */
    size_t map_len; /* Length of the mapping, guard included. */
    uint8_t *data;  /* The copied bytes. */
    uint8_t *end;   /* One past the last byte: the guard page. */
};

/* Copies the 'len' bytes at 'bytes' into 'b' so that they end at a guard
 * page, and returns the copy.  Aborts if memory cannot be mapped. */
static inline uint8_t *
guard_buf_init(struct guard_buf *b, const void *bytes, size_t len)
{
    size_t page = (size_t) sysconf(_SC_PAGESIZE);
    size_t data_len = (len + page - 1) / page * page;
    void *map;

    b->map_len = data_len + page;
    map = mmap(NULL, b->map_len, PROT_READ | PROT_WRITE,
               MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (map == MAP_FAILED) {
        perror("guard_buf_init: mmap");
        abort();
    }
    b->map = map;
    if (mprotect(b->map + data_len, page, PROT_NONE)) {
        perror("guard_buf_init: mprotect");
        abort();
    }
    b->end = b->map + data_len;
    b->data = b->end - len;
    if (len) {
        memcpy(b->data, bytes, len);
    }
    return b->data;
}

/* Releases the memory of 'b'. */
static inline void
guard_buf_destroy(struct guard_buf *b)
{
    munmap(b->map, b->map_len);
}

#endif /* tests/unit/guard-buf.h */
