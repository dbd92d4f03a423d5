/*
 * sasl: memcached's SASL authentication for the binary protocol (-S), the
 * PLAIN mechanism over a user file (auth.h).  See sasl.c.
 */
#ifndef MCD_SASL_H
#define MCD_SASL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "binary.h"
#include "proto.h"
#include "reply.h"

/* memcached's longest mechanism name. */
#define SASL_MECH_MAX 32
/* The longest SASL data buffered ("authzid\0user\0password" is shorter);
 * longer data is read and dropped, then refused. */
#define SASL_DATA_MAX 1024
/* The reply status asking for another step. */
#define SASL_AUTH_CONTINUE 0x21

/* A connection's SASL exchange while its data is read; freed after. */
struct sasl_req {
    uint8_t opcode;             /* SASL_AUTH or SASL_STEP */
    char mech[SASL_MECH_MAX];
    size_t nmech;
    uint32_t vlen, filled;
    char data[SASL_DATA_MAX];
};

/* Whether a request with this opcode may run before the connection has
 * authenticated (memcached: the SASL commands and VERSION). */
bool sasl_allows(uint8_t opcode);
/* SASL_LIST_MECHS: "PLAIN". */
void sasl_list_mechs(struct bin_session *s, struct reply *out);
/* SASL_AUTH or SASL_STEP whose header and key (the mechanism) are in: read
 * its data next (BIN_STATE_SASL), or refuse it. */
void sasl_begin(struct bin_session *s, const struct proto_env *env, const struct bin_header *h,
                const char *key, struct reply *out);
/* Data of the SASL request being read; returns the bytes consumed and
 * answers once all are in (the session is then back in BIN_STATE_HEADER). */
size_t sasl_data(struct bin_session *s, const struct proto_env *env, const char *buf,
                 size_t len, struct reply *out);

#endif
