/* spectrogram: a source that turns recordings into fixed-size cochleagrams (Lyon's
 * passive ear, or log-mel) normalised to [0, 1] per utterance, as the paper's
 * audiocoder input (docs/frontend.md).
 *
 * Files (--input FILE, DIR or @LIST): one VALUES frame per batch of utterances,
 * steps = 1; sample id = the file's index in the sorted, filtered list. A live
 * stream (--input - or a FIFO): utterances cut by silence, each sent as soon as
 * it ends in a frame of batch 1; ids count utterances from 0.
 *
 * Row layout: frames x channels, frame-major (value t * channels + c; channel 0
 * is the highest frequency), i.e. the row-major image flattened. Every frame
 * names its rows' samples (the file's stem, "-ID" appended when two files share
 * it; a stream's uttNNNNNN_STARTms-ENDms) and labels (the FSDD digit or -1),
 * so sinks need no file; --manifest lists every id before its frame is sent
 * too; --png draws each image under the same name.
 *
 * Epochs (files only): --epochs N sends the list N times, --shuffle in an order
 * drawn from (seed, epoch) (rng_shuffle); ids stay the file index, so a sink
 * can look each one up (the audiocoder's targets). With N > 1 the images of the
 * first epoch are kept in memory (2,400 FSDD train files x 39,000 floats is
 * 374 MB) and later epochs are sent from there; when they would take more than
 * --cache-mb every epoch recomputes them (about 7 s per epoch of FSDD).
 *
 * Front end from a model: --settings-from=PREFIX takes the front end, rate,
 * decimation, frames and normalisation the audiocoder PREFIX was trained with
 * (data/frontend_settings.h) for each of those options not given; a given one
 * that contradicts it is an error naming both. A file at another rate is
 * resampled to the model's, stereo is mixed down (audio.h).
 *
 * Augmentation (files; training): --augment=speed,gain,noise,white,shift,mask perturbs
 * each utterance (mask: its image) anew every epoch, drawn from (seed, epoch, id) (audio/augment.h);
 * the noise is babble of other speakers' recordings of the same list. Every
 * epoch is then recomputed (no cache).
 *
 * Resuming (files): --resume=N starts after batch N of the run, at the epoch
 * and file of the epoch's order where it lies (data/checkpoint.h), so a training
 * resumed from its checkpoints gets the rest of the same stream; every epoch is
 * then recomputed (no cache). */
