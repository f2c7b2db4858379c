//! libvips as a second decoder (HEIF/HEIC, AVIF, JPEG XL, TIFF) and as the JPEG XL encoder,
//! behind the same [`crate::decode::Source`] as the pure-Rust codecs.
//!
//! All the `unsafe` of the libvips path is in this module: [`ffi`] opens libvips and finds the
//! few C calls picsmith makes (checked against Debian's libvips 8.14 headers), and the rest
//! wraps them in safe types. Rules kept here:
//! - libvips is loaded and initialised once ([`init`]), when the first image needs it, with
//!   its operation cache off: picsmith never repeats an operation on the same image, and a
//!   cache would hold decoded pixels between requests.
//! - Every failing call reads and clears the libvips error buffer ([`last_error`]).
//! - Each loader is called by name for the format picsmith detected from the bytes, so libvips
//!   never sniffs the input itself and never hands it to a loader picsmith did not choose
//!   (such as ImageMagick's).
//! - Loading reads the header only; pixels are produced in [`Loaded::decode`], after the
//!   caller has checked the limits, with `access=sequential` so that the loader streams.

use std::ffi::{CStr, c_char, c_int, c_void};
use std::marker::PhantomData;
use std::ptr::{self, NonNull};
use std::sync::OnceLock;

use image::{DynamicImage, GrayAlphaImage, GrayImage, RgbImage, RgbaImage};

use crate::error::{Error, ErrorKind, Result};
use crate::format::Format;

/// The C declarations: only the calls picsmith makes. Enum values are those of
/// `vips/image.h`, `vips/foreign.h` and `vips/colour.h` (8.14); C enums are `int`.
mod ffi {
    use std::ffi::{c_char, c_int, c_void};
    use std::sync::OnceLock;

    /// `VipsImage`, only ever behind a pointer.
    #[repr(C)]
    pub struct VipsImage {
        _opaque: [u8; 0],
    }

    pub const ACCESS_SEQUENTIAL: c_int = 1;
    pub const FAIL_ON_ERROR: c_int = 2;
    pub const FORMAT_UCHAR: c_int = 0;
    pub const FORMAT_USHORT: c_int = 2;
    pub const INTERPRETATION_B_W: c_int = 1;
    pub const INTERPRETATION_SRGB: c_int = 22;
    pub const INTERPRETATION_GREY16: c_int = 26;
    pub const INTENT_RELATIVE: c_int = 1;
    pub const TRUE: c_int = 1;
    /// `G_LOG_LEVEL_WARNING`.
    pub const LOG_LEVEL_WARNING: c_int = 1 << 4;

