/* test_frame: wire round trips, rejection of malformed, oversized and
 * out-of-order frames (whole steps and steps in parts), spike packing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/err.h"
#include "transport/frame.h"

#include <stdlib.h>
#include <string.h>

static spike_frame *make(frame_kind kind, uint32_t batch, uint32_t width, uint32_t steps)
{
    spike_frame *f = frame_new(&(frame_shape){kind, batch, width, steps});
    assert_non_null(f);
    return f;
}

/* encode a into a header buffer, decode into b */
static int round_trip(const spike_frame *a, spike_frame *b, msgpack_sbuffer *hdr)
{
    assert_int_equal(frame_encode(a, "run-1", "src.out->dst.in", hdr), 0);
    const void *payload;
    size_t len;
    frame_payload(a, &payload, &len);
    return frame_decode(b, hdr->data, hdr->size, payload, len);
}

static void test_spikes_round_trip(void **state)
{
    (void)state;
    spike_frame *a = make(FRAME_SPIKES, 5, 13, 4), *b = make(FRAME_SPIKES, 5, 13, 4);
    uint8_t src[5 * 13], back[5 * 13];
    srand(7);
    for (size_t i = 0; i < sizeof src; i++)
        src[i] = rand() % 3 == 0;
    assert_int_equal(frame_pack_u8(a, src, 5), 0);
    for (uint32_t i = 0; i < 5; i++)
        a->ids[i] = 1000 + i;
    a->batch_index = 7;
    a->step = 3;
    a->steps = 4;
    msgpack_sbuffer hdr;
    msgpack_sbuffer_init(&hdr);
    assert_int_equal(round_trip(a, b, &hdr), 0);
    assert_int_equal(b->kind, FRAME_SPIKES);
    assert_int_equal(b->batch, 5);
    assert_int_equal(b->width, 13);
    assert_int_equal(b->batch_index, 7);
    assert_int_equal(b->step, 3);
    assert_int_equal(b->steps, 4);
    assert_int_equal(b->ids[4], 1004);
    assert_string_equal(b->run, "run-1");
    assert_string_equal(b->link, "src.out->dst.in");
    frame_unpack_u8(b, back);
    assert_memory_equal(src, back, sizeof src);
    uint64_t n = 0;
    for (size_t i = 0; i < sizeof src; i++)
        n += src[i];
    assert_int_equal(frame_count_spikes(b), n);
    assert_int_equal(frame_spike(b, 1, 12), src[13 + 12]);

    /* a short last batch */
    assert_int_equal(frame_pack_u8(a, src, 2), 0);
    a->step = 0;
    assert_int_equal(round_trip(a, b, &hdr), 0);
    assert_int_equal(b->batch, 2);
    msgpack_sbuffer_destroy(&hdr);
    frame_destroy(&a);
    frame_destroy(&b);
    assert_null(a);
}

static void test_values_round_trip(void **state)
{
    (void)state;
    spike_frame *a = make(FRAME_ERROR, 3, 4, 1), *b = make(FRAME_ERROR, 3, 4, 1);
    for (int i = 0; i < 12; i++)
        a->values[i] = (float)i * 0.5f - 2;
    msgpack_sbuffer hdr;
    msgpack_sbuffer_init(&hdr);
    assert_int_equal(round_trip(a, b, &hdr), 0);
    assert_memory_equal(a->values, b->values, 12 * sizeof(float));
    /* a values frame on a link that carries errors */
    spike_frame *c = make(FRAME_VALUES, 3, 4, 1);
    assert_int_equal(round_trip(c, b, &hdr), -1);
    assert_non_null(strstr(err_msg(), "values frame on a link that carries error"));
    msgpack_sbuffer_destroy(&hdr);
    frame_destroy(&a);
    frame_destroy(&b);
    frame_destroy(&c);
}

/* The stream's length travels with its frames, follows to an answer, is 0
 * when absent, and bounds the batch index. */
