//! What an image is, without transforming it: what its header says (size, format, alpha, colour
//! space, EXIF, JPEG sampling) and, on request, what its pixels say (dominant colour and
//! palette, BlurHash, ThumbHash, a difference hash, a tiny preview).
//!
//! Header fields never decode a pixel. The pixel fields decode once, small: a JPEG at the DCT
//! scale that still covers 128 pixels, anything else in full and then reduced to 128.

use base64::Engine as _;
use image::{DynamicImage, GenericImageView, metadata::Orientation as ExifOrientation};
use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};
use serde_json::Value as Json;

use crate::decode;
use crate::encode::{self, EncodeSettings};
use crate::error::Result;
use crate::exif;
use crate::faces::{self, FaceBox};
use crate::format::Format;
use crate::limits::Limits;
use crate::resize;

/// The side the pixel fields work from: enough for five colours and every placeholder.
const ANALYSIS_SIDE: u32 = 128;
/// The longest side of the mini preview: about 500 bytes of JPEG.
const PREVIEW_SIDE: u32 = 24;
const PREVIEW_QUALITY: u8 = 40;
const PALETTE_SIZE: usize = 5;

/// What [`metadata`] computes beyond the header. The default reads headers only.
///
/// ```
/// let options = picsmith::MetadataOptions { colors: true, ..Default::default() };
/// assert!(!options.hashes);
/// ```
#[derive(Debug, Clone, Default)]
pub struct MetadataOptions {
    pub limits: Limits,
    /// The dominant colour and a palette of up to five colours.
    pub colors: bool,
    /// BlurHash, ThumbHash and a 64-bit difference hash.
    pub hashes: bool,
    /// A tiny JPEG (about 500 bytes), base64, for a blurred placeholder.
    pub mini_preview: bool,
    /// Frontal faces, in the displayed image's pixels.
    pub faces: bool,
}

impl MetadataOptions {
    /// Whether a field is asked for that decodes the image (every one but the header's).
    ///
    /// ```
    /// assert!(!picsmith::MetadataOptions::default().decodes_pixels());
    /// let options = picsmith::MetadataOptions { faces: true, ..Default::default() };
    /// assert!(options.decodes_pixels());
    /// ```
    pub fn decodes_pixels(&self) -> bool {
        self.colors || self.hashes || self.mini_preview || self.faces
    }
}

/// What an image is. Serialises to the JSON the bindings return (camelCase keys).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Metadata {
    /// Bytes of the file.
    pub file_size: u64,
    /// Width as displayed: the EXIF orientation applied.
    pub width: u32,
    pub height: u32,
    #[serde(serialize_with = "format_name")]
    pub format: Format,
    pub mime_type: &'static str,
    pub has_alpha: bool,
    /// `srgb`, `display-p3`, `adobe-rgb`, `prophoto-rgb`, `rgb` (another RGB profile), `cmyk`
    /// or `b-w` (greyscale).
    pub color_space: &'static str,
    /// The ICC profile's own description, when there is a profile.
    pub icc_description: Option<String>,
    /// EXIF orientation 1-8 as stored (1 when absent).
    pub orientation: u8,
    /// Every named EXIF tag, formatted as ImageMagick formats it.
    pub exif: ExifTags,
    pub jpeg: Option<JpegInfo>,
    /// `#RRGGBB`: the largest colour cluster.
    pub dominant_color: Option<String>,
    /// Up to five colours, largest share first.
    pub palette: Vec<PaletteColor>,
    pub blurhash: Option<String>,
    /// ThumbHash, base64.
    pub thumbhash: Option<String>,
    /// 64-bit difference hash as 16 hex digits: images whose hashes differ in few bits look
    /// alike (a Hamming distance under about 10 suggests a duplicate).
    pub dhash: Option<String>,
    /// A tiny JPEG, base64.
    pub mini_preview: Option<String>,
    /// Frontal faces, best first, in displayed pixels (`None` unless asked for).
    pub faces: Option<Vec<FaceBox>>,
}

/// EXIF tags in ImageMagick's order (by name, ignoring case); a JSON object when serialised.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ExifTags(pub Vec<(String, Json)>);

impl Metadata {
    /// Size and format only: an sRGB image without alpha, EXIF or pixel fields.
    pub(crate) fn bare(file_size: u64, width: u32, height: u32, format: Format) -> Metadata {
        Metadata {
            file_size,
            width,
            height,
            format,
            mime_type: format.mime(),
            has_alpha: false,
            color_space: "srgb",
            icc_description: None,
            orientation: 1,
            exif: ExifTags::default(),
            jpeg: None,
            dominant_color: None,
            palette: Vec::new(),
            blurhash: None,
            thumbhash: None,
            dhash: None,
            mini_preview: None,
            faces: None,
        }
    }

