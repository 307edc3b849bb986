/*
 * dash_export: the dashboard's e key. Writes the session being viewed as
 * three CSV files in the current directory through `loadscope export`
 * (cmd_export.c), and for a session whose allocations were traced with
 * stacks its hot paths too (CSV, and folded stacks for flame-graph tools),
 * with the messages captured rather than printed over the screen, and
 * reports the outcome in one line.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "dash.h"

/*
 * Runs one export of `what` to loadscope-SESSION-NAME, with standard error
 * sent to a temporary file; its last line goes to msg.
 */
static int export_one(const char *dbpath, int64_t session, const char *what, const char *name,
                      char *msg, size_t cap)
{
    char id[32], out[96];
    snprintf(id, sizeof(id), "%lld", (long long)session);
    snprintf(out, sizeof(out), "loadscope-%lld-%s", (long long)session, name);
    char w_export[] = "export", w_what[] = "--what", w_o[] = "-o", w_db[] = "--db";
    char what_buf[16], db_buf[4096];
    snprintf(what_buf, sizeof(what_buf), "%s", what);
    snprintf(db_buf, sizeof(db_buf), "%s", dbpath);
    char *argv[] = {w_export, id, w_what, what_buf, w_o, out, w_db, db_buf, NULL};
    FILE *log = tmpfile();
    int saved = dup(STDERR_FILENO);
    if (!log || saved < 0) {
        if (log)
            fclose(log);
        if (saved >= 0)
            close(saved);
        snprintf(msg, cap, "export: cannot capture its messages");
        return LS_EXIT_RUNTIME;
    }
    fflush(stderr);
    dup2(fileno(log), STDERR_FILENO);
    int rc = cli_export(8, argv);
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    char line[256] = "", last[256] = "";
    rewind(log);
    while (fgets(line, sizeof(line), log)) {
        line[strcspn(line, "\n")] = '\0';
        if (line[0])
            snprintf(last, sizeof(last), "%s", line);
    }
    fclose(log);
    if (rc != LS_EXIT_OK)
        snprintf(msg, cap, "%s", last[0] ? last : "export failed");
    return rc;
}

static void export_session(const char *dbpath, int64_t session, char *msg, size_t cap)
{
    static const char *const whats[] = {"summary", "intervals", "samples"};
    for (size_t i = 0; i < sizeof(whats) / sizeof(whats[0]); i++) {
        char name[32];
        snprintf(name, sizeof(name), "%s.csv", whats[i]);
        if (export_one(dbpath, session, whats[i], name, msg, cap) != LS_EXIT_OK)
            return;
    }
    /* Hot paths when there are stacks to export; "none" (exit 2) is not a failure here. */
    char why[256];
    int rc = export_one(dbpath, session, "hotpaths", "hotpaths.csv", why, sizeof(why));
    if (rc == LS_EXIT_OK)
        rc = export_one(dbpath, session, "folded", "stacks.folded", why, sizeof(why));
    if (rc == LS_EXIT_OK)
        snprintf(msg, cap, "exported loadscope-%lld-{summary,intervals,samples,hotpaths}.csv, -stacks.folded",
                 (long long)session);
    else if (rc == LS_EXIT_USAGE)
        snprintf(msg, cap, "exported loadscope-%lld-{summary,intervals,samples}.csv", (long long)session);
    else
        snprintf(msg, cap, "%s", why);
}

void dash_hooks_add_export(struct dash_hooks *h, const char *dbpath, int64_t session)
{
    h->dbpath = dbpath;
    h->session = session;
    h->export_session = dbpath && session > 0 ? export_session : NULL;
}
