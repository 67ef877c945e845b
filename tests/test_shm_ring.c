/* test_shm_ring: the shared-memory ring against a plain queue model: order and
 * bytes of messages of many sizes across wrap-arounds, a full ring refusing and
 * then taking a message, waits that time out and waits that wake, a producer
 * in another process, corrupt contents rejected, and no name left in /dev/shm. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/clock.h"
#include "core/err.h"
#include "transport/shm_ring.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

static bool name_exists(const char *name)
{
    int fd = shm_open(name, O_RDONLY, 0);
    if (fd < 0)
        return false;
    close(fd);
    return true;
}

/* A producer end and the consumer end of one new ring. */
static void ring_pair(size_t max_message, int depth, shm_ring **p, shm_ring **c)
{
    char name[SHM_RING_NAME_MAX];
    *p = shm_ring_create(max_message, depth, name);
    assert_non_null(*p);
    *c = shm_ring_open(name);
    assert_non_null(*c);
    assert_false(name_exists(name)); /* the consumer unlinked it */
}

/* Message i: a = i repeated a_len(i) bytes, b = ~i repeated b_len(i). */
static size_t a_len(unsigned i) { return (i * 37u) % 301; }
static size_t b_len(unsigned i) { return (i * 113u) % 997; }

static void fill(unsigned char *buf, size_t n, unsigned char v) { memset(buf, v, n); }

static void check_message(shm_ring *r, unsigned i)
{
    const void *a, *b;
    size_t al, bl;
    assert_int_equal(shm_ring_peek(r, &a, &al, &b, &bl), 1);
    assert_int_equal(al, a_len(i));
    assert_int_equal(bl, b_len(i));
    for (size_t k = 0; k < al; k++)
        assert_int_equal(((const unsigned char *)a)[k], (unsigned char)i);
    for (size_t k = 0; k < bl; k++)
        assert_int_equal(((const unsigned char *)b)[k], (unsigned char)~i);
    shm_ring_release(r);
}

static int write_message(shm_ring *r, unsigned i)
{
    unsigned char a[301], b[997];
    fill(a, a_len(i), (unsigned char)i);
    fill(b, b_len(i), (unsigned char)~i);
    return shm_ring_write(r, a, a_len(i), b, b_len(i));
}

static void test_order_and_bytes_across_wraps(void **state)
{
    (void)state;
    shm_ring *p, *c;
    ring_pair(1300, 3, &p, &c);
    /* a queue model: written - read messages in flight; the ring refuses only when full */
    unsigned written = 0, read = 0;
    for (int round = 0; round < 2000; round++) {
        int burst = round % 5;
        for (int k = 0; k < burst; k++) {
            int r = write_message(p, written);
            assert_true(r == 0 || r == 1);
            if (r == 0) {
                assert_true(written > read); /* only a non-empty ring can be full */
                break;
            }
            written++;
        }
        int take = (round * 7) % 4;
        for (int k = 0; k < take && read < written; k++)
            check_message(c, read++);
        assert_int_equal(shm_ring_has_data(c), read < written);
    }
    while (read < written)
        check_message(c, read++);
    const void *a, *b;
    size_t al, bl;
    assert_int_equal(shm_ring_peek(c, &a, &al, &b, &bl), 0);
    assert_true(written > 1000);
    shm_ring_destroy(&p);
    shm_ring_destroy(&c);
    assert_null(p);
}

static void test_full_ring_and_too_large(void **state)
{
    (void)state;
    shm_ring *p, *c;
    ring_pair(1000, 2, &p, &c);
    size_t max = shm_ring_max_message(p);
    assert_true(max >= 1000);
    static unsigned char big[1 << 16];
    assert_int_equal(shm_ring_write(p, big, max + 1, NULL, 0), -1);
    assert_non_null(strstr(err_msg(), "at most"));
    assert_int_equal(shm_ring_write(p, big, max, NULL, 0), 1);
    assert_int_equal(shm_ring_write(p, big, max, NULL, 0), 1);
    assert_int_equal(shm_ring_write(p, big, 8, NULL, 0), 0); /* full */
    double t0 = clock_now();
    assert_int_equal(shm_ring_wait_room(p, 8, 50), 0);
    assert_true(clock_now() - t0 >= 0.04);
    const void *a, *b;
    size_t al, bl;
    assert_int_equal(shm_ring_peek(c, &a, &al, &b, &bl), 1);
    assert_int_equal(al, max);
    shm_ring_release(c);
    assert_int_equal(shm_ring_wait_room(p, 8, 50), 1);
    assert_int_equal(shm_ring_write(p, big, 8, NULL, 0), 1);
    shm_ring_destroy(&p);
    shm_ring_destroy(&c);
}

