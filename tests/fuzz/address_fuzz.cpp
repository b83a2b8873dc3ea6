// libFuzzer target: Address::parse must never crash, and what it accepts must print back
// to text that parses to the same address.
#include <sockets/address.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view text(reinterpret_cast<const char*>(data), size);
    std::error_code ec;
    sockets::Address a = sockets::Address::parse(text, ec);
    if (ec) {
        if (a.family() != sockets::Family::unspecified) std::abort();
        return 0;
    }
    sockets::Address again = sockets::Address::parse(a.to_string(), ec);
    if (ec || !(again == a)) std::abort();
    return 0;
}
