// kv_server: a key-value store speaking length-prefixed messages. Threaded like
// threaded_server (the main thread accepts, a bounded pool of workers serves; see
// examples/common.hpp). Requests: "SET key value", "GET key", "DEL key". Replies: "OK", the
// value, or "NOT_FOUND". Requests are at most 64 KiB and the store at most 64 MiB, counting
// what an entry really costs (key, value and the map node around them), and at most 256 Ki
// keys, so no client can make the server grow without bound.
//
//   kv_server [ADDRESS] [--clients N] [--timeout S] [--lifetime S] [--threads N]
#include "common.hpp"

#include <map>

using namespace sockets;
using example::Clock;

constexpr std::size_t max_request = 64 * 1024;
constexpr std::size_t max_store_bytes = 64u << 20;
constexpr std::size_t max_keys = 256u << 10;
// What one entry costs beyond its key and value bytes: a std::map node (three pointers and a
// colour), two std::string objects, malloc's headers. Measured with glibc on x86-64: 600,000
// tiny entries take ~110 bytes each. Counting only key and value let them take 20 times the
// bound.
constexpr std::size_t entry_overhead = 160;

static std::size_t cost(std::size_t key, std::size_t value) { return key + value + entry_overhead; }

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
            bytes_ -= cost(it->first.size(), it->second.size());
            data_.erase(it);
            return "OK";
        }
        if (verb == "SET") {
            auto key_end = rest.find(' ');
            if (key_end == std::string_view::npos) return "ERROR: SET needs a key and a value";
            std::string key(rest.substr(0, key_end));
            std::string_view value = rest.substr(key_end + 1);
            auto it = data_.find(key);
            std::size_t old = it == data_.end() ? 0 : cost(key.size(), it->second.size());
            std::size_t now = cost(key.size(), value.size());
            if (it == data_.end() && data_.size() >= max_keys) return "ERROR: store full";
            if (bytes_ - old + now > max_store_bytes) return "ERROR: store full";
            bytes_ = bytes_ - old + now;
            data_[key] = std::string(value);
            return "OK";
        }
        return "ERROR: unknown request";
    }

private:
    std::mutex mutex_;
    std::map<std::string, std::string> data_;
    std::size_t bytes_ = 0;  // what the entries cost: cost() of each
};

// One client, start to finish, on a worker thread (the pool closes it afterwards).
static void serve(Socket& client, const Address& who, Store& store, const example::Options& options) {
    MessageBuffer buffer(max_request);
    auto next_message = [](MessageBuffer& b, std::error_code& ec) { return b.next_message(ec); };
    const auto end_of_life = Clock::now() + options.lifetime;
    std::error_code ec;
    for (;;) {
        auto deadline = std::min(Clock::now() + options.timeout, end_of_life);
        std::string_view request = example::read_request(client, buffer, deadline, next_message, ec);
        if (ec) break;  // end_of_stream: the client is done; message_too_large: hostile
        // A client that never reads must not hold its worker past --timeout or --lifetime.
        send_message(client, store.handle(request), example::reply_time(options.timeout, end_of_life), ec);
        if (ec == std::errc::timed_out) {
            example::log("kv_server: %s: dropped: does not read its replies", who.to_string().c_str());
            return;
        }
        if (ec) break;
    }
    if (example::worth_logging(ec)) example::log("kv_server: %s: %s", who.to_string().c_str(), ec.message().c_str());
}

int main(int argc, char* argv[]) {
    auto options = example::parse_options(argc, argv, "usage: kv_server [ADDRESS] [options]\n"
                                                      "  length-prefixed requests: SET key value | GET key | DEL key\n"
                                                      "  requests up to 64 KiB; the store holds at most 262,144 keys and 64 MiB,\n"
                                                      "  counting each entry as key + value + 160 bytes (\"ERROR: store full\" beyond)");
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
