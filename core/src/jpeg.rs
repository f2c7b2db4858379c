//! JPEG through libjpeg-turbo (the mozjpeg build, with SIMD): a header walk of our own, decode
//! with DCT scaling (shrink-on-load), and encode ([`compress`], whose optimised Huffman
//! tables are made and coded in one pass by [`huffman`]).
//!
//! libjpeg reports errors by calling a handler that must not return; [`error_manager`]'s
//! handler unwinds instead, so every call into libjpeg runs inside [`guarded`]. Warnings
//! (premature end of data, corrupt entropy data) are fatal here, as with sharp's default
//! `failOn: 'warning'`: otherwise a truncated upload decodes to a grey half-image and is served
//! as if it were fine.

use std::io;
use std::os::raw::{c_int, c_ulong};
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};

use image::{DynamicImage, GrayImage, RgbImage};
use mozjpeg_sys::{
    J_COLOR_SPACE as ColorSpace, jpeg_common_struct, jpeg_create_decompress, jpeg_crop_scanline,
    jpeg_decompress_struct, jpeg_destroy_decompress, jpeg_error_mgr, jpeg_finish_decompress,
    jpeg_mem_src, jpeg_read_header, jpeg_read_scanlines, jpeg_skip_scanlines,
    jpeg_start_decompress, jpeg_std_error,
};

use crate::error::{Error, ErrorKind, Result};
use crate::resize::{self, RowResizer};
use crate::rows::{self, RowSink};

mod compress;
mod huffman;
mod memory;
mod split;

use compress::{Coding, Compressor};

/// What the header segments of a JPEG say, read before any pixel is decoded.
#[derive(Debug, Default)]
pub(crate) struct JpegHeader {
    pub width: u32,
    pub height: u32,
    pub components: u8,
    pub precision: u8,
    /// The TIFF structure of the first `Exif` APP1 segment, without the `Exif\0\0` prefix.
    pub exif: Option<Vec<u8>>,
    /// The ICC profile reassembled from its APP2 chunks.
    pub icc: Option<Vec<u8>>,
    /// An Adobe APP14 segment: Photoshop writes CMYK inverted and says so with this marker.
    pub adobe: bool,
    /// Quantization table 0 (luminance), in the file's (zig-zag) order.
    pub luma_quant: Option<[u16; 64]>,
    /// Horizontal and vertical sampling factors of each component, in frame order.
    pub sampling: Vec<(u8, u8)>,
}

const ICC_SIGNATURE: &[u8] = b"ICC_PROFILE\0";
const EXIF_SIGNATURE: &[u8] = b"Exif\0\0";

/// Walks the marker segments up to the first scan.
pub(crate) fn read_header(bytes: &[u8]) -> Result<JpegHeader> {
    let truncated = || Error::invalid_image("JPEG is truncated inside its header");
    let mut header = JpegHeader::default();
    let mut icc_chunks: Vec<(u8, u8, &[u8])> = Vec::new();
    let mut seen_frame = false;
    let mut pos = 2; // after SOI
    loop {
        if *bytes.get(pos).ok_or_else(truncated)? != 0xFF {
            return Err(Error::invalid_image(format!(
                "JPEG has no marker at byte {pos}"
            )));
        }
        while bytes.get(pos) == Some(&0xFF) {
            pos += 1; // fill bytes
        }
        let marker = *bytes.get(pos).ok_or_else(truncated)?;
        pos += 1;
        match marker {
            0x01 | 0xD0..=0xD7 => continue,
            0xD9 => return Err(Error::invalid_image("JPEG ends before its first scan")),
            _ => {}
        }
        let len_bytes = bytes.get(pos..pos + 2).ok_or_else(truncated)?;
        let len = u16::from_be_bytes([len_bytes[0], len_bytes[1]]) as usize;
        if len < 2 {
            return Err(Error::invalid_image(
                "JPEG has a segment of impossible length",
            ));
        }
        let segment = bytes.get(pos + 2..pos + len).ok_or_else(truncated)?;
        pos += len;
        match marker {
            0xDA => break,
            0xE1 if header.exif.is_none() && segment.starts_with(EXIF_SIGNATURE) => {
                header.exif = Some(segment[EXIF_SIGNATURE.len()..].to_vec());
            }
            0xE2 if segment.len() > ICC_SIGNATURE.len() + 2
                && segment.starts_with(ICC_SIGNATURE) =>
            {
                let at = ICC_SIGNATURE.len();
                icc_chunks.push((segment[at], segment[at + 1], &segment[at + 2..]));
            }
            0xEE if segment.starts_with(b"Adobe") => header.adobe = true,
            0xDB => read_quant_tables(segment, &mut header),
            0xC0..=0xC3 | 0xC5..=0xC7 | 0xC9..=0xCB | 0xCD..=0xCF if !seen_frame => {
                if segment.len() < 6 {
                    return Err(truncated());
                }
                header.precision = segment[0];
                header.height = u16::from_be_bytes([segment[1], segment[2]]) as u32;
                header.width = u16::from_be_bytes([segment[3], segment[4]]) as u32;
                header.components = segment[5];
                header.sampling = segment[6..]
                    .chunks_exact(3)
                    .take(usize::from(header.components))
                    .map(|c| (c[1] >> 4, c[1] & 0x0F))
                    .collect();
                seen_frame = true;
            }
            _ => {}
        }
    }
    if !seen_frame {
        return Err(Error::invalid_image("JPEG has no frame header"));
    }
    if header.width == 0 || header.height == 0 {
        return Err(Error::invalid_image("JPEG declares a zero width or height"));
    }
    if !matches!(header.components, 1 | 3 | 4) {
        return Err(Error::new(
            ErrorKind::UnsupportedFormat,
            format!(
                "JPEG with {} colour components is not supported",
                header.components
            ),
        ));
    }
    if header.precision != 8 {
        return Err(Error::new(
            ErrorKind::UnsupportedFormat,
            format!(
                "{}-bit JPEG is not supported; only 8-bit samples are",
                header.precision
            ),
        ));
    }
    header.icc = assemble_icc(icc_chunks);
    Ok(header)
}

