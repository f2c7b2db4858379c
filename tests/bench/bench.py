"""The workloads of workloads.json through every library, in one interleaved run; prints JSON.

Each library runs in worker processes of its own (worker.py for picsmith's Python binding,
Pillow, Pillow-SIMD and pyvips, worker.mjs for picsmith's Node binding and sharp), which time
each image themselves and answer over a pipe. This process only schedules, so that libraries
living in other interpreters (Pillow-SIMD's venv, Node) are interleaved like the rest:

1. Single-thread timing: each round runs every workload once per library in turn, so that
   machine noise hits every library alike; wall and CPU ms per image. The turns follow a
   Williams design (see `balanced_orders`): over its rounds each library comes straight after
   every other equally often, because what the one before leaves behind (a pool's threads
   winding down, a collector, a core left idle and slow to wake) costs the next. Starting one
   library later each round, as this did before, kept every library behind the same one. W1
   also runs the physical-limit proxy (djpeg at a DCT scale piped to cjpeg) in every round.
2. W3 (match_size): before the rounds, each peer's quality is searched once for the output
   size closest to picsmith's at the workload's quality; that quality is then timed.
3. Throughput: a second worker per library with two threads; a fixed count of images on one
   and on two threads, interleaved across libraries, repeated, median images/s.
4. Peak memory: a fresh worker per library and workload that runs only that workload.

Every worker is given one thread per image: VIPS_CONCURRENCY=1 (sharp sets the same with
sharp.concurrency(1)). Like libvips' write-behind sink, picsmith encodes a JPEG beside the
stage that makes its last rows (re-encoding alone, or blur and sharpening last) on a second
thread, and its AVIF encoder codes two tile columns on two threads, when a core is spare; the
CPU ms column counts every thread.
"""
import json
import math
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from PIL import Image

HERE = Path(__file__).parent
SPEC = json.loads((HERE / "workloads.json").read_text())
WORKLOADS = SPEC["workloads"]
ROUNDS = int(os.environ.get("PICSMITH_BENCH_ROUNDS", "40"))
WARMUP = 3
THREADS = (1, 2)
# Each throughput measurement runs about this long on one thread; a header read needs
# thousands of images for that, an AVIF encode a handful.
THROUGHPUT_SECONDS = 0.5
THROUGHPUT_REPEATS = 3
CORPUS = Path(os.environ["PICSMITH_CORPUS"])
OUT = Path(os.environ.get("PICSMITH_BENCH_OUT", "target/bench/out"))
PROXY = "djpeg-cjpeg"


STARTED = time.monotonic()


def log(message):
    print(f"bench: [{time.monotonic() - STARTED:.0f} s] {message}", file=sys.stderr, flush=True)


def library_commands():
    """{key: worker command}, and {key: why it cannot run} for the libraries that cannot."""
    py, node = [sys.executable, str(HERE / "worker.py")], ["node", str(HERE / "worker.mjs")]
    commands = {
        "picsmith-python": py + ["picsmith"],
        "picsmith-node": node + ["picsmith"],
        "pillow": py + ["pillow"],
        "pyvips": py + ["pyvips"],
        "sharp": node + ["sharp"],
    }
    unavailable = {}
    simd = os.environ.get("PICSMITH_BENCH_PILLOW_SIMD")
    if simd:
        commands["pillow-simd"] = [simd, str(HERE / "worker.py"), "pillow"]
    else:
        unavailable["pillow-simd"] = os.environ.get(
            "PICSMITH_BENCH_PILLOW_SIMD_ERROR", "PICSMITH_BENCH_PILLOW_SIMD names no interpreter")
    return commands, unavailable


class Worker:
    def __init__(self, command, threads):
        env = os.environ | {
            "PICSMITH_BENCH_THREADS": str(threads),
            "UV_THREADPOOL_SIZE": str(threads),
            "VIPS_CONCURRENCY": "1",
        }
        self.command = command
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        text=True, env=env)
        hello = self._reply()
        self.name, self.workloads, self.skipped = hello["name"], hello["workloads"], hello["skipped"]

    def _reply(self):
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"{' '.join(self.command)} exited with {self.process.wait()}")
        reply = json.loads(line)
        if "error" in reply:
            raise RuntimeError(f"{' '.join(self.command)}: {reply['error']}")
        return reply

    def request(self, op, **fields):
        self.process.stdin.write(json.dumps({"op": op} | fields) + "\n")
        self.process.stdin.flush()
        return self._reply()

    def close(self):
        self.process.stdin.close()
        self.process.wait(timeout=30)