#include "audio/audio.h"
#include "audio/audio_list.h"
#include "audio/augment.h"
#include "audio/cochlea.h"
#include "audio/cochleagram.h"
#include "core/clock.h"
#include "core/dir.h"
#include "core/err.h"
#include "data/checkpoint.h"
#include "data/image_grid.h"
#include "core/log.h"
#include "data/manifest.h"
#include "audio/melbank.h"
#include "audio/pcm_reader.h"
#include "core/progress.h"
#include "data/frontend_settings.h"
#include "numerics/rng.h"
#include "audio/perturb.h"
#include "audio/segmenter.h"
#include "transport/stage.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <omp.h>
#include <sndfile.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const option_spec opts[] = {
    {"input", OPT_LIST, NULL,
     "audio file, directory (its files of every format libsndfile reads, by name), @LIST (a path per line), or - (stdin) or a "
     "FIFO: a live stream cut at silences (repeatable, except a stream)"},
    {"split", OPT_STRING, "all", "train, test or all: FSDD names {digit}_{speaker}_{index}.wav, index 0-4 = test; auto: "
     "test when the list holds FSDD names of both splits, else all"},
    {"limit", OPT_INT, "0", "use the first N files after --split (0: all)", .min = "0"},
    {"skip-bad", OPT_BOOL, NULL, "report each bad file on stderr and go on (default: stop at the first)"},
    {"max-seconds", OPT_FLOAT, "60", "files: longest accepted recording, in seconds", .min = "0.001",
     .max = "86400"},
    {"front-end", OPT_STRING, "cochlea", "cochlea (Lyon's passive ear) or mel (log-mel filterbank)",
     .choices = "cochlea|mel"},
    {"rate", OPT_FLOAT, "12500", "resample to HZ before the front end (0: the input's rate; 12.5 kHz gives the paper's 39 channels)",
     .min = "0"},
    {"decimation", OPT_INT, "10", "input samples per frame (cochlea decimation, mel hop)", .min = "1", .max = "100000"},
    {"frames", OPT_INT, "1000", "frames per utterance (see --fit; the paper: 1500)", .min = "1", .max = "10000000"},
    {"settings-from", OPT_STRING, "", "take the front end, rate, decimation, frames, norm and fit the audiocoder "
     "PREFIX was trained with, for those not given (a given one must agree)", .path = OPT_PATH_READ,
     .suffixes = "-hidden.ssm"},
    {"norm", OPT_STRING, "max", "max: each utterance divided by its maximum (the paper); channel: each "
     "channel by its own (floored at a tenth of the maximum)", .choices = "max|channel"},
    {"fit", OPT_STRING, "pad", "pad: the utterance from its start, zero-padded or cut to the frames (the "
     "paper); stretch: from its first to its last loud frame, resampled to the frames", .choices = "pad|stretch"},
    {"augment", OPT_STRING, "", "files: perturb every utterance anew each epoch, any of speed,gain,noise,white,shift,mask "
     "(speed 0.9-1.1, gain +-6 dB, 0-100 ms of silence first, half of them in babble of other speakers at "
     "5-30 dB SNR, half in white noise at 5-30 dB; mask: up to a quarter of the channels and a sixth of the "
     "frames of the image set to 0), drawn from (seed, epoch, id)"},
    {"augment-speed-min", OPT_FLOAT, "0.9", "augment=speed: the slowest factor", .min = "0.25", .max = "4"},
    {"augment-speed-max", OPT_FLOAT, "1.1", "augment=speed: the fastest factor", .min = "0.25", .max = "4"},
    {"ear-q", OPT_FLOAT, "8", "cochlea: Q of each stage"},
    {"step", OPT_FLOAT, "0.5", "cochlea: channel spacing in bandwidths"},
    {"mels", OPT_INT, "39", "mel: number of bands"},
    {"batch", OPT_INT, "50", "utterances per frame (files; a stream sends each alone)", .min = "1", .max = "1048576"},
    {"threads", OPT_INT, "1", "files processed in parallel", .min = "1", .max = "256"},
    {"epochs", OPT_INT, "1", "files: passes over the list (ids stay the file index)", .min = "1", .max = "1000000"},
    {"shuffle", OPT_BOOL, "false", "files: each epoch in a random order drawn from (seed, epoch)"},
    {"cache-mb", OPT_INT, "2048", "epochs > 1: keep the first epoch's images in memory up to this size (else recompute)",
     .min = "0"},
    {"allow-truncated", OPT_BOOL, "false", "files: read a file shorter than its header says (else an error naming how much is there)"},
    {"resume", OPT_STRING, "false", "files: start after batch N of the run (resuming a training: the runner's "
     "resume=true gives N, the newest checkpoint of its training stages)"},
    {"manifest", OPT_STRING, "", "write the CSV id,path,label here (atomically) before any frame", .path = OPT_PATH_WRITE},
    {"png", OPT_STRING, "", "also draw each image the stage sends as DIR/NAME.png (time across, channel 0 = highest frequency on top)",
     .path = OPT_PATH_DIR},
    {"pcm", OPT_STRING, "s16", "stream: raw sample format, s16 or f32 (a WAV header overrides the three pcm options)",
     .choices = "s16|f32"},
    {"pcm-rate", OPT_FLOAT, "0", "stream: raw sample rate in Hz (0: not known, 16000 assumed with a warning)",
     .min = "0", .max = "10000000"},
    {"channels", OPT_INT, "1", "stream: raw channels (averaged)", .min = "1", .max = "64"},
    {"threshold-db", OPT_FLOAT, "10", "stream: speech is this far above the noise floor (10th percentile of the 10 ms levels of the last 5 s; 0: no floor)",
     .min = "0", .max = "100"},
    {"min-level-dbfs", OPT_FLOAT, "-60", "stream: and above this absolute level (dB RMS re full scale)",
     .min = "-100", .max = "0"},
    {"min-silence-ms", OPT_FLOAT, "300", "stream: silence that ends an utterance (a 10 ms window at least)",
     .min = "10", .max = "3600000"},
    {"min-utterance-ms", OPT_FLOAT, "100", "stream: utterances loud for less are dropped (clicks)",
     .min = "0", .max = "3600000"},
    {"max-utterance-ms", OPT_FLOAT, "2000", "stream: longer utterances are cut (more than --min-utterance-ms)",
     .min = "1", .max = "3600000"},
    {NULL, 0, NULL, NULL},
};
_Static_assert(FRAME_MAX_BATCH == 1048576, "--batch's .max is FRAME_MAX_BATCH");
static const port_spec ports[] = {
    {"values", PORT_OUT, PORT_OPTIONAL,
     "batch x (frames*channels) floats in [0,1], frame-major: value t*channels+c; steps 1; "
     "unlinked, the stage only writes --png/--manifest"},
    {"copy", PORT_OUT, PORT_OPTIONAL, "the same frames"},
    {NULL, 0, 0, NULL},
};
static const stage_def def = {
    "spectrogram",
    "Turns recordings (files, directories, lists, or a live stream cut at silences) into "
    "cochleagrams normalised to [0,1], one row per utterance.",
    opts, ports};

/* ---- the front end: one per worker thread ------------------------------------- */

/* The settings an audiocoder records, from the options or its model. */
typedef struct {
    const char *front_end, *norm, *fit;
    double rate;
    int64_t decimation, frames;
    char buf[3][32];
} settings;

static int settings_read(settings *s, const options *o)
{
    frontend_settings fs = {.path = "the options"}, *m = NULL;
    const char *from = options_str(o, "settings-from");
    if (*from && frontend_settings_load(m = &fs, from) < 0)
        return -1;
    if (m && !*fs.text)
        log_warn("%s records no front-end settings: the options' are used", fs.path);
    s->front_end = options_str(o, "front-end");
    s->norm = options_str(o, "norm");
    s->fit = options_str(o, "fit");
    s->rate = options_float(o, "rate");
    s->decimation = options_int(o, "decimation");
    s->frames = options_int(o, "frames");
    if (frontend_settings_str(m, o, "front-end", "front_end", &s->front_end, s->buf[0], sizeof s->buf[0]) < 0 ||
        frontend_settings_str(m, o, "norm", "norm", &s->norm, s->buf[1], sizeof s->buf[1]) < 0 ||
        frontend_settings_str(m, o, "fit", "fit", &s->fit, s->buf[2], sizeof s->buf[2]) < 0 ||
        frontend_settings_float(m, o, "rate", "rate", &s->rate) < 0 ||
        frontend_settings_int(m, o, "decimation", "decimation", &s->decimation) < 0 ||
        frontend_settings_int(m, o, "frames", "frames", &s->frames) < 0)
        return -1;
    if (strcmp(s->front_end, "cochlea") && strcmp(s->front_end, "mel"))
        return err_set("%s: front end '%s' is neither cochlea nor mel", fs.path, s->front_end);
    if (strcmp(s->norm, "max") && strcmp(s->norm, "channel"))
        return err_set("%s: norm '%s' is neither max nor channel", fs.path, s->norm);
    if (strcmp(s->fit, "pad") && strcmp(s->fit, "stretch"))
        return err_set("%s: fit '%s' is neither pad nor stretch", fs.path, s->fit);
    if (s->decimation < 1 || s->frames < 1 || s->rate < 0)
        return err_set("%s: decimation %lld, frames %lld or rate %g out of range", fs.path,
                       (long long)s->decimation, (long long)s->frames, s->rate);
    if (m && *fs.text)
        log_info("front end of %s: %s (rate %g, decimation %lld, frames %lld, norm %s, fit %s)", fs.path,
                 fs.text, s->rate, (long long)s->decimation, (long long)s->frames, s->norm, s->fit);
    char r0[32];
    if (m && *fs.text && !frontend_settings_get(fs.text, "rate", r0, sizeof r0) && !options_given(o, "rate")) {
        s->rate = 0;
        log_warn("%s records no rate (rate=0: trained before the rate was written out): each input "
                 "keeps its own rate; give rate=8000 (FSDD's) for inputs at other rates", fs.path);
    }
    return 0;
}

