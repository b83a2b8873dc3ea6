// TLS over loopback: our client against our server, against `openssl s_server` / `s_client`
// and Python's ssl module; every rejection with its own message; timeouts, truncation, the
// framing layer and non-blocking use. Certificates come from tests/tls/make-certs.sh (a CTest
// fixture, or run here when the directory is missing).
#include <sockets/message.hpp>
#include <sockets/poller.hpp>
#include <sockets/tls.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <future>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "catch.hpp"
#include "support.hpp"

using namespace sockets;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

const std::string& cert_dir() {
    static const std::string dir = [] {
        std::string d = SOCKETS_TLS_CERT_DIR;
        // The last certificate make-certs.sh adds: an older set is made again.
        if (!std::ifstream(d + "/linklocal.pem")) {
            std::string command = std::string(SOCKETS_TLS_MAKE_CERTS) + " " + d + " >/dev/null";
            if (std::system(command.c_str()) != 0) throw std::runtime_error("make-certs.sh failed");
        }
        return d;
    }();
    return dir;
}
std::string cert(const std::string& name) { return cert_dir() + "/" + name + ".pem"; }
std::string key(const std::string& name) { return cert_dir() + "/" + name + ".key"; }

std::string read_file(const std::string& path) {
    std::ifstream in(path);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

TlsContext server_context(const std::string& name = "server") { return TlsContext::server(cert(name), key(name)); }

TlsContext trusting_client() {
    TlsContext c = TlsContext::client();
    c.load_verify_file(cert("ca"));
    return c;
}

// A server on its own thread: accepts one client, runs TLS with context, then body. What
// happened comes back to the main thread (no Catch2 assertion off the main thread).
struct ServerResult {
    std::error_code handshake;
    std::error_code body;
    std::string data;
    std::string subject;
    std::string alpn;
    std::string sni;  // the server name the client sent ("" for none)
    bool no_delay = false;
};

class OneClientServer {
public:
    using Body = std::function<void(TlsStream&, ServerResult&)>;
    OneClientServer(TlsContext context, Body body, Family family = Family::ipv4)
        : listener_(listen_on(Address::loopback(family, 0))) {
        thread_ = std::thread([this, context, body] {
            std::error_code ec;
            Socket s = listener_.accept(10s, ec);
            if (ec) {
                result_.handshake = ec;
                return;
            }
            TlsStream tls = tls_accept(std::move(s), context, 10s, result_.handshake);
            const char* sni = tls.native_handle() ? ::SSL_get_servername(tls.native_handle(), TLSEXT_NAMETYPE_host_name) : nullptr;
            result_.sni = sni ? sni : "";
            if (result_.handshake) {
                // Closing with the client's last handshake bytes unread would reset the
                // connection, and a reset can overtake our alert: let the client hear why.
                tls.socket().graceful_close(10s, ec);
                return;
            }
            result_.subject = tls.peer_subject();
            result_.alpn = tls.alpn_protocol();
            result_.no_delay = tls.socket().no_delay();
            body(tls, result_);
        });
    }
    ~OneClientServer() {
        if (thread_.joinable()) thread_.join();
    }
    Address address() const { return listener_.local_address(); }
    ServerResult finish() {
        thread_.join();
        return result_;
    }

private:
    Socket listener_;
    ServerResult result_;
    std::thread thread_;
};

// Echoes one line, then ends with close_notify both ways.
void echo_line(TlsStream& tls, ServerResult& r) {
    BasicStreamReader<TlsStream> reader(tls);
    std::string_view line = reader.read_line(10s, r.body);
    if (r.body) return;
    r.data = std::string(line);
    send_line(tls, "echo: " + r.data, 10s, r.body);
    if (!r.body) tls.shutdown(10s, r.body);
}

void nothing(TlsStream&, ServerResult&) {}

TlsStream connect_client(const Address& to, const TlsContext& context, const std::string& host, std::error_code& ec) {
    return tls_connect(connect_to(to, 10s), context, host, 10s, ec);
}

// A child process whose first output line we read; bounded by `timeout`.
class Child {
public:
    // Without LD_PRELOAD: the fault-injection harness (scripts/test-faults) is for our code, not
    // for openssl or python3, whose blocking I/O does not retry injected EINTR.
    explicit Child(const std::string& command) : pipe_(::popen(("env -u LD_PRELOAD timeout 60 " + command).c_str(), "r")) {}
    ~Child() {
        if (pipe_) ::pclose(pipe_);
    }
    std::string line() {
        char buffer[512];
        if (!pipe_ || !std::fgets(buffer, sizeof buffer, pipe_)) return {};
        return buffer;
    }
    std::string rest() {
        std::string out;
        while (true) {
            std::string l = line();
            if (l.empty()) return out;
            out += l;
        }
    }
    int wait() {
        int status = ::pclose(pipe_);
        pipe_ = nullptr;
        return status;
    }

private:
    FILE* pipe_;
};

bool have_python_ssl() { return std::system("python3 -c 'import ssl' >/dev/null 2>&1") == 0; }

// The interop peers (openssl s_client/s_server, python3) run through a POSIX shell with
// env and timeout: on Windows (wine) scripts/test-windows runs them against the examples.
#if defined(_WIN32)
#define SKIP_ON_WINDOWS(why)                    \
    do {                                        \
        WARN("skipped on Windows: " why);       \
        return;                                 \
    } while (false)
#else
#define SKIP_ON_WINDOWS(why) (void)0
#endif

}  // namespace

TEST_CASE("tls: round trip with verification, ALPN and close_notify both ways", "[tls]") {
    TlsContext server = server_context();
    server.set_alpn({"x-test/2", "http/1.1"});
    OneClientServer srv(server, echo_line);
    TlsContext client = trusting_client();
    client.set_alpn({"h2", "http/1.1"});
    std::error_code ec;
    TlsStream tls = connect_client(srv.address(), client, "localhost", ec);
    REQUIRE_FALSE(ec);
    CHECK(tls.handshake_done());
    CHECK(tls.alpn_protocol() == "http/1.1");
    CHECK(tls.protocol_version() == "TLSv1.3");
    CHECK(tls.peer_subject() == "/CN=localhost");
#if !defined(_WIN32)  // Winsock cannot report a socket's mode
    CHECK(test::is_nonblocking(tls.socket()));
#endif
    CHECK(tls.socket().no_delay());  // small records go out at once (the guide's TLS section)
    CHECK(send_line(tls, "hello", 10s) == 6);
    BasicStreamReader<TlsStream> reader(tls);
    CHECK(reader.read_line(10s) == "echo: hello");
    char byte;
    CHECK(tls.recv(&byte, 1, 10s) == 0);  // the server's close_notify
    tls.shutdown(10s);
    ServerResult r = srv.finish();
    CHECK_FALSE(r.handshake);
    CHECK_FALSE(r.body);
    CHECK(r.data == "hello");
    CHECK(r.alpn == "http/1.1");
    CHECK(r.no_delay);
}

TEST_CASE("tls: over a Unix-domain stream (no TCP_NODELAY to set)", "[tls]") {
#if defined(_WIN32)
    SKIP_ON_WINDOWS("socket_pair (socketpair(2)) is POSIX-only");
#else
    auto pair = socket_pair();
    std::error_code server_ec;
    std::string got(5, '\0');
    std::thread server([&] {
        TlsStream s = tls_accept(std::move(pair.second), server_context(), 10s, server_ec);
        if (!server_ec) (void)s.recv_exact(&got[0], got.size(), 10s, server_ec);
        if (!server_ec) s.shutdown(10s, server_ec);
    });
    std::error_code ec;
    TlsStream tls = tls_connect(std::move(pair.first), trusting_client(), "localhost", 10s, ec);
    CHECK_FALSE(ec);
    if (!ec) (void)tls.send_all("hello", 5, 10s, ec);
    CHECK_FALSE(ec);
    char byte;
    if (!ec) CHECK(tls.recv(&byte, 1, 10s, ec) == 0);  // the server's close_notify
    if (!ec) tls.shutdown(10s, ec);                      // ours, which the server awaits
    CHECK_FALSE(ec);
    server.join();
    CHECK_FALSE(server_ec);
    CHECK(got == "hello");
#endif
}

TEST_CASE("tls: IP address hosts are checked against the certificate's IP entries", "[tls]") {
    SECTION("IPv4") {
        OneClientServer srv(server_context(), echo_line);
        std::error_code ec;
        TlsStream tls = connect_client(srv.address(), trusting_client(), "127.0.0.1", ec);
        CHECK_FALSE(ec);
        send_line(tls, "v4", 10s);
        CHECK(BasicStreamReader<TlsStream>(tls).read_line(10s) == "echo: v4");
        tls.shutdown(10s, ec);
        CHECK(srv.finish().data == "v4");
    }
    SECTION("IPv6, bracketed") {
        OneClientServer srv(server_context(), echo_line, Family::ipv6);
        std::error_code ec;
        TlsStream tls = connect_client(srv.address(), trusting_client(), "[::1]", ec);
        CHECK_FALSE(ec);
        send_line(tls, "v6", 10s);
        CHECK(BasicStreamReader<TlsStream>(tls).read_line(10s) == "echo: v6");
        tls.shutdown(10s, ec);
        CHECK(srv.finish().data == "v6");
    }
}

TEST_CASE("tls: certificate rejections, each with its own message", "[tls]") {
    struct Case {
        const char* server_cert;
        const char* host;
        int code;
        const char* message;
        const char* alert;  // what the server hears from our client
    };
    const Case cases[] = {
        {"expired", "localhost", X509_V_ERR_CERT_HAS_EXPIRED, "certificate has expired", "alert certificate expired"},
        {"future", "localhost", X509_V_ERR_CERT_NOT_YET_VALID, "certificate is not yet valid", "alert bad certificate"},
        {"selfsigned", "localhost", X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT, "self-signed certificate", "alert unknown ca"},
        {"stranger", "localhost", X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY, "unknown CA", "alert unknown ca"},
        {"server", "wrong.test", X509_V_ERR_HOSTNAME_MISMATCH, "hostname mismatch", "alert bad certificate"},
        {"server", "10.1.2.3", X509_V_ERR_IP_ADDRESS_MISMATCH, "IP address mismatch", "alert bad certificate"},
    };
    for (const Case& c : cases) {
        for (bool graceful : {true, false}) {
            INFO(c.server_cert << " as " << c.host << (graceful ? ", graceful close" : ", abortive close"));
            OneClientServer srv(server_context(c.server_cert), nothing);
            std::error_code ec;
            TlsStream tls = connect_client(srv.address(), trusting_client(), c.host, ec);
            CHECK(ec.category() == tls_verify_category());
            CHECK(ec.value() == c.code);
            CHECK(ec == tls_errc::verification_failed);
            CHECK(ec.message().find(c.message) != std::string::npos);
            CHECK(tls.verify_detail().find(std::string("expected ") + c.host) != std::string::npos);
            CHECK(tls.verify_detail().find("certificate /CN=localhost") != std::string::npos);
            // The server's handshake ends with our alert, as the header says, when we close
            // gracefully. Dropping the stream instead closes with the rest of the server's
            // flight unread: that close is a reset, which may destroy the alert before it is
            // sent or read, and then the server can only report the reset.
            if (graceful)
                tls.socket().graceful_close(10s);
            else
                tls = TlsStream();
            ServerResult r = srv.finish();
            INFO("server: " << r.handshake.category().name() << ": " << r.handshake.message());
            if (graceful || r.handshake.category() == tls_category()) {
                CHECK(r.handshake.category() == tls_category());
                CHECK(r.handshake.message().find(c.alert) != std::string::npos);
            } else {
                CHECK(r.handshake == std::errc::connection_reset);
            }
        }
    }
}

