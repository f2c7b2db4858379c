//! Resampling with fast_image_resize (SIMD convolution).
//!
//! Gamma: pixels are resampled as stored (gamma-encoded sRGB), as sharp, libvips and Pillow do
//! by default, so results match what users of those libraries expect and no conversion to
//! linear light is paid for. Alpha is premultiplied during the resample, so transparent pixels
//! do not bleed their colour into the edges.

use std::cell::RefCell;
use std::f64::consts::PI;

use fast_image_resize::images::{Image, ImageRef};
use fast_image_resize::{Filter, FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};
use image::{DynamicImage, GrayImage, RgbImage};

use crate::error::{Error, Result};

/// Resizes to exactly `width`×`height` with Lanczos3.
pub(crate) fn resize(image: &DynamicImage, width: u32, height: u32) -> Result<DynamicImage> {
    let extent = (f64::from(image.width()), f64::from(image.height()));
    resize_extent(image, extent, width, height)
}

/// The part of a decoded image that holds a source of `source` pixels decoded at `scale`
/// (see [`Decoded::scale`]): libjpeg rounds the scaled size up, so the source covers
/// `side · scale` of the `⌈side · scale⌉` pixels decoded.
///
/// [`Decoded::scale`]: crate::decode::Decoded::scale
pub(crate) fn exact_extent(source: (u32, u32), scale: f64, decoded: (u32, u32)) -> (f64, f64) {
    (
        (f64::from(source.0) * scale).min(f64::from(decoded.0)),
        (f64::from(source.1) * scale).min(f64::from(decoded.1)),
    )
}

/// Resizes the top-left `extent` (width, height; fractions allowed) of `image` to exactly
/// `width`×`height` with Lanczos3. A JPEG that shrank while decoding holds its source in a
/// fraction of its last column and row (see [`Decoded::scale`]); resampling the whole image
/// instead would stretch the output by up to half a pixel of the decoded size.
///
/// [`Decoded::scale`]: crate::decode::Decoded::scale
pub(crate) fn resize_extent(
    image: &DynamicImage,
    extent: (f64, f64),
    width: u32,
    height: u32,
) -> Result<DynamicImage> {
    let size = (width, height);
    let source = (image.width(), image.height());
    let plain = match image {
        DynamicImage::ImageLuma8(_) => Some(1),
        DynamicImage::ImageRgb8(_) => Some(3),
        _ => None,
    };
    if let Some(channels) = plain.filter(|_| source.0 > 0 && source.1 > 0) {
        // The pixels a JPEG resized while it decodes gets (see `RowResizer`).
        let mut pixels = Vec::with_capacity(width as usize * height as usize * channels);
        let mut resizer = RowResizer::new(channels, source, extent, size, height)?;
        let mut keep = |rows: &[u8]| {
            pixels.extend_from_slice(rows);
            Ok(())
        };
        resizer.push(image.as_bytes(), &mut keep)?;
        resizer.finish(&mut keep)?;
        return plain_image(channels, size, pixels);
    }
    let mut resized = DynamicImage::new(width, height, image.color());
    Resizer::new()
        .resize(
            image,
            &mut resized,
            &lanczos3_from(lanczos3, 0.0, 0.0, extent.0, extent.1),
        )
        .map_err(resize_failed)?;
    Ok(resized)
}

/// 8-bit gray (1 channel) or RGB (3) pixels of `size` as an image.
pub(crate) fn plain_image(
    channels: usize,
    size: (u32, u32),
    pixels: Vec<u8>,
) -> Result<DynamicImage> {
    let image = match channels {
        1 => GrayImage::from_raw(size.0, size.1, pixels).map(DynamicImage::ImageLuma8),
        _ => RgbImage::from_raw(size.0, size.1, pixels).map(DynamicImage::ImageRgb8),
    };
    image.ok_or_else(|| Error::internal("resized rows do not fill the image"))
}

/// Output rows [`RowResizer`] resamples vertically at a time: one row of 4:2:0 JPEG blocks.
const BAND_ROWS: u32 = 16;

