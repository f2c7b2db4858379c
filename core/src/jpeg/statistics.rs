//! The statistics pass of optimised Huffman tables, counted without branching on every
//! coefficient.
//!
//! With `optimize_coding`, libjpeg first counts the Huffman symbols every block will be coded
//! with, then builds the tables from the counts and codes the blocks again. Its counting
//! (`encode_mcu_gather` in `jchuff.c`) tests the 63 AC coefficients one by one in zig-zag
//! order and finds each magnitude's bit count in a loop: a fifth of the CPU time of a
//! 6-megapixel re-encode, and 8 % of a thumbnail's. Here a block's non-zero coefficients are
//! found as a bit mask and visited in zig-zag order with `trailing_zeros`, their bit counts
//! taken with `leading_zeros`; the counts, and so the tables and every byte written, are the
//! ones libjpeg's own pass makes (tested against it below and in `compress`).
//!
//! libjpeg calls its entropy coder through function pointers that its master controller sets
//! at the start of every pass. [`install`] replaces the two of the statistics pass after
//! `jpeg_start_compress` has set them: counting the blocks, and making the tables at the end
//! of the pass with libjpeg's own `jpeg_gen_optimal_table`. The output pass then sets libjpeg's
//! own coder again. Only a sequential Huffman-coded scan without restart markers is counted
//! here, which is the only kind picsmith writes with optimised tables; anything else keeps
//! libjpeg's pass.

use std::ffi::c_void;
use std::mem::{offset_of, size_of};
use std::os::raw::{c_int, c_long};
use std::panic::resume_unwind;

use mozjpeg_sys::{
    J_BOOLEAN_PARAM, JBLOCKROW, JDIMENSION, JHUFF_TBL, boolean, jpeg_alloc_huff_table,
    jpeg_c_get_bool_param, jpeg_component_info, jpeg_compress_struct,
};

use super::JpegFailure;

unsafe extern "C-unwind" {
    /// `jchuff.c`: builds a length-limited Huffman table from 257 symbol counts (which it
    /// clobbers). Global in libjpeg, though not in its public header.
    fn jpeg_gen_optimal_table(
        cinfo: *mut jpeg_compress_struct,
        htbl: *mut JHUFF_TBL,
        freq: *mut c_long,
    );
}

/// The fields of `jpeg_compress_struct` from `max_h_samp_factor` to its end, as `jpeglib.h`
/// declares them (libjpeg 6.2 ABI, which mozjpeg-sys builds by default). The binding keeps
/// the scan fields private; the assertion below checks that this tail ends where the binding's
/// struct does.
#[repr(C)]
struct ScanFields {
    max_h_samp_factor: c_int,
    max_v_samp_factor: c_int,
    total_imcu_rows: JDIMENSION,
    comps_in_scan: c_int,
    cur_comp_info: [*mut jpeg_component_info; 4],
    mcus_per_row: JDIMENSION,
    mcu_rows_in_scan: JDIMENSION,
    blocks_in_mcu: c_int,
    mcu_membership: [c_int; 10],
    ss: c_int,
    se: c_int,
    ah: c_int,
    al: c_int,
    /// master, main, prep, coef, marker, cconvert, downsample, fdct.
    controllers: [*mut c_void; 8],
    entropy: *mut EntropyEncoder,
    script_space: *mut c_void,
    script_space_size: c_int,
}

const SCAN_FIELDS_AT: usize = offset_of!(jpeg_compress_struct, max_h_samp_factor);
const _: () =
    assert!(SCAN_FIELDS_AT + size_of::<ScanFields>() == size_of::<jpeg_compress_struct>());

/// `struct jpeg_entropy_encoder` of `jpegint.h`.
#[repr(C)]
struct EntropyEncoder {
    start_pass: Option<unsafe extern "C-unwind" fn(*mut jpeg_compress_struct, boolean)>,
    encode_mcu:
        Option<unsafe extern "C-unwind" fn(*mut jpeg_compress_struct, *mut JBLOCKROW) -> boolean>,
    finish_pass: Option<unsafe extern "C-unwind" fn(*mut jpeg_compress_struct)>,
}

/// # Safety
/// `cinfo` must point at a live compressor.
unsafe fn scan_fields<'a>(cinfo: *mut jpeg_compress_struct) -> &'a ScanFields {
    // SAFETY: the tail of a live struct, whose layout the assertion above checks.
    unsafe { &*cinfo.cast::<u8>().add(SCAN_FIELDS_AT).cast::<ScanFields>() }
}

