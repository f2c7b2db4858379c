//! Colour adjustments: brightness, contrast, gamma, saturation, vibrance, warmth, highlights,
//! shadow, fill_flash, auto_fix, auto_level, colorize.
//!
//! Every adjustment is defined once, here, on values `x ∈ [0, 1]`. "Encoded" means the sRGB
//! value as stored (close to perceptual lightness), "linear" the light intensity
//! (`lin(x)` / `enc(x)`: the sRGB transfer functions). Stages run in this fixed order:
//!
//! 1. Per-channel curves, composed into one 256-entry table per channel and applied in one
//!    pass:
//!    - `auto_level`: each channel stretched so its 0.5th and 99.5th percentiles become 0 and 1:
//!      `x' = (x − lo_c) / (hi_c − lo_c)`, clamped (ImageMagick `-auto-level` with clipping).
//!    - `auto_fix`: the same stretch measured on luma (Rec. 709 weights on encoded values) and
//!      applied equally to R, G and B (hue stays), then `x' = x^p` with `p = ln 0.5 / ln m`
//!      (clamped to 0.5…2), `m` the mean stretched luma: mid-tones move towards 0.5.
//!    - `brightness b`: exposure in linear light, ±2 stops: `lin(x') = lin(x) · 4^b`.
//!    - `contrast c` on encoded values around 0.5: for `c > 0` an S-curve (ImageMagick's
//!      sigmoidal contrast) `x' = (σ(β(x−½)) − σ(−β/2)) / (σ(β/2) − σ(−β/2))` with `β = 8c`,
//!      `σ` the logistic function, so black and white stay; for `c < 0` a linear squeeze
//!      `x' = ½ + (x − ½)(1 + c)`, flat grey at `c = −1`.
//!    - `gamma g`: `x' = x^(2^−g)` on encoded values (`g = 1` brightens mid-tones like
//!      ImageMagick `-gamma 2`).
//! 2. Luminance tone curves: the pixel's linear luminance `Y` (Rec. 709) is encoded,
//!    `l = enc(Y)`, bent by `T = fill_flash ∘ highlights ∘ shadow`, and R, G, B are multiplied
//!    in linear light by `lin(T(l)) / Y`, so hue and saturation stay.
//!    - `shadow s`: `S(l) = l + (1 − l)² · (l^p − l)`, `p = 2^(−1.5 s)`: lifts (s > 0) or
//!      deepens (s < 0) the dark tones, leaves white fixed.
//!    - `highlights h`: the mirror image, `H(l) = 1 − S₋ₕ(1 − l)`.
//!    - `fill_flash f`: `F(l) = l + (1 − l)³ · (l^q − l)`, `q = 2^(−1.5 f)`: a stronger lift
//!      concentrated on the darkest tones.
//!
//!    All three are monotonic over their whole range (tested).
//! 3. `warmth w`: a white-balance shift, per-channel gains in linear light
//!    `(2^(w/2), 1, 2^(−w/2))` divided by their luminance so mid-grey keeps its brightness:
//!    `w = 1` raises red and lowers blue.
//! 4. In Oklab (Björn Ottosson's perceptual space), one pass: chroma `(a, b)` is scaled by
//!    `(1 + saturation) · (1 + vibrance · (1 − min(C / 0.3, 1)))`, `C` the pixel's chroma, so
//!    `saturation = −1` is grey and vibrance boosts (or mutes) dull colours more than vivid
//!    ones; then `colorize` moves `(a, b)` towards the colour's own by `t = intensity / 100`,
//!    its chroma scaled by `min(L / L_c, (1 − L) / (1 − L_c), 1)` so black and white stay, `L`
//!    (lightness) is kept.
//!
//! A parameter at 0 skips its stage, so it is an exact no-op. Alpha is never changed. Grey
//! images stay grey unless a stage adds colour (warmth, colorize), which converts them to RGB.

use std::sync::OnceLock;

use image::DynamicImage;

use crate::error::Result;
use crate::query::ParsedQuery;

/// Applies the colour adjustments the query sets, in a fixed order.
pub(crate) fn apply(image: DynamicImage, query: &ParsedQuery) -> Result<DynamicImage> {
    Ok(Adjustments::from_query(query).apply(image))
}

/// The colour adjustments of one transform; all zero (the default) changes nothing.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Adjustments {
    pub auto_level: bool,
    pub auto_fix: bool,
    pub brightness: f64,
    pub contrast: f64,
    pub gamma: f64,
    pub highlights: f64,
    pub shadow: f64,
    pub fill_flash: f64,
    pub warmth: f64,
    pub saturation: f64,
    pub vibrance: f64,
    /// The tint colour (sRGB) and its strength `0..=1`.
    pub colorize: Option<([u8; 3], f64)>,
}

