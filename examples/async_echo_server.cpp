// async_echo_server: echo_server's job on one thread, one coroutine per client (C++20,
// sockets/async.hpp). Each recv has the --timeout, each echo the same time to be taken by the
// client, and the connection a --lifetime; SIGINT/SIGTERM stop the loop (EventLoop::stop is
// async-signal-safe), which closes every connection as it destroys their tasks.
//
//   async_echo_server [ADDRESS] [--clients N] [--timeout S] [--lifetime S]
#include <sockets/async.hpp>

#include <csignal>

#include "common.hpp"

using namespace sockets;
using example::Clock;

namespace {

std::atomic<EventLoop*> running{nullptr};  // for the signal handler (lock-free)

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

Task<void> accept_clients(EventLoop& loop, Socket& listener, example::Options options) {
    for (long accepted = 0; options.clients < 0 || accepted < options.clients;) {
        Address who;
        std::error_code ec;
        Socket client = co_await loop.accept(listener, &who, Timeout::max(), ec);
        if (ec) {  // out of descriptors, for instance: back off instead of spinning
            example::log("async_echo_server: accept: %s", ec.message().c_str());
            co_await loop.sleep(example::accept_back_off);
            continue;
        }
        loop.spawn(serve(loop, std::move(client), who, options));
        ++accepted;
    }
}

}  // namespace

int main(int argc, char* argv[]) {
    auto options = example::parse_options(argc, argv, "usage: async_echo_server [ADDRESS] [options]\n"
                                                      "  echoes back whatever each client sends, one thread, coroutines");
    try {
        Socket listener = listen_on(Address::parse(options.where));
        example::log("listening on %s", listener.local_address().to_string().c_str());
        EventLoop loop;
        running = &loop;
        auto stop = [](int) {
            if (EventLoop* loop = running.load()) loop->stop();
        };
        std::signal(SIGINT, stop);
        std::signal(SIGTERM, stop);
        // With --clients N the loop ends by itself: the acceptor after N clients, each client
        // task when its client is done.
        loop.spawn(accept_clients(loop, listener, options));
        loop.run();
        running.store(nullptr);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "async_echo_server: %s\n", e.what());
        return 1;
    }
}
