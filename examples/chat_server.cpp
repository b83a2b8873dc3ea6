// chat_server: one thread, one Poller, many clients. Each line a client sends goes to every
// other client. Writes are non-blocking with a per-client outgoing buffer, so a slow reader
// never stalls the others (one that falls 1 MiB behind is disconnected).
//
//   chat_server [ADDRESS] [--clients N]
//     The first line a client sends is its name. --clients N: exit once N clients have left.
#include <sockets/sockets.hpp>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <string>

using namespace sockets;

struct Client {
    explicit Client(Socket s) : socket(std::move(s)), reader(socket, 4096) {}
    Socket socket;
    StreamReader reader;    // framing: lines
    std::string name;       // empty until the first line
    std::string outgoing;   // bytes not yet taken by the kernel
};

constexpr std::uint64_t listener_token = 0;
constexpr std::size_t max_backlog = 1 << 20;

class ChatServer {
public:
    explicit ChatServer(Socket listener) : listener_(std::move(listener)) {
        listener_.set_nonblocking(true);
        poller_.add(listener_, Events::readable, listener_token);
    }

    void run(long stop_after) {
        while (stop_after < 0 || left_ < stop_after) {
            for (const Ready& r : poller_.wait()) {
                if (r.token == listener_token)
                    accept_all();
                else
                    serve(r);
            }
        }
    }

private:
    void accept_all() {
        while (auto s = listener_.try_accept()) {
            s->set_nonblocking(true);
            std::uint64_t token = next_token_++;
            poller_.add(*s, Events::readable, token);
            auto c = std::make_unique<Client>(std::move(*s));
            queue(*c, "welcome: " + std::to_string(clients_.size() + 1) + " online\n");
            clients_.emplace(token, std::move(c));
            flush(token);
        }
    }

    void serve(const Ready& r) {
        Client& c = *clients_.at(r.token);
        bool gone = false;
        if (r.has(Events::readable | Events::hang_up | Events::error)) {
            std::error_code ec;
            FillResult fill;
            while ((fill = c.reader.fill(ec)) == FillResult::data) {
            }
            while (auto line = c.reader.try_line(ec)) {
                if (c.name.empty())
                    c.name = std::string(*line);
                else
                    broadcast(r.token, c.name + ": " + std::string(*line) + "\n");
            }
            gone = ec || fill == FillResult::end_of_stream;
        }
        if (!gone) gone = !flush(r.token);
        if (gone) drop(r.token);
    }

    void broadcast(std::uint64_t from, const std::string& line) {
        std::printf("chat_server: %s", line.c_str());
        for (auto& [token, other] : clients_)
            if (token != from) queue(*other, line);
        for (auto it = clients_.begin(); it != clients_.end();) {
            auto token = (it++)->first;  // flush may drop this client
            if (token != from && !flush(token)) drop(token);
        }
    }

    static void queue(Client& c, const std::string& text) { c.outgoing += text; }

    // Sends what the kernel takes now; waits for writability only while something is left.
    bool flush(std::uint64_t token) {
        Client& c = *clients_.at(token);
        std::error_code ec;
        while (!c.outgoing.empty()) {
            auto n = c.socket.try_send(c.outgoing.data(), c.outgoing.size(), ec);
            if (ec) return false;
            if (!n) break;
            c.outgoing.erase(0, *n);
        }
        if (c.outgoing.size() > max_backlog) return false;  // too slow: let it go
        poller_.modify(c.socket, c.outgoing.empty() ? Events::readable : Events::readable | Events::writable, token);
        return true;
    }

    void drop(std::uint64_t token) {
        auto it = clients_.find(token);
        if (it == clients_.end()) return;
        poller_.remove(it->second->socket);
        std::printf("chat_server: %s left\n", it->second->name.empty() ? "(unnamed)" : it->second->name.c_str());
        std::fflush(stdout);
        clients_.erase(it);
        ++left_;
    }

    Socket listener_;
    Poller poller_;
    std::map<std::uint64_t, std::unique_ptr<Client>> clients_;
    std::uint64_t next_token_ = 1;
    long left_ = 0;
};

int main(int argc, char* argv[]) {
    std::string where = "127.0.0.1:0";
    long stop_after = -1;
    for (int i = 1; i < argc; ++i) {
        if (!std::strcmp(argv[i], "--help") || !std::strcmp(argv[i], "-h")) {
            std::printf("usage: chat_server [ADDRESS] [--clients N]\n"
                        "  relays each line a client sends to all the others; a client's first line is its name\n"
                        "  --clients N  exit after N clients have left\n");
            return 0;
        }
        if (!std::strcmp(argv[i], "--clients") && i + 1 < argc)
            stop_after = std::strtol(argv[++i], nullptr, 10);
        else
            where = argv[i];
    }
    try {
        Socket listener = listen_on(Address::parse(where));
        std::printf("listening on %s\n", listener.local_address().to_string().c_str());
        std::fflush(stdout);
        ChatServer(std::move(listener)).run(stop_after);
    } catch (const std::system_error& e) {
        std::fprintf(stderr, "chat_server: %s\n", e.what());
        return 1;
    }
}
