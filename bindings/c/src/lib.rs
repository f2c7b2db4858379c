//! The C ABI of picsmith. `include/picsmith.h` is generated from this file by cbindgen.
//!
//! Every behaviour lives in the core crate; this file only converts between C and Rust. Three
//! rules keep a C host safe:
//!
//! - every `extern "C"` body runs through [`boundary`], so a panic becomes
//!   `PICSMITH_STATUS_PANIC` instead of unwinding into C (which would abort the host);
//! - every pointer argument is checked for NULL and every string for UTF-8 before use;
//! - core's [`ErrorKind`] is translated to a status in one table, [`KIND_STATUS`].
//!
//! ```c
//! picsmith_image *img = NULL;
//! if (picsmith_process(jpeg, jpeg_len, "width=400&format=webp", NULL, NULL, &img)
//!         != PICSMITH_STATUS_OK) {
//!     fprintf(stderr, "%s: %s\n", picsmith_last_error_code(), picsmith_last_error_message());
//!     return 1;
//! }
//! size_t len;
//! const uint8_t *webp = picsmith_image_data(img, &len);
//! fwrite(webp, 1, len, out);
//! picsmith_image_free(img);
//! ```

// The exported names are C names: `picsmith_image`, not `PicsmithImage`.
#![allow(non_camel_case_types)]
#![deny(unsafe_op_in_unsafe_fn)]

use std::cell::RefCell;
use std::ffi::{c_char, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;
use std::sync::{Arc, Mutex};

use engine::{Error, ErrorKind, Format, Limits, Options, Output, Pipeline};

mod library;

/// Rust's allocations go through mimalloc (see bindings/python/Cargo.toml for why).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay` of mimalloc.h (2.x and 3.x), which libmimalloc-sys does not name.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// `mi_option_arena_eager_commit` of mimalloc.h (2.x and 3.x); turned off (see
/// bindings/python/src/lib.rs for why).
const MI_OPTION_ARENA_EAGER_COMMIT: libmimalloc_sys::mi_option_t = 4;

/// Freed pages go back to the system after 10 s unused, not 1 s (see `configure_allocator`
/// in bindings/python/src/lib.rs for why). Set on the first call, as C has no load hook.
fn configure_allocator() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    // SAFETY: sets plain options; mimalloc reads them when it next purges or commits.
    ONCE.call_once(|| unsafe {
        libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 10_000);
        libmimalloc_sys::mi_option_set(MI_OPTION_ARENA_EAGER_COMMIT, 0);
    });
}
pub use library::*;

/// Major version of the ABI described by this header. It changes when a function, type or
/// constant changes incompatibly; a caller must refuse a library whose
/// `picsmith_abi_version_major()` differs from this value.
pub const PICSMITH_ABI_VERSION_MAJOR: u32 = 2;

/// Minor version of the ABI described by this header. It grows when functions are added; a
/// caller built against minor N works with any library whose minor is N or more.
pub const PICSMITH_ABI_VERSION_MINOR: u32 = 6;

/// The outcome of a call. `PICSMITH_STATUS_OK` is 0; the statuses from
/// `PICSMITH_STATUS_INVALID_PARAMETER` to `PICSMITH_STATUS_INTERNAL`, then from
/// `PICSMITH_STATUS_NOT_FOUND` to `PICSMITH_STATUS_STORAGE_UNAVAILABLE`, follow the error kinds of
/// the core crate in order, and their codes (`picsmith_last_error_code()`) are the stable codes
/// every picsmith binding uses.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum picsmith_status {
    /// Success; no error is recorded.
    Ok = 0,
    /// A parameter has a bad value, or a combination is invalid (code `invalid_parameter`).
    InvalidParameter = 1,
    /// The input or the requested output exceeds the limits (code `limit_exceeded`).
    LimitExceeded = 2,
    /// The input's format cannot be decoded (code `unsupported_format`).
    UnsupportedFormat = 3,
    /// The input is empty, truncated or corrupt (code `invalid_image`).
    InvalidImage = 4,
    /// The parameter or value is not implemented in this build (code `unsupported`).
    Unsupported = 5,
    /// A bug or an unexpected codec failure (code `internal`).
    Internal = 6,
    /// The caller broke the ABI contract: a required pointer was NULL, a string was not UTF-8,
    /// a length was too large (code `invalid_argument`).
    InvalidArgument = 7,
    /// picsmith panicked; the panic was stopped at the ABI boundary (code `panic`).
    Panic = 8,
    /// No stored image by that id or path (code `not_found`). Since ABI 2.4.
    NotFound = 9,
    /// Refused by policy: a private remote address, a private image without a signature (code
    /// `forbidden`). Since ABI 2.4.
    Forbidden = 10,
    /// A remote source failed or timed out (code `upstream_error`). Since ABI 2.4.
    UpstreamError = 11,
    /// The blob store or the catalog failed (code `storage_unavailable`). Since ABI 2.4.
    StorageUnavailable = 12,
}

/// The one mapping from core error kinds to statuses, in `ErrorKind::ALL` order.
const KIND_STATUS: [(ErrorKind, picsmith_status); 10] = [
    (
        ErrorKind::InvalidParameter,
        picsmith_status::InvalidParameter,
    ),
    (ErrorKind::LimitExceeded, picsmith_status::LimitExceeded),
    (
        ErrorKind::UnsupportedFormat,
        picsmith_status::UnsupportedFormat,
    ),
    (ErrorKind::InvalidImage, picsmith_status::InvalidImage),
    (ErrorKind::Unsupported, picsmith_status::Unsupported),
    (ErrorKind::Internal, picsmith_status::Internal),
    (ErrorKind::NotFound, picsmith_status::NotFound),
    (ErrorKind::Forbidden, picsmith_status::Forbidden),
    (ErrorKind::UpstreamError, picsmith_status::UpstreamError),
    (
        ErrorKind::StorageUnavailable,
        picsmith_status::StorageUnavailable,
    ),
];

// A kind added to the core stops this build, instead of silently becoming `Internal`.
const _: () = assert!(ErrorKind::ALL.len() == KIND_STATUS.len());

impl picsmith_status {
    fn from_kind(kind: ErrorKind) -> picsmith_status {
        KIND_STATUS
            .iter()
            .find(|(k, _)| *k == kind)
            .map_or(picsmith_status::Internal, |(_, status)| *status)
    }
}