typedef struct {
    cochlea *c;
    melbank *m;
    bool per_channel;
    cochleagram_fit_mode fit;
    float *t; /* channels x frames, for the PNG */
} front;

static int front_init(front *fe, const options *o, const settings *s, double fs)
{
    fe->per_channel = !strcmp(s->norm, "channel");
    fe->fit = !strcmp(s->fit, "stretch") ? COCHLEAGRAM_STRETCH : COCHLEAGRAM_PAD;
    if (!strcmp(s->front_end, "mel")) {
        melbank_params p = melbank_params_default();
        p.n_mels = (int)options_int(o, "mels");
        p.hop = (int)s->decimation;
        return (fe->m = melbank_new(fs, &p)) ? 0 : -1;
    }
    cochlea_params p = cochlea_params_default();
    p.ear_q = options_float(o, "ear-q");
    p.step = options_float(o, "step");
    p.decimation = (int)s->decimation;
    return (fe->c = cochlea_new(fs, &p)) ? 0 : -1;
}

static int front_channels(const front *fe)
{
    return fe->c ? cochlea_n_channels(fe->c) : melbank_n_channels(fe->m);
}

static void front_free(front *fe)
{
    cochlea_destroy(&fe->c);
    melbank_destroy(&fe->m);
    free(fe->t);
    fe->t = NULL;
}

/* One utterance from silence: the image of out_frames x channels in img;
 * *n_frames is the utterance's own length. */
static int front_image(front *fe, const float *x, size_t n, float *img, size_t out_frames,
                       size_t *n_frames)
{
    const float *fr;
    int rc;
    if (fe->c) {
        cochlea_reset(fe->c);
        rc = cochlea_process(fe->c, x, n, &fr, n_frames);
    } else {
        melbank_reset(fe->m);
        rc = melbank_process(fe->m, x, n, &fr, n_frames);
    }
    if (rc < 0 || cochleagram_make_as(fr, *n_frames, front_channels(fe), img, out_frames, fe->per_channel,
                                      fe->fit) < 0)
        return -1;
    return 0;
}

/* The image as a heat map: time across, channel 0 (highest frequency) on top. */
static int front_png(front *fe, const char *path, const float *img, size_t frames)
{
    size_t ch = (size_t)front_channels(fe);
    if (!fe->t && !(fe->t = malloc(frames * ch * sizeof *fe->t)))
        return err_set("%s: out of memory", path);
    for (size_t t = 0; t < frames; t++)
        for (size_t c = 0; c < ch; c++)
            fe->t[c * frames + t] = img[t * ch + c];
    return image_grid_write_heatmap(path, fe->t, ch, frames, 1, 4, 0);
}

/* ---- what both modes share ----------------------------------------------------- */

typedef struct {
    stage *st;
    const options *o;
    settings set;
    augment_params aug;
    const audio_list *list; /* files: where augmentation's noise comes from */
    spike_link *out, *copy;
    spike_frame *f;
    front *fronts;
    int n_fronts, channels;
    double fs;
    size_t frames;
    uint32_t batch_index;
    int64_t skip; /* files, --resume: batches of the run already trained on */
    const char *png_dir, *manifest_path;
    manifest *man;
    progress *pg;
    uint64_t sent, cut, skipped;
    double audio_s;
} run;

static int send_frame(run *r, uint32_t rows)
{
    spike_frame *f = r->f;
    frame_start_values(f, rows, r->batch_index++);
    if ((r->out && link_send(r->out, f) < 0) || (r->copy && link_send(r->copy, f) < 0))
        return -1;
    r->sent += rows;
    return 0;
}

/* Opens the links (batch rows of frames x channels) and reports ready. */
static int open_links(run *r, uint32_t batch)
{
    size_t width = r->frames * (size_t)r->channels;
    if (width > FRAME_MAX_WIDTH)
        return err_set("--frames %zu x %d channels = %zu values per row: more than %u", r->frames,
                       r->channels, width, FRAME_MAX_WIDTH);
    if ((double)batch * (double)width * 4 + 4096 > (double)options_int(r->o, "max-frame"))
        return err_set("a frame of %u x %zu floats exceeds --max-frame: lower --batch", batch, width);
    frame_shape shape = {FRAME_VALUES, batch, (uint32_t)width, 1};
    if (stage_has_port(r->st, "values") && !(r->out = stage_out(r->st, "values", &shape)))
        return -1;
    if (stage_has_port(r->st, "copy") && !(r->copy = stage_out(r->st, "copy", &shape)))
        return -1;
    if (!r->out && !r->copy && !*r->png_dir && !*r->manifest_path)
        return err_set("nothing to do: link the values port, or give --png or --manifest");
    if (*r->png_dir && dir_make(r->png_dir) < 0)
        return err_wrap("--png %s", r->png_dir);
    if (!(r->f = frame_new(&shape)))
        return err_set("out of memory for a frame of %u x %zu", batch, width);
    return 0;
}

