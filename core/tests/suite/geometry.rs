//! Geometry at the pixel level: where pixels land after crops, rotations, flips, pads, trims.

use crate::common;

use image::{DynamicImage, GenericImageView, Rgba};
use picsmith::Options;

const RED: [u8; 4] = [255, 0, 0, 255];
const GREEN: [u8; 4] = [0, 255, 0, 255];
const BLUE: [u8; 4] = [0, 0, 255, 255];

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(common::repo_dir().join("tests/fixtures").join(name)).unwrap()
}

/// Runs `query` on a fixture, with PNG output so pixels are exact.
fn render(name: &str, query: &str) -> DynamicImage {
    let query = format!("{query}&format=png");
    let out = picsmith::process(&fixture(name), &query, &Options::default())
        .unwrap_or_else(|e| panic!("{query}: {e}"));
    image::load_from_memory(&out.data).unwrap()
}

fn px(image: &DynamicImage, x: u32, y: u32) -> [u8; 4] {
    image.get_pixel(x, y).0
}

fn near(a: [u8; 4], b: [u8; 4], tolerance: u8) -> bool {
    a.iter().zip(b).all(|(x, y)| x.abs_diff(y) <= tolerance)
}

#[test]
fn quarter_turns_are_exact() {
    let source = image::load_from_memory(&fixture("quadrants-60x40.png")).unwrap();
    assert_eq!(
        render("quadrants-60x40.png", "rotate=90"),
        source.rotate90()
    );
    assert_eq!(
        render("quadrants-60x40.png", "rotate=180"),
        source.rotate180()
    );
    assert_eq!(
        render("quadrants-60x40.png", "angle=90"),
        source.rotate270()
    );
    assert_eq!(
        render("quadrants-60x40.png", "rotate=-270"),
        source.rotate90()
    );
}

#[test]
fn flip_mirrors_horizontally() {
    let flipped = render("quadrants-60x40.png", "flip=true");
    assert_eq!(px(&flipped, 0, 0), GREEN);
    assert_eq!(px(&flipped, 59, 0), RED);
    assert_eq!(px(&flipped, 59, 39), BLUE);
}

#[test]
fn cover_crops_keep_the_named_part() {
    let fit = render("quadrants-60x40.png", "width=30&height=40&crop=fit");
    assert_eq!(fit.dimensions(), (30, 40));
    assert_eq!((px(&fit, 0, 0), px(&fit, 29, 0)), (RED, GREEN));
    let top = render("quadrants-60x40.png", "width=60&height=20&crop=top");
    assert_eq!((px(&top, 0, 19), px(&top, 59, 19)), (RED, GREEN));
    let bottom = render("quadrants-60x40.png", "width=60&height=20&crop=bottom");
    assert_eq!(px(&bottom, 0, 0), BLUE);
}

#[test]
fn crop_pad_centres_on_pad_color() {
    let padded = render(
        "quadrants-60x40.png",
        "width=60&height=60&crop=pad&pad_color=000",
    );
    assert_eq!(padded.dimensions(), (60, 60));
    assert_eq!(px(&padded, 30, 2), [0, 0, 0, 255]);
    assert_eq!(px(&padded, 0, 10), RED);
}

#[test]
fn regions_and_pads() {
    let region = render("quadrants-60x40.png", "crop=25,15,10,10");
    assert_eq!(region.dimensions(), (10, 10));
    assert_eq!(
        (px(&region, 0, 0), px(&region, 9, 0), px(&region, 0, 9)),
        (RED, GREEN, BLUE)
    );
    let padded = render("quadrants-60x40.png", "pad=5&pad_color=00f");
    assert_eq!(padded.dimensions(), (70, 50));
    assert_eq!((px(&padded, 0, 0), px(&padded, 5, 5)), (BLUE, RED));
    let clear = render("quadrants-60x40.png", "pad=5&pad_color=0000");
    assert_eq!(px(&clear, 0, 0)[3], 0);
}

#[test]
fn tilted_rotation_fills_corners_or_zooms_them_away() {
    let tilted = render("border-white-64x48.png", "rotate=30&pad_color=f00");
    assert_eq!(px(&tilted, 0, 0), RED, "corners take pad_color");
    let (w, h) = tilted.dimensions();
    // The red rectangle of the fixture stays at the centre.
    assert!(near(px(&tilted, w / 2 - 8, h / 2), [200, 30, 40, 255], 8));
    let zoomed = render(
        "border-white-64x48.png",
        "rotate=30&pad_color=f00&crop=zoom",
    );
    assert_eq!(zoomed.dimensions(), (64, 48));
    for (x, y) in [(0, 0), (63, 0), (0, 47), (63, 47)] {
        assert!(
            near(px(&zoomed, x, y), [255, 255, 255, 255], 2),
            "corner {x},{y} shows padding"
        );
    }
    let clear = render("border-white-64x48.png", "rotate=30&pad_color=0000");
    assert_eq!(
        px(&clear, 0, 0)[3],
        0,
        "a transparent pad_color gives transparent corners"
    );
    let (w, h) = clear.dimensions();
    assert_eq!(px(&clear, w / 2, h / 2)[3], 255);
}

#[test]
fn angle_is_rotate_backwards() {
    let input = fixture("border-white-64x48.png");
    let a = picsmith::process(&input, "angle=30", &Options::default()).unwrap();
    let b = picsmith::process(&input, "rotate=-30", &Options::default()).unwrap();
    assert_eq!(a.data, b.data);
}

#[test]
fn trim_removes_the_border_even_through_jpeg_noise() {
    let trimmed = render("border-white-64x48.png", "trim=color");
    assert_eq!(trimmed.dimensions(), (40, 20));
    assert_eq!(px(&trimmed, 0, 0), [200, 30, 40, 255]);
    let jpeg = render("border-white-64x48.jpg", "trim=color");
    assert_eq!(jpeg.dimensions(), (40, 20));
}

#[test]
fn trimming_everything_keeps_the_image_and_warns() {
    let input = fixture("border-white-64x48.png");
    let out = picsmith::process(&input, "crop=0,0,5,5", &Options::default()).unwrap();
    assert_eq!((out.width, out.height), (5, 5));
    let all_white = picsmith::process(&out.data, "trim=color", &Options::default()).unwrap();
    assert_eq!((all_white.width, all_white.height), (5, 5));
    assert_eq!(all_white.warnings[0].parameter, "trim");
}

#[test]
fn flatten_uses_pad_color() {
    let flat = render("quadrants-60x40.png", "flatten=true&pad_color=black");
    assert!(!flat.color().has_alpha());
    // Yellow at alpha 128 over black.
    assert!(near(px(&flat, 45, 30), [128, 128, 0, 255], 1));
    let white = render("quadrants-60x40.png", "flatten=true");
    assert!(near(px(&white, 45, 30), [255, 255, 127, 255], 1));
    let kept = render("quadrants-60x40.png", "width=60");
    assert_eq!(kept.get_pixel(45, 30), Rgba([255, 255, 0, 128]));
}

#[test]
fn entropy_crop_finds_the_detail_in_a_photo() {
    let Some(input) = common::corpus_file("large-2725x2225.jpg") else {
        return;
    };
    let out = picsmith::process(
        &input,
        "width=200&height=400&crop=entropy",
        &Options::default(),
    )
    .unwrap();
    assert_eq!((out.width, out.height), (200, 400));
}