TEST_CASE("tls: a host with an embedded NUL is refused, not verified as its prefix", "[tls]") {
    // The certificate is for localhost and 127.0.0.1, not for these 20-byte hosts.
    for (const std::string& host : {std::string("localhost\0.evil.test", 20), std::string("127.0.0.1\0.evil.test", 20)}) {
        INFO("host of " << host.size() << " bytes, cut at the NUL: " << host.c_str());
        OneClientServer srv(server_context(), nothing);
        std::error_code ec;
        TlsStream tls = connect_client(srv.address(), trusting_client(), host, ec);
        CHECK(ec == std::errc::invalid_argument);
        CHECK_FALSE(tls.is_open());
        srv.finish();
    }
}

// ---- odd host strings: each is verified as what it is, or refused; none turns the check off --

namespace {

// Connects to a server with `server_cert` as `host`; the client's error, and what the server
// heard as SNI.
struct HostOutcome {
    std::error_code ec;
    std::string sni;
    std::string detail;
    bool handshake_started = false;
};

HostOutcome try_host(const std::string& server_cert, const std::string& host, const TlsContext& client) {
    OneClientServer srv(server_context(server_cert), nothing);
    HostOutcome out;
    TlsStream tls = TlsStream::client(connect_to(srv.address(), 10s), client, host, out.ec);
    if (!out.ec) {
        out.handshake_started = true;
        tls.handshake(10s, out.ec);
        out.detail = tls.verify_detail();
        tls.socket().graceful_close(10s);
    }
    out.sni = srv.finish().sni;
    return out;
}

}  // namespace

TEST_CASE("tls: a host that is empty once normalised is host_required, never unchecked", "[tls][hosts]") {
    // "[]" once verified nothing at all: any certificate a trusted CA signed was accepted.
    for (const char* host : {"", "[]", "."}) {
        INFO("host \"" << host << "\"");
        HostOutcome o = try_host("server", host, trusting_client());
        CHECK(o.ec == tls_errc::host_required);
        CHECK_FALSE(o.handshake_started);
    }
    // Without verification there is nothing to check: no SNI is sent, the handshake proceeds.
    TlsContext insecure = TlsContext::client();
    insecure.insecure_skip_verification();
    for (const char* host : {"", "[]", "."}) {
        INFO("host \"" << host << "\", verification off");
        HostOutcome o = try_host("selfsigned", host, insecure);
        CHECK_FALSE(o.ec);
        CHECK(o.sni.empty());
    }
}

TEST_CASE("tls: malformed hosts are refused before the handshake", "[tls][hosts]") {
    // Brackets only around an IPv6 literal, a zone only on an IPv6 literal, no empty label, no
    // leading dot (OpenSSL reads ".test" as "any name under test": it would widen the check),
    // no character a host name or address cannot hold.
    // Nor what DNS cannot hold (a review found these sent and refused by OpenSSL's own words,
    // or sent raw as SNI): bytes beyond ASCII, a label over 63 characters, a name over 253.
    const std::string long_label = std::string(64, 'a') + ".example.test";
    const std::string long_name = std::string(62, 'a') + "." + std::string(62, 'b') + "." + std::string(62, 'c') +
                                  "." + std::string(62, 'd') + ".te";  // 254 characters
    const std::string hosts[] = {"[", "]", "[::1", "::1]", "[[::1]]", "[localhost]", "[127.0.0.1]", "[]]", " ",
                                 "%", "%1", "[%1]", "::1%", "[::1%]", "localhost%1", "127.0.0.1%1", "[::1]%1",
                                 "..", "localhost..", "a..example.test", ".test", ".example.test", ".localhost",
                                 "127.0.0.1.", "::1.", "local host", " localhost", "localhost ", "localhost\t",
                                 "localhost:443", "*.example.test", "localhost/x", "user@localhost",
                                 "b\xc3\xbc" "cher.example.test", "localhost\x7f", long_label, long_name,
                                 std::string(100000, 'a')};
    CHECK(long_name.size() == 254);
    {  // at the limits exactly: a name like any other, checked (and not this certificate's)
        const std::string longest = std::string(63, 'a') + "." + std::string(63, 'b') + "." + std::string(63, 'c') +
                                    "." + std::string(56, 'd') + ".test";
        CHECK(longest.size() == 253);
        HostOutcome o = try_host("server", longest, trusting_client());
        CHECK(o.ec == tls_errc::verification_failed);
        CHECK(o.sni == longest);
    }
    for (const TlsContext& client : {trusting_client(), [] {
                                         TlsContext c = TlsContext::client();
                                         c.insecure_skip_verification();
                                         return c;
                                     }()}) {
        for (const std::string& host : hosts) {
            INFO("host \"" << host.substr(0, 80) << "\"" << (client.verifies_peer() ? "" : ", verification off"));
            HostOutcome o = try_host("server", host, client);
            CHECK(o.ec == std::errc::invalid_argument);
            CHECK_FALSE(o.handshake_started);
        }
    }
}

TEST_CASE("tls: a trailing dot is dropped for SNI and the check, and never widens a match", "[tls][hosts]") {
    struct Case {
        const char* server_cert;
        const char* host;
        int code;         // X509_V_OK: accepted
        const char* sni;  // what the server hears
    };
    const Case cases[] = {
        {"server", "localhost.", X509_V_OK, "localhost"},
        {"server", "Example.Test.", X509_V_OK, "Example.Test"},
        {"server", "wrong.test.", X509_V_ERR_HOSTNAME_MISMATCH, "wrong.test"},
        {"wildcard", "a.example.test.", X509_V_OK, "a.example.test"},
        {"wildcard", "a.example.test", X509_V_OK, "a.example.test"},
        {"wildcard", "example.test.", X509_V_ERR_HOSTNAME_MISMATCH, "example.test"},
        {"wildcard", "example.test", X509_V_ERR_HOSTNAME_MISMATCH, "example.test"},
        {"wildcard", "b.a.example.test.", X509_V_ERR_HOSTNAME_MISMATCH, "b.a.example.test"},
        {"wildcard", "test.", X509_V_ERR_HOSTNAME_MISMATCH, "test"},
    };
    for (const Case& c : cases) {
        INFO(c.server_cert << " as " << c.host);
        HostOutcome o = try_host(c.server_cert, c.host, trusting_client());
        INFO(o.ec.message() << " " << o.detail);
        if (c.code == X509_V_OK) {
            CHECK_FALSE(o.ec);
        } else {
            CHECK(o.ec.category() == tls_verify_category());
            CHECK(o.ec.value() == c.code);
            CHECK(o.detail.find(std::string("expected ") + c.sni) != std::string::npos);
        }
        CHECK(o.sni == c.sni);
    }
    // Two dots is an empty label, not "one more dot to drop".
    HostOutcome o = try_host("wildcard", "a.example.test..", trusting_client());
    CHECK(o.ec == std::errc::invalid_argument);
}

TEST_CASE("tls: a name that only starts like an address is checked as a name", "[tls][hosts]") {
    // OpenSSL's own address parser stops after four numbers: these were once checked as the
    // IP address 127.0.0.1, which the certificate holds.
    for (const char* host : {"127.0.0.1.evil.test", "127.0.0.1x"}) {
        INFO(host);
        HostOutcome o = try_host("server", host, trusting_client());
        CHECK(o.ec.value() == X509_V_ERR_HOSTNAME_MISMATCH);
        CHECK(o.ec.category() == tls_verify_category());
        CHECK(o.sni == host);
    }
}

TEST_CASE("tls: a name ending in a number is refused, never read as some other address", "[tls][hosts]") {
    // The resolver reads "0127.0.0.1" as 87.0.0.1 (octal) while OpenSSL checked it as
    // 127.0.0.1, which the certificate holds: the check and the connection disagreed.
    for (const char* host : {"0127.0.0.1", "127.0.0.01", "127.000.000.001", "+127.0.0.1", "127.1",
                             "2130706433", "0x7f.0.0.1", "127.0.0.0x1", "localhost.0x1", "a.b.123"}) {
        INFO(host);
        HostOutcome o = try_host("server", host, trusting_client());
        CHECK(o.ec == std::errc::invalid_argument);
        CHECK_FALSE(o.handshake_started);
    }
    // Hexadecimal letters alone are an ordinary label.
    HostOutcome o = try_host("server", "localhost.cafe", trusting_client());
    CHECK(o.ec.value() == X509_V_ERR_HOSTNAME_MISMATCH);
}

TEST_CASE("tls: IP literals, zone or not, are checked as addresses and never sent as SNI", "[tls][hosts]") {
    // What Address::ip() writes for a link-local address carries the zone: "fe80::1%1".
    std::string from_address = Address::from_ip("fe80::1%1", 443).ip();
    REQUIRE(from_address == "fe80::1%1");
    struct Case {
        const char* server_cert;
        std::string host;
        int code;  // X509_V_OK: accepted
        const char* expected;
    };
    const Case cases[] = {
        {"linklocal", from_address, X509_V_OK, ""},
        {"linklocal", "[fe80::1%1]", X509_V_OK, ""},
        {"linklocal", "fe80::1%eth0", X509_V_OK, ""},
        {"linklocal", "[FE80:0::1%lo]", X509_V_OK, ""},
        {"linklocal", "fe80::1", X509_V_OK, ""},
        {"linklocal", "[fe80::1]", X509_V_OK, ""},
        {"linklocal", "fe80::2%1", X509_V_ERR_IP_ADDRESS_MISMATCH, "expected fe80::2"},
        {"linklocal", "[fe80::2%1]", X509_V_ERR_IP_ADDRESS_MISMATCH, "expected fe80::2"},
        {"server", "::1%1", X509_V_OK, ""},
        {"server", "[::1%lo]", X509_V_OK, ""},
        {"server", "::1", X509_V_OK, ""},
        {"server", "127.0.0.1", X509_V_OK, ""},
        {"server", "::ffff:127.0.0.1", X509_V_ERR_IP_ADDRESS_MISMATCH, "expected ::ffff:127.0.0.1"},
        {"server", "10.1.2.3", X509_V_ERR_IP_ADDRESS_MISMATCH, "expected 10.1.2.3"},
    };
    for (const Case& c : cases) {
        INFO(c.server_cert << " as " << c.host);
        HostOutcome o = try_host(c.server_cert, c.host, trusting_client());
        INFO(o.ec.message() << " " << o.detail);
        if (c.code == X509_V_OK) {
            CHECK_FALSE(o.ec);
        } else {
            CHECK(o.ec.category() == tls_verify_category());
            CHECK(o.ec.value() == c.code);
            CHECK(o.detail.find(c.expected) != std::string::npos);
        }
        CHECK(o.sni.empty());  // RFC 6066: no literal IPv4 or IPv6 address in SNI
    }
    // A name is sent, the same way every time.
    CHECK(try_host("server", "localhost", trusting_client()).sni == "localhost");
}

TEST_CASE("tls: the throwing handshake names the host and the certificate", "[tls]") {
    OneClientServer srv(server_context(), nothing);
    try {
        TlsStream tls = tls_connect(connect_to(srv.address(), 10s), trusting_client(), "example.org", 10s);
        FAIL("handshake succeeded");
    } catch (const std::system_error& e) {
        std::string what = e.what();
        INFO(what);
        CHECK(what.find("tls handshake with example.org") != std::string::npos);
        CHECK(what.find("CN=localhost") != std::string::npos);
        CHECK(what.find("hostname mismatch") != std::string::npos);
    }
    srv.finish();
}

