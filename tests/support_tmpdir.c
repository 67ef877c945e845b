/* support_tmpdir: removing a test's temporary directory tree (see tests/tmpdir.h). */
#include "tmpdir.h"

#include <ftw.h>
#include <stdio.h>

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

int tmpdir_remove(const char *dir)
{
    /* depth first, not following links: files before the directories holding them */
    return nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS) == 0 ? 0 : -1;
}
