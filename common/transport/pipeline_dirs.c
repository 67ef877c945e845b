/* pipeline_dirs: the pipeline search list of the runner (see
 * include/transport/pipeline_dirs.h). Directories that resolve to the same
 * place (an install into the configured PREFIX) are kept once, so a list
 * shows each pipeline once and an error names each directory once. */
#include "transport/pipeline_dirs.h"

#include "core/build_info.h"
#include "core/err.h"

#include <dirent.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Kept resolved where it exists ("bin/../pipelines" reads as the directory
 * it is), so that two names for one place are one entry. */
static void add_dir(pipeline_dirs *self, const char *fmt, const char *base)
{
    char dir[sizeof self->dirs[0]], real[PATH_MAX];
    snprintf(dir, sizeof dir, fmt, base);
    if (realpath(dir, real))
        snprintf(dir, sizeof dir, "%s", real);
    for (size_t i = 0; i < self->n; i++)
        if (!strcmp(self->dirs[i], dir))
            return;
    if (self->n < PIPELINE_DIRS_MAX)
        snprintf(self->dirs[self->n++], sizeof self->dirs[0], "%s", dir);
}

void pipeline_dirs_init(pipeline_dirs *self, const char *bin_dir)
{
    self->n = 0;
    add_dir(self, "%s/../pipelines", bin_dir);
    add_dir(self, "%s/../share/spikesynth/pipelines", bin_dir);
    add_dir(self, "%s", build_info_pipelinedir());
}

static bool is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static bool ends_with(const char *s, const char *tail)
{
    size_t n = strlen(s), t = strlen(tail);
    return n >= t && !strcmp(s + n - t, tail);
}

int pipeline_dirs_find(const pipeline_dirs *self, const char *arg, char *path, size_t cap)
{
    if (strchr(arg, '/') || is_file(arg)) {
        snprintf(path, cap, "%s", arg);
        return 0;
    }
    const char *ext = ends_with(arg, ".pipe") ? "" : ".pipe";
    char searched[PIPELINE_DIRS_MAX * 4100] = "";
    size_t used = 0;
    for (size_t i = 0; i < self->n; i++) {
        snprintf(path, cap, "%s/%s%s", self->dirs[i], arg, ext);
        if (is_file(path))
            return 0;
        used += (size_t)snprintf(searched + used, sizeof searched - used, "%s%s", i ? ", " : "",
                                 self->dirs[i]);
    }
    return err_set("no pipeline '%s': not a file here, nor %s%s in %s (spikesynth list names them)",
                   arg, arg, ext, searched);
}

/* The summary of a pipeline file: its header comment from "# NAME: " to the
 * end of the first sentence or clause (". ", ": " or the paragraph's end). */
static void summary_of(const char *path, const char *name, char *buf, size_t cap)
{
    char line[512], head[128];
    size_t n = 0;
    buf[0] = '\0';
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    snprintf(head, sizeof head, "# %s: ", name);
    for (bool first = true; fgets(line, sizeof line, f); first = false) {
        line[strcspn(line, "\n")] = '\0';
        const char *text = first ? (strncmp(line, head, strlen(head)) ? NULL : line + strlen(head))
                                 : (!strncmp(line, "# ", 2) && line[2] != ' ' ? line + 2 : NULL);
        if (!text)
            break;
        n += (size_t)snprintf(buf + n, cap - n, "%s%s", n ? " " : "", text);
        if (n >= cap)
            break;
    }
    fclose(f);
    size_t end = strcspn(buf, ".:;");
    while (buf[end] && buf[end + 1] && buf[end + 1] != ' ')
        end += 1 + strcspn(buf + end + 1, ".:;");
    buf[end] = '\0';
}

typedef struct {
    char *name, *path;
} found;

static int by_name(const void *a, const void *b)
{
    return strcmp(((const found *)a)->name, ((const found *)b)->name);
}

/* Adds dir's NAME.pipe files whose names were not seen yet (at most cap in all). */
static int collect(const char *dir, found *all, size_t *n, size_t cap)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0; /* a directory that does not exist holds no pipelines */
    int rc = 0;
    for (struct dirent *e; rc == 0 && *n < cap && (e = readdir(d));) {
        if (!ends_with(e->d_name, ".pipe") || !strcmp(e->d_name, ".pipe"))
            continue;
        size_t len = strlen(e->d_name) - strlen(".pipe");
        bool seen = false;
        for (size_t i = 0; i < *n && !seen; i++)
            seen = strlen(all[i].name) == len && !strncmp(all[i].name, e->d_name, len);
        if (seen)
            continue;
        found *f = &all[*n];
        if (!(f->name = strndup(e->d_name, len)) || asprintf(&f->path, "%s/%s", dir, e->d_name) < 0) {
            free(f->name);
            rc = err_set("listing %s: out of memory", dir);
        } else {
            (*n)++;
        }
    }
    closedir(d);
    return rc;
}

int pipeline_dirs_list(const pipeline_dirs *self, FILE *out)
{
    enum { CAP = 1024 };
    found all[CAP];
    size_t n = 0;
    int rc = 0;
    for (size_t i = 0; i < self->n && rc == 0; i++)
        rc = collect(self->dirs[i], all, &n, CAP);
    qsort(all, n, sizeof *all, by_name);
    for (size_t i = 0; i < n && rc == 0; i++) {
        char summary[512];
        summary_of(all[i].path, all[i].name, summary, sizeof summary);
        fprintf(out, "  %-20s %s\n", all[i].name, summary);
    }
    for (size_t i = 0; i < n; i++) {
        free(all[i].name);
        free(all[i].path);
    }
    return rc < 0 ? -1 : (int)n;
}
