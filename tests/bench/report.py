"""Merges the JSON of bench.py and bench.mjs into one Markdown table per workload.

Columns: median ms, output bytes, SSIM against a reference (see quality.py), peak RSS, and
for each picsmith binding its median divided by the row's (below 1: picsmith is faster).
Usage: report.py CORPUS RESULT.json...
"""
import json
import statistics
import sys

import quality

corpus, paths = sys.argv[1], sys.argv[2:]
names, results = {}, {}
for path in paths:
    doc = json.load(open(path))
    names |= doc["libraries"]
    for workload, by_library in doc["results"].items():
        results.setdefault(workload, {}).update(by_library)

rounds = len(next(iter(next(iter(results.values())).values()))["ms"])
print(f"Each library on one thread; median of {rounds} interleaved runs. SSIM: Gaussian-window "
      "SSIM (11x11, sigma 1.5) in 8-bit greyscale against a Pillow full-decode reference of the "
      "same workload at the output's size (see tests/bench/quality.py). Peak RSS: a fresh "
      "process running only that library and workload, and in brackets the growth over the "
      "same process after imports and reading the input. The last columns divide a picsmith "
      "binding's median by the row's: below 1, picsmith is faster.\n")


def ms(median):
    return f"{median:.1f}" if median >= 1 else f"{median:.3f}"


def rss(r):
    return f"{r['peak_kib'] / 1024:.0f} (+{(r['peak_kib'] - r['idle_kib']) / 1024:.0f})"


def read(r):
    fields = r["read"]
    return f"{fields['width']}x{fields['height']} {fields['format']} orientation {fields['orientation']}"


for workload, by_library in results.items():
    spec = quality.SPEC["workloads"][workload]
    medians = {key: statistics.median(r["ms"]) for key, r in by_library.items()}
    ours = {key: m for key, m in medians.items() if key.startswith("picsmith")}
    header = ["library", "median ms"]
    header += ["read (width x height, format, orientation)"] if spec["format"] is None else ["output bytes", "SSIM"]
    header += ["peak RSS MiB"] + [f"{names[key]} / this" for key in ours]
    print(f"### {workload}: {spec['title']}\n")
    if "note" in spec:
        print(spec["note"] + "\n")
    print("| " + " | ".join(header) + " |")
    print("| --- |" + " ---: |" * (len(header) - 1))
    for key, median in sorted(medians.items(), key=lambda kv: kv[1]):
        r = by_library[key]
        cells = [names[key], ms(median)]
        if spec["format"] is None:
            cells.append(read(r))
        else:
            cells += [str(r["bytes"]), f"{quality.score(workload, r['output'], corpus):.4f}"]
        cells.append(rss(r))
        cells += [f"{m / median:.2f}" for m in ours.values()]
        print("| " + " | ".join(cells) + " |")
    print()
