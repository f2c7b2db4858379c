//! Opening an input: format detection, header, limits, then (separately) the pixels.

use std::io::Cursor;

use image::codecs::{gif::GifDecoder, png::PngDecoder, webp::WebPDecoder};
use image::{AnimationDecoder, DynamicImage, ImageDecoder, ImageError, RgbaImage};

use crate::error::{Error, ErrorKind, Result};
use crate::exif;
use crate::format::Format;
use crate::jpeg::{self, JpegHeader};
use crate::limits::Limits;
use crate::ops::geometry::{self, Region};
use crate::resize;

/// An input whose header has been read and checked against the limits; no pixel is decoded yet.
pub(crate) struct Source<'a> {
    /// The encoded input.
    pub bytes: &'a [u8],
    pub format: Format,
    /// Size as stored, before the EXIF orientation is applied.
    pub width: u32,
    pub height: u32,
    /// EXIF orientation 1-8 (1 when absent).
    pub orientation: u8,
    /// Raw EXIF (a TIFF structure).
    pub exif: Option<Vec<u8>>,
    pub icc: Option<Vec<u8>>,
    /// The quality the source JPEG was encoded with, estimated from its quantization tables.
    pub jpeg_quality: Option<u8>,
    /// The decoder will give an alpha channel.
    pub has_alpha: bool,
    pending: Pending<'a>,
}

enum Pending<'a> {
    Jpeg(JpegHeader),
    Generic(Box<dyn ImageDecoder + 'a>),
    /// HEIF/HEIC, AVIF, JPEG XL and TIFF, opened by libvips.
    #[cfg(feature = "vips")]
    Vips(crate::vips::Loaded<'a>),
}

/// Reads the header and enforces `limits`; fails before allocating pixels.
pub(crate) fn open<'a>(bytes: &'a [u8], limits: &Limits) -> Result<Source<'a>> {
    open_page(bytes, limits, 0)
}

/// [`open`] at `page` of a multi-page TIFF or a HEIF/AVIF holding several images (0 is the
/// first, or the primary image); other formats have one page and ignore it.
pub(crate) fn open_page<'a>(bytes: &'a [u8], limits: &Limits, page: u32) -> Result<Source<'a>> {
    if bytes.len() as u64 > limits.max_input_bytes {
        return Err(Error::new(
            ErrorKind::LimitExceeded,
            format!(
                "input is {} bytes; the limit is {}",
                bytes.len(),
                limits.max_input_bytes
            ),
        ));
    }
    if bytes.is_empty() {
        return Err(Error::invalid_image("input is empty"));
    }
    let format = Format::detect(bytes).ok_or_else(|| {
        Error::new(
            ErrorKind::UnsupportedFormat,
            "input is not an image in a format picsmith recognises",
        )
    })?;
    if !format.can_decode() {
        let message = if Format::VIPS_INPUTS.contains(&format) {
            format!(
                "{} input needs picsmith built with the `vips` feature (libvips); this build reads JPEG, PNG, WebP and GIF",
                format.name()
            )
        } else {
            format!(
                "{} input is not supported by this build (it reads {})",
                format.name(),
                Format::decodable_names()
            )
        };
        return Err(Error::new(ErrorKind::UnsupportedFormat, message));
    }
    #[cfg(feature = "vips")]
    let opened_by_vips = crate::vips::reads(format);
    #[cfg(not(feature = "vips"))]
    let opened_by_vips = false;
    let mut source = if opened_by_vips {
        open_vips(bytes, format, page)?
    } else if format == Format::Jpeg {
        let mut header = jpeg::read_header(bytes)?;
        Source {
            bytes,
            format,
            width: header.width,
            height: header.height,
            orientation: 1,
            exif: header.exif.take(),
            icc: header.icc.take(),
            jpeg_quality: header.luma_quant.as_ref().map(jpeg::estimate_quality),
            has_alpha: false,
            pending: Pending::Jpeg(header),
        }
    } else {
        open_generic(bytes, format, limits)?
    };
    let pixels = source.width as u64 * source.height as u64;
    if pixels > limits.max_source_pixels {
        return Err(Error::new(
            ErrorKind::LimitExceeded,
            format!(
                "source is {}x{} ({pixels} pixels); the limit is {} pixels",
                source.width, source.height, limits.max_source_pixels
            ),
        ));
    }
    if !opened_by_vips {
        source.orientation = source
            .exif
            .as_deref()
            .and_then(exif::orientation)
            .unwrap_or(1);
    }
    Ok(source)
}

