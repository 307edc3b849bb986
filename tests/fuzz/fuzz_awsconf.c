/*
 * fuzz_awsconf: libFuzzer target for the AWS shared files' INI reader
 * (credentials and config, core/aws/awsconf_ini.c).
 *
 * The first byte picks the kind of file (bit 0: config, where sections are
 * "[profile NAME]") and the profile looked for (bit 1: "default", else
 * "p"); the rest is the file. Beyond not crashing: a refusal is
 * LS_ERR_PARSE (or out of memory) with a "fuzz.ini:LINE: ..." message that
 * never quotes the file (a bad line may be a pasted secret: any input line
 * holding SECRET is checked not to leak); an accepted file's values are
 * trimmed, never span lines, each with the line it came from, and only
 * when the profile's section was found.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aws/awsconf_ini.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c))                                                                                  \
            abort();                                                                               \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    bool is_config = data[0] & 1;
    const char *profile = data[0] & 2 ? "default" : "p";
    size_t len = size - 1;
    char *text = malloc(len);
    CHECK(text != NULL);
    memcpy(text, data + 1, len);
    FILE *f = fmemopen(text, len, "r");
    CHECK(f != NULL);
    struct ini_profile p = {0};
    char err[512] = "";
    ls_err rc = awsconf_ini_read(f, "fuzz.ini", is_config, profile, &p, err, sizeof err);
    fclose(f);
    CHECK(p.read);
    if (rc != LS_OK) {
        CHECK(rc == LS_ERR_PARSE || rc == LS_ERR_NOMEM || rc == LS_ERR_IO);
        CHECK(rc != LS_ERR_PARSE || strncmp(err, "fuzz.ini:", 9) == 0);
        if (memmem(data + 1, len, "SECRET", 6) != NULL)
            CHECK(strstr(err, "SECRET") == NULL);
    } else {
        for (int k = 0; k < K__COUNT; k++) {
            if (!p.val[k])
                continue;
            CHECK(p.found && p.section_line >= 1 && p.line[k] >= p.section_line);
            size_t n = strlen(p.val[k]);
            CHECK(n > 0);
            CHECK(strchr(p.val[k], '\n') == NULL);
            CHECK(p.val[k][0] != ' ' && p.val[k][0] != '\t');
            CHECK(p.val[k][n - 1] != ' ' && p.val[k][n - 1] != '\t');
        }
    }
    awsconf_ini_free(&p);
    free(text);
    return 0;
}
