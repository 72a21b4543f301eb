/* Durations, sizes, modes and counts typed on the command line. */
#include "parse.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Read decimal digits at *p into *value; -EINVAL if there are none, -ERANGE on overflow. */
static int read_digits(const char **p, uint64_t *value)
{
    const char *s = *p;
    uint64_t v = 0;
    if (!is_digit(*s))
        return -EINVAL;
    for (; is_digit(*s); s++) {
        if (__builtin_mul_overflow(v, 10, &v) ||
            __builtin_add_overflow(v, (uint64_t)(*s - '0'), &v))
            return -ERANGE;
    }
    *p = s;
    *value = v;
    return 0;
}

struct duration_unit {
    const char *name;
    int64_t ns;
};

/* Longest names first, so that "ms" is not read as "m" followed by "s". */
static const struct duration_unit duration_units[] = {
    {"ns", 1},
    {"us", 1000},
    {"ms", 1000000},
    {"s", 1000000000},
    {"m", 60 * 1000000000LL},
    {"h", 3600 * 1000000000LL},
};

static const struct duration_unit *duration_unit_at(const char **p)
{
    const struct duration_unit *best = NULL;
    size_t best_len = 0;
    for (size_t i = 0; i < sizeof duration_units / sizeof duration_units[0]; i++) {
        size_t len = strlen(duration_units[i].name);
        if (len > best_len && strncmp(*p, duration_units[i].name, len) == 0) {
            best = &duration_units[i];
            best_len = len;
        }
    }
    *p += best_len;
    return best;
}

/* One term NUMBER[.FRACTION]UNIT at *p, in nanoseconds. */
static int duration_term(const char **p, int64_t *ns)
{
    uint64_t whole;
    int err = read_digits(p, &whole);
    if (err)
        return err;
    /* The fraction keeps at most 18 digits (10^18 fits in uint64_t); later ones are below a
     * nanosecond for every unit up to hours once scaled, so they are read and ignored. */
    uint64_t frac = 0, frac_scale = 1;
    if (**p == '.') {
        (*p)++;
        if (!is_digit(**p))
            return -EINVAL;
        for (; is_digit(**p); (*p)++) {
            if (frac_scale < 1000000000000000000ULL) {
                frac = frac * 10 + (uint64_t)(**p - '0');
                frac_scale *= 10;
            }
        }
    }
    const struct duration_unit *unit = duration_unit_at(p);
    if (!unit)
        return -EINVAL;
    uint64_t unit_ns = (uint64_t)unit->ns, total;
    if (__builtin_mul_overflow(whole, unit_ns, &total))
        return -ERANGE;
    /* frac / frac_scale of a unit, rounded down: frac < 10^18 and unit_ns < 2^42, so the
     * product fits in 128 bits. */
    uint64_t part = (uint64_t)((unsigned __int128)frac * unit_ns / frac_scale);
    if (__builtin_add_overflow(total, part, &total) || total > (uint64_t)INT64_MAX)
        return -ERANGE;
    *ns = (int64_t)total;
    return 0;
}

int cli_parse_duration(const char *s, int64_t *ns)
{
    if (!s || !*s)
        return -EINVAL;
    if (strcmp(s, "forever") == 0) {
        *ns = INT64_MAX;
        return 0;
    }
    if (strcmp(s, "0") == 0) {
        *ns = 0;
        return 0;
    }
    int64_t total = 0;
    const char *p = s;
    while (*p) {
        int64_t term;
        int err = duration_term(&p, &term);
        if (err)
            return err;
        if (__builtin_add_overflow(total, term, &total))
            return -ERANGE;
    }
    *ns = total;
    return 0;
}

int cli_parse_size(const char *s, uint64_t *bytes)
{
    if (!s)
        return -EINVAL;
    const char *p = s;
    uint64_t value;
    int err = read_digits(&p, &value);
    if (err)
        return err;
    unsigned shift = 0;
    switch (*p) {
    case 'k':
    case 'K':
        shift = 10;
        break;
    case 'm':
    case 'M':
        shift = 20;
        break;
    case 'g':
    case 'G':
        shift = 30;
        break;
    default:
        break;
    }
    if (shift) {
        p++;
        if (strcmp(p, "iB") == 0 || strcmp(p, "B") == 0)
            p += strlen(p);
    } else if (strcmp(p, "B") == 0) {
        p++;
    }
    if (*p)
        return -EINVAL;
    if (shift && value > (UINT64_MAX >> shift))
        return -ERANGE;
    *bytes = value << shift;
    return 0;
}

int cli_parse_mode(const char *s, uint32_t *mode)
{
    if (!s)
        return -EINVAL;
    const char *p = s;
    if (p[0] == '0' && (p[1] == 'o' || p[1] == 'O'))
        p += 2;
    if (!*p)
        return -EINVAL;
    uint32_t value = 0;
    for (; *p; p++) {
        if (*p < '0' || *p > '7')
            return -EINVAL;
        value = value * 8 + (uint32_t)(*p - '0');
        if (value > 07777)
            return -ERANGE;
    }
    if (value > 0777)
        return -ERANGE;
    *mode = value;
    return 0;
}

int cli_parse_count(const char *s, uint64_t *count)
{
    if (!s)
        return -EINVAL;
    const char *p = s;
    uint64_t value;
    int err = read_digits(&p, &value);
    if (err)
        return err;
    if (*p)
        return -EINVAL;
    *count = value;
    return 0;
}

int cli_parse_cpu_list(const char *s, int *cpus, unsigned max, unsigned *count)
{
    if (!s || !*s)
        return -EINVAL;
    unsigned n = 0;
    const char *p = s;
    for (;;) {
        uint64_t first, last;
        int err = read_digits(&p, &first);
        if (err)
            return err;
        last = first;
        if (*p == '-') {
            p++;
            if ((err = read_digits(&p, &last)) != 0)
                return err;
        }
        if (*p != ',' && *p != 0)
            return -EINVAL;
        if (last < first)
            return -EINVAL;
        if (last > CLI_CPU_MAX)
            return -ERANGE;
        for (uint64_t c = first; c <= last; c++) {
            if (n == max)
                return -ERANGE;
            cpus[n++] = (int)c;
        }
        if (*p == 0)
            break;
        p++; /* the comma: another item must follow */
    }
    *count = n;
    return 0;
}

void cli_format_duration(int64_t ns, char *buf, unsigned long size)
{
    if (ns == INT64_MAX) {
        snprintf(buf, size, "forever");
        return;
    }
    if (ns <= 0) {
        snprintf(buf, size, "0");
        return;
    }
    for (size_t i = sizeof duration_units / sizeof duration_units[0]; i-- > 0;) {
        const struct duration_unit *u = &duration_units[i];
        if (ns % u->ns == 0) {
            snprintf(buf, size, "%lld%s", (long long)(ns / u->ns), u->name);
            return;
        }
    }
}
