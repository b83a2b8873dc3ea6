// tls_echo_client: echo_client over TLS, verifying the server's certificate.
//
//   tls_echo_client HOST PORT [--ca CA.pem] [--name NAME] [--cert C.pem --key K.pem] MESSAGE...
//   --name: the name the certificate must carry (default HOST)
#include <sockets/sockets.hpp>
#include <sockets/tls.hpp>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

int main(int argc, char* argv[]) {
    std::string ca, name, cert, key;
    std::vector<std::string> args;
    for (int i = 1; i < argc; ++i) {
        if (!std::strcmp(argv[i], "--ca") && i + 1 < argc) ca = argv[++i];
        else if (!std::strcmp(argv[i], "--name") && i + 1 < argc) name = argv[++i];
        else if (!std::strcmp(argv[i], "--cert") && i + 1 < argc) cert = argv[++i];
        else if (!std::strcmp(argv[i], "--key") && i + 1 < argc) key = argv[++i];
        else args.push_back(argv[i]);
    }
    if (args.size() < 3 || args[0] == "--help" || args[0] == "-h") {
        std::printf("usage: tls_echo_client HOST PORT [--ca CA.pem] [--name NAME] [--cert C.pem --key K.pem] MESSAGE...\n"
                    "  sends each MESSAGE to the TLS echo server at HOST:PORT and prints the echo;\n"
                    "  the certificate must be for NAME (default HOST) from a trusted CA (--ca adds one)\n");
        return args.size() < 3 && !(args.size() == 1 && (args[0] == "--help" || args[0] == "-h")) ? 2 : 0;
    }
    using namespace std::chrono_literals;
    try {
        sockets::TlsContext context = sockets::TlsContext::client();
        if (!ca.empty()) context.load_verify_file(ca);
        if (!cert.empty()) context.use_certificate_chain_file(cert);
        if (!key.empty()) context.use_private_key_file(key);
        sockets::TlsStream tls = sockets::tls_connect(sockets::connect_to(args[0], std::atoi(args[1].c_str()), 10s),
                                                      context, name.empty() ? args[0] : name, 10s);
        std::printf("connected to %s with %s, certificate %s\n", tls.socket().peer_address().to_string().c_str(),
                    tls.protocol_version().c_str(), tls.peer_subject().c_str());
        for (std::size_t i = 2; i < args.size(); ++i) {
            const std::string& message = args[i];
            tls.send_all(message, 10s);
            std::string echo(message.size(), '\0');
            tls.recv_exact(echo.data(), echo.size(), 10s);  // the echo may come in pieces
            std::printf("sent %-12s got back %s\n", ("\"" + message + "\"").c_str(), ("\"" + echo + "\"").c_str());
        }
        tls.shutdown(10s);  // our close_notify, then the server's
        std::printf("closed with close_notify both ways: done\n");
    } catch (const std::system_error& e) {
        std::fprintf(stderr, "tls_echo_client: %s\n", e.what());
        return 1;
    }
}
