/* pipeline: parse and check pipeline files (see include/pipeline.h and
 * docs/pipelines.md). Parsing stops at the first error; checking collects all.
 * Invariant: after a successful load every stage and link refers to declared
 * names and every ${var} has been substituted. */
#include "transport/pipeline.h"

#include "core/err.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- small helpers ---------------------------------------------------------- */

typedef struct {
    char *s;
    size_t len, cap;
} buf;

static int buf_add(buf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = (b->len + n + 1) * 2;
        char *p = realloc(b->s, cap);
        if (!p)
            return err_set("out of memory");
        b->s = p;
        b->cap = cap;
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = '\0';
    return 0;
}

static int grow(void **arr, size_t n, size_t size)
{
    void *p = realloc(*arr, (n + 1) * size);
    if (!p)
        return err_set("out of memory");
    *arr = p;
    memset((char *)p + n * size, 0, size);
    return 0;
}

static bool is_name(const char *s, size_t n)
{
    if (n == 0 || n > 63)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
              (i > 0 && ((c >= '0' && c <= '9') || c == '-'))))
            return false;
    }
    return true;
}

/* ---- variables ------------------------------------------------------------ */

static pipeline_var *var_find(const pipeline *p, const char *name, size_t n)
{
    for (size_t i = 0; i < p->n_vars; i++)
        if (strlen(p->vars[i].name) == n && !strncmp(p->vars[i].name, name, n))
            return &p->vars[i];
    return NULL;
}

const char *pipeline_var_get(const pipeline *self, const char *name)
{
    pipeline_var *v = var_find(self, name, strlen(name));
    return v ? v->value : NULL;
}

static int var_set(pipeline *p, const char *name, const char *value, int line)
{
    pipeline_var *v = var_find(p, name, strlen(name));
    if (!v) {
        if (grow((void **)&p->vars, p->n_vars, sizeof *p->vars) < 0)
            return -1;
        v = &p->vars[p->n_vars++];
        if (!(v->name = strdup(name)))
            return err_set("out of memory");
    }
    char *copy = strdup(value);
    if (!copy)
        return err_set("out of memory");
    free(v->value);
    v->value = copy;
    v->line = line;
    return 0;
}

/* ---- tokenizer --------------------------------------------------------------- */

typedef struct {
    char **words;
    size_t n;
} words;

static void words_free(words *w)
{
    for (size_t i = 0; i < w->n; i++)
        free(w->words[i]);
    free(w->words);
    w->words = NULL;
    w->n = 0;
}

/* Splits one logical line into words: whitespace separates, "..." and '...'
 * quote, an unquoted # at the start of a word begins a comment, ${name} expands
 * (not inside '...'), $$ is a literal $. */
static int tokenize(const pipeline *p, const char *line, int lineno, words *out)
{
    const char *s = line;
    buf w = {0};
    out->words = NULL;
    out->n = 0;
    for (;;) {
        while (*s == ' ' || *s == '\t' || *s == '\r')
            s++;
        if (!*s || *s == '#')
            return 0;
        w.len = 0;
        if (buf_add(&w, "", 0) < 0)
            goto err;
        char quote = 0;
        while (*s && (quote || (*s != ' ' && *s != '\t' && *s != '\r'))) {
            if (!quote && (*s == '"' || *s == '\'')) {
                quote = *s++;
                continue;
            }
            if (quote && *s == quote) {
                quote = 0;
                s++;
                continue;
            }
            if (*s == '$' && quote != '\'') {
                if (s[1] == '$') {
                    if (buf_add(&w, "$", 1) < 0)
                        goto err;
                    s += 2;
                    continue;
                }
                if (s[1] == '{') {
                    const char *end = strchr(s + 2, '}');
                    if (!end) {
                        err_set("%s:%d: unterminated ${", p->path, lineno);
                        goto err;
                    }
                    size_t n = (size_t)(end - s - 2);
                    pipeline_var *v = var_find(p, s + 2, n);
                    if (!v) {
                        err_set("%s:%d: unknown variable '%.*s' (declare it with var before use)",
                                p->path, lineno, (int)n, s + 2);
                        goto err;
                    }
                    if (buf_add(&w, v->value, strlen(v->value)) < 0)
                        goto err;
                    s = end + 1;
                    continue;
                }
            }
            if (buf_add(&w, s++, 1) < 0)
                goto err;
        }
        if (quote) {
            err_set("%s:%d: unterminated %c quote", p->path, lineno, quote);
            goto err;
        }
        if (grow((void **)&out->words, out->n, sizeof *out->words) < 0)
            goto err;
        out->words[out->n++] = w.s;
        w = (buf){0};
    }
err:
    free(w.s);
    words_free(out);
    return -1;
}

