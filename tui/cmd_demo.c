/*
 * cmd_demo: `loadscope demo [run options]` runs the bundled demo scenario
 * (fixtures/scenarios/demo.json: server-everything over stdio) with the
 * dashboard. The scenario is found beside the binary's source tree
 * (build/../fixtures), in an installed share/loadscope, in the current
 * directory, or at $LOADSCOPE_DEMO_SCENARIO.
 */
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static bool exists(const char *p)
{
    return access(p, R_OK) == 0;
}

static bool find_demo(char *out, size_t cap)
{
    const char *env = getenv("LOADSCOPE_DEMO_SCENARIO");
    if (env && *env) {
        snprintf(out, cap, "%s", env);
        return exists(out);
    }
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n > 0) {
        exe[n] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash)
            *slash = '\0';
        static const char *const rel[] = {"/../fixtures/scenarios/demo.json",
                                          "/../share/loadscope/scenarios/demo.json"};
        for (size_t i = 0; i < sizeof(rel) / sizeof(rel[0]); i++) {
            if ((size_t)snprintf(out, cap, "%s%s", exe, rel[i]) < cap && exists(out))
                return true;
        }
    }
    snprintf(out, cap, "fixtures/scenarios/demo.json");
    return exists(out);
}

int cli_demo(int argc, char **argv)
{
    char path[PATH_MAX + 64];
    if (!find_demo(path, sizeof(path))) {
        fprintf(stderr, "loadscope demo: cannot find fixtures/scenarios/demo.json (looked beside the "
                        "binary and in the current directory); set LOADSCOPE_DEMO_SCENARIO=FILE\n");
        return LS_EXIT_RUNTIME;
    }
    char **args = calloc((size_t)argc + 2, sizeof(*args));
    if (!args) {
        fprintf(stderr, "loadscope demo: out of memory\n");
        return LS_EXIT_RUNTIME;
    }
    static char run_word[] = "run";
    args[0] = run_word;
    args[1] = path;
    for (int i = 1; i < argc; i++)
        args[i + 1] = argv[i];
    int rc = cli_run(argc + 1, args);
    free(args);
    return rc;
}
