/* link_zmq: the ZeroMQ transport of a link (see include/transport/link_transport.h):
 * one DEALER socket that carries the handshake, heartbeats and END_ACK, and the
 * data unless a shared-memory lane is agreed; a socket monitor for liveness.
 * Invariants: a message is exactly two parts (header, payload), and a malformed
 * one is drained whole so the next is read from its start; once the handshake
 * is done, losing the last connection means the peer is gone, and what arrived
 * before stays readable for GONE_GRACE. The curve transport (tcp://) is the
 * same socket secured by link_curve.c before it binds or connects; a CURVE
 * handshake that fails is fatal at the connecting end (refused: our key is not
 * allowed) and logged at the binding end, which waits for the right peer. */
#include "transport/link_transport.h"

#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GONE_GRACE 0.5 /* after a disconnect, seconds to drain what already arrived (a loaded machine may take a while to deliver it) */
#define MAX_CONNS 16
#define HANDSHAKE_LOG_EVERY 5.0 /* seconds between two warnings about failed handshakes */

/* Only names monitor endpoints: a freed link's inproc name can outlive it briefly,
 * so a new link at the same address needs a different name. */
static atomic_uint monitor_seq;

typedef struct {
    link_transport base;
    void *sock, *mon;
    const link_config *cfg;
    int conns[MAX_CONNS], n_conns; /* live transport connections (fds), from the monitor */
    bool up;                       /* the handshake is done */
    bool ever_connected, peer_gone, bind;
    double gone_at;
    int zap;                 /* curve, binding end: its ZAP registration (link_curve.c) */
    int refused, failed;     /* connecting end: the CURVE handshake was refused / failed */
    double last_failure_log; /* binding end */
} zmq_link;

static void zmq_link_destroy(link_transport **t_p, bool flush)
{
    zmq_link *self = t_p ? (zmq_link *)*t_p : NULL;
    if (!self)
        return;
    if (self->sock) {
        /* linger only for what is owed (the END_ACK); after a failure nothing queued
         * matters, and a dead peer must not hold up the exit */
        if (!flush)
            zmq_setsockopt(self->sock, ZMQ_LINGER, &(int){0}, sizeof(int));
        zmq_socket_monitor(self->sock, NULL, 0);
        zmq_close(self->sock);
    }
    if (self->mon)
        zmq_close(self->mon);
    link_curve_release(self->zap);
    free(self);
    *t_p = NULL;
}

static bool zmq_link_match(const char *endpoint, const link_config *cfg)
{
    (void)endpoint, (void)cfg;
    return true; /* ipc://, tcp:// and everything else ZeroMQ takes */
}

/* The socket of either transport: ops is link_zmq_ops or link_curve_ops. */
static link_transport *open_socket(spike_link *link, void *ctx, const char *endpoint, bool bind,
                                   const link_config *cfg, const link_transport_ops *ops)
{
    const char *name = link_name(link);
    zmq_link *self = calloc(1, sizeof *self);
    if (!self) {
        err_set("link %s: out of memory", name);
        return NULL;
    }
    self->base = (link_transport){ops, link};
    self->cfg = cfg;
    self->bind = bind;
    self->sock = zmq_socket(ctx, ZMQ_DEALER);
    if (!self->sock) {
        err_set("link %s: cannot create socket: %s", name, zmq_strerror(errno));
        goto err;
    }
    /* No ZMTP heartbeats (ZMQ_HEARTBEAT_IVL): in libzmq 4.3 they drop healthy connections
     * whose receive queue is full (the engine stops reading, so misses the PINGs) and can
     * then abort on an assertion (libzmq issues 3937, 4364). Our own HEARTBEAT frames and
     * the silence timeout cover a peer that vanishes without closing its sockets. */
    int hwm = cfg->queue, linger = cfg->linger_ms;
    int64_t max = cfg->max_frame;
    if (zmq_setsockopt(self->sock, ZMQ_SNDHWM, &hwm, sizeof hwm) ||
        zmq_setsockopt(self->sock, ZMQ_RCVHWM, &hwm, sizeof hwm) ||
        zmq_setsockopt(self->sock, ZMQ_LINGER, &linger, sizeof linger) ||
        zmq_setsockopt(self->sock, ZMQ_MAXMSGSIZE, &max, sizeof max)) {
        err_set("link %s: socket options: %s", name, zmq_strerror(errno));
        goto err;
    }
    /* the monitor tells us at once when the peer's connection goes away */
    char mon_ep[64];
    snprintf(mon_ep, sizeof mon_ep, "inproc://spikesynth-link-monitor-%u",
             atomic_fetch_add(&monitor_seq, 1));
    if (zmq_socket_monitor(self->sock, mon_ep,
                           ZMQ_EVENT_CONNECTED | ZMQ_EVENT_ACCEPTED | ZMQ_EVENT_DISCONNECTED |
                               ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL |
                               ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) ||
        !(self->mon = zmq_socket(ctx, ZMQ_PAIR)) || zmq_connect(self->mon, mon_ep)) {
        err_set("link %s: socket monitor: %s", name, zmq_strerror(errno));
        goto err;
    }
    zmq_setsockopt(self->mon, ZMQ_LINGER, &(int){0}, sizeof(int));
    if (ops == &link_curve_ops && link_curve_setup(link, ctx, self->sock, bind, cfg, &self->zap) < 0)
        goto err;
    if ((bind ? zmq_bind : zmq_connect)(self->sock, endpoint) != 0) {
        err_set("link %s (%s-port): cannot %s %s: %s", name,
                link_dir(link) == PORT_IN ? "in" : "out", bind ? "bind" : "connect to", endpoint,
                zmq_strerror(errno));
        goto err;
    }
    return &self->base;
err:;
    link_transport *t = &self->base;
    zmq_link_destroy(&t, false);
    return NULL;
}

