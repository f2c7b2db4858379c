//! Parsing a query string through the registry into typed values.

use std::collections::BTreeMap;
use std::fmt;

use base64::Engine as _;

use crate::error::{Error, ErrorKind, Result};
use crate::params::{self, CROP_MODES, ParamKind, ParamSpec};

/// A parsed parameter value. Its variant follows the parameter's [`ParamKind`].
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Bool(bool),
    Int(i64),
    Float(f64),
    /// Choices (lowercased) and free text.
    Text(String),
    Color(Rgba),
    Crop(Crop),
    Quality(Quality),
    Json(serde_json::Value),
}

/// An 8-bit sRGB colour with alpha.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rgba(pub [u8; 4]);

/// The `crop` parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Crop {
    /// One of [`CROP_MODES`].
    Mode(String),
    /// A region of the (scaled) image.
    Region {
        x: Coord,
        y: Coord,
        width: u32,
        height: u32,
    },
}

/// One coordinate of a crop region.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coord {
    Center,
    Pixels(u32),
}

/// The `quality` parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quality {
    Fixed(u8),
    Auto,
}

/// Something the caller should know but that did not stop the work, such as an unknown
/// parameter (URLs carry cache busters) or an option the output format cannot honour.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// The parameter as it was written in the query, or the canonical name.
    pub parameter: String,
    pub message: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// Parsed, validated parameters keyed by canonical name, plus the warnings of parsing.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct ParsedQuery {
    pub values: BTreeMap<&'static str, Value>,
    pub warnings: Vec<Warning>,
    /// `crop=zoom` was given. It combines with a sizing crop (`crop=fit&rotate=30&crop=zoom`),
    /// so it is kept apart from the `crop` value instead of replacing it.
    pub zoom: bool,
}

/// Typed reads of the parsed values; an absent parameter reads as its registry default.
impl ParsedQuery {
    /// The given value, else the registry default.
    pub fn value(&self, name: &'static str) -> Option<Value> {
        self.values.get(name).cloned().or_else(|| {
            let spec = params::spec(name);
            spec.default
                .map(|d| parse_value(spec, d).expect("registry defaults parse"))
        })
    }

    /// Whether the query set this parameter (defaults do not count).
    pub fn is_set(&self, name: &'static str) -> bool {
        debug_assert!(params::lookup(name).is_some(), "{name} is not declared");
        self.values.contains_key(name)
    }

    pub fn flag(&self, name: &'static str) -> bool {
        matches!(self.value(name), Some(Value::Bool(true)))
    }

    /// A numeric parameter (whole or decimal) as `f64`.
    pub fn number(&self, name: &'static str) -> Option<f64> {
        match self.value(name)? {
            Value::Int(n) => Some(n as f64),
            Value::Float(n) => Some(n),
            _ => None,
        }
    }

    pub fn color(&self, name: &'static str) -> Option<Rgba> {
        match self.value(name)? {
            Value::Color(c) => Some(c),
            _ => None,
        }
    }

    /// A choice (lowercased) or free-text parameter.
    pub fn text(&self, name: &'static str) -> Option<String> {
        match self.value(name)? {
            Value::Text(t) => Some(t),
            _ => None,
        }
    }

    /// The sizing crop or region (`crop=zoom` is [`ParsedQuery::zoom`]).
    pub fn crop(&self) -> Option<Crop> {
        match self.values.get("crop")? {
            Value::Crop(c) => Some(c.clone()),
            _ => None,
        }
    }
}

/// Longest query accepted; real URLs stay far below it and it bounds the work of parsing.
const MAX_QUERY_BYTES: usize = 64 * 1024;

