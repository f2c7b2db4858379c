//! A sequential JPEG decoded on two threads: Huffman decoding on the helper thread, the inverse
//! DCT, upsampling and colour conversion on this one.
//!
//! Decoding W1's 6-MP photo at 1/2 scale, libjpeg spends about 7 of its 10 ms in Huffman
//! decoding (`decode_mcu`), which is one serial walk through the data when the file has no
//! restart markers, and the rest in the inverse DCT, upsampling and colour conversion. With the
//! whole decoder on the helper thread, the thread that resizes and encodes the 720-pixel
//! result (4 ms) waited for it; with only the Huffman decoding there, the two threads carry
//! about the same work.
//!
//! Two libjpeg decompressors read the same bytes. The helper's has its entropy decoder called
//! directly, MCU after MCU, as libjpeg's single-pass coefficient controller
//! (`decompress_onepass` in `jdcoefct.c`) calls it; each MCU row's blocks go to a [`RowSink`],
//! and the decompressor then reads on to the end of the data, so damage after the last row is
//! still found. This thread's decompressor has its coefficient controller's `decompress_data`
//! replaced by [`inverse_dct_row`], which runs libjpeg's inverse DCT on the blocks of the iMCU
//! row handed over, as `decompress_onepass` does after decoding them. When no row is waiting
//! it reports suspension (as a data source that has run dry does), so `jpeg_read_scanlines`
//! returns the rows it could make and is called again once the next row is handed over. The
//! pixels are libjpeg's, the same as one decompressor's.
//!
//! Only a scan holding every component, read in one pass (not progressive, no buffered image)
//! is split ([`Layout::of`]); the offsets of libjpeg's private fields are those of the
//! libjpeg 6.2 ABI that mozjpeg-sys builds, checked against the binding's struct sizes.

use std::io;
use std::mem::{offset_of, size_of};
use std::os::raw::{c_int, c_void};
use std::ptr::null_mut;

use mozjpeg_sys::{
    J_COLOR_SPACE as ColorSpace, JBLOCK, JDIMENSION, boolean, jpeg_component_info,
    jpeg_consume_input, jpeg_decompress_struct,
};

use super::{Decompressor, check_frame_size, guarded, read_scanline, short_read, undecodable};
use crate::error::{Error, Result};
use crate::rows::{self, RowSink};

type DecompressPtr = *mut jpeg_decompress_struct;

/// `jpeglib.h`'s return codes of `decompress_data` and `jpeg_consume_input`.
const JPEG_SUSPENDED: c_int = 0;
const JPEG_REACHED_EOI: c_int = 2;
const JPEG_ROW_COMPLETED: c_int = 3;
const JPEG_SCAN_COMPLETED: c_int = 4;

/// Most blocks in an MCU (`D_MAX_BLOCKS_IN_MCU`).
const MAX_BLOCKS_IN_MCU: usize = 10;

/// The blocks handed to libjpeg's SIMD inverse DCT must be aligned (its SSE2 code reads them
/// with `movdqa`): each MCU row's blocks start at the first address of its row in the strip
/// that is a multiple of this, which maker and taker find alike, since the strip moves
/// between the threads without being copied.
const BLOCK_ALIGN: usize = 32;

/// The fields of `jpeg_decompress_struct` from `max_h_samp_factor` to its end, as `jpeglib.h`
/// declares them (libjpeg 6.2 ABI). The binding keeps them private; the assertion below checks
/// that this tail ends where the binding's struct does.
#[repr(C)]
struct ScanFields {
    max_h_samp_factor: c_int,
    max_v_samp_factor: c_int,
    min_dct_scaled_size: c_int,
    total_imcu_rows: JDIMENSION,
    sample_range_limit: *mut u8,
    comps_in_scan: c_int,
    cur_comp_info: [*mut ComponentFields; 4],
    mcus_per_row: JDIMENSION,
    mcu_rows_in_scan: JDIMENSION,
    blocks_in_mcu: c_int,
    mcu_membership: [c_int; MAX_BLOCKS_IN_MCU],
    ss: c_int,
    se: c_int,
    ah: c_int,
    al: c_int,
    unread_marker: c_int,
    /// master, main.
    controllers: [*mut c_void; 2],
    coef: *mut CoefController,
    post: *mut c_void,
    inputctl: *mut InputController,
    marker: *mut c_void,
    entropy: *mut EntropyDecoder,
    idct: *mut InverseDct,
    /// upsample, cconvert, cquantize.
    converters: [*mut c_void; 3],
}