/// Resource limits of one transform, checked before the work they guard. Start from
/// `picsmith_limits_default()` and change the fields you need.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct picsmith_limits {
    /// Largest input accepted, in bytes. Default 64 MiB.
    pub max_input_bytes: u64,
    /// Largest source image, in pixels (width times height, as the header declares). Default 100 MP.
    pub max_source_pixels: u64,
    /// Longest side of the output, in pixels. Default 16384.
    pub max_output_side: u32,
    /// Most frames an animated GIF or WebP may have to stay animated. Default 500.
    pub max_animation_frames: u32,
    /// Most pixels an animation may decode or produce (width times height times frames, of the
    /// source and of the output). Default 400 MP.
    pub max_animation_pixels: u64,
}

impl From<Limits> for picsmith_limits {
    fn from(limits: Limits) -> Self {
        picsmith_limits {
            max_input_bytes: limits.max_input_bytes,
            max_source_pixels: limits.max_source_pixels,
            max_output_side: limits.max_output_side,
            max_animation_frames: limits.max_animation_frames,
            max_animation_pixels: limits.max_animation_pixels,
        }
    }
}

impl From<picsmith_limits> for Limits {
    fn from(limits: picsmith_limits) -> Self {
        Limits {
            max_input_bytes: limits.max_input_bytes,
            max_source_pixels: limits.max_source_pixels,
            max_output_side: limits.max_output_side,
            max_animation_frames: limits.max_animation_frames,
            max_animation_pixels: limits.max_animation_pixels,
        }
    }
}

/// An encoded image with its size, format and warnings. Opaque; created by `picsmith_process`
/// or `picsmith_pipeline_run`, released with `picsmith_image_free`.
pub struct picsmith_image {
    /// `None` once the caller took the buffer with `picsmith_image_take_data`.
    data: Option<Vec<u8>>,
    width: u32,
    height: u32,
    format: Format,
    vary_accept: bool,
    /// 0 when the format has no quality.
    quality: u8,
    /// (parameter, message), converted once so the accessors can lend pointers.
    warnings: Vec<(CString, CString)>,
}

impl From<Output> for picsmith_image {
    fn from(output: Output) -> Self {
        let warnings = output
            .warnings
            .iter()
            .map(|w| (c_string(&w.parameter), c_string(&w.message)))
            .collect();
        picsmith_image {
            data: Some(output.data),
            width: output.width,
            height: output.height,
            format: output.format,
            vary_accept: output.vary_accept,
            quality: output.quality.unwrap_or(0),
            warnings,
        }
    }
}

/// A parsed, validated transform, reusable for many images. Opaque; created by
/// `picsmith_pipeline_new`, released with `picsmith_pipeline_free`.
pub struct picsmith_pipeline {
    pipeline: Pipeline,
}

/// Why a call failed, before it is stored as the thread's last error.
struct Failure {
    status: picsmith_status,
    http_status: u16,
    code: &'static str,
    message: String,
    parameter: Option<String>,
}

impl Failure {
    fn invalid_argument(message: impl Into<String>) -> Failure {
        Failure {
            status: picsmith_status::InvalidArgument,
            http_status: 400,
            code: "invalid_argument",
            message: message.into(),
            parameter: None,
        }
    }
}

impl From<Error> for Failure {
    fn from(error: Error) -> Self {
        Failure {
            status: picsmith_status::from_kind(error.kind()),
            http_status: error.http_status(),
            code: error.code(),
            message: error.message().to_owned(),
            parameter: error.parameter().map(str::to_owned),
        }
    }
}

/// The last error of a thread, kept as C strings so the accessors can lend pointers into it.
struct LastError {
    http_status: u16,
    code: CString,
    message: CString,
    parameter: Option<CString>,
}

thread_local! {
    static LAST_ERROR: RefCell<Option<LastError>> = const { RefCell::new(None) };
}

fn set_last_error(error: Option<LastError>) {
    // `try_with` fails only while the thread is being torn down, when nobody can read it.
    let _ = LAST_ERROR.try_with(|slot| *slot.borrow_mut() = error);
}

fn last_error_field(field: impl Fn(&LastError) -> Option<*const c_char>) -> *const c_char {
    LAST_ERROR
        .try_with(|slot| slot.borrow().as_ref().and_then(&field))
        .ok()
        .flatten()
        .unwrap_or(ptr::null())
}

fn record(failure: Failure) -> picsmith_status {
    set_last_error(Some(LastError {
        http_status: failure.http_status,
        code: c_string(failure.code),
        message: c_string(&failure.message),
        parameter: failure.parameter.as_deref().map(c_string),
    }));
    failure.status
}

/// Runs an `extern "C"` body; a panic is recorded as the thread's last error and `on_panic` is
/// returned in place of the body's result. Every exported function goes through here.
fn boundary<T>(on_panic: T, body: impl FnOnce() -> T) -> T {
    configure_allocator();
    // The body's state is discarded on panic and never observed again, so unwind safety holds.
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(value) => value,
        Err(payload) => {
            let detail = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic without a message".to_owned());
            // A payload's destructor may itself panic; that must not unwind into C either.
            let _ = catch_unwind(AssertUnwindSafe(move || drop(payload)));
            record(Failure {
                status: picsmith_status::Panic,
                http_status: 500,
                code: "panic",
                message: format!("picsmith panicked: {detail}"),
                parameter: None,
            });
            on_panic
        }
    }
}

/// [`boundary`] for the calls that return a status: clears the last error, then records the
/// failure, if any.
fn status_call(body: impl FnOnce() -> Result<(), Failure>) -> picsmith_status {
    boundary(picsmith_status::Panic, || {
        set_last_error(None);
        match body() {
            Ok(()) => picsmith_status::Ok,
            Err(failure) => record(failure),
        }
    })
}

/// A C string of `text`; an interior NUL (a query may decode `%00`) becomes U+FFFD rather than
/// cutting the string short.
fn c_string(text: &str) -> CString {
    CString::new(text)
        .unwrap_or_else(|_| CString::new(text.replace('\0', "\u{FFFD}")).expect("no NUL remains"))
}