impl Adjustments {
    pub fn from_query(query: &ParsedQuery) -> Adjustments {
        let number = |name| query.number(name).unwrap_or(0.0);
        Adjustments {
            auto_level: query.flag("auto_level"),
            auto_fix: query.flag("auto_fix"),
            brightness: number("brightness"),
            contrast: number("contrast"),
            gamma: number("gamma"),
            highlights: number("highlights"),
            shadow: number("shadow"),
            fill_flash: number("fill_flash"),
            warmth: number("warmth"),
            saturation: number("saturation"),
            vibrance: number("vibrance"),
            colorize: query.color("colorize").map(|c| {
                let intensity = query.number("colorize_intensity").unwrap_or(1.0);
                ([c.0[0], c.0[1], c.0[2]], intensity / 100.0)
            }),
        }
    }

    fn has_curves(&self) -> bool {
        self.auto_level
            || self.auto_fix
            || self.brightness != 0.0
            || self.contrast != 0.0
            || self.gamma != 0.0
    }

    fn has_tone(&self) -> bool {
        self.highlights != 0.0 || self.shadow != 0.0 || self.fill_flash != 0.0
    }

    fn has_chroma(&self) -> bool {
        self.saturation != 0.0 || self.vibrance != 0.0 || self.colorize.is_some()
    }

    /// Runs the stages in the order of the module documentation.
    pub fn apply(&self, image: DynamicImage) -> DynamicImage {
        if !(self.has_curves() || self.has_tone() || self.warmth != 0.0 || self.has_chroma()) {
            return image;
        }
        let mut image = if self.warmth != 0.0 || self.colorize.is_some() {
            to_color(image)
        } else {
            to_8bit(image)
        };
        let mut pixels = Pixels::of(&mut image);
        if self.has_curves() {
            let luts = self.curve_luts(&pixels);
            pixels.map_channels(&luts);
        }
        if self.has_tone() {
            let curve = |l: f64| {
                let l = shadow_curve(l, self.shadow, 2, 1.5);
                let l = 1.0 - shadow_curve(1.0 - l, -self.highlights, 2, 1.5);
                shadow_curve(l, self.fill_flash, 3, 1.5)
            };
            apply_luminance_curve(&mut pixels, curve);
        }
        if self.warmth != 0.0 {
            let gains = warmth_gains(self.warmth);
            let luts = gains.map(linear_gain_lut);
            pixels.map_channels(&luts);
        }
        if self.has_chroma() && pixels.color_channels == 3 {
            self.apply_chroma(&mut pixels);
        }
        image
    }

    /// Stage 1: `auto_level → auto_fix → brightness → contrast → gamma` as one table per
    /// channel, evaluated in floating point and rounded once.
    fn curve_luts(&self, pixels: &Pixels<'_>) -> [[u8; 256]; 3] {
        let channels = pixels.color_channels;
        let mut levels = [(0.0, 1.0); 3];
        if self.auto_level {
            let histograms = pixels.histograms();
            for (c, level) in levels.iter_mut().enumerate().take(channels) {
                *level = percentile_range(&histograms[c]).unwrap_or((0.0, 1.0));
            }
        }
        let leveled = |c: usize, x: f64| {
            let (lo, hi) = levels[c];
            ((x - lo) / (hi - lo)).clamp(0.0, 1.0)
        };
        // auto_fix measures the image as auto_level left it.
        let mut fix = (0.0, 1.0, 1.0);
        if self.auto_fix {
            let tables: [[u8; 256]; 3] = std::array::from_fn(|c| {
                std::array::from_fn(|i| to_u8(leveled(c, i as f64 / 255.0)))
            });
            let histogram = pixels.luma_histogram(&tables);
            if let Some((lo, hi)) = percentile_range(&histogram) {
                let total: u64 = histogram.iter().sum();
                let mean = histogram
                    .iter()
                    .enumerate()
                    .map(|(v, &n)| ((v as f64 / 255.0 - lo) / (hi - lo)).clamp(0.0, 1.0) * n as f64)
                    .sum::<f64>()
                    / total as f64;
                let p = if mean > 0.0 && mean < 1.0 {
                    (0.5f64.ln() / mean.ln()).clamp(0.5, 2.0)
                } else {
                    1.0
                };
                fix = (lo, hi, p);
            }
        }
        let exposure = 4f64.powf(self.brightness);
        let gamma = 2f64.powf(-self.gamma);
        std::array::from_fn(|c| {
            std::array::from_fn(|i| {
                let mut x = leveled(c.min(channels - 1), i as f64 / 255.0);
                if self.auto_fix {
                    let (lo, hi, p) = fix;
                    x = ((x - lo) / (hi - lo)).clamp(0.0, 1.0).powf(p);
                }
                if self.brightness != 0.0 {
                    x = encode((decode(x) * exposure).min(1.0));
                }
                if self.contrast != 0.0 {
                    x = contrast_curve(x, self.contrast);
                }
                if self.gamma != 0.0 {
                    x = x.powf(gamma);
                }
                to_u8(x)
            })
        })
    }

