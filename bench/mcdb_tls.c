/*
 * mcdb_tls: TLS for mcd-bench's connections, so `make bench` can load mcd
 * and memcached over -Z alike.  The handshake is done blocking, before the
 * run; afterwards each link's one write per turn is one SSL_write and each
 * readable event one read() of every record waiting (read-ahead), decrypted
 * by as many SSL_read calls as there are records.
 */
#include "mcdb_tls.h"

#include <errno.h>
#include <stdio.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

static SSL_CTX *ctx;

int mcdb_tls_setup(void)
{
    ctx = SSL_CTX_new(TLS_client_method());
    if (ctx == NULL)
        return -1;
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    /* One read() brings every record waiting, however the server cut its
     * replies into records: the client's cost per reply does not depend on it. */
    SSL_CTX_set_read_ahead(ctx, 1);
    return 0;
}

SSL *mcdb_tls_connect(int fd)
{
    SSL *s = SSL_new(ctx);
    if (s == NULL || !SSL_set_fd(s, fd) || SSL_connect(s) != 1) {
        char why[256] = "";
        ERR_error_string_n(ERR_get_error(), why, sizeof(why));
        fprintf(stderr, "mcd-bench: TLS handshake: %s\n", why);
        SSL_free(s);
        return NULL;
    }
    return s;
}

static ssize_t result(SSL *s, int r)
{
    if (r > 0)
        return r;
    switch (SSL_get_error(s, r)) {
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE:
        errno = EAGAIN;
        return -1;
    case SSL_ERROR_ZERO_RETURN:
        return 0;
    case SSL_ERROR_SYSCALL:
        if (errno == 0)
            return 0;
        return -1;
    default:
        ERR_clear_error();
        errno = EPROTO;
        return -1;
    }
}

ssize_t mcdb_tls_send(SSL *s, const void *buf, size_t n)
{
    return result(s, SSL_write(s, buf, n > 1u << 30 ? 1 << 30 : (int)n));
}

ssize_t mcdb_tls_recv(SSL *s, void *buf, size_t n)
{
    return result(s, SSL_read(s, buf, n > 1u << 30 ? 1 << 30 : (int)n));
}

int mcdb_tls_pending(SSL *s) { return SSL_has_pending(s); }

void mcdb_tls_free(SSL *s) { SSL_free(s); }
