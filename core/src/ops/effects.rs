//! Blur and unsharp mask.
//!
//! - `blur` (0…100) is a Gaussian blur with `sigma = blur / 2` pixels of the output image
//!   (`blur=100`: sigma 50). 0 is no blur.
//! - `sharp_amount` (1…100) and `sharp_radius` (1…100, 10 when unset) are an unsharp mask
//!   `x' = x + k · (x − gauss_σ(x))` with `k = amount / 50` (100 adds twice the detail) and
//!   `σ = 0.5 + radius / 20` pixels (0.55 to 5.5; 1 when unset).
//!
//! Blurring runs on encoded values (as most editors do), one channel at a time in `f32`, with
//! colour premultiplied by alpha so transparent pixels do not bleed their hidden colour. A
//! sigma below [`EXACT_SIGMA`] uses an exact separable kernel (±3σ); larger ones use three
//! successive box blurs (Kovesi, "Fast almost-Gaussian filtering"), whose cost does not grow
//! with sigma. Edges repeat the border pixel.

use image::DynamicImage;

use crate::error::Result;
use crate::ops::color::{Pixels, to_8bit};
use crate::query::ParsedQuery;

/// Largest sigma blurred with an exact kernel; three box blurs are within 3 % of a Gaussian
/// from here on and cost the same at any size.
const EXACT_SIGMA: f32 = 2.0;

