//! Optimised Huffman tables in one pass over the image, the blocks coded on two threads when
//! the image is large and a core is free.
//!
//! libjpeg makes optimised tables (`optimize_coding`) in two passes: it keeps every DCT
//! coefficient of the image, counts the Huffman symbols they will be coded with, builds the
//! tables from the counts, then reads every coefficient again to code it. Here libjpeg runs
//! the single pass it runs with its standard tables, and its entropy coder is replaced: each
//! block's symbols are counted and kept, each with the value bits that follow its code (the
//! 6-MP photo at quality 80 has an eighth as many symbols as coefficients). At the end of the
//! pass the tables are built from the counts by libjpeg's own `jpeg_gen_optimal_table`,
//! libjpeg writes the frame and scan headers it had been kept from writing, and the kept
//! symbols are coded. Every byte is the one libjpeg's two passes write (tested in `compress`); what is saved is the
//! full-image coefficient buffer, the second reading of it, and, on a large image, half the
//! coding time, since the two halves of the symbols are coded at once and joined at the bit.
//!
//! libjpeg counts a block (`encode_mcu_gather` in `jchuff.c`) by testing the 63 AC
//! coefficients one by one in zig-zag order and finding each magnitude's bit count in a loop.
//! Here a block's non-zero coefficients are found as a bit mask and visited in zig-zag order
//! with `trailing_zeros`, their bit counts taken with `leading_zeros`.
//!
//! libjpeg calls its entropy coder through function pointers that its master controller sets
//! at the start of the pass. [`install`] replaces two of them after `jpeg_start_compress` has
//! set them: coding a block (here: counting and keeping its symbols) and finishing the pass
//! (here: everything else), and clears the master's flag that would write the headers at the
//! first scanline. Only a sequential Huffman-coded scan without restart markers or trellis
//! quantisation is coded here ([`codes_here`]); anything else keeps libjpeg's passes.

use std::ffi::c_void;
use std::mem::{MaybeUninit, offset_of, size_of};
use std::os::raw::{c_int, c_long};
use std::panic::resume_unwind;
use std::thread;

use mozjpeg_sys::{
    J_BOOLEAN_PARAM, JBLOCKROW, JDIMENSION, JHUFF_TBL, boolean, jpeg_alloc_huff_table,
    jpeg_c_get_bool_param, jpeg_component_info, jpeg_compress_struct,
};

use super::JpegFailure;
use super::compress::append_output;

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
    master: *mut MasterController,
    /// main, prep, coef, marker, cconvert, downsample, fdct.
    controllers: [*mut c_void; 7],
    entropy: *mut EntropyEncoder,
    script_space: *mut c_void,
    script_space_size: c_int,
}

const SCAN_FIELDS_AT: usize = offset_of!(jpeg_compress_struct, max_h_samp_factor);
const _: () =
    assert!(SCAN_FIELDS_AT + size_of::<ScanFields>() == size_of::<jpeg_compress_struct>());

type Pass = unsafe extern "C-unwind" fn(*mut jpeg_compress_struct);

/// The start of `struct jpeg_comp_master` of `jpegint.h`.
#[repr(C)]
struct MasterController {
    prepare_for_pass: Option<Pass>,
    /// Writes the frame and scan headers (`pass_startup` of `jcmaster.c`).
    pass_startup: Option<Pass>,
    finish_pass: Option<Pass>,
    /// Whether the first scanline calls `pass_startup`.
    call_pass_startup: boolean,
}

/// `struct jpeg_entropy_encoder` of `jpegint.h`.
#[repr(C)]
struct EntropyEncoder {
    start_pass: Option<unsafe extern "C-unwind" fn(*mut jpeg_compress_struct, boolean)>,
    encode_mcu:
        Option<unsafe extern "C-unwind" fn(*mut jpeg_compress_struct, *mut JBLOCKROW) -> boolean>,
    finish_pass: Option<Pass>,
}