static link_transport *zmq_link_open(spike_link *link, void *ctx, const char *endpoint, bool bind,
                                     const link_config *cfg)
{
    return open_socket(link, ctx, endpoint, bind, cfg, &link_zmq_ops);
}

static link_transport *curve_link_open(spike_link *link, void *ctx, const char *endpoint, bool bind,
                                       const link_config *cfg)
{
    return open_socket(link, ctx, endpoint, bind, cfg, &link_curve_ops);
}

/* ---- liveness --------------------------------------------------------------- */

static void peer_lost(zmq_link *self)
{
    self->peer_gone = true;
    self->gone_at = clock_now();
}

/* A CURVE handshake failed: the connecting end remembers it (liveness reports
 * it), the binding end says so now and then and waits for the right peer. */
static void handshake_failed(zmq_link *self, uint16_t event, int32_t value)
{
    if (!self->bind) {
        if (event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)
            self->refused = value ? value : 400;
        else
            self->failed = value ? value : -1;
        return;
    }
    /* refusals are the ZAP handler's to log, with the key */
    double now = clock_now();
    if (event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH || now - self->last_failure_log < HANDSHAKE_LOG_EVERY)
        return;
    self->last_failure_log = now;
    log_warn("link %s: a connection failed its %s handshake (error 0x%x): a peer without "
             "CURVE, or one that has another public key for this end", link_name(self->base.link),
             self->base.ops == &link_curve_ops ? "CURVE" : "ZMTP", (unsigned)value);
}

static void drain_monitor(zmq_link *self)
{
    for (;;) {
        zmq_msg_t ev, addr;
        zmq_msg_init(&ev);
        if (zmq_msg_recv(&ev, self->mon, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&ev);
            return;
        }
        uint16_t event = 0;
        int32_t value = -1;
        if (zmq_msg_size(&ev) >= 6) {
            memcpy(&event, zmq_msg_data(&ev), 2);
            memcpy(&value, (char *)zmq_msg_data(&ev) + 2, 4);
        }
        bool more = zmq_msg_more(&ev);
        zmq_msg_close(&ev);
        if (more) { /* second part: the endpoint */
            zmq_msg_init(&addr);
            zmq_msg_recv(&addr, self->mon, 0);
            zmq_msg_close(&addr);
        }
        if (event == ZMQ_EVENT_CONNECTED || event == ZMQ_EVENT_ACCEPTED) {
            if (self->n_conns < MAX_CONNS)
                self->conns[self->n_conns++] = value;
            self->ever_connected = true;
        } else if (event == ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL ||
                   event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL ||
                   event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) {
            handshake_failed(self, event, value);
        } else if (event == ZMQ_EVENT_DISCONNECTED) {
            for (int i = 0; i < self->n_conns; i++)
                if (self->conns[i] == value) {
                    self->conns[i] = self->conns[--self->n_conns];
                    break;
                }
            /* once the handshake is done, losing the last connection means the peer is gone
             * (a stray connection coming and going leaves the peer's in place) */
            if (self->up && self->n_conns == 0 && !self->peer_gone)
                peer_lost(self);
        }
    }
}

