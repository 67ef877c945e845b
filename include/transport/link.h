/* link: one named, directed connection between two stages over a ZeroMQ endpoint
 * (ipc:// on one host, tcp:// across hosts). See docs/protocol.md.
 *
 * Both ends are DEALER sockets: bidirectional (HELLO replies and END_ACK flow
 * back), reconnecting, and indifferent to which stage starts first. By default
 * the in end binds and the out end connects; "@endpoint" forces a bind and
 * ">endpoint" a connect (czmq's convention), e.g. to let either machine listen.
 *
 * Life of a link: link_new (socket up; the connecting end queues its HELLO),
 * link_handshake (each end receives the other's HELLO and checks protocol
 * version, ends, run id and shape: a mismatch fails on both ends with one message
 * naming both), frames (each checked for kind, shape, link name and order), END
 * (in-band; the receiver answers END_ACK so the sender knows all arrived),
 * link_destroy (bounded linger).
 *
 * Shared-memory lanes: on an ipc:// link (one host) the out end offers, in its
 * HELLO, a shared-memory ring (shm_ring.h) for the data; if the in end accepts,
 * data frames and END travel through the ring, byte for byte the messages
 * ZeroMQ would carry (so every check below applies), while HELLO, HEARTBEAT and
 * END_ACK stay on the socket. This takes ZeroMQ's I/O threads off the path of
 * every frame (a crossing costs one wake instead of three). cfg.lanes = false
 * (--transport zmq) keeps everything on ZeroMQ.
 *
 * Liveness: a socket monitor reports the peer's disconnection at once (a crash or
 * kill closes its sockets); a wait on a peer that sends nothing — hung, or on a
 * host that vanished — ends after timeout_ms. Waiting stages send
 * HEARTBEAT frames on all their links (via the idle hook) so a peer waiting on
 * them — for a frame, or for room in a full queue — knows they are alive. Every
 * failure is an err_msg() naming the link. */
#ifndef SPIKESYNTH_LINK_H
#define SPIKESYNTH_LINK_H

#include "transport/frame.h"
#include "core/options.h"

#include <stdbool.h>
#include <stddef.h>

/* The type is spike_link, since link() is a POSIX function; functions are link_*. */
typedef struct spike_link spike_link;

/* Who this end is: copied into HELLOs and link names. */
typedef struct {
    const char *stage; /* instance name */
    const char *type;  /* program name */
    const char *run;   /* run id; "" matches any */
} link_identity;

typedef struct {
    int timeout_ms;         /* longest silence of a live peer we wait on */
    int connect_timeout_ms; /* longest wait for the peer's HELLO; 0 = forever */
    int heartbeat_ms;       /* HEARTBEAT interval on idle links while the stage waits */
    int linger_ms;          /* bound on unsent data at close */
    int queue;              /* frames queued each way before the sender waits */
    int64_t max_frame;      /* ZMQ_MAXMSGSIZE: largest message part accepted */
    bool lanes;             /* same-host data through shared memory (see above) */
    int spin_us;            /* a lane wait spins this long before it sleeps */
    /* tcp:// links (link_curve.c): CURVE with this key directory
     * (transport/curve_keys.h); the binding end's public key for a connecting
     * end (Z85 or a file; NULL: KEYS/public.key); plaintext only if insecure */
    const char *keys, *server_key;
    bool insecure;
} link_config;

/* Called about every 100 ms while a link call waits (handshake, recv, a full
 * queue, END_ACK). Return -1 (after err_set) to abort the wait. */
typedef int link_idle_fn(void *arg);

void link_config_default(link_config *cfg);

/* Opens the socket and binds or connects. expect: for an out end the full shape
 * it sends; for an in end what it accepts (0 / FRAME_ANY fields accept any). */
spike_link *link_new(void *zmq_ctx, const link_identity *id, const char *port, port_dir dir,
                     const char *endpoint, const frame_shape *expect, const link_config *cfg);
void link_destroy(spike_link **self_p);
void link_set_idle(spike_link *self, link_idle_fn *fn, void *arg);

/* Completes the HELLO exchange of every link in the array that has not done it,
 * all at once (so stages with links in both directions never deadlock). */
int link_handshake(spike_link **links, size_t n);

/* One end of a link, as link_hello_agree checks a peer's HELLO against it. */
typedef struct {
    link_identity id;
    const char *port;
    port_dir dir;
    frame_shape expect; /* as for link_new */
    int64_t max_frame;  /* largest payload this end takes (link_config.max_frame) */
} link_end;

/* The handshake's checks without a socket (link_handshake runs them): the
 * peer's HELLO, as frame_decode left it, against this end: the two ends, the
 * run ids, the shapes and the frame size. 0 with *shape the link's agreed
 * shape, or -1 with err_msg() naming both ends. From the ends' check on, name
 * (cap bytes) holds the link's name, "out.port->in.port". The peer's HELLO is
 * untrusted input: every field it sets may be anything frame_decode admits. */
int link_hello_agree(const link_end *mine, const spike_frame *hello, char *name, size_t cap,
                     frame_shape *shape);

bool link_is_ready(const spike_link *self);           /* handshake done */
const frame_shape *link_shape(const spike_link *self); /* agreed shape, after handshake */
const char *link_name(const spike_link *self);        /* "enc.spikes->dec.spikes" */
const char *link_port(const spike_link *self);
/* Data travels through a shared-memory lane (decided at the handshake). */
bool link_uses_lane(const spike_link *self);
port_dir link_dir(const spike_link *self);
/* A frame sized for this link's agreed shape. */
spike_frame *link_frame_new(const spike_link *self);

/* Sends a data frame; its batch index and step must continue the stream.
 * Waits (up to timeout_ms) while the queue is full. */
int link_send(spike_link *self, const spike_frame *f);
/* Notes: a short text ("key=value ..."), ours sent with the HELLO (set it
 * before the handshake) and with the END (set before link_send_end), the
 * peer's kept: what a stage tells its neighbours about its stream (the model
 * it runs, the weights it trained, a stream cut short), docs/protocol.md. */
void link_set_note(spike_link *self, const char *note);
void link_set_end_note(spike_link *self, const char *note);
const char *link_end_note(const spike_link *self);      /* ours, as set */
const char *link_peer_note(const spike_link *self);     /* after the handshake; "" if none */
const char *link_peer_end_note(const spike_link *self); /* after END was received; "" if none */
/* Sends END (after the last frame of a batch); idempotent. */
int link_send_end(spike_link *self);
/* Waits for the receiver's END_ACK after link_send_end; fails if the peer dies first. */
int link_wait_end_ack(spike_link *self);
/* 1: a data frame in f; 0: END (and on every later call); -1: error. A step
 * sent in parts (f->row0, f->rows) is an error unless link_accept_parts was
 * called: a stage that does not know about parts would take one for the step. */
int link_recv(spike_link *self, spike_frame *f);
void link_accept_parts(spike_link *self);
/* Sends a HEARTBEAT (either direction) if nothing was sent for heartbeat_ms. */
int link_heartbeat(spike_link *self);

/* The frame about to be received is ready without waiting (poll helper). */
bool link_has_input(spike_link *self);

#endif
