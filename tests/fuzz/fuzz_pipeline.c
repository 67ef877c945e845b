/* fuzz_pipeline: pipeline_parse over any text, as `spikesynth run FILE
 * name=value ...` reads a pipeline file and its overrides.
 *
 * Input: the file's text up to the first NUL byte; every NUL-separated piece
 * after it is one command-line override. A pipeline that parses must hold what
 * pipeline.h promises (stages and links that refer to declared names) and go
 * through the readers the runner uses on it (variables, stages, placement). */
#include "fuzz.h"

#include "transport/pipeline.h"
#include "transport/placement.h"

#include <string.h>

#define MAX_OVERRIDES 8

/* What the runner reads of a parsed pipeline. */
static void read_pipeline(const pipeline *p)
{
    for (size_t i = 0; i < p->n_vars; i++)
        fuzz_require(pipeline_var_get(p, p->vars[i].name));
    for (size_t i = 0; i < p->n_stages; i++) {
        const pipeline_stage *s = &p->stages[i];
        fuzz_require(s->name && s->program);
        fuzz_require(pipeline_stage_find(p, s->name) >= 0);
        for (size_t j = 0; j < s->n_args; j++)
            fuzz_require(s->args[j]);
        (void)placement_check_host(p, placement_host(s));
    }
    for (size_t j = 0; j < p->n_links; j++) {
        const pipeline_link *l = &p->links[j];
        fuzz_require(l->from < p->n_stages && l->to < p->n_stages && l->from_port && l->to_port);
        int port;
        (void)placement_crosses(p, l);
        (void)placement_port(p, j, &port);
    }
    const char *groups[16];
    (void)placement_groups(p, groups, 16);
    (void)placement_used(p);
}

int fuzz_pipeline(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    fuzz_require(text);
    memcpy(text, data, size);
    text[size] = '\0';
    char *ov[MAX_OVERRIDES];
    size_t n_ov = 0;
    for (size_t at = strlen(text) + 1; at < size && n_ov < MAX_OVERRIDES; at += strlen(text + at) + 1)
        ov[n_ov++] = text + at;
    pipeline *p = pipeline_parse("fuzz.pipe", text, ov, n_ov);
    if (p)
        read_pipeline(p);
    pipeline_destroy(&p);
    free(text);
    return 0;
}
