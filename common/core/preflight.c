/* preflight: path options checked before any work (see include/core/preflight.h).
 * Checks only look (access, stat, statvfs); preflight_prepare is the one that
 * creates directories. Invariant of a check: room[] holds each file system met
 * so far with the bytes the paths checked on it need together. */
#include "core/preflight.h"

#include "core/dir.h"
#include "core/err.h"

#include <ctype.h>
#include <errno.h>
#include <libgen.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_FS 16

typedef struct {
    unsigned long fsid;
    uint64_t need;
} fs_room;

typedef struct {
    fs_room room[MAX_FS];
    int n;
} walk_ctx;

typedef int path_fn(const option_spec *spec, const char *path, const options *o, walk_ctx *w);

static int (*stat_fs)(const char *path, struct statvfs *buf) = statvfs;

void preflight_set_statvfs(int (*fn)(const char *path, struct statvfs *buf))
{
    stat_fs = fn ? fn : statvfs;
}

/* The directory a written path goes into ("." for a bare name). */
static void parent_of(const char *path, char *buf, size_t cap)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s", path);
    snprintf(buf, cap, "%s", dirname(tmp));
}

static int check_read(const option_spec *spec, const char *path)
{
    if (!strcmp(path, "-") && spec->type == OPT_LIST)
        return 0; /* stdin */
    if (path[0] == '@' && spec->type == OPT_LIST)
        path++;
    if (access(path, R_OK) < 0)
        return err_set("option --%s: %s: %s", spec->name, path,
                       errno == ENOENT ? "no such file or directory" : strerror(errno));
    return 0;
}

static double mib(uint64_t bytes) { return (double)bytes / (1 << 20); }

/* The file system of dir (an existing directory) must hold bytes more, beside
 * what the paths checked before on it need. */
static int check_free(const option_spec *spec, const char *path, const char *dir, uint64_t bytes,
                      walk_ctx *w)
{
    struct statvfs vfs;
    if (stat_fs(dir, &vfs) != 0)
        return 0; /* no figure: nothing to judge by */
    fs_room *r = NULL;
    for (int i = 0; i < w->n && !r; i++)
        if (w->room[i].fsid == vfs.f_fsid)
            r = &w->room[i];
    if (!r && w->n < MAX_FS)
        r = &w->room[w->n++], *r = (fs_room){vfs.f_fsid, 0};
    uint64_t need = (r ? r->need : 0) + bytes, avail = (uint64_t)vfs.f_bavail * vfs.f_frsize;
    if (r)
        r->need = need;
    if (need < PREFLIGHT_MIN_FREE)
        need = PREFLIGHT_MIN_FREE;
    if (avail >= need)
        return 0;
    return err_set("option --%s: %s: %.1f MiB free on the file system of %s, %.1f MiB needed%s",
                   spec->name, path, mib(avail), dir, mib(need),
                   need > bytes ? " (with the other files written there, and a margin)" : "");
}

/* The nearest existing directory at or above dir must take new files. */
static int check_room(const option_spec *spec, const char *path, const char *dir, const options *o,
                      walk_ctx *w)
{
    char at[4096];
    snprintf(at, sizeof at, "%s", dir);
    struct stat st;
    while (stat(at, &st) < 0) {
        if (errno != ENOENT || !strcmp(at, "/") || !strcmp(at, "."))
            return err_set("option --%s: %s: cannot reach %s: %s", spec->name, path, at, strerror(errno));
        char up[4096];
        parent_of(at, up, sizeof up);
        snprintf(at, sizeof at, "%s", up);
    }
    if (!S_ISDIR(st.st_mode))
        return err_set("option --%s: %s: %s is not a directory", spec->name, path, at);
    if (access(at, W_OK | X_OK) < 0)
        return err_set("option --%s: %s: directory %s is not writable: %s", spec->name, path, at,
                       strerror(errno));
    return check_free(spec, path, at, spec->bytes ? spec->bytes(o) : PREFLIGHT_UNKNOWN_BYTES, w);
}

