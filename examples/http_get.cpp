// http_get: the HOWTO's first example. Connects to a web server, sends a GET and prints the
// reply until the server closes the connection.
//
//   http_get HOST [PORT] [PATH]
#include <sockets/sockets.hpp>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

int main(int argc, char* argv[]) {
    if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h")) {
        std::printf("usage: http_get HOST [PORT] [PATH]\n"
                    "  fetches http://HOST:PORT/PATH (default port 80, path /) and prints the reply\n");
        return argc < 2 ? 1 : 0;
    }
    std::string host = argv[1];
    int port = argc > 2 ? std::atoi(argv[2]) : 80;
    std::string path = argc > 3 ? argv[3] : "/";
    try {
        sockets::Socket s = sockets::connect_to(host, port, std::chrono::seconds(10));
        s.send_all("GET " + path + " HTTP/1.0\r\nHost: " + host + "\r\nConnection: close\r\n\r\n");
        char buffer[4096];
        // HTTP/1.0 with Connection: close: the server closes when the reply is complete.
        while (std::size_t n = s.recv(buffer, sizeof buffer, std::chrono::seconds(30)))
            std::fwrite(buffer, 1, n, stdout);
    } catch (const std::system_error& e) {
        std::fprintf(stderr, "http_get: %s\n", e.what());
        return 1;
    }
}
