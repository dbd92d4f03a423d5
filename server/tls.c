/*
 * tls: memcached's -Z with OpenSSL, in a worker's non-blocking loop.
 *
 * Design: a session reads straight from its socket (an OpenSSL socket BIO,
 * read-ahead on, so one read() brings every record waiting) and writes into
 * a buffer of ours (a small BIO of our own), which the connection sends
 * with one send() per batch, as the plaintext path sends one sendmsg per
 * batch.  The reply's pieces are copied into a per-thread buffer of
 * ssl_wbuf_size bytes and encrypted one SSL_write at a time, as memcached
 * does, until a batch of TLS_BATCH bytes of records waits; then it leaves.
 *
 * The handshake is never waited for: the socket is non-blocking and the
 * session is in accept state, so the first reads drive the handshake a
 * step at a time from the worker's epoll loop (SSL_read says WANT_READ,
 * the worker goes on with its other connections).  Handshake bytes the
 * socket cannot take yet wait in our buffer and make the connection wait
 * for writability instead.  A client that stalls mid-handshake holds its
 * connection and nothing else.
 *
 * refresh_certs builds a whole new context and swaps it in under a lock;
 * sessions hold a reference to the context they started with, so nothing
 * is changed under a live connection, and a failed reload changes nothing.
 */
#include "tls.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <dlfcn.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "log.h"

/*
 * OpenSSL is loaded when -Z asks for it, not linked: a server without TLS
 * maps neither libssl nor libcrypto, whose relocations alone are 1.7 MB of
 * resident memory at idle (as much as memcached's whole heap).  Every
 * OpenSSL function this file calls is a pointer filled from the library
 * the headers describe (dlopen of libssl.so.MAJOR, whose dependencies give
 * libcrypto's); the names below stand for the pointers, so the code reads
 * as plain OpenSSL.  The header macros expand to SSL_CTX_ctrl, which is
 * one of them.
 */
#define TLS_FUNCTIONS(X) \
    X(BIO_free) X(BIO_get_data) X(BIO_get_new_index) X(BIO_meth_free) X(BIO_meth_new) \
    X(BIO_meth_set_create) X(BIO_meth_set_ctrl) X(BIO_meth_set_write) X(BIO_new) \
    X(BIO_new_socket) X(BIO_set_data) X(BIO_set_init) \
    X(ERR_clear_error) X(ERR_error_string_n) X(ERR_get_error) X(ERR_peek_error) \
    X(SSL_CTX_check_private_key) X(SSL_CTX_ctrl) X(SSL_CTX_free) \
    X(SSL_CTX_load_verify_locations) X(SSL_CTX_new) X(SSL_CTX_sess_set_new_cb) \
    X(SSL_CTX_set_cipher_list) X(SSL_CTX_set_client_CA_list) X(SSL_CTX_set_options) \
    X(SSL_CTX_set_session_id_context) X(SSL_CTX_set_verify) \
    X(SSL_CTX_use_PrivateKey_file) X(SSL_CTX_use_certificate_chain_file) \
    X(SSL_free) X(SSL_get_error) X(SSL_has_pending) X(SSL_is_init_finished) \
    X(SSL_load_client_CA_file) X(SSL_new) X(SSL_read) X(SSL_set_accept_state) \
    X(SSL_set_bio) X(SSL_shutdown) X(SSL_write) X(TLS_server_method)

#define TLS_POINTER(f) static __typeof__(&f) ossl_##f;
TLS_FUNCTIONS(TLS_POINTER)
#undef TLS_POINTER

#define TLS_STR(x) #x
#define TLS_LIBSSL(major) "libssl.so." TLS_STR(major)

