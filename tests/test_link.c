/* test_link: handshake (agreement, mismatches named on both ends), frames and
 * END across a real ipc:// link, receiver-side order checks against a hand-driven
 * peer, and a dead or silent peer detected in bounded time; the data paths both
 * through a shared-memory lane and over ZeroMQ alone. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tmpdir.h"

#include "core/clock.h"
#include "core/err.h"
#include "transport/link.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zmq.h>

static char dir[64];
static char ep[128];

static int setup(void **state)
{
    (void)state;
    static int n;
    snprintf(dir, sizeof dir, "/tmp/test_link-XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    snprintf(ep, sizeof ep, "ipc://%s/l%d", dir, n++);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return tmpdir_remove(dir);
}

static bool lanes = true; /* the transport of the tests below; the _zmq variants clear it */

static link_config quick(void)
{
    link_config c;
    link_config_default(&c);
    c.lanes = lanes;
    c.timeout_ms = 1000;
    c.connect_timeout_ms = 2000;
    c.heartbeat_ms = 200;
    c.linger_ms = 200;
    return c;
}

static const link_identity A = {"a", "t-out", "run1"}, B = {"b", "t-in", "run1"};

/* in_lanes, out_lanes: each end's willingness; the lane is used only if both are */
static void round_trip(bool in_lanes, bool out_lanes)
{
    void *ctx = zmq_ctx_new();
    link_config cfg = quick();
    frame_shape shape = {FRAME_SPIKES, 4, 20, 3};
    cfg.lanes = in_lanes;
    spike_link *in = link_new(ctx, &B, "spikes", PORT_IN, ep, &(frame_shape){0}, &cfg);
    cfg.lanes = out_lanes;
    spike_link *out = link_new(ctx, &A, "out", PORT_OUT, ep, &shape, &cfg);
    assert_non_null(in);
    assert_non_null(out);
    spike_link *both[] = {in, out};
    assert_int_equal(link_handshake(both, 2), 0);
    assert_int_equal(link_uses_lane(in), in_lanes && out_lanes);
    assert_int_equal(link_uses_lane(out), in_lanes && out_lanes);
    assert_string_equal(link_name(in), "a.out->b.spikes");
    assert_string_equal(link_name(out), "a.out->b.spikes");
    assert_int_equal(link_shape(in)->width, 20);
    assert_int_equal(link_shape(in)->kind, FRAME_SPIKES);
    spike_frame *f = link_frame_new(out), *g = link_frame_new(in);
    for (uint32_t b = 0; b < 2; b++)
        for (uint32_t t = 0; t < 3; t++) {
            f->batch_index = b;
            f->step = t;
            f->batch = b ? 2 : 4; /* a short last batch */
            for (uint32_t i = 0; i < f->batch; i++) {
                f->ids[i] = b * 4 + i;
                for (uint32_t j = 0; j < 20; j++)
                    frame_set_spike(f, i, j, (i + j + t) % 3 == 0);
            }
            assert_int_equal(link_send(out, f), 0);
            assert_int_equal(link_recv(in, g), 1);
            assert_int_equal(g->batch_index, b);
            assert_int_equal(g->step, t);
            assert_int_equal(g->batch, f->batch);
            assert_memory_equal(g->spikes, f->spikes, f->batch * frame_row_bytes(20));
            assert_int_equal(g->ids[f->batch - 1], f->ids[f->batch - 1]);
        }
    /* END only at a batch boundary; then both sides see the end */
    f->batch_index = 2;
    f->step = 0;
    assert_int_equal(link_send(out, f), 0);
    assert_int_equal(link_send_end(out), -1);
    assert_non_null(strstr(err_msg(), "END in the middle of batch 2"));
    for (uint32_t t = 1; t < 3; t++) {
        f->step = t;
        assert_int_equal(link_send(out, f), 0);
    }
    assert_int_equal(link_send_end(out), 0);
    for (int i = 0; i < 3; i++)
        assert_int_equal(link_recv(in, g), 1);
    assert_int_equal(link_recv(in, g), 0);
    assert_int_equal(link_recv(in, g), 0);
    assert_int_equal(link_wait_end_ack(out), 0);
    /* sending out of order is caught at the sender too */
    frame_destroy(&f);
    frame_destroy(&g);
    link_destroy(&in);
    link_destroy(&out);
    assert_null(in);
    zmq_ctx_term(ctx);
}

