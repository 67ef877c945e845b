/* bench_audio: the audio cases of `make bench`.
 *
 * Audiocoder training: the library calls of the audiocoder stage
 * (poisson_encode, snn_train_step) at the default size of train-audiocoder.pipe
 * (FSDD at 8 kHz, 32 channels x 100 frames = 3,200 inputs, H 512) and at the
 * paper's (12.5 kHz, 39 x 1500 = 58,500 inputs, H 2048), T 60, batch 50,
 * r_max 1, in one process on all cores. Input: the cochleagrams of the first
 * FSDD training recordings (synthetic ones when FSDD is absent); targets: a
 * seeded random 196 x 15 spike map per sample (the cost does not depend on it).
 *
 * Streaming synthesis: pipelines/audio2image.pipe with input=- and every
 * process pinned to one core, fed a WAV stream of FSDD test recordings with
 * 0.6 s of near-silence between them (models/ from `make run` needed):
 *  - paced at real time: per utterance, the latency from the end of speech
 *    (the END of its segment, in its name) to its PNG on disk, and from the
 *    moment the segmenter can decide (END + min-silence - pad = 250 ms later);
 *  - as fast as it goes: the real-time factor, wall time from the first byte to
 *    the last stage's exit over the audio's duration, and the CPU time of all
 *    stages over it. */
#include "core/clock.h"
#include "core/dir.h"
#include "audio/audio.h"
#include "audio/audio_list.h"
#include "bench.h"
#include "audio/cochlea.h"
#include "audio/cochleagram.h"
#include "core/err.h"
#include "numerics/poisson.h"
#include "numerics/rng.h"
#include "numerics/snn.h"
#include "tmpdir.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- audiocoder training ---- */

typedef struct {
    const char *name;
    double fs;     /* front-end rate; 0: the files' (8 kHz) */
    int decimation;
    size_t frames;
    int hidden;
    int batches;   /* timed */
    bool warm_up;  /* one untimed batch first */
    const char *data_dir;
} coder_case;

enum { CODER_BATCH = 50, CODER_STEPS = 60, CODER_OUT = 196, MAP_STEPS = 15 };

/* n cochleagrams (n x *width) of FSDD's first training recordings, or synthetic
 * ones (a smooth random image in the first 60% of the frames) without FSDD. */
static float *cochleagrams(const coder_case *c, size_t n, size_t *width, char *input)
{
    char dir[600];
    snprintf(dir, sizeof dir, "%s/fsdd/recordings", c->data_dir);
    double fs = c->fs > 0 ? c->fs : 8000;
    cochlea_params cp = cochlea_params_default();
    cp.decimation = c->decimation;
    const int ch = cochlea_count_channels(fs, &cp);
    *width = c->frames * (size_t)ch;
    float *x = calloc(n * *width, sizeof *x);
    audio_list *l = audio_list_new();
    cochlea *co = cochlea_new(fs, &cp);
    if (!x || !l || !co)
        goto fail;
    if (access(dir, F_OK) == 0 && audio_list_add(l, dir) == 0 &&
        audio_list_filter(l, AUDIO_LIST_TRAIN, n) == 0 && l->n == n) {
        for (size_t i = 0; i < n; i++) {
            audio_opts o = {.target_fs = fs};
            audio *a = audio_read(l->paths[i], &o);
            const float *fr;
            size_t nf;
            cochlea_reset(co);
            int rc = a ? cochlea_process(co, a->samples, a->n, &fr, &nf) : -1;
            if (rc == 0)
                rc = cochleagram_make(fr, nf, ch, x + i * *width, c->frames);
            audio_destroy(&a);
            if (rc < 0)
                goto fail;
        }
        strcpy(input, "fsdd");
    } else {
        for (size_t i = 0; i < n; i++)
            for (size_t t = 0; t < c->frames * 6 / 10; t++) {
                float u[64];
                rng_fill_uniform(2024, 78, (uint32_t)i, (uint32_t)t, u, ch < 64 ? ch : 64);
                for (int k = 0; k < ch; k++)
                    x[i * *width + t * (size_t)ch + (size_t)k] = 0.5f * u[k % 64];
            }
        strcpy(input, "synthetic");
    }
    audio_list_destroy(&l);
    cochlea_destroy(&co);
    return x;
fail:
    audio_list_destroy(&l);
    cochlea_destroy(&co);
    free(x);
    return NULL;
}

