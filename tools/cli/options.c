/* Table-driven option parsing and --help (see options.h). */
#include "options.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "shmq.h"

#include "diag.h"
#include "parse.h"

#define HELP_COLUMN 30 /* where the explanations of the options start */
#define CHOICES_MAX 16

static const struct cli_option help_option = {
    .name = "help", .letter = 'h', .kind = CLI_OPTION_FLAG, .help = "show this help and exit"};

/* What the parser keeps while it works. */
struct parser {
    const struct cli_verb *verb;
    const struct cli_option *options;
    size_t noptions;
    const struct cli_option *chosen[CHOICES_MAX]; /* CHOICE options seen */
    size_t nchosen;
    bool help;
};

static int usage_error(const struct parser *p, const char *fmt, ...) CLI_PRINTF(2, 3);
static int usage_error(const struct parser *p, const char *fmt, ...)
{
    char text[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    cli_error("%s (see 'shmq %s --help')", text, p->verb->name);
    return CLI_EXIT_USAGE;
}

static const struct cli_option *find_long(const struct parser *p, const char *name, size_t len)
{
    if (strlen(help_option.name) == len && strncmp(help_option.name, name, len) == 0)
        return &help_option;
    for (size_t i = 0; i < p->noptions; i++)
        if (strlen(p->options[i].name) == len && strncmp(p->options[i].name, name, len) == 0)
            return &p->options[i];
    return NULL;
}

static const struct cli_option *find_letter(const struct parser *p, char letter)
{
    if (letter == help_option.letter)
        return &help_option;
    for (size_t i = 0; i < p->noptions; i++)
        if (p->options[i].letter && p->options[i].letter == letter)
            return &p->options[i];
    return NULL;
}

static bool takes_value(const struct cli_option *o)
{
    return o->kind != CLI_OPTION_FLAG && o->kind != CLI_OPTION_CHOICE;
}

/* What a value of each kind looks like, for error messages. */
static const char *expected_value(enum cli_option_kind kind)
{
    switch (kind) {
    case CLI_OPTION_COUNT:
        return "a whole number";
    case CLI_OPTION_SIZE:
        return "a size in bytes with an optional K, M or G suffix (e.g. 256, 4K, 1M)";
    case CLI_OPTION_DURATION:
        return "a duration with a unit (e.g. 250ms, 2s, 1m, 1m30s) or 'forever'";
    case CLI_OPTION_MODE:
        return "octal permission bits, at most 0777 (e.g. 600, 0640)";
    default:
        return "a value";
    }
}

static int check_range(const struct parser *p, const char *shown, uint64_t v,
                       const struct cli_option *o)
{
    uint64_t max = o->max ? o->max : UINT64_MAX;
    if (v >= o->min && v <= max)
        return 0;
    return usage_error(p, "%s must be between %" PRIu64 " and %" PRIu64 " (got %" PRIu64 ")", shown,
                       o->min, max, v);
}

/* Parse and store the value of o, written as `shown` on the command line. 0 or an exit code. */
static int set_value(const struct parser *p, const struct cli_option *o, const char *shown,
                     const char *text)
{
    uint64_t v = 0;
    int err = 0;
    switch (o->kind) {
    case CLI_OPTION_FLAG:
    case CLI_OPTION_CHOICE:
        return 0;
    case CLI_OPTION_STRING:
        *(const char **)o->target = text;
        return 0;
    case CLI_OPTION_COUNT:
    case CLI_OPTION_SIZE:
        err = o->kind == CLI_OPTION_COUNT ? cli_parse_count(text, &v) : cli_parse_size(text, &v);
        if (err == 0) {
            int code = check_range(p, shown, v, o);
            if (code)
                return code;
            *(uint64_t *)o->target = v;
        }
        break;
    case CLI_OPTION_DURATION:
        err = cli_parse_duration(text, (int64_t *)o->target);
        break;
    case CLI_OPTION_MODE:
        err = cli_parse_mode(text, (uint32_t *)o->target);
        break;
    }
    if (err == -ERANGE)
        return usage_error(p, "value '%s' for %s is too large: expected %s", text, shown,
                           expected_value(o->kind));
    if (err)
        return usage_error(p, "invalid value '%s' for %s: expected %s", text, shown,
                           expected_value(o->kind));
    return 0;
}

/* Record that o appeared; a choice contradicting an earlier one is an error. */
static int mark(struct parser *p, const struct cli_option *o)
{
    if (o == &help_option) {
        p->help = true;
        return 0;
    }
    if (o->given)
        *o->given = true;
    if (o->kind == CLI_OPTION_FLAG)
        *(bool *)o->target = true;
    if (o->kind != CLI_OPTION_CHOICE)
        return 0;
    for (size_t i = 0; i < p->nchosen; i++)
        if (p->chosen[i]->target == o->target && p->chosen[i]->choice != o->choice)
            return usage_error(p, "--%s and --%s cannot be used together", p->chosen[i]->name,
                               o->name);
    if (p->nchosen < CHOICES_MAX)
        p->chosen[p->nchosen++] = o;
    *(int *)o->target = o->choice;
    return 0;
}

/* The value of an option whose value is optional, written after it as a separate argument:
 * "--wait 500ms" and "-w 500ms" mean "--wait=500ms" when the next argument reads as a value of
 * the option's kind; otherwise (an operand, another option, nothing) the option stands alone
 * and takes its implicit value. */
static const char *separate_value(const struct cli_option *o, int argc, char **argv, int *i)
{
    if (*i + 1 < argc && argv[*i + 1][0] != '-') {
        const char *next = argv[*i + 1];
        int64_t ns;
        uint64_t v;
        bool fits = false;
        if (o->kind == CLI_OPTION_DURATION)
            fits = cli_parse_duration(next, &ns) == 0;
        else if (o->kind == CLI_OPTION_COUNT)
            fits = cli_parse_count(next, &v) == 0;
        else if (o->kind == CLI_OPTION_SIZE)
            fits = cli_parse_size(next, &v) == 0;
        if (fits) {
            ++*i;
            return next;
        }
    }
    return o->implicit;
}

/* "--name", "--name=value" or "--name value" at argv[*i]. */
static int parse_long(struct parser *p, int argc, char **argv, int *i)
{
    const char *arg = argv[*i];
    const char *name = arg + 2;
    const char *eq = strchr(name, '=');
    size_t len = eq ? (size_t)(eq - name) : strlen(name);
    const struct cli_option *o = find_long(p, name, len);
    if (!o)
        return usage_error(p, "unknown option '%.*s'", (int)(len + 2), arg);
    char shown[64];
    snprintf(shown, sizeof shown, "--%s", o->name);
    int code = mark(p, o);
    if (code)
        return code;
    if (!takes_value(o)) {
        if (eq)
            return usage_error(p, "%s takes no value", shown);
        return 0;
    }
    const char *value = eq ? eq + 1 : NULL;
    if (!value && o->implicit)
        value = separate_value(o, argc, argv, i);
    if (!value) {
        if (*i + 1 >= argc)
            return usage_error(p, "%s needs a value (%s)", shown, o->value_name);
        value = argv[++*i];
    }
    return set_value(p, o, shown, value);
}

/* "-x", "-xVALUE", "-x VALUE" or grouped flags "-xy" at argv[*i]. */
static int parse_short(struct parser *p, int argc, char **argv, int *i)
{
    const char *arg = argv[*i];
    for (const char *c = arg + 1; *c; c++) {
        const struct cli_option *o = find_letter(p, *c);
        char shown[3] = {'-', *c, 0};
        if (!o)
            return usage_error(p, "unknown option '%s'", shown);
        int code = mark(p, o);
        if (code)
            return code;
        if (!takes_value(o))
            continue;
        const char *value = c[1] ? c + 1 : NULL;
        if (!value && o->implicit)
            value = separate_value(o, argc, argv, i);
        if (!value) {
            if (*i + 1 >= argc)
                return usage_error(p, "%s needs a value (%s)", shown, o->value_name);
            value = argv[++*i];
        }
        return set_value(p, o, shown, value);
    }
    return 0;
}

static int check_operands(const struct parser *p, int n)
{
    const struct cli_verb *v = p->verb;
    if (n < v->min_operands)
        return usage_error(p, "missing operand: usage is 'shmq %s [options] %s'", v->name,
                           v->operands);
    if (v->max_operands >= 0 && n > v->max_operands)
        return usage_error(p, "too many operands: usage is 'shmq %s [options] %s'", v->name,
                           v->operands);
    return 0;
}

bool cli_options_parse(const struct cli_verb *verb, const struct cli_option *options,
                       size_t noptions, int argc, char **argv, int *noperands, int *exit_code)
{
    struct parser p = {.verb = verb, .options = options, .noptions = noptions};
    int n = 0, code = 0;
    bool options_done = false;
    for (int i = 1; i < argc && !code; i++) {
        const char *arg = argv[i];
        if (options_done || arg[0] != '-' || arg[1] == 0) {
            argv[1 + n++] = argv[i];
        } else if (strcmp(arg, "--") == 0) {
            options_done = true;
        } else if (arg[1] == '-') {
            code = parse_long(&p, argc, argv, &i);
        } else {
            code = parse_short(&p, argc, argv, &i);
        }
    }
    if (!code && p.help) {
        cli_options_help(verb, options, noptions);
        *exit_code = CLI_EXIT_OK;
        return false;
    }
    if (!code)
        code = check_operands(&p, n);
    *noperands = n;
    *exit_code = code;
    return code == 0;
}

static void help_line(const struct cli_option *o)
{
    char left[96];
    int n = snprintf(left, sizeof left, "  %s%c%s--%s", o->letter ? "-" : " ",
                     o->letter ? o->letter : ' ', o->letter ? ", " : "  ", o->name);
    if (n > 0 && (size_t)n < sizeof left && takes_value(o))
        snprintf(left + n, sizeof left - (size_t)n, o->implicit ? "[=%s]" : " %s",
                 o->value_name ? o->value_name : "VALUE");
    if (strlen(left) + 2 > HELP_COLUMN)
        printf("%s\n%*s%s\n", left, HELP_COLUMN, "", o->help);
    else
        printf("%-*s%s\n", HELP_COLUMN, left, o->help);
}

void cli_options_help(const struct cli_verb *verb, const struct cli_option *options,
                      size_t noptions)
{
    printf("usage: shmq %s [options]%s%s\n\n", verb->name, verb->operands[0] ? " " : "",
           verb->operands);
    printf("%s\n\noptions:\n", verb->description);
    for (size_t i = 0; i < noptions; i++)
        help_line(&options[i]);
    help_line(&help_option);
    printf("\nExit codes are listed by 'shmq --help' and in shmq(1).\n");
}

static int check_meta(const char *option, const char *value)
{
    if (!value || strlen(value) <= SHMQ_META_STR_MAX)
        return 0;
    cli_error("%s is longer than %d bytes", option, SHMQ_META_STR_MAX);
    return CLI_EXIT_USAGE;
}

int cli_options_check_metadata(const char *type, const char *correlation_id, const char *reply_to)
{
    int code;
    if ((code = check_meta("--type", type)) ||
        (code = check_meta("--correlation-id", correlation_id)) ||
        (code = check_meta("--reply-to", reply_to)))
        return code;
    return 0;
}