/// A NUL-terminated copy of a `'static` string that lives as long as the process. The core's
/// static strings (format names, MIME types, the version) are few, so interning them leaks a
/// bounded amount of memory while keeping the core the only place they are spelled.
fn interned(text: &'static str) -> *const c_char {
    static TABLE: Mutex<Vec<(&'static str, &'static CStr)>> = Mutex::new(Vec::new());
    // The table is consistent even if a holder panicked: entries are pushed whole.
    let mut table = TABLE
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some((_, found)) = table.iter().find(|(key, _)| *key == text) {
        return found.as_ptr();
    }
    let leaked: &'static CStr = Box::leak(c_string(text).into_boxed_c_str());
    table.push((text, leaked));
    leaked.as_ptr()
}

/// Reads a required NUL-terminated UTF-8 argument.
///
/// # Safety
///
/// `ptr` is NULL or points to a NUL-terminated string valid for the call.
unsafe fn required_str<'a>(ptr: *const c_char, name: &str) -> Result<&'a str, Failure> {
    if ptr.is_null() {
        return Err(Failure::invalid_argument(format!("{name} is NULL")));
    }
    // SAFETY: non-NULL and NUL-terminated per this function's contract.
    let text = unsafe { CStr::from_ptr(ptr) };
    text.to_str()
        .map_err(|e| Failure::invalid_argument(format!("{name} is not valid UTF-8: {e}")))
}

/// Reads an optional NUL-terminated UTF-8 argument; NULL is `None`.
///
/// # Safety
///
/// As [`required_str`].
unsafe fn optional_str<'a>(ptr: *const c_char, name: &str) -> Result<Option<&'a str>, Failure> {
    if ptr.is_null() {
        return Ok(None);
    }
    // SAFETY: forwarded contract.
    unsafe { required_str(ptr, name) }.map(Some)
}

/// Reads the input buffer.
///
/// # Safety
///
/// `ptr` is NULL or valid for reads of `len` bytes for the call.
unsafe fn input_bytes<'a>(ptr: *const u8, len: usize) -> Result<&'a [u8], Failure> {
    if ptr.is_null() {
        return Err(Failure::invalid_argument("input is NULL"));
    }
    if len > isize::MAX as usize {
        return Err(Failure::invalid_argument(format!(
            "input_len {len} is larger than any buffer can be"
        )));
    }
    // SAFETY: non-NULL, length bounded, readable per this function's contract.
    Ok(unsafe { std::slice::from_raw_parts(ptr, len) })
}

/// Reads the optional limits; NULL means the defaults.
///
/// # Safety
///
/// `ptr` is NULL or points to a `picsmith_limits`.
unsafe fn limits_arg(ptr: *const picsmith_limits) -> Limits {
    // SAFETY: per this function's contract.
    match unsafe { ptr.as_ref() } {
        Some(limits) => Limits::from(*limits),
        None => Limits::default(),
    }
}

/// Reads the optional assets directory; NULL means none (layer images are then skipped with a
/// warning, or fail when required).
///
/// # Safety
///
/// As [`optional_str`].
unsafe fn assets_arg(ptr: *const c_char) -> Result<Option<Arc<dyn engine::Resolver>>, Failure> {
    // SAFETY: forwarded contract.
    let Some(dir) = (unsafe { optional_str(ptr, "assets") })? else {
        return Ok(None);
    };
    Ok(Some(Arc::new(engine::DirectoryResolver::new(dir)?)))
}

/// Checks an out-pointer and sets `*out` to NULL, so a caller sees NULL on every failure.
///
/// # Safety
///
/// `out` is NULL or valid for writing one pointer.
unsafe fn reset_out<T>(out: *mut *mut T) -> Result<(), Failure> {
    if out.is_null() {
        return Err(Failure::invalid_argument("out is NULL"));
    }
    // SAFETY: non-NULL and writable per this function's contract.
    unsafe { out.write(ptr::null_mut()) };
    Ok(())
}

/// Hands an image to C through `out`, checked by [`reset_out`].
///
/// # Safety
///
/// As [`reset_out`].
unsafe fn emit_image(output: Output, out: *mut *mut picsmith_image) {
    let image = Box::into_raw(Box::new(picsmith_image::from(output)));
    // SAFETY: `out` was checked by `reset_out` at the start of the call.
    unsafe { out.write(image) };
}

/// Decodes `input`, applies the transform described by `query` (the Imagizer transform
/// language, e.g. `"width=400&format=webp"`) and encodes the result. Unknown parameters become
/// warnings (see `picsmith_image_warning_count`); use a strict `picsmith_pipeline` to reject
/// them.
///
/// ```c
/// picsmith_image *img = NULL;
/// picsmith_status s = picsmith_process(buf, len, "w=400&format=webp", NULL, NULL, &img);
/// ```
///
/// Returns `PICSMITH_STATUS_OK` and stores a new image in `*out`, or another status with `*out`
/// set to NULL and the details in `picsmith_last_error_message()`.
///
/// # Safety
///
/// - `input` must be valid for reads of `input_len` bytes (NULL is rejected with
///   `PICSMITH_STATUS_INVALID_ARGUMENT`).
/// - `query` must be a NUL-terminated UTF-8 string (NULL or bad UTF-8 is rejected).
/// - `accept` is NULL or a NUL-terminated UTF-8 string: the request's `Accept` header, used by
///   `format=auto`.
/// - `limits` is NULL (the defaults) or points to a `picsmith_limits`.
/// - `out` must be valid for writing one pointer (NULL is rejected).
///
/// Ownership: the arguments are borrowed for the call only. The caller owns `*out` and releases
/// it with `picsmith_image_free`.
///
/// Thread safety: may be called from any number of threads at once.
#[no_mangle]
pub unsafe extern "C" fn picsmith_process(
    input: *const u8,
    input_len: usize,
    query: *const c_char,
    accept: *const c_char,
    limits: *const picsmith_limits,
    out: *mut *mut picsmith_image,
) -> picsmith_status {
    // SAFETY: the same contract, with no assets directory.
    unsafe {
        picsmith_process_with_assets(input, input_len, query, accept, limits, ptr::null(), out)
    }
}