static int coder_case_run(const void *arg, bench_result *r)
{
    const coder_case *c = arg;
    const size_t n = CODER_BATCH;
    size_t width;
    float *values = cochleagrams(c, n, &width, r->input);
    if (!values)
        return -1;
    /* a 196 x 15 spike map per sample, cycled over the 60 steps like the stage's */
    float *maps = malloc(n * CODER_OUT * MAP_STEPS * sizeof *maps);
    float *x = malloc(n * width * sizeof *x), *target = malloc(n * CODER_OUT * sizeof *target);
    uint32_t ids[CODER_BATCH];
    r->base_rss_mib = bench_rss_mib("VmRSS:");
    snn_config cfg = snn_config_default();
    cfg.n_in = (int)width;
    cfg.n_hidden = c->hidden;
    cfg.n_out = CODER_OUT;
    cfg.opt.lr = 5e-5f;
    cfg.init_scale = 0; /* train-audiocoder.pipe's: 1/sqrt(inputs) */
    snn *net = maps && x && target ? snn_new(&cfg, CODER_BATCH) : NULL;
    if (!net) {
        free(values), free(maps), free(x), free(target);
        return err_set("audiocoder %zu-%d-%d: out of memory", width, c->hidden, CODER_OUT);
    }
    for (size_t i = 0; i < n * CODER_OUT * MAP_STEPS; i += 64) {
        float u[64];
        rng_fill_uniform(2024, 79, (uint32_t)(i / 64), 0, u, 64);
        for (size_t k = 0; k < 64 && i + k < n * CODER_OUT * MAP_STEPS; k++)
            maps[i + k] = u[k] < 0.2f ? 1.0f : 0.0f;
    }
    poisson_params pp = {.seed = 1, .r_max = 1.0f};
    double t0 = 0;
    int timed = 0;
    for (int bi = 0; bi < c->batches + c->warm_up; bi++) {
        if (bi == c->warm_up)
            t0 = clock_now();
        for (size_t b = 0; b < n; b++)
            ids[b] = (uint32_t)(bi * n + b);
        snn_begin_batch(net, CODER_BATCH);
        for (int t = 0; t < CODER_STEPS; t++) {
            poisson_encode(&pp, values, ids, CODER_BATCH, width, (uint32_t)t, x);
            for (size_t b = 0; b < n; b++)
                memcpy(target + b * CODER_OUT, maps + (b * MAP_STEPS + t % MAP_STEPS) * CODER_OUT,
                       CODER_OUT * sizeof *target);
            if (snn_train_step(net, x, target, NULL) < 0)
                return -1;
            timed += bi >= c->warm_up;
        }
    }
    r->seconds = clock_now() - t0;
    r->steps_timed = timed;
    r->samples_per_s = (double)timed / CODER_STEPS * CODER_BATCH / r->seconds;
    r->peak_rss_mib = bench_rss_mib("VmHWM:");
    snn_destroy(&net);
    free(values), free(maps), free(x), free(target);
    return 0;
}

int bench_audiocoder(const char *data_dir, bench_json *j)
{
    /* FSDD's training split has 2,400 recordings: an epoch */
    const coder_case cases[] = {
        {"audiocoder 3200-512-196 T=60 B=50", 0, 80, 100, 512, 4, true, data_dir},
        {"audiocoder 58500-2048-196 (paper)", 12500, 10, 1500, 2048, 1, false, data_dir},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        bench_result r;
        if (bench_isolated(coder_case_run, &cases[i], cases[i].name, &r) != 0)
            return -1;
        printf("%-34s %-8s %-9s %12.2f %10.1f %14.1f %10.1f\n", cases[i].name, "fast", r.input,
               r.samples_per_s, r.peak_rss_mib, r.peak_rss_mib - r.base_rss_mib,
               2400 / r.samples_per_s);
        fflush(stdout);
        bench_json_add(j, "{\"case\": \"%s\", \"impl\": \"fast\", \"input\": \"%s\", "
                          "\"samples_per_s\": %.3f, \"peak_rss_mib\": %.1f, "
                          "\"rss_beyond_data_mib\": %.1f, \"steps_timed\": %d, \"seconds\": %.3f, "
                          "\"warm_up_batch\": %s, \"epoch_samples\": 2400}",
                       cases[i].name, r.input, r.samples_per_s, r.peak_rss_mib,
                       r.peak_rss_mib - r.base_rss_mib, r.steps_timed, r.seconds,
                       cases[i].warm_up ? "true" : "false");
    }
    return 0;
}

