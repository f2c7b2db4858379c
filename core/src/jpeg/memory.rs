//! libjpeg's large buffers from Rust's allocator.
//!
//! libjpeg takes its large buffers (the whole-image coefficient arrays of progressive coding
//! and progressive decoding) from `jpeg_get_large`, which `jmemnobs.c` maps to the C
//! library's `malloc`. glibc returns buffers that large to the system when they are freed, so
//! every image maps them again and faults in every page: 14 ms of a 6-megapixel re-encode,
//! when libjpeg still kept every coefficient to make optimised tables. The linker's `--wrap`, which build.rs asks for in this crate's
//! tests and examples and in the bindings' links, sends those calls here instead, to the
//! allocator the process uses for Rust (mimalloc in the bindings, which keeps freed pages for
//! the next image). Without the flag these functions are never called and libjpeg keeps its
//! own.

use std::alloc::{Layout, alloc, dealloc};
use std::ffi::c_void;
use std::ptr::null_mut;

/// Buffers given out, for the test that the link wraps libjpeg's calls.
#[cfg(test)]
static BUFFERS_GIVEN: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Bytes before each buffer that record its allocated size, for `dealloc`; also its alignment.
const HEADER: usize = 16;

/// `jpeg_get_large(cinfo, size)`: `size` bytes, or null (libjpeg then reports it is out of
/// memory).
#[unsafe(no_mangle)]
pub extern "C" fn __wrap_jpeg_get_large(_cinfo: *mut c_void, size: usize) -> *mut c_void {
    let Some(layout) = size
        .checked_add(HEADER)
        .and_then(|total| Layout::from_size_align(total, HEADER).ok())
    else {
        return null_mut();
    };
    #[cfg(test)]
    BUFFERS_GIVEN.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    // SAFETY: the layout has a non-zero size.
    let base = unsafe { alloc(layout) };
    if base.is_null() {
        return null_mut();
    }
    // SAFETY: `base` is HEADER-aligned and holds HEADER + size bytes.
    unsafe {
        base.cast::<usize>().write(layout.size());
        base.add(HEADER).cast()
    }
}

/// `jpeg_free_large(cinfo, object, size)`: frees what [`__wrap_jpeg_get_large`] gave.
///
/// # Safety
/// `object` is null or came from `__wrap_jpeg_get_large` and is not used again.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn __wrap_jpeg_free_large(
    _cinfo: *mut c_void,
    object: *mut c_void,
    _size: usize,
) {
    if object.is_null() {
        return;
    }
    // SAFETY: `object` is HEADER bytes into a buffer allocated with the size recorded there.
    unsafe {
        let base = object.cast::<u8>().sub(HEADER);
        let size = base.cast::<usize>().read();
        dealloc(base, Layout::from_size_align_unchecked(size, HEADER));
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use std::sync::atomic::Ordering;

    use image::{DynamicImage, RgbImage};

    use super::*;
    use crate::jpeg::{self, JpegSettings};

    #[test]
    fn libjpeg_takes_its_large_buffers_from_rust_where_the_link_wraps_them() {
        let before = BUFFERS_GIVEN.load(Ordering::Relaxed);
        let image = RgbImage::from_fn(300, 200, |x, y| image::Rgb([x as u8, y as u8, 7]));
        let settings = JpegSettings {
            quality: 80,
            progressive: true,
            exif: None,
            icc: None,
        };
        let encoded = jpeg::encode(&DynamicImage::ImageRgb8(image), &settings).unwrap();
        // The whole-image coefficient buffer of progressive coding is a large one.
        assert!(BUFFERS_GIVEN.load(Ordering::Relaxed) > before);
        let header = jpeg::read_header(&encoded).unwrap();
        let decoded = jpeg::decode(&encoded, &header, 8).unwrap();
        assert_eq!((decoded.width(), decoded.height()), (300, 200));
    }
}