static void test_stream_length(void **state)
{
    (void)state;
    spike_frame *a = make(FRAME_VALUES, 3, 4, 1), *b = make(FRAME_VALUES, 3, 4, 1);
    msgpack_sbuffer hdr;
    msgpack_sbuffer_init(&hdr);
    a->batch_index = 6;
    a->batches = 7;
    assert_int_equal(round_trip(a, b, &hdr), 0);
    assert_int_equal(b->batches, 7);
    spike_frame *c = make(FRAME_SPIKES, 3, 2, 1);
    frame_follow(c, b);
    assert_int_equal(c->batches, 7);
    a->batches = 0; /* unknown: not sent, and a decode forgets the last one */
    assert_int_equal(round_trip(a, b, &hdr), 0);
    assert_int_equal(b->batches, 0);
    a->batches = 6;
    assert_int_equal(round_trip(a, b, &hdr), -1);
    assert_non_null(strstr(err_msg(), "batch 6 of a stream of 6 batches"));
    msgpack_sbuffer_destroy(&hdr);
    frame_destroy(&a);
    frame_destroy(&b);
    frame_destroy(&c);
}

/* A source's frame after a control frame: values again, one step, its batch. */
static void test_start_values(void **state)
{
    (void)state;
    spike_frame *f = make(FRAME_VALUES, 4, 3, 1);
    frame_set_control(f, FRAME_END);
    f->step = 5;
    frame_start_values(f, 2, 9);
    assert_int_equal(f->kind, FRAME_VALUES);
    assert_int_equal(f->batch, 2);
    assert_int_equal(f->batch_index, 9);
    assert_int_equal(f->step, 0);
    assert_int_equal(f->steps, 1);
    frame_destroy(&f);
}

static void test_pack_f32(void **state)
{
    (void)state;
    spike_frame *f = make(FRAME_SPIKES, 2, 9, 1);
    float src[18] = {0}, back[18];
    src[0] = 1;
    src[8] = 0.5f;
    src[17] = -1;
    assert_int_equal(frame_pack_f32(f, src, 2), 0);
    assert_int_equal(frame_row_bytes(9), 2);
    assert_int_equal(f->spikes[0], 0x01);
    assert_int_equal(f->spikes[1], 0x01); /* bit 8 of row 0; padding bits stay 0 */
    assert_int_equal(f->spikes[3], 0x01); /* bit 8 of row 1 */
    frame_unpack_f32(f, back);
    assert_true(back[0] == 1 && back[8] == 1 && back[17] == 1 && back[1] == 0);
    assert_int_equal(frame_count_spikes(f), 3);
    assert_int_equal(frame_pack_f32(f, src, 3), -1); /* more rows than allocated */
    frame_set_spike(f, 0, 3, true);
    assert_true(frame_spike(f, 0, 3));
    frame_set_spike(f, 0, 3, false);
    assert_false(frame_spike(f, 0, 3));
    frame_destroy(&f);
}

static void test_control_round_trip(void **state)
{
    (void)state;
    spike_frame *a = make(FRAME_CONTROL, 0, 0, 0), *b = make(FRAME_CONTROL, 0, 0, 0);
    frame_set_control(a, FRAME_HELLO);
    strcpy(a->stage, "enc");
    strcpy(a->hello.type, "poisson-encoder");
    strcpy(a->hello.port, "spikes");
    a->hello.out = true;
    a->hello.shape = (frame_shape){FRAME_SPIKES, 0, 784, 15};
    msgpack_sbuffer hdr;
    msgpack_sbuffer_init(&hdr);
    assert_int_equal(round_trip(a, b, &hdr), 0);
    assert_int_equal(b->kind, FRAME_CONTROL);
    assert_int_equal(b->control, FRAME_HELLO);
    assert_string_equal(b->stage, "enc");
    assert_string_equal(b->hello.type, "poisson-encoder");
    assert_string_equal(b->hello.port, "spikes");
    assert_true(b->hello.out);
    assert_int_equal(b->hello.shape.kind, FRAME_SPIKES);
    assert_int_equal(b->hello.shape.batch, 0);
    assert_int_equal(b->hello.shape.width, 784);
    assert_int_equal(b->hello.shape.steps, 15);
    assert_int_equal(b->batch, 0);

    frame_set_control(a, FRAME_STOP);
    strcpy(a->text, "because");
    assert_int_equal(round_trip(a, b, &hdr), 0);
    assert_int_equal(b->control, FRAME_STOP);
    assert_string_equal(b->text, "because");
    /* a data frame arriving where only control frames are expected */
    spike_frame *d = make(FRAME_SPIKES, 1, 8, 1);
    assert_int_equal(round_trip(d, b, &hdr), -1);
    assert_non_null(strstr(err_msg(), "where only control frames are expected"));
    msgpack_sbuffer_destroy(&hdr);
    frame_destroy(&a);
    frame_destroy(&b);
    frame_destroy(&d);
}