/* ---- streaming synthesis ---- */

#define STREAM_FS 8000
#define STREAM_OUT "out/bench/stream"

typedef struct {
    const char *data_dir;
    bool paced;
    int utterances;
} stream_case;

typedef struct {
    int16_t *pcm;
    size_t n;
} stream;

static int stream_add(stream *s, const float *x, size_t n)
{
    int16_t *p = realloc(s->pcm, (s->n + n) * sizeof *p);
    if (!p)
        return err_set("out of memory");
    s->pcm = p;
    for (size_t i = 0; i < n; i++) {
        float v = x[i] * 32767.0f;
        p[s->n + i] = (int16_t)(v > 32767 ? 32767 : v < -32768 ? -32768 : v);
    }
    s->n += n;
    return 0;
}

/* near-silence: +-3 LSB of noise, about -80 dBFS */
static int stream_silence(stream *s, double seconds, uint32_t k)
{
    size_t n = (size_t)(seconds * STREAM_FS);
    float *x = malloc(n * sizeof *x);
    if (!x)
        return err_set("out of memory");
    rng_fill_uniform(2024, 80, k, 0, x, (int)n);
    for (size_t i = 0; i < n; i++)
        x[i] = (x[i] - 0.5f) * 6.0f / 32767.0f;
    int rc = stream_add(s, x, n);
    free(x);
    return rc;
}

/* FSDD test recordings, digits in turn, speakers in turn, with silences between. */
static int stream_make(const char *data_dir, int utterances, stream *s)
{
    static const char *speakers[] = {"george", "jackson", "lucas", "nicolas", "theo", "yweweler"};
    if (stream_silence(s, 1.0, 0) < 0)
        return -1;
    for (int u = 0; u < utterances; u++) {
        char path[700];
        snprintf(path, sizeof path, "%s/fsdd/recordings/%d_%s_%d.wav", data_dir, u % 10,
                 speakers[(u / 10 + u) % 6], u / 10 % 5);
        audio_opts o = {.target_fs = STREAM_FS};
        audio *a = audio_read(path, &o);
        int rc = a ? stream_add(s, a->samples, a->n) : -1;
        audio_destroy(&a);
        if (rc < 0 || stream_silence(s, 0.6, (uint32_t)u + 1) < 0)
            return -1;
    }
    return 0;
}

static void wav_header(uint8_t h[44])
{
    /* sizes 0xFFFFFFFF: a stream, "to the end" */
    memcpy(h, "RIFF\xff\xff\xff\xffWAVEfmt \x10\0\0\0\x01\0\x01\0", 24);
    const uint32_t rate = STREAM_FS, bytes = STREAM_FS * 2;
    memcpy(h + 24, &rate, 4);
    memcpy(h + 28, &bytes, 4);
    memcpy(h + 32, "\x02\0\x10\0data\xff\xff\xff\xff", 12);
}

