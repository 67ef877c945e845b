/* options: table-driven stage command lines (see include/options.h).
 * Invariant: after options_new every entry holds a parsed value (its default). */
#include "core/options.h"

#include "core/build_info.h"
#include "core/err.h"

#include <assert.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const option_spec common_specs[] = {
    {"name", OPT_STRING, "", "instance name, used in logs and link names (default: the program)"},
    {"in", OPT_LIST, NULL, "PORT=ENDPOINT for an in-port (repeatable); @ binds, > connects, default binds"},
    {"out", OPT_LIST, NULL, "PORT=ENDPOINT for an out-port (repeatable); default connects"},
    {"control", OPT_STRING, "", "runner control endpoint (set by spikesynth run)"},
    {"run-id", OPT_STRING, "", "run identifier checked at every link handshake"},
    {"seed", OPT_INT, "1", "random seed"},
    {"log-level", OPT_STRING, "info", "what to log", .choices = "error|warn|info|debug"},
    /* a millisecond at least: the links count in whole milliseconds */
    {"timeout", OPT_FLOAT, "10", "seconds a peer may stay silent while this stage waits on it", .min = "0.001"},
    {"connect-timeout", OPT_FLOAT, "60", "seconds to wait for a link's peer at start (0: forever)", .min = "0"},
    {"heartbeat", OPT_FLOAT, "1", "seconds between heartbeats on idle links", .min = "0.001"},
    {"queue", OPT_INT, "64", "frames queued on each link before the sender waits", .min = "1"},
    {"max-frame", OPT_INT, "268435456", "largest message part accepted, in bytes", .min = "1"},
    {"transport", OPT_STRING, "auto", "auto: frames of ipc:// links go through shared memory; zmq: all over ZeroMQ",
     .choices = "auto|zmq"},
    {"spin-us", OPT_INT, "20", "microseconds a wait on a shared-memory link spins before it sleeps"},
    {"force", OPT_BOOL, "false", "replace the files this run trains even when they exist (models of another training)"},
    {"preflight", OPT_BOOL, "false", "check the options and the paths they name, then exit (spikesynth check)"},
    {"keys", OPT_STRING, "", "key directory securing tcp:// links with CURVE (spikesynth keygen DIR)"},
    {"server-key", OPT_STRING, "", "public key (Z85, or a file) of the binding peer of tcp:// links this end connects (default: KEYS/public.key)"},
    {"insecure", OPT_BOOL, "false", "tcp:// links without keys in plaintext, open to any peer (warns)"},
    {NULL, 0, NULL, NULL},
};

typedef struct {
    const option_spec *spec;
    bool given;
    int64_t i;
    double f;
    char *s;
    char **list;
    size_t n;
} entry;

struct options {
    const char *type;
    const char *summary;
    const port_spec *ports;
    entry *entries;
    size_t n_entries, n_stage; /* stage options first, then the common ones */
};

static const char *type_names[] = {"int", "float", "string", "bool", "list"};
static const port_spec no_ports[] = {{NULL, 0, 0, NULL}};

/* A number of the option's type (OPT_INT or OPT_FLOAT) from v; -1 when v is not one. */
static int parse_number(const option_spec *spec, const char *v, int64_t *i, double *f)
{
    char *end;
    errno = 0;
    if (spec->type == OPT_INT) {
        long long x = strtoll(v, &end, 0);
        if (!*v || *end || errno)
            return err_set("option --%s: '%s' is not an integer", spec->name, v);
        *i = x;
        return 0;
    }
    double x = strtod(v, &end);
    if (!*v || *end || errno || !isfinite(x))
        return err_set("option --%s: '%s' is not a number", spec->name, v);
    *f = x;
    return 0;
}

/* "1..64", ">= 0" or "<= 64": the bounds as --help and the errors show them. */
static void range_text(const option_spec *spec, char *buf, size_t cap)
{
    if (spec->min && spec->max)
        snprintf(buf, cap, "%s..%s", spec->min, spec->max);
    else if (spec->min)
        snprintf(buf, cap, ">= %s", spec->min);
    else
        snprintf(buf, cap, "<= %s", spec->max);
}

