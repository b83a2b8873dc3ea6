// libFuzzer target: MessageBuffer's length-prefix decoder. The first byte picks the prefix
// width and the chunking; the rest is the stream. Messages must come out the same however the
// stream is split, and never exceed the limit.
#include <sockets/message.hpp>

#include <cstdlib>
#include <string>
#include <vector>

static std::vector<std::string> decode(const std::uint8_t* data, std::size_t size, std::size_t chunk,
                                       sockets::Prefix prefix, bool& failed) {
    sockets::MessageBuffer buffer(4096);
    std::vector<std::string> out;
    std::error_code ec;
    failed = false;
    for (std::size_t at = 0; at < size && !failed; at += chunk) {
        buffer.feed(data + at, size - at < chunk ? size - at : chunk);
        while (auto m = buffer.next_message(ec, prefix)) {
            if (m->size() > buffer.max_message()) std::abort();
            out.emplace_back(*m);
        }
        failed = static_cast<bool>(ec);
    }
    return out;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    const sockets::Prefix prefixes[] = {sockets::Prefix::u16, sockets::Prefix::u32, sockets::Prefix::u64};
    sockets::Prefix prefix = prefixes[data[0] % 3];
    std::size_t chunk = 1 + data[0] / 3 % 17;
    bool failed_whole = false, failed_chunked = false;
    auto whole = decode(data + 1, size - 1, size, prefix, failed_whole);
    auto chunked = decode(data + 1, size - 1, chunk, prefix, failed_chunked);
    if (whole != chunked || failed_whole != failed_chunked) std::abort();
    return 0;
}
