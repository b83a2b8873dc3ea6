# Sourced by scripts/demo: the echo server again, on one thread with coroutines (C++20).
if [ -x "$bin/async_echo_server" ]; then
  echo "== async echo: one thread, an EventLoop and a coroutine per client, two clients at once"
  start_server "$bin/async_echo_server" 127.0.0.1:0 --clients 2
  "$bin/echo_client" 127.0.0.1 "$port" "first client" "still here" >"$logs/async1" 2>&1 &
  first=$!
  "$bin/echo_client" 127.0.0.1 "$port" "second client"
  wait "$first"
  cat "$logs/async1"
  finish_server
fi
