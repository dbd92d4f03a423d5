/*
 * log: verbosity-gated messages on stderr.  The level is one atomic int
 * read on each call, so the `verbosity` command takes effect at once in
 * every thread without a lock.
 *
 * Each message is one line, written with one write(2), so lines of
 * several threads never mix.  The wording is memcached's where memcached
 * has the message, for scripts that look for it.  Under systemd, stderr is
 * a stream to the journal (it says so in $JOURNAL_STREAM): each line then
 * starts with its syslog priority ("<3>" error, "<6>" info, "<7>" debug,
 * sd-daemon(3)), which the journal takes off and records, so
 * `journalctl -u mcd -p err` shows the errors alone.
 */
#include "log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static _Atomic int verbosity;
static _Atomic bool to_journal;

void log_set_level(int level) { atomic_store_explicit(&verbosity, level, memory_order_relaxed); }

int log_level(void) { return atomic_load_explicit(&verbosity, memory_order_relaxed); }

void log_setup(void)
{
    /* "<device>:<inode>" of the journal's stream, if stderr is it. */
    const char *js = getenv("JOURNAL_STREAM");
    struct stat st;
    unsigned long long dev, ino;
    bool journal = js != NULL && sscanf(js, "%llu:%llu", &dev, &ino) == 2 &&
                   fstat(STDERR_FILENO, &st) == 0 && (unsigned long long)st.st_dev == dev &&
                   (unsigned long long)st.st_ino == ino;
    atomic_store(&to_journal, journal);
}

size_t log_format(char *out, size_t n, int level, bool journal, const char *fmt, va_list ap)
{
    static const char prio[] = { '3', '6', '7', '7' };
    size_t len = 0;
    if (journal && n > 3) {
        out[0] = '<';
        out[1] = prio[level < 0 ? 0 : level > LOG_TRACE ? LOG_TRACE : level];
        out[2] = '>';
        len = 3;
    }
    int m = vsnprintf(out + len, n - len - 1, fmt, ap);
    if (m < 0)
        m = 0;
    len += (size_t)m < n - len - 1 ? (size_t)m : n - len - 2;
    /* One message, one line. */
    for (size_t i = 0; i < len; i++)
        if (out[i] == '\n' || out[i] == '\r')
            out[i] = ' ';
    out[len++] = '\n';
    return len;
}

void log_msg(int level, const char *fmt, ...)
{
    if (level > log_level())
        return;
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    size_t len = log_format(line, sizeof(line), level,
                            atomic_load_explicit(&to_journal, memory_order_relaxed), fmt, ap);
    va_end(ap);
    if (write(STDERR_FILENO, line, len) < 0)
        return;
}