    /// Declares the functions of [`Api`] once: their types, and the names they are looked up
    /// by in the loaded library. A variadic function ends its arguments with `; ...`.
    macro_rules! api {
        ($(
            $(#[$doc:meta])*
            fn $name:ident($($arg:ident: $type:ty),* $(,)? $(; $variadic:tt)?) $(-> $returns:ty)?;
        )*) => {
            /// The libvips (and GLib) functions picsmith calls, found in the library [`load`]
            /// opened, which stays loaded for the life of the process.
            pub struct Api {
                $(
                    $(#[$doc])*
                    pub $name: unsafe extern "C" fn($($type),* $(, $variadic)?) $(-> $returns)?,
                )*
                _library: libloading::Library,
            }

            impl Api {
                /// # Safety
                /// `library` must be libvips 8.x, whose functions have these types.
                unsafe fn from(library: libloading::Library) -> Result<Api, libloading::Error> {
                    // SAFETY: the caller vouches for the types; the pointers stay valid while
                    // `_library` is loaded, which is as long as the table exists.
                    unsafe {
                        Ok(Api {
                            $($name: *library.get(concat!(stringify!($name), "\0").as_bytes())?,)*
                            _library: library,
                        })
                    }
                }
            }
        };
    }

    api! {
        fn vips_init(argv0: *const c_char) -> c_int;
        fn vips_version(flag: c_int) -> c_int;
        fn vips_cache_set_max(max: c_int);
        /// A copy of the error buffer (free with `g_free`); clears the buffer.
        fn vips_error_buffer_copy() -> *mut c_char;
        fn vips_error_clear();
        // Loaders and savers. Variadic: name/value option pairs ending with NULL.
        fn vips_heifload_buffer(
            buf: *mut c_void,
            len: usize,
            out: *mut *mut VipsImage;
            ...
        ) -> c_int;
        fn vips_tiffload_buffer(
            buf: *mut c_void,
            len: usize,
            out: *mut *mut VipsImage;
            ...
        ) -> c_int;
        fn vips_jxlload_buffer(
            buf: *mut c_void,
            len: usize,
            out: *mut *mut VipsImage;
            ...
        ) -> c_int;
        fn vips_jxlsave_buffer(
            image: *mut VipsImage,
            buf: *mut *mut c_void,
            len: *mut usize;
            ...
        ) -> c_int;
        // Header.
        fn vips_image_get_width(image: *const VipsImage) -> c_int;
        fn vips_image_get_height(image: *const VipsImage) -> c_int;
        fn vips_image_get_bands(image: *const VipsImage) -> c_int;
        fn vips_image_get_format(image: *const VipsImage) -> c_int;
        fn vips_image_get_interpretation(image: *const VipsImage) -> c_int;
        fn vips_image_hasalpha(image: *mut VipsImage) -> c_int;
        fn vips_image_get_n_pages(image: *mut VipsImage) -> c_int;
        fn vips_image_get_typeof(image: *const VipsImage, name: *const c_char) -> usize;
        fn vips_image_get_int(
            image: *const VipsImage,
            name: *const c_char,
            out: *mut c_int,
        ) -> c_int;
        fn vips_image_get_blob(
            image: *const VipsImage,
            name: *const c_char,
            data: *mut *const c_void,
            len: *mut usize,
        ) -> c_int;
        fn vips_image_set_blob_copy(
            image: *mut VipsImage,
            name: *const c_char,
            data: *const c_void,
            len: usize,
        );
        // Pixels.
        fn vips_icc_transform(
            input: *mut VipsImage,
            out: *mut *mut VipsImage,
            output_profile: *const c_char;
            ...
        ) -> c_int;
        fn vips_colourspace(
            input: *mut VipsImage,
            out: *mut *mut VipsImage,
            space: c_int;
            ...
        ) -> c_int;
        fn vips_cast(input: *mut VipsImage, out: *mut *mut VipsImage, format: c_int; ...) -> c_int;
        fn vips_copy(input: *mut VipsImage, out: *mut *mut VipsImage; ...) -> c_int;
        fn vips_extract_band(
            input: *mut VipsImage,
            out: *mut *mut VipsImage,
            band: c_int;
            ...
        ) -> c_int;
        fn vips_image_write_to_memory(image: *mut VipsImage, size: *mut usize) -> *mut c_void;
        fn vips_image_new_from_memory(
            data: *const c_void,
            size: usize,
            width: c_int,
            height: c_int,
            bands: c_int,
            format: c_int,
        ) -> *mut VipsImage;
        // GLib, found through libvips' own dependencies.
        fn g_log_set_handler(
            domain: *const c_char,
            levels: c_int,
            handler: unsafe extern "C" fn(*const c_char,
            c_int,
            *const c_char,
            *mut c_void),
            data: *mut c_void,
        ) -> std::ffi::c_uint;
        fn g_object_unref(object: *mut c_void);
        fn g_free(mem: *mut c_void);
    }

    /// The file libvips 8.x is loaded from (its soname).
    #[cfg(target_os = "macos")]
    pub const LIBRARY: &str = "libvips.42.dylib";
    #[cfg(not(target_os = "macos"))]
    pub const LIBRARY: &str = "libvips.so.42";

    /// Opens libvips, once per process, the first time an image needs it: its hundred or so
    /// dependencies (17 MiB resident in Python) stay out of processes that never read HEIF,
    /// AVIF, JPEG XL or TIFF.
    pub fn load() -> Result<&'static Api, String> {
        static API: OnceLock<Result<Api, String>> = OnceLock::new();
        API.get_or_init(|| {
            // SAFETY: opening libvips runs its and its dependencies' initialisers, as linking
            // it would; the types of the table are those of its 8.14 headers, and `init`
            // refuses older versions before any other call.
            unsafe {
                let library = libloading::Library::new(LIBRARY).map_err(|e| e.to_string())?;
                Api::from(library).map_err(|e| e.to_string())
            }
        })
        .as_ref()
        .map_err(Clone::clone)
    }

    /// The table, for code that runs only once `init` has succeeded.
    pub fn api() -> &'static Api {
        load().expect("libvips is loaded before any of its functions is called")
    }
}