    /// Stage 4: saturation, vibrance and colorize in Oklab.
    fn apply_chroma(&self, pixels: &mut Pixels<'_>) {
        let to_linear = srgb_to_linear_table();
        let saturation = (1.0 + self.saturation) as f32;
        let vibrance = self.vibrance as f32;
        let tint = self.colorize.map(|(rgb, t)| {
            let [l, a, b] = linear_to_oklab(rgb.map(|v| to_linear[v as usize]));
            (l, a, b, t as f32)
        });
        let adjust = |[l, mut a, mut b]: [f32; 3]| {
            let mut k = saturation;
            if vibrance != 0.0 {
                let chroma = (a * a + b * b).sqrt();
                k *= 1.0 + vibrance * (1.0 - (chroma / 0.3).min(1.0));
            }
            a *= k;
            b *= k;
            if let Some((tl, ta, tb, t)) = tint {
                let scale = (l / tl.max(1e-6))
                    .min((1.0 - l) / (1.0 - tl).max(1e-6))
                    .clamp(0.0, 1.0);
                a += t * (ta * scale - a);
                b += t * (tb * scale - b);
            }
            [l, a, b]
        };
        map_linear_rgb(pixels, |rgb| oklab_to_linear(adjust(linear_to_oklab(rgb))));
    }
}

/// Pixels taken at once by [`map_linear_rgb`].
const BATCH: usize = 16;

/// Replaces each pixel's colour by `map` of it in linear light. Pixels go through `map` in
/// batches whose samples sit in arrays of [`BATCH`] floats, so that the compiler computes
/// several pixels at once in vector registers; one pixel at a time, saturation took 47 ms a
/// megapixel. `map` must be branch-free to be vectorised.
fn map_linear_rgb(pixels: &mut Pixels<'_>, map: impl Fn([f32; 3]) -> [f32; 3]) {
    let to_linear = srgb_to_linear_table();
    let encode_table = linear_to_srgb_table();
    let stride = pixels.channels;
    for batch in pixels.data.chunks_mut(stride * BATCH) {
        let mut lanes = [[0f32; BATCH]; 3];
        for (i, px) in batch.chunks_exact(stride).enumerate() {
            for (lane, &sample) in lanes.iter_mut().zip(&px[..3]) {
                lane[i] = to_linear[sample as usize];
            }
        }
        for i in 0..BATCH {
            let mapped = map([lanes[0][i], lanes[1][i], lanes[2][i]]);
            for (lane, value) in lanes.iter_mut().zip(mapped) {
                lane[i] = value;
            }
        }
        for (i, px) in batch.chunks_exact_mut(stride).enumerate() {
            for (sample, lane) in px[..3].iter_mut().zip(&lanes) {
                *sample = encode_table[linear_index(lane[i])];
            }
        }
    }
}

/// An 8-bit image as one interleaved slice.
pub(crate) struct Pixels<'a> {
    pub data: &'a mut [u8],
    /// Samples per pixel (1 to 4).
    pub channels: usize,
    /// 1 (grey) or 3 (RGB); an alpha sample, when present, follows them.
    pub color_channels: usize,
}

