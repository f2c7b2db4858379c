//! `picsmith._picsmith`: the Python binding of the picsmith core.
//!
//! This crate only converts between Python and Rust values. Behaviour lives in the core; errors
//! are mapped in `errors.rs`; every call into the core goes through [`without_gil`].

mod errors;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::Arc;

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList};

use picsmith::params::{ParamKind, PARAMS};

/// Rust's allocations go through mimalloc, which keeps freed pages for the next image (see
/// Cargo.toml).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay` of mimalloc.h (2.x and 3.x), which libmimalloc-sys does not name.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// `mi_option_arena_eager_commit` of mimalloc.h (2.x and 3.x). Off, mimalloc commits its arena
/// as pages are used instead of in large chunks up front: W1's thumbnail in Python peaked at
/// 31.7 MiB of RSS instead of 50.7, at the same speed (W1, W2 and W6, Python, two rounds).
const MI_OPTION_ARENA_EAGER_COMMIT: libmimalloc_sys::mi_option_t = 4;

/// Freed pages go back to the system after 10 s unused, like jemalloc's default decay, not
/// mimalloc's 1 s: a purge lands in whichever call comes next and its pages fault in again, which
/// made a 15 ms resize 2 ms slower and a header read ten times slower when calls were a second
/// apart.
fn configure_allocator() {
    // SAFETY: sets plain options; mimalloc reads them when it next purges or commits.
    unsafe {
        libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 10_000);
        libmimalloc_sys::mi_option_set(MI_OPTION_ARENA_EAGER_COMMIT, 0);
    }
}

/// Runs core work with the GIL released, so other Python threads keep running while an image
/// is decoded and encoded, and turns core errors (and panics, which would otherwise surface as
/// `PanicException`, a `BaseException`) into picsmith exceptions.
fn without_gil<T, F>(py: Python<'_>, work: F) -> PyResult<T>
where
    F: FnOnce() -> picsmith::Result<T> + Send,
    T: Send,
{
    let result = py.detach(|| {
        catch_unwind(AssertUnwindSafe(work)).unwrap_or_else(|panic| {
            let detail = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "no message".to_owned());
            Err(picsmith::Error::new(
                picsmith::ErrorKind::Internal,
                format!("picsmith panicked: {detail}"),
            ))
        })
    });
    result.map_err(|error| errors::to_py_err(py, &error))
}

/// Resource limits, checked before the work they guard (the pixel count is read from the
/// header, before any pixel is decoded). Unset arguments take picsmith's defaults.
///
/// Example::
///
///     limits = Limits(max_source_pixels=24_000_000)
///     picsmith.process(data, "width=400", limits=limits)
#[pyclass(module = "picsmith", name = "Limits", frozen, eq)]
#[derive(Clone, Copy, PartialEq, Eq)]
struct Limits {
    inner: picsmith::Limits,
}

#[pymethods]
impl Limits {
    #[new]
    #[pyo3(signature = (*, max_input_bytes=None, max_source_pixels=None, max_output_side=None,
                        max_animation_frames=None, max_animation_pixels=None))]
    fn new(
        max_input_bytes: Option<u64>,
        max_source_pixels: Option<u64>,
        max_output_side: Option<u32>,
        max_animation_frames: Option<u32>,
        max_animation_pixels: Option<u64>,
    ) -> Self {
        let default = picsmith::Limits::default();
        Limits {
            inner: picsmith::Limits {
                max_input_bytes: max_input_bytes.unwrap_or(default.max_input_bytes),
                max_source_pixels: max_source_pixels.unwrap_or(default.max_source_pixels),
                max_output_side: max_output_side.unwrap_or(default.max_output_side),
                max_animation_frames: max_animation_frames.unwrap_or(default.max_animation_frames),
                max_animation_pixels: max_animation_pixels.unwrap_or(default.max_animation_pixels),
            },
        }
    }

    /// Largest input accepted, in bytes.
    #[getter]
    fn max_input_bytes(&self) -> u64 {
        self.inner.max_input_bytes
    }

    /// Largest source image, in pixels (width × height as the header declares).
    #[getter]
    fn max_source_pixels(&self) -> u64 {
        self.inner.max_source_pixels
    }

    /// Longest side of the output, in pixels.
    #[getter]
    fn max_output_side(&self) -> u32 {
        self.inner.max_output_side
    }

    /// Most frames an animated GIF or WebP may have to stay animated.
    #[getter]
    fn max_animation_frames(&self) -> u32 {
        self.inner.max_animation_frames
    }

    /// Most pixels an animation may decode or produce: width × height × frames.
    #[getter]
    fn max_animation_pixels(&self) -> u64 {
        self.inner.max_animation_pixels
    }

    fn __repr__(&self) -> String {
        format!(
            "Limits(max_input_bytes={}, max_source_pixels={}, max_output_side={}, \
             max_animation_frames={}, max_animation_pixels={})",
            self.inner.max_input_bytes,
            self.inner.max_source_pixels,
            self.inner.max_output_side,
            self.inner.max_animation_frames,
            self.inner.max_animation_pixels
        )
    }
}

