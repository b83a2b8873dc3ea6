// echo_client: connects to an echo server, sends each message, and prints what comes back.
//
//   echo_client HOST PORT MESSAGE...
#include <sockets/sockets.hpp>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

int main(int argc, char* argv[]) {
    if (argc < 4 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h")) {
        std::printf("usage: echo_client HOST PORT MESSAGE...\n"
                    "  sends each MESSAGE to the echo server at HOST:PORT and prints the echo\n");
        return argc < 2 ? 1 : 0;
    }
    try {
        sockets::Socket server = sockets::connect_to(argv[1], std::atoi(argv[2]));
        std::printf("connected to %s\n", server.peer_address().to_string().c_str());
        for (int i = 3; i < argc; ++i) {
            std::string message = argv[i];
            server.send_all(message);
            // TCP is a stream: the echo may come back in pieces, so ask for exactly its length.
            std::string echo(message.size(), '\0');
            server.recv_exact(echo);
            std::printf("sent %-12s got back %s\n", ("\"" + message + "\"").c_str(), ("\"" + echo + "\"").c_str());
        }
        server.shutdown(sockets::Shutdown::write);  // "I'm done": the server's recv returns 0
        char c;
        if (server.recv(&c, 1) == 0) std::printf("server closed the connection: done\n");
    } catch (const std::system_error& e) {
        std::fprintf(stderr, "echo_client: %s\n", e.what());
        return 1;
    }
}
