//! A libjpeg compressor writing into memory, its optimised Huffman tables made and coded in
//! one pass by [`huffman`](super::huffman).

use std::io;
use std::mem::{take, zeroed};
use std::os::raw::{c_int, c_uint};
use std::ptr::null_mut;

use mozjpeg_sys::{
    J_COLOR_SPACE, J_INT_PARAM, JINT_COMPRESS_PROFILE_VALUE, JSAMPROW, boolean,
    jpeg_c_set_int_param, jpeg_compress_struct, jpeg_create_compress, jpeg_destination_mgr,
    jpeg_destroy_compress, jpeg_error_mgr, jpeg_finish_compress, jpeg_set_defaults,
    jpeg_set_quality, jpeg_simple_progression, jpeg_start_compress, jpeg_write_marker,
    jpeg_write_scanlines,
};

use super::huffman::{self, HuffmanCoder};
use super::{error_manager, samples_per_pixel};

/// The first application marker; APPn is `APP0 + n`.
const APP0: c_int = 0xE0;

/// Rows handed to libjpeg per call: its largest MCU height.
const ROWS_PER_CALL: usize = 16;

/// A compressor whose scanlines go into a `Vec`, destroyed when dropped (also while an error
/// unwinds through it). Every call must run inside [`guarded`](super::guarded).
pub(super) struct Compressor {
    cinfo: jpeg_compress_struct,
    err: jpeg_error_mgr,
    destination: Destination,
    coder: Box<HuffmanCoder>,
    row_bytes: usize,
}

// SAFETY: libjpeg keeps no state outside the compressor and what it allocates; the pointers
// in `cinfo` lead into the same box or to libjpeg's pools, and `&mut self` keeps to one thread
// at a time.
unsafe impl Send for Compressor {}

/// libjpeg's destination manager and the buffer behind it. The manager comes first, so the
/// pointer libjpeg keeps to it is a pointer to the whole.
#[repr(C)]
struct Destination {
    manager: jpeg_destination_mgr,
    /// Bytes written so far; libjpeg writes into its spare capacity.
    output: Vec<u8>,
}

/// Who makes and codes with optimised Huffman tables.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Coding {
    /// [`huffman`] in one pass where it can, libjpeg's two passes elsewhere.
    OnePass,
    /// libjpeg's two passes: what [`Coding::OnePass`] must match byte for byte.
    #[cfg(test)]
    Libjpeg,
}

impl Compressor {
    /// Starts a baseline (or, with `progressive`, progressive) JPEG of `width`×`height` pixels
    /// in `color_space` (gray or RGB) at `quality`, with libjpeg-turbo's defaults otherwise
    /// (4:2:0 chroma, no trellis quantisation) and optimised Huffman tables. The file's header
    /// is written; markers and then scanlines come next.
    pub(super) fn start(
        color_space: J_COLOR_SPACE,
        width: u32,
        height: u32,
        quality: u8,
        progressive: bool,
        coding: Coding,
    ) -> Box<Compressor> {
        let components = samples_per_pixel(color_space);
        let mut compressor = Box::new(Compressor {
            // SAFETY: jpeg_create_compress initialises the zeroed struct; destroying a zeroed
            // one (if creating it fails) does nothing.
            cinfo: unsafe { zeroed() },
            err: error_manager(),
            destination: Destination {
                manager: jpeg_destination_mgr {
                    next_output_byte: null_mut(),
                    free_in_buffer: 0,
                    init_destination: Some(init_destination),
                    empty_output_buffer: Some(empty_output_buffer),
                    term_destination: Some(term_destination),
                },
                output: Vec::with_capacity(width as usize * height as usize / 4),
            },
            coder: HuffmanCoder::new(),
            row_bytes: width as usize * components,
        });
        let this = &mut *compressor;
        // The box keeps everything in place, so cinfo may point into it.
        this.cinfo.common.err = &mut this.err;
        let cinfo = &mut this.cinfo;
        // SAFETY: cinfo's error manager is set; errors unwind to the caller's `guarded`,
        // dropping the box, which destroys the compressor. The destination and the coder
        // live in the same box as cinfo.
        unsafe {
            jpeg_create_compress(cinfo);
            cinfo.in_color_space = color_space;
            cinfo.input_components = components as c_int;
            jpeg_c_set_int_param(
                cinfo,
                J_INT_PARAM::JINT_COMPRESS_PROFILE,
                JINT_COMPRESS_PROFILE_VALUE::JCP_FASTEST as c_int,
            );
            jpeg_set_defaults(cinfo);
            cinfo.image_width = width;
            cinfo.image_height = height;
            jpeg_set_quality(cinfo, c_int::from(quality), 0);
            if progressive {
                jpeg_simple_progression(cinfo);
            }
            let one_pass = coding == Coding::OnePass && huffman::codes_here(cinfo);
            // Off, libjpeg keeps no coefficients and runs one pass, whose coder `install`
            // replaces.
            cinfo.optimize_coding = boolean::from(!one_pass);
            cinfo.dest = &mut this.destination.manager;
            jpeg_start_compress(cinfo, 1);
            if one_pass {
                huffman::install(cinfo, &mut this.coder);
            }
        }
        compressor
    }

