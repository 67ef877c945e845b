/* line_plot: line charts as RGB PNG (see include/data/line_plot.h).
 *
 * A figure is composed on an RGB canvas in memory: first the layout (margins sized
 * from the tick labels), then grid, frame, ticks, the series, the legend and the
 * text; image_grid_write_rgb writes it in one go, so a failure leaves no file.
 * A series is rasterised into a coverage mask (the largest coverage any of its
 * segments gives a pixel) and blended once, so the joints of a line are not
 * darker than its middle. All checks happen before anything is drawn. */
#include "data/line_plot.h"

#include "core/err.h"
#include "data/bitmap_font.h"
#include "data/image_grid.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_TICKS 48
#define COLOR_BG 0xFFFFFFu
#define COLOR_INK 0x202020u   /* text */
#define COLOR_FRAME 0x000000u /* frame and tick marks */
#define COLOR_GRID 0xE4E4E4u
#define COLOR_LEGEND 0xA0A0A0u /* legend border */

typedef struct {
    int x0, y0, x1, y1; /* inclusive */
} rect;

typedef struct {
    uint8_t *pix; /* w x h x RGB */
    float *cover; /* coverage of the series being drawn, 0 outside its strokes */
    int w, h;
} canvas;

/* Ticks are kept in axis units: the data value, or its log10 on a log axis. */
typedef struct {
    int log;
    double lo, hi;
    int n;
    double tick[MAX_TICKS];
    char label[MAX_TICKS][24];
} axis;

typedef struct {
    int s, ts; /* scale of the text, of the title */
    rect plot; /* the frame; data maps onto its pixel centres */
    axis ax, ay;
} layout;

/* ---- pixels and text ---- */

static void blend(canvas *c, int x, int y, uint32_t rgb, float a)
{
    if (x < 0 || y < 0 || x >= c->w || y >= c->h || !(a > 0))
        return;
    if (a > 1)
        a = 1;
    uint8_t *p = c->pix + 3 * ((size_t)y * (size_t)c->w + (size_t)x);
    for (int k = 0; k < 3; k++) {
        float v = (float)((rgb >> (16 - 8 * k)) & 0xFF);
        p[k] = (uint8_t)lrintf(p[k] + a * (v - p[k]));
    }
}

static void fill(canvas *c, rect r, uint32_t rgb)
{
    for (int y = r.y0; y <= r.y1; y++)
        for (int x = r.x0; x <= r.x1; x++)
            blend(c, x, y, rgb, 1.0f);
}

static int text_width(const char *s, int scale)
{
    size_t n = strlen(s);
    return n ? (int)n * BITMAP_FONT_ADVANCE * scale - scale : 0;
}

/* Horizontal text has its top left corner at (x, y). up = 1 turns it a quarter
 * turn counterclockwise (read bottom to top): (x, y) is then its bottom left. */
static void draw_text(canvas *c, int x, int y, const char *s, int scale, uint32_t rgb, int up)
{
    for (int i = 0; s[i]; i++) {
        const uint8_t *g = bitmap_font_glyph((unsigned char)s[i]);
        for (int gy = 0; gy < BITMAP_FONT_H; gy++)
            for (int gx = 0; gx < BITMAP_FONT_W; gx++) {
                if (!((g[gy] >> (BITMAP_FONT_W - 1 - gx)) & 1))
                    continue;
                int along = (i * BITMAP_FONT_ADVANCE + gx) * scale, across = gy * scale;
                rect r = up ? (rect){x + across, y - along - scale + 1, x + across + scale - 1,
                                     y - along}
                            : (rect){x + along, y + across, x + along + scale - 1,
                                     y + across + scale - 1};
                fill(c, r, rgb);
            }
    }
}

/* ---- ticks ---- */

