//! `filter=1…20`: named effect presets, each a short recipe of the colour adjustments of
//! [`crate::ops::color`] and a few steps of its own (grey, output levels, per-channel curves,
//! gradient maps, vignette, film grain, invert, solarize). [`FILTERS`] lists them for docs and
//! galleries; `recipe` defines them.

use image::DynamicImage;

use crate::error::Result;
use crate::ops::color::{
    Adjustments, Pixels, contrast_curve, linear_index, linear_to_oklab, linear_to_srgb_table,
    oklab_to_linear, srgb_to_linear_table, to_8bit, to_color, to_u8,
};
use crate::query::ParsedQuery;

/// One preset of the `filter` parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FilterPreset {
    /// The value of `filter=`.
    pub number: u8,
    /// A short name (lowercase, `_` between words).
    pub name: &'static str,
    /// One line on what it does.
    pub description: &'static str,
}

const fn preset(number: u8, name: &'static str, description: &'static str) -> FilterPreset {
    FilterPreset {
        number,
        name,
        description,
    }
}

/// The twenty presets of `filter=1…20`, in order.
///
/// ```
/// let sepia = &picsmith::params::FILTERS[1];
/// assert_eq!((sepia.number, sepia.name), (2, "sepia"));
/// ```
pub const FILTERS: &[FilterPreset] = &[
    preset(
        1,
        "grayscale",
        "Grey from linear-light luminance (Rec. 709).",
    ),
    preset(
        2,
        "sepia",
        "Grey, then a warm brown tint that keeps lightness.",
    ),
    preset(
        3,
        "vintage",
        "Faded, warm and muted, with lifted blacks, a soft vignette and fine grain.",
    ),
    preset(4, "noir", "High-contrast black and white with a vignette."),
    preset(5, "chrome", "Punchy contrast and richer colour."),
    preset(
        6,
        "fade",
        "Low contrast, muted colour, lifted blacks and dimmed whites.",
    ),
    preset(7, "warm", "Warmer white balance with a little vibrance."),
    preset(8, "cool", "Cooler, bluer white balance."),
    preset(9, "vivid", "Strong vibrance and a little contrast."),
    preset(
        10,
        "dramatic",
        "Strong contrast, held-back highlights, muted colour and a vignette.",
    ),
    preset(
        11,
        "lomo",
        "Saturated, contrasty toy-camera look with a heavy vignette.",
    ),
    preset(
        12,
        "polaroid",
        "Instant-film look: slightly warm, soft, lifted blacks.",
    ),
    preset(
        13,
        "cross_process",
        "Per-channel curves: yellow-green highlights and blue shadows.",
    ),
    preset(14, "invert", "Photographic negative."),
    preset(15, "high_key", "Bright, airy and low contrast."),
    preset(16, "low_key", "Dark and moody with deep shadows."),
    preset(
        17,
        "duotone",
        "Lightness mapped from deep indigo to warm gold.",
    ),
    preset(
        18,
        "solarize",
        "Tones above mid-grey inverted (Sabattier effect).",
    ),
    preset(
        19,
        "grain",
        "Film grain with a touch of contrast, muted colour.",
    ),
    preset(
        20,
        "cyanotype",
        "Lightness mapped from Prussian blue to paper white.",
    ),
];

/// Applies the preset the query names, if any.
pub(crate) fn apply(image: DynamicImage, query: &ParsedQuery) -> Result<DynamicImage> {
    match query.number("filter") {
        Some(number) => Ok(apply_preset(image, number as u8)),
        None => Ok(image),
    }
}

/// One step of a preset.
enum Step {
    Adjust(Adjustments),
    /// Grey from linear luminance; the image becomes Luma8 or LumaA8.
    Gray,
    /// Output levels: `x' = black + x · (white − black)` on encoded values.
    Levels {
        black: f64,
        white: f64,
    },
    CrossProcess,
    /// Encoded lightness mapped through the Oklab gradient from `dark` to `light`.
    GradientMap {
        dark: [u8; 3],
        light: [u8; 3],
    },
    /// Darkens towards the corners by up to `strength` (in linear light).
    Vignette(f32),
    /// Monochrome noise of `amplitude` (fraction of full scale), the same on every run.
    Grain(f32),
    Invert,
    Solarize,
}

