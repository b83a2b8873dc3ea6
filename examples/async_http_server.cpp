// async_http_server: the files under a directory over HTTP/1.1, on one thread: an EventLoop and
// a coroutine per connection (C++20, sockets/async.hpp). tiny_http_server's HTTP and hardening
// (http_reply.hpp parses requests for both), with each connection written as the straight-line
// code a blocking server would have instead of a state machine:
//
//   - HTTP/1.1 as clients expect it: GET and HEAD (HEAD: the same headers as GET, never a
//     body, errors included), lines ending in CRLF or a bare LF, keep-alive (HTTP/1.1 by
//     default, HTTP/1.0 on request) and pipelined requests, an exact Content-Length on every
//     reply, "Connection: close" whenever we are going to close;
//   - the files under --root (default: the current directory): "/" and other directories
//     serve their index.html, the Content-Type follows the extension, a query is ignored.
//     Refused: a target not starting with "/", a bad %-escape, a NUL or a backslash (400); a
//     segment starting with "." (403: ".." and hidden files such as .git, checked after
//     %-decoding); a symbolic link leading out of the root (403); no such file (404). Such a
//     refusal is one log line and keeps the connection;
//   - as tiny_http_server: 400 for a malformed request, 414 for a request line over 8 KiB, 431
//     for headers over 16 KiB, 408 for a request not complete within --timeout, 405 for other
//     methods, 505 for other versions: one log line each, then the connection closes;
//   - bounded per connection: one request head buffered (16 KiB; the next is read once the
//     reply is out), a reply sent in pieces of at most 16 KiB (a file is never read whole into
//     memory, except small ones into a cache of 4 MiB in all), an idle limit between requests
//     (--idle), a lifetime (--lifetime). Every piece of a reply must be taken by the client
//     within --timeout, so one that never reads is dropped (one log line) instead of holding
//     memory or the server;
//   - at most --connections clients at once (further ones wait in the kernel's listen
//     backlog); accept failing for lack of descriptors pauses accepting for a moment, and the
//     clients already connected are still served (small files from the cache, which needs no
//     descriptor); both logged once per episode;
//   - after the last reply, a graceful close (shut down, drain for a second, close), so the
//     reply is not destroyed by a reset if the client sent more than we read;
//   - SIGINT/SIGTERM stop the loop at once (EventLoop::stop is async-signal-safe); destroying
//     it destroys every connection's task, which closes its socket, whatever it was waiting for.
//
// Files are read on the loop's thread: a slow disk stalls every client, the price of one
// thread. The directory is not watched: a file is looked up (and its cache entry checked
// against its size and time) on every request.
//
//   async_http_server [ADDRESS] [--root DIR] [--connections N] [--clients N] [--timeout S]
//                     [--idle S] [--lifetime S]
//     --clients N: exit after N connections have ended.
#include <sockets/async.hpp>

#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>

#include "common.hpp"
#include "http_reply.hpp"

using namespace sockets;
using example::Clock;
namespace fs = std::filesystem;
namespace http = example::http;