const SCAN_FIELDS_AT: usize = offset_of!(jpeg_decompress_struct, max_h_samp_factor);
const _: () =
    assert!(SCAN_FIELDS_AT + size_of::<ScanFields>() == size_of::<jpeg_decompress_struct>());

/// `jpeg_component_info` of `jpeglib.h` (libjpeg 6.2 ABI), its private fields included.
#[repr(C)]
struct ComponentFields {
    component_id: c_int,
    component_index: c_int,
    h_samp_factor: c_int,
    v_samp_factor: c_int,
    quant_tbl_no: c_int,
    dc_tbl_no: c_int,
    ac_tbl_no: c_int,
    width_in_blocks: JDIMENSION,
    height_in_blocks: JDIMENSION,
    dct_scaled_size: c_int,
    downsampled_width: JDIMENSION,
    downsampled_height: JDIMENSION,
    component_needed: boolean,
    mcu_width: c_int,
    mcu_height: c_int,
    mcu_blocks: c_int,
    mcu_sample_width: c_int,
    last_col_width: c_int,
    last_row_height: c_int,
    quant_table: *mut c_void,
    dct_table: *mut c_void,
}

const _: () = assert!(size_of::<ComponentFields>() == size_of::<jpeg_component_info>());

/// A component's rows of samples (`JSAMPARRAY`), and the rows of every component (`JSAMPIMAGE`).
type SampleRows = *mut *mut u8;
type SampleImage = *mut SampleRows;

/// `struct jpeg_d_coef_controller` of `jpegint.h`.
#[repr(C)]
struct CoefController {
    start_input_pass: Option<unsafe extern "C-unwind" fn(DecompressPtr)>,
    consume_data: Option<unsafe extern "C-unwind" fn(DecompressPtr) -> c_int>,
    start_output_pass: Option<unsafe extern "C-unwind" fn(DecompressPtr)>,
    decompress_data: Option<unsafe extern "C-unwind" fn(DecompressPtr, SampleImage) -> c_int>,
    coef_arrays: *mut c_void,
}

/// `struct jpeg_input_controller` of `jpegint.h`.
#[repr(C)]
struct InputController {
    consume_input: Option<unsafe extern "C-unwind" fn(DecompressPtr) -> c_int>,
    reset_input_controller: Option<unsafe extern "C-unwind" fn(DecompressPtr)>,
    start_input_pass: Option<unsafe extern "C-unwind" fn(DecompressPtr)>,
    finish_input_pass: Option<unsafe extern "C-unwind" fn(DecompressPtr)>,
    has_multiple_scans: boolean,
    eoi_reached: boolean,
}

/// `struct jpeg_entropy_decoder` of `jpegint.h`.
#[repr(C)]
struct EntropyDecoder {
    start_pass: Option<unsafe extern "C-unwind" fn(DecompressPtr)>,
    decode_mcu: Option<unsafe extern "C-unwind" fn(DecompressPtr, *mut *mut JBLOCK) -> boolean>,
    insufficient_data: boolean,
}

type InverseDctMethod = unsafe extern "C-unwind" fn(
    DecompressPtr,
    *mut ComponentFields,
    *mut i16,
    SampleRows,
    JDIMENSION,
);

/// `struct jpeg_inverse_dct` of `jpegint.h`.
#[repr(C)]
struct InverseDct {
    start_pass: Option<unsafe extern "C-unwind" fn(DecompressPtr)>,
    inverse_dct: [Option<InverseDctMethod>; MAX_BLOCKS_IN_MCU],
}

/// # Safety
/// `cinfo` must point at a live decompressor.
unsafe fn scan_fields<'a>(cinfo: DecompressPtr) -> &'a ScanFields {
    // SAFETY: the tail of a live struct, whose layout the assertion above checks.
    unsafe { &*cinfo.cast::<u8>().add(SCAN_FIELDS_AT).cast::<ScanFields>() }
}

