//! Blur and unsharp mask.
//!
//! - `blur` (0…100) is a Gaussian blur with `sigma = blur / 2` pixels of the output image
//!   (`blur=100`: sigma 50). 0 is no blur.
//! - `sharp_amount` (1…100) and `sharp_radius` (1…100, 10 when unset) are an unsharp mask
//!   `x' = x + k · (x − gauss_σ(x))` with `k = amount / 50` (100 adds twice the detail) and
//!   `σ = 0.5 + radius / 20` pixels (0.55 to 5.5; 1 when unset).
//!
//! Blurring runs on encoded values (as most editors do), on whole interleaved rows in `f32`,
//! with colour premultiplied by alpha so transparent pixels do not bleed their hidden colour.
//! A sigma below [`EXACT_SIGMA`] uses an exact separable kernel (±3σ); larger ones use three
//! successive box blurs (Kovesi, "Fast almost-Gaussian filtering"), whose cost does not grow
//! with sigma. Edges repeat the border pixel.

use image::DynamicImage;

use crate::error::Result;
use crate::ops::color::{Pixels, to_8bit};
use crate::query::ParsedQuery;

/// Sigmas below this are blurred with the exact kernel. Its cost grows with sigma and passes
/// the box blurs' (constant) near here: on one megapixel, 5 ms at sigma 2, 11 ms at 6, 19 ms
/// at 10, against 21-26 ms for the box blurs, which are within a few levels of a Gaussian.
const EXACT_SIGMA: f32 = 12.0;

/// Applies `blur`, then `sharp_amount`/`sharp_radius`.
pub(crate) fn apply(image: DynamicImage, query: &ParsedQuery) -> Result<DynamicImage> {
    apply_with_rows(image, query, &mut |_| {})
}

/// Whether the query asks for any effect.
pub(crate) fn asked(query: &ParsedQuery) -> bool {
    query.number("blur").unwrap_or(0.0) > 0.0 || query.is_set("sharp_amount")
}

/// [`apply`], handing every row of the result to `row_done` as soon as it is final, top to
/// bottom, so that an encoder can start on the first rows while the last are being made.
pub(crate) fn apply_with_rows(
    image: DynamicImage,
    query: &ParsedQuery,
    row_done: &mut dyn FnMut(&[u8]),
) -> Result<DynamicImage> {
    let mut image = image;
    let blur = query.number("blur").unwrap_or(0.0);
    let sharpen = query.is_set("sharp_amount").then(|| {
        let amount = query.number("sharp_amount").unwrap_or(0.0);
        let radius = query.number("sharp_radius").unwrap_or(10.0);
        (amount / 50.0, sharpen_sigma(radius))
    });
    let mut rows_handed = 0;
    let mut last_effect = |row: &[u8]| {
        rows_handed += 1;
        row_done(row);
    };
    let mut ignore = |_: &[u8]| {};
    if blur > 0.0 {
        let blur_rows_done: &mut dyn FnMut(&[u8]) = match sharpen {
            None => &mut last_effect,
            Some(_) => &mut ignore,
        };
        image = gaussian_blur(image, blur_sigma(blur), blur_rows_done);
    }
    if let Some((amount, sigma)) = sharpen {
        image = unsharp_mask(image, amount, sigma, &mut last_effect);
    }
    // Neither effect changed a row (none asked for, or an empty image or zero amount).
    if rows_handed == 0 && image.height() > 0 {
        let row_bytes = image.as_bytes().len() / image.height() as usize;
        image.as_bytes().chunks_exact(row_bytes).for_each(row_done);
    }
    Ok(image)
}

/// `blur` to sigma in pixels.
pub(crate) fn blur_sigma(blur: f64) -> f32 {
    (blur / 2.0) as f32
}

/// `sharp_radius` to sigma in pixels.
fn sharpen_sigma(radius: f64) -> f32 {
    (0.5 + radius / 20.0) as f32
}