    /// The JSON every binding returns: camelCase keys, absent pixel fields as `null`.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("metadata serialises")
    }
}

impl ExifTags {
    pub fn get(&self, name: &str) -> Option<&Json> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }
}

impl Serialize for ExifTags {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (name, value) in &self.0 {
            map.serialize_entry(name, value)?;
        }
        map.end()
    }
}

/// What libjpeg reports of a JPEG: the colour space it decodes to (its `J_COLOR_SPACE`
/// number: 1 grey, 2 RGB, 4 CMYK) and the sampling factors (`2x2,1x1,1x1` is 4:2:0).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JpegInfo {
    pub colorspace: u8,
    pub sampling_factor: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PaletteColor {
    /// `#RRGGBB`.
    pub color: String,
    /// Share of the (opaque) pixels, 0 to 1.
    pub share: f32,
}

fn format_name<S: Serializer>(format: &Format, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_str(format.name())
}

/// Reads what `input` is. Headers only unless `options` asks for pixel fields.
///
/// ```no_run
/// let data = std::fs::read("photo.jpg").unwrap();
/// let meta = picsmith::metadata(&data, &picsmith::MetadataOptions::default()).unwrap();
/// println!("{}x{} {}", meta.width, meta.height, meta.format);
/// ```
pub fn metadata(input: &[u8], options: &MetadataOptions) -> Result<Metadata> {
    let mut source = decode::open(input, &options.limits)?;
    let orientation = source.orientation;
    let (width, height) = if orientation >= 5 {
        (source.height, source.width)
    } else {
        (source.width, source.height)
    };
    let jpeg = source.jpeg_header().map(|header| JpegInfo {
        colorspace: match header.components {
            1 => 1,
            4 => 4,
            _ => 2,
        },
        sampling_factor: header
            .sampling
            .iter()
            .map(|(h, v)| format!("{h}x{v}"))
            .collect::<Vec<_>>()
            .join(","),
    });
    let components = source.jpeg_header().map(|h| h.components);
    let icc = source.icc.take();
    let icc_description = icc.as_deref().and_then(icc_description);
    let color_space = color_space(icc.as_deref(), icc_description.as_deref(), components);
    let exif = ExifTags(source.exif.as_deref().map(exif::tags).unwrap_or_default());
    let mut meta = Metadata {
        has_alpha: source.has_alpha,
        color_space,
        icc_description,
        orientation,
        exif,
        jpeg,
        ..Metadata::bare(input.len() as u64, width, height, source.format)
    };
    if options.decodes_pixels() {
        // Faces need a larger copy than the colour and hash fields: decode once, at the larger.
        let side = if options.faces {
            faces::DETECTION_SIDE
        } else {
            ANALYSIS_SIDE
        };
        let upright = upright_image(source, orientation, side)?;
        if options.faces {
            let scale = f64::from(width) / f64::from(upright.width());
            let to_displayed = |n: u32| (f64::from(n) * scale).round() as u32;
            meta.faces = Some(
                faces::detect_faces(&upright)
                    .into_iter()
                    .map(|f| FaceBox {
                        x: to_displayed(f.x),
                        y: to_displayed(f.y),
                        width: to_displayed(f.width),
                        height: to_displayed(f.height),
                        ..f
                    })
                    .collect(),
            );
        }
        let small = fit_inside(&upright, ANALYSIS_SIDE)?;
        if options.colors {
            meta.palette = palette(&small);
            meta.dominant_color = meta.palette.first().map(|c| c.color.clone());
        }
        if options.hashes {
            meta.blurhash = Some(blurhash_of(&small));
            meta.thumbhash = Some(thumbhash_of(&small));
            meta.dhash = Some(format!("{:016x}", dhash(&small)));
        }
        if options.mini_preview {
            meta.mini_preview = Some(mini_preview(&small)?);
        }
    }
    Ok(meta)
}

/// The upright image, decoded (a JPEG at a reduced DCT scale) to at least `side` pixels long
/// where the source is that large; not resized further.
fn upright_image(source: decode::Source<'_>, orientation: u8, side: u32) -> Result<DynamicImage> {
    let (w, h) = (source.width, source.height);
    let scale = (f64::from(side) / f64::from(w.max(h))).min(1.0);
    let fit = |side: u32| ((f64::from(side) * scale).round() as u32).max(1);
    let mut image = source.decode(Some((fit(w), fit(h))))?;
    if orientation != 1 {
        image.apply_orientation(
            ExifOrientation::from_exif(orientation).unwrap_or(ExifOrientation::NoTransforms),
        );
    }
    Ok(image)
}

