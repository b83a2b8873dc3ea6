// HTTP/1.x text, no I/O: when a reply is complete (what http_get and https_get need to tell a
// whole reply from one cut short), and the request side the servers share (tiny_http_server,
// async_http_server): where a request head ends, its limits, its parsing, the replies' heads.
//
// A close alone cannot tell: over TCP it looks the same either way, and over TLS only the
// server's close_notify vouches for it, which many servers never send (Python's http.server
// over ssl, for one). The reply's headers usually settle it (RFC 9112, 6.3): a body with a
// Content-Length, or chunked and ended by its zero-size chunk, is whole once that many bytes
// or that chunk arrived, close_notify or not; 204 and 304 have no body at all. Only a body
// with neither is delimited by the close itself, and only then does TLS need close_notify.
#pragma once

#include <algorithm>
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

namespace example {

class HttpReplyEnd {
public:
    enum class Framing { unknown, length, chunked, close };

    // Takes the next bytes received. Returns how many belong to the reply: fewer than size once
    // it is complete (what follows is not ours) or when the reply is malformed.
    std::size_t feed(const char* data, std::size_t size) {
        std::size_t used = 0;
        while (used < size && state_ != State::done && state_ != State::malformed) {
            if (state_ == State::body && framing_ != Framing::chunked) {
                std::size_t n = size - used;
                if (framing_ == Framing::length) n = static_cast<std::size_t>(std::min<std::uint64_t>(left_, n));
                used += n;
                if (framing_ == Framing::length) {
                    left_ -= n;
                    if (left_ == 0) state_ = State::done;
                }
            } else if (state_ == State::chunk_data) {
                std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(left_, size - used));
                used += n;
                left_ -= n;
                if (left_ == 0) state_ = State::chunk_data_end;
            } else {
                line_ += data[used++];  // heads, chunk sizes, trailers: line by line
                if (line_.size() > max_line) state_ = State::malformed;
                else if (line_.back() == '\n') take_line();
            }
        }
        return used;
    }

    // The connection ended cleanly (TCP's end of stream, TLS's close_notify): that completes a
    // body the close delimits, and nothing else.
    void end_of_stream() {
        if (state_ == State::body && framing_ == Framing::close) state_ = State::done;
    }

    bool complete() const { return state_ == State::done; }
    bool malformed() const { return state_ == State::malformed; }
    Framing framing() const { return framing_; }

    // Where the reply stands, for an error message: "in the headers", "412 of 3000 body bytes
    // missing", "in a chunked body", "in a body that only the close ends".
    std::string progress() const {
        if (state_ == State::malformed) return "malformed reply";
        if (state_ == State::head) return "cut short in the headers";
        if (framing_ == Framing::length) return std::to_string(left_) + " of " + std::to_string(length_) + " body bytes missing";
        if (framing_ == Framing::chunked) return "cut short in the chunked body";
        return "a body that only the close ends";
    }

private:
    enum class State { head, body, chunk_size, chunk_data, chunk_data_end, trailers, done, malformed };
    static constexpr std::size_t max_line = 64 * 1024;

    void take_line() {
        std::string_view line(line_);
        line.remove_suffix(1);
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        switch (state_) {
            case State::head: head_line(line); break;
            case State::chunk_size: chunk_size(line); break;
            case State::chunk_data_end: state_ = line.empty() ? State::chunk_size : State::malformed; break;
            case State::trailers: if (line.empty()) state_ = State::done; break;
            default: break;
        }
        line_.clear();
    }

    void head_line(std::string_view line) {
        if (status_ == 0) {  // the status line: "HTTP/1.1 200 OK"
            if (line.substr(0, 5) != "HTTP/" || line.size() < 12 || line[8] != ' ') return fail();
            status_ = std::atoi(std::string(line.substr(9, 3)).c_str());
            if (status_ < 100 || status_ > 999) return fail();
            return;
        }
        if (!line.empty()) {
            auto colon = line.find(':');
            if (colon == std::string_view::npos) return fail();
            std::string_view name = line.substr(0, colon), value = trim(line.substr(colon + 1));
            if (iequals(name, "Transfer-Encoding")) {
                encoded_ = true;
                chunked_ = ends_with_chunked(value);
            }
            if (iequals(name, "Content-Length")) {
                std::uint64_t n = 0;
                if (value.empty() || value.size() > 18) return fail();
                for (char c : value) {
                    if (!std::isdigit(static_cast<unsigned char>(c))) return fail();
                    n = n * 10 + static_cast<std::uint64_t>(c - '0');
                }
                if (has_length_ && n != length_) return fail();  // two different lengths: which one?
                has_length_ = true;
                length_ = n;
            }
            return;
        }
        // The empty line: the head is over.
        if (status_ >= 100 && status_ < 200 && status_ != 101) {  // interim (100 Continue): the real one follows
            *this = HttpReplyEnd();
            return;
        }
        if (status_ == 204 || status_ == 304) {
            framing_ = Framing::length;
            state_ = State::done;
        } else if (encoded_) {  // Transfer-Encoding overrides Content-Length (RFC 9112, 6.3)
            framing_ = chunked_ ? Framing::chunked : Framing::close;
            state_ = chunked_ ? State::chunk_size : State::body;
        } else if (has_length_) {
            framing_ = Framing::length;
            left_ = length_;
            state_ = length_ == 0 ? State::done : State::body;
        } else {
            framing_ = Framing::close;
            state_ = State::body;
        }
    }

