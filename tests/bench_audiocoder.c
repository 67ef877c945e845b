/* bench_audiocoder: the audio-to-image chain of train-audiocoder.pipe and
 * audio2image.pipe in one process, to measure and tune the audiocoder quickly:
 * the same library calls (cochlea + cochleagram_make, poisson_encode,
 * snn_train_step, lif_layer_forward of the autoencoder's decoder, metrics_zmse)
 * without the links. Prints one JSON line per evaluated epoch (train time,
 * samples/s, loss, test MSE against Dataset A, nearest-digit accuracy) and
 * the peak RSS.
 *
 * Build and run (from the repo root; docs/audiocoder.md has the figures):
 *   cc -std=c11 -D_GNU_SOURCE -O3 -march=native -fopenmp -Iinclude tests/bench_audiocoder.c \
 *      build/libspikesynth.a $(pkg-config --libs sndfile samplerate libpng openblas zlib) -lm \
 *      -o build/bench_audiocoder
 *   build/bench_audiocoder --targets models/targets-A-th15.ssmap [--rate 0 --decimation 80
 *      --frames 100] [--hidden 512] [--steps 60] [--r-max 0.02] [--epochs 20] ...
 *
 * Options (defaults in brackets): --fsdd DIR [data/fsdd/recordings], --data DIR [data],
 * --decoder PATH [models/ae-mnist-decoder.ssm], --rate HZ [12500], --decimation N [10],
 * --frames N [1000], --hidden N [2048], --steps N [60], --r-max X [0.02], --epochs N [20],
 * --batch N [50], --lr X [5e-5], --wd X [1e-4], --init-scale X [0.01; 0: 1/sqrt(n_in)],
 * --seed N [1], --limit N (train files) [0], --test-limit N [0], --eval-every N [1],
 * --fresh-spikes (new Poisson draws every epoch: ids + epoch * 2^20), --max-seconds S
 * (stop training after S seconds) [0], --threads N [0], --trace per-neuron|shared. */
#include "audio/audio.h"
#include "audio/audio_list.h"
#include "numerics/blas.h"
#include "audio/cochlea.h"
#include "audio/cochleagram.h"
#include "data/dataset.h"
#include "core/clock.h"
#include "core/err.h"
#include "data/metrics.h"
#include "data/model.h"
#include "data/pairing.h"
#include "numerics/poisson.h"
#include "numerics/rng.h"
#include "numerics/snn.h"
#include "data/spike_maps.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

static void die(const char *what)
{
    fprintf(stderr, "bench_audiocoder: %s: %s\n", what, err_msg());
    exit(1);
}

typedef struct {
    size_t n, width;
    float *x;   /* n x width cochleagrams */
    int *label; /* n */
} set;

static set front(const char *dir, const char *split, size_t limit, double rate, int decimation,
                 size_t frames)
{
    set s = {0};
    audio_list *l = audio_list_new();
    audio_list_split sp;
    if (!l || audio_list_add(l, dir) < 0 || audio_list_split_parse(split, &sp) < 0 ||
        audio_list_filter(l, sp, limit) < 0)
        die(dir);
    audio_opts ao = {.target_fs = rate};
    double fs = rate;
    if (fs <= 0) {
        audio *a = audio_read(l->paths[0], &ao);
        if (!a)
            die(l->paths[0]);
        fs = a->fs;
        audio_destroy(&a);
    }
    cochlea_params cp = cochlea_params_default();
    cp.decimation = decimation;
    int ch = cochlea_count_channels(fs, &cp);
    s.n = l->n;
    s.width = frames * (size_t)ch;
    s.x = malloc(s.n * s.width * sizeof *s.x);
    s.label = malloc(s.n * sizeof *s.label);
    int bad = 0;
#pragma omp parallel
    {
        cochlea *c = cochlea_new(fs, &cp);
#pragma omp for schedule(dynamic)
        for (size_t i = 0; i < s.n; i++) {
            audio_opts o = {.target_fs = fs};
            audio *a = audio_read(l->paths[i], &o);
            const float *fr;
            size_t nf;
            cochlea_reset(c);
            if (!a || cochlea_process(c, a->samples, a->n, &fr, &nf) < 0 ||
                cochleagram_make(fr, nf, ch, s.x + i * s.width, frames) < 0)
                bad = 1;
            s.label[i] = audio_list_label(l->paths[i]);
            audio_destroy(&a);
        }
        cochlea_destroy(&c);
    }
    if (bad)
        die("front end");
    audio_list_destroy(&l);
    return s;
}

static const char *arg(int argc, char **argv, const char *name, const char *def)
{
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], name))
            return i + 1 < argc && strncmp(argv[i + 1], "--", 2) ? argv[i + 1] : "1";
    return def;
}

