/* runner: starts and supervises the stage processes of a pipeline (see
 * include/runner.h). The signal flags and the wake-up pipe are process-wide by
 * nature (signal handlers); everything else is local to runner_run.
 * Invariant: runner_run returns only after every child has been reaped.
 * With placement (transport/placement.h) a runner owns one host group: the
 * stages of other hosts are in its table marked remote, as if they had
 * already finished cleanly, so every loop below skips them without a test. */
#include "transport/runner.h"

#include "core/atomic_file.h"
#include "core/clock.h"
#include "core/dir.h"
#include "core/err.h"
#include "core/progress.h"
#include "transport/frame.h"
#include "transport/placement.h"
#include "transport/shm_ring.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

static volatile sig_atomic_t interrupts;
static int wake_fd = -1; /* write end of the self-pipe that wakes the poll */

static void on_signal(int sig)
{
    int saved = errno;
    if (sig != SIGCHLD)
        interrupts++;
    if (wake_fd >= 0 && write(wake_fd, "x", 1) < 0) {
        /* the pipe is full: the poll wakes anyway */
    }
    errno = saved;
}

void runner_config_default(runner_config *cfg)
{
    cfg->bin_dir = "bin";
    cfg->out_dir = "out";
    cfg->ready_timeout = 120;
    cfg->stop_timeout = 5;
    cfg->drain_timeout = 30;
    cfg->kill_timeout = 2;
    cfg->verbosity = 1;
    cfg->console = stderr;
    cfg->transport = NULL;
    cfg->host = NULL;
    cfg->insecure = false;
    cfg->run_id = NULL;
    cfg->hang_timeout = 10;
    cfg->link_timeout = 0;
}

typedef struct {
    const pipeline_stage *ps;
    char **argv;
    size_t argc;
    pid_t pid;
    int err_fd;
    FILE *log;
    char partial[4096];
    size_t n_partial;
    char last_error[1024], last_line[1024];
    bool ready, done, exited;
    bool remote;        /* on another host: not ours to start (see the top) */
    bool secured;       /* its tcp links' --keys / --insecure given */
    int status;
    double started, ended;
    double progress_logged; /* when its last progress line went to its log */
    double stopped_at;  /* when it was first seen stopped (SIGSTOP), 0: running */
} child;

/* The runner's console: at a terminal, stage progress lines are redrawn in
 * place (one line, the latest), and any other line first clears it. */
typedef struct {
    bool tty, shown;
} console_state;

typedef struct {
    const pipeline *p;
    const runner_config *cfg;
    child *c;
    size_t n;
    char run_dir[64], run_id[FRAME_NAME_MAX], control_ep[128];
    const char *host; /* the host group this runner owns */
    size_t n_local;   /* its stages */
    void *ctx, *router;
    pid_t pgid;
    int wake[2], lock_fd;
    double start;
    struct timespec began; /* wall clock: what the run wrote is newer */
    bool quiet;            /* a stage failed: the others' last words go to their logs only */
    size_t hushed;         /* error lines of the stages stopped after it */
    spike_frame *ctl;
    msgpack_sbuffer hdr;
    console_state *con;
} run;

static void console_clear(const run *r)
{
    if (r->con && r->con->shown) {
        fputs("\r\033[K", r->cfg->console);
        r->con->shown = false;
    }
}

static void console_progress(const run *r, const char *line)
{
    struct winsize ws;
    int width = ioctl(fileno(r->cfg->console), TIOCGWINSZ, &ws) == 0 && ws.ws_col > 1 ? ws.ws_col : 100;
    fprintf(r->cfg->console, "\r\033[K%.*s", width - 1, line); /* a wrapped line would not redraw */
    fflush(r->cfg->console);
    r->con->shown = true;
}