static int check_one(const option_spec *spec, const char *path, const options *o, walk_ctx *w)
{
    if (spec->path & OPT_PATH_READ)
        return check_read(spec, path);
    struct stat st;
    bool exists = stat(path, &st) == 0;
    if (exists && (spec->path & OPT_PATH_WRITE) && S_ISDIR(st.st_mode))
        return err_set("option --%s: %s is a directory, not a file", spec->name, path);
    if (exists && (spec->path & OPT_PATH_DIR) && !S_ISDIR(st.st_mode))
        return err_set("option --%s: %s is not a directory", spec->name, path);
    if (exists && (spec->path & OPT_PATH_KEEP) && !options_bool(o, "force"))
        return err_set("option --%s: %s exists (trained before, perhaps otherwise): give --force "
                       "(a pipeline's force=true) to replace it, or another path", spec->name, path);
    char dir[4096];
    if (spec->path & OPT_PATH_DIR)
        snprintf(dir, sizeof dir, "%s", path);
    else
        parent_of(path, dir, sizeof dir);
    return check_room(spec, path, dir, o, w);
}

static int make_parent(const option_spec *spec, const char *path, const options *o, walk_ctx *w)
{
    (void)o;
    (void)w;
    char dir[4096];
    if (spec->path & OPT_PATH_DIR)
        snprintf(dir, sizeof dir, "%s", path);
    else
        parent_of(path, dir, sizeof dir);
    return dir_make(dir) < 0 ? err_wrap("option --%s", spec->name) : 0;
}

/* fn on every path a spec names (each suffix of a prefix). */
static int each_path(const option_spec *spec, const char *value, const options *o, path_fn *fn,
                     walk_ctx *w)
{
    if (!*value)
        return 0;
    if (!spec->suffixes)
        return fn(spec, value, o, w);
    for (const char *s = spec->suffixes;;) {
        size_t n = strcspn(s, "|");
        char path[4096];
        snprintf(path, sizeof path, "%s%.*s", value, (int)n, s);
        if (fn(spec, path, o, w) < 0)
            return -1;
        if (!s[n])
            return 0;
        s += n + 1;
    }
}

static int walk(const options *o, unsigned flags, path_fn *fn)
{
    walk_ctx w = {.n = 0};
    for (size_t i = 0; i < options_n_specs(o); i++) {
        const option_spec *spec = options_spec_at(o, i);
        if (!(spec->path & flags))
            continue;
        if (spec->type == OPT_LIST) {
            for (size_t k = 0; k < options_count(o, spec->name); k++)
                if (each_path(spec, options_item(o, spec->name, k), o, fn, &w) < 0)
                    return -1;
        } else if (spec->type == OPT_STRING && each_path(spec, options_str(o, spec->name), o, fn, &w) < 0) {
            return -1;
        }
    }
    return 0;
}

int preflight_check(const options *o)
{
    return walk(o, OPT_PATH_READ | OPT_PATH_WRITE | OPT_PATH_DIR, check_one);
}

int preflight_prepare(const options *o)
{
    return walk(o, OPT_PATH_WRITE | OPT_PATH_DIR, make_parent);
}

#define RESUME_TAG "spikesynth-resume"

void preflight_say_resume(const int64_t *batches, int n)
{
    fprintf(stderr, RESUME_TAG);
    for (int i = 0; i < n; i++)
        fprintf(stderr, " %lld", (long long)batches[i]);
    fprintf(stderr, "\n");
}

int preflight_read_resume(const char *line, int64_t *batches)
{
    size_t tag = strlen(RESUME_TAG);
    if (strncmp(line, RESUME_TAG, tag) || (line[tag] && !isspace((unsigned char)line[tag])))
        return -1;
    int n = 0;
    for (const char *p = line + tag; n < PREFLIGHT_RESUME_MAX;) {
        char *end;
        long long v = strtoll(p, &end, 10);
        if (end == p)
            break;
        batches[n++] = v;
        p = end;
    }
    return n;
}

int64_t preflight_newest_common(const int64_t (*lists)[PREFLIGHT_RESUME_MAX], const int *np, int n)
{
    int64_t best = -1;
    for (int k = 0; n > 0 && k < np[0]; k++) {
        bool everywhere = true;
        for (int i = 1; i < n && everywhere; i++) {
            bool here = false;
            for (int j = 0; j < np[i]; j++)
                here |= lists[i][j] == lists[0][k];
            everywhere = here;
        }
        if (everywhere && lists[0][k] > best)
            best = lists[0][k];
    }
    return best;
}