int main(int argc, char **argv)
{
    if (blas_init(argv, atoi(arg(argc, argv, "--threads", "0"))) < 0)
        die("blas");
    const char *fsdd = arg(argc, argv, "--fsdd", "data/fsdd/recordings");
    const char *data = arg(argc, argv, "--data", "data");
    const char *targets = arg(argc, argv, "--targets", "models/targets-A-th15.ssmap");
    const char *decoder = arg(argc, argv, "--decoder", "models/ae-mnist-decoder.ssm");
    const double rate = atof(arg(argc, argv, "--rate", "12500"));
    const int decimation = atoi(arg(argc, argv, "--decimation", "10"));
    const size_t frames = (size_t)atol(arg(argc, argv, "--frames", "1000"));
    const int hidden = atoi(arg(argc, argv, "--hidden", "2048"));
    const int steps = atoi(arg(argc, argv, "--steps", "60"));
    const float r_max = (float)atof(arg(argc, argv, "--r-max", "0.02"));
    const int epochs = atoi(arg(argc, argv, "--epochs", "20"));
    const int batch = atoi(arg(argc, argv, "--batch", "50"));
    const int eval_every = atoi(arg(argc, argv, "--eval-every", "1"));
    const uint64_t seed = (uint64_t)atoll(arg(argc, argv, "--seed", "1"));
    const bool fresh = atoi(arg(argc, argv, "--fresh-spikes", "0")) != 0;
    const double max_s = atof(arg(argc, argv, "--max-seconds", "0"));

    double t0 = clock_now();
    set tr = front(fsdd, "train", (size_t)atol(arg(argc, argv, "--limit", "0")), rate, decimation, frames);
    set te = front(fsdd, "test", (size_t)atol(arg(argc, argv, "--test-limit", "0")), rate, decimation, frames);
    double front_s = clock_now() - t0;
    double mean = 0;
    for (size_t i = 0; i < tr.n * tr.width; i++)
        mean += tr.x[i];
    mean /= (double)(tr.n * tr.width);

    spike_maps *maps = spike_maps_load(targets);
    if (!maps || spike_maps_sort(maps) < 0)
        die(targets);
    dataset *mnist = dataset_load_images(data, "mnist", "train", 0);
    int a_img[DATASET_CLASSES];
    if (!mnist || pairing_dataset_a_all(mnist, a_img) < 0)
        die("mnist");
    model *dm = model_load(decoder);
    if (!dm)
        die(decoder);

    snn_config cfg = snn_config_default();
    cfg.n_in = (int)tr.width;
    cfg.n_hidden = hidden;
    cfg.n_out = (int)maps->width;
    cfg.opt.lr = (float)atof(arg(argc, argv, "--lr", "5e-5"));
    cfg.opt.weight_decay = (float)atof(arg(argc, argv, "--wd", "1e-4"));
    cfg.init_scale = (float)atof(arg(argc, argv, "--init-scale", "0.01"));
    cfg.seed = seed;
    if (!strcmp(arg(argc, argv, "--trace", "per-neuron"), "shared"))
        cfg.lif.trace = TRACE_SHARED;
    snn *net = snn_new(&cfg, batch);
    lif_layer *dec = lif_layer_new(dm->n_in, dm->n_out, batch, &cfg.lif, &cfg.opt, NULL);
    if (!net || !dec || model_to_layer(dm, dec) < 0)
        die("network");
    fprintf(stderr, "front end %.1f s: %zu train, %zu test x %zu inputs (mean %.4f, input spikes/step "
            "%.1f); %d-%d-%d, T %d, r_max %g, Th %u\n", front_s, tr.n, te.n, tr.width, mean,
            mean * r_max * (double)tr.width, cfg.n_in, hidden, cfg.n_out, steps, r_max, maps->steps);

    float *x = malloc((size_t)batch * tr.width * sizeof *x);
    float *tg = malloc((size_t)batch * maps->width * sizeof *tg);
    float *counts = malloc((size_t)batch * 784 * sizeof *counts);
    float *zo = malloc(784 * sizeof *zo), *za = malloc(10 * 784 * sizeof *za);
    uint32_t *order = malloc(tr.n * sizeof *order), ids[1024];
    long idx[1024];
    for (int d = 0; d < 10; d++)
        metrics_zscore(mnist->images + (size_t)a_img[d] * 784, 784, za + d * 784);
    double train_s = 0;
    int64_t samples = 0;
    for (int e = 0; e < epochs; e++) {
        for (size_t i = 0; i < tr.n; i++)
            order[i] = (uint32_t)i;
        rng_shuffle(seed, (uint32_t)e, order, tr.n);
        loss_stats ls = {0};
        double hid = 0;
        double te0 = clock_now();
        poisson_params pp = {.seed = seed, .r_max = r_max};
        for (size_t s0 = 0; s0 < tr.n; s0 += (size_t)batch) {
            int B = (int)(tr.n - s0 < (size_t)batch ? tr.n - s0 : (size_t)batch);
            float *v = malloc((size_t)B * tr.width * sizeof *v);
            for (int b = 0; b < B; b++) {
                uint32_t id = order[s0 + (size_t)b];
                memcpy(v + (size_t)b * tr.width, tr.x + (size_t)id * tr.width, tr.width * sizeof *v);
                ids[b] = fresh ? id + (uint32_t)e * (1u << 20) : id;
                if ((idx[b] = spike_maps_find(maps, id)) < 0) {
                    fprintf(stderr, "no map for id %u\n", id);
                    return 1;
                }
            }
            snn_begin_batch(net, B);
            for (int t = 0; t < steps; t++) {
                poisson_encode(&pp, v, ids, B, (int)tr.width, t, x);
                for (int b = 0; b < B; b++)
                    spike_maps_step(maps, (size_t)idx[b], (uint32_t)t % maps->steps,
                                    tg + (size_t)b * maps->width);
                if (snn_train_step(net, x, tg, &ls) < 0)
                    die("train");
                for (int i = 0; i < B * hidden; i++)
                    hid += net->hidden->spikes[i];
            }
            free(v);
            samples += B;
            if (max_s > 0 && train_s + clock_now() - te0 > max_s)
                break;
        }
        double ep_s = clock_now() - te0;
        train_s += ep_s;
        bool last = e + 1 == epochs || (max_s > 0 && train_s > max_s);
        if ((e + 1) % eval_every != 0 && !last)
            continue;
        /* test: frozen weights; ids are the file index, as the pipeline gives them */
        double sum_mse = 0, sum_r = 0, out_rate = 0;
        size_t right = 0;
        double per_digit[10] = {0};
        int n_digit[10] = {0};
        for (size_t s0 = 0; s0 < te.n; s0 += (size_t)batch) {
            int B = (int)(te.n - s0 < (size_t)batch ? te.n - s0 : (size_t)batch);
            for (int b = 0; b < B; b++)
                ids[b] = (uint32_t)(s0 + (size_t)b);
            snn_begin_batch(net, B);
            lif_layer_begin_batch(dec, B);
            memset(counts, 0, (size_t)B * 784 * sizeof *counts);
            for (int t = 0; t < steps; t++) {
                poisson_encode(&pp, te.x + s0 * te.width, ids, B, (int)te.width, t, x);
                snn_infer_step(net, x);
                lif_layer_forward(dec, net->output->spikes);
                for (int i = 0; i < B * 784; i++)
                    counts[i] += dec->spikes[i];
            }
            for (int b = 0; b < B; b++) {
                int d = te.label[s0 + (size_t)b];
                const float *c = counts + (size_t)b * 784;
                double m = metrics_zmse(mnist->images + (size_t)a_img[d] * 784, c, 784);
                sum_mse += m;
                per_digit[d] += m;
                n_digit[d]++;
                sum_r += metrics_pearson(mnist->images + (size_t)a_img[d] * 784, c, 784);
                metrics_zscore(c, 784, zo);
                int best = 0;
                double be = INFINITY;
                for (int k = 0; k < 10; k++) {
                    double q = 0;
                    for (int j = 0; j < 784; j++)
                        q += (zo[j] - za[k * 784 + j]) * (zo[j] - za[k * 784 + j]);
                    if (q < be) {
                        be = q;
                        best = k;
                    }
                }
                right += best == d;
                for (int j = 0; j < 784; j++)
                    out_rate += c[j];
            }
        }
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        printf("{\"epoch\": %d, \"inputs\": %zu, \"hidden\": %d, \"steps\": %d, \"r_max\": %g, "
               "\"init_scale\": %g, \"lr\": %g, \"epoch_s\": %.1f, \"train_s\": %.1f, "
               "\"samples_per_s\": %.2f, \"loss\": %.4f, \"masked\": %.4f, \"out_rate\": %.4f, "
               "\"target_rate\": %.4f, \"hidden_rate\": %.4f, \"test_mse_a\": %.4f, \"test_r\": %.4f, "
               "\"nearest_acc\": %.3f, \"img_rate\": %.4f, \"max_digit_mse\": %.3f, \"rss_mb\": %.0f}\n",
               e + 1, tr.width, hidden, steps, r_max, cfg.init_scale, cfg.opt.lr, ep_s, train_s,
               (double)samples / train_s, loss_stats_mean(&ls), loss_stats_masked_fraction(&ls),
               ls.entries ? (double)ls.out_spikes / ls.entries : 0,
               ls.entries ? (double)ls.target_spikes / ls.entries : 0,
               hid / ((double)ls.sample_steps * hidden), sum_mse / te.n, sum_r / te.n,
               (double)right / te.n, out_rate / ((double)te.n * 784 * steps),
               ({ double mx = 0; for (int d = 0; d < 10; d++) if (n_digit[d] && per_digit[d] / n_digit[d] > mx) mx = per_digit[d] / n_digit[d]; mx; }),
               ru.ru_maxrss / 1024.0);
        fflush(stdout);
        if (max_s > 0 && train_s > max_s)
            break;
    }
    return 0;
}
