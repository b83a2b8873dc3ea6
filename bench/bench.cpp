// Side-by-side measurements: the library against the same work done with raw system calls in
// the same process. Each subcommand prints "name library raw" lines; scripts/bench makes the
// table. Nothing here asserts anything.
#include <sockets/sockets.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include <sys/resource.h>
#include <time.h>

using namespace sockets;
using Clock = std::chrono::steady_clock;

static double seconds_since(Clock::time_point start) {
    return std::chrono::duration<double>(Clock::now() - start).count();
}

static double thread_cpu_seconds() {
    timespec t{};
    ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) * 1e-9;
}

static void raw_send_all(int fd, const char* p, std::size_t n) {
    while (n) {
        ssize_t k = ::send(fd, p, n, MSG_NOSIGNAL);
        if (k < 0) {
            if (errno == EINTR) continue;
            std::perror("send"), std::exit(1);
        }
        p += k, n -= static_cast<std::size_t>(k);
    }
}
static void raw_recv_exact(int fd, char* p, std::size_t n) {
    while (n) {
        ssize_t k = ::recv(fd, p, n, 0);
        if (k <= 0) {
            if (k < 0 && errno == EINTR) continue;
            std::perror("recv"), std::exit(1);
        }
        p += k, n -= static_cast<std::size_t>(k);
    }
}

// ops: ITERATIONS of a SIZE-byte send then recv over a connected pair: lib (throwing forms),
// lib_ec (error_code forms) or raw. Run under callgrind with 0 and N iterations, the difference
// is the per-operation cost. Each loop is its own small function: inside a huge main the
// compiler runs out of inlining budget, and the count would measure that instead of the calls.
#define BENCH_NOINLINE __attribute__((noinline))
BENCH_NOINLINE static void ops_lib(Socket& a, Socket& b, char* buffer, std::size_t size, long iterations) {
    for (long i = 0; i < iterations; ++i) {
        a.send_all(buffer, size);
        b.recv_exact(buffer, size);
    }
}
BENCH_NOINLINE static void ops_lib_ec(Socket& a, Socket& b, char* buffer, std::size_t size, long iterations) {
    std::error_code ec;
    for (long i = 0; i < iterations; ++i) {
        (void)a.send_all(buffer, size, ec);
        (void)b.recv_exact(buffer, size, ec);
    }
    if (ec) std::abort();
}
BENCH_NOINLINE static void ops_raw(int a, int b, char* buffer, std::size_t size, long iterations) {
    for (long i = 0; i < iterations; ++i) {
        raw_send_all(a, buffer, size);
        raw_recv_exact(b, buffer, size);
    }
}
static int ops(const std::string& mode, std::size_t size, long iterations) {
    Socket listener = listen_on(Address::loopback(Family::ipv4));
    Socket a = connect_to(listener.local_address());
    Socket b = listener.accept();
    a.set_send_buffer_size(1 << 20);
    b.set_receive_buffer_size(1 << 20);
    std::vector<char> buffer(size);
    if (mode == "lib")
        ops_lib(a, b, buffer.data(), size, iterations);
    else if (mode == "lib_ec")
        ops_lib_ec(a, b, buffer.data(), size, iterations);
    else
        ops_raw(a.native_handle(), b.native_handle(), buffer.data(), size, iterations);
    return 0;
}

// Bulk one-way transfer between threads; returns MiB/s.
static double bulk(bool lib, std::size_t total) {
    auto p_listener = listen_on(Address::loopback(Family::ipv4));
    Socket a = connect_to(p_listener.local_address());
    Socket b = p_listener.accept();
    const std::size_t chunk = 64 * 1024;
    std::thread sender([&] {
        std::vector<char> data(chunk, 'x');
        for (std::size_t sent = 0; sent < total; sent += chunk) {
            if (lib)
                a.send_all(data.data(), chunk);
            else
                raw_send_all(a.native_handle(), data.data(), chunk);
        }
    });
    std::vector<char> buffer(chunk);
    auto start = Clock::now();
    for (std::size_t got = 0; got < total; got += chunk) {
        if (lib)
            b.recv_exact(buffer.data(), chunk);
        else
            raw_recv_exact(b.native_handle(), buffer.data(), chunk);
    }
    double s = seconds_since(start);
    sender.join();
    return static_cast<double>(total) / (1 << 20) / s;
}

