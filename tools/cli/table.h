/*
 * Tabular output in the three forms the tool prints: an aligned table with a header for a
 * person at a terminal, tab-separated values without a header for a pipe (columns that
 * scripts can rely on), and JSON for --json.
 *
 * A table is filled cell by cell, row after row, then written. Cells keep their type, so
 * numbers are right-aligned in a table and numbers (not strings) in JSON. A missing value is
 * "-" in a table or TSV and null in JSON.
 */
#ifndef SHMQ_CLI_TABLE_H
#define SHMQ_CLI_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "cli.h"
#include "json.h"

enum cli_format {
    CLI_FORMAT_TABLE, /* aligned, with a header */
    CLI_FORMAT_TSV,   /* tab-separated, no header */
    CLI_FORMAT_JSON,
};

/* JSON when asked for, else a table on a terminal and TSV anywhere else. */
enum cli_format cli_format_choose(FILE *out, bool json);

struct cli_column {
    const char *key; /* JSON key and TSV field name; the header is its upper-case form */
};

enum cli_cell_kind { CLI_CELL_STRING, CLI_CELL_NUMBER, CLI_CELL_TRUE, CLI_CELL_FALSE };

struct cli_cell {
    char *text; /* as shown in a table or TSV; NULL when missing */
    enum cli_cell_kind kind;
};

struct cli_table {
    const struct cli_column *columns;
    size_t ncolumns;
    struct cli_cell *cells; /* row-major */
    size_t ncells, cap;
    bool out_of_memory;
    /* TSV only: a first field on every row, so that rows of several tables printed one after
     * the other stay apart (`stat` prints "participant" rows after its fields). */
    const char *row_label;
    /* Tables on a terminal: at most this many characters a line (0: no limit), reached by
     * dropping columns, the highest rank in drop[] (one per column) first; a rank of 0, or
     * no drop[], is never dropped. */
    size_t max_width;
    const unsigned *drop;
};

void cli_table_init(struct cli_table *t, const struct cli_column *columns, size_t ncolumns);
void cli_table_free(struct cli_table *t);

/* Append the next cell (rows wrap after ncolumns cells). */
void cli_table_text(struct cli_table *t, const char *s); /* NULL = missing */
void cli_table_textf(struct cli_table *t, const char *fmt, ...) CLI_PRINTF(2, 3);
void cli_table_u64(struct cli_table *t, uint64_t v);
void cli_table_i64(struct cli_table *t, int64_t v);
/* A boolean: the word shown in a table (e.g. "alive"/"dead"), true/false in JSON. */
void cli_table_bool(struct cli_table *t, bool v, const char *yes, const char *no);
void cli_table_missing(struct cli_table *t);
/* A number, or missing when it is UINT64_MAX (CLI_STATUS_NONE: a value a row does not have). */
void cli_table_u64_or_missing(struct cli_table *t, uint64_t v);
/* A NUMA node as shmq_stat reports it: the number, or a word for -1 (`none`: "none" or
 * "unknown") and -2 ("several"). */
void cli_table_numa_node(struct cli_table *t, int32_t node, const char *none);

static inline size_t cli_table_rows(const struct cli_table *t)
{
    return t->ncolumns ? t->ncells / t->ncolumns : 0;
}

/* Write every row: a table with a header, TSV, or a JSON array of objects. 0, -ENOMEM if a
 * cell could not be stored, or -errno of the stream. */
int cli_table_write(const struct cli_table *t, FILE *out, enum cli_format format);

/* Write the first row as fields, one per line: "key  value" aligned, "key<TAB>value", or a
 * JSON object. Same results as cli_table_write. */
int cli_table_write_fields(const struct cli_table *t, FILE *out, enum cli_format format);

/* For JSON documents with more in them: the rows as an array value, and the first row's
 * fields as members of the object being written. */
void cli_table_json_rows(const struct cli_table *t, struct cli_json *j);
void cli_table_json_fields(const struct cli_table *t, struct cli_json *j);

#endif /* SHMQ_CLI_TABLE_H */