fn fit_inside(image: &DynamicImage, side: u32) -> Result<DynamicImage> {
    let (w, h) = image.dimensions();
    if w <= side && h <= side {
        return Ok(image.clone());
    }
    let scale = f64::from(side) / f64::from(w.max(h));
    let fit = |n: u32| ((f64::from(n) * scale).round() as u32).clamp(1, side);
    resize::resize(image, fit(w), fit(h))
}

/// ICC profiles state their colour space in the header; the description names the profile.
fn color_space(
    icc: Option<&[u8]>,
    description: Option<&str>,
    jpeg_components: Option<u8>,
) -> &'static str {
    let space = icc.and_then(|p| p.get(16..20));
    match (space, jpeg_components) {
        (Some(b"CMYK"), _) | (_, Some(4)) => "cmyk",
        (Some(b"GRAY"), _) | (_, Some(1)) => "b-w",
        (Some(b"RGB "), _) => {
            let description = description.unwrap_or("").to_ascii_lowercase();
            if description.contains("p3") {
                "display-p3"
            } else if description.contains("adobe rgb") || description.contains("adobergb") {
                "adobe-rgb"
            } else if description.contains("prophoto") || description.contains("romm") {
                "prophoto-rgb"
            } else if description.contains("srgb") || description.contains("iec61966") {
                "srgb"
            } else {
                "rgb"
            }
        }
        _ => "srgb",
    }
}

/// The `desc` tag of an ICC profile: ASCII in version 2 (`desc` type), UTF-16 in version 4
/// (`mluc`, first record).
fn icc_description(icc: &[u8]) -> Option<String> {
    let u32_at = |at: usize| -> Option<usize> {
        let b: [u8; 4] = icc.get(at..at.checked_add(4)?)?.try_into().ok()?;
        Some(u32::from_be_bytes(b) as usize)
    };
    let count = u32_at(128)?.min(1000);
    let (offset, size) = (0..count).find_map(|i| {
        let entry = 132 + 12 * i;
        (icc.get(entry..entry + 4)? == b"desc")
            .then(|| Some((u32_at(entry + 4)?, u32_at(entry + 8)?)))?
    })?;
    let tag = icc.get(offset..offset.checked_add(size)?)?;
    let text = match tag.get(0..4)? {
        b"desc" => {
            let len = u32::from_be_bytes(tag.get(8..12)?.try_into().ok()?) as usize;
            let ascii = tag.get(12..12usize.checked_add(len)?)?;
            let ascii = ascii.split(|&b| b == 0).next().unwrap_or_default();
            String::from_utf8_lossy(ascii).into_owned()
        }
        b"mluc" => {
            let record = tag.get(16..28)?;
            let len = u32::from_be_bytes(record[4..8].try_into().ok()?) as usize;
            let at = u32::from_be_bytes(record[8..12].try_into().ok()?) as usize;
            let utf16: Vec<u16> = tag
                .get(at..at.checked_add(len)?)?
                .chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]))
                .collect();
            String::from_utf16_lossy(&utf16)
        }
        _ => return None,
    };
    let text = text
        .trim_matches(|c: char| c.is_whitespace() || c == '\0')
        .to_owned();
    (!text.is_empty()).then_some(text)
}

/// Oklab: distances match perceived differences, so clusters are colours people tell apart.
fn oklab([r, g, b]: [u8; 3]) -> [f32; 3] {
    let lin = |c: u8| {
        let c = f32::from(c) / 255.0;
        if c <= 0.04045 {
            c / 12.92
        } else {
            ((c + 0.055) / 1.055).powf(2.4)
        }
    };
    let (r, g, b) = (lin(r), lin(g), lin(b));
    let l = (0.412_221_46 * r + 0.536_332_55 * g + 0.051_445_995 * b).cbrt();
    let m = (0.211_903_5 * r + 0.680_699_5 * g + 0.107_396_96 * b).cbrt();
    let s = (0.088_302_46 * r + 0.281_718_85 * g + 0.629_978_7 * b).cbrt();
    [
        0.210_454_26 * l + 0.793_617_8 * m - 0.004_072_047 * s,
        1.977_998_5 * l - 2.428_592_2 * m + 0.450_593_7 * s,
        0.025_904_037 * l + 0.782_771_77 * m - 0.808_675_77 * s,
    ]
}

