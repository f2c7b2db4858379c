//! The one place where picsmith errors become JavaScript errors.
//!
//! A picsmith error reaches JavaScript as a plain `Error` whose `code` is the stable
//! [`picsmith::ErrorKind::code`], with `httpStatus` and, when the error concerns one parameter,
//! `parameter`. Misuse of the Node API itself (an option out of range) is not a picsmith error
//! and is reported with Node's own `ERR_INVALID_ARG_VALUE` code instead.

use napi::{Env, JsValue, Status};

/// A JavaScript error carrying the picsmith code, HTTP status and parameter of `err`.
pub(crate) fn to_js_error(env: &Env, err: &picsmith::Error) -> napi::Error {
    js_error(
        env,
        err.code(),
        err.message(),
        Some(err.http_status()),
        err.parameter(),
    )
}

/// An error for an option of the Node API that has the right type but an unusable value.
pub(crate) fn invalid_option(env: &Env, option: &str, message: &str) -> napi::Error {
    js_error(
        env,
        "ERR_INVALID_ARG_VALUE",
        &format!("The option {option} {message}"),
        None,
        None,
    )
}

/// napi can only give an error a `code`; the other properties need the object itself. It is
/// built on the JS thread and handed to napi by reference, so it is thrown or rejected as is.
fn js_error(
    env: &Env,
    code: &str,
    message: &str,
    http_status: Option<u16>,
    parameter: Option<&str>,
) -> napi::Error {
    let build = || -> napi::Result<napi::Error> {
        let mut object =
            env.create_error(napi::Error::new(Status::GenericFailure, message.to_owned()))?;
        object.set("code", code)?;
        if let Some(status) = http_status {
            object.set("httpStatus", u32::from(status))?;
        }
        if let Some(parameter) = parameter {
            object.set("parameter", parameter)?;
        }
        Ok(napi::Error::from(object.to_unknown()))
    };
    build().unwrap_or_else(|failure| failure)
}

/// A panic inside the engine is a bug; it becomes an `internal` error instead of unwinding
/// across the FFI boundary of a libuv worker, which would abort the whole process.
pub(crate) fn from_panic(payload: Box<dyn std::any::Any + Send>) -> picsmith::Error {
    let detail = payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_owned());
    picsmith::Error::new(
        picsmith::ErrorKind::Internal,
        format!("picsmith panicked: {detail}"),
    )
}