static void test_truncated_header(void **state)
{
    (void)state;
    spike_frame *a = make(FRAME_SPIKES, 4, 16, 2), *b = make(FRAME_SPIKES, 4, 16, 2);
    msgpack_sbuffer hdr;
    msgpack_sbuffer_init(&hdr);
    assert_int_equal(frame_encode(a, "r", "l", &hdr), 0);
    const void *payload;
    size_t len;
    frame_payload(a, &payload, &len);
    for (size_t cut = 0; cut < hdr.size; cut++) {
        /* a private copy, so ASan sees any read past the cut */
        char *copy = malloc(cut ? cut : 1);
        memcpy(copy, hdr.data, cut);
        assert_int_equal(frame_decode(b, copy, cut, payload, len), -1);
        assert_true(strlen(err_msg()) > 0);
        free(copy);
    }
    assert_int_equal(frame_decode(b, hdr.data, hdr.size, payload, len), 0);
    /* trailing garbage after the header map */
    msgpack_sbuffer_write(&hdr, "\x01", 1);
    assert_int_equal(frame_decode(b, hdr.data, hdr.size, payload, len), -1);
    assert_non_null(strstr(err_msg(), "after the header"));
    /* random corruption never crashes and never succeeds silently with bad counts */
    msgpack_sbuffer_clear(&hdr);
    assert_int_equal(frame_encode(a, "r", "l", &hdr), 0);
    srand(3);
    for (int trial = 0; trial < 2000; trial++) {
        char *copy = malloc(hdr.size);
        memcpy(copy, hdr.data, hdr.size);
        for (int k = 0; k < 3; k++)
            copy[rand() % hdr.size] = (char)rand();
        if (frame_decode(b, copy, hdr.size, payload, len) == 0) {
            assert_true(b->batch <= 4);
            assert_int_equal(b->width, 16);
        }
        free(copy);
    }
    msgpack_sbuffer_destroy(&hdr);
    frame_destroy(&a);
    frame_destroy(&b);
}

/* A header written by hand: fields in order, with one value replaced by a caller. */
typedef void (*field_writer)(msgpack_packer *pk, const char *key);

static void pack_kv(msgpack_packer *pk, const char *k, uint32_t v)
{
    msgpack_pack_str_with_body(pk, k, strlen(k));
    msgpack_pack_uint32(pk, v);
}

static void hand_header(msgpack_sbuffer *sb, const char *odd_key, field_writer odd, uint32_t batch,
                        uint32_t n_ids)
{
    msgpack_packer pk;
    msgpack_sbuffer_clear(sb);
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 8);
    const char *keys[] = {"version", "kind", "batch_index", "step", "steps", "batch", "width", "ids"};
    for (int i = 0; i < 8; i++) {
        const char *k = keys[i];
        if (odd_key && !strcmp(k, odd_key)) {
            msgpack_pack_str_with_body(&pk, k, strlen(k));
            odd(&pk, k);
        } else if (!strcmp(k, "kind")) {
            msgpack_pack_str_with_body(&pk, k, 4);
            msgpack_pack_str_with_body(&pk, "spikes", 6);
        } else if (!strcmp(k, "ids")) {
            msgpack_pack_str_with_body(&pk, k, 3);
            msgpack_pack_array(&pk, n_ids);
            for (uint32_t j = 0; j < n_ids; j++)
                msgpack_pack_uint32(&pk, j);
        } else {
            uint32_t v = !strcmp(k, "version") ? FRAME_VERSION : !strcmp(k, "steps") ? 2
                         : !strcmp(k, "batch") ? batch : !strcmp(k, "width") ? 16 : 0;
            pack_kv(&pk, k, v);
        }
    }
}

