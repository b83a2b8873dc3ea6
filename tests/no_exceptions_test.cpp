// A user's program built with -fno-exceptions (tests/CMakeLists.txt): only the std::error_code
// forms, and the throw hook where the library has no other way to report a failure.
//   no_exceptions_test          every section below whose headers compile without exceptions
//   no_exceptions_test hook     a call with no error_code form fails: the installed handler runs
//   no_exceptions_test abort    the same with no handler: the message on stderr, then abort
// Each header joins through a SOCKETS_TEST_NOEXC_<NAME> macro set by tests/CMakeLists.txt
// (SOCKETS_NO_EXCEPTIONS_HEADERS): a header is listed once it compiles without exceptions.
// TLS joins with socket.hpp, where OpenSSL and the test certificates (CTest fixture tls_certs,
// in SOCKETS_TLS_CERT_DIR) are at hand.
// Not Catch2: Catch2 itself needs exceptions.
#include <sockets/config.hpp>

#if defined(__cpp_exceptions) || defined(__EXCEPTIONS)
#if !defined(SOCKETS_TEST_WITH_EXCEPTIONS)
#error "no_exceptions_test must be built with -fno-exceptions"
#endif
#elif !defined(SOCKETS_NO_EXCEPTIONS)
#error "config.hpp did not notice that exceptions are off"
#endif

#include <sockets/byte_order.hpp>
#include <sockets/timeout.hpp>
#include <sockets/version.hpp>
#if SOCKETS_TEST_NOEXC_ERROR
#include <sockets/error.hpp>
#endif
#if SOCKETS_TEST_NOEXC_ADDRESS
#include <sockets/address.hpp>
#endif
#if SOCKETS_TEST_NOEXC_SOCKET
#include <sockets/socket.hpp>
#endif
#if SOCKETS_TEST_NOEXC_CONNECT
#include <sockets/connect.hpp>
#endif
#if SOCKETS_TEST_NOEXC_POLLER
#include <sockets/poller.hpp>
#endif
#if SOCKETS_TEST_NOEXC_MESSAGE
#include <sockets/message.hpp>
#endif
#if SOCKETS_TEST_NOEXC_BATCH
#include <sockets/batch.hpp>
#endif
#if SOCKETS_TEST_NOEXC_SOCKETS
#include <sockets/sockets.hpp>
#endif
#if SOCKETS_TEST_NOEXC_TLS
#include <sockets/tls.hpp>

#include <thread>
#endif

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>
#include <vector>

using namespace sockets;

