# Sourced by scripts/test-windows after the suite: TLS across the Windows/Linux line, over
# loopback. The Windows examples (under wine) against Linux peers, and Linux clients against
# the Windows server; the peers are Python's ssl module (tests/tls/peer.py) and the openssl
# tool. Every process runs under `timeout` (a hang guard, never a synchronisation) and every
# wait for a port or a line polls with a deadline.
echo "== TLS interop: Windows examples (wine) against Linux peers, and Linux clients against them"
bin=$PWD/$build_dir/examples
certs=$PWD/$build_dir/tls-interop-certs
tests/tls/make-certs.sh "$certs" >/dev/null
printf 'hello from s_server\n' >"$certs/index.html"
interop_logs=$(mktemp -d)
interop_pids=()
guard=60  # seconds any one process may run
interop_cleanup() {
  local p
  for p in "${interop_pids[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$interop_logs"
}
trap interop_cleanup EXIT

fail() {
  echo "interop FAILED: $1" >&2
  shift
  local f
  for f in "$@"; do echo "--- $f" >&2; cat "$f" >&2 || true; done
  exit 1
}
# spawn LOG COMMAND...: runs COMMAND in the background under the guard; sets $pid.
spawn() {
  local log=$1; shift
  : >"$log"  # exists before the first look at it
  timeout "$guard" "$@" >"$log" 2>&1 &
  pid=$!
  interop_pids+=("$pid")
}
# wait_for LOG SED_EXPRESSION: polls LOG until the expression prints something (the port);
# sets $found. Fails if the process ($pid) ends first or 30 s pass.
wait_for() {
  local log=$1 expression=$2 deadline=$((SECONDS + 30))
  until found=$(sed -n "$expression" "$log" | head -n 1) && [ -n "$found" ]; do
    kill -0 "$pid" 2>/dev/null || fail "the peer ended before it was ready" "$log"
    [ $SECONDS -lt $deadline ] || fail "the peer was not ready within 30 s" "$log"
    sleep 0.05
  done
}
# run NAME LOG COMMAND...: a client in the foreground under the guard; fails on non-zero exit.
run() {
  local name=$1 log=$2; shift 2
  timeout "$guard" "$@" >"$log" 2>&1 || fail "$name exited with $?" "$log"
}
expect() {  # expect NAME LOG TEXT
  grep -qF -- "$3" "$2" || fail "$1: no \"$3\" in its output" "$2"
}
L=$interop_logs

echo "-- https_get.exe -> python3 ssl HTTPS server"
spawn "$L/py-https" python3 tests/tls/peer.py https "$certs/server.pem" "$certs/server.key"
wait_for "$L/py-https" '1{/^[0-9][0-9]*$/p}'
run "https_get" "$L/https_get-py" wine "$bin/https_get.exe" localhost "$found" /from-windows --ca "$certs/ca.pem"
expect "https_get" "$L/https_get-py" "hello from python"
expect "https_get" "$L/https_get-py" "certificate /CN=localhost verified"
wait "$pid" || fail "the python HTTPS server exited with $?" "$L/py-https"
expect "python https server" "$L/py-https" "served GET /from-windows HTTP/1.0"

echo "-- https_get.exe -> openssl s_server -WWW (trusted by --ca, by SSL_CERT_FILE, and not at all)"
: >"$L/s_server-www"
( cd "$certs" && exec openssl s_server -accept 127.0.0.1:0 -naccept 3 -WWW -cert server.pem -key server.key ) \
  >"$L/s_server-www" 2>&1 &
pid=$!
interop_pids+=("$pid")
wait_for "$L/s_server-www" 's/^ACCEPT .*:\([0-9][0-9]*\)$/\1/p'
port=$found
run "https_get --ca" "$L/https_get-ca" wine "$bin/https_get.exe" localhost "$port" /index.html --ca "$certs/ca.pem"
expect "https_get --ca" "$L/https_get-ca" "hello from s_server"
# OpenSSL's default trust on Windows is SSL_CERT_FILE / SSL_CERT_DIR, else OPENSSLDIR's
# cert.pem (none: a Linux path in this build), never the Windows certificate store.
run "https_get SSL_CERT_FILE" "$L/https_get-env" env SSL_CERT_FILE="$certs/ca.pem" wine \
  "$bin/https_get.exe" localhost "$port" /index.html