def match_size(worker, workload, target):
    """The integer quality (1-100) whose output is closest in size to `target` bytes.

    Bisection for the lowest quality whose output is at least the target, which assumes sizes
    grow with quality, then the closer of it and the quality below it (the lower on a tie).
    """
    sizes = {}

    def size(quality):
        if quality not in sizes:
            sizes[quality] = worker.request("run", workload=workload, quality=quality)["bytes"]
        return sizes[quality]

    lo, hi = 1, 100
    while lo < hi:
        mid = (lo + hi) // 2
        if size(mid) >= target:
            hi = mid
        else:
            lo = mid + 1
    return min((q for q in (lo - 1, lo) if q >= 1), key=lambda q: (abs(size(q) - target), q))


def dct_scale(size, target):
    """The smallest libjpeg scale M/8 whose output still covers `target` on both sides."""
    return next(m for m in range(1, 9)
                if all(math.ceil(side * m / 8) >= t for side, t in zip(size, target)))


def run_proxy(path, scale, quality):
    """djpeg -scale M/8 | cjpeg: (wall ms including both spawns, CPU ms of both, output)."""
    start = time.perf_counter()
    djpeg = subprocess.Popen(["djpeg", "-scale", f"{scale}/8", str(path)], stdout=subprocess.PIPE)
    cjpeg = subprocess.Popen(["cjpeg", "-quality", str(quality)], stdin=djpeg.stdout,
                             stdout=subprocess.PIPE)
    djpeg.stdout.close()
    out = cjpeg.stdout.read()
    cpu = 0.0
    # wait4 rather than wait: it also returns the child's own CPU time
    for process in (cjpeg, djpeg):
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        if process.returncode:
            raise RuntimeError(f"{process.args[0]} exited with {process.returncode}")
        cpu += usage.ru_utime + usage.ru_stime
    cjpeg.stdout.close()
    return (time.perf_counter() - start) * 1000, cpu * 1000, out


def libjpeg_version():
    # "libjpeg-turbo version 2.1.5 (build 20230203)"
    text = subprocess.run(["djpeg", "-version"], capture_output=True, text=True).stderr
    return text.split("(")[0].replace(" version", "").strip()


def match_qualities(single, results):
    """{workload: {library: quality}}: the workload's quality, or for a match_size workload each
    peer's size-matched one."""
    quality = {w: {key: SPEC["quality"] for key in results[w]} for w in WORKLOADS}
    for w, spec in WORKLOADS.items():
        if not spec.get("match_size"):
            continue
        target = single["picsmith-python"].request("run", workload=w, quality=SPEC["quality"])["bytes"]
        for key in results[w]:
            if not key.startswith("picsmith"):
                quality[w][key] = match_size(single[key], w, target)
                log(f"{w}: {single[key].name} at quality {quality[w][key]} matches {target} bytes")
            results[w][key]["quality"] = quality[w][key]
    return quality


def balanced_orders(n):
    """Orders of n libraries in which each comes straight after every other equally often
    (a Williams design): n orders for even n, 2n for odd n."""
    base, low, high = [0], 1, n - 1
    while len(base) < n:
        base.append(low)
        low += 1
        if len(base) < n:
            base.append(high)
            high -= 1
    orders = [[(b + shift) % n for b in base] for shift in range(n)]
    return orders + [order[::-1] for order in orders] if n % 2 else orders


