/* Tables, TSV and JSON from one set of cells. */
#include "table.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define COLUMN_GAP 2

enum cli_format cli_format_choose(FILE *out, bool json)
{
    if (json)
        return CLI_FORMAT_JSON;
    return isatty(fileno(out)) ? CLI_FORMAT_TABLE : CLI_FORMAT_TSV;
}

void cli_table_init(struct cli_table *t, const struct cli_column *columns, size_t ncolumns)
{
    memset(t, 0, sizeof *t);
    t->columns = columns;
    t->ncolumns = ncolumns;
}

void cli_table_free(struct cli_table *t)
{
    for (size_t i = 0; i < t->ncells; i++)
        free(t->cells[i].text);
    free(t->cells);
    t->cells = NULL;
    t->ncells = t->cap = 0;
}

/* Append a cell that takes ownership of text (NULL = missing, unless allocation failed). */
static void push_cell(struct cli_table *t, char *text, enum cli_cell_kind kind)
{
    if (t->ncells == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 64;
        struct cli_cell *cells = realloc(t->cells, cap * sizeof *cells);
        if (!cells) {
            free(text);
            t->out_of_memory = true;
            return;
        }
        t->cells = cells;
        t->cap = cap;
    }
    t->cells[t->ncells++] = (struct cli_cell){.text = text, .kind = kind};
}

static char *copy_text(struct cli_table *t, const char *s)
{
    char *copy = strdup(s);
    if (!copy)
        t->out_of_memory = true;
    return copy;
}

void cli_table_text(struct cli_table *t, const char *s)
{
    push_cell(t, s ? copy_text(t, s) : NULL, CLI_CELL_STRING);
}

void cli_table_textf(struct cli_table *t, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    cli_table_text(t, buf);
}

void cli_table_u64(struct cli_table *t, uint64_t v)
{
    char buf[24];
    snprintf(buf, sizeof buf, "%" PRIu64, v);
    push_cell(t, copy_text(t, buf), CLI_CELL_NUMBER);
}

void cli_table_i64(struct cli_table *t, int64_t v)
{
    char buf[24];
    snprintf(buf, sizeof buf, "%" PRId64, v);
    push_cell(t, copy_text(t, buf), CLI_CELL_NUMBER);
}

void cli_table_bool(struct cli_table *t, bool v, const char *yes, const char *no)
{
    push_cell(t, copy_text(t, v ? yes : no), v ? CLI_CELL_TRUE : CLI_CELL_FALSE);
}

void cli_table_missing(struct cli_table *t)
{
    push_cell(t, NULL, CLI_CELL_STRING);
}

void cli_table_u64_or_missing(struct cli_table *t, uint64_t v)
{
    if (v == UINT64_MAX)
        cli_table_missing(t);
    else
        cli_table_u64(t, v);
}

void cli_table_numa_node(struct cli_table *t, int32_t node, const char *none)
{
    if (node >= 0)
        cli_table_i64(t, node);
    else
        cli_table_text(t, node == -2 ? "several" : none);
}

static const char *shown(const struct cli_cell *c)
{
    return c->text ? c->text : "-";
}

static void json_cell(struct cli_json *j, const struct cli_cell *c)
{
    if (!c->text) {
        cli_json_null(j);
        return;
    }
    switch (c->kind) {
    case CLI_CELL_NUMBER:
        cli_json_literal(j, c->text);
        break;
    case CLI_CELL_TRUE:
        cli_json_bool(j, true);
        break;
    case CLI_CELL_FALSE:
        cli_json_bool(j, false);
        break;
    case CLI_CELL_STRING:
        cli_json_string(j, c->text);
        break;
    }
}

void cli_table_json_rows(const struct cli_table *t, struct cli_json *j)
{
    cli_json_array_begin(j);
    for (size_t row = 0; row < cli_table_rows(t); row++) {
        cli_json_object_begin(j);
        for (size_t col = 0; col < t->ncolumns; col++) {
            cli_json_key(j, t->columns[col].key);
            json_cell(j, &t->cells[row * t->ncolumns + col]);
        }
        cli_json_object_end(j);
    }
    cli_json_array_end(j);
}

void cli_table_json_fields(const struct cli_table *t, struct cli_json *j)
{
    if (cli_table_rows(t) == 0)
        return;
    for (size_t col = 0; col < t->ncolumns; col++) {
        cli_json_key(j, t->columns[col].key);
        json_cell(j, &t->cells[col]);
    }
}

/* A TSV field: tabs and line breaks inside a value would shift the columns. */
static void write_tsv_field(FILE *out, const char *s)
{
    for (; *s; s++)
        putc(*s == '\t' || *s == '\n' || *s == '\r' ? ' ' : *s, out);
}

static void write_padded(FILE *out, const char *s, size_t width, bool right, bool last)
{
    size_t len = strlen(s);
    size_t pad = width > len ? width - len : 0;
    if (right)
        fprintf(out, "%*s", (int)pad, "");
    fputs(s, out);
    if (!right && !last)
        fprintf(out, "%*s", (int)pad, "");
}

