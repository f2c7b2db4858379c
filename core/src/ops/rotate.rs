//! Rotation by any angle: the tilt of at most 45° that remains after the quarter turns (see
//! [`super::geometry::Rotation`]), sampled bilinearly.
//!
//! Each output pixel maps back to a source position. Along an output row the position moves by
//! a constant step, so it is stepped in fixed point ([`FRACTION_BITS`]) rather than computed
//! again, and the four texels around it are mixed with integer weights of [`WEIGHT_BITS`]. Where
//! the four are opaque the mix is plain; elsewhere (the canvas edge under a translucent
//! `pad_color`, translucent source pixels) it is premultiplied, so a transparent fill leaves no
//! dark fringe. Photos take the three-channel path and never touch an alpha channel. The
//! sampler this replaced, in `f64` through an RGBA copy of the image, took 37 ns a pixel; this
//! one takes 9-11 (6 MP turned by 30° on one thread: 88-107 ms; see the README).

use image::{DynamicImage, ImageBuffer, Pixel};

use crate::encode::{rgb8, rgba8};
use crate::ops::geometry::rgba_result;
use crate::query::Rgba;

/// Fractional bits of a source position: a step's rounding error, added up over the longest
/// row (16,384 pixels), moves a position by less than 2^-17 of a pixel.
const FRACTION_BITS: u32 = 32;
/// Bits of each bilinear weight: 1/2048 of a pixel, finer than 8-bit output can show. Sums of
/// four plain products fit in `u32` (255 · 2^22).
const WEIGHT_BITS: u32 = 11;
const WEIGHT_ONE: u32 = 1 << WEIGHT_BITS;
/// Bits of the product of two weights, the scale of every four-texel sum.
const PRODUCT_BITS: u32 = 2 * WEIGHT_BITS;

/// Outputs smaller than this are rotated on one thread: below it a second thread's start and
/// join (about 65 µs) cost a large share of what it saves (a megabyte takes about 3.5 ms to
/// sample).
const SPLIT_BYTES: usize = 1 << 20;

/// Rotates `image` clockwise by `radians` about its centre onto an `out`-sized canvas, where a
/// source distance of `scale` covers one output pixel; samples outside the source take `fill`.
/// The result has an alpha channel when `keep_alpha` is set, else three channels.
pub(crate) fn rotate_bilinear(
    image: &DynamicImage,
    radians: f64,
    out: (u32, u32),
    scale: f64,
    fill: Rgba,
    keep_alpha: bool,
) -> DynamicImage {
    let mapping = Mapping::new((image.width(), image.height()), radians, out, scale);
    if !image.color().has_alpha() && fill.0[3] == 255 {
        let [r, g, b, _] = fill.0;
        return DynamicImage::ImageRgb8(rotated(&rgb8(image), &mapping, [r, g, b]));
    }
    rgba_result(rotated(&rgba8(image), &mapping, fill.0), keep_alpha)
}

/// Where each output pixel samples the source.
struct Mapping {
    source: (usize, usize),
    out: (usize, usize),
    /// Source position of output pixel (0, 0)'s centre.
    origin: (f64, f64),
    /// Source step of one output pixel along a row, and of one output row.
    along: (f64, f64),
    down: (f64, f64),
}

impl Mapping {
    fn new(source: (u32, u32), radians: f64, out: (u32, u32), scale: f64) -> Mapping {
        let (sin, cos) = radians.sin_cos();
        // The inverse of a clockwise rotation (y points down), scaled, from output pixel centres
        // about the output's centre to source texel positions about the source's centre.
        let along = (scale * cos, -scale * sin);
        let down = (scale * sin, scale * cos);
        let (from_x, from_y) = (0.5 - out.0 as f64 / 2.0, 0.5 - out.1 as f64 / 2.0);
        let origin = (
            from_x * along.0 + from_y * down.0 + source.0 as f64 / 2.0 - 0.5,
            from_x * along.1 + from_y * down.1 + source.1 as f64 / 2.0 - 0.5,
        );
        Mapping {
            source: (source.0 as usize, source.1 as usize),
            out: (out.0 as usize, out.1 as usize),
            origin,
            along,
            down,
        }
    }
}

fn fixed(position: f64) -> i64 {
    (position * (1u64 << FRACTION_BITS) as f64).round() as i64
}

/// The rotation of an 8-bit buffer of `N` channels (3, or 4 with alpha last), on a second core
/// as well when one is free and the output is large enough to gain from it.
fn rotated<P: Pixel<Subpixel = u8>, const N: usize>(
    source: &ImageBuffer<P, Vec<u8>>,
    mapping: &Mapping,
    fill: [u8; N],
) -> ImageBuffer<P, Vec<u8>> {
    let bytes = mapping.out.0 * mapping.out.1 * N;
    let two_threads = bytes >= SPLIT_BYTES && crate::cores::one_to_spare();
    rotated_on(source, mapping, fill, two_threads)
}

