/*
 * cmd_aws: `loadscope aws sign`, SigV4 shown step by step.
 *
 * When AWS answers SignatureDoesNotMatch it sends back the canonical request
 * and string to sign it computed; this command prints ours for the same
 * request, signed by the very code the engine uses (aws_sign_url: the same
 * Host for the same URL, the same signer), so the two can be compared line
 * by line. Credentials come from the usual chain (awsconf). Nothing secret
 * is printed: the secret key never appears in any of the pieces, the access
 * key id is masked but for its last 4 characters, and the session token,
 * which is part of the canonical request when it is signed, is replaced by
 * a placeholder. The whole output is checked with the secrets guard before
 * it is written.
 *
 * This file only reads the command line and prints; the pieces are
 * sign_args_parse (the options), sign_headers (the --header values),
 * read_body_file, and sign_render (the output, masked).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "aws/aws_sign.h"
#include "aws/awsconf.h"
#include "cli.h"
#include "aws/sigv4.h"
#include "util/dynbuf.h"

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

/* What the command line asks for. */
struct sign_args {
    const char *service, *region, *method, *url;
    const char *body_text, *body_file, *date;
    const char *hdr_args[AWS_SIGN_MAX_HEADERS];
    size_t nhdr_args;
};

/* Reads the options into a; returns -1 to go on, else the exit code (help, or a usage error). */
static int sign_args_parse(int argc, char **argv, struct sign_args *a)
{
    memset(a, 0, sizeof(*a));
    a->service = "dynamodb";
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(o, "-h") == 0 || strcmp(o, "--help") == 0) {
            sign_usage(stdout);
            return LS_EXIT_OK;
        }
        if (!v) {
            fprintf(stderr, "loadscope aws sign: %s needs a value\n", o);
            sign_usage(stderr);
            return LS_EXIT_USAGE;
        }
        if (strcmp(o, "--service") == 0) {
            a->service = v;
        } else if (strcmp(o, "--region") == 0) {
            a->region = v;
        } else if (strcmp(o, "--method") == 0) {
            a->method = v;
        } else if (strcmp(o, "--url") == 0) {
            a->url = v;
        } else if (strcmp(o, "--header") == 0) {
            if (a->nhdr_args == AWS_SIGN_MAX_HEADERS) {
                fprintf(stderr, "loadscope aws sign: more than %d --header\n",
                        AWS_SIGN_MAX_HEADERS);
                return LS_EXIT_USAGE;
            }
            a->hdr_args[a->nhdr_args++] = v;
        } else if (strcmp(o, "--body") == 0) {
            a->body_text = v;
        } else if (strcmp(o, "--body-file") == 0) {
            a->body_file = v;
        } else if (strcmp(o, "--date") == 0) {
            a->date = v;
        } else {
            fprintf(stderr, "loadscope aws sign: unknown argument %s\n", o);
            sign_usage(stderr);
            return LS_EXIT_USAGE;
        }
        i++;
    }
    return -1;
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

/* Splits the "K: V" arguments into hdrs; names[i] are the caller's to free. -1 on a bad one. */
static int sign_headers(const struct sign_args *a, struct sigv4_header *hdrs, char **names)
{
    for (size_t i = 0; i < a->nhdr_args; i++) {
        const char *colon = strchr(a->hdr_args[i], ':');
        if (!colon || colon == a->hdr_args[i]) {
            fprintf(stderr, "loadscope aws sign: --header \"%s\": expected 'Name: value'\n",
                    a->hdr_args[i]);
            return -1;
        }
        names[i] = strndup(a->hdr_args[i], (size_t)(colon - a->hdr_args[i]));
        if (!names[i]) {
            fprintf(stderr, "loadscope aws sign: out of memory\n");
            return -1;
        }
        hdrs[i].name = names[i];
        hdrs[i].value = colon + 1; /* the signer trims */
    }
    return 0;
}

