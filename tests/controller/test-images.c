/* Images over real HTTP: an operator registers a qcow2 image made by
 * qemu-img and a raw one, and the controller stores them in its storage
 * directory with the right format, sizes and SHA-256 (checked against
 * sha256sum).  Then what an attacker or an accident sends: bytes of
 * another format, a damaged qcow2 header, a qcow2 that points at a
 * backing file, a file too big (with and without a Content-Length), a
 * second upload, two at once, one cut off halfway, the delete of an image
 * a VM uses.  Nothing of a refused upload stays behind. */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <jansson.h>

#include "controller/server.h"
#include "controller/store.h"
#include "tests/controller/fixture.h"
#include "utils/util.h"

/* The image size limit of these tests' controllers. */
#define SIZE_MAX_TEST (4 * 1024 * 1024)

static int
setup(void **state)
{
    struct server_config limits = {.image_size_max = SIZE_MAX_TEST};

    *state = fixture_start_config(30, false, &limits);
    return 0;
}

static int
teardown(void **state)
{
    fixture_stop(*state);
    return 0;
}

/* Runs shell command 'format' and fails the test unless it exits 0. */
static void __attribute__((format(printf, 1, 2))) run(const char *format, ...)
{
    va_list args;
    char *cmd;
    int rc;

    va_start(args, format);
    assert_true(vasprintf(&cmd, format, args) > 0);
    va_end(args);
    rc = system(cmd);
    if (rc) {
        fail_msg("%s: exit status %#x", cmd, rc);
    }
    free(cmd);
}

/* Returns the SHA-256 of file 'path' as sha256sum(1) prints it. */
static char *
sha256sum(const char *path)
{
    char *cmd = xasprintf("sha256sum '%s'", path);
    FILE *p = popen(cmd, "r");
    char hex[65] = "";

    assert_non_null(p);
    assert_int_equal(fscanf(p, "%64s", hex), 1);
    assert_int_equal(pclose(p), 0);
    free(cmd);
    return xstrdup(hex);
}

static off_t
file_size(const char *path)
{
    struct stat st;

    assert_int_equal(stat(path, &st), 0);
    return st.st_size;
}

/* Writes 'len' bytes of 'data' to a new file 'name' in 'f''s directory
 * and returns its path. */
static char *
write_bytes(struct fixture *f, const char *name, const void *data, size_t len)
{
    char *path = xasprintf("%s/%s", f->dir, name);
    FILE *file = fopen(path, "w");

    assert_non_null(file);
    assert_int_equal(fwrite(data, 1, len, file), len);
    assert_int_equal(fclose(file), 0);
    return path;
}

/* How an upload sends its file. */
struct upload {
    FILE *file;         /* The bytes. */
    size_t sent;        /* Bytes handed to libcurl so far. */
    size_t abort_after; /* Cut the upload off after this many, once let
                         * go (0: never). */
    atomic_bool *hold;  /* While set, stall after the first piece. */
    atomic_bool *held;  /* Set once stalled. */
    bool expect;        /* Ask "Expect: 100-continue" first, as fabricctl
                         * does, instead of sending the body at once. */
};

static size_t
upload_read(char *buf, size_t size, size_t n, void *up_)
{
    struct upload *up = up_;
    size_t len;

    if (up->hold && up->sent > 0) {
        atomic_store(up->held, true);
        while (atomic_load(up->hold)) {
            usleep(10 * 1000);
        }
    }
    if (up->abort_after && up->sent >= up->abort_after) {
        return CURL_READFUNC_ABORT;
    }
    len = fread(buf, 1, size * n < 65536 ? size * n : 65536, up->file);
    up->sent += len;
    return len;
}

static size_t
collect(char *data, size_t size, size_t n, void *buf_)
{
    struct reply *r = buf_;

    r->body = xrealloc(r->body, r->len + size * n + 1);
    memcpy(r->body + r->len, data, size * n);
    r->len += size * n;
    r->body[r->len] = '\0';
    return size * n;
}

