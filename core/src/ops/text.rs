//! Text rendering for text layers: shaping (bidirectional text, joined Arabic letters, font
//! fallback per script) with cosmic-text, rasterized with swash into an RGBA image that holds
//! exactly the ink.

use cosmic_text::{Attrs, Buffer, Color, Family, Metrics, Shaping};
use image::{Rgba, RgbaImage};

use crate::error::{Error, ErrorKind, Result};
use crate::fonts::{FontSpec, Fonts};

/// Line height as a multiple of the font size.
const LINE_HEIGHT: f32 = 1.2;

/// Lays `text` out in one box without wrapping (lines break only at newlines).
fn layout(fonts: &mut Fonts, text: &str, font: &FontSpec, size: f32) -> Buffer {
    let mut buffer = Buffer::new(&mut fonts.system, Metrics::relative(size, LINE_HEIGHT));
    buffer.set_size(None, None);
    let attrs = Attrs::new()
        .family(Family::Name(&font.family))
        .weight(font.weight)
        .style(font.style)
        .stretch(font.stretch);
    buffer.set_text(text, &attrs, Shaping::Advanced, None);
    buffer.shape_until_scroll(&mut fonts.system, false);
    buffer
}

/// The size of the laid-out text box at `size` pixels: the widest line by the lines' height.
pub(crate) fn measure(fonts: &mut Fonts, text: &str, font: &FontSpec, size: f32) -> (f32, f32) {
    let buffer = layout(fonts, text, font, size);
    buffer.layout_runs().fold((0.0f32, 0.0f32), |(w, h), run| {
        (w.max(run.line_w), h.max(run.line_top + run.line_height))
    })
}

