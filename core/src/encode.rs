//! Encoding the final pixels, with the metadata that should travel with them.

use image::codecs::gif::GifEncoder;
use image::codecs::png::{CompressionType, FilterType, PngEncoder};
use image::{DynamicImage, ExtendedColorType, ImageEncoder};
use img_parts::{Bytes, ImageEXIF, ImageICC};
use rgb::FromSlice;

use crate::error::{Error, ErrorKind, Result};
use crate::format::Format;
use crate::jpeg::{self, JpegSettings};

/// rav1e speed 8 (of 0-10) at 8 bits: a 1.1-megapixel photo at quality 80 encodes in 0.55 s on
/// two cores. 10 bits (ravif's default) took 0.98 s for the same PSNR and more bytes; speed 6
/// costs another 40 % for 1.7 % fewer bytes.
const AVIF_SPEED: u8 = 8;
/// libwebp refuses larger images.
const WEBP_MAX_SIDE: u32 = 16383;

pub(crate) struct EncodeSettings<'a> {
    pub format: Format,
    pub quality: u8,
    /// Progressive JPEG or Adam7-interlaced PNG.
    pub interlace: bool,
    /// Lossless WebP.
    pub lossless: bool,
    pub exif: Option<&'a [u8]>,
    pub icc: Option<&'a [u8]>,
}

/// Encodes 8-bit pixels. JPEG needs alpha already removed.
pub(crate) fn encode(image: &DynamicImage, settings: &EncodeSettings<'_>) -> Result<Vec<u8>> {
    let (width, height) = (image.width(), image.height());
    let gray = matches!(
        image,
        DynamicImage::ImageLuma8(_) | DynamicImage::ImageLumaA8(_)
    );
    // A profile is kept only where it describes the pixels written: gray for gray, RGB for RGB.
    let icc = settings
        .icc
        .filter(|icc| icc_matches(icc, gray && keeps_gray(settings.format)));
    match settings.format {
        Format::Jpeg => jpeg::encode(
            image,
            &JpegSettings {
                quality: settings.quality,
                progressive: settings.interlace,
                exif: settings.exif,
                icc,
            },
        ),
        Format::Png => {
            let png = if settings.interlace {
                encode_png_interlaced(image)?
            } else {
                encode_png(image)?
            };
            embed_metadata(Format::Png, png, settings.exif, icc)
        }
        Format::Webp => {
            if width > WEBP_MAX_SIDE || height > WEBP_MAX_SIDE {
                return Err(Error::new(
                    ErrorKind::LimitExceeded,
                    format!("WebP output is at most {WEBP_MAX_SIDE} pixels a side; asked for {width}x{height}"),
                ));
            }
            let webp = encode_webp(image, settings.quality, settings.lossless)?;
            embed_metadata(Format::Webp, webp, settings.exif, icc)
        }
        Format::Avif => encode_avif(image, settings.quality, settings.exif),
        Format::Gif => encode_gif(image),
        other => Err(Error::new(
            ErrorKind::UnsupportedFormat,
            format!("{other} output is not supported by this build"),
        )),
    }
}

/// Whether the encoder writes gray pixels as gray (the others expand them to RGB).
fn keeps_gray(format: Format) -> bool {
    matches!(format, Format::Jpeg | Format::Png)
}

/// The colour space signature at bytes 16..20 of an ICC header.
fn icc_matches(icc: &[u8], gray: bool) -> bool {
    match icc.get(16..20) {
        Some(b"GRAY") => gray,
        Some(b"RGB ") => !gray,
        _ => false,
    }
}

fn codec_error(format: Format, err: impl std::fmt::Display) -> Error {
    Error::internal(format!("{format} encoder failed: {err}"))
}

fn encode_png(image: &DynamicImage) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    // fdeflate's fast mode with adaptive filtering: several times faster than zlib level 6 for
    // a few percent in size.
    let encoder =
        PngEncoder::new_with_quality(&mut out, CompressionType::Fast, FilterType::Adaptive);
    encoder
        .write_image(
            image.as_bytes(),
            image.width(),
            image.height(),
            image.color().into(),
        )
        .map_err(|e| codec_error(Format::Png, e))?;
    Ok(out)
}

