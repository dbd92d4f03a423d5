/*
 * options_tls: the -o ssl_* keys of memcached 1.6.18 (tls.c reads them),
 * with memcached's parsing and messages, in their own file so the TLS
 * options read as one block.  -Z itself and "notls:" are read in options.c.
 */
#include "options.h"

#include <stdlib.h>
#include <string.h>

#include "num.h"

/* safe_strtol: the whole token a number (white space may follow). */
static bool whole_long(const char *v, int *out)
{
    int32_t x;
    if (!num_parse_i32(v, strlen(v), &x))
        return false;
    *out = x;
    return true;
}

static int missing(FILE *err, const char *key)
{
    fprintf(err, "Missing %s argument\n", key);
    return OPTIONS_ERROR;
}

static int set_str(char **field, const char *val)
{
    free(*field);
    *field = strdup(val);
    return *field ? 0 : OPTIONS_ERROR;
}

int options_tls_key(struct config *c, const char *key, const char *val, FILE *err)
{
    if (strncmp(key, "ssl_", 4) != 0)
        return 1;
    if (strcmp(key, "ssl_session_cache") == 0) {
        c->ssl_session_cache = true;
        return 0;
    }
    if (strcmp(key, "ssl_kernel_tls") == 0) {
        c->ssl_kernel_tls = true;
        return 0;
    }
    char **str = strcmp(key, "ssl_chain_cert") == 0 ? &c->ssl_chain_cert
                 : strcmp(key, "ssl_key") == 0       ? &c->ssl_key
                 : strcmp(key, "ssl_ciphers") == 0   ? &c->ssl_ciphers
                 : strcmp(key, "ssl_ca_cert") == 0   ? &c->ssl_ca_cert
                                                     : NULL;
    bool numeric = strcmp(key, "ssl_verify_mode") == 0 || strcmp(key, "ssl_keyformat") == 0 ||
                   strcmp(key, "ssl_wbuf_size") == 0 || strcmp(key, "ssl_min_version") == 0;
    if (str == NULL && !numeric)
        return 1;
    if (val == NULL)
        return missing(err, key);
    if (str != NULL) {
        if (set_str(str, val) != 0) {
            fprintf(err, "Failed to allocate memory\n");
            return OPTIONS_ERROR;
        }
        return 0;
    }
    int v;
    if (strcmp(key, "ssl_wbuf_size") == 0) {
        uint32_t kb;
        if (!num_parse_u32(val, strlen(val), &kb)) {
            fprintf(err, "could not parse argument to %s\n", key);
            return OPTIONS_ERROR;
        }
        c->ssl_wbuf_size = kb * 1024u;
        return 0;
    }
    if (!whole_long(val, &v)) {
        fprintf(err, "could not parse argument to %s\n", key);
        return OPTIONS_ERROR;
    }
    if (strcmp(key, "ssl_keyformat") == 0) {
        c->ssl_keyformat = v;
    } else if (strcmp(key, "ssl_verify_mode") == 0) {
        /* OpenSSL's SSL_VERIFY_PEER 1, FAIL_IF_NO_PEER_CERT 2, CLIENT_ONCE 4. */
        static const int modes[] = { 0, 1, 1 | 2, 1 | 2 | 4 };
        if (v < 0 || v > 3) {
            fprintf(err, "Invalid ssl_verify_mode. Use help to see valid options.\n");
            return OPTIONS_ERROR;
        }
        c->ssl_verify_mode = modes[v];
    } else {
        if (v < 0 || v > 3) {
            fprintf(err, "Invalid ssl_min_version. Use help to see valid options.\n");
            return OPTIONS_ERROR;
        }
        c->ssl_min_version = v;
    }
    return 0;
}
