// async_echo_server: echo_server's job on one thread, one coroutine per client (C++20,
// sockets/async.hpp). Each recv has the --timeout, each echo the same time to be taken by the
// client, and the connection a --lifetime; SIGINT/SIGTERM stop the loop (EventLoop::stop is
// async-signal-safe), which closes every connection as it destroys their tasks.
//
// More cores (--threads N): one loop per thread, nothing shared between them but the port.
// Each loop has its own listener bound with SO_REUSEPORT, and the kernel spreads new
// connections over them. Where the platform has no SO_REUSEPORT (Windows) the loops share one
// listener instead: each waits for it to be readable and one wins each accept (a loser's accept
// would block, so it simply waits again).
//
//   async_echo_server [ADDRESS] [--clients N] [--timeout S] [--lifetime S] [--threads N]
#include <sockets/async.hpp>

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "common.hpp"

using namespace sockets;
using example::Clock;

namespace {

Task<void> serve(EventLoop& loop, Socket client, Address who, example::Options options) {
    char buffer[4096];
    const auto end_of_life = Clock::now() + options.lifetime;
    std::error_code ec;
    for (;;) {
        auto left = std::min<Clock::duration>(options.timeout, end_of_life - Clock::now());
        std::size_t n = co_await loop.recv(client, buffer, sizeof buffer, left, ec);
        if (ec || n == 0) break;
        if (co_await loop.send_all(client, buffer, n, example::reply_time(options.timeout, end_of_life), ec) < n) break;
    }
    if (ec) example::log("async_echo_server: %s: %s", who.to_string().c_str(), ec.message().c_str());
    std::error_code ignored;
    co_await loop.graceful_close(client, example::linger, ignored);
}

// --clients N counts over all the loops: the loop that accepts the Nth client tells the others,
// whose acceptors look at the count between accepts (each waits at most a quarter second, only
// when --clients is given).
std::atomic<long> accepted{0};

Task<void> accept_clients(EventLoop& loop, Socket& listener, example::Options options) {
    const bool counting = options.clients >= 0;
    const Timeout wait = counting ? Timeout(example::poll_interval) : Timeout::max();
    while (!counting || accepted.load() < options.clients) {
        Address who;
        std::error_code ec;
        Socket client = co_await loop.accept(listener, &who, wait, ec);
        if (ec == std::errc::timed_out) continue;
        if (ec) {  // out of descriptors, for instance: back off instead of spinning
            example::log("async_echo_server: accept: %s", ec.message().c_str());
            co_await loop.sleep(example::accept_back_off);
            continue;
        }
        if (counting && accepted.fetch_add(1) >= options.clients) break;  // another loop took the last
        loop.spawn(serve(loop, std::move(client), who, options));
    }
}

// One loop on this thread; with --clients it ends by itself (the acceptor after N clients, each
// client's task when its client is done).
void run_loop(Socket& listener, const example::Options& options) {
    EventLoop loop;
    example::StopOnSignals<EventLoop> stop_on_signals(loop);
    loop.spawn(accept_clients(loop, listener, options));
    loop.run();
}

// The listeners for n loops: n sharing the port where the platform allows it, else one (why
// goes into shared_why).
std::vector<std::unique_ptr<Socket>> listeners_for(const Address& where, unsigned n, std::string& shared_why) {
    std::vector<std::unique_ptr<Socket>> listeners;
    ListenOptions shared;
    shared.reuse_port = n > 1;
    std::error_code ec;
    Socket first = listen_on(where, shared, ec);
    if (ec && shared.reuse_port) {  // no SO_REUSEPORT here: the loops share one listener
        shared_why = ec.message();
        shared.reuse_port = false;
        first = listen_on(where, shared);
    } else if (ec) {
        first = listen_on(where, shared);  // the throwing form names what failed
    }
    Address bound = first.local_address();  // port 0 became a port: the others take the same
    listeners.push_back(std::make_unique<Socket>(std::move(first)));
    while (shared.reuse_port && listeners.size() < n)
        listeners.push_back(std::make_unique<Socket>(listen_on(bound, shared)));
    return listeners;
}

}  // namespace

int main(int argc, char* argv[]) {
    example::Options defaults;
    defaults.threads = 1;
    auto options = example::parse_options(argc, argv,
                                          "usage: async_echo_server [ADDRESS] [options]\n"
                                          "  echoes back whatever each client sends, coroutines on an event loop;\n"
                                          "  --threads N: N loops, one per thread, each with its own listener\n"
                                          "  (SO_REUSEPORT; where there is none, the loops share one listener)",
                                          defaults);
    options.threads = std::min(options.threads, example::StopOnSignals<EventLoop>::max_loops);
    try {
        std::atomic<bool> failed{false};
        std::string shared_why;
        auto listeners = listeners_for(Address::parse(options.where), options.threads, shared_why);
        example::log("listening on %s", listeners.front()->local_address().to_string().c_str());
        if (!shared_why.empty())
            example::log("%u loops, one per thread, share one listener (SO_REUSEPORT: %s)", options.threads,
                         shared_why.c_str());
        else if (options.threads > 1)
            example::log("%u loops, one per thread, each with its own listener", options.threads);
        // A loop that fails ends the others: the server is all of them or none.
        auto run_or_stop_all = [&](unsigned i) {
            try {
                run_loop(*listeners[i % listeners.size()], options);
            } catch (const std::exception& e) {
                example::log("async_echo_server: loop %u: %s", i, e.what());
                example::StopOnSignals<EventLoop>::stop_all();
                failed = true;
            }
        };
        std::vector<std::thread> others;
        for (unsigned i = 1; i < options.threads; ++i) others.emplace_back(run_or_stop_all, i);
        run_or_stop_all(0);
        for (auto& t : others) t.join();
        return failed ? 1 : 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "async_echo_server: %s\n", e.what());
        return 1;
    }
}
