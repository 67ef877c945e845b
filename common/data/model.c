/* model: one layer's weights and settings in a checked binary file (see
 * include/model.h). Fields are written one by one, little-endian, so the file
 * does not depend on struct padding. */
#include "data/model.h"

#include "core/atomic_file.h"
#include "data/checkpoint.h"
#include "core/err.h"
#include "core/log.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "model files are little-endian");

static const char MODEL_MAGIC[8] = {'S', 'S', 'Y', 'N', 'M', 'O', 'D', 'L'};
#define MODEL_MAX_WEIGHTS ((int64_t)1 << 31)

/* A byte buffer the header is serialised into (and parsed from). */
typedef struct {
    uint8_t *data;
    size_t len, cap, pos;
    int bad;
} buf;

static void put(buf *b, const void *p, size_t n)
{
    if (b->len + n > b->cap) {
        size_t cap = (b->cap ? b->cap * 2 : 256) + n;
        uint8_t *d = realloc(b->data, cap);
        if (!d) {
            b->bad = 1;
            return;
        }
        b->data = d;
        b->cap = cap;
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
}

static void get(buf *b, void *p, size_t n)
{
    if (b->pos + n > b->len) {
        b->bad = 1;
        memset(p, 0, n);
        return;
    }
    memcpy(p, b->data + b->pos, n);
    b->pos += n;
}

/* The header fields, in file order; one function serves both directions. */
#define FIELDS(X, m)                                                                           \
    X(m->kind, MODEL_KIND_MAX) X(&m->n_in, 4) X(&m->n_out, 4) X(&m->lif.leak, 4)              \
    X(&m->lif.threshold, 4) X(&lif_clamp, 4) X(&lif_trace, 4) X(&opt_kind, 4) X(&m->opt.lr, 4) \
    X(&m->opt.beta1, 4) X(&m->opt.beta2, 4) X(&m->opt.eps, 4) X(&m->opt.weight_decay, 4)      \
    X(&opt_carry, 4) X(&m->steps, 4) X(&m->r_max, 4) X(&m->mask, 4) X(&m->seed, 8)             \
    X(&m->epochs, 4) X(&m->batches, 8) X(&m->samples, 8)
/* added in format 2: the lineage */
#define FIELDS_V2(X, m)                                                                          \
    X(&m->lineage.init, 8) X(&m->lineage.pair_init, 8) X(&m->lineage.pair_final, 8)             \
    X(&m->lineage.source, 8) X(m->lineage.frontend, MODEL_FRONTEND_MAX)

/* added in format 3: the training state of a checkpoint (moments: 1 when
 * Adam's m and v follow the weights) */
#define FIELDS_V3(X, m)                                                                          \
    X(&moments, 4) X(&m->state.opt_step, 8) X(&m->state.opt_updates, 8) X(&m->state.loss.loss, 8) \
    X(&m->state.loss.entries, 8) X(&m->state.loss.masked_out, 8) X(&m->state.loss.out_spikes, 8)  \
    X(&m->state.loss.target_spikes, 8) X(&m->state.loss.sample_steps, 8)

static uint32_t file_version(const model *m)
{
    return m->state.present ? 3 : 2;
}

static void header_write(buf *b, const model *m)
{
    int32_t lif_clamp = m->lif.clamp, lif_trace = m->lif.trace, opt_kind = m->opt.kind,
            opt_carry = m->opt.carry_moments, moments = m->state.m != NULL;
#define PUT(p, n) put(b, p, n);
    FIELDS(PUT, m)
    FIELDS_V2(PUT, m)
    if (m->state.present) {
        FIELDS_V3(PUT, m)
    }
#undef PUT
}

/* Whether Adam's moments follow the weights (format 3); header_read's answer. */
static int32_t header_read(buf *b, model *m, uint32_t version)
{
    int32_t lif_clamp, lif_trace, opt_kind, opt_carry, moments = 0;
#define GET(p, n) get(b, p, n);
    FIELDS(GET, m)
    if (version >= 2) {
        FIELDS_V2(GET, m)
    }
    if (version >= 3) {
        FIELDS_V3(GET, m)
        m->state.present = true;
    }
#undef GET
    m->kind[MODEL_KIND_MAX - 1] = '\0';
    m->lineage.frontend[MODEL_FRONTEND_MAX - 1] = '\0';
    m->version = version;
    m->lif.clamp = lif_clamp != 0;
    m->lif.slope = 1.0f; /* a training setting, not stored: the paper's */
    m->lif.trace = lif_trace == TRACE_SHARED ? TRACE_SHARED : TRACE_PER_NEURON;
    m->opt.kind = opt_kind == OPTIM_SGD ? OPTIM_SGD : OPTIM_ADAM;
    m->opt.carry_moments = opt_carry != 0;
    return moments;
}

uint64_t model_file_bytes(int n_in, int n_out)
{
#define SIZE(p, n) +(n)
    const uint64_t header = 0 FIELDS(SIZE, m) FIELDS_V2(SIZE, m);
#undef SIZE
    return sizeof MODEL_MAGIC + 4 + 4 + header + (uint64_t)n_in * (uint64_t)n_out * sizeof(float) + 4;
}

model *model_from_layer(const lif_layer *layer, const char *kind)
{
    model *m = calloc(1, sizeof *m);
    size_t n = (size_t)layer->n_out * layer->n_in;
    if (!m || !(m->w = malloc(n * sizeof *m->w))) {
        free(m);
        err_set("model %s: out of memory", kind);
        return NULL;
    }
    snprintf(m->kind, sizeof m->kind, "%s", kind);
    m->n_in = layer->n_in;
    m->n_out = layer->n_out;
    m->lif = layer->lif;
    m->opt = layer->opt;
    memcpy(m->w, layer->w, n * sizeof *m->w);
    return m;
}

int model_save(const model *self, const char *path)
{
    buf h = {0};
    header_write(&h, self);
    if (h.bad) {
        free(h.data);
        return err_set("%s: out of memory", path);
    }
    atomic_file *f = atomic_file_new(path);
    if (!f) {
        free(h.data);
        return -1;
    }
    FILE *out = atomic_file_stream(f);
    uint32_t version = file_version(self), header_bytes = (uint32_t)h.len;
    size_t n = (size_t)self->n_out * self->n_in;
    const bool moments = self->state.present && self->state.m;
    uLong crc = crc32(0L, Z_NULL, 0);
    crc = crc32(crc, (const Bytef *)MODEL_MAGIC, sizeof MODEL_MAGIC);
    crc = crc32(crc, (const Bytef *)&version, 4);
    crc = crc32(crc, (const Bytef *)&header_bytes, 4);
    crc = crc32(crc, h.data, (uInt)h.len);
    crc = crc32_z(crc, (const Bytef *)self->w, n * sizeof(float));
    if (moments) {
        crc = crc32_z(crc, (const Bytef *)self->state.m, n * sizeof(float));
        crc = crc32_z(crc, (const Bytef *)self->state.v, n * sizeof(float));
    }
    uint32_t crc32v = (uint32_t)crc;
    int ok = fwrite(MODEL_MAGIC, sizeof MODEL_MAGIC, 1, out) == 1 &&
             fwrite(&version, 4, 1, out) == 1 && fwrite(&header_bytes, 4, 1, out) == 1 &&
             fwrite(h.data, 1, h.len, out) == h.len && fwrite(self->w, sizeof(float), n, out) == n &&
             (!moments || (fwrite(self->state.m, sizeof(float), n, out) == n &&
                           fwrite(self->state.v, sizeof(float), n, out) == n)) &&
             fwrite(&crc32v, 4, 1, out) == 1;
    free(h.data);
    if (!ok) {
        atomic_file_destroy(&f);
        return err_set("%s: write failed: %s", path, strerror(errno));
    }
    return atomic_file_commit(&f);
}

model *model_load(const char *path)
{
    FILE *in = fopen(path, "rb");
    if (!in) {
        err_set("%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    model *m = model_read(in, path);
    fclose(in);
    return m;
}

/* Bytes from the stream's position to its end, or -1 when it cannot seek. */
static long bytes_left(FILE *in)
{
    long here = ftell(in), end = -1;
    if (here >= 0 && fseek(in, 0, SEEK_END) == 0)
        end = ftell(in);
    if (here < 0 || fseek(in, here, SEEK_SET) != 0)
        return -1;
    return end < here ? -1 : end - here;
}

/* The index of the first of n values that is not finite (or is negative, when
 * nonneg), or n. */
static size_t first_bad(const float *x, size_t n, bool nonneg)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i]) || (nonneg && x[i] < 0))
            return i;
    return n;
}