/// Blurs every channel with a Gaussian of `sigma` pixels (colour premultiplied by alpha),
/// handing each row to `row_done` once it is blurred.
fn gaussian_blur(image: DynamicImage, sigma: f32, row_done: &mut dyn FnMut(&[u8])) -> DynamicImage {
    if sigma <= 0.0 || image.width() == 0 || image.height() == 0 {
        return image;
    }
    let mut image = to_8bit(image);
    let (width, height) = (image.width() as usize, image.height() as usize);
    let pixels = Pixels::of(&mut image);
    let layout = Layout::of(&pixels);
    blur_rows(pixels.data, width, height, layout, sigma, |row, blurred| {
        match layout.alpha() {
            None => {
                for (sample, &v) in row.iter_mut().zip(blurred) {
                    *sample = to_u8(v);
                }
            }
            Some(a) => {
                for (px, value) in row
                    .chunks_exact_mut(layout.channels)
                    .zip(blurred.chunks_exact(layout.channels))
                {
                    let alpha = value[a];
                    // Fully transparent: no colour to recover, the hidden one stays.
                    if alpha > 0.0 {
                        for c in 0..a {
                            px[c] = to_u8(value[c] * 255.0 / alpha);
                        }
                    }
                    px[a] = to_u8(alpha);
                }
            }
        }
        row_done(row);
    });
    image
}

/// `x + amount · (x − blur(x))` on every colour channel; alpha stays. Each row is handed to
/// `row_done` once it is sharpened.
fn unsharp_mask(
    image: DynamicImage,
    amount: f64,
    sigma: f32,
    row_done: &mut dyn FnMut(&[u8]),
) -> DynamicImage {
    if amount <= 0.0 || image.width() == 0 || image.height() == 0 {
        return image;
    }
    let amount = amount as f32;
    let mut image = to_8bit(image);
    let (width, height) = (image.width() as usize, image.height() as usize);
    let pixels = Pixels::of(&mut image);
    let layout = Layout::of(&pixels);
    // With alpha, the detail is measured on premultiplied colour, so a transparent
    // neighbour's hidden colour adds no halo.
    blur_rows(pixels.data, width, height, layout, sigma, |row, blurred| {
        for (px, value) in row
            .chunks_exact_mut(layout.channels)
            .zip(blurred.chunks_exact(layout.channels))
        {
            let weight = layout.alpha().map_or(1.0, |a| f32::from(px[a]) / 255.0);
            if weight <= 0.0 {
                continue;
            }
            for c in 0..layout.colors {
                let original = f32::from(px[c]) * weight;
                let sharpened = (original + amount * (original - value[c])) / weight;
                px[c] = to_u8(sharpened);
            }
        }
        row_done(row);
    });
    image
}

/// Rounds to the nearest 8-bit value (ties to even). Adding 1.5·2²³ leaves the rounded
/// integer in the low bits of the float, which compiles to a few SIMD instructions per eight
/// samples; `f32::round` and `as` conversions do not (a library call, a NaN check).
#[allow(clippy::manual_clamp)] // max and min, unlike clamp, also turn NaN into a number
fn to_u8(value: f32) -> u8 {
    const ROUNDING: f32 = 12_582_912.0;
    ((value.max(0.0).min(255.0) + ROUNDING).to_bits() & 0xFF) as u8
}

/// How the samples of a row are laid out.
#[derive(Debug, Clone, Copy)]
struct Layout {
    /// Samples per pixel.
    channels: usize,
    /// Colour samples per pixel; alpha, when present, follows them.
    colors: usize,
}

impl Layout {
    fn of(pixels: &Pixels<'_>) -> Layout {
        Layout {
            channels: pixels.channels,
            colors: pixels.color_channels,
        }
    }

    fn alpha(&self) -> Option<usize> {
        (self.channels > self.colors).then_some(self.colors)
    }

    /// The samples of `row` as floats, colour premultiplied by alpha.
    #[inline(always)]
    fn load(&self, row: &[u8], out: &mut [f32]) {
        match self.alpha() {
            None => {
                for (o, &v) in out.iter_mut().zip(row) {
                    *o = f32::from(v);
                }
            }
            Some(a) => {
                for (o, px) in out
                    .chunks_exact_mut(self.channels)
                    .zip(row.chunks_exact(self.channels))
                {
                    let alpha = f32::from(px[a]);
                    for c in 0..a {
                        o[c] = f32::from(px[c]) * alpha * (1.0 / 255.0);
                    }
                    o[a] = alpha;
                }
            }
        }
    }
}

