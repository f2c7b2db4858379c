//! `quality=auto`: the lowest encoder quality whose output still looks like the image.
//!
//! After jpeg-archive's `jpeg-recompress`: a binary search over the encoder quality between
//! `quality_min` and `quality_max`, `quality_attempts` steps long. Each step encodes the final
//! pixels (every transform applied) at the middle quality, decodes the candidate (mozjpeg's Y
//! channel for JPEG, libwebp for WebP) and compares the two on luma with `quality_method`.
//! A candidate that meets the target moves the search down, one that misses moves it up. The
//! smallest candidate that met the target is returned as it was encoded (never encoded twice);
//! when none did, the result at `quality_max`.
//!
//! Only JPEG and lossy WebP take part; other outputs get a warning on `quality` and the quality
//! an unset `quality` gives.

use image::{DynamicImage, GrayImage};

use crate::encode::{self, EncodeSettings};
use crate::error::{Error, ErrorKind, Result};
use crate::format::Format;
use crate::jpeg;
use crate::query::{ParsedQuery, Quality, Value, Warning};

/// The `quality_*` parameters that only mean something with `quality=auto`.
const SEARCH_PARAMETERS: [&str; 6] = [
    "quality_attempts",
    "quality_method",
    "quality_preset",
    "quality_target",
    "quality_min",
    "quality_max",
];

/// The similarity measure of `quality_method`. All compare luma (ITU-R BT.601 weights, as
/// jpeg-archive does), with transparent pixels composited over white.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Method {
    /// Structural similarity, 1 for identical images; higher is better.
    Ssim,
    /// Mean absolute luma difference, 0 for identical images; lower is better.
    Mpe,
    /// jpeg-archive's smallfry: PSNR and blocking terms, ≈115.72 for identical images that
    /// have a luma above 128; higher is better.
    Smallfry,
}

impl Method {
    fn from_name(name: &str) -> Method {
        match name {
            "mpe" => Method::Mpe,
            "smallfry" => Method::Smallfry,
            _ => Method::Ssim,
        }
    }

    /// jpeg-recompress's targets for `low`, `medium`, `high` and `veryhigh`.
    pub(crate) fn preset_target(self, preset: &str) -> f64 {
        let [low, medium, high, veryhigh] = match self {
            Method::Ssim => [0.999, 0.9999, 0.99995, 0.99999],
            Method::Mpe => [1.5, 1.0, 0.8, 0.6],
            Method::Smallfry => [100.75, 102.25, 103.8, 105.5],
        };
        match preset {
            "low" => low,
            "high" => high,
            "veryhigh" => veryhigh,
            _ => medium,
        }
    }

    /// Whether a candidate scoring `score` is close enough to the original.
    pub(crate) fn meets(self, score: f64, target: f64) -> bool {
        match self {
            Method::Mpe => score <= target,
            Method::Ssim | Method::Smallfry => score >= target,
        }
    }

    /// The score of `candidate` against `original` (same size).
    pub(crate) fn score(self, original: &GrayImage, candidate: &GrayImage) -> f64 {
        match self {
            Method::Ssim => ssim(original, candidate),
            Method::Mpe => mean_pixel_error(original, candidate),
            Method::Smallfry => smallfry(original, candidate),
        }
    }
}

/// The search as the query describes it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Search {
    pub method: Method,
    pub target: f64,
    pub min: u8,
    pub max: u8,
    pub attempts: u8,
}

impl Search {
    pub(crate) fn from_query(query: &ParsedQuery) -> Search {
        let method = Method::from_name(&query.text("quality_method").unwrap_or_default());
        let target = query.number("quality_target").unwrap_or_else(|| {
            method.preset_target(&query.text("quality_preset").unwrap_or_default())
        });
        let whole = |name, fallback: u8| {
            query
                .number(name)
                .map_or(fallback, |n| n.clamp(1.0, 100.0) as u8)
        };
        Search {
            method,
            target,
            min: whole("quality_min", 40),
            max: whole("quality_max", 90),
            attempts: whole("quality_attempts", 6),
        }
    }