    /// Writes an APPn marker segment (`data` at most 65533 bytes).
    pub(super) fn write_app_marker(&mut self, n: u8, data: &[u8]) {
        // SAFETY: libjpeg copies `data`; a segment too long is an error that unwinds.
        unsafe {
            jpeg_write_marker(
                &mut self.cinfo,
                APP0 + c_int::from(n),
                data.as_ptr(),
                data.len() as c_uint,
            )
        };
    }

    /// Compresses whole rows of pixels, top to bottom.
    pub(super) fn write_scanlines(&mut self, rows: &[u8]) -> io::Result<()> {
        if self.row_bytes == 0 || !rows.len().is_multiple_of(self.row_bytes) {
            return Err(io::Error::other("scanlines are not whole rows"));
        }
        for group in rows.chunks(ROWS_PER_CALL * self.row_bytes) {
            let mut pointers: [JSAMPROW; ROWS_PER_CALL] = [std::ptr::null(); ROWS_PER_CALL];
            let count = group.len() / self.row_bytes;
            for (pointer, row) in pointers.iter_mut().zip(group.chunks_exact(self.row_bytes)) {
                *pointer = row.as_ptr();
            }
            let mut written = 0;
            while written < count {
                // SAFETY: each pointer is to a whole row, which libjpeg only reads; rows
                // beyond the image's height are a warning, which unwinds.
                let now = unsafe {
                    jpeg_write_scanlines(
                        &mut self.cinfo,
                        pointers[written..].as_ptr(),
                        (count - written) as u32,
                    )
                };
                if now == 0 {
                    return Err(io::Error::other("the compressor took no scanline"));
                }
                written += now as usize;
            }
        }
        Ok(())
    }

    /// Writes the rest of the file (for optimised tables, every scan) and returns it.
    pub(super) fn finish(mut self: Box<Self>) -> Vec<u8> {
        // SAFETY: every scanline has been written; errors unwind.
        unsafe { jpeg_finish_compress(&mut self.cinfo) };
        take(&mut self.destination.output)
    }
}

impl Drop for Compressor {
    fn drop(&mut self) {
        // SAFETY: created in `start` (or zeroed); destroying also releases a compression left
        // unfinished.
        unsafe { jpeg_destroy_compress(&mut self.cinfo) };
    }
}

/// # Safety
/// `cinfo.dest` must be the manager of a [`Destination`].
unsafe fn destination(cinfo: &mut jpeg_compress_struct) -> &mut Destination {
    // SAFETY: the manager is the first field of a `repr(C)` Destination.
    unsafe { &mut *cinfo.dest.cast::<Destination>() }
}

/// Offers libjpeg the spare capacity of the output, growing it when there is none: libjpeg
/// stores a byte before it checks the space left.
fn offer_spare_capacity(destination: &mut Destination) {
    let output = &mut destination.output;
    if output.capacity() == output.len() {
        output.reserve(output.len().max(4096));
    }
    let spare = output.spare_capacity_mut();
    destination.manager.next_output_byte = spare.as_mut_ptr().cast();
    destination.manager.free_in_buffer = spare.len();
}

unsafe extern "C-unwind" fn init_destination(cinfo: &mut jpeg_compress_struct) {
    // SAFETY: installed by `Compressor::start`.
    offer_spare_capacity(unsafe { destination(cinfo) });
}

/// Called when libjpeg has filled all the space offered.
unsafe extern "C-unwind" fn empty_output_buffer(cinfo: &mut jpeg_compress_struct) -> boolean {
    // SAFETY: installed by `Compressor::start`; libjpeg wrote every byte of the spare capacity
    // it was offered.
    let destination = unsafe { destination(cinfo) };
    unsafe { destination.output.set_len(destination.output.capacity()) };
    offer_spare_capacity(destination);
    1
}

unsafe extern "C-unwind" fn term_destination(cinfo: &mut jpeg_compress_struct) {
    // SAFETY: installed by `Compressor::start`; libjpeg wrote the space offered but the
    // `free_in_buffer` bytes it left.
    let destination = unsafe { destination(cinfo) };
    let written = destination.output.capacity() - destination.manager.free_in_buffer;
    unsafe { destination.output.set_len(written) };
}

