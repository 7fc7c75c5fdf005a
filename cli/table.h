/* Output for people: tables with aligned columns under upper-case headers,
 * as kubectl prints them, and "key: value" lists of one object's fields.
 *
 * Text from the server goes to a terminal, so every control character in
 * it is shown as '?': a description must not be able to move the cursor,
 * change colours or break a table's rows.  Widths count characters, not
 * bytes, so that UTF-8 text stays aligned. */
#ifndef CLI_TABLE_H
#define CLI_TABLE_H 1

#include <stddef.h>
#include <stdio.h>

#include <jansson.h>

/* Shown for a missing, null or empty value, so that every row has a word in
 * every column and "awk '{print $3}'" keeps working. */
#define TABLE_NONE "<none>"

struct table;

/* Creates a table with the NULL-terminated column 'headers'. */
struct table *table_create(const char *const *headers);
void table_destroy(struct table *);

/* Starts a new row; the following table_add_*() calls fill it from the
 * left.  Cells a row lacks at the end are shown as TABLE_NONE. */
void table_add_row(struct table *);
/* Adds 'text' (NULL means TABLE_NONE) to the current row. */
void table_add_cell(struct table *, const char *text);
/* Adds the display text of 'value' (see table_json_text()) as a cell. */
void table_add_json(struct table *, const json_t *value);

/* Returns the malloc'd table: the header line and one line per row, each
 * column as wide as its widest cell, columns three spaces apart, no
 * trailing spaces. */
char *table_format(const struct table *);
void table_print(const struct table *, FILE *);

/* Returns the malloc'd text that stands for JSON 'value' in a cell or a
 * field: strings as they are, numbers and booleans as in JSON, objects as
 * "k=v,k=v" sorted by key, arrays as "a,b", and TABLE_NONE for NULL, null,
 * "" and empty containers. */
char *table_json_text(const json_t *value);

/* Returns the malloc'd "key: value" lines of JSON object 'object', values
 * aligned: first the keys in the NULL-terminated 'order' that it has, then
 * its other keys in alphabetical order, so that fields the server adds
 * later still show. */
char *table_format_fields(const json_t *object, const char *const *order);

#endif /* cli/table.h */
