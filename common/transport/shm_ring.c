/* shm_ring: SPSC ring of two-part messages in POSIX shared memory, with futex
 * waits (see include/shm_ring.h for the layout and invariants).
 *
 * Memory order: the producer fills a message, then publishes head (seq_cst);
 * the consumer reads head (acquire) before the bytes. A sleeper announces itself
 * (seq_cst store of *_sleeps) before its last look, and the waker reads that
 * flag after its publishing store: one of the two always sees the other, and
 * the futex word (*_seq, read before the announcement) closes the gap between
 * the last look and the sleep. */
#include "transport/shm_ring.h"

#include "core/clock.h"
#include "core/err.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define RING_MAGIC 0x53505352u /* "RSPS" */
#define RING_VERSION 1u
#define RING_HEADER 256        /* bytes before the data; keeps the data 64-byte aligned */
#define RING_WRAP 0xFFFFFFFFu  /* a_len of the marker that sends the reader back to 0 */
#define RING_MAX_BYTES (16u << 20) /* beyond this depth, not size, is what gives */

struct ring_shared {
    uint32_t magic, version;
    uint64_t capacity;
    _Alignas(64) _Atomic uint64_t head; /* bytes ever written (producer) */
    _Atomic uint32_t data_seq;          /* futex word: bumped when a sleeping consumer is woken */
    _Atomic uint32_t consumer_sleeps;
    _Alignas(64) _Atomic uint64_t tail; /* bytes ever consumed (consumer) */
    _Atomic uint32_t room_seq;          /* futex word: bumped when a sleeping producer is woken */
    _Atomic uint32_t producer_sleeps;
};
_Static_assert(sizeof(struct ring_shared) <= RING_HEADER, "ring header too large");

struct shm_ring {
    struct ring_shared *sh;
    unsigned char *data;
    uint64_t cap;
    size_t map_len;
    bool producer, linked;
    uint64_t head, tail; /* this side's own counter (the other's is read from sh) */
    uint64_t next_tail;  /* consumer: tail after the peeked message */
    int spin_us;
    char name[SHM_RING_NAME_MAX];
};

static atomic_uint ring_seq;

static uint64_t round8(uint64_t n) { return (n + 7) & ~(uint64_t)7; }

static void futex_wait(_Atomic uint32_t *word, uint32_t seen, int timeout_ms)
{
    struct timespec ts = {timeout_ms / 1000, (long)(timeout_ms % 1000) * 1000000L};
    syscall(SYS_futex, (uint32_t *)word, FUTEX_WAIT, seen, &ts, NULL, 0);
}

static void futex_wake(_Atomic uint32_t *word)
{
    atomic_fetch_add(word, 1);
    syscall(SYS_futex, (uint32_t *)word, FUTEX_WAKE, 1, NULL, NULL, 0);
}

static shm_ring *ring_map(int fd, const char *name, size_t map_len, bool producer)
{
    shm_ring *self = calloc(1, sizeof *self);
    if (!self) {
        err_set("shared-memory ring %s: out of memory", name);
        return NULL;
    }
    void *p = mmap(NULL, map_len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) {
        err_set("shared-memory ring %s: mmap of %zu bytes: %s", name, map_len, strerror(errno));
        free(self);
        return NULL;
    }
    self->sh = p;
    self->data = (unsigned char *)p + RING_HEADER;
    self->map_len = map_len;
    self->producer = producer;
    self->spin_us = 20;
    snprintf(self->name, sizeof self->name, "%s", name);
    return self;
}

shm_ring *shm_ring_create(size_t max_message, int depth, char name[SHM_RING_NAME_MAX])
{
    uint64_t msg = round8(8 + (uint64_t)max_message);
    uint64_t cap = msg * (uint64_t)(depth > 2 ? depth : 2);
    if (cap > RING_MAX_BYTES)
        cap = RING_MAX_BYTES > 2 * msg ? RING_MAX_BYTES : 2 * msg;
    snprintf(name, SHM_RING_NAME_MAX, "/spikesynth-%ld-%u", (long)getpid(),
             atomic_fetch_add(&ring_seq, 1));
    int fd = shm_open(name, O_CREAT | O_EXCL | O_RDWR, 0600);
    if (fd < 0 && errno == EEXIST) {
        /* the name carries our pid: its maker was an earlier process of that
         * pid, killed before it could unlink the ring (pids are reused) */
        shm_unlink(name);
        fd = shm_open(name, O_CREAT | O_EXCL | O_RDWR, 0600);
    }
    if (fd < 0) {
        err_set("shared-memory ring %s: cannot create: %s", name, strerror(errno));
        return NULL;
    }
    shm_ring *self = NULL;
    /* reserved now, so a full /dev/shm is an error here rather than a SIGBUS later */
    int rc = posix_fallocate(fd, 0, (off_t)(RING_HEADER + cap));
    if (rc != 0) {
        err_set("shared-memory ring %s: cannot reserve %llu bytes in /dev/shm: %s (use "
                "--transport zmq, or give /dev/shm more room)", name,
                (unsigned long long)(RING_HEADER + cap), strerror(rc));
        goto done;
    }
    if (!(self = ring_map(fd, name, RING_HEADER + cap, true)))
        goto done;
    self->cap = cap;
    self->linked = true;
    self->sh->capacity = cap;
    self->sh->version = RING_VERSION;
    atomic_store(&self->sh->head, 0);
    atomic_store(&self->sh->tail, 0);
    atomic_store((_Atomic uint32_t *)&self->sh->magic, RING_MAGIC);
done:
    close(fd);
    if (!self)
        shm_unlink(name);
    return self;
}