static int init_fronts(run *r, int n)
{
    if (!(r->fronts = calloc((size_t)n, sizeof *r->fronts)))
        return err_set("out of memory");
    r->n_fronts = n;
    for (int i = 0; i < n; i++)
        if (front_init(&r->fronts[i], r->o, &r->set, r->fs) < 0)
            return -1;
    r->channels = front_channels(&r->fronts[0]);
    log_info("%s front end at %g Hz: %d channels x %zu frames (%.2f s), decimation %lld, norm %s, fit %s",
             r->set.front_end, r->fs, r->channels, r->frames,
             (double)r->frames * (double)r->set.decimation / r->fs, (long long)r->set.decimation,
             r->set.norm, r->set.fit);
    return 0;
}

/* ---- files ------------------------------------------------------------------- */

typedef struct {
    int ok;
    char *err;
    size_t n_frames;
    double seconds;
} slot;

/* The rate of the first file that opens (--rate 0). */
static int probe_rate(const audio_list *list, bool skip_bad, double *fs)
{
    for (size_t i = 0; i < list->n; i++) {
        SF_INFO info = {0};
        SNDFILE *sf = sf_open(list->paths[i], SFM_READ, &info);
        if (sf) {
            sf_close(sf);
            if (info.samplerate > 0) {
                *fs = info.samplerate;
                return 0;
            }
        }
        if (!skip_bad)
            return err_set("audio %s: cannot open: %s", list->paths[i], sf_strerror(NULL));
    }
    return err_set("none of the %zu files opens as audio", list->n);
}

/* Augmentation's noise for (epoch, id): babble of AUGMENT_NOISE_TALKERS other
 * recordings of the list, another speaker's where the names tell (a few draws
 * each), at r->fs. *noise stays NULL when none could be read. */
static void augment_noise(run *r, uint32_t epoch, uint32_t id, const audio_opts *ao, float **noise,
                          size_t *n_noise)
{
    audio *t[AUGMENT_NOISE_TALKERS] = {0};
    size_t k = 0, longest = 0;
    char mine[64], other[64];
    audio_list_speaker(r->list->paths[id], mine, sizeof mine);
    for (uint32_t j = 0; j < AUGMENT_NOISE_TALKERS; j++) {
        uint32_t pick = id;
        for (uint32_t try = 0; try < 8 && (pick == id || (*mine && !strcmp(mine, other))); try++) {
            pick = augment_pick(stage_seed(r->st), epoch, id, j * 8 + try, (uint32_t)r->list->n);
            audio_list_speaker(r->list->paths[pick], other, sizeof other);
        }
        if (pick != id && (t[k] = audio_read(r->list->paths[pick], ao)))
            longest = t[k]->n > longest ? t[k]->n : longest, k++;
    }
    *noise = NULL;
    if (k && (*noise = malloc(longest * sizeof **noise)) &&
        perturb_babble(*noise, longest, (const audio *const *)t, k) < 0) {
        free(*noise);
        *noise = NULL;
    }
    *n_noise = *noise ? longest : 0;
    for (size_t j = 0; j < k; j++)
        audio_destroy(&t[j]);
}

/* The utterance perturbed for (epoch, id) (--augment). */
static int augment_one(run *r, audio *a, uint32_t epoch, uint32_t id, const audio_opts *ao)
{
    float *noise = NULL;
    size_t n_noise = 0;
    if (r->aug.what & AUGMENT_NOISE)
        augment_noise(r, epoch, id, ao, &noise, &n_noise);
    int rc = augment_apply(&r->aug, a, stage_seed(r->st), epoch, id, noise, n_noise);
    free(noise);
    return rc;
}

/* Reads file id into row of the frame; the result in *s. Thread-safe. */
static void do_file(run *r, front *fe, uint32_t epoch, uint32_t id, const char *png_name, float *row,
                    slot *s)
{
    const char *path = r->list->paths[id];
    audio_opts ao = {.target_fs = r->fs, .max_seconds = options_float(r->o, "max-seconds"),
                     .allow_truncated = options_bool(r->o, "allow-truncated")};
    int D = (int)r->set.decimation;
    struct stat st;
    *s = (slot){0};
    audio *a = NULL;
    if (stat(path, &st) == 0 && S_ISREG(st.st_mode) && st.st_size == 0) {
        err_set("audio %s: empty file (0 bytes)", path);
        goto bad;
    }
    if (!(a = audio_read(path, &ao)))
        goto bad;
    s->seconds = (double)a->n / a->fs;
    if (r->aug.what && augment_one(r, a, epoch, id, &ao) < 0) {
        err_wrap("audio %s: augmenting", path);
        goto bad;
    }
    if (a->n < (size_t)D) {
        err_set("audio %s: %zu samples at %g Hz, shorter than one frame (%d samples)", path, a->n,
                a->fs, D);
        goto bad;
    }
    if (front_image(fe, a->samples, a->n, row, r->frames, &s->n_frames) < 0) {
        err_wrap("audio %s", path);
        goto bad;
    }
    augment_mask(&r->aug, row, r->frames, front_channels(fe), stage_seed(r->st), epoch, id);
    if (*r->png_dir && png_name) {
        char p[4096];
        snprintf(p, sizeof p, "%s/%s.png", r->png_dir, png_name);
        if (front_png(fe, p, row, r->frames) < 0)
            goto bad_keep; /* a PNG that cannot be written is a failure of the run, not of the file */
    }
    audio_destroy(&a);
    s->ok = 1;
    return;
bad:
    audio_destroy(&a);
    s->err = strdup(err_msg());
    return;
bad_keep:
    audio_destroy(&a);
    s->ok = -1;
    s->err = strdup(err_msg());
}