/// The end of a variadic option list.
const END: *const c_char = ptr::null();

/// Loads and starts libvips once per process. libvips is thread-safe after `vips_init`. A
/// system without libvips (or with one older than 8.14) reads every other format; these
/// answer that their format needs it.
fn init() -> Result<()> {
    static STARTED: OnceLock<std::result::Result<(), (ErrorKind, String)>> = OnceLock::new();
    STARTED
        .get_or_init(|| {
            let missing = |reason: String| {
                let message = format!(
                    "HEIF/HEIC, AVIF, JPEG XL and TIFF need libvips 8.14 or later ({}), which \
                     this system cannot provide: {reason}",
                    ffi::LIBRARY
                );
                (ErrorKind::UnsupportedFormat, message)
            };
            let api = ffi::load().map_err(missing)?;
            // SAFETY: vips_version only reads constants; vips_init is called once (OnceLock)
            // with a NUL-terminated string; the cache setter only takes an int.
            unsafe {
                let version = ((api.vips_version)(0), (api.vips_version)(1));
                if version < (8, 14) {
                    return Err(missing(format!(
                        "version {}.{} is loaded",
                        version.0, version.1
                    )));
                }
                if (api.vips_init)(c"picsmith".as_ptr()) != 0 {
                    let reason = format!("libvips failed to start: {}", last_error());
                    return Err((ErrorKind::Internal, reason));
                }
                (api.vips_cache_set_max)(0);
                // libvips prints warnings (such as "heifload: ignoring nclx profile" for most
                // AVIF files) to stderr, once per image: a server's log would fill with them.
                // Loaders run with fail_on=error, so anything that matters is an error.
                (api.g_log_set_handler)(
                    c"VIPS".as_ptr(),
                    ffi::LOG_LEVEL_WARNING,
                    ignore_log,
                    ptr::null_mut(),
                );
            }
            Ok(())
        })
        .clone()
        .map_err(|(kind, message)| Error::new(kind, message))
}

/// A GLib log handler that drops the message.
unsafe extern "C" fn ignore_log(
    _domain: *const c_char,
    _level: c_int,
    _message: *const c_char,
    _data: *mut c_void,
) {
}

/// The libvips version this process runs, as `major.minor.micro`.
pub fn version() -> Option<String> {
    init().ok()?;
    // SAFETY: vips_version only reads constants.
    let part = |flag| unsafe { (ffi::api().vips_version)(flag) };
    Some(format!("{}.{}.{}", part(0), part(1), part(2)))
}

