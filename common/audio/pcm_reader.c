/* pcm_reader: WAV or raw PCM from a file descriptor (see include/pcm_reader.h).
 * Invariants: in[0..in_len) are bytes read and not yet handed out (after the
 * header: starting on a frame boundary); `handed` bytes at the front were handed
 * out by the last read and are dropped at the next call. Once a WAV's stated
 * data is used up the bytes that follow are chunks again, parsed by the same
 * parse_chunks: a "RIFF" among them is the next recording's header. */
#include "audio/pcm_reader.h"

#include "core/err.h"

#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define READ_BYTES 65536
#define FMT_MAX 1024

enum sample_kind { K_S16, K_F32, K_U8, K_S24, K_S32, K_F64 };

struct pcm_reader {
    int fd;
    char *name;
    pcm_format raw, fmt;
    bool started, wav, eof, have_fmt;
    enum sample_kind kind;
    size_t bytes_per_frame;
    uint64_t remaining; /* data bytes left (WAV with a stated size), else UINT64_MAX */
    uint64_t skip;      /* bytes of an unknown WAV chunk still to discard */
    bool odd_data;      /* the data chunk's size is odd: a pad byte follows it */
    bool new_riff;      /* parse_chunks met the header of a further recording */
    unsigned recordings; /* WAV headers read */
    uint64_t trailing;  /* bytes after the last data that were no recording */
    uint8_t *in;
    size_t in_len, in_cap, handed;
    float *conv;
    size_t conv_cap;
};

pcm_reader *pcm_reader_new(int fd, const pcm_format *raw, const char *name)
{
    if (!name)
        name = "(stream)";
    if (raw->format != AUDIO_S16 && raw->format != AUDIO_F32) {
        err_set("%s: raw PCM format must be s16 or f32", name);
        return NULL;
    }
    pcm_reader *self = calloc(1, sizeof *self);
    if (!self || !(self->name = strdup(name)) || !(self->in = malloc(READ_BYTES + FMT_MAX))) {
        err_set("%s: out of memory", name);
        pcm_reader_destroy(&self);
        return NULL;
    }
    self->fd = fd;
    self->raw = *raw;
    self->in_cap = READ_BYTES + FMT_MAX;
    self->remaining = UINT64_MAX;
    return self;
}

void pcm_reader_destroy(pcm_reader **self_p)
{
    pcm_reader *self = self_p ? *self_p : NULL;
    if (!self)
        return;
    free(self->name);
    free(self->in);
    free(self->conv);
    free(self);
    *self_p = NULL;
}

const pcm_format *pcm_reader_format(const pcm_reader *self) { return &self->fmt; }
bool pcm_reader_is_wav(const pcm_reader *self) { return self->wav; }
unsigned pcm_reader_recordings(const pcm_reader *self) { return self->recordings; }
uint64_t pcm_reader_trailing(const pcm_reader *self) { return self->trailing; }

/* Waits up to timeout_ms, then reads what is there. 1: bytes (or EOF, see
 * self->eof); 0: nothing yet (or a signal); -1: error. */
static int fill(pcm_reader *self, int timeout_ms)
{
    if (self->eof)
        return 1;
    if (self->in_len == self->in_cap)
        return 1; /* full: the caller consumes first */
    struct pollfd p = {self->fd, POLLIN, 0};
    int r = poll(&p, 1, timeout_ms);
    if (r < 0)
        return errno == EINTR ? 0 : err_set("%s: poll failed: %s", self->name, strerror(errno));
    if (r == 0)
        return 0;
    ssize_t got = read(self->fd, self->in + self->in_len, self->in_cap - self->in_len);
    if (got < 0) {
        if (errno == EINTR || errno == EAGAIN)
            return 0;
        return err_set("%s: read failed: %s", self->name, strerror(errno));
    }
    if (got == 0)
        self->eof = true;
    self->in_len += (size_t)got;
    return 1;
}

static void drop(pcm_reader *self, size_t n)
{
    memmove(self->in, self->in + n, self->in_len - n);
    self->in_len -= n;
}

static uint32_t le32(const uint8_t *p) { return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24; }
static uint16_t le16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }

