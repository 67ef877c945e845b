/* judge: a trained classifier reading images, counting the right ones
 * (include/data/judge.h). */
#include "data/judge.h"

#include "core/err.h"
#include "data/ann_file.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define JUDGE_BATCH 100

struct judge {
    ann *net;
    size_t n_pixels, n, right;
    float *x; /* JUDGE_BATCH x n_pixels, the scaled maps */
};

judge *judge_open(const char *prefix, size_t n_pixels)
{
    judge *self = calloc(1, sizeof *self);
    if (!self) {
        err_set("judge: out of memory");
        return NULL;
    }
    if (!(self->net = ann_file_load(prefix, JUDGE_BATCH, ANN_LOSS_XENT)))
        goto fail;
    if ((size_t)self->net->cfg.sizes[0] != n_pixels) {
        err_set("classifier %s takes %d inputs, the images have %zu pixels", prefix, self->net->cfg.sizes[0],
                n_pixels);
        goto fail;
    }
    self->n_pixels = n_pixels;
    if (!(self->x = malloc(JUDGE_BATCH * n_pixels * sizeof *self->x))) {
        err_set("judge: out of memory");
        goto fail;
    }
    return self;
fail:
    judge_destroy(&self);
    return NULL;
}

void judge_destroy(judge **self_p)
{
    judge *self = self_p ? *self_p : NULL;
    if (!self)
        return;
    ann_destroy(&self->net);
    free(self->x);
    free(self);
    *self_p = NULL;
}

int judge_add(judge *self, const float *maps, const int32_t *labels, size_t n, int *classes)
{
    const size_t np = self->n_pixels;
    const int n_cls = self->net->cfg.sizes[self->net->cfg.n_layers];
    for (size_t i0 = 0; i0 < n; i0 += JUDGE_BATCH) {
        const size_t m = n - i0 < JUDGE_BATCH ? n - i0 : JUDGE_BATCH;
        for (size_t i = 0; i < m; i++) {
            const float *src = maps + (i0 + i) * np;
            float peak = 0;
            for (size_t j = 0; j < np; j++)
                peak = fmaxf(peak, src[j]);
            for (size_t j = 0; j < np; j++)
                self->x[i * np + j] = peak > 0 ? src[j] / peak : 0;
        }
        const float *y = ann_forward(self->net, self->x, (int)m);
        for (size_t i = 0; i < m; i++) {
            const int c = ann_argmax(y + i * (size_t)n_cls, n_cls);
            if (classes)
                classes[i0 + i] = c;
            if (labels[i0 + i] < 0)
                continue;
            self->n++;
            self->right += c == labels[i0 + i];
        }
    }
    return 0;
}

size_t judge_count(const judge *self) { return self->n; }
double judge_accuracy(const judge *self) { return self->n ? (double)self->right / (double)self->n : NAN; }

void judge_json(const judge *self, json_out *j)
{
    if (!self)
        return;
    json_out_num(j, "digit_accuracy", judge_accuracy(self));
    json_out_int(j, "n_judged", (int64_t)judge_count(self));
}