/* ---- statements ---------------------------------------------------------------- */

static int parse_endpoint(pipeline *p, const char *w, int lineno, char **stage, char **port)
{
    const char *dot = strchr(w, '.');
    if (!dot || !is_name(w, (size_t)(dot - w)) || !is_name(dot + 1, strlen(dot + 1)))
        return err_set("%s:%d: '%s' is not STAGE.PORT", p->path, lineno, w);
    *stage = strndup(w, (size_t)(dot - w));
    *port = strdup(dot + 1);
    if (!*stage || !*port)
        return err_set("out of memory");
    return 0;
}

typedef struct {
    char *from, *to;
    int line, port;
} pending_link;

static int parse_link(pipeline *p, words *w, int lineno, pending_link **pend, size_t *n_pend)
{
    /* a last word port=N: the tcp port of the link when it crosses hosts */
    long port = 0;
    size_t n_words = w->n;
    if (n_words > 1 && !strncmp(w->words[n_words - 1], "port=", 5)) {
        char *end;
        port = strtol(w->words[n_words - 1] + 5, &end, 10);
        if (*end || port < 1 || port > 65535)
            return err_set("%s:%d: '%s': a port is 1 to 65535", p->path, lineno,
                           w->words[n_words - 1]);
        n_words--;
    }
    /* accept "a.x -> b.y" and "a.x->b.y" alike */
    char *joined = NULL;
    buf b = {0};
    for (size_t i = 0; i < n_words; i++)
        if (buf_add(&b, w->words[i], strlen(w->words[i])) < 0)
            return -1;
    joined = b.s;
    char *arrow = strstr(joined, "->");
    char *back = strstr(joined, "<-");
    if ((!arrow && !back) || (arrow && back)) {
        free(joined);
        return err_set("%s:%d: expected 'var', 'stage' or a link 'STAGE.PORT -> STAGE.PORT'", p->path,
                       lineno);
    }
    char *op = arrow ? arrow : back;
    *op = '\0';
    const char *left = joined, *right = op + 2;
    if (strstr(right, "->") || strstr(right, "<-")) {
        free(joined);
        return err_set("%s:%d: one link per line", p->path, lineno);
    }
    int rc = 0;
    char *ls = NULL, *lp = NULL, *rs = NULL, *rp = NULL;
    if (parse_endpoint(p, left, lineno, &ls, &lp) < 0 || parse_endpoint(p, right, lineno, &rs, &rp) < 0 ||
        grow((void **)pend, *n_pend, sizeof **pend) < 0) {
        rc = -1;
    } else {
        pending_link *l = &(*pend)[(*n_pend)++];
        /* "a.x <- b.y" is b.y feeding a.x */
        l->from = strdup(arrow ? left : right);
        l->to = strdup(arrow ? right : left);
        l->line = lineno;
        l->port = (int)port;
        if (!l->from || !l->to)
            rc = err_set("out of memory");
    }
    free(ls);
    free(lp);
    free(rs);
    free(rp);
    free(joined);
    return rc;
}