static void say(const run *r, int level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void say(const run *r, int level, const char *fmt, ...)
{
    if (r->cfg->verbosity < level || !r->cfg->console)
        return;
    char line[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    console_clear(r);
    fprintf(r->cfg->console, "spikesynth: %s\n", line);
    fflush(r->cfg->console);
}

/* ---- setup ---------------------------------------------------------------------- */

static int push_arg(child *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int push_arg(child *c, const char *fmt, ...)
{
    char **a = realloc(c->argv, (c->argc + 2) * sizeof *a);
    if (!a)
        return err_set("out of memory");
    c->argv = a;
    va_list ap;
    va_start(ap, fmt);
    int n = vasprintf(&a[c->argc], fmt, ap);
    va_end(ap);
    if (n < 0)
        return err_set("out of memory");
    a[++c->argc] = NULL;
    return 0;
}

/* A link across hosts: the in end binds every address at the link's port, the
 * out end connects to its host; both get the keys (or --insecure) once. */
static int tcp_endpoints(run *r, size_t j, char *ep, char *bind_ep, size_t cap)
{
    const pipeline *p = r->p;
    const pipeline_link *l = &p->links[j];
    char addr[200];
    int port;
    if (placement_port(p, j, &port) < 0 ||
        placement_address(p, placement_host(&p->stages[l->to]), addr, sizeof addr) < 0)
        return -1;
    snprintf(ep, cap, "tcp://%s:%d", addr, port);
    snprintf(bind_ep, cap, "tcp://*:%d", port);
    const char *keys = pipeline_var_get(p, "keys");
    child *ends[2] = {&r->c[l->from], &r->c[l->to]};
    for (int k = 0; k < 2; k++) {
        if (ends[k]->secured)
            continue;
        ends[k]->secured = true;
        if (keys && *keys ? push_arg(ends[k], "--keys=%s", keys) < 0
                          : r->cfg->insecure && push_arg(ends[k], "--insecure") < 0)
            return -1;
    }
    return 0;
}

static int build_argv(run *r)
{
    const pipeline *p = r->p;
    for (size_t i = 0; i < r->n; i++) {
        child *c = &r->c[i];
        if (push_arg(c, "%s/%s", r->cfg->bin_dir, c->ps->program) < 0 ||
            push_arg(c, "--name=%s", c->ps->name) < 0 || push_arg(c, "--run-id=%s", r->run_id) < 0 ||
            push_arg(c, "--control=%s", r->control_ep) < 0 ||
            (r->cfg->transport && push_arg(c, "--transport=%s", r->cfg->transport) < 0) ||
            (r->cfg->link_timeout > 0 && push_arg(c, "--timeout=%g", r->cfg->link_timeout) < 0))
            return -1;
    }
    for (size_t j = 0; j < p->n_links; j++) {
        const pipeline_link *l = &p->links[j];
        char ep[300], bind_ep[300];
        if (placement_crosses(p, l)) {
            if (tcp_endpoints(r, j, ep, bind_ep, sizeof ep) < 0)
                return -1;
        } else {
            /* readable socket names where they fit in sun_path, numbered otherwise */
            snprintf(ep, sizeof ep, "ipc://%s/%s.%s", r->run_dir, p->stages[l->to].name, l->to_port);
            if (strlen(ep) - 6 > 100)
                snprintf(ep, sizeof ep, "ipc://%s/L%zu", r->run_dir, j);
            snprintf(bind_ep, sizeof bind_ep, "%s", ep);
        }
        if (push_arg(&r->c[l->to], "--in=%s=@%s", l->to_port, bind_ep) < 0 ||
            push_arg(&r->c[l->from], "--out=%s=>%s", l->from_port, ep) < 0)
            return -1;
    }
    for (size_t i = 0; i < r->n; i++)
        for (size_t k = 0; k < r->c[i].ps->n_args; k++)
            if (push_arg(&r->c[i], "%s", r->c[i].ps->args[k]) < 0)
                return -1;
    return 0;
}

/* A stage that reads standard input (a source given --input=-, e.g. a live
 * audio stream piped into the runner) gets the runner's; the others /dev/null. */
static bool reads_stdin(const child *c)
{
    for (size_t i = 1; i < c->argc; i++)
        if (strcmp(c->argv[i], "--input=-") == 0 ||
            (strcmp(c->argv[i], "--input") == 0 && i + 1 < c->argc && strcmp(c->argv[i + 1], "-") == 0))
            return true;
    return false;
}

static int spawn(run *r, child *c)
{
    const bool keep_stdin = reads_stdin(c);
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) < 0)
        return err_set("pipe: %s", strerror(errno));
    char log_path[4096];
    snprintf(log_path, sizeof log_path, "%s/logs/%s.log", r->cfg->out_dir, c->ps->name);
    /* logs are streamed, not written atomically: a crash must leave its last lines behind */
    c->log = fopen(log_path, "we"); /* close-on-exec: later stages must not hold it */
    if (!c->log) {
        close(fds[0]);
        close(fds[1]);
        return err_set("%s: cannot create: %s", log_path, strerror(errno));
    }
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        return err_set("fork: %s", strerror(errno));
    }
    if (pid == 0) {
        /* only async-signal-safe calls until exec */
        setpgid(0, r->pgid);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        signal(SIGHUP, SIG_DFL);
        signal(SIGCHLD, SIG_DFL);
        signal(SIGPIPE, SIG_DFL);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        int devnull = keep_stdin ? -1 : open("/dev/null", O_RDONLY);
        if (devnull >= 0)
            dup2(devnull, STDIN_FILENO);
        dup2(fds[1], STDERR_FILENO);
        execv(c->argv[0], c->argv);
        dprintf(STDERR_FILENO, "%s: error: cannot run %s: %s\n", c->ps->name, c->argv[0],
                strerror(errno));
        _exit(127);
    }
    setpgid(pid, r->pgid ? r->pgid : pid); /* both sides, so neither order races */
    if (!r->pgid)
        r->pgid = pid;
    close(fds[1]);
    fcntl(fds[0], F_SETFL, O_NONBLOCK);
    c->pid = pid;
    c->err_fd = fds[0];
    c->started = clock_now();
    return 0;
}

/* ---- stage output -------------------------------------------------------------- */

/* A stage's progress line (PROGRESS_MARK): redrawn at a terminal, one each
 * 15 s in its log. */
