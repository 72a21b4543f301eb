/*
 * What `shmq stat` shows of a queue or a topic, as tables: one row of fields (configuration,
 * counters) and the rows below them (participants of a queue, groups of a topic). stat prints
 * them; `shmq serve` answers its JSON API with the same objects, so both have the same fields.
 */
#ifndef SHMQ_CLI_STAT_TABLE_H
#define SHMQ_CLI_STAT_TABLE_H

#include <stdbool.h>

#include "queue.h"
#include "table.h"

/* Initialize and fill both tables (free them with cli_table_free). With check, the fields
 * have one more column, "check", that the caller fills last. */
void cli_stat_queue_tables(struct cli_table *fields, struct cli_table *rows, const char *name,
                           const struct shmq_stat *st, const struct shmq_participant_info *list,
                           unsigned count, bool check);
void cli_stat_topic_tables(struct cli_table *fields, struct cli_table *rows, const char *name,
                           const struct shmq_topic_stat *st, const struct cli_topic_totals *totals,
                           const struct shmq_group_info *groups, unsigned count, bool check);

/* The JSON object of `shmq stat --json`: the fields, then the rows in "<label>_list"
 * ("participant_list", "group_list"). */
void cli_stat_json(struct cli_json *j, const struct cli_table *fields, const struct cli_table *rows,
                   const char *label);

#endif /* SHMQ_CLI_STAT_TABLE_H */