fn limits_or_default(limits: Option<&Limits>) -> picsmith::Limits {
    limits.map(|l| l.inner).unwrap_or_default()
}

/// The model files of `recognition=nsfw|labels`. An unset path falls back to its environment
/// variable (`PICSMITH_NSFW_MODEL`, `PICSMITH_LABELS_MODEL`, `PICSMITH_LABELS_NAMES`); the
/// names file defaults to the labels model's path with the extension `.txt`.
///
/// Example::
///
///     models = RecognitionModels(labels="mobilenet.onnx", labels_names="imagenet.txt")
///     picsmith.process(data, "recognition=labels", models=models)
#[pyclass(module = "picsmith", name = "RecognitionModels", frozen, eq)]
#[derive(Clone, PartialEq, Eq)]
struct RecognitionModels {
    inner: picsmith::RecognitionModels,
}

#[pymethods]
impl RecognitionModels {
    #[new]
    #[pyo3(signature = (*, nsfw=None, labels=None, labels_names=None))]
    fn new(nsfw: Option<PathBuf>, labels: Option<PathBuf>, labels_names: Option<PathBuf>) -> Self {
        RecognitionModels {
            inner: picsmith::RecognitionModels {
                nsfw,
                labels,
                labels_names,
            },
        }
    }

    /// Path of Open NSFW (`open-nsfw.onnx`), or None.
    #[getter]
    fn nsfw(&self) -> Option<PathBuf> {
        self.inner.nsfw.clone()
    }

    /// Path of the ONNX classifier of `recognition=labels`, or None.
    #[getter]
    fn labels(&self) -> Option<PathBuf> {
        self.inner.labels.clone()
    }

    /// Path of the labels model's class names (one per line), or None.
    #[getter]
    fn labels_names(&self) -> Option<PathBuf> {
        self.inner.labels_names.clone()
    }

    fn __repr__(&self) -> String {
        let show = |p: &Option<PathBuf>| {
            p.as_ref().map_or("None".to_owned(), |p| {
                format!("{:?}", p.display().to_string())
            })
        };
        format!(
            "RecognitionModels(nsfw={}, labels={}, labels_names={})",
            show(&self.inner.nsfw),
            show(&self.inner.labels),
            show(&self.inner.labels_names)
        )
    }
}

fn models_or_default(models: Option<&RecognitionModels>) -> picsmith::RecognitionModels {
    models.map(|m| m.inner.clone()).unwrap_or_default()
}

/// A resolver serving the files of the `assets` directory (InvalidParameter when it is not one).
fn resolver_for(
    py: Python<'_>,
    assets: Option<PathBuf>,
) -> PyResult<Option<Arc<dyn picsmith::Resolver>>> {
    let Some(dir) = assets else {
        return Ok(None);
    };
    let resolver = picsmith::DirectoryResolver::new(dir).map_err(|e| errors::to_py_err(py, &e))?;
    Ok(Some(Arc::new(resolver)))
}

/// Something the caller should know but that did not stop the work, such as an unknown
/// parameter or an option the output format cannot honour.
#[pyclass(module = "picsmith", name = "Warning", frozen, eq, hash)]
#[derive(Clone, PartialEq, Eq, Hash)]
struct Warning {
    /// The parameter as written in the query, or its canonical name.
    #[pyo3(get)]
    parameter: String,
    #[pyo3(get)]
    message: String,
}

#[pymethods]
impl Warning {
    #[new]
    fn new(parameter: String, message: String) -> Self {
        Warning { parameter, message }
    }

