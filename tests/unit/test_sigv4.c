/*
 * Unit tests for sigv4: every case of the official v4 signing test suite
 * (awslabs/aws-c-auth, kept outside the project in
 * LS_SHARED_DIR/aws-sigv4-vectors and read from there), plus the S3 rules the
 * suite does not cover, checked against botocore's S3SigV4Auth.
 *
 * For each case directory: request.txt (request line, headers with
 * continuation lines and repeats, body) and context.json are parsed; the
 * canonical request, string to sign, signature, Authorization header and
 * the whole signed request are compared byte for byte with the
 * header-*.txt files. The query-*.txt files (presigned URLs) are not
 * applicable: loadscope signs with the Authorization header only and does
 * not implement presigning; the test counts and names them.
 *
 * The same cases also go through libcurl's CURLOPT_AWS_SIGV4 (to a socket
 * on 127.0.0.1 that never answers) to show why loadscope signs with its
 * own code: as driven here, 7.88.1 differs on 17 cases (query order, paths
 * for non-S3 services, repeated and folded headers, dot segments it removes
 * itself, the signed-body header).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <cmocka.h>
#include <curl/curl.h>
#include <dirent.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "aws/sigv4.h"

#define VECTORS LS_SHARED_DIR "/aws-sigv4-vectors"
#define MAX_HEADERS 32
/* measured: libcurl 7.88.1 (Debian 12) gets 21 of the 38 Authorization headers right */
#define CURL_7_88_1_AGREES 21

/* ---- reading the suite --------------------------------------------------- */

static char *slurp(const char *dir, const char *name, size_t *len_out)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    struct sb {
        char *p;
        size_t len;
    } b = {NULL, 0};
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        char *np = realloc(b.p, b.len + n + 1);
        assert_non_null(np);
        b.p = np;
        memcpy(b.p + b.len, chunk, n);
        b.len += n;
    }
    fclose(f);
    if (!b.p)
        b.p = calloc(1, 1);
    b.p[b.len] = '\0';
    if (len_out)
        *len_out = b.len;
    return b.p;
}

static char *must_slurp(const char *dir, const char *name)
{
    char *s = slurp(dir, name, NULL);
    if (!s)
        fail_msg("%s/%s: cannot read", dir, name);
    return s;
}

/* A request.txt taken apart; every string points into text (or is owned). */
struct vreq {
    char *text;
    char method[16];
    char *target; /* owned: path?query as in the request line */
    char *path, *query;
    struct sigv4_header headers[MAX_HEADERS];
    char *hnames[MAX_HEADERS]; /* owned names */
    char *hvals[MAX_HEADERS];  /* owned values (continuation lines joined with '\n') */
    size_t nh;
    const char *head_end; /* end of the last header line, for rebuilding */
    const char *body;
    size_t body_len;
};

static void vreq_parse(const char *dir, struct vreq *v)
{
    memset(v, 0, sizeof(*v));
    size_t len;
    v->text = slurp(dir, "request.txt", &len);
    if (!v->text)
        fail_msg("%s/request.txt: cannot read", dir);
    char *s = v->text;
    char *eol = strchr(s, '\n');
    assert_non_null(eol);
    /* METHOD SP target SP HTTP/1.1: the target may hold spaces */
    char *sp1 = memchr(s, ' ', (size_t)(eol - s));
    char *sp2 = eol;
    while (sp2 > s && *sp2 != ' ')
        sp2--;
    assert_non_null(sp1);
    assert_true(sp2 > sp1);
    assert_true((size_t)(sp1 - s) < sizeof v->method);
    memcpy(v->method, s, (size_t)(sp1 - s));
    v->target = strndup(sp1 + 1, (size_t)(sp2 - sp1 - 1));
    char *q = strchr(v->target, '?');
    v->path = strndup(v->target, q ? (size_t)(q - v->target) : strlen(v->target));
    v->query = strdup(q ? q + 1 : "");
    v->head_end = eol;

    const char *line = eol + 1;
    while (*line && *line != '\n') {
        const char *end = strchr(line, '\n');
        if (!end)
            end = line + strlen(line);
        if (*line == ' ' || *line == '\t') {
            /* continuation of the previous header (obs-fold) */
            assert_true(v->nh > 0);
            char *prev = v->hvals[v->nh - 1];
            size_t pl = strlen(prev), add = (size_t)(end - line);
            prev = realloc(prev, pl + 1 + add + 1);
            assert_non_null(prev);
            prev[pl] = '\n';
            memcpy(prev + pl + 1, line, add);
            prev[pl + 1 + add] = '\0';
            v->hvals[v->nh - 1] = prev;
            v->headers[v->nh - 1].value = prev;
        } else {
            const char *colon = memchr(line, ':', (size_t)(end - line));
            if (!colon)
                fail_msg("%s/request.txt: header line without ':'", dir);
            assert_true(v->nh < MAX_HEADERS);
            v->hnames[v->nh] = strndup(line, (size_t)(colon - line));
            v->headers[v->nh].name = v->hnames[v->nh];
            v->hvals[v->nh] = strndup(colon + 1, (size_t)(end - colon - 1));
            v->headers[v->nh].value = v->hvals[v->nh];
            v->nh++;
        }
        v->head_end = end;
        line = *end ? end + 1 : end;
    }
    if (*line == '\n') {
        v->body = line + 1;
        v->body_len = len - (size_t)(v->body - v->text);
    } else {
        v->body = "";
        v->body_len = 0;
    }
}

