"""The JSON of bench.py and server.py as Markdown: one table per workload, then W8.

Columns: median wall and CPU ms per image on one thread, output bytes, SSIM against a
reference (see quality.py), peak RSS, images/s on one and two threads and their ratio, and for
each picsmith binding its median divided by the row's (below 1: picsmith is faster).
Usage: report.py CORPUS BENCH.json SERVER.json
"""
import json
import os
import statistics
import sys

import quality

corpus, bench_path, server_path = sys.argv[1:4]
bench = json.load(open(bench_path))
server = json.load(open(server_path))
names, results, proxy = bench["libraries"], bench["results"], bench["proxy"]
ours = [key for key in names if key.startswith("picsmith")]
load = bench["load_average"]


def median(values):
    return statistics.median(values)


def ms(value):
    return f"{value:.1f}" if value >= 1 else f"{value:.3f}"


def rss(r):
    return f"{r['peak_kib'] / 1024:.0f} (+{(r['peak_kib'] - r['idle_kib']) / 1024:.0f})"


def read(r):
    fields = r["read"]
    return f"{fields['width']}x{fields['height']} {fields['format']} orientation {fields['orientation']}"


def rate(value):
    return f"{value:.1f}" if value >= 10 else f"{value:.2f}"


def table(header, rows):
    print("| " + " | ".join(header) + " |")
    print("| --- |" + " ---: |" * (len(header) - 1))
    for cells in rows:
        print("| " + " | ".join(cells) + " |")
    print()


print(f"""Each library on one thread per image (libvips at concurrency 1; picsmith takes a \
second core for a helper only while one is spare), each in worker processes of its own; median \
of {bench['rounds']} interleaved runs (each round in an order where each library follows every \
other equally often), wall time and the process's CPU time (CPU above wall: helper threads). \
SSIM: Gaussian-window SSIM (11x11, sigma 1.5) in 8-bit greyscale against a Pillow full-decode \
reference of the same workload at the output's size (see tests/bench/quality.py). Peak RSS: a \
fresh process running only that library and workload, and in brackets the growth over the same \
process after imports and reading the input. Images/s: a fixed count of images (about \
{bench['throughput_seconds']:g} s' worth on one thread) on 1 and on 2 threads at once (Python \
threads; Node: concurrent calls, libuv pool of 2), median of {bench['throughput_repeats']}, \
interleaved. The last columns divide a picsmith binding's median by the row's: below 1, \
picsmith is faster. 1-minute load average when the timed part started and ended: \
{load['start']:.2f} and {load['end']:.2f}, on {os.cpu_count()} cores; the run itself adds about \
1, so more means something else was running.
""")
for key, why in bench["unavailable"].items():
    print(f"Not measured: {key}: {why}\n")

for workload, by_library in results.items():
    spec = quality.SPEC["workloads"][workload]
    medians = {key: median(r["ms"]) for key, r in by_library.items()}
    header = ["library"] + (["quality"] if spec.get("match_size") else []) + ["median ms", "CPU ms"]
    header += ["read (width x height, format, orientation)"] if spec["format"] is None else ["output bytes", "SSIM"]
    header += ["peak RSS MiB", "images/s, 1 thread", "images/s, 2 threads", "2 / 1"]
    header += [f"{names[key]} / this" for key in ours if key in medians]
    rows = []
    for key, m in sorted(medians.items(), key=lambda kv: kv[1]):
        r = by_library[key]
        cells = [names[key]] + ([str(r["quality"])] if spec.get("match_size") else [])
        cells += [ms(m), ms(median(r["cpu_ms"]))]
        if spec["format"] is None:
            cells.append(read(r))
        else:
            cells += [str(r["bytes"]), f"{quality.score(workload, r['output'], corpus):.4f}"]
        one, two = (median(r["images_per_s"][n]) for n in ("1", "2"))
        cells += [rss(r), rate(one), rate(two), f"{two / one:.2f}"]
        cells += [f"{medians[ours_key] / m:.2f}" for ours_key in ours if ours_key in medians]
        rows.append(cells)
    if workload == "W1":
        m = median(proxy["ms"])
        label = (f"*proxy, not a peer:* `djpeg -scale {proxy['scale']} \\| cjpeg -quality "
                 f"{quality.SPEC['quality']}` ({proxy['library']}; "
                 f"{proxy['decoded'][0]}x{proxy['decoded'][1]}, no resize; wall includes process start-up)")
        cells = [label, ms(m), ms(median(proxy["cpu_ms"])), str(proxy["bytes"]),
                 f"{quality.score(workload, proxy['output'], corpus):.4f}", "—", "—", "—", "—"]
        rows.append(cells + [f"{medians[key] / m:.2f}" for key in ours])
    print(f"### {workload}: {spec['title']}\n")
    if "note" in spec:
        print(spec["note"] + "\n")
    table(header, rows)
    for key, why in bench["skipped"][workload].items():
        print(f"Not run: {names[key]}: {why}\n")

