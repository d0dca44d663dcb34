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

extern int accept4(int sockfd, struct sockaddr *addr, socklen_t *addrlen, int flags);

/// Accepts a pending connection on `fd` as a non-blocking, close-on-exec socket.
static inline int neptune_accept(int fd) {
    return accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
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
