#!/usr/bin/env bash
# The workloads of workloads.json through picsmith (Python and Node bindings) and its peers, in
# one run, then W8 (picsmith serve against thumbor under wrk). Installs what it needs: Debian's
# libvips, libjpeg-turbo tools, wrk and Pillow-SIMD's build dependencies; Pillow, pyvips,
# numpy (SSIM) and matplotlib (chart) into the project venv; Pillow-SIMD and thumbor into venvs
# of their own under target/bench/ (each would replace the project's Pillow); sharp from npm.
# Writes target/bench/bench.md and target/bench/bench.png.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
here=$repo/tests/bench
out=$repo/target/bench
py=$repo/.venv/bin/python
mkdir -p "$out/node"
export PICSMITH_CORPUS=${PICSMITH_CORPUS:-$repo/../shared/corpus}
for input in large-2725x2225.jpg paper-rgba-2048x1536.png orient6-landscape.jpg; do
  if [ ! -f "$PICSMITH_CORPUS/$input" ]; then
    echo "bench needs the corpus ($input); set PICSMITH_CORPUS" >&2
    exit 1
  fi
done

apt_packages="libvips42 libjpeg-turbo-progs wrk build-essential libjpeg-dev zlib1g-dev libwebp-dev"
missing=$(for p in $apt_packages; do dpkg -s "$p" >/dev/null 2>&1 || echo "$p"; done)
if [ -n "$missing" ]; then
  sudo=$([ "$(id -u)" -eq 0 ] || echo sudo)
  $sudo apt-get update -qq
  # shellcheck disable=SC2086 # one word per package
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq $missing >/dev/null
fi

# Pillow 11.3 is the first whose wheels carry the AVIF plugin (W3)
"$py" -m pip install --quiet 'Pillow>=11.3' 'pyvips>=2.2' numpy matplotlib
if [ ! -d "$out/node/node_modules/sharp" ]; then
  (cd "$out/node" && npm init -y >/dev/null && npm install --no-audit --no-fund --loglevel=error sharp@0.34)
fi
if [ ! -x "$out/thumbor/bin/thumbor" ]; then
  "$py" -m venv "$out/thumbor"
  "$out/thumbor/bin/python" -m pip install --quiet 'thumbor>=7.7,<8'
fi

# Pillow-SIMD has no wheels: it is compiled here, with AVX2 as its documentation asks. When it
# cannot be, the run goes on and bench.md says why.
simd=$out/pillow-simd
unset PICSMITH_BENCH_PILLOW_SIMD PICSMITH_BENCH_PILLOW_SIMD_ERROR
if ! grep -qw avx2 /proc/cpuinfo; then
  export PICSMITH_BENCH_PILLOW_SIMD_ERROR="this CPU has no AVX2, which Pillow-SIMD is compiled for"
elif "$simd/bin/python" -c 'import PIL' 2>/dev/null ||
  { rm -rf "$simd" && "$py" -m venv "$simd" &&
    CC="cc -mavx2" "$simd/bin/python" -m pip install --quiet --no-cache-dir Pillow-SIMD >"$out/pillow-simd-build.log" 2>&1; }; then
  export PICSMITH_BENCH_PILLOW_SIMD=$simd/bin/python
else
  export PICSMITH_BENCH_PILLOW_SIMD_ERROR="pip install Pillow-SIMD failed: $(grep -m1 -i error "$out/pillow-simd-build.log" || tail -n1 "$out/pillow-simd-build.log") (target/bench/pillow-simd-build.log)"
fi

export PICSMITH_BENCH_OUT=$out/out NODE_PATH=$out/node/node_modules
rm -rf "$PICSMITH_BENCH_OUT"
"$py" "$here/bench.py" >"$out/bench.json"
"$py" "$here/server.py" "$out/thumbor/bin/thumbor" "$out/server" >"$out/server.json"
"$py" "$here/report.py" "$PICSMITH_CORPUS" "$out/bench.json" "$out/server.json" | tee "$out/bench.md"
"$py" "$here/chart.py" "$out/bench.json" "$out/server.json" "$out/bench.png"
echo "bench: wrote target/bench/bench.md and target/bench/bench.png" >&2