fn distance(a: [f32; 3], b: [f32; 3]) -> f32 {
    (0..3).map(|i| (a[i] - b[i]).powi(2)).sum()
}

/// k-means (k = 5) in Oklab over the opaque pixels of the analysis image, seeded
/// deterministically (the median-lightness pixel, then repeatedly the pixel farthest from every
/// seed). Each colour reported is the mean sRGB of its cluster's pixels, so it is a colour the
/// image really shows, not the average of the whole image. Largest cluster first.
fn palette(image: &DynamicImage) -> Vec<PaletteColor> {
    let rgba = image.to_rgba8();
    let pixels: Vec<([u8; 3], [f32; 3])> = rgba
        .pixels()
        .filter(|p| p.0[3] >= 128)
        .map(|p| {
            let rgb = [p.0[0], p.0[1], p.0[2]];
            (rgb, oklab(rgb))
        })
        .collect();
    if pixels.is_empty() {
        return Vec::new();
    }
    let mut by_lightness: Vec<usize> = (0..pixels.len()).collect();
    by_lightness.sort_by(|&a, &b| pixels[a].1[0].total_cmp(&pixels[b].1[0]));
    let mut centres = vec![pixels[by_lightness[pixels.len() / 2]].1];
    while centres.len() < PALETTE_SIZE {
        let (farthest, gap) = pixels
            .iter()
            .map(|(_, lab)| {
                centres
                    .iter()
                    .map(|c| distance(*c, *lab))
                    .fold(f32::MAX, f32::min)
            })
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .unwrap_or((0, 0.0));
        // Fewer distinct colours than clusters: stop rather than split one colour.
        if gap < 1e-4 {
            break;
        }
        centres.push(pixels[farthest].1);
    }
    let mut assignment = vec![0usize; pixels.len()];
    for _ in 0..12 {
        for (slot, (_, lab)) in assignment.iter_mut().zip(&pixels) {
            *slot = (0..centres.len())
                .min_by(|&a, &b| distance(centres[a], *lab).total_cmp(&distance(centres[b], *lab)))
                .unwrap_or(0);
        }
        let mut sums = vec![([0f32; 3], 0usize); centres.len()];
        for (&slot, (_, lab)) in assignment.iter().zip(&pixels) {
            for (sum, value) in sums[slot].0.iter_mut().zip(lab) {
                *sum += value;
            }
            sums[slot].1 += 1;
        }
        for (centre, (sum, n)) in centres.iter_mut().zip(&sums) {
            if *n > 0 {
                *centre = sum.map(|s| s / *n as f32);
            }
        }
    }
    let mut clusters = vec![([0u64; 3], 0usize); centres.len()];
    for (&slot, (rgb, _)) in assignment.iter().zip(&pixels) {
        for (sum, &value) in clusters[slot].0.iter_mut().zip(rgb) {
            *sum += u64::from(value);
        }
        clusters[slot].1 += 1;
    }
    clusters.retain(|(_, n)| *n > 0);
    clusters.sort_by_key(|&(_, n)| std::cmp::Reverse(n));
    clusters
        .iter()
        .map(|(sum, n)| {
            let mean = |i: usize| (sum[i] as f64 / *n as f64).round() as u8;
            PaletteColor {
                color: format!("#{:02X}{:02X}{:02X}", mean(0), mean(1), mean(2)),
                share: *n as f32 / pixels.len() as f32,
            }
        })
        .collect()
}

fn blurhash_of(image: &DynamicImage) -> String {
    let small = fit_inside(image, 32)
        .unwrap_or_else(|_| image.clone())
        .to_rgba8();
    // 4×3 components, BlurHash's own recommendation for landscape images.
    blurhash::encode(4, 3, small.width(), small.height(), small.as_raw())
        .expect("4x3 components are in range")
}

fn thumbhash_of(image: &DynamicImage) -> String {
    let small = fit_inside(image, 100)
        .unwrap_or_else(|_| image.clone())
        .to_rgba8();
    let hash = thumbhash::rgba_to_thumb_hash(
        small.width() as usize,
        small.height() as usize,
        small.as_raw(),
    );
    base64::engine::general_purpose::STANDARD.encode(hash)
}

/// Difference hash: a 9×8 grey copy, one bit per pair of neighbours (left brighter than right).
fn dhash(image: &DynamicImage) -> u64 {
    let grey = resize::resize(&DynamicImage::ImageLuma8(image.to_luma8()), 9, 8)
        .map(|g| g.to_luma8())
        .unwrap_or_else(|_| {
            image
                .resize_exact(9, 8, image::imageops::FilterType::Triangle)
                .to_luma8()
        });
    let mut hash = 0u64;
    for y in 0..8 {
        for x in 0..8 {
            hash =
                (hash << 1) | u64::from(grey.get_pixel(x, y).0[0] > grey.get_pixel(x + 1, y).0[0]);
        }
    }
    hash
}

