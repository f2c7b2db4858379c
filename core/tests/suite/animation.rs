//! Animated GIF and WebP: frames, delays and loop counts survive a transform; MP4 from GIF is
//! checked with ffprobe; limits refuse before decoding.

use crate::common;

use std::io::Cursor;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use picsmith::{ErrorKind, Format, Limits, Options, Pipeline};

fn run(input: &[u8], query: &str) -> picsmith::Output {
    Pipeline::from_query(query)
        .unwrap()
        .run(input, &Options::default())
        .unwrap()
}

/// Frame sizes, delays (10 ms units) and the repeat setting of a GIF.
fn gif_frames(bytes: &[u8]) -> (Vec<(u16, u16)>, Vec<u16>, gif::Repeat) {
    let mut options = gif::DecodeOptions::new();
    options.set_color_output(gif::ColorOutput::RGBA);
    let mut decoder = options.read_info(bytes).unwrap();
    let (mut sizes, mut delays) = (Vec::new(), Vec::new());
    while let Some(frame) = decoder.read_next_frame().unwrap() {
        sizes.push((frame.width, frame.height));
        delays.push(frame.delay);
    }
    (sizes, delays, decoder.repeat())
}

/// Frame delays (ms) and loop count of a WebP.
fn webp_frames(bytes: &[u8]) -> (u32, Vec<u32>, image_webp::LoopCount, (u32, u32)) {
    let mut decoder = image_webp::WebPDecoder::new(Cursor::new(bytes)).unwrap();
    assert!(decoder.is_animated(), "output WebP is not animated");
    let size = decoder.dimensions();
    let mut buffer = vec![0; decoder.output_buffer_size().unwrap()];
    let mut delays = Vec::new();
    for _ in 0..decoder.num_frames() {
        delays.push(decoder.read_frame(&mut buffer).unwrap());
    }
    (decoder.num_frames(), delays, decoder.loop_count(), size)
}

#[test]
fn animated_gif_resized_keeps_frames_delays_and_loop_count() {
    let Some(input) = common::corpus_file("anim-loop3.gif") else {
        return;
    };
    let (in_sizes, in_delays, in_repeat) = gif_frames(&input);
    assert!(in_sizes.len() > 1);
    let output = run(&input, "width=40");
    assert_eq!(output.format, Format::Gif);
    assert_eq!(output.width, 40);
    let (sizes, delays, repeat) = gif_frames(&output.data);
    assert_eq!(sizes.len(), in_sizes.len());
    assert!(sizes.iter().all(|&s| s == (40, output.height as u16)));
    assert_eq!(delays, in_delays);
    assert_eq!(repeat, in_repeat);
}

#[test]
fn animated_webp_stays_animated_webp() {
    let Some(input) = common::corpus_file("anim-rotating-squares.webp") else {
        return;
    };
    let (in_frames, in_delays, in_loop, _) = webp_frames(&input);
    let output = run(&input, "width=60&quality=80");
    assert_eq!(output.format, Format::Webp);
    let (frames, delays, loop_count, size) = webp_frames(&output.data);
    assert_eq!(size, (60, output.height));
    assert_eq!(frames, in_frames);
    assert_eq!(delays, in_delays);
    assert_eq!(loop_count, in_loop);
}

