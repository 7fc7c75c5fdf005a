/* Images: /v1/images, the disks VMs boot from (doc/vms.md "Storage").
 *
 * An image is made in two steps: POST makes it "queued", and PUT of its
 * file streams the bytes into the storage directory, where every host
 * sees them.  The bytes go to "images/.NAME.tmp" (opened with O_EXCL, so
 * one upload at a time), hashed as they arrive; at the end their format
 * is read from them, a raw image is converted to qcow2 so that every image
 * is "images/NAME.qcow2", and the file is synced and renamed into place in
 * the transaction that makes the image "active".  An upload that fails or
 * is cut off leaves neither a file nor a change. */
#include "controller/api.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>

#include "controller/image-format.h"
#include "controller/store.h"
#include "utils/log.h"
#include "utils/util.h"

extern char **environ;

static const struct api_field image_fields[] = {
    {"name", API_STRING, API_IMMUTABLE, true},
    {"description", API_STRING, API_RW, false},
    {"status", API_STRING, API_RO, false},
    {"format", API_STRING, API_RO, false},
    {"size_bytes", API_INTEGER, API_RO, false},
    {"virtual_size_bytes", API_INTEGER, API_RO, false},
    {"sha256", API_STRING, API_RO, false},
    {"file", API_STRING, API_RO, false},
    {"version", API_INTEGER, API_VERSION, false},
    {"revision", API_INTEGER, API_RO, false},
    {"created_at", API_STRING, API_RO, false},
    {"updated_at", API_STRING, API_RO, false},
};

static const struct api_kind image_kind = {
    .kind = "image",
    .plural = "images",
    .fields = image_fields,
    .n_fields = ARRAY_SIZE(image_fields),
};

char *
api_image_file(const char *name)
{
    return xasprintf("images/%s.qcow2", name);
}

static int
apply_fields(struct store_txn *txn, const struct store_obj *obj,
             const json_t *in, json_t *body, const char *what,
             struct api_error *err)
{
    if (!obj) {
        json_object_set_new(body, "status", json_string("queued"));
    }
    return api_apply_description(in, body, what, err);
}

int
api_image_create(struct api *api, const json_t *in, json_t **out,
                 struct api_error *err)
{
    char *what = api_what("image", api_get_string(in, "name"));
    int status;

    status = api_check_input(in, image_fields, ARRAY_SIZE(image_fields), what,
                             NULL, false, err);
    if (!status) {
        status = api_kind_create(api, &image_kind, in, what, apply_fields, out,
                                 err);
    }
    free(what);
    return status;
}

int
api_image_get(struct api *api, const char *name, json_t **out,
              struct api_error *err)
{
    return api_kind_get(api, &image_kind, name, out, err);
}

int
api_image_list(struct api *api, const json_t *query, json_t **out,
               struct api_error *err)
{
    return api_kind_list(api, &image_kind, query, out, err);
}

/* The search for an "image-user" index object "IMAGE/VM". */
struct image_user {
    const char *prefix; /* "IMAGE/". */
    char *vm;           /* The first VM found, or NULL. */
};

static int
image_user_cb(const struct store_obj *obj, void *u_)
{
    struct image_user *u = u_;
    size_t len = strlen(u->prefix);
    int cmp = strncmp(obj->name, u->prefix, len);

    /* Names of other images' users ("IMAGE-2/VM") may sort first. */
    if (cmp < 0) {
        return 0;
    } else if (!cmp) {
        u->vm = xstrdup(obj->name + len);
    }
    return API_STOP;
}

/* Answers 409 for 'what' if a VM uses image 'name'. */
static int
check_unused(struct store_txn *txn, const char *name, const char *what,
             struct api_error *err)
{
    char *prefix = xasprintf("%s/", name);
    struct image_user u = {.prefix = prefix};
    int error = store_list(txn, "image-user", name, 0, image_user_cb, &u);
    int status = 0;

    if (error && error != API_STOP) {
        status = api_store_error(error, what, err);
    } else if (u.vm) {
        status = api_fail(err, 409, NULL,
                          "%s: in use by vm \"%s\" (its disk is an overlay "
                          "on it); delete the vm first",
                          what, u.vm);
    }
    free(u.vm);
    free(prefix);
    return status;
}

