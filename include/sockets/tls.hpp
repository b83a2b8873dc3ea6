/// @file
/// TLS over a connected Socket, with OpenSSL 3 (link the `sockets::tls` CMake target; this
/// header is not part of the umbrella sockets.hpp, so programs without TLS never see OpenSSL).
///
///   auto context = sockets::TlsContext::client();               // verifies against the system roots
///   auto tls = sockets::tls_connect(sockets::connect_to("example.com", 443, 10s),
///                                   context, "example.com", 10s);
///   tls.send_all("GET / HTTP/1.0\r\nHost: example.com\r\n\r\n");
///   char buffer[4096];
///   while (std::size_t n = tls.recv(buffer, sizeof buffer, 30s)) ...   // 0: orderly close
///   tls.shutdown(5s);                                           // close_notify both ways
///
/// TlsStream has the Socket's transfer calls (send_all, recv_exact, recv, send_all_buffers,
/// try_recv, try_send, with Timeout and std::error_code forms), so the framing layer works over
/// it unchanged: BasicStreamReader<TlsStream>, BasicMessageWriter<TlsStream>, send_message,
/// send_line. The time model is the library's: the socket is non-blocking for the stream's
/// life and every call waits for readiness with poll, so a timed call (handshake included)
/// never blocks past its deadline, whatever the peer does.
///
/// Errors: OpenSSL's error queue becomes std::error_code in tls_category() ("tls"), a failed
/// certificate check becomes a code in tls_verify_category() ("tls verify": "certificate has
/// expired", "hostname mismatch", ...), both comparing equal to tls_errc conditions. A
/// connection closed without close_notify is tls_errc::truncated, never a clean end.
///
/// A failed handshake: the side that refused sends an alert saying why, and the other side's
/// handshake ends with it ("tlsv1 alert unknown ca", "sslv3 alert bad certificate") when the
/// refusing side closes gracefully: `tls.socket().graceful_close(timeout)`. Closing at once
/// (dropping the stream) with the peer's handshake bytes unread is a reset, which may destroy
/// the alert before it is sent or read: the other side then sees std::errc::connection_reset.
///
/// One TlsStream must not be used by two threads at once (an OpenSSL SSL object is not
/// thread-safe, even for one reader plus one writer); distinct streams are independent.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "config.hpp"
#include "detail/io.hpp"
#include "error.hpp"
#include "message.hpp"
#include "socket.hpp"
#include "timeout.hpp"

#if OPENSSL_VERSION_NUMBER < 0x30000000L
#error "sockets/tls.hpp needs OpenSSL 3"
#endif

namespace sockets {
SOCKETS_MODE_NAMESPACE_BEGIN

/// TLS conditions no OpenSSL reason describes as a user needs it.
enum class tls_errc {
    truncated = 1,          ///< the peer closed the connection without a TLS close_notify
    verification_failed,    ///< the peer's certificate was rejected (any tls_verify_category() code)
    host_required,          ///< a verifying client was given no host name or address to check
    not_connected,          ///< the stream has no connection (default-constructed or moved-from)
    no_context,             ///< the TlsContext is empty (moved-from): it has no configuration
};

/// Category of OpenSSL's own errors (values: OpenSSL error codes); "tls".
SOCKETS_DECL const std::error_category& tls_category() noexcept;
/// Category of certificate verification results (values: X509_V_ERR_*); "tls verify".
SOCKETS_DECL const std::error_category& tls_verify_category() noexcept;

SOCKETS_MODE_NAMESPACE_END
}  // namespace sockets

namespace std {
template <>
struct is_error_condition_enum<sockets::tls_errc> : true_type {};
}  // namespace std