#[test]
fn animated_gif_to_webp_is_animated_with_gif_timing() {
    let Some(input) = common::corpus_file("anim-rotating-squares.gif") else {
        return;
    };
    let (in_sizes, in_delays, in_repeat) = gif_frames(&input);
    let output = run(&input, "width=64&format=webp");
    assert_eq!(output.format, Format::Webp);
    let (frames, delays, loop_count, _) = webp_frames(&output.data);
    // libwebp folds a frame that changes nothing visible into the one before it, adding up
    // their delays: every output frame starts where an input frame starts, and the total
    // play time is the same.
    assert!(frames >= 2 && frames as usize <= in_sizes.len());
    let starts = |delays: &[u32]| -> Vec<u32> {
        delays
            .iter()
            .scan(0, |t, &d| {
                let start = *t;
                *t += d;
                Some(start)
            })
            .collect()
    };
    let in_ms: Vec<u32> = in_delays.iter().map(|&d| u32::from(d) * 10).collect();
    let in_starts = starts(&in_ms);
    assert!(starts(&delays).iter().all(|s| in_starts.contains(s)));
    assert_eq!(delays.iter().sum::<u32>(), in_ms.iter().sum::<u32>());
    let lossless = run(&input, "width=64&format=webp&lossless=true");
    let (lossless_frames, _, _, _) = webp_frames(&lossless.data);
    eprintln!(
        "GIF frames {}, lossy WebP {frames}, lossless WebP {lossless_frames}",
        in_sizes.len()
    );
    // GIF counts repeats after the first play, WebP counts plays.
    let expected = match in_repeat {
        gif::Repeat::Infinite => image_webp::LoopCount::Forever,
        gif::Repeat::Finite(n) => {
            image_webp::LoopCount::Times(std::num::NonZeroU16::new(n + 1).unwrap())
        }
    };
    assert_eq!(loop_count, expected);
}

#[test]
fn animated_gif_to_jpeg_takes_the_first_frame() {
    let Some(input) = common::corpus_file("anim-rotating-squares.gif") else {
        return;
    };
    let output = run(&input, "format=jpeg");
    assert_eq!(output.format, Format::Jpeg);
    let first = image::load_from_memory(&input).unwrap().to_rgb8();
    let jpeg = image::load_from_memory(&output.data).unwrap().to_rgb8();
    assert_eq!(jpeg.dimensions(), first.dimensions());
    let diff: u64 = first
        .as_raw()
        .iter()
        .zip(jpeg.as_raw())
        .map(|(&a, &b)| (a as i32 - b as i32).unsigned_abs() as u64)
        .sum();
    let mean = diff as f64 / first.as_raw().len() as f64;
    assert!(
        mean < 4.0,
        "JPEG differs from the first frame by {mean} on average"
    );
}

/// A 4×4 GIF of `frames` frames whose LZW data is garbage: the container is well formed, so
/// only decoding the pixels fails.
fn gif_with_undecodable_frames(frames: usize) -> Vec<u8> {
    let mut gif = b"GIF89a\x04\x00\x04\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff".to_vec();
    for _ in 0..frames {
        gif.extend_from_slice(b"\x2c\x00\x00\x00\x00\x04\x00\x04\x00\x00");
        gif.extend_from_slice(b"\x02\x03\xff\xff\xff\x00");
    }
    gif.push(0x3b);
    gif
}

#[test]
fn frame_limit_refuses_before_decoding() {
    let input = gif_with_undecodable_frames(3);
    let pipeline = Pipeline::from_query("width=2").unwrap();
    // Decoding these frames fails...
    let err = pipeline.run(&input, &Options::default()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidImage, "{err}");
    // ...so a limit error proves the count was checked first.
    let options = Options {
        limits: Limits {
            max_animation_frames: 2,
            ..Default::default()
        },
        ..Default::default()
    };
    let err = pipeline.run(&input, &options).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::LimitExceeded, "{err}");
    assert!(err.to_string().contains("3 frames"), "{err}");
}

#[test]
fn pixel_budget_refuses_before_decoding() {
    let input = gif_with_undecodable_frames(3);
    let options = Options {
        limits: Limits {
            max_animation_pixels: 4 * 4 * 3 - 1,
            ..Default::default()
        },
        ..Default::default()
    };
    let err = Pipeline::from_query("width=2")
        .unwrap()
        .run(&input, &options)
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::LimitExceeded, "{err}");
}

#[test]
fn pixel_budget_counts_output_frames() {
    let Some(input) = common::corpus_file("anim-loop3.gif") else {
        return;
    };
    let (sizes, _, _) = gif_frames(&input);
    let (w, h) = image::load_from_memory(&input)
        .unwrap()
        .to_rgba8()
        .dimensions();
    // Enough for the source, not for a 4× upscale of it.
    let options = Options {
        limits: Limits {
            max_animation_pixels: (w * h) as u64 * sizes.len() as u64 * 2,
            ..Default::default()
        },
        ..Default::default()
    };
    let query = format!("width={}&upscale=true", w * 2);
    let err = Pipeline::from_query(&query)
        .unwrap()
        .run(&input, &options)
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::LimitExceeded, "{err}");
}

