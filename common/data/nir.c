/* nir: NIR graphs in HDF5 (see include/data/nir.h).
 *
 * Invariants: every HDF5 id is closed by the function that opened it, on
 * every path; HDF5's own error printing is off while a call of ours runs (it
 * is put back after) and its innermost message is quoted in ours instead.
 * A file is written to an in-memory HDF5 image first and reaches the disk
 * through atomic_file in one piece. */
#include "data/nir.h"

#include "core/atomic_file.h"
#include "core/err.h"

#include <errno.h>
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NIR_MAX_NODES 64
#define NIR_NAME_MAX 128
#define NIR_MAX_RANK 8
#define NO_ID ((hid_t)-1)
/* an input scale dt r / tau this close to 1 is 1: the float32 rounding of tau and r */
#define NIR_SCALE_TOL 1e-6

static const char *const known_kinds[] = {"audiocoder-hidden", "audiocoder-output", "ae-encoder",
                                          "ae-decoder"};
#define N_KINDS ((int)(sizeof known_kinds / sizeof *known_kinds))

static int kind_rank(const char *kind)
{
    for (int i = 0; i < N_KINDS; i++)
        if (strcmp(kind, known_kinds[i]) == 0)
            return i;
    return N_KINDS;
}

void nir_order_layers(const model **layers, int n)
{
    for (int i = 1; i < n; i++) /* insertion sort: stable */
        for (int j = i; j > 0 && kind_rank(layers[j - 1]->kind) > kind_rank(layers[j]->kind); j--) {
            const model *t = layers[j];
            layers[j] = layers[j - 1];
            layers[j - 1] = t;
        }
}

const char *nir_kind_suffix(const char *kind)
{
    const char *dash = strchr(kind, '-');
    return dash && dash[1] ? dash + 1 : kind;
}

static void close_id(hid_t *id, herr_t (*closer)(hid_t))
{
    if (*id >= 0)
        closer(*id);
    *id = NO_ID;
}

/* ---- HDF5 errors: silenced, and the innermost message kept for ours ---- */

typedef struct {
    H5E_auto2_t func;
    void *data;
} h5_quiet;

static void quiet_begin(h5_quiet *q)
{
    H5Eget_auto2(H5E_DEFAULT, &q->func, &q->data);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

static void quiet_end(const h5_quiet *q) { H5Eset_auto2(H5E_DEFAULT, q->func, q->data); }

static herr_t innermost(unsigned n, const H5E_error2_t *e, void *data)
{
    if (n == 0 && e->desc)
        snprintf(data, 200, "%s", e->desc);
    return 0;
}

/* HDF5's reason for the last failure ("" when it gave none), in a static buffer. */
static const char *h5_reason(void)
{
    static _Thread_local char buf[200];
    buf[0] = '\0';
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, innermost, buf);
    return buf;
}

/* HDF5 1.10 (Debian 12) and 1.12+ name these differently. */
static htri_t is_hdf5(const char *path)
{
#if H5_VERSION_GE(1, 12, 0)
    return H5Fis_accessible(path, H5P_DEFAULT);
#else
    return H5Fis_hdf5(path);
#endif
}

static void vlen_free(hid_t type, hid_t space, void *buf)
{
#if H5_VERSION_GE(1, 12, 0)
    H5Treclaim(type, space, H5P_DEFAULT, buf);
#else
    H5Dvlen_reclaim(type, space, H5P_DEFAULT, buf);
#endif
}

/* ---- writing ---- */

/* One dataset: rank 0 is a scalar. ftype is the file's type, mtype the buffer's. */
static int put(hid_t loc, const char *name, hid_t ftype, hid_t mtype, int rank, const hsize_t *dims,
               const void *buf)
{
    hid_t space = rank ? H5Screate_simple(rank, dims, NULL) : H5Screate(H5S_SCALAR), d = NO_ID;
    int ok = space >= 0 &&
             (d = H5Dcreate2(loc, name, ftype, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT)) >= 0 &&
             H5Dwrite(d, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) >= 0;
    close_id(&d, H5Dclose);
    close_id(&space, H5Sclose);
    return ok ? 0 : -1;
}

/* Strings as h5py writes them: variable-length UTF-8. */
static int put_strings(hid_t loc, const char *name, const char *const *s, int rank, const hsize_t *dims)
{
    hid_t t = H5Tcopy(H5T_C_S1);
    int rc = t >= 0 && H5Tset_size(t, H5T_VARIABLE) >= 0 && H5Tset_cset(t, H5T_CSET_UTF8) >= 0
                 ? put(loc, name, t, t, rank, dims, s)
                 : -1;
    close_id(&t, H5Tclose);
    return rc;
}

static int put_string(hid_t loc, const char *name, const char *s) { return put_strings(loc, name, &s, 0, NULL); }

static int put_floats(hid_t loc, const char *name, const float *v, int rank, const hsize_t *dims)
{
    return put(loc, name, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, rank, dims, v);
}

