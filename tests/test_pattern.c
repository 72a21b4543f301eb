/*
 * Subjects and patterns: RabbitMQ topic-exchange semantics on a table of cases (the edge
 * cases first: '#' alone, '#.#', 'a.#.b', empty words, the empty subject, patterns longer than
 * the subject), invalid subjects and patterns, and a randomized cross-check of the library's
 * matcher against a direct recursive reading of the rules.
 *
 * The rules, as RabbitMQ applies them: a routing key is split at every '.', so "" has no word,
 * "a." has two ("a" and ""), and "." two empty ones; a binding word '*' matches exactly one
 * word (the empty word too), '#' any number of words including none, any other word itself.
 */
#include "test_util.h"

struct match_case {
    const char *pattern;
    const char *subject;
    int expect;
};

static const struct match_case cases[] = {
    /* '#' alone and its repetitions match everything, the empty subject included */
    {"#", "", 1},
    {"#", "a", 1},
    {"#", "a.b.c", 1},
    {"#", ".", 1},
    {"#", "a..b", 1},
    {"#.#", "", 1},
    {"#.#", "a", 1},
    {"#.#", "a.b.c.d", 1},
    {"#.#.#", "x", 1},
    /* '*' is exactly one word, possibly empty, never zero words */
    {"*", "", 0},
    {"*", "a", 1},
    {"*", "a.b", 0},
    {"*", ".", 0},
    {"*.*", ".", 1},
    {"*.*", "a.", 1},
    {"*.*", ".b", 1},
    {"*.*", "a", 0},
    {"*.*", "..", 0},
    {"*.*.*", "..", 1},
    /* the empty pattern has no word: only the empty subject */
    {"", "", 1},
    {"", "a", 0},
    {"", ".", 0},
    /* literal words, empty words, trailing and leading dots */
    {"a", "a", 1},
    {"a", "A", 0},
    {"a", "a.", 0},
    {"a.", "a.", 1},
    {"a.", "a", 0},
    {".a", ".a", 1},
    {".a", "a", 0},
    {"a..b", "a..b", 1},
    {"a..b", "a.b", 0},
    {"a.*.b", "a..b", 1},
    {"a.*.b", "a.b", 0},
    {"a.*.b", "a.x.y.b", 0},
    {"a.#.b", "a..b", 1},
    {"..", "..", 1},
    {"*..*", "x..y", 1},
    /* 'a.#' and '#.a' */
    {"a.#", "a", 1},
    {"a.#", "a.b", 1},
    {"a.#", "a.b.c", 1},
    {"a.#", "b.a", 0},
    {"a.#", "", 0},
    {"a.#", "ab", 0},
    {"#.a", "a", 1},
    {"#.a", "x.y.a", 1},
    {"#.a", "a.x", 0},
    /* 'a.#.b' */
    {"a.#.b", "a.b", 1},
    {"a.#.b", "a.x.b", 1},
    {"a.#.b", "a.x.y.b", 1},
    {"a.#.b", "a.b.b", 1},
    {"a.#.b", "a.b.c", 0},
    {"a.#.b", "b.a.b", 0},
    {"a.#.b", "a", 0},
    {"a.#.b", "b", 0},
    /* patterns longer than the subject, and the other way round */
    {"a.b.c", "a.b", 0},
    {"*.*.*", "a.b", 0},
    {"a.b.*", "a.b", 0},
    {"a.b.#", "a.b", 1},
    {"a.b.#.#", "a.b", 1},
    {"a.b.#.*", "a.b", 0},
    {"a.b", "a.b.c", 0},
    {"a.*", "a.b.c", 0},
    /* combinations */
    {"*.#", "", 0},
    {"*.#", "a", 1},
    {"*.#", "a.b.c", 1},
    {"#.*", "", 0},
    {"#.*", "a", 1},
    {"#.*.#", "", 0},
    {"#.*.#", "x", 1},
    {"#.*.#", "x.y.z", 1},
    {"#.b.#", "a.b.c", 1},
    {"#.b.#", "b", 1},
    {"#.b.#", "a.c", 0},
    {"#.b", "a.b", 1},
    {"#.b", "a.b.b", 1},
    {"#.b", "b.a", 0},
    {"*.b.c", "a.b.c", 1},
    {"*.b.c", "b.c", 0},
    {"a.*.#.c", "a.b.c", 1},
    {"a.*.#.c", "a.c", 0},
    {"a.*.#.c", "a.b.x.y.c", 1},
    {"#.#.b.#", "b", 1},
    {"a.#.#.b", "a.b", 1},
    /* cases where a first choice for '#' must be undone */
    {"#.a.b", "a.a.b", 1},
    {"#.a.b", "a.b.a.b", 1},
    {"#.a.b", "a.b.a", 0},
    {"#.a.#.a", "a.a", 1},
    {"#.a.#.a", "a", 0},
    {"#.a.*.a", "a.a.a.x.a", 1},
    {"a.#.a.#.a", "a.a", 0},
    {"a.#.a.#.a", "a.a.a", 1},
    /* bytes above 0x7f are ordinary word bytes */
    {"caf\xc3\xa9.*", "caf\xc3\xa9.x", 1},
    {"caf\xc3\xa9.*", "cafe.x", 0},
    {"orders.*.created", "orders.eu.created", 1},
    {"orders.*.created", "orders.eu.west.created", 0},
    {"orders.#.created", "orders.eu.west.created", 1},
};

