// What every example server needs and is not the point of any one of them: command-line
// options, stopping on SIGINT/SIGTERM, accepting when descriptors run out, a bounded pool of
// worker threads, and reading one request under a deadline.
//
// The rules these helpers enforce, because a server meets clients it did not choose:
//   - one connection's error ends that connection (logged in one line), never the process;
//   - every wait on a client has a deadline, so a silent or slow client frees its worker;
//   - memory and threads per server are bounded: a fixed pool, requests of bounded size.
#pragma once

#include <sockets/sockets.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace example {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// ---- options shared by the servers --------------------------------------------------------

// A lifetime without limit (a hundred years: Clock::now() plus it still fits in nanoseconds).
inline constexpr std::chrono::seconds forever{100LL * 365 * 24 * 3600};

struct Options {
    std::string where = "127.0.0.1:0";       // port 0: the OS picks one; we print it
    long clients = -1;                       // exit after this many clients (-1: serve forever)
    std::chrono::seconds timeout{10};        // per request (and idle between requests)
    std::chrono::seconds idle{60};           // silence allowed between requests (poller servers)
    std::chrono::seconds lifetime{300};      // per connection, however busy (forever: no limit)
    unsigned threads = 32;                   // worker pool size (threaded servers)
};

// Parses "[ADDRESS] [--clients N] [--timeout S] [--idle S] [--lifetime S] [--threads N]" over
// defaults; prints usage (with the defaults) and exits for --help or anything it does not
// understand.
inline Options parse_options(int argc, char* argv[], const char* usage, Options defaults = Options()) {
    Options o = defaults;
    auto number = [&](int& i) {
        if (i + 1 >= argc) return -1L;
        char* end = nullptr;
        long n = std::strtol(argv[++i], &end, 10);
        return *end == '\0' ? n : -1L;
    };
    for (int i = 1; i < argc; ++i) {
        long n = 0;
        if (!std::strcmp(argv[i], "--clients") && (n = number(i)) >= 0) o.clients = n;
        // Longer than forever would overflow the deadlines (Clock::now() + S).
        else if (!std::strcmp(argv[i], "--timeout") && (n = number(i)) > 0) o.timeout = std::min(std::chrono::seconds(n), forever);
        else if (!std::strcmp(argv[i], "--idle") && (n = number(i)) > 0) o.idle = std::min(std::chrono::seconds(n), forever);
        else if (!std::strcmp(argv[i], "--lifetime") && (n = number(i)) > 0) o.lifetime = std::min(std::chrono::seconds(n), forever);
        else if (!std::strcmp(argv[i], "--threads") && (n = number(i)) > 0) o.threads = static_cast<unsigned>(n);
        else if (argv[i][0] != '-') o.where = argv[i];
        else {
            std::string lifetime = defaults.lifetime >= forever ? "no limit" : std::to_string(defaults.lifetime.count());
            std::printf("%s\n"
                        "  ADDRESS       where to listen (default 127.0.0.1:0: the OS picks the port)\n"
                        "  --clients N   exit after serving N clients (default: until SIGINT/SIGTERM)\n"
                        "  --timeout S   seconds a client has for each request, and may stay idle (%lld)\n"
                        "  --idle S      seconds a client may stay silent, where the protocol allows it (%lld)\n"
                        "  --lifetime S  seconds one connection may last in all (%s)\n"
                        "  --threads N   worker threads, where the server has a pool (%u)\n",
                        usage, static_cast<long long>(defaults.timeout.count()),
                        static_cast<long long>(defaults.idle.count()), lifetime.c_str(), defaults.threads);
            std::exit(!std::strcmp(argv[i], "--help") || !std::strcmp(argv[i], "-h") ? 0 : 2);
        }
    }
    return o;
}

// ---- stopping -----------------------------------------------------------------------------

// A signal handler may only touch lock-free atomics: it sets the flag, the loops look at it
// at least every poll_interval.
inline std::atomic<bool> stop_flag{false};
inline constexpr auto poll_interval = 250ms;

inline void stop_on_signals() {
    auto handler = [](int) { stop_flag.store(true); };
    std::signal(SIGINT, handler);
    std::signal(SIGTERM, handler);
}
inline bool stop_requested() { return stop_flag.load(); }

// The event-loop examples: SIGINT/SIGTERM call stop() on every loop registered here (stop() is
// async-signal-safe; the handler reads lock-free atomics only). A loop is registered for as long
// as its StopOnSignals lives, so a signal never reaches a loop that is gone. A template, so that
// this header needs no C++20 (Loop is sockets::EventLoop).
template <class Loop>
class StopOnSignals {
public:
    explicit StopOnSignals(Loop& loop) {
        for (auto& slot : slots_) {
            Loop* none = nullptr;
            if (slot.compare_exchange_strong(none, &loop)) {
                slot_ = &slot;
                break;
            }
        }
        std::signal(SIGINT, &stop_all);
        std::signal(SIGTERM, &stop_all);
    }
    ~StopOnSignals() {
        if (slot_) slot_->store(nullptr);
    }
    StopOnSignals(const StopOnSignals&) = delete;
    StopOnSignals& operator=(const StopOnSignals&) = delete;

