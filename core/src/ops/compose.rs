//! Composition: the watermark (`mark*`) and `layers` (image and text layers).
//!
//! Layers are drawn in the order given, then the watermark on top, over the image as it is at
//! this stage (sized, cropped, rotated and adjusted; before `pad`). Images named by a location
//! come from the caller's [`crate::Resolver`] and are decoded by the same guarded decoder as
//! inputs. Blending is "over" with premultiplied alpha in 8-bit sRGB (as the resampling is).

use image::metadata::Orientation;
use image::{DynamicImage, RgbaImage};
use serde_json::{Map, Value as Json};

use crate::decode;
use crate::error::{Error, ErrorKind, Result};
use crate::fonts;
use crate::ops::{Context, text};
use crate::params::POSITIONS;
use crate::query::{ParsedQuery, Value, Warning, parse_color};
use crate::resize::resize;

/// Most layers one query may hold.
pub(crate) const MAX_LAYERS: usize = 32;
/// Longest text of a text layer, in characters.
pub(crate) const MAX_TEXT_CHARS: usize = 1000;
/// Longest `url` or `font` of a layer, in bytes.
const MAX_URL_BYTES: usize = 8192;
const MAX_FONT_BYTES: usize = 200;
/// Bound of the pixel values `x`, `y` and `offset` of a layer.
const MAX_PIXELS: f64 = crate::params::MAX_SIDE as f64;

/// Where a layer sits along one axis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Anchor {
    /// Left or top.
    Start,
    Center,
    /// Right or bottom.
    End,
}

/// A position: `top`, `bottom|right`, `left,center`, ...
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Position {
    pub horizontal: Anchor,
    pub vertical: Anchor,
}

impl Default for Position {
    fn default() -> Self {
        Position {
            horizontal: Anchor::Center,
            vertical: Anchor::Center,
        }
    }
}

/// Reads one position or two joined by `|` or `,` (case-insensitive, in either order).
/// Two words on one axis (`left|right`, `top|top`) are refused.
pub(crate) fn parse_position(text: &str) -> Option<Position> {
    let words: Vec<String> = text
        .split(['|', ','])
        .map(|w| w.trim().to_ascii_lowercase())
        .collect();
    if words.is_empty() || words.len() > 2 {
        return None;
    }
    let mut horizontal = None;
    let mut vertical = None;
    let mut centers = 0;
    for word in &words {
        let (axis, anchor) = match word.as_str() {
            "left" => (&mut horizontal, Anchor::Start),
            "right" => (&mut horizontal, Anchor::End),
            "top" => (&mut vertical, Anchor::Start),
            "bottom" => (&mut vertical, Anchor::End),
            "center" | "centre" => {
                centers += 1;
                continue;
            }
            _ => return None,
        };
        if axis.replace(anchor).is_some() {
            return None;
        }
    }
    if centers > 1 {
        return None;
    }
    Some(Position {
        horizontal: horizontal.unwrap_or(Anchor::Center),
        vertical: vertical.unwrap_or(Anchor::Center),
    })
}

/// What a layer shows.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Content {
    Image {
        url: String,
    },
    Text {
        text: String,
        /// The `font` declaration as given ("Arial Bold 20"); read by [`fonts::parse_font`].
        font: String,
        color: [u8; 4],
    },
}

/// One entry of `layers`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Layer {
    pub content: Content,
    pub position: Position,
    /// Percent of the image: image layers fit inside that share of both sides; text layers
    /// are as wide as that share of the width. `None` for text: its own size.
    pub scale: Option<f64>,
    pub upscale: bool,
    pub x: Option<i64>,
    pub y: Option<i64>,
    /// Opacity, 0 to 100.
    pub alpha: f64,
    /// Pixels from the position, towards the inside.
    pub offset: i64,
    pub required: bool,
}

const LAYER_KEYS: &[&str] = &[
    "url", "text", "font", "color", "pos", "scale", "upscale", "x", "y", "alpha", "offset",
    "required",
];

