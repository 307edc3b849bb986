/*
 * dash_term: curses set-up, tear-down, colours and painting (see dash_term.h).
 *
 * The screen is the one piece of global mutable state the UI keeps: curses
 * itself is global. The signal handler only bumps a counter. A crash
 * (SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT) is different: curses cannot be
 * called from it, so the terminal modes saved before curses started and the
 * terminal's own "leave full-screen mode" strings, prepared at start, are
 * written back with async-signal-safe calls before the crash goes on (to a
 * core dump, or to the sanitizers' report).
 */
#include "dash_term.h"

#include <curses.h>
#include <locale.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <term.h>
#include <termios.h>
#include <unistd.h>

static SCREEN *screen;
static bool active;
static bool atexit_done;
static bool colour;
static volatile sig_atomic_t signals_seen;
static volatile sig_atomic_t last_signal;
static struct sigaction old_int, old_term, old_hup, old_usr1, old_usr2;
static attr_t style_attr[DS__COUNT];
/* The frame last painted, so unchanged lines are not handed to curses again. */
static struct dash_frame *painted;
static bool painted_valid;
static int painted_rows, painted_cols; /* the screen's size when it was painted */

static void on_signal(int sig)
{
    signals_seen = signals_seen + 1;
    last_signal = sig;
}

static const int crash_sigs[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};
#define NCRASH (sizeof(crash_sigs) / sizeof(crash_sigs[0]))
static struct sigaction old_crash[NCRASH];
static struct termios crash_tio;          /* the terminal's modes before curses */
static bool crash_tio_ok;
static char crash_reset[512];             /* rmcup, cnorm, sgr0, rmkx of this terminal */
static size_t crash_reset_len;

static void on_crash(int sig, siginfo_t *si, void *uc)
{
    (void)uc;
    if (crash_reset_len > 0) {
        ssize_t w = write(STDOUT_FILENO, crash_reset, crash_reset_len);
        (void)w;
    }
    if (crash_tio_ok)
        tcsetattr(STDIN_FILENO, TCSANOW, &crash_tio);
    for (size_t i = 0; i < NCRASH; i++)
        if (crash_sigs[i] == sig)
            sigaction(sig, &old_crash[i], NULL);
    /* A fault the processor raised happens again on return, now to the old handler; a sent one is sent again. */
    if (si == NULL || si->si_code <= 0 || sig == SIGABRT)
        raise(sig);
}

/* Appends a terminfo string (absent ones are NULL or (char *)-1) to the crash reset sequence. */
static void crash_add(const char *cap)
{
    if (cap == NULL || cap == (const char *)-1)
        return;
    size_t n = strlen(cap);
    if (crash_reset_len + n < sizeof(crash_reset)) {
        memcpy(crash_reset + crash_reset_len, cap, n);
        crash_reset_len += n;
    }
}

static void crash_handlers_on(void)
{
    crash_reset_len = 0;
    crash_add(exit_attribute_mode);
    crash_add(cursor_normal);
    crash_add(keypad_local);
    crash_add(exit_ca_mode);
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = on_crash;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < NCRASH; i++)
        sigaction(crash_sigs[i], &sa, &old_crash[i]);
}

static void crash_handlers_off(void)
{
    for (size_t i = 0; i < NCRASH; i++)
        sigaction(crash_sigs[i], &old_crash[i], NULL);
}

static void restore_at_exit(void)
{
    dash_term_close();
}

void dash_frame_reset(struct dash_frame *f, int rows, int cols)
{
    f->rows = rows < 1 ? 1 : rows > DASH_MAX_ROWS ? DASH_MAX_ROWS : rows;
    f->cols = cols < 1 ? 1 : cols > DASH_MAX_COLS ? DASH_MAX_COLS : cols;
    for (int r = 0; r < f->rows; r++) {
        memset(f->line[r].text, ' ', (size_t)f->cols);
        f->line[r].text[f->cols] = '\0';
        f->line[r].style = DS_NORMAL;
        f->line[r].nspans = 0;
    }
}

void dash_frame_style(struct dash_frame *f, int row, int col, int len, unsigned char style)
{
    if (row < 0 || row >= f->rows || col >= f->cols || len <= 0)
        return;
    struct dash_line *l = &f->line[row];
    if (col < 0) {
        len += col;
        col = 0;
    }
    if (col + len > f->cols)
        len = f->cols - col;
    if (len <= 0 || l->nspans >= DASH_SPANS)
        return;
    l->spans[l->nspans++] = (struct dash_span){(short)col, (short)len, style};
}

