//! Encoding the final pixels, with the metadata that should travel with them.

use image::codecs::gif::GifEncoder;
use image::codecs::png::{CompressionType, FilterType, PngEncoder};
use image::{DynamicImage, ExtendedColorType, ImageEncoder, RgbImage, RgbaImage};
use img_parts::{Bytes, ImageEXIF, ImageICC};
use std::borrow::Cow;
use std::mem::MaybeUninit;
use std::ptr::NonNull;

use crate::error::{Error, ErrorKind, Result};
use crate::format::Format;
use crate::jpeg::{self, JpegSettings};
use crate::mp4;
use crate::rows::RowSink;
use mozjpeg_sys::J_COLOR_SPACE as ColorSpace;

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
    let icc = output_icc(settings, gray);
    match settings.format {
        Format::Jpeg => jpeg::encode(image, &jpeg_settings(settings, icc)),
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
                    format!(
                        "WebP output is at most {WEBP_MAX_SIDE} pixels a side; asked for {width}x{height}"
                    ),
                ));
            }
            let two_threads = crate::cores::one_to_spare();
            let webp = encode_webp(image, settings.quality, settings.lossless, two_threads)?;
            embed_metadata(Format::Webp, webp, settings.exif, icc)
        }
        Format::Avif => crate::avif::encode(image, settings.quality, icc, settings.exif),
        Format::Gif => encode_gif(image),
        #[cfg(feature = "vips")]
        Format::Jxl => crate::vips::encode_jxl(image, settings.quality, settings.lossless, icc),
        #[cfg(not(feature = "vips"))]
        Format::Jxl => Err(Error::new(
            ErrorKind::UnsupportedFormat,
            "jxl output needs picsmith built with the `vips` feature (libvips)",
        )),
        other => Err(Error::new(
            ErrorKind::UnsupportedFormat,
            format!("{other} output is not supported by this build"),
        )),
    }
}

/// Encodes 8-bit gray or RGB rows as JPEG while `produce` makes them (see
/// [`jpeg::encode_rows`]): what [`encode`] of the finished image writes.
pub(crate) fn encode_jpeg_rows(
    width: u32,
    height: u32,
    gray: bool,
    settings: &EncodeSettings<'_>,
    produce: impl FnOnce(&mut RowSink) -> Result<()> + Send,
) -> Result<Vec<u8>> {
    let icc = output_icc(settings, gray);
    let color_space = if gray {
        ColorSpace::JCS_GRAYSCALE
    } else {
        ColorSpace::JCS_RGB
    };
    let settings = jpeg_settings(settings, icc);
    jpeg::encode_rows(color_space, width, height, &settings, produce)
}

/// Decodes a gray or RGB JPEG straight to the size `shrink` says and encodes it as JPEG,
/// each band of rows as it is resized (see [`jpeg::encode_resized`]).
pub(crate) fn resized_jpeg(
    bytes: &[u8],
    header: &jpeg::JpegHeader,
    shrink: &jpeg::Shrink,
    settings: &EncodeSettings<'_>,
) -> Result<Vec<u8>> {
    let icc = output_icc(settings, header.components == 1);
    jpeg::encode_resized(bytes, header, shrink, &jpeg_settings(settings, icc))
}

/// Re-encodes a whole gray or RGB JPEG as JPEG without holding its pixels (see
/// [`jpeg::transcode`]): what [`encode`] of its full-size decode writes.
pub(crate) fn transcode_jpeg(
    bytes: &[u8],
    header: &jpeg::JpegHeader,
    settings: &EncodeSettings<'_>,
) -> Result<Vec<u8>> {
    let icc = output_icc(settings, header.components == 1);
    jpeg::transcode(bytes, header, &jpeg_settings(settings, icc))
}

fn jpeg_settings<'a>(settings: &EncodeSettings<'a>, icc: Option<&'a [u8]>) -> JpegSettings<'a> {
    JpegSettings {
        quality: settings.quality,
        progressive: settings.interlace,
        exif: settings.exif,
        icc,
    }
}

/// A profile is kept only where it describes the pixels written: gray for gray, RGB for RGB.
fn output_icc<'a>(settings: &EncodeSettings<'a>, gray: bool) -> Option<&'a [u8]> {
    settings
        .icc
        .filter(|icc| icc_matches(icc, gray && keeps_gray(settings.format)))
}

/// Whether the encoder writes gray pixels as gray (the others expand them to RGB).
fn keeps_gray(format: Format) -> bool {
    matches!(format, Format::Jpeg | Format::Png | Format::Jxl)
}