namespace sockets {
SOCKETS_MODE_NAMESPACE_BEGIN

/// `ec == tls_errc::x` tests the condition (every verification code equals verification_failed);
/// make_error_code gives the exact code, e.g. to report truncation.
///@{
inline std::error_condition make_error_condition(tls_errc e) noexcept {
    return {static_cast<int>(e), tls_category()};
}
inline std::error_code make_error_code(tls_errc e) noexcept { return {static_cast<int>(e), tls_category()}; }
///@}

namespace detail {

// The thread's OpenSSL error queue as one code, emptied so nothing leaks into the next call.
// A rejected certificate becomes its verification result (ssl may be null); fallback when
// the queue is empty.
SOCKETS_DECL std::error_code take_openssl_error(const SSL* ssl, std::error_code fallback) noexcept;

// What the stream's BIO shares with the stream: the socket, and the bytes OpenSSL wrote that
// the socket has not taken yet. The BIO never tells OpenSSL a write would block: OpenSSL 3.0
// then holds the record and fails any other write until that one is retried with the same
// bytes, so a read that must answer the peer's key-update request while one of our writes is
// pending would end the connection (SSL_R_BAD_LENGTH, openssl/openssl#8677). Instead the rest
// waits here; the stream sends it first on every call, and lets no application write start
// while any is left, which bounds it to about one record plus handshake messages.
struct BioState {
    native_handle_type handle = invalid_handle;
    std::vector<char> unsent;
    std::size_t sent = 0;  // of unsent, already taken by the socket
    std::size_t left() const noexcept { return unsent.size() - sent; }
};

// What a context owns beyond the SSL_CTX: the server's ALPN preference list, which the
// selection callback reads for as long as any stream uses the context.
struct TlsContextState {
    SSL_CTX* ctx = nullptr;
    bool server = false;
    std::string alpn;  // wire format: length-prefixed names
    TlsContextState() = default;
    TlsContextState(const TlsContextState&) = delete;
    TlsContextState& operator=(const TlsContextState&) = delete;
    ~TlsContextState();
};

struct TlsPeerName;  // the host a client checks, normalised (impl/tls.ipp)

}  // namespace detail

/// Oldest protocol version a context accepts.
enum class TlsVersion { tls1_2, tls1_3 };

/// A TLS configuration (an OpenSSL SSL_CTX): the role, certificates, trust and ALPN. A handle:
/// copies share one configuration. Configure it before making streams from it.
///
/// A moved-from context is empty (is_valid() is false), as are its copies: every call with an
/// error reports tls_errc::no_context (the throwing forms throw it), the noexcept setters do
/// nothing, and no stream can be made from it. Assigning a context to it makes it usable again.
///
/// Each setting that can fail comes in two forms: with `std::error_code&` (never throws) and
/// without (throws std::system_error naming the setting and the file; absent under
/// SOCKETS_NO_EXCEPTIONS).
class TlsContext {
public:
    // ---- making one -----------------------------------------------------------------------

    /// A client context: verifies the server's certificate against the system trust store,
    /// and the host name or IP address given to tls_connect; TLS 1.2 or newer.
    ///@{
    [[nodiscard]] static TlsContext client(std::error_code& ec) { return make(false, ec); }
#if !defined(SOCKETS_NO_EXCEPTIONS)
    [[nodiscard]] static TlsContext client();
#endif
    ///@}

    /// A server context: present a certificate chain and key (load them next); client
    /// certificates are not asked for unless require_client_certificate() is called.
    ///@{
    [[nodiscard]] static TlsContext server(std::error_code& ec) { return make(true, ec); }
#if !defined(SOCKETS_NO_EXCEPTIONS)
    [[nodiscard]] static TlsContext server();
#endif
    /// With the certificate chain and private key from PEM files.
    [[nodiscard]] static TlsContext server(const std::string& chain_file, const std::string& key_file, std::error_code& ec);
#if !defined(SOCKETS_NO_EXCEPTIONS)
    [[nodiscard]] static TlsContext server(const std::string& chain_file, const std::string& key_file);
#endif
    ///@}

    // ---- trust ----------------------------------------------------------------------------

    /// Trust the CAs in a PEM file, or in a directory prepared with `openssl rehash`, in
    /// addition to the system trust store (client) or as the only issuers of client
    /// certificates (server).
    ///@{
    void load_verify_file(const std::string& path, std::error_code& ec);
    void load_verify_dir(const std::string& path, std::error_code& ec);
#if !defined(SOCKETS_NO_EXCEPTIONS)
    void load_verify_file(const std::string& path);
    void load_verify_dir(const std::string& path);
#endif
    /// Trust the CA certificates in PEM text.
    void add_certificate_authority_pem(std::string_view pem, std::error_code& ec);
#if !defined(SOCKETS_NO_EXCEPTIONS)
    void add_certificate_authority_pem(std::string_view pem);
#endif
    ///@}