/* 1, 2 or 5 times a power of ten, near span / target. */
static double nice_step(double span, double target)
{
    double raw = span / target, p = pow(10.0, floor(log10(raw))), m = raw / p;
    return (m < 1.5 ? 1 : m < 3 ? 2 : m < 7 ? 5 : 10) * p;
}

/* printf's exponent made short: 1e+06 -> 1e6, 2.5e-05 -> 2.5e-5. */
static void tidy_exponent(char *s)
{
    char *e = strchr(s, 'e');
    if (!e)
        return;
    int neg = e[1] == '-';
    char *d = e + 1 + (e[1] == '-' || e[1] == '+');
    while (*d == '0' && d[1])
        d++;
    memmove(e + 1 + neg, d, strlen(d) + 1);
}

/* v on a grid of `step`, on an axis whose largest magnitude is mag: fixed
 * decimals for everyday magnitudes, short exponents for the others. */
static void format_value(char *buf, size_t size, double v, double step, double mag)
{
    if (fabs(v) < step * 1e-6)
        v = 0;
    int step_exp = (int)floor(log10(step) + 1e-9);
    if (mag >= 1e6 || mag < 1e-3) {
        int sig = v == 0 ? 1 : (int)floor(log10(fabs(v)) + 1e-9) - step_exp + 1;
        sig = sig < 1 ? 1 : sig > 6 ? 6 : sig;
        snprintf(buf, size, "%.*g", sig, v);
        tidy_exponent(buf);
    } else {
        snprintf(buf, size, "%.*f", step_exp < 0 ? -step_exp : 0, v);
    }
}

static void axis_linear(axis *a, double lo, double hi, double target)
{
    if (hi - lo <= 1e-12 * fmax(fabs(lo), fabs(hi))) { /* one value: a band around it */
        double pad = lo != 0 ? fabs(lo) * 0.1 : 1.0;
        lo -= pad, hi += pad;
    }
    double step = nice_step(hi - lo, target);
    double k0 = floor(lo / step + 1e-9), k1 = ceil(hi / step - 1e-9);
    a->log = 0;
    a->lo = k0 * step;
    a->hi = k1 * step;
    double mag = fmax(fabs(a->lo), fabs(a->hi));
    for (a->n = 0; a->n < MAX_TICKS && k0 + a->n <= k1; a->n++) {
        a->tick[a->n] = (k0 + a->n) * step;
        format_value(a->label[a->n], sizeof a->label[0], a->tick[a->n], step, mag);
    }
}

static void axis_add_log_tick(axis *a, double v)
{
    if (a->n == MAX_TICKS)
        return;
    a->tick[a->n] = log10(v);
    format_value(a->label[a->n], sizeof a->label[0], v, pow(10.0, floor(log10(v) + 1e-9)), v);
    a->n++;
}

/* Wide ranges get every d-th decade; narrower ones the 1-2-5 (or 1..9) ladder. */
static void axis_log(axis *a, double lo, double hi, double target)
{
    static const double ladder125[] = {1, 2, 5}, ladder19[] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    double l0 = log10(lo), l1 = log10(hi);
    if (l1 - l0 < 1e-9)
        l0 -= 0.5, l1 += 0.5;
    a->log = 1;
    a->n = 0;
    if (l1 - l0 > 2.5) {
        double d = fmax(1.0, round(nice_step(l1 - l0, target)));
        a->lo = floor(l0 / d + 1e-9) * d;
        a->hi = ceil(l1 / d - 1e-9) * d;
        for (double t = a->lo; t <= a->hi + 1e-9; t += d)
            axis_add_log_tick(a, pow(10.0, t));
        return;
    }
    const double *m = l1 - l0 > 0.8 ? ladder125 : ladder19;
    int nm = l1 - l0 > 0.8 ? 3 : 9;
    a->lo = -INFINITY;
    a->hi = INFINITY;
    for (int e = (int)floor(l0) - 1; e <= (int)ceil(l1) + 1; e++) /* ends on the ladder */
        for (int j = 0; j < nm; j++) {
            double t = e + log10(m[j]);
            if (t <= l0 + 1e-9 && t > a->lo)
                a->lo = t;
            if (t >= l1 - 1e-9 && t < a->hi)
                a->hi = t;
        }
    for (int e = (int)floor(l0) - 1; e <= (int)ceil(l1) + 1; e++)
        for (int j = 0; j < nm; j++) {
            double t = e + log10(m[j]);
            if (t >= a->lo - 1e-9 && t <= a->hi + 1e-9)
                axis_add_log_tick(a, m[j] * pow(10.0, e));
        }
}