static void vreq_free(struct vreq *v)
{
    for (size_t i = 0; i < v->nh; i++) {
        free(v->hnames[i]);
        free(v->hvals[i]);
    }
    free(v->target);
    free(v->path);
    free(v->query);
    free(v->text);
}

struct vctx {
    char akid[64], secret[128], token[1024], region[32], service[32], date[17];
    bool normalize, sign_body, omit_token;
};

static const char *jstr(const cJSON *o, const char *k)
{
    const cJSON *i = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(i) ? i->valuestring : NULL;
}

/* A required string member; a missing one fails the test. */
static const char *need(const char *dir, const cJSON *o, const char *k)
{
    const char *v = jstr(o, k);
    if (!v) {
        fail_msg("%s/context.json: no string \"%s\"", dir, k);
        return "";
    }
    return v;
}

static bool jbool(const cJSON *o, const char *k, bool dflt)
{
    const cJSON *i = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsBool(i) ? cJSON_IsTrue(i) : dflt;
}

static void vctx_parse(const char *dir, struct vctx *c)
{
    memset(c, 0, sizeof(*c));
    char *text = must_slurp(dir, "context.json");
    cJSON *j = cJSON_Parse(text);
    if (!j)
        fail_msg("%s/context.json: not JSON", dir);
    const cJSON *cr = cJSON_GetObjectItemCaseSensitive(j, "credentials");
    snprintf(c->akid, sizeof c->akid, "%s", need(dir, cr, "access_key_id"));
    snprintf(c->secret, sizeof c->secret, "%s", need(dir, cr, "secret_access_key"));
    if (jstr(cr, "token"))
        snprintf(c->token, sizeof c->token, "%s", need(dir, cr, "token"));
    snprintf(c->region, sizeof c->region, "%s", need(dir, j, "region"));
    snprintf(c->service, sizeof c->service, "%s", need(dir, j, "service"));
    /* "2015-08-30T12:36:00Z" -> "20150830T123600Z" */
    const char *ts = need(dir, j, "timestamp");
    size_t k = 0;
    for (const char *p = ts; *p && k < 16; p++)
        if (*p != '-' && *p != ':')
            c->date[k++] = *p;
    c->date[k] = '\0';
    assert_int_equal(strlen(c->date), 16);
    c->normalize = jbool(j, "normalize", true);
    c->sign_body = jbool(j, "sign_body", false);
    c->omit_token = jbool(j, "omit_session_token", false);
    cJSON_Delete(j);
    free(text);
}

/* ---- one case ------------------------------------------------------------ */

static void assert_same(const char *dir, const char *what, const char *want, const char *got)
{
    if (strcmp(want, got) != 0)
        fail_msg("%s: %s differs\n--- expected\n%s\n--- got\n%s\n---", dir, what, want, got);
}

/* Authorization value from a header-signed-request.txt. */
static char *expected_authorization(const char *signed_text)
{
    const char *a = strstr(signed_text, "\nAuthorization:");
    assert_non_null(a);
    a += strlen("\nAuthorization:");
    const char *e = strchr(a, '\n');
    return strndup(a, e ? (size_t)(e - a) : strlen(a));
}