    // ---- this side's identity -------------------------------------------------------------

    /// This side's certificate chain (leaf first) and private key, from PEM files or PEM text.
    /// Servers need them; a client needs them for mutual TLS.
    ///@{
    void use_certificate_chain_file(const std::string& path, std::error_code& ec);
    void use_private_key_file(const std::string& path, std::error_code& ec);
    void use_certificate_chain_pem(std::string_view pem, std::error_code& ec);
    void use_private_key_pem(std::string_view pem, std::error_code& ec);
#if !defined(SOCKETS_NO_EXCEPTIONS)
    void use_certificate_chain_file(const std::string& path);
    void use_private_key_file(const std::string& path);
    void use_certificate_chain_pem(std::string_view pem);
    void use_private_key_pem(std::string_view pem);
#endif
    ///@}

    // ---- verification, ALPN, versions -----------------------------------------------------

    /// Server: ask every client for a certificate and end the handshake unless it presents one
    /// that the CAs given to load_verify_file/load_verify_dir vouch for (mutual TLS).
    void require_client_certificate() noexcept;

    /// Client: no certificate or host name check at all. Anyone on the path can read and change
    /// the traffic; for tests and for peers authenticated some other way only.
    void insecure_skip_verification() noexcept;
    /// Whether the peer's certificate is checked.
    bool verifies_peer() const noexcept;

    /// ALPN. Client: the protocols offered, most wanted first. Server: the protocols it
    /// speaks, most preferred first; it picks its first one the client offers, and ends the
    /// handshake when there is none. Names are 1..255 bytes.
    ///@{
    void set_alpn(const std::vector<std::string>& protocols, std::error_code& ec);
#if !defined(SOCKETS_NO_EXCEPTIONS)
    void set_alpn(const std::vector<std::string>& protocols);
#endif
    ///@}

    /// The oldest version accepted (TLS 1.2 unless raised).
    void set_min_version(TlsVersion v) noexcept;

    // ---- what it is -----------------------------------------------------------------------

    /// Made by server() (else client()).
    bool is_server() const noexcept { return state_ && state_->server; }
    /// Made by client() or server(); false for a moved-from context (and its copies) and for
    /// the empty one inside an empty TlsStream.
    bool is_valid() const noexcept { return state_ != nullptr; }
    /// The SSL_CTX, for settings this class does not cover.
    SSL_CTX* native_handle() const noexcept { return state_ ? state_->ctx : nullptr; }

private:
    SSL_CTX* ctx() const noexcept { return state_->ctx; }

    // A moved-from context has no SSL_CTX: every call reports that instead of touching one.
    bool empty(std::error_code& ec) const noexcept;
    static void check(int ok, std::error_code& ec);
    static TlsContext make(bool server, std::error_code& ec);
#if !defined(SOCKETS_NO_EXCEPTIONS)
    static TlsContext make_or_throw(bool server);
#endif

    // Empty: TlsStream holds one before it has a connection; users get contexts from client()
    // and server(), and an empty one only by moving from one (every call checks for that).
    TlsContext() = default;
    friend class TlsStream;

    std::shared_ptr<detail::TlsContextState> state_;
};

/// What a try_ call that would block is waiting for: wait for this readiness (a TLS read may
/// need to write, and a write to read) and call again.
enum class TlsWant { nothing, read, write };

/// A TLS connection over a Socket it owns. Make one with tls_connect / tls_accept (handshake
/// included), or with TlsStream::client / TlsStream::server and handshake() yourself (e.g.
/// non-blocking, with try_handshake and a Poller). The socket becomes non-blocking and, on TCP,
/// TCP_NODELAY (small records go out at once; see the guide's TLS section).
///
/// Every fallible call comes in two forms, as on a Socket: with `std::error_code&` (never
/// throws; a transfer returns the bytes that moved) and without (throws std::system_error, or
/// TransferError with the byte count for transfers; absent under SOCKETS_NO_EXCEPTIONS). A
/// Timeout bounds the whole call; without one a call waits as long as it takes.
class TlsStream {
public:
    // ---- lifetime -------------------------------------------------------------------------

