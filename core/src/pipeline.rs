//! A parsed transform and its execution: decode → autorotate → resize → encode.

use image::{metadata::Orientation, DynamicImage};

use crate::decode;
use crate::encode::{self, EncodeSettings};
use crate::error::{Error, ErrorKind, Result};
use crate::exif;
use crate::format::{accepts, Format};
use crate::limits::Limits;
use crate::params;
use crate::query::{self, ParsedQuery, Quality, Value, Warning};
use crate::resize;

/// Quality used when none is asked for and the source's cannot be estimated (Imagizer's rule).
const DEFAULT_QUALITY: u8 = 90;

/// A validated transform, parsed once from a query string and reusable for many images.
///
/// ```
/// use picsmith::Pipeline;
/// let pipeline = Pipeline::from_query("w=400&format=webp&cachebuster=3").unwrap();
/// assert_eq!(pipeline.warnings()[0].parameter, "cachebuster");
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Pipeline {
    parsed: ParsedQuery,
}

/// An encoded image and what the caller needs to serve it.
#[derive(Debug, Clone, PartialEq)]
pub struct Output {
    pub data: Vec<u8>,
    pub format: Format,
    pub width: u32,
    pub height: u32,
    /// Warnings of parsing and of processing (options the output format cannot honour).
    pub warnings: Vec<Warning>,
    /// The format was chosen from the Accept header (`format=auto`): an HTTP response must say
    /// `Vary: Accept`.
    pub vary_accept: bool,
}

impl Output {
    /// The MIME type of [`Output::data`].
    pub fn mime(&self) -> &'static str {
        self.format.mime()
    }
}

impl Pipeline {
    /// Parses a query string; unknown parameters become warnings.
    pub fn from_query(query: &str) -> Result<Pipeline> {
        Ok(Pipeline {
            parsed: query::parse_query(query, false)?,
        })
    }

    /// Parses a query string; unknown or repeated parameters are errors.
    pub fn from_query_strict(query: &str) -> Result<Pipeline> {
        Ok(Pipeline {
            parsed: query::parse_query(query, true)?,
        })
    }

    /// The warnings of parsing.
    pub fn warnings(&self) -> &[Warning] {
        &self.parsed.warnings
    }

    /// The value given for a parameter (by canonical name or alias), if any.
    pub fn get(&self, name: &str) -> Option<&Value> {
        params::lookup(name).and_then(|spec| self.parsed.values.get(spec.name))
    }

    /// The given value, else the registry default.
    fn value(&self, name: &'static str) -> Option<Value> {
        self.parsed.values.get(name).cloned().or_else(|| {
            let spec = params::spec(name);
            spec.default
                .map(|d| query::parse_value(spec, d).expect("registry defaults parse"))
        })
    }

    fn flag(&self, name: &'static str) -> bool {
        matches!(self.value(name), Some(Value::Bool(true)))
    }

    fn number(&self, name: &'static str) -> Option<f64> {
        match self.value(name)? {
            Value::Int(n) => Some(n as f64),
            Value::Float(n) => Some(n),
            _ => None,
        }
    }

    /// Runs the transform on one encoded image. `accept` is the request's Accept header, used
    /// by `format=auto`.
    ///
    /// ```no_run
    /// let input = std::fs::read("photo.jpg").unwrap();
    /// let pipeline = picsmith::Pipeline::from_query("width=400&format=webp").unwrap();
    /// let output = pipeline.run(&input, None, &picsmith::Limits::default()).unwrap();
    /// assert_eq!(output.width, 400);
    /// ```
    pub fn run(&self, input: &[u8], accept: Option<&str>, limits: &Limits) -> Result<Output> {
        let mut warnings = self.parsed.warnings.clone();
        let mut source = decode::open(input, limits)?;
        let orientation = if self.flag("autorotate") {
            source.orientation
        } else {
            1
        };
        let upright = if orientation >= 5 {
            (source.height, source.width)
        } else {
            (source.width, source.height)
        };
        let target = self.target_size(upright, limits)?;

        let input_format = source.format;
        let source_quality = source.jpeg_quality;
        let icc = source.icc.take();
        let exif = if self.flag("strip_exif") {
            None
        } else {
            source.exif.take()
        };
        let stored_target = target.map(|(w, h)| if orientation >= 5 { (h, w) } else { (w, h) });

        let mut image = source.decode(stored_target)?;
        if orientation != 1 {
            image.apply_orientation(
                Orientation::from_exif(orientation).unwrap_or(Orientation::NoTransforms),
            );
        }
        let (width, height) = target.unwrap_or((image.width(), image.height()));
        if (width, height) != (image.width(), image.height()) {
            image = resize::resize(&image, width, height)?;
        }

        let has_alpha = image.color().has_alpha();
        let (format, vary_accept) = self.output_format(input_format, has_alpha, accept);
        if has_alpha && !format.supports_alpha() {
            image = flatten_on_white(image);
        }
        let quality = match self.value("quality") {
            Some(Value::Quality(Quality::Fixed(q))) => q,
            _ => source_quality.unwrap_or(DEFAULT_QUALITY),
        };
        let interlace = self.flag("interlace");
        if interlace && !matches!(format, Format::Jpeg | Format::Png) {
            warnings.push(Warning {
                parameter: "interlace".into(),
                message: format!("interlace applies to JPEG and PNG output; ignored for {format}"),
            });
        }
        let lossless = self.flag("lossless");
        if lossless && format != Format::Webp {
            warnings.push(Warning {
                parameter: "lossless".into(),
                message: format!("lossless applies to WebP output; ignored for {format}"),
            });
        }
        let exif = exif.map(|mut tiff| {
            if orientation != 1 {
                exif::reset_orientation(&mut tiff);
            }
            tiff
        });
        let settings = EncodeSettings {
            format,
            quality,
            interlace,
            lossless,
            exif: exif.as_deref(),
            icc: icc.as_deref(),
        };
        let data = encode::encode(&image, &settings)?;
        Ok(Output {
            data,
            format,
            width,
            height,
            warnings,
            vary_accept,
        })
    }

