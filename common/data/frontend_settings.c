/* frontend_settings: an audiocoder's recorded front end, applied to the options
 * of the stages that feed it (include/data/frontend_settings.h). */
#include "data/frontend_settings.h"

#include "core/err.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int frontend_settings_load(frontend_settings *self, const char *prefix)
{
    *self = (frontend_settings){0};
    snprintf(self->path, sizeof self->path, "%s-hidden.ssm", prefix);
    model *m = model_load(self->path);
    if (!m)
        return err_wrap("the front-end settings of %s", prefix);
    snprintf(self->text, sizeof self->text, "%s", m->lineage.frontend);
    model_destroy(&m);
    return 0;
}

/* Keys whose absence means a value: settings added after models recorded them. */
static const char *implied(const char *key)
{
    return !strcmp(key, "norm") ? "max" : !strcmp(key, "fit") ? "pad" : NULL;
}

int frontend_settings_get(const char *text, const char *key, char *val, size_t cap)
{
    const size_t klen = strlen(key);
    for (const char *p = text; p && *p;) {
        const char *end = strchr(p, ':'), *eq = memchr(p, '=', end ? (size_t)(end - p) : strlen(p));
        size_t len = end ? (size_t)(end - p) : strlen(p);
        const char *v = NULL;
        size_t vlen = 0;
        if (!eq && p == text && !strcmp(key, "front_end")) /* the first field: the name */
            v = p, vlen = len;
        else if (eq && (size_t)(eq - p) == klen && !strncmp(p, key, klen))
            v = eq + 1, vlen = len - klen - 1;
        if (v && vlen == 1 && *v == '0' && !strcmp(key, "rate")) /* before the rate was written out */
            return 0;
        if (v && vlen == 0) /* given empty: unknown, not the implied value */
            return 0;
        if (v && vlen < cap) {
            memcpy(val, v, vlen);
            val[vlen] = '\0';
            return 1;
        }
        p = end ? end + 1 : NULL;
    }
    const char *d = implied(key);
    if (d && *text && strlen(d) < cap) {
        strcpy(val, d);
        return 1;
    }
    return 0;
}

/* Two values of a key are the same: as numbers when both are, else as text. */
static int same(const char *a, const char *b)
{
    char *ea, *eb;
    double x = strtod(a, &ea), y = strtod(b, &eb);
    if (ea != a && !*ea && eb != b && !*eb)
        return x == y;
    return !strcmp(a, b);
}

int frontend_settings_agree(const char *a, const char *b, char *key, size_t cap)
{
    static const char *keys[] = {"front_end", "rate", "decimation", "frames", "steps", "r_max", "norm", "fit"};
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
        char va[64], vb[64];
        if (frontend_settings_get(a, keys[i], va, sizeof va) &&
            frontend_settings_get(b, keys[i], vb, sizeof vb) && !same(va, vb)) {
            snprintf(key, cap, "%s", keys[i]);
            return 1;
        }
    }
    return 0;
}

/* The model's value of key into val; 0 when unknown (nothing to apply). Given
 * (as text in mine) and different: an error naming both. */
static int model_value(const frontend_settings *self, const options *o, const char *opt,
                       const char *key, const char *mine, char *val, size_t cap)
{
    if (!self || !frontend_settings_get(self->text, key, val, cap))
        return 0;
    if (options_given(o, opt) && !same(mine, val))
        return err_set("--%s %s contradicts the model: %s was trained with %s=%s (%s); leave it "
                       "out (a pipeline: %s= empty) to use the model's, or retrain",
                       opt, mine, self->path, key, val, self->text, key);
    return 1;
}

int frontend_settings_float(const frontend_settings *self, const options *o, const char *opt,
                            const char *key, double *v)
{
    char mine[64], val[64];
    snprintf(mine, sizeof mine, "%.17g", *v);
    int rc = model_value(self, o, opt, key, mine, val, sizeof val);
    if (rc == 1) {
        char *end;
        double x = strtod(val, &end);
        if (end == val || *end || !isfinite(x))
            return err_set("%s: %s=%s in its front-end settings is not a number", self->path, key, val);
        *v = x;
    }
    return rc < 0 ? -1 : 0;
}

int frontend_settings_int(const frontend_settings *self, const options *o, const char *opt,
                          const char *key, int64_t *v)
{
    double x = (double)*v;
    if (frontend_settings_float(self, o, opt, key, &x) < 0)
        return -1;
    if (x != floor(x) || fabs(x) > 9e15)
        return err_set("%s: %s=%g in its front-end settings is not an integer", self->path, key, x);
    *v = (int64_t)x;
    return 0;
}

int frontend_settings_str(const frontend_settings *self, const options *o, const char *opt,
                          const char *key, const char **v, char *buf, size_t cap)
{
    int rc = model_value(self, o, opt, key, *v, buf, cap);
    if (rc == 1)
        *v = buf;
    return rc < 0 ? -1 : 0;
}
