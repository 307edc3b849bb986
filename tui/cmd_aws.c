/*
 * cmd_aws: `loadscope aws sign`, SigV4 shown step by step.
 *
 * When AWS answers SignatureDoesNotMatch it sends back the canonical request
 * and string to sign it computed; this command prints ours for the same
 * request, signed by the very code the engine uses, so the two can be
 * compared line by line. Credentials come from the usual chain (awsconf).
 * Nothing secret is printed: the secret key never appears in any of the
 * pieces, the access key id is masked but for its last 4 characters, and the
 * session token, which is part of the canonical request when it is signed,
 * is replaced by a placeholder. The whole output is checked with the
 * secrets guard before it is written.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "aws/awsconf.h"
#include "cli.h"
#include "aws/sigv4.h"

#define AWS_SIGN_MAX_HEADERS 64
#define AWS_SIGN_MAX_BODY_BYTES (64u << 20)

static void sign_usage(FILE *f)
{
    fprintf(
        f,
        "usage: loadscope aws sign [--service dynamodb|s3|NAME] [--region R] [--method M]\n"
        "                          [--url URL] [--header 'K: V']... [--body TEXT | --body-file F]\n"
        "                          [--date 20150830T123600Z]\n"
        "  prints the canonical request, string to sign, signed headers, signature and\n"
        "  Authorization header for the request (secrets are never shown). Credentials and\n"
        "  region come from AWS_* variables or ~/.aws (AWS_PROFILE); the URL defaults to the\n"
        "  service's configured endpoint. s3 signs its path as sent and adds\n"
        "  x-amz-content-sha256; every other service normalizes and double-encodes.\n");
}

/* The parts of an http(s) URL that signing needs; pointers into an owned copy. */
struct url_parts {
    char *buf;
    char host_header[512]; /* host[:port], the port left out when it is the scheme's default */
    const char *path;      /* as given, "/" when empty */
    const char *query;     /* after '?', "" when none */
};

static int url_split(const char *url, struct url_parts *u, char *err, size_t errcap)
{
    memset(u, 0, sizeof(*u));
    const char *sep = strstr(url, "://");
    if (!sep || (strncasecmp(url, "http://", 7) != 0 && strncasecmp(url, "https://", 8) != 0)) {
        snprintf(err, errcap, "--url %s: expected http://HOST[:PORT]/PATH[?QUERY]", url);
        return -1;
    }
    bool https = strncasecmp(url, "https://", 8) == 0;
    const char *auth = sep + 3;
    size_t alen = strcspn(auth, "/?#");
    const char *at = memchr(auth, '@', alen);
    if (at) { /* user:password@ is not part of the Host header */
        alen -= (size_t)(at + 1 - auth);
        auth = at + 1;
    }
    if (alen == 0 || alen >= sizeof u->host_header) {
        snprintf(err, errcap, "--url %s: no host (or a host too long)", url);
        return -1;
    }
    memcpy(u->host_header, auth, alen);
    u->host_header[alen] = '\0';
    char *colon = strrchr(u->host_header, ':');
    if (colon && !strchr(colon, ']') && strcmp(colon + 1, https ? "443" : "80") == 0)
        *colon = '\0';
    const char *rest = auth + alen;
    u->buf = strdup(rest);
    if (!u->buf) {
        snprintf(err, errcap, "out of memory");
        return -1;
    }
    char *hash = strchr(u->buf, '#');
    if (hash)
        *hash = '\0';
    char *q = strchr(u->buf, '?');
    if (q) {
        *q = '\0';
        u->query = q + 1;
    } else {
        u->query = "";
    }
    u->path = u->buf[0] ? u->buf : "/";
    return 0;
}

static char *read_file(const char *path, size_t *len, char *err, size_t errcap)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errcap, "--body-file %s: %s", path, strerror(errno));
        return NULL;
    }
    char *buf = NULL;
    size_t n = 0, cap = 0;
    char chunk[65536];
    size_t got;
    while ((got = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (n + got > AWS_SIGN_MAX_BODY_BYTES) {
            snprintf(err, errcap, "--body-file %s: larger than %u MiB", path,
                     AWS_SIGN_MAX_BODY_BYTES >> 20);
            goto fail;
        }
        if (n + got > cap) {
            cap = (n + got) * 2;
            char *nb = realloc(buf, cap);
            if (!nb) {
                snprintf(err, errcap, "out of memory");
                goto fail;
            }
            buf = nb;
        }
        memcpy(buf + n, chunk, got);
        n += got;
    }
    if (ferror(f)) {
        snprintf(err, errcap, "--body-file %s: read error", path);
        goto fail;
    }
    fclose(f);
    *len = n;
    return buf ? buf : calloc(1, 1);
fail:
    fclose(f);
    free(buf);
    return NULL;
}

