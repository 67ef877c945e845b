/* pair-source: for each recording, the MNIST training image it is paired with
 * (include/pairing.h: Dataset A, one fixed image per digit; Dataset B, a seeded
 * random image of the digit per recording), as batches of pixel frames in
 * [0, 1] (steps = 1), like image-source.
 *
 * The recordings are listed exactly as the spectrogram stage lists them (same
 * --input, --split, --limit, same audio_list calls), so sample id = index in
 * the sorted, filtered list, the id spectrogram gives the same recording. The
 * audio itself is never read. Every recording needs an FSDD name (its digit);
 * one without is an error naming it. --manifest (id,path,label, as spectrogram
 * writes it) and --pairing (id,label,image_index,recording) are written before
 * the first frame. Frames name their rows' samples (the recording's name, as
 * spectrogram names it) and labels. */
#include "audio/audio_list.h"
#include "data/dataset.h"
#include "core/err.h"
#include "core/log.h"
#include "data/manifest.h"
#include "data/pairing.h"
#include "core/progress.h"
#include "transport/stage.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const option_spec opts[] = {
    {"input", OPT_LIST, NULL, "audio file, directory (its *.wav, by name) or @LIST (a path per line); repeatable"},
    {"split", OPT_STRING, "all", "train, test or all: FSDD names {digit}_{speaker}_{index}.wav, index 0-4 = test"},
    {"limit", OPT_INT, "0", "use the first N files after --split (0: all)", .min = "0"},
    {"dataset-rule", OPT_STRING, "A", "A: one fixed image per digit (nearest to the mean of its first "
                                      "1000 training images); B: a random training image of the digit per "
                                      "recording, drawn from (--seed, id)", .choices = "A|B"},
    {"data", OPT_STRING, "data", "data directory holding mnist/ (scripts/fetch-data)"},
    {"batch", OPT_INT, "50", "recordings per frame", .min = "1", .max = "1048576"},
    {"manifest", OPT_STRING, "", "write the CSV id,path,label (the recordings) here before any frame"},
    {"pairing", OPT_STRING, "", "write the CSV id,label,image_index,recording here before any frame"},
    {NULL, 0, NULL, NULL},
};
_Static_assert(FRAME_MAX_BATCH == 1048576, "--batch's .max is FRAME_MAX_BATCH");
static const port_spec ports[] = {
    {"images", PORT_OUT, 0, "each recording's paired image, pixels in [0, 1], batch x 784, one frame per batch"},
    {"copy", PORT_OUT, PORT_OPTIONAL, "the same frames"},
    {NULL, 0, 0, NULL},
};
static const stage_def def = {"pair-source",
                              "Emits, for each recording, the MNIST training image paired with it "
                              "(Dataset A or B) as batches of pixel frames.",
                              opts, ports};

/* The recordings, as spectrogram lists them. */
static audio_list *list_recordings(const options *o)
{
    audio_list_split split;
    audio_list *list = audio_list_new();
    if (!list || audio_list_split_parse(options_str(o, "split"), &split) < 0)
        goto fail;
    if (options_count(o, "input") == 0) {
        err_set("no --input: give a file, a directory or @LIST");
        goto fail;
    }
    for (size_t i = 0; i < options_count(o, "input"); i++)
        if (audio_list_add(list, options_item(o, "input", i)) < 0)
            goto fail;
    size_t found = list->n;
    if (audio_list_filter(list, split, (size_t)options_int(o, "limit")) < 0)
        goto fail;
    if (list->n == 0) {
        err_set("no file left of %zu after --split %s", found, options_str(o, "split"));
        goto fail;
    }
    if (list->n > UINT32_MAX) {
        err_set("%zu recordings: more than sample ids can name", list->n);
        goto fail;
    }
    log_info("%zu recording(s) (%zu found, split %s)", list->n, found, options_str(o, "split"));
    return list;
fail:
    audio_list_destroy(&list);
    return NULL;
}

/* images[id] = the paired image of recording id; labels[id] its digit. */
static int pair_all(const options *o, uint64_t seed, const audio_list *list, const dataset *train,
                    int *labels, int *images)
{
    const char *rule = options_str(o, "dataset-rule");
    int a[DATASET_CLASSES];
    pairing_classes *c = NULL;
    if (!strcmp(rule, "A")) {
        if (pairing_dataset_a_all(train, a) < 0)
            return -1;
        log_info("Dataset A: images 0:%d 1:%d 2:%d 3:%d 4:%d 5:%d 6:%d 7:%d 8:%d 9:%d", a[0], a[1],
                 a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9]);
    } else { /* B, the other choice */
        if (!(c = pairing_classes_new(train)))
            return -1;
        log_info("Dataset B: a random training image of the digit per recording, seed %llu",
                 (unsigned long long)seed);
    }
    int rc = 0;
    for (size_t i = 0; i < list->n && rc == 0; i++) {
        labels[i] = audio_list_label(list->paths[i]);
        if (labels[i] < 0)
            rc = err_set("%s: not an FSDD name {digit}_{speaker}_{index}.wav: its digit is unknown",
                         list->paths[i]);
        else if ((images[i] = c ? pairing_dataset_b(c, labels[i], seed, (uint32_t)i) : a[labels[i]]) < 0)
            rc = err_wrap("%s", list->paths[i]);
    }
    pairing_classes_destroy(&c);
    return rc;
}

