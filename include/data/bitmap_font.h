/* bitmap_font: a fixed 5 x 9 bitmap font for printable ASCII (32..126), so the
 * library can put numbers and words on the pictures it draws without a font file.
 *
 * A glyph is BITMAP_FONT_H rows of BITMAP_FONT_W bits, top row first, bit 4 the
 * leftmost column. Rows 0..6 stand above the baseline (capitals are 7 rows
 * high), rows 7..8 hold the descenders of g, j, p, q, y and the comma. Text is
 * set BITMAP_FONT_ADVANCE columns a character (one blank column between). */
#ifndef SPIKESYNTH_BITMAP_FONT_H
#define SPIKESYNTH_BITMAP_FONT_H

#include <stdint.h>

#define BITMAP_FONT_W 5
#define BITMAP_FONT_H 9
#define BITMAP_FONT_ASCENT 7
#define BITMAP_FONT_ADVANCE 6

/* The BITMAP_FONT_H rows of character c; '?' for anything outside 32..126. */
const uint8_t *bitmap_font_glyph(int c);

#endif