/// Blurs interleaved 8-bit rows with a Gaussian of `sigma` and hands each blurred row (as
/// floats, colour premultiplied by alpha) to `emit` with the row it replaces, top to bottom.
/// A row is handed over only once every row that its blur reads has been read, so `emit` may
/// overwrite it.
fn blur_rows(
    data: &mut [u8],
    width: usize,
    height: usize,
    layout: Layout,
    sigma: f32,
    emit: impl FnMut(&mut [u8], &[f32]),
) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: this CPU has AVX2.
        return unsafe { blur_rows_avx2(data, width, height, layout, sigma, emit) };
    }
    blur_rows_portable(data, width, height, layout, sigma, emit);
}

/// [`blur_rows`] compiled for AVX2, whose 8-float vectors halve the work of baseline x86-64's
/// 4-float SSE2 in the row loops (every helper below is inlined into it).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn blur_rows_avx2(
    data: &mut [u8],
    width: usize,
    height: usize,
    layout: Layout,
    sigma: f32,
    emit: impl FnMut(&mut [u8], &[f32]),
) {
    blur_rows_portable(data, width, height, layout, sigma, emit);
}

#[inline(always)]
fn blur_rows_portable(
    data: &mut [u8],
    width: usize,
    height: usize,
    layout: Layout,
    sigma: f32,
    emit: impl FnMut(&mut [u8], &[f32]),
) {
    if sigma < EXACT_SIGMA {
        kernel_blur_rows(data, width, height, layout, &gaussian_kernel(sigma), emit);
    } else {
        box_blur_rows(data, width, height, layout, sigma, emit);
    }
}

/// Normalised Gaussian weights for offsets `0..=r`, `r = ⌈3σ⌉` (the kernel is symmetric).
fn gaussian_kernel(sigma: f32) -> Vec<f32> {
    let radius = (3.0 * sigma).ceil().max(1.0) as i32;
    let weights: Vec<f32> = (0..=radius)
        .map(|i| (-(i * i) as f32 / (2.0 * sigma * sigma)).exp())
        .collect();
    let total: f32 = weights[0] + 2.0 * weights[1..].iter().sum::<f32>();
    weights.into_iter().map(|w| w / total).collect()
}

/// The separable convolution of [`blur_rows`] with the half-kernel `kernel` (offsets 0..=r).
/// Rows are filtered horizontally into a ring of the last 2r+1 rows, which stays in cache,
/// and each output row is the weighted sum of the ring's rows.
#[inline(always)]
fn kernel_blur_rows(
    data: &mut [u8],
    width: usize,
    height: usize,
    layout: Layout,
    kernel: &[f32],
    mut emit: impl FnMut(&mut [u8], &[f32]),
) {
    let channels = layout.channels;
    let stride = width * channels;
    let radius = kernel.len() - 1;
    let ring_rows = (2 * radius + 1).min(height);
    let mut ring = vec![0f32; ring_rows * stride];
    // One source row with `radius` repeated edge pixels on each side; the samples `k` pixels
    // left and right of sample i are at i + (r-k)·channels and i + (r+k)·channels.
    let pad = radius * channels;
    let mut padded = vec![0f32; stride + 2 * pad];
    let across: Vec<(usize, usize)> = (1..=radius)
        .map(|k| ((radius - k) * channels, (radius + k) * channels))
        .collect();
    let mut down = vec![(0, 0); radius];
    let mut sum = vec![0f32; stride];
    let mut filtered = 0; // rows filtered into the ring so far
    let slot = |row: isize| (row.clamp(0, height as isize - 1) as usize % ring_rows) * stride;
    for y in 0..height {
        let needed = (y + radius + 1).min(height);
        while filtered < needed {
            let source = &data[filtered * stride..(filtered + 1) * stride];
            layout.load(source, &mut padded[pad..pad + stride]);
            let (left, rest) = padded.split_at_mut(pad);
            let (middle, right) = rest.split_at_mut(stride);
            for px in left.chunks_exact_mut(channels) {
                px.copy_from_slice(&middle[..channels]);
            }
            for px in right.chunks_exact_mut(channels) {
                px.copy_from_slice(&middle[stride - channels..]);
            }
            let at = slot(filtered as isize);
            symmetric_sum(&mut ring[at..at + stride], kernel, &padded, pad, &across);
            filtered += 1;
        }
        let y = y as isize;
        for (k, pair) in (1..).zip(down.iter_mut()) {
            *pair = (slot(y - k), slot(y + k));
        }
        symmetric_sum(&mut sum, kernel, &ring, slot(y), &down);
        emit(
            &mut data[y as usize * stride..(y as usize + 1) * stride],
            &sum,
        );
    }
}