/// How the blocks of a started decompressor's scan are laid out.
#[derive(Clone, Copy)]
struct Layout {
    blocks_in_mcu: usize,
    mcus_per_row: usize,
    mcu_rows: usize,
    /// MCU rows in each iMCU row but the last: the component's vertical sampling factor for
    /// a scan of one component, else 1.
    mcu_rows_per_imcu_row: usize,
    /// Bytes of an MCU row in a strip: its blocks, and room to align them.
    mcu_row_bytes: usize,
}

impl Layout {
    /// The layout of `cinfo`'s scan when it is one the split takes: a single scan holding
    /// every component, read in one pass.
    ///
    /// # Safety
    /// `cinfo` must be started (`jpeg_start_decompress`), no scanline read.
    unsafe fn of(cinfo: &mut jpeg_decompress_struct) -> Option<Layout> {
        let buffered = cinfo.buffered_image != 0 || cinfo.raw_data_out != 0;
        // SAFETY: the decompressor is live and started, so its modules are in place.
        unsafe {
            let fields = scan_fields(cinfo);
            if buffered
                || fields.coef.is_null()
                || fields.entropy.is_null()
                || fields.idct.is_null()
                || fields.inputctl.is_null()
                || (*fields.inputctl).has_multiple_scans != 0
                || !(*fields.coef).coef_arrays.is_null()
                || (*fields.entropy).decode_mcu.is_none()
                || fields.comps_in_scan != cinfo.num_components
                || !(1..=4).contains(&fields.comps_in_scan)
                || !(1..=MAX_BLOCKS_IN_MCU as c_int).contains(&fields.blocks_in_mcu)
                || fields.mcus_per_row == 0
            {
                return None;
            }
            let mcu_rows_per_imcu_row = if fields.comps_in_scan == 1 {
                (*fields.cur_comp_info[0]).v_samp_factor.max(1) as usize
            } else {
                1
            };
            let blocks_in_mcu = fields.blocks_in_mcu as usize;
            let mcus_per_row = fields.mcus_per_row as usize;
            Some(Layout {
                blocks_in_mcu,
                mcus_per_row,
                mcu_rows: fields.mcu_rows_in_scan as usize,
                mcu_rows_per_imcu_row,
                mcu_row_bytes: mcus_per_row * blocks_in_mcu * size_of::<JBLOCK>() + BLOCK_ALIGN,
            })
        }
    }

    /// MCU rows in a strip: whole iMCU rows, about `strip_bytes` (at least one iMCU row).
    fn mcu_rows_per_strip(&self, strip_bytes: usize) -> usize {
        let imcu_row_bytes = self.mcu_row_bytes * self.mcu_rows_per_imcu_row;
        self.mcu_rows_per_imcu_row * (strip_bytes / imcu_row_bytes).max(1)
    }

    /// The aligned blocks of the MCU row that starts at `row` (`mcu_row_bytes` long).
    fn blocks(&self, row: *mut u8) -> *mut JBLOCK {
        let misaligned = row as usize % BLOCK_ALIGN;
        let skip = (BLOCK_ALIGN - misaligned) % BLOCK_ALIGN;
        row.wrapping_add(skip).cast()
    }
}

/// About how many bytes of blocks are handed over at a time, in whole iMCU rows. Each hand-over
/// may wake a waiting thread, which costs this VM some 60 µs: W1 took 18 ms with one iMCU row
/// (131 KB) at a time, 10.4 with two, 9.3–9.4 with four and eight, 9.8 with sixteen (the strips
/// no longer fit the L2 cache). Measured while the taker still slept until woken; it now looks
/// (`rows::next_strip`), and only the helper is woken.
const STRIP_BYTES: usize = 512 << 10;

/// The blocks handed to [`inverse_dct_row`] through `client_data`: `mcu_rows` MCU rows of
/// `layout.mcu_row_bytes` from `strip`, taken an iMCU row at a time; null when none waits.
struct HandedOver {
    layout: Layout,
    strip: *mut u8,
    mcu_rows: usize,
}

