"""SSIM of a benchmark output against a high-quality reference of the same workload.

SSIM is the Gaussian-window form of Wang, Bovik, Sheikh and Simoncelli (2004): 11x11 window,
sigma 1.5, K1 = 0.01, K2 = 0.03, L = 255, no downsampling, averaged over the windows that lie
wholly inside the image (their MATLAB ssim_index "valid" filtering). Both images are compared
in 8-bit greyscale (Pillow's "L", ITU-R 601 luma); RGBA is composited onto white first, so
that colour under fully transparent pixels, which no viewer sees, does not count.

References come from Pillow's full decode (never draft) of the workload's input:
- resizing workloads: a Lanczos resize straight to the output's size
- W5: the same crop and quarter turn, then an exact Gaussian blur in floating point (Pillow's
  own GaussianBlur approximates it with box blurs), edges extended
- W6: the decode itself
- W9: the W1 reference turned clockwise by the workload's angle with bicubic sampling onto a
  white canvas that holds the corners
A reference whose size differs from the output's is Lanczos-resized to it, so a library that
produced a different size is scored on content, and the size shows in the table. Outputs are
decoded by Pillow, AVIF too (its wheel's AVIF plugin).
"""
import json
import math
from functools import cache
from pathlib import Path

import numpy as np
from PIL import Image

SPEC = json.loads((Path(__file__).parent / "workloads.json").read_text())
RESIZING = {"W1", "W2", "W3", "W4"}


def _kernel(sigma, radius):
    x = np.arange(-radius, radius + 1)
    k = np.exp(-(x * x) / (2 * sigma * sigma))
    return k / k.sum()


def _filter_valid(img, k):
    """Separable convolution keeping only the pixels whose window lies inside the image."""
    n = len(k)
    h, w = img.shape
    rows = sum(k[i] * img[i:h - n + 1 + i] for i in range(n))
    return sum(k[i] * rows[:, i:w - n + 1 + i] for i in range(n))


def ssim(a, b):
    a = a.astype(np.float64)
    b = b.astype(np.float64)
    k = _kernel(1.5, 5)
    mu_a, mu_b = _filter_valid(a, k), _filter_valid(b, k)
    var_a = _filter_valid(a * a, k) - mu_a * mu_a
    var_b = _filter_valid(b * b, k) - mu_b * mu_b
    cov = _filter_valid(a * b, k) - mu_a * mu_b
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    s = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a * mu_a + mu_b * mu_b + c1) * (var_a + var_b + c2))
    return float(s.mean())


def grey(im):
    if im.mode in ("RGBA", "LA", "PA", "La", "RGBa") or "transparency" in im.info:
        im = im.convert("RGBA")
        im = Image.alpha_composite(Image.new("RGBA", im.size, "white"), im)
    return im.convert("L")


@cache
def _decode(name, corpus):
    im = Image.open(Path(corpus) / name)
    im.load()
    return im


@cache
def reference(workload, size, corpus):
    """Greyscale reference of `workload` at `size` (width, height)."""
    src = _decode(SPEC["workloads"][workload]["input"], corpus)
    if workload in RESIZING:
        return grey(src.resize(size, Image.LANCZOS))
    if workload == "W9":
        fitted = src.resize(tuple(SPEC["fit"]), Image.LANCZOS)
        tilt = SPEC["workloads"]["W9"]["tilt"]
        ref = grey(fitted.rotate(-tilt, Image.BICUBIC, expand=True, fillcolor="white"))
    elif workload == "W5":
        c = SPEC["crop"]
        im = src.crop((c["left"], c["top"], c["left"] + c["width"], c["top"] + c["height"]))
        im = grey(im.transpose(Image.Transpose.ROTATE_270))
        sigma = SPEC["blur_sigma"]
        radius = math.ceil(4 * sigma)
        padded = np.pad(np.asarray(im, dtype=np.float64), radius, mode="edge")
        k = _kernel(sigma, radius)
        blurred = _filter_valid(padded, k)
        ref = Image.fromarray(np.clip(np.rint(blurred), 0, 255).astype(np.uint8), "L")
    else:
        ref = grey(src)
    return ref if ref.size == size else ref.resize(size, Image.LANCZOS)


def score(workload, output_path, corpus):
    out = Image.open(output_path)
    return ssim(np.asarray(grey(out)), np.asarray(reference(workload, out.size, corpus)))