static void write_str(msgpack_packer *pk, const char *key)
{
    (void)key;
    msgpack_pack_str_with_body(pk, "three", 5);
}
static void write_negative(msgpack_packer *pk, const char *key)
{
    (void)key;
    msgpack_pack_int32(pk, -3);
}
static void write_version_2(msgpack_packer *pk, const char *key)
{
    (void)key;
    msgpack_pack_uint32(pk, 2);
}
static void write_huge_array(msgpack_packer *pk, const char *key)
{
    (void)key;
    msgpack_pack_array(pk, 0xffffffffu); /* claims 4 billion ids in a few bytes */
}

static void test_wrong_types(void **state)
{
    (void)state;
    spike_frame *b = make(FRAME_SPIKES, 4, 16, 2);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    uint8_t payload[8] = {0};

    hand_header(&sb, NULL, NULL, 4, 4);
    assert_int_equal(frame_decode(b, sb.data, sb.size, payload, 8), 0);

    hand_header(&sb, "step", write_str, 4, 4);
    assert_int_equal(frame_decode(b, sb.data, sb.size, payload, 8), -1);
    assert_string_equal(err_msg(), "frame header field 'step': expected unsigned integer, got str");

    hand_header(&sb, "batch", write_negative, 4, 4);
    assert_int_equal(frame_decode(b, sb.data, sb.size, payload, 8), -1);
    assert_non_null(strstr(err_msg(), "'batch': expected unsigned integer, got negative"));

    hand_header(&sb, "version", write_version_2, 4, 4);
    assert_int_equal(frame_decode(b, sb.data, sb.size, payload, 8), -1);
    assert_non_null(strstr(err_msg(), "protocol version 2"));

    hand_header(&sb, "ids", write_huge_array, 4, 4);
    assert_int_equal(frame_decode(b, sb.data, sb.size, payload, 8), -1);
    assert_non_null(strstr(err_msg(), "4294967295 entries, the frame holds at most 4 rows"));

    /* not a map at all */
    assert_int_equal(frame_decode(b, "\x93\x01\x02\x03", 4, payload, 8), -1);
    assert_non_null(strstr(err_msg(), "expected map, got array"));
    /* a map claiming 2^32-1 entries */
    assert_int_equal(frame_decode(b, "\xdf\xff\xff\xff\xff", 5, payload, 8), -1);
    assert_non_null(strstr(err_msg(), "4294967295 entries"));
    msgpack_sbuffer_destroy(&sb);
    frame_destroy(&b);
}

static void test_counts_and_sizes(void **state)
{
    (void)state;
    spike_frame *b = make(FRAME_SPIKES, 4, 16, 2);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    uint8_t payload[64] = {0};

    /* count larger than the payload: 4 rows of 2 bytes need 8 */
    hand_header(&sb, NULL, NULL, 4, 4);
    assert_int_equal(frame_decode(b, sb.data, sb.size, payload, 6), -1);
    assert_string_equal(err_msg(), "frame payload of 6 bytes, spikes 4x16 needs 8");
    /* oversized payload */
    assert_int_equal(frame_decode(b, sb.data, sb.size, payload, 64), -1);
    assert_non_null(strstr(err_msg(), "payload of 64 bytes"));
    /* more rows than the link agreed on */
    hand_header(&sb, NULL, NULL, 9, 4);
    assert_int_equal(frame_decode(b, sb.data, sb.size, payload, 18), -1);
    assert_non_null(strstr(err_msg(), "batch of 9 rows, the link carries 1 to 4"));
    /* ids count disagreeing with batch */
    hand_header(&sb, NULL, NULL, 4, 3);
    assert_int_equal(frame_decode(b, sb.data, sb.size, payload, 8), -1);
    assert_non_null(strstr(err_msg(), "3 sample ids for 4 rows"));
    msgpack_sbuffer_destroy(&sb);
    frame_destroy(&b);
}

/* Sample names and labels: sent with step 0 (whole or in parts), absent from
 * later steps, carried by frame_follow(_rows) and frame_copy_samples, checked
 * on decoding. */
