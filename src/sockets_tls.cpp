// Compiled mode for TLS: the definitions of include/sockets/tls.hpp, compiled once (the CMake
// target sockets::tls_compiled; it links sockets::compiled and OpenSSL). See src/sockets.cpp.
#if !defined(SOCKETS_SEPARATE_COMPILATION)
#define SOCKETS_SEPARATE_COMPILATION
#endif

#include <sockets/impl/tls.ipp>
