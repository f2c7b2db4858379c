//! AVIF output: libavif with libaom, both built from source with the crate (libavif-sys), so
//! every build writes AVIF the same way whatever the system has.
//!
//! Settings, and why:
//! - libaom's speed 8 of 0-9, in its all-intra mode (libavif picks it for a single image).
//!   Debian's libaom 3.6 through libheif took 136 ms of CPU for W1's 720×588 thumbnail at
//!   quality 80; this libaom (3.11) takes about 97 for the same size (72.3 against 72.7 kB).
//! - 8-bit 4:4:4, full range, BT.601 coefficients on sRGB (nclx 1/13/6): what libheif wrote.
//! - Images at least [`TILED_WIDTH`] wide are cut into two tile columns, which libaom encodes
//!   on two threads when a core is spare: W1's thumbnail in 57–64 ms instead of 91, for 0.35 %
//!   more bytes. libaom's other threading, row-mt, is off: its bytes depend on the thread
//!   count, and picsmith's output must not depend on how busy the machine is. Tiles do not.

use std::ffi::{CStr, c_char};

use image::DynamicImage;
use libavif_sys as sys;

use crate::error::{Error, Result};

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
    let grey = matches!(
        image,
        DynamicImage::ImageLuma8(_)
            | DynamicImage::ImageLumaA8(_)
            | DynamicImage::ImageLuma16(_)
            | DynamicImage::ImageLumaA16(_)
    );
    let yuv_format = if grey {
        sys::AVIF_PIXEL_FORMAT_YUV400
    } else {
        sys::AVIF_PIXEL_FORMAT_YUV444
    };

    // SAFETY: every pointer handed to libavif is either one it returned (owned by the guards
    // below, freed once) or into `pixels`, `icc` and `exif`, which outlive the calls; libavif
    // copies ICC and EXIF into the image.
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

        let mut rgb: sys::avifRGBImage = std::mem::zeroed();
        sys::avifRGBImageSetDefaults(&mut rgb, im);
        rgb.format = if has_alpha {
            sys::AVIF_RGB_FORMAT_RGBA
        } else {
            sys::AVIF_RGB_FORMAT_RGB
        };
        rgb.pixels = pixels.as_ptr().cast_mut();
        rgb.rowBytes = width * if has_alpha { 4 } else { 3 };
        check(sys::avifImageRGBToYUV(im, &rgb))?;

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
            let detail = c_text((*enc).diag.error.as_ptr());
            return Err(encoder_error(result, &detail));
        }
        let bytes = std::slice::from_raw_parts(output.data, output.size).to_vec();
        sys::avifRWDataFree(&mut output);
        Ok(bytes)
    }
}

/// A libavif object, destroyed when dropped.
struct Owned<T>(*mut T, unsafe extern "C" fn(*mut T));

impl<T> Owned<T> {
    fn new(pointer: *mut T, destroy: unsafe extern "C" fn(*mut T)) -> Result<Self> {
        if pointer.is_null() {
            return Err(Error::internal("AVIF encoder failed: out of memory"));
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
    let reason = unsafe { c_text(sys::avifResultToString(result)) };
    let detail = if detail.is_empty() {
        String::new()
    } else {
        format!(" ({detail})")
    };
    Error::internal(format!("AVIF encoder failed: {reason}{detail}"))
}

/// # Safety
/// `text` is null or a NUL-terminated string.
unsafe fn c_text(text: *const c_char) -> String {
    if text.is_null() {
        return String::new();
    }
    // SAFETY: as the caller promises.
    unsafe { CStr::from_ptr(text) }
        .to_string_lossy()
        .into_owned()
}
