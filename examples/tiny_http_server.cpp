// tiny_http_server: a small HTTP/1.1 server on one thread and one Poller. Every request for
// any path gets a short HTML page naming what was asked. Enough to try http_get, curl, a
// browser or Python's urllib without a network, and an example of a server that meets real
// clients:
//
//   - HTTP/1.1 as clients expect it: GET and HEAD (HEAD: the same headers as GET, never a
//     body, errors included), lines ending in CRLF or a bare LF,
//     keep-alive (HTTP/1.1 by default, HTTP/1.0 on request) and pipelined requests, an exact
//     Content-Length on every reply, "Connection: close" whenever we are going to close;
//   - 400 for a malformed request, 414 for a request line over 8 KiB, 431 for headers over
//     16 KiB, 408 for a request not complete within --timeout, 405 for other methods;
//   - many clients at once: nothing waits on one client, so a slow one stalls nobody;
//   - bounded per connection: at most one request buffered and one reply queued (the next
//     request is read only once the reply has gone out), an idle limit between requests
//     (--idle) and a lifetime (--lifetime);
//   - after the last reply, a graceful close (shut down, drain for a second, close), so the
//     reply is not destroyed by a reset if the client sent more than we read;
//   - one connection's error ends that connection, logged in one line (a malformed or
//     refused request included: its status and the client); accept failing for
//     lack of descriptors pauses accepting for a moment; SIGINT/SIGTERM stop the server.
//
//   tiny_http_server [ADDRESS] [--clients N] [--timeout S] [--idle S] [--lifetime S]
//     --clients N: exit after N connections have ended.
#include "common.hpp"
#include "http_reply.hpp"

#include <map>
#include <memory>
#include <optional>

using namespace sockets;
using example::Clock;

constexpr std::size_t chunk = 4096;
constexpr std::uint64_t listener_token = 0;
using example::http::max_head;

// ---- HTTP: text in, text out, no I/O (the parsing is http_reply.hpp's) ---------------------

struct Reply {
    std::string bytes;  // status line, headers and (unless HEAD) the body
    bool close;         // close the connection once it has gone out
    int status;
};

static Reply make_reply(int status, const char* reason, std::string body, bool head_only, bool close,
                        const char* extra_headers = "") {
    std::string bytes = example::http::reply_head(status, reason, "tiny_http_server", "text/html; charset=utf-8",
                                                  body.size(), close, extra_headers);
    if (!head_only) bytes += body;
    return Reply{std::move(bytes), close, status};
}

// Errors always close: after a bad request we cannot know where the next one would start.
static Reply error_reply(int status, const char* reason, bool head_only) {
    return make_reply(status, reason, example::http::status_page(status, reason), head_only, true);
}

// One whole request head (request line and headers, without the empty line after them).
// may_keep_alive is false when the server wants this connection to end (lifetime, stopping).
static Reply respond(std::string_view head, bool may_keep_alive) {
    auto request = example::http::parse_request(head);
    if (request.status == 405)
        return make_reply(405, request.reason, example::http::status_page(405, request.reason), false, true,
                          "Allow: GET, HEAD\r\n");
    if (request.status) return error_reply(request.status, request.reason, request.head_only);
    // We never read request bodies: after one, the stream is not at a request boundary.
    bool close = !request.keep_alive || request.has_body || !may_keep_alive;
    // The page names the target, not the method: HEAD's headers must equal GET's.
    std::string body = "<h1>Hello from sockets</h1>\n<p>You asked for: " + example::http::html_escape(request.target) + "</p>\n";
    return make_reply(200, "OK", std::move(body), request.head_only, close);
}

// ---- connections -----------------------------------------------------------------------------

struct Connection {
    explicit Connection(Socket s, Address a) : socket(std::move(s)), who(std::move(a)) {}
    enum class State { reading, writing, draining };

    Socket socket;
    Address who;
    State state = State::reading;
    MessageBuffer in{max_head};     // bytes of the request being read (bounded by max_head)
    std::string out;                // the reply being written
    bool close_after_reply = false;
    long replies = 0;               // before the first, silence is bounded by --timeout, after by --idle
    Clock::time_point born = Clock::now();
    Clock::time_point since = Clock::now();  // start of the current wait (request, write, drain)
};

class HttpServer {
public:
    HttpServer(Socket listener, const example::Options& options) : listener_(std::move(listener)), options_(options) {
        listener_.set_nonblocking(true);
        poller_.add(listener_, Events::readable, listener_token);
    }

