/* Fault injection for the test suite, loaded with LD_PRELOAD (Linux).
 *
 * On sockets only, driven by a seed, it makes the kernel's legal-but-unkind behaviour happen
 * all the time instead of rarely:
 *   - stream transfers are cut short to a random 1..n bytes (datagrams stay whole);
 *   - blocking-prone calls fail with EINTR before doing anything;
 *   - connect completes the connection and then reports EINTR, as when a signal lands
 *     mid-connect (the connection goes on; the caller must not treat it as failed).
 *
 * Environment: FAULT_SEED (default 1), FAULT_SHORT_PERCENT (default 50), FAULT_EINTR_PERCENT
 * (default 10), FAULT_REPORT (file to which a summary line is appended at exit),
 * FAULT_GETADDRINFO_DELAY_MS (unset: 0): every name lookup first waits this long, like a
 * resolver whose DNS server has gone (numeric lookups, AI_NUMERICHOST, stay instant).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

static atomic_ulong shortened, interrupted, thread_seeds;
static unsigned short_percent = 50, eintr_percent = 10;
static unsigned long base_seed = 1;
static _Thread_local uint64_t rng_state;

__attribute__((constructor)) static void fault_init(void) {
    const char* s = getenv("FAULT_SEED");
    if (s) base_seed = strtoul(s, NULL, 10);
    if ((s = getenv("FAULT_SHORT_PERCENT"))) short_percent = (unsigned)atoi(s);
    if ((s = getenv("FAULT_EINTR_PERCENT"))) eintr_percent = (unsigned)atoi(s);
}

__attribute__((destructor)) static void fault_report(void) {
    const char* path = getenv("FAULT_REPORT");
    FILE* out = path ? fopen(path, "a") : NULL;
    if (!out) return;
    fprintf(out, "shortened %lu interrupted %lu\n", atomic_load(&shortened), atomic_load(&interrupted));
    fclose(out);
}

/* xorshift64*, one stream per thread, derived from the seed and the thread's arrival order. */
static uint64_t next_random(void) {
    if (!rng_state) rng_state = (base_seed * 0x9E3779B97F4A7C15ull) ^ (atomic_fetch_add(&thread_seeds, 1) + 1) * 0xD1B54A32D192ED03ull;
    if (!rng_state) rng_state = 1;
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1Dull;
}
static int chance(unsigned percent) { return (unsigned)(next_random() % 100) < percent; }

static int is_socket(int fd) {
    struct stat st;
    return fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode);
}
static int is_stream_socket(int fd) {
    int type = 0;
    socklen_t len = sizeof type;
    return is_socket(fd) && getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0 && type == SOCK_STREAM;
}

static int inject_eintr(int fd) {
    if (fd >= 0 && !is_socket(fd)) return 0;
    if (!chance(eintr_percent)) return 0;
    atomic_fetch_add(&interrupted, 1);
    errno = EINTR;
    return 1;
}

static size_t cut(int fd, size_t len) {
    if (len <= 1 || !is_stream_socket(fd) || !chance(short_percent)) return len;
    atomic_fetch_add(&shortened, 1);
    return 1 + (size_t)(next_random() % (len - 1));
}

/* Copies iov into out, trimmed to at most limit bytes in total; returns the new count. */
static int trim_iov(const struct iovec* iov, int count, size_t limit, struct iovec* out) {
    int n = 0;
    for (int i = 0; i < count && limit > 0; ++i) {
        out[n] = iov[i];
        if (out[n].iov_len > limit) out[n].iov_len = limit;
        limit -= out[n].iov_len;
        ++n;
    }
    return n;
}
static size_t iov_total(const struct iovec* iov, int count) {
    size_t total = 0;
    for (int i = 0; i < count; ++i) total += iov[i].iov_len;
    return total;
}

#define REAL(name) static __typeof__(name)* real_##name; if (!real_##name) real_##name = (__typeof__(name)*)dlsym(RTLD_NEXT, #name)

ssize_t send(int fd, const void* buf, size_t len, int flags) {
    REAL(send);
    if (inject_eintr(fd)) return -1;
    return real_send(fd, buf, cut(fd, len), flags);
}
ssize_t recv(int fd, void* buf, size_t len, int flags) {
    REAL(recv);
    if (inject_eintr(fd)) return -1;
    return real_recv(fd, buf, cut(fd, len), flags);
}
ssize_t sendto(int fd, const void* buf, size_t len, int flags, const struct sockaddr* to, socklen_t tolen) {
    REAL(sendto);
    if (inject_eintr(fd)) return -1;
    return real_sendto(fd, buf, cut(fd, len), flags, to, tolen);
}
ssize_t recvfrom(int fd, void* buf, size_t len, int flags, struct sockaddr* from, socklen_t* fromlen) {
    REAL(recvfrom);
    if (inject_eintr(fd)) return -1;
    return real_recvfrom(fd, buf, cut(fd, len), flags, from, fromlen);
}
ssize_t read(int fd, void* buf, size_t len) {
    REAL(read);
    if (is_socket(fd) && inject_eintr(fd)) return -1;
    return real_read(fd, buf, is_socket(fd) ? cut(fd, len) : len);
}
ssize_t write(int fd, const void* buf, size_t len) {
    REAL(write);
    if (is_socket(fd) && inject_eintr(fd)) return -1;
    return real_write(fd, buf, is_socket(fd) ? cut(fd, len) : len);
}

