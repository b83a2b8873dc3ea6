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
    p.server = p.listener.accept();
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