TEST_CASE("tls: verification is on by default; off only when asked by name", "[tls]") {
    SECTION("the test CA is unknown to the system trust store") {
        OneClientServer srv(server_context(), nothing);
        std::error_code ec;
        connect_client(srv.address(), TlsContext::client(), "localhost", ec);
        // The server sends its chain up to the root: that root is what nobody trusts.
        CHECK(ec.value() == X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN);
        CHECK(ec.message().find("unknown CA") != std::string::npos);
        srv.finish();
    }
    SECTION("a verifying client must be told whom to expect") {
        auto pair = test::tcp_pair();
        std::error_code ec;
        TlsStream tls = TlsStream::client(std::move(pair.client), TlsContext::client(), "", ec);
        CHECK(ec == tls_errc::host_required);
        CHECK_FALSE(tls.is_open());
    }
    SECTION("insecure_skip_verification accepts a self-signed certificate for any name") {
        OneClientServer srv(server_context("selfsigned"), echo_line);
        TlsContext client = TlsContext::client();
        client.insecure_skip_verification();
        CHECK_FALSE(client.verifies_peer());
        std::error_code ec;
        TlsStream tls = connect_client(srv.address(), client, "", ec);
        REQUIRE_FALSE(ec);
        send_line(tls, "anyone", 10s);
        CHECK(BasicStreamReader<TlsStream>(tls).read_line(10s) == "echo: anyone");
        tls.shutdown(10s, ec);
        srv.finish();
    }
    SECTION("a CA given as PEM text is trusted too") {
        OneClientServer srv(server_context(), nothing);
        TlsContext client = TlsContext::client();
        client.add_certificate_authority_pem(read_file(cert("ca")));
        std::error_code ec;
        connect_client(srv.address(), client, "example.test", ec);
        CHECK_FALSE(ec);
        srv.finish();
    }
}

TEST_CASE("tls: server certificate and key from memory", "[tls]") {
    TlsContext server = TlsContext::server();
    server.use_certificate_chain_pem(read_file(cert("server")));
    server.use_private_key_pem(read_file(key("server")));
    OneClientServer srv(server, echo_line);
    std::error_code ec;
    TlsStream tls = connect_client(srv.address(), trusting_client(), "example.test", ec);
    REQUIRE_FALSE(ec);
    send_line(tls, "pem", 10s);
    CHECK(BasicStreamReader<TlsStream>(tls).read_line(10s) == "echo: pem");
    tls.shutdown(10s);
    CHECK(srv.finish().data == "pem");
}

TEST_CASE("tls: loading errors say what went wrong", "[tls]") {
    TlsContext server = TlsContext::server();
    std::error_code ec;
    server.use_certificate_chain_file(cert_dir() + "/no-such.pem", ec);
    CHECK(ec == std::errc::no_such_file_or_directory);
    server.use_certificate_chain_file(cert("server"));
    server.use_private_key_file(key("client"), ec);  // not the certificate's key
    CHECK(ec.category() == tls_category());
    CHECK(ec.message().find("mismatch") != std::string::npos);
    server.use_private_key_pem("not a key", ec);
    CHECK(ec);
}

TEST_CASE("tls: mutual TLS", "[tls]") {
    TlsContext server = server_context();
    server.require_client_certificate();
    server.load_verify_file(cert("ca"));
    SECTION("a client without a certificate is refused") {
        OneClientServer srv(server, nothing);
        std::error_code ec;
        TlsStream tls = connect_client(srv.address(), trusting_client(), "localhost", ec);
        // TLS 1.3: the client's handshake may finish before the server has judged it; then its
        // first read hears the alert.
        char byte;
        if (!ec) (void)tls.recv(&byte, 1, 10s, ec);
        CHECK(ec.category() == tls_category());
        CHECK(ec.message().find("certificate required") != std::string::npos);
        tls = TlsStream();  // our end closes: the server's graceful_close waits for that
        ServerResult r = srv.finish();
        CHECK(r.handshake.message().find("did not return a certificate") != std::string::npos);
    }
    SECTION("a client with one is let in, and the server sees who it is") {
        OneClientServer srv(server, echo_line);
        TlsContext client = trusting_client();
        client.use_certificate_chain_file(cert("client"));
        client.use_private_key_file(key("client"));
        std::error_code ec;
        TlsStream tls = connect_client(srv.address(), client, "localhost", ec);
        REQUIRE_FALSE(ec);
        send_line(tls, "me", 10s);
        CHECK(BasicStreamReader<TlsStream>(tls).read_line(10s) == "echo: me");
        tls.shutdown(10s);
        ServerResult r = srv.finish();
        CHECK_FALSE(r.body);
        CHECK_FALSE(r.handshake);
        CHECK(r.subject == "/CN=sockets test client");
    }
}

TEST_CASE("tls: no common ALPN protocol ends the handshake", "[tls]") {
    TlsContext server = server_context();
    server.set_alpn({"only-this"});
    OneClientServer srv(server, nothing);
    TlsContext client = trusting_client();
    client.set_alpn({"something-else"});
    std::error_code ec;
    connect_client(srv.address(), client, "localhost", ec);
    CHECK(ec.message().find("no application protocol") != std::string::npos);
    srv.finish();
}

TEST_CASE("tls: 64 MiB each way arrive intact", "[tls]") {
    const std::size_t size = 64u << 20;
    const auto payload = test::pattern(size, 7);
    std::vector<unsigned char> at_server(size);
    std::size_t server_got = 0, server_sent = 0;
    OneClientServer srv(server_context(), [&](TlsStream& tls, ServerResult& r) {
        server_got = tls.recv_exact(at_server.data(), size, 60s, r.body);
        if (!r.body) server_sent = tls.send_all(payload.data(), size, 60s, r.body);
        if (!r.body) tls.shutdown(10s, r.body);
    });
    std::error_code ec;
    TlsStream tls = connect_client(srv.address(), trusting_client(), "localhost", ec);
    REQUIRE_FALSE(ec);
    // Both directions at once would deadlock only if sends could not make progress; here the
    // client sends everything first, so the order is fixed.
    CHECK(tls.send_all(payload.data(), size, 60s) == size);
    std::vector<unsigned char> at_client(size);
    CHECK(tls.recv_exact(at_client.data(), size, 60s) == size);
    CHECK(tls.recv(at_client.data(), 1, 10s) == 0);
    tls.shutdown(10s);
    ServerResult r = srv.finish();
    CHECK_FALSE(r.body);
    CHECK(server_got == size);
    CHECK(server_sent == size);
    CHECK(at_server == payload);
    CHECK(at_client == payload);
}

TEST_CASE("tls: a peer that stops mid-handshake cannot outlast the deadline", "[tls]") {
    SECTION("client side: the server reads the ClientHello and goes silent") {
        auto listener = listen_on(Address::loopback(Family::ipv4, 0));
        Socket client = connect_to(listener.local_address(), 10s);
        Socket server = listener.accept(10s);
        TlsStream tls = TlsStream::client(std::move(client), trusting_client(), "localhost");
        char hello[16];
        std::thread reader([&] { (void)server.recv(hello, sizeof hello, 10s); });
        auto start = Clock::now();
        std::error_code ec;
        tls.handshake(300ms, ec);
        auto took = Clock::now() - start;
        reader.join();
        CHECK(ec == std::errc::timed_out);
        CHECK(took >= 300ms);
        CHECK(took < 5s);
    }
    SECTION("server side: the client connects and says nothing") {
        auto pair = test::tcp_pair();
        auto start = Clock::now();
        std::error_code ec;
        TlsStream tls = tls_accept(std::move(pair.server), server_context(), 200ms, ec);
        CHECK(ec == std::errc::timed_out);
        CHECK(Clock::now() - start < 5s);
    }
    SECTION("a zero timeout tries once and does not wait") {
        auto pair = test::tcp_pair();
        std::error_code ec;
        TlsStream tls = TlsStream::server(std::move(pair.server), server_context());
        tls.handshake(0ms, ec);
        CHECK(ec == std::errc::timed_out);
    }
}

TEST_CASE("tls: a close without close_notify is truncation, not a clean end", "[tls]") {
    OneClientServer srv(server_context(), [](TlsStream& tls, ServerResult& r) {
        (void)tls.send_all("partial", 7, 10s, r.body);
        // Leaving without shutdown(): the destructor closes TCP without close_notify.
    });
    std::error_code ec;
    TlsStream tls = connect_client(srv.address(), trusting_client(), "localhost", ec);
    REQUIRE_FALSE(ec);
    char buffer[16];
    std::size_t n = tls.recv_exact(buffer, 7, 10s, ec);
    CHECK(n == 7);
    CHECK_FALSE(ec);
    srv.finish();
    n = tls.recv(buffer, sizeof buffer, 10s, ec);
    CHECK(n == 0);
    CHECK(ec == tls_errc::truncated);
    CHECK(ec.message().find("close_notify") != std::string::npos);
}

TEST_CASE("tls: writing to a vanished peer is an error, never SIGPIPE", "[tls]") {
    OneClientServer srv(server_context(), nothing);  // the handshake, then the server is gone
    std::error_code ec;
    TlsStream tls = connect_client(srv.address(), trusting_client(), "localhost", ec);
    REQUIRE_FALSE(ec);
    srv.finish();
    std::vector<char> data(1 << 20, 'x');
    std::size_t sent = 0;
    for (int i = 0; i < 64 && !ec; ++i) sent += tls.send_all(data.data(), data.size(), 10s, ec);
    INFO(ec.message());
    CHECK((ec == std::errc::broken_pipe || ec == std::errc::connection_reset));
    CHECK(sent < 64u * data.size());
}

TEST_CASE("tls: a transfer error names the peer, as a Socket's does", "[tls]") {
    OneClientServer srv(server_context(), nothing);
    std::error_code ec;
    TlsStream tls = connect_client(srv.address(), trusting_client(), "localhost", ec);
    REQUIRE_FALSE(ec);
    srv.finish();
    std::vector<char> data(1 << 20, 'x');
    std::string what;
    try {
        for (int i = 0; i < 64; ++i) tls.send_all(data.data(), data.size(), 10s);
    } catch (const TransferError& e) {
        what = e.what();
    }
    // As for a Socket (socket_test): Linux remembers a reset peer's address; elsewhere (wine
    // included) the OS may forget it, and the message names the local address instead.
    const std::string peer = " with " + srv.address().to_string();
    INFO(what);
#if defined(__linux__)
    CHECK(what.find("tls send_all" + peer) == 0);
#else
    CHECK(what.find("tls send_all ") == 0);
#endif
    // The non-waiting calls name it too.
    what.clear();
    try {
        for (int i = 0; i < 64; ++i) (void)tls.try_send(data.data(), data.size());
    } catch (const std::system_error& e) {
        what = e.what();
    }
    INFO(what);
#if defined(__linux__)
    CHECK(what.find("tls try_send" + peer) == 0);
#else
    CHECK(what.find("tls try_send ") == 0);
#endif
}

TEST_CASE("tls: recv_exact counts what came before a clean close", "[tls]") {
    OneClientServer srv(server_context(), [](TlsStream& tls, ServerResult& r) {
        (void)tls.send_all("abc", 3, 10s, r.body);
        if (!r.body) tls.shutdown(10s, r.body);
    });
    std::error_code ec;
    TlsStream tls = connect_client(srv.address(), trusting_client(), "localhost", ec);
    REQUIRE_FALSE(ec);
    char buffer[8];
    std::size_t n = tls.recv_exact(buffer, sizeof buffer, 10s, ec);
    CHECK(n == 3);
    CHECK(ec == errc::end_of_stream);
    tls.shutdown(10s, ec);
    CHECK_FALSE(ec);
    CHECK_FALSE(srv.finish().body);
}

TEST_CASE("tls: a timed recv on a silent peer times out and the stream stays usable", "[tls]") {
    OneClientServer srv(server_context(), echo_line);
    std::error_code ec;
    TlsStream tls = connect_client(srv.address(), trusting_client(), "localhost", ec);
    REQUIRE_FALSE(ec);
    char buffer[8];
    auto start = Clock::now();
    CHECK(tls.recv(buffer, sizeof buffer, 100ms, ec) == 0);
    CHECK(ec == std::errc::timed_out);
    CHECK(Clock::now() - start >= 100ms);
    send_line(tls, "still here", 10s);
    CHECK(BasicStreamReader<TlsStream>(tls).read_line(10s) == "echo: still here");
    tls.shutdown(10s);
    CHECK_FALSE(srv.finish().body);
}

