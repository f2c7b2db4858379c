//! Image formats: detection from bytes (never from a file name), names and MIME types.

use std::fmt;

/// An image format picsmith recognises. Not every recognised format can be decoded or encoded:
/// see [`Format::can_decode`] and [`Format::can_encode`].
///
/// ```
/// use picsmith::Format;
/// assert_eq!(Format::detect(b"\x89PNG\r\n\x1a\n...."), Some(Format::Png));
/// assert_eq!(Format::from_name("jpg"), Some(Format::Jpeg));
/// assert_eq!(Format::Webp.mime(), "image/webp");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Format {
    Jpeg,
    Png,
    Webp,
    Gif,
    Avif,
    Heif,
    Jxl,
    Tiff,
    Bmp,
    /// H.264 video in an MP4 container: an output for GIF input only, never decoded.
    Mp4,
    /// Not an image: the metadata document `meta=true` answers with.
    Json,
}

impl Format {
    /// Recognises the format from the first bytes of a file.
    pub fn detect(bytes: &[u8]) -> Option<Format> {
        let starts = |magic: &[u8]| bytes.starts_with(magic);
        if starts(b"\xFF\xD8\xFF") {
            Some(Format::Jpeg)
        } else if starts(b"\x89PNG\r\n\x1a\n") {
            Some(Format::Png)
        } else if starts(b"GIF87a") || starts(b"GIF89a") {
            Some(Format::Gif)
        } else if bytes.len() >= 12 && starts(b"RIFF") && &bytes[8..12] == b"WEBP" {
            Some(Format::Webp)
        } else if starts(b"\xFF\x0A") || starts(b"\0\0\0\x0CJXL \r\n\x87\n") {
            Some(Format::Jxl)
        } else if starts(b"II*\0") || starts(b"MM\0*") {
            Some(Format::Tiff)
        } else if starts(b"BM") && bytes.len() >= 26 {
            Some(Format::Bmp)
        } else if bytes.len() >= 12 && &bytes[4..8] == b"ftyp" {
            Self::detect_isobmff(bytes)
        } else {
            None
        }
    }

