// TLS bulk throughput: TlsStream (non-blocking socket, poll on would-block, our BIO) against
// plain OpenSSL on a blocking socket (SSL_set_fd, SSL_write/SSL_read loops), same context and
// cipher, interleaved runs. Prints "tls_bulk LIB RAW MiB/s".
//   tls_bench CERT_DIR [--quick]
#include <sockets/connect.hpp>
#include <sockets/tls.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

using namespace sockets;
using Clock = std::chrono::steady_clock;

static void raw_write_all(SSL* ssl, const char* data, std::size_t size) {
    while (size > 0) {
        std::size_t n = 0;
        if (SSL_write_ex(ssl, data, size, &n) != 1) throw std::runtime_error("SSL_write");
        data += n;
        size -= n;
    }
}
static void raw_read_exact(SSL* ssl, char* out, std::size_t size) {
    while (size > 0) {
        std::size_t n = 0;
        if (SSL_read_ex(ssl, out, size, &n) != 1) throw std::runtime_error("SSL_read");
        out += n;
        size -= n;
    }
}

static double bulk(bool lib, std::size_t total, const TlsContext& server_ctx, const TlsContext& client_ctx) {
    Socket listener = listen_on(Address::loopback(Family::ipv4));
    Socket a = connect_to(listener.local_address());
    Socket b = listener.accept();
    const std::size_t chunk = 64 * 1024;
    std::vector<char> data(chunk, 'x'), buffer(chunk);
    double seconds = 0;
    if (lib) {
        std::thread sender([&] {
            TlsStream s = tls_accept(std::move(a), server_ctx, std::chrono::seconds(10));
            for (std::size_t sent = 0; sent < total; sent += chunk) s.send_all(data.data(), chunk);
            s.shutdown(std::chrono::seconds(10));
        });
        TlsStream r = tls_connect(std::move(b), client_ctx, "localhost", std::chrono::seconds(10));
        auto start = Clock::now();
        for (std::size_t got = 0; got < total; got += chunk) r.recv_exact(buffer.data(), chunk);
        seconds = std::chrono::duration<double>(Clock::now() - start).count();
        r.shutdown(std::chrono::seconds(10));
        sender.join();
    } else {
        std::thread sender([&] {
            SSL* s = SSL_new(server_ctx.native_handle());
            SSL_set_fd(s, static_cast<int>(a.native_handle()));
            if (SSL_accept(s) != 1) throw std::runtime_error("SSL_accept");
            for (std::size_t sent = 0; sent < total; sent += chunk) raw_write_all(s, data.data(), chunk);
            SSL_shutdown(s);
            SSL_free(s);
        });
        SSL* r = SSL_new(client_ctx.native_handle());
        SSL_set_fd(r, static_cast<int>(b.native_handle()));
        SSL_set1_host(r, "localhost");
        if (SSL_connect(r) != 1) throw std::runtime_error("SSL_connect");
        auto start = Clock::now();
        for (std::size_t got = 0; got < total; got += chunk) raw_read_exact(r, buffer.data(), chunk);
        seconds = std::chrono::duration<double>(Clock::now() - start).count();
        SSL_shutdown(r);
        SSL_free(r);
        sender.join();
    }
    return static_cast<double>(total) / (1 << 20) / seconds;
}

static double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

int main(int argc, char* argv[]) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: tls_bench CERT_DIR [--quick]\n");
        return 2;
    }
    std::string dir = argv[1];
    bool quick = argc > 2 && std::string(argv[2]) == "--quick";
    TlsContext server = TlsContext::server(dir + "/server.pem", dir + "/server.key");
    TlsContext client = TlsContext::client();
    client.load_verify_file(dir + "/ca.pem");
    std::size_t total = quick ? (256u << 20) : (1024u << 20);
    std::vector<double> lib, raw;
    for (int i = 0; i < (quick ? 3 : 5); ++i) {  // interleaved, so drift hits both alike
        raw.push_back(bulk(false, total, server, client));
        lib.push_back(bulk(true, total, server, client));
    }
    std::printf("tls_bulk %.1f %.1f MiB/s\n", median(lib), median(raw));
}
