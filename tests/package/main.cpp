#include <sockets/sockets.hpp>

int main() {
    sockets::Socket listener = sockets::listen_on(sockets::Address::parse("127.0.0.1:0"));
    return listener.local_address().port() != 0 ? 0 : 1;
}