/* PUTs file 'path' as the file of image 'name' with 'token' (the admin's
 * if NULL) on a connection of its own, as 'type' (octet-stream if NULL),
 * with a Content-Length unless 'chunked'.  'up' (may be NULL) says how.
 * Returns libcurl's result; the answer is in 'r'. */
static CURLcode
upload_as(struct fixture *f, const char *name, const char *path,
          const char *token, const char *type, bool chunked, struct upload *up,
          struct reply *r)
{
    struct upload plain = {0};
    struct curl_slist *headers = NULL;
    char *url = xasprintf("%s/v1/images/%s/file", f->base, name);
    char *auth =
        xasprintf("Authorization: Bearer %s", token ? token : f->admin);
    char *ctype = xasprintf("Content-Type: %s",
                            type ? type : "application/octet-stream");
    CURL *curl = curl_easy_init();
    CURLcode rc;

    if (!up) {
        up = &plain;
    }
    memset(r, 0, sizeof *r);
    up->file = fopen(path, "r");
    assert_non_null(up->file);
    headers = curl_slist_append(headers, auth);
    headers = curl_slist_append(headers, ctype);
    headers = curl_slist_append(headers, up->expect ? "Expect: 100-continue"
                                                    : "Expect:");
    if (chunked) {
        headers = curl_slist_append(headers, "Transfer-Encoding: chunked");
    }
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(curl, CURLOPT_READFUNCTION, upload_read);
    curl_easy_setopt(curl, CURLOPT_READDATA, up);
    if (!chunked) {
        curl_easy_setopt(curl, CURLOPT_INFILESIZE_LARGE,
                         (curl_off_t) file_size(path));
    }
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, 60L);
    rc = curl_easy_perform(curl);
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &r->status);
    if (r->body) {
        r->json = json_loads(r->body, 0, NULL);
    }
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
    fclose(up->file);
    free(url);
    free(auth);
    free(ctype);
    return rc;
}

/* Uploads 'path' to image 'name' as the admin and returns the status
 * (0 for none).  A refusal may come before the body is all sent, and the
 * server then closes the connection: libcurl may report that as an error
 * of its own, but the answer is what counts. */
static long
upload(struct fixture *f, const char *name, const char *path, struct reply *r)
{
    upload_as(f, name, path, NULL, NULL, false, NULL, r);
    return r->status;
}

static void
create_image(struct fixture *f, const char *name)
{
    char *body = xasprintf("{\"name\": \"%s\"}", name);

    assert_int_equal(fixture_admin(f, "POST", "/v1/images", body), 201);
    free(body);
}

/* The names in the storage directory's "images", dot files included,
 * sorted and joined by spaces. */
static char *
stored_files(struct fixture *f)
{
    char *dir = xasprintf("%s/images", f->storage);
    json_t *names = json_array();
    char *joined = xstrdup("");
    struct dirent **list;
    int n = scandir(dir, &list, NULL, alphasort);

    assert_true(n >= 0);
    for (int i = 0; i < n; i++) {
        if (strcmp(list[i]->d_name, ".") && strcmp(list[i]->d_name, "..")) {
            char *next = xasprintf("%s%s%s", joined, *joined ? " " : "",
                                   list[i]->d_name);

            free(joined);
            joined = next;
        }
        free(list[i]);
    }
    free(list);
    json_decref(names);
    free(dir);
    return joined;
}

static void
expect_files(struct fixture *f, const char *expected)
{
    char *files = stored_files(f);

    assert_string_equal(files, expected);
    free(files);
}

/* Asserts that image 'name' is still "queued", nothing recorded. */
static void
expect_queued(struct fixture *f, const char *name)
{
    char *path = xasprintf("/v1/images/%s", name);
    struct reply r;

    assert_int_equal(fixture_call(f, "GET", path, f->admin, NULL, NULL, &r),
                     200);
    assert_string_equal(json_string_value(json_object_get(r.json, "status")),
                        "queued");
    assert_null(json_object_get(r.json, "sha256"));
    assert_null(json_object_get(r.json, "file"));
    reply_clear(&r);
    free(path);
}

