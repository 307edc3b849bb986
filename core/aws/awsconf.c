/*
 * awsconf: the AWS credentials/config chain (see awsconf.h).
 *
 * awsconf_load() is one named step per setting, in the order the SDKs
 * resolve them: the profile and its two files (read by awsconf_ini.c),
 * the credentials, the region, the endpoint of each service, the attempt
 * budget. Each step notes where its value came from in out->source.
 *
 * Secrets: values are kept only in struct aws_config. Error messages name
 * the file, the line and the key, never a line's content, because a bad
 * line may well be a pasted secret.
 */
#include "aws/awsconf.h"

#include "aws/awsconf_ini.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define AWSCONF_MAX_ATTEMPTS_LIMIT 100u
#define AWSCONF_DEFAULT_ATTEMPTS 3u

static void wipe_free(char *s)
{
    if (!s)
        return;
    volatile char *v = s;
    while (*v)
        *v++ = '\0';
    free(s);
}

/*
 * Reads path looking for profile. A missing file is fine unless required
 * (named by an environment variable); an unreadable one is an error.
 */
static ls_err ini_read(const char *path, bool is_config, bool required, const char *profile,
                       struct ini_profile *out, char *err, size_t errcap)
{
    out->path = path;
    FILE *f = fopen(path, "r");
    if (!f) {
        if (errno == ENOENT && !required)
            return LS_OK;
        snprintf(err, errcap, "%s: %s", path, strerror(errno));
        return LS_ERR_IO;
    }
    ls_err rc = awsconf_ini_read(f, path, is_config, profile, out, err, errcap);
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

/* What awsconf_load's steps share. */
struct load {
    const char *profile;
    struct ini_profile cred, conf;
    char *cred_path, *conf_path;
    char where[300];              /* "FILE:LINE" of the value being read */
};

/* The profile (AWS_PROFILE, the scenario's, "default") and the two files' view of it. */
static ls_err load_profile(struct load *l, const char *scenario_profile, struct aws_config *out,
                           char *err, size_t errcap)
{
    bool profile_explicit = true;
    const char *profile_src = "AWS_PROFILE";
    l->profile = env("AWS_PROFILE");
    if (!l->profile && scenario_profile && *scenario_profile) {
        l->profile = scenario_profile;
        profile_src = "the scenario";
    }
    if (!l->profile) {
        l->profile = "default";
        profile_explicit = false;
    }
    out->profile = strdup(l->profile);
    if (!out->profile)
        return LS_ERR_NOMEM;

    bool cred_explicit, conf_explicit;
    l->cred_path = file_path("AWS_SHARED_CREDENTIALS_FILE", "credentials", &cred_explicit);
    l->conf_path = file_path("AWS_CONFIG_FILE", "config", &conf_explicit);
    ls_err rc;
    if (l->cred_path) {
        rc = ini_read(l->cred_path, false, cred_explicit, l->profile, &l->cred, err, errcap);
        if (rc != LS_OK)
            return rc;
    }
    if (l->conf_path) {
        rc = ini_read(l->conf_path, true, conf_explicit, l->profile, &l->conf, err, errcap);
        if (rc != LS_OK)
            return rc;
    }
    if (profile_explicit && !l->cred.found && !l->conf.found) {
        snprintf(err, errcap, "profile \"%s\" (from %s) is not in %s nor in %s (as [profile %s])",
                 l->profile, profile_src,
                 l->cred_path ? l->cred_path : "the credentials file (no HOME)",
                 l->conf_path ? l->conf_path : "the config file (no HOME)", l->profile);
        return LS_ERR_NOTFOUND;
    }
    snprintf(out->source, sizeof out->source, "profile %s", l->profile);
    return LS_OK;
}

/* The key pair (and token): the environment, else the credentials file, else the config file. */
static ls_err load_credentials(struct load *l, struct aws_config *out, char *err, size_t errcap)
{
    const char *env_id = env("AWS_ACCESS_KEY_ID"), *env_secret = env("AWS_SECRET_ACCESS_KEY");
    if (env_id || env_secret) {
        if (!env_id || !env_secret) {
            snprintf(err, errcap, "%s is set but %s is not",
                     env_id ? "AWS_ACCESS_KEY_ID" : "AWS_SECRET_ACCESS_KEY",
                     env_id ? "AWS_SECRET_ACCESS_KEY" : "AWS_ACCESS_KEY_ID");
            return LS_ERR_INVALID;
        }
        out->access_key_id = strdup(env_id);
        out->secret_access_key = strdup(env_secret);
        if (env("AWS_SESSION_TOKEN"))
            out->session_token = strdup(env("AWS_SESSION_TOKEN"));
        if (!out->access_key_id || !out->secret_access_key ||
            (env("AWS_SESSION_TOKEN") && !out->session_token))
            return LS_ERR_NOMEM;
        snprintf(l->where, sizeof l->where, "environment");
    } else {
        struct ini_profile *files[2] = {&l->cred, &l->conf};
        for (int i = 0; i < 2 && !out->access_key_id; i++) {
            struct ini_profile *f = files[i];
            if (!f->val[K_KEY_ID] && !f->val[K_SECRET])
                continue;
            if (!f->val[K_KEY_ID] || !f->val[K_SECRET]) {
                enum conf_key k = f->val[K_KEY_ID] ? K_KEY_ID : K_SECRET;
                snprintf(err, errcap, "%s:%d: profile \"%s\" has %s but no %s", f->path,
                         f->line[k], l->profile, awsconf_key_name(k),
                         awsconf_key_name(k == K_KEY_ID ? K_SECRET : K_KEY_ID));
                return LS_ERR_INVALID;
            }
            out->access_key_id = strdup(f->val[K_KEY_ID]);
            out->secret_access_key = strdup(f->val[K_SECRET]);
            if (f->val[K_TOKEN])
                out->session_token = strdup(f->val[K_TOKEN]);
            if (!out->access_key_id || !out->secret_access_key ||
                (f->val[K_TOKEN] && !out->session_token))
                return LS_ERR_NOMEM;
            snprintf(l->where, sizeof l->where, "%s:%d", f->path, f->line[K_KEY_ID]);
        }
        if (!out->access_key_id) {
            snprintf(err, errcap,
                     "no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or "
                     "aws_access_key_id and aws_secret_access_key for profile \"%s\" in %s",
                     l->profile, l->cred_path ? l->cred_path : "~/.aws/credentials");
            return LS_ERR_NOTFOUND;
        }
    }
    char masked[64];
    awsconf_mask_key_id(out->access_key_id, masked, sizeof masked);
    append(out->source, sizeof out->source, "; credentials %s from %s", masked, l->where);
    if (out->session_token)
        append(out->source, sizeof out->source, " with a session token");
    return LS_OK;
}

/* AWS_REGION, AWS_DEFAULT_REGION, the profile's region, the scenario's. */
static ls_err load_region(struct load *l, const char *scenario_region, struct aws_config *out,
                          char *err, size_t errcap)
{
    const char *region = env("AWS_REGION");
    const char *region_src = "AWS_REGION";
    if (!region) {
        region = env("AWS_DEFAULT_REGION");
        region_src = "AWS_DEFAULT_REGION";
    }
    if (!region && l->conf.val[K_REGION]) {
        region = l->conf.val[K_REGION];
        snprintf(l->where, sizeof l->where, "%s:%d", l->conf.path, l->conf.line[K_REGION]);
        region_src = l->where;
    }
    if (!region && scenario_region && *scenario_region) {
        region = scenario_region;
        region_src = "the scenario";
    }
    if (!region) {
        snprintf(err, errcap,
                 "no AWS region: set AWS_REGION or AWS_DEFAULT_REGION, region in profile \"%s\" "
                 "of %s, or the scenario's region",
                 l->profile, l->conf_path ? l->conf_path : "~/.aws/config");
        return LS_ERR_NOTFOUND;
    }
    for (const char *c = region; *c; c++) {
        if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '-')) {
            snprintf(err, errcap,
                     "region \"%.64s\" from %s: expected lower-case letters, digits "
                     "and '-' (like us-east-1)",
                     region, region_src);
            return LS_ERR_INVALID;
        }
    }
    out->region = strdup(region);
    if (!out->region)
        return LS_ERR_NOMEM;
    append(out->source, sizeof out->source, "; region %s from %s", region, region_src);
    return LS_OK;
}

