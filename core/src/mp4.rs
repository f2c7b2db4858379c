//! H.264 video in an MP4 container, for `format=mp4` on GIF input.
//!
//! openh264 (Cisco's encoder, built from source) makes the H.264 stream and muxide writes the
//! MP4. Frames are written as they come, so only one uncompressed frame is held at a time.

use image::{DynamicImage, RgbImage};
use muxide::api::{Muxer, MuxerBuilder, VideoCodec};
use openh264::encoder::{Encoder, EncoderConfig, FrameRate, QpRange, RateControlMode, VuiConfig};
use openh264::formats::{RgbSliceU8, YUVBuffer};
use openh264::{OpenH264API, Timestamp};

use crate::error::{Error, ErrorKind, Result};

/// openh264 encodes at most level 5.2: 3840×2160 (or 2160×3840).
const MAX_LONG_SIDE: u32 = 3840;
const MAX_SHORT_SIDE: u32 = 2160;
/// Browsers show GIF frames of 10 ms or less for 100 ms; a video frame needs a real duration.
const SHORTEST_DELAY_MS: u32 = 20;
const SHORT_DELAY_SHOWN_MS: u32 = 100;

/// openh264 refuses pictures smaller than one macroblock.
const MIN_SIDE: u32 = 16;

/// The frame size an MP4 gets for a `width`×`height` image: H.264 4:2:0 needs even sides, so
/// an odd side loses its last row or column; a side under 16 pixels (openh264's minimum) is
/// padded to 16 by repeating its last row or column.
pub(crate) fn video_size(width: u32, height: u32) -> (u32, u32) {
    let even = |side: u32| if side < MIN_SIDE { MIN_SIDE } else { side & !1 };
    (even(width), even(height))
}

/// How long a GIF frame of `delay_ms` shows in the video.
fn shown_delay(delay_ms: u32) -> u32 {
    if delay_ms < SHORTEST_DELAY_MS {
        SHORT_DELAY_SHOWN_MS
    } else {
        delay_ms
    }
}

/// The quantizer for an Imagizer quality 1-100: 100 → 11, 90 → 15, 50 → 31, 1 → 51.
fn quantizer(quality: u8) -> u8 {
    (51.0 - f32::from(quality.clamp(1, 100)) * 0.4).round() as u8
}

fn codec_error(err: impl std::fmt::Display) -> Error {
    Error::internal(format!("mp4 encoder failed: {err}"))
}

/// Writes frames of one size into an MP4, each shown for its own duration.
pub(crate) struct Mp4Encoder {
    encoder: Encoder,
    muxer: Muxer<Vec<u8>>,
    width: u32,
    height: u32,
    /// Start of the next frame, in milliseconds.
    next_start_ms: u64,
    /// The last frame written, its start and its duration, and the duration of the one before.
    last: Option<LastFrame>,
    previous_delay_ms: Option<u32>,
}

struct LastFrame {
    yuv: YUVBuffer,
    start_ms: u64,
    delay_ms: u32,
}

impl Mp4Encoder {
    /// An encoder for frames of `width`×`height` (the size before [`video_size`]).
    /// `frame_rate` is only a hint to the rate control.
    pub fn new(width: u32, height: u32, quality: u8, frame_rate: f32) -> Result<Mp4Encoder> {
        let (width, height) = video_size(width, height);
        if width.max(height) > MAX_LONG_SIDE || width.min(height) > MAX_SHORT_SIDE {
            return Err(Error::new(
                ErrorKind::LimitExceeded,
                format!(
                    "mp4 output is at most {MAX_LONG_SIDE}x{MAX_SHORT_SIDE} (or {MAX_SHORT_SIDE}x{MAX_LONG_SIDE}); asked for {width}x{height}"
                ),
            ));
        }
        let qp = quantizer(quality);
        let config = EncoderConfig::new()
            // Every frame must come out: a skipped frame would lose its timing.
            .skip_frames(false)
            .rate_control_mode(RateControlMode::Quality)
            .qp(QpRange::new(qp, qp))
            .max_frame_rate(FrameRate::from_hz(frame_rate.clamp(1.0, 120.0)))
            .vui(VuiConfig::bt601());
        let encoder =
            Encoder::with_api_config(OpenH264API::from_source(), config).map_err(codec_error)?;
        let muxer = MuxerBuilder::new(Vec::new())
            .video(VideoCodec::H264, width, height, f64::from(frame_rate))
            .with_fast_start(true)
            .build()
            .map_err(codec_error)?;
        Ok(Mp4Encoder {
            encoder,
            muxer,
            width,
            height,
            next_start_ms: 0,
            last: None,
            previous_delay_ms: None,
        })
    }