static int write_all(int fd, const void *p, size_t n)
{
    const uint8_t *b = p;
    while (n > 0) {
        ssize_t w = write(fd, b, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return err_set("writing the stream: %s", strerror(errno));
        b += w;
        n -= (size_t)w;
    }
    return 0;
}

/* PNGs seen so far: name (utt%u_%ums-%ums) and when it appeared */
typedef struct {
    unsigned utt, start_ms, end_ms;
    double t;
} image_seen;

static void scan_images(image_seen *seen, int *n, int cap, double t)
{
    DIR *d = opendir(STREAM_OUT "/images");
    struct dirent *e;
    while (d && (e = readdir(d))) {
        unsigned u, a, b;
        if (sscanf(e->d_name, "utt%u_%ums-%ums.png", &u, &a, &b) != 3 ||
            !strstr(e->d_name, ".png") || strstr(e->d_name, ".tmp"))
            continue;
        bool known = false;
        for (int i = 0; i < *n && !known; i++)
            known = seen[i].utt == u;
        if (!known && *n < cap)
            seen[(*n)++] = (image_seen){u, a, b, t};
    }
    if (d)
        closedir(d);
}

static bool console_says(const char *path, const char *what)
{
    FILE *f = fopen(path, "r");
    char line[1024];
    bool found = false;
    while (f && !found && fgets(line, sizeof line, f))
        found = strstr(line, what) != NULL;
    if (f)
        fclose(f);
    return found;
}

static int stream_case_run(const void *arg, bench_result *r)
{
    const stream_case *c = arg;
    stream s = {0};
    if (stream_make(c->data_dir, c->utterances, &s) < 0)
        return -1;
    r->audio_s = (double)s.n / STREAM_FS;
    r->utterances = c->utterances;
    strcpy(r->input, "fsdd");
    if (dir_make("out/bench") < 0)
        return -1;
    if ((access(STREAM_OUT, F_OK) == 0 && tmpdir_remove(STREAM_OUT) != 0) || mkdir(STREAM_OUT, 0755) != 0)
        return err_set("cannot make %s afresh", STREAM_OUT);
    int fd[2];
    if (pipe(fd) != 0)
        return err_set("pipe: %s", strerror(errno));
    signal(SIGPIPE, SIG_IGN);
    char data[700];
    snprintf(data, sizeof data, "data=%s", c->data_dir);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        /* the pipeline on core 0, this process on the other one */
        cpu_set_t one;
        CPU_ZERO(&one);
        CPU_SET(0, &one);
        sched_setaffinity(0, sizeof one, &one);
        setenv("OMP_NUM_THREADS", "1", 1);
        int log = open(STREAM_OUT "/console.log", O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(fd[0], 0);
        dup2(log, 1);
        dup2(log, 2);
        close(fd[0]);
        close(fd[1]);
        execl("bin/spikesynth", "spikesynth", "run", "pipelines/audio2image.pipe", "-v", "input=-",
              "out=" STREAM_OUT, data, (char *)NULL);
        _exit(127);
    }
    close(fd[0]);
    if (pid < 0)
        return err_set("fork: %s", strerror(errno));
    cpu_set_t other;
    CPU_ZERO(&other);
    CPU_SET(1, &other);
    sched_setaffinity(0, sizeof other, &other); /* fails harmlessly on one core */
    int status = 0, rc = -1;
    bool exited = false;
    /* the WAV header first (the front end needs its rate to say HELLO); the
     * samples once every stage is ready (models loaded) */
    uint8_t h[44];
    wav_header(h);
    if (write_all(fd[1], h, sizeof h) < 0)
        goto done;
    double t_ready = clock_now();
    while (!console_says(STREAM_OUT "/console.log", "stages ready")) {
        if (waitpid(pid, &status, WNOHANG) == pid) {
            err_set("audio2image.pipe ended before it was ready (see %s/console.log)", STREAM_OUT);
            goto done;
        }
        if (clock_now() - t_ready > 120) {
            err_set("audio2image.pipe not ready after 120 s (see %s/console.log)", STREAM_OUT);
            goto done;
        }
        usleep(2000);
    }
    const double t0 = clock_now();
    image_seen seen[256];
    int n_seen = 0;
    if (c->paced) {
        /* 10 ms chunks at their real-time deadlines; PNGs polled every 2 ms */
        const size_t chunk = STREAM_FS / 100;
        size_t pos = 0;
        while (pos < s.n) {
            double now = clock_now() - t0;
            while (pos < s.n && (double)pos / STREAM_FS <= now) {
                size_t k = s.n - pos < chunk ? s.n - pos : chunk;
                if (write_all(fd[1], s.pcm + pos, k * sizeof *s.pcm) < 0)
                    goto done;
                pos += k;
            }
            scan_images(seen, &n_seen, 256, clock_now() - t0);
            usleep(2000);
        }
        close(fd[1]);
        fd[1] = -1;
        while (waitpid(pid, &status, WNOHANG) != pid) {
            scan_images(seen, &n_seen, 256, clock_now() - t0);
            usleep(2000);
        }
        exited = true;
    } else {
        if (write_all(fd[1], s.pcm, s.n * sizeof *s.pcm) < 0)
            goto done;
        close(fd[1]);
        fd[1] = -1;
    }
    if (!exited && waitpid(pid, &status, 0) != pid)
        goto done;
    exited = true;
    r->seconds = clock_now() - t0;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        err_set("audio2image.pipe failed (see %s/console.log)", STREAM_OUT);
        goto done;
    }
    scan_images(seen, &n_seen, 256, r->seconds);
    r->images = n_seen;
    r->rtf = r->seconds / r->audio_s;
    struct rusage ch;
    getrusage(RUSAGE_CHILDREN, &ch);
    r->cpu_rtf = (ch.ru_utime.tv_sec + ch.ru_stime.tv_sec +
                  1e-6 * (ch.ru_utime.tv_usec + ch.ru_stime.tv_usec)) / r->audio_s;
    r->peak_rss_mib = ch.ru_maxrss / 1024.0;
    r->samples_per_s = n_seen / r->seconds;
    if (c->paced) {
        double sum = 0, max = 0, dsum = 0, dmax = 0;
        for (int i = 0; i < n_seen; i++) {
            double l = 1000.0 * seen[i].t - seen[i].end_ms;
            double d = l - 250.0; /* the segmenter decides min_silence - pad after END */
            sum += l, dsum += d;
            max = l > max ? l : max;
            dmax = d > dmax ? d : dmax;
        }
        r->latency_ms_mean = n_seen ? sum / n_seen : NAN;
        r->latency_ms_max = max;
        r->decided_ms_mean = n_seen ? dsum / n_seen : NAN;
        r->decided_ms_max = dmax;
    }
    rc = 0;
done:
    if (fd[1] >= 0)
        close(fd[1]);
    if (!exited) {
        kill(pid, SIGTERM);
        waitpid(pid, &status, 0);
    }
    free(s.pcm);
    return rc;
}

