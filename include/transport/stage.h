/* stage: what every stage program shares — its command line, its links, the
 * runner's control channel, signals — so that a stage's main reads as its story:
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
} stage_def;

/* Parses argv (stage options plus the common ones), sets the log name and level,
 * installs signal handlers, connects the control channel. 0: run; 1: --help or
 * --describe was printed to out (exit 0); -1: error in err_msg() (exit non-zero). */
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
/* END on every out-link, wait for their END_ACKs, DONE to the runner. */
int stage_finish(stage *self);

#endif