/* A group of type `type` under loc; its id, or -1. */
static hid_t put_node(hid_t loc, const char *name, const char *type)
{
    hid_t g = H5Gcreate2(loc, name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (g >= 0 && put_string(g, "type", type) < 0)
        close_id(&g, H5Gclose);
    return g;
}

/* Input or Output: a 1-D int64 shape of one width. */
static int put_port(hid_t nodes, const char *name, const char *type, int width)
{
    int64_t shape = width;
    hsize_t one = 1;
    hid_t g = put_node(nodes, name, type);
    int rc = g >= 0 ? put(g, "shape", H5T_STD_I64LE, H5T_NATIVE_INT64, 1, &one, &shape) : -1;
    close_id(&g, H5Gclose);
    return rc;
}

static int put_doubles(hid_t loc, const char *name, const double *v, hsize_t n)
{
    return put(loc, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 1, &n, v);
}

/* tau = dt / leak, moved to a neighbouring double when needed so that reading
 * it gives the same leak back: (float)(dt / tau) == leak. In float32 that
 * cannot always be had (where tau's floats are coarser than leak's). */
static double tau_for(float leak, double dt)
{
    double tau = dt / leak, up = tau, down = tau;
    for (int k = 0; k < 8; k++) {
        if ((float)(dt / up) == leak)
            return up;
        if ((float)(dt / down) == leak)
            return down;
        up = nextafter(up, INFINITY);
        down = nextafter(down, 0);
    }
    return tau;
}

/* The layer's two nodes: NAME (Affine: W and a zero bias, float32 as the
 * weights are) and NAME_lif (LIF, its parameters float64). */
static int put_layer(hid_t nodes, const char *name, const char *lif_name, const model *m, double dt)
{
    size_t n = (size_t)m->n_out;
    float *bias = calloc(n, sizeof *bias);
    double *p = calloc(5 * n, sizeof *p); /* tau, r, v_leak (zeros), v_threshold, v_reset (zeros) */
    hsize_t wdims[2] = {(hsize_t)m->n_out, (hsize_t)m->n_in}, bdims = n;
    hid_t a = NO_ID, l = NO_ID;
    int rc = -1;
    if (!bias || !p) {
        free(bias);
        free(p);
        return err_set("out of memory for layer %s", name);
    }
    double tau = tau_for(m->lif.leak, dt);
    for (size_t i = 0; i < n; i++) {
        p[i] = tau;
        p[n + i] = tau / dt;
        p[3 * n + i] = m->lif.threshold;
    }
    if ((a = put_node(nodes, name, "Affine")) >= 0 && put_floats(a, "weight", m->w, 2, wdims) == 0 &&
        put_floats(a, "bias", bias, 1, &bdims) == 0 && (l = put_node(nodes, lif_name, "LIF")) >= 0 &&
        put_doubles(l, "tau", p, n) == 0 && put_doubles(l, "r", p + n, n) == 0 &&
        put_doubles(l, "v_leak", p + 2 * n, n) == 0 && put_doubles(l, "v_threshold", p + 3 * n, n) == 0 &&
        put_doubles(l, "v_reset", p + 4 * n, n) == 0)
        rc = 0;
    close_id(&a, H5Gclose);
    close_id(&l, H5Gclose);
    free(bias);
    free(p);
    return rc;
}

typedef struct {
    char names[2 * NIR_MAX_LAYERS + 2][NIR_NAME_MAX]; /* input, per layer W and LIF, output */
    int n;
} node_names;

/* input, NAME, NAME_lif per layer (NAME: the kind, '-' as '_', made unique), output. */
static void name_nodes(node_names *nn, const model *const *layers, int n)
{
    nn->n = 2 * n + 2;
    snprintf(nn->names[0], NIR_NAME_MAX, "input");
    for (int i = 0; i < n; i++) {
        char w[NIR_NAME_MAX];
        snprintf(w, NIR_NAME_MAX - 16, "%s", layers[i]->kind[0] ? layers[i]->kind : "layer");
        for (char *c = w; *c; c++)
            if (*c == '-' || *c == '/' || *c == '.')
                *c = '_';
        for (int j = 0; j < i; j++)
            if (strcmp(nn->names[1 + 2 * j], w) == 0)
                snprintf(w + strlen(w), 16, "_%d", i);
        snprintf(nn->names[1 + 2 * i], NIR_NAME_MAX, "%s", w);
        snprintf(nn->names[2 + 2 * i], NIR_NAME_MAX, "%.100s_lif", w);
    }
    snprintf(nn->names[nn->n - 1], NIR_NAME_MAX, "output");
}

static int check_chain(const model *const *layers, int n, double dt, const char *path)
{
    if (n < 1 || n > NIR_MAX_LAYERS)
        return err_set("%s: %d layers; a NIR graph of 1 to %d layers can be written", path, n,
                       NIR_MAX_LAYERS);
    if (!(dt > 0) || !isfinite(dt))
        return err_set("%s: time step dt %g: must be positive", path, dt);
    for (int i = 0; i < n; i++) {
        const model *m = layers[i];
        if (!(m->lif.leak > 0 && m->lif.leak <= 1))
            return err_set("%s: layer %s has leak %g; NIR's LIF needs a leak in (0, 1] (tau = dt / leak)",
                           path, m->kind, m->lif.leak);
        if (i > 0 && m->n_in != layers[i - 1]->n_out)
            return err_set("%s: layer %s takes %d inputs, but layer %s before it has %d outputs", path,
                           m->kind, m->n_in, layers[i - 1]->kind, layers[i - 1]->n_out);
    }
    return 0;
}

/* The graph's nodes and edges under /node. */
static int put_graph(hid_t file, const model *const *layers, int n, double dt)
{
    node_names nn;
    name_nodes(&nn, layers, n);
    const char *edges[2 * (2 * NIR_MAX_LAYERS + 1)];
    hsize_t edims[2] = {(hsize_t)nn.n - 1, 2};
    for (int i = 0; i + 1 < nn.n; i++) {
        edges[2 * i] = nn.names[i];
        edges[2 * i + 1] = nn.names[i + 1];
    }
    hid_t node = NO_ID, nodes = NO_ID, meta = NO_ID;
    int rc = -1;
    if ((node = put_node(file, "node", "NIRGraph")) < 0 ||
        (nodes = H5Gcreate2(node, "nodes", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT)) < 0 ||
        put_port(nodes, nn.names[0], "Input", layers[0]->n_in) < 0)
        goto out;
    for (int i = 0; i < n; i++)
        if (put_layer(nodes, nn.names[1 + 2 * i], nn.names[2 + 2 * i], layers[i], dt) < 0)
            goto out;
    if (put_port(nodes, nn.names[nn.n - 1], "Output", layers[n - 1]->n_out) < 0 ||
        put_strings(node, "edges", edges, 2, edims) < 0 ||
        (meta = H5Gcreate2(node, "metadata", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT)) < 0 ||
        put(meta, "dt", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 0, NULL, &dt) < 0 ||
        put_string(meta, "source", "spikesynth") < 0)
        goto out;
    rc = 0;
out:
    close_id(&meta, H5Gclose);
    close_id(&nodes, H5Gclose);
    close_id(&node, H5Gclose);
    return rc;
}

int nir_export(const model *const *layers, int n, double dt, const char *path)
{
    if (check_chain(layers, n, dt, path) < 0)
        return -1;
    h5_quiet q;
    quiet_begin(&q);
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS), file = NO_ID;
    void *image = NULL;
    ssize_t size = -1;
    int rc = -1;
    /* the core driver without a backing store: the whole file in memory */
    if (fapl < 0 || H5Pset_fapl_core(fapl, 1 << 20, 0) < 0 ||
        (file = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, fapl)) < 0 ||
        put_string(file, "version", NIR_VERSION) < 0 || put_graph(file, layers, n, dt) < 0 ||
        H5Fflush(file, H5F_SCOPE_GLOBAL) < 0 || (size = H5Fget_file_image(file, NULL, 0)) <= 0 ||
        !(image = malloc((size_t)size)) || H5Fget_file_image(file, image, (size_t)size) != size) {
        err_set("%s: cannot build the NIR file: %s", path, image || size <= 0 ? h5_reason() : "out of memory");
        goto out;
    }
    close_id(&file, H5Fclose);
    rc = atomic_file_write(path, image, (size_t)size);