    fn __repr__(&self) -> String {
        format!(
            "Warning(parameter={:?}, message={:?})",
            self.parameter, self.message
        )
    }

    fn __str__(&self) -> &str {
        &self.message
    }
}

fn warnings_of(warnings: &[picsmith::Warning]) -> Vec<Warning> {
    warnings
        .iter()
        .map(|w| Warning {
            parameter: w.parameter.clone(),
            message: w.message.clone(),
        })
        .collect()
}

/// An encoded image and what is needed to serve it.
#[pyclass(module = "picsmith", name = "Image", frozen)]
struct Image {
    /// The encoded bytes.
    #[pyo3(get)]
    data: Py<PyBytes>,
    format: picsmith::Format,
    #[pyo3(get)]
    width: u32,
    #[pyo3(get)]
    height: u32,
    warnings: Vec<Warning>,
    /// The format was chosen from the Accept header: an HTTP response must say `Vary: Accept`.
    #[pyo3(get)]
    vary_accept: bool,
    /// The quality the lossy encoder used (with `quality=auto`, the one the search chose);
    /// `None` for PNG, GIF and lossless WebP.
    #[pyo3(get)]
    quality: Option<u8>,
}

impl Image {
    fn from_output(py: Python<'_>, output: picsmith::Output) -> Self {
        Image {
            data: PyBytes::new(py, &output.data).unbind(),
            format: output.format,
            width: output.width,
            height: output.height,
            warnings: warnings_of(&output.warnings),
            vary_accept: output.vary_accept,
            quality: output.quality,
        }
    }
}

#[pymethods]
impl Image {
    /// The output format's short name: "jpeg", "png", "webp", "avif", "gif", "jxl", "mp4", or "json"
    /// for the metadata document of `meta=true`.
    #[getter]
    fn format(&self) -> &'static str {
        self.format.name()
    }

    /// The MIME type of `data`, for a Content-Type header.
    #[getter]
    fn mime(&self) -> &'static str {
        self.format.mime()
    }

    /// The usual file extension of the format, without the dot.
    #[getter]
    fn extension(&self) -> &'static str {
        self.format.extension()
    }

    /// Warnings of parsing and of processing, in order.
    #[getter]
    fn warnings(&self) -> Vec<Warning> {
        self.warnings.clone()
    }

    fn __bytes__(&self, py: Python<'_>) -> Py<PyBytes> {
        self.data.clone_ref(py)
    }

    fn __len__(&self, py: Python<'_>) -> usize {
        self.data.bind(py).as_bytes().len()
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        format!(
            "<picsmith.Image {} {}x{}, {} bytes>",
            self.format.name(),
            self.width,
            self.height,
            self.__len__(py)
        )
    }
}

/// A transform parsed and validated once, reusable for many images (and from many threads).
///
/// Example::
///
///     thumb = Pipeline.from_query("width=200&format=webp")
///     for data in images:
///         thumb.run(data).data
#[pyclass(module = "picsmith", name = "Pipeline", frozen)]
struct Pipeline {
    inner: picsmith::Pipeline,
    query: String,
}

#[pymethods]
impl Pipeline {
    /// Parses a query string. Unknown or repeated parameters are warnings, or with
    /// `strict=True` InvalidParameter errors.
    #[staticmethod]
    #[pyo3(signature = (query, *, strict=false))]
    fn from_query(py: Python<'_>, query: &str, strict: bool) -> PyResult<Self> {
        let inner = without_gil(py, || {
            if strict {
                picsmith::Pipeline::from_query_strict(query)
            } else {
                picsmith::Pipeline::from_query(query)
            }
        })?;
        Ok(Pipeline {
            inner,
            query: query.to_owned(),
        })
    }

    /// The warnings of parsing.
    #[getter]
    fn warnings(&self) -> Vec<Warning> {
        warnings_of(self.inner.warnings())
    }

