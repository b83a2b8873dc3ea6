#include <sockets/error.hpp>

#include <string>

#include "catch.hpp"

using namespace sockets;

TEST_CASE("library errors have names, messages and portable conditions", "[error]") {
    std::error_code ec = errc::end_of_stream;
    CHECK(ec.category() == error_category());
    CHECK(std::string(ec.category().name()) == "sockets");
    CHECK(ec.message().find("peer closed") != std::string::npos);
    CHECK(std::error_code(errc::not_open) == std::errc::bad_file_descriptor);
    CHECK(std::error_code(errc::invalid_address) == std::errc::invalid_argument);
    CHECK(std::error_code(errc::port_out_of_range) == std::errc::invalid_argument);
    CHECK(std::error_code(errc::message_too_large) == std::errc::message_size);
    CHECK(std::error_code(errc::end_of_stream) != std::errc::connection_reset);
    for (int code = 1; code <= static_cast<int>(errc::not_registered); ++code)
        CHECK(error_category().message(code) != "unknown sockets error");
}

TEST_CASE("OS errors compare equal to the portable std::errc conditions", "[error]") {
#if defined(_WIN32)
    std::error_code refused = detail::os_error(WSAECONNREFUSED);
    std::error_code would_block = detail::os_error(WSAEWOULDBLOCK);
    std::error_code reset = detail::os_error(WSAECONNRESET);
    std::error_code interrupted = detail::os_error(WSAEINTR);
#else
    std::error_code refused = detail::os_error(ECONNREFUSED);
    std::error_code would_block = detail::os_error(EWOULDBLOCK);
    std::error_code reset = detail::os_error(ECONNRESET);
    std::error_code interrupted = detail::os_error(EINTR);
#endif
    CHECK(refused == std::errc::connection_refused);
    CHECK(would_block == std::errc::operation_would_block);
    CHECK(reset == std::errc::connection_reset);
    CHECK(interrupted == std::errc::interrupted);
    CHECK_FALSE(refused.message().empty());
}

TEST_CASE("TransferError carries the bytes that moved", "[error]") {
    TransferError e(errc::end_of_stream, "recv_exact", 42);
    CHECK(e.bytes_transferred() == 42);
    CHECK(e.code() == errc::end_of_stream);
    CHECK(std::string(e.what()).find("recv_exact") == 0);
    const std::system_error& base = e;  // catchable as the ordinary error type
    CHECK(base.code() == errc::end_of_stream);
}