/// Reads and clears the libvips error buffer. In libvips 8.14 this buffer is one per process
/// (behind a lock), not one per thread: when two threads fail at the same moment, one message
/// may carry the other's text too, or find the buffer already emptied. The message is only
/// for people; the error kind never depends on it.
fn last_error() -> String {
    // SAFETY: vips_error_buffer_copy returns a g_malloc'd NUL-terminated copy (or NULL), which
    // is freed here after copying it out.
    unsafe {
        let text = (ffi::api().vips_error_buffer_copy)();
        if text.is_null() {
            return "libvips gave no reason".into();
        }
        let message = CStr::from_ptr(text).to_string_lossy().trim().to_owned();
        (ffi::api().g_free)(text.cast());
        if message.is_empty() {
            "libvips gave no reason".into()
        } else {
            message.replace('\n', "; ")
        }
    }
}

/// Empties the error buffer before a call, so that a failure reports its own messages rather
/// than what earlier calls that recovered (or other threads) left there.
fn clear_errors() {
    // SAFETY: takes no argument; the buffer is behind libvips' own lock.
    unsafe { (ffi::api().vips_error_clear)() }
}

/// An owned reference to a `VipsImage`, released on drop.
struct Image(NonNull<ffi::VipsImage>);

impl Drop for Image {
    fn drop(&mut self) {
        // SAFETY: the pointer is a live GObject reference owned by this value.
        unsafe { (ffi::api().g_object_unref)(self.0.as_ptr().cast()) }
    }
}

impl Image {
    fn ptr(&self) -> *mut ffi::VipsImage {
        self.0.as_ptr()
    }

    /// Runs a libvips operation that writes a new image to `out`, returning it or the error
    /// buffer's text.
    fn from_call(
        call: impl FnOnce(*mut *mut ffi::VipsImage) -> c_int,
    ) -> std::result::Result<Image, String> {
        let mut out: *mut ffi::VipsImage = ptr::null_mut();
        clear_errors();
        let status = call(&mut out);
        match NonNull::new(out) {
            Some(image) if status == 0 => Ok(Image(image)),
            Some(image) => {
                drop(Image(image));
                Err(last_error())
            }
            None => Err(last_error()),
        }
    }

    fn width(&self) -> u32 {
        // SAFETY: reading a field of a live image.
        unsafe { (ffi::api().vips_image_get_width)(self.ptr()) }.max(0) as u32
    }

    fn height(&self) -> u32 {
        // SAFETY: as above.
        unsafe { (ffi::api().vips_image_get_height)(self.ptr()) }.max(0) as u32
    }

    fn bands(&self) -> u32 {
        // SAFETY: as above.
        unsafe { (ffi::api().vips_image_get_bands)(self.ptr()) }.max(0) as u32
    }

    fn band_format(&self) -> c_int {
        // SAFETY: as above.
        unsafe { (ffi::api().vips_image_get_format)(self.ptr()) }
    }

    fn interpretation(&self) -> c_int {
        // SAFETY: as above.
        unsafe { (ffi::api().vips_image_get_interpretation)(self.ptr()) }
    }

    fn has_alpha(&self) -> bool {
        // SAFETY: as above.
        unsafe { (ffi::api().vips_image_hasalpha)(self.ptr()) != 0 }
    }

    fn pages(&self) -> u32 {
        // SAFETY: as above; libvips answers 1 when the loader set no page count.
        unsafe { (ffi::api().vips_image_get_n_pages)(self.ptr()) }.max(1) as u32
    }

    fn int(&self, name: &CStr) -> Option<i32> {
        let mut value: c_int = 0;
        // SAFETY: `name` is NUL-terminated; get_typeof is checked first so that get_int does
        // not put a "field not found" message into the error buffer.
        unsafe {
            if (ffi::api().vips_image_get_typeof)(self.ptr(), name.as_ptr()) == 0 {
                return None;
            }
            if (ffi::api().vips_image_get_int)(self.ptr(), name.as_ptr(), &mut value) != 0 {
                last_error();
                return None;
            }
        }
        Some(value)
    }

