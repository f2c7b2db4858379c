//! Geometry: trim, sizing and crop modes, region crops, rotation, flip, pad and flatten.
//!
//! Sizes are planned from the upright source size, before any pixel is decoded, so that JPEGs
//! can shrink while decoding and oversized outputs are refused early. Rotation by any angle is
//! split into quarter turns, which are exact and applied with the EXIF orientation before
//! sizing (so `rotate=90&width=400` is 400 pixels wide), and a remaining tilt of at most 45°,
//! applied after sizing with bilinear sampling; it grows the canvas (corners in `pad_color`) or,
//! with `crop=zoom`, keeps the size and zooms in until no corner shows.

use std::mem::MaybeUninit;

use image::{DynamicImage, GrayImage, Rgba as Pixel, RgbaImage};

use crate::error::{Error, ErrorKind, Result};
use crate::limits::Limits;
use crate::ops::Context;
use crate::ops::rotate::rotate_bilinear;
use crate::query::{Coord, Crop, ParsedQuery, Rgba};
use crate::resize;

/// How far a pixel may differ from `trim_color` (per channel, 0-255) and still be border:
/// enough to absorb JPEG ringing around a flat background.
const TRIM_TOLERANCE: u8 = 24;

/// The crop modes that promise an exact `width`×`height` box.
const BOX_MODES: &[&str] = &["fit", "top", "bottom", "pad", "stretch", "entropy", "face"];

/// Whether a crop mode needs both `width` and `height`.
pub(crate) fn needs_box(mode: &str) -> bool {
    BOX_MODES.contains(&mode)
}

pub(crate) fn output_too_large(width: u32, height: u32, limits: &Limits) -> Error {
    Error::new(
        ErrorKind::LimitExceeded,
        format!(
            "output would be {width}x{height}; the limit is {} pixels a side",
            limits.max_output_side
        ),
    )
}

fn check_side(width: u64, height: u64, limits: &Limits) -> Result<()> {
    let max = limits.max_output_side as u64;
    if width > max || height > max {
        return Err(output_too_large(
            width.min(u32::MAX as u64) as u32,
            height.min(u32::MAX as u64) as u32,
            limits,
        ));
    }
    Ok(())
}

/// What `width`/`height`/`dpr`/`crop` ask of an image of a given upright size.
#[derive(Debug, Clone, Copy, PartialEq)]
struct SizePlan {
    /// The size the whole image is resized to.
    scaled: (u32, u32),
    /// The part of the scaled image kept.
    window: Window,
    /// The canvas the kept part is centred on (`crop=pad`); `None` means the window itself.
    canvas: Option<(u32, u32)>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Window {
    Whole,
    /// A fixed rectangle x, y, width, height of the scaled image.
    Rect(u32, u32, u32, u32),
    /// The most detailed width×height rectangle, found after resizing.
    Entropy(u32, u32),
    /// A window around the detected faces of the unscaled image, resized to width×height.
    Face(u32, u32),
}

fn side(v: f64) -> u32 {
    v.round().clamp(1.0, u32::MAX as f64) as u32
}

impl SizePlan {
    fn new(query: &ParsedQuery, (src_w, src_h): (u32, u32)) -> Result<SizePlan> {
        let dpr = query.number("dpr").unwrap_or(1.0);
        let want_w = query.number("width").map(|w| w * dpr);
        let want_h = query.number("height").map(|h| h * dpr);
        let (sw, sh) = (src_w as f64, src_h as f64);
        let upscale = query.flag("upscale");
        let fit_inside = |limit_to_source: bool| {
            let scale = match (want_w, want_h) {
                (None, None) => 1.0,
                (Some(w), None) => w / sw,
                (None, Some(h)) => h / sh,
                (Some(w), Some(h)) => (w / sw).min(h / sh),
            };
            let scale = if limit_to_source && !upscale {
                scale.min(1.0)
            } else {
                scale
            };
            (side(sw * scale), side(sh * scale))
        };
        let plan = match query.crop() {
            Some(Crop::Mode(mode)) if needs_box(&mode) => {
                let (Some(w), Some(h)) = (want_w, want_h) else {
                    unreachable!("the parser requires width and height with crop={mode}")
                };
                let (bw, bh) = (side(w), side(h));
                match mode.as_str() {
                    "stretch" => SizePlan {
                        scaled: (bw, bh),
                        window: Window::Whole,
                        canvas: None,
                    },
                    "pad" => SizePlan {
                        scaled: fit_inside(true),
                        window: Window::Whole,
                        canvas: Some((bw, bh)),
                    },
                    // Faces are found on the whole image and the window around them is cut
                    // from its full resolution (see `face_window`), so nothing is scaled first.
                    "face" => SizePlan {
                        scaled: (src_w, src_h),
                        window: Window::Face(bw, bh),
                        canvas: None,
                    },
                    _ => {
                        // Cover the box: the promised size is exact, so small sources grow.
                        let scale = (w / sw).max(h / sh);
                        let scaled = (side(sw * scale).max(bw), side(sh * scale).max(bh));
                        let (x, y) = ((scaled.0 - bw) / 2, (scaled.1 - bh) / 2);
                        let window = match mode.as_str() {
                            "top" => Window::Rect(x, 0, bw, bh),
                            "bottom" => Window::Rect(x, scaled.1 - bh, bw, bh),
                            "entropy" => Window::Entropy(bw, bh),
                            _ => Window::Rect(x, y, bw, bh),
                        };
                        SizePlan {
                            scaled,
                            window,
                            canvas: None,
                        }
                    }
                }
            }
            Some(Crop::Region {
                x,
                y,
                width,
                height,
            }) => {
                // The region is in the coordinates of the scaled image (the reference's rule).
                let scaled = fit_inside(true);
                let place = |coord: Coord, len: u32, total: u32| match coord {
                    Coord::Center => total.saturating_sub(len) / 2,
                    Coord::Pixels(p) => p,
                };
                let (x, y) = (place(x, width, scaled.0), place(y, height, scaled.1));
                if x >= scaled.0 || y >= scaled.1 {
                    return Err(Error::for_parameter(
                        ErrorKind::InvalidParameter,
                        "crop",
                        format!(
                            "crop region starts at {x},{y}, outside the {}x{} image it applies to",
                            scaled.0, scaled.1
                        ),
                    ));
                }
                // A region reaching past the edge keeps what exists, as a crop of a photo would.
                let (w, h) = (width.min(scaled.0 - x), height.min(scaled.1 - y));
                SizePlan {
                    scaled,
                    window: Window::Rect(x, y, w, h),
                    canvas: None,
                }
            }
            _ => SizePlan {
                scaled: fit_inside(true),
                window: Window::Whole,
                canvas: None,
            },
        };
        Ok(plan)
    }

