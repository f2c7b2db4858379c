//! Face detection: SeetaFace's frontal detector (funnel-structured cascade) through the
//! `rustface` crate, with the model that crate ships (BSD-2-Clause), embedded at build time by
//! `build.rs`. Nothing is downloaded at run time.
//!
//! Detection runs on a grey copy whose longest side is at most [`DETECTION_SIDE`] pixels, so a
//! 24-megapixel photo costs about what a 0.5-megapixel one does; boxes are scaled back to the
//! input's pixels. The settings below were tuned on the photos listed in `tests/faces/`.
//!
//! ```
//! let image = image::DynamicImage::new_rgb8(64, 48);
//! assert!(picsmith::faces::detect_faces(&image).is_empty());
//! ```

use std::sync::OnceLock;

use fast_image_resize::{FilterType, ResizeAlg, ResizeOptions, Resizer};
use image::{DynamicImage, GrayImage};
use rustface::{Detector, ImageData, Model};

static MODEL_BYTES: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/seeta_fd_frontal_v1.0.bin"));

/// Longest side of the grey copy detection runs on. The detector's window is 40 pixels, so the
/// smallest face found is 40/800 = 5 % of the image's longest side: a head-and-shoulders
/// portrait or a group of a few people, not a crowd. Measured on the test photos: 640 found the
/// same faces 35-40 % faster, but its floor is 6.25 % and it missed a face at 4.5 % of the side
/// that 800 found; 1024 and 1280 found nothing more (1024 lost a half face) at 1.6 and 2.7
/// times the cost.
pub const DETECTION_SIDE: u32 = 800;

/// Images smaller than this are enlarged to it first, so faces in thumbnails (a 200-pixel
/// output with a 30-pixel face) still reach the 40-pixel window.
const MIN_DETECTION_SIDE: u32 = 400;

/// Scores below this are not faces. rustface sums the scores of the windows its final
/// non-maximum suppression merges, so a real face seen at several scales and positions scores
/// high and a lone false window low: on the test photos, whole frontal faces scored 12 to 27,
/// half a face 5, and the best false detection (a circular saw) 2.1. 3.85 is the detector's
/// own default and sits between the two.
const SCORE_THRESHOLD: f64 = 3.85;

/// Ratio between adjacent levels of the image pyramid: the detector's own default. On the test
/// photos 0.7 found the same faces 25-30 % faster and 0.9 cost 1.8 times as much for nothing
/// more; 0.8 is kept because 21 faces are too few to trade away the finer scale coverage.
const PYRAMID_SCALE: f32 = 0.8;

/// Step of the 40-pixel sliding window, in pixels of each pyramid level: the detector's own
/// default. On the test photos 6 found the same faces 25-30 % faster; 2 also found the half
/// face the others miss, at 2.2 to 2.5 times the cost.
const WINDOW_STEP: u32 = 4;

/// A box whose area lies at least this much inside a higher-scoring box is the same face seen
/// at another scale: rustface's suppression compares intersection over union only, which keeps
/// a small box nested in a large one.
const NESTED_OVERLAP: f64 = 0.5;

/// A detected face, in pixels of the image given to [`detect_faces`] (clipped to it).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct FaceBox {
    pub x: u32,
    pub y: u32,
    pub width: u32,
    pub height: u32,
    /// The detector's confidence: at least 2, usually tens for a clear frontal face.
    pub score: f64,
}

impl FaceBox {
    /// The smallest box holding every face, or `None` for no face.
    pub fn union(faces: &[FaceBox]) -> Option<FaceBox> {
        let first = faces.first()?;
        let mut union = *first;
        for face in &faces[1..] {
            let right = (union.x + union.width).max(face.x + face.width);
            let bottom = (union.y + union.height).max(face.y + face.height);
            union.x = union.x.min(face.x);
            union.y = union.y.min(face.y);
            union.width = right - union.x;
            union.height = bottom - union.y;
            union.score = union.score.max(face.score);
        }
        Some(union)
    }

