// The other half, in compiled mode: its Address is sockets::compiled::Address, so the call
// below names a function the header-only unit never defined, and the link fails (the test
// expects it to). Without the modes' namespaces it would link, with two definitions of every
// out-of-line function and nothing to say which one runs.
#include <sockets/address.hpp>

int port_of(const sockets::Address& address);

int main() {
    std::error_code ec;
    return port_of(sockets::Address::parse("127.0.0.1:80", ec)) == 80 ? 0 : 1;
}
