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
  echo
  echo "== async echo on more cores: two loops, one per thread, each with its own listener (SO_REUSEPORT)"
  start_server "$bin/async_echo_server" 127.0.0.1:0 --threads 2 --clients 4
  clients=()
  for k in 1 2 3; do
    "$bin/echo_client" 127.0.0.1 "$port" "client $k" >"$logs/async-threads$k" 2>&1 &
    clients+=($!)
  done
  "$bin/echo_client" 127.0.0.1 "$port" "client 4"
  for c in "${clients[@]}"; do wait "$c"; done
  cat "$logs"/async-threads*
  finish_server
fi
if [ -x "$bin/async_chat_server" ]; then
  echo
  echo "== async chat: chat_server's protocol on one thread, a coroutine per client"
  start_server "$bin/async_chat_server" 127.0.0.1:0 --clients 2
  listener_log=$logs/async_ann
  "$bin/chat_client" 127.0.0.1 "$port" ann --expect 2 >"$listener_log" 2>&1 &
  ann=$!
  deadline=$((SECONDS + 30))
  until grep -q joined "$listener_log"; do  # ann must be in the room before bob speaks
    [ $SECONDS -lt $deadline ] || { echo "ann did not join" >&2; exit 1; }
    sleep 0.05
  done
  "$bin/chat_client" 127.0.0.1 "$port" bob --expect 0 "hi ann" "bye ann"
  wait "$ann"
  cat "$listener_log"
  finish_server
fi