// 64-byte ping-pong; returns microseconds per round trip.
static double ping_pong(bool lib, long rounds) {
    Socket listener = listen_on(Address::loopback(Family::ipv4));
    Socket a = connect_to(listener.local_address());
    Socket b = listener.accept();
    a.set_no_delay(true);
    b.set_no_delay(true);
    std::thread echo([&] {
        char m[64];
        for (long i = 0; i < rounds; ++i) {
            if (lib) {
                b.recv_exact(m, 64);
                b.send_all(m, 64);
            } else {
                raw_recv_exact(b.native_handle(), m, 64);
                raw_send_all(b.native_handle(), m, 64);
            }
        }
    });
    char m[64] = {};
    auto start = Clock::now();
    for (long i = 0; i < rounds; ++i) {
        if (lib) {
            a.send_all(m, 64);
            a.recv_exact(m, 64);
        } else {
            raw_send_all(a.native_handle(), m, 64);
            raw_recv_exact(a.native_handle(), m, 64);
        }
    }
    double s = seconds_since(start);
    echo.join();
    return s * 1e6 / static_cast<double>(rounds);
}

// n sockets to watch, one descriptor each (idle UDP sockets), the middle one readable: a
// socket pair whose other end, writer, has sent a byte.
static std::vector<Socket> watched_sockets(int n, Socket& writer) {
    std::vector<Socket> watched;
    for (int i = 0; i < n; ++i) watched.push_back(Socket::udp());
    auto pair = socket_pair();
    watched[static_cast<std::size_t>(n / 2)] = std::move(pair.second);
    writer = std::move(pair.first);
    writer.send_all(std::string("x"));
    return watched;
}

// One wait with n registered sockets of which one is ready; microseconds per wait.
template <class P>
static double poller_wait(int n, int waits) {
    Socket writer;
    auto watched = watched_sockets(n, writer);
    P poller;
    for (int i = 0; i < n; ++i) poller.add(watched[static_cast<std::size_t>(i)], Events::readable, static_cast<std::uint64_t>(i));
    auto start = Clock::now();
    for (int i = 0; i < waits; ++i)
        if (poller.wait(std::chrono::milliseconds(1000)).size() != 1) std::abort();
    return seconds_since(start) * 1e6 / waits;
}

static double raw_poll_wait(int n, int waits, bool use_epoll, bool use_select) {
    Socket writer;
    auto watched = watched_sockets(n, writer);
    auto start = Clock::now();
    if (use_epoll) {
        int ep = ::epoll_create1(EPOLL_CLOEXEC);
        for (int i = 0; i < n; ++i) {
            epoll_event e{};
            e.events = EPOLLIN | EPOLLRDHUP;
            e.data.u64 = static_cast<std::uint64_t>(i);
            ::epoll_ctl(ep, EPOLL_CTL_ADD, watched[static_cast<std::size_t>(i)].native_handle(), &e);
        }
        std::vector<epoll_event> events(16);
        start = Clock::now();
        for (int i = 0; i < waits; ++i)
            if (::epoll_wait(ep, events.data(), 16, 1000) != 1) std::abort();
        double r = seconds_since(start);
        ::close(ep);
        return r * 1e6 / waits;
    }
    if (use_select) {
        for (int i = 0; i < waits; ++i) {
            fd_set set;
            FD_ZERO(&set);
            int max = 0;
            for (auto& w : watched) {
                FD_SET(w.native_handle(), &set);
                max = std::max(max, w.native_handle());
            }
            timeval tv{1, 0};
            if (::select(max + 1, &set, nullptr, nullptr, &tv) != 1) std::abort();
            int ready = 0;
            for (auto& w : watched) ready += FD_ISSET(w.native_handle(), &set) ? 1 : 0;
            if (ready != 1) std::abort();
        }
        return seconds_since(start) * 1e6 / waits;
    }
    std::vector<pollfd> fds;
    for (auto& w : watched) fds.push_back(pollfd{w.native_handle(), POLLIN | POLLRDHUP, 0});
    start = Clock::now();
    for (int i = 0; i < waits; ++i) {
        if (::poll(fds.data(), fds.size(), 1000) != 1) std::abort();
        int ready = 0;
        for (auto& f : fds) ready += f.revents ? 1 : 0;
        if (ready != 1) std::abort();
    }
    return seconds_since(start) * 1e6 / waits;
}