static int parse_statement(pipeline *p, const char *line, int lineno, pending_link **pend,
                           size_t *n_pend, char *const *ov, size_t n_ov, bool *used)
{
    words w;
    /* the first word decides; var and stage lines substitute as they go */
    if (tokenize(p, line, lineno, &w) < 0)
        return -1;
    int rc = 0;
    if (w.n == 0)
        return 0;
    if (!strcmp(w.words[0], "var")) {
        if (w.n < 3 || strcmp(w.words[2], "=") || !is_name(w.words[1], strlen(w.words[1]))) {
            rc = err_set("%s:%d: expected 'var NAME = VALUE'", p->path, lineno);
            goto out;
        }
        pipeline_var *old = var_find(p, w.words[1], strlen(w.words[1]));
        if (old && old->line > 0) {
            rc = err_set("%s:%d: variable '%s' already declared at line %d", p->path, lineno,
                         w.words[1], old->line);
            goto out;
        }
        buf v = {0};
        buf_add(&v, "", 0);
        for (size_t i = 3; i < w.n; i++)
            if (buf_add(&v, " ", i > 3) < 0 || buf_add(&v, w.words[i], strlen(w.words[i])) < 0) {
                free(v.s);
                rc = -1;
                goto out;
            }
        const char *value = v.s;
        bool over = false;
        size_t nl = strlen(w.words[1]);
        for (size_t i = 0; i < n_ov; i++)
            if (!strncmp(ov[i], w.words[1], nl) && ov[i][nl] == '=') {
                value = ov[i] + nl + 1;
                used[i] = over = true;
            }
        rc = var_set(p, w.words[1], value, lineno);
        if (rc == 0)
            var_find(p, w.words[1], nl)->overridden = over;
        free(v.s);
    } else if (!strcmp(w.words[0], "stage")) {
        /* "stage NAME @ HOST = PROGRAM ...": placed on HOST; "local" is where the runner runs */
        char *host = NULL;
        if (w.n >= 4 && !strcmp(w.words[2], "@")) {
            if (!is_name(w.words[3], strlen(w.words[3]))) {
                rc = err_set("%s:%d: '%s' is not a host name (letters, digits, - and _)", p->path,
                             lineno, w.words[3]);
                goto out;
            }
            free(w.words[2]);
            host = w.words[3];
            memmove(&w.words[2], &w.words[4], (w.n - 4) * sizeof *w.words);
            w.n -= 2;
            if (!strcmp(host, "local")) {
                free(host);
                host = NULL;
            }
        }
        if (w.n < 4 || strcmp(w.words[2], "=") || !is_name(w.words[1], strlen(w.words[1]))) {
            free(host);
            rc = err_set("%s:%d: expected 'stage NAME [@ HOST] = PROGRAM [--option=value ...]'",
                         p->path, lineno);
            goto out;
        }
        long dup = pipeline_stage_find(p, w.words[1]);
        if (dup >= 0) {
            free(host);
            rc = err_set("%s:%d: stage '%s' already declared at line %d", p->path, lineno,
                         w.words[1], p->stages[dup].line);
            goto out;
        }
        if (strchr(w.words[3], '/') || !is_name(w.words[3], strlen(w.words[3]))) {
            free(host);
            rc = err_set("%s:%d: '%s' is not a stage program name (programs are found in bin/)",
                         p->path, lineno, w.words[3]);
            goto out;
        }
        if (grow((void **)&p->stages, p->n_stages, sizeof *p->stages) < 0) {
            free(host);
            rc = -1;
            goto out;
        }
        pipeline_stage *s = &p->stages[p->n_stages++];
        s->host = host;
        s->name = w.words[1];
        s->program = w.words[3];
        s->line = lineno;
        s->n_args = w.n - 4;
        s->args = calloc(s->n_args + 1, sizeof *s->args);
        if (!s->args) {
            rc = err_set("out of memory");
            goto out;
        }
        for (size_t i = 4; i < w.n; i++)
            s->args[i - 4] = w.words[i];
        free(w.words[0]);
        free(w.words[2]);
        free(w.words);
        return 0;
    } else {
        rc = parse_link(p, &w, lineno, pend, n_pend);
    }
out:
    words_free(&w);
    return rc;
}

long pipeline_stage_find(const pipeline *self, const char *name)
{
    for (size_t i = 0; i < self->n_stages; i++)
        if (!strcmp(self->stages[i].name, name))
            return (long)i;
    return -1;
}

