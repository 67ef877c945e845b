/* stage: command line, links, control channel and signals of one stage program
 * (see include/stage.h). The signal flags and the log name are process-wide by
 * nature; everything else lives in the stage object. */
#include "transport/stage.h"

#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "core/interrupt.h"
#include "core/preflight.h"

#include <errno.h>
#include <stdarg.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#define MAX_LINKS 64

static char log_name[FRAME_NAME_MAX];

typedef struct {
    char *port;
    const char *endpoint;
    port_dir dir;
    bool used;
} endpoint_arg;

struct stage {
    options *opts;
    const stage_def *def;
    void *ctx, *control;
    link_identity id;
    link_config cfg;
    endpoint_arg eps[MAX_LINKS];
    size_t n_eps;
    spike_link *links[MAX_LINKS];
    size_t n_links;
    bool has_in, go, stop, ready, usage;
    bool cut; /* a source ended its stream early (STOP, a signal) */
    char note[FRAME_TEXT_MAX]; /* sent with the HELLO of every link opened from now on */
    char **argv;
    spike_frame *ctl;
    msgpack_sbuffer hdr;
};

static int valid_name(const char *s)
{
    if (!*s || strlen(s) >= FRAME_NAME_MAX)
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '-' || *s == '_'))
            return 0;
    return 1;
}

static const port_spec *find_port(const stage_def *def, const char *name)
{
    for (const port_spec *p = def->ports; p && p->name; p++)
        if (!strcmp(p->name, name))
            return p;
    return NULL;
}

static void list_ports(const stage_def *def, port_dir dir, char *buf, size_t cap)
{
    size_t n = 0;
    buf[0] = '\0';
    for (const port_spec *p = def->ports; p && p->name; p++)
        if (p->dir == dir && n < cap)
            n += (size_t)snprintf(buf + n, cap - n, "%s%s", n ? ", " : "", p->name);
    if (!n)
        snprintf(buf, cap, "none");
}

static int parse_endpoints(stage *self, port_dir dir)
{
    const char *opt = dir == PORT_IN ? "in" : "out";
    for (size_t i = 0; i < options_count(self->opts, opt); i++) {
        const char *arg = options_item(self->opts, opt, i), *eq = strchr(arg, '=');
        if (!eq || eq == arg || !eq[1])
            return err_set("%s: --%s %s: expected PORT=ENDPOINT", self->def->type, opt, arg);
        if (self->n_eps == MAX_LINKS)
            return err_set("%s: more than %d links", self->def->type, MAX_LINKS);
        endpoint_arg *e = &self->eps[self->n_eps];
        if (!(e->port = strndup(arg, (size_t)(eq - arg))))
            return err_set("out of memory");
        self->n_eps++;
        e->endpoint = eq + 1;
        e->dir = dir;
        const port_spec *p = find_port(self->def, e->port);
        if (!p || p->dir != dir) {
            char ports[256];
            list_ports(self->def, dir, ports, sizeof ports);
            return err_set("%s: --%s %s: no %s-port '%s' (%s-ports: %s)", self->def->type, opt, arg,
                           opt, e->port, opt, ports);
        }
        for (size_t j = 0; j + 1 < self->n_eps; j++)
            if (!strcmp(self->eps[j].port, e->port))
                return err_set("%s: port '%s' given twice", self->def->type, e->port);
    }
    return 0;
}

/* The links' settings from the common options (their ranges are the options' own:
 * common_specs in core/options.c). */
static void link_config_from_options(link_config *cfg, const options *o)
{
    link_config_default(cfg);
    cfg->timeout_ms = (int)(options_float(o, "timeout") * 1000);
    cfg->connect_timeout_ms = (int)(options_float(o, "connect-timeout") * 1000);
    cfg->heartbeat_ms = (int)(options_float(o, "heartbeat") * 1000);
    cfg->queue = (int)options_int(o, "queue");
    cfg->max_frame = options_int(o, "max-frame");
    cfg->spin_us = (int)options_int(o, "spin-us");
    cfg->lanes = !strcmp(options_str(o, "transport"), "auto");
    cfg->keys = options_str(o, "keys");
    cfg->server_key = options_str(o, "server-key");
    cfg->insecure = options_bool(o, "insecure");
}

