//! EXIF: the orientation tag, read and reset in place in the raw TIFF structure, and every tag
//! named and formatted as ImageMagick reports it (the `exif:*` properties Imagizer's `meta=true`
//! shows), for metadata.

use serde_json::Value as Json;

const ORIENTATION_TAG: u16 = 0x0112;
const TYPE_SHORT: u16 = 3;
const EXIF_POINTER: u16 = 0x8769;
const GPS_POINTER: u16 = 0x8825;
const INTEROP_POINTER: u16 = 0xa005;

/// A TIFF block (EXIF without its `Exif\0\0` prefix) with its byte order.
struct Tiff<'a> {
    data: &'a [u8],
    big_endian: bool,
}

/// One 12-byte IFD entry; `at` is where it starts.
struct Entry {
    tag: u16,
    kind: u16,
    count: u32,
    at: usize,
}

impl<'a> Tiff<'a> {
    fn new(data: &'a [u8]) -> Option<Self> {
        let big_endian = match data.get(0..4)? {
            b"II*\0" => false,
            b"MM\0*" => true,
            _ => return None,
        };
        Some(Tiff { data, big_endian })
    }

    fn u16_at(&self, at: usize) -> Option<u16> {
        let b: [u8; 2] = self.data.get(at..at.checked_add(2)?)?.try_into().ok()?;
        Some(if self.big_endian {
            u16::from_be_bytes(b)
        } else {
            u16::from_le_bytes(b)
        })
    }

    fn u32_at(&self, at: usize) -> Option<u32> {
        let b: [u8; 4] = self.data.get(at..at.checked_add(4)?)?.try_into().ok()?;
        Some(if self.big_endian {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        })
    }

    fn ifd0(&self) -> Option<usize> {
        Some(self.u32_at(4)? as usize)
    }

    /// The entries of the IFD at `offset` that lie inside the block.
    fn entries(&self, offset: usize) -> impl Iterator<Item = Entry> + '_ {
        let count = self.u16_at(offset).unwrap_or(0) as usize;
        (0..count).map_while(move |i| {
            let at = offset.checked_add(2 + 12 * i)?;
            Some(Entry {
                tag: self.u16_at(at)?,
                kind: self.u16_at(at + 2)?,
                count: self.u32_at(at + 4)?,
                at,
            })
        })
    }

    /// The value of a single SHORT or LONG entry.
    fn integer(&self, entry: &Entry) -> Option<u32> {
        match (entry.kind, entry.count) {
            (TYPE_SHORT, 1) => self.u16_at(entry.at + 8).map(u32::from),
            (4, 1) => self.u32_at(entry.at + 8),
            _ => None,
        }
    }
}

/// Where the orientation value sits in a TIFF block, and how to read it.
struct OrientationEntry {
    value_offset: usize,
    big_endian: bool,
}

fn find_orientation(tiff: &[u8]) -> Option<OrientationEntry> {
    let tiff = Tiff::new(tiff)?;
    let entry = tiff
        .entries(tiff.ifd0()?)
        .find(|e| e.tag == ORIENTATION_TAG && e.kind == TYPE_SHORT)?;
    Some(OrientationEntry {
        value_offset: entry.at + 8,
        big_endian: tiff.big_endian,
    })
}

/// The EXIF orientation (1-8) of a TIFF block, if present and valid.
pub(crate) fn orientation(tiff: &[u8]) -> Option<u8> {
    let entry = find_orientation(tiff)?;
    let b = tiff.get(entry.value_offset..entry.value_offset + 2)?;
    let value = if entry.big_endian {
        u16::from_be_bytes([b[0], b[1]])
    } else {
        u16::from_le_bytes([b[0], b[1]])
    };
    (1..=8).contains(&value).then_some(value as u8)
}

/// Sets the orientation to 1 (upright), once the pixels have been turned.
pub(crate) fn reset_orientation(tiff: &mut [u8]) {
    if let Some(entry) = find_orientation(tiff) {
        let one = if entry.big_endian {
            1u16.to_be_bytes()
        } else {
            1u16.to_le_bytes()
        };
        tiff[entry.value_offset..entry.value_offset + 2].copy_from_slice(&one);
    }
}

