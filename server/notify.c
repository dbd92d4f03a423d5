/*
 * notify: the sd_notify datagram protocol without libsystemd.  The protocol
 * is one AF_UNIX datagram of newline-separated KEY=VALUE lines to the path
 * in $NOTIFY_SOCKET ('@' first means Linux's abstract namespace): twenty
 * lines of code do not justify a library dependency.
 *
 * The socket is connected once at start-up, while mcd may still be root:
 * systemd's socket accepts anyone, but a test's or another manager's may
 * not accept the -u user, and a connected datagram socket keeps working
 * after the switch.  The variable is removed so that nothing mcd might
 * start would talk to the manager in mcd's name.
 */
#include "notify.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"

static int notify_fd = -1;

void notify_setup(void)
{
    const char *path = getenv("NOTIFY_SOCKET");
    if (path == NULL || path[0] == '\0')
        return;
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    size_t len = strlen(path);
    if ((path[0] != '/' && path[0] != '@') || len >= sizeof(sa.sun_path)) {
        log_msg(LOG_ERROR, "NOTIFY_SOCKET=%s: not a socket path; not notifying", path);
        unsetenv("NOTIFY_SOCKET");
        return;
    }
    memcpy(sa.sun_path, path, len);
    if (path[0] == '@')
        sa.sun_path[0] = '\0';
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa,
                          (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len)) != 0) {
        log_msg(LOG_ERROR, "cannot reach the service manager at %s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
    } else {
        notify_fd = fd;
    }
    unsetenv("NOTIFY_SOCKET");
}

bool notify_enabled(void) { return notify_fd >= 0; }

int notify_send(const char *fmt, ...)
{
    if (notify_fd < 0)
        return 0;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (n < 0)
        return -EINVAL;
    if ((size_t)n >= sizeof(msg))
        n = sizeof(msg) - 1;
    if (send(notify_fd, msg, (size_t)n, MSG_NOSIGNAL) < 0) {
        int e = errno;
        log_msg(LOG_INFO, "notifying the service manager: %s", strerror(e));
        return -e;
    }
    return 0;
}

void notify_teardown(void)
{
    if (notify_fd >= 0)
        close(notify_fd);
    notify_fd = -1;
}