static void test_round_trip(void **state)
{
    (void)state;
    round_trip(true, true);
}

/* either end unwilling (--transport zmq, or a peer on another host): ZeroMQ only */
static void test_round_trip_zmq(void **state)
{
    (void)state;
    round_trip(true, false);
    teardown(NULL);
    setup(NULL);
    round_trip(false, true);
    teardown(NULL);
    setup(NULL);
    round_trip(false, false);
}

static void expect_handshake_error(const frame_shape *sent, const frame_shape *wanted,
                                   const link_identity *ia, const link_identity *ib,
                                   const char *out_ep, const char *in_ep, port_dir dir_b,
                                   const char *needle)
{
    void *ctx = zmq_ctx_new();
    link_config cfg = quick();
    spike_link *in = link_new(ctx, ib, "spikes", dir_b, in_ep, wanted, &cfg);
    spike_link *out = link_new(ctx, ia, "out", PORT_OUT, out_ep, sent, &cfg);
    assert_non_null(in);
    assert_non_null(out);
    /* each end alone: both fail, with the same message */
    spike_link *a[] = {in, out};
    assert_int_equal(link_handshake(a, 2), -1);
    char first[1024];
    snprintf(first, sizeof first, "%s", err_msg());
    if (!strstr(first, needle))
        fail_msg("'%s' not in '%s'", needle, first);
    spike_link *rest[] = {out, in};
    if (link_handshake(rest, 2) == -1 && !strstr(err_msg(), needle))
        fail_msg("'%s' not in '%s'", needle, err_msg());
    link_destroy(&in);
    link_destroy(&out);
    zmq_ctx_term(ctx);
}

static void test_hello_mismatch(void **state)
{
    (void)state;
    frame_shape sent = {FRAME_SPIKES, 100, 784, 15};
    expect_handshake_error(&sent, &(frame_shape){FRAME_SPIKES, 0, 400, 15}, &A, &B, ep, ep, PORT_IN,
                           "link a.out->b.spikes: shape mismatch: a (t-out) sends spikes 100x784, "
                           "15 steps; b (t-in) expects spikes anyx400, 15 steps");
    expect_handshake_error(&sent, &(frame_shape){FRAME_VALUES, 0, 0, 0}, &A, &B, ep, ep, PORT_IN,
                           "expects values anyxany, any steps");
    link_identity other = {"b", "t-in", "run2"};
    expect_handshake_error(&sent, &(frame_shape){0}, &A, &other, ep, ep, PORT_IN,
                           "run id mismatch: a has run 'run1', b has run 'run2'");
    /* two out-ports wired together (one forced to bind) */
    char bind_ep[160];
    snprintf(bind_ep, sizeof bind_ep, "@%s", ep);
    expect_handshake_error(&sent, &sent, &A, &B, ep, bind_ep, PORT_OUT, "which is also an out-port");
}

static void test_no_peer(void **state)
{
    (void)state;
    void *ctx = zmq_ctx_new();
    link_config cfg = quick();
    cfg.connect_timeout_ms = 300;
    spike_link *in = link_new(ctx, &B, "spikes", PORT_IN, ep, &(frame_shape){0}, &cfg);
    double t0 = clock_now();
    assert_int_equal(link_handshake(&in, 1), -1);
    assert_true(clock_now() - t0 < 1.5);
    assert_non_null(strstr(err_msg(), "link b.spikes (in-port): no HELLO from a peer at ipc://"));
    link_destroy(&in);
    /* a bad endpoint fails at once, naming it */
    assert_null(link_new(ctx, &B, "spikes", PORT_IN, "bogus://x", &(frame_shape){0}, &cfg));
    if (!strstr(err_msg(), "cannot bind bogus://x"))
        fail_msg("%s", err_msg());
    /* an out-port must declare its whole shape */
    assert_null(link_new(ctx, &A, "out", PORT_OUT, ep, &(frame_shape){FRAME_SPIKES, 0, 4, 1}, &cfg));
    assert_non_null(strstr(err_msg(), "must declare a full shape"));
    zmq_ctx_term(ctx);
}