/* Load libssl and fill the pointers; false, having said why, if it fails. */
static bool openssl_load(void)
{
    void *h = dlopen(TLS_LIBSSL(OPENSSL_VERSION_MAJOR), RTLD_NOW | RTLD_LOCAL);
    if (h == NULL) {
        fprintf(stderr, "failed to load OpenSSL for -Z: %s\n", dlerror());
        return false;
    }
#define TLS_RESOLVE(f) \
    if ((ossl_##f = (__typeof__(ossl_##f))dlsym(h, #f)) == NULL) { \
        fprintf(stderr, "failed to load OpenSSL for -Z: no %s in %s\n", #f, \
                TLS_LIBSSL(OPENSSL_VERSION_MAJOR)); \
        return false; \
    }
    TLS_FUNCTIONS(TLS_RESOLVE)
#undef TLS_RESOLVE
    return true;    /* the library stays loaded for the process's life */
}

#define TLS_RENAME(f) ossl_##f
#define BIO_free TLS_RENAME(BIO_free)
#define BIO_get_data TLS_RENAME(BIO_get_data)
#define BIO_get_new_index TLS_RENAME(BIO_get_new_index)
#define BIO_meth_free TLS_RENAME(BIO_meth_free)
#define BIO_meth_new TLS_RENAME(BIO_meth_new)
#define BIO_meth_set_create TLS_RENAME(BIO_meth_set_create)
#define BIO_meth_set_ctrl TLS_RENAME(BIO_meth_set_ctrl)
#define BIO_meth_set_write TLS_RENAME(BIO_meth_set_write)
#define BIO_new TLS_RENAME(BIO_new)
#define BIO_new_socket TLS_RENAME(BIO_new_socket)
#define BIO_set_data TLS_RENAME(BIO_set_data)
#define BIO_set_init TLS_RENAME(BIO_set_init)
#define ERR_clear_error TLS_RENAME(ERR_clear_error)
#define ERR_error_string_n TLS_RENAME(ERR_error_string_n)
#define ERR_get_error TLS_RENAME(ERR_get_error)
#define ERR_peek_error TLS_RENAME(ERR_peek_error)
#define SSL_CTX_check_private_key TLS_RENAME(SSL_CTX_check_private_key)
#define SSL_CTX_ctrl TLS_RENAME(SSL_CTX_ctrl)
#define SSL_CTX_free TLS_RENAME(SSL_CTX_free)
#define SSL_CTX_load_verify_locations TLS_RENAME(SSL_CTX_load_verify_locations)
#define SSL_CTX_new TLS_RENAME(SSL_CTX_new)
#define SSL_CTX_sess_set_new_cb TLS_RENAME(SSL_CTX_sess_set_new_cb)
#define SSL_CTX_set_cipher_list TLS_RENAME(SSL_CTX_set_cipher_list)
#define SSL_CTX_set_client_CA_list TLS_RENAME(SSL_CTX_set_client_CA_list)
#define SSL_CTX_set_options TLS_RENAME(SSL_CTX_set_options)
#define SSL_CTX_set_session_id_context TLS_RENAME(SSL_CTX_set_session_id_context)
#define SSL_CTX_set_verify TLS_RENAME(SSL_CTX_set_verify)
#define SSL_CTX_use_PrivateKey_file TLS_RENAME(SSL_CTX_use_PrivateKey_file)
#define SSL_CTX_use_certificate_chain_file TLS_RENAME(SSL_CTX_use_certificate_chain_file)
#define SSL_free TLS_RENAME(SSL_free)
#define SSL_get_error TLS_RENAME(SSL_get_error)
#define SSL_has_pending TLS_RENAME(SSL_has_pending)
#define SSL_is_init_finished TLS_RENAME(SSL_is_init_finished)
#define SSL_load_client_CA_file TLS_RENAME(SSL_load_client_CA_file)
#define SSL_new TLS_RENAME(SSL_new)
#define SSL_read TLS_RENAME(SSL_read)
#define SSL_set_accept_state TLS_RENAME(SSL_set_accept_state)
#define SSL_set_bio TLS_RENAME(SSL_set_bio)
#define SSL_shutdown TLS_RENAME(SSL_shutdown)
#define SSL_write TLS_RENAME(SSL_write)
#define TLS_server_method TLS_RENAME(TLS_server_method)

/* Encrypted bytes gathered before one send(). */
#define TLS_BATCH (64 * 1024)
/* Our write buffer is given back when emptied past this size. */
#define TLS_WBUF_KEEP 4096
/* memcached's session id context. */
#define TLS_SESSION_CONTEXT "memcached"

static pthread_mutex_t ctx_lock = PTHREAD_MUTEX_INITIALIZER;
static SSL_CTX *ctx;                /* under ctx_lock: the context new sessions use */
static struct config tls_cfg;       /* what -Z and -o ssl_* said, for refresh_certs */
static _Atomic int64_t last_refresh;
static BIO_METHOD *wbio_method;
static unsigned gather_size;
static __thread struct proto_counters *thread_counters;
static __thread char *gather;       /* ssl_wbuf_size bytes per worker thread */

struct tls_conn {
    SSL *ssl;
    int fd;
    bool handshaken;
    char *wbuf;                     /* records waiting to be sent: [woff, wlen) */
    size_t woff, wlen, wcap;
};

static int64_t mono_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec;
}

bool tls_enabled(void) { return tls_cfg.ssl_enabled; }

