/* link: frame links with HELLO, order checks, END/END_ACK and liveness (see
 * include/transport/link.h, docs/protocol.md): the protocol, over the
 * transports of include/transport/link_transport.h (link_zmq.c, link_lane.c).
 * Invariants: data flows only after handshaken; every wait is bounded by a
 * deadline and runs the idle hook; HELLO and HEARTBEAT are encoded in their
 * own header buffer, END and END_ACK (which wait, and must arrive) in the data
 * one, so a heartbeat sent from an idle hook never clobbers a frame being
 * sent (an out end never sends data beside END, an in end never sends data); HELLO, HEARTBEAT and END_ACK always go by the
 * socket transport, data frames and END by the data path (the socket, or the
 * lane agreed at HELLO), so END stays behind the data. */
#include "transport/link.h"

#include "core/clock.h"
#include "core/err.h"
#include "transport/link_transport.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The socket transports, by endpoint: the first whose match() takes it opens a
 * link. Adding one: its file (ops like link_zmq.c's) and a line here, before
 * the ZeroMQ one, which takes every endpoint. */
static const link_transport_ops *const transports[] = {&link_curve_ops, &link_zmq_ops};

struct spike_link {
    char *endpoint;
    bool bind;
    port_dir dir;
    char port[FRAME_NAME_MAX], stage[FRAME_NAME_MAX], type[FRAME_NAME_MAX], run[FRAME_NAME_MAX];
    char name[FRAME_LINK_MAX];
    char peer_stage[FRAME_NAME_MAX], peer_type[FRAME_NAME_MAX];
    frame_shape expect, shape;
    link_config cfg;
    bool hello_sent, handshaken, end_sent, end_received, end_acked;
    double last_sent;
    frame_seq seq_in, seq_out;
    link_transport *sock;      /* HELLO, HEARTBEAT, END_ACK, liveness; the data unless a lane is up */
    link_transport *lane;      /* out end: offered at HELLO; either end: the data path once agreed */
    link_transport *data;      /* what data frames and END go by: sock or lane */
    bool parts;                /* in end: takes steps sent in parts */
    char lane_name[SHM_RING_NAME_MAX];
    /* notes: ours go out with HELLO and END, the peer's are kept as they came */
    char note[FRAME_TEXT_MAX], end_note[FRAME_TEXT_MAX], peer_note[FRAME_TEXT_MAX],
        peer_end_note[FRAME_TEXT_MAX];
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
    cfg->keys = NULL;
    cfg->server_key = NULL;
    cfg->insecure = false;
}

static void copy_name(char *dst, const char *src)
{
    snprintf(dst, FRAME_NAME_MAX, "%s", src ? src : "");
}

/* ---- setup ---------------------------------------------------------------- */

static const link_transport_ops *transport_for(const char *endpoint, const link_config *cfg)
{
    for (size_t i = 0; i < sizeof transports / sizeof *transports; i++)
        if (transports[i]->match(endpoint, cfg))
            return transports[i];
    return NULL;
}

spike_link *link_new(void *ctx, const link_identity *id, const char *port, port_dir dir,
                     const char *endpoint, const frame_shape *expect, const link_config *cfg)
{
    const char *ep = endpoint;
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
    const link_transport_ops *ops = transport_for(self->endpoint, &self->cfg);
    if (!ops) {
        err_set("link %s: no transport takes the endpoint %s", self->name, self->endpoint);
        goto err;
    }
    if (!(self->sock = ops->open(self, ctx, self->endpoint, self->bind, &self->cfg)))
        goto err;
    self->data = self->sock;
    /* the ring is offered in the HELLO, so it exists before the HELLO goes out */
    if (dir == PORT_OUT && link_lane_local(self->endpoint, &self->cfg) &&
        !(self->lane = link_lane_offer(self, self->sock, expect, &self->cfg, self->lane_name)))
        goto err;
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
    /* linger only for the END_ACK owed to the sender */
    bool owed = self->dir == PORT_IN && self->end_received;
    if (self->sock)
        self->sock->ops->destroy(&self->sock, owed);
    if (self->lane)
        self->lane->ops->destroy(&self->lane, false);
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
bool link_uses_lane(const spike_link *self) { return self->lane && self->data == self->lane; }
void link_accept_parts(spike_link *self) { self->parts = true; }

spike_frame *link_frame_new(const spike_link *self)
{
    if (!self->handshaken) {
        err_set("link %s: no shape before the handshake", self->name);
        return NULL;
    }
    return frame_new(&self->shape);
}

/* ---- what the transports use ------------------------------------------------- */

int link_idle(spike_link *self)
{
    double now = clock_now();
    if (self->idle && now - self->last_idle >= LINK_SLICE_MS / 1000.0) {
        self->last_idle = now;
        if (self->idle(self->idle_arg) < 0)
            return err_wrap("link %s", self->name);
    }
    return 0;
}

spike_frame *link_scratch(spike_link *self) { return self->ctl; }

const char *link_peer_desc(const spike_link *self, char *buf, size_t cap)
{
    if (self->peer_stage[0])
        snprintf(buf, cap, "%s (%s)", self->peer_stage, self->peer_type);
    else
        snprintf(buf, cap, "the peer");
    return buf;
}

int link_gone_error(const spike_link *self)
{
    char p[160];
    return err_set("link %s: %s disconnected (it exited or died, or sent a message over "
                   "--max-frame)", self->name,
                   link_peer_desc(self, p, sizeof p));
}

static bool peer_gone(const spike_link *self) { return self->sock->ops->gone(self->sock); }

/* Sends by transport t; a message that went out counts for the heartbeat interval. */
static int transmit(spike_link *self, link_transport *t, const msgpack_sbuffer *hdr,
                    const void *payload, size_t len, bool wait)
{
    int r = t->ops->send(t, hdr, payload, len, wait);
    if (r == 1)
        self->last_sent = clock_now();
    return r;
}

static int send_control(spike_link *self, frame_control code, bool wait)
{
    spike_frame *c = self->ctl;
    frame_set_control(c, code);
    copy_name(c->stage, self->stage);
    snprintf(c->text, sizeof c->text, "%s",
             code == FRAME_HELLO ? self->note : code == FRAME_END ? self->end_note : "");
    c->batch_index = code == FRAME_END ? self->seq_out.batch_index : 0;
    c->step = 0;
    c->steps = 0;
    c->width = 0;
    if (code == FRAME_HELLO) {
        copy_name(c->hello.type, self->type);
        copy_name(c->hello.port, self->port);
        c->hello.out = self->dir == PORT_OUT;
        c->hello.shape = self->expect;
        bool local = link_lane_local(self->endpoint, &self->cfg);
        snprintf(c->hello.lane, sizeof c->hello.lane, "%s",
                 self->lane ? self->lane_name : local && self->dir == PORT_IN ? "accept" : "");
    } else {
        c->hello.lane[0] = '\0';
    }
    /* an END waiting for room on a full queue runs the idle hook, whose
     * heartbeats must not overwrite it (they did: the receiver got a heartbeat
     * in its place and timed out) */
    msgpack_sbuffer *hdr = code == FRAME_END || code == FRAME_END_ACK ? &self->hdr : &self->ctl_hdr;
    if (frame_encode(c, self->run, self->name, hdr) < 0)
        return err_wrap("link %s", self->name);
    /* END in-band: behind the data, on the lane if there is one */
    return transmit(self, code == FRAME_END ? self->data : self->sock, hdr, NULL, 0, wait);
}

/* ---- handshake ------------------------------------------------------------- */

/* Data through shared memory iff the out end offered a ring and the in end said
 * "accept": both ends read both HELLOs, so they decide alike. */
static int agree_lane(spike_link *self, const spike_frame *h)
{
    if (self->dir == PORT_OUT) {
        if (self->lane && !strcmp(h->hello.lane, "accept"))
            self->data = self->lane;
        else if (self->lane) /* a remote or ZeroMQ-only peer */
            self->lane->ops->destroy(&self->lane, false);
        return 0;
    }
    bool local = link_lane_local(self->endpoint, &self->cfg);
    if (!local || !h->hello.lane[0] || !strcmp(h->hello.lane, "accept"))
        return 0;
    if (!(self->lane = link_lane_accept(self, self->sock, h->hello.lane, &self->shape, &self->cfg)))
        return -1;
    self->data = self->lane;
    return 0;
}

int link_hello_agree(const link_end *mine, const spike_frame *h, char *name, size_t cap,
                     frame_shape *shape)
{
    bool i_out = mine->dir == PORT_OUT;
    char me[2 * FRAME_NAME_MAX], theirs[2 * FRAME_NAME_MAX];
    snprintf(me, sizeof me, "%s.%s", mine->id.stage, mine->port);
    snprintf(theirs, sizeof theirs, "%s.%s", h->stage, h->hello.port);
    if (h->hello.out == i_out)
        return err_set("link %s: wired to %s (%s), which is also an %s-port: a link joins an "
                       "out-port to an in-port", me, theirs, h->hello.type, i_out ? "out" : "in");
    snprintf(name, cap, "%s->%s", i_out ? me : theirs, i_out ? theirs : me);
    frame_shape peer = h->hello.shape;
    const frame_shape *out = i_out ? &mine->expect : &peer, *in = i_out ? &peer : &mine->expect;
    const char *out_stage = i_out ? mine->id.stage : h->stage, *in_stage = i_out ? h->stage : mine->id.stage;
    const char *out_type = i_out ? mine->id.type : h->hello.type, *in_type = i_out ? h->hello.type : mine->id.type;
    const char *run = mine->id.run ? mine->id.run : "";
    const char *out_run = i_out ? run : h->run, *in_run = i_out ? h->run : run;
    if (*out_run && *in_run && strcmp(out_run, in_run))
        return err_set("link %s: run id mismatch: %s has run '%s', %s has run '%s' (a stage left "
                       "over from another run?)", name, out_stage, out_run, in_stage, in_run);
    char so[96], si[96];
    frame_shape_format(out, so, sizeof so);
    frame_shape_format(in, si, sizeof si);
    if (out->kind < FRAME_SPIKES || out->kind > FRAME_ERROR || !out->batch || !out->width || !out->steps)
        return err_set("link %s: %s (%s) declares an incomplete shape (%s)", name, out_stage,
                       out_type, so);
    /* frame.h's limits also keep frame_payload_bytes from overflowing below */
    if (out->batch > FRAME_MAX_BATCH || out->width > FRAME_MAX_WIDTH || out->steps > FRAME_MAX_STEPS)
        return err_set("link %s: %s (%s) declares %s, beyond the limits of %u rows of %u, %u steps",
                       name, out_stage, out_type, so, FRAME_MAX_BATCH, FRAME_MAX_WIDTH, FRAME_MAX_STEPS);
    if ((in->kind != FRAME_ANY && in->kind != out->kind) || (in->batch && in->batch != out->batch) ||
        (in->width && in->width != out->width) || (in->steps && in->steps != out->steps))
        return err_set("link %s: shape mismatch: %s (%s) sends %s; %s (%s) expects %s", name,
                       out_stage, out_type, so, in_stage, in_type, si);
    size_t bytes = frame_payload_bytes(out->kind, out->batch, out->width);
    if (bytes > (size_t)mine->max_frame)
        return err_set("link %s: frames of %zu bytes exceed --max-frame=%lld", name, bytes,
                       (long long)mine->max_frame);
    *shape = *out;
    return 0;
}

static int agree(spike_link *self, const spike_frame *h)
{
    link_end mine = {{self->stage, self->type, self->run}, self->port, self->dir, self->expect,
                     self->cfg.max_frame};
    copy_name(self->peer_stage, h->stage);
    copy_name(self->peer_type, h->hello.type);
    snprintf(self->peer_note, sizeof self->peer_note, "%s", h->text);
    if (link_hello_agree(&mine, h, self->name, sizeof self->name, &self->shape) < 0)
        return -1;
    frame_seq_init(&self->seq_in, self->shape.steps);
    frame_seq_init(&self->seq_out, self->shape.steps);
    return agree_lane(self, h);
}

/* One step of the handshake without waiting: 1 when this link is done. */
static int handshake_step(spike_link *self)
{
    if (self->handshaken)
        return 1;
    if (self->sock->ops->liveness(self->sock) < 0)
        return -1;
    if (!self->hello_sent && !self->bind) {
        int r = send_control(self, FRAME_HELLO, false);
        if (r < 0)
            return -1;
        self->hello_sent = r == 1;
    }
    int r = self->sock->ops->recv(self->sock, self->ctl);
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
    self->sock->ops->ready(self->sock);
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
            if (n_items + LINK_POLL_MAX <= sizeof items / sizeof *items)
                n_items += (size_t)l->sock->ops->poll_items(l->sock, items + n_items);
        }
        if (done == n)
            return 0;
        double now = clock_now();
        if (now - last_idle >= LINK_SLICE_MS / 1000.0) {
            last_idle = now;
            for (size_t i = 0; i < n; i++)
                if (links[i]->idle) {
                    if (links[i]->idle(links[i]->idle_arg) < 0)
                        return err_wrap("waiting for the HELLO on link %s", links[i]->name);
                    break; /* one hook per stage is enough */
                }
        }
        if (zmq_poll(items, (int)n_items, LINK_SLICE_MS) < 0 && errno != EINTR)
            return err_set("link handshake: poll: %s", zmq_strerror(errno));
    }
}

