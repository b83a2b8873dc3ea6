#!/usr/bin/env bash
# One file of scripts/bench's "user's build": prints unit N (or main) of a 20-unit program.
#   scripts/bench.d/user-unit.sh none|header-only|compiled|asio N|main
# Each unit makes a loopback connection, sends and receives 4 bytes and polls once; unit_N
# returns 8 when everything worked. none: the bare system headers and raw calls; header-only
# and compiled: <sockets/sockets.hpp> (compiled mode is the same text, built with
# SOCKETS_SEPARATE_COMPILATION); asio: <asio.hpp>, header-only.
set -euo pipefail
variant=$1 unit=$2
if [ "$unit" = main ]; then
  for i in $(seq 1 20); do echo "int unit_$i(int port);"; done
  echo "int main() {"
  echo "    int ok = 0;"
  for i in $(seq 1 20); do echo "    ok += unit_$i(0) == 8;"; done
  echo "    return ok == 20 ? 0 : 1;"
  echo "}"
  exit 0
fi
case "$variant" in
  none) cat <<CPP ;;
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <chrono>
#include <string>
#include <system_error>
#include <vector>

int unit_$unit(int port) {
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<unsigned short>(port));
    if (::inet_pton(AF_INET, "127.0.0.1", &address.sin_addr) != 1) return -1;
    int listener = ::socket(AF_INET, SOCK_STREAM, 0);
    if (::bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 || ::listen(listener, 8) != 0) return -1;
    socklen_t length = sizeof address;
    ::getsockname(listener, reinterpret_cast<sockaddr*>(&address), &length);
    int client = ::socket(AF_INET, SOCK_STREAM, 0);
    if (::connect(client, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) return -1;
    int server = ::accept(listener, nullptr, nullptr);
    long sent = ::send(client, "ping", 4, MSG_NOSIGNAL);
    char got[4];
    long n = ::recv(server, got, 4, MSG_WAITALL);
    pollfd p{server, POLLIN, 0};
    int ready = ::poll(&p, 1, 0);
    ::close(server), ::close(client), ::close(listener);
    return static_cast<int>(sent + n + ready);
}
CPP
  header-only|compiled) cat <<CPP ;;
#include <sockets/sockets.hpp>

#include <string>

int unit_$unit(int port) {
    std::error_code ec;
    sockets::Address address = sockets::Address::parse("127.0.0.1:" + std::to_string(port), ec);
    if (ec) return -1;
    sockets::Socket listener = sockets::listen_on(address, ec);
    if (ec) return -1;
    sockets::Socket client = sockets::connect_to(listener.local_address(ec), ec);
    sockets::Socket server = listener.accept(ec);
    std::size_t sent = client.send_all("ping", 4, ec);
    char got[4];
    std::size_t n = server.recv_exact(got, sizeof got, ec);
    sockets::Poller poller;
    poller.add(server, sockets::Events::readable, 1, ec);
    std::size_t ready = poller.wait(sockets::Timeout::zero(), ec).size();
    return static_cast<int>(sent + n + ready);
}
CPP
  asio) cat <<CPP ;;
#include <asio.hpp>

int unit_$unit(int port) {
    asio::io_context io;
    asio::error_code ec;
    asio::ip::address address = asio::ip::make_address("127.0.0.1", ec);
    if (ec) return -1;
    asio::ip::tcp::acceptor acceptor(io, asio::ip::tcp::endpoint(address, static_cast<unsigned short>(port)));
    asio::ip::tcp::socket client(io), server(io);
    client.connect(acceptor.local_endpoint(ec), ec);
    acceptor.accept(server, ec);
    std::size_t sent = asio::write(client, asio::buffer("ping", 4), ec);
    char got[4];
    std::size_t n = asio::read(server, asio::buffer(got), ec);
    std::size_t ready = server.available(ec);
    return static_cast<int>(sent + n + ready);
}
CPP
  *) echo "unknown variant $variant" >&2; exit 2 ;;
esac
