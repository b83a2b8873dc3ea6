# Sourced by scripts/demo: the TLS echo server on one thread with coroutines (C++20 and
# OpenSSL 3); uses the certificates 30-tls.sh made.
if [ -x "$bin/async_tls_echo_server" ]; then
  certs=$logs/certs
  [ -f "$certs/ca.pem" ] || tests/tls/make-certs.sh "$certs" >/dev/null
  echo "== async tls echo: handshakes, echoes and close_notify on one thread, two clients at once"
  start_server "$bin/async_tls_echo_server" --cert "$certs/server.pem" --key "$certs/server.key" 127.0.0.1:0 --clients 2
  "$bin/tls_echo_client" 127.0.0.1 "$port" --ca "$certs/ca.pem" --name localhost "first client" "still here" \
    >"$logs/async_tls1" 2>&1 &
  first=$!
  "$bin/tls_echo_client" 127.0.0.1 "$port" --ca "$certs/ca.pem" --name localhost "second client"
  wait "$first"
  cat "$logs/async_tls1"
  finish_server
fi
