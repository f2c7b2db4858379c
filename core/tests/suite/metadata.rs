//! Metadata: header fields, EXIF as ImageMagick formats it (checked against exiftool when it is
//! installed), pixel fields, `meta=true`, and every corpus file read without failing or hanging.

use crate::common;

use std::process::Command;

use picsmith::{Format, Metadata, MetadataOptions, Options, metadata};
use serde_json::{Value, json};

fn everything() -> MetadataOptions {
    MetadataOptions {
        colors: true,
        hashes: true,
        mini_preview: true,
        ..MetadataOptions::default()
    }
}

fn read(name: &str) -> Option<(Vec<u8>, Metadata)> {
    let data = common::corpus_file(name)?;
    let meta =
        metadata(&data, &MetadataOptions::default()).unwrap_or_else(|e| panic!("{name}: {e}"));
    Some((data, meta))
}

#[test]
fn an_iphone_photo_reports_its_header_exif_and_sampling() {
    let Some((data, meta)) = read("iphone-p3-4032x3024.jpg") else {
        return;
    };
    assert_eq!((meta.width, meta.height), (4032, 3024));
    assert_eq!(meta.file_size, data.len() as u64);
    assert_eq!(
        (meta.format, meta.mime_type, meta.has_alpha),
        (Format::Jpeg, "image/jpeg", false)
    );
    assert_eq!(meta.color_space, "display-p3");
    assert_eq!(meta.icc_description.as_deref(), Some("Display P3"));
    let jpeg = meta.jpeg.as_ref().unwrap();
    assert_eq!(
        (jpeg.colorspace, jpeg.sampling_factor.as_str()),
        (2, "2x2,1x1,1x1")
    );
    let exif = &meta.exif;
    assert_eq!(exif.get("Make"), Some(&json!("Apple")));
    assert_eq!(
        exif.get("ExifVersion")
            .and_then(Value::as_str)
            .map(|v| v.split(", ").count()),
        Some(4)
    );
    assert!(
        exif.get("ExifOffset").is_some_and(Value::is_u64),
        "pointer tags are reported"
    );
    assert!(
        exif.get("FNumber")
            .and_then(Value::as_str)
            .is_some_and(|v| v.contains('/'))
    );
    assert!(exif.get("ExifImageWidth").is_some_and(Value::is_u64));
    // Ordered by name ignoring case, as ImageMagick lists them (Flash < FNumber < FocalLength).
    let names: Vec<String> = exif.0.iter().map(|(n, _)| n.to_ascii_lowercase()).collect();
    assert!(names.windows(2).all(|w| w[0] <= w[1]), "{names:?}");
    assert!(
        exif.0
            .iter()
            .all(|(_, v)| v.as_str().is_none_or(|s| s.len() < 4096))
    );
}

#[test]
fn orientation_swaps_the_reported_size() {
    let Some((_, landscape)) = read("orient1-landscape.jpg") else {
        return;
    };
    let Some((_, turned)) = read("orient6-landscape.jpg") else {
        return;
    };
    assert_eq!(turned.orientation, 6);
    assert_eq!(turned.exif.get("Orientation"), Some(&json!(6)));
    assert_eq!(
        (turned.width, turned.height),
        (landscape.width, landscape.height)
    );
}

#[test]
fn colour_spaces_and_alpha() {
    let cases = [
        ("cmyk-swop.jpg", "cmyk", false),
        ("cmyk-noprofile.jpg", "cmyk", false),
        ("gray-concert.jpg", "b-w", false),
        ("bird-rgba-576x384.png", "srgb", true),
        ("large-2725x2225.jpg", "srgb", false),
    ];
    for (name, space, alpha) in cases {
        let Some((_, meta)) = read(name) else { return };
        assert_eq!((meta.color_space, meta.has_alpha), (space, alpha), "{name}");
    }
    let Some((_, cmyk)) = read("cmyk-swop.jpg") else {
        return;
    };
    assert_eq!(cmyk.jpeg.unwrap().colorspace, 4);
}