/// ImageMagick's names for TIFF, EXIF and interoperability tags (the `exif:` prefix dropped),
/// sorted by tag number. Imagizer's `meta=true` keys are these names.
const TAG_NAMES: &[(u16, &str)] = &[
    (0x0001, "InteroperabilityIndex"),
    (0x0002, "InteroperabilityVersion"),
    (0x0100, "ImageWidth"),
    (0x0101, "ImageLength"),
    (0x0102, "BitsPerSample"),
    (0x0103, "Compression"),
    (0x0106, "PhotometricInterpretation"),
    (0x010a, "FillOrder"),
    (0x010d, "DocumentName"),
    (0x010e, "ImageDescription"),
    (0x010f, "Make"),
    (0x0110, "Model"),
    (0x0111, "StripOffsets"),
    (0x0112, "Orientation"),
    (0x0115, "SamplesPerPixel"),
    (0x0116, "RowsPerStrip"),
    (0x0117, "StripByteCounts"),
    (0x0118, "MinSampleValue"),
    (0x0119, "MaxSampleValue"),
    (0x011a, "XResolution"),
    (0x011b, "YResolution"),
    (0x011c, "PlanarConfiguration"),
    (0x011d, "PageName"),
    (0x011e, "XPosition"),
    (0x011f, "YPosition"),
    (0x0120, "FreeOffsets"),
    (0x0121, "FreeByteCounts"),
    (0x0122, "GrayResponseUnit"),
    (0x0123, "GrayResponseCurve"),
    (0x0124, "T4Options"),
    (0x0125, "T6Options"),
    (0x0128, "ResolutionUnit"),
    (0x012d, "TransferFunction"),
    (0x0131, "Software"),
    (0x0132, "DateTime"),
    (0x013b, "Artist"),
    (0x013e, "WhitePoint"),
    (0x013f, "PrimaryChromaticities"),
    (0x0140, "ColorMap"),
    (0x0141, "HalfToneHints"),
    (0x0142, "TileWidth"),
    (0x0143, "TileLength"),
    (0x0144, "TileOffsets"),
    (0x0145, "TileByteCounts"),
    (0x014a, "SubIFD"),
    (0x014c, "InkSet"),
    (0x014d, "InkNames"),
    (0x014e, "NumberOfInks"),
    (0x0150, "DotRange"),
    (0x0151, "TargetPrinter"),
    (0x0152, "ExtraSample"),
    (0x0153, "SampleFormat"),
    (0x0154, "SMinSampleValue"),
    (0x0155, "SMaxSampleValue"),
    (0x0156, "TransferRange"),
    (0x0157, "ClipPath"),
    (0x0158, "XClipPathUnits"),
    (0x0159, "YClipPathUnits"),
    (0x015a, "Indexed"),
    (0x015b, "JPEGTables"),
    (0x015f, "OPIProxy"),
    (0x0200, "JPEGProc"),
    (0x0201, "JPEGInterchangeFormat"),
    (0x0202, "JPEGInterchangeFormatLength"),
    (0x0203, "JPEGRestartInterval"),
    (0x0205, "JPEGLosslessPredictors"),
    (0x0206, "JPEGPointTransforms"),
    (0x0207, "JPEGQTables"),
    (0x0208, "JPEGDCTables"),
    (0x0209, "JPEGACTables"),
    (0x0211, "YCbCrCoefficients"),
    (0x0212, "YCbCrSubSampling"),
    (0x0213, "YCbCrPositioning"),
    (0x0214, "ReferenceBlackWhite"),
    (0x02bc, "ExtensibleMetadataPlatform"),
    (0x0301, "Gamma"),
    (0x0302, "ICCProfileDescriptor"),
    (0x0303, "SRGBRenderingIntent"),
    (0x0320, "ImageTitle"),
    (0x1000, "RelatedImageFileFormat"),
    (0x1001, "RelatedImageLength"),
    (0x1002, "RelatedImageWidth"),
    (0x5001, "ResolutionXUnit"),
    (0x5002, "ResolutionYUnit"),
    (0x5003, "ResolutionXLengthUnit"),
    (0x5004, "ResolutionYLengthUnit"),
    (0x5005, "PrintFlags"),
    (0x5006, "PrintFlagsVersion"),
    (0x5007, "PrintFlagsCrop"),
    (0x5008, "PrintFlagsBleedWidth"),
    (0x5009, "PrintFlagsBleedWidthScale"),
    (0x500a, "HalftoneLPI"),
    (0x500b, "HalftoneLPIUnit"),
    (0x500c, "HalftoneDegree"),
    (0x500d, "HalftoneShape"),
    (0x500e, "HalftoneMisc"),
    (0x500f, "HalftoneScreen"),
    (0x5010, "JPEGQuality"),
    (0x5011, "GridSize"),
    (0x5012, "ThumbnailFormat"),
    (0x5013, "ThumbnailWidth"),
    (0x5014, "ThumbnailHeight"),
    (0x5015, "ThumbnailColorDepth"),
    (0x5016, "ThumbnailPlanes"),
    (0x5017, "ThumbnailRawBytes"),
    (0x5018, "ThumbnailSize"),
    (0x5019, "ThumbnailCompressedSize"),
    (0x501a, "ColorTransferFunction"),
    (0x501b, "ThumbnailData"),
    (0x5020, "ThumbnailImageWidth"),
    (0x5021, "ThumbnailImageHeight"),
    (0x5022, "ThumbnailBitsPerSample"),
    (0x5023, "ThumbnailCompression"),
    (0x5024, "ThumbnailPhotometricInterp"),
    (0x5025, "ThumbnailImageDescription"),
    (0x5026, "ThumbnailEquipMake"),
    (0x5027, "ThumbnailEquipModel"),
    (0x5028, "ThumbnailStripOffsets"),
    (0x5029, "ThumbnailOrientation"),
    (0x502a, "ThumbnailSamplesPerPixel"),
    (0x502b, "ThumbnailRowsPerStrip"),
    (0x502c, "ThumbnailStripBytesCount"),
    (0x502d, "ThumbnailResolutionX"),
    (0x502e, "ThumbnailResolutionY"),
    (0x502f, "ThumbnailPlanarConfig"),
    (0x5030, "ThumbnailResolutionUnit"),
    (0x5031, "ThumbnailTransferFunction"),
    (0x5032, "ThumbnailSoftwareUsed"),
    (0x5033, "ThumbnailDateTime"),
    (0x5034, "ThumbnailArtist"),
    (0x5035, "ThumbnailWhitePoint"),
    (0x5036, "ThumbnailPrimaryChromaticities"),
    (0x5037, "ThumbnailYCbCrCoefficients"),
    (0x5038, "ThumbnailYCbCrSubsampling"),
    (0x5039, "ThumbnailYCbCrPositioning"),
    (0x503a, "ThumbnailRefBlackWhite"),
    (0x503b, "ThumbnailCopyRight"),
    (0x5090, "LuminanceTable"),
    (0x5091, "ChrominanceTable"),
    (0x5100, "FrameDelay"),
    (0x5101, "LoopCount"),
    (0x5110, "PixelUnit"),
    (0x5111, "PixelPerUnitX"),
    (0x5112, "PixelPerUnitY"),
    (0x5113, "PaletteHistogram"),
    (0x800d, "ImageID"),
    (0x80e3, "Matteing"),
    (0x80e4, "DataType"),
    (0x80e5, "ImageDepth"),
    (0x80e6, "TileDepth"),
    (0x828d, "CFARepeatPatternDim"),
    (0x828e, "CFAPattern2"),
    (0x828f, "BatteryLevel"),
    (0x8298, "Copyright"),
    (0x829a, "ExposureTime"),
    (0x829d, "FNumber"),
    (0x83bb, "IPTC/NAA"),
    (0x84e3, "IT8RasterPadding"),
    (0x84e5, "IT8ColorTable"),
    (0x8649, "ImageResourceInformation"),
    (0x8769, "ExifOffset"),
    (0x8773, "InterColorProfile"),
    (0x8822, "ExposureProgram"),
    (0x8824, "SpectralSensitivity"),
    (0x8825, "GPSInfo"),
    (0x8827, "ISOSpeedRatings"),
    (0x8828, "OECF"),
    (0x8829, "Interlace"),
    (0x882a, "TimeZoneOffset"),
    (0x882b, "SelfTimerMode"),
    (0x9000, "ExifVersion"),
    (0x9003, "DateTimeOriginal"),
    (0x9004, "DateTimeDigitized"),
    (0x9101, "ComponentsConfiguration"),
    (0x9102, "CompressedBitsPerPixel"),
    (0x9201, "ShutterSpeedValue"),
    (0x9202, "ApertureValue"),
    (0x9203, "BrightnessValue"),
    (0x9204, "ExposureBiasValue"),
    (0x9205, "MaxApertureValue"),
    (0x9206, "SubjectDistance"),
    (0x9207, "MeteringMode"),
    (0x9208, "LightSource"),
    (0x9209, "Flash"),
    (0x920a, "FocalLength"),
    (0x920b, "FlashEnergy"),
    (0x920c, "SpatialFrequencyResponse"),
    (0x920d, "Noise"),
    (0x9211, "ImageNumber"),
    (0x9212, "SecurityClassification"),
    (0x9213, "ImageHistory"),
    (0x9214, "SubjectArea"),
    (0x9215, "ExposureIndex"),
    (0x9216, "TIFF-EPStandardID"),
    (0x927c, "MakerNote"),
    (0x9286, "UserComment"),
    (0x9290, "SubSecTime"),
    (0x9291, "SubSecTimeOriginal"),
    (0x9292, "SubSecTimeDigitized"),
    (0x9c9b, "WinXP-Title"),
    (0x9c9c, "WinXP-Comments"),
    (0x9c9d, "WinXP-Author"),
    (0x9c9e, "WinXP-Keywords"),
    (0x9c9f, "WinXP-Subject"),
    (0xa000, "FlashPixVersion"),
    (0xa001, "ColorSpace"),
    (0xa002, "ExifImageWidth"),
    (0xa003, "ExifImageLength"),
    (0xa004, "RelatedSoundFile"),
    (0xa005, "InteroperabilityOffset"),
    (0xa20b, "FlashEnergy"),
    (0xa20c, "SpatialFrequencyResponse"),
    (0xa20d, "Noise"),
    (0xa20e, "FocalPlaneXResolution"),
    (0xa20f, "FocalPlaneYResolution"),
    (0xa210, "FocalPlaneResolutionUnit"),
    (0xa214, "SubjectLocation"),
    (0xa215, "ExposureIndex"),
    (0xa216, "TIFF/EPStandardID"),
    (0xa217, "SensingMethod"),
    (0xa300, "FileSource"),
    (0xa301, "SceneType"),
    (0xa302, "CFAPattern"),
    (0xa401, "CustomRendered"),
    (0xa402, "ExposureMode"),
    (0xa403, "WhiteBalance"),
    (0xa404, "DigitalZoomRatio"),
    (0xa405, "FocalLengthIn35mmFilm"),
    (0xa406, "SceneCaptureType"),
    (0xa407, "GainControl"),
    (0xa408, "Contrast"),
    (0xa409, "Saturation"),
    (0xa40a, "Sharpness"),
    (0xa40b, "DeviceSettingDescription"),
    (0xa40c, "SubjectDistanceRange"),
    (0xa420, "ImageUniqueID"),
    (0xa500, "Gamma"),
    (0xc4a5, "PrintImageMatching"),
    (0xc640, "CR2Slice"),
];

