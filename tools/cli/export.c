/* shmq export: drain a queue into JSON lines, metadata and all. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "consume.h"
#include "diag.h"
#include "interrupt.h"
#include "jsonl.h"
#include "options.h"
#include "progress.h"
#include "queue.h"

static int run(int argc, char **argv)
{
    bool keep = false, csv = false;
    const struct cli_option options[] = {
        {.name = "keep",
         .kind = CLI_OPTION_FLAG,
         .target = &keep,
         .help = "copy: leave every message in the queue, as it was"},
        {.name = "csv",
         .kind = CLI_OPTION_FLAG,
         .target = &csv,
         .help = "write the payloads as CSV records instead (no metadata, no header line)"},
    };
    int n, code;
    if (!cli_options_parse(&cli_verb_export, options, CLI_COUNT_OF(options), argc, argv, &n, &code))
        return code;
    /* FILE, or standard output for none or "-". The consumer writes its batches to the file
     * descriptor itself: no stdio buffering is involved. */
    const char *name = argv[1], *path = n > 1 && strcmp(argv[2], "-") != 0 ? argv[2] : NULL;
    shmq_t *q;
    if ((code = cli_queue_open(name, 0, &q)) != 0)
        return code;
    struct shmq_stat st;
    if ((code = cli_queue_stat(q, &st)) != 0) {
        shmq_close(q);
        return code;
    }
    FILE *out = path ? fopen(path, "w") : stdout;
    if (!out) {
        code = cli_fail_system(-errno, "cannot write '%s'", path);
        shmq_close(q);
        return code;
    }
    /* The first line describes the queue, so that 'shmq import' can make it again. */
    int err = csv ? 0 : cli_jsonl_write_header(out, name, &st, keep);
    if (err) {
        if (out != stdout)
            fclose(out);
        shmq_close(q);
        return cli_fail_system(err, "writing %s", path ? path : "standard output");
    }
    char label[64];
    snprintf(label, sizeof label, "export %s", name);
    struct cli_progress progress;
    cli_progress_start(&progress, label, st.depth, CLI_PROGRESS_MESSAGES);
    struct cli_consume c = {.q = q,
                            .out = out,
                            .format = csv ? CLI_RECORDS_CSV : CLI_RECORDS_JSONL,
                            .limit = UINT64_MAX,
                            .wait_ns = 0,
                            .progress = &progress,
                            .keep = keep};
    err = cli_consume_run(&c);
    cli_progress_finish(&progress);
    shmq_close(q);
    if (out != stdout && fclose(out) != 0 && (err == 0 || err == -EAGAIN)) {
        err = -errno;
        c.output_failed = true;
    }
    if (err == 0 || err == -EAGAIN)
        return CLI_EXIT_OK;
    if (err == -EINTR)
        return CLI_EXIT_SIGNAL + cli_interrupted();
    if (c.output_failed)
        return cli_fail_system(err, "writing %s (%llu messages exported, %s stay in '%s')",
                               path ? path : "standard output", (unsigned long long)c.count,
                               keep ? "all" : "the rest", name);
    if (err == -EINPROGRESS && keep) {
        cli_error("'%s' is a single-producer/single-consumer ring, which lets its consumer hold "
                  "one message at a time: --keep cannot copy it (shmq peek shows its messages)",
                  name);
        return CLI_EXIT_FAILURE;
    }
    return cli_fail(err, "exporting '%s'", name);
}

const struct cli_verb cli_verb_export = {
    .name = "export",
    .operands = "NAME [FILE]",
    .min_operands = 1,
    .max_operands = 2,
    .summary = "drain a queue into JSON lines (with metadata)",
    .description =
        "Pop every message of NAME and write it to FILE (default: standard output) as one\n"
        "JSON object per line: id, deliveries, the metadata that is set (timestamp_ns, type,\n"
        "correlation_id, reply_to) and the payload in base64 (data_b64). The first line\n"
        "describes the queue: {\"shmq_export\":1,\"queue\":NAME,\"export\":\"drain\" or \"keep\",\n"
        "\"kind\",\"capacity\",\"slot_size\",\"flags\",\"max_participants\",\"ttl_ns\",\n"
        "\"max_deliveries\",\"dead_letter\",\"mode\" (octal), \"depth\" (messages when it "
        "began)}.\n"
        "'shmq import' reads it all back byte for byte, and makes the queue from that first\n"
        "line when it does not exist. --csv writes each payload as a CSV record instead (as\n"
        "'shmq drain --csv' does, with --keep and the progress bar): a table, without the\n"
        "metadata and the header line ('shmq push --csv' reads it back). A message leaves the "
        "queue only after its line was written;\n"
        "one that was not written (a full disk, Ctrl-C) stays, with its delivery count as it\n"
        "was, first in line again in its order.\n\n"
        "--keep copies instead: every message is claimed, written, and held until the end,\n"
        "then all are given back as never delivered (delivery counts unchanged) in their\n"
        "order. Each message present is copied once, consistently, even while others push;\n"
        "consumers do not get the held messages meanwhile. Not on a ring made with both\n"
        "--single-producer and --single-consumer.\n\n"
        "On a terminal, a long export shows its progress on stderr.",
    .run = run,
};
