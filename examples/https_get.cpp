// https_get: http_get over TLS. The server's certificate must be valid, from a CA in the
// system trust store (or the --ca file), and for HOST; otherwise it says why and exits 1.
//
// The reply ends where its headers say (Content-Length, the last chunk): many servers close
// without TLS's close_notify, and a reply whose length was fixed and arrived whole is whole
// all the same. Only a body that nothing but the close delimits needs the close_notify: a
// connection closed without it (tls_errc::truncated) could have been cut short by an
// attacker, so that, like any reply shorter than promised, exits 1.
//
//   https_get HOST [PORT] [PATH] [--ca FILE]
#include <sockets/sockets.hpp>
#include <sockets/tls.hpp>

#include "http_reply.hpp"

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
                    "  --ca FILE also trusts the CA certificates in FILE (PEM);\n"
                    "  exits 1 if the certificate is refused or the reply is not known to be whole\n");
        return args.empty() || (args[0] != "--help" && args[0] != "-h") ? 2 : 0;  // 2: a usage error
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
        example::HttpReplyEnd reply;
        char buffer[4096];
        std::error_code ec;
        while (!reply.complete() && !reply.malformed()) {
            std::size_t n = tls.recv(buffer, sizeof buffer, std::chrono::seconds(30), ec);
            if (ec) break;  // truncated: closed without close_notify; or a timeout, a reset
            if (n == 0) {   // the server's close_notify: a clean end
                reply.end_of_stream();
                break;
            }
            std::fwrite(buffer, 1, reply.feed(buffer, n), stdout);
        }
        if (!reply.complete()) {
            std::fprintf(stderr, "https_get: %s:%d: %s%s%s\n", host.c_str(), port, reply.progress().c_str(),
                         ec ? ": " : "", ec ? ec.message().c_str() : " (the server closed the connection)");
            return 1;
        }
        // Ours, for a server that waits for it; the reply is whole whatever the server does now.
        std::error_code ignored;
        tls.shutdown(std::chrono::seconds(2), ignored);
    } catch (const std::system_error& e) {
        std::fprintf(stderr, "https_get: %s\n", e.what());
        return 1;
    }
}