static int zmq_link_liveness(link_transport *t)
{
    zmq_link *self = (zmq_link *)t;
    drain_monitor(self);
    const char *name = link_name(t->link);
    if (self->refused)
        return err_set("link %s: refused by the peer (CURVE, status %d): this end's public key is "
                       "not in its allow-list (add the line of %s/public.key to the peer's "
                       "allowed file)", name, self->refused, self->cfg->keys ? self->cfg->keys : "");
    if (self->failed)
        return err_set("link %s: the CURVE handshake with the peer failed (error 0x%x): does it "
                       "use CURVE (not --insecure), and is --server-key its public key?", name,
                       (unsigned)self->failed);
    return 0;
}
static bool zmq_link_gone(const link_transport *t) { return ((const zmq_link *)t)->peer_gone; }

static void zmq_link_ready(link_transport *t)
{
    zmq_link *self = (zmq_link *)t;
    self->up = true;
    /* connections seen so far are the peer's; if none is live any more, it is gone already */
    if (self->n_conns == 0 && self->ever_connected)
        peer_lost(self);
}

static int zmq_link_poll_items(link_transport *t, zmq_pollitem_t *items)
{
    zmq_link *self = (zmq_link *)t;
    items[0] = (zmq_pollitem_t){self->sock, 0, ZMQ_POLLIN, 0};
    items[1] = (zmq_pollitem_t){self->mon, 0, ZMQ_POLLIN, 0};
    return 2;
}

/* Waits until sock has events (ZMQ_POLLIN/POLLOUT) or until the deadline,
 * keeping the monitor drained and the idle hook running. 1: ready, 0: deadline
 * or peer gone (caller decides), -1: idle hook or zmq failure. */
static int wait_for(zmq_link *self, short events, double deadline)
{
    for (;;) {
        double now = clock_now();
        if (link_idle(self->base.link) < 0 || zmq_link_liveness(&self->base) < 0)
            return -1;
        zmq_pollitem_t items[2] = {{self->sock, 0, events, 0}, {self->mon, 0, ZMQ_POLLIN, 0}};
        if (self->peer_gone && now - self->gone_at >= GONE_GRACE) {
            /* one last look: anything that arrived before the disconnect is still readable */
            zmq_poll(items, 1, 0);
            return items[0].revents ? 1 : 0;
        }
        if (deadline > 0 && now >= deadline)
            return 0;
        long ms = LINK_SLICE_MS;
        if (deadline > 0 && (deadline - now) * 1000 < ms)
            ms = (long)((deadline - now) * 1000) + 1;
        if (zmq_poll(items, 2, ms) < 0) {
            if (errno == EINTR)
                continue; /* a signal: the idle hook decides whether it matters */
            return err_set("link %s: poll: %s", link_name(self->base.link), zmq_strerror(errno));
        }
        if (items[0].revents)
            return 1;
    }
}

static int zmq_link_wait(link_transport *t, double *deadline)
{
    return wait_for((zmq_link *)t, ZMQ_POLLIN, *deadline);
}

static bool zmq_link_has_input(link_transport *t)
{
    zmq_pollitem_t item = {((zmq_link *)t)->sock, 0, ZMQ_POLLIN, 0};
    return zmq_poll(&item, 1, 0) > 0 && item.revents;
}

/* ---- messages ----------------------------------------------------------------- */