    /// The output size in upright orientation, or `None` to keep the source's size.
    fn target_size(
        &self,
        (src_w, src_h): (u32, u32),
        limits: &Limits,
    ) -> Result<Option<(u32, u32)>> {
        let dpr = self.number("dpr").unwrap_or(1.0);
        let want_w = self.number("width").map(|w| w * dpr);
        let want_h = self.number("height").map(|h| h * dpr);
        let (sw, sh) = (src_w as f64, src_h as f64);
        let scale = match (want_w, want_h) {
            (None, None) => None,
            (Some(w), None) => Some(w / sw),
            (None, Some(h)) => Some(h / sh),
            (Some(w), Some(h)) => Some((w / sw).min(h / sh)),
        };
        let scale = scale.map(|s| if self.flag("upscale") { s } else { s.min(1.0) });
        let size = match scale {
            None => (src_w, src_h),
            Some(s) => {
                let side = |v: f64| (v * s).round().clamp(1.0, u32::MAX as f64) as u32;
                (side(sw), side(sh))
            }
        };
        if size.0 > limits.max_output_side || size.1 > limits.max_output_side {
            return Err(Error::new(
                ErrorKind::LimitExceeded,
                format!(
                    "output would be {}x{}; the limit is {} pixels a side",
                    size.0, size.1, limits.max_output_side
                ),
            ));
        }
        Ok(scale.map(|_| size))
    }

    /// The format asked for, else negotiated (`auto`), else the input's own when it can be
    /// written, else JPEG (PNG with alpha).
    fn output_format(
        &self,
        input: Format,
        has_alpha: bool,
        accept: Option<&str>,
    ) -> (Format, bool) {
        let fallback = if has_alpha { Format::Png } else { Format::Jpeg };
        match self.value("format") {
            Some(Value::Text(name)) if name == "auto" => {
                let accept = accept.unwrap_or("");
                // WebP before AVIF: Imagizer's default, and far cheaper to encode.
                let chosen = if accepts(accept, Format::Webp.mime()) {
                    Format::Webp
                } else if accepts(accept, Format::Avif.mime()) {
                    Format::Avif
                } else {
                    fallback
                };
                (chosen, true)
            }
            Some(Value::Text(name)) => (Format::from_name(&name).unwrap_or(fallback), false),
            _ if input.can_encode() => (input, false),
            _ => (fallback, false),
        }
    }
}

/// Composites onto white for formats without alpha.
fn flatten_on_white(image: DynamicImage) -> DynamicImage {
    let blend = |c: u8, a: u8| ((c as u32 * a as u32 + 255 * (255 - a as u32) + 127) / 255) as u8;
    match image {
        DynamicImage::ImageLumaA8(gray) => {
            let (w, h) = gray.dimensions();
            let pixels = gray.pixels().map(|p| blend(p[0], p[1])).collect();
            DynamicImage::ImageLuma8(image::GrayImage::from_raw(w, h, pixels).expect("sizes match"))
        }
        other => {
            let rgba = other.into_rgba8();
            let (w, h) = rgba.dimensions();
            let pixels = rgba
                .pixels()
                .flat_map(|p| [blend(p[0], p[3]), blend(p[1], p[3]), blend(p[2], p[3])])
                .collect();
            DynamicImage::ImageRgb8(image::RgbImage::from_raw(w, h, pixels).expect("sizes match"))
        }
    }
}
