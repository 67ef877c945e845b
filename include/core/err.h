/* err: the last error of this thread, as one readable sentence.
 *
 * Library functions return 0 on success and -1 on failure; before returning -1
 * they call err_set() with a message that names the file, field or frame at
 * fault. The caller (usually a stage's main) prints err_msg() once and exits.
 * Thread-local, so worker threads never clobber each other's messages. */
#ifndef SPIKESYNTH_ERR_H
#define SPIKESYNTH_ERR_H

#include <stdarg.h>

/* Records a printf-style message and returns -1, so `return err_set(...)` reads well. */
int err_set(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prefixes the current message with more context ("reading model x.ssm: ..."). */
int err_wrap(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The current message, or "" when none was set. */
const char *err_msg(void);
void err_clear(void);

#endif