    /// The size this plan produces.
    fn output(&self) -> (u32, u32) {
        self.canvas.unwrap_or(match self.window {
            Window::Whole => self.scaled,
            Window::Rect(_, _, w, h) | Window::Entropy(w, h) | Window::Face(w, h) => (w, h),
        })
    }
}

/// The smallest size the decoder may produce and still serve this query, in upright
/// orientation; `None` when the decoder must deliver every pixel (trim looks at them first).
/// Also refuses, before decoding, a size or pad beyond the limits.
pub(crate) fn decode_hint(
    query: &ParsedQuery,
    upright: (u32, u32),
    limits: &Limits,
) -> Result<Option<(u32, u32)>> {
    if query.is_set("trim") {
        return Ok(None);
    }
    let plan = SizePlan::new(query, upright)?;
    let (w, h) = plan.output();
    check_side(w as u64, h as u64, limits)?;
    let pad = query.number("pad").unwrap_or(0.0) as u64 * 2;
    check_side(w as u64 + pad, h as u64 + pad, limits)?;
    if let Window::Face(..) = plan.window {
        // The whole image at full resolution: the face window may be any part of it.
        return Ok(None);
    }
    check_side(plan.scaled.0 as u64, plan.scaled.1 as u64, limits)?;
    Ok((plan.scaled != upright).then_some(plan.scaled))
}

/// Whether `width`/`height`/`dpr`/`crop` ask only for the whole image at another size: no
/// window cut from it, no canvas around it.
pub(crate) fn resizes_whole(query: &ParsedQuery, upright: (u32, u32)) -> Result<bool> {
    let plan = SizePlan::new(query, upright)?;
    Ok(plan.window == Window::Whole && plan.canvas.is_none() && plan.scaled != upright)
}

/// Resizes and crops as `width`/`height`/`dpr`/`crop` ask. `source` is the upright size the
/// plan is made for (before any shrink-on-load), so results do not depend on how the decoder
/// shrank the image; `scale` is how much it shrank (see [`Decoded::scale`]).
///
/// [`Decoded::scale`]: crate::decode::Decoded::scale
pub(crate) fn size_and_crop(
    image: DynamicImage,
    query: &ParsedQuery,
    source: (u32, u32),
    scale: f64,
    context: &mut Context<'_>,
) -> Result<DynamicImage> {
    let plan = SizePlan::new(query, source)?;
    if let Window::Face(w, h) = plan.window {
        return face_crop(image, w, h, context);
    }
    check_side(
        plan.scaled.0 as u64,
        plan.scaled.1 as u64,
        &context.options.limits,
    )?;
    let mut image = image;
    if (image.width(), image.height()) != plan.scaled {
        let extent = resize::exact_extent(source, scale, (image.width(), image.height()));
        image = resize::resize_extent(&image, extent, plan.scaled.0, plan.scaled.1)?;
    }
    let image = match plan.window {
        Window::Whole => image,
        Window::Rect(x, y, w, h) => image.crop_imm(x, y, w, h),
        Window::Entropy(w, h) => entropy_crop(image, w, h),
        Window::Face(..) => unreachable!("handled above"),
    };
    Ok(match plan.canvas {
        Some((cw, ch)) => centre_on(image, cw, ch, query.color("pad_color").unwrap_or(WHITE)),
        None => image,
    })
}

const WHITE: Rgba = Rgba([255, 255, 255, 255]);

/// A rectangle x, y, width, height in pixels.
pub(crate) type Region = (u32, u32, u32, u32);

/// The part of the upright source the output is cut from, when the query crops without
/// resizing (a region, or a cover crop whose box keeps the source's scale). Cutting it out
/// before the image is turned upright leaves the pixels thrown away unturned; `None` when
/// anything else decides what is kept (resizing, trim, faces, pad).
pub(crate) fn unscaled_region(query: &ParsedQuery, upright: (u32, u32)) -> Result<Option<Region>> {
    if query.is_set("trim") {
        return Ok(None);
    }
    Ok(match SizePlan::new(query, upright)? {
        SizePlan {
            scaled,
            window: Window::Rect(x, y, w, h),
            canvas: None,
        } if scaled == upright => Some((x, y, w, h)),
        _ => None,
    })
}

/// One step of turning a stored image upright.
#[derive(Debug, Clone, Copy)]
enum Step {
    Clockwise,
    Anticlockwise,
    HalfTurn,
    FlipHorizontal,
    FlipVertical,
}

/// The steps of EXIF orientation `exif` (1-8), then of `quarter_turns` clockwise quarter turns.
fn upright_steps(exif: u8, quarter_turns: u8) -> impl Iterator<Item = Step> {
    use Step::*;
    let orientation: &[Step] = match exif {
        2 => &[FlipHorizontal],
        3 => &[HalfTurn],
        4 => &[FlipVertical],
        5 => &[Clockwise, FlipHorizontal],
        6 => &[Clockwise],
        7 => &[Anticlockwise, FlipHorizontal],
        8 => &[Anticlockwise],
        _ => &[],
    };
    let turns: &[Step] = match quarter_turns % 4 {
        1 => &[Clockwise],
        2 => &[HalfTurn],
        3 => &[Anticlockwise],
        _ => &[],
    };
    orientation.iter().chain(turns).copied()
}

/// Applies EXIF orientation `exif` (1-8; others leave the image as stored), then
/// `quarter_turns` clockwise quarter turns.
pub(crate) fn turn_upright(image: DynamicImage, exif: u8, quarter_turns: u8) -> DynamicImage {
    let mut image = image;
    for step in upright_steps(exif, quarter_turns) {
        image = match step {
            Step::Clockwise => quarter_turn(image, true),
            Step::Anticlockwise => quarter_turn(image, false),
            Step::HalfTurn => image.rotate180(),
            Step::FlipHorizontal => image.fliph(),
            Step::FlipVertical => image.flipv(),
        };
    }
    image
}

/// Where `region` of the image that [`turn_upright`] makes lies in the stored image of size
/// `stored`: cropping the stored image there and then turning it upright gives the same pixels.
pub(crate) fn stored_region(
    region: Region,
    stored: (u32, u32),
    exif: u8,
    quarter_turns: u8,
) -> Region {
    // The size before each step, then the region carried back through the steps in reverse.
    let mut sizes = Vec::new();
    let mut size = stored;
    let steps: Vec<Step> = upright_steps(exif, quarter_turns).collect();
    for step in &steps {
        sizes.push(size);
        if matches!(step, Step::Clockwise | Step::Anticlockwise) {
            size = (size.1, size.0);
        }
    }
    let (mut x, mut y, mut w, mut h) = region;
    for (step, &(before_w, before_h)) in steps.iter().zip(&sizes).rev() {
        (x, y, w, h) = match step {
            Step::Clockwise => (y, before_h - x - w, h, w),
            Step::Anticlockwise => (before_w - y - h, x, h, w),
            Step::HalfTurn => (before_w - x - w, before_h - y - h, w, h),
            Step::FlipHorizontal => (before_w - x - w, y, w, h),
            Step::FlipVertical => (x, before_h - y - h, w, h),
        };
    }
    (x, y, w, h)
}

fn entropy_crop(image: DynamicImage, w: u32, h: u32) -> DynamicImage {
    let (x, y) = most_detailed_window(&image, w, h);
    image.crop_imm(x, y, w, h)
}

/// Margins `crop=face` adds around each face box, in fractions of that face's size: the
/// detector's box runs from the eyebrows to the chin, so the top margin takes in the forehead
/// and hair, the bottom one the chin and neck, the sides the ears.
const FACE_MARGIN_SIDE: f64 = 0.3;
const FACE_MARGIN_TOP: f64 = 0.6;
const FACE_MARGIN_BOTTOM: f64 = 0.4;

/// `crop=face`: the window of [`face_window`] around the faces, resized to exactly `w`×`h`.
/// Without a face, the image is cropped as `crop=entropy` would, with a warning.
fn face_crop(
    image: DynamicImage,
    w: u32,
    h: u32,
    context: &mut Context<'_>,
) -> Result<DynamicImage> {
    let (iw, ih) = (image.width(), image.height());
    let faces = crate::faces::detect_faces(&image);
    let Some((x, y, cw, ch)) = face_window(&faces, (iw, ih), (w, h)) else {
        context.warn(
            "crop",
            "no face found: cropped to the most detailed part, as crop=entropy",
        );
        let scale = (w as f64 / iw as f64).max(h as f64 / ih as f64);
        let scaled = (
            side(iw as f64 * scale).max(w),
            side(ih as f64 * scale).max(h),
        );
        let resized = resize::resize(&image, scaled.0, scaled.1)?;
        return Ok(entropy_crop(resized, w, h));
    };
    let window = image.crop_imm(x, y, cw, ch);
    if (cw, ch) == (w, h) {
        Ok(window)
    } else {
        resize::resize(&window, w, h)
    }
}

/// The part of an `image`-sized picture that `crop=face` keeps for a `w`×`h` output, as
/// x, y, width, height; `None` without faces.
///
/// 1. Each face box grows by its margins (sides 30 %, top 60 %, bottom 40 % of its size) and
///    the grown boxes are united.
/// 2. The union grows about its centre to the output's aspect ratio.
/// 3. It grows further, if needed, to at least `w`×`h` pixels, so a small face is not enlarged
///    beyond the photo's own resolution.
/// 4. It shrinks, if needed, to fit the image (the largest window of that aspect ratio), and
///    slides inside the image, as close to centred on the faces as the edges allow.
fn face_window(
    faces: &[crate::faces::FaceBox],
    (iw, ih): (u32, u32),
    (w, h): (u32, u32),
) -> Option<(u32, u32, u32, u32)> {
    let (mut x0, mut y0, mut x1, mut y1) = (f64::MAX, f64::MAX, f64::MIN, f64::MIN);
    for face in faces {
        let (fx, fy, fw, fh) = (
            face.x as f64,
            face.y as f64,
            face.width as f64,
            face.height as f64,
        );
        x0 = x0.min(fx - FACE_MARGIN_SIDE * fw);
        x1 = x1.max(fx + fw + FACE_MARGIN_SIDE * fw);
        y0 = y0.min(fy - FACE_MARGIN_TOP * fh);
        y1 = y1.max(fy + fh + FACE_MARGIN_BOTTOM * fh);
    }
    if faces.is_empty() || x1 <= x0 || y1 <= y0 {
        return None;
    }
    let aspect = w as f64 / h as f64;
    let (cx, cy) = ((x0 + x1) / 2.0, (y0 + y1) / 2.0);
    let (mut ww, mut wh) = (x1 - x0, y1 - y0);
    if ww / wh < aspect {
        ww = wh * aspect;
    } else {
        wh = ww / aspect;
    }
    let grow = (w as f64 / ww).max(1.0);
    let (ww, wh) = (ww * grow, wh * grow);
    let shrink = (iw as f64 / ww).min(ih as f64 / wh).min(1.0);
    let (ww, wh) = (
        (ww * shrink).round().clamp(1.0, iw as f64),
        (wh * shrink).round().clamp(1.0, ih as f64),
    );
    let x = (cx - ww / 2.0).round().clamp(0.0, iw as f64 - ww);
    let y = (cy - wh / 2.0).round().clamp(0.0, ih as f64 - wh);
    Some((x as u32, y as u32, ww as u32, wh as u32))
}

/// Shannon entropy of a gray histogram, in bits.
fn entropy(histogram: &[u32; 256]) -> f64 {
    let total: u32 = histogram.iter().sum();
    if total == 0 {
        return 0.0;
    }
    histogram
        .iter()
        .filter(|&&n| n > 0)
        .map(|&n| {
            let p = n as f64 / total as f64;
            -p * p.log2()
        })
        .sum()
}

/// The top-left corner of the `w`×`h` window with the most detail (highest gray-level
/// entropy), like sharp's `entropy` strategy. Only one axis has slack after a cover resize, so
/// this slides along it; it scores a copy at most 256 pixels long on that axis.
fn most_detailed_window(image: &DynamicImage, w: u32, h: u32) -> (u32, u32) {
    let (iw, ih) = (image.width(), image.height());
    let horizontal = iw - w >= ih - h;
    let slack = if horizontal { iw - w } else { ih - h };
    if slack == 0 {
        return (0, 0);
    }
    let long = if horizontal { iw } else { ih };
    let factor = (long as f64 / 256.0).max(1.0);
    let small: GrayImage = image
        .resize_exact(
            ((iw as f64 / factor).round() as u32).max(1),
            ((ih as f64 / factor).round() as u32).max(1),
            image::imageops::FilterType::Triangle,
        )
        .to_luma8();
    let (sw, sh) = small.dimensions();
    // Per line across the sliding axis: its histogram. A window's histogram is a sum of lines.
    let lines = if horizontal { sw } else { sh };
    let mut line_histograms = vec![[0u32; 256]; lines as usize];
    for (x, y, p) in small.enumerate_pixels() {
        let line = if horizontal { x } else { y };
        line_histograms[line as usize][p[0] as usize] += 1;
    }
    let window_lines = ((if horizontal { w } else { h }) as f64 / factor).round() as usize;
    let window_lines = window_lines.clamp(1, lines as usize);
    let mut histogram = [0u32; 256];
    for line in &line_histograms[..window_lines] {
        for (sum, n) in histogram.iter_mut().zip(line) {
            *sum += n;
        }
    }
    let mut best = (entropy(&histogram), 0usize);
    for start in 1..=(lines as usize - window_lines) {
        for (sum, (out, inn)) in histogram.iter_mut().zip(
            line_histograms[start - 1]
                .iter()
                .zip(&line_histograms[start + window_lines - 1]),
        ) {
            *sum = *sum - out + inn;
        }
        let score = entropy(&histogram);
        if score > best.0 + 1e-9 {
            best = (score, start);
        }
    }
    let offset = ((best.1 as f64 * factor).round() as u32).min(slack);
    if horizontal {
        (offset, (ih - h) / 2)
    } else {
        ((iw - w) / 2, offset)
    }
}

/// `rotate` (clockwise) minus `angle` (counter-clockwise), split into quarter turns and a tilt.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Rotation {
    /// Clockwise quarter turns, 0-3.
    pub quarter_turns: u8,
    /// Remaining clockwise degrees, in (-45, 45].
    pub tilt: f64,
}