/// Lanczos3 resampling of 8-bit gray or RGB rows that arrive top to bottom, a strip at a time,
/// making each output row soon after the rows it reads have arrived. As fast_image_resize
/// does for 8-bit pixels, the vertical pass comes first (on 8-bit rows it is the cheaper
/// one): bands of [`BAND_ROWS`] output rows are resampled down from the source rows as soon
/// as those have arrived, and the rows so made are resampled across once `across_rows` of
/// them wait (at the end, for a whole image). A JPEG decoding on another thread is resized
/// this way while it decodes, and only the source rows later bands read are kept.
///
/// Each horizontal pass has fast_image_resize make its weights anew, from kernel values
/// remembered from the first pass ([`remembered_kernel`]), so `across_rows` trades that
/// (about 0.05 ms for 720 output columns) against how long the last rows wait.
///
/// The pixels depend only on the sizes, never on how the rows arrive or `across_rows`: the
/// horizontal pass treats each row alone, and each band reads the source from a first row
/// fixed by the sizes. A whole image pushed at once ([`resize_extent`]) gets the same pixels.
pub(crate) struct RowResizer {
    pixel: PixelType,
    channels: usize,
    source: (u32, u32),
    /// The top-left part of the source resampled (see [`resize_extent`]).
    extent: (f64, f64),
    size: (u32, u32),
    across_rows: u32,
    /// Source rows arrived so far.
    arrived: u32,
    /// Source rows from `kept_top` that bands still to be made read.
    kept: Vec<u8>,
    kept_top: u32,
    /// Output rows resampled down so far.
    made_down: u32,
    /// Rows resampled down, waiting to be resampled across: `source.0` wide.
    down: Vec<u8>,
    /// Output rows finished and handed over.
    made: u32,
    finished: Vec<u8>,
    resizer: Resizer,
    /// The kernel's values the passes across ask for (see [`remembered_kernel`]).
    kernel_values: KernelValues,
}

impl RowResizer {
    /// A resize of the top-left `extent` of `source` (width, height; 1 or 3 `channels`) to
    /// `size`, resampling across every `across_rows` output rows.
    pub(crate) fn new(
        channels: usize,
        source: (u32, u32),
        extent: (f64, f64),
        size: (u32, u32),
        across_rows: u32,
    ) -> Result<RowResizer> {
        let pixel = match channels {
            1 => PixelType::U8,
            3 => PixelType::U8x3,
            _ => return Err(Error::internal("rows are resized as gray or RGB")),
        };
        let fits = |extent: f64, side: u32| extent > 0.0 && extent <= f64::from(side);
        if !fits(extent.0, source.0) || !fits(extent.1, source.1) || size.0 == 0 || size.1 == 0 {
            return Err(Error::internal(format!(
                "cannot resize {extent:?} of {source:?} to {size:?}"
            )));
        }
        // Sized for the rows that usually wait at once: grown a band at a time, the buffers
        // were copied into ever larger blocks, and every block stayed mapped for the
        // allocator's next use (W1 on one core: 18 MiB of peak RSS).
        let across_rows = across_rows.clamp(1, size.1);
        let waiting = (across_rows + BAND_ROWS - 1).min(size.1) as usize;
        let source_row = source.0 as usize * channels;
        Ok(RowResizer {
            pixel,
            channels,
            source,
            extent,
            size,
            across_rows,
            arrived: 0,
            kept: Vec::new(),
            kept_top: 0,
            made_down: 0,
            down: Vec::with_capacity(waiting * source_row),
            made: 0,
            finished: Vec::with_capacity(waiting * size.0 as usize * channels),
            resizer: Resizer::new(),
            kernel_values: KernelValues::default(),
        })
    }

    /// Takes the next source rows, and hands `take` every output row they complete, in
    /// order.
    pub(crate) fn push(
        &mut self,
        strip: &[u8],
        take: &mut impl FnMut(&[u8]) -> Result<()>,
    ) -> Result<()> {
        let source_row = self.source_row();
        let rows = (strip.len() / source_row) as u32;
        if !strip.len().is_multiple_of(source_row) || rows > self.source.1 - self.arrived {
            return Err(Error::internal("rows pushed do not fit the source"));
        }
        if self.kept.is_empty() {
            // The bands read the strip where it is; only what later bands read is copied.
            let top = self.arrived;
            self.arrived += rows;
            self.make_down(strip, top)?;
            let keep_from = self.next_band_reads_from().max(top);
            self.kept
                .extend_from_slice(&strip[(keep_from - top) as usize * source_row..]);
            self.kept_top = keep_from;
        } else {
            self.kept.extend_from_slice(strip);
            self.arrived += rows;
            let kept = std::mem::take(&mut self.kept);
            let made = self.make_down(&kept, self.kept_top);
            self.kept = kept;
            made?;
            let keep_from = self.next_band_reads_from().max(self.kept_top);
            self.kept
                .drain(..(keep_from - self.kept_top) as usize * source_row);
            self.kept_top = keep_from;
        }
        if self.made_down - self.made >= self.across_rows {
            self.make_across(take)?;
        }
        Ok(())
    }