static int zmq_link_recv(link_transport *t, spike_frame *f)
{
    zmq_link *self = (zmq_link *)t;
    const char *name = link_name(t->link);
    zmq_msg_t hdr, payload;
    zmq_msg_init(&hdr);
    if (zmq_msg_recv(&hdr, self->sock, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close(&hdr);
        if (errno == EAGAIN || errno == EINTR)
            return 0;
        return err_set("link %s: receive: %s", name, zmq_strerror(errno));
    }
    int parts = 1, rc = 0;
    zmq_msg_init(&payload);
    if (zmq_msg_more(&hdr)) {
        zmq_msg_recv(&payload, self->sock, 0);
        parts++;
        while (zmq_msg_more(&payload)) { /* drain a malformed tail so the next message is whole */
            zmq_msg_t extra;
            zmq_msg_init(&extra);
            zmq_msg_recv(&extra, self->sock, 0);
            int more = zmq_msg_more(&extra);
            zmq_msg_close(&extra);
            parts++;
            if (!more)
                break;
        }
    }
    if (parts != 2)
        rc = err_set("link %s: message of %d part%s, expected 2 (header, payload)", name, parts,
                     parts == 1 ? "" : "s");
    else if (frame_decode(f, zmq_msg_data(&hdr), zmq_msg_size(&hdr), zmq_msg_data(&payload),
                          zmq_msg_size(&payload)) < 0)
        rc = err_wrap("link %s", name);
    else
        rc = 1;
    zmq_msg_close(&hdr);
    zmq_msg_close(&payload);
    return rc;
}

/* While the queue is full until deadline: 0 when there may be room, -1 on an error
 * (peer gone, silent past the deadline). A receiver that heartbeats renews it. */
static int wait_room(zmq_link *self, double *deadline)
{
    spike_link *link = self->base.link;
    /* a receiver that heartbeats is alive and busy elsewhere: keep waiting for it */
    spike_frame *c = link_scratch(link);
    while (zmq_link_recv(&self->base, c) == 1)
        if (c->kind == FRAME_CONTROL && c->control == FRAME_HEARTBEAT)
            *deadline = clock_now() + self->cfg->timeout_ms / 1000.0;
    drain_monitor(self);
    if (self->peer_gone)
        return link_gone_error(link);
    /* short waits, so heartbeats from the receiver are seen as they come */
    double slice = clock_now() + LINK_SLICE_MS / 1000.0;
    int r = wait_for(self, ZMQ_POLLOUT, slice < *deadline ? slice : *deadline);
    if (r < 0)
        return -1;
    if (r == 0 && clock_now() < *deadline && !self->peer_gone)
        return 0;
    if (r == 0) {
        if (self->peer_gone)
            return link_gone_error(link);
        char p[160];
        return err_set("link %s: %s has not taken a frame for %.3g s (queue of %d full; "
                       "hung? raise --timeout if it is only slow)", link_name(link),
                       link_peer_desc(link, p, sizeof p), self->cfg->timeout_ms / 1000.0,
                       self->cfg->queue);
    }
    return 0;
}

static int zmq_link_send(link_transport *t, const msgpack_sbuffer *hdr, const void *payload,
                         size_t len, bool wait)
{
    zmq_link *self = (zmq_link *)t;
    double deadline = clock_now() + self->cfg->timeout_ms / 1000.0;
    for (;;) {
        if (zmq_send(self->sock, hdr->data, hdr->size, ZMQ_SNDMORE | ZMQ_DONTWAIT) >= 0)
            break;
        if (errno != EAGAIN && errno != EINTR)
            return err_set("link %s: send: %s", link_name(t->link), zmq_strerror(errno));
        if (!wait)
            return 0;
        if (wait_room(self, &deadline) < 0)
            return -1;
    }
    /* once the first part is queued the rest of the message always is */
    static const char empty = 0;
    if (zmq_send(self->sock, len ? payload : &empty, len, 0) < 0)
        return err_set("link %s: send: %s", link_name(t->link), zmq_strerror(errno));
    return 1;
}

/* what both socket transports share: all but how they take and open an endpoint */
#define SOCKET_ENTRIES                                                                            \
    .liveness = zmq_link_liveness, .gone = zmq_link_gone, .ready = zmq_link_ready,                \
    .poll_items = zmq_link_poll_items, .send = zmq_link_send, .recv = zmq_link_recv,              \
    .wait = zmq_link_wait, .has_input = zmq_link_has_input, .destroy = zmq_link_destroy

const link_transport_ops link_zmq_ops = {
    .name = "zmq", .match = zmq_link_match, .open = zmq_link_open, SOCKET_ENTRIES,
};

/* tcp://: the same socket, secured (link_curve.c) */
const link_transport_ops link_curve_ops = {
    .name = "curve", .match = link_curve_match, .open = curve_link_open, SOCKET_ENTRIES,
};
