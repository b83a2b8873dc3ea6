// echo_server: the HOWTO's threaded server. Accepts clients and echoes back whatever each
// sends until it closes its side.
//
//   echo_server [ADDRESS] [--clients N]
//     ADDRESS     where to listen, default 127.0.0.1:0 (port 0: the OS picks one)
//     --clients N exit after serving N clients (default: serve forever)
#include <sockets/sockets.hpp>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

static void serve(sockets::Socket client, sockets::Address who) {
    char buffer[4096];
    std::size_t total = 0;
    try {
        // recv returns 0 when the client has shut down its side: then we are done.
        while (std::size_t n = client.recv(buffer, sizeof buffer)) {
            client.send_all(buffer, n);
            total += n;
        }
        client.shutdown(sockets::Shutdown::write);
        std::printf("echo_server: %s done, echoed %zu bytes\n", who.to_string().c_str(), total);
    } catch (const std::system_error& e) {
        std::printf("echo_server: %s: %s\n", who.to_string().c_str(), e.what());
    }
    std::fflush(stdout);
}

int main(int argc, char* argv[]) {
    std::string where = "127.0.0.1:0";
    long clients = -1;
    for (int i = 1; i < argc; ++i) {
        if (!std::strcmp(argv[i], "--help") || !std::strcmp(argv[i], "-h")) {
            std::printf("usage: echo_server [ADDRESS] [--clients N]\n"
                        "  ADDRESS     where to listen (default 127.0.0.1:0, the OS picks the port)\n"
                        "  --clients N exit after serving N clients\n");
            return 0;
        }
        if (!std::strcmp(argv[i], "--clients") && i + 1 < argc)
            clients = std::strtol(argv[++i], nullptr, 10);
        else
            where = argv[i];
    }
    try {
        sockets::Socket listener = sockets::listen_on(sockets::Address::parse(where));
        // The first line tells scripts where we are, e.g. "listening on 127.0.0.1:40213".
        std::printf("listening on %s\n", listener.local_address().to_string().c_str());
        std::fflush(stdout);
        std::vector<std::thread> workers;
        for (long served = 0; clients < 0 || served < clients; ++served) {
            sockets::Address who;
            sockets::Socket client = listener.accept(who);
            workers.emplace_back(serve, std::move(client), who);
        }
        for (auto& w : workers) w.join();
    } catch (const std::system_error& e) {
        std::fprintf(stderr, "echo_server: %s\n", e.what());
        return 1;
    }
}
