// kv_server: a key-value store speaking length-prefixed messages. Threaded like
// threaded_server (the main thread accepts, a bounded pool of workers serves; see
// examples/common.hpp). Requests: "SET key value", "GET key", "DEL key". Replies: "OK", the
// value, or "NOT_FOUND". Requests are at most 64 KiB and the store at most 64 MiB, so no
// client can make the server grow without bound.
//
//   kv_server [ADDRESS] [--clients N] [--timeout S] [--lifetime S] [--threads N]
#include "common.hpp"

#include <map>

using namespace sockets;
using example::Clock;

constexpr std::size_t max_request = 64 * 1024;
constexpr std::size_t max_store_bytes = 64u << 20;

class Store {
public:
    std::string handle(std::string_view request) {
        auto space = request.find(' ');
        std::string_view verb = request.substr(0, space);
        std::string_view rest = space == std::string_view::npos ? std::string_view() : request.substr(space + 1);
        std::lock_guard<std::mutex> lock(mutex_);
        if (verb == "GET") {
            auto it = data_.find(std::string(rest));
            return it == data_.end() ? "NOT_FOUND" : it->second;
        }
        if (verb == "DEL") {
            auto it = data_.find(std::string(rest));
            if (it == data_.end()) return "NOT_FOUND";
            bytes_ -= it->first.size() + it->second.size();
            data_.erase(it);
            return "OK";
        }
        if (verb == "SET") {
            auto key_end = rest.find(' ');
            if (key_end == std::string_view::npos) return "ERROR: SET needs a key and a value";
            std::string key(rest.substr(0, key_end));
            std::string_view value = rest.substr(key_end + 1);
            auto it = data_.find(key);
            std::size_t old = it == data_.end() ? 0 : key.size() + it->second.size();
            if (bytes_ - old + key.size() + value.size() > max_store_bytes) return "ERROR: store full";
            bytes_ = bytes_ - old + key.size() + value.size();
            data_[key] = std::string(value);
            return "OK";
        }
        return "ERROR: unknown request";
    }

private:
    std::mutex mutex_;
    std::map<std::string, std::string> data_;
    std::size_t bytes_ = 0;  // keys and values held
};

static void serve(Socket& client, const Address& who, Store& store, const example::Options& options) {
    client.set_send_timeout(options.timeout);  // a client that never reads cannot block us
    MessageBuffer buffer(max_request);
    auto next_message = [](MessageBuffer& b, std::error_code& ec) { return b.next_message(ec); };
    const auto end_of_life = Clock::now() + options.lifetime;
    std::error_code ec;
    for (;;) {
        auto deadline = std::min(Clock::now() + options.timeout, end_of_life);
        std::string_view request = example::read_request(client, buffer, deadline, next_message, ec);
        if (ec) break;  // end_of_stream: the client is done; message_too_large: hostile
        send_message(client, store.handle(request), ec);
        if (ec) break;
    }
    if (example::worth_logging(ec)) example::log("kv_server: %s: %s", who.to_string().c_str(), ec.message().c_str());
    client.graceful_close(example::linger, ec);
}

int main(int argc, char* argv[]) {
    auto options = example::parse_options(argc, argv, "usage: kv_server [ADDRESS] [options]\n"
                                                      "  length-prefixed requests: SET key value | GET key | DEL key");
    example::stop_on_signals();
    try {
        Socket listener = listen_on(Address::parse(options.where));
        example::log("listening on %s", listener.local_address().to_string().c_str());

        Store store;
        example::WorkerPool pool(options.threads, [&](Socket& c, const Address& who) { serve(c, who, store, options); });
        example::AcceptTrouble trouble("kv_server");
        for (long accepted = 0; options.clients < 0 || accepted < options.clients;) {
            if (example::stop_requested()) break;
            Address who;
            Socket client = example::accept_client(listener, who, trouble);
            if (!client) continue;  // nobody came within the poll interval, or accept failed
            if (!pool.submit(std::move(client), who)) break;
            ++accepted;
        }
        listener.close();
        if (!example::stop_requested()) pool.drain();
        pool.stop();
    } catch (const std::exception& e) {  // only the listener's own failures get here
        std::fprintf(stderr, "kv_server: %s\n", e.what());
        return 1;
    }
}
