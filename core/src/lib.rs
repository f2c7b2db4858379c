//! # picsmith
//!
//! A fast, safe image engine. One query string in the Imagizer transform language describes the
//! work; picsmith decodes (shrinking JPEGs while decoding), applies the EXIF orientation,
//! resizes with SIMD Lanczos3 and encodes JPEG, PNG, WebP, AVIF or GIF.
//!
//! ```no_run
//! let input = std::fs::read("photo.jpg").unwrap();
//! let output = picsmith::process(&input, "width=400&format=webp", &picsmith::Options::default()).unwrap();
//! std::fs::write("photo-400.webp", &output.data).unwrap();
//! ```
//!
//! Every parameter is declared once, in [`params::PARAMS`]; errors carry an [`ErrorKind`] with a
//! stable code and HTTP status; inputs are checked against [`Limits`] before pixels are decoded.

mod auto_quality;
mod avif;
mod cores;
mod decode;
mod encode;
mod error;
mod exif;
pub mod faces;
pub mod fetch;
mod fonts;
mod format;
mod jpeg;
mod limits;
mod metadata;
mod mp4;
mod ops;
pub mod params;
mod pipeline;
mod query;
mod recognition;
mod resize;
mod resolver;
mod rows;
mod signing;
pub mod storage;
#[cfg(feature = "vips")]
#[doc(hidden)]
pub mod vips;

pub use error::{Error, ErrorKind, Result};
pub use fetch::{FetchPolicy, FetchRequest, Fetcher};
pub use format::Format;
pub use limits::Limits;
pub use metadata::{ExifTags, JpegInfo, Metadata, MetadataOptions, PaletteColor, metadata};
pub use pipeline::{Output, Pipeline};
pub use query::{Coord, Crop, Quality, Rgba, Value, Warning};
pub use recognition::RecognitionModels;
pub use resolver::{DirectoryResolver, Resolver};
pub use signing::{sign_path, verify_signed_path};

/// The crate version, which is also the version of the Python and Node packages.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The optional features compiled into this build: `"vips"` when HEIF/HEIC, AVIF, JPEG XL
/// and TIFF input and JPEG XL output go through libvips.
///
/// ```
/// let vips = picsmith::features().contains(&"vips");
/// assert_eq!(vips, picsmith::Format::Tiff.can_decode());
/// ```
pub fn features() -> &'static [&'static str] {
    if cfg!(feature = "vips") {
        &["vips"]
    } else {
        &[]
    }
}

/// Options of [`process`] and [`Pipeline::run`].
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The request's `Accept` header, for `format=auto`.
    pub accept: Option<String>,
    pub limits: Limits,
    /// Unknown and repeated parameters are errors instead of warnings. Read when parsing (by
    /// [`process`]); a [`Pipeline`] is already parsed, so its `run` ignores it.
    pub strict: bool,
    /// Where watermark and layer images come from. Without one, a layer is skipped with a
    /// warning (or fails, when it is required).
    pub resolver: Option<std::sync::Arc<dyn Resolver>>,
    /// The model files of `recognition=nsfw|labels`; unset paths fall back to the environment
    /// variables `PICSMITH_NSFW_MODEL`, `PICSMITH_LABELS_MODEL` and `PICSMITH_LABELS_NAMES`.
    pub models: RecognitionModels,
}

/// Parses `query` and runs it on `input` in one call.
///
/// ```
/// let err = picsmith::process(b"", "width=10", &picsmith::Options::default()).unwrap_err();
/// assert_eq!(err.kind(), picsmith::ErrorKind::InvalidImage);
/// ```
pub fn process(input: &[u8], query: &str, options: &Options) -> Result<Output> {
    let pipeline = if options.strict {
        Pipeline::from_query_strict(query)?
    } else {
        Pipeline::from_query(query)?
    };
    pipeline.run(input, options)
}