int
api_image_delete(struct api *api, const char *name, const json_t *in,
                 int64_t if_match, struct api_error *err)
{
    char *what = api_what("image", name);
    struct store_txn *txn = NULL;
    struct store_obj obj = {0};
    int status, error;

    status = api_kind_delete_begin(api, &image_kind, name, in, if_match, what,
                                   &txn, &obj, err);
    if (!status) {
        status = check_unused(txn, name, what, err);
    }
    if (!status) {
        error = store_delete(txn, "image", name, obj.version);
        status = api_finish_no_content(&txn, error, what, err);
    }
    if (status == 204 && api->storage) {
        /* Gone from the store first: a VM created from now on cannot
         * name it, so the file has no user left. */
        char *file = api_image_file(name);
        char *path = xasprintf("%s/%s", api->storage, file);

        if (unlink(path) && errno != ENOENT) {
            LOG_WARN("%s: deleted, but its file %s stays: %s", what, path,
                     strerror(errno));
        }
        free(path);
        free(file);
    }
    store_abort(txn);
    store_obj_clear(&obj);
    free(what);
    return status;
}

/* Uploads. */

struct api_image_upload {
    struct api *api;                 /* Owner. */
    char *name;                      /* The image. */
    char *what;                      /* "image \"NAME\"", for messages. */
    char *tmp;                       /* "STORAGE/images/.NAME.tmp". */
    int fd;                          /* Open on 'tmp', or -1 once closed. */
    gnutls_hash_hd_t hash;           /* SHA-256 of the bytes so far. */
    bool hashing;                    /* 'hash' is initialized. */
    uint64_t len;                    /* Bytes received. */
    uint8_t head[IMAGE_FORMAT_HEAD]; /* The first bytes. */
    struct api_error failure;        /* Why the upload fails, once it does. */
    bool done;                       /* 'tmp' is in place or removed: leave
                                      * it. */
};

void
api_image_upload_destroy(struct api_image_upload *up)
{
    if (up) {
        if (up->fd >= 0) {
            close(up->fd);
        }
        if (!up->done) {
            unlink(up->tmp);
        }
        if (up->hashing) {
            gnutls_hash_deinit(up->hash, NULL);
        }
        api_error_clear(&up->failure);
        free(up->name);
        free(up->what);
        free(up->tmp);
        free(up);
    }
}

/* Reads image 'name' in a new transaction of 'api' ('write' or not) into
 * '*txn' and 'obj', answering 404 if there is none and 409 unless it
 * waits for its file. */
static int
read_queued(struct api *api, bool write, const char *name, const char *what,
            struct store_txn **txn, struct store_obj *obj,
            struct api_error *err)
{
    const char *status;
    int s;

    s = api_begin(api, write, txn, err);
    if (!s) {
        s = api_get_object(*txn, "image", name, what, obj, err);
    }
    if (s) {
        return s;
    }
    status = api_get_string(obj->body, "status");
    if (!status || strcmp(status, "queued")) {
        return api_fail(err, 409, NULL,
                        "%s: has its file already (status %s); delete the "
                        "image and create it again to replace it",
                        what, status ? status : "?");
    }
    return 0;
}

int
api_image_upload_begin(struct api *api, const char *name, int64_t length,
                       struct api_image_upload **upp, struct api_error *err)
{
    struct api_image_upload *up;
    struct store_txn *txn = NULL;
    struct store_obj obj = {0};
    int status;

    *upp = NULL;
    up = xzalloc(sizeof *up);
    up->fd = -1;
    up->api = api;
    up->name = xstrdup(name);
    up->what = api_what("image", name);
    status = api_check_name(name, "name", up->what, err);
    if (!status) {
        status = read_queued(api, false, name, up->what, &txn, &obj, err);
    }
    store_abort(txn);
    store_obj_clear(&obj);
    if (status) {
        goto error;
    }
    if (!api->storage) {
        status = api_fail(err, 503, NULL,
                          "%s: this controller has no storage directory "
                          "(its \"storage\" setting)",
                          up->what);
        goto error;
    }
    if (length >= 0 && (uint64_t) length > api->image_size_max) {
        status = api_fail(err, 413, NULL,
                          "%s: the file of %" PRId64 " bytes is larger than "
                          "the limit of %" PRIu64
                          " bytes (the controller's image-size-max)",
                          up->what, length, api->image_size_max);
        goto error;
    }
    up->tmp = xasprintf("%s/images/.%s.tmp", api->storage, name);
    up->fd = open(up->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (up->fd < 0) {
        int error = errno;

        free(up->tmp);
        up->tmp = NULL;
        if (error == EEXIST) {
            status = api_fail(err, 409, NULL,
                              "%s: another upload of its file is in "
                              "progress; wait for it to end",
                              up->what);
        } else {
            status = api_fail(err, 500, NULL,
                              "%s: cannot create %s/images/"
                              ".%s.tmp: %s",
                              up->what, api->storage, name, strerror(error));
        }
        goto error;
    }
    if (gnutls_hash_init(&up->hash, GNUTLS_DIG_SHA256) < 0) {
        status = api_fail(err, 500, NULL, "%s: cannot start a SHA-256 hash",
                          up->what);
        goto error;
    }
    up->hashing = true;
    *upp = up;
    return 0;

error:
    api_image_upload_destroy(up);
    return status;
}

void
api_image_upload_write(struct api_image_upload *up, const void *buf,
                       size_t len)
{
    const uint8_t *p = buf;

    if (up->failure.status) {
        return;
    }
    if (up->len + len > up->api->image_size_max) {
        api_fail(&up->failure, 413, NULL,
                 "%s: the file is larger than the limit of %" PRIu64
                 " bytes (the controller's image-size-max)",
                 up->what, up->api->image_size_max);
        return;
    }
    if (up->len < IMAGE_FORMAT_HEAD) {
        size_t n = IMAGE_FORMAT_HEAD - up->len < len
                       ? IMAGE_FORMAT_HEAD - up->len
                       : len;

        memcpy(up->head + up->len, p, n);
    }
    gnutls_hash(up->hash, p, len);
    up->len += len;
    while (len) {
        ssize_t n = write(up->fd, p, len);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            api_fail(&up->failure, errno == ENOSPC ? 507 : 500, NULL,
                     "%s: cannot write %s: %s", up->what, up->tmp,
                     strerror(errno));
            return;
        }
        p += n;
        len -= n;
    }
}

