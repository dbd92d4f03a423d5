/*
 * log: verbosity-gated messages on stderr.  The level is one atomic int
 * read on each call, so the `verbosity` command takes effect at once in
 * every thread without a lock.
 */
#include "log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>

static _Atomic int verbosity;

void log_set_level(int level) { atomic_store_explicit(&verbosity, level, memory_order_relaxed); }

int log_level(void) { return atomic_load_explicit(&verbosity, memory_order_relaxed); }

void log_msg(int level, const char *fmt, ...)
{
    if (level > log_level())
        return;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}
