/* frontend_settings: the front-end settings an audiocoder was trained on, as its
 * model records them (model_lineage.frontend), and how the stages that make its
 * inputs apply them, so that a recording at any rate goes through the same
 * front end without the user repeating its settings.
 *
 * The text is the front end's name, then key=value fields, separated by ':':
 *     cochlea:rate=8000:decimation=80:frames=100:steps=60:r_max=1
 * A key that is absent or has an empty value is unknown; "norm" absent is "max"
 * and "fit" absent is "pad" (models before they were recorded). rate=0 (models trained before the rate was
 * written out: each input kept its own) counts as unknown. The name is the key
 * "front_end".
 *
 * A stage given a model takes each of its settings from it unless the option
 * was given (options_given); a given option that contradicts the model is an
 * error naming both values and the model file. Numbers compare as numbers. */
#ifndef SPIKESYNTH_FRONTEND_SETTINGS_H
#define SPIKESYNTH_FRONTEND_SETTINGS_H

#include "core/options.h"
#include "data/model.h"

#include <stddef.h>

typedef struct frontend_settings {
    char text[MODEL_FRONTEND_MAX]; /* "" when the model records none */
    char path[1024];               /* the model file, for messages */
} frontend_settings;

/* The settings recorded in PREFIX-hidden.ssm (an audiocoder). -1 with err_msg()
 * when the file cannot be loaded. */
int frontend_settings_load(frontend_settings *self, const char *prefix);

/* key's value in text into val (cap bytes): 1, or 0 when absent or empty. */
int frontend_settings_get(const char *text, const char *key, char *val, size_t cap);

/* Whether two texts agree on every key both know: 0, or 1 with the first
 * key that differs in key (cap bytes). */
int frontend_settings_agree(const char *a, const char *b, char *key, size_t cap);

/* Option opt (its value in *v) against the model's key: an option not given
 * takes the model's value, one given must equal it. self NULL or the key
 * unknown: *v is left as it is. 0, or -1 with err_msg(). */
int frontend_settings_float(const frontend_settings *self, const options *o, const char *opt,
                            const char *key, double *v);
int frontend_settings_int(const frontend_settings *self, const options *o, const char *opt,
                          const char *key, int64_t *v);
/* The same for a string option; the model's value goes into buf (cap bytes) and
 * *v points at it. */
int frontend_settings_str(const frontend_settings *self, const options *o, const char *opt,
                          const char *key, const char **v, char *buf, size_t cap);

#endif
