/* progress: rate-limited progress lines (see include/progress.h).
 * The rate is the average since start: steadier ETAs than a sliding window. */
#include "core/progress.h"

#include "core/clock.h"
#include "core/log.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct progress {
    uint64_t total, step, samples;
    double loss;
    double interval, start, last;
    bool marked; /* lines the runner redraws (PROGRESS_MARK) */
};

progress *progress_new_at(uint64_t total, double interval, double now)
{
    progress *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->total = total;
    const char *mode = getenv("SPIKESYNTH_PROGRESS");
    bool tty = mode ? !strcmp(mode, "tty") : isatty(STDERR_FILENO);
    self->marked = mode && tty;
    self->interval = interval > 0 ? interval : tty ? 1.0 : 15.0;
    self->start = self->last = now;
    self->loss = NAN;
    return self;
}

progress *progress_new(uint64_t total, double interval)
{
    return progress_new_at(total, interval, clock_now());
}

void progress_destroy(progress **self_p)
{
    if (!self_p || !*self_p)
        return;
    free(*self_p);
    *self_p = NULL;
}

static void clock_fmt(double s, char *buf, size_t cap)
{
    long t = (long)(s + 0.5);
    if (t >= 3600)
        snprintf(buf, cap, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else
        snprintf(buf, cap, "%ld:%02ld", t / 60, t % 60);
}

void progress_format(const progress *self, double now, char *buf, size_t cap)
{
    double elapsed = now - self->start;
    double rate = elapsed > 0 ? (double)self->samples / elapsed : 0;
    int n = snprintf(buf, cap, "step %llu, ", (unsigned long long)self->step);
    if (self->total)
        n += snprintf(buf + n, cap > (size_t)n ? cap - n : 0, "%llu/%llu samples (%.1f%%)",
                      (unsigned long long)self->samples, (unsigned long long)self->total,
                      100.0 * (double)self->samples / (double)self->total);
    else
        n += snprintf(buf + n, cap > (size_t)n ? cap - n : 0, "%llu samples",
                      (unsigned long long)self->samples);
    if (!isnan(self->loss))
        n += snprintf(buf + n, cap > (size_t)n ? cap - n : 0, ", loss %.4g", self->loss);
    n += snprintf(buf + n, cap > (size_t)n ? cap - n : 0, ", %.0f samples/s", rate);
    if (self->total && rate > 0 && self->samples <= self->total) {
        char eta[32];
        clock_fmt((double)(self->total - self->samples) / rate, eta, sizeof eta);
        snprintf(buf + n, cap > (size_t)n ? cap - n : 0, ", ETA %s", eta);
    }
}

bool progress_update_at(progress *self, uint64_t step, uint64_t samples, double loss, double now,
                        char *buf, size_t cap)
{
    self->step = step;
    self->samples = samples;
    self->loss = loss;
    if (now - self->last < self->interval)
        return false;
    self->last = now;
    char line[256];
    progress_format(self, now, buf ? buf : line, buf ? cap : sizeof line);
    if (!buf)
        log_info("%s%s", self->marked ? PROGRESS_MARK : "", line);
    return true;
}

bool progress_update(progress *self, uint64_t step, uint64_t samples, double loss)
{
    return progress_update_at(self, step, samples, loss, clock_now(), NULL, 0);
}

void progress_finish(progress *self)
{
    char line[256];
    progress_format(self, clock_now(), line, sizeof line);
    log_info("%s (done)", line);
}
