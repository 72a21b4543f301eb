/*
 * Layer: segment. The participant table: one entry per writable handle, with the identity
 * (pid and process start time) by which the reaper tells the dead from the living.
 */
#ifndef SHMQ_PARTICIPANT_H
#define SHMQ_PARTICIPANT_H

#include "segment.h"

/* ---- participant.c ---- */
/* Take a free entry of a table (queue participants, topic participants and members): n entries
 * of `stride` bytes, each starting with its _Atomic uint64_t word, 0 = free. The first free one
 * is moved to `word` by CAS (acquire: after the release that freed it). Returns its index, or
 * -EUSERS when none is free. Lock-free. */
int shmq__entry_take(void *table, size_t stride, uint32_t n, uint64_t word);
int shmq__participant_join(struct shmq__mapping *m, uint32_t *index_out);
/* Fill in the identity of entry `index`, which the caller holds in OPENING, and mark it
 * LIVE. */
void shmq__participant_init(struct shmq__mapping *m, uint32_t index);
/* Fold an entry's counters into the header's retired totals and give up its roles. */
void shmq__participant_fold(struct shmq__mapping *m, uint32_t index);
/* Fold, then free the entry if its word is still `word` (the caller's own at close, or the
 * dead owner's as the reaper saw it). */
bool shmq__participant_retire(struct shmq__mapping *m, uint32_t index, uint64_t word);
/* 1 if the entry is LIVE and its process still exists (same pid and start time). */
int shmq__participant_alive(const struct shmq__participant *p);
int shmq__pid_alive(int32_t pid, uint64_t start_time);
/* shmq__pid_alive, except that start_time 0 (an entry whose owner has not recorded it yet)
 * lets the pid alone decide. */
int shmq__owner_alive(int32_t pid, uint64_t start_time);
uint64_t shmq__process_start_time(int32_t pid);
/* The start time of this process, read once per pid (a forked child reads its own). */
uint64_t shmq__self_start_time(void);

#endif /* SHMQ_PARTICIPANT_H */
