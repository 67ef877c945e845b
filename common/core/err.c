/* err: thread-local last-error message (see include/err.h). */
#include "core/err.h"

#include <stdio.h>
#include <string.h>

#define ERR_MAX 1024
static _Thread_local char err_buf[ERR_MAX];

int err_set(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err_buf, sizeof err_buf, fmt, ap);
    va_end(ap);
    return -1;
}

int err_wrap(const char *fmt, ...)
{
    char prefix[ERR_MAX], old[ERR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, err_buf, sizeof old);
    /* truncation is acceptable: the front of the message carries the context */
    size_t n = strlen(prefix);
    if (n > ERR_MAX - 3)
        n = ERR_MAX - 3;
    memcpy(err_buf, prefix, n);
    memcpy(err_buf + n, ": ", 2);
    size_t room = ERR_MAX - n - 3;
    size_t m = strnlen(old, room);
    memcpy(err_buf + n + 2, old, m);
    err_buf[n + 2 + m] = '\0';
    return -1;
}

const char *err_msg(void) { return err_buf; }
void err_clear(void) { err_buf[0] = '\0'; }
