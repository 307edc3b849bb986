/*
 * cmd_sessions: `loadscope sessions` lists what the database holds.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "store.h"

int cli_db_path(const char *given, char *buf, unsigned long cap)
{
    if (given) {
        if (snprintf(buf, cap, "%s", given) >= (int)cap) {
            fprintf(stderr, "loadscope: database path too long\n");
            return LS_EXIT_RUNTIME;
        }
        return 0;
    }
    if (store_default_path(buf, cap) != LS_OK) {
        fprintf(stderr, "loadscope: no database path: set XDG_DATA_HOME or HOME, or pass --db FILE\n");
        return LS_EXIT_RUNTIME;
    }
    return 0;
}

static int print_row(void *ctx, const struct store_session_row *r)
{
    (void)ctx;
    char when[32] = "?";
    time_t t = (time_t)(r->started_unix_ns / 1000000000ll);
    struct tm tm;
    if (localtime_r(&t, &tm))
        strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
    double secs = r->ended_unix_ns > r->started_unix_ns
                      ? (double)(r->ended_unix_ns - r->started_unix_ns) / 1e9
                      : 0;
    char dur[32];
    if (r->ended_unix_ns)
        snprintf(dur, sizeof(dur), "%.1fs", secs);
    else
        snprintf(dur, sizeof(dur), "unfinished");
    printf("%6lld  %-19s  %10s  %10lld  %-18.18s  %-20.20s  %s\n", (long long)r->id, when, dur,
           (long long)r->samples, r->status_text ? r->status_text : "", r->name ? r->name : "",
           r->target ? r->target : "");
    return 0;
}

int cli_sessions(int argc, char **argv)
{
    const char *db = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--db") == 0 && i + 1 < argc) {
            db = argv[++i];
        } else {
            fprintf(stderr, "loadscope sessions: unknown argument %s (usage: loadscope sessions [--db FILE])\n",
                    argv[i]);
            return LS_EXIT_USAGE;
        }
    }
    char path[4096], err[1024];
    if (cli_db_path(db, path, sizeof(path)))
        return LS_EXIT_RUNTIME;
    struct store *st;
    /* Read-only: listing changes nothing, works on a read-only file, creates no file. */
    ls_err e = store_open_readonly(path, &st, err, sizeof(err));
    if (e == LS_ERR_NOTFOUND && db == NULL && access(path, F_OK) != 0) {
        /* The default place, before any run: nothing to list is not an error. */
        fprintf(stderr, "loadscope sessions: no sessions yet (no database at %s)\n", path);
        return LS_EXIT_OK;
    }
    if (e != LS_OK) {
        fprintf(stderr, "loadscope sessions: %s\n", err);
        return LS_EXIT_RUNTIME;
    }
    printf("%6s  %-19s  %10s  %10s  %-18s  %-20s  %s\n", "id", "started", "duration", "requests",
           "status", "scenario", "target");
    ls_err rc = store_list_sessions(st, print_row, NULL);
    if (rc != LS_OK)
        fprintf(stderr, "loadscope: %s\n", store_errmsg(st));
    store_close(st);
    return rc == LS_OK ? LS_EXIT_OK : LS_EXIT_RUNTIME;
}