static void run_case(const char *dir)
{
    struct vreq v;
    struct vctx c;
    vreq_parse(dir, &v);
    vctx_parse(dir, &c);

    struct sigv4_request r = {
        .method = v.method,
        .path = v.path,
        .query = v.query,
        .headers = v.headers,
        .header_count = v.nh,
        .body = (const uint8_t *)v.body,
        .body_len = v.body_len,
    };
    struct sigv4_credentials cr = {c.akid, c.secret, c.token[0] ? c.token : NULL};
    /* the suite's configuration: aws-c-auth with use_double_uri_encode on */
    struct sigv4_params p = {
        .region = c.region,
        .service = c.service,
        .amz_date = c.date,
        .normalize_path = c.normalize,
        .encode_path_unnormalized = !c.normalize,
        .sign_session_token = !c.omit_token,
        .add_content_sha256 = c.sign_body,
    };
    struct sigv4_result res;
    char err[256];
    ls_err rc = sigv4_sign(&r, &cr, &p, &res, err, sizeof err);
    if (rc != LS_OK)
        fail_msg("%s: sigv4_sign: %s", dir, err);

    char *creq = must_slurp(dir, "header-canonical-request.txt");
    char *sts = must_slurp(dir, "header-string-to-sign.txt");
    char *sig = must_slurp(dir, "header-signature.txt");
    char *signed_text = must_slurp(dir, "header-signed-request.txt");
    char *auth = expected_authorization(signed_text);
    assert_same(dir, "canonical request", creq, res.canonical_request);
    assert_same(dir, "string to sign", sts, res.string_to_sign);
    assert_same(dir, "signature", sig, res.signature);
    assert_same(dir, "Authorization", auth, res.authorization);

    /* the request as sent: request.txt's head, the added headers, Authorization, body */
    size_t cap = strlen(v.text) + 4096 + strlen(res.authorization);
    char *rebuilt = malloc(cap);
    assert_non_null(rebuilt);
    size_t n = (size_t)(v.head_end - v.text);
    memcpy(rebuilt, v.text, n);
    rebuilt[n] = '\0';
    for (size_t i = 0; i < res.added_count; i++) {
        const char *line = res.added[i];
        const char *colon = strstr(line, ": ");
        assert_non_null(colon);
        n += (size_t)snprintf(rebuilt + n, cap - n, "\n%.*s:%s", (int)(colon - line), line,
                              colon + 2);
    }
    n += (size_t)snprintf(rebuilt + n, cap - n, "\nAuthorization:%s\n\n", res.authorization);
    assert_true(n + v.body_len < cap);
    memcpy(rebuilt + n, v.body, v.body_len);
    rebuilt[n + v.body_len] = '\0';
    assert_same(dir, "signed request", signed_text, rebuilt);

    free(rebuilt);
    free(auth);
    free(signed_text);
    free(sig);
    free(sts);
    free(creq);
    sigv4_result_free(&res);
    vreq_free(&v);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void test_every_vector(void **state)
{
    (void)state;
    DIR *d = opendir(VECTORS);
    if (!d)
        fail_msg("%s: cannot open the test suite", VECTORS);
    char *names[256];
    size_t ndirs = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char path[1024];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", VECTORS, e->d_name);
        if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
            continue;
        assert_true(ndirs < 256);
        names[ndirs++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, ndirs, sizeof names[0], cmp_str);
    /* the suite at aws-c-auth 495329c has 38 v4 cases */
    assert_int_equal(ndirs, 38);

    size_t header_passed = 0, query_not_applicable = 0;
    for (size_t i = 0; i < ndirs; i++) {
        char dir[1024];
        snprintf(dir, sizeof dir, "%s/%s", VECTORS, names[i]);
        char *q = slurp(dir, "query-signature.txt", NULL);
        if (q) {
            query_not_applicable++;
            print_message("  not applicable (presigned URL): %s/query-*.txt\n", names[i]);
            free(q);
        }
        run_case(dir);
        header_passed++;
        free(names[i]);
    }
    print_message("  %zu of %zu cases pass header signing; %zu query-signing (presign) variants "
                  "not applicable\n",
                  header_passed, ndirs, query_not_applicable);
    assert_int_equal(header_passed, ndirs);
    assert_int_equal(query_not_applicable, 38);
}

/* ---- libcurl's signer on the same cases ---------------------------------- */

struct captured {
    char head[8192];
    size_t len;
    bool done;
};

static int on_debug(CURL *h, curl_infotype type, char *data, size_t size, void *ud)
{
    (void)h;
    struct captured *c = ud;
    if (type == CURLINFO_HEADER_OUT) {
        size_t n = size < sizeof c->head - 1 - c->len ? size : sizeof c->head - 1 - c->len;
        memcpy(c->head + c->len, data, n);
        c->len += n;
        c->head[c->len] = '\0';
        c->done = strstr(c->head, "\r\n\r\n") != NULL;
    }
    return 0;
}

/*
 * Sends the case with CURLOPT_AWS_SIGV4 to a socket on 127.0.0.1 that never
 * answers and returns whether curl's Authorization header is the expected
 * one. The request goes out whole before any reply is awaited, so the
 * header is captured without a server.
 */
static bool curl_agrees(const char *dir, int port)
{
    struct vreq v;
    struct vctx c;
    vreq_parse(dir, &v);
    vctx_parse(dir, &c);
    bool agree = false;
    char *signed_text = must_slurp(dir, "header-signed-request.txt");
    char *want = expected_authorization(signed_text);
    const char *host = "example.amazonaws.com";
    char url[2048], connect_to[256], provider[128], userpwd[256], line[2048];
    struct curl_slist *hl = NULL, *ct = NULL;
    for (size_t i = 0; i < v.nh; i++) {
        if (strcasecmp(v.headers[i].name, "host") == 0)
            host = v.headers[i].value;
        snprintf(line, sizeof line, "%s:%s", v.headers[i].name, v.headers[i].value);
        hl = curl_slist_append(hl, line);
    }
    snprintf(line, sizeof line, "X-Amz-Date: %s", c.date);
    hl = curl_slist_append(hl, line);
    if (c.token[0] && !c.omit_token) {
        snprintf(line, sizeof line, "X-Amz-Security-Token: %s", c.token);
        hl = curl_slist_append(hl, line);
    }
    snprintf(url, sizeof url, "http://%s%s", host, v.target);
    snprintf(connect_to, sizeof connect_to, "%s:80:127.0.0.1:%d", host, port);
    ct = curl_slist_append(ct, connect_to);
    snprintf(provider, sizeof provider, "aws:amz:%s:%s", c.region, c.service);
    snprintf(userpwd, sizeof userpwd, "%s:%s", c.akid, c.secret);
    struct captured cap = {.len = 0};
    CURL *e = curl_easy_init();
    CURLM *m = curl_multi_init();
    assert_non_null(e);
    assert_non_null(m);
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_CONNECT_TO, ct);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(e, CURLOPT_AWS_SIGV4, provider);
    curl_easy_setopt(e, CURLOPT_USERPWD, userpwd);
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, v.method);
    if (v.body_len) {
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, v.body);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)v.body_len);
    }
    curl_easy_setopt(e, CURLOPT_VERBOSE, 1L);
    curl_easy_setopt(e, CURLOPT_DEBUGFUNCTION, on_debug);
    curl_easy_setopt(e, CURLOPT_DEBUGDATA, &cap);
    curl_multi_add_handle(m, e);
    int running = 1;
    for (int i = 0; i < 200 && running && !cap.done; i++) {
        curl_multi_perform(m, &running);
        if (running && !cap.done)
            curl_multi_poll(m, NULL, 0, 50, NULL);
    }
    const char *a = strstr(cap.head, "\r\nAuthorization: ");
    if (a) {
        a += strlen("\r\nAuthorization: ");
        const char *end = strstr(a, "\r\n");
        agree = end && (size_t)(end - a) == strlen(want) && memcmp(a, want, strlen(want)) == 0;
    }
    curl_multi_remove_handle(m, e);
    curl_easy_cleanup(e);
    curl_multi_cleanup(m);
    curl_slist_free_all(hl);
    curl_slist_free_all(ct);
    free(want);
    free(signed_text);
    vreq_free(&v);
    return agree;
}

