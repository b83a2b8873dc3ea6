# Sourced by scripts/demo: length-prefixed request/response.
echo "== kv: a key-value server speaking length-prefixed messages"
start_server "$bin/kv_server" 127.0.0.1:0 --clients 1
"$bin/kv_client" 127.0.0.1 "$port" "SET language C++" "SET header sockets.hpp" "GET language" "DEL header" "GET header"
finish_server
