/// @file
/// EventLoop and Task: many connections on one thread with C++20 coroutines (opt-in: this
/// header needs C++20; the rest of the library stays C++17, and sockets.hpp does not include it).
///
/// @code
///   sockets::Task<void> serve(sockets::EventLoop& loop, sockets::Socket client) {
///       char buffer[4096];
///       for (;;) {
///           std::size_t n = co_await loop.recv(client, buffer, sizeof buffer, std::chrono::seconds(30));
///           if (n == 0) co_return;                               // the peer closed
///           co_await loop.send_all(client, buffer, n, std::chrono::seconds(30));
///       }
///   }
///   sockets::Task<void> accept_loop(sockets::EventLoop& loop, sockets::Socket& listener) {
///       for (;;) loop.spawn(serve(loop, co_await loop.accept(listener)));
///   }
///   sockets::EventLoop loop;                                 // the platform's best Poller
///   loop.spawn(accept_loop(loop, listener));
///   loop.run();                                              // until no task is left, or stop()
/// @endcode
///
/// The model:
/// @verbatim
///   Task<T>    a lazy coroutine: nothing runs until it is co_awaited (or spawned). co_await
///              yields its value, or rethrows the exception that ended it. Awaiting a task
///              that finishes at once costs no stack: a loop awaiting a million in turn is
///              fine (tasks awaiting tasks a million deep still need a frame each on the stack).
///   spawn      hands a Task<void> to the loop, which owns it from then on. An exception that
///              escapes it goes to the loop's exception handler (default: stderr); the loop
///              and the other tasks go on.
///   awaitables loop.accept, connect, recv, send, send_all, recv_exact, readable, writable,
///              sleep: each with a Timeout (none: wait as long as it takes) and in two forms,
///              throwing (as the blocking namesake throws: TransferError with the byte count,
///              std::system_error naming the operation and the address) or with a trailing
///              std::error_code& (cleared on success). Every call first tries the operation
///              at once and waits only if it would block (except a recv right after one that
///              took less than it asked for: that one waits for the readiness report first,
///              which comes at once if data is there); a Timeout ends only its own await
///              (std::errc::timed_out), zero means one attempt.
///   lifetime   destroying the loop destroys every task it owns, in any state: their frames
///              go, and with them their sockets (closed) and their pending awaits.
///   TLS        with sockets/tls.hpp: loop.tls_accept, tls_connect, and recv, send_all,
///              recv_exact, read_line, read_message, write_line, write_message, graceful_close
///              over a TlsStream (this header needs no OpenSSL: they are templates).
/// @endverbatim
///
/// Sockets: the awaitables take a Socket& that must outlive the await (a coroutine's own local
/// or parameter, as above). One task at a time may wait for reading and one for writing on a
/// socket (a second is std::errc::operation_in_progress). A socket closed while another task
/// waits on it, by loop.close(socket) or by a plain close() (or move-assignment) on the
/// loop's thread during run(), wakes the waiter with std::errc::operation_canceled: never a
/// crash, never a wait on a dead descriptor. Close it, do not destroy it or move it away (a
/// move construction is not seen): the Socket object must still outlive the await. A plain
/// close() outside run() is not seen (epoll forgets a closed descriptor without a word); before
/// awaiting a socket opened since under the same descriptor number in the same Socket object,
/// call loop.forget(socket). A TlsStream too may have one reading task and one writing task.
///
/// Threads: one thread runs a loop, and only that thread may call into it (loop.close
/// included), except stop(), which may be called from any thread and from a signal handler
/// (POSIX: it stores an atomic flag and writes to an eventfd or a pipe, both
/// async-signal-safe). For more cores, run one loop per thread, each with its own listener
/// (ListenOptions::reuse_port).
#pragma once

#include "config.hpp"

#if (defined(_MSVC_LANG) ? _MSVC_LANG : __cplusplus) < 202002L || !defined(__cpp_impl_coroutine)
#error "sockets/async.hpp needs C++20 coroutines: compile with -std=c++20 (the rest of sockets needs only C++17)"
#endif

#include <atomic>
#include <cerrno>
#include <chrono>
#include <concepts>
#include <coroutine>
#include <cstddef>
#include <cstdio>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <system_error>
#include <thread>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include "address.hpp"
#include "connect.hpp"
#include "error.hpp"
#include "message.hpp"
#include "poller.hpp"
#include "socket.hpp"
#include "timeout.hpp"

namespace sockets {
SOCKETS_MODE_NAMESPACE_BEGIN

class EventLoop;
template <class T = void>
class Task;

/// @cond SOCKETS_DETAIL
namespace detail {

// ---- Task's promise -----------------------------------------------------------------------

class TaskPromiseBase {
public:
    std::suspend_always initial_suspend() const noexcept { return {}; }
    // A task that finishes while its awaiter is still starting it (the common case: no wait
    // inside) returns to that awaiter, which then goes on without suspending: a loop awaiting
    // a million such tasks uses no more stack than one. (Symmetric transfer alone would do,
    // but g++ makes it a tail call only when optimising.) A task that finished after a
    // wait resumes its awaiter from the loop.
    enum class Start : unsigned char { inside_awaiter, finished_inside, suspended };
    struct FinalAwaiter {
        bool await_ready() const noexcept { return false; }
        template <class Promise>
        std::coroutine_handle<> await_suspend(std::coroutine_handle<Promise> h) noexcept {
            TaskPromiseBase& p = h.promise();
            if (p.start_ == Start::inside_awaiter) {
                p.start_ = Start::finished_inside;
                return std::noop_coroutine();
            }
            return p.continuation_ ? p.continuation_ : std::noop_coroutine();
        }
        void await_resume() const noexcept {}
    };
    FinalAwaiter final_suspend() const noexcept { return {}; }
    void unhandled_exception() noexcept { error_ = std::current_exception(); }

    // Starts the task for the awaiter caller: false when it finished already (go on).
    bool start(std::coroutine_handle<> self, std::coroutine_handle<> caller) noexcept {
        continuation_ = caller;
        start_ = Start::inside_awaiter;
        self.resume();
        if (start_ == Start::finished_inside) return false;
        start_ = Start::suspended;
        return true;
    }

    std::coroutine_handle<> continuation_;
    std::exception_ptr error_;
    Start start_ = Start::suspended;

protected:
    void rethrow_if_failed() {
#if !defined(SOCKETS_NO_EXCEPTIONS)
        if (error_) std::rethrow_exception(std::exchange(error_, nullptr));
#endif
    }
};

template <class T>
class TaskPromise : public TaskPromiseBase {
public:
    Task<T> get_return_object() noexcept;
    template <class U>
    void return_value(U&& value) {
        value_.emplace(std::forward<U>(value));
    }
    T take() {
        rethrow_if_failed();
        return std::move(*value_);
    }

private:
    std::optional<T> value_;
};

template <>
class TaskPromise<void> : public TaskPromiseBase {
public:
    Task<void> get_return_object() noexcept;
    void return_void() noexcept {}
    void take() { rethrow_if_failed(); }
};

// Awaits a task and yields its exception instead of rethrowing it.
template <class T>
struct Outcome {
    std::coroutine_handle<TaskPromise<T>> h;
    bool await_ready() const noexcept { return !h; }
    bool await_suspend(std::coroutine_handle<> caller) noexcept { return h.promise().start(h, caller); }
    std::exception_ptr await_resume() noexcept { return h ? std::exchange(h.promise().error_, nullptr) : nullptr; }
};

// ---- TLS, without naming it ----------------------------------------------------------------

// A TlsStream, recognised by what it does: tls.hpp (and OpenSSL) stay optional for users of
// this header, so the TLS awaitables are templates that only a TlsStream instantiates.
template <class S>
concept TlsLike = requires(S& s, std::error_code& ec) {
    { s.try_handshake(ec) } -> std::same_as<bool>;
    { s.try_shutdown(ec) } -> std::same_as<bool>;
    { s.try_flush(ec) } -> std::same_as<bool>;
    { s.socket() } -> std::same_as<Socket&>;
    { s.unsent() } -> std::convertible_to<std::size_t>;
    s.wants();
};

// The stream sockets::tls_accept makes for a context (found beside the context by ADL).
template <class Context>
using TlsStreamOf = decltype(tls_accept(std::declval<Socket>(), std::declval<const Context&>(), Timeout::max(),
                                        std::declval<std::error_code&>()));

// ---- what a suspended await is -------------------------------------------------------------

struct Link {
    Link* prev = this;
    Link* next = this;
    bool linked() const noexcept { return next != this; }
    void unlink() noexcept {
        prev->next = next;
        next->prev = prev;
        prev = next = this;
    }
    void push_back(Link& node) noexcept {  // this is the list's sentinel
        node.prev = prev;
        node.next = this;
        prev->next = &node;
        prev = &node;
    }
};

// The part of every awaitable that suspends on the loop: the coroutine to resume, the socket
// and direction it waits for, its deadline. Lives inside the awaiting coroutine's frame; its
// destructor unhooks it, so a task destroyed mid-await leaves nothing behind.
class Waiter : public Link {
public:
    using clock = std::chrono::steady_clock;
    enum class State : unsigned char { idle, waiting, ready };

    Waiter() noexcept = default;
    Waiter(const Waiter&) = delete;
    Waiter& operator=(const Waiter&) = delete;
    virtual ~Waiter();

    // Called when the socket reports readiness: tries the operation; true when it is over
    // (done or failed, ec_ says), false to keep waiting (readiness was spurious, or partial).
    virtual bool perform() noexcept { return true; }
    // The deadline passed.
    virtual void expire() noexcept { ec_ = timed_out(); }

    EventLoop* loop_ = nullptr;
    std::coroutine_handle<> handle_;
    State state_ = State::idle;
    bool reading_ = true;
    native_handle_type fd_ = invalid_handle;  // invalid: a timer alone
    bool timed_ = false;                      // has a deadline
    clock::time_point deadline_{};
    std::size_t heap_index_ = 0;
    std::error_code ec_;
    // A TLS reader's wait for writable, only to send what a writer left unsent: it gives its
    // place to a task that comes to wait for writable itself (which sends those bytes too).
    bool yields_ = false;
};

inline Waiter::clock::time_point deadline_of(Timeout timeout, bool& finite) noexcept {
    finite = false;
    if (timeout.is_max()) return {};
    auto now = Waiter::clock::now();
    auto length = std::chrono::ceil<Waiter::clock::duration>(timeout.length());
    if (length > Waiter::clock::time_point::max() - now) return {};
    finite = true;
    return now + length;
}

// A spawned task's root: owned by the loop, which destroys it when it finishes (or when the
// loop goes). It awaits the user's Task<void> and hands an escaping exception to the loop.
struct Detached {
    struct promise_type {
        template <class... Args>
        explicit promise_type(EventLoop& loop, Args&...) noexcept : loop_(&loop) {}
        Detached get_return_object() noexcept { return {std::coroutine_handle<promise_type>::from_promise(*this)}; }
        std::suspend_always initial_suspend() const noexcept { return {}; }
        struct Final {
            bool await_ready() const noexcept { return false; }
            void await_suspend(std::coroutine_handle<promise_type> h) noexcept;
            void await_resume() const noexcept {}
        };
        Final final_suspend() const noexcept { return {}; }
        void return_void() noexcept {}
        void unhandled_exception() noexcept { std::terminate(); }  // the body lets nothing out