    /// Makes the last output rows, once every source row has been pushed.
    pub(crate) fn finish(mut self, take: &mut impl FnMut(&[u8]) -> Result<()>) -> Result<()> {
        if self.arrived != self.source.1 || self.made_down != self.size.1 {
            return Err(Error::internal(
                "fewer rows were pushed than the source has",
            ));
        }
        self.make_across(take)
    }

    fn source_row(&self) -> usize {
        self.source.0 as usize * self.channels
    }

    /// Resamples down every band whose source rows have all arrived; `rows` holds the source
    /// from row `top` to the last arrived.
    fn make_down(&mut self, rows: &[u8], top: u32) -> Result<()> {
        let source_row = self.source_row();
        while self.made_down < self.size.1 {
            let first = self.made_down;
            let last = (first + BAND_ROWS).min(self.size.1);
            let (band_top, band_bottom) = (self.band_edge(first), self.band_edge(last));
            if reads_to(band_top, band_bottom, last - first, self.source.1) > self.arrived {
                break;
            }
            // The view starts at a row fixed by the sizes, so the weights (computed from the
            // crop's offset in it) are the same however the rows arrived.
            let from_row = self.band_reads_from(first);
            let view = &rows[(from_row - top) as usize * source_row..];
            let from = ImageRef::new(self.source.0, self.arrived - from_row, view, self.pixel)
                .map_err(resize_failed)?;
            let start = self.down.len();
            self.down
                .resize(start + (last - first) as usize * source_row, 0);
            let mut to = Image::from_slice_u8(
                self.source.0,
                last - first,
                &mut self.down[start..],
                self.pixel,
            )
            .map_err(resize_failed)?;
            let crop_top = band_top - f64::from(from_row);
            let down = lanczos3_from(
                lanczos3,
                0.0,
                crop_top,
                f64::from(self.source.0),
                band_bottom - band_top,
            );
            self.resizer
                .resize(&from, &mut to, &down)
                .map_err(resize_failed)?;
            self.made_down = last;
        }
        Ok(())
    }

    /// Resamples across the rows resampled down and hands them over.
    fn make_across(&mut self, take: &mut impl FnMut(&[u8]) -> Result<()>) -> Result<()> {
        let rows = self.made_down - self.made;
        if rows == 0 {
            return Ok(());
        }
        let from =
            ImageRef::new(self.source.0, rows, &self.down, self.pixel).map_err(resize_failed)?;
        let out_row = self.size.0 as usize * self.channels;
        self.finished.resize(rows as usize * out_row, 0);
        let mut to = Image::from_slice_u8(self.size.0, rows, &mut self.finished, self.pixel)
            .map_err(resize_failed)?;
        let across = lanczos3_from(remembered_kernel, 0.0, 0.0, self.extent.0, f64::from(rows));
        let resizer = &mut self.resizer;
        with_kernel_values(&mut self.kernel_values, || {
            resizer.resize(&from, &mut to, &across)
        })
        .map_err(resize_failed)?;
        self.down.clear();
        self.made = self.made_down;
        take(&self.finished)
    }

    /// Where output row `row` starts in the source, in rows.
    fn band_edge(&self, row: u32) -> f64 {
        if row == self.size.1 {
            self.extent.1
        } else {
            f64::from(row) * (self.extent.1 / f64::from(self.size.1))
        }
    }

    /// The first source row the band starting at output row `row` reads, one more to spare:
    /// fast_image_resize's window (in `precompute_coefficients`), Lanczos3 reaching three
    /// output rows' worth of source rows each way.
    fn band_reads_from(&self, row: u32) -> u32 {
        let scale = self.extent.1 / f64::from(self.size.1);
        let centre = self.band_edge(row) + 0.5 * scale;
        let start = (centre - 3.0 * scale.max(1.0)).floor() - 1.0;
        start.clamp(0.0, f64::from(self.source.1)) as u32
    }

    /// The first source row a band still to be made reads (all arrived rows when none is).
    fn next_band_reads_from(&self) -> u32 {
        if self.made_down == self.size.1 {
            self.arrived
        } else {
            self.band_reads_from(self.made_down).min(self.arrived)
        }
    }
}

/// The source rows up to which `rows` output rows resampled from source rows `top`..`bottom`
/// read, one more to spare (see [`RowResizer::band_reads_from`]).
fn reads_to(top: f64, bottom: f64, rows: u32, source_rows: u32) -> u32 {
    let scale = (bottom - top) / f64::from(rows);
    let centre = top + (f64::from(rows) - 0.5) * scale;
    let end = (centre + 3.0 * scale.max(1.0)).ceil() + 1.0;
    end.min(f64::from(source_rows)) as u32
}