    /// Runs the binary search. `try_quality` encodes at a quality and scores the result.
    pub(crate) fn run(&self, mut try_quality: impl FnMut(u8) -> Result<Trial>) -> Result<Chosen> {
        let (mut low, mut high) = (self.min, self.max.max(self.min));
        let mut best: Option<Chosen> = None;
        let mut at_max: Option<Chosen> = None;
        for _ in 0..self.attempts {
            if low > high {
                break;
            }
            let quality = low + (high - low) / 2;
            let trial = try_quality(quality)?;
            let chosen = Chosen {
                quality,
                data: trial.data,
            };
            if self.method.meets(trial.score, self.target) {
                if best
                    .as_ref()
                    .is_none_or(|b| chosen.data.len() <= b.data.len())
                {
                    best = Some(chosen);
                }
                // quality ≥ 1, and low ≥ 1 ends the loop once high reaches 0.
                high = quality - 1;
            } else {
                if quality == self.max {
                    at_max = Some(chosen);
                }
                low = quality + 1;
            }
        }
        if let Some(best) = best.or(at_max) {
            return Ok(best);
        }
        // Nothing met the target and quality_max was not tried.
        let trial = try_quality(self.max)?;
        Ok(Chosen {
            quality: self.max,
            data: trial.data,
        })
    }
}

/// One encoding tried by the search.
pub(crate) struct Trial {
    pub data: Vec<u8>,
    pub score: f64,
}

/// The encoding the search settled on.
#[derive(Debug)]
pub(crate) struct Chosen {
    pub quality: u8,
    pub data: Vec<u8>,
}

/// Whether the query says `quality=auto`.
pub(crate) fn searches(query: &ParsedQuery) -> bool {
    matches!(query.value("quality"), Some(Value::Quality(Quality::Auto)))
}

/// Warns about the search's parameters, set without `quality=auto`.
pub(crate) fn warn_search_parameters(query: &ParsedQuery, warnings: &mut Vec<Warning>) {
    for name in SEARCH_PARAMETERS.into_iter().filter(|&n| query.is_set(n)) {
        warnings.push(Warning {
            parameter: name.into(),
            message: format!("{name} applies to quality=auto; ignored"),
        });
    }
}

/// Encodes `image` with `settings`, searching for the quality when the query says
/// `quality=auto`. Returns the bytes and the quality a lossy encoder used (`None` for PNG, GIF
/// and lossless WebP).
pub(crate) fn encode(
    image: &DynamicImage,
    settings: &EncodeSettings<'_>,
    query: &ParsedQuery,
    warnings: &mut Vec<Warning>,
) -> Result<(Vec<u8>, Option<u8>)> {
    let format = settings.format;
    let lossy = match format {
        Format::Jpeg | Format::Avif => true,
        Format::Webp => !settings.lossless,
        _ => false,
    };
    let used = |quality: u8| lossy.then_some(quality);
    if !searches(query) {
        warn_search_parameters(query, warnings);
        return Ok((encode::encode(image, settings)?, used(settings.quality)));
    }
    if !matches!(format, Format::Jpeg | Format::Webp) || !lossy {
        let kind = if lossy { "" } else { "lossless " };
        let fallback = if lossy {
            format!("encoded at quality {}", settings.quality)
        } else {
            "ignored".into()
        };
        warnings.push(Warning {
            parameter: "quality".into(),
            message: format!(
                "quality=auto applies to JPEG and lossy WebP output; {fallback} for {kind}{format}"
            ),
        });
        return Ok((encode::encode(image, settings)?, used(settings.quality)));
    }
    let search = Search::from_query(query);
    let original = luma(
        image.as_bytes(),
        channels(image)?,
        image.width(),
        image.height(),
    );
    let chosen = search.run(|quality| {
        let data = encode::encode(
            image,
            &EncodeSettings {
                quality,
                ..*settings
            },
        )?;
        let candidate = decode_luma(format, &data)?;
        if candidate.dimensions() != original.dimensions() {
            return Err(Error::internal(format!(
                "{format} candidate decoded at a different size"
            )));
        }
        let score = search.method.score(&original, &candidate);
        Ok(Trial { data, score })
    })?;
    Ok((chosen.data, Some(chosen.quality)))
}