static void
test_qcow2_and_raw(void **state)
{
    struct fixture *f = *state;
    char *qcow2 = xasprintf("%s/tiny.qcow2", f->dir);
    char *stored, *sum;
    uint8_t *bytes;
    char *raw;
    struct reply r;

    /* A qcow2 image as qemu-img makes it, stored as it is. */
    run("qemu-img create -q -f qcow2 '%s' 64M", qcow2);
    assert_int_equal(fixture_call(f, "POST", "/v1/images", f->admin,
                                  "{\"name\": \"tiny\", \"description\": "
                                  "\"a test guest\"}",
                                  NULL, &r),
                     201);
    assert_string_equal(json_string_value(json_object_get(r.json, "status")),
                        "queued");
    reply_clear(&r);
    assert_int_equal(upload(f, "tiny", qcow2, &r), 200);
    sum = sha256sum(qcow2);
    assert_string_equal(json_string_value(json_object_get(r.json, "status")),
                        "active");
    assert_string_equal(json_string_value(json_object_get(r.json, "format")),
                        "qcow2");
    assert_string_equal(json_string_value(json_object_get(r.json, "sha256")),
                        sum);
    assert_int_equal(
        json_integer_value(json_object_get(r.json, "virtual_size_bytes")),
        64 << 20);
    assert_int_equal(json_integer_value(json_object_get(r.json, "size_bytes")),
                     file_size(qcow2));
    assert_string_equal(json_string_value(json_object_get(r.json, "file")),
                        "images/tiny.qcow2");
    assert_string_equal(
        json_string_value(json_object_get(r.json, "description")),
        "a test guest");
    reply_clear(&r);
    stored = xasprintf("%s/images/tiny.qcow2", f->storage);
    run("cmp -s '%s' '%s'", qcow2, stored);
    free(sum);

    /* GET and the list say the same. */
    assert_int_equal(
        fixture_call(f, "GET", "/v1/images", f->admin, NULL, NULL, &r), 200);
    assert_int_equal(json_array_size(json_object_get(r.json, "items")), 1);
    assert_string_equal(
        json_string_value(json_object_get(
            json_array_get(json_object_get(r.json, "items"), 0), "status")),
        "active");
    reply_clear(&r);

    /* A raw image is converted to qcow2, so that every image is
     * images/NAME.qcow2; its SHA-256 is that of the bytes sent. */
    bytes = xmalloc(1 << 20);
    for (size_t i = 0; i < 1 << 20; i++) {
        bytes[i] = (i * 2654435761u) >> 13;
    }
    raw = write_bytes(f, "disk.raw", bytes, 1 << 20);
    free(bytes);
    create_image(f, "raw1");
    assert_int_equal(upload(f, "raw1", raw, &r), 200);
    sum = sha256sum(raw);
    assert_string_equal(json_string_value(json_object_get(r.json, "format")),
                        "raw");
    assert_string_equal(json_string_value(json_object_get(r.json, "sha256")),
                        sum);
    assert_int_equal(
        json_integer_value(json_object_get(r.json, "virtual_size_bytes")),
        1 << 20);
    assert_int_equal(json_integer_value(json_object_get(r.json, "size_bytes")),
                     1 << 20);
    reply_clear(&r);
    free(sum);
    run("qemu-img compare -q -f raw -F qcow2 '%s' '%s/images/raw1.qcow2'", raw,
        f->storage);
    run("qemu-img info '%s/images/raw1.qcow2' | grep -q '^file format: "
        "qcow2$'",
        f->storage);
    expect_files(f, "raw1.qcow2 tiny.qcow2");

    /* A second upload would change what VMs boot from under them. */
    assert_int_equal(upload(f, "tiny", raw, &r), 409);
    reply_clear(&r);
    run("cmp -s '%s' '%s'", qcow2, stored);

    /* Delete removes the file. */
    assert_int_equal(fixture_admin(f, "DELETE", "/v1/images/tiny", NULL), 204);
    expect_files(f, "raw1.qcow2");
    assert_int_equal(fixture_admin(f, "GET", "/v1/images/tiny", NULL), 404);
    free(stored);
    free(qcow2);
    free(raw);
}