static void take_progress(run *r, child *c, const char *line, const char *mark)
{
    char clean[1024];
    snprintf(clean, sizeof clean, "%.*s%s", (int)(mark - line), line, mark + strlen(PROGRESS_MARK));
    double now = clock_now();
    if (c->log && now - c->progress_logged >= 15) {
        fprintf(c->log, "%s\n", clean);
        fflush(c->log);
        c->progress_logged = now;
    }
    snprintf(c->last_line, sizeof c->last_line, "%s", clean);
    if (r->cfg->console && r->cfg->verbosity >= 1 && r->con && r->con->tty)
        console_progress(r, clean);
}

static void take_line(run *r, child *c, const char *line)
{
    const char *mark = strstr(line, PROGRESS_MARK);
    if (mark) {
        take_progress(r, c, line, mark);
        return;
    }
    if (c->log) {
        fprintf(c->log, "%s\n", line);
        fflush(c->log);
    }
    snprintf(c->last_line, sizeof c->last_line, "%.1023s", line);
    bool is_error = strstr(line, ": error: ") != NULL;
    if (is_error && !c->last_error[0])
        snprintf(c->last_error, sizeof c->last_error, "%.1023s", line);
    /* errors are said once, by the runner's closing line (first and alone):
     * the stage's own line, and those of the stages stopped after it, stay
     * in the logs */
    if (is_error) {
        r->hushed += r->quiet;
        return;
    }
    if (r->cfg->console && r->cfg->verbosity >= 1) {
        console_clear(r);
        fprintf(r->cfg->console, "%s\n", line);
        fflush(r->cfg->console);
    }
}

/* Reads what is available; closes the pipe at EOF. */
static void read_stderr(run *r, child *c)
{
    char chunk[4096];
    for (;;) {
        ssize_t n = read(c->err_fd, chunk, sizeof chunk);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
                if (c->n_partial) {
                    c->partial[c->n_partial] = '\0';
                    take_line(r, c, c->partial);
                    c->n_partial = 0;
                }
                close(c->err_fd);
                c->err_fd = -1;
            }
            return;
        }
        for (ssize_t i = 0; i < n; i++) {
            if (chunk[i] == '\n' || c->n_partial == sizeof c->partial - 1) {
                c->partial[c->n_partial] = '\0';
                take_line(r, c, c->partial);
                c->n_partial = 0;
                if (chunk[i] == '\n')
                    continue;
            }
            c->partial[c->n_partial++] = chunk[i];
        }
    }
}

/* ---- control channel --------------------------------------------------------------- */

static child *find_child(run *r, const char *name, size_t len)
{
    for (size_t i = 0; i < r->n; i++)
        if (strlen(r->c[i].ps->name) == len && !memcmp(r->c[i].ps->name, name, len))
            return &r->c[i];
    return NULL;
}