    /// HEIF and AVIF share the ISO base media container; the brands tell them apart.
    fn detect_isobmff(bytes: &[u8]) -> Option<Format> {
        let box_len = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) as usize;
        let end = box_len.clamp(12, bytes.len().min(256));
        let major = &bytes[8..12];
        let compatible = bytes[16.min(end)..end].chunks_exact(4);
        let brands = std::iter::once(major).chain(compatible);
        let (mut heif, mut mp4) = (false, false);
        for brand in brands {
            match brand {
                b"avif" | b"avis" => return Some(Format::Avif),
                b"heic" | b"heix" | b"heim" | b"heis" | b"hevc" | b"hevx" | b"mif1" | b"msf1" => {
                    heif = true
                }
                b"isom" | b"iso2" | b"mp41" | b"mp42" | b"avc1" => mp4 = true,
                _ => {}
            }
        }
        // Image brands win: AVIF and HEIF files often list isom too.
        if heif {
            Some(Format::Heif)
        } else {
            mp4.then_some(Format::Mp4)
        }
    }

    /// Parses an output format name as the `format` parameter spells it.
    pub fn from_name(name: &str) -> Option<Format> {
        match name.to_ascii_lowercase().as_str() {
            "jpeg" | "jpg" => Some(Format::Jpeg),
            "png" => Some(Format::Png),
            "webp" => Some(Format::Webp),
            "gif" => Some(Format::Gif),
            "avif" => Some(Format::Avif),
            "heif" | "heic" => Some(Format::Heif),
            "jxl" => Some(Format::Jxl),
            "tiff" | "tif" => Some(Format::Tiff),
            "bmp" => Some(Format::Bmp),
            "mp4" => Some(Format::Mp4),
            _ => None,
        }
    }

    /// The short lowercase name (`jpeg`, `png`, ...), as Imagizer's `fileType` spells it.
    pub const fn name(self) -> &'static str {
        match self {
            Format::Jpeg => "jpeg",
            Format::Png => "png",
            Format::Webp => "webp",
            Format::Gif => "gif",
            Format::Avif => "avif",
            Format::Heif => "heif",
            Format::Jxl => "jxl",
            Format::Tiff => "tiff",
            Format::Bmp => "bmp",
            Format::Mp4 => "mp4",
            Format::Json => "json",
        }
    }

    pub const fn mime(self) -> &'static str {
        match self {
            Format::Jpeg => "image/jpeg",
            Format::Png => "image/png",
            Format::Webp => "image/webp",
            Format::Gif => "image/gif",
            Format::Avif => "image/avif",
            Format::Heif => "image/heif",
            Format::Jxl => "image/jxl",
            Format::Tiff => "image/tiff",
            Format::Bmp => "image/bmp",
            Format::Mp4 => "video/mp4",
            Format::Json => "application/json",
        }
    }

    /// The usual file extension, without the dot.
    pub const fn extension(self) -> &'static str {
        match self {
            Format::Jpeg => "jpg",
            Format::Tiff => "tif",
            other => other.name(),
        }
    }

    /// The input formats read through libvips when picsmith is built with the `vips` feature.
    pub const VIPS_INPUTS: [Format; 4] = [Format::Heif, Format::Avif, Format::Jxl, Format::Tiff];

    /// Whether this build decodes the format: JPEG, PNG, WebP and GIF always; HEIF/HEIC, AVIF,
    /// JPEG XL and TIFF with the `vips` feature.
    pub const fn can_decode(self) -> bool {
        matches!(
            self,
            Format::Jpeg | Format::Png | Format::Webp | Format::Gif
        ) || (cfg!(feature = "vips")
            && matches!(
                self,
                Format::Heif | Format::Avif | Format::Jxl | Format::Tiff
            ))
    }

    /// Whether this build encodes the format (MP4 only from GIF input; JPEG XL with the `vips`
    /// feature).
    pub const fn can_encode(self) -> bool {
        matches!(
            self,
            Format::Jpeg | Format::Png | Format::Webp | Format::Gif | Format::Avif | Format::Mp4
        ) || (cfg!(feature = "vips") && matches!(self, Format::Jxl))
    }

    /// The input formats this build reads, for messages.
    pub(crate) const fn decodable_names() -> &'static str {
        if cfg!(feature = "vips") {
            "JPEG, PNG, WebP, GIF, HEIF/HEIC, AVIF, JPEG XL and TIFF"
        } else {
            "JPEG, PNG, WebP and GIF"
        }
    }

    /// Whether one file can hold several images that the `page` parameter picks from.
    pub const fn has_pages(self) -> bool {
        matches!(self, Format::Tiff | Format::Heif | Format::Avif)
    }

    /// Whether the format can carry an alpha channel.
    pub const fn supports_alpha(self) -> bool {
        !matches!(
            self,
            Format::Jpeg | Format::Bmp | Format::Mp4 | Format::Json
        )
    }

    /// Whether the format can hold an animation (several timed frames).
    pub const fn can_animate(self) -> bool {
        matches!(self, Format::Gif | Format::Webp | Format::Mp4)
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Whether an HTTP `Accept` header value explicitly accepts `mime` (q > 0). Wildcards do not
/// count: browsers send `*/*` without being able to show WebP or AVIF.
pub(crate) fn accepts(accept: &str, mime: &str) -> bool {
    accept.split(',').any(|item| {
        let mut parts = item.split(';');
        let media = parts.next().unwrap_or("").trim();
        if !media.eq_ignore_ascii_case(mime) {
            return false;
        }
        let q = parts
            .filter_map(|p| p.trim().strip_prefix("q="))
            .filter_map(|q| q.trim().parse::<f32>().ok())
            .next_back()
            .unwrap_or(1.0);
        q > 0.0
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_header_honours_q_zero_and_ignores_wildcards() {
        assert!(accepts("image/avif,image/webp,*/*;q=0.8", "image/webp"));
        assert!(!accepts("image/webp;q=0, image/png", "image/webp"));
        assert!(!accepts("*/*", "image/webp"));
        assert!(!accepts("image/*", "image/webp"));
        assert!(accepts("IMAGE/WEBP;q=0.5", "image/webp"));
    }

    #[test]
    fn detects_isobmff_brands() {
        let mut avif = b"\0\0\0\x1cftypavif\0\0\0\0mif1miaf".to_vec();
        avif.extend_from_slice(&[0; 8]);
        assert_eq!(Format::detect(&avif), Some(Format::Avif));
        let heic = b"\0\0\0\x18ftypheic\0\0\0\0mif1heic".to_vec();
        assert_eq!(Format::detect(&heic), Some(Format::Heif));
        assert_eq!(
            Format::detect(b"\0\0\0\x18ftypisom\0\0\0\0"),
            Some(Format::Mp4)
        );
        assert_eq!(Format::detect(b"\0\0\0\x18ftypqt  \0\0\0\0"), None);
    }
}
