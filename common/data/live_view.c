/* live_view: the local web page of the latest images (see include/data/live_view.h).
 * libmicrohttpd serves from its own threads, one per connection, so an event
 * stream may block waiting for the next image; every shared field is guarded
 * by lock, and a new image wakes the waiting streams through `added`. */
#include "data/live_view.h"

#include "core/err.h"
#include "core/json_out.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#define EVENT_WAIT_S 15 /* an idle stream sends a comment this often, so proxies keep it */

typedef struct {
    long seq;
    unsigned char *png;
    size_t len;
    char *event; /* the JSON of its event, one line */
} view_image;

struct live_view {
    struct MHD_Daemon *daemon;
    int port;
    char *page;
    pthread_mutex_t lock;
    pthread_cond_t added;
    view_image *ring; /* the last `keep` images: seq s at ring[s % keep] */
    int keep;
    long next_seq;
    int closing;
};

static const char page_template[] =
    "<!doctype html><html><head><meta charset=\"utf-8\"><title>%s</title><style>"
    "body{background:#111;color:#ddd;font:14px sans-serif;margin:1em}"
    "#imgs{display:flex;flex-wrap:wrap;gap:12px}"
    "figure{margin:0;text-align:center}img{width:112px;height:112px;image-rendering:pixelated;"
    "border:1px solid #444}figcaption{font-size:12px;margin-top:4px}"
    "figure:first-child img{border-color:#6c6}</style></head><body>"
    "<h1>%s</h1><p>images so far: <span id=\"count\">0</span> "
    "<span id=\"state\">(connecting)</span></p><div id=\"imgs\"></div><script>"
    "const keep=%d,imgs=document.getElementById('imgs');let count=0;"
    "function add(d){const f=document.createElement('figure');f.className='live-image';"
    "f.dataset.seq=d.seq;f.dataset.arrived=Date.now();const i=document.createElement('img');i.src='/img/'+d.seq+'.png';"
    "i.alt=d.name;const c=document.createElement('figcaption');"
    "c.textContent=d.name+(d.digit>=0?' \\u2192 '+d.digit:'')+' \\u00b7 '+d.time;"
    "f.appendChild(i);f.appendChild(c);imgs.insertBefore(f,imgs.firstChild);"
    "while(imgs.children.length>keep)imgs.removeChild(imgs.lastChild);"
    "count=Math.max(count,d.seq+1);document.getElementById('count').textContent=count;}"
    "const es=new EventSource('/events');"
    "es.onopen=()=>{document.getElementById('state').textContent='(live)'};"
    "es.onerror=()=>{document.getElementById('state').textContent='(stream ended)'};"
    "es.onmessage=e=>add(JSON.parse(e.data));"
    "</script></body></html>\n";

/* ---- responses ----------------------------------------------------------------- */

static enum MHD_Result respond(struct MHD_Connection *c, unsigned status, const char *type,
                               const void *body, size_t len)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, "Content-Type", type);
    MHD_add_response_header(r, "Cache-Control", "no-store");
    enum MHD_Result ok = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ok;
}

static enum MHD_Result not_found(struct MHD_Connection *c)
{
    static const char msg[] = "not here (the view keeps only its last images)\n";
    return respond(c, MHD_HTTP_NOT_FOUND, "text/plain", msg, sizeof msg - 1);
}

/* The kept image seq, copied out under the lock; NULL when gone or never made. */
static unsigned char *copy_image(live_view *self, long seq, size_t *len)
{
    unsigned char *out = NULL;
    pthread_mutex_lock(&self->lock);
    if (seq >= 0 && seq < self->next_seq && seq >= self->next_seq - self->keep) {
        const view_image *im = &self->ring[seq % self->keep];
        if ((out = malloc(im->len))) {
            memcpy(out, im->png, im->len);
            *len = im->len;
        }
    }
    pthread_mutex_unlock(&self->lock);
    return out;
}