/// Hands `write` the output written so far, to append to, then offers libjpeg the space
/// after what it appended.
///
/// # Safety
/// `cinfo.dest` must be the manager of a [`Destination`].
pub(super) unsafe fn append_output(
    cinfo: &mut jpeg_compress_struct,
    write: impl FnOnce(&mut Vec<u8>),
) {
    // SAFETY: as in `term_destination`.
    let destination = unsafe { destination(cinfo) };
    let written = destination.output.capacity() - destination.manager.free_in_buffer;
    unsafe { destination.output.set_len(written) };
    write(&mut destination.output);
    offer_spare_capacity(destination);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::raw::c_long;

    use crate::jpeg::{guarded, samples_per_pixel};

    /// Gradients, flat areas and noise, so that blocks have long zero runs and large
    /// coefficients alike.
    fn test_pixels(width: u32, height: u32, channels: usize) -> Vec<u8> {
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        let mut pixels = Vec::new();
        for y in 0..height {
            for x in 0..width {
                for channel in 0..channels {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    let value = match (x / 8 + y / 8 + channel as u32) % 3 {
                        0 => (x * 255 / width.max(1)) as u8,
                        1 => 200,
                        _ => state as u8,
                    };
                    pixels.push(value);
                }
            }
        }
        pixels
    }

    fn encode(
        color_space: J_COLOR_SPACE,
        (width, height): (u32, u32),
        quality: u8,
        progressive: bool,
        coding: Coding,
    ) -> (Vec<u8>, c_long) {
        let pixels = test_pixels(width, height, samples_per_pixel(color_space));
        guarded(|| {
            let mut compressor =
                Compressor::start(color_space, width, height, quality, progressive, coding);
            compressor.write_app_marker(1, b"Exif\0\0MM");
            compressor.write_scanlines(&pixels)?;
            let counted = compressor.coder.blocks_counted();
            Ok((compressor.finish(), counted))
        })
        .unwrap()
    }

    #[test]
    fn one_pass_coding_writes_the_bytes_libjpegs_two_passes_write() {
        let cases = [
            (J_COLOR_SPACE::JCS_RGB, (33, 17), 80, 36), // 3×2 MCUs of 4 Y, Cb, Cr blocks
            (J_COLOR_SPACE::JCS_RGB, (1, 1), 80, 6),
            (J_COLOR_SPACE::JCS_RGB, (200, 131), 100, 13 * 9 * 6),
            (J_COLOR_SPACE::JCS_RGB, (200, 131), 1, 13 * 9 * 6),
            (J_COLOR_SPACE::JCS_GRAYSCALE, (64, 40), 90, 8 * 5),
            // Symbols enough to be coded in two halves when a core is free.
            (J_COLOR_SPACE::JCS_RGB, (1600, 1200), 95, 100 * 75 * 6),
        ];
        for (color_space, size, quality, blocks) in cases {
            let (one_pass, counted) = encode(color_space, size, quality, false, Coding::OnePass);
            let (libjpeg, _) = encode(color_space, size, quality, false, Coding::Libjpeg);
            assert_eq!(
                counted, blocks,
                "{color_space:?} {size:?}: blocks counted here"
            );
            assert!(
                one_pass == libjpeg,
                "{color_space:?} {size:?} q{quality}: bytes differ"
            );
            let decoded = image::load_from_memory(&one_pass).unwrap();
            assert_eq!((decoded.width(), decoded.height()), size);
        }
    }

    #[test]
    fn progressive_files_keep_libjpegs_passes() {
        let (one_pass, counted) =
            encode(J_COLOR_SPACE::JCS_RGB, (70, 50), 80, true, Coding::OnePass);
        let (libjpeg, _) = encode(J_COLOR_SPACE::JCS_RGB, (70, 50), 80, true, Coding::Libjpeg);
        assert_eq!(counted, 0);
        assert!(one_pass == libjpeg);
        assert_eq!(image::load_from_memory(&one_pass).unwrap().width(), 70);
    }

    #[test]
    fn output_grows_past_the_first_guess() {
        // Noise at quality 100 is far larger than width × height / 4 bytes.
        let (data, _) = encode(
            J_COLOR_SPACE::JCS_RGB,
            (300, 300),
            100,
            false,
            Coding::OnePass,
        );
        assert!(data.len() > 300 * 300 / 4, "{} bytes", data.len());
        assert_eq!(image::load_from_memory(&data).unwrap().height(), 300);
    }

    #[test]
    fn rows_that_are_not_whole_are_refused() {
        let result = guarded(|| {
            let mut compressor =
                Compressor::start(J_COLOR_SPACE::JCS_RGB, 10, 10, 80, false, Coding::OnePass);
            compressor.write_scanlines(&[0; 31])
        });
        assert!(result.is_err());
    }
}
