//! Resampling with fast_image_resize (SIMD convolution).
//!
//! Gamma: pixels are resampled as stored (gamma-encoded sRGB), as sharp, libvips and Pillow do
//! by default, so results match what users of those libraries expect and no conversion to
//! linear light is paid for. Alpha is premultiplied during the resample, so transparent pixels
//! do not bleed their colour into the edges.

use fast_image_resize::images::{Image, ImageRef};
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};
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
        let mut resizer = RowResizer::new(channels, source, extent, size)?;
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
            &lanczos3_from(0.0, 0.0, extent.0, extent.1),
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
/// making each output row as soon as the rows it reads have arrived: each strip is resampled
/// horizontally as it comes, and the output is made from those rows in bands of
/// [`BAND_ROWS`]. A JPEG decoding on another thread is resized this way while it decodes.
///
/// The pixels depend only on the sizes, never on how the rows arrive: the horizontal pass
/// treats each row alone, and the bands, their crops and the rows they read are fixed by the
/// sizes. A whole image pushed at once ([`resize_extent`]) gets the same pixels.
pub(crate) struct RowResizer {
    pixel: PixelType,
    channels: usize,
    source: (u32, u32),
    /// The top-left part of the source resampled (see [`resize_extent`]).
    extent: (f64, f64),
    size: (u32, u32),
    /// The source rows arrived so far, resampled horizontally to `size.0`.
    narrowed: Vec<u8>,
    narrowed_rows: u32,
    /// Output rows made so far.
    made: u32,
    band: Vec<u8>,
    resizer: Resizer,
}

impl RowResizer {
    /// A resize of the top-left `extent` of `source` (width, height; 1 or 3 `channels`) to
    /// `size`.
    pub(crate) fn new(
        channels: usize,
        source: (u32, u32),
        extent: (f64, f64),
        size: (u32, u32),
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
        Ok(RowResizer {
            pixel,
            channels,
            source,
            extent,
            size,
            narrowed: Vec::new(),
            narrowed_rows: 0,
            made: 0,
            band: Vec::new(),
            resizer: Resizer::new(),
        })
    }

    /// Takes the next source rows, and hands `take` every output row they complete, in
    /// bands, top to bottom.
    pub(crate) fn push(
        &mut self,
        strip: &[u8],
        take: &mut impl FnMut(&[u8]) -> Result<()>,
    ) -> Result<()> {
        let source_row = self.source.0 as usize * self.channels;
        let rows = (strip.len() / source_row) as u32;
        if strip.len() % source_row != 0 || rows > self.source.1 - self.narrowed_rows {
            return Err(Error::internal("rows pushed do not fit the source"));
        }
        let narrowed_row = self.size.0 as usize * self.channels;
        let start = self.narrowed_rows as usize * narrowed_row;
        self.narrowed
            .resize(start + rows as usize * narrowed_row, 0);
        let from = ImageRef::new(self.source.0, rows, strip, self.pixel).map_err(resize_failed)?;
        let mut to =
            Image::from_slice_u8(self.size.0, rows, &mut self.narrowed[start..], self.pixel)
                .map_err(resize_failed)?;
        let across = lanczos3_from(0.0, 0.0, self.extent.0, f64::from(rows));
        self.resizer
            .resize(&from, &mut to, &across)
            .map_err(resize_failed)?;
        self.narrowed_rows += rows;
        self.make_bands(take)
    }

    /// Makes the last output rows, once every source row has been pushed.
    pub(crate) fn finish(mut self, take: &mut impl FnMut(&[u8]) -> Result<()>) -> Result<()> {
        if self.narrowed_rows != self.source.1 {
            return Err(Error::internal(
                "fewer rows were pushed than the source has",
            ));
        }
        self.make_bands(take)?;
        debug_assert_eq!(self.made, self.size.1);
        Ok(())
    }

    /// Makes the bands whose rows have all arrived.
    fn make_bands(&mut self, take: &mut impl FnMut(&[u8]) -> Result<()>) -> Result<()> {
        let narrowed_row = self.size.0 as usize * self.channels;
        while self.made < self.size.1 {
            let first = self.made;
            let last = (first + BAND_ROWS).min(self.size.1);
            let (top, bottom) = (self.band_edge(first), self.band_edge(last));
            if reads_to(top, bottom, last - first, self.source.1) > self.narrowed_rows {
                break;
            }
            let arrived = &self.narrowed[..self.narrowed_rows as usize * narrowed_row];
            let from = ImageRef::new(self.size.0, self.narrowed_rows, arrived, self.pixel)
                .map_err(resize_failed)?;
            self.band.resize((last - first) as usize * narrowed_row, 0);
            let mut to =
                Image::from_slice_u8(self.size.0, last - first, &mut self.band, self.pixel)
                    .map_err(resize_failed)?;
            let down = lanczos3_from(0.0, top, f64::from(self.size.0), bottom - top);
            self.resizer
                .resize(&from, &mut to, &down)
                .map_err(resize_failed)?;
            take(&self.band)?;
            self.made = last;
        }
        Ok(())
    }

    /// Where output row `row` starts in the source, in rows.
    fn band_edge(&self, row: u32) -> f64 {
        if row == self.size.1 {
            self.extent.1
        } else {
            f64::from(row) * (self.extent.1 / f64::from(self.size.1))
        }
    }
}

/// The source rows up to which `rows` output rows resampled from source rows `top`..`bottom`
/// read, one more to spare: fast_image_resize's window (in `precompute_coefficients`) for the
/// last of them, Lanczos3 reaching three output rows' worth of source rows each way.
fn reads_to(top: f64, bottom: f64, rows: u32, source_rows: u32) -> u32 {
    let scale = (bottom - top) / f64::from(rows);
    let centre = top + (f64::from(rows) - 0.5) * scale;
    let end = (centre + 3.0 * scale.max(1.0)).ceil() + 1.0;
    end.min(f64::from(source_rows)) as u32
}

/// Lanczos3 from the source rectangle at `left`, `top`, as every resize here does.
fn lanczos3_from(left: f64, top: f64, width: f64, height: f64) -> ResizeOptions {
    ResizeOptions::new()
        .resize_alg(ResizeAlg::Convolution(FilterType::Lanczos3))
        .crop(left, top, width, height)
}

fn resize_failed(e: impl std::fmt::Display) -> Error {
    Error::internal(format!("resize failed: {e}"))
}

#[cfg(test)]
mod tests {
    use image::RgbImage;

    use super::*;

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
        let mut resizer = RowResizer::new(channels, source, extent, size).unwrap();
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
                &lanczos3_from(0.0, 0.0, extent.0, extent.1),
            )
            .unwrap();
        // The passes round to 8 bits in between in the other order: a level at most, but where
        // Lanczos' lobes overshoot and clip at a sharp edge.
        let differences: Vec<u8> = (banded.as_bytes().iter().zip(one_pass.as_bytes()))
            .map(|(a, b)| a.abs_diff(*b))
            .collect();
        let beyond_one = differences.iter().filter(|&&d| d > 1).count();
        assert!(
            beyond_one * 1000 < differences.len(),
            "{beyond_one} of {}",
            differences.len()
        );
    }

    #[test]
    fn rows_that_do_not_fit_the_source_are_refused() {
        let mut resizer = RowResizer::new(3, (10, 4), (10.0, 4.0), (5, 2)).unwrap();
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
        assert!(RowResizer::new(4, (10, 4), (10.0, 4.0), (5, 2)).is_err());
        assert!(RowResizer::new(1, (10, 4), (10.5, 4.0), (5, 2)).is_err());
    }
}