/// Decodes the 8-bit gray or RGB JPEG `bytes` at `eighths`/8 of its size, Huffman decoding on
/// a helper thread, and hands `take` the rows of [`super::decode_rows`], a strip of at most
/// `strip_rows` at a time. Returns `Ok(false)` having taken nothing when the JPEG's scan is not
/// one the split takes.
pub(super) fn decode_rows(
    bytes: &[u8],
    eighths: u8,
    color_space: ColorSpace,
    size: (u32, u32),
    strip_rows: usize,
    take: &mut (impl FnMut(&[u8]) -> Result<()> + Send),
) -> Result<bool> {
    let output = Output {
        color_space,
        size,
        strip_rows,
    };
    decode_rows_in_strips(bytes, eighths, &output, STRIP_BYTES, take)
}

/// What [`decode_rows`] makes.
struct Output {
    color_space: ColorSpace,
    size: (u32, u32),
    strip_rows: usize,
}

/// [`decode_rows`], handing over blocks in strips of about `strip_bytes`.
fn decode_rows_in_strips(
    bytes: &[u8],
    eighths: u8,
    output: &Output,
    strip_bytes: usize,
    take: &mut (impl FnMut(&[u8]) -> Result<()> + Send),
) -> Result<bool> {
    let Output {
        color_space,
        size,
        strip_rows,
    } = *output;
    let decompressor = guarded(|| {
        let decompressor = Decompressor::start(bytes, eighths, color_space);
        check_frame_size(&decompressor.cinfo, size)?;
        Ok(decompressor)
    })?;
    let Some(mut decoder) = RowsDecoder::new(decompressor) else {
        return Ok(false);
    };
    let layout = decoder.layout();
    let row_bytes = size.0 as usize * decoder.channels();
    let mut pixels = vec![0u8; row_bytes * strip_rows];
    let mut rows_made = 0;
    // The helper's thread is started by `rows::stream`; when it cannot be, the blocks are
    // decoded between the strips, and still make the same rows.
    rows::stream(
        true,
        layout.mcu_row_bytes,
        layout.mcu_rows_per_strip(strip_bytes),
        |sink| decode_blocks(bytes, eighths, color_space, layout, sink),
        |strip| {
            decoder.hand_over(strip);
            let made = (|| {
                while let Some(row) = pixels.chunks_exact_mut(row_bytes).nth(rows_made) {
                    if !decoder.read_row(row)? {
                        break; // the next iMCU row is needed
                    }
                    rows_made += 1;
                    if rows_made == strip_rows {
                        take(&pixels)?;
                        rows_made = 0;
                    }
                }
                Ok(())
            })();
            let taken = decoder.take_back();
            made?;
            if !taken {
                return Err(Error::internal("the inverse DCT left blocks untaken"));
            }
            Ok(())
        },
    )?;
    if !decoder.finished() {
        return Err(undecodable(short_read()));
    }
    if rows_made > 0 {
        take(&pixels[..rows_made * row_bytes])?;
    }
    Ok(true)
}

/// This thread's decompressor, which makes the rows from the blocks handed over. Its
/// `client_data` points at the [`HandedOver`] that [`inverse_dct_row`] reads and clears, which
/// is only ever reached through that pointer and freed with the decoder.
struct RowsDecoder {
    decompressor: Box<Decompressor>,
}

impl Drop for RowsDecoder {
    fn drop(&mut self) {
        // SAFETY: made by `Box::into_raw` in `new` and freed only here; libjpeg never reads
        // client_data, and the decompressor (dropped next) calls nothing that does.
        drop(unsafe { Box::from_raw(self.handed()) });
    }
}

// SAFETY: a RowsDecoder is only used on the thread that made it, but held by the taker, which
// `rows::stream` requires to be `Send`.
unsafe impl Send for RowsDecoder {}

impl RowsDecoder {
    /// `decompressor`, started, with [`inverse_dct_row`] in place of its own, when its scan is
    /// one the split takes.
    fn new(mut decompressor: Box<Decompressor>) -> Option<RowsDecoder> {
        let cinfo = &mut decompressor.cinfo;
        // SAFETY: started, no scanline read.
        let layout = unsafe { Layout::of(cinfo) }?;
        let handed = Box::new(HandedOver {
            layout,
            strip: null_mut(),
            mcu_rows: 0,
        });
        cinfo.common.client_data = Box::into_raw(handed).cast();
        // SAFETY: the coefficient controller is libjpeg's, alive until the decompressor is
        // destroyed; its single pass has not begun.
        unsafe { (*scan_fields(cinfo).coef).decompress_data = Some(inverse_dct_row) };
        Some(RowsDecoder { decompressor })
    }