    fn has_blob(&self, name: &CStr) -> bool {
        // SAFETY: `name` is NUL-terminated; the image is live.
        unsafe { (ffi::api().vips_image_get_typeof)(self.ptr(), name.as_ptr()) != 0 }
    }

    fn blob(&self, name: &CStr) -> Option<Vec<u8>> {
        let mut data: *const c_void = ptr::null();
        let mut len: usize = 0;
        // SAFETY: as in `int`; the blob belongs to the image and is copied out at once.
        unsafe {
            if (ffi::api().vips_image_get_typeof)(self.ptr(), name.as_ptr()) == 0 {
                return None;
            }
            if (ffi::api().vips_image_get_blob)(self.ptr(), name.as_ptr(), &mut data, &mut len) != 0
            {
                last_error();
                return None;
            }
            if data.is_null() || len == 0 {
                return None;
            }
            Some(std::slice::from_raw_parts(data.cast::<u8>(), len).to_vec())
        }
    }
}

/// An input opened by libvips: the header is read, no pixel is decoded. Borrows the encoded
/// bytes, which libvips reads lazily without copying them.
pub(crate) struct Loaded<'a> {
    image: Image,
    format: Format,
    _bytes: PhantomData<&'a [u8]>,
}

/// Whether picsmith reads `format` through libvips.
pub(crate) const fn reads(format: Format) -> bool {
    matches!(
        format,
        Format::Heif | Format::Avif | Format::Jxl | Format::Tiff
    )
}

/// Opens `bytes` with the libvips loader of `format`, at `page` (0 = the first or primary
/// image). Reads the header only.
pub(crate) fn load(bytes: &[u8], format: Format, page: u32) -> Result<Loaded<'_>> {
    init()?;
    if page > 0 {
        let first = load_page(bytes, format, 0)?;
        let pages = first.image.pages();
        if page >= pages {
            return Err(Error::for_parameter(
                ErrorKind::InvalidParameter,
                "page",
                format!(
                    "page={page} but this {} has {pages} page{} (counted from 0)",
                    format.name(),
                    if pages == 1 { "" } else { "s" }
                ),
            ));
        }
    }
    load_page(bytes, format, page)
}

fn load_page(bytes: &[u8], format: Format, page: u32) -> Result<Loaded<'_>> {
    let buf = bytes.as_ptr().cast_mut().cast::<c_void>();
    let len = bytes.len();
    let page = page.min(i32::MAX as u32) as c_int;
    // SAFETY: libvips reads `len` bytes at `buf` (it never writes through the pointer despite
    // the C signature) for as long as the image lives, which `Loaded<'a>` ties to the borrow
    // of `bytes`. The option lists are name/value pairs of the types the loaders declare
    // (access: enum, fail_on: enum, page: int), ended by NULL. `page` is passed only when
    // asked for: without it the HEIF loader reads the primary image, with it the n-th
    // top-level image in file order.
    let image = unsafe {
        let access = c"access".as_ptr();
        let fail_on = c"fail_on".as_ptr();
        let page_name = c"page".as_ptr();
        let (sequential, strict) = (ffi::ACCESS_SEQUENTIAL, ffi::FAIL_ON_ERROR);
        Image::from_call(|out| match format {
            Format::Heif | Format::Avif if page > 0 => (ffi::api().vips_heifload_buffer)(
                buf, len, out, access, sequential, fail_on, strict, page_name, page, END,
            ),
            Format::Heif | Format::Avif => (ffi::api().vips_heifload_buffer)(
                buf, len, out, access, sequential, fail_on, strict, END,
            ),
            Format::Tiff => (ffi::api().vips_tiffload_buffer)(
                buf, len, out, access, sequential, fail_on, strict, page_name, page, END,
            ),
            _ => (ffi::api().vips_jxlload_buffer)(
                buf, len, out, access, sequential, fail_on, strict, END,
            ),
        })
    }
    .map_err(|message| load_error(format, &message))?;
    if image.width() == 0 || image.height() == 0 {
        return Err(Error::invalid_image(format!(
            "{format} declares a zero width or height"
        )));
    }
    Ok(Loaded {
        image,
        format,
        _bytes: PhantomData,
    })
}