static int write_lists(const options *o, const audio_list *list, const int *labels, const int *images)
{
    manifest *man = NULL;
    pairing_table *pt = NULL;
    int rc = -1;
    const char *mpath = options_str(o, "manifest"), *ppath = options_str(o, "pairing");
    if (*mpath) {
        if (!(man = manifest_new()))
            goto out;
        for (size_t i = 0; i < list->n; i++)
            if (manifest_add(man, (uint32_t)i, list->paths[i], labels[i]) < 0)
                goto out;
        if (manifest_write(man, mpath) < 0)
            goto out;
    }
    if (*ppath) {
        if (!(pt = pairing_table_new()))
            goto out;
        for (size_t i = 0; i < list->n; i++)
            if (pairing_table_add(pt, (uint32_t)i, labels[i], images[i], list->paths[i]) < 0)
                goto out;
        if (pairing_table_write(pt, ppath) < 0)
            goto out;
    }
    rc = 0;
out:
    manifest_destroy(&man);
    pairing_table_destroy(&pt);
    return rc;
}

typedef struct {
    audio_list *list;
    dataset *train;
    size_t batch;
    int *labels, *images; /* of each recording */
    char **names;         /* of each recording, as spectrogram names it */
    spike_link *out, *copy;
    spike_frame *f;
    progress *pg;
} source;

/* The recordings and their images, the CSVs written, then the links. */
static int source_open(stage *st, void *arg)
{
    source *s = arg;
    const options *o = stage_options(st);
    s->batch = (size_t)options_int(o, "batch");
    if (!(s->list = list_recordings(o)) ||
        !(s->train = dataset_load_images(options_str(o, "data"), "mnist", "train", 0)))
        return -1;
    if (!(s->labels = malloc(s->list->n * sizeof *s->labels)) ||
        !(s->images = malloc(s->list->n * sizeof *s->images)))
        return err_set("out of memory");
    if (pair_all(o, stage_seed(st), s->list, s->train, s->labels, s->images) < 0 ||
        write_lists(o, s->list, s->labels, s->images) < 0 ||
        !(s->names = manifest_names(s->list->paths, s->list->n)))
        return -1;
    frame_shape shape = {FRAME_VALUES, (uint32_t)s->batch, (uint32_t)s->train->n_pixels, 1};
    if (!(s->out = stage_out(st, "images", &shape)) ||
        (stage_has_port(st, "copy") && !(s->copy = stage_out(st, "copy", &shape))) ||
        !(s->f = frame_new(&shape)) || !(s->pg = progress_new(s->list->n, 0)))
        return -1;
    return 0;
}

static int source_run(stage *st, void *arg)
{
    source *s = arg;
    const size_t n = s->list->n, n_pixels = s->train->n_pixels;
    spike_frame *f = s->f;
    uint32_t batch_index = 0;
    for (size_t start = 0; start < n && !stage_stopping(st); start += s->batch) {
        size_t rows = n - start < s->batch ? n - start : s->batch;
        frame_start_values(f, (uint32_t)rows, batch_index++);
        for (size_t r = 0; r < rows; r++) {
            size_t id = start + r;
            f->ids[r] = (uint32_t)id;
            if (frame_set_sample(f, (uint32_t)r, s->names[id], s->labels[id]) < 0)
                return -1;
            memcpy(f->values + r * n_pixels, s->train->images + (size_t)s->images[id] * n_pixels,
                   n_pixels * sizeof(float));
        }
        if (link_send(s->out, f) < 0 || (s->copy && link_send(s->copy, f) < 0))
            return -1;
        progress_update(s->pg, f->batch_index + 1, start + rows, NAN);
    }
    return 0;
}

static void source_cleanup(void *arg)
{
    source *s = arg;
    manifest_names_free(&s->names, s->list ? s->list->n : 0);
    free(s->labels);
    free(s->images);
    progress_destroy(&s->pg);
    frame_destroy(&s->f);
    dataset_destroy(&s->train);
    audio_list_destroy(&s->list);
}

static const stage_callbacks callbacks = {.open = source_open, .run = source_run,
                                          .cleanup = source_cleanup};

int main(int argc, char **argv)
{
    source s = {0};
    return stage_main(&def, &callbacks, &s, argc, argv);
}
