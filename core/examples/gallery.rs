//! Writes an HTML gallery: one photo under every parameter of the language and every filter,
//! with the query beside each picture, so that users can choose and reviewers can check.
//!
//! ```sh
//! make gallery          # or: cargo run --release -p picsmith --example gallery -- PHOTO OUT_DIR
//! ```
//!
//! Watermark and layer examples read their images from `tests/fixtures/`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use picsmith::params::FILTERS;
use picsmith::{DirectoryResolver, Options};

/// The width every example is shown at; the photo is reduced to it once, first (JPEG at
/// quality 95, so the examples' own JPEG outputs are not judged on a twice-lossy base).
const BASE_WIDTH: u32 = 480;

/// Examples by section: a caption and the query, applied to the base photo.
const SECTIONS: &[(&str, &[&str])] = &[
    (
        "Size and crop",
        &[
            "width=240",
            "width=240&height=240&crop=fit",
            "width=240&height=240&crop=top",
            "width=240&height=240&crop=bottom",
            "width=240&height=240&crop=entropy",
            "width=240&height=240&crop=pad&pad_color=333",
            "width=240&height=240&crop=stretch",
            "width=240&crop=center,center,120,120",
            "width=240&dpr=1.5",
        ],
    ),
    (
        "Geometry",
        &[
            "rotate=90",
            "angle=90",
            "rotate=30",
            "rotate=30&crop=zoom",
            "rotate=-15&pad_color=0000&format=png",
            "flip=true",
            "pad=24&pad_color=ff8800",
            "trim=color&trim_color=white",
        ],
    ),
    (
        "Colour",
        &[
            "brightness=0.5",
            "brightness=-0.5",
            "contrast=1",
            "contrast=-0.5",
            "gamma=1",
            "gamma=-1",
            "saturation=1",
            "saturation=-1",
            "vibrance=1",
            "vibrance=-1",
            "warmth=1",
            "warmth=-1",
            "highlights=-1",
            "highlights=1",
            "shadow=1",
            "shadow=-1",
            "fill_flash=1",
            "auto_fix=true",
            "auto_level=true",
            "colorize=rgb(255,0,0)&colorize_intensity=30",
            "colorize=green&colorize_intensity=50",
        ],
    ),
    (
        "Blur and sharpen",
        &[
            "blur=10",
            "blur=50",
            "blur=100",
            "sharp_amount=100",
            "sharp_amount=100&sharp_radius=100",
        ],
    ),
    (
        "Watermark and layers",
        &[
            "mark=/logo-64x32.png",
            "mark=/logo-64x32.png&mark_pos=bottom|right&mark_offset=5&mark_alpha=60",
            "mark=/logo-64x32.png&mark_scale=50&mark_upscale=true&mark_pos=top",
            r#"layers=[{"text":"picsmith","font":"Arial Bold 32","color":"white","pos":"bottom|right","offset":10}]"#,
            r#"layers=[{"text":"Times Italic","font":"Times New Roman italic 28","color":"yellow","pos":"top"},{"url":"/logo-64x32.png","pos":"bottom|left","offset":8}]"#,
            r#"layers=[{"text":"مرحبا بالعالم","font":"DejaVu Sans 28","color":"white","pos":"center"}]"#,
        ],
    ),
    (
        "Output",
        &[
            "quality=20",
            "quality=auto",
            "format=webp&quality=auto",
            "format=avif&quality=50",
            "format=png&interlace=true",
        ],
    ),
];