pipeline *pipeline_parse(const char *path, const char *text, char *const *ov, size_t n_ov)
{
    pipeline *p = calloc(1, sizeof *p);
    pending_link *pend = NULL;
    size_t n_pend = 0;
    bool *used = calloc(n_ov + 1, sizeof *used);
    buf logical = {0};
    bool ok = false;
    if (!p || !used) {
        err_set("out of memory");
        goto err;
    }
    p->path = strdup(path);
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    const char *dot = strrchr(base, '.');
    p->stem = strndup(base, dot && dot != base ? (size_t)(dot - base) : strlen(base));
    if (!p->path || !p->stem) {
        err_set("out of memory");
        goto err;
    }
    for (size_t i = 0; i < n_ov; i++) {
        const char *eq = strchr(ov[i], '=');
        if (!eq || !is_name(ov[i], (size_t)(eq - ov[i]))) {
            err_set("'%s': variables are given as name=value", ov[i]);
            goto err;
        }
    }
    /* built-ins, visible from the first line; a command-line value wins */
    char out_default[512];
    snprintf(out_default, sizeof out_default, "out/%s", p->stem);
    /* hosts, keys, port_base: placement across hosts (transport/placement.h) */
    if (var_set(p, "pipeline", p->stem, 0) < 0 || var_set(p, "out", out_default, 0) < 0 ||
        var_set(p, "hosts", "", 0) < 0 || var_set(p, "keys", "", 0) < 0 ||
        var_set(p, "port_base", "5600", 0) < 0)
        goto err;
    static const char *const builtins[] = {"out", "hosts", "keys", "port_base"};
    for (size_t i = 0; i < n_ov; i++)
        for (size_t k = 0; k < sizeof builtins / sizeof *builtins; k++) {
            size_t len = strlen(builtins[k]);
            if (strncmp(ov[i], builtins[k], len) || ov[i][len] != '=')
                continue;
            if (var_set(p, builtins[k], ov[i] + len + 1, 0) < 0)
                goto err;
            var_find(p, builtins[k], len)->overridden = true;
            used[i] = true;
        }
    /* lines, joined when they end in a backslash */
    int lineno = 0, first = 0;
    const char *s = text;
    while (*s) {
        const char *nl = strchr(s, '\n');
        size_t n = nl ? (size_t)(nl - s) : strlen(s);
        lineno++;
        if (!logical.len)
            first = lineno;
        bool cont = n > 0 && s[n - 1] == '\\';
        if (buf_add(&logical, s, cont ? n - 1 : n) < 0 || (cont && buf_add(&logical, " ", 1) < 0))
            goto err;
        s += n + (nl ? 1 : 0);
        if (cont && *s)
            continue;
        if (parse_statement(p, logical.s, first, &pend, &n_pend, ov, n_ov, used) < 0)
            goto err;
        logical.len = 0;
        logical.s[0] = '\0';
    }
    for (size_t i = 0; i < n_ov; i++)
        if (!used[i]) {
            buf names = {0};
            buf_add(&names, "", 0);
            for (size_t j = 0; j < p->n_vars; j++)
                if (buf_add(&names, ", ", j ? 2 : 0) < 0 ||
                    buf_add(&names, p->vars[j].name, strlen(p->vars[j].name)) < 0)
                    break;
            err_set("unknown variable '%.*s' given on the command line (%s has: %s)",
                    (int)(strchr(ov[i], '=') - ov[i]), ov[i], p->path, names.s ? names.s : "");
            free(names.s);
            goto err;
        }
    /* links may name stages declared further down */
    for (size_t i = 0; i < n_pend; i++) {
        char *fs, *fp, *ts, *tp;
        if (parse_endpoint(p, pend[i].from, pend[i].line, &fs, &fp) < 0)
            goto err;
        if (parse_endpoint(p, pend[i].to, pend[i].line, &ts, &tp) < 0) {
            free(fs);
            free(fp);
            goto err;
        }
        long a = pipeline_stage_find(p, fs), b = pipeline_stage_find(p, ts);
        if (a < 0 || b < 0)
            err_set("%s:%d: unknown stage '%s' (declare it with 'stage %s = PROGRAM')", p->path,
                    pend[i].line, a < 0 ? fs : ts, a < 0 ? fs : ts);
        else if (a == b)
            err_set("%s:%d: stage '%s' linked to itself", p->path, pend[i].line, fs);
        free(fs);
        free(ts);
        if (a < 0 || b < 0 || a == b || grow((void **)&p->links, p->n_links, sizeof *p->links) < 0) {
            free(fp);
            free(tp);
            goto err;
        }
        p->links[p->n_links++] =
            (pipeline_link){(size_t)a, (size_t)b, fp, tp, pend[i].line, false, pend[i].port};
    }
    if (p->n_stages == 0) {
        err_set("%s: no stages", p->path);
        goto err;
    }
    ok = true;
err: /* the pending links and the text are the parse's own; p goes only on failure */
    for (size_t i = 0; i < n_pend; i++) {
        free(pend[i].from);
        free(pend[i].to);
    }
    free(pend);
    free(used);
    free(logical.s);
    if (!ok)
        pipeline_destroy(&p);
    return p;
}