/*
 * Why loadscope does not sign with CURLOPT_AWS_SIGV4: run every case
 * through it and count. The count is reported, never asserted: Debian 12's
 * libcurl 7.88.1 agreed on 21; another libcurl (a later release that fixed
 * some cases, or a differently patched build) prints its own score and how
 * it differs from that one. What must hold is that every case ran.
 */
static void test_curl_signer_disagrees(void **state)
{
    (void)state;
    assert_int_equal(curl_global_init(CURL_GLOBAL_DEFAULT), CURLE_OK);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = 0};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(listen(fd, 128), 0);
    socklen_t sl = sizeof sa;
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
    int port = ntohs(sa.sin_port);

    DIR *d = opendir(VECTORS);
    assert_non_null(d);
    char *names[256];
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && n < 256)
        if (e->d_name[0] != '.' && strchr(e->d_name, '-'))
            names[n++] = strdup(e->d_name);
    closedir(d);
    qsort(names, n, sizeof names[0], cmp_str);
    size_t agree = 0;
    char disagree[4096] = "";
    for (size_t i = 0; i < n; i++) {
        char dir[1024];
        snprintf(dir, sizeof dir, "%s/%s", VECTORS, names[i]);
        if (curl_agrees(dir, port)) {
            agree++;
        } else {
            size_t l = strlen(disagree);
            snprintf(disagree + l, sizeof disagree - l, " %s", names[i]);
        }
        free(names[i]);
    }
    close(fd);
    const curl_version_info_data *vi = curl_version_info(CURLVERSION_NOW);
    print_message("  libcurl %s CURLOPT_AWS_SIGV4 agrees on %zu of %zu cases; differs on:%s\n",
                  vi->version, agree, n, disagree);
    assert_int_equal(n, 38);
    if (agree != CURL_7_88_1_AGREES)
        print_message("  (libcurl 7.88.1 agreed on %d; this libcurl %s scores %zu)\n",
                      CURL_7_88_1_AGREES, vi->version, agree);
    curl_global_cleanup();
}