/// Symbol counts of a statistics pass: 257 per table, as `jpeg_gen_optimal_table` expects.
pub(super) struct Statistics {
    dc: [[c_long; 257]; 4],
    ac: [[c_long; 257]; 4],
    /// The previous block's DC coefficient of each component in the scan.
    last_dc: [i16; 4],
}

impl Statistics {
    pub(super) fn new() -> Box<Statistics> {
        Box::new(Statistics {
            dc: [[0; 257]; 4],
            ac: [[0; 257]; 4],
            last_dc: [0; 4],
        })
    }
}

impl Statistics {
    /// DC symbols counted so far: one per block.
    #[cfg(test)]
    pub(super) fn blocks_counted(&self) -> c_long {
        self.dc.iter().flatten().sum()
    }
}

/// Counts this compressor's statistics pass into `statistics` instead of libjpeg's own pass,
/// when the pass is one counted here (see the module documentation); otherwise leaves it.
///
/// # Safety
/// `cinfo` must be a compressor just after `jpeg_start_compress`, and `statistics` must stay
/// in place, unused elsewhere, until the compressor is finished or destroyed.
pub(super) unsafe fn install(cinfo: &mut jpeg_compress_struct, statistics: &mut Statistics) {
    // SAFETY: reads a parameter of a live compressor.
    let trellis =
        unsafe { jpeg_c_get_bool_param(cinfo, J_BOOLEAN_PARAM::JBOOLEAN_TRELLIS_QUANT) } != 0;
    let counted_here = cinfo.optimize_coding != 0
        && cinfo.arith_code == 0
        && cinfo.scan_info.is_null()
        && cinfo.restart_interval == 0
        && !trellis;
    // SAFETY: the compressor is live.
    let fields = unsafe { scan_fields(cinfo) };
    if !counted_here || fields.entropy.is_null() || fields.blocks_in_mcu as usize > 10 {
        return;
    }
    cinfo.common.client_data = (statistics as *mut Statistics).cast();
    // SAFETY: the entropy coder is libjpeg's, alive until the compressor is destroyed; its
    // start of pass set these two pointers, which the next pass sets anew.
    unsafe {
        (*fields.entropy).encode_mcu = Some(count_mcu);
        (*fields.entropy).finish_pass = Some(make_tables);
    }
}

/// `encode_mcu` of the statistics pass: counts the symbols of one MCU's blocks.
unsafe extern "C-unwind" fn count_mcu(
    cinfo: *mut jpeg_compress_struct,
    mcu_data: *mut JBLOCKROW,
) -> boolean {
    // SAFETY: installed by `install`, which put the statistics in client_data; libjpeg hands
    // over `blocks_in_MCU` block pointers, each to one 64-coefficient block.
    unsafe {
        let fields = scan_fields(cinfo);
        let statistics = &mut *(*cinfo).common.client_data.cast::<Statistics>();
        for block_number in 0..fields.blocks_in_mcu as usize {
            let component = fields.mcu_membership[block_number] as usize;
            let info = &*fields.cur_comp_info[component];
            let block = &**mcu_data.add(block_number);
            let counted = count_block(
                block,
                statistics.last_dc[component],
                &mut statistics.dc[info.dc_tbl_no as usize],
                &mut statistics.ac[info.ac_tbl_no as usize],
            );
            if counted.is_err() {
                resume_unwind(Box::new(JpegFailure("DCT coefficient out of range".into())));
            }
            statistics.last_dc[component] = block[0];
        }
    }
    1
}

/// `finish_pass` of the statistics pass: makes each table the scan uses from its counts, as
/// libjpeg's `finish_pass_gather` does.
unsafe extern "C-unwind" fn make_tables(cinfo: *mut jpeg_compress_struct) {
    // SAFETY: as in `count_mcu`; the table pointers are the compressor's own, allocated from
    // its pool when missing.
    unsafe {
        let fields = scan_fields(cinfo);
        let statistics = &mut *(*cinfo).common.client_data.cast::<Statistics>();
        let (mut dc_done, mut ac_done) = ([false; 4], [false; 4]);
        for component in 0..fields.comps_in_scan as usize {
            let info = &*fields.cur_comp_info[component];
            let (dc, ac) = (info.dc_tbl_no as usize, info.ac_tbl_no as usize);
            if !dc_done[dc] {
                let table = table_or_new(cinfo, &mut (*cinfo).dc_huff_tbl_ptrs[dc]);
                jpeg_gen_optimal_table(cinfo, table, statistics.dc[dc].as_mut_ptr());
                dc_done[dc] = true;
            }
            if !ac_done[ac] {
                let table = table_or_new(cinfo, &mut (*cinfo).ac_huff_tbl_ptrs[ac]);
                jpeg_gen_optimal_table(cinfo, table, statistics.ac[ac].as_mut_ptr());
                ac_done[ac] = true;
            }
        }
    }
}