/// [`rotated`], on one thread or two (each sampling half of the rows).
fn rotated_on<P: Pixel<Subpixel = u8>, const N: usize>(
    source: &ImageBuffer<P, Vec<u8>>,
    mapping: &Mapping,
    fill: [u8; N],
    two_threads: bool,
) -> ImageBuffer<P, Vec<u8>> {
    let (out_w, out_h) = mapping.out;
    let row_bytes = out_w * N;
    let mut out = vec![0u8; row_bytes * out_h];
    let sampler = Sampler::<N> {
        source: source.as_raw(),
        width: mapping.source.0,
        height: mapping.source.1,
        fill,
        // Four fill texels mix to the fill, premultiplied or not, unless it is wholly clear.
        outside: if N == 4 && fill[3] == 0 { [0; N] } else { fill },
    };
    let rows = |first_row: usize, out: &mut [u8]| sample_rows(&sampler, mapping, first_row, out);
    if two_threads {
        let half = out_h / 2;
        let (first, second) = out.split_at_mut(half * row_bytes);
        crate::cores::run_beside("picsmith-tilt", || rows(0, first), || rows(half, second));
    } else {
        rows(0, &mut out);
    }
    ImageBuffer::from_raw(out_w as u32, out_h as u32, out)
        .expect("the canvas holds out_w × out_h pixels")
}

/// Fills `out`, whole output rows from `first_row` on.
fn sample_rows<const N: usize>(
    sampler: &Sampler<N>,
    mapping: &Mapping,
    first_row: usize,
    out: &mut [u8],
) {
    let row_bytes = mapping.out.0 * N;
    if row_bytes == 0 {
        return;
    }
    let step = (fixed(mapping.along.0), fixed(mapping.along.1));
    for (row, pixels) in out.chunks_exact_mut(row_bytes).enumerate() {
        let y = (first_row + row) as f64;
        let mut at = (
            fixed(mapping.origin.0 + y * mapping.down.0),
            fixed(mapping.origin.1 + y * mapping.down.1),
        );
        for pixel in pixels.chunks_exact_mut(N) {
            let pixel: &mut [u8; N] = pixel.try_into().expect("chunks of N bytes");
            *pixel = sampler.sample(at);
            at = (at.0 + step.0, at.1 + step.1);
        }
    }
}

/// The source, and what lies outside it.
struct Sampler<'a, const N: usize> {
    source: &'a [u8],
    width: usize,
    height: usize,
    fill: [u8; N],
    /// What four `fill` texels mix to.
    outside: [u8; N],
}

impl<const N: usize> Sampler<'_, N> {
    /// The bilinear sample at a fixed-point source position.
    #[inline]
    fn sample(&self, (x, y): (i64, i64)) -> [u8; N] {
        let (x0, y0) = (x >> FRACTION_BITS, y >> FRACTION_BITS);
        let weight = |v: i64| (v >> (FRACTION_BITS - WEIGHT_BITS)) as u32 & (WEIGHT_ONE - 1);
        let (wx, wy) = (weight(x), weight(y));
        let (width, height) = (self.width as i64, self.height as i64);
        if x0 >= 0 && y0 >= 0 && x0 + 1 < width && y0 + 1 < height {
            // The texel pairs above and below the position, each 2·N bytes.
            let at = (y0 as usize * self.width + x0 as usize) * N;
            let upper = &self.source[at..at + 2 * N];
            let lower = &self.source[at + self.width * N..][..2 * N];
            if N < 4 || upper[3] & upper[N + 3] & lower[3] & lower[N + 3] == 255 {
                return plain_mix(upper, lower, wx, wy);
            }
        }
        if x0 < -1 || y0 < -1 || x0 >= width || y0 >= height {
            return self.outside;
        }
        let texel = |x: i64, y: i64| {
            if x < 0 || y < 0 || x >= width || y >= height {
                self.fill
            } else {
                self.texel((y as usize * self.width + x as usize) * N)
            }
        };
        let texels = [
            texel(x0, y0),
            texel(x0 + 1, y0),
            texel(x0, y0 + 1),
            texel(x0 + 1, y0 + 1),
        ];
        if N < 4 || texels.iter().all(|t| t[3] == 255) {
            let (upper, lower) = (pair(texels[0], texels[1]), pair(texels[2], texels[3]));
            return plain_mix(&upper[..2 * N], &lower[..2 * N], wx, wy);
        }
        premultiplied_mix(&texels, wx, wy)
    }

    #[inline]
    fn texel(&self, at: usize) -> [u8; N] {
        self.source[at..at + N]
            .try_into()
            .expect("a texel is N bytes")
    }
}