fn load_error(format: Format, message: &str) -> Error {
    Error::invalid_image(format!(
        "{format} is corrupt, truncated or uses a feature libvips cannot read: {message}"
    ))
}

impl Loaded<'_> {
    /// Size as the loader gives it: HEIF and AVIF with their `irot`/`imir` transforms already
    /// applied, JPEG XL with its orientation applied, TIFF as stored.
    pub fn size(&self) -> (u32, u32) {
        (self.image.width(), self.image.height())
    }

    pub fn has_alpha(&self) -> bool {
        self.image.has_alpha()
    }

    /// The embedded ICC profile.
    pub fn icc(&self) -> Option<Vec<u8>> {
        self.image.blob(c"icc-profile-data")
    }

    /// The EXIF block as a TIFF structure (any `Exif\0\0` or HEIF offset prefix removed).
    pub fn exif(&self) -> Option<Vec<u8>> {
        let exif = self.image.blob(c"exif-data")?;
        let start = (0..exif.len().min(16))
            .find(|&at| exif[at..].starts_with(b"II*\0") || exif[at..].starts_with(b"MM\0*"))?;
        Some(exif[start..].to_vec())
    }

    /// The orientation (1-8) the pixels still need, from the TIFF `Orientation` tag. HEIF,
    /// AVIF and JPEG XL come out of their decoders upright, so this is 1 for them.
    pub fn orientation(&self) -> u8 {
        if self.format != Format::Tiff {
            return 1;
        }
        match self.image.int(c"orientation") {
            Some(n @ 1..=8) => n as u8,
            _ => 1,
        }
    }

    /// Decodes to 8-bit sRGB (or gray), alpha kept. With an embedded ICC profile the pixels are
    /// converted from it (CMYK, 16-bit, wide gamut), so the result carries no profile.
    pub fn decode(self) -> Result<DynamicImage> {
        let format = self.format;
        let fail = |message: String| load_error(format, &message);
        let mut image = self.image;
        let mut converted = false;
        if image.has_blob(c"icc-profile-data") {
            // SAFETY: the option list is name/value pairs (gboolean, enum, int) ended by NULL;
            // "srgb" is libvips' built-in sRGB profile.
            let result = Image::from_call(|out| unsafe {
                (ffi::api().vips_icc_transform)(
                    image.ptr(),
                    out,
                    c"srgb".as_ptr(),
                    c"embedded".as_ptr(),
                    ffi::TRUE,
                    c"intent".as_ptr(),
                    ffi::INTENT_RELATIVE,
                    c"depth".as_ptr(),
                    8 as c_int,
                    END,
                )
            });
            // A profile libvips cannot use (damaged, or of the wrong colour space for the
            // pixels) falls back to the conversion by interpretation below.
            if let Ok(transformed) = result {
                image = transformed;
                converted = true;
            }
        }
        let interpretation = image.interpretation();
        if !converted
            && interpretation != ffi::INTERPRETATION_SRGB
            && interpretation != ffi::INTERPRETATION_B_W
        {
            let gray = interpretation == ffi::INTERPRETATION_GREY16
                || (interpretation == ffi::INTERPRETATION_B_W)
                || image.bands() - u32::from(image.has_alpha()) == 1;
            let target = if gray {
                ffi::INTERPRETATION_B_W
            } else {
                ffi::INTERPRETATION_SRGB
            };
            // SAFETY: option list is just the terminating NULL.
            image = Image::from_call(|out| unsafe {
                (ffi::api().vips_colourspace)(image.ptr(), out, target, END)
            })
            .map_err(fail)?;
        }
        if image.band_format() != ffi::FORMAT_UCHAR {
            // 16-bit values scale down by 256 (shift); other types are clipped to 0-255.
            let shift = c_int::from(image.band_format() == ffi::FORMAT_USHORT);
            // SAFETY: one gboolean option, then NULL.
            image = Image::from_call(|out| unsafe {
                (ffi::api().vips_cast)(
                    image.ptr(),
                    out,
                    ffi::FORMAT_UCHAR,
                    c"shift".as_ptr(),
                    shift,
                    END,
                )
            })
            .map_err(fail)?;
        }
        let bands = image.bands();
        if bands > 4 {
            let keep: c_int = if image.has_alpha() { 4 } else { 3 };
            // SAFETY: one int option, then NULL.
            image = Image::from_call(|out| unsafe {
                (ffi::api().vips_extract_band)(image.ptr(), out, 0, c"n".as_ptr(), keep, END)
            })
            .map_err(fail)?;
        }
        let (width, height, bands) = (image.width(), image.height(), image.bands());
        let pixels = write_to_memory(&image).map_err(fail)?;
        let expected = width as usize * height as usize * bands as usize;
        if pixels.len() != expected {
            return Err(Error::internal(format!(
                "libvips gave {} bytes for {width}x{height}x{bands}",
                pixels.len()
            )));
        }
        let wrong_size = || Error::internal("libvips pixels do not fit their size");
        Ok(match bands {
            1 => DynamicImage::ImageLuma8(
                GrayImage::from_raw(width, height, pixels).ok_or_else(wrong_size)?,
            ),
            2 => DynamicImage::ImageLumaA8(
                GrayAlphaImage::from_raw(width, height, pixels).ok_or_else(wrong_size)?,
            ),
            3 => DynamicImage::ImageRgb8(
                RgbImage::from_raw(width, height, pixels).ok_or_else(wrong_size)?,
            ),
            4 => DynamicImage::ImageRgba8(
                RgbaImage::from_raw(width, height, pixels).ok_or_else(wrong_size)?,
            ),
            other => {
                return Err(Error::new(
                    ErrorKind::UnsupportedFormat,
                    format!("{format} with {other} bands is not supported"),
                ));
            }
        })
    }
}

