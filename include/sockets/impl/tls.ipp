// Definitions for tls.hpp: inline in header-only mode, compiled once by src/sockets_tls.cpp
// (sockets::tls_compiled). The transfer loops live here too: each is one call per transfer,
// next to OpenSSL's record encryption and system call (docs/performance.md, the tls row).
#pragma once

#include "../tls.hpp"

#include <cctype>
#include <cerrno>
#include <cstring>

#include <openssl/pem.h>
#include <openssl/x509v3.h>

namespace sockets {
SOCKETS_MODE_NAMESPACE_BEGIN

namespace detail {

// OpenSSL error codes pack the library into bits 23..30 and the reason below, so every
// non-system code is >= 1 << 23 and fits an int; smaller values are tls_errc.
inline constexpr int tls_first_openssl_code = 1 << 23;

// The alerts TLS defines that OpenSSL 3.0 has no reason string for (every other one it names).
inline const char* alert_name_openssl_lacks(int number) noexcept {
    switch (number) {
        case 0: return "close_notify, sent as a fatal alert";
        case 121: return "ech_required";
        default: return nullptr;
    }
}

// OpenSSL's words for one of its codes, with the library that raised it: "tlsv1 alert unknown
// ca (SSL routines)". An alert without a reason string (its code is the alert number plus
// SSL_AD_REASON_OFFSET) is named by number, and by its name where TLS defines one; any other
// code without one is named by number. The tables are static, so this is safe from any thread.
SOCKETS_DECL std::string openssl_message(unsigned long code) {
    const char* reason = ::ERR_reason_error_string(code);
    const char* library = ::ERR_lib_error_string(code);
    std::string text;
    int number = ERR_GET_REASON(code) - SSL_AD_REASON_OFFSET;
    if (reason) {
        text = reason;
    } else if (ERR_GET_LIB(code) == ERR_LIB_SSL && number >= 0 && number <= 255) {
        const char* name = alert_name_openssl_lacks(number);
        text = "tls alert " + std::to_string(number) + " (" + (name ? name : "not one TLS defines") +
               ") received from the peer";
    } else {
        char line[256];
        ::ERR_error_string_n(code, line, sizeof line);  // "error:0A0004E7:SSL routines::reason(1255)"
        return line;
    }
    if (library) text += std::string(" (") + library + ")";
    return text;
}

class TlsCategory final : public std::error_category {
public:
    const char* name() const noexcept override { return "tls"; }
    std::string message(int code) const override {
        switch (static_cast<tls_errc>(code)) {
            case tls_errc::truncated: return "connection closed without TLS close_notify (truncated)";
            case tls_errc::verification_failed: return "certificate verification failed";
            case tls_errc::host_required:
                return "no host name or address to verify (pass one, or call TlsContext::insecure_skip_verification())";
            case tls_errc::not_connected: return "TLS stream is not connected";
            case tls_errc::no_context: return "TLS context is empty (moved-from)";
        }
        return openssl_message(static_cast<unsigned long>(code));
    }
    bool equivalent(const std::error_code& code, int condition) const noexcept override;
};

class TlsVerifyCategory final : public std::error_category {
public:
    const char* name() const noexcept override { return "tls verify"; }
    std::string message(int code) const override {
        std::string text = ::X509_verify_cert_error_string(code);
        // OpenSSL's words for "nobody you trust signed this": say what it means.
        if (code == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY || code == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT ||
            code == X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN)
            text += " (unknown CA)";
        return text;
    }
    std::error_condition default_error_condition(int) const noexcept override {
        return {static_cast<int>(tls_errc::verification_failed), tls_category()};
    }
};

SOCKETS_DECL bool TlsCategory::equivalent(const std::error_code& code, int condition) const noexcept {
    if (code.category() == *this) return code.value() == condition;
    return condition == static_cast<int>(tls_errc::verification_failed) && code.category() == tls_verify_category();
}

}  // namespace detail

SOCKETS_DECL const std::error_category& tls_category() noexcept {
    static const detail::TlsCategory category;
    return category;
}

SOCKETS_DECL const std::error_category& tls_verify_category() noexcept {
    static const detail::TlsVerifyCategory category;
    return category;
}

namespace detail {

// One OpenSSL error code as a std::error_code: system errors in the OS's category, an
// unexpected EOF as tls_errc::truncated, everything else in tls_category().
SOCKETS_DECL std::error_code openssl_error(unsigned long e) noexcept {
    if (ERR_SYSTEM_ERROR(e)) return os_error(ERR_GET_REASON(e));
    if (ERR_GET_LIB(e) == ERR_LIB_SSL && ERR_GET_REASON(e) == SSL_R_UNEXPECTED_EOF_WHILE_READING)
        return make_error_code(tls_errc::truncated);
    return {static_cast<int>(e & 0x7fffffffUL), tls_category()};
}

SOCKETS_DECL std::error_code take_openssl_error(const SSL* ssl, std::error_code fallback) noexcept {
    std::error_code first;
    bool verify_failed = false;
    while (unsigned long e = ::ERR_get_error()) {
        if (!first) first = openssl_error(e);
        if (ERR_GET_LIB(e) == ERR_LIB_SSL && ERR_GET_REASON(e) == SSL_R_CERTIFICATE_VERIFY_FAILED) verify_failed = true;
    }
    if (verify_failed && ssl) {
        long result = ::SSL_get_verify_result(ssl);
        if (result != X509_V_OK) return {static_cast<int>(result), tls_verify_category()};
    }
    return first ? first : fallback;
}

SOCKETS_DECL void clear_os_error() noexcept {
#if defined(_WIN32)
    ::WSASetLastError(0);
#else
    errno = 0;
#endif
}

// The most a peer can make us queue by never reading (its key-update requests, say).
inline constexpr std::size_t max_unsent = 1u << 20;

// One send without SIGPIPE, EINTR retried (a try_ call must not mistake it for "would
// block"): bytes taken, 0 when the socket is full, -1 on an error (in errno / WSAGetLastError).
SOCKETS_DECL long send_some(native_handle_type h, const char* data, std::size_t size) noexcept {
    for (;;) {
#if defined(_WIN32)
        int chunk = size > 0x7fffffff ? 0x7fffffff : static_cast<int>(size);
        long n = ::send(h, data, chunk, send_flags);
#else
        long n = ::send(h, data, size, send_flags);
#endif
        if (n >= 0) {
            clear_os_error();  // an EINTR retried here is no error of the caller's
            return n;
        }
        int code = last_error_code();
        if (is_interrupted(code)) continue;
        return is_would_block(code) ? 0 : -1;
    }
}

// Sends what waits: true when nothing is left, false when the socket is full or failed (ec).
SOCKETS_DECL bool flush_unsent(BioState& state, std::error_code& ec) noexcept {
    while (state.left() > 0) {
        long n = send_some(state.handle, state.unsent.data() + state.sent, state.left());
        if (n < 0) {
            ec = last_error();
            return false;
        }
        if (n == 0) return false;
        state.sent += static_cast<std::size_t>(n);
    }
    state.unsent.clear();
    state.sent = 0;
    return true;
}

struct SocketBio {
    static BioState& state(BIO* b) noexcept { return *static_cast<BioState*>(::BIO_get_data(b)); }
    static int clamp(int n) noexcept { return n < 0 ? 0 : n; }
    static int write(BIO* b, const char* data, int size) noexcept {
        ::BIO_clear_retry_flags(b);
        BioState& s = state(b);
        std::size_t total = static_cast<std::size_t>(clamp(size));
        std::size_t taken = 0;
        std::error_code ec;
        if (flush_unsent(s, ec)) {
            while (taken < total) {  // until the socket is full: a short send is not "full"
                long n = send_some(s.handle, data + taken, total - taken);
                if (n < 0) return -1;
                if (n == 0) break;
                taken += static_cast<std::size_t>(n);
            }
        } else if (ec) {
            return -1;
        }
        if (taken < total) {
            if (s.left() + (total - taken) > max_unsent) {
#if defined(_WIN32)
                ::WSASetLastError(WSAENOBUFS);
#else
                errno = ENOBUFS;
#endif
                return -1;
            }
#if !defined(SOCKETS_NO_EXCEPTIONS)
            try {
                s.unsent.insert(s.unsent.end(), data + taken, data + total);
            } catch (...) {
                return -1;
            }
#else
            // Without exceptions an allocation failure ends the program: nothing to catch.
            s.unsent.insert(s.unsent.end(), data + taken, data + total);
#endif
        }
        return static_cast<int>(total);
    }
    static int read(BIO* b, char* out, int size) noexcept {
        ::BIO_clear_retry_flags(b);
        for (;;) {
#if defined(_WIN32)
            int n = ::recv(state(b).handle, out, clamp(size), 0);
#else
            long n = ::recv(state(b).handle, out, static_cast<std::size_t>(clamp(size)), 0);
#endif
            if (n >= 0) {
                // An EINTR retried above must not outlive it: OpenSSL reports an end of stream
                // without close_notify with errno, which would then read as EINTR, not truncated.
                clear_os_error();
                return static_cast<int>(n);
            }
            int code = last_error_code();
            if (is_interrupted(code)) continue;
            if (is_would_block(code)) BIO_set_retry_read(b);
            return -1;
        }
    }
    static long control(BIO*, int command, long, void*) noexcept { return command == BIO_CTRL_FLUSH ? 1 : 0; }
    static int create(BIO* b) noexcept {
        ::BIO_set_init(b, 1);
        return 1;
    }