shm_ring *shm_ring_open(const char *name)
{
    int fd = shm_open(name, O_RDWR, 0);
    if (fd < 0) {
        err_set("shared-memory ring %s: cannot open: %s", name, strerror(errno));
        return NULL;
    }
    shm_unlink(name); /* both ends hold it now; nothing to leave behind */
    shm_ring *self = NULL;
    struct stat st;
    if (fstat(fd, &st) != 0 || st.st_size < RING_HEADER + 16) {
        err_set("shared-memory ring %s: too small (%lld bytes)", name, (long long)st.st_size);
        goto done;
    }
    if (!(self = ring_map(fd, name, (size_t)st.st_size, false)))
        goto done;
    const struct ring_shared *sh = self->sh;
    if (sh->magic != RING_MAGIC || sh->version != RING_VERSION || sh->capacity % 8 ||
        sh->capacity > (uint64_t)st.st_size - RING_HEADER || sh->capacity < 16) {
        err_set("shared-memory ring %s: not a ring of this version (magic %08x, version %u, "
                "capacity %llu in %lld bytes)", name, sh->magic, sh->version,
                (unsigned long long)sh->capacity, (long long)st.st_size);
        shm_ring_destroy(&self);
        goto done;
    }
    self->cap = sh->capacity;
    self->tail = self->next_tail = atomic_load(&self->sh->tail);
done:
    close(fd);
    return self;
}

void shm_ring_destroy(shm_ring **self_p)
{
    shm_ring *self = self_p ? *self_p : NULL;
    if (!self)
        return;
    if (self->linked)
        shm_unlink(self->name); /* ENOENT once the consumer has opened it */
    munmap(self->sh, self->map_len);
    free(self);
    *self_p = NULL;
}

void shm_ring_set_spin(shm_ring *self, int spin_us) { self->spin_us = spin_us < 0 ? 0 : spin_us; }

size_t shm_ring_max_message(const shm_ring *self) { return (size_t)(self->cap / 2 - 8); }

/* ---- producer ---------------------------------------------------------------- */

/* Bytes the next message of `total` bytes takes from head, its padding included. */
static uint64_t bytes_needed(const shm_ring *self, uint64_t total)
{
    uint64_t rest = self->cap - self->head % self->cap;
    return rest < total ? rest + total : total;
}

static bool has_room(const shm_ring *self, uint64_t total)
{
    uint64_t tail = atomic_load_explicit(&self->sh->tail, memory_order_acquire);
    return self->head + bytes_needed(self, total) - tail <= self->cap;
}

int shm_ring_write(shm_ring *self, const void *a, size_t a_len, const void *b, size_t b_len)
{
    uint64_t total = round8(8 + (uint64_t)a_len + b_len);
    if (total > self->cap / 2)
        return err_set("shared-memory ring %s: message of %zu bytes, the ring takes at most %zu",
                       self->name, a_len + b_len, shm_ring_max_message(self));
    if (!has_room(self, total))
        return 0;
    uint64_t p = self->head % self->cap, rest = self->cap - p;
    if (rest < total) { /* start again at 0; a marker tells the reader, if it fits */
        if (rest >= 8) {
            uint32_t wrap = RING_WRAP;
            memcpy(self->data + p, &wrap, 4);
        }
        self->head += rest;
        p = 0;
    }
    uint32_t len[2] = {(uint32_t)a_len, (uint32_t)b_len};
    memcpy(self->data + p, len, 8);
    if (a_len)
        memcpy(self->data + p + 8, a, a_len);
    if (b_len)
        memcpy(self->data + p + 8 + a_len, b, b_len);
    self->head += total;
    atomic_store(&self->sh->head, self->head);
    atomic_thread_fence(memory_order_seq_cst); /* publish before looking for a sleeper */
    if (atomic_load(&self->sh->consumer_sleeps))
        futex_wake(&self->sh->data_seq);
    return 1;
}