/// ImageMagick's names for the GPS tags 0 to 30.
const GPS_TAG_NAMES: &[&str] = &[
    "GPSVersionID",
    "GPSLatitudeRef",
    "GPSLatitude",
    "GPSLongitudeRef",
    "GPSLongitude",
    "GPSAltitudeRef",
    "GPSAltitude",
    "GPSTimeStamp",
    "GPSSatellites",
    "GPSStatus",
    "GPSMeasureMode",
    "GPSDop",
    "GPSSpeedRef",
    "GPSSpeed",
    "GPSTrackRef",
    "GPSTrack",
    "GPSImgDirectionRef",
    "GPSImgDirection",
    "GPSMapDatum",
    "GPSDestLatitudeRef",
    "GPSDestLatitude",
    "GPSDestLongitudeRef",
    "GPSDestLongitude",
    "GPSDestBearingRef",
    "GPSDestBearing",
    "GPSDestDistanceRef",
    "GPSDestDistance",
    "GPSProcessingMethod",
    "GPSAreaInformation",
    "GPSDateStamp",
    "GPSDifferential",
];

/// ImageMagick truncates a formatted value to its text buffer (4096 bytes): a MakerNote or
/// thumbnail written as numbers would otherwise be tens of kilobytes.
const MAX_VALUE_LEN: usize = 4093;