int stage_new(stage **self_p, const stage_def *def, int argc, char **argv, FILE *out)
{
    *self_p = NULL;
    stage *self = calloc(1, sizeof *self);
    if (!self)
        return err_set("%s: out of memory", def->type);
    self->def = def;
    self->argv = argv;
    msgpack_sbuffer_init(&self->hdr);
    snprintf(log_name, sizeof log_name, "%s", def->type);
    log_set_name(log_name);
    if (!(self->opts = options_new(def->type, def->summary, def->options, def->ports)))
        goto err;
    int rc = options_parse(self->opts, argc, argv, out);
    if (rc != 0) {
        stage_destroy(&self);
        return rc;
    }
    const options *o = self->opts;
    /* every value parsed and range-checked above; now the paths, before any
     * work: a bad one is a bad command line (exit 2), named */
    if (preflight_check(o) < 0) {
        err_wrap("%s", def->type);
        goto err;
    }
    if (options_bool(o, "preflight")) {
        if (def->preflight && def->preflight(o) < 0) {
            err_wrap("%s", def->type);
            goto err;
        }
        stage_destroy(&self);
        return 1;
    }
    if (preflight_prepare(o) < 0) {
        err_wrap("%s", def->type);
        goto err;
    }
    const char *name = options_str(o, "name");
    if (!valid_name(name)) {
        err_set("%s: --name '%s': use letters, digits, - and _ (at most %d)", def->type, name,
                FRAME_NAME_MAX - 1);
        goto err;
    }
    snprintf(log_name, sizeof log_name, "%s", name);
    static const char *levels[] = {"error", "warn", "info", "debug"}; /* the option's choices */
    for (int i = 0; i < 4; i++)
        if (!strcmp(options_str(o, "log-level"), levels[i]))
            log_set_level((enum log_level)i);
    if (strlen(options_str(o, "run-id")) >= FRAME_NAME_MAX) {
        err_set("%s: --run-id is too long", def->type);
        goto err;
    }
    self->id = (link_identity){name, def->type, options_str(o, "run-id")};
    link_config_from_options(&self->cfg, o);
    if (parse_endpoints(self, PORT_IN) < 0 || parse_endpoints(self, PORT_OUT) < 0)
        goto err;
    for (const port_spec *p = def->ports; p && p->name; p++)
        if (!(p->flags & PORT_OPTIONAL) && !stage_has_port(self, p->name)) {
            err_set("%s: port '%s' is not connected (give --%s %s=ENDPOINT)", def->type, p->name,
                    p->dir == PORT_IN ? "in" : "out", p->name);
            goto err;
        }

    interrupt_catch();
    signal(SIGPIPE, SIG_IGN);

    if (!(self->ctx = zmq_ctx_new()) ||
        !(self->ctl = frame_new(&(frame_shape){FRAME_CONTROL, 0, 0, 0}))) {
        err_set("%s: cannot create the ZeroMQ context", def->type);
        goto err;
    }
    const char *control = options_str(o, "control");
    if (*control) {
        int linger = 1000;
        if (!(self->control = zmq_socket(self->ctx, ZMQ_DEALER)) ||
            zmq_setsockopt(self->control, ZMQ_ROUTING_ID, name, strlen(name)) ||
            zmq_setsockopt(self->control, ZMQ_LINGER, &linger, sizeof linger) ||
            zmq_connect(self->control, control)) {
            err_set("%s: control channel %s: %s", def->type, control, zmq_strerror(errno));
            goto err;
        }
    }
    *self_p = self;
    return 0;
err:
    stage_destroy(&self);
    return -1;
}

void stage_destroy(stage **self_p)
{
    stage *self = self_p ? *self_p : NULL;
    if (!self)
        return;
    for (size_t i = 0; i < self->n_links; i++)
        link_destroy(&self->links[i]);
    if (self->control)
        zmq_close(self->control);
    if (self->ctx)
        zmq_ctx_term(self->ctx); /* returns once every socket's (bounded) linger is over */
    for (size_t i = 0; i < self->n_eps; i++)
        free(self->eps[i].port);
    frame_destroy(&self->ctl);
    msgpack_sbuffer_destroy(&self->hdr);
    options_destroy(&self->opts);
    free(self);
    *self_p = NULL;
}

const options *stage_options(const stage *self) { return self->opts; }
const char *stage_name(const stage *self) { return self->id.stage; }
uint64_t stage_seed(const stage *self) { return (uint64_t)options_int(self->opts, "seed"); }

bool stage_has_port(const stage *self, const char *port)
{
    for (size_t i = 0; i < self->n_eps; i++)
        if (!strcmp(self->eps[i].port, port))
            return true;
    return false;
}

/* ---- control channel ----------------------------------------------------------- */

