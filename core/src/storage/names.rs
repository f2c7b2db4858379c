//! Names, folders and ids: what a caller may write into a path, and how ids are made.
//!
//! File names follow ImageKit's rule (characters outside `a-zA-Z0-9._-` become `_`), folders
//! allow `a-zA-Z0-9/_-` the same way, and anything that could climb out of the storage root
//! (`..`, NUL, backslashes, absolute paths given as names) is refused rather than rewritten,
//! because silently mapping an attack onto a legal name would hide it.

use crate::error::{Error, ErrorKind, Result};

/// Longest file name accepted, in bytes, after sanitising.
const MAX_NAME_LEN: usize = 255;
/// Longest folder path accepted, in bytes.
const MAX_FOLDER_LEN: usize = 1024;
/// Characters of generated ids and unique suffixes.
const ID_ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Refuses what could escape the root whatever the sanitising does afterwards.
fn refuse_traversal(parameter: &str, value: &str) -> Result<()> {
    let why = if value.contains('\0') {
        Some("contains a NUL byte")
    } else if value.contains('\\') {
        Some("contains a backslash")
    } else if value
        .split('/')
        .any(|segment| segment == ".." || segment == ".")
    {
        Some("contains a '.' or '..' segment")
    } else {
        None
    };
    match why {
        Some(why) => Err(Error::for_parameter(
            ErrorKind::InvalidParameter,
            parameter,
            format!("{parameter} '{}' {why}", value.escape_debug()),
        )),
        None => Ok(()),
    }
}

/// ImageKit's file-name rule: `a-zA-Z0-9._-` stay, every other character becomes `_`.
///
/// ```
/// assert_eq!(picsmith::storage::sanitize_file_name("my photo (1).jpg").unwrap(), "my_photo__1_.jpg");
/// assert!(picsmith::storage::sanitize_file_name("../etc/passwd").is_err());
/// ```
pub fn sanitize_file_name(name: &str) -> Result<String> {
    refuse_traversal("fileName", name)?;
    if name.contains('/') {
        return Err(Error::for_parameter(
            ErrorKind::InvalidParameter,
            "fileName",
            format!("fileName '{name}' contains '/': give the folder separately"),
        ));
    }
    let clean: String = name
        .chars()
        .map(|c| match c {
            'a'..='z' | 'A'..='Z' | '0'..='9' | '.' | '_' | '-' => c,
            _ => '_',
        })
        .collect();
    if clean.is_empty() || clean.chars().all(|c| c == '.') {
        return Err(Error::for_parameter(
            ErrorKind::InvalidParameter,
            "fileName",
            "fileName is empty",
        ));
    }
    if clean.len() > MAX_NAME_LEN {
        return Err(Error::for_parameter(
            ErrorKind::InvalidParameter,
            "fileName",
            format!(
                "fileName is {} bytes long; at most {MAX_NAME_LEN}",
                clean.len()
            ),
        ));
    }
    Ok(clean)
}

/// ImageKit's folder rule, normalised to `/a/b/` (the root is `/`): `a-zA-Z0-9/_-` stay, every
/// other character becomes `_`, repeated slashes collapse.
///
/// ```
/// assert_eq!(picsmith::storage::normalize_folder("images//2024 summer").unwrap(), "/images/2024_summer/");
/// assert_eq!(picsmith::storage::normalize_folder("").unwrap(), "/");
/// assert!(picsmith::storage::normalize_folder("/a/../../b").is_err());
/// ```
pub fn normalize_folder(folder: &str) -> Result<String> {
    refuse_traversal("folder", folder)?;
    let mut out = String::from("/");
    for segment in folder.split('/').filter(|s| !s.is_empty()) {
        out.extend(segment.chars().map(|c| match c {
            'a'..='z' | 'A'..='Z' | '0'..='9' | '_' | '-' => c,
            _ => '_',
        }));
        out.push('/');
    }
    if out.len() > MAX_FOLDER_LEN {
        return Err(Error::for_parameter(
            ErrorKind::InvalidParameter,
            "folder",
            format!(
                "folder is {} bytes long; at most {MAX_FOLDER_LEN}",
                out.len()
            ),
        ));
    }
    Ok(out)
}

/// Splits a path such as `/products/shoe.jpg` into its normalised folder and file name, with
/// the same rules as [`normalize_folder`] and [`sanitize_file_name`].
///
/// ```
/// let (folder, name) = picsmith::storage::split_path("/products/red shoe.jpg").unwrap();
/// assert_eq!((folder.as_str(), name.as_str()), ("/products/", "red_shoe.jpg"));
/// ```
pub fn split_path(path: &str) -> Result<(String, String)> {
    refuse_traversal("path", path)?;
    let (folder, name) = path.rsplit_once('/').unwrap_or(("", path));
    Ok((normalize_folder(folder)?, sanitize_file_name(name)?))
}

