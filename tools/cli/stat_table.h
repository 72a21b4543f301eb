/*
 * What `shmq stat` shows of a queue or a topic (its status, status.h), as tables: one row of
 * fields (configuration, counters) and the rows below them (participants of a queue, groups of
 * a topic). stat prints them; `shmq serve` answers its JSON API with the same objects, so both
 * have the same fields.
 */
#ifndef SHMQ_CLI_STAT_TABLE_H
#define SHMQ_CLI_STAT_TABLE_H

#include <stdbool.h>

#include "status.h"
#include "table.h"

/* Initialize and fill both tables from a readable status (free them with cli_table_free);
 * returns what a row is: "participant" (a queue's) or "group" (a topic's). With check, the
 * fields have one more column, "check", that the caller fills last. */
const char *cli_stat_tables(struct cli_table *fields, struct cli_table *rows,
                            const struct cli_status *s, bool check);

/* The JSON object of `shmq stat --json`: the fields, then the rows in "<label>_list"
 * ("participant_list", "group_list"). */
void cli_stat_json(struct cli_json *j, const struct cli_table *fields, const struct cli_table *rows,
                   const char *label);

#endif /* SHMQ_CLI_STAT_TABLE_H */