static enum MHD_Result serve_image(live_view *self, struct MHD_Connection *c, const char *url)
{
    char *end;
    long seq = strtol(url + strlen("/img/"), &end, 10);
    size_t len = 0;
    unsigned char *png = strcmp(end, ".png") ? NULL : copy_image(self, seq, &len);
    if (!png)
        return not_found(c);
    struct MHD_Response *r = MHD_create_response_from_buffer(len, png, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(png);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", "image/png");
    enum MHD_Result ok = MHD_queue_response(c, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    return ok;
}

static enum MHD_Result serve_state(live_view *self, struct MHD_Connection *c)
{
    char *buf = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&buf, &size);
    if (!f)
        return MHD_NO;
    pthread_mutex_lock(&self->lock);
    long first = self->next_seq > self->keep ? self->next_seq - self->keep : 0;
    fprintf(f, "{\"count\": %ld, \"images\": [", self->next_seq);
    for (long s = first; s < self->next_seq; s++)
        fprintf(f, "%s%s", s > first ? ", " : "", self->ring[s % self->keep].event);
    fprintf(f, "]}\n");
    pthread_mutex_unlock(&self->lock);
    fclose(f);
    enum MHD_Result ok = respond(c, MHD_HTTP_OK, "application/json", buf, size);
    free(buf);
    return ok;
}

/* ---- the event stream ------------------------------------------------------------ */

typedef struct {
    live_view *view;
    long next; /* the seq this stream sends next */
} event_stream;

/* Blocks until an image after the last one sent exists (or EVENT_WAIT_S passes:
 * a comment line), then sends it; the end of the stream once the view closes. */
static ssize_t event_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    event_stream *es = cls;
    live_view *self = es->view;
    ssize_t n = 0;
    pthread_mutex_lock(&self->lock);
    if (es->next < self->next_seq - self->keep)
        es->next = self->next_seq - self->keep; /* what fell out of the ring is gone */
    if (es->next >= self->next_seq && !self->closing) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += EVENT_WAIT_S;
        pthread_cond_timedwait(&self->added, &self->lock, &until);
    }
    if (es->next < self->next_seq) {
        const view_image *im = &self->ring[es->next % self->keep];
        int w = snprintf(buf, max, "id: %ld\ndata: %s\n\n", im->seq, im->event);
        if (w > 0 && (size_t)w < max) {
            es->next++;
            n = w;
        }
    } else if (self->closing) {
        n = MHD_CONTENT_READER_END_OF_STREAM;
    } else {
        n = snprintf(buf, max, ": waiting\n\n");
    }
    pthread_mutex_unlock(&self->lock);
    return n;
}

static enum MHD_Result serve_events(live_view *self, struct MHD_Connection *c)
{
    event_stream *es = malloc(sizeof *es);
    if (!es)
        return MHD_NO;
    es->view = self;
    const char *last = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Last-Event-ID");
    es->next = last ? strtol(last, NULL, 10) + 1 : 0;
    struct MHD_Response *r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, event_read, es, free);
    if (!r) {
        free(es);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", "text/event-stream");
    MHD_add_response_header(r, "Cache-Control", "no-store");
    enum MHD_Result ok = MHD_queue_response(c, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    return ok;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls)
{
    (void)version, (void)upload, (void)upload_size, (void)con_cls;
    live_view *self = cls;
    if (strcmp(method, "GET") && strcmp(method, "HEAD"))
        return respond(c, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain", "GET only\n", 9);
    if (!strcmp(url, "/"))
        return respond(c, MHD_HTTP_OK, "text/html; charset=utf-8", self->page, strlen(self->page));
    if (!strcmp(url, "/events"))
        return serve_events(self, c);
    if (!strcmp(url, "/state.json"))
        return serve_state(self, c);
    if (!strncmp(url, "/img/", 5))
        return serve_image(self, c, url);
    return not_found(c);
}

/* ---- the view -------------------------------------------------------------------- */

static int parse_where(const char *where, struct sockaddr_in *sa)
{
    char host[64] = "127.0.0.1";
    const char *colon = strrchr(where, ':'), *port_s = colon ? colon + 1 : where;
    if (colon && colon > where) {
        if ((size_t)(colon - where) >= sizeof host)
            return err_set("live view %s: the address is too long", where);
        snprintf(host, sizeof host, "%.*s", (int)(colon - where), where);
    }
    char *end;
    long port = strtol(port_s, &end, 10);
    if (!*port_s || *end || port < 0 || port > 65535)
        return err_set("live view %s: the port must be 0 to 65535 (0: any free port)", where);
    memset(sa, 0, sizeof *sa);
    sa->sin_family = AF_INET;
    sa->sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host, &sa->sin_addr) != 1)
        return err_set("live view %s: '%s' is not an IPv4 address", where, host);
    return 0;
}

