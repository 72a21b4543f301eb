/*
 * Evidence for tools/cli/README.md ("Tables and --json: libsmartcols"): how libsmartcols 2.38
 * prints a small table as JSON, as raw tab-separated lines and as a table. Not built by CMake;
 * see the README for the command.
 */
#include <libsmartcols.h>
#include <stdio.h>
static struct libscols_table *make(void)
{
    struct libscols_table *tb = scols_new_table();
    scols_table_set_name(tb, "queues");
    struct libscols_column *c1 = scols_table_new_column(tb, "name", 0, 0);
    struct libscols_column *c2 = scols_table_new_column(tb, "depth", 0, SCOLS_FL_RIGHT);
    struct libscols_column *c3 = scols_table_new_column(tb, "check", 0, 0);
    scols_column_set_json_type(c2, SCOLS_JSON_NUMBER);
    (void)c1;
    (void)c3;
    struct libscols_line *l = scols_table_new_line(tb, NULL);
    scols_line_set_data(l, 0, "jobs");
    scols_line_set_data(l, 1, "3");
    scols_line_set_data(l, 2, "slot 3 is in two rings");
    l = scols_table_new_line(tb, NULL);
    scols_line_set_data(l, 0, "gone");
    /* depth missing */
    scols_line_set_data(l, 2, "ok");
    return tb;
}
int main(void)
{
    struct libscols_table *tb = make();
    puts("-- JSON:");
    scols_table_enable_json(tb, 1);
    scols_print_table(tb);
    scols_unref_table(tb);
    tb = make();
    puts("-- raw, tab separator, no headings (TSV?):");
    scols_table_enable_raw(tb, 1);
    scols_table_enable_noheadings(tb, 1);
    scols_table_set_column_separator(tb, "\t");
    scols_print_table(tb);
    scols_unref_table(tb);
    tb = make();
    puts("-- table:");
    scols_print_table(tb);
    scols_unref_table(tb);
    return 0;
}
