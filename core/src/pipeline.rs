//! A parsed transform and its execution.
//!
//! The order of operations is fixed (the README shows it as a table):
//! decode (JPEGs shrink while decoding) → EXIF orientation and the right-angle part of
//! `rotate`/`angle` → trim → size and crop modes (`crop=face` detects faces here) → region
//! crop → the remaining tilt of `rotate`/`angle` (and `crop=zoom`) → flip → red-eye correction
//! (detects faces on the sized image) → colour adjustments → filter preset → blur and sharpen →
//! layers and watermark → pad → flatten → encode.

use image::DynamicImage;
use image::DynamicImage::{ImageLuma8, ImageRgb8};

use crate::Options;
use crate::auto_quality;
use crate::cores;
use crate::decode;
use crate::encode::{self, EncodeSettings};
use crate::error::Result;
use crate::exif;
use crate::format::{Format, accepts};
use crate::jpeg::{self, JpegHeader};
use crate::ops::{Context, color, compose, effects, filters, geometry, redeye};
use crate::params;
use crate::query::{self, ParsedQuery, Quality, Value, Warning};

mod animation;
mod meta;
mod recognition;

/// Parameters that never change pixels: output options, and where the source comes from.
const PIXEL_NEUTRAL_PARAMETERS: &[&str] = &[
    "format",
    "quality",
    "interlace",
    "lossless",
    "strip_exif",
    "autorotate",
    "page",
    "origin",
    "host_header",
    "resolve",
    "source_url",
    "bucket",
    "region",
    "cache_processed",
    "cache_queries",
];