/// # Safety
/// `cinfo` must be live and `slot` one of its table pointers.
unsafe fn table_or_new(
    cinfo: *mut jpeg_compress_struct,
    slot: &mut *mut JHUFF_TBL,
) -> *mut JHUFF_TBL {
    if slot.is_null() {
        // SAFETY: allocates from the compressor's permanent pool.
        *slot = unsafe { jpeg_alloc_huff_table(&mut (*cinfo).common) };
    }
    *slot
}

/// Zig-zag position → index in the block (row-major), `jpeg_natural_order` of libjpeg.
const NATURAL_ORDER: [u8; 64] = [
    0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20,
    13, 6, 7, 14, 21, 28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59,
    52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
];

/// Index in the block → zig-zag position: the inverse of [`NATURAL_ORDER`].
const ZIGZAG_POSITION: [u8; 64] = {
    let mut inverse = [0u8; 64];
    let mut position = 0;
    while position < 64 {
        inverse[NATURAL_ORDER[position] as usize] = position as u8;
        position += 1;
    }
    inverse
};

/// Largest magnitude category of an AC coefficient of 8-bit samples (`MAX_COEF_BITS`); a DC
/// difference may take one more.
const MAX_AC_BITS: u32 = 10;

/// A coefficient beyond what 8-bit samples can produce.
#[derive(Debug, PartialEq)]
struct OutOfRange;

/// The magnitude category of a coefficient: the bit count of its absolute value.
fn category(value: i32) -> u32 {
    32 - value.unsigned_abs().leading_zeros()
}

/// Bit `i` set where `block[i]` is not zero.
#[cfg(target_arch = "x86_64")]
fn non_zero(block: &[i16; 64]) -> u64 {
    use std::arch::x86_64::{
        __m128i, _mm_cmpeq_epi16, _mm_loadu_si128, _mm_movemask_epi8, _mm_packs_epi16,
        _mm_setzero_si128,
    };
    let mut zeros = 0u64;
    // SAFETY: SSE2 is part of every x86-64 processor; each pair of loads reads the 16
    // coefficients of one chunk, unaligned. (The compiler's own vectors of a plain loop were
    // four times slower.)
    unsafe {
        let zero = _mm_setzero_si128();
        for (sixteen, values) in block.chunks_exact(16).enumerate() {
            let low = _mm_loadu_si128(values.as_ptr().cast::<__m128i>());
            let high = _mm_loadu_si128(values[8..].as_ptr().cast::<__m128i>());
            let bytes = _mm_packs_epi16(_mm_cmpeq_epi16(low, zero), _mm_cmpeq_epi16(high, zero));
            zeros |= u64::from(_mm_movemask_epi8(bytes) as u16) << (16 * sixteen);
        }
    }
    !zeros
}

/// Bit `i` set where `block[i]` is not zero.
#[cfg(not(target_arch = "x86_64"))]
fn non_zero(block: &[i16; 64]) -> u64 {
    block.iter().enumerate().fold(0, |bits, (index, &value)| {
        bits | u64::from(value != 0) << index
    })
}