/// `out[i] = kernel[0]·source[centre+i] + Σₖ kernel[k]·(source[bₖ+i] + source[aₖ+i])` with
/// `(bₖ, aₖ) = pairs[k-1]`: one side of a symmetric convolution. Runs in blocks of
/// [`BLOCK`] outputs whose sums stay in SIMD registers while every tap is added.
#[inline(always)]
fn symmetric_sum(
    out: &mut [f32],
    kernel: &[f32],
    source: &[f32],
    centre: usize,
    pairs: &[(usize, usize)],
) {
    let len = out.len();
    let mut blocks = out.chunks_exact_mut(BLOCK);
    for (index, block) in blocks.by_ref().enumerate() {
        let start = index * BLOCK;
        let mut acc = [0f32; BLOCK];
        let centre = &source[centre + start..][..BLOCK];
        for (a, &v) in acc.iter_mut().zip(centre) {
            *a = kernel[0] * v;
        }
        for (&weight, &(before, after)) in kernel[1..].iter().zip(pairs) {
            let before = &source[before + start..][..BLOCK];
            let after = &source[after + start..][..BLOCK];
            for ((a, &b), &c) in acc.iter_mut().zip(before).zip(after) {
                *a += weight * (b + c);
            }
        }
        block.copy_from_slice(&acc);
    }
    let tail = blocks.into_remainder();
    let start = len - tail.len();
    for (i, o) in (start..).zip(tail) {
        let mut value = kernel[0] * source[centre + i];
        for (&weight, &(before, after)) in kernel[1..].iter().zip(pairs) {
            value += weight * (source[before + i] + source[after + i]);
        }
        *o = value;
    }
}

/// Outputs summed together by [`symmetric_sum`]: four AVX2 registers.
const BLOCK: usize = 32;

/// The box-blur form of [`blur_rows`] for large sigmas: three box blurs of the whole image
/// as floats, then every row handed over.
#[inline(always)]
fn box_blur_rows(
    data: &mut [u8],
    width: usize,
    height: usize,
    layout: Layout,
    sigma: f32,
    mut emit: impl FnMut(&mut [u8], &[f32]),
) {
    let channels = layout.channels;
    let stride = width * channels;
    let mut image = vec![0f32; stride * height];
    for (row, out) in data
        .chunks_exact(stride)
        .zip(image.chunks_exact_mut(stride))
    {
        layout.load(row, out);
    }
    let mut scratch = vec![0f32; stride * height];
    for radius in box_radii(sigma) {
        horizontal_box(&image, &mut scratch, width, channels, radius);
        vertical_box(&scratch, &mut image, stride, height, radius);
    }
    for (row, blurred) in data
        .chunks_exact_mut(stride)
        .zip(image.chunks_exact(stride))
    {
        emit(row, blurred);
    }
}

/// Radii of three box blurs whose succession approximates a Gaussian of `sigma`.
fn box_radii(sigma: f32) -> [usize; 3] {
    let n = 3.0f32;
    let ideal = (12.0 * sigma * sigma / n + 1.0).sqrt();
    let mut lower = ideal.floor() as i32;
    if lower % 2 == 0 {
        lower -= 1;
    }
    let lower_f = lower as f32;
    let m = ((12.0 * sigma * sigma - n * lower_f * lower_f - 4.0 * n * lower_f - 3.0 * n)
        / (-4.0 * lower_f - 4.0))
        .round() as i32;
    std::array::from_fn(|i| {
        let size = if (i as i32) < m { lower } else { lower + 2 };
        (size.max(1) as usize - 1) / 2
    })
}