    /// An empty stream: every call fails with tls_errc::not_connected.
    TlsStream() = default;
    /// Move-only; a moved-from stream is empty.
    ///@{
    TlsStream(TlsStream&& other) noexcept { swap(other); }
    TlsStream& operator=(TlsStream&& other) noexcept;
    void swap(TlsStream& other) noexcept;
    ///@}
    TlsStream(const TlsStream&) = delete;
    TlsStream& operator=(const TlsStream&) = delete;
    /// Frees the TLS state and closes the socket, without close_notify (that would wait):
    /// call shutdown() first for an orderly end.
    ~TlsStream();

    /// The client end over a connected socket. host is the name or IP address the
    /// certificate must be for. A name is sent as SNI and checked against the certificate's
    /// DNS names, both without one trailing dot (`example.org.` is example.org). An IP address
    /// (`127.0.0.1`, `::1`, `[::1]`, or `fe80::1%eth0` as Address::ip() writes it) is checked
    /// against its IP entries, without brackets or zone, and never sent as SNI. A host that is
    /// empty once normalised (`""`, `[]`, `.`) is tls_errc::host_required unless the context
    /// does not verify; a malformed one (a NUL, stray brackets, a zone on a name, a leading
    /// dot, an empty label, a last label that is a number such as `0127.0.0.1` or `127.1`,
    /// whitespace, a star, slash, backslash, plus or at sign, a byte beyond ASCII (an
    /// internationalised name goes in its `xn--` form), more than 253 characters or a label of
    /// more than 63) is std::errc::invalid_argument. No host turns the check off. An empty
    /// (moved-from) context is tls_errc::no_context.
    ///@{
    [[nodiscard]] static TlsStream client(Socket socket, const TlsContext& context, std::string_view host, std::error_code& ec) {
        return make(std::move(socket), context, host, ec);
    }
#if !defined(SOCKETS_NO_EXCEPTIONS)
    [[nodiscard]] static TlsStream client(Socket socket, const TlsContext& context, std::string_view host);
#endif
    ///@}
    /// The server end over an accepted socket (an empty context: tls_errc::no_context).
    ///@{
    [[nodiscard]] static TlsStream server(Socket socket, const TlsContext& context, std::error_code& ec) {
        return make(std::move(socket), context, {}, ec);
    }
#if !defined(SOCKETS_NO_EXCEPTIONS)
    [[nodiscard]] static TlsStream server(Socket socket, const TlsContext& context);
#endif
    ///@}

    // ---- handshake ------------------------------------------------------------------------

    /// Runs the handshake to the end (certificate checks included). The timed form bounds the
    /// whole handshake: a peer that stops half-way is std::errc::timed_out.
    ///@{
    void handshake(Timeout timeout, std::error_code& ec) noexcept { handshake_until(detail::Deadline(timeout), ec); }
    void handshake(std::error_code& ec) noexcept { handshake_until(detail::Deadline(), ec); }
#if !defined(SOCKETS_NO_EXCEPTIONS)
    void handshake(Timeout timeout) { throw_handshake(detail::Deadline(timeout)); }
    void handshake() { throw_handshake(detail::Deadline()); }
#endif
    ///@}

    /// One step of the handshake without waiting: true when it is complete; false while it
    /// waits for wants() readiness.
    bool try_handshake(std::error_code& ec) noexcept;

    /// Whether the handshake has completed.
    bool handshake_done() const noexcept { return ssl_ && ::SSL_is_init_finished(ssl_); }

    // ---- transfers: the Socket's calls -----------------------------------------------------
    // The error_code forms forward to the loops of impl/tls.ipp: one call each, next to the
    // record encryption it leads to (docs/performance.md, the tls row).

    /// One read: what is there, at most capacity bytes. 0 means the peer closed with
    /// close_notify; a close without it is tls_errc::truncated.
    ///@{
    [[nodiscard]] std::size_t recv(void* buffer, std::size_t capacity, Timeout timeout, std::error_code& ec) noexcept {
        detail::Deadline deadline(timeout);
        return read_some(buffer, capacity, &deadline, ec).value_or(0);
    }
    [[nodiscard]] std::size_t recv(void* buffer, std::size_t capacity, std::error_code& ec) noexcept {
        detail::Deadline deadline;
        return read_some(buffer, capacity, &deadline, ec).value_or(0);
    }
#if !defined(SOCKETS_NO_EXCEPTIONS)
    [[nodiscard]] std::size_t recv(void* buffer, std::size_t capacity, Timeout timeout);
    [[nodiscard]] std::size_t recv(void* buffer, std::size_t capacity);
#endif
    ///@}