    static const BIO_METHOD* method() noexcept {
        static BIO_METHOD* m = [] {
            BIO_METHOD* made = ::BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "sockets");
            if (made) {
                ::BIO_meth_set_write(made, &SocketBio::write);
                ::BIO_meth_set_read(made, &SocketBio::read);
                ::BIO_meth_set_ctrl(made, &SocketBio::control);
                ::BIO_meth_set_create(made, &SocketBio::create);
            }
            return made;
        }();
        return m;
    }

    static BIO* make(BioState* state) noexcept {
        const BIO_METHOD* m = method();
        BIO* b = m ? ::BIO_new(m) : nullptr;
        if (b) ::BIO_set_data(b, state);
        return b;
    }
};

// Waits until the socket is readable or writable (a read that also has bytes to send).
SOCKETS_DECL bool wait_either(native_handle_type h, const Deadline& deadline, std::error_code& ec) noexcept {
    for (;;) {
#if defined(_WIN32)
        WSAPOLLFD p{h, POLLRDNORM | POLLWRNORM, 0};
        int rc = ::WSAPoll(&p, 1, deadline.remaining_ms());
#else
        ::pollfd p{h, POLLIN | POLLOUT, 0};
        int rc = ::poll(&p, 1, deadline.remaining_ms());
#endif
        if (rc > 0) return true;
        if (rc == 0) {
            if (deadline.expired()) {
                ec = timed_out();
                return false;
            }
            continue;
        }
        int code = last_error_code();
        if (is_interrupted(code)) continue;
        ec = os_error(code);
        return false;
    }
}

SOCKETS_DECL TlsContextState::~TlsContextState() { ::SSL_CTX_free(ctx); }

// Server preference order; no common protocol ends the handshake (RFC 7301, 3.2).
SOCKETS_DECL int select_alpn(SSL*, const unsigned char** out, unsigned char* out_len, const unsigned char* in,
                       unsigned int in_len, void* arg) noexcept {
    auto* state = static_cast<TlsContextState*>(arg);
    if (state->alpn.empty()) return SSL_TLSEXT_ERR_NOACK;
    unsigned char* chosen = nullptr;
    int rc = ::SSL_select_next_proto(&chosen, out_len, reinterpret_cast<const unsigned char*>(state->alpn.data()),
                                     static_cast<unsigned>(state->alpn.size()), in, in_len);
    if (rc != OPENSSL_NPN_NEGOTIATED) return SSL_TLSEXT_ERR_ALERT_FATAL;
    *out = chosen;
    return SSL_TLSEXT_ERR_OK;
}

// The peer's certificate is gone after a failed handshake, and "expected X" wants the "got
// Y": the verify callback keeps the subject of the first certificate it rejected in the SSL's
// ex_data slot (a string the stream owns), changing no verdict.
SOCKETS_DECL int rejected_subject_index() noexcept {
    static const int index = ::SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
    return index;
}
SOCKETS_DECL int note_rejected(int ok, X509_STORE_CTX* store) noexcept {
    if (ok) return ok;
    auto* ssl = static_cast<SSL*>(::X509_STORE_CTX_get_ex_data(store, ::SSL_get_ex_data_X509_STORE_CTX_idx()));
    auto* subject = ssl ? static_cast<std::string*>(::SSL_get_ex_data(ssl, rejected_subject_index())) : nullptr;
    X509* cert = ::X509_STORE_CTX_get_current_cert(store);
    if (subject && subject->empty() && cert) {
        char line[512];
        ::X509_NAME_oneline(::X509_get_subject_name(cert), line, sizeof line);
#if !defined(SOCKETS_NO_EXCEPTIONS)
        try {
            *subject = line;
        } catch (...) {  // out of memory: the detail is lost, the verdict stands
        }
#else
        *subject = line;  // without exceptions an allocation failure ends the program
#endif
    }
    return ok;
}

#if !defined(SOCKETS_NO_EXCEPTIONS)
// Calls f(ec) and throws system_error(what) on error.
template <class F>
void throw_on_error(const std::string& what, F f) {
    std::error_code ec;
    f(ec);
    if (ec) throw_error(ec, what);
}
#endif

// What a client checks the server's certificate against: a DNS name (also sent as SNI) or an
// IP address (checked as one, never sent: RFC 6066 allows no literal in SNI). Empty name:
// nothing to check.
struct TlsPeerName {
    std::string name;
    bool is_ip = false;
    unsigned char ip[16] = {};
    std::size_t ip_size = 0;
};

// The host given to a client, normalised. Brackets around an IPv6 literal and its zone
// ("fe80::1%1", as Address::ip() writes a link-local address) are dropped: a certificate names
// the address alone. One trailing dot of a DNS name is dropped (RFC 6066 sends names without
// it; curl and Go check them without it too). Everything that OpenSSL could read as less
// than the caller asked for is invalid_argument: a NUL (C strings end there), a leading dot
// or an empty label (OpenSSL matches ".test" against every name under test), characters no
// host name holds, brackets or a zone around anything but an IPv6 literal, a trailing dot on
// an address, bytes beyond ASCII, a name longer than DNS allows. Addresses are parsed
// strictly (inet_pton): OpenSSL's own parser reads "127.0.0.1.evil.test" as 127.0.0.1.
// A name whose last label is a number ("0127.0.0.1", "127.1", "+127.0.0.1", "0x7f.1") is no DNS
// name (no top-level domain is numeric), but resolvers and OpenSSL read such text as some
// address, not always the one a strict parse gives: "0127.0.0.1" resolves to 87.0.0.1 and
// OpenSSL checks it as 127.0.0.1. Only what inet_pton accepts is an address; the rest is refused.
inline bool ends_in_number(const std::string& name) {
    std::size_t dot = name.rfind('.');
    std::string_view last = std::string_view(name).substr(dot == std::string::npos ? 0 : dot + 1);
    if (last.size() > 1 && last[0] == '0' && (last[1] == 'x' || last[1] == 'X')) last.remove_prefix(2);
    if (last.empty()) return false;
    for (char c : last)
        if (!std::isxdigit(static_cast<unsigned char>(c))) return false;
    // Hexadecimal digits alone ("cafe", "be") are ordinary labels unless the 0x prefix was there.
    bool decimal = true;
    for (char c : last)
        if (c < '0' || c > '9') decimal = false;
    return decimal || last.size() != std::string_view(name).substr(dot == std::string::npos ? 0 : dot + 1).size();
}

// DNS's limits (RFC 1035): 253 characters in all, 63 in a label. A longer name is no host's,
// and OpenSSL would refuse it as SNI with a message of its own ("ssl3 ext invalid servername").
inline bool fits_dns(std::string_view name) {
    if (name.size() > 253) return false;
    for (std::size_t start = 0; start <= name.size();) {
        std::size_t dot = name.find('.', start);
        std::size_t end = dot == std::string_view::npos ? name.size() : dot;
        if (end - start > 63) return false;
        start = end + 1;
    }
    return true;
}

SOCKETS_DECL TlsPeerName tls_peer_name(std::string_view host, std::error_code& ec) {
    ec.clear();
    TlsPeerName out;
    auto refuse = [&] {
        ec = std::make_error_code(std::errc::invalid_argument);
        return TlsPeerName();
    };
    if (host.find('\0') != std::string_view::npos) return refuse();
    bool bracketed = !host.empty() && host.front() == '[';
    if (bracketed) {
        if (host.size() < 2 || host.back() != ']') return refuse();
        host = host.substr(1, host.size() - 2);
        if (host.empty()) return out;  // "[]": no host at all
    }
    std::size_t percent = host.find('%');
    std::string_view zone = percent == std::string_view::npos ? std::string_view() : host.substr(percent + 1);
    std::string text(host.substr(0, percent));
    for (unsigned char c : host) {
        // No host name, address or zone holds these; a bracket here is a second or a stray one.
        // Nor bytes beyond ASCII: an internationalised name goes in its A-label form
        // ("xn--..."), which is what certificates hold and SNI carries.
        if (c <= ' ' || c >= 0x7f || std::string_view("[]*/\\@+").find(static_cast<char>(c)) != std::string_view::npos)
            return refuse();
    }
    if (text.find(':') != std::string::npos || bracketed || percent != std::string_view::npos) {
        in6_addr v6{};
        bool ok = ::inet_pton(AF_INET6, text.c_str(), &v6) == 1;
        if (!ok || (percent != std::string_view::npos && (zone.empty() || zone.find('%') != std::string_view::npos)))
            return refuse();
        std::memcpy(out.ip, &v6, sizeof v6);
        out.ip_size = sizeof v6;
    } else {
        if (!text.empty() && text.back() == '.') text.pop_back();
        if (text.empty()) return out;  // "" or "."
        in_addr v4{};
        if (::inet_pton(AF_INET, text.c_str(), &v4) == 1) {
            if (text.size() != host.size()) return refuse();  // "127.0.0.1.": an address has no dot to drop
            std::memcpy(out.ip, &v4, sizeof v4);
            out.ip_size = sizeof v4;
        } else if (text.front() == '.' || text.back() == '.' || text.find("..") != std::string::npos ||
                   ends_in_number(text) || !fits_dns(text)) {
            return refuse();
        }
    }
    out.is_ip = out.ip_size != 0;
    out.name = std::move(text);
    return out;
}

}  // namespace detail

