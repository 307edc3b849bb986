/*
 * fuzz_template: libFuzzer target for request templates.
 *
 * Beyond not crashing: a refusal is LS_ERR_INVALID with a message; a
 * compiled template renders, for extreme ${seq}/${worker} values and with or
 * without random numbers, within tmpl_max_len() into a buffer of that size
 * plus one, NUL-terminated; rendering without an rng is deterministic; a
 * buffer one byte short of a rendering is refused (-1) and left terminated;
 * a constant template renders its text with "$${" read as "${".
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "scenario/template.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c))                                                                                  \
            abort();                                                                               \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct tmpl *t = NULL;
    char err[256];
    err[0] = '\0';
    ls_err rc = tmpl_compile((const char *)data, size, &t, err, sizeof err);
    if (rc != LS_OK) {
        CHECK(t == NULL);
        CHECK(rc == LS_ERR_INVALID || rc == LS_ERR_NOMEM);
        CHECK(memchr(err, '\0', sizeof err) != NULL && err[0] != '\0');
        return 0;
    }
    CHECK(t != NULL);
    size_t max = tmpl_max_len(t);
    char *buf = malloc(max + 1);
    char *again = malloc(max + 1);
    CHECK(buf && again);
    struct tmpl_rng rng;
    tmpl_rng_seed(&rng, size);
    static const uint64_t vals[] = {0, 9, 10, 99999, UINT64_MAX};
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
        struct tmpl_vars v = {.seq = vals[i], .worker = vals[4 - i], .rng = i % 2 ? &rng : NULL};
        long n = tmpl_render(t, &v, buf, max + 1);
        CHECK(n >= 0 && (size_t)n <= max && buf[n] == '\0');
        if (v.rng == NULL) {
            long m = tmpl_render(t, &v, again, max + 1);
            CHECK(m == n && memcmp(buf, again, (size_t)n) == 0);
        }
        if (n > 0 && v.rng == NULL) {
            /* one byte short of the rendering (terminator included) is refused */
            long k = tmpl_render(t, &v, again, (size_t)n);
            CHECK(k == -1);
            CHECK(memchr(again, '\0', (size_t)n) != NULL);
        }
    }
    if (tmpl_is_constant(t)) {
        struct tmpl_vars v = {0};
        long n = tmpl_render(t, &v, buf, max + 1);
        /* the text with "$${" read as "${" */
        size_t o = 0;
        for (size_t i = 0; i < size; i++) {
            if (i + 2 < size && data[i] == '$' && data[i + 1] == '$' && data[i + 2] == '{')
                continue;
            CHECK(o < (size_t)n && (uint8_t)buf[o] == data[i]);
            o++;
        }
        CHECK(o == (size_t)n);
    }
    free(buf);
    free(again);
    tmpl_free(t);
    return 0;
}