// A client and a server stream over one loopback connection with small kernel buffers,
// handshaken (the server's half on a thread); afterwards one thread plays both ends.
struct TlsPair {
    TlsStream client, server;
};
TlsPair tls_pair(int buffer_size) {
    auto tcp = test::tcp_pair();
    for (Socket* s : {&tcp.client, &tcp.server}) {
        s->set_send_buffer_size(buffer_size);
        s->set_receive_buffer_size(buffer_size);
    }
    auto server = std::async(std::launch::async, [&] { return tls_accept(std::move(tcp.server), server_context(), 10s); });
    TlsStream client = tls_connect(std::move(tcp.client), trusting_client(), "localhost", 10s);
    return {std::move(client), server.get()};
}

// Both ends send close_notify, then each reads the other's: the stream survived whatever
// came before it.
void close_both_ways(TlsPair& p) {
    std::error_code ec;
    for (TlsStream* s : {&p.client, &p.server}) {
        s->send_close_notify(10s, ec);
        CHECK_FALSE(ec);
    }
    for (TlsStream* s : {&p.client, &p.server}) {
        char byte;
        CHECK(s->recv(&byte, 1, 10s, ec) == 0);
        CHECK_FALSE(ec);
    }
}

// The socket BIO's would-block paths on both sides (WSAEWOULDBLOCK under Winsock, where the
// fault-injection library cannot reach): kernel buffers of a few records make sends come up
// short, so the rest of a record waits in the BIO, and make the reader find records cut in
// two. The writer fills the socket (now and then with a timed send_all that waits in poll for
// a reader who does not come); then the reader, paused until then, takes everything there is
// in reads of 700 bytes, and pauses again. (Buffers of 4 KiB would be slower, not harsher:
// every refill then waits for a delayed acknowledgement.)
TEST_CASE("tls: small kernel buffers and a pausing reader: short sends and split records lose nothing", "[tls][short]") {
    TlsPair p = tls_pair(32 * 1024);
    const std::size_t size = 1u << 20;
    const auto payload = test::pattern(size, 41);
    std::vector<unsigned char> got(size);
    std::size_t sent = 0, received = 0;
    int writer_full = 0, held_back = 0, reader_waits = 0, timed_out_writes = 0, rounds = 0;
    Poller poller;
    poller.add(p.client.socket(), Events::writable, 0);
    poller.add(p.server.socket(), Events::readable, 1);
    std::error_code ec;
    while (received < size && !ec) {
        ++rounds;
        bool moved = false;
        if (rounds % 2 == 0 && sent < size) {
            std::size_t n = p.client.send_all(payload.data() + sent, size - sent, 5ms, ec);
            sent += n;
            moved = n > 0;
            if (ec == std::errc::timed_out) {
                ec.clear();
                ++timed_out_writes;
            }
        }
        while (sent < size && !ec) {
            auto n = p.client.try_send(payload.data() + sent, std::min<std::size_t>(size - sent, 16384), ec);
            if (!n) {
                writer_full += !ec;
                break;
            }
            sent += *n;
            moved = true;
            held_back += p.client.unsent() > 0;  // the socket took part of a record
        }
        if (!ec && sent == size && p.client.unsent() > 0) p.client.try_flush(ec);
        if (ec) break;
        while (received < size && !ec) {
            auto n = p.server.try_recv(got.data() + received, std::min<std::size_t>(size - received, 700), ec);
            if (!n) {
                reader_waits += !ec;  // nothing left, or a record cut in two
                break;
            }
            received += *n;
            moved = moved || *n > 0;
            if (*n == 0) ec = errc::end_of_stream;
        }
        if (!moved && !ec) {
            // Nothing moved: wait for the kernel (10 s: a hang guard). With nothing left to
            // send, only the reader can be waiting, so a lost byte fails here, not in a spin.
            bool writing = sent < size || p.client.unsent() > 0;
            poller.modify(p.client.socket(), writing ? Events::writable : Events::none, 0);
            INFO(sent << " sent, " << received << " received");
            REQUIRE_FALSE(poller.wait(10s).empty());
        }
    }
    INFO(ec.message() << " after " << rounds << " rounds, " << sent << " sent, " << received << " received");
    REQUIRE_FALSE(ec);
    bool intact = got == payload;  // not CHECK(got == payload): Catch2 would print a megabyte
    CHECK(intact);
    CHECK(writer_full > 0);
    CHECK(held_back > 0);
    CHECK(reader_waits > 0);
    CHECK(timed_out_writes > 0);
    close_both_ways(p);
}

// Deadlines far below poll's resolution (milliseconds for WSAPoll and epoll alike): a call
// whose deadline has passed before its first wait still moves what it can, says timed_out,
// and leaves the stream whole, wherever in a record the deadline falls.
TEST_CASE("tls: a transfer made of calls with a 1 us deadline each arrives intact", "[tls][short]") {
    TlsPair p = tls_pair(32 * 1024);
    const std::size_t size = 1u << 20;
    const auto payload = test::pattern(size, 42);
    std::vector<unsigned char> got(size);
    std::size_t sent = 0, received = 0;
    int send_timeouts = 0, recv_timeouts = 0, rounds = 0;
    const auto guard = Clock::now() + 30s;  // a hang guard: the transfer takes a fraction of a second
    std::error_code ec;
    auto timed_out = [&ec](int& count) {
        if (ec == std::errc::timed_out) {
            ec.clear();
            ++count;
        }
    };
    while (received < size && !ec && Clock::now() < guard) {
        ++rounds;
        if (sent < size) {
            sent += p.client.send_all(payload.data() + sent, size - sent, 1us, ec);
            timed_out(send_timeouts);
        } else if (p.client.unsent() > 0) {
            p.client.try_flush(ec);  // the last record's tail, which no timed call is left to send
        }
        if (ec) break;
        received += p.server.recv_exact(got.data() + received, size - received, 1us, ec);
        timed_out(recv_timeouts);
    }
    INFO(ec.message() << " after " << rounds << " rounds, " << sent << " sent, " << received << " received");
    REQUIRE_FALSE(ec);
    REQUIRE(received == size);
    bool intact = got == payload;
    CHECK(intact);
    CHECK(send_timeouts > 0);
    CHECK(recv_timeouts > 0);
    close_both_ways(p);
}

TEST_CASE("tls: the framing layer works over TLS unchanged", "[tls]") {
    OneClientServer srv(server_context(), [](TlsStream& tls, ServerResult& r) {
        BasicStreamReader<TlsStream> reader(tls);
        for (int i = 0; i < 3 && !r.body; ++i) {
            std::string_view m = reader.read_message(10s, r.body);
            if (!r.body) send_message(tls, "got " + std::string(m), 10s, r.body);
        }
        if (!r.body) send_line(tls, "bye", 10s, r.body);
        if (!r.body) tls.shutdown(10s, r.body);
    });
    std::error_code ec;
    TlsStream tls = connect_client(srv.address(), trusting_client(), "localhost", ec);
    REQUIRE_FALSE(ec);
    {
        BasicMessageWriter<TlsStream> writer(tls);
        writer.write_message("one", 10s);
        writer.write_message(std::string(100000, 'x'), 10s);  // flushes the batch
        writer.write_message("three", 10s);
        writer.flush(10s);
    }
    BasicStreamReader<TlsStream> reader(tls);
    CHECK(reader.read_message(10s) == "got one");
    CHECK(reader.read_message(10s) == "got " + std::string(100000, 'x'));
    CHECK(reader.read_message(10s) == "got three");
    CHECK(reader.read_line(10s) == "bye");
    std::string_view rest = reader.read_line(10s, ec);
    CHECK(ec == errc::end_of_stream);
    CHECK(rest.empty());
    tls.shutdown(10s);
    CHECK_FALSE(srv.finish().body);
}

TEST_CASE("tls: non-blocking handshake and transfer with a Poller, one thread", "[tls]") {
    auto pair = test::tcp_pair();
    TlsStream client = TlsStream::client(std::move(pair.client), trusting_client(), "localhost");
    TlsStream server = TlsStream::server(std::move(pair.server), server_context());
    Poller poller;
    poller.add(client.socket(), Events::readable, 0);
    poller.add(server.socket(), Events::readable, 1);
    auto interest = [](const TlsStream& s) { return s.wants() == TlsWant::write ? Events::writable : Events::readable; };
    bool client_done = false, server_done = false;
    std::error_code ec;
    int rounds = 0;
    while (!(client_done && server_done) && !ec && ++rounds < 100) {
        if (!client_done) client_done = client.try_handshake(ec);
        if (!server_done && !ec) server_done = server.try_handshake(ec);
        if (client_done && server_done) break;
        if (!client_done) poller.modify(client.socket(), interest(client), 0);
        if (!server_done) poller.modify(server.socket(), interest(server), 1);
        CHECK_FALSE(poller.wait(10s).empty());
    }
    REQUIRE_FALSE(ec);
    CHECK(client_done);
    CHECK(server_done);
    CHECK(client.wants() == TlsWant::nothing);

    char buffer[64];
    // Nothing sent yet: would block, waiting to read.
    auto none = server.try_recv(buffer, sizeof buffer, ec);
    CHECK_FALSE(ec);
    CHECK_FALSE(none.has_value());
    CHECK(server.wants() == TlsWant::read);

    auto sent = client.try_send("ping", 4, ec);
    REQUIRE(sent.has_value());
    CHECK(*sent == 4);
    poller.modify(server.socket(), Events::readable, 1);
    std::optional<std::size_t> got;
    while (!got && !ec) {
        CHECK_FALSE(poller.wait(10s).empty());
        got = server.try_recv(buffer, sizeof buffer, ec);
    }
    REQUIRE(got.has_value());
    CHECK(std::string(buffer, *got) == "ping");

    // The framing layer's non-blocking path: fill() uses try_recv.
    BasicStreamReader<TlsStream> reader(server);
    send_message(client, "framed", 10s);
    std::optional<std::string_view> m;
    while (!m && !ec) {
        CHECK_FALSE(poller.wait(10s).empty());
        reader.fill(ec);
        if (!ec) m = reader.try_message(ec);
    }
    REQUIRE(m.has_value());
    CHECK(*m == "framed");
}

