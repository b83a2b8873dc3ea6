// libFuzzer target: MessageBuffer's delimiter reader. The first byte picks the delimiter and
// the chunking. Lines must come out the same however the stream is split (a delimiter split
// across feeds included), and never contain the delimiter.
#include <sockets/message.hpp>

#include <cstdlib>
#include <string>
#include <vector>

static std::vector<std::string> split(const std::uint8_t* data, std::size_t size, std::size_t chunk,
                                      std::string_view delimiter, bool& failed) {
    sockets::MessageBuffer buffer(256);
    std::vector<std::string> out;
    std::error_code ec;
    failed = false;
    for (std::size_t at = 0; at < size && !failed; at += chunk) {
        buffer.feed(data + at, size - at < chunk ? size - at : chunk);
        while (auto line = buffer.next_line(ec, delimiter)) {
            if (line->find(delimiter) != std::string_view::npos) std::abort();
            out.emplace_back(*line);
        }
        failed = static_cast<bool>(ec);
    }
    return out;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    const std::string_view delimiters[] = {"\n", "\r\n", "--", "abc"};
    std::string_view delimiter = delimiters[data[0] % 4];
    std::size_t chunk = 1 + data[0] / 4 % 13;
    bool failed_whole = false, failed_chunked = false;
    auto whole = split(data + 1, size - 1, size, delimiter, failed_whole);
    auto chunked = split(data + 1, size - 1, chunk, delimiter, failed_chunked);
    // A too-long line may be detected at a different point; the lines before it must agree.
    if (!failed_whole && !failed_chunked && whole != chunked) std::abort();
    return 0;
}