spec = quality.SPEC["server"]
by_server = server["results"]
print(f"### {spec['name']}: {spec['title']}\n")
print(f"{spec['note']} Load: `wrk -t{server['wrk_threads']} -c{server['connections']} "
      f"-d{server['seconds']}s --timeout 60s --latency`, after a 2 s warm-up.\n")
ours_rate = by_server["picsmith"]["requests_per_s"]
table(
    ["server", "requests/s", "p50 ms", "p99 ms", "requests", "errors", "output bytes", "SSIM",
     "picsmith's requests/s / this"],
    [[r["name"], f"{r['requests_per_s']:.1f}", f"{r['p50_ms']:.0f}", f"{r['p99_ms']:.0f}",
      str(r["requests"]), str(r["socket_errors"] + r["non_2xx"]), str(r["bytes"]),
      f"{quality.score('W1', r['output'], corpus):.4f}", f"{ours_rate / r['requests_per_s']:.2f}"]
     for r in sorted(by_server.values(), key=lambda r: -r["requests_per_s"])],
)

# The targets, read off the tables above; nothing here is a test.
print("### Against the issue's targets\n")
w1, w3 = results["W1"], results["W3"]
peers3 = [key for key in w3 if key not in ours]
for key in ours:
    mine = median(w3[key]["ms"])
    ratios = ", ".join(f"{names[p]} {mine / median(w3[p]['ms']):.2f}" for p in peers3)
    print(f"- W3, {names[key]}'s time / the peer's at the size-matched quality (target ≤ 0.8): {ratios}")
for key in ours:
    scaling = ", ".join(
        f"{w} {median(r[key]['images_per_s']['2']) / median(r[key]['images_per_s']['1']):.2f}"
        for w, r in results.items() if key in r)
    print(f"- 1 → 2 threads, {names[key]} (target ≥ 1.8): {scaling}")
print("  (A lone picsmith call takes the second core for a helper when it is free, so its "
      "one-thread figure already uses both cores; with two callers no helper starts.)")
pillow_peak = w1["pillow"]["peak_kib"] / 1024
print("- W1 peak RSS (target ≤ Pillow's, " + f"{pillow_peak:.0f} MiB): "
      + ", ".join(f"{names[key]} {w1[key]['peak_kib'] / 1024:.0f} MiB" for key in ours))
thumbor = by_server["thumbor"]
print(f"- W8, picsmith's requests/s / thumbor's (target ≥ 3): {ours_rate / thumbor['requests_per_s']:.2f}; "
      f"p99 latency {by_server['picsmith']['p99_ms']:.0f} ms (thumbor {thumbor['p99_ms']:.0f} ms)")
print("- W1 against the proxy: " + ", ".join(
    f"{names[key]} {median(w1[key]['ms']) / median(proxy['ms']):.2f}× its wall time" for key in ours))
