# Sourced by scripts/demo: static files over HTTP/1.1 on one thread, a coroutine per connection
# (C++20), met by curl: a file, HEAD, a 404, and two requests on one kept-alive connection.
if [ -x "$bin/async_http_server" ]; then
  echo "== async http: the files of a directory, one thread, a coroutine per connection, curl as the client"
  site=$logs/site
  mkdir -p "$site"
  printf '<h1>Hello from async_http_server</h1>\n' >"$site/index.html"
  printf 'a plain text file\n' >"$site/hello.txt"
  start_server "$bin/async_http_server" 127.0.0.1:0 --root "$site" --clients 4
  url=http://127.0.0.1:$port
  # curl runs outside the fault library (scripts/test-faults): the server is what is under test,
  # and curl takes an injected EINTR from connect for a failure.
  echo "-- curl $url/hello.txt"
  env -u LD_PRELOAD curl -sS "$url/hello.txt"
  echo "-- curl -I $url/ (HEAD: the headers GET would get, no body)"
  env -u LD_PRELOAD curl -sS -I "$url/" | tr -d '\r'
  echo "-- curl -i $url/missing.html"
  env -u LD_PRELOAD curl -sS -i "$url/missing.html" | tr -d '\r'
  echo "-- curl -v $url/ $url/hello.txt (two requests, one connection)"
  env -u LD_PRELOAD curl -sS -v "$url/" "$url/hello.txt" 2>"$logs/async_http_v"
  grep -E '^\* (Connected|Re-using)|^< HTTP' "$logs/async_http_v" | tr -d '\r'
  grep -q 'Re-using existing connection' "$logs/async_http_v" || { echo "the connection was not kept alive" >&2; exit 1; }
  finish_server
fi