fn channels(image: &DynamicImage) -> Result<usize> {
    match image {
        DynamicImage::ImageLuma8(_) => Ok(1),
        DynamicImage::ImageLumaA8(_) => Ok(2),
        DynamicImage::ImageRgb8(_) => Ok(3),
        DynamicImage::ImageRgba8(_) => Ok(4),
        _ => Err(Error::internal("quality=auto needs 8-bit pixels")),
    }
}

/// Decodes a candidate to luma: mozjpeg for JPEG, libwebp (the encoder's own library) for WebP.
fn decode_luma(format: Format, data: &[u8]) -> Result<GrayImage> {
    let failed = || Error::internal(format!("could not decode a {format} candidate"));
    match format {
        Format::Jpeg => {
            // Told it has one component, the decoder returns the Y channel as stored, as
            // jpeg-archive reads its candidates: chroma subsampling cannot leak into luma
            // through clamped RGB.
            let header = jpeg::JpegHeader {
                components: 1,
                ..jpeg::read_header(data)?
            };
            let image = jpeg::decode(data, &header, 8)?;
            Ok(luma(
                image.as_bytes(),
                channels(&image)?,
                image.width(),
                image.height(),
            ))
        }
        Format::Webp => {
            let image = webp::Decoder::new(data).decode().ok_or_else(failed)?;
            let channels = if image.is_alpha() { 4 } else { 3 };
            Ok(luma(&image, channels, image.width(), image.height()))
        }
        _ => Err(failed()),
    }
}

/// BT.601 luma (Y = 0.299 R + 0.587 G + 0.114 B, rounded) of interleaved 8-bit pixels with
/// 1 to 4 channels; alpha composites over white, so what is invisible cannot count.
pub(crate) fn luma(pixels: &[u8], channels: usize, width: u32, height: u32) -> GrayImage {
    let y = |px: &[u8]| -> u8 {
        let (value, alpha) = match *px {
            [v] => (v as u32, 255),
            [v, a] => (v as u32, a as u32),
            [r, g, b] | [r, g, b, _] => {
                let y = (299 * r as u32 + 587 * g as u32 + 114 * b as u32 + 500) / 1000;
                (y, px.get(3).map_or(255, |&a| a as u32))
            }
            _ => (0, 255),
        };
        ((value * alpha + 255 * (255 - alpha) + 127) / 255) as u8
    };
    let data = pixels.chunks_exact(channels).map(y).collect();
    GrayImage::from_raw(width, height, data).expect("one luma sample per pixel")
}

/// SSIM as jpeg-archive measures it (Tom Distler's IQA, which its presets assume): both images
/// are first reduced by box averaging, in floating point, with IQA's factor
/// `max(1, round(min(w, h) / 256))` (which also keeps the cost at a few milliseconds for any
/// size); then the mean, over every position of a sliding 8×8 window that fits, of
/// `(2·μx·μy + C1)(2·σxy + C2) / ((μx² + μy² + C1)(σx² + σy² + C2))` with C1 = (0.01·255)²,
/// C2 = (0.03·255)². An image smaller than the window is one window.
pub(crate) fn ssim(original: &GrayImage, candidate: &GrayImage) -> f64 {
    const WINDOW: usize = 8;
    let c1 = (0.01f64 * 255.0).powi(2);
    let c2 = (0.03f64 * 255.0).powi(2);
    let (w, h) = original.dimensions();
    let factor = ((w.min(h) as f64 / 256.0).round() as u32).max(1);
    let (x, rw, rh) = box_reduce(original, factor);
    let (y, _, _) = box_reduce(candidate, factor);
    let (ww, wh) = (WINDOW.min(rw), WINDOW.min(rh));
    let plane = |f: &dyn Fn(f64, f64) -> f64| -> Vec<f64> {
        let values: Vec<f64> = x.iter().zip(&y).map(|(&a, &b)| f(a, b)).collect();
        window_means(&values, rw, rh, ww, wh)
    };
    let (mx, my) = (plane(&|a, _| a), plane(&|_, b| b));
    let (xx, yy, xy) = (
        plane(&|a, _| a * a),
        plane(&|_, b| b * b),
        plane(&|a, b| a * b),
    );
    let total: f64 = (0..mx.len())
        .map(|i| {
            let (ux, uy) = (mx[i], my[i]);
            let (vx, vy, cov) = (xx[i] - ux * ux, yy[i] - uy * uy, xy[i] - ux * uy);
            (2.0 * ux * uy + c1) * (2.0 * cov + c2) / ((ux * ux + uy * uy + c1) * (vx + vy + c2))
        })
        .sum();
    total / mx.len() as f64
}

