/*
 * options: memcached's command line, parsed once into a struct config.
 */
#ifndef MCD_OPTIONS_H
#define MCD_OPTIONS_H

#include <stdio.h>

#include "config.h"

enum { OPTIONS_ERROR = -1, OPTIONS_RUN = 0, OPTIONS_EXIT_OK = 1 };

/* Fill cfg with memcached's defaults. */
void options_defaults(struct config *cfg);
/* Parse argv: OPTIONS_RUN, OPTIONS_EXIT_OK after -h/-V, or OPTIONS_ERROR
 * after printing why to err (the caller exits 64). */
int options_parse(struct config *cfg, int argc, char **argv, FILE *out, FILE *err);
/* Free what options_parse allocated. */
void options_free(struct config *cfg);
/* The --help text. */
void options_usage(FILE *f);

#endif
