//! Node.js binding of picsmith. Every behaviour lives in the `picsmith` crate; this crate only
//! converts values, runs the engine on the libuv thread pool and maps errors (in `errors.rs`).

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use napi::bindgen_prelude::{AsyncTask, Buffer, ToNapiValue, TypeName};
use napi::{Either, Env, Task};
use napi_derive::napi;

mod errors;

/// Rust's allocations go through mimalloc (see bindings/python/Cargo.toml for why).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay` of mimalloc.h (2.x and 3.x), which libmimalloc-sys does not name.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// `mi_option_arena_eager_commit` of mimalloc.h (2.x and 3.x); turned off (see
/// bindings/python/src/lib.rs for why).
const MI_OPTION_ARENA_EAGER_COMMIT: libmimalloc_sys::mi_option_t = 4;

/// Runs when the addon loads: freed pages go back to the system after 10 s unused, not 1 s
/// (see `configure_allocator` in bindings/python/src/lib.rs for why).
#[napi_derive::module_init]
fn configure_allocator() {
    // SAFETY: sets plain options; mimalloc reads them when it next purges or commits.
    unsafe {
        libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 10_000);
        libmimalloc_sys::mi_option_set(MI_OPTION_ARENA_EAGER_COMMIT, 0);
    }
}

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
    /// Short name of the output format: `jpeg`, `png`, `webp`, `avif`, `gif`, `jxl`, `mp4`, or
    /// `json` for the metadata document of `meta=true`.
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

/// The optional features compiled into this build: `"vips"` when HEIF/HEIC, AVIF, JPEG XL and
/// TIFF input and JPEG XL output go through libvips.
///
/// ```js
/// const readsHeic = picsmith.features().includes('vips')
/// ```
#[napi]
pub fn features() -> Vec<String> {
    picsmith::features().iter().map(|f| f.to_string()).collect()
}

/// Throws a `forbidden` error naming the first key of `query` that `allowed` (parameter names)
/// does not permit; aliases such as `w` and base64 forms such as `width64` count as their
/// parameter.
///
/// ```js
/// picsmith.checkAllowedParameters('w=300&format=webp', ['width', 'format'])
/// ```
#[napi]
pub fn check_allowed_parameters(env: Env, query: String, allowed: Vec<String>) -> napi::Result<()> {
    picsmith::params::check_allowed(&query, &allowed).map_err(|e| errors::to_js_error(&env, &e))
}

/// `pathAndQuery` with `expires` (Unix seconds, when given) and an HMAC-SHA256 `signature`
/// appended, for private images and signed transform URLs.
///
/// ```js
/// const url = picsmith.signPath(secret, '/cat.jpg?width=300', Math.floor(Date.now() / 1000) + 3600)
/// ```
#[napi]
pub fn sign_path(
    env: Env,
    secret: Either<String, Buffer>,
    path_and_query: String,
    expires_at: Option<i64>,
) -> napi::Result<String> {
    let expires_at = match expires_at {
        Some(t) if t < 0 => {
            return Err(errors::invalid_option(
                &env,
                "expiresAt",
                "must be Unix seconds, not negative",
            ));
        }
        other => other.map(|t| t as u64),
    };
    picsmith::sign_path(&secret_bytes(&secret), &path_and_query, expires_at)
        .map_err(|e| errors::to_js_error(&env, &e))
}

/// The path and query of a `signPath` URL without `expires` and `signature`; throws a
/// `forbidden` error when the signature is missing, wrong or expired at `now` (Unix seconds,
/// default the current time).
#[napi]
pub fn verify_signed_path(
    env: Env,
    secret: Either<String, Buffer>,
    path_and_query: String,
    now: Option<i64>,
) -> napi::Result<String> {
    let now = match now {
        Some(t) => t.max(0) as u64,
        None => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
    };
    picsmith::verify_signed_path(&secret_bytes(&secret), &path_and_query, now)
        .map_err(|e| errors::to_js_error(&env, &e))
}

fn secret_bytes(secret: &Either<String, Buffer>) -> Vec<u8> {
    match secret {
        Either::A(text) => text.as_bytes().to_vec(),
        Either::B(buffer) => buffer.to_vec(),
    }
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
    let options = to_metadata_options(&env, opts)?;
    Ok(spawn(input, move |bytes| {
        picsmith::metadata(bytes, &options)
    }))
}

fn to_metadata_options(
    env: &Env,
    opts: Option<MetadataOptions>,
) -> napi::Result<picsmith::MetadataOptions> {
    let opts = opts.unwrap_or_default();
    Ok(picsmith::MetadataOptions {
        limits: to_limits(env, opts.limits)?,
        colors: opts.colors.unwrap_or(false),
        hashes: opts.hashes.unwrap_or(false),
        mini_preview: opts.mini_preview.unwrap_or(false),
        faces: opts.faces.unwrap_or(false),
    })
}