/// `n` random characters of `[0-9A-Za-z]` from the operating system's generator.
pub(crate) fn random_token(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    // Rejection sampling keeps every character equally likely (62 does not divide 256).
    let mut out = String::with_capacity(n);
    while out.len() < n {
        getrandom::fill(&mut bytes).expect("the operating system's random generator works");
        for &b in &bytes {
            if out.len() == n {
                break;
            }
            if (b as usize) < 248 {
                out.push(ID_ALPHABET[b as usize % 62] as char);
            }
        }
    }
    out
}

/// A new image id: 12 characters of `[0-9A-Za-z]`, about 71 random bits, so ids can be
/// public without being guessable.
pub(crate) fn new_id() -> String {
    random_token(12)
}

/// `name.jpg` → `name_AbC123.jpg`: ImageKit's unique suffix, before the extension.
pub(crate) fn with_unique_suffix(name: &str) -> String {
    let suffix = random_token(6);
    match name.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() => format!("{stem}_{suffix}.{ext}"),
        _ => format!("{name}_{suffix}"),
    }
}

/// ImageKit's `customCoordinates`, `x,y,width,height` of an area inside an image of
/// `image_width`×`image_height`, normalised (`" 10, 10,100,100"` → `"10,10,100,100"`).
pub(crate) fn check_custom_coordinates(
    text: &str,
    image_width: u32,
    image_height: u32,
) -> Result<String> {
    let bad = |why: &str| {
        Err(Error::for_parameter(
            ErrorKind::InvalidParameter,
            "customCoordinates",
            format!("customCoordinates '{}' {why}", text.escape_debug()),
        ))
    };
    let numbers: Vec<u64> = match text.split(',').map(|n| n.trim().parse()).collect() {
        Ok(numbers) => numbers,
        Err(_) => return bad("must be x,y,width,height in whole pixels"),
    };
    let [x, y, width, height] = numbers[..] else {
        return bad("must be x,y,width,height in whole pixels");
    };
    if width == 0 || height == 0 {
        return bad("has an empty area");
    }
    if x + width > u64::from(image_width) || y + height > u64::from(image_height) {
        return bad(&format!(
            "reaches outside the {image_width}x{image_height} image"
        ));
    }
    Ok(format!("{x},{y},{width},{height}"))
}

/// A tag as stored: trimmed, non-empty, without `%` (ImageKit refuses it), at most 100 bytes.
pub(crate) fn check_tag(tag: &str) -> Result<String> {
    let tag = tag.trim();
    let bad = |why: &str| {
        Err(Error::for_parameter(
            ErrorKind::InvalidParameter,
            "tags",
            format!("tag '{}' {why}", tag.escape_debug()),
        ))
    };
    if tag.is_empty() {
        return bad("is empty");
    }
    if tag.contains('%') || tag.contains(',') || tag.chars().any(char::is_control) {
        return bad("may not contain '%', ',' or control characters");
    }
    if tag.len() > 100 {
        return bad("is longer than 100 bytes");
    }
    Ok(tag.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traversal_is_refused_not_rewritten() {
        for name in ["..", "../x.jpg", "a\\b.jpg", "x\0.jpg", "/etc/passwd"] {
            assert!(sanitize_file_name(name).is_err(), "{name:?}");
        }
        for folder in ["/a/../b", "..", "a\\b", "a/./b", "x\0"] {
            let err = normalize_folder(folder).unwrap_err();
            assert_eq!(err.parameter(), Some("folder"), "{folder:?}");
        }
    }

    #[test]
    fn names_follow_imagekit_rules() {
        assert_eq!(
            sanitize_file_name("ünïcode é.png").unwrap(),
            "_n_code__.png"
        );
        assert_eq!(normalize_folder("/a b/c%d//e/").unwrap(), "/a_b/c_d/e/");
        assert_eq!(normalize_folder("///").unwrap(), "/");
    }

    #[test]
    fn ids_are_distinct_and_url_safe() {
        let ids: std::collections::HashSet<String> = (0..1000).map(|_| new_id()).collect();
        assert_eq!(ids.len(), 1000);
        assert!(
            ids.iter()
                .all(|id| id.len() == 12 && id.bytes().all(|b| b.is_ascii_alphanumeric()))
        );
        let unique = with_unique_suffix("photo.jpg");
        assert!(unique.starts_with("photo_") && unique.ends_with(".jpg") && unique.len() == 16);
    }

    #[test]
    fn tags_are_checked() {
        assert_eq!(check_tag("  dog ").unwrap(), "dog");
        assert!(check_tag("50%").is_err());
        assert!(check_tag(" ").is_err());
    }
}