/* The frame's rows carry their samples' names (the PNG names) and labels. */
static int name_rows(spike_frame *f, uint32_t rows, const audio_list *list, char **names)
{
    for (uint32_t i = 0; i < rows; i++)
        if (frame_set_sample(f, i, names[f->ids[i]], audio_list_label(list->paths[f->ids[i]])) < 0)
            return err_wrap("%s", list->paths[f->ids[i]]);
    return 0;
}

/* Long: one loop over epochs, batches and chunks of files sharing its locals
 * (names, slots, order, cache); left whole through the merge with the
 * sample-names work, which rewrote the naming in it. */
static int run_files(run *r, audio_list *list)
{
    const options *o = r->o;
    bool skip_bad = options_bool(o, "skip-bad");
    int threads = (int)options_int(o, "threads");
    uint32_t batch = (uint32_t)options_int(o, "batch");
    char **names = NULL;
    slot *slots = NULL;
    uint32_t *order = NULL;
    float *cache = NULL;  /* epochs > 1: n x width images of the first epoch */
    uint8_t *good = NULL; /* ... and which files made one */
    int rc = -1;
    r->fs = r->set.rate;
    r->list = list;
    if (r->fs <= 0 && probe_rate(list, skip_bad, &r->fs) < 0)
        return -1;
    if (init_fronts(r, threads) < 0)
        return -1;
    if (*r->manifest_path) {
        if (!(r->man = manifest_new()))
            return -1;
        for (size_t i = 0; i < list->n; i++)
            if (manifest_add(r->man, (uint32_t)i, list->paths[i], audio_list_label(list->paths[i])) < 0)
                return -1;
        if (manifest_write(r->man, r->manifest_path) < 0)
            return -1;
        log_info("manifest of %zu files in %s", list->n, r->manifest_path);
    }
    if (open_links(r, batch) < 0 || !(names = manifest_names(list->paths, list->n)) ||
        !(slots = calloc(batch, sizeof *slots)) ||
        !(r->pg = progress_new((uint64_t)options_int(o, "epochs") * list->n, 0)) ||
        stage_ready(r->st) < 0)
        goto out;
    const size_t width = r->frames * (size_t)r->channels, n = list->n;
    const int64_t epochs = options_int(o, "epochs");
    const bool shuffle = options_bool(o, "shuffle");
    size_t next = 0;
    if (!(order = malloc(n * sizeof *order)))
        goto oom;
    if (epochs > 1 && r->aug.what) {
        log_info("%lld epochs%s, augmented (%s): every epoch's images made anew", (long long)epochs,
                 shuffle ? ", shuffled" : "", options_str(o, "augment"));
    } else if (epochs > 1 && r->skip) {
        log_info("%lld epochs%s, resumed: every epoch's images made anew", (long long)epochs,
                 shuffle ? ", shuffled" : "");
    } else if (epochs > 1) {
        double mb = (double)n * (double)width * sizeof(float) / (1 << 20);
        if (mb <= (double)options_int(o, "cache-mb")) {
            if (!(cache = malloc(n * width * sizeof *cache)) || !(good = calloc(n, 1)))
                goto oom;
            log_info("%lld epochs%s: the first one's images kept in memory (%.1f MB)",
                     (long long)epochs, shuffle ? ", shuffled" : "", mb);
        } else {
            log_info("%lld epochs%s: images recomputed every epoch (%.1f MB > --cache-mb)",
                     (long long)epochs, shuffle ? ", shuffled" : "", mb);
        }
    }
    int64_t e0;
    size_t s0;
    checkpoint_position(r->skip, n, batch, &e0, &s0);
    if (r->skip)
        log_info("resuming after batch %lld: epoch %lld, file %zu of its order", (long long)r->skip,
                 (long long)e0 + 1, s0);
    /* the stream's length, for a training's lr schedule; unknown when bad
     * files may drop out */
    const int64_t left = epochs * (int64_t)((n + batch - 1) / batch) - r->skip;
    r->f->batches = !skip_bad && left > 0 && left <= UINT32_MAX ? (uint32_t)left : 0;
    double t0 = clock_now();
    for (int64_t e = e0; e < epochs && !stage_stopping(r->st); e++) {
        for (size_t i = 0; i < n; i++)
            order[i] = (uint32_t)i;
        if (shuffle)
            rng_shuffle(stage_seed(r->st), (uint32_t)e, order, n);
        for (next = e == e0 ? s0 : 0; next < n && !stage_stopping(r->st);) {
            uint32_t filled = 0;
            while (filled < batch && next < n) {
                if (e > 0 && cache) { /* from memory: files known bad are left out again */
                    for (; filled < batch && next < n; next++) {
                        uint32_t id = order[next];
                        if (!good[id])
                            continue;
                        memcpy(r->f->values + (size_t)filled * width, cache + (size_t)id * width,
                               width * sizeof *cache);
                        r->f->ids[filled++] = id;
                    }
                    break;
                }
                /* a few files per thread at a time, then heartbeats: a slow chunk never
                 * looks like a dead stage to its peers */
                size_t k = batch - filled, cap = (size_t)threads * 4;
                if (k > cap)
                    k = cap;
                if (k > n - next)
                    k = n - next;
#pragma omp parallel for schedule(dynamic) num_threads(threads) if (threads > 1)
                for (size_t j = 0; j < k; j++) {
                    front *fe = &r->fronts[omp_get_thread_num()];
                    uint32_t id = order[next + j];
                    do_file(r, fe, (uint32_t)e, id, e == e0 ? names[id] : NULL,
                            r->f->values + (filled + j) * width, &slots[j]);
                }
                size_t base = filled;
                for (size_t j = 0; j < k; j++) {
                    slot *s = &slots[j];
                    const char *msg = s->err ? s->err : "out of memory";
                    if (s->ok < 0 || (!s->ok && !skip_bad)) {
                        err_set("%s", msg);
                        for (size_t m = j; m < k; m++)
                            free(slots[m].err);
                        goto out;
                    }
                    if (!s->ok) {
                        if (e == e0) {
                            log_warn("skipping: %s", msg);
                            r->skipped++;
                        }
                    } else {
                        if (base + j != filled) /* a bad file left a hole: good rows move up */
                            memmove(r->f->values + (size_t)filled * width,
                                    r->f->values + (base + j) * width, width * sizeof(float));
                        uint32_t id = order[next + j];
                        r->f->ids[filled] = id;
                        if (cache) {
                            memcpy(cache + (size_t)id * width, r->f->values + (size_t)filled * width,
                                   width * sizeof *cache);
                            good[id] = 1;
                        }
                        filled++;
                        if (e == e0) {
                            r->audio_s += s->seconds;
                            r->cut += s->n_frames > r->frames;
                        }
                    }
                    free(s->err);
                    s->err = NULL;
                }
                next += k;
                progress_update(r->pg, r->batch_index, (uint64_t)e * n + next, NAN);
                if (stage_keepalive(r->st) < 0)
                    goto out;
            }
            if (filled && (name_rows(r->f, filled, list, names) < 0 || send_frame(r, filled) < 0))
                goto out;
            if (e > 0 && cache) {
                progress_update(r->pg, r->batch_index, (uint64_t)e * n + next, NAN);
                if (stage_keepalive(r->st) < 0)
                    goto out;
            }
        }
    }
    double dt = clock_now() - t0;
    progress_finish(r->pg);
    if (r->skipped)
        log_warn("skipped %llu bad file(s) of %zu", (unsigned long long)r->skipped, list->n);
    if (next < list->n || r->sent + s0 < (uint64_t)(epochs - e0) * (list->n - r->skipped))
        log_info("stopped after %llu utterances (%zu of %zu files of the last epoch)",
                 (unsigned long long)r->sent, next, list->n);
    log_info("%llu utterances in %u frames, %.1f s of audio in %.2f s (%.0fx real time), %llu cut "
             "to %zu frames",
             (unsigned long long)r->sent, r->batch_index, r->audio_s, dt,
             dt > 0 ? r->audio_s / dt : 0.0, (unsigned long long)r->cut, r->frames);
    if (r->sent == 0 && !r->skip) { /* resumed after its last batch: nothing left is no fault */
        err_set("no usable audio among %zu file(s)", list->n);
        goto out;
    }
    rc = 0;
    goto out;
oom:
    err_set("out of memory for %zu images of %zu values", list->n, r->frames * (size_t)r->channels);
out:
    manifest_names_free(&names, list->n);
    free(slots);
    free(order);
    free(cache);
    free(good);
    return rc;
}