    void run() {
        while (!example::stop_requested() && (options_.clients < 0 || ended_ < options_.clients)) {
            resume_accepting_if_due();
            for (const Ready& r : poller_.wait(example::poll_interval)) {
                if (r.token == listener_token)
                    accept_all();
                else
                    serve(r);
            }
            end_expired();
        }
    }

private:
    void accept_all() {
        for (;;) {
            std::error_code ec;
            Address who;
            auto s = listener_.try_accept(&who, ec);
            if (ec) return pause_accepting(ec);
            if (!s) return;
            trouble_.succeeded();
            std::uint64_t token = next_token_++;
            s->set_nonblocking(true, ec);
            if (!ec) poller_.add(*s, Events::readable, token, ec);
            if (ec) continue;  // e.g. beyond what the backend can watch: let this one go
            connections_.emplace(token, std::make_unique<Connection>(std::move(*s), who));
        }
    }

    // Out of descriptors (or kernel memory): the pending client stays queued and the listener
    // stays readable, so stop watching it for a moment instead of spinning on it.
    void pause_accepting(const std::error_code& ec) {
        trouble_.failed(ec);
        std::error_code ignored;
        poller_.remove(listener_, ignored);
        resume_accepting_at_ = Clock::now() + example::accept_back_off;
    }
    void resume_accepting_if_due() {
        if (!resume_accepting_at_ || Clock::now() < *resume_accepting_at_) return;
        std::error_code ec;
        poller_.add(listener_, Events::readable, listener_token, ec);
        if (ec) return pause_accepting(ec);
        resume_accepting_at_.reset();
    }

    void serve(const Ready& r) {
        auto it = connections_.find(r.token);
        if (it == connections_.end()) return;  // ended earlier in this batch: a stale event
        Connection& c = *it->second;
        std::error_code ec;
        bool alive = true;
        if (c.state == Connection::State::reading) alive = read_request(c, ec);
        else if (c.state == Connection::State::writing) alive = write_reply(c, ec);
        else alive = drain(c);
        if (!alive) end(r.token, ec);
        else watch(r.token, c);
    }

    // One recv, then every whole request in the buffer (pipelining) as long as each reply
    // goes out at once. False: the connection is over (ec says why, if it is an error).
    bool read_request(Connection& c, std::error_code& ec) {
        auto n = c.socket.try_recv(c.in.prepare(chunk), chunk, ec);
        if (ec) return false;
        if (!n) return true;
        if (*n == 0) {  // the client closed: fine between requests, not in the middle of one
            if (c.in.size() > 0) ec = errc::end_of_stream;
            return false;
        }
        if (c.in.size() == 0) c.since = Clock::now();  // the request starts with its first byte
        c.in.commit(*n);
        return handle_buffered(c, ec);
    }

    bool handle_buffered(Connection& c, std::error_code& ec) {
        while (c.state == Connection::State::reading) {
            c.in.consume(example::http::leading_empty_lines(c.in.buffered()));  // allowed before a request
            std::string_view buffered = c.in.buffered();
            auto end = example::http::find_head_end(buffered);
            if (end.refused()) return refuse(c, error_reply(end.status, end.reason, example::http::is_head(buffered)), ec);
            if (!end.complete()) return true;  // wait for the rest
            bool may_keep_alive = Clock::now() - c.born < options_.lifetime;
            Reply reply = respond(buffered.substr(0, end.head), may_keep_alive);
            c.in.consume(end.total);
            if (reply.status >= 400) return refuse(c, std::move(reply), ec);
            if (!queue(c, std::move(reply), ec)) return false;
        }
        return true;
    }

    // An error reply ends the connection: one log line says who and why.
    bool refuse(Connection& c, Reply reply, std::error_code& ec) {
        auto line_end = reply.bytes.find("\r\n");
        example::log("tiny_http_server: %s: %s", c.who.to_string().c_str(), reply.bytes.substr(9, line_end - 9).c_str());
        return queue(c, std::move(reply), ec);
    }

    bool queue(Connection& c, Reply reply, std::error_code& ec) {
        c.out = std::move(reply.bytes);
        c.close_after_reply = reply.close;
        ++c.replies;
        c.state = Connection::State::writing;
        c.since = Clock::now();
        return write_reply(c, ec);
    }