fn read_quant_tables(mut segment: &[u8], header: &mut JpegHeader) {
    while let Some((&pq_tq, rest)) = segment.split_first() {
        let wide = pq_tq >> 4 != 0;
        let size = if wide { 128 } else { 64 };
        let Some(values) = rest.get(..size) else {
            return;
        };
        if pq_tq & 0x0F == 0 {
            let mut table = [0u16; 64];
            for (i, v) in table.iter_mut().enumerate() {
                *v = if wide {
                    u16::from_be_bytes([values[2 * i], values[2 * i + 1]])
                } else {
                    values[i] as u16
                };
            }
            header.luma_quant = Some(table);
        }
        segment = &rest[size..];
    }
}

/// Chunks carry their 1-based sequence number and the total; anything inconsistent is dropped
/// rather than producing a corrupt profile.
fn assemble_icc(mut chunks: Vec<(u8, u8, &[u8])>) -> Option<Vec<u8>> {
    let total = chunks.first()?.1;
    chunks.sort_by_key(|c| c.0);
    let complete = chunks.len() == total as usize
        && chunks
            .iter()
            .enumerate()
            .all(|(i, c)| c.0 as usize == i + 1 && c.1 == total);
    complete.then(|| chunks.iter().flat_map(|c| c.2.iter().copied()).collect())
}

/// The IJG (libjpeg) standard luminance table, in zig-zag order, which `quality` scales.
const STD_LUMA_QUANT: [u16; 64] = [
    16, 11, 12, 14, 12, 10, 16, 14, 13, 14, 18, 17, 16, 19, 24, 40, 26, 24, 22, 22, 24, 49, 35, 37,
    29, 40, 58, 51, 61, 60, 57, 51, 56, 55, 64, 72, 92, 78, 64, 68, 87, 69, 55, 56, 80, 109, 81,
    87, 95, 98, 103, 104, 103, 62, 77, 113, 121, 112, 100, 120, 92, 101, 103, 99,
];

/// Estimates the IJG quality a luminance table was made with, by inverting libjpeg's scaling
/// (`table = std * S / 100`, `S = 5000/q` below 50 and `200 - 2q` above). Tables that were not
/// made this way (some cameras, mozjpeg's own) get the nearest equivalent.
pub(crate) fn estimate_quality(table: &[u16; 64]) -> u8 {
    let sum: u32 = table.iter().map(|&v| v as u32).sum();
    let std_sum: u32 = STD_LUMA_QUANT.iter().map(|&v| v as u32).sum();
    let scale = 100.0 * sum as f64 / std_sum as f64;
    let quality = if scale <= 100.0 {
        (200.0 - scale) / 2.0
    } else {
        5000.0 / scale
    };
    quality.round().clamp(1.0, 100.0) as u8
}

/// A libjpeg error or warning, carried through the unwind.
struct JpegFailure(String);

fn failure_message(cinfo: &mut jpeg_common_struct) -> String {
    let mut buffer = [0u8; 80];
    // SAFETY: `err` is the manager installed by `error_manager`, alive as long as `cinfo`.
    // format_message writes a NUL-terminated string of at most 80 bytes into the buffer; the
    // binding declares the buffer as `&[u8; 80]`, so the pointer type is adjusted to say so.
    unsafe {
        if let Some(format) = cinfo.err.as_ref().and_then(|err| err.format_message) {
            let format: unsafe extern "C-unwind" fn(&mut jpeg_common_struct, *mut u8) =
                std::mem::transmute(format);
            format(cinfo, buffer.as_mut_ptr());
        }
    }
    let text = buffer.split(|&b| b == 0).next().unwrap_or_default();
    String::from_utf8_lossy(text).into_owned()
}

unsafe extern "C-unwind" fn exit_on_error(cinfo: &mut jpeg_common_struct) {
    resume_unwind(Box::new(JpegFailure(failure_message(cinfo))));
}

unsafe extern "C-unwind" fn exit_on_warning(cinfo: &mut jpeg_common_struct, level: c_int) {
    // Negative levels are warnings; the others are trace messages.
    if level < 0 {
        resume_unwind(Box::new(JpegFailure(failure_message(cinfo))));
    }
}

fn error_manager() -> jpeg_error_mgr {
    // SAFETY: jpeg_std_error fills every field of a zeroed manager; it keeps no pointer to it.
    let mut manager: jpeg_error_mgr = unsafe { std::mem::zeroed() };
    unsafe { jpeg_std_error(&mut manager) };
    manager.error_exit = Some(exit_on_error);
    manager.emit_message = Some(exit_on_warning);
    manager
}

/// The error of a JPEG whose decoding stopped for `reason`, found outside libjpeg.
fn undecodable(reason: io::Error) -> Error {
    Error::invalid_image(format!("JPEG could not be decoded: {reason}"))
}

/// Runs libjpeg work, turning its unwinding errors into picsmith errors.
fn guarded<T>(work: impl FnOnce() -> io::Result<T>) -> Result<T> {
    match catch_unwind(AssertUnwindSafe(work)) {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(err)) => Err(undecodable(err)),
        Err(payload) => Err(match payload.downcast::<JpegFailure>() {
            Ok(failure) => {
                Error::invalid_image(format!("JPEG is corrupt or truncated: {}", failure.0))
            }
            Err(other) => {
                let text = other
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| other.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                Error::internal(format!("JPEG codec failed: {text}"))
            }
        }),
    }
}