/* Spins, then sleeps once on word; ready() is checked around both. */
static int wait_until(shm_ring *self, bool (*ready)(const shm_ring *, uint64_t), uint64_t arg,
                      _Atomic uint32_t *word, _Atomic uint32_t *sleeps, int timeout_ms)
{
    if (ready(self, arg))
        return 1;
    double start = clock_now();
    while ((clock_now() - start) * 1e6 < self->spin_us)
        for (int i = 0; i < 64; i++) {
            if (ready(self, arg))
                return 1;
            __builtin_ia32_pause();
        }
    uint32_t seen = atomic_load(word);
    atomic_store(sleeps, 1);
    atomic_thread_fence(memory_order_seq_cst); /* the flag before the last look (Dekker) */
    if (!ready(self, arg))
        futex_wait(word, seen, timeout_ms);
    atomic_store(sleeps, 0);
    return ready(self, arg);
}

static bool room_ready(const shm_ring *self, uint64_t total) { return has_room(self, total); }

int shm_ring_wait_room(shm_ring *self, size_t len, int timeout_ms)
{
    return wait_until(self, room_ready, round8(8 + (uint64_t)len), &self->sh->room_seq,
                      &self->sh->producer_sleeps, timeout_ms);
}

/* ---- consumer ---------------------------------------------------------------- */

bool shm_ring_has_data(const shm_ring *self)
{
    return atomic_load_explicit(&self->sh->head, memory_order_acquire) != self->tail;
}

static bool data_ready(const shm_ring *self, uint64_t unused)
{
    (void)unused;
    return shm_ring_has_data(self);
}

int shm_ring_wait_data(shm_ring *self, int timeout_ms)
{
    return wait_until(self, data_ready, 0, &self->sh->data_seq, &self->sh->consumer_sleeps,
                      timeout_ms);
}

int shm_ring_peek(shm_ring *self, const void **a, size_t *a_len, const void **b, size_t *b_len)
{
    uint64_t head = atomic_load_explicit(&self->sh->head, memory_order_acquire);
    uint64_t tail = self->tail;
    if (head == tail)
        return 0;
    if (head - tail > self->cap || head < tail)
        return err_set("shared-memory ring %s: corrupt (head %llu, tail %llu, capacity %llu)",
                       self->name, (unsigned long long)head, (unsigned long long)tail,
                       (unsigned long long)self->cap);
    uint64_t p = tail % self->cap, rest = self->cap - p;
    uint32_t len[2] = {0, 0};
    if (rest >= 8)
        memcpy(len, self->data + p, 8);
    if (rest < 8 || len[0] == RING_WRAP) {
        tail += rest;
        p = 0;
        if (head - tail < 8)
            return err_set("shared-memory ring %s: corrupt (a wrap with no message after it)",
                           self->name);
        memcpy(len, self->data, 8);
    }
    uint64_t total = round8(8 + (uint64_t)len[0] + len[1]);
    if (len[0] == RING_WRAP || total > self->cap - p || total > head - tail)
        return err_set("shared-memory ring %s: corrupt message lengths %u + %u at offset %llu "
                       "(%llu bytes published)", self->name, len[0], len[1],
                       (unsigned long long)p, (unsigned long long)(head - tail));
    *a = self->data + p + 8;
    *a_len = len[0];
    *b = self->data + p + 8 + len[0];
    *b_len = len[1];
    self->next_tail = tail + total;
    return 1;
}

void shm_ring_release(shm_ring *self)
{
    self->tail = self->next_tail;
    atomic_store(&self->sh->tail, self->tail);
    atomic_thread_fence(memory_order_seq_cst);
    if (atomic_load(&self->sh->producer_sleeps))
        futex_wake(&self->sh->room_seq);
}

void shm_ring_unlink_stale(long pid)
{
    DIR *d = opendir("/dev/shm");
    if (!d)
        return;
    char prefix[48];
    int n = snprintf(prefix, sizeof prefix, "spikesynth-%ld-", pid);
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strncmp(e->d_name, prefix, (size_t)n))
            continue;
        char name[NAME_MAX + 2];
        snprintf(name, sizeof name, "/%s", e->d_name);
        shm_unlink(name);
    }
    closedir(d);
}