model *model_read(FILE *in, const char *path)
{
    model *m = NULL;
    buf h = {0};
    char magic[8];
    uint32_t version = 0, header_bytes = 0;
    if (fread(magic, 8, 1, in) != 1 || memcmp(magic, MODEL_MAGIC, 8) != 0) {
        err_set("%s: not a spikesynth model (bad magic)", path);
        goto err;
    }
    /* format 1 (before lineage) is still read: its lineage is unknown */
    if (fread(&version, 4, 1, in) != 1 || version < 1 || version > MODEL_FORMAT_VERSION) {
        err_set("%s: model format version %u, this program reads 1 to %d", path, version,
                MODEL_FORMAT_VERSION);
        goto err;
    }
    if (fread(&header_bytes, 4, 1, in) != 1 || header_bytes > 4096) {
        err_set("%s: truncated or corrupt header", path);
        goto err;
    }
    h.data = malloc(header_bytes ? header_bytes : 1);
    h.len = header_bytes;
    if (!h.data || fread(h.data, 1, header_bytes, in) != header_bytes) {
        err_set("%s: truncated header", path);
        goto err;
    }
    m = calloc(1, sizeof *m);
    if (!m)
        goto oom;
    const int32_t moments = header_read(&h, m, version);
    if (h.bad) {
        err_set("%s: header of %u bytes is too short for format %u", path, header_bytes, version);
        goto err;
    }
    if (m->n_in <= 0 || m->n_out <= 0 || (int64_t)m->n_in * m->n_out > MODEL_MAX_WEIGHTS) {
        err_set("%s: bad layer shape %d -> %d", path, m->n_in, m->n_out);
        goto err;
    }
    size_t n = (size_t)m->n_out * m->n_in;
    /* the shape is untrusted: a 40-byte file must not make us allocate gigabytes */
    long left = bytes_left(in);
    uint64_t need = (uint64_t)n * sizeof *m->w * (moments ? 3 : 1) + 4;
    uint32_t stored;
    if (left >= 0 && (uint64_t)left < need)
        goto truncated;
    if (left >= 0 && (uint64_t)left > need)
        goto trailing;
    m->w = malloc(n * sizeof *m->w);
    if (!m->w)
        goto oom;
    if (moments && (!(m->state.m = malloc(n * sizeof(float))) || !(m->state.v = malloc(n * sizeof(float)))))
        goto oom;
    if (fread(m->w, sizeof(float), n, in) != n ||
        (moments && (fread(m->state.m, sizeof(float), n, in) != n ||
                     fread(m->state.v, sizeof(float), n, in) != n)) ||
        fread(&stored, 4, 1, in) != 1)
        goto truncated;
    if (fgetc(in) != EOF)
        goto trailing;
    uLong crc = crc32(0L, Z_NULL, 0);
    crc = crc32(crc, (const Bytef *)magic, 8);
    crc = crc32(crc, (const Bytef *)&version, 4);
    crc = crc32(crc, (const Bytef *)&header_bytes, 4);
    crc = crc32(crc, h.data, (uInt)h.len);
    crc = crc32_z(crc, (const Bytef *)m->w, n * sizeof(float));
    if (moments) {
        crc = crc32_z(crc, (const Bytef *)m->state.m, n * sizeof(float));
        crc = crc32_z(crc, (const Bytef *)m->state.v, n * sizeof(float));
    }
    if ((uint32_t)crc != stored) {
        err_set("%s: checksum mismatch (file corrupt)", path);
        goto err;
    }
    /* a checkpoint's moments too: training would go on from a NaN (v: Adam takes its sqrt) */
    const char *bad = NULL, *why = "is not finite";
    size_t at;
    if ((at = first_bad(m->w, n, false)) < n)
        bad = "weight";
    else if (moments && (at = first_bad(m->state.m, n, false)) < n)
        bad = "Adam's first moment";
    else if (moments && (at = first_bad(m->state.v, n, true)) < n)
        bad = "Adam's second moment", why = "is negative or not finite";
    if (bad) {
        err_set("%s: %s %zu (row %zu, column %zu) %s", path, bad, at, at / m->n_in, at % m->n_in,
                why);
        goto err;
    }
    free(h.data);
    return m;
truncated:
    if (left >= 0)
        err_set("%s: truncated: %ld bytes after the header, %d x %d weights%s and a checksum "
                "need %llu", path, left, m->n_out, m->n_in,
                moments ? ", Adam's two moments of as many" : "", (unsigned long long)need);
    else
        err_set("%s: truncated: expected %zu weights (%d x %d)%s and a checksum", path, n, m->n_out,
                m->n_in, moments ? ", Adam's two moments of as many" : "");
    goto err;
trailing:
    err_set("%s: trailing bytes after the checksum", path);
    goto err;
oom:
    err_set("%s: out of memory", path);
err:
    free(h.data);
    model_destroy(&m);
    return NULL;
}