/// HEIF/HEIC, AVIF, JPEG XL and TIFF through libvips. HEIF and AVIF place their orientation in
/// the container (`irot`/`imir`), which libheif applies while decoding, and JPEG XL in its
/// codestream, which libjxl applies: an EXIF Orientation tag in those files only repeats it
/// (iPhone photos carry both), so it is not applied a second time and reads 1 in the EXIF
/// that travels on. TIFF keeps its own Orientation tag, applied like JPEG's EXIF one.
#[cfg(feature = "vips")]
fn open_vips(bytes: &[u8], format: Format, page: u32) -> Result<Source<'_>> {
    let loaded = crate::vips::load(bytes, format, page)?;
    let (width, height) = loaded.size();
    let orientation = loaded.orientation();
    let mut exif = loaded.exif();
    if format != Format::Tiff
        && let Some(tiff) = exif.as_mut()
    {
        exif::reset_orientation(tiff);
    }
    Ok(Source {
        bytes,
        format,
        width,
        height,
        orientation,
        exif,
        icc: loaded.icc(),
        jpeg_quality: None,
        has_alpha: loaded.has_alpha(),
        pending: Pending::Vips(loaded),
    })
}

#[cfg(not(feature = "vips"))]
fn open_vips(_bytes: &[u8], format: Format, _page: u32) -> Result<Source<'_>> {
    Err(Error::internal(format!("no libvips decoder for {format}")))
}

fn open_generic<'a>(bytes: &'a [u8], format: Format, limits: &Limits) -> Result<Source<'a>> {
    let reader = Cursor::new(bytes);
    let mut decoder: Box<dyn ImageDecoder + 'a> = match format {
        Format::Png => Box::new(PngDecoder::new(reader).map_err(decode_error)?),
        Format::Gif => Box::new(GifDecoder::new(reader).map_err(decode_error)?),
        Format::Webp => Box::new(WebPDecoder::new(reader).map_err(decode_error)?),
        other => return Err(Error::internal(format!("no generic decoder for {other}"))),
    };
    decoder
        .set_limits(codec_limits(limits))
        .map_err(decode_error)?;
    let (width, height) = decoder.dimensions();
    if width == 0 || height == 0 {
        return Err(Error::invalid_image(format!(
            "{format} declares a zero width or height"
        )));
    }
    // Metadata is best effort: a damaged chunk must not cost the image.
    let icc = decoder.icc_profile().ok().flatten();
    let exif = decoder
        .exif_metadata()
        .ok()
        .flatten()
        .map(exif::without_prefix);
    Ok(Source {
        bytes,
        format,
        width,
        height,
        orientation: 1,
        exif,
        icc,
        jpeg_quality: None,
        has_alpha: decoder.color_type().has_alpha(),
        pending: Pending::Generic(decoder),
    })
}

fn codec_limits(limits: &Limits) -> image::Limits {
    let mut codec_limits = image::Limits::default();
    // Room for the largest allowed image at 16-bit RGBA, plus the codec's own buffers.
    codec_limits.max_alloc = Some(
        limits
            .max_source_pixels
            .saturating_mul(8)
            .saturating_add(64 << 20),
    );
    codec_limits
}

