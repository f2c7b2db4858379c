//! `filter=1…20`: named effect presets.

use image::DynamicImage;

use crate::error::Result;
use crate::query::ParsedQuery;

/// Applies the preset the query names, if any.
pub(crate) fn apply(image: DynamicImage, _query: &ParsedQuery) -> Result<DynamicImage> {
    Ok(image)
}
