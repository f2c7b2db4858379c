//! Properties over the real-photo corpus: nothing panics, orientation is applied, metadata and
//! quality travel as documented.

use crate::common;

use picsmith::{ErrorKind, Format, Options};

fn process(input: &[u8], query: &str) -> picsmith::Result<picsmith::Output> {
    picsmith::process(input, query, &Options::default())
}

#[test]
fn every_corpus_file_transforms_or_fails_with_a_clean_error() {
    let dir = common::corpus_dir();
    let Ok(entries) = std::fs::read_dir(&dir) else {
        eprintln!(
            "SKIPPED: corpus folder {} is absent (set PICSMITH_CORPUS)",
            dir.display()
        );
        return;
    };
    let mut seen = 0;
    for entry in entries {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "md") {
            continue;
        }
        let bytes = std::fs::read(&path).unwrap();
        for query in [
            "",
            "width=64",
            "width=64&format=webp",
            "height=40&format=png&interlace=true",
        ] {
            // A panic here fails the test with the file's name in the message.
            match process(&bytes, query) {
                Ok(out) => {
                    assert_eq!(
                        Format::detect(&out.data),
                        Some(out.format),
                        "{}?{query}",
                        path.display()
                    );
                }
                Err(err) => assert!(
                    matches!(
                        err.kind(),
                        ErrorKind::InvalidImage
                            | ErrorKind::LimitExceeded
                            | ErrorKind::UnsupportedFormat
                    ),
                    "{}?{query}: unexpected {} ({err})",
                    path.display(),
                    err.code()
                ),
            }
        }
        seen += 1;
    }
    assert!(seen > 40, "only {seen} corpus files found");
}

/// Mean absolute difference of two equally sized 8-bit RGB images.
fn rgb_distance(a: &[u8], b: &[u8]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (*x as f64 - *y as f64).abs())
        .sum::<f64>()
        / a.len() as f64
}

fn decode_rgb(bytes: &[u8]) -> image::RgbImage {
    image::load_from_memory(bytes)
        .expect("picsmith output decodes")
        .to_rgb8()
}

#[test]
fn every_orientation_comes_out_upright() {
    let Some(reference) = common::corpus_file("orient1-landscape.jpg") else {
        return;
    };
    let reference = decode_rgb(&process(&reference, "width=90&format=png").unwrap().data);
    for n in 0..=8 {
        let Some(input) = common::corpus_file(&format!("orient{n}-landscape.jpg")) else {
            return;
        };
        let output = decode_rgb(&process(&input, "width=90&format=png").unwrap().data);
        assert_eq!(
            output.dimensions(),
            reference.dimensions(),
            "orientation {n}"
        );
        let distance = rgb_distance(output.as_raw(), reference.as_raw());
        // The same photo, turned right, differs only by resampling noise; a wrong turn or
        // mirror differs by tens of levels.
        assert!(
            distance < 4.0,
            "orientation {n} differs from upright by {distance:.1} levels"
        );
        if n >= 2 {
            let unturned = decode_rgb(
                &process(&input, "width=90&format=png&autorotate=false")
                    .unwrap()
                    .data,
            );
            if unturned.dimensions() == reference.dimensions() {
                assert!(
                    rgb_distance(unturned.as_raw(), reference.as_raw()) > 10.0,
                    "orientation {n} has no effect"
                );
            }
        }
    }
}

#[test]
fn re_encoding_alone_writes_what_the_whole_pipeline_writes() {
    // `quality` alone streams a JPEG from decoder to encoder; `upscale=true` changes nothing
    // here but is not an output option, so it takes the whole pipeline. EXIF, a gray ICC
    // profile, an RGB one with a progressive source, damaged data.
    for name in [
        "orient1-landscape.jpg",
        "gray-concert.jpg",
        "progressive-cat-icc.jpg",
        "trunc-half-large.jpg",
        "garbled-half.jpg",
    ] {
        let Some(input) = common::corpus_file(name) else {
            return;
        };
        for query in ["quality=75", "quality=60&interlace=true&strip_exif=true"] {
            let streamed = process(&input, query);
            let whole = process(&input, &format!("{query}&upscale=true"));
            match (streamed, whole) {
                (Ok(streamed), Ok(whole)) => {
                    assert_eq!(streamed.data, whole.data, "{name} {query}");
                    assert_eq!(streamed.quality, whole.quality, "{name} {query}");
                }
                (Err(streamed), Err(whole)) => {
                    assert_eq!(
                        streamed.kind(),
                        ErrorKind::InvalidImage,
                        "{name}: {streamed}"
                    );
                    assert_eq!(streamed.kind(), whole.kind(), "{name}");
                }
                (streamed, whole) => panic!("{name} {query}: {streamed:?} against {whole:?}"),
            }
        }
    }
    // A turned source is not streamed: it comes out upright.
    let Some(turned) = common::corpus_file("orient6-landscape.jpg") else {
        return;
    };
    let upright = process(&turned, "quality=75").unwrap();
    let reference = process(&turned, "format=png").unwrap();
    assert_eq!(
        (upright.width, upright.height),
        (reference.width, reference.height)
    );
    let distance = rgb_distance(
        decode_rgb(&upright.data).as_raw(),
        decode_rgb(&reference.data).as_raw(),
    );
    assert!(distance < 4.0, "{distance:.1} levels from the upright PNG");
}