        EventLoop* loop_;
        Waiter starter_;                // queues the first resumption among the ready waiters
        promise_type* prev_ = nullptr;  // the loop's list of live tasks
        promise_type* next_ = nullptr;
    };
    std::coroutine_handle<promise_type> handle;
};

// Per descriptor: who waits for what, and what the Poller has been told.
struct Watch {
    Waiter* reader = nullptr;
    Waiter* writer = nullptr;
    const void* owner = nullptr;  // the Socket object the registration was made for
    Events registered = Events::none;
    bool in_poller = false;
    bool flagged = false;         // in the sweep list
    bool drained = false;         // the last recv took all there was: the next one waits first
};

// What the loop's connect race tried, for the ConnectError of its throwing form.
struct ConnectReport {
    std::vector<ConnectAttempt> failed;
    std::size_t untried = 0;
};

// A result computed on another thread (name resolution), completing a Waiter on the loop's.
struct RemoteJob {
    std::mutex mutex;
    EventLoop* loop = nullptr;  // guarded by mutex: cleared when the waiting task goes
    Waiter* waiter = nullptr;   // loop thread only
    std::vector<Address> addresses;
    std::error_code ec;
};

}  // namespace detail
/// @endcond

/// A lazy coroutine yielding T: its body runs when it is co_awaited (or, for Task<void>,
/// spawned on an EventLoop), and co_await gives its co_return value or rethrows the exception
/// that ended it. Move-only; destroying a Task destroys its coroutine, wherever it stands.
/// Await each Task once.
template <class T>
class [[nodiscard]] Task {
public:
    /// The coroutine machinery's hook.
    using promise_type = detail::TaskPromise<T>;

    /// No coroutine.
    Task() noexcept = default;
    /// Takes other's coroutine.
    ///@{
    Task(Task&& other) noexcept : h_(std::exchange(other.h_, {})) {}
    Task& operator=(Task&& other) noexcept {
        if (this != &other) {
            if (h_) h_.destroy();
            h_ = std::exchange(other.h_, {});
        }
        return *this;
    }
    ///@}
    Task(const Task&) = delete;
    Task& operator=(const Task&) = delete;
    /// Destroys the coroutine (and what its frame owns: sockets close, pending awaits end).
    ~Task() {
        if (h_) h_.destroy();
    }

    /// True if it holds a coroutine.
    explicit operator bool() const noexcept { return static_cast<bool>(h_); }

    /// Runs the task to its end from inside another coroutine: its value, or its exception.
    auto operator co_await() noexcept {
        struct Awaiter {
            std::coroutine_handle<promise_type> h;
            bool await_ready() const noexcept { return false; }
            bool await_suspend(std::coroutine_handle<> caller) noexcept { return h.promise().start(h, caller); }
            T await_resume() { return h.promise().take(); }
        };
        return Awaiter{h_};
    }

private:
    friend class detail::TaskPromise<T>;
    friend class EventLoop;
    explicit Task(std::coroutine_handle<promise_type> h) noexcept : h_(h) {}
    std::coroutine_handle<promise_type> h_;
};

/// @cond SOCKETS_DETAIL
namespace detail {
template <class T>
Task<T> TaskPromise<T>::get_return_object() noexcept {
    return Task<T>(std::coroutine_handle<TaskPromise<T>>::from_promise(*this));
}
inline Task<void> TaskPromise<void>::get_return_object() noexcept {
    return Task<void>(std::coroutine_handle<TaskPromise<void>>::from_promise(*this));
}

// ---- the awaitables' shared part ------------------------------------------------------------

// An operation on one socket: tried at once, then again on each readiness report until it is
// over or its deadline passes. out: the std::error_code form's code (null: the throwing form).
class SocketOp : public Waiter {
public:
    bool await_ready() noexcept {
        if (perform()) return true;
        if (timed_ && clock::now() >= deadline_) {
            expire();
            return true;
        }
        return false;
    }
    inline bool await_suspend(std::coroutine_handle<> h) noexcept;

protected:
    SocketOp(EventLoop& loop, const Socket& socket, bool reading, Timeout timeout, std::error_code* out) noexcept
        : loop_ref_(&loop), socket_(&socket), out_(out) {
        reading_ = reading;
        deadline_ = deadline_of(timeout, timed_);
    }
    // The error_code form stores the code; the throwing form throws what make_error builds.
    template <class MakeError>
    void report(MakeError make_error) {
        if (out_) {
            *out_ = ec_;
            return;
        }
#if !defined(SOCKETS_NO_EXCEPTIONS)
        if (ec_) throw make_error();
#endif
    }
    void report_transfer(const char* operation, std::size_t bytes) {
        report([&] { return TransferError(ec_, describe_transfer(*socket_, operation), bytes); });
    }

    EventLoop* loop_ref_;
    const Socket* socket_;
    std::error_code* out_;
};

}  // namespace detail
/// @endcond

/// Runs coroutines on one thread over the platform's best Poller (epoll on Linux, poll /
/// WSAPoll elsewhere), with timers. Not thread-safe, except stop(), which any thread (or a
/// signal handler) may call. Not movable: tasks hold its address.
class EventLoop {
public:
    /// What receives an exception that escaped a spawned task.
    using ExceptionHandler = std::function<void(std::exception_ptr)>;

    /// A loop with no task. Opening the Poller may fail: std::system_error (through
    /// sockets::throw_exception without exceptions).
    EventLoop() = default;
    EventLoop(const EventLoop&) = delete;
    EventLoop& operator=(const EventLoop&) = delete;
    /// Destroys every task still owned (each frame goes, with its sockets and awaits).
    ~EventLoop() { destroy_tasks(); }

    // ==== Running ==============================================================================

    /// Runs tasks until none is left or stop() is called. Each stop() ends one run(): the one
    /// in progress, or else the next (which then returns at once). The error_code form reports
    /// a failing wait (the Poller's error); the throwing form throws it.
    ///@{
    inline void run(std::error_code& ec);
#if !defined(SOCKETS_NO_EXCEPTIONS)
    void run() {
        std::error_code ec;
        run(ec);
        detail::throw_if(ec, "event loop wait");
    }
#endif
    ///@}

    /// Makes run() return soon (after the tasks resumed in its current step). Any thread; also
    /// async-signal-safe on POSIX (an atomic store and a write(2); errno is preserved).
    void stop() noexcept {
#if !defined(_WIN32)
        int saved = errno;
#endif
        stop_.store(true, std::memory_order_release);
        poller_.wake();
#if !defined(_WIN32)
        errno = saved;
#endif
    }

    /// Hands a task to the loop, which starts it on its next step and owns it until it ends.
    /// An exception escaping it goes to the exception handler.
    inline void spawn(Task<void> task);

    /// Tasks spawned and not yet finished.
    std::size_t tasks() const noexcept { return live_; }

    /// Sets what receives exceptions escaping spawned tasks (nullptr: the default, which writes
    /// "sockets: a spawned task failed: WHAT" to stderr). A handler that throws ends the program.
    void set_exception_handler(ExceptionHandler handler) { handler_ = std::move(handler); }

    /// The Poller backend's name ("epoll", "poll"), e.g. for logs.
    static constexpr const char* backend() noexcept { return Poller::name; }

    // ==== Sockets and the loop =================================================================

    /// Wakes the tasks waiting on this socket with std::errc::operation_canceled; the socket
    /// stays open.
    inline void cancel(const Socket& socket) noexcept;

    /// Closes a socket other tasks may be waiting on: they wake with
    /// std::errc::operation_canceled (never a crash, never a wait on a dead descriptor). A
    /// plain Socket::close() on the loop's thread during run() does the same; this one also
    /// works outside run().
    ///@{
    void close(Socket& socket, std::error_code& ec) noexcept {
        cancel(socket);
        forget(socket);
        socket.close(ec);
    }
#if !defined(SOCKETS_NO_EXCEPTIONS)
    void close(Socket& socket) {
        std::error_code ec;
        close(socket, ec);
        detail::throw_if(ec, "close");
    }
#endif
    ///@}

    /// Drops what the loop remembers about this socket's descriptor (its Poller registration);
    /// see the file comment for when a socket you opened yourself needs it. Tasks waiting on it
    /// are cancelled first.
    inline void forget(const Socket& socket) noexcept;

    // ==== Awaitables ===========================================================================
    // Each returns an object to co_await at once (it refers to its arguments).

    /// Waits until the socket is readable (or writable): data, a connection or the end; an
    /// error or hang-up counts. For code that makes its own non-blocking calls (try_*).
    ///@{
    inline auto readable(const Socket& socket, Timeout timeout, std::error_code& ec) noexcept;
    inline auto readable(const Socket& socket, Timeout timeout = Timeout::max());
    inline auto writable(const Socket& socket, Timeout timeout, std::error_code& ec) noexcept;
    inline auto writable(const Socket& socket, Timeout timeout = Timeout::max());
    ///@}

    /// Waits for a client, as Socket::accept(remote, timeout): the connected socket (remote
    /// receives its address). A client that reset before it was accepted is skipped.
    ///@{
    inline auto accept(Socket& listener, Address* remote, Timeout timeout, std::error_code& ec) noexcept;
    inline auto accept(Socket& listener, Timeout timeout, std::error_code& ec) noexcept;
    inline auto accept(Socket& listener, std::error_code& ec) noexcept;
    inline auto accept(Socket& listener, Address* remote, Timeout timeout);
    inline auto accept(Socket& listener, Timeout timeout = Timeout::max());
    ///@}

    /// What the kernel takes in one call (at least one byte unless size is 0), as Socket::send.
    ///@{
    inline auto send(Socket& socket, const void* data, std::size_t size, Timeout timeout, std::error_code& ec) noexcept;
    inline auto send(Socket& socket, const void* data, std::size_t size, std::error_code& ec) noexcept;
    inline auto send(Socket& socket, const void* data, std::size_t size, Timeout timeout = Timeout::max());
    ///@}

    /// What is there, at most size bytes; 0 means the peer closed. As Socket::recv.
    ///@{
    inline auto recv(Socket& socket, void* buffer, std::size_t size, Timeout timeout, std::error_code& ec) noexcept;
    inline auto recv(Socket& socket, void* buffer, std::size_t size, std::error_code& ec) noexcept;
    inline auto recv(Socket& socket, void* buffer, std::size_t size, Timeout timeout = Timeout::max());
    ///@}

    /// All size bytes, as Socket::send_all: on error or timeout the bytes that went are the
    /// result (error_code form) or TransferError::bytes_transferred().
    ///@{
    inline auto send_all(Socket& socket, const void* data, std::size_t size, Timeout timeout, std::error_code& ec) noexcept;
    inline auto send_all(Socket& socket, const void* data, std::size_t size, std::error_code& ec) noexcept;
    inline auto send_all(Socket& socket, const void* data, std::size_t size, Timeout timeout = Timeout::max());
    ///@}

    /// Exactly size bytes, as Socket::recv_exact: the peer closing first is
    /// errc::end_of_stream, with the bytes that came counted.
    ///@{
    inline auto recv_exact(Socket& socket, void* buffer, std::size_t size, Timeout timeout, std::error_code& ec) noexcept;
    inline auto recv_exact(Socket& socket, void* buffer, std::size_t size, std::error_code& ec) noexcept;
    inline auto recv_exact(Socket& socket, void* buffer, std::size_t size, Timeout timeout = Timeout::max());
    ///@}