int dash_frame_put(struct dash_frame *f, int row, int col, unsigned char style, const char *fmt, ...)
{
    if (row < 0 || row >= f->rows || col < 0 || col >= f->cols)
        return 0;
    char buf[DASH_MAX_COLS + 1];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    int n = 0;
    char *dst = f->line[row].text;
    for (const char *p = buf; *p && col + n < f->cols; p++, n++) {
        unsigned char c = (unsigned char)*p;
        /* ASCII only: one byte, one column, so clipping and styling stay exact. */
        dst[col + n] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
    }
    if (style != DS_NORMAL)
        dash_frame_style(f, row, col, n, style);
    return n;
}

bool dash_term_usable(char *why, size_t cap)
{
    if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)) {
        snprintf(why, cap, "the dashboard needs a terminal (standard input and output); "
                           "add --headless to run without one");
        return false;
    }
    const char *term = getenv("TERM");
    int err = 0;
    if (!term || !*term || setupterm(term, STDOUT_FILENO, &err) != OK) {
        snprintf(why, cap, "the terminal type \"%s\" is unknown; set TERM (e.g. TERM=xterm) or add --headless",
                 term ? term : "");
        return false;
    }
    del_curterm(cur_term);
    return true;
}

static void setup_styles(void)
{
    const char *nc = getenv("NO_COLOR");
    colour = has_colors() && !(nc && nc[0]);
    if (colour) {
        start_color();
        use_default_colors();
        init_pair(1, COLOR_BLACK, COLOR_CYAN);   /* title */
        init_pair(2, COLOR_CYAN, -1);            /* heads */
        init_pair(3, COLOR_GREEN, -1);           /* good, bars */
        init_pair(4, COLOR_YELLOW, -1);          /* warn */
        init_pair(5, COLOR_RED, -1);             /* bad */
        init_pair(6, COLOR_BLACK, COLOR_WHITE);  /* keys */
        style_attr[DS_TITLE] = COLOR_PAIR(1) | A_BOLD;
        style_attr[DS_HEAD] = COLOR_PAIR(2) | A_BOLD;
        style_attr[DS_SELECT] = A_REVERSE;
        style_attr[DS_BAR] = COLOR_PAIR(3);
        style_attr[DS_GOOD] = COLOR_PAIR(3);
        style_attr[DS_WARN] = COLOR_PAIR(4) | A_BOLD;
        style_attr[DS_BAD] = COLOR_PAIR(5) | A_BOLD;
        style_attr[DS_DIM] = A_DIM;
        style_attr[DS_KEYS] = COLOR_PAIR(6);
    } else {
        /* Monochrome: weight and reverse video carry the meaning. */
        style_attr[DS_TITLE] = A_REVERSE | A_BOLD;
        style_attr[DS_HEAD] = A_BOLD;
        style_attr[DS_SELECT] = A_REVERSE;
        style_attr[DS_BAR] = A_NORMAL;
        style_attr[DS_GOOD] = A_NORMAL;
        style_attr[DS_WARN] = A_BOLD;
        style_attr[DS_BAD] = A_BOLD | A_UNDERLINE;
        style_attr[DS_DIM] = A_NORMAL;
        style_attr[DS_KEYS] = A_REVERSE;
    }
}

bool dash_term_open(char *why, size_t cap)
{
    if (active)
        return true;
    if (!dash_term_usable(why, cap))
        return false;
    setlocale(LC_CTYPE, "");
    /* Flags before the screen exists, so a signal during set-up is not lost. */
    signals_seen = 0;
    last_signal = 0;
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    sigaction(SIGHUP, &sa, &old_hup);
    /* SIGUSR1/2 would end the process with the terminal still in curses' modes: ignored
     * while the screen is ours (a stray `kill -USR1` is not a request to stop). */
    struct sigaction ign;
    memset(&ign, 0, sizeof(ign));
    ign.sa_handler = SIG_IGN;
    sigemptyset(&ign.sa_mask);
    sigaction(SIGUSR1, &ign, &old_usr1);
    sigaction(SIGUSR2, &ign, &old_usr2);
    if (!atexit_done) {
        atexit(restore_at_exit);
        atexit_done = true;
    }
    crash_tio_ok = tcgetattr(STDIN_FILENO, &crash_tio) == 0;
    screen = newterm(NULL, stdout, stdin);
    if (!screen) {
        snprintf(why, cap, "curses could not open the terminal (TERM=%s)", getenv("TERM"));
        sigaction(SIGINT, &old_int, NULL);
        sigaction(SIGTERM, &old_term, NULL);
        sigaction(SIGHUP, &old_hup, NULL);
        sigaction(SIGUSR1, &old_usr1, NULL);
        sigaction(SIGUSR2, &old_usr2, NULL);
        return false;
    }
    set_term(screen);
    active = true;
    painted_valid = false;
    cbreak();
    noecho();
    nonl();
    keypad(stdscr, TRUE);
    curs_set(0);
    set_escdelay(25);
    setup_styles();
    crash_handlers_on();
    return true;
}

