/* frame: one time step of one batch as it travels between stages, and its wire
 * encoding (docs/protocol.md): a msgpack header (version first, then kind, run id,
 * link name, batch index, step t of T, shape, sample ids and, optionally, the
 * samples' names and labels, control fields) and a
 * payload (bit-packed spikes or float32 values, little-endian).
 *
 * A spike_frame is allocated once for a shape and reused for every step: decoding
 * never allocates, and rejects any count that does not fit the allocation or the
 * payload. Spikes are packed row by row, frame_row_bytes(N) bytes per row, bit j of
 * row i in byte i*row_bytes + j/8 at bit position j%8 (LSB first); the bits past N
 * in a row's last byte are 0 (decoding refuses a payload that sets them).
 *
 * The type is spike_frame (a bare `frame` would shadow too many variables); its
 * functions are frame_*. */
#ifndef SPIKESYNTH_FRAME_H
#define SPIKESYNTH_FRAME_H

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FRAME_VERSION 1
#define FRAME_NAME_MAX 64  /* run ids, stage, type and port names: < 64 bytes */
#define FRAME_LINK_MAX 264 /* "stage.port->stage.port" */
#define FRAME_TEXT_MAX 256
#define FRAME_SAMPLE_NAME_MAX 320 /* a sample's name: < 320 bytes (a 255-byte stem + "-ID") */
#define FRAME_MAX_BATCH (1u << 20)
#define FRAME_MAX_WIDTH (1u << 26)
#define FRAME_MAX_STEPS (1u << 24)

typedef enum {
    FRAME_ANY = 0,  /* in shapes only: "whatever the sender declares" */
    FRAME_SPIKES,   /* bit-packed 0/1 */
    FRAME_VALUES,   /* float32 (images, rates, outputs) */
    FRAME_MEMBRANE, /* float32 membrane potentials */
    FRAME_ERROR,    /* float32 error signals sent backward (training) */
    FRAME_CONTROL,  /* no payload; see frame_control */
} frame_kind;

typedef enum {
    FRAME_NONE = 0,
    FRAME_HELLO,     /* link handshake: stage, type, port, end, shape */
    FRAME_READY,     /* stage -> runner: links are up */
    FRAME_GO,        /* runner -> stage: start */
    FRAME_END,       /* in-band end of stream; batch_index = batches sent */
    FRAME_END_ACK,   /* receiver -> sender: END read, everything before it too */
    FRAME_HEARTBEAT, /* "still alive" while a stage waits */
    FRAME_STOP,      /* runner -> source: finish the batch, then END */
    FRAME_DONE,      /* stage -> runner: finished cleanly */
} frame_control;

/* What a link carries. In an in-port's expectation, 0 (or FRAME_ANY) means any. */
typedef struct {
    frame_kind kind;
    uint32_t batch; /* rows per frame (the last batch may have fewer) */
    uint32_t width; /* N */
    uint32_t steps; /* T: frames per batch */
} frame_shape;

/* The fields of a HELLO (the sender's instance name is spike_frame.stage). On the
 * wire its shape is the header's batch, width and steps plus a "data" kind. */
typedef struct {
    char type[FRAME_NAME_MAX]; /* program, e.g. "poisson-encoder" */
    char port[FRAME_NAME_MAX]; /* port name at that stage */
    bool out;                  /* the sending end of the link */
    frame_shape shape;         /* out end: what it sends; in end: what it accepts */
    char lane[FRAME_NAME_MAX]; /* out end: a shared-memory ring it offers for the data;
                                  in end: "accept" if it can take one; "" neither */
} frame_hello;

typedef struct spike_frame {
    frame_kind kind;
    frame_control control;    /* when kind == FRAME_CONTROL */
    uint32_t batch_index;     /* batch number within the stream, from 0 */
    uint32_t batches;         /* data frames: the stream's number of batches, 0 unknown
                                 (a source that knows it says; a training's lr schedule) */
    uint32_t step, steps;     /* step t of T, 0 <= t < T */
    uint32_t batch;           /* B: rows in this frame, <= shape.batch */
    uint32_t row0, rows;      /* a part of a step: rows row0..row0+B-1 of the step's `rows`;
                                 a whole step: row0 0, rows B or 0 (frame_follow copies them) */
    uint32_t width;           /* N */
    uint32_t *ids;            /* [shape.batch] sample id of each row */
    bool named;               /* data frames: the rows' sample names and labels are set
                                 (sent with step 0 only; frame_set_sample sets it) */
    char *names;              /* [shape.batch][FRAME_SAMPLE_NAME_MAX]: see frame_name */
    int32_t *labels;          /* [shape.batch] class of each row's sample, -1: unknown */
    uint8_t *spikes;          /* FRAME_SPIKES: shape.batch rows of frame_row_bytes(N) */
    float *values;            /* float kinds: shape.batch x N, row-major */
    frame_shape shape;        /* the allocation; fixed by frame_new */
    /* set by frame_decode; frame_encode takes run and link as arguments */
    char run[FRAME_NAME_MAX];
    char link[FRAME_LINK_MAX];
    char stage[FRAME_NAME_MAX]; /* control frames: the sender's instance name */
    frame_hello hello;          /* FRAME_HELLO */
    char text[FRAME_TEXT_MAX];  /* control frames: optional human-readable text */
} spike_frame;

/* A frame able to hold shape->batch rows of shape->width columns of shape->kind.
 * A FRAME_CONTROL (or zero-batch) shape gives a frame that holds only control frames. */