/// A quarter turn, clockwise or not. 8-bit images are turned band by band ([`turned`]):
/// image's `rotate90` writes the destination a column at a time, which misses the cache on
/// every pixel of a photo (a 6-megapixel turn took 33 ms; by bands it takes a tenth of that).
pub(crate) fn quarter_turn(image: DynamicImage, clockwise: bool) -> DynamicImage {
    match image {
        DynamicImage::ImageRgb8(b) => DynamicImage::ImageRgb8(turned::<_, 3>(&b, clockwise)),
        DynamicImage::ImageRgba8(b) => DynamicImage::ImageRgba8(turned::<_, 4>(&b, clockwise)),
        DynamicImage::ImageLuma8(b) => DynamicImage::ImageLuma8(turned::<_, 1>(&b, clockwise)),
        DynamicImage::ImageLumaA8(b) => DynamicImage::ImageLumaA8(turned::<_, 2>(&b, clockwise)),
        other if clockwise => other.rotate90(),
        other => other.rotate270(),
    }
}

/// [`quarter_turn`] of an 8-bit buffer of `N` samples per pixel, so that a pixel is one
/// `N`-byte move. Source columns become turned rows, so the turned image splits into two runs
/// of whole rows: with a core to spare ([`crate::cores::one_to_spare`]), a second thread turns
/// the second half of the columns; a busy server keeps one thread per request. The turned
/// buffer is not zeroed first: every byte is written once.
fn turned<P: image::Pixel<Subpixel = u8>, const N: usize>(
    buffer: &image::ImageBuffer<P, Vec<u8>>,
    clockwise: bool,
) -> image::ImageBuffer<P, Vec<u8>> {
    let two_threads = buffer.as_raw().len() >= TURN_SPLIT_BYTES && crate::cores::one_to_spare();
    turned_on::<P, N>(buffer, clockwise, two_threads)
}