static void control_send(run *r, child *c, frame_control code)
{
    frame_set_control(r->ctl, code);
    snprintf(r->ctl->stage, sizeof r->ctl->stage, "spikesynth");
    if (frame_encode(r->ctl, r->run_id, "control", &r->hdr) < 0)
        return;
    static const char empty = 0;
    const char *name = c->ps->name;
    if (zmq_send(r->router, name, strlen(name), ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0 ||
        zmq_send(r->router, r->hdr.data, r->hdr.size, ZMQ_SNDMORE) < 0 ||
        zmq_send(r->router, &empty, 0, 0) < 0)
        say(r, 2, "could not send %s to %s: %s", frame_control_name(code), name, zmq_strerror(errno));
}

static void control_read(run *r)
{
    for (;;) {
        zmq_msg_t part[3];
        int n = 0;
        bool more = true;
        while (more) {
            zmq_msg_t m;
            zmq_msg_init(&m);
            if (zmq_msg_recv(&m, r->router, n == 0 ? ZMQ_DONTWAIT : 0) < 0) {
                zmq_msg_close(&m);
                if (n == 0)
                    return;
                break;
            }
            more = zmq_msg_more(&m);
            if (n < 3)
                part[n++] = m;
            else
                zmq_msg_close(&m);
        }
        if (n == 3) {
            child *c = find_child(r, zmq_msg_data(&part[0]), zmq_msg_size(&part[0]));
            if (c && frame_decode(r->ctl, zmq_msg_data(&part[1]), zmq_msg_size(&part[1]),
                                  zmq_msg_data(&part[2]), zmq_msg_size(&part[2])) == 0 &&
                r->ctl->kind == FRAME_CONTROL) {
                if (r->ctl->control == FRAME_READY) {
                    c->ready = true;
                    say(r, 2, "%s is ready", c->ps->name);
                } else if (r->ctl->control == FRAME_DONE) {
                    c->done = true;
                    say(r, 2, "%s is done", c->ps->name);
                }
            }
        }
        for (int i = 0; i < n; i++)
            zmq_msg_close(&part[i]);
    }
}

/* ---- supervision ------------------------------------------------------------------ */

static void signal_all(run *r, int sig)
{
    for (size_t i = 0; i < r->n; i++)
        if (r->c[i].pid > 0 && !r->c[i].exited)
            kill(r->c[i].pid, sig);
    if (r->pgid > 0)
        killpg(r->pgid, sig); /* anything a stage started itself */
}

static void describe_exit(const child *c, char *buf, size_t cap)
{
    if (WIFSIGNALED(c->status))
        snprintf(buf, cap, "killed by signal %d (%s)", WTERMSIG(c->status), strsignal(WTERMSIG(c->status)));
    else
        snprintf(buf, cap, "exited with status %d", WEXITSTATUS(c->status));
}

static bool clean_exit(const child *c) { return WIFEXITED(c->status) && WEXITSTATUS(c->status) == 0; }

static void write_summary(run *r, const char *status)
{
    char path[4096];
    /* runners of several hosts may share an output directory */
    if (placement_used(r->p))
        snprintf(path, sizeof path, "%s/run-%s.json", r->cfg->out_dir, r->host);
    else
        snprintf(path, sizeof path, "%s/run.json", r->cfg->out_dir);
    atomic_file *f = atomic_file_new(path);
    if (!f)
        return;
    FILE *s = atomic_file_stream(f);
    fprintf(s, "{\"pipeline\": \"%s\", \"run_id\": \"%s\", \"status\": \"%s\", \"seconds\": %.3f,\n"
               " \"stages\": [", r->p->path, r->run_id, status, clock_now() - r->start);
    bool first = true;
    for (size_t i = 0; i < r->n; i++) {
        const child *c = &r->c[i];
        if (c->remote)
            continue;
        fprintf(s, "%s\n  {\"name\": \"%s\", \"program\": \"%s\", \"pid\": %ld, \"ready\": %s, "
                   "\"done\": %s, \"exit\": %d, \"signal\": %d, \"seconds\": %.3f}",
                first ? "" : ",", c->ps->name, c->ps->program, (long)c->pid, c->ready ? "true" : "false",
                c->done ? "true" : "false", WIFEXITED(c->status) ? WEXITSTATUS(c->status) : -1,
                WIFSIGNALED(c->status) ? WTERMSIG(c->status) : 0,
                c->exited ? c->ended - c->started : 0.0);
        first = false;
    }
    fprintf(s, "\n]}\n");
    if (atomic_file_commit(&f) < 0)
        say(r, 0, "warning: %s", err_msg());
}

/* What supervision has seen and decided so far. */
typedef struct {
    bool go_sent, stopping, terminating, killed;
    double stop_deadline, term_at, sinks_done_at;
    int seen_interrupts;
    long failed; /* the stage that failed first, -1: none */
    char reason[512];
} watch;

/* Waits up to 100 ms for stage output, a control message or a signal, and takes them. */
static void poll_once(run *r, zmq_pollitem_t *items, size_t *owner)
{
    size_t ni = 0;
    items[ni++] = (zmq_pollitem_t){r->router, 0, ZMQ_POLLIN, 0};
    items[ni++] = (zmq_pollitem_t){NULL, r->wake[0], ZMQ_POLLIN, 0};
    for (size_t i = 0; i < r->n; i++)
        if (r->c[i].err_fd >= 0) {
            owner[ni] = i;
            items[ni++] = (zmq_pollitem_t){NULL, r->c[i].err_fd, ZMQ_POLLIN, 0};
        }
    zmq_poll(items, (int)ni, 100);
    char drain[64];
    while (read(r->wake[0], drain, sizeof drain) > 0) {
    }
    for (size_t k = 2; k < ni; k++)
        if (items[k].revents)
            read_stderr(r, &r->c[owner[k]]);
    control_read(r);
}

/* Reaps the stages that exited; the number still alive. A stage killed by a
 * signal we did not send is the likeliest first cause. */
static size_t reap(run *r, watch *w, double now)
{
    size_t alive = 0;
    for (size_t i = 0; i < r->n; i++) {
        child *c = &r->c[i];
        if (!c->exited && waitpid(c->pid, &c->status, WNOHANG) == c->pid) {
            c->exited = true;
            c->ended = now;
            shm_ring_unlink_stale((long)c->pid); /* rings it offered that nobody opened */
            if (!clean_exit(c) && !w->terminating &&
                (w->failed < 0 || (WIFSIGNALED(c->status) && !WIFSIGNALED(r->c[w->failed].status))))
                w->failed = (long)i;
        }
        alive += !c->exited;
    }
    if (w->failed >= 0 && !w->terminating) {
        char how[128];
        describe_exit(&r->c[w->failed], how, sizeof how);
        say(r, 2, "%s %s; stopping the others", r->c[w->failed].ps->name, how);
        w->terminating = true;
        r->quiet = true;
    }
    return alive;
}

/* The first interrupt drains through the sources, the second stops at once. */
static void on_interrupts(run *r, watch *w, double now)
{
    if (interrupts > w->seen_interrupts) {
        w->seen_interrupts = interrupts;
        if (w->seen_interrupts == 1 && w->go_sent && !w->terminating) {
            say(r, 1, "interrupted: stopping the sources; the stages finish the batches under way "
                      "(up to %g s; Ctrl-C again to stop at once, saving nothing)", r->cfg->drain_timeout);
            for (size_t i = 0; i < r->n; i++)
                if (r->c[i].ps->source && !r->c[i].exited)
                    control_send(r, &r->c[i], FRAME_STOP);
            w->stopping = true;
            w->stop_deadline = now + r->cfg->drain_timeout;
        } else if (!w->terminating) {
            say(r, 1, "interrupted: stopping");
            w->terminating = true;
        }
    }
    if (w->stopping && !w->terminating && now >= w->stop_deadline) {
        snprintf(w->reason, sizeof w->reason, "the stages did not drain within %g s of the interrupt "
                 "(nothing they would have saved was written)", r->cfg->drain_timeout);
        w->terminating = true;
    }
}

/* The first stage still alive (and, with unready, not READY): the one to blame. */
static long first_alive(const run *r, bool unready)
{
    for (size_t i = 0; i < r->n; i++)
        if (!r->c[i].exited && !(unready && r->c[i].ready))
            return (long)i;
    return -1;
}

/* The start: GO once every stage is READY (or gone). */
static void start_when_ready(run *r, watch *w, double now)
{
    size_t ready = 0;
    for (size_t i = 0; i < r->n; i++)
        ready += r->c[i].ready || r->c[i].exited;
    if (ready == r->n) {
        for (size_t i = 0; i < r->n; i++)
            if (!r->c[i].exited)
                control_send(r, &r->c[i], FRAME_GO);
        w->go_sent = true;
        say(r, 2, "all %zu stages ready after %.2f s: go", r->n_local, now - r->start);
    } else if (now - r->start > r->cfg->ready_timeout) {
        long i = first_alive(r, true);
        if (i >= 0) {
            w->failed = i;
            snprintf(w->reason, sizeof w->reason, "stage %s (%s) was not ready after %g s",
                     r->c[i].ps->name, r->c[i].ps->program, r->cfg->ready_timeout);
        }
        w->terminating = true;
    }
}

/* The end: once the sinks are done, the others get stop_timeout to exit. */
static void end_when_sinks_done(run *r, watch *w, double now)
{
    bool local_sink = false;
    for (size_t i = 0; i < r->n; i++)
        local_sink |= !r->c[i].remote && r->c[i].ps->sink;
    if (!local_sink) /* a host without a sink: its stages end when their links do */
        return;
    bool sinks_done = true;
    for (size_t i = 0; i < r->n; i++)
        if (r->c[i].ps->sink && !r->c[i].done && !(r->c[i].exited && clean_exit(&r->c[i])))
            sinks_done = false;
    if (sinks_done && !w->sinks_done_at)
        w->sinks_done_at = now;
    if (w->sinks_done_at && now - w->sinks_done_at > r->cfg->stop_timeout) {
        long i = first_alive(r, false);
        if (i >= 0) {
            w->failed = i;
            snprintf(w->reason, sizeof w->reason, "stage %s (%s) still running %g s after the sinks "
                     "finished", r->c[i].ps->name, r->c[i].ps->program, r->cfg->stop_timeout);
        }
        w->terminating = true;
    }
}

/* A stage stopped (SIGSTOP, a debugger) for hang_timeout is hung: its peers on
 * other hosts notice their silent link, but nothing would tell this runner. */
static void watch_stopped(run *r, watch *w, double now)
{
    for (size_t i = 0; i < r->n && !w->terminating; i++) {
        child *c = &r->c[i];
        if (c->exited)
            continue;
        char path[64], stat[512];
        snprintf(path, sizeof path, "/proc/%ld/stat", (long)c->pid);
        FILE *f = fopen(path, "re");
        size_t n = f ? fread(stat, 1, sizeof stat - 1, f) : 0;
        if (f)
            fclose(f);
        stat[n] = '\0';
        const char *paren = strrchr(stat, ')'); /* the name may hold blanks */
        bool stopped = paren && (paren[2] == 'T' || paren[2] == 't');
        if (!stopped) {
            c->stopped_at = 0;
            continue;
        }
        if (!c->stopped_at)
            c->stopped_at = now;
        if (now - c->stopped_at >= r->cfg->hang_timeout) {
            w->failed = (long)i;
            snprintf(w->reason, sizeof w->reason, "stage %s (%s) has been stopped for %g s "
                     "(SIGSTOP?): hung", c->ps->name, c->ps->program, r->cfg->hang_timeout);
            w->terminating = true;
            kill(c->pid, SIGKILL); /* stopped, it cannot take the SIGTERM the others get */
        }
    }
}

/* "; link A.x->B.y joins hosts H1 (ADDRESS) and H2 (ADDRESS)" when the line names
 * a link across hosts, else "". */
static void hosts_note(const run *r, const char *line, char *buf, size_t cap)
{
    const pipeline *p = r->p;
    buf[0] = '\0';
    for (size_t j = 0; j < p->n_links; j++) {
        const pipeline_link *l = &p->links[j];
        char name[300], a[256] = "", b[256] = "";
        snprintf(name, sizeof name, "link %s.%s->%s.%s", p->stages[l->from].name, l->from_port,
                 p->stages[l->to].name, l->to_port);
        if (!placement_crosses(p, l) || !strstr(line, name))
            continue;
        const char *ha = placement_host(&p->stages[l->from]), *hb = placement_host(&p->stages[l->to]);
        placement_address(p, ha, a, sizeof a);
        placement_address(p, hb, b, sizeof b);
        snprintf(buf, cap, "; %s joins hosts %s (%s) and %s (%s)", name + 5, ha, a, hb, b);
        return;
    }
}

/* SIGTERM to all once terminating, SIGKILL kill_timeout later. */
static void escalate(run *r, watch *w, double now)
{
    if (w->terminating && !w->term_at) {
        w->term_at = now;
        signal_all(r, SIGTERM);
    } else if (w->terminating && !w->killed && now - w->term_at > r->cfg->kill_timeout) {
        w->killed = true;
        say(r, 2, "stages still alive %g s after SIGTERM: SIGKILL", r->cfg->kill_timeout);
        signal_all(r, SIGKILL);
    }
}

/* The last words of every stage, once all have exited. */
static void read_last_words(run *r)
{
    for (size_t i = 0; i < r->n; i++)
        while (r->c[i].err_fd >= 0) {
            zmq_pollitem_t it = {NULL, r->c[i].err_fd, ZMQ_POLLIN, 0};
            if (zmq_poll(&it, 1, 200) <= 0)
                break;
            read_stderr(r, &r->c[i]);
        }
}

/* "NAME: error: TYPE: text" -> "text": the runner's line names the stage already. */
static const char *strip_prefix(const child *c, const char *line)
{
    const char *p = strstr(line, ": error: ");
    p = p ? p + 9 : line;
    size_t n = strlen(c->ps->program);
    if (!strncmp(p, c->ps->program, n) && !strncmp(p + n, ": ", 2))
        p += n + 2;
    return p;
}

/* The stages that did not end cleanly besides the one that failed. */
static size_t stopped_others(const run *r, long failed)
{
    size_t n = 0;
    for (size_t i = 0; i < r->n; i++)
        n += (long)i != failed && !clean_exit(&r->c[i]);
    return n;
}

/* nftw's callback cannot take an argument: the run being cleaned, and what was removed. */
static const run *cleaning;
static size_t removed;

static int remove_newer(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)ftw;
    const run *r = cleaning;
    char keep[4200];
    snprintf(keep, sizeof keep, "%s/logs", r->cfg->out_dir);
    if (!strncmp(path, keep, strlen(keep)) || strstr(path, "/run.json") || strstr(path, "/run-") || strstr(path, "/.lock"))
        return 0;
    const struct timespec *t = &st->st_mtim;
    bool newer = t->tv_sec > r->began.tv_sec || (t->tv_sec == r->began.tv_sec && t->tv_nsec >= r->began.tv_nsec);
    if (flag == FTW_F && newer && unlink(path) == 0)
        removed++;
    else if (flag == FTW_DP && strcmp(path, r->cfg->out_dir))
        rmdir(path); /* only when empty: a directory that held older files stays */
    return 0;
}

