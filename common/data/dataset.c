/* dataset: MNIST-style image sets from IDX files (see include/dataset.h).
 * Invariant: a dataset handed out has n images of n_pixels floats in [0, 1]
 * and n labels below DATASET_CLASSES. */
#include "data/dataset.h"

#include "core/err.h"
#include "data/idx.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int dataset_idx_path(char *buf, size_t len, const char *dir, const char *name, const char *split,
                     const char *kind)
{
    const char *sub, *prefix, *suffix;
    if (strcmp(name, "mnist") == 0)
        sub = "mnist";
    else if (strcmp(name, "fashion-mnist") == 0 || strcmp(name, "fashion") == 0)
        sub = "fashion-mnist";
    else
        return err_set("unknown data set '%s': expected mnist or fashion-mnist", name);
    if (strcmp(split, "train") == 0)
        prefix = "train";
    else if (strcmp(split, "test") == 0)
        prefix = "t10k";
    else
        return err_set("unknown split '%s' of %s: expected train or test", split, name);
    if (strcmp(kind, "images") == 0)
        suffix = "images-idx3-ubyte";
    else if (strcmp(kind, "labels") == 0)
        suffix = "labels-idx1-ubyte";
    else
        return err_set("unknown IDX kind '%s': expected images or labels", kind);

    int n = snprintf(buf, len, "%s/%s/%s-%s", dir, sub, prefix, suffix);
    if (n < 0 || (size_t)n + 3 >= len)
        return err_set("%s/%s/%s-%s: path too long", dir, sub, prefix, suffix);
    if (access(buf, F_OK) == 0)
        return 0;
    strcat(buf, ".gz");
    if (access(buf, F_OK) == 0)
        return 0;
    buf[n] = '\0';
    return err_set("%s: not found (nor %s.gz); run scripts/fetch-data --dir %s", buf, buf, dir);
}

dataset *dataset_load_images(const char *dir, const char *name, const char *split, size_t limit)
{
    char ipath[4096], lpath[4096];
    idx_array *img = NULL, *lab = NULL;
    dataset *self = NULL;
    if (dataset_idx_path(ipath, sizeof ipath, dir, name, split, "images") != 0 ||
        dataset_idx_path(lpath, sizeof lpath, dir, name, split, "labels") != 0)
        goto err;
    if (!(img = idx_read_limit(ipath, limit)) || !(lab = idx_read_limit(lpath, limit)))
        goto err;
    if (img->ndims != 3) {
        err_set("%s: expected 3 dimensions (items x rows x cols), got %d", ipath, img->ndims);
        goto err;
    }
    if (lab->ndims != 1) {
        err_set("%s: expected 1 dimension (items), got %d", lpath, lab->ndims);
        goto err;
    }
    if (img->dims[0] != lab->dims[0]) {
        err_set("%s holds %u images but %s holds %u labels", ipath, img->dims[0], lpath,
                lab->dims[0]);
        goto err;
    }
    for (size_t i = 0; i < lab->count; i++) {
        if (lab->data[i] >= DATASET_CLASSES) {
            err_set("%s: label %u of item %zu is not a class 0-%d", lpath, lab->data[i], i,
                    DATASET_CLASSES - 1);
            goto err;
        }
    }

    self = calloc(1, sizeof *self);
    if (!self) {
        err_set("%s: out of memory", ipath);
        goto err;
    }
    self->n = img->count;
    self->rows = img->dims[1];
    self->cols = img->dims[2];
    self->n_pixels = img->item_size;
    self->images = malloc(self->n * self->n_pixels * sizeof *self->images);
    if (!self->images) {
        err_set("%s: out of memory for %zu images", ipath, self->n);
        goto err;
    }
    for (size_t i = 0; i < self->n * self->n_pixels; i++)
        self->images[i] = img->data[i] / 255.0f; /* 255 maps to exactly 1 */
    /* the label bytes are taken over as they are */
    self->labels = lab->data;
    lab->data = NULL;
    idx_destroy(&img);
    idx_destroy(&lab);
    return self;
err:
    dataset_destroy(&self);
    idx_destroy(&img);
    idx_destroy(&lab);
    return NULL;
}

void dataset_destroy(dataset **self_p)
{
    if (!self_p || !*self_p)
        return;
    free((*self_p)->images);
    free((*self_p)->labels);
    free(*self_p);
    *self_p = NULL;
}
