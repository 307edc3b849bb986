/*
 * dash_pick: the session picker replay opens when no session is named.
 * update() writes the list into a frame; dash_term paints it.
 */
#include <curses.h>
#include <stdlib.h>

#include "dash.h"

static void pick_update(const struct dash_pick_row *rows, size_t n, size_t sel,
                        struct dash_frame *f)
{
    f->line[0].style = DS_TITLE;
    dash_frame_put(f, 0, 0, DS_TITLE, " loadscope replay: choose a session");
    dash_frame_put(f, 2, 1, DS_HEAD, "%6s  %-19s %-9s %10s  %s", "id", "started", "status", "samples",
                   "scenario");
    int list = f->rows - 4;
    size_t first = sel >= (size_t)list && list > 0 ? sel - (size_t)list + 1 : 0;
    for (size_t i = first; i < n && (int)(i - first) < list; i++) {
        int r = 3 + (int)(i - first);
        dash_frame_put(f, r, 1, DS_NORMAL, "%s", rows[i].text);
        if (i == sel)
            dash_frame_style(f, r, 0, f->cols, DS_SELECT);
    }
    f->line[f->rows - 1].style = DS_KEYS;
    dash_frame_put(f, f->rows - 1, 0, DS_KEYS, " Up/Down choose  Enter replay  q quit");
}

long dash_pick(const struct dash_pick_row *rows, size_t n)
{
    struct dash_frame *f = calloc(1, sizeof(*f));
    long out = -1;
    size_t sel = 0;
    if (!f || n == 0)
        goto done;
    for (;;) {
        if (dash_term_signals() > 0)
            break;
        int r, c;
        dash_term_size(&r, &c);
        dash_frame_reset(f, r, c);
        pick_update(rows, n, sel, f);
        dash_term_paint(f);
        int ch = dash_term_key(200);
        if (ch == 'q' || ch == 'Q')
            break;
        if (ch == KEY_UP)
            sel = (sel + n - 1) % n;
        else if (ch == KEY_DOWN)
            sel = (sel + 1) % n;
        else if (ch == '\n' || ch == '\r' || ch == KEY_ENTER) {
            out = (long)sel;
            break;
        }
    }
done:
    free(f);
    return out;
}
