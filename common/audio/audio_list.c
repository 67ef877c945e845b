/* audio_list: gathering recordings from files, directories and lists; FSDD
 * names (see include/audio_list.h). Invariant: paths[0..n) are owned strings. */
#include "audio/audio_list.h"

#include "core/err.h"

#include <ctype.h>
#include <dirent.h>
#include <sndfile.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

audio_list *audio_list_new(void)
{
    audio_list *self = calloc(1, sizeof *self);
    if (!self)
        err_set("audio list: out of memory");
    return self;
}

void audio_list_destroy(audio_list **self_p)
{
    audio_list *self = self_p ? *self_p : NULL;
    if (!self)
        return;
    for (size_t i = 0; i < self->n; i++)
        free(self->paths[i]);
    free(self->paths);
    free(self);
    *self_p = NULL;
}

int audio_list_push(audio_list *self, const char *path)
{
    if (self->n == self->cap) {
        size_t cap = self->cap ? 2 * self->cap : 256;
        char **p = realloc(self->paths, cap * sizeof *p);
        if (!p)
            return err_set("audio list: out of memory");
        self->paths = p;
        self->cap = cap;
    }
    if (!(self->paths[self->n] = strdup(path)))
        return err_set("audio list: out of memory");
    self->n++;
    return 0;
}

static bool is_wav_name(const char *name)
{
    size_t l = strlen(name);
    return l > 4 && !strcasecmp(name + l - 4, ".wav");
}

/* Whether name ends in the extension of a format libsndfile reads (wav,
 * flac, ogg, aiff, au, ...: asked of the library, so a build with more
 * codecs takes more). */
static bool is_audio_name(const char *name)
{
    const char *dot = strrchr(name, '.');
    if (!dot || dot == name)
        return false;
    if (!strcasecmp(dot + 1, "ogg") || !strcasecmp(dot + 1, "opus") || !strcasecmp(dot + 1, "aif"))
        return true; /* libsndfile names them oga and aiff */
    int count = 0;
    sf_command(NULL, SFC_GET_FORMAT_MAJOR_COUNT, &count, sizeof count);
    for (int i = 0; i < count; i++) {
        SF_FORMAT_INFO info = {.format = i};
        if (sf_command(NULL, SFC_GET_FORMAT_MAJOR, &info, sizeof info) == 0 && info.extension &&
            !strcasecmp(dot + 1, info.extension))
            return true;
    }
    return false;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Appends dir's audio files (symlinks followed), sorted by name. */
static int add_dir(audio_list *self, const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return err_set("input %s: cannot open directory: %s", dir, strerror(errno));
    size_t first = self->n, dl = strlen(dir);
    int rc = 0;
    for (struct dirent *e; (e = readdir(d));) {
        if (!is_audio_name(e->d_name))
            continue;
        char *p = malloc(dl + strlen(e->d_name) + 2);
        if (!p) {
            rc = err_set("audio list: out of memory");
            break;
        }
        sprintf(p, "%s%s%s", dir, dl && dir[dl - 1] == '/' ? "" : "/", e->d_name);
        struct stat st;
        if (stat(p, &st) == 0 && !S_ISREG(st.st_mode)) {
            free(p);
            continue;
        }
        rc = audio_list_push(self, p);
        free(p);
        if (rc)
            break;
    }
    closedir(d);
    if (rc)
        return -1;
    if (self->n == first)
        return err_set("input %s: no audio files in this directory (wav, flac, ogg, aiff, ...: the "
                       "formats libsndfile reads)", dir);
    qsort(self->paths + first, self->n - first, sizeof *self->paths, cmp_str);
    return 0;
}

static int add_list(audio_list *self, const char *list)
{
    FILE *f = fopen(list, "r");
    if (!f)
        return err_set("input @%s: cannot open the list: %s", list, strerror(errno));
    char *line = NULL;
    size_t cap = 0, lineno = 0, first = self->n;
    ssize_t len;
    int rc = 0;
    while (rc == 0 && (len = getline(&line, &cap, f)) >= 0) {
        lineno++;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = '\0';
        if (!len || line[0] == '#')
            continue;
        struct stat st;
        if (stat(line, &st) == 0 && S_ISDIR(st.st_mode))
            rc = add_dir(self, line);
        else
            rc = audio_list_push(self, line);
        if (rc)
            err_wrap("input @%s line %zu", list, lineno);
    }
    if (rc == 0 && ferror(f))
        rc = err_set("input @%s: read failed", list);
    if (rc == 0 && self->n == first)
        rc = err_set("input @%s: the list names no file", list);
    free(line);
    fclose(f);
    return rc;
}

int audio_list_add(audio_list *self, const char *input)
{
    if (input[0] == '@')
        return add_list(self, input + 1);
    struct stat st;
    if (stat(input, &st) != 0)
        return err_set("input %s: %s", input, strerror(errno));
    if (S_ISDIR(st.st_mode))
        return add_dir(self, input);
    return audio_list_push(self, input);
}

int audio_list_split_parse(const char *name, audio_list_split *split)
{
    if (!strcmp(name, "all"))
        *split = AUDIO_LIST_ALL;
    else if (!strcmp(name, "train"))
        *split = AUDIO_LIST_TRAIN;
    else if (!strcmp(name, "test"))
        *split = AUDIO_LIST_TEST;
    else
        return err_set("split '%s': use train, test or all", name);
    return 0;
}

/* A run of decimal digits at *s (at most 9, so it fits an int); advances *s. */
static bool number(const char **s, int *v)
{
    int n = 0, x = 0;
    while (isdigit((unsigned char)**s) && n < 10) {
        x = x * 10 + (**s - '0');
        (*s)++;
        n++;
    }
    if (n == 0 || n > 9)
        return false;
    *v = x;
    return true;
}

bool audio_list_fsdd_name(const char *path, int *digit, int *index)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t l = strlen(base);
    if (!is_wav_name(base))
        return false;
    const char *s = base, *stop = base + l - 4; /* at ".wav" */
    int d, i;
    if (!number(&s, &d) || *s != '_')
        return false;
    const char *last = NULL; /* the last '_' before .wav */
    for (const char *q = s + 1; q < stop; q++)
        if (*q == '_')
            last = q;
    if (!last || last == s + 1) /* no speaker */
        return false;
    const char *t = last + 1;
    if (!number(&t, &i) || t != stop)
        return false;
    if (digit)
        *digit = d;
    if (index)
        *index = i;
    return true;
}