pub(crate) fn parse_query(query: &str, strict: bool) -> Result<ParsedQuery> {
    if query.len() > MAX_QUERY_BYTES {
        return Err(Error::new(
            ErrorKind::LimitExceeded,
            format!(
                "the query is {} bytes; at most {MAX_QUERY_BYTES} are accepted",
                query.len()
            ),
        ));
    }
    let query = query.strip_prefix('?').unwrap_or(query);
    let mut parsed = ParsedQuery::default();
    for (key, raw) in form_urlencoded::parse(query.as_bytes()) {
        if key.is_empty() {
            continue;
        }
        let (spec, value_text) = match resolve_name(&key, &raw)? {
            Some(found) => found,
            None => {
                let warning = Warning {
                    parameter: key.to_string(),
                    message: format!("unknown parameter '{key}' ignored"),
                };
                note(&mut parsed.warnings, warning, strict)?;
                continue;
            }
        };
        let value = parse_value(spec, &value_text)?;
        if value == Value::Crop(Crop::Mode("zoom".into())) && !parsed.zoom {
            parsed.zoom = true;
            continue;
        }
        if parsed.values.insert(spec.name, value).is_some() {
            let warning = Warning {
                parameter: spec.name.to_owned(),
                message: format!(
                    "parameter '{}' given more than once; the last value is used",
                    spec.name
                ),
            };
            note(&mut parsed.warnings, warning, strict)?;
        }
    }
    check_combinations(&parsed)?;
    check_implemented(&parsed.values)?;
    if let Some(Value::Json(layers)) = parsed.values.get("layers") {
        let (_, ignored) = crate::ops::compose::parse_layers(layers)?;
        for warning in ignored {
            note(&mut parsed.warnings, warning, strict)?;
        }
    }
    Ok(parsed)
}

/// A warning in lenient mode, an `InvalidParameter` error in strict mode.
fn note(warnings: &mut Vec<Warning>, warning: Warning, strict: bool) -> Result<()> {
    if strict {
        return Err(Error::for_parameter(
            ErrorKind::InvalidParameter,
            &warning.parameter,
            format!("{} (strict mode)", warning.message),
        ));
    }
    warnings.push(warning);
    Ok(())
}

/// Finds the spec for a query key, decoding the `name64=<base64>` form.
fn resolve_name(key: &str, raw: &str) -> Result<Option<(&'static ParamSpec, String)>> {
    let Some((spec, base64)) = params::lookup_key(key) else {
        return Ok(None);
    };
    if !base64 {
        return Ok(Some((spec, raw.to_owned())));
    }
    // An unescaped '+' in a query decodes to a space; base64 never contains spaces.
    let cleaned = raw.replace(' ', "+");
    let cleaned = cleaned.trim();
    let engines = [
        &base64::engine::general_purpose::STANDARD,
        &base64::engine::general_purpose::STANDARD_NO_PAD,
        &base64::engine::general_purpose::URL_SAFE,
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
    ];
    let bytes = engines
        .iter()
        .find_map(|engine| engine.decode(cleaned).ok())
        .ok_or_else(|| {
            Error::for_parameter(
                ErrorKind::InvalidParameter,
                spec.name,
                format!(
                    "invalid value '{}' for parameter '{key}': expected base64",
                    shorten(raw)
                ),
            )
        })?;
    let text = String::from_utf8(bytes).map_err(|_| {
        Error::for_parameter(
            ErrorKind::InvalidParameter,
            spec.name,
            format!("parameter '{key}' decodes to bytes that are not UTF-8 text"),
        )
    })?;
    Ok(Some((spec, text)))
}

fn shorten(raw: &str) -> String {
    const SHOWN: usize = 64;
    match raw.char_indices().nth(SHOWN) {
        Some((cut, _)) => format!("{}...", &raw[..cut]),
        None => raw.to_owned(),
    }
}

/// Parses one value according to its spec's kind and range.
pub(crate) fn parse_value(spec: &ParamSpec, raw: &str) -> Result<Value> {
    let text = raw.trim();
    let invalid = || {
        Error::for_parameter(
            ErrorKind::InvalidParameter,
            spec.name,
            format!(
                "invalid value '{}' for parameter '{}': expected {}",
                shorten(raw),
                spec.name,
                spec.kind.accepted()
            ),
        )
    };
    let value = match spec.kind {
        ParamKind::Bool => Value::Bool(parse_bool(text).ok_or_else(invalid)?),
        ParamKind::Int { min, max } => {
            let n: i64 = text.parse().map_err(|_| invalid())?;
            if !(min..=max).contains(&n) {
                return Err(invalid());
            }
            Value::Int(n)
        }
        ParamKind::Float { min, max } => {
            let n: f64 = text.parse().map_err(|_| invalid())?;
            if !n.is_finite() || n < min || n > max {
                return Err(invalid());
            }
            Value::Float(n)
        }
        ParamKind::Choice(choices) => {
            let lower = text.to_ascii_lowercase();
            if !choices.contains(&lower.as_str()) {
                return Err(invalid());
            }
            Value::Text(lower)
        }
        ParamKind::Color => Value::Color(parse_color(text).ok_or_else(invalid)?),
        ParamKind::Crop => Value::Crop(parse_crop(text).ok_or_else(invalid)?),
        ParamKind::Quality => {
            if text.eq_ignore_ascii_case("auto") {
                Value::Quality(Quality::Auto)
            } else {
                match text.parse::<u8>() {
                    Ok(q @ 1..=100) => Value::Quality(Quality::Fixed(q)),
                    _ => return Err(invalid()),
                }
            }
        }
        ParamKind::Json => Value::Json(serde_json::from_str(text).map_err(|_| invalid())?),
        ParamKind::Text { max_len } => {
            if text.is_empty() || text.len() > max_len {
                return Err(invalid());
            }
            Value::Text(text.to_owned())
        }
    };
    Ok(value)
}