static void
test_bad_files(void **state)
{
    struct fixture *f = *state;
    char *path, *backing, *damaged;
    uint8_t buf[4096];
    struct reply r;
    static const struct {
        const char *name;   /* What it is. */
        const char *magic;  /* Its first bytes. */
        size_t len;         /* Their number. */
        const char *answer; /* What the error says. */
    } others[] = {
        {"vmdk", "KDMV\x01\0\0\0", 8, "vmdk image"},
        {"vhdx", "vhdxfile", 8, "vhdx image"},
        {"qed", "QED\0", 4, "qed image"},
        {"qcow2 v9", "QFI\xfb\0\0\0\x09", 8, "not a qcow2 version 2 or 3"},
        {"short qcow2", "QFI\xfb\0\0\0\x03", 8, "not a qcow2 version 2 or 3"},
    };

    create_image(f, "bad");

    /* Other formats and damaged qcow2 headers: 400, named. */
    for (size_t i = 0; i < sizeof others / sizeof others[0]; i++) {
        memset(buf, 0, sizeof buf);
        memcpy(buf, others[i].magic, others[i].len);
        path = write_bytes(f, "bad.img", buf,
                           strcmp(others[i].name, "short qcow2") ? sizeof buf
                                                                 : 40);
        assert_int_equal(upload(f, "bad", path, &r), 400);
        if (!strstr(reply_message(&r), others[i].answer)) {
            fail_msg("%s: %s", others[i].name, reply_message(&r));
        }
        reply_clear(&r);
        free(path);
    }

    /* A qcow2 header with cluster_bits 40. */
    damaged = xasprintf("%s/damaged.qcow2", f->dir);
    run("qemu-img create -q -f qcow2 '%s' 1M && printf '\\050' | dd "
        "of='%s' bs=1 seek=23 conv=notrunc status=none",
        damaged, damaged);
    assert_int_equal(upload(f, "bad", damaged, &r), 400);
    assert_non_null(strstr(reply_message(&r), "cluster_bits 40"));
    reply_clear(&r);

    /* A qcow2 overlay: its backing file would be read on every host. */
    backing = xasprintf("%s/overlay.qcow2", f->dir);
    run("qemu-img create -q -f qcow2 -b /etc/passwd -F raw '%s' 1M", backing);
    assert_int_equal(upload(f, "bad", backing, &r), 400);
    assert_non_null(strstr(reply_message(&r), "backing file"));
    reply_clear(&r);

    /* Raw bytes that are no whole number of sectors, and nothing. */
    memset(buf, 0xab, sizeof buf);
    path = write_bytes(f, "odd.raw", buf, 1000);
    assert_int_equal(upload(f, "bad", path, &r), 400);
    assert_non_null(strstr(reply_message(&r), "512-byte sectors"));
    reply_clear(&r);
    free(path);
    path = write_bytes(f, "empty.raw", buf, 0);
    assert_int_equal(upload(f, "bad", path, &r), 400);
    assert_non_null(strstr(reply_message(&r), "empty"));
    reply_clear(&r);

    /* Not octet-stream: 415, before the body is read. */
    assert_int_equal(upload_as(f, "bad", backing, NULL, "application/json",
                               false, NULL, &r),
                     CURLE_OK);
    assert_int_equal(r.status, 415);
    assert_string_equal(reply_field(&r), "Content-Type");
    reply_clear(&r);

    /* No such image. */
    assert_int_equal(upload(f, "nosuch", path, &r), 404);
    reply_clear(&r);

    /* Nothing of any of it stayed. */
    expect_queued(f, "bad");
    expect_files(f, "");
    free(path);
    free(damaged);
    free(backing);
}

