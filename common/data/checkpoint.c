/* checkpoint: a training layer's state at a batch boundary, in a format-3
 * model file beside its model (see include/data/checkpoint.h). */
#include "data/checkpoint.h"

#include "core/err.h"
#include "core/log.h"
#include "core/preflight.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void checkpoint_path(const char *path, int k, char *buf, size_t cap)
{
    model_checkpoint_path(path, buf, cap);
    size_t n = strlen(buf);
    if (k == 0 || n + 6 > cap)
        return;
    if (n > 4 && !strcmp(buf + n - 4, ".ssm"))
        memcpy(buf + n - 4, ".prev.ssm", 10);
    else
        memcpy(buf + n, ".prev", 6);
}

int checkpoint_save(const lif_layer *layer, const char *kind, const model *info, const char *path)
{
    model *m = model_from_training(layer, kind, info);
    const optim_state *os = lif_layer_optim(layer);
    if (!m)
        return -1;
    m->state = (model_state){.present = true, .loss = info->state.loss};
    if (os) {
        m->state.opt_step = os->step;
        m->state.opt_updates = os->updates;
    }
    /* borrowed for the write: model_destroy must not free the layer's moments */
    m->state.m = os ? os->m : NULL;
    m->state.v = os ? os->v : NULL;
    char now[4096], prev[4096];
    checkpoint_path(path, 0, now, sizeof now);
    checkpoint_path(path, 1, prev, sizeof prev);
    int rc = 0;
    if (rename(now, prev) < 0 && errno != ENOENT)
        rc = err_set("%s: cannot keep it as %s: %s", now, prev, strerror(errno));
    if (rc == 0)
        rc = model_save(m, now);
    m->state.m = m->state.v = NULL;
    model_destroy(&m);
    return rc;
}

int checkpoint_points(const char *path, int64_t *batches)
{
    int n = 0;
    for (int k = 0; k < CHECKPOINT_KEEP; k++) {
        char p[4096];
        checkpoint_path(path, k, p, sizeof p);
        model *m = model_load(p);
        if (m && m->state.present)
            batches[n++] = m->batches;
        model_destroy(&m);
    }
    return n;
}

/* "30, 27" */
static void list_points(const int64_t *b, int n, char *buf, size_t cap)
{
    buf[0] = '\0';
    for (int i = 0; i < n; i++) {
        size_t at = strlen(buf);
        snprintf(buf + at, cap - at, "%s%" PRId64, i ? ", " : "", b[i]);
    }
}

int checkpoint_common(const char *const *paths, int n, int64_t *batches)
{
    int64_t pts[16][PREFLIGHT_RESUME_MAX];
    int np[16];
    if (n <= 0 || n > 16)
        return err_set("checkpoint_common: %d layers", n);
    for (int i = 0; i < n; i++)
        if ((np[i] = checkpoint_points(paths[i], pts[i])) == 0) {
            char p[4096];
            checkpoint_path(paths[i], 0, p, sizeof p);
            return err_set("no checkpoint to resume from: %s (or its .prev) is missing or unreadable",
                           p);
        }
    const int64_t best = preflight_newest_common((const int64_t(*)[PREFLIGHT_RESUME_MAX])pts, np, n);
    if (best < 0) {
        char a[64], b[64];
        list_points(pts[0], np[0], a, sizeof a);
        list_points(pts[n > 1], np[n > 1], b, sizeof b);
        return err_set("the checkpoints are not of one batch: %s holds batches %s, %s batches %s "
                       "(no consistent set to resume from)", paths[0], a, paths[n > 1], b);
    }
    *batches = best;
    return 0;
}

/* The checkpoint must be of this training: what would make it go on otherwise. */
static int check_same(const model *m, const char *p, const char *kind, const lif_layer *layer,
                      const model *info)
{
    const optim_params *a = &m->opt, *b = &layer->opt;
    const char *field = strcmp(m->kind, kind) ? "kind"
                        : m->n_in != layer->n_in || m->n_out != layer->n_out ? "shape"
                        : m->seed != info->seed ? "seed"
                        : info->steps && m->steps != info->steps ? "steps"
                        : m->mask != info->mask ? "mask"
                        : a->kind != b->kind ? "optimizer"
                        : a->lr != b->lr || a->beta1 != b->beta1 || a->beta2 != b->beta2 || a->eps != b->eps
                            ? "lr or Adam's betas and eps"
                        : a->weight_decay != b->weight_decay ? "weight decay"
                        : a->carry_moments != b->carry_moments ? "carry-moments"
                        : m->lif.leak != layer->lif.leak || m->lif.threshold != layer->lif.threshold
                            ? "leak or threshold"
                            : NULL;
    if (field)
        return err_set("%s: made by another training (its %s differs from this run's): resume with "
                       "the settings of the run it continues", p, field);
    return 0;
}