spike_frame *frame_new(const frame_shape *shape);
void frame_destroy(spike_frame **self_p);

/* Makes self the answer to src: a data frame of self's own kind (its shape's)
 * with src's batch index, step, steps, row count and samples (ids; names and
 * labels when src is named: see frame_copy_samples). self must hold
 * src->batch rows (it is sized for the same link batch). */
void frame_follow(spike_frame *self, const spike_frame *src);
/* The same for rows row0..row0+n-1 of src: a part of its step (row0, rows =
 * src->batch) with those rows' samples. */
void frame_follow_rows(spike_frame *self, const spike_frame *src, uint32_t row0, uint32_t n);
/* Rows row0..row0+n-1 of src become self's rows 0..n-1 as far as the samples go:
 * their ids and, when src is named, their names and labels (self->named =
 * src->named). self must hold n rows. For stages that relay samples without
 * frame_follow. */
void frame_copy_samples(spike_frame *self, const spike_frame *src, uint32_t row0, uint32_t n);
/* Names row `row`'s sample (and makes self named): -1 with err_msg() when the
 * row is beyond the allocation, the label is below -1, or the name is empty,
 * "." or "..", holds a '/' or needs FRAME_SAMPLE_NAME_MAX bytes or more (sinks
 * make file names of it; decoding checks the same). A source that names one
 * row of a frame names all of them. */
int frame_set_sample(spike_frame *self, uint32_t row, const char *name, int32_t label);
/* Row `row`'s sample name ("" when the frame is not named). */
static inline const char *frame_name(const spike_frame *f, uint32_t row)
{
    return f->named ? f->names + (size_t)row * FRAME_SAMPLE_NAME_MAX : "";
}
/* Makes self batch batch_index of a source of values: FRAME_VALUES, `rows`
 * rows, one step (step 0 of 1). The rows' ids, samples and values are the
 * caller's to fill. */
void frame_start_values(spike_frame *self, uint32_t rows, uint32_t batch_index);
/* Turns self into a control frame (no rows), keeping the allocation. */
void frame_set_control(spike_frame *self, frame_control control);

const char *frame_kind_name(frame_kind kind);
const char *frame_control_name(frame_control control);
/* -1 (with err_msg) on an unknown name. */
int frame_kind_parse(const char *name, frame_kind *kind);

static inline size_t frame_row_bytes(uint32_t width) { return ((size_t)width + 7) / 8; }
/* Payload size of a data frame of kind with batch rows of width; 0 for control. */
size_t frame_payload_bytes(frame_kind kind, uint32_t batch, uint32_t width);
/* Writes the shape as "spikes 100x784, 15 steps" (wildcards as "any"). */
void frame_shape_format(const frame_shape *shape, char *buf, size_t cap);

/* Encodes self's header into out (cleared first; its memory is reused). The
 * payload is sent as is: see frame_payload. run and link may be "". */
int frame_encode(const spike_frame *self, const char *run, const char *link, msgpack_sbuffer *out);
/* The payload bytes of self (NULL/0 for control frames). */
void frame_payload(const spike_frame *self, const void **data, size_t *len);
/* Decodes one message into self. Checks types, sizes and counts against self's
 * allocation and the payload length; errors name the field at fault. */
int frame_decode(spike_frame *self, const void *header, size_t header_len,
                 const void *payload, size_t payload_len);

/* Spike access (FRAME_SPIKES frames). */
static inline bool frame_spike(const spike_frame *f, uint32_t row, uint32_t col)
{
    return f->spikes[row * frame_row_bytes(f->width) + col / 8] >> (col % 8) & 1;
}
static inline void frame_set_spike(spike_frame *f, uint32_t row, uint32_t col, bool on)
{
    uint8_t *b = &f->spikes[row * frame_row_bytes(f->width) + col / 8];
    *b = (uint8_t)(on ? *b | 1u << (col % 8) : *b & ~(1u << (col % 8)));
}
/* Packs a batch x width array (nonzero = spike) into self, which becomes a
 * FRAME_SPIKES frame of batch rows; fails when batch exceeds the allocation. */
int frame_pack_f32(spike_frame *self, const float *src, uint32_t batch);
int frame_pack_u8(spike_frame *self, const uint8_t *src, uint32_t batch);
/* Unpacks into dst (self->batch x self->width) as 0/1. */
void frame_unpack_f32(const spike_frame *self, float *dst);
void frame_unpack_u8(const spike_frame *self, uint8_t *dst);
/* Number of spikes in the frame's rows. */
uint64_t frame_count_spikes(const spike_frame *self);

/* Per-link order checker: data frames must come as batch b steps 0..T-1, then
 * batch b+1, from batch 0 (a step sent in parts: its parts in row order, from
 * row 0 to its last row, none missing); END must come at a batch boundary and
 * state the number of batches. A gap, repeat or reorder is an error naming expected and
 * received positions. Plain struct: the fields are the next expected position. */
typedef struct {
    uint32_t steps;
    uint32_t batch_index;
    uint32_t step;
    uint32_t next_row, rows; /* within a step sent in parts: the next part's first row */
    bool ended;
} frame_seq;

void frame_seq_init(frame_seq *self, uint32_t steps);
/* Checks a data or END frame (other control frames are ignored) and advances. */
int frame_seq_check(frame_seq *self, const spike_frame *f);

#endif