fn decode_error(err: ImageError) -> Error {
    match err {
        ImageError::Limits(e) => Error::new(
            ErrorKind::LimitExceeded,
            format!("image exceeds a decoder limit: {e}"),
        ),
        ImageError::Unsupported(e) => Error::new(
            ErrorKind::UnsupportedFormat,
            format!("unsupported image feature: {e}"),
        ),
        ImageError::IoError(e) => {
            Error::invalid_image(format!("image is truncated or unreadable: {e}"))
        }
        other => Error::invalid_image(format!("image is corrupt: {other}")),
    }
}

impl Source<'_> {
    /// The JPEG header, for a JPEG source.
    pub fn jpeg_header(&self) -> Option<&JpegHeader> {
        match &self.pending {
            Pending::Jpeg(header) => Some(header),
            _ => None,
        }
    }

    /// The ICC profile that describes the decoded pixels, for the output: the source's own,
    /// except where the decoder converts to sRGB (the libvips path), which needs none.
    pub fn take_output_icc(&mut self) -> Option<Vec<u8>> {
        let icc = self.icc.take();
        match self.pending {
            #[cfg(feature = "vips")]
            Pending::Vips(_) => None,
            _ => icc,
        }
    }

    /// Decodes to 8-bit pixels. `min_size` (in stored orientation) lets JPEG decode at the
    /// smallest DCT scale (1/8, 1/4, 1/2) that still covers it.
    pub fn decode(self, min_size: Option<(u32, u32)>) -> Result<DynamicImage> {
        Ok(self.decode_scaled(min_size)?.image)
    }

    /// [`decode`](Self::decode), and the scale the pixels were decoded at.
    pub fn decode_scaled(self, min_size: Option<(u32, u32)>) -> Result<Decoded> {
        let mut scale = 1.0;
        let image = match self.pending {
            Pending::Jpeg(header) => {
                let eighths =
                    min_size.map_or(8, |(w, h)| dct_scale(header.width, header.height, w, h));
                scale = f64::from(eighths) / 8.0;
                jpeg::decode(self.bytes, &header, eighths)?
            }
            Pending::Generic(decoder) => {
                let image = DynamicImage::from_decoder(decoder).map_err(decode_error)?;
                if self.format == Format::Gif {
                    // Only the first frame is shown, but a GIF cut short is still corrupt.
                    gif_header(self.bytes)?;
                }
                image
            }
            #[cfg(feature = "vips")]
            Pending::Vips(loaded) => loaded.decode()?,
        };
        Ok(Decoded {
            image: to_8bit(image),
            scale,
        })
    }

    /// For an 8-bit gray or RGB JPEG, how it decodes straight to `size` (stored orientation):
    /// at the smallest DCT scale that covers `size`, then resampled from the source's exact
    /// extent, as [`geometry::size_and_crop`] resizes. `None` for other sources and when the
    /// decoded size is already `size`.
    pub fn jpeg_shrink(&self, size: (u32, u32)) -> Option<(&JpegHeader, jpeg::Shrink)> {
        let header = self.jpeg_header().filter(|header| jpeg::is_plain(header))?;
        let eighths = dct_scale(header.width, header.height, size.0, size.1);
        let decoded = jpeg::scaled_size(header, eighths);
        let source = (header.width, header.height);
        let extent = resize::exact_extent(source, f64::from(eighths) / 8.0, decoded);
        (decoded != size).then_some((
            header,
            jpeg::Shrink {
                eighths,
                extent,
                size,
            },
        ))
    }

    /// Decodes only `region` (x, y, width, height of the stored image) at full scale. A JPEG
    /// leaves most of the rest undecoded ([`jpeg::decode_region`]); other formats are decoded
    /// whole and cut.
    pub fn decode_region(self, region: Region) -> Result<DynamicImage> {
        match &self.pending {
            Pending::Jpeg(header) => Ok(to_8bit(jpeg::decode_region(
                self.bytes,
                header,
                8,
                Some(region),
            )?)),
            _ => Ok(geometry::crop(&self.decode(None)?, region)),
        }
    }
}