/* ---- checks and layout ---- */

static int valid_point(double x, double y, int log_y)
{
    return isfinite(x) && isfinite(y) && (!log_y || y > 0);
}

static const char *series_name(const line_series *s)
{
    return s->name && *s->name ? s->name : "unnamed";
}

static int check_args(const char *path, const line_series *series, int n_series, int width,
                      int height)
{
    if (!series || n_series < 1)
        return err_set("%s: nothing to plot: %d series (at least 1 is needed)", path, n_series);
    if (width < LINE_PLOT_MIN_WIDTH || height < LINE_PLOT_MIN_HEIGHT ||
        width > LINE_PLOT_MAX_SIDE || height > LINE_PLOT_MAX_SIDE)
        return err_set("%s: cannot draw a %d x %d plot: width must be %d to %d and height %d to "
                       "%d pixels",
                       path, width, height, LINE_PLOT_MIN_WIDTH, LINE_PLOT_MAX_SIDE,
                       LINE_PLOT_MIN_HEIGHT, LINE_PLOT_MAX_SIDE);
    for (int i = 0; i < n_series; i++) {
        if (series[i].n < 1)
            return err_set("%s: series %d (%s) has %d points: each series needs at least 1",
                           path, i, series_name(&series[i]), series[i].n);
        if (!series[i].x || !series[i].y)
            return err_set("%s: series %d (%s) has no x or no y values", path, i,
                           series_name(&series[i]));
    }
    return 0;
}

/* ext = {x min, x max, y min, y max} over the points that will be drawn. */
static int data_extent(const char *path, const line_series *series, int n_series, int log_y,
                       double ext[4])
{
    ext[0] = ext[2] = INFINITY;
    ext[1] = ext[3] = -INFINITY;
    for (int i = 0; i < n_series; i++)
        for (int k = 0; k < series[i].n; k++) {
            double x = series[i].x[k], y = series[i].y[k];
            if (!valid_point(x, y, log_y))
                continue;
            ext[0] = fmin(ext[0], x), ext[1] = fmax(ext[1], x);
            ext[2] = fmin(ext[2], y), ext[3] = fmax(ext[3], y);
        }
    if (ext[0] > ext[1])
        return err_set("%s: no point to plot: every x or y is NaN or infinite%s", path,
                       log_y ? " or y <= 0 on the log axis" : "");
    if (!isfinite(ext[1] - ext[0]) || !isfinite(ext[3] - ext[2]))
        return err_set("%s: the data spans more than a double holds (x %g to %g, y %g to %g)",
                       path, ext[0], ext[1], ext[2], ext[3]);
    return 0;
}

static int widest_label(const axis *a, int s)
{
    int w = 0;
    for (int i = 0; i < a->n; i++) {
        int t = text_width(a->label[i], s);
        w = t > w ? t : w;
    }
    return w;
}

/* Margins come from what stands in them: title, tick labels, axis labels. The y
 * ticks are chosen first (their labels set the left margin), then the x ticks. */
