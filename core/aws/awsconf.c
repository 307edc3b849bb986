/*
 * awsconf: the AWS credentials/config chain and a small INI reader.
 *
 * The shared files are read the way the AWS CLI reads them: sections in
 * brackets ("[name]" in credentials, "[default]" or "[profile name]" in
 * config), `key = value` lines, comments on lines starting with '#' or ';'
 * (and after whitespace at the end of a value), indented sub-keys under a
 * key with an empty value (the CLI's "s3 =" blocks, skipped here), keys
 * matched case-insensitively, the last repeat winning.
 *
 * Secrets: values are kept only in struct aws_config. Error messages name
 * the file, the line and the key, never a line's content, because a bad
 * line may well be a pasted secret.
 */
#include "aws/awsconf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define AWSCONF_MAX_ATTEMPTS_LIMIT 100u
#define AWSCONF_DEFAULT_ATTEMPTS 3u

enum conf_key { K_KEY_ID, K_SECRET, K_TOKEN, K_REGION, K_ENDPOINT, K_MAX_ATTEMPTS, K__COUNT };

static const char *const key_names[K__COUNT] = {"aws_access_key_id", "aws_secret_access_key",
                                                "aws_session_token", "region",
                                                "endpoint_url",      "max_attempts"};

/* What one file says about the chosen profile. */
struct ini_profile {
    const char *path;
    bool read;        /* the file exists and was read */
    bool found;       /* the profile's section is there */
    int section_line; /* first line of the section */
    char *val[K__COUNT];
    int line[K__COUNT]; /* where each value was set */
};

static void wipe_free(char *s)
{
    if (!s)
        return;
    volatile char *v = s;
    while (*v)
        *v++ = '\0';
    free(s);
}

static void ini_profile_free(struct ini_profile *p)
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

/*
 * Reads path looking for profile. A missing file is fine unless required
 * (named by an environment variable); an unreadable one is an error.
 */
static ls_err ini_read(const char *path, bool is_config, bool required, const char *profile,
                       struct ini_profile *out, char *err, size_t errcap)
{
    ls_err rc = LS_OK;
    char *line = NULL;
    size_t cap = 0;
    out->path = path;
    FILE *f = fopen(path, "r");
    if (!f) {
        if (errno == ENOENT && !required)
            return LS_OK;
        snprintf(err, errcap, "%s: %s", path, strerror(errno));
        return LS_ERR_IO;
    }
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
            if (strcasecmp(key, key_names[k]) != 0)
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
    fclose(f);
    return rc;
}

