// Signals during every blocking call, on every socket family (#23): a handler installed without
// SA_RESTART, and a thread sending the signal to the caller again and again. The call must
// neither fail with EINTR nor report a success that did not happen (a Unix-domain connect
// reported "connected" on a socket that was not), and it must complete when the peer acts.
// POSIX only: Windows has no signals that interrupt a socket call.
#include <sockets/sockets.hpp>

#include <atomic>
#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "catch.hpp"
#include "support.hpp"

using namespace sockets;
using namespace std::chrono_literals;

#if !defined(_WIN32)

#include <csignal>
#include <pthread.h>
#include <unistd.h>

namespace {

using Clock = std::chrono::steady_clock;

std::atomic<int> delivered{0};
void count_signal(int) { delivered.fetch_add(1, std::memory_order_relaxed); }

// SIGUSR1 handled without SA_RESTART (so a blocked system call returns EINTR), for one test.
struct InterruptingHandler {
    struct sigaction old {};
    InterruptingHandler() {
        struct sigaction action {};
        action.sa_handler = count_signal;
        sigemptyset(&action.sa_mask);
        action.sa_flags = 0;
        ::sigaction(SIGUSR1, &action, &old);
    }
    ~InterruptingHandler() { ::sigaction(SIGUSR1, &old, nullptr); }
};

template <class R>
struct Outcome {
    R result;
    bool waited;  // still in the call when the peer acted (nothing could have completed it)
    int signals;  // delivered while the call ran
};

// Runs call on a thread of its own and interrupts it with SIGUSR1 every millisecond: 20
// signals with the peer idle, then act() (the peer does its part), then on until the call
// returns. rescue() must make a call that hangs return (20 s guard). No Catch2 assertions
// off the main thread.
template <class Call>
auto interrupted(Call call, const std::function<void()>& act, const std::function<void()>& rescue)
    -> Outcome<decltype(call())> {
    using R = decltype(call());
    InterruptingHandler handler;
    std::atomic<bool> started{false}, finished{false};
    std::optional<R> result;
    std::thread worker([&] {
        started = true;
        result.emplace(call());
        finished = true;
    });
    while (!started) std::this_thread::yield();
    const int before = delivered.load();
    auto signal = [&] {
        ::pthread_kill(worker.native_handle(), SIGUSR1);
        std::this_thread::sleep_for(1ms);  // pacing the signals, not synchronising
    };
    while (delivered.load() - before < 20 && !finished) signal();
    const bool waited = !finished;
    act();
    const auto guard = Clock::now() + 20s;
    while (!finished && Clock::now() < guard) signal();
    const bool hung = !finished;
    if (hung) rescue();
    worker.join();
    CHECK_FALSE(hung);
    return {std::move(*result), waited, delivered.load() - before};
}

// A fresh path in /tmp, removed again when the test ends.
struct TempPath {
    std::string path;
    explicit TempPath(const char* tag)
        : path("/tmp/sockets-signal-test-" + std::to_string(::getpid()) + "-" + tag) { ::unlink(path.c_str()); }
    ~TempPath() { ::unlink(path.c_str()); }
};

}  // namespace

TEST_CASE("a Unix-domain connect interrupted while the backlog is full connects for real (#23)", "[signals][unix][connect]") {
    TempPath where("connect");
    const Address address = Address::unix_path(where.path);
    Socket listener = listen_on(address, 0);
    // Fill the backlog (0: one pending connection on Linux; more elsewhere).
    std::vector<Socket> fillers;
    for (int i = 0; i < 64; ++i) {
        Socket s = Socket::open(Family::unix_domain, Type::stream);
        s.set_nonblocking(true);
        std::error_code ec;
        if (s.start_connect(address, ec) || !ec) {
            fillers.push_back(std::move(s));
            continue;
        }
        REQUIRE(ec == std::errc::resource_unavailable_try_again);
        break;
    }
    REQUIRE(fillers.size() < 64);

    TempPath client_path("connect-client");  // a name, so the server can tell it from the fillers
    Socket client = Socket::open(Family::unix_domain, Type::stream);
    client.bind(Address::unix_path(client_path.path));
    std::vector<Socket> accepted;
    auto outcome = interrupted(
        [&] {
            std::error_code ec;
            client.connect(address, ec);
            return ec;
        },
        [&] { accepted.push_back(listener.accept()); },  // room for one more
        [&] { listener.close(); });
    CHECK_FALSE(outcome.result);
    CHECK(outcome.waited);
    CHECK(outcome.signals >= 20);
    // Really connected: the listener hands it out after the fillers, and bytes flow both ways.
    Socket server;
    for (std::size_t i = 0; i <= fillers.size() && !server; ++i) {
        Socket s = listener.accept(10s);
        if (s.peer_address() == client.local_address()) server = std::move(s);
    }
    REQUIRE(server);
    client.send_all("?");
    char probe = 0;
    CHECK(server.recv_exact(&probe, 1, 10s) == 1);
    server.send_all("!");
    char reply = 0;
    CHECK(client.recv_exact(&reply, 1, 10s) == 1);
    CHECK(reply == '!');
}

#endif
