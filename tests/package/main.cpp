// A user's program: built by every packaging route (CMake, pkg-config, Meson, the Debian package,
// the single header). The route passes the version its package metadata announces as
// SOCKETS_EXPECTED_VERSION, so a header that disagrees with its package fails here. A compiled-
// mode route also passes SOCKETS_EXPECT_COMPILED: the program must then be built in compiled mode
// (the package's flags define SOCKETS_SEPARATE_COMPILATION) and link the library's definitions.
#include <sockets/sockets.hpp>

#if defined(SOCKETS_EXPECT_COMPILED) && !defined(SOCKETS_SEPARATE_COMPILATION)
#error "a compiled-mode route did not define SOCKETS_SEPARATE_COMPILATION"
#endif

#include <cstdio>
#include <cstring>

int main() {
    sockets::Socket listener = sockets::listen_on(sockets::Address::parse("127.0.0.1:0"));
    sockets::Socket client = sockets::connect_to(listener.local_address());
    sockets::Socket server = listener.accept();
    client.send_all("ping");
    char got[4] = {};
    server.recv_exact(got, sizeof got);
    if (std::memcmp(got, "ping", 4) != 0) return 1;
#ifdef SOCKETS_EXPECTED_VERSION
    if (std::strcmp(SOCKETS_VERSION_STRING, SOCKETS_EXPECTED_VERSION) != 0) {
        std::printf("header says %s, package says %s\n", SOCKETS_VERSION_STRING, SOCKETS_EXPECTED_VERSION);
        return 1;
    }
#endif
#if defined(SOCKETS_SEPARATE_COMPILATION)
    std::printf("consumer: sockets %s works (compiled mode)\n", SOCKETS_VERSION_STRING);
#else
    std::printf("consumer: sockets %s works\n", SOCKETS_VERSION_STRING);
#endif
    return 0;
}
