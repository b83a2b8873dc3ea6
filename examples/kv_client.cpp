// kv_client: sends each REQUEST to a kv_server as one length-prefixed message and prints the reply.
//
//   kv_client HOST PORT REQUEST...      e.g. kv_client 127.0.0.1 4000 "SET a 1" "GET a"
#include <sockets/sockets.hpp>

#include <cstdio>
#include <cstdlib>
#include <cstring>

int main(int argc, char* argv[]) {
    if (argc < 4 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h")) {
        std::printf("usage: kv_client HOST PORT REQUEST...\n"
                    "  REQUEST: \"SET key value\" | \"GET key\" | \"DEL key\"\n");
        return argc < 2 ? 1 : 0;
    }
    try {
        sockets::Socket server = sockets::connect_to(argv[1], std::atoi(argv[2]));
        sockets::StreamReader reader(server);
        for (int i = 3; i < argc; ++i) {
            sockets::send_message(server, argv[i]);
            std::string_view reply = reader.read_message();
            std::printf("%-22s -> %.*s\n", argv[i], static_cast<int>(reply.size()), reply.data());
        }
        server.shutdown(sockets::Shutdown::write);
    } catch (const std::system_error& e) {
        std::fprintf(stderr, "kv_client: %s\n", e.what());
        return 1;
    }
}