expect "https_get SSL_CERT_FILE" "$L/https_get-env" "hello from s_server"
if timeout "$guard" wine "$bin/https_get.exe" localhost "$port" /index.html >"$L/https_get-untrusted" 2>&1; then
  fail "https_get trusted a certificate from an unknown CA" "$L/https_get-untrusted"
fi
expect "https_get without a CA" "$L/https_get-untrusted" "unknown CA"
wait "$pid" || fail "openssl s_server -WWW exited with $?" "$L/s_server-www"

echo "-- tls_echo_client.exe -> python3 ssl echo server"
spawn "$L/py-echo" python3 tests/tls/peer.py echo "$certs/server.pem" "$certs/server.key"
wait_for "$L/py-echo" '1{/^[0-9][0-9]*$/p}'
run "tls_echo_client" "$L/echo_client-py" wine "$bin/tls_echo_client.exe" 127.0.0.1 "$found" --ca "$certs/ca.pem" \
  --name localhost hello "from windows"
expect "tls_echo_client" "$L/echo_client-py" 'got back "from windows"'
expect "tls_echo_client" "$L/echo_client-py" "closed with close_notify both ways"
wait "$pid" || fail "the python echo server exited with $?" "$L/py-echo"
expect "python echo server" "$L/py-echo" "python echo server: done"

echo "-- tls_echo_client.exe -> openssl s_server -rev (a palindrome, so the reversed echo is the echo)"
spawn "$L/s_server-rev" openssl s_server -accept 127.0.0.1:0 -naccept 1 -rev \
  -cert "$certs/server.pem" -key "$certs/server.key"
wait_for "$L/s_server-rev" 's/^ACCEPT .*:\([0-9][0-9]*\)$/\1/p'
run "tls_echo_client" "$L/echo_client-rev" wine "$bin/tls_echo_client.exe" localhost "$found" --ca "$certs/ca.pem" \
  $'step on no pets\n'
expect "tls_echo_client" "$L/echo_client-rev" 'got back "step on no pets'
expect "tls_echo_client" "$L/echo_client-rev" "closed with close_notify both ways"
wait "$pid" || fail "openssl s_server -rev exited with $?" "$L/s_server-rev"

echo "-- python3 ssl client and openssl s_client -> tls_echo_server.exe"
spawn "$L/echo_server" wine "$bin/tls_echo_server.exe" --cert "$certs/server.pem" --key "$certs/server.key" \
  127.0.0.1:0 --clients 2
server=$pid
wait_for "$L/echo_server" 's/.*listening on .*:\([0-9][0-9]*\).*/\1/p'  # lines end in CRLF
port=$found
run "python client" "$L/py-client" python3 tests/tls/peer.py client "$port" "$certs/ca.pem" "from python"
expect "python client" "$L/py-client" "echo: from python TLSv1.3"
# s_client sends its close_notify when its input ends: the input stays open until the echo
# has arrived, so the close cannot overtake it.
: >"$L/s_client"
{
  printf 'from s_client\n'
  deadline=$((SECONDS + 30))
  until grep -q '^from s_client' "$L/s_client"; do
    [ $SECONDS -lt $deadline ] || break
    sleep 0.05
  done
} | timeout "$guard" openssl s_client -connect "127.0.0.1:$port" -servername localhost \
      -verify_return_error -CAfile "$certs/ca.pem" -nocommands >"$L/s_client" 2>&1 \
  || fail "openssl s_client exited with $?" "$L/s_client"
expect "openssl s_client" "$L/s_client" "Verify return code: 0 (ok)"
grep -q '^from s_client' "$L/s_client" || fail "openssl s_client: no echo" "$L/s_client"
pid=$server
wait "$server" || fail "tls_echo_server.exe exited with $?" "$L/echo_server"
expect "tls_echo_server" "$L/echo_server" "TLSv1.3"
if grep -qiE 'handshake:|error|truncated' "$L/echo_server"; then
  fail "tls_echo_server.exe reported a problem" "$L/echo_server"
fi
echo "TLS interop: all checks passed"
