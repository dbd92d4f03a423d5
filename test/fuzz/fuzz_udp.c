/*
 * libFuzzer target: the UDP transport's framing (server/udp.c, unchanged):
 * the input is one datagram, 8-byte frame header included, sent over a
 * pair of AF_UNIX datagram sockets to a real udp_port, which serves it on
 * a fresh cache.  Every datagram that comes back must carry the request's
 * id, a sequence number below its count (or a count of 0 for an empty
 * response), and at most 1400 bytes.
 */
#include <errno.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "fuzz_common.h"
#include "udp.h"

static int client_fd = -1, server_fd = -1;

/* Two datagram sockets with abstract names, so replies have an address. */
static void sockets_up(void)
{
    if (client_fd >= 0)
        return;
    int fds[2];
    for (int i = 0; i < 2; i++) {
        fds[i] = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        FUZZ_CHECK(fds[i] >= 0);
        struct sockaddr_un a = { .sun_family = AF_UNIX };
        /* An address of the family alone: the kernel picks an abstract name. */
        FUZZ_CHECK(bind(fds[i], (struct sockaddr *)&a, sizeof(sa_family_t)) == 0);
        int big = 4 * 1024 * 1024;
        setsockopt(fds[i], SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
        setsockopt(fds[i], SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
    }
    struct sockaddr_un sa;
    socklen_t len = sizeof(sa);
    FUZZ_CHECK(getsockname(fds[1], (struct sockaddr *)&sa, &len) == 0);
    FUZZ_CHECK(connect(fds[0], (struct sockaddr *)&sa, len) == 0);
    client_fd = fds[0];
    server_fd = fds[1];
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 65000)
        return 0;
    sockets_up();
    fuzz_settings_defaults();
    fuzz_cache_up();
    struct udp_port *u = udp_port_new(dup(server_fd));
    FUZZ_CHECK(u != NULL);
    if (send(client_fd, data, size, 0) < 0) {
        FUZZ_CHECK(errno == EAGAIN || errno == EMSGSIZE || errno == ENOBUFS);
    }
    udp_port_serve(u, &fuzz_env);
    static char dgram[65536];
    ssize_t r;
    while ((r = recv(client_fd, dgram, sizeof(dgram), 0)) >= 0) {
        FUZZ_CHECK(r >= 8 && r <= 1400);
        FUZZ_CHECK(size >= 8 && memcmp(dgram, data, 2) == 0);
        unsigned seq = (unsigned char)dgram[2] << 8 | (unsigned char)dgram[3];
        unsigned total = (unsigned char)dgram[4] << 8 | (unsigned char)dgram[5];
        FUZZ_CHECK(seq < total || (total == 0 && seq == 0 && r == 8));
        FUZZ_CHECK(dgram[6] == 0 && dgram[7] == 0);
    }
    FUZZ_CHECK(errno == EAGAIN || errno == EWOULDBLOCK);
    udp_port_free(u);
    fuzz_cache_down();
    return 0;
}