    /// Exactly size bytes. A close_notify first is errc::end_of_stream; the bytes that came
    /// are counted either way.
    ///@{
    std::size_t recv_exact(void* buffer, std::size_t size, Timeout timeout, std::error_code& ec) noexcept {
        return recv_exact_until(buffer, size, detail::Deadline(timeout), ec);
    }
    std::size_t recv_exact(void* buffer, std::size_t size, std::error_code& ec) noexcept {
        return recv_exact_until(buffer, size, detail::Deadline(), ec);
    }
#if !defined(SOCKETS_NO_EXCEPTIONS)
    std::size_t recv_exact(void* buffer, std::size_t size, Timeout timeout);
    std::size_t recv_exact(void* buffer, std::size_t size);
#endif
    ///@}

    /// All size bytes, or an error with the count that went out in whole TLS records. After a
    /// timeout, resume with the bytes from that count on (OpenSSL may hold a record begun
    /// from them), or close the stream.
    ///@{
    std::size_t send_all(const void* data, std::size_t size, Timeout timeout, std::error_code& ec) noexcept {
        detail::Deadline deadline(timeout);
        return write_all(data, size, deadline, ec);
    }
    std::size_t send_all(const void* data, std::size_t size, std::error_code& ec) noexcept {
        detail::Deadline deadline;
        return write_all(data, size, deadline, ec);
    }
#if !defined(SOCKETS_NO_EXCEPTIONS)
    std::size_t send_all(const void* data, std::size_t size, Timeout timeout);
    std::size_t send_all(const void* data, std::size_t size);
#endif
    ///@}

    /// Gather write: the pieces are copied into records of up to 16 KiB, so a small header and
    /// its body travel in one record.
    ///@{
    std::size_t send_all_buffers(const ConstBuffer* buffers, std::size_t count, Timeout timeout, std::error_code& ec) noexcept {
        return gather_until(buffers, count, detail::Deadline(timeout), ec);
    }
    std::size_t send_all_buffers(const ConstBuffer* buffers, std::size_t count, std::error_code& ec) noexcept {
        return gather_until(buffers, count, detail::Deadline(), ec);
    }
#if !defined(SOCKETS_NO_EXCEPTIONS)
    std::size_t send_all_buffers(const ConstBuffer* buffers, std::size_t count, Timeout timeout);
    std::size_t send_all_buffers(const ConstBuffer* buffers, std::size_t count);
#endif
    ///@}

    /// The same calls on byte containers.
    ///@{
    std::size_t send_all(ConstBuffer b, std::error_code& ec) { return send_all(b.data, b.size, ec); }
    std::size_t send_all(ConstBuffer b, Timeout t, std::error_code& ec) { return send_all(b.data, b.size, t, ec); }
    [[nodiscard]] std::size_t recv(MutableBuffer b, std::error_code& ec) { return recv(b.data, b.size, ec); }
    [[nodiscard]] std::size_t recv(MutableBuffer b, Timeout t, std::error_code& ec) { return recv(b.data, b.size, t, ec); }
#if !defined(SOCKETS_NO_EXCEPTIONS)
    std::size_t send_all(ConstBuffer b) { return send_all(b.data, b.size); }
    std::size_t send_all(ConstBuffer b, Timeout t) { return send_all(b.data, b.size, t); }
    [[nodiscard]] std::size_t recv(MutableBuffer b) { return recv(b.data, b.size); }
    [[nodiscard]] std::size_t recv(MutableBuffer b, Timeout t) { return recv(b.data, b.size, t); }
    std::size_t recv_exact(MutableBuffer b) { return recv_exact(b.data, b.size); }
    std::size_t recv_exact(MutableBuffer b, Timeout t) { return recv_exact(b.data, b.size, t); }
#endif
    ///@}