int model_expect(const model *self, const char *path, const char *kind, int n_in, int n_out)
{
    if (kind && strcmp(self->kind, kind) != 0)
        return err_set("%s: holds a %s layer, expected %s", path, self->kind, kind);
    if ((n_in > 0 && self->n_in != n_in) || (n_out > 0 && self->n_out != n_out))
        return err_set("%s: layer is %d -> %d, expected %d -> %d", path, self->n_in, self->n_out,
                       n_in > 0 ? n_in : self->n_in, n_out > 0 ? n_out : self->n_out);
    return 0;
}

int model_to_layer(const model *self, lif_layer *layer)
{
    if (layer->n_in != self->n_in || layer->n_out != self->n_out)
        return err_set("model %s is %d -> %d, the layer %d -> %d", self->kind, self->n_in,
                       self->n_out, layer->n_in, layer->n_out);
    memcpy(layer->w, self->w, (size_t)self->n_out * self->n_in * sizeof *self->w);
    return 0;
}

void model_destroy(model **self_p)
{
    model *m = self_p ? *self_p : NULL;
    if (!m)
        return;
    free(m->w);
    free(m->state.m);
    free(m->state.v);
    free(m);
    *self_p = NULL;
}

lif_layer *model_layer_open(const model_layer_spec *spec, model_lineage *lineage)
{
    if (lineage)
        *lineage = (model_lineage){0};
    if (!spec->path || !*spec->path) {
        lif_layer *l = lif_layer_new(spec->n_in, spec->n_out, spec->max_batch, &spec->lif, &spec->opt, &spec->learn);
        if (l)
            lif_layer_init_uniform(l, spec->seed, spec->layer_id, spec->init_scale);
        return l;
    }
    model *m = model_load(spec->path);
    if (!m)
        return NULL;
    lif_layer *l = NULL;
    if (model_expect(m, spec->path, spec->kind, spec->n_in, spec->n_out) == 0 &&
        (l = lif_layer_new(m->n_in, m->n_out, spec->max_batch, &spec->lif, &spec->opt, &spec->learn)) != NULL) {
        model_to_layer(m, l);
        if (lineage)
            *lineage = m->lineage;
    }
    model_destroy(&m);
    return l;
}