/// Decodes at `eighths`/8 of the full size (1, 2, 4 or 8), to 8-bit gray or RGB.
/// CMYK and YCCK are converted to RGB without colour management.
pub(crate) fn decode(bytes: &[u8], header: &JpegHeader, eighths: u8) -> Result<DynamicImage> {
    decode_region(bytes, header, eighths, None)
}

/// [`decode`], of only `region` (x, y, width, height in pixels of the scaled image) when one
/// is given. libjpeg then skips the inverse DCT and colour conversion of the blocks beside
/// the region (`jpeg_crop_scanline`) and of the rows above it (`jpeg_skip_scanlines`, which
/// still reads their entropy-coded data), and stops after the region's last row.
pub(crate) fn decode_region(
    bytes: &[u8],
    header: &JpegHeader,
    eighths: u8,
    region: Option<(u32, u32, u32, u32)>,
) -> Result<DynamicImage> {
    let adobe = header.adobe;
    let color_space = match header.components {
        1 => ColorSpace::JCS_GRAYSCALE,
        4 => ColorSpace::JCS_CMYK,
        _ => ColorSpace::JCS_RGB,
    };
    let (width, height, channels, pixels) = guarded(move || {
        let mut decoder = Decompressor::start(bytes, eighths, color_space);
        let cinfo = &mut decoder.cinfo;
        let (full_width, full_height) = (cinfo.output_width, cinfo.output_height);
        let (x, y, width, height) = region.unwrap_or((0, 0, full_width, full_height));
        if x.saturating_add(width) > full_width || y.saturating_add(height) > full_height {
            return Err(io::Error::other(format!(
                "region {x},{y} {width}x{height} is outside the {full_width}x{full_height} image"
            )));
        }
        // Chroma upsampling blends neighbouring blocks, which libjpeg treats as missing at
        // the edges of what it decodes: a margin keeps those edges outside the region, so the
        // region's pixels are those of a full decode. libjpeg also widens the crop to whole
        // blocks; the extra columns and rows are cut below.
        let (mut first_column, mut columns) = (
            x.saturating_sub(REGION_MARGIN),
            (x + width + REGION_MARGIN).min(full_width),
        );
        columns -= first_column;
        if (first_column, columns) != (0, full_width) {
            // SAFETY: decompression has started and no scanline has been read.
            unsafe { jpeg_crop_scanline(cinfo, &mut first_column, &mut columns) };
        }
        let first_row = y.saturating_sub(REGION_MARGIN);
        // SAFETY: as above; skipping stops at the last row.
        if first_row > 0 && unsafe { jpeg_skip_scanlines(cinfo, first_row) } != first_row {
            return Err(short_read());
        }
        let channels = cinfo.output_components as usize;
        let decoded_row = cinfo.output_width as usize * channels;
        let (skip, kept_row) = (
            (x - first_column) as usize * channels,
            width as usize * channels,
        );
        let mut pixels = vec![0u8; kept_row * height as usize];
        let mut scratch = vec![0u8; decoded_row];
        let mut kept = pixels.chunks_exact_mut(kept_row);
        for line_number in first_row..y + height {
            let out = if line_number >= y { kept.next() } else { None };
            match out {
                // Whole rows go straight into the image.
                Some(out) if decoded_row == kept_row => read_line(cinfo, out)?,
                Some(out) => {
                    read_line(cinfo, &mut scratch)?;
                    out.copy_from_slice(&scratch[skip..skip + kept_row]);
                }
                None => read_line(cinfo, &mut scratch)?,
            }
        }
        if y + height == full_height {
            // Reads on to the end of the image, so damage after the last row is still found.
            // SAFETY: every scanline has been read.
            unsafe { jpeg_finish_decompress(cinfo) };
        }
        Ok((width, height, channels, pixels))
    })?;
    let image = match channels {
        1 => GrayImage::from_raw(width, height, pixels).map(DynamicImage::ImageLuma8),
        4 => RgbImage::from_raw(width, height, cmyk_to_rgb(&pixels, adobe))
            .map(DynamicImage::ImageRgb8),
        _ => RgbImage::from_raw(width, height, pixels).map(DynamicImage::ImageRgb8),
    };
    image.ok_or_else(|| Error::internal("JPEG decoder returned a short buffer"))
}

/// Reads the next scanline into `line`, which holds a whole decoded row.
fn read_line(cinfo: &mut jpeg_decompress_struct, line: &mut [u8]) -> io::Result<()> {
    if read_scanline(cinfo, line) {
        Ok(())
    } else {
        Err(short_read())
    }
}

/// Reads the next scanline into `line`, which holds a whole decoded row; false when libjpeg
/// made none (for [`split`], until more blocks are handed over).
fn read_scanline(cinfo: &mut jpeg_decompress_struct, line: &mut [u8]) -> bool {
    assert!(line.len() >= cinfo.output_width as usize * cinfo.output_components as usize);
    let mut start = line.as_mut_ptr();
    // SAFETY: `start` points at a whole row of writable bytes (checked above).
    unsafe { jpeg_read_scanlines(cinfo, &mut start, 1) == 1 }
}

/// Fails unless a started decompressor makes `size` pixels.
fn check_frame_size(cinfo: &jpeg_decompress_struct, size: (u32, u32)) -> io::Result<()> {
    if (cinfo.output_width, cinfo.output_height) == size {
        Ok(())
    } else {
        Err(io::Error::other(
            "the frame's size differs from the header's",
        ))
    }
}

