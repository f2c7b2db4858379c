//! Fonts for text layers: which files are loaded, how the families of Imagizer's font list map
//! onto them, and how a `font` declaration ("Arial Bold 20") is read.
//!
//! Only the directories of a fixed set of Debian font packages are loaded (see [`FONT_DIRS`]),
//! once per process, so rendering does not depend on whatever else a machine has installed and
//! start-up stays fast. fontdb applies no fontconfig aliases, so the families of the reference's
//! list are mapped explicitly by [`ALIASES`].

use std::sync::{Mutex, OnceLock};

use cosmic_text::fontdb::{self, Database};
use cosmic_text::{Fallback, FontSystem, Stretch, Style, SwashCache, Weight};
use unicode_script::Script;

/// Directories of the Debian packages fonts-liberation2, fonts-dejavu(-core/-extra),
/// fonts-urw-base35, fonts-open-sans, fonts-crosextra-carlito/-caladea, fonts-comic-neue and
/// (for Chinese, Japanese and Korean) fonts-droid-fallback.
pub(crate) const FONT_DIRS: &[&str] = &[
    "/usr/share/fonts/truetype/liberation2",
    "/usr/share/fonts/truetype/dejavu",
    "/usr/share/fonts/opentype/urw-base35",
    "/usr/share/fonts/truetype/open-sans",
    "/usr/share/fonts/truetype/crosextra",
    "/usr/share/fonts/opentype/comic-neue",
    "/usr/share/fonts/truetype/droid",
];

/// The family used for unknown families and as the first fallback: it covers Latin, Greek,
/// Cyrillic, Arabic and Hebrew.
pub(crate) const DEFAULT_FAMILY: &str = "DejaVu Sans";

/// Font size in pixels when a declaration gives none.
pub(crate) const DEFAULT_SIZE: f32 = 20.0;

/// Largest font size a declaration may ask for, in pixels.
pub(crate) const MAX_SIZE: f32 = 1000.0;

/// A family of the reference's list (or a common name), lowercased, and the installed family
/// that stands in for it, with the weight to use when the declaration names no style.
pub(crate) const ALIASES: &[(&str, &str, Option<u16>)] = &[
    // Metric-compatible replacements.
    ("arial", "Liberation Sans", None),
    ("helvetica", "Nimbus Sans", None),
    ("helvetica neue", "Nimbus Sans", None),
    ("times new roman", "Liberation Serif", None),
    ("times", "Liberation Serif", None),
    ("courier new", "Liberation Mono", None),
    ("courier", "Nimbus Mono PS", None),
    ("courier 10 pitch", "Nimbus Mono PS", None),
    ("calibri", "Carlito", None),
    ("cambria", "Caladea", None),
    ("liberation sans narrow", "Nimbus Sans Narrow", None),
    ("arial narrow", "Nimbus Sans Narrow", None),
    // The URW fonts under their old (type 1) and their current names.
    ("nimbus sans l", "Nimbus Sans", None),
    ("nimbus roman no9 l", "Nimbus Roman", None),
    ("nimbus mono l", "Nimbus Mono PS", None),
    ("century schoolbook l", "C059", None),
    ("century schoolbook", "C059", None),
    ("new century schoolbook", "C059", None),
    ("urw bookman l", "URW Bookman", None),
    ("bookman", "URW Bookman", None),
    ("urw chancery l", "Z003", None),
    ("zapf chancery", "Z003", None),
    ("urw gothic l", "URW Gothic", None),
    ("avant garde", "URW Gothic", None),
    ("urw palladio l", "P052", None),
    ("palatino", "P052", None),
    ("standard symbols l", "Standard Symbols PS", None),
    ("zapf dingbats", "D050000L", None),
    // Closest available designs (nothing metric-compatible is packaged).
    ("comic sans ms", "Comic Neue", None),
    ("comic sans", "Comic Neue", None),
    ("arial black", "Open Sans", Some(800)),
    ("impact", "Open Sans Condensed", Some(700)),
    ("verdana", "DejaVu Sans", None),
    ("georgia", "DejaVu Serif", None),
    ("trebuchet ms", "Open Sans", None),
    ("andale mono", "DejaVu Sans Mono", None),
    ("bitstream charter", "C059", None),
    ("utopia", "C059", None),
    ("costar brown", "Open Sans", None),
    ("redhat display", "Open Sans", None),
    ("red hat display", "Open Sans", None),
    ("playfair display", "Liberation Serif", None),
    ("spartan", "URW Gothic", None),
    // Generic names.
    ("sans-serif", "DejaVu Sans", None),
    ("sans", "DejaVu Sans", None),
    ("serif", "DejaVu Serif", None),
    ("monospace", "DejaVu Sans Mono", None),
];

