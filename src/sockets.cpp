// Compiled mode: every definition of the sockets headers, compiled once. Build this file (the
// CMake target sockets::compiled does) and define SOCKETS_SEPARATE_COMPILATION for every unit
// of the program that includes a sockets header (include/sockets/config.hpp).
#if !defined(SOCKETS_SEPARATE_COMPILATION)
#define SOCKETS_SEPARATE_COMPILATION
#endif

// One .ipp per header that has definitions out of line, in include order. A header whose
// definitions all stay inline (templates, constexpr, the hot paths) has none.
#include <sockets/impl/config.ipp>
#include <sockets/detail/impl/platform.ipp>
#include <sockets/impl/error.ipp>
#include <sockets/detail/impl/io.ipp>
#include <sockets/impl/address.ipp>
#include <sockets/impl/socket.ipp>
#include <sockets/impl/poller.ipp>
#include <sockets/impl/connect.ipp>
#include <sockets/impl/message.ipp>
#include <sockets/impl/batch.ipp>