/// Lanczos3 from the source rectangle at `left`, `top`, as every resize here does, its values
/// taken from `kernel`: [`lanczos3`], or [`remembered_kernel`] for the passes across.
fn lanczos3_from(
    kernel: fn(f64) -> f64,
    left: f64,
    top: f64,
    width: f64,
    height: f64,
) -> ResizeOptions {
    let filter = Filter::new("Lanczos3", kernel, 3.0).expect("a finite, positive support");
    ResizeOptions::new()
        .resize_alg(ResizeAlg::Convolution(FilterType::Custom(filter)))
        .crop(left, top, width, height)
}

/// The kernel's values in the order a resize asked for them: (x's bits, value).
#[derive(Default)]
struct KernelValues {
    values: Vec<(u64, f64)>,
    /// The turn of the next value asked for.
    next: usize,
}

thread_local! {
    /// The values of the resize running on this thread through [`with_kernel_values`].
    static KERNEL_VALUES: RefCell<KernelValues> = RefCell::new(KernelValues::default());
}

/// Runs `resize` with [`remembered_kernel`] answering from `values` and adding to them.
fn with_kernel_values<T>(values: &mut KernelValues, resize: impl FnOnce() -> T) -> T {
    values.next = 0;
    KERNEL_VALUES.with_borrow_mut(|current| std::mem::swap(current, values));
    let resized = resize();
    KERNEL_VALUES.with_borrow_mut(|current| std::mem::swap(current, values));
    resized
}

/// [`lanczos3`] for resizes that ask for the same values in the same order again: each pass
/// across of a [`RowResizer`] computes the same horizontal weights (fast_image_resize keeps
/// none between calls), which took W1's calling thread 1.4 ms in 16 passes. A value asked for
/// in the same turn as before, for the same x, is the one computed then; any other is computed
/// and replaces what followed, so the weights never depend on what was remembered. Outside
/// [`with_kernel_values`] it answers from the thread's own values.
fn remembered_kernel(x: f64) -> f64 {
    KERNEL_VALUES.with_borrow_mut(|memo| {
        let turn = memo.next;
        memo.next += 1;
        match memo.values.get(turn) {
            Some(&(bits, value)) if bits == x.to_bits() => value,
            _ => {
                memo.values.truncate(turn);
                let value = lanczos3(x);
                memo.values.push((x.to_bits(), value));
                value
            }
        }
    })
}

/// The Lanczos3 kernel, sinc(x)·sinc(x/3), with one sine where fast_image_resize's own takes
/// two: with s = sin(πx/3), sin(πx) = s(3 − 4s²), so the kernel is 3s²(3 − 4s²)/(πx)².
/// fast_image_resize computes the weights anew for every resize, and [`RowResizer`] resizes
/// a thumbnail across in up to 16 passes: W1 spent a tenth of its time in `sin`.
fn lanczos3(x: f64) -> f64 {
    if x == 0.0 {
        1.0
    } else if (-3.0..3.0).contains(&x) {
        let s = (x * (PI / 3.0)).sin();
        let s2 = s * s;
        3.0 * s2 * (3.0 - 4.0 * s2) / (PI * x).powi(2)
    } else {
        0.0
    }
}

fn resize_failed(e: impl std::fmt::Display) -> Error {
    Error::internal(format!("resize failed: {e}"))
}

#[cfg(test)]
mod tests {
    use image::RgbImage;

    use super::*;

    #[test]
    fn remembered_values_are_the_kernel_s_whatever_was_asked_before() {
        let ask = |values: &mut KernelValues, xs: &[f64]| -> Vec<f64> {
            with_kernel_values(values, || {
                xs.iter().map(|&x| remembered_kernel(x)).collect()
            })
        };
        let first: Vec<f64> = (0..500).map(|i| f64::from(i) * 0.0123 - 3.0).collect();
        let mut other = first.clone();
        other[200] += 0.001;
        other.truncate(300);
        let mut values = KernelValues::default();
        for xs in [&first, &first, &other, &first] {
            let expected: Vec<f64> = xs.iter().map(|&x| lanczos3(x)).collect();
            assert_eq!(ask(&mut values, xs), expected);
            assert!(values.values.len() >= xs.len());
        }
        // Outside a resize the thread's own values are used and left alone.
        assert_eq!(remembered_kernel(0.5), lanczos3(0.5));
        assert_eq!(values.values.len(), first.len());
    }