size_t audio_list_speaker(const char *path, char *buf, size_t cap)
{
    if (cap)
        *buf = '\0';
    if (!audio_list_fsdd_name(path, NULL, NULL))
        return 0;
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    const char *first = strchr(base, '_'), *last = strrchr(base, '_');
    size_t len = (size_t)(last - first - 1);
    if (len >= cap)
        return 0;
    memcpy(buf, first + 1, len);
    buf[len] = '\0';
    return len;
}

int audio_list_label(const char *path)
{
    int d;
    return audio_list_fsdd_name(path, &d, NULL) ? d : -1;
}

int audio_list_filter(audio_list *self, audio_list_split split, size_t limit)
{
    /* check every name first, so that a failure leaves the list whole */
    for (size_t i = 0; split != AUDIO_LIST_ALL && i < self->n; i++)
        if (!audio_list_fsdd_name(self->paths[i], NULL, NULL))
            return err_set("%s: --split %s needs FSDD names {digit}_{speaker}_{index}.wav",
                           self->paths[i], split == AUDIO_LIST_TEST ? "test" : "train");
    size_t kept = 0;
    for (size_t i = 0; i < self->n; i++) {
        int index = 0;
        bool keep = split == AUDIO_LIST_ALL ||
                    (audio_list_fsdd_name(self->paths[i], NULL, &index) &&
                     (index <= AUDIO_LIST_TEST_INDEX_MAX) == (split == AUDIO_LIST_TEST));
        if (keep && limit && kept >= limit)
            keep = false;
        if (keep)
            self->paths[kept++] = self->paths[i];
        else
            free(self->paths[i]);
    }
    self->n = kept;
    return 0;
}