/// The parameters that size the whole image (with `crop` when it cuts nothing away).
const SIZE_PARAMETERS: &[&str] = &["width", "height", "dpr", "upscale", "crop"];

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
    /// The quality the lossy encoder used (JPEG, lossy WebP, AVIF): with `quality=auto`, the one
    /// the search chose. `None` for PNG, GIF and lossless WebP.
    pub quality: Option<u8>,
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

    /// What this pipeline makes of one original, as a string for caches: two pipelines with
    /// the same key turn the same original into the same bytes. The Accept header matters only
    /// with `format=auto`, and then only through the format it selects.
    ///
    /// `None` when the output depends on more than the original: layer and watermark images
    /// (they can change under the same location), `meta` and `recognition` answers.
    ///
    /// ```
    /// use picsmith::Pipeline;
    /// let a = Pipeline::from_query("w=300&format=webp").unwrap();
    /// let b = Pipeline::from_query("format=webp&width=300&cachebuster=7").unwrap();
    /// assert_eq!(a.cache_key(None), b.cache_key(None));
    /// assert!(Pipeline::from_query("w=300&mark=/logo.png").unwrap().cache_key(None).is_none());
    /// ```
    pub fn cache_key(&self, accept: Option<&str>) -> Option<String> {
        let query = &self.parsed;
        if query.flag("meta")
            || query.is_set("mark")
            || query.is_set("layers")
            || query.is_set("recognition")
        {
            return None;
        }
        let negotiated = match query.text("format").as_deref() {
            Some("auto") => {
                let accept = accept.unwrap_or("");
                if accepts(accept, Format::Webp.mime()) {
                    "webp"
                } else if accepts(accept, Format::Avif.mime()) {
                    "avif"
                } else {
                    "fallback"
                }
            }
            _ => "",
        };
        Some(format!(
            "{}|{:?}|{}|{negotiated}",
            crate::VERSION,
            query.values,
            query.zoom
        ))
    }

    /// Runs the transform on one encoded image.
    ///
    /// ```no_run
    /// let input = std::fs::read("photo.jpg").unwrap();
    /// let pipeline = picsmith::Pipeline::from_query("width=400&format=webp").unwrap();
    /// let output = pipeline.run(&input, &picsmith::Options::default()).unwrap();
    /// assert_eq!(output.width, 400);
    /// ```
    pub fn run(&self, input: &[u8], options: &Options) -> Result<Output> {
        let _running = cores::Running::start();
        if self.parsed.is_set("recognition") {
            return self.run_recognition(input, options);
        }
        if self.parsed.flag("meta") {
            return self.run_meta(input, options);
        }
        self.run_image(input, options)
    }

    /// The transform itself: `run` without `meta`.
    fn run_image(&self, input: &[u8], options: &Options) -> Result<Output> {
        let query = &self.parsed;
        let limits = &options.limits;
        let mut warnings = query.warnings.clone();
        let page = query.number("page").map_or(0, |n| n as u32);
        let mut source = decode::open_page(input, limits, page)?;
        if page > 0 && !source.format.has_pages() {
            warnings.push(Warning {
                parameter: "page".into(),
                message: format!(
                    "page applies to TIFF, HEIF and AVIF input; ignored for {}",
                    source.format
                ),
            });
        }
        if let Some(plan) = self.animation_plan(&source, options, &mut warnings)? {
            return self.run_animation(source, plan, options, warnings);
        }
        let Orientation {
            exif: orientation,
            rotation,
            turns_side,
            upright,
        } = self.orientation(&source);
        // Knowing the final size before decoding lets JPEGs shrink while decoding and refuses
        // oversized outputs before any pixel is allocated.
        let hint = geometry::decode_hint(query, upright, limits)?;
        let stored_hint = hint.map(|(w, h)| if turns_side { (h, w) } else { (w, h) });

        let input_format = source.format;
        let source_quality = source.jpeg_quality;
        let icc = source.take_output_icc();
        let exif = if query.flag("strip_exif") {
            None
        } else {
            source.exif.take()
        };

        let quality = match query.value("quality") {
            Some(Value::Quality(Quality::Fixed(q))) => q,
            _ => source_quality.unwrap_or(DEFAULT_QUALITY),
        };
        let interlace = query.flag("interlace");
        let lossless = query.flag("lossless");
        let exif = exif.map(|mut tiff| {
            if orientation != 1 {
                exif::reset_orientation(&mut tiff);
            }
            tiff
        });
        let settings = |format| EncodeSettings {
            format,
            quality,
            interlace,
            lossless,
            exif: exif.as_deref(),
            icc: icc.as_deref(),
        };

        // JPEG output is encoded while its rows are made, on the other core when one is free
        // (`jpeg::encode_rows`). A JPEG whose pixels stay as decoded streams from the decoder
        // to the encoder, a strip at a time, and is never held whole. When blur or sharpening
        // ends the pipeline (below), the rows go to the encoder as they are finished, which
        // gains only with a core to spare.
        if let Some(header) = self.unchanged_jpeg(&source, orientation, &rotation) {
            let (format, vary_accept) = self.output_format(input_format, false, options);
            if format == Format::Jpeg && !auto_quality::searches(query) {
                warn_unused_encoder_options(query, format, &mut warnings);
                let data = encode::transcode_jpeg(source.bytes, header, &settings(format))?;
                return Ok(Output {
                    data,
                    format,
                    width: source.width,
                    height: source.height,
                    warnings,
                    vary_accept,
                    quality: Some(quality),
                });
            }
        }

        // A crop at the source's scale is cut out before the image is turned upright, so the
        // pixels thrown away are never turned.
        let region = geometry::unscaled_region(query, upright)?;
        // A JPEG to be resized is resized while it decodes, a strip of rows at a time
        // (`jpeg::decode_resized`), beside the decoder when a core is free; the rest of the
        // transform follows. When it is only resized, as JPEG each band of rows goes straight
        // on into the encoder.
        let shrink = match (region, stored_hint) {
            (None, Some(size)) => source.jpeg_shrink(size),
            _ => None,
        };
        if let Some((header, shrink)) = &shrink
            && self.only_resizes(orientation, &rotation, upright)?
        {
            let (format, vary_accept) = self.output_format(input_format, false, options);
            if format == Format::Jpeg && !auto_quality::searches(query) {
                warn_unused_encoder_options(query, format, &mut warnings);
                let data = encode::resized_jpeg(source.bytes, header, shrink, &settings(format))?;
                return Ok(Output {
                    data,
                    format,
                    width: shrink.size.0,
                    height: shrink.size.1,
                    warnings,
                    vary_accept,
                    quality: Some(quality),
                });
            }
        }
        let (image, scale) = if let Some((header, shrink)) = shrink {
            let image = jpeg::decode_resized_image(source.bytes, header, &shrink)?;
            (image, f64::from(shrink.size.0) / f64::from(source.width))
        } else if let Some(region) = region {
            let stored = (source.width, source.height);
            let stored_region =
                geometry::stored_region(region, stored, orientation, rotation.quarter_turns);
            (source.decode_region(stored_region)?, 1.0)
        } else {
            let decoded = source.decode_scaled(stored_hint)?;
            (decoded.image, decoded.scale)
        };
        let mut image = geometry::turn_upright(image, orientation, rotation.quarter_turns);

        let mut context = Context {
            options,
            warnings: &mut warnings,
        };
        let prepared = Prepared {
            upright,
            scale,
            cropped: region.is_some(),
        };
        image = self.transform_before_effects(image, &prepared, &rotation, &mut context)?;
        if self.effects_come_last()
            && matches!(image, ImageRgb8(_) | ImageLuma8(_))
            && cores::one_to_spare()
        {
            let (format, vary_accept) = self.output_format(input_format, false, options);
            if format == Format::Jpeg && !auto_quality::searches(query) {
                let (width, height) = (image.width(), image.height());
                if width > limits.max_output_side || height > limits.max_output_side {
                    return Err(geometry::output_too_large(width, height, limits));
                }
                warn_unused_encoder_options(query, format, &mut warnings);
                auto_quality::warn_search_parameters(query, &mut warnings);
                let gray = matches!(image, ImageLuma8(_));
                // The encoder starts on the first finished rows while the effects make the rest.
                let data =
                    encode::encode_jpeg_rows(width, height, gray, &settings(format), |rows| {
                        effects::apply_with_rows(image, query, &mut |row| rows.push(row)).map(drop)
                    })?;
                return Ok(Output {
                    data,
                    format,
                    width,
                    height,
                    warnings,
                    vary_accept,
                    quality: Some(quality),
                });
            }
        }
        image = self.transform_from_effects(image, &mut context)?;
        let (width, height) = (image.width(), image.height());
        if width > limits.max_output_side || height > limits.max_output_side {
            return Err(geometry::output_too_large(width, height, limits));
        }

        let has_alpha = image.color().has_alpha();
        let (format, vary_accept) = self.output_format(input_format, has_alpha, options);
        if has_alpha && !format.supports_alpha() {
            image = geometry::flatten(image, query::Rgba([255, 255, 255, 255]));
        }
        warn_unused_encoder_options(query, format, &mut warnings);
        let (data, quality) =
            auto_quality::encode(&image, &settings(format), query, &mut warnings)?;
        Ok(Output {
            data,
            format,
            width,
            height,
            warnings,
            vary_accept,
            quality,
        })
    }

    /// The header of a JPEG whose pixels this query leaves as they are, so that they can
    /// stream from the decoder into the encoder: a whole, upright, 8-bit gray or RGB image,
    /// and a query that only sets output options or says where the source comes from.
    fn unchanged_jpeg<'s>(
        &self,
        source: &'s decode::Source<'_>,
        orientation: u8,
        rotation: &geometry::Rotation,
    ) -> Option<&'s JpegHeader> {
        let header = source.jpeg_header()?;
        let unchanged = upright_as_stored(orientation, rotation)
            && self.only_parameters(&[PIXEL_NEUTRAL_PARAMETERS]);
        (unchanged && jpeg::is_plain(header)).then_some(header)
    }

    /// Whether the query only resizes the whole image, which is upright as stored, and sets
    /// output options: the rows of a JPEG resized while it decodes are then final, and can
    /// go straight on into the encoder.
    fn only_resizes(
        &self,
        orientation: u8,
        rotation: &geometry::Rotation,
        upright: (u32, u32),
    ) -> Result<bool> {
        let sizes_only = upright_as_stored(orientation, rotation)
            && self.only_parameters(&[PIXEL_NEUTRAL_PARAMETERS, SIZE_PARAMETERS]);
        Ok(sizes_only && geometry::resizes_whole(&self.parsed, upright)?)
    }

    /// Whether every parameter set is in one of `lists` (and `crop=zoom` is not asked for).
    fn only_parameters(&self, lists: &[&[&str]]) -> bool {
        !self.parsed.zoom
            && (self.parsed.values.keys()).all(|name| lists.iter().any(|list| list.contains(name)))
    }

    /// The EXIF orientation `autorotate` applies, the rotation asked for, and the upright size
    /// they give the source.
    fn orientation(&self, source: &decode::Source<'_>) -> Orientation {
        let exif = if self.parsed.flag("autorotate") {
            source.orientation
        } else {
            1
        };
        let rotation = geometry::Rotation::from_query(&self.parsed);
        let turns_side = (exif >= 5) != (rotation.quarter_turns % 2 == 1);
        let upright = if turns_side {
            (source.height, source.width)
        } else {
            (source.width, source.height)
        };
        Orientation {
            exif,
            rotation,
            turns_side,
            upright,
        }
    }

    /// Every operation between decoding (upright, quarter turns applied) and encoding.
    fn transform(
        &self,
        image: DynamicImage,
        prepared: &Prepared,
        rotation: &geometry::Rotation,
        context: &mut Context<'_>,
    ) -> Result<DynamicImage> {
        let image = self.transform_before_effects(image, prepared, rotation, context)?;
        self.transform_from_effects(image, context)
    }

    /// Whether blur or sharpening is asked for and nothing after it changes the pixels.
    fn effects_come_last(&self) -> bool {
        let query = &self.parsed;
        effects::asked(query) && !["mark", "layers", "pad"].iter().any(|&p| query.is_set(p))
    }

    /// The operations of [`transform`](Self::transform) before blur and sharpening.
    fn transform_before_effects(
        &self,
        image: DynamicImage,
        prepared: &Prepared,
        rotation: &geometry::Rotation,
        context: &mut Context<'_>,
    ) -> Result<DynamicImage> {
        let query = &self.parsed;
        let image = geometry::trim(image, query, context);
        let (source, scale) = if query.is_set("trim") {
            ((image.width(), image.height()), 1.0)
        } else {
            (prepared.upright, prepared.scale)
        };
        let image = if prepared.cropped {
            image
        } else {
            geometry::size_and_crop(image, query, source, scale, context)?
        };
        let image = rotation.apply_tilt(image, query);
        let image = geometry::flip(image, query);
        let image = redeye::apply(image, query);
        let image = color::apply(image, query)?;
        filters::apply(image, query)
    }

    /// The operations of [`transform`](Self::transform) from blur and sharpening on.
    fn transform_from_effects(
        &self,
        image: DynamicImage,
        context: &mut Context<'_>,
    ) -> Result<DynamicImage> {
        let query = &self.parsed;
        let image = effects::apply(image, query)?;
        let image = compose::apply(image, query, context)?;
        let image = geometry::pad(image, query, &context.options.limits)?;
        Ok(geometry::flatten_if_asked(image, query))
    }

    /// The format asked for, else negotiated (`auto`), else the input's own when it can be
    /// written, else JPEG (PNG with alpha).
    fn output_format(&self, input: Format, has_alpha: bool, options: &Options) -> (Format, bool) {
        let fallback = if has_alpha { Format::Png } else { Format::Jpeg };
        match self.parsed.text("format") {
            Some(name) if name == "auto" => {
                let accept = options.accept.as_deref().unwrap_or("");
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
            // mp4 is made from GIF input only; other input keeps the usual choice.
            Some(name) if name != "mp4" || input == Format::Gif => {
                (Format::from_name(&name).unwrap_or(fallback), false)
            }
            _ if input.can_encode() => (input, false),
            _ => (fallback, false),
        }
    }
}

