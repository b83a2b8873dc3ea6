// Many connections on one server thread: 1,000 concurrent clients each with one 64 B request
// outstanding, echoed back by (a) a coroutine per connection on sockets::EventLoop, (b) a
// hand-written level-triggered epoll loop, (c) an Asio C++20 awaitable server (when built with
// Asio, bench-only). Each server runs in a child process of its own (forked before any thread
// exists), so its resident memory is its own; the client is this process, one epoll thread.
// Prints "name coro raw asio" lines for scripts/bench: requests/s (median of interleaved
// rounds) and resident bytes per idle connection. Nothing here asserts anything.
//
//   async_bench [--quick] [--connections N]
#include <sockets/async.hpp>
#include <sockets/sockets.hpp>

#if defined(SOCKETS_BENCH_ASIO)
#include <asio.hpp>
#endif

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

using Clock = std::chrono::steady_clock;

namespace {

constexpr std::size_t message = 64;
constexpr std::size_t buffer_size = 1024;  // each server's per-connection read buffer

[[noreturn]] void die(const char* what) {
    std::perror(what);
    std::exit(1);
}

// ---- the servers (each runs until killed) --------------------------------------------------

sockets::Task<void> coro_serve(sockets::EventLoop& loop, sockets::Socket s) {
    char buffer[buffer_size];
    std::error_code ec;
    for (;;) {
        std::size_t n = co_await loop.recv(s, buffer, sizeof buffer, sockets::Timeout::max(), ec);
        if (ec || n == 0) co_return;
        co_await loop.send_all(s, buffer, n, sockets::Timeout::max(), ec);
        if (ec) co_return;
    }
}

sockets::Task<void> coro_accept(sockets::EventLoop& loop, sockets::Socket& listener) {
    for (;;) {
        std::error_code ec;
        sockets::Socket s = co_await loop.accept(listener, sockets::Timeout::max(), ec);
        if (ec) continue;
        s.set_no_delay(true, ec);
        loop.spawn(coro_serve(loop, std::move(s)));
    }
}

void run_coro(int listen_fd) {
    sockets::Socket listener(listen_fd);
    sockets::EventLoop loop;
    loop.spawn(coro_accept(loop, listener));
    loop.run();
}

// What a careful programmer writes by hand: level-triggered epoll, non-blocking sockets, one
// shared buffer, and a per-connection pending buffer only for a reply the kernel did not take.
void run_epoll(int listen_fd) {
    int ep = ::epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) die("epoll_create1");
    ::fcntl(listen_fd, F_SETFL, O_NONBLOCK);
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = listen_fd;
    ::epoll_ctl(ep, EPOLL_CTL_ADD, listen_fd, &ev);
    std::vector<std::string> pending;  // by descriptor: unsent reply bytes (rare)
    std::vector<epoll_event> events(1024);
    char buffer[buffer_size];
    for (;;) {
        int n = ::epoll_wait(ep, events.data(), static_cast<int>(events.size()), -1);
        if (n < 0) {
            if (errno == EINTR) continue;
            die("epoll_wait");
        }
        for (int i = 0; i < n; ++i) {
            int fd = events[i].data.fd;
            if (fd == listen_fd) {
                for (;;) {
                    int c = ::accept4(listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
                    if (c < 0) break;
                    int one = 1;
                    ::setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    epoll_event add{};
                    add.events = EPOLLIN;
                    add.data.fd = c;
                    ::epoll_ctl(ep, EPOLL_CTL_ADD, c, &add);
                    if (static_cast<std::size_t>(c) >= pending.size()) pending.resize(static_cast<std::size_t>(c) + 1);
                }
                continue;
            }
            std::string& out = pending[static_cast<std::size_t>(fd)];
            if (events[i].events & EPOLLOUT) {
                ssize_t k = ::send(fd, out.data(), out.size(), MSG_NOSIGNAL);
                if (k > 0) out.erase(0, static_cast<std::size_t>(k));
                if (out.empty()) {
                    epoll_event mod{};
                    mod.events = EPOLLIN;
                    mod.data.fd = fd;
                    ::epoll_ctl(ep, EPOLL_CTL_MOD, fd, &mod);
                }
                continue;
            }
            ssize_t got = ::recv(fd, buffer, sizeof buffer, 0);
            if (got <= 0) {
                if (got < 0 && (errno == EAGAIN || errno == EINTR)) continue;
                ::close(fd);
                out.clear();
                continue;
            }
            ssize_t k = ::send(fd, buffer, static_cast<std::size_t>(got), MSG_NOSIGNAL);
            if (k < 0) k = 0;
            if (k < got) {
                out.append(buffer + k, static_cast<std::size_t>(got - k));
                epoll_event mod{};
                mod.events = EPOLLOUT;
                mod.data.fd = fd;
                ::epoll_ctl(ep, EPOLL_CTL_MOD, fd, &mod);
            }
        }
    }
}

#if defined(SOCKETS_BENCH_ASIO)
// Asio's own C++20 echo example, its buffer the same size as the others'.
asio::awaitable<void> asio_serve(asio::ip::tcp::socket s) {
    char data[buffer_size];
    for (;;) {
        std::error_code ec;
        std::size_t n = co_await s.async_read_some(asio::buffer(data), asio::redirect_error(asio::use_awaitable, ec));
        if (ec) co_return;
        co_await asio::async_write(s, asio::buffer(data, n), asio::redirect_error(asio::use_awaitable, ec));
        if (ec) co_return;
    }
}

asio::awaitable<void> asio_accept(asio::ip::tcp::acceptor& acceptor) {
    for (;;) {
        std::error_code ec;
        asio::ip::tcp::socket s = co_await acceptor.async_accept(asio::redirect_error(asio::use_awaitable, ec));
        if (ec) continue;
        s.set_option(asio::ip::tcp::no_delay(true), ec);
        asio::co_spawn(acceptor.get_executor(), asio_serve(std::move(s)), asio::detached);
    }
}

void run_asio(int listen_fd) {
    asio::io_context context(1);
    asio::ip::tcp::acceptor acceptor(context, asio::ip::tcp::v4(), listen_fd);
    asio::co_spawn(context, asio_accept(acceptor), asio::detached);
    context.run();
}
#endif

// ---- the client ---------------------------------------------------------------------------

long resident_bytes(pid_t pid) {
    std::string path = "/proc/" + std::to_string(pid) + "/statm";
    FILE* f = std::fopen(path.c_str(), "r");
    if (!f) return 0;
    long size = 0, resident = 0;
    if (std::fscanf(f, "%ld %ld", &size, &resident) != 2) resident = 0;
    std::fclose(f);
    return resident * ::sysconf(_SC_PAGESIZE);
}

struct Server {
    pid_t pid = -1;
    int port = 0;
};

Server start(void (*run)(int)) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd, 4096) != 0) die("listen");
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    Server s;
    s.port = ntohs(a.sin_port);
    s.pid = ::fork();
    if (s.pid < 0) die("fork");
    if (s.pid == 0) {
        run(fd);
        std::_Exit(0);
    }
    ::close(fd);
    return s;
}

