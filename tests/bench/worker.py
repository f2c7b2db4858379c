"""One Python library's side of the benchmark: `python worker.py picsmith|pillow|pyvips`.

bench.py starts one such process per library (and per thread count), so that each library has
an interpreter of its own: Pillow-SIMD, which cannot share a venv with Pillow, runs this same
file under its own Python. The protocol, shared with worker.mjs, is one JSON object a line:
the worker first prints {"name", "workloads", "skipped": {workload: reason}}, then answers
each request on stdin with one line, or {"error": ...}:

  {"op": "run", "workload": W, "quality": Q}   one image, timed here: {"ms", "cpu_ms", "bytes"}
  {"op": "save", "workload": W, "path": P}     writes the last output: {"bytes"} or {"read"}
  {"op": "throughput", "workload": W, "quality": Q, "images": K}
        K images on $PICSMITH_BENCH_THREADS threads at once, K / N each: {"images_per_s"}
  {"op": "rss", "workload": W, "quality": Q}   sent to a fresh worker only: peak RSS (KiB)
        after imports and reading the input, and after three runs: {"idle_kib", "peak_kib"}

CPU time is the whole process's, so a library's helper threads count.
"""
import io
import json
import os
import sys
import threading
import time
from importlib import metadata
from pathlib import Path

SPEC = json.loads((Path(__file__).parent / "workloads.json").read_text())
WORKLOADS = SPEC["workloads"]
FIT = tuple(SPEC["fit"])
HALF = tuple(SPEC["half"])
CROP = SPEC["crop"]
SIGMA = SPEC["blur_sigma"]
AVIF_SPEED = WORKLOADS["W3"]["speed"]
TILT = WORKLOADS["W9"]["tilt"]
CORPUS = Path(os.environ["PICSMITH_CORPUS"])
THREADS = int(os.environ.get("PICSMITH_BENCH_THREADS", "1"))
RSS_RUNS = 3


# Each library is a function that imports it and returns (display name, {workload: run},
# {workload: why it is not run}), where run(input bytes, quality) returns the encoded output,
# or for W7 the fields it read.
def picsmith_():
    import picsmith

    def process(query):
        return lambda data, quality: picsmith.process(data, query.format(quality=quality)).data

    def header(data, _quality):
        m = picsmith.metadata(data)
        return {k: m[k] for k in ("width", "height", "format", "orientation")}

    runs = {w: process(spec["picsmith"]) for w, spec in WORKLOADS.items() if spec["picsmith"]}
    return "picsmith (Python)", runs | {"W7": header}, {}


def pillow():
    import PIL
    from PIL import Image, ImageFilter, features

    try:
        name = f"Pillow-SIMD {metadata.version('Pillow-SIMD')}"
    except metadata.PackageNotFoundError:
        name = f"Pillow {PIL.__version__}"

    def save(im, fmt, **options):
        buf = io.BytesIO()
        im.save(buf, fmt, **options)
        return buf.getvalue()

    def fitted(data):
        im = Image.open(io.BytesIO(data))
        # draft() lets libjpeg decode at 1/2, 1/4 or 1/8 scale, Pillow's fast path
        im.draft("RGB", FIT)
        im.thumbnail(FIT, Image.LANCZOS)
        return im

    def fit(fmt):
        return lambda data, quality: save(fitted(data), fmt, quality=quality)

    def avif(data, quality):
        # libavif maps speed 8 to libaom's cpu-used 8; one encoder thread, as for every library
        return save(fitted(data), "AVIF", quality=quality, speed=AVIF_SPEED, subsampling="4:4:4",
                    max_threads=1)

    def half(data, _quality):
        return save(Image.open(io.BytesIO(data)).resize(HALF, Image.LANCZOS), "PNG")

    def crop_rotate_blur(data, quality):
        im = Image.open(io.BytesIO(data))
        box = (CROP["left"], CROP["top"], CROP["left"] + CROP["width"], CROP["top"] + CROP["height"])
        # Pillow's ROTATE_270 is a clockwise quarter turn, like rotate=90 elsewhere
        im = im.crop(box).transpose(Image.Transpose.ROTATE_270)
        return save(im.filter(ImageFilter.GaussianBlur(SIGMA)), "JPEG", quality=quality)

    def recode(data, quality):
        return save(Image.open(io.BytesIO(data)), "JPEG", quality=quality)

    def header(data, _quality):
        im = Image.open(io.BytesIO(data))
        return {"width": im.width, "height": im.height, "format": im.format.lower(),
                "orientation": im.getexif().get(0x0112, 1)}

    def tilt(data, quality):
        # Pillow turns anticlockwise for a positive angle
        im = fitted(data).rotate(-TILT, Image.BILINEAR, expand=True, fillcolor="white")
        return save(im, "JPEG", quality=quality)

    runs = {"W1": fit("JPEG"), "W2": fit("WEBP"), "W4": half, "W5": crop_rotate_blur,
            "W6": recode, "W7": header, "W9": tilt}
    skipped = {}
    if features.check("avif"):
        runs["W3"] = avif
    else:
        skipped["W3"] = "built without AVIF (PIL.features.check('avif') is false)"
    return name, runs, skipped