namespace {

// Every call a TlsStream has, on a stream that has no connection: each error form reports
// tls_errc::not_connected, each throwing form throws it, and nothing crashes.
void check_every_call_on_empty_stream(TlsStream& tls) {
    char buffer[8] = {};
    std::error_code ec;
    auto not_connected = [&] {
        bool ok = ec == tls_errc::not_connected;
        ec.clear();
        return ok;
    };
    auto throws_not_connected = [](auto call) {
        try {
            call();
        } catch (const std::system_error& e) {
            return e.code() == tls_errc::not_connected;
        }
        return false;
    };
    CHECK_FALSE(tls.is_open());
    CHECK_FALSE(static_cast<bool>(tls));
    CHECK_FALSE(tls.handshake_done());
    CHECK(tls.native_handle() == nullptr);
    CHECK(tls.native_socket() == detail::invalid_handle);
    CHECK_FALSE(tls.socket().is_open());
    CHECK(tls.wants() == TlsWant::nothing);
    CHECK(tls.unsent() == 0);
    CHECK(tls.buffered() == 0);
    CHECK(tls.alpn_protocol().empty());
    CHECK(tls.protocol_version().empty());
    CHECK_FALSE(tls.has_peer_certificate());
    CHECK(tls.peer_subject().empty());
    CHECK(tls.rejected_subject().empty());
    CHECK(tls.verify_detail().empty());

    tls.handshake(1s, ec);
    CHECK(not_connected());
    tls.handshake(ec);
    CHECK(not_connected());
    CHECK_FALSE(tls.try_handshake(ec));
    CHECK(not_connected());
    CHECK(tls.recv(buffer, sizeof buffer, 1s, ec) == 0);
    CHECK(not_connected());
    CHECK(tls.recv(buffer, sizeof buffer, ec) == 0);
    CHECK(not_connected());
    CHECK(tls.recv(buffer, 0, ec) == 0);
    CHECK(not_connected());
    CHECK(tls.recv_exact(buffer, sizeof buffer, 1s, ec) == 0);
    CHECK(not_connected());
    CHECK(tls.recv_exact(buffer, sizeof buffer, ec) == 0);
    CHECK(not_connected());
    CHECK(tls.recv_exact(buffer, 0, ec) == 0);
    CHECK(not_connected());
    CHECK(tls.send_all("x", 1, 1s, ec) == 0);
    CHECK(not_connected());
    CHECK(tls.send_all("x", 1, ec) == 0);
    CHECK(not_connected());
    CHECK(tls.send_all("", 0, ec) == 0);
    CHECK(not_connected());
    const ConstBuffer pieces[] = {ConstBuffer("ab", 2), ConstBuffer("c", 1)};
    CHECK(tls.send_all_buffers(pieces, 2, 1s, ec) == 0);
    CHECK(not_connected());
    CHECK(tls.send_all_buffers(pieces, 2, ec) == 0);
    CHECK(not_connected());
    CHECK(tls.send_all_buffers(pieces, 0, ec) == 0);
    CHECK(not_connected());
    CHECK_FALSE(tls.try_recv(buffer, sizeof buffer, ec).has_value());
    CHECK(not_connected());
    CHECK_FALSE(tls.try_send("x", 1, ec).has_value());
    CHECK(not_connected());
    CHECK_FALSE(tls.try_send("", 0, ec).has_value());
    CHECK(not_connected());
    CHECK_FALSE(tls.try_flush(ec));
    CHECK(not_connected());
    tls.shutdown(1s, ec);
    CHECK(not_connected());
    tls.shutdown(ec);
    CHECK(not_connected());
    tls.send_close_notify(1s, ec);
    CHECK(not_connected());
    tls.close(1s, ec);
    CHECK(not_connected());

    CHECK(throws_not_connected([&] { tls.handshake(1s); }));
    CHECK(throws_not_connected([&] { tls.handshake(); }));
    CHECK(throws_not_connected([&] { (void)tls.recv(buffer, sizeof buffer, 1s); }));
    CHECK(throws_not_connected([&] { (void)tls.recv(buffer, sizeof buffer); }));
    CHECK(throws_not_connected([&] { tls.recv_exact(buffer, sizeof buffer, 1s); }));
    CHECK(throws_not_connected([&] { tls.recv_exact(buffer, sizeof buffer); }));
    CHECK(throws_not_connected([&] { tls.send_all("x", 1, 1s); }));
    CHECK(throws_not_connected([&] { tls.send_all("x", 1); }));
    CHECK(throws_not_connected([&] { tls.send_all_buffers(pieces, 2, 1s); }));
    CHECK(throws_not_connected([&] { tls.send_all_buffers(pieces, 2); }));
    CHECK(throws_not_connected([&] { (void)tls.try_recv(buffer, sizeof buffer); }));
    CHECK(throws_not_connected([&] { (void)tls.try_send("x", 1); }));
    CHECK(throws_not_connected([&] { tls.shutdown(1s); }));
    CHECK(throws_not_connected([&] { tls.shutdown(); }));
    CHECK(throws_not_connected([&] { tls.close(1s); }));
    CHECK_FALSE(tls.is_open());
}

}  // namespace

TEST_CASE("tls: every call on an empty, moved-from or closed stream reports not_connected", "[tls][moved]") {
    SECTION("default-constructed") {
        TlsStream tls;
        check_every_call_on_empty_stream(tls);
    }
    SECTION("moved-from, after a handshake; the stream it moved to still works") {
        OneClientServer srv(server_context(), echo_line);
        std::error_code ec;
        TlsStream from = connect_client(srv.address(), trusting_client(), "localhost", ec);
        REQUIRE_FALSE(ec);
        TlsStream to = std::move(from);
        check_every_call_on_empty_stream(from);
        TlsStream assigned;
        assigned = std::move(to);
        check_every_call_on_empty_stream(to);
        send_line(assigned, "moved", 10s);
        CHECK(BasicStreamReader<TlsStream>(assigned).read_line(10s) == "echo: moved");
        assigned.shutdown(10s);
        CHECK(srv.finish().data == "moved");
    }
    SECTION("closed") {
        OneClientServer srv(server_context(), echo_line);
        std::error_code ec;
        TlsStream tls = connect_client(srv.address(), trusting_client(), "localhost", ec);
        REQUIRE_FALSE(ec);
        send_line(tls, "bye", 10s);
        CHECK(BasicStreamReader<TlsStream>(tls).read_line(10s) == "echo: bye");
        tls.close(10s);
        srv.finish();
        check_every_call_on_empty_stream(tls);
    }
}

TEST_CASE("tls: every call on a moved-from context reports no_context, and nothing crashes", "[tls][moved]") {
    for (bool server : {false, true}) {
        INFO((server ? "server" : "client") << " context");
        TlsContext context = server ? server_context() : trusting_client();
        TlsContext moved = std::move(context);
        CHECK(moved.is_valid());
        CHECK_FALSE(context.is_valid());
        CHECK_FALSE(context.is_server());
        CHECK_FALSE(context.verifies_peer());
        CHECK(context.native_handle() == nullptr);

        std::error_code ec;
        auto no_context = [&] {
            bool ok = ec == tls_errc::no_context;
            ec.clear();
            return ok;
        };
        auto throws_no_context = [](auto call) {
            try {
                call();
            } catch (const std::system_error& e) {
                return e.code() == tls_errc::no_context;
            }
            return false;
        };
        const std::string ca = read_file(cert("ca"));
        context.load_verify_file(cert("ca"), ec);
        CHECK(no_context());
        context.load_verify_dir(cert_dir(), ec);
        CHECK(no_context());
        context.add_certificate_authority_pem(ca, ec);
        CHECK(no_context());
        context.use_certificate_chain_file(cert("server"), ec);
        CHECK(no_context());
        context.use_private_key_file(key("server"), ec);
        CHECK(no_context());
        context.use_certificate_chain_pem(read_file(cert("server")), ec);
        CHECK(no_context());
        context.use_private_key_pem(read_file(key("server")), ec);
        CHECK(no_context());
        context.set_alpn({"h2"}, ec);
        CHECK(no_context());
        CHECK(throws_no_context([&] { context.load_verify_file(cert("ca")); }));
        CHECK(throws_no_context([&] { context.load_verify_dir(cert_dir()); }));
        CHECK(throws_no_context([&] { context.add_certificate_authority_pem(ca); }));
        CHECK(throws_no_context([&] { context.use_certificate_chain_file(cert("server")); }));
        CHECK(throws_no_context([&] { context.use_private_key_file(key("server")); }));
        CHECK(throws_no_context([&] { context.use_certificate_chain_pem(read_file(cert("server"))); }));
        CHECK(throws_no_context([&] { context.use_private_key_pem(read_file(key("server"))); }));
        CHECK(throws_no_context([&] { context.set_alpn({"h2"}); }));
        // The noexcept setters have nothing to configure: they change nothing.
        context.require_client_certificate();
        context.insecure_skip_verification();
        context.set_min_version(TlsVersion::tls1_3);
        CHECK_FALSE(context.is_valid());
        CHECK_FALSE(context.verifies_peer());

        // A copy of it is as empty; no stream can be made from it.
        TlsContext copy = context;
        CHECK_FALSE(copy.is_valid());
        auto pair = test::tcp_pair();
        TlsStream tls = TlsStream::client(std::move(pair.client), context, "localhost", ec);
        CHECK(no_context());
        CHECK_FALSE(tls.is_open());
        tls = TlsStream::server(std::move(pair.server), copy, ec);
        CHECK(no_context());
        CHECK(throws_no_context([&] { (void)TlsStream::client(connect_to(pair.listener.local_address(), 10s), context, "localhost"); }));
        CHECK(throws_no_context([&] { (void)tls_connect(connect_to(pair.listener.local_address(), 10s), context, "localhost", 1s); }));
        tls = tls_connect(connect_to(pair.listener.local_address(), 10s), context, "localhost", 1s, ec);
        CHECK(no_context());
        CHECK(throws_no_context([&] { (void)TlsStream::server(connect_to(pair.listener.local_address(), 10s), copy); }));
        CHECK(throws_no_context([&] { (void)tls_accept(connect_to(pair.listener.local_address(), 10s), copy, 1s); }));
        tls = tls_accept(connect_to(pair.listener.local_address(), 10s), copy, 1s, ec);
        CHECK(ec.message().find("moved-from") != std::string::npos);
        CHECK(no_context());

        // Assigning a context to it makes it whole again.
        context = moved;
        CHECK(context.is_valid());
        CHECK(context.is_server() == server);
    }
}

namespace {
// A raw server: answers the first record of the next client (its ClientHello) with bytes (an
// alert), then closes politely.
std::thread answer_hello_with(Socket& listener, const char* bytes, std::size_t size) {
    return std::thread([&listener, bytes, size] {
        std::error_code ec;
        Socket s = listener.accept(10s, ec);
        char hello[5];
        if (!ec) (void)s.recv_exact(hello, sizeof hello, 10s, ec);  // a record has begun
        if (!ec) (void)s.send_all(bytes, size, 10s, ec);
        if (!ec) s.graceful_close(10s, ec);
    });
}
}  // namespace