/// What [`Pipeline::transform`] needs to know of the pixels it is given.
struct Prepared {
    /// The source's upright size, before any shrink-on-load.
    upright: (u32, u32),
    /// The scale the pixels were decoded at (see [`decode::Decoded::scale`]).
    scale: f64,
    /// The query's crop is already cut out (see [`geometry::unscaled_region`]).
    cropped: bool,
}

impl Prepared {
    /// Pixels of the whole source at its upright size.
    fn whole(upright: (u32, u32)) -> Prepared {
        Prepared {
            upright,
            scale: 1.0,
            cropped: false,
        }
    }
}

/// How a source is turned upright: see [`Pipeline::orientation`].
struct Orientation {
    /// EXIF orientation 1-8 to apply (1 when `autorotate=false`).
    exif: u8,
    rotation: geometry::Rotation,
    /// Width and height swap between the stored and the upright image.
    turns_side: bool,
    upright: (u32, u32),
}

/// Whether the stored image is upright as it is: no EXIF orientation applied, no rotation.
fn upright_as_stored(orientation: u8, rotation: &geometry::Rotation) -> bool {
    orientation == 1 && rotation.quarter_turns == 0 && rotation.tilt == 0.0
}

/// Warns about `interlace` and `lossless` when the output format cannot honour them.
fn warn_unused_encoder_options(query: &ParsedQuery, format: Format, warnings: &mut Vec<Warning>) {
    if query.flag("interlace") && !matches!(format, Format::Jpeg | Format::Png) {
        warnings.push(Warning {
            parameter: "interlace".into(),
            message: format!("interlace applies to JPEG and PNG output; ignored for {format}"),
        });
    }
    if query.flag("lossless") && !matches!(format, Format::Webp | Format::Jxl) {
        warnings.push(Warning {
            parameter: "lossless".into(),
            message: format!("lossless applies to WebP and JPEG XL output; ignored for {format}"),
        });
    }
}