impl<'a> Pixels<'a> {
    /// The samples of `image`, which must be one of the four 8-bit layouts ([`to_8bit`]).
    pub fn of(image: &'a mut DynamicImage) -> Pixels<'a> {
        if !is_8bit(image) {
            *image = to_8bit(std::mem::replace(image, DynamicImage::new_luma8(0, 0)));
        }
        let (data, channels, color_channels): (&mut [u8], usize, usize) = match image {
            DynamicImage::ImageLuma8(b) => (b, 1, 1),
            DynamicImage::ImageLumaA8(b) => (b, 2, 1),
            DynamicImage::ImageRgb8(b) => (b, 3, 3),
            DynamicImage::ImageRgba8(b) => (b, 4, 3),
            _ => unreachable!("to_8bit returns one of the 8-bit layouts"),
        };
        Pixels {
            data,
            channels,
            color_channels,
        }
    }

    pub fn has_alpha(&self) -> bool {
        self.channels > self.color_channels
    }

    /// Replaces every colour sample through its channel's table (grey uses the first).
    pub fn map_channels(&mut self, luts: &[[u8; 256]; 3]) {
        match self.channels {
            1 => self.data.iter_mut().for_each(|v| *v = luts[0][*v as usize]),
            2 => self
                .data
                .chunks_exact_mut(2)
                .for_each(|p| p[0] = luts[0][p[0] as usize]),
            n => self.data.chunks_exact_mut(n).for_each(|p| {
                p[0] = luts[0][p[0] as usize];
                p[1] = luts[1][p[1] as usize];
                p[2] = luts[2][p[2] as usize];
            }),
        }
    }

    /// One histogram per colour channel, over the pixels that are not fully transparent.
    fn histograms(&self) -> [[u64; 256]; 3] {
        let mut histograms = [[0u64; 256]; 3];
        let alpha = self.has_alpha();
        for p in self.data.chunks_exact(self.channels) {
            if alpha && p[self.channels - 1] == 0 {
                continue;
            }
            for c in 0..self.color_channels {
                histograms[c][p[c] as usize] += 1;
            }
        }
        histograms
    }

    /// The histogram of luma (Rec. 709 weights on encoded values) after `tables`.
    fn luma_histogram(&self, tables: &[[u8; 256]; 3]) -> [u64; 256] {
        let mut histogram = [0u64; 256];
        let alpha = self.has_alpha();
        for p in self.data.chunks_exact(self.channels) {
            if alpha && p[self.channels - 1] == 0 {
                continue;
            }
            let luma = if self.color_channels == 1 {
                tables[0][p[0] as usize] as u32
            } else {
                (54 * tables[0][p[0] as usize] as u32
                    + 183 * tables[1][p[1] as usize] as u32
                    + 19 * tables[2][p[2] as usize] as u32
                    + 128)
                    >> 8
            };
            histogram[luma as usize] += 1;
        }
        histogram
    }
}

fn is_8bit(image: &DynamicImage) -> bool {
    matches!(
        image,
        DynamicImage::ImageLuma8(_)
            | DynamicImage::ImageLumaA8(_)
            | DynamicImage::ImageRgb8(_)
            | DynamicImage::ImageRgba8(_)
    )
}

/// The image in one of the four 8-bit layouts, keeping grey as grey and alpha as alpha.
pub(crate) fn to_8bit(image: DynamicImage) -> DynamicImage {
    if is_8bit(&image) {
        return image;
    }
    let color = image.color();
    match (color.has_color(), color.has_alpha()) {
        (false, false) => DynamicImage::ImageLuma8(image.to_luma8()),
        (false, true) => DynamicImage::ImageLumaA8(image.to_luma_alpha8()),
        (true, false) => DynamicImage::ImageRgb8(image.to_rgb8()),
        (true, true) => DynamicImage::ImageRgba8(image.to_rgba8()),
    }
}

/// The image as 8-bit RGB or RGBA, for operations that add colour.
pub(crate) fn to_color(image: DynamicImage) -> DynamicImage {
    match image {
        DynamicImage::ImageRgb8(_) | DynamicImage::ImageRgba8(_) => image,
        other if other.color().has_alpha() => DynamicImage::ImageRgba8(other.to_rgba8()),
        other => DynamicImage::ImageRgb8(other.to_rgb8()),
    }
}

/// The 0.5th and 99.5th percentiles of a histogram, as fractions; `None` when they meet
/// (a flat channel has nothing to stretch).
fn percentile_range(histogram: &[u64; 256]) -> Option<(f64, f64)> {
    let total: u64 = histogram.iter().sum();
    let clip = total / 200;
    let mut seen = 0;
    let lo = histogram.iter().position(|&n| {
        seen += n;
        seen > clip
    })?;
    seen = 0;
    let hi = 255
        - histogram.iter().rev().position(|&n| {
            seen += n;
            seen > clip
        })?;
    (hi > lo).then(|| (lo as f64 / 255.0, hi as f64 / 255.0))
}

/// `contrast`: a normalised sigmoid for `c > 0`, a linear squeeze towards ½ for `c < 0`.
pub(crate) fn contrast_curve(x: f64, c: f64) -> f64 {
    if c < 0.0 {
        return 0.5 + (x - 0.5) * (1.0 + c);
    }
    let beta = 8.0 * c;
    let sigmoid = |t: f64| 1.0 / (1.0 + (-beta * (t - 0.5)).exp());
    let (lo, hi) = (sigmoid(0.0), sigmoid(1.0));
    (sigmoid(x) - lo) / (hi - lo)
}

/// `shadow` (weight power 2) and `fill_flash` (3): `l + (1 − l)^k · (l^p − l)`,
/// `p = 2^(−e·amount)`; zero amount is the identity.
fn shadow_curve(l: f64, amount: f64, weight_power: i32, steepness: f64) -> f64 {
    if amount == 0.0 {
        return l;
    }
    let p = 2f64.powf(-steepness * amount);
    l + (1.0 - l).powi(weight_power) * (l.powf(p) - l)
}

/// Stage 2: scales each pixel in linear light so its encoded luminance follows `curve`.
fn apply_luminance_curve(pixels: &mut Pixels<'_>, curve: impl Fn(f64) -> f64) {
    if pixels.color_channels == 1 {
        let lut: [u8; 256] = std::array::from_fn(|i| to_u8(curve(i as f64 / 255.0)));
        pixels.map_channels(&[lut; 3]);
        return;
    }
    // Target luminance as a function of luminance, sampled finely and interpolated, so the
    // deep shadows (where a lift is steepest) do not band.
    const STEPS: usize = 4096;
    let table: Vec<f32> = (0..=STEPS)
        .map(|i| {
            let y = i as f64 / STEPS as f64;
            decode(curve(encode(y)).clamp(0.0, 1.0)) as f32
        })
        .collect();
    map_linear_rgb(pixels, |rgb| {
        let y = 0.2126 * rgb[0] + 0.7152 * rgb[1] + 0.0722 * rgb[2];
        let position = y.min(1.0) * STEPS as f32;
        let i = (position as usize).min(STEPS - 1);
        let fraction = position - i as f32;
        let target = table[i] + (table[i + 1] - table[i]) * fraction;
        // Black (y = 0) stays black.
        let gain = if y > 0.0 { target / y } else { 1.0 };
        rgb.map(|v| v * gain)
    });
}

/// Linear-light gains of `warmth`, normalised so mid-grey keeps its luminance.
fn warmth_gains(warmth: f64) -> [f64; 3] {
    let gains = [2f64.powf(warmth / 2.0), 1.0, 2f64.powf(-warmth / 2.0)];
    let luminance = 0.2126 * gains[0] + 0.7152 * gains[1] + 0.0722 * gains[2];
    gains.map(|g| g / luminance)
}

/// A table that multiplies linear light by `gain`.
pub(crate) fn linear_gain_lut(gain: f64) -> [u8; 256] {
    std::array::from_fn(|i| to_u8(encode((decode(i as f64 / 255.0) * gain).min(1.0))))
}

/// Rounds a value in `[0, 1]` to 8 bits.
pub(crate) fn to_u8(x: f64) -> u8 {
    (x.clamp(0.0, 1.0) * 255.0).round() as u8
}

/// The sRGB transfer function: linear light to encoded value.
pub(crate) fn encode(linear: f64) -> f64 {
    if linear <= 0.003_130_8 {
        12.92 * linear
    } else {
        1.055 * linear.powf(1.0 / 2.4) - 0.055
    }
}

/// The inverse sRGB transfer function: encoded value to linear light.
pub(crate) fn decode(encoded: f64) -> f64 {
    if encoded <= 0.040_45 {
        encoded / 12.92
    } else {
        ((encoded + 0.055) / 1.055).powf(2.4)
    }
}

/// Linear light of each 8-bit encoded value.
pub(crate) fn srgb_to_linear_table() -> &'static [f32; 256] {
    static TABLE: OnceLock<[f32; 256]> = OnceLock::new();
    TABLE.get_or_init(|| std::array::from_fn(|i| decode(i as f64 / 255.0) as f32))
}