/// Validates `layers`; returns the layers and warnings about keys that are ignored.
pub(crate) fn parse_layers(json: &Json) -> Result<(Vec<Layer>, Vec<Warning>)> {
    let invalid =
        |message: String| Error::for_parameter(ErrorKind::InvalidParameter, "layers", message);
    let Json::Array(items) = json else {
        return Err(invalid(
            "parameter 'layers' must be a JSON array of layer objects".into(),
        ));
    };
    if items.len() > MAX_LAYERS {
        return Err(invalid(format!(
            "parameter 'layers' has {} layers; at most {MAX_LAYERS} are allowed",
            items.len()
        )));
    }
    let mut layers = Vec::with_capacity(items.len());
    let mut warnings = Vec::new();
    for (index, item) in items.iter().enumerate() {
        let Json::Object(object) = item else {
            return Err(invalid(format!("layers[{index}] must be a JSON object")));
        };
        for key in object.keys() {
            if !LAYER_KEYS.contains(&key.as_str()) {
                warnings.push(Warning {
                    parameter: "layers".into(),
                    message: format!("layers[{index}]: unknown key '{key}' ignored"),
                });
            }
        }
        layers.push(parse_layer(index, object).map_err(invalid)?);
    }
    Ok((layers, warnings))
}

fn parse_layer(index: usize, object: &Map<String, Json>) -> std::result::Result<Layer, String> {
    let field = |key: &str, expected: &str| format!("layers[{index}].{key} must be {expected}");
    let text_of = |key: &str, max: usize| -> std::result::Result<Option<String>, String> {
        match object.get(key) {
            None | Some(Json::Null) => Ok(None),
            Some(Json::String(s)) if !s.trim().is_empty() && s.len() <= max => Ok(Some(s.clone())),
            Some(_) => Err(field(
                key,
                &format!("a non-empty string of at most {max} bytes"),
            )),
        }
    };
    let number_of = |key: &str, min: f64, max: f64| -> std::result::Result<Option<f64>, String> {
        let bad = || field(key, &format!("a number from {min} to {max}"));
        let value = match object.get(key) {
            None | Some(Json::Null) => return Ok(None),
            Some(Json::Number(n)) => n.as_f64().ok_or_else(bad)?,
            Some(Json::String(s)) => s.trim().parse::<f64>().map_err(|_| bad())?,
            Some(_) => return Err(bad()),
        };
        if !value.is_finite() || value < min || value > max {
            return Err(bad());
        }
        Ok(Some(value))
    };
    let bool_of = |key: &str, default: bool| -> std::result::Result<bool, String> {
        match object.get(key) {
            None | Some(Json::Null) => Ok(default),
            Some(Json::Bool(b)) => Ok(*b),
            Some(Json::Number(n)) if n.as_u64() == Some(1) => Ok(true),
            Some(Json::Number(n)) if n.as_u64() == Some(0) => Ok(false),
            Some(Json::String(s)) if s.eq_ignore_ascii_case("true") || s == "1" => Ok(true),
            Some(Json::String(s)) if s.eq_ignore_ascii_case("false") || s == "0" => Ok(false),
            Some(_) => Err(field(key, "true or false")),
        }
    };

    let url = text_of("url", MAX_URL_BYTES)?;
    let text = match object.get("text") {
        None | Some(Json::Null) => None,
        Some(Json::String(s)) if !s.is_empty() && s.chars().count() <= MAX_TEXT_CHARS => {
            Some(s.clone())
        }
        Some(_) => {
            return Err(field(
                "text",
                &format!("a non-empty string of at most {MAX_TEXT_CHARS} characters"),
            ));
        }
    };
    let font = text_of("font", MAX_FONT_BYTES)?;
    let color = match object.get("color") {
        None | Some(Json::Null) => None,
        Some(Json::String(s)) => Some(parse_color(s).ok_or_else(|| {
            field(
                "color",
                "a colour name, hex (fff, ffffff, ffffffff) or rgb(r,g,b)",
            )
        })?),
        Some(_) => return Err(field("color", "a colour string")),
    };
    let content = match (url, text) {
        (Some(_), Some(_)) => {
            return Err(format!(
                "layers[{index}] has both 'url' and 'text'; give one"
            ));
        }
        (None, None) => return Err(format!("layers[{index}] needs 'url' (an image) or 'text'")),
        (Some(url), None) => {
            if font.is_some() || color.is_some() {
                return Err(format!(
                    "layers[{index}]: 'font' and 'color' apply to text layers only"
                ));
            }
            Content::Image { url }
        }
        (None, Some(text)) => {
            let font = font.unwrap_or_default();
            // Only the size can make a declaration invalid; families are checked when drawing.
            fonts::parse_font(&font, &|_| None)
                .map_err(|why| format!("layers[{index}].font: {why}"))?;
            Content::Text {
                text,
                font,
                color: color.map_or([0, 0, 0, 255], |c| c.0),
            }
        }
    };
    let position = match object.get("pos") {
        None | Some(Json::Null) => Position::default(),
        Some(Json::String(s)) => parse_position(s).ok_or_else(|| {
            field(
                "pos",
                "one of top, right, bottom, left, center, or two joined by | or ,",
            )
        })?,
        Some(_) => return Err(field("pos", "a position string")),
    };
    let pixels =
        |key: &str| number_of(key, -MAX_PIXELS, MAX_PIXELS).map(|v| v.map(|v| v.round() as i64));
    let scale = number_of("scale", 0.0, 100.0)?;
    Ok(Layer {
        scale: match content {
            Content::Image { .. } => Some(scale.unwrap_or(100.0)),
            Content::Text { .. } => scale,
        },
        content,
        position,
        upscale: bool_of("upscale", true)?,
        x: pixels("x")?,
        y: pixels("y")?,
        alpha: number_of("alpha", 0.0, 100.0)?.unwrap_or(100.0),
        offset: pixels("offset")?.unwrap_or(0),
        required: bool_of("required", false)?,
    })
}

