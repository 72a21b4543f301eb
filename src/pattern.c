/*
 * Subject and pattern matching (see pattern.h for the rules).
 *
 * Matching is the classic wildcard walk with one backtracking point, over words instead of
 * characters: '#' plays the part of a glob's '*' (any run of words) and '*' that of '?' (one
 * word). When a later word fails, the walk goes back to the last '#' seen and lets it swallow
 * one more subject word; earlier '#'s never need to move again, because the last one can
 * absorb anything they would. So a match costs at most words(pattern) x words(subject) word
 * comparisons, with no recursion and no allocation.
 */
#include "pattern.h"

#include <errno.h>
#include <string.h>

/* A byte that may appear inside a word of a subject. */
static inline bool word_byte(unsigned char c)
{
    return c > 0x20 && c != 0x7f && c != '.' && c != '*' && c != '#';
}

int shmq__subject_check_len(const char *subject, size_t len)
{
    if (!subject || len > SHMQ_SUBJECT_MAX)
        return -EINVAL;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)subject[i];
        if (c != '.' && !word_byte(c))
            return -EINVAL;
    }
    return 0;
}

int shmq_subject_check(const char *subject)
{
    if (!subject)
        return -EINVAL;
    size_t len = strnlen(subject, SHMQ_SUBJECT_MAX + 1);
    return shmq__subject_check_len(subject, len);
}

int shmq__pattern_compile(const char *pattern, struct shmq__pattern *p)
{
    if (!pattern)
        return -EINVAL;
    size_t len = strnlen(pattern, SHMQ_SUBJECT_MAX + 1);
    if (len > SHMQ_SUBJECT_MAX)
        return -EINVAL;
    memcpy(p->text, pattern, len);
    p->text[len] = 0;
    p->len = (uint16_t)len;
    p->nwords = 0;
    p->all = true;
    p->literal = true;
    if (len == 0) {
        p->all = false; /* "" has no word: it matches the empty subject only */
        return 0;
    }
    size_t start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && pattern[i] != '.') {
            unsigned char c = (unsigned char)pattern[i];
            if (!word_byte(c) && c != '*' && c != '#')
                return -EINVAL;
            continue;
        }
        /* A word ends at i. */
        size_t wl = i - start;
        uint8_t kind = SHMQ__WORD_LITERAL;
        for (size_t j = start; j < i; j++)
            if (pattern[j] == '*' || pattern[j] == '#') {
                if (wl != 1)
                    return -EINVAL; /* a wildcard is a whole word or nothing */
                kind = pattern[j] == '*' ? SHMQ__WORD_STAR : SHMQ__WORD_HASH;
            }
        p->kind[p->nwords] = kind;
        p->off[p->nwords] = (uint8_t)start;
        p->wlen[p->nwords] = (uint8_t)wl;
        p->nwords++;
        if (kind != SHMQ__WORD_HASH)
            p->all = false;
        if (kind != SHMQ__WORD_LITERAL)
            p->literal = false;
        start = i + 1;
    }
    return 0;
}

int shmq_pattern_check(const char *pattern)
{
    struct shmq__pattern p;
    return shmq__pattern_compile(pattern, &p);
}

bool shmq__pattern_match(const struct shmq__pattern *p, const char *subject, size_t len)
{
    if (p->all)
        return true;
    if (p->literal)
        return len == p->len && memcmp(subject, p->text, len) == 0;

    /* Split the subject into words ("" has none). */
    uint8_t soff[SHMQ__WORDS_MAX], slen[SHMQ__WORDS_MAX];
    unsigned n = 0;
    if (len > 0) {
        size_t start = 0;
        for (size_t i = 0; i <= len; i++)
            if (i == len || subject[i] == '.') {
                soff[n] = (uint8_t)start;
                slen[n] = (uint8_t)(i - start);
                n++;
                start = i + 1;
            }
    }

    unsigned pi = 0, si = 0;
    unsigned back_pi = UINT32_MAX, back_si = 0; /* the last '#': where to resume from */
    while (si < n) {
        if (pi < p->nwords && p->kind[pi] == SHMQ__WORD_HASH) {
            back_pi = pi++; /* let it swallow nothing first */
            back_si = si;
            continue;
        }
        if (pi < p->nwords && (p->kind[pi] == SHMQ__WORD_STAR ||
                               (p->wlen[pi] == slen[si] &&
                                memcmp(p->text + p->off[pi], subject + soff[si], slen[si]) == 0))) {
            pi++;
            si++;
            continue;
        }
        if (back_pi == UINT32_MAX)
            return false;
        pi = back_pi + 1; /* the last '#' takes one more word */
        si = ++back_si;
    }
    while (pi < p->nwords && p->kind[pi] == SHMQ__WORD_HASH)
        pi++;
    return pi == p->nwords;
}

int shmq_topic_match(const char *pattern, const char *subject)
{
    struct shmq__pattern p;
    int err = shmq__pattern_compile(pattern, &p);
    if (err || (err = shmq_subject_check(subject)))
        return err;
    return shmq__pattern_match(&p, subject, strlen(subject)) ? 1 : 0;
}
