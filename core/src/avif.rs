//! AVIF output: libavif with libaom, both built from source with the crate (libavif-sys), so
//! every build writes AVIF the same way whatever the system has.
//!
//! Settings, and why:
//! - libaom's speed 8 of 0-9, in its all-intra mode (libavif picks it for a single image).
//!   Debian's libaom 3.6 through libheif took 136 ms of CPU for W1's 720×588 thumbnail at
//!   quality 80; this libaom (3.11) takes about 97 for the same size (72.3 against 72.7 kB).
//! - 8-bit 4:4:4, full range, BT.601 coefficients on sRGB (nclx 1/13/6): what libheif wrote.
//!   The pixels are converted here ([`to_yuv`]), in fixed point, not by libavif.
//! - Images at least [`TILED_WIDTH`] wide are cut into two tile columns, which libaom encodes
//!   on two threads when a core is spare: W1's thumbnail in 57–64 ms instead of 91, for 0.35 %
//!   more bytes. libaom's other threading, row-mt, is off: its bytes depend on the thread
//!   count, and picsmith's output must not depend on how busy the machine is. Tiles do not.

use image::DynamicImage;
use libavif_sys as sys;

use crate::encode::{c_text, codec_error};
use crate::error::{Error, Result};
use crate::format::Format;

/// libaom's speed (cpu-used), 0-9.
const SPEED: i32 = 8;
/// From this width up, two tile columns of at least 256 pixels each.
const TILED_WIDTH: u32 = 512;

/// Encodes 8-bit pixels as AVIF at `quality` (libavif's 0-100 scale, as libheif's Q), with
/// `icc` and `exif` (a TIFF structure) embedded when given. Alpha, when the image has it, is a
/// second AV1 image at the same quality; grey images are monochrome (4:0:0).
pub(crate) fn encode(
    image: &DynamicImage,
    quality: u8,
    icc: Option<&[u8]>,
    exif: Option<&[u8]>,
) -> Result<Vec<u8>> {
    let has_alpha = image.color().has_alpha();
    let (rgba_image, rgb_image);
    let pixels: &[u8] = if has_alpha {
        rgba_image = crate::encode::rgba8(image);
        rgba_image.as_raw()
    } else {
        rgb_image = crate::encode::rgb8(image);
        rgb_image.as_raw()
    };
    let (width, height) = (image.width(), image.height());
    let yuv_format = if !image.color().has_color() {
        sys::AVIF_PIXEL_FORMAT_YUV400
    } else {
        sys::AVIF_PIXEL_FORMAT_YUV444
    };

    // SAFETY: every pointer handed to libavif is either one it returned (owned by the guards
    // below, freed once) or into `icc` and `exif`, which outlive the calls and which libavif
    // copies into the image. The planes are libavif's allocation for this image's size and
    // layout, written only here, before the encoder reads them.
    unsafe {
        let avif_image = Owned::new(
            sys::avifImageCreate(width, height, 8, yuv_format),
            sys::avifImageDestroy,
        )?;
        let im = avif_image.0;
        (*im).yuvRange = sys::AVIF_RANGE_FULL;
        (*im).colorPrimaries = sys::AVIF_COLOR_PRIMARIES_BT709 as _;
        (*im).transferCharacteristics = sys::AVIF_TRANSFER_CHARACTERISTICS_SRGB as _;
        (*im).matrixCoefficients = sys::AVIF_MATRIX_COEFFICIENTS_BT601 as _;
        if let Some(icc) = icc {
            check(sys::avifImageSetProfileICC(im, icc.as_ptr(), icc.len()))?;
        }
        if let Some(exif) = exif {
            check(sys::avifImageSetMetadataExif(im, exif.as_ptr(), exif.len()))?;
        }

        let planes = if has_alpha {
            sys::AVIF_PLANES_ALL
        } else {
            sys::AVIF_PLANES_YUV
        };
        check(sys::avifImageAllocatePlanes(im, planes as _))?;
        let [y, u, v] = [0, 1, 2].map(|i| plane((*im).yuvPlanes[i], (*im).yuvRowBytes[i], height));
        let alpha = plane((*im).alphaPlane, (*im).alphaRowBytes, height);
        to_yuv(pixels, width as usize, [y, u, v, alpha]);
        let encoder = Owned::new(sys::avifEncoderCreate(), sys::avifEncoderDestroy)?;
        let enc = encoder.0;
        (*enc).codecChoice = sys::AVIF_CODEC_CHOICE_AOM;
        (*enc).speed = SPEED;
        (*enc).quality = i32::from(quality.min(100));
        (*enc).qualityAlpha = i32::from(quality.min(100));
        (*enc).maxThreads = if crate::cores::one_to_spare() { 2 } else { 1 };
        (*enc).tileColsLog2 = i32::from(width >= TILED_WIDTH);
        check(sys::avifEncoderSetCodecSpecificOption(
            enc,
            c"row-mt".as_ptr(),
            c"0".as_ptr(),
        ))?;

        let mut output: sys::avifRWData = std::mem::zeroed();
        let result = sys::avifEncoderWrite(enc, im, &mut output);
        if result != sys::AVIF_RESULT_OK {
            sys::avifRWDataFree(&mut output);
            let detail = c_text((*enc).diag.error.as_ptr()).unwrap_or_default();
            return Err(encoder_error(result, &detail));
        }
        let bytes = std::slice::from_raw_parts(output.data, output.size).to_vec();
        sys::avifRWDataFree(&mut output);
        Ok(bytes)
    }
}

