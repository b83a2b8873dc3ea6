// libFuzzer target: MessageBuffer's delimiter reader. The first byte picks the delimiter (an
// exact one, or LF-or-CRLF) and the chunking. Lines must come out the same however the stream
// is split (a delimiter split across feeds included), never contain the delimiter, and never
// exceed the limit.
#include <sockets/message.hpp>

#include <cstdlib>
#include <string>
#include <vector>

static std::vector<std::string> split(const std::uint8_t* data, std::size_t size, std::size_t chunk,
                                      sockets::Delimiter delimiter, bool& failed) {
    sockets::MessageBuffer buffer(256);
    std::vector<std::string> out;
    std::error_code ec;
    failed = false;
    for (std::size_t at = 0; at < size && !failed; at += chunk) {
        buffer.feed(data + at, size - at < chunk ? size - at : chunk);
        while (auto line = buffer.next_line(ec, delimiter)) {
            if (line->find(delimiter.text()) != std::string_view::npos) std::abort();
            if (line->size() > buffer.max_message()) std::abort();
            out.emplace_back(*line);
        }
        failed = static_cast<bool>(ec);
    }
    return out;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    // Bit 7 turns "\n" into LF-or-CRLF, so the corpus keeps its meaning for the other bits.
    const sockets::Delimiter delimiters[] = {"\n", "\r\n", "--", "abc"};
    sockets::Delimiter delimiter = delimiters[data[0] % 4];
    if (data[0] % 4 == 0 && (data[0] & 0x80)) delimiter = sockets::Delimiter::lf_or_crlf();
    std::size_t chunk = 1 + data[0] / 4 % 13;
    bool failed_whole = false, failed_chunked = false;
    auto whole = split(data + 1, size - 1, size, delimiter, failed_whole);
    auto chunked = split(data + 1, size - 1, chunk, delimiter, failed_chunked);
    // A too-long line may be detected at a different point; the lines before it must agree.
    if (!failed_whole && !failed_chunked && whole != chunked) std::abort();
    return 0;
}