static int make_layout(const char *path, layout *L, int w, int h, const char *title,
                       const char *xl, const char *yl, const double ext[4], int log_y)
{
    int s = (w < h ? w : h) / 240; /* text grows with the picture */
    s = s < 1 ? 1 : s;
    L->s = s;
    L->ts = s + 1;
    int pad = 4 * s, tick = 4 * s, lh = BITMAP_FONT_H * s, cap = BITMAP_FONT_ASCENT * s;
    int top = pad + (title && *title ? BITMAP_FONT_H * L->ts + pad : 0) + cap / 2 + s;
    int bottom = tick + pad / 2 + lh + (xl && *xl ? pad + lh : 0) + pad;
    double target_y = fmin(20.0, fmax(2.0, (h - top - bottom) / (25.0 * s + 25.0)));
    if (log_y)
        axis_log(&L->ay, ext[2], ext[3], target_y);
    else
        axis_linear(&L->ay, ext[2], ext[3], target_y);
    int left = pad + (yl && *yl ? lh + pad : 0) + widest_label(&L->ay, s) + pad / 2 + tick;
    int right = 2 * pad + 3 * BITMAP_FONT_ADVANCE * s;
    axis_linear(&L->ax, ext[0], ext[1],
                fmin(20.0, fmax(2.0, (w - left - right) / (60.0 * s + 40.0))));
    int half_last = text_width(L->ax.label[L->ax.n - 1], s) / 2 + pad;
    right = half_last > 2 * pad ? half_last : 2 * pad;
    L->plot = (rect){left, top, w - 1 - right, h - 1 - bottom};
    if (L->plot.x1 - L->plot.x0 < 40 || L->plot.y1 - L->plot.y0 < 40)
        return err_set("%s: a %d x %d picture leaves no room to plot beside its labels (%d x %d "
                       "pixels; 40 x 40 needed)",
                       path, w, h, L->plot.x1 - L->plot.x0, L->plot.y1 - L->plot.y0);
    return 0;
}

static double map_x(const layout *L, double v)
{
    return L->plot.x0 + (v - L->ax.lo) / (L->ax.hi - L->ax.lo) * (L->plot.x1 - L->plot.x0);
}

static double map_y(const layout *L, double v)
{
    if (L->ay.log)
        v = log10(v);
    return L->plot.y1 - (v - L->ay.lo) / (L->ay.hi - L->ay.lo) * (L->plot.y1 - L->plot.y0);
}

/* ---- drawing ---- */

static void draw_axes(canvas *c, const layout *L)
{
    const rect p = L->plot;
    int s = L->s, tick = 4 * s, pad = 4 * s, cap = BITMAP_FONT_ASCENT * s;
    int last = p.y1 + 4 * cap; /* y of the last drawn y label; labels that crowd it are skipped */
    for (int i = 0; i < L->ay.n; i++) {
        int y = (int)lrint(p.y1 - (L->ay.tick[i] - L->ay.lo) / (L->ay.hi - L->ay.lo) *
                                      (p.y1 - p.y0));
        fill(c, (rect){p.x0 + 1, y, p.x1 - 1, y}, COLOR_GRID);
        fill(c, (rect){p.x0 - tick, y, p.x0 - 1, y}, COLOR_FRAME);
        if (last - y < cap + 4 * s)
            continue;
        const char *t = L->ay.label[i];
        draw_text(c, p.x0 - tick - pad / 2 - text_width(t, s), y - cap / 2, t, s, COLOR_INK, 0);
        last = y;
    }
    int end = -1000000; /* right end of the last drawn x label */
    for (int i = 0; i < L->ax.n; i++) {
        int x = (int)lrint(map_x(L, L->ax.tick[i]));
        fill(c, (rect){x, p.y0 + 1, x, p.y1 - 1}, COLOR_GRID);
        fill(c, (rect){x, p.y1 + 1, x, p.y1 + tick}, COLOR_FRAME);
        const char *t = L->ax.label[i];
        int tw = text_width(t, s);
        if (x - tw / 2 < end + 2 * BITMAP_FONT_ADVANCE * s)
            continue;
        draw_text(c, x - tw / 2, p.y1 + tick + pad / 2, t, s, COLOR_INK, 0);
        end = x - tw / 2 + tw;
    }
    fill(c, (rect){p.x0, p.y0, p.x1, p.y0}, COLOR_FRAME);
    fill(c, (rect){p.x0, p.y1, p.x1, p.y1}, COLOR_FRAME);
    fill(c, (rect){p.x0, p.y0, p.x0, p.y1}, COLOR_FRAME);
    fill(c, (rect){p.x1, p.y0, p.x1, p.y1}, COLOR_FRAME);
}