/// `picsmith_process` with an assets directory: `mark` and layer `url` locations are files under
/// `assets` (`mark=/logo.png` is `<assets>/logo.png`; `..`, links leaving the directory and URLs
/// are refused). Since ABI 1.1.
///
/// ```c
/// picsmith_image *img = NULL;
/// picsmith_status s = picsmith_process_with_assets(buf, len, "mark=/logo.png&mark_pos=bottom,right",
///                                                  NULL, NULL, "/srv/images", &img);
/// ```
///
/// A directory that does not exist gives `PICSMITH_STATUS_INVALID_PARAMETER`.
///
/// # Safety
///
/// - As `picsmith_process`; `assets` is NULL (no directory) or a NUL-terminated UTF-8 path.
///
/// Ownership: the arguments are borrowed for the call only. The caller owns `*out` and releases
/// it with `picsmith_image_free`.
///
/// Thread safety: may be called from any number of threads at once.
#[no_mangle]
pub unsafe extern "C" fn picsmith_process_with_assets(
    input: *const u8,
    input_len: usize,
    query: *const c_char,
    accept: *const c_char,
    limits: *const picsmith_limits,
    assets: *const c_char,
    out: *mut *mut picsmith_image,
) -> picsmith_status {
    status_call(|| {
        // SAFETY: every pointer is checked by these helpers under the contract above.
        unsafe {
            reset_out(out)?;
            let input = input_bytes(input, input_len)?;
            let query = required_str(query, "query")?;
            let options = Options {
                accept: optional_str(accept, "accept")?.map(str::to_owned),
                limits: limits_arg(limits),
                resolver: assets_arg(assets)?,
                ..Options::default()
            };
            let output = engine::process(input, query, &options)?;
            emit_image(output, out);
        }
        Ok(())
    })
}

/// Parses and validates `query` once, for running on many images with
/// `picsmith_pipeline_run`. With `strict`, unknown or repeated parameters are errors
/// (`PICSMITH_STATUS_INVALID_PARAMETER`) instead of warnings.
///
/// ```c
/// picsmith_pipeline *p = NULL;
/// if (picsmith_pipeline_new("width=400&format=webp", true, &p) != PICSMITH_STATUS_OK) { ... }
/// ```
///
/// # Safety
///
/// - `query` must be a NUL-terminated UTF-8 string (NULL or bad UTF-8 is rejected).
/// - `out` must be valid for writing one pointer (NULL is rejected); it is set to NULL on
///   failure.
///
/// Ownership: `query` is borrowed for the call only. The caller owns `*out` and releases it with
/// `picsmith_pipeline_free`.
///
/// Thread safety: may be called from any number of threads at once.
#[no_mangle]
pub unsafe extern "C" fn picsmith_pipeline_new(
    query: *const c_char,
    strict: bool,
    out: *mut *mut picsmith_pipeline,
) -> picsmith_status {
    status_call(|| {
        // SAFETY: every pointer is checked by these helpers under the contract above.
        unsafe {
            reset_out(out)?;
            let query = required_str(query, "query")?;
            let pipeline = if strict {
                Pipeline::from_query_strict(query)?
            } else {
                Pipeline::from_query(query)?
            };
            out.write(Box::into_raw(Box::new(picsmith_pipeline { pipeline })));
        }
        Ok(())
    })
}

/// Runs a pipeline on one encoded image. Arguments and results are those of
/// `picsmith_process`; the image's warnings include the pipeline's parse warnings.
///
/// # Safety
///
/// - `pipeline` must be NULL (rejected) or a live pipeline from `picsmith_pipeline_new`.
/// - The other arguments as for `picsmith_process`.
///
/// Ownership: the arguments are borrowed for the call only; the caller owns `*out` and releases
/// it with `picsmith_image_free`.
///
/// Thread safety: one pipeline may be run from any number of threads at once; it must not be
/// freed while a run is in progress.
#[no_mangle]
pub unsafe extern "C" fn picsmith_pipeline_run(
    pipeline: *const picsmith_pipeline,
    input: *const u8,
    input_len: usize,
    accept: *const c_char,
    limits: *const picsmith_limits,
    out: *mut *mut picsmith_image,
) -> picsmith_status {
    // SAFETY: the same contract, with no assets directory.
    unsafe {
        picsmith_pipeline_run_with_assets(
            pipeline,
            input,
            input_len,
            accept,
            limits,
            ptr::null(),
            out,
        )
    }
}

/// `picsmith_pipeline_run` with an assets directory, as `picsmith_process_with_assets`.
/// Since ABI 1.1.
///
/// # Safety
///
/// - As `picsmith_pipeline_run`; `assets` is NULL or a NUL-terminated UTF-8 path.
///
/// Ownership: the arguments are borrowed for the call only; the caller owns `*out` and releases
/// it with `picsmith_image_free`.
///
/// Thread safety: as `picsmith_pipeline_run`.
#[no_mangle]
pub unsafe extern "C" fn picsmith_pipeline_run_with_assets(
    pipeline: *const picsmith_pipeline,
    input: *const u8,
    input_len: usize,
    accept: *const c_char,
    limits: *const picsmith_limits,
    assets: *const c_char,
    out: *mut *mut picsmith_image,
) -> picsmith_status {
    status_call(|| {
        // SAFETY: every pointer is checked by these helpers under the contract above.
        unsafe {
            reset_out(out)?;
            let pipeline = pipeline
                .as_ref()
                .ok_or_else(|| Failure::invalid_argument("pipeline is NULL"))?;
            let input = input_bytes(input, input_len)?;
            let accept = optional_str(accept, "accept")?;
            let options = Options {
                accept: accept.map(str::to_owned),
                limits: limits_arg(limits),
                resolver: assets_arg(assets)?,
                ..Options::default()
            };
            let output = pipeline.pipeline.run(input, &options)?;
            emit_image(output, out);
        }
        Ok(())
    })
}

/// Releases a pipeline. NULL is a no-op.
///
/// # Safety
///
/// `pipeline` must be NULL or a pipeline from `picsmith_pipeline_new` that has not been freed;
/// it must not be used afterwards.
///
/// Ownership: takes ownership of `pipeline`.
///
/// Thread safety: no other thread may be using `pipeline`.
#[no_mangle]
pub unsafe extern "C" fn picsmith_pipeline_free(pipeline: *mut picsmith_pipeline) {
    boundary((), || {
        if !pipeline.is_null() {
            // SAFETY: a live pipeline from `picsmith_pipeline_new`, per the contract above.
            drop(unsafe { Box::from_raw(pipeline) });
        }
    })
}

