//! Resource limits, checked before work is done.

/// Bounds on what one transform may consume. Every check happens before the work it guards:
/// the pixel count is read from the header, before any pixel is allocated.
///
/// ```
/// let limits = picsmith::Limits { max_source_pixels: 24_000_000, ..Default::default() };
/// assert_eq!(limits.max_input_bytes, 64 * 1024 * 1024);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest input accepted, in bytes. Default 64 MiB.
    pub max_input_bytes: u64,
    /// Largest source image, in pixels (width × height as the header declares). Default 100 MP.
    pub max_source_pixels: u64,
    /// Longest side of the output, in pixels. Default 16384.
    pub max_output_side: u32,
    /// Most frames an animated GIF or WebP may have to stay animated. Default 500.
    pub max_animation_frames: u32,
    /// Most pixels an animation may decode or produce in total (width × height × frames, of
    /// the source and of the output). Default 400 MP: a few seconds of work.
    pub max_animation_pixels: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_input_bytes: 64 * 1024 * 1024,
            max_source_pixels: 100_000_000,
            max_output_side: 16384,
            max_animation_frames: 500,
            max_animation_pixels: 400_000_000,
        }
    }
}