static void test_named_samples(void **state)
{
    (void)state;
    spike_frame *a = make(FRAME_SPIKES, 3, 8, 2), *b = make(FRAME_SPIKES, 3, 8, 2);
    msgpack_sbuffer hdr;
    msgpack_sbuffer_init(&hdr);
    const char *names[] = {"0_george_3", "odd, \"name\"", "utt000002_100ms-900ms"};
    const int32_t labels[] = {0, -1, 7};
    a->batch = 3;
    a->steps = 2;
    for (uint32_t i = 0; i < 3; i++) {
        a->ids[i] = 10 + i;
        assert_int_equal(frame_set_sample(a, i, names[i], labels[i]), 0);
    }
    assert_true(a->named);
    assert_int_equal(round_trip(a, b, &hdr), 0);
    assert_true(b->named);
    for (uint32_t i = 0; i < 3; i++) {
        assert_string_equal(frame_name(b, i), names[i]);
        assert_int_equal(b->labels[i], labels[i]);
    }
    size_t named_size = hdr.size;
    /* step 1: the same samples, no names on the wire */
    a->step = 1;
    assert_int_equal(round_trip(a, b, &hdr), 0);
    assert_false(b->named);
    assert_string_equal(frame_name(b, 0), "");
    assert_true(hdr.size < named_size);

    /* a relay carries them: whole step, then a part of rows 1..2 */
    a->step = 0;
    spike_frame *v = make(FRAME_VALUES, 3, 4, 2);
    frame_follow(v, a);
    assert_true(v->named);
    assert_string_equal(frame_name(v, 2), names[2]);
    frame_follow_rows(v, a, 1, 2);
    assert_int_equal(v->batch, 2);
    assert_int_equal(v->ids[0], 11);
    assert_string_equal(frame_name(v, 0), names[1]);
    assert_int_equal(v->labels[1], 7);
    spike_frame *c = make(FRAME_VALUES, 3, 4, 2);
    assert_int_equal(round_trip(v, c, &hdr), 0);
    assert_true(c->named);
    assert_int_equal(c->row0, 1);
    assert_string_equal(frame_name(c, 1), names[2]);
    frame_copy_samples(c, b, 0, 3); /* b (step 1) is not named: neither is c now */
    assert_false(c->named);

    /* an unnamed frame has neither field; a name too long is refused */
    spike_frame *u = make(FRAME_SPIKES, 3, 8, 2);
    u->batch = 3;
    assert_int_equal(round_trip(u, b, &hdr), 0);
    assert_false(b->named);
    char longname[FRAME_SAMPLE_NAME_MAX + 1];
    memset(longname, 'x', FRAME_SAMPLE_NAME_MAX);
    longname[FRAME_SAMPLE_NAME_MAX] = '\0';
    assert_int_equal(frame_set_sample(u, 0, longname, 1), -1);
    assert_non_null(strstr(err_msg(), "at most 319"));
    assert_int_equal(frame_set_sample(u, 3, "x", 1), -1);
    msgpack_sbuffer_destroy(&hdr);
    frame_destroy(&a);
    frame_destroy(&b);
    frame_destroy(&c);
    frame_destroy(&u);
    frame_destroy(&v);
}

/* names and labels must come together, one per row, labels >= -1 */
static void write_names_2(msgpack_packer *pk, const char *key)
{
    (void)key;
    msgpack_pack_array(pk, 4);
    for (int i = 0; i < 4; i++)
        msgpack_pack_uint32(pk, (uint32_t)i);
    msgpack_pack_str_with_body(pk, "names", 5);
    msgpack_pack_array(pk, 2);
    msgpack_pack_str_with_body(pk, "a", 1);
    msgpack_pack_str_with_body(pk, "b", 1);
}

static void test_bad_names(void **state)
{
    (void)state;
    spike_frame *b = make(FRAME_SPIKES, 4, 16, 2);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    uint8_t payload[8] = {0};
    /* "ids" replaced by ids + a 2-entry names array (the map then has 9 entries) */
    hand_header(&sb, "ids", write_names_2, 4, 4);
    ((uint8_t *)sb.data)[0] = 0x89;
    assert_int_equal(frame_decode(b, sb.data, sb.size, payload, 8), -1);
    assert_non_null(strstr(err_msg(), "field 'names' without 'labels'"));

    spike_frame *a = make(FRAME_SPIKES, 4, 16, 2);
    a->batch = 4;
    for (uint32_t i = 0; i < 4; i++)
        assert_int_equal(frame_set_sample(a, i, "n", 1), 0);
    assert_int_equal(frame_set_sample(a, 0, "n", -2), -1);
    assert_int_equal(frame_set_sample(a, 0, "../x", 1), -1);
    assert_int_equal(frame_set_sample(a, 0, "", 1), -1);
    a->labels[0] = -2; /* a sender that does not check */
    assert_int_equal(frame_encode(a, "", "", &sb), 0);
    assert_int_equal(frame_decode(b, sb.data, sb.size, payload, 8), -1);
    assert_non_null(strstr(err_msg(), "'labels' entry 0: -2"));
    a->labels[0] = 1;
    strcpy(a->names + FRAME_SAMPLE_NAME_MAX, "a/b");
    assert_int_equal(frame_encode(a, "", "", &sb), 0);
    assert_int_equal(frame_decode(b, sb.data, sb.size, payload, 8), -1);
    assert_non_null(strstr(err_msg(), "'names' entry 1: 'a/b'"));
    msgpack_sbuffer_destroy(&sb);
    frame_destroy(&a);
    frame_destroy(&b);
}

