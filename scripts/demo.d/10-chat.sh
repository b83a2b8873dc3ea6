# Sourced by scripts/demo: one thread, one Poller, many clients, line framing.
echo "== chat: one server thread with a Poller relays lines between clients"
start_server "$bin/chat_server" 127.0.0.1:0 --clients 2
listener_log=$logs/ann
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