void dash_term_close(void)
{
    if (!active)
        return;
    active = false;
    crash_handlers_off();
    /* Without an alternate screen (vt100) the last frame would stay under the shell: wipe it. */
    if (!exit_ca_mode || !*exit_ca_mode) {
        erase();
        refresh();
    }
    curs_set(1);
    endwin();
    delscreen(screen);
    screen = NULL;
    free(painted);
    painted = NULL;
    painted_valid = false;
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    sigaction(SIGHUP, &old_hup, NULL);
    sigaction(SIGUSR1, &old_usr1, NULL);
    sigaction(SIGUSR2, &old_usr2, NULL);
    fflush(stdout);
}

void dash_term_size(int *rows, int *cols)
{
    getmaxyx(stdscr, *rows, *cols);
}

int dash_term_key(int timeout_ms)
{
    timeout(timeout_ms);
    int ch = getch();
    /* Curses has resized its screen, perhaps twice before we paint again: paint it whole. */
    if (ch == KEY_RESIZE)
        painted_valid = false;
    return ch == ERR ? -1 : ch;
}

static bool same_line(const struct dash_line *a, const struct dash_line *b, int cols)
{
    if (a->style != b->style || a->nspans != b->nspans || memcmp(a->text, b->text, (size_t)cols) != 0)
        return false;
    for (int s = 0; s < a->nspans; s++) {
        const struct dash_span *x = &a->spans[s], *y = &b->spans[s];
        if (x->col != y->col || x->len != y->len || x->style != y->style)
            return false;
    }
    return true;
}

/*
 * Paints f. A line equal to the one painted last time is skipped: curses
 * would find no change in it either, but only after re-adding every cell
 * (a wide-character check each), which was most of the UI thread's time.
 * A changed line is rewritten whole (its text fills the frame's width), so
 * nothing of the old one stays; a new screen size repaints everything.
 */
void dash_term_paint(const struct dash_frame *f)
{
    int rows, cols;
    getmaxyx(stdscr, rows, cols);
    if (!painted)
        painted = malloc(sizeof(*painted));
    bool diff = painted && painted_valid && painted_rows == rows && painted_cols == cols &&
                painted->rows == f->rows && painted->cols == f->cols;
    if (!diff)
        erase();
    for (int r = 0; r < f->rows && r < rows; r++) {
        const struct dash_line *l = &f->line[r];
        if (diff && same_line(l, &painted->line[r], f->cols))
            continue;
        int w = f->cols < cols ? f->cols : cols;
        /* The bottom-right cell would scroll some terminals: leave it. */
        if (r == rows - 1 && w == cols)
            w--;
        attrset(style_attr[l->style]);
        mvaddnstr(r, 0, l->text, w);
        for (int s = 0; s < l->nspans; s++) {
            const struct dash_span *sp = &l->spans[s];
            if (sp->col >= w)
                continue;
            int len = sp->col + sp->len > w ? w - sp->col : sp->len;
            attrset(style_attr[sp->style] | style_attr[l->style]);
            mvaddnstr(r, sp->col, l->text + sp->col, len);
        }
    }
    attrset(A_NORMAL);
    refresh();
    if (painted) {
        painted->rows = f->rows;
        painted->cols = f->cols;
        memcpy(painted->line, f->line, (size_t)f->rows * sizeof(f->line[0]));
        painted_rows = rows;
        painted_cols = cols;
        painted_valid = true;
    }
}

int dash_term_signals(void)
{
    return signals_seen;
}

int dash_term_last_signal(void)
{
    return last_signal;
}
