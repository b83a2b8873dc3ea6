// libFuzzer target: Address::parse must never crash, and what it accepts must print back
// to text that parses to the same address. Unix-domain names built from the same bytes must be
// refused or kept whole, and never equal a name of another kind.
#include <sockets/address.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

namespace {

void check_parse(std::string_view text) {
    std::error_code ec;
    sockets::Address a = sockets::Address::parse(text, ec);
    if (ec) {
        if (a.family() != sockets::Family::unspecified) std::abort();
        return;
    }
    // Brackets are for IPv6 and IPv6 needs brackets.
    if ((a.family() == sockets::Family::ipv6) != (!text.empty() && text.front() == '[')) std::abort();
    sockets::Address again = sockets::Address::parse(a.to_string(), ec);
    if (ec || !(again == a)) std::abort();
}

#if SOCKETS_HAS_UNIX_DOMAIN
void check_unix(std::string_view name) {
    std::error_code ec;
    sockets::Address path = sockets::Address::unix_path(name, ec);
    if (ec) {
        if (path.family() != sockets::Family::unspecified) std::abort();
    } else {
        if (name.find('\0') != std::string_view::npos || path.to_string() != name) std::abort();
        if (!(path == sockets::Address::unix_path(name))) std::abort();
    }
#if defined(__linux__)
    sockets::Address abstract = sockets::Address::unix_abstract(name, ec);
    if (!ec && path.family() == sockets::Family::unix_domain && path == abstract) std::abort();
#endif
}
#endif

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view text(reinterpret_cast<const char*>(data), size);
    check_parse(text);
#if SOCKETS_HAS_UNIX_DOMAIN
    check_unix(text);
#endif
    return 0;
}
