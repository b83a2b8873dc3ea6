// https_get: http_get over TLS. The server's certificate must be valid, from a CA in the
// system trust store (or the --ca file), and for HOST; otherwise it says why and exits 1.
//
//   https_get HOST [PORT] [PATH] [--ca FILE]
#include <sockets/sockets.hpp>
#include <sockets/tls.hpp>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

int main(int argc, char* argv[]) {
    std::vector<std::string> args;
    std::string ca;
    for (int i = 1; i < argc; ++i) {
        if (!std::strcmp(argv[i], "--ca") && i + 1 < argc) ca = argv[++i];
        else args.push_back(argv[i]);
    }
    if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0][0] == '-') {
        std::printf("usage: https_get HOST [PORT] [PATH] [--ca FILE]\n"
                    "  fetches https://HOST:PORT/PATH (default port 443, path /) and prints the reply;\n"
                    "  --ca FILE also trusts the CA certificates in FILE (PEM)\n");
        return args.empty() || args[0][0] == '-' ? (args.empty() || args[0] == "--help" || args[0] == "-h" ? 0 : 2) : 0;
    }
    std::string host = args[0];
    int port = args.size() > 1 ? std::atoi(args[1].c_str()) : 443;
    std::string path = args.size() > 2 ? args[2] : "/";
    try {
        sockets::TlsContext context = sockets::TlsContext::client();  // verifies: name and chain
        if (!ca.empty()) context.load_verify_file(ca);
        context.set_alpn({"http/1.1"});
        sockets::TlsStream tls =
            sockets::tls_connect(sockets::connect_to(host, port, std::chrono::seconds(10)), context, host,
                                 std::chrono::seconds(10));
        std::fprintf(stderr, "https_get: %s, certificate %s verified\n", tls.protocol_version().c_str(),
                     tls.peer_subject().c_str());
        tls.send_all("GET " + path + " HTTP/1.0\r\nHost: " + host + "\r\nConnection: close\r\n\r\n");
        char buffer[4096];
        // The reply ends with the server's close_notify (recv returns 0). A connection closed
        // without it is tls_errc::truncated: an attacker could have cut the reply short.
        while (std::size_t n = tls.recv(buffer, sizeof buffer, std::chrono::seconds(30)))
            std::fwrite(buffer, 1, n, stdout);
        std::error_code ignored;
        tls.shutdown(std::chrono::seconds(2), ignored);
    } catch (const std::system_error& e) {
        std::fprintf(stderr, "https_get: %s\n", e.what());
        return 1;
    }
}