    void chunk_size(std::string_view line) {  // "1a2b;extension=x"
        std::uint64_t n = 0;
        std::size_t digits = 0;
        for (; digits < line.size() && std::isxdigit(static_cast<unsigned char>(line[digits])); ++digits) {
            if (digits == 15) return fail();
            char c = static_cast<char>(std::tolower(static_cast<unsigned char>(line[digits])));
            n = n * 16 + static_cast<std::uint64_t>(c <= '9' ? c - '0' : c - 'a' + 10);
        }
        if (digits == 0) return fail();
        left_ = n;
        state_ = n == 0 ? State::trailers : State::chunk_data;
    }

    void fail() { state_ = State::malformed; }

    static std::string_view trim(std::string_view v) {
        while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
        while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
        return v;
    }
    static bool iequals(std::string_view a, std::string_view b) {
        if (a.size() != b.size()) return false;
        for (std::size_t i = 0; i < a.size(); ++i)
            if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) return false;
        return true;
    }
    // "gzip, chunked": only a final "chunked" frames the body; any other coding leaves it to the close.
    static bool ends_with_chunked(std::string_view value) {
        auto comma = value.rfind(',');
        return iequals(trim(comma == std::string_view::npos ? value : value.substr(comma + 1)), "chunked");
    }

    State state_ = State::head;
    Framing framing_ = Framing::unknown;
    std::string line_;
    int status_ = 0;
    bool encoded_ = false, chunked_ = false, has_length_ = false;
    std::uint64_t length_ = 0, left_ = 0;
};

// ---- the server side: requests in, reply heads out -------------------------------------------

namespace http {

inline constexpr std::size_t max_request_line = 8 * 1024;
inline constexpr std::size_t max_head = 16 * 1024;  // request line and headers

inline bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) return false;
    return true;
}

// Whether a comma-separated header value such as "keep-alive, Upgrade" holds token.
inline bool has_token(std::string_view list, std::string_view token) {
    while (!list.empty()) {
        auto comma = list.find(',');
        std::string_view item = list.substr(0, comma);
        while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
        while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
        if (iequals(item, token)) return true;
        list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
    }
    return false;
}

// Client text that goes back into a page: escape it, or the page runs whatever script it names.
inline std::string html_escape(std::string_view text) {
    std::string out;
    for (char c : text) {
        switch (c) {
            case '&': out += "&amp;"; break;
            case '<': out += "&lt;"; break;
            case '>': out += "&gt;"; break;
            case '"': out += "&quot;"; break;
            case '\'': out += "&#39;"; break;
            default: out += c;
        }
    }
    return out;
}