    /// The next line (without its ending) or length-prefixed message, read into buffer with
    /// the framing layer's rules: buffer's max_message limits it (errc::message_too_large),
    /// bytes after it stay in buffer for the next call, and the peer closing first is
    /// errc::end_of_stream (a partial frame stays in buffer.buffered()). The view is valid
    /// until buffer is next read or fed. Throws std::system_error ("read_line with PEER: ...").
    ///@{
    inline auto read_line(Socket& socket, MessageBuffer& buffer, Timeout timeout, std::error_code& ec,
                          Delimiter delimiter = Delimiter::lf_or_crlf()) noexcept;
    inline auto read_line(Socket& socket, MessageBuffer& buffer, Timeout timeout = Timeout::max(),
                          Delimiter delimiter = Delimiter::lf_or_crlf());
    inline auto read_message(Socket& socket, MessageBuffer& buffer, Timeout timeout, std::error_code& ec,
                             Prefix prefix = Prefix::u32) noexcept;
    inline auto read_message(Socket& socket, MessageBuffer& buffer, Timeout timeout = Timeout::max(),
                             Prefix prefix = Prefix::u32);
    ///@}

    /// Sends text followed by ending ("\n" unless given), or payload after its length prefix
    /// (a payload the prefix cannot count is errc::message_too_large, nothing sent), as one
    /// send_all: the result counts frame bytes (prefix and ending included).
    ///@{
    inline auto write_line(Socket& socket, std::string_view text, Timeout timeout, std::error_code& ec,
                           std::string_view ending = "\n");
    inline auto write_line(Socket& socket, std::string_view text, Timeout timeout = Timeout::max(),
                           std::string_view ending = "\n");
    inline auto write_message(Socket& socket, std::string_view payload, Timeout timeout, std::error_code& ec,
                              Prefix prefix = Prefix::u32);
    inline auto write_message(Socket& socket, std::string_view payload, Timeout timeout = Timeout::max(),
                              Prefix prefix = Prefix::u32);
    ///@}

    /// The polite close of Socket::graceful_close without blocking the loop: stop sending,
    /// read and discard until the peer closes too or timeout passes, then close. How it ended
    /// is the result; only a socket that was not open, or a failing close, is an error. Tasks
    /// waiting on the socket are cancelled first.
    ///@{
    inline Task<CloseResult> graceful_close(Socket& socket, Timeout timeout, std::error_code& ec);
#if !defined(SOCKETS_NO_EXCEPTIONS)
    inline Task<CloseResult> graceful_close(Socket& socket, Timeout timeout);
#endif
    ///@}

    /// Resumes after duration (at once if it is zero or negative, after the other ready tasks:
    /// a yield).
    inline auto sleep(Timeout duration) noexcept;

    /// A new TCP socket connected to address, as connect_to(address, timeout): handed back in
    /// blocking mode; a Unix-domain listener with a full backlog is tried again (backing off
    /// 1 to 64 ms) until the deadline. Throws std::system_error ("connect ADDRESS: ...").
    ///@{
    inline Task<Socket> connect(Address address, Timeout timeout, std::error_code& ec);
    inline Task<Socket> connect(Address address, std::error_code& ec);
#if !defined(SOCKETS_NO_EXCEPTIONS)
    inline Task<Socket> connect(Address address, Timeout timeout = Timeout::max());
#endif
    ///@}

    /// A host name resolved (on a helper thread: getaddrinfo cannot be waited for) and its
    /// addresses raced as connect_to(host, port, timeout, options) does (RFC 8305: IPv6 and
    /// IPv4 alternate, each attempt gets options.attempt_delay alone). One deadline covers the
    /// lookup and every attempt. The throwing form throws ConnectError.
    ///@{
    inline Task<Socket> connect(std::string host, int port, Timeout timeout, ConnectOptions options, std::error_code& ec);
    inline Task<Socket> connect(std::string host, int port, Timeout timeout, std::error_code& ec);
#if !defined(SOCKETS_NO_EXCEPTIONS)
    inline Task<Socket> connect(std::string host, int port, Timeout timeout = Timeout::max(),
                                ConnectOptions options = ConnectOptions());
#endif
    ///@}

    // ==== TLS (include sockets/tls.hpp; Stream is TlsStream) ===================================
    // The same calls over a TlsStream, with the blocking namesakes' semantics and errors
    // (TransferError "tls recv with PEER: ...", the handshake's "tls handshake with HOST").
    // Each is a Task: its arguments are held by reference, like the other awaitables', so
    // co_await it in the same expression. A TLS call may need the socket writable to read, or
    // readable to write (wants(), unsent()): these wait for whichever it needs.

    /// The handshake without blocking the loop, as sockets::tls_accept(socket, context,
    /// timeout): the stream comes back in every case (ec tells whether it is usable).
    ///@{
    template <class Context>
    Task<detail::TlsStreamOf<Context>> tls_accept(Socket socket, const Context& context, Timeout timeout,
                                                  std::error_code& ec);
#if !defined(SOCKETS_NO_EXCEPTIONS)
    template <class Context>
    Task<detail::TlsStreamOf<Context>> tls_accept(Socket socket, const Context& context,
                                                  Timeout timeout = Timeout::max());
#endif
    ///@}
    /// The client's handshake, as sockets::tls_connect(socket, context, host, timeout): host is
    /// the name or address the certificate must be for (sent as SNI when it is a name).
    ///@{
    template <class Context>
    Task<detail::TlsStreamOf<Context>> tls_connect(Socket socket, const Context& context, std::string host,
                                                   Timeout timeout, std::error_code& ec);
#if !defined(SOCKETS_NO_EXCEPTIONS)
    template <class Context>
    Task<detail::TlsStreamOf<Context>> tls_connect(Socket socket, const Context& context, std::string host,
                                                   Timeout timeout = Timeout::max());
#endif
    ///@}

    /// What is there, at most size bytes, as TlsStream::recv: 0 means close_notify came.
    ///@{
    template <detail::TlsLike Stream>
    Task<std::size_t> recv(Stream& stream, void* buffer, std::size_t size, Timeout timeout, std::error_code& ec);
#if !defined(SOCKETS_NO_EXCEPTIONS)
    template <detail::TlsLike Stream>
    Task<std::size_t> recv(Stream& stream, void* buffer, std::size_t size, Timeout timeout = Timeout::max());
#endif
    ///@}
    /// All size bytes, as TlsStream::send_all (and every record of them handed to the socket).
    ///@{
    template <detail::TlsLike Stream>
    Task<std::size_t> send_all(Stream& stream, const void* data, std::size_t size, Timeout timeout,
                               std::error_code& ec);
#if !defined(SOCKETS_NO_EXCEPTIONS)
    template <detail::TlsLike Stream>
    Task<std::size_t> send_all(Stream& stream, const void* data, std::size_t size, Timeout timeout = Timeout::max());
#endif
    ///@}
    /// Exactly size bytes, as TlsStream::recv_exact: close_notify first is errc::end_of_stream.
    ///@{
    template <detail::TlsLike Stream>
    Task<std::size_t> recv_exact(Stream& stream, void* buffer, std::size_t size, Timeout timeout, std::error_code& ec);
#if !defined(SOCKETS_NO_EXCEPTIONS)
    template <detail::TlsLike Stream>
    Task<std::size_t> recv_exact(Stream& stream, void* buffer, std::size_t size, Timeout timeout = Timeout::max());
#endif
    ///@}
    /// Lines and length-prefixed messages over TLS, with the rules of the Socket forms above.
    ///@{
    template <detail::TlsLike Stream>
    Task<std::string_view> read_line(Stream& stream, MessageBuffer& buffer, Timeout timeout, std::error_code& ec,
                                     Delimiter delimiter = Delimiter::lf_or_crlf());
    template <detail::TlsLike Stream>
    Task<std::string_view> read_message(Stream& stream, MessageBuffer& buffer, Timeout timeout, std::error_code& ec,
                                        Prefix prefix = Prefix::u32);
    template <detail::TlsLike Stream>
    Task<std::size_t> write_line(Stream& stream, std::string_view text, Timeout timeout, std::error_code& ec,
                                 std::string_view ending = "\n");
    template <detail::TlsLike Stream>
    Task<std::size_t> write_message(Stream& stream, std::string_view payload, Timeout timeout, std::error_code& ec,
                                    Prefix prefix = Prefix::u32);
#if !defined(SOCKETS_NO_EXCEPTIONS)
    template <detail::TlsLike Stream>
    Task<std::string_view> read_line(Stream& stream, MessageBuffer& buffer, Timeout timeout = Timeout::max(),
                                     Delimiter delimiter = Delimiter::lf_or_crlf());
    template <detail::TlsLike Stream>
    Task<std::string_view> read_message(Stream& stream, MessageBuffer& buffer, Timeout timeout = Timeout::max(),
                                        Prefix prefix = Prefix::u32);
    template <detail::TlsLike Stream>
    Task<std::size_t> write_line(Stream& stream, std::string_view text, Timeout timeout = Timeout::max(),
                                 std::string_view ending = "\n");
    template <detail::TlsLike Stream>
    Task<std::size_t> write_message(Stream& stream, std::string_view payload, Timeout timeout = Timeout::max(),
                                    Prefix prefix = Prefix::u32);
#endif
    ///@}
    /// The polite close over TLS: close_notify both ways (TlsStream::shutdown), then the
    /// socket's graceful_close, under one timeout; the socket is closed in every case. The
    /// error is the TLS shutdown's (tls_errc::truncated: the peer left without close_notify),
    /// else the close's; how the socket's part ended is the result.
    ///@{
    template <detail::TlsLike Stream>
    Task<CloseResult> graceful_close(Stream& stream, Timeout timeout, std::error_code& ec);
#if !defined(SOCKETS_NO_EXCEPTIONS)
    template <detail::TlsLike Stream>
    Task<CloseResult> graceful_close(Stream& stream, Timeout timeout);
#endif
    ///@}

    /// @cond SOCKETS_DETAIL
    // The awaitables' side of the loop (public for the awaitable classes, not for users).
    inline bool suspend_on(detail::Waiter& w, std::coroutine_handle<> h, const Socket& socket) noexcept;
    inline void suspend_timer(detail::Waiter& w, std::coroutine_handle<> h) noexcept;
    inline void abandon(detail::Waiter& w) noexcept;
    inline void finished(detail::Detached::promise_type& p) noexcept;
    inline void post_remote(const std::shared_ptr<detail::RemoteJob>& job);
    inline void complete(detail::Waiter& w) noexcept;
    inline void invalidate(native_handle_type h) noexcept;
    // Whether the last recv of this socket took all there was (see TransferOp::await_ready).
    bool read_drained(native_handle_type h) noexcept {
        detail::Watch* x = find(h);
        return x && x->drained;
    }
    void set_read_drained(native_handle_type h, bool drained) noexcept {
        if (detail::Watch* x = find(h)) x->drained = drained;
    }
    inline Task<std::vector<Address>> resolve(std::string host, int port, detail::Waiter::clock::time_point deadline,
                                              bool timed, std::error_code& ec);
    inline Task<Socket> connect_race(std::string host, int port, Timeout timeout, ConnectOptions options,
                                     std::error_code& ec, detail::ConnectReport* report);
    /// @endcond

private:
    using clock = detail::Waiter::clock;

