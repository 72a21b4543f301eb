/*
 * Layer: recovery. The reaper gives back what dead participants held (see reaper.c).
 */
#ifndef SHMQ_REAPER_H
#define SHMQ_REAPER_H

#include "handle.h"

/* ---- reaper.c ---- */
/* 1 if some participant's process is gone or an orphan scan is pending. */
int shmq__reap_check(struct shmq__mapping *m);
int shmq__reap(shmq_t *q, struct shmq_repair_report *report);
/* A reap run on the caller's behalf (open, a sleeper's slice, stat): its report is kept in
 * the handle for the next shmq_repair. */
void shmq__reap_quietly(shmq_t *q);
/* The table is full: under the reaper lease, take over a dead participant's entry for q
 * (q->self_index, q->self set), giving back what every dead participant held. -EUSERS if
 * none is dead. */
int shmq__reap_adopt(shmq_t *q);

#endif /* SHMQ_REAPER_H */
