//! Node.js binding of picsmith. Every behaviour lives in the `picsmith` crate; this crate only
//! converts values, runs the engine on the libuv thread pool and maps errors (in `errors.rs`).

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use napi::bindgen_prelude::{AsyncTask, Buffer, ToNapiValue, TypeName};
use napi::{Env, Task};
use napi_derive::napi;

mod errors;

/// The version of picsmith, which is also the version of this package.
// napi-derive exports a constant under its Rust name whatever `js_name` says, so the Rust name
// is the JavaScript one.
#[napi]
#[allow(non_upper_case_globals)]
pub const version: &str = picsmith::VERSION;

/// Resource limits, checked before the work they guard. Absent fields keep picsmith's defaults
/// (64 MiB input, 100 megapixel source, 16384 pixels a side).
#[napi(object)]
#[derive(Default)]
pub struct Limits {
    /// Largest input accepted, in bytes.
    pub max_input_bytes: Option<f64>,
    /// Largest source image, in pixels (width × height as the header declares).
    pub max_source_pixels: Option<f64>,
    /// Longest side of the output, in pixels.
    pub max_output_side: Option<f64>,
    /// Most frames an animated GIF or WebP may have to stay animated (default 500).
    pub max_animation_frames: Option<f64>,
    /// Most pixels an animation may decode or produce: width × height × frames (default 400 MP).
    pub max_animation_pixels: Option<f64>,
}

/// The model files of `recognition=nsfw|labels`. Absent paths fall back to the environment
/// variables `PICSMITH_NSFW_MODEL`, `PICSMITH_LABELS_MODEL` and `PICSMITH_LABELS_NAMES`.
#[napi(object)]
#[derive(Default)]
pub struct RecognitionModels {
    /// Open NSFW (`open-nsfw.onnx`; `make models` fetches it).
    pub nsfw: Option<String>,
    /// The ONNX image classifier of `recognition=labels`.
    pub labels: Option<String>,
    /// The labels model's class names, one per line in output order (default: the model's
    /// path with the extension `.txt`).
    pub labels_names: Option<String>,
}

fn to_models(given: Option<RecognitionModels>) -> picsmith::RecognitionModels {
    let given = given.unwrap_or_default();
    picsmith::RecognitionModels {
        nsfw: given.nsfw.map(Into::into),
        labels: given.labels.map(Into::into),
        labels_names: given.labels_names.map(Into::into),
    }
}

/// Options of `process`.
#[napi(object)]
#[derive(Default)]
pub struct ProcessOptions {
    /// The request's `Accept` header, used by `format=auto`.
    pub accept: Option<String>,
    /// Unknown and repeated parameters are errors instead of warnings.
    pub strict: Option<bool>,
    pub limits: Option<Limits>,
    /// Directory that `mark` and layer `url` locations are read from (`/logo.png` is
    /// `<assets>/logo.png`); without it, layer images are skipped with a warning.
    pub assets: Option<String>,
    /// The model files of `recognition`.
    pub models: Option<RecognitionModels>,
}

/// Options of `Pipeline.run`; strictness was decided when the pipeline was parsed.
#[napi(object)]
#[derive(Default)]
pub struct RunOptions {
    /// The request's `Accept` header, used by `format=auto`.
    pub accept: Option<String>,
    pub limits: Option<Limits>,
    /// Directory that `mark` and layer `url` locations are read from (`/logo.png` is
    /// `<assets>/logo.png`); without it, layer images are skipped with a warning.
    pub assets: Option<String>,
    /// The model files of `recognition`.
    pub models: Option<RecognitionModels>,
}

/// Something in the query picsmith ignored or could not honour.
#[napi(object)]
pub struct Warning {
    /// The parameter as it was written in the query, or its canonical name.
    pub parameter: String,
    pub message: String,
}