/// Borrows an image; NULL is `None`.
///
/// # Safety
///
/// `image` is NULL or a live image.
unsafe fn image_ref<'a>(image: *const picsmith_image) -> Option<&'a picsmith_image> {
    // SAFETY: per this function's contract.
    unsafe { image.as_ref() }
}

/// The encoded bytes of an image. Stores their length in `*len` (when `len` is not NULL) and
/// returns a pointer to the first byte; returns NULL with a length of 0 when `image` is NULL or
/// its data was taken with `picsmith_image_take_data`.
///
/// # Safety
///
/// `image` must be NULL or a live image; `len` must be NULL or valid for writing a `size_t`.
///
/// Ownership: the bytes belong to the image and stay valid until `picsmith_image_free` or
/// `picsmith_image_take_data` is called on it. Do not free them.
///
/// Thread safety: the accessors of one image may be called from several threads at once.
#[no_mangle]
pub unsafe extern "C" fn picsmith_image_data(
    image: *const picsmith_image,
    len: *mut usize,
) -> *const u8 {
    boundary(ptr::null(), || {
        // SAFETY: per the contract above.
        let data = unsafe { image_ref(image) }.and_then(|img| img.data.as_deref());
        if !len.is_null() {
            // SAFETY: non-NULL and writable per the contract above.
            unsafe { len.write(data.map_or(0, <[u8]>::len)) };
        }
        data.map_or(ptr::null(), <[u8]>::as_ptr)
    })
}

/// Moves the encoded bytes out of an image, so they can outlive it. On success
/// `*data` and `*len` describe a buffer the caller owns; the image keeps its size, format and
/// warnings, and `picsmith_image_data` returns NULL from then on. Fails with
/// `PICSMITH_STATUS_INVALID_ARGUMENT` when an argument is NULL or the data was already taken.
///
/// ```c
/// uint8_t *bytes; size_t len;
/// if (picsmith_image_take_data(img, &bytes, &len) == PICSMITH_STATUS_OK) {
///     picsmith_image_free(img);
///     ... use bytes ...
///     picsmith_buffer_free(bytes, len);
/// }
/// ```
///
/// # Safety
///
/// `image` must be NULL or a live image; `data` and `len` must be NULL or valid for writing
/// (both are rejected when NULL). `*data` is NULL and `*len` 0 on failure.
///
/// Ownership: the caller owns the buffer and must release it with `picsmith_buffer_free`,
/// passing back the same pointer and length. An empty image yields a NULL buffer of length 0.
///
/// Thread safety: no other thread may be using `image` during the call.
#[no_mangle]
pub unsafe extern "C" fn picsmith_image_take_data(
    image: *mut picsmith_image,
    data: *mut *mut u8,
    len: *mut usize,
) -> picsmith_status {
    status_call(|| {
        if data.is_null() || len.is_null() {
            return Err(Failure::invalid_argument("data or len is NULL"));
        }
        // SAFETY: non-NULL and writable per the contract above.
        unsafe {
            data.write(ptr::null_mut());
            len.write(0);
        }
        // SAFETY: NULL or a live image per the contract above.
        let image =
            unsafe { image.as_mut() }.ok_or_else(|| Failure::invalid_argument("image is NULL"))?;
        let bytes = image
            .data
            .take()
            .ok_or_else(|| Failure::invalid_argument("the data of this image was already taken"))?;
        if bytes.is_empty() {
            return Ok(());
        }
        // A boxed slice has no spare capacity, so the length alone rebuilds it when freed.
        let bytes = Box::into_raw(bytes.into_boxed_slice());
        // SAFETY: as above.
        unsafe {
            len.write(bytes.len());
            data.write(bytes.cast::<u8>());
        }
        Ok(())
    })
}

/// `picsmith_metadata` field: the dominant colour and a palette of up to five colours.
pub const PICSMITH_METADATA_COLORS: u32 = 1;
/// `picsmith_metadata` field: BlurHash, ThumbHash and a 64-bit difference hash.
pub const PICSMITH_METADATA_HASHES: u32 = 2;
/// `picsmith_metadata` field: a base64 JPEG of about 500 bytes.
pub const PICSMITH_METADATA_MINI_PREVIEW: u32 = 4;
/// `picsmith_metadata` field: frontal faces, `{x, y, width, height, score}` in displayed pixels.
pub const PICSMITH_METADATA_FACES: u32 = 8;

/// What an encoded image is, as a NUL-terminated UTF-8 JSON object: `fileSize`, `width` and
/// `height` (as displayed), `format`, `mimeType`, `hasAlpha`, `colorSpace`, `iccDescription`,
/// `orientation`, `exif` (tag name to value, as Imagizer's `meta=true` shows them), `jpeg`, and
/// the pixel fields that `fields` (an OR of `PICSMITH_METADATA_*`, 0 for headers only) asks
/// for. Since ABI 2.3.
///
/// ```c
/// char *json = NULL;
/// if (picsmith_metadata(buf, len, PICSMITH_METADATA_COLORS, NULL, &json) == PICSMITH_STATUS_OK) {
///     puts(json);
///     picsmith_string_free(json);
/// }
/// ```
///
/// # Safety
///
/// - `input` must be valid for reads of `input_len` bytes (NULL is rejected).
/// - `limits` is NULL (the defaults) or points to a `picsmith_limits`.
/// - `out` must be valid for writing one pointer (NULL is rejected); it is set to NULL on
///   failure.
///
/// Ownership: the caller owns `*out` and releases it with `picsmith_string_free`.
///
/// Thread safety: may be called from any number of threads at once.
#[no_mangle]
pub unsafe extern "C" fn picsmith_metadata(
    input: *const u8,
    input_len: usize,
    fields: u32,
    limits: *const picsmith_limits,
    out: *mut *mut c_char,
) -> picsmith_status {
    status_call(|| {
        // SAFETY: every pointer is checked by these helpers under the contract above.
        unsafe {
            reset_out(out)?;
            let input = input_bytes(input, input_len)?;
            let options = engine::MetadataOptions {
                limits: limits_arg(limits),
                colors: fields & PICSMITH_METADATA_COLORS != 0,
                hashes: fields & PICSMITH_METADATA_HASHES != 0,
                mini_preview: fields & PICSMITH_METADATA_MINI_PREVIEW != 0,
                faces: fields & PICSMITH_METADATA_FACES != 0,
            };
            let json = engine::metadata(input, &options)?.to_json();
            out.write(c_string(&json).into_raw());
        }
        Ok(())
    })
}

