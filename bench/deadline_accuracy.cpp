// How closely timed calls keep their deadline: for each kind of call, N calls with a timeout
// that nothing will satisfy, and the overshoot (elapsed - timeout) of each. Prints one Markdown
// row per kind: median and worst overshoot in microseconds, and how many ended early (must be 0).
//   deadline_accuracy [calls] [timeout_ms]
#include <sockets/sockets.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <vector>

using namespace sockets;
using Clock = std::chrono::steady_clock;

static void measure(const char* name, int calls, std::chrono::milliseconds timeout,
                    const std::function<void(Timeout)>& call) {
    std::vector<long long> overshoot_us;
    int early = 0;
    for (int i = 0; i < calls; ++i) {
        auto start = Clock::now();
        call(timeout);
        auto took = Clock::now() - start;
        if (took < timeout) ++early;
        overshoot_us.push_back(std::chrono::duration_cast<std::chrono::microseconds>(took - timeout).count());
    }
    std::sort(overshoot_us.begin(), overshoot_us.end());
    std::printf("| %s | %d | %lld | %lld | %d |\n", name, calls, overshoot_us[overshoot_us.size() / 2],
                overshoot_us.back(), early);
}

int main(int argc, char** argv) {
    int calls = argc > 1 ? std::atoi(argv[1]) : 100;
    std::chrono::milliseconds timeout(argc > 2 ? std::atoi(argv[2]) : 10);
    Socket listener = listen_on(Address::loopback(Family::ipv4));
    Socket client = connect_to(listener.local_address());
    Socket server = listener.accept();
    Socket udp = Socket::udp();
    udp.bind(Address::loopback(Family::ipv4));
    char buffer[16];
    std::error_code ec;

    std::printf("| call (timeout %lld ms) | calls | median overshoot (us) | worst overshoot (us) | ended early |\n",
                static_cast<long long>(timeout.count()));
    std::printf("| --- | ---: | ---: | ---: | ---: |\n");
    measure("recv", calls, timeout, [&](Timeout t) { (void)server.recv(buffer, sizeof buffer, t, ec); });
    measure("recv_exact", calls, timeout, [&](Timeout t) { (void)server.recv_exact(buffer, sizeof buffer, t, ec); });
    measure("accept", calls, timeout, [&](Timeout t) { (void)listener.accept(t, ec); });
    measure("recv_from", calls, timeout, [&](Timeout t) { (void)udp.recv_from(buffer, sizeof buffer, t, ec); });
    Poller poller;
    poller.add(server, Events::readable, 1);
    measure("Poller::wait", calls, timeout, [&](Timeout t) { (void)poller.wait(t, ec); });
    std::vector<Socket> clients, servers;  // connected up front: only the close is timed
    for (int i = 0; i < calls; ++i) {
        clients.push_back(connect_to(listener.local_address()));
        servers.push_back(listener.accept());
    }
    int next = 0;
    measure("graceful_close", calls, timeout, [&](Timeout t) {
        servers[next++].graceful_close(t, ec);  // the client never closes: the deadline ends it
    });
    return 0;
}
