#!/usr/bin/env python3
"""A TLS peer from Python's ssl module, for interop checks across the Windows/Linux line
(scripts/test-windows runs the Windows examples under wine against it, and it against them).

  peer.py echo  CERT KEY         one TLS echo client served; prints its port first
  peer.py https CERT KEY         one HTTPS GET answered with "hello from python"; port first
  peer.py client PORT CA MSG     connects to 127.0.0.1:PORT verifying "localhost" against CA,
                                 sends MSG, prints the echo and the protocol, closes cleanly

Every peer ends with close_notify both ways (unwrap) and takes an end without one as an
error (no ragged EOFs), and every socket has a timeout, so nothing here can hang.
"""
import socket
import ssl
import sys

TIMEOUT = 30


def listen(cert, key):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(TIMEOUT)
    print(listener.getsockname()[1], flush=True)
    raw, _ = listener.accept()
    raw.settimeout(TIMEOUT)
    return context.wrap_socket(raw, server_side=True, suppress_ragged_eofs=False)


def read_until(conn, end):
    data = b""
    while not data.endswith(end):
        chunk = conn.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


def echo(cert, key):
    with listen(cert, key) as conn:
        while True:
            data = conn.recv(4096)
            if not data:  # the client's close_notify
                break
            conn.sendall(data)
        conn.unwrap()
    print("python echo server: done", flush=True)


def https(cert, key):
    with listen(cert, key) as conn:
        request = read_until(conn, b"\r\n\r\n").decode("latin-1")
        body = b"hello from python\n"
        conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
        conn.unwrap()  # close_notify, then the client's
    print("python https server: served " + request.split("\r\n")[0], flush=True)


def client(port, ca, message):
    context = ssl.create_default_context(cafile=ca)
    with socket.create_connection(("127.0.0.1", int(port)), timeout=TIMEOUT) as raw:
        with context.wrap_socket(raw, server_hostname="localhost", suppress_ragged_eofs=False) as conn:
            conn.sendall(message.encode())
            got = b""
            while len(got) < len(message):
                chunk = conn.recv(4096)
                if not chunk:
                    break
                got += chunk
            print("echo: %s %s" % (got.decode(), conn.version()), flush=True)
            conn.unwrap()


if __name__ == "__main__":
    mode, args = sys.argv[1], sys.argv[2:]
    {"echo": echo, "https": https, "client": client}[mode](*args)
