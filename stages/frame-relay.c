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

typedef struct {
    int64_t fail_after;
    double delay_ms;
    spike_link *in, *out;
    spike_frame *f;
} relay;

/* The in-link's shape first, then the same downstream. */
static int relay_open(stage *st, void *arg)
{
    relay *r = arg;
    r->fail_after = options_int(stage_options(st), "fail-after");
    r->delay_ms = options_float(stage_options(st), "delay-ms");
    if (!(r->in = stage_in(st, "in", &(frame_shape){0})) || stage_handshake(st) < 0 ||
        !(r->out = stage_out(st, "out", link_shape(r->in))) || !(r->f = link_frame_new(r->in)))
        return -1;
    return 0;
}

static int relay_run(stage *st, void *arg)
{
    (void)st;
    relay *r = arg;
    int64_t n = 0;
    int rc;
    while ((rc = link_recv(r->in, r->f)) == 1) {
        if (r->fail_after > 0 && ++n >= r->fail_after)
            return err_set("failing on purpose after %lld frames (--fail-after)", (long long)n);
        if (r->delay_ms > 0)
            nanosleep(&(struct timespec){(time_t)(r->delay_ms / 1000),
                                         (long)(fmod(r->delay_ms, 1000) * 1e6)}, NULL);
        if (link_send(r->out, r->f) < 0)
            return -1;
    }
    return rc;
}

static void relay_cleanup(void *arg) { frame_destroy(&((relay *)arg)->f); }

static const stage_callbacks callbacks = {.open = relay_open, .run = relay_run, .cleanup = relay_cleanup};

int main(int argc, char **argv)
{
    relay r = {0};
    return stage_main(&def, &callbacks, &r, argc, argv);
}
