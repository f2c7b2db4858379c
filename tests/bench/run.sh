#!/usr/bin/env bash
# The workloads of workloads.json through picsmith (Python and Node bindings) and its peers, in
# one run. Installs the peers (Pillow and pyvips from PyPI with Debian's libvips, sharp from npm)
# and numpy (for SSIM), then writes target/bench/bench.md.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
here=$repo/tests/bench
out=$repo/target/bench
mkdir -p "$out/node"
export PICSMITH_CORPUS=${PICSMITH_CORPUS:-$repo/../shared/corpus}
for input in large-2725x2225.jpg paper-rgba-2048x1536.png orient6-landscape.jpg; do
  if [ ! -f "$PICSMITH_CORPUS/$input" ]; then
    echo "bench needs the corpus ($input); set PICSMITH_CORPUS" >&2
    exit 1
  fi
done
dpkg -s libvips42 >/dev/null 2>&1 || {
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libvips42 >/dev/null
}
"$repo/.venv/bin/python" -m pip install --quiet 'Pillow>=10' 'pyvips>=2.2' numpy
if [ ! -d "$out/node/node_modules/sharp" ]; then
  (cd "$out/node" && npm init -y >/dev/null && npm install --no-audit --no-fund --loglevel=error sharp@0.34)
fi
export PICSMITH_BENCH_OUT=$out/out
"$repo/.venv/bin/python" "$here/bench.py" > "$out/python.json"
NODE_PATH=$out/node/node_modules node "$here/bench.mjs" > "$out/node.json"
"$repo/.venv/bin/python" "$here/report.py" "$PICSMITH_CORPUS" "$out/python.json" "$out/node.json" | tee "$out/bench.md"