// One-way stream of count messages of size bytes; messages per second.
static double framing(bool buffered, std::size_t size, long count) {
    Socket listener = listen_on(Address::loopback(Family::ipv4));
    Socket a = connect_to(listener.local_address());
    Socket b = listener.accept();
    std::string payload(size, 'm');
    std::thread sender([&] {
        unsigned char header[4];
        store_be(header, static_cast<std::uint32_t>(size));
        MessageWriter writer(a);
        for (long i = 0; i < count; ++i) {
            if (buffered) {
                writer.write_message(payload);
            } else {
                a.send_all(header, 4);
                a.send_all(payload.data(), payload.size());
            }
        }
        writer.flush();
    });
    auto start = Clock::now();
    if (buffered) {
        StreamReader reader(b);
        for (long i = 0; i < count; ++i)
            if (reader.read_message().size() != size) std::abort();
    } else {
        std::vector<char> body(size);
        unsigned char header[4];
        for (long i = 0; i < count; ++i) {
            b.recv_exact(header, 4);
            b.recv_exact(body.data(), load_be<std::uint32_t>(header));
        }
    }
    double s = seconds_since(start);
    sender.join();
    return static_cast<double>(count) / s;
}

// 64-byte datagrams over connected loopback UDP, one thread (no scheduling in the figure):
// rounds of 64 sent then 64 received, by send_many + recv_many or by one send / one recv per
// datagram. Datagrams per second. Raw rows: sendmmsg + recvmmsg (2), one sendmsg with
// UDP_SEGMENT (what send_many does for a same-size run) + recvmmsg (3).
static double datagrams(int mode, long rounds) {  // 0: one call per datagram, 1: batched, 2, 3: raw
    const bool batched = mode == 1;
    const std::size_t batch = 64, size = 64;
    Socket a = Socket::udp(), b = Socket::udp();
    b.bind(Address::loopback(Family::ipv4));
    a.bind(Address::loopback(Family::ipv4));
    a.connect(b.local_address());
    b.set_receive_buffer_size(1 << 20);
    std::vector<char> payload(batch * size, 'd'), landing(batch * size);
    std::vector<OutgoingDatagram> out(batch);
    std::vector<IncomingDatagram> in(batch);
    for (std::size_t i = 0; i < batch; ++i) {
        out[i].data = ConstBuffer(&payload[i * size], size);
        in[i].buffer = MutableBuffer(&landing[i * size], size);
    }
    // CPU time of this thread (the loopback delivery runs in it too): the machine is shared,
    // and wall time would count other people's work.
    mmsghdr raw_out[64]{}, raw_in[64]{};
    iovec raw_out_iov[64], raw_in_iov[64];
    for (std::size_t i = 0; i < batch; ++i) {
        raw_out_iov[i] = iovec{&payload[i * size], size};
        raw_in_iov[i] = iovec{&landing[i * size], size};
        raw_out[i].msg_hdr.msg_iov = &raw_out_iov[i];
        raw_out[i].msg_hdr.msg_iovlen = 1;
        raw_in[i].msg_hdr.msg_iov = &raw_in_iov[i];
        raw_in[i].msg_hdr.msg_iovlen = 1;
    }
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(std::uint16_t))] = {};
    msghdr segmented{};
    segmented.msg_iov = raw_out_iov;
    segmented.msg_iovlen = batch;
    segmented.msg_control = control;
    segmented.msg_controllen = sizeof control;
    cmsghdr* segment = CMSG_FIRSTHDR(&segmented);
    segment->cmsg_level = IPPROTO_UDP;
    segment->cmsg_type = 103;  // UDP_SEGMENT
    segment->cmsg_len = CMSG_LEN(sizeof(std::uint16_t));
    const std::uint16_t segment_size = size;
    std::memcpy(CMSG_DATA(segment), &segment_size, sizeof segment_size);
    double start = thread_cpu_seconds();
    for (long r = 0; r < rounds; ++r) {
        if (mode >= 2) {
            if (mode == 3 ? ::sendmsg(a.native_handle(), &segmented, MSG_NOSIGNAL) != static_cast<long>(batch * size)
                          : ::sendmmsg(a.native_handle(), raw_out, batch, MSG_NOSIGNAL) != static_cast<int>(batch))
                std::abort();
            for (std::size_t got = 0; got < batch;) {
                int n = ::recvmmsg(b.native_handle(), raw_in + got, static_cast<unsigned>(batch - got), MSG_WAITFORONE, nullptr);
                if (n <= 0) std::abort();
                got += static_cast<std::size_t>(n);
            }
        } else if (batched) {
            send_many(a, out.data(), batch);
            for (std::size_t got = 0; got < batch;) got += recv_many(b, in.data() + got, batch - got);
        } else {
            for (auto& d : out) (void)a.send(d.data);
            for (auto& d : in)
                if (b.recv(d.buffer) != size) std::abort();
        }
    }
    return static_cast<double>(rounds) * batch / (thread_cpu_seconds() - start);
}

