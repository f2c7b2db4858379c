//! The one place where `picsmith::ErrorKind` becomes a Python exception.
//!
//! `InvalidParameter` must also be a `ValueError`, and `create_exception!` only takes one base,
//! so the classes are built with `type(name, bases, namespace)` when the module loads. Each
//! class carries its `code` and `http_status` as class attributes (so a server can read
//! `LimitExceeded.http_status` without an instance); every raised instance also gets `code`,
//! `http_status`, `parameter` and `message`.

use picsmith::ErrorKind;
use pyo3::exceptions::{PyException, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyTuple, PyType};

/// The Python module the classes claim to live in: the public facade re-exports them, which
/// keeps tracebacks short and lets pickle find them.
const PUBLIC_MODULE: &str = "picsmith";

struct Exceptions {
    base: Py<PyType>,
    by_kind: Vec<(ErrorKind, Py<PyType>)>,
}

static EXCEPTIONS: PyOnceLock<Exceptions> = PyOnceLock::new();

/// Class name, docstring and whether the class is also a `ValueError`, for each kind this
/// binding knows. A kind added to the core later falls back to `PicsmithError` itself, still
/// with the right `code` and `http_status`.
fn class_of(kind: ErrorKind) -> Option<(&'static str, &'static str, bool)> {
    Some(match kind {
        ErrorKind::InvalidParameter => (
            "InvalidParameter",
            "A parameter has a value of the wrong type or out of range, or a combination is \
             invalid. Also a ValueError.",
            true,
        ),
        ErrorKind::LimitExceeded => (
            "LimitExceeded",
            "The input or the requested output is larger than the configured Limits.",
            false,
        ),
        ErrorKind::UnsupportedFormat => (
            "UnsupportedFormat",
            "The input is in a format picsmith does not decode, or the output in one it cannot \
             encode.",
            false,
        ),
        ErrorKind::InvalidImage => (
            "InvalidImage",
            "The input claims a supported format but is empty, truncated or corrupt.",
            false,
        ),
        ErrorKind::Unsupported => (
            "Unsupported",
            "The parameter or value is part of the language but not implemented in this build.",
            false,
        ),
        ErrorKind::Internal => (
            "InternalError",
            "A bug or an unexpected failure inside picsmith or a codec.",
            false,
        ),
        ErrorKind::NotFound => ("NotFound", "No stored image by that id or path.", false),
        ErrorKind::Forbidden => (
            "Forbidden",
            "Refused by policy: a private or unlisted remote address, a switched-off origin, \
             a private image without a signature.",
            false,
        ),
        ErrorKind::UpstreamError => (
            "UpstreamError",
            "A remote source answered with an error, too slowly, or not at all.",
            false,
        ),
        ErrorKind::StorageUnavailable => (
            "StorageUnavailable",
            "The blob store or the catalog could not be reached or failed.",
            false,
        ),
        _ => return None,
    })
}

fn new_class<'py>(
    py: Python<'py>,
    name: &str,
    doc: &str,
    bases: Bound<'py, PyTuple>,
    attributes: &[(&str, Bound<'py, PyAny>)],
) -> PyResult<Py<PyType>> {
    let namespace = PyDict::new(py);
    namespace.set_item("__module__", PUBLIC_MODULE)?;
    namespace.set_item("__doc__", doc)?;
    for (key, value) in attributes {
        namespace.set_item(key, value)?;
    }
    let class = py
        .get_type::<PyType>()
        .call1((name, bases, namespace))?
        .cast_into::<PyType>()?;
    Ok(class.unbind())
}

fn build(py: Python<'_>) -> PyResult<Exceptions> {
    let none = py.None().into_bound(py);
    let base = new_class(
        py,
        "PicsmithError",
        "Base class of every picsmith error. Attributes: code (stable snake_case string), \
         http_status (int), parameter (canonical parameter name or None), message (str).",
        PyTuple::new(py, [py.get_type::<PyException>()])?,
        &[("parameter", none)],
    )?;
    let mut by_kind = Vec::with_capacity(ErrorKind::ALL.len());
    for kind in ErrorKind::ALL {
        let Some((name, doc, is_value_error)) = class_of(kind) else {
            continue;
        };
        let mut bases = vec![base.bind(py).clone()];
        if is_value_error {
            bases.push(py.get_type::<PyValueError>());
        }
        let class = new_class(
            py,
            name,
            doc,
            PyTuple::new(py, bases)?,
            &[
                ("code", kind.code().into_pyobject(py)?.into_any()),
                (
                    "http_status",
                    kind.http_status().into_pyobject(py)?.into_any(),
                ),
            ],
        )?;
        by_kind.push((kind, class));
    }
    Ok(Exceptions { base, by_kind })
}

fn exceptions(py: Python<'_>) -> PyResult<&'static Exceptions> {
    EXCEPTIONS.get_or_try_init(py, || build(py))
}

/// Adds `PicsmithError` and its subclasses to the module.
pub fn register(module: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = module.py();
    let table = exceptions(py)?;
    module.add("PicsmithError", table.base.bind(py))?;
    for (kind, class) in &table.by_kind {
        let (name, _, _) = class_of(*kind).expect("only known kinds are in the table");
        module.add(name, class.bind(py))?;
    }
    Ok(())
}

/// The Python exception for a core error, with its attributes set.
pub fn to_py_err(py: Python<'_>, error: &picsmith::Error) -> PyErr {
    match build_instance(py, error) {
        Ok(instance) => PyErr::from_value(instance),
        // Only reachable when the interpreter cannot allocate; report that instead.
        Err(failure) => failure,
    }
}

fn build_instance<'py>(py: Python<'py>, error: &picsmith::Error) -> PyResult<Bound<'py, PyAny>> {
    let table = exceptions(py)?;
    let class = table
        .by_kind
        .iter()
        .find(|(kind, _)| *kind == error.kind())
        .map_or(&table.base, |(_, class)| class);
    let instance = class.bind(py).call1((error.message(),))?;
    instance.setattr("code", error.code())?;
    instance.setattr("http_status", error.http_status())?;
    instance.setattr("parameter", error.parameter())?;
    instance.setattr("message", error.message())?;
    Ok(instance)
}
