//! Composition through the public API, checked on pixels: watermark position, opacity, scale
//! rules, layer order, text ink, and what happens when a layer image is missing or hostile.

use crate::common;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use image::{DynamicImage, ImageFormat, Rgba, RgbaImage};
use picsmith::{DirectoryResolver, ErrorKind, Limits, Options, Output};

/// An assets directory under the system temp directory, removed on drop.
struct Assets(PathBuf);

impl Assets {
    fn new() -> Self {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "picsmith-compose-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&path).unwrap();
        let assets = Assets(path);
        assets.put("red-20x10.png", &solid(20, 10, [255, 0, 0, 255]));
        assets.put("green-20x10.png", &solid(20, 10, [0, 255, 0, 255]));
        assets.put("red-400x200.png", &solid(400, 200, [255, 0, 0, 255]));
        assets
    }

    fn put(&self, name: &str, image: &RgbaImage) {
        image
            .save_with_format(self.0.join(name), ImageFormat::Png)
            .unwrap();
    }

    fn options(&self) -> Options {
        Options {
            resolver: Some(Arc::new(DirectoryResolver::new(&self.0).unwrap())),
            ..Options::default()
        }
    }
}

impl Drop for Assets {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn solid(width: u32, height: u32, color: [u8; 4]) -> RgbaImage {
    RgbaImage::from_pixel(width, height, Rgba(color))
}

fn png(image: DynamicImage) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    image.write_to(&mut out, ImageFormat::Png).unwrap();
    out.into_inner()
}

/// An opaque blue 200x100 RGB PNG.
fn blue_base() -> Vec<u8> {
    png(DynamicImage::ImageRgb8(
        DynamicImage::ImageRgba8(solid(200, 100, [0, 0, 255, 255])).to_rgb8(),
    ))
}

fn white_base() -> Vec<u8> {
    png(DynamicImage::ImageRgb8(
        DynamicImage::ImageRgba8(solid(300, 100, [255, 255, 255, 255])).to_rgb8(),
    ))
}

fn run(input: &[u8], query: &str, options: &Options) -> (Output, RgbaImage) {
    let output =
        picsmith::process(input, query, options).unwrap_or_else(|e| panic!("{query}: {e}"));
    let pixels = image::load_from_memory(&output.data).unwrap().to_rgba8();
    (output, pixels)
}

fn px(image: &RgbaImage, x: u32, y: u32) -> [u8; 4] {
    image.get_pixel(x, y).0
}

/// The bounding box (x0, y0, x1, y1) of the pixels for which `hit` holds.
fn bbox(image: &RgbaImage, hit: impl Fn([u8; 4]) -> bool) -> Option<(u32, u32, u32, u32)> {
    let mut found: Option<(u32, u32, u32, u32)> = None;
    for (x, y, p) in image.enumerate_pixels() {
        if hit(p.0) {
            found = Some(match found {
                None => (x, y, x + 1, y + 1),
                Some((a, b, c, d)) => (a.min(x), b.min(y), c.max(x + 1), d.max(y + 1)),
            });
        }
    }
    found
}

fn is_red(p: [u8; 4]) -> bool {
    p[0] > 200 && p[1] < 60 && p[2] < 60
}

#[test]
fn the_mark_lands_where_mark_pos_and_mark_offset_say() {
    let assets = Assets::new();
    let options = assets.options();
    let base = blue_base();
    let cases = [
        ("mark=/red-20x10.png", (90, 45, 110, 55)),
        ("mark=red-20x10.png&mark_pos=top|left", (0, 0, 20, 10)),
        ("mark=red-20x10.png&mark_pos=top", (90, 0, 110, 10)),
        (
            "mark=red-20x10.png&mark_pos=right,bottom",
            (180, 90, 200, 100),
        ),
        ("mark=red-20x10.png&mark_pos=left", (0, 45, 20, 55)),
        // 10 % of 200 = 20 px from the right, 10 % of 100 = 10 px from the bottom.
        (
            "mark=red-20x10.png&mark_pos=bottom|right&mark_offset=10",
            (160, 80, 180, 90),
        ),
        (
            "mark=red-20x10.png&mark_pos=top&mark_offset=40",
            (90, 40, 110, 50),
        ),
    ];
    for (query, expected) in cases {
        let (output, image) = run(&base, &format!("{query}&format=png"), &options);
        assert!(output.warnings.is_empty(), "{query}: {:?}", output.warnings);
        assert_eq!(bbox(&image, is_red), Some(expected), "{query}");
        // The rest stays blue, and an opaque input stays without alpha.
        let blue = image.pixels().filter(|p| p.0 == [0, 0, 255, 255]).count();
        assert_eq!(blue, 200 * 100 - 20 * 10, "{query}");
        assert_eq!(output.width, 200);
        let decoded = image::load_from_memory(&output.data).unwrap();
        assert!(!decoded.color().has_alpha(), "{query}");
    }
}

