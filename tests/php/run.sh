#!/bin/sh
# Runs the PHP tests against include/picsmith.h and the libpicsmith.so from
# `cargo build --release -p picsmith-c`: the FFI smoke test (extra arguments, an image path, go
# to it), then server.php behind PHP's built-in web server. Both run even when the first fails.
set -u
cd "$(dirname "$0")/../.."
status=0
php -d ffi.enable=1 tests/php/smoke.php "$@" || status=1
bash tests/php/server_test.sh || status=1
exit $status