/* ---- a live stream ------------------------------------------------------------- */

/* The rate raw PCM is read at when --pcm-rate is not given (with a warning). */
#define PCM_ASSUMED_RATE 16000.0

typedef struct {
    run *r;
    uint32_t n;      /* utterances so far: the next id */
    double offset_s; /* stream time at which the current recording began */
    pcm_reader *pr;
    audio_stream *as;
    segmenter *sg;
    const char *name;
} stream_ctx;

static int on_utterance(void *arg, const float *x, size_t n, double start_s, double end_s)
{
    stream_ctx *c = arg;
    run *r = c->r;
    uint32_t id = c->n++;
    char name[96], path[128];
    start_s += c->offset_s;
    end_s += c->offset_s;
    snprintf(name, sizeof name, "utt%06u_%lldms-%lldms", id, llround(start_s * 1000),
             llround(end_s * 1000));
    snprintf(path, sizeof path, "stdin/%s", name);
    log_info("utterance %u: %.3f-%.3f s (%.3f s)", id, start_s, end_s, end_s - start_s);
    size_t nf;
    if (front_image(&r->fronts[0], x, n, r->f->values, r->frames, &nf) < 0)
        return err_wrap("utterance %u", id);
    r->cut += nf > r->frames;
    r->audio_s += end_s - start_s;
    if (r->man && (manifest_add(r->man, id, path, -1) < 0 ||
                   manifest_write(r->man, r->manifest_path) < 0))
        return -1;
    if (*r->png_dir) {
        char p[4096];
        snprintf(p, sizeof p, "%s/%s.png", r->png_dir, name);
        if (front_png(&r->fronts[0], p, r->f->values, r->frames) < 0)
            return -1;
    }
    r->f->ids[0] = id;
    if (frame_set_sample(r->f, 0, name, -1) < 0 || send_frame(r, 1) < 0)
        return -1;
    progress_update(r->pg, id + 1, r->sent, NAN);
    return 0;
}

/* The resampler for the reader's current format, and what the log says of it. */
static int open_recording(stream_ctx *c)
{
    const pcm_format *in = pcm_reader_format(c->pr);
    unsigned k = pcm_reader_recordings(c->pr);
    char which[64] = "";
    if (k > 1)
        snprintf(which, sizeof which, " recording %u at %.3f s:", k, c->offset_s);
    log_info("%s:%s %s, %g Hz, %d channel(s)%s", c->name, which,
             pcm_reader_is_wav(c->pr) ? "WAV" : "raw PCM", in->fs, in->channels,
             in->format == AUDIO_S16 ? ", 16-bit" : ", float");
    audio_stream_destroy(&c->as);
    c->as = audio_stream_new(in->fs, in->channels, in->format, c->r->fs, AUDIO_QUALITY_MEDIUM, c->name);
    return c->as ? 0 : -1;
}