    static constexpr unsigned max_loops = 256;

    // What a signal does; also for a loop's thread that failed and must end the others.
    static void stop_all(int = 0) {
        for (auto& slot : slots_)
            if (Loop* loop = slot.load()) loop->stop();
    }

private:
    static inline std::atomic<Loop*> slots_[max_loops]{};
    std::atomic<Loop*>* slot_ = nullptr;
};

// ---- logging: one line per event, whole lines even from many threads ------------------------

#if defined(__GNUC__)
__attribute__((format(printf, 1, 2)))  // the compiler checks the arguments against the format
#endif
inline void log(const char* format, ...) {
    static std::mutex mutex;
    std::lock_guard<std::mutex> lock(mutex);
    std::va_list args;
    va_start(args, format);
    std::vprintf(format, args);
    va_end(args);
    std::fputc('\n', stdout);
    std::fflush(stdout);
}

// ---- accepting ----------------------------------------------------------------------------

// accept fails for reasons that are not the listener's fault: no descriptors left (EMFILE,
// ENFILE), no kernel memory. Retrying at once would spin (the client is still queued, so the
// listener stays readable), so the caller pauses accepting for a moment; clients already
// connected are served meanwhile and, as they leave, descriptors come back. Logged once per
// episode, not once per retry.
inline constexpr auto accept_back_off = 100ms;

class AcceptTrouble {
public:
    explicit AcceptTrouble(const char* server) : server_(server) {}
    void failed(const std::error_code& ec) {
        if (!troubled_) log("%s: accept: %s (pausing accepts, serving existing clients)", server_, ec.message().c_str());
        troubled_ = true;
    }
    void succeeded() {
        if (troubled_) log("%s: accepting again", server_);
        troubled_ = false;
    }

private:
    const char* server_;
    bool troubled_ = false;
};

// Blocking servers: the next client, or a closed Socket when none came within poll_interval
// (look at stop_requested()) or accept failed (already logged; we have waited a little).
inline sockets::Socket accept_client(sockets::Socket& listener, sockets::Address& who, AcceptTrouble& trouble) {
    std::error_code ec;
    sockets::Socket client = listener.accept(who, poll_interval, ec);
    if (ec == std::errc::timed_out) return client;
    if (ec) {
        trouble.failed(ec);
        std::this_thread::sleep_for(accept_back_off);
        return client;
    }
    trouble.succeeded();
    return client;
}

// ---- a bounded pool of workers -------------------------------------------------------------

// How long graceful_close may drain a client that keeps sending after we are done.
inline constexpr auto linger = 1s;

// How long one reply may take to go out: --timeout, but never past the connection's end of
// life. A client that sends requests and never reads would otherwise hold a worker for as
// long as it likes. Zero once the lifetime is over (try once, don't wait).
inline Clock::duration reply_time(std::chrono::seconds timeout, Clock::time_point end_of_life) {
    return std::max(Clock::duration::zero(), std::min<Clock::duration>(timeout, end_of_life - Clock::now()));
}

// The HOWTO's threaded server with bounds: the accepting thread hands each client to one of a
// fixed number of workers. When all are busy, submit waits, and new clients wait in the
// kernel's listen backlog: threads, descriptors and memory stay bounded however many clients
// come. Every read a worker does has a deadline, so a silent client frees its worker in time.
// The pool closes each client (gracefully) once its handler returns: handlers do not.
class WorkerPool {
public:
    using Handler = std::function<void(sockets::Socket&, const sockets::Address&)>;

    // A thread that cannot be created (no memory, a thread limit) throws here; the workers
    // already started are stopped and joined first, since a joinable std::thread destroyed
    // during unwinding would terminate the process.
    WorkerPool(unsigned threads, Handler handler) : handler_(std::move(handler)), serving_(threads, nullptr) {
        threads_.reserve(threads);
        try {
            for (unsigned i = 0; i < threads; ++i) threads_.emplace_back([this, i] { work(i); });
        } catch (...) {
            stop();
            throw;
        }
    }
    WorkerPool(const WorkerPool&) = delete;
    WorkerPool& operator=(const WorkerPool&) = delete;
    ~WorkerPool() { stop(); }

    // Queues a client for the next free worker, waiting while the queue is full. Returns false
    // (and closes the client) when the server is stopping.
    bool submit(sockets::Socket client, const sockets::Address& who) {
        std::unique_lock<std::mutex> lock(mutex_);
        while (queue_.size() >= serving_.size() && !stopping_ && !stop_requested())
            room_.wait_for(lock, poll_interval);
        if (stopping_ || stop_requested()) return false;
        queue_.push_back(Job{std::move(client), who});
        work_.notify_one();
        return true;
    }

