/*
 * awsconf_ini: the AWS shared files' INI reader (see awsconf_ini.h).
 */
#include "aws/awsconf_ini.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/types.h>

static const char *const key_names[K__COUNT] = {"aws_access_key_id", "aws_secret_access_key",
                                                "aws_session_token", "region",
                                                "endpoint_url",      "max_attempts"};

const char *awsconf_key_name(enum conf_key k)
{
    return k < K__COUNT ? key_names[k] : "?";
}

static void wipe_free(char *s)
{
    if (!s)
        return;
    volatile char *v = s;
    while (*v)
        *v++ = '\0';
    free(s);
}

void awsconf_ini_free(struct ini_profile *p)
{
    for (int k = 0; k < K__COUNT; k++)
        wipe_free(p->val[k]);
    memset(p, 0, sizeof(*p));
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n'))
        s[--n] = '\0';
    return s;
}

/* Is section (trimmed, without brackets) the profile's, in this kind of file? */
static bool section_is(const char *section, const char *profile, bool is_config)
{
    if (!is_config)
        return strcmp(section, profile) == 0;
    if (strcmp(profile, "default") == 0 && strcmp(section, "default") == 0)
        return true;
    if (strncmp(section, "profile", 7) != 0 || (section[7] != ' ' && section[7] != '\t'))
        return false;
    const char *name = section + 7;
    while (*name == ' ' || *name == '\t')
        name++;
    return strcmp(name, profile) == 0;
}

ls_err awsconf_ini_read(FILE *f, const char *path, bool is_config, const char *profile,
                        struct ini_profile *out, char *err, size_t errcap)
{
    ls_err rc = LS_OK;
    char *line = NULL;
    size_t cap = 0;
    out->path = path;
    out->read = true;
    int lineno = 0;
    bool in_section = false, in_profile = false, nested = false;
    ssize_t got;
    while ((got = getline(&line, &cap, f)) >= 0) {
        lineno++;
        if ((size_t)got != strlen(line)) {
            snprintf(err, errcap, "%s:%d: NUL byte in the file", path, lineno);
            rc = LS_ERR_PARSE;
            goto out;
        }
        bool indented = line[0] == ' ' || line[0] == '\t';
        char *s = trim(line);
        if (*s == '\0' || *s == '#' || *s == ';')
            continue;
        if (indented && nested)
            continue; /* a sub-key of "key =" (e.g. the CLI's s3 block) */
        nested = false;
        if (*s == '[') {
            char *close = strrchr(s, ']');
            if (!close || close[1] != '\0') {
                snprintf(err, errcap, "%s:%d: section header without a closing ']'", path, lineno);
                rc = LS_ERR_PARSE;
                goto out;
            }
            *close = '\0';
            char *name = trim(s + 1);
            if (*name == '\0') {
                snprintf(err, errcap, "%s:%d: empty section name", path, lineno);
                rc = LS_ERR_PARSE;
                goto out;
            }
            in_section = true;
            in_profile = section_is(name, profile, is_config);
            if (in_profile && !out->found) {
                out->found = true;
                out->section_line = lineno;
            }
            continue;
        }
        char *eq = strchr(s, '=');
        if (!eq) {
            snprintf(err, errcap, "%s:%d: expected \"key = value\", a [section] or a comment", path,
                     lineno);
            rc = LS_ERR_PARSE;
            goto out;
        }
        *eq = '\0';
        char *key = trim(s);
        char *val = trim(eq + 1);
        if (*key == '\0') {
            snprintf(err, errcap, "%s:%d: \"=\" without a key", path, lineno);
            rc = LS_ERR_PARSE;
            goto out;
        }
        if (!in_section) {
            snprintf(err, errcap, "%s:%d: a key before any [section]", path, lineno);
            rc = LS_ERR_PARSE;
            goto out;
        }
        if (*val == '\0') {
            nested = true;
            continue;
        }
        /* an inline comment needs whitespace before it: "value  # note" */
        for (char *c = val + 1; *c; c++) {
            if ((*c == '#' || *c == ';') && (c[-1] == ' ' || c[-1] == '\t')) {
                *c = '\0';
                val = trim(val);
                break;
            }
        }
        if (!in_profile)
            continue;
        for (int k = 0; k < K__COUNT; k++) {
            if (strcasecmp(key, awsconf_key_name((enum conf_key)k)) != 0)
                continue;
            char *copy = strdup(val);
            if (!copy) {
                rc = LS_ERR_NOMEM;
                snprintf(err, errcap, "out of memory");
                goto out;
            }
            wipe_free(out->val[k]);
            out->val[k] = copy;
            out->line[k] = lineno;
        }
    }
    if (ferror(f)) {
        snprintf(err, errcap, "%s: read error: %s", path, strerror(errno));
        rc = LS_ERR_IO;
    }
out:
    if (line) {
        memset(line, 0, cap);
        free(line);
    }
    return rc;
}