/// Averages `factor`×`factor` blocks into floats; a partial block at the right or bottom edge
/// is dropped (as IQA's decimation does). Returns the samples, width and height.
fn box_reduce(image: &GrayImage, factor: u32) -> (Vec<f64>, usize, usize) {
    let (w, h) = (image.width() as usize, image.height() as usize);
    let factor = (factor as usize).clamp(1, w.min(h).max(1));
    let (rw, rh) = (w / factor, h / factor);
    let raw = image.as_raw();
    let area = (factor * factor) as f64;
    let mut out = vec![0.0; rw * rh];
    for (i, value) in out.iter_mut().enumerate() {
        let (x, y) = ((i % rw) * factor, (i / rw) * factor);
        let sum: u32 = (y..y + factor)
            .flat_map(|row| &raw[row * w + x..row * w + x + factor])
            .map(|&v| v as u32)
            .sum();
        *value = sum as f64 / area;
    }
    (out, rw, rh)
}

/// Means of `values` (`w`×`h`) over every `ww`×`wh` window that fits, by separable sums.
fn window_means(values: &[f64], w: usize, h: usize, ww: usize, wh: usize) -> Vec<f64> {
    let (ow, oh) = (w + 1 - ww, h + 1 - wh);
    let rows: Vec<f64> = (0..h)
        .flat_map(|y| {
            let row = &values[y * w..(y + 1) * w];
            (0..ow).map(move |x| row[x..x + ww].iter().sum::<f64>())
        })
        .collect();
    let area = (ww * wh) as f64;
    (0..oh)
        .flat_map(|y| {
            let rows = &rows;
            (0..ow).map(move |x| (y..y + wh).map(|r| rows[r * ow + x]).sum::<f64>() / area)
        })
        .collect()
}

/// jpeg-archive's mean pixel error: the mean absolute difference of the luma samples.
pub(crate) fn mean_pixel_error(original: &GrayImage, candidate: &GrayImage) -> f64 {
    let total: u64 = original
        .as_raw()
        .iter()
        .zip(candidate.as_raw())
        .map(|(&a, &b)| a.abs_diff(b) as u64)
        .sum();
    total as f64 / original.as_raw().len().max(1) as f64
}

/// jpeg-archive's smallfry (after Derek Buitenhuis' BBCQ-like metric): 37.189 × a PSNR factor
/// plus 78.533 × a blocking factor, on full-resolution luma.
///
/// - PSNR factor: PSNR / 50 when the original's brightest luma is above 128, clamped to 0..1.
///   (For darker originals jpeg-archive divides by a negative number, so the factor is 0;
///   picsmith keeps that, so the presets mean the same.)
/// - Blocking factor: at every 8th column (and row) edge, the jump of the error across the edge
///   against the mean jump on either side; a ratio above 2 counts partly, above 5 fully. One
///   minus the mean count, times a confidence factor.
pub(crate) fn smallfry(original: &GrayImage, candidate: &GrayImage) -> f64 {
    let brightest = original.as_raw().iter().copied().max().unwrap_or(0);
    let p = psnr_factor(original, candidate, brightest);
    let a = blocking_factor(original, candidate, brightest);
    p * 37.189_188_516_123_9 + a * 78.532_860_729_697_3
}

fn psnr_factor(original: &GrayImage, candidate: &GrayImage, brightest: u8) -> f64 {
    let squared: u64 = original
        .as_raw()
        .iter()
        .zip(candidate.as_raw())
        .map(|(&a, &b)| (a.abs_diff(b) as u64).pow(2))
        .sum();
    let mse = squared as f64 / original.as_raw().len().max(1) as f64;
    let psnr = 10.0 * (65025.0 / mse).log10();
    let max = brightest as f64;
    let scaled = if brightest > 128 {
        psnr / 50.0
    } else {
        psnr / (0.0016 * max * max - (0.38 * max + 72.5))
    };
    if scaled.is_nan() {
        0.0
    } else {
        scaled.clamp(0.0, 1.0)
    }
}

