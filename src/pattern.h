/*
 * Subjects and patterns of topics, with the matching rules of RabbitMQ topic exchanges.
 *
 * A subject is a list of words joined by '.': "" has no word, "a" one, "a." two ("a" and the
 * empty word), "a..b" three. A pattern is a subject in which a whole word may also be '*'
 * (exactly one word, the empty word included) or '#' (zero or more words). Splitting and
 * matching agree with RabbitMQ's topic exchange; where RabbitMQ takes a word like "a*" or a
 * subject word "*" literally, shmq rejects it (-EINVAL): a wildcard is a whole word of a
 * pattern and nothing else.
 *
 * Bytes allowed in a word: anything above 0x20 but '.', '*', '#' and 0x7f (no NUL, no space, no
 * control character: a subject prints on one line of the CLI's output). At most
 * SHMQ_SUBJECT_MAX bytes, so at most SHMQ_SUBJECT_MAX + 1 words.
 */
#ifndef SHMQ_PATTERN_H
#define SHMQ_PATTERN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "shmq.h"

#define SHMQ__WORDS_MAX (SHMQ_SUBJECT_MAX + 1)

enum shmq__word_kind {
    SHMQ__WORD_LITERAL = 0,
    SHMQ__WORD_STAR = 1, /* '*': exactly one word */
    SHMQ__WORD_HASH = 2, /* '#': zero or more words */
};

/* A pattern split once, at subscribe time, and matched against every subject after. */
struct shmq__pattern {
    char text[SHMQ_SUBJECT_MAX + 1]; /* NUL-terminated */
    uint16_t len;                    /* bytes of text */
    uint16_t nwords;
    bool all;     /* only '#' words: matches every subject without looking at it */
    bool literal; /* no wildcard: matches exactly its own text */
    uint8_t kind[SHMQ__WORDS_MAX];
    uint8_t off[SHMQ__WORDS_MAX]; /* word i is text[off[i] .. off[i] + wlen[i]) */
    uint8_t wlen[SHMQ__WORDS_MAX];
};

/* 0 or -EINVAL. len is the subject's length (no NUL inside). */
int shmq__subject_check_len(const char *subject, size_t len);
/* Split and check a pattern (NUL-terminated): 0 or -EINVAL. */
int shmq__pattern_compile(const char *pattern, struct shmq__pattern *p);
/* True when subject (len bytes, already checked) matches the compiled pattern. */
bool shmq__pattern_match(const struct shmq__pattern *p, const char *subject, size_t len);

#endif /* SHMQ_PATTERN_H */
