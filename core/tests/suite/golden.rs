//! Golden images: every case of tests/golden/cases.json rendered and compared by SSIM with its
//! stored PNG (see tests/golden/README.md). `PICSMITH_BLESS=1` writes the goldens that are
//! missing or no longer match, and says which.

use crate::common;

use std::path::{Path, PathBuf};

use image::{DynamicImage, GrayImage, ImageFormat};
use image_compare::Algorithm;
use serde_json::Value;

/// Lowest SSIM a case passes with unless it states its own `min_ssim`.
const DEFAULT_MIN_SSIM: f64 = 0.995;

fn golden_dir() -> PathBuf {
    common::repo_dir().join("tests/golden")
}

fn render(case: &Value) -> Result<DynamicImage, String> {
    let input = case["input"].as_str().ok_or("case has no input")?;
    let name = input
        .strip_prefix("fixture:")
        .ok_or_else(|| format!("input '{input}' must be fixture:NAME"))?;
    let path = common::repo_dir().join("tests/fixtures").join(name);
    let bytes = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let query = case["query"].as_str().unwrap_or("");
    let output = picsmith::process(&bytes, query, &picsmith::Options::default())
        .map_err(|e| format!("'{query}' failed: {e}"))?;
    image::load_from_memory(&output.data).map_err(|e| format!("output does not decode: {e}"))
}

fn alpha(image: &DynamicImage) -> GrayImage {
    let rgba = image.to_rgba8();
    GrayImage::from_fn(rgba.width(), rgba.height(), |x, y| {
        image::Luma([rgba[(x, y)][3]])
    })
}

/// The lowest SSIM over R, G, B (and alpha when either image has it).
fn similarity(actual: &DynamicImage, golden: &DynamicImage) -> Result<f64, String> {
    if (actual.width(), actual.height()) != (golden.width(), golden.height()) {
        return Err(format!(
            "size {}x{} differs from the golden's {}x{}",
            actual.width(),
            actual.height(),
            golden.width(),
            golden.height()
        ));
    }
    let ssim = |e: image_compare::CompareError| format!("SSIM failed: {e}");
    let mut score = image_compare::rgb_similarity_structure(
        &Algorithm::MSSIMSimple,
        &actual.to_rgb8(),
        &golden.to_rgb8(),
    )
    .map_err(ssim)?
    .score;
    if actual.color().has_alpha() || golden.color().has_alpha() {
        let a = image_compare::gray_similarity_structure(
            &Algorithm::MSSIMSimple,
            &alpha(actual),
            &alpha(golden),
        )
        .map_err(ssim)?;
        score = score.min(a.score);
    }
    Ok(score)
}

fn write_golden(path: &Path, image: &DynamicImage) -> Result<(), String> {
    image
        .save_with_format(path, ImageFormat::Png)
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// Checks one case; `Ok(Some(note))` when blessing wrote its golden.
fn check(case: &Value, bless: bool) -> Result<Option<String>, String> {
    let name = case["name"].as_str().ok_or("case has no name")?;
    if name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err(format!("name '{name}' must be [a-z0-9-]"));
    }
    let min = case["min_ssim"].as_f64().unwrap_or(DEFAULT_MIN_SSIM);
    let actual = render(case)?;
    let path = golden_dir().join(format!("{name}.png"));
    let verdict = match image::open(&path) {
        Err(_) => Err(format!("golden {} is missing", path.display())),
        Ok(golden) => match similarity(&actual, &golden) {
            Ok(score) if score >= min => Ok(()),
            Ok(score) => Err(format!("SSIM {score:.5} is below {min}")),
            Err(message) => Err(message),
        },
    };
    match verdict {
        Ok(()) => Ok(None),
        Err(reason) if bless => {
            write_golden(&path, &actual)?;
            Ok(Some(format!("wrote {name}.png ({reason})")))
        }
        Err(reason) => Err(reason),
    }
}

#[test]
fn golden_images() {
    let bless = std::env::var_os("PICSMITH_BLESS").is_some_and(|v| v == "1");
    let text =
        std::fs::read_to_string(golden_dir().join("cases.json")).expect("tests/golden/cases.json");
    let doc: Value = serde_json::from_str(&text).expect("cases.json is JSON");
    let cases = doc["cases"]
        .as_array()
        .expect("cases.json has a cases array");
    let mut names = std::collections::HashSet::new();
    let mut failures = Vec::new();
    for case in cases {
        let name = case["name"].as_str().unwrap_or("?").to_owned();
        if !names.insert(name.clone()) {
            failures.push(format!("{name}: the name is used twice"));
            continue;
        }
        match check(case, bless) {
            Ok(Some(note)) => eprintln!("{note}"),
            Ok(None) => {}
            Err(reason) => failures.push(format!("{name} ({}): {reason}", case["query"])),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} golden images failed:\n  {}\nIf the change is intended, regenerate with \
         `make golden` (PICSMITH_BLESS=1 cargo test --release -p picsmith --test suite golden::), look at \
         the images and commit them.",
        failures.len(),
        cases.len(),
        failures.join("\n  ")
    );
}
