// Half of a program that mixes the modes (tests/CMakeLists.txt, mixed_modes_link_error): a
// header-only unit defining a function that takes a sockets type.
#include <sockets/address.hpp>

int port_of(const sockets::Address& address) { return address.port(); }