/// The rules between the `mark*` parameters, for the query parser.
pub(crate) fn check_mark(parsed: &ParsedQuery) -> Result<()> {
    let values = &parsed.values;
    let needs = |name: &str, other: &str| {
        Error::for_parameter(
            ErrorKind::InvalidParameter,
            name,
            format!("parameter '{name}' needs '{other}'"),
        )
    };
    for name in [
        "mark_alpha",
        "mark_scale",
        "mark_pos",
        "mark_offset",
        "mark_upscale",
        "mark_required",
    ] {
        if values.contains_key(name) && !values.contains_key("mark") {
            return Err(needs(name, "mark"));
        }
    }
    if values.contains_key("mark_offset") && !values.contains_key("mark_pos") {
        return Err(needs("mark_offset", "mark_pos"));
    }
    if values.contains_key("mark_upscale") && !values.contains_key("mark_scale") {
        return Err(needs("mark_upscale", "mark_scale"));
    }
    if let Some(Value::Text(pos)) = values.get("mark_pos")
        && parse_position(pos).is_none()
    {
        return Err(Error::for_parameter(
            ErrorKind::InvalidParameter,
            "mark_pos",
            format!(
                "invalid value '{pos}' for parameter 'mark_pos': expected one of {}, or two \
                     joined by | or , (top|left)",
                POSITIONS.join(", ")
            ),
        ));
    }
    Ok(())
}

/// Draws the layers, then the watermark, over the image.
pub(crate) fn apply(
    image: DynamicImage,
    query: &ParsedQuery,
    context: &mut Context<'_>,
) -> Result<DynamicImage> {
    let layers = match query.values.get("layers") {
        Some(Value::Json(json)) => parse_layers(json)?.0,
        _ => Vec::new(),
    };
    let mark = query.values.get("mark").and_then(|v| match v {
        Value::Text(location) => Some(location.clone()),
        _ => None,
    });
    if layers.is_empty() && mark.is_none() {
        return Ok(image);
    }
    let had_alpha = image.color().has_alpha();
    let mut canvas = image.into_rgba8();
    for (index, layer) in layers.iter().enumerate() {
        if let Err(err) = draw_layer(&mut canvas, layer, index, context) {
            if layer.required {
                return Err(err);
            }
            context.warn(
                "layers",
                format!("layers[{index}] skipped: {}", err.message()),
            );
        }
    }
    if let Some(location) = mark
        && let Err(err) = draw_mark(&mut canvas, &location, query, context)
    {
        if query.flag("mark_required") {
            return Err(err);
        }
        context.warn("mark", format!("watermark skipped: {}", err.message()));
    }
    let composed = DynamicImage::ImageRgba8(canvas);
    // Drawing over an opaque image leaves it opaque: keep it without an alpha channel.
    Ok(if had_alpha {
        composed
    } else {
        DynamicImage::ImageRgb8(composed.to_rgb8())
    })
}

