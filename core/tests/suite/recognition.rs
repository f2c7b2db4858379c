//! `recognition=nsfw|labels`.
//!
//! `labels` runs on tiny ONNX classifiers these tests build themselves (average colour → three
//! classes: red, green, blue); one of them is also committed as `tests/fixtures/labels-rgb.onnx`
//! for the Python and Node suites, and a test here checks it is still what the builder makes
//! (`PICSMITH_BLESS=1` rewrites it). `nsfw` needs Open NSFW, fetched by `make models` into
//! `target/models/` (or `$PICSMITH_NSFW_MODEL`); without it those tests say SKIPPED and pass.

use crate::common;

use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use image::{DynamicImage, ImageFormat, Rgb, RgbImage, Rgba, RgbaImage};
use picsmith::{ErrorKind, Format, Options, Pipeline, RecognitionModels};
use prost::Message;
use serde_json::{Value, json};
use tract_onnx::pb;

// ---------------------------------------------------------------- tiny models

fn dim(value: &str) -> pb::tensor_shape_proto::Dimension {
    use pb::tensor_shape_proto::dimension::Value as D;
    pb::tensor_shape_proto::Dimension {
        value: Some(match value.parse::<i64>() {
            Ok(n) => D::DimValue(n),
            Err(_) => D::DimParam(value.to_owned()),
        }),
        ..Default::default()
    }
}

