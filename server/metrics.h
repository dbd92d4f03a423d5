/*
 * metrics: a Prometheus text-format endpoint (-o metrics_port=N), off by
 * default.  See metrics.c.
 */
#ifndef MCD_METRICS_H
#define MCD_METRICS_H

#include <stdio.h>

#include "config.h"
#include "proto.h"
#include "timing.h"

struct metrics_options {
    const struct config *cfg;           /* metrics_port, the -l addresses */
    const struct proto_settings *settings;
    const struct proto_hooks *hooks;    /* server-wide figures, as `stats` gets them */
    /* Sum every worker's latency histograms into `out` (zeroed first). */
    void (*timing_sum)(struct proto_timing *out);
};

/* Bind the port and start the thread that answers scrapes.  0 or -errno
 * (logged). */
int metrics_start(const struct metrics_options *opt);
/* Stop the thread and close the sockets. */
void metrics_stop(void);
/* The page a scrape gets, written to `f` (for tests of the format too). */
void metrics_write(FILE *f, const struct metrics_options *opt);

#endif