static void
test_too_big(void **state)
{
    struct fixture *f = *state;
    char *big = xasprintf("%s/big.raw", f->dir);
    struct reply r;
    CURLcode rc;

    run("head -c %d /dev/zero > '%s'", SIZE_MAX_TEST + 512, big);
    create_image(f, "big");

    /* With a Content-Length: refused before a byte is read.  A client that
     * waits for "100 Continue", as fabricctl does, reads the refusal... */
    struct upload expect = {.expect = true};
    assert_int_equal(upload_as(f, "big", big, NULL, NULL, false, &expect, &r),
                     CURLE_OK);
    assert_int_equal(r.status, 413);
    assert_non_null(strstr(reply_message(&r), "image-size-max"));
    reply_clear(&r);

    /* ...one that sends the body at once may find the connection closed
     * under it before it reads the answer (how soon is up to the
     * machine's load): either way nothing is stored. */
    rc = upload_as(f, "big", big, NULL, NULL, false, NULL, &r);
    if (rc == CURLE_OK) {
        assert_int_equal(r.status, 413);
    } else {
        assert_true(rc == CURLE_SEND_ERROR || rc == CURLE_RECV_ERROR);
    }
    reply_clear(&r);
    expect_queued(f, "big");
    expect_files(f, "");

    /* Chunked, without one: refused once it passes the limit. */
    assert_int_equal(upload_as(f, "big", big, NULL, NULL, true, NULL, &r),
                     CURLE_OK);
    assert_int_equal(r.status, 413);
    reply_clear(&r);
    expect_queued(f, "big");
    expect_files(f, "");

    /* At the limit exactly, it fits. */
    run("truncate -s %d '%s'", SIZE_MAX_TEST, big);
    assert_int_equal(upload(f, "big", big, &r), 200);
    reply_clear(&r);
    free(big);
}

/* A stalled upload, in a thread of its own. */
struct stalled {
    struct fixture *f;  /* The controller. */
    const char *image;  /* The image. */
    const char *path;   /* The file sent. */
    bool cut;           /* Cut it off once let go. */
    atomic_bool hold;   /* Cleared to let it go on. */
    atomic_bool held;   /* It waits. */
    struct reply reply; /* Its answer. */
    pthread_t thread;   /* Runs it. */
};

static void *
stalled_main(void *s_)
{
    struct stalled *s = s_;
    struct upload up = {
        .hold = &s->hold, .held = &s->held, .abort_after = s->cut ? 1 : 0};

    upload_as(s->f, s->image, s->path, NULL, NULL, false, &up, &s->reply);
    return NULL;
}

/* Waits until the file names in the storage's "images" contain 'name'
 * ('present') or not; fails the test after 10 s. */
static void
wait_file(struct fixture *f, const char *name, bool present)
{
    for (int i = 0; i < 1000; i++) {
        char *files = stored_files(f);
        bool there = strstr(files, name) != NULL;

        free(files);
        if (there == present) {
            return;
        }
        usleep(10 * 1000);
    }
    fail_msg("%s did not %s", name, present ? "appear" : "go away");
}

/* Starts upload 's' and waits until the controller has begun it (its
 * temporary file is there) and the client is stalled. */
static void
stalled_start(struct stalled *s)
{
    char *tmp = xasprintf(".%s.tmp", s->image);

    atomic_store(&s->hold, true);
    assert_int_equal(pthread_create(&s->thread, NULL, stalled_main, s), 0);
    wait_file(s->f, tmp, true);
    for (int i = 0; i < 1000 && !atomic_load(&s->held); i++) {
        usleep(10 * 1000);
    }
    assert_true(atomic_load(&s->held));
    free(tmp);
}

static void
stalled_finish(struct stalled *s)
{
    atomic_store(&s->hold, false);
    pthread_join(s->thread, NULL);
}

static void
test_concurrent_and_interrupted(void **state)
{
    struct fixture *f = *state;
    char *raw = xasprintf("%s/two.raw", f->dir);
    struct stalled two = {.f = f, .image = "two", .path = raw};
    struct stalled three = {
        .f = f, .image = "three", .path = raw, .cut = true};
    struct reply r;

    run("head -c 1048576 /dev/urandom > '%s'", raw);
    create_image(f, "two");
    create_image(f, "three");

    /* While one upload is under way, another of the same image is refused,
     * and the first one still completes. */
    stalled_start(&two);
    assert_int_equal(upload(f, "two", raw, &r), 409);
    assert_non_null(strstr(reply_message(&r), "in progress"));
    reply_clear(&r);
    stalled_finish(&two);
    assert_int_equal(two.reply.status, 200);
    reply_clear(&two.reply);

    /* An upload cut off halfway leaves no file and no change, and the next
     * one goes through. */
    stalled_start(&three);
    stalled_finish(&three);
    assert_int_equal(three.reply.status, 0);
    reply_clear(&three.reply);
    wait_file(f, ".three.tmp", false);
    expect_files(f, "two.qcow2");
    expect_queued(f, "three");
    assert_int_equal(upload(f, "three", raw, &r), 200);
    reply_clear(&r);
    expect_files(f, "three.qcow2 two.qcow2");
    free(raw);
}