/// Pixels decoded around a region on each side, more than the reach of chroma upsampling
/// (one chroma sample: two pixels at 2× subsampling, in blocks of 16).
const REGION_MARGIN: u32 = 16;

/// A libjpeg decompressor reading from memory, destroyed when dropped (also while an error
/// unwinds through it).
struct Decompressor {
    cinfo: jpeg_decompress_struct,
    err: jpeg_error_mgr,
}

impl Decompressor {
    /// Creates the decompressor and reads the header of `bytes`, which it borrows.
    fn new(bytes: &[u8]) -> Box<Decompressor> {
        let mut decoder = Box::new(Decompressor {
            // SAFETY: jpeg_create_decompress initialises the zeroed struct.
            cinfo: unsafe { std::mem::zeroed() },
            err: error_manager(),
        });
        // The box keeps both structs in place, so cinfo may point at err.
        decoder.cinfo.common.err = &mut decoder.err;
        // SAFETY: cinfo's error manager is set; `bytes` outlives the decompressor, which is
        // dropped inside the `guarded` call that borrows them.
        unsafe {
            jpeg_create_decompress(&mut decoder.cinfo);
            jpeg_mem_src(&mut decoder.cinfo, bytes.as_ptr(), bytes.len() as c_ulong);
            jpeg_read_header(&mut decoder.cinfo, 1);
        }
        decoder
    }

    /// [`new`](Self::new), then decompression started at `eighths`/8 of the full size into
    /// `color_space`. Runs inside [`guarded`]: libjpeg's errors unwind from here.
    fn start(bytes: &[u8], eighths: u8, color_space: ColorSpace) -> Box<Decompressor> {
        let mut decoder = Decompressor::new(bytes);
        let cinfo = &mut decoder.cinfo;
        cinfo.scale_num = eighths.into();
        cinfo.scale_denom = 8;
        cinfo.out_color_space = color_space;
        // SAFETY: cinfo holds a header read by `new`; errors unwind to the caller's `guarded`.
        unsafe { jpeg_start_decompress(cinfo) };
        decoder
    }
}

impl Drop for Decompressor {
    fn drop(&mut self) {
        // SAFETY: created in `new`; destroying also releases a decompression left unfinished.
        unsafe { jpeg_destroy_decompress(&mut self.cinfo) };
    }
}

fn short_read() -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        "fewer pixels than the frame declares",
    )
}

/// Naive CMYK to RGB. Adobe files store the inks inverted (0 = full ink).
fn cmyk_to_rgb(cmyk: &[u8], inverted: bool) -> Vec<u8> {
    let mul = |a: u8, b: u8| ((a as u32 * b as u32 + 127) / 255) as u8;
    let mut rgb = Vec::with_capacity(cmyk.len() / 4 * 3);
    for px in cmyk.chunks_exact(4) {
        let ink = |v: u8| if inverted { v } else { 255 - v };
        let (c, m, y, k) = (ink(px[0]), ink(px[1]), ink(px[2]), ink(px[3]));
        rgb.extend_from_slice(&[mul(c, k), mul(m, k), mul(y, k)]);
    }
    rgb
}

/// Encoder settings: libjpeg-turbo's baseline behaviour (no trellis quantisation, which costs
/// 3-5x the time for a few percent), with optimised Huffman tables (a few percent smaller for a
/// small cost) and 4:2:0 chroma subsampling, as sharp and libvips default to.
pub(crate) struct JpegSettings<'a> {
    pub quality: u8,
    pub progressive: bool,
    pub exif: Option<&'a [u8]>,
    pub icc: Option<&'a [u8]>,
}

/// Largest EXIF block one APP1 segment holds.
pub(crate) const MAX_EXIF_BYTES: usize = 65533 - EXIF_SIGNATURE.len();

/// Splits a profile into APP2 payloads numbered from 1, as the ICC specification (B.4) says.
fn icc_chunks(icc: &[u8]) -> Vec<Vec<u8>> {
    const MAX_DATA: usize = 65533 - ICC_SIGNATURE.len() - 2;
    let count = icc.len().div_ceil(MAX_DATA);
    if icc.is_empty() || count > u8::MAX as usize {
        return Vec::new();
    }
    icc.chunks(MAX_DATA)
        .enumerate()
        .map(|(i, data)| [ICC_SIGNATURE, &[i as u8 + 1, count as u8], data].concat())
        .collect()
}

/// Samples per pixel of the pixels picsmith hands the encoder: gray or RGB.
fn samples_per_pixel(color_space: ColorSpace) -> usize {
    if color_space == ColorSpace::JCS_GRAYSCALE {
        1
    } else {
        3
    }
}

/// Encodes an 8-bit gray or RGB image.
pub(crate) fn encode(image: &DynamicImage, settings: &JpegSettings<'_>) -> Result<Vec<u8>> {
    let color_space = match image {
        DynamicImage::ImageLuma8(_) => ColorSpace::JCS_GRAYSCALE,
        DynamicImage::ImageRgb8(_) => ColorSpace::JCS_RGB,
        _ => {
            return Err(Error::internal(
                "JPEG encoder needs 8-bit gray or RGB pixels",
            ));
        }
    };
    let (width, height) = (image.width(), image.height());
    guarded(|| {
        let mut compressor = start_encoder(color_space, width, height, settings);
        compressor.write_scanlines(image.as_bytes())?;
        Ok(compressor.finish())
    })
}