/// Mean over pixels `x-r..=x+r` of interleaved rows, the border repeated, by running sums.
#[inline(always)]
fn horizontal_box(src: &[f32], dst: &mut [f32], width: usize, channels: usize, radius: usize) {
    match channels {
        1 => horizontal_box_of::<1>(src, dst, width, radius),
        2 => horizontal_box_of::<2>(src, dst, width, radius),
        3 => horizontal_box_of::<3>(src, dst, width, radius),
        _ => horizontal_box_of::<4>(src, dst, width, radius),
    }
}

/// [`horizontal_box`] for `N` channels, so that the running sums live in registers.
#[inline(always)]
fn horizontal_box_of<const N: usize>(src: &[f32], dst: &mut [f32], width: usize, radius: usize) {
    let scale = 1.0 / (2 * radius + 1) as f32;
    // The row with radius + 1 copies of its first and last pixels on either side: pixel x's
    // window is padded pixels x+1..=x+2r+1; moving on adds x+2r+2 and drops x+1.
    let mut padded = vec![[0f32; N]; width + 2 * radius + 2];
    for (row, out) in src
        .chunks_exact(width * N)
        .zip(dst.chunks_exact_mut(width * N))
    {
        for (p, px) in padded[radius + 1..].iter_mut().zip(row.chunks_exact(N)) {
            p.copy_from_slice(px);
        }
        let (first, last) = (padded[radius + 1], padded[radius + width]);
        padded[..=radius].fill(first);
        padded[radius + 1 + width..].fill(last);
        let mut sums = [0f32; N];
        for p in &padded[1..=2 * radius + 1] {
            for c in 0..N {
                sums[c] += p[c];
            }
        }
        let windows = out
            .chunks_exact_mut(N)
            .zip(&padded[2 * radius + 2..])
            .zip(&padded[1..]);
        for ((o, entering), leaving) in windows {
            for c in 0..N {
                o[c] = sums[c] * scale;
                sums[c] += entering[c] - leaving[c];
            }
        }
    }
}

