#include <sockets/byte_order.hpp>
#include <sockets/detail/platform.hpp>  // htonl/htons to compare against

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "catch.hpp"

using namespace sockets;

// Compile-time round trips: constexpr is part of the contract.
static_assert(hton(std::uint16_t{0x0102}) == 0x0201);
static_assert(hton(std::uint32_t{1}) == 0x01000000u);
static_assert(hton(std::uint64_t{0x0102030405060708ull}) == 0x0807060504030201ull);
static_assert(ntoh(hton(std::uint32_t{0xDEADBEEF})) == 0xDEADBEEF);
static_assert(ntoh(hton(std::uint64_t{0x8000000000000001ull})) == 0x8000000000000001ull);

constexpr std::uint32_t stored_and_loaded() {
    unsigned char b[4] = {};
    store_be(b, std::uint32_t{0xA1B2C3D4});
    return load_be<std::uint32_t>(b);
}
static_assert(stored_and_loaded() == 0xA1B2C3D4);

TEST_CASE("hton puts the most significant byte first in memory", "[byte_order]") {
    std::uint32_t wire = hton(std::uint32_t{1});
    unsigned char bytes[4];
    std::memcpy(bytes, &wire, 4);
    CHECK(bytes[0] == 0);
    CHECK(bytes[3] == 1);

    std::uint16_t wire16 = hton(std::uint16_t{0x1234});
    unsigned char b16[2];
    std::memcpy(b16, &wire16, 2);
    CHECK(b16[0] == 0x12);
    CHECK(b16[1] == 0x34);

    std::uint64_t wire64 = hton(std::uint64_t{0x0102030405060708ull});
    unsigned char b64[8];
    std::memcpy(b64, &wire64, 8);
    for (int i = 0; i < 8; ++i) CHECK(b64[i] == i + 1);
}

TEST_CASE("hton agrees with the C library's htons and htonl", "[byte_order]") {
    volatile std::uint32_t v = 0x12345678;  // volatile: a run-time value, not a folded constant
    CHECK(hton(static_cast<std::uint32_t>(v)) == htonl(v));
    CHECK(hton(static_cast<std::uint16_t>(v)) == htons(static_cast<std::uint16_t>(v)));
    for (std::uint32_t x : {0u, 1u, 0xFFu, 0xFF00u, 0xFFFFFFFFu, 0x80000000u})
        CHECK(ntoh(hton(x)) == x);
}

TEST_CASE("store_be and load_be work at any alignment and with every byte type", "[byte_order]") {
    std::array<unsigned char, 17> buffer{};
    for (std::size_t offset = 0; offset < 9; ++offset) {
        store_be(buffer.data() + offset, std::uint64_t{0x1122334455667788ull});
        CHECK(buffer[offset] == 0x11);
        CHECK(buffer[offset + 7] == 0x88);
        CHECK(load_be<std::uint64_t>(buffer.data() + offset) == 0x1122334455667788ull);
    }
    std::byte bytes[2];
    store_be(bytes, std::uint16_t{0xABCD});
    CHECK(bytes[0] == std::byte{0xAB});
    CHECK(load_be<std::uint16_t>(bytes) == 0xABCD);

    char chars[4];
    store_be(chars, std::uint32_t{0xFF000080});
    CHECK(load_be<std::uint32_t>(chars) == 0xFF000080);  // high bit set: no sign extension
}

// Every unsigned integer type of 2, 4 or 8 bytes works, whatever the platform names it: on LP64
// Linux std::uint64_t is unsigned long, so unsigned long long is a distinct type that must work.
template <class T>
constexpr bool round_trips() {
    T value = static_cast<T>(0x0102030405060708ull);  // keeps the low sizeof(T) bytes
    T swapped = hton(value);
    if (ntoh(swapped) != value) return false;
    if (sizeof(T) == 2 && swapped != static_cast<T>(0x0807u)) return false;
    if (sizeof(T) == 4 && swapped != static_cast<T>(0x08070605u)) return false;
    if (sizeof(T) == 8 && swapped != static_cast<T>(0x0807060504030201ull)) return false;
    unsigned char b[8] = {};
    store_be(b, value);
    if (b[0] != 9 - sizeof(T) || b[sizeof(T) - 1] != 8) return false;
    return load_be<T>(b) == value;
}
static_assert(round_trips<unsigned short>());
static_assert(round_trips<unsigned int>());
static_assert(round_trips<unsigned long>());
static_assert(round_trips<unsigned long long>());
static_assert(round_trips<std::uint16_t>());
static_assert(round_trips<std::uint32_t>());
static_assert(round_trips<std::uint64_t>());
static_assert(round_trips<char16_t>());
static_assert(round_trips<char32_t>());
static_assert(hton(0x0102030405060708ULL) == 0x0807060504030201ULL);

TEST_CASE("every unsigned integer type of 2, 4 or 8 bytes converts at run time", "[byte_order]") {
    CHECK(round_trips<unsigned short>());
    CHECK(round_trips<unsigned int>());
    CHECK(round_trips<unsigned long>());
    CHECK(round_trips<unsigned long long>());
    CHECK(round_trips<char16_t>());
    CHECK(round_trips<char32_t>());
    volatile unsigned long long v = 0x0102030405060708ULL;
    CHECK(hton(static_cast<unsigned long long>(v)) == 0x0807060504030201ULL);
    unsigned char b[8];
    store_be(b, static_cast<unsigned long long>(v));
    CHECK(load_be<unsigned long long>(b) == v);
    CHECK(load_be<unsigned long>(b + 8 - sizeof(unsigned long)) ==
          static_cast<unsigned long>(v));
}