/* A failed run leaves no partial output: the files it wrote in the out dir
 * (manifest, PNGs, metrics) go; its logs and run.json stay, to say why. */
static void remove_partial(const run *r)
{
    /* never in a directory that holds more than runs: the one we run in, or above it */
    char out[4096], cwd[4096];
    if (!realpath(r->cfg->out_dir, out) || !getcwd(cwd, sizeof cwd) || !strncmp(cwd, out, strlen(out)))
        return;
    cleaning = r;
    removed = 0;
    nftw(r->cfg->out_dir, remove_newer, 16, FTW_DEPTH | FTW_PHYS);
    if (removed)
        say(r, 1, "removed %zu file%s the failed run wrote in %s", removed, removed > 1 ? "s" : "",
            r->cfg->out_dir);
}

/* The out dir is the run's alone: a second run on it would overwrite its logs,
 * run.json and results. The lock (flock, released by the kernel when the
 * runner exits however it exits) holds the runner's pid for the message. */
static int lock_out_dir(run *r)
{
    char path[4200], pid[32] = "";
    /* the runners of a placed pipeline's hosts may share one out dir: a lock each */
    if (placement_used(r->p))
        snprintf(path, sizeof path, "%s/.lock-%s", r->cfg->out_dir, r->host);
    else
        snprintf(path, sizeof path, "%s/.lock", r->cfg->out_dir);
    if ((r->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644)) < 0)
        return err_set("%s: cannot create: %s", path, strerror(errno));
    if (flock(r->lock_fd, LOCK_EX | LOCK_NB) < 0) {
        ssize_t n = read(r->lock_fd, pid, sizeof pid - 1);
        pid[n > 0 ? n : 0] = '\0';
        pid[strcspn(pid, "\n")] = '\0';
        return err_set("out dir %s is in use by another run (spikesynth pid %s): wait for it to end, "
                       "or give out=DIR", r->cfg->out_dir, *pid ? pid : "?");
    }
    if (ftruncate(r->lock_fd, 0) == 0)
        dprintf(r->lock_fd, "%ld\n", (long)getpid());
    return 0;
}

