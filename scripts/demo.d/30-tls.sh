# Sourced by scripts/demo: TLS with a certificate made on the fly (tests/tls/make-certs.sh).
# Built only where OpenSSL 3 is found (the sockets::tls target); skipped otherwise.
if [ ! -x "$bin/tls_echo_server" ]; then
  echo "== tls: skipped (built without OpenSSL 3: apt-get install libssl-dev openssl)"
else
  need_packages openssl
  certs=$logs/certs
  tests/tls/make-certs.sh "$certs" >/dev/null

  echo "== tls echo: a TLS echo server and a client that verifies its certificate"
  start_server "$bin/tls_echo_server" --cert "$certs/server.pem" --key "$certs/server.key" 127.0.0.1:0 --clients 1
  "$bin/tls_echo_client" 127.0.0.1 "$port" --ca "$certs/ca.pem" --name localhost hello "over TLS"
  finish_server

  echo
  echo "== tls mutual: the server requires a client certificate from the test CA"
  start_server "$bin/tls_echo_server" --cert "$certs/server.pem" --key "$certs/server.key" \
    --client-ca "$certs/ca.pem" 127.0.0.1:0 --clients 2
  "$bin/tls_echo_client" 127.0.0.1 "$port" --ca "$certs/ca.pem" --cert "$certs/client.pem" --key "$certs/client.key" \
    "with a client certificate"
  if "$bin/tls_echo_client" 127.0.0.1 "$port" --ca "$certs/ca.pem" "without one" 2>"$logs/refused"; then
    echo "a client without a certificate got in" >&2; exit 1
  fi
  echo "refused as it should be: $(cat "$logs/refused")"
  finish_server

  echo
  echo "== https_get against openssl s_server (-WWW serves files from its directory)"
  printf 'hello from https\n' >"$certs/index.html"
  # Not our code: kept out of scripts/test-faults' fault injection (LD_PRELOAD).
  ( cd "$certs" && exec env -u LD_PRELOAD openssl s_server -accept 127.0.0.1:0 -naccept 2 -WWW -cert server.pem -key server.key ) \
    >"$logs/s_server" 2>&1 &
  s_server=$!
  deadline=$((SECONDS + 30))
  until grep -q ACCEPT "$logs/s_server"; do
    [ $SECONDS -lt $deadline ] && kill -0 "$s_server" 2>/dev/null || { cat "$logs/s_server"; echo "s_server did not start" >&2; exit 1; }
    sleep 0.05
  done
  port=$(sed -n 's/^ACCEPT .*:\([0-9]*\)$/\1/p' "$logs/s_server" | head -1)
  "$bin/https_get" localhost "$port" /index.html --ca "$certs/ca.pem"
  echo "-- the same server without --ca: its CA is in no trust store"
  if "$bin/https_get" localhost "$port" /index.html 2>"$logs/untrusted"; then
    echo "https_get accepted a certificate from an unknown CA" >&2; exit 1
  fi
  echo "https_get refused (exit 1): $(cat "$logs/untrusted")"
  wait "$s_server" || true

  echo
  echo "== https_get against Python's http.server over ssl: it closes without close_notify, but"
  echo "   its Content-Length says the reply is whole (a reply cut short would exit 1)"
  # Not our code either: outside the fault injection.
  env -u LD_PRELOAD python3 -c '
import functools, http.server, ssl, sys
handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=sys.argv[2])
server = http.server.HTTPServer(("127.0.0.1", 0), handler)
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(sys.argv[1] + "/server.pem", sys.argv[1] + "/server.key")
server.socket = context.wrap_socket(server.socket, server_side=True)
print("listening on 127.0.0.1:%d" % server.server_address[1], flush=True)
server.handle_request()
' "$certs" "$certs" >"$logs/py_https" 2>&1 &
  py_https=$!
  deadline=$((SECONDS + 30))
  until grep -q "listening on" "$logs/py_https"; do
    [ $SECONDS -lt $deadline ] && kill -0 "$py_https" 2>/dev/null || { cat "$logs/py_https"; echo "python did not start" >&2; exit 1; }
    sleep 0.05
  done
  port=$(sed -n 's/.*listening on .*:\([0-9]*\)$/\1/p' "$logs/py_https")
  "$bin/https_get" localhost "$port" /index.html --ca "$certs/ca.pem"
  wait "$py_https"
fi
