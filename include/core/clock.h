/* clock: the one monotonic clock of the tree (CLOCK_MONOTONIC), for timeouts,
 * deadlines and rates. Never the wall clock: it does not jump when the system
 * time is set, and differences of its readings are elapsed seconds. */
#ifndef SPIKESYNTH_CLOCK_H
#define SPIKESYNTH_CLOCK_H

/* Seconds since an arbitrary fixed point (boot), with nanosecond resolution. */
double clock_now(void);

#endif
