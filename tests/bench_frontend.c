/* bench_frontend: times the audio front ends over a directory of recordings,
 * on one core, and reports the utterance lengths in frames (JSON on stdout).
 * Not a unit test (the Makefile does not build it); docs/frontend.md has the
 * command line that builds and runs it.
 *
 *   bench_frontend DIR [--front cochlea|mel] [--fs HZ] [--decimation N]
 *                      [--frames N] [--quality medium|best]
 * --fs 0 keeps the files' rate; --decimation is the cochlea's decimation or the
 * mel hop; --frames the cochleagram length (1500). */
#include "audio/audio.h"
#include "audio/cochlea.h"
#include "audio/cochleagram.h"
#include "core/clock.h"
#include "core/err.h"
#include "audio/melbank.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int cmp_size(const void *a, const void *b)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s DIR [--front cochlea|mel] [--fs HZ] [--decimation N] "
                        "[--frames N] [--quality medium|best]\n", argv[0]);
        return 2;
    }
    const char *dir = argv[1], *front = "cochlea";
    double fs = 0;
    int dec = 10;
    size_t out_frames = COCHLEAGRAM_PAPER_FRAMES;
    enum audio_quality q = AUDIO_QUALITY_MEDIUM;
    for (int i = 2; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--front"))
            front = argv[i + 1];
        else if (!strcmp(argv[i], "--fs"))
            fs = atof(argv[i + 1]);
        else if (!strcmp(argv[i], "--decimation"))
            dec = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--frames"))
            out_frames = (size_t)atol(argv[i + 1]);
        else if (!strcmp(argv[i], "--quality"))
            q = strcmp(argv[i + 1], "best") ? AUDIO_QUALITY_MEDIUM : AUDIO_QUALITY_BEST;
        else {
            fprintf(stderr, "unknown option %s\n", argv[i]);
            return 2;
        }
    }
    int mel = !strcmp(front, "mel");
    DIR *d = opendir(dir);
    if (!d) {
        perror(dir);
        return 1;
    }
    size_t n_files = 0, cap = 0;
    char **files = NULL;
    for (struct dirent *e; (e = readdir(d));) {
        size_t l = strlen(e->d_name);
        if (l < 5 || strcmp(e->d_name + l - 4, ".wav"))
            continue;
        if (n_files == cap) {
            cap = cap ? 2 * cap : 256;
            files = realloc(files, cap * sizeof *files);
        }
        size_t pl = strlen(dir) + l + 2;
        files[n_files] = malloc(pl);
        snprintf(files[n_files++], pl, "%s/%s", dir, e->d_name);
    }
    closedir(d);
    qsort(files, n_files, sizeof *files, cmp_str);

    audio_opts opts = {.target_fs = fs, .quality = q};
    cochlea *c = NULL;
    melbank *m = NULL;
    double rate = 0;
    int n_ch = 0;
    size_t *lens = calloc(n_files, sizeof *lens);
    float *gram = NULL;
    double t_read = 0, t_front = 0, t_fit = 0, seconds = 0, nonzero = 0;
    for (size_t i = 0; i < n_files; i++) {
        double t0 = clock_now();
        audio *a = audio_read(files[i], &opts);
        if (!a) {
            fprintf(stderr, "%s\n", err_msg());
            return 1;
        }
        double t1 = clock_now();
        if (!c && !m) {
            rate = a->fs;
            if (mel) {
                melbank_params p = melbank_params_default();
                p.hop = dec;
                m = melbank_new(rate, &p);
                n_ch = m ? melbank_n_channels(m) : 0;
            } else {
                cochlea_params p = cochlea_params_default();
                p.decimation = dec;
                c = cochlea_new(rate, &p);
                n_ch = c ? cochlea_n_channels(c) : 0;
            }
            if (!n_ch) {
                fprintf(stderr, "%s\n", err_msg());
                return 1;
            }
            gram = malloc(out_frames * (size_t)n_ch * sizeof *gram);
        }
        if (a->fs != rate) {
            fprintf(stderr, "%s: rate %g differs from %g\n", files[i], a->fs, rate);
            return 1;
        }
        const float *o;
        size_t nfr;
        int rc;
        if (mel) {
            melbank_reset(m);
            rc = melbank_process(m, a->samples, a->n, &o, &nfr);
        } else {
            cochlea_reset(c);
            rc = cochlea_process(c, a->samples, a->n, &o, &nfr);
        }
        double t2 = clock_now();
        if (rc || cochleagram_make(o, nfr, n_ch, gram, out_frames)) {
            fprintf(stderr, "%s: %s\n", files[i], err_msg());
            return 1;
        }
        double t3 = clock_now();
        for (size_t k = 0; k < out_frames * (size_t)n_ch; k++)
            nonzero += gram[k] > 0;
        t_read += t1 - t0;
        t_front += t2 - t1;
        t_fit += t3 - t2;
        seconds += (double)a->n / a->fs;
        lens[i] = nfr;
        audio_destroy(&a);
    }
    qsort(lens, n_files, sizeof *lens, cmp_size);
    size_t within = 0;
    for (size_t i = 0; i < n_files; i++)
        within += lens[i] <= out_frames;
#define PCT(p) lens[(size_t)((double)(n_files - 1) * (p) / 100.0 + 0.5)]
    printf("{\"front\": \"%s\", \"fs\": %g, \"channels\": %d, \"decimation\": %d, "
           "\"files\": %zu, \"audio_seconds\": %.1f,\n"
           " \"time_read_s\": %.3f, \"time_front_s\": %.3f, \"time_fit_s\": %.3f, "
           "\"realtime_factor\": %.0f,\n"
           " \"frames\": {\"min\": %zu, \"p10\": %zu, \"p50\": %zu, \"p90\": %zu, "
           "\"p95\": %zu, \"p99\": %zu, \"max\": %zu, \"mean\": %.0f},\n"
           " \"out_frames\": %zu, \"files_within_out_frames\": %zu, "
           "\"nonzero_fraction\": %.3f}\n",
           front, rate, n_ch, dec, n_files, seconds, t_read, t_front, t_fit,
           seconds / t_front, lens[0], PCT(10), PCT(50), PCT(90), PCT(95), PCT(99),
           lens[n_files - 1], seconds * rate / dec / (double)n_files, out_frames, within,
           nonzero / ((double)n_files * (double)out_frames * n_ch));
    for (size_t i = 0; i < n_files; i++)
        free(files[i]);
    free(files);
    free(lens);
    free(gram);
    cochlea_destroy(&c);
    melbank_destroy(&m);
    return 0;
}