    /// Runs the transform on one encoded image. `accept` is the request's Accept header, used
    /// by format=auto; `assets` is the directory `mark` and layer `url` locations are read from;
    /// `models` are the files of `recognition`.
    #[pyo3(signature = (data, *, accept=None, limits=None, assets=None, models=None))]
    fn run(
        &self,
        py: Python<'_>,
        data: &[u8],
        accept: Option<&str>,
        limits: Option<&Limits>,
        assets: Option<PathBuf>,
        models: Option<&RecognitionModels>,
    ) -> PyResult<Image> {
        let options = picsmith::Options {
            accept: accept.map(str::to_owned),
            limits: limits_or_default(limits),
            resolver: resolver_for(py, assets)?,
            models: models_or_default(models),
            ..Default::default()
        };
        let output = without_gil(py, || self.inner.run(data, &options))?;
        Ok(Image::from_output(py, output))
    }

    fn __repr__(&self) -> String {
        format!("Pipeline.from_query({:?})", self.query)
    }
}

/// Parses `query` and runs it on the encoded image `data` in one call.
///
/// Example::
///
///     image = process(open("photo.jpg", "rb").read(), "width=400&format=webp")
///     image.width, image.mime  # (400, "image/webp")
#[pyfunction]
#[pyo3(signature = (data, query="", *, accept=None, limits=None, strict=false, assets=None,
                    models=None))]
#[allow(clippy::too_many_arguments)] // one per keyword argument of the Python function
fn process(
    py: Python<'_>,
    data: &[u8],
    query: &str,
    accept: Option<String>,
    limits: Option<&Limits>,
    strict: bool,
    assets: Option<PathBuf>,
    models: Option<&RecognitionModels>,
) -> PyResult<Image> {
    let options = picsmith::Options {
        accept,
        limits: limits_or_default(limits),
        strict,
        resolver: resolver_for(py, assets)?,
        models: models_or_default(models),
    };
    let output = without_gil(py, || picsmith::process(data, query, &options))?;
    Ok(Image::from_output(py, output))
}

/// What an encoded image is, as a JSON document (see `picsmith.metadata`). Headers only unless
/// the pixel fields are asked for.
#[pyfunction]
#[pyo3(signature = (data, *, colors=false, hashes=false, mini_preview=false, faces=false, limits=None))]
fn metadata_json(
    py: Python<'_>,
    data: &[u8],
    colors: bool,
    hashes: bool,
    mini_preview: bool,
    faces: bool,
    limits: Option<&Limits>,
) -> PyResult<String> {
    let options = picsmith::MetadataOptions {
        limits: limits_or_default(limits),
        colors,
        hashes,
        mini_preview,
        faces,
    };
    let meta = without_gil(py, || picsmith::metadata(data, &options))?;
    Ok(meta.to_json())
}

/// Stored originals, their records and processed variants (see `picsmith.Library`, the typed
/// facade). Options and results cross as JSON, the form the core defines once.
#[pyclass(module = "picsmith", name = "_Library", frozen)]
struct Library {
    inner: picsmith::storage::Library,
}

fn record_list_json(records: &[picsmith::storage::ImageRecord]) -> String {
    serde_json::to_string(records).expect("records serialise")
}

#[pymethods]
impl Library {
    #[new]
    #[pyo3(signature = (settings_json=None, limits=None))]
    fn new(
        py: Python<'_>,
        settings_json: Option<String>,
        limits: Option<&Limits>,
    ) -> PyResult<Self> {
        let limits = limits_or_default(limits);
        let inner = without_gil(py, move || {
            let settings = picsmith::storage::parse_options(settings_json.as_deref(), "settings")?;
            let mut config =
                picsmith::storage::LibraryConfig::from_env()?.with_settings(settings)?;
            config.limits = limits;
            picsmith::storage::Library::open(config)
        })?;
        Ok(Library { inner })
    }

    #[pyo3(signature = (data, text, options_json=None))]
    fn upload_json(
        &self,
        py: Python<'_>,
        data: Option<Vec<u8>>,
        text: Option<String>,
        options_json: Option<String>,
    ) -> PyResult<String> {
        let source = match (data, text) {
            (Some(bytes), None) => picsmith::storage::UploadSource::Bytes(bytes),
            (None, Some(text)) => picsmith::storage::UploadSource::from_text(&text),
            _ => {
                return Err(pyo3::exceptions::PyTypeError::new_err(
                    "upload takes bytes, or a str holding a URL or base64",
                ))
            }
        };
        without_gil(py, || {
            let options = picsmith::storage::parse_options(options_json.as_deref(), "options")?;
            Ok(self.inner.upload(source, &options)?.to_json())
        })
    }

