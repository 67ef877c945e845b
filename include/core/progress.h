/* progress: a periodic stderr line for long loops, e.g.
 *   enc: step 1200, 12000/60000 samples (20.0%), loss 0.0231, 5400 samples/s, ETA 0:07
 * Rate-limited: at most one line per interval (1 s on a terminal, 15 s otherwise,
 * so logs captured by the runner stay short). The clock is passed in by the
 * *_at variants, so tests need no sleeping. */
#ifndef SPIKESYNTH_PROGRESS_H
#define SPIKESYNTH_PROGRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Under the runner (environment SPIKESYNTH_PROGRESS): "tty", its console is a
 * terminal, so a line a second, marked with PROGRESS_MARK, which the runner
 * redraws in place and keeps one of each 15 s in the stage's log; "log", 15 s.
 * Unset: 1 s when stderr is a terminal, 15 s otherwise. */
#define PROGRESS_MARK "\x1e"

typedef struct progress progress;

/* total: samples expected (0: unknown, no ETA). interval: seconds between lines,
 * 0 for the default (above). */
progress *progress_new(uint64_t total, double interval);
void progress_destroy(progress **self_p);

/* Records the position; prints a line when one is due. loss may be NAN (omitted).
 * Returns true when a line was printed. */
bool progress_update(progress *self, uint64_t step, uint64_t samples, double loss);
/* Prints the final line (always). */
void progress_finish(progress *self);

/* The same with an explicit monotonic clock in seconds; the line goes to buf
 * (when non-NULL) instead of stderr. Used by tests. */
progress *progress_new_at(uint64_t total, double interval, double now);
bool progress_update_at(progress *self, uint64_t step, uint64_t samples, double loss, double now,
                        char *buf, size_t cap);
void progress_format(const progress *self, double now, char *buf, size_t cap);

#endif