static ssize_t vector_io(int fd, const struct iovec* iov, int count, ssize_t (*call)(int, const struct iovec*, int, void*), void* ctx) {
    struct iovec trimmed[1024];
    if (count > 1024) count = 1024;
    size_t total = iov_total(iov, count);
    size_t limit = cut(fd, total);
    if (limit == total) return call(fd, iov, count, ctx);
    int n = trim_iov(iov, count, limit, trimmed);
    return call(fd, trimmed, n, ctx);
}

static ssize_t call_writev(int fd, const struct iovec* iov, int n, void* ctx) {
    (void)ctx;
    REAL(writev);
    return real_writev(fd, iov, n);
}
static ssize_t call_readv(int fd, const struct iovec* iov, int n, void* ctx) {
    (void)ctx;
    REAL(readv);
    return real_readv(fd, iov, n);
}
ssize_t writev(int fd, const struct iovec* iov, int count) {
    if (is_socket(fd) && inject_eintr(fd)) return -1;
    if (!is_socket(fd)) return call_writev(fd, iov, count, NULL);
    return vector_io(fd, iov, count, call_writev, NULL);
}
ssize_t readv(int fd, const struct iovec* iov, int count) {
    if (is_socket(fd) && inject_eintr(fd)) return -1;
    if (!is_socket(fd)) return call_readv(fd, iov, count, NULL);
    return vector_io(fd, iov, count, call_readv, NULL);
}

struct MsgContext { const struct msghdr* message; int flags; };
static ssize_t call_sendmsg(int fd, const struct iovec* iov, int n, void* ctx) {
    REAL(sendmsg);
    struct MsgContext* c = ctx;
    struct msghdr copy = *c->message;
    copy.msg_iov = (struct iovec*)iov;
    copy.msg_iovlen = (size_t)n;
    return real_sendmsg(fd, &copy, c->flags);
}
static ssize_t call_recvmsg(int fd, const struct iovec* iov, int n, void* ctx) {
    REAL(recvmsg);
    struct MsgContext* c = ctx;
    struct msghdr* message = (struct msghdr*)c->message;
    struct iovec* original = message->msg_iov;
    size_t original_len = message->msg_iovlen;
    message->msg_iov = (struct iovec*)iov;
    message->msg_iovlen = (size_t)n;
    ssize_t r = real_recvmsg(fd, message, c->flags);
    message->msg_iov = original;
    message->msg_iovlen = original_len;
    return r;
}
ssize_t sendmsg(int fd, const struct msghdr* message, int flags) {
    if (inject_eintr(fd)) return -1;
    struct MsgContext c = {message, flags};
    return vector_io(fd, message->msg_iov, (int)message->msg_iovlen, call_sendmsg, &c);
}
ssize_t recvmsg(int fd, struct msghdr* message, int flags) {
    if (inject_eintr(fd)) return -1;
    struct MsgContext c = {message, flags};
    return vector_io(fd, message->msg_iov, (int)message->msg_iovlen, call_recvmsg, &c);
}

int accept(int fd, struct sockaddr* addr, socklen_t* len) {
    REAL(accept);
    if (inject_eintr(fd)) return -1;
    return real_accept(fd, addr, len);
}
int accept4(int fd, struct sockaddr* addr, socklen_t* len, int flags) {
    REAL(accept4);
    if (inject_eintr(fd)) return -1;
    return real_accept4(fd, addr, len, flags);
}
int connect(int fd, const struct sockaddr* addr, socklen_t len) {
    REAL(connect);
    int rc = real_connect(fd, addr, len);
    int saved = errno;
    /* The connection is established or under way; the caller is told EINTR all the same. */
    if ((rc == 0 || saved == EINPROGRESS) && chance(eintr_percent)) {
        atomic_fetch_add(&interrupted, 1);
        errno = EINTR;
        return -1;
    }
    errno = saved;
    return rc;
}
int poll(struct pollfd* fds, nfds_t n, int timeout) {
    REAL(poll);
    if (inject_eintr(-1)) return -1;
    return real_poll(fds, n, timeout);
}
int select(int n, fd_set* r, fd_set* w, fd_set* e, struct timeval* timeout) {
    REAL(select);
    if (inject_eintr(-1)) return -1;
    return real_select(n, r, w, e, timeout);
}
int epoll_wait(int epfd, struct epoll_event* events, int max, int timeout) {
    REAL(epoll_wait);
    if (inject_eintr(-1)) return -1;
    return real_epoll_wait(epfd, events, max, timeout);
}

int getaddrinfo(const char* node, const char* service, const struct addrinfo* hints, struct addrinfo** result) {
    REAL(getaddrinfo);
    const char* delay = getenv("FAULT_GETADDRINFO_DELAY_MS");
    if (delay && node && !(hints && (hints->ai_flags & AI_NUMERICHOST))) {
        long ms = atol(delay);
        struct timespec left = {ms / 1000, (ms % 1000) * 1000000L};
        while (nanosleep(&left, &left) != 0 && errno == EINTR) {
        }
    }
    return real_getaddrinfo(node, service, hints, result);
}