/// Every tag of a TIFF block that has a name, formatted as ImageMagick formats `exif:*`
/// properties and typed as PHP's `JSON_NUMERIC_CHECK` types them (what Imagizer answers):
/// numbers as numbers, rationals as `"2159/1273"`, several values as `"2015, 1511, 2217, 1330"`,
/// BYTE and UNDEFINED data as its byte values (`"48, 50, 50, 49"`), text as text (a text that
/// reads as a number becomes one: `Software` `"10.3"` is `10.3`).
///
/// Malformed EXIF never fails: what can be read is returned, the rest skipped. The primary
/// image's tags win over the thumbnail's; tags without a name are left out. Sorted by name,
/// ignoring case, as ImageMagick lists them.
pub(crate) fn tags(tiff: &[u8]) -> Vec<(String, Json)> {
    let mut reader = ::exif::Reader::new();
    reader.continue_on_error(true);
    let parsed = reader
        .read_raw(tiff.to_vec())
        .or_else(|e| e.distill_partial_result(|_| {}));
    let mut tags: Vec<(String, Json)> = Vec::new();
    let mut add = |name: &str, text: String| {
        if !tags.iter().any(|(n, _)| n == name) {
            tags.push((name.to_owned(), numeric_check(text)));
        }
    };
    if let Ok(parsed) = parsed {
        let mut fields: Vec<&::exif::Field> = parsed.fields().collect();
        // Primary image first, so its tags win over the thumbnail's.
        fields.sort_by_key(|f| f.ifd_num.0);
        for field in fields {
            let name = match field.tag.context() {
                ::exif::Context::Gps => GPS_TAG_NAMES.get(usize::from(field.tag.number())).copied(),
                _ => tag_name(field.tag.number()),
            };
            if let (Some(name), Some(text)) = (name, format_value(&field.value)) {
                add(name, text);
            }
        }
    }
    // The reader follows the pointers to the EXIF, GPS and interoperability IFDs without
    // reporting them; ImageMagick reports their offsets.
    for (tag, offset) in pointers(tiff) {
        if let Some(name) = tag_name(tag) {
            add(name, offset.to_string());
        }
    }
    tags.sort_by_cached_key(|(name, _)| name.to_ascii_lowercase());
    tags
}

