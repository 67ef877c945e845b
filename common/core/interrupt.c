/* interrupt: the first SIGINT or SIGTERM recorded (see include/core/interrupt.h).
 * Invariant: caught is 0 until a signal arrives, then that signal, never changed. */
#include "core/interrupt.h"

#include <signal.h>
#include <unistd.h>

static volatile sig_atomic_t caught;

static void on_signal(int sig)
{
    if (caught)
        _exit(128 + sig); /* a second signal: the user means it */
    caught = sig;
}

void interrupt_catch(void)
{
    struct sigaction sa = {0};
    sa.sa_handler = on_signal; /* no SA_RESTART: blocking calls return EINTR and waits re-check */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

int interrupt_caught(void) { return caught; }