void stop(Server& s) {
    ::kill(s.pid, SIGKILL);
    ::waitpid(s.pid, nullptr, 0);
}

void send_all(int fd, const char* p, std::size_t n) {
    while (n) {
        ssize_t k = ::send(fd, p, n, MSG_NOSIGNAL);
        if (k < 0) {
            if (errno == EINTR || errno == EAGAIN) continue;
            die("client send");
        }
        p += k, n -= static_cast<std::size_t>(k);
    }
}

std::vector<int> connect_all(int port, int count) {
    std::vector<int> fds;
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(static_cast<std::uint16_t>(port));
    for (int i = 0; i < count; ++i) {
        int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) die("client connect");
        int one = 1;
        ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        fds.push_back(fd);
    }
    return fds;
}

// One echo per connection, waited for: afterwards every connection is accepted and its
// server side parked in a read.
void round_trip_each(const std::vector<int>& fds) {
    char request[message] = {}, reply[message];
    for (int fd : fds) send_all(fd, request, message);
    for (int fd : fds) {
        std::size_t got = 0;
        while (got < message) {
            ssize_t k = ::recv(fd, reply + got, message - got, 0);
            if (k <= 0) die("client recv");
            got += static_cast<std::size_t>(k);
        }
    }
}

// Every connection keeps one request outstanding for `seconds`: completed requests per second.
double load(const std::vector<int>& fds, double seconds) {
    int ep = ::epoll_create1(EPOLL_CLOEXEC);
    std::vector<std::size_t> got(fds.size(), 0);
    for (std::size_t i = 0; i < fds.size(); ++i) {
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.u64 = i;
        ::epoll_ctl(ep, EPOLL_CTL_ADD, fds[i], &ev);
    }
    char request[message] = {}, reply[buffer_size];
    for (int fd : fds) send_all(fd, request, message);
    long done = 0;
    std::vector<epoll_event> events(1024);
    auto start = Clock::now();
    auto end = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
    while (Clock::now() < end) {
        int n = ::epoll_wait(ep, events.data(), static_cast<int>(events.size()), 100);
        for (int i = 0; i < n; ++i) {
            std::size_t c = events[i].data.u64;
            ssize_t k = ::recv(fds[c], reply, sizeof reply, 0);
            if (k <= 0) die("client recv (load)");
            got[c] += static_cast<std::size_t>(k);
            while (got[c] >= message) {
                got[c] -= message;
                ++done;
                send_all(fds[c], request, message);
            }
        }
    }
    double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
    // Drain the outstanding replies so that the next round starts from quiet connections.
    for (std::size_t c = 0; c < fds.size(); ++c) {
        while (got[c] < message) {
            ssize_t k = ::recv(fds[c], reply, message - got[c], 0);
            if (k <= 0) die("client recv (drain)");
            got[c] += static_cast<std::size_t>(k);
        }
        got[c] = 0;
    }
    ::close(ep);
    return static_cast<double>(done) / elapsed;
}

