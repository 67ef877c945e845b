/* atomic_file: temporary name, then rename (see include/atomic_file.h).
 * Invariant: while self exists, tmp_path names a file only we write. */
#include "core/atomic_file.h"

#include "core/err.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct atomic_file {
    FILE *stream;
    char *path;
    char *tmp_path;
};

atomic_file *atomic_file_new(const char *path)
{
    atomic_file *self = calloc(1, sizeof *self);
    if (!self)
        goto oom;
    self->path = strdup(path);
    size_t n = strlen(path) + 32;
    self->tmp_path = malloc(n);
    if (!self->path || !self->tmp_path)
        goto oom;
    snprintf(self->tmp_path, n, "%s.tmp.%ld", path, (long)getpid());
    self->stream = fopen(self->tmp_path, "wb");
    if (!self->stream) {
        err_set("%s: cannot create: %s", self->tmp_path, strerror(errno));
        goto err;
    }
    return self;
oom:
    err_set("%s: out of memory", path);
err:
    if (self) {
        free(self->path);
        free(self->tmp_path);
        free(self);
    }
    return NULL;
}

FILE *atomic_file_stream(atomic_file *self) { return self->stream; }

int atomic_file_commit(atomic_file **self_p)
{
    atomic_file *self = *self_p;
    int rc = 0;
    if (fflush(self->stream) != 0 || ferror(self->stream) || fsync(fileno(self->stream)) != 0)
        rc = err_set("%s: write failed: %s", self->path, strerror(errno));
    if (fclose(self->stream) != 0 && rc == 0)
        rc = err_set("%s: close failed: %s", self->path, strerror(errno));
    self->stream = NULL;
    if (rc == 0 && rename(self->tmp_path, self->path) != 0)
        rc = err_set("%s: rename failed: %s", self->path, strerror(errno));
    if (rc != 0)
        unlink(self->tmp_path);
    free(self->path);
    free(self->tmp_path);
    free(self);
    *self_p = NULL;
    return rc;
}

void atomic_file_destroy(atomic_file **self_p)
{
    atomic_file *self = self_p ? *self_p : NULL;
    if (!self)
        return;
    if (self->stream)
        fclose(self->stream);
    unlink(self->tmp_path);
    free(self->path);
    free(self->tmp_path);
    free(self);
    *self_p = NULL;
}

int atomic_file_write(const char *path, const void *data, size_t len)
{
    atomic_file *f = atomic_file_new(path);
    if (!f)
        return -1;
    if (len && fwrite(data, 1, len, atomic_file_stream(f)) != len) {
        atomic_file_destroy(&f);
        return err_set("%s: write failed", path);
    }
    return atomic_file_commit(&f);
}
