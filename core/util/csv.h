/*
 * csv: an RFC 4180 writer for loadscope's exports.
 *
 * Rows end in CRLF; a cell holding a comma, a double quote, CR or LF is
 * quoted with its quotes doubled. Text is written as UTF-8 (an invalid byte
 * becomes U+FFFD, so the file is always valid UTF-8). Numbers use '.' as the
 * decimal separator whatever the process's locale (LC_NUMERIC) is: doubles
 * are formatted under a C locale installed for the calling thread only
 * (uselocale), never with setlocale.
 *
 * Text cells that a spreadsheet would run as a formula (first character =,
 * +, -, @, tab or CR) get a leading single quote, as OWASP's CSV injection
 * advice says. Numeric cells are never altered, so -5 stays -5: what is
 * neutralized is decided by the function used to write the cell.
 *
 * The writer keeps no row in memory (cells go straight to the FILE's
 * buffer), so an export of any size runs in constant memory. Cell functions
 * do not return errors: the first write error sticks and is returned by the
 * next csv_end_row / csv_finish, which keeps exporters to one check per row.
 */
#ifndef LS_CSV_H
#define LS_CSV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "util/lserr.h"

struct csv;

/*
 * Starts a writer on f. f is borrowed: the caller keeps it open while the
 * writer lives and closes it afterwards.
 */
LS_MUST_CHECK ls_err csv_open(FILE *f, struct csv **out);
/* Frees the writer (NULL-safe); does not flush or close the FILE. */
void csv_free(struct csv *c);

/* A text cell (NULL is written as an empty cell); neutralized and quoted as needed. */
void csv_text(struct csv *c, const char *s);
/* A text cell of len bytes (may contain NUL bytes, written as they are). */
void csv_text_n(struct csv *c, const char *s, size_t len);
/* Numeric cells: never quoted, never neutralized. */
void csv_i64(struct csv *c, int64_t v);
void csv_u64(struct csv *c, uint64_t v);
/* v / 10^decimals written exactly with that many decimals (csv_fixed(c, -1500, 3) is -1.500). */
void csv_fixed(struct csv *c, int64_t v, unsigned decimals);
/* The shortest decimal that reads back as v; an empty cell for NaN or infinity. */
void csv_f64(struct csv *c, double v);
/* An empty cell. */
void csv_empty(struct csv *c);
/* A header row: each name a text cell, then the row end. */
LS_MUST_CHECK ls_err csv_header(struct csv *c, const char *const *names, size_t n);

/* Ends the row (CRLF). Returns the first error met since the writer started. */
LS_MUST_CHECK ls_err csv_end_row(struct csv *c);
/* Flushes the FILE; returns the first error (LS_ERR_IO) met by any write. */
LS_MUST_CHECK ls_err csv_finish(struct csv *c);
/* errno of the first failed write (0 if none): for the caller's message. */
int csv_errno(const struct csv *c);
/* Rows ended so far (the header included). */
uint64_t csv_rows(const struct csv *c);

/*
 * Pure helpers, for other exporters (JSON) and the dashboard. Each writes a
 * NUL-terminated string into buf and returns its length, or 0 with buf ""
 * when cap is too small. Locale-independent ('.' decimals).
 */
size_t csv_fmt_f64(char *buf, size_t cap, double v);
size_t csv_fmt_fixed(char *buf, size_t cap, int64_t v, unsigned decimals);

/*
 * Length of the valid UTF-8 sequence at p (at most n bytes, n > 0), or 0 when
 * the bytes there are not one (stray continuation byte, overlong form,
 * surrogate, beyond U+10FFFF, cut short): such a byte is written as U+FFFD.
 */
size_t csv_utf8_len(const unsigned char *p, size_t n);

/* True if a text cell starting with byte b is run as a formula by spreadsheets. */
bool csv_formula_lead(unsigned char b);

#endif
