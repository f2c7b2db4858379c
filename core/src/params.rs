//! The parameter registry: every parameter of the transform language, declared once.
//!
//! The query parser ([`crate::Pipeline::from_query`]), the JSON schema ([`schema`]), the docs
//! table and every binding read this one table. Adding a parameter means adding one entry to
//! [`PARAMS`] and, once implemented, handling it in the pipeline.

use serde_json::{Value as Json, json};

use crate::error::{Error, ErrorKind, Result};

pub use crate::ops::filters::{FILTERS, FilterPreset};

/// The type of a parameter's value, with its accepted range.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ParamKind {
    /// `true`/`false`, also `1`/`0`.
    Bool,
    /// A whole number in `min..=max`.
    Int { min: i64, max: i64 },
    /// A decimal number in `min..=max`.
    Float { min: f64, max: f64 },
    /// One of a fixed set of words (case-insensitive).
    Choice(&'static [&'static str]),
    /// A colour: a name, `fff`/`ffff`/`ffffff`/`ffffffff` hex (`#` optional), or `rgb(r,g,b)`.
    Color,
    /// A crop mode (`fit`, `top`, ...) or a region `x,y,w,h` where x or y may be `center`.
    Crop,
    /// An encoder quality `1..=100` or `auto`.
    Quality,
    /// A JSON document (`layers`, `cache_queries`).
    Json,
    /// Free text such as a URL or host name, at most `max_len` bytes.
    Text { max_len: usize },
}

/// One parameter of the transform language.
#[derive(Debug, Clone, Copy)]
pub struct ParamSpec {
    /// Canonical name, as results, errors and docs spell it.
    pub name: &'static str,
    /// Other names accepted in queries (`w` for `width`).
    pub aliases: &'static [&'static str],
    pub kind: ParamKind,
    /// The value used when the parameter is absent, as it would be written in a query.
    pub default: Option<&'static str>,
    /// One line for people.
    pub doc: &'static str,
    /// Whether this build implements the parameter. Setting an unimplemented parameter to
    /// anything but its default is an [`crate::ErrorKind::Unsupported`] error, never a no-op.
    pub implemented: bool,
    /// Values of an implemented parameter that are not implemented yet.
    pub unimplemented_values: &'static [&'static str],
    /// Not part of the Imagizer language: a picsmith extension.
    pub extension: bool,
}

/// Crop modes of the `crop` parameter besides the `x,y,w,h` region form.
pub const CROP_MODES: &[&str] = &[
    "fit", "top", "bottom", "pad", "zoom", "stretch", "face", "entropy",
];

/// Output formats the `format` parameter accepts.
pub const FORMAT_NAMES: &[&str] = &[
    "jpeg", "jpg", "png", "webp", "avif", "gif", "mp4", "jxl", "auto",
];

/// Positions a watermark can take; `mark_pos` also accepts two joined by `|` or `,`.
pub const POSITIONS: &[&str] = &["center", "top", "right", "bottom", "left"];

const fn param(name: &'static str, kind: ParamKind, doc: &'static str) -> ParamSpec {
    ParamSpec {
        name,
        aliases: &[],
        kind,
        default: None,
        doc,
        implemented: false,
        unimplemented_values: &[],
        extension: false,
    }
}

impl ParamSpec {
    const fn aliases(mut self, aliases: &'static [&'static str]) -> Self {
        self.aliases = aliases;
        self
    }
    const fn default(mut self, default: &'static str) -> Self {
        self.default = Some(default);
        self
    }
    const fn implemented(mut self) -> Self {
        self.implemented = true;
        self
    }
    /// Marks values of an implemented parameter as not implemented yet (none today).
    #[allow(dead_code)]
    const fn except_values(mut self, values: &'static [&'static str]) -> Self {
        self.unimplemented_values = values;
        self
    }
    const fn extension(mut self) -> Self {
        self.extension = true;
        self
    }
}

