//! One query that reaches every stage at once: the stages must compose, in their fixed order,
//! whatever order the query lists them in.

use crate::common;

use std::sync::Arc;

use image::{DynamicImage, GenericImageView};
use picsmith::{DirectoryResolver, Format, Options, Output};

const EVERY_STAGE: &[&str] = &[
    "width=300",
    "height=200",
    "crop=fit",
    "rotate=30",
    "crop=zoom",
    "saturation=0.3",
    "filter=7",
    "sharp_amount=40",
    "mark=/logo-64x32.png",
    "mark_pos=bottom|right",
    "pad=10",
    "pad_color=000",
];

fn run(query: &str) -> Output {
    let fixtures = common::repo_dir().join("tests/fixtures");
    let options = Options {
        resolver: Some(Arc::new(DirectoryResolver::new(&fixtures).unwrap())),
        ..Options::default()
    };
    let input = std::fs::read(fixtures.join("photo-320.jpg")).unwrap();
    picsmith::process(&input, query, &options).unwrap_or_else(|e| panic!("{query}: {e}"))
}

fn decode(output: &Output) -> DynamicImage {
    image::load_from_memory(&output.data).unwrap()
}

#[test]
fn every_stage_in_one_query_gives_the_promised_image() {
    let query = format!("{}&format=webp&quality=auto", EVERY_STAGE.join("&"));
    let out = run(&query);
    assert!(out.warnings.is_empty(), "{:?}", out.warnings);
    assert_eq!(
        (out.format, out.width, out.height),
        (Format::Webp, 320, 220)
    );
    let quality = out
        .quality
        .expect("quality=auto reports the quality it chose");
    assert!(
        (40..=90).contains(&quality),
        "quality {quality} outside quality_min..quality_max"
    );

    let image = decode(&out);
    assert_eq!(image.dimensions(), (320, 220));
    // The pad is black; the picture inside it is the zoomed-in photo, with no rotation corner.
    for (x, y) in [(2, 2), (317, 2), (2, 217), (317, 217)] {
        let [r, g, b, _] = image.get_pixel(x, y).0;
        assert!(r.max(g).max(b) < 24, "pad at ({x},{y}) is {r},{g},{b}");
    }
    for (x, y) in [(12, 12), (307, 12), (12, 207)] {
        let [r, g, b, _] = image.get_pixel(x, y).0;
        assert!(
            u16::from(r) + u16::from(g) + u16::from(b) > 30,
            "corner ({x},{y}) is black"
        );
    }
}

#[test]
fn the_order_of_the_query_does_not_matter() {
    let forward = run(&format!("{}&format=png", EVERY_STAGE.join("&")));
    let reversed: Vec<&str> = EVERY_STAGE.iter().rev().copied().collect();
    let backward = run(&format!("format=png&{}", reversed.join("&")));
    // `crop` is given twice: its two values (a sizing crop and zoom) combine in either order.
    assert_eq!(forward.data, backward.data);
}

#[test]
fn the_watermark_lands_inside_the_pad_at_the_bottom_right() {
    let with_mark = decode(&run(&format!("{}&format=png", EVERY_STAGE.join("&"))));
    let without: Vec<&str> = EVERY_STAGE
        .iter()
        .filter(|p| !p.starts_with("mark"))
        .copied()
        .collect();
    let without_mark = decode(&run(&format!("{}&format=png", without.join("&"))));
    let differs = |x0: u32, y0: u32, x1: u32, y1: u32| {
        (y0..y1)
            .flat_map(|y| (x0..x1).map(move |x| (x, y)))
            .any(|(x, y)| with_mark.get_pixel(x, y) != without_mark.get_pixel(x, y))
    };
    // The 64×32 mark sits in the last 64×32 pixels of the 300×200 picture, inside the 10 px pad.
    assert!(
        differs(246, 178, 310, 210),
        "no watermark at the bottom right"
    );
    assert!(
        !differs(0, 0, 240, 170),
        "the watermark changed pixels outside its place"
    );
    assert!(
        !differs(310, 0, 320, 220) && !differs(0, 210, 320, 220),
        "the watermark reached the pad"
    );
}