#[test]
fn truncated_animated_gif_is_invalid_image() {
    let Some(input) = common::corpus_file("trunc-half-anim.gif") else {
        return;
    };
    for query in ["width=50", "format=webp", "format=mp4", "format=png"] {
        let err = Pipeline::from_query(query)
            .unwrap()
            .run(&input, &Options::default())
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidImage, "{query}: {err}");
    }
}

#[test]
fn png_with_format_mp4_warns_and_stays_png() {
    let Some(input) = common::corpus_file("tiny-2x1.gif") else {
        return;
    };
    let png = run(&input, "format=png").data;
    let output = run(&png, "format=mp4");
    assert_eq!(output.format, Format::Png);
    assert_eq!(output.warnings.len(), 1);
    assert_eq!(output.warnings[0].parameter, "format");
}

/// ffprobe's view of the video stream, or `None` (with a visible message) without ffprobe.
fn probe(mp4: &[u8]) -> Option<serde_json::Value> {
    // Tests run in parallel threads: one file per call.
    static CALLS: AtomicUsize = AtomicUsize::new(0);
    let call = CALLS.fetch_add(1, Ordering::Relaxed);
    let name = format!("picsmith-anim-{}-{call}.mp4", std::process::id());
    let path = std::env::temp_dir().join(name);
    std::fs::write(&path, mp4).unwrap();
    let result = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-count_frames",
            "-show_streams",
            "-of",
            "json",
        ])
        .arg(&path)
        .output();
    let _ = std::fs::remove_file(&path);
    let output = match result {
        Ok(output) => output,
        Err(_) => {
            eprintln!("SKIPPED: ffprobe is not installed (apt-get install ffmpeg)");
            return None;
        }
    };
    assert!(
        output.status.success(),
        "ffprobe failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    Some(json["streams"][0].clone())
}

#[test]
fn gif_to_mp4_is_h264_with_the_gif_timing() {
    let Some(input) = common::corpus_file("anim-rotating-squares.gif") else {
        return;
    };
    let (sizes, delays, _) = gif_frames(&input);
    let output = run(&input, "width=51&format=mp4");
    assert_eq!(output.format, Format::Mp4);
    assert_eq!(output.mime(), "video/mp4");
    // H.264 4:2:0 needs even sides: the odd column is cropped.
    assert_eq!(output.width, 50);
    assert_eq!(output.height % 2, 0);
    let Some(stream) = probe(&output.data) else {
        return;
    };
    assert_eq!(stream["codec_name"], "h264");
    assert_eq!(stream["width"], output.width);
    assert_eq!(stream["height"], output.height);
    let shown = |d: u16| if d < 2 { 100 } else { u64::from(d) * 10 };
    let total_ms: u64 = delays.iter().map(|&d| shown(d)).sum();
    let duration: f64 = stream["duration"].as_str().unwrap().parse().unwrap();
    assert!(
        (duration * 1000.0 - total_ms as f64).abs() < 2.0,
        "duration {duration} s, GIF plays {total_ms} ms"
    );
    let frames: usize = stream["nb_read_frames"].as_str().unwrap().parse().unwrap();
    // One extra sample only when the last delay differs from the one before.
    let extra = usize::from(delays[delays.len() - 1] != delays[delays.len() - 2]);
    assert_eq!(frames, sizes.len() + extra);
}

#[test]
fn still_gif_to_mp4_lasts_its_delay() {
    let Some(input) = common::corpus_file("tiny-2x1.gif") else {
        return;
    };
    let output = run(&input, "format=mp4");
    // openh264's smallest picture is 16x16: the 2x1 GIF is padded.
    assert_eq!((output.width, output.height), (16, 16));
    let Some(stream) = probe(&output.data) else {
        return;
    };
    assert_eq!(stream["codec_name"], "h264");
    let duration: f64 = stream["duration"].as_str().unwrap().parse().unwrap();
    assert!((duration - 0.1).abs() < 0.002, "duration {duration}");
}