/* The bounds parse (options_new checked them), so only the comparison can fail. */
static int check_range(const entry *e, const char *v)
{
    const option_spec *spec = e->spec;
    if (!spec->min && !spec->max)
        return 0;
    int64_t lo_i = 0, hi_i = 0;
    double lo_f = 0, hi_f = 0;
    if (spec->min)
        parse_number(spec, spec->min, &lo_i, &lo_f);
    if (spec->max)
        parse_number(spec, spec->max, &hi_i, &hi_f);
    bool out = spec->type == OPT_INT ? (spec->min && e->i < lo_i) || (spec->max && e->i > hi_i)
                                     : (spec->min && e->f < lo_f) || (spec->max && e->f > hi_f);
    if (!out)
        return 0;
    char range[96];
    range_text(spec, range, sizeof range);
    return err_set("option --%s: %s is out of range (%s)", spec->name, v, range);
}

static bool is_choice(const char *choices, const char *v)
{
    const size_t n = strlen(v);
    for (const char *c = choices;; c++) {
        const char *bar = strchr(c, '|');
        size_t len = bar ? (size_t)(bar - c) : strlen(c);
        if (len == n && !strncmp(c, v, n))
            return true;
        if (!bar)
            return false;
        c = bar;
    }
}

static int set_value(entry *e, const char *v)
{
    const char *name = e->spec->name;
    switch (e->spec->type) {
    case OPT_INT:
    case OPT_FLOAT:
        if (parse_number(e->spec, v, &e->i, &e->f) < 0)
            return -1;
        return check_range(e, v);
    case OPT_BOOL:
        if (!strcmp(v, "true") || !strcmp(v, "1") || !strcmp(v, "yes"))
            e->i = 1;
        else if (!strcmp(v, "false") || !strcmp(v, "0") || !strcmp(v, "no"))
            e->i = 0;
        else
            return err_set("option --%s: '%s' is not true or false", name, v);
        return 0;
    case OPT_STRING: {
        if (e->spec->choices && !is_choice(e->spec->choices, v))
            return err_set("option --%s: '%s' is not one of %s", name, v, e->spec->choices);
        char *s = strdup(v);
        if (!s)
            return err_set("option --%s: out of memory", name);
        free(e->s);
        e->s = s;
        return 0;
    }
    case OPT_LIST: {
        char **l = realloc(e->list, (e->n + 1) * sizeof *l);
        if (!l)
            return err_set("option --%s: out of memory", name);
        e->list = l;
        if (!(l[e->n] = strdup(v)))
            return err_set("option --%s: out of memory", name);
        e->n++;
        return 0;
    }
    }
    return err_set("option --%s: bad type", name);
}

/* Bounds only on numbers and parsing as one, choices only on strings. */
static int check_spec(const option_spec *spec)
{
    const bool number = spec->type == OPT_INT || spec->type == OPT_FLOAT;
    int64_t i;
    double f;
    if ((spec->min || spec->max) && !number)
        return err_set("option --%s: .min/.max on an option that is not a number", spec->name);
    if (spec->choices && spec->type != OPT_STRING)
        return err_set("option --%s: .choices on an option that is not a string", spec->name);
    if ((spec->min && parse_number(spec, spec->min, &i, &f) < 0) ||
        (spec->max && parse_number(spec, spec->max, &i, &f) < 0))
        return err_wrap("bad bound");
    return 0;
}