/// Releases a string from `picsmith_metadata` or a `picsmith_library_*` call. NULL is a no-op.
/// Since ABI 2.3.
///
/// # Safety
///
/// `text` must be NULL or a string from `picsmith_metadata` or a `picsmith_library_*` call
/// that has not been freed.
///
/// Ownership: takes ownership of the string.
///
/// Thread safety: no other thread may be using the string.
#[no_mangle]
pub unsafe extern "C" fn picsmith_string_free(text: *mut c_char) {
    boundary((), || {
        if !text.is_null() {
            // SAFETY: allocated by `CString::into_raw` in `picsmith_metadata`.
            drop(unsafe { CString::from_raw(text) });
        }
    })
}

/// Releases a buffer from `picsmith_image_take_data`. NULL is a no-op.
///
/// # Safety
///
/// `data` must be NULL or a buffer from `picsmith_image_take_data` that has not been freed, and
/// `len` must be the length returned with it.
///
/// Ownership: takes ownership of the buffer.
///
/// Thread safety: no other thread may be using the buffer.
#[no_mangle]
pub unsafe extern "C" fn picsmith_buffer_free(data: *mut u8, len: usize) {
    boundary((), || {
        if !data.is_null() {
            let slice = ptr::slice_from_raw_parts_mut(data, len);
            // SAFETY: allocated as a `Box<[u8]>` of `len` bytes by `picsmith_image_take_data`.
            drop(unsafe { Box::from_raw(slice) });
        }
    })
}

/// The image's width in pixels, or 0 when `image` is NULL.
///
/// # Safety
///
/// `image` must be NULL or a live image.
///
/// Thread safety: the accessors of one image may be called from several threads at once.
#[no_mangle]
pub unsafe extern "C" fn picsmith_image_width(image: *const picsmith_image) -> u32 {
    // SAFETY: per the contract above.
    boundary(0, || unsafe { image_ref(image) }.map_or(0, |img| img.width))
}

/// The image's height in pixels, or 0 when `image` is NULL.
///
/// # Safety
///
/// `image` must be NULL or a live image.
///
/// Thread safety: the accessors of one image may be called from several threads at once.
#[no_mangle]
pub unsafe extern "C" fn picsmith_image_height(image: *const picsmith_image) -> u32 {
    // SAFETY: per the contract above.
    boundary(0, || {
        unsafe { image_ref(image) }.map_or(0, |img| img.height)
    })
}

/// The image's format as a short lowercase name (`"jpeg"`, `"png"`, `"webp"`, `"gif"`,
/// `"avif"`, `"jxl"`), or NULL when `image` is NULL.
///
/// # Safety
///
/// `image` must be NULL or a live image.
///
/// Ownership: the string is static: valid for the life of the process, never freed.
///
/// Thread safety: may be called from several threads at once.
#[no_mangle]
pub unsafe extern "C" fn picsmith_image_format(image: *const picsmith_image) -> *const c_char {
    boundary(ptr::null(), || {
        // SAFETY: per the contract above.
        unsafe { image_ref(image) }.map_or(ptr::null(), |img| interned(img.format.name()))
    })
}

/// The image's MIME type (`"image/webp"`, ...), or NULL when `image` is NULL.
///
/// # Safety
///
/// `image` must be NULL or a live image.
///
/// Ownership: the string is static: valid for the life of the process, never freed.
///
/// Thread safety: may be called from several threads at once.
#[no_mangle]
pub unsafe extern "C" fn picsmith_image_mime(image: *const picsmith_image) -> *const c_char {
    boundary(ptr::null(), || {
        // SAFETY: per the contract above.
        unsafe { image_ref(image) }.map_or(ptr::null(), |img| interned(img.format.mime()))
    })
}

/// Whether the format was chosen from the Accept header (`format=auto`): an HTTP response must
/// then carry `Vary: Accept`. False when `image` is NULL.
///
/// # Safety
///
/// `image` must be NULL or a live image.
///
/// Thread safety: may be called from several threads at once.
#[no_mangle]
pub unsafe extern "C" fn picsmith_image_vary_accept(image: *const picsmith_image) -> bool {
    // SAFETY: per the contract above.
    boundary(false, || {
        unsafe { image_ref(image) }.is_some_and(|img| img.vary_accept)
    })
}

/// The quality the lossy encoder used (1-100; with `quality=auto`, the one the search chose), or
/// 0 for formats without one (PNG, GIF, lossless WebP) and when `image` is NULL. Since ABI 2.2.
///
/// # Safety
///
/// `image` must be NULL or a live image.
///
/// Thread safety: may be called from several threads at once.
#[no_mangle]
pub unsafe extern "C" fn picsmith_image_quality(image: *const picsmith_image) -> u8 {
    // SAFETY: per the contract above.
    boundary(0, || {
        unsafe { image_ref(image) }.map_or(0, |img| img.quality)
    })
}

/// How many warnings the transform produced (unknown parameters, options the output format
/// cannot honor), or 0 when `image` is NULL.
///
/// # Safety
///
/// `image` must be NULL or a live image.
///
/// Thread safety: may be called from several threads at once.
#[no_mangle]
pub unsafe extern "C" fn picsmith_image_warning_count(image: *const picsmith_image) -> usize {
    // SAFETY: per the contract above.
    boundary(0, || {
        unsafe { image_ref(image) }.map_or(0, |img| img.warnings.len())
    })
}

/// The parameter warning `index` concerns, as written in the query; NULL when `image` is NULL
/// or `index` is not below `picsmith_image_warning_count(image)`.
///
/// # Safety
///
/// `image` must be NULL or a live image.
///
/// Ownership: the string belongs to the image and is valid until `picsmith_image_free`.
///
/// Thread safety: may be called from several threads at once.
#[no_mangle]
pub unsafe extern "C" fn picsmith_image_warning_parameter(
    image: *const picsmith_image,
    index: usize,
) -> *const c_char {
    boundary(ptr::null(), || {
        // SAFETY: per the contract above.
        unsafe { image_ref(image) }
            .and_then(|img| img.warnings.get(index))
            .map_or(ptr::null(), |(parameter, _)| parameter.as_ptr())
    })
}