    // Waits for what the TLS call that would not go on needs: room for the records the socket
    // did not take (unsent), else the readiness wants() names.
    template <detail::TlsLike Stream>
    auto tls_wait(Stream& stream, Timeout timeout, std::error_code& ec, bool writing = false) noexcept;
    // Whether a task waits for the socket to be writable (for tls_wait).
    bool waits_to_write(const Socket& socket) noexcept {
        detail::Watch* x = find(socket.native_handle());
        return x && x->owner == &socket && x->writer;
    }
    template <detail::TlsLike Stream>
    Task<void> tls_handshake(Stream& stream, Timeout timeout, std::error_code& ec);
    template <detail::TlsLike Stream>
    Task<std::string_view> tls_read_frame(Stream& stream, MessageBuffer& buffer, bool line, Delimiter delimiter,
                                          Prefix prefix, Timeout timeout, std::error_code& ec);

    static detail::Detached run_spawned(EventLoop& loop, Task<void> task) {
        std::exception_ptr error = co_await detail::Outcome<void>{task.h_};
        if (error) loop.report(error);
    }
    inline void report(std::exception_ptr error) noexcept;
    inline void destroy_tasks() noexcept;
    inline void run_ready();
    inline void dispatch(const ReadyList& ready) noexcept;
    inline void fire_timers() noexcept;
    inline void sweep() noexcept;
    inline void detach(detail::Waiter& w) noexcept;
    inline detail::Watch* find(native_handle_type h) noexcept;
    inline detail::Watch& watch(native_handle_type h);
    inline void flag(detail::Watch& x, native_handle_type h) noexcept;
    static Events needed(const detail::Watch& x) noexcept {
        return (x.reader ? Events::readable : Events::none) | (x.writer ? Events::writable : Events::none);
    }
    static std::uint64_t token(native_handle_type h) noexcept { return static_cast<std::uint64_t>(h); }

    // Timers: a binary min-heap of waiters by deadline; each knows its index, so an await that
    // ends early leaves the heap in O(log n) (no dead entries pile up under 30 s idle timeouts).
    inline void heap_push(detail::Waiter& w);
    inline void heap_erase(detail::Waiter& w) noexcept;
    inline void heap_up(std::size_t i) noexcept;
    inline void heap_down(std::size_t i) noexcept;
    inline void heap_place(std::size_t i, detail::Waiter* w) noexcept {
        heap_[i] = w;
        w->heap_index_ = i;
    }

    Poller poller_;
    std::atomic<bool> stop_{false};
    bool closing_ = false;
    std::size_t live_ = 0;
    ExceptionHandler handler_;
    detail::Detached::promise_type* tasks_ = nullptr;  // live spawned tasks (a list)
    detail::Link ready_;                              // waiters whose await is over
    std::vector<detail::Waiter*> heap_;
    std::vector<detail::Watch> small_;                // by descriptor number, below small_limit
    std::unordered_map<native_handle_type, detail::Watch> large_;
    std::vector<native_handle_type> sweep_;
    static constexpr std::size_t small_limit = 65536;
    std::mutex remote_mutex_;
    std::vector<std::shared_ptr<detail::RemoteJob>> remote_;  // guarded by remote_mutex_
    std::vector<std::shared_ptr<detail::RemoteJob>> remote_taken_;
    std::atomic<bool> remote_pending_{false};
};

/// @cond SOCKETS_DETAIL
// ---- implementation ----------------------------------------------------------------------------

namespace detail {

inline Waiter::~Waiter() {
    if (loop_) loop_->abandon(*this);
}

inline void Detached::promise_type::Final::await_suspend(std::coroutine_handle<promise_type> h) noexcept {
    h.promise().loop_->finished(h.promise());
}

inline bool SocketOp::await_suspend(std::coroutine_handle<> h) noexcept {
    return loop_ref_->suspend_on(*this, h, *socket_);
}

// Only waits (readable / writable).
class [[nodiscard]] WaitOp : public SocketOp {
public:
    WaitOp(EventLoop& loop, const Socket& s, bool reading, Timeout t, std::error_code* out, bool yields = false) noexcept
        : SocketOp(loop, s, reading, t, out) {
        yields_ = yields;
    }
    bool await_ready() noexcept {
        if (!socket_->is_open()) {
            ec_ = errc::not_open;
            return true;
        }
        if (timed_ && clock::now() >= deadline_) {
            expire();
            return true;
        }
        return false;
    }
    void await_resume() {
        report([&] { return std::system_error(ec_, describe_transfer(*socket_, reading_ ? "wait readable" : "wait writable")); });
    }
};

class [[nodiscard]] AcceptOp : public SocketOp {
public:
    AcceptOp(EventLoop& loop, Socket& listener, Address* remote, Timeout t, std::error_code* out) noexcept
        : SocketOp(loop, listener, true, t, out), listener_(&listener), remote_(remote) {}
    bool perform() noexcept override {
        std::optional<Socket> s = listener_->try_accept(remote_, ec_);
        if (ec_) return true;
        if (!s) return false;
        result_ = std::move(*s);
        loop_ref_->invalidate(result_.native_handle());  // a new socket may have an old number
        return true;
    }
    Socket await_resume() {
        report([&] {
            std::error_code ignored;
            return std::system_error(ec_, describe("accept on", listener_->local_address(ignored)));
        });
        return std::move(result_);
    }

private:
    Socket* listener_;
    Address* remote_;
    Socket result_;
};

// recv and send: one attempt's worth, whatever moved.
template <bool Reading>
class [[nodiscard]] TransferOp : public SocketOp {
    using Pointer = std::conditional_t<Reading, void*, const void*>;

public:
    TransferOp(EventLoop& loop, Socket& s, Pointer data, std::size_t size, Timeout t, std::error_code* out) noexcept
        : SocketOp(loop, s, Reading, t, out), s_(&s), data_(data), size_(size) {}
    // A recv right after one that took less than it asked for (the socket had no more) waits
    // for the readiness report first: a try now would almost always be a wasted system call
    // saying "would block" (one per request in a request/response loop). The Poller is
    // level-triggered, so data that is there all the same is reported at the next wait. A
    // deadline already due still gets its one attempt.
    bool await_ready() noexcept {
        if constexpr (Reading) {
            if (loop_ref_->read_drained(s_->native_handle()) && (!timed_ || clock::now() < deadline_)) return false;
        }
        return SocketOp::await_ready();
    }
    bool perform() noexcept override {
        std::optional<std::size_t> n;
        if constexpr (Reading) {
            n = s_->try_recv(data_, size_, ec_);
            loop_ref_->set_read_drained(s_->native_handle(), !ec_ && n && *n != 0 && *n < size_);
        } else {
            n = s_->try_send(data_, size_, ec_);
        }
        if (!ec_ && !n) return false;
        result_ = n.value_or(0);
        return true;
    }
    std::size_t await_resume() {
        report_transfer(Reading ? "recv" : "send", result_);
        return result_;
    }

private:
    Socket* s_;
    Pointer data_;
    std::size_t size_;
    std::size_t result_ = 0;
};
using RecvOp = TransferOp<true>;
using SendOp = TransferOp<false>;

// send_all and recv_exact: partial transfers accumulate across readiness reports.
class [[nodiscard]] ExactOp : public SocketOp {
public:
    ExactOp(EventLoop& loop, Socket& s, void* buffer, std::size_t size, bool reading, Timeout t,
            std::error_code* out) noexcept
        : SocketOp(loop, s, reading, t, out), s_(&s), buffer_(static_cast<char*>(buffer)), size_(size) {}
    bool perform() noexcept override {
        while (done_ < size_) {
            std::optional<std::size_t> n = reading_ ? s_->try_recv(buffer_ + done_, size_ - done_, ec_)
                                                    : s_->try_send(buffer_ + done_, size_ - done_, ec_);
            if (ec_) {
                done_ += n.value_or(0);
                return true;
            }
            if (!n) return false;
            if (*n == 0 && reading_) {
                ec_ = errc::end_of_stream;
                return true;
            }
            done_ += *n;
        }
        ec_.clear();
        return true;
    }
    std::size_t await_resume() {
        report_transfer(reading_ ? "recv_exact" : "send_all", done_);
        return done_;
    }

private:
    Socket* s_;
    char* buffer_;
    std::size_t size_;
    std::size_t done_ = 0;
};

// read_line / read_message: received into the caller's MessageBuffer (its limit applies)
// until it holds a whole frame; bytes beyond it stay buffered for the next call.
class [[nodiscard]] FrameReadOp : public SocketOp {
public:
    FrameReadOp(EventLoop& loop, Socket& s, MessageBuffer& buffer, bool line, Delimiter delimiter, Prefix prefix,
                Timeout t, std::error_code* out) noexcept
        : SocketOp(loop, s, true, t, out), s_(&s), buffer_(&buffer), line_(line), delimiter_(delimiter), prefix_(prefix) {}
    bool perform() noexcept override {
        for (;;) {
            std::optional<std::string_view> frame =
                line_ ? buffer_->next_line(ec_, delimiter_) : buffer_->next_message(ec_, prefix_);
            if (frame) {
                result_ = *frame;
                return true;
            }
            if (ec_) return true;
            constexpr std::size_t chunk = 4096;
            char* room = nullptr;
#if !defined(SOCKETS_NO_EXCEPTIONS)
            try {
                room = buffer_->prepare(chunk);
            } catch (const std::bad_alloc&) {
                ec_ = std::make_error_code(std::errc::not_enough_memory);
                return true;
            }
#else
            room = buffer_->prepare(chunk);
#endif
            std::optional<std::size_t> n = s_->try_recv(room, chunk, ec_);
            if (ec_) return true;
            if (!n) return false;
            if (*n == 0) {
                ec_ = errc::end_of_stream;
                return true;
            }
            buffer_->commit(*n);
        }
    }
    std::string_view await_resume() {
        report([&] { return std::system_error(ec_, describe_transfer(*socket_, line_ ? "read_line" : "read_message")); });
        return ec_ ? std::string_view() : result_;
    }

private:
    Socket* s_;
    MessageBuffer* buffer_;
    bool line_;
    Delimiter delimiter_;
    Prefix prefix_;
    std::string_view result_;
};

// write_line / write_message: the frame (prefix + payload, or text + ending) is built once and
// sent whole; the count in errors is of frame bytes.
class [[nodiscard]] FrameWriteOp : public SocketOp {
public:
    FrameWriteOp(EventLoop& loop, Socket& s, std::string_view payload, bool line, std::string_view ending, Prefix prefix,
                 Timeout t, std::error_code* out)
        : SocketOp(loop, s, false, t, out), s_(&s), line_(line) {
        if (line) {
            frame_.reserve(payload.size() + ending.size());
            frame_.append(payload).append(ending);
            return;
        }
        unsigned char header[8];
        std::size_t width = detail::encode_prefix(header, prefix, payload.size(), ec_);
        if (ec_) return;
        frame_.reserve(width + payload.size());
        frame_.append(reinterpret_cast<const char*>(header), width).append(payload);
    }
    bool perform() noexcept override {
        if (ec_) return true;  // the payload does not fit the prefix
        while (done_ < frame_.size()) {
            std::optional<std::size_t> n = s_->try_send(frame_.data() + done_, frame_.size() - done_, ec_);
            if (ec_) {
                done_ += n.value_or(0);
                return true;
            }
            if (!n) return false;
            done_ += *n;
        }
        return true;
    }
    std::size_t await_resume() {
        report_transfer(line_ ? "write_line" : "write_message", done_);
        return done_;
    }

private:
    Socket* s_;
    bool line_;
    std::string frame_;
    std::size_t done_ = 0;
};

class [[nodiscard]] SleepOp : public Waiter {
public:
    SleepOp(EventLoop& loop, Timeout t) noexcept : loop_ref_(&loop) {
        deadline_ = deadline_of(t, timed_);
        if (!timed_) deadline_ = clock::time_point::max();  // no deadline: sleeps until destroyed
        timed_ = true;
    }
    bool await_ready() const noexcept { return false; }
    void await_suspend(std::coroutine_handle<> h) noexcept { loop_ref_->suspend_timer(*this, h); }
    void expire() noexcept override {}
    void await_resume() const noexcept {}

private:
    EventLoop* loop_ref_;
};

// Waits for a RemoteJob (name resolution) to be completed by its thread, or the deadline.
class [[nodiscard]] RemoteOp : public Waiter {
public:
    RemoteOp(EventLoop& loop, std::shared_ptr<RemoteJob> job, clock::time_point deadline, bool timed) noexcept
        : loop_ref_(&loop), job_(std::move(job)) {
        deadline_ = timed ? deadline : clock::time_point::max();
        timed_ = true;
    }
    ~RemoteOp() override {
        std::lock_guard<std::mutex> lock(job_->mutex);
        job_->loop = nullptr;
        job_->waiter = nullptr;
    }
    bool await_ready() noexcept {
        if (clock::now() >= deadline_) {
            expire();
            return true;
        }
        return false;
    }
    void await_suspend(std::coroutine_handle<> h) noexcept {
        job_->waiter = this;
        loop_ref_->suspend_timer(*this, h);
    }
    void expire() noexcept override {
        job_->waiter = nullptr;
        ec_ = timed_out();
    }
    std::error_code await_resume() noexcept { return ec_ ? ec_ : job_->ec; }

private:
    EventLoop* loop_ref_;
    std::shared_ptr<RemoteJob> job_;
};

}  // namespace detail

// ---- EventLoop: running ------------------------------------------------------------------------

inline void EventLoop::spawn(Task<void> task) {
    if (!task) return;
    if (closing_) return;  // the loop is going: the task goes with it (destroyed here)
    detail::Detached d = run_spawned(*this, std::move(task));
    detail::Detached::promise_type& p = d.handle.promise();
    p.next_ = tasks_;
    if (tasks_) tasks_->prev_ = &p;
    tasks_ = &p;
    ++live_;
    // Started in turn with the waiters ready now: a task that yields lets new ones start.
    p.starter_.handle_ = d.handle;
    p.starter_.loop_ = this;
    p.starter_.state_ = detail::Waiter::State::ready;
    ready_.push_back(p.starter_);
}

inline void EventLoop::finished(detail::Detached::promise_type& p) noexcept {
    if (p.prev_) p.prev_->next_ = p.next_;
    else tasks_ = p.next_;
    if (p.next_) p.next_->prev_ = p.prev_;
    --live_;
    std::coroutine_handle<detail::Detached::promise_type>::from_promise(p).destroy();
}

inline void EventLoop::report(std::exception_ptr error) noexcept {
#if !defined(SOCKETS_NO_EXCEPTIONS)
    if (handler_) {
        try {
            handler_(error);
        } catch (...) {
            std::terminate();
        }
        return;
    }
    try {
        std::rethrow_exception(error);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "sockets: a spawned task failed: %s\n", e.what());
    } catch (...) {
        std::fprintf(stderr, "sockets: a spawned task failed: an exception not derived from std::exception\n");
    }
#else
    if (handler_) handler_(error);
#endif
}

