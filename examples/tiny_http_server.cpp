// tiny_http_server: answers each HTTP request with a short page, then closes. Enough to
// try http_get without a network.
//
//   tiny_http_server [ADDRESS] [--clients N]
#include <sockets/sockets.hpp>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

int main(int argc, char* argv[]) {
    std::string where = "127.0.0.1:0";
    long clients = -1;
    for (int i = 1; i < argc; ++i) {
        if (!std::strcmp(argv[i], "--help") || !std::strcmp(argv[i], "-h")) {
            std::printf("usage: tiny_http_server [ADDRESS] [--clients N]\n");
            return 0;
        }
        if (!std::strcmp(argv[i], "--clients") && i + 1 < argc)
            clients = std::strtol(argv[++i], nullptr, 10);
        else
            where = argv[i];
    }
    try {
        sockets::Socket listener = sockets::listen_on(sockets::Address::parse(where));
        std::printf("listening on %s\n", listener.local_address().to_string().c_str());
        std::fflush(stdout);
        for (long served = 0; clients < 0 || served < clients; ++served) {
            sockets::Socket client = listener.accept();
            // Read until the blank line that ends the request headers.
            std::string request;
            char buffer[1024];
            while (request.find("\r\n\r\n") == std::string::npos && request.size() < 65536) {
                std::size_t n = client.recv(buffer, sizeof buffer, std::chrono::seconds(10));
                if (n == 0) break;
                request.append(buffer, n);
            }
            std::string first_line = request.substr(0, request.find("\r\n"));
            std::string body = "<h1>Hello from sockets</h1>\n<p>You asked for: " + first_line + "</p>\n";
            client.send_all("HTTP/1.0 200 OK\r\nContent-Type: text/html\r\nContent-Length: " +
                            std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body);
            // Shut down, then drain: the reply is not lost to a reset, as the HOWTO advises.
            client.graceful_close(std::chrono::seconds(5));
        }
    } catch (const std::system_error& e) {
        std::fprintf(stderr, "tiny_http_server: %s\n", e.what());
        return 1;
    }
}