#[test]
fn pixel_fields_are_computed_only_when_asked() {
    let data = std::fs::read(common::repo_dir().join("tests/fixtures/photo-320.jpg")).unwrap();
    let plain = metadata(&data, &MetadataOptions::default()).unwrap();
    assert!(
        plain.dominant_color.is_none() && plain.blurhash.is_none() && plain.mini_preview.is_none()
    );
    let full = metadata(&data, &everything()).unwrap();
    let dominant = full.dominant_color.as_deref().unwrap();
    assert!(dominant.len() == 7 && dominant.starts_with('#'));
    assert!((1..=5).contains(&full.palette.len()));
    assert_eq!(full.palette[0].color, dominant);
    let shares: f32 = full.palette.iter().map(|c| c.share).sum();
    assert!((shares - 1.0).abs() < 1e-3);
    assert!(full.palette.windows(2).all(|w| w[0].share >= w[1].share));
    assert_eq!(full.blurhash.as_ref().unwrap().len(), 28, "4x3 components");
    assert!(!full.thumbhash.as_ref().unwrap().is_empty());
    assert_eq!(full.dhash.as_ref().unwrap().len(), 16);
    use base64::Engine as _;
    let preview = base64::engine::general_purpose::STANDARD
        .decode(full.mini_preview.unwrap())
        .unwrap();
    assert!(
        preview.len() < 1000,
        "mini preview is {} bytes",
        preview.len()
    );
    let tiny = image::load_from_memory(&preview).unwrap();
    assert!(tiny.width().max(tiny.height()) <= 24);
}

#[test]
fn a_near_duplicate_has_a_close_dhash_and_another_photo_does_not() {
    let data = std::fs::read(common::repo_dir().join("tests/fixtures/photo-320.jpg")).unwrap();
    let smaller = picsmith::process(&data, "width=150&quality=50", &Options::default()).unwrap();
    let other = std::fs::read(common::repo_dir().join("tests/fixtures/gray-320.jpg")).unwrap();
    let hash = |d: &[u8]| {
        u64::from_str_radix(&metadata(d, &everything()).unwrap().dhash.unwrap(), 16).unwrap()
    };
    let original = hash(&data);
    assert!((original ^ hash(&smaller.data)).count_ones() <= 6);
    assert!((original ^ hash(&other)).count_ones() > 12);
}

#[test]
fn meta_true_answers_imagizer_json_in_the_documented_order() {
    let Some(data) = common::corpus_file("iphone-p3-4032x3024.jpg") else {
        return;
    };
    let out = picsmith::process(&data, "meta=true", &Options::default()).unwrap();
    assert_eq!((out.format, out.mime()), (Format::Json, "application/json"));
    let text = String::from_utf8(out.data).unwrap();
    let keys = [
        "fileSize",
        "width",
        "height",
        "fileType",
        "mimeType",
        "hasAlpha",
        "colorSpace",
        "exif",
        "faces",
        "server",
        "dominateColor",
        "jpeg",
    ];
    let positions: Vec<usize> = keys
        .iter()
        .map(|k| {
            text.find(&format!("\"{k}\":"))
                .unwrap_or_else(|| panic!("{k} missing"))
        })
        .collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{text}");
    let doc: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(doc["fileSize"], json!(data.len()));
    assert_eq!(
        (doc["width"].clone(), doc["fileType"].clone()),
        (json!(4032), json!("jpeg"))
    );
    assert_eq!(doc["faces"], json!([]));
    assert_eq!(doc["jpeg"]["sampling-factor"], json!("2x2,1x1,1x1"));
    assert_eq!(doc["server"]["ip"], json!(""));
    assert!(doc["exif"]["Make"].is_string());
    assert!(doc.get("imageData").is_none());
}

#[test]
fn meta_after_a_transform_describes_the_output() {
    let Some(data) = common::corpus_file("orient6-landscape.jpg") else {
        return;
    };
    let out = picsmith::process(
        &data,
        "meta=true&width=100&format=png&include_image_data=true",
        &Options::default(),
    )
    .unwrap();
    let doc: Value = serde_json::from_slice(&out.data).unwrap();
    assert_eq!(
        (doc["width"].clone(), doc["fileType"].clone()),
        (json!(100), json!("png"))
    );
    assert_eq!(out.width, 100);
    use base64::Engine as _;
    let image = base64::engine::general_purpose::STANDARD
        .decode(doc["imageData"].as_str().unwrap())
        .unwrap();
    assert_eq!(doc["fileSize"], json!(image.len()));
    let decoded = image::load_from_memory(&image).unwrap();
    assert_eq!(
        (json!(decoded.width()), json!(decoded.height())),
        (doc["width"].clone(), doc["height"].clone())
    );
    assert!(doc.get("jpeg").is_none());
}

