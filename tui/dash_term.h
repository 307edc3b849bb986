/*
 * dash_term: every curses set-up and tear-down of the dashboard, in one place.
 *
 * Opens the terminal (newterm, so an unknown TERM is an error rather than
 * an exit), chooses colours or monochrome (NO_COLOR, terminals without
 * colour), and restores the terminal on every way out: dash_term_close, an
 * atexit handler, and SIGINT/SIGTERM/SIGHUP, whose handler only sets a flag
 * the UI loop reads. Only the UI thread calls these. Views never call curses
 * themselves: they fill a struct dash_frame, which dash_term_paint draws.
 */
#ifndef LS_DASH_TERM_H
#define LS_DASH_TERM_H

#include <stdbool.h>
#include <stddef.h>

#define DASH_MAX_COLS 320
#define DASH_MAX_ROWS 120
#define DASH_SPANS 8

enum dash_style {
    DS_NORMAL = 0,
    DS_TITLE,    /* the title bar */
    DS_HEAD,     /* section and table headings */
    DS_SELECT,   /* the selected row */
    DS_BAR,      /* histogram and phase bars */
    DS_GOOD,
    DS_WARN,
    DS_BAD,
    DS_DIM,
    DS_KEYS,     /* the bottom key line */
    DS__COUNT
};

struct dash_span {
    short col, len;      /* columns of the line (ASCII text: one byte, one column) */
    unsigned char style; /* enum dash_style */
};

struct dash_line {
    char text[DASH_MAX_COLS + 1];
    unsigned char style;             /* the whole line */
    unsigned char nspans;
    struct dash_span spans[DASH_SPANS];
};

/* What a view computed, ready to paint: rows x cols of ASCII text with styles. */
struct dash_frame {
    int rows, cols;
    struct dash_line line[DASH_MAX_ROWS];
};

/* Clears f for a screen of rows x cols (clamped to the maxima). */
void dash_frame_reset(struct dash_frame *f, int rows, int cols);

/* Writes printf text at (row, col), clipped to the width; returns columns written. */
int dash_frame_put(struct dash_frame *f, int row, int col, unsigned char style, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* Styles len columns of row from col. */
void dash_frame_style(struct dash_frame *f, int row, int col, int len, unsigned char style);

/*
 * Whether the dashboard can open here (stdin and stdout are terminals and
 * TERM is known); when not, why is written to buf.
 */
bool dash_term_usable(char *why, size_t cap);

/* Opens the screen. Returns false (why in buf) if curses cannot start. */
bool dash_term_open(char *why, size_t cap);

/* Restores the terminal and the previous signal handlers. Safe to call twice. */
void dash_term_close(void);

/* Size of the screen now. */
void dash_term_size(int *rows, int *cols);

/*
 * Waits up to timeout_ms for a key; returns it (curses key codes,
 * KEY_RESIZE after a resize) or -1 when none came.
 */
int dash_term_key(int timeout_ms);

/* Paints f over the whole screen and shows it. */
void dash_term_paint(const struct dash_frame *f);

/* Signals (SIGINT, SIGTERM, SIGHUP) received since the screen opened. */
int dash_term_signals(void);

/* The last signal received (0 if none). */
int dash_term_last_signal(void);

#endif