/// # Safety
/// `cinfo` must point at a live compressor.
unsafe fn scan_fields<'a>(cinfo: *mut jpeg_compress_struct) -> &'a ScanFields {
    // SAFETY: the tail of a live struct, whose layout the assertion above checks.
    unsafe { &*cinfo.cast::<u8>().add(SCAN_FIELDS_AT).cast::<ScanFields>() }
}

/// A kept symbol: bits 0–7 the symbol, 8–10 its table (0–3 the DC tables, 4–7 the AC
/// tables), 16–26 the value bits that follow its code.
type KeptSymbol = u32;

/// The most symbols a block is coded with: a DC difference and 63 AC symbols (T.81 F.1.2:
/// each non-zero coefficient, a ZRL for each 16 zeros before one, and an EOB if zeros end
/// the block, which together never exceed the 63 positions).
const SYMBOLS_PER_BLOCK: usize = 64;

/// Where the kept symbols may be split between two threads: at the start of every this
/// many MCUs.
const MCUS_PER_SPLIT_POINT: usize = 64;

/// Below this many symbols (0.7 megapixels of a photo at quality 80), the symbols are coded
/// on one thread: a second would cost about as much to start as it saves.
const SYMBOLS_TO_SPLIT: usize = 1 << 17;

/// The entropy coder's state through the pass: the symbol counts, 257 per table as
/// `jpeg_gen_optimal_table` expects, and the symbols themselves.
pub(super) struct HuffmanCoder {
    dc: [[c_long; 257]; 4],
    ac: [[c_long; 257]; 4],
    /// The previous block's DC coefficient of each component in the scan.
    last_dc: [i16; 4],
    symbols: Vec<KeptSymbol>,
    /// `symbols.len()` at the start of every [`MCUS_PER_SPLIT_POINT`]-th MCU.
    split_points: Vec<usize>,
    mcus: usize,
}

impl HuffmanCoder {
    pub(super) fn new() -> Box<HuffmanCoder> {
        Box::new(HuffmanCoder {
            dc: [[0; 257]; 4],
            ac: [[0; 257]; 4],
            last_dc: [0; 4],
            symbols: Vec::new(),
            split_points: Vec::new(),
            mcus: 0,
        })
    }

    /// DC symbols counted so far: one per block.
    #[cfg(test)]
    pub(super) fn blocks_counted(&self) -> c_long {
        self.dc.iter().flatten().sum()
    }
}

/// Whether a compressor set up as `cinfo` is, before `jpeg_start_compress`, would write a scan
/// that [`install`] can code: one sequential Huffman-coded scan without restart markers or
/// trellis quantisation.
pub(super) fn codes_here(cinfo: &mut jpeg_compress_struct) -> bool {
    // SAFETY: reads a parameter of a live compressor.
    let trellis =
        unsafe { jpeg_c_get_bool_param(cinfo, J_BOOLEAN_PARAM::JBOOLEAN_TRELLIS_QUANT) } != 0;
    cinfo.arith_code == 0 && cinfo.scan_info.is_null() && cinfo.restart_interval == 0 && !trellis
}

/// Codes this compressor's scan with optimised tables made in one pass, in place of
/// libjpeg's coder of its standard tables.
///
/// # Safety
/// `cinfo` must be a compressor that [`codes_here`] accepted, started with `optimize_coding`
/// off, just after `jpeg_start_compress`; `coder` must stay in place, unused elsewhere, until
/// the compressor is finished or destroyed.
pub(super) unsafe fn install(cinfo: &mut jpeg_compress_struct, coder: &mut HuffmanCoder) {
    // SAFETY: the compressor is live.
    let fields = unsafe { scan_fields(cinfo) };
    assert!(
        !fields.entropy.is_null() && !fields.master.is_null() && fields.blocks_in_mcu <= 10,
        "libjpeg's compressor is not the one this coder was written for"
    );
    let blocks = cinfo.image_width as usize * cinfo.image_height as usize / 64;
    // The 6-MP photo at quality 80 has 7.7 symbols per block, 11.6 per luma block (4:2:0
    // adds half a block to each); address space reserved is not memory taken until written.
    coder.symbols.reserve(blocks.saturating_mul(16));
    cinfo.common.client_data = (coder as *mut HuffmanCoder).cast();
    // SAFETY: the entropy coder and master controller are libjpeg's, alive until the
    // compressor is destroyed; the pass they were set for is the only one.
    unsafe {
        (*fields.entropy).encode_mcu = Some(keep_mcu);
        (*fields.entropy).finish_pass = Some(code_scan);
        (*fields.master).call_pass_startup = 0;
    }
}