/// The colour space signature at bytes 16..20 of an ICC header.
fn icc_matches(icc: &[u8], gray: bool) -> bool {
    match icc.get(16..20) {
        Some(b"GRAY") => gray,
        Some(b"RGB ") => !gray,
        _ => false,
    }
}

pub(crate) fn codec_error(format: Format, err: impl std::fmt::Display) -> Error {
    Error::internal(format!("{format} encoder failed: {err}"))
}

/// A C library's message, when it gave one.
///
/// # Safety
/// `text` is null or a NUL-terminated string that stays valid during the call.
pub(crate) unsafe fn c_text(text: *const std::ffi::c_char) -> Option<String> {
    // SAFETY: as the caller promises.
    (!text.is_null()).then(|| {
        unsafe { std::ffi::CStr::from_ptr(text) }
            .to_string_lossy()
            .into_owned()
    })
}

fn encode_png(image: &DynamicImage) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    // zlib level 6 with a filter chosen per row: libpng's defaults, so Pillow's, and the
    // level sharp and libvips use. fdeflate's fast mode took a fifth to a tenth of the time,
    // but its files were 8 % (a 720x588 photo), 10 % (W4) and 25 % (a 576x384 photo with
    // alpha) larger.
    let encoder =
        PngEncoder::new_with_quality(&mut out, CompressionType::Default, FilterType::Adaptive);
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

/// `two_threads`: libwebp may take a second thread (`thread_level`): lossy coding for half the
/// macroblock rows (as patched in third_party/libwebp-sys) and for the alpha plane, lossless
/// coding for half the configurations it tries. The bytes are the same either way.
fn encode_webp(
    image: &DynamicImage,
    quality: u8,
    lossless: bool,
    two_threads: bool,
) -> Result<Vec<u8>> {
    use libwebp_sys as sys;
    let fail = |what: String| codec_error(Format::Webp, what);
    let mut config =
        sys::WebPConfig::new().map_err(|_| fail("could not set up the encoder".into()))?;
    config.lossless = i32::from(lossless);
    config.alpha_compression = i32::from(!lossless);
    // Lossless reads quality as its effort: 75, libwebp's default.
    config.quality = if lossless { 75.0 } else { f32::from(quality) };
    config.thread_level = i32::from(two_threads);
    let mut picture = WebpPicture::of(image, lossless)?;
    let mut writer = MaybeUninit::<sys::WebPMemoryWriter>::uninit();
    // SAFETY: the writer is initialised before the encoder writes to it through `custom_ptr`,
    // and freed once, after the bytes are copied out.
    unsafe {
        sys::WebPMemoryWriterInit(writer.as_mut_ptr());
        picture.0.writer = Some(sys::WebPMemoryWrite);
        picture.0.custom_ptr = writer.as_mut_ptr().cast();
        let encoded = sys::WebPEncode(&config, &mut picture.0);
        let mut writer = writer.assume_init();
        let result = if encoded != 0 {
            Ok(std::slice::from_raw_parts(writer.mem, writer.size).to_vec())
        } else {
            Err(fail(format!("{:?}", picture.0.error_code)))
        };
        sys::WebPMemoryWriterClear(&mut writer);
        result
    }
}

/// A libwebp picture holding its own copy of an image's pixels, freed when dropped.
struct WebpPicture(libwebp_sys::WebPPicture);

impl WebpPicture {
    /// `image` as ARGB (`argb`: what lossless coding takes) or as YUV, what lossy coding works
    /// on: imported as such, the rows are converted once, as they are read, instead of being
    /// packed as ARGB first and converted when encoding (the `webp` crate's way: 10 M more
    /// instructions for W2's thumbnail, 1.8 %, for the same bytes).
    fn of(image: &DynamicImage, argb: bool) -> Result<WebpPicture> {
        use libwebp_sys as sys;
        let fail = |what: &str| codec_error(Format::Webp, what);
        let mut picture = WebpPicture(sys::WebPPicture::new().map_err(|_| fail("no picture"))?);
        picture.0.use_argb = i32::from(argb);
        picture.0.width = image.width() as i32;
        picture.0.height = image.height() as i32;
        // SAFETY: the rows hold width × height pixels at the stride given; the picture copies
        // them into its own buffers, which `Drop` frees.
        let imported = unsafe {
            if image.color().has_alpha() {
                let rgba = rgba8(image);
                sys::WebPPictureImportRGBA(&mut picture.0, rgba.as_ptr(), picture.0.width * 4)
            } else {
                let rgb = rgb8(image);
                sys::WebPPictureImportRGB(&mut picture.0, rgb.as_ptr(), picture.0.width * 3)
            }
        };
        if imported == 0 {
            return Err(fail("out of memory"));
        }
        Ok(picture)
    }
}