static void test_wait_times_out_then_wakes(void **state)
{
    (void)state;
    shm_ring *p, *c;
    ring_pair(1300, 4, &p, &c);
    double t0 = clock_now();
    assert_int_equal(shm_ring_wait_data(c, 100), 0);
    double waited = clock_now() - t0;
    assert_true(waited >= 0.09 && waited < 1.0);
    /* a producer in another process, starting late and often finding the ring full;
     * 20,000 messages, so that a publication race would show as a wrong byte */
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        usleep(100000);
        for (unsigned i = 0; i < 20000; i++) {
            int r;
            while ((r = write_message(p, i)) == 0)
                shm_ring_wait_room(p, a_len(i) + b_len(i), 100);
            if (r < 0)
                _exit(1);
        }
        _exit(0);
    }
    t0 = clock_now();
    for (unsigned i = 0; i < 20000; i++) {
        assert_int_equal(shm_ring_wait_data(c, 2000), 1);
        if (i == 0) /* woken by the write, not by the 2 s timeout */
            assert_true(clock_now() - t0 < 1.5);
        check_message(c, i);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    shm_ring_destroy(&p);
    shm_ring_destroy(&c);
}

/* White-box: lengths that overrun what was published are refused, not followed. */
static void test_corrupt_lengths_rejected(void **state)
{
    (void)state;
    char name[SHM_RING_NAME_MAX];
    shm_ring *p = shm_ring_create(1000, 2, name);
    int fd = shm_open(name, O_RDWR, 0);
    assert_true(fd >= 0);
    unsigned char *m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    assert_true(m != MAP_FAILED);
    shm_ring *c = shm_ring_open(name);
    assert_non_null(c);
    uint32_t len[2] = {5000000, 0};
    memcpy(m + 256, len, 8);         /* the first message's lengths (data start at 256) */
    uint64_t head = 16;
    memcpy(m + 64, &head, 8);        /* head, as if 16 bytes were published */
    const void *a, *b;
    size_t al, bl;
    assert_int_equal(shm_ring_peek(c, &a, &al, &b, &bl), -1);
    assert_non_null(strstr(err_msg(), "corrupt"));
    munmap(m, 4096);
    shm_ring_destroy(&p);
    shm_ring_destroy(&c);
}

static void test_stale_names_removed(void **state)
{
    (void)state;
    char name[SHM_RING_NAME_MAX];
    shm_ring *p = shm_ring_create(100, 2, name);
    assert_true(name_exists(name));
    shm_ring_unlink_stale((long)getpid()); /* as the runner does after a stage died */
    assert_false(name_exists(name));
    assert_null(shm_ring_open(name));
    assert_non_null(strstr(err_msg(), "cannot open"));
    shm_ring_destroy(&p);
}

/* A ring left by an earlier process of our pid (killed before it unlinked
 * it) does not stop us making the ring of that name. */
static void test_left_by_a_dead_namesake(void **state)
{
    (void)state;
    char name[SHM_RING_NAME_MAX], next[SHM_RING_NAME_MAX];
    shm_ring *a = shm_ring_create(100, 2, name);
    assert_non_null(a);
    unsigned seq = 0;
    assert_int_equal(sscanf(strrchr(name, '-') + 1, "%u", &seq), 1);
    snprintf(next, sizeof next, "/spikesynth-%ld-%u", (long)getpid(), seq + 1);
    int fd = shm_open(next, O_CREAT | O_EXCL | O_RDWR, 0600);
    assert_true(fd >= 0);
    close(fd);
    shm_ring *b = shm_ring_create(100, 2, name);
    if (!b)
        fail_msg("a stale %s stopped the ring: %s", next, err_msg());
    assert_string_equal(name, next);
    shm_ring_destroy(&b);
    shm_ring_destroy(&a);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_order_and_bytes_across_wraps),
    cmocka_unit_test(test_full_ring_and_too_large),
    cmocka_unit_test(test_wait_times_out_then_wakes),
    cmocka_unit_test(test_corrupt_lengths_rejected),
    cmocka_unit_test(test_stale_names_removed),
    cmocka_unit_test(test_left_by_a_dead_namesake),
};

int main(void) { return cmocka_run_group_tests(tests, NULL, NULL); }
