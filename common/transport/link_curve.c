/* link_curve: the security of tcp:// links (the "curve" transport of
 * link_transport.h is link_zmq.c's socket with these settings): ZeroMQ CURVE
 * with the keys of a key directory (transport/curve_keys.h), the binding end
 * the server, which checks each connecting end's public key through ZAP
 * against the directory's allow-list; plaintext only when asked (--insecure).
 *
 * ZAP (ZeroMQ RFC 27) asks a REP socket at inproc://zeromq.zap.01 of the
 * socket's context to decide each CURVE handshake. The handshakes happen in
 * libzmq's I/O threads while a stage computes, so the answers come from a
 * thread of ours, one per context, started by the first binding link; it ends
 * when the context is terminated. Each binding link registers its allow-list
 * under a ZAP domain of its own, so the handler knows which link a connection
 * was for and names it when it refuses one. The registry is process-wide, as
 * the ZAP endpoint of a context is, behind a mutex. */
#include "transport/link_transport.h"

#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "transport/curve_keys.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ZAP_ENDPOINT "inproc://zeromq.zap.01"
#define ZAP_PARTS 7           /* version, request id, domain, address, identity, mechanism, key */
#define REFUSAL_LOG_EVERY 5.0 /* seconds between two log lines on one link about one key */

typedef struct zap_entry {
    int id;
    void *ctx;
    char name[FRAME_LINK_MAX], allowed_path[4200];
    curve_key *keys;
    size_t n_keys;
    curve_key last_refused;
    double last_log;
    struct zap_entry *next;
} zap_entry;

typedef struct zap_server {
    void *ctx, *sock;
    struct zap_server *next;
} zap_server;

static pthread_mutex_t zap_lock = PTHREAD_MUTEX_INITIALIZER;
static zap_entry *zap_entries;
static zap_server *zap_servers;
static int zap_seq;

bool link_curve_match(const char *endpoint, const link_config *cfg)
{
    (void)cfg;
    return !strncmp(endpoint, "tcp://", 6);
}

/* ---- the ZAP handler ------------------------------------------------------------ */

/* Decides one request (parts as received); status "200" or "400". Logs a refusal. */
static const char *zap_decide(zmq_msg_t *part, char *text, size_t cap)
{
    char domain[64] = "", address[64] = "";
    snprintf(domain, sizeof domain, "%.*s", (int)zmq_msg_size(&part[2]), (char *)zmq_msg_data(&part[2]));
    snprintf(address, sizeof address, "%.*s", (int)zmq_msg_size(&part[3]), (char *)zmq_msg_data(&part[3]));
    bool curve = zmq_msg_size(&part[5]) == 5 && !memcmp(zmq_msg_data(&part[5]), "CURVE", 5);
    curve_key key = "";
    if (curve && zmq_msg_size(&part[6]) == 32)
        zmq_z85_encode(key, zmq_msg_data(&part[6]), 32);
    const char *status = "400";
    pthread_mutex_lock(&zap_lock);
    int id = strncmp(domain, "spikesynth-", 11) == 0 ? atoi(domain + 11) : 0;
    zap_entry *e = zap_entries;
    while (e && e->id != id)
        e = e->next;
    if (!e) {
        snprintf(text, cap, "no such link");
    } else if (!key[0]) {
        snprintf(text, cap, "not a CURVE handshake");
    } else {
        for (size_t i = 0; i < e->n_keys && *status == '4'; i++)
            if (!strcmp(e->keys[i], key))
                status = "200";
        snprintf(text, cap, *status == '2' ? "OK" : "public key not allowed");
        double now = clock_now();
        if (*status == '4' && (strcmp(e->last_refused, key) || now - e->last_log >= REFUSAL_LOG_EVERY)) {
            log_warn("link %s: refused a connection from %s: its public key %s is not in %s",
                     e->name, address, key, e->allowed_path);
            memcpy(e->last_refused, key, sizeof key);
            e->last_log = now;
        }
    }
    pthread_mutex_unlock(&zap_lock);
    return status;
}

static void *zap_serve(void *arg)
{
    zap_server *s = arg;
    for (;;) {
        zmq_msg_t part[ZAP_PARTS + 1];
        int n = 0;
        bool more = true, term = false;
        while (more) {
            zmq_msg_t m;
            zmq_msg_init(&m);
            if (zmq_msg_recv(&m, s->sock, 0) < 0) {
                zmq_msg_close(&m);
                term = errno == ETERM;
                break;
            }
            more = zmq_msg_more(&m);
            if (n < ZAP_PARTS + 1)
                part[n++] = m;
            else
                zmq_msg_close(&m);
        }
        if (term) {
            for (int i = 0; i < n; i++)
                zmq_msg_close(&part[i]);
            break;
        }
        if (n == ZAP_PARTS) {
            char text[64];
            const char *status = zap_decide(part, text, sizeof text);
            const char *reply[] = {"1.0", NULL, status, text, "", ""};
            zmq_send(s->sock, reply[0], 3, ZMQ_SNDMORE);
            zmq_send(s->sock, zmq_msg_data(&part[1]), zmq_msg_size(&part[1]), ZMQ_SNDMORE);
            for (int i = 2; i < 6; i++)
                zmq_send(s->sock, reply[i], strlen(reply[i]), i < 5 ? ZMQ_SNDMORE : 0);
        } else if (n > 0) { /* malformed: REP still owes a reply, and libzmq drops it */
            zmq_send(s->sock, "", 0, 0);
        }
        for (int i = 0; i < n; i++)
            zmq_msg_close(&part[i]);
    }
    /* out of the registry before the socket closes: until then zmq_ctx_term has not
     * returned, so no new context can have this one's address */
    pthread_mutex_lock(&zap_lock);
    for (zap_server **p = &zap_servers; *p; p = &(*p)->next)
        if (*p == s) {
            *p = s->next;
            break;
        }
    pthread_mutex_unlock(&zap_lock);
    zmq_close(s->sock);
    free(s);
    return NULL;
}