fn parse_bool(text: &str) -> Option<bool> {
    match text.to_ascii_lowercase().as_str() {
        "true" | "1" => Some(true),
        "false" | "0" => Some(false),
        _ => None,
    }
}

/// Named colours: the reference's list plus the common CSS names.
const NAMED_COLORS: &[(&str, [u8; 4])] = &[
    ("white", [255, 255, 255, 255]),
    ("black", [0, 0, 0, 255]),
    ("red", [255, 0, 0, 255]),
    ("green", [0, 128, 0, 255]),
    ("blue", [0, 0, 255, 255]),
    ("yellow", [255, 255, 0, 255]),
    ("magenta", [255, 0, 255, 255]),
    ("cyan", [0, 255, 255, 255]),
    ("gray", [128, 128, 128, 255]),
    ("grey", [128, 128, 128, 255]),
    ("orange", [255, 165, 0, 255]),
    ("purple", [128, 0, 128, 255]),
    ("pink", [255, 192, 203, 255]),
    ("brown", [165, 42, 42, 255]),
    ("transparent", [0, 0, 0, 0]),
];

/// Parses a colour: a name, 3/4/6/8-digit hex (`#` optional), or `rgb(r,g,b)` / `rgba(r,g,b,a)`
/// with `a` from 0 to 1.
pub(crate) fn parse_color(text: &str) -> Option<Rgba> {
    let lower = text.trim().to_ascii_lowercase();
    if let Some((_, rgba)) = NAMED_COLORS.iter().find(|(name, _)| *name == lower) {
        return Some(Rgba(*rgba));
    }
    if let Some(args) = lower
        .strip_prefix("rgba(")
        .or_else(|| lower.strip_prefix("rgb("))
    {
        let parts: Vec<&str> = args.strip_suffix(')')?.split(',').map(str::trim).collect();
        let channel = |s: &str| s.parse::<u8>().ok();
        let alpha = match parts.len() {
            3 => 255,
            4 => {
                let a: f64 = parts[3].parse().ok()?;
                if !(0.0..=1.0).contains(&a) {
                    return None;
                }
                (a * 255.0).round() as u8
            }
            _ => return None,
        };
        return Some(Rgba([
            channel(parts[0])?,
            channel(parts[1])?,
            channel(parts[2])?,
            alpha,
        ]));
    }
    let hex = lower.strip_prefix('#').unwrap_or(&lower);
    if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let digit = |i: usize| u8::from_str_radix(&hex[i..=i], 16).ok().map(|d| d * 17);
    let pair = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).ok();
    match hex.len() {
        3 => Some(Rgba([digit(0)?, digit(1)?, digit(2)?, 255])),
        4 => Some(Rgba([digit(0)?, digit(1)?, digit(2)?, digit(3)?])),
        6 => Some(Rgba([pair(0)?, pair(2)?, pair(4)?, 255])),
        8 => Some(Rgba([pair(0)?, pair(2)?, pair(4)?, pair(6)?])),
        _ => None,
    }
}