/// Runs the image's pipeline into a buffer and copies it out.
fn write_to_memory(image: &Image) -> std::result::Result<Vec<u8>, String> {
    let mut size: usize = 0;
    // SAFETY: on success libvips returns a g_malloc'd buffer of `size` bytes, copied and freed
    // here.
    unsafe {
        let data = (ffi::api().vips_image_write_to_memory)(image.ptr(), &mut size);
        if data.is_null() {
            return Err(last_error());
        }
        let pixels = std::slice::from_raw_parts(data.cast::<u8>(), size).to_vec();
        (ffi::api().g_free)(data);
        Ok(pixels)
    }
}

/// libjxl's effort 1-9: 4 is several times faster than the default 7 on a photo for a few
/// percent more bytes.
const JXL_EFFORT: c_int = 4;

/// Encodes 8-bit pixels as JPEG XL. `icc`, when given, describes the pixels and is embedded;
/// libvips 8.14 writes no EXIF to JPEG XL.
pub(crate) fn encode_jxl(
    image: &DynamicImage,
    quality: u8,
    lossless: bool,
    icc: Option<&[u8]>,
) -> Result<Vec<u8>> {
    save(Format::Jxl, image, icc, |wrapped, data, len| {
        // SAFETY: options are name/value pairs (int, gboolean, int) ended by NULL.
        unsafe {
            (ffi::api().vips_jxlsave_buffer)(
                wrapped,
                data,
                len,
                c"Q".as_ptr(),
                c_int::from(quality.clamp(1, 100)),
                c"lossless".as_ptr(),
                c_int::from(lossless),
                c"effort".as_ptr(),
                JXL_EFFORT,
                END,
            )
        }
    })
}