/// A plane libavif allocated: `rows` rows of `stride` bytes, with the stride; `None` for a plane
/// the image does not have (chroma of 4:0:0, alpha of an opaque image).
///
/// # Safety
/// `pointer` is null or points at `stride` × `rows` bytes that nothing else uses while the
/// slice lives.
unsafe fn plane<'a>(pointer: *mut u8, stride: u32, rows: u32) -> Option<(&'a mut [u8], usize)> {
    let stride = stride as usize;
    // SAFETY: as the caller promises.
    (!pointer.is_null()).then(|| {
        (
            unsafe { std::slice::from_raw_parts_mut(pointer, stride * rows as usize) },
            stride,
        )
    })
}

/// Fills the Y, U and V planes (U and V when present) and the alpha plane (when present) from
/// interleaved 8-bit RGB or RGBA rows `width` pixels wide: BT.601 full range (the JFIF matrix)
/// in 16-bit fixed point, whose Y weights sum to exactly 1 and U and V weights to 0, so grey
/// stays grey. libavif's own conversion (floating point, per pixel) took 10 ms of W3's
/// 720×588 thumbnail, more than a tenth of the encoding.
fn to_yuv(pixels: &[u8], width: usize, [y, u, v, alpha]: [Option<(&mut [u8], usize)>; 4]) {
    if alpha.is_some() {
        to_planes::<4>(pixels, width, [y, u, v, alpha]);
    } else {
        to_planes::<3>(pixels, width, [y, u, v, alpha]);
    }
}

fn to_planes<const CHANNELS: usize>(
    pixels: &[u8],
    width: usize,
    [y, u, v, alpha]: [Option<(&mut [u8], usize)>; 4],
) {
    fill::<CHANNELS>(pixels, width, y, |p| weigh(p, [19595, 38470, 7471], 0));
    fill::<CHANNELS>(pixels, width, u, |p| weigh(p, [-11059, -21709, 32768], 128));
    fill::<CHANNELS>(pixels, width, v, |p| weigh(p, [32768, -27439, -5329], 128));
    fill::<CHANNELS>(pixels, width, alpha, |p| p[CHANNELS - 1]);
}