    #[test]
    fn lanczos3_with_one_sine_is_the_kernel_with_two() {
        let sinc = |x: f64| {
            if x == 0.0 {
                1.0
            } else {
                (PI * x).sin() / (PI * x)
            }
        };
        for step in -3100..=3100 {
            let x = f64::from(step) / 1000.0;
            let two_sines = if (-3.0..3.0).contains(&x) {
                sinc(x) * sinc(x / 3.0)
            } else {
                0.0
            };
            assert!(
                (lanczos3(x) - two_sines).abs() < 1e-14,
                "at {x}: {} against {two_sines}",
                lanczos3(x)
            );
        }
    }

    fn textured_rgb(width: u32, height: u32) -> DynamicImage {
        DynamicImage::ImageRgb8(RgbImage::from_fn(width, height, |x, y| {
            let texture = ((x * 7 + y * 13) % 31) as u8;
            image::Rgb([
                (x / 2) as u8 ^ texture,
                (y * 3) as u8,
                ((x * y) % 251) as u8,
            ])
        }))
    }

    /// `image` pushed in strips of `strip_rows`, the resized rows kept.
    fn resized_in_strips(
        image: &DynamicImage,
        strip_rows: usize,
        extent: (f64, f64),
        size: (u32, u32),
    ) -> Vec<u8> {
        let channels = image.color().channel_count() as usize;
        let source = (image.width(), image.height());
        let mut resizer = RowResizer::new(channels, source, extent, size, 5).unwrap();
        let mut pixels = Vec::new();
        let mut keep = |rows: &[u8]| {
            pixels.extend_from_slice(rows);
            Ok(())
        };
        let row_bytes = source.0 as usize * channels;
        for strip in image.as_bytes().chunks(strip_rows * row_bytes) {
            resizer.push(strip, &mut keep).unwrap();
        }
        resizer.finish(&mut keep).unwrap();
        pixels
    }

    #[test]
    fn rows_resized_as_they_arrive_match_the_whole_image_resized() {
        let rgb = textured_rgb(301, 203);
        let gray = DynamicImage::ImageLuma8(rgb.to_luma8());
        for image in [rgb, gray] {
            // Down on both sides from a fractional extent, one side only, up, and a single row.
            for (extent, size) in [
                ((300.5, 202.5), (120, 81)),
                ((301.0, 203.0), (301, 77)),
                ((301.0, 203.0), (90, 203)),
                ((301.0, 203.0), (640, 431)),
                ((301.0, 203.0), (50, 1)),
            ] {
                let whole = resize_extent(&image, extent, size.0, size.1).unwrap();
                for strip_rows in [1, 7, 64, 203] {
                    let pixels = resized_in_strips(&image, strip_rows, extent, size);
                    assert!(
                        pixels == whole.as_bytes(),
                        "{size:?} in strips of {strip_rows}"
                    );
                }
            }
        }
    }

    #[test]
    fn a_photo_resized_in_bands_is_a_photo_resized_in_one_pass() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../tests/fixtures/photo-320.jpg"
        );
        let photo = image::open(path).unwrap();
        let (width, height) = (photo.width(), photo.height());
        let extent = (f64::from(width), f64::from(height));
        let (out_w, out_h) = (width * 2 / 5, height * 2 / 5);
        let banded = resize_extent(&photo, extent, out_w, out_h).unwrap();
        let mut one_pass = DynamicImage::new(out_w, out_h, photo.color());
        Resizer::new()
            .resize(
                &photo,
                &mut one_pass,
                &lanczos3_from(lanczos3, 0.0, 0.0, extent.0, extent.1),
            )
            .unwrap();
        // The bands' crops differ from one pass's only in the last bits of their weights.
        let most = (banded.as_bytes().iter().zip(one_pass.as_bytes()))
            .map(|(a, b)| a.abs_diff(*b))
            .max();
        assert!(most <= Some(1), "largest difference {most:?}");
    }

    #[test]
    fn rows_that_do_not_fit_the_source_are_refused() {
        let mut resizer = RowResizer::new(3, (10, 4), (10.0, 4.0), (5, 2), 2).unwrap();
        let mut ignore = |_: &[u8]| Ok(());
        assert!(
            resizer.push(&[0; 31], &mut ignore).is_err(),
            "not whole rows"
        );
        assert!(
            resizer.push(&[0; 150], &mut ignore).is_err(),
            "more rows than the source"
        );
        resizer.push(&[0; 60], &mut ignore).unwrap();
        assert!(resizer.finish(&mut ignore).is_err(), "two rows missing");
        assert!(RowResizer::new(4, (10, 4), (10.0, 4.0), (5, 2), 2).is_err());
        assert!(RowResizer::new(1, (10, 4), (10.5, 4.0), (5, 2), 2).is_err());
    }
}