/// Pixels decoded from a source, possibly shrunk while decoding.
pub(crate) struct Decoded {
    pub image: DynamicImage,
    /// Decoded size over the source's size (1 unless a JPEG shrank while decoding). libjpeg
    /// rounds the scaled size up, so the source covers `side · scale` of the `⌈side · scale⌉`
    /// pixels: resampling from that exact extent keeps the output aligned with the source.
    pub scale: f64,
}

/// The smallest n/8 (n = 1, 2, 4, 8) at which libjpeg's scaled size, ceil(side·n/8), still
/// covers the wanted size on both axes.
fn dct_scale(width: u32, height: u32, want_w: u32, want_h: u32) -> u8 {
    let scaled = |side: u32, n: u32| (side as u64 * n as u64).div_ceil(8);
    [1u8, 2, 4]
        .into_iter()
        .find(|&n| {
            scaled(width, n as u32) >= want_w as u64 && scaled(height, n as u32) >= want_h as u64
        })
        .unwrap_or(8)
}

/// What a GIF or WebP container says about its animation, read without decoding a pixel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AnimationHeader {
    /// Number of frames (1 for a still image).
    pub frames: u32,
    /// How many times the animation plays in all; `None` loops forever.
    pub plays: Option<u32>,
    /// One play, in milliseconds: the sum of the frame delays as stored.
    pub duration_ms: u64,
}

/// One frame of an animation, composited onto the full canvas.
pub(crate) struct AnimationFrame {
    pub image: RgbaImage,
    /// How long the frame shows, in milliseconds, as stored (0 included).
    pub delay_ms: u32,
}

impl<'a> Source<'a> {
    /// The frame and loop counts of a GIF or WebP; `None` for formats without animation.
    /// Walks the whole container (a truncated GIF fails here) but decodes no pixel.
    pub fn animation_header(&self) -> Result<Option<AnimationHeader>> {
        match self.format {
            Format::Gif => gif_header(self.bytes).map(Some),
            Format::Webp => webp_header(self.bytes).map(Some),
            _ => Ok(None),
        }
    }

    /// Refuses an animation with more frames, or more decoded pixels in all, than `limits`
    /// allow.
    pub fn check_animation(&self, header: &AnimationHeader, limits: &Limits) -> Result<()> {
        check_animation_size(self.width, self.height, header.frames, limits)
    }

    /// Decodes every frame of a GIF or WebP, each composited onto the full canvas (GIF disposal
    /// methods and WebP blending applied), one at a time as the iterator advances.
    pub fn frames(
        self,
        header: &AnimationHeader,
        limits: &Limits,
    ) -> Result<impl Iterator<Item = Result<AnimationFrame>> + 'a + use<'a>> {
        let reader = Cursor::new(self.bytes);
        let frames = match self.format {
            Format::Gif => {
                let mut decoder = GifDecoder::new(reader).map_err(decode_error)?;
                decoder
                    .set_limits(codec_limits(limits))
                    .map_err(decode_error)?;
                decoder.into_frames()
            }
            Format::Webp => {
                let mut decoder = WebPDecoder::new(reader).map_err(decode_error)?;
                decoder
                    .set_limits(codec_limits(limits))
                    .map_err(decode_error)?;
                decoder.into_frames()
            }
            other => return Err(Error::internal(format!("{other} has no frames to decode"))),
        };
        Ok(frames.take(header.frames as usize).map(|frame| {
            let frame = frame.map_err(decode_error)?;
            let (numer, denom) = frame.delay().numer_denom_ms();
            let delay_ms = numer.checked_div(denom).unwrap_or(0);
            Ok(AnimationFrame {
                image: frame.into_buffer(),
                delay_ms,
            })
        }))
    }
}

