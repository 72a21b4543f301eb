/* shmq serve: Prometheus exposition (see serve_metrics.h). */
#include "serve_metrics.h"

#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <string.h>

/* A family read from one field of a statistics struct: its offset and size (4 or 8 bytes). */
struct family {
    const char *name, *type, *help;
    size_t offset, size;
};

#define QUEUE_FIELD(name, type, field, help)                                                       \
    {                                                                                              \
        name, type, help, offsetof(struct shmq_stat, field),                                       \
            sizeof(((struct shmq_stat *)0)->field)                                                 \
    }
#define TOPIC_FIELD(name, type, field, help)                                                       \
    {                                                                                              \
        name, type, help, offsetof(struct shmq_topic_stat, field),                                 \
            sizeof(((struct shmq_topic_stat *)0)->field)                                           \
    }
#define GROUP_FIELD(name, type, field, help)                                                       \
    {                                                                                              \
        name, type, help, offsetof(struct shmq_group_info, field),                                 \
            sizeof(((struct shmq_group_info *)0)->field)                                           \
    }

static const struct family queue_families[] = {
    QUEUE_FIELD("shmq_queue_messages", "gauge", depth, "Messages ready to be consumed."),
    QUEUE_FIELD("shmq_queue_in_flight_messages", "gauge", in_flight,
                "Messages claimed and not yet acknowledged."),
    QUEUE_FIELD("shmq_queue_capacity_messages", "gauge", capacity, "Slots of the queue."),
    QUEUE_FIELD("shmq_queue_slot_size_bytes", "gauge", slot_size, "Largest message, in bytes."),
    QUEUE_FIELD("shmq_queue_segment_bytes", "gauge", segment_bytes,
                "Size of the shared-memory segment."),
    QUEUE_FIELD("shmq_queue_pushed_total", "counter", pushed, "Messages committed."),
    QUEUE_FIELD("shmq_queue_popped_total", "counter", popped,
                "Messages taken: popped, claimed, expired or dead-lettered."),
    QUEUE_FIELD("shmq_queue_acked_total", "counter", acked, "Taken messages finished."),
    QUEUE_FIELD("shmq_queue_nacked_total", "counter", nacked, "Taken messages given back."),
    QUEUE_FIELD("shmq_queue_redelivered_total", "counter", redelivered,
                "Deliveries after the first."),
    QUEUE_FIELD("shmq_queue_expired_total", "counter", expired, "Messages past their TTL."),
    QUEUE_FIELD("shmq_queue_dead_lettered_total", "counter", dead_lettered,
                "Messages moved to the dead-letter queue."),
    QUEUE_FIELD("shmq_queue_dropped_total", "counter", dropped,
                "Expired or over-delivered messages dropped."),
    QUEUE_FIELD("shmq_queue_recovered_total", "counter", recovered,
                "Slots the reaper gave back from dead participants."),
    QUEUE_FIELD("shmq_queue_full_total", "counter", full, "Pushes that found the queue full."),
    QUEUE_FIELD("shmq_queue_empty_total", "counter", empty, "Pops that found the queue empty."),
    QUEUE_FIELD("shmq_queue_waits_total", "counter", waits, "Times a caller slept on the futex."),
    QUEUE_FIELD("shmq_queue_wakeups_total", "counter", wakeups, "Futex wake calls issued."),
};

static const struct family topic_families[] = {
    TOPIC_FIELD("shmq_topic_published_total", "counter", published, "Messages published."),
    TOPIC_FIELD("shmq_topic_capacity_messages", "gauge", capacity, "Slots of the ring."),
    TOPIC_FIELD("shmq_topic_segment_bytes", "gauge", segment_bytes,
                "Size of the shared-memory segment."),
    TOPIC_FIELD("shmq_topic_groups", "gauge", groups, "Subscriber groups."),
    TOPIC_FIELD("shmq_topic_members", "gauge", members, "Group members."),
    TOPIC_FIELD("shmq_topic_full_total", "counter", full, "Publishes that found the ring full."),
    TOPIC_FIELD("shmq_topic_waits_total", "counter", waits, "Times a caller slept on the futex."),
    TOPIC_FIELD("shmq_topic_overtaken_total", "counter", overtaken,
                "Messages lapped before they were written."),
    TOPIC_FIELD("shmq_topic_holes_total", "counter", holes,
                "Sequence numbers whose publisher died before publishing."),
};

static const struct family group_families[] = {
    GROUP_FIELD("shmq_topic_group_lag_messages", "gauge", lag,
                "Messages published and not yet passed by the group."),
    GROUP_FIELD("shmq_topic_group_members", "gauge", members, "Members of the group."),
    GROUP_FIELD("shmq_topic_group_delivered_total", "counter", delivered,
                "Messages taken by the group's members."),
    GROUP_FIELD("shmq_topic_group_skipped_total", "counter", skipped,
                "Messages passed over (subject not matching)."),
    GROUP_FIELD("shmq_topic_group_lost_total", "counter", lost,
                "Messages overwritten before the group read them."),
};

