/* bench: what the cases of `make bench` share (tests/bench.c: the training
 * core and the pipeline; tests/bench_audio.c: the audiocoder and streaming
 * synthesis). Every case runs in a forked child so its peak RSS is its own. */
#ifndef SPIKESYNTH_BENCH_H
#define SPIKESYNTH_BENCH_H

#include <stddef.h>

typedef struct {
    double samples_per_s, seconds, peak_rss_mib, base_rss_mib;
    int steps_timed;
    char input[16];
    /* streaming cases only */
    double audio_s, rtf, cpu_rtf, latency_ms_mean, latency_ms_max, decided_ms_mean,
        decided_ms_max;
    int utterances, images;
} bench_result;

/* A case: fills r, returns 0 or -1 after err_set. */
typedef int bench_fn(const void *arg, bench_result *r);

/* Runs fn in a child (that starts the OpenMP pool itself); r comes back through a pipe. */
int bench_isolated(bench_fn *fn, const void *arg, const char *what, bench_result *r);
/* A field of /proc/self/status ("VmRSS:", "VmHWM:") in MiB. */
double bench_rss_mib(const char *field);

/* A growing JSON list of result objects. */
typedef struct {
    char *text;
    size_t len, cap;
    int n;
} bench_json;
void bench_json_add(bench_json *j, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The audio cases; each prints its rows and adds its objects to j. A case whose
 * data or models are missing prints why and is skipped (returns 0). */
int bench_audiocoder(const char *data_dir, bench_json *j);
int bench_stream(const char *data_dir, bench_json *j);

#endif
