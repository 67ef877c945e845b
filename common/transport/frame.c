/* frame: spike_frame allocation, wire encoding and checked decoding, spike
 * packing and the per-link order checker (see include/frame.h, docs/protocol.md).
 * Invariant: a decoded frame never has more rows than its allocation, and its
 * payload length always equals frame_payload_bytes(kind, batch, width). */
#include "transport/frame.h"

#include "core/err.h"
#include "core/mp_reader.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* float32 payloads are sent in host order; every supported host is little-endian */
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "frame payloads assume little-endian");

static const char *kind_names[] = {"any", "spikes", "values", "membrane", "error", "control"};
static const char *control_names[] = {"none", "hello", "ready", "go", "end",
                                      "end-ack", "heartbeat", "stop", "done"};
#define N_KINDS (sizeof kind_names / sizeof *kind_names)
#define N_CONTROLS (sizeof control_names / sizeof *control_names)

const char *frame_kind_name(frame_kind kind)
{
    return (unsigned)kind < N_KINDS ? kind_names[kind] : "?";
}

const char *frame_control_name(frame_control control)
{
    return (unsigned)control < N_CONTROLS ? control_names[control] : "?";
}

int frame_kind_parse(const char *name, frame_kind *kind)
{
    for (unsigned i = 0; i < N_KINDS; i++)
        if (!strcmp(name, kind_names[i])) {
            *kind = (frame_kind)i;
            return 0;
        }
    return err_set("unknown frame kind '%s' (spikes, values, membrane, error, control)", name);
}

static bool is_data(frame_kind k) { return k >= FRAME_SPIKES && k <= FRAME_ERROR; }

size_t frame_payload_bytes(frame_kind kind, uint32_t batch, uint32_t width)
{
    if (kind == FRAME_SPIKES)
        return (size_t)batch * frame_row_bytes(width);
    if (is_data(kind))
        return (size_t)batch * width * sizeof(float);
    return 0;
}

void frame_shape_format(const frame_shape *s, char *buf, size_t cap)
{
    char b[16], w[16], t[16];
    snprintf(b, sizeof b, "%u", s->batch);
    snprintf(w, sizeof w, "%u", s->width);
    snprintf(t, sizeof t, "%u", s->steps);
    snprintf(buf, cap, "%s %sx%s, %s steps", frame_kind_name(s->kind), s->batch ? b : "any",
             s->width ? w : "any", s->steps ? t : "any");
}

spike_frame *frame_new(const frame_shape *shape)
{
    spike_frame *self = calloc(1, sizeof *self);
    if (!self)
        goto oom;
    self->shape = *shape;
    if (!is_data(shape->kind) || shape->batch == 0) {
        self->shape.kind = FRAME_CONTROL;
        self->shape.batch = 0;
        self->kind = FRAME_CONTROL;
        return self;
    }
    if (shape->batch > FRAME_MAX_BATCH || shape->width == 0 || shape->width > FRAME_MAX_WIDTH) {
        char s[96];
        frame_shape_format(shape, s, sizeof s);
        err_set("frame shape %s: batch must be within 1..%u, width must be within 1..%u", s, FRAME_MAX_BATCH,
                FRAME_MAX_WIDTH);
        free(self);
        return NULL;
    }
    self->ids = calloc(shape->batch, sizeof *self->ids);
    self->labels = calloc(shape->batch, sizeof *self->labels);
    /* calloc'd pages are only touched when names arrive, so unnamed links cost nothing */
    self->names = calloc(shape->batch, FRAME_SAMPLE_NAME_MAX);
    size_t bytes = frame_payload_bytes(shape->kind, shape->batch, shape->width);
    if (shape->kind == FRAME_SPIKES)
        self->spikes = calloc(1, bytes);
    else
        self->values = calloc(1, bytes);
    if (!self->ids || !self->labels || !self->names || (!self->spikes && !self->values))
        goto oom;
    self->kind = shape->kind;
    self->batch = shape->batch;
    self->width = shape->width;
    self->steps = shape->steps ? shape->steps : 1;
    return self;
oom:
    err_set("frame: out of memory");
    frame_destroy(&self);
    return NULL;
}