def single_thread_rounds(single, results, quality):
    """Fills results' ms and cpu_ms, saves the outputs; answers the W1 proxy's cell."""
    proxy_input = CORPUS / WORKLOADS["W1"]["input"]
    with Image.open(proxy_input) as im:
        source_size = im.size
    scale = dct_scale(source_size, SPEC["fit"])
    proxy = {"ms": [], "cpu_ms": [], "scale": f"{scale}/8", "library": libjpeg_version(),
             "decoded": [math.ceil(side * scale / 8) for side in source_size]}
    log(f"{ROUNDS} rounds after {WARMUP} warm-up rounds")
    for round_ in range(ROUNDS + WARMUP):
        for w in WORKLOADS:
            keys = list(results[w])
            orders = balanced_orders(len(keys))
            timings = {keys[i]: single[keys[i]].request("run", workload=w, quality=quality[w][keys[i]])
                       for i in orders[round_ % len(orders)]}
            if w == "W1":
                ms, cpu_ms, proxy_out = run_proxy(proxy_input, scale, SPEC["quality"])
                timings[PROXY] = {"ms": ms, "cpu_ms": cpu_ms}
            if round_ >= WARMUP:
                for key, timing in timings.items():
                    cell = proxy if key == PROXY else results[w][key]
                    cell["ms"].append(timing["ms"])
                    cell["cpu_ms"].append(timing["cpu_ms"])

    for w, by_library in results.items():
        for key, r in by_library.items():
            path = OUT / w / f"{key}.{WORKLOADS[w]['format']}"
            r |= single[key].request("save", workload=w, path=str(path))
            if "bytes" in r:
                r["output"] = str(path)
    path = OUT / "W1" / f"{PROXY}.jpeg"
    path.write_bytes(proxy_out)
    return proxy | {"bytes": len(proxy_out), "output": str(path)}


def throughput(workers, results, quality):
    """Fills results' images_per_s: {threads: [images/s of each repeat]}."""
    log(f"throughput on {' and '.join(map(str, THREADS))} threads, {THROUGHPUT_REPEATS} times")
    images = {}
    for w, by_library in results.items():
        for key, r in by_library.items():
            per_image = statistics.median(r["ms"]) / 1000
            images[w, key] = min(10000, max(2, round(THROUGHPUT_SECONDS / per_image / 2)) * 2)
            r |= {"throughput_images": images[w, key], "images_per_s": {n: [] for n in THREADS}}
            for n in THREADS:  # warms up the two-thread worker
                workers[key][n].request("throughput", workload=w, quality=quality[w][key], images=2 * n)
    for _ in range(THROUGHPUT_REPEATS):
        for w, by_library in results.items():
            for key, r in by_library.items():
                for n in THREADS:
                    reply = workers[key][n].request("throughput", workload=w, quality=quality[w][key],
                                                    images=images[w, key])
                    r["images_per_s"][n].append(reply["images_per_s"])


def peak_memory(commands, results, quality):
    log("peak memory, one fresh worker per library and workload")
    for w, by_library in results.items():
        for key, r in by_library.items():
            worker = Worker(commands[key], 1)
            r |= worker.request("rss", workload=w, quality=quality[w][key])
            worker.close()


def main():
    # The 1-minute load average shows whether something else was using the cores meanwhile
    load = {"start": os.getloadavg()[0]}
    commands, unavailable = library_commands()
    log(f"starting workers for {', '.join(commands)}")
    workers = {key: {n: Worker(command, n) for n in THREADS} for key, command in commands.items()}
    single = {key: by_threads[1] for key, by_threads in workers.items()}
    results = {w: {key: {"ms": [], "cpu_ms": []} for key, worker in single.items()
                   if w in worker.workloads} for w in WORKLOADS}
    quality = match_qualities(single, results)
    proxy = single_thread_rounds(single, results, quality)
    throughput(workers, results, quality)
    for by_threads in workers.values():
        for worker in by_threads.values():
            worker.close()
    peak_memory(commands, results, quality)
    load["end"] = os.getloadavg()[0]
    json.dump({
        "rounds": ROUNDS, "throughput_seconds": THROUGHPUT_SECONDS,
        "throughput_repeats": THROUGHPUT_REPEATS, "load_average": load,
        "libraries": {key: worker.name for key, worker in single.items()},
        "unavailable": unavailable,
        "skipped": {w: {key: worker.skipped[w] for key, worker in single.items() if w in worker.skipped}
                    for w in WORKLOADS},
        "results": results, "proxy": proxy,
    }, sys.stdout)


if __name__ == "__main__":
    main()