    fn area(&self) -> f64 {
        self.width as f64 * self.height as f64
    }

    fn intersection(&self, other: &FaceBox) -> f64 {
        let w =
            (self.x + self.width).min(other.x + other.width) as f64 - self.x.max(other.x) as f64;
        let h =
            (self.y + self.height).min(other.y + other.height) as f64 - self.y.max(other.y) as f64;
        w.max(0.0) * h.max(0.0)
    }
}

/// The model, parsed once per process and shared by every thread.
fn model() -> &'static Model {
    static MODEL: OnceLock<Model> = OnceLock::new();
    MODEL.get_or_init(|| {
        rustface::read_model(MODEL_BYTES).expect("the embedded SeetaFace model parses")
    })
}

/// Finds frontal faces, best first. An image smaller than 40 pixels a side has none.
///
/// ```no_run
/// let photo = image::open("group.jpg").unwrap();
/// for face in picsmith::faces::detect_faces(&photo) {
///     println!("{}x{} at {},{} (score {:.1})", face.width, face.height, face.x, face.y, face.score);
/// }
/// ```
pub fn detect_faces(image: &DynamicImage) -> Vec<FaceBox> {
    let (width, height) = (image.width(), image.height());
    if width.min(height) < 40 {
        return Vec::new();
    }
    let grey = detection_copy(image);
    let (gw, gh) = grey.dimensions();
    // rustface's detector keeps scratch buffers and is not `Sync`: each call makes its own
    // from the shared model. That costs 0.13 ms (measured), against 17 ms or more to detect,
    // so a per-thread cache would buy nothing and hold memory in every thread.
    let mut detector = rustface::create_detector_with_model(model().clone());
    configure(detector.as_mut(), gw.min(gh));
    let found = detector.detect(&ImageData::new(grey.as_raw(), gw, gh));
    let (sx, sy) = (width as f64 / gw as f64, height as f64 / gh as f64);
    let mut faces: Vec<FaceBox> = found
        .iter()
        .filter_map(|info| {
            let b = info.bbox();
            // Back to the input's pixels, clipped to the image (boxes may reach past an edge).
            let x0 = (b.x() as f64 * sx).clamp(0.0, width as f64);
            let y0 = (b.y() as f64 * sy).clamp(0.0, height as f64);
            let x1 = ((b.x() as f64 + b.width() as f64) * sx).clamp(0.0, width as f64);
            let y1 = ((b.y() as f64 + b.height() as f64) * sy).clamp(0.0, height as f64);
            let (x, y) = (x0.round() as u32, y0.round() as u32);
            let (w, h) = (
                (x1.round() as u32).saturating_sub(x),
                (y1.round() as u32).saturating_sub(y),
            );
            (w > 0 && h > 0).then_some(FaceBox {
                x,
                y,
                width: w,
                height: h,
                score: info.score(),
            })
        })
        .collect();
    faces.sort_by(|a, b| b.score.total_cmp(&a.score));
    suppress_nested(faces)
}

/// Sets the detector up for an image whose shorter side is `short_side` grey pixels.
fn configure(detector: &mut dyn Detector, short_side: u32) {
    detector.set_min_face_size(40);
    // Faces at most the shorter side, a little less so the smallest pyramid level stays at
    // least 40 pixels (the window) despite rounding.
    detector.set_max_face_size(short_side.saturating_sub(2).max(40));
    detector.set_score_thresh(SCORE_THRESHOLD);
    detector.set_pyramid_scale_factor(PYRAMID_SCALE);
    detector.set_slide_window_step(WINDOW_STEP, WINDOW_STEP);
}