/// The message of warning `index`, for people; NULL when `image` is NULL or `index` is out of
/// range.
///
/// # Safety
///
/// `image` must be NULL or a live image.
///
/// Ownership: the string belongs to the image and is valid until `picsmith_image_free`.
///
/// Thread safety: may be called from several threads at once.
#[no_mangle]
pub unsafe extern "C" fn picsmith_image_warning_message(
    image: *const picsmith_image,
    index: usize,
) -> *const c_char {
    boundary(ptr::null(), || {
        // SAFETY: per the contract above.
        unsafe { image_ref(image) }
            .and_then(|img| img.warnings.get(index))
            .map_or(ptr::null(), |(_, message)| message.as_ptr())
    })
}

/// Releases an image, with its data unless it was taken. NULL is a no-op.
///
/// # Safety
///
/// `image` must be NULL or an image from `picsmith_process` / `picsmith_pipeline_run` that has
/// not been freed; neither it nor any pointer borrowed from it may be used afterwards.
///
/// Ownership: takes ownership of `image`.
///
/// Thread safety: no other thread may be using `image`.
#[no_mangle]
pub unsafe extern "C" fn picsmith_image_free(image: *mut picsmith_image) {
    boundary((), || {
        if !image.is_null() {
            // SAFETY: a live image from this library, per the contract above.
            drop(unsafe { Box::from_raw(image) });
        }
    })
}

/// The default limits: 64 MiB of input, 100 megapixels of source, 16384 pixels a side of
/// output.
///
/// ```c
/// picsmith_limits limits = picsmith_limits_default();
/// limits.max_source_pixels = 24000000;
/// ```
///
/// Thread safety: may be called from any thread.
#[no_mangle]
pub extern "C" fn picsmith_limits_default() -> picsmith_limits {
    boundary(
        picsmith_limits {
            max_input_bytes: 0,
            max_source_pixels: 0,
            max_output_side: 0,
            max_animation_frames: 0,
            max_animation_pixels: 0,
        },
        || Limits::default().into(),
    )
}

/// The stable code of the calling thread's last error (`"invalid_parameter"`,
/// `"limit_exceeded"`, `"unsupported_format"`, `"invalid_image"`, `"unsupported"`,
/// `"not_found"`, `"forbidden"`, `"upstream_error"`, `"storage_unavailable"`, `"internal"`,
/// `"invalid_argument"` or `"panic"`), or NULL when the last call returning a
/// `picsmith_status` on this thread succeeded.
///
/// Ownership: the string belongs to the library; it stays valid until the next call returning a
/// `picsmith_status` on this thread. Copy it to keep it.
///
/// Thread safety: each thread has its own last error.
#[no_mangle]
pub extern "C" fn picsmith_last_error_code() -> *const c_char {
    boundary(ptr::null(), || last_error_field(|e| Some(e.code.as_ptr())))
}

/// The HTTP status that answers the calling thread's last error (400 for `invalid_parameter`
/// and `invalid_argument`, 404 for `not_found`, 500 for `internal` and `panic`, ...), or 0
/// when the last call returning a `picsmith_status` on this thread succeeded. A server wrapping
/// picsmith answers with it instead of keeping its own table. Since ABI 2.5.
///
/// ```c
/// if (picsmith_process(data, len, query, NULL, NULL, &img) != PICSMITH_STATUS_OK)
///     http_respond(picsmith_last_error_http_status(), picsmith_last_error_message());
/// ```
///
/// Thread safety: each thread has its own last error.
#[no_mangle]
pub extern "C" fn picsmith_last_error_http_status() -> u16 {
    boundary(0, || {
        LAST_ERROR.with(|last| last.borrow().as_ref().map_or(0, |e| e.http_status))
    })
}

/// The message of the calling thread's last error, for people, or NULL when the last call
/// returning a `picsmith_status` on this thread succeeded.
///
/// Ownership and thread safety: as `picsmith_last_error_code`.
#[no_mangle]
pub extern "C" fn picsmith_last_error_message() -> *const c_char {
    boundary(ptr::null(), || {
        last_error_field(|e| Some(e.message.as_ptr()))
    })
}

/// The canonical name of the query parameter the calling thread's last error concerns (e.g.
/// `"width"`), or NULL when the error concerns no parameter or there is no error.
///
/// Ownership and thread safety: as `picsmith_last_error_code`.
#[no_mangle]
pub extern "C" fn picsmith_last_error_parameter() -> *const c_char {
    boundary(ptr::null(), || {
        last_error_field(|e| e.parameter.as_ref().map(|p| p.as_ptr()))
    })
}

/// The ABI major version of the loaded library; refuse to use it when it differs from
/// `PICSMITH_ABI_VERSION_MAJOR`.
///
/// Thread safety: may be called from any thread.
#[no_mangle]
pub extern "C" fn picsmith_abi_version_major() -> u32 {
    boundary(0, || PICSMITH_ABI_VERSION_MAJOR)
}

/// The ABI minor version of the loaded library; it must be at least the
/// `PICSMITH_ABI_VERSION_MINOR` the caller was built with.
///
/// Thread safety: may be called from any thread.
#[no_mangle]
pub extern "C" fn picsmith_abi_version_minor() -> u32 {
    boundary(0, || PICSMITH_ABI_VERSION_MINOR)
}

/// The picsmith release, e.g. `"0.1.0"`, the same as the Python and Node packages'.
///
/// Ownership: the string is static: valid for the life of the process, never freed.
///
/// Thread safety: may be called from any thread.
#[no_mangle]
pub extern "C" fn picsmith_version() -> *const c_char {
    boundary(ptr::null(), || interned(engine::VERSION))
}

/// Whether the library was built with the optional feature `name`. Today there is one:
/// `"vips"`, HEIF/HEIC, AVIF, JPEG XL and TIFF input and JPEG XL output through libvips
/// (without it those inputs fail with `PICSMITH_STATUS_UNSUPPORTED_FORMAT`). NULL, a name that
/// is not UTF-8 and an unknown name answer false. Since ABI 2.5.
///
/// ```c
/// bool reads_heic = picsmith_has_feature("vips");
/// ```
///
/// # Safety
///
/// `name` is NULL or a NUL-terminated string valid for the call.
///
/// Thread safety: may be called from any thread.
#[no_mangle]
pub unsafe extern "C" fn picsmith_has_feature(name: *const c_char) -> bool {
    boundary(false, || {
        if name.is_null() {
            return false;
        }
        // SAFETY: non-NULL and NUL-terminated per this function's contract.
        let name = unsafe { CStr::from_ptr(name) };
        name.to_str()
            .is_ok_and(|name| engine::features().contains(&name))
    })
}