    // Waits until every queued client has been served (or a stop signal came).
    void drain() {
        std::unique_lock<std::mutex> lock(mutex_);
        auto busy = [&] { return std::any_of(serving_.begin(), serving_.end(), [](auto* s) { return s != nullptr; }); };
        while ((!queue_.empty() || busy()) && !stop_requested()) room_.wait_for(lock, poll_interval);
    }

    // A handler that moves its client into an object that owns it from then on (a TlsStream)
    // says so with a Handoff: until the Handoff is destroyed, stop() shuts down the socket
    // inside that object. Without it stop() would shut down the moved-from Socket, which is
    // nothing, and the worker would sit out its client's timeout. If the pool is stopping
    // already, the socket is shut down at once. Declare the Handoff after the new owner, so
    // that it ends first: stop() must never reach a destroyed socket.
    class Handoff {
    public:
        Handoff(WorkerPool& pool, sockets::Socket& from, sockets::Socket& to) : pool_(pool), from_(from), to_(to) {
            pool_.rehome(from_, to_);
        }
        ~Handoff() { pool_.rehome(to_, from_); }
        Handoff(const Handoff&) = delete;
        Handoff& operator=(const Handoff&) = delete;

    private:
        WorkerPool& pool_;
        sockets::Socket& from_;
        sockets::Socket& to_;
    };

    // Refuses new work, ends the connections being served (shutdown wakes a blocked recv),
    // and joins every worker. A socket in serving_ is never closed meanwhile: its worker takes
    // it out of serving_, under the same lock, before closing it.
    void stop() {
        {
            std::lock_guard<std::mutex> lock(mutex_);
            stopping_ = true;
            queue_.clear();
            std::error_code ignored;
            for (sockets::Socket* s : serving_)
                if (s) s->shutdown(sockets::Shutdown::both, ignored);
        }
        work_.notify_all();
        room_.notify_all();
        for (auto& t : threads_)
            if (t.joinable()) t.join();
    }

private:
    void rehome(sockets::Socket& from, sockets::Socket& to) {
        std::lock_guard<std::mutex> lock(mutex_);
        for (sockets::Socket*& s : serving_)
            if (s == &from) s = &to;
        std::error_code ignored;
        if (stopping_) to.shutdown(sockets::Shutdown::both, ignored);
    }

    struct Job {
        sockets::Socket client;
        sockets::Address who;
    };

    void work(unsigned slot) {
        for (;;) {
            Job job;
            {
                std::unique_lock<std::mutex> lock(mutex_);
                work_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
                if (stopping_) return;
                job = std::move(queue_.front());
                queue_.pop_front();
                serving_[slot] = &job.client;  // so stop() can interrupt it
                room_.notify_one();
            }
            try {
                handler_(job.client, job.who);
            } catch (const std::exception& e) {  // e.g. bad_alloc: this client, not the server
                log("%s: %s", job.who.to_string().c_str(), e.what());
            }
            {
                std::lock_guard<std::mutex> lock(mutex_);
                serving_[slot] = nullptr;  // from now on stop() leaves this socket alone
            }
            // Unread bytes at close would reset the connection and could destroy our last
            // reply. Outside the lock: the drain may take up to `linger`.
            std::error_code ignored;
            job.client.graceful_close(linger, ignored);
            std::lock_guard<std::mutex> lock(mutex_);
            room_.notify_all();
        }
    }

    Handler handler_;
    std::mutex mutex_;
    std::condition_variable work_, room_;
    std::deque<Job> queue_;
    std::vector<sockets::Socket*> serving_;  // per worker: the client it is serving, if any
    std::vector<std::thread> threads_;
    bool stopping_ = false;
};

// ---- reading one request under a deadline ---------------------------------------------------

// Waits for the next whole line (or length-prefixed message) in buffer, reading from client
// until deadline. A per-recv timeout alone is not enough: a client trickling one byte a second
// would hold a worker forever. Errors: timed_out, end_of_stream (a clean close between
// requests leaves ec == end_of_stream and buffer empty), message_too_large, or the socket's.
template <class Parse>
std::string_view read_request(sockets::Socket& client, sockets::MessageBuffer& buffer, Clock::time_point deadline,
                              Parse parse, std::error_code& ec) {
    constexpr std::size_t chunk = 4096;
    for (;;) {
        if (auto request = parse(buffer, ec)) return *request;
        if (ec) return {};
        auto left = deadline - Clock::now();
        if (left <= Clock::duration::zero()) {
            ec = std::make_error_code(std::errc::timed_out);
            return {};
        }
        std::size_t n = client.recv(buffer.prepare(chunk), chunk, left, ec);
        if (ec) return {};
        if (n == 0) {
            ec = sockets::errc::end_of_stream;
            return {};
        }
        buffer.commit(n);
    }
}

// A connection ends for a reason worth one log line unless the client simply left.
inline bool worth_logging(const std::error_code& ec) {
    return ec && ec != sockets::errc::end_of_stream;
}

}  // namespace example