static int control_send(stage *self, frame_control code)
{
    if (!self->control)
        return 0;
    frame_set_control(self->ctl, code);
    snprintf(self->ctl->stage, sizeof self->ctl->stage, "%s", self->id.stage);
    self->ctl->text[0] = '\0';
    if (frame_encode(self->ctl, self->id.run, "control", &self->hdr) < 0)
        return -1;
    static const char empty = 0;
    if (zmq_send(self->control, self->hdr.data, self->hdr.size, ZMQ_SNDMORE) < 0 ||
        zmq_send(self->control, &empty, 0, 0) < 0)
        return err_set("control channel: send %s: %s", frame_control_name(code), zmq_strerror(errno));
    return 0;
}

/* Reads whatever the runner sent, without waiting. */
static int control_poll(stage *self)
{
    while (self->control) {
        zmq_msg_t hdr, payload;
        zmq_msg_init(&hdr);
        if (zmq_msg_recv(&hdr, self->control, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&hdr);
            return 0;
        }
        zmq_msg_init(&payload);
        int parts = 1;
        bool more = zmq_msg_more(&hdr);
        while (more) {
            zmq_msg_close(&payload);
            zmq_msg_init(&payload);
            zmq_msg_recv(&payload, self->control, 0);
            more = zmq_msg_more(&payload);
            parts++;
        }
        int rc = parts == 2 ? frame_decode(self->ctl, zmq_msg_data(&hdr), zmq_msg_size(&hdr),
                                           zmq_msg_data(&payload), zmq_msg_size(&payload))
                            : err_set("message of %d parts", parts);
        zmq_msg_close(&hdr);
        zmq_msg_close(&payload);
        if (rc < 0)
            return err_wrap("control channel");
        if (self->ctl->control == FRAME_GO)
            self->go = true;
        else if (self->ctl->control == FRAME_STOP)
            self->stop = true;
    }
    return 0;
}

static int stage_idle(void *arg)
{
    stage *self = arg;
    if (interrupt_caught() == SIGTERM)
        return err_set("terminated by a signal");
    if (interrupt_caught() == SIGINT) {
        if (self->has_in)
            return err_set("interrupted");
        self->stop = true; /* a source ends its stream cleanly */
    }
    if (control_poll(self) < 0)
        return -1;
    for (size_t i = 0; i < self->n_links; i++)
        if (link_heartbeat(self->links[i]) < 0)
            return -1;
    return 0;
}

/* ---- links --------------------------------------------------------------------- */

static spike_link *open_link(stage *self, const char *port, port_dir dir, const frame_shape *shape)
{
    const char *opt = dir == PORT_IN ? "in" : "out";
    endpoint_arg *e = NULL;
    for (size_t i = 0; i < self->n_eps; i++)
        if (!strcmp(self->eps[i].port, port) && self->eps[i].dir == dir)
            e = &self->eps[i];
    if (!e) {
        err_set("%s: %s-port '%s' is not connected (give --%s %s=ENDPOINT)", self->id.stage, opt,
                port, opt, port);
        return NULL;
    }
    if (e->used) {
        err_set("%s: %s-port '%s' opened twice", self->id.stage, opt, port);
        return NULL;
    }
    spike_link *l = link_new(self->ctx, &self->id, port, dir, e->endpoint, shape, &self->cfg);
    if (!l)
        return NULL;
    link_set_idle(l, stage_idle, self);
    link_set_note(l, self->note);
    e->used = true;
    self->links[self->n_links++] = l;
    if (dir == PORT_IN)
        self->has_in = true;
    return l;
}

spike_link *stage_in(stage *self, const char *port, const frame_shape *expect)
{
    return open_link(self, port, PORT_IN, expect);
}

spike_link *stage_out(stage *self, const char *port, const frame_shape *shape)
{
    return open_link(self, port, PORT_OUT, shape);
}

int stage_handshake(stage *self)
{
    spike_link *todo[MAX_LINKS];
    size_t n = 0;
    for (size_t i = 0; i < self->n_links; i++)
        if (!link_is_ready(self->links[i]))
            todo[n++] = self->links[i];
    return n ? link_handshake(todo, n) : 0;
}

static int ready_once(stage *self);

int stage_ready(stage *self)
{
    if (self->ready) /* stage_main's, when run sent READY already */
        return 0;
    if (ready_once(self) < 0)
        return -1;
    self->ready = true;
    return 0;
}