    fn channels(&self) -> usize {
        self.decompressor.cinfo.output_components as usize
    }

    fn layout(&self) -> Layout {
        // SAFETY: client_data points at the HandedOver this decoder owns.
        unsafe { (*self.handed()).layout }
    }

    fn handed(&self) -> *mut HandedOver {
        self.decompressor.cinfo.common.client_data.cast()
    }

    /// Hands over `strip`, whole iMCU rows of blocks, for the rows read next.
    fn hand_over(&mut self, strip: &[u8]) {
        let handed = self.handed();
        // SAFETY: client_data points at the HandedOver this decoder owns.
        unsafe {
            (*handed).strip = strip.as_ptr().cast_mut();
            (*handed).mcu_rows = strip.len() / (*handed).layout.mcu_row_bytes;
        }
    }

    /// Forgets the strip handed over; whether it had been taken.
    fn take_back(&mut self) -> bool {
        let handed = self.handed();
        // SAFETY: as in `hand_over`.
        unsafe { std::mem::replace(&mut (*handed).strip, null_mut()).is_null() }
    }

    /// Reads the next row into `row`; false when it needs an iMCU row not yet handed over.
    fn read_row(&mut self, row: &mut [u8]) -> Result<bool> {
        let cinfo = &mut self.decompressor.cinfo;
        if cinfo.output_scanline >= cinfo.output_height {
            return Ok(false);
        }
        guarded(|| Ok(read_scanline(cinfo, row)))
    }

    fn finished(&self) -> bool {
        let cinfo = &self.decompressor.cinfo;
        cinfo.output_scanline >= cinfo.output_height
    }
}

/// The helper's side: a second decompressor of `bytes`, whose entropy decoder writes every
/// MCU row's blocks to `sink`; then reads on to the end of the data.
fn decode_blocks(
    bytes: &[u8],
    eighths: u8,
    color_space: ColorSpace,
    layout: Layout,
    sink: &mut RowSink,
) -> Result<()> {
    guarded(|| {
        let mut decoder = Decompressor::start(bytes, eighths, color_space);
        let cinfo: DecompressPtr = &mut decoder.cinfo;
        // SAFETY: the decompressor is started; its layout is checked to be the one the rows
        // decoder found, from the same bytes and settings.
        unsafe {
            let same = Layout::of(&mut *cinfo).is_some_and(|own| {
                (own.blocks_in_mcu, own.mcus_per_row, own.mcu_rows)
                    == (layout.blocks_in_mcu, layout.mcus_per_row, layout.mcu_rows)
            });
            if !same {
                return Err(io::Error::other("the scan differs between two reads"));
            }
            let fields = scan_fields(cinfo);
            let decode_mcu = (*fields.entropy).decode_mcu.expect("checked by Layout::of");
            let mut mcu: [*mut JBLOCK; MAX_BLOCKS_IN_MCU] = [null_mut(); MAX_BLOCKS_IN_MCU];
            for _ in 0..layout.mcu_rows {
                sink.push_with(|row| {
                    let blocks = layout.blocks(row.as_mut_ptr());
                    let count = layout.mcus_per_row * layout.blocks_in_mcu;
                    // The entropy decoder writes only the non-zero coefficients.
                    blocks.write_bytes(0, count);
                    for first in (0..count).step_by(layout.blocks_in_mcu) {
                        for (slot, block) in mcu.iter_mut().zip(first..first + layout.blocks_in_mcu)
                        {
                            *slot = blocks.add(block);
                        }
                        if decode_mcu(cinfo, mcu.as_mut_ptr()) == 0 {
                            return Err(short_read()); // suspension: the data ran out
                        }
                    }
                    Ok(())
                })?;
            }
            let finish = (*fields.inputctl)
                .finish_input_pass
                .expect("libjpeg's input controller");
            finish(cinfo);
            // Reads to the end of the image, so damage after the last row is still found.
            loop {
                match jpeg_consume_input(&mut *cinfo) {
                    JPEG_REACHED_EOI => return Ok(()),
                    JPEG_SUSPENDED => return Err(short_read()),
                    _ => {}
                }
            }
        }
    })
}