out:
    close_id(&file, H5Fclose);
    close_id(&fapl, H5Pclose);
    free(image);
    quiet_end(&q);
    return rc;
}

/* ---- reading ---- */

typedef struct {
    const char *path;
    hid_t nodes;                            /* /node/nodes */
    int n;                                  /* nodes */
    char names[NIR_MAX_NODES][NIR_NAME_MAX];
    char types[NIR_MAX_NODES][32];
    int next[NIR_MAX_NODES], fan_in[NIR_MAX_NODES], fan_out[NIR_MAX_NODES];
} reader;

/* A numeric dataset read whole. */
typedef struct {
    int rank;
    hsize_t dims[NIR_MAX_RANK];
    size_t count;
    void *data;
} field;

static const char *class_name(H5T_class_t c)
{
    switch (c) {
    case H5T_INTEGER: return "integer";
    case H5T_FLOAT: return "floating point";
    case H5T_STRING: return "a string";
    case H5T_COMPOUND: return "a compound";
    case H5T_ENUM: return "an enum";
    case H5T_ARRAY: return "an array type";
    case H5T_VLEN: return "variable-length";
    default: return "of another kind";
    }
}

/* Opens dataset `name` of group g (node `what` of the file). 1 with *d NO_ID
 * when it is absent and optional; -1 with the error set. */
static int field_open(const reader *r, hid_t g, const char *what, const char *name, int optional, hid_t *d)
{
    *d = NO_ID;
    htri_t has = H5Lexists(g, name, H5P_DEFAULT);
    if (has <= 0)
        return optional && has == 0 ? 1 : err_set("%s: %s has no dataset '%s'", r->path, what, name);
    if ((*d = H5Dopen2(g, name, H5P_DEFAULT)) < 0)
        return err_set("%s: %s: '%s' is not a readable dataset", r->path, what, name);
    return 0;
}