pipeline *pipeline_load(const char *path, char *const *ov, size_t n_ov)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        err_set("%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    buf b = {0};
    char chunk[4096];
    size_t n;
    int rc = buf_add(&b, "", 0);
    while (rc == 0 && (n = fread(chunk, 1, sizeof chunk, f)) > 0)
        rc = buf_add(&b, chunk, n);
    bool bad = ferror(f);
    fclose(f);
    if (rc < 0 || bad) {
        free(b.s);
        err_set("%s: read failed", path);
        return NULL;
    }
    if (memchr(b.s, '\0', b.len)) {
        free(b.s);
        err_set("%s: not a text file", path);
        return NULL;
    }
    pipeline *p = pipeline_parse(path, b.s, ov, n_ov);
    free(b.s);
    return p;
}

void pipeline_destroy(pipeline **self_p)
{
    pipeline *p = self_p ? *self_p : NULL;
    if (!p)
        return;
    for (size_t i = 0; i < p->n_vars; i++) {
        free(p->vars[i].name);
        free(p->vars[i].value);
    }
    for (size_t i = 0; i < p->n_stages; i++) {
        free(p->stages[i].host);
        free(p->stages[i].name);
        free(p->stages[i].program);
        for (size_t j = 0; j < p->stages[i].n_args; j++)
            free(p->stages[i].args[j]);
        free(p->stages[i].args);
    }
    for (size_t i = 0; i < p->n_links; i++) {
        free(p->links[i].from_port);
        free(p->links[i].to_port);
    }
    for (size_t i = 0; i < p->n_errors; i++)
        free(p->errors[i]);
    free(p->errors);
    free(p->vars);
    free(p->stages);
    free(p->links);
    free(p->path);
    free(p->stem);
    free(p);
    *self_p = NULL;
}

/* ---- checking --------------------------------------------------------------------- */

typedef struct {
    char name[64];
    bool out, optional, feedback;
} desc_port;

typedef struct {
    char name[64];
    char type[64];
} desc_option;

typedef struct {
    char *program;
    bool ok;
    desc_port ports[64];
    size_t n_ports;
    desc_option options[128];
    size_t n_options;
} describe;

static int problem(pipeline *p, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int problem(pipeline *p, int line, const char *fmt, ...)
{
    char msg[1024];
    int n = line > 0 ? snprintf(msg, sizeof msg, "%s:%d: ", p->path, line)
                     : snprintf(msg, sizeof msg, "%s: ", p->path);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg + n, sizeof msg - (size_t)n, fmt, ap);
    va_end(ap);
    if (grow((void **)&p->errors, p->n_errors, sizeof *p->errors) == 0 && (p->errors[p->n_errors] = strdup(msg)))
        p->n_errors++;
    return -1;
}

/* Starts path with argv, the output stream which (stdout or stderr) into a
 * pipe whose read end goes to *fd, the rest to /dev/null; the pid, or -1. */
static pid_t spawn_captured(const char *path, char *const *argv, int which, int *fd)
{
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) < 0)
        return -1;
    pid_t pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        return -1;
    }
    if (pid == 0) {
        int devnull = open("/dev/null", O_RDWR);
        if (devnull >= 0) {
            dup2(devnull, STDIN_FILENO);
            dup2(devnull, which == STDOUT_FILENO ? STDERR_FILENO : STDOUT_FILENO);
        }
        dup2(fds[1], which);
        execv(path, argv);
        _exit(127);
    }
    close(fds[1]);
    *fd = fds[0];
    return pid;
}

/* Closes what spawn_captured opened (f, or fd when fdopen failed) and waits:
 * whether the program exited 0. */