/* ---- what the suite does not cover --------------------------------------- */

static struct sigv4_result sign_ok(const struct sigv4_request *r, const struct sigv4_credentials *c,
                                   const struct sigv4_params *p)
{
    struct sigv4_result res;
    char err[256];
    ls_err rc = sigv4_sign(r, c, p, &res, err, sizeof err);
    if (rc != LS_OK)
        fail_msg("sigv4_sign: %s", err);
    return res;
}

static const struct sigv4_credentials EXAMPLE = {"AKIDEXAMPLE",
                                                 "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", NULL};

/*
 * S3 signs the path exactly as sent (no second encoding, no dot-segment
 * removal) and sends x-amz-content-sha256. Expected values from botocore
 * 1.43's S3SigV4Auth on the same request.
 */
static void test_s3_path_as_sent(void **state)
{
    (void)state;
    struct sigv4_header h[] = {{"Host", "127.0.0.1:4568"}};
    struct sigv4_request r = {.method = "PUT",
                              .path = "/bucket/a%20b/../c",
                              .query = "",
                              .headers = h,
                              .header_count = 1,
                              .body = (const uint8_t *)"hello",
                              .body_len = 5};
    struct sigv4_params p;
    sigv4_params_for_service(&p, "s3", "us-east-1", "20150830T123600Z");
    assert_false(p.normalize_path);
    assert_true(p.add_content_sha256);
    struct sigv4_result res = sign_ok(&r, &EXAMPLE, &p);
    assert_string_equal(res.canonical_request,
                        "PUT\n/bucket/a%20b/../c\n\nhost:127.0.0.1:4568\n"
                        "x-amz-content-sha256:"
                        "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824\n"
                        "x-amz-date:20150830T123600Z\n\n"
                        "host;x-amz-content-sha256;x-amz-date\n"
                        "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824");
    assert_string_equal(res.signature,
                        "b19832c0aedee11e22b641ec67a6fa1fefa97f9241179fc3d224dd7f4b1e666b");
    assert_int_equal(res.added_count, 2);
    assert_string_equal(res.added[0], "X-Amz-Date: 20150830T123600Z");
    assert_string_equal(res.added[1],
                        "x-amz-content-sha256: "
                        "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824");
    sigv4_result_free(&res);

    /* UNSIGNED-PAYLOAD is signed as given and sent in the header */
    r.payload_hash = "UNSIGNED-PAYLOAD";
    res = sign_ok(&r, &EXAMPLE, &p);
    assert_string_equal(res.payload_hash, "UNSIGNED-PAYLOAD");
    assert_string_equal(res.added[1], "x-amz-content-sha256: UNSIGNED-PAYLOAD");
    assert_non_null(strstr(res.canonical_request, "\nx-amz-content-sha256:UNSIGNED-PAYLOAD\n"));
    sigv4_result_free(&res);
}

