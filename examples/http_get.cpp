// http_get: the HOWTO's first example. Connects to a web server, sends a GET and prints the
// reply. It ends where the reply's headers say (Content-Length, the last chunk) or, when they
// say nothing, where the server closes the connection. A reply that ends sooner than its
// headers promised is an error: exit 1.
//
//   http_get HOST [PORT] [PATH]
#include <sockets/sockets.hpp>

#include "http_reply.hpp"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

int main(int argc, char* argv[]) {
    if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h")) {
        std::printf("usage: http_get HOST [PORT] [PATH]\n"
                    "  fetches http://HOST:PORT/PATH (default port 80, path /) and prints the reply;\n"
                    "  exits 1 if the connection fails or ends before the reply is whole\n");
        return argc < 2 ? 1 : 0;
    }
    std::string host = argv[1];
    int port = argc > 2 ? std::atoi(argv[2]) : 80;
    std::string path = argc > 3 ? argv[3] : "/";
    try {
        sockets::Socket s = sockets::connect_to(host, port, std::chrono::seconds(10));
        s.send_all("GET " + path + " HTTP/1.0\r\nHost: " + host + "\r\nConnection: close\r\n\r\n");
        example::HttpReplyEnd reply;
        char buffer[4096];
        while (!reply.complete() && !reply.malformed()) {
            std::size_t n = s.recv(buffer, sizeof buffer, std::chrono::seconds(30));
            if (n == 0) {  // the server closed: the end only of a body that nothing else delimits
                reply.end_of_stream();
                break;
            }
            std::fwrite(buffer, 1, reply.feed(buffer, n), stdout);
        }
        if (!reply.complete()) {
            std::fprintf(stderr, "http_get: %s:%d: %s%s\n", host.c_str(), port, reply.progress().c_str(),
                         reply.malformed() ? "" : " (the server closed the connection)");
            return 1;
        }
    } catch (const std::system_error& e) {
        std::fprintf(stderr, "http_get: %s\n", e.what());
        return 1;
    }
}