namespace {

constexpr const char* name = "async_http_server";
constexpr std::size_t chunk = 4096;                  // read from the client at once (as tiny_http_server)
constexpr std::size_t piece = 16 * 1024;             // of a file, sent at once
constexpr std::uintmax_t max_cached_file = 64 * 1024;
constexpr std::size_t max_cache = 4 * 1024 * 1024;

// ---- from a target to a file -------------------------------------------------------------------

std::string_view content_type(const fs::path& file) {
    std::string ext = file.extension().string();
    for (char& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    static const std::map<std::string, std::string_view, std::less<>> types = {
        {".html", "text/html; charset=utf-8"}, {".htm", "text/html; charset=utf-8"},
        {".txt", "text/plain; charset=utf-8"}, {".css", "text/css; charset=utf-8"},
        {".js", "text/javascript; charset=utf-8"}, {".json", "application/json"},
        {".png", "image/png"}, {".jpg", "image/jpeg"}, {".jpeg", "image/jpeg"}, {".gif", "image/gif"},
        {".svg", "image/svg+xml"}, {".ico", "image/x-icon"}, {".pdf", "application/pdf"},
        {".wasm", "application/wasm"}};
    auto it = types.find(ext);
    return it == types.end() ? std::string_view("application/octet-stream") : it->second;
}

int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

struct Found {
    int status = 200;  // or the refusal: 400, 403, 404
    const char* reason = "OK";
    fs::path path;     // the file, canonical
    std::uintmax_t size = 0;
    fs::file_time_type time;
};

Found refused(int status, const char* reason) {
    Found f;
    f.status = status;
    f.reason = reason;
    return f;
}

// The file a request target names under root (canonical), or why there is none. Decides on the
// text alone first: a request that tries to leave the root never reaches the file system.
Found find_file(std::string_view target, const fs::path& root) {
    target = target.substr(0, target.find_first_of("?#"));
    if (target.empty() || target.front() != '/') return refused(400, "Bad Request");
    std::string relative;
    bool segment_start = true;
    for (std::size_t i = 0; i < target.size(); ++i) {
        char c = target[i];
        if (c == '%') {
            int high = i + 2 < target.size() ? hex_digit(target[i + 1]) : -1;
            int low = high >= 0 ? hex_digit(target[i + 2]) : -1;
            if (low < 0) return refused(400, "Bad Request");
            c = static_cast<char>(high * 16 + low);
            i += 2;
        }
        if (c == '\0' || c == '\\') return refused(400, "Bad Request");  // a backslash separates on Windows
        if (c == '/') {
            if (!segment_start) relative += '/';  // empty segments ("//") name nothing
            segment_start = true;
            continue;
        }
        if (segment_start && c == '.') return refused(403, "Forbidden");  // "..", ".git", ".env"
        segment_start = false;
        relative += c;
    }
    std::error_code ec;
    fs::path path = root / fs::path(relative);
    if (fs::is_directory(path, ec)) path /= "index.html";
    if (!fs::is_regular_file(path, ec)) return refused(404, "Not Found");
    // A symbolic link inside the root may still lead out of it.
    fs::path real = fs::canonical(path, ec);
    if (ec) return refused(404, "Not Found");
    if (std::mismatch(root.begin(), root.end(), real.begin(), real.end()).first != root.end())
        return refused(403, "Forbidden");
    Found f;
    f.path = std::move(real);
    f.size = fs::file_size(f.path, ec);
    f.time = fs::last_write_time(f.path, ec);
    if (ec) return refused(404, "Not Found");
    return f;
}

// Small files by path, valid while their size and time are unchanged: served without opening
// them again (nor needing a descriptor for it). Emptied when full.
class FileCache {
public:
    std::shared_ptr<const std::string> find(const Found& f) const {
        auto it = files_.find(f.path.string());
        if (it == files_.end() || it->second.size != f.size || it->second.time != f.time) return nullptr;
        return it->second.bytes;
    }
    void add(const Found& f, std::shared_ptr<const std::string> bytes) {
        if (bytes_ + bytes->size() > max_cache) {
            files_.clear();
            bytes_ = 0;
        }
        auto& entry = files_[f.path.string()];
        if (entry.bytes) bytes_ -= entry.bytes->size();
        entry = Entry{f.size, f.time, std::move(bytes)};
        bytes_ += entry.bytes->size();
    }

private:
    struct Entry {
        std::uintmax_t size;
        fs::file_time_type time;
        std::shared_ptr<const std::string> bytes;
    };
    std::map<std::string, Entry> files_;
    std::size_t bytes_ = 0;
};

struct FileCloser {
    void operator()(std::FILE* f) const { std::fclose(f); }
};
using File = std::unique_ptr<std::FILE, FileCloser>;

// ---- the server --------------------------------------------------------------------------------

class HttpServer {
public:
    HttpServer(fs::path root, long max_connections, example::Options options)
        : root_(std::move(root)), max_connections_(max_connections), options_(options) {}

    void run(EventLoop& loop, Socket& listener) {
        loop_ = &loop;
        loop.spawn(accept_clients(listener));
        loop.run();
        stopped_ = true;  // the tasks the loop destroys next must not stop it again
    }

private:
    Task<void> accept_clients(Socket& listener) {
        for (;;) {
            if (live_ >= max_connections_) {  // new clients wait in the backlog meanwhile
                if (!at_cap_) example::log("%s: %ld connections: the limit; accepting again below it", name, live_);
                at_cap_ = true;
                co_await loop_->sleep(example::accept_back_off);
                continue;
            }
            at_cap_ = false;
            Address who;
            std::error_code ec;
            Socket client = co_await loop_->accept(listener, &who, Timeout::max(), ec);
            if (ec) {  // out of descriptors, for instance: back off instead of spinning
                trouble_.failed(ec);
                co_await loop_->sleep(example::accept_back_off);
                continue;
            }
            trouble_.succeeded();
            client.set_no_delay(true, ec);  // a reply's last piece must not wait for an ACK
            ++live_;
            loop_->spawn(serve(std::move(client), who));
        }
    }

    // Counts a connection out however its task ends: returning, or destroyed with the loop.
    struct Departure {
        HttpServer& server;
        ~Departure() {
            --server.live_;
            ++server.ended_;
            if (!server.stopped_ && server.options_.clients >= 0 && server.ended_ >= server.options_.clients) {
                server.stopped_ = true;
                server.loop_->stop();
            }
        }
    };

    // One connection: requests in order, each answered before the next is read.
    Task<void> serve(Socket client, Address who) {
        Departure departure{*this};
        const std::string peer = who.to_string();
        const auto born = Clock::now();
        const auto end_of_life = born + options_.lifetime + options_.timeout;  // however busy
        MessageBuffer in(http::max_head);
        std::error_code ec;
        for (long replies = 0;; ++replies) {
            // ---- a whole request head, under the idle limit and then --timeout
            const auto waiting_since = Clock::now();
            auto request_started = waiting_since;  // a pipelined request is already under way
            http::HeadEnd end;
            for (;;) {
                in.consume(http::leading_empty_lines(in.buffered()));  // allowed before a request
                end = http::find_head_end(in.buffered());
                if (end.complete() || end.refused()) break;
                const bool partial = in.size() > 0;
                auto deadline = std::min(partial ? request_started + options_.timeout
                                                 : waiting_since + (replies == 0 ? options_.timeout : options_.idle),
                                         end_of_life);
                std::size_t n = co_await loop_->recv(client, in.prepare(chunk), chunk, deadline - Clock::now(), ec);
                if (ec == std::errc::timed_out && partial && Clock::now() < end_of_life) {
                    example::log("%s: %s: request not complete in time: 408", name, peer.c_str());
                    end = http::HeadEnd{0, 0, 408, "Request Timeout"};
                    break;
                }
                if (ec || n == 0) {  // the client left (between requests: fine), or went silent
                    if (ec && ec != std::errc::timed_out) example::log("%s: %s: %s", name, peer.c_str(), ec.message().c_str());
                    else if (!ec && partial) example::log("%s: %s: left in the middle of a request", name, peer.c_str());
                    co_return;
                }
                if (!partial) request_started = Clock::now();  // the request starts with its first byte
                in.commit(n);
            }

            // ---- the reply
            const bool head_only = http::is_head(in.buffered());
            if (end.refused()) {  // too long, too slow: the stream cannot go on
                if (end.status != 408) example::log("%s: %s: %d %s", name, peer.c_str(), end.status, end.reason);
                co_await refuse(client, end.status, end.reason, head_only, ec);
                co_return;
            }
            auto request = http::parse_request(in.buffered().substr(0, end.head));
            if (request.status) {
                example::log("%s: %s: %d %s", name, peer.c_str(), request.status, request.reason);
                co_await refuse(client, request.status, request.reason, head_only, ec);
                co_return;
            }
            // We never read request bodies: after one, the stream is not at a request boundary.
            const bool close = !request.keep_alive || request.has_body || Clock::now() - born >= options_.lifetime;
            Found found = find_file(request.target, root_);
            std::string target(request.target);  // the view dies with the buffer's next read
            in.consume(end.total);
            bool sent = found.status == 200 ? co_await send_file(client, found, head_only, close, end_of_life, peer, target)
                                            : co_await send_refusal(client, found, head_only, close, end_of_life, peer, target);
            if (!sent) co_return;
            if (close) {
                co_await loop_->graceful_close(client, example::linger, ec);
                co_return;
            }
        }
    }

    // How long the client has to take the next piece of a reply: --timeout, never past the
    // connection's end of life.
    Timeout reply_time(Clock::time_point end_of_life) const {
        return std::min<Clock::duration>(options_.timeout, end_of_life - Clock::now());
    }

    // A refused request: its page (no body for HEAD), then the polite close.
    Task<void> refuse(Socket& client, int status, const char* reason, bool head_only, std::error_code& ec) {
        std::string body = http::status_page(status, reason);
        std::string reply = http::reply_head(status, reason, name, "text/html; charset=utf-8", body.size(), true,
                                             status == 405 ? "Allow: GET, HEAD\r\n" : "");
        if (!head_only) reply += body;
        co_await loop_->send_all(client, reply.data(), reply.size(), options_.timeout, ec);
        if (!ec) co_await loop_->graceful_close(client, example::linger, ec);
    }

    // A file that cannot be served (400, 403, 404): the connection goes on unless it must close.
    Task<bool> send_refusal(Socket& client, const Found& found, bool head_only, bool close,
                            Clock::time_point end_of_life, const std::string& peer, const std::string& target) {
        example::log("%s: %s: %d %s: %s", name, peer.c_str(), found.status, found.reason, printable(target).c_str());
        std::string body = http::status_page(found.status, found.reason);
        std::string reply = http::reply_head(found.status, found.reason, name, "text/html; charset=utf-8", body.size(), close);
        if (!head_only) reply += body;
        co_return co_await send(client, reply, end_of_life, peer);
    }

    Task<bool> send_file(Socket& client, const Found& found, bool head_only, bool close, Clock::time_point end_of_life,
                         const std::string& peer, const std::string& target) {
        std::string reply = http::reply_head(200, "OK", name, content_type(found.path), found.size, close);
        if (head_only) co_return co_await send(client, reply, end_of_life, peer);
        auto cached = cache_.find(found);
        if (cached) {
            reply += *cached;  // one send: the head alone would wait for the client's ACK
            co_return co_await send(client, reply, end_of_life, peer);
        }
        File file(std::fopen(found.path.string().c_str(), "rb"));
        if (!file) {
            int error = errno;
            bool out_of_descriptors = error == EMFILE || error == ENFILE;
            Found why = out_of_descriptors ? refused(503, "Service Unavailable")
                        : error == EACCES  ? refused(403, "Forbidden")
                                           : refused(404, "Not Found");
            co_return co_await send_refusal(client, why, false, close || out_of_descriptors, end_of_life, peer, target);
        }
        if (found.size <= max_cached_file) {
            auto bytes = std::make_shared<std::string>(static_cast<std::size_t>(found.size), '\0');
            bytes->resize(std::fread(bytes->data(), 1, bytes->size(), file.get()));
            file.reset();
            if (bytes->size() != found.size) co_return changed(peer, target);
            cache_.add(found, bytes);
            reply += *bytes;
            co_return co_await send(client, reply, end_of_life, peer);
        }
        // A large file: a piece at a time, each of which the client must take within --timeout.
        std::uintmax_t left = found.size;
        std::size_t head = reply.size();
        reply.resize(head + piece);
        for (std::size_t start = head; left > 0; start = 0) {
            std::size_t want = static_cast<std::size_t>(std::min<std::uintmax_t>(left, reply.size() - start));
            std::size_t got = std::fread(reply.data() + start, 1, want, file.get());
            if (got != want) co_return changed(peer, target);  // shorter than the length we promised
            left -= got;
            if (!co_await send(client, std::string_view(reply.data(), start + got), end_of_life, peer)) co_return false;
        }
        co_return true;
    }

    bool changed(const std::string& peer, const std::string& target) {
        example::log("%s: %s: %s changed while being sent: closing", name, peer.c_str(), printable(target).c_str());
        return false;
    }

    Task<bool> send(Socket& client, std::string_view bytes, Clock::time_point end_of_life, const std::string& peer) {
        std::error_code ec;
        co_await loop_->send_all(client, bytes.data(), bytes.size(), reply_time(end_of_life), ec);
        if (!ec) co_return true;
        example::log("%s: %s: %s", name, peer.c_str(),
                     ec == std::errc::timed_out ? "does not read its replies (timed out)" : ec.message().c_str());
        co_return false;
    }

    // Client text goes to our log: never let it carry terminal escape sequences there.
    static std::string printable(std::string_view text) {
        std::string out(text.substr(0, 200));
        for (char& c : out)
            if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
        return out;
    }

    fs::path root_;
    long max_connections_;
    example::Options options_;
    EventLoop* loop_ = nullptr;
    FileCache cache_;
    long live_ = 0, ended_ = 0;
    bool at_cap_ = false, stopped_ = false;
    example::AcceptTrouble trouble_{name};
};

}  // namespace

int main(int argc, char* argv[]) {
    // --root and --connections are this server's own; the rest are every server's.
    std::string root = ".";
    long max_connections = 10000;
    std::vector<char*> rest{argv[0]};
    for (int i = 1; i < argc; ++i) {
        char* end = nullptr;
        if (!std::strcmp(argv[i], "--root") && i + 1 < argc)
            root = argv[++i];
        else if (!std::strcmp(argv[i], "--connections") && i + 1 < argc &&
                 (max_connections = std::strtol(argv[i + 1], &end, 10)) > 0 && *end == '\0')
            ++i;
        else
            rest.push_back(argv[i]);  // a bad --connections value too: the usage says why
    }
    auto options = example::parse_options(
        static_cast<int>(rest.size()), rest.data(),
        "usage: async_http_server [ADDRESS] [--root DIR] [--connections N] [options]\n"
        "  serves the files under DIR with GET and HEAD on one thread, a coroutine per connection\n"
        "  --root DIR       the directory to serve (default: the current one); index.html for a directory\n"
        "  --connections N  clients served at once; more wait to be accepted (default 10000)\n"
        "  (--clients N: exit after N connections have ended)");
    std::error_code ec;
    fs::path canonical_root = fs::canonical(root, ec);
    if (ec || !fs::is_directory(canonical_root, ec)) {
        std::fprintf(stderr, "async_http_server: --root %s: not a directory\n", root.c_str());
        return 2;
    }
    try {
        Socket listener = listen_on(Address::parse(options.where));
        example::log("listening on %s", listener.local_address().to_string().c_str());
        HttpServer server(canonical_root, max_connections, options);  // outlives the loop's tasks
        EventLoop loop;
        example::StopOnSignals<EventLoop> stop_on_signals(loop);
        server.run(loop, listener);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "async_http_server: %s\n", e.what());
        return 1;
    }
}