inline void EventLoop::destroy_tasks() noexcept {
    closing_ = true;
    // Frames go newest first; each one's awaits unhook themselves (Waiter's destructor).
    while (tasks_) {
        detail::Detached::promise_type* p = tasks_;
        tasks_ = p->next_;
        if (tasks_) tasks_->prev_ = nullptr;
        --live_;
        std::coroutine_handle<detail::Detached::promise_type>::from_promise(*p).destroy();
    }
    while (ready_.linked()) {  // only waiters of awaitables not in a task (none normally)
        auto* w = static_cast<detail::Waiter*>(ready_.next);
        w->unlink();
        w->state_ = detail::Waiter::State::idle;
        w->loop_ = nullptr;
    }
}

inline void EventLoop::run(std::error_code& ec) {
    ec.clear();
    // Sockets closed on this thread while it runs (by a task, or with a frame that ends) leave
    // the loop first: their waiters wake, and their registration goes while the descriptor is
    // still theirs (epoll would forget it without a word; poll would report a stranger's).
    detail::CloseObserver observer{
        [](void* self, native_handle_type h) noexcept { static_cast<EventLoop*>(self)->invalidate(h); }, this};
    struct Restore {
        detail::CloseObserver* previous;
        ~Restore() { detail::close_observer() = previous; }
    } restore{std::exchange(detail::close_observer(), &observer)};
    for (;;) {
        if (stop_.load(std::memory_order_acquire)) {
            stop_.store(false, std::memory_order_relaxed);
            return;
        }
        run_ready();
        // A stop() from a task resumed just now is seen after this step's wait, which its
        // wake-up makes return at once: readiness already there is still delivered.
        if (live_ == 0) return;
        sweep();
        Timeout wait = Timeout::max();
        if (ready_.linked() || remote_pending_.load(std::memory_order_acquire)) {
            wait = Timeout::zero();
        } else if (!heap_.empty()) {
            auto now = clock::now();
            wait = heap_[0]->deadline_ <= now ? Timeout::zero() : Timeout(heap_[0]->deadline_ - now);
        }
        ReadyList ready = poller_.wait(wait, ec);
        if (ec) return;
        dispatch(ready);
        fire_timers();
    }
}

inline void EventLoop::run_ready() {
    if (remote_pending_.load(std::memory_order_acquire)) {
        {
            std::lock_guard<std::mutex> lock(remote_mutex_);
            remote_taken_.swap(remote_);
            remote_pending_.store(false, std::memory_order_relaxed);
        }
        for (auto& job : remote_taken_)
            if (job->waiter) complete(*job->waiter);
        remote_taken_.clear();
    }
    // Only the waiters ready now: one that a resumed task readies again waits for the next
    // step, so a task that keeps yielding cannot starve the sockets.
    detail::Link batch;
    if (ready_.linked()) {
        batch.next = ready_.next;
        batch.prev = ready_.prev;
        batch.next->prev = &batch;
        batch.prev->next = &batch;
        ready_.next = ready_.prev = &ready_;
    }
    while (batch.linked()) {
        auto* w = static_cast<detail::Waiter*>(batch.next);
        w->unlink();
        w->state_ = detail::Waiter::State::idle;
        w->loop_ = nullptr;
        w->handle_.resume();  // may destroy w, or other waiters of the batch (they unlink)
    }
}

inline void EventLoop::dispatch(const ReadyList& ready) noexcept {
    for (const Ready& r : ready) {
        detail::Watch* x = find(r.handle);
        if (!x) continue;
        bool trouble = r.has(Events::error | Events::hang_up);
        if (detail::Waiter* w = x->reader; w && (trouble || r.has(Events::readable)) && w->perform()) complete(*w);
        if (detail::Waiter* w = x->writer; w && (trouble || r.has(Events::writable)) && w->perform()) complete(*w);
        if (needed(*x) != x->registered) flag(*x, r.handle);
    }
}

inline void EventLoop::fire_timers() noexcept {
    if (heap_.empty()) return;
    auto now = clock::now();
    while (!heap_.empty() && heap_[0]->deadline_ <= now) {
        detail::Waiter* w = heap_[0];
        w->expire();
        complete(*w);
    }
}

// Registrations wider than their waiters need: narrowed (or removed) before the next wait, so
// a level-triggered report nobody waits for wakes the loop at most once.
inline void EventLoop::sweep() noexcept {
    for (native_handle_type h : sweep_) {
        detail::Watch* x = find(h);
        if (!x) continue;
        x->flagged = false;
        Events want = needed(*x);
        if (!x->in_poller || want == x->registered) continue;
        std::error_code ec;
        if (want != Events::none) poller_.modify(h, want, token(h), ec);
        if (want == Events::none || ec) {
            poller_.remove(h, ec);
            x->in_poller = false;
            x->registered = Events::none;
            if (want != Events::none) {  // the modify failed (a closed descriptor): the waiters
                for (detail::Waiter* w : {x->reader, x->writer}) {  // learn it now, not never
                    if (!w) continue;
                    w->ec_ = errc::not_open;
                    complete(*w);
                }
            }
        } else {
            x->registered = want;
        }
    }
    sweep_.clear();
}

// ---- EventLoop: waiters ------------------------------------------------------------------------

inline detail::Watch* EventLoop::find(native_handle_type h) noexcept {
    auto n = static_cast<std::uint64_t>(h);
    if (n < small_limit) return n < small_.size() ? &small_[static_cast<std::size_t>(n)] : nullptr;
    auto it = large_.find(h);
    return it == large_.end() ? nullptr : &it->second;
}

inline detail::Watch& EventLoop::watch(native_handle_type h) {
    auto n = static_cast<std::uint64_t>(h);
    if (n < small_limit) {
        if (n >= small_.size()) small_.resize(static_cast<std::size_t>(n) + 1 > 2 * small_.size() ? static_cast<std::size_t>(n) + 1 : 2 * small_.size());
        return small_[static_cast<std::size_t>(n)];
    }
    return large_[h];
}

inline void EventLoop::flag(detail::Watch& x, native_handle_type h) noexcept {
    if (x.flagged) return;
#if !defined(SOCKETS_NO_EXCEPTIONS)
    try {
        sweep_.push_back(h);
    } catch (...) {
        return;  // no room to remember: the registration stays wider (a spurious wake-up or two)
    }
#else
    sweep_.push_back(h);
#endif
    x.flagged = true;
}

inline bool EventLoop::suspend_on(detail::Waiter& w, std::coroutine_handle<> h, const Socket& socket) noexcept {
    w.ec_.clear();
    native_handle_type fd = socket.native_handle();
    if (fd == detail::invalid_handle) {
        w.ec_ = errc::not_open;
        return false;
    }
    detail::Watch* xp = nullptr;
#if !defined(SOCKETS_NO_EXCEPTIONS)
    try {
        xp = &watch(fd);
        if (w.timed_) heap_.reserve(heap_.size() + 1);
    } catch (...) {
        w.ec_ = std::make_error_code(std::errc::not_enough_memory);
        return false;
    }
#else
    xp = &watch(fd);
    if (w.timed_) heap_.reserve(heap_.size() + 1);
#endif
    detail::Watch& x = *xp;
    detail::Waiter*& slot = w.reading_ ? x.reader : x.writer;
    if (slot && slot->yields_ && !w.yields_ && x.owner == &socket) {
        complete(*slot);  // it goes back to waiting to read; this wait sends the bytes it waited for
    }
    if (slot) {
        w.ec_ = std::make_error_code(std::errc::operation_in_progress);
        return false;
    }
    if (x.owner != &socket) {  // another Socket object: the old registration may be a ghost
        if (x.in_poller) {
            std::error_code ignored;
            poller_.remove(fd, ignored);
        }
        x.in_poller = false;
        x.registered = Events::none;
        x.owner = &socket;
    }
    Events want = needed(x) | (w.reading_ ? Events::readable : Events::writable);
    std::error_code ec;
    if (x.in_poller && (want | x.registered) != x.registered) {
        poller_.modify(fd, want, token(fd), ec);
        if (ec) {  // closed and reopened under the same number: register the new socket
            std::error_code ignored;
            poller_.remove(fd, ignored);
            x.in_poller = false;
            ec.clear();
        } else {
            x.registered = want;
        }
    }
    if (!x.in_poller) {
        poller_.add(fd, want, token(fd), ec);
        if (ec) {
            w.ec_ = ec;
            return false;
        }
        x.in_poller = true;
        x.registered = want;
    }
    slot = &w;
    w.fd_ = fd;
    w.handle_ = h;
    w.loop_ = this;
    w.state_ = detail::Waiter::State::waiting;
    if (w.timed_) heap_push(w);  // reserved above: cannot throw
    return true;
}

