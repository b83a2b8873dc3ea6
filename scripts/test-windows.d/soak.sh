# Sourced by scripts/test-windows after the TLS interop: the hostile-client soak of the
# Windows example servers under wine (scripts/soak.d/soak.py --wine): the abusive clients
# (resets, garbage, half-open, idle and trickling clients, readers that never read, resets
# while queued for accept) and a short run of sequential clients against tls_echo_server.exe
# and every other example server (tiny_http_server.exe meets curl and Python's HTTP clients
# too), each server's Windows sockets (counted at the wineserver), threads and memory back to
# its baseline after every case, then each stopped by Ctrl-C (SIGINT); the coroutine servers
# (async_*.exe, C++20) are also stopped with clients connected in every state. What cannot
# apply under wine is skipped, and the run prints what and why. About 2 minutes; bounded: the
# whole run, wine processes included (they share its process group), under `timeout`.
echo "== soak under wine: hostile clients against the Windows example servers"
soak_certs=$PWD/$build_dir/soak-certs
tests/tls/make-certs.sh "$soak_certs" >/dev/null
timeout --kill-after=10 300 python3 scripts/soak.d/soak.py --wine --bin "$PWD/$build_dir/examples" \
  --tls-certs "$soak_certs" --short-lived 1000