static double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

// Library and raw runs alternate (raw first), five each, and the medians are printed: a single
// run of each measured one after the other counts whatever else the machine did at that moment.
template <class Lib, class Raw>
static void print_interleaved(const char* name, int n, Lib lib_run, Raw raw_run) {
    std::vector<double> lib, raw;
    for (int i = 0; i < 5; ++i) {
        raw.push_back(raw_run());
        lib.push_back(lib_run());
    }
    std::printf("%s%d %.2f %.2f us\n", name, n, median(lib), median(raw));
}

int main(int argc, char* argv[]) {
    std::string what = argc > 1 ? argv[1] : "";
    bool quick = argc > 2 && std::string(argv[2]) == "--quick";
    if (what == "ops") return ops(argv[2], std::strtoul(argv[3], nullptr, 10), std::strtol(argv[4], nullptr, 10));
    if (what == "bulk") {
        std::size_t total = quick ? (256u << 20) : (2048u << 20);
        std::vector<double> lib, raw;
        for (int i = 0; i < (quick ? 3 : 5); ++i) {  // interleaved, so drift hits both alike
            raw.push_back(bulk(false, total));
            lib.push_back(bulk(true, total));
        }
        std::printf("bulk %.1f %.1f MiB/s\n", median(lib), median(raw));
    } else if (what == "pingpong") {
        long rounds = quick ? 20000 : 100000;
        std::vector<double> lib, raw;
        for (int i = 0; i < 3; ++i) {
            raw.push_back(ping_pong(false, rounds));
            lib.push_back(ping_pong(true, rounds));
        }
        std::printf("pingpong %.2f %.2f us\n", median(lib), median(raw));
    } else if (what == "poller") {
        rlimit limit{};  // 10,000 watched sockets need more than the default 1024 descriptors
        ::getrlimit(RLIMIT_NOFILE, &limit);
        limit.rlim_cur = limit.rlim_max;
        ::setrlimit(RLIMIT_NOFILE, &limit);
        std::vector<int> sizes = quick ? std::vector<int>{10, 100, 1000} : std::vector<int>{10, 100, 1000, 10000};
        for (int n : sizes) {
            int waits = (n >= 1000 ? 2000 : 20000) / (quick ? 5 : 1);
            if (n + 16 < FD_SETSIZE)  // select cannot take a descriptor >= FD_SETSIZE
                print_interleaved("select_n", n, [&] { return poller_wait<SelectPoller>(n, waits); },
                                  [&] { return raw_poll_wait(n, waits, false, true); });
            print_interleaved("poll_n", n, [&] { return poller_wait<PollPoller>(n, waits); },
                              [&] { return raw_poll_wait(n, waits, false, false); });
            print_interleaved("epoll_n", n, [&] { return poller_wait<EpollPoller>(n, waits); },
                              [&] { return raw_poll_wait(n, waits, true, false); });
        }
    } else if (what == "framing") {
        long count = quick ? 200000 : 1000000;
        for (std::size_t size : {16, 64, 1024})
            std::printf("framing_%zu %.0f %.0f msg/s\n", size, framing(true, size, count), framing(false, size, count));
    } else if (what == "datagrams") {
        long rounds = quick ? 2000 : 10000;
        std::vector<double> batched, single, raw, raw_gso;
        for (int i = 0; i < 5; ++i) {
            single.push_back(datagrams(0, rounds));
            batched.push_back(datagrams(1, rounds));
            raw.push_back(datagrams(2, rounds));
            raw_gso.push_back(datagrams(3, rounds));
        }
        std::printf("datagrams_64 %.0f %.0f datagrams/s\n", median(batched), median(single));
        std::printf("datagrams_64_raw %.0f %.0f datagrams/s\n", median(batched), median(raw));
        std::printf("datagrams_64_raw_gso %.0f %.0f datagrams/s\n", median(batched), median(raw_gso));
    } else if (what == "sizeof") {
        std::printf("sizeof %zu %zu bytes\n", sizeof(Socket), sizeof(native_handle_type));
    } else {
        std::fprintf(stderr, "usage: sockets_bench ops|bulk|pingpong|poller|framing|datagrams|sizeof [--quick]\n");
        return 2;
    }
}
