/* dir: mkdir -p (see include/core/dir.h). Each prefix ending at a '/' is made in
 * turn; EEXIST is not an error, and the result is checked once with stat. */
#include "core/dir.h"

#include "core/err.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

static int make_one(const char *path)
{
    if (mkdir(path, 0777) < 0 && errno != EEXIST)
        return err_set("%s: cannot create: %s", path, strerror(errno));
    return 0;
}

int dir_make(const char *path)
{
    char tmp[4096];
    if (!*path)
        return err_set("cannot create a directory with an empty name");
    if ((size_t)snprintf(tmp, sizeof tmp, "%s", path) >= sizeof tmp)
        return err_set("%.64s...: path too long", path);
    for (char *s = tmp + 1; *s; s++)
        if (*s == '/' && s[-1] != '/') {
            *s = '\0';
            int rc = make_one(tmp);
            *s = '/';
            if (rc < 0)
                return -1;
        }
    if (make_one(tmp) < 0)
        return -1;
    struct stat st;
    if (stat(path, &st) < 0 || !S_ISDIR(st.st_mode))
        return err_set("%s: not a directory", path);
    return 0;
}