/// [`turned`], on one thread or two.
fn turned_on<P: image::Pixel<Subpixel = u8>, const N: usize>(
    buffer: &image::ImageBuffer<P, Vec<u8>>,
    clockwise: bool,
    two_threads: bool,
) -> image::ImageBuffer<P, Vec<u8>> {
    let (width, height) = (buffer.width() as usize, buffer.height() as usize);
    let source: &[u8] = buffer.as_raw();
    let mut turned = Vec::with_capacity(source.len());
    let out = &mut turned.spare_capacity_mut()[..source.len()];
    let turn = |columns: std::ops::Range<usize>, out: &mut [MaybeUninit<u8>]| {
        turn_columns::<N>(source, (width, height), clockwise, columns, out)
    };
    let half = width / 2;
    if two_threads {
        // Clockwise, the first columns become the first turned rows; anticlockwise, the last.
        let (first, second) = out.split_at_mut(half * height * N);
        let (first_columns, second_columns) = if clockwise {
            (0..half, half..width)
        } else {
            (width - half..width, 0..width - half)
        };
        crate::cores::run_beside(
            "picsmith-turn",
            || turn(first_columns, first),
            || turn(second_columns, second),
        );
    } else {
        turn(0..width, out);
    }
    // SAFETY: `turn_columns` wrote every byte of the first `source.len()`: each source pixel
    // goes to one turned pixel, and the two images have as many pixels.
    unsafe { turned.set_len(source.len()) };
    image::ImageBuffer::from_raw(buffer.height(), buffer.width(), turned)
        .expect("a turned buffer has the size of the original")
}