fn tag_name(number: u16) -> Option<&'static str> {
    TAG_NAMES
        .binary_search_by_key(&number, |&(n, _)| n)
        .ok()
        .map(|i| TAG_NAMES[i].1)
}

/// The EXIF and GPS pointers of IFD0 and the interoperability pointer of the EXIF IFD.
fn pointers(tiff: &[u8]) -> Vec<(u16, u32)> {
    let Some(tiff) = Tiff::new(tiff) else {
        return Vec::new();
    };
    let Some(ifd0) = tiff.ifd0() else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for entry in tiff.entries(ifd0) {
        if matches!(entry.tag, EXIF_POINTER | GPS_POINTER)
            && let Some(offset) = tiff.integer(&entry)
        {
            found.push((entry.tag, offset));
        }
    }
    if let Some(&(_, exif_ifd)) = found.iter().find(|(tag, _)| *tag == EXIF_POINTER) {
        let interop = tiff
            .entries(exif_ifd as usize)
            .find(|e| e.tag == INTEROP_POINTER)
            .and_then(|e| tiff.integer(&e));
        if let Some(offset) = interop {
            found.push((INTEROP_POINTER, offset));
        }
    }
    found
}

/// ImageMagick's text for a value; `None` for a type it does not know.
fn format_value(value: &::exif::Value) -> Option<String> {
    use ::exif::Value as V;
    fn list<T: std::fmt::Display>(values: impl IntoIterator<Item = T>) -> String {
        let mut text = String::new();
        for value in values {
            let item = value.to_string();
            if text.len() + item.len() + 2 > MAX_VALUE_LEN {
                break;
            }
            if !text.is_empty() {
                text.push_str(", ");
            }
            text.push_str(&item);
        }
        text
    }
    Some(match value {
        V::Byte(v) => list(v),
        V::Undefined(v, _) => list(v),
        V::SByte(v) => list(v),
        V::Short(v) => list(v),
        V::SShort(v) => list(v),
        V::Long(v) => list(v),
        V::SLong(v) => list(v),
        V::Rational(v) => list(v.iter().map(|r| format!("{}/{}", r.num, r.denom))),
        V::SRational(v) => list(v.iter().map(|r| format!("{}/{}", r.num, r.denom))),
        V::Float(v) => list(v),
        V::Double(v) => list(v),
        // A C string: up to the first NUL. Non-UTF-8 bytes could not be written as JSON.
        V::Ascii(v) => {
            let text = String::from_utf8_lossy(v.first().map_or(&[][..], |s| s.as_slice()));
            let mut end = text.len().min(MAX_VALUE_LEN);
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            text[..end].to_owned()
        }
        V::Unknown(..) => return None,
    })
}