int bench_stream(const char *data_dir, bench_json *j)
{
    char probe[700];
    snprintf(probe, sizeof probe, "%s/fsdd/recordings/0_george_0.wav", data_dir);
    if (access(probe, R_OK) != 0 || access("models/audiocoder-A-bptt-bptt-stretch-f50-hidden.ssm", R_OK) != 0 ||
        access("models/ae-mnist-bptt-decoder.ssm", R_OK) != 0) {
        printf("\nstreaming audio2image: skipped (needs %s and the models of `make run`)\n", probe);
        return 0;
    }
    printf("\nstreaming audio2image.pipe input=- on one core (FSDD test recordings, 0.6 s pauses)\n");
    printf("%-10s %6s %8s %8s %8s %8s %10s %10s %10s %10s\n", "feed", "utts", "images", "audio s",
           "RTF", "CPU RTF", "lat mean", "lat max", "proc mean", "proc max");
    const stream_case cases[] = {{data_dir, true, 10}, {data_dir, false, 50}};
    for (size_t i = 0; i < 2; i++) {
        bench_result r;
        if (bench_isolated(stream_case_run, &cases[i], "streaming", &r) != 0)
            return -1;
        const char *feed = cases[i].paced ? "real time" : "flat out";
        printf("%-10s %6d %8d %8.1f %8.4f %8.4f", feed, r.utterances, r.images, r.audio_s, r.rtf,
               r.cpu_rtf);
        if (cases[i].paced)
            printf(" %8.0f ms %7.0f ms %7.0f ms %7.0f ms\n", r.latency_ms_mean, r.latency_ms_max,
                   r.decided_ms_mean, r.decided_ms_max);
        else
            printf("\n");
        fflush(stdout);
        char lat[300] = "";
        if (cases[i].paced)
            snprintf(lat, sizeof lat, ", \"latency_ms_mean\": %.1f, \"latency_ms_max\": %.1f, "
                                      "\"after_decision_ms_mean\": %.1f, \"after_decision_ms_max\": %.1f",
                     r.latency_ms_mean, r.latency_ms_max, r.decided_ms_mean, r.decided_ms_max);
        bench_json_add(j, "{\"case\": \"audio2image stream\", \"impl\": \"pipeline, 1 core, %s\", "
                          "\"input\": \"fsdd\", \"samples_per_s\": %.3f, \"peak_rss_mib\": %.1f, "
                          "\"utterances\": %d, \"images\": %d, \"audio_s\": %.2f, \"seconds\": %.3f, "
                          "\"rtf\": %.5f, \"cpu_rtf\": %.5f%s}",
                       feed, r.samples_per_s, r.peak_rss_mib, r.utterances, r.images, r.audio_s,
                       r.seconds, r.rtf, r.cpu_rtf, lat);
    }
    return 0;
}
