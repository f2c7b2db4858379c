//! Signed paths: a path and query that carry an HMAC-SHA256 of themselves (and optionally an
//! expiry), so a server can serve private images, or only the transforms it issued, to whoever
//! holds the link.
//!
//! The signature covers every byte before it, `expires` included, and must be the last
//! parameter: `/a.jpg?width=300&expires=1767225600&signature=<base64url>`. Anything that
//! changes the path, a parameter or the expiry invalidates it.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::error::{Error, ErrorKind, Result};

const SIGNATURE: &str = "signature";
const EXPIRES: &str = "expires";

fn mac(secret: &[u8]) -> Result<Hmac<Sha256>> {
    if secret.is_empty() {
        return Err(Error::for_parameter(
            ErrorKind::InvalidParameter,
            "secret",
            "the signing secret is empty",
        ));
    }
    Hmac::<Sha256>::new_from_slice(secret).map_err(|e| Error::internal(format!("signing key: {e}")))
}

fn separator(path_and_query: &str) -> char {
    if path_and_query.contains('?') {
        '&'
    } else {
        '?'
    }
}

/// `path_and_query` with `expires` (when given, in Unix seconds) and `signature` appended.
///
/// ```
/// let signed = picsmith::sign_path(b"secret", "/a.jpg?width=300", Some(4_102_444_800)).unwrap();
/// assert!(signed.starts_with("/a.jpg?width=300&expires=4102444800&signature="));
/// let unsigned = picsmith::verify_signed_path(b"secret", &signed, 1_767_225_600).unwrap();
/// assert_eq!(unsigned, "/a.jpg?width=300");
/// ```
pub fn sign_path(secret: &[u8], path_and_query: &str, expires_at: Option<u64>) -> Result<String> {
    let mut signed = path_and_query.to_owned();
    if let Some(expires) = expires_at {
        signed.push(separator(&signed));
        signed.push_str(&format!("{EXPIRES}={expires}"));
    }
    let mut mac = mac(secret)?;
    mac.update(signed.as_bytes());
    let signature = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
    signed.push(separator(&signed));
    signed.push_str(&format!("{SIGNATURE}={signature}"));
    Ok(signed)
}

fn refused(why: impl std::fmt::Display) -> Error {
    Error::for_parameter(ErrorKind::Forbidden, SIGNATURE, why.to_string())
}

/// Checks a path made by [`sign_path`] at time `now` (Unix seconds) and answers it without
/// `expires` and `signature`. A missing, wrong or expired signature is
/// [`ErrorKind::Forbidden`]; the comparison takes the same time whatever the signature.
pub fn verify_signed_path(secret: &[u8], path_and_query: &str, now: u64) -> Result<String> {
    let marker_at = ["?", "&"]
        .iter()
        .filter_map(|sep| path_and_query.rfind(&format!("{sep}{SIGNATURE}=")))
        .max()
        .ok_or_else(|| refused("the URL is not signed"))?;
    let signed_part = &path_and_query[..marker_at];
    let given = &path_and_query[marker_at + SIGNATURE.len() + 2..];
    let given = URL_SAFE_NO_PAD
        .decode(given)
        .map_err(|_| refused("the signature is not base64url"))?;
    let mut mac = mac(secret)?;
    mac.update(signed_part.as_bytes());
    mac.verify_slice(&given)
        .map_err(|_| refused("the signature does not match"))?;

    let (path, query) = signed_part.split_once('?').unwrap_or((signed_part, ""));
    let mut kept = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        match pair.strip_prefix(&format!("{EXPIRES}=")) {
            Some(expires) => {
                let expires: u64 = expires
                    .parse()
                    .map_err(|_| refused("expires is not a number"))?;
                if now > expires {
                    return Err(refused(format!("the URL expired at {expires}")));
                }
            }
            None => kept.push(pair),
        }
    }
    Ok(if kept.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{}", kept.join("&"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_with_and_without_query_and_expiry() {
        for path in ["/a.jpg", "/a.jpg?width=3&format=webp"] {
            for expires in [None, Some(2000)] {
                let signed = sign_path(b"k", path, expires).unwrap();
                assert_eq!(verify_signed_path(b"k", &signed, 1000).unwrap(), path);
            }
        }
    }

    #[test]
    fn tampering_expiry_and_missing_signatures_are_refused() {
        let signed = sign_path(b"k", "/a.jpg?width=300", Some(2000)).unwrap();
        for bad in [
            signed.replace("width=300", "width=3000"),
            signed.replace("/a.jpg", "/b.jpg"),
            signed.replace("expires=2000", "expires=9000"),
            format!("{signed}x"),
            "/a.jpg?width=300".to_owned(),
            "/a.jpg?signature=%%%".to_owned(),
        ] {
            let err = verify_signed_path(b"k", &bad, 1000).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Forbidden, "{bad}");
        }
        assert!(verify_signed_path(b"other", &signed, 1000).is_err());
        let err = verify_signed_path(b"k", &signed, 2001).unwrap_err();
        assert!(err.message().contains("expired"), "{err}");
        assert_eq!(
            sign_path(b"", "/a", None).unwrap_err().kind(),
            ErrorKind::InvalidParameter
        );
    }
}