/// Steps of the linear-to-encoded table: fine enough that the steepest part of the sRGB curve
/// (near black) still lands within half a code value.
const LINEAR_STEPS: usize = 16383;

/// 8-bit encoded values of linear light sampled in `LINEAR_STEPS` steps; index it with
/// [`linear_index`].
pub(crate) fn linear_to_srgb_table() -> &'static [u8] {
    static TABLE: OnceLock<Vec<u8>> = OnceLock::new();
    TABLE.get_or_init(|| {
        (0..=LINEAR_STEPS)
            .map(|i| to_u8(encode(i as f64 / LINEAR_STEPS as f64)))
            .collect()
    })
}

/// The index of linear light (clamped to `[0, 1]`) in [`linear_to_srgb_table`].
#[inline(always)]
pub(crate) fn linear_index(linear: f32) -> usize {
    (linear.clamp(0.0, 1.0) * LINEAR_STEPS as f32 + 0.5) as usize
}

/// Linear sRGB to Oklab `[L, a, b]`.
#[inline(always)]
pub(crate) fn linear_to_oklab([r, g, b]: [f32; 3]) -> [f32; 3] {
    let l = cbrt(0.412_221_46 * r + 0.536_332_55 * g + 0.051_445_995 * b);
    let m = cbrt(0.211_903_5 * r + 0.680_699_5 * g + 0.107_396_96 * b);
    let s = cbrt(0.088_302_46 * r + 0.281_718_85 * g + 0.629_978_7 * b);
    [
        0.210_454_26 * l + 0.793_617_8 * m - 0.004_072_047 * s,
        1.977_998_5 * l - 2.428_592_2 * m + 0.450_593_7 * s,
        0.025_904_037 * l + 0.782_771_77 * m - 0.808_675_77 * s,
    ]
}

/// Oklab `[L, a, b]` to linear sRGB (not clamped).
#[inline(always)]
pub(crate) fn oklab_to_linear([l, a, b]: [f32; 3]) -> [f32; 3] {
    let l_ = l + 0.396_337_78 * a + 0.215_803_76 * b;
    let m_ = l - 0.105_561_346 * a - 0.063_854_17 * b;
    let s_ = l - 0.089_484_18 * a - 1.291_485_5 * b;
    let (l3, m3, s3) = (l_ * l_ * l_, m_ * m_ * m_, s_ * s_ * s_);
    [
        4.076_741_7 * l3 - 3.307_711_6 * m3 + 0.230_969_94 * s3,
        -1.268_438 * l3 + 2.609_757_4 * m3 - 0.341_319_38 * s3,
        -0.004_196_086_3 * l3 - 0.703_418_6 * m3 + 1.707_614_7 * s3,
    ]
}