    // Sends what the kernel takes now. Once the reply is out: the next request, or a graceful
    // close (stop sending, then read and discard until the client closes too).
    bool write_reply(Connection& c, std::error_code& ec) {
        while (!c.out.empty()) {
            auto n = c.socket.try_send(c.out.data(), c.out.size(), ec);
            if (ec) return false;
            if (!n) return true;  // the kernel's buffer is full: wait until writable
            c.out.erase(0, *n);
            c.since = Clock::now();
        }
        if (c.close_after_reply) {
            c.socket.shutdown(Shutdown::write, ec);
            c.state = Connection::State::draining;
            c.since = Clock::now();
            return !ec;
        }
        c.state = Connection::State::reading;
        c.since = Clock::now();
        return handle_buffered(c, ec);  // a pipelined request may be waiting already
    }

    // Draining after the last reply: false once the client has closed (or failed).
    bool drain(Connection& c) {
        char sink[chunk];
        std::error_code ec;
        for (;;) {
            auto n = c.socket.try_recv(sink, sizeof sink, ec);
            if (ec || (n && *n == 0)) return false;
            if (!n) return true;
        }
    }

    // Readable while reading or draining, writable while a reply waits for room.
    void watch(std::uint64_t token, Connection& c) {
        std::error_code ec;
        Events want = c.state == Connection::State::writing ? Events::writable : Events::readable;
        poller_.modify(c.socket, want, token, ec);
        if (ec) end(token, ec);
    }

    // At most once a second: requests not complete within --timeout (408), clients silent
    // between requests for --idle, replies stuck for --timeout, drains over a second,
    // connections past their lifetime.
    void end_expired() {
        auto now = Clock::now();
        if (now < next_sweep_) return;
        next_sweep_ = now + std::chrono::seconds(1);
        std::vector<std::uint64_t> too_slow, expired;  // acted on after the loop: both erase
        for (auto& [token, c] : connections_) {
            auto waited = now - c->since;
            bool reading = c->state == Connection::State::reading;
            auto silence = c->replies == 0 ? options_.timeout : options_.idle;
            if (reading && c->in.size() > 0 && waited > options_.timeout)
                too_slow.push_back(token);
            else if ((reading && waited > silence) ||
                     (c->state == Connection::State::writing && waited > options_.timeout) ||
                     (c->state == Connection::State::draining && waited > example::linger) ||
                     now - c->born > options_.lifetime + options_.timeout)
                expired.push_back(token);
        }
        for (auto token : too_slow) {
            auto it = connections_.find(token);
            if (it == connections_.end()) continue;
            Connection& c = *it->second;
            example::log("tiny_http_server: %s: request not complete in time: 408", c.who.to_string().c_str());
            std::error_code ec;
            if (queue(c, error_reply(408, "Request Timeout", example::http::is_head(c.in.buffered())), ec))
                watch(token, c);
            else
                end(token, ec);
        }
        for (auto token : expired) end(token, std::make_error_code(std::errc::timed_out));
    }

    void end(std::uint64_t token, const std::error_code& ec) {
        auto it = connections_.find(token);
        if (it == connections_.end()) return;
        Connection& c = *it->second;
        std::error_code ignored;
        poller_.remove(c.socket, ignored);
        bool quiet = !ec || (ec == std::errc::timed_out && c.state != Connection::State::writing);
        if (!quiet) example::log("tiny_http_server: %s: %s", c.who.to_string().c_str(), ec.message().c_str());
        connections_.erase(it);  // closes the socket
        ++ended_;
    }

    Socket listener_;
    example::Options options_;
    Poller poller_;
    std::map<std::uint64_t, std::unique_ptr<Connection>> connections_;
    std::uint64_t next_token_ = 1;  // never reused: a stale event cannot reach a newer connection
    long ended_ = 0;
    example::AcceptTrouble trouble_{"tiny_http_server"};
    std::optional<Clock::time_point> resume_accepting_at_;
    Clock::time_point next_sweep_ = Clock::now();
};

int main(int argc, char* argv[]) {
    auto options = example::parse_options(argc, argv, "usage: tiny_http_server [ADDRESS] [options]\n"
                                                      "  answers GET and HEAD for any path with a short page\n"
                                                      "  (--clients N: exit after N connections have ended)");
    example::stop_on_signals();
    try {
        Socket listener = listen_on(Address::parse(options.where));
        example::log("listening on %s", listener.local_address().to_string().c_str());
        HttpServer(std::move(listener), options).run();
    } catch (const std::exception& e) {  // the listener or the Poller itself failed
        std::fprintf(stderr, "tiny_http_server: %s\n", e.what());
        return 1;
    }
}
