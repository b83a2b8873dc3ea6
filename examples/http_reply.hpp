// When an HTTP/1.x reply is complete: what http_get and https_get need to tell a whole reply
// from one cut short.
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

}  // namespace example