fn value_info(name: &str, dims: &[&str]) -> pb::ValueInfoProto {
    pb::ValueInfoProto {
        name: name.to_owned(),
        r#type: Some(pb::TypeProto {
            value: Some(pb::type_proto::Value::TensorType(pb::type_proto::Tensor {
                elem_type: pb::tensor_proto::DataType::Float as i32,
                shape: Some(pb::TensorShapeProto {
                    dim: dims.iter().copied().map(dim).collect(),
                }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn node(
    op: &str,
    inputs: &[&str],
    output: &str,
    attributes: Vec<pb::AttributeProto>,
) -> pb::NodeProto {
    pb::NodeProto {
        op_type: op.to_owned(),
        name: output.to_owned(),
        input: inputs.iter().map(|s| (*s).to_owned()).collect(),
        output: vec![output.to_owned()],
        attribute: attributes,
        ..Default::default()
    }
}

fn ints(name: &str, values: &[i64]) -> pb::AttributeProto {
    pb::AttributeProto {
        name: name.to_owned(),
        r#type: pb::attribute_proto::AttributeType::Ints as i32,
        ints: values.to_vec(),
        ..Default::default()
    }
}

fn int(name: &str, value: i64) -> pb::AttributeProto {
    pb::AttributeProto {
        name: name.to_owned(),
        r#type: pb::attribute_proto::AttributeType::Int as i32,
        i: value,
        ..Default::default()
    }
}

fn floats(name: &str, dims: &[i64], values: &[f32]) -> pb::TensorProto {
    pb::TensorProto {
        name: name.to_owned(),
        dims: dims.to_vec(),
        data_type: pb::tensor_proto::DataType::Float as i32,
        float_data: values.to_vec(),
        ..Default::default()
    }
}

/// A classifier of the average colour: `input` (1×3×H×W, or 1×H×W×3 when `channels_last`) →
/// GlobalAveragePool → Flatten → Gemm with 4 × identity → three logits (red, green, blue), on
/// ImageNet-normalised input a pure colour wins its class by a wide margin.
fn rgb_model(input: &[&str], channels_last: bool) -> Vec<u8> {
    let mut nodes = Vec::new();
    let mut image = "image";
    if channels_last {
        nodes.push(node(
            "Transpose",
            &["image"],
            "nchw",
            vec![ints("perm", &[0, 3, 1, 2])],
        ));
        image = "nchw";
    }
    nodes.push(node("GlobalAveragePool", &[image], "pooled", vec![]));
    nodes.push(node("Flatten", &["pooled"], "flat", vec![int("axis", 1)]));
    nodes.push(node("Gemm", &["flat", "weights", "bias"], "scores", vec![]));
    #[rustfmt::skip]
    let weights = [
        4.0, 0.0, 0.0,
        0.0, 4.0, 0.0,
        0.0, 0.0, 4.0,
    ];
    let model = pb::ModelProto {
        ir_version: 8,
        producer_name: "picsmith tests".to_owned(),
        opset_import: vec![pb::OperatorSetIdProto {
            domain: String::new(),
            version: 13,
        }],
        graph: Some(pb::GraphProto {
            name: "rgb".to_owned(),
            node: nodes,
            initializer: vec![
                floats("weights", &[3, 3], &weights),
                floats("bias", &[3], &[0.0, 0.0, 0.0]),
            ],
            input: vec![value_info("image", input)],
            output: vec![value_info("scores", &["1", "3"])],
            ..Default::default()
        }),
        ..Default::default()
    };
    model.encode_to_vec()
}

/// A fresh file under the test's temporary directory.
fn temp_file(name: &str, bytes: &[u8]) -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "recognition-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

const NAMES: &str = "red\ngreen\nblue\n";

/// Options whose labels model is `model` (written to a fresh file) with the names beside it.
fn labels_options(model: &[u8]) -> Options {
    let path = temp_file("rgb.onnx", model);
    std::fs::write(path.with_extension("txt"), NAMES).unwrap();
    Options {
        models: RecognitionModels {
            labels: Some(path),
            ..RecognitionModels::default()
        },
        ..Options::default()
    }
}

fn encode(image: DynamicImage, format: ImageFormat) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    image.write_to(&mut out, format).unwrap();
    out.into_inner()
}

fn solid(color: [u8; 3]) -> Vec<u8> {
    encode(
        DynamicImage::ImageRgb8(RgbImage::from_pixel(40, 30, Rgb(color))),
        ImageFormat::Png,
    )
}

fn classify(input: &[u8], query: &str, options: &Options) -> Value {
    let output = picsmith::process(input, query, options).unwrap();
    assert_eq!(output.format, Format::Json);
    assert_eq!(output.mime(), "application/json");
    serde_json::from_slice(&output.data).unwrap()
}

fn top_label(answer: &Value) -> &str {
    answer["labels"][0]["Name"].as_str().unwrap()
}

// ---------------------------------------------------------------- labels

#[test]
fn labels_name_the_colour_of_a_pure_image() {
    let options = labels_options(&rgb_model(&["1", "3", "8", "8"], false));
    for (color, name) in [
        ([255, 0, 0], "red"),
        ([0, 255, 0], "green"),
        ([0, 0, 255], "blue"),
    ] {
        let answer = classify(&solid(color), "recognition=labels", &options);
        let labels = answer["labels"].as_array().unwrap();
        assert_eq!(labels.len(), 3, "{answer}");
        assert_eq!(top_label(&answer), name, "{answer}");
        let confidence = labels[0]["Confidence"].as_f64().unwrap();
        assert!(confidence > 99.0, "{answer}");
        let sum: f64 = labels
            .iter()
            .map(|l| l["Confidence"].as_f64().unwrap())
            .sum();
        assert!(
            (sum - 100.0).abs() < 0.01,
            "softmax percentages sum to 100: {answer}"
        );
        // Exactly the spec's keys, most confident first.
        for pair in labels.windows(2) {
            assert!(pair[0]["Confidence"].as_f64() >= pair[1]["Confidence"].as_f64());
        }
        for label in labels {
            let keys: Vec<&String> = label.as_object().unwrap().keys().collect();
            assert_eq!(keys, ["Confidence", "Name"]);
        }
    }
}

#[test]
fn labels_read_channels_last_and_free_input_sizes() {
    let options = labels_options(&rgb_model(&["1", "16", "16", "3"], true));
    assert_eq!(
        top_label(&classify(
            &solid([0, 255, 0]),
            "recognition=labels",
            &options
        )),
        "green"
    );
    // Batch, height and width left free: one image of 224×224.
    let options = labels_options(&rgb_model(&["N", "3", "H", "W"], false));
    assert_eq!(
        top_label(&classify(
            &solid([0, 0, 255]),
            "recognition=labels",
            &options
        )),
        "blue"
    );
}

#[test]
fn labels_classify_the_image_the_other_parameters_produce() {
    // Left half red, right half blue: the crop decides the answer.
    let mut image = RgbaImage::from_pixel(100, 50, Rgba([0, 0, 255, 255]));
    for x in 0..50 {
        for y in 0..50 {
            image.put_pixel(x, y, Rgba([255, 0, 0, 255]));
        }
    }
    let input = encode(DynamicImage::ImageRgba8(image), ImageFormat::Png);
    let options = labels_options(&rgb_model(&["1", "3", "8", "8"], false));
    let left = picsmith::process(&input, "recognition=labels&crop=0,0,50,50", &options).unwrap();
    let answer: Value = serde_json::from_slice(&left.data).unwrap();
    assert_eq!(top_label(&answer), "red");
    assert_eq!((left.width, left.height), (50, 50));
    let right = classify(&input, "recognition=labels&crop=50,0,50,50", &options);
    assert_eq!(top_label(&right), "blue");
    // Encoder parameters change nothing in a JSON answer, and say so.
    let output = picsmith::process(&input, "recognition=labels&format=webp", &options).unwrap();
    assert_eq!(output.format, Format::Json);
    assert_eq!(output.warnings[0].parameter, "format");
}

#[test]
fn labels_of_a_jpeg_photo_and_of_transparency() {
    // A JPEG is shrunk while decoding; transparency is laid on white.
    let jpeg = encode(
        DynamicImage::ImageRgb8(RgbImage::from_pixel(1600, 1200, Rgb([250, 10, 10]))),
        ImageFormat::Jpeg,
    );
    let options = labels_options(&rgb_model(&["1", "3", "8", "8"], false));
    let output = picsmith::process(&jpeg, "recognition=labels", &options).unwrap();
    assert!(
        output.width < 1600,
        "decoded at a DCT scale: {}",
        output.width
    );
    let answer: Value = serde_json::from_slice(&output.data).unwrap();
    assert_eq!(top_label(&answer), "red");
    let clear = encode(
        DynamicImage::ImageRgba8(RgbaImage::from_pixel(8, 8, Rgba([255, 0, 0, 0]))),
        ImageFormat::Png,
    );
    // Transparent red is white, not red.
    assert_eq!(
        classify(&clear, "recognition=labels", &options),
        classify(&solid([255, 255, 255]), "recognition=labels", &options)
    );
}

#[test]
fn labels_without_a_model_are_unsupported_and_say_how_to_configure() {
    if std::env::var_os("PICSMITH_LABELS_MODEL").is_some() {
        eprintln!("SKIPPED: PICSMITH_LABELS_MODEL is set in this environment");
        return;
    }
    let err = picsmith::process(&solid([1, 2, 3]), "recognition=labels", &Options::default())
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unsupported);
    assert_eq!(err.http_status(), 501);
    assert_eq!(err.parameter(), Some("recognition"));
    assert!(err.message().contains("PICSMITH_LABELS_MODEL"), "{err}");
}

#[test]
fn broken_models_are_clear_errors() {
    let check = |options: &Options, expect: &str| {
        let err = picsmith::process(&solid([1, 2, 3]), "recognition=labels", options).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Unsupported, "{err}");
        assert_eq!(err.parameter(), Some("recognition"));
        assert!(err.message().contains(expect), "{expect:?} not in: {err}");
        // The failure is remembered: the second request answers the same without reloading.
        let again =
            picsmith::process(&solid([1, 2, 3]), "recognition=labels", options).unwrap_err();
        assert_eq!(again, err);
    };
    // Not a model at all.
    let garbage = labels_options(b"this is not an ONNX model, just some bytes \x00\xff\x13");
    check(&garbage, "not usable");
    // A truncated model.
    let model = rgb_model(&["1", "3", "8", "8"], false);
    check(&labels_options(&model[..model.len() / 2]), "not usable");
    // A missing file, named in the message.
    let missing = Options {
        models: RecognitionModels {
            labels: Some("/nonexistent/labels.onnx".into()),
            ..RecognitionModels::default()
        },
        ..Options::default()
    };
    check(&missing, "/nonexistent/labels.onnx");
    // Names that do not match the outputs.
    let mut options = labels_options(&model);
    let names = temp_file("two.txt", b"red\ngreen\n");
    options.models.labels_names = Some(names);
    check(&options, "lists 2 classes");
    // No names file beside the model.
    let path = temp_file("alone.onnx", &model);
    let options = Options {
        models: RecognitionModels {
            labels: Some(path),
            ..RecognitionModels::default()
        },
        ..Options::default()
    };
    check(&options, "alone.txt");
    // An input that is not an image, and an input side beyond the bound.
    check(
        &labels_options(&rgb_model(&["1", "3"], false)),
        "dimensions",
    );
    check(
        &labels_options(&rgb_model(&["1", "3", "4096", "4096"], false)),
        "outside",
    );
}

#[test]
fn recognition_and_meta_do_not_mix() {
    let err = Pipeline::from_query("recognition=nsfw&meta=true").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidParameter);
    assert_eq!(err.parameter(), Some("recognition"));
    assert!(Pipeline::from_query("recognition=labels&meta=false").is_ok());
}

/// The fixture the Python and Node suites load.
#[test]
fn fixture_model_is_current() {
    let dir = common::repo_dir().join("tests/fixtures");
    let model = rgb_model(&["1", "3", "8", "8"], false);
    if std::env::var_os("PICSMITH_BLESS").is_some() {
        std::fs::write(dir.join("labels-rgb.onnx"), &model).unwrap();
        std::fs::write(dir.join("labels-rgb.txt"), NAMES).unwrap();
    }
    assert_eq!(
        std::fs::read(dir.join("labels-rgb.onnx")).unwrap(),
        model,
        "tests/fixtures/labels-rgb.onnx is stale: run with PICSMITH_BLESS=1"
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("labels-rgb.txt")).unwrap(),
        NAMES
    );
}

// ---------------------------------------------------------------- nsfw

/// `$PICSMITH_NSFW_MODEL`, else `target/models/open-nsfw.onnx`; `None` (with a visible
/// message) when the file is absent.
fn nsfw_model() -> Option<PathBuf> {
    let path = std::env::var_os("PICSMITH_NSFW_MODEL")
        .map(PathBuf::from)
        .unwrap_or_else(|| common::repo_dir().join("target/models/open-nsfw.onnx"));
    if path.is_file() {
        Some(path)
    } else {
        eprintln!(
            "SKIPPED: the NSFW model {} is absent (run `make models`)",
            path.display()
        );
        None
    }
}

fn nsfw_options(path: PathBuf) -> Options {
    Options {
        models: RecognitionModels {
            nsfw: Some(path),
            ..RecognitionModels::default()
        },
        ..Options::default()
    }
}

#[test]
fn nsfw_finds_no_nudity_in_safe_photos() {
    let Some(model) = nsfw_model() else { return };
    let options = nsfw_options(model);
    let photos = [
        "large-2725x2225.jpg",
        "progressive-cat-icc.jpg",
        "bird-rgba-576x384.png",
        "orient6-portrait.jpg",
        "photo-4.webp",
        "gray-concert.jpg",
    ];
    let started = Instant::now();
    // The first call loads the model.
    let first = picsmith::process(&solid([90, 120, 200]), "recognition=nsfw", &options).unwrap();
    eprintln!("nsfw: load and first run {:?}", started.elapsed());
    let answer: Value = serde_json::from_slice(&first.data).unwrap();
    assert_eq!(answer["nsfw"]["nudity"]["value"], json!(false), "{answer}");
    for name in photos {
        let Some(input) = common::corpus_file(name) else {
            continue;
        };
        let started = Instant::now();
        let answer = classify(&input, "recognition=nsfw", &options);
        eprintln!("nsfw: {name}: {answer} in {:?}", started.elapsed());
        // Exactly the spec's shape.
        let nudity = answer["nsfw"]["nudity"].as_object().unwrap();
        assert_eq!(answer.as_object().unwrap().len(), 1);
        assert_eq!(nudity.keys().collect::<Vec<_>>(), ["confidence", "value"]);
        assert_eq!(nudity["value"], json!(false), "{name}: {answer}");
        // The confidence is that of the answer "no nudity": high for safe photos.
        let confidence = nudity["confidence"].as_f64().unwrap();
        assert!((80.0..=100.0).contains(&confidence), "{name}: {answer}");
    }
}

#[test]
fn nsfw_without_its_model_is_unsupported() {
    let options = nsfw_options("/nonexistent/open-nsfw.onnx".into());
    let err = picsmith::process(&solid([1, 2, 3]), "recognition=nsfw", &options).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unsupported);
    assert_eq!(err.parameter(), Some("recognition"));
    assert!(err.message().contains("make models"), "{err}");
    // A labels model is not an NSFW model.
    let rgb = temp_file("rgb.onnx", &rgb_model(&["1", "3", "8", "8"], false));
    let err =
        picsmith::process(&solid([1, 2, 3]), "recognition=nsfw", &nsfw_options(rgb)).unwrap_err();
    assert!(err.message().contains("gives 3 scores"), "{err}");
}