/// Applies `blur`, then `sharp_amount`/`sharp_radius`.
pub(crate) fn apply(image: DynamicImage, query: &ParsedQuery) -> Result<DynamicImage> {
    let mut image = image;
    let blur = query.number("blur").unwrap_or(0.0);
    if blur > 0.0 {
        image = gaussian_blur(image, blur_sigma(blur));
    }
    if query.is_set("sharp_amount") {
        let amount = query.number("sharp_amount").unwrap_or(0.0);
        let radius = query.number("sharp_radius").unwrap_or(10.0);
        image = unsharp_mask(image, amount / 50.0, sharpen_sigma(radius));
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

/// Blurs every channel with a Gaussian of `sigma` pixels (colour premultiplied by alpha).
pub(crate) fn gaussian_blur(image: DynamicImage, sigma: f32) -> DynamicImage {
    if sigma <= 0.0 || image.width() == 0 || image.height() == 0 {
        return image;
    }
    let mut image = to_8bit(image);
    let (width, height) = (image.width() as usize, image.height() as usize);
    let pixels = Pixels::of(&mut image);
    let stride = pixels.channels;
    let colors = pixels.color_channels;
    let mut plane = vec![0f32; width * height];
    let mut scratch = vec![0f32; width * height];
    if !pixels.has_alpha() {
        for c in 0..colors {
            extract(pixels.data, stride, c, &mut plane);
            blur_plane(&mut plane, &mut scratch, width, height, sigma);
            store(pixels.data, stride, c, &plane);
        }
        return image;
    }
    let mut alpha = vec![0f32; width * height];
    extract(pixels.data, stride, colors, &mut alpha);
    blur_plane(&mut alpha, &mut scratch, width, height, sigma);
    for c in 0..colors {
        for (value, px) in plane.iter_mut().zip(pixels.data.chunks_exact(stride)) {
            *value = px[c] as f32 * px[colors] as f32 * (1.0 / 255.0);
        }
        blur_plane(&mut plane, &mut scratch, width, height, sigma);
        for ((px, &value), &a) in pixels
            .data
            .chunks_exact_mut(stride)
            .zip(plane.iter())
            .zip(alpha.iter())
        {
            if a > 0.0 {
                px[c] = (value * 255.0 / a).clamp(0.0, 255.0).round() as u8;
            }
        }
    }
    store(pixels.data, stride, colors, &alpha);
    image
}

/// `x + amount · (x − blur(x))` on every colour channel; alpha stays.
pub(crate) fn unsharp_mask(image: DynamicImage, amount: f64, sigma: f32) -> DynamicImage {
    if amount <= 0.0 || image.width() == 0 || image.height() == 0 {
        return image;
    }
    let amount = amount as f32;
    let mut image = to_8bit(image);
    let (width, height) = (image.width() as usize, image.height() as usize);
    let pixels = Pixels::of(&mut image);
    let (stride, colors, alpha) = (pixels.channels, pixels.color_channels, pixels.has_alpha());
    let mut plane = vec![0f32; width * height];
    let mut scratch = vec![0f32; width * height];
    // With alpha, the detail is measured on premultiplied colour, so a transparent
    // neighbour's hidden colour adds no halo.
    let weight = |px: &[u8]| {
        if alpha {
            px[colors] as f32 / 255.0
        } else {
            1.0
        }
    };
    for c in 0..colors {
        for (value, px) in plane.iter_mut().zip(pixels.data.chunks_exact(stride)) {
            *value = px[c] as f32 * weight(px);
        }
        blur_plane(&mut plane, &mut scratch, width, height, sigma);
        for (px, &blurred) in pixels.data.chunks_exact_mut(stride).zip(plane.iter()) {
            let w = weight(px);
            if w <= 0.0 {
                continue;
            }
            let original = px[c] as f32 * w;
            let sharpened = (original + amount * (original - blurred)) / w;
            px[c] = sharpened.clamp(0.0, 255.0).round() as u8;
        }
    }
    image
}

fn extract(data: &[u8], stride: usize, channel: usize, plane: &mut [f32]) {
    for (value, px) in plane.iter_mut().zip(data.chunks_exact(stride)) {
        *value = px[channel] as f32;
    }
}

fn store(data: &mut [u8], stride: usize, channel: usize, plane: &[f32]) {
    for (px, &value) in data.chunks_exact_mut(stride).zip(plane.iter()) {
        px[channel] = value.clamp(0.0, 255.0).round() as u8;
    }
}

/// Gaussian blur of one `width × height` plane in place; `scratch` is the same size.
fn blur_plane(plane: &mut [f32], scratch: &mut [f32], width: usize, height: usize, sigma: f32) {
    if sigma < EXACT_SIGMA {
        let kernel = gaussian_kernel(sigma);
        horizontal_kernel(plane, scratch, width, &kernel);
        vertical_kernel(scratch, plane, width, height, &kernel);
    } else {
        for radius in box_radii(sigma) {
            horizontal_box(plane, scratch, width, radius);
            vertical_box(scratch, plane, width, height, radius);
        }
    }
}

/// Normalised Gaussian weights for offsets `-r..=r`, `r = ⌈3σ⌉`.
fn gaussian_kernel(sigma: f32) -> Vec<f32> {
    let radius = (3.0 * sigma).ceil().max(1.0) as i32;
    let weights: Vec<f32> = (-radius..=radius)
        .map(|i| (-(i * i) as f32 / (2.0 * sigma * sigma)).exp())
        .collect();
    let total: f32 = weights.iter().sum();
    weights.into_iter().map(|w| w / total).collect()
}

fn horizontal_kernel(src: &[f32], dst: &mut [f32], width: usize, kernel: &[f32]) {
    let radius = kernel.len() / 2;
    let last = width - 1;
    for (row, out) in src.chunks_exact(width).zip(dst.chunks_exact_mut(width)) {
        for (x, value) in out.iter_mut().enumerate() {
            let mut sum = 0.0;
            if x >= radius && x + radius <= last {
                for (w, v) in kernel.iter().zip(&row[x - radius..=x + radius]) {
                    sum += w * v;
                }
            } else {
                for (k, w) in kernel.iter().enumerate() {
                    let i = (x + k).saturating_sub(radius).min(last);
                    sum += w * row[i];
                }
            }
            *value = sum;
        }
    }
}

fn vertical_kernel(src: &[f32], dst: &mut [f32], width: usize, height: usize, kernel: &[f32]) {
    let radius = kernel.len() / 2;
    for (y, out) in dst.chunks_exact_mut(width).enumerate() {
        out.fill(0.0);
        for (k, &w) in kernel.iter().enumerate() {
            let sy = (y + k).saturating_sub(radius).min(height - 1);
            for (o, &v) in out.iter_mut().zip(&src[sy * width..(sy + 1) * width]) {
                *o += w * v;
            }
        }
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

/// Mean over `x-r..=x+r` with the border repeated, by a running sum.
fn horizontal_box(src: &[f32], dst: &mut [f32], width: usize, radius: usize) {
    let last = width - 1;
    let scale = 1.0 / (2 * radius + 1) as f32;
    for (row, out) in src.chunks_exact(width).zip(dst.chunks_exact_mut(width)) {
        let mut sum: f32 = (0..=2 * radius)
            .map(|k| row[k.saturating_sub(radius).min(last)])
            .sum();
        // sum now covers -r..=r around x = 0 (indices clamped).
        for (x, value) in out.iter_mut().enumerate() {
            *value = sum * scale;
            let add = row[(x + radius + 1).min(last)];
            let remove = row[x.saturating_sub(radius)];
            sum += add - remove;
        }
    }
}

/// Column means over `y-r..=y+r` with the border repeated, a row at a time.
fn vertical_box(src: &[f32], dst: &mut [f32], width: usize, height: usize, radius: usize) {
    let last = height - 1;
    let scale = 1.0 / (2 * radius + 1) as f32;
    let row = |y: usize| &src[y * width..(y + 1) * width];
    let mut sums = vec![0f32; width];
    for k in 0..=2 * radius {
        for (s, &v) in sums.iter_mut().zip(row(k.saturating_sub(radius).min(last))) {
            *s += v;
        }
    }
    for (y, out) in dst.chunks_exact_mut(width).enumerate() {
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
            let out = gaussian_blur(DynamicImage::ImageRgb8(edge()), sigma).to_rgb8();
            assert_eq!(out.dimensions(), (40, 30));
            let near = out[(19, 15)];
            assert!(near[0] > 10 && near[0] < 245, "sigma {sigma}: {near:?}");
            if sigma < 3.0 {
                assert_eq!(out[(0, 0)], Rgb([0, 0, 0]));
                assert_eq!(out[(39, 29)], Rgb([255, 200, 100]));
            }
        }
    }

    #[test]
    fn box_blurs_match_the_exact_kernel() {
        // Photo-like content: smooth tones and a hard edge (white noise is no photo).
        let noise = GrayImage::from_fn(64, 64, |x, y| {
            let wave = 100.0 * (x as f32 / 5.0).sin() * (y as f32 / 7.0).cos();
            Luma([(if x > 40 { 200.0 } else { 110.0 } + wave * 0.5) as u8])
        });
        let (w, h) = (64, 64);
        let source: Vec<f32> = noise.pixels().map(|p| p[0] as f32).collect();
        let sigma = 3.0;
        let mut exact = source.clone();
        let mut scratch = vec![0.0; w * h];
        let kernel = gaussian_kernel(sigma);
        horizontal_kernel(&exact.clone(), &mut scratch, w, &kernel);
        vertical_kernel(&scratch, &mut exact, w, h, &kernel);
        let mut boxed = source;
        blur_plane(&mut boxed, &mut scratch, w, h, sigma);
        let worst = exact
            .iter()
            .zip(&boxed)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max);
        assert!(worst < 4.0, "box approximation off by {worst}");
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
        let out = gaussian_blur(DynamicImage::ImageRgba8(image), 2.0).to_rgba8();
        let p = out[(10, 5)];
        assert!(p[0] < 3, "red bled into {p:?}");
        assert!(p[3] > 60 && p[3] < 200, "alpha is blurred: {p:?}");
    }

    #[test]
    fn gray_stays_gray() {
        let gray =
            DynamicImage::ImageLuma8(GrayImage::from_fn(20, 20, |x, _| Luma([(x * 12) as u8])));
        assert!(matches!(
            gaussian_blur(gray.clone(), 3.0),
            DynamicImage::ImageLuma8(_)
        ));
        assert!(matches!(
            unsharp_mask(gray, 1.0, 1.0),
            DynamicImage::ImageLuma8(_)
        ));
    }

    #[test]
    fn unsharp_mask_adds_contrast_at_edges_and_keeps_alpha() {
        let soft = gaussian_blur(DynamicImage::ImageRgb8(edge()), 1.5);
        let sharp = unsharp_mask(soft.clone(), 2.0, 1.5);
        assert!(variance(&sharp) > variance(&soft));
        let rgba = RgbaImage::from_fn(16, 16, |x, y| {
            Rgba([(x * 16) as u8, 50, 50, (y * 16) as u8])
        });
        let out = unsharp_mask(DynamicImage::ImageRgba8(rgba.clone()), 2.0, 1.0).to_rgba8();
        for (a, b) in rgba.pixels().zip(out.pixels()) {
            assert_eq!(a[3], b[3]);
        }
    }

    #[test]
    fn tiny_images_and_huge_sigmas_are_safe() {
        let one = DynamicImage::ImageRgb8(RgbImage::from_pixel(1, 1, Rgb([9, 8, 7])));
        assert_eq!(gaussian_blur(one.clone(), 50.0), one);
        assert_eq!(unsharp_mask(one.clone(), 2.0, 5.5), one);
        let thin = DynamicImage::ImageRgb8(RgbImage::from_fn(3, 100, |_, y| Rgb([y as u8, 0, 0])));
        assert_eq!(gaussian_blur(thin, 50.0).to_rgb8().dimensions(), (3, 100));
    }

    #[test]
    #[ignore = "timing; run with --ignored --nocapture in release mode"]
    fn one_megapixel_timings() {
        let big = DynamicImage::ImageRgb8(RgbImage::from_fn(1200, 850, |x, y| {
            Rgb([(x % 256) as u8, (y % 256) as u8, ((x * y) % 256) as u8])
        }));
        for blur in [1.0, 4.0, 20.0, 100.0] {
            let start = std::time::Instant::now();
            let _ = gaussian_blur(big.clone(), blur_sigma(blur));
            eprintln!("blur={blur}: {:.2} ms", start.elapsed().as_secs_f64() * 1e3);
        }
        for radius in [1.0, 10.0, 100.0] {
            let start = std::time::Instant::now();
            let _ = unsharp_mask(big.clone(), 1.0, sharpen_sigma(radius));
            eprintln!(
                "sharp_radius={radius}: {:.2} ms",
                start.elapsed().as_secs_f64() * 1e3
            );
        }
    }
}