#[test]
fn face_true_adds_the_faces_without_changing_the_rest() {
    let data = std::fs::read(common::repo_dir().join("tests/fixtures/photo-320.jpg")).unwrap();
    let plain = picsmith::process(&data, "meta=true", &Options::default()).unwrap();
    let with_faces = picsmith::process(&data, "meta=true&face=true", &Options::default()).unwrap();
    let (plain, with_faces): (Value, Value) = (
        serde_json::from_slice(&plain.data).unwrap(),
        serde_json::from_slice(&with_faces.data).unwrap(),
    );
    assert!(with_faces["faces"].is_array());
    // The dominant colour may move by a unit: faces need a larger decode than colours alone.
    let mut without = with_faces.clone();
    without["faces"] = json!([]);
    without["dominateColor"] = plain["dominateColor"].clone();
    assert_eq!(without, plain);
}

#[test]
fn meta_companions_need_meta() {
    for query in ["include_image_data=true", "face=true"] {
        let err = picsmith::Pipeline::from_query(query).unwrap_err();
        assert_eq!(err.kind(), picsmith::ErrorKind::InvalidParameter, "{query}");
    }
}

/// Reading metadata (with every pixel field) never fails on a readable image, never panics and
/// never hangs on a damaged one; a damaged EXIF block still gives its readable tags.
#[test]
fn every_corpus_file_is_read_or_refused_cleanly() {
    let dir = common::corpus_dir();
    let Ok(entries) = std::fs::read_dir(&dir) else {
        eprintln!("SKIPPED: no corpus at {}", dir.display());
        return;
    };
    for entry in entries {
        let path = entry.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        match metadata(&data, &everything()) {
            Ok(meta) => assert!(meta.width > 0 && meta.height > 0, "{name}"),
            Err(e) => {
                let process = picsmith::process(&data, "", &Options::default());
                assert!(
                    process.is_err(),
                    "{name}: metadata failed ({e}) on an image the transform reads"
                );
            }
        }
    }
}

/// Field by field against exiftool (`-n` prints numbers; rationals as decimals) where it is
/// installed.
#[test]
fn exif_values_agree_with_exiftool() {
    let exiftool = Command::new("exiftool").arg("-ver").output();
    if !exiftool.is_ok_and(|o| o.status.success()) {
        eprintln!("SKIPPED: exiftool is not installed (apt install libimage-exiftool-perl)");
        return;
    }
    // ImageMagick's names where exiftool's differ.
    fn exiftool_name(name: &str) -> &str {
        match name {
            "ExifImageLength" => "ExifImageHeight",
            "ISOSpeedRatings" => "ISO",
            "FlashPixVersion" => "FlashpixVersion",
            "ExposureBiasValue" => "ExposureCompensation",
            other => other,
        }
    }
    let (mut compared, mut photos) = (0, 0);
    for name in [
        "iphone-p3-4032x3024.jpg",
        "pixel-4080x3072.jpg",
        "large-2725x2225.jpg",
        "orient6-landscape.jpg",
    ] {
        let Some((_, meta)) = read(name) else {
            continue;
        };
        photos += 1;
        let path = common::corpus_dir().join(name);
        let out = Command::new("exiftool")
            .args(["-j", "-n", "-EXIF:all"])
            .arg(&path)
            .output()
            .unwrap();
        let reference: Value = serde_json::from_slice(&out.stdout).unwrap();
        let reference = &reference[0];
        for tag in [
            "Make",
            "Model",
            "Software",
            "DateTimeOriginal",
            "Orientation",
            "ExifImageWidth",
            "ExifImageLength",
            "ISOSpeedRatings",
            "FNumber",
            "ExposureTime",
            "FocalLength",
            "Flash",
            "ExposureBiasValue",
        ] {
            let (Some(ours), Some(theirs)) =
                (meta.exif.get(tag), reference.get(exiftool_name(tag)))
            else {
                continue;
            };
            let as_number = |v: &Value| -> Option<f64> {
                match v {
                    Value::Number(n) => n.as_f64(),
                    Value::String(s) => match s.split_once('/') {
                        Some((n, d)) => {
                            Some(n.trim().parse::<f64>().ok()? / d.trim().parse::<f64>().ok()?)
                        }
                        None => s.trim().parse().ok(),
                    },
                    _ => None,
                }
            };
            match (as_number(ours), as_number(theirs)) {
                (Some(a), Some(b)) => assert!(
                    (a - b).abs() <= 1e-3 * b.abs().max(1.0),
                    "{name} {tag}: {ours} vs {theirs}"
                ),
                _ => assert_eq!(
                    ours.as_str().map(str::trim),
                    theirs.as_str().map(str::trim),
                    "{name} {tag}"
                ),
            }
            compared += 1;
        }
    }
    if photos == 0 {
        return; // each absent photo said SKIPPED above
    }
    assert!(
        compared >= 10,
        "only {compared} values compared in {photos} photos"
    );
}