model *model_from_training(const lif_layer *layer, const char *kind, const model *info)
{
    model *m = model_from_layer(layer, kind);
    if (!m)
        return NULL;
    m->steps = info->steps;
    m->r_max = info->r_max;
    m->mask = info->mask;
    m->seed = info->seed;
    m->epochs = info->epochs;
    m->batches = info->batches;
    m->samples = info->samples;
    m->lineage = info->lineage;
    return m;
}

int model_layer_save(const lif_layer *layer, const char *kind, const model *info, const char *path)
{
    model *m = model_from_training(layer, kind, info);
    if (!m)
        return -1;
    int rc = model_save(m, path);
    model_destroy(&m);
    return rc;
}

void model_checkpoint_path(const char *path, char *buf, size_t cap)
{
    size_t n = strlen(path);
    if (n > 4 && !strcmp(path + n - 4, ".ssm"))
        snprintf(buf, cap, "%.*s.checkpoint.ssm", (int)(n - 4), path);
    else
        snprintf(buf, cap, "%s.checkpoint", path);
}

uint64_t model_weights_hash(const float *w, size_t n)
{
    const uint8_t *p = (const uint8_t *)w;
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n * sizeof *w; i++)
        h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}

uint64_t model_layer_hash(const lif_layer *layer)
{
    return model_weights_hash(layer->w, (size_t)layer->n_in * layer->n_out);
}

uint64_t model_hash(const model *self)
{
    return model_weights_hash(self->w, (size_t)self->n_out * self->n_in);
}

/* What to retrain, in the user's terms, for the kind of a layer. */
static const char *retrain_hint(const char *kind)
{
    if (!strncmp(kind, "audiocoder", 10))
        return "retrain the audiocoder (train-audiocoder.pipe) on targets of this autoencoder "
               "(make-targets.pipe), or give the decoder it was trained for";
    return "use the encoder and decoder of one training, or retrain the autoencoder "
           "(train-ae-mnist.pipe)";
}

