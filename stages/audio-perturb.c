/* audio-perturb: copies of recordings as a phone, a room or another speaker's
 * pace gives them, for the robustness table (scripts/robustness).
 *
 *   bin/audio-perturb --input=data/fsdd/recordings --split=test --out-dir=DIR \
 *       [--speed=1.1] [--noise=white|babble --snr=10 --babble-from=@train.list] \
 *       [--rate=16000] [--channels=2] [--gain=-6]
 *
 * Each file is written as DIR/NAME.wav under its own name (so FSDD labels
 * stay), mono-mixed, then sped up (perturb_speed), gained, noised at the SNR,
 * then resampled to --rate and written with --channels identical channels
 * (16-bit PCM, or --float). Babble is the sum of --talkers recordings of
 * --babble-from by other speakers than the file's (FSDD names; any other
 * file when the names say nothing), drawn from (seed, file index); white
 * noise from (seed, file index) too, so a table is the same for a seed. */
#include "audio/audio.h"
#include "audio/audio_list.h"
#include "audio/augment.h"
#include "audio/perturb.h"
#include "core/dir.h"
#include "core/err.h"
#include "core/log.h"
#include "core/options.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const option_spec specs[] = {
    {"input", OPT_LIST, NULL, "audio file, directory or @LIST (repeatable)"},
    {"split", OPT_STRING, "all", "train, test or all (FSDD names)", .choices = "train|test|all"},
    {"limit", OPT_INT, "0", "the first N files after --split (0: all)", .min = "0"},
    {"out-dir", OPT_STRING, "", "write each file here under its own name"},
    {"speed", OPT_FLOAT, "1", "play this much faster (tempo and pitch; 0.9: slower)", .min = "0.25", .max = "4"},
    {"gain", OPT_FLOAT, "0", "gain in dB"},
    {"noise", OPT_STRING, "none", "additive noise: none, white or babble", .choices = "none|white|babble"},
    {"snr", OPT_FLOAT, "20", "signal-to-noise ratio of the noise, dB"},
    {"babble-from", OPT_LIST, NULL, "babble: the recordings its talkers come from (never the inputs' own)"},
    {"talkers", OPT_INT, "5", "babble: recordings summed", .min = "1", .max = "64"},
    {"rate", OPT_FLOAT, "0", "write at this rate (libsamplerate; 0: the input's)", .min = "0"},
    {"channels", OPT_INT, "1", "identical channels written", .min = "1", .max = "64"},
    {"float", OPT_BOOL, "false", "write 32-bit float (default 16-bit PCM, clipped)"},
    {NULL},
};

/* The babble for input id (its path): talkers of pool by other speakers. */
static int babble(const options *o, const audio_list *pool, const char *path, uint32_t id, double fs,
                  float *out, size_t n)
{
    const size_t want = (size_t)options_int(o, "talkers");
    audio *t[64] = {0};
    size_t k = 0;
    char mine[64], other[64];
    audio_list_speaker(path, mine, sizeof mine);
    audio_opts ao = {.target_fs = fs};
    int rc = -1;
    for (uint32_t draw = 0; k < want && draw < 64 * want; draw++) {
        const char *p = pool->paths[augment_pick((uint64_t)options_int(o, "seed"), 0, id, draw,
                                                 (uint32_t)pool->n)];
        audio_list_speaker(p, other, sizeof other);
        if (!strcmp(p, path) || (*mine && !strcmp(mine, other)))
            continue;
        if (!(t[k] = audio_read(p, &ao)))
            goto out;
        k++;
    }
    if (k < want) {
        err_set("%s: fewer than %zu recordings of other speakers in --babble-from", path, want);
        goto out;
    }
    rc = perturb_babble(out, n, (const audio *const *)t, k);
out:
    for (size_t j = 0; j < k; j++)
        audio_destroy(&t[j]);
    return rc;
}

/* One file: perturbed and written. */
static int one(const options *o, const audio_list *pool, const char *path, uint32_t id)
{
    audio *a = audio_read(path, NULL);
    float *noise = NULL;
    int rc = -1;
    if (!a || perturb_speed(a, options_float(o, "speed"), AUDIO_QUALITY_MEDIUM) < 0)
        goto out;
    perturb_gain(a->samples, a->n, options_float(o, "gain"));
    const char *kind = options_str(o, "noise");
    if (strcmp(kind, "none")) {
        if (!(noise = malloc(a->n * sizeof *noise))) {
            err_set("out of memory");
            goto out;
        }
        if (!strcmp(kind, "white"))
            perturb_white(noise, a->n, (uint64_t)options_int(o, "seed"), id);
        else if (babble(o, pool, path, id, a->fs, noise, a->n) < 0)
            goto out;
        if (perturb_add_noise(a->samples, a->n, noise, a->n, 0, options_float(o, "snr")) < 0)
            goto out;
    }
    if (options_float(o, "rate") > 0 && audio_resample(a, options_float(o, "rate"), AUDIO_QUALITY_MEDIUM) < 0)
        goto out;
    const char *base = strrchr(path, '/');
    char dst[4096];
    snprintf(dst, sizeof dst, "%s/%s", options_str(o, "out-dir"), base ? base + 1 : path);
    rc = audio_write_wav(a, dst, (int)options_int(o, "channels"), options_bool(o, "float"));
out:
    if (rc)
        err_wrap("%s", path);
    free(noise);
    audio_destroy(&a);
    return rc;
}

static int gather(const options *o, const char *opt, audio_list *l, bool filter)
{
    for (size_t i = 0; i < options_count(o, opt); i++)
        if (audio_list_add(l, options_item(o, opt, i)) < 0)
            return -1;
    audio_list_split split = AUDIO_LIST_ALL;
    if (filter && (audio_list_split_parse(options_str(o, "split"), &split) < 0 ||
                   audio_list_filter(l, split, (size_t)options_int(o, "limit")) < 0))
        return -1;
    return 0;
}

int main(int argc, char **argv)
{
    log_set_name("audio-perturb");
    options *o = options_new("audio-perturb", "perturbed copies of recordings (speed, gain, noise, rate, channels)",
                             specs, NULL);
    audio_list *in = audio_list_new(), *pool = audio_list_new();
    int rc = 1, parsed = o ? options_parse(o, argc, argv, stdout) : -1;
    if (parsed != 0) {
        if (parsed < 0)
            log_error("%s", err_msg());
        rc = parsed > 0 ? 0 : 2;
        goto done;
    }
    if (!options_count(o, "input") || !*options_str(o, "out-dir") ||
        (!strcmp(options_str(o, "noise"), "babble") && !options_count(o, "babble-from"))) {
        log_error("give --input, --out-dir (and --babble-from with --noise=babble); see --help");
        rc = 2;
        goto done;
    }
    if (!in || !pool || gather(o, "input", in, true) < 0 || gather(o, "babble-from", pool, false) < 0 ||
        dir_make(options_str(o, "out-dir")) < 0)
        goto fail;
    for (size_t i = 0; i < in->n; i++)
        if (one(o, pool, in->paths[i], (uint32_t)i) < 0)
            goto fail;
    log_info("%zu file(s) into %s", in->n, options_str(o, "out-dir"));
    rc = 0;
    goto done;
fail:
    log_error("%s", err_msg());
done:
    audio_list_destroy(&in);
    audio_list_destroy(&pool);
    options_destroy(&o);
    return rc;
}
