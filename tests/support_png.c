/* support_png: reading a PNG back for a test (see tests/png_read.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "png_read.h"

#include <png.h>
#include <stdlib.h>
#include <string.h>

uint8_t *png_read_pixels(const char *path, int channels, uint32_t *w, uint32_t *h)
{
    assert_true(channels == 1 || channels == 3);
    png_image img;
    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_file(&img, path))
        fail_msg("%s: cannot read back: %s", path, img.message);
    assert_int_equal(img.format, channels == 1 ? PNG_FORMAT_GRAY : PNG_FORMAT_RGB);
    uint8_t *pix = malloc(PNG_IMAGE_SIZE(img));
    assert_non_null(pix);
    if (!png_image_finish_read(&img, NULL, pix, 0, NULL))
        fail_msg("%s: cannot decode: %s", path, img.message);
    *w = img.width;
    *h = img.height;
    return pix;
}
