// tls_echo_server: echo_server over TLS. Each worker runs the handshake (under --timeout),
// echoes until the client's close_notify, and answers with its own. SIGINT/SIGTERM: stop
// accepting, cut every connection (mid-handshake ones too), exit 0, within a poll interval.
//
//   tls_echo_server --cert CHAIN.pem --key KEY.pem [--client-ca CA.pem] [ADDRESS] [options]
//   --client-ca: require a client certificate issued by that CA (mutual TLS)
#include "common.hpp"

#include <sockets/tls.hpp>

using namespace sockets;
using example::Clock;

static void serve(Socket& client, const Address& who, const TlsContext& context, const example::Options& options,
                  example::WorkerPool& pool) {
    const std::string name = who.to_string();
    std::error_code ec;
    TlsStream tls = TlsStream::server(std::move(client), context, ec);
    // The stream owns the socket now: the pool must stop it there (SIGTERM), handshake included.
    example::WorkerPool::Handoff handoff(pool, client, tls.socket());
    // The handshake has a deadline like every read: a client that stops half-way frees the worker.
    if (!ec) tls.handshake(options.timeout, ec);
    if (ec) {
        if (!example::stop_requested())  // stopping cuts every connection: nothing to report
            example::log("tls_echo_server: %s: handshake: %s", name.c_str(), ec.message().c_str());
        // Closing with the client's last handshake bytes unread would reset the connection,
        // and the reset can overtake our alert: drain briefly so the client learns why.
        tls.socket().graceful_close(example::linger, ec);
        return;
    }
    example::log("tls_echo_server: %s: %s%s%s", name.c_str(), tls.protocol_version().c_str(),
                 tls.has_peer_certificate() ? ", client " : "", tls.peer_subject().c_str());
    char buffer[4096];
    const auto end_of_life = Clock::now() + options.lifetime;
    for (;;) {
        auto left = std::min<Clock::duration>(options.timeout, end_of_life - Clock::now());
        std::size_t n = tls.recv(buffer, sizeof buffer, left, ec);
        if (ec || n == 0) break;  // 0: the client's close_notify
        if (tls.send_all(buffer, n, options.timeout, ec) < n) break;
    }
    if (ec && !example::stop_requested()) example::log("tls_echo_server: %s: %s", name.c_str(), ec.message().c_str());
    else tls.shutdown(example::linger, ec);
}

int main(int argc, char* argv[]) {
    std::string cert, key, client_ca;
    std::vector<char*> rest{argv[0]};
    for (int i = 1; i < argc; ++i) {
        if (!std::strcmp(argv[i], "--cert") && i + 1 < argc) cert = argv[++i];
        else if (!std::strcmp(argv[i], "--key") && i + 1 < argc) key = argv[++i];
        else if (!std::strcmp(argv[i], "--client-ca") && i + 1 < argc) client_ca = argv[++i];
        else rest.push_back(argv[i]);
    }
    const char* usage = "usage: tls_echo_server --cert CHAIN.pem --key KEY.pem [--client-ca CA.pem] [ADDRESS] [options]\n"
                        "  echoes back whatever each client sends, over TLS;\n"
                        "  --client-ca CA.pem: clients must present a certificate issued by CA (mutual TLS)";
    auto options = example::parse_options(static_cast<int>(rest.size()), rest.data(), usage);
    if (cert.empty() || key.empty()) {
        std::fprintf(stderr, "%s\n", usage);
        return 2;
    }
    example::stop_on_signals();
    try {
        TlsContext context = TlsContext::server(cert, key);
        if (!client_ca.empty()) {
            context.load_verify_file(client_ca);
            context.require_client_certificate();
        }
        Socket listener = listen_on(Address::parse(options.where));
        example::log("listening on %s", listener.local_address().to_string().c_str());

        // The handler names the pool it runs in: it is called only for submitted clients, so
        // never before the pool is built.
        example::WorkerPool pool(options.threads,
                                 [&](Socket& c, const Address& who) { serve(c, who, context, options, pool); });
        example::AcceptTrouble trouble("tls_echo_server");
        for (long accepted = 0; options.clients < 0 || accepted < options.clients;) {
            if (example::stop_requested()) break;
            Address who;
            Socket client = example::accept_client(listener, who, trouble);
            if (!client) continue;
            if (!pool.submit(std::move(client), who)) break;
            ++accepted;
        }
        listener.close();
        if (!example::stop_requested()) pool.drain();
        pool.stop();
    } catch (const std::exception& e) {
        std::fprintf(stderr, "tls_echo_server: %s\n", e.what());
        return 1;
    }
}