/// An encoded image and what is needed to serve it.
#[napi(object)]
pub struct Image {
    pub data: Buffer,
    /// Short name of the output format: `jpeg`, `png`, `webp`, `avif`, `gif`, `mp4`, or `json` for
    /// the metadata document of `meta=true`.
    pub format: String,
    /// MIME type of `data`.
    pub mime: String,
    pub width: u32,
    pub height: u32,
    /// Warnings of parsing and of processing, in order.
    pub warnings: Vec<Warning>,
    /// The format was chosen from the Accept header: an HTTP response must say `Vary: Accept`.
    pub vary_accept: bool,
    /// The quality the lossy encoder used (with `quality=auto`, the one the search chose);
    /// absent for PNG, GIF and lossless WebP.
    pub quality: Option<u32>,
}

/// One parameter of the transform language, from picsmith's registry.
#[napi(object)]
pub struct Parameter {
    /// Canonical name, as results, errors and docs spell it.
    pub name: String,
    /// Other names accepted in queries (`w` for `width`).
    pub aliases: Vec<String>,
    /// What values are accepted, for people.
    pub accepted: String,
    /// The value used when the parameter is absent, as written in a query.
    pub default: Option<String>,
    pub doc: String,
    /// Whether this build implements the parameter; setting an unimplemented one is an
    /// `unsupported` error.
    pub implemented: bool,
}

/// Every parameter of the transform language, in the order of the reference.
#[napi]
pub fn parameters() -> Vec<Parameter> {
    picsmith::params::PARAMS
        .iter()
        .map(|p| Parameter {
            name: p.name.to_owned(),
            aliases: p.aliases.iter().map(|a| (*a).to_owned()).collect(),
            accepted: p.kind.accepted(),
            default: p.default.map(str::to_owned),
            doc: p.doc.to_owned(),
            implemented: p.implemented,
        })
        .collect()
}

/// Parses `query` and runs it on `input` on the libuv thread pool.
///
/// Errors of the engine reject the promise with an `Error` whose `code` is the picsmith code
/// (`invalid_parameter`, `limit_exceeded`, `unsupported_format`, `invalid_image`,
/// `unsupported`, `internal`), with `httpStatus` and, when one parameter is at fault,
/// `parameter`. Arguments of the wrong type or value throw synchronously.
///
/// `input` is read in place, without a copy: do not modify or transfer it until the promise
/// settles.
#[napi(strict, ts_return_type = "Promise<Image>")]
pub fn process(
    env: Env,
    input: Buffer,
    query: Option<String>,
    opts: Option<ProcessOptions>,
) -> napi::Result<AsyncTask<EngineTask<picsmith::Output>>> {
    let opts = opts.unwrap_or_default();
    let options = picsmith::Options {
        accept: opts.accept,
        limits: to_limits(&env, opts.limits)?,
        strict: opts.strict.unwrap_or(false),
        resolver: to_resolver(&env, opts.assets)?,
        models: to_models(opts.models),
    };
    let query = query.unwrap_or_default();
    Ok(spawn(input, move |bytes| {
        picsmith::process(bytes, &query, &options)
    }))
}

/// Options of `metadata`: which fields need pixels (all off: headers only, nothing decoded).
#[napi(object)]
#[derive(Default)]
pub struct MetadataOptions {
    /// Add `dominantColor` (`#RRGGBB`) and `palette` (up to five `{color, share}`).
    pub colors: Option<bool>,
    /// Add `blurhash`, `thumbhash` (base64) and `dhash` (16 hex digits).
    pub hashes: Option<bool>,
    /// Add `miniPreview`, a base64 JPEG of about 500 bytes.
    pub mini_preview: Option<bool>,
    /// Add `faces`: frontal faces, best first, `{x, y, width, height, score}` in displayed pixels.
    pub faces: Option<bool>,
    pub limits: Option<Limits>,
}

