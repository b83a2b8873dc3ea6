// The Poller event model and lifetime rule (see poller.hpp), checked on every backend.
#include <sockets/poller.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <new>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#if !defined(_WIN32)
#include <sys/resource.h>
#endif

#include "catch.hpp"
#include "support.hpp"

using namespace sockets;
using namespace std::chrono_literals;

#if defined(SOCKETS_HAS_EPOLL)
#define POLLER_BACKENDS SelectPoller, PollPoller, EpollPoller
#else
#define POLLER_BACKENDS SelectPoller, PollPoller
#endif

constexpr auto guard = 10s;  // hang guard only
#if defined(_WIN32)
constexpr bool test_on_windows = true;
#else
constexpr bool test_on_windows = false;
#endif

// ---- an allocator that can be told to fail -------------------------------------------------
// fail_after = n: the n+1-th allocation from now throws (then all succeed again); -1: never.
static std::atomic<long> fail_after{-1};
static std::atomic<bool> fail_every{false};

// TSan's runtime defines the global operator new/delete itself (a second definition does not
// link): there, allocation failures cannot be injected and those tests are skipped.
#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define SOCKETS_TEST_TSAN 1
#endif
#endif
#if defined(__SANITIZE_THREAD__) || defined(SOCKETS_TEST_TSAN)
constexpr bool can_fail_allocations = false;
#else
constexpr bool can_fail_allocations = true;
void* operator new(std::size_t size) {
    if (fail_every) throw std::bad_alloc();
    long n = fail_after.load();
    if (n >= 0 && fail_after.fetch_sub(1) == 0) throw std::bad_alloc();
    if (void* p = std::malloc(size ? size : 1)) return p;
    throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
#endif

// The sanitizer's runtime allocates some blocks with its own operator new that ours (malloc)
// later frees: the same heap, a mismatch only in name.
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SOCKETS_TEST_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(SOCKETS_TEST_ASAN)
extern "C" const char* __asan_default_options() { return "alloc_dealloc_mismatch=0"; }
#endif

struct FailingAllocation {
    explicit FailingAllocation(long after) { fail_after = after; }
    ~FailingAllocation() { fail_after = -1; }
};

template <class List>
static std::vector<Ready> collect(const List& ready) {
    std::vector<Ready> out;
    for (const Ready& r : ready) out.push_back(r);
    return out;
}

// Waits until the token is reported (hang guard: guard).
template <class P>
static Ready wait_for_token(P& poller, std::uint64_t token) {
    auto deadline = std::chrono::steady_clock::now() + guard;
    while (std::chrono::steady_clock::now() < deadline)
        for (const Ready& r : poller.wait(guard))
            if (r.token == token) return r;
    FAIL("token " << token << " never reported");
    return Ready{};
}

// ---- the event model -------------------------------------------------------------------------

TEMPLATE_TEST_CASE("half-close: the peer's shutdown(write) is readable, never hang_up", "[poller][model]",
                   POLLER_BACKENDS) {
    TestType poller;
    auto p = test::tcp_pair();
    poller.add(p.server, Events::readable, 1);
    p.client.shutdown(Shutdown::write);
    Ready r = wait_for_token(poller, 1);
    CHECK(r.has(Events::readable));
    CHECK_FALSE(r.has(Events::hang_up));
    CHECK_FALSE(r.has(Events::error));
    char c;
    CHECK(p.server.recv(&c, 1) == 0);
    p.server.send_all(std::string("answer"));  // the HOWTO client still waits for it
    char answer[6];
    p.client.recv_exact(answer, sizeof answer, guard);
    CHECK(std::string(answer, 6) == "answer");
}

TEMPLATE_TEST_CASE("full close: hang_up always comes with readable, and recv sees the end", "[poller][model]",
                   POLLER_BACKENDS) {
    TestType poller;
    auto p = test::tcp_pair();
    poller.add(p.server, Events::writable, 1);  // not even asking for readable
    p.client.close();
    char c;
    REQUIRE(p.server.recv(&c, 1) == 0);  // the FIN is here
    p.server.shutdown(Shutdown::write);  // both directions closed: the connection is over
    Ready r = wait_for_token(poller, 1);
    if (TestType::reports_hang_up) CHECK(r.has(Events::hang_up));
    if (r.has(Events::hang_up)) CHECK(r.has(Events::readable));
}

TEMPLATE_TEST_CASE("a reset connection is readable with error (and hang_up where reported)", "[poller][model]",
                   POLLER_BACKENDS) {
    TestType poller;
    auto p = test::tcp_pair();
    poller.add(p.server, Events::readable, 1);
    p.client.set_linger(std::chrono::seconds(0));  // close sends RST
    p.client.close();
    Ready r = wait_for_token(poller, 1);
    CHECK(r.has(Events::readable));
    if (r.has(Events::hang_up)) CHECK(r.has(Events::readable));
#if !defined(_WIN32)
    if (TestType::reports_hang_up) CHECK(r.has(Events::error));  // select: readable only (documented)
#endif
    std::error_code ec;
    char c;
    std::size_t n = p.server.recv(&c, 1, ec);
    CHECK((ec == std::errc::connection_reset || (!ec && n == 0)));
}

TEMPLATE_TEST_CASE("add of a closed socket fails the same way on every backend", "[poller][model]",
                   POLLER_BACKENDS) {
    TestType poller;
    std::error_code ec;
    Socket never;
    poller.add(never, Events::readable, 1, ec);
    CHECK(ec == errc::not_open);
    poller.add(native_handle_type(INT_MAX), Events::readable, 1, ec);  // no such descriptor
    CHECK(ec == std::errc::bad_file_descriptor);
    CHECK_THROWS_AS(poller.add(native_handle_type(INT_MAX), Events::readable, 1), std::system_error);
    CHECK(poller.size() == 0);
    poller.remove(native_handle_type(INT_MAX), ec);
    CHECK(ec == errc::not_registered);
}

// ---- lifetime ----------------------------------------------------------------------------------

TEMPLATE_TEST_CASE("close before remove: at most one error report, no busy loop, remove says so", "[poller][lifetime]",
                   POLLER_BACKENDS) {
    TestType poller;
    auto p = test::tcp_pair();
    poller.add(p.server, Events::readable, 1);
    p.client.send_all(std::string("x"));
    p.server.close();
    int reports = 0;
    bool only_errors = true;
    for (int i = 0; i < 3; ++i) {
        auto start = std::chrono::steady_clock::now();
        for (const Ready& r : poller.wait(30ms)) {
            ++reports;
            only_errors = only_errors && r.events == Events::error;
        }
        if (i > 0) CHECK(std::chrono::steady_clock::now() - start >= 30ms);  // no busy loop
    }
    CHECK(reports <= 1);
    CHECK(only_errors);
    std::error_code ec;
    poller.remove(p.listener, ec);
    CHECK(ec == errc::not_registered);
}

TEMPLATE_TEST_CASE("remove after close reports the closed handle and forgets it", "[poller][lifetime]",
                   POLLER_BACKENDS) {
    TestType poller;
    auto p = test::tcp_pair();
    native_handle_type h = p.server.native_handle();
    poller.add(p.server, Events::readable, 1);
    p.server.close();
    std::error_code ec;
    poller.remove(h, ec);
    CHECK(ec == std::errc::bad_file_descriptor);  // not a silent success
    CHECK(poller.size() == 0);
    poller.remove(h, ec);
    CHECK(ec == errc::not_registered);
}

TEMPLATE_TEST_CASE("a socket closed without remove is reported once as error, not an empty early wait",
                   "[poller][lifetime]", POLLER_BACKENDS) {
    TestType poller;
    auto p = test::tcp_pair();
    poller.add(p.server, Events::readable, 1);
    p.server.close();
    // wine's WSAPoll ignores a closed handle (Microsoft documents POLLNVAL for it): not checked there.
    constexpr bool sees_closed = std::is_same<TestType, SelectPoller>::value ||
                                 (std::is_same<TestType, PollPoller>::value && !test_on_windows);
    auto ready = collect(poller.wait(sees_closed ? std::chrono::milliseconds(guard) : 100ms));
    if (sees_closed) {
        REQUIRE(ready.size() == 1);  // empty only on timeout, error or wake()
        CHECK(ready[0].token == 1);
        CHECK(ready[0].events == Events::error);
    }
    CHECK(poller.size() == (ready.empty() ? 1u : 0u));  // epoll: forgotten by the kernel silently
}

TEMPLATE_TEST_CASE("a refused non-blocking connect is writable with error", "[poller][model]", POLLER_BACKENDS) {
    TestType poller;
    Socket closed_port = test::refusing_port();
    Address target = closed_port.local_address();
    Socket s = Socket::tcp();
    s.set_nonblocking(true);
    std::error_code ec;
    s.start_connect(target, ec);
    REQUIRE_FALSE(ec);
    poller.add(s, Events::writable, 1);
    Ready r = wait_for_token(poller, 1);
    CHECK(r.has(Events::writable));
    CHECK(r.has(Events::error));
    s.finish_connect(ec);  // the poller did not consume the pending error
    CHECK(ec == std::errc::connection_refused);
}

#if !defined(_WIN32)
TEMPLATE_TEST_CASE("a closed registration's number taken by an unrelated socket: a bounded window, then error",
                   "[poller][lifetime]", POLLER_BACKENDS) {
    TestType poller;
    auto p = test::tcp_pair();
    native_handle_type h = p.server.native_handle();
    p.client.send_all(std::string("x"));
    poller.add(p.server, Events::readable, 1);
    for (int i = 0; i < 4; ++i) CHECK(wait_for_token(poller, 1).has(Events::readable));  // past the 1st, 2nd report
    p.server.close();
    Socket other = Socket::udp();
    REQUIRE(::dup2(other.native_handle(), h) == h);  // the number now names another socket
    Socket reused(h);
    reused.bind(Address::loopback(Family::ipv4));
    reused.send_to(reused.local_address(), std::string("datagram"));
    int ghosts = 0, errors = 0, after_error = 0;
    for (int i = 0; i < 12; ++i)
        for (const Ready& r : poller.wait(10ms)) {
            if (r.token != 1) continue;
            if (errors > 0) ++after_error;
            (r.events == Events::error ? errors : ghosts) += 1;
        }
    CHECK(ghosts <= 7);  // poll/select: identity on the 1st, 9th, 17th... report (documented)
    CHECK(after_error == 0);
    if (std::is_same<TestType, PollPoller>::value || std::is_same<TestType, SelectPoller>::value) {
        CHECK(errors == 1);
        CHECK(poller.size() == 0);
    }  // epoll: no duplicate, so the kernel forgot it silently (documented)
}

TEMPLATE_TEST_CASE("epoll out of descriptors with a stale duplicate: no busy loop, reported once", "[poller][lifetime]",
                   POLLER_BACKENDS) {
    TestType poller;
    auto p = test::tcp_pair();
    p.client.send_all(std::string("x"));  // stays readable through the duplicate
    poller.add(p.server, Events::readable, 1);
    CHECK(wait_for_token(poller, 1).has(Events::readable));
    Socket duplicate(::fcntl(p.server.native_handle(), F_DUPFD_CLOEXEC, 0));
    p.server.close();
    ::rlimit saved{};
    ::getrlimit(RLIMIT_NOFILE, &saved);
    ::rlimit low = saved;
    low.rlim_cur = 256;  // filling the default limit could take a million descriptors
    REQUIRE(::setrlimit(RLIMIT_NOFILE, &low) == 0);
    std::vector<Socket> filler;  // the process is out of descriptors: no new epoll set
    for (int fd; (fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0;) filler.emplace_back(fd);
    int errors = 0, ghosts = 0, early = 0;
    for (int i = 0; i < 4; ++i) {
        auto start = std::chrono::steady_clock::now();
        std::error_code ec;
        auto ready = collect(poller.wait(30ms, ec));
        for (const Ready& r : ready) (r.events == Events::error ? errors : ghosts) += 1;
        if (ready.empty() && !ec && std::chrono::steady_clock::now() - start < 30ms) ++early;
    }
    filler.clear();
    ::setrlimit(RLIMIT_NOFILE, &saved);
    CHECK(errors <= 1);
    CHECK(early == 0);
#if defined(SOCKETS_HAS_EPOLL)
    if (std::is_same<TestType, EpollPoller>::value) {
        CHECK(ghosts == 0);
        CHECK(poller.size() == 0);
    }
#endif
    CHECK(ghosts <= 7);  // poll/select: the filler took the number; see the reuse window above
}
#endif

#if !defined(_WIN32)
TEMPLATE_TEST_CASE("a socket closed while a duplicate keeps it open never reports under its old token",
                   "[poller][lifetime]", POLLER_BACKENDS) {
    TestType poller;
    auto p = test::tcp_pair();
    native_handle_type h = p.server.native_handle();
    Socket duplicate(::fcntl(h, F_DUPFD_CLOEXEC, 0));  // as fork() would leave it
    poller.add(p.server, Events::readable, 1);
    p.client.send_all(std::string("x"));  // the shared socket stays readable
    p.server.close();
    int ghost = 0;
    for (int i = 0; i < 4; ++i)
        for (const Ready& r : poller.wait(20ms))
            if (r.token == 1 && r.events != Events::error) ++ghost;
    CHECK(ghost == 0);
}

TEMPLATE_TEST_CASE("a closed registration's number reused at once while a duplicate lives: no ghost",
                   "[poller][lifetime]", POLLER_BACKENDS) {
    TestType poller;
    auto p = test::tcp_pair();
    native_handle_type h = p.server.native_handle();
    Socket duplicate(::fcntl(h, F_DUPFD_CLOEXEC, 0));
    poller.add(p.server, Events::readable, 1);
    p.client.send_all(std::string("x"));  // the old socket stays readable through the duplicate
    p.server.close();
    auto q = test::tcp_pair();
    REQUIRE(::dup2(q.server.native_handle(), h) == h);  // a new socket gets the number
    Socket reused(h);
    poller.add(reused, Events::readable, 2);
    q.client.send_all(std::string("y"));
    Ready r = wait_for_token(poller, 2);
    CHECK(r.handle == h);
    for (int i = 0; i < 3; ++i)
        for (const Ready& s : poller.wait(10ms)) CHECK(s.token == 2);
    poller.remove(reused);
    CHECK(poller.size() == 0);
}

TEMPLATE_TEST_CASE("a new socket that reuses a closed registration's number is accepted", "[poller][lifetime]",
                   POLLER_BACKENDS) {
    TestType poller;
    auto p = test::tcp_pair();
    native_handle_type h = p.server.native_handle();
    poller.add(p.server, Events::readable, 1);
    p.server.close();
    auto q = test::tcp_pair();
    REQUIRE(::dup2(q.server.native_handle(), h) == h);
    Socket reused(h);
    std::error_code ec;
    poller.add(reused, Events::readable, 2, ec);
    CHECK_FALSE(ec);
    q.client.send_all(std::string("y"));
    CHECK(wait_for_token(poller, 2).has(Events::readable));
    CHECK(poller.size() == 1);
}
#endif

// ---- batches -----------------------------------------------------------------------------------

TEMPLATE_TEST_CASE("a batch never delivers a registration removed or replaced earlier in it", "[poller][batch]",
                   POLLER_BACKENDS) {
    TestType poller;
    std::vector<test::TcpPair> pairs;
    for (std::uint64_t i = 0; i < 4; ++i) {
        pairs.push_back(test::tcp_pair());
        poller.add(pairs.back().server, Events::readable, i);
        pairs.back().client.send_all(std::string("x"));
    }
    // Level-triggered and never drained: sooner or later one wait holds all four.
    auto deadline = std::chrono::steady_clock::now() + guard;
    while (collect(poller.wait(guard)).size() < 4) REQUIRE(std::chrono::steady_clock::now() < deadline);

    std::vector<std::uint64_t> seen;
    bool first = true;
    for (const Ready& r : poller.wait(guard)) {
        seen.push_back(r.token);
        if (!first) continue;
        first = false;
        // Drop every other registration: two removed, one replaced under a new token.
        std::vector<std::uint64_t> others;
        for (std::uint64_t t = 0; t < 4; ++t)
            if (t != r.token) others.push_back(t);
        poller.remove(pairs[others[0]].server);
        pairs[others[0]].server.close();
        poller.remove(pairs[others[1]].server);
        poller.remove(pairs[others[2]].server);
        poller.add(pairs[others[2]].server, Events::readable, 100 + others[2]);
    }
    CHECK(seen.size() == 1);
}

// ---- wake --------------------------------------------------------------------------------------

TEMPLATE_TEST_CASE("wake() from another thread ends a wait with no deadline", "[poller][wake]", POLLER_BACKENDS) {
    TestType poller;
    auto p = test::tcp_pair();
    poller.add(p.server, Events::readable, 1);
    std::thread waker([&] { poller.wake(); });
    auto ready = collect(poller.wait(Timeout::max()));  // returns once woken, however late
    waker.join();
    CHECK(ready.empty());
    CHECK(poller.wait(0ms).empty());  // the wake-up was consumed, not reported

    TestType empty;  // nothing registered at all
    std::thread again([&] { empty.wake(); });
    CHECK(collect(empty.wait()).empty());
    again.join();
}

TEMPLATE_TEST_CASE("Timeout::max() waits for readiness instead of returning at once", "[poller][timeout]",
                   POLLER_BACKENDS) {
    TestType poller;
    auto p = test::tcp_pair();
    poller.add(p.server, Events::readable, 1);
    std::thread sender([&] { p.client.send_all(std::string("x")); });
    auto ready = collect(poller.wait(Timeout::max()));
    sender.join();
    REQUIRE(ready.size() == 1);
    CHECK(ready[0].token == 1);
    CHECK(poller.wait(Timeout::zero()).size() == 1);  // zero: polls once (still readable)
}

// ---- exception safety ------------------------------------------------------------------------

TEMPLATE_TEST_CASE("an allocation failure in add leaves the poller unchanged", "[poller][alloc]", POLLER_BACKENDS) {
    if (!can_fail_allocations) {
        WARN("allocation failures cannot be injected in this build");
        return;
    }
    TestType poller;
    std::vector<test::TcpPair> pairs;
    for (int i = 0; i < 40; ++i) pairs.push_back(test::tcp_pair());
    std::size_t added = 0;
    for (std::size_t i = 0; i < pairs.size(); ++i) {
        for (long fail = 0;; ++fail) {
            bool threw = false;
            {
                FailingAllocation failing(fail);
                try {
                    poller.add(pairs[i].server, Events::readable, i);
                } catch (const std::bad_alloc&) {
                    threw = true;
                }
            }
            if (!threw) break;
            REQUIRE(poller.size() == added);
            std::error_code ec;
            poller.modify(pairs[i].server, Events::readable, i, ec);
            REQUIRE(ec == errc::not_registered);
        }
        ++added;
    }
    pairs[7].client.send_all(std::string("x"));
    pairs[33].client.send_all(std::string("x"));
    std::vector<std::uint64_t> tokens;
    while (tokens.size() < 2)
        for (const Ready& r : poller.wait(guard)) {
            CHECK(r.handle == pairs[r.token].server.native_handle());
            char c;
            (void)pairs[r.token].server.recv(&c, 1);
            tokens.push_back(r.token);
        }
    std::sort(tokens.begin(), tokens.end());
    CHECK(tokens == std::vector<std::uint64_t>{7, 33});
    for (auto& p : pairs) poller.remove(p.server);
    CHECK(poller.size() == 0);
}

TEMPLATE_TEST_CASE("wait does not allocate once sockets are added", "[poller][alloc]", POLLER_BACKENDS) {
    if (!can_fail_allocations) {
        WARN("allocation failures cannot be injected in this build");
        return;
    }
    TestType poller;
    std::vector<test::TcpPair> pairs;
    for (int i = 0; i < 20; ++i) {
        pairs.push_back(test::tcp_pair());
        poller.add(pairs.back().server, Events::readable, static_cast<std::uint64_t>(i));
        pairs.back().client.send_all(std::string("x"));
    }
    poller.wait(guard);  // the first wait may size its buffers
    int nonempty = 0;
    fail_every = true;
    try {
        for (int i = 0; i < 3; ++i) {
            std::size_t n = 0;
            for (const Ready& r : poller.wait(guard)) n += r.has(Events::readable) ? 1 : 0;
            nonempty += n > 0 ? 1 : 0;
        }
    } catch (const std::bad_alloc&) {
        nonempty = -1;
    }
    fail_every = false;
    CHECK(nonempty == 3);
}

#if defined(__linux__)
#include <sys/resource.h>

static long resident_kib() {
    long pages = 0, resident = 0;
    if (FILE* f = std::fopen("/proc/self/statm", "r")) {
        if (std::fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
        std::fclose(f);
    }
    return resident * (::sysconf(_SC_PAGESIZE) / 1024);
}

TEMPLATE_TEST_CASE("a registration with a large descriptor number costs no table of that size", "[poller][alloc]",
                   PollPoller, EpollPoller) {
    rlimit limit{};
    REQUIRE(::getrlimit(RLIMIT_NOFILE, &limit) == 0);
    const rlim_t high = rlim_t{1} << 20;  // 16 MiB of table at 16 bytes a slot
    if (limit.rlim_max < high + 1) {
        WARN("RLIMIT_NOFILE hard limit too low to test: " << limit.rlim_max);
        return;
    }
    rlimit raised = limit;
    raised.rlim_cur = high + 1;
    REQUIRE(::setrlimit(RLIMIT_NOFILE, &raised) == 0);
    {
        auto p = test::tcp_pair();
        int fd = ::fcntl(p.server.native_handle(), F_DUPFD_CLOEXEC, static_cast<int>(high - 1));
        REQUIRE(fd >= static_cast<int>(high - 1));
        Socket far(fd);
        TestType poller;
        long before = resident_kib();
        poller.add(far, Events::readable, 5);
        long grown = resident_kib() - before;
        CHECK(grown < 2048);
        p.client.send_all(std::string("x"));
        CHECK(wait_for_token(poller, 5).handle == fd);
        poller.remove(far);
    }
    ::setrlimit(RLIMIT_NOFILE, &limit);
}
#endif