fn blocking_factor(original: &GrayImage, candidate: &GrayImage, brightest: u8) -> f64 {
    let (w, h) = original.dimensions();
    let error =
        |x: u32, y: u32| original.get_pixel(x, y)[0].abs_diff(candidate.get_pixel(x, y)[0]) as f64;
    // How much sharper the error changes across an edge (between e1 and e2) than beside it.
    let edge = |e0: f64, e1: f64, e2: f64, e3: f64| {
        let ratio = (e1 - e2).abs() / (((e0 - e1).abs() + (e2 - e3).abs() + 0.0001) / 2.0);
        if ratio > 5.0 {
            1.0
        } else if ratio > 2.0 {
            (ratio - 2.0) / 3.0
        } else {
            0.0
        }
    };
    let (mut sum, mut count) = (0.0f64, 0u64);
    for y in 0..h {
        for x in (7..w.saturating_sub(2)).step_by(8) {
            count += 1;
            sum += edge(
                error(x - 1, y),
                error(x, y),
                error(x + 1, y),
                error(x + 2, y),
            );
        }
    }
    for y in (7..h.saturating_sub(2)).step_by(8) {
        for x in 0..w {
            count += 1;
            sum += edge(
                error(x, y - 1),
                error(x, y),
                error(x, y + 1),
                error(x, y + 2),
            );
        }
    }
    if count == 0 {
        return 1.0;
    }
    let clean = 1.0 - sum / count as f64;
    let floor = if brightest > 128 {
        0.65
    } else {
        0.65 + 0.35 * (128.0 - brightest as f64) / 128.0
    };
    let confidence = (0.25 + 1000.0 * count as f64 / sum).min(1.0).max(floor);
    clean * confidence
}