void frame_destroy(spike_frame **self_p)
{
    spike_frame *self = self_p ? *self_p : NULL;
    if (!self)
        return;
    free(self->ids);
    free(self->labels);
    free(self->names);
    free(self->spikes);
    free(self->values);
    free(self);
    *self_p = NULL;
}

void frame_copy_samples(spike_frame *self, const spike_frame *src, uint32_t row0, uint32_t n)
{
    if (n > self->shape.batch)
        n = self->shape.batch;
    memmove(self->ids, src->ids + row0, n * sizeof *self->ids);
    self->named = src->named;
    if (src->named) {
        memmove(self->labels, src->labels + row0, n * sizeof *self->labels);
        memmove(self->names, src->names + (size_t)row0 * FRAME_SAMPLE_NAME_MAX,
                (size_t)n * FRAME_SAMPLE_NAME_MAX);
    }
}

/* A sample's name becomes a file name at sinks: no path, nothing empty. */
static bool name_ok(const char *name)
{
    return *name && !strchr(name, '/') && strcmp(name, ".") && strcmp(name, "..");
}

int frame_set_sample(spike_frame *self, uint32_t row, const char *name, int32_t label)
{
    size_t len = strlen(name);
    if (row >= self->shape.batch)
        return err_set("frame: sample row %u, the frame holds %u rows", row, self->shape.batch);
    if (len >= FRAME_SAMPLE_NAME_MAX)
        return err_set("sample name '%.40s...' of %zu bytes: at most %d allowed", name, len,
                       FRAME_SAMPLE_NAME_MAX - 1);
    if (!name_ok(name))
        return err_set("sample name '%s': empty, '.', '..' or holding a '/'", name);
    if (label < -1)
        return err_set("sample '%s': label %d (-1: unknown)", name, label);
    memcpy(self->names + (size_t)row * FRAME_SAMPLE_NAME_MAX, name, len + 1);
    self->labels[row] = label;
    self->named = true;
    return 0;
}

static void follow_position(spike_frame *self, const spike_frame *src)
{
    self->kind = self->shape.kind;
    self->control = FRAME_NONE;
    self->batch_index = src->batch_index;
    self->batches = src->batches;
    self->step = src->step;
    self->steps = src->steps;
}

void frame_follow(spike_frame *self, const spike_frame *src)
{
    follow_position(self, src);
    self->batch = src->batch <= self->shape.batch ? src->batch : self->shape.batch;
    self->row0 = src->row0;
    self->rows = src->rows;
    frame_copy_samples(self, src, 0, self->batch);
}

void frame_follow_rows(spike_frame *self, const spike_frame *src, uint32_t row0, uint32_t n)
{
    follow_position(self, src);
    self->row0 = row0;
    self->rows = src->batch;
    self->batch = n <= self->shape.batch ? n : self->shape.batch;
    frame_copy_samples(self, src, row0, self->batch);
}

void frame_start_values(spike_frame *self, uint32_t rows, uint32_t batch_index)
{
    self->kind = FRAME_VALUES;
    self->batch = rows;
    self->batch_index = batch_index;
    self->step = 0;
    self->steps = 1;
}

void frame_set_control(spike_frame *self, frame_control control)
{
    self->kind = FRAME_CONTROL;
    self->control = control;
    self->batch = 0;
}

/* ---- encoding ---------------------------------------------------------- */

static int pack_str(msgpack_packer *pk, const char *s)
{
    return msgpack_pack_str_with_body(pk, s, strlen(s));
}

static int pack_kv_str(msgpack_packer *pk, const char *k, const char *v)
{
    return pack_str(pk, k) || pack_str(pk, v);
}

static int pack_kv_u32(msgpack_packer *pk, const char *k, uint32_t v)
{
    return pack_str(pk, k) || msgpack_pack_uint32(pk, v);
}