uint32_t tls_since_refresh(void)
{
    int64_t d = mono_seconds() - atomic_load(&last_refresh);
    return d > 0 ? (uint32_t)d : 0;
}

void tls_thread_counters(struct proto_counters *c) { thread_counters = c; }

void tls_thread_exit(void)
{
    free(gather);
    gather = NULL;
    thread_counters = NULL;
}

/* ---- the write BIO: appends to the session's buffer -------------------- */

static int wbio_write(BIO *b, const char *data, int n)
{
    struct tls_conn *t = BIO_get_data(b);
    if (n <= 0)
        return 0;
    if (t->wlen + (size_t)n > t->wcap) {
        size_t cap = t->wcap ? t->wcap : 4096;
        while (cap < t->wlen + (size_t)n)
            cap *= 2;
        char *nb = realloc(t->wbuf, cap);
        if (nb == NULL)
            return -1;
        t->wbuf = nb;
        t->wcap = cap;
    }
    memcpy(t->wbuf + t->wlen, data, (size_t)n);
    t->wlen += (size_t)n;
    return n;
}

static long wbio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
    (void)num;
    (void)ptr;
    struct tls_conn *t = BIO_get_data(b);
    switch (cmd) {
    case BIO_CTRL_FLUSH:
        return 1;       /* sent by the connection's flush, in one batch */
    case BIO_CTRL_WPENDING:
    case BIO_CTRL_PENDING:
        return t ? (long)(t->wlen - t->woff) : 0;
    default:
        return 0;
    }
}

static int wbio_create(BIO *b)
{
    BIO_set_init(b, 1);
    return 1;
}

static int wbio_setup(void)
{
    wbio_method = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "mcd batch");
    if (wbio_method == NULL || !BIO_meth_set_write(wbio_method, wbio_write) ||
        !BIO_meth_set_ctrl(wbio_method, wbio_ctrl) || !BIO_meth_set_create(wbio_method, wbio_create))
        return -1;
    return 0;
}

/* ---- the context -------------------------------------------------------- */

static int new_session(SSL *s, SSL_SESSION *sess)
{
    (void)s;
    (void)sess;
    if (thread_counters != NULL)
        counter_inc(&thread_counters->ssl_new_sessions);
    return 0;       /* OpenSSL keeps its own reference */
}

static void ssl_error_string(char *buf, size_t n)
{
    unsigned long e = ERR_get_error();
    buf[0] = '\0';
    if (e != 0)
        ERR_error_string_n(e, buf, n);
    ERR_clear_error();
}

static int min_version(int v)
{
    static const int versions[] = { TLS1_VERSION, TLS1_1_VERSION, TLS1_2_VERSION, TLS1_3_VERSION };
    return versions[v >= 0 && v <= 3 ? v : 2];
}

/* A context with the configured certificates, as memcached's
 * load_server_certificates: NULL with its message ("\r\n"-ended) in err. */
