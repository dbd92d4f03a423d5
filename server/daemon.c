/*
 * daemon: start-up chores, in memcached's order and with its messages, so
 * init scripts and unit files written for memcached behave the same.
 */
#include "daemon.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include "log.h"
#include "persist_format.h"

int daemon_check_user(const struct config *cfg)
{
    if ((getuid() == 0 || geteuid() == 0) && (cfg->user == NULL || cfg->user[0] == '\0')) {
        fprintf(stderr, "can't run as root without the -u switch\n");
        return -EPERM;
    }
    return 0;
}

int daemon_set_limits(const struct config *cfg)
{
    struct rlimit rl;
    if (cfg->coredumps) {
        /* Ask for unlimited cores; fall back to the hard limit. */
        if (getrlimit(RLIMIT_CORE, &rl) == 0) {
            struct rlimit want = { RLIM_INFINITY, RLIM_INFINITY };
            if (setrlimit(RLIMIT_CORE, &want) != 0) {
                rl.rlim_cur = rl.rlim_max;
                setrlimit(RLIMIT_CORE, &rl);
            }
        }
        if (getrlimit(RLIMIT_CORE, &rl) != 0 || rl.rlim_cur == 0) {
            fprintf(stderr, "failed to ensure corefile creation\n");
            return -EPERM;
        }
    }
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
        fprintf(stderr, "failed to getrlimit number of files\n");
        return -errno;
    }
    /* Raise the limit now, while we may still be root.  Short of the
     * estimate, take what the hard limit allows: daemon_check_fds decides
     * on the real count once everything is open. */
    rlim_t need = (rlim_t)cfg->maxconns + (rlim_t)daemon_fds_estimate(cfg);
    if (rl.rlim_cur < need) {
        struct rlimit want = { need, rl.rlim_max > need ? rl.rlim_max : need };
        if (setrlimit(RLIMIT_NOFILE, &want) != 0 && rl.rlim_cur < rl.rlim_max) {
            rl.rlim_cur = rl.rlim_max;
            setrlimit(RLIMIT_NOFILE, &rl);
        }
    }
    return 0;
}

int daemon_fds_estimate(const struct config *cfg)
{
    int addrs = cfg->nlisten > 0 ? cfg->nlisten : 1;
    /* An address may resolve to IPv4 and IPv6: two sockets each. */
    int tcp = cfg->unix_socket != NULL ? 1 : 2 * addrs;
    int udp = cfg->udp_port != 0 && cfg->unix_socket == NULL ? 2 * addrs : 0;
    /* stdio, the acceptor's epoll and eventfd, each worker's epoll, eventfd
     * and its own dup of every UDP socket, the UDP originals until the
     * workers have their dups, and the connection being refused over -c. */
    return 3 + 2 + tcp + cfg->threads * (2 + udp) + udp + 1 + DAEMON_FD_HEADROOM;
}

/* Descriptors open in this process now. */
static int daemon_count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (d == NULL)
        return -errno;
    int n = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        n += e->d_name[0] != '.';
    closedir(d);
    return n - 1;   /* the directory's own descriptor */
}

int daemon_check_fds(const struct config *cfg)
{
    int held = daemon_count_fds();
    struct rlimit rl;
    if (held < 0 || getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return 0;   /* no /proc: the estimate made at start-up stands */
    /* Every -c connection, plus one to accept and refuse the next client. */
    rlim_t need = (rlim_t)held + (rlim_t)cfg->maxconns + 1;
    if (rl.rlim_cur >= need)
        return 0;
    if (rl.rlim_max >= need) {
        rl.rlim_cur = need;
        if (setrlimit(RLIMIT_NOFILE, &rl) == 0)
            return 0;
    }
    fprintf(stderr, "not enough file descriptors: -c %d connections and the %d descriptors "
                    "mcd holds need %llu, but the limit is %llu (hard %llu). Raise ulimit -n, "
                    "or lower -c or -t.\n", cfg->maxconns, held, (unsigned long long)need,
            (unsigned long long)rl.rlim_cur, (unsigned long long)rl.rlim_max);
    return -EMFILE;
}

void daemon_lock_memory(const struct config *cfg)
{
    if (cfg->lock_memory && mlockall(MCL_CURRENT | MCL_FUTURE) != 0)
        fprintf(stderr, "warning: -k invalid, mlockall() failed: %s\n", strerror(errno));
}

int daemon_detach(const struct config *cfg)
{
    if (!cfg->daemonize)
        return 0;
    if (getppid() == 1)
        return 0;   /* already a daemon */
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "failed to daemon() in order to daemonize\n");
        return -errno;
    }
    if (pid > 0)
        _exit(EXIT_SUCCESS);
    if (setsid() < 0)
        return -errno;
    if (chdir("/") != 0)
        return -errno;
    if (cfg->verbose == 0) {
        int fd = open("/dev/null", O_RDWR);
        if (fd >= 0) {
            dup2(fd, STDIN_FILENO);
            dup2(fd, STDOUT_FILENO);
            dup2(fd, STDERR_FILENO);
            if (fd > STDERR_FILENO)
                close(fd);
        }
    }
    return 0;
}