/* Coverage of a round-capped stroke of half width hw from a to b, within clip.
 * Each row visits only the pixels near the line, so long steep or shallow
 * segments cost their length, not their bounding box. */
static void stroke(canvas *c, rect clip, double ax, double ay, double bx, double by, double hw,
                   rect *dirty)
{
    double r = hw + 1.0, dx = bx - ax, dy = by - ay, len2 = dx * dx + dy * dy;
    int y0 = (int)fmax(clip.y0, floor(fmin(ay, by) - r));
    int y1 = (int)fmin(clip.y1, ceil(fmax(ay, by) + r));
    int bx0 = (int)fmax(clip.x0, floor(fmin(ax, bx) - r));
    int bx1 = (int)fmin(clip.x1, ceil(fmax(ax, bx) + r));
    double reach = fabs(dy) > 1e-9 ? r * sqrt(len2) / fabs(dy) : INFINITY;
    for (int y = y0; y <= y1; y++) {
        int x0 = bx0, x1 = bx1;
        if (isfinite(reach)) {
            double xc = ax + (y - ay) * dx / dy;
            x0 = (int)fmax(bx0, floor(xc - reach - r));
            x1 = (int)fmin(bx1, ceil(xc + reach + r));
        }
        for (int x = x0; x <= x1; x++) {
            double px = x - ax, py = y - ay, t = len2 > 0 ? (px * dx + py * dy) / len2 : 0;
            t = t < 0 ? 0 : t > 1 ? 1 : t;
            double ex = px - t * dx, ey = py - t * dy, cov = hw + 0.5 - sqrt(ex * ex + ey * ey);
            float *m = &c->cover[(size_t)y * (size_t)c->w + (size_t)x];
            if (cov > *m)
                *m = cov > 1 ? 1.0f : (float)cov;
        }
        if (x0 <= x1) {
            dirty->x0 = x0 < dirty->x0 ? x0 : dirty->x0;
            dirty->x1 = x1 > dirty->x1 ? x1 : dirty->x1;
            dirty->y0 = y < dirty->y0 ? y : dirty->y0;
            dirty->y1 = y > dirty->y1 ? y : dirty->y1;
        }
    }
}

/* Blends the coverage mask in rgb and clears it. */
static void composite(canvas *c, rect dirty, uint32_t rgb)
{
    for (int y = dirty.y0; y <= dirty.y1; y++)
        for (int x = dirty.x0; x <= dirty.x1; x++) {
            float *m = &c->cover[(size_t)y * (size_t)c->w + (size_t)x];
            blend(c, x, y, rgb, *m);
            *m = 0;
        }
}

static double line_half_width(const layout *L)
{
    return 0.5 + 0.5 * L->s; /* 2 pixels wide at scale 1, 3 at scale 2 */
}

static void draw_series(canvas *c, const layout *L, const line_series *s)
{
    rect dirty = {c->w, c->h, -1, -1};
    double hw = line_half_width(L), px = 0, py = 0;
    int have_prev = 0;
    for (int k = 0; k < s->n; k++) {
        if (!valid_point(s->x[k], s->y[k], L->ay.log)) {
            have_prev = 0; /* a gap */
            continue;
        }
        double x = map_x(L, s->x[k]), y = map_y(L, s->y[k]);
        int alone = !have_prev && (k + 1 == s->n ||
                                   !valid_point(s->x[k + 1], s->y[k + 1], L->ay.log));
        if (alone) /* a dot twice the line's width, so it is seen */
            stroke(c, L->plot, x, y, x, y, 2 * hw + 0.5, &dirty);
        else if (have_prev)
            stroke(c, L->plot, px, py, x, y, hw, &dirty);
        px = x, py = y, have_prev = 1;
    }
    if (dirty.x0 <= dirty.x1)
        composite(c, dirty, s->rgb);
}