inline void EventLoop::suspend_timer(detail::Waiter& w, std::coroutine_handle<> h) noexcept {
    w.ec_.clear();
    w.fd_ = detail::invalid_handle;
    w.handle_ = h;
    w.loop_ = this;
    if (w.deadline_ <= clock::now()) {  // already due: after the other ready tasks
        w.expire();
        w.state_ = detail::Waiter::State::ready;
        ready_.push_back(w);
        return;
    }
    w.state_ = detail::Waiter::State::waiting;
#if !defined(SOCKETS_NO_EXCEPTIONS)
    try {
        heap_push(w);
    } catch (...) {  // no memory for the timer: the await ends at once, as if it was due
        w.expire();
        w.state_ = detail::Waiter::State::ready;
        ready_.push_back(w);
    }
#else
    heap_push(w);
#endif
}

// Takes w off its socket and timer; it stays with its loop.
inline void EventLoop::detach(detail::Waiter& w) noexcept {
    if (w.fd_ != detail::invalid_handle) {
        if (detail::Watch* x = find(w.fd_)) {
            if (x->reader == &w) x->reader = nullptr;
            if (x->writer == &w) x->writer = nullptr;
            flag(*x, w.fd_);
        }
        w.fd_ = detail::invalid_handle;
    }
    if (w.timed_ && w.state_ == detail::Waiter::State::waiting) heap_erase(w);
}

inline void EventLoop::complete(detail::Waiter& w) noexcept {
    if (w.state_ != detail::Waiter::State::waiting) return;
    detach(w);
    w.state_ = detail::Waiter::State::ready;
    ready_.push_back(w);
}

inline void EventLoop::abandon(detail::Waiter& w) noexcept {
    if (w.state_ == detail::Waiter::State::waiting) detach(w);
    else if (w.state_ == detail::Waiter::State::ready) w.unlink();
    w.state_ = detail::Waiter::State::idle;
    w.loop_ = nullptr;
}

inline void EventLoop::cancel(const Socket& socket) noexcept {
    detail::Watch* x = find(socket.native_handle());
    if (!x || x->owner != &socket) return;
    for (detail::Waiter* w : {x->reader, x->writer}) {
        if (!w) continue;
        w->ec_ = std::make_error_code(std::errc::operation_canceled);
        complete(*w);
    }
}

inline void EventLoop::forget(const Socket& socket) noexcept {
    cancel(socket);
    invalidate(socket.native_handle());
}

inline void EventLoop::invalidate(native_handle_type h) noexcept {
    detail::Watch* x = find(h);
    if (!x) return;
    for (detail::Waiter* w : {x->reader, x->writer}) {  // waiters of the old socket: it is gone
        if (!w) continue;
        w->ec_ = std::make_error_code(std::errc::operation_canceled);
        complete(*w);
    }
    if (x->in_poller) {
        std::error_code ignored;
        poller_.remove(h, ignored);
    }
    x->in_poller = false;
    x->registered = Events::none;
    x->owner = nullptr;
    x->drained = false;
}

inline void EventLoop::post_remote(const std::shared_ptr<detail::RemoteJob>& job) {
    {
        std::lock_guard<std::mutex> lock(remote_mutex_);
        remote_.push_back(job);
        remote_pending_.store(true, std::memory_order_release);
    }
    poller_.wake();
}

// ---- EventLoop: timers -------------------------------------------------------------------------

inline void EventLoop::heap_push(detail::Waiter& w) {
    heap_.push_back(&w);
    w.heap_index_ = heap_.size() - 1;
    heap_up(w.heap_index_);
}

inline void EventLoop::heap_erase(detail::Waiter& w) noexcept {
    std::size_t i = w.heap_index_;
    detail::Waiter* last = heap_.back();
    heap_.pop_back();
    if (i == heap_.size()) return;
    heap_place(i, last);
    heap_up(i);
    heap_down(last->heap_index_);
}

inline void EventLoop::heap_up(std::size_t i) noexcept {
    detail::Waiter* w = heap_[i];
    while (i > 0) {
        std::size_t parent = (i - 1) / 2;
        if (!(w->deadline_ < heap_[parent]->deadline_)) break;
        heap_place(i, heap_[parent]);
        i = parent;
    }
    heap_place(i, w);
}

inline void EventLoop::heap_down(std::size_t i) noexcept {
    detail::Waiter* w = heap_[i];
    for (;;) {
        std::size_t child = 2 * i + 1;
        if (child >= heap_.size()) break;
        if (child + 1 < heap_.size() && heap_[child + 1]->deadline_ < heap_[child]->deadline_) ++child;
        if (!(heap_[child]->deadline_ < w->deadline_)) break;
        heap_place(i, heap_[child]);
        i = child;
    }
    heap_place(i, w);
}

// ---- EventLoop: awaitables ---------------------------------------------------------------------

inline auto EventLoop::readable(const Socket& socket, Timeout timeout, std::error_code& ec) noexcept {
    return detail::WaitOp(*this, socket, true, timeout, &ec);
}
inline auto EventLoop::readable(const Socket& socket, Timeout timeout) {
    return detail::WaitOp(*this, socket, true, timeout, nullptr);
}
inline auto EventLoop::writable(const Socket& socket, Timeout timeout, std::error_code& ec) noexcept {
    return detail::WaitOp(*this, socket, false, timeout, &ec);
}
inline auto EventLoop::writable(const Socket& socket, Timeout timeout) {
    return detail::WaitOp(*this, socket, false, timeout, nullptr);
}

inline auto EventLoop::accept(Socket& listener, Address* remote, Timeout timeout, std::error_code& ec) noexcept {
    return detail::AcceptOp(*this, listener, remote, timeout, &ec);
}
inline auto EventLoop::accept(Socket& listener, Timeout timeout, std::error_code& ec) noexcept {
    return detail::AcceptOp(*this, listener, nullptr, timeout, &ec);
}
inline auto EventLoop::accept(Socket& listener, std::error_code& ec) noexcept {
    return detail::AcceptOp(*this, listener, nullptr, Timeout::max(), &ec);
}
inline auto EventLoop::accept(Socket& listener, Address* remote, Timeout timeout) {
    return detail::AcceptOp(*this, listener, remote, timeout, nullptr);
}
inline auto EventLoop::accept(Socket& listener, Timeout timeout) {
    return detail::AcceptOp(*this, listener, nullptr, timeout, nullptr);
}

inline auto EventLoop::send(Socket& socket, const void* data, std::size_t size, Timeout timeout, std::error_code& ec) noexcept {
    return detail::SendOp(*this, socket, data, size, timeout, &ec);
}
inline auto EventLoop::send(Socket& socket, const void* data, std::size_t size, std::error_code& ec) noexcept {
    return detail::SendOp(*this, socket, data, size, Timeout::max(), &ec);
}
inline auto EventLoop::send(Socket& socket, const void* data, std::size_t size, Timeout timeout) {
    return detail::SendOp(*this, socket, data, size, timeout, nullptr);
}

inline auto EventLoop::recv(Socket& socket, void* buffer, std::size_t size, Timeout timeout, std::error_code& ec) noexcept {
    return detail::RecvOp(*this, socket, buffer, size, timeout, &ec);
}
inline auto EventLoop::recv(Socket& socket, void* buffer, std::size_t size, std::error_code& ec) noexcept {
    return detail::RecvOp(*this, socket, buffer, size, Timeout::max(), &ec);
}
inline auto EventLoop::recv(Socket& socket, void* buffer, std::size_t size, Timeout timeout) {
    return detail::RecvOp(*this, socket, buffer, size, timeout, nullptr);
}

inline auto EventLoop::send_all(Socket& socket, const void* data, std::size_t size, Timeout timeout,
                                std::error_code& ec) noexcept {
    return detail::ExactOp(*this, socket, const_cast<void*>(data), size, false, timeout, &ec);
}
inline auto EventLoop::send_all(Socket& socket, const void* data, std::size_t size, std::error_code& ec) noexcept {
    return detail::ExactOp(*this, socket, const_cast<void*>(data), size, false, Timeout::max(), &ec);
}
inline auto EventLoop::send_all(Socket& socket, const void* data, std::size_t size, Timeout timeout) {
    return detail::ExactOp(*this, socket, const_cast<void*>(data), size, false, timeout, nullptr);
}

inline auto EventLoop::recv_exact(Socket& socket, void* buffer, std::size_t size, Timeout timeout,
                                  std::error_code& ec) noexcept {
    return detail::ExactOp(*this, socket, buffer, size, true, timeout, &ec);
}
inline auto EventLoop::recv_exact(Socket& socket, void* buffer, std::size_t size, std::error_code& ec) noexcept {
    return detail::ExactOp(*this, socket, buffer, size, true, Timeout::max(), &ec);
}
inline auto EventLoop::recv_exact(Socket& socket, void* buffer, std::size_t size, Timeout timeout) {
    return detail::ExactOp(*this, socket, buffer, size, true, timeout, nullptr);
}

inline auto EventLoop::sleep(Timeout duration) noexcept { return detail::SleepOp(*this, duration); }

// ---- EventLoop: framing ----------------------------------------------------------------------

inline auto EventLoop::read_line(Socket& socket, MessageBuffer& buffer, Timeout timeout, std::error_code& ec,
                                 Delimiter delimiter) noexcept {
    return detail::FrameReadOp(*this, socket, buffer, true, delimiter, Prefix::u32, timeout, &ec);
}
inline auto EventLoop::read_line(Socket& socket, MessageBuffer& buffer, Timeout timeout, Delimiter delimiter) {
    return detail::FrameReadOp(*this, socket, buffer, true, delimiter, Prefix::u32, timeout, nullptr);
}
inline auto EventLoop::read_message(Socket& socket, MessageBuffer& buffer, Timeout timeout, std::error_code& ec,
                                    Prefix prefix) noexcept {
    return detail::FrameReadOp(*this, socket, buffer, false, Delimiter::lf_or_crlf(), prefix, timeout, &ec);
}
inline auto EventLoop::read_message(Socket& socket, MessageBuffer& buffer, Timeout timeout, Prefix prefix) {
    return detail::FrameReadOp(*this, socket, buffer, false, Delimiter::lf_or_crlf(), prefix, timeout, nullptr);
}
inline auto EventLoop::write_line(Socket& socket, std::string_view text, Timeout timeout, std::error_code& ec,
                                  std::string_view ending) {
    return detail::FrameWriteOp(*this, socket, text, true, ending, Prefix::u32, timeout, &ec);
}
inline auto EventLoop::write_line(Socket& socket, std::string_view text, Timeout timeout, std::string_view ending) {
    return detail::FrameWriteOp(*this, socket, text, true, ending, Prefix::u32, timeout, nullptr);
}
inline auto EventLoop::write_message(Socket& socket, std::string_view payload, Timeout timeout, std::error_code& ec,
                                     Prefix prefix) {
    return detail::FrameWriteOp(*this, socket, payload, false, {}, prefix, timeout, &ec);
}
inline auto EventLoop::write_message(Socket& socket, std::string_view payload, Timeout timeout, Prefix prefix) {
    return detail::FrameWriteOp(*this, socket, payload, false, {}, prefix, timeout, nullptr);
}