int model_check_pair(const model *a, const char *path_a, const model *b, const char *path_b)
{
    if (!a->lineage.pair_final || !b->lineage.pair_final)
        return 1;
    if (a->lineage.pair_final == model_hash(b) && b->lineage.pair_final == model_hash(a))
        return 0;
    return err_set("%s and %s were not trained together (each records the other's weights, "
                   "%016llx and %016llx, not these): %s", path_a, path_b,
                   (unsigned long long)a->lineage.pair_final,
                   (unsigned long long)b->lineage.pair_final, retrain_hint(a->kind));
}

int model_check_feeds(const model_lineage *dec, const char *dec_path, uint64_t fed, const char *fed_kind,
                      const char *fed_by)
{
    if (!dec->pair_final || !fed)
        return 1;
    if (dec->pair_final == fed)
        return 0;
    return err_set("%s was trained with the encoder %016llx, but %s stands for the encoder %016llx: "
                   "the images would be noise; %s", dec_path, (unsigned long long)dec->pair_final,
                   fed_by, (unsigned long long)fed, retrain_hint(fed_kind));
}

int model_layer_keep(const lif_layer *layer, const char *kind, const model *info, const char *path,
                     bool complete, char *saved_to, size_t cap)
{
    if (!complete) { /* resumable (data/checkpoint.h): its batch count is the stream's, as the others' */
        checkpoint_path(path, 0, saved_to, cap);
        return checkpoint_save(layer, kind, info, path);
    }
    snprintf(saved_to, cap, "%s", path);
    if (model_layer_save(layer, kind, info, path) < 0)
        return -1;
    checkpoint_remove(path); /* the finished model supersedes the checkpoints */
    return 0;
}

/* Index of the first model of kind (a prefix match for "audiocoder"), or -1. */
static int find_kind(model *const *m, int n, const char *kind)
{
    for (int i = 0; i < n; i++)
        if (!strncmp(m[i]->kind, kind, strlen(kind)))
            return i;
    return -1;
}

int model_check_set(model *const *m, const char *const *paths, int n)
{
    const int e = find_kind(m, n, "ae-encoder"), d = find_kind(m, n, "ae-decoder");
    const int h = find_kind(m, n, "audiocoder-hidden"), o = find_kind(m, n, "audiocoder-output");
    int rc = 0, r;
    for (int i = 0; i < n; i++)
        if (!m[i]->lineage.pair_final)
            return err_set("%s records no lineage (format %u, before lineage was recorded): "
                           "retrain it to use it in a set", paths[i], m[i]->version);
    if (e >= 0 && d >= 0 && (r = model_check_pair(m[e], paths[e], m[d], paths[d])) != 0)
        rc = r;
    if (rc == 0 && h >= 0 && o >= 0 && (r = model_check_pair(m[h], paths[h], m[o], paths[o])) != 0)
        rc = r;
    if (rc == 0 && h >= 0 && d >= 0 &&
        (r = model_check_feeds(&m[d]->lineage, paths[d], m[h]->lineage.source, "audiocoder", paths[h])) != 0)
        rc = r;
    if (rc == 0 && h >= 0 && e >= 0 && m[h]->lineage.source != model_hash(m[e]))
        rc = err_set("%s was trained on the hidden maps of the encoder %016llx, not of %s (%016llx): "
                     "remake the targets (make-targets.pipe) and retrain the audiocoder", paths[h],
                     (unsigned long long)m[h]->lineage.source, paths[e], (unsigned long long)model_hash(m[e]));
    return rc == 1 ? err_set("the lineage of the set is unknown") : rc;
}

void model_lineage_note(char *buf, size_t cap, uint64_t init, uint64_t final)
{
    snprintf(buf, cap, "init=%016llx final=%016llx", (unsigned long long)init, (unsigned long long)final);
}

/* The hex value after "key=" in note, 0 when absent. */
static uint64_t note_hex(const char *note, const char *key)
{
    const char *p = strstr(note, key);
    return p ? strtoull(p + strlen(key), NULL, 16) : 0;
}

void model_lineage_take(model_lineage *self, uint64_t init, const char *peer_note)
{
    self->init = init;
    self->pair_init = note_hex(peer_note, "init=");
    self->pair_final = note_hex(peer_note, "final=");
}

int model_layer_keep_said(const lif_layer *layer, const char *kind, const model *info, const char *path,
                          bool complete, const char *what)
{
    char to[4096];
    if (model_layer_keep(layer, kind, info, path, complete, to, sizeof to) < 0)
        return -1;
    if (complete)
        log_info("saved %s to %s (%lld samples)", what, path, (long long)info->samples);
    else
        log_warn("interrupted after %lld samples: %s left as it was; %s so far saved as the "
                 "checkpoint %s", (long long)info->samples, path, what, to);
    return 0;
}