live_view *live_view_new(const char *where, const char *title, int keep)
{
    struct sockaddr_in sa;
    if (parse_where(where, &sa) < 0)
        return NULL;
    if (keep < 1)
        keep = 1;
    live_view *self = calloc(1, sizeof *self);
    if (!self || !(self->ring = calloc((size_t)keep, sizeof *self->ring))) {
        free(self);
        err_set("live view: out of memory");
        return NULL;
    }
    self->keep = keep;
    pthread_mutex_init(&self->lock, NULL);
    pthread_cond_init(&self->added, NULL);
    size_t cap = sizeof page_template + 2 * strlen(title) + 16;
    if (!(self->page = malloc(cap))) {
        err_set("live view: out of memory");
        goto err;
    }
    snprintf(self->page, cap, page_template, title, title, keep);
    /* no MHD_USE_ERROR_LOG: its lines name port 0; ours names the address asked for */
    self->daemon = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD, 0,
                                    NULL, NULL, on_request, self, MHD_OPTION_SOCK_ADDR, &sa,
                                    MHD_OPTION_END);
    if (!self->daemon) {
        err_set("live view %s: cannot listen there (in use? not this host's address?)", where);
        goto err;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(self->daemon, MHD_DAEMON_INFO_BIND_PORT);
    self->port = info ? info->port : ntohs(sa.sin_port);
    return self;
err:
    live_view_destroy(&self);
    return NULL;
}

int live_view_port(const live_view *self) { return self->port; }

long live_view_count(const live_view *self)
{
    live_view *v = (live_view *)self; /* the lock, not the view, changes */
    pthread_mutex_lock(&v->lock);
    long n = v->next_seq;
    pthread_mutex_unlock(&v->lock);
    return n;
}

/* The event's JSON on one line (SSE data lines end at a newline). */
static char *event_json(long seq, const char *name, int label, int digit)
{
    json_out j;
    json_out_init(&j);
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    localtime_r(&tv.tv_sec, &tm);
    char when[32];
    snprintf(when, sizeof when, "%02d:%02d:%02d.%03d", tm.tm_hour, tm.tm_min, tm.tm_sec,
             (int)(tv.tv_usec / 1000));
    json_out_int(&j, "seq", seq);
    json_out_str(&j, "name", name);
    json_out_int(&j, "label", label);
    json_out_int(&j, "digit", digit);
    json_out_str(&j, "time", when);
    json_out_num(&j, "unix_time", (double)tv.tv_sec + tv.tv_usec / 1e6);
    char *buf = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&buf, &size);
    if (!f || json_out_print(&j, f) < 0) {
        if (f)
            fclose(f);
        free(buf);
        return NULL;
    }
    fclose(f);
    for (char *p = buf; *p; p++)
        if (*p == '\n')
            *p = ' ';
    return buf;
}

int live_view_add(live_view *self, const char *name, int label, int digit, const unsigned char *png,
                  size_t len)
{
    unsigned char *copy = malloc(len ? len : 1);
    /* one producer (the sink) adds: next_seq changes only here */
    pthread_mutex_lock(&self->lock);
    long seq = self->next_seq;
    pthread_mutex_unlock(&self->lock);
    char *event = event_json(seq, name, label, digit);
    if (!copy || !event) {
        free(copy);
        free(event);
        return err_set("live view: out of memory for image %ld", seq);
    }
    memcpy(copy, png, len);
    pthread_mutex_lock(&self->lock);
    view_image *im = &self->ring[seq % self->keep];
    free(im->png);
    free(im->event);
    *im = (view_image){seq, copy, len, event};
    self->next_seq = seq + 1;
    pthread_cond_broadcast(&self->added);
    pthread_mutex_unlock(&self->lock);
    return 0;
}

void live_view_destroy(live_view **self_p)
{
    live_view *self = self_p ? *self_p : NULL;
    if (!self)
        return;
    pthread_mutex_lock(&self->lock);
    self->closing = 1;
    pthread_cond_broadcast(&self->added);
    pthread_mutex_unlock(&self->lock);
    if (self->daemon)
        MHD_stop_daemon(self->daemon); /* joins the connection threads: the streams have ended */
    for (int i = 0; i < self->keep; i++) {
        free(self->ring[i].png);
        free(self->ring[i].event);
    }
    free(self->ring);
    free(self->page);
    pthread_cond_destroy(&self->added);
    pthread_mutex_destroy(&self->lock);
    free(self);
    *self_p = NULL;
}