const BOOL: ParamKind = ParamKind::Bool;
const UNIT: ParamKind = ParamKind::Float {
    min: -1.0,
    max: 1.0,
};
const PERCENT: ParamKind = ParamKind::Int { min: 0, max: 100 };
const URL: ParamKind = ParamKind::Text { max_len: 8192 };
/// Largest pixel value `width`/`height`/`pad` accept; [`crate::Limits`] may lower the output.
pub const MAX_SIDE: i64 = 16384;

/// Every parameter of the transform language, in the order of the reference's index.
pub static PARAMS: &[ParamSpec] = &[
    // Size
    param("width", ParamKind::Int { min: 1, max: MAX_SIDE }, "Scale to this width in pixels, keeping the aspect ratio.")
        .aliases(&["w"]).implemented(),
    param("height", ParamKind::Int { min: 1, max: MAX_SIDE }, "Scale to this height in pixels, keeping the aspect ratio; with width, fit inside both.")
        .aliases(&["h"]).implemented(),
    param("dpr", ParamKind::Float { min: 0.1, max: 10.0 }, "Device pixel ratio: multiplies width and height (needs one of them).")
        .default("1").implemented(),
    param("upscale", BOOL, "Allow the output to be larger than the source (otherwise sizes stop at the source's).")
        .default("false").implemented().extension(),
    param("crop", ParamKind::Crop, "How to reach the exact box: fit, top, bottom, pad, zoom, stretch, face, entropy, or a region x,y,w,h.")
        .implemented(),
    param("pad", ParamKind::Int { min: 0, max: 4096 }, "Border in pixels around the image, in pad_color.").default("0").implemented(),
    param("pad_color", ParamKind::Color, "Colour for padding, crop=pad, rotation corners and flatten; 0000 is transparent.")
        .default("white").implemented(),
    // Geometry
    param("rotate", ParamKind::Float { min: -360.0, max: 360.0 }, "Rotate clockwise by this many degrees.").default("0").implemented(),
    param("angle", ParamKind::Float { min: -360.0, max: 360.0 }, "Rotate counter-clockwise by this many degrees.").default("0").implemented(),
    param("autorotate", BOOL, "Apply the EXIF orientation and remove the tag.").default("true").implemented(),
    param("flip", BOOL, "Mirror the image horizontally.").default("false").implemented(),
    param("trim", ParamKind::Choice(&["color"]), "Remove a uniform border of trim_color.").implemented(),
    param("trim_color", ParamKind::Color, "Border colour that trim=color removes.").default("white").implemented(),
    // Effects
    param("blur", PERCENT, "Gaussian blur, 0 to 100: sigma = blur / 2 output pixels.").default("0").implemented(),
    param("sharp_amount", ParamKind::Int { min: 1, max: 100 }, "Unsharp-mask strength, 1 to 100 (100 adds twice the detail).").implemented(),
    param("sharp_radius", ParamKind::Int { min: 1, max: 100 }, "Unsharp-mask radius, 1 to 100: sigma = 0.5 + radius / 20 pixels; unset: 10 (needs sharp_amount).").implemented(),
    param("brightness", UNIT, "Exposure in linear light, -1 to 1 (±2 stops).").default("0").implemented(),
    param("contrast", UNIT, "Contrast, -1 (flat grey) to 1 (strong S-curve).").default("0").implemented(),
    param("gamma", UNIT, "Gamma, -1 to 1: values become x^(2^-gamma); positive brightens mid-tones.").default("0").implemented(),
    param("saturation", UNIT, "Saturation in Oklab, -1 (grey) to 1 (twice the chroma).").default("0").implemented(),
    param("vibrance", UNIT, "Saturation that favours dull colours, -1 to 1.").default("0").implemented(),
    param("warmth", UNIT, "White-balance shift, -1 (cool, bluer) to 1 (warm, redder).").default("0").implemented(),
    param("highlights", UNIT, "Brightness of the highlights, -1 to 1.").default("0").implemented(),
    param("shadow", UNIT, "Brightness of the shadows, -1 to 1.").default("0").implemented(),
    param("fill_flash", ParamKind::Float { min: 0.0, max: 1.0 }, "Lift dark areas, 0 to 1.").default("0").implemented(),
    param("auto_fix", BOOL, "Automatic brightness and contrast (luminance stretch and mid-tone gamma).").default("false").implemented(),
    param("auto_level", BOOL, "Automatic white balance: each channel stretched between its 0.5 % and 99.5 % percentiles.").default("false").implemented(),
    param("colorize", ParamKind::Color, "Tint the image with this colour, keeping its lightness.").implemented(),
    param("colorize_intensity", ParamKind::Int { min: 1, max: 100 }, "Strength of colorize in percent, 1 to 100 (needs colorize).").default("1").implemented(),
    param("filter", ParamKind::Int { min: 1, max: 20 }, "One of twenty named effect presets (see FILTERS).").implemented(),
    param("redeye", BOOL, "Red-eye correction: red pupils inside detected faces turn dark grey.").default("false").implemented(),
    param("flatten", BOOL, "Remove the alpha channel onto pad_color.").default("false").implemented(),
    // Input
    param("page", ParamKind::Int { min: 0, max: 65535 }, "Which image of a multi-page TIFF or of a HEIF/AVIF collection to read, from 0 (the first, or the primary image).")
        .default("0").implemented().extension(),
    // Output
    param("format", ParamKind::Choice(FORMAT_NAMES), "Output format; auto picks from the request's Accept header; mp4 (H.264 video) applies to GIF input only; jxl (JPEG XL) needs the vips feature.")
        .implemented(),
    param("quality", ParamKind::Quality, "Encoder quality 1 to 100, or auto (the smallest JPEG or WebP that meets quality_target); unset: the source JPEG's own quality, else 90.")
        .implemented(),
    param("quality_attempts", ParamKind::Int { min: 1, max: 20 }, "Binary-search steps (encodings) of quality=auto.").default("6").implemented(),
    param("quality_method", ParamKind::Choice(&["ssim", "mpe", "smallfry"]), "Similarity measure of quality=auto: ssim, mpe (mean pixel error) or smallfry.")
        .default("ssim").implemented(),
    param("quality_preset", ParamKind::Choice(&["low", "medium", "high", "veryhigh"]), "Target preset of quality=auto (jpeg-recompress's values for each method).")
        .default("medium").implemented(),
    param("quality_target", ParamKind::Float { min: 0.0, max: 1000.0 }, "Similarity target of quality=auto (SSIM at most 1; MPE is a maximum error); overrides quality_preset.").implemented(),
    param("quality_min", ParamKind::Int { min: 1, max: 100 }, "Lowest quality quality=auto may choose; at most quality_max.").default("40").implemented(),
    param("quality_max", ParamKind::Int { min: 1, max: 100 }, "Highest quality quality=auto may choose; its result when no quality meets the target.").default("90").implemented(),
    param("lossless", BOOL, "Encode WebP or JPEG XL losslessly.").default("false").implemented().extension(),
    param("interlace", BOOL, "Progressive JPEG or interlaced PNG.").default("false").implemented(),
    param("strip_exif", BOOL, "Drop EXIF metadata from the output.").default("false").implemented(),
    // Watermark and layers
    param("mark", URL, "Location of the watermark image, resolved by the host (an assets directory).").implemented(),
    param("mark_alpha", PERCENT, "Watermark opacity, 0 (transparent) to 100 (opaque); needs mark.").default("100").implemented(),
    param("mark_scale", PERCENT, "Longest side of the watermark as a percentage of the image's smallest side; needs mark.").implemented(),
    param("mark_pos", ParamKind::Text { max_len: 32 }, "Watermark position: top, right, bottom, left or center, or two joined by | or , (top|left); needs mark.")
        .default("center").implemented(),
    param("mark_offset", PERCENT, "Offset of the watermark from mark_pos towards the inside, in percent of the image's side; needs mark_pos.").default("0").implemented(),
    param("mark_upscale", BOOL, "Allow mark_scale to enlarge the watermark; needs mark_scale.").default("false").implemented(),
    param("mark_required", BOOL, "Fail when the watermark cannot be fetched or decoded, instead of a warning; needs mark.").default("false").implemented(),
    param("layers", ParamKind::Json, "JSON array (at most 32) of image layers (url) and text layers (text, font, color), drawn in order under the watermark.").implemented(),
    // Metadata and recognition
    param("meta", BOOL, "Answer with metadata JSON (size, type, EXIF, dominant colour) of the image the other parameters produce.").default("false").implemented(),
    param("face", BOOL, "With meta: add detected face boxes (faces: xPos, yPos, width, height).").default("false").implemented(),
    param("include_image_data", BOOL, "With meta: embed the output image as base64 (imageData).").default("false").implemented(),
    param("recognition", ParamKind::Choice(&["nsfw", "labels"]), "Classify the image the other parameters produce and answer JSON: nsfw (nudity) or labels (needs a configured model).")
        .implemented(),
    // Sources
    param("origin", URL, "Origin server the request path is fetched from (http:// when no scheme is given); Library renders and the server, when enabled.").implemented(),
    param("host_header", ParamKind::Text { max_len: 255 }, "Host header for the origin request; needs origin or source_url.").implemented(),
    param("resolve", ParamKind::Text { max_len: 300 }, "host:port:address to connect to for the origin request, vetted like a resolved address; needs origin or source_url.").implemented(),
    param("source_url", URL, "Full URL of the source image; Library renders and the server, when enabled.").implemented(),
    param("bucket", ParamKind::Text { max_len: 255 }, "S3 bucket the request path is read from; only allowed buckets, when enabled.").implemented(),
    param("region", ParamKind::Text { max_len: 64 }, "AWS region of the bucket; needs bucket.").implemented(),
    // Uploads
    param("cache_processed", BOOL, "POST only: store the processed image as the new original.").default("false"),
    param("cache_queries", ParamKind::Json, "POST only: JSON array of query strings to pre-render."),
];