/// Draws `text` at `size` pixels in `color` and returns the image of its ink (tightly cropped),
/// or `None` when the text has no ink (only spaces). The image may hold at most `max_pixels`.
pub(crate) fn render(
    fonts: &mut Fonts,
    text: &str,
    font: &FontSpec,
    size: f32,
    color: [u8; 4],
    max_pixels: u64,
) -> Result<Option<RgbaImage>> {
    let mut buffer = layout(fonts, text, font, size);
    let white = Color::rgba(255, 255, 255, 255);
    // First pass: where the ink is. Glyph images are cached, so the second pass is cheap, and
    // the canvas is allocated at exactly the ink's size whatever the overhangs and direction.
    let mut bounds: Option<(i32, i32, i32, i32)> = None;
    buffer.draw(
        &mut fonts.system,
        &mut fonts.cache,
        white,
        |x, y, w, h, c| {
            if c.a() == 0 || w == 0 || h == 0 {
                return;
            }
            let (x1, y1) = (x + w as i32, y + h as i32);
            bounds = Some(match bounds {
                None => (x, y, x1, y1),
                Some((a, b, c, d)) => (a.min(x), b.min(y), c.max(x1), d.max(y1)),
            });
        },
    );
    let Some((left, top, right, bottom)) = bounds else {
        return Ok(None);
    };
    let (width, height) = ((right - left) as u32, (bottom - top) as u32);
    if width as u64 * height as u64 > max_pixels {
        return Err(Error::new(
            ErrorKind::LimitExceeded,
            format!("text of {width}x{height} pixels is larger than the limit of {max_pixels}"),
        ));
    }
    let mut canvas = RgbaImage::from_pixel(width, height, Rgba([color[0], color[1], color[2], 0]));
    buffer.draw(
        &mut fonts.system,
        &mut fonts.cache,
        white,
        |x, y, w, h, c| {
            let coverage = c.a() as u32 * color[3] as u32 / 255;
            if coverage == 0 {
                return;
            }
            for py in y.max(top)..(y + h as i32).min(bottom) {
                for px in x.max(left)..(x + w as i32).min(right) {
                    let pixel = canvas.get_pixel_mut((px - left) as u32, (py - top) as u32);
                    // Overlapping glyphs of one colour: alpha "over" alpha.
                    let under = pixel[3] as u32;
                    pixel[3] = (coverage + under * (255 - coverage) / 255).min(255) as u8;
                }
            }
        },
    );
    Ok(Some(canvas))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fonts::{fonts, parse_font};

    fn spec(declaration: &str) -> FontSpec {
        let fonts = fonts().lock().unwrap();
        parse_font(declaration, &|name| fonts.installed(name)).unwrap()
    }

    fn ink(image: &RgbaImage) -> u64 {
        image.pixels().map(|p| p[3] as u64).sum::<u64>() / 255
    }

    #[test]
    fn latin_text_has_ink_in_its_color_and_scales_with_size() {
        let font = spec("Arial 20");
        let mut fonts = fonts().lock().unwrap();
        let (w, h) = measure(&mut fonts, "Hello", &font, 20.0);
        assert!(
            (40.0..80.0).contains(&w) && (20.0..30.0).contains(&h),
            "{w}x{h}"
        );
        let image = render(
            &mut fonts,
            "Hello",
            &font,
            20.0,
            [200, 10, 20, 255],
            u64::MAX,
        )
        .unwrap()
        .unwrap();
        assert!(
            image.width() as f32 <= w + 2.0 && image.height() <= 20,
            "{:?}",
            image.dimensions()
        );
        assert!(image.pixels().all(|p| p.0[..3] == [200, 10, 20]));
        assert!(image.pixels().any(|p| p[3] == 255));
        let (w40, _) = measure(&mut fonts, "Hello", &font, 40.0);
        assert!((w40 / w - 2.0).abs() < 0.05, "{w} -> {w40}");
        assert!(
            render(&mut fonts, "   ", &font, 20.0, [0, 0, 0, 255], u64::MAX)
                .unwrap()
                .is_none()
        );
        assert_eq!(
            render(&mut fonts, "Hello", &font, 20.0, [0, 0, 0, 255], 10)
                .unwrap_err()
                .kind(),
            ErrorKind::LimitExceeded
        );
    }

    #[test]
    fn bold_has_more_ink_than_regular() {
        let (regular, bold) = (spec("Arial 30"), spec("Arial Bold 30"));
        let mut fonts = fonts().lock().unwrap();
        let a = render(
            &mut fonts,
            "Watermark",
            &regular,
            30.0,
            [0, 0, 0, 255],
            u64::MAX,
        )
        .unwrap()
        .unwrap();
        let b = render(
            &mut fonts,
            "Watermark",
            &bold,
            30.0,
            [0, 0, 0, 255],
            u64::MAX,
        )
        .unwrap()
        .unwrap();
        assert!(
            ink(&b) as f64 > ink(&a) as f64 * 1.2,
            "{} vs {}",
            ink(&b),
            ink(&a)
        );
    }

    #[test]
    fn arabic_is_shaped_right_to_left_with_joined_letters() {
        // "سلام" (peace). Joined, the four letters are narrower than drawn apart, and the
        // first letter in logical order (sin) ends up on the right.
        let font = spec("Arial 40");
        let mut fonts = fonts().lock().unwrap();
        let joined = measure(&mut fonts, "سلام", &font, 40.0).0;
        let isolated: f32 = ["س", "ل", "ا", "م"]
            .iter()
            .map(|letter| measure(&mut fonts, letter, &font, 40.0).0)
            .sum();
        assert!(
            joined > 20.0 && joined < isolated,
            "joined {joined}, isolated {isolated}"
        );
        let image = render(&mut fonts, "سلام", &font, 40.0, [0, 0, 0, 255], u64::MAX)
            .unwrap()
            .unwrap();
        assert!(ink(&image) > 100, "{}", ink(&image));
        let sin = render(&mut fonts, "س", &font, 40.0, [0, 0, 0, 255], u64::MAX)
            .unwrap()
            .unwrap();
        assert!(image.width() > sin.width());
        // Right to left: the glyph of the first character (sin) is the rightmost one.
        let buffer = layout(&mut fonts, "سلام", &font, 40.0);
        let run = buffer.layout_runs().next().unwrap();
        assert!(run.rtl);
        let first = run.glyphs.iter().find(|g| g.start == 0).unwrap();
        assert!(
            run.glyphs.iter().all(|g| g.x <= first.x),
            "{:?}",
            run.glyphs
                .iter()
                .map(|g| (g.start, g.x))
                .collect::<Vec<_>>()
        );
        // Open Sans has neither Chinese nor Hebrew: they fall back to fonts that have them
        // (Droid Sans Fallback; a Hebrew-capable sans), real glyphs rather than boxes.
        drop(fonts);
        let latin_only = spec("Open Sans 20");
        let mut fonts = crate::fonts::fonts().lock().unwrap();
        let hebrew_capable = ["DejaVu Sans", "Liberation Sans"];
        for (sample, families) in [
            ("漢字", &["Droid Sans Fallback"][..]),
            ("שלום", &hebrew_capable[..]),
        ] {
            let buffer = layout(&mut fonts, sample, &latin_only, 20.0);
            let run = buffer.layout_runs().next().unwrap();
            for glyph in run.glyphs {
                let face = fonts.system.db().face(glyph.font_id).unwrap();
                assert!(
                    families.contains(&face.families[0].0.as_str()),
                    "{sample}: {}",
                    face.families[0].0
                );
                assert_ne!(glyph.glyph_id, 0, "{sample}: missing glyph");
            }
        }
        // Mixed directions and a script DejaVu lacks do not fail.
        assert!(
            render(
                &mut fonts,
                "abc שלום 123 漢字",
                &font,
                20.0,
                [0, 0, 0, 255],
                u64::MAX
            )
            .unwrap()
            .is_some()
        );
    }
}