int frame_encode(const spike_frame *self, const char *run, const char *link, msgpack_sbuffer *out)
{
    bool control = self->kind == FRAME_CONTROL;
    bool hello = control && self->control == FRAME_HELLO;
    if (!control && !is_data(self->kind))
        return err_set("frame encode: invalid kind %d", (int)self->kind);
    if (control && (self->control <= FRAME_NONE || (unsigned)self->control >= N_CONTROLS))
        return err_set("frame encode: invalid control code %d", (int)self->control);
    if (!control && (self->kind != self->shape.kind || self->batch > self->shape.batch ||
                     self->width != self->shape.width || self->batch == 0))
        return err_set("frame encode: %s frame of %u rows x %u does not fit its allocation "
                       "(%s %u x %u)", frame_kind_name(self->kind), self->batch, self->width,
                       frame_kind_name(self->shape.kind), self->shape.batch, self->shape.width);
    if (!control && (self->steps == 0 || self->step >= self->steps))
        return err_set("frame encode: step %u of %u is out of range", self->step, self->steps);
    msgpack_sbuffer_clear(out);
    msgpack_packer pk;
    msgpack_packer_init(&pk, out, msgpack_sbuffer_write);
    bool lane = hello && self->hello.lane[0];
    bool part = !control && (self->row0 != 0 || (self->rows != 0 && self->rows != self->batch));
    if (part && (self->rows == 0 || self->rows > self->shape.batch ||
                 (uint64_t)self->row0 + self->batch > self->rows))
        return err_set("frame encode: rows %u..%u of a step of %u (the frame holds %u)", self->row0,
                       self->row0 + self->batch - 1, self->rows, self->shape.batch);
    /* a batch's samples are the same at every step: their names go with step 0 */
    bool named = !control && self->named && self->step == 0;
    bool batches = !control && self->batches;
    size_t n = 10 + (control ? 2 : 0) + (hello ? 4 : 0) + (lane ? 1 : 0) + (part ? 2 : 0) +
               (named ? 2 : 0) + (batches ? 1 : 0) + (control && self->text[0] ? 1 : 0);
    int bad = msgpack_pack_map(&pk, n) || pack_kv_u32(&pk, "version", FRAME_VERSION) ||
              pack_kv_str(&pk, "kind", frame_kind_name(self->kind)) ||
              pack_kv_str(&pk, "run", run ? run : "") || pack_kv_str(&pk, "link", link ? link : "") ||
              pack_kv_u32(&pk, "batch_index", self->batch_index) ||
              pack_kv_u32(&pk, "step", self->step) || pack_kv_u32(&pk, "steps", hello ? self->hello.shape.steps : self->steps) ||
              pack_kv_u32(&pk, "batch", hello ? self->hello.shape.batch : self->batch) ||
              pack_kv_u32(&pk, "width", hello ? self->hello.shape.width : self->width);
    uint32_t n_ids = control ? 0 : self->batch;
    bad = bad || pack_str(&pk, "ids") || msgpack_pack_array(&pk, n_ids);
    for (uint32_t i = 0; i < n_ids && !bad; i++)
        bad = msgpack_pack_uint32(&pk, self->ids[i]);
    if (control)
        bad = bad || pack_kv_str(&pk, "control", frame_control_name(self->control)) ||
              pack_kv_str(&pk, "stage", self->stage);
    if (hello)
        bad = bad || pack_kv_str(&pk, "type", self->hello.type) ||
              pack_kv_str(&pk, "port", self->hello.port) ||
              pack_kv_str(&pk, "end", self->hello.out ? "out" : "in") ||
              pack_kv_str(&pk, "data", frame_kind_name(self->hello.shape.kind));
    if (lane)
        bad = bad || pack_kv_str(&pk, "lane", self->hello.lane);
    if (part)
        bad = bad || pack_kv_u32(&pk, "row0", self->row0) || pack_kv_u32(&pk, "rows", self->rows);
    if (batches)
        bad = bad || pack_kv_u32(&pk, "batches", self->batches);
    if (named) {
        bad = bad || pack_str(&pk, "names") || msgpack_pack_array(&pk, n_ids);
        for (uint32_t i = 0; i < n_ids && !bad; i++)
            bad = pack_str(&pk, frame_name(self, i));
        bad = bad || pack_str(&pk, "labels") || msgpack_pack_array(&pk, n_ids);
        for (uint32_t i = 0; i < n_ids && !bad; i++)
            bad = msgpack_pack_int32(&pk, self->labels[i]);
    }
    if (control && self->text[0])
        bad = bad || pack_kv_str(&pk, "text", self->text);
    if (bad)
        return err_set("frame encode: out of memory");
    return 0;
}

