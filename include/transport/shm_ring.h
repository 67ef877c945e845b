/* shm_ring: a single-producer, single-consumer ring of two-part messages in
 * POSIX shared memory, for frames between two processes on one host.
 *
 * Why: a ZeroMQ message between two processes wakes three threads (the
 * sender's I/O thread, the receiver's I/O thread, the receiver), each a
 * hypercall on a virtual machine; a ring wakes only the receiver, and only if
 * it sleeps. A link (link_lane.c) uses one ring per direction of data, keeping
 * ZeroMQ for the handshake, heartbeats and END_ACK.
 *
 * Layout: a header (capacity, head and tail byte counters, futex words) and
 * `capacity` bytes of messages, each [u32 a_len][u32 b_len][a][b] padded to 8
 * bytes. A message never wraps: when the rest of the buffer cannot hold it, the
 * producer leaves a WRAP marker (or, under 8 bytes, nothing) and starts again
 * at 0. Invariants: tail <= head <= tail + capacity; the producer writes only
 * [head, tail + capacity), the consumer reads only [tail, head); a message is
 * at most capacity / 2 bytes, so there is always room for it once the ring
 * empties. The consumer trusts nothing it reads: lengths are checked against
 * head and the capacity.
 *
 * Waiting: spin for a few microseconds, then sleep on a futex in slices the
 * caller bounds (so it can check heartbeats and its peer between them). The
 * waker makes the syscall only when the other side says it sleeps.
 *
 * Lifetime: the producer creates the object (name "/spikesynth-PID-N"); the
 * consumer maps it and unlinks the name at once, so nothing is left in
 * /dev/shm once both are up; the producer unlinks it too when destroyed
 * before that (shm_ring_unlink_stale cleans up after a crash in between).
 * The memory is reserved at creation (a full /dev/shm fails there, not with a
 * SIGBUS mid-run); a ring is at most 16 MiB, or two messages if larger. */
#ifndef SPIKESYNTH_SHM_RING_H
#define SPIKESYNTH_SHM_RING_H

#include <stdbool.h>
#include <stddef.h>

#define SHM_RING_NAME_MAX 64

typedef struct shm_ring shm_ring;

/* Creates a ring able to hold messages of up to max_message bytes (both parts)
 * and at least `depth` of them; its name (for shm_ring_open) in *name. */
shm_ring *shm_ring_create(size_t max_message, int depth, char name[SHM_RING_NAME_MAX]);
/* Maps the ring a producer created and unlinks its name. */
shm_ring *shm_ring_open(const char *name);
void shm_ring_destroy(shm_ring **self_p);

/* Microseconds a wait spins before it sleeps (default 20). */
void shm_ring_set_spin(shm_ring *self, int spin_us);
/* The largest message (a_len + b_len) the ring takes. */
size_t shm_ring_max_message(const shm_ring *self);

/* Producer: 1 written (and the consumer woken if it sleeps), 0 no room now,
 * -1 larger than shm_ring_max_message. */
int shm_ring_write(shm_ring *self, const void *a, size_t a_len, const void *b, size_t b_len);
/* Producer: waits up to timeout_ms for room for a message of a_len + b_len
 * bytes. 1: room, 0: not yet. */
int shm_ring_wait_room(shm_ring *self, size_t len, int timeout_ms);

/* Consumer: the oldest message, left in place until shm_ring_release.
 * 1: got one, 0: empty, -1: the ring's contents are corrupt (err_msg()). */
int shm_ring_peek(shm_ring *self, const void **a, size_t *a_len, const void **b, size_t *b_len);
void shm_ring_release(shm_ring *self);
/* Consumer: waits up to timeout_ms for a message. 1: one is there, 0: not yet. */
int shm_ring_wait_data(shm_ring *self, int timeout_ms);
bool shm_ring_has_data(const shm_ring *self);

/* Unlinks the rings a process of this pid created and never handed over
 * (after it died between creating and the consumer's open). */
void shm_ring_unlink_stale(long pid);

#endif