/* Stages that fail together (a link across hosts cut: a stage waits on the
 * one whose link timed out, and times out with it) are reported by the one
 * whose error names a link across hosts: that is the cause. */
static void blame_cross_host(run *r, watch *w)
{
    char note[700];
    const child *f = &r->c[w->failed];
    hosts_note(r, f->last_error, note, sizeof note);
    if (w->reason[0] || note[0])
        return;
    for (size_t i = 0; i < r->n; i++) {
        const child *c = &r->c[i];
        if (c->exited && !clean_exit(c) && c->last_error[0]) {
            hosts_note(r, c->last_error, note, sizeof note);
            if (note[0]) {
                w->failed = (long)i;
                return;
            }
        }
    }
}

/* The run's one closing line, run.json, and the runner's result. */
static int report(run *r, watch *w)
{
    char logs[4200];
    snprintf(logs, sizeof logs, "logs in %s/logs/", r->cfg->out_dir);
    if (w->failed >= 0) {
        blame_cross_host(r, w);
        const child *c = &r->c[w->failed];
        char how[128];
        describe_exit(c, how, sizeof how);
        /* its last error line; a stage killed without one gets its last line,
         * marked as such, so an info line is not mistaken for the error */
        const char *last = c->last_error[0] ? strip_prefix(c, c->last_error) : c->last_line;
        const char *sep = c->last_error[0] ? ": " : c->last_line[0] ? " (its last line: " : "";
        char stopped[96] = "";
        size_t others = stopped_others(r, w->failed);
        if (others)
            snprintf(stopped, sizeof stopped, "; %zu other stage%s stopped", others, others > 1 ? "s" : "");
        char hosts[700];
        hosts_note(r, last, hosts, sizeof hosts);
        if (w->reason[0])
            say(r, 0, "error: %s%s; %s", w->reason, stopped, logs);
        else
            say(r, 0, "error: stage %s (%s) %s%s%s%s%s%s; %s", c->ps->name, c->ps->program, how, sep,
                last, c->last_error[0] || !c->last_line[0] ? "" : ")", hosts, stopped, logs);
        remove_partial(r);
        write_summary(r, "failed");
        return RUNNER_FAILED;
    }
    if (w->reason[0]) {
        say(r, 0, "error: %s; %s", w->reason, logs);
        if (!w->seen_interrupts)
            remove_partial(r);
        write_summary(r, w->seen_interrupts ? "interrupted" : "failed");
        return w->seen_interrupts ? RUNNER_INTERRUPTED : RUNNER_FAILED;
    }
    if (w->seen_interrupts) {
        say(r, 1, "interrupted; %s after %.1f s; %s",
            w->stopping ? "drained and stopped cleanly" : "stopped", clock_now() - r->start, logs);
        write_summary(r, "interrupted");
        return RUNNER_INTERRUPTED;
    }
    say(r, 1, "done: %zu stages finished in %.1f s; %s", r->n_local, clock_now() - r->start, logs);
    write_summary(r, "ok");
    return RUNNER_OK;
}

