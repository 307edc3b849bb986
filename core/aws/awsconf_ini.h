/*
 * awsconf_ini: the reader of the AWS shared files (~/.aws/credentials and
 * ~/.aws/config), for the credentials/config chain in awsconf.c and for
 * the fuzz target. Not a public header.
 *
 * The files are read the way the AWS CLI reads them: sections in brackets
 * ("[name]" in credentials, "[default]" or "[profile name]" in config),
 * `key = value` lines, comments on lines starting with '#' or ';' (and
 * after whitespace at the end of a value), indented sub-keys under a key
 * with an empty value (the CLI's "s3 =" blocks, skipped here), keys matched
 * case-insensitively, the last repeat winning. Only the keys loadscope uses
 * are kept, and only those of the profile asked for.
 *
 * Secrets: values are kept only in struct ini_profile (wiped when freed).
 * Error messages name the file, the line and the key, never a line's
 * content, because a bad line may well be a pasted secret.
 */
#ifndef LS_AWSCONF_INI_H
#define LS_AWSCONF_INI_H

#include <stdbool.h>
#include <stdio.h>

#include "util/lserr.h"

enum conf_key { K_KEY_ID, K_SECRET, K_TOKEN, K_REGION, K_ENDPOINT, K_MAX_ATTEMPTS, K__COUNT };

/* What one file says about the chosen profile. */
struct ini_profile {
    const char *path;   /* borrowed: the caller's */
    bool read;          /* the file exists and was read */
    bool found;         /* the profile's section is there */
    int section_line;   /* first line of the section */
    char *val[K__COUNT];
    int line[K__COUNT]; /* where each value was set */
};

/* The key's name in the files ("aws_access_key_id", ...). */
const char *awsconf_key_name(enum conf_key k);

/*
 * Reads an open file (named path in messages) looking for profile's keys
 * into out (which must start zeroed; out->read is set). A malformed line
 * is LS_ERR_PARSE with "PATH:LINE: what" in err. Free out with
 * awsconf_ini_free(), also after a failure.
 */
LS_MUST_CHECK ls_err awsconf_ini_read(FILE *f, const char *path, bool is_config,
                                      const char *profile, struct ini_profile *out, char *err,
                                      size_t errcap);

/* Wipes and frees the values and zeroes p. */
void awsconf_ini_free(struct ini_profile *p);

#endif