def pyvips_():
    import pyvips

    pyvips.cache_set_max(0)
    Image = pyvips.Image

    def half(data, _quality):
        return Image.thumbnail_buffer(data, HALF[0], height=HALF[1]).pngsave_buffer()

    def crop_rotate_blur(data, quality):
        im = Image.new_from_buffer(data, "")
        im = im.crop(CROP["left"], CROP["top"], CROP["width"], CROP["height"]).rot90()
        return im.gaussblur(SIGMA).jpegsave_buffer(Q=quality)

    def avif(im, quality):
        # libvips hands libheif speed = 9 - effort, which libheif passes to libaom as cpu-used
        return im.heifsave_buffer(Q=quality, compression="av1", effort=9 - AVIF_SPEED,
                                  subsample_mode="off")

    def header(data, _quality):
        im = Image.new_from_buffer(data, "")
        orientation = im.get("orientation") if im.get_typeof("orientation") else 1
        return {"width": im.width, "height": im.height,
                "format": im.get("vips-loader").removesuffix("load_buffer"), "orientation": orientation}

    def fit(data):
        return Image.thumbnail_buffer(data, FIT[0], height=FIT[1])

    name = f"pyvips {pyvips.__version__} (libvips {'.'.join(str(pyvips.version(i)) for i in range(3))})"
    runs = {
        "W1": lambda data, quality: fit(data).jpegsave_buffer(Q=quality),
        "W2": lambda data, quality: fit(data).webpsave_buffer(Q=quality),
        "W4": half,
        "W5": crop_rotate_blur,
        "W6": lambda data, quality: Image.new_from_buffer(data, "", access="sequential").jpegsave_buffer(Q=quality),
        "W7": header,
        # thumbnail reads its source once, top to bottom; a rotation reads the resized image at
        # random, so it is rendered to memory first
        "W9": lambda data, quality: fit(data).copy_memory().rotate(TILT, background=[255, 255, 255])
        .jpegsave_buffer(Q=quality),
    }
    skipped = {}
    try:
        avif(Image.black(16, 16, bands=3), 50)
        runs["W3"] = lambda data, quality: avif(fit(data), quality)
    except pyvips.Error as err:
        skipped["W3"] = f"this libvips cannot write AV1: {str(err).strip().splitlines()[-1]}"
    return name, runs, skipped


LIBRARIES = {"picsmith": picsmith_, "pillow": pillow, "pyvips": pyvips_}


def vm_hwm_kib():
    # Not ru_maxrss: Linux carries it across exec, so a child would report its parent's peak
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))


class Worker:
    def __init__(self, runs):
        self.runs = runs
        self.files = {}
        self.last = {}

    def input(self, workload):
        # Read when first asked for, once per file: a worker measuring one workload's peak RSS
        # holds that input only, not every workload's.
        file = WORKLOADS[workload]["input"]
        if file not in self.files:
            self.files[file] = (CORPUS / file).read_bytes()
        return self.files[file]

    def run(self, workload, quality):
        data = self.input(workload)
        cpu, start = time.process_time(), time.perf_counter()
        out = self.runs[workload](data, quality)
        ms = (time.perf_counter() - start) * 1000
        self.last[workload] = out
        return {"ms": ms, "cpu_ms": (time.process_time() - cpu) * 1000,
                "bytes": len(out) if isinstance(out, bytes) else None}

    def save(self, workload, path):
        out = self.last[workload]
        if isinstance(out, dict):
            return {"read": out}
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_bytes(out)
        return {"bytes": len(out)}

    def throughput(self, workload, quality, images):
        run, data = self.runs[workload], self.input(workload)

        def share():
            for _ in range(images // THREADS):
                run(data, quality)

        # Threads, not processes: every library here releases the GIL while it works
        threads = [threading.Thread(target=share) for _ in range(THREADS)]
        start = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return {"images_per_s": images // THREADS * THREADS / (time.perf_counter() - start)}

    def rss(self, workload, quality):
        data = self.input(workload)
        idle = vm_hwm_kib()
        for _ in range(RSS_RUNS):
            self.runs[workload](data, quality)
        return {"idle_kib": idle, "peak_kib": vm_hwm_kib()}


def main(library):
    name, runs, skipped = LIBRARIES[library]()
    worker = Worker(runs)
    print(json.dumps({"name": name, "workloads": sorted(runs), "skipped": skipped}), flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        op = request.pop("op")
        try:
            reply = getattr(worker, op)(**request)
        except Exception as err:  # reported to bench.py, which stops the run with it
            reply = {"error": f"{type(err).__name__}: {err}"}
        print(json.dumps(reply), flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