/// `quality_min` above `quality_max`, or an SSIM target above 1, can never be met.
pub(crate) fn check(query: &ParsedQuery) -> Result<()> {
    let search = Search::from_query(query);
    if search.min > search.max {
        return Err(Error::for_parameter(
            ErrorKind::InvalidParameter,
            "quality_min",
            format!(
                "quality_min ({}) is above quality_max ({})",
                search.min, search.max
            ),
        ));
    }
    if search.method == Method::Ssim && search.target > 1.0 {
        return Err(Error::for_parameter(
            ErrorKind::InvalidParameter,
            "quality_target",
            format!(
                "an SSIM target is at most 1; {} can never be met",
                search.target
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::parse_query;

    /// A deterministic photo-like image: gradients, a hard edge and fine noise.
    fn photo(width: u32, height: u32) -> DynamicImage {
        let mut seed = 0x2545_f491_u32;
        DynamicImage::ImageRgb8(image::RgbImage::from_fn(width, height, |x, y| {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            let noise = (seed % 24) as i32 - 12;
            let edge = if (x / 37 + y / 29) % 2 == 0 { 40 } else { 0 };
            let channel = |base: i32| (base + edge + noise).clamp(0, 255) as u8;
            image::Rgb([
                channel((x * 200 / width) as i32 + 20),
                channel((y * 180 / height) as i32 + 30),
                channel(((x + y) * 120 / (width + height)) as i32 + 60),
            ])
        }))
    }

    fn gray(image: &DynamicImage) -> GrayImage {
        luma(
            image.as_bytes(),
            channels(image).unwrap(),
            image.width(),
            image.height(),
        )
    }

    /// `image` through the JPEG encoder and mozjpeg's decoder at `quality`.
    fn jpeg_round_trip(image: &DynamicImage, quality: u8) -> GrayImage {
        let settings = EncodeSettings {
            format: Format::Jpeg,
            quality,
            interlace: false,
            lossless: false,
            exif: None,
            icc: None,
        };
        decode_luma(Format::Jpeg, &encode::encode(image, &settings).unwrap()).unwrap()
    }

    #[test]
    fn luma_uses_bt601_weights_and_composites_over_white() {
        let pixels = [255, 0, 0, 255, 0, 255, 0, 255, 0, 0, 255, 255, 0, 0, 0, 0];
        let y = luma(&pixels, 4, 4, 1);
        assert_eq!(y.as_raw(), &[76, 150, 29, 255]);
        assert_eq!(luma(&[10, 128], 2, 1, 1).as_raw(), &[132]);
    }

    #[test]
    fn identical_images_score_perfectly() {
        let image = gray(&photo(300, 200));
        assert!((ssim(&image, &image) - 1.0).abs() < 1e-12);
        assert_eq!(mean_pixel_error(&image, &image), 0.0);
        // Both smallfry factors are 1 when the brightest luma is above 128.
        let perfect = 37.189_188_516_123_9 + 78.532_860_729_697_3;
        assert!((smallfry(&image, &image) - perfect).abs() < 1e-9);
    }

    #[test]
    fn metrics_know_simple_values() {
        let a = GrayImage::from_pixel(64, 64, image::Luma([200]));
        let b = GrayImage::from_pixel(64, 64, image::Luma([190]));
        assert_eq!(mean_pixel_error(&a, &b), 10.0);
        // MSE 100: PSNR = 10 log10(65025 / 100) = 28.13 dB, / 50 = 0.5626. A uniform error
        // has no jump at block edges, so the blocking factor is 1.
        let expected =
            10.0 * (650.25f64).log10() / 50.0 * 37.189_188_516_123_9 + 78.532_860_729_697_3;
        assert!((smallfry(&a, &b) - expected).abs() < 1e-9);
        // SSIM of flat images: only the luminance term, (2·200·190 + C1) / (200² + 190² + C1).
        let c1 = (0.01f64 * 255.0).powi(2);
        let luminance = (2.0 * 200.0 * 190.0 + c1) / (200.0f64.powi(2) + 190.0f64.powi(2) + c1);
        assert!((ssim(&a, &b) - luminance).abs() < 1e-9);
    }

    #[test]
    fn smallfry_keeps_jpeg_archives_dark_image_rule() {
        // Brightest luma 100: the PSNR factor is 0 even for identical images.
        let dark = GrayImage::from_fn(64, 64, |x, _| image::Luma([(x + 36) as u8]));
        assert!((smallfry(&dark, &dark) - 78.532_860_729_697_3).abs() < 1e-9);
    }

    #[test]
    fn smallfry_sees_blocking() {
        let original = GrayImage::from_fn(64, 64, |x, y| image::Luma([(120 + x + y) as u8]));
        // Every 8x8 block shifted by its own offset: steps at exactly the block edges.
        let blocky = GrayImage::from_fn(64, 64, |x, y| {
            let shift = ((x / 8 + y / 8) % 3) as u8 * 4;
            image::Luma([original.get_pixel(x, y)[0] + shift])
        });
        // The same error spread as noise, not aligned with the blocks.
        let noisy = GrayImage::from_fn(64, 64, |x, y| {
            let shift = ((x * 7 + y * 13) % 3) as u8 * 4;
            image::Luma([original.get_pixel(x, y)[0] + shift])
        });
        let mpe = |c: &GrayImage| mean_pixel_error(&original, c);
        assert!((mpe(&blocky) - mpe(&noisy)).abs() < 0.5);
        assert!(smallfry(&original, &blocky) < smallfry(&original, &noisy));
    }

    #[test]
    fn every_metric_ranks_stronger_compression_worse() {
        let image = photo(320, 240);
        let original = gray(&image);
        let (fine, coarse) = (jpeg_round_trip(&image, 90), jpeg_round_trip(&image, 20));
        for method in [Method::Ssim, Method::Mpe, Method::Smallfry] {
            let fine_score = method.score(&original, &fine);
            let coarse_score = method.score(&original, &coarse);
            assert!(
                method.meets(fine_score, coarse_score) && fine_score != coarse_score,
                "{method:?}: q90 {fine_score} should beat q20 {coarse_score}"
            );
        }
    }

    #[test]
    fn ssim_reduces_large_images_like_iqa() {
        // 1024x600: factor round(600 / 256) = 2, so one-pixel noise mostly averages out.
        let clean = GrayImage::from_pixel(1024, 600, image::Luma([128]));
        let checker = GrayImage::from_fn(1024, 600, |x, y| {
            image::Luma([if (x + y) % 2 == 0 { 118 } else { 138 }])
        });
        let (reduced, w, h) = box_reduce(&checker, 2);
        assert_eq!((w, h), (512, 300));
        assert!(reduced.iter().all(|&v| v == 128.0));
        assert!((ssim(&clean, &checker) - 1.0).abs() < 1e-12);
        // Unreduced (factor round(300 / 256) = 1), the same noise costs a lot.
        let small = |i: &GrayImage| image::imageops::crop_imm(i, 0, 0, 300, 300).to_image();
        assert!(ssim(&small(&clean), &small(&checker)) < 0.9);
    }

    fn search(method: Method, target: f64, min: u8, max: u8, attempts: u8) -> Search {
        Search {
            method,
            target,
            min,
            max,
            attempts,
        }
    }

    /// Runs a search over a synthetic encoder: size grows with quality, `score` gives the score.
    fn run(search: &Search, score: impl Fn(u8) -> f64) -> (Chosen, Vec<u8>) {
        let mut tried = Vec::new();
        let chosen = search
            .run(|q| {
                tried.push(q);
                Ok(Trial {
                    data: vec![0; q as usize * 10],
                    score: score(q),
                })
            })
            .unwrap();
        (chosen, tried)
    }

    #[test]
    fn search_finds_the_lowest_quality_meeting_the_target() {
        let (chosen, tried) = run(&search(Method::Ssim, 0.7, 40, 90, 6), |q| q as f64 / 100.0);
        assert_eq!(chosen.quality, 70);
        assert_eq!(
            chosen.data.len(),
            700,
            "the winner's own bytes are returned"
        );
        assert_eq!(tried, [65, 78, 71, 68, 69, 70]);
        // MPE: lower is better, so the search runs the other way.
        let (chosen, _) = run(&search(Method::Mpe, 1.0, 40, 90, 6), |q| {
            (100 - q) as f64 / 30.0
        });
        assert_eq!(chosen.quality, 70);
    }

    #[test]
    fn search_respects_attempts_and_bounds() {
        for attempts in 1..=8 {
            let (chosen, tried) = run(&search(Method::Ssim, 0.55, 30, 80, attempts), |q| {
                q as f64 / 100.0
            });
            assert!(tried.iter().all(|q| (30..=80).contains(q)));
            assert!(tried.len() <= attempts as usize);
            assert!(
                chosen.quality >= 55,
                "{attempts} attempts chose {}",
                chosen.quality
            );
            // The interval halves each step: the choice is exact once log2(51) steps are done.
            if attempts >= 6 {
                assert_eq!(chosen.quality, 55);
            }
        }
        // Qualities are never tried twice: the search stops when the interval is empty.
        let (_, tried) = run(&search(Method::Ssim, 0.5, 40, 44, 20), |q| q as f64 / 100.0);
        assert!(tried.len() <= 3);
        let (chosen, tried) = run(&search(Method::Ssim, 0.5, 60, 60, 6), |q| q as f64 / 100.0);
        assert_eq!((chosen.quality, tried.len()), (60, 1));
    }

    #[test]
    fn search_falls_back_to_quality_max() {
        // Unreachable target: quality_max's result, which the search already encoded.
        let (chosen, tried) = run(&search(Method::Ssim, 0.99, 40, 90, 6), |q| q as f64 / 100.0);
        assert_eq!((chosen.quality, tried.len()), (90, 6));
        // With one attempt the middle fails and quality_max is encoded once more.
        let (chosen, tried) = run(&search(Method::Ssim, 0.99, 40, 90, 1), |q| q as f64 / 100.0);
        assert_eq!((chosen.quality, tried), (90, vec![65, 90]));
    }

    #[test]
    fn search_is_monotone_in_the_target() {
        let mut last = 0;
        for target in [0.41, 0.5, 0.6, 0.66, 0.7, 0.8, 0.85, 0.9] {
            let (chosen, _) = run(&search(Method::Ssim, target, 40, 90, 6), |q| {
                q as f64 / 100.0
            });
            assert!(chosen.quality >= last, "target {target}");
            last = chosen.quality;
        }
    }

    #[test]
    fn presets_are_jpeg_recompress_values() {
        assert_eq!(Method::Ssim.preset_target("medium"), 0.9999);
        assert_eq!(Method::Mpe.preset_target("veryhigh"), 0.6);
        assert_eq!(Method::Smallfry.preset_target("low"), 100.75);
        let query = parse_query("quality=auto&quality_method=mpe&quality_preset=high", false);
        assert_eq!(Search::from_query(&query.unwrap()).target, 0.8);
        let query = parse_query(
            "quality=auto&quality_preset=high&quality_target=0.98",
            false,
        );
        assert_eq!(Search::from_query(&query.unwrap()).target, 0.98);
    }

    /// The whole hook on real encoders: the result meets the target and is no larger than
    /// quality_max's.
    #[test]
    fn auto_quality_meets_the_target_with_fewer_bytes() {
        let image = photo(480, 360);
        let original = gray(&image);
        for (format, query) in [
            (Format::Jpeg, "quality=auto"),
            (Format::Jpeg, "quality=auto&quality_method=smallfry"),
            (
                Format::Webp,
                "quality=auto&quality_method=mpe&quality_preset=low",
            ),
            (Format::Webp, "quality=auto&quality_target=0.999"),
        ] {
            let query = parse_query(query, false).unwrap();
            let search = Search::from_query(&query);
            let settings = EncodeSettings {
                format,
                quality: 90,
                interlace: false,
                lossless: false,
                exif: None,
                icc: None,
            };
            let mut warnings = Vec::new();
            let (data, quality) = encode(&image, &settings, &query, &mut warnings).unwrap();
            let quality = quality.unwrap();
            assert!(warnings.is_empty());
            assert!((search.min..=search.max).contains(&quality));
            let at_max = encode::encode(
                &image,
                &EncodeSettings {
                    quality: 90,
                    ..settings
                },
            );
            assert!(data.len() <= at_max.unwrap().len());
            let score = search
                .method
                .score(&original, &decode_luma(format, &data).unwrap());
            assert!(
                search.method.meets(score, search.target) || quality == search.max,
                "{format} {query:?}: q{quality} scored {score}"
            );
        }
    }

    #[test]
    fn other_formats_warn_and_keep_their_quality() {
        let image = photo(40, 30);
        let query = parse_query("quality=auto", false).unwrap();
        for (format, lossless, quality) in [
            (Format::Png, false, None),
            (Format::Gif, false, None),
            (Format::Avif, false, Some(90)),
            (Format::Webp, true, None),
        ] {
            let settings = EncodeSettings {
                format,
                quality: 90,
                interlace: false,
                lossless,
                exif: None,
                icc: None,
            };
            let mut warnings = Vec::new();
            let (_, used) = encode(&image, &settings, &query, &mut warnings).unwrap();
            assert_eq!(used, quality);
            assert_eq!(warnings.len(), 1, "{format}");
            assert_eq!(warnings[0].parameter, "quality");
        }
    }

    #[test]
    fn search_parameters_without_auto_warn() {
        let query = parse_query("quality=75&quality_min=50&quality_method=mpe", false).unwrap();
        let settings = EncodeSettings {
            format: Format::Jpeg,
            quality: 75,
            interlace: false,
            lossless: false,
            exif: None,
            icc: None,
        };
        let mut warnings = Vec::new();
        let (_, used) = encode(&photo(16, 16), &settings, &query, &mut warnings).unwrap();
        assert_eq!(used, Some(75));
        let named: Vec<_> = warnings.iter().map(|w| w.parameter.as_str()).collect();
        assert_eq!(named, ["quality_method", "quality_min"]);
    }

    #[test]
    fn impossible_searches_are_invalid() {
        for (query, parameter) in [
            ("quality=auto&quality_min=80&quality_max=60", "quality_min"),
            ("quality_min=95", "quality_min"),
            ("quality=auto&quality_target=1.5", "quality_target"),
        ] {
            let err = parse_query(query, false).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidParameter, "{query}");
            assert_eq!(err.parameter(), Some(parameter));
        }
        assert!(
            parse_query(
                "quality=auto&quality_method=smallfry&quality_target=104",
                false
            )
            .is_ok()
        );
        assert!(parse_query("quality=auto&quality_min=70&quality_max=70", false).is_ok());
    }
}
