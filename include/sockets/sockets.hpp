// The whole library: #include <sockets/sockets.hpp>
//
//   using namespace sockets;
//   Socket listener = listen_on(Address::parse("127.0.0.1:0"));
//   Socket client = connect_to(listener.local_address());
//   Socket peer = listener.accept();
//   client.send_all("hello");
//
// Header-only by default, or compiled once (SOCKETS_SEPARATE_COMPILATION: see config.hpp); link
// ws2_32 on Windows (the CMake targets sockets::sockets and sockets::compiled do it for you).
#pragma once

#include "address.hpp"
#include "batch.hpp"
#include "byte_order.hpp"
#include "config.hpp"
#include "connect.hpp"
#include "error.hpp"
#include "message.hpp"
#include "poller.hpp"
#include "socket.hpp"
#include "timeout.hpp"
#include "version.hpp"