/// Cube root by a bit-level first guess (a few percent off) and one Halley step (relative
/// error then below 1e-4, a hundredth of an 8-bit step): several times faster than
/// `f32::cbrt`, and Oklab needs three a pixel.
#[inline(always)]
fn cbrt(x: f32) -> f32 {
    let y = f32::from_bits(x.to_bits() / 3 + 709_921_077);
    let y3 = y * y * y;
    let root = y * (y3 + 2.0 * x) / (2.0 * y3 + x);
    // A select, not an early return, so that batches of pixels vectorise.
    if x > 0.0 { root } else { 0.0 }
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{GrayImage, Rgb, RgbImage, Rgba, RgbaImage};

    /// A photo-like test card: smooth gradients in every channel, a few saturated patches.
    fn card() -> RgbImage {
        RgbImage::from_fn(64, 48, |x, y| {
            let r = (x * 4) as u8;
            let g = (y * 5) as u8;
            let b = ((x + y) * 2) as u8;
            if x < 8 && y < 8 {
                Rgb([200, 30, 40])
            } else {
                Rgb([r, g, b])
            }
        })
    }

    fn mean(image: &DynamicImage, channel: usize) -> f64 {
        let rgb = image.to_rgb8();
        rgb.pixels().map(|p| p[channel] as f64).sum::<f64>() / (rgb.len() / 3) as f64
    }

    fn luma_mean(image: &DynamicImage) -> f64 {
        (0..3).map(|c| mean(image, c)).sum::<f64>() / 3.0
    }

    fn spread(image: &DynamicImage) -> f64 {
        let m = luma_mean(image);
        let rgb = image.to_rgb8();
        let var = rgb
            .pixels()
            .map(|p| (p.0.iter().map(|&v| v as f64).sum::<f64>() / 3.0 - m).powi(2))
            .sum::<f64>()
            / (rgb.len() / 3) as f64;
        var.sqrt()
    }

    fn chroma_mean(image: &DynamicImage) -> f64 {
        let rgb = image.to_rgb8();
        rgb.pixels()
            .map(|p| {
                let max = p.0.iter().max().copied().unwrap_or(0) as f64;
                let min = p.0.iter().min().copied().unwrap_or(0) as f64;
                max - min
            })
            .sum::<f64>()
            / (rgb.len() / 3) as f64
    }

    fn run(adjustments: Adjustments) -> DynamicImage {
        adjustments.apply(DynamicImage::ImageRgb8(card()))
    }

    fn every_single_adjustment(amount: f64) -> Vec<(&'static str, Adjustments)> {
        let base = Adjustments::default();
        vec![
            (
                "brightness",
                Adjustments {
                    brightness: amount,
                    ..base
                },
            ),
            (
                "contrast",
                Adjustments {
                    contrast: amount,
                    ..base
                },
            ),
            (
                "gamma",
                Adjustments {
                    gamma: amount,
                    ..base
                },
            ),
            (
                "saturation",
                Adjustments {
                    saturation: amount,
                    ..base
                },
            ),
            (
                "vibrance",
                Adjustments {
                    vibrance: amount,
                    ..base
                },
            ),
            (
                "warmth",
                Adjustments {
                    warmth: amount,
                    ..base
                },
            ),
            (
                "highlights",
                Adjustments {
                    highlights: amount,
                    ..base
                },
            ),
            (
                "shadow",
                Adjustments {
                    shadow: amount,
                    ..base
                },
            ),
            (
                "fill_flash",
                Adjustments {
                    fill_flash: amount.abs(),
                    ..base
                },
            ),
        ]
    }

    #[test]
    fn zero_is_bit_identical() {
        let source = DynamicImage::ImageRgb8(card());
        for (name, adjustment) in every_single_adjustment(0.0) {
            assert_eq!(
                adjustment.apply(source.clone()),
                source,
                "{name}=0 changed pixels"
            );
        }
        let gray = DynamicImage::ImageLuma8(GrayImage::from_fn(9, 9, |x, y| {
            image::Luma([(x * 20 + y) as u8])
        }));
        assert_eq!(Adjustments::default().apply(gray.clone()), gray);
    }

    #[test]
    fn directions_are_right() {
        let source = DynamicImage::ImageRgb8(card());
        let (m, s, c) = (luma_mean(&source), spread(&source), chroma_mean(&source));
        let base = Adjustments::default();
        let with = |a: Adjustments| a.apply(source.clone());
        assert!(
            luma_mean(&with(Adjustments {
                brightness: 0.5,
                ..base
            })) > m + 10.0
        );
        assert!(
            luma_mean(&with(Adjustments {
                brightness: -0.5,
                ..base
            })) < m - 10.0
        );
        assert!(
            spread(&with(Adjustments {
                contrast: 1.0,
                ..base
            })) > s * 1.3
        );
        assert!(
            spread(&with(Adjustments {
                contrast: -0.5,
                ..base
            })) < s * 0.6
        );
        assert!(luma_mean(&with(Adjustments { gamma: 0.5, ..base })) > m + 5.0);
        assert!(
            luma_mean(&with(Adjustments {
                gamma: -0.5,
                ..base
            })) < m - 5.0
        );
        assert!(
            chroma_mean(&with(Adjustments {
                saturation: 0.5,
                ..base
            })) > c * 1.2
        );
        assert!(
            chroma_mean(&with(Adjustments {
                vibrance: 0.8,
                ..base
            })) > c * 1.2
        );
        assert!(
            chroma_mean(&with(Adjustments {
                vibrance: -0.8,
                ..base
            })) < c * 0.8
        );
        let warm = with(Adjustments {
            warmth: 1.0,
            ..base
        });
        assert!(mean(&warm, 0) > mean(&source, 0) + 5.0 && mean(&warm, 2) < mean(&source, 2) - 5.0);
        let cool = with(Adjustments {
            warmth: -1.0,
            ..base
        });
        assert!(mean(&cool, 0) < mean(&source, 0) - 5.0 && mean(&cool, 2) > mean(&source, 2) + 5.0);
        assert!(
            luma_mean(&with(Adjustments {
                shadow: 0.8,
                ..base
            })) > m + 5.0
        );
        assert!(
            luma_mean(&with(Adjustments {
                shadow: -0.8,
                ..base
            })) < m - 3.0
        );
        assert!(
            luma_mean(&with(Adjustments {
                highlights: 0.8,
                ..base
            })) > m + 3.0
        );
        assert!(
            luma_mean(&with(Adjustments {
                highlights: -0.8,
                ..base
            })) < m - 5.0
        );
        assert!(
            luma_mean(&with(Adjustments {
                fill_flash: 0.8,
                ..base
            })) > m + 5.0
        );
    }

    #[test]
    fn saturation_minus_one_is_gray() {
        let out = run(Adjustments {
            saturation: -1.0,
            ..Default::default()
        })
        .to_rgb8();
        for p in out.pixels() {
            let (max, min) = (p.0.iter().max().unwrap(), p.0.iter().min().unwrap());
            assert!(max - min <= 1, "{p:?} is not grey");
        }
    }

    #[test]
    fn fill_flash_lifts_dark_areas_only() {
        let ramp =
            DynamicImage::ImageLuma8(GrayImage::from_fn(256, 1, |x, _| image::Luma([x as u8])));
        let out = Adjustments {
            fill_flash: 1.0,
            ..Default::default()
        }
        .apply(ramp)
        .to_luma8();
        assert!(
            out[(30, 0)][0] > 60,
            "dark tones are lifted: {}",
            out[(30, 0)][0]
        );
        assert!(
            out[(230, 0)][0] <= 231,
            "bright tones stay: {}",
            out[(230, 0)][0]
        );
        assert_eq!(out[(255, 0)][0], 255);
    }

    #[test]
    fn tone_curves_are_monotonic() {
        for amount in [-1.0f64, -0.5, 0.5, 1.0] {
            for (k, e, a) in [(2, 1.5, amount), (3, 1.5, amount.abs())] {
                let mut previous = 0.0;
                for i in 0..=1000 {
                    let l = shadow_curve(i as f64 / 1000.0, a, k, e);
                    assert!(l >= previous - 1e-12, "curve ({k}, {a}) falls at {i}");
                    previous = l;
                }
            }
            let mut previous = 0.0;
            for i in 0..=1000 {
                let l = contrast_curve(i as f64 / 1000.0, amount);
                assert!(l >= previous - 1e-12);
                previous = l;
            }
        }
    }

    #[test]
    fn alpha_is_preserved() {
        let source = RgbaImage::from_fn(16, 16, |x, y| {
            Rgba([(x * 16) as u8, (y * 16) as u8, 90, (x * 16 + y) as u8])
        });
        for (name, adjustment) in every_single_adjustment(0.7) {
            let out = adjustment
                .apply(DynamicImage::ImageRgba8(source.clone()))
                .to_rgba8();
            for (a, b) in source.pixels().zip(out.pixels()) {
                assert_eq!(a[3], b[3], "{name} changed alpha");
            }
        }
    }

    #[test]
    fn gray_stays_gray_unless_colour_is_added() {
        let gray = DynamicImage::ImageLuma8(GrayImage::from_fn(16, 16, |x, y| {
            image::Luma([(x * 16 + y) as u8])
        }));
        for (name, adjustment) in every_single_adjustment(0.7) {
            let out = adjustment.apply(gray.clone());
            if name == "warmth" {
                assert!(matches!(out, DynamicImage::ImageRgb8(_)));
            } else {
                assert!(
                    matches!(out, DynamicImage::ImageLuma8(_)),
                    "{name} made grey colour"
                );
            }
        }
        let tinted = Adjustments {
            colorize: Some(([255, 0, 0], 0.8)),
            ..Default::default()
        }
        .apply(gray);
        let p = tinted.to_rgb8()[(8, 8)];
        assert!(p[0] > p[1] + 20, "colorize=red tints: {p:?}");
    }

    #[test]
    fn colorize_keeps_lightness_and_tints() {
        let source = DynamicImage::ImageRgb8(card());
        let out = Adjustments {
            colorize: Some(([0, 0, 255], 1.0)),
            ..Default::default()
        }
        .apply(source.clone());
        assert!(mean(&out, 2) > mean(&source, 2) + 10.0);
        assert!((luma_mean(&out) - luma_mean(&source)).abs() < 30.0);
    }

    #[test]
    fn auto_level_stretches_each_channel() {
        let dull = DynamicImage::ImageRgb8(RgbImage::from_fn(50, 50, |x, y| {
            Rgb([60 + x as u8, 100 + y as u8, 80 + ((x + y) / 2) as u8])
        }));
        let out = Adjustments {
            auto_level: true,
            ..Default::default()
        }
        .apply(dull)
        .to_rgb8();
        for c in 0..3 {
            let max = out.pixels().map(|p| p[c]).max().unwrap();
            let min = out.pixels().map(|p| p[c]).min().unwrap();
            assert!(max >= 250 && min <= 5, "channel {c}: {min}..{max}");
        }
    }

    #[test]
    fn auto_fix_stretches_and_keeps_hue() {
        let dark = DynamicImage::ImageRgb8(RgbImage::from_fn(50, 50, |x, y| {
            Rgb([20 + x as u8, 10 + y as u8, 10 + (x / 2) as u8])
        }));
        let out = Adjustments {
            auto_fix: true,
            ..Default::default()
        }
        .apply(dark.clone());
        assert!(luma_mean(&out) > luma_mean(&dark) + 40.0);
        // The same table for every channel: the channel order of each pixel stays.
        for (a, b) in dark.to_rgb8().pixels().zip(out.to_rgb8().pixels()) {
            assert!(a[0] >= a[1] || b[0] <= b[1]);
        }
    }

    #[test]
    fn flat_images_survive_automatic_levels() {
        let flat = DynamicImage::ImageRgb8(RgbImage::from_pixel(10, 10, Rgb([120, 120, 120])));
        let out = Adjustments {
            auto_level: true,
            auto_fix: true,
            ..Default::default()
        }
        .apply(flat.clone());
        assert_eq!(out, flat);
        let empty = DynamicImage::ImageRgba8(RgbaImage::new(4, 4));
        let out = Adjustments {
            auto_level: true,
            auto_fix: true,
            ..Default::default()
        }
        .apply(empty.clone());
        assert_eq!(out, empty);
    }

    #[test]
    fn batches_map_every_pixel_as_one_at_a_time_would() {
        // Two whole batches and a part, with and without alpha.
        let (w, h) = (BATCH as u32 * 2 + 5, 3);
        let rgba = RgbaImage::from_fn(w, h, |x, y| {
            Rgba([
                (x * 7) as u8,
                (y * 90) as u8,
                (x * y) as u8,
                (x + 100) as u8,
            ])
        });
        let map = |[r, g, b]: [f32; 3]| [g * 0.5, b, r.mul_add(0.9, 0.05)];
        let (to_linear, encode) = (srgb_to_linear_table(), linear_to_srgb_table());
        for mut image in [
            DynamicImage::ImageRgba8(rgba.clone()),
            DynamicImage::ImageRgb8(DynamicImage::ImageRgba8(rgba.clone()).to_rgb8()),
        ] {
            let before = image.to_rgba8();
            map_linear_rgb(&mut Pixels::of(&mut image), map);
            for (was, now) in before.pixels().zip(image.to_rgba8().pixels()) {
                let rgb = map([0, 1, 2].map(|c| to_linear[was[c] as usize]));
                let expected = rgb.map(|v| encode[linear_index(v)]);
                assert_eq!(now.0[..3], expected, "from {was:?}");
                assert_eq!(now[3], was[3]);
            }
        }
    }

    #[test]
    fn oklab_round_trips() {
        for rgb in [
            [0.0, 0.0, 0.0],
            [1.0, 1.0, 1.0],
            [0.5, 0.2, 0.9],
            [0.01, 0.7, 0.3],
        ] {
            let back = oklab_to_linear(linear_to_oklab(rgb));
            for c in 0..3 {
                assert!((back[c] - rgb[c]).abs() < 1e-4, "{rgb:?} -> {back:?}");
            }
        }
    }

    #[test]
    #[ignore = "timing; run with --ignored --nocapture in release mode"]
    fn one_megapixel_timings() {
        let big = DynamicImage::ImageRgb8(RgbImage::from_fn(1200, 850, |x, y| {
            Rgb([(x % 256) as u8, (y % 256) as u8, ((x + y) % 256) as u8])
        }));
        let mut all = every_single_adjustment(0.5);
        all.push((
            "auto_level",
            Adjustments {
                auto_level: true,
                ..Default::default()
            },
        ));
        all.push((
            "auto_fix",
            Adjustments {
                auto_fix: true,
                ..Default::default()
            },
        ));
        all.push((
            "colorize",
            Adjustments {
                colorize: Some(([200, 100, 0], 0.5)),
                ..Default::default()
            },
        ));
        for (name, adjustment) in all {
            let mut best = f64::MAX;
            let mut out = big.clone();
            for _ in 0..7 {
                let input = big.clone();
                let start = std::time::Instant::now();
                out = adjustment.apply(input);
                best = best.min(start.elapsed().as_secs_f64() * 1e3);
            }
            eprintln!("{name}: {best:.2} ms (best of 7)");
            assert_eq!(out.width(), 1200);
        }
    }
}