/// Looks a parameter up by its name or an alias (case-sensitive, as URLs are).
///
/// ```
/// let spec = picsmith::params::lookup("w").unwrap();
/// assert_eq!(spec.name, "width");
/// ```
pub fn lookup(name: &str) -> Option<&'static ParamSpec> {
    PARAMS
        .iter()
        .find(|p| p.name == name || p.aliases.contains(&name))
}

/// Checks a transform query against the parameters a deployment allows, so that a public
/// server cannot be made to burn CPU. `allowed` holds parameter names; an alias (`w`) or a
/// base64 form (`width64`), in the query or in `allowed`, counts as its parameter. Any other
/// key, known to the engine or not, is `Forbidden` naming the key as written.
///
/// ```
/// use picsmith::params::check_allowed;
///
/// assert!(check_allowed("w=300&format=webp", &["width", "format"]).is_ok());
/// let err = check_allowed("width=300&blur=9", &["width"]).unwrap_err();
/// assert_eq!(err.parameter(), Some("blur"));
/// ```
pub fn check_allowed<S: AsRef<str>>(query: &str, allowed: &[S]) -> Result<()> {
    let canonical = |key: &str| lookup_key(key).map(|(spec, _)| spec.name);
    let permitted: Vec<&str> = allowed
        .iter()
        .map(|name| canonical(name.as_ref()).unwrap_or(name.as_ref()))
        .collect();
    let query = query.strip_prefix('?').unwrap_or(query);
    for (key, _) in form_urlencoded::parse(query.as_bytes()) {
        let name = canonical(&key).unwrap_or(&key);
        if !key.is_empty() && !permitted.contains(&name) {
            return Err(Error::for_parameter(
                ErrorKind::Forbidden,
                &key,
                format!("the parameter '{key}' is not allowed on this server"),
            ));
        }
    }
    Ok(())
}