    /// recv into a byte container, filled up to its size(): an empty one is
    /// errc::empty_buffer, never 0 (which means close_notify), as on a Socket.
    ///@{
    template <class Bytes, class = detail::if_writable_byte_range<Bytes>>
    [[nodiscard]] std::size_t recv(Bytes& bytes, std::error_code& ec) noexcept {
        return bytes.size() != 0 ? recv(bytes.data(), bytes.size(), ec) : refuse_empty(ec);
    }
    template <class Bytes, class = detail::if_writable_byte_range<Bytes>>
    [[nodiscard]] std::size_t recv(Bytes& bytes, Timeout timeout, std::error_code& ec) noexcept {
        return bytes.size() != 0 ? recv(bytes.data(), bytes.size(), timeout, ec) : refuse_empty(ec);
    }
#if !defined(SOCKETS_NO_EXCEPTIONS)
    template <class Bytes, class = detail::if_writable_byte_range<Bytes>>
    [[nodiscard]] std::size_t recv(Bytes& bytes) {
        if (bytes.size() == 0) throw_empty("tls recv");
        return recv(bytes.data(), bytes.size());
    }
    template <class Bytes, class = detail::if_writable_byte_range<Bytes>>
    [[nodiscard]] std::size_t recv(Bytes& bytes, Timeout timeout) {
        if (bytes.size() == 0) throw_empty("tls recv");
        return recv(bytes.data(), bytes.size(), timeout);
    }
#endif
    ///@}

    /// What is there, at most max bytes, in a new string; an empty string means the peer's
    /// close_notify (Socket::recv_some). max 0 is errc::empty_buffer; at most 64 KiB per call.
    ///@{
    [[nodiscard]] std::string recv_some(std::size_t max, Timeout timeout, std::error_code& ec);
    [[nodiscard]] std::string recv_some(std::size_t max, std::error_code& ec);
#if !defined(SOCKETS_NO_EXCEPTIONS)
    [[nodiscard]] std::string recv_some(std::size_t max, Timeout timeout);
    [[nodiscard]] std::string recv_some(std::size_t max);
#endif
    ///@}

    // ---- non-blocking use with a Poller -----------------------------------------------------

    /// Never waits: std::nullopt when nothing can move now; then wants() says which readiness
    /// to wait for (a read may need the socket writable, during a key update or handshake).
    /// try_recv returns 0 after the peer's close_notify. Data OpenSSL has already decrypted is
    /// invisible to a Poller: try_recv drains it into the buffer, and when it fills the whole
    /// buffer, call again before waiting (buffered() tells how much is left).
    ///@{
    [[nodiscard]] std::optional<std::size_t> try_recv(void* buffer, std::size_t capacity, std::error_code& ec) noexcept {
        return read_some(buffer, capacity, nullptr, ec);
    }
    [[nodiscard]] std::optional<std::size_t> try_send(const void* data, std::size_t size, std::error_code& ec) noexcept;
#if !defined(SOCKETS_NO_EXCEPTIONS)
    [[nodiscard]] std::optional<std::size_t> try_recv(void* buffer, std::size_t capacity);
    [[nodiscard]] std::optional<std::size_t> try_send(const void* data, std::size_t size);
#endif
    ///@}
    /// The same on byte containers (try_recv: an empty one is errc::empty_buffer).
    ///@{
    template <class Bytes, class = detail::if_writable_byte_range<Bytes>>
    [[nodiscard]] std::optional<std::size_t> try_recv(Bytes& bytes, std::error_code& ec) noexcept {
        if (bytes.size() != 0) return try_recv(bytes.data(), bytes.size(), ec);
        refuse_empty(ec);
        return std::nullopt;
    }
    [[nodiscard]] std::optional<std::size_t> try_send(ConstBuffer b, std::error_code& ec) noexcept {
        return try_send(b.data, b.size, ec);
    }
#if !defined(SOCKETS_NO_EXCEPTIONS)
    template <class Bytes, class = detail::if_writable_byte_range<Bytes>>
    [[nodiscard]] std::optional<std::size_t> try_recv(Bytes& bytes) {
        if (bytes.size() == 0) throw_empty("tls try_recv");
        return try_recv(bytes.data(), bytes.size());
    }
    [[nodiscard]] std::optional<std::size_t> try_send(ConstBuffer b) { return try_send(b.data, b.size); }
#endif
    ///@}
    /// Sends what unsent() counts, without waiting: true when all of it has gone (else wait
    /// for writable and call again). A stream with nothing new to send calls this.
    bool try_flush(std::error_code& ec) noexcept;
    /// The readiness the last call that would block was waiting for.
    TlsWant wants() const noexcept { return want_; }
    /// Bytes already encrypted that the socket had no room for: every call sends them first.
    /// A read can leave some (its answer to the peer's key-update request, a renegotiation's
    /// handshake): while this is not 0, wait for writable too, and call again when it comes.
    std::size_t unsent() const noexcept { return bio_ ? bio_->left() : 0; }
    /// Decrypted bytes held inside OpenSSL, ready for recv without touching the socket.
    std::size_t buffered() const noexcept { return ssl_ ? static_cast<std::size_t>(::SSL_pending(ssl_)) : 0; }