/* Pushes frames (NULL: none) through the resampler into the segmenter. */
static int stream_push(stream_ctx *c, const void *data, size_t n, bool last)
{
    const float *x;
    size_t n_out;
    if (audio_stream_push(c->as, data, n, last, &x, &n_out) < 0 ||
        segmenter_push(c->sg, x, n_out, on_utterance, c) < 0)
        return -1;
    return 0;
}

/* A recording ended (a further WAV header, or the end): the utterance in
 * progress ends with it, and the next recording has its own warm-up. */
static int end_recording(stream_ctx *c)
{
    if (stream_push(c, NULL, 0, true) < 0)
        return -1;
    double at = (double)segmenter_position(c->sg) / c->r->fs;
    if (segmenter_flush(c->sg, on_utterance, c) < 0)
        return -1;
    c->offset_s += at;
    return 0;
}

/* The reader, started: 1 with its format known, 0 when stopped first, -1 on error. */
static int start_reader(stream_ctx *c, int fd)
{
    const options *o = c->r->o;
    double rate = options_float(o, "pcm-rate");
    pcm_format raw = {AUDIO_S16, rate > 0 ? rate : PCM_ASSUMED_RATE, (int)options_int(o, "channels")};
    if (!strcmp(options_str(o, "pcm"), "f32")) /* else s16, the other choice */
        raw.format = AUDIO_F32;
    if (!(c->pr = pcm_reader_new(fd, &raw, c->name)))
        return -1;
    int s;
    while ((s = pcm_reader_start(c->pr, 100)) == 0)
        if (stage_keepalive(c->r->st) < 0)
            return -1;
    if (s < 0)
        return -1;
    if (!pcm_reader_is_wav(c->pr) && !(rate > 0))
        log_warn("%s: raw PCM (no WAV header) read as %s at %g Hz, %d channel(s), a rate assumed: "
                 "give pcm_rate= (--pcm-rate) with the stream's rate",
                 c->name, options_str(o, "pcm"), raw.fs, raw.channels);
    return 1;
}

static int run_stream(run *r, const char *input)
{
    const options *o = r->o;
    int fd = 0, rc = -1;
    stream_ctx c = {.r = r, .name = "standard input"};
    if (strcmp(input, "-")) { /* a FIFO or a device: blocks until a writer opens it */
        c.name = input;
        if ((fd = open(input, O_RDONLY | O_CLOEXEC)) < 0)
            return err_set("input %s: cannot open: %s", input, strerror(errno));
    }
    if (start_reader(&c, fd) <= 0)
        goto out;
    const pcm_format *in = pcm_reader_format(c.pr);
    r->fs = r->set.rate > 0 ? r->set.rate : in->fs;
    segmenter_params sp = segmenter_params_default();
    sp.threshold_db = options_float(o, "threshold-db");
    sp.min_level_dbfs = options_float(o, "min-level-dbfs");
    sp.min_silence_ms = options_float(o, "min-silence-ms");
    sp.min_utterance_ms = options_float(o, "min-utterance-ms");
    sp.max_utterance_ms = options_float(o, "max-utterance-ms");
    if (init_fronts(r, 1) < 0 || open_recording(&c) < 0 || !(c.sg = segmenter_new(r->fs, &sp)))
        goto out;
    if (*r->manifest_path && (!(r->man = manifest_new()) || manifest_write(r->man, r->manifest_path) < 0))
        goto out;
    if (open_links(r, 1) < 0 || !(r->pg = progress_new(0, 0)) || stage_ready(r->st) < 0)
        goto out;
    double t0 = clock_now();
    for (;;) {
        const void *data;
        size_t n;
        int got = pcm_reader_read(c.pr, 100, &data, &n);
        if (got < 0)
            goto out;
        if (got == 2) { /* cat a.wav b.wav: the next recording */
            if (end_recording(&c) < 0 || open_recording(&c) < 0)
                goto out;
            continue;
        }
        bool last = got == 0 || stage_stopping(r->st);
        if (stream_push(&c, got ? data : NULL, got ? n : 0, last) < 0)
            goto out;
        if (last)
            break;
        if (stage_keepalive(r->st) < 0)
            goto out;
    }
    double stream_s = c.offset_s + (double)segmenter_position(c.sg) / r->fs;
    if (segmenter_flush(c.sg, on_utterance, &c) < 0)
        goto out;
    double dt = clock_now() - t0;
    progress_finish(r->pg);
    if (pcm_reader_trailing(c.pr))
        log_warn("%s: %llu byte(s) after the last WAV data are no recording: ignored", c.name,
                 (unsigned long long)pcm_reader_trailing(c.pr));
    log_info("%u utterance(s) from %u recording(s), %.1f s of speech in %.1f s of stream, %.2f s "
             "wall clock, %llu cut to %zu frames", c.n, pcm_reader_recordings(c.pr) ? pcm_reader_recordings(c.pr) : 1,
             r->audio_s, stream_s, dt, (unsigned long long)r->cut, r->frames);
    if (c.n == 0)
        log_warn("%s: no utterance found (see --threshold-db, --min-level-dbfs)", c.name);
    rc = 0;
out:
    segmenter_destroy(&c.sg);
    audio_stream_destroy(&c.as);
    pcm_reader_destroy(&c.pr);
    if (fd > 0)
        close(fd);
    return rc;
}