/// Writes the turned rows that source `columns` become into `out`, top to bottom. The source
/// (`size` = width, height) is taken in bands of [`TURN_BAND`] rows; each column of a band
/// becomes one contiguous run of a turned row, and the band's rows stay in cache while every
/// column is taken from them. (Square tiles walked along source rows, which scatter each pixel
/// to another turned row, took twice as long.)
fn turn_columns<const N: usize>(
    source: &[u8],
    (width, height): (usize, usize),
    clockwise: bool,
    columns: std::ops::Range<usize>,
    out: &mut [MaybeUninit<u8>],
) {
    let turned_row_bytes = height * N;
    assert!(source.len() == width * height * N && columns.end <= width);
    assert_eq!(out.len(), columns.len() * turned_row_bytes);
    let first_turned_row = if clockwise {
        columns.start
    } else {
        width - columns.end
    };
    for band in (0..height).step_by(TURN_BAND) {
        let rows = band..(band + TURN_BAND).min(height);
        for x in columns.clone() {
            let to_row = if clockwise { x } else { width - 1 - x } - first_turned_row;
            let turned_row = &mut out[to_row * turned_row_bytes..][..turned_row_bytes];
            for y in rows.clone() {
                let to_x = if clockwise { height - 1 - y } else { y };
                // SAFETY: x < width and y < height, so the pixel at (y·width + x)·N lies in
                // `source` (asserted width·height·N long); to_x < height, so its N bytes lie
                // in the turned row. Unchecked, the loop took a quarter less time than with
                // slices (1.3 against 1.75 ms for 2 megapixels).
                unsafe {
                    std::ptr::copy_nonoverlapping(
                        source.as_ptr().add((y * width + x) * N),
                        turned_row.as_mut_ptr().add(to_x * N).cast::<u8>(),
                        N,
                    );
                }
            }
        }
    }
}

/// Source rows per band of [`turn_columns`]: 8 rows of a 3000-pixel RGB image are 72 KB.
const TURN_BAND: usize = 8;

/// Images smaller than this are turned on one thread. A turn takes about 1 ms per 3 MiB and a
/// second thread starts and joins in about 65 µs, so below 1 MiB halving the turn saves little
/// more than the thread costs.
const TURN_SPLIT_BYTES: usize = 1 << 20;

/// The `region` of `image`, copied a row at a time (image's `crop_imm` copies pixel by pixel).
/// A region reaching past the image keeps the part inside it.
pub(crate) fn crop(image: &DynamicImage, region: Region) -> DynamicImage {
    let (x, y, w, h) = region;
    let (x, y) = (x.min(image.width()), y.min(image.height()));
    let region = (x, y, w.min(image.width() - x), h.min(image.height() - y));
    fn rows<P: image::Pixel<Subpixel = u8>>(
        buffer: &image::ImageBuffer<P, Vec<u8>>,
        (x, y, w, h): Region,
    ) -> image::ImageBuffer<P, Vec<u8>> {
        let channels = usize::from(P::CHANNEL_COUNT);
        let stride = buffer.width() as usize * channels;
        let (left, row_len) = (x as usize * channels, w as usize * channels);
        let mut out = Vec::with_capacity(row_len * h as usize);
        for row in buffer
            .as_raw()
            .chunks_exact(stride)
            .skip(y as usize)
            .take(h as usize)
        {
            out.extend_from_slice(&row[left..left + row_len]);
        }
        image::ImageBuffer::from_raw(w, h, out).expect("the rows of the region")
    }
    match image {
        DynamicImage::ImageRgb8(b) => DynamicImage::ImageRgb8(rows(b, region)),
        DynamicImage::ImageRgba8(b) => DynamicImage::ImageRgba8(rows(b, region)),
        DynamicImage::ImageLuma8(b) => DynamicImage::ImageLuma8(rows(b, region)),
        DynamicImage::ImageLumaA8(b) => DynamicImage::ImageLumaA8(rows(b, region)),
        other => {
            let (x, y, w, h) = region;
            other.crop_imm(x, y, w, h)
        }
    }
}