void daemon_write_pidfile(const char *path)
{
    if (path == NULL)
        return;
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        fprintf(stderr, "Could not open the pid file %s for writing: %s\n", path, strerror(errno));
        return;
    }
    fprintf(f, "%ld\n", (long)getpid());
    if (fclose(f) != 0)
        fprintf(stderr, "Could not close the pid file %s: %s\n", path, strerror(errno));
}

void daemon_remove_pidfile(const char *path)
{
    if (path != NULL && unlink(path) != 0 && errno != ENOENT)
        fprintf(stderr, "Could not remove the pid file %s: %s\n", path, strerror(errno));
}

int daemon_drop_privileges(const struct config *cfg)
{
    if (getuid() != 0 && geteuid() != 0)
        return 0;
    struct passwd *pw = getpwnam(cfg->user);
    if (pw == NULL) {
        fprintf(stderr, "can't find the user %s to switch to\n", cfg->user);
        return -ENOENT;
    }
    /* EPERM means we are already as unprivileged as it gets: go on. */
    if (setgroups(0, NULL) != 0) {
        int e = errno;
        fprintf(stderr, "failed to drop supplementary groups: %s\n", strerror(e));
        if (e != EPERM)
            return -e;
    }
    if (setgid(pw->pw_gid) < 0 || setuid(pw->pw_uid) < 0) {
        fprintf(stderr, "failed to assume identity of user %s\n", cfg->user);
        return -EPERM;
    }
    return 0;
}

static void (*stop_cb)(void);
static void (*hup_cb)(void);
static volatile sig_atomic_t stop_signal;
/* Set by the SIGHUP handler, taken by the acceptor's thread (lock-free:
 * async-signal-safe). */
static atomic_bool reload_due;

static void daemon_on_signal(int sig)
{
    if (stop_signal == 0)
        stop_signal = sig;
    if (stop_cb != NULL)
        stop_cb();
}

static void daemon_on_hup(int sig)
{
    (void)sig;
    atomic_store(&reload_due, true);
    if (hup_cb != NULL)
        hup_cb();
}

/* The signals handled: those that stop mcd, and SIGHUP. */
static void stop_signals(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGUSR1);
    sigaddset(set, SIGHUP);
}

void daemon_signals(void (*on_stop)(void), void (*on_hup)(void))
{
    stop_cb = on_stop;
    hup_cb = on_hup;
    /* Held back until daemon_signals_deliver(): threads started meanwhile
     * inherit the mask, so the handler only ever runs on the thread that
     * delivers them, and a stop that comes during start-up waits, pending,
     * until there is a server to stop. */
    sigset_t set;
    stop_signals(&set);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = daemon_on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);
    sa.sa_handler = daemon_on_hup;
    sigaction(SIGHUP, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
}

int daemon_stop_signal(void) { return stop_signal; }

bool daemon_take_reload(void) { return atomic_exchange(&reload_due, false); }

void daemon_signals_deliver(void)
{
    sigset_t set;
    stop_signals(&set);
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);
}

void daemon_build_id(char *out, size_t n)
{
    /* The executable's own bytes: any rebuild is another build. */
    uint32_t crc = 0;
    int fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        static char buf[1 << 16];
        ssize_t r;
        while ((r = read(fd, buf, sizeof(buf))) > 0)
            crc = persist_crc32c(crc, buf, (size_t)r);
        close(fd);
    }
    snprintf(out, n, "mcd %s build %08x", MCD_VERSION, crc);
}