static spike_frame *at(spike_frame *f, uint32_t b, uint32_t t)
{
    f->kind = FRAME_SPIKES;
    f->batch_index = b;
    f->step = t;
    f->steps = 3;
    return f;
}

static void test_sequence(void **state)
{
    (void)state;
    spike_frame *f = make(FRAME_SPIKES, 1, 8, 3);
    frame_seq s;
    frame_seq_init(&s, 3);
    for (uint32_t b = 0; b < 2; b++)
        for (uint32_t t = 0; t < 3; t++)
            assert_int_equal(frame_seq_check(&s, at(f, b, t)), 0);
    /* a gap */
    assert_int_equal(frame_seq_check(&s, at(f, 2, 1)), -1);
    assert_string_equal(err_msg(), "out of order: expected batch 2 step 0 of 3, received batch 2 "
                                   "step 1 (frames missing)");
    /* a repeat */
    assert_int_equal(frame_seq_check(&s, at(f, 1, 2)), -1);
    assert_non_null(strstr(err_msg(), "repeated or reordered"));
    /* wrong steps count */
    at(f, 2, 0)->steps = 4;
    assert_int_equal(frame_seq_check(&s, f), -1);
    assert_non_null(strstr(err_msg(), "agreed on 3"));
    /* heartbeats are ignored */
    frame_set_control(f, FRAME_HEARTBEAT);
    assert_int_equal(frame_seq_check(&s, f), 0);
    /* END in the middle of a batch, then with a wrong count, then right */
    assert_int_equal(frame_seq_check(&s, at(f, 2, 0)), 0);
    frame_set_control(f, FRAME_END);
    f->batch_index = 2;
    assert_int_equal(frame_seq_check(&s, f), -1);
    assert_non_null(strstr(err_msg(), "END in the middle of batch 2"));
    assert_int_equal(frame_seq_check(&s, at(f, 2, 1)), 0);
    assert_int_equal(frame_seq_check(&s, at(f, 2, 2)), 0);
    frame_set_control(f, FRAME_END);
    f->batch_index = 2;
    assert_int_equal(frame_seq_check(&s, f), -1);
    assert_non_null(strstr(err_msg(), "END says 2 batches, 3 were received"));
    f->batch_index = 3;
    assert_int_equal(frame_seq_check(&s, f), 0);
    assert_int_equal(frame_seq_check(&s, at(f, 3, 0)), -1);
    assert_non_null(strstr(err_msg(), "after the end"));
    frame_destroy(&f);
}

/* A step in parts: rows row0..row0+B-1 of `rows`, on the wire and in order. */
static spike_frame *part(spike_frame *f, uint32_t b, uint32_t t, uint32_t row0, uint32_t n)
{
    at(f, b, t);
    f->batch = n;
    f->row0 = row0;
    f->rows = 10;
    return f;
}