static bool finish_captured(pid_t pid, FILE *f, int fd)
{
    if (f)
        fclose(f);
    else
        close(fd);
    int status;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

/* Runs `path --describe` and parses its listing; false when it is not a stage. */
static bool run_describe(const char *path, describe *d)
{
    char *argv[] = {(char *)path, "--describe", NULL};
    int fd;
    pid_t pid = spawn_captured(path, argv, STDOUT_FILENO, &fd);
    if (pid < 0)
        return false;
    FILE *f = fdopen(fd, "r");
    char line[512];
    bool header = false;
    while (f && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = '\0';
        char a[64], b[64], c[64], e[64];
        int n;
        if (!header) {
            header = !strcmp(line, "spikesynth-describe 1");
            continue;
        }
        if ((n = sscanf(line, "port %63s %63s %63s %63s", a, b, c, e)) >= 2 && d->n_ports < 64) {
            desc_port *p = &d->ports[d->n_ports++];
            snprintf(p->name, sizeof p->name, "%s", a);
            p->out = !strcmp(b, "out");
            p->optional = (n > 2 && !strcmp(c, "optional")) || (n > 3 && !strcmp(e, "optional"));
            p->feedback = (n > 2 && !strcmp(c, "feedback")) || (n > 3 && !strcmp(e, "feedback"));
        } else if (sscanf(line, "option %63s %63s", a, b) == 2 && d->n_options < 128) {
            snprintf(d->options[d->n_options].name, 64, "%s", a);
            snprintf(d->options[d->n_options].type, 64, "%s", b);
            d->n_options++;
        }
    }
    return finish_captured(pid, f, fd) && header;
}

/* Runs `path ARGS --preflight`: the stage parses and range-checks every value
 * and checks the paths it would read and write (core/preflight.h), without
 * starting. Its error line, less the "PROGRAM: error: " prefix, becomes the
 * stage's problem. */
static void run_preflight(pipeline *p, pipeline_stage *s, const char *path)
{
    char **argv = calloc(s->n_args + 3, sizeof *argv);
    if (!argv)
        return;
    argv[0] = (char *)path;
    for (size_t i = 0; i < s->n_args; i++)
        argv[i + 1] = s->args[i];
    argv[s->n_args + 1] = "--preflight";
    int fd;
    pid_t pid = spawn_captured(path, argv, STDERR_FILENO, &fd);
    free(argv);
    if (pid < 0)
        return;
    char line[1024], last[1024] = "";
    FILE *f = fdopen(fd, "r");
    int nr;
    while (f && fgets(line, sizeof line, f))
        if (strstr(line, "error: "))
            snprintf(last, sizeof last, "%s", line);
        else if ((nr = preflight_read_resume(line, s->resume)) >= 0)
            s->n_resume = nr;
    if (finish_captured(pid, f, fd))
        return;
    last[strcspn(last, "\n")] = '\0';
    const char *msg = strstr(last, "error: ") ? strstr(last, "error: ") + 7 : last;
    /* the stage names itself in its messages: one prefix, ours */
    size_t n = strlen(s->program);
    if (!strncmp(msg, s->program, n) && !strncmp(msg + n, ": ", 2))
        msg += n + 2;
    problem(p, s->line, "stage %s: %s", s->name, *msg ? msg : "--preflight failed");
}

/* "enc holds 30, 27; dec holds 24, 21" */
static void resume_lists(const pipeline *p, char *buf, size_t cap)
{
    size_t at = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < p->n_stages && at < cap; i++) {
        const pipeline_stage *s = &p->stages[i];
        for (int k = 0; k < s->n_resume && at < cap; k++)
            at += (size_t)snprintf(buf + at, cap - at, "%s%s%s %lld", k ? "," : at ? "; " : "",
                                   k ? "" : s->name, k ? "" : " holds", (long long)s->resume[k]);
    }
}

/* The newest batch count the checkpoints of every resuming stage hold (all
 * stages must go on from one batch boundary), given to every --resume=true. */