#[test]
fn effects_that_come_last_write_what_the_whole_pipeline_writes() {
    // Blur and sharpening hand their rows to the JPEG encoder as they finish them; `pad=0`
    // changes nothing but is not streamed, so it takes the whole pipeline.
    for name in ["orient6-landscape.jpg", "gray-concert.jpg"] {
        let Some(input) = common::corpus_file(name) else {
            return;
        };
        for query in [
            "width=300&blur=3&quality=70",
            "width=300&sharp_amount=80&quality=70&interlace=true",
            "blur=2&sharp_amount=40&sharp_radius=20&quality_min=40",
            "width=200&sharp_amount=1",
        ] {
            let streamed = process(&input, query).unwrap();
            let whole = process(&input, &format!("{query}&pad=0")).unwrap();
            assert_eq!(streamed.data, whole.data, "{name} {query}");
            assert_eq!(
                (streamed.width, streamed.height, streamed.quality),
                (whole.width, whole.height, whole.quality),
                "{name} {query}"
            );
            assert_eq!(streamed.warnings, whole.warnings, "{name} {query}");
        }
    }
}

#[test]
fn exif_travels_with_orientation_reset_unless_stripped() {
    let Some(input) = common::corpus_file("orient6-landscape.jpg") else {
        return;
    };
    let kept = process(&input, "width=100").unwrap();
    let exif = exif_of(&kept.data).expect("EXIF kept by default");
    assert_eq!(
        orientation_of(&exif),
        Some(1),
        "orientation reset after turning"
    );
    let not_turned = process(&input, "width=100&autorotate=false").unwrap();
    assert_eq!(orientation_of(&exif_of(&not_turned.data).unwrap()), Some(6));
    let stripped = process(&input, "width=100&strip_exif=true").unwrap();
    assert!(exif_of(&stripped.data).is_none());
}

#[test]
fn icc_profile_travels_with_rgb_output() {
    let Some(input) = common::corpus_file("iphone-p3-4032x3024.jpg") else {
        return;
    };
    for format in ["jpeg", "png", "webp"] {
        let out = process(&input, &format!("width=64&format={format}")).unwrap();
        let decoder_icc = match format {
            "png" => {
                use image::ImageDecoder;
                image::codecs::png::PngDecoder::new(std::io::Cursor::new(&out.data))
                    .unwrap()
                    .icc_profile()
                    .unwrap()
            }
            "webp" => {
                use image::ImageDecoder;
                image::codecs::webp::WebPDecoder::new(std::io::Cursor::new(&out.data))
                    .unwrap()
                    .icc_profile()
                    .unwrap()
            }
            _ => jpeg_icc(&out.data),
        };
        let icc =
            decoder_icc.unwrap_or_else(|| panic!("{format} output lost the Display P3 profile"));
        assert_eq!(&icc[16..20], b"RGB ");
    }
}

#[test]
fn unset_quality_reuses_the_source_quality() {
    let Some(input) = common::corpus_file("large-2725x2225.jpg") else {
        return;
    };
    let at_60 = process(&input, "width=300&quality=60").unwrap().data;
    let inherited = process(&at_60, "").unwrap().data;
    let explicit_60 = process(&at_60, "quality=60").unwrap().data;
    let explicit_90 = process(&at_60, "quality=90").unwrap().data;
    assert_eq!(
        inherited, explicit_60,
        "no quality given: the source's 60 is used"
    );
    assert_ne!(inherited, explicit_90);
    // A PNG has no JPEG quality: 90 is used.
    let Some(png) = common::corpus_file("rgb16-900x600.png") else {
        return;
    };
    assert_eq!(
        process(&png, "format=jpeg").unwrap().data,
        process(&png, "format=jpeg&quality=90").unwrap().data
    );
}