/*
 * Per service: AWS_ENDPOINT_URL_<SERVICE>, AWS_ENDPOINT_URL, the profile's
 * endpoint_url, the scenario's, else the regional endpoint over TLS.
 */
static ls_err load_endpoints(struct load *l, const char *const scenario_endpoint[AWS__SERVICES],
                             struct aws_config *out, char *err, size_t errcap)
{
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
        if (!url && l->conf.val[K_ENDPOINT]) {
            url = l->conf.val[K_ENDPOINT];
            snprintf(l->where, sizeof l->where, "%s:%d", l->conf.path, l->conf.line[K_ENDPOINT]);
            src = l->where;
        }
        if (!url && scenario_endpoint && scenario_endpoint[s] && *scenario_endpoint[s]) {
            url = scenario_endpoint[s];
            src = "the scenario";
        }
        if (url) {
            if (!valid_endpoint(url)) {
                snprintf(err, errcap, "%s endpoint from %s: expected an http:// or https:// URL",
                         name, src);
                return LS_ERR_INVALID;
            }
            out->endpoint[s] = endpoint_dup(url);
        } else {
            src = "the regional default";
            bool cn = strncmp(out->region, "cn-", 3) == 0;
            if (asprintf(&out->endpoint[s], "https://%s.%s.amazonaws.com%s", name, out->region,
                         cn ? ".cn" : "") < 0)
                out->endpoint[s] = NULL;
        }
        if (!out->endpoint[s])
            return LS_ERR_NOMEM;
        append(out->source, sizeof out->source, "; %s endpoint from %s", name, src);
    }
    return LS_OK;
}

