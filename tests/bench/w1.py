"""W1 (large-2725x2225.jpg -> fit 720x588, JPEG q80) through picsmith and the Python peers.

Runs are interleaved (one image per library in turn) so that machine noise hits every library
alike; prints JSON {library: [ms, ...]}.
"""
import io
import json
import os
import sys
import time

import picsmith
import pyvips
from PIL import Image

ROUNDS = int(os.environ.get("PICSMITH_BENCH_ROUNDS", "40"))
WARMUP = 3
data = open(os.environ["PICSMITH_BENCH_INPUT"], "rb").read()
pyvips.cache_set_max(0)


def run_picsmith():
    return picsmith.process(data, "width=720&height=588&quality=80").data


def run_pillow_draft():
    im = Image.open(io.BytesIO(data))
    im.draft("RGB", (720, 588))
    im.thumbnail((720, 588), Image.LANCZOS)
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=80)
    return buf.getvalue()


def run_pyvips():
    im = pyvips.Image.thumbnail_buffer(data, 720, height=588)
    return im.jpegsave_buffer(Q=80)


libraries = {
    "picsmith (Python)": run_picsmith,
    "Pillow (draft)": run_pillow_draft,
    f"pyvips {pyvips.version(0)}.{pyvips.version(1)}": run_pyvips,
}
times = {name: [] for name in libraries}
sizes = {}
for round_ in range(ROUNDS + WARMUP):
    for name, fn in libraries.items():
        start = time.perf_counter()
        out = fn()
        elapsed = (time.perf_counter() - start) * 1000
        if round_ >= WARMUP:
            times[name].append(elapsed)
        sizes[name] = len(out)
json.dump({"times": times, "sizes": sizes}, sys.stdout)
