#ifndef CNEPTUNELINUX_SHIM_H
#define CNEPTUNELINUX_SHIM_H

// The Linux system calls neptune-server's client transport needs and Glibc's Swift module does not export:
// epoll, eventfd and accept4 (declared by <sys/socket.h> only under _GNU_SOURCE).
#ifdef __linux__
#include <stddef.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/prctl.h>

extern int accept4(int sockfd, struct sockaddr *addr, socklen_t *addrlen, int flags);

/// Accepts a pending connection on `fd` as a non-blocking, close-on-exec socket.
static inline int neptune_accept(int fd) {
    return accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
}

/// Names the calling thread (at most 15 bytes are kept), as `top -H` and `perf` show it.
static inline void neptune_set_thread_name(const char *name) {
    prctl(PR_SET_NAME, name, 0, 0, 0);
}

/// Turns on TCP keepalive probes after `seconds` idle, as Redis's `tcp-keepalive`: then every third of that,
/// closing the connection after 3 unanswered probes. Returns 0, or -1 with errno set.
static inline int neptune_set_keepalive(int fd, int seconds) {
    int yes = 1;
    if (setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &yes, sizeof(yes)) != 0) return -1;
    if (setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &seconds, sizeof(seconds)) != 0) return -1;
    int interval = seconds / 3;
    if (interval == 0) interval = 1;
    if (setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &interval, sizeof(interval)) != 0) return -1;
    int count = 3;
    return setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &count, sizeof(count));
}

/// Writes the IP address of `fd`'s peer (`peer` != 0) or of the socket itself as text into `buffer` and returns
/// its port, or -1 if the socket has no IPv4 or IPv6 address.
static inline int neptune_socket_address(int fd, int peer, char *buffer, socklen_t size) {
    struct sockaddr_storage storage;
    socklen_t length = sizeof(storage);
    int result = peer ? getpeername(fd, (struct sockaddr *)&storage, &length)
                      : getsockname(fd, (struct sockaddr *)&storage, &length);
    if (result != 0) return -1;
    if (storage.ss_family == AF_INET) {
        struct sockaddr_in *address = (struct sockaddr_in *)&storage;
        if (inet_ntop(AF_INET, &address->sin_addr, buffer, size) == NULL) return -1;
        return ntohs(address->sin_port);
    }
    if (storage.ss_family == AF_INET6) {
        struct sockaddr_in6 *address = (struct sockaddr_in6 *)&storage;
        if (inet_ntop(AF_INET6, &address->sin6_addr, buffer, size) == NULL) return -1;
        return ntohs(address->sin6_port);
    }
    return -1;
}
#endif

#endif