/* Reads the format of the upload's bytes into 'info', or answers 400
 * with why they are no image (controller/image-format.h). */
static int
detect_format(const struct api_image_upload *up, struct image_format *info,
              struct api_error *err)
{
    char *problem = image_format_detect(
        up->head, up->len < IMAGE_FORMAT_HEAD ? up->len : IMAGE_FORMAT_HEAD,
        up->len, info);

    if (problem) {
        api_fail(err, 400, NULL, "%s: %s", up->what, problem);
        free(problem);
        return 400;
    }
    return 0;
}

/* Syncs file 'path' to disk. */
static int
sync_path(const char *path, bool directory)
{
    int fd =
        open(path, (directory ? O_RDONLY | O_DIRECTORY : O_RDWR) | O_CLOEXEC);
    int error = 0;

    if (fd < 0) {
        return errno;
    }
    if (fsync(fd)) {
        error = errno;
    }
    close(fd);
    return error;
}

/* Converts raw image 'raw' into qcow2 file 'qcow2' with qemu-img.  Returns
 * NULL or why not (the caller frees it). */
static char *
convert_raw(const char *raw, const char *qcow2)
{
    char *const argv[] = {"qemu-img",     "convert", "-q",    "-f",
                          "raw",          "-O",      "qcow2", (char *) raw,
                          (char *) qcow2, NULL};
    int error, wstatus;
    pid_t pid;

    error = posix_spawnp(&pid, "qemu-img", NULL, NULL, argv, environ);
    if (error) {
        return xasprintf("cannot run qemu-img: %s (install qemu-utils)",
                         strerror(error));
    }
    while (waitpid(pid, &wstatus, 0) < 0) {
        if (errno != EINTR) {
            return xasprintf("waiting for qemu-img: %s", strerror(errno));
        }
    }
    if (!WIFEXITED(wstatus) || WEXITSTATUS(wstatus)) {
        return xasprintf("qemu-img convert -O qcow2 failed (status %#x)",
                         wstatus);
    }
    return NULL;
}

/* Makes the upload's file the qcow2 file to rename into place, for
 * 'info': itself, synced, or its conversion.  Stores its path in
 * '*file'. */
static int
prepare_file(struct api_image_upload *up, const struct image_format *info,
             char **file, struct api_error *err)
{
    char *msg;
    int error;

    *file = NULL;
    if (fsync(up->fd)) {
        error = errno;
        return api_fail(err, error == ENOSPC ? 507 : 500, NULL,
                        "%s: cannot sync %s: %s", up->what, up->tmp,
                        strerror(error));
    }
    close(up->fd);
    up->fd = -1;
    if (!strcmp(info->format, "qcow2")) {
        *file = xstrdup(up->tmp);
        return 0;
    }
    *file = xasprintf("%s.qcow2", up->tmp);
    msg = convert_raw(up->tmp, *file);
    error = msg ? 0 : sync_path(*file, false);
    if (msg || error) {
        api_fail(err, 500, NULL, "%s: converting the raw image to qcow2: %s",
                 up->what, msg ? msg : strerror(error));
        unlink(*file);
        free(*file);
        *file = NULL;
        free(msg);
        return 500;
    }
    return 0;
}

/* api_image_upload_finish() but for the removal of a failed upload's
 * file. */
