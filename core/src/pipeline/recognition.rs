//! `recognition=nsfw|labels`: classify the image the rest of the query produces and answer
//! with JSON instead of an image.

use super::{Orientation, Output, Pipeline, Prepared};
use crate::Options;
use crate::decode;
use crate::error::Result;
use crate::format::Format;
use crate::ops::{Context, geometry};
use crate::query::Warning;
use crate::recognition::{self, Task};

/// Parameters that shape the encoded image only: the answer is JSON, so they do nothing.
const ENCODER_PARAMETERS: &[&str] = &[
    "format",
    "quality",
    "quality_attempts",
    "quality_method",
    "quality_preset",
    "quality_target",
    "quality_min",
    "quality_max",
    "lossless",
    "interlace",
    "strip_exif",
];

impl Pipeline {
    /// Decodes, orients and transforms as [`Pipeline::run`] does without encoding, then runs
    /// the classifier on the result (the first frame of an animation). Without other
    /// parameters, a JPEG is shrunk while decoding to what the model's input needs.
    pub(super) fn run_recognition(&self, input: &[u8], options: &Options) -> Result<Output> {
        let query = &self.parsed;
        let task = query
            .text("recognition")
            .as_deref()
            .and_then(Task::from_name)
            .expect("the registry accepts only known tasks");
        // A missing or broken model is reported before any pixel is decoded.
        let classifier = recognition::classifier(task, &options.models)?;
        let limits = &options.limits;
        let mut warnings = query.warnings.clone();
        for &name in ENCODER_PARAMETERS {
            if query.values.contains_key(name) {
                warnings.push(Warning {
                    parameter: name.into(),
                    message: format!("{name} has no effect with recognition: the answer is JSON"),
                });
            }
        }
        let transforms = query
            .values
            .keys()
            .any(|name| *name != "recognition" && !ENCODER_PARAMETERS.contains(name));

        let source = decode::open(input, limits)?;
        let Orientation {
            exif: orientation,
            rotation,
            turns_side,
            upright,
        } = self.orientation(&source);
        let hint = if transforms {
            geometry::decode_hint(query, upright, limits)?
        } else {
            Some(classifier.decode_size())
        };
        let stored_hint = hint.map(|(w, h)| if turns_side { (h, w) } else { (w, h) });
        let decoded = source.decode_scaled(stored_hint)?;
        let mut image = geometry::turn_upright(decoded.image, orientation, rotation.quarter_turns);
        if transforms {
            let mut context = Context {
                options,
                warnings: &mut warnings,
            };
            let prepared = Prepared {
                scale: decoded.scale,
                ..Prepared::whole(upright)
            };
            image = self.transform(image, &prepared, &rotation, &mut context)?;
        }

        let answer = classifier.classify(&image)?;
        Ok(Output {
            data: serde_json::to_vec(&answer).expect("JSON values serialize"),
            format: Format::Json,
            width: image.width(),
            height: image.height(),
            warnings,
            vary_accept: false,
            quality: None,
        })
    }
}
