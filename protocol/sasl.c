/*
 * sasl: memcached 1.6.18's SASL exchange on the binary protocol (opcodes
 * 0x20 list mechanisms, 0x21 auth, 0x22 step), replies byte for byte, with
 * the PLAIN mechanism (RFC 4616) checked against a user file of
 * `user:password` lines (auth.h) instead of Cyrus SASL.
 *
 * Why not Cyrus: PLAIN is what libmemcached, pylibmc and the other clients
 * that speak SASL to memcached use; Cyrus brings plugins loaded at run time,
 * a configuration search path and a sasldb to administer, for mechanisms
 * (CRAM-MD5, DIGEST-MD5) that are deprecated and would add nothing over
 * TLS.  The user file is the one memcached's --enable-sasl-pwdb builds read
 * (MEMCACHED_SASL_PWDB) and -Y reads, and its passwords are compared in
 * constant time (auth_check).
 *
 * memcached's quirks are kept, since its clients expect them: every SASL
 * command (listing the mechanisms too) first makes the connection
 * unauthenticated again; AUTH PLAIN without data asks for a step (status
 * 0x21, empty body); a STEP with no exchange started fails; every failure
 * is "Auth failure.", counted in auth_errors.
 */
#include "sasl.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth.h"

static const char sasl_mechs[] = "PLAIN";

bool sasl_allows(uint8_t opcode)
{
    return opcode == BIN_CMD_SASL_LIST_MECHS || opcode == BIN_CMD_SASL_AUTH ||
           opcode == BIN_CMD_SASL_STEP || opcode == BIN_CMD_VERSION;
}

/* A reply to the request being served: status and body, no key or extras. */
static void sasl_reply(const struct bin_session *s, struct reply *out, uint16_t status,
                       const char *body, size_t n)
{
    char h[BIN_HEADER_LEN];
    bin_write_header(h, s->opcode, status, 0, 0, (uint32_t)n, s->opaque, 0);
    reply_add(out, h, sizeof(h));
    if (n > 0)
        reply_add(out, body, n);
}

static void sasl_error(const struct bin_session *s, struct reply *out, enum bin_status st)
{
    const char *m = bin_status_string(st);
    sasl_reply(s, out, (uint16_t)st, m, strlen(m));
}

static void sasl_failed(struct bin_session *s, const struct proto_env *env, struct reply *out)
{
    counter_inc(&env->counters->auth_cmds);
    counter_inc(&env->counters->auth_errors);
    sasl_error(s, out, BIN_AUTH_ERROR);
}

void sasl_list_mechs(struct bin_session *s, struct reply *out)
{
    s->authenticated = false;
    sasl_reply(s, out, BIN_OK, sasl_mechs, sizeof(sasl_mechs) - 1);
}

void sasl_begin(struct bin_session *s, const struct proto_env *env, const struct bin_header *h,
                const char *key, struct reply *out)
{
    (void)env;
    uint32_t vlen = h->bodylen - h->keylen;
    if (h->keylen > SASL_MECH_MAX) {
        sasl_error(s, out, BIN_EINVAL);
        s->state = BIN_STATE_SWALLOW;
        s->swallow = vlen;
        return;
    }
    s->authenticated = false;
    if (s->sasl == NULL && (s->sasl = malloc(sizeof(*s->sasl))) == NULL) {
        sasl_error(s, out, BIN_ENOMEM);
        s->state = BIN_STATE_SWALLOW;
        s->swallow = vlen;
        return;
    }
    struct sasl_req *r = s->sasl;
    r->opcode = h->opcode;
    memcpy(r->mech, key, h->keylen);
    r->nmech = h->keylen;
    r->vlen = vlen;
    r->filled = 0;
    s->state = BIN_STATE_SASL;
}

/* RFC 4616's message, authzid NUL authcid NUL passwd, against the users. */
static bool sasl_plain(const struct proto_env *env, const char *d, size_t n)
{
    const char *z = memchr(d, '\0', n);
    if (z == NULL)
        return false;
    const char *user = z + 1;
    const char *z2 = memchr(user, '\0', (size_t)(d + n - user));
    if (z2 == NULL)
        return false;
    const char *pass = z2 + 1;
    size_t ulen = (size_t)(z2 - user), zlen = (size_t)(z - d), plen = (size_t)(d + n - pass);
    /* Cyrus refuses a third NUL, an empty user, and acting as another user. */
    if (memchr(pass, '\0', plen) != NULL || ulen == 0)
        return false;
    if (zlen != 0 && (zlen != ulen || memcmp(d, user, ulen) != 0))
        return false;
    return auth_check(env->settings->sasl_users, user, ulen, pass, plen);
}

/* All the data is in: run the step and answer. */
static void sasl_step(struct bin_session *s, const struct proto_env *env, struct reply *out)
{
    struct sasl_req *r = s->sasl;
    bool plain = r->nmech == 5 && strncasecmp(r->mech, "PLAIN", 5) == 0;
    bool too_long = r->vlen > SASL_DATA_MAX;
    if (r->opcode == BIN_CMD_SASL_AUTH) {
        s->sasl_started = plain;
        if (plain && r->vlen == 0) {
            s->sasl_waiting = true;     /* PLAIN without an initial response */
            sasl_reply(s, out, SASL_AUTH_CONTINUE, NULL, 0);
            return;
        }
        s->sasl_waiting = false;
        if (!plain || too_long || !sasl_plain(env, r->data, r->vlen)) {
            sasl_failed(s, env, out);
            return;
        }
    } else {
        /* A step only continues a PLAIN exchange that asked for it. */
        bool waiting = s->sasl_started && s->sasl_waiting;
        s->sasl_waiting = false;
        if (!waiting || too_long || !sasl_plain(env, r->data, r->vlen)) {
            sasl_failed(s, env, out);
            return;
        }
    }
    s->authenticated = true;
    counter_inc(&env->counters->auth_cmds);
    sasl_reply(s, out, BIN_OK, "Authenticated", 13);
}

size_t sasl_data(struct bin_session *s, const struct proto_env *env, const char *buf,
                 size_t len, struct reply *out)
{
    struct sasl_req *r = s->sasl;
    size_t n = len < r->vlen - r->filled ? len : r->vlen - r->filled;
    if (r->filled < SASL_DATA_MAX) {
        size_t keep = SASL_DATA_MAX - r->filled < n ? SASL_DATA_MAX - r->filled : n;
        memcpy(r->data + r->filled, buf, keep);
    }
    r->filled += (uint32_t)n;
    if (r->filled < r->vlen)
        return n;
    s->state = BIN_STATE_HEADER;
    sasl_step(s, env, out);
    /* The password goes with the request. */
    memset(r->data, 0, r->vlen < SASL_DATA_MAX ? r->vlen : SASL_DATA_MAX);
    __asm__ __volatile__("" : : "r"(r->data) : "memory");
    free(s->sasl);
    s->sasl = NULL;
    return n;
}