static int supervise(run *r)
{
    watch w = {.failed = -1};
    zmq_pollitem_t *items = calloc(r->n + 2, sizeof *items);
    size_t *owner = calloc(r->n + 2, sizeof *owner);
    if (!items || !owner) {
        free(items);
        free(owner);
        signal_all(r, SIGKILL);
        return err_set("out of memory");
    }
    for (;;) {
        poll_once(r, items, owner);
        double now = clock_now();
        if (reap(r, &w, now) == 0)
            break;
        on_interrupts(r, &w, now);
        if (!w.go_sent && !w.terminating)
            start_when_ready(r, &w, now);
        if (w.go_sent && !w.terminating)
            end_when_sinks_done(r, &w, now);
        watch_stopped(r, &w, now);
        escalate(r, &w, now);
    }
    read_last_words(r);
    free(items);
    free(owner);
    return report(r, &w);
}

/* The sockets the stages left, then the run directory. */
static void remove_run_dir(const run *r)
{
    const pipeline *p = r->p;
    for (size_t j = 0; j <= p->n_links; j++) {
        char f[4300];
        if (j == p->n_links)
            snprintf(f, sizeof f, "%s/control", r->run_dir);
        else
            snprintf(f, sizeof f, "%s/%s.%s", r->run_dir, p->stages[p->links[j].to].name,
                     p->links[j].to_port);
        unlink(f);
        snprintf(f, sizeof f, "%s/L%zu", r->run_dir, j);
        unlink(f);
    }
    rmdir(r->run_dir);
}

/* Long: setup, the run and a single cleanup path over the same locals (the
 * signal handlers it saves must be restored whatever happened). */