/// An encoder for `width`×`height` pixels, its markers written, waiting for scanlines.
fn start_encoder(
    color_space: ColorSpace,
    width: u32,
    height: u32,
    settings: &JpegSettings<'_>,
) -> Box<Compressor> {
    let mut compressor = Compressor::start(
        color_space,
        width,
        height,
        settings.quality,
        settings.progressive,
        Coding::OnePass,
    );
    if let Some(exif) = settings.exif.filter(|e| e.len() <= MAX_EXIF_BYTES) {
        compressor.write_app_marker(1, &[EXIF_SIGNATURE, exif].concat());
    }
    if let Some(icc) = settings.icc {
        for chunk in icc_chunks(icc) {
            compressor.write_app_marker(2, &chunk);
        }
    }
    compressor
}

/// Rows handed to the encoder at a time: about 290 KB of a 3000-pixel-wide RGB image, so the
/// strips in flight stay in the L2 cache.
const STRIP_ROWS: usize = 32;

/// How often a resize beside the decoder resamples across: at most this many passes, of at
/// least [`LEAST_ACROSS_ROWS`] rows. Each pass makes its weights anew (see [`RowResizer`]),
/// from kernel values remembered from the first pass, on the thread that also makes the rows
/// from the decoder's blocks ([`split`]). Rust example, W1's
/// source, fixed 32-row passes against at most 16: a 720x588 thumbnail 11.5 and 11.9 ms (14.2
/// before any resize beside the decoder); `width=2000` 37.1 and 28.2 ms (34.4 before);
/// `width=4000&upscale=true` 110 and 69 ms (74 before).
const PASSES_ACROSS: u32 = 16;

/// The fewest rows a pass across takes (see [`PASSES_ACROSS`]).
const LEAST_ACROSS_ROWS: u32 = 32;

/// Encodes a `width`×`height` image (8-bit gray or RGB, as `color_space` says) whose rows
/// `produce` hands to a [`RowSink`], a strip at a time, so that the whole image is never
/// held: on a second thread while this one encodes, when a core is free ([`rows::stream`]).
/// The output is byte for byte that of [`encode`] of the same rows. An error of `produce` is
/// the one reported.
pub(crate) fn encode_rows(
    color_space: ColorSpace,
    width: u32,
    height: u32,
    settings: &JpegSettings<'_>,
    produce: impl FnOnce(&mut RowSink) -> Result<()> + Send,
) -> Result<Vec<u8>> {
    let second_thread = crate::cores::one_to_spare();
    encode_rows_with(second_thread, color_space, width, height, settings, produce)
}

/// [`encode_rows`], with `produce` on a second thread or, when `second_thread` is false or no
/// thread can be had, between the strips the encoder takes.
fn encode_rows_with(
    second_thread: bool,
    color_space: ColorSpace,
    width: u32,
    height: u32,
    settings: &JpegSettings<'_>,
    produce: impl FnOnce(&mut RowSink) -> Result<()> + Send,
) -> Result<Vec<u8>> {
    let row_bytes = width as usize * samples_per_pixel(color_space);
    let mut compressor = guarded(|| Ok(start_encoder(color_space, width, height, settings)))?;
    let mut rows = 0;
    rows::stream(second_thread, row_bytes, STRIP_ROWS, produce, |strip| {
        rows += strip.len() / row_bytes;
        guarded(|| compressor.write_scanlines(strip))
    })?;
    if rows != height as usize {
        return Err(Error::internal(
            "fewer rows were produced than the image has",
        ));
    }
    guarded(|| Ok(compressor.finish()))
}

/// Re-encodes a whole 8-bit gray or RGB JPEG without holding all its pixels: the decoder
/// hands its rows to [`encode_rows`] a strip at a time. The output is byte for byte that of
/// [`encode`] of [`decode`] at full size.
pub(crate) fn transcode(
    bytes: &[u8],
    header: &JpegHeader,
    settings: &JpegSettings<'_>,
) -> Result<Vec<u8>> {
    transcode_with(crate::cores::one_to_spare(), bytes, header, settings)
}

/// [`transcode`], decoding on a second thread or, when `second_thread` is false, between
/// the strips the encoder takes.
fn transcode_with(
    second_thread: bool,
    bytes: &[u8],
    header: &JpegHeader,
    settings: &JpegSettings<'_>,
) -> Result<Vec<u8>> {
    let color_space = plain_color_space(header)?;
    let (width, height) = (header.width, header.height);
    encode_rows_with(
        second_thread,
        color_space,
        width,
        height,
        settings,
        |sink| decode_rows(bytes, header, 8, sink),
    )
}

/// How a plain JPEG ([`plain_color_space`]) shrinks to `size`: decoded at `eighths`/8, then
/// resampled from `extent`, the part of the decoded pixels that holds the source (see
/// [`resize::resize_extent`]).
pub(crate) struct Shrink {
    pub eighths: u8,
    pub extent: (f64, f64),
    pub size: (u32, u32),
}

/// Decodes an 8-bit gray or RGB JPEG and resizes it as `shrink` says, handing the resized
/// rows to `take`, top to bottom, in bands ([`resize::RowResizer`]). With `second_thread`,
/// a second thread does the Huffman decoding while this one makes the rows and resizes them
/// ([`split`]), or, for a JPEG the split does not take (progressive), the whole decoder runs
/// there ([`rows::stream`]). The pixels are those of [`decode`] and [`resize::resize_extent`].
fn decode_resized(
    second_thread: bool,
    bytes: &[u8],
    header: &JpegHeader,
    shrink: &Shrink,
    take: &mut (impl FnMut(&[u8]) -> Result<()> + Send),
) -> Result<()> {
    let color_space = plain_color_space(header)?;
    let channels = usize::from(header.components);
    let decoded = scaled_size(header, shrink.eighths);
    // Without a second thread, nothing is gained by resampling across early. (Strips of the
    // encoder's size stay in the cache: decoding the whole image as one strip, resized where
    // it lies, was 3 % slower with two images at once.)
    let across_rows = if second_thread {
        shrink.size.1.div_ceil(PASSES_ACROSS).max(LEAST_ACROSS_ROWS)
    } else {
        shrink.size.1
    };
    let mut resizer = RowResizer::new(channels, decoded, shrink.extent, shrink.size, across_rows)?;
    if second_thread {
        let mut push = |strip: &[u8]| resizer.push(strip, take);
        if split::decode_rows(
            bytes,
            shrink.eighths,
            color_space,
            decoded,
            STRIP_ROWS,
            &mut push,
        )? {
            return resizer.finish(take);
        }
    }
    let row_bytes = decoded.0 as usize * channels;
    rows::stream(
        second_thread,
        row_bytes,
        STRIP_ROWS,
        |sink| decode_rows(bytes, header, shrink.eighths, sink),
        |strip| resizer.push(strip, take),
    )?;
    resizer.finish(take)
}