/* The whole of --body-file (at most AWS_SIGN_MAX_BODY_BYTES) into b. */
static int read_body_file(const char *path, struct dynbuf *b, char *err, size_t errcap)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errcap, "--body-file %s: %s", path, strerror(errno));
        return -1;
    }
    ls_err rc = dyn_read(b, f);
    fclose(f);
    if (rc == LS_ERR_RANGE)
        snprintf(err, errcap, "--body-file %s: larger than %u MiB", path,
                 AWS_SIGN_MAX_BODY_BYTES >> 20);
    else if (rc == LS_ERR_IO)
        snprintf(err, errcap, "--body-file %s: read error", path);
    else if (rc != LS_OK)
        snprintf(err, errcap, "out of memory");
    return rc == LS_OK ? 0 : -1;
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

/*
 * The output: every piece of the signature, then the headers to send (Host
 * as signed, the --header values, the signer's own, Authorization), with
 * the key id masked and the token replaced. Written to a memory stream so
 * the secrets guard sees it before anyone does; *out is the caller's.
 */
static int sign_render(const struct aws_config *conf, const struct sigv4_result *res,
                       const char *host, const struct sigv4_header *hdrs, size_t nh, char **out,
                       size_t *out_len)
{
    FILE *o = open_memstream(out, out_len);
    if (!o)
        return -1;
    char masked[128];
    awsconf_mask_key_id(conf->access_key_id, masked, sizeof masked);
    const char *tok = conf->session_token;
    fprintf(o, "--- canonical request\n");
    put_masked(o, res->canonical_request, tok);
    fprintf(o, "\n--- string to sign\n%s\n", res->string_to_sign);
    fprintf(o, "--- signed headers\n%s\n", res->signed_headers);
    fprintf(o, "--- signature\n%s\n", res->signature);
    const char *after_id =
        res->authorization + strlen("AWS4-HMAC-SHA256 Credential=") + strlen(conf->access_key_id);
    fprintf(o, "--- authorization\nAWS4-HMAC-SHA256 Credential=%s%s\n", masked, after_id);
    fprintf(o, "--- headers to send\n");
    if (host)
        fprintf(o, "Host: %s\n", host);
    for (size_t i = 0; i < nh; i++)
        fprintf(o, "%s:%s%s\n", hdrs[i].name, hdrs[i].value[0] == ' ' ? "" : " ", hdrs[i].value);
    for (size_t i = 0; i < res->added_count; i++) {
        if (strncmp(res->added[i], "X-Amz-Security-Token:", 21) == 0)
            fprintf(o, "X-Amz-Security-Token: <session token, %zu characters, not shown>\n",
                    strlen(tok));
        else
            fprintf(o, "%s\n", res->added[i]);
    }
    fprintf(o, "Authorization: AWS4-HMAC-SHA256 Credential=%s%s\n", masked, after_id);
    return fclose(o) == 0 && *out ? 0 : -1;
}