    fn get_json(&self, py: Python<'_>, id: &str) -> PyResult<String> {
        without_gil(py, || Ok(self.inner.get(id)?.to_json()))
    }

    fn get_by_path_json(&self, py: Python<'_>, path: &str) -> PyResult<String> {
        without_gil(py, || Ok(self.inner.get_by_path(path)?.to_json()))
    }

    /// The stored bytes of an image by id or path.
    fn read<'py>(&self, py: Python<'py>, reference: &str) -> PyResult<Bound<'py, PyBytes>> {
        let (data, _) = without_gil(py, || self.inner.read(reference))?;
        Ok(PyBytes::new(py, &data))
    }

    /// Renders a stored image; answers the image and whether the derived cache had it.
    #[pyo3(signature = (reference, query, accept=None, signed=false))]
    fn render(
        &self,
        py: Python<'_>,
        reference: &str,
        query: &str,
        accept: Option<String>,
        signed: bool,
    ) -> PyResult<(Image, bool)> {
        let rendered = without_gil(py, || {
            if signed {
                self.inner
                    .render_private(reference, query, accept.as_deref())
            } else {
                self.inner.render(reference, query, accept.as_deref())
            }
        })?;
        Ok((Image::from_output(py, rendered.output), rendered.cache_hit))
    }

    fn delete_json(&self, py: Python<'_>, ids: Vec<String>) -> PyResult<String> {
        without_gil(py, || Ok(record_list_json(&self.inner.delete(&ids)?)))
    }

    fn add_tags_json(
        &self,
        py: Python<'_>,
        ids: Vec<String>,
        tags: Vec<String>,
    ) -> PyResult<String> {
        without_gil(py, || {
            Ok(record_list_json(&self.inner.add_tags(&ids, &tags)?))
        })
    }

    fn remove_tags_json(
        &self,
        py: Python<'_>,
        ids: Vec<String>,
        tags: Vec<String>,
    ) -> PyResult<String> {
        without_gil(py, || {
            Ok(record_list_json(&self.inner.remove_tags(&ids, &tags)?))
        })
    }

    #[pyo3(signature = (query_json=None))]
    fn list_json(&self, py: Python<'_>, query_json: Option<String>) -> PyResult<String> {
        without_gil(py, || {
            let query = picsmith::storage::parse_options(query_json.as_deref(), "query")?;
            let page = self.inner.list(&query)?;
            Ok(serde_json::to_string(&page).expect("pages serialise"))
        })
    }

    #[pyo3(signature = (account=None))]
    fn usage_json(&self, py: Python<'_>, account: Option<String>) -> PyResult<String> {
        without_gil(py, || {
            let usage = self.inner.usage(account.as_deref())?;
            Ok(serde_json::to_string(&usage).expect("usage serialises"))
        })
    }

    fn sweep_expired(&self, py: Python<'_>) -> PyResult<Vec<String>> {
        without_gil(py, || self.inner.sweep_expired())
    }

    fn gc_json(&self, py: Python<'_>, grace_seconds: f64) -> PyResult<String> {
        if !(grace_seconds.is_finite() && grace_seconds >= 0.0) {
            return Err(pyo3::exceptions::PyValueError::new_err(
                "grace must be a non-negative number of seconds",
            ));
        }
        without_gil(py, || {
            let report = self
                .inner
                .gc(std::time::Duration::from_secs_f64(grace_seconds))?;
            Ok(serde_json::to_string(&report).expect("reports serialise"))
        })
    }

    fn verify(&self, py: Python<'_>) -> PyResult<Vec<String>> {
        without_gil(py, || self.inner.verify())
    }

    fn fetch<'py>(&self, py: Python<'py>, url: &str) -> PyResult<Bound<'py, PyBytes>> {
        let data = without_gil(py, || self.inner.fetch(url))?;
        Ok(PyBytes::new(py, &data))
    }

    fn create_key(&self, py: Python<'_>, account: &str, label: &str) -> PyResult<String> {
        without_gil(py, || self.inner.create_key(account, label))
    }

    fn check_key(&self, py: Python<'_>, key: &str) -> PyResult<Option<String>> {
        without_gil(py, || self.inner.check_key(key))
    }

    fn revoke_key(&self, py: Python<'_>, key: &str) -> PyResult<bool> {
        without_gil(py, || self.inner.revoke_key(key))
    }
}