/// [`decode_resized`] into an image; the decoder runs beside the resize when a core is free.
pub(crate) fn decode_resized_image(
    bytes: &[u8],
    header: &JpegHeader,
    shrink: &Shrink,
) -> Result<DynamicImage> {
    let channels = usize::from(header.components);
    let (width, height) = shrink.size;
    let mut pixels = Vec::with_capacity(width as usize * height as usize * channels);
    let second_thread = crate::cores::one_to_spare();
    decode_resized(second_thread, bytes, header, shrink, &mut |rows| {
        pixels.extend_from_slice(rows);
        Ok(())
    })?;
    resize::plain_image(channels, shrink.size, pixels)
}

/// [`decode_resized`] straight into the encoder, each band of rows encoded as it is made:
/// byte for byte [`encode`] of [`decode_resized_image`].
pub(crate) fn encode_resized(
    bytes: &[u8],
    header: &JpegHeader,
    shrink: &Shrink,
    settings: &JpegSettings<'_>,
) -> Result<Vec<u8>> {
    encode_resized_with(
        crate::cores::one_to_spare(),
        bytes,
        header,
        shrink,
        settings,
    )
}

fn encode_resized_with(
    second_thread: bool,
    bytes: &[u8],
    header: &JpegHeader,
    shrink: &Shrink,
    settings: &JpegSettings<'_>,
) -> Result<Vec<u8>> {
    let color_space = plain_color_space(header)?;
    let (width, height) = shrink.size;
    let mut compressor = guarded(|| Ok(start_encoder(color_space, width, height, settings)))?;
    decode_resized(second_thread, bytes, header, shrink, &mut |rows| {
        guarded(|| compressor.write_scanlines(rows))
    })?;
    guarded(|| Ok(compressor.finish()))
}

/// The colour space an 8-bit gray or YCbCr JPEG decodes to without conversion here: gray or
/// RGB, the pixels picsmith works on. CMYK and 12-bit data are refused.
fn plain_color_space(header: &JpegHeader) -> Result<ColorSpace> {
    match (header.precision, header.components) {
        (8, 1) => Ok(ColorSpace::JCS_GRAYSCALE),
        (8, 3) => Ok(ColorSpace::JCS_RGB),
        _ => Err(Error::internal(
            "only 8-bit gray and RGB JPEGs decode row by row",
        )),
    }
}

/// Whether [`plain_color_space`] takes this JPEG.
pub(crate) fn is_plain(header: &JpegHeader) -> bool {
    plain_color_space(header).is_ok()
}

/// The size libjpeg decodes to at `eighths`/8: each side rounded up.
pub(crate) fn scaled_size(header: &JpegHeader, eighths: u8) -> (u32, u32) {
    let scaled = |side: u32| (u64::from(side) * u64::from(eighths)).div_ceil(8) as u32;
    (scaled(header.width), scaled(header.height))
}