static SSL_CTX *ctx_build(char *err, size_t errlen)
{
    char why[256];
    const struct config *c = &tls_cfg;
    SSL_CTX *x = SSL_CTX_new(TLS_server_method());
    if (x == NULL) {
        ssl_error_string(why, sizeof(why));
        snprintf(err, errlen, "Error creating the TLS context: %s\r\n", why);
        return NULL;
    }
    SSL_CTX_set_min_proto_version(x, min_version(c->ssl_min_version));
    if (!SSL_CTX_use_certificate_chain_file(x, c->ssl_chain_cert ? c->ssl_chain_cert : "")) {
        ssl_error_string(why, sizeof(why));
        snprintf(err, errlen, "Error loading the certificate chain: %s : %s\r\n",
                 c->ssl_chain_cert ? c->ssl_chain_cert : "(null)", why);
        goto fail;
    }
    if (!SSL_CTX_use_PrivateKey_file(x, c->ssl_key ? c->ssl_key : "", c->ssl_keyformat)) {
        ssl_error_string(why, sizeof(why));
        snprintf(err, errlen, "Error loading the key: %s : %s\r\n",
                 c->ssl_key ? c->ssl_key : "(null)", why);
        goto fail;
    }
    if (!SSL_CTX_check_private_key(x)) {
        ssl_error_string(why, sizeof(why));
        snprintf(err, errlen, "Error validating the certificate: %s\r\n", why);
        goto fail;
    }
    if (c->ssl_ca_cert != NULL) {
        if (!SSL_CTX_load_verify_locations(x, c->ssl_ca_cert, NULL)) {
            ssl_error_string(why, sizeof(why));
            snprintf(err, errlen, "Error loading the CA certificate: %s : %s\r\n",
                     c->ssl_ca_cert, why);
            goto fail;
        }
        SSL_CTX_set_client_CA_list(x, SSL_load_client_CA_file(c->ssl_ca_cert));
    }
    SSL_CTX_set_verify(x, c->ssl_verify_mode, NULL);
    if (c->ssl_ciphers != NULL && !SSL_CTX_set_cipher_list(x, c->ssl_ciphers)) {
        ERR_clear_error();
        snprintf(err, errlen, "Error setting the provided cipher(s): %s\n", c->ssl_ciphers);
        goto fail;
    }
    if (c->ssl_session_cache) {
        SSL_CTX_sess_set_new_cb(x, new_session);
        SSL_CTX_set_session_cache_mode(x, SSL_SESS_CACHE_SERVER);
        SSL_CTX_set_session_id_context(x, (const unsigned char *)TLS_SESSION_CONTEXT,
                                       sizeof(TLS_SESSION_CONTEXT) - 1);
    } else {
        SSL_CTX_set_session_cache_mode(x, SSL_SESS_CACHE_OFF);
    }
    SSL_CTX_set_options(x, SSL_OP_NO_RENEGOTIATION);
    /* Idle connections give back OpenSSL's record buffers. */
    SSL_CTX_set_mode(x, SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_read_ahead(x, 1);
    return x;
fail:
    SSL_CTX_free(x);
    return NULL;
}

int tls_setup(const struct config *cfg, struct proto_tls *shown)
{
    static const char *const names[] = { "tlsv1.0", "tlsv1.1", "tlsv1.2", "tlsv1.3" };
    tls_cfg = *cfg;
    int v = cfg->ssl_min_version >= 0 && cfg->ssl_min_version <= 3 ? cfg->ssl_min_version : 2;
    *shown = (struct proto_tls){
        .enabled = cfg->ssl_enabled, .chain_cert = cfg->ssl_chain_cert, .key = cfg->ssl_key,
        .ca_cert = cfg->ssl_ca_cert, .ciphers = cfg->ssl_ciphers,
        .verify_mode = cfg->ssl_verify_mode, .keyformat = cfg->ssl_keyformat,
        .wbuf_size = cfg->ssl_wbuf_size, .session_cache = cfg->ssl_session_cache,
        .kernel_tls = cfg->ssl_kernel_tls, .min_version = names[v],
    };
    if (!cfg->ssl_enabled)
        return 0;
    gather_size = cfg->ssl_wbuf_size > 0 ? cfg->ssl_wbuf_size : 16384;
    if (!openssl_load())
        return -1;
    if (wbio_setup() != 0) {
        fprintf(stderr, "failed to set up TLS\n");
        return -1;
    }
    char err[1024];
    ctx = ctx_build(err, sizeof(err));
    if (ctx == NULL) {
        fputs(err, stderr);
        return -1;
    }
    atomic_store(&last_refresh, mono_seconds());
    return 0;
}

void tls_teardown(void)
{
    if (ossl_SSL_CTX_free == NULL)
        return;                     /* OpenSSL was never loaded: no -Z */
    SSL_CTX_free(ctx);
    ctx = NULL;
    if (wbio_method != NULL)
        BIO_meth_free(wbio_method);
    wbio_method = NULL;
}

bool tls_refresh(char *err, size_t errlen)
{
    if (!tls_cfg.ssl_enabled) {
        snprintf(err, errlen, "Error TLS not enabled\r\n");
        return false;
    }
    SSL_CTX *x = ctx_build(err, errlen);
    if (x == NULL)
        return false;
    pthread_mutex_lock(&ctx_lock);
    SSL_CTX *old = ctx;
    ctx = x;
    pthread_mutex_unlock(&ctx_lock);
    SSL_CTX_free(old);      /* live sessions keep their own reference */
    atomic_store(&last_refresh, mono_seconds());
    log_msg(LOG_INFO, "TLS certificates loaded again");
    return true;
}

/* ---- sessions ------------------------------------------------------------ */

static int tls_send(struct tls_conn *t);

struct tls_conn *tls_conn_new(int fd)
{
    struct tls_conn *t = calloc(1, sizeof(*t));
    if (t == NULL)
        return NULL;
    t->fd = fd;
    pthread_mutex_lock(&ctx_lock);
    t->ssl = SSL_new(ctx);
    pthread_mutex_unlock(&ctx_lock);
    BIO *rb = BIO_new_socket(fd, BIO_NOCLOSE);
    BIO *wb = BIO_new(wbio_method);
    if (t->ssl == NULL || rb == NULL || wb == NULL) {
        BIO_free(rb);
        BIO_free(wb);
        SSL_free(t->ssl);
        free(t);
        ERR_clear_error();
        return NULL;
    }
    BIO_set_data(wb, t);
    SSL_set_bio(t->ssl, rb, wb);
    SSL_set_accept_state(t->ssl);
    return t;
}

void tls_conn_free(struct tls_conn *t)
{
    if (t == NULL)
        return;
    /* close_notify, as memcached sends it: without it OpenSSL takes the
     * session out of the cache.  Sent if the socket takes it now. */
    if (t->handshaken) {
        ERR_clear_error();
        if (SSL_shutdown(t->ssl) < 0)
            ERR_clear_error();
        tls_send(t);
    }
    SSL_free(t->ssl);
    free(t->wbuf);
    free(t);
}

bool tls_conn_wants_write(const struct tls_conn *t) { return t->wlen > t->woff; }

/* Send what waits in our buffer: 1 all sent, 0 the socket is full, -1 error. */
static int tls_send(struct tls_conn *t)
{
    while (t->wlen > t->woff) {
        ssize_t w = send(t->fd, t->wbuf + t->woff, t->wlen - t->woff, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
        }
        t->woff += (size_t)w;
    }
    t->woff = t->wlen = 0;
    if (t->wcap > TLS_WBUF_KEEP) {
        free(t->wbuf);
        t->wbuf = NULL;
        t->wcap = 0;
    }
    return 1;
}

ssize_t tls_conn_read(struct tls_conn *t, char *buf, size_t cap)
{
    size_t total = 0;
    int cap_int = cap > INT32_MAX ? INT32_MAX : (int)cap;
    for (;;) {
        ERR_clear_error();
        int r = SSL_read(t->ssl, buf + total, cap_int - (int)total);
        if (r > 0) {
            t->handshaken = true;
            total += (size_t)r;
            /* More may wait inside OpenSSL, which epoll cannot see. */
            if (total < cap && SSL_has_pending(t->ssl))
                continue;
            break;
        }
        int e = SSL_get_error(t->ssl, r);
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
            if (SSL_is_init_finished(t->ssl))
                t->handshaken = true;
            if (tls_send(t) < 0) {
                errno = EPIPE;
                return total > 0 ? (ssize_t)total : -1;
            }
            if (total > 0)
                break;
            errno = EAGAIN;
            return -1;
        }
        if (total > 0)
            break;
        if (e == SSL_ERROR_ZERO_RETURN || (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0 &&
                                           (r == 0 || errno == 0)))
            return 0;       /* close_notify, or the peer closed the socket */
        if (!t->handshaken && thread_counters != NULL)
            counter_inc(&thread_counters->ssl_handshake_errors);
        if (log_level() >= 1) {
            char why[256];
            ssl_error_string(why, sizeof(why));
            log_msg(LOG_INFO, "%d: TLS %s failed: %s", t->fd,
                    t->handshaken ? "read" : "handshake", why);
        }
        ERR_clear_error();
        errno = EPROTO;
        return -1;
    }
    /* Whatever the records made OpenSSL write (a TLS 1.3 ticket or key
     * update) goes now, or when the socket takes it. */
    if (tls_send(t) < 0) {
        errno = EPIPE;
        return -1;
    }
    return (ssize_t)total;
}

int tls_conn_flush(struct tls_conn *t, struct reply *out, uint64_t *written)
{
    if (gather == NULL && (gather = malloc(gather_size)) == NULL)
        return -1;
    struct iovec iov[64];
    /* No reply is built before the handshake brought a request. */
    if (!t->handshaken && !reply_empty(out))
        return -1;
    for (;;) {
        /* Encrypt a batch: ssl_wbuf_size bytes of the reply per record write. */
        while (!reply_empty(out) && t->wlen - t->woff < TLS_BATCH && t->handshaken) {
            int k = reply_iov(out, iov, 64);
            size_t n = 0;
            for (int i = 0; i < k && n < gather_size; i++) {
                size_t take = iov[i].iov_len < gather_size - n ? iov[i].iov_len : gather_size - n;
                memcpy(gather + n, iov[i].iov_base, take);
                n += take;
            }
            ERR_clear_error();
            int w = SSL_write(t->ssl, gather, (int)n);
            if (w <= 0) {
                ERR_clear_error();
                return -1;
            }
            reply_consumed(out, (size_t)w);
            *written += (uint64_t)w;
        }
        int s = tls_send(t);
        if (s <= 0)
            return s;
        if (reply_empty(out))
            return 1;
    }
}
