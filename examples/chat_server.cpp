// chat_server: one thread, one Poller, many clients. Each line a client sends goes to every
// other client. Writes are non-blocking with a per-client outgoing buffer, so a slow reader
// never stalls the others.
//
// The protocol, in lines: a client's first line is its name; the server answers
// "welcome: N online, idle limit S s"; from then on every line the client sends goes to all
// the others as "NAME: LINE", except an empty line: that is a keep-alive, relayed to nobody.
// A client that sends nothing for S seconds (--idle) is dropped, so one that only listens
// sends an empty line when it has been silent for a while (chat_client: after S/2 seconds).
// That way a member who listens stays as long as it likes (no --lifetime unless asked for),
// while a peer that is gone (it sends nothing) or stuck (it reads nothing) is still dropped.
//
// What keeps it alive among clients it did not write:
//   - a client is known by a token that is never reused; every event and every write first
//     looks the token up, because a client can be dropped while events for it are still
//     waiting in the same batch (its token then maps to nothing: the event is skipped);
//   - everything per client is bounded: a line (4 KiB), the bytes queued for it (256 KiB;
//     a reader that falls further behind is dropped), the time to send its name (--timeout),
//     the time it may stay silent (--idle), the time its queue may stay stuck (--timeout),
//     the time it may stay at all (--lifetime, no limit by default: listeners stay);
//   - a client that shuts down its side still gets what was queued for it, then we close;
//   - a client that leaves, for whatever reason, is one log line;
//   - accept failing for lack of descriptors pauses accepting for a moment, no busy loop;
//   - SIGINT/SIGTERM end the loop; destructors close every socket.
//
//   chat_server [ADDRESS] [--clients N] [--timeout S] [--idle S] [--lifetime S]
//     --clients N: exit once N clients have left.
#include "common.hpp"

#include <map>
#include <memory>

using namespace sockets;
using example::Clock;

constexpr std::size_t max_line = 4096;
constexpr std::size_t max_backlog = 256 * 1024;
constexpr std::uint64_t listener_token = 0;

// Client text goes to our log: never let it carry terminal escape sequences there.
static std::string printable(std::string_view text) {
    std::string out(text);
    for (char& c : out)
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
    return out;
}

struct Client {
    explicit Client(Socket s) : socket(std::move(s)), reader(socket, max_line, 4096) {}
    Socket socket;
    StreamReader reader;                      // framing: lines
    std::string name;                         // empty until the first line
    std::string outgoing;                     // bytes the kernel has not taken yet
    bool watching_writable = false;           // registered for Events::writable
    bool finished = false;                    // it shut down its side: send what is queued, then close
    Clock::time_point joined = Clock::now();
    Clock::time_point last_heard = Clock::now();
    Clock::time_point last_sent = Clock::now();  // last progress writing to it
};

class ChatServer {
public:
    ChatServer(Socket listener, const example::Options& options)
        : listener_(std::move(listener)), options_(options) {
        listener_.set_nonblocking(true);
        poller_.add(listener_, Events::readable, listener_token);
    }

