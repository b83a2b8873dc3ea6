// async_chat_server: chat_server's protocol and rules (see chat_server.cpp) on one thread, with
// a coroutine per client instead of chat_server's hand-written state machine (C++20,
// sockets/async.hpp). Each client's task reads its lines in order, as a blocking server would;
// what the others say is queued in its OutputBuffer and sent without blocking anyone, by a
// second task that lives only while something is queued.
//
// The same bounds as chat_server: a line (4 KiB), the bytes queued for a client (256 KiB: a
// reader further behind is dropped), the time to send a name (--timeout), to stay silent
// (--idle), for a stuck queue to move (--timeout), to stay at all (--lifetime, no limit by
// default). A client that shuts down its side still gets what was queued for it. Dropping a
// client closes its socket, which wakes both of its tasks (the loop sees the close), so they
// end at once. SIGINT/SIGTERM stop the loop; destroying it closes every connection.
//
//   async_chat_server [ADDRESS] [--clients N] [--timeout S] [--idle S] [--lifetime S]
//     --clients N: exit once N clients have left.
#include <sockets/async.hpp>

#include <map>
#include <memory>

#include "common.hpp"

using namespace sockets;
using example::Clock;

namespace {

constexpr std::size_t max_line = 4096;
constexpr std::size_t max_backlog = 256 * 1024;

// Client text goes to our log: never let it carry terminal escape sequences there.
std::string printable(std::string_view text) {
    std::string out(text);
    for (char& c : out)
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
    return out;
}

struct Member {
    explicit Member(Socket s) : socket(std::move(s)) {}
    Socket socket;
    std::string name;       // empty until the first line
    OutputBuffer out;       // what the others said, not yet taken by the kernel
    bool draining = false;  // a drain task is sending out
    bool finished = false;  // it shut down its side: send what is queued, then close
    bool gone = false;
};

class Room {
public:
    Room(EventLoop& loop, example::Options options) : loop_(loop), options_(options) {}

    Task<void> accept_clients(Socket& listener) {
        for (;;) {
            std::error_code ec;
            Socket client = co_await loop_.accept(listener, Timeout::max(), ec);
            if (ec) {  // out of descriptors, for instance: back off instead of spinning
                trouble_.failed(ec);
                co_await loop_.sleep(example::accept_back_off);
                continue;
            }
            trouble_.succeeded();
            loop_.spawn(serve(std::make_shared<Member>(std::move(client))));
        }
    }

private:
    // The client's own task: its lines, in order, each under the time the protocol allows.
    Task<void> serve(std::shared_ptr<Member> m) {
        const std::uint64_t id = next_id_++;  // never reused
        members_.emplace(id, m);
        queue(m, "welcome: " + std::to_string(members_.size()) + " online, idle limit " +
                     std::to_string(options_.idle.count()) + " s\n");
        MessageBuffer buffer(max_line);
        const auto end_of_life = Clock::now() + options_.lifetime;
        std::error_code ec;
        while (!m->gone) {
            auto limit = m->name.empty() ? options_.timeout : options_.idle;
            auto left = std::min<Clock::duration>(limit, end_of_life - Clock::now());
            std::string_view line = co_await loop_.read_line(m->socket, buffer, left, ec);
            if (ec) break;
            if (m->name.empty())
                m->name = line.empty() ? "(nameless)" : std::string(line);
            else if (!line.empty())  // empty: a keep-alive, not news
                broadcast(id, m->name + ": " + std::string(line) + "\n");
        }
        if (m->gone) co_return;  // dropped by another task (too far behind, or stuck)
        if (ec == errc::end_of_stream && !m->out.empty()) {
            m->finished = true;  // its drain task closes once the queue is out
            members_.erase(id);
            co_return;
        }
        const char* why = ec == errc::end_of_stream        ? nullptr
                          : ec == errc::message_too_large  ? "overlong line"
                          : Clock::now() >= end_of_life    ? "lifetime over"
                          : ec == std::errc::timed_out     ? "timed out"
                                                           : nullptr;
        std::string reason = why ? why : ec && ec != errc::end_of_stream ? ec.message() : "";
        drop(id, *m, reason.empty() ? nullptr : reason.c_str());
    }

    // Sends what the kernel takes now; the rest goes out from a drain task.
    void queue(const std::shared_ptr<Member>& m, std::string_view line) {
        m->out.append(line);
        if (m->out.pending() > max_backlog) return drop_member(*m, "does not read its replies");
        if (m->draining) return;
        std::error_code ec;
        if (m->out.try_flush(m->socket, ec)) return;
        if (ec) return drop_member(*m, ec.message().c_str());
        m->draining = true;
        loop_.spawn(drain(m));
    }

    Task<void> drain(std::shared_ptr<Member> m) {
        std::error_code ec;
        while (!m->gone && !m->out.empty()) {
            co_await loop_.writable(m->socket, options_.timeout, ec);
            if (!ec) m->out.try_flush(m->socket, ec);
            if (ec) {
                if (!m->gone) drop_member(*m, ec == std::errc::timed_out ? "timed out" : ec.message().c_str());
                co_return;
            }
        }
        m->draining = false;
        if (m->finished && !m->gone) drop_member(*m, nullptr);
    }

    void broadcast(std::uint64_t from, const std::string& line) {
        example::log("async_chat_server: %s", printable(std::string_view(line).substr(0, line.size() - 1)).c_str());
        std::vector<std::shared_ptr<Member>> to;
        to.reserve(members_.size());
        for (auto& [id, other] : members_)
            if (id != from && !other->finished) to.push_back(other);
        for (auto& other : to) queue(other, line);
    }

    void drop(std::uint64_t id, Member& m, const char* why) {
        members_.erase(id);
        drop_member(m, why);
    }

    // Closing the socket wakes whichever of its tasks is waiting on it (operation_canceled).
    void drop_member(Member& m, const char* why) {
        if (m.gone) return;
        m.gone = true;
        for (auto it = members_.begin(); it != members_.end(); ++it)
            if (it->second.get() == &m) {
                members_.erase(it);
                break;
            }
        std::string name = printable(m.name);
        example::log("async_chat_server: %s left%s%s", name.empty() ? "(unnamed)" : name.c_str(), why ? ": " : "",
                     why ? why : "");
        std::error_code ignored;
        m.socket.close(ignored);
        if (options_.clients >= 0 && ++left_ >= options_.clients) loop_.stop();
    }

    EventLoop& loop_;
    example::Options options_;
    std::map<std::uint64_t, std::shared_ptr<Member>> members_;
    std::uint64_t next_id_ = 1;
    long left_ = 0;
    example::AcceptTrouble trouble_{"async_chat_server"};
};

}  // namespace

int main(int argc, char* argv[]) {
    example::Options defaults;
    defaults.lifetime = example::forever;  // a member who listens may stay as long as it likes
    auto options = example::parse_options(
        argc, argv,
        "usage: async_chat_server [ADDRESS] [options]\n"
        "  chat_server on one thread with a coroutine per client: relays each line a client sends\n"
        "  to all the others; a client's first line is its name; an empty line is a keep-alive\n"
        "  (--clients N: exit after N clients have left)",
        defaults);
    try {
        Socket listener = listen_on(Address::parse(options.where));
        example::log("listening on %s", listener.local_address().to_string().c_str());
        EventLoop loop;
        example::StopOnSignals<EventLoop> stop_on_signals(loop);
        Room room(loop, options);
        loop.spawn(room.accept_clients(listener));
        loop.run();
    } catch (const std::exception& e) {
        std::fprintf(stderr, "async_chat_server: %s\n", e.what());
        return 1;
    }
}