int runner_run(const pipeline *p, const runner_config *cfg)
{
    run r = {.p = p, .cfg = cfg, .n = p->n_stages, .wake = {-1, -1}, .lock_fd = -1, .start = clock_now()};
    int rc = -1;
    struct sigaction old_int, old_term, old_hup, old_chld, old_pipe;
    clock_gettime(CLOCK_REALTIME, &r.began);
    r.began.tv_nsec = 0; /* file times may be coarser than the clock: whole seconds, to be sure */
    bool handlers = false;
    msgpack_sbuffer_init(&r.hdr);
    /* Stages share the cores and mostly wait on each other: OpenMP threads that
     * spin while their stage waits steal the core from the stage that works
     * (measured: 2.3x slower training). Unless the user chose otherwise. */
    setenv("OMP_WAIT_POLICY", "passive", 0);
    console_state con = {.tty = cfg->console && cfg->verbosity >= 1 && isatty(fileno(cfg->console))};
    r.con = &con;
    setenv("SPIKESYNTH_PROGRESS", con.tty ? "tty" : "log", 1); /* the stages' progress lines */
    char logs[4096];
    snprintf(logs, sizeof logs, "%s/logs", cfg->out_dir);
    r.host = cfg->host ? cfg->host : PLACEMENT_LOCAL; /* the lock is per host where placed */
    if (dir_make(logs) < 0 || lock_out_dir(&r) < 0)
        goto out;
    const char *tmp = getenv("TMPDIR");
    if (!tmp || !*tmp || strlen(tmp) > 40)
        tmp = "/tmp";
    snprintf(r.run_dir, sizeof r.run_dir, "%s/spikesynth-XXXXXX", tmp);
    if (!mkdtemp(r.run_dir)) {
        r.run_dir[0] = '\0';
        err_set("cannot create a run directory in %s: %s", tmp, strerror(errno));
        goto out;
    }
    r.host = cfg->host ? cfg->host : PLACEMENT_LOCAL;
    if (placement_used(p) && placement_check_host(p, r.host) < 0)
        goto out;
    /* the runners of several hosts must agree on the run id */
    const char *job = getenv("SLURM_JOB_ID");
    if (cfg->run_id)
        snprintf(r.run_id, sizeof r.run_id, "%.60s", cfg->run_id);
    else if (placement_used(p))
        snprintf(r.run_id, sizeof r.run_id, "%.40s-%.20s", p->stem, job ? job : "hosts");
    else
        snprintf(r.run_id, sizeof r.run_id, "%.40s-%s", p->stem, strrchr(r.run_dir, '-') + 1);
    snprintf(r.control_ep, sizeof r.control_ep, "ipc://%s/control", r.run_dir);
    if (pipe2(r.wake, O_CLOEXEC | O_NONBLOCK) < 0) {
        err_set("pipe: %s", strerror(errno));
        goto out;
    }
    r.c = calloc(r.n, sizeof *r.c);
    r.ctl = frame_new(&(frame_shape){FRAME_CONTROL, 0, 0, 0});
    r.ctx = zmq_ctx_new();
    if (!r.c || !r.ctl || !r.ctx) {
        err_set("out of memory");
        goto out;
    }
    for (size_t i = 0; i < r.n; i++) {
        child *c = &r.c[i];
        c->ps = &p->stages[i];
        c->err_fd = -1;
        c->remote = strcmp(placement_host(c->ps), r.host) != 0;
        c->exited = c->ready = c->done = c->remote; /* as if finished cleanly: status 0 */
        r.n_local += !c->remote;
    }
    int on = 1, linger = 0;
    r.router = zmq_socket(r.ctx, ZMQ_ROUTER);
    if (!r.router || zmq_setsockopt(r.router, ZMQ_ROUTER_MANDATORY, &on, sizeof on) ||
        zmq_setsockopt(r.router, ZMQ_LINGER, &linger, sizeof linger) ||
        zmq_bind(r.router, r.control_ep)) {
        err_set("control channel %s: %s", r.control_ep, zmq_strerror(errno));
        goto out;
    }
    if (build_argv(&r) < 0)
        goto out;

    /* signals: set before any child exists, so none is missed */
    interrupts = 0;
    wake_fd = r.wake[1];
    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    sigaction(SIGHUP, &sa, &old_hup);
    sigaction(SIGCHLD, &sa, &old_chld);
    /* a reader of our output that goes away (| head) must not kill the run:
     * writes to it fail instead, and the stages go on */
    struct sigaction ign = {0};
    ign.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &ign, &old_pipe);
    handlers = true;

    say(&r, 2, "run %s on host %s: %zu stages, %zu links, run directory %s", r.run_id, r.host,
        r.n_local, p->n_links, r.run_dir);
    for (size_t i = 0; i < r.n; i++)
        if (!r.c[i].remote && spawn(&r, &r.c[i]) < 0) {
            say(&r, 0, "error: stage %s: %s", r.c[i].ps->name, err_msg());
            signal_all(&r, SIGKILL);
            for (size_t j = 0; j < i; j++)
                waitpid(r.c[j].pid, &r.c[j].status, 0);
            rc = RUNNER_FAILED;
            goto out;
        }
    rc = supervise(&r);
out:
    if (handlers) {
        sigaction(SIGINT, &old_int, NULL);
        sigaction(SIGTERM, &old_term, NULL);
        sigaction(SIGHUP, &old_hup, NULL);
        sigaction(SIGCHLD, &old_chld, NULL);
        sigaction(SIGPIPE, &old_pipe, NULL);
        wake_fd = -1;
    }
    for (size_t i = 0; r.c && i < r.n; i++) {
        if (r.c[i].err_fd >= 0)
            close(r.c[i].err_fd);
        if (r.c[i].log)
            fclose(r.c[i].log);
        for (size_t k = 0; k < r.c[i].argc; k++)
            free(r.c[i].argv[k]);
        free(r.c[i].argv);
    }
    free(r.c);
    if (r.router)
        zmq_close(r.router);
    if (r.ctx)
        zmq_ctx_term(r.ctx);
    for (int i = 0; i < 2; i++)
        if (r.wake[i] >= 0)
            close(r.wake[i]);
    frame_destroy(&r.ctl);
    msgpack_sbuffer_destroy(&r.hdr);
    if (r.run_dir[0])
        remove_run_dir(&r);
    if (r.lock_fd >= 0)
        close(r.lock_fd);
    return rc;
}
