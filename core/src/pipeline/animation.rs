//! Animated GIF and WebP stay animated as GIF or WebP, and GIF becomes H.264 MP4: every frame
//! goes through the same transform, with its delay and the loop count kept.

use image::{DynamicImage, imageops::FilterType};

use super::{DEFAULT_QUALITY, Pipeline, Prepared, warn_unused_encoder_options};
use crate::decode::{self, AnimationHeader, Source};
use crate::encode::{AnimationEncoder, AnimationSettings};
use crate::error::{Error, Result};
use crate::format::Format;
use crate::mp4;
use crate::ops::{Context, geometry};
use crate::query::{Quality, Rgba, Value, Warning};
use crate::{Options, Output};

/// An input that stays animated, and what it becomes.
pub(super) struct AnimationPlan {
    format: Format,
    header: AnimationHeader,
    vary_accept: bool,
}

impl Pipeline {
    /// Whether the input stays animated: a GIF or WebP of two frames or more whose output is GIF
    /// or WebP, or any GIF asked for as MP4. Checks the frame and pixel limits before any frame
    /// is decoded. `format=mp4` on other input is dropped here with a warning.
    pub(super) fn animation_plan(
        &self,
        source: &Source<'_>,
        options: &Options,
        warnings: &mut Vec<Warning>,
    ) -> Result<Option<AnimationPlan>> {
        let wants_mp4 = self.parsed.text("format").as_deref() == Some("mp4");
        if wants_mp4 && source.format != Format::Gif {
            warnings.push(Warning {
                parameter: "format".into(),
                message: format!(
                    "mp4 is made from GIF input only; ignored for {} input",
                    source.format
                ),
            });
            return Ok(None);
        }
        if !matches!(source.format, Format::Gif | Format::Webp) {
            return Ok(None);
        }
        // Alpha only decides between JPEG and PNG, neither of which animates.
        let (format, vary_accept) = self.output_format(source.format, false, options);
        if !format.can_animate() {
            return Ok(None);
        }
        let Some(header) = source.animation_header()? else {
            return Ok(None);
        };
        if header.frames < 2 && format != Format::Mp4 {
            return Ok(None);
        }
        source.check_animation(&header, &options.limits)?;
        Ok(Some(AnimationPlan {
            format,
            header,
            vary_accept,
        }))
    }

    /// Decodes, transforms and encodes one frame at a time.
    pub(super) fn run_animation(
        &self,
        source: Source<'_>,
        plan: AnimationPlan,
        options: &Options,
        mut warnings: Vec<Warning>,
    ) -> Result<Output> {
        let query = &self.parsed;
        let limits = &options.limits;
        let super::Orientation {
            exif: orientation,
            rotation,
            upright,
            ..
        } = self.orientation(&source);
        // Refuses an oversized output before any frame is decoded.
        geometry::decode_hint(query, upright, limits)?;

        let quality = match query.value("quality") {
            Some(Value::Quality(Quality::Fixed(q))) => q,
            _ => DEFAULT_QUALITY,
        };
        warn_unused_encoder_options(query, plan.format, &mut warnings);
        let lossless = query.flag("lossless");
        let header = plan.header;
        let frame_rate = if header.duration_ms > 0 {
            (header.frames as f64 * 1000.0 / header.duration_ms as f64) as f32
        } else {
            10.0
        };
        let settings = AnimationSettings {
            format: plan.format,
            quality,
            lossless,
            plays: header.plays,
            frame_rate,
        };

        let mut encoder: Option<AnimationEncoder> = None;
        let mut size = (0, 0);
        let mut frame_warnings = Vec::new();
        for (index, frame) in source.frames(&header, limits)?.enumerate() {
            let frame = frame?;
            let image = DynamicImage::ImageRgba8(frame.image);
            let mut image = geometry::turn_upright(image, orientation, rotation.quarter_turns);
            // Every frame would repeat the first frame's warnings.
            let mut context = Context {
                options,
                warnings: if index == 0 {
                    &mut warnings
                } else {
                    &mut frame_warnings
                },
            };
            image = self.transform(image, &Prepared::whole(upright), &rotation, &mut context)?;
            frame_warnings.clear();
            if plan.format == Format::Mp4 && image.color().has_alpha() {
                image = geometry::flatten(image, Rgba([255, 255, 255, 255]));
            }
            match encoder {
                None => {
                    size = (image.width(), image.height());
                    if size.0 > limits.max_output_side || size.1 > limits.max_output_side {
                        return Err(geometry::output_too_large(size.0, size.1, limits));
                    }
                    decode::check_animation_size(size.0, size.1, header.frames, limits)?;
                    encoder = Some(AnimationEncoder::new(size.0, size.1, &settings)?);
                }
                // Content-dependent steps (trim, entropy crop) may size frames differently.
                Some(_) if (image.width(), image.height()) != size => {
                    image = image.resize_exact(size.0, size.1, FilterType::Lanczos3);
                }
                Some(_) => {}
            }
            if let Some(encoder) = encoder.as_mut() {
                encoder.add(&image, frame.delay_ms)?;
            }
        }
        let encoder = encoder.ok_or_else(|| Error::invalid_image("animation has no frames"))?;
        let data = encoder.finish()?;
        let (width, height) = if plan.format == Format::Mp4 {
            mp4::video_size(size.0, size.1)
        } else {
            size
        };
        Ok(Output {
            data,
            format: plan.format,
            width,
            height,
            warnings,
            vary_accept: plan.vary_accept,
            // quality=auto searches still images only; animations use the fixed quality.
            quality: match plan.format {
                Format::Webp if !lossless => Some(quality),
                Format::Mp4 => Some(quality),
                _ => None,
            },
        })
    }
}