static void table_matches_rabbitmq(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int got = shmq_topic_match(cases[i].pattern, cases[i].subject);
        if (got != cases[i].expect)
            fail_msg("pattern \"%s\" subject \"%s\": got %d, expected %d", cases[i].pattern,
                     cases[i].subject, got, cases[i].expect);
    }
}

static void invalid_subjects_and_patterns(void **state)
{
    (void)state;
    char long_s[SHMQ_SUBJECT_MAX + 2];
    memset(long_s, 'a', sizeof long_s);
    long_s[SHMQ_SUBJECT_MAX + 1] = 0;
    const char *bad_subjects[] = {"*",   "#",    "a.*",  "a.#",  "a*",     "#b",
                                  "a b", "a\tb", "a\nb", "\x7f", "a.\x01", long_s};
    for (size_t i = 0; i < sizeof bad_subjects / sizeof bad_subjects[0]; i++) {
        if (shmq_subject_check(bad_subjects[i]) != -EINVAL)
            fail_msg("subject #%zu \"%s\" accepted", i, bad_subjects[i]);
        assert_int_equal(shmq_topic_match("#", bad_subjects[i]), -EINVAL);
    }
    const char *bad_patterns[] = {"a*",   "*a",  "##",   "**",     "a.b#",
                                  "#.a#", "a b", "\x1f", "a.*x.b", long_s};
    for (size_t i = 0; i < sizeof bad_patterns / sizeof bad_patterns[0]; i++) {
        if (shmq_pattern_check(bad_patterns[i]) != -EINVAL)
            fail_msg("pattern #%zu \"%s\" accepted", i, bad_patterns[i]);
        assert_int_equal(shmq_topic_match(bad_patterns[i], "a"), -EINVAL);
    }
    assert_int_equal(shmq_subject_check(NULL), -EINVAL);
    assert_int_equal(shmq_pattern_check(NULL), -EINVAL);
    assert_int_equal(shmq_topic_match(NULL, "a"), -EINVAL);
    assert_int_equal(shmq_topic_match("#", NULL), -EINVAL);

    /* The valid edges. */
    long_s[SHMQ_SUBJECT_MAX] = 0; /* exactly the limit */
    assert_int_equal(shmq_subject_check(long_s), 0);
    assert_int_equal(shmq_pattern_check(long_s), 0);
    const char *good[] = {"", ".", "..", "a..b", "a.", ".a", "A-Z_0.9~x", "caf\xc3\xa9"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        assert_int_equal(shmq_subject_check(good[i]), 0);
        assert_int_equal(shmq_pattern_check(good[i]), 0);
    }
    const char *good_patterns[] = {"*", "#", "*.#", "#.*", "a.*.#", "..*", "*..#"};
    for (size_t i = 0; i < sizeof good_patterns / sizeof good_patterns[0]; i++)
        assert_int_equal(shmq_pattern_check(good_patterns[i]), 0);

    /* The longest pattern matches the longest subject: 256 empty words. */
    char dots[SHMQ_SUBJECT_MAX + 1];
    memset(dots, '.', SHMQ_SUBJECT_MAX);
    dots[SHMQ_SUBJECT_MAX] = 0;
    assert_int_equal(shmq_topic_match(dots, dots), 1);
    assert_int_equal(shmq_topic_match("#", dots), 1);
    assert_int_equal(shmq_topic_match("*", dots), 0);
}