/* Pixels in r already drawn on (neither background nor grid). */
static long busy_pixels(const canvas *c, rect r)
{
    long n = 0;
    for (int y = r.y0; y <= r.y1; y++)
        for (int x = r.x0; x <= r.x1; x++) {
            const uint8_t *p = c->pix + 3 * ((size_t)y * (size_t)c->w + (size_t)x);
            uint32_t v = (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2];
            n += v != COLOR_BG && v != COLOR_GRID;
        }
    return n;
}

/* The legend goes in the corner of the plot where it hides the least data (top
 * right first on ties); it is left out when the plot is too small for it. */
static void draw_legend(canvas *c, const layout *L, const line_series *series, int n_series)
{
    int s = L->s, pad = 4 * s, row = (BITMAP_FONT_H + 3) * s, swatch = 16 * s, names = 0, wide = 0;
    for (int i = 0; i < n_series; i++)
        if (series[i].name && *series[i].name) {
            names++;
            int t = text_width(series[i].name, s);
            wide = t > wide ? t : wide;
        }
    int bw = 3 * pad + swatch + wide, bh = 2 * pad + names * row - 3 * s, m = 2 * pad;
    const rect p = L->plot;
    if (names == 0 || bw + 2 * m > p.x1 - p.x0 || bh + 2 * m > p.y1 - p.y0)
        return;
    const rect corners[4] = {{p.x1 - m - bw, p.y0 + m, p.x1 - m, p.y0 + m + bh},
                             {p.x0 + m, p.y0 + m, p.x0 + m + bw, p.y0 + m + bh},
                             {p.x1 - m - bw, p.y1 - m - bh, p.x1 - m, p.y1 - m},
                             {p.x0 + m, p.y1 - m - bh, p.x0 + m + bw, p.y1 - m}};
    rect b = corners[0];
    long best = busy_pixels(c, b);
    for (int k = 1; k < 4; k++) {
        long n = busy_pixels(c, corners[k]);
        if (n < best)
            best = n, b = corners[k];
    }
    fill(c, b, COLOR_LEGEND);
    fill(c, (rect){b.x0 + 1, b.y0 + 1, b.x1 - 1, b.y1 - 1}, COLOR_BG);
    int y = b.y0 + pad;
    for (int i = 0; i < n_series; i++) {
        if (!series[i].name || !*series[i].name)
            continue;
        rect dirty = {c->w, c->h, -1, -1};
        double ym = y + BITMAP_FONT_ASCENT * s / 2.0 - 0.5;
        stroke(c, b, b.x0 + pad, ym, b.x0 + pad + swatch, ym, line_half_width(L), &dirty);
        composite(c, dirty, series[i].rgb);
        draw_text(c, b.x0 + 2 * pad + swatch, y, series[i].name, s, COLOR_INK, 0);
        y += row;
    }
}

static void draw_labels(canvas *c, const layout *L, const char *title, const char *xl,
                        const char *yl)
{
    int s = L->s, pad = 4 * s, tick = 4 * s, lh = BITMAP_FONT_H * s;
    const rect p = L->plot;
    if (title && *title) {
        int x = (c->w - text_width(title, L->ts)) / 2;
        draw_text(c, x > pad ? x : pad, pad, title, L->ts, COLOR_INK, 0);
    }
    if (xl && *xl)
        draw_text(c, (p.x0 + p.x1 - text_width(xl, s)) / 2, p.y1 + tick + pad / 2 + lh + pad, xl,
                  s, COLOR_INK, 0);
    if (yl && *yl) {
        int y = (p.y0 + p.y1 + text_width(yl, s)) / 2;
        draw_text(c, pad, y < c->h - 1 ? y : c->h - 1, yl, s, COLOR_INK, 1);
    }
}