// ---- EventLoop: polite close ------------------------------------------------------------------

inline Task<CloseResult> EventLoop::graceful_close(Socket& socket, Timeout timeout, std::error_code& ec) {
    CloseResult result;
    ec.clear();
    if (!socket.is_open()) {
        ec = errc::not_open;
        co_return result;
    }
    cancel(socket);
    // As Socket::graceful_close: ENOTCONN from the shutdown means the connection is already
    // over (or never was); the drain tells which. One deadline covers the whole drain.
    std::error_code step;
    socket.shutdown(Shutdown::write, step);
    step.clear();
    bool timed = false;
    clock::time_point deadline = detail::deadline_of(timeout, timed);
    char sink[4096];
    while (!step) {
        Timeout left = timed ? Timeout(deadline - clock::now()) : Timeout::max();
        std::size_t n = co_await recv(socket, sink, sizeof sink, left, step);
        if (!step && n == 0) break;
        result.discarded += n;
    }
    result.ending = !step ? CloseResult::peer_closed
                    : step == std::errc::timed_out ? CloseResult::timed_out
                                                   : CloseResult::peer_gone;
    forget(socket);
    socket.close(ec);
    co_return result;
}
#if !defined(SOCKETS_NO_EXCEPTIONS)
inline Task<CloseResult> EventLoop::graceful_close(Socket& socket, Timeout timeout) {
    std::error_code ec;
    CloseResult result = co_await graceful_close(socket, timeout, ec);
    if (ec) detail::throw_error(ec, "graceful_close");
    co_return result;
}
#endif

// ---- EventLoop: connecting ---------------------------------------------------------------------

inline Task<Socket> EventLoop::connect(Address address, Timeout timeout, std::error_code& ec) {
    bool timed = false;
    clock::time_point deadline = detail::deadline_of(timeout, timed);
    auto left = [&] { return timed ? Timeout(deadline - clock::now()) : Timeout::max(); };
    int backoff_ms = 1;
    for (;;) {
        Socket s = Socket::open(address.family(), Type::stream, ec);
        if (!ec) s.set_nonblocking(true, ec);
        if (ec) co_return Socket();
        bool connected = s.start_connect(address, ec);
        if (ec == std::errc::interrupted) ec.clear();  // the kernel goes on connecting
        if (!ec && !connected) {
            invalidate(s.native_handle());
            co_await writable(s, left(), ec);
            if (!ec) s.finish_connect(ec);
        }
        if (!ec) {
            s.set_nonblocking(false, ec);  // handed over blocking, like connect_to's
            if (ec) co_return Socket();
            co_return s;
        }
        // A Unix-domain listener with a full backlog offers nothing to wait for: back off.
        if (address.family() != Family::unix_domain || ec != std::errc::resource_unavailable_try_again)
            co_return Socket();
        if (timed && clock::now() >= deadline) {
            ec = detail::timed_out();
            co_return Socket();
        }
        Timeout pause = std::chrono::milliseconds(backoff_ms);
        if (timed && left() < pause) pause = left();
        co_await sleep(pause);
        backoff_ms = backoff_ms < 64 ? backoff_ms * 2 : 64;
    }
}
inline Task<Socket> EventLoop::connect(Address address, std::error_code& ec) {
    return connect(std::move(address), Timeout::max(), ec);
}
#if !defined(SOCKETS_NO_EXCEPTIONS)
inline Task<Socket> EventLoop::connect(Address address, Timeout timeout) {
    std::error_code ec;
    Socket s = co_await connect(address, timeout, ec);
    if (ec) detail::throw_error(ec, detail::describe("connect", address));
    co_return s;
}
#endif

inline Task<std::vector<Address>> EventLoop::resolve(std::string host, int port, clock::time_point deadline, bool timed,
                                                      std::error_code& ec) {
    ec.clear();
    std::error_code not_ip;
    Address numeric = Address::from_ip(host, port, not_ip);
    if (!not_ip) co_return std::vector<Address>{numeric};
    if (timed && clock::now() >= deadline) {  // a lookup cannot be tried without waiting
        ec = detail::timed_out();
        co_return std::vector<Address>{};
    }
    auto job = std::make_shared<detail::RemoteJob>();
    job->loop = this;
    // The thread holds the job, not the loop: a task (or loop) gone before the lookup ends
    // leaves the thread writing into the job alone.
    std::thread([job, host = std::move(host), port] {
        std::error_code lookup_error;
        std::vector<Address> found;
#if !defined(SOCKETS_NO_EXCEPTIONS)
        try {
            found = sockets::resolve(host, port, lookup_error);
        } catch (const std::exception&) {
            lookup_error = std::make_error_code(std::errc::not_enough_memory);
        }
#else
        found = sockets::resolve(host, port, lookup_error);
#endif
        std::lock_guard<std::mutex> lock(job->mutex);
        job->addresses = std::move(found);
        job->ec = lookup_error;
        if (job->loop) job->loop->post_remote(job);
    }).detach();
    detail::RemoteOp wait(*this, job, deadline, timed);
    ec = co_await wait;
    if (ec) co_return std::vector<Address>{};
    co_return std::move(job->addresses);
}

inline Task<Socket> EventLoop::connect(std::string host, int port, Timeout timeout, ConnectOptions options,
                                       std::error_code& ec) {
    return connect_race(std::move(host), port, timeout, options, ec, nullptr);
}

inline Task<Socket> EventLoop::connect_race(std::string host, int port, Timeout timeout, ConnectOptions options,
                                            std::error_code& ec, detail::ConnectReport* report) {
    bool timed = false;
    clock::time_point deadline = detail::deadline_of(timeout, timed);
    std::vector<Address> candidates = co_await resolve(host, port, deadline, timed, ec);
    if (ec) co_return Socket();
    std::vector<Address> order = detail::interleave_families(candidates);
    if (order.empty()) {
        ec = std::make_error_code(std::errc::invalid_argument);
        co_return Socket();
    }
    auto left = [&] { return timed ? Timeout(deadline - clock::now()) : Timeout::max(); };
    if (order.size() == 1) {
        Socket s = co_await connect(order[0], left(), ec);
        if (report && ec) report->failed.push_back({order[0], ec});
        co_return s;
    }

    // The race (RFC 8305): each attempt is a task of its own; this one starts them, one
    // attempt delay apart (or at once when one fails), and waits for the first to connect.
    struct Race {
        Socket winner;
        std::size_t running = 0;
        detail::Waiter* waiter = nullptr;  // this task, while it waits
        std::vector<Socket*> sockets;      // the attempts still running
        std::vector<ConnectAttempt> failed;
        bool over = false;
    };
    auto race = std::make_shared<Race>();
    struct Wake : detail::Waiter {  // ends at the attempt delay, the deadline, or a result
        explicit Wake(EventLoop& l, clock::time_point at) : loop(&l) {
            deadline_ = at;
            timed_ = true;
        }
        bool await_ready() const noexcept { return false; }
        void await_suspend(std::coroutine_handle<> h) noexcept { loop->suspend_timer(*this, h); }
        void expire() noexcept override {}
        void await_resume() const noexcept {}
        EventLoop* loop;
    };
    auto attempt = [](EventLoop& loop, std::shared_ptr<Race> race, Address address, Timeout timeout) -> Task<void> {
        std::error_code ec;
        Socket s = Socket::open(address.family(), Type::stream, ec);
        if (!ec) s.set_nonblocking(true, ec);
        bool connected = !ec && s.start_connect(address, ec);
        if (ec == std::errc::interrupted) ec.clear();
        if (!ec && !connected && !race->over) {
            loop.invalidate(s.native_handle());
            race->sockets.push_back(&s);
            co_await loop.writable(s, timeout, ec);
            std::erase(race->sockets, &s);
            if (!ec) s.finish_connect(ec);
        }
        --race->running;
        if (!ec && !race->over && !race->winner) race->winner = std::move(s);
        else if (ec) race->failed.push_back({address, ec});
        if (race->waiter) loop.complete(*race->waiter);
    };
    std::size_t next = 0;
    ec.clear();
    for (;;) {
        std::size_t failures = race->failed.size();
        if (next < order.size() && !(timed && clock::now() >= deadline && next > 0)) {
            ++race->running;
            spawn(attempt(*this, race, order[next++], left()));
        }
        if (race->winner || (race->running == 0 && next == order.size())) break;
        if (timed && clock::now() >= deadline) break;
        clock::time_point wake_at = next < order.size() ? clock::now() + options.attempt_delay : clock::time_point::max();
        if (timed && deadline < wake_at) wake_at = deadline;
        Wake wake(*this, wake_at);
        race->waiter = &wake;
        co_await wake;
        race->waiter = nullptr;
        if (race->winner) break;
        if (race->failed.size() != failures && next < order.size()) continue;  // a failure: start the next at once
    }
    race->over = true;
    for (Socket* s : race->sockets) cancel(*s);  // the losers end (their tasks close them)
    if (race->winner) {
        race->winner.set_nonblocking(false, ec);
        if (ec) co_return Socket();
        co_return std::move(race->winner);
    }
    ec = race->running > 0 || (timed && clock::now() >= deadline) ? detail::timed_out() : race->failed.back().error;
    if (report) {
        report->failed = race->failed;
        report->untried = order.size() - next;
    }
    co_return Socket();
}
inline Task<Socket> EventLoop::connect(std::string host, int port, Timeout timeout, std::error_code& ec) {
    return connect(std::move(host), port, timeout, ConnectOptions(), ec);
}
#if !defined(SOCKETS_NO_EXCEPTIONS)
// The ConnectError connect_to throws: every attempt with its own error, the untried counted.
inline Task<Socket> EventLoop::connect(std::string host, int port, Timeout timeout, ConnectOptions options) {
    std::error_code ec;
    detail::ConnectReport report;
    Socket s = co_await connect_race(host, port, timeout, options, ec, &report);
    if (ec) {
        std::string what = detail::describe_attempts(detail::host_port_text(host, port), report.failed, report.untried);
        throw ConnectError(ec, what, std::move(report.failed));
    }
    co_return s;
}
#endif

// ---- EventLoop: TLS ------------------------------------------------------------------------------

template <detail::TlsLike Stream>
auto EventLoop::tls_wait(Stream& stream, Timeout timeout, std::error_code& ec, bool writing) noexcept {
    using Want = decltype(stream.wants());
    bool reading = stream.unsent() == 0 && stream.wants() != Want::write;
    // A read that would block with a writer's records still unsent (one task reading, another
    // writing, as on a Socket): a task waiting for writable sends them, so this one waits to
    // read. With no such task it waits to send them, and gives way to one that comes.
    bool only_to_send = !reading && !writing && stream.wants() != Want::write;
    if (only_to_send && waits_to_write(stream.socket())) reading = true;
    return detail::WaitOp(*this, stream.socket(), reading, timeout, &ec, only_to_send && !reading);
}