fn recipe(number: u8) -> Vec<Step> {
    use Step::*;
    let adjust = Adjustments::default();
    match number {
        1 => vec![Gray],
        2 => vec![
            Gray,
            Adjust(Adjustments {
                colorize: Some(([112, 66, 20], 0.9)),
                ..adjust
            }),
        ],
        3 => vec![
            Adjust(Adjustments {
                contrast: -0.15,
                saturation: -0.35,
                warmth: 0.35,
                ..adjust
            }),
            Levels {
                black: 0.08,
                white: 0.95,
            },
            Vignette(0.35),
            Grain(0.035),
        ],
        4 => vec![
            Gray,
            Adjust(Adjustments {
                contrast: 0.6,
                ..adjust
            }),
            Vignette(0.45),
        ],
        5 => vec![Adjust(Adjustments {
            contrast: 0.35,
            saturation: 0.25,
            highlights: 0.15,
            ..adjust
        })],
        6 => vec![
            Adjust(Adjustments {
                contrast: -0.25,
                saturation: -0.3,
                ..adjust
            }),
            Levels {
                black: 0.1,
                white: 0.97,
            },
        ],
        7 => vec![Adjust(Adjustments {
            warmth: 0.55,
            vibrance: 0.15,
            ..adjust
        })],
        8 => vec![Adjust(Adjustments {
            warmth: -0.55,
            ..adjust
        })],
        9 => vec![Adjust(Adjustments {
            vibrance: 0.8,
            contrast: 0.2,
            ..adjust
        })],
        10 => vec![
            Adjust(Adjustments {
                contrast: 0.5,
                highlights: -0.4,
                shadow: -0.2,
                saturation: -0.25,
                ..adjust
            }),
            Vignette(0.5),
        ],
        11 => vec![
            Adjust(Adjustments {
                contrast: 0.55,
                saturation: 0.45,
                ..adjust
            }),
            Vignette(0.8),
        ],
        12 => vec![
            Adjust(Adjustments {
                warmth: 0.2,
                contrast: -0.1,
                highlights: -0.15,
                saturation: -0.1,
                ..adjust
            }),
            Levels {
                black: 0.06,
                white: 0.96,
            },
        ],
        13 => vec![
            CrossProcess,
            Adjust(Adjustments {
                saturation: 0.2,
                ..adjust
            }),
        ],
        14 => vec![Invert],
        15 => vec![Adjust(Adjustments {
            brightness: 0.35,
            contrast: -0.2,
            highlights: 0.3,
            saturation: -0.15,
            ..adjust
        })],
        16 => vec![
            Adjust(Adjustments {
                brightness: -0.35,
                contrast: 0.35,
                shadow: -0.3,
                ..adjust
            }),
            Vignette(0.3),
        ],
        17 => vec![GradientMap {
            dark: [30, 20, 90],
            light: [255, 190, 90],
        }],
        18 => vec![Solarize],
        19 => vec![
            Adjust(Adjustments {
                contrast: 0.15,
                saturation: -0.2,
                ..adjust
            }),
            Grain(0.08),
        ],
        20 => vec![GradientMap {
            dark: [10, 36, 84],
            light: [225, 240, 250],
        }],
        _ => Vec::new(),
    }
}

/// Runs preset `number` (1…20; others change nothing, the parser refuses them).
pub(crate) fn apply_preset(image: DynamicImage, number: u8) -> DynamicImage {
    let mut image = image;
    for step in recipe(number) {
        image = match step {
            Step::Adjust(adjustments) => adjustments.apply(image),
            Step::Gray => to_gray(image),
            Step::Levels { black, white } => map_all(image, |x| black + x * (white - black)),
            Step::CrossProcess => cross_process(image),
            Step::GradientMap { dark, light } => gradient_map(image, dark, light),
            Step::Vignette(strength) => vignette(image, strength),
            Step::Grain(amplitude) => grain(image, amplitude),
            Step::Invert => map_all(image, |x| 1.0 - x),
            Step::Solarize => map_all(image, |x| if x > 0.5 { 1.0 - x } else { x }),
        };
    }
    image
}

/// Applies one curve on encoded values to every colour channel.
fn map_all(image: DynamicImage, curve: impl Fn(f64) -> f64) -> DynamicImage {
    let lut: [u8; 256] = std::array::from_fn(|i| to_u8(curve(i as f64 / 255.0)));
    let mut image = to_8bit(image);
    Pixels::of(&mut image).map_channels(&[lut; 3]);
    image
}

/// Grey from linear luminance (Rec. 709), re-encoded; alpha stays.
fn to_gray(image: DynamicImage) -> DynamicImage {
    let image = to_8bit(image);
    let to_linear = srgb_to_linear_table();
    let encode = linear_to_srgb_table();
    let luma = |p: &[u8]| {
        let y = 0.2126 * to_linear[p[0] as usize]
            + 0.7152 * to_linear[p[1] as usize]
            + 0.0722 * to_linear[p[2] as usize];
        encode[linear_index(y)]
    };
    match image {
        DynamicImage::ImageRgb8(rgb) => {
            let (w, h) = rgb.dimensions();
            let data = rgb.chunks_exact(3).map(luma).collect();
            DynamicImage::ImageLuma8(image::GrayImage::from_raw(w, h, data).expect("sized"))
        }
        DynamicImage::ImageRgba8(rgba) => {
            let (w, h) = rgba.dimensions();
            let data = rgba.chunks_exact(4).flat_map(|p| [luma(p), p[3]]).collect();
            DynamicImage::ImageLumaA8(image::GrayAlphaImage::from_raw(w, h, data).expect("sized"))
        }
        gray => gray,
    }
}

