// kv_server: a key-value store speaking length-prefixed messages, one thread per client.
// Requests: "SET key value", "GET key", "DEL key". Replies: "OK", the value, or "NOT_FOUND".
//
//   kv_server [ADDRESS] [--clients N]
#include <sockets/sockets.hpp>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

using namespace sockets;

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
        if (verb == "DEL") return data_.erase(std::string(rest)) ? "OK" : "NOT_FOUND";
        if (verb == "SET") {
            auto key_end = rest.find(' ');
            if (key_end == std::string_view::npos) return "ERROR: SET needs a key and a value";
            data_[std::string(rest.substr(0, key_end))] = std::string(rest.substr(key_end + 1));
            return "OK";
        }
        return "ERROR: unknown request";
    }

private:
    std::mutex mutex_;
    std::map<std::string, std::string> data_;
};

static void serve(Socket client, Store& store) {
    StreamReader reader(client, 1 << 20);
    std::error_code ec;
    for (;;) {
        std::string_view request = reader.read_message(ec);
        if (ec) break;  // end_of_stream: the client is done; message_too_large: hostile
        send_message(client, store.handle(request), ec);
        if (ec) break;
    }
    if (ec != errc::end_of_stream) std::printf("kv_server: dropping client: %s\n", ec.message().c_str());
}

int main(int argc, char* argv[]) {
    std::string where = "127.0.0.1:0";
    long clients = -1;
    for (int i = 1; i < argc; ++i) {
        if (!std::strcmp(argv[i], "--help") || !std::strcmp(argv[i], "-h")) {
            std::printf("usage: kv_server [ADDRESS] [--clients N]\n"
                        "  length-prefixed requests: SET key value | GET key | DEL key\n");
            return 0;
        }
        if (!std::strcmp(argv[i], "--clients") && i + 1 < argc)
            clients = std::strtol(argv[++i], nullptr, 10);
        else
            where = argv[i];
    }
    try {
        Socket listener = listen_on(Address::parse(where));
        std::printf("listening on %s\n", listener.local_address().to_string().c_str());
        std::fflush(stdout);
        Store store;
        std::vector<std::thread> workers;
        for (long served = 0; clients < 0 || served < clients; ++served)
            workers.emplace_back(serve, listener.accept(), std::ref(store));
        for (auto& w : workers) w.join();
    } catch (const std::system_error& e) {
        std::fprintf(stderr, "kv_server: %s\n", e.what());
        return 1;
    }
}