impl Drop for WebpPicture {
    fn drop(&mut self) {
        // SAFETY: frees what the import allocated (nothing, if it failed first), once.
        unsafe { libwebp_sys::WebPPictureFree(&mut self.0) }
    }
}

fn encode_gif(image: &DynamicImage) -> Result<Vec<u8>> {
    let rgba = rgba8(image);
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

/// How an animation is written.
pub(crate) struct AnimationSettings {
    /// GIF, WebP or MP4.
    pub format: Format,
    pub quality: u8,
    /// Lossless WebP frames.
    pub lossless: bool,
    /// How many times the animation plays in all; `None` loops forever (MP4 cannot say).
    pub plays: Option<u32>,
    /// Frames per second on average: a rate-control hint for MP4.
    pub frame_rate: f32,
}

/// Encodes an animation one frame at a time, so no more than one frame is held uncompressed.
/// Every frame has the size of the first.
pub(crate) enum AnimationEncoder {
    Gif(gif::Encoder<Vec<u8>>),
    Webp(WebpAnimation),
    Mp4(Box<mp4::Mp4Encoder>),
}

impl AnimationEncoder {
    /// An encoder for frames of `width`×`height`.
    pub fn new(width: u32, height: u32, settings: &AnimationSettings) -> Result<AnimationEncoder> {
        match settings.format {
            Format::Gif => {
                let too_large = || {
                    Error::new(
                        ErrorKind::LimitExceeded,
                        format!(
                            "GIF output is at most 65535 pixels a side; asked for {width}x{height}"
                        ),
                    )
                };
                let w = u16::try_from(width).map_err(|_| too_large())?;
                let h = u16::try_from(height).map_err(|_| too_large())?;
                let mut encoder = gif::Encoder::new(Vec::new(), w, h, &[])
                    .map_err(|e| codec_error(Format::Gif, e))?;
                // A GIF without the NETSCAPE extension plays once; the extension counts repeats.
                let repeat = match settings.plays {
                    None => Some(gif::Repeat::Infinite),
                    Some(0 | 1) => None,
                    Some(plays) => Some(gif::Repeat::Finite(
                        u16::try_from(plays - 1).unwrap_or(u16::MAX),
                    )),
                };
                if let Some(repeat) = repeat {
                    encoder
                        .set_repeat(repeat)
                        .map_err(|e| codec_error(Format::Gif, e))?;
                }
                Ok(AnimationEncoder::Gif(encoder))
            }
            Format::Webp => Ok(AnimationEncoder::Webp(WebpAnimation::new(
                width, height, settings,
            )?)),
            Format::Mp4 => Ok(AnimationEncoder::Mp4(Box::new(mp4::Mp4Encoder::new(
                width,
                height,
                settings.quality,
                settings.frame_rate,
            )?))),
            other => Err(Error::internal(format!("{other} cannot hold an animation"))),
        }
    }

    /// Adds a frame shown for `delay_ms`.
    pub fn add(&mut self, image: &DynamicImage, delay_ms: u32) -> Result<()> {
        match self {
            AnimationEncoder::Gif(encoder) => {
                let mut rgba = image.to_rgba8();
                // Speed 10 of NeuQuant's 1-30, as for still GIFs; one palette per frame.
                let mut frame = gif::Frame::from_rgba_speed(
                    image.width() as u16,
                    image.height() as u16,
                    &mut rgba,
                    10,
                );
                // Every frame is a full canvas: clear it before the next one.
                frame.dispose = gif::DisposalMethod::Background;
                frame.delay = u16::try_from(delay_ms / 10).unwrap_or(u16::MAX);
                encoder
                    .write_frame(&frame)
                    .map_err(|e| codec_error(Format::Gif, e))
            }
            AnimationEncoder::Webp(encoder) => encoder.add(image, delay_ms),
            AnimationEncoder::Mp4(encoder) => encoder.add(image, delay_ms),
        }
    }

    /// Closes the animation and returns the encoded file.
    pub fn finish(self) -> Result<Vec<u8>> {
        match self {
            AnimationEncoder::Gif(encoder) => encoder
                .into_inner()
                .map_err(|e| codec_error(Format::Gif, e)),
            AnimationEncoder::Webp(encoder) => encoder.finish(),
            AnimationEncoder::Mp4(encoder) => encoder.finish(),
        }
    }
}

/// libwebp's animation encoder, driven directly: the `webp` crate's wrapper cannot give the last
/// frame its own duration.
pub(crate) struct WebpAnimation {
    encoder: NonNull<libwebp_sys::WebPAnimEncoder>,
    config: libwebp_sys::WebPConfig,
    width: u32,
    height: u32,
    /// Start of the next frame, in milliseconds.
    timestamp_ms: i32,
}

impl WebpAnimation {
    fn new(width: u32, height: u32, settings: &AnimationSettings) -> Result<WebpAnimation> {
        use libwebp_sys as sys;
        if width > WEBP_MAX_SIDE || height > WEBP_MAX_SIDE {
            return Err(Error::new(
                ErrorKind::LimitExceeded,
                format!(
                    "WebP output is at most {WEBP_MAX_SIDE} pixels a side; asked for {width}x{height}"
                ),
            ));
        }
        let fail = |what: &str| codec_error(Format::Webp, what);
        let mut config = sys::WebPConfig::new_with_preset(
            sys::WebPPreset::WEBP_PRESET_DEFAULT,
            f32::from(settings.quality),
        )
        .map_err(|_| fail("could not set up the encoder"))?;
        if settings.lossless {
            config.lossless = 1;
        }
        let mut options = MaybeUninit::<sys::WebPAnimEncoderOptions>::uninit();
        // SAFETY: the init function fills every field of the options it is given.
        let options = unsafe {
            if sys::WebPAnimEncoderOptionsInitInternal(
                options.as_mut_ptr(),
                sys::WebPGetMuxABIVersion(),
            ) == 0
            {
                return Err(fail("libwebp version mismatch"));
            }
            let mut options = options.assume_init();
            // WebP counts plays in all; 0 loops forever.
            options.anim_params.loop_count = settings.plays.map_or(0, |n| n.min(65535) as i32);
            options
        };
        // SAFETY: the options are initialised; sides were checked to fit libwebp's limits.
        let encoder = unsafe {
            sys::WebPAnimEncoderNewInternal(
                width as i32,
                height as i32,
                &options,
                sys::WebPGetMuxABIVersion(),
            )
        };
        let encoder = NonNull::new(encoder).ok_or_else(|| fail("out of memory"))?;
        Ok(WebpAnimation {
            encoder,
            config,
            width,
            height,
            timestamp_ms: 0,
        })
    }

    fn error(&self) -> Error {
        // SAFETY: the encoder is live; libwebp returns a static or encoder-owned C string.
        let message =
            unsafe { c_text(libwebp_sys::WebPAnimEncoderGetError(self.encoder.as_ptr())) }
                .unwrap_or_else(|| "unknown error".to_owned());
        codec_error(Format::Webp, message)
    }

    fn add(&mut self, image: &DynamicImage, delay_ms: u32) -> Result<()> {
        use libwebp_sys as sys;
        if (image.width(), image.height()) != (self.width, self.height) {
            return Err(Error::internal("animation frames differ in size"));
        }
        let mut picture = WebpPicture::of(image, true)?;
        // SAFETY: the encoder is live and copies what it keeps of the picture.
        let added = unsafe {
            sys::WebPAnimEncoderAdd(
                self.encoder.as_ptr(),
                &mut picture.0,
                self.timestamp_ms,
                &self.config,
            )
        };
        if added == 0 {
            return Err(self.error());
        }
        self.timestamp_ms = self
            .timestamp_ms
            .saturating_add(i32::try_from(delay_ms).unwrap_or(i32::MAX));
        Ok(())
    }

    fn finish(self) -> Result<Vec<u8>> {
        use libwebp_sys as sys;
        let mut data = sys::WebPData::default();
        // SAFETY: the encoder is live. The final null frame at the end time gives the last
        // frame its own duration; the assembled bytes are copied, then freed with WebPFree.
        unsafe {
            if sys::WebPAnimEncoderAdd(
                self.encoder.as_ptr(),
                std::ptr::null_mut(),
                self.timestamp_ms,
                std::ptr::null(),
            ) == 0
                || sys::WebPAnimEncoderAssemble(self.encoder.as_ptr(), &mut data) == 0
            {
                return Err(self.error());
            }
            let bytes = std::slice::from_raw_parts(data.bytes, data.size).to_vec();
            sys::WebPFree(data.bytes as *mut std::ffi::c_void);
            Ok(bytes)
        }
    }
}

impl Drop for WebpAnimation {
    fn drop(&mut self) {
        // SAFETY: the encoder was created by WebPAnimEncoderNewInternal and is deleted once.
        unsafe { libwebp_sys::WebPAnimEncoderDelete(self.encoder.as_ptr()) }
    }
}

/// The image as 8-bit RGBA, borrowed when it already is, converted otherwise.
pub(crate) fn rgba8(image: &DynamicImage) -> Cow<'_, RgbaImage> {
    match image {
        DynamicImage::ImageRgba8(buffer) => Cow::Borrowed(buffer),
        other => Cow::Owned(other.to_rgba8()),
    }
}