struct Variant {
    const char* name;
    void (*run)(int);
    std::vector<double> rates;
    double bytes_per_connection = 0;
};

}  // namespace

int main(int argc, char* argv[]) {
    bool quick = false;
    int connections = 1000;
    for (int i = 1; i < argc; ++i) {
        if (!std::strcmp(argv[i], "--quick")) quick = true;
        else if (!std::strcmp(argv[i], "--connections") && i + 1 < argc) connections = std::atoi(argv[++i]);
    }
    rlimit limit{};
    ::getrlimit(RLIMIT_NOFILE, &limit);
    limit.rlim_cur = limit.rlim_max;  // both ends of 1,000 connections live in these processes
    ::setrlimit(RLIMIT_NOFILE, &limit);
    std::signal(SIGPIPE, SIG_IGN);

    std::vector<Variant> variants{{"coro", run_coro, {}, 0}, {"raw", run_epoll, {}, 0}};
#if defined(SOCKETS_BENCH_ASIO)
    variants.push_back({"asio", run_asio, {}, 0});
#endif
    const int rounds = quick ? 3 : 5;
    const double seconds = quick ? 1.0 : 3.0;
    // Memory: resident bytes after every connection has made one round trip, less before.
    for (Variant& v : variants) {
        Server s = start(v.run);
        std::vector<int> warm = connect_all(s.port, 1);
        round_trip_each(warm);
        long before = resident_bytes(s.pid);
        std::vector<int> fds = connect_all(s.port, connections);
        round_trip_each(fds);
        long after = resident_bytes(s.pid);
        v.bytes_per_connection = static_cast<double>(after - before) / connections;
        for (int fd : fds) ::close(fd);
        for (int fd : warm) ::close(fd);
        stop(s);
    }
    // Throughput: the variants interleaved, round after round; the median of each.
    for (int r = 0; r < rounds; ++r) {
        for (Variant& v : variants) {
            Server s = start(v.run);
            std::vector<int> fds = connect_all(s.port, connections);
            round_trip_each(fds);
            v.rates.push_back(load(fds, seconds));
            for (int fd : fds) ::close(fd);
            stop(s);
        }
    }
    auto median = [](std::vector<double> x) {
        std::sort(x.begin(), x.end());
        return x[x.size() / 2];
    };
    std::printf("async_echo_requests_per_s");
    for (Variant& v : variants) std::printf(" %.0f", median(v.rates));
    if (variants.size() < 3) std::printf(" -");
    std::printf("\nasync_bytes_per_idle_connection");
    for (Variant& v : variants) std::printf(" %.0f", v.bytes_per_connection);
    if (variants.size() < 3) std::printf(" -");
    std::printf("\n");
}
