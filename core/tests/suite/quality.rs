//! `quality=auto` on a real photo, through the public API.

use crate::common;

use std::time::Instant;

use picsmith::{Format, Options, process};

const PHOTO: &str = "large-2725x2225.jpg";

#[test]
fn auto_is_no_larger_than_quality_max_and_stays_in_range() {
    let Some(input) = common::corpus_file(PHOTO) else {
        return;
    };
    let options = Options::default();
    for format in ["jpeg", "webp"] {
        for extra in [
            "",
            "&quality_method=mpe",
            "&quality_method=smallfry&quality_preset=low",
        ] {
            let base = format!("width=600&format={format}");
            let auto = process(&input, &format!("{base}&quality=auto{extra}"), &options).unwrap();
            let at_max = process(&input, &format!("{base}&quality=90"), &options).unwrap();
            let chosen = auto.quality.expect("a lossy format reports its quality");
            assert!((40..=90).contains(&chosen), "{format}{extra}: q{chosen}");
            assert!(auto.warnings.is_empty(), "{:?}", auto.warnings);
            assert!(
                auto.data.len() <= at_max.data.len(),
                "{format}{extra}: q{chosen} {} bytes > q90 {} bytes",
                auto.data.len(),
                at_max.data.len()
            );
            assert_eq!((auto.width, auto.height), (600, 490));
        }
    }
}

#[test]
fn higher_presets_choose_higher_qualities() {
    let Some(input) = common::corpus_file(PHOTO) else {
        return;
    };
    let mut last = 0;
    for preset in ["low", "medium", "high", "veryhigh"] {
        let query = format!("width=500&quality=auto&quality_preset={preset}&quality_max=100");
        let out = process(&input, &query, &Options::default()).unwrap();
        let quality = out.quality.unwrap();
        assert!(quality >= last, "{preset}: q{quality} < q{last}");
        last = quality;
    }
}

#[test]
fn auto_on_png_output_warns_and_reports_no_quality() {
    let Some(input) = common::corpus_file(PHOTO) else {
        return;
    };
    let out = process(
        &input,
        "width=100&format=png&quality=auto",
        &Options::default(),
    )
    .unwrap();
    assert_eq!(out.format, Format::Png);
    assert_eq!(out.quality, None);
    assert_eq!(out.warnings[0].parameter, "quality");
}

/// Cost and gain against a fixed quality 80 on a 1-megapixel photo. Run with
/// `cargo test --release -p picsmith --test suite quality:: -- --ignored --nocapture`.
#[test]
#[ignore = "a measurement, not a check"]
fn measure_auto_against_quality_80() {
    let Some(input) = common::corpus_file(PHOTO) else {
        return;
    };
    let options = Options::default();
    for format in ["jpeg", "webp"] {
        for quality in [
            "80",
            "auto",
            "auto&quality_preset=low",
            "auto&quality_preset=high",
            "auto&quality_method=mpe",
            "auto&quality_method=smallfry",
        ] {
            let query = format!("width=1155&format={format}&quality={quality}");
            process(&input, &query, &options).unwrap();
            let runs = 3;
            let start = Instant::now();
            let mut out = None;
            for _ in 0..runs {
                out = Some(process(&input, &query, &options).unwrap());
            }
            let out = out.unwrap();
            println!(
                "{format:5} quality={quality:28} q{:3} {:7} bytes {:6.0} ms",
                out.quality.unwrap(),
                out.data.len(),
                start.elapsed().as_secs_f64() * 1000.0 / runs as f64
            );
        }
    }
}
