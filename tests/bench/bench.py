"""The workloads of workloads.json through picsmith's Python binding, Pillow and pyvips.

Runs are interleaved (each round runs every workload once per library in turn) so that machine
noise hits every library alike. The last output of each library is saved under
$PICSMITH_BENCH_OUT/<workload>/ for report.py to score. Peak memory is measured afterwards,
each library and workload in a fresh process that imports only that library (`--rss`), so
that one library's allocations or shared objects do not count against another. Prints JSON.
"""
import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

SPEC = json.loads((Path(__file__).parent / "workloads.json").read_text())
WORKLOADS = SPEC["workloads"]
FIT = tuple(SPEC["fit"])
HALF = tuple(SPEC["half"])
QUALITY = SPEC["quality"]
CROP = SPEC["crop"]
SIGMA = SPEC["blur_sigma"]
ROUNDS = int(os.environ.get("PICSMITH_BENCH_ROUNDS", "40"))
WARMUP = 3
RSS_RUNS = 3
CORPUS = Path(os.environ["PICSMITH_CORPUS"])
OUT = Path(os.environ.get("PICSMITH_BENCH_OUT", "target/bench/out"))
# libvips reads this once, when pyvips loads it; sharp sets its own with sharp.concurrency(1)
os.environ["VIPS_CONCURRENCY"] = "1"


# Each library is a function that imports it and returns (display name, {workload: run}),
# where run(input bytes) returns the encoded output, or for W7 the fields it read.
def picsmith_python():
    import picsmith

    def process(query):
        return lambda data: picsmith.process(data, query).data

    def header(data):
        m = picsmith.metadata(data)
        return {k: m[k] for k in ("width", "height", "format", "orientation")}

    runs = {w: process(spec["picsmith"]) for w, spec in WORKLOADS.items() if spec["picsmith"]}
    return "picsmith (Python)", runs | {"W7": header}


def pillow():
    import PIL
    from PIL import Image, ImageFilter

    def save(im, fmt, **options):
        buf = io.BytesIO()
        im.save(buf, fmt, **options)
        return buf.getvalue()

    def fit(fmt):
        def run(data):
            im = Image.open(io.BytesIO(data))
            # draft() lets libjpeg decode at 1/2, 1/4 or 1/8 scale, Pillow's fast path
            im.draft("RGB", FIT)
            im.thumbnail(FIT, Image.LANCZOS)
            return save(im, fmt, quality=QUALITY)
        return run

    def half(data):
        return save(Image.open(io.BytesIO(data)).resize(HALF, Image.LANCZOS), "PNG")

    def crop_rotate_blur(data):
        im = Image.open(io.BytesIO(data))
        box = (CROP["left"], CROP["top"], CROP["left"] + CROP["width"], CROP["top"] + CROP["height"])
        # Pillow's ROTATE_270 is a clockwise quarter turn, like rotate=90 elsewhere
        im = im.crop(box).transpose(Image.Transpose.ROTATE_270)
        return save(im.filter(ImageFilter.GaussianBlur(SIGMA)), "JPEG", quality=QUALITY)

    def recode(data):
        return save(Image.open(io.BytesIO(data)), "JPEG", quality=QUALITY)

    def header(data):
        im = Image.open(io.BytesIO(data))
        return {"width": im.width, "height": im.height, "format": im.format.lower(),
                "orientation": im.getexif().get(0x0112, 1)}

    return f"Pillow {PIL.__version__}", {
        "W1": fit("JPEG"), "W2": fit("WEBP"), "W4": half, "W5": crop_rotate_blur,
        "W6": recode, "W7": header,
    }


def pyvips_():
    import pyvips

    pyvips.cache_set_max(0)
    Image = pyvips.Image

    def half(data):
        return Image.thumbnail_buffer(data, HALF[0], height=HALF[1]).pngsave_buffer()

    def crop_rotate_blur(data):
        im = Image.new_from_buffer(data, "")
        im = im.crop(CROP["left"], CROP["top"], CROP["width"], CROP["height"]).rot90()
        return im.gaussblur(SIGMA).jpegsave_buffer(Q=QUALITY)

    def header(data):
        im = Image.new_from_buffer(data, "")
        orientation = im.get("orientation") if im.get_typeof("orientation") else 1
        return {"width": im.width, "height": im.height,
                "format": im.get("vips-loader").removesuffix("load_buffer"), "orientation": orientation}

    version = f"pyvips {pyvips.__version__} (libvips {'.'.join(str(pyvips.version(i)) for i in range(3))})"
    return version, {
        "W1": lambda data: Image.thumbnail_buffer(data, FIT[0], height=FIT[1]).jpegsave_buffer(Q=QUALITY),
        "W2": lambda data: Image.thumbnail_buffer(data, FIT[0], height=FIT[1]).webpsave_buffer(Q=QUALITY),
        "W4": half,
        "W5": crop_rotate_blur,
        "W6": lambda data: Image.new_from_buffer(data, "", access="sequential").jpegsave_buffer(Q=QUALITY),
        "W7": header,
    }


LIBRARIES = {"picsmith-python": picsmith_python, "pillow": pillow, "pyvips": pyvips_}


def inputs():
    return {w: (CORPUS / spec["input"]).read_bytes() for w, spec in WORKLOADS.items()}


def vm_hwm_kib():
    # Not ru_maxrss: Linux carries it across exec, so a child would report its parent's peak
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))


def peak_rss(key, workload):
    """Runs in the child process: prints the peak RSS (KiB) before and after the workload."""
    _, runs = LIBRARIES[key]()
    data = (CORPUS / WORKLOADS[workload]["input"]).read_bytes()
    idle = vm_hwm_kib()
    for _ in range(RSS_RUNS):
        runs[workload](data)
    json.dump({"idle_kib": idle, "peak_kib": vm_hwm_kib()}, sys.stdout)


def main():
    libraries = {key: make() for key, make in LIBRARIES.items()}
    data = inputs()
    results = {w: {key: {"ms": []} for key in libraries} for w in WORKLOADS}
    outputs = {}
    for round_ in range(ROUNDS + WARMUP):
        for w in WORKLOADS:
            for key, (_, runs) in libraries.items():
                start = time.perf_counter()
                out = runs[w](data[w])
                elapsed = (time.perf_counter() - start) * 1000
                if round_ >= WARMUP:
                    results[w][key]["ms"].append(elapsed)
                outputs[w, key] = out
    for (w, key), out in outputs.items():
        if isinstance(out, dict):
            results[w][key]["read"] = out
            continue
        path = OUT / w / f"{key}.{WORKLOADS[w]['format']}"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(out)
        results[w][key] |= {"bytes": len(out), "output": str(path)}
    for w in WORKLOADS:
        for key in libraries:
            child = subprocess.run([sys.executable, __file__, "--rss", key, w],
                                   stdout=subprocess.PIPE, text=True, check=True)
            results[w][key] |= json.loads(child.stdout)
    names = {key: name for key, (name, _) in libraries.items()}
    json.dump({"libraries": names, "results": results}, sys.stdout)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--rss"]:
        peak_rss(*sys.argv[2:4])
    else:
        main()