/* ---- data -------------------------------------------------------------------- */

/* The peer's heartbeats (and, after END, its END_ACK) read as they come: an end
 * that never waits would leave them queued until the queue is full, and an
 * END_ACK stuck behind them is lost when the receiver exits. */
static int read_peer_control(spike_link *self)
{
    if (self->dir == PORT_IN && self->data == self->sock)
        return 0; /* there the socket is the data path, which link_recv reads in order */
    spike_frame *c = self->ctl;
    int r;
    while ((r = self->sock->ops->recv(self->sock, c)) == 1) {
        if (c->kind == FRAME_CONTROL && c->control == FRAME_HEARTBEAT)
            continue;
        if (c->kind == FRAME_CONTROL && c->control == FRAME_END_ACK && self->end_sent) {
            self->end_acked = true;
            continue;
        }
        return err_set("link %s: unexpected %s %s frame from %s on the link's socket", self->name,
                       frame_kind_name(c->kind), frame_control_name(c->control), c->stage);
    }
    return r;
}

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
    if (read_peer_control(self) < 0 || frame_encode(f, self->run, self->name, &self->hdr) < 0 ||
        transmit(self, self->data, &self->hdr, payload, len, true) < 0) {
        self->seq_out = before;
        return -1;
    }
    return 0;
}

