"""bench.png: one panel per workload, a bar per library (median ms), picsmith's bars highlighted;
W8's panel shows requests/s. Usage: chart.py BENCH.json SERVER.json OUT.png
"""
import json
import re
import statistics
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402 (after the backend is chosen)

bench_path, server_path, out_path = sys.argv[1:4]
bench = json.load(open(bench_path))
server = json.load(open(server_path))
spec = json.loads((Path(__file__).parent / "workloads.json").read_text())
names = bench["libraries"]
PICSMITH, PEER, PROXY = "#e4572e", "#8a8f98", "#c9ccd1"


def short(name):
    # the libvips version in brackets is in bench.md; the bars need only the library
    return re.sub(r" \(libvips [^)]*\)", "", name)


def panel(ax, title, bars, unit):
    """bars: [(label, value, colour)], drawn top to bottom in the given order."""
    labels, values, colours = zip(*bars)
    y = range(len(bars))
    ax.barh(y, values, color=colours)
    ax.set_yticks(y, labels, fontsize=9)
    ax.invert_yaxis()
    ax.set_title(title, fontsize=10, loc="left")
    ax.set_xlabel(unit, fontsize=9)
    ax.tick_params(axis="x", labelsize=8)
    ax.set_xlim(0, max(values) * 1.22)
    for i, value in enumerate(values):
        ax.text(value, i, f" {value:.3g}", va="center", fontsize=8)


panels = []
for workload, by_library in bench["results"].items():
    medians = sorted(((statistics.median(r["ms"]), key) for key, r in by_library.items()))
    bars = [(short(names[key]), m, PICSMITH if key.startswith("picsmith") else PEER) for m, key in medians]
    if workload == "W1":
        bars.append((f"proxy, not a peer: djpeg -scale {bench['proxy']['scale']} | cjpeg", statistics.median(bench["proxy"]["ms"]), PROXY))
    title = spec["workloads"][workload]["title"].split(" -> ")[-1]
    panels.append((f"{workload}: {title}", bars, "median ms per image, one thread (shorter is faster)"))
w8 = sorted(server["results"].items(), key=lambda kv: -kv[1]["requests_per_s"])
panels.append((f"{spec['server']['name']}: HTTP, {server['connections']} connections",
               [(short(r["name"]), r["requests_per_s"], PICSMITH if key == "picsmith" else PEER) for key, r in w8],
               "requests/s (longer is faster)"))

columns = 2
rows = -(-len(panels) // columns)
fig, axes = plt.subplots(rows, columns, figsize=(15, 3.1 * rows))
for ax, (title, bars, unit) in zip(axes.flat, panels):
    panel(ax, title, bars, unit)
for ax in axes.flat[len(panels):]:
    ax.axis("off")
fig.suptitle("picsmith benchmark (target/bench/bench.md has the numbers and how they were measured)",
             fontsize=12)
fig.tight_layout()
fig.savefig(out_path, dpi=100)