/// The grey copy detection runs on: longest side [`DETECTION_SIDE`] (or enlarged to
/// [`MIN_DETECTION_SIDE`]), area-averaged so no detail aliases.
fn detection_copy(image: &DynamicImage) -> GrayImage {
    let (width, height) = (image.width(), image.height());
    let long = width.max(height);
    let target = long.clamp(MIN_DETECTION_SIDE, DETECTION_SIDE);
    if target == long {
        return image.to_luma8();
    }
    let scale = target as f64 / long as f64;
    let (w, h) = (
        ((width as f64 * scale).round() as u32).max(1),
        ((height as f64 * scale).round() as u32).max(1),
    );
    // Resize in the image's own colour type, then convert the few remaining pixels to grey:
    // converting first would touch every pixel of a large photo twice.
    let mut small = DynamicImage::new(w, h, image.color());
    let filter = if scale < 1.0 {
        FilterType::Box
    } else {
        FilterType::Bilinear
    };
    let options = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(filter));
    match Resizer::new().resize(image, &mut small, &options) {
        Ok(()) => small.to_luma8(),
        // Colour types fast_image_resize does not handle: convert, then resize.
        Err(_) => image::imageops::resize(
            &image.to_luma8(),
            w,
            h,
            image::imageops::FilterType::Triangle,
        ),
    }
}

/// Drops boxes mostly inside a better one (sorted best first).
fn suppress_nested(faces: Vec<FaceBox>) -> Vec<FaceBox> {
    let mut kept: Vec<FaceBox> = Vec::with_capacity(faces.len());
    for face in faces {
        let nested = kept.iter().any(|better| {
            let smaller = face.area().min(better.area());
            smaller > 0.0 && face.intersection(better) / smaller >= NESTED_OVERLAP
        });
        if !nested {
            kept.push(face);
        }
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_model_parses() {
        let model = model();
        assert!(model.get_hierarchy_count() > 1);
    }

    #[test]
    fn blank_and_tiny_images_have_no_face() {
        assert!(detect_faces(&DynamicImage::new_rgb8(640, 480)).is_empty());
        assert!(detect_faces(&DynamicImage::new_rgb8(39, 300)).is_empty());
        assert!(detect_faces(&DynamicImage::new_luma8(41, 41)).is_empty());
    }

    #[test]
    #[ignore = "measurement: cargo test --release -p picsmith --lib faces -- --ignored --nocapture"]
    fn measure_detector_costs() {
        let photo = DynamicImage::ImageRgb8(image::RgbImage::from_fn(4032, 3024, |x, y| {
            image::Rgb([(x % 251) as u8, (y % 241) as u8, ((x + y) % 239) as u8])
        }));
        detection_copy(&photo);
        let started = std::time::Instant::now();
        for _ in 0..10 {
            std::hint::black_box(detection_copy(&photo));
        }
        let copy = started.elapsed().as_secs_f64() * 1000.0 / 10.0;
        println!("grey copy of a 4032x3024 RGB image: {copy:.1} ms");
        let model = model();
        let started = std::time::Instant::now();
        for _ in 0..20 {
            let detector = rustface::create_detector_with_model(model.clone());
            std::hint::black_box(detector);
        }
        let create = started.elapsed().as_secs_f64() * 1000.0 / 20.0;
        let image = DynamicImage::new_rgb8(800, 600);
        detect_faces(&image);
        let started = std::time::Instant::now();
        for _ in 0..5 {
            std::hint::black_box(detect_faces(&image));
        }
        let detect = started.elapsed().as_secs_f64() * 1000.0 / 5.0;
        println!(
            "detector from the shared model: {create:.2} ms; detection of a blank 800x600: {detect:.1} ms"
        );
    }

    #[test]
    fn nested_boxes_are_one_face() {
        let face = |x, y, size, score| FaceBox {
            x,
            y,
            width: size,
            height: size,
            score,
        };
        let kept = suppress_nested(vec![
            face(100, 100, 100, 30.0),
            face(120, 120, 50, 10.0),
            face(400, 100, 100, 5.0),
        ]);
        assert_eq!(kept.len(), 2);
        assert_eq!(kept[1].x, 400);
        let union = FaceBox::union(&kept).unwrap();
        assert_eq!(
            (union.x, union.y, union.width, union.height),
            (100, 100, 400, 100)
        );
    }
}
