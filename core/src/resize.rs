//! Resampling with fast_image_resize (SIMD convolution).
//!
//! Gamma: pixels are resampled as stored (gamma-encoded sRGB), as sharp, libvips and Pillow do
//! by default, so results match what users of those libraries expect and no conversion to
//! linear light is paid for. Alpha is premultiplied during the resample, so transparent pixels
//! do not bleed their colour into the edges.

use fast_image_resize::{FilterType, ResizeAlg, ResizeOptions, Resizer};
use image::DynamicImage;

use crate::error::{Error, Result};

/// Resizes to exactly `width`×`height` with Lanczos3.
pub(crate) fn resize(image: &DynamicImage, width: u32, height: u32) -> Result<DynamicImage> {
    let extent = (f64::from(image.width()), f64::from(image.height()));
    resize_extent(image, extent, width, height)
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
    let mut resized = DynamicImage::new(width, height, image.color());
    let options = ResizeOptions::new()
        .resize_alg(ResizeAlg::Convolution(FilterType::Lanczos3))
        .crop(0.0, 0.0, extent.0, extent.1);
    Resizer::new()
        .resize(image, &mut resized, &options)
        .map_err(|e| Error::internal(format!("resize failed: {e}")))?;
    Ok(resized)
}
