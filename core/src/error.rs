//! The one error type of picsmith. Every binding maps [`ErrorKind`] in exactly one place, using
//! the stable [`ErrorKind::code`] and [`ErrorKind::http_status`] defined here.

use std::fmt;

/// What went wrong, as a caller needs to react to it.
///
/// ```
/// use picsmith::ErrorKind;
/// assert_eq!(ErrorKind::LimitExceeded.code(), "limit_exceeded");
/// assert_eq!(ErrorKind::LimitExceeded.http_status(), 413);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A parameter has a value of the wrong type, out of range, or a combination is invalid.
    InvalidParameter,
    /// The input or the requested output is larger than the configured [`crate::Limits`].
    LimitExceeded,
    /// The input is in a format picsmith does not decode (or the output in one it cannot encode).
    UnsupportedFormat,
    /// The input claims a supported format but is empty, truncated or corrupt.
    InvalidImage,
    /// The parameter or value is part of the language but not implemented in this build.
    Unsupported,
    /// A bug or an unexpected failure inside picsmith or a codec.
    Internal,
    /// No image (record, blob or stored path) by that id or path.
    NotFound,
    /// The request is understood but refused by policy: a remote address that is private or
    /// not allowed, an origin parameter that is switched off, a private file without a signature.
    Forbidden,
    /// A remote source answered with an error, too slowly, or not at all.
    UpstreamError,
    /// The blob store or the catalog could not be reached or failed.
    StorageUnavailable,
}

impl ErrorKind {
    /// Every kind, in declaration order; bindings use it to build their exception tables.
    pub const ALL: [ErrorKind; 10] = [
        ErrorKind::InvalidParameter,
        ErrorKind::LimitExceeded,
        ErrorKind::UnsupportedFormat,
        ErrorKind::InvalidImage,
        ErrorKind::Unsupported,
        ErrorKind::Internal,
        ErrorKind::NotFound,
        ErrorKind::Forbidden,
        ErrorKind::UpstreamError,
        ErrorKind::StorageUnavailable,
    ];

    /// Stable snake_case code, part of the public API of every binding and of the server.
    pub const fn code(self) -> &'static str {
        match self {
            ErrorKind::InvalidParameter => "invalid_parameter",
            ErrorKind::LimitExceeded => "limit_exceeded",
            ErrorKind::UnsupportedFormat => "unsupported_format",
            ErrorKind::InvalidImage => "invalid_image",
            ErrorKind::Unsupported => "unsupported",
            ErrorKind::Internal => "internal",
            ErrorKind::NotFound => "not_found",
            ErrorKind::Forbidden => "forbidden",
            ErrorKind::UpstreamError => "upstream_error",
            ErrorKind::StorageUnavailable => "storage_unavailable",
        }
    }

    /// The HTTP status a server answers with for this kind.
    pub const fn http_status(self) -> u16 {
        match self {
            ErrorKind::InvalidParameter => 400,
            ErrorKind::LimitExceeded => 413,
            ErrorKind::UnsupportedFormat => 415,
            ErrorKind::InvalidImage => 422,
            ErrorKind::Unsupported => 501,
            ErrorKind::Internal => 500,
            ErrorKind::NotFound => 404,
            ErrorKind::Forbidden => 403,
            ErrorKind::UpstreamError => 502,
            ErrorKind::StorageUnavailable => 503,
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// An error with its kind, a message for people, and the parameter it concerns, if any.
///
/// ```
/// let err = picsmith::Pipeline::from_query("width=0").unwrap_err();
/// assert_eq!(err.kind(), picsmith::ErrorKind::InvalidParameter);
/// assert_eq!(err.parameter(), Some("width"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    kind: ErrorKind,
    message: String,
    parameter: Option<String>,
}

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
            parameter: None,
        }
    }

    /// An error about one parameter; the message should name the value and what is accepted.
    pub fn for_parameter(kind: ErrorKind, parameter: &str, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
            parameter: Some(parameter.to_owned()),
        }
    }

    pub(crate) fn invalid_image(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::InvalidImage, message)
    }

    pub(crate) fn internal(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Internal, message)
    }

    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// Shorthand for `self.kind().code()`.
    pub fn code(&self) -> &'static str {
        self.kind.code()
    }

    /// Shorthand for `self.kind().http_status()`.
    pub fn http_status(&self) -> u16 {
        self.kind.http_status()
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    /// The canonical name of the parameter the error concerns.
    pub fn parameter(&self) -> Option<&str> {
        self.parameter.as_deref()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

/// Result with picsmith's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