/// The spec a query key names: a parameter's name or alias, or its base64 form (`width64`),
/// with whether the value is base64.
pub(crate) fn lookup_key(key: &str) -> Option<(&'static ParamSpec, bool)> {
    match lookup(key) {
        Some(spec) => Some((spec, false)),
        None => key
            .strip_suffix("64")
            .and_then(lookup)
            .map(|spec| (spec, true)),
    }
}

/// The spec of a parameter the engine itself names; a missing one is a programming error.
pub(crate) fn spec(name: &str) -> &'static ParamSpec {
    lookup(name).unwrap_or_else(|| panic!("parameter {name} is not declared in PARAMS"))
}

impl ParamKind {
    /// A short description of what the kind accepts, used in error messages and docs.
    pub fn accepted(&self) -> String {
        match self {
            ParamKind::Bool => "true or false".into(),
            ParamKind::Int { min, max } => format!("a whole number from {min} to {max}"),
            ParamKind::Float { min, max } => format!("a number from {min} to {max}"),
            ParamKind::Choice(values) => format!("one of {}", values.join(", ")),
            ParamKind::Color => {
                "a colour name, hex (fff, ffff, ffffff, ffffffff) or rgb(r,g,b)".into()
            }
            ParamKind::Crop => format!(
                "one of {}, or a region x,y,w,h (x or y may be center)",
                CROP_MODES.join(", ")
            ),
            ParamKind::Quality => "a whole number from 1 to 100, or auto".into(),
            ParamKind::Json => "a JSON document".into(),
            ParamKind::Text { max_len } => format!("text of at most {max_len} bytes"),
        }
    }
}