fn draw_mark(
    canvas: &mut RgbaImage,
    location: &str,
    query: &ParsedQuery,
    context: &mut Context<'_>,
) -> Result<()> {
    let opacity = query.number("mark_alpha").unwrap_or(100.0) / 100.0;
    let mark = fetch_image(location, "mark", canvas.dimensions(), context)?;
    if opacity <= 0.0 {
        return Ok(());
    }
    let (width, height) = canvas.dimensions();
    let (mark_w, mark_h) = (mark.width() as f64, mark.height() as f64);
    let mut factor = 1.0f64;
    if query.is_set("mark_scale") {
        let side = query.number("mark_scale").unwrap_or(100.0) / 100.0 * width.min(height) as f64;
        factor = side / mark_w.max(mark_h);
        if factor > 1.0 && !query.flag("mark_upscale") {
            factor = 1.0;
        }
    }
    // A mark never overflows the image: a larger one is shrunk to fit.
    factor = factor
        .min(width as f64 / mark_w)
        .min(height as f64 / mark_h);
    let Some(mark) = scaled(mark, factor)? else {
        return Ok(());
    };
    let offset = query.number("mark_offset").unwrap_or(0.0) / 100.0;
    let position = query
        .text("mark_pos")
        .and_then(|p| parse_position(&p))
        .unwrap_or_default();
    let x = place(
        position.horizontal,
        width,
        mark.width(),
        (offset * width as f64).round() as i64,
    );
    let y = place(
        position.vertical,
        height,
        mark.height(),
        (offset * height as f64).round() as i64,
    );
    blend(canvas, &mark, x, y, opacity as f32);
    Ok(())
}

fn draw_layer(
    canvas: &mut RgbaImage,
    layer: &Layer,
    index: usize,
    context: &mut Context<'_>,
) -> Result<()> {
    let (width, height) = canvas.dimensions();
    let drawn = match &layer.content {
        Content::Image { url } => {
            let image = fetch_image(url, "layers", (width, height), context)?;
            let share = layer.scale.unwrap_or(100.0) / 100.0;
            let mut factor = (share * width as f64 / image.width() as f64)
                .min(share * height as f64 / image.height() as f64);
            if factor > 1.0 && !layer.upscale {
                factor = 1.0;
            }
            scaled(image, factor)?
        }
        Content::Text { text, font, color } => {
            draw_text(text, font, *color, layer, index, (width, height), context)?
        }
    };
    let Some(drawn) = drawn else {
        return Ok(());
    };
    let x = layer.x.unwrap_or_else(|| {
        place(
            layer.position.horizontal,
            width,
            drawn.width(),
            layer.offset,
        )
    });
    let y = layer.y.unwrap_or_else(|| {
        place(
            layer.position.vertical,
            height,
            drawn.height(),
            layer.offset,
        )
    });
    blend(canvas, &drawn, x, y, (layer.alpha / 100.0) as f32);
    Ok(())
}

/// Renders a text layer at the size its `scale` asks for (the font size when none), never
/// larger than the image. Rendering at the final size keeps the glyphs sharp.
fn draw_text(
    text: &str,
    declaration: &str,
    color: [u8; 4],
    layer: &Layer,
    index: usize,
    (width, height): (u32, u32),
    context: &mut Context<'_>,
) -> Result<Option<RgbaImage>> {
    // A panic while the lock was held cannot leave the font data inconsistent for reading.
    let mut fonts = fonts::fonts()
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if fonts.face_count() == 0 {
        return Err(Error::for_parameter(
            ErrorKind::Unsupported,
            "layers",
            format!(
                "no fonts are installed for text layers (looked in {})",
                fonts::FONT_DIRS.join(", ")
            ),
        ));
    }
    let font = fonts::parse_font(declaration, &|name| fonts.installed(name))
        .map_err(|why| Error::for_parameter(ErrorKind::InvalidParameter, "layers", why))?;
    for note in &font.notes {
        context.warn("layers", format!("layers[{index}]: {note}"));
    }
    let (box_w, box_h) = text::measure(&mut fonts, text, &font, font.size);
    if box_w <= 0.0 || box_h <= 0.0 {
        return Ok(None);
    }
    let mut factor = 1.0f32;
    if let Some(scale) = layer.scale {
        factor = (scale / 100.0 * width as f64) as f32 / box_w;
        if factor > 1.0 && !layer.upscale {
            factor = 1.0;
        }
    }
    factor = factor.min(width as f32 / box_w).min(height as f32 / box_h);
    let size = font.size * factor;
    if size < 1.0 {
        return Ok(None);
    }
    let max_pixels = context.options.limits.max_source_pixels;
    let Some(image) = text::render(&mut fonts, text, &font, size, color, max_pixels)? else {
        return Ok(None);
    };
    drop(fonts);
    // Ink may overhang the layout box a little (italics, accents): keep it inside the image.
    let fit = (width as f64 / image.width() as f64).min(height as f64 / image.height() as f64);
    if fit < 1.0 {
        return scaled(image, fit);
    }
    Ok(Some(image))
}