#[test]
fn mark_alpha_blends_over_the_image() {
    let assets = Assets::new();
    let (_, image) = run(
        &blue_base(),
        "mark=/red-20x10.png&mark_alpha=50&format=png",
        &assets.options(),
    );
    let [r, g, b, _] = px(&image, 100, 50);
    assert!(
        (126..=129).contains(&r) && g == 0 && (126..=129).contains(&b),
        "{r} {g} {b}"
    );
    assert_eq!(px(&image, 10, 10), [0, 0, 255, 255]);
    let (_, image) = run(
        &blue_base(),
        "mark=/red-20x10.png&mark_alpha=0&format=png",
        &assets.options(),
    );
    assert!(image.pixels().all(|p| p.0 == [0, 0, 255, 255]));
}

#[test]
fn mark_scale_shrinks_and_enlarges_only_with_mark_upscale() {
    let assets = Assets::new();
    let options = assets.options();
    let base = blue_base();
    let size = |query: &str| {
        let (_, image) = run(&base, &format!("{query}&format=png"), &options);
        bbox(&image, is_red).map(|(x0, y0, x1, y1)| (x1 - x0, y1 - y0))
    };
    // 50 % of the smallest side (100) is 50: a 20x10 mark is not enlarged by default...
    assert_eq!(size("mark=/red-20x10.png&mark_scale=50"), Some((20, 10)));
    // ...but is with mark_upscale, its longest side becoming 50.
    assert_eq!(
        size("mark=/red-20x10.png&mark_scale=50&mark_upscale=true"),
        Some((50, 25))
    );
    // A large mark is shrunk to the scale, and without mark_scale to fit inside the image.
    assert_eq!(size("mark=/red-400x200.png&mark_scale=20"), Some((20, 10)));
    assert_eq!(size("mark=/red-400x200.png"), Some((200, 100)));
}

#[test]
fn layers_are_drawn_in_order_under_the_mark() {
    let assets = Assets::new();
    let options = assets.options();
    let layers = r#"[{"url":"/red-20x10.png","pos":"top|left","scale":50},{"url":"/green-20x10.png","pos":"top|left","scale":50,"alpha":100}]"#;
    let query = format!("layers={}&format=png", urlencode(layers));
    let (output, image) = run(&blue_base(), &query, &options);
    assert!(output.warnings.is_empty(), "{:?}", output.warnings);
    // scale=50 fits each 20x10 layer inside 100x50 (upscale is on by default for layers).
    assert_eq!(px(&image, 50, 25), [0, 255, 0, 255]);
    assert_eq!(px(&image, 150, 75), [0, 0, 255, 255]);
    // The watermark goes over the layers.
    let query = format!(
        "layers={}&mark=/red-20x10.png&mark_pos=top|left&format=png",
        urlencode(layers)
    );
    let (_, image) = run(&blue_base(), &query, &options);
    assert_eq!(px(&image, 5, 5), [255, 0, 0, 255]);
    assert_eq!(px(&image, 50, 25), [0, 255, 0, 255]);
}

