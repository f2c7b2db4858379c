//! The little of EXIF the pipeline needs before metadata extraction exists: the orientation tag,
//! read and reset in place in the raw TIFF structure.

const ORIENTATION_TAG: u16 = 0x0112;
const TYPE_SHORT: u16 = 3;

/// Where the orientation value sits in a TIFF block, and how to read it.
struct OrientationEntry {
    value_offset: usize,
    big_endian: bool,
}

fn find_orientation(tiff: &[u8]) -> Option<OrientationEntry> {
    let big_endian = match tiff.get(0..4)? {
        b"II*\0" => false,
        b"MM\0*" => true,
        _ => return None,
    };
    let u16_at = |at: usize| {
        let b = tiff.get(at..at + 2)?;
        Some(if big_endian {
            u16::from_be_bytes([b[0], b[1]])
        } else {
            u16::from_le_bytes([b[0], b[1]])
        })
    };
    let u32_at = |at: usize| {
        let b: [u8; 4] = tiff.get(at..at + 4)?.try_into().ok()?;
        Some(if big_endian {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        })
    };
    let ifd0 = u32_at(4)? as usize;
    let count = u16_at(ifd0)? as usize;
    (0..count).find_map(|i| {
        let entry = ifd0.checked_add(2 + 12 * i)?;
        (u16_at(entry)? == ORIENTATION_TAG && u16_at(entry + 2)? == TYPE_SHORT).then_some(
            OrientationEntry {
                value_offset: entry + 8,
                big_endian,
            },
        )
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
