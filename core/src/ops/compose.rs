//! Composition: the watermark (`mark*`) and `layers` (image and text layers).

use image::DynamicImage;

use crate::error::Result;
use crate::ops::Context;
use crate::query::ParsedQuery;

/// Draws the layers, then the watermark, over the image.
pub(crate) fn apply(
    image: DynamicImage,
    _query: &ParsedQuery,
    _context: &mut Context<'_>,
) -> Result<DynamicImage> {
    Ok(image)
}