/// Appends `expires` (when `expires_at` is not negative; Unix seconds) and an HMAC-SHA256
/// `signature` to `path_and_query`, for private images and signed transform URLs. Since ABI
/// 2.5.
///
/// ```c
/// char *url = NULL;
/// if (picsmith_sign_path((const uint8_t *)"secret", 6, "/cat.jpg?width=300", 1767225600, &url) == PICSMITH_STATUS_OK) {
///     puts(url);  // /cat.jpg?width=300&expires=1767225600&signature=...
///     picsmith_string_free(url);
/// }
/// ```
///
/// # Safety
///
/// `secret` is valid for reads of `secret_len` bytes; `path_and_query` a NUL-terminated UTF-8
/// string; `out` writable.
///
/// Ownership: the caller owns `*out` (release with `picsmith_string_free`).
#[no_mangle]
pub unsafe extern "C" fn picsmith_sign_path(
    secret: *const u8,
    secret_len: usize,
    path_and_query: *const c_char,
    expires_at: i64,
    out: *mut *mut c_char,
) -> picsmith_status {
    status_call(|| {
        // SAFETY: every pointer is checked by these helpers under the contract above.
        unsafe {
            reset_out(out)?;
            let secret = input_bytes(secret, secret_len)?;
            let path = required_str(path_and_query, "path_and_query")?;
            let expires = u64::try_from(expires_at).ok();
            let signed = engine::sign_path(secret, path, expires)?;
            out.write(c_string(&signed).into_raw());
        }
        Ok(())
    })
}

/// Checks a path made by `picsmith_sign_path` at time `now` (Unix seconds) and writes it
/// without `expires` and `signature`; `PICSMITH_STATUS_FORBIDDEN` when the signature is
/// missing, wrong or expired. Since ABI 2.5.
///
/// # Safety
///
/// As `picsmith_sign_path`.
///
/// Ownership: the caller owns `*out` (release with `picsmith_string_free`).
#[no_mangle]
pub unsafe extern "C" fn picsmith_verify_signed_path(
    secret: *const u8,
    secret_len: usize,
    path_and_query: *const c_char,
    now: u64,
    out: *mut *mut c_char,
) -> picsmith_status {
    status_call(|| {
        // SAFETY: every pointer is checked by these helpers under the contract above.
        unsafe {
            reset_out(out)?;
            let secret = input_bytes(secret, secret_len)?;
            let path = required_str(path_and_query, "path_and_query")?;
            let unsigned = engine::verify_signed_path(secret, path, now)?;
            out.write(c_string(&unsigned).into_raw());
        }
        Ok(())
    })
}

/// Checks a transform query against the parameters a deployment allows, so that a public
/// server cannot be made to burn CPU: `allowed` holds `count` parameter names, and an alias
/// (`w`) or a base64 form (`width64`) counts as its parameter. `PICSMITH_STATUS_FORBIDDEN`
/// names the first key that is not allowed (`picsmith_last_error_parameter`). Since ABI 2.6.
///
/// # Safety
///
/// `query` is a NUL-terminated UTF-8 string; `allowed` points at `count` of them (it may be
/// NULL when `count` is 0).
///
/// Thread safety: may be called from any thread.
#[no_mangle]
pub unsafe extern "C" fn picsmith_check_allowed_parameters(
    query: *const c_char,
    allowed: *const *const c_char,
    count: usize,
) -> picsmith_status {
    status_call(|| {
        // SAFETY: every pointer is checked by these helpers under the contract above.
        unsafe {
            let query = required_str(query, "query")?;
            let pointers: &[*const c_char] = match (allowed.is_null(), count) {
                (_, 0) => &[],
                (true, _) => return Err(Failure::invalid_argument("allowed is NULL".to_owned())),
                (false, n) => std::slice::from_raw_parts(allowed, n),
            };
            let names = pointers
                .iter()
                .map(|&name| required_str(name, "allowed"))
                .collect::<Result<Vec<_>, _>>()?;
            engine::params::check_allowed(query, &names)?;
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_follow_error_kinds_in_order() {
        for (i, kind) in ErrorKind::ALL.into_iter().enumerate() {
            let status = picsmith_status::from_kind(kind);
            // Kinds added after ABI 2.3 continue after the ABI's own statuses (7 and 8).
            let expected = if i < 6 { i + 1 } else { i + 3 };
            assert_eq!(status as usize, expected, "{kind}");
            assert_eq!(KIND_STATUS[i].0, kind);
        }
    }

    #[test]
    fn errors_are_recorded_per_call() {
        let mut image = ptr::null_mut();
        let status = unsafe {
            picsmith_process(
                b"x".as_ptr(),
                1,
                c"width=0".as_ptr(),
                ptr::null(),
                ptr::null(),
                &mut image,
            )
        };
        assert_eq!(status, picsmith_status::InvalidParameter);
        assert!(image.is_null());
        let read = |p: *const c_char| unsafe { CStr::from_ptr(p) }.to_str().unwrap();
        assert_eq!(read(picsmith_last_error_code()), "invalid_parameter");
        assert_eq!(read(picsmith_last_error_parameter()), "width");

        let mut pipeline = ptr::null_mut();
        let status = unsafe { picsmith_pipeline_new(c"w=10".as_ptr(), true, &mut pipeline) };
        assert_eq!(status, picsmith_status::Ok);
        assert!(picsmith_last_error_code().is_null());
        unsafe { picsmith_pipeline_free(pipeline) };
    }

    #[test]
    fn panics_become_a_status() {
        let status = status_call(|| panic!("boom"));
        assert_eq!(status, picsmith_status::Panic);
        let message = unsafe { CStr::from_ptr(picsmith_last_error_message()) };
        assert!(message.to_str().unwrap().contains("boom"));
    }

    #[test]
    fn interior_nul_does_not_truncate() {
        assert_eq!(c_string("a\0b").to_str().unwrap(), "a\u{FFFD}b");
    }
}