/// The image as 8-bit RGB, borrowed when it already is, converted otherwise.
pub(crate) fn rgb8(image: &DynamicImage) -> Cow<'_, RgbImage> {
    match image {
        DynamicImage::ImageRgb8(buffer) => Cow::Borrowed(buffer),
        other => Cow::Owned(other.to_rgb8()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{Rgb, RgbImage, Rgba, RgbaImage};

    /// A photo-like picture: smooth gradients under noise from a fixed seed, so that every
    /// coefficient size occurs (the largest, categories 5 and 6, at high quality).
    fn textured(width: u32, height: u32, noise: u32) -> RgbImage {
        let mut seed = 0x2545_f491_u32;
        RgbImage::from_fn(width, height, |x, y| {
            let mut channel = |base: u32| {
                seed ^= seed << 13;
                seed ^= seed >> 17;
                seed ^= seed << 5;
                (base + seed % (noise + 1)).min(255) as u8
            };
            Rgb([
                channel(x * 200 / width),
                channel(y * 200 / height),
                channel((x + y) * 100 / (width + height)),
            ])
        })
    }

    /// `image` encoded on one thread and on two, which must be the same bytes.
    fn encoded_both_ways(image: &DynamicImage, quality: u8, lossless: bool) -> Vec<u8> {
        let one = encode_webp(image, quality, lossless, false).unwrap();
        let two = encode_webp(image, quality, lossless, true).unwrap();
        assert!(
            one == two,
            "{}x{} at quality {quality} (lossless: {lossless}): {} bytes on one thread, {} on two",
            image.width(),
            image.height(),
            one.len(),
            two.len()
        );
        two
    }

    #[test]
    fn webp_on_two_threads_is_byte_for_byte_the_one_thread_webp() {
        let cases = [
            // W2's size
            (DynamicImage::ImageRgb8(textured(720, 588, 40)), 80),
            // the narrowest rows coded on two threads (8 macroblocks, the last one partly
            // outside the picture), each waiting on the row above at almost every step
            (DynamicImage::ImageRgb8(textured(120, 4100, 60)), 80),
            // two rows only; odd sizes
            (DynamicImage::ImageRgb8(textured(2049, 17, 60)), 50),
            (DynamicImage::ImageRgb8(textured(333, 251, 255)), 5),
            // alpha, coded beside the colour
            (
                DynamicImage::ImageRgba8(RgbaImage::from_fn(600, 400, |x, y| {
                    Rgba([(x % 256) as u8, (y % 256) as u8, 90, ((x ^ y) % 256) as u8])
                })),
                75,
            ),
        ];
        for (image, quality) in &cases {
            let webp = encoded_both_ways(image, *quality, false);
            let back = image::load_from_memory(&webp).unwrap();
            assert_eq!(
                (back.width(), back.height()),
                (image.width(), image.height())
            );
        }
    }

    /// At quality 100 a 2048x2048 noisy picture records more than 65,534 events for some
    /// coefficient probability, where libwebp halves its counts: the halving makes the order in
    /// which the rows' statistics are added matter.
    #[test]
    fn webp_on_two_threads_keeps_the_order_of_the_statistics() {
        let image = DynamicImage::ImageRgb8(textured(2048, 2048, 255));
        encoded_both_ways(&image, 100, false);
    }

    #[test]
    fn lossless_webp_on_two_threads_is_the_one_thread_webp() {
        let photo = DynamicImage::ImageRgb8(textured(640, 480, 30));
        let webp = encoded_both_ways(&photo, 80, true);
        let back = image::load_from_memory(&webp).unwrap().to_rgb8();
        assert!(back == photo.to_rgb8(), "lossless WebP changed the pixels");
    }
}