/// `encode_mcu`: counts and keeps the symbols of one MCU's blocks.
unsafe extern "C-unwind" fn keep_mcu(
    cinfo: *mut jpeg_compress_struct,
    mcu_data: *mut JBLOCKROW,
) -> boolean {
    // SAFETY: installed by `install`, which put the coder in client_data; libjpeg hands over
    // `blocks_in_MCU` block pointers, each to one 64-coefficient block.
    unsafe {
        let fields = scan_fields(cinfo);
        let coder = &mut *(*cinfo).common.client_data.cast::<HuffmanCoder>();
        if coder.mcus.is_multiple_of(MCUS_PER_SPLIT_POINT) {
            coder.split_points.push(coder.symbols.len());
        }
        coder.mcus += 1;
        let blocks = fields.blocks_in_mcu as usize;
        coder.symbols.reserve(blocks * SYMBOLS_PER_BLOCK);
        let kept = coder.symbols.len();
        let spare = coder.symbols.spare_capacity_mut();
        let mut added = 0;
        for block_number in 0..blocks {
            let component = fields.mcu_membership[block_number] as usize;
            let info = &*fields.cur_comp_info[component];
            let block = &**mcu_data.add(block_number);
            let (dc, ac) = (info.dc_tbl_no as usize, info.ac_tbl_no as usize);
            let symbols = keep_block(
                block,
                coder.last_dc[component],
                (dc, &mut coder.dc[dc]),
                (ac, &mut coder.ac[ac]),
                &mut spare[added..added + SYMBOLS_PER_BLOCK],
            );
            let Ok(symbols) = symbols else {
                resume_unwind(Box::new(JpegFailure("DCT coefficient out of range".into())));
            };
            added += symbols;
            coder.last_dc[component] = block[0];
        }
        // The first `added` spare elements were written by `keep_block`.
        coder.symbols.set_len(kept + added);
    }
    1
}

