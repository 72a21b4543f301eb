/*
 * shmq serve: what every queue and topic of the machine looks like now, read through observer
 * handles only (SHMQ_OPEN_OBSERVE: no participant entry, a read-only mapping, and neither
 * shmq_stat nor shmq_topic_stat runs the reaper on such a handle). The metrics, the JSON API
 * and the history are all written from these.
 */
#ifndef SHMQ_CLI_SERVE_SNAPSHOT_H
#define SHMQ_CLI_SERVE_SNAPSHOT_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "status.h"

/* Each segment is one struct cli_status (status.h). */
struct serve_snapshot {
    struct cli_status *entries; /* sorted by name */
    size_t count;
    int64_t taken_ns; /* CLOCK_REALTIME when it was taken */
};

/*
 * The observer handles of the segments, kept open from one snapshot to the next: opening and
 * mapping every segment again for each scrape cost more than reading it. A handle is reused
 * while /dev/shm/shmq.NAME is the same file (device and inode); a segment removed or made
 * anew is closed (or opened again) at the next snapshot, so a removed segment stays mapped
 * here until then. A segment that cannot be opened is reported with the same error, without
 * another try, for 30 s (or until the file under its name changes): an open of a segment
 * with no magic waits 2 s for its creator, which must not slow every scrape down.
 * Thread-safe: a snapshot holds the reader's mutex while it reads, and so does every other use
 * of the library by the server (serve_entry_read, the admin actions), so that its threads never
 * call the library at the same time (the library allows it, but it keeps the server's work
 * simple to reason about, and ThreadSanitizer cannot follow liburcu's publication of a new
 * mapping in the registry).
 */
struct serve_handle;
struct serve_reader {
    pthread_mutex_t lock;
    struct serve_handle *handles; /* sorted by name */
    size_t count;
};

int serve_reader_init(struct serve_reader *r);
void serve_reader_free(struct serve_reader *r);

/*
 * Read one segment. 0 with e filled (kind CLI_STATUS_UNREADABLE when it exists but cannot be
 * read: permission, corruption, another ABI); -ENOENT if it does not exist; -EINVAL for a name
 * the library refuses; -ENOMEM. Free with cli_status_free (status.h).
 */
int serve_entry_read(struct serve_reader *r, const char *name, struct cli_status *e);

/* Every shmq segment in /dev/shm (those that vanish meanwhile are left out). 0 or -errno. */
int serve_snapshot_take(struct serve_reader *r, struct serve_snapshot *s);
void serve_snapshot_free(struct serve_snapshot *s);

/* Messages that dead participants of a queue took and did not give back (what `shmq repair`
 * would return): per participant, popped - acked - nacked. */
uint64_t serve_held_by_dead(const struct cli_status *e);

#endif /* SHMQ_CLI_SERVE_SNAPSHOT_H */