static bool valid_service(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '-'))
            return false;
    return true;
}

/* Writes text with the session token's value replaced by a placeholder. */
static void put_masked(FILE *o, const char *text, const char *token)
{
    size_t tl = token ? strlen(token) : 0;
    const char *p = text;
    while (tl) {
        const char *hit = strstr(p, token);
        if (!hit)
            break;
        fwrite(p, 1, (size_t)(hit - p), o);
        fprintf(o, "<session token, %zu characters, not shown>", tl);
        p = hit + tl;
    }
    fputs(p, o);
}

static int aws_sign(int argc, char **argv)
{
    int rc = LS_EXIT_USAGE;
    const char *service = "dynamodb", *region = NULL, *method = NULL, *url = NULL;
    const char *body_text = NULL, *body_file = NULL, *date = NULL;
    const char *hdr_args[AWS_SIGN_MAX_HEADERS];
    size_t nhdr_args = 0;
    struct sigv4_header hdrs[AWS_SIGN_MAX_HEADERS + 1];
    char *hdr_names[AWS_SIGN_MAX_HEADERS] = {0};
    size_t nh = 0;
    struct aws_config conf = {0};
    struct url_parts u = {0};
    struct sigv4_result res = {0};
    char *body = NULL, *out_text = NULL;
    size_t body_len = 0, out_len = 0;
    char err[2048] = "";

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            sign_usage(stdout);
            return LS_EXIT_OK;
        }
        if (!v) {
            fprintf(stderr, "loadscope aws sign: %s needs a value\n", a);
            sign_usage(stderr);
            return LS_EXIT_USAGE;
        }
        if (strcmp(a, "--service") == 0) {
            service = v;
        } else if (strcmp(a, "--region") == 0) {
            region = v;
        } else if (strcmp(a, "--method") == 0) {
            method = v;
        } else if (strcmp(a, "--url") == 0) {
            url = v;
        } else if (strcmp(a, "--header") == 0) {
            if (nhdr_args == AWS_SIGN_MAX_HEADERS) {
                fprintf(stderr, "loadscope aws sign: more than %d --header\n",
                        AWS_SIGN_MAX_HEADERS);
                return LS_EXIT_USAGE;
            }
            hdr_args[nhdr_args++] = v;
        } else if (strcmp(a, "--body") == 0) {
            body_text = v;
        } else if (strcmp(a, "--body-file") == 0) {
            body_file = v;
        } else if (strcmp(a, "--date") == 0) {
            date = v;
        } else {
            fprintf(stderr, "loadscope aws sign: unknown argument %s\n", a);
            sign_usage(stderr);
            return LS_EXIT_USAGE;
        }
        i++;
    }
    if (body_text && body_file) {
        fprintf(stderr, "loadscope aws sign: --body and --body-file exclude each other\n");
        return LS_EXIT_USAGE;
    }
    if (!valid_service(service)) {
        fprintf(stderr,
                "loadscope aws sign: --service %s: expected dynamodb, s3 or another "
                "lower-case SigV4 service name\n",
                service);
        return LS_EXIT_USAGE;
    }
    bool s3 = strcmp(service, "s3") == 0, ddb = strcmp(service, "dynamodb") == 0;
    if (!url && !s3 && !ddb) {
        fprintf(stderr, "loadscope aws sign: --service %s needs --url\n", service);
        return LS_EXIT_USAGE;
    }
    if (!method)
        method = ddb ? "POST" : "GET";

    /* headers "K: V" */
    for (size_t i = 0; i < nhdr_args; i++) {
        const char *colon = strchr(hdr_args[i], ':');
        if (!colon || colon == hdr_args[i]) {
            fprintf(stderr, "loadscope aws sign: --header \"%s\": expected 'Name: value'\n",
                    hdr_args[i]);
            goto out;
        }
        hdr_names[nh] = strndup(hdr_args[i], (size_t)(colon - hdr_args[i]));
        if (!hdr_names[nh]) {
            fprintf(stderr, "loadscope aws sign: out of memory\n");
            rc = LS_EXIT_RUNTIME;
            goto out;
        }
        hdrs[nh].name = hdr_names[nh];
        hdrs[nh].value = colon + 1; /* the signer trims */
        nh++;
    }

    /* credentials, region, endpoint */
    if (awsconf_load(NULL, region, NULL, &conf, err, sizeof err) != LS_OK) {
        fprintf(stderr, "loadscope aws sign: %s\n", err);
        rc = LS_EXIT_RUNTIME;
        goto out;
    }
    if (!region)
        region = conf.region;
    char endpoint_url[1024];
    if (!url) {
        snprintf(endpoint_url, sizeof endpoint_url, "%s/",
                 conf.endpoint[s3 ? AWS_S3 : AWS_DYNAMODB]);
        url = endpoint_url;
    }
    if (url_split(url, &u, err, sizeof err) != 0) {
        fprintf(stderr, "loadscope aws sign: %s\n", err);
        goto out;
    }
    bool has_host = false;
    for (size_t i = 0; i < nh; i++)
        has_host |= strcasecmp(hdrs[i].name, "host") == 0;
    if (!has_host) {
        /* first, as curl sends it */
        memmove(hdrs + 1, hdrs, nh * sizeof hdrs[0]);
        hdrs[0].name = "Host";
        hdrs[0].value = u.host_header;
        nh++;
    }

    if (body_file) {
        body = read_file(body_file, &body_len, err, sizeof err);
        if (!body) {
            fprintf(stderr, "loadscope aws sign: %s\n", err);
            goto out;
        }
    } else if (body_text) {
        body = strdup(body_text);
        body_len = strlen(body_text);
        if (!body) {
            rc = LS_EXIT_RUNTIME;
            goto out;
        }
    }

    char now[17];
    if (!date) {
        time_t t = time(NULL);
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(now, sizeof now, "%Y%m%dT%H%M%SZ", &tm);
        date = now;
    }

    struct sigv4_request r = {.method = method,
                              .path = u.path,
                              .query = u.query,
                              .headers = hdrs,
                              .header_count = nh,
                              .body = (const uint8_t *)body,
                              .body_len = body_len};
    struct sigv4_credentials cr = {conf.access_key_id, conf.secret_access_key, conf.session_token};
    struct sigv4_params p;
    sigv4_params_for_service(&p, service, region, date);
    if (sigv4_sign(&r, &cr, &p, &res, err, sizeof err) != LS_OK) {
        fprintf(stderr, "loadscope aws sign: %s\n", err);
        goto out;
    }

    /* everything goes to a buffer first, so the guard sees it before anyone does */
    FILE *o = open_memstream(&out_text, &out_len);
    if (!o) {
        fprintf(stderr, "loadscope aws sign: out of memory\n");
        rc = LS_EXIT_RUNTIME;
        goto out;
    }
    char masked[128];
    awsconf_mask_key_id(conf.access_key_id, masked, sizeof masked);
    const char *tok = conf.session_token;
    fprintf(o, "--- canonical request\n");
    put_masked(o, res.canonical_request, tok);
    fprintf(o, "\n--- string to sign\n%s\n", res.string_to_sign);
    fprintf(o, "--- signed headers\n%s\n", res.signed_headers);
    fprintf(o, "--- signature\n%s\n", res.signature);
    const char *after_id =
        res.authorization + strlen("AWS4-HMAC-SHA256 Credential=") + strlen(conf.access_key_id);
    fprintf(o, "--- authorization\nAWS4-HMAC-SHA256 Credential=%s%s\n", masked, after_id);
    fprintf(o, "--- headers to send\n");
    for (size_t i = 0; i < nh; i++)
        fprintf(o, "%s:%s%s\n", hdrs[i].name, hdrs[i].value[0] == ' ' ? "" : " ", hdrs[i].value);
    for (size_t i = 0; i < res.added_count; i++) {
        if (strncmp(res.added[i], "X-Amz-Security-Token:", 21) == 0)
            fprintf(o, "X-Amz-Security-Token: <session token, %zu characters, not shown>\n",
                    strlen(tok));
        else
            fprintf(o, "%s\n", res.added[i]);
    }
    fprintf(o, "Authorization: AWS4-HMAC-SHA256 Credential=%s%s\n", masked, after_id);
    if (fclose(o) != 0 || !out_text) {
        fprintf(stderr, "loadscope aws sign: out of memory\n");
        rc = LS_EXIT_RUNTIME;
        goto out;
    }
    const char *leak = awsconf_scan_secrets(&conf, out_text, out_len);
    if (leak) {
        fprintf(stderr, "loadscope aws sign: refusing to print: the output would show the %s\n",
                leak);
        rc = LS_EXIT_RUNTIME;
        goto out;
    }
    fprintf(stderr, "signing for %s in %s (%s)\n", service, region, conf.source);
    fwrite(out_text, 1, out_len, stdout);
    rc = fflush(stdout) == 0 ? LS_EXIT_OK : LS_EXIT_RUNTIME;
out:
    free(out_text);
    sigv4_result_free(&res);
    for (size_t i = 0; i < AWS_SIGN_MAX_HEADERS; i++)
        free(hdr_names[i]);
    free(body);
    free(u.buf);
    awsconf_free(&conf);
    return rc;
}

int cli_aws(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "sign") == 0)
        return aws_sign(argc - 1, argv + 1);
    fprintf(stderr, "loadscope aws: expected a subcommand: sign\n");
    sign_usage(stderr);
    return LS_EXIT_USAGE;
}