int line_plot_png_opts(const char *path, const char *title, const char *x_label,
                       const char *y_label, const line_series *series, int n_series, int width,
                       int height, const line_plot_opts *opts)
{
    const int log_y = opts ? opts->log_y : 0;
    double ext[4];
    layout L;
    canvas c = {NULL, NULL, width, height};
    int rc = -1;
    if (check_args(path, series, n_series, width, height) != 0 ||
        data_extent(path, series, n_series, log_y, ext) != 0 ||
        make_layout(path, &L, width, height, title, x_label, y_label, ext, log_y) != 0)
        return -1;
    c.pix = malloc((size_t)width * (size_t)height * 3);
    c.cover = calloc((size_t)width * (size_t)height, sizeof *c.cover);
    if (!c.pix || !c.cover) {
        err_set("%s: out of memory for a %d x %d plot", path, width, height);
        goto done;
    }
    memset(c.pix, 0xFF, (size_t)width * (size_t)height * 3); /* COLOR_BG */
    draw_axes(&c, &L);
    for (int i = 0; i < n_series; i++)
        draw_series(&c, &L, &series[i]);
    draw_legend(&c, &L, series, n_series);
    draw_labels(&c, &L, title, x_label, y_label);
    rc = image_grid_write_rgb(path, c.pix, (size_t)width, (size_t)height);
done:
    free(c.pix);
    free(c.cover);
    return rc;
}

int line_plot_png(const char *path, const char *title, const char *x_label, const char *y_label,
                  const line_series *series, int n_series, int width, int height)
{
    return line_plot_png_opts(path, title, x_label, y_label, series, n_series, width, height,
                              NULL);
}

/* ---- the loss CSV ---- */

typedef struct {
    double *x, *y;
    int n, cap;
} loss_rows;

static int rows_push(loss_rows *r, double x, double y)
{
    if (r->n == r->cap) {
        int cap = r->cap ? 2 * r->cap : 256;
        double *nx = realloc(r->x, sizeof *nx * (size_t)cap);
        if (nx)
            r->x = nx;
        double *ny = nx ? realloc(r->y, sizeof *ny * (size_t)cap) : NULL;
        if (!ny)
            return -1;
        r->y = ny;
        r->cap = cap;
    }
    r->x[r->n] = x;
    r->y[r->n] = y;
    r->n++;
    return 0;
}

/* Position of column `name` in a comma-separated header, or -1. */
static int column_index(const char *header, const char *name)
{
    size_t len = strlen(name);
    const char *p = header;
    for (int i = 0;; i++) {
        const char *e = strchr(p, ',');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (n == len && strncmp(p, name, n) == 0)
            return i;
        if (!e)
            return -1;
        p = e + 1;
    }
}

/* Field i of a CSV line as a number ("nan" included); 0, or -1 if there is none. */
static int field_number(const char *line, int i, double *v)
{
    const char *p = line;
    for (int k = 0; k < i; k++) {
        if (!(p = strchr(p, ',')))
            return -1;
        p++;
    }
    char *end;
    *v = strtod(p, &end);
    return end != p && (*end == ',' || *end == '\0') ? 0 : -1;
}

