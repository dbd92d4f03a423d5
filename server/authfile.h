/*
 * authfile: reading the user files of -Y and -S into the tables the
 * protocol checks (protocol/auth.h).  See authfile.c.
 */
#ifndef MCD_AUTHFILE_H
#define MCD_AUTHFILE_H

#include "config.h"
#include "proto.h"

/* Load -Y's file and, with -S, the file MEMCACHED_SASL_PWDB names, into
 * `s`: 0, or -1 after memcached's message for what failed went to stderr. */
int authfile_setup(const struct config *cfg, struct proto_settings *s);
/* Read the files authfile_setup read again, while workers check passwords:
 * each that loads replaces its users.  0, or -1 if one did not load (its
 * old users stay; memcached's message went to stderr). */
int authfile_reload(const struct config *cfg, struct proto_settings *s);
/* Free what authfile_setup loaded. */
void authfile_teardown(struct proto_settings *s);

#endif
