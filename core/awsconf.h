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
 * Secrets live only in this struct and in the Authorization headers built
 * from it; nothing here is ever printed, logged or stored. describe() output
 * names where each value came from and masks the key id.
 */
#ifndef LS_AWSCONF_H
#define LS_AWSCONF_H

#include <stddef.h>
#include <stdint.h>

#include "lserr.h"

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
void awsconf_free(struct aws_config *c);

#endif