/// Two opaque texel pairs, `upper` and `lower` (each two pixels of N bytes), mixed across by
/// `wx` and down by `wy`: the photo's path, and every interior pixel's of an opaque source.
#[inline]
fn plain_mix<const N: usize>(upper: &[u8], lower: &[u8], wx: u32, wy: u32) -> [u8; N] {
    let half = 1u32 << (PRODUCT_BITS - 1);
    std::array::from_fn(|c| {
        let across = |pair: &[u8]| pair[c] as u32 * (WEIGHT_ONE - wx) + pair[c + N] as u32 * wx;
        ((across(upper) * (WEIGHT_ONE - wy) + across(lower) * wy + half) >> PRODUCT_BITS) as u8
    })
}

/// Two texels side by side, as they lie in a source row (the first 2·N bytes count).
fn pair<const N: usize>(left: [u8; N], right: [u8; N]) -> [u8; 8] {
    let mut pair = [0; 8];
    pair[..N].copy_from_slice(&left);
    pair[N..2 * N].copy_from_slice(&right);
    pair
}

/// Four RGBA texels (upper left, upper right, lower left, lower right) mixed across by `wx`
/// and down by `wy`, premultiplied by alpha: where any is translucent.
fn premultiplied_mix<const N: usize>(texels: &[[u8; N]; 4], wx: u32, wy: u32) -> [u8; N] {
    let weights = [
        (WEIGHT_ONE - wx) * (WEIGHT_ONE - wy),
        wx * (WEIGHT_ONE - wy),
        (WEIGHT_ONE - wx) * wy,
        wx * wy,
    ];
    let alphas: [u64; 4] = std::array::from_fn(|i| texels[i][N - 1] as u64 * weights[i] as u64);
    let coverage: u64 = alphas.iter().sum();
    let mut out = [0u8; N];
    if coverage == 0 {
        return out;
    }
    for (c, out) in out.iter_mut().enumerate().take(N - 1) {
        let sum: u64 = (0..4).map(|i| texels[i][c] as u64 * alphas[i]).sum();
        *out = ((sum + coverage / 2) / coverage) as u8;
    }
    out[N - 1] = ((coverage + (1 << (PRODUCT_BITS - 1))) >> PRODUCT_BITS) as u8;
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{RgbImage, RgbaImage};

    /// The sampler this module replaced: every pixel mapped and mixed in `f64`, premultiplied.
    fn reference(
        source: &RgbaImage,
        radians: f64,
        out: (u32, u32),
        scale: f64,
        fill: [u8; 4],
    ) -> RgbaImage {
        let (sw, sh) = (source.width() as i64, source.height() as i64);
        let (sin, cos) = radians.sin_cos();
        let premultiplied = |p: [u8; 4]| {
            let a = p[3] as f64 / 255.0;
            [
                p[0] as f64 * a,
                p[1] as f64 * a,
                p[2] as f64 * a,
                p[3] as f64,
            ]
        };
        let texel = |x: i64, y: i64| {
            if x < 0 || y < 0 || x >= sw || y >= sh {
                premultiplied(fill)
            } else {
                premultiplied(source.get_pixel(x as u32, y as u32).0)
            }
        };
        RgbaImage::from_fn(out.0, out.1, |ox, oy| {
            let dx = (ox as f64 + 0.5 - out.0 as f64 / 2.0) * scale;
            let dy = (oy as f64 + 0.5 - out.1 as f64 / 2.0) * scale;
            let sx = dx * cos + dy * sin + sw as f64 / 2.0 - 0.5;
            let sy = -dx * sin + dy * cos + sh as f64 / 2.0 - 0.5;
            let (x0, y0) = (sx.floor(), sy.floor());
            let (fx, fy) = (sx - x0, sy - y0);
            let (x0, y0) = (x0 as i64, y0 as i64);
            let corners = [
                (texel(x0, y0), (1.0 - fx) * (1.0 - fy)),
                (texel(x0 + 1, y0), fx * (1.0 - fy)),
                (texel(x0, y0 + 1), (1.0 - fx) * fy),
                (texel(x0 + 1, y0 + 1), fx * fy),
            ];
            let mut sum = [0.0f64; 4];
            for (texel, weight) in corners {
                for (s, t) in sum.iter_mut().zip(texel) {
                    *s += t * weight;
                }
            }
            if sum[3] <= 0.0 {
                return image::Rgba([0, 0, 0, 0]);
            }
            let un = |c: f64| (c * 255.0 / sum[3]).round().clamp(0.0, 255.0) as u8;
            image::Rgba([un(sum[0]), un(sum[1]), un(sum[2]), sum[3].round() as u8])
        })
    }

    /// A source with detail everywhere and, in `alpha` mode, every level of alpha.
    fn source(width: u32, height: u32, alpha: bool) -> RgbaImage {
        RgbaImage::from_fn(width, height, |x, y| {
            let v = x
                .wrapping_mul(2_654_435_761)
                .wrapping_add(y.wrapping_mul(40_503));
            let a = if alpha { (v >> 24) as u8 } else { 255 };
            image::Rgba([(x * 7) as u8, (y * 5) as u8, (v >> 8) as u8, a])
        })
    }

    fn largest_difference(a: &[u8], b: &[u8]) -> u8 {
        assert_eq!(a.len(), b.len());
        a.iter()
            .zip(b)
            .map(|(a, b)| a.abs_diff(*b))
            .max()
            .unwrap_or(0)
    }

    #[test]
    fn samples_as_the_floating_point_sampler_did() {
        // Width, height, whether the source has alpha; the fill; degrees and scale.
        type Case = ((u32, u32, bool), [u8; 4], (f64, f64));
        let cases: &[Case] = &[
            ((64, 48, false), [255, 0, 0, 255], (30.0, 1.0)),
            ((64, 48, false), [0, 0, 0, 0], (-45.0, 1.0)),
            ((37, 91, true), [20, 200, 40, 255], (12.5, 1.0)),
            ((37, 91, true), [0, 0, 0, 0], (-7.0, 1.0)),
            ((50, 50, true), [10, 20, 30, 128], (44.0, 0.8)),
            ((120, 33, false), [255, 255, 255, 255], (0.3, 0.97)),
        ];
        for &((w, h, alpha), fill, (degrees, scale)) in cases {
            let source = source(w, h, alpha);
            let radians = f64::to_radians(degrees);
            let (sin, cos) = (radians.sin().abs(), radians.cos().abs());
            let out = (
                (w as f64 * cos + h as f64 * sin).round() as u32,
                (w as f64 * sin + h as f64 * cos).round() as u32,
            );
            let expected = reference(&source, radians, out, scale, fill);
            let image = if alpha {
                DynamicImage::ImageRgba8(source)
            } else {
                DynamicImage::ImageRgb8(DynamicImage::ImageRgba8(source).to_rgb8())
            };
            let rotated = rotate_bilinear(&image, radians, out, scale, Rgba(fill), true);
            let rotated = match (rotated, alpha || fill[3] < 255) {
                (DynamicImage::ImageRgba8(rotated), true) => rotated,
                (DynamicImage::ImageRgb8(rotated), false) => {
                    DynamicImage::ImageRgb8(rotated).to_rgba8()
                }
                (other, _) => panic!("{w}x{h} at {degrees}°: unexpected {:?}", other.color()),
            };
            let difference = largest_difference(rotated.as_raw(), expected.as_raw());
            assert!(
                difference <= 1,
                "{w}x{h} alpha={alpha} fill={fill:?} at {degrees}° scale {scale}: off by {difference}"
            );
        }
    }

    #[test]
    fn two_threads_write_what_one_writes() {
        let source = DynamicImage::ImageRgb8(RgbImage::from_fn(700, 500, |x, y| {
            image::Rgb([(x * 3) as u8, (y * 7) as u8, (x ^ y) as u8])
        }));
        let mapping = Mapping::new((700, 500), f64::to_radians(20.0), (829, 709), 1.0);
        let source = source.to_rgb8();
        let one = rotated_on(&source, &mapping, [1, 2, 3], false);
        let two = rotated_on(&source, &mapping, [1, 2, 3], true);
        assert_eq!(one.as_raw(), two.as_raw());
    }

    #[test]
    fn keeps_alpha_only_when_asked() {
        let source = DynamicImage::ImageRgb8(RgbImage::new(8, 8));
        let clear = Rgba([0, 0, 0, 0]);
        let radians = f64::to_radians(30.0);
        let with = rotate_bilinear(&source, radians, (11, 11), 1.0, clear, true);
        assert!(with.color().has_alpha());
        let without = rotate_bilinear(&source, radians, (8, 8), 0.5, clear, false);
        assert!(!without.color().has_alpha());
        let gray = DynamicImage::ImageLuma8(image::GrayImage::new(8, 8));
        let white = Rgba([255, 255, 255, 255]);
        assert_eq!(
            rotate_bilinear(&gray, radians, (11, 11), 1.0, white, false).color(),
            image::ColorType::Rgb8
        );
    }
}
