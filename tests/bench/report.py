"""Merges the bench JSON files into one Markdown table: median ms, output bytes, ratio."""
import json
import statistics
import sys

times, sizes = {}, {}
for path in sys.argv[1:]:
    doc = json.load(open(path))
    times.update(doc["times"])
    sizes.update(doc["sizes"])
medians = {name: statistics.median(ms) for name, ms in times.items()}
ours = {name: m for name, m in medians.items() if name.startswith("picsmith")}
print("W1: large-2725x2225.jpg -> fit 720x588, JPEG q80 (1 thread, median of "
      f"{len(next(iter(times.values())))} runs)\n")
print("| library | median ms | output bytes | " + " | ".join(f"{n} / this" for n in ours) + " |")
print("| --- | ---: | ---: |" + " ---: |" * len(ours))
for name, median in sorted(medians.items(), key=lambda kv: kv[1]):
    ratios = " | ".join(f"{m / median:.2f}" for m in ours.values())
    print(f"| {name} | {median:.1f} | {sizes[name]} | {ratios} |")
