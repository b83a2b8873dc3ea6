// Helpers shared by the tests: connected loopback pairs and an open-descriptor count.
#pragma once

#include <sockets/sockets.hpp>

#include <cstddef>
#include <cstdint>
#include <vector>

#if !defined(_WIN32)
#include <dirent.h>
#endif

namespace test {

struct TcpPair {
    sockets::Socket listener;
    sockets::Socket client;
    sockets::Socket server;
};

// A listener on loopback port 0 and a connected client/server pair through it.
inline TcpPair tcp_pair(sockets::Family family = sockets::Family::ipv4) {
    TcpPair p;
    p.listener = sockets::listen_on(sockets::Address::loopback(family, 0));
    p.client = sockets::connect_to(p.listener.local_address());
    // The client's own connection, not a stray one (a parallel test's connect to a port it
    // believed free) that came first.
    for (int strays = 0; strays < 16; ++strays) {
        p.server = p.listener.accept();
        if (p.server.peer_address() == p.client.local_address()) break;
    }
    return p;
}

// A loopback port a TCP connect is refused on: bound, never listening, and held for as long as
// the socket lives. (A listener closed to free its port is no such thing: a test running in
// parallel may be given the port at once, and would accept the connection.)
inline sockets::Socket refusing_port(sockets::Family family = sockets::Family::ipv4) {
    sockets::Socket s = sockets::Socket::open(family, sockets::Type::stream);
    s.bind(sockets::Address::loopback(family));
    return s;
}

// The same on every loopback address "localhost" may name here: 127.0.0.1 and, where the
// machine has it, ::1, both held on one port number.
struct RefusingLocalhost {
    sockets::Socket v4, v6;
    int port() const { return v4.local_address().port(); }
};
inline RefusingLocalhost refusing_localhost_port() {
    for (int attempt = 0;; ++attempt) {
        RefusingLocalhost r;
        r.v4 = refusing_port(sockets::Family::ipv4);
        std::error_code ec;
        r.v6 = sockets::Socket::open(sockets::Family::ipv6, sockets::Type::stream, ec);
        if (!ec) r.v6.bind(sockets::Address::loopback(sockets::Family::ipv6, r.port()), ec);
        // Taken on ::1 by someone else: another number. Any other failure: no ::1 here.
        if (ec != std::errc::address_in_use || attempt == 50) return r;
    }
}

// A UDP port whose datagrams nobody receives, for the socket's lifetime. POSIX: bound, held and
// connected to itself, so the kernel matches no other sender to it and answers with "port
// unreachable", and no parallel test can be given the port. Windows (not known to answer so): a
// closed socket's port, which is only likely to stay free.
inline sockets::Socket unreachable_udp_port(sockets::Family family, sockets::Address& where) {
    sockets::Socket s = sockets::Socket::udp(family);
    s.bind(sockets::Address::loopback(family));
    where = s.local_address();
#if defined(_WIN32)
    s.close();
#else
    s.connect(where);
#endif
    return s;
}

// Deterministic, non-repeating-looking bytes so a misplaced byte shows.
inline std::vector<unsigned char> pattern(std::size_t size, std::uint32_t seed = 1) {
    std::vector<unsigned char> out(size);
    std::uint32_t x = seed * 2654435761u + 1;
    for (auto& b : out) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        b = static_cast<unsigned char>(x);
    }
    return out;
}

// Wine emulates Winsock on the host's sockets; a few corner cases differ from real Windows.
inline bool running_under_wine() {
#if defined(_WIN32)
    HMODULE ntdll = ::GetModuleHandleA("ntdll.dll");
    return ntdll && ::GetProcAddress(ntdll, "wine_get_version") != nullptr;
#else
    return false;
#endif
}

// Whether the OS has the socket in non-blocking mode (Winsock cannot tell: false there).
inline bool is_nonblocking(const sockets::Socket& s) {
#if defined(_WIN32)
    (void)s;
    return false;
#else
    return (::fcntl(s.native_handle(), F_GETFL) & O_NONBLOCK) != 0;
#endif
}

// Open descriptors of this process (-1 where the platform cannot tell).
inline int open_descriptors() {
#if defined(__linux__)
    int n = 0;
    if (DIR* d = ::opendir("/proc/self/fd")) {
        while (::readdir(d)) ++n;
        ::closedir(d);
        return n;
    }
#endif
    return -1;
}

}  // namespace test