/// Style words of a declaration and what they set. Matching is case-insensitive.
const STYLE_WORDS: &[(&str, StyleWord)] = &[
    ("regular", StyleWord::Weight(400)),
    ("normal", StyleWord::Weight(400)),
    ("standard", StyleWord::Weight(400)),
    ("roman", StyleWord::Weight(400)),
    ("book", StyleWord::Weight(400)),
    ("thin", StyleWord::Weight(100)),
    ("extralight", StyleWord::Weight(200)),
    ("light", StyleWord::Weight(300)),
    ("medium", StyleWord::Weight(500)),
    ("semibold", StyleWord::Weight(600)),
    ("demibold", StyleWord::Weight(600)),
    ("demi", StyleWord::Weight(600)),
    ("bold", StyleWord::Weight(700)),
    ("extrabold", StyleWord::Weight(800)),
    ("black", StyleWord::Weight(900)),
    ("heavy", StyleWord::Weight(900)),
    ("italic", StyleWord::Style(Style::Italic)),
    ("oblique", StyleWord::Style(Style::Oblique)),
    ("condensed", StyleWord::Condensed),
];

#[derive(Debug, Clone, Copy)]
enum StyleWord {
    Weight(u16),
    Style(Style),
    Condensed,
}

/// A `font` declaration, read.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct FontSpec {
    /// The installed family to use.
    pub family: String,
    pub weight: Weight,
    pub style: Style,
    pub stretch: Stretch,
    /// Size in pixels.
    pub size: f32,
    /// What could not be honoured (an unknown family or style word), for a warning.
    pub notes: Vec<String>,
}

/// Reads "family style size" (every part optional: "Arial Bold 20", "italic 20", "20",
/// "Times 20"). A size out of range is an error; an unknown family or style word is not: the
/// family falls back to [`DEFAULT_FAMILY`] and the word is ignored, each with a note.
pub(crate) fn parse_font(
    declaration: &str,
    installed: &dyn Fn(&str) -> Option<String>,
) -> Result<FontSpec, String> {
    let mut words: Vec<&str> = declaration.split_whitespace().collect();
    let mut size = DEFAULT_SIZE;
    if let Some(last) = words.last() {
        let number = last.strip_suffix("px").unwrap_or(last);
        if let Ok(value) = number.parse::<f32>() {
            if !(value.is_finite() && (1.0..=MAX_SIZE).contains(&value)) {
                return Err(format!(
                    "font size '{last}' is out of range: 1 to {MAX_SIZE} pixels"
                ));
            }
            size = value;
            words.pop();
        }
    }
    let mut notes = Vec::new();
    // The longest leading run of words that names a family wins, so "Arial Black" is a family
    // and not Arial in black.
    let known = (1..=words.len()).rev().find_map(|n| {
        let name = words[..n].join(" ");
        lookup_family(&name, installed).map(|found| (n, found))
    });
    let (style_words, family, default_weight) = match known {
        Some((n, (family, weight))) => (&words[n..], family, weight),
        None => {
            let first_style = words
                .iter()
                .position(|w| style_word(w).is_some())
                .unwrap_or(words.len());
            if first_style > 0 {
                notes.push(format!(
                    "font family '{}' is not available; using {DEFAULT_FAMILY}",
                    words[..first_style].join(" ")
                ));
            }
            (&words[first_style..], DEFAULT_FAMILY.to_owned(), None)
        }
    };
    let mut weight = default_weight.map_or(Weight::NORMAL, Weight);
    let mut style = Style::Normal;
    let mut stretch = Stretch::Normal;
    for word in style_words {
        match style_word(word) {
            Some(StyleWord::Weight(w)) => weight = Weight(w),
            Some(StyleWord::Style(s)) => style = s,
            Some(StyleWord::Condensed) => stretch = Stretch::Condensed,
            None => notes.push(format!("font style '{word}' is not known; ignored")),
        }
    }
    Ok(FontSpec {
        family,
        weight,
        style,
        stretch,
        size,
        notes,
    })
}

fn style_word(word: &str) -> Option<StyleWord> {
    let lower = word.to_ascii_lowercase();
    let compact = lower.replace('-', "");
    STYLE_WORDS
        .iter()
        .find(|(name, _)| *name == compact)
        .map(|(_, style)| *style)
}

/// The installed family for a name: an alias, else an installed family of that name.
fn lookup_family(
    name: &str,
    installed: &dyn Fn(&str) -> Option<String>,
) -> Option<(String, Option<u16>)> {
    let lower = name.to_ascii_lowercase();
    if let Some((_, family, weight)) = ALIASES.iter().find(|(alias, _, _)| *alias == lower) {
        return Some(((*family).to_owned(), *weight));
    }
    installed(&lower).map(|family| (family, None))
}

/// Fallbacks when the chosen font lacks a character: DejaVu for most scripts (Arabic and
/// Hebrew included), Droid Sans Fallback for Chinese, Japanese and Korean; never a symbol font.
struct PackagedFallback;

impl Fallback for PackagedFallback {
    fn common_fallback(&self) -> &[&'static str] {
        &[
            "DejaVu Sans",
            "DejaVu Serif",
            "DejaVu Sans Mono",
            "Droid Sans Fallback",
        ]
    }