// ---- TlsContext ---------------------------------------------------------------------------

SOCKETS_DECL TlsContext TlsContext::server(const std::string& chain_file, const std::string& key_file,
                                           std::error_code& ec) {
    TlsContext c = make(true, ec);
    if (!ec) c.use_certificate_chain_file(chain_file, ec);
    if (!ec) c.use_private_key_file(key_file, ec);
    return c;
}

SOCKETS_DECL void TlsContext::load_verify_file(const std::string& path, std::error_code& ec) {
    if (!empty(ec)) check(::SSL_CTX_load_verify_file(ctx(), path.c_str()), ec);
}

SOCKETS_DECL void TlsContext::load_verify_dir(const std::string& path, std::error_code& ec) {
    if (!empty(ec)) check(::SSL_CTX_load_verify_dir(ctx(), path.c_str()), ec);
}

SOCKETS_DECL void TlsContext::add_certificate_authority_pem(std::string_view pem, std::error_code& ec) {
    if (empty(ec)) return;
    ::ERR_clear_error();
    X509_STORE* store = ::SSL_CTX_get_cert_store(ctx());
    BIO* bio = ::BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
    int added = 0;
    while (X509* cert = bio ? ::PEM_read_bio_X509(bio, nullptr, nullptr, nullptr) : nullptr) {
        added += ::X509_STORE_add_cert(store, cert) == 1;
        ::X509_free(cert);
    }
    ::BIO_free(bio);
    ::ERR_clear_error();  // the reader's "no start line" at the end of the text
    if (added == 0) ec = std::make_error_code(std::errc::invalid_argument);
}

SOCKETS_DECL void TlsContext::use_certificate_chain_file(const std::string& path, std::error_code& ec) {
    if (!empty(ec)) check(::SSL_CTX_use_certificate_chain_file(ctx(), path.c_str()), ec);
}

