/* json_out: a flat JSON object of results ({"key": value, ...}) built in
 * memory and written atomically, so scripts can read what a stage measured.
 * Non-finite numbers are written as null (JSON has no NaN). */
#ifndef SPIKESYNTH_JSON_OUT_H
#define SPIKESYNTH_JSON_OUT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef struct {
    char *buf;
    size_t len, cap;
    int fields;
    int bad; /* out of memory: json_out_write fails */
} json_out;

void json_out_init(json_out *self);
void json_out_num(json_out *self, const char *key, double value);
void json_out_int(json_out *self, const char *key, int64_t value);
void json_out_str(json_out *self, const char *key, const char *value);
/* Closes the object, writes it to path (temporary name, then rename) and
 * frees the buffer. 0, or -1 with err_msg(). */
int json_out_write(json_out *self, const char *path);
/* Closes the object, prints it to out and frees the buffer. */
int json_out_print(json_out *self, FILE *out);
/* Frees without writing. */
void json_out_free(json_out *self);

#endif
