/* interrupt: Ctrl-C (SIGINT) and SIGTERM caught by a program that stops at its
 * next safe point (a batch boundary) instead of dying in the middle of a
 * write: the first signal is recorded, a second one ends the process at once
 * (exit 128 + signal: the user means it). The handler is installed without
 * SA_RESTART, so blocking calls return EINTR and their waits look again.
 * Every stage (transport/stage.h) and the one-process trainer share it. */
#ifndef SPIKESYNTH_INTERRUPT_H
#define SPIKESYNTH_INTERRUPT_H

/* Installs the handler for SIGINT and SIGTERM. */
void interrupt_catch(void);
/* 0, or the first signal caught (SIGINT or SIGTERM). */
int interrupt_caught(void);

#endif