fn mini_preview(image: &DynamicImage) -> Result<String> {
    let small = fit_inside(image, PREVIEW_SIDE)?;
    let small = if small.color().has_alpha() {
        crate::ops::geometry::flatten(small, crate::query::Rgba([255, 255, 255, 255]))
    } else {
        small
    };
    let settings = EncodeSettings {
        format: Format::Jpeg,
        quality: PREVIEW_QUALITY,
        interlace: false,
        lossless: false,
        exif: None,
        icc: None,
    };
    let jpeg = encode::encode(&small, &settings)?;
    Ok(base64::engine::general_purpose::STANDARD.encode(jpeg))
}

/// The document `meta=true` answers with, field for field as Imagizer's documentation shows it.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ImagizerMeta<'a> {
    file_size: u64,
    width: u32,
    height: u32,
    file_type: &'a str,
    mime_type: &'a str,
    has_alpha: bool,
    color_space: &'a str,
    exif: &'a ExifTags,
    faces: &'a [ImagizerFace],
    #[serde(skip_serializing_if = "Option::is_none")]
    image_data: Option<String>,
    server: ImagizerServer,
    #[serde(skip_serializing_if = "Option::is_none")]
    dominate_color: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    jpeg: Option<ImagizerJpeg<'a>>,
}

/// A face box in Imagizer's spelling.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ImagizerFace {
    x_pos: u32,
    y_pos: u32,
    width: u32,
    height: u32,
}

#[derive(Serialize)]
struct ImagizerServer {
    host: String,
    ip: &'static str,
}

#[derive(Serialize)]
struct ImagizerJpeg<'a> {
    colorspace: u8,
    #[serde(rename = "sampling-factor")]
    sampling_factor: &'a str,
}

/// `meta` as Imagizer's JSON. `image_data` (the output, with `include_image_data=true`) is
/// embedded as base64.
pub(crate) fn imagizer_json(meta: &Metadata, image_data: Option<&[u8]>) -> Vec<u8> {
    let faces: Vec<ImagizerFace> = meta
        .faces
        .iter()
        .flatten()
        .map(|f| ImagizerFace {
            x_pos: f.x,
            y_pos: f.y,
            width: f.width,
            height: f.height,
        })
        .collect();
    let document = ImagizerMeta {
        file_size: meta.file_size,
        width: meta.width,
        height: meta.height,
        file_type: meta.format.name(),
        mime_type: meta.mime_type,
        has_alpha: meta.has_alpha,
        color_space: meta.color_space,
        exif: &meta.exif,
        faces: &faces,
        image_data: image_data.map(|d| base64::engine::general_purpose::STANDARD.encode(d)),
        server: ImagizerServer {
            host: host_name(),
            // Imagizer's examples always show an empty address.
            ip: "",
        },
        dominate_color: meta.dominant_color.as_deref(),
        jpeg: meta.jpeg.as_ref().map(|j| ImagizerJpeg {
            colorspace: j.colorspace,
            sampling_factor: &j.sampling_factor,
        }),
    };
    serde_json::to_vec(&document).expect("metadata serialises")
}

/// The machine's name, as Imagizer's `server.host` reports it.
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_two_colour_image_gives_both_colours_largest_first() {
        let mut image = image::RgbImage::from_pixel(40, 10, image::Rgb([200, 30, 30]));
        for x in 30..40 {
            for y in 0..10 {
                image.put_pixel(x, y, image::Rgb([20, 40, 200]));
            }
        }
        let colors = palette(&DynamicImage::ImageRgb8(image));
        assert_eq!(colors.len(), 2);
        assert_eq!(colors[0].color, "#C81E1E");
        assert_eq!(colors[1].color, "#1428C8");
        assert!((colors[0].share - 0.75).abs() < 1e-6);
    }

    #[test]
    fn dhash_tells_a_gradient_from_its_mirror() {
        let gradient = image::GrayImage::from_fn(64, 64, |x, _| image::Luma([(x * 4) as u8]));
        let forward = dhash(&DynamicImage::ImageLuma8(gradient.clone()));
        let mirrored = dhash(&DynamicImage::ImageLuma8(image::imageops::flip_horizontal(
            &gradient,
        )));
        assert_eq!(forward, 0);
        assert_eq!(mirrored, u64::MAX);
    }
}