impl Rotation {
    pub fn from_query(query: &ParsedQuery) -> Rotation {
        let degrees = query.number("rotate").unwrap_or(0.0) - query.number("angle").unwrap_or(0.0);
        let degrees = degrees.rem_euclid(360.0);
        // The nearest quarter turn, with 45° (and 135°, ...) left as a tilt: tilts are (-45, 45].
        let quarters = (degrees / 90.0 - 0.5).ceil();
        let mut tilt = degrees - quarters * 90.0;
        if tilt.abs() < 1e-9 {
            tilt = 0.0;
        }
        Rotation {
            quarter_turns: (quarters as i64).rem_euclid(4) as u8,
            tilt,
        }
    }

    /// Rotates by the tilt: the canvas grows to hold the whole image, corners in `pad_color`,
    /// or with `crop=zoom` the size is kept and the image scaled up until no corner shows.
    pub fn apply_tilt(&self, image: DynamicImage, query: &ParsedQuery) -> DynamicImage {
        if self.tilt == 0.0 {
            return image;
        }
        let (w, h) = (image.width() as f64, image.height() as f64);
        let radians = self.tilt.to_radians();
        let (sin, cos) = (radians.sin().abs(), radians.cos().abs());
        let fill = query.color("pad_color").unwrap_or(WHITE);
        if query.zoom {
            // The largest w:h rectangle inside the rotated image, scaled back up to w×h. One
            // pixel of margin on each side keeps bilinear samples off the padded edge.
            let inner = ((w - 2.0).max(1.0) / (w * cos + h * sin))
                .min((h - 2.0).max(1.0) / (w * sin + h * cos));
            let out = (image.width(), image.height());
            let has_alpha = image.color().has_alpha();
            return rotate_bilinear(&image, radians, out, inner, fill, has_alpha);
        }
        let out = (side(w * cos + h * sin), side(w * sin + h * cos));
        let keeps_alpha = image.color().has_alpha() || fill.0[3] < 255;
        rotate_bilinear(&image, radians, out, 1.0, fill, keeps_alpha)
    }
}

/// The RGBA image, or its RGB part when its alpha channel is not to be kept.
pub(crate) fn rgba_result(image: RgbaImage, keep_alpha: bool) -> DynamicImage {
    let image = DynamicImage::ImageRgba8(image);
    if keep_alpha {
        image
    } else {
        DynamicImage::ImageRgb8(image.to_rgb8())
    }
}

/// Mirrors horizontally when `flip=true`.
pub(crate) fn flip(image: DynamicImage, query: &ParsedQuery) -> DynamicImage {
    if query.flag("flip") {
        image.fliph()
    } else {
        image
    }
}

/// `trim=color`: removes the border of `trim_color` (within a tolerance for JPEG noise; a
/// transparent `trim_color` trims transparent pixels). A picture that is all border is kept.
pub(crate) fn trim(
    image: DynamicImage,
    query: &ParsedQuery,
    context: &mut Context<'_>,
) -> DynamicImage {
    if !query.is_set("trim") {
        return image;
    }
    let color = query.color("trim_color").unwrap_or(WHITE).0;
    let rgba = image.to_rgba8();
    let is_border = |p: &Pixel<u8>| {
        if color[3] == 0 {
            return p[3] <= TRIM_TOLERANCE;
        }
        p.0.iter()
            .zip(color)
            .all(|(&a, b)| a.abs_diff(b) <= TRIM_TOLERANCE)
    };
    let (w, h) = rgba.dimensions();
    let (mut left, mut top, mut right, mut bottom) = (w, h, 0u32, 0u32);
    for (x, y, p) in rgba.enumerate_pixels() {
        if !is_border(p) {
            left = left.min(x);
            top = top.min(y);
            right = right.max(x + 1);
            bottom = bottom.max(y + 1);
        }
    }
    if left >= right || top >= bottom {
        context.warn("trim", "the whole image is trim_color; nothing was trimmed");
        return image;
    }
    image.crop_imm(left, top, right - left, bottom - top)
}

/// `pad`: a border of `pad_color` (transparent for `0000`) around the image.
pub(crate) fn pad(
    image: DynamicImage,
    query: &ParsedQuery,
    limits: &Limits,
) -> Result<DynamicImage> {
    let pad = query.number("pad").unwrap_or(0.0) as u32;
    if pad == 0 {
        return Ok(image);
    }
    let (w, h) = (
        image.width() as u64 + 2 * pad as u64,
        image.height() as u64 + 2 * pad as u64,
    );
    check_side(w, h, limits)?;
    Ok(centre_on(
        image,
        w as u32,
        h as u32,
        query.color("pad_color").unwrap_or(WHITE),
    ))
}

/// Centres `image` on a `width`×`height` canvas of `color` (at least the image's size).
fn centre_on(image: DynamicImage, width: u32, height: u32, color: Rgba) -> DynamicImage {
    let (width, height) = (width.max(image.width()), height.max(image.height()));
    let keep_alpha = image.color().has_alpha() || color.0[3] < 255;
    let mut canvas = RgbaImage::from_pixel(width, height, Pixel(color.0));
    let (x, y) = ((width - image.width()) / 2, (height - image.height()) / 2);
    image::imageops::replace(&mut canvas, &image.to_rgba8(), x as i64, y as i64);
    rgba_result(canvas, keep_alpha)
}