/* Reads dataset `name` of g as mtype (its class must be cls). 1 when absent
 * and optional (f->data NULL), 0, or -1 with the error naming the node. */
static int field_read(const reader *r, hid_t g, const char *what, const char *name, int optional,
                      H5T_class_t cls, hid_t mtype, field *f)
{
    memset(f, 0, sizeof *f);
    hid_t d, t = NO_ID, s = NO_ID;
    int rc = field_open(r, g, what, name, optional, &d);
    if (rc != 0)
        return rc;
    rc = -1;
    H5T_class_t c = (t = H5Dget_type(d)) >= 0 ? H5Tget_class(t) : H5T_NO_CLASS;
    if (c != cls) {
        err_set("%s: %s: %s is %s, expected %s", r->path, what, name, class_name(c), class_name(cls));
        goto out;
    }
    if ((s = H5Dget_space(d)) < 0 || (f->rank = H5Sget_simple_extent_ndims(s)) < 0 ||
        f->rank > NIR_MAX_RANK) {
        err_set("%s: %s: %s has an unreadable shape", r->path, what, name);
        goto out;
    }
    H5Sget_simple_extent_dims(s, f->dims, NULL);
    f->count = 1;
    for (int i = 0; i < f->rank; i++)
        f->count *= (size_t)f->dims[i];
    if (!(f->data = malloc((f->count ? f->count : 1) * H5Tget_size(mtype)))) {
        err_set("%s: %s: out of memory for %s (%zu values)", r->path, what, name, f->count);
        goto out;
    }
    if (f->count && H5Dread(d, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, f->data) < 0) {
        err_set("%s: %s: cannot read %s: %s", r->path, what, name, h5_reason());
        goto out;
    }
    rc = 0;
out:
    if (rc < 0) {
        free(f->data);
        f->data = NULL;
    }
    close_id(&s, H5Sclose);
    close_id(&t, H5Tclose);
    close_id(&d, H5Dclose);
    return rc;
}

/* Reads the string dataset `name` of g (fixed or variable length) as count
 * strings joined in one buffer (each NUL-terminated, trailing pad removed);
 * the buffer, or NULL with the error set. */
