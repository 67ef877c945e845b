/* log: stderr messages prefixed with the program name (see include/log.h).
 * The name and level are process-wide settings made once by main. */
#include "core/log.h"

#include <stdarg.h>
#include <stdio.h>

static const char *log_name = "spikesynth";
static enum log_level log_level = LOG_INFO;

void log_set_name(const char *name) { log_name = name; }
void log_set_level(enum log_level level) { log_level = level; }
enum log_level log_get_level(void) { return log_level; }

void log_msg(enum log_level level, const char *fmt, ...)
{
    static const char *tag[] = {"error: ", "warning: ", "", "debug: "};
    if (level > log_level)
        return;
    char line[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    /* one fprintf per line so lines from several processes do not interleave */
    fprintf(stderr, "%s: %s%s\n", log_name, tag[level], line);
}