/* The handler of ctx, started if there is none yet (zap_lock held). */
static int zap_start(void *ctx)
{
    for (zap_server *s = zap_servers; s; s = s->next)
        if (s->ctx == ctx)
            return 0;
    zap_server *s = calloc(1, sizeof *s);
    if (!s)
        return err_set("out of memory");
    s->ctx = ctx;
    if (!(s->sock = zmq_socket(ctx, ZMQ_REP)) || zmq_bind(s->sock, ZAP_ENDPOINT) != 0) {
        err_set("ZAP handler: %s", zmq_strerror(errno));
        goto err;
    }
    zmq_setsockopt(s->sock, ZMQ_LINGER, &(int){0}, sizeof(int));
    pthread_t t;
    if (pthread_create(&t, NULL, zap_serve, s) != 0) {
        err_set("ZAP handler: cannot start a thread");
        goto err;
    }
    pthread_detach(t);
    s->next = zap_servers;
    zap_servers = s;
    return 0;
err:
    if (s->sock)
        zmq_close(s->sock);
    free(s);
    return -1;
}

/* Registers the allow-list of a binding link: its ZAP domain in domain. */
static int zap_register(spike_link *link, void *ctx, const char *dir, char *domain, size_t cap,
                        int *id)
{
    zap_entry *e = calloc(1, sizeof *e);
    if (!e)
        return err_set("out of memory");
    if (curve_keys_allowed(dir, &e->keys, &e->n_keys) < 0) {
        free(e);
        return err_wrap("link %s", link_name(link));
    }
    e->ctx = ctx;
    snprintf(e->name, sizeof e->name, "%s", link_name(link));
    snprintf(e->allowed_path, sizeof e->allowed_path, "%s/allowed", dir);
    pthread_mutex_lock(&zap_lock);
    int rc = zap_start(ctx);
    if (rc == 0) {
        e->id = *id = ++zap_seq;
        e->next = zap_entries;
        zap_entries = e;
    }
    pthread_mutex_unlock(&zap_lock);
    if (rc < 0) {
        free(e->keys);
        free(e);
        return err_wrap("link %s", link_name(link));
    }
    snprintf(domain, cap, "spikesynth-%d", e->id);
    return 0;
}

void link_curve_release(int id)
{
    if (!id)
        return;
    pthread_mutex_lock(&zap_lock);
    for (zap_entry **p = &zap_entries; *p; p = &(*p)->next)
        if ((*p)->id == id) {
            zap_entry *e = *p;
            *p = e->next;
            free(e->keys);
            free(e);
            break;
        }
    pthread_mutex_unlock(&zap_lock);
}

/* ---- the socket -------------------------------------------------------------------- */

int link_curve_setup(spike_link *link, void *ctx, void *sock, bool bind, const link_config *cfg,
                     int *zap)
{
    const char *name = link_name(link);
    *zap = 0;
    if (!cfg->keys || !*cfg->keys) {
        if (!cfg->insecure)
            return err_set("link %s: tcp:// links are encrypted and authenticated with CURVE: "
                           "give the key directory (--keys=DIR, made by spikesynth keygen DIR), "
                           "or --insecure for plaintext", name);
        log_warn("link %s: --insecure: plaintext tcp, no encryption, and any peer may connect", name);
        return 0;
    }
    if (zmq_has("curve") != 1)
        return err_set("link %s: this libzmq was built without CURVE (libsodium)", name);
    curve_pair kp;
    if (curve_keys_load(cfg->keys, &kp) < 0)
        return err_wrap("link %s", name);
    int rc = -1;
    if (bind) {
        char domain[64];
        if (zap_register(link, ctx, cfg->keys, domain, sizeof domain, zap) < 0)
            goto out;
        if (zmq_setsockopt(sock, ZMQ_CURVE_SERVER, &(int){1}, sizeof(int)) ||
            zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, kp.secret_key, CURVE_KEY_Z85) ||
            zmq_setsockopt(sock, ZMQ_ZAP_DOMAIN, domain, strlen(domain))) {
            err_set("link %s: CURVE server options: %s", name, zmq_strerror(errno));
            goto out;
        }
    } else {
        curve_key server;
        if (curve_keys_server(cfg->keys, cfg->server_key, server) < 0) {
            err_wrap("link %s", name);
            goto out;
        }
        if (zmq_setsockopt(sock, ZMQ_CURVE_SERVERKEY, server, CURVE_KEY_Z85) ||
            zmq_setsockopt(sock, ZMQ_CURVE_PUBLICKEY, kp.public_key, CURVE_KEY_Z85) ||
            zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, kp.secret_key, CURVE_KEY_Z85)) {
            err_set("link %s: CURVE client options: %s", name, zmq_strerror(errno));
            goto out;
        }
    }
    rc = 0;
out:
    memset(&kp, 0, sizeof kp); /* no copy of the secret key left on the stack */
    return rc;
}
