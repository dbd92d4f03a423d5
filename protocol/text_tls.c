/*
 * text_tls: refresh_certs, the one text command about TLS.  memcached
 * 1.6.18 built with TLS (Debian's is) knows it whether or not -Z is on:
 * without -Z it answers "Error TLS not enabled".  The loading itself is the
 * server's (env->hooks->refresh_certs); a failure's message is memcached's
 * and is sent even with noreply, as memcached sends it.
 */
#include "text.h"

#include <stdio.h>

void text_refresh_certs(const struct proto_env *env, const struct text_req *r, struct reply *out)
{
    char err[512];
    bool ok = false;
    if (env->hooks->refresh_certs == NULL)
        snprintf(err, sizeof(err), "Error TLS not enabled\r\n");
    else
        ok = env->hooks->refresh_certs(env->hooks->arg, err, sizeof(err));
    if (!ok)
        reply_str(out, err);
    else if (!r->noreply)
        msg_reply(out, MSG_OK);
}
