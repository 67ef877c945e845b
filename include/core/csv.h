/* csv: the one CSV dialect of the tree, written and read here (manifests,
 * pairing tables, per-sample results).
 *
 * Rows end in "\n" (a reader also takes "\r\n"). A field is written bare unless
 * it holds a comma, a double quote, a carriage return or a line feed; then it is
 * quoted, with each quote doubled: odd, "b" -> "odd, ""b""". A quoted field may
 * span lines. Reading is strict: a quote inside a bare field, text after a
 * closing quote or a quote never closed is an error naming the line the row
 * starts on. Blank lines are skipped.
 *
 *   csv_reader *r = csv_reader_open(path);             // NULL + err_msg()
 *   if (csv_reader_header(r, "id,path,label") < 0) ... // "line 1: expected the header ..."
 *   while ((rc = csv_reader_next(r)) == 1)
 *       use csv_reader_field(r, 0) .. csv_reader_field(r, csv_reader_count(r) - 1),
 *           at csv_reader_line(r);
 *   csv_reader_close(&r);                              // rc < 0: err_msg()
 *
 * A table loader (manifests, pairing tables) gives the loop to csv_read_table
 * and parses one row in its callback. */
#ifndef SPIKESYNTH_CSV_H
#define SPIKESYNTH_CSV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* ---- writing ---- */

/* Whether s must be quoted (it holds ',', '"', '\r' or '\n'). */
bool csv_needs_quotes(const char *s);
/* Writes s as one field (no separator), quoted when it must be. */
void csv_write_field(FILE *f, const char *s);

/* ---- reading ---- */

typedef struct csv_reader csv_reader;

/* Reads the file at path whole. NULL with err_msg() ("PATH: cannot open: ...") */
csv_reader *csv_reader_open(const char *path);
/* The same over len bytes of text (copied); for tests and in-memory tables. */
csv_reader *csv_reader_new(const char *text, size_t len);
void csv_reader_close(csv_reader **self_p);

/* The next row: 1, 0 at the end, -1 with err_msg() "line N: ..." on a bad row. */
int csv_reader_next(csv_reader *self);
/* The first row must be exactly these comma-separated names: 0, or -1 with
 * err_msg() "line 1: expected the header 'HEADER'" (an empty file too). */
int csv_reader_header(csv_reader *self, const char *header);
/* Fields of the current row: count, field k (0 <= k < count; valid until the
 * next call), and the line the row starts on (from 1). */
size_t csv_reader_count(const csv_reader *self);
const char *csv_reader_field(const csv_reader *self, size_t k);
size_t csv_reader_line(const csv_reader *self);

/* One row of a table (its fields at csv_reader_line(r)): 0, or -1 with err_msg(). */
typedef int csv_row_fn(csv_reader *r, void *arg);
/* Reads the table at path: the header must be `header`, then row(r, arg) takes
 * each row in file order. 0, or -1 with err_msg() naming the table: "WHAT: ..."
 * when the file cannot be read, else "WHAT PATH: line N: ..." (a bad header or
 * row, or the callback's message). */
int csv_read_table(const char *path, const char *header, const char *what, csv_row_fn *row, void *arg);

/* A field as a decimal integer in lo..hi, nothing else (no sign but '-', no
 * spaces): 0, or -1 (no message: the caller names the field). */
int csv_parse_long(const char *field, long lo, long hi, long *value);

#endif