static int parse_fmt(pcm_reader *self, const uint8_t *p, uint32_t size)
{
    if (size < 16)
        return err_set("%s: WAV 'fmt ' chunk of %u bytes is too short", self->name, size);
    unsigned tag = le16(p), ch = le16(p + 2), bits = le16(p + 14), align = le16(p + 12);
    uint32_t rate = le32(p + 4);
    if (tag == 0xFFFE && size >= 40)
        tag = le16(p + 24); /* WAVE_FORMAT_EXTENSIBLE: the sub-format GUID starts with the tag */
    if (ch < 1 || ch > 64)
        return err_set("%s: WAV with %u channels (1..64 supported)", self->name, ch);
    if (rate < 1 || rate > 10000000)
        return err_set("%s: WAV sample rate %u Hz is not usable", self->name, rate);
    if (tag == 1 && bits == 16)
        self->kind = K_S16;
    else if (tag == 1 && bits == 8)
        self->kind = K_U8;
    else if (tag == 1 && bits == 24)
        self->kind = K_S24;
    else if (tag == 1 && bits == 32)
        self->kind = K_S32;
    else if (tag == 3 && bits == 32)
        self->kind = K_F32;
    else if (tag == 3 && bits == 64)
        self->kind = K_F64;
    else
        return err_set("%s: WAV format %u with %u-bit samples is not supported (PCM 8/16/24/32, "
                       "float 32/64)", self->name, tag, bits);
    self->bytes_per_frame = (size_t)ch * (bits / 8);
    if (align && align != self->bytes_per_frame)
        return err_set("%s: WAV block align %u does not match %u channels of %u bits", self->name,
                       align, ch, bits);
    self->fmt = (pcm_format){self->kind == K_S16 ? AUDIO_S16 : AUDIO_F32, rate, (int)ch};
    self->have_fmt = true;
    return 0;
}

/* Parses as much of the WAV header as is buffered. 1: at the data; 0: more
 * bytes needed; -1: error. The RIFF/WAVE preamble is already consumed. */
static int parse_chunks(pcm_reader *self)
{
    for (;;) {
        if (self->skip) {
            size_t k = self->skip < self->in_len ? (size_t)self->skip : self->in_len;
            drop(self, k);
            self->skip -= k;
            if (self->skip)
                return 0;
        }
        if (self->in_len < 8)
            return 0;
        const uint8_t *p = self->in;
        uint32_t size = le32(p + 4);
        if (!memcmp(p, "RIFF", 4)) { /* a further recording (cat a.wav b.wav) */
            if (self->in_len < 12)
                return 0;
            if (memcmp(p + 8, "WAVE", 4))
                return err_set("%s: a RIFF stream that is not WAVE after recording %u", self->name,
                               self->recordings);
            drop(self, 12);
            self->have_fmt = false;
            self->new_riff = true;
            continue;
        }
        if (!memcmp(p, "data", 4)) {
            if (!self->have_fmt)
                return err_set("%s: WAV 'data' chunk before any 'fmt ' chunk", self->name);
            self->remaining = size == 0 || size == 0xFFFFFFFFu ? UINT64_MAX : size;
            self->odd_data = size & 1;
            drop(self, 8);
            return 1;
        }
        for (int i = 0; i < 4; i++)
            if (p[i] < 0x20 || p[i] > 0x7e)
                return err_set("%s: WAV chunk id of bytes that are no text%s", self->name,
                               self->recordings ? " after a recording's data (a data size that "
                                                  "is too small?)" : "");
        if (!memcmp(p, "fmt ", 4)) {
            if (size > FMT_MAX - 8)
                return err_set("%s: WAV 'fmt ' chunk of %u bytes is too long", self->name, size);
            size_t need = 8 + (size_t)size + (size & 1);
            if (self->in_len < need)
                return 0;
            if (parse_fmt(self, p + 8, size) < 0)
                return -1;
            drop(self, need);
            continue;
        }
        self->skip = (uint64_t)size + (size & 1);
        drop(self, 8);
    }
}

/* The container the first bytes of a stream name, of those libsndfile reads
 * from files but this reader does not from a stream; NULL: none of them. */
static const char *container(const uint8_t *p)
{
    static const struct {
        char magic[5];
        const char *name;
    } known[] = {{"OggS", "an Ogg (Vorbis, Opus)"}, {"fLaC", "a FLAC"}, {"FORM", "an AIFF"},
                 {".snd", "an AU"}, {"caff", "a CAF"}, {"riff", "a Wave64"}, {"RF64", "an RF64"}};
    for (size_t i = 0; i < sizeof known / sizeof *known; i++)
        if (!memcmp(p, known[i].magic, 4))
            return known[i].name;
    return NULL;
}

