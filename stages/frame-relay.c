/* frame-relay: passes frames from its in-port to its out-port unchanged, with the
 * shape it learns from the HELLO. Useful to benchmark links; --fail-after and
 * --delay-ms simulate a crashing or slow stage in tests. */
#include "core/err.h"
#include "core/log.h"
#include "transport/stage.h"

#include <math.h>
#include <time.h>

static const option_spec opts[] = {
    {"fail-after", OPT_INT, "0", "exit with an error after this many frames (0: never)"},
    {"delay-ms", OPT_FLOAT, "0", "pause before passing each frame on, in milliseconds"},
    {NULL, 0, NULL, NULL},
};
static const port_spec ports[] = {
    {"in", PORT_IN, 0, "frames of any shape"},
    {"out", PORT_OUT, 0, "the same frames"},
    {NULL, 0, 0, NULL},
};
static const stage_def def = {"frame-relay", "Passes frames through unchanged.", opts, ports};

int main(int argc, char **argv)
{
    stage *st = NULL;
    spike_frame *f = NULL;
    int rc = stage_new(&st, &def, argc, argv, stdout);
    if (rc != 0)
        return rc > 0 ? 0 : (log_error("%s", err_msg()), 2);
    int64_t fail_after = options_int(stage_options(st), "fail-after");
    double delay = options_float(stage_options(st), "delay-ms");
    spike_link *in = stage_in(st, "in", &(frame_shape){0}), *out;
    /* learn the shape first, then declare it downstream */
    if (!in || stage_handshake(st) < 0 || !(out = stage_out(st, "out", link_shape(in))) ||
        stage_ready(st) < 0 || !(f = link_frame_new(in)))
        goto fail;
    int64_t n = 0;
    while ((rc = link_recv(in, f)) == 1) {
        if (fail_after > 0 && ++n >= fail_after) {
            err_set("failing on purpose after %lld frames (--fail-after)", (long long)n);
            goto fail;
        }
        if (delay > 0)
            nanosleep(&(struct timespec){(time_t)(delay / 1000), (long)(fmod(delay, 1000) * 1e6)}, NULL);
        if (link_send(out, f) < 0)
            goto fail;
    }
    if (rc < 0 || stage_finish(st) < 0)
        goto fail;
    frame_destroy(&f);
    stage_destroy(&st);
    return 0;
fail:
    log_error("%s", err_msg());
    frame_destroy(&f);
    stage_destroy(&st);
    return 1;
}