/// `decompress_data`: the inverse DCT of the iMCU row handed over, into the sample rows of
/// each component, as `decompress_onepass` of `jdcoefct.c` does; suspension when none waits.
unsafe extern "C-unwind" fn inverse_dct_row(cinfo: DecompressPtr, output: SampleImage) -> c_int {
    // SAFETY: installed by `decode_rows`, which put the HandedOver in client_data and sets its
    // strip, alive for this call, to MCU rows of `layout.mcu_row_bytes` with aligned blocks;
    // the component, inverse DCT and sample row pointers are libjpeg's, for this pass.
    unsafe {
        let handed = &mut *(*cinfo).common.client_data.cast::<HandedOver>();
        if handed.strip.is_null() {
            return JPEG_SUSPENDED;
        }
        let layout = handed.layout;
        let mcu_rows = handed.mcu_rows.min(layout.mcu_rows_per_imcu_row);
        let fields = scan_fields(cinfo);
        let last_mcu_col = layout.mcus_per_row - 1;
        let last_row = (*cinfo).input_iMCU_row + 1 >= fields.total_imcu_rows;
        for y_offset in 0..mcu_rows {
            let blocks = layout.blocks(handed.strip.add(y_offset * layout.mcu_row_bytes));
            for mcu_col in 0..layout.mcus_per_row {
                let mut block = mcu_col * layout.blocks_in_mcu;
                for &component in &fields.cur_comp_info[..fields.comps_in_scan as usize] {
                    let info = &mut *component;
                    if info.component_needed == 0 {
                        block += info.mcu_blocks as usize;
                        continue;
                    }
                    let inverse_dct = (*fields.idct).inverse_dct[info.component_index as usize]
                        .expect("libjpeg's inverse DCT");
                    let useful_width = if mcu_col < last_mcu_col {
                        info.mcu_width
                    } else {
                        info.last_col_width
                    } as usize;
                    let scaled = info.dct_scaled_size as usize;
                    let mut rows =
                        (*output.add(info.component_index as usize)).add(y_offset * scaled);
                    let start_col = mcu_col * info.mcu_sample_width as usize;
                    for y_index in 0..info.mcu_height as usize {
                        if !last_row || y_offset + y_index < info.last_row_height as usize {
                            for x_index in 0..useful_width {
                                inverse_dct(
                                    cinfo,
                                    info,
                                    blocks.add(block + x_index).cast(),
                                    rows,
                                    (start_col + x_index * scaled) as JDIMENSION,
                                );
                            }
                        }
                        block += info.mcu_width as usize;
                        rows = rows.add(scaled);
                    }
                }
            }
        }
        handed.mcu_rows -= mcu_rows;
        handed.strip = if handed.mcu_rows == 0 {
            null_mut()
        } else {
            handed.strip.add(mcu_rows * layout.mcu_row_bytes)
        };
        (*cinfo).output_iMCU_row += 1;
        (*cinfo).input_iMCU_row += 1;
        if (*cinfo).input_iMCU_row < fields.total_imcu_rows {
            JPEG_ROW_COMPLETED
        } else {
            JPEG_SCAN_COMPLETED
        }
    }
}

#[cfg(test)]
mod tests {
    use std::os::raw::c_ulong;

    use image::DynamicImage;
    use mozjpeg_sys::{
        J_INT_PARAM, JINT_COMPRESS_PROFILE_VALUE, jpeg_c_set_int_param, jpeg_compress_struct,
        jpeg_create_compress, jpeg_destroy_compress, jpeg_finish_compress, jpeg_mem_dest,
        jpeg_set_defaults, jpeg_set_quality, jpeg_simple_progression, jpeg_start_compress,
        jpeg_write_scanlines,
    };

    use super::*;
    use crate::jpeg::{decode, error_manager, read_header};

    unsafe extern "C" {
        /// Releases what `jpeg_mem_dest` allocated.
        fn free(pointer: *mut c_void);
    }