/// Writes `value` of each pixel of `pixels` to `plane`, when there is one.
fn fill<const CHANNELS: usize>(
    pixels: &[u8],
    width: usize,
    plane: Option<(&mut [u8], usize)>,
    value: impl Fn(&[u8; CHANNELS]) -> u8,
) {
    let Some((bytes, stride)) = plane else {
        return;
    };
    for (out, source) in bytes
        .chunks_mut(stride)
        .zip(pixels.chunks_exact(width * CHANNELS))
    {
        let (source, _) = source.as_chunks::<CHANNELS>();
        for (out, pixel) in out[..width].iter_mut().zip(source) {
            *out = value(pixel);
        }
    }
}

/// `weights` (16-bit fixed point) times R, G and B, plus `offset`, rounded into a byte.
#[inline(always)]
fn weigh<const CHANNELS: usize>(pixel: &[u8; CHANNELS], [r, g, b]: [i32; 3], offset: i32) -> u8 {
    let sum = r * i32::from(pixel[0]) + g * i32::from(pixel[1]) + b * i32::from(pixel[2]);
    ((sum + (offset << 16) + (1 << 15)) >> 16).clamp(0, 255) as u8
}

/// A libavif object, destroyed when dropped.
struct Owned<T>(*mut T, unsafe extern "C" fn(*mut T));

impl<T> Owned<T> {
    fn new(pointer: *mut T, destroy: unsafe extern "C" fn(*mut T)) -> Result<Self> {
        if pointer.is_null() {
            return Err(codec_error(Format::Avif, "out of memory"));
        }
        Ok(Owned(pointer, destroy))
    }
}

impl<T> Drop for Owned<T> {
    fn drop(&mut self) {
        // SAFETY: the pointer came from the matching create call and is destroyed only here.
        unsafe { (self.1)(self.0) }
    }
}

fn check(result: sys::avifResult) -> Result<()> {
    if result == sys::AVIF_RESULT_OK {
        Ok(())
    } else {
        Err(encoder_error(result, ""))
    }
}

fn encoder_error(result: sys::avifResult, detail: &str) -> Error {
    // SAFETY: libavif returns a static string for every result code.
    let reason = unsafe { c_text(sys::avifResultToString(result)) }.unwrap_or_default();
    let detail = if detail.is_empty() {
        String::new()
    } else {
        format!(" ({detail})")
    };
    codec_error(Format::Avif, format!("{reason}{detail}"))
}

#[cfg(test)]
mod tests {
    use super::to_yuv;

    /// Each pixel's Y, U, V and alpha, through planes whose rows are longer than the image.
    fn converted(pixels: &[u8], width: usize, alpha: bool) -> Vec<[u8; 4]> {
        let stride = width + 3;
        let rows = pixels.len() / (width * if alpha { 4 } else { 3 });
        let mut planes: [Vec<u8>; 4] = std::array::from_fn(|_| vec![0; stride * rows]);
        let [y, u, v, a] = planes.each_mut().map(|p| Some((p.as_mut_slice(), stride)));
        to_yuv(pixels, width, [y, u, v, if alpha { a } else { None }]);
        (0..rows * width)
            .map(|i| planes.each_ref().map(|p| p[i / width * stride + i % width]))
            .collect()
    }

    #[test]
    fn rgb_becomes_full_range_bt601() {
        let pixels = [
            255, 255, 255, 0, 0, 0, 100, 100, 100, // white, black, grey
            255, 0, 0, 0, 255, 0, 0, 0, 255, // red, green, blue
        ];
        // The JFIF values, rounded; the red and blue chroma extremes clamp at 255.
        assert_eq!(
            converted(&pixels, 3, false),
            [
                [255, 128, 128, 0],
                [0, 128, 128, 0],
                [100, 128, 128, 0],
                [76, 85, 255, 0],
                [150, 44, 21, 0],
                [29, 255, 107, 0],
            ]
        );
    }

    #[test]
    fn alpha_is_copied_and_grey_stays_grey_at_every_level() {
        let pixels: Vec<u8> = (0..=255u8).flat_map(|g| [g, g, g, 255 - g]).collect();
        for (g, [y, u, v, a]) in converted(&pixels, 16, true).into_iter().enumerate() {
            assert_eq!([y, u, v, a], [g as u8, 128, 128, 255 - g as u8]);
        }
    }
}
