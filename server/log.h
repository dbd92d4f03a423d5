/*
 * log: messages to stderr by memcached's verbosity levels (-v, -vv, -vvv).
 */
#ifndef MCD_LOG_H
#define MCD_LOG_H

enum log_level { LOG_ERROR = 0, LOG_INFO = 1, LOG_DEBUG = 2, LOG_TRACE = 3 };

/* Set the verbosity (also at run time, from the `verbosity` command). */
void log_set_level(int level);
/* Current verbosity. */
int log_level(void);
/* Print when `level` <= verbosity; errors always print. */
void log_msg(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
