// async_tls_echo_server: tls_echo_server on one thread, a coroutine per client (C++20,
// sockets/async.hpp with sockets/tls.hpp). The handshake has the --timeout, each read the
// --timeout, each echo the same time to be taken by the client, the connection a --lifetime;
// the end is close_notify both ways and a polite close, none of which blocks the other
// clients. SIGINT/SIGTERM stop the loop, which closes every connection (mid-handshake too).
//
//   async_tls_echo_server --cert CHAIN.pem --key KEY.pem [--client-ca CA.pem] [ADDRESS] [options]
//   --client-ca: require a client certificate issued by that CA (mutual TLS)
#include <sockets/async.hpp>
#include <sockets/tls.hpp>

#include "common.hpp"

using namespace sockets;
using example::Clock;

namespace {

Task<void> serve(EventLoop& loop, Socket client, Address who, const TlsContext& context, example::Options options) {
    const std::string name = who.to_string();
    std::error_code ec;
    TlsStream tls = co_await loop.tls_accept(std::move(client), context, options.timeout, ec);
    if (ec) {
        example::log("async_tls_echo_server: %s: handshake: %s", name.c_str(), ec.message().c_str());
        // Closing with the client's last handshake bytes unread would reset the connection,
        // and the reset can overtake our alert: drain briefly so the client learns why.
        if (tls.socket().is_open()) co_await loop.graceful_close(tls.socket(), example::linger, ec);
        co_return;
    }
    example::log("async_tls_echo_server: %s: %s%s%s", name.c_str(), tls.protocol_version().c_str(),
                 tls.has_peer_certificate() ? ", client " : "", tls.peer_subject().c_str());
    char buffer[4096];
    const auto end_of_life = Clock::now() + options.lifetime;
    for (;;) {
        auto left = std::min<Clock::duration>(options.timeout, end_of_life - Clock::now());
        std::size_t n = co_await loop.recv(tls, buffer, sizeof buffer, left, ec);
        if (ec || n == 0) break;  // 0: the client's close_notify
        if (co_await loop.send_all(tls, buffer, n, example::reply_time(options.timeout, end_of_life), ec) < n) break;
    }
    if (ec) {
        example::log("async_tls_echo_server: %s: %s", name.c_str(), ec.message().c_str());
        co_return;  // the stream's destructor closes the socket
    }
    co_await loop.graceful_close(tls, example::linger, ec);
}

Task<void> accept_clients(EventLoop& loop, Socket& listener, const TlsContext& context, example::Options options) {
    example::AcceptTrouble trouble("async_tls_echo_server");
    for (long accepted = 0; options.clients < 0 || accepted < options.clients;) {
        Address who;
        std::error_code ec;
        Socket client = co_await loop.accept(listener, &who, Timeout::max(), ec);
        if (ec) {  // out of descriptors, for instance: back off instead of spinning
            trouble.failed(ec);
            co_await loop.sleep(example::accept_back_off);
            continue;
        }
        trouble.succeeded();
        loop.spawn(serve(loop, std::move(client), who, context, options));
        ++accepted;
    }
}

}  // namespace

int main(int argc, char* argv[]) {
    std::string cert, key, client_ca;
    std::vector<char*> rest{argv[0]};
    for (int i = 1; i < argc; ++i) {
        if (!std::strcmp(argv[i], "--cert") && i + 1 < argc) cert = argv[++i];
        else if (!std::strcmp(argv[i], "--key") && i + 1 < argc) key = argv[++i];
        else if (!std::strcmp(argv[i], "--client-ca") && i + 1 < argc) client_ca = argv[++i];
        else rest.push_back(argv[i]);
    }
    const char* usage =
        "usage: async_tls_echo_server --cert CHAIN.pem --key KEY.pem [--client-ca CA.pem] [ADDRESS] [options]\n"
        "  echoes back whatever each client sends, over TLS, on one thread with coroutines;\n"
        "  --client-ca CA.pem: clients must present a certificate issued by CA (mutual TLS)";
    auto options = example::parse_options(static_cast<int>(rest.size()), rest.data(), usage);
    if (cert.empty() || key.empty()) {
        std::fprintf(stderr, "%s\n", usage);
        return 2;
    }
    try {
        TlsContext context = TlsContext::server(cert, key);
        if (!client_ca.empty()) {
            context.load_verify_file(client_ca);
            context.require_client_certificate();
        }
        Socket listener = listen_on(Address::parse(options.where));
        example::log("listening on %s", listener.local_address().to_string().c_str());
        EventLoop loop;
        example::StopOnSignals<EventLoop> stop_on_signals(loop);
        // With --clients N the loop ends by itself once the N clients are done.
        loop.spawn(accept_clients(loop, listener, context, options));
        loop.run();
    } catch (const std::exception& e) {
        std::fprintf(stderr, "async_tls_echo_server: %s\n", e.what());
        return 1;
    }
}
