/* link_transport: the seam between a link (link.c: HELLO, order checks,
 * END/END_ACK, heartbeats) and the transports that move its messages
 * (link_zmq.c: a ZeroMQ DEALER socket; link_lane.c: a shared-memory ring).
 * Private to common/transport/link*.c; stages use include/transport/link.h.
 *
 * A transport moves whole messages, a msgpack header and a payload as
 * frame_encode writes them and frame_decode reads them, byte for byte the same
 * on every transport. Two kinds fill the ops table:
 * - a socket transport (zmq) is chosen by endpoint when the link is made
 *   (link.c's table); it carries HELLO, HEARTBEAT and END_ACK, tells whether
 *   the peer is alive, and carries the data unless a lane is agreed;
 * - a data path agreed at HELLO (the lane) carries data frames and END only,
 *   riding on the link's socket transport for heartbeats and liveness; it
 *   leaves the socket entries NULL.
 * Invariants: every wait is bounded by a deadline and runs link_idle at least
 * every LINK_SLICE_MS; every failure is an err_msg() naming the link (whose
 * name changes at the handshake: transports ask link_name, never copy it). */
#ifndef SPIKESYNTH_LINK_TRANSPORT_H
#define SPIKESYNTH_LINK_TRANSPORT_H

#include "transport/link.h"
#include "transport/shm_ring.h"

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <zmq.h>

#define LINK_SLICE_MS 100 /* granularity of waits: idle hook, deadlines */
#define LINK_POLL_MAX 2   /* pollitems a socket transport gives the handshake */

typedef struct link_transport_ops link_transport_ops;

/* The start of every transport's own struct. */
typedef struct {
    const link_transport_ops *ops;
    spike_link *link; /* the owner: its name, idle hook and peer, for waits and errors */
} link_transport;

struct link_transport_ops {
    const char *name; /* "zmq", "lane" */

    /* -- socket transports (NULL in a data path agreed at HELLO) -- */
    /* Takes this endpoint (the first in link.c's table that does opens the link). */
    bool (*match)(const char *endpoint, const link_config *cfg);
    /* Binds or connects; NULL after err_set. cfg outlives the transport. */
    link_transport *(*open)(spike_link *link, void *zmq_ctx, const char *endpoint, bool bind,
                            const link_config *cfg);
    /* Takes in connection news without waiting; -1 when they are fatal (a peer
     * that refused this end's key). */
    int (*liveness)(link_transport *t);
    /* The peer disconnected after the handshake. */
    bool (*gone)(const link_transport *t);
    /* The handshake is done: from now on losing the peer's connections means it is gone. */
    void (*ready)(link_transport *t);
    /* What the handshake polls for the peer's HELLO: fills up to LINK_POLL_MAX, returns the count. */
    int (*poll_items)(link_transport *t, zmq_pollitem_t *items);

    /* -- every transport -- */
    /* Sends a message, waiting (up to cfg timeout_ms of silence) while the queue is
     * full if wait (a data path always waits: data and END do). 1: sent, 0: full
     * and !wait, -1: error. */
    int (*send)(link_transport *t, const msgpack_sbuffer *hdr, const void *payload, size_t len,
                bool wait);
    /* Receives one message without waiting, decoded into f. 1: got one, 0: none, -1: error. */
    int (*recv)(link_transport *t, spike_frame *f);
    /* Waits for a message until *deadline (heartbeats may renew it). 1: one is there,
     * 0: deadline or peer gone (the caller says which), -1: error. */
    int (*wait)(link_transport *t, double *deadline);
    /* A message is there now. */
    bool (*has_input)(link_transport *t);
    /* Frees and sets *t_p = NULL (safe on NULL). flush: deliver what is still queued,
     * within cfg linger_ms; otherwise drop it at once. */
    void (*destroy)(link_transport **t_p, bool flush);
};

extern const link_transport_ops link_curve_ops;
extern const link_transport_ops link_zmq_ops;
extern const link_transport_ops link_lane_ops;

/* The security of the curve transport (link_curve.c): tcp:// endpoints. */
bool link_curve_match(const char *endpoint, const link_config *cfg);
/* Before the socket binds or connects: CURVE with the keys of cfg->keys (a
 * binding end checks each peer's key through ZAP against the allow-list) or,
 * with cfg->insecure and no keys, plaintext after a warning; neither is an
 * error. *zap: the registration link_curve_release frees (0: none). */
int link_curve_setup(spike_link *link, void *ctx, void *sock, bool bind, const link_config *cfg,
                     int *zap);
void link_curve_release(int zap);

/* The lane (link_lane.c). It may join two ends of this endpoint (one host, lanes on). */
bool link_lane_local(const char *endpoint, const link_config *cfg);
/* Out end, before its HELLO: a ring for frames of shape; its name, for the HELLO, in *name. */
link_transport *link_lane_offer(spike_link *link, link_transport *sock, const frame_shape *shape,
                                const link_config *cfg, char name[SHM_RING_NAME_MAX]);
/* In end, after the HELLOs: opens the ring the peer offered, checking it fits the shape. */
link_transport *link_lane_accept(spike_link *link, link_transport *sock, const char *name,
                                 const frame_shape *shape, const link_config *cfg);

/* What link.c offers its transports. */
int link_idle(spike_link *link);         /* runs the idle hook if a slice has passed */
spike_frame *link_scratch(spike_link *link); /* a control frame to read heartbeats into */
const char *link_peer_desc(const spike_link *link, char *buf, size_t cap); /* "dec (ae-decoder)" */
int link_gone_error(const spike_link *link); /* err_set: the peer disconnected; returns -1 */

#endif
