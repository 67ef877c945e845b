/* loss_log: a training run's loss per batch, CSV and curve (see include/data/loss_log.h). */
#include "data/loss_log.h"

#include "core/atomic_file.h"
#include "core/err.h"
#include "core/log.h"
#include "data/line_plot.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct loss_log {
    atomic_file *csv;
    char *path;
};

loss_log *loss_log_new(const char *csv_path)
{
    loss_log *self = calloc(1, sizeof *self);
    if (!self || !(self->path = strdup(csv_path))) {
        free(self);
        err_set("%s: out of memory", csv_path);
        return NULL;
    }
    if (!(self->csv = atomic_file_new(csv_path))) {
        loss_log_destroy(&self);
        return NULL;
    }
    fprintf(atomic_file_stream(self->csv), "epoch,batch,samples,loss,masked_fraction\n");
    return self;
}

void loss_log_add(loss_log *self, int epoch, int64_t batch, int64_t samples, const loss_stats *batch_stats)
{
    fprintf(atomic_file_stream(self->csv), "%d,%lld,%lld,%.6g,%.6g\n", epoch, (long long)batch,
            (long long)samples, loss_stats_mean(batch_stats), loss_stats_masked_fraction(batch_stats));
}

int loss_log_finish(loss_log **self_p, const char *title)
{
    loss_log *self = *self_p;
    char png[4096];
    size_t n = strlen(self->path);
    int stem = (int)(n > 4 && strcmp(self->path + n - 4, ".csv") == 0 ? n - 4 : n);
    int rc = -1;
    if (snprintf(png, sizeof png, "%.*s.png", stem, self->path) >= (int)sizeof png)
        err_set("%s: path too long to name its loss plot", self->path);
    else if (atomic_file_commit(&self->csv) == 0 && line_plot_loss_csv(self->path, png, title) == 0)
        rc = 0;
    if (rc == 0)
        log_info("loss per batch in %s, its curve in %s", self->path, png);
    loss_log_destroy(self_p);
    return rc;
}

void loss_log_destroy(loss_log **self_p)
{
    loss_log *self = self_p ? *self_p : NULL;
    if (!self)
        return;
    atomic_file_destroy(&self->csv);
    free(self->path);
    free(self);
    *self_p = NULL;
}