void frame_payload(const spike_frame *self, const void **data, size_t *len)
{
    *len = frame_payload_bytes(self->kind, self->batch, self->width);
    *data = !*len ? NULL : self->kind == FRAME_SPIKES ? (const void *)self->spikes
                                                       : (const void *)self->values;
}

/* ---- decoding ---------------------------------------------------------- */

enum field {
    F_VERSION, F_KIND, F_RUN, F_LINK, F_BATCH_INDEX, F_STEP, F_STEPS, F_BATCH, F_WIDTH,
    F_IDS, F_CONTROL, F_STAGE, F_TYPE, F_PORT, F_END, F_DATA, F_TEXT, F_LANE, F_ROW0, F_ROWS,
    F_NAMES, F_LABELS, F_BATCHES, N_FIELDS
};
static const char *field_names[N_FIELDS] = {
    "version", "kind", "run", "link", "batch_index", "step", "steps", "batch", "width",
    "ids", "control", "stage", "type", "port", "end", "data", "text", "lane", "row0", "rows",
    "names", "labels", "batches"};

static int read_name(mp_reader *r, char *buf, size_t cap, const char *field)
{
    if (mp_reader_strcpy(r, buf, cap) < 0)
        return err_wrap("frame header field '%s'", field);
    return 0;
}

static int read_enum(mp_reader *r, const char **names, unsigned first, unsigned n, unsigned *out,
                     const char *field)
{
    char buf[32];
    if (read_name(r, buf, sizeof buf, field) < 0)
        return -1;
    for (unsigned i = first; i < n; i++)
        if (!strcmp(buf, names[i])) {
            *out = i;
            return 0;
        }
    return err_set("frame header field '%s': unknown value '%s'", field, buf);
}

/* An array of per-row values: its count must fit the allocation (it is untrusted). */
/* Entry i of a per-row array (ids, names, labels) into its place in f. */
typedef int read_entry_fn(mp_reader *r, spike_frame *f, uint32_t i);

static int read_id(mp_reader *r, spike_frame *f, uint32_t i) { return mp_reader_uint32(r, &f->ids[i]); }
static int read_label(mp_reader *r, spike_frame *f, uint32_t i) { return mp_reader_int32(r, &f->labels[i]); }
static int read_sample_name(mp_reader *r, spike_frame *f, uint32_t i)
{
    return mp_reader_strcpy(r, f->names + (size_t)i * FRAME_SAMPLE_NAME_MAX, FRAME_SAMPLE_NAME_MAX);
}

/* A per-row array: at most the frame's rows, none in a control-only frame. */
static int read_rows(spike_frame *f, mp_reader *r, const char *field, uint32_t *count,
                     read_entry_fn *entry)
{
    if (mp_reader_array(r, count) < 0)
        return err_wrap("frame header field '%s'", field);
    if (*count && f->shape.kind == FRAME_CONTROL)
        return err_set("frame with %u %s where only control frames are expected", *count, field);
    if (*count > f->shape.batch)
        return err_set("frame header field '%s': %u entries, the frame holds at most %u rows",
                       field, *count, f->shape.batch);
    for (uint32_t i = 0; i < *count; i++)
        if (entry(r, f, i) < 0)
            return err_wrap("frame header field '%s' entry %u", field, i);
    return 0;
}