SOCKETS_DECL void TlsContext::use_private_key_file(const std::string& path, std::error_code& ec) {
    if (empty(ec)) return;
    check(::SSL_CTX_use_PrivateKey_file(ctx(), path.c_str(), SSL_FILETYPE_PEM), ec);
    if (!ec) check(::SSL_CTX_check_private_key(ctx()), ec);
}

SOCKETS_DECL void TlsContext::use_certificate_chain_pem(std::string_view pem, std::error_code& ec) {
    if (empty(ec)) return;
    ::ERR_clear_error();
    BIO* bio = ::BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
    X509* leaf = bio ? ::PEM_read_bio_X509_AUX(bio, nullptr, nullptr, nullptr) : nullptr;
    bool ok = leaf && ::SSL_CTX_use_certificate(ctx(), leaf) == 1 && ::SSL_CTX_clear_chain_certs(ctx()) == 1;
    ::X509_free(leaf);
    while (ok) {
        X509* ca = ::PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
        if (!ca) break;
        ok = ::SSL_CTX_add0_chain_cert(ctx(), ca) == 1;  // takes ownership on success
        if (!ok) ::X509_free(ca);
    }
    ::BIO_free(bio);
    if (!ok) {
        ec = detail::take_openssl_error(nullptr, std::make_error_code(std::errc::invalid_argument));
        return;
    }
    ::ERR_clear_error();  // "no start line" after the last certificate
}

SOCKETS_DECL void TlsContext::use_private_key_pem(std::string_view pem, std::error_code& ec) {
    if (empty(ec)) return;
    ::ERR_clear_error();
    BIO* bio = ::BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
    EVP_PKEY* key = bio ? ::PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr) : nullptr;
    int ok = key ? ::SSL_CTX_use_PrivateKey(ctx(), key) : 0;
    ::EVP_PKEY_free(key);
    ::BIO_free(bio);
    check(ok, ec);
    if (!ec) check(::SSL_CTX_check_private_key(ctx()), ec);
}

#if !defined(SOCKETS_NO_EXCEPTIONS)
SOCKETS_DECL TlsContext TlsContext::client() { return make_or_throw(false); }

SOCKETS_DECL TlsContext TlsContext::server() { return make_or_throw(true); }

SOCKETS_DECL TlsContext TlsContext::server(const std::string& chain_file, const std::string& key_file) {
    TlsContext c = make_or_throw(true);
    c.use_certificate_chain_file(chain_file);
    c.use_private_key_file(key_file);
    return c;
}

SOCKETS_DECL void TlsContext::load_verify_file(const std::string& path) {
    detail::throw_on_error("tls: load CA file " + path, [&](std::error_code& ec) { load_verify_file(path, ec); });
}

SOCKETS_DECL void TlsContext::load_verify_dir(const std::string& path) {
    detail::throw_on_error("tls: load CA directory " + path, [&](std::error_code& ec) { load_verify_dir(path, ec); });
}

SOCKETS_DECL void TlsContext::add_certificate_authority_pem(std::string_view pem) {
    detail::throw_on_error("tls: add CA certificate", [&](std::error_code& ec) { add_certificate_authority_pem(pem, ec); });
}

SOCKETS_DECL void TlsContext::use_certificate_chain_file(const std::string& path) {
    detail::throw_on_error("tls: load certificate chain " + path,
                           [&](std::error_code& ec) { use_certificate_chain_file(path, ec); });
}

SOCKETS_DECL void TlsContext::use_private_key_file(const std::string& path) {
    detail::throw_on_error("tls: load private key " + path, [&](std::error_code& ec) { use_private_key_file(path, ec); });
}

SOCKETS_DECL void TlsContext::use_certificate_chain_pem(std::string_view pem) {
    detail::throw_on_error("tls: load certificate chain", [&](std::error_code& ec) { use_certificate_chain_pem(pem, ec); });
}

SOCKETS_DECL void TlsContext::use_private_key_pem(std::string_view pem) {
    detail::throw_on_error("tls: load private key", [&](std::error_code& ec) { use_private_key_pem(pem, ec); });
}

SOCKETS_DECL void TlsContext::set_alpn(const std::vector<std::string>& protocols) {
    detail::throw_on_error("tls: set ALPN", [&](std::error_code& ec) { set_alpn(protocols, ec); });
}

SOCKETS_DECL TlsContext TlsContext::make_or_throw(bool server) {
    std::error_code ec;
    TlsContext c = make(server, ec);
    detail::throw_if(ec, "tls: create context");
    return c;
}
#endif

