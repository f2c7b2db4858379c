#!/bin/sh
# Builds tests/c/smoke.c against include/picsmith.h, links it to the shared and to the static
# libpicsmith from `cargo build --release -p picsmith-c`, and runs both. Extra arguments (an
# image path) are passed to the test.
set -eu

root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
# cargo's layout: target/<triple>/release when a target is named (the Makefile names the host's).
lib="${CARGO_TARGET_DIR:-$root/target}/${CARGO_BUILD_TARGET:+$CARGO_BUILD_TARGET/}release"
for artifact in libpicsmith.so libpicsmith.a; do
    if [ ! -f "$lib/$artifact" ]; then
        echo "tests/c: $lib/$artifact is missing; run: cargo build --release -p picsmith-c" >&2
        exit 2
    fi
done

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT INT TERM
cflags="-std=c11 -Wall -Wextra -Werror -O1 -g -Iinclude"

gcc $cflags -o "$out/smoke-shared" tests/c/smoke.c -L"$lib" -Wl,-rpath,"$lib" -lpicsmith -pthread
# libvips, with the `vips` feature, is opened at run time: no link flag for it.
gcc $cflags -o "$out/smoke-static" tests/c/smoke.c "$lib/libpicsmith.a" -lstdc++ -lpthread -ldl -lm

echo "== shared library (libpicsmith.so)"
"$out/smoke-shared" "$@"
echo "== static library (libpicsmith.a)"
"$out/smoke-static" "$@"
