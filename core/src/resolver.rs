//! Where watermark and layer images come from.
//!
//! A transform names other images by location (`mark=/logo.png`, a layer's `url`). The engine
//! does not decide how a location becomes bytes: the host supplies a [`Resolver`], so a server
//! can serve them from its own storage with its own rules, and an embedding without one simply
//! has no layer images.

use std::fmt;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use crate::error::{Error, ErrorKind, Result};
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

/// Serves the files under one directory: the location `/logos/mark.png` (or `logos/mark.png`)
/// is `<root>/logos/mark.png`.
///
/// It refuses `..` components, symbolic links that lead outside the root, files larger than
/// `limits.max_input_bytes` (checked before they are read) and URLs: `http(s)://` locations
/// are [`ErrorKind::Unsupported`] here, a missing file is [`ErrorKind::InvalidParameter`].
///
/// ```
/// use picsmith::{DirectoryResolver, ErrorKind, Limits, Resolver};
///
/// let dir = std::env::temp_dir();
/// let resolver = DirectoryResolver::new(&dir).unwrap();
/// let err = resolver.fetch("/../etc/passwd", &Limits::default()).unwrap_err();
/// assert_eq!(err.kind(), ErrorKind::InvalidParameter);
/// ```
#[derive(Debug, Clone)]
pub struct DirectoryResolver {
    /// Canonical (symlink-free, absolute) path of the root.
    root: PathBuf,
}

impl DirectoryResolver {
    /// A resolver serving the files under `root`, which must be an existing directory.
    pub fn new(root: impl AsRef<Path>) -> Result<Self> {
        let given = root.as_ref();
        let root = given.canonicalize().map_err(|e| {
            Error::new(
                ErrorKind::InvalidParameter,
                format!("assets directory {}: {e}", given.display()),
            )
        })?;
        if !root.is_dir() {
            return Err(Error::new(
                ErrorKind::InvalidParameter,
                format!("assets directory {} is not a directory", given.display()),
            ));
        }
        Ok(DirectoryResolver { root })
    }

    /// The canonical root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The file a location names, after refusing anything that could leave the root.
    fn path_of(&self, location: &str) -> Result<PathBuf> {
        let refuse = |why: &str| {
            Error::new(
                ErrorKind::InvalidParameter,
                format!("location '{location}' {why}"),
            )
        };
        let lower = location.trim().to_ascii_lowercase();
        if lower.starts_with("http://") || lower.starts_with("https://") || lower.starts_with("//")
        {
            return Err(Error::new(
                ErrorKind::Unsupported,
                format!(
                    "location '{location}' is a URL; this resolver serves only files of its \
                     assets directory"
                ),
            ));
        }
        if location.contains("://") || location.contains('\0') || location.contains('\\') {
            return Err(refuse("is not a path inside the assets directory"));
        }
        let mut path = self.root.clone();
        let mut depth = 0;
        for part in location.trim().split('/') {
            match part {
                "" | "." => {}
                ".." => return Err(refuse("may not contain '..'")),
                name => {
                    path.push(name);
                    depth += 1;
                }
            }
        }
        if depth == 0 {
            return Err(refuse("names no file"));
        }
        let not_found = || refuse("names no file in the assets directory");
        // Resolving every symlink and comparing with the root catches links that leave it.
        let real = path.canonicalize().map_err(|_| not_found())?;
        if !real.starts_with(&self.root) {
            return Err(refuse("leads outside the assets directory"));
        }
        if !real.is_file() {
            return Err(not_found());
        }
        Ok(real)
    }
}