static int aws_sign_cmd(int argc, char **argv)
{
    int rc = LS_EXIT_USAGE;
    struct sign_args a;
    struct sigv4_header hdrs[AWS_SIGN_MAX_HEADERS];
    char *hdr_names[AWS_SIGN_MAX_HEADERS] = {0};
    struct aws_config conf = {0};
    struct sigv4_result res = {0};
    struct dynbuf body;
    char *out_text = NULL, *host = NULL;
    size_t out_len = 0;
    char err[2048] = "";
    dyn_init(&body, (size_t)AWS_SIGN_MAX_BODY_BYTES + 1);

    int done = sign_args_parse(argc, argv, &a);
    if (done >= 0)
        return done;
    if (a.body_text && a.body_file) {
        fprintf(stderr, "loadscope aws sign: --body and --body-file exclude each other\n");
        return LS_EXIT_USAGE;
    }
    if (!valid_service(a.service)) {
        fprintf(stderr,
                "loadscope aws sign: --service %s: expected dynamodb, s3 or another "
                "lower-case SigV4 service name\n",
                a.service);
        return LS_EXIT_USAGE;
    }
    bool s3 = strcmp(a.service, "s3") == 0, ddb = strcmp(a.service, "dynamodb") == 0;
    if (!a.url && !s3 && !ddb) {
        fprintf(stderr, "loadscope aws sign: --service %s needs --url\n", a.service);
        return LS_EXIT_USAGE;
    }
    if (!a.method)
        a.method = ddb ? "POST" : "GET";
    if (sign_headers(&a, hdrs, hdr_names) != 0)
        goto out;

    /* credentials, region, endpoint */
    if (awsconf_load(NULL, a.region, NULL, &conf, err, sizeof err) != LS_OK) {
        fprintf(stderr, "loadscope aws sign: %s\n", err);
        rc = LS_EXIT_RUNTIME;
        goto out;
    }
    if (!a.region)
        a.region = conf.region;
    char endpoint_url[1024];
    if (!a.url) {
        snprintf(endpoint_url, sizeof endpoint_url, "%s/",
                 conf.endpoint[s3 ? AWS_S3 : AWS_DYNAMODB]);
        a.url = endpoint_url;
    }
    if (strncasecmp(a.url, "http://", 7) != 0 && strncasecmp(a.url, "https://", 8) != 0) {
        fprintf(stderr, "loadscope aws sign: --url %s: expected http://HOST[:PORT]/PATH[?QUERY]\n",
                a.url);
        goto out;
    }

    if (a.body_file && read_body_file(a.body_file, &body, err, sizeof err) != 0) {
        fprintf(stderr, "loadscope aws sign: %s\n", err);
        goto out;
    }
    if (a.body_text && dyn_add(&body, a.body_text) != LS_OK) {
        rc = LS_EXIT_RUNTIME;
        goto out;
    }

    char now[17];
    if (!a.date) {
        time_t t = time(NULL);
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(now, sizeof now, "%Y%m%dT%H%M%SZ", &tm);
        a.date = now;
    }
    struct aws_sign_request rq = {.service = a.service,
                                  .region = a.region,
                                  .amz_date = a.date,
                                  .method = a.method,
                                  .headers = hdrs,
                                  .header_count = a.nhdr_args,
                                  .body = (const uint8_t *)dyn_ptr(&body),
                                  .body_len = dyn_len(&body)};
    struct sigv4_credentials cr = {conf.access_key_id, conf.secret_access_key, conf.session_token};
    ls_err sr = aws_sign_url(&rq, a.url, &cr, &res, &host, err, sizeof err);
    if (sr != LS_OK) {
        fprintf(stderr, "loadscope aws sign: %s%s\n", strstr(err, a.url) == err ? "--url " : "",
                err);
        if (sr == LS_ERR_NOMEM)
            rc = LS_EXIT_RUNTIME;
        goto out;
    }

    if (sign_render(&conf, &res, host, hdrs, a.nhdr_args, &out_text, &out_len) != 0) {
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
    fprintf(stderr, "signing for %s in %s (%s)\n", a.service, a.region, conf.source);
    fwrite(out_text, 1, out_len, stdout);
    rc = fflush(stdout) == 0 ? LS_EXIT_OK : LS_EXIT_RUNTIME;
out:
    free(out_text);
    free(host);
    sigv4_result_free(&res);
    for (size_t i = 0; i < AWS_SIGN_MAX_HEADERS; i++)
        free(hdr_names[i]);
    dyn_free(&body);
    awsconf_free(&conf);
    return rc;
}

int cli_aws(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "sign") == 0)
        return aws_sign_cmd(argc - 1, argv + 1);
    fprintf(stderr, "loadscope aws: expected a subcommand: sign\n");
    sign_usage(stderr);
    return LS_EXIT_USAGE;
}
