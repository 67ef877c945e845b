/* fuzz_frame: frame_decode over any bytes, as a link's receiving end runs it
 * on a message from the wire (docs/protocol.md).
 *
 * Input: byte 0 picks the link's shape (the allocation, shapes[] below),
 * bytes 1-2 the header's length L (little-endian), then L header bytes, then
 * the payload. A frame that decodes must keep frame.h's invariants (no more
 * rows than the allocation, the payload its shape's size), go through every
 * reader of a received frame, and encode again to a message that decodes to
 * the same frame. */
#include "fuzz.h"

#include "transport/frame.h"

#include <string.h>

static const frame_shape shapes[] = {
    {FRAME_SPIKES, 4, 20, 3}, {FRAME_VALUES, 3, 5, 1}, {FRAME_MEMBRANE, 2, 3, 2},
    {FRAME_ERROR, 1, 1, 1},   {FRAME_SPIKES, 1, 8, 1}, {FRAME_CONTROL, 0, 0, 0},
};
#define N_SHAPES (sizeof shapes / sizeof *shapes)

/* What a stage does with a received frame: read its rows, follow it, check its order. */
static void read_frame(const spike_frame *f)
{
    fuzz_require(f->batch <= f->shape.batch);
    const void *data;
    size_t len;
    frame_payload(f, &data, &len);
    fuzz_require(len == frame_payload_bytes(f->kind, f->batch, f->width));
    if (f->kind == FRAME_SPIKES) {
        uint8_t cells[4 * 20];
        fuzz_require((size_t)f->batch * f->width <= sizeof cells);
        frame_unpack_u8(f, cells);
        uint64_t on = 0;
        for (size_t i = 0; i < (size_t)f->batch * f->width; i++)
            on += cells[i];
        fuzz_require(frame_count_spikes(f) == on); /* no bit set past a row's width */
    }
    for (uint32_t i = 0; i < f->batch; i++)
        fuzz_require(strlen(frame_name(f, i)) < FRAME_SAMPLE_NAME_MAX);
    frame_seq seq;
    frame_seq_init(&seq, f->steps);
    (void)frame_seq_check(&seq, f);
    spike_frame *copy = frame_new(&f->shape);
    fuzz_require(copy);
    if (f->kind != FRAME_CONTROL)
        frame_follow(copy, f);
    frame_destroy(&copy);
}

/* encode(decode(m)) decodes, and encodes again to the same bytes */
static void round_trip(const spike_frame *f)
{
    msgpack_sbuffer a, b;
    msgpack_sbuffer_init(&a);
    msgpack_sbuffer_init(&b);
    spike_frame *g = frame_new(&f->shape);
    fuzz_require(g);
    const void *payload;
    size_t len;
    frame_payload(f, &payload, &len);
    fuzz_require(frame_encode(f, f->run, f->link, &a) == 0);
    fuzz_require(frame_decode(g, a.data, a.size, payload, len) == 0);
    fuzz_require(frame_encode(g, g->run, g->link, &b) == 0);
    fuzz_require(a.size == b.size && !memcmp(a.data, b.data, a.size));
    frame_destroy(&g);
    msgpack_sbuffer_destroy(&a);
    msgpack_sbuffer_destroy(&b);
}

int fuzz_frame(const uint8_t *data, size_t size)
{
    if (size < 3)
        return 0;
    size_t header_len = (size_t)data[1] | (size_t)data[2] << 8;
    if (header_len > size - 3)
        header_len = size - 3;
    const uint8_t *header = data + 3, *payload = header + header_len;
    size_t payload_len = size - 3 - header_len;
    spike_frame *f = frame_new(&shapes[data[0] % N_SHAPES]);
    fuzz_require(f);
    if (frame_decode(f, header, header_len, payload_len ? payload : NULL, payload_len) == 0) {
        read_frame(f);
        round_trip(f);
    }
    frame_destroy(&f);
    return 0;
}
