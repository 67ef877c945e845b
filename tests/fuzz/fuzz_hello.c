/* fuzz_hello: a peer's HELLO, as link_handshake reads it: frame_decode into
 * the link's control-only frame, then link_hello_agree against this end.
 *
 * Input: byte 0 picks this end (ends[] below: in-ports that take any shape or
 * one shape, out-ports, with and without a run id), the rest is the HELLO's
 * msgpack header (a HELLO has no payload). An agreed link must have a full
 * shape within the frame limits and its max_frame, for which link_frame_new
 * can make a frame. */
#include "fuzz.h"

#include "transport/link.h"

#include <string.h>

#define MAX_FRAME (1 << 16) /* small, so that an agreed shape is cheap to allocate */

static const link_end ends[] = {
    {{"dec", "ae-decoder", ""}, "spikes", PORT_IN, {FRAME_ANY, 0, 0, 0}, MAX_FRAME},
    {{"dec", "ae-decoder", "run1"}, "spikes", PORT_IN, {FRAME_SPIKES, 4, 20, 3}, MAX_FRAME},
    {{"sink", "image-sink", "run1"}, "in", PORT_IN, {FRAME_VALUES, 0, 5, 0}, MAX_FRAME},
    {{"enc", "ae-encoder", ""}, "out", PORT_OUT, {FRAME_SPIKES, 4, 20, 3}, MAX_FRAME},
    {{"src", "frame-source", "run1"}, "out", PORT_OUT, {FRAME_ERROR, 1, 1, 1}, MAX_FRAME},
};
#define N_ENDS (sizeof ends / sizeof *ends)

int fuzz_hello(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const link_end *mine = &ends[data[0] % N_ENDS];
    spike_frame *ctl = frame_new(&(frame_shape){FRAME_CONTROL, 0, 0, 0});
    fuzz_require(ctl);
    char name[FRAME_LINK_MAX] = "";
    frame_shape shape;
    if (frame_decode(ctl, data + 1, size - 1, NULL, 0) == 0 && ctl->kind == FRAME_CONTROL &&
        ctl->control == FRAME_HELLO && link_hello_agree(mine, ctl, name, sizeof name, &shape) == 0) {
        fuzz_require(strstr(name, "->"));
        fuzz_require(shape.kind >= FRAME_SPIKES && shape.kind <= FRAME_ERROR);
        fuzz_require(shape.batch && shape.width && shape.steps);
        fuzz_require(frame_payload_bytes(shape.kind, shape.batch, shape.width) <= MAX_FRAME);
        spike_frame *f = frame_new(&shape); /* what link_frame_new makes of it */
        fuzz_require(f);
        frame_destroy(&f);
    }
    frame_destroy(&ctl);
    return 0;
}