/// Red and green get an S-curve, blue is squeezed into a lifted, flattened range.
fn cross_process(image: DynamicImage) -> DynamicImage {
    let mut image = to_color(image);
    let red = std::array::from_fn(|i| to_u8(contrast_curve(i as f64 / 255.0, 0.6)));
    let green = std::array::from_fn(|i| to_u8(contrast_curve(i as f64 / 255.0, 0.3)));
    let blue = std::array::from_fn(|i| to_u8(0.2 + 0.6 * i as f64 / 255.0));
    Pixels::of(&mut image).map_channels(&[red, green, blue]);
    image
}

/// Maps each pixel's grey value through a gradient interpolated in Oklab.
fn gradient_map(image: DynamicImage, dark: [u8; 3], light: [u8; 3]) -> DynamicImage {
    let gray = to_gray(image);
    let to_linear = srgb_to_linear_table();
    let encode = linear_to_srgb_table();
    let lab = |c: [u8; 3]| linear_to_oklab(c.map(|v| to_linear[v as usize]));
    let (from, to) = (lab(dark), lab(light));
    let colors: Vec<[u8; 3]> = (0..256)
        .map(|i| {
            let t = i as f32 / 255.0;
            let mixed = std::array::from_fn(|k| from[k] + (to[k] - from[k]) * t);
            oklab_to_linear(mixed).map(|v| encode[linear_index(v)])
        })
        .collect();
    match gray {
        DynamicImage::ImageLuma8(g) => {
            let (w, h) = g.dimensions();
            let data = g.iter().flat_map(|&v| colors[v as usize]).collect();
            DynamicImage::ImageRgb8(image::RgbImage::from_raw(w, h, data).expect("sized"))
        }
        DynamicImage::ImageLumaA8(g) => {
            let (w, h) = g.dimensions();
            let data = g
                .chunks_exact(2)
                .flat_map(|p| {
                    let [r, gr, b] = colors[p[0] as usize];
                    [r, gr, b, p[1]]
                })
                .collect();
            DynamicImage::ImageRgba8(image::RgbaImage::from_raw(w, h, data).expect("sized"))
        }
        other => other,
    }
}

/// Darkens in linear light by `1 − strength · smoothstep(0.35, 1, r)`, `r` the distance from
/// the centre on the ellipse through the corners (0 at the centre, 1 at the corners).
fn vignette(image: DynamicImage, strength: f32) -> DynamicImage {
    let mut image = to_8bit(image);
    let (w, h) = (image.width() as usize, image.height() as usize);
    if w == 0 || h == 0 {
        return image;
    }
    let pixels = Pixels::of(&mut image);
    let (stride, colors) = (pixels.channels, pixels.color_channels);
    let to_linear = srgb_to_linear_table();
    let encode = linear_to_srgb_table();
    let (cx, cy) = (w as f32 / 2.0, h as f32 / 2.0);
    let dx2: Vec<f32> = (0..w)
        .map(|x| {
            let dx = (x as f32 + 0.5 - cx) / cx;
            dx * dx
        })
        .collect();
    // A row's factors first, in a loop the compiler vectorises, then the table lookups.
    let mut factors = vec![0f32; w];
    for (y, row) in pixels.data.chunks_exact_mut(w * stride).enumerate() {
        let dy = (y as f32 + 0.5 - cy) / cy;
        for (factor, dx2) in factors.iter_mut().zip(&dx2) {
            let r = ((dx2 + dy * dy) * 0.5).sqrt();
            let t = ((r - 0.35) / 0.65).clamp(0.0, 1.0);
            *factor = 1.0 - strength * t * t * (3.0 - 2.0 * t);
        }
        for (px, &factor) in row.chunks_exact_mut(stride).zip(&factors) {
            for v in &mut px[..colors] {
                *v = encode[linear_index(to_linear[*v as usize] * factor)];
            }
        }
    }
    image
}

/// Seed of the grain pattern: fixed, so the same image and query give the same bytes.
const GRAIN_SEED: u64 = 0x5EED_F11A_u64;