fn parse_crop(text: &str) -> Option<Crop> {
    let lower = text.to_ascii_lowercase();
    if CROP_MODES.contains(&lower.as_str()) {
        return Some(Crop::Mode(lower));
    }
    let parts: Vec<&str> = lower.split(',').map(str::trim).collect();
    let [x, y, w, h] = parts.as_slice() else {
        return None;
    };
    let side = |s: &str| {
        s.parse::<u32>()
            .ok()
            .filter(|&n| (1..=params::MAX_SIDE as u32).contains(&n))
    };
    let coord = |s: &str| match s {
        "center" => Some(Coord::Center),
        _ => s
            .parse::<u32>()
            .ok()
            .filter(|&n| n <= params::MAX_SIDE as u32)
            .map(Coord::Pixels),
    };
    Some(Crop::Region {
        x: coord(x)?,
        y: coord(y)?,
        width: side(w)?,
        height: side(h)?,
    })
}

/// Rules that involve more than one parameter.
fn check_combinations(parsed: &ParsedQuery) -> Result<()> {
    let values = &parsed.values;
    if let Some(Value::Crop(Crop::Mode(mode))) = values.get("crop")
        && crate::ops::geometry::needs_box(mode)
        && !(values.contains_key("width") && values.contains_key("height"))
    {
        return Err(Error::for_parameter(
            ErrorKind::InvalidParameter,
            "crop",
            format!("crop={mode} needs both 'width' and 'height'"),
        ));
    }
    if values.contains_key("trim_color") && !values.contains_key("trim") {
        return Err(Error::for_parameter(
            ErrorKind::InvalidParameter,
            "trim_color",
            "parameter 'trim_color' needs 'trim=color'",
        ));
    }
    let rotates = |name| matches!(values.get(name), Some(v) if *v != Value::Float(0.0));
    if parsed.zoom && !rotates("rotate") && !rotates("angle") {
        return Err(Error::for_parameter(
            ErrorKind::InvalidParameter,
            "crop",
            "crop=zoom needs 'rotate' or 'angle'",
        ));
    }
    if values.contains_key("dpr") && !values.contains_key("width") && !values.contains_key("height")
    {
        return Err(Error::for_parameter(
            ErrorKind::InvalidParameter,
            "dpr",
            "parameter 'dpr' needs 'width' or 'height'",
        ));
    }
    crate::ops::compose::check_mark(parsed)?;
    for (dependent, needed) in [
        ("colorize_intensity", "colorize"),
        ("sharp_radius", "sharp_amount"),
        ("face", "meta"),
        ("include_image_data", "meta"),
    ] {
        if values.contains_key(dependent) && !values.contains_key(needed) {
            return Err(Error::for_parameter(
                ErrorKind::InvalidParameter,
                dependent,
                format!("parameter '{dependent}' needs '{needed}'"),
            ));
        }
    }
    if values.contains_key("recognition") && values.get("meta") == Some(&Value::Bool(true)) {
        return Err(Error::for_parameter(
            ErrorKind::InvalidParameter,
            "recognition",
            "recognition and meta both answer with JSON: ask for one of them",
        ));
    }
    crate::auto_quality::check(parsed)?;
    Ok(())
}

/// Declared-but-unimplemented parameters fail loudly unless they are set to their default.
fn check_implemented(values: &BTreeMap<&'static str, Value>) -> Result<()> {
    for (&name, value) in values {
        let spec = params::spec(name);
        let is_default = spec
            .default
            .map(|d| parse_value(spec, d).ok().as_ref() == Some(value));
        if !spec.implemented && is_default != Some(true) {
            return Err(Error::for_parameter(
                ErrorKind::Unsupported,
                name,
                format!("parameter '{name}' is not implemented in this version of picsmith"),
            ));
        }
        let unimplemented_value = match value {
            Value::Text(text) | Value::Crop(Crop::Mode(text)) => {
                spec.unimplemented_values.contains(&text.as_str())
            }
            Value::Quality(Quality::Auto) => spec.unimplemented_values.contains(&"auto"),
            _ => false,
        };
        if unimplemented_value {
            return Err(Error::for_parameter(
                ErrorKind::Unsupported,
                name,
                format!(
                    "{name}={} is not implemented in this version of picsmith",
                    value_text(value)
                ),
            ));
        }
    }
    Ok(())
}