options *options_new(const char *type, const char *summary, const option_spec *specs,
                     const port_spec *ports)
{
    options *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->type = type;
    self->summary = summary ? summary : "";
    self->ports = ports ? ports : no_ports;
    size_t ns = 0, nc = 0;
    while (specs && specs[ns].name)
        ns++;
    while (common_specs[nc].name)
        nc++;
    self->n_stage = ns;
    self->n_entries = ns + nc;
    self->entries = calloc(ns + nc, sizeof *self->entries);
    if (!self->entries) {
        err_set("options: out of memory");
        goto err;
    }
    for (size_t i = 0; i < ns + nc; i++) {
        entry *e = &self->entries[i];
        e->spec = i < ns ? &specs[i] : &common_specs[i - ns];
        for (size_t j = 0; j < i; j++)
            if (!strcmp(self->entries[j].spec->name, e->spec->name)) {
                err_set("%s: option --%s declared twice", type, e->spec->name);
                goto err;
            }
        const char *def = e->spec->def;
        if (!def)
            def = e->spec->type == OPT_INT || e->spec->type == OPT_FLOAT ? "0"
                  : e->spec->type == OPT_BOOL ? "false" : "";
        if (e->spec->type == OPT_STRING && !strcmp(e->spec->name, "name") && !*def)
            def = type;
        if (check_spec(e->spec) < 0) {
            err_wrap("%s", type);
            goto err;
        }
        if (e->spec->type != OPT_LIST && set_value(e, def) < 0) {
            err_wrap("%s: bad default", type);
            goto err;
        }
    }
    return self;
err:
    options_destroy(&self);
    return NULL;
}

void options_destroy(options **self_p)
{
    options *self = self_p ? *self_p : NULL;
    if (!self)
        return;
    for (size_t i = 0; self->entries && i < self->n_entries; i++) {
        entry *e = &self->entries[i];
        free(e->s);
        for (size_t j = 0; j < e->n; j++)
            free(e->list[j]);
        free(e->list);
    }
    free(self->entries);
    free(self);
    *self_p = NULL;
}

static entry *find(const options *self, const char *name, size_t len)
{
    for (size_t i = 0; i < self->n_entries; i++)
        if (strlen(self->entries[i].spec->name) == len &&
            !strncmp(self->entries[i].spec->name, name, len))
            return &self->entries[i];
    return NULL;
}

/* Levenshtein distance, for "did you mean" */
static size_t distance(const char *a, size_t la, const char *b)
{
    size_t lb = strlen(b), row[64];
    if (la >= 63 || lb >= 63)
        return 99;
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);
            if (row[j] + 1 < best)
                best = row[j] + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

static int unknown(const options *self, const char *name, size_t len)
{
    const char *best = NULL;
    size_t best_d = 3;
    for (size_t i = 0; i < self->n_entries; i++) {
        size_t d = distance(name, len, self->entries[i].spec->name);
        if (d < best_d) {
            best_d = d;
            best = self->entries[i].spec->name;
        }
    }
    if (best)
        return err_set("%s: unknown option --%.*s (did you mean --%s?)", self->type, (int)len, name,
                       best);
    return err_set("%s: unknown option --%.*s (see --help)", self->type, (int)len, name);
}

int options_parse(options *self, int argc, char **argv, FILE *out)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            options_help(self, out);
            return 1;
        }
        if (!strcmp(a, "--version")) {
            build_info_print(out, self->type);
            return 1;
        }
        if (!strcmp(a, "--describe")) {
            options_describe(self, out);
            return 1;
        }
        if (strncmp(a, "--", 2) || !a[2])
            return err_set("%s: unexpected argument '%s' (options are --name=value)", self->type, a);
        const char *name = a + 2, *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        entry *e = find(self, name, len);
        const char *value = eq ? eq + 1 : NULL;
        if (!e && !eq && !strncmp(name, "no-", 3) && (e = find(self, name + 3, len - 3)) &&
            e->spec->type == OPT_BOOL)
            value = "false";
        else if (!e)
            return unknown(self, name, len);
        if (!value && e->spec->type == OPT_BOOL)
            value = "true";
        if (!value) {
            if (i + 1 >= argc)
                return err_set("%s: option --%s needs a value", self->type, e->spec->name);
            value = argv[++i];
        }
        /* a pipeline variable left empty: the stage's default, as if not given */
        if (!*value && e->spec->type != OPT_LIST && (e->spec->type != OPT_STRING || e->spec->choices))
            continue;
        if (set_value(e, value) < 0)
            return err_wrap("%s", self->type);
        e->given = true;
    }
    return 0;
}

static const entry *get(const options *self, const char *name, option_type type)
{
    const entry *e = find(self, name, strlen(name));
    assert(e && "option not declared");
    assert(e->spec->type == type && "option read with the wrong type");
    return e;
}