/* ---- main ---------------------------------------------------------------------- */

/* --split auto (for pipelines that take any input but default to FSDD's test
 * split): a list of FSDD names holding both splits, i.e. the data set or a
 * part of it, is cut to its test split; any other list is taken whole. */
static audio_list_split auto_test_split(const audio_list *list)
{
    bool test = false, train = false;
    for (size_t i = 0; i < list->n; i++) {
        int index;
        if (!audio_list_fsdd_name(list->paths[i], NULL, &index))
            return AUDIO_LIST_ALL;
        *(index <= AUDIO_LIST_TEST_INDEX_MAX ? &test : &train) = true;
    }
    return test && train ? AUDIO_LIST_TEST : AUDIO_LIST_ALL;
}

static bool is_stream(const char *input)
{
    struct stat st;
    if (!strcmp(input, "-"))
        return true;
    return input[0] != '@' && stat(input, &st) == 0 && (S_ISFIFO(st.st_mode) || S_ISCHR(st.st_mode));
}

typedef struct {
    run r;
    audio_list *list; /* files; NULL: a stream */
    const char *stream;
} spectrogram;

/* The files of --input, cut to --split and --limit. */
static int list_files(spectrogram *sp, const options *o)
{
    size_t n_in = options_count(o, "input");
    audio_list_split split = AUDIO_LIST_ALL;
    const bool auto_split = !strcmp(options_str(o, "split"), "auto");
    if (!(sp->list = audio_list_new()) ||
        (!auto_split && audio_list_split_parse(options_str(o, "split"), &split) < 0))
        return -1;
    for (size_t i = 0; i < n_in; i++) {
        const char *in = options_item(o, "input", i);
        if (is_stream(in))
            return err_set("--input %s is a stream: it cannot be combined with other inputs", in);
        if (audio_list_add(sp->list, in) < 0)
            return -1;
    }
    size_t found = sp->list->n;
    if (auto_split)
        split = auto_test_split(sp->list);
    if (audio_list_filter(sp->list, split, (size_t)options_int(o, "limit")) < 0)
        return -1;
    if (sp->list->n == 0)
        return err_set("no file left of %zu after --split %s", found, options_str(o, "split"));
    log_info("%zu file(s) (%zu found, split %s)", sp->list->n, found, options_str(o, "split"));
    return 0;
}

/* A stream, or the list of files; the links open once the front end is known. */
static int spectrogram_open(stage *st, void *arg)
{
    spectrogram *sp = arg;
    const options *o = stage_options(st);
    run *r = &sp->r;
    r->st = st;
    r->o = o;
    if (settings_read(&r->set, o) < 0)
        return -1;
    r->frames = (size_t)r->set.frames;
    r->aug = augment_params_default();
    if (augment_parse(options_str(o, "augment"), &r->aug.what) < 0)
        return stage_usage_error(st, "--augment: %s", err_msg());
    if (checkpoint_source_option(options_str(o, "resume"), &r->skip) < 0)
        return stage_usage_error(st, "%s", err_msg());
    /* a bad file skipped would move the batches' boundaries: only reading every file tells where */
    if (r->skip && options_bool(o, "skip-bad"))
        return stage_usage_error(st, "--resume and --skip-bad: where batch %lld ends depends on which "
                                     "files are bad; resume without --skip-bad", (long long)r->skip);
    r->aug.speed_min = options_float(o, "augment-speed-min");
    r->aug.speed_max = options_float(o, "augment-speed-max");
    if (r->aug.speed_min > r->aug.speed_max)
        return stage_usage_error(st, "--augment-speed-min %g is above --augment-speed-max %g", r->aug.speed_min,
                                 r->aug.speed_max);
    r->png_dir = options_str(o, "png");
    r->manifest_path = options_str(o, "manifest");
    if (options_count(o, "input") == 0)
        return stage_usage_error(st, "no --input: give a file, a directory, @LIST or -");
    const char *first = options_item(o, "input", 0);
    if (!is_stream(first))
        return list_files(sp, o);
    if (options_count(o, "input") > 1)
        return stage_usage_error(st, "--input %s is a stream: it cannot be combined with other inputs", first);
    if (options_int(o, "epochs") != 1 || options_bool(o, "shuffle"))
        return stage_usage_error(st, "--input %s is a stream: --epochs and --shuffle need files", first);
    if (r->aug.what)
        return stage_usage_error(st, "--input %s is a stream: --augment needs files", first);
    if (r->skip)
        return stage_usage_error(st, "--input %s is a stream: --resume needs files", first);
    sp->stream = first;
    return 0;
}

/* READY comes from run_files and run_stream: the frame's width is known only
 * once the front end is (a stream: once its first bytes tell the rate). */
static int spectrogram_run(stage *st, void *arg)
{
    (void)st;
    spectrogram *sp = arg;
    return sp->stream ? run_stream(&sp->r, sp->stream) : run_files(&sp->r, sp->list);
}

static void spectrogram_cleanup(void *arg)
{
    spectrogram *sp = arg;
    run *r = &sp->r;
    for (int i = 0; i < r->n_fronts; i++)
        front_free(&r->fronts[i]);
    free(r->fronts);
    manifest_destroy(&r->man);
    progress_destroy(&r->pg);
    frame_destroy(&r->f);
    audio_list_destroy(&sp->list);
}

static const stage_callbacks callbacks = {.open = spectrogram_open, .run = spectrogram_run,
                                          .cleanup = spectrogram_cleanup, .ready_in_run = true};

int main(int argc, char **argv)
{
    spectrogram sp = {0};
    return stage_main(&def, &callbacks, &sp, argc, argv);
}