/// Decodes an 8-bit gray or RGB JPEG at `eighths`/8 of its size into `sink`, each row as soon
/// as it is decoded: the rows of [`decode`], never all held here.
fn decode_rows(bytes: &[u8], header: &JpegHeader, eighths: u8, sink: &mut RowSink) -> Result<()> {
    let color_space = plain_color_space(header)?;
    let size = scaled_size(header, eighths);
    guarded(|| {
        let mut decoder = Decompressor::start(bytes, eighths, color_space);
        let cinfo = &mut decoder.cinfo;
        check_frame_size(cinfo, size)?;
        for _ in 0..size.1 {
            sink.push_with(|row| read_line(cinfo, row))?;
        }
        // Reads on to the end of the data, so damage after the last row is found.
        // SAFETY: every scanline has been read.
        unsafe { jpeg_finish_decompress(cinfo) };
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quality_estimate_inverts_ijg_scaling() {
        // Below 25 libjpeg clamps table entries at 255 and the estimate can only be approximate.
        for quality in [25u32, 40, 50, 75, 80, 90, 95] {
            let scale = if quality < 50 {
                5000 / quality
            } else {
                200 - 2 * quality
            };
            let mut table = [0u16; 64];
            for (t, s) in table.iter_mut().zip(STD_LUMA_QUANT) {
                *t = ((s as u32 * scale + 50) / 100).clamp(1, 255) as u16;
            }
            let estimate = estimate_quality(&table) as i32;
            assert!(
                (estimate - quality as i32).abs() <= 1,
                "q{quality} estimated as {estimate}"
            );
        }
    }

    #[test]
    fn encoded_jpeg_round_trips_through_the_header_walk() {
        let image =
            DynamicImage::ImageRgb8(RgbImage::from_pixel(33, 17, image::Rgb([200, 10, 10])));
        let icc = vec![7u8; 70_000]; // needs two APP2 chunks
        let settings = JpegSettings {
            quality: 80,
            progressive: true,
            exif: None,
            icc: Some(&icc),
        };
        let bytes = encode(&image, &settings).unwrap();
        let header = read_header(&bytes).unwrap();
        assert_eq!(
            (header.width, header.height, header.components),
            (33, 17, 3)
        );
        assert_eq!(header.icc.as_deref(), Some(&icc[..]));
        assert_eq!(estimate_quality(&header.luma_quant.unwrap()), 80);
        let decoded = decode(&bytes, &header, 8).unwrap();
        assert_eq!((decoded.width(), decoded.height()), (33, 17));
    }

    #[test]
    fn a_region_decodes_to_the_same_pixels_as_the_whole_image_cut() {
        let rgb = RgbImage::from_fn(203, 157, |x, y| {
            image::Rgb([(x * 5 + y) as u8, (y * 3) as u8, ((x * y) % 251) as u8])
        });
        let gray = DynamicImage::ImageLuma8(DynamicImage::ImageRgb8(rgb.clone()).to_luma8());
        for (image, progressive) in [
            (DynamicImage::ImageRgb8(rgb), false),
            (gray.clone(), false),
            (gray, true),
        ] {
            let settings = JpegSettings {
                quality: 85,
                progressive,
                exif: None,
                icc: None,
            };
            let bytes = encode(&image, &settings).unwrap();
            let header = read_header(&bytes).unwrap();
            let whole = decode(&bytes, &header, 8).unwrap();
            // Block edges and not, the corners, a single pixel, the whole image.
            for region in [
                (0, 0, 203, 157),
                (16, 16, 32, 32),
                (17, 9, 100, 41),
                (150, 120, 53, 37),
                (202, 156, 1, 1),
                (0, 70, 203, 5),
            ] {
                let (x, y, w, h) = region;
                let cut = decode_region(&bytes, &header, 8, Some(region)).unwrap();
                assert_eq!(cut, whole.crop_imm(x, y, w, h), "region {region:?}");
            }
            let outside = decode_region(&bytes, &header, 8, Some((200, 0, 4, 1)));
            assert!(outside.is_err());
        }
    }

    #[test]
    fn a_truncated_file_fails_in_its_region_but_not_above_the_damage() {
        let image = DynamicImage::ImageRgb8(RgbImage::from_fn(256, 256, |x, y| {
            image::Rgb([x as u8, y as u8, (x ^ y) as u8])
        }));
        let settings = JpegSettings {
            quality: 90,
            progressive: false,
            exif: None,
            icc: None,
        };
        let bytes = encode(&image, &settings).unwrap();
        let cut = &bytes[..bytes.len() / 2];
        let header = read_header(cut).unwrap();
        assert!(decode_region(cut, &header, 8, Some((0, 200, 50, 50))).is_err());
        let top = decode_region(cut, &header, 8, Some((10, 10, 50, 50))).unwrap();
        let whole = decode(&bytes, &header, 8).unwrap();
        assert_eq!(top, whole.crop_imm(10, 10, 50, 50));
    }

    #[test]
    fn transcoding_writes_what_decoding_and_encoding_write() {
        // Several strips and a short last one; RGB, and gray from a progressive source; into
        // baseline and progressive output, with metadata.
        let rgb = RgbImage::from_fn(211, STRIP_ROWS as u32 * 3 + 7, |x, y| {
            image::Rgb([(x * 7 + y) as u8, (y * 5) as u8, ((x * y) % 253) as u8])
        });
        let gray = DynamicImage::ImageLuma8(DynamicImage::ImageRgb8(rgb.clone()).to_luma8());
        let exif = b"MM\0*\0\0\0\x08\0\0".to_vec();
        let icc = vec![9u8; 300];
        for (image, source_progressive) in [(DynamicImage::ImageRgb8(rgb), false), (gray, true)] {
            let source_settings = JpegSettings {
                quality: 92,
                progressive: source_progressive,
                exif: None,
                icc: None,
            };
            let source = encode(&image, &source_settings).unwrap();
            let header = read_header(&source).unwrap();
            let decoded = decode(&source, &header, 8).unwrap();
            for progressive in [false, true] {
                let settings = JpegSettings {
                    quality: 70,
                    progressive,
                    exif: Some(&exif),
                    icc: Some(&icc),
                };
                for second_thread in [true, false] {
                    let transcoded =
                        transcode_with(second_thread, &source, &header, &settings).unwrap();
                    assert_eq!(transcoded, encode(&decoded, &settings).unwrap());
                    assert_eq!(read_header(&transcoded).unwrap().icc, Some(icc.clone()));
                }
            }
        }
    }

    #[test]
    fn rows_encode_alike_with_and_without_a_second_thread() {
        let image = RgbImage::from_fn(97, STRIP_ROWS as u32 * 2 + 5, |x, y| {
            image::Rgb([(x * 3) as u8, (y * 7) as u8, (x + y) as u8])
        });
        let settings = JpegSettings {
            quality: 75,
            progressive: false,
            exif: None,
            icc: None,
        };
        let whole = encode(&DynamicImage::ImageRgb8(image.clone()), &settings).unwrap();
        let row_bytes = 97 * 3;
        for second_thread in [true, false] {
            let (w, h) = image.dimensions();
            let streamed = encode_rows_with(
                second_thread,
                ColorSpace::JCS_RGB,
                w,
                h,
                &settings,
                |sink| {
                    image.chunks_exact(row_bytes).for_each(|row| sink.push(row));
                    Ok(())
                },
            );
            assert_eq!(streamed.unwrap(), whole, "second thread: {second_thread}");
            // A producer that fails part way: its error is the one reported.
            let failed = encode_rows_with(
                second_thread,
                ColorSpace::JCS_RGB,
                w,
                h,
                &settings,
                |sink| {
                    image
                        .chunks_exact(row_bytes)
                        .take(40)
                        .for_each(|row| sink.push(row));
                    Err(Error::invalid_image("the source ran out"))
                },
            );
            assert_eq!(failed.unwrap_err().message(), "the source ran out");
        }
    }

    #[test]
    fn transcoding_damaged_data_fails_as_decoding_does() {
        let image =
            DynamicImage::ImageRgb8(RgbImage::from_fn(300, STRIP_ROWS as u32 * 5, |x, y| {
                image::Rgb([x as u8, y as u8, (x ^ y) as u8])
            }));
        let settings = JpegSettings {
            quality: 90,
            progressive: false,
            exif: None,
            icc: None,
        };
        let bytes = encode(&image, &settings).unwrap();
        // Cut in the first strip, in the middle, and only the end-of-image marker missing.
        for end in [bytes.len() / 10, bytes.len() / 2, bytes.len() - 2] {
            let cut = &bytes[..end];
            let header = read_header(cut).unwrap();
            for second_thread in [true, false] {
                let err = transcode_with(second_thread, cut, &header, &settings).unwrap_err();
                assert_eq!(err.kind(), ErrorKind::InvalidImage, "{err}");
                assert_eq!(err, decode(cut, &header, 8).unwrap_err(), "cut at {end}");
            }
        }
    }

    /// A photo-like JPEG with a texture, so that every resampling tap matters, tall enough
    /// for many strips and bands at every scale.
    fn textured_jpeg(gray: bool, progressive: bool) -> Vec<u8> {
        let rgb = RgbImage::from_fn(999, 777, |x, y| {
            let texture = ((x * 7 + y * 13) % 31) as u8;
            image::Rgb([(x / 4) as u8 ^ texture, (y / 3) as u8, ((x + y) / 7) as u8])
        });
        let image = if gray {
            DynamicImage::ImageLuma8(DynamicImage::ImageRgb8(rgb).to_luma8())
        } else {
            DynamicImage::ImageRgb8(rgb)
        };
        let settings = JpegSettings {
            quality: 85,
            progressive,
            exif: None,
            icc: None,
        };
        encode(&image, &settings).unwrap()
    }

    /// The shrink `decode::Source::jpeg_shrink` plans for `size` at `eighths`/8.
    fn shrink_to(header: &JpegHeader, eighths: u8, size: (u32, u32)) -> Shrink {
        let decoded = scaled_size(header, eighths);
        let source = (header.width, header.height);
        Shrink {
            eighths,
            extent: resize::exact_extent(source, f64::from(eighths) / 8.0, decoded),
            size,
        }
    }

    #[test]
    fn resizing_while_decoding_gives_the_pixels_of_resizing_after_it() {
        let settings = JpegSettings {
            quality: 80,
            progressive: false,
            exif: None,
            icc: None,
        };
        for (gray, progressive) in [(false, false), (true, false), (false, true)] {
            let bytes = textured_jpeg(gray, progressive);
            let header = read_header(&bytes).unwrap();
            // 1/8, 1/4 and 1/2 scale, full scale, one side only, and an upscale.
            for (eighths, size) in [
                (1, (100, 78)),
                (2, (200, 155)),
                (4, (333, 259)),
                (8, (600, 466)),
                (8, (999, 500)),
                (8, (1200, 933)),
            ] {
                let case = format!("gray {gray}, progressive {progressive}, {size:?}");
                let shrink = shrink_to(&header, eighths, size);
                let decoded = decode(&bytes, &header, eighths).unwrap();
                let after = resize::resize_extent(&decoded, shrink.extent, size.0, size.1).unwrap();
                let expected = encode(&after, &settings).unwrap();
                for second_thread in [true, false] {
                    let mut pixels = Vec::new();
                    decode_resized(second_thread, &bytes, &header, &shrink, &mut |rows| {
                        pixels.extend_from_slice(rows);
                        Ok(())
                    })
                    .unwrap();
                    assert!(
                        pixels == after.as_bytes(),
                        "{case}, second thread {second_thread}"
                    );
                    let encoded =
                        encode_resized_with(second_thread, &bytes, &header, &shrink, &settings);
                    assert!(
                        encoded.unwrap() == expected,
                        "{case}, second thread {second_thread}"
                    );
                }
            }
        }
    }

    #[test]
    fn damage_found_while_resizing_is_the_error_of_decoding() {
        let bytes = textured_jpeg(false, false);
        let settings = JpegSettings {
            quality: 80,
            progressive: false,
            exif: None,
            icc: None,
        };
        // Cut in the first strip, in the middle, and only the end-of-image marker missing.
        for end in [bytes.len() / 20, bytes.len() / 2, bytes.len() - 2] {
            let cut = &bytes[..end];
            let header = read_header(cut).unwrap();
            let shrink = shrink_to(&header, 4, (333, 259));
            for second_thread in [true, false] {
                let err = encode_resized_with(second_thread, cut, &header, &shrink, &settings)
                    .unwrap_err();
                assert_eq!(err, decode(cut, &header, 4).unwrap_err(), "cut at {end}");
            }
        }
    }

    #[test]
    fn truncation_is_an_error_not_a_grey_image() {
        let image = DynamicImage::ImageRgb8(RgbImage::from_fn(256, 256, |x, y| {
            image::Rgb([x as u8, y as u8, 0])
        }));
        let bytes = encode(
            &image,
            &JpegSettings {
                quality: 90,
                progressive: false,
                exif: None,
                icc: None,
            },
        )
        .unwrap();
        let cut = &bytes[..bytes.len() * 2 / 3];
        let header = read_header(cut).unwrap();
        let err = decode(cut, &header, 8).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidImage, "{err}");
    }
}
