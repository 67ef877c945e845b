/* ann_file: dense networks as one model file per layer, the bias as the last
 * input column (include/data/ann_file.h). */
#include "data/ann_file.h"

#include "core/err.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int ann_file_path(char *buf, size_t len, const char *prefix, int layer)
{
    if ((size_t)snprintf(buf, len, "%s-layer%d.ssm", prefix, layer) >= len)
        return err_set("%s: model path too long", prefix);
    return 0;
}

static int save_layer(const ann_layer *L, const ann_config *c, const model *info, const char *path)
{
    model m = info ? *info : (model){0};
    const int n_in = L->n_in + 1;
    snprintf(m.kind, sizeof m.kind, "ann-%s", ann_activation_name(L->act));
    m.n_in = n_in;
    m.n_out = L->n_out;
    m.lif = (lif_params){0};
    m.opt = c->opt;
    if (!(m.w = malloc((size_t)n_in * L->n_out * sizeof *m.w)))
        return err_set("%s: out of memory", path);
    for (int r = 0; r < L->n_out; r++) {
        memcpy(m.w + (size_t)r * n_in, L->w + (size_t)r * L->n_in, (size_t)L->n_in * sizeof *m.w);
        m.w[(size_t)r * n_in + L->n_in] = L->b[r];
    }
    const int rc = model_save(&m, path);
    free(m.w);
    return rc;
}

int ann_file_save(const ann *net, const char *prefix, const model *info)
{
    char path[4096];
    for (int l = 0; l < net->cfg.n_layers; l++)
        if (ann_file_path(path, sizeof path, prefix, l + 1) != 0 ||
            save_layer(&net->layer[l], &net->cfg, info, path) != 0)
            return -1;
    /* a longer network saved here before must not leave its extra layers behind */
    if (ann_file_path(path, sizeof path, prefix, net->cfg.n_layers + 1) != 0)
        return -1;
    if (unlink(path) != 0 && errno != ENOENT)
        return err_set("%s: cannot remove: %s", path, strerror(errno));
    return 0;
}

/* The layers' files into m[], their count into *n; the config from them. */
static int load_layers(const char *prefix, model **m, int *n, ann_config *c)
{
    char path[4096];
    *n = 0;
    for (int l = 0; l < ANN_MAX_LAYERS; l++) {
        if (ann_file_path(path, sizeof path, prefix, l + 1) != 0)
            return -1;
        if (access(path, F_OK) != 0)
            break;
        if (!(m[l] = model_load(path)))
            return -1;
        *n = l + 1;
        if (strncmp(m[l]->kind, "ann-", 4) != 0 || ann_activation_parse(m[l]->kind + 4, &c->act[l]) != 0)
            return err_set("%s: kind '%s' is not a dense layer (ann-ACT)", path, m[l]->kind);
        if (m[l]->n_in < 2 || (l > 0 && m[l]->n_in - 1 != c->sizes[l]))
            return err_set("%s: %d inputs (bias included) do not follow the layer before (%d outputs)", path,
                           m[l]->n_in, c->sizes[l]);
        c->sizes[l] = m[l]->n_in - 1;
        c->sizes[l + 1] = m[l]->n_out;
        c->opt = m[l]->opt;
    }
    if (*n == 0) {
        ann_file_path(path, sizeof path, prefix, 1);
        return err_set("%s: no such model (a dense network's first layer)", path);
    }
    c->n_layers = *n;
    c->seed = m[0]->seed;
    return 0;
}

ann *ann_file_load(const char *prefix, int max_batch, ann_loss loss)
{
    model *m[ANN_MAX_LAYERS] = {0};
    ann_config c = {0};
    ann *net = NULL;
    int n = 0;
    if (load_layers(prefix, m, &n, &c) != 0)
        goto done;
    c.loss = c.act[n - 1] == ANN_SOFTMAX ? ANN_LOSS_XENT : loss;
    if (!(net = ann_new(&c, max_batch)))
        goto done;
    for (int l = 0; l < n; l++) {
        ann_layer *L = &net->layer[l];
        for (int r = 0; r < L->n_out; r++) {
            memcpy(L->w + (size_t)r * L->n_in, m[l]->w + (size_t)r * (L->n_in + 1), (size_t)L->n_in * sizeof(float));
            L->b[r] = m[l]->w[(size_t)r * (L->n_in + 1) + L->n_in];
        }
    }
done:
    for (int l = 0; l < ANN_MAX_LAYERS; l++)
        model_destroy(&m[l]);
    return net;
}
