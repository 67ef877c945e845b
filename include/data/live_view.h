/* live_view: a small local web page on which synthesized images appear as
 * they are made (libmicrohttpd). GET / is the page; GET /events a stream of
 * server-sent events, one per image (JSON: seq, name, label, digit, time); GET
 * /img/SEQ.png an image still kept; GET /state.json the kept ones. The view
 * keeps the last `keep` images; a client that connects late first gets those.
 *
 * Invariants: the view owns copies of the PNG bytes it serves; it binds only the
 * address it is given (127.0.0.1 unless the caller says otherwise); its
 * threads are stopped and joined by live_view_destroy. */
#ifndef SPIKESYNTH_LIVE_VIEW_H
#define SPIKESYNTH_LIVE_VIEW_H

#include <stddef.h>

typedef struct live_view live_view;

/* Serves at where: "PORT", "ADDR:PORT" (an IPv4 address) or ":0"/"0" for any free
 * port on 127.0.0.1. title heads the page. NULL on failure (err_msg()). */
live_view *live_view_new(const char *where, const char *title, int keep);
/* The port it listens on (the one chosen when asked for 0). */
int live_view_port(const live_view *self);
/* Adds an image (png: len bytes, copied); label and digit -1 when unknown. 0 or -1. */
int live_view_add(live_view *self, const char *name, int label, int digit, const unsigned char *png,
                  size_t len);
/* Images added so far. */
long live_view_count(const live_view *self);
void live_view_destroy(live_view **self_p);

#endif
