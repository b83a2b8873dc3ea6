// echo_server: sends back whatever each client sends, until the client closes its side.
// Threaded like threaded_server (the main thread accepts, a bounded pool of workers serves;
// see examples/common.hpp), with raw bytes instead of lines: no framing at all, so each
// recv has the timeout (--timeout), each echo the same time to be taken by the client, and
// the connection a lifetime (--lifetime).
//
//   echo_server [ADDRESS] [--clients N] [--timeout S] [--lifetime S] [--threads N]
#include "common.hpp"

using namespace sockets;
using example::Clock;

static void serve(Socket& client, const Address& who, const example::Options& options) {
    char buffer[4096];
    const auto end_of_life = Clock::now() + options.lifetime;
    std::error_code ec;
    // recv returns 0 when the client has shut down its side: then we are done.
    for (;;) {
        auto left = std::min<Clock::duration>(options.timeout, end_of_life - Clock::now());
        std::size_t n = client.recv(buffer, sizeof buffer, left, ec);
        if (ec || n == 0) break;
        // A client that never reads must not hold its worker past --timeout or --lifetime.
        if (client.send_all(buffer, n, example::reply_time(options.timeout, end_of_life), ec) < n) break;  // ec says why
    }
    if (ec) example::log("echo_server: %s: %s", who.to_string().c_str(), ec.message().c_str());
    // The pool closes the client (gracefully) once we return.
}

int main(int argc, char* argv[]) {
    auto options = example::parse_options(argc, argv, "usage: echo_server [ADDRESS] [options]\n"
                                                      "  echoes back whatever each client sends");
    example::stop_on_signals();
    try {
        Socket listener = listen_on(Address::parse(options.where));
        // The first line tells scripts where we are, e.g. "listening on 127.0.0.1:40213".
        example::log("listening on %s", listener.local_address().to_string().c_str());

        example::WorkerPool pool(options.threads, [&](Socket& c, const Address& who) { serve(c, who, options); });
        example::AcceptTrouble trouble("echo_server");
        for (long accepted = 0; options.clients < 0 || accepted < options.clients;) {
            if (example::stop_requested()) break;
            Address who;
            Socket client = example::accept_client(listener, who, trouble);
            if (!client) continue;  // nobody came within the poll interval, or accept failed
            if (!pool.submit(std::move(client), who)) break;
            ++accepted;
        }
        listener.close();
        if (!example::stop_requested()) pool.drain();
        pool.stop();
    } catch (const std::exception& e) {  // only the listener's own failures get here
        std::fprintf(stderr, "echo_server: %s\n", e.what());
        return 1;
    }
}