static const char *env(const char *name)
{
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

/* A file named by env var, "~/" expanded; else $HOME/.aws/<leaf>; NULL without HOME. */
static char *file_path(const char *var, const char *leaf, bool *explicit_out)
{
    const char *given = env(var);
    const char *home = env("HOME");
    char *p = NULL;
    *explicit_out = given != NULL;
    if (given) {
        if (given[0] == '~' && given[1] == '/' && home) {
            if (asprintf(&p, "%s%s", home, given + 1) < 0)
                p = NULL;
        } else {
            p = strdup(given);
        }
    } else if (home) {
        if (asprintf(&p, "%s/.aws/%s", home, leaf) < 0)
            p = NULL;
    }
    return p;
}

const char *awsconf_service_name(enum aws_service s)
{
    switch (s) {
    case AWS_DYNAMODB:
        return "dynamodb";
    case AWS_S3:
        return "s3";
    case AWS__SERVICES:
        break;
    }
    return "?";
}

void awsconf_mask_key_id(const char *key_id, char *out, size_t cap)
{
    if (!cap)
        return;
    size_t n = key_id ? strlen(key_id) : 0, o = 0;
    for (size_t i = 0; i < n && o + 1 < cap; i++)
        out[o++] = (n > 4 && i >= n - 4) ? key_id[i] : '*';
    out[o] = '\0';
}

static bool valid_endpoint(const char *u)
{
    return (strncmp(u, "http://", 7) == 0 && u[7]) || (strncmp(u, "https://", 8) == 0 && u[8]);
}

/* Base URL without the trailing slashes. */
static char *endpoint_dup(const char *u)
{
    size_t n = strlen(u);
    while (n > 8 && u[n - 1] == '/')
        n--;
    return strndup(u, n);
}

__attribute__((format(printf, 3, 4))) static void append(char *buf, size_t cap, const char *fmt,
                                                         ...)
{
    size_t n = strlen(buf);
    va_list ap;
    va_start(ap, fmt);
    if (n + 1 < cap)
        vsnprintf(buf + n, cap - n, fmt, ap);
    va_end(ap);
}

ls_err awsconf_load(const char *scenario_profile, const char *scenario_region,
                    const char *const scenario_endpoint[AWS__SERVICES], struct aws_config *out,
                    char *err, size_t errcap)
{
    ls_err rc = LS_OK;
    struct ini_profile cred = {0}, conf = {0};
    char *cred_path = NULL, *conf_path = NULL;
    char where[300];
    memset(out, 0, sizeof(*out));
    if (err && errcap)
        err[0] = '\0';

    /* profile */
    bool profile_explicit = true;
    const char *profile = env("AWS_PROFILE");
    const char *profile_src = "AWS_PROFILE";
    if (!profile && scenario_profile && *scenario_profile) {
        profile = scenario_profile;
        profile_src = "the scenario";
    }
    if (!profile) {
        profile = "default";
        profile_explicit = false;
    }
    out->profile = strdup(profile);
    if (!out->profile)
        goto nomem;

    /* the two files */
    bool cred_explicit, conf_explicit;
    cred_path = file_path("AWS_SHARED_CREDENTIALS_FILE", "credentials", &cred_explicit);
    conf_path = file_path("AWS_CONFIG_FILE", "config", &conf_explicit);
    if (cred_path) {
        rc = ini_read(cred_path, false, cred_explicit, profile, &cred, err, errcap);
        if (rc != LS_OK)
            goto out;
    }
    if (conf_path) {
        rc = ini_read(conf_path, true, conf_explicit, profile, &conf, err, errcap);
        if (rc != LS_OK)
            goto out;
    }
    if (profile_explicit && !cred.found && !conf.found) {
        snprintf(err, errcap, "profile \"%s\" (from %s) is not in %s nor in %s (as [profile %s])",
                 profile, profile_src, cred_path ? cred_path : "the credentials file (no HOME)",
                 conf_path ? conf_path : "the config file (no HOME)", profile);
        rc = LS_ERR_NOTFOUND;
        goto out;
    }
    snprintf(out->source, sizeof out->source, "profile %s", profile);

    /* credentials: environment, credentials file, config file */
    const char *env_id = env("AWS_ACCESS_KEY_ID"), *env_secret = env("AWS_SECRET_ACCESS_KEY");
    if (env_id || env_secret) {
        if (!env_id || !env_secret) {
            snprintf(err, errcap, "%s is set but %s is not",
                     env_id ? "AWS_ACCESS_KEY_ID" : "AWS_SECRET_ACCESS_KEY",
                     env_id ? "AWS_SECRET_ACCESS_KEY" : "AWS_ACCESS_KEY_ID");
            rc = LS_ERR_INVALID;
            goto out;
        }
        out->access_key_id = strdup(env_id);
        out->secret_access_key = strdup(env_secret);
        if (env("AWS_SESSION_TOKEN"))
            out->session_token = strdup(env("AWS_SESSION_TOKEN"));
        if (!out->access_key_id || !out->secret_access_key ||
            (env("AWS_SESSION_TOKEN") && !out->session_token))
            goto nomem;
        snprintf(where, sizeof where, "environment");
    } else {
        struct ini_profile *files[2] = {&cred, &conf};
        for (int i = 0; i < 2 && !out->access_key_id; i++) {
            struct ini_profile *f = files[i];
            if (!f->val[K_KEY_ID] && !f->val[K_SECRET])
                continue;
            if (!f->val[K_KEY_ID] || !f->val[K_SECRET]) {
                int k = f->val[K_KEY_ID] ? K_KEY_ID : K_SECRET;
                snprintf(err, errcap, "%s:%d: profile \"%s\" has %s but no %s", f->path, f->line[k],
                         profile, key_names[k], key_names[k == K_KEY_ID ? K_SECRET : K_KEY_ID]);
                rc = LS_ERR_INVALID;
                goto out;
            }
            out->access_key_id = strdup(f->val[K_KEY_ID]);
            out->secret_access_key = strdup(f->val[K_SECRET]);
            if (f->val[K_TOKEN])
                out->session_token = strdup(f->val[K_TOKEN]);
            if (!out->access_key_id || !out->secret_access_key ||
                (f->val[K_TOKEN] && !out->session_token))
                goto nomem;
            snprintf(where, sizeof where, "%s:%d", f->path, f->line[K_KEY_ID]);
        }
        if (!out->access_key_id) {
            snprintf(err, errcap,
                     "no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or "
                     "aws_access_key_id and aws_secret_access_key for profile \"%s\" in %s",
                     profile, cred_path ? cred_path : "~/.aws/credentials");
            rc = LS_ERR_NOTFOUND;
            goto out;
        }
    }
    char masked[64];
    awsconf_mask_key_id(out->access_key_id, masked, sizeof masked);
    append(out->source, sizeof out->source, "; credentials %s from %s", masked, where);
    if (out->session_token)
        append(out->source, sizeof out->source, " with a session token");

    /* region */
    const char *region = env("AWS_REGION");
    const char *region_src = "AWS_REGION";
    if (!region) {
        region = env("AWS_DEFAULT_REGION");
        region_src = "AWS_DEFAULT_REGION";
    }
    if (!region && conf.val[K_REGION]) {
        region = conf.val[K_REGION];
        snprintf(where, sizeof where, "%s:%d", conf.path, conf.line[K_REGION]);
        region_src = where;
    }
    if (!region && scenario_region && *scenario_region) {
        region = scenario_region;
        region_src = "the scenario";
    }
    if (!region) {
        snprintf(err, errcap,
                 "no AWS region: set AWS_REGION or AWS_DEFAULT_REGION, region in profile \"%s\" "
                 "of %s, or the scenario's region",
                 profile, conf_path ? conf_path : "~/.aws/config");
        rc = LS_ERR_NOTFOUND;
        goto out;
    }
    for (const char *c = region; *c; c++) {
        if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '-')) {
            snprintf(err, errcap,
                     "region \"%.64s\" from %s: expected lower-case letters, digits "
                     "and '-' (like us-east-1)",
                     region, region_src);
            rc = LS_ERR_INVALID;
            goto out;
        }
    }
    out->region = strdup(region);
    if (!out->region)
        goto nomem;
    append(out->source, sizeof out->source, "; region %s from %s", region, region_src);

    /* endpoints */
    for (int s = 0; s < AWS__SERVICES; s++) {
        const char *name = awsconf_service_name((enum aws_service)s);
        char var[64];
        snprintf(var, sizeof var, "AWS_ENDPOINT_URL_%s", s == AWS_DYNAMODB ? "DYNAMODB" : "S3");
        const char *url = env(var);
        const char *src = var;
        if (!url) {
            url = env("AWS_ENDPOINT_URL");
            src = "AWS_ENDPOINT_URL";
        }
        if (!url && conf.val[K_ENDPOINT]) {
            url = conf.val[K_ENDPOINT];
            snprintf(where, sizeof where, "%s:%d", conf.path, conf.line[K_ENDPOINT]);
            src = where;
        }
        if (!url && scenario_endpoint && scenario_endpoint[s] && *scenario_endpoint[s]) {
            url = scenario_endpoint[s];
            src = "the scenario";
        }
        if (url) {
            if (!valid_endpoint(url)) {
                snprintf(err, errcap, "%s endpoint from %s: expected an http:// or https:// URL",
                         name, src);
                rc = LS_ERR_INVALID;
                goto out;
            }
            out->endpoint[s] = endpoint_dup(url);
        } else {
            src = "the regional default";
            bool cn = strncmp(region, "cn-", 3) == 0;
            if (asprintf(&out->endpoint[s], "https://%s.%s.amazonaws.com%s", name, region,
                         cn ? ".cn" : "") < 0)
                out->endpoint[s] = NULL;
        }
        if (!out->endpoint[s])
            goto nomem;
        append(out->source, sizeof out->source, "; %s endpoint from %s", name, src);
    }

    /* max attempts */
    const char *ma = env("AWS_MAX_ATTEMPTS");
    const char *ma_src = "AWS_MAX_ATTEMPTS";
    if (!ma && conf.val[K_MAX_ATTEMPTS]) {
        ma = conf.val[K_MAX_ATTEMPTS];
        snprintf(where, sizeof where, "%s:%d", conf.path, conf.line[K_MAX_ATTEMPTS]);
        ma_src = where;
    }
    out->max_attempts = AWSCONF_DEFAULT_ATTEMPTS;
    if (ma) {
        char *end;
        errno = 0;
        unsigned long v = strtoul(ma, &end, 10);
        if (errno || *end || end == ma || ma[0] == '-' || ma[0] == '+' || v < 1 ||
            v > AWSCONF_MAX_ATTEMPTS_LIMIT) {
            snprintf(err, errcap,
                     "max attempts \"%.32s\" from %s: expected an integer from 1 to %u", ma, ma_src,
                     AWSCONF_MAX_ATTEMPTS_LIMIT);
            rc = LS_ERR_INVALID;
            goto out;
        }
        out->max_attempts = (uint32_t)v;
    }
    goto out;