impl Resolver for DirectoryResolver {
    fn fetch(&self, location: &str, limits: &Limits) -> Result<Vec<u8>> {
        let path = self.path_of(location)?;
        let too_large = |size: u64| {
            Error::new(
                ErrorKind::LimitExceeded,
                format!(
                    "'{location}' is {size} bytes; the limit is {}",
                    limits.max_input_bytes
                ),
            )
        };
        let unreadable = |e: std::io::Error| {
            Error::new(
                ErrorKind::InvalidParameter,
                format!("'{location}' cannot be read: {e}"),
            )
        };
        let file = File::open(&path).map_err(unreadable)?;
        let size = file.metadata().map_err(unreadable)?.len();
        if size > limits.max_input_bytes {
            return Err(too_large(size));
        }
        // The file may grow between the size check and the read: never read past the limit.
        let mut bytes = Vec::with_capacity(size as usize);
        file.take(limits.max_input_bytes.saturating_add(1))
            .read_to_end(&mut bytes)
            .map_err(unreadable)?;
        if bytes.len() as u64 > limits.max_input_bytes {
            return Err(too_large(bytes.len() as u64));
        }
        Ok(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A fresh directory under the system temp directory, removed on drop.
    pub(crate) struct TempDir(pub PathBuf);

    impl TempDir {
        pub fn new(tag: &str) -> Self {
            static COUNTER: AtomicUsize = AtomicUsize::new(0);
            let path = std::env::temp_dir().join(format!(
                "picsmith-{tag}-{}-{}",
                std::process::id(),
                COUNTER.fetch_add(1, Ordering::Relaxed)
            ));
            std::fs::create_dir_all(&path).unwrap();
            TempDir(path)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn serves_files_under_the_root_with_or_without_a_leading_slash() {
        let dir = TempDir::new("resolver");
        std::fs::create_dir(dir.0.join("logos")).unwrap();
        std::fs::write(dir.0.join("logos/mark.png"), b"abc").unwrap();
        let resolver = DirectoryResolver::new(&dir.0).unwrap();
        let limits = Limits::default();
        assert_eq!(resolver.fetch("/logos/mark.png", &limits).unwrap(), b"abc");
        assert_eq!(resolver.fetch("logos/./mark.png", &limits).unwrap(), b"abc");
        let missing = resolver.fetch("/logos/none.png", &limits).unwrap_err();
        assert_eq!(missing.kind(), ErrorKind::InvalidParameter);
        assert_eq!(
            resolver.fetch("/logos", &limits).unwrap_err().kind(),
            ErrorKind::InvalidParameter
        );
    }

    #[test]
    fn refuses_escapes_urls_and_large_files() {
        let outer = TempDir::new("resolver-outer");
        std::fs::write(outer.0.join("secret.png"), b"secret").unwrap();
        let root = outer.0.join("root");
        std::fs::create_dir(&root).unwrap();
        std::fs::write(root.join("big.png"), vec![0u8; 100]).unwrap();
        std::os::unix::fs::symlink(outer.0.join("secret.png"), root.join("link.png")).unwrap();
        std::os::unix::fs::symlink(&outer.0, root.join("up")).unwrap();
        let resolver = DirectoryResolver::new(&root).unwrap();
        let limits = Limits::default();
        for escape in [
            "../secret.png",
            "/../secret.png",
            "a/../../secret.png",
            "link.png",
            "up/secret.png",
            "file:///etc/passwd",
            "",
            "/",
        ] {
            let err = resolver.fetch(escape, &limits).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidParameter, "{escape}: {err}");
        }
        // An absolute path is read relative to the root, never as a system path.
        assert!(
            resolver
                .fetch(&outer.0.join("secret.png").to_string_lossy(), &limits)
                .is_err()
        );
        for url in [
            "http://example.com/a.png",
            "HTTPS://example.com/a.png",
            "//example.com/a.png",
        ] {
            let err = resolver.fetch(url, &limits).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Unsupported, "{url}");
        }
        let small = Limits {
            max_input_bytes: 99,
            ..Limits::default()
        };
        let err = resolver.fetch("big.png", &small).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::LimitExceeded);
        assert!(DirectoryResolver::new(root.join("big.png")).is_err());
    }
}