static int ready_once(stage *self)
{
    if (stage_handshake(self) < 0)
        return -1;
    size_t lanes = 0;
    for (size_t i = 0; i < self->n_links; i++)
        lanes += link_uses_lane(self->links[i]);
    if (self->n_links)
        log_info("links up: %zu through shared memory, %zu over ZeroMQ", lanes,
                 self->n_links - lanes);
    if (control_send(self, FRAME_READY) < 0)
        return -1;
    if (!self->control)
        return 0;
    double deadline = clock_now() + options_float(self->opts, "connect-timeout");
    bool forever = options_float(self->opts, "connect-timeout") <= 0;
    double last = 0;
    while (!self->go && !self->stop) {
        double now = clock_now();
        if (!forever && now >= deadline)
            return err_set("no GO from the runner after %g s", options_float(self->opts, "connect-timeout"));
        if (now - last >= 0.1) {
            last = now;
            if (stage_idle(self) < 0)
                return -1;
        }
        zmq_pollitem_t item = {self->control, 0, ZMQ_POLLIN, 0};
        zmq_poll(&item, 1, 100);
        if (control_poll(self) < 0)
            return -1;
    }
    return 0;
}

bool stage_stopping(stage *self)
{
    if (interrupt_caught())
        self->stop = true;
    control_poll(self);
    /* sources ask only while they have more to send: a yes cuts the stream */
    if (self->stop)
        self->cut = true;
    return self->stop;
}

void stage_set_note(stage *self, const char *note)
{
    snprintf(self->note, sizeof self->note, "%s", note ? note : "");
}

bool stage_note_value(const char *note, const char *key, char *buf, size_t cap)
{
    size_t k = strlen(key);
    for (const char *p = note; p && *p;) {
        p += strspn(p, " ");
        size_t n = strcspn(p, " ");
        if (n > k && p[k] == '=' && !strncmp(p, key, k)) {
            snprintf(buf, cap, "%.*s", (int)(n - k - 1), p + k + 1);
            return true;
        }
        p += n;
    }
    return false;
}

bool stage_interrupted(const stage *self)
{
    char v[8];
    if (self->cut)
        return true;
    for (size_t i = 0; i < self->n_links; i++)
        if (link_dir(self->links[i]) == PORT_IN && stage_note_value(link_peer_end_note(self->links[i]), "stopped", v, sizeof v))
            return true;
    return false;
}

int stage_end(stage *self, spike_link *out, const char *note)
{
    char text[FRAME_TEXT_MAX];
    /* a stream cut short says so downstream, so that nothing stored from it
     * passes for a finished result */
    snprintf(text, sizeof text, "%s%s", stage_interrupted(self) ? "stopped=1 " : "",
             note ? note : link_end_note(out));
    link_set_end_note(out, text);
    return link_send_end(out);
}

int stage_keepalive(stage *self) { return stage_idle(self); }

int stage_finish(stage *self)
{
    if (interrupt_caught() == SIGTERM) /* an abort, not an end: no END, so downstream cannot mistake it for one */
        return err_set("terminated by a signal");
    for (size_t i = 0; i < self->n_links; i++)
        if (link_dir(self->links[i]) == PORT_OUT && stage_end(self, self->links[i], NULL) < 0)
            return -1;
    for (size_t i = 0; i < self->n_links; i++)
        if (link_dir(self->links[i]) == PORT_OUT && link_wait_end_ack(self->links[i]) < 0)
            return -1;
    return control_send(self, FRAME_DONE);
}

/* ---- the skeleton ---------------------------------------------------------------- */

char **stage_argv(const stage *self) { return self->argv; }

int stage_usage_error(stage *self, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    self->usage = true;
    return err_set("%s", msg);
}

/* err_msg() as a stage logs it: the log line names the stage already, so a
 * message that starts with the program's name loses it (one prefix a line). */
static void log_failure(const stage_def *def)
{
    const char *m = err_msg();
    size_t n = strlen(def->type);
    log_error("%s", !strncmp(m, def->type, n) && !strncmp(m + n, ": ", 2) ? m + n + 2 : m);
}

int stage_main(const stage_def *def, const stage_callbacks *cb, void *arg, int argc, char **argv)
{
    stage *st = NULL;
    int rc = stage_new(&st, def, argc, argv, stdout), status = 0;
    if (rc < 0) {
        log_failure(def);
        status = 2;
    } else if (rc == 0 &&
               ((cb->open && cb->open(st, arg) < 0) || (!cb->ready_in_run && stage_ready(st) < 0) ||
                cb->run(st, arg) < 0 || (cb->close && cb->close(st, arg) < 0) ||
                stage_finish(st) < 0)) {
        log_failure(def);
        status = st->usage ? 2 : 1;
    }
    if (cb->cleanup)
        cb->cleanup(arg);
    stage_destroy(&st);
    return status;
}
