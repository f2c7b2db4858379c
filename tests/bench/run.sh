#!/usr/bin/env bash
# W1 through picsmith (Python and Node bindings) and its peers, in one run. Installs the peers
# (Pillow and pyvips from PyPI with Debian's libvips, sharp from npm) into target/bench.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
out=$repo/target/bench
mkdir -p "$out/node"
corpus=${PICSMITH_CORPUS:-$repo/../shared/corpus}
if [ ! -f "$corpus/large-2725x2225.jpg" ]; then
  echo "bench needs the corpus (large-2725x2225.jpg); set PICSMITH_CORPUS" >&2
  exit 1
fi
dpkg -s libvips42 >/dev/null 2>&1 || {
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libvips42 >/dev/null
}
"$repo/.venv/bin/python" -m pip install --quiet 'Pillow>=10' 'pyvips>=2.2'
if [ ! -d "$out/node/node_modules/sharp" ]; then
  (cd "$out/node" && npm init -y >/dev/null && npm install --no-audit --no-fund --loglevel=error sharp@0.34)
fi
export PICSMITH_BENCH_INPUT=$corpus/large-2725x2225.jpg
"$repo/.venv/bin/python" "$repo/tests/bench/w1.py" > "$out/w1-python.json"
NODE_PATH=$out/node/node_modules node "$repo/tests/bench/w1.mjs" > "$out/w1-node.json"
"$repo/.venv/bin/python" "$repo/tests/bench/report.py" "$out/w1-python.json" "$out/w1-node.json" | tee "$out/w1.md"
