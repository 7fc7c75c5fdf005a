/* Unit tests for cli/table.h: how fabricctl shows lists and objects to
 * people. */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "cli/table.h"

/* Checks that 'table' formats to exactly 'expected', then destroys it. */
static void
check_table(struct table *table, const char *expected)
{
    char *s = table_format(table);

    assert_string_equal(s, expected);
    free(s);
    table_destroy(table);
}

static struct table *
network_table(void)
{
    static const char *const headers[] = {"NAME", "VNI", "CIDR", NULL};

    return table_create(headers);
}

/* Every column is as wide as its widest cell or header, three spaces
 * apart, and the last column has no padding after it. */
static void
test_alignment(void **state)
{
    struct table *t = network_table();

    table_add_row(t);
    table_add_cell(t, "blue");
    table_add_cell(t, "1000");
    table_add_cell(t, "10.0.0.0/24");
    table_add_row(t);
    table_add_cell(t, "production-east");
    table_add_cell(t, "7");
    table_add_cell(t, "192.168.128.0/17");
    check_table(t, "NAME              VNI    CIDR\n"
                   "blue              1000   10.0.0.0/24\n"
                   "production-east   7      192.168.128.0/17\n");
}

/* A list without items still has its header line; fabricctl itself says
 * "No networks found." instead, but the table must not break. */
static void
test_empty(void **state)
{
    check_table(network_table(), "NAME   VNI   CIDR\n");
}

/* One very wide value widens only its own column; the columns after it
 * stay aligned with each other. */
static void
test_wide_value(void **state)
{
    static const char *const headers[] = {"NAME", "DESCRIPTION", "MTU", NULL};
    struct table *t = table_create(headers);
    char wide[201];
    char *expected;

    memset(wide, 'x', 200);
    wide[200] = '\0';
    table_add_row(t);
    table_add_cell(t, "a");
    table_add_cell(t, wide);
    table_add_cell(t, "1450");
    table_add_row(t);
    table_add_cell(t, "b");
    table_add_cell(t, "short");
    table_add_cell(t, "9000");

    expected = malloc(1024);
    snprintf(expected, 1024,
             "NAME   DESCRIPTION%*s   MTU\n"
             "a      %s   1450\n"
             "b      short%*s   9000\n",
             200 - 11, "", wide, 200 - 5, "");
    check_table(t, expected);
    free(expected);
}

/* Missing and empty values show as <none>, so that every row has a word
 * in every column for awk and friends. */
static void
test_none(void **state)
{
    struct table *t = network_table();

    table_add_row(t);
    table_add_cell(t, "blue");
    table_add_cell(t, "");
    table_add_row(t);
    table_add_cell(t, "red");
    table_add_cell(t, NULL);
    table_add_cell(t, "10.1.0.0/16");
    check_table(t, "NAME   VNI      CIDR\n"
                   "blue   <none>   <none>\n"
                   "red    <none>   10.1.0.0/16\n");
}

/* Control characters from the server cannot reach the terminal or break a
 * row in two. */
static void
test_control_characters(void **state)
{
    static const char *const headers[] = {"NAME", "DESCRIPTION", NULL};
    struct table *t = table_create(headers);

    table_add_row(t);
    table_add_cell(t, "evil");
    table_add_cell(t, "line\nbreak \x1b[31mred");
    check_table(t, "NAME   DESCRIPTION\n"
                   "evil   line?break ?[31mred\n");
}

/* Widths count characters, not bytes: a UTF-8 description stays aligned
 * with the rows around it. */
static void
test_utf8_width(void **state)
{
    static const char *const headers[] = {"NAME", "DESCRIPTION", "MTU", NULL};
    struct table *t = table_create(headers);

    table_add_row(t);
    table_add_cell(t, "a");
    table_add_cell(t, "caf\xc3\xa9"); /* "café": 4 characters, 5 bytes. */
    table_add_cell(t, "1450");
    table_add_row(t);
    table_add_cell(t, "b");
    table_add_cell(t, "bars");
    table_add_cell(t, "9000");
    check_table(t, "NAME   DESCRIPTION   MTU\n"
                   "a      caf\xc3\xa9          1450\n"
                   "b      bars          9000\n");
}

/* Checks that the display text of the JSON 'json' is 'expected'. */
static void
check_json_text(const char *json, const char *expected)
{
    json_t *value = json_loads(json, JSON_DECODE_ANY, NULL);
    char *text;

    assert_non_null(value);
    text = table_json_text(value);
    assert_string_equal(text, expected);
    free(text);
    json_decref(value);
}

static void
test_json_text(void **state)
{
    char *text = table_json_text(NULL);

    assert_string_equal(text, "<none>");
    free(text);

    check_json_text("\"10.0.0.0/24\"", "10.0.0.0/24");
    check_json_text("1450", "1450");
    check_json_text("2.5", "2.5");
    check_json_text("true", "true");
    check_json_text("null", "<none>");
    check_json_text("\"\"", "<none>");
    check_json_text("{}", "<none>");
    check_json_text("[]", "<none>");
    /* Labels sort by key, whatever order the server sent. */
    check_json_text("{\"tier\": \"web\", \"env\": \"prod\"}",
                    "env=prod,tier=web");
    check_json_text("[\"a\", \"b\", 3]", "a,b,3");
    check_json_text("{\"vcpus\": 8, \"numa\": {\"nodes\": 2}}",
                    "numa={\"nodes\":2},vcpus=8");
}

/* "show" lists the known fields in their order, then whatever else the
 * object has alphabetically, values aligned after the longest key. */
static void
test_fields(void **state)
{
    static const char *const order[] = {
        "name", "vni", "cidr", "mtu", "description", "version", NULL};
    json_t *obj =
        json_pack("{s:i, s:s, s:s, s:i, s:i, s:s, s:s}", "version", 3, "name",
                  "blue", "zone", "a", "vni", 1000, "mtu", 1450, "cidr",
                  "10.0.0.0/24", "created_at", "2024-05-01T12:00:00Z");
    char *s = table_format_fields(obj, order);

    assert_string_equal(s, "name:       blue\n"
                           "vni:        1000\n"
                           "cidr:       10.0.0.0/24\n"
                           "mtu:        1450\n"
                           "version:    3\n"
                           "created_at: 2024-05-01T12:00:00Z\n"
                           "zone:       a\n");
    free(s);
    json_decref(obj);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_alignment),
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_wide_value),
        cmocka_unit_test(test_none),
        cmocka_unit_test(test_control_characters),
        cmocka_unit_test(test_utf8_width),
        cmocka_unit_test(test_json_text),
        cmocka_unit_test(test_fields),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