static void settle_resume(pipeline *p)
{
    int64_t lists[64][PREFLIGHT_RESUME_MAX];
    int np[64], n = 0, line = 0;
    for (size_t i = 0; i < p->n_stages && n < 64; i++)
        if (p->stages[i].n_resume > 0) {
            memcpy(lists[n], p->stages[i].resume, sizeof lists[n]);
            np[n++] = p->stages[i].n_resume;
            line = line ? line : p->stages[i].line;
        }
    if (n == 0)
        return;
    const int64_t k = preflight_newest_common((const int64_t(*)[PREFLIGHT_RESUME_MAX])lists, np, n);
    if (k <= 0) {
        char held[512];
        resume_lists(p, held, sizeof held);
        problem(p, line, "resume=true: the training stages' checkpoints are not of one batch (%s): no "
                "consistent set to resume from", held);
        return;
    }
    p->resume_batches = k;
    for (size_t i = 0; i < p->n_stages; i++)
        for (size_t a = 0; a < p->stages[i].n_args; a++) {
            char **arg = &p->stages[i].args[a], *now = NULL;
            if (strcmp(*arg, "--resume=true") || asprintf(&now, "--resume=%lld", (long long)k) < 0)
                continue;
            free(*arg);
            *arg = now;
        }
}

static const desc_port *find_port(const describe *d, const char *name)
{
    for (size_t i = 0; i < d->n_ports; i++)
        if (!strcmp(d->ports[i].name, name))
            return &d->ports[i];
    return NULL;
}

static const desc_option *find_option(const describe *d, const char *name, size_t n)
{
    for (size_t i = 0; i < d->n_options; i++)
        if (strlen(d->options[i].name) == n && !strncmp(d->options[i].name, name, n))
            return &d->options[i];
    return NULL;
}

static void check_args(pipeline *p, const pipeline_stage *s, const describe *d)
{
    static const char *reserved[] = {"name", "in", "out", "control", "run-id", "help", "version", "describe",
                                     "preflight"};
    for (size_t i = 0; i < s->n_args; i++) {
        const char *a = s->args[i];
        if (strncmp(a, "--", 2) || !a[2]) {
            problem(p, s->line, "stage %s: unexpected argument '%s' (options are --name=value)",
                    s->name, a);
            continue;
        }
        const char *name = a + 2, *eq = strchr(name, '=');
        size_t n = eq ? (size_t)(eq - name) : strlen(name);
        bool is_reserved = false;
        for (size_t r = 0; r < sizeof reserved / sizeof *reserved; r++)
            if (strlen(reserved[r]) == n && !strncmp(reserved[r], name, n))
                is_reserved = true;
        if (is_reserved) {
            problem(p, s->line, "stage %s: --%.*s is set by spikesynth run", s->name, (int)n, name);
            continue;
        }
        const desc_option *o = find_option(d, name, n);
        if (!o && !eq && n > 3 && !strncmp(name, "no-", 3)) {
            o = find_option(d, name + 3, n - 3);
            if (o && strcmp(o->type, "bool"))
                o = NULL;
            if (o)
                continue;
        }
        if (!o) {
            problem(p, s->line, "stage %s: %s has no option --%.*s (see bin/%s --help)", s->name,
                    s->program, (int)n, name, s->program);
            continue;
        }
        if (!eq && strcmp(o->type, "bool")) {
            if (i + 1 < s->n_args)
                i++; /* --opt value */
            else
                problem(p, s->line, "stage %s: option --%s needs a value", s->name, o->name);
        }
    }
}

/* Depth-first search for a cycle through forward (non-feedback) links. */
static bool dfs(const pipeline *p, size_t v, int *state, size_t *path, size_t depth, size_t *cycle_link)
{
    state[v] = 1;
    for (size_t i = 0; i < p->n_links; i++) {
        const pipeline_link *l = &p->links[i];
        if (l->from != v || l->feedback)
            continue;
        path[depth] = i;
        if (state[l->to] == 1) {
            *cycle_link = i;
            return true;
        }
        if (state[l->to] == 0 && dfs(p, l->to, state, path, depth + 1, cycle_link))
            return true;
    }
    state[v] = 2;
    return false;
}