/// `path_and_query` with `expires` (Unix seconds, optional) and an HMAC-SHA256 `signature`.
#[pyfunction]
#[pyo3(signature = (secret, path_and_query, expires_at=None))]
fn sign_path(
    py: Python<'_>,
    secret: &[u8],
    path_and_query: &str,
    expires_at: Option<u64>,
) -> PyResult<String> {
    picsmith::sign_path(secret, path_and_query, expires_at).map_err(|e| errors::to_py_err(py, &e))
}

/// The signed path without `expires` and `signature`; Forbidden when the signature is wrong,
/// missing or expired at `now` (Unix seconds).
#[pyfunction]
fn verify_signed_path(
    py: Python<'_>,
    secret: &[u8],
    path_and_query: &str,
    now: u64,
) -> PyResult<String> {
    picsmith::verify_signed_path(secret, path_and_query, now).map_err(|e| errors::to_py_err(py, &e))
}

/// Raises Forbidden naming the first key of `query` that `allowed` does not permit (aliases
/// and base64 forms count as their parameter).
#[pyfunction]
fn check_allowed_parameters(py: Python<'_>, query: &str, allowed: Vec<String>) -> PyResult<()> {
    picsmith::params::check_allowed(query, &allowed).map_err(|e| errors::to_py_err(py, &e))
}

fn kind_name(kind: &ParamKind) -> &'static str {
    match kind {
        ParamKind::Bool => "bool",
        ParamKind::Int { .. } => "int",
        ParamKind::Float { .. } => "float",
        ParamKind::Choice(_) => "choice",
        ParamKind::Color => "color",
        ParamKind::Crop => "crop",
        ParamKind::Quality => "quality",
        ParamKind::Json => "json",
        ParamKind::Text { .. } => "text",
    }
}

/// The parameter registry: one dict per parameter of the transform language, with the keys
/// name, aliases, kind, accepted, default, doc, implemented and extension.
#[pyfunction]
fn parameters(py: Python<'_>) -> PyResult<Bound<'_, PyList>> {
    let list = PyList::empty(py);
    for spec in PARAMS {
        let entry = PyDict::new(py);
        entry.set_item("name", spec.name)?;
        entry.set_item("aliases", spec.aliases.to_vec())?;
        entry.set_item("kind", kind_name(&spec.kind))?;
        entry.set_item("accepted", spec.kind.accepted())?;
        entry.set_item("default", spec.default)?;
        entry.set_item("doc", spec.doc)?;
        entry.set_item("implemented", spec.implemented)?;
        entry.set_item("extension", spec.extension)?;
        list.append(entry)?;
    }
    Ok(list)
}

/// The optional features compiled into this build: ``"vips"`` when HEIF/HEIC, AVIF, JPEG XL
/// and TIFF input and JPEG XL output go through libvips.
#[pyfunction]
fn features() -> Vec<&'static str> {
    picsmith::features().to_vec()
}

/// A JSON Schema (draft 2020-12) of the query parameters, as a JSON string.
#[pyfunction]
fn schema_json() -> String {
    picsmith::params::schema().to_string()
}

#[pymodule]
fn _picsmith(module: &Bound<'_, PyModule>) -> PyResult<()> {
    configure_allocator();
    module.add("__version__", picsmith::VERSION)?;
    module.add_class::<Limits>()?;
    module.add_class::<RecognitionModels>()?;
    module.add_class::<Warning>()?;
    module.add_class::<Image>()?;
    module.add_class::<Pipeline>()?;
    module.add_class::<Library>()?;
    module.add_function(wrap_pyfunction!(process, module)?)?;
    module.add_function(wrap_pyfunction!(metadata_json, module)?)?;
    module.add_function(wrap_pyfunction!(parameters, module)?)?;
    module.add_function(wrap_pyfunction!(schema_json, module)?)?;
    module.add_function(wrap_pyfunction!(features, module)?)?;
    module.add_function(wrap_pyfunction!(sign_path, module)?)?;
    module.add_function(wrap_pyfunction!(verify_signed_path, module)?)?;
    module.add_function(wrap_pyfunction!(check_allowed_parameters, module)?)?;
    errors::register(module)?;
    Ok(())
}