/// `flatten=true`: removes the alpha channel onto `pad_color` (its alpha is ignored: a
/// flattened image is opaque).
pub(crate) fn flatten_if_asked(image: DynamicImage, query: &ParsedQuery) -> DynamicImage {
    if query.flag("flatten") && image.color().has_alpha() {
        flatten(image, query.color("pad_color").unwrap_or(WHITE))
    } else {
        image
    }
}

/// Composites onto an opaque background.
pub(crate) fn flatten(image: DynamicImage, background: Rgba) -> DynamicImage {
    let bg = background.0;
    let blend = |c: u8, a: u8, b: u8| {
        ((c as u32 * a as u32 + b as u32 * (255 - a as u32) + 127) / 255) as u8
    };
    match image {
        DynamicImage::ImageLumaA8(gray) if bg[0] == bg[1] && bg[1] == bg[2] => {
            let (w, h) = gray.dimensions();
            let pixels = gray.pixels().map(|p| blend(p[0], p[1], bg[0])).collect();
            DynamicImage::ImageLuma8(GrayImage::from_raw(w, h, pixels).expect("sizes match"))
        }
        other => {
            let rgba = other.into_rgba8();
            let (w, h) = rgba.dimensions();
            let pixels = rgba
                .pixels()
                .flat_map(|p| {
                    [
                        blend(p[0], p[3], bg[0]),
                        blend(p[1], p[3], bg[1]),
                        blend(p[2], p[3], bg[2]),
                    ]
                })
                .collect();
            DynamicImage::ImageRgb8(image::RgbImage::from_raw(w, h, pixels).expect("sizes match"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::parse_query;
    use image::metadata::Orientation as ExifOrientation;

    fn plan(query: &str, size: (u32, u32)) -> SizePlan {
        SizePlan::new(&parse_query(query, false).unwrap(), size).unwrap()
    }

    #[test]
    fn quarter_turns_by_bands_match_image_pixel_for_pixel() {
        // Sizes on both sides of the band edge, in every 8-bit layout and one 16-bit one.
        for (w, h) in [(1, 1), (3, 130), (129, 64), (200, 77)] {
            let rgba = image::RgbaImage::from_fn(w, h, |x, y| {
                image::Rgba([x as u8, y as u8, (x * 7 + y * 3) as u8, (x ^ y) as u8])
            });
            let base = DynamicImage::ImageRgba8(rgba);
            for image in [
                base.clone(),
                DynamicImage::ImageRgb8(base.to_rgb8()),
                DynamicImage::ImageLuma8(base.to_luma8()),
                DynamicImage::ImageLumaA8(base.to_luma_alpha8()),
                DynamicImage::ImageRgb16(base.to_rgb16()),
            ] {
                assert_eq!(quarter_turn(image.clone(), true), image.rotate90());
                assert_eq!(quarter_turn(image.clone(), false), image.rotate270());
            }
            // Split between two threads (what a lone request on a large image does), with
            // an odd number of columns on each side of the split, and none before it.
            let rgb = base.to_rgb8();
            for two_threads in [false, true] {
                let clockwise = turned_on::<_, 3>(&rgb, true, two_threads);
                assert_eq!(clockwise, image::imageops::rotate90(&rgb));
                let anticlockwise = turned_on::<_, 3>(&rgb, false, two_threads);
                assert_eq!(anticlockwise, image::imageops::rotate270(&rgb));
            }
        }
    }

    #[test]
    fn a_region_cut_from_the_stored_image_is_the_region_of_the_upright_one() {
        let (w, h) = (13, 7);
        let stored = DynamicImage::ImageRgb8(image::RgbImage::from_fn(w, h, |x, y| {
            image::Rgb([x as u8, y as u8, (x * 31 + y * 17) as u8])
        }));
        for exif in 1..=8 {
            for turns in 0..4 {
                let upright = turn_upright(stored.clone(), exif, turns);
                // Reference: image's own orientation, then its own quarter turns.
                let mut expected = stored.clone();
                expected.apply_orientation(ExifOrientation::from_exif(exif).unwrap());
                let expected = match turns {
                    1 => expected.rotate90(),
                    2 => expected.rotate180(),
                    3 => expected.rotate270(),
                    _ => expected,
                };
                assert_eq!(upright, expected, "orientation {exif}, {turns} turns");
                let (uw, uh) = (upright.width(), upright.height());
                for region in [
                    (0, 0, 1, 1),
                    (2, 1, 5, 3),
                    (uw - 3, uh - 2, 3, 2),
                    (0, 0, uw, uh),
                ] {
                    let (x, y, rw, rh) = stored_region(region, (w, h), exif, turns);
                    let cut_first = turn_upright(stored.crop_imm(x, y, rw, rh), exif, turns);
                    let (rx, ry, rw, rh) = region;
                    assert_eq!(
                        cut_first,
                        upright.crop_imm(rx, ry, rw, rh),
                        "orientation {exif}, {turns} turns, region {region:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn crop_by_rows_matches_image_crop() {
        let rgba = image::RgbaImage::from_fn(9, 7, |x, y| image::Rgba([x as u8, y as u8, 3, 4]));
        let base = DynamicImage::ImageRgba8(rgba);
        for image in [
            base.clone(),
            DynamicImage::ImageRgb8(base.to_rgb8()),
            DynamicImage::ImageLumaA8(base.to_luma_alpha8()),
            DynamicImage::ImageRgb16(base.to_rgb16()),
        ] {
            for (x, y, w, h) in [(0, 0, 9, 7), (2, 3, 4, 2), (8, 6, 1, 1), (5, 5, 90, 90)] {
                assert_eq!(crop(&image, (x, y, w, h)), image.crop_imm(x, y, w, h));
            }
        }
    }

    #[test]
    fn only_crops_at_the_source_scale_are_cut_before_turning() {
        let region = |query: &str| {
            unscaled_region(&parse_query(query, false).unwrap(), (2725, 2225)).unwrap()
        };
        assert_eq!(region("crop=10,20,300,400"), Some((10, 20, 300, 400)));
        assert_eq!(region("crop=2700,20,300,400"), Some((2700, 20, 25, 400)));
        assert_eq!(region("width=500&crop=10,20,300,400"), None);
        assert_eq!(region("trim=color&crop=10,20,300,400"), None);
        assert_eq!(region("width=720"), None);
        assert_eq!(region("rotate=90"), None);
    }

    #[test]
    fn cover_modes_give_the_exact_box() {
        let p = plan("width=400&height=300&crop=fit", (2000, 1000));
        assert_eq!(p.scaled, (600, 300));
        assert_eq!(p.window, Window::Rect(100, 0, 400, 300));
        let p = plan("width=400&height=300&crop=bottom", (1000, 2000));
        assert_eq!(p.window, Window::Rect(0, 500, 400, 300));
        // Exact even when the source is smaller than the box.
        assert_eq!(
            plan("width=400&height=300&crop=fit", (40, 30)).output(),
            (400, 300)
        );
    }

    #[test]
    fn face_window_frames_the_faces_at_the_output_aspect() {
        use crate::faces::FaceBox;
        let face = |x, y, size| FaceBox {
            x,
            y,
            width: size,
            height: size,
            score: 10.0,
        };
        // One 100-pixel face in a 2000x1500 photo, a 300x200 output: padded to 270..430 x
        // 440..640 (160x200), widened to 300x200 about that box's centre (350, 540).
        let one = [face(300, 500, 100)];
        assert_eq!(
            face_window(&one, (2000, 1500), (300, 200)),
            Some((200, 440, 300, 200))
        );
        // Never smaller than the output: a 600x400 output takes 600x400 pixels.
        assert_eq!(
            face_window(&one, (2000, 1500), (600, 400)),
            Some((50, 340, 600, 400))
        );
        // Two faces: their padded union (270..960 x 440..640) is 690 wide, so 690x460.
        let two = [face(300, 500, 100), face(830, 500, 100)];
        assert_eq!(
            face_window(&two, (2000, 1500), (300, 200)),
            Some((270, 310, 690, 460))
        );
        // Near a corner: the window slides inside the image.
        let corner = [face(0, 0, 100)];
        assert_eq!(
            face_window(&corner, (2000, 1500), (300, 200)),
            Some((0, 0, 300, 200))
        );
        // Wider than the image allows: the largest window of the aspect ratio, 1000x500.
        let wide = [face(0, 100, 100), face(1400, 100, 100)];
        assert_eq!(
            face_window(&wide, (1500, 500), (200, 100)),
            Some((250, 0, 1000, 500))
        );
        assert_eq!(face_window(&[], (2000, 1500), (300, 200)), None);
    }

    #[test]
    fn face_plans_need_the_whole_image() {
        let query = parse_query("width=300&height=200&crop=face", false).unwrap();
        let p = SizePlan::new(&query, (4000, 3000)).unwrap();
        assert_eq!((p.scaled, p.output()), ((4000, 3000), (300, 200)));
        let hint = decode_hint(&query, (4000, 3000), &Limits::default()).unwrap();
        assert_eq!(hint, None);
    }

    #[test]
    fn pad_contains_without_upscaling() {
        let p = plan("width=400&height=300&crop=pad", (100, 100));
        assert_eq!((p.scaled, p.output()), ((100, 100), (400, 300)));
    }

    #[test]
    fn regions_are_in_scaled_coordinates() {
        let p = plan("width=500&crop=center,10,300,200", (1000, 800));
        assert_eq!(p.scaled, (500, 400));
        assert_eq!(p.window, Window::Rect(100, 10, 300, 200));
        // Past the edge: clipped.
        assert_eq!(plan("crop=900,0,300,200", (1000, 800)).output(), (100, 200));
        let err = SizePlan::new(
            &parse_query("crop=1000,0,10,10", false).unwrap(),
            (1000, 800),
        );
        assert_eq!(err.unwrap_err().parameter(), Some("crop"));
    }

    #[test]
    fn rotation_splits_into_quarter_turns_and_a_tilt() {
        let r = |q: &str| Rotation::from_query(&parse_query(q, false).unwrap());
        assert_eq!(
            r("rotate=90"),
            Rotation {
                quarter_turns: 1,
                tilt: 0.0
            }
        );
        assert_eq!(
            r("angle=90"),
            Rotation {
                quarter_turns: 3,
                tilt: 0.0
            }
        );
        assert_eq!(
            r("rotate=-360"),
            Rotation {
                quarter_turns: 0,
                tilt: 0.0
            }
        );
        let tilted = r("rotate=120");
        assert_eq!(tilted.quarter_turns, 1);
        assert!((tilted.tilt - 30.0).abs() < 1e-9);
        let half = r("rotate=45");
        assert_eq!((half.quarter_turns, half.tilt), (0, 45.0));
        let back = r("rotate=350");
        assert_eq!(back.quarter_turns, 0);
        assert!((back.tilt + 10.0).abs() < 1e-9);
    }

    #[test]
    fn entropy_window_finds_the_detail() {
        // Flat gray with a noisy square on the right.
        let mut img = RgbaImage::from_pixel(300, 100, Pixel([128, 128, 128, 255]));
        for y in 0..100 {
            for x in 220..300 {
                let v = ((x * 7919 + y * 104729) % 251) as u8;
                img.put_pixel(x, y, Pixel([v, v, v, 255]));
            }
        }
        let (x, y) = most_detailed_window(&DynamicImage::ImageRgba8(img), 100, 100);
        assert_eq!(y, 0);
        assert!(x >= 195, "window at {x}");
    }
}
