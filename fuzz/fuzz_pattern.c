/*
 * fuzz_pattern: the subject-pattern matcher of topics (src/pattern.c) against a reference.
 *
 * Input: PATTERN NUL SUBJECT (without a NUL, the input is both). The reference below is the
 * definition written out the slow and obvious way (words split on '.', "" has none; '*' is
 * exactly one word, '#' any run of words, matched by recursion with a memo), and it must
 * agree with shmq_topic_match, shmq_pattern_check, shmq_subject_check and the compiled
 * pattern on every input: validity and the match itself.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expect.h"
#include "pattern.h"
#include "shmq.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct words {
    unsigned n;
    const char *at[SHMQ_SUBJECT_MAX + 2];
    size_t len[SHMQ_SUBJECT_MAX + 2];
};

static bool word_byte(unsigned char c)
{
    return c > 0x20 && c != 0x7f && c != '.' && c != '*' && c != '#';
}

/* Split s (len bytes) on '.': "" has no word, "a." has two. */
static void split(const char *s, size_t len, struct words *w)
{
    w->n = 0;
    if (len == 0)
        return;
    size_t start = 0;
    for (size_t i = 0; i <= len; i++)
        if (i == len || s[i] == '.') {
            w->at[w->n] = s + start;
            w->len[w->n] = i - start;
            w->n++;
            start = i + 1;
        }
}

static bool ref_subject_valid(const char *s, size_t len)
{
    if (len > SHMQ_SUBJECT_MAX)
        return false;
    for (size_t i = 0; i < len; i++)
        if (s[i] != '.' && !word_byte((unsigned char)s[i]))
            return false;
    return true;
}

static bool is_star(const struct words *w, unsigned i)
{
    return w->len[i] == 1 && w->at[i][0] == '*';
}

static bool is_hash(const struct words *w, unsigned i)
{
    return w->len[i] == 1 && w->at[i][0] == '#';
}

static bool ref_pattern_valid(const char *p, size_t len)
{
    if (len > SHMQ_SUBJECT_MAX)
        return false;
    struct words w;
    split(p, len, &w);
    for (unsigned i = 0; i < w.n; i++)
        for (size_t j = 0; j < w.len[i]; j++) {
            unsigned char c = (unsigned char)w.at[i][j];
            if (c == '*' || c == '#') {
                if (w.len[i] != 1)
                    return false;
            } else if (!word_byte(c)) {
                return false;
            }
        }
    return true;
}

/* memo: 0 unknown, 1 no, 2 yes. */
static uint8_t memo[SHMQ_SUBJECT_MAX + 3][SHMQ_SUBJECT_MAX + 3];

static bool ref_match_at(const struct words *p, unsigned pi, const struct words *s, unsigned si)
{
    if (memo[pi][si])
        return memo[pi][si] == 2;
    bool r;
    if (pi == p->n)
        r = si == s->n;
    else if (is_hash(p, pi))
        r = ref_match_at(p, pi + 1, s, si) || (si < s->n && ref_match_at(p, pi, s, si + 1));
    else if (si == s->n)
        r = false;
    else if (is_star(p, pi) ||
             (p->len[pi] == s->len[si] && memcmp(p->at[pi], s->at[si], s->len[si]) == 0))
        r = ref_match_at(p, pi + 1, s, si + 1);
    else
        r = false;
    memo[pi][si] = r ? 2 : 1;
    return r;
}

static bool ref_match(const char *pattern, size_t plen, const char *subject, size_t slen)
{
    static struct words p, s;
    split(pattern, plen, &p);
    split(subject, slen, &s);
    for (unsigned i = 0; i <= p.n; i++)
        memset(memo[i], 0, s.n + 1);
    return ref_match_at(&p, 0, &s, 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Exact-size heap copies: a read past a terminator is caught. */
    const uint8_t *nul = memchr(data, 0, size);
    size_t plen = nul ? (size_t)(nul - data) : size;
    const uint8_t *sdata = nul ? nul + 1 : data;
    size_t srest = nul ? size - plen - 1 : size;
    const uint8_t *snul = memchr(sdata, 0, srest);
    size_t slen = snul ? (size_t)(snul - sdata) : srest;
    char *pattern = malloc(plen + 1), *subject = malloc(slen + 1);
    if (!pattern || !subject)
        abort();
    memcpy(pattern, data, plen);
    pattern[plen] = 0;
    memcpy(subject, sdata, slen);
    subject[slen] = 0;

    bool pvalid = ref_pattern_valid(pattern, plen);
    bool svalid = ref_subject_valid(subject, slen);
    EXPECT((shmq_pattern_check(pattern) == 0) == pvalid);
    EXPECT((shmq_subject_check(subject) == 0) == svalid);
    int r = shmq_topic_match(pattern, subject);
    if (!pvalid || !svalid) {
        EXPECT(r == -EINVAL);
    } else {
        bool want = ref_match(pattern, plen, subject, slen);
        EXPECT(r == (want ? 1 : 0));
        /* The compiled form, as a subscription uses it. */
        struct shmq__pattern compiled;
        EXPECT(shmq__pattern_compile(pattern, &compiled) == 0);
        EXPECT(shmq__pattern_match(&compiled, subject, slen) == want);
        /* A valid subject is a pattern that matches exactly itself. */
        EXPECT(shmq_topic_match(subject, subject) == 1);
    }
    free(pattern);
    free(subject);
    return 0;
}