TEST_CASE("tls: an alert OpenSSL has no name for still says what it is", "[tls][alert]") {
    // A fatal alert with description 255, which no TLS version defines: its OpenSSL code has no
    // reason string, and the message once was only "OpenSSL error 167773415".
    const char alert[] = {0x15, 0x03, 0x03, 0x00, 0x02, 0x02, static_cast<char>(0xff)};
    auto check_message = [](const std::string& text) {
        INFO(text);
        CHECK(text.find("OpenSSL error") == std::string::npos);
        CHECK(text.find("alert") != std::string::npos);
        CHECK(text.find("255") != std::string::npos);
        CHECK(text.find("SSL routines") != std::string::npos);  // the library too
    };
    SECTION("a server that answers the ClientHello with it") {
        auto listener = listen_on(Address::loopback(Family::ipv4, 0));
        std::thread raw_server = answer_hello_with(listener, alert, sizeof alert);
        std::error_code ec;
        TlsStream tls = connect_client(listener.local_address(), trusting_client(), "localhost", ec);
        CHECK(ec.category() == tls_category());
        check_message(ec.message());
        tls.socket().graceful_close(10s);
        raw_server.join();
        std::thread again = answer_hello_with(listener, alert, sizeof alert);
        try {
            (void)tls_connect(connect_to(listener.local_address(), 10s), trusting_client(), "localhost", 10s);
            FAIL("handshake succeeded");
        } catch (const std::system_error& e) {
            check_message(e.what());
        }
        again.join();
    }
    SECTION("alerts TLS defines and OpenSSL 3.0 has no words for are named, not called undefined") {
        // Found by an independent review: a fatal close_notify (0) and ech_required (121).
        for (auto [number, name] : {std::pair<int, const char*>{0, "close_notify"}, {121, "ech_required"}}) {
            const char defined[] = {0x15, 0x03, 0x03, 0x00, 0x02, 0x02, static_cast<char>(number)};
            auto listener = listen_on(Address::loopback(Family::ipv4, 0));
            std::thread raw_server = answer_hello_with(listener, defined, sizeof defined);
            std::error_code ec;
            TlsStream tls = connect_client(listener.local_address(), trusting_client(), "localhost", ec);
            tls.socket().graceful_close(10s);
            raw_server.join();
            INFO(number << ": " << ec.message());
            CHECK(ec.category() == tls_category());
            if (ec.message().find("alert") != std::string::npos) {  // OpenSSL may call a fatal 0 something else
                CHECK(ec.message().find("not one TLS defines") == std::string::npos);
                if (ec.message().find("tls alert " + std::to_string(number) + " ") != std::string::npos)
                    CHECK(ec.message().find(name) != std::string::npos);
            }
        }
    }
    // Our client's ClientHello, taken off the wire, starts a handshake a raw client then breaks.
    auto client_hello = [] {
        auto pair = test::tcp_pair();
        TlsStream maker = TlsStream::client(std::move(pair.client), trusting_client(), "localhost");
        std::error_code ec;
        (void)maker.try_handshake(ec);  // sends it, then would wait for the answer
        unsigned char header[5];
        pair.server.recv_exact(header, sizeof header, 10s);
        std::string hello(reinterpret_cast<char*>(header), sizeof header);
        hello.resize(sizeof header + (header[3] << 8 | header[4]));
        pair.server.recv_exact(&hello[sizeof header], hello.size() - sizeof header, 10s);
        return hello;
    };
    auto raw_client = [&](const Address& server, const char* bytes, std::size_t size) {
        Socket raw = connect_to(server, 10s);
        raw.send_all(client_hello(), 10s);
        char server_hello[5];
        raw.recv_exact(server_hello, sizeof server_hello, 10s);  // the server has answered
        raw.send_all(bytes, size, 10s);
        raw.graceful_close(10s);
    };
    SECTION("a client that answers the ServerHello with it") {
        OneClientServer srv(server_context(), nothing);
        raw_client(srv.address(), alert, sizeof alert);
        ServerResult r = srv.finish();
        CHECK(r.handshake.category() == tls_category());
        check_message(r.handshake.message());
    }
    SECTION("a named alert keeps its name, with the library") {
        OneClientServer srv(server_context(), nothing);
        const char failure[] = {0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 40};  // handshake_failure
        raw_client(srv.address(), failure, sizeof failure);
        ServerResult r = srv.finish();
        INFO(r.handshake.message());
        CHECK(r.handshake.message().find("alert handshake failure (SSL routines)") != std::string::npos);
    }
}

TEST_CASE("tls: errors never leak between calls or threads", "[tls]") {
    // A failed load leaves nothing in the queue for the next, unrelated call.
    TlsContext server = TlsContext::server();
    std::error_code ec;
    server.use_private_key_file(cert_dir() + "/missing.key", ec);
    CHECK(ec);
    CHECK(::ERR_peek_error() == 0);
    OneClientServer srv(server_context(), echo_line);
    TlsStream tls = connect_client(srv.address(), trusting_client(), "localhost", ec);
    CHECK_FALSE(ec);
    send_line(tls, "clean", 10s);
    CHECK(BasicStreamReader<TlsStream>(tls).read_line(10s) == "echo: clean");
    tls.shutdown(10s);
    CHECK_FALSE(srv.finish().body);
}

// ---- key update (TLS 1.3) and renegotiation (TLS 1.2) -----------------------------------

namespace {

// Counts the KeyUpdate messages a stream sends and receives, so a test proves the keys did
// change under the transfer, not merely that the data arrived.
struct KeyUpdates {
    int sent = 0;
    int received = 0;
    void watch(SSL* ssl) {
        ::SSL_set_msg_callback_arg(ssl, this);
        ::SSL_set_msg_callback(ssl, [](int write_p, int, int content_type, const void* buf, std::size_t len, SSL*,
                                       void* arg) {
            if (content_type != SSL3_RT_HANDSHAKE || len == 0) return;
            if (static_cast<const unsigned char*>(buf)[0] != SSL3_MT_KEY_UPDATE) return;
            auto* self = static_cast<KeyUpdates*>(arg);
            ++(write_p ? self->sent : self->received);
        });
    }
};

std::error_code key_update(TlsStream& tls, int type) {
    if (::SSL_key_update(tls.native_handle(), type) == 1) return {};
    return detail::take_openssl_error(tls.native_handle(), std::make_error_code(std::errc::protocol_error));
}

TlsContext tls12_server_context() {
    TlsContext c = server_context();
    ::SSL_CTX_set_max_proto_version(c.native_handle(), TLS1_2_VERSION);
    return c;
}

std::error_code renegotiate(TlsStream& tls) {
    if (::SSL_renegotiate(tls.native_handle()) == 1) return {};
    return detail::take_openssl_error(tls.native_handle(), std::make_error_code(std::errc::protocol_error));
}

int renegotiations(const TlsStream& tls) { return static_cast<int>(SSL_total_renegotiations(tls.native_handle())); }

}  // namespace

TEST_CASE("tls 1.3: key updates between and during large transfers, blocking calls", "[tls][keyupdate]") {
    const std::size_t size = 4u << 20, chunk = 256u << 10, chunks = size / chunk;
    const auto down = test::pattern(size, 11), up = test::pattern(size, 12);
    std::vector<unsigned char> at_server(size);
    KeyUpdates server_updates;
    OneClientServer srv(server_context(), [&](TlsStream& tls, ServerResult& r) {
        server_updates.watch(tls.native_handle());
        // The client is inside one recv_exact all along; half the updates ask it to answer
        // with its own, which it must write from inside that read.
        for (std::size_t i = 0; i < chunks && !r.body; ++i) {
            r.body = key_update(tls, i % 2 ? SSL_KEY_UPDATE_NOT_REQUESTED : SSL_KEY_UPDATE_REQUESTED);
            if (!r.body) (void)tls.send_all(down.data() + i * chunk, chunk, 10s, r.body);
        }
        // The client is inside one send_all: each update goes out at once (handshake()),
        // while its records keep coming under the keys we had before.
        for (std::size_t i = 0; i < chunks && !r.body; ++i) {
            (void)tls.recv_exact(at_server.data() + i * chunk, chunk, 10s, r.body);
            if (!r.body) r.body = key_update(tls, SSL_KEY_UPDATE_REQUESTED);
            if (!r.body) tls.handshake(10s, r.body);
        }
        if (!r.body) tls.shutdown(10s, r.body);
    });
    std::error_code ec;
    TlsStream tls = connect_client(srv.address(), trusting_client(), "localhost", ec);
    REQUIRE_FALSE(ec);
    KeyUpdates client_updates;
    client_updates.watch(tls.native_handle());
    std::vector<unsigned char> at_client(size);
    CHECK(tls.recv_exact(at_client.data(), size, 10s, ec) == size);
    CHECK_FALSE(ec);
    const int answered_while_reading = client_updates.sent;
    CHECK(tls.send_all(up.data(), size, 10s, ec) == size);
    CHECK_FALSE(ec);
    char byte;
    CHECK(tls.recv(&byte, 1, 10s, ec) == 0);  // the updates still queued, then close_notify
    CHECK_FALSE(ec);
    tls.shutdown(10s, ec);
    CHECK_FALSE(ec);
    ServerResult r = srv.finish();
    INFO(r.body.message());
    CHECK_FALSE(r.body);
    CHECK(at_client == down);
    CHECK(at_server == up);
    CHECK(server_updates.sent == static_cast<int>(2 * chunks));
    CHECK(client_updates.received == static_cast<int>(2 * chunks));
    // Requests that arrive together are answered by one update, so only bounds are exact.
    CHECK(answered_while_reading >= 1);
    CHECK(answered_while_reading <= static_cast<int>(chunks / 2));
    CHECK(client_updates.sent > answered_while_reading);
    CHECK(client_updates.sent <= static_cast<int>(chunks / 2 + chunks));
    CHECK(server_updates.received == client_updates.sent);
}

// Fixed bug: OpenSSL 3.0 fails a read that must answer a requested key update while one of
// our writes is pending (SSL_R_BAD_LENGTH, the connection is dead; openssl/openssl#8677). A
// full-duplex non-blocking transfer hits it whenever a write would block and the peer asks.
TEST_CASE("tls 1.3: key updates both ways during a full-duplex non-blocking transfer", "[tls][keyupdate]") {
    // Small kernel buffers: both sides are soon blocked writing, so a read that must answer a
    // requested update meets a full socket (wants() == write).
    auto pair = test::tcp_pair();
    for (Socket* s : {&pair.client, &pair.server}) {
        s->set_send_buffer_size(16 * 1024);
        s->set_receive_buffer_size(16 * 1024);
    }
    struct Side {
        TlsStream tls;
        std::vector<unsigned char> out, in;
        std::size_t sent = 0, got = 0, next_update = 0;
        int updates = 0;
        TlsWant send_want = TlsWant::nothing, recv_want = TlsWant::nothing;
        KeyUpdates seen;
        bool done() const { return sent == out.size() && got == in.size() && tls.unsent() == 0; }
    };
    const std::size_t size = 2u << 20, every = 64u << 10;
    Side sides[2];
    sides[0].tls = TlsStream::client(std::move(pair.client), trusting_client(), "localhost");
    sides[1].tls = TlsStream::server(std::move(pair.server), server_context());
    sides[0].out = test::pattern(size, 21);
    sides[1].out = test::pattern(size, 22);
    Poller poller;
    std::error_code ec;
    for (int i = 0; i < 2; ++i) {
        sides[i].in.resize(size);
        poller.add(sides[i].tls.socket(), Events::readable, static_cast<std::uint64_t>(i));
    }
    auto interest = [](TlsWant w) {
        return w == TlsWant::write ? Events::writable : w == TlsWant::read ? Events::readable : Events::none;
    };
    bool handshaken[2] = {false, false};
    for (int rounds = 0; !(handshaken[0] && handshaken[1]) && !ec && rounds < 100; ++rounds) {
        for (int i = 0; i < 2 && !ec; ++i)
            if (!handshaken[i]) handshaken[i] = sides[i].tls.try_handshake(ec);
        for (int i = 0; i < 2; ++i)
            if (!handshaken[i]) poller.modify(sides[i].tls.socket(), interest(sides[i].tls.wants()), static_cast<std::uint64_t>(i));
        if (!(handshaken[0] && handshaken[1])) REQUIRE_FALSE(poller.wait(10s).empty());
    }
    REQUIRE_FALSE(ec);
    for (Side& s : sides) s.seen.watch(s.tls.native_handle());

    const char* failed = "";
    int reads_leaving_unsent = 0;  // reads that wrote (an answer) while the socket was full
    auto step = [&](Side& s) {
        while (s.sent < size && !ec) {
            if (s.sent >= s.next_update) {
                ec = key_update(s.tls, s.updates++ % 2 ? SSL_KEY_UPDATE_NOT_REQUESTED : SSL_KEY_UPDATE_REQUESTED);
                s.next_update += every;
                if (ec) {
                    failed = "key_update";
                    return;
                }
            }
            // A retry after would-block passes the same bytes again, as OpenSSL requires.
            std::size_t piece = std::min<std::size_t>(64u << 10, size - s.sent);
            auto n = s.tls.try_send(s.out.data() + s.sent, piece, ec);
            if (ec) failed = "try_send";
            if (!n) {
                s.send_want = s.tls.wants();
                break;
            }
            s.send_want = TlsWant::nothing;
            s.sent += *n;
        }
        while (s.got < size && !ec) {
            auto n = s.tls.try_recv(s.in.data() + s.got, size - s.got, ec);
            if (ec) failed = "try_recv";
            if (!n) {
                s.recv_want = s.tls.wants();
                break;
            }
            s.recv_want = TlsWant::nothing;
            reads_leaving_unsent += s.tls.unsent() > 0;
            if (*n == 0) ec = errc::end_of_stream;
            s.got += *n;
        }
        // Its last record, or its answer to a request, may still wait for room.
        if (!ec && s.tls.unsent() > 0 && s.sent == size) s.tls.try_flush(ec);
    };
    int rounds = 0;
    while (!(sides[0].done() && sides[1].done()) && !ec && ++rounds < 100000) {
        for (Side& s : sides) step(s);
        if (ec) break;
        for (int i = 0; i < 2; ++i) {
            Side& s = sides[i];
            Events e = Events::none;
            if (s.sent < size) e = e | interest(s.send_want);
            if (s.got < size) e = e | interest(s.recv_want);
            if (s.tls.unsent() > 0) e = e | Events::writable;
            poller.modify(s.tls.socket(), e, static_cast<std::uint64_t>(i));
        }
        if (!(sides[0].done() && sides[1].done())) REQUIRE_FALSE(poller.wait(10s).empty());
    }
    INFO(failed << ": " << ec.message() << " after " << rounds << " rounds");
    REQUIRE_FALSE(ec);
    CHECK(sides[0].in == sides[1].out);
    CHECK(sides[1].in == sides[0].out);
    const int updates = static_cast<int>(size / every);
    for (Side& s : sides) {
        CHECK(s.updates == updates);
        CHECK(s.seen.received >= updates);  // its peer's own, plus answers to its requests
    }
    CHECK(reads_leaving_unsent > 0);
    // A key update sent after the last data byte is still unread: both close, and each reads up
    // to the other's close_notify, which comes after everything the other sent.
    for (Side& s : sides) s.tls.send_close_notify(10s, ec);
    REQUIRE_FALSE(ec);
    for (Side& s : sides) {
        char byte;
        CHECK(s.tls.recv(&byte, 1, 10s, ec) == 0);
        CHECK_FALSE(ec);
    }
    CHECK(sides[0].seen.sent == sides[1].seen.received);
    CHECK(sides[1].seen.sent == sides[0].seen.received);
}

