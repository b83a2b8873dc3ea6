/// @file
/// Network byte order (big-endian) helpers.
///
/// hton/ntoh are constexpr and built from shifts, so they need no platform header, have no UB and
/// compile to a single bswap (or nothing on big-endian machines). store_be/load_be read and write
/// integers in byte buffers at any alignment, which is what a wire protocol actually needs.
#pragma once

#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "config.hpp"

namespace sockets {
SOCKETS_MODE_NAMESPACE_BEGIN

namespace detail {

// Any unsigned integer type of 2, 4 or 8 bytes, not only the std::uintN_t aliases: on LP64 Linux
// std::uint64_t is unsigned long, so unsigned long long (the type of 0x...ULL) is a different
// type. wchar_t is left out because its size and signedness differ between platforms.
template <class T>
constexpr bool is_wire_integer = std::is_integral_v<T> && std::is_unsigned_v<T> &&
                                 !std::is_same_v<T, bool> && !std::is_same_v<T, wchar_t> &&
                                 (sizeof(T) == 2 || sizeof(T) == 4 || sizeof(T) == 8);

template <class T>
constexpr T byte_swap(T v) noexcept {
    T out = 0;
    for (std::size_t i = 0; i < sizeof(T); ++i) {
        out = static_cast<T>((out << 8) | (v & 0xFFu));
        v = static_cast<T>(v >> 8);
    }
    return out;
}

// Detects the machine's byte order without reinterpret_cast (which is not constexpr).
#if defined(__BYTE_ORDER__) && defined(__ORDER_BIG_ENDIAN__)
inline constexpr bool big_endian_host = __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__;
#else
inline constexpr bool big_endian_host = false;  // Windows and every MSVC target are little-endian
#endif

}  // namespace detail

/// Host to network order.
template <class T, class = std::enable_if_t<detail::is_wire_integer<T>>>
constexpr T hton(T value) noexcept {
    return detail::big_endian_host ? value : detail::byte_swap(value);
}

/// Network to host order (the same swap, named for the reader).
template <class T, class = std::enable_if_t<detail::is_wire_integer<T>>>
constexpr T ntoh(T value) noexcept {
    return hton(value);
}

/// Writes value big-endian into out[0 .. sizeof(T)). Byte is std::byte, char or unsigned char.
template <class T, class Byte, class = std::enable_if_t<detail::is_wire_integer<T>>>
constexpr void store_be(Byte* out, T value) noexcept {
    static_assert(sizeof(Byte) == 1, "store_be writes into a byte buffer");
    for (std::size_t i = sizeof(T); i-- > 0;) {
        out[i] = static_cast<Byte>(value & 0xFFu);
        value = static_cast<T>(value >> 8);
    }
}

/// Reads a big-endian T from in[0 .. sizeof(T)).
template <class T, class Byte, class = std::enable_if_t<detail::is_wire_integer<T>>>
constexpr T load_be(const Byte* in) noexcept {
    static_assert(sizeof(Byte) == 1, "load_be reads from a byte buffer");
    T value = 0;
    for (std::size_t i = 0; i < sizeof(T); ++i)
        value = static_cast<T>((value << 8) | static_cast<unsigned char>(in[i]));
    return value;
}

SOCKETS_MODE_NAMESPACE_END
}  // namespace sockets