/// What an encoded image is, on the libuv thread pool: `fileSize`, `width` and `height` (as
/// displayed), `format`, `mimeType`, `hasAlpha`, `colorSpace`, `iccDescription`, `orientation`,
/// `exif` (tag name to value, as Imagizer's `meta=true` shows them), `jpeg`
/// (`colorspace`, `samplingFactor`), and the pixel fields `opts` asks for. Errors reject as
/// `process`.
///
/// ```js
/// const meta = await metadata(readFileSync('photo.jpg'), { colors: true })
/// console.log(meta.width, meta.exif.Model, meta.dominantColor)
/// ```
#[napi(strict, ts_return_type = "Promise<Record<string, any>>")]
pub fn metadata(
    env: Env,
    input: Buffer,
    opts: Option<MetadataOptions>,
) -> napi::Result<AsyncTask<EngineTask<picsmith::Metadata>>> {
    let opts = opts.unwrap_or_default();
    let options = picsmith::MetadataOptions {
        limits: to_limits(&env, opts.limits)?,
        colors: opts.colors.unwrap_or(false),
        hashes: opts.hashes.unwrap_or(false),
        mini_preview: opts.mini_preview.unwrap_or(false),
        faces: opts.faces.unwrap_or(false),
    };
    Ok(spawn(input, move |bytes| {
        picsmith::metadata(bytes, &options)
    }))
}

/// A transform parsed once and reusable for many images, concurrently too.
#[napi]
pub struct Pipeline {
    inner: Arc<picsmith::Pipeline>,
}

#[napi]
impl Pipeline {
    /// Parses a query string. Unknown parameters become warnings, or errors when `strict`.
    /// Throws an `Error` with a picsmith `code` when the query is invalid.
    #[napi(factory)]
    pub fn from_query(env: Env, query: String, strict: Option<bool>) -> napi::Result<Pipeline> {
        let parsed = if strict.unwrap_or(false) {
            picsmith::Pipeline::from_query_strict(&query)
        } else {
            picsmith::Pipeline::from_query(&query)
        };
        parsed
            .map(|p| Pipeline { inner: Arc::new(p) })
            .map_err(|e| errors::to_js_error(&env, &e))
    }

    /// The warnings of parsing.
    #[napi(getter)]
    pub fn warnings(&self) -> Vec<Warning> {
        self.inner.warnings().iter().map(to_warning).collect()
    }

    /// Runs the transform on one encoded image on the libuv thread pool; errors as `process`.
    ///
    /// `input` is read in place, without a copy: do not modify or transfer it until the promise
    /// settles.
    #[napi(strict, ts_return_type = "Promise<Image>")]
    pub fn run(
        &self,
        env: Env,
        input: Buffer,
        opts: Option<RunOptions>,
    ) -> napi::Result<AsyncTask<EngineTask<picsmith::Output>>> {
        let opts = opts.unwrap_or_default();
        let limits = to_limits(&env, opts.limits)?;
        let options = picsmith::Options {
            accept: opts.accept,
            limits,
            resolver: to_resolver(&env, opts.assets)?,
            models: to_models(opts.models),
            ..Default::default()
        };
        let pipeline = Arc::clone(&self.inner);
        Ok(spawn(input, move |bytes| pipeline.run(bytes, &options)))
    }
}

type Work<T> = Box<dyn FnOnce(&[u8]) -> picsmith::Result<T> + Send>;

/// The one way CPU-bound engine work is run: `compute` on a libuv worker, the conversion to
/// JavaScript values and the error mapping back on the JS thread.
///
/// The input stays a `Buffer` owned by the task, not by the closure: napi's `Buffer` holds a
/// reference that keeps the JavaScript buffer alive, so the worker reads the caller's bytes in
/// place. Because the task is dropped in the completion callback, that reference is released on
/// the JS thread.
pub struct EngineTask<T> {
    input: Buffer,
    work: Option<Work<T>>,
}

fn spawn<T: IntoJs>(
    input: Buffer,
    work: impl FnOnce(&[u8]) -> picsmith::Result<T> + Send + 'static,
) -> AsyncTask<EngineTask<T>> {
    AsyncTask::new(EngineTask {
        input,
        work: Some(Box::new(work)),
    })
}

impl<T: IntoJs> Task for EngineTask<T> {
    type Output = picsmith::Result<T>;
    type JsValue = T::Js;

    fn compute(&mut self) -> napi::Result<Self::Output> {
        let work = self
            .work
            .take()
            .ok_or_else(|| napi::Error::from_reason("picsmith task computed twice"))?;
        let input: &[u8] = &self.input;
        Ok(catch_unwind(AssertUnwindSafe(|| work(input)))
            .unwrap_or_else(|p| Err(errors::from_panic(p))))
    }

