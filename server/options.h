/*
 * options: memcached 1.6.18's command line, parsed once into a struct config.
 */
#ifndef MCD_OPTIONS_H
#define MCD_OPTIONS_H

#include <stdio.h>

#include "config.h"

enum { OPTIONS_ERROR = -1, OPTIONS_RUN = 0, OPTIONS_EXIT_OK = 1 };

/* Fill cfg with memcached's defaults (port 11211, -m 64, -c 1024, -t 4...). */
void options_defaults(struct config *cfg);
/* Parse argv into cfg: OPTIONS_RUN to start the server, OPTIONS_EXIT_OK after
 * -h/-V/-i printed to out, OPTIONS_ERROR after memcached's message for a bad
 * flag went to err (the caller exits 64).  Notes on flags mcd accepts but
 * ignores go to err only when the final verbosity is at least 1. */
int options_parse(struct config *cfg, int argc, char **argv, FILE *out, FILE *err);
/* Free the strings options_parse allocated; cfg may be parsed again after. */
void options_free(struct config *cfg);
/* Print the --help text to f. */
void options_usage(FILE *f);
/* One -o ssl_* key (options_tls.c): 0 read, OPTIONS_ERROR after memcached's
 * message went to err, 1 not a TLS key. */
int options_tls_key(struct config *cfg, const char *key, const char *val, FILE *err);

#endif