namespace {

int failures = 0;

void check(bool ok, const char* what, const std::error_code& ec = {}) {
    if (ok) return;
    std::printf("FAILED: %s%s%s\n", what, ec ? ": " : "", ec ? ec.message().c_str() : "");
    ++failures;
}

[[noreturn]] void exit_handler(const std::exception& error) {
    std::printf("handler: %s\n", error.what());
    std::fflush(stdout);
    std::_Exit(0);
}

void values() {
    check(ntoh(hton(std::uint16_t{0x1234})) == 0x1234, "hton/ntoh");
    unsigned char wire[4];
    store_be(wire, std::uint32_t{0x01020304});
    check(wire[0] == 1 && load_be<std::uint32_t>(wire) == 0x01020304, "store_be/load_be");
    check(Timeout(std::chrono::milliseconds(-5)).is_zero() && Timeout::max().is_max(), "Timeout");
    check(std::strlen(SOCKETS_VERSION_STRING) >= 5, "SOCKETS_VERSION_STRING");
}

#if SOCKETS_TEST_NOEXC_ADDRESS
void addresses() {
    std::error_code ec;
    Address a = Address::parse("127.0.0.1:8080", ec);
    check(!ec && a.port() == 8080 && a.to_string() == "127.0.0.1:8080", "Address::parse", ec);
    Address::parse("1.2.3:80", ec);
    check(ec == errc::invalid_address, "Address::parse rejects 1.2.3:80");
    Address b = Address::from_ip("::1", 9, ec);
    check(!ec && b.is_loopback() && b.family() == Family::ipv6, "Address::from_ip ::1", ec);
    check(Address::loopback(Family::ipv4, 7).with_port(8).port() == 8, "loopback, with_port");
    auto found = resolve("localhost", 80, Family::ipv4, Type::stream, ec);
    check(!ec && !found.empty() && found.front().is_loopback(), "resolve localhost", ec);
    resolve_host_port("localhost", ec);
    check(ec == errc::missing_port, "resolve_host_port without a port");
}
#endif

#if SOCKETS_TEST_NOEXC_ERROR
void errors() {
    std::error_code ec = errc::not_open;
    check(ec == std::errc::bad_file_descriptor && !ec.message().empty(), "errc::not_open");
    check(std::error_code(EAI_NONAME, resolve_category()) == errc::host_not_found, "resolve_category");
}
#endif

#if SOCKETS_TEST_NOEXC_SOCKET
// Client and server over loopback with socket.hpp alone (no connect_to), every call in its
// error_code form, timeouts included.
void sockets_alone() {
    std::error_code ec;
    Socket listener = listen_on(Address::loopback(Family::ipv4), ec);
    check(!ec, "listen_on", ec);
    Address at = listener.local_address(ec);
    check(!ec && at.port() != 0, "local_address", ec);
    Socket client = Socket::open(Family::ipv4, Type::stream, ec);
    check(!ec, "Socket::open", ec);
    client.connect(at, std::chrono::seconds(30), ec);
    check(!ec, "connect with a timeout", ec);
    Socket server = listener.accept(std::chrono::seconds(30), ec);
    check(!ec && server.is_open(), "accept with a timeout", ec);
    client.set_no_delay(true, ec);
    check(!ec && client.no_delay(), "set_no_delay, no_delay", ec);

    std::size_t sent = client.send_all("ping", 4, ec);
    check(!ec && sent == 4, "send_all", ec);
    char got[8] = {};
    std::size_t received = server.recv_exact(got, 4, ec);
    check(!ec && received == 4 && std::memcmp(got, "ping", 4) == 0, "recv_exact", ec);
    check(server.send_all(std::string("pong"), std::chrono::seconds(30), ec) == 4 && !ec, "send_all timed", ec);
    received = client.recv_exact(got, 4, std::chrono::seconds(30), ec);
    check(!ec && received == 4 && std::memcmp(got, "pong", 4) == 0, "recv_exact timed", ec);

    // Nothing to read: the timed call and the plain call bounded by SO_RCVTIMEO both time out.
    check(server.recv(got, sizeof got, std::chrono::milliseconds(20), ec) == 0 && ec == std::errc::timed_out,
          "recv with a timeout times out", ec);
    server.set_receive_timeout(std::chrono::milliseconds(20), ec);
    check(!ec, "set_receive_timeout", ec);
    check(server.recv_exact(got, 4, ec) == 0 && ec == std::errc::timed_out, "recv_exact bounded by SO_RCVTIMEO", ec);
    auto none = server.try_recv(got, sizeof got, ec);
    check(!ec && !none, "try_recv would block", ec);

    // The peer closes after two bytes: the two are counted, the error is end_of_stream.
    check(client.send_all("ab", 2, ec) == 2, "send_all", ec);
    client.shutdown(Shutdown::write, ec);
    check(!ec, "shutdown", ec);
    received = server.recv_exact(got, 4, std::chrono::seconds(30), ec);
    check(received == 2 && ec == errc::end_of_stream, "recv_exact until end_of_stream", ec);
    CloseResult closed = server.graceful_close(std::chrono::seconds(30), ec);
    check(!ec && !server.is_open() && closed.ending != CloseResult::timed_out, "graceful_close", ec);
    client.close(ec);
    check(!ec && !client.is_open(), "close", ec);
    client.close(ec);
    check(!ec, "close twice", ec);
    check(client.send_all("x", 1, ec) == 0 && ec == errc::not_open, "send_all on a closed socket");

    // Datagrams.
    Socket a = Socket::open(Family::ipv4, Type::datagram, ec);
    a.bind(Address::loopback(Family::ipv4), ec);
    Address to = a.local_address(ec);
    Socket b = Socket::open(Family::ipv4, Type::datagram, ec);
    check(!ec && b.send_to(to, "dgram", 5, ec) == 5, "send_to", ec);
    Datagram d = a.recv_from(got, sizeof got, std::chrono::seconds(30), ec);
    check(!ec && d.size == 5 && !d.truncated && std::memcmp(got, "dgram", 5) == 0, "recv_from", ec);

    // Issue 25's forms: "host:port" text, recv_some, an empty container, an Interrupter.
    Socket texted = listen_on("127.0.0.1:0", ec);
    check(!ec && texted.is_open(), "listen_on text", ec);
    Socket c2 = Socket::open(Family::ipv4, Type::stream, ec);
    c2.connect(texted.local_address(ec), std::chrono::seconds(30), ec);
    Interrupter stop;
    Socket s2 = texted.accept(stop, std::chrono::seconds(30), ec);
    check(!ec && s2.is_open(), "accept with an Interrupter", ec);
    check(c2.send_all("some", 4, ec) == 4, "send_all", ec);
    std::string empty;
    check(s2.recv(empty, ec) == 0 && ec == errc::empty_buffer, "recv into an empty string");
    std::string some = s2.recv_some(16, std::chrono::seconds(30), ec);
    while (!ec && !some.empty() && some.size() < 4)  // the fault stage cuts reads short
        some += s2.recv_some(4 - some.size(), std::chrono::seconds(30), ec);
    check(some == "some" && !ec, "recv_some", ec);
    stop.interrupt();
    check(s2.recv_some(16, stop, ec).empty() && ec == errc::cancelled, "recv_some interrupted");
}
#endif

#if SOCKETS_TEST_NOEXC_SOCKET && SOCKETS_TEST_NOEXC_CONNECT
// Client and server over loopback, every call in its error_code form.
void client_server() {
    std::error_code ec;
    Socket listener = listen_on(Address::loopback(Family::ipv4), ec);
    check(!ec, "listen_on", ec);
    Address at = listener.local_address(ec);
    Socket client = connect_to(at, std::chrono::seconds(30), ec);
    check(!ec, "connect_to", ec);
    Socket server = listener.accept(std::chrono::seconds(30), ec);
    check(!ec, "accept", ec);
    std::size_t sent = client.send_all("ping", 4, ec);
    check(!ec && sent == 4, "send_all", ec);
    char got[4] = {};
    std::size_t received = server.recv_exact(got, sizeof got, std::chrono::seconds(30), ec);
    check(!ec && received == 4 && std::memcmp(got, "ping", 4) == 0, "recv_exact", ec);
#if SOCKETS_TEST_NOEXC_POLLER
    Poller poller;
    poller.add(server, Events::readable, 7, ec);
    check(!ec, "Poller::add", ec);
    check(client.send_all("x", 1, ec) == 1, "send_all", ec);
    bool seen = false;
    for (const Ready& r : poller.wait(std::chrono::seconds(30), ec)) seen = seen || (r.token == 7 && r.has(Events::readable));
    check(!ec && seen, "Poller::wait", ec);
    check(server.recv_exact(got, 1, std::chrono::seconds(30), ec) == 1, "recv_exact after wait", ec);
    poller.remove(server, ec);
    check(!ec, "Poller::remove", ec);
#endif
#if SOCKETS_TEST_NOEXC_MESSAGE
    MessageWriter writer(client);
    writer.write_message("hello", ec);
    writer.write_message("world", ec);
    writer.flush(std::chrono::seconds(30), ec);
    check(!ec, "MessageWriter", ec);
    StreamReader reader(server);
    std::string first(reader.read_message(std::chrono::seconds(30), ec));
    std::string second(reader.read_message(std::chrono::seconds(30), ec));
    check(!ec && first == "hello" && second == "world", "StreamReader::read_message", ec);
#endif
}
#endif

#if SOCKETS_TEST_NOEXC_TLS
// A TLS client and server over a socket pair: contexts from the test certificates, both
// handshakes, a request and its reply, and the orderly end (close_notify both ways).
void tls() {
    const std::string dir = SOCKETS_TLS_CERT_DIR;
    const auto timeout = std::chrono::seconds(30);
    std::error_code ec;
    TlsContext server_context = TlsContext::server(dir + "/server.pem", dir + "/server.key", ec);
    check(!ec && server_context.is_server(), "TlsContext::server", ec);
    TlsContext client_context = TlsContext::client(ec);
    if (!ec) client_context.load_verify_file(dir + "/ca.pem", ec);
    check(!ec && client_context.verifies_peer(), "TlsContext::client, load_verify_file", ec);
    auto pair = socket_pair(Type::stream, ec);
    check(!ec, "socket_pair", ec);
    if (ec) return;
    std::error_code server_ec;
    char request[4] = {};
    std::thread server([&] {
        TlsStream s = tls_accept(std::move(pair.second), server_context, timeout, server_ec);
        if (!server_ec) (void)s.recv_exact(request, sizeof request, timeout, server_ec);
        if (!server_ec) (void)s.send_all("pong", 4, timeout, server_ec);
        if (!server_ec) s.shutdown(timeout, server_ec);
    });
    TlsStream stream = tls_connect(std::move(pair.first), client_context, "localhost", timeout, ec);
    check(!ec && stream.handshake_done() && stream.peer_subject().find("localhost") != std::string::npos,
          "tls_connect", ec);
    if (!ec) check(stream.send_all("ping", 4, timeout, ec) == 4 && !ec, "TlsStream::send_all", ec);
    char reply[4] = {};
    if (!ec) check(stream.recv_exact(reply, sizeof reply, timeout, ec) == 4 && !ec, "TlsStream::recv_exact", ec);
    char byte = 0;
    if (!ec) check(stream.recv(&byte, 1, timeout, ec) == 0 && !ec, "TlsStream::recv sees close_notify", ec);
    if (!ec) stream.shutdown(timeout, ec);
    check(!ec, "TlsStream::shutdown", ec);
    server.join();
    check(!server_ec && std::memcmp(request, "ping", 4) == 0, "tls_accept, recv_exact, send_all, shutdown",
          server_ec);
    check(std::memcmp(reply, "pong", 4) == 0, "the reply");
}
#endif

// The throwing forms are absent without exceptions (a call does not compile), present with.
#if defined(SOCKETS_NO_EXCEPTIONS)
[[maybe_unused]] constexpr bool throwing_forms = false;
#else
[[maybe_unused]] constexpr bool throwing_forms = true;
#endif
#define SOCKETS_TEST_HAS_CALL(name, T, call)                                   \
    template <class T, class = void>                                           \
    struct name : std::false_type {};                                          \
    template <class T>                                                         \
    struct name<T, std::void_t<decltype(call)>> : std::true_type {}

#if SOCKETS_TEST_NOEXC_SOCKET && SOCKETS_TEST_NOEXC_CONNECT
SOCKETS_TEST_HAS_CALL(HasConnectToAddress, A, connect_to(std::declval<const A&>()));
SOCKETS_TEST_HAS_CALL(HasConnectToHost, A, connect_to(std::string_view(), std::declval<A>()));
static_assert(HasConnectToAddress<Address>::value == throwing_forms, "connect_to(address) without ec");
static_assert(HasConnectToHost<int>::value == throwing_forms, "connect_to(host, port) without ec");
#endif
#if SOCKETS_TEST_NOEXC_SOCKET && SOCKETS_TEST_NOEXC_MESSAGE
SOCKETS_TEST_HAS_CALL(HasSendMessage, S, send_message(std::declval<S&>(), std::string_view()));
SOCKETS_TEST_HAS_CALL(HasSendLine, S, send_line(std::declval<S&>(), std::string_view()));
SOCKETS_TEST_HAS_CALL(HasReadMessage, R, std::declval<R&>().read_message());
SOCKETS_TEST_HAS_CALL(HasReadLine, R, std::declval<R&>().read_line());
SOCKETS_TEST_HAS_CALL(HasFlush, W, std::declval<W&>().flush());
static_assert(HasSendMessage<Socket>::value == throwing_forms, "send_message without ec");
static_assert(HasSendLine<Socket>::value == throwing_forms, "send_line without ec");
static_assert(HasReadMessage<StreamReader>::value == throwing_forms, "read_message without ec");
static_assert(HasReadLine<StreamReader>::value == throwing_forms, "read_line without ec");
static_assert(HasFlush<MessageWriter>::value == throwing_forms, "MessageWriter::flush without ec");
#endif
#if SOCKETS_TEST_NOEXC_SOCKET && SOCKETS_TEST_NOEXC_BATCH
SOCKETS_TEST_HAS_CALL(HasSendMany, S, send_many(std::declval<S&>(), nullptr, 0));
SOCKETS_TEST_HAS_CALL(HasRecvMany, S, recv_many(std::declval<S&>(), nullptr, 0));
static_assert(HasSendMany<Socket>::value == throwing_forms, "send_many without ec");
static_assert(HasRecvMany<Socket>::value == throwing_forms, "recv_many without ec");
#endif

#if SOCKETS_TEST_NOEXC_SOCKET && SOCKETS_TEST_NOEXC_CONNECT
// connect_to by address, by candidates and by host, and two failures reported through ec where
// the throwing forms would throw ConnectError.
void connecting() {
    std::error_code ec;
    Socket listener = listen_on(Address::loopback(Family::ipv4), ec);
    Address at = listener.local_address(ec);
    check(!ec, "listen_on", ec);
    Socket by_address = connect_to(at, ec);
    check(!ec && by_address.is_open(), "connect_to(address)", ec);
    Socket by_candidates = connect_to(std::vector<Address>{at}, std::chrono::seconds(30), ec);
    check(!ec && by_candidates.is_open(), "connect_to(candidates, timeout)", ec);
    Socket by_numeric = connect_to("127.0.0.1", at.port(), ec);
    check(!ec && by_numeric.is_open(), "connect_to(numeric host)", ec);
    Socket by_host = connect_to("localhost", at.port(), std::chrono::seconds(30), ec);
    check(!ec && by_host.is_open(), "connect_to(localhost, timeout)", ec);
    Socket none = connect_to(std::vector<Address>{}, ec);
    check(ec == std::errc::invalid_argument && !none.is_open(), "connect_to(no candidates)");
    Socket late = connect_to("localhost", at.port(), Timeout::zero(), ec);
    check(ec == std::errc::timed_out && !late.is_open(), "connect_to(host, zero timeout)");
}
#endif

#if SOCKETS_TEST_NOEXC_SOCKET && SOCKETS_TEST_NOEXC_CONNECT && SOCKETS_TEST_NOEXC_MESSAGE
// Every framing call in its error_code form, then the errors a throwing form would throw.
void framing() {
    std::error_code ec;
    Socket listener = listen_on(Address::loopback(Family::ipv4), ec);
    Socket client = connect_to(listener.local_address(ec), std::chrono::seconds(30), ec);
    Socket server = listener.accept(std::chrono::seconds(30), ec);
    check(!ec, "connected pair", ec);
    check(send_message(client, "one", ec) == 7 && !ec, "send_message", ec);
    check(send_message(client, "two", std::chrono::seconds(30), ec, Prefix::u16) == 5 && !ec, "send_message u16", ec);
    check(send_line(client, "three", ec) == 6 && !ec, "send_line", ec);
    check(send_line(client, "four", std::chrono::seconds(30), ec, "\r\n") == 6 && !ec, "send_line CRLF", ec);
    {
        MessageWriter writer(client);
        writer.write_message("five", ec);
        writer.flush(ec);
        check(!ec && writer.pending() == 0, "MessageWriter::flush", ec);
    }
    StreamReader reader(server);
    check(reader.read_message(ec) == "one" && !ec, "read_message", ec);
    check(reader.read_message(std::chrono::seconds(30), ec, Prefix::u16) == "two" && !ec, "read_message u16", ec);
    check(reader.read_line(ec) == "three" && !ec, "read_line", ec);
    check(reader.read_line(std::chrono::seconds(30), ec) == "four" && !ec, "read_line CRLF", ec);
    check(reader.read_message(std::chrono::seconds(30), ec) == "five" && !ec, "read_message (writer)", ec);
    std::string big(70000, 'x');
    check(send_message(client, big, ec, Prefix::u16) == 0 && ec == errc::message_too_large, "send_message too large");
    client.close(ec);
    (void)reader.read_message(std::chrono::seconds(30), ec);
    check(ec == errc::end_of_stream, "read_message at the end", ec);
}
#endif

#if SOCKETS_TEST_NOEXC_SOCKET && SOCKETS_TEST_NOEXC_BATCH
// send_many / recv_many over loopback UDP, and a too-large datagram counted, not thrown.
void batches() {
    std::error_code ec;
    Socket sender = Socket::open(Family::ipv4, Type::datagram, ec);
    Socket receiver = Socket::open(Family::ipv4, Type::datagram, ec);
    sender.bind(Address::loopback(Family::ipv4), ec);
    receiver.bind(Address::loopback(Family::ipv4), ec);
    Address to = receiver.local_address(ec);
    check(!ec, "UDP pair", ec);
    OutgoingDatagram out[3] = {{ConstBuffer("aa", 2), &to}, {ConstBuffer("bb", 2), &to}, {ConstBuffer("c", 1), &to}};
    check(send_many(sender, out, 3, ec) == 3 && !ec, "send_many", ec);
    char storage[3][8];
    IncomingDatagram in[3];
    for (int i = 0; i < 3; ++i) in[i].buffer = MutableBuffer(storage[i]);
    std::size_t got = 0;
    while (got < 3 && !ec) got += recv_many(receiver, in + got, 3 - got, std::chrono::seconds(30), ec);
    check(!ec && got == 3 && in[2].size == 1 && storage[2][0] == 'c' && in[0].sender == sender.local_address(ec),
          "recv_many", ec);
    std::string huge(70000, 'x');
    OutgoingDatagram too_big[2] = {{ConstBuffer("ok", 2), &to}, {ConstBuffer(huge.data(), huge.size()), &to}};
    check(send_many(sender, too_big, 2, std::chrono::seconds(30), ec) == 1 && ec == std::errc::message_size,
          "send_many counts the datagrams before a failure", ec);
}
#endif

}  // namespace