nomem:
    snprintf(err, errcap, "out of memory");
    rc = LS_ERR_NOMEM;
out:
    ini_profile_free(&cred);
    ini_profile_free(&conf);
    free(cred_path);
    free(conf_path);
    if (rc != LS_OK)
        awsconf_free(out);
    return rc;
}

void awsconf_free(struct aws_config *c)
{
    if (!c)
        return;
    wipe_free(c->access_key_id);
    wipe_free(c->secret_access_key);
    wipe_free(c->session_token);
    free(c->region);
    for (int s = 0; s < AWS__SERVICES; s++)
        free(c->endpoint[s]);
    free(c->profile);
    memset(c, 0, sizeof(*c));
}

/* Is needle in hay, raw or percent-encoded (upper-case hex, '/' kept or not)? */
static bool contains(const void *hay, size_t len, const char *needle)
{
    if (!needle || !*needle || !hay)
        return false;
    size_t n = strlen(needle);
    if (memmem(hay, len, needle, n))
        return true;
    static const char hex[] = "0123456789ABCDEF";
    char *enc = malloc(3 * n + 1);
    if (!enc)
        return false;
    bool found = false;
    for (int keep_slash = 0; keep_slash < 2 && !found; keep_slash++) {
        size_t o = 0;
        bool changed = false;
        for (size_t i = 0; i < n; i++) {
            unsigned char c = (unsigned char)needle[i];
            bool plain = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                         (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~' ||
                         (keep_slash && c == '/');
            if (plain) {
                enc[o++] = (char)c;
            } else {
                enc[o++] = '%';
                enc[o++] = hex[c >> 4];
                enc[o++] = hex[c & 15];
                changed = true;
            }
        }
        found = changed && memmem(hay, len, enc, o) != NULL;
    }
    memset(enc, 0, 3 * n + 1);
    free(enc);
    return found;
}

const char *awsconf_find_secret(const char *secret_access_key, const char *session_token,
                                const void *buf, size_t len)
{
    if (contains(buf, len, secret_access_key))
        return "secret access key";
    if (contains(buf, len, session_token))
        return "session token";
    return NULL;
}

const char *awsconf_scan_secrets(const struct aws_config *c, const void *buf, size_t len)
{
    return c ? awsconf_find_secret(c->secret_access_key, c->session_token, buf, len) : NULL;
}