int pipeline_check(pipeline *self, const char *bin_dir)
{
    pipeline *p = self;
    for (size_t i = 0; i < p->n_errors; i++)
        free(p->errors[i]);
    p->n_errors = 0;
    describe *d = calloc(p->n_stages ? p->n_stages : 1, sizeof *d);
    if (!d)
        return err_set("out of memory");
    /* describe each stage's program (the same program is asked again: it is cheap) */
    for (size_t i = 0; i < p->n_stages; i++) {
        pipeline_stage *s = &p->stages[i];
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", bin_dir, s->program);
        if (access(path, X_OK) != 0) {
            problem(p, s->line, "stage %s: unknown stage program '%s' (no %s)", s->name, s->program, path);
            continue;
        }
        if (!(d[i].ok = run_describe(path, &d[i]))) {
            problem(p, s->line, "stage %s: %s --describe failed (not a spikesynth stage?)", s->name, path);
            continue;
        }
        size_t before = p->n_errors;
        check_args(p, s, &d[i]);
        s->n_resume = -1;
        if (p->n_errors == before)
            run_preflight(p, s, path);
    }
    if (p->n_errors == 0)
        settle_resume(p);
    /* ports: exist, right direction, at most one link each */
    for (size_t i = 0; i < p->n_links; i++) {
        pipeline_link *l = &p->links[i];
        const pipeline_stage *a = &p->stages[l->from], *b = &p->stages[l->to];
        const desc_port *pa = d[l->from].ok ? find_port(&d[l->from], l->from_port) : NULL;
        const desc_port *pb = d[l->to].ok ? find_port(&d[l->to], l->to_port) : NULL;
        if (d[l->from].ok && (!pa || !pa->out))
            problem(p, l->line, "%s (%s) has no out-port '%s'%s", a->name, a->program, l->from_port,
                    pa ? " (it is an in-port)" : "");
        if (d[l->to].ok && (!pb || pb->out))
            problem(p, l->line, "%s (%s) has no in-port '%s'%s", b->name, b->program, l->to_port,
                    pb ? " (it is an out-port)" : "");
        l->feedback = pb && pb->feedback;
        for (size_t j = 0; j < i; j++) {
            const pipeline_link *m = &p->links[j];
            if (m->from == l->from && !strcmp(m->from_port, l->from_port))
                problem(p, l->line, "out-port %s.%s is already linked at line %d (a port carries one "
                        "link)", a->name, l->from_port, m->line);
            if (m->to == l->to && !strcmp(m->to_port, l->to_port))
                problem(p, l->line, "in-port %s.%s is already linked at line %d (a port carries one "
                        "link)", b->name, l->to_port, m->line);
        }
    }
    /* dangling: every required port has a link */
    for (size_t i = 0; i < p->n_stages; i++) {
        if (!d[i].ok)
            continue;
        for (size_t k = 0; k < d[i].n_ports; k++) {
            const desc_port *dp = &d[i].ports[k];
            bool linked = false;
            for (size_t j = 0; j < p->n_links; j++) {
                const pipeline_link *l = &p->links[j];
                if ((dp->out && l->from == i && !strcmp(l->from_port, dp->name)) ||
                    (!dp->out && l->to == i && !strcmp(l->to_port, dp->name)))
                    linked = true;
            }
            if (!linked && !dp->optional)
                problem(p, p->stages[i].line, "stage %s: %s-port '%s' is not linked", p->stages[i].name,
                        dp->out ? "out" : "in", dp->name);
        }
    }
    /* cycles: only a link into a feedback port may close one */
    int *state = calloc(p->n_stages, sizeof *state);
    size_t *path = calloc(p->n_links + 1, sizeof *path);
    if (state && path)
        for (size_t v = 0; v < p->n_stages; v++) {
            size_t at = 0;
            if (state[v] == 0 && dfs(p, v, state, path, 0, &at)) {
                const pipeline_link *l = &p->links[at];
                problem(p, l->line, "link %s.%s -> %s.%s closes a cycle; only a link into a feedback "
                        "port (training errors) may", p->stages[l->from].name, l->from_port,
                        p->stages[l->to].name, l->to_port);
                break;
            }
        }
    free(state);
    free(path);
    /* sources and sinks, for the runner */
    for (size_t i = 0; i < p->n_stages; i++) {
        p->stages[i].source = p->stages[i].sink = true;
        for (size_t j = 0; j < p->n_links; j++) {
            if (p->links[j].to == i)
                p->stages[i].source = false;
            if (p->links[j].from == i && !p->links[j].feedback)
                p->stages[i].sink = false;
        }
    }
    free(d);
    if (p->n_errors == 0)
        return 0;
    if (p->n_errors == 1)
        return err_set("%s", p->errors[0]);
    return err_set("%s (and %zu more)", p->errors[0], p->n_errors - 1);
}