/// Adds the same triangular noise in `[-amplitude, amplitude]` to every colour channel.
fn grain(image: DynamicImage, amplitude: f32) -> DynamicImage {
    let mut image = to_8bit(image);
    let w = image.width() as usize;
    if w == 0 {
        return image;
    }
    let pixels = Pixels::of(&mut image);
    let (stride, colors) = (pixels.channels, pixels.color_channels);
    let scale = amplitude * 255.0 / 65535.0;
    for (y, row) in pixels.data.chunks_exact_mut(w * stride).enumerate() {
        for (x, px) in row.chunks_exact_mut(stride).enumerate() {
            let bits = splitmix64(GRAIN_SEED ^ ((y as u64) << 32) ^ x as u64);
            let noise = ((bits & 0xFFFF) as f32 + ((bits >> 16) & 0xFFFF) as f32 - 65535.0) * scale;
            for v in &mut px[..colors] {
                *v = round_to_u8((*v as f32 + noise).clamp(0.0, 255.0));
            }
        }
    }
    image
}

/// `x.round() as u8` for `x` in 0..=255, without the call to `roundf` that `f32::round` is
/// on x86-64's baseline (`grain` on 1 MP: 22.4 ms with it, 19.5 without). `x` less its whole
/// part is exact, so the comparison decides as `round` would.
fn round_to_u8(x: f32) -> u8 {
    let whole = x as u8;
    whole + u8::from(x - f32::from(whole) >= 0.5)
}

/// A fast, well-mixed hash (the SplitMix64 finaliser).
fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{Rgb, RgbImage, Rgba, RgbaImage};

    #[test]
    fn rounding_to_u8_is_rounding() {
        // Every whole number and half, the floats nearest them, and a sweep in between.
        let near =
            |x: f32| (-40..=40).map(move |d| f32::from_bits((x.to_bits() as i32 + d) as u32));
        let marks = (0..=510).map(|half| half as f32 / 2.0).flat_map(near);
        let sweep = (0..=2_550_000).map(|i| i as f32 / 10_000.0);
        for x in marks.chain(sweep).filter(|x| (0.0..=255.0).contains(x)) {
            assert_eq!(round_to_u8(x), x.round() as u8, "{x}");
        }
    }

    fn photo() -> DynamicImage {
        DynamicImage::ImageRgb8(RgbImage::from_fn(48, 32, |x, y| {
            Rgb([(x * 5) as u8, (y * 7) as u8, ((x + y) * 3) as u8])
        }))
    }

    #[test]
    fn the_table_lists_twenty_numbered_presets() {
        assert_eq!(FILTERS.len(), 20);
        for (i, preset) in FILTERS.iter().enumerate() {
            assert_eq!(preset.number as usize, i + 1);
            assert!(
                !recipe(preset.number).is_empty(),
                "{} has no recipe",
                preset.name
            );
        }
        let mut names: Vec<_> = FILTERS.iter().map(|p| p.name).collect();
        names.dedup();
        assert_eq!(names.len(), 20);
    }

    #[test]
    fn every_preset_changes_the_image_keeps_size_alpha_and_is_deterministic() {
        let rgba = DynamicImage::ImageRgba8(RgbaImage::from_fn(40, 30, |x, y| {
            Rgba([(x * 6) as u8, (y * 8) as u8, 100, (x * 6 + y) as u8])
        }));
        for preset in FILTERS {
            let out = apply_preset(photo(), preset.number);
            assert_eq!((out.width(), out.height()), (48, 32), "{}", preset.name);
            assert_ne!(
                out.to_rgb8(),
                photo().to_rgb8(),
                "{} changed nothing",
                preset.name
            );
            assert_eq!(
                out,
                apply_preset(photo(), preset.number),
                "{} is not deterministic",
                preset.name
            );
            let with_alpha = apply_preset(rgba.clone(), preset.number).to_rgba8();
            for (a, b) in rgba.to_rgba8().pixels().zip(with_alpha.pixels()) {
                assert_eq!(a[3], b[3], "{} changed alpha", preset.name);
            }
        }
    }

    #[test]
    fn grayscale_and_sepia_look_right() {
        let gray = apply_preset(photo(), 1);
        assert!(matches!(gray, DynamicImage::ImageLuma8(_)));
        let sepia = apply_preset(photo(), 2).to_rgb8();
        let p = sepia[(24, 16)];
        assert!(p[0] > p[1] && p[1] > p[2], "sepia is brown: {p:?}");
        let negative = apply_preset(photo(), 14).to_rgb8();
        assert_eq!(negative[(0, 0)], Rgb([255, 255, 255]));
    }

    #[test]
    fn vignette_darkens_corners_not_the_centre() {
        let flat = DynamicImage::ImageRgb8(RgbImage::from_pixel(50, 50, Rgb([200, 200, 200])));
        let out = vignette(flat, 0.5).to_rgb8();
        assert_eq!(out[(25, 25)], Rgb([200, 200, 200]));
        assert!(out[(0, 0)][0] < 160);
    }
}