int64_t options_int(const options *self, const char *name) { return get(self, name, OPT_INT)->i; }
double options_float(const options *self, const char *name) { return get(self, name, OPT_FLOAT)->f; }
const char *options_str(const options *self, const char *name) { return get(self, name, OPT_STRING)->s; }
bool options_bool(const options *self, const char *name) { return get(self, name, OPT_BOOL)->i; }
size_t options_count(const options *self, const char *name) { return get(self, name, OPT_LIST)->n; }

const char *options_item(const options *self, const char *name, size_t i)
{
    const entry *e = get(self, name, OPT_LIST);
    return i < e->n ? e->list[i] : NULL;
}

bool options_given(const options *self, const char *name)
{
    const entry *e = find(self, name, strlen(name));
    assert(e && "option not declared");
    return e->given;
}

const char *options_type(const options *self) { return self->type; }
size_t options_n_specs(const options *self) { return self->n_entries; }
const option_spec *options_spec_at(const options *self, size_t i) { return self->entries[i].spec; }
const port_spec *options_ports(const options *self) { return self->ports; }

static void help_entry(const entry *e, FILE *out)
{
    static const char *meta[] = {"N", "X", "TEXT", "", "VALUE"};
    char lhs[64];
    if (e->spec->type == OPT_BOOL)
        snprintf(lhs, sizeof lhs, "--%s", e->spec->name);
    else
        snprintf(lhs, sizeof lhs, "--%s=%s", e->spec->name, meta[e->spec->type]);
    const char *help = e->spec->help ? e->spec->help : "";
    if (strlen(lhs) < 24)
        fprintf(out, "  %-24s %s", lhs, help);
    else /* too long for the column: a line of its own (help2man reads either form) */
        fprintf(out, "  %s\n  %-24s %s", lhs, "", help);
    if (e->spec->def && *e->spec->def && e->spec->type != OPT_BOOL)
        fprintf(out, " [%s]", e->spec->def);
    if (e->spec->min || e->spec->max) {
        char range[96];
        range_text(e->spec, range, sizeof range);
        fprintf(out, " (%s)", range);
    }
    if (e->spec->choices)
        fprintf(out, " (%s)", e->spec->choices);
    fputc('\n', out);
}

void options_help(const options *self, FILE *out)
{
    fprintf(out, "Usage: %s [OPTIONS]\n%s\n", self->type, self->summary);
    if (self->ports[0].name) {
        fprintf(out, "\nPorts:\n");
        for (const port_spec *p = self->ports; p->name; p++)
            fprintf(out, "  %-10s %-3s %s%s%s\n", p->name, p->dir == PORT_IN ? "in" : "out",
                    p->help ? p->help : "", p->flags & PORT_OPTIONAL ? " (optional)" : "",
                    p->flags & PORT_FEEDBACK ? " (feedback)" : "");
    }
    if (self->n_stage) {
        fprintf(out, "\nOptions:\n");
        for (size_t i = 0; i < self->n_stage; i++)
            help_entry(&self->entries[i], out);
    }
    fprintf(out, "\nCommon options:\n");
    for (size_t i = self->n_stage; i < self->n_entries; i++)
        help_entry(&self->entries[i], out);
    fprintf(out, "  %-24s %s\n  %-24s %s\n  %-24s %s\n", "-h, --help", "this text", "--version",
            "the version (and the git commit it was built from)", "--describe",
            "ports and options, for spikesynth check");
}

void options_describe(const options *self, FILE *out)
{
    fprintf(out, "spikesynth-describe 1\ntype %s\n", self->type);
    for (const port_spec *p = self->ports; p->name; p++)
        fprintf(out, "port %s %s%s%s\n", p->name, p->dir == PORT_IN ? "in" : "out",
                p->flags & PORT_OPTIONAL ? " optional" : "",
                p->flags & PORT_FEEDBACK ? " feedback" : "");
    for (size_t i = 0; i < self->n_entries; i++)
        fprintf(out, "option %s %s\n", self->entries[i].spec->name,
                type_names[self->entries[i].spec->type]);
}
