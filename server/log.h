/*
 * log: messages to stderr by memcached's verbosity levels (-v, -vv, -vvv),
 * one line each, with their syslog priority when stderr is the journal.
 */
#ifndef MCD_LOG_H
#define MCD_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

enum log_level { LOG_ERROR = 0, LOG_INFO = 1, LOG_DEBUG = 2, LOG_TRACE = 3 };

/* Look whether stderr is systemd's journal ($JOURNAL_STREAM). */
void log_setup(void);
/* Set the verbosity (also at run time, from the `verbosity` command). */
void log_set_level(int level);
/* Current verbosity. */
int log_level(void);
/* Print when `level` <= verbosity; errors always print. */
void log_msg(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The line log_msg writes, into out[n] (n > 4): the "<priority>" prefix
 * when `journal`, the message with any line break made a space, '\n'.
 * Returns its length. */
size_t log_format(char *out, size_t n, int level, bool journal, const char *fmt, va_list ap);

#endif