static int read_field(spike_frame *f, mp_reader *r, enum field k, uint32_t *n_ids, uint32_t *n_names,
                      uint32_t *n_labels)
{
    uint32_t *u32[N_FIELDS] = {
        [F_BATCH_INDEX] = &f->batch_index, [F_STEP] = &f->step, [F_STEPS] = &f->steps,
        [F_BATCH] = &f->batch, [F_WIDTH] = &f->width, [F_ROW0] = &f->row0, [F_ROWS] = &f->rows,
        [F_BATCHES] = &f->batches};
    unsigned e = 0;
    switch (k) {
    case F_VERSION: {
        uint32_t v;
        if (mp_reader_uint32(r, &v) < 0)
            return err_wrap("frame header field 'version'");
        if (v != FRAME_VERSION)
            return err_set("frame protocol version %u, this program speaks version %u", v,
                           FRAME_VERSION);
        return 0;
    }
    case F_KIND:
        if (read_enum(r, kind_names, 1, N_KINDS, &e, "kind") < 0)
            return -1;
        f->kind = (frame_kind)e;
        return 0;
    case F_CONTROL:
        if (read_enum(r, control_names, 1, N_CONTROLS, &e, "control") < 0)
            return -1;
        f->control = (frame_control)e;
        return 0;
    case F_DATA:
        if (read_enum(r, kind_names, 0, N_KINDS, &e, "data") < 0)
            return -1;
        f->hello.shape.kind = (frame_kind)e;
        return 0;
    case F_END: {
        char buf[8];
        if (read_name(r, buf, sizeof buf, "end") < 0)
            return -1;
        if (strcmp(buf, "in") && strcmp(buf, "out"))
            return err_set("frame header field 'end': '%s', expected in or out", buf);
        f->hello.out = !strcmp(buf, "out");
        return 0;
    }
    case F_RUN: return read_name(r, f->run, sizeof f->run, "run");
    case F_LINK: return read_name(r, f->link, sizeof f->link, "link");
    case F_STAGE: return read_name(r, f->stage, sizeof f->stage, "stage");
    case F_TYPE: return read_name(r, f->hello.type, sizeof f->hello.type, "type");
    case F_PORT: return read_name(r, f->hello.port, sizeof f->hello.port, "port");
    case F_TEXT: return read_name(r, f->text, sizeof f->text, "text");
    case F_LANE: return read_name(r, f->hello.lane, sizeof f->hello.lane, "lane");
    case F_IDS: return read_rows(f, r, "ids", n_ids, read_id);
    case F_NAMES: return read_rows(f, r, "names", n_names, read_sample_name);
    case F_LABELS: return read_rows(f, r, "labels", n_labels, read_label);
    default:
        if (mp_reader_uint32(r, u32[k]) < 0)
            return err_wrap("frame header field '%s'", field_names[k]);
        return 0;
    }
}

/* The first row of a spikes payload that sets bits past width, or -1: the
 * padding must be 0 (frame_count_spikes counts whole bytes). */
static long padded_row(const uint8_t *p, uint32_t batch, uint32_t width)
{
    const unsigned used = width % 8;
    const size_t rb = frame_row_bytes(width);
    for (uint32_t i = 0; used && i < batch; i++)
        if (p[i * rb + rb - 1] >> used)
            return i;
    return -1;
}