fn main() {
    let mut args = std::env::args().skip(1);
    let photo = args.next().map(PathBuf::from).unwrap_or_else(default_photo);
    let out_dir = args
        .next()
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("target/gallery"));
    if let Err(message) = run(&photo, &out_dir) {
        eprintln!("gallery: {message}");
        std::process::exit(1);
    }
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn default_photo() -> PathBuf {
    let corpus = std::env::var_os("PICSMITH_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("../shared/corpus"));
    corpus.join("large-2725x2225.jpg")
}

fn run(photo: &Path, out_dir: &Path) -> Result<(), String> {
    let input =
        std::fs::read(photo).map_err(|e| format!("cannot read {}: {e}", photo.display()))?;
    std::fs::create_dir_all(out_dir)
        .map_err(|e| format!("cannot create {}: {e}", out_dir.display()))?;
    let fixtures = DirectoryResolver::new(repo().join("tests/fixtures"))
        .map_err(|e| format!("cannot open tests/fixtures: {e}"))?;
    let options = Options {
        resolver: Some(Arc::new(fixtures)),
        ..Options::default()
    };
    let base = picsmith::process(
        &input,
        &format!("width={BASE_WIDTH}&format=jpeg&quality=95"),
        &options,
    )
    .map_err(|e| format!("cannot reduce the photo: {e}"))?
    .data;

    let mut filters: Vec<(String, String)> = FILTERS
        .iter()
        .map(|f| {
            (
                format!("filter={}", f.number),
                format!("{}: {}", f.name, f.description),
            )
        })
        .collect();
    filters.sort();
    let mut sections: Vec<(&str, Vec<(String, String)>)> = SECTIONS
        .iter()
        .map(|(title, queries)| {
            let items = queries
                .iter()
                .map(|q| (q.to_string(), String::new()))
                .collect();
            (*title, items)
        })
        .collect();
    sections.insert(3, ("Filters", filters));

    let mut html = String::from(
        "<!doctype html>\n<meta charset=\"utf-8\">\n<title>picsmith gallery</title>\n<style>\
         body{font-family:system-ui,sans-serif;margin:2em;background:#f4f4f4}\
         section{display:flex;flex-wrap:wrap;gap:1em}\
         figure{margin:0;background:#fff;padding:.5em;border:1px solid #ddd;max-width:520px}\
         img{max-width:500px;display:block;background:repeating-conic-gradient(#ccc 0 25%,#fff 0 50%) 0 0/16px 16px}\
         figcaption{font-size:.85em;margin-top:.4em;word-break:break-all}\
         code{background:#eee;padding:0 .2em}.err{color:#b00}</style>\n<h1>picsmith gallery</h1>\n",
    );
    let _ = writeln!(
        html,
        "<p>Every picture is <code>{BASE_WIDTH}</code> px of <code>{}</code>, then the query below it. Version {}.</p>",
        escape(&photo.file_name().unwrap_or_default().to_string_lossy()),
        picsmith::VERSION
    );
    let _ = writeln!(
        html,
        "<h2>original</h2><section>{}</section>",
        figure(out_dir, "original", &base, "jpg", "", "")
    );
    let mut count = 0;
    for (title, items) in &sections {
        let _ = writeln!(html, "<h2>{}</h2>\n<section>", escape(title));
        for (query, note) in items {
            count += 1;
            let name = format!("{count:03}");
            match picsmith::process(&base, query, &options) {
                Ok(out) => html.push_str(&figure(
                    out_dir,
                    &name,
                    &out.data,
                    out.format.extension(),
                    query,
                    note,
                )),
                Err(e) => {
                    let _ = writeln!(
                        html,
                        "<figure><figcaption><code>{}</code><br><span class=\"err\">{}</span></figcaption></figure>",
                        escape(query),
                        escape(&e.to_string())
                    );
                }
            }
        }
        html.push_str("</section>\n");
    }
    let index = out_dir.join("index.html");
    std::fs::write(&index, html).map_err(|e| format!("cannot write {}: {e}", index.display()))?;
    println!("gallery: {count} examples in {}", index.display());
    Ok(())
}

fn figure(dir: &Path, name: &str, data: &[u8], extension: &str, query: &str, note: &str) -> String {
    let file = format!("{name}.{extension}");
    if let Err(e) = std::fs::write(dir.join(&file), data) {
        return format!("<figure class=\"err\">cannot write {file}: {e}</figure>\n");
    }
    let note = if note.is_empty() {
        String::new()
    } else {
        format!("<br>{}", escape(note))
    };
    format!(
        "<figure><img src=\"{file}\" alt=\"{q}\" loading=\"lazy\"><figcaption><code>{q}</code> ({} KB){note}</figcaption></figure>\n",
        data.len().div_ceil(1024),
        q = escape(query),
    )
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