int main(int argc, char** argv) {
    const char* mode = argc > 1 ? argv[1] : "";
#if SOCKETS_TEST_NOEXC_ADDRESS
    if (std::strcmp(mode, "hook") == 0 || std::strcmp(mode, "abort") == 0) {
        if (std::strcmp(mode, "hook") == 0) {
            check(set_exception_handler(exit_handler) == nullptr, "no handler before the first");
        }
        // No error_code form: a port out of range can only be reported through the hook.
        Address a = Address::loopback(Family::ipv4, 70000);
        std::printf("FAILED: loopback(70000) returned %s\n", a.to_string().c_str());
        return 1;
    }
#endif
    if (*mode) {
        std::printf("unknown mode %s\n", mode);
        return 2;
    }
    values();
#if SOCKETS_TEST_NOEXC_ADDRESS
    addresses();
#endif
#if SOCKETS_TEST_NOEXC_ERROR
    errors();
#endif
#if SOCKETS_TEST_NOEXC_SOCKET
    sockets_alone();
#endif
#if SOCKETS_TEST_NOEXC_SOCKET && SOCKETS_TEST_NOEXC_CONNECT
    client_server();
#endif
#if SOCKETS_TEST_NOEXC_TLS
    tls();
#endif
#if SOCKETS_TEST_NOEXC_SOCKET && SOCKETS_TEST_NOEXC_CONNECT
    connecting();
#endif
#if SOCKETS_TEST_NOEXC_SOCKET && SOCKETS_TEST_NOEXC_CONNECT && SOCKETS_TEST_NOEXC_MESSAGE
    framing();
#endif
#if SOCKETS_TEST_NOEXC_SOCKET && SOCKETS_TEST_NOEXC_BATCH
    batches();
#endif
    std::printf("%s\n", failures ? "no_exceptions_test: FAILED" : "no_exceptions_test: ok");
    return failures ? 1 : 0;
}