int frame_decode(spike_frame *f, const void *header, size_t header_len, const void *payload,
                 size_t payload_len)
{
    mp_reader r;
    mp_reader_init(&r, header, header_len);
    uint32_t n = 0, n_ids = 0, n_names = 0, n_labels = 0;
    unsigned seen = 0;
    if (mp_reader_map(&r, &n) < 0)
        return err_wrap("frame header");
    if (n == 0 || n > 64)
        return err_set("frame header: map of %u entries, expected 1 to 64", n);
    f->run[0] = f->link[0] = f->stage[0] = f->text[0] = f->hello.lane[0] = '\0';
    f->row0 = f->rows = f->batches = 0;
    f->control = FRAME_NONE;
    f->named = false;
    for (uint32_t i = 0; i < n; i++) {
        const char *key = NULL;
        uint32_t klen = 0;
        if (mp_reader_str(&r, &key, &klen) < 0)
            return err_wrap("frame header key %u", i);
        int k = -1;
        for (int j = 0; j < N_FIELDS; j++)
            if (strlen(field_names[j]) == klen && !memcmp(key, field_names[j], klen))
                k = j;
        /* version comes first so that a future format is recognised before anything else */
        if (i == 0 && k != F_VERSION)
            return err_set("frame header: first field is '%.*s', expected 'version'",
                           (int)(klen > 32 ? 32 : klen), key);
        if (k < 0) { /* a field of a later minor revision: skip it */
            if (mp_reader_skip(&r) < 0)
                return err_wrap("frame header field '%.*s'", (int)(klen > 32 ? 32 : klen), key);
            continue;
        }
        if (seen & 1u << k)
            return err_set("frame header: field '%s' appears twice", field_names[k]);
        seen |= 1u << k;
        if (read_field(f, &r, (enum field)k, &n_ids, &n_names, &n_labels) < 0)
            return -1;
    }
    if (mp_reader_left(&r))
        return err_set("frame header: %zu bytes after the header map", mp_reader_left(&r));
    static const enum field required[] = {F_KIND, F_BATCH_INDEX, F_STEP, F_STEPS, F_BATCH, F_WIDTH};
    for (size_t i = 0; i < sizeof required / sizeof *required; i++)
        if (!(seen & 1u << required[i]))
            return err_set("frame header: missing field '%s'", field_names[required[i]]);

    if (f->kind == FRAME_CONTROL) {
        if (!(seen & 1u << F_CONTROL))
            return err_set("frame header: control frame without field 'control'");
        if (n_ids || n_names || n_labels || payload_len)
            return err_set("control frame (%s) with %u ids, %u names and %zu payload bytes, expected "
                           "none", frame_control_name(f->control), n_ids, n_names, payload_len);
        if (f->control == FRAME_HELLO) {
            static const enum field hello[] = {F_STAGE, F_TYPE, F_PORT, F_END, F_DATA};
            for (size_t i = 0; i < sizeof hello / sizeof *hello; i++)
                if (!(seen & 1u << hello[i]))
                    return err_set("HELLO frame: missing field '%s'", field_names[hello[i]]);
            if (!is_data(f->hello.shape.kind) && f->hello.shape.kind != FRAME_ANY)
                return err_set("HELLO frame: data kind '%s' is not a data kind",
                               frame_kind_name(f->hello.shape.kind));
            f->hello.shape.batch = f->batch;
            f->hello.shape.width = f->width;
            f->hello.shape.steps = f->steps;
        }
        f->batch = 0;
        return 0;
    }
    if (f->kind == FRAME_ANY)
        return err_set("frame header field 'kind': 'any' is not a frame kind");
    if (f->kind != f->shape.kind) {
        if (f->shape.kind == FRAME_CONTROL)
            return err_set("%s frame where only control frames are expected",
                           frame_kind_name(f->kind));
        return err_set("%s frame on a link that carries %s", frame_kind_name(f->kind),
                       frame_kind_name(f->shape.kind));
    }
    if (!(seen & 1u << F_IDS))
        return err_set("frame header: data frame without field 'ids'");
    if (f->steps == 0 || f->step >= f->steps)
        return err_set("frame header: step %u of %u is out of range", f->step, f->steps);
    if (f->batch == 0 || f->batch > f->shape.batch)
        return err_set("frame header: batch of %u rows, the link carries 1 to %u", f->batch,
                       f->shape.batch);
    if (f->width != f->shape.width)
        return err_set("frame header: width %u, the link carries width %u", f->width,
                       f->shape.width);
    if (n_ids != f->batch)
        return err_set("frame header: %u sample ids for %u rows", n_ids, f->batch);
    bool names = seen & 1u << F_NAMES, labels = seen & 1u << F_LABELS;
    if (names != labels)
        return err_set("frame header: field '%s' without '%s'", names ? "names" : "labels",
                       names ? "labels" : "names");
    if (names && (n_names != f->batch || n_labels != f->batch))
        return err_set("frame header: %u names and %u labels for %u rows", n_names, n_labels, f->batch);
    for (uint32_t i = 0; names && i < f->batch; i++) {
        if (f->labels[i] < -1)
            return err_set("frame header field 'labels' entry %u: %d (-1: unknown)", i, f->labels[i]);
        if (!name_ok(f->names + (size_t)i * FRAME_SAMPLE_NAME_MAX))
            return err_set("frame header field 'names' entry %u: '%s' is empty, '.', '..' or holds "
                           "a '/'", i, f->names + (size_t)i * FRAME_SAMPLE_NAME_MAX);
    }
    f->named = names;
    if (f->batches && f->batch_index >= f->batches)
        return err_set("frame header: batch %u of a stream of %u batches", f->batch_index, f->batches);
    if (!(seen & 1u << F_ROWS)) { /* a whole step */
        if (f->row0 != 0)
            return err_set("frame header: field 'row0' without 'rows'");
        f->rows = f->batch;
    }
    if (f->rows > f->shape.batch || (uint64_t)f->row0 + f->batch > f->rows)
        return err_set("frame header: rows %u..%u of a step of %u rows (the link carries at most "
                       "%u)", f->row0, f->row0 + f->batch - 1, f->rows, f->shape.batch);
    size_t want = frame_payload_bytes(f->kind, f->batch, f->width);
    if (payload_len != want)
        return err_set("frame payload of %zu bytes, %s %ux%u needs %zu", payload_len,
                       frame_kind_name(f->kind), f->batch, f->width, want);
    long row = f->kind == FRAME_SPIKES ? padded_row(payload, f->batch, f->width) : -1;
    if (row >= 0)
        return err_set("frame payload: spikes row %ld sets bits past its width %u", row, f->width);
    memcpy(f->kind == FRAME_SPIKES ? (void *)f->spikes : (void *)f->values, payload, want);
    return 0;
}

