/* shmq serve: JSON documents (see serve_api.h). */
#include "serve_api.h"

#include "stat_table.h"

static void write_entry(struct cli_json *j, const struct cli_status *e)
{
    if (e->kind == CLI_STATUS_UNREADABLE) {
        cli_json_object_begin(j);
        cli_json_key(j, "name");
        cli_json_string(j, e->name);
        cli_json_key(j, "error");
        cli_json_string(j, shmq_strerror(e->error));
        cli_json_object_end(j);
        return;
    }
    struct cli_table fields, rows;
    const char *label = cli_stat_tables(&fields, &rows, e, false);
    cli_stat_json(j, &fields, &rows, label);
    cli_table_free(&fields);
    cli_table_free(&rows);
}

int serve_api_entry(FILE *out, const struct cli_status *e)
{
    struct cli_json j;
    cli_json_init(&j, out, false);
    write_entry(&j, e);
    return cli_json_finish(&j);
}

int serve_api_list(FILE *out, const struct serve_snapshot *s, bool topics)
{
    struct cli_json j;
    cli_json_init(&j, out, false);
    cli_json_array_begin(&j);
    for (size_t i = 0; i < s->count; i++)
        if ((s->entries[i].kind == CLI_STATUS_TOPIC) == topics)
            write_entry(&j, &s->entries[i]);
    cli_json_array_end(&j);
    return cli_json_finish(&j);
}

int serve_api_error(FILE *out, int status, const char *message)
{
    struct cli_json j;
    cli_json_init(&j, out, false);
    cli_json_object_begin(&j);
    cli_json_key(&j, "error");
    cli_json_string(&j, message);
    cli_json_key(&j, "status");
    cli_json_i64(&j, status);
    cli_json_object_end(&j);
    return cli_json_finish(&j);
}