static int
upload_finish(struct api_image_upload *up, json_t **out, struct api_error *err)
{
    struct api *api = up->api;
    uint8_t digest[32];
    char sha256[65];
    struct image_format info = {NULL, 0};
    struct store_txn *txn = NULL;
    struct store_obj obj = {0};
    char *file = NULL, *rel, *final = NULL, *dir;
    json_t *body;
    int64_t revision;
    int status, error;

    if (up->failure.status) {
        status = up->failure.status;
        api_fail(err, status, up->failure.field, "%s", up->failure.message);
        return status;
    }
    status = detect_format(up, &info, err);
    if (!status) {
        status = prepare_file(up, &info, &file, err);
    }
    if (status) {
        return status;
    }
    gnutls_hash_deinit(up->hash, digest);
    up->hashing = false;
    for (size_t i = 0; i < sizeof digest; i++) {
        snprintf(&sha256[2 * i], 3, "%02x", digest[i]);
    }

    /* The file goes into place in the transaction that makes the image
     * active, so that a delete meanwhile either sees the file or wins. */
    status = read_queued(api, true, up->name, up->what, &txn, &obj, err);
    if (status) {
        goto out;
    }
    rel = api_image_file(up->name);
    final = xasprintf("%s/%s", api->storage, rel);
    body = json_deep_copy(obj.body);
    json_object_set_new(body, "status", json_string("active"));
    json_object_set_new(body, "format", json_string(info.format));
    json_object_set_new(body, "size_bytes", json_integer(up->len));
    json_object_set_new(body, "virtual_size_bytes",
                        json_integer(info.virtual_size));
    json_object_set_new(body, "sha256", json_string(sha256));
    json_object_set_new(body, "file", json_string(rel));
    free(rel);
    {
        char now[32];

        api_now(now);
        json_object_set_new(body, "updated_at", json_string(now));
    }
    if (rename(file, final)) {
        status = api_fail(err, 500, NULL, "%s: cannot rename %s to %s: %s",
                          up->what, file, final, strerror(errno));
        json_decref(body);
        goto out;
    }
    dir = xasprintf("%s/images", api->storage);
    error = sync_path(dir, true);
    free(dir);
    if (!error) {
        error = store_put(txn, "image", up->name, body, obj.version, NULL);
    }
    if (error) {
        status = api_store_error(error, up->what, err);
    } else {
        api_updated(&obj, body, 0);
        *out = api_object_out(&obj);
        status = api_commit(txn, &revision, err);
        txn = NULL;
    }
    json_decref(body);
    if (status) {
        json_decref(*out);
        *out = NULL;
        unlink(final);
        goto out;
    }
    json_object_set_new(*out, "revision", json_integer(revision));
    if (strcmp(file, up->tmp)) {
        /* The raw bytes, converted. */
        unlink(up->tmp);
    }
    up->done = true;
    status = 200;

out:
    store_abort(txn);
    store_obj_clear(&obj);
    if (file && strcmp(file, up->tmp)) {
        unlink(file);
    }
    free(file);
    free(final);
    return status;
}

int
api_image_upload_finish(struct api_image_upload *up, json_t **out,
                        struct api_error *err)
{
    int status = upload_finish(up, out, err);

    if (status != 200 && !up->done) {
        /* Before the answer, so that an upload that comes right after it
         * does not find this one still in progress. */
        if (up->fd >= 0) {
            close(up->fd);
            up->fd = -1;
        }
        unlink(up->tmp);
        up->done = true;
    }
    return status;
}

int
api_images_init_storage(const char *storage)
{
    char *images = xasprintf("%s/images", storage);
    int error = 0;
    DIR *d;

    for (char *p = strchr(images + 1, '/'); !error; p = strchr(p + 1, '/')) {
        if (p) {
            *p = '\0';
        }
        if (mkdir(images, 0700) && errno != EEXIST) {
            error = errno;
            LOG_ERR("storage %s: cannot create %s: %s", storage, images,
                    strerror(error));
        }
        if (!p) {
            break;
        }
        *p = '/';
    }
    /* Uploads that a previous run left unfinished hold nothing anyone
     * may use, and would refuse the next upload of their image. */
    d = error ? NULL : opendir(images);
    for (struct dirent *de; d && (de = readdir(d));) {
        size_t len = strlen(de->d_name);

        if (de->d_name[0] == '.' && len > 5
            && (strstr(de->d_name, ".tmp") == de->d_name + len - 4
                || strstr(de->d_name, ".tmp.qcow2")
                       == de->d_name + len - 10)) {
            char *path = xasprintf("%s/%s", images, de->d_name);

            LOG_INFO("storage: removing %s, left by an unfinished upload",
                     path);
            unlink(path);
            free(path);
        }
    }
    if (d) {
        closedir(d);
    } else if (!error) {
        error = errno;
        LOG_ERR("storage %s: cannot read %s: %s", storage, images,
                strerror(error));
    }
    free(images);
    return error;
}
