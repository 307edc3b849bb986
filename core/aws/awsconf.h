/*
 * awsconf: AWS configuration resolved the way the AWS SDKs and CLI do it.
 *
 * Credentials: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN,
 * then the shared credentials file (AWS_SHARED_CREDENTIALS_FILE, default
 * ~/.aws/credentials, section [PROFILE]) and the config file
 * (AWS_CONFIG_FILE, default ~/.aws/config, section [profile PROFILE] or
 * [default]), PROFILE from AWS_PROFILE or the scenario, else "default".
 * Region: AWS_REGION, AWS_DEFAULT_REGION, the profile's region, the scenario.
 * Endpoint per service: AWS_ENDPOINT_URL_<SERVICE> (DYNAMODB, S3), then
 * AWS_ENDPOINT_URL, then the profile's endpoint_url, then the scenario's,
 * then the real regional endpoint over TLS. Max attempts: AWS_MAX_ATTEMPTS,
 * the profile's max_attempts, else 3.
 *
 * Details, as the AWS CLI behaves unless said otherwise: half a key pair in
 * the environment or in a profile is an error, not a fall-through; a
 * profile named by AWS_PROFILE or the scenario must exist in one of the
 * files; a file named by AWS_SHARED_CREDENTIALS_FILE / AWS_CONFIG_FILE must
 * exist (the CLI ignores a missing one; a load test had better say so),
 * the default ~/.aws files may be missing; region and endpoint_url and
 * max_attempts come from the config file only; a region starting with
 * "cn-" gets the amazonaws.com.cn default endpoints; max attempts is 1..100.
 *
 * Secrets live only in this struct and in the Authorization headers built
 * from it; nothing here is ever printed, logged or stored. describe() output
 * names where each value came from and masks the key id.
 */
#ifndef LS_AWSCONF_H
#define LS_AWSCONF_H

#include <stddef.h>
#include <stdint.h>

#include "util/lserr.h"

enum aws_service { AWS_DYNAMODB = 0, AWS_S3 = 1, AWS__SERVICES };

struct aws_config {
    char *access_key_id;
    char *secret_access_key;
    char *session_token;          /* NULL when none */
    char *region;
    char *endpoint[AWS__SERVICES]; /* base URL, e.g. "http://127.0.0.1:4567" */
    uint32_t max_attempts;
    char *profile;
    char source[256];             /* where credentials/region/endpoints came from, no secrets */
};

/*
 * Resolves the configuration. scenario_* may be NULL. On failure (no
 * credentials anywhere, unreadable file, bad line) err names the file and
 * line, never a secret.
 */
LS_MUST_CHECK ls_err awsconf_load(const char *scenario_profile, const char *scenario_region,
                                  const char *const scenario_endpoint[AWS__SERVICES],
                                  struct aws_config *out, char *err, size_t errcap);
/* Frees what c holds (secrets wiped first) and zeroes it; NULL-safe. */
void awsconf_free(struct aws_config *c);

/* "dynamodb" or "s3" (the SigV4 service name); "?" for anything else. */
const char *awsconf_service_name(enum aws_service s);

/*
 * Writes an access key id masked but for its last 4 characters
 * ("AKIDEXAMPLE" -> "*******MPLE"; 4 characters or fewer: all masked).
 */
void awsconf_mask_key_id(const char *key_id, char *out, size_t cap);

/*
 * The secrets guard: looks for the secret access key and the session token
 * in buf[0..len), raw and percent-encoded (as they would appear in a URL or
 * a form). Returns NULL when neither is there, else a static name of what
 * leaked ("secret access key", "session token"), never the secret itself.
 * Empty or NULL secrets are not looked for. Tests and exports call it on
 * everything they write.
 */
const char *awsconf_find_secret(const char *secret_access_key, const char *session_token,
                                const void *buf, size_t len);

/* awsconf_find_secret with c's secret access key and session token. */
const char *awsconf_scan_secrets(const struct aws_config *c, const void *buf, size_t len);

#endif
