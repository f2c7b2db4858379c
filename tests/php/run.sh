#!/bin/sh
# Runs the PHP FFI smoke test against include/picsmith.h and the libpicsmith.so from
# `cargo build --release -p picsmith-c`. Extra arguments (an image path) go to the test.
set -eu
cd "$(dirname "$0")/../.."
exec php -d ffi.enable=1 tests/php/smoke.php "$@"