    void run() {
        while (!example::stop_requested() && (options_.clients < 0 || left_ < options_.clients)) {
            resume_accepting_if_due();
            for (const Ready& r : poller_.wait(example::poll_interval)) {
                if (r.token == listener_token)
                    accept_all();
                else
                    serve(r);
            }
            drop_expired();
        }
    }

private:
    void accept_all() {
        for (;;) {
            std::error_code ec;
            auto s = listener_.try_accept(nullptr, ec);
            if (ec) return pause_accepting(ec);
            if (!s) break;
            trouble_.succeeded();
            std::uint64_t token = next_token_++;
            s->set_nonblocking(true, ec);
            if (!ec) poller_.add(*s, Events::readable, token, ec);
            if (ec) continue;  // e.g. beyond what the backend can watch: let this one go
            auto c = std::make_unique<Client>(std::move(*s));
            c->outgoing = "welcome: " + std::to_string(clients_.size() + 1) + " online, idle limit " +
                          std::to_string(options_.idle.count()) + " s\n";
            Client& added = *clients_.emplace(token, std::move(c)).first->second;
            if (!flush(token, added, ec)) drop(token, ec ? ec.message().c_str() : nullptr);
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

    Client* find(std::uint64_t token) {
        auto it = clients_.find(token);
        return it == clients_.end() ? nullptr : it->second.get();
    }

    void serve(const Ready& r) {
        Client* c = find(r.token);
        if (!c) return;  // dropped earlier in this batch: a stale event
        std::error_code ec;
        bool ok = true;
        if (!c->finished && r.has(Events::readable | Events::hang_up | Events::error)) ok = read_lines(r.token, *c, ec);
        if (ok) ok = flush(r.token, *c, ec);
        if (!ok) drop(r.token, ec ? ec.message().c_str() : nullptr);
    }

    // One recv (level-triggered: if more is waiting, the Poller says so again), then every
    // whole line in the buffer. False when the client is gone or broke the rules (ec says
    // which rule, or the socket's error).
    bool read_lines(std::uint64_t token, Client& c, std::error_code& ec) {
        std::error_code read_error;
        FillResult fill = c.reader.fill(read_error);
        if (fill == FillResult::data) c.last_heard = Clock::now();
        while (auto line = c.reader.try_line(ec)) {
            if (c.name.empty())
                c.name = line->empty() ? "(nameless)" : std::string(*line);
            else if (!line->empty())  // empty: a keep-alive (it counted as heard above), not news
                broadcast(token, c.name + ": " + std::string(*line) + "\n");
        }
        if (!ec) ec = read_error;
        if (ec) return false;
        // End of stream with output pending: the client may be waiting for it (a half-close),
        // so stop reading and keep writing; flush() ends the connection once it is out.
        if (fill == FillResult::end_of_stream) c.finished = true;
        return true;
    }

    void broadcast(std::uint64_t from, const std::string& line) {
        example::log("chat_server: %s", printable(std::string_view(line).substr(0, line.size() - 1)).c_str());
        std::vector<std::pair<std::uint64_t, std::error_code>> failed;
        for (auto& [token, other] : clients_) {
            if (token == from || other->finished) continue;  // finished: it gets what was queued, no more
            other->outgoing += line;
            std::error_code ec;
            if (!flush(token, *other, ec)) failed.emplace_back(token, ec);
        }
        for (auto& [token, ec] : failed) drop(token, ec ? ec.message().c_str() : nullptr);  // after the loop: dropping erases
    }

    // Sends what the kernel takes now; watches for writability only while something is left.
    // False when the client must go: an error (in ec), too far behind, or finished and all
    // sent.
    bool flush(std::uint64_t token, Client& c, std::error_code& ec) {
        while (!c.outgoing.empty()) {
            auto n = c.socket.try_send(c.outgoing.data(), c.outgoing.size(), ec);
            if (ec) return false;
            if (!n) break;
            c.outgoing.erase(0, *n);
            c.last_sent = Clock::now();
        }
        if (c.outgoing.size() > max_backlog) return false;
        if (c.finished && c.outgoing.empty()) return false;
        bool want_writable = !c.outgoing.empty();
        if (want_writable != c.watching_writable || c.finished) {
            // A finished client is at end of stream: watching it for readable would spin.
            Events want = c.finished ? Events::writable : want_writable ? Events::readable | Events::writable : Events::readable;
            poller_.modify(c.socket, want, token, ec);
            if (ec) return false;
            c.watching_writable = want_writable;
        }
        return true;
    }

    // At most once a second: clients that never named themselves, went silent, stopped
    // reading what we send them, or outlived --lifetime.
    void drop_expired() {
        auto now = Clock::now();
        if (now < next_sweep_) return;
        next_sweep_ = now + std::chrono::seconds(1);
        std::vector<std::pair<std::uint64_t, const char*>> expired;
        for (auto& [token, c] : clients_) {
            bool nameless = c->name.empty() && now - c->joined > options_.timeout;
            bool silent = now - c->last_heard > options_.idle;
            bool stuck = !c->outgoing.empty() && now - c->last_sent > options_.timeout;
            bool too_old = now - c->joined > options_.lifetime;
            if (too_old) expired.emplace_back(token, "lifetime over");
            else if (nameless || silent || stuck) expired.emplace_back(token, "timed out");
        }
        for (auto& [token, why] : expired) drop(token, why);
    }

    void drop(std::uint64_t token, const char* why = nullptr) {
        auto it = clients_.find(token);
        if (it == clients_.end()) return;
        std::error_code ignored;
        poller_.remove(it->second->socket, ignored);
        std::string name = printable(it->second->name);
        example::log("chat_server: %s left%s%s", name.empty() ? "(unnamed)" : name.c_str(), why ? ": " : "", why ? why : "");
        clients_.erase(it);  // closes the socket
        ++left_;
    }

    Socket listener_;
    example::Options options_;
    Poller poller_;
    std::map<std::uint64_t, std::unique_ptr<Client>> clients_;
    std::uint64_t next_token_ = 1;  // never reused: a stale event cannot reach a newer client
    long left_ = 0;
    example::AcceptTrouble trouble_{"chat_server"};
    std::optional<Clock::time_point> resume_accepting_at_;
    Clock::time_point next_sweep_ = Clock::now();
};

int main(int argc, char* argv[]) {
    example::Options defaults;
    defaults.lifetime = example::forever;  // a member who listens may stay as long as it likes
    auto options = example::parse_options(
        argc, argv,
        "usage: chat_server [ADDRESS] [options]\n"
        "  relays each line a client sends to all the others; a client's first line is its name;\n"
        "  an empty line is a keep-alive, relayed to nobody: a client that sends nothing for --idle\n"
        "  seconds is dropped (the welcome line says how long; chat_client keeps itself in)\n"
        "  (--clients N: exit after N clients have left)",
        defaults);
    example::stop_on_signals();
    try {
        Socket listener = listen_on(Address::parse(options.where));
        example::log("listening on %s", listener.local_address().to_string().c_str());
        ChatServer(std::move(listener), options).run();
    } catch (const std::exception& e) {  // the listener or the Poller itself failed
        std::fprintf(stderr, "chat_server: %s\n", e.what());
        return 1;
    }
}