/* Every other service encodes an already-encoded path once more ("%20" -> "%2520"). */
static void test_double_encoding(void **state)
{
    (void)state;
    struct sigv4_header h[] = {{"Host", "example.amazonaws.com"},
                               {"User-Agent", "loadscope"},
                               {"X-Amz-Target", "DynamoDB_20120810.GetItem"}};
    struct sigv4_request r = {.method = "POST",
                              .path = "/a%20b//./c/",
                              .query = "b=2&a=x%2Fy&a=1&c",
                              .headers = h,
                              .header_count = 3};
    struct sigv4_params p;
    sigv4_params_for_service(&p, "dynamodb", "eu-west-1", "20240102T030405Z");
    struct sigv4_result res = sign_ok(&r, &EXAMPLE, &p);
    /* user-agent is sent but not signed; pairs sorted by key, then value */
    assert_string_equal(res.canonical_request,
                        "POST\n/a%2520b/c/\na=1&a=x%2Fy&b=2&c=\n"
                        "host:example.amazonaws.com\nx-amz-date:20240102T030405Z\n"
                        "x-amz-target:DynamoDB_20120810.GetItem\n\n"
                        "host;x-amz-date;x-amz-target\n"
                        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    assert_string_equal(res.signed_headers, "host;x-amz-date;x-amz-target");
    assert_string_equal(res.string_to_sign + strlen("AWS4-HMAC-SHA256\n20240102T030405Z\n"),
                        "20240102/eu-west-1/dynamodb/aws4_request\n"
                        "7144774623465000f5e55189082d22c746f0b9d411c42eb86f8960450f9d2b06");
    assert_string_equal(res.signature,
                        "7de8778cb507766c4b1b28cb9736ba0ce350250dbe67fe6272126af616331026");
    sigv4_result_free(&res);

    /* already-canonical and raw query input canonicalize alike */
    r.query = "%7E=%7e&sp=a%20b&raw=a b";
    res = sign_ok(&r, &EXAMPLE, &p);
    assert_non_null(strstr(res.canonical_request, "\nraw=a%20b&sp=a%20b&~=~\n"));
    sigv4_result_free(&res);
}

static void test_session_token_and_errors(void **state)
{
    (void)state;
    struct sigv4_header h[] = {{"Host", "h"}};
    struct sigv4_request r = {.method = "GET", .path = "/", .headers = h, .header_count = 1};
    struct sigv4_credentials c = {"AKID", "SECRET", "TOKEN/+="};
    struct sigv4_params p;
    sigv4_params_for_service(&p, "dynamodb", "us-east-1", "20150830T123600Z");
    struct sigv4_result res = sign_ok(&r, &c, &p);
    assert_int_equal(res.added_count, 2);
    assert_string_equal(res.added[0], "X-Amz-Security-Token: TOKEN/+=");
    assert_string_equal(res.signed_headers, "host;x-amz-date;x-amz-security-token");
    assert_null(strstr(res.authorization, "SECRET"));
    sigv4_result_free(&res);

    p.sign_session_token = false;
    res = sign_ok(&r, &c, &p);
    assert_string_equal(res.added[0], "X-Amz-Security-Token: TOKEN/+=");
    assert_string_equal(res.signed_headers, "host;x-amz-date");
    sigv4_result_free(&res);

    char err[256];
    p.amz_date = "2015-08-30T12:36:00Z";
    assert_int_equal(sigv4_sign(&r, &c, &p, &res, err, sizeof err), LS_ERR_INVALID);
    assert_string_equal(err, "sigv4: date \"2015-08-30T12:36:00Z\" is not of the form "
                             "20150830T123600Z");
    sigv4_result_free(&res);
    p.amz_date = "20150830T123600Z";
    struct sigv4_credentials none = {"AKID", "", NULL};
    assert_int_equal(sigv4_sign(&r, &none, &p, &res, err, sizeof err), LS_ERR_INVALID);
    sigv4_result_free(&res);
    struct sigv4_header bad[] = {{"Bad Name", "x"}};
    r.headers = bad;
    assert_int_equal(sigv4_sign(&r, &c, &p, &res, err, sizeof err), LS_ERR_INVALID);
    assert_string_equal(err, "sigv4: header 1 has an invalid name");
    sigv4_result_free(&res);
    struct sigv4_header other_date[] = {{"X-Amz-Date", "20150830T123601Z"}};
    r.headers = other_date;
    assert_int_equal(sigv4_sign(&r, &c, &p, &res, err, sizeof err), LS_ERR_INVALID);
    assert_null(strstr(err, "SECRET"));
    sigv4_result_free(&res);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_vector),
        cmocka_unit_test(test_curl_signer_disagrees),
        cmocka_unit_test(test_s3_path_as_sent),
        cmocka_unit_test(test_double_encoding),
        cmocka_unit_test(test_session_token_and_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
