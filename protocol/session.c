/*
 * session: a client's protocol state behind one entry point, proto_feed().
 *
 * The transport owns the socket and the input buffer; the session owns
 * everything about the protocol: which one the client speaks (chosen once,
 * from its first byte, as memcached does: under -B auto a 0x80 means
 * binary and anything else text; -B ascii or -B binary fix it, and the
 * other protocol's bytes are then read as garbage of the fixed one), the
 * request in progress, and the reply.  What the transport must do next
 * comes back as a proto_status, so it never looks inside a protocol.
 */
#include "session.h"

#include <stdlib.h>

#include "auth.h"
#include "binary.h"
#include "text.h"

enum session_kind { SESSION_UNKNOWN = 0, SESSION_TEXT, SESSION_BINARY };

struct proto_session {
    enum session_kind kind;
    bool datagram;
    struct text_session text;
    struct bin_session bin;
    struct auth_text auth;      /* -Y: the text protocol's gate */
    struct reply out;
};

struct proto_session *proto_session_new(enum proto_transport t)
{
    struct proto_session *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return NULL;
    s->datagram = t == PROTO_DATAGRAM;
    reply_init(&s->out);
    s->out.track_bounds = s->datagram;
    return s;
}

void proto_session_free(struct proto_session *s)
{
    if (s == NULL)
        return;
    text_session_reset(&s->text);
    bin_session_reset(&s->bin);
    reply_free(&s->out);
    free(s);
}

void proto_session_reset(struct proto_session *s)
{
    text_session_reset(&s->text);
    bin_session_reset(&s->bin);
    reply_reset(&s->out);
    s->kind = SESSION_UNKNOWN;
    s->auth = (struct auth_text){ 0 };
}

static enum session_kind session_pick(const struct proto_env *env, unsigned char first)
{
    /* -Y and -S fix the protocol whatever -B says (options.c refuses a -B
     * that contradicts them): binary bytes never bypass the text gate. */
    if (env->settings->auth_ascii != NULL)
        return SESSION_TEXT;
    if (env->settings->sasl)
        return SESSION_BINARY;
    switch (env->settings->protocol) {
    case PROTO_MODE_ASCII: return SESSION_TEXT;
    case PROTO_MODE_BINARY: return SESSION_BINARY;
    default: return first == BIN_REQ_MAGIC ? SESSION_BINARY : SESSION_TEXT;
    }
}

size_t proto_feed(struct proto_session *s, const struct proto_env *env, const char *buf,
                  size_t len, enum proto_status *st)
{
    if (s->kind == SESSION_UNKNOWN) {
        if (len == 0) {
            *st = PROTO_WANT_INPUT;
            return 0;
        }
        s->kind = session_pick(env, (unsigned char)buf[0]);
    }
    if (s->kind == SESSION_BINARY)
        return bin_feed(&s->bin, env, buf, len, &s->out, st);
    /* -Y: nothing reaches the text protocol before the client authenticated
     * (auth.c); what follows the authentication in the same read does. */
    if (env->settings->auth_ascii != NULL && !s->auth.authenticated) {
        size_t n = auth_text_feed(&s->auth, env, buf, len, &s->out, st);
        if (!s->auth.authenticated || *st != PROTO_WANT_INPUT)
            return n;
        return n + text_feed(&s->text, env, buf + n, len - n, &s->out, st);
    }
    return text_feed(&s->text, env, buf, len, &s->out, st);
}

struct reply *proto_session_reply(struct proto_session *s) { return &s->out; }

unsigned proto_session_watching(const struct proto_session *s)
{
    return s->kind == SESSION_TEXT && s->text.state == TEXT_STATE_WATCH ? s->text.watch_flags : 0;
}