/// Counts the symbols `block` (row-major) is coded with after a block whose DC coefficient
/// was `last_dc` (T.81 F.1.2): the DC difference's category, and for each non-zero AC
/// coefficient in zig-zag order the zeros before it with its category, runs over 15 zeros as
/// ZRL (0xF0) and trailing zeros as EOB (0x00).
fn count_block(
    block: &[i16; 64],
    last_dc: i16,
    dc: &mut [c_long; 257],
    ac: &mut [c_long; 257],
) -> Result<(), OutOfRange> {
    let dc_bits = category(i32::from(block[0]) - i32::from(last_dc));
    if dc_bits > MAX_AC_BITS + 1 {
        return Err(OutOfRange);
    }
    dc[dc_bits as usize] += 1;

    // The non-zero AC coefficients, first by index, then by zig-zag position.
    let mut by_index = non_zero(block) & !1;
    let mut by_position = 0u64;
    while by_index != 0 {
        by_position |= 1 << ZIGZAG_POSITION[by_index.trailing_zeros() as usize];
        by_index &= by_index - 1;
    }

    let mut last_position = 0;
    while by_position != 0 {
        let position = by_position.trailing_zeros();
        by_position &= by_position - 1;
        let mut run = position - last_position - 1;
        last_position = position;
        while run > 15 {
            ac[0xF0] += 1;
            run -= 16;
        }
        let bits = category(i32::from(block[NATURAL_ORDER[position as usize] as usize]));
        if bits > MAX_AC_BITS {
            return Err(OutOfRange);
        }
        ac[(run << 4 | bits) as usize] += 1;
    }
    if last_position < 63 {
        ac[0] += 1;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// libjpeg's `htest_one_block`, transcribed as written: the reference the counts must match.
    fn reference_counts(
        block: &[i16; 64],
        last_dc: i16,
        dc: &mut [c_long; 257],
        ac: &mut [c_long; 257],
    ) {
        let mut temp = (i32::from(block[0]) - i32::from(last_dc)).abs();
        let mut nbits = 0;
        while temp != 0 {
            nbits += 1;
            temp >>= 1;
        }
        dc[nbits] += 1;
        let mut r = 0;
        for &index in &NATURAL_ORDER[1..] {
            let value = i32::from(block[index as usize]);
            if value == 0 {
                r += 1;
            } else {
                while r > 15 {
                    ac[0xF0] += 1;
                    r -= 16;
                }
                let mut temp = value.abs();
                let mut nbits = 1;
                while {
                    temp >>= 1;
                    temp != 0
                } {
                    nbits += 1;
                }
                ac[(r << 4) + nbits] += 1;
                r = 0;
            }
        }
        if r > 0 {
            ac[0] += 1;
        }
    }

    /// A deterministic pseudo-random sequence (xorshift), so failures reproduce.
    struct Sequence(u64);

    impl Sequence {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
    }

    fn assert_counts_match(block: &[i16; 64], last_dc: i16) {
        let (mut dc, mut ac) = ([0; 257], [0; 257]);
        let (mut want_dc, mut want_ac) = ([0; 257], [0; 257]);
        count_block(block, last_dc, &mut dc, &mut ac).unwrap();
        reference_counts(block, last_dc, &mut want_dc, &mut want_ac);
        assert_eq!(dc, want_dc, "DC counts of {block:?} after {last_dc}");
        assert_eq!(ac, want_ac, "AC counts of {block:?} after {last_dc}");
    }

    #[test]
    fn counts_match_libjpegs_on_edge_blocks() {
        let mut block = [0i16; 64];
        assert_counts_match(&block, 0); // all zero: DC category 0, then EOB
        block[63] = -1; // 62 zeros before the last coefficient: three ZRLs, no EOB
        assert_counts_match(&block, 5);
        block = [0; 64];
        block[NATURAL_ORDER[17] as usize] = 1023; // a run of exactly 16: one ZRL, then (0, 10)
        block[0] = -1023; // the widest DC difference: category 11
        assert_counts_match(&block, 1023);
        block = [-1023; 64]; // every coefficient non-zero at the largest AC category
        assert_counts_match(&block, -1024);
    }

    #[test]
    fn counts_match_libjpegs_on_random_blocks() {
        let mut sequence = Sequence(0x9E37_79B9_7F4A_7C15);
        for density in [1, 4, 16, 48, 64] {
            for _ in 0..2_000 {
                let mut block = [0i16; 64];
                for value in &mut block {
                    if sequence.next() % 64 < density {
                        // Magnitudes of every category from 1 to 10, either sign.
                        let bits = 1 + sequence.next() % 10;
                        let magnitude = (sequence.next() % (1 << bits)).max(1) as i16;
                        *value = if sequence.next().is_multiple_of(2) {
                            magnitude
                        } else {
                            -magnitude
                        };
                    }
                }
                let last_dc = (sequence.next() % 2047) as i16 - 1023;
                assert_counts_match(&block, last_dc);
            }
        }
    }

    #[test]
    fn a_coefficient_beyond_eight_bit_range_is_refused() {
        let (mut dc, mut ac) = ([0; 257], [0; 257]);
        let mut block = [0i16; 64];
        block[1] = 1024;
        assert_eq!(count_block(&block, 0, &mut dc, &mut ac), Err(OutOfRange));
        block[1] = 0;
        block[0] = 2047;
        assert_eq!(
            count_block(&block, -2048, &mut dc, &mut ac),
            Err(OutOfRange)
        );
    }
}
