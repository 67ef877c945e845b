/* link: DEALER-to-DEALER frame links with HELLO, order checks, END/END_ACK and
 * liveness (see include/link.h, docs/protocol.md).
 * Invariants: data flows only after handshaken; every wait is bounded by a
 * deadline and runs the idle hook; control frames the link sends itself use
 * their own header buffer, so a heartbeat sent from an idle hook never clobbers
 * a data header being sent. */
#include "transport/link.h"

#include "core/clock.h"
#include "core/err.h"
#include "transport/shm_ring.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#define SLICE_MS 100      /* granularity of waits: idle hook, deadlines */
#define GONE_GRACE 0.1    /* after a disconnect, seconds to drain what already arrived */
#define MAX_CONNS 16

/* Only names monitor endpoints: a freed link's inproc name can outlive it briefly,
 * so a new link at the same address needs a different name. */
static atomic_uint monitor_seq;

struct spike_link {
    void *sock, *mon;
    char *endpoint;
    bool bind;
    port_dir dir;
    char port[FRAME_NAME_MAX], stage[FRAME_NAME_MAX], type[FRAME_NAME_MAX], run[FRAME_NAME_MAX];
    char name[FRAME_LINK_MAX];
    char peer_stage[FRAME_NAME_MAX], peer_type[FRAME_NAME_MAX];
    frame_shape expect, shape;
    link_config cfg;
    bool hello_sent, handshaken, end_sent, end_received, end_acked;
    int conns[MAX_CONNS], n_conns; /* live transport connections (fds), from the monitor */
    bool ever_connected, peer_gone;
    double gone_at, last_sent;
    frame_seq seq_in, seq_out;
    shm_ring *lane;            /* out end: offered at HELLO; either end: in use once lane_up */
    bool parts;                /* in end: takes steps sent in parts */
    bool lane_up;
    char lane_name[SHM_RING_NAME_MAX];
    msgpack_sbuffer hdr, ctl_hdr;
    spike_frame *ctl;
    link_idle_fn *idle;
    void *idle_arg;
    double last_idle;
};

void link_config_default(link_config *cfg)
{
    cfg->timeout_ms = 10000;
    cfg->connect_timeout_ms = 60000;
    cfg->heartbeat_ms = 1000;
    cfg->linger_ms = 1000;
    cfg->queue = 64;
    cfg->max_frame = 256 << 20;
    cfg->lanes = true;
    cfg->spin_us = 20;
}

static void copy_name(char *dst, const char *src)
{
    snprintf(dst, FRAME_NAME_MAX, "%s", src ? src : "");
}

/* ---- setup ---------------------------------------------------------------- */