/* ---- a reference: the rules read literally, by recursion ---- */

struct words {
    int n;
    const char *w[SHMQ_SUBJECT_MAX + 1];
    size_t len[SHMQ_SUBJECT_MAX + 1];
};

static void split(const char *s, struct words *out)
{
    out->n = 0;
    if (!*s)
        return; /* no word at all */
    const char *start = s;
    for (const char *p = s;; p++)
        if (*p == '.' || *p == 0) {
            out->w[out->n] = start;
            out->len[out->n] = (size_t)(p - start);
            out->n++;
            if (*p == 0)
                break;
            start = p + 1;
        }
}

static int ref_match(const struct words *p, int pi, const struct words *s, int si)
{
    if (pi == p->n)
        return si == s->n;
    if (p->len[pi] == 1 && p->w[pi][0] == '#') {
        for (int k = si; k <= s->n; k++) /* '#' takes k - si words */
            if (ref_match(p, pi + 1, s, k))
                return 1;
        return 0;
    }
    if (si == s->n)
        return 0;
    if (p->len[pi] == 1 && p->w[pi][0] == '*')
        return ref_match(p, pi + 1, s, si + 1);
    return p->len[pi] == s->len[si] && memcmp(p->w[pi], s->w[si], s->len[si]) == 0 &&
           ref_match(p, pi + 1, s, si + 1);
}

static unsigned rnd(unsigned *seed)
{
    *seed = *seed * 1103515245u + 12345u;
    return (*seed >> 16) & 0x7fff;
}

/* A short random string of words from a tiny alphabet, so that matches are frequent. */
static void random_words(unsigned *seed, char *out, bool wildcards)
{
    static const char *const lit[] = {"a", "b", "", "ab"};
    int n = (int)(rnd(seed) % 6); /* 0 = the empty string */
    out[0] = 0;
    for (int i = 0; i < n; i++) {
        if (i)
            strcat(out, ".");
        unsigned r = rnd(seed) % 8;
        if (wildcards && r == 6)
            strcat(out, "*");
        else if (wildcards && r == 7)
            strcat(out, "#");
        else
            strcat(out, lit[r % 4]);
    }
}

static void random_cross_check(void **state)
{
    (void)state;
    unsigned seed = 12345;
    long n = (long)(200000 * test_scale()), matched = 0;
    for (long i = 0; i < n; i++) {
        char pat[64], subj[64];
        random_words(&seed, pat, true);
        random_words(&seed, subj, false);
        struct words pw, sw;
        split(pat, &pw);
        split(subj, &sw);
        int expect = ref_match(&pw, 0, &sw, 0);
        int got = shmq_topic_match(pat, subj);
        if (got != expect)
            fail_msg("pattern \"%s\" subject \"%s\": got %d, reference says %d", pat, subj, got,
                     expect);
        matched += got;
    }
    /* The generator must exercise both answers. */
    assert_true(matched > n / 20 && matched < n - n / 20);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(invalid_subjects_and_patterns),
        cmocka_unit_test(table_matches_rabbitmq),
        cmocka_unit_test(random_cross_check),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
