//! Where watermark and layer images come from.
//!
//! A transform names other images by location (`mark=/logo.png`, a layer's `url`). The engine
//! does not decide how a location becomes bytes: the host supplies a [`Resolver`], so a server
//! can serve them from its own storage with its own rules, and an embedding without one simply
//! has no layer images.

use std::fmt;

use crate::error::Result;
use crate::limits::Limits;

/// Turns a location written in a query (`/logo.png`, `logos/mark.png`) into image bytes.
///
/// Implementations must refuse anything outside what they are meant to serve (paths escaping
/// their root, hosts not allowed) and must not read more than `limits.max_input_bytes`.
///
/// ```
/// use picsmith::{Error, ErrorKind, Limits, Resolver};
///
/// /// Every location resolves to the same built-in logo.
/// #[derive(Debug)]
/// struct OneLogo(Vec<u8>);
///
/// impl Resolver for OneLogo {
///     fn fetch(&self, _location: &str, _limits: &Limits) -> picsmith::Result<Vec<u8>> {
///         Ok(self.0.clone())
///     }
/// }
/// ```
pub trait Resolver: Send + Sync + fmt::Debug {
    /// The bytes of the image at `location`, or an error saying why there are none.
    fn fetch(&self, location: &str, limits: &Limits) -> Result<Vec<u8>>;
}
