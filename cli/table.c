#include "cli/table.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "utils/util.h"

/* Columns are this many spaces apart, as in kubectl's tables. */
#define TABLE_GAP 3

struct table {
    size_t n_columns; /* Number of columns. */
    char **headers;   /* 'n_columns' header texts. */
    char ***rows;     /* 'n_rows' arrays of 'n_columns' cells (NULL: none). */
    size_t n_rows;    /* Rows added so far. */
    size_t allocated; /* Capacity of 'rows'. */
    size_t next_cell; /* Column the next cell of the last row goes to. */
};

/* Returns a malloc'd copy of 'text' with control characters replaced by
 * '?', so that server data cannot drive the terminal. */
static char *
sanitize(const char *text)
{
    char *s = xstrdup(text);

    for (unsigned char *p = (unsigned char *) s; *p; p++) {
        if (*p < 0x20 || *p == 0x7f) {
            *p = '?';
        }
    }
    return s;
}

/* Returns how many characters wide UTF-8 'text' is: the bytes that start a
 * character.  Wide CJK characters count as one, which is close enough. */
static size_t
display_width(const char *text)
{
    size_t n = 0;

    for (const unsigned char *p = (const unsigned char *) text; *p; p++) {
        if ((*p & 0xc0) != 0x80) {
            n++;
        }
    }
    return n;
}

struct table *
table_create(const char *const *headers)
{
    struct table *t = xzalloc(sizeof *t);

    while (headers[t->n_columns]) {
        t->n_columns++;
    }
    t->headers = xcalloc(t->n_columns, sizeof *t->headers);
    for (size_t i = 0; i < t->n_columns; i++) {
        t->headers[i] = sanitize(headers[i]);
    }
    return t;
}

void
table_destroy(struct table *t)
{
    if (t == NULL) {
        return;
    }
    for (size_t r = 0; r < t->n_rows; r++) {
        for (size_t c = 0; c < t->n_columns; c++) {
            free(t->rows[r][c]);
        }
        free(t->rows[r]);
    }
    for (size_t c = 0; c < t->n_columns; c++) {
        free(t->headers[c]);
    }
    free(t->headers);
    free(t->rows);
    free(t);
}

void
table_add_row(struct table *t)
{
    if (t->n_rows >= t->allocated) {
        t->allocated = t->allocated ? 2 * t->allocated : 16;
        t->rows = xrealloc(t->rows, t->allocated * sizeof *t->rows);
    }
    t->rows[t->n_rows++] = xcalloc(t->n_columns, sizeof **t->rows);
    t->next_cell = 0;
}

void
table_add_cell(struct table *t, const char *text)
{
    if (t->n_rows == 0 || t->next_cell >= t->n_columns) {
        /* A caller bug: more cells than headers.  Dropping the cell keeps
         * the table readable. */
        return;
    }
    t->rows[t->n_rows - 1][t->next_cell++] =
        sanitize(text && text[0] ? text : TABLE_NONE);
}

void
table_add_json(struct table *t, const json_t *value)
{
    char *text = table_json_text(value);

    table_add_cell(t, text);
    free(text);
}

static const char *
cell(const struct table *t, size_t r, size_t c)
{
    const char *s = t->rows[r][c];

    return s ? s : TABLE_NONE;
}

/* Writes 'text' to 'f', padded with spaces to 'width' characters unless it
 * is in the last column. */
static void
put_cell(FILE *f, const char *text, size_t width, bool last)
{
    fputs(text, f);
    if (!last) {
        fprintf(f, "%*s", (int) (width - display_width(text) + TABLE_GAP), "");
    }
}

char *
table_format(const struct table *t)
{
    size_t *widths = xcalloc(t->n_columns, sizeof *widths);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);

    if (f == NULL) {
        abort();
    }
    for (size_t c = 0; c < t->n_columns; c++) {
        widths[c] = display_width(t->headers[c]);
        for (size_t r = 0; r < t->n_rows; r++) {
            size_t w = display_width(cell(t, r, c));

            if (w > widths[c]) {
                widths[c] = w;
            }
        }
    }
    for (size_t c = 0; c < t->n_columns; c++) {
        put_cell(f, t->headers[c], widths[c], c + 1 == t->n_columns);
    }
    fputc('\n', f);
    for (size_t r = 0; r < t->n_rows; r++) {
        for (size_t c = 0; c < t->n_columns; c++) {
            put_cell(f, cell(t, r, c), widths[c], c + 1 == t->n_columns);
        }
        fputc('\n', f);
    }
    fclose(f);
    free(widths);
    return buf;
}