    fn forbidden_fallback(&self) -> &[&'static str] {
        &["Standard Symbols PS", "D050000L", "DejaVu Math TeX Gyre"]
    }

    fn script_fallback(&self, script: Script, _locale: &str) -> &[&'static str] {
        match script {
            Script::Han
            | Script::Hiragana
            | Script::Katakana
            | Script::Hangul
            | Script::Bopomofo => &["Droid Sans Fallback"],
            _ => &["DejaVu Sans"],
        }
    }
}

/// The process's font system and glyph cache. cosmic-text needs `&mut` access to both while
/// shaping and rasterizing, so text layers take turns through the mutex.
pub(crate) struct Fonts {
    pub system: FontSystem,
    pub cache: SwashCache,
    /// Lowercased family name → the family as installed.
    families: Vec<(String, String)>,
}

impl Fonts {
    /// The installed family whose name is `lower` (lowercased), if any.
    pub fn installed(&self, lower: &str) -> Option<String> {
        self.families
            .iter()
            .find(|(key, _)| key == lower)
            .map(|(_, name)| name.clone())
    }

    /// How many font faces were loaded.
    pub fn face_count(&self) -> usize {
        self.system.db().len()
    }
}

/// The fonts of [`FONT_DIRS`], loaded on first use.
pub(crate) fn fonts() -> &'static Mutex<Fonts> {
    static FONTS: OnceLock<Mutex<Fonts>> = OnceLock::new();
    FONTS.get_or_init(|| {
        let mut db = Database::new();
        for dir in FONT_DIRS {
            db.load_fonts_dir(dir);
        }
        db.set_sans_serif_family(DEFAULT_FAMILY);
        db.set_serif_family("DejaVu Serif");
        db.set_monospace_family("DejaVu Sans Mono");
        let mut families: Vec<(String, String)> = db
            .faces()
            .flat_map(|face: &fontdb::FaceInfo| face.families.iter().map(|(name, _)| name.clone()))
            .map(|name| (name.to_lowercase(), name))
            .collect();
        families.sort();
        families.dedup();
        let system =
            FontSystem::new_with_locale_and_db_and_fallback("en-US".into(), db, PackagedFallback);
        Mutex::new(Fonts {
            system,
            cache: SwashCache::new(),
            families,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn none(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn declarations_split_into_family_style_and_size() {
        let spec = parse_font("Arial Bold 20", &none).unwrap();
        assert_eq!(spec.family, "Liberation Sans");
        assert_eq!(spec.weight, Weight::BOLD);
        assert_eq!(spec.size, 20.0);
        assert!(spec.notes.is_empty());

        let spec = parse_font("italic 20", &none).unwrap();
        assert_eq!(
            (spec.family.as_str(), spec.style),
            (DEFAULT_FAMILY, Style::Italic)
        );
        assert!(spec.notes.is_empty(), "{:?}", spec.notes);

        let spec = parse_font("20", &none).unwrap();
        assert_eq!((spec.family.as_str(), spec.size), (DEFAULT_FAMILY, 20.0));

        let spec = parse_font("Times 32.5", &none).unwrap();
        assert_eq!(
            (spec.family.as_str(), spec.size),
            ("Liberation Serif", 32.5)
        );

        let spec = parse_font("arial black", &none).unwrap();
        assert_eq!(
            (spec.family.as_str(), spec.weight),
            ("Open Sans", Weight(800))
        );

        let spec = parse_font("Comic Sans MS Bold Italic", &none).unwrap();
        assert_eq!(spec.family, "Comic Neue");
        assert_eq!((spec.weight, spec.style), (Weight::BOLD, Style::Italic));

        let spec = parse_font("", &none).unwrap();
        assert_eq!(
            (spec.family.as_str(), spec.size),
            (DEFAULT_FAMILY, DEFAULT_SIZE)
        );
    }

    #[test]
    fn unknown_families_fall_back_with_a_note_and_bad_sizes_fail() {
        let spec = parse_font("Wingdings Bold 12", &none).unwrap();
        assert_eq!(spec.family, DEFAULT_FAMILY);
        assert_eq!(spec.weight, Weight::BOLD);
        assert!(spec.notes[0].contains("Wingdings"), "{:?}", spec.notes);
        let spec = parse_font("Arial Fancy", &none).unwrap();
        assert!(spec.notes[0].contains("Fancy"));
        assert!(parse_font("Arial 0", &none).is_err());
        assert!(parse_font("Arial 5000", &none).is_err());
        assert!(parse_font("Arial NaN", &none).is_err());
    }

    #[test]
    fn installed_families_and_every_alias_target_are_loaded() {
        let fonts = fonts().lock().unwrap();
        assert!(
            fonts.face_count() > 50,
            "fonts are installed ({})",
            fonts.face_count()
        );
        for (alias, family, _) in ALIASES {
            assert!(
                fonts.installed(&family.to_lowercase()).is_some(),
                "{alias} maps to {family}, which is not installed"
            );
        }
        assert_eq!(fonts.installed("open sans").as_deref(), Some("Open Sans"));
    }
}