static uint64_t field_value(const void *base, const struct family *f)
{
    const unsigned char *p = (const unsigned char *)base + f->offset;
    if (f->size == sizeof(uint32_t)) {
        uint32_t v;
        memcpy(&v, p, sizeof v);
        return v;
    }
    uint64_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

static void family_head(FILE *out, const char *name, const char *type, const char *help)
{
    fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A label value: backslash, double quote and newline escaped, as the format asks. Queue names
 * need none of it; group names and patterns come from a segment and might. */
static void label_value(FILE *out, const char *s)
{
    for (; *s; s++) {
        if (*s == '\\' || *s == '"')
            fprintf(out, "\\%c", *s);
        else if (*s == '\n')
            fputs("\\n", out);
        else
            putc(*s, out);
    }
}

static const char *kind_name(const struct shmq_stat *st)
{
    return st->kind == SHMQ_LIFO ? "lifo" : "fifo";
}

static void queue_labels(FILE *out, const struct cli_status *e)
{
    fprintf(out, "{queue=\"%s\",kind=\"%s\"", e->name, kind_name(&e->queue));
}

int serve_metrics_write(FILE *out, const struct serve_snapshot *s, double scrape_seconds)
{
    for (size_t f = 0; f < sizeof queue_families / sizeof queue_families[0]; f++) {
        const struct family *fam = &queue_families[f];
        family_head(out, fam->name, fam->type, fam->help);
        for (size_t i = 0; i < s->count; i++) {
            const struct cli_status *e = &s->entries[i];
            if (e->kind != CLI_STATUS_QUEUE)
                continue;
            fputs(fam->name, out);
            queue_labels(out, e);
            fprintf(out, "} %" PRIu64 "\n", field_value(&e->queue, fam));
        }
    }
    family_head(out, "shmq_queue_participants", "gauge",
                "Open handles, by whether their process is alive.");
    for (size_t i = 0; i < s->count; i++) {
        const struct cli_status *e = &s->entries[i];
        if (e->kind != CLI_STATUS_QUEUE)
            continue;
        uint32_t dead =
            e->queue.dead < e->queue.participants ? e->queue.dead : e->queue.participants;
        fputs("shmq_queue_participants", out);
        queue_labels(out, e);
        fprintf(out, ",state=\"alive\"} %" PRIu32 "\n", e->queue.participants - dead);
        fputs("shmq_queue_participants", out);
        queue_labels(out, e);
        fprintf(out, ",state=\"dead\"} %" PRIu32 "\n", dead);
    }
    family_head(out, "shmq_queue_held_by_dead_messages", "gauge",
                "Messages taken by participants whose process is gone, not given back yet.");
    for (size_t i = 0; i < s->count; i++) {
        const struct cli_status *e = &s->entries[i];
        if (e->kind != CLI_STATUS_QUEUE)
            continue;
        fputs("shmq_queue_held_by_dead_messages", out);
        queue_labels(out, e);
        fprintf(out, "} %" PRIu64 "\n", serve_held_by_dead(e));
    }

    for (size_t f = 0; f < sizeof topic_families / sizeof topic_families[0]; f++) {
        const struct family *fam = &topic_families[f];
        family_head(out, fam->name, fam->type, fam->help);
        for (size_t i = 0; i < s->count; i++) {
            const struct cli_status *e = &s->entries[i];
            if (e->kind != CLI_STATUS_TOPIC)
                continue;
            fprintf(out, "%s{topic=\"%s\"} %" PRIu64 "\n", fam->name, e->name,
                    field_value(&e->topic, fam));
        }
    }
    family_head(out, "shmq_topic_participants", "gauge",
                "Open handles and members, by whether their process is alive.");
    for (size_t i = 0; i < s->count; i++) {
        const struct cli_status *e = &s->entries[i];
        if (e->kind != CLI_STATUS_TOPIC)
            continue;
        uint32_t dead =
            e->topic.dead < e->topic.participants ? e->topic.dead : e->topic.participants;
        fprintf(out, "shmq_topic_participants{topic=\"%s\",state=\"alive\"} %" PRIu32 "\n", e->name,
                e->topic.participants - dead);
        fprintf(out, "shmq_topic_participants{topic=\"%s\",state=\"dead\"} %" PRIu32 "\n", e->name,
                dead);
    }
    for (size_t f = 0; f < sizeof group_families / sizeof group_families[0]; f++) {
        const struct family *fam = &group_families[f];
        family_head(out, fam->name, fam->type, fam->help);
        for (size_t i = 0; i < s->count; i++) {
            const struct cli_status *e = &s->entries[i];
            for (unsigned g = 0; e->kind == CLI_STATUS_TOPIC && g < e->ngroups; g++) {
                fprintf(out, "%s{topic=\"%s\",group=\"", fam->name, e->name);
                label_value(out, e->groups[g].name);
                fprintf(out, "\"} %" PRIu64 "\n", field_value(&e->groups[g], fam));
            }
        }
    }

    family_head(out, "shmq_segment_readable", "gauge",
                "1 if the server could read the segment, 0 if not (permission, corruption).");
    for (size_t i = 0; i < s->count; i++) {
        const struct cli_status *e = &s->entries[i];
        fprintf(out, "shmq_segment_readable{name=\"%s\"} %d\n", e->name,
                e->kind != CLI_STATUS_UNREADABLE);
    }
    family_head(out, "shmq_serve_scrape_duration_seconds", "gauge",
                "Time the server took to read every segment for this scrape.");
    fprintf(out, "shmq_serve_scrape_duration_seconds %.6f\n", scrape_seconds);
    fflush(out);
    return ferror(out) ? -EIO : 0;
}