/// The png crate writes no Adam7, so interlaced PNG goes through lodepng.
fn encode_png_interlaced(image: &DynamicImage) -> Result<Vec<u8>> {
    let color = match image {
        DynamicImage::ImageLuma8(_) => lodepng::ColorType::GREY,
        DynamicImage::ImageLumaA8(_) => lodepng::ColorType::GREY_ALPHA,
        DynamicImage::ImageRgb8(_) => lodepng::ColorType::RGB,
        DynamicImage::ImageRgba8(_) => lodepng::ColorType::RGBA,
        _ => return Err(Error::internal("PNG encoder needs 8-bit pixels")),
    };
    let mut encoder = lodepng::Encoder::new();
    encoder.set_auto_convert(false);
    encoder.info_raw_mut().colortype = color;
    encoder.info_raw_mut().set_bitdepth(8);
    encoder.info_png_mut().color.colortype = color;
    encoder.info_png_mut().color.set_bitdepth(8);
    encoder.info_png_mut().interlace_method = 1;
    encoder
        .encode(
            image.as_bytes(),
            image.width() as usize,
            image.height() as usize,
        )
        .map_err(|e| codec_error(Format::Png, e))
}

fn encode_webp(image: &DynamicImage, quality: u8, lossless: bool) -> Result<Vec<u8>> {
    let expanded;
    let image = match image {
        DynamicImage::ImageRgb8(_) | DynamicImage::ImageRgba8(_) => image,
        other if other.color().has_alpha() => {
            expanded = DynamicImage::ImageRgba8(other.to_rgba8());
            &expanded
        }
        other => {
            expanded = DynamicImage::ImageRgb8(other.to_rgb8());
            &expanded
        }
    };
    let encoder = webp::Encoder::from_image(image).map_err(|e| codec_error(Format::Webp, e))?;
    let memory = if lossless {
        encoder.encode_lossless()
    } else {
        encoder.encode(quality as f32)
    };
    Ok(memory.to_vec())
}

fn encode_avif(image: &DynamicImage, quality: u8, exif: Option<&[u8]>) -> Result<Vec<u8>> {
    let mut encoder = ravif::Encoder::new()
        .with_quality(quality as f32)
        .with_speed(AVIF_SPEED)
        .with_bit_depth(ravif::BitDepth::Eight);
    if let Some(exif) = exif {
        encoder = encoder.with_exif(exif);
    }
    let (w, h) = (image.width() as usize, image.height() as usize);
    let encoded = if image.color().has_alpha() {
        let converted;
        let rgba = match image {
            DynamicImage::ImageRgba8(buffer) => buffer,
            other => {
                converted = other.to_rgba8();
                &converted
            }
        };
        encoder.encode_rgba(ravif::Img::new(rgba.as_raw().as_rgba(), w, h))
    } else {
        let converted;
        let rgb = match image {
            DynamicImage::ImageRgb8(buffer) => buffer,
            other => {
                converted = other.to_rgb8();
                &converted
            }
        };
        encoder.encode_rgb(ravif::Img::new(rgb.as_raw().as_rgb(), w, h))
    };
    Ok(encoded.map_err(|e| codec_error(Format::Avif, e))?.avif_file)
}

fn encode_gif(image: &DynamicImage) -> Result<Vec<u8>> {
    let converted;
    let rgba = match image {
        DynamicImage::ImageRgba8(buffer) => buffer,
        other => {
            converted = other.to_rgba8();
            &converted
        }
    };
    let mut out = Vec::new();
    // Speed 10 of NeuQuant's 1-30: sharp-looking palettes at a tenth of the slowest setting's time.
    GifEncoder::new_with_speed(&mut out, 10)
        .encode(
            rgba.as_raw(),
            image.width(),
            image.height(),
            ExtendedColorType::Rgba8,
        )
        .map_err(|e| codec_error(Format::Gif, e))?;
    Ok(out)
}

/// Adds EXIF and ICC chunks to an encoded PNG or WebP.
fn embed_metadata(
    format: Format,
    encoded: Vec<u8>,
    exif: Option<&[u8]>,
    icc: Option<&[u8]>,
) -> Result<Vec<u8>> {
    if exif.is_none() && icc.is_none() {
        return Ok(encoded);
    }
    let bytes = Bytes::from(encoded);
    let fail = |e: img_parts::Error| codec_error(format, format!("could not add metadata: {e}"));
    let out = match format {
        Format::Png => {
            let mut png = img_parts::png::Png::from_bytes(bytes).map_err(fail)?;
            png.set_icc_profile(icc.map(Bytes::copy_from_slice));
            png.set_exif(exif.map(Bytes::copy_from_slice));
            png.encoder().bytes()
        }
        Format::Webp => {
            let mut webp = img_parts::webp::WebP::from_bytes(bytes).map_err(fail)?;
            webp.set_icc_profile(icc.map(Bytes::copy_from_slice));
            webp.set_exif(exif.map(Bytes::copy_from_slice));
            webp.encoder().bytes()
        }
        other => return Err(Error::internal(format!("no metadata writer for {other}"))),
    };
    Ok(out.to_vec())
}