SOCKETS_DECL void TlsContext::require_client_certificate() noexcept {
    if (state_) ::SSL_CTX_set_verify(ctx(), SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
}

SOCKETS_DECL void TlsContext::insecure_skip_verification() noexcept {
    if (state_) ::SSL_CTX_set_verify(ctx(), SSL_VERIFY_NONE, nullptr);
}

SOCKETS_DECL bool TlsContext::verifies_peer() const noexcept {
    return state_ && (::SSL_CTX_get_verify_mode(state_->ctx) & SSL_VERIFY_PEER) != 0;
}

SOCKETS_DECL void TlsContext::set_alpn(const std::vector<std::string>& protocols, std::error_code& ec) {
    if (empty(ec)) return;
    std::string wire;
    for (const std::string& p : protocols) {
        if (p.empty() || p.size() > 255) {
            ec = std::make_error_code(std::errc::invalid_argument);
            return;
        }
        wire += static_cast<char>(p.size());
        wire += p;
    }
    if (state_->server) {
        state_->alpn = std::move(wire);
        return;
    }
    // SSL_CTX_set_alpn_protos returns 0 on success, unlike everything else.
    if (::SSL_CTX_set_alpn_protos(ctx(), reinterpret_cast<const unsigned char*>(wire.data()),
                                  static_cast<unsigned>(wire.size())) != 0)
        ec = std::make_error_code(std::errc::not_enough_memory);
}

SOCKETS_DECL void TlsContext::set_min_version(TlsVersion v) noexcept {
    if (state_) ::SSL_CTX_set_min_proto_version(ctx(), v == TlsVersion::tls1_3 ? TLS1_3_VERSION : TLS1_2_VERSION);
}

SOCKETS_DECL bool TlsContext::empty(std::error_code& ec) const noexcept {
    ec.clear();
    if (state_) return false;
    ec = make_error_code(tls_errc::no_context);
    return true;
}

SOCKETS_DECL void TlsContext::check(int ok, std::error_code& ec) {
    ec.clear();
    if (ok != 1) ec = detail::take_openssl_error(nullptr, std::make_error_code(std::errc::invalid_argument));
}

SOCKETS_DECL TlsContext TlsContext::make(bool server, std::error_code& ec) {
    ec.clear();
    ::ERR_clear_error();
    TlsContext c;
    c.state_ = std::make_shared<detail::TlsContextState>();
    c.state_->server = server;
    c.state_->ctx = ::SSL_CTX_new(server ? ::TLS_server_method() : ::TLS_client_method());
    if (!c.state_->ctx) {
        ec = detail::take_openssl_error(nullptr, std::make_error_code(std::errc::not_enough_memory));
        return TlsContext();
    }
    SSL_CTX* ctx = c.state_->ctx;
    ::SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    // Partial writes: each SSL_write reports what went out, so byte counts on failure are
    // exact; a moving buffer: a retried write may come from another copy of the same bytes.
    ::SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    if (server) {
        // OpenSSL 3's default, made explicit so no system openssl.cnf can turn it on: a
        // client-initiated renegotiation costs the server a handshake for the asking.
        ::SSL_CTX_clear_options(ctx, SSL_OP_ALLOW_CLIENT_RENEGOTIATION);
        ::SSL_CTX_set_alpn_select_cb(ctx, &detail::select_alpn, c.state_.get());
    } else {
        ::SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
        // A machine without a trust store still gets a context; verification then fails
        // with "unable to get local issuer certificate", which says what is missing.
        ::SSL_CTX_set_default_verify_paths(ctx);
        ::ERR_clear_error();
    }
    return c;
}

// ---- TlsStream: lifetime ------------------------------------------------------------------

SOCKETS_DECL TlsStream& TlsStream::operator=(TlsStream&& other) noexcept {
    TlsStream(std::move(other)).swap(*this);
    return *this;
}

SOCKETS_DECL void TlsStream::swap(TlsStream& other) noexcept {
    std::swap(ssl_, other.ssl_);
    std::swap(socket_, other.socket_);
    std::swap(context_, other.context_);
    std::swap(host_, other.host_);
    std::swap(want_, other.want_);
    std::swap(rejected_, other.rejected_);
    std::swap(bio_, other.bio_);
}

SOCKETS_DECL TlsStream::~TlsStream() { ::SSL_free(ssl_); }

SOCKETS_DECL TlsStream TlsStream::make(Socket socket, const TlsContext& context, std::string_view host,
                                       std::error_code& ec) {
    ec.clear();
    ::ERR_clear_error();
    TlsStream s;
    if (!context.is_valid() || !socket.is_open()) {
        ec = context.is_valid() ? make_error_code(errc::not_open) : make_error_code(tls_errc::no_context);
        return s;
    }
    detail::TlsPeerName peer;
    if (!context.is_server()) {
        peer = detail::tls_peer_name(host, ec);
        if (ec) return s;
        // Whatever the input was ("", "[]", "."), no name means no check: refused.
        if (peer.name.empty() && context.verifies_peer()) {
            ec = make_error_code(tls_errc::host_required);
            return s;
        }
    }
    // Every wait is poll's, so the kernel never blocks a timed call (detail/io.hpp).
    socket.set_nonblocking(true, ec);
    if (ec) return s;
    // TLS sends a handshake flight, and later its session tickets, as records in separate
    // sends. With Nagle's algorithm a small record waits for the ACK of the one before,
    // which the peer may delay by 40 ms: a request-reply exchange right after the handshake
    // took 41 ms instead of 0.2 (measured). nginx turns Nagle off on TLS connections too.
    // Not TCP (a Unix-domain socket): nothing to turn off, and the error is no concern.
    std::error_code not_tcp;
    socket.set_no_delay(true, not_tcp);
    s.ssl_ = ::SSL_new(context.native_handle());
    s.bio_ = std::make_unique<detail::BioState>();
    s.bio_->handle = socket.native_handle();
    BIO* bio = s.ssl_ ? detail::SocketBio::make(s.bio_.get()) : nullptr;
    if (!bio) {
        ec = detail::take_openssl_error(nullptr, std::make_error_code(std::errc::not_enough_memory));
        return TlsStream();
    }
    ::SSL_set_bio(s.ssl_, bio, bio);
    s.rejected_ = std::make_unique<std::string>();
    ::SSL_set_ex_data(s.ssl_, detail::rejected_subject_index(), s.rejected_.get());
    ::SSL_set_verify(s.ssl_, ::SSL_CTX_get_verify_mode(context.native_handle()), &detail::note_rejected);
    s.socket_ = std::move(socket);
    s.context_ = context;
    if (context.is_server()) {
        ::SSL_set_accept_state(s.ssl_);
    } else {
        ::SSL_set_connect_state(s.ssl_);
        s.set_peer_name(peer, ec);
    }
    if (ec) return TlsStream();
    return s;
}

// Name (SNI + DNS check) or IP address (IP check, no SNI: RFC 6066 forbids literals),
// as detail::tls_peer_name normalised it.
SOCKETS_DECL void TlsStream::set_peer_name(const detail::TlsPeerName& peer, std::error_code& ec) {
    host_ = peer.name;
    if (host_.empty()) return;
    bool ok = true;
    if (peer.is_ip) {
        ok = ::X509_VERIFY_PARAM_set1_ip(::SSL_get0_param(ssl_), peer.ip, peer.ip_size) == 1;
    } else {
        ok = ::SSL_set_tlsext_host_name(ssl_, host_.c_str()) == 1 && ::SSL_set1_host(ssl_, host_.c_str()) == 1;
    }
    if (!ok) ec = detail::take_openssl_error(nullptr, std::make_error_code(std::errc::invalid_argument));
}

#if !defined(SOCKETS_NO_EXCEPTIONS)
SOCKETS_DECL TlsStream TlsStream::client(Socket socket, const TlsContext& context, std::string_view host) {
    std::error_code ec;
    TlsStream s = make(std::move(socket), context, host, ec);
    detail::throw_if(ec, "tls: new client stream");
    return s;
}

SOCKETS_DECL TlsStream TlsStream::server(Socket socket, const TlsContext& context) {
    std::error_code ec;
    TlsStream s = make(std::move(socket), context, {}, ec);
    detail::throw_if(ec, "tls: new server stream");
    return s;
}
#endif

// ---- TlsStream: the engine ----------------------------------------------------------------

SOCKETS_DECL bool TlsStream::check(std::error_code& ec) const noexcept {
    if (ssl_ && socket_.is_open()) return true;
    ec = make_error_code(tls_errc::not_connected);
    return false;
}

// Runs one OpenSSL call until it succeeds, fails, or (deadline null) would block. call
// takes the out-count and returns the SSL_* result. Waits as the library's other calls do.
// What the socket did not take before goes first; an application write (new records)
// waits until it has gone (see detail::BioState). Instantiated only by the definitions
// below, so in compiled mode it lives in src/sockets_tls.cpp alone.
template <class Call>
TlsStream::Step TlsStream::run(Call call, detail::Deadline* deadline, std::error_code& ec, std::size_t* moved,
                               bool app_write) noexcept {
    for (;;) {
        bool drained = detail::flush_unsent(*bio_, ec);
        if (ec) return Step::failed;
        if (app_write && !drained) {
            want_ = TlsWant::write;
            if (!deadline) return Step::would_block;
            if (detail::wait_after_would_block(socket_.native_handle(), true, *deadline, ec)) continue;
            return Step::failed;
        }
        ::ERR_clear_error();
        detail::clear_os_error();
        std::size_t n = 0;
        int rc = call(n);
        int os_code = detail::last_error_code();
        if (rc > 0) {
            want_ = TlsWant::nothing;
            if (moved) *moved = n;
            std::error_code later;  // a broken socket is reported by the next call
            detail::flush_unsent(*bio_, later);
            return Step::done;
        }
        int error = ::SSL_get_error(ssl_, rc);
        if (error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE) {
            bool write = error == SSL_ERROR_WANT_WRITE;
            want_ = write ? TlsWant::write : TlsWant::read;
            if (!deadline) return Step::would_block;
            // Waiting to read with bytes still to send (a renegotiation's ClientHello, say):
            // the peer may need them before it says more.
            if (!write && bio_->left() > 0) {
                if (detail::wait_either(socket_.native_handle(), *deadline, ec)) continue;
                return Step::failed;
            }
            if (detail::wait_after_would_block(socket_.native_handle(), write, *deadline, ec)) continue;
            return Step::failed;
        }
        if (error == SSL_ERROR_ZERO_RETURN) {
            ::ERR_clear_error();
            return Step::closed;
        }
        ec = to_error(error, os_code);
        // A failed handshake's alert tells the peer why: whatever of it the socket did not
        // take must not stay behind in unsent.
        std::error_code ignored;
        detail::flush_unsent(*bio_, ignored);
        return Step::failed;
    }
}

SOCKETS_DECL std::error_code TlsStream::to_error(int error, int os_code) const noexcept {
    // SSL_ERROR_SYSCALL with an empty queue: the OS said why or, with no code, the peer
    // closed the connection mid-record (OpenSSL 3 usually reports that as
    // SSL_R_UNEXPECTED_EOF_WHILE_READING). Anything else with an empty queue is a callback
    // or mode this class never sets up.
    std::error_code fallback = std::make_error_code(std::errc::protocol_error);
    if (error == SSL_ERROR_SYSCALL)
        fallback = os_code != 0 ? detail::os_error(os_code) : make_error_code(tls_errc::truncated);
    return detail::take_openssl_error(ssl_, fallback);
}

// Waits until the socket has taken every byte OpenSSL wrote, as a blocking call's end.
SOCKETS_DECL bool TlsStream::drain(detail::Deadline& deadline, std::error_code& ec) noexcept {
    while (!detail::flush_unsent(*bio_, ec)) {
        if (ec || !detail::wait_after_would_block(socket_.native_handle(), true, deadline, ec)) return false;
    }
    return true;
}

// ---- TlsStream: handshake -----------------------------------------------------------------

SOCKETS_DECL void TlsStream::handshake_until(detail::Deadline deadline, std::error_code& ec) noexcept {
    ec.clear();
    if (!check(ec)) return;
    Step step = run([this](std::size_t&) { return ::SSL_do_handshake(ssl_); }, &deadline, ec);
    if (step == Step::closed) ec = make_error_code(tls_errc::truncated);
    if (step == Step::done) drain(deadline, ec);
}

#if !defined(SOCKETS_NO_EXCEPTIONS)
SOCKETS_DECL void TlsStream::throw_handshake(detail::Deadline deadline) {
    std::error_code ec;
    handshake_until(deadline, ec);
    if (!ec) return;
    std::string what = "tls handshake";
    if (!host_.empty()) what += " with " + host_;
    std::string subject = rejected_subject();
    if (ec.category() == tls_verify_category() && !subject.empty()) what += " (certificate " + subject + ")";
    detail::throw_error(ec, what);
}
#endif

SOCKETS_DECL bool TlsStream::try_handshake(std::error_code& ec) noexcept {
    ec.clear();
    if (!check(ec)) return false;
    return run([this](std::size_t&) { return ::SSL_do_handshake(ssl_); }, nullptr, ec) == Step::done;
}

// ---- TlsStream: transfers -----------------------------------------------------------------

// One read (waiting when deadline is set), then whatever OpenSSL already holds decrypted.
SOCKETS_DECL std::optional<std::size_t> TlsStream::read_some(void* buffer, std::size_t capacity,
                                                             detail::Deadline* deadline, std::error_code& ec) noexcept {
    ec.clear();
    if (!check(ec)) return deadline ? std::optional<std::size_t>(0) : std::nullopt;
    if (capacity == 0) return std::size_t{0};
    char* out = static_cast<char*>(buffer);
    std::size_t total = 0;
    Step step = run([&](std::size_t& n) { return ::SSL_read_ex(ssl_, out, capacity, &n); }, deadline, ec, &total);
    if (step == Step::closed) return std::size_t{0};
    if (step != Step::done) return deadline ? std::optional<std::size_t>(0) : std::nullopt;
    while (total < capacity && ::SSL_pending(ssl_) > 0) {
        std::size_t n = 0;
        ::ERR_clear_error();
        if (::SSL_read_ex(ssl_, out + total, capacity - total, &n) != 1) break;
        total += n;
    }
    ::ERR_clear_error();
    return total;
}

SOCKETS_DECL std::size_t TlsStream::recv_exact_until(void* buffer, std::size_t size, detail::Deadline deadline,
                                                     std::error_code& ec) noexcept {
    ec.clear();
    if (!check(ec)) return 0;  // even for 0 bytes, as on a Socket
    char* out = static_cast<char*>(buffer);
    std::size_t total = 0;
    while (total < size) {
        std::size_t n = read_some(out + total, size - total, &deadline, ec).value_or(0);
        total += n;
        if (ec) return total;
        if (n == 0) {
            ec = errc::end_of_stream;
            return total;
        }
    }
    return total;
}

SOCKETS_DECL std::size_t TlsStream::write_all(const void* data, std::size_t size, detail::Deadline& deadline,
                                              std::error_code& ec) noexcept {
    ec.clear();
    if (!check(ec)) return 0;
    const char* in = static_cast<const char*>(data);
    std::size_t total = 0;
    while (total < size) {
        std::size_t n = 0;
        Step step = run([&](std::size_t& moved) { return ::SSL_write_ex(ssl_, in + total, size - total, &moved); },
                        &deadline, ec, &n, true);
        if (step == Step::closed) ec = make_error_code(errc::end_of_stream);  // the peer has closed
        if (step != Step::done) return total;
        total += n;
    }
    drain(deadline, ec);
    return total;
}

SOCKETS_DECL std::size_t TlsStream::gather_until(const ConstBuffer* buffers, std::size_t count,
                                                 detail::Deadline deadline, std::error_code& ec) noexcept {
    ec.clear();
    if (!check(ec)) return 0;
    constexpr std::size_t record = 16 * 1024;
    char staging[record];
    std::size_t staged = 0, total = 0;
    for (std::size_t i = 0; i < count; ++i) {
        const char* piece = static_cast<const char*>(buffers[i].data);
        std::size_t left = buffers[i].size;
        while (left > 0) {
            if (staged == 0 && left >= record) {  // a whole record straight from the caller's bytes
                std::size_t whole = left - left % record;
                std::size_t n = write_all(piece, whole, deadline, ec);
                total += n;
                if (ec) return total;
                piece += whole;
                left -= whole;
                continue;
            }
            std::size_t take = record - staged < left ? record - staged : left;
            std::memcpy(staging + staged, piece, take);
            staged += take;
            piece += take;
            left -= take;
            if (staged == record) {
                std::size_t n = write_all(staging, staged, deadline, ec);
                total += n;
                if (ec) return total;
                staged = 0;
            }
        }
    }
    if (staged > 0) total += write_all(staging, staged, deadline, ec);
    return total;
}

SOCKETS_DECL std::optional<std::size_t> TlsStream::try_send(const void* data, std::size_t size,
                                                            std::error_code& ec) noexcept {
    ec.clear();
    if (!check(ec)) return std::nullopt;
    if (size == 0) return std::size_t{0};
    std::size_t n = 0;
    Step step = run([&](std::size_t& moved) { return ::SSL_write_ex(ssl_, data, size, &moved); }, nullptr, ec, &n, true);
    if (step == Step::done) return n;
    // As send_all: a write the peer's close refused is an error, not a wait that never ends.
    if (step == Step::closed) ec = make_error_code(errc::end_of_stream);
    return std::nullopt;
}

SOCKETS_DECL bool TlsStream::try_flush(std::error_code& ec) noexcept {
    ec.clear();
    if (!check(ec)) return false;
    bool drained = detail::flush_unsent(*bio_, ec);
    if (!drained && !ec) want_ = TlsWant::write;
    return drained;
}

#if !defined(SOCKETS_NO_EXCEPTIONS)
SOCKETS_DECL std::size_t TlsStream::recv(void* buffer, std::size_t capacity, Timeout timeout) {
    std::error_code ec;
    std::size_t n = recv(buffer, capacity, timeout, ec);
    if (ec) throw_exception(TransferError(ec, detail::describe_transfer(socket_, "tls recv"), n));
    return n;
}

SOCKETS_DECL std::size_t TlsStream::recv(void* buffer, std::size_t capacity) {
    std::error_code ec;
    std::size_t n = recv(buffer, capacity, ec);
    if (ec) throw_exception(TransferError(ec, detail::describe_transfer(socket_, "tls recv"), n));
    return n;
}

SOCKETS_DECL std::size_t TlsStream::recv_exact(void* buffer, std::size_t size, Timeout timeout) {
    std::error_code ec;
    std::size_t n = recv_exact(buffer, size, timeout, ec);
    if (ec) throw_exception(TransferError(ec, detail::describe_transfer(socket_, "tls recv_exact"), n));
    return n;
}

SOCKETS_DECL std::size_t TlsStream::recv_exact(void* buffer, std::size_t size) {
    std::error_code ec;
    std::size_t n = recv_exact(buffer, size, ec);
    if (ec) throw_exception(TransferError(ec, detail::describe_transfer(socket_, "tls recv_exact"), n));
    return n;
}

SOCKETS_DECL std::size_t TlsStream::send_all(const void* data, std::size_t size, Timeout timeout) {
    std::error_code ec;
    std::size_t n = send_all(data, size, timeout, ec);
    if (ec) throw_exception(TransferError(ec, detail::describe_transfer(socket_, "tls send_all"), n));
    return n;
}

SOCKETS_DECL std::size_t TlsStream::send_all(const void* data, std::size_t size) {
    std::error_code ec;
    std::size_t n = send_all(data, size, ec);
    if (ec) throw_exception(TransferError(ec, detail::describe_transfer(socket_, "tls send_all"), n));
    return n;
}

SOCKETS_DECL std::size_t TlsStream::send_all_buffers(const ConstBuffer* buffers, std::size_t count, Timeout timeout) {
    std::error_code ec;
    std::size_t n = send_all_buffers(buffers, count, timeout, ec);
    if (ec) throw_exception(TransferError(ec, detail::describe_transfer(socket_, "tls send_all"), n));
    return n;
}

SOCKETS_DECL std::size_t TlsStream::send_all_buffers(const ConstBuffer* buffers, std::size_t count) {
    std::error_code ec;
    std::size_t n = send_all_buffers(buffers, count, ec);
    if (ec) throw_exception(TransferError(ec, detail::describe_transfer(socket_, "tls send_all"), n));
    return n;
}

SOCKETS_DECL void TlsStream::throw_empty(const char* operation) const {
    std::error_code ec;
    refuse_empty(ec);
    throw_exception(TransferError(ec, detail::describe_transfer(socket_, operation), 0));
}

SOCKETS_DECL std::string TlsStream::recv_some(std::size_t max, Timeout timeout) {
    std::error_code ec;
    std::string out = recv_some(max, timeout, ec);
    if (ec) throw_exception(TransferError(ec, detail::describe_transfer(socket_, "tls recv"), out.size()));
    return out;
}

SOCKETS_DECL std::string TlsStream::recv_some(std::size_t max) { return recv_some(max, Timeout::max()); }

SOCKETS_DECL std::optional<std::size_t> TlsStream::try_recv(void* buffer, std::size_t capacity) {
    std::error_code ec;
    auto n = try_recv(buffer, capacity, ec);
    if (ec) detail::throw_error(ec, detail::describe_transfer(socket_, "tls try_recv"));
    return n;
}

SOCKETS_DECL std::optional<std::size_t> TlsStream::try_send(const void* data, std::size_t size) {
    std::error_code ec;
    auto n = try_send(data, size, ec);
    if (ec) detail::throw_error(ec, detail::describe_transfer(socket_, "tls try_send"));
    return n;
}
#endif

// ---- TlsStream: ending --------------------------------------------------------------------

SOCKETS_DECL void TlsStream::shutdown_until(detail::Deadline deadline, std::error_code& ec) noexcept {
    ec.clear();
    if (!check(ec)) return;
    if (!(::SSL_get_shutdown(ssl_) & SSL_SENT_SHUTDOWN)) {
        // 0 means "sent, the peer's has not come": counted as done for this step.
        Step sent = run([this](std::size_t&) { return ::SSL_shutdown(ssl_) >= 0 ? 1 : -1; }, &deadline, ec);
        // A peer that already said goodbye may have closed before ours went out.
        if (sent == Step::failed && (::SSL_get_shutdown(ssl_) & SSL_RECEIVED_SHUTDOWN)) ec.clear();
        if (ec) return;
    }
    char discard[4096];
    while (!(::SSL_get_shutdown(ssl_) & SSL_RECEIVED_SHUTDOWN)) {
        std::size_t n = 0;
        Step step = run([&](std::size_t& got) { return ::SSL_read_ex(ssl_, discard, sizeof discard, &got); },
                        &deadline, ec, &n);
        if (step == Step::closed) break;
        if (step != Step::done) return;
    }
    ::ERR_clear_error();
    // Ours may still wait for room; a peer that has closed no longer needs it.
    if (!drain(deadline, ec) && !(ec == std::errc::timed_out)) ec.clear();
}

SOCKETS_DECL bool TlsStream::try_shutdown(std::error_code& ec) noexcept {
    ec.clear();
    if (!check(ec)) return false;
    if (!(::SSL_get_shutdown(ssl_) & SSL_SENT_SHUTDOWN)) {
        Step sent = run([this](std::size_t&) { return ::SSL_shutdown(ssl_) >= 0 ? 1 : -1; }, nullptr, ec);
        if (sent == Step::failed && (::SSL_get_shutdown(ssl_) & SSL_RECEIVED_SHUTDOWN)) ec.clear();
        if (ec || sent == Step::would_block) return false;
    }
    char discard[4096];
    while (!(::SSL_get_shutdown(ssl_) & SSL_RECEIVED_SHUTDOWN)) {
        std::size_t n = 0;
        Step step = run([&](std::size_t& got) { return ::SSL_read_ex(ssl_, discard, sizeof discard, &got); },
                        nullptr, ec, &n);
        if (step == Step::closed) break;
        if (step != Step::done) return false;
    }
    ::ERR_clear_error();
    // Ours may still wait for room; a peer that has closed no longer needs it.
    bool drained = detail::flush_unsent(*bio_, ec);
    if (ec) {
        ec.clear();
        return true;
    }
    if (!drained) want_ = TlsWant::write;
    return drained;
}

SOCKETS_DECL void TlsStream::send_close_notify(Timeout timeout, std::error_code& ec) noexcept {
    ec.clear();
    if (!check(ec)) return;
    detail::Deadline deadline(timeout);
    if (::SSL_get_shutdown(ssl_) & SSL_SENT_SHUTDOWN) return;
    if (run([this](std::size_t&) { return ::SSL_shutdown(ssl_) >= 0 ? 1 : -1; }, &deadline, ec) == Step::done)
        drain(deadline, ec);
}

SOCKETS_DECL void TlsStream::close(Timeout timeout, std::error_code& ec) noexcept {
    shutdown(timeout, ec);
    ::SSL_free(ssl_);
    ssl_ = nullptr;
    std::error_code ignored;
    socket_.close(ignored);
    // Closed is as empty as moved-from: nothing to wait for, nothing left to send.
    want_ = TlsWant::nothing;
    bio_.reset();
}

#if !defined(SOCKETS_NO_EXCEPTIONS)
SOCKETS_DECL void TlsStream::shutdown(Timeout timeout) {
    std::error_code ec;
    shutdown(timeout, ec);
    detail::throw_if(ec, "tls shutdown");
}

SOCKETS_DECL void TlsStream::shutdown() {
    std::error_code ec;
    shutdown(ec);
    detail::throw_if(ec, "tls shutdown");
}

SOCKETS_DECL void TlsStream::close(Timeout timeout) {
    std::error_code ec;
    close(timeout, ec);
    detail::throw_if(ec, "tls close");
}
#endif

// ---- TlsStream: what was agreed -----------------------------------------------------------

SOCKETS_DECL std::string TlsStream::alpn_protocol() const {
    const unsigned char* p = nullptr;
    unsigned len = 0;
    if (ssl_) ::SSL_get0_alpn_selected(ssl_, &p, &len);
    return p ? std::string(reinterpret_cast<const char*>(p), len) : std::string();
}

SOCKETS_DECL std::string TlsStream::protocol_version() const { return ssl_ ? ::SSL_get_version(ssl_) : ""; }

SOCKETS_DECL std::string TlsStream::peer_subject() const {
    X509* cert = ssl_ ? ::SSL_get0_peer_certificate(ssl_) : nullptr;
    if (!cert) return {};
    char line[512];
    ::X509_NAME_oneline(::X509_get_subject_name(cert), line, sizeof line);
    return line;
}

SOCKETS_DECL std::string TlsStream::rejected_subject() const {
    return rejected_ && !rejected_->empty() ? *rejected_ : peer_subject();
}

SOCKETS_DECL std::string TlsStream::verify_detail() const {
    long result = ssl_ ? ::SSL_get_verify_result(ssl_) : X509_V_OK;
    if (result == X509_V_OK) return {};
    std::string text = tls_verify_category().message(static_cast<int>(result));
    if (!host_.empty()) text += ": expected " + host_;
    std::string subject = rejected_subject();
    if (!subject.empty()) text += (host_.empty() ? ": " : ", ") + std::string("certificate ") + subject;
    return text;
}

// ---- TlsStream: recv_some ----------------------------------------------------------------

SOCKETS_DECL std::string TlsStream::recv_some(std::size_t max, Timeout timeout, std::error_code& ec) {
    std::string out;
    if (max == 0) {
        refuse_empty(ec);
        return out;
    }
    const std::size_t room = detail::recv_some_room(max);
    out.resize(room);
    out.resize(recv(&out[0], room, timeout, ec));
    return out;
}

SOCKETS_DECL std::string TlsStream::recv_some(std::size_t max, std::error_code& ec) {
    return recv_some(max, Timeout::max(), ec);
}

// ---- tls_connect, tls_accept --------------------------------------------------------------

SOCKETS_DECL TlsStream tls_connect(Socket socket, const TlsContext& context, std::string_view host, Timeout timeout,
                                   std::error_code& ec) {
    TlsStream s = TlsStream::client(std::move(socket), context, host, ec);
    if (!ec) s.handshake(timeout, ec);
    return s;
}

SOCKETS_DECL TlsStream tls_accept(Socket socket, const TlsContext& context, Timeout timeout, std::error_code& ec) {
    TlsStream s = TlsStream::server(std::move(socket), context, ec);
    if (!ec) s.handshake(timeout, ec);
    return s;
}

SOCKETS_DECL TlsStream tls_connect(Socket socket, const TlsContext& context, std::string_view host,
                                   std::error_code& ec) {
    return tls_connect(std::move(socket), context, host, Timeout::max(), ec);
}

SOCKETS_DECL TlsStream tls_accept(Socket socket, const TlsContext& context, std::error_code& ec) {
    return tls_accept(std::move(socket), context, Timeout::max(), ec);
}

#if !defined(SOCKETS_NO_EXCEPTIONS)
SOCKETS_DECL TlsStream tls_connect(Socket socket, const TlsContext& context, std::string_view host) {
    return tls_connect(std::move(socket), context, host, Timeout::max());
}

SOCKETS_DECL TlsStream tls_accept(Socket socket, const TlsContext& context) {
    return tls_accept(std::move(socket), context, Timeout::max());
}

SOCKETS_DECL TlsStream tls_connect(Socket socket, const TlsContext& context, std::string_view host, Timeout timeout) {
    TlsStream s = TlsStream::client(std::move(socket), context, host);
    s.handshake(timeout);
    return s;
}

SOCKETS_DECL TlsStream tls_accept(Socket socket, const TlsContext& context, Timeout timeout) {
    TlsStream s = TlsStream::server(std::move(socket), context);
    s.handshake(timeout);
    return s;
}
#endif

SOCKETS_MODE_NAMESPACE_END
}  // namespace sockets
