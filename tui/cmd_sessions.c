/*
 * cmd_sessions: `loadscope sessions [--db FILE]`, the command line of
 * app/sessions.h (which queries and formats the listing); and the database
 * path every command resolves.
 */
#include <stdio.h>
#include <unistd.h>
#include <string.h>

#include "cli.h"
#include "sessions.h"
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
    ls_err rc = sessions_list(st, stdout, err, sizeof(err));
    if (rc != LS_OK)
        fprintf(stderr, "loadscope sessions: %s\n", err);
    store_close(st);
    return rc == LS_OK ? LS_EXIT_OK : LS_EXIT_RUNTIME;
}
