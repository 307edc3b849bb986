/*
 * dash_export: the dashboard's e key. Writes the session being viewed as
 * three CSV files in the current directory (summary, intervals, samples),
 * and for a session whose allocations were traced with stacks its hot paths
 * too (CSV, and folded stacks for flame-graph tools), through app/export.h:
 * the same library and the same bytes as `loadscope export`, with its
 * messages returned rather than printed over the screen. Reports the outcome
 * in one line.
 */
#include <stdio.h>
#include <string.h>

#include "dash.h"
#include "export.h"
#include "store.h"

/* One export of `what` to loadscope-SESSION-NAME; on failure its message goes to msg. */
static ls_err export_one(struct store *st, int64_t session, const char *what, const char *name,
                         char *msg, size_t cap)
{
    struct export_opts o = {.what = what};
    char path[96], err[512];
    ls_err e;

    snprintf(path, sizeof(path), "loadscope-%lld-%s", (long long)session, name);
    e = export_session_file(st, session, &o, path, NULL, err, sizeof(err));
    if (e != LS_OK)
        snprintf(msg, cap, "export: %s", err);
    return e;
}

static void dash_export(const char *dbpath, int64_t session, char *msg, size_t cap)
{
    static const char *const whats[] = {"summary", "intervals", "samples"};
    struct store *st = NULL;
    char err[512], why[256];
    ls_err e;

    if (store_open_readonly(dbpath, &st, err, sizeof(err)) != LS_OK) {
        snprintf(msg, cap, "export: cannot open %s: %s", dbpath, err);
        return;
    }
    for (size_t i = 0; i < sizeof(whats) / sizeof(whats[0]); i++) {
        char name[32];

        snprintf(name, sizeof(name), "%s.csv", whats[i]);
        if (export_one(st, session, whats[i], name, msg, cap) != LS_OK)
            goto out;
    }
    /* Hot paths when there are stacks to export; "none" (not found) is not a failure here. */
    e = export_one(st, session, "hotpaths", "hotpaths.csv", why, sizeof(why));
    if (e == LS_OK)
        e = export_one(st, session, "folded", "stacks.folded", why, sizeof(why));
    if (e == LS_OK)
        snprintf(msg, cap,
                 "exported loadscope-%lld-{summary,intervals,samples,hotpaths}.csv, -stacks.folded",
                 (long long)session);
    else if (e == LS_ERR_NOTFOUND)
        snprintf(msg, cap, "exported loadscope-%lld-{summary,intervals,samples}.csv",
                 (long long)session);
    else
        snprintf(msg, cap, "%s", why);
out:
    store_close(st);
}

void dash_hooks_add_export(struct dash_hooks *h, const char *dbpath, int64_t session)
{
    h->dbpath = dbpath;
    h->session = session;
    h->export_session = dbpath && session > 0 ? dash_export : NULL;
}