int pcm_reader_start(pcm_reader *self, int timeout_ms)
{
    while (!self->started) {
        size_t before = self->in_len;
        bool was_eof = self->eof;
        if (!self->wav && self->in_len >= 4) {
            if (container(self->in)) /* not samples: read as raw PCM they would be noise */
                return err_set("%s: %s stream: a stream is read as WAV or raw PCM only; give it as "
                               "a file, or convert it on the way (sox - -t wav -)", self->name,
                               container(self->in));
            if (memcmp(self->in, "RIFF", 4)) { /* raw PCM: these bytes are samples */
                self->fmt = self->raw;
                self->kind = self->raw.format == AUDIO_S16 ? K_S16 : K_F32;
                self->bytes_per_frame = (size_t)self->raw.channels *
                                        (self->raw.format == AUDIO_S16 ? 2 : 4);
                self->started = true;
                break;
            }
            if (self->in_len < 12)
                goto more;
            if (memcmp(self->in + 8, "WAVE", 4))
                return err_set("%s: a RIFF stream that is not WAVE", self->name);
            self->wav = true;
            drop(self, 12);
        }
        if (self->wav) {
            int r = parse_chunks(self);
            if (r < 0)
                return -1;
            if (r == 1) {
                self->started = true;
                self->new_riff = false;
                self->recordings = 1;
                break;
            }
        }
    more:
        if (self->eof) {
            if (self->wav)
                return err_set("%s: the WAV stream ends inside its header", self->name);
            if (self->in_len == 0)
                return err_set("%s: empty stream, no audio", self->name);
            /* fewer than 4 bytes of raw PCM: let the raw branch take them */
            self->fmt = self->raw;
            self->kind = self->raw.format == AUDIO_S16 ? K_S16 : K_F32;
            self->bytes_per_frame =
                (size_t)self->raw.channels * (self->raw.format == AUDIO_S16 ? 2 : 4);
            self->started = true;
            break;
        }
        int r = fill(self, timeout_ms);
        if (r <= 0)
            return r;
        if (self->in_len == before && !self->eof && was_eof == self->eof)
            return 0;
    }
    if (self->fmt.channels < 1 || self->fmt.channels > 64)
        return err_set("%s: %d channels (1..64 supported)", self->name, self->fmt.channels);
    return 1;
}

/* A WAV's stated data is used up: what follows is chunks, perhaps a further
 * recording. 2: its header is read (the next frames are it); 1: nothing more
 * yet; 0: the end (bytes of no recording counted in trailing); -1: error. */
static int after_data(pcm_reader *self, int timeout_ms)
{
    if (self->odd_data) {
        self->skip = 1;
        self->odd_data = false;
    }
    for (;;) {
        int r = parse_chunks(self);
        if (r < 0)
            return -1;
        if (r == 1) {
            if (!self->new_riff)
                return 1; /* a further data chunk of the same recording */
            self->new_riff = false;
            self->recordings++;
            return 2;
        }
        if (self->eof) {
            if (self->new_riff)
                return err_set("%s: the stream ends inside the WAV header of recording %u",
                               self->name, self->recordings + 1);
            self->trailing += self->in_len;
            drop(self, self->in_len);
            self->remaining = 0;
            return 0;
        }
        size_t before = self->in_len;
        if ((r = fill(self, timeout_ms)) <= 0)
            return r < 0 ? -1 : 1;
        if (self->in_len == before && !self->eof)
            return 1;
    }
}

static float s24(const uint8_t *p)
{
    int32_t v = (int32_t)((uint32_t)p[0] << 8 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 24) >> 8;
    return (float)v / 8388608.0f;
}

int pcm_reader_read(pcm_reader *self, int timeout_ms, const void **data, size_t *n_frames)
{
    *data = NULL;
    *n_frames = 0;
    if (!self->started)
        return err_set("%s: read before the header", self->name);
    if (self->handed) {
        drop(self, self->handed);
        self->handed = 0;
    }
    if (self->remaining == 0)
        return after_data(self, timeout_ms);
    if (self->in_len < self->bytes_per_frame) {
        if (self->eof)
            return 0; /* a partial last frame is dropped */
        int r = fill(self, timeout_ms);
        if (r <= 0)
            return r < 0 ? -1 : 1; /* nothing arrived in time: no frames, but no end */
        if (self->eof && self->in_len < self->bytes_per_frame)
            return 0;
    }
    size_t usable = self->in_len;
    if (usable > self->remaining)
        usable = (size_t)self->remaining;
    size_t n = usable / self->bytes_per_frame, bytes = n * self->bytes_per_frame;
    if (self->remaining != UINT64_MAX)
        self->remaining -= bytes;
    *n_frames = n;
    if (self->kind == K_S16 || self->kind == K_F32) {
        *data = self->in; /* in[0] is aligned and on a frame boundary */
        self->handed = bytes;
        return 1;
    }
    size_t ns = n * (size_t)self->fmt.channels;
    if (ns > self->conv_cap) {
        float *c = realloc(self->conv, ns * sizeof *c);
        if (!c)
            return err_set("%s: out of memory", self->name);
        self->conv = c;
        self->conv_cap = ns;
    }
    const uint8_t *p = self->in;
    for (size_t i = 0; i < ns; i++) {
        switch (self->kind) {
        case K_U8: self->conv[i] = ((float)p[i] - 128.0f) / 128.0f; break;
        case K_S24: self->conv[i] = s24(p + 3 * i); break;
        case K_S32: self->conv[i] = (float)((double)(int32_t)le32(p + 4 * i) / 2147483648.0); break;
        case K_F64: {
            double d;
            memcpy(&d, p + 8 * i, 8);
            self->conv[i] = (float)d;
            break;
        }
        default: break;
        }
    }
    drop(self, bytes);
    *data = self->conv;
    return 1;
}
