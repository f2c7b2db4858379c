//! `meta=true`: the metadata of the image the rest of the query produces, as Imagizer's JSON.

use super::{Output, Pipeline};
use crate::Options;
use crate::error::Result;
use crate::format::Format;
use crate::metadata::{self, MetadataOptions, imagizer_json};

/// Parameters that shape the metadata answer rather than the image.
const META_PARAMETERS: &[&str] = &["meta", "face", "include_image_data"];

impl Pipeline {
    /// Without transform parameters the input itself is described, from its headers (and a
    /// small decode for the dominant colour): nothing is re-encoded. With them, or with
    /// `include_image_data`, the transform runs and its output is described.
    pub(super) fn run_meta(&self, input: &[u8], options: &Options) -> Result<Output> {
        let query = &self.parsed;
        let transforms = query
            .values
            .keys()
            .any(|name| !META_PARAMETERS.contains(name));
        let include_image = query.flag("include_image_data");
        let image = if transforms || include_image {
            Some(self.run_image(input, options)?)
        } else {
            None
        };
        let described = image.as_ref().map_or(input, |out| out.data.as_slice());
        let meta_options = MetadataOptions {
            limits: options.limits,
            colors: true,
            faces: query.flag("face"),
            ..MetadataOptions::default()
        };
        let meta = match image.as_ref() {
            // AVIF and MP4 outputs cannot be read back by this build: describe them from
            // what the encoder reported.
            Some(out) if !out.format.can_decode() => {
                metadata::Metadata::bare(out.data.len() as u64, out.width, out.height, out.format)
            }
            _ => metadata::metadata(described, &meta_options)?,
        };
        let data = imagizer_json(&meta, include_image.then_some(described));
        let (warnings, vary_accept, quality) = match image {
            Some(out) => (out.warnings, out.vary_accept, out.quality),
            None => (query.warnings.clone(), false, None),
        };
        Ok(Output {
            data,
            format: Format::Json,
            width: meta.width,
            height: meta.height,
            warnings,
            vary_accept,
            quality,
        })
    }
}