/* AWS_MAX_ATTEMPTS, the profile's max_attempts, else 3; 1..100. */
static ls_err load_max_attempts(struct load *l, struct aws_config *out, char *err, size_t errcap)
{
    const char *ma = env("AWS_MAX_ATTEMPTS");
    const char *ma_src = "AWS_MAX_ATTEMPTS";
    if (!ma && l->conf.val[K_MAX_ATTEMPTS]) {
        ma = l->conf.val[K_MAX_ATTEMPTS];
        snprintf(l->where, sizeof l->where, "%s:%d", l->conf.path, l->conf.line[K_MAX_ATTEMPTS]);
        ma_src = l->where;
    }
    out->max_attempts = AWSCONF_DEFAULT_ATTEMPTS;
    if (!ma)
        return LS_OK;
    char *end;
    errno = 0;
    unsigned long v = strtoul(ma, &end, 10);
    if (errno || *end || end == ma || ma[0] == '-' || ma[0] == '+' || v < 1 ||
        v > AWSCONF_MAX_ATTEMPTS_LIMIT) {
        snprintf(err, errcap, "max attempts \"%.32s\" from %s: expected an integer from 1 to %u",
                 ma, ma_src, AWSCONF_MAX_ATTEMPTS_LIMIT);
        return LS_ERR_INVALID;
    }
    out->max_attempts = (uint32_t)v;
    return LS_OK;
}

ls_err awsconf_load(const char *scenario_profile, const char *scenario_region,
                    const char *const scenario_endpoint[AWS__SERVICES], struct aws_config *out,
                    char *err, size_t errcap)
{
    struct load l = {0};
    memset(out, 0, sizeof(*out));
    if (err && errcap)
        err[0] = '\0';
    ls_err rc = load_profile(&l, scenario_profile, out, err, errcap);
    if (rc == LS_OK)
        rc = load_credentials(&l, out, err, errcap);
    if (rc == LS_OK)
        rc = load_region(&l, scenario_region, out, err, errcap);
    if (rc == LS_OK)
        rc = load_endpoints(&l, scenario_endpoint, out, err, errcap);
    if (rc == LS_OK)
        rc = load_max_attempts(&l, out, err, errcap);
    if (rc == LS_ERR_NOMEM)
        snprintf(err, errcap, "out of memory");
    awsconf_ini_free(&l.cred);
    awsconf_ini_free(&l.conf);
    free(l.cred_path);
    free(l.conf_path);
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