    // ---- ending ---------------------------------------------------------------------------

    /// The orderly end: sends close_notify and waits for the peer's (application data still
    /// arriving is read and dropped). The socket stays open (close() or graceful_close it).
    /// A peer that closes the connection without close_notify is tls_errc::truncated.
    /// Without waiting (with a Poller): shutdown(Timeout::zero(), ec) sends close_notify at
    /// once and reports std::errc::timed_out until the peer's has been read; wait for wants()
    /// (and writable while unsent() is not 0) and call it again. A clear ec is the end.
    ///@{
    void shutdown(Timeout timeout, std::error_code& ec) noexcept { shutdown_until(detail::Deadline(timeout), ec); }
    void shutdown(std::error_code& ec) noexcept { shutdown_until(detail::Deadline(), ec); }
#if !defined(SOCKETS_NO_EXCEPTIONS)
    void shutdown(Timeout timeout);
    void shutdown();
#endif
    ///@}
    /// shutdown() without waiting, for event loops: true when close_notify went out (all of
    /// it) and the peer's came; false while it waits for wants() readiness (with unsent() not
    /// 0, for writable too): call again then. Application data still arriving is dropped. A
    /// peer that closes the connection without close_notify is tls_errc::truncated.
    bool try_shutdown(std::error_code& ec) noexcept;
    /// Sends close_notify without waiting for the peer's: a half close; recv still works.
    void send_close_notify(Timeout timeout, std::error_code& ec) noexcept;
    /// shutdown(timeout), then closes the socket whatever happened (the error is the
    /// shutdown's: e.g. tls_errc::truncated, or timed_out).
    ///@{
    void close(Timeout timeout, std::error_code& ec) noexcept;
#if !defined(SOCKETS_NO_EXCEPTIONS)
    void close(Timeout timeout);
#endif
    ///@}

    // ---- what was agreed --------------------------------------------------------------------

    /// The ALPN protocol agreed on ("" for none).
    std::string alpn_protocol() const;
    /// "TLSv1.3", "TLSv1.2".
    std::string protocol_version() const;
    /// Whether the peer presented a certificate (always, for a server peer).
    bool has_peer_certificate() const noexcept { return ssl_ && ::SSL_get0_peer_certificate(ssl_) != nullptr; }
    /// The peer certificate's subject, one line ("CN=example.test"), or "".
    std::string peer_subject() const;
    /// The subject of the certificate the check rejected, or else of the peer's.
    std::string rejected_subject() const;
    /// After a failed certificate check, what was expected and what came: "hostname
    /// mismatch: expected example.test, certificate /CN=other.test". "" when none failed.
    std::string verify_detail() const;

    // ---- underneath -------------------------------------------------------------------------

    /// The socket underneath (and its handle), e.g. to register with a Poller. Transfers on it
    /// directly would corrupt the TLS stream.
    ///@{
    Socket& socket() noexcept { return socket_; }
    const Socket& socket() const noexcept { return socket_; }
    native_handle_type native_socket() const noexcept { return socket_.native_handle(); }
    ///@}
    /// The OpenSSL SSL object.
    SSL* native_handle() const noexcept { return ssl_; }
    /// True while the stream has a connection (not empty, not closed).
    ///@{
    bool is_open() const noexcept { return ssl_ != nullptr && socket_.is_open(); }
    explicit operator bool() const noexcept { return is_open(); }
    ///@}

private:
    enum class Step { done, closed, would_block, failed };

    // A receive into an empty container: an error, never a 0 that reads as close_notify. A
    // stream without a connection says so first, as every call on it does (Socket alike).
    std::size_t refuse_empty(std::error_code& ec) const noexcept {
        if (check(ec)) ec = errc::empty_buffer;
        return 0;
    }
#if !defined(SOCKETS_NO_EXCEPTIONS)
    [[noreturn]] void throw_empty(const char* operation) const;
#endif