    /// How a test JPEG is written.
    struct Coding<'a> {
        /// Each component's horizontal and vertical sampling factors.
        sampling: &'a [(c_int, c_int)],
        /// MCUs between restart markers; 0 for none.
        restart_interval: u32,
        progressive: bool,
    }

    const BASELINE_420: Coding = Coding {
        sampling: &[(2, 2), (1, 1), (1, 1)],
        restart_interval: 0,
        progressive: false,
    };

    fn textured(width: u32, height: u32, channels: usize) -> Vec<u8> {
        (0..height)
            .flat_map(|y| (0..width).map(move |x| (x, y)))
            .flat_map(|(x, y)| {
                (0..channels as u32)
                    .map(move |c| ((x * (5 + c) + y * (3 + 2 * c) + (x * y) % 17) % 256) as u8)
            })
            .collect()
    }

    /// A JPEG at quality 90 of `pixels` (gray or RGB), coded as `coding` says.
    fn jpeg_of(width: u32, height: u32, pixels: &[u8], coding: &Coding) -> Vec<u8> {
        let channels = pixels.len() / (width as usize * height as usize);
        guarded(|| {
            let mut err = error_manager();
            // SAFETY: jpeg_create_compress initialises the zeroed struct; every row handed
            // over is a whole row; the output libjpeg allocated is copied, then freed.
            unsafe {
                let mut cinfo: jpeg_compress_struct = std::mem::zeroed();
                cinfo.common.err = &mut err;
                jpeg_create_compress(&mut cinfo);
                let (mut out, mut len): (*mut u8, c_ulong) = (null_mut(), 0);
                jpeg_mem_dest(&mut cinfo, &mut out, &mut len);
                cinfo.image_width = width;
                cinfo.image_height = height;
                cinfo.input_components = channels as c_int;
                cinfo.in_color_space = if channels == 1 {
                    ColorSpace::JCS_GRAYSCALE
                } else {
                    ColorSpace::JCS_RGB
                };
                jpeg_c_set_int_param(
                    &mut cinfo,
                    J_INT_PARAM::JINT_COMPRESS_PROFILE,
                    JINT_COMPRESS_PROFILE_VALUE::JCP_FASTEST as c_int,
                );
                jpeg_set_defaults(&mut cinfo);
                jpeg_set_quality(&mut cinfo, 90, 1);
                for (index, &(h, v)) in coding.sampling.iter().enumerate() {
                    let component = &mut *cinfo.comp_info.add(index);
                    component.h_samp_factor = h;
                    component.v_samp_factor = v;
                }
                cinfo.restart_interval = coding.restart_interval;
                if coding.progressive {
                    jpeg_simple_progression(&mut cinfo);
                }
                jpeg_start_compress(&mut cinfo, 1);
                for row in pixels.chunks_exact(width as usize * channels) {
                    let start = row.as_ptr();
                    jpeg_write_scanlines(&mut cinfo, &start, 1);
                }
                jpeg_finish_compress(&mut cinfo);
                let bytes = std::slice::from_raw_parts(out, len as usize).to_vec();
                free(out.cast());
                jpeg_destroy_compress(&mut cinfo);
                Ok(bytes)
            }
        })
        .unwrap()
    }

    /// The rows the split makes of `bytes` at `eighths`/8, in strips of about `strip_bytes`
    /// of blocks; `None` when it does not take the JPEG.
    fn split_rows(bytes: &[u8], eighths: u8, strip_bytes: usize) -> Result<Option<Vec<u8>>> {
        let header = read_header(bytes)?;
        let color_space = if header.components == 1 {
            ColorSpace::JCS_GRAYSCALE
        } else {
            ColorSpace::JCS_RGB
        };
        let output = Output {
            color_space,
            size: super::super::scaled_size(&header, eighths),
            strip_rows: 7,
        };
        let mut rows = Vec::new();
        let taken = decode_rows_in_strips(bytes, eighths, &output, strip_bytes, &mut |strip| {
            assert!(strip.len() <= 7 * output.size.0 as usize * usize::from(header.components));
            rows.extend_from_slice(strip);
            Ok(())
        })?;
        Ok(taken.then_some(rows))
    }

    fn whole_decode(bytes: &[u8], eighths: u8) -> Result<Vec<u8>> {
        let image = decode(bytes, &read_header(bytes)?, eighths)?;
        Ok(match image {
            DynamicImage::ImageLuma8(gray) => gray.into_raw(),
            other => other.into_rgb8().into_raw(),
        })
    }

    #[test]
    fn the_split_makes_the_pixels_of_one_decompressor() {
        let rgb_codings: Vec<Coding> = [
            [(2, 2), (1, 1), (1, 1)],
            [(2, 1), (1, 1), (1, 1)],
            [(1, 2), (1, 1), (1, 1)],
            [(1, 1), (1, 1), (1, 1)],
            [(4, 1), (1, 1), (1, 1)],
            [(2, 2), (1, 2), (2, 1)],
        ]
        .iter()
        .flat_map(|sampling| {
            [0, 3].map(|restart_interval| Coding {
                sampling: sampling.as_slice(),
                restart_interval,
                progressive: false,
            })
        })
        .collect();
        let gray_codings = [(1, 1), (2, 2), (1, 3)].map(|sampling| (sampling, 5));
        let gray_codings: Vec<Coding> = gray_codings
            .iter()
            .map(|(sampling, restart_interval)| Coding {
                sampling: std::slice::from_ref(sampling),
                restart_interval: *restart_interval,
                progressive: false,
            })
            .collect();
        let mut cases = 0;
        for (width, height) in [(211, 157), (5, 3), (64, 64)] {
            for (channels, codings) in [(3, &rgb_codings), (1, &gray_codings)] {
                let pixels = textured(width, height, channels);
                for coding in codings.iter() {
                    let bytes = jpeg_of(width, height, &pixels, coding);
                    for eighths in [1, 2, 4, 8] {
                        let expected = whole_decode(&bytes, eighths).unwrap();
                        for strip_bytes in [1, STRIP_BYTES] {
                            let rows = split_rows(&bytes, eighths, strip_bytes).unwrap();
                            assert!(
                                rows == Some(expected.clone()),
                                "{width}x{height}, {channels} channels, sampling {:?}, \
                                 restarts {}, {eighths}/8, strips of {strip_bytes}",
                                coding.sampling,
                                coding.restart_interval
                            );
                            cases += 1;
                        }
                    }
                }
            }
        }
        assert_eq!(cases, 3 * (12 + 3) * 4 * 2);
    }

    #[test]
    fn a_progressive_jpeg_is_left_to_one_decompressor() {
        let progressive = Coding {
            progressive: true,
            ..BASELINE_420
        };
        let bytes = jpeg_of(64, 48, &textured(64, 48, 3), &progressive);
        assert_eq!(split_rows(&bytes, 8, STRIP_BYTES).unwrap(), None);
    }

    #[test]
    fn damage_is_found_as_one_decompressor_finds_it() {
        let bytes = jpeg_of(211, 157, &textured(211, 157, 3), &BASELINE_420);
        let truncated = &bytes[..bytes.len() / 2];
        let err = split_rows(truncated, 4, 1).unwrap_err().to_string();
        assert!(err.contains("corrupt or truncated"), "{err}");
        assert!(whole_decode(truncated, 4).is_err());
        // Bytes after the scan that are not a marker (more than the Huffman decoder reads
        // ahead), found only by reading on to the end.
        let mut trailing = bytes[..bytes.len() - 2].to_vec();
        trailing.extend_from_slice(&[0x12; 64]);
        trailing.extend_from_slice(&[0xFF, 0xD9]);
        let err = split_rows(&trailing, 2, STRIP_BYTES)
            .unwrap_err()
            .to_string();
        assert!(err.contains("corrupt or truncated"), "{err}");
        assert!(whole_decode(&trailing, 2).is_err());
        // Entropy-coded data scrambled in the middle: both fail, or both make the same pixels.
        for at in (600..bytes.len() - 600).step_by(997) {
            let mut scrambled = bytes.clone();
            scrambled[at] ^= 0x5A;
            let split = split_rows(&scrambled, 8, 1).map(|rows| rows.unwrap());
            match (split, whole_decode(&scrambled, 8)) {
                (Ok(split), Ok(whole)) => assert!(split == whole, "byte {at} scrambled"),
                (Err(_), Err(_)) => {}
                (split, whole) => panic!(
                    "byte {at} scrambled: split {:?}, whole {:?}",
                    split.map(|_| ()),
                    whole.map(|_| ())
                ),
            }
        }
    }
}