spike_link *link_new(void *ctx, const link_identity *id, const char *port, port_dir dir,
                     const char *endpoint, const frame_shape *expect, const link_config *cfg)
{
    const char *ep = endpoint;
    const char *what = dir == PORT_IN ? "in" : "out";
    if (strlen(port) >= FRAME_NAME_MAX || strlen(id->stage) >= FRAME_NAME_MAX ||
        strlen(id->type) >= FRAME_NAME_MAX || (id->run && strlen(id->run) >= FRAME_NAME_MAX)) {
        err_set("link %s.%s: names must be shorter than %d bytes", id->stage, port, FRAME_NAME_MAX);
        return NULL;
    }
    spike_link *self = calloc(1, sizeof *self);
    if (!self) {
        err_set("link %s.%s: out of memory", id->stage, port);
        return NULL;
    }
    msgpack_sbuffer_init(&self->hdr);
    msgpack_sbuffer_init(&self->ctl_hdr);
    self->dir = dir;
    copy_name(self->port, port);
    copy_name(self->stage, id->stage);
    copy_name(self->type, id->type);
    copy_name(self->run, id->run);
    snprintf(self->name, sizeof self->name, "%s.%s", id->stage, port);
    self->expect = *expect;
    if (cfg)
        self->cfg = *cfg;
    else
        link_config_default(&self->cfg);
    self->bind = dir == PORT_IN;
    if (*ep == '@' || *ep == '>') {
        self->bind = *ep == '@';
        ep++;
    }
    self->endpoint = strdup(ep);
    self->ctl = frame_new(&(frame_shape){FRAME_CONTROL, 0, 0, 0});
    if (!self->endpoint || !self->ctl) {
        err_set("link %s: out of memory", self->name);
        goto err;
    }
    if (dir == PORT_OUT && (expect->kind < FRAME_SPIKES || expect->kind > FRAME_ERROR ||
                            !expect->batch || !expect->width || !expect->steps)) {
        char s[96];
        frame_shape_format(expect, s, sizeof s);
        err_set("link %s: an out-port must declare a full shape, not %s", self->name, s);
        goto err;
    }
    self->sock = zmq_socket(ctx, ZMQ_DEALER);
    if (!self->sock) {
        err_set("link %s: cannot create socket: %s", self->name, zmq_strerror(errno));
        goto err;
    }
    /* No ZMTP heartbeats (ZMQ_HEARTBEAT_IVL): in libzmq 4.3 they drop healthy connections
     * whose receive queue is full (the engine stops reading, so misses the PINGs) and can
     * then abort on an assertion (libzmq issues 3937, 4364). Our own HEARTBEAT frames and
     * the silence timeout cover a peer that vanishes without closing its sockets. */
    int hwm = self->cfg.queue, linger = self->cfg.linger_ms;
    int64_t max = self->cfg.max_frame;
    if (zmq_setsockopt(self->sock, ZMQ_SNDHWM, &hwm, sizeof hwm) ||
        zmq_setsockopt(self->sock, ZMQ_RCVHWM, &hwm, sizeof hwm) ||
        zmq_setsockopt(self->sock, ZMQ_LINGER, &linger, sizeof linger) ||
        zmq_setsockopt(self->sock, ZMQ_MAXMSGSIZE, &max, sizeof max)) {
        err_set("link %s: socket options: %s", self->name, zmq_strerror(errno));
        goto err;
    }
    /* the monitor tells us at once when the peer's connection goes away */
    char mon_ep[64];
    snprintf(mon_ep, sizeof mon_ep, "inproc://spikesynth-link-monitor-%u",
             atomic_fetch_add(&monitor_seq, 1));
    if (zmq_socket_monitor(self->sock, mon_ep,
                           ZMQ_EVENT_CONNECTED | ZMQ_EVENT_ACCEPTED | ZMQ_EVENT_DISCONNECTED) ||
        !(self->mon = zmq_socket(ctx, ZMQ_PAIR)) || zmq_connect(self->mon, mon_ep)) {
        err_set("link %s: socket monitor: %s", self->name, zmq_strerror(errno));
        goto err;
    }
    zmq_setsockopt(self->mon, ZMQ_LINGER, &(int){0}, sizeof(int));
    if ((self->bind ? zmq_bind : zmq_connect)(self->sock, self->endpoint) != 0) {
        err_set("link %s (%s-port): cannot %s %s: %s", self->name, what,
                self->bind ? "bind" : "connect to", self->endpoint, zmq_strerror(errno));
        goto err;
    }
    /* the ring is offered in the HELLO, so it exists before the HELLO goes out */
    if (dir == PORT_OUT && self->cfg.lanes && !strncmp(self->endpoint, "ipc://", 6)) {
        size_t header = 2048 + 5 * (size_t)expect->batch; /* msgpack header bound */
        size_t payload = frame_payload_bytes(expect->kind, expect->batch, expect->width);
        if (!(self->lane = shm_ring_create(header + payload, self->cfg.queue, self->lane_name)))
            goto err;
        shm_ring_set_spin(self->lane, self->cfg.spin_us);
    }
    return self;
err:
    link_destroy(&self);
    return NULL;
}

void link_destroy(spike_link **self_p)
{
    spike_link *self = self_p ? *self_p : NULL;
    if (!self)
        return;
    if (self->sock) {
        /* linger only for the END_ACK owed to the sender; after a failure nothing queued
         * matters, and a dead peer must not hold up the exit */
        if (!(self->dir == PORT_IN && self->end_received))
            zmq_setsockopt(self->sock, ZMQ_LINGER, &(int){0}, sizeof(int));
        zmq_socket_monitor(self->sock, NULL, 0);
        zmq_close(self->sock);
    }
    if (self->mon)
        zmq_close(self->mon);
    shm_ring_destroy(&self->lane);
    frame_destroy(&self->ctl);
    msgpack_sbuffer_destroy(&self->hdr);
    msgpack_sbuffer_destroy(&self->ctl_hdr);
    free(self->endpoint);
    free(self);
    *self_p = NULL;
}