TEST_CASE("tls 1.2: a server-initiated renegotiation with data in flight both ways", "[tls][renegotiation]") {
    const std::size_t size = 2u << 20, half = size / 2;
    const auto down = test::pattern(size, 31), up = test::pattern(size, 32);
    std::vector<unsigned char> at_server(size);
    int server_renegotiations = 0;
    OneClientServer srv(tls12_server_context(), [&](TlsStream& tls, ServerResult& r) {
        // HelloRequest goes out while the client is inside send_all, not reading.
        (void)tls.recv_exact(at_server.data(), half, 10s, r.body);
        if (!r.body) r.body = renegotiate(tls);
        if (!r.body) tls.handshake(10s, r.body);
        // The client's records in the old keys keep coming until it reads the request.
        if (!r.body) (void)tls.recv_exact(at_server.data() + half, size - half, 10s, r.body);
        // The client reads the request inside its recv_exact and sends ClientHello, which we
        // leave unread while we write.
        if (!r.body) (void)tls.send_all(down.data(), size, 10s, r.body);
        char done[4];
        // The new handshake runs inside this read, driven by the client's next write.
        if (!r.body) (void)tls.recv_exact(done, sizeof done, 10s, r.body);
        if (!r.body) r.data.assign(done, sizeof done);
        server_renegotiations = renegotiations(tls);
        if (!r.body && ::SSL_renegotiate_pending(tls.native_handle())) r.body = std::make_error_code(std::errc::protocol_error);
        if (!r.body) tls.shutdown(10s, r.body);
    });
    std::error_code ec;
    TlsStream tls = connect_client(srv.address(), trusting_client(), "localhost", ec);
    REQUIRE_FALSE(ec);
    CHECK(tls.protocol_version() == "TLSv1.2");
    CHECK(tls.send_all(up.data(), size, 10s, ec) == size);
    CHECK_FALSE(ec);
    std::vector<unsigned char> at_client(size);
    CHECK(tls.recv_exact(at_client.data(), size, 10s, ec) == size);
    CHECK_FALSE(ec);
    CHECK(tls.send_all("done", 4, 10s, ec) == 4);
    CHECK_FALSE(ec);
    char byte;
    CHECK(tls.recv(&byte, 1, 10s, ec) == 0);
    CHECK_FALSE(ec);
    tls.shutdown(10s, ec);
    CHECK_FALSE(ec);
    ServerResult r = srv.finish();
    INFO(r.body.message());
    CHECK_FALSE(r.body);
    CHECK(r.data == "done");
    CHECK(at_client == down);
    CHECK(at_server == up);
    CHECK(renegotiations(tls) == 1);
    CHECK(server_renegotiations == 1);
    CHECK(tls.peer_subject() == "/CN=localhost");  // the new handshake checked the certificate again
}

TEST_CASE("tls 1.2: our server refuses a client-initiated renegotiation", "[tls][renegotiation]") {
    OneClientServer srv(tls12_server_context(), [](TlsStream& tls, ServerResult& r) {
        char byte;
        (void)tls.recv(&byte, 1, 10s, r.body);
    });
    std::error_code ec;
    TlsStream tls = connect_client(srv.address(), trusting_client(), "localhost", ec);
    REQUIRE_FALSE(ec);
    REQUIRE(renegotiate(tls) == std::error_code());
    tls.handshake(10s, ec);
    INFO(ec.message());
    CHECK(ec.category() == tls_category());
    CHECK(ec.message().find("renegotiation") != std::string::npos);
    ServerResult r = srv.finish();
    INFO(r.body.message());
    CHECK(r.body);  // the client's fatal alert
}

TEST_CASE("tls 1.2: a recv's deadline holds while the peer never finishes its renegotiation", "[tls][renegotiation]") {
    std::promise<void> timed_out;
    OneClientServer srv(tls12_server_context(), [&](TlsStream& tls, ServerResult& r) {
        r.body = renegotiate(tls);
        if (!r.body) tls.handshake(10s, r.body);  // sends HelloRequest, then reads nothing
        if (r.body) return;
        timed_out.get_future().wait_for(10s);
        char ping[4];
        (void)tls.recv_exact(ping, sizeof ping, 10s, r.body);  // the ClientHello, at last
        if (!r.body) r.data.assign(ping, sizeof ping);
        if (!r.body) (void)tls.send_all("pong", 4, 10s, r.body);
        if (!r.body) tls.shutdown(10s, r.body);
    });
    std::error_code ec;
    TlsStream tls = connect_client(srv.address(), trusting_client(), "localhost", ec);
    REQUIRE_FALSE(ec);
    char buffer[8];
    auto start = Clock::now();
    CHECK(tls.recv(buffer, sizeof buffer, 300ms, ec) == 0);
    auto took = Clock::now() - start;
    CHECK(ec == std::errc::timed_out);
    CHECK(took >= 300ms);
    CHECK(took < 5s);
    CHECK(renegotiations(tls) == 1);  // it did answer the request: the ClientHello is out
    CHECK(::SSL_renegotiate_pending(tls.native_handle()) == 1);
    auto none = tls.try_recv(buffer, sizeof buffer, ec);
    CHECK_FALSE(ec);
    CHECK_FALSE(none.has_value());
    CHECK(tls.wants() == TlsWant::read);
    timed_out.set_value();
    // The stream is still good: the handshake finishes under our next calls.
    CHECK(tls.send_all("ping", 4, 10s, ec) == 4);
    CHECK_FALSE(ec);
    CHECK(tls.recv_exact(buffer, 4, 10s, ec) == 4);
    CHECK(std::string(buffer, 4) == "pong");
    CHECK(::SSL_renegotiate_pending(tls.native_handle()) == 0);
    tls.shutdown(10s, ec);
    CHECK_FALSE(ec);
    ServerResult r = srv.finish();
    INFO(r.body.message());
    CHECK_FALSE(r.body);
    CHECK(r.data == "ping");
}

// ---- interoperability --------------------------------------------------------------------

TEST_CASE("tls interop: our client against openssl s_server", "[tls][interop]") {
    SKIP_ON_WINDOWS("needs the openssl tool and a POSIX shell");
    Child server("openssl s_server -accept 127.0.0.1:0 -naccept 1 -rev -cert " + cert("server") + " -key " +
                 key("server") + " 2>&1");
    std::string line;
    int port = 0;
    for (int i = 0; i < 10 && port == 0; ++i) {
        line = server.line();
        auto at = line.find("ACCEPT");
        if (at != std::string::npos) port = std::atoi(line.c_str() + line.rfind(':') + 1);
    }
    INFO(line);
    REQUIRE(port > 0);
    std::error_code ec;
    TlsStream tls = tls_connect(connect_to(Address::loopback(Family::ipv4, static_cast<std::uint16_t>(port)), 10s),
                                trusting_client(), "localhost", 10s, ec);
    REQUIRE_FALSE(ec);
    send_line(tls, "hello", 10s);
    BasicStreamReader<TlsStream> reader(tls);
    CHECK(reader.read_line(10s) == "olleh");  // -rev: each line reversed
    tls.shutdown(2s, ec);  // s_server may or may not answer with its own close_notify
    tls = TlsStream();
    server.rest();
    CHECK(server.wait() == 0);
}

TEST_CASE("tls interop: openssl s_client against our server", "[tls][interop]") {
    SKIP_ON_WINDOWS("needs the openssl tool and a POSIX shell");
    OneClientServer srv(server_context(), echo_line);
    Child client("sh -c 'printf \"from s_client\\n\" | openssl s_client -connect 127.0.0.1:" +
                 std::to_string(srv.address().port()) + " -servername localhost -verify_return_error -CAfile " +
                 cert("ca") + " -quiet -ign_eof 2>&1'");
    std::string out = client.rest();
    INFO(out);
    CHECK(out.find("echo: from s_client") != std::string::npos);
    CHECK(out.find("verify return:1") != std::string::npos);
    CHECK(client.wait() == 0);
    ServerResult r = srv.finish();
    CHECK_FALSE(r.handshake);
    CHECK(r.data == "from s_client");
}

TEST_CASE("tls interop: openssl s_client rejects our untrusted certificate", "[tls][interop]") {
    SKIP_ON_WINDOWS("needs the openssl tool and a POSIX shell");
    OneClientServer srv(server_context("stranger"), nothing);
    Child client("sh -c 'openssl s_client -connect 127.0.0.1:" + std::to_string(srv.address().port()) +
                 " -verify_return_error -CAfile " + cert("ca") + " </dev/null 2>&1'");
    std::string out = client.rest();
    INFO(out);
    CHECK(out.find("unable to get local issuer certificate") != std::string::npos);
    CHECK(client.wait() != 0);
    ServerResult r = srv.finish();
    // s_client exits without reading the rest of our flight: a reset, which may destroy its
    // alert (the header's documented alternative).
    INFO("server: " << r.handshake.category().name() << ": " << r.handshake.message());
    if (r.handshake.category() == tls_category())
        CHECK(r.handshake.message().find("alert unknown ca") != std::string::npos);
    else
        CHECK(r.handshake == std::errc::connection_reset);
}

