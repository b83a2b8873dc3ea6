// chat_client: joins a chat_server under a name, says each MESSAGE, and prints what others
// say until it has heard EXPECT lines (or forever with no --expect).
//
// The server drops a client that sends nothing for its idle limit, which it names in the
// welcome line ("welcome: 3 online, idle limit 60 s"). A client that only listens must not
// look dead: after half that limit without a word, it sends an empty line, which the server
// counts as a sign of life and relays to nobody.
//
//   chat_client HOST PORT NAME [--expect N] [MESSAGE...]
#include <sockets/sockets.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

using Clock = std::chrono::steady_clock;

// Half the idle limit the welcome line names; 20 s (a third of the server's default) if it
// names none.
static Clock::duration keep_alive_interval(std::string_view welcome) {
    constexpr std::string_view key = "idle limit ";
    auto at = welcome.find(key);
    long seconds = at == std::string_view::npos ? 0 : std::strtol(std::string(welcome.substr(at + key.size())).c_str(), nullptr, 10);
    if (seconds <= 0) return std::chrono::seconds(20);
    return std::chrono::milliseconds(seconds * 500);
}

int main(int argc, char* argv[]) {
    if (argc < 4 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h")) {
        std::printf("usage: chat_client HOST PORT NAME [--expect N] [MESSAGE...]\n"
                    "  joins the chat as NAME, sends each MESSAGE, prints lines from others\n"
                    "  (without --expect: until the server ends the connection or SIGINT)\n"
                    "  --expect N  leave after hearing N lines from others\n"
                    "  while it only listens, it sends an empty line (a keep-alive the server relays to\n"
                    "  nobody) every half of the idle limit the server names, so it is never dropped as idle\n");
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
        const Clock::duration keep_alive = keep_alive_interval(welcome);
        for (const auto& m : messages) sockets::send_line(server, m);
        auto last_said = Clock::now();
        for (long heard = 0; expect < 0 || heard < expect;) {
            // Wait for a line no longer than until the next keep-alive is due. A timeout keeps
            // a partly received line in the reader: the next read_line goes on with it.
            std::error_code ec;
            std::string_view line = reader.read_line(last_said + keep_alive - Clock::now(), ec);
            if (ec == std::errc::timed_out) {
                sockets::send_line(server, "");
                last_said = Clock::now();
                continue;
            }
            if (ec) throw std::system_error(ec, "read_line");
            std::printf("%s heard \"%.*s\"\n", argv[3], static_cast<int>(line.size()), line.data());
            std::fflush(stdout);
            ++heard;
        }
        server.graceful_close(std::chrono::seconds(5));
    } catch (const std::system_error& e) {
        std::fprintf(stderr, "chat_client: %s\n", e.what());
        return 1;
    }
}