    /// Adds a frame shown for `delay_ms` (GIF delays under 20 ms show for 100 ms, as in
    /// browsers). Alpha must already be flattened.
    pub fn add(&mut self, image: &DynamicImage, delay_ms: u32) -> Result<()> {
        let delay_ms = shown_delay(delay_ms);
        let yuv = self.to_yuv(image);
        let start_ms = self.next_start_ms;
        self.write(&yuv, start_ms)?;
        if let Some(last) = self.last.take() {
            self.previous_delay_ms = Some(last.delay_ms);
        }
        self.next_start_ms = start_ms + u64::from(delay_ms);
        self.last = Some(LastFrame {
            yuv,
            start_ms,
            delay_ms,
        });
        Ok(())
    }

    /// Closes the stream and returns the MP4 file.
    pub fn finish(mut self) -> Result<Vec<u8>> {
        let last = self
            .last
            .take()
            .ok_or_else(|| Error::internal("mp4 output has no frame"))?;
        // MP4 gives the last sample the duration of the one before it. When that differs (or
        // there is a single frame), the last picture is written twice, half its time each, so
        // every frame still shows exactly as long as the GIF says.
        if self.previous_delay_ms != Some(last.delay_ms) {
            let half = last.start_ms * 2 + u64::from(last.delay_ms);
            self.write_at(&last.yuv, half as f64 / 2000.0)?;
        }
        self.muxer.finish_in_place().map_err(codec_error)?;
        Ok(self.muxer.into_writer())
    }

    fn write(&mut self, yuv: &YUVBuffer, start_ms: u64) -> Result<()> {
        self.write_at(yuv, start_ms as f64 / 1000.0)
    }

    fn write_at(&mut self, yuv: &YUVBuffer, start_s: f64) -> Result<()> {
        let timestamp = Timestamp::from_millis((start_s * 1000.0) as u64);
        let bitstream = self
            .encoder
            .encode_at(yuv, timestamp)
            .map_err(codec_error)?;
        let keyframe = matches!(
            bitstream.frame_type(),
            openh264::encoder::FrameType::IDR | openh264::encoder::FrameType::I
        );
        let data = bitstream.to_vec();
        self.muxer
            .write_video(start_s, &data, keyframe)
            .map_err(codec_error)
    }

    /// Converts to BT.601 limited-range 4:2:0 at the video size, cropping or repeating the edge.
    fn to_yuv(&self, image: &DynamicImage) -> YUVBuffer {
        let mut rgb = crate::encode::rgb8(image);
        if rgb.dimensions() != (self.width, self.height) {
            let (last_x, last_y) = (rgb.width() - 1, rgb.height() - 1);
            let evened = RgbImage::from_fn(self.width, self.height, |x, y| {
                *rgb.get_pixel(x.min(last_x), y.min(last_y))
            });
            rgb = std::borrow::Cow::Owned(evened);
        }
        YUVBuffer::from_rgb8_source(RgbSliceU8::new(
            rgb.as_raw(),
            (self.width as usize, self.height as usize),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sides_become_even_and_at_least_a_macroblock() {
        assert_eq!(video_size(101, 50), (100, 50));
        assert_eq!(video_size(1, 17), (16, 16));
        assert_eq!(video_size(16, 3000), (16, 3000));
    }

    #[test]
    fn quantizer_spans_h264_range() {
        assert_eq!(quantizer(100), 11);
        assert_eq!(quantizer(90), 15);
        assert_eq!(quantizer(1), 51);
    }
}