/// Load time and inference time, on this machine: `cargo test --release -p picsmith --test
/// recognition -- --ignored --nocapture`.
#[test]
#[ignore]
fn nsfw_timings() {
    let Some(model) = nsfw_model() else { return };
    let options = nsfw_options(model);
    let started = Instant::now();
    picsmith::process(&solid([1, 2, 3]), "recognition=nsfw", &options).unwrap();
    eprintln!("load + first run: {:?}", started.elapsed());
    for name in [
        "large-2725x2225.jpg",
        "iphone-p3-4032x3024.jpg",
        "bird-rgba-576x384.png",
    ] {
        let Some(input) = common::corpus_file(name) else {
            continue;
        };
        let runs = 10;
        let started = Instant::now();
        for _ in 0..runs {
            picsmith::process(&input, "recognition=nsfw", &options).unwrap();
        }
        eprintln!(
            "{name}: {:?} per request (decode included)",
            started.elapsed() / runs
        );
    }
    let input = solid([1, 2, 3]);
    let runs = 20;
    let started = Instant::now();
    for _ in 0..runs {
        picsmith::process(&input, "recognition=nsfw", &options).unwrap();
    }
    eprintln!(
        "40x30 PNG: {:?} per request (about the inference alone)",
        started.elapsed() / runs
    );
}