TEST_CASE("tls interop: Python's ssl module as client and as server", "[tls][interop]") {
    SKIP_ON_WINDOWS("needs python3 and a POSIX shell");
    if (!have_python_ssl()) {
        WARN("python3 with ssl not found: skipped");
        return;
    }
    SECTION("Python client, our server") {
        OneClientServer srv(server_context(), echo_line);
        std::string script =
            "import socket, ssl, sys\n"
            "ctx = ssl.create_default_context(cafile=sys.argv[2])\n"
            "with socket.create_connection(('127.0.0.1', int(sys.argv[1]))) as raw:\n"
            "    with ctx.wrap_socket(raw, server_hostname='localhost') as s:\n"
            "        s.sendall(b'from python\\n')\n"
            "        data = b''\n"
            "        while not data.endswith(b'\\n'):\n"
            "            data += s.recv(100)\n"
            "        print(data.decode().strip(), s.version())\n"
            "        s.unwrap()\n";
        std::ofstream(cert_dir() + "/client.py") << script;
        Child client("python3 " + cert_dir() + "/client.py " + std::to_string(srv.address().port()) + " " +
                     cert("ca") + " 2>&1");
        std::string out = client.rest();
        INFO(out);
        CHECK(out == "echo: from python TLSv1.3\n");
        CHECK(client.wait() == 0);
        ServerResult r = srv.finish();
        CHECK_FALSE(r.body);
        CHECK(r.data == "from python");
    }
    SECTION("our client, Python server with TLS 1.2 only") {
        std::string script =
            "import socket, ssl, sys\n"
            "ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)\n"
            "ctx.maximum_version = ssl.TLSVersion.TLSv1_2\n"
            "ctx.load_cert_chain(sys.argv[1], sys.argv[2])\n"
            "ctx.set_alpn_protocols(['x-py'])\n"
            "with socket.create_server(('127.0.0.1', 0)) as listener:\n"
            "    print(listener.getsockname()[1], flush=True)\n"
            "    raw, _ = listener.accept()\n"
            "    with ctx.wrap_socket(raw, server_side=True) as s:\n"
            "        data = s.recv(100)\n"
            "        s.sendall(data.upper())\n"
            "        s.unwrap()\n"
            "    print('python done', flush=True)\n";
        std::ofstream(cert_dir() + "/server.py") << script;
        Child server("python3 " + cert_dir() + "/server.py " + cert("server") + " " + key("server") + " 2>&1");
        int port = std::atoi(server.line().c_str());
        REQUIRE(port > 0);
        TlsContext client = trusting_client();
        client.set_alpn({"x-py"});
        std::error_code ec;
        TlsStream tls = tls_connect(connect_to(Address::loopback(Family::ipv4, static_cast<std::uint16_t>(port)), 10s),
                                    client, "127.0.0.1", 10s, ec);
        REQUIRE_FALSE(ec);
        CHECK(tls.protocol_version() == "TLSv1.2");
        CHECK(tls.alpn_protocol() == "x-py");
        tls.send_all("shout", 5, 10s);
        char buffer[16];
        CHECK(tls.recv_exact(buffer, 5, 10s) == 5);
        CHECK(std::string(buffer, 5) == "SHOUT");
        CHECK(tls.recv(buffer, sizeof buffer, 10s) == 0);  // Python's close_notify
        tls.shutdown(10s);
        CHECK(server.rest() == "python done\n");
        CHECK(server.wait() == 0);
    }
}

TEST_CASE("tls: the Socket's conveniences: plain tls_connect/tls_accept, containers, Poller, TlsStreamReader, non-blocking end", "[tls][ergonomics]") {
    auto pair = test::tcp_pair();
    TlsContext server_ctx = server_context();
    std::error_code server_ec;
    TlsStream server;
    // The forms without a Timeout: a handshake that waits as long as the peer takes.
    std::thread accepting([&] { server = tls_accept(std::move(pair.server), server_ctx, server_ec); });
    TlsStream client = tls_connect(std::move(pair.client), trusting_client(), "localhost");
    accepting.join();
    REQUIRE_FALSE(server_ec);
    REQUIRE(client.handshake_done());

    Poller poller;
    poller.add(server, Events::readable, 1);  // the stream itself, not server.socket()
    poller.add(client, Events::readable, 0);
    std::error_code ec;
    const std::string ping = "ping";
    auto sent = client.try_send(ping, ec);
    REQUIRE(sent.has_value());
    CHECK(*sent == 4);

    std::string empty;
    CHECK_FALSE(server.try_recv(empty, ec).has_value());
    CHECK(ec == errc::empty_buffer);
    CHECK(server.recv(empty, 10s, ec) == 0);
    CHECK(ec == errc::empty_buffer);
    CHECK_THROWS_AS((void)server.recv(empty), TransferError);
    CHECK_THROWS_AS((void)server.try_recv(empty), TransferError);
    {  // a stream without a connection says so first, as a closed Socket does
        TlsStream none;
        CHECK(none.recv(empty, 10s, ec) == 0);
        CHECK(ec == tls_errc::not_connected);
        CHECK_FALSE(none.try_recv(empty, ec).has_value());
        CHECK(ec == tls_errc::not_connected);
        CHECK(none.recv_some(0, ec).empty());
        CHECK(ec == tls_errc::not_connected);
        try {
            (void)none.recv(empty);
            FAIL("no exception");
        } catch (const TransferError& e) {
            CHECK(e.code() == tls_errc::not_connected);
        }
    }

    std::string buffer(64, '\0');
    std::optional<std::size_t> got;
    ec.clear();
    for (int i = 0; i < 100 && !got && !ec; ++i) {
        (void)poller.wait(10s);
        got = server.try_recv(buffer, ec);
    }
    REQUIRE(got.has_value());
    CHECK(buffer.substr(0, *got) == "ping");
    poller.modify(server, Events::readable, 1);

    TlsStreamReader reader(server);
    send_line(client, "one line", 10s);
    CHECK(reader.read_line(10s) == "one line");
    client.send_all("xyz", 10s);
    CHECK(server.recv_some(10, 10s) == "xyz");

    // The non-blocking orderly end: shutdown(Timeout::zero()) sends close_notify at once and
    // reports timed_out until the peer's has been read; called again once readable, it ends.
    client.shutdown(Timeout::zero(), ec);
    CHECK(ec == std::errc::timed_out);
    CHECK(server.recv_some(10, 10s, ec).empty());  // the client's close_notify: the end
    CHECK_FALSE(ec);
    server.shutdown(Timeout::zero(), ec);  // the peer's came already: ours goes, done
    CHECK_FALSE(ec);
    poller.remove(server);
    for (int i = 0; i < 100; ++i) {
        client.shutdown(Timeout::zero(), ec);
        if (ec != std::errc::timed_out) break;
        (void)poller.wait(10s);
    }
    CHECK_FALSE(ec);
    poller.remove(client, ec);
    CHECK_FALSE(ec);
}

TEST_CASE("tls: OutputBuffer::try_flush and try_shutdown, non-blocking to the orderly end", "[tls][nonblocking]") {
    auto pair = test::tcp_pair();
    TlsStream client = TlsStream::client(std::move(pair.client), trusting_client(), "localhost");
    TlsStream server = TlsStream::server(std::move(pair.server), server_context());
    Poller poller;
    poller.add(client.socket(), Events::readable, 0);
    poller.add(server.socket(), Events::readable, 1);
    auto interest = [](const TlsStream& s) {
        return s.wants() == TlsWant::write || s.unsent() > 0 ? Events::readable | Events::writable : Events::readable;
    };
    std::error_code ec;
    bool client_done = false, server_done = false;
    for (int rounds = 0; !(client_done && server_done) && !ec && rounds < 100; ++rounds) {
        if (!client_done) client_done = client.try_handshake(ec);
        if (!server_done && !ec) server_done = server.try_handshake(ec);
        if (ec || (client_done && server_done)) break;
        poller.modify(client.socket(), interest(client), 0);
        poller.modify(server.socket(), interest(server), 1);
        REQUIRE_FALSE(poller.wait(10s).empty());
    }
    REQUIRE_FALSE(ec);
    REQUIRE((client_done && server_done));

    // More than the socket buffers hold, so try_flush has to stop and resume.
    OutputBuffer out;
    const std::string long_line(3u << 20, 'x');
    out.append_line(long_line);
    out.append_message("after", ec);
    REQUIRE_FALSE(ec);
    BasicStreamReader<TlsStream> reader(server, 4u << 20);
    bool flushed = false;
    std::optional<std::string> line, message;
    for (int rounds = 0; !(flushed && line && message) && !ec && rounds < 100000; ++rounds) {
        if (!flushed) flushed = out.try_flush(client, ec);
        if (ec) break;
        FillResult filled = reader.fill(ec);
        if (ec) break;
        if (!line) {
            if (auto l = reader.try_line(ec)) line = std::string(*l);
        } else if (!message) {
            if (auto m = reader.try_message(ec)) message = std::string(*m);
        }
        if (filled == FillResult::would_block && !line && !flushed) {
            poller.modify(client.socket(), Events::writable, 0);
            poller.modify(server.socket(), Events::readable, 1);
            REQUIRE_FALSE(poller.wait(10s).empty());
        }
    }
    REQUIRE_FALSE(ec);
    CHECK(flushed);
    CHECK(out.empty());
    REQUIRE(line.has_value());
    CHECK(line->size() == long_line.size());
    CHECK(*line == long_line);
    REQUIRE(message.has_value());
    CHECK(*message == "after");

    // The close_notify exchange without a single blocking call: each side's first try_shutdown
    // cannot finish (the other has not said goodbye yet).
    client_done = client.try_shutdown(ec);
    REQUIRE_FALSE(ec);
    CHECK_FALSE(client_done);
    server_done = false;
    for (int rounds = 0; !(client_done && server_done) && !ec && rounds < 100; ++rounds) {
        if (!server_done) server_done = server.try_shutdown(ec);
        if (!client_done && !ec) client_done = client.try_shutdown(ec);
        if (ec || (client_done && server_done)) break;
        poller.modify(client.socket(), interest(client), 0);
        poller.modify(server.socket(), interest(server), 1);
        REQUIRE_FALSE(poller.wait(10s).empty());
    }
    REQUIRE_FALSE(ec);
    CHECK(client_done);
    CHECK(server_done);
    CHECK((::SSL_get_shutdown(client.native_handle()) & SSL_RECEIVED_SHUTDOWN));
    CHECK((::SSL_get_shutdown(server.native_handle()) & SSL_RECEIVED_SHUTDOWN));
    // Then the sockets' polite close, also without waiting.
    std::optional<CloseResult> a, b;
    for (int rounds = 0; !(a && b) && !ec && rounds < 100; ++rounds) {
        if (!a) a = client.socket().try_graceful_close(ec);
        if (!b && !ec) b = server.socket().try_graceful_close(ec);
        if (ec || (a && b)) break;
        Poller closing;
        if (!a) closing.add(client.socket(), Events::readable, 0);
        if (!b) closing.add(server.socket(), Events::readable, 1);
        REQUIRE_FALSE(closing.wait(10s).empty());
    }
    REQUIRE_FALSE(ec);
    REQUIRE((a && b));
    CHECK(a->ending == CloseResult::peer_closed);
    CHECK(b->ending == CloseResult::peer_closed);
}

TEST_CASE("tls: try_shutdown against a peer that closes without close_notify is an error", "[tls][nonblocking]") {
    OneClientServer srv(server_context(), [](TlsStream& tls, ServerResult& r) {
        (void)tls.send_all("partial", 7, 10s, r.body);
        // Leaving without shutdown(): the destructor closes TCP without close_notify.
    });
    std::error_code ec;
    TlsStream client = connect_client(srv.address(), trusting_client(), "localhost", ec);
    REQUIRE_FALSE(ec);
    char buffer[8];
    CHECK(client.recv_exact(buffer, 7, 10s, ec) == 7);
    srv.finish();
    Poller poller;
    poller.add(client.socket(), Events::readable, 0);
    bool done = false;
    for (int rounds = 0; !done && !ec && rounds < 100; ++rounds) {
        done = client.try_shutdown(ec);
        if (!done && !ec) REQUIRE_FALSE(poller.wait(10s).empty());
    }
    INFO(ec.message());
    CHECK_FALSE(done);
    // Our close_notify may have drawn a reset from the closed socket before its end was read,
    // or (a short write under the fault library) met the reset while still sending: broken pipe.
    CHECK((ec == tls_errc::truncated || ec == std::errc::connection_reset || ec == std::errc::broken_pipe));
}