/// The frame-count and pixel-budget checks of an animation of `frames` frames of
/// `width`×`height`.
pub(crate) fn check_animation_size(
    width: u32,
    height: u32,
    frames: u32,
    limits: &Limits,
) -> Result<()> {
    if frames > limits.max_animation_frames {
        return Err(Error::new(
            ErrorKind::LimitExceeded,
            format!(
                "animation has {frames} frames; the limit is {}",
                limits.max_animation_frames
            ),
        ));
    }
    let pixels = width as u64 * height as u64 * frames as u64;
    if pixels > limits.max_animation_pixels {
        return Err(Error::new(
            ErrorKind::LimitExceeded,
            format!(
                "animation is {frames} frames of {width}x{height} ({pixels} pixels); the limit is {} pixels",
                limits.max_animation_pixels
            ),
        ));
    }
    Ok(())
}

/// Counts a GIF's frames by walking them without decompressing; a GIF cut short fails here.
fn gif_header(bytes: &[u8]) -> Result<AnimationHeader> {
    let mut options = gif::DecodeOptions::new();
    options.skip_frame_decoding(true);
    let mut decoder = options
        .read_info(bytes)
        .map_err(|e| Error::invalid_image(format!("GIF is corrupt: {e}")))?;
    let mut frames = 0u32;
    let mut duration_ms = 0u64;
    while let Some(frame) = decoder
        .read_next_frame()
        .map_err(|e| Error::invalid_image(format!("GIF is corrupt or truncated: {e}")))?
    {
        frames = frames.saturating_add(1);
        duration_ms += u64::from(frame.delay) * 10;
    }
    // The NETSCAPE extension counts repeats after the first play; without it a GIF plays once.
    let plays = match decoder.repeat() {
        gif::Repeat::Infinite => None,
        gif::Repeat::Finite(repeats) => Some(u32::from(repeats) + 1),
    };
    Ok(AnimationHeader {
        frames,
        plays,
        duration_ms,
    })
}

/// Counts a WebP's ANMF chunks from the chunk headers alone.
fn webp_header(bytes: &[u8]) -> Result<AnimationHeader> {
    let decoder = image_webp::WebPDecoder::new(Cursor::new(bytes))
        .map_err(|e| Error::invalid_image(format!("WebP is corrupt: {e}")))?;
    if !decoder.is_animated() {
        return Ok(AnimationHeader {
            frames: 1,
            plays: Some(1),
            duration_ms: 0,
        });
    }
    let plays = match decoder.loop_count() {
        image_webp::LoopCount::Forever => None,
        image_webp::LoopCount::Times(n) => Some(u32::from(n.get())),
    };
    Ok(AnimationHeader {
        frames: decoder.num_frames(),
        plays,
        duration_ms: decoder.loop_duration(),
    })
}

/// The pipeline works on 8-bit gray, gray+alpha, RGB or RGBA.
fn to_8bit(image: DynamicImage) -> DynamicImage {
    match image {
        DynamicImage::ImageLuma8(_)
        | DynamicImage::ImageLumaA8(_)
        | DynamicImage::ImageRgb8(_)
        | DynamicImage::ImageRgba8(_) => image,
        DynamicImage::ImageLuma16(_) => DynamicImage::ImageLuma8(image.to_luma8()),
        DynamicImage::ImageLumaA16(_) => DynamicImage::ImageLumaA8(image.to_luma_alpha8()),
        other if other.color().has_alpha() => DynamicImage::ImageRgba8(other.to_rgba8()),
        other => DynamicImage::ImageRgb8(other.to_rgb8()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dct_scale_keeps_at_least_the_target() {
        // W1: 1/4 would give 682 px < 720, so 1/2 (1363x1113).
        assert_eq!(dct_scale(2725, 2225, 720, 588), 4);
        assert_eq!(dct_scale(2725, 2225, 341, 279), 1);
        assert_eq!(dct_scale(2725, 2225, 342, 279), 2);
        assert_eq!(dct_scale(2725, 2225, 2725, 2225), 8);
        assert_eq!(dct_scale(100, 100, 13, 13), 1);
        assert_eq!(dct_scale(100, 100, 14, 13), 2);
    }
}