static char *strings_read(const reader *r, hid_t g, const char *what, const char *name, size_t *count,
                          hsize_t dims[2], int *rank)
{
    hid_t d, t = NO_ID, m = NO_ID, s = NO_ID;
    char *out = NULL, **vl = NULL, *raw = NULL;
    if (field_open(r, g, what, name, 0, &d) != 0)
        return NULL;
    if ((t = H5Dget_type(d)) < 0 || H5Tget_class(t) != H5T_STRING) {
        err_set("%s: %s: %s is %s, expected a string", r->path, what, name,
                class_name(t >= 0 ? H5Tget_class(t) : H5T_NO_CLASS));
        goto out;
    }
    dims[0] = dims[1] = 1;
    if ((s = H5Dget_space(d)) < 0 || (*rank = H5Sget_simple_extent_ndims(s)) < 0 || *rank > 2) {
        err_set("%s: %s: %s is not a scalar, a list or a table of strings", r->path, what, name);
        goto out;
    }
    H5Sget_simple_extent_dims(s, dims, NULL);
    *count = *rank == 0 ? 1 : *rank == 1 ? dims[0] : dims[0] * dims[1];
    htri_t var = H5Tis_variable_str(t);
    size_t size = var ? sizeof(char *) : H5Tget_size(t);
    m = H5Tcopy(t); /* strings have no byte order: the file's type reads them */
    void *buf = var ? (void *)(vl = calloc(*count + 1, sizeof *vl)) : (void *)(raw = malloc(*count * size + 1));
    if (m < 0 || !buf || (*count && H5Dread(d, m, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0)) {
        err_set("%s: %s: cannot read %s: %s", r->path, what, name, buf ? h5_reason() : "out of memory");
        goto out;
    }
    size_t total = 1, at = 0;
    for (size_t i = 0; i < *count; i++)
        total += (var ? (vl[i] ? strlen(vl[i]) : 0) : size) + 1;
    if ((out = malloc(total))) {
        for (size_t i = 0; i < *count; i++) {
            const char *src = var ? (vl[i] ? vl[i] : "") : raw + i * size;
            size_t len = var ? strlen(src) : strnlen(src, size);
            while (!var && len > 0 && src[len - 1] == ' ')
                len--; /* space-padded fixed strings */
            memcpy(out + at, src, len);
            out[at + len] = '\0';
            at += len + 1;
        }
    } else {
        err_set("%s: %s: out of memory for %s", r->path, what, name);
    }
    if (var)
        vlen_free(m, s, vl);
out:
    free(vl);
    free(raw);
    close_id(&m, H5Tclose);
    close_id(&s, H5Sclose);
    close_id(&t, H5Tclose);
    close_id(&d, H5Dclose);
    return out;
}

/* A scalar string field into buf (cap bytes); 0 or -1. */
static int string_read(const reader *r, hid_t g, const char *what, const char *name, char *buf, size_t cap)
{
    size_t count;
    hsize_t dims[2];
    int rank;
    char *s = strings_read(r, g, what, name, &count, dims, &rank);
    if (!s)
        return -1;
    int rc = count == 1 ? 0 : err_set("%s: %s: %s holds %zu strings, expected one", r->path, what, name, count);
    snprintf(buf, cap, "%s", count == 1 ? s : "");
    free(s);
    return rc;
}

static int node_index(const reader *r, const char *name)
{
    for (int i = 0; i < r->n; i++)
        if (strcmp(r->names[i], name) == 0)
            return i;
    return -1;
}

/* Node k's group, and in what its name for messages: "node 'x' (LIF)". */
static hid_t node_open(const reader *r, int k, char *what, size_t cap)
{
    snprintf(what, cap, "node '%s' (%s)", r->names[k], r->types[k]);
    return H5Gopen2(r->nodes, r->names[k], H5P_DEFAULT);
}

/* The names and types of /node/nodes. */
static int read_nodes(reader *r)
{
    H5G_info_t info;
    if (H5Gget_info(r->nodes, &info) < 0)
        return err_set("%s: /node/nodes cannot be listed: %s", r->path, h5_reason());
    if (info.nlinks > NIR_MAX_NODES)
        return err_set("%s: %llu nodes; spikesynth reads graphs of at most %d", r->path,
                       (unsigned long long)info.nlinks, NIR_MAX_NODES);
    r->n = (int)info.nlinks;
    for (int i = 0; i < r->n; i++) {
        char *name = r->names[i], what[NIR_NAME_MAX + 16];
        ssize_t len = H5Lget_name_by_idx(r->nodes, ".", H5_INDEX_NAME, H5_ITER_INC, (hsize_t)i, name,
                                         NIR_NAME_MAX, H5P_DEFAULT);
        if (len < 0 || len >= NIR_NAME_MAX)
            return err_set("%s: node %d of /node/nodes has an unreadable or too long name", r->path, i);
        snprintf(what, sizeof what, "node '%s'", name);
        hid_t g = H5Gopen2(r->nodes, name, H5P_DEFAULT);
        if (g < 0)
            return err_set("%s: %s is not a group", r->path, what);
        int rc = string_read(r, g, what, "type", r->types[i], sizeof r->types[i]);
        H5Gclose(g);
        if (rc < 0)
            return -1;
        r->next[i] = -1;
        r->fan_in[i] = r->fan_out[i] = 0;
    }
    return 0;
}

/* The edges of /node/edges, checked against the nodes. */
static int read_edges(reader *r, hid_t graph)
{
    size_t count;
    hsize_t dims[2];
    int rank, rc = -1;
    char *s = strings_read(r, graph, "the graph", "edges", &count, dims, &rank);
    if (!s)
        return -1;
    if (count > 0 && (rank != 2 || dims[1] != 2)) {
        err_set("%s: /node/edges must be a table of (source, target) names, one row per edge", r->path);
        goto out;
    }
    const char *p = s;
    for (size_t e = 0; e < count / 2; e++) {
        const char *from = p, *to = p + strlen(p) + 1;
        p = to + strlen(to) + 1;
        int a = node_index(r, from), b = node_index(r, to);
        if (a < 0 || b < 0) {
            err_set("%s: edge %zu (%s -> %s) names node '%s', which /node/nodes does not hold", r->path, e,
                    from, to, a < 0 ? from : to);
            goto out;
        }
        r->next[a] = b;
        r->fan_out[a]++;
        r->fan_in[b]++;
    }
    rc = 0;
out:
    free(s);
    return rc;
}

/* The node indices from the Input to the Output, which must be a chain that
 * holds every node. */
static int walk_chain(const reader *r, int *chain, int *len)
{
    int input = -1, inputs = 0;
    for (int i = 0; i < r->n; i++)
        if (strcmp(r->types[i], "Input") == 0 && inputs++ == 0)
            input = i;
    if (inputs != 1)
        return err_set("%s: the graph has %d Input nodes; spikesynth reads graphs with one", r->path, inputs);
    *len = 0;
    for (int cur = input;; cur = r->next[cur]) {
        if (*len == r->n)
            return err_set("%s: the edges from node '%s' run in a cycle", r->path, r->names[input]);
        chain[(*len)++] = cur;
        if (strcmp(r->types[cur], "Output") == 0)
            break;
        if (r->fan_out[cur] != 1)
            return err_set(r->fan_out[cur] ? "%s: node '%s' (%s) feeds %d nodes; spikesynth reads a chain "
                                             "of layers, without branches"
                                           : "%s: node '%s' (%s) leads nowhere (%d edges from it): the "
                                             "chain from the Input has no Output",
                           r->path, r->names[cur], r->types[cur], r->fan_out[cur]);
        if (r->fan_in[r->next[cur]] > 1)
            return err_set("%s: node '%s' takes %d inputs; spikesynth reads a chain of layers", r->path,
                           r->names[r->next[cur]], r->fan_in[r->next[cur]]);
    }
    for (int i = 0; i < r->n && *len < r->n; i++) {
        int on = 0;
        for (int k = 0; k < *len; k++)
            on |= chain[k] == i;
        if (!on)
            return err_set("%s: node '%s' (%s) is not on the path from the Input to the Output", r->path,
                           r->names[i], r->types[i]);
    }
    return 0;
}

static double value_at(const field *f, size_t i) { return ((const double *)f->data)[f->count == 1 ? 0 : i]; }

/* A per-neuron parameter: one value, or one per neuron. */
static int param_count(const reader *r, const char *what, const char *name, const field *f, int n)
{
    if (f->rank > 1 || (f->count != 1 && f->count != (size_t)n))
        return err_set("%s: %s: %s has %zu values, the layer has %d neurons", r->path, what, name, f->count, n);
    return 0;
}

/* The one value of a parameter that spikesynth keeps per layer. */
static int param_uniform(const reader *r, const char *what, const char *name, const field *f, double *v)
{
    *v = value_at(f, 0);
    for (size_t i = 1; i < f->count; i++)
        if (value_at(f, i) != *v)
            return err_set("%s: %s: %s differs between neurons (%g at 0, %g at %zu); spikesynth has one "
                           "per layer", r->path, what, name, *v, value_at(f, i), i);
    return 0;
}

static int param_zero(const reader *r, const char *what, const char *name, const field *f, const char *why)
{
    for (size_t i = 0; f->data && i < f->count; i++)
        if (value_at(f, i) != 0)
            return err_set("%s: %s: %s[%zu] = %g; %s", r->path, what, name, i, value_at(f, i), why);
    return 0;
}

/* Node k's synapses: W (outputs x width); an Affine's bias must be 0. */
static int read_synapses(const reader *r, int k, int width, model *m)
{
    char what[NIR_NAME_MAX + 48];
    field w = {0}, b = {0};
    int rc = -1;
    hid_t g = node_open(r, k, what, sizeof what);
    if (field_read(r, g, what, "weight", 0, H5T_FLOAT, H5T_NATIVE_FLOAT, &w) < 0)
        goto out;
    if (w.rank != 2 || w.dims[1] != (hsize_t)width || w.dims[0] < 1 ||
        (double)w.dims[0] * (double)w.dims[1] > (double)((int64_t)1 << 31)) {
        err_set("%s: %s: weight is %s%llu x %llu, expected outputs x %d (its input has %d values)", r->path,
                what, w.rank != 2 ? "not a matrix: " : "", (unsigned long long)(w.rank > 0 ? w.dims[0] : 0),
                (unsigned long long)(w.rank > 1 ? w.dims[1] : 0), width, width);
        goto out;
    }
    if (strcmp(r->types[k], "Affine") == 0 &&
        (field_read(r, g, what, "bias", 0, H5T_FLOAT, H5T_NATIVE_DOUBLE, &b) < 0 ||
         param_count(r, what, "bias", &b, (int)w.dims[0]) < 0 ||
         param_zero(r, what, "bias", &b, "spikesynth's layers have no bias") < 0))
        goto out;
    m->n_in = width;
    m->n_out = (int32_t)w.dims[0];
    m->w = w.data;
    w.data = NULL;
    rc = 0;
out:
    free(w.data);
    free(b.data);
    close_id(&g, H5Gclose);
    return rc;
}

/* The LIF fields, in the order they are read. */
enum { P_TAU, P_R, P_V_LEAK, P_V_THRESHOLD, P_V_RESET, N_PARAMS };
static const char *const param_names[N_PARAMS] = {"tau", "r", "v_leak", "v_threshold", "v_reset"};

/* Leak and threshold from tau and v_threshold (one per layer); the input
 * scale dt r / tau of each neuron, when not 1, goes into its row of W. */
static int lif_apply(const reader *r, const char *what, const field *p, double dt, model *m)
{
    double tau, th;
    if (param_uniform(r, what, "tau", &p[P_TAU], &tau) < 0 ||
        param_uniform(r, what, "v_threshold", &p[P_V_THRESHOLD], &th) < 0 ||
        param_zero(r, what, "v_leak", &p[P_V_LEAK], "spikesynth's neurons rest at 0") < 0 ||
        param_zero(r, what, "v_reset", &p[P_V_RESET], "spikesynth's neurons reset to 0") < 0)
        return -1;
    double leak = dt / tau;
    if (!(leak > 0 && leak <= 1))
        return err_set("%s: %s: tau %g with time step dt %g gives a leak dt/tau = %g, outside (0, 1]: give "
                       "the step the file's tau is measured in (model-info --dt)", r->path, what, tau, dt, leak);
    if (!(th > 0) || !isfinite(th))
        return err_set("%s: %s: v_threshold %g; spikesynth's threshold is positive", r->path, what, th);
    m->lif.leak = (float)leak;
    m->lif.threshold = (float)th;
    for (int i = 0; i < m->n_out; i++) {
        double s = dt * value_at(&p[P_R], (size_t)i) / tau;
        float *row = m->w + (size_t)i * m->n_in;
        if (fabs(s - 1) > NIR_SCALE_TOL)
            for (int j = 0; j < m->n_in; j++)
                row[j] = (float)(row[j] * s);
        for (int j = 0; j < m->n_in; j++)
            if (!isfinite(row[j]))
                return err_set("%s: %s: the weight of neuron %d from input %d is not finite", r->path, what,
                               i, j);
    }
    return 0;
}

/* Node k: the LIF neurons of layer m, whose synapses came before it. */
static int read_lif(const reader *r, int k, double dt, model *m)
{
    char what[NIR_NAME_MAX + 48];
    field p[N_PARAMS] = {{0}};
    int rc = -1;
    hid_t g = node_open(r, k, what, sizeof what);
    for (int i = 0; i < N_PARAMS; i++)
        if (field_read(r, g, what, param_names[i], i == P_V_RESET, H5T_FLOAT, H5T_NATIVE_DOUBLE, &p[i]) < 0 ||
            (p[i].data && param_count(r, what, param_names[i], &p[i], m->n_out) < 0))
            goto out;
    rc = lif_apply(r, what, p, dt, m);
out:
    for (int i = 0; i < N_PARAMS; i++)
        free(p[i].data);
    close_id(&g, H5Gclose);
    return rc;
}

/* The number of values of an Input's or Output's shape (1 when it has none
 * and may_lack). */
static int read_width(const reader *r, int k, int may_lack, int *width)
{
    char what[NIR_NAME_MAX + 48];
    field f;
    hid_t g = node_open(r, k, what, sizeof what);
    int rc = field_read(r, g, what, "shape", may_lack, H5T_INTEGER, H5T_NATIVE_INT64, &f);
    close_id(&g, H5Gclose);
    if (rc != 0)
        return rc;
    int64_t n = 1; /* stays below 2^62: each factor and the product so far are below 2^31 */
    for (size_t i = 0; i < f.count && n > 0 && n <= INT32_MAX; i++) {
        int64_t v = ((const int64_t *)f.data)[i];
        n = v >= 1 && v <= INT32_MAX ? n * v : -1;
    }
    free(f.data);
    if (f.rank > 1 || n < 1 || n > INT32_MAX)
        return err_set("%s: %s: shape is not a list of positive sizes", r->path, what);
    *width = (int)n;
    return 0;
}

static int unsupported(const reader *r, int k)
{
    return err_set("%s: node '%s' is a %s, which spikesynth cannot represent: its networks are chains of "
                   "Affine or Linear synapses into LIF neurons (Flatten nodes aside)",
                   r->path, r->names[k], r->types[k]);
}

/* The layers along the chain: per layer, its synapse node (syn[i]) then its LIF. */
static int read_layers(const reader *r, const int *chain, int len, double dt, nir_net *net, int *syn)
{
    int width, pending = 0; /* pending: the last layer has synapses and no LIF yet */
    if (read_width(r, chain[0], 0, &width) < 0)
        return -1;
    for (int i = 1; i < len; i++) {
        int k = chain[i];
        const char *type = r->types[k];
        if (strcmp(type, "Flatten") == 0)
            continue;
        if (strcmp(type, "Affine") == 0 || strcmp(type, "Linear") == 0) {
            if (pending)
                return err_set("%s: node '%s' (%s) follows the synapses of '%s' with no LIF between them",
                               r->path, r->names[k], type, r->names[syn[net->n - 1]]);
            if (net->n == NIR_MAX_LAYERS)
                return err_set("%s: more than %d layers", r->path, NIR_MAX_LAYERS);
            model *m = net->layers[net->n] = calloc(1, sizeof *m);
            if (!m)
                return err_set("%s: out of memory", r->path);
            syn[net->n++] = k;
            m->lif = lif_params_default();
            m->opt = optim_params_default();
            if (read_synapses(r, k, width, m) < 0)
                return -1;
            width = m->n_out;
            pending = 1;
        } else if (strcmp(type, "LIF") == 0) {
            if (!pending)
                return err_set("%s: node '%s' (LIF) has no Affine or Linear synapses before it", r->path,
                               r->names[k]);
            if (read_lif(r, k, dt, net->layers[net->n - 1]) < 0)
                return -1;
            pending = 0;
        } else if (strcmp(type, "Output") == 0) {
            int out = width;
            if (pending || net->n == 0)
                return err_set(net->n ? "%s: node '%s' (%s): its synapses feed the Output with no LIF "
                                        "between them"
                                      : "%s: the graph holds no layer (Affine or Linear, then LIF)%s%s",
                               r->path, net->n ? r->names[syn[net->n - 1]] : "",
                               net->n ? r->types[syn[net->n - 1]] : "");
            if (read_width(r, k, 1, &out) < 0)
                return -1;
            if (out != width)
                return err_set("%s: node '%s' (Output) has shape of %d values, the chain ends with %d",
                               r->path, r->names[k], out, width);
        } else {
            return unsupported(r, k);
        }
    }
    return 0;
}

/* Kinds from the synapse nodes' names, else the autoencoder's two. */
static int assign_kinds(const reader *r, nir_net *net, const int *syn)
{
    int named = 0;
    for (int i = 0; i < net->n; i++) {
        char kind[MODEL_KIND_MAX];
        snprintf(kind, sizeof kind, "%s", r->names[syn[i]]);
        for (char *c = kind; *c; c++)
            *c = *c == '_' ? '-' : *c;
        if (kind_rank(kind) < N_KINDS) {
            snprintf(net->layers[i]->kind, MODEL_KIND_MAX, "%s", kind);
            named++;
        }
    }
    if (named < net->n) {
        model **l = net->layers;
        if (named > 0 || net->n != 2 || l[0]->n_in != l[1]->n_out)
            return err_set("%s: node '%s' does not name a spikesynth layer (ae_encoder, ae_decoder, "
                           "audiocoder_hidden, audiocoder_output) and the graph is not an autoencoder (two "
                           "layers, as many outputs as inputs): what its layers are cannot be told",
                           r->path, r->names[syn[0]]);
        snprintf(l[0]->kind, MODEL_KIND_MAX, "ae-encoder");
        snprintf(l[1]->kind, MODEL_KIND_MAX, "ae-decoder");
    }
    for (int i = 0; i < net->n; i++)
        for (int j = 0; j < i; j++)
            if (strcmp(net->layers[i]->kind, net->layers[j]->kind) == 0)
                return err_set("%s: nodes '%s' and '%s' are both %s layers", r->path, r->names[syn[j]],
                               r->names[syn[i]], net->layers[i]->kind);
    return 0;
}

/* The step: dt > 0 as given, else /node/metadata/dt, else 1. */
static int read_dt(const reader *r, hid_t graph, double *dt)
{
    if (*dt > 0)
        return 0;
    *dt = 1;
    if (H5Lexists(graph, "metadata", H5P_DEFAULT) <= 0)
        return 0;
    hid_t meta = H5Gopen2(graph, "metadata", H5P_DEFAULT);
    field f;
    int rc = meta >= 0 ? field_read(r, meta, "the graph's metadata", "dt", 1, H5T_FLOAT, H5T_NATIVE_DOUBLE, &f)
                       : 1;
    if (rc == 0) {
        *dt = ((const double *)f.data)[0];
        free(f.data);
        if (f.count != 1 || !(*dt > 0) || !isfinite(*dt))
            rc = err_set("%s: /node/metadata/dt is not one positive number", r->path);
    }
    if (meta >= 0)
        H5Gclose(meta);
    return rc < 0 ? -1 : 0;
}

/* /node: the graph's nodes, edges, chain and layers. */
static int read_graph(reader *r, hid_t graph, double dt, nir_net *net)
{
    char type[32];
    int chain[NIR_MAX_NODES], len, syn[NIR_MAX_LAYERS];
    if (string_read(r, graph, "/node", "type", type, sizeof type) < 0)
        return -1;
    if (strcmp(type, "NIRGraph") != 0)
        return err_set("%s: /node is a %s, expected a NIRGraph", r->path, type);
    if (H5Lexists(graph, "nodes", H5P_DEFAULT) <= 0 || (r->nodes = H5Gopen2(graph, "nodes", H5P_DEFAULT)) < 0)
        return err_set("%s: no group /node/nodes: not a NIR graph", r->path);
    if (read_nodes(r) < 0 || read_edges(r, graph) < 0 || walk_chain(r, chain, &len) < 0 ||
        read_dt(r, graph, &dt) < 0)
        return -1;
    net->dt = dt;
    if (read_layers(r, chain, len, dt, net, syn) < 0 || assign_kinds(r, net, syn) < 0)
        return -1;
    return 0;
}

nir_net *nir_import(const char *path, double dt)
{
    FILE *probe = fopen(path, "rb");
    if (!probe) {
        err_set("%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    fclose(probe);
    h5_quiet q;
    quiet_begin(&q);
    reader *r = calloc(1, sizeof *r);
    nir_net *net = calloc(1, sizeof *net);
    hid_t file = NO_ID, graph = NO_ID;
    if (!r || !net) {
        err_set("%s: out of memory", path);
        goto err;
    }
    r->path = path;
    r->nodes = NO_ID;
    if (is_hdf5(path) <= 0) {
        err_set("%s: not an HDF5 file (a NIR graph is one)", path);
        goto err;
    }
    if ((file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT)) < 0) {
        err_set("%s: truncated or corrupt HDF5 file: %s", path, h5_reason());
        goto err;
    }
    if (H5Lexists(file, "node", H5P_DEFAULT) <= 0 || (graph = H5Gopen2(file, "node", H5P_DEFAULT)) < 0) {
        err_set("%s: no group /node: not a NIR graph", path);
        goto err;
    }
    if (read_graph(r, graph, dt, net) < 0)
        goto err;
    goto out;
err:
    nir_net_destroy(&net);
out:
    if (r)
        close_id(&r->nodes, H5Gclose);
    close_id(&graph, H5Gclose);
    close_id(&file, H5Fclose);
    free(r);
    quiet_end(&q);
    return net;
}

void nir_net_destroy(nir_net **self_p)
{
    nir_net *net = self_p ? *self_p : NULL;
    if (!net)
        return;
    for (int i = 0; i < net->n; i++)
        model_destroy(&net->layers[i]);
    free(net);
    *self_p = NULL;
}