/// PHP's `is_numeric` rule, which `json_encode(..., JSON_NUMERIC_CHECK)` applies: optional
/// surrounding whitespace, a sign, digits with an optional fraction, an optional exponent.
fn numeric_check(text: String) -> Json {
    let trimmed =
        text.trim_matches(|c: char| matches!(c, ' ' | '\t' | '\n' | '\r' | '\x0b' | '\x0c'));
    let body = trimmed.strip_prefix(['+', '-']).unwrap_or(trimmed);
    let (mantissa, exponent) = match body.find(['e', 'E']) {
        Some(at) => (&body[..at], Some(&body[at + 1..])),
        None => (body, None),
    };
    let (int_part, fraction) = match mantissa.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (mantissa, None),
    };
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    let numeric = digits(int_part)
        && fraction.is_none_or(digits)
        && !(int_part.is_empty() && fraction.is_none_or(str::is_empty))
        && exponent.is_none_or(|e| {
            let e = e.strip_prefix(['+', '-']).unwrap_or(e);
            !e.is_empty() && digits(e)
        });
    if !numeric {
        return Json::String(text);
    }
    if fraction.is_none()
        && exponent.is_none()
        && let Ok(integer) = trimmed.trim_start_matches('+').parse::<i64>()
    {
        return Json::from(integer);
    }
    match trimmed
        .parse::<f64>()
        .ok()
        .and_then(serde_json::Number::from_f64)
    {
        Some(number) => Json::Number(number),
        None => Json::String(text),
    }
}

/// Some writers keep the `Exif\0\0` prefix of JPEG's APP1 in PNG and WebP chunks.
pub(crate) fn without_prefix(mut exif: Vec<u8>) -> Vec<u8> {
    if exif.starts_with(b"Exif\0\0") {
        exif.drain(..6);
    }
    exif
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiff(big_endian: bool, value: u16) -> Vec<u8> {
        let u16b = |v: u16| {
            if big_endian {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            }
        };
        let u32b = |v: u32| {
            if big_endian {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            }
        };
        let mut t: Vec<u8> = if big_endian {
            b"MM\0*".to_vec()
        } else {
            b"II*\0".to_vec()
        };
        t.extend(u32b(8)); // IFD0 right after the header
        t.extend(u16b(1)); // one entry
        t.extend(u16b(ORIENTATION_TAG));
        t.extend(u16b(TYPE_SHORT));
        t.extend(u32b(1));
        t.extend(u16b(value));
        t.extend([0, 0, 0, 0, 0, 0]);
        t
    }

    #[test]
    fn numeric_text_becomes_a_number_as_php_would_make_it() {
        let check = |text: &str| numeric_check(text.to_owned());
        assert_eq!(check("3024"), Json::from(3024));
        assert_eq!(check("10.3"), Json::from(10.3));
        assert_eq!(check("-2"), Json::from(-2));
        assert_eq!(check(" 7 "), Json::from(7));
        assert_eq!(check("1e3"), Json::from(1000.0));
        for text in [
            "",
            ".",
            "2159/1273",
            "48, 50, 50, 49",
            "2017:04:02 16:08:21",
            "1e",
            "0x1A",
        ] {
            assert_eq!(check(text), Json::from(text), "{text:?}");
        }
    }

    #[test]
    fn tags_are_named_and_formatted_as_imagemagick_does() {
        let t = tiff(false, 6);
        assert_eq!(tags(&t), vec![("Orientation".to_owned(), Json::from(6))]);
        assert!(tags(b"not a tiff").is_empty());
        assert!(
            tags(&t[..12]).is_empty(),
            "a truncated IFD gives what it can, here nothing"
        );
    }

    #[test]
    fn reads_and_resets_both_byte_orders() {
        for be in [false, true] {
            let mut t = tiff(be, 6);
            assert_eq!(orientation(&t), Some(6));
            reset_orientation(&mut t);
            assert_eq!(orientation(&t), Some(1));
        }
        assert_eq!(orientation(&tiff(false, 9)), None);
    }

    #[test]
    fn malformed_blocks_are_ignored() {
        assert_eq!(orientation(b""), None);
        assert_eq!(orientation(b"II*\0\xff\xff\xff\xff"), None);
        let mut t = tiff(false, 3);
        t.truncate(19); // cuts the orientation value in half
        assert_eq!(orientation(&t), None);
    }
}