/// The header fields of `metadata`, read on the calling thread: for a header read, which
/// decodes no pixel, the trip to the libuv thread pool and back (two thread wake-ups) takes
/// longer than the read: 0.23 ms against 0.15 for one call on an idle process, 0.10 against
/// 0.02 back to back (a 1800x1200 JPEG with EXIF). Only `limits` is accepted; `colors`,
/// `hashes`, `miniPreview` and `faces` decode the image and throw `ERR_INVALID_ARG_VALUE` here
/// (use `metadata`). Errors throw as `metadata` rejects.
///
/// ```js
/// const { width, height, format } = metadataSync(readFileSync('photo.jpg'))
/// ```
#[napi(strict, ts_return_type = "Record<string, any>")]
pub fn metadata_sync(
    env: Env,
    input: Buffer,
    opts: Option<MetadataOptions>,
) -> napi::Result<JsonObject> {
    let options = to_metadata_options(&env, opts)?;
    if options.decodes_pixels() {
        let asked = [
            ("colors", options.colors),
            ("hashes", options.hashes),
            ("miniPreview", options.mini_preview),
            ("faces", options.faces),
        ];
        // A pixel field added to core but not named here is still refused, unnamed.
        let name = asked
            .iter()
            .find(|(_, on)| *on)
            .map_or("for pixel fields", |(name, _)| name);
        return Err(errors::invalid_option(
            &env,
            name,
            "decodes pixels, which metadataSync does not: use metadata",
        ));
    }
    caught(|| picsmith::metadata(&input, &options))
        .map(IntoJs::into_js)
        .map_err(|e| errors::to_js_error(&env, &e))
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
///
/// Storage work (which blocks on I/O and may decode images) runs the same way, without an
/// input buffer.
pub struct EngineTask<T> {
    input: Option<Buffer>,
    work: Option<Work<T>>,
}

fn spawn<T: IntoJs>(
    input: Buffer,
    work: impl FnOnce(&[u8]) -> picsmith::Result<T> + Send + 'static,
) -> AsyncTask<EngineTask<T>> {
    AsyncTask::new(EngineTask {
        input: Some(input),
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
        let input: &[u8] = self.input.as_deref().unwrap_or_default();
        Ok(caught(|| work(input)))
    }

    fn resolve(&mut self, env: Env, output: Self::Output) -> napi::Result<Self::JsValue> {
        output
            .map(IntoJs::into_js)
            .map_err(|e| errors::to_js_error(&env, &e))
    }
}

/// Runs engine work, with a panic (a bug) turned into an `internal` error instead of unwinding
/// into napi, which would abort the process.
fn caught<T>(work: impl FnOnce() -> picsmith::Result<T>) -> picsmith::Result<T> {
    catch_unwind(AssertUnwindSafe(work)).unwrap_or_else(|p| Err(errors::from_panic(p)))
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

/// A JSON result (metadata, records, pages) as a plain JavaScript object: napi converts JSON
/// values, but names no type for them.
pub struct JsonObject(serde_json::Value);

impl TypeName for JsonObject {
    fn type_name() -> &'static str {
        "Object"
    }

    fn value_type() -> napi::ValueType {
        napi::ValueType::Object
    }
}

impl ToNapiValue for JsonObject {
    unsafe fn to_napi_value(
        env: napi::sys::napi_env,
        value: Self,
    ) -> napi::Result<napi::sys::napi_value> {
        // SAFETY: called by napi with the env of the resolving callback, as the trait requires.
        unsafe { serde_json::Value::to_napi_value(env, value.0) }
    }
}

impl IntoJs for picsmith::Metadata {
    type Js = JsonObject;

    fn into_js(self) -> JsonObject {
        JsonObject(serde_json::to_value(&self).expect("metadata serialises"))
    }
}

/// A stored image, rendered, and whether the derived cache had it.
#[napi(object)]
pub struct RenderedImage {
    pub image: Image,
    pub cache_hit: bool,
}

impl IntoJs for picsmith::storage::Rendered {
    type Js = RenderedImage;

    fn into_js(self) -> RenderedImage {
        RenderedImage {
            image: self.output.into_js(),
            cache_hit: self.cache_hit,
        }
    }
}

impl IntoJs for serde_json::Value {
    type Js = JsonObject;

    fn into_js(self) -> JsonObject {
        JsonObject(self)
    }
}

fn json_of<T: serde::Serialize>(value: &T) -> serde_json::Value {
    serde_json::to_value(value).expect("storage results serialise")
}

/// Originals in a blob store, records in a catalog, variants in a local cache: the storage
/// client of the engine. Settings override the environment (`PICSMITH_STORAGE`,
/// `PICSMITH_CATALOG`, ...), which overrides the embedded default (files under
/// `./picsmith-data`, SQLite). Every method runs on the libuv thread pool and resolves to plain
/// objects with camelCase keys; errors reject as `process` does.
///
/// ```js
/// const lib = Library.open({ storage: 'memory://', catalog: 'sqlite:///tmp/c.db' })
/// const record = await lib.upload(readFileSync('cat.jpg'), { fileName: 'cat.jpg', tags: ['cat'] })
/// const { image, cacheHit } = await lib.render(record.path, 'width=200&format=webp')
/// ```
#[napi]
pub struct Library {
    inner: picsmith::storage::Library,
}

#[napi]
impl Library {
    /// Opens (and for the embedded default creates) the storage, catalog and cache. Each of
    /// the `LibrarySettings` given replaces its `PICSMITH_*` environment variable.
    #[napi(
        factory,
        ts_args_type = "settings?: LibrarySettings | null, limits?: Limits | null"
    )]
    pub fn open(
        env: Env,
        settings: Option<serde_json::Value>,
        limits: Option<Limits>,
    ) -> napi::Result<Library> {
        let limits = to_limits(&env, limits)?;
        let opened = (|| {
            let settings = from_json(settings, "settings")?;
            let mut config =
                picsmith::storage::LibraryConfig::from_env()?.with_settings(settings)?;
            config.limits = limits;
            picsmith::storage::Library::open(config)
        })();
        opened
            .map(|inner| Library { inner })
            .map_err(|e| errors::to_js_error(&env, &e))
    }

    /// Stores an image (a Buffer, or a string holding an http(s) URL or base64) with its
    /// `UploadOptions` and resolves to its record.
    #[napi(
        ts_args_type = "file: Buffer | string, options?: UploadOptions | null",
        ts_return_type = "Promise<ImageRecord>"
    )]
    pub fn upload(
        &self,
        file: napi::Either<Buffer, String>,
        options: Option<serde_json::Value>,
    ) -> AsyncTask<EngineTask<serde_json::Value>> {
        let source = match file {
            // The bytes are copied once here: the upload keeps them past this call.
            napi::Either::A(buffer) => picsmith::storage::UploadSource::Bytes(buffer.to_vec()),
            napi::Either::B(text) => picsmith::storage::UploadSource::from_text(&text),
        };
        self.task(move |lib| {
            let options = from_json(options, "options")?;
            Ok(json_of(&lib.upload(source, &options)?))
        })
    }

    /// The record of an image by id, or by path when the reference contains a `/`.
    #[napi(ts_return_type = "Promise<ImageRecord>")]
    pub fn get(&self, reference: String) -> AsyncTask<EngineTask<serde_json::Value>> {
        self.task(move |lib| {
            let record = if reference.contains('/') {
                lib.get_by_path(&reference)?
            } else {
                lib.get(&reference)?
            };
            Ok(json_of(&record))
        })
    }

    /// The stored bytes of an image by id or path.
    #[napi(ts_return_type = "Promise<Buffer>")]
    pub fn read(&self, reference: String) -> AsyncTask<EngineTask<Vec<u8>>> {
        self.task(move |lib| Ok(lib.read(&reference)?.0))
    }

    /// Transforms a stored image through the derived cache. Private images need
    /// `signed: true`, set only after verifying the request's signature.
    #[napi(ts_return_type = "Promise<RenderedImage>")]
    pub fn render(
        &self,
        reference: String,
        query: String,
        accept: Option<String>,
        signed: Option<bool>,
    ) -> AsyncTask<EngineTask<picsmith::storage::Rendered>> {
        self.task(move |lib| {
            if signed.unwrap_or(false) {
                lib.render_private(&reference, &query, accept.as_deref())
            } else {
                lib.render(&reference, &query, accept.as_deref())
            }
        })
    }

    /// Deletes up to 20 images; an unknown id deletes nothing and rejects with `not_found`.
    #[napi(ts_return_type = "Promise<ImageRecord[]>")]
    pub fn delete(&self, ids: Vec<String>) -> AsyncTask<EngineTask<serde_json::Value>> {
        self.task(move |lib| Ok(json_of(&lib.delete(&ids)?)))
    }

    /// Adds tags to up to 20 images (at most 20 tags an image; all or nothing).
    #[napi(ts_return_type = "Promise<ImageRecord[]>")]
    pub fn add_tags(
        &self,
        ids: Vec<String>,
        tags: Vec<String>,
    ) -> AsyncTask<EngineTask<serde_json::Value>> {
        self.task(move |lib| Ok(json_of(&lib.add_tags(&ids, &tags)?)))
    }

    /// Removes tags from up to 20 images.
    #[napi(ts_return_type = "Promise<ImageRecord[]>")]
    pub fn remove_tags(
        &self,
        ids: Vec<String>,
        tags: Vec<String>,
    ) -> AsyncTask<EngineTask<serde_json::Value>> {
        self.task(move |lib| Ok(json_of(&lib.remove_tags(&ids, &tags)?)))
    }

    /// A page of records, newest first. Query: `folder`, `tag`, `account`, `limit`, `skip`.
    #[napi(
        ts_args_type = "query?: ListQuery | null",
        ts_return_type = "Promise<{ images: ImageRecord[], total: number }>"
    )]
    pub fn list(
        &self,
        query: Option<serde_json::Value>,
    ) -> AsyncTask<EngineTask<serde_json::Value>> {
        self.task(move |lib| {
            let query = from_json(query, "query")?;
            Ok(json_of(&lib.list(&query)?))
        })
    }

    /// Images and bytes stored for one account (or all), against the quota.
    #[napi(ts_return_type = "Promise<Usage>")]
    pub fn usage(&self, account: Option<String>) -> AsyncTask<EngineTask<serde_json::Value>> {
        self.task(move |lib| Ok(json_of(&lib.usage(account.as_deref())?)))
    }

    /// Deletes expired images, then removes blobs no record points at that are older than
    /// `gcGraceSeconds` (default 3600). Resolves to `{expired, removedBlobs, removedBytes}`.
    #[napi(
        ts_return_type = "Promise<{ expired: string[], removedBlobs: number, removedBytes: number }>"
    )]
    pub fn maintain(
        &self,
        gc_grace_seconds: Option<u32>,
    ) -> AsyncTask<EngineTask<serde_json::Value>> {
        self.task(move |lib| {
            let expired = lib.sweep_expired()?;
            let grace = std::time::Duration::from_secs(u64::from(gc_grace_seconds.unwrap_or(3600)));
            let report = lib.gc(grace)?;
            Ok(serde_json::json!({
                "expired": expired,
                "removedBlobs": report.removed_blobs,
                "removedBytes": report.removed_bytes,
            }))
        })
    }

    /// Ids whose blob is missing or has the wrong size (empty when consistent).
    #[napi(ts_return_type = "Promise<string[]>")]
    pub fn verify(&self) -> AsyncTask<EngineTask<serde_json::Value>> {
        self.task(move |lib| Ok(json_of(&lib.verify()?)))
    }

    /// A new API key for `account` (default `"default"`), resolved once; the catalog keeps
    /// only its hash, so every server sharing the catalog accepts it.
    #[napi(ts_return_type = "Promise<string>")]
    pub fn create_key(
        &self,
        account: Option<String>,
        label: Option<String>,
    ) -> AsyncTask<EngineTask<String>> {
        self.task(move |lib| {
            lib.create_key(
                account.as_deref().unwrap_or("default"),
                label.as_deref().unwrap_or(""),
            )
        })
    }

    /// The account of an API key, or null when there is no such key.
    #[napi(ts_return_type = "Promise<string | null>")]
    pub fn check_key(&self, key: String) -> AsyncTask<EngineTask<Option<String>>> {
        self.task(move |lib| lib.check_key(&key))
    }

    /// Revokes an API key; false when there was no such key.
    #[napi(ts_return_type = "Promise<boolean>")]
    pub fn revoke_key(&self, key: String) -> AsyncTask<EngineTask<bool>> {
        self.task(move |lib| lib.revoke_key(&key))
    }

    fn task<T: IntoJs>(
        &self,
        work: impl FnOnce(&picsmith::storage::Library) -> picsmith::Result<T> + Send + 'static,
    ) -> AsyncTask<EngineTask<T>> {
        let library = self.inner.clone();
        AsyncTask::new(EngineTask {
            input: None,
            work: Some(Box::new(move |_| work(&library))),
        })
    }
}

impl IntoJs for String {
    type Js = String;

    fn into_js(self) -> String {
        self
    }
}

impl IntoJs for Option<String> {
    type Js = Option<String>;

    fn into_js(self) -> Option<String> {
        self
    }
}

impl IntoJs for bool {
    type Js = bool;

    fn into_js(self) -> bool {
        self
    }
}

impl IntoJs for Vec<u8> {
    type Js = Buffer;

    fn into_js(self) -> Buffer {
        Buffer::from(self)
    }
}

/// Options given as a JavaScript object, read by the core's own JSON form of them.
fn from_json<T: serde::de::DeserializeOwned + Default>(
    value: Option<serde_json::Value>,
    what: &str,
) -> picsmith::Result<T> {
    match value {
        None | Some(serde_json::Value::Null) => Ok(T::default()),
        Some(value) => serde_json::from_value(value).map_err(|e| {
            picsmith::Error::for_parameter(
                picsmith::ErrorKind::InvalidParameter,
                what,
                format!("{what}: {e}"),
            )
        }),
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