    static TlsStream make(Socket socket, const TlsContext& context, std::string_view host, std::error_code& ec);
    void set_peer_name(const detail::TlsPeerName& peer, std::error_code& ec);
    bool check(std::error_code& ec) const noexcept;
    template <class Call>
    Step run(Call call, detail::Deadline* deadline, std::error_code& ec, std::size_t* moved = nullptr,
             bool app_write = false) noexcept;
    std::error_code to_error(int error, int os_code) const noexcept;
    bool drain(detail::Deadline& deadline, std::error_code& ec) noexcept;
    void handshake_until(detail::Deadline deadline, std::error_code& ec) noexcept;
#if !defined(SOCKETS_NO_EXCEPTIONS)
    void throw_handshake(detail::Deadline deadline);
#endif
    [[nodiscard]] std::optional<std::size_t> read_some(void* buffer, std::size_t capacity, detail::Deadline* deadline,
                                         std::error_code& ec) noexcept;
    std::size_t recv_exact_until(void* buffer, std::size_t size, detail::Deadline deadline, std::error_code& ec) noexcept;
    std::size_t write_all(const void* data, std::size_t size, detail::Deadline& deadline, std::error_code& ec) noexcept;
    std::size_t gather_until(const ConstBuffer* buffers, std::size_t count, detail::Deadline deadline,
                             std::error_code& ec) noexcept;
    void shutdown_until(detail::Deadline deadline, std::error_code& ec) noexcept;

    SSL* ssl_ = nullptr;
    Socket socket_;
    TlsContext context_;  // keeps the configuration (and its ALPN list) alive
    std::string host_;
    TlsWant want_ = TlsWant::nothing;
    std::unique_ptr<std::string> rejected_;  // see detail::note_rejected
    std::unique_ptr<detail::BioState> bio_;  // the BIO's; a stable address across moves
};

/// Connects TLS over a connected socket and completes the handshake: the usual client start.
/// The Timeout bounds the whole handshake; without one it waits as long as the peer takes
/// (as any plain call, bounded only by the socket's SO_RCVTIMEO / SO_SNDTIMEO).
///@{
[[nodiscard]] SOCKETS_DECL TlsStream tls_connect(Socket socket, const TlsContext& context, std::string_view host,
                                                 Timeout timeout, std::error_code& ec);
[[nodiscard]] SOCKETS_DECL TlsStream tls_connect(Socket socket, const TlsContext& context, std::string_view host,
                                                 std::error_code& ec);
#if !defined(SOCKETS_NO_EXCEPTIONS)
[[nodiscard]] SOCKETS_DECL TlsStream tls_connect(Socket socket, const TlsContext& context, std::string_view host,
                                                 Timeout timeout);
[[nodiscard]] SOCKETS_DECL TlsStream tls_connect(Socket socket, const TlsContext& context, std::string_view host);
#endif
///@}

/// Accepts TLS over an accepted socket and completes the handshake: the usual server start.
/// Timeout as for tls_connect.
///@{
[[nodiscard]] SOCKETS_DECL TlsStream tls_accept(Socket socket, const TlsContext& context, Timeout timeout,
                                                std::error_code& ec);
[[nodiscard]] SOCKETS_DECL TlsStream tls_accept(Socket socket, const TlsContext& context, std::error_code& ec);
#if !defined(SOCKETS_NO_EXCEPTIONS)
[[nodiscard]] SOCKETS_DECL TlsStream tls_accept(Socket socket, const TlsContext& context, Timeout timeout);
[[nodiscard]] SOCKETS_DECL TlsStream tls_accept(Socket socket, const TlsContext& context);
#endif
///@}

/// The framing layer's reader over a TLS stream (message.hpp): `TlsStreamReader reader(tls);`
/// then read_message, read_line, read_exact, each with Timeout and std::error_code forms.
using TlsStreamReader = BasicStreamReader<TlsStream>;

SOCKETS_MODE_NAMESPACE_END
}  // namespace sockets

#if !defined(SOCKETS_SEPARATE_COMPILATION)
#include "impl/tls.ipp"
#endif
