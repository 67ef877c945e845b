/* frame-dump: a sink that prints every frame it receives, one line each, as text
 * or JSON (a debugging aid), or only counts them (--format=none, a benchmark).
 * With --data the lines carry the payload: spike rows as 0/1 strings, values as
 * numbers. A summary (frames, batches, bytes, rate) goes to stderr at the end. */
#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "core/progress.h"
#include "transport/stage.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static const option_spec opts[] = {
    {"format", OPT_STRING, "text", "text, json or none (count only)", .choices = "text|json|none"},
    {"data", OPT_BOOL, NULL, "print the payload too"},
    {NULL, 0, NULL, NULL},
};
static const port_spec ports[] = {
    {"in", PORT_IN, 0, "frames of any shape"},
    {NULL, 0, 0, NULL},
};
static const stage_def def = {"frame-dump", "Prints the frames it receives (text or JSON lines).",
                              opts, ports};

/* Text: one indented line per row. JSON: the rows as a list of strings / lists. */
static void print_data(const spike_frame *f, FILE *out, bool json)
{
    for (uint32_t i = 0; i < f->batch; i++) {
        if (json)
            fputs(i ? "," : "", out);
        else
            fputs("\n  ", out);
        if (f->kind == FRAME_SPIKES) {
            fputs(json ? "\"" : "", out);
            for (uint32_t j = 0; j < f->width; j++)
                fputc(frame_spike(f, i, j) ? '1' : '0', out);
            fputs(json ? "\"" : "", out);
            continue;
        }
        fputs(json ? "[" : "", out);
        for (uint32_t j = 0; j < f->width; j++)
            fprintf(out, "%s%.6g", j ? (json ? "," : " ") : "", f->values[(size_t)i * f->width + j]);
        fputs(json ? "]" : "", out);
    }
}

static void print_frame(const spike_frame *f, FILE *out, bool json, bool data)
{
    uint32_t first = f->batch ? f->ids[0] : 0, last = f->batch ? f->ids[f->batch - 1] : 0;
    if (json) {
        fprintf(out, "{\"link\":\"%s\",\"kind\":\"%s\",\"batch_index\":%u,\"step\":%u,\"steps\":%u,"
                     "\"batch\":%u,\"width\":%u,\"ids\":[", f->link, frame_kind_name(f->kind),
                f->batch_index, f->step, f->steps, f->batch, f->width);
        for (uint32_t i = 0; i < f->batch; i++)
            fprintf(out, "%s%u", i ? "," : "", f->ids[i]);
        fputc(']', out);
        if (f->kind == FRAME_SPIKES)
            fprintf(out, ",\"spikes\":%llu", (unsigned long long)frame_count_spikes(f));
        if (data) {
            fputs(f->kind == FRAME_SPIKES ? ",\"rows\":[" : ",\"values\":[", out);
            print_data(f, out, true);
            fputc(']', out);
        }
        fputs("}\n", out);
        return;
    }
    fprintf(out, "%s batch %u step %u/%u %s %ux%u ids %u..%u", f->link, f->batch_index, f->step,
            f->steps, frame_kind_name(f->kind), f->batch, f->width, first, last);
    if (f->kind == FRAME_SPIKES)
        fprintf(out, " spikes %llu", (unsigned long long)frame_count_spikes(f));
    if (data)
        print_data(f, out, false);
    fputc('\n', out);
}

typedef struct {
    const char *format;
    bool data;
    spike_link *in;
    spike_frame *f;
    progress *pg;
} dump;

static int dump_open(stage *st, void *arg)
{
    dump *d = arg;
    d->format = options_str(stage_options(st), "format");
    d->data = options_bool(stage_options(st), "data");
    if (!(d->in = stage_in(st, "in", &(frame_shape){0})))
        return -1;
    return 0;
}

/* Every frame printed (or counted), then the summary. */
static int dump_run(stage *st, void *arg)
{
    (void)st;
    dump *d = arg;
    if (!(d->f = link_frame_new(d->in)) || !(d->pg = progress_new(0, 0)))
        return -1;
    uint64_t frames = 0, samples = 0, bytes = 0;
    double start = clock_now();
    int rc;
    spike_frame *f = d->f;
    while ((rc = link_recv(d->in, f)) == 1) {
        frames++;
        bytes += frame_payload_bytes(f->kind, f->batch, f->width);
        if (f->step + 1 == f->steps)
            samples += f->batch;
        if (strcmp(d->format, "none"))
            print_frame(f, stdout, !strcmp(d->format, "json"), d->data);
        progress_update(d->pg, frames, samples, NAN);
    }
    if (rc < 0)
        return -1;
    if (fflush(stdout) != 0 || ferror(stdout))
        return err_set("writing to stdout failed");
    double dt = clock_now() - start;
    log_info("%llu frames, %u batches, %.1f MB, %.0f frames/s", (unsigned long long)frames,
             f->batch_index, (double)bytes / 1e6, dt > 0 ? (double)frames / dt : 0.0);
    return 0;
}

static void dump_cleanup(void *arg)
{
    dump *d = arg;
    progress_destroy(&d->pg);
    frame_destroy(&d->f);
}

static const stage_callbacks callbacks = {.open = dump_open, .run = dump_run, .cleanup = dump_cleanup};

int main(int argc, char **argv)
{
    dump d = {0};
    return stage_main(&def, &callbacks, &d, argc, argv);
}
