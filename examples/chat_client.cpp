// chat_client: joins a chat_server under a name, says each MESSAGE, and prints what others
// say until it has heard EXPECT lines (or forever with no --expect).
//
//   chat_client HOST PORT NAME [--expect N] [MESSAGE...]
#include <sockets/sockets.hpp>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

int main(int argc, char* argv[]) {
    if (argc < 4 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h")) {
        std::printf("usage: chat_client HOST PORT NAME [--expect N] [MESSAGE...]\n"
                    "  joins the chat as NAME, sends each MESSAGE, prints lines from others\n"
                    "  --expect N  leave after hearing N lines from others\n");
        return argc < 2 ? 1 : 0;
    }
    long expect = -1;
    std::vector<std::string> messages;
    for (int i = 4; i < argc; ++i) {
        if (!std::strcmp(argv[i], "--expect") && i + 1 < argc)
            expect = std::strtol(argv[++i], nullptr, 10);
        else
            messages.push_back(argv[i]);
    }
    try {
        sockets::Socket server = sockets::connect_to(argv[1], std::atoi(argv[2]));
        sockets::StreamReader reader(server);
        sockets::send_line(server, argv[3]);  // our name
        std::string_view welcome = reader.read_line();  // the server has us now
        std::printf("%s joined (server says \"%.*s\")\n", argv[3], static_cast<int>(welcome.size()), welcome.data());
        std::fflush(stdout);
        for (const auto& m : messages) sockets::send_line(server, m);
        for (long heard = 0; expect < 0 || heard < expect; ++heard) {
            std::string_view line = reader.read_line();
            std::printf("%s heard \"%.*s\"\n", argv[3], static_cast<int>(line.size()), line.data());
        }
        server.graceful_close(std::chrono::seconds(5));
    } catch (const std::system_error& e) {
        std::fprintf(stderr, "chat_client: %s\n", e.what());
        return 1;
    }
}