void
table_print(const struct table *t, FILE *f)
{
    char *s = table_format(t);

    fputs(s, f);
    free(s);
}

static int
compare_strings(const void *a_, const void *b_)
{
    const char *const *a = a_;
    const char *const *b = b_;

    return strcmp(*a, *b);
}

/* Returns the keys of 'object' in a malloc'd array, sorted, and their
 * number in '*n'. */
static const char **
sorted_keys(const json_t *object, size_t *n)
{
    const char **keys = xcalloc(json_object_size(object), sizeof *keys);

    *n = 0;
    for (void *it = json_object_iter((json_t *) object); it;
         it = json_object_iter_next((json_t *) object, it)) {
        keys[(*n)++] = json_object_iter_key(it);
    }
    qsort(keys, *n, sizeof *keys, compare_strings);
    return keys;
}

/* Writes the text of 'value' to 'f'; 'nested' is true inside an object or
 * an array, where containers are written as compact JSON instead. */
static void
put_json_text(FILE *f, const json_t *value, bool nested)
{
    switch (json_typeof(value)) {
    case JSON_STRING:
        fputs(json_string_value(value), f);
        break;
    case JSON_INTEGER:
        fprintf(f, "%" JSON_INTEGER_FORMAT, json_integer_value(value));
        break;
    case JSON_REAL:
        fprintf(f, "%g", json_real_value(value));
        break;
    case JSON_TRUE:
        fputs("true", f);
        break;
    case JSON_FALSE:
        fputs("false", f);
        break;
    case JSON_NULL:
        fputs(TABLE_NONE, f);
        break;
    case JSON_OBJECT:
    case JSON_ARRAY:
        if (nested) {
            char *s = json_dumps(value, JSON_COMPACT | JSON_SORT_KEYS);

            fputs(s ? s : "", f);
            free(s);
        } else if (json_is_array(value)) {
            for (size_t i = 0; i < json_array_size(value); i++) {
                if (i) {
                    fputc(',', f);
                }
                put_json_text(f, json_array_get(value, i), true);
            }
        } else {
            size_t n;
            const char **keys = sorted_keys(value, &n);

            for (size_t i = 0; i < n; i++) {
                fprintf(f, "%s%s=", i ? "," : "", keys[i]);
                put_json_text(f, json_object_get(value, keys[i]), true);
            }
            free(keys);
        }
        break;
    }
}

char *
table_json_text(const json_t *value)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f;

    if (value == NULL || json_is_null(value)
        || (json_is_string(value) && json_string_length(value) == 0)
        || (json_is_object(value) && json_object_size(value) == 0)
        || (json_is_array(value) && json_array_size(value) == 0)) {
        return xstrdup(TABLE_NONE);
    }
    f = open_memstream(&buf, &len);
    if (f == NULL) {
        abort();
    }
    put_json_text(f, value, false);
    fclose(f);
    return buf;
}

static bool
in_order(const char *const *order, const char *key)
{
    for (size_t i = 0; order && order[i]; i++) {
        if (!strcmp(order[i], key)) {
            return true;
        }
    }
    return false;
}

static void
put_field(FILE *f, const char *key, const json_t *value, size_t width)
{
    char *k = sanitize(key);
    char *raw = table_json_text(value);
    char *v = sanitize(raw);

    fprintf(f, "%s:%*s%s\n", k, (int) (width - display_width(k) + 1), "", v);
    free(v);
    free(raw);
    free(k);
}

char *
table_format_fields(const json_t *object, const char *const *order)
{
    char *buf = NULL;
    size_t len = 0;
    size_t width = 0, n;
    const char **keys = sorted_keys(object, &n);
    FILE *f = open_memstream(&buf, &len);

    if (f == NULL) {
        abort();
    }
    for (size_t i = 0; i < n; i++) {
        if (display_width(keys[i]) > width) {
            width = display_width(keys[i]);
        }
    }
    for (size_t i = 0; order && order[i]; i++) {
        const json_t *value = json_object_get(object, order[i]);

        if (value) {
            put_field(f, order[i], value, width);
        }
    }
    for (size_t i = 0; i < n; i++) {
        if (!in_order(order, keys[i])) {
            put_field(f, keys[i], json_object_get(object, keys[i]), width);
        }
    }
    fclose(f);
    free(keys);
    return buf;
}
