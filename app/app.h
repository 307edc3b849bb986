/*
 * app: what every command of the application shares: its outcome.
 *
 * Exit codes are shared by every command (and documented in the README).
 */
#ifndef LS_APP_H
#define LS_APP_H

enum ls_exit {
    LS_EXIT_OK = 0,
    LS_EXIT_RUNTIME = 1,      /* could not start the target, database failure, ... */
    LS_EXIT_USAGE = 2,        /* bad command line or invalid scenario: nothing ran */
    LS_EXIT_TARGET_DIED = 3,  /* the target process exited during the run */
    LS_EXIT_THRESHOLDS = 99,  /* the run completed but a threshold was crossed (as k6) */
    LS_EXIT_INTERRUPTED = 130 /* stopped by SIGINT/SIGTERM; what was recorded is kept */
};

#endif