void link_set_note(spike_link *self, const char *note)
{
    snprintf(self->note, sizeof self->note, "%s", note ? note : "");
}

void link_set_end_note(spike_link *self, const char *note)
{
    snprintf(self->end_note, sizeof self->end_note, "%s", note ? note : "");
}

const char *link_end_note(const spike_link *self) { return self->end_note; }
const char *link_peer_note(const spike_link *self) { return self->peer_note; }
const char *link_peer_end_note(const spike_link *self) { return self->peer_end_note; }

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

/* A wait that ended with nothing: the peer gone, or silent for the timeout;
 * what is the message, with the link's name, the peer and the timeout. */
static int waited_in_vain(spike_link *self, const char *what)
{
    if (peer_gone(self))
        return link_gone_error(self);
    char p[160];
    return err_set(what, self->name, link_peer_desc(self, p, sizeof p), self->cfg.timeout_ms / 1000.0);
}

int link_wait_end_ack(spike_link *self)
{
    if (self->end_acked)
        return 0;
    if (!self->end_sent)
        return err_set("link %s: waiting for END_ACK before sending END", self->name);
    double deadline = clock_now() + self->cfg.timeout_ms / 1000.0;
    for (;;) {
        int r = self->sock->ops->recv(self->sock, self->ctl);
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
        r = self->sock->ops->wait(self->sock, &deadline);
        /* the wait's idle hook heartbeats this link, which reads (and takes)
         * an END_ACK that came meanwhile: a peer that then exited is no fault */
        if (self->end_acked)
            return 0;
        if (r < 0)
            return -1;
        if (r == 0)
            return waited_in_vain(self, "link %s: no END_ACK from %s within %.3g s");
    }
}