/* ---- spike packing ------------------------------------------------------- */

static int pack_check(spike_frame *self, uint32_t batch)
{
    if (self->shape.kind != FRAME_SPIKES)
        return err_set("frame pack: frame holds %s, not spikes", frame_kind_name(self->shape.kind));
    if (batch == 0 || batch > self->shape.batch)
        return err_set("frame pack: %u rows, the frame holds 1 to %u", batch, self->shape.batch);
    self->kind = FRAME_SPIKES;
    self->batch = batch;
    self->width = self->shape.width;
    return 0;
}

/* one byte at a time: eight comparisons folded into a byte, no per-bit read-modify-write */
/* Whole bytes first, eight values each (a constant count the compiler
 * vectorises), then the row's last partial byte. */
#define PACK_ROWS(src, test)                                                          \
    do {                                                                              \
        const size_t rb = frame_row_bytes(self->width), full = self->width / 8;       \
        for (uint32_t i = 0; i < batch; i++) {                                        \
            uint8_t *row = self->spikes + i * rb;                                     \
            const __typeof__(*(src)) *s = (src) + (size_t)i * self->width;             \
            for (size_t b = 0; b < full; b++) {                                       \
                unsigned byte = 0;                                                    \
                for (int k = 0; k < 8; k++)                                           \
                    byte |= (test(s[b * 8 + k]) ? 1u : 0u) << k;                      \
                row[b] = (uint8_t)byte;                                               \
            }                                                                         \
            if (full < rb) {                                                          \
                unsigned byte = 0;                                                    \
                for (uint32_t j = (uint32_t)full * 8; j < self->width; j++)           \
                    byte |= (test(s[j]) ? 1u : 0u) << (j % 8);                        \
                row[full] = (uint8_t)byte;                                            \
            }                                                                         \
        }                                                                             \
    } while (0)
#define NONZERO(x) ((x) != 0)

int frame_pack_f32(spike_frame *self, const float *src, uint32_t batch)
{
    if (pack_check(self, batch) < 0)
        return -1;
    PACK_ROWS(src, NONZERO);
    return 0;
}

int frame_pack_u8(spike_frame *self, const uint8_t *src, uint32_t batch)
{
    if (pack_check(self, batch) < 0)
        return -1;
    PACK_ROWS(src, NONZERO);
    return 0;
}