// Takes the next line off text: lines end in CRLF or, as RFC 9112 (2.2) allows, a bare LF.
inline std::string_view pop_line(std::string_view& text) {
    auto end = text.find('\n');
    std::string_view line = text.substr(0, end);
    text = end == std::string_view::npos ? std::string_view() : text.substr(end + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    return line;
}

// Clients may send empty lines before a request (RFC 9112, 2.2): how many bytes of them
// buffered starts with.
inline std::size_t leading_empty_lines(std::string_view buffered) {
    std::size_t n = 0;
    for (;;) {
        if (buffered.substr(n, 2) == "\r\n") n += 2;
        else if (buffered.substr(n, 1) == "\n") n += 1;
        else return n;
    }
}

// A reply to HEAD never carries a body, not even when the request is refused: too long, too
// slow, or malformed past its first word. So the method is judged from that word alone.
inline bool is_head(std::string_view request) { return request.substr(0, request.find_first_of(" \t\r\n")) == "HEAD"; }

// Where the request head ends in buffered (after leading_empty_lines): the size of the head up
// to the empty line (head), and of the head with the empty line (total); or why it is refused
// before it is complete or once it is (status 414 or 431, with its reason); or neither while
// the empty line has not come yet.
struct HeadEnd {
    std::size_t head = 0, total = 0;
    int status = 0;  // 414 or 431: refused; 0 with total 0: wait for more
    const char* reason = nullptr;

    bool complete() const { return status == 0 && total > 0; }
    bool refused() const { return status != 0; }
};

inline HeadEnd find_head_end(std::string_view buffered) {
    const HeadEnd uri_too_long{0, 0, 414, "URI Too Long"}, too_large{0, 0, 431, "Request Header Fields Too Large"};
    for (std::size_t start = 0;;) {
        auto end = buffered.find('\n', start);
        if (end == std::string_view::npos) {
            if (buffered.find('\n') == std::string_view::npos && buffered.size() > max_request_line) return uri_too_long;
            if (buffered.size() > max_head) return too_large;
            return HeadEnd{};  // wait for the rest
        }
        bool empty = end == start || (end == start + 1 && buffered[start] == '\r');
        if (empty && start > 0) {
            if (buffered.find('\n') > max_request_line) return uri_too_long;
            if (start > max_head) return too_large;
            return HeadEnd{start, end + 1};
        }
        start = end + 1;
    }
}

// One whole request head, judged: status 0 for a GET or HEAD the server may answer, else the
// refusal (400 malformed, 505 another version, 405 another method: send "Allow: GET, HEAD").
struct Request {
    int status = 0;
    const char* reason = nullptr;
    std::string_view method, target, version;
    bool head_only = false;   // HEAD: never a body, not even with an error
    bool keep_alive = false;  // what the client asked for (HTTP/1.1 by default, 1.0 on request)
    bool has_body = false;    // the request has a body, which we never read
};

inline Request parse_request(std::string_view head) {
    Request r;
    std::string_view headers = head;
    std::string_view request_line = pop_line(headers);
    r.head_only = is_head(request_line);
    auto refuse = [&r](int status, const char* reason) {
        r.status = status;
        r.reason = reason;
        return r;
    };

    auto sp1 = request_line.find(' ');
    auto sp2 = sp1 == std::string_view::npos ? sp1 : request_line.find(' ', sp1 + 1);
    if (sp2 == std::string_view::npos || request_line.find(' ', sp2 + 1) != std::string_view::npos)
        return refuse(400, "Bad Request");
    r.method = request_line.substr(0, sp1);
    r.target = request_line.substr(sp1 + 1, sp2 - sp1 - 1);
    r.version = request_line.substr(sp2 + 1);
    if (r.method.empty() || r.target.empty() || r.version.substr(0, 5) != "HTTP/") return refuse(400, "Bad Request");
    if (r.version != "HTTP/1.1" && r.version != "HTTP/1.0") return refuse(505, "HTTP Version Not Supported");

    std::string_view host, connection;
    while (!headers.empty()) {
        std::string_view field = pop_line(headers);
        auto colon = field.find(':');
        // No name, or a folded continuation line (obsolete, and a smuggling vector): refuse.
        if (colon == 0 || colon == std::string_view::npos || field.front() == ' ' || field.front() == '\t')
            return refuse(400, "Bad Request");
        std::string_view name = field.substr(0, colon), value = field.substr(colon + 1);
        while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
        while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
        if (iequals(name, "Host")) host = value;
        if (iequals(name, "Connection")) connection = value;
        if (iequals(name, "Transfer-Encoding") || (iequals(name, "Content-Length") && value != "0")) r.has_body = true;
    }
    if (r.version == "HTTP/1.1" && host.empty()) return refuse(400, "Bad Request");

    r.keep_alive = r.version == "HTTP/1.1" ? !has_token(connection, "close") : has_token(connection, "keep-alive");
    if (r.method != "GET" && !r.head_only) return refuse(405, "Method Not Allowed");
    return r;
}

// A reply's status line and headers, up to and with the empty line: an exact Content-Length
// always, and "Connection: close" whenever the server closes after it.
inline std::string reply_head(int status, const char* reason, const char* server, std::string_view content_type,
                              std::uint64_t length, bool close, const char* extra_headers = "") {
    return "HTTP/1.1 " + std::to_string(status) + " " + reason + "\r\n" + "Server: sockets-" + server + "\r\n" +
           "Content-Type: " + std::string(content_type) + "\r\n" + "Content-Length: " + std::to_string(length) +
           "\r\n" + (close ? "Connection: close\r\n" : "Connection: keep-alive\r\n") + extra_headers + "\r\n";
}

// A short page saying status: the body of every refusal.
inline std::string status_page(int status, const char* reason) {
    return "<h1>" + std::to_string(status) + " " + reason + "</h1>\n";
}

}  // namespace http

}  // namespace example