template <detail::TlsLike Stream>
Task<void> EventLoop::tls_handshake(Stream& stream, Timeout timeout, std::error_code& ec) {
    bool timed = false;
    clock::time_point deadline = detail::deadline_of(timeout, timed);
    auto left = [&] { return timed ? Timeout(deadline - clock::now()) : Timeout::max(); };
    while (!stream.try_handshake(ec)) {
        if (ec) co_return;
        co_await tls_wait(stream, left(), ec);
        if (ec) co_return;
    }
    // As the blocking handshake: its last flight is on its way before the stream is handed on.
    while (!stream.try_flush(ec)) {
        if (ec) co_return;
        co_await writable(stream.socket(), left(), ec);
        if (ec) co_return;
    }
}

template <class Context>
Task<detail::TlsStreamOf<Context>> EventLoop::tls_accept(Socket socket, const Context& context, Timeout timeout,
                                                         std::error_code& ec) {
    using Stream = detail::TlsStreamOf<Context>;
    Stream stream = Stream::server(std::move(socket), context, ec);
    if (!ec) co_await tls_handshake(stream, timeout, ec);
    co_return stream;
}

template <class Context>
Task<detail::TlsStreamOf<Context>> EventLoop::tls_connect(Socket socket, const Context& context, std::string host,
                                                          Timeout timeout, std::error_code& ec) {
    using Stream = detail::TlsStreamOf<Context>;
    Stream stream = Stream::client(std::move(socket), context, host, ec);
    if (!ec) co_await tls_handshake(stream, timeout, ec);
    co_return stream;
}

#if !defined(SOCKETS_NO_EXCEPTIONS)
template <class Context>
Task<detail::TlsStreamOf<Context>> EventLoop::tls_accept(Socket socket, const Context& context, Timeout timeout) {
    std::error_code ec;
    auto stream = co_await tls_accept(std::move(socket), context, timeout, ec);
    if (ec) {
        std::string detail = stream.verify_detail();
        detail::throw_error(ec, "tls handshake" + (detail.empty() ? std::string() : " (" + detail + ")"));
    }
    co_return stream;
}

template <class Context>
Task<detail::TlsStreamOf<Context>> EventLoop::tls_connect(Socket socket, const Context& context, std::string host,
                                                          Timeout timeout) {
    std::error_code ec;
    auto stream = co_await tls_connect(std::move(socket), context, host, timeout, ec);
    if (ec) {
        std::string what = "tls handshake";
        if (!host.empty()) what += " with " + host;
        std::string detail = stream.verify_detail();
        if (!detail.empty()) what += " (" + detail + ")";
        detail::throw_error(ec, what);
    }
    co_return stream;
}
#endif

template <detail::TlsLike Stream>
Task<std::size_t> EventLoop::recv(Stream& stream, void* buffer, std::size_t size, Timeout timeout,
                                  std::error_code& ec) {
    bool timed = false;
    clock::time_point deadline = detail::deadline_of(timeout, timed);
    auto left = [&] { return timed ? Timeout(deadline - clock::now()) : Timeout::max(); };
    for (;;) {
        std::optional<std::size_t> n = stream.try_recv(buffer, size, ec);
        if (ec) co_return n.value_or(0);
        if (n) co_return *n;
        co_await tls_wait(stream, left(), ec);
        if (ec) co_return 0;
    }
}

template <detail::TlsLike Stream>
Task<std::size_t> EventLoop::send_all(Stream& stream, const void* data, std::size_t size, Timeout timeout,
                                      std::error_code& ec) {
    bool timed = false;
    clock::time_point deadline = detail::deadline_of(timeout, timed);
    auto left = [&] { return timed ? Timeout(deadline - clock::now()) : Timeout::max(); };
    const char* bytes = static_cast<const char*>(data);
    std::size_t done = 0;
    for (;;) {
        while (done < size) {
            std::optional<std::size_t> n = stream.try_send(bytes + done, size - done, ec);
            if (ec) co_return done;
            if (!n) break;
            done += *n;
        }
        if (done == size && stream.try_flush(ec)) co_return done;
        if (ec) co_return done;
        co_await tls_wait(stream, left(), ec, true);
        if (ec) co_return done;
    }
}

template <detail::TlsLike Stream>
Task<std::size_t> EventLoop::recv_exact(Stream& stream, void* buffer, std::size_t size, Timeout timeout,
                                        std::error_code& ec) {
    bool timed = false;
    clock::time_point deadline = detail::deadline_of(timeout, timed);
    auto left = [&] { return timed ? Timeout(deadline - clock::now()) : Timeout::max(); };
    char* out = static_cast<char*>(buffer);
    std::size_t done = 0;
    ec.clear();
    while (done < size) {
        std::size_t n = co_await recv(stream, out + done, size - done, left(), ec);
        done += n;
        if (ec) co_return done;
        if (n == 0) {
            ec = errc::end_of_stream;
            co_return done;
        }
    }
    co_return done;
}

template <detail::TlsLike Stream>
Task<std::string_view> EventLoop::tls_read_frame(Stream& stream, MessageBuffer& buffer, bool line, Delimiter delimiter,
                                                 Prefix prefix, Timeout timeout, std::error_code& ec) {
    bool timed = false;
    clock::time_point deadline = detail::deadline_of(timeout, timed);
    auto left = [&] { return timed ? Timeout(deadline - clock::now()) : Timeout::max(); };
    for (;;) {
        std::optional<std::string_view> frame = line ? buffer.next_line(ec, delimiter) : buffer.next_message(ec, prefix);
        if (frame) co_return *frame;
        if (ec) co_return std::string_view();
        constexpr std::size_t chunk = 4096;
        std::optional<std::size_t> n = stream.try_recv(buffer.prepare(chunk), chunk, ec);
        if (ec) co_return std::string_view();
        if (!n) {
            co_await tls_wait(stream, left(), ec);
            if (ec) co_return std::string_view();
            continue;
        }
        if (*n == 0) {
            ec = errc::end_of_stream;
            co_return std::string_view();
        }
        buffer.commit(*n);
    }
}

template <detail::TlsLike Stream>
Task<std::string_view> EventLoop::read_line(Stream& stream, MessageBuffer& buffer, Timeout timeout, std::error_code& ec,
                                            Delimiter delimiter) {
    return tls_read_frame(stream, buffer, true, delimiter, Prefix::u32, timeout, ec);
}

template <detail::TlsLike Stream>
Task<std::string_view> EventLoop::read_message(Stream& stream, MessageBuffer& buffer, Timeout timeout,
                                               std::error_code& ec, Prefix prefix) {
    return tls_read_frame(stream, buffer, false, Delimiter::lf_or_crlf(), prefix, timeout, ec);
}

template <detail::TlsLike Stream>
Task<std::size_t> EventLoop::write_line(Stream& stream, std::string_view text, Timeout timeout, std::error_code& ec,
                                        std::string_view ending) {
    std::string frame;
    frame.reserve(text.size() + ending.size());
    frame.append(text).append(ending);
    co_return co_await send_all(stream, frame.data(), frame.size(), timeout, ec);
}

template <detail::TlsLike Stream>
Task<std::size_t> EventLoop::write_message(Stream& stream, std::string_view payload, Timeout timeout,
                                           std::error_code& ec, Prefix prefix) {
    ec.clear();
    unsigned char header[8];
    std::size_t width = detail::encode_prefix(header, prefix, payload.size(), ec);
    if (ec) co_return 0;
    std::string frame;
    frame.reserve(width + payload.size());
    frame.append(reinterpret_cast<const char*>(header), width).append(payload);
    co_return co_await send_all(stream, frame.data(), frame.size(), timeout, ec);
}

template <detail::TlsLike Stream>
Task<CloseResult> EventLoop::graceful_close(Stream& stream, Timeout timeout, std::error_code& ec) {
    bool timed = false;
    clock::time_point deadline = detail::deadline_of(timeout, timed);
    auto left = [&] { return timed ? Timeout(deadline - clock::now()) : Timeout::max(); };
    std::error_code tls_ec;
    while (!stream.try_shutdown(tls_ec)) {
        if (tls_ec) break;
        co_await tls_wait(stream, left(), tls_ec, true);
        if (tls_ec) break;
    }
    CloseResult result;
    if (stream.socket().is_open()) result = co_await graceful_close(stream.socket(), left(), ec);
    else ec = errc::not_open;
    if (tls_ec) ec = tls_ec;
    co_return result;
}

#if !defined(SOCKETS_NO_EXCEPTIONS)
template <detail::TlsLike Stream>
Task<std::size_t> EventLoop::recv(Stream& stream, void* buffer, std::size_t size, Timeout timeout) {
    std::error_code ec;
    std::size_t n = co_await recv(stream, buffer, size, timeout, ec);
    if (ec) throw_exception(TransferError(ec, detail::describe_transfer(stream, "tls recv"), n));
    co_return n;
}
template <detail::TlsLike Stream>
Task<std::size_t> EventLoop::send_all(Stream& stream, const void* data, std::size_t size, Timeout timeout) {
    std::error_code ec;
    std::size_t n = co_await send_all(stream, data, size, timeout, ec);
    if (ec) throw_exception(TransferError(ec, detail::describe_transfer(stream, "tls send_all"), n));
    co_return n;
}
template <detail::TlsLike Stream>
Task<std::size_t> EventLoop::recv_exact(Stream& stream, void* buffer, std::size_t size, Timeout timeout) {
    std::error_code ec;
    std::size_t n = co_await recv_exact(stream, buffer, size, timeout, ec);
    if (ec) throw_exception(TransferError(ec, detail::describe_transfer(stream, "tls recv_exact"), n));
    co_return n;
}
template <detail::TlsLike Stream>
Task<std::string_view> EventLoop::read_line(Stream& stream, MessageBuffer& buffer, Timeout timeout, Delimiter delimiter) {
    std::error_code ec;
    std::string_view line = co_await read_line(stream, buffer, timeout, ec, delimiter);
    if (ec) detail::throw_error(ec, detail::describe_transfer(stream, "tls read_line"));
    co_return line;
}
template <detail::TlsLike Stream>
Task<std::string_view> EventLoop::read_message(Stream& stream, MessageBuffer& buffer, Timeout timeout, Prefix prefix) {
    std::error_code ec;
    std::string_view message = co_await read_message(stream, buffer, timeout, ec, prefix);
    if (ec) detail::throw_error(ec, detail::describe_transfer(stream, "tls read_message"));
    co_return message;
}
template <detail::TlsLike Stream>
Task<std::size_t> EventLoop::write_line(Stream& stream, std::string_view text, Timeout timeout, std::string_view ending) {
    std::error_code ec;
    std::size_t n = co_await write_line(stream, text, timeout, ec, ending);
    if (ec) throw_exception(TransferError(ec, detail::describe_transfer(stream, "tls write_line"), n));
    co_return n;
}
template <detail::TlsLike Stream>
Task<std::size_t> EventLoop::write_message(Stream& stream, std::string_view payload, Timeout timeout, Prefix prefix) {
    std::error_code ec;
    std::size_t n = co_await write_message(stream, payload, timeout, ec, prefix);
    if (ec) throw_exception(TransferError(ec, detail::describe_transfer(stream, "tls write_message"), n));
    co_return n;
}
template <detail::TlsLike Stream>
Task<CloseResult> EventLoop::graceful_close(Stream& stream, Timeout timeout) {
    std::error_code ec;
    CloseResult result = co_await graceful_close(stream, timeout, ec);
    if (ec) detail::throw_error(ec, "tls graceful_close");
    co_return result;
}
#endif

/// @endcond

SOCKETS_MODE_NAMESPACE_END
}  // namespace sockets