/// Fetches and decodes a layer image (EXIF orientation applied). Errors name `parameter` and
/// keep their kind.
fn fetch_image(
    location: &str,
    parameter: &str,
    canvas: (u32, u32),
    context: &Context<'_>,
) -> Result<RgbaImage> {
    let named = |err: Error| {
        Error::for_parameter(
            err.kind(),
            parameter,
            format!("'{location}': {}", err.message()),
        )
    };
    let resolver = context.options.resolver.as_ref().ok_or_else(|| {
        Error::for_parameter(
            ErrorKind::Unsupported,
            parameter,
            format!("'{location}' cannot be fetched: no resolver (assets directory) is configured"),
        )
    })?;
    let limits = &context.options.limits;
    let bytes = resolver.fetch(location, limits).map_err(named)?;
    let source = decode::open(&bytes, limits).map_err(named)?;
    let orientation = source.orientation;
    // The layer never ends up larger than the image, so a JPEG may shrink while decoding.
    let hint = if orientation >= 5 {
        (canvas.1, canvas.0)
    } else {
        canvas
    };
    let mut image = source.decode(Some(hint)).map_err(named)?;
    if orientation != 1 {
        image.apply_orientation(
            Orientation::from_exif(orientation).unwrap_or(Orientation::NoTransforms),
        );
    }
    Ok(image.into_rgba8())
}

/// `image` resized by `factor` (Lanczos3), or `None` when nothing would be left of it.
fn scaled(image: RgbaImage, factor: f64) -> Result<Option<RgbaImage>> {
    let width = (image.width() as f64 * factor).round();
    let height = (image.height() as f64 * factor).round();
    if !(width >= 1.0 && height >= 1.0) {
        return Ok(None);
    }
    let (width, height) = (width as u32, height as u32);
    if (width, height) == image.dimensions() {
        return Ok(Some(image));
    }
    let resized = resize(&DynamicImage::ImageRgba8(image), width, height)?;
    Ok(Some(resized.into_rgba8()))
}

/// The first pixel of a layer of `size` along an axis of `extent`, moved `offset` pixels
/// towards the inside (a centered layer ignores the offset).
fn place(anchor: Anchor, extent: u32, size: u32, offset: i64) -> i64 {
    match anchor {
        Anchor::Start => offset,
        Anchor::Center => (extent as i64 - size as i64) / 2,
        Anchor::End => extent as i64 - size as i64 - offset,
    }
}