#[test]
fn limits_are_configurable() {
    let Some(input) = common::corpus_file("large-2725x2225.jpg") else {
        return;
    };
    let mut options = Options::default();
    options.limits.max_input_bytes = 1000;
    assert_eq!(
        picsmith::process(&input, "", &options).unwrap_err().kind(),
        ErrorKind::LimitExceeded
    );
    let mut options = Options::default();
    options.limits.max_source_pixels = 2725 * 2225 - 1;
    assert_eq!(
        picsmith::process(&input, "", &options).unwrap_err().kind(),
        ErrorKind::LimitExceeded
    );
    let mut options = Options::default();
    options.limits.max_output_side = 399;
    let err = picsmith::process(&input, "width=400", &options).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::LimitExceeded);
    assert_eq!(
        picsmith::process(&input, "width=399", &options)
            .unwrap()
            .width,
        399
    );
}

#[test]
fn alpha_is_flattened_on_white_for_jpeg_and_kept_for_webp() {
    // Left half transparent red, right half opaque blue.
    let rgba = image::RgbaImage::from_fn(64, 32, |x, _| {
        if x < 32 {
            image::Rgba([255, 0, 0, 0])
        } else {
            image::Rgba([0, 0, 255, 255])
        }
    });
    let mut png = Vec::new();
    image::DynamicImage::ImageRgba8(rgba)
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .unwrap();

    let jpeg = decode_rgb(&process(&png, "format=jpeg&quality=95").unwrap().data);
    let left = jpeg.get_pixel(8, 16);
    let right = jpeg.get_pixel(56, 16);
    assert!(
        left.0.iter().all(|&c| c > 245),
        "transparent became {left:?}, not white"
    );
    assert!(
        right[2] > 230 && right[0] < 25,
        "opaque blue became {right:?}"
    );

    let webp = image::load_from_memory(&process(&png, "format=webp&lossless=true").unwrap().data)
        .unwrap()
        .to_rgba8();
    assert_eq!(webp.get_pixel(8, 16)[3], 0, "alpha kept in WebP");
    assert_eq!(webp.get_pixel(56, 16).0, [0, 0, 255, 255]);
}

fn jpeg_segments(bytes: &[u8]) -> Vec<(u8, &[u8])> {
    let mut out = Vec::new();
    let mut pos = 2;
    while pos + 4 <= bytes.len() && bytes[pos] == 0xFF {
        let marker = bytes[pos + 1];
        let len = u16::from_be_bytes([bytes[pos + 2], bytes[pos + 3]]) as usize;
        if marker == 0xDA {
            break;
        }
        out.push((marker, &bytes[pos + 4..pos + 2 + len]));
        pos += 2 + len;
    }
    out
}

fn exif_of(jpeg: &[u8]) -> Option<Vec<u8>> {
    jpeg_segments(jpeg)
        .into_iter()
        .find(|(m, s)| *m == 0xE1 && s.starts_with(b"Exif\0\0"))
        .map(|(_, s)| s[6..].to_vec())
}

fn jpeg_icc(jpeg: &[u8]) -> Option<Vec<u8>> {
    let chunks: Vec<u8> = jpeg_segments(jpeg)
        .into_iter()
        .filter(|(m, s)| *m == 0xE2 && s.starts_with(b"ICC_PROFILE\0"))
        .flat_map(|(_, s)| s[14..].to_vec())
        .collect();
    (!chunks.is_empty()).then_some(chunks)
}

fn orientation_of(tiff: &[u8]) -> Option<u16> {
    let le = tiff.starts_with(b"II");
    let u16_at = |i: usize| {
        let b = [tiff[i], tiff[i + 1]];
        if le {
            u16::from_le_bytes(b)
        } else {
            u16::from_be_bytes(b)
        }
    };
    let u32_at = |i: usize| {
        let b = [tiff[i], tiff[i + 1], tiff[i + 2], tiff[i + 3]];
        if le {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        }
    };
    let ifd = u32_at(4) as usize;
    (0..u16_at(ifd) as usize)
        .map(|i| ifd + 2 + 12 * i)
        .find(|&e| u16_at(e) == 0x0112)
        .map(|e| u16_at(e + 8))
}