int checkpoint_restore(lif_layer *layer, const char *kind, const char *path, int64_t batches, model *info)
{
    char p[4096];
    model *m = NULL;
    for (int k = 0; k < CHECKPOINT_KEEP && !m; k++) {
        checkpoint_path(path, k, p, sizeof p);
        if ((m = model_load(p)) && (!m->state.present || m->batches != batches))
            model_destroy(&m);
    }
    if (!m) {
        checkpoint_path(path, 0, p, sizeof p);
        return err_set("%s (or its .prev): no checkpoint of %" PRId64 " batches", p, batches);
    }
    optim_state *os = lif_layer_optim(layer);
    int rc = check_same(m, p, kind, layer, info);
    if (rc == 0 && os && os->m && !m->state.m)
        rc = err_set("%s: holds no Adam moments", p);
    if (rc == 0) {
        model_to_layer(m, layer);
        if (os) {
            os->step = m->state.opt_step;
            os->updates = m->state.opt_updates;
        }
        if (os && os->m) {
            memcpy(os->m, m->state.m, os->n * sizeof *os->m);
            memcpy(os->v, m->state.v, os->n * sizeof *os->v);
        }
        info->epochs = m->epochs;
        info->batches = m->batches;
        info->samples = m->samples;
        info->lineage = m->lineage;
        info->state.loss = m->state.loss;
    }
    model_destroy(&m);
    return rc;
}

void checkpoint_remove(const char *path)
{
    for (int k = 0; k < CHECKPOINT_KEEP; k++) {
        char p[4096];
        checkpoint_path(path, k, p, sizeof p);
        remove(p);
    }
}

int checkpoint_resume_option(const char *value, int64_t *batches)
{
    if (!strcmp(value, "false"))
        return 0;
    if (!strcmp(value, "true"))
        return 1;
    char *end;
    errno = 0;
    long long n = strtoll(value, &end, 10);
    if (errno || end == value || *end || n <= 0)
        return err_set("--resume=%s: give true, false or a batch count N > 0", value);
    *batches = n;
    return 2;
}

int checkpoint_resume_point(const char *const *saves, int n, const char *resume, int64_t *batches)
{
    const int mode = checkpoint_resume_option(resume, batches);
    if (mode <= 0)
        return mode;
    for (int i = 0; i < n; i++)
        if (!*saves[i])
            return err_set("--resume needs --save: the checkpoints lie beside the model it names");
    return mode == 2 || checkpoint_common(saves, n, batches) == 0 ? 1 : -1;
}

int checkpoint_resume(lif_layer *layer, const char *kind, const char *save, const char *resume, model *info)
{
    int64_t batches = 0;
    const int mode = checkpoint_resume_point(&save, 1, resume, &batches);
    if (mode <= 0)
        return mode;
    if (checkpoint_restore(layer, kind, save, batches, info) < 0)
        return -1;
    log_info("resuming after batch %lld (%lld samples) from the checkpoint of %s", (long long)info->batches,
             (long long)info->samples, save);
    return 1;
}

/* The counts of saves[0]'s checkpoints that every one of the n holds; how many. */
int checkpoint_source_option(const char *value, int64_t *batches)
{
    *batches = 0;
    const int mode = checkpoint_resume_option(value, batches);
    if (mode == 1)
        return err_set("--resume=true: the batch to start after is the training stages' (a pipeline's "
                       "resume=true finds it): give --resume=N");
    return mode < 0 ? -1 : 0;
}

static int points_everywhere(const char *const *saves, int n, int64_t *out)
{
    int64_t first[PREFLIGHT_RESUME_MAX], pts[PREFLIGHT_RESUME_MAX];
    int n_out = 0, n0 = checkpoint_points(saves[0], first);
    for (int k = 0; k < n0; k++) {
        bool everywhere = true;
        for (int i = 1; i < n && everywhere; i++) {
            const int np = checkpoint_points(saves[i], pts);
            everywhere = false;
            for (int j = 0; j < np; j++)
                everywhere |= pts[j] == first[k];
        }
        if (everywhere)
            out[n_out++] = first[k];
    }
    return n_out;
}

int checkpoint_preflight(const char *const *saves, int n, const char *resume)
{
    int64_t batches = 0, pts[PREFLIGHT_RESUME_MAX];
    const int mode = checkpoint_resume_option(resume, &batches);
    if (mode != 1)
        return mode < 0 ? -1 : 0;
    /* its errors: no --save, none to resume from, none in common */
    if (checkpoint_resume_point(saves, n, resume, &batches) < 0)
        return -1;
    preflight_say_resume(pts, points_everywhere(saves, n, pts));
    return 0;
}

int checkpoint_every(const lif_layer *layer, const char *kind, const model *info, const char *save, int64_t every)
{
    if (every <= 0 || !*save || info->batches % every)
        return 0;
    return checkpoint_save(layer, kind, info, save);
}

void checkpoint_position(int64_t batches, size_t n, size_t batch, int64_t *epoch, size_t *start)
{
    const int64_t per_epoch = (int64_t)((n + batch - 1) / batch);
    *epoch = per_epoch > 0 ? batches / per_epoch : 0;
    *start = per_epoch > 0 ? (size_t)(batches % per_epoch) * batch : 0;
}
