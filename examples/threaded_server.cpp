// threaded_server: the HOWTO's threaded server. The main thread does nothing but accept; each
// client is handed to a worker thread, which answers every line the client sends with the
// same line. Written the way docs/guide.md recommends for a server that meets strangers:
//
//   - a fixed pool of workers (examples/common.hpp), so threads are reaped and bounded: the
//     server can run for days, and a flood of clients waits in the listen backlog;
//   - every request has a deadline (--timeout) and every connection a lifetime (--lifetime),
//     so a silent or trickling client frees its worker;
//   - lines are bounded (a client cannot make us buffer megabytes looking for "\n");
//   - one client's error ends that client, in one log line; never the server;
//   - accept failing for lack of descriptors pauses accepting instead of spinning;
//   - SIGINT/SIGTERM: stop accepting, end the connections being served, join, exit 0.
//
//   threaded_server [ADDRESS] [--clients N] [--timeout S] [--lifetime S] [--threads N]
#include "common.hpp"

using namespace sockets;
using example::Clock;

constexpr std::size_t max_line = 4096;

// One client, start to finish, on a worker thread (the pool closes it afterwards).
static void serve(Socket& client, const Address& who, const example::Options& options) {
    MessageBuffer buffer(max_line);
    auto next_line = [](MessageBuffer& b, std::error_code& ec) { return b.next_line(ec); };
    const auto end_of_life = Clock::now() + options.lifetime;
    std::error_code ec;
    for (;;) {
        auto deadline = std::min(Clock::now() + options.timeout, end_of_life);
        std::string_view line = example::read_request(client, buffer, deadline, next_line, ec);
        if (ec) break;
        // A client that never reads must not hold its worker past --timeout or --lifetime.
        send_line(client, line, example::reply_time(options.timeout, end_of_life), ec);
        if (ec == std::errc::timed_out) {
            example::log("threaded_server: %s: dropped: does not read its replies", who.to_string().c_str());
            return;
        }
        if (ec) break;
    }
    if (example::worth_logging(ec)) example::log("threaded_server: %s: %s", who.to_string().c_str(), ec.message().c_str());
}

int main(int argc, char* argv[]) {
    auto options = example::parse_options(argc, argv, "usage: threaded_server [ADDRESS] [options]\n"
                                                      "  answers each line a client sends with the same line");
    example::stop_on_signals();
    try {
        Socket listener = listen_on(Address::parse(options.where));
        // The first line tells scripts where we are, e.g. "listening on 127.0.0.1:40213".
        example::log("listening on %s", listener.local_address().to_string().c_str());

        example::WorkerPool pool(options.threads, [&](Socket& c, const Address& who) { serve(c, who, options); });
        example::AcceptTrouble trouble("threaded_server");
        for (long accepted = 0; options.clients < 0 || accepted < options.clients;) {
            if (example::stop_requested()) break;
            Address who;
            Socket client = example::accept_client(listener, who, trouble);
            if (!client) continue;  // nobody came within the poll interval, or accept failed
            if (!pool.submit(std::move(client), who)) break;
            ++accepted;
        }
        if (example::stop_requested()) example::log("threaded_server: stopping");
        listener.close();
        if (!example::stop_requested()) pool.drain();
        pool.stop();
    } catch (const std::exception& e) {  // only the listener's own failures get here
        std::fprintf(stderr, "threaded_server: %s\n", e.what());
        return 1;
    }
}
