#!/bin/bash
# Serves a copy of tests/fixtures/gray-320.jpg through tests/php/server.php under PHP's built-in
# web server (FFI enabled as run.sh enables it) and requests transforms, errors and traversals.
# Needs include/picsmith.h and the built libpicsmith.so, as smoke.php does.
set -euo pipefail
cd "$(dirname "$0")/../.."

work=$(mktemp -d)
server_pid=
stop() {
    if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap stop EXIT

mkdir "$work/originals" "$work/outside"
cp tests/fixtures/gray-320.jpg "$work/originals/"
echo 'not an image' >"$work/originals/notes.txt"
cp tests/fixtures/gray-320.jpg "$work/outside/secret.jpg"
ln -s "$work/outside/secret.jpg" "$work/originals/link.jpg"

# A port the kernel just handed out and released; the server binds it right after.
port=$(php -r '$s = stream_socket_server("tcp://127.0.0.1:0"); echo substr(strrchr(stream_socket_get_name($s, false), ":"), 1);')
PICSMITH_PHP_ORIGINALS="$work/originals" php -d ffi.enable=1 -S "127.0.0.1:$port" tests/php/server.php \
    >"$work/server.log" 2>&1 &
server_pid=$!
base="http://127.0.0.1:$port"
for _ in $(seq 50); do
    curl -s -o /dev/null "$base/" && break
    sleep 0.1
done

passed=0
failed=0
check() { # check WHAT COMMAND...: runs the command, counts and prints the outcome
    local what=$1
    shift
    if "$@"; then
        passed=$((passed + 1))
        echo "ok   $what"
    else
        failed=$((failed + 1))
        echo "FAIL $what"
    fi
}

# get NAME CURL-ARGS...: the response of one request in $work/NAME.body, .headers and .status
get() {
    local name=$1
    shift
    # A failed transfer leaves status 000, which fails the checks that read it.
    curl -s --path-as-is -D "$work/$name.headers" -o "$work/$name.body" -w '%{http_code}' "$@" >"$work/$name.status" || true
}
# raw NAME 'METHOD TARGET': as get, through a plain socket read until the server closes, so a
# body sent after the headers of a HEAD answer would show (curl -I would not read it).
raw() {
    php -r '
        [, $port, $line, $out] = $argv;
        $socket = stream_socket_client("tcp://127.0.0.1:$port");
        fwrite($socket, "$line HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
        [$head, $body] = explode("\r\n\r\n", stream_get_contents($socket), 2) + [1 => ""];
        file_put_contents("$out.headers", "$head\r\n");
        file_put_contents("$out.body", $body);
        file_put_contents("$out.status", explode(" ", $head)[1] ?? "000");
    ' "$port" "$2" "$work/$1"
}
status_is() { [ "$(cat "$work/$1.status")" = "$2" ]; }
header_is() { grep -qi "^$2: $3"$'\r'"\$" "$work/$1.headers"; }
lacks_header() { ! grep -qi "^$2:" "$work/$1.headers"; }
body_has() { grep -qF -- "$2" "$work/$1.body"; }
# The size PHP's own getimagesize reads from the bytes, as WIDTHxHEIGHT MIME.
size_of() { php -r '$i = getimagesize($argv[1]); echo $i ? "$i[0]x$i[1] $i[mime]" : "none";' "$work/$1.body"; }

get webp "$base/gray-320.jpg?width=100&format=webp"
check 'width=100&format=webp is 200' status_is webp 200
check 'Content-Type is image/webp' header_is webp Content-Type image/webp
check 'the body starts with RIFF....WEBP' [ "$(head -c 4 "$work/webp.body")$(tail -c +9 "$work/webp.body" | head -c 4)" = RIFFWEBP ]
check 'PHP reads the WebP as 100x67' [ "$(size_of webp)" = '100x67 image/webp' ]
check 'Content-Length is the body size' header_is webp Content-Length "$(wc -c <"$work/webp.body")"
check 'no Vary without format=auto' lacks_header webp Vary

get auto -H 'Accept: image/webp,*/*' "$base/gray-320.jpg?width=50&format=auto&colour=red"
check 'format=auto with Accept: image/webp answers WebP' header_is auto Content-Type image/webp
check 'format=auto says Vary: Accept' header_is auto Vary Accept
check 'an unknown parameter is a warning header' header_is auto X-Picsmith-Warnings "unknown parameter 'colour' ignored"

raw head 'HEAD /gray-320.jpg?width=100&format=webp'
check 'HEAD is 200 with the length of GET and no body' \
    eval 'status_is head 200 && header_is head Content-Length "$(wc -c <"$work/webp.body")" && [ ! -s "$work/head.body" ]'

get bad "$base/gray-320.jpg?width=-3"
check 'width=-3 is 400' status_is bad 400
check 'the 400 is JSON' header_is bad Content-Type application/json
check 'the error code is invalid_parameter' body_has bad '"code":"invalid_parameter"'
check 'the error says "parameter":"width"' body_has bad '"parameter":"width"'

get crafted "$base/gray-320.jpg?width=10&x%0d%0aSet-Cookie:%20a=1&y%FF=2"
check 'CR LF in a query key does not split the warnings header' \
    eval 'status_is crafted 200 && lacks_header crafted Set-Cookie && header_is crafted X-Picsmith-Warnings ".*x\\\\r\\\\nSet-Cookie: a.*y\\\\ufffd.*"'

get text "$base/notes.txt?width=10"
check 'a file that is not an image is 415 unsupported_format' eval 'status_is text 415 && body_has text "\"code\":\"unsupported_format\""'

get missing "$base/nothing.jpg?width=10"
check 'a missing file is 404 not_found' eval 'status_is missing 404 && body_has missing "\"code\":\"not_found\""'

for target in '/../outside/secret.jpg' '/%2e%2e/outside/secret.jpg' '/..%2foutside%2fsecret.jpg' '/link.jpg' '/' '/./gray-320.jpg' '/%00'; do
    get traversal "$base$target?width=10"
    check "$target is refused with 404" eval 'status_is traversal 404 && body_has traversal "\"code\":\"not_found\""'
done

get post -X POST --data x "$base/gray-320.jpg"
check 'POST is 405 with Allow: GET, HEAD' eval 'status_is post 405 && header_is post Allow "GET, HEAD"'

echo "$passed passed, $failed failed"
if [ "$failed" -ne 0 ]; then
    echo '--- server log'
    cat "$work/server.log"
    exit 1
fi