/* The out end's idle hook plays the receiver being alive but busy elsewhere. */
typedef struct {
    spike_link *in;
    int calls;
} busy_receiver;

static int receiver_heartbeats(void *arg)
{
    busy_receiver *b = arg;
    link_heartbeat(b->in);
    if (++b->calls >= 15) /* about 1.5 s, three times the timeout */
        return err_set("enough");
    return 0;
}

static void test_full_queue_live_receiver(void **state)
{
    (void)state;
    void *ctx = zmq_ctx_new();
    link_config cfg = quick();
    cfg.timeout_ms = 500;
    cfg.queue = 2;
    frame_shape shape = {FRAME_VALUES, 1, 50000, 1}; /* 200 kB frames fill the kernel buffers fast */
    spike_link *in = link_new(ctx, &B, "spikes", PORT_IN, ep, &(frame_shape){0}, &cfg);
    spike_link *out = link_new(ctx, &A, "out", PORT_OUT, ep, &shape, &cfg);
    spike_link *both[] = {in, out};
    assert_int_equal(link_handshake(both, 2), 0);
    busy_receiver b = {in, 0};
    link_set_idle(out, receiver_heartbeats, &b);
    spike_frame *f = link_frame_new(out);
    int rc = 0;
    double t0 = clock_now();
    for (uint32_t i = 0; i < 100 && rc == 0; i++) {
        f->batch_index = i;
        rc = link_send(out, f);
    }
    /* the wait outlived the timeout because the receiver kept saying it was alive */
    assert_int_equal(rc, -1);
    assert_non_null(strstr(err_msg(), "enough"));
    assert_true(clock_now() - t0 > 1.0);
    /* without heartbeats the same wait times out */
    link_set_idle(out, NULL, NULL);
    assert_int_equal(link_send(out, f), -1);
    if (!strstr(err_msg(), "has not taken a frame for 0.5 s"))
        fail_msg("%s", err_msg());
    frame_destroy(&f);
    link_destroy(&in);
    link_destroy(&out);
    zmq_ctx_term(ctx);
}

/* In a child: A's out link at ep (timeout_ms; 0: quick()'s), handshaken, with
 * `frames` frames sent on it; exits 3 when the link fails, 4 when a send does. */
static spike_link *child_send(int frames, int timeout_ms)
{
    void *ctx = zmq_ctx_new();
    link_config cfg = quick();
    if (timeout_ms)
        cfg.timeout_ms = timeout_ms;
    spike_link *out = link_new(ctx, &A, "out", PORT_OUT, ep, &(frame_shape){FRAME_VALUES, 2, 3, 1}, &cfg);
    if (!out || link_handshake(&out, 1) < 0)
        _exit(3);
    spike_frame *f = link_frame_new(out);
    for (int i = 0; i < frames; i++) {
        f->batch_index = (uint32_t)i;
        if (link_send(out, f) < 0)
            _exit(4);
    }
    return out;
}

/* Child process: the out end, which sends `frames` frames and then either dies
 * (SIGKILL, sockets closed by the kernel) or stays alive but silent. */
static pid_t spawn_sender(int frames, bool die)
{
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    child_send(frames, 0);
    usleep(100 * 1000); /* let the frames leave */
    if (die)
        raise(SIGKILL);
    pause(); /* alive, silent: no frames, no heartbeats */
    _exit(0);
}

/* Child process: sends `frames` frames and END, then waits for END_ACK; exits
 * 0 when it came, 5 when the wait failed. */
static pid_t spawn_ending_sender(int frames)
{
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    spike_link *out = child_send(frames, 500);
    if (link_send_end(out) < 0 || link_wait_end_ack(out) < 0) {
        fprintf(stderr, "sender: %s\n", err_msg());
        _exit(5);
    }
    _exit(0);
}

/* The in end the spawned senders talk to: B's port "spikes" at ep, handshaken,
 * with a frame for it; timeout_ms is the test's. */