void link_set_idle(spike_link *self, link_idle_fn *fn, void *arg)
{
    self->idle = fn;
    self->idle_arg = arg;
}

bool link_is_ready(const spike_link *self) { return self->handshaken; }
const frame_shape *link_shape(const spike_link *self) { return &self->shape; }
const char *link_name(const spike_link *self) { return self->name; }
const char *link_port(const spike_link *self) { return self->port; }
port_dir link_dir(const spike_link *self) { return self->dir; }
bool link_uses_lane(const spike_link *self) { return self->lane_up; }
void link_accept_parts(spike_link *self) { self->parts = true; }

spike_frame *link_frame_new(const spike_link *self)
{
    if (!self->handshaken) {
        err_set("link %s: no shape before the handshake", self->name);
        return NULL;
    }
    return frame_new(&self->shape);
}

/* ---- liveness --------------------------------------------------------------- */

static void drain_monitor(spike_link *self)
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
        } else if (event == ZMQ_EVENT_DISCONNECTED) {
            for (int i = 0; i < self->n_conns; i++)
                if (self->conns[i] == value) {
                    self->conns[i] = self->conns[--self->n_conns];
                    break;
                }
            /* once the handshake is done, losing the last connection means the peer is gone
             * (a stray connection coming and going leaves the peer's in place) */
            if (self->handshaken && self->n_conns == 0 && !self->peer_gone) {
                self->peer_gone = true;
                self->gone_at = clock_now();
            }
        }
    }
}

static const char *peer_desc(const spike_link *self, char *buf, size_t cap)
{
    if (self->peer_stage[0])
        snprintf(buf, cap, "%s (%s)", self->peer_stage, self->peer_type);
    else
        snprintf(buf, cap, "the peer");
    return buf;
}

static int gone_error(const spike_link *self)
{
    char p[160];
    return err_set("link %s: %s disconnected (it exited or died, or sent a message over "
                   "--max-frame)", self->name,
                   peer_desc(self, p, sizeof p));
}

/* What every wait does between looks: the idle hook every SLICE_MS, the monitor. */
static int tend(spike_link *self)
{
    double now = clock_now();
    if (self->idle && now - self->last_idle >= SLICE_MS / 1000.0) {
        self->last_idle = now;
        if (self->idle(self->idle_arg) < 0)
            return err_wrap("link %s", self->name);
    }
    drain_monitor(self);
    return 0;
}

/* Waits until sock has events (ZMQ_POLLIN/POLLOUT) or until the deadline,
 * keeping the monitor drained and the idle hook running. 1: ready, 0: deadline
 * or peer gone (caller decides), -1: idle hook or zmq failure. */
static int wait_for(spike_link *self, short events, double deadline)
{
    for (;;) {
        double now = clock_now();
        if (tend(self) < 0)
            return -1;
        zmq_pollitem_t items[2] = {{self->sock, 0, events, 0}, {self->mon, 0, ZMQ_POLLIN, 0}};
        if (self->peer_gone && now - self->gone_at >= GONE_GRACE) {
            /* one last look: anything that arrived before the disconnect is still readable */
            zmq_poll(items, 1, 0);
            return items[0].revents ? 1 : 0;
        }
        if (deadline > 0 && now >= deadline)
            return 0;
        long ms = SLICE_MS;
        if (deadline > 0 && (deadline - now) * 1000 < ms)
            ms = (long)((deadline - now) * 1000) + 1;
        if (zmq_poll(items, 2, ms) < 0) {
            if (errno == EINTR)
                continue; /* a signal: the idle hook decides whether it matters */
            return err_set("link %s: poll: %s", self->name, zmq_strerror(errno));
        }
        if (items[0].revents)
            return 1;
    }
}

/* ---- raw messages ------------------------------------------------------------- */