#[test]
fn layer_scale_upscale_offset_and_coordinates() {
    let assets = Assets::new();
    let options = assets.options();
    let layer = |json: &str| {
        let (_, image) = run(
            &blue_base(),
            &format!("layers={}&format=png", urlencode(json)),
            &options,
        );
        bbox(&image, is_red)
    };
    assert_eq!(
        layer(r#"[{"url":"/red-20x10.png"}]"#),
        Some((0, 0, 200, 100))
    );
    assert_eq!(
        layer(r#"[{"url":"/red-20x10.png","upscale":false}]"#),
        Some((90, 45, 110, 55))
    );
    assert_eq!(
        layer(r#"[{"url":"/red-20x10.png","upscale":false,"pos":"bottom|right","offset":5}]"#),
        Some((175, 85, 195, 95))
    );
    assert_eq!(
        layer(r#"[{"url":"/red-20x10.png","upscale":false,"x":7,"y":3}]"#),
        Some((7, 3, 27, 13))
    );
    // Partly outside: clipped, not an error.
    assert_eq!(
        layer(r#"[{"url":"/red-20x10.png","upscale":false,"x":-10,"y":95}]"#),
        Some((0, 95, 10, 100))
    );
}

#[test]
fn a_missing_mark_warns_unless_required() {
    let assets = Assets::new();
    let options = assets.options();
    let base = blue_base();
    for location in ["/nothing.png", "../outside.png", "/a/../../etc/passwd"] {
        let (output, image) = run(&base, &format!("mark={location}&format=png"), &options);
        assert_eq!(output.warnings.len(), 1, "{location}");
        assert_eq!(output.warnings[0].parameter, "mark");
        assert!(image.pixels().all(|p| p.0 == [0, 0, 255, 255]));
        let err = picsmith::process(
            &base,
            &format!("mark={location}&mark_required=true"),
            &options,
        )
        .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidParameter, "{location}: {err}");
        assert_eq!(err.parameter(), Some("mark"));
    }
    // Without any resolver.
    let output = picsmith::process(&base, "mark=/red-20x10.png", &Options::default()).unwrap();
    assert_eq!(output.warnings[0].parameter, "mark");
    let err = picsmith::process(
        &base,
        "mark=/red-20x10.png&mark_required=1",
        &Options::default(),
    )
    .unwrap_err();
    assert_eq!(
        (err.kind(), err.parameter()),
        (ErrorKind::Unsupported, Some("mark"))
    );
    // Not an image.
    std::fs::write(assets.0.join("notes.png"), b"not an image").unwrap();
    let err = picsmith::process(&base, "mark=/notes.png&mark_required=1", &options).unwrap_err();
    assert_eq!(
        (err.kind(), err.parameter()),
        (ErrorKind::UnsupportedFormat, Some("mark"))
    );
    // URLs are refused by the directory resolver.
    let err = picsmith::process(
        &base,
        "mark=https://example.com/a.png&mark_required=1",
        &options,
    )
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unsupported);
}

#[test]
fn a_failed_layer_is_skipped_with_a_warning_unless_required() {
    let assets = Assets::new();
    let options = assets.options();
    let layers = r#"[{"url":"/missing.png"},{"url":"/red-20x10.png","upscale":false}]"#;
    let (output, image) = run(
        &blue_base(),
        &format!("layers={}&format=png", urlencode(layers)),
        &options,
    );
    assert_eq!(output.warnings.len(), 1);
    assert!(
        output.warnings[0].message.contains("layers[0]"),
        "{}",
        output.warnings[0].message
    );
    assert_eq!(bbox(&image, is_red), Some((90, 45, 110, 55)));
    let layers = r#"[{"url":"/missing.png","required":true}]"#;
    let err = picsmith::process(
        &blue_base(),
        &format!("layers={}", urlencode(layers)),
        &options,
    )
    .unwrap_err();
    assert_eq!(
        (err.kind(), err.parameter()),
        (ErrorKind::InvalidParameter, Some("layers"))
    );
}

#[test]
fn a_decompression_bomb_as_a_mark_is_refused() {
    let assets = Assets::new();
    let options = assets.options();
    let bomb = common::repo_dir().join("tests/fixtures/bomb-header-50000x50000.png");
    std::fs::copy(bomb, assets.0.join("bomb.png")).unwrap();
    let err =
        picsmith::process(&blue_base(), "mark=/bomb.png&mark_required=true", &options).unwrap_err();
    assert_eq!(
        (err.kind(), err.parameter()),
        (ErrorKind::LimitExceeded, Some("mark"))
    );
    if let Some(bytes) = common::corpus_file("bomb-65536x65536.png") {
        std::fs::write(assets.0.join("corpus-bomb.png"), bytes).unwrap();
        let err = picsmith::process(
            &blue_base(),
            "mark=/corpus-bomb.png&mark_required=true",
            &options,
        )
        .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::LimitExceeded);
    }
    // The caller's limits apply to marks too: a 400x200 mark is over 50 000 pixels.
    let tight = Options {
        limits: Limits {
            max_source_pixels: 50_000,
            ..Limits::default()
        },
        ..assets.options()
    };
    let err = picsmith::process(
        &blue_base(),
        "mark=/red-400x200.png&mark_required=true",
        &tight,
    )
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::LimitExceeded);
    let output = picsmith::process(&blue_base(), "mark=/red-400x200.png", &tight).unwrap();
    assert_eq!(output.warnings[0].parameter, "mark");
}

#[test]
fn text_layers_draw_ink_of_their_color() {
    let assets = Assets::new();
    let layers = r#"[{"text":"Hello","font":"Arial Bold 40","color":"red","pos":"top|left"}]"#;
    let (output, image) = run(
        &white_base(),
        &format!("layers={}&format=png", urlencode(layers)),
        &assets.options(),
    );
    assert!(output.warnings.is_empty(), "{:?}", output.warnings);
    let (x0, y0, x1, y1) = bbox(&image, is_red).expect("red ink");
    assert!(x0 < 5 && y0 < 5, "top left: {x0},{y0}");
    assert!(
        (80..140).contains(&(x1 - x0)) && (25..45).contains(&(y1 - y0)),
        "{x0},{y0},{x1},{y1}"
    );
    let red = image.pixels().filter(|p| is_red(p.0)).count();
    assert!(red > 500, "{red} red pixels");
    // No other colour appears: anti-aliased edges blend red into white.
    assert!(image.pixels().all(|p| p[0] >= p[1] && p[1] == p[2]));
    // Text layers need no resolver.
    let (_, again) = run(
        &white_base(),
        &format!("layers={}&format=png", urlencode(layers)),
        &Options::default(),
    );
    assert_eq!(image, again);
}

#[test]
fn text_scale_is_a_share_of_the_image_width() {
    let layers = r#"[{"text":"Watermark","font":"Arial 12","color":"black","scale":50}]"#;
    let (_, image) = run(
        &white_base(),
        &format!("layers={}&format=png", urlencode(layers)),
        &Options::default(),
    );
    let (x0, _, x1, _) = bbox(&image, |p| p[0] < 128).expect("ink");
    let width = x1 - x0;
    assert!(
        (135..=160).contains(&width),
        "text is {width} px wide, expected about 150"
    );
    // With upscale off, the 12 px text keeps its size.
    let layers = r#"[{"text":"Watermark","font":"Arial 12","scale":50,"upscale":false}]"#;
    let (_, image) = run(
        &white_base(),
        &format!("layers={}&format=png", urlencode(layers)),
        &Options::default(),
    );
    let (x0, _, x1, _) = bbox(&image, |p| p[0] < 128).expect("ink");
    assert!(x1 - x0 < 80, "{}", x1 - x0);
}

#[test]
fn an_unknown_font_family_warns_and_falls_back() {
    let layers = r#"[{"text":"Hello","font":"Nonexistent Sans Bold 30","color":"blue"}]"#;
    let (output, image) = run(
        &white_base(),
        &format!("layers={}&format=png", urlencode(layers)),
        &Options::default(),
    );
    assert_eq!(output.warnings.len(), 1, "{:?}", output.warnings);
    assert_eq!(output.warnings[0].parameter, "layers");
    assert!(
        output.warnings[0].message.contains("Nonexistent Sans"),
        "{}",
        output.warnings[0].message
    );
    assert!(image.pixels().filter(|p| p[2] > 200 && p[0] < 60).count() > 200);
}

#[test]
fn arabic_hebrew_and_cjk_text_render() {
    for text in ["مرحبا بالعالم", "שלום עולם", "漢字かな", "abc مرحبا 123"]
    {
        let layers = format!(r#"[{{"text":"{text}","font":"Arial 30"}}]"#);
        let (output, image) = run(
            &white_base(),
            &format!("layers={}&format=png", urlencode(&layers)),
            &Options::default(),
        );
        assert!(output.warnings.is_empty(), "{text}: {:?}", output.warnings);
        let ink = image.pixels().filter(|p| p[0] < 128).count();
        assert!(ink > 150, "{text}: {ink} dark pixels");
    }
}

#[test]
fn an_image_with_alpha_keeps_it() {
    let assets = Assets::new();
    let base = png(DynamicImage::ImageRgba8(solid(100, 100, [0, 0, 0, 0])));
    let (_, image) = run(
        &base,
        "mark=/red-20x10.png&mark_alpha=50",
        &assets.options(),
    );
    assert_eq!(px(&image, 50, 50), [255, 0, 0, 128]);
    assert_eq!(px(&image, 5, 5), [0, 0, 0, 0]);
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