static void test_parts(void **state)
{
    (void)state;
    spike_frame *f = make(FRAME_VALUES, 10, 4, 3), *g = make(FRAME_VALUES, 10, 4, 3);
    msgpack_sbuffer hdr;
    msgpack_sbuffer_init(&hdr);
    /* the part's position travels with it; a whole step carries none */
    part(f, 0, 1, 6, 4)->kind = FRAME_VALUES;
    for (uint32_t i = 0; i < 4; i++)
        f->ids[i] = 6 + i;
    assert_int_equal(round_trip(f, g, &hdr), 0);
    assert_int_equal(g->row0, 6);
    assert_int_equal(g->rows, 10);
    assert_int_equal(g->batch, 4);
    f->row0 = 0;
    f->rows = 0;
    assert_int_equal(round_trip(f, g, &hdr), 0);
    assert_int_equal(g->row0, 0);
    assert_int_equal(g->rows, 4);
    /* rows beyond the step, or a step larger than the link's batch, are refused */
    f->row0 = 8;
    f->rows = 10;
    assert_int_equal(frame_encode(f, "", "x", &hdr), -1);
    assert_non_null(strstr(err_msg(), "rows 8..11 of a step of 10"));
    f->row0 = 0;
    f->rows = 11;
    assert_int_equal(frame_encode(f, "", "x", &hdr), -1);

    frame_seq s;
    frame_seq_init(&s, 3);
    spike_frame *p = make(FRAME_SPIKES, 10, 8, 3);
    assert_int_equal(frame_seq_check(&s, part(p, 0, 0, 0, 6)), 0);
    assert_int_equal(frame_seq_check(&s, part(p, 0, 0, 6, 4)), 0);
    assert_int_equal(frame_seq_check(&s, part(p, 0, 1, 0, 8)), 0);
    /* a part missing: the next step came first */
    assert_int_equal(frame_seq_check(&s, part(p, 0, 2, 0, 8)), -1);
    assert_string_equal(err_msg(), "out of order: expected batch 0 step 1 of 3, received batch 0 "
                                   "step 2 (frames missing)");
    /* a part skipped within the step */
    assert_int_equal(frame_seq_check(&s, part(p, 0, 1, 9, 1)), -1);
    assert_non_null(strstr(err_msg(), "expected rows from 8"));
    /* END before the step's last part */
    frame_set_control(p, FRAME_END);
    p->batch_index = 0;
    assert_int_equal(frame_seq_check(&s, p), -1);
    assert_non_null(strstr(err_msg(), "END in the middle of batch 0 step 1: rows from 8 of 10"));
    assert_int_equal(frame_seq_check(&s, part(p, 0, 1, 8, 2)), 0);
    /* a part where a new step begins must start at row 0 */
    assert_int_equal(frame_seq_check(&s, part(p, 0, 2, 2, 8)), -1);
    assert_non_null(strstr(err_msg(), "(a new step)"));
    /* whole frames and parts mix step by step */
    at(p, 0, 2)->batch = 10;
    p->row0 = 0;
    p->rows = 0;
    assert_int_equal(frame_seq_check(&s, p), 0);
    assert_int_equal(s.batch_index, 1);
    msgpack_sbuffer_destroy(&hdr);
    frame_destroy(&f);
    frame_destroy(&g);
    frame_destroy(&p);
}

static void test_bad_shapes(void **state)
{
    (void)state;
    assert_null(frame_new(&(frame_shape){FRAME_VALUES, 4, 0, 1}));
    assert_non_null(strstr(err_msg(), "width must be"));
    assert_null(frame_new(&(frame_shape){FRAME_VALUES, FRAME_MAX_BATCH + 1, 4, 1}));
    char buf[64];
    frame_shape_format(&(frame_shape){FRAME_SPIKES, 0, 784, 15}, buf, sizeof buf);
    assert_string_equal(buf, "spikes anyx784, 15 steps");
    frame_kind k;
    assert_int_equal(frame_kind_parse("membrane", &k), 0);
    assert_int_equal(k, FRAME_MEMBRANE);
    assert_int_equal(frame_kind_parse("volts", &k), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spikes_round_trip), cmocka_unit_test(test_values_round_trip),
        cmocka_unit_test(test_pack_f32),          cmocka_unit_test(test_control_round_trip),
        cmocka_unit_test(test_truncated_header),  cmocka_unit_test(test_wrong_types),
        cmocka_unit_test(test_counts_and_sizes),  cmocka_unit_test(test_sequence),
        cmocka_unit_test(test_parts),
        cmocka_unit_test(test_named_samples),     cmocka_unit_test(test_bad_names),
        cmocka_unit_test(test_bad_shapes),
        cmocka_unit_test(test_start_values),
        cmocka_unit_test(test_stream_length),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