/* Receives one message without waiting and decodes it into f. 1: got one, 0: none. */
static int try_recv(spike_link *self, spike_frame *f)
{
    zmq_msg_t hdr, payload;
    zmq_msg_init(&hdr);
    if (zmq_msg_recv(&hdr, self->sock, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close(&hdr);
        if (errno == EAGAIN || errno == EINTR)
            return 0;
        return err_set("link %s: receive: %s", self->name, zmq_strerror(errno));
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
        rc = err_set("link %s: message of %d part%s, expected 2 (header, payload)", self->name, parts,
                     parts == 1 ? "" : "s");
    else if (frame_decode(f, zmq_msg_data(&hdr), zmq_msg_size(&hdr), zmq_msg_data(&payload),
                          zmq_msg_size(&payload)) < 0)
        rc = err_wrap("link %s", self->name);
    else
        rc = 1;
    zmq_msg_close(&hdr);
    zmq_msg_close(&payload);
    return rc;
}

/* Sends an encoded header and payload, waiting while the queue is full. */
static int send_parts(spike_link *self, const msgpack_sbuffer *hdr, const void *payload, size_t len,
                      bool wait)
{
    double deadline = clock_now() + self->cfg.timeout_ms / 1000.0;
    for (;;) {
        if (zmq_send(self->sock, hdr->data, hdr->size, ZMQ_SNDMORE | ZMQ_DONTWAIT) >= 0)
            break;
        if (errno != EAGAIN && errno != EINTR)
            return err_set("link %s: send: %s", self->name, zmq_strerror(errno));
        if (!wait)
            return 0;
        /* a receiver that heartbeats is alive and busy elsewhere: keep waiting for it */
        spike_frame *c = self->ctl;
        while (try_recv(self, c) == 1)
            if (c->kind == FRAME_CONTROL && c->control == FRAME_HEARTBEAT)
                deadline = clock_now() + self->cfg.timeout_ms / 1000.0;
        drain_monitor(self);
        if (self->peer_gone)
            return gone_error(self);
        /* short waits, so heartbeats from the receiver are seen as they come */
        double slice = clock_now() + SLICE_MS / 1000.0;
        int r = wait_for(self, ZMQ_POLLOUT, slice < deadline ? slice : deadline);
        if (r < 0)
            return -1;
        if (r == 0 && clock_now() < deadline && !self->peer_gone)
            continue;
        if (r == 0) {
            if (self->peer_gone)
                return gone_error(self);
            char p[160];
            return err_set("link %s: %s has not taken a frame for %.3g s (queue of %d full; "
                           "hung? raise --timeout if it is only slow)", self->name,
                           peer_desc(self, p, sizeof p), self->cfg.timeout_ms / 1000.0,
                           self->cfg.queue);
        }
    }
    /* once the first part is queued the rest of the message always is */
    static const char empty = 0;
    if (zmq_send(self->sock, len ? payload : &empty, len, 0) < 0)
        return err_set("link %s: send: %s", self->name, zmq_strerror(errno));
    self->last_sent = clock_now();
    return 1;
}

/* ---- shared-memory lane ------------------------------------------------------ */

/* tend() while data waits on the lane, and the socket, which now carries only
 * the peer's heartbeats (each renews *deadline). */
static int lane_tend(spike_link *self, double *deadline)
{
    if (tend(self) < 0)
        return -1;
    spike_frame *c = self->ctl;
    int r;
    while ((r = try_recv(self, c)) == 1) {
        if (c->kind != FRAME_CONTROL || c->control != FRAME_HEARTBEAT)
            return err_set("link %s: %s %s frame on the socket of a shared-memory link (only "
                           "heartbeats belong there)", self->name, frame_kind_name(c->kind),
                           frame_control_name(c->control));
        *deadline = clock_now() + self->cfg.timeout_ms / 1000.0;
    }
    return r;
}

static int slice_ms(double deadline)
{
    double left = (deadline - clock_now()) * 1000;
    return left >= SLICE_MS ? SLICE_MS : left > 0 ? (int)left + 1 : 0;
}

static int lane_send(spike_link *self, const msgpack_sbuffer *hdr, const void *payload, size_t len)
{
    double deadline = clock_now() + self->cfg.timeout_ms / 1000.0;
    for (;;) {
        int r = shm_ring_write(self->lane, hdr->data, hdr->size, payload, len);
        if (r < 0)
            return err_wrap("link %s", self->name);
        if (r == 1) {
            self->last_sent = clock_now();
            return 1;
        }
        if (shm_ring_wait_room(self->lane, hdr->size + len, slice_ms(deadline)))
            continue;
        if (lane_tend(self, &deadline) < 0)
            return -1;
        if (self->peer_gone)
            return gone_error(self);
        if (clock_now() >= deadline) {
            char p[160];
            return err_set("link %s: %s has not taken a frame for %.3g s (shared-memory queue "
                           "full; hung? raise --timeout if it is only slow)", self->name,
                           peer_desc(self, p, sizeof p), self->cfg.timeout_ms / 1000.0);
        }
    }
}

/* Like try_recv, from the lane. */
static int lane_try_recv(spike_link *self, spike_frame *f)
{
    const void *hdr, *payload;
    size_t hdr_len, payload_len;
    int r = shm_ring_peek(self->lane, &hdr, &hdr_len, &payload, &payload_len);
    if (r <= 0)
        return r < 0 ? err_wrap("link %s", self->name) : 0;
    r = frame_decode(f, hdr, hdr_len, payload, payload_len) < 0 ? err_wrap("link %s", self->name) : 1;
    shm_ring_release(self->lane);
    return r;
}

/* Like wait_for(POLLIN), on the lane: 1 a message is there, 0 deadline or peer gone. */
static int lane_wait(spike_link *self, double *deadline)
{
    for (;;) {
        if (shm_ring_wait_data(self->lane, slice_ms(*deadline)))
            return 1;
        if (lane_tend(self, deadline) < 0)
            return -1;
        if (self->peer_gone) /* what it published before it went is still there */
            return shm_ring_has_data(self->lane) ? 1 : 0;
        if (clock_now() >= *deadline)
            return 0;
    }
}

static int send_control(spike_link *self, frame_control code, bool wait)
{
    spike_frame *c = self->ctl;
    frame_set_control(c, code);
    copy_name(c->stage, self->stage);
    c->text[0] = '\0';
    c->batch_index = code == FRAME_END ? self->seq_out.batch_index : 0;
    c->step = 0;
    c->steps = 0;
    c->width = 0;
    if (code == FRAME_HELLO) {
        copy_name(c->hello.type, self->type);
        copy_name(c->hello.port, self->port);
        c->hello.out = self->dir == PORT_OUT;
        c->hello.shape = self->expect;
        bool local = self->cfg.lanes && !strncmp(self->endpoint, "ipc://", 6);
        snprintf(c->hello.lane, sizeof c->hello.lane, "%s",
                 self->lane ? self->lane_name : local && self->dir == PORT_IN ? "accept" : "");
    } else {
        c->hello.lane[0] = '\0';
    }
    if (frame_encode(c, self->run, self->name, &self->ctl_hdr) < 0)
        return err_wrap("link %s", self->name);
    if (code == FRAME_END && self->lane_up) /* in-band: behind the data on the lane */
        return lane_send(self, &self->ctl_hdr, NULL, 0);
    return send_parts(self, &self->ctl_hdr, NULL, 0, wait);
}

/* ---- handshake ------------------------------------------------------------- */

/* Data through shared memory iff the out end offered a ring and the in end said
 * "accept": both ends read both HELLOs, so they decide alike. */
static int agree_lane(spike_link *self, const spike_frame *h)
{
    if (self->dir == PORT_OUT) {
        self->lane_up = self->lane && !strcmp(h->hello.lane, "accept");
        if (!self->lane_up)
            shm_ring_destroy(&self->lane); /* a remote or ZeroMQ-only peer */
        return 0;
    }
    bool local = self->cfg.lanes && !strncmp(self->endpoint, "ipc://", 6);
    if (!local || !h->hello.lane[0] || !strcmp(h->hello.lane, "accept"))
        return 0;
    char p[160];
    if (!(self->lane = shm_ring_open(h->hello.lane)))
        return err_wrap("link %s: the shared-memory lane offered by %s (use --transport zmq "
                        "where /dev/shm is not shared)", self->name, peer_desc(self, p, sizeof p));
    size_t need = 2048 + 5 * (size_t)self->shape.batch +
                  frame_payload_bytes(self->shape.kind, self->shape.batch, self->shape.width);
    if (shm_ring_max_message(self->lane) < need)
        return err_set("link %s: the shared-memory lane of %s takes messages of %zu bytes, "
                       "frames need %zu", self->name, peer_desc(self, p, sizeof p),
                       shm_ring_max_message(self->lane), need);
    shm_ring_set_spin(self->lane, self->cfg.spin_us);
    self->lane_up = true;
    return 0;
}

static int agree(spike_link *self, const spike_frame *h)
{
    bool i_out = self->dir == PORT_OUT;
    char mine[2 * FRAME_NAME_MAX], theirs[2 * FRAME_NAME_MAX];
    snprintf(mine, sizeof mine, "%s.%s", self->stage, self->port);
    snprintf(theirs, sizeof theirs, "%s.%s", h->stage, h->hello.port);
    copy_name(self->peer_stage, h->stage);
    copy_name(self->peer_type, h->hello.type);
    if (h->hello.out == i_out)
        return err_set("link %s: wired to %s (%s), which is also an %s-port: a link joins an "
                       "out-port to an in-port", mine, theirs, h->hello.type, i_out ? "out" : "in");
    snprintf(self->name, sizeof self->name, "%s->%s", i_out ? mine : theirs, i_out ? theirs : mine);
    frame_shape peer = h->hello.shape;
    const frame_shape *out = i_out ? &self->expect : &peer, *in = i_out ? &peer : &self->expect;
    const char *out_stage = i_out ? self->stage : h->stage, *in_stage = i_out ? h->stage : self->stage;
    const char *out_type = i_out ? self->type : h->hello.type, *in_type = i_out ? h->hello.type : self->type;
    const char *out_run = i_out ? self->run : h->run, *in_run = i_out ? h->run : self->run;
    if (*out_run && *in_run && strcmp(out_run, in_run))
        return err_set("link %s: run id mismatch: %s has run '%s', %s has run '%s' (a stage left "
                       "over from another run?)", self->name, out_stage, out_run, in_stage, in_run);
    char so[96], si[96];
    frame_shape_format(out, so, sizeof so);
    frame_shape_format(in, si, sizeof si);
    if (out->kind < FRAME_SPIKES || out->kind > FRAME_ERROR || !out->batch || !out->width || !out->steps)
        return err_set("link %s: %s (%s) declares an incomplete shape (%s)", self->name, out_stage,
                       out_type, so);
    if ((in->kind != FRAME_ANY && in->kind != out->kind) || (in->batch && in->batch != out->batch) ||
        (in->width && in->width != out->width) || (in->steps && in->steps != out->steps))
        return err_set("link %s: shape mismatch: %s (%s) sends %s; %s (%s) expects %s", self->name,
                       out_stage, out_type, so, in_stage, in_type, si);
    size_t bytes = frame_payload_bytes(out->kind, out->batch, out->width);
    if (bytes > (size_t)self->cfg.max_frame)
        return err_set("link %s: frames of %zu bytes exceed --max-frame=%lld", self->name, bytes,
                       (long long)self->cfg.max_frame);
    self->shape = *out;
    frame_seq_init(&self->seq_in, out->steps);
    frame_seq_init(&self->seq_out, out->steps);
    return agree_lane(self, h);
}

/* One step of the handshake without waiting: 1 when this link is done. */
static int handshake_step(spike_link *self)
{
    if (self->handshaken)
        return 1;
    drain_monitor(self);
    if (!self->hello_sent && !self->bind) {
        int r = send_control(self, FRAME_HELLO, false);
        if (r < 0)
            return -1;
        self->hello_sent = r == 1;
    }
    int r = try_recv(self, self->ctl);
    if (r <= 0)
        return r;
    if (self->ctl->kind != FRAME_CONTROL || self->ctl->control != FRAME_HELLO)
        return err_set("link %s: received %s %s before the HELLO", self->name,
                       frame_kind_name(self->ctl->kind), frame_control_name(self->ctl->control));
    spike_frame peer = *self->ctl; /* sending our HELLO reuses ctl */
    if (self->bind) {
        /* the connecting end spoke first; now the pipe to it exists, so answer */
        if (send_control(self, FRAME_HELLO, true) < 0)
            return -1;
        self->hello_sent = true;
    }
    if (agree(self, &peer) < 0)
        return -1;
    self->handshaken = true;
    self->last_sent = clock_now();
    /* connections seen so far are the peer's; if none is live any more, it is gone already */
    if (self->n_conns == 0 && self->ever_connected) {
        self->peer_gone = true;
        self->gone_at = clock_now();
    }
    return 1;
}

int link_handshake(spike_link **links, size_t n)
{
    double start = clock_now(), last_idle = 0;
    for (;;) {
        size_t done = 0;
        zmq_pollitem_t items[64];
        size_t n_items = 0;
        for (size_t i = 0; i < n; i++) {
            spike_link *l = links[i];
            int r = handshake_step(l);
            if (r < 0)
                return -1;
            if (r == 1) {
                done++;
                continue;
            }
            if (l->cfg.connect_timeout_ms > 0 && clock_now() - start >= l->cfg.connect_timeout_ms / 1000.0)
                return err_set("link %s (%s-port): no HELLO from a peer at %s after %.3g s (is the "
                               "other stage running, with the matching endpoint?)", l->name,
                               l->dir == PORT_IN ? "in" : "out", l->endpoint,
                               l->cfg.connect_timeout_ms / 1000.0);
            if (n_items + 2 <= sizeof items / sizeof *items) {
                items[n_items++] = (zmq_pollitem_t){l->sock, 0, ZMQ_POLLIN, 0};
                items[n_items++] = (zmq_pollitem_t){l->mon, 0, ZMQ_POLLIN, 0};
            }
        }
        if (done == n)
            return 0;
        double now = clock_now();
        if (now - last_idle >= SLICE_MS / 1000.0) {
            last_idle = now;
            for (size_t i = 0; i < n; i++)
                if (links[i]->idle) {
                    if (links[i]->idle(links[i]->idle_arg) < 0)
                        return err_wrap("waiting for the HELLO on link %s", links[i]->name);
                    break; /* one hook per stage is enough */
                }
        }
        if (zmq_poll(items, (int)n_items, SLICE_MS) < 0 && errno != EINTR)
            return err_set("link handshake: poll: %s", zmq_strerror(errno));
    }
}

/* ---- data -------------------------------------------------------------------- */

int link_send(spike_link *self, const spike_frame *f)
{
    if (!self->handshaken || self->dir != PORT_OUT || self->end_sent)
        return err_set("link %s: cannot send (%s)", self->name,
                       !self->handshaken ? "no handshake yet" : self->dir != PORT_OUT ? "an in-port"
                                                                                      : "END already sent");
    if (f->kind != self->shape.kind || f->width != self->shape.width || f->batch > self->shape.batch)
        return err_set("link %s: cannot send a %s frame of %ux%u on a link of %s %ux%u", self->name,
                       frame_kind_name(f->kind), f->batch, f->width, frame_kind_name(self->shape.kind),
                       self->shape.batch, self->shape.width);
    frame_seq before = self->seq_out; /* a frame that was not sent does not count */
    if (frame_seq_check(&self->seq_out, f) < 0)
        return err_wrap("link %s: sending", self->name);
    const void *payload;
    size_t len;
    frame_payload(f, &payload, &len);
    if (frame_encode(f, self->run, self->name, &self->hdr) < 0 ||
        (self->lane_up ? lane_send(self, &self->hdr, payload, len)
                       : send_parts(self, &self->hdr, payload, len, true)) < 0) {
        self->seq_out = before;
        return -1;
    }
    return 0;
}

int link_send_end(spike_link *self)
{
    if (self->end_sent)
        return 0;
    if (!self->handshaken || self->dir != PORT_OUT)
        return err_set("link %s: cannot send END (%s)", self->name,
                       !self->handshaken ? "no handshake yet" : "an in-port");
    if (self->seq_out.step != 0)
        return err_set("link %s: END in the middle of batch %u (after step %u of %u)", self->name,
                       self->seq_out.batch_index, self->seq_out.step - 1, self->seq_out.steps);
    if (send_control(self, FRAME_END, true) < 0)
        return -1;
    self->end_sent = true;
    return 0;
}

int link_wait_end_ack(spike_link *self)
{
    if (self->end_acked)
        return 0;
    if (!self->end_sent)
        return err_set("link %s: waiting for END_ACK before sending END", self->name);
    double deadline = clock_now() + self->cfg.timeout_ms / 1000.0;
    for (;;) {
        int r = try_recv(self, self->ctl);
        if (r < 0)
            return -1;
        if (r == 1 && self->ctl->kind == FRAME_CONTROL && self->ctl->control == FRAME_END_ACK) {
            self->end_acked = true;
            return 0;
        }
        if (r == 1) {
            /* a heartbeat: the receiver lives and is still draining our frames */
            deadline = clock_now() + self->cfg.timeout_ms / 1000.0;
            continue;
        }
        r = wait_for(self, ZMQ_POLLIN, deadline);
        if (r < 0)
            return -1;
        if (r == 0) {
            if (self->peer_gone)
                return gone_error(self);
            char p[160];
            return err_set("link %s: no END_ACK from %s within %.3g s", self->name,
                           peer_desc(self, p, sizeof p), self->cfg.timeout_ms / 1000.0);
        }
    }
}

int link_heartbeat(spike_link *self)
{
    /* both ways: an out end waiting on a full queue also wants to know its receiver lives */
    if (!self->handshaken || self->end_sent || self->end_received || self->peer_gone)
        return 0;
    if (clock_now() - self->last_sent < self->cfg.heartbeat_ms / 1000.0)
        return 0;
    return send_control(self, FRAME_HEARTBEAT, false) < 0 ? -1 : 0;
}

bool link_has_input(spike_link *self)
{
    if (self->lane_up)
        return shm_ring_has_data(self->lane);
    zmq_pollitem_t item = {self->sock, 0, ZMQ_POLLIN, 0};
    return zmq_poll(&item, 1, 0) > 0 && item.revents;
}

int link_recv(spike_link *self, spike_frame *f)
{
    if (!self->handshaken || self->dir != PORT_IN)
        return err_set("link %s: cannot receive (%s)", self->name,
                       !self->handshaken ? "no handshake yet" : "an out-port");
    if (self->end_received)
        return 0;
    if (f->shape.kind != self->shape.kind || f->shape.batch < self->shape.batch ||
        f->shape.width != self->shape.width)
        return err_set("link %s: receiving into a frame that does not hold %s %ux%u", self->name,
                       frame_kind_name(self->shape.kind), self->shape.batch, self->shape.width);
    double deadline = clock_now() + self->cfg.timeout_ms / 1000.0;
    for (;;) {
        int r = self->lane_up ? lane_try_recv(self, f) : try_recv(self, f);
        if (r < 0)
            return -1;
        if (r == 1) {
            if (f->kind == FRAME_CONTROL && f->control == FRAME_HEARTBEAT) {
                deadline = clock_now() + self->cfg.timeout_ms / 1000.0;
                continue;
            }
            if (f->kind == FRAME_CONTROL && f->control != FRAME_END)
                return err_set("link %s: unexpected %s frame from %s", self->name,
                               frame_control_name(f->control), f->stage);
            if (strcmp(f->link, self->name))
                return err_set("link %s: frame for link '%s' (miswired?)", self->name, f->link);
            if (frame_seq_check(&self->seq_in, f) < 0)
                return err_wrap("link %s", self->name);
            if (!self->parts && f->kind != FRAME_CONTROL && f->rows != f->batch)
                return err_set("link %s: rows %u..%u of a step of %u: this stage takes whole "
                               "steps, not parts", self->name, f->row0, f->row0 + f->batch - 1,
                               f->rows);
            if (f->kind == FRAME_CONTROL) { /* END: acknowledge, the sender may then close */
                self->end_received = true;
                if (send_control(self, FRAME_END_ACK, false) < 0)
                    return -1;
                return 0;
            }
            return 1;
        }
        r = self->lane_up ? lane_wait(self, &deadline) : wait_for(self, ZMQ_POLLIN, deadline);
        if (r < 0)
            return -1;
        if (r == 0) {
            if (self->peer_gone)
                return gone_error(self);
            char p[160];
            return err_set("link %s: nothing from %s for %.3g s (hung? raise --timeout if it is "
                           "only slow)", self->name, peer_desc(self, p, sizeof p),
                           self->cfg.timeout_ms / 1000.0);
        }
    }
}