/// Draws `layer` over `canvas` with its top-left corner at (`x`, `y`), its alpha multiplied by
/// `opacity`: the Porter-Duff "over" operator on premultiplied values. Parts outside the canvas
/// are clipped.
fn blend(canvas: &mut RgbaImage, layer: &RgbaImage, x: i64, y: i64, opacity: f32) {
    let opacity = opacity.clamp(0.0, 1.0);
    let (canvas_w, canvas_h) = (canvas.width() as i64, canvas.height() as i64);
    let x0 = x.max(0);
    let y0 = y.max(0);
    let x1 = (x + layer.width() as i64).min(canvas_w);
    let y1 = (y + layer.height() as i64).min(canvas_h);
    for cy in y0..y1 {
        for cx in x0..x1 {
            let src = layer.get_pixel((cx - x) as u32, (cy - y) as u32);
            let src_a = src[3] as f32 / 255.0 * opacity;
            if src_a <= 0.0 {
                continue;
            }
            let dst = canvas.get_pixel_mut(cx as u32, cy as u32);
            let dst_a = dst[3] as f32 / 255.0;
            let out_a = src_a + dst_a * (1.0 - src_a);
            for c in 0..3 {
                let premultiplied = src[c] as f32 * src_a + dst[c] as f32 * dst_a * (1.0 - src_a);
                dst[c] = (premultiplied / out_a).round().clamp(0.0, 255.0) as u8;
            }
            dst[3] = (out_a * 255.0).round().clamp(0.0, 255.0) as u8;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Rgba;
    use serde_json::json;

    #[test]
    fn positions() {
        use Anchor::*;
        let p = |s| parse_position(s).map(|p| (p.horizontal, p.vertical));
        assert_eq!(p("center"), Some((Center, Center)));
        assert_eq!(p("top"), Some((Center, Start)));
        assert_eq!(p("top|left"), Some((Start, Start)));
        assert_eq!(p("Right, Bottom"), Some((End, End)));
        assert_eq!(p("center|right"), Some((End, Center)));
        for bad in [
            "",
            "left|right",
            "top|top",
            "top|left|center",
            "middle",
            "top|",
            "center|center",
        ] {
            assert_eq!(p(bad), None, "{bad}");
        }
    }

    #[test]
    fn layers_are_validated_with_their_index() {
        let err = |j: Json| parse_layers(&j).unwrap_err();
        let e = err(json!([{"url": "/a.png"}, {"url": "/b.png", "scale": "big"}]));
        assert_eq!(e.parameter(), Some("layers"));
        assert!(e.message().contains("layers[1].scale"), "{e}");
        assert!(err(json!({"url": "/a.png"})).message().contains("array"));
        assert!(
            err(json!([{"url": "/a.png", "text": "x"}]))
                .message()
                .contains("both")
        );
        assert!(err(json!([{}])).message().contains("needs"));
        assert!(
            err(json!([{"text": "x", "font": "Arial 0"}]))
                .message()
                .contains("font")
        );
        assert!(
            err(json!([{"text": "x", "color": "nope"}]))
                .message()
                .contains("color")
        );
        assert!(
            err(json!([{"url": "/a.png", "pos": "up"}]))
                .message()
                .contains("pos")
        );
        assert!(
            err(json!([{"url": "/a.png", "alpha": 101}]))
                .message()
                .contains("alpha")
        );
        assert!(
            err(json!([{"url": "/a.png", "required": "yes"}]))
                .message()
                .contains("required")
        );
        let many: Vec<Json> = (0..=MAX_LAYERS).map(|_| json!({"url": "/a.png"})).collect();
        assert!(err(Json::Array(many)).message().contains("at most"));
        let long = "x".repeat(MAX_TEXT_CHARS + 1);
        assert!(err(json!([{"text": long}])).message().contains("text"));

        let (layers, warnings) = parse_layers(&json!([
            {"url": "/a.png", "pos": "top|left", "scale": "50", "upscale": false, "x": 3.4, "alpha": 40, "required": 1, "z": 1},
            {"text": "Hi", "font": "Arial Bold 20", "color": "red"}
        ]))
        .unwrap();
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].message.contains("'z'"));
        assert_eq!(layers[0].scale, Some(50.0));
        assert_eq!((layers[0].x, layers[0].y), (Some(3), None));
        assert!(!layers[0].upscale && layers[0].required);
        assert_eq!(layers[1].scale, None);
        assert!(layers[1].upscale);
        assert_eq!(
            layers[1].content,
            Content::Text {
                text: "Hi".into(),
                font: "Arial Bold 20".into(),
                color: [255, 0, 0, 255]
            }
        );
    }

    #[test]
    fn over_blends_premultiplied() {
        let mut canvas = RgbaImage::from_pixel(4, 4, Rgba([0, 0, 255, 255]));
        let layer = RgbaImage::from_pixel(2, 2, Rgba([255, 0, 0, 255]));
        blend(&mut canvas, &layer, 3, -1, 0.5);
        assert_eq!(canvas.get_pixel(3, 0).0, [128, 0, 128, 255]);
        assert_eq!(canvas.get_pixel(2, 0).0, [0, 0, 255, 255]);
        assert_eq!(canvas.get_pixel(3, 1).0, [0, 0, 255, 255]);
        // Over a transparent pixel the colour stays the layer's, only alpha is reduced.
        let mut clear = RgbaImage::from_pixel(1, 1, Rgba([0, 0, 0, 0]));
        blend(
            &mut clear,
            &RgbaImage::from_pixel(1, 1, Rgba([10, 200, 30, 255])),
            0,
            0,
            0.25,
        );
        assert_eq!(clear.get_pixel(0, 0).0, [10, 200, 30, 64]);
        // A half-transparent red over half-transparent blue.
        let mut half = RgbaImage::from_pixel(1, 1, Rgba([0, 0, 255, 128]));
        blend(
            &mut half,
            &RgbaImage::from_pixel(1, 1, Rgba([255, 0, 0, 128])),
            0,
            0,
            1.0,
        );
        let [r, _, b, a] = half.get_pixel(0, 0).0;
        assert_eq!(a, 192);
        assert!(
            (169..=171).contains(&r) && (84..=86).contains(&b),
            "{r} {b}"
        );
    }

    #[test]
    fn placement() {
        assert_eq!(place(Anchor::Start, 100, 10, 5), 5);
        assert_eq!(place(Anchor::Center, 100, 10, 5), 45);
        assert_eq!(place(Anchor::End, 100, 10, 5), 85);
    }
}