/// A JSON Schema (draft 2020-12) of the query parameters, generated from [`PARAMS`].
///
/// ```
/// let schema = picsmith::params::schema();
/// assert_eq!(schema["properties"]["width"]["maximum"], 16384);
/// ```
pub fn schema() -> Json {
    let mut properties = serde_json::Map::new();
    for p in PARAMS {
        let mut prop = match p.kind {
            ParamKind::Bool => json!({"type": "boolean"}),
            ParamKind::Int { min, max } => {
                json!({"type": "integer", "minimum": min, "maximum": max})
            }
            ParamKind::Float { min, max } => {
                json!({"type": "number", "minimum": min, "maximum": max})
            }
            ParamKind::Choice(values) => json!({"type": "string", "enum": values}),
            ParamKind::Quality => json!({"oneOf": [
                {"type": "integer", "minimum": 1, "maximum": 100},
                {"const": "auto"}
            ]}),
            ParamKind::Text { max_len } => json!({"type": "string", "maxLength": max_len}),
            ParamKind::Color | ParamKind::Crop | ParamKind::Json => json!({"type": "string"}),
        };
        let obj = prop.as_object_mut().expect("schema entries are objects");
        obj.insert("description".into(), p.doc.into());
        if let Some(default) = p.default {
            obj.insert("default".into(), default.into());
        }
        if !p.aliases.is_empty() {
            obj.insert("x-aliases".into(), json!(p.aliases));
        }
        obj.insert("x-implemented".into(), p.implemented.into());
        if p.extension {
            obj.insert("x-picsmith-extension".into(), true.into());
        }
        properties.insert(p.name.into(), prop);
    }
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "picsmith transform parameters",
        "type": "object",
        "properties": properties,
    })
}