fn value_text(value: &Value) -> String {
    match value {
        Value::Text(t) | Value::Crop(Crop::Mode(t)) => t.clone(),
        Value::Quality(Quality::Auto) => "auto".into(),
        other => format!("{other:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(q: &str) -> Result<ParsedQuery> {
        parse_query(q, false)
    }

    #[test]
    fn aliases_resolve_to_canonical_names() {
        let p = parse("w=400&h=300").unwrap();
        assert_eq!(p.values["width"], Value::Int(400));
        assert_eq!(p.values["height"], Value::Int(300));
    }

    #[test]
    fn base64_forms_decode() {
        let p = parse("width64=NDAw").unwrap(); // "400"
        assert_eq!(p.values["width"], Value::Int(400));
        let p = parse("pad_color64=I2ZmZg").unwrap(); // "#fff", unpadded
        assert_eq!(
            p.values["pad_color"],
            Value::Color(Rgba([255, 255, 255, 255]))
        );
        // ">>>" is "Pj4+"; an unescaped '+' arrives as a space and must still decode.
        let (spec, text) = resolve_name("mark64", "Pj4 ").unwrap().unwrap();
        assert_eq!((spec.name, text.as_str()), ("mark", ">>>"));
        let err = parse("width64=***").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidParameter);
        assert_eq!(err.parameter(), Some("width"));
    }

    #[test]
    fn out_of_range_names_parameter_value_and_range() {
        let err = parse("width=0").unwrap_err();
        assert_eq!(err.parameter(), Some("width"));
        assert!(
            err.message().contains("'0'") && err.message().contains("1 to 16384"),
            "{err}"
        );
        assert_eq!(
            parse("brightness=1.5").unwrap_err().parameter(),
            Some("brightness")
        );
        assert_eq!(
            parse("brightness=NaN").unwrap_err().parameter(),
            Some("brightness")
        );
        assert_eq!(
            parse("format=bmp").unwrap_err().kind(),
            ErrorKind::InvalidParameter
        );
    }

    #[test]
    fn unknown_parameters_warn_or_fail_in_strict_mode() {
        let p = parse("width=10&cb=123").unwrap();
        assert_eq!(p.warnings.len(), 1);
        assert_eq!(p.warnings[0].parameter, "cb");
        let err = parse_query("width=10&cb=123", true).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidParameter);
        assert_eq!(err.parameter(), Some("cb"));
    }

    #[test]
    fn unimplemented_parameters_are_unsupported_not_ignored() {
        let err = parse("width=400&cache_processed=true").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Unsupported);
        assert_eq!(err.parameter(), Some("cache_processed"));
        assert_eq!(
            parse("cache_processed=true").unwrap_err().kind(),
            ErrorKind::Unsupported
        );
        // Set to its default, an unimplemented parameter changes nothing and is accepted.
        assert!(parse("cache_processed=false&blur=0").is_ok());
        // Validation comes first: a bad value is a bad value.
        assert_eq!(
            parse("crop=banana").unwrap_err().kind(),
            ErrorKind::InvalidParameter
        );
    }

    #[test]
    fn colors() {
        assert_eq!(parse_color("fff"), Some(Rgba([255, 255, 255, 255])));
        assert_eq!(parse_color("0000"), Some(Rgba([0, 0, 0, 0])));
        assert_eq!(
            parse_color("#11223344"),
            Some(Rgba([0x11, 0x22, 0x33, 0x44]))
        );
        assert_eq!(
            parse_color("rgb(255, 0, 10)"),
            Some(Rgba([255, 0, 10, 255]))
        );
        assert_eq!(parse_color("Red"), Some(Rgba([255, 0, 0, 255])));
        assert_eq!(parse_color("rgb(256,0,0)"), None);
        assert_eq!(parse_color("ff"), None);
        assert_eq!(parse_color("ééé"), None);
    }

    #[test]
    fn crops() {
        assert_eq!(parse_crop("FIT"), Some(Crop::Mode("fit".into())));
        assert_eq!(
            parse_crop("center,10,300,200"),
            Some(Crop::Region {
                x: Coord::Center,
                y: Coord::Pixels(10),
                width: 300,
                height: 200
            })
        );
        assert_eq!(parse_crop("1,2,0,4"), None);
        assert_eq!(parse_crop("1,2,3"), None);
    }

    #[test]
    fn dpr_needs_a_size() {
        assert_eq!(parse("dpr=2").unwrap_err().parameter(), Some("dpr"));
        assert!(parse("dpr=2&w=100").is_ok());
    }

    #[test]
    fn repeated_parameters_warn() {
        let p = parse("width=10&w=20").unwrap();
        assert_eq!(p.values["width"], Value::Int(20));
        assert_eq!(p.warnings[0].parameter, "width");
    }
}