    fn resolve(&mut self, env: Env, output: Self::Output) -> napi::Result<Self::JsValue> {
        output
            .map(IntoJs::into_js)
            .map_err(|e| errors::to_js_error(&env, &e))
    }
}

/// A result of the engine, sent from the worker, turned into its JavaScript form.
pub trait IntoJs: Send + 'static {
    type Js: ToNapiValue + TypeName;
    fn into_js(self) -> Self::Js;
}

impl IntoJs for picsmith::Output {
    type Js = Image;

    fn into_js(self) -> Image {
        Image {
            mime: self.mime().to_owned(),
            format: self.format.name().to_owned(),
            width: self.width,
            height: self.height,
            warnings: self.warnings.iter().map(to_warning).collect(),
            vary_accept: self.vary_accept,
            quality: self.quality.map(u32::from),
            // The encoded bytes move into an external Buffer: no copy.
            data: Buffer::from(self.data),
        }
    }
}

/// Metadata as a plain JavaScript object (napi converts JSON values, but names no type for them).
pub struct MetadataObject(serde_json::Value);

impl TypeName for MetadataObject {
    fn type_name() -> &'static str {
        "Object"
    }

    fn value_type() -> napi::ValueType {
        napi::ValueType::Object
    }
}

impl ToNapiValue for MetadataObject {
    unsafe fn to_napi_value(
        env: napi::sys::napi_env,
        value: Self,
    ) -> napi::Result<napi::sys::napi_value> {
        // SAFETY: called by napi with the env of the resolving callback, as the trait requires.
        unsafe { serde_json::Value::to_napi_value(env, value.0) }
    }
}

impl IntoJs for picsmith::Metadata {
    type Js = MetadataObject;

    fn into_js(self) -> MetadataObject {
        MetadataObject(serde_json::to_value(&self).expect("metadata serialises"))
    }
}

fn to_warning(w: &picsmith::Warning) -> Warning {
    Warning {
        parameter: w.parameter.clone(),
        message: w.message.clone(),
    }
}

/// A resolver serving the files of the `assets` directory; throws when it is not a directory.
fn to_resolver(
    env: &Env,
    assets: Option<String>,
) -> napi::Result<Option<Arc<dyn picsmith::Resolver>>> {
    let Some(dir) = assets else {
        return Ok(None);
    };
    let resolver =
        picsmith::DirectoryResolver::new(dir).map_err(|e| errors::to_js_error(env, &e))?;
    Ok(Some(Arc::new(resolver)))
}

/// Largest integer a JavaScript number holds exactly.
const MAX_SAFE_INTEGER: f64 = 9_007_199_254_740_991.0;

fn to_limits(env: &Env, given: Option<Limits>) -> napi::Result<picsmith::Limits> {
    let mut limits = picsmith::Limits::default();
    let Some(given) = given else {
        return Ok(limits);
    };
    let count = |name: &str, value: f64, max: f64| -> napi::Result<f64> {
        if value.is_finite() && value >= 0.0 && value.fract() == 0.0 && value <= max {
            Ok(value)
        } else {
            Err(errors::invalid_option(
                env,
                name,
                &format!("must be a whole number from 0 to {max}; got {value}"),
            ))
        }
    };
    if let Some(v) = given.max_input_bytes {
        limits.max_input_bytes = count("limits.maxInputBytes", v, MAX_SAFE_INTEGER)? as u64;
    }
    if let Some(v) = given.max_source_pixels {
        limits.max_source_pixels = count("limits.maxSourcePixels", v, MAX_SAFE_INTEGER)? as u64;
    }
    if let Some(v) = given.max_output_side {
        limits.max_output_side = count("limits.maxOutputSide", v, f64::from(u32::MAX))? as u32;
    }
    if let Some(v) = given.max_animation_frames {
        limits.max_animation_frames =
            count("limits.maxAnimationFrames", v, f64::from(u32::MAX))? as u32;
    }
    if let Some(v) = given.max_animation_pixels {
        limits.max_animation_pixels =
            count("limits.maxAnimationPixels", v, MAX_SAFE_INTEGER)? as u64;
    }
    Ok(limits)
}