/* Writes the index object by which a VM says it uses an image, as the
 * VM resource does, through a store connection of its own. */
static void
put_image_user(struct fixture *f, const char *key)
{
    struct store *store;
    struct store_txn *txn;
    json_t *body = json_object();

    assert_int_equal(store_open(f->db, &store), 0);
    assert_int_equal(store_begin(store, true, &txn), 0);
    assert_int_equal(
        store_put(txn, "image-user", key, body, STORE_CREATE, NULL), 0);
    assert_int_equal(store_commit(txn, NULL), 0);
    json_decref(body);
    store_close(store);
}

static void
test_delete_in_use_and_roles(void **state)
{
    struct fixture *f = *state;
    char *qcow2 = xasprintf("%s/x.qcow2", f->dir);
    char *viewer = fixture_token(f, "monitor", "viewer", NULL);
    struct reply r;

    run("qemu-img create -q -f qcow2 '%s' 1M", qcow2);
    create_image(f, "tiny");
    create_image(f, "tiny-2");
    assert_int_equal(upload(f, "tiny", qcow2, &r), 200);
    reply_clear(&r);

    /* A user of "tiny-2" sorts before those of "tiny": it must not be
     * taken for one. */
    put_image_user(f, "tiny-2/db1");
    put_image_user(f, "tiny/web1");
    assert_int_equal(
        fixture_call(f, "DELETE", "/v1/images/tiny", f->admin, NULL, NULL, &r),
        409);
    assert_non_null(strstr(reply_message(&r), "vm \"web1\""));
    reply_clear(&r);
    expect_files(f, "tiny.qcow2");
    assert_int_equal(fixture_admin(f, "DELETE", "/v1/images/tiny-2", NULL),
                     409);

    /* Viewers read; only admins write, and an upload of a viewer is
     * refused before its body. */
    assert_int_equal(
        fixture_call(f, "GET", "/v1/images/tiny", viewer, NULL, NULL, &r),
        200);
    reply_clear(&r);
    assert_int_equal(fixture_call(f, "POST", "/v1/images", viewer,
                                  "{\"name\": \"v\"}", NULL, &r),
                     403);
    reply_clear(&r);
    create_image(f, "v");
    assert_int_equal(upload_as(f, "v", qcow2, viewer, NULL, false, NULL, &r),
                     CURLE_OK);
    assert_int_equal(r.status, 403);
    reply_clear(&r);
    assert_int_equal(
        upload_as(f, "v", qcow2, "nonsense", NULL, false, NULL, &r), CURLE_OK);
    assert_int_equal(r.status, 401);
    reply_clear(&r);
    expect_queued(f, "v");

    /* Read-only fields and unknown ones are refused on creation. */
    assert_int_equal(fixture_admin(f, "POST", "/v1/images",
                                   "{\"name\": \"w\", \"status\": "
                                   "\"active\"}"),
                     400);
    assert_int_equal(fixture_admin(f, "POST", "/v1/images",
                                   "{\"name\": \"w\", \"url\": \"x\"}"),
                     400);
    assert_int_equal(
        fixture_admin(f, "POST", "/v1/images", "{\"name\": \"../etc\"}"), 400);
    assert_int_equal(
        fixture_admin(f, "POST", "/v1/images", "{\"name\": \"tiny\"}"), 409);
    assert_int_equal(fixture_admin(f, "GET", "/v1/images/w", NULL), 404);
    free(viewer);
    free(qcow2);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_qcow2_and_raw, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_files, setup, teardown),
        cmocka_unit_test_setup_teardown(test_too_big, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_and_interrupted, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_delete_in_use_and_roles, setup,
                                        teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