/// Wraps `image` (8-bit) for a libvips saver, with `icc` attached, and returns what `saver`
/// writes: it is called with the image, then where to put the g_malloc'd buffer and its length.
fn save(
    format: Format,
    image: &DynamicImage,
    icc: Option<&[u8]>,
    saver: impl FnOnce(*mut ffi::VipsImage, *mut *mut c_void, *mut usize) -> c_int,
) -> Result<Vec<u8>> {
    init()?;
    let fail = |message: String| Error::internal(format!("{format} encoder failed: {message}"));
    let bands: c_int = match image {
        DynamicImage::ImageLuma8(_) => 1,
        DynamicImage::ImageLumaA8(_) => 2,
        DynamicImage::ImageRgb8(_) => 3,
        DynamicImage::ImageRgba8(_) => 4,
        _ => return Err(fail("it needs 8-bit pixels".into())),
    };
    let pixels = image.as_bytes();
    let (width, height) = (image.width() as c_int, image.height() as c_int);
    // SAFETY: the image wraps `pixels` without copying; it and the copy made from it are
    // dropped (unreferenced) at the end of this function, while `pixels` is still borrowed.
    let wrapped = unsafe {
        NonNull::new((ffi::api().vips_image_new_from_memory)(
            pixels.as_ptr().cast(),
            pixels.len(),
            width,
            height,
            bands,
            ffi::FORMAT_UCHAR,
        ))
    }
    .map(Image)
    .ok_or_else(|| fail(last_error()))?;
    let interpretation = if bands <= 2 {
        ffi::INTERPRETATION_B_W
    } else {
        ffi::INTERPRETATION_SRGB
    };
    // SAFETY: one enum option, then NULL. The copy shares the wrapped pixels.
    let wrapped = Image::from_call(|out| unsafe {
        (ffi::api().vips_copy)(
            wrapped.ptr(),
            out,
            c"interpretation".as_ptr(),
            interpretation,
            END,
        )
    })
    .map_err(fail)?;
    if let Some(icc) = icc {
        // SAFETY: libvips copies the profile into the image's metadata.
        unsafe {
            (ffi::api().vips_image_set_blob_copy)(
                wrapped.ptr(),
                c"icc-profile-data".as_ptr(),
                icc.as_ptr().cast(),
                icc.len(),
            )
        }
    }
    let mut data: *mut c_void = ptr::null_mut();
    let mut len: usize = 0;
    clear_errors();
    let status = saver(wrapped.ptr(), &mut data, &mut len);
    if status != 0 || data.is_null() {
        return Err(fail(last_error()));
    }
    // SAFETY: on success `data` is a g_malloc'd buffer of `len` bytes, copied and freed here.
    let encoded = unsafe {
        let encoded = std::slice::from_raw_parts(data.cast::<u8>(), len).to_vec();
        (ffi::api().g_free)(data);
        encoded
    };
    drop(wrapped);
    Ok(encoded)
}

/// Decodes `bytes` through the libvips loader of `format` whatever the bytes are, with the
/// source-pixel limit checked on the header first: for tests that push every file through
/// every libvips loader. Answers the decoded size and whether it has alpha.
#[doc(hidden)]
pub fn decode_with(
    bytes: &[u8],
    format: Format,
    limits: &crate::Limits,
) -> Result<(u32, u32, bool)> {
    if !reads(format) {
        return Err(Error::new(
            ErrorKind::UnsupportedFormat,
            format!("picsmith does not read {format} through libvips"),
        ));
    }
    let loaded = load(bytes, format, 0)?;
    let (width, height) = loaded.size();
    if u64::from(width) * u64::from(height) > limits.max_source_pixels {
        return Err(Error::new(
            ErrorKind::LimitExceeded,
            format!("source is {width}x{height}; over the pixel limit"),
        ));
    }
    let image = loaded.decode()?;
    Ok((image.width(), image.height(), image.color().has_alpha()))
}
