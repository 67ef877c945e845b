/* stage: what every stage program shares — its command line, its links, the
 * runner's control channel, signals — so that a stage's main reads as its story.
 *
 * stage_main is the skeleton: it parses the command line, calls the stage's
 * open (links, handshake), sends READY and waits for GO, calls run (the
 * stream) and close (results), ends the out-links, and on any error logs
 * err_msg() and exits non-zero; cleanup runs last in every case:
 *
 *   static const stage_callbacks cb = {.open = relay_open, .run = relay_run,
 *                                      .cleanup = relay_cleanup};
 *   int main(int argc, char **argv)
 *   {
 *       relay r = {0};
 *       return stage_main(&def, &cb, &r, argc, argv);
 *   }
 *
 * Underneath (and for tests), the same steps by hand:
 *
 *   stage *st;
 *   int rc = stage_new(&st, &def, argc, argv, stdout);  // 1: --help shown; -1: error
 *   spike_link *in = stage_in(st, "spikes", &(frame_shape){FRAME_SPIKES, 0, 784, 0});
 *   spike_link *out = stage_out(st, "grad", &shape);
 *   stage_ready(st);                 // all HELLOs, READY to the runner, wait for GO
 *   while ((r = link_recv(in, f)) == 1) { ... link_send(out, g); }
 *   stage_finish(st);                // END on every out-link, END_ACKs, DONE
 *   stage_destroy(&st);
 *
 * Control channel (with --control, set by spikesynth run): a DEALER whose routing
 * id is the stage name; the stage sends READY then DONE, the runner sends GO and
 * STOP (sources: end the stream at the next batch boundary). Without --control
 * (a stage run by hand) stage_ready returns at once.
 *
 * Signals: SIGTERM aborts any wait with an error (the stage then exits non-zero,
 * removing temporaries); SIGINT makes a source stop like STOP and aborts the waits
 * of other stages; a second signal exits at once. The flags are process-wide by
 * nature (signals are), kept in stage.c. */
#ifndef SPIKESYNTH_STAGE_H
#define SPIKESYNTH_STAGE_H

#include "transport/link.h"
#include "core/options.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

typedef struct stage stage;

typedef struct {
    const char *type;            /* program name, e.g. "frame-relay" */
    const char *summary;         /* one sentence for --help */
    const option_spec *options;  /* stage options, NULL-terminated (may be NULL) */
    const port_spec *ports;      /* ports, NULL-terminated */
    /* Under --preflight, after the paths: the stage's own checks (a training's
     * checkpoints to resume from). May be NULL. */
    int (*preflight)(const options *o);
} stage_def;

/* Parses argv (stage options plus the common ones), checks the paths they name
 * (core/preflight.h; --preflight: only that), sets the log name and level,
 * installs signal handlers, connects the control channel. 0: run; 1: --help,
 * --describe was printed to out, or --preflight passed (exit 0); -1: error in
 * err_msg() (exit 2). */
int stage_new(stage **self_p, const stage_def *def, int argc, char **argv, FILE *out);
/* Closes links (bounded linger), the control channel and the ZeroMQ context. */
void stage_destroy(stage **self_p);

const options *stage_options(const stage *self);
const char *stage_name(const stage *self);
uint64_t stage_seed(const stage *self);
/* Whether --in/--out gave an endpoint for port (for optional ports). */
bool stage_has_port(const stage *self, const char *port);

/* Opens the link of an in-port / out-port from its --in/--out endpoint. expect
 * as in link_new. NULL with err_msg() when the port is not connected or fails.
 * The handshake happens later, in stage_handshake or stage_ready. */
spike_link *stage_in(stage *self, const char *port, const frame_shape *expect);
spike_link *stage_out(stage *self, const char *port, const frame_shape *shape);

/* Completes the HELLO exchange on every link opened so far (all at once). Use it
 * to learn an in-link's shape before opening out-links that copy it. */
int stage_handshake(stage *self);
/* stage_handshake, then READY to the runner and wait for its GO. */
int stage_ready(stage *self);
/* For sources, between batches: true once STOP, SIGINT or SIGTERM arrived. */
bool stage_stopping(stage *self);
/* For long computations between link calls: heartbeats idle out-links and reads
 * the control channel. -1 when a signal asks the stage to abort. */
int stage_keepalive(stage *self);
/* END on every out-link not yet ended (stage_end), wait for their END_ACKs,
 * DONE to the runner. */
int stage_finish(stage *self);

/* ---- notes: what a stage tells its neighbours (link notes, docs/protocol.md) ---- */

/* The HELLO note of every link opened after this call ("model=... lineage=HEX"). */
void stage_set_note(stage *self, const char *note);
/* The value of key in a note ("key=value key=value"); false when absent. */
bool stage_note_value(const char *note, const char *key, char *buf, size_t cap);
/* The stream was cut short: this source stopped early (STOP, Ctrl-C), or an
 * in-link's END said "stopped". A stage that trains then keeps a checkpoint,
 * never its model (docs/pipelines.md). */
bool stage_interrupted(const stage *self);
/* END on out with note (NULL: the link's end note as set), "stopped=1" added
 * when interrupted. */
int stage_end(stage *self, spike_link *out, const char *note);

/* ---- the skeleton ---------------------------------------------------------------- */

/* What makes a stage that stage; self is the stage's own state (stage_main's
 * argument). Each returns 0, or -1 with err_msg() set. */
typedef struct {
    /* Before READY: read the options, open the links (stage_in, stage_out, with
     * stage_handshake where an in-link's shape decides an out-link's), load what
     * the stream needs. May be NULL. */
    int (*open)(stage *st, void *self);
    /* After GO: the stream, until the in-links end or a source has sent all. */
    int (*run)(stage *st, void *self);
    /* After the stream, before END and DONE: write the results. May be NULL. */
    int (*close)(stage *st, void *self);
    /* Last, always (after an error, or --help, too: self as main made it): frees
     * what the others made. May be NULL. */
    void (*cleanup)(void *self);
    /* run calls stage_ready itself (a source that reads its input before it
     * knows the shape it sends); stage_main then does not. */
    bool ready_in_run;
} stage_callbacks;

/* A stage program's main: stage_new, open, stage_ready, run, close,
 * stage_finish, cleanup, stage_destroy. Returns the exit status: 0 done (or
 * --help/--describe printed); 1 a failure, err_msg() logged; 2 a bad command
 * line (an option stage_new refuses, or one refused with stage_usage_error). */
int stage_main(const stage_def *def, const stage_callbacks *cb, void *self, int argc, char **argv);
/* argv as main got it (blas_init needs it). */
char **stage_argv(const stage *self);
/* For a command line that parsed but does not make sense (options that
 * contradict each other, a missing required one): err_set and -1, and the
 * stage exits 2 as for an unknown option. */
int stage_usage_error(stage *self, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