static int read_loss_csv(const char *path, loss_rows *r)
{
    int rc = -1, is, il;
    char *line = NULL;
    size_t cap = 0;
    FILE *f = fopen(path, "r");
    if (!f)
        return err_set("%s: cannot open the loss CSV: %s", path, strerror(errno));
    if (getline(&line, &cap, f) < 0) {
        err_set("%s: empty file: expected the header epoch,batch,samples,loss,masked_fraction",
                path);
        goto done;
    }
    line[strcspn(line, "\r\n")] = '\0';
    if ((is = column_index(line, "samples")) < 0 || (il = column_index(line, "loss")) < 0) {
        err_set("%s: the header \"%.80s\" lacks a samples or a loss column (expected "
                "epoch,batch,samples,loss,masked_fraction)", path, line);
        goto done;
    }
    for (int ln = 2; getline(&line, &cap, f) >= 0; ln++) {
        line[strcspn(line, "\r\n")] = '\0';
        double x, y;
        if (!line[0])
            continue;
        if (field_number(line, is, &x) != 0 || field_number(line, il, &y) != 0) {
            err_set("%s line %d: no number in the samples or the loss column: \"%.80s\"", path,
                    ln, line);
            goto done;
        }
        if (rows_push(r, x, y) != 0) {
            err_set("%s: out of memory after %d rows", path, r->n);
            goto done;
        }
    }
    if (ferror(f))
        err_set("%s: read error: %s", path, strerror(errno));
    else if (r->n == 0)
        err_set("%s: no rows after the header: nothing to plot", path);
    else
        rc = 0;
done:
    free(line);
    fclose(f);
    return rc;
}

/* out[i]: mean of the finite y in the window of k rows centred on i (NaN if none). */
static void running_mean(const double *y, int n, int k, double *out)
{
    double sum = 0;
    int count = 0, lo = 0, hi = -1; /* the window is y[lo..hi] */
    for (int i = 0; i < n; i++) {
        int want_lo = i - k / 2, want_hi = i + (k - 1) / 2;
        for (; hi < want_hi && hi + 1 < n; hi++)
            if (isfinite(y[hi + 1]))
                sum += y[hi + 1], count++;
        for (; lo < want_lo; lo++)
            if (isfinite(y[lo]))
                sum -= y[lo], count--;
        out[i] = count ? sum / count : NAN;
    }
}

/* A log axis when every loss is > 0 and they span a factor 10 or more. */
static int wants_log(const double *y, int n)
{
    double lo = INFINITY, hi = -INFINITY;
    for (int i = 0; i < n; i++) {
        if (!isfinite(y[i]))
            continue;
        if (y[i] <= 0)
            return 0;
        lo = fmin(lo, y[i]), hi = fmax(hi, y[i]);
    }
    return hi >= 10 * lo;
}

int line_plot_loss_csv(const char *csv_path, const char *png_path, const char *title)
{
    loss_rows r = {0};
    double *mean = NULL;
    char mean_name[48];
    int rc = -1;
    if (read_loss_csv(csv_path, &r) != 0)
        goto done;
    line_series s[2] = {{"loss per batch", r.x, r.y, r.n, 0x1F4E9Cu},
                        {mean_name, r.x, NULL, r.n, 0x1F4E9Cu}};
    int n_series = 1;
    if (r.n >= 20) { /* the raw line turns light; the mean is drawn over it */
        int k = r.n / 25 > 3 ? r.n / 25 : 3;
        if (!(mean = malloc(sizeof *mean * (size_t)r.n))) {
            err_set("%s: out of memory for the running mean", png_path);
            goto done;
        }
        running_mean(r.y, r.n, k, mean);
        snprintf(mean_name, sizeof mean_name, "mean of %d batches", k);
        s[0].rgb = 0xA8C8EEu;
        s[1].y = mean;
        n_series = 2;
    }
    line_plot_opts o = {.log_y = wants_log(r.y, r.n)};
    rc = line_plot_png_opts(png_path, title ? title : "training loss", "samples seen",
                            o.log_y ? "loss (log scale)" : "loss", s, n_series, 800, 500, &o);
    if (rc != 0)
        err_wrap("plotting %s", csv_path);
done:
    free(r.x);
    free(r.y);
    free(mean);
    return rc;
}
