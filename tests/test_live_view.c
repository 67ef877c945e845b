/* test_live_view: the live view's page, images, state and event stream over real
 * HTTP on 127.0.0.1 (a raw socket client, no library), the ring of kept images,
 * a late client catching up, and bad addresses refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/err.h"
#include "data/image_grid.h"
#include "data/live_view.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* GET path; reads until the server closes or `want` appears or ms pass; the
 * whole response (headers too), NUL-terminated, in a static buffer. */
static const char *http_get(int port, const char *path, const char *want, int ms)
{
    static char buf[1 << 16];
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    char req[256];
    int n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n", path);
    assert_int_equal(write(fd, req, (size_t)n), n);
    size_t len = 0;
    for (;;) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, ms) <= 0)
            break;
        ssize_t r = read(fd, buf + len, sizeof buf - 1 - len);
        if (r <= 0)
            break;
        len += (size_t)r;
        buf[len] = '\0';
        if (want && strstr(buf, want))
            break;
    }
    buf[len] = '\0';
    close(fd);
    return buf;
}

static void add_image(live_view *v, const char *name, float gray)
{
    float img[4] = {gray, 0, 0, gray};
    unsigned char *png;
    size_t len;
    assert_int_equal(image_grid_encode_png(img, 1, 2, 2, 1, NULL, &png, &len), 0);
    assert_memory_equal(png, "\x89PNG", 4);
    assert_int_equal(live_view_add(v, name, 3, 3, png, len), 0);
    free(png);
}

static void test_page_images_state(void **state)
{
    (void)state;
    live_view *v = live_view_new("127.0.0.1:0", "test view", 3);
    assert_non_null(v);
    int port = live_view_port(v);
    assert_true(port > 0);
    const char *page = http_get(port, "/", NULL, 2000);
    assert_non_null(strstr(page, "200 OK"));
    assert_non_null(strstr(page, "<title>test view</title>"));
    assert_non_null(strstr(page, "new EventSource('/events')"));
    for (int i = 0; i < 5; i++) {
        char name[16];
        snprintf(name, sizeof name, "utt-%d", i);
        add_image(v, name, 0.2f * (float)i);
    }
    assert_int_equal(live_view_count(v), 5);
    /* the ring keeps the last 3: 2, 3, 4 */
    assert_non_null(strstr(http_get(port, "/img/4.png", NULL, 2000), "image/png"));
    assert_non_null(strstr(http_get(port, "/img/2.png", NULL, 2000), "\x89PNG"));
    assert_non_null(strstr(http_get(port, "/img/1.png", NULL, 2000), "404"));
    assert_non_null(strstr(http_get(port, "/img/x.png", NULL, 2000), "404"));
    assert_non_null(strstr(http_get(port, "/nothing", NULL, 2000), "404"));
    const char *st = http_get(port, "/state.json", NULL, 2000);
    assert_non_null(strstr(st, "\"count\": 5"));
    assert_non_null(strstr(st, "\"name\": \"utt-2\""));
    assert_null(strstr(st, "\"name\": \"utt-1\""));
    live_view_destroy(&v);
    assert_null(v);
}

/* A client connecting after images were made first gets the kept ones, in
 * order, then each new one as it is added. */
static void test_event_stream(void **state)
{
    (void)state;
    live_view *v = live_view_new("0", "events", 4);
    assert_non_null(v);
    int port = live_view_port(v);
    add_image(v, "first", 0.5f);
    add_image(v, "second", 0.7f);
    const char *ev = http_get(port, "/events", "\"second\"", 3000);
    assert_non_null(strstr(ev, "text/event-stream"));
    const char *a = strstr(ev, "id: 0\ndata: {"), *b = strstr(ev, "id: 1\ndata: {");
    assert_non_null(a);
    assert_non_null(b);
    assert_true(a < b);
    assert_non_null(strstr(ev, "\"digit\": 3"));
    /* each event's JSON is one line: SSE data ends at a newline */
    const char *data = strstr(a, "data: ");
    assert_true(strchr(data, '\n') > strstr(data, "unix_time"));
    live_view_destroy(&v);
}

static void test_bad_addresses(void **state)
{
    (void)state;
    assert_null(live_view_new("127.0.0.1:99999", "x", 2));
    assert_non_null(strstr(err_msg(), "the port must be 0 to 65535"));
    assert_null(live_view_new("localhost:8080", "x", 2));
    assert_non_null(strstr(err_msg(), "'localhost' is not an IPv4 address"));
    live_view *v = live_view_new("127.0.0.1:0", "x", 2);
    assert_non_null(v);
    char taken[32];
    snprintf(taken, sizeof taken, "127.0.0.1:%d", live_view_port(v));
    assert_null(live_view_new(taken, "x", 2));
    assert_non_null(strstr(err_msg(), "cannot listen there"));
    live_view_destroy(&v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_page_images_state),
        cmocka_unit_test(test_event_stream),
        cmocka_unit_test(test_bad_addresses),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
