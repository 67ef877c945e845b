/* test_fuzz_corpus: every input of the fuzz corpus (tests/fuzz/corpus/NAME/)
 * through its target's entry point (tests/fuzz/fuzz_NAME.c), built with the
 * normal compiler: the plain and sanitizer passes of make test replay what
 * make fuzz found, without clang. A target aborts on a broken invariant, so a
 * bad input fails this binary. Each fault the fuzzers or their writing found
 * is also a named test below, against its input in the corpus. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "fuzz/fuzz.h"

#include "core/err.h"
#include "data/model.h"
#include "transport/link.h"
#include "transport/pipeline.h"
#include "transport/placement.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CORPUS "tests/fuzz/corpus/"

typedef int fuzz_fn(const uint8_t *data, size_t size);

/* The bytes of a corpus file (malloc'd, *size set, a NUL after them); fails
 * the test when unreadable. */
static uint8_t *corpus_file(const char *target, const char *name, size_t *size)
{
    char path[512];
    snprintf(path, sizeof path, CORPUS "%s/%s", target, name);
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("%s: cannot open", path);
    uint8_t *data = NULL;
    size_t n = 0, cap = 0, got;
    do {
        if (n + 1 >= cap && !(data = realloc(data, cap = cap * 2 + 4096)))
            fail_msg("%s: out of memory", path);
        got = fread(data + n, 1, cap - n, f);
        n += got;
    } while (got);
    fclose(f);
    data[n] = '\0';
    *size = n;
    return data;
}

/* Every file of the target's corpus through fn; at least min_files of them. */
static void replay(const char *target, fuzz_fn *fn, size_t min_files)
{
    char dir[256];
    snprintf(dir, sizeof dir, CORPUS "%s", target);
    DIR *d = opendir(dir);
    if (!d)
        fail_msg("%s: cannot open (tests run from the repository's root)", dir);
    size_t files = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        size_t size;
        uint8_t *data = corpus_file(target, e->d_name, &size);
        fn(data, size);
        free(data);
        files++;
    }
    closedir(d);
    if (files < min_files)
        fail_msg("%s: %zu inputs, expected at least %zu", dir, files, min_files);
}

static void test_replay_frame(void **state) { (void)state; replay("frame", fuzz_frame, 10); }
static void test_replay_hello(void **state) { (void)state; replay("hello", fuzz_hello, 7); }
static void test_replay_pipeline(void **state) { (void)state; replay("pipeline", fuzz_pipeline, 5); }
static void test_replay_model(void **state) { (void)state; replay("model", fuzz_model, 6); }

/* model_read of a model corpus file, named path in messages. */
static model *corpus_model(const char *name, const char *path)
{
    size_t size;
    uint8_t *data = corpus_file("model", name, &size);
    FILE *in = fmemopen(data, size, "rb");
    assert_non_null(in);
    model *m = model_read(in, path);
    fclose(in);
    free(data);
    return m;
}

/* make fuzz (model): a 164-byte file whose header claims 2^31 weights made
 * model_load allocate 8 GB before finding the file short; now its size is
 * checked first, and the message says what the file holds. */
static void test_model_huge_shape(void **state)
{
    (void)state;
    assert_null(corpus_model("oom-huge-shape", "huge.ssm"));
    assert_non_null(strstr(err_msg(), "huge.ssm: truncated: 24 bytes after the header"));
}

/* make fuzz (model): a checkpoint (format 3) whose Adam moments were NaN or,
 * for the second, negative loaded, and training would have gone on from
 * them (sqrt(v)); they are now checked as the weights are. */
static void test_model_bad_moment(void **state)
{
    (void)state;
    assert_null(corpus_model("v3-negative-second-moment", "ckpt.ssm"));
    assert_string_equal(err_msg(), "ckpt.ssm: Adam's second moment 1 (row 0, column 1) is "
                                   "negative or not finite");
}

/* Found writing fuzz_hello: a HELLO of float frames 2^31 x 2^31 has a payload
 * of 2^64 bytes, which wrapped to 0 and passed the --max-frame check; the
 * frame limits are now checked first. */
static void test_hello_shape_beyond_limits(void **state)
{
    (void)state;
    size_t size;
    uint8_t *data = corpus_file("hello", "overflow-shape", &size);
    spike_frame *ctl = frame_new(&(frame_shape){FRAME_CONTROL, 0, 0, 0});
    assert_int_equal(frame_decode(ctl, data + 1, size - 1, NULL, 0), 0);
    assert_int_equal(ctl->hello.shape.batch, 1u << 31);
    link_end mine = {{"dec", "ae-decoder", ""}, "in", PORT_IN, {FRAME_ANY, 0, 0, 0}, 256 << 20};
    char name[FRAME_LINK_MAX];
    frame_shape shape;
    assert_int_equal(link_hello_agree(&mine, ctl, name, sizeof name, &shape), -1);
    assert_non_null(strstr(err_msg(), "beyond the limits"));
    assert_string_equal(name, "enc.out->dec.in");
    frame_destroy(&ctl);
    free(data);
}

/* make fuzz (frame): a spikes payload may set the bits past a row's width,
 * which frame_count_spikes counted as spikes (frame.c assumed decoding never
 * let them in); decoding now refuses them. */
static void test_spike_padding_refused(void **state)
{
    (void)state;
    size_t size;
    uint8_t *data = corpus_file("frame", "spikes-padding-bits", &size);
    size_t header_len = (size_t)data[1] | (size_t)data[2] << 8;
    spike_frame *f = frame_new(&(frame_shape){FRAME_SPIKES, 4, 20, 3});
    assert_int_equal(frame_decode(f, data + 3, header_len, data + 3 + header_len,
                                  size - 3 - header_len), -1);
    assert_string_equal(err_msg(), "frame payload: spikes row 3 sets bits past its width 20");
    data[size - 1] &= 0x0f; /* the same frame without them */
    assert_int_equal(frame_decode(f, data + 3, header_len, data + 3 + header_len,
                                  size - 3 - header_len), 0);
    frame_destroy(&f);
    free(data);
}

/* make fuzz (pipeline): port_base=99999999999999999999 saturated strtol at
 * LONG_MAX, and adding the number of links overflowed (UBSan; in a plain
 * build, a port of -1); the base is now bounded before the sum. */
static void test_port_base_overflow(void **state)
{
    (void)state;
    size_t size;
    uint8_t *data = corpus_file("pipeline", "port-base-overflow", &size);
    char *text = (char *)data, *ov = text + strlen(text) + 1; /* the file, then the override */
    assert_true((size_t)(ov - text) < size);
    pipeline *p = pipeline_parse("overflow.pipe", text, &ov, 1);
    assert_non_null(p);
    int port = 0;
    assert_int_equal(placement_port(p, 0, &port), -1);
    assert_non_null(strstr(err_msg(), "port_base=99999999999999999999"));
    pipeline_destroy(&p);
    free(data);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_replay_frame),    cmocka_unit_test(test_replay_hello),
        cmocka_unit_test(test_replay_pipeline), cmocka_unit_test(test_replay_model),
        cmocka_unit_test(test_model_huge_shape), cmocka_unit_test(test_model_bad_moment),
        cmocka_unit_test(test_hello_shape_beyond_limits),
        cmocka_unit_test(test_spike_padding_refused), cmocka_unit_test(test_port_base_overflow),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
