// Compiled mode for TLS: the definitions of include/sockets/tls.hpp, compiled once (the CMake
// target sockets::tls_compiled; it links sockets::compiled and OpenSSL). See src/sockets.cpp.
#if !defined(SOCKETS_SEPARATE_COMPILATION)
#define SOCKETS_SEPARATE_COMPILATION
#endif

// tls.hpp has no impl/tls.ipp yet: its definitions are still inline in the header, so this
// unit only checks that the header compiles in compiled mode. When tls.hpp is split, include
// <sockets/impl/tls.ipp> here instead.
#include <sockets/tls.hpp>