/// The parameter reference as a Markdown table, generated from [`PARAMS`]; the README embeds
/// it (a test keeps the copy current).
///
/// ```
/// let table = picsmith::params::markdown_table();
/// assert!(table.lines().any(|line| line.starts_with("| `width` | `w` |")));
/// ```
pub fn markdown_table() -> String {
    let mut table = String::from(
        "| parameter | aliases | accepts | default | what it does |\n| --- | --- | --- | --- | --- |\n",
    );
    for p in PARAMS {
        let aliases = p
            .aliases
            .iter()
            .map(|a| format!("`{a}`"))
            .collect::<Vec<_>>()
            .join(", ");
        let mut doc = p.doc.to_owned();
        if p.extension {
            doc.push_str(" *(picsmith extension)*");
        }
        if !p.implemented {
            doc.push_str(" **Not implemented yet: 501.**");
        } else if !p.unimplemented_values.is_empty() {
            doc.push_str(&format!(
                " **Not implemented yet: {}.**",
                p.unimplemented_values.join(", ")
            ));
        }
        table.push_str(&format!(
            "| `{}` | {} | {} | {} | {} |\n",
            p.name,
            aliases,
            p.kind.accepted().replace('|', "\\|"),
            p.default.map(|d| format!("`{d}`")).unwrap_or_default(),
            doc.replace('|', "\\|"),
        ));
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn allow_lists_count_aliases_and_base64_forms_as_their_parameter() {
        let allowed = ["w", "format64"];
        assert!(check_allowed("width=1&w=2&width64=MTI&format=png&", &allowed).is_ok());
        assert!(check_allowed("?format64=cG5n", &allowed).is_ok());
        for (query, refused) in [
            ("w=1&blur=2", "blur"),
            ("nonsense=1", "nonsense"),
            ("h=9", "h"),
        ] {
            let err = check_allowed(query, &allowed).unwrap_err();
            assert_eq!(
                (err.kind(), err.parameter()),
                (ErrorKind::Forbidden, Some(refused))
            );
        }
        assert!(check_allowed("width=1", &[] as &[&str]).is_err());
    }

    #[test]
    fn names_and_aliases_are_unique() {
        let mut seen = HashSet::new();
        for p in PARAMS {
            for name in std::iter::once(&p.name).chain(p.aliases) {
                assert!(seen.insert(*name), "{name} declared twice");
                assert!(
                    !name.ends_with("64"),
                    "{name} collides with the base64 form"
                );
            }
        }
    }

    #[test]
    fn every_default_parses_as_its_own_kind() {
        for p in PARAMS {
            if let Some(default) = p.default {
                crate::query::parse_value(p, default)
                    .unwrap_or_else(|e| panic!("default of {} does not parse: {e}", p.name));
            }
        }
    }

    #[test]
    fn the_index_of_the_reference_is_declared() {
        let index = [
            "width",
            "w",
            "height",
            "h",
            "dpr",
            "crop",
            "pad",
            "pad_color",
            "rotate",
            "angle",
            "autorotate",
            "flip",
            "trim",
            "trim_color",
            "blur",
            "sharp_amount",
            "sharp_radius",
            "brightness",
            "contrast",
            "gamma",
            "saturation",
            "vibrance",
            "warmth",
            "highlights",
            "shadow",
            "fill_flash",
            "auto_fix",
            "auto_level",
            "colorize",
            "colorize_intensity",
            "filter",
            "redeye",
            "flatten",
            "format",
            "quality",
            "quality_attempts",
            "quality_method",
            "quality_preset",
            "quality_target",
            "quality_min",
            "quality_max",
            "interlace",
            "strip_exif",
            "mark",
            "mark_alpha",
            "mark_scale",
            "mark_pos",
            "mark_offset",
            "mark_upscale",
            "mark_required",
            "layers",
            "meta",
            "face",
            "include_image_data",
            "recognition",
            "origin",
            "host_header",
            "resolve",
            "source_url",
            "bucket",
            "region",
            "cache_processed",
            "cache_queries",
        ];
        for name in index {
            assert!(lookup(name).is_some(), "{name} is missing from PARAMS");
        }
    }
}