/// `finish_pass`: makes each table the scan uses from its counts, as libjpeg's
/// `finish_pass_gather` does, has libjpeg write the frame and scan headers with them, then
/// codes the kept symbols after the headers.
unsafe extern "C-unwind" fn code_scan(cinfo: *mut jpeg_compress_struct) {
    // SAFETY: as in `keep_mcu`; the table pointers are the compressor's own, allocated from
    // its pool when missing; `pass_startup` is libjpeg's, writing through the destination
    // that `append_output` then appends to.
    unsafe {
        let fields = scan_fields(cinfo);
        let coder = &mut *(*cinfo).common.client_data.cast::<HuffmanCoder>();
        let mut codes: Box<[Code; 8 * 256]> = Box::new([0; 8 * 256]);
        let (mut dc_done, mut ac_done) = ([false; 4], [false; 4]);
        for component in 0..fields.comps_in_scan as usize {
            let info = &*fields.cur_comp_info[component];
            let (dc, ac) = (info.dc_tbl_no as usize, info.ac_tbl_no as usize);
            if !dc_done[dc] {
                let table = table_or_new(cinfo, &mut (*cinfo).dc_huff_tbl_ptrs[dc]);
                jpeg_gen_optimal_table(cinfo, table, coder.dc[dc].as_mut_ptr());
                fill_codes(&*table, false, &mut codes[dc * 256..][..256]);
                dc_done[dc] = true;
            }
            if !ac_done[ac] {
                let table = table_or_new(cinfo, &mut (*cinfo).ac_huff_tbl_ptrs[ac]);
                jpeg_gen_optimal_table(cinfo, table, coder.ac[ac].as_mut_ptr());
                fill_codes(&*table, true, &mut codes[(4 + ac) * 256..][..256]);
                ac_done[ac] = true;
            }
        }
        let write_headers = (*fields.master)
            .pass_startup
            .expect("libjpeg's master controller writes the headers");
        write_headers(cinfo);
        let symbols = &coder.symbols;
        let split = split_point(symbols, &coder.split_points);
        append_output(&mut *cinfo, |output| {
            code_symbols(symbols, split, &codes, output);
        });
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

/// How a symbol is written: bits 0–15 its code, 16–20 the code's length, 21–25 how many
/// value bits follow it.
type Code = u32;

/// Fills `codes` with the code of every symbol of `table` (T.81 C.2, as libjpeg's
/// `jpeg_make_c_derived_tbl`: codes of each length in turn, counting up), leaving the
/// symbols it lacks at zero.
fn fill_codes(table: &JHUFF_TBL, ac: bool, codes: &mut [Code]) {
    let mut code = 0u32;
    let mut next = 0;
    for length in 1..=16u32 {
        for _ in 0..table.bits[length as usize] {
            let symbol = u32::from(table.huffval[next]);
            let value_bits = if ac { symbol & 15 } else { symbol };
            codes[symbol as usize] = code | length << 16 | value_bits << 21;
            code += 1;
            next += 1;
        }
        code <<= 1;
    }
}

/// Where to split `symbols` between two threads: the point of `split_points` nearest the
/// middle, when a core is free and the symbols are many enough to be worth a thread.
fn split_point(symbols: &[KeptSymbol], split_points: &[usize]) -> Option<usize> {
    if symbols.len() < SYMBOLS_TO_SPLIT || !crate::cores::one_to_spare() {
        return None;
    }
    let middle = symbols.len() / 2;
    split_points
        .iter()
        .copied()
        .min_by_key(|point| point.abs_diff(middle))
}

/// Codes `symbols` onto the end of `output` with `codes`, padding the last byte with ones as
/// libjpeg does; from `split` on, on a second thread, whose bits are joined to the first's.
fn code_symbols(
    symbols: &[KeptSymbol],
    split: Option<usize>,
    codes: &[Code; 8 * 256],
    output: &mut Vec<u8>,
) {
    let mut writer = BitWriter::<true>::new(output);
    let Some(split) = split else {
        writer.code(symbols, codes);
        writer.finish();
        return;
    };
    let (first, second) = symbols.split_at(split);
    thread::scope(|scope| {
        let helper = crate::cores::spawn_helper(scope, "picsmith-huffman", || {
            let mut bytes = Vec::with_capacity(second.len());
            let mut unstuffed = BitWriter::<false>::new(&mut bytes);
            unstuffed.code(second, codes);
            let tail = unstuffed.whole_bytes();
            (bytes, tail)
        });
        writer.code(first, codes);
        match helper {
            Ok(helper) => {
                let (bytes, tail) = helper.join().unwrap_or_else(|panic| resume_unwind(panic));
                writer.append(&bytes, tail);
            }
            Err(_) => writer.code(second, codes),
        }
    });
    writer.finish();
}

/// Writes codes most significant bit first into a `Vec`; with `STUFF`, a zero byte after
/// every 0xFF, as entropy-coded JPEG data has (T.81 F.1.2.3).
struct BitWriter<'a, const STUFF: bool> {
    output: &'a mut Vec<u8>,
    /// The last `count` bits are waiting to be written; fewer than 32 between calls.
    bits: u64,
    count: u32,
}

impl<'a, const STUFF: bool> BitWriter<'a, STUFF> {
    fn new(output: &'a mut Vec<u8>) -> Self {
        BitWriter {
            output,
            bits: 0,
            count: 0,
        }
    }

    /// Writes the low `length` bits of `value`, at most 32.
    #[inline(always)]
    fn put(&mut self, value: u32, length: u32) {
        self.bits = self.bits << length | u64::from(value);
        self.count += length;
        if self.count >= 32 {
            self.count -= 32;
            self.write_word((self.bits >> self.count) as u32);
        }
    }

    #[inline(always)]
    fn write_word(&mut self, word: u32) {
        // A byte of 0xFF turns to 0 when one is added to it: the test libjpeg makes too.
        if STUFF && word & 0x8080_8080 & !word.wrapping_add(0x0101_0101) != 0 {
            for byte in word.to_be_bytes() {
                self.output.push(byte);
                if byte == 0xFF {
                    self.output.push(0);
                }
            }
        } else {
            self.output.extend_from_slice(&word.to_be_bytes());
        }
    }

    fn code(&mut self, symbols: &[KeptSymbol], codes: &[Code; 8 * 256]) {
        for &symbol in symbols {
            let code = codes[(symbol & 0x7FF) as usize];
            let value_bits = code >> 21;
            self.put(
                (code & 0xFFFF) << value_bits | symbol >> 16,
                (code >> 16 & 31) + value_bits,
            );
        }
    }

    /// Writes the bits waiting that fill whole bytes; returns the rest, as a value and its
    /// length (below 8).
    fn whole_bytes(&mut self) -> (u32, u32) {
        while self.count >= 8 {
            self.count -= 8;
            let byte = (self.bits >> self.count) as u8;
            self.output.push(byte);
            if STUFF && byte == 0xFF {
                self.output.push(0);
            }
        }
        ((self.bits & ((1 << self.count) - 1)) as u32, self.count)
    }

    /// Writes bits that another writer wrote unstuffed: `bytes`, then `tail` as returned by
    /// its [`BitWriter::whole_bytes`].
    fn append(&mut self, bytes: &[u8], (tail, tail_length): (u32, u32)) {
        let mut words = bytes.chunks_exact(4);
        for word in &mut words {
            self.put(u32::from_be_bytes([word[0], word[1], word[2], word[3]]), 32);
        }
        for &byte in words.remainder() {
            self.put(u32::from(byte), 8);
        }
        self.put(tail, tail_length);
    }

    /// Pads the last byte with ones and writes it (libjpeg's `flush_bits`).
    fn finish(mut self) {
        self.put(0x7F, 7);
        self.whole_bytes();
    }
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

/// The value bits of a coefficient or DC difference of category `bits`: the value itself if
/// positive, its ones' complement if negative, in `bits` bits (T.81 F.1.2.1.1).
fn value_bits(value: i32, bits: u32) -> u32 {
    (value + (value >> 31)) as u32 & ((1 << bits) - 1)
}

/// Counts the symbols `block` (row-major) is coded with after a block whose DC coefficient
/// was `last_dc` (T.81 F.1.2) into the counts of its DC and AC tables, and writes them, each
/// with its table number and value bits, to the start of `kept`; returns how many. The
/// symbols are the DC difference's category, and for each non-zero AC coefficient in zig-zag
/// order the zeros before it with its category, runs over 15 zeros as ZRL (0xF0) and
/// trailing zeros as EOB (0x00).
fn keep_block(
    block: &[i16; 64],
    last_dc: i16,
    (dc_table, dc): (usize, &mut [c_long; 257]),
    (ac_table, ac): (usize, &mut [c_long; 257]),
    kept: &mut [MaybeUninit<KeptSymbol>],
) -> Result<usize, OutOfRange> {
    // Indices below are taken modulo 64, which the count never reaches, so that they need no
    // bounds checks.
    let kept = &mut kept[..SYMBOLS_PER_BLOCK];
    let difference = i32::from(block[0]) - i32::from(last_dc);
    let dc_bits = category(difference);
    if dc_bits > MAX_AC_BITS + 1 {
        return Err(OutOfRange);
    }
    dc[dc_bits as usize] += 1;
    kept[0].write(value_bits(difference, dc_bits) << 16 | (dc_table as u32) << 8 | dc_bits);
    let mut count = 1;
    let ac_table = ((4 + ac_table) as u32) << 8;

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
            kept[count & 63].write(ac_table | 0xF0);
            count += 1;
            run -= 16;
        }
        let value = i32::from(block[NATURAL_ORDER[position as usize] as usize]);
        let bits = category(value);
        if bits > MAX_AC_BITS {
            return Err(OutOfRange);
        }
        let symbol = run << 4 | bits;
        ac[symbol as usize] += 1;
        kept[count & 63].write(value_bits(value, bits) << 16 | ac_table | symbol);
        count += 1;
    }
    if last_position < 63 {
        ac[0] += 1;
        kept[count & 63].write(ac_table);
        count += 1;
    }
    Ok(count)
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

    /// Counts and keeps `block`'s symbols with DC table 1 and AC table 2.
    fn keep(
        block: &[i16; 64],
        last_dc: i16,
        dc: &mut [c_long; 257],
        ac: &mut [c_long; 257],
    ) -> Result<Vec<KeptSymbol>, OutOfRange> {
        let mut kept = vec![0; SYMBOLS_PER_BLOCK];
        // SAFETY: u32 and MaybeUninit<u32> have one layout; every element is initialised.
        let spare = unsafe { &mut *(kept.as_mut_slice() as *mut [u32] as *mut [MaybeUninit<u32>]) };
        let count = keep_block(block, last_dc, (1, dc), (2, ac), spare)?;
        kept.truncate(count);
        Ok(kept)
    }

    /// The value a category and its value bits stand for (T.81 F.2.2.1, `HUFF_EXTEND`).
    fn extend(value: u32, bits: u32) -> i32 {
        if bits == 0 {
            0
        } else if value >> (bits - 1) == 1 {
            value as i32
        } else {
            value as i32 - (1 << bits) + 1
        }
    }

    /// The block that kept symbols stand for, as a decoder reads them.
    fn rebuild(kept: &[KeptSymbol], last_dc: i16) -> [i16; 64] {
        let mut block = [0i16; 64];
        let (first, rest) = kept.split_first().unwrap();
        assert_eq!(first >> 8 & 0xFF, 1, "the DC symbol's table");
        block[0] = (i32::from(last_dc) + extend(first >> 16, first & 0xFF)) as i16;
        let mut position = 1;
        for (index, &symbol) in rest.iter().enumerate() {
            assert_eq!(symbol >> 8 & 0xFF, 4 + 2, "an AC symbol's table");
            match symbol & 0xFF {
                0x00 => {
                    assert_eq!(index, rest.len() - 1, "EOB ends the block");
                    break;
                }
                0xF0 => position += 16,
                run_bits => {
                    position += run_bits as usize >> 4;
                    let coefficient = extend(symbol >> 16, run_bits & 15);
                    block[NATURAL_ORDER[position] as usize] = coefficient as i16;
                    position += 1;
                }
            }
        }
        block
    }

    fn assert_counts_match(block: &[i16; 64], last_dc: i16) {
        let (mut dc, mut ac) = ([0; 257], [0; 257]);
        let (mut want_dc, mut want_ac) = ([0; 257], [0; 257]);
        let kept = keep(block, last_dc, &mut dc, &mut ac).unwrap();
        reference_counts(block, last_dc, &mut want_dc, &mut want_ac);
        assert_eq!(dc, want_dc, "DC counts of {block:?} after {last_dc}");
        assert_eq!(ac, want_ac, "AC counts of {block:?} after {last_dc}");
        let counted: c_long = dc.iter().chain(&ac).sum();
        assert_eq!(
            kept.len() as c_long,
            counted,
            "a symbol kept for each counted"
        );
        assert_eq!(
            &rebuild(&kept, last_dc),
            block,
            "the kept symbols of {block:?}"
        );
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
        assert_eq!(keep(&block, 0, &mut dc, &mut ac), Err(OutOfRange));
        block[1] = 0;
        block[0] = 2047;
        assert_eq!(keep(&block, -2048, &mut dc, &mut ac), Err(OutOfRange));
    }

    #[test]
    fn codes_are_made_as_t81_makes_them() {
        // The standard luminance DC table (T.81 table K.3).
        // SAFETY: a plain C struct, for which zero is a valid value.
        let mut table: JHUFF_TBL = unsafe { std::mem::zeroed() };
        table.bits[1..=16].copy_from_slice(&[0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0]);
        for (slot, symbol) in table.huffval.iter_mut().zip(0..12) {
            *slot = symbol;
        }
        let mut codes = [0; 256];
        fill_codes(&table, false, &mut codes);
        let written: Vec<(u32, u32, u32)> = codes[..12]
            .iter()
            .map(|code| (code & 0xFFFF, code >> 16 & 31, code >> 21))
            .collect();
        let want = [
            (0b00, 2),
            (0b010, 3),
            (0b011, 3),
            (0b100, 3),
            (0b101, 3),
            (0b110, 3),
            (0b1110, 4),
            (0b11110, 5),
            (0b111110, 6),
            (0b1111110, 7),
            (0b11111110, 8),
            (0b111111110, 9),
        ];
        for (category, ((code, length, value_bits), (want_code, want_length))) in
            written.into_iter().zip(want).enumerate()
        {
            assert_eq!(
                (code, length, value_bits),
                (want_code, want_length, category as u32)
            );
        }
        let mut ac_codes = [0; 256];
        table.huffval[3] = 0x53;
        fill_codes(&table, true, &mut ac_codes);
        assert_eq!(
            ac_codes[0x53] >> 21,
            3,
            "an AC symbol's value bits are its low four"
        );
    }

    fn coded(symbols: &[KeptSymbol], split: Option<usize>, codes: &[Code; 8 * 256]) -> Vec<u8> {
        let mut output = b"header".to_vec();
        code_symbols(symbols, split, codes, &mut output);
        output.split_off(6)
    }

    #[test]
    fn bits_are_padded_with_ones_and_0xff_is_stuffed() {
        let mut codes = Box::new([0; 8 * 256]);
        codes[0] = 1 << 16; // symbol 0 of table 0: the code 0, one bit
        codes[1] = 1 | 1 << 16; // symbol 1: the code 1, one bit
        codes[0x105] = 0b10 | 2 << 16 | 5 << 21; // symbol 5 of table 1: 10, then 5 value bits
        assert_eq!(coded(&[], None, &codes), b"");
        assert_eq!(coded(&[0], None, &codes), [0x7F]);
        assert_eq!(coded(&[1], None, &codes), [0xFF, 0x00]);
        // 10 10101 1 1, then ones: 1010_1011 1111_1111
        assert_eq!(
            coded(&[0b10101 << 16 | 0x105, 1, 1], None, &codes),
            [0xAB, 0xFF, 0x00]
        );
    }

    #[test]
    fn halves_joined_at_the_bit_are_the_whole() {
        let mut sequence = Sequence(0x2545_F491_4F6C_DD1D);
        let mut codes = Box::new([0; 8 * 256]);
        for code in codes.iter_mut() {
            let length = 1 + (sequence.next() % 16) as u32;
            // All ones now and then, so that bytes of 0xFF are written and stuffed.
            let bits = if sequence.next().is_multiple_of(4) {
                u64::MAX
            } else {
                sequence.next()
            };
            let value_bits = (sequence.next() % 12) as u32;
            *code = (bits as u32 & ((1 << length) - 1)) | length << 16 | value_bits << 21;
        }
        let symbols: Vec<KeptSymbol> = (0..5_000)
            .map(|_| {
                let index = (sequence.next() % 2048) as u32;
                let value_bits = codes[index as usize] >> 21;
                let value = sequence.next() as u32 & ((1 << value_bits) - 1);
                value << 16 | index
            })
            .collect();
        let whole = coded(&symbols, None, &codes);
        assert!(
            whole.windows(2).any(|pair| pair == [0xFF, 0]),
            "some 0xFF was stuffed"
        );
        for split in (0..40).chain([2_500, 4_999, 5_000]) {
            assert!(
                coded(&symbols, Some(split), &codes) == whole,
                "split at {split}"
            );
        }
    }
}