static void write_header_cell(FILE *out, const char *key, size_t width, bool right, bool last)
{
    char header[64];
    size_t i = 0;
    for (; key[i] && i < sizeof header - 1; i++)
        header[i] = key[i] == '_' ? ' ' : (char)toupper((unsigned char)key[i]);
    header[i] = 0;
    write_padded(out, header, width, right, last);
}

static int finish(const struct cli_table *t, FILE *out)
{
    if (t->out_of_memory)
        return -ENOMEM;
    if (fflush(out) != 0 || ferror(out))
        return errno ? -errno : -EIO;
    return 0;
}

/* Drop columns (width 0) until a line fits t->max_width or nothing more may go; returns the
 * index of the last column kept. */
static size_t fit_width(const struct cli_table *t, size_t *width)
{
    for (;;) {
        size_t total = 0, kept = 0, worst = SIZE_MAX;
        for (size_t col = 0; col < t->ncolumns; col++) {
            if (!width[col])
                continue;
            total += width[col] + (kept++ ? COLUMN_GAP : 0);
            unsigned drop = t->drop ? t->drop[col] : 0;
            if (drop && (worst == SIZE_MAX || drop >= t->drop[worst]))
                worst = col;
        }
        if (!t->max_width || total <= t->max_width || worst == SIZE_MAX)
            break;
        width[worst] = 0;
    }
    size_t last = 0;
    for (size_t col = 0; col < t->ncolumns; col++)
        if (width[col])
            last = col;
    return last;
}

static void write_aligned(const struct cli_table *t, FILE *out)
{
    size_t rows = cli_table_rows(t);
    size_t *width = calloc(t->ncolumns ? t->ncolumns : 1, sizeof *width);
    bool *right = calloc(t->ncolumns ? t->ncolumns : 1, sizeof *right);
    if (!width || !right) {
        free(width);
        free(right);
        fputs("(out of memory)\n", out);
        return;
    }
    for (size_t col = 0; col < t->ncolumns; col++) {
        width[col] = strlen(t->columns[col].key);
        right[col] = rows > 0;
        for (size_t row = 0; row < rows; row++) {
            const struct cli_cell *c = &t->cells[row * t->ncolumns + col];
            size_t len = strlen(shown(c));
            if (len > width[col])
                width[col] = len;
            if (c->text && c->kind != CLI_CELL_NUMBER)
                right[col] = false; /* a column is right-aligned when all its values are numbers */
        }
    }
    /* Too wide: drop the columns of the highest rank first (width 0 marks a dropped one). */
    size_t last = fit_width(t, width);
    for (size_t col = 0; col < t->ncolumns; col++) {
        if (!width[col])
            continue;
        if (col)
            fprintf(out, "%*s", COLUMN_GAP, "");
        write_header_cell(out, t->columns[col].key, width[col], right[col], col == last);
    }
    putc('\n', out);
    for (size_t row = 0; row < rows; row++) {
        for (size_t col = 0; col < t->ncolumns; col++) {
            if (!width[col])
                continue;
            if (col)
                fprintf(out, "%*s", COLUMN_GAP, "");
            write_padded(out, shown(&t->cells[row * t->ncolumns + col]), width[col], right[col],
                         col == last);
        }
        putc('\n', out);
    }
    free(width);
    free(right);
}

int cli_table_write(const struct cli_table *t, FILE *out, enum cli_format format)
{
    if (format == CLI_FORMAT_JSON) {
        struct cli_json j;
        cli_json_init(&j, out, isatty(fileno(out)));
        cli_table_json_rows(t, &j);
        cli_json_finish(&j);
    } else if (format == CLI_FORMAT_TSV) {
        for (size_t row = 0; row < cli_table_rows(t); row++) {
            if (t->row_label)
                fprintf(out, "%s\t", t->row_label);
            for (size_t col = 0; col < t->ncolumns; col++) {
                if (col)
                    putc('\t', out);
                write_tsv_field(out, shown(&t->cells[row * t->ncolumns + col]));
            }
            putc('\n', out);
        }
    } else {
        write_aligned(t, out);
    }
    return finish(t, out);
}

int cli_table_write_fields(const struct cli_table *t, FILE *out, enum cli_format format)
{
    if (format == CLI_FORMAT_JSON) {
        struct cli_json j;
        cli_json_init(&j, out, isatty(fileno(out)));
        cli_json_object_begin(&j);
        cli_table_json_fields(t, &j);
        cli_json_object_end(&j);
        cli_json_finish(&j);
        return finish(t, out);
    }
    size_t key_width = 0;
    for (size_t col = 0; col < t->ncolumns; col++)
        if (strlen(t->columns[col].key) > key_width)
            key_width = strlen(t->columns[col].key);
    for (size_t col = 0; cli_table_rows(t) > 0 && col < t->ncolumns; col++) {
        const char *key = t->columns[col].key, *value = shown(&t->cells[col]);
        if (format == CLI_FORMAT_TSV) {
            fprintf(out, "%s\t", key);
            write_tsv_field(out, value);
            putc('\n', out);
        } else {
            fprintf(out, "%-*s  %s\n", (int)key_width, key, value);
        }
    }
    return finish(t, out);
}
