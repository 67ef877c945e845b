/* png_read: tests read the PNGs the library wrote back with libpng, as 8-bit
 * pixels, and check that the file really has the expected format. */
#ifndef SPIKESYNTH_TEST_PNG_READ_H
#define SPIKESYNTH_TEST_PNG_READ_H

#include <stdint.h>

/* The pixels of the PNG at path, row-major, `channels` bytes each (1: the file
 * must be 8-bit grayscale; 3: RGB without alpha); width and height in *w, *h.
 * Fails the test (cmocka) when the file cannot be read or has another format.
 * The caller frees the pixels. */
uint8_t *png_read_pixels(const char *path, int channels, uint32_t *w, uint32_t *h);

#endif
