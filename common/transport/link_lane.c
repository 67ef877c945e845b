/* link_lane: the shared-memory data path of a link on one host (see
 * include/transport/link_transport.h, docs/protocol.md "Shared-memory lanes"):
 * data frames and END through an shm_ring, as the same two parts ZeroMQ would
 * carry, while the link's socket keeps the heartbeats and tells liveness.
 * Invariants: the out end creates the ring before its HELLO names it, the in
 * end opens it only after both HELLOs agreed on it; a lane's socket carries
 * nothing but heartbeats (anything else there is an error); what a dead peer
 * published stays readable. */
#include "transport/link_transport.h"

#include "core/clock.h"
#include "core/err.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    link_transport base;
    link_transport *sock; /* the link's socket transport: heartbeats and liveness */
    shm_ring *ring;
    const link_config *cfg;
} lane_link;

/* The largest message of a frame of this shape: the msgpack header's bound and the payload. */
static size_t message_bytes(const frame_shape *shape)
{
    return 2048 + 5 * (size_t)shape->batch +
           frame_payload_bytes(shape->kind, shape->batch, shape->width);
}

bool link_lane_local(const char *endpoint, const link_config *cfg)
{
    return cfg->lanes && !strncmp(endpoint, "ipc://", 6);
}

static void lane_destroy(link_transport **t_p, bool flush)
{
    (void)flush; /* what the ring holds stays readable until the peer unmaps it */
    lane_link *self = t_p ? (lane_link *)*t_p : NULL;
    if (!self)
        return;
    shm_ring_destroy(&self->ring);
    free(self);
    *t_p = NULL;
}

static lane_link *lane_new(spike_link *link, link_transport *sock, const link_config *cfg)
{
    lane_link *self = calloc(1, sizeof *self);
    if (!self) {
        err_set("link %s: out of memory", link_name(link));
        return NULL;
    }
    self->base = (link_transport){&link_lane_ops, link};
    self->sock = sock;
    self->cfg = cfg;
    return self;
}

link_transport *link_lane_offer(spike_link *link, link_transport *sock, const frame_shape *shape,
                                const link_config *cfg, char name[SHM_RING_NAME_MAX])
{
    lane_link *self = lane_new(link, sock, cfg);
    if (!self)
        return NULL;
    link_transport *t = &self->base;
    if (!(self->ring = shm_ring_create(message_bytes(shape), cfg->queue, name))) {
        lane_destroy(&t, false);
        return NULL;
    }
    shm_ring_set_spin(self->ring, cfg->spin_us);
    return t;
}

link_transport *link_lane_accept(spike_link *link, link_transport *sock, const char *name,
                                 const frame_shape *shape, const link_config *cfg)
{
    lane_link *self = lane_new(link, sock, cfg);
    if (!self)
        return NULL;
    link_transport *t = &self->base;
    char p[160];
    if (!(self->ring = shm_ring_open(name))) {
        err_wrap("link %s: the shared-memory lane offered by %s (use --transport zmq "
                 "where /dev/shm is not shared)", link_name(link), link_peer_desc(link, p, sizeof p));
        goto err;
    }
    size_t need = message_bytes(shape);
    if (shm_ring_max_message(self->ring) < need) {
        err_set("link %s: the shared-memory lane of %s takes messages of %zu bytes, "
                "frames need %zu", link_name(link), link_peer_desc(link, p, sizeof p),
                shm_ring_max_message(self->ring), need);
        goto err;
    }
    shm_ring_set_spin(self->ring, cfg->spin_us);
    return t;
err:
    lane_destroy(&t, false);
    return NULL;
}

/* The idle hook and the socket while data waits on the lane: the socket now
 * carries only the peer's heartbeats (each renews *deadline). */
static int lane_tend(lane_link *self, double *deadline)
{
    spike_link *link = self->base.link;
    if (link_idle(link) < 0 || self->sock->ops->liveness(self->sock) < 0)
        return -1;
    spike_frame *c = link_scratch(link);
    int r;
    while ((r = self->sock->ops->recv(self->sock, c)) == 1) {
        if (c->kind != FRAME_CONTROL || c->control != FRAME_HEARTBEAT)
            return err_set("link %s: %s %s frame on the socket of a shared-memory link (only "
                           "heartbeats belong there)", link_name(link), frame_kind_name(c->kind),
                           frame_control_name(c->control));
        *deadline = clock_now() + self->cfg->timeout_ms / 1000.0;
    }
    return r;
}

static int slice_ms(double deadline)
{
    double left = (deadline - clock_now()) * 1000;
    return left >= LINK_SLICE_MS ? LINK_SLICE_MS : left > 0 ? (int)left + 1 : 0;
}

/* Always waits while the ring is full: only data frames and END, which do, use it. */
static int lane_send(link_transport *t, const msgpack_sbuffer *hdr, const void *payload, size_t len,
                     bool wait)
{
    (void)wait;
    lane_link *self = (lane_link *)t;
    spike_link *link = t->link;
    double deadline = clock_now() + self->cfg->timeout_ms / 1000.0;
    for (;;) {
        int r = shm_ring_write(self->ring, hdr->data, hdr->size, payload, len);
        if (r < 0)
            return err_wrap("link %s", link_name(link));
        if (r == 1)
            return 1;
        if (shm_ring_wait_room(self->ring, hdr->size + len, slice_ms(deadline)))
            continue;
        if (lane_tend(self, &deadline) < 0)
            return -1;
        if (self->sock->ops->gone(self->sock))
            return link_gone_error(link);
        if (clock_now() >= deadline) {
            char p[160];
            return err_set("link %s: %s has not taken a frame for %.3g s (shared-memory queue "
                           "full; hung? raise --timeout if it is only slow)", link_name(link),
                           link_peer_desc(link, p, sizeof p), self->cfg->timeout_ms / 1000.0);
        }
    }
}

static int lane_recv(link_transport *t, spike_frame *f)
{
    lane_link *self = (lane_link *)t;
    const void *hdr, *payload;
    size_t hdr_len, payload_len;
    int r = shm_ring_peek(self->ring, &hdr, &hdr_len, &payload, &payload_len);
    if (r <= 0)
        return r < 0 ? err_wrap("link %s", link_name(t->link)) : 0;
    r = frame_decode(f, hdr, hdr_len, payload, payload_len) < 0 ? err_wrap("link %s", link_name(t->link))
                                                                : 1;
    shm_ring_release(self->ring);
    return r;
}

static int lane_wait(link_transport *t, double *deadline)
{
    lane_link *self = (lane_link *)t;
    for (;;) {
        if (shm_ring_wait_data(self->ring, slice_ms(*deadline)))
            return 1;
        if (lane_tend(self, deadline) < 0)
            return -1;
        if (self->sock->ops->gone(self->sock)) /* what it published before it went is still there */
            return shm_ring_has_data(self->ring) ? 1 : 0;
        if (clock_now() >= *deadline)
            return 0;
    }
}

static bool lane_has_input(link_transport *t) { return shm_ring_has_data(((lane_link *)t)->ring); }

const link_transport_ops link_lane_ops = {
    .name = "lane",
    .send = lane_send,
    .recv = lane_recv,
    .wait = lane_wait,
    .has_input = lane_has_input,
    .destroy = lane_destroy,
};