typedef struct {
    void *ctx;
    spike_link *in;
    spike_frame *f;
} in_end;

static in_end in_end_open_with(const link_config *cfg)
{
    in_end e = {zmq_ctx_new(), NULL, NULL};
    e.in = link_new(e.ctx, &B, "spikes", PORT_IN, ep, &(frame_shape){0}, cfg);
    assert_int_equal(link_handshake(&e.in, 1), 0);
    e.f = link_frame_new(e.in);
    return e;
}

static in_end in_end_open(int timeout_ms)
{
    link_config cfg = quick();
    cfg.timeout_ms = timeout_ms;
    return in_end_open_with(&cfg);
}

static void in_end_close(in_end *e)
{
    frame_destroy(&e->f);
    link_destroy(&e->in);
    zmq_ctx_term(e->ctx);
}

/* Frames received until END (asserted to come), sleeping pause_us after each. */
static int receive_until_end(in_end *e, int pause_us)
{
    int frames = 0, r;
    while ((r = link_recv(e->in, e->f)) == 1) {
        frames++;
        if (pause_us)
            usleep((useconds_t)pause_us);
    }
    if (r < 0)
        fprintf(stderr, "receiver: %s\n", err_msg());
    assert_int_equal(r, 0);
    return frames;
}

static void assert_exited_ok(pid_t pid)
{
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

/* A receiver busy with each frame (here 60 ms, 30 of them: 1.8 s behind END,
 * against a 0.5 s timeout) keeps the sender's wait for END_ACK alive. */
static void test_end_ack_behind_a_backlog(void **state)
{
    (void)state;
    pid_t pid = spawn_ending_sender(30);
    in_end e = in_end_open(500);
    assert_int_equal(receive_until_end(&e, 60 * 1000), 30);
    assert_exited_ok(pid);
    in_end_close(&e);
}

/* An END that waits for room on a full queue, while the sender's idle hook
 * heartbeats (as a stage's does), arrives as END: the heartbeat once took its
 * header buffer, and the receiver read a heartbeat in its place and timed out
 * (train-ae-mnist.pipe, 1,000 images at T = 60). */
static int heartbeat_hook(void *arg) { return link_heartbeat(arg); }

static void test_end_behind_a_full_queue(void **state)
{
    (void)state;
    link_config cfg = quick();
    cfg.queue = 2;
    cfg.heartbeat_ms = 20;
    pid_t pid = fork();
    if (pid == 0) {
        void *ctx = zmq_ctx_new();
        spike_link *out = link_new(ctx, &A, "out", PORT_OUT, ep, &(frame_shape){FRAME_VALUES, 10, 100, 1}, &cfg);
        if (!out || link_handshake(&out, 1) < 0)
            _exit(3);
        link_set_idle(out, heartbeat_hook, out);
        spike_frame *f = link_frame_new(out);
        for (int i = 0; i < 12; i++) {
            f->batch_index = (uint32_t)i;
            if (link_send(out, f) < 0)
                _exit(4);
        }
        if (link_send_end(out) < 0 || link_wait_end_ack(out) < 0) {
            fprintf(stderr, "sender: %s\n", err_msg());
            _exit(5);
        }
        _exit(0);
    }
    in_end e = in_end_open_with(&cfg);
    /* slow: the queue stays full, END waits there, heartbeating */
    assert_int_equal(receive_until_end(&e, 150 * 1000), 12);
    in_end_close(&e);
    assert_exited_ok(pid);
}

static void test_end_behind_a_full_queue_zmq(void **state)
{
    lanes = false;
    test_end_behind_a_full_queue(state);
    lanes = true;
}

/* Heartbeats the sender never waits to read must not bury the END_ACK: a
 * receiver that heartbeats at every frame (1 ms interval, sender paced at 2 ms,
 * queues of 4) answers END and exits at once, while the sender is still busy
 * (saving a model, say) and reads the answer only after the receiver is gone. */
static link_config chatty(void)
{
    link_config c = quick();
    c.heartbeat_ms = 1;
    c.queue = 4;
    c.linger_ms = 20;
    return c;
}

static void test_end_ack_after_heartbeats(void **state)
{
    (void)state;
    frame_shape shape = {FRAME_VALUES, 2, 3, 1};
    link_config cfg = chatty();
    pid_t pid = fork();
    if (pid == 0) {
        void *ctx = zmq_ctx_new();
        spike_link *out = link_new(ctx, &A, "out", PORT_OUT, ep, &shape, &cfg);
        if (!out || link_handshake(&out, 1) < 0)
            _exit(3);
        spike_frame *f = link_frame_new(out);
        for (int i = 0; i < 200; i++) {
            f->batch_index = (uint32_t)i;
            if (link_send(out, f) < 0)
                _exit(4);
            usleep(2000);
        }
        if (link_send_end(out) < 0)
            _exit(4);
        usleep(400 * 1000);
        if (link_wait_end_ack(out) < 0) {
            fprintf(stderr, "sender: %s\n", err_msg());
            _exit(5);
        }
        _exit(0);
    }
    in_end e = in_end_open_with(&cfg);
    assert_int_equal(receive_until_end(&e, 0), 200);
    in_end_close(&e);
    assert_exited_ok(pid);
}

static void test_end_ack_after_heartbeats_zmq(void **state)
{
    lanes = false;
    test_end_ack_after_heartbeats(state);
    lanes = true;
}

static void test_peer_death(void **state)
{
    (void)state;
    pid_t pid = spawn_sender(2, true);
    in_end e = in_end_open(8000); /* death must be noticed long before the silence timeout */
    spike_link *in = e.in;
    spike_frame *f = e.f;
    assert_int_equal(link_recv(in, f), 1);
    assert_int_equal(link_recv(in, f), 1);
    double t0 = clock_now();
    assert_int_equal(link_recv(in, f), -1);
    double dt = clock_now() - t0;
    assert_true(dt < 2.0);
    assert_non_null(strstr(err_msg(), "link a.out->b.spikes: a (t-out) disconnected"));
    int status;
    waitpid(pid, &status, 0);
    in_end_close(&e);
}

static void test_silent_peer(void **state)
{
    (void)state;
    pid_t pid = spawn_sender(1, false);
    in_end e = in_end_open(500);
    spike_link *in = e.in;
    spike_frame *f = e.f;
    assert_int_equal(link_recv(in, f), 1);
    double t0 = clock_now();
    assert_int_equal(link_recv(in, f), -1);
    double dt = clock_now() - t0;
    assert_true(dt >= 0.45 && dt < 1.5);
    assert_non_null(strstr(err_msg(), "nothing from a (t-out) for 0.5 s"));
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    in_end_close(&e);
}

/* A hand-driven out end: raw DEALER, frames encoded by the test. */
typedef struct {
    void *sock;
    msgpack_sbuffer hdr;
    spike_frame *f;
} raw_peer;

static void raw_send(raw_peer *p, const char *link, const void *payload, size_t len, bool third)
{
    assert_int_equal(frame_encode(p->f, "run1", link, &p->hdr), 0);
    zmq_send(p->sock, p->hdr.data, p->hdr.size, ZMQ_SNDMORE);
    zmq_send(p->sock, payload, len, third ? ZMQ_SNDMORE : 0);
    if (third)
        zmq_send(p->sock, "x", 1, 0);
}

static void raw_data(raw_peer *p, uint32_t b, uint32_t t)
{
    p->f->kind = FRAME_SPIKES;
    p->f->batch = 1;
    p->f->width = 8;
    p->f->steps = 3;
    p->f->batch_index = b;
    p->f->step = t;
}

static void test_peer_death_zmq(void **state)
{
    lanes = false;
    test_peer_death(state);
    lanes = true;
}

static void test_full_queue_zmq(void **state)
{
    lanes = false;
    test_full_queue_live_receiver(state);
    lanes = true;
}

static void test_receiver_checks(void **state)
{
    (void)state;
    void *ctx = zmq_ctx_new();
    link_config cfg = quick();
    cfg.max_frame = 4096;
    spike_link *in = link_new(ctx, &B, "spikes", PORT_IN, ep, &(frame_shape){0}, &cfg);
    raw_peer p = {zmq_socket(ctx, ZMQ_DEALER), {0}, frame_new(&(frame_shape){FRAME_SPIKES, 1, 8, 3})};
    msgpack_sbuffer_init(&p.hdr);
    zmq_setsockopt(p.sock, ZMQ_LINGER, &(int){0}, sizeof(int));
    assert_int_equal(zmq_connect(p.sock, ep), 0);
    frame_set_control(p.f, FRAME_HELLO);
    strcpy(p.f->stage, "raw");
    strcpy(p.f->hello.type, "hand");
    strcpy(p.f->hello.port, "out");
    p.f->hello.out = true;
    p.f->hello.shape = (frame_shape){FRAME_SPIKES, 1, 8, 3};
    raw_send(&p, "", NULL, 0, false);
    assert_int_equal(link_handshake(&in, 1), 0);
    assert_string_equal(link_name(in), "raw.out->b.spikes");
    spike_frame *g = link_frame_new(in);
    uint8_t bits = 0x5a;

    raw_data(&p, 0, 0);
    raw_send(&p, "raw.out->b.spikes", &bits, 1, false);
    assert_int_equal(link_recv(in, g), 1);
    assert_int_equal(g->spikes[0], 0x5a);
    /* a gap: step 1 is missing */
    raw_data(&p, 0, 2);
    raw_send(&p, "raw.out->b.spikes", &bits, 1, false);
    assert_int_equal(link_recv(in, g), -1);
    assert_string_equal(err_msg(), "link raw.out->b.spikes: out of order: expected batch 0 step 1 "
                                   "of 3, received batch 0 step 2 (frames missing)");
    /* a frame claiming another link */
    raw_data(&p, 0, 1);
    raw_send(&p, "x.y->z.w", &bits, 1, false);
    assert_int_equal(link_recv(in, g), -1);
    assert_non_null(strstr(err_msg(), "frame for link 'x.y->z.w' (miswired?)"));
    /* a message of three parts */
    raw_send(&p, "raw.out->b.spikes", &bits, 1, true);
    assert_int_equal(link_recv(in, g), -1);
    assert_non_null(strstr(err_msg(), "message of 3 parts, expected 2"));
    /* a payload too short for its header */
    raw_send(&p, "raw.out->b.spikes", &bits, 0, false);
    assert_int_equal(link_recv(in, g), -1);
    assert_non_null(strstr(err_msg(), "payload of 0 bytes"));
    /* larger than --max-frame: ZeroMQ drops the connection, and the link says so */
    static char big[8192];
    raw_send(&p, "raw.out->b.spikes", big, sizeof big, false);
    assert_int_equal(link_recv(in, g), -1);
    assert_non_null(strstr(err_msg(), "disconnected"));
    assert_non_null(strstr(err_msg(), "--max-frame"));

    frame_destroy(&g);
    frame_destroy(&p.f);
    msgpack_sbuffer_destroy(&p.hdr);
    zmq_close(p.sock);
    link_destroy(&in);
    zmq_ctx_term(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_round_trip_zmq, setup, teardown),
        cmocka_unit_test_setup_teardown(test_peer_death_zmq, setup, teardown),
        cmocka_unit_test_setup_teardown(test_full_queue_zmq, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hello_mismatch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_peer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_peer_death, setup, teardown),
        cmocka_unit_test_setup_teardown(test_end_ack_behind_a_backlog, setup, teardown),
        cmocka_unit_test_setup_teardown(test_end_ack_after_heartbeats, setup, teardown),
        cmocka_unit_test_setup_teardown(test_end_behind_a_full_queue, setup, teardown),
        cmocka_unit_test_setup_teardown(test_end_behind_a_full_queue_zmq, setup, teardown),
        cmocka_unit_test_setup_teardown(test_end_ack_after_heartbeats_zmq, setup, teardown),
        cmocka_unit_test_setup_teardown(test_silent_peer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_full_queue_live_receiver, setup, teardown),
        cmocka_unit_test_setup_teardown(test_receiver_checks, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