/// Column means over rows `y-r..=y+r` with the border repeated, a row at a time.
#[inline(always)]
fn vertical_box(src: &[f32], dst: &mut [f32], stride: usize, height: usize, radius: usize) {
    let last = height - 1;
    let scale = 1.0 / (2 * radius + 1) as f32;
    let row = |y: usize| &src[y * stride..(y + 1) * stride];
    let mut sums = vec![0f32; stride];
    for k in 0..=2 * radius {
        for (s, &v) in sums.iter_mut().zip(row(k.saturating_sub(radius).min(last))) {
            *s += v;
        }
    }
    for (y, out) in dst.chunks_exact_mut(stride).enumerate() {
        for (o, &s) in out.iter_mut().zip(sums.iter()) {
            *o = s * scale;
        }
        let add = row((y + radius + 1).min(last));
        let remove = row(y.saturating_sub(radius));
        for ((s, &a), &r) in sums.iter_mut().zip(add).zip(remove) {
            *s += a - r;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{GrayImage, Luma, Rgb, RgbImage, Rgba, RgbaImage};

    fn edge() -> RgbImage {
        RgbImage::from_fn(40, 30, |x, _| {
            if x < 20 {
                Rgb([0, 0, 0])
            } else {
                Rgb([255, 200, 100])
            }
        })
    }

    fn variance(image: &DynamicImage) -> f64 {
        let gray = image.to_luma8();
        let mean = gray.pixels().map(|p| p[0] as f64).sum::<f64>() / gray.len() as f64;
        gray.pixels()
            .map(|p| (p[0] as f64 - mean).powi(2))
            .sum::<f64>()
            / gray.len() as f64
    }

    #[test]
    fn blur_softens_an_edge_and_keeps_flat_areas() {
        for sigma in [0.8, 1.9, 5.0, 50.0] {
            let out = gaussian_blur(DynamicImage::ImageRgb8(edge()), sigma, &mut |_| {}).to_rgb8();
            assert_eq!(out.dimensions(), (40, 30));
            let near = out[(19, 15)];
            assert!(near[0] > 10 && near[0] < 245, "sigma {sigma}: {near:?}");
            if sigma < 3.0 {
                assert_eq!(out[(0, 0)], Rgb([0, 0, 0]));
                assert_eq!(out[(39, 29)], Rgb([255, 200, 100]));
            }
        }
    }

    /// `image` blurred by the exact kernel and by the box blurs, as floats.
    fn both_blurs(image: &GrayImage, sigma: f32) -> (Vec<f32>, Vec<f32>) {
        let (w, h) = (image.width() as usize, image.height() as usize);
        let layout = Layout {
            channels: 1,
            colors: 1,
        };
        let run = |exact: bool| {
            let mut data = image.as_raw().clone();
            let mut out = Vec::new();
            let emit = |_: &mut [u8], row: &[f32]| out.extend_from_slice(row);
            if exact {
                kernel_blur_rows(&mut data, w, h, layout, &gaussian_kernel(sigma), emit);
            } else {
                box_blur_rows(&mut data, w, h, layout, sigma, emit);
            }
            out
        };
        (run(true), run(false))
    }

    /// The exact kernel applied to every pixel directly, in f64: what both blurs approximate.
    fn reference_blur(image: &GrayImage, sigma: f64) -> Vec<f64> {
        let (w, h) = (image.width() as i64, image.height() as i64);
        let r = (3.0 * sigma).ceil() as i64;
        let weight = |d: i64| (-((d * d) as f64) / (2.0 * sigma * sigma)).exp();
        let total: f64 = (-r..=r).map(weight).sum();
        let mut out = Vec::new();
        for y in 0..h {
            for x in 0..w {
                let mut sum = 0.0;
                for dy in -r..=r {
                    for dx in -r..=r {
                        let (sx, sy) = ((x + dx).clamp(0, w - 1), (y + dy).clamp(0, h - 1));
                        let v = f64::from(image[(sx as u32, sy as u32)][0]);
                        sum += weight(dx) * weight(dy) * v;
                    }
                }
                out.push(sum / (total * total));
            }
        }
        out
    }

    #[test]
    fn the_row_blur_is_the_exact_gaussian_and_the_box_blurs_come_close() {
        // Photo-like content: smooth tones and a hard edge (white noise is no photo).
        let photo = GrayImage::from_fn(64, 48, |x, y| {
            let wave = 100.0 * (x as f32 / 5.0).sin() * (y as f32 / 7.0).cos();
            Luma([(if x > 40 { 200.0 } else { 110.0 } + wave * 0.5) as u8])
        });
        for sigma in [0.7f32, 2.0, 3.0, 5.0, 11.5] {
            let reference = reference_blur(&photo, f64::from(sigma));
            let (exact, boxed) = both_blurs(&photo, sigma);
            let worst = |blurred: &[f32]| {
                blurred
                    .iter()
                    .zip(&reference)
                    .map(|(&a, b)| (f64::from(a) - b).abs())
                    .fold(0.0, f64::max)
            };
            assert!(
                worst(&exact) < 1e-2,
                "sigma {sigma}: exact off by {}",
                worst(&exact)
            );
            if (2.0..=3.0).contains(&sigma) {
                assert!(
                    worst(&boxed) < 4.0,
                    "sigma {sigma}: box off by {}",
                    worst(&boxed)
                );
            }
        }
    }

    #[test]
    fn rows_shorter_than_the_kernel_and_single_rows_blur() {
        for (w, h) in [(1, 1), (2, 9), (9, 1), (3, 3)] {
            let image = GrayImage::from_fn(w, h, |x, y| Luma([(x * 40 + y * 20) as u8]));
            let reference = reference_blur(&image, 2.0);
            let (exact, _) = both_blurs(&image, 2.0);
            for (a, b) in exact.iter().zip(&reference) {
                assert!((f64::from(*a) - b).abs() < 1e-2, "{w}x{h}: {a} against {b}");
            }
        }
    }

    #[test]
    fn blur_premultiplies_alpha() {
        // A transparent half whose hidden colour is red must not tint the opaque blue half.
        let image = RgbaImage::from_fn(20, 10, |x, _| {
            if x < 10 {
                Rgba([255, 0, 0, 0])
            } else {
                Rgba([0, 0, 255, 255])
            }
        });
        let out = gaussian_blur(DynamicImage::ImageRgba8(image), 2.0, &mut |_| {}).to_rgba8();
        let p = out[(10, 5)];
        assert!(p[0] < 3, "red bled into {p:?}");
        assert!(p[3] > 60 && p[3] < 200, "alpha is blurred: {p:?}");
    }

    #[test]
    fn gray_stays_gray() {
        let gray =
            DynamicImage::ImageLuma8(GrayImage::from_fn(20, 20, |x, _| Luma([(x * 12) as u8])));
        assert!(matches!(
            gaussian_blur(gray.clone(), 3.0, &mut |_| {}),
            DynamicImage::ImageLuma8(_)
        ));
        assert!(matches!(
            unsharp_mask(gray, 1.0, 1.0, &mut |_| {}),
            DynamicImage::ImageLuma8(_)
        ));
    }

    #[test]
    fn unsharp_mask_adds_contrast_at_edges_and_keeps_alpha() {
        let soft = gaussian_blur(DynamicImage::ImageRgb8(edge()), 1.5, &mut |_| {});
        let sharp = unsharp_mask(soft.clone(), 2.0, 1.5, &mut |_| {});
        assert!(variance(&sharp) > variance(&soft));
        let rgba = RgbaImage::from_fn(16, 16, |x, y| {
            Rgba([(x * 16) as u8, 50, 50, (y * 16) as u8])
        });
        let out = unsharp_mask(
            DynamicImage::ImageRgba8(rgba.clone()),
            2.0,
            1.0,
            &mut |_| {},
        )
        .to_rgba8();
        for (a, b) in rgba.pixels().zip(out.pixels()) {
            assert_eq!(a[3], b[3]);
        }
    }

    #[test]
    fn every_final_row_is_handed_over_once_in_order() {
        let rgb = DynamicImage::ImageRgb8(edge());
        for query in [
            "blur=3",
            "sharp_amount=70",
            "blur=3&sharp_amount=70",
            "blur=1&sharp_amount=1",
            "brightness=0.1",
        ] {
            let parsed = crate::query::parse_query(query, true).unwrap();
            let mut rows = Vec::new();
            let out = apply_with_rows(rgb.clone(), &parsed, &mut |row| rows.extend_from_slice(row))
                .unwrap();
            assert_eq!(rows, out.as_bytes(), "{query}");
            assert_eq!(out, apply(rgb.clone(), &parsed).unwrap(), "{query}");
        }
    }

    #[test]
    fn tiny_images_and_huge_sigmas_are_safe() {
        let one = DynamicImage::ImageRgb8(RgbImage::from_pixel(1, 1, Rgb([9, 8, 7])));
        assert_eq!(gaussian_blur(one.clone(), 50.0, &mut |_| {}), one);
        assert_eq!(unsharp_mask(one.clone(), 2.0, 5.5, &mut |_| {}), one);
        let thin = DynamicImage::ImageRgb8(RgbImage::from_fn(3, 100, |_, y| Rgb([y as u8, 0, 0])));
        assert_eq!(
            gaussian_blur(thin, 50.0, &mut |_| {})
                .to_rgb8()
                .dimensions(),
            (3, 100)
        );
    }

    #[test]
    #[ignore = "timing; run with --ignored --nocapture in release mode"]
    fn one_megapixel_timings() {
        let big = DynamicImage::ImageRgb8(RgbImage::from_fn(1200, 850, |x, y| {
            Rgb([(x % 256) as u8, (y % 256) as u8, ((x * y) % 256) as u8])
        }));
        for blur in [1.0, 4.0, 8.0, 11.0, 12.0, 20.0, 100.0] {
            let start = std::time::Instant::now();
            let _ = gaussian_blur(big.clone(), blur_sigma(blur), &mut |_| {});
            eprintln!("blur={blur}: {:.2} ms", start.elapsed().as_secs_f64() * 1e3);
        }
        for radius in [1.0, 10.0, 100.0] {
            let start = std::time::Instant::now();
            let _ = unsharp_mask(big.clone(), 1.0, sharpen_sigma(radius), &mut |_| {});
            eprintln!(
                "sharp_radius={radius}: {:.2} ms",
                start.elapsed().as_secs_f64() * 1e3
            );
        }
    }
}