#define UNPACK_ROWS(dst, one)                                                         \
    do {                                                                              \
        const size_t rb = frame_row_bytes(self->width), full = self->width / 8;       \
        for (uint32_t i = 0; i < self->batch; i++) {                                  \
            const uint8_t *row = self->spikes + i * rb;                               \
            __typeof__(*(dst)) *d = (dst) + (size_t)i * self->width;                   \
            for (size_t b = 0; b < full; b++)                                         \
                for (int k = 0; k < 8; k++)                                           \
                    d[b * 8 + k] = (row[b] >> k & 1) ? one : 0;                       \
            for (uint32_t j = (uint32_t)full * 8; j < self->width; j++)               \
                d[j] = (row[j / 8] >> (j % 8) & 1) ? one : 0;                         \
        }                                                                             \
    } while (0)

void frame_unpack_f32(const spike_frame *self, float *dst) { UNPACK_ROWS(dst, 1.0f); }
void frame_unpack_u8(const spike_frame *self, uint8_t *dst) { UNPACK_ROWS(dst, 1); }

uint64_t frame_count_spikes(const spike_frame *self)
{
    uint64_t n = 0;
    size_t bytes = (size_t)self->batch * frame_row_bytes(self->width);
    for (size_t i = 0; i < bytes; i++)
        n += (uint64_t)__builtin_popcount(self->spikes[i]);
    return n; /* padding bits past width are always 0: pack and decode never set them */
}

/* ---- order checking ------------------------------------------------------ */

void frame_seq_init(frame_seq *self, uint32_t steps)
{
    self->steps = steps ? steps : 1;
    self->batch_index = 0;
    self->step = 0;
    self->next_row = self->rows = 0;
    self->ended = false;
}

int frame_seq_check(frame_seq *self, const spike_frame *f)
{
    bool end = f->kind == FRAME_CONTROL && f->control == FRAME_END;
    if (f->kind == FRAME_CONTROL && !end)
        return 0;
    if (self->ended)
        return err_set("%s after the end of the stream (END for %u batches)",
                       end ? "second END" : "frame", self->batch_index);
    if (end) {
        if (self->next_row != 0)
            return err_set("END in the middle of batch %u step %u: rows from %u of %u expected",
                           self->batch_index, self->step, self->next_row, self->rows);
        if (self->step != 0)
            return err_set("END in the middle of batch %u: step %u of %u expected", self->batch_index,
                           self->step, self->steps);
        if (f->batch_index != self->batch_index)
            return err_set("END says %u batches, %u were received", f->batch_index,
                           self->batch_index);
        self->ended = true;
        return 0;
    }
    if (f->steps != self->steps)
        return err_set("frame of batch %u step %u says %u steps per batch, the link agreed on %u",
                       f->batch_index, f->step, f->steps, self->steps);
    if (f->batch_index != self->batch_index || f->step != self->step) {
        uint64_t want = (uint64_t)self->batch_index * self->steps + self->step;
        uint64_t got = (uint64_t)f->batch_index * self->steps + f->step;
        return err_set("out of order: expected batch %u step %u of %u, received batch %u step %u (%s)",
                       self->batch_index, self->step, self->steps, f->batch_index, f->step,
                       got > want ? "frames missing" : "repeated or reordered");
    }
    /* parts of a step: in row order, all of them, before the next step */
    uint32_t rows = f->rows ? f->rows : f->batch;
    if (f->row0 != self->next_row || (self->next_row && rows != self->rows))
        return err_set("out of order: expected rows from %u of batch %u step %u%s, received rows "
                       "%u..%u of %u", self->next_row, self->batch_index, self->step,
                       self->next_row ? "" : " (a new step)", f->row0, f->row0 + f->batch - 1, rows);
    self->rows = rows;
    self->next_row = f->row0 + f->batch;
    if (self->next_row < rows)
        return 0;
    self->next_row = 0;
    if (++self->step == self->steps) {
        self->step = 0;
        self->batch_index++;
    }
    return 0;
}