int link_heartbeat(spike_link *self)
{
    if (!self->handshaken)
        return 0;
    if (read_peer_control(self) < 0)
        return -1;
    /* both ways: an out end waiting on a full queue also wants to know its receiver lives */
    if (self->end_sent || self->end_received || peer_gone(self))
        return 0;
    if (clock_now() - self->last_sent < self->cfg.heartbeat_ms / 1000.0)
        return 0;
    return send_control(self, FRAME_HEARTBEAT, false) < 0 ? -1 : 0;
}

bool link_has_input(spike_link *self)
{
    return self->data->ops->has_input(self->data);
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
        int r = self->data->ops->recv(self->data, f);
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
                snprintf(self->peer_end_note, sizeof self->peer_end_note, "%s", f->text);
                if (send_control(self, FRAME_END_ACK, true) < 0) /* owed: never dropped */
                    return -1;
                return 0;
            }
            /* a receiver busy with a backlog never waits, so it says it lives
             * here: the sender's wait for END_ACK behind that backlog goes on */
            if (link_heartbeat(self) < 0)
                return -1;
            return 1;
        }
        r = self->data->ops->wait(self->data, &deadline);
        if (r < 0)
            return -1;
        if (r == 0)
            return waited_in_vain(self, "link %s: nothing from %s for %.3g s (hung? raise --timeout "
                                        "if it is only slow)");
    }
}
