//! The storage client in C: `picsmith_library_*`. Options and results cross as NUL-terminated
//! UTF-8 JSON, the form the core defines once (camelCase keys); every returned string is
//! released with `picsmith_string_free`. Since ABI 2.4.

use std::ffi::c_char;

use std::time::Duration;

use engine::storage::{Library, LibraryConfig, LibrarySettings, UploadOptions, UploadSource};

use super::{
    c_string, emit_image, input_bytes, limits_arg, optional_str, picsmith_image, picsmith_limits,
    picsmith_status, required_str, reset_out, status_call, Failure,
};

/// Originals, records and processed variants in one storage and catalog. Opaque; created by
/// `picsmith_library_open`, released with `picsmith_library_free`. Safe to use from many
/// threads at once.
pub struct picsmith_library {
    library: Library,
}

/// Checks `library` and `out` and hands back the library.
///
/// # Safety
///
/// `library` is NULL or a live library; `out` as for [`reset_out`].
unsafe fn library_and_out<'a, T>(
    library: *const picsmith_library,
    out: *mut *mut T,
) -> Result<&'a Library, Failure> {
    // SAFETY: forwarded contract.
    unsafe { reset_out(out)? };
    // SAFETY: NULL or live per the contract.
    unsafe { library.as_ref() }
        .map(|l| &l.library)
        .ok_or_else(|| Failure::invalid_argument("library is NULL"))
}

/// Writes a JSON string for C to own.
///
/// # Safety
///
/// `out` was checked by [`reset_out`].
unsafe fn emit_json(json: String, out: *mut *mut c_char) {
    // SAFETY: as above.
    unsafe { out.write(c_string(&json).into_raw()) };
}

/// A JSON array of strings (`["a", "b"]`).
///
/// # Safety
///
/// As [`required_str`].
unsafe fn string_list(ptr: *const c_char, name: &str) -> Result<Vec<String>, Failure> {
    // SAFETY: forwarded contract.
    let json = unsafe { required_str(ptr, name)? };
    serde_json::from_str(json).map_err(|e| {
        Failure::from(engine::Error::for_parameter(
            engine::ErrorKind::InvalidParameter,
            name,
            format!("{name} must be a JSON array of strings: {e}"),
        ))
    })
}

fn to_json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("storage results serialise")
}

/// Opens a library. `settings_json` (NULL for none) overrides the environment
/// (`PICSMITH_STORAGE`, `PICSMITH_CATALOG`, ...), which overrides the embedded default of files
/// under `./picsmith-data` and SQLite: `{"storage": "s3://BUCKET?endpoint=…&path_style=true",
/// "catalog": "postgres://USER@HOST:PORT/DB", "cache": "off", "quotaBytes": 1073741824,
/// "allowPrivateAddresses": false, "allowedHosts": ["*.example.com"]}`.
///
/// ```c
/// picsmith_library *lib = NULL;
/// if (picsmith_library_open("{\"storage\": \"memory://\"}", NULL, &lib) != PICSMITH_STATUS_OK)
///     fprintf(stderr, "%s\n", picsmith_last_error_message());
/// ```
///
/// # Safety
///
/// `settings_json` is NULL or a NUL-terminated UTF-8 string; `limits` is NULL (the defaults) or
/// points to a `picsmith_limits`; `out` must be valid for writing one pointer.
///
/// Ownership: the caller owns `*out` and releases it with `picsmith_library_free`.
///
/// Thread safety: may be called from any number of threads at once.
#[no_mangle]
pub unsafe extern "C" fn picsmith_library_open(
    settings_json: *const c_char,
    limits: *const picsmith_limits,
    out: *mut *mut picsmith_library,
) -> picsmith_status {
    status_call(|| {
        // SAFETY: every pointer is checked by these helpers under the contract above.
        unsafe {
            reset_out(out)?;
            let settings: LibrarySettings = engine::storage::parse_options(
                optional_str(settings_json, "settings_json")?,
                "settings",
            )?;
            let mut config = LibraryConfig::from_env()?.with_settings(settings)?;
            config.limits = limits_arg(limits);
            let library = Library::open(config)?;
            out.write(Box::into_raw(Box::new(picsmith_library { library })));
        }
        Ok(())
    })
}

/// Releases a library. NULL is a no-op.
///
/// # Safety
///
/// `library` must be NULL or a library from `picsmith_library_open` that has not been freed.
///
/// Thread safety: no other thread may be using the library.
#[no_mangle]
pub unsafe extern "C" fn picsmith_library_free(library: *mut picsmith_library) {
    super::boundary((), || {
        if !library.is_null() {
            // SAFETY: allocated by `Box::into_raw` in `picsmith_library_open`.
            drop(unsafe { Box::from_raw(library) });
        }
    })
}

/// Stores an image given as bytes and writes its record as JSON to `*out`. `options_json`
/// (NULL for the defaults): `{"fileName", "folder", "path", "useUniqueFileName", "tags",
/// "title", "description", "albumId", "categoryId", "customCoordinates", "isPrivate", "nsfw",
/// "expiration" (ISO 8601, e.g. "PT5M"), "account", "transform", "prerender"}`. Nothing is kept
/// when it fails.
///
/// # Safety
///
/// `library` is a live library; `data` is valid for reads of `len` bytes; `options_json` is
/// NULL or a NUL-terminated UTF-8 string; `out` must be valid for writing one pointer.
///
/// Ownership: the caller owns `*out` (release with `picsmith_string_free`).
///
/// Thread safety: may be called from any number of threads at once.
#[no_mangle]
pub unsafe extern "C" fn picsmith_library_upload(
    library: *const picsmith_library,
    data: *const u8,
    len: usize,
    options_json: *const c_char,
    out: *mut *mut c_char,
) -> picsmith_status {
    status_call(|| {
        // SAFETY: every pointer is checked by these helpers under the contract above.
        unsafe {
            let library = library_and_out(library, out)?;
            let bytes = input_bytes(data, len)?.to_vec();
            let options: UploadOptions = engine::storage::parse_options(
                optional_str(options_json, "options_json")?,
                "options",
            )?;
            let record = library.upload(UploadSource::Bytes(bytes), &options)?;
            emit_json(record.to_json(), out);
        }
        Ok(())
    })
}

/// As `picsmith_library_upload`, with the image given as text: an http(s) URL (fetched under
/// the library's address policy) or base64 (a `data:` URI too).
///
/// # Safety
///
/// As `picsmith_library_upload`, with `text` a NUL-terminated UTF-8 string.
#[no_mangle]
pub unsafe extern "C" fn picsmith_library_upload_text(
    library: *const picsmith_library,
    text: *const c_char,
    options_json: *const c_char,
    out: *mut *mut c_char,
) -> picsmith_status {
    status_call(|| {
        // SAFETY: every pointer is checked by these helpers under the contract above.
        unsafe {
            let library = library_and_out(library, out)?;
            let source = UploadSource::from_text(required_str(text, "text")?);
            let options: UploadOptions = engine::storage::parse_options(
                optional_str(options_json, "options_json")?,
                "options",
            )?;
            emit_json(library.upload(source, &options)?.to_json(), out);
        }
        Ok(())
    })
}

/// The record of an image by id or by path (`/folder/name.jpg`), as JSON.
///
/// # Safety
///
/// `library` is a live library; `reference` a NUL-terminated UTF-8 string; `out` writable.
///
/// Ownership: the caller owns `*out` (release with `picsmith_string_free`).
#[no_mangle]
pub unsafe extern "C" fn picsmith_library_get(
    library: *const picsmith_library,
    reference: *const c_char,
    out: *mut *mut c_char,
) -> picsmith_status {
    status_call(|| {
        // SAFETY: every pointer is checked by these helpers under the contract above.
        unsafe {
            let library = library_and_out(library, out)?;
            let reference = required_str(reference, "reference")?;
            let record = if reference.contains('/') {
                library.get_by_path(reference)?
            } else {
                library.get(reference)?
            };
            emit_json(record.to_json(), out);
        }
        Ok(())
    })
}

/// The stored bytes of an image by id or path.
///
/// # Safety
///
/// `library` is a live library; `reference` a NUL-terminated UTF-8 string; `data` and `len`
/// valid for writing (set to NULL and 0 on failure).
///
/// Ownership: the caller owns `*data` and releases it with `picsmith_buffer_free(data, len)`.
#[no_mangle]
pub unsafe extern "C" fn picsmith_library_read(
    library: *const picsmith_library,
    reference: *const c_char,
    data: *mut *mut u8,
    len: *mut usize,
) -> picsmith_status {
    status_call(|| {
        if len.is_null() {
            return Err(Failure::invalid_argument("len is NULL"));
        }
        // SAFETY: every pointer is checked by these helpers under the contract above.
        unsafe {
            len.write(0);
            let library = library_and_out(library, data)?;
            let (bytes, _) = library.read(required_str(reference, "reference")?)?;
            let count = bytes.len();
            if count > 0 {
                data.write(Box::into_raw(bytes.into_boxed_slice()).cast::<u8>());
                len.write(count);
            }
        }
        Ok(())
    })
}

/// Transforms a stored image (by path or id) through the derived cache; `*cache_hit` (when not
/// NULL) tells whether the cache had it. Private images need `signed_request` true, which the
/// caller sets only after verifying the request's signature.
///
/// # Safety
///
/// `library` is a live library; `reference` and `query` NUL-terminated UTF-8 strings; `accept`
/// NULL or one; `cache_hit` NULL or writable; `out` writable.
///
/// Ownership: the caller owns `*out` (release with `picsmith_image_free`).
#[no_mangle]
pub unsafe extern "C" fn picsmith_library_render(
    library: *const picsmith_library,
    reference: *const c_char,
    query: *const c_char,
    accept: *const c_char,
    signed_request: bool,
    cache_hit: *mut bool,
    out: *mut *mut picsmith_image,
) -> picsmith_status {
    status_call(|| {
        // SAFETY: every pointer is checked by these helpers under the contract above.
        unsafe {
            let library = library_and_out(library, out)?;
            let reference = required_str(reference, "reference")?;
            let query = required_str(query, "query")?;
            let accept = optional_str(accept, "accept")?;
            let rendered = if signed_request {
                library.render_private(reference, query, accept)?
            } else {
                library.render(reference, query, accept)?
            };
            if !cache_hit.is_null() {
                cache_hit.write(rendered.cache_hit);
            }
            emit_image(rendered.output, out);
        }
        Ok(())
    })
}

/// Deletes up to 20 images; `ids_json` is a JSON array of ids. Writes the deleted records as a
/// JSON array. An unknown id deletes nothing (`PICSMITH_STATUS_NOT_FOUND`).
///
/// # Safety
///
/// `library` is a live library; `ids_json` a NUL-terminated UTF-8 string; `out` writable.
///
/// Ownership: the caller owns `*out` (release with `picsmith_string_free`).
#[no_mangle]
pub unsafe extern "C" fn picsmith_library_delete(
    library: *const picsmith_library,
    ids_json: *const c_char,
    out: *mut *mut c_char,
) -> picsmith_status {
    status_call(|| {
        // SAFETY: every pointer is checked by these helpers under the contract above.
        unsafe {
            let library = library_and_out(library, out)?;
            let ids = string_list(ids_json, "ids")?;
            emit_json(to_json(&library.delete(&ids)?), out);
        }
        Ok(())
    })
}

/// Adds (`add` true) or removes tags on up to 20 images; `ids_json` and `tags_json` are JSON
/// arrays of strings. Writes the updated records as a JSON array; all or nothing.
///
/// # Safety
///
/// `library` is a live library; `ids_json` and `tags_json` NUL-terminated UTF-8 strings; `out`
/// writable.
///
/// Ownership: the caller owns `*out` (release with `picsmith_string_free`).
#[no_mangle]
pub unsafe extern "C" fn picsmith_library_tag(
    library: *const picsmith_library,
    ids_json: *const c_char,
    tags_json: *const c_char,
    add: bool,
    out: *mut *mut c_char,
) -> picsmith_status {
    status_call(|| {
        // SAFETY: every pointer is checked by these helpers under the contract above.
        unsafe {
            let library = library_and_out(library, out)?;
            let ids = string_list(ids_json, "ids")?;
            let tags = string_list(tags_json, "tags")?;
            let records = if add {
                library.add_tags(&ids, &tags)?
            } else {
                library.remove_tags(&ids, &tags)?
            };
            emit_json(to_json(&records), out);
        }
        Ok(())
    })
}

/// A page of records, newest first: `{"images": [...], "total": n}`. `query_json` (NULL for
/// all): `{"folder", "tag", "account", "limit" (1-1000, default 100), "skip"}`.
///
/// # Safety
///
/// `library` is a live library; `query_json` NULL or a NUL-terminated UTF-8 string; `out`
/// writable.
///
/// Ownership: the caller owns `*out` (release with `picsmith_string_free`).
#[no_mangle]
pub unsafe extern "C" fn picsmith_library_list(
    library: *const picsmith_library,
    query_json: *const c_char,
    out: *mut *mut c_char,
) -> picsmith_status {
    status_call(|| {
        // SAFETY: every pointer is checked by these helpers under the contract above.
        unsafe {
            let library = library_and_out(library, out)?;
            let query =
                engine::storage::parse_options(optional_str(query_json, "query_json")?, "query")?;
            emit_json(to_json(&library.list(&query)?), out);
        }
        Ok(())
    })
}

/// Storage use of one account (NULL: all), as ImageResizer.io's account call reports it:
/// `{"num_images", "storage": {"max", "max_readable", "used", "used_readable", "remaining",
/// "remaining_readable"}}`.
///
/// # Safety
///
/// `library` is a live library; `account` NULL or a NUL-terminated UTF-8 string; `out` writable.
///
/// Ownership: the caller owns `*out` (release with `picsmith_string_free`).
#[no_mangle]
pub unsafe extern "C" fn picsmith_library_usage(
    library: *const picsmith_library,
    account: *const c_char,
    out: *mut *mut c_char,
) -> picsmith_status {
    status_call(|| {
        // SAFETY: every pointer is checked by these helpers under the contract above.
        unsafe {
            let library = library_and_out(library, out)?;
            let usage = library.usage(optional_str(account, "account")?)?;
            emit_json(to_json(&usage), out);
        }
        Ok(())
    })
}

/// Housekeeping: deletes expired images, then removes blobs no record points at that are older
/// than `gc_grace_seconds`. Writes `{"expired": [ids], "removedBlobs": n, "removedBytes": n}`.
///
/// # Safety
///
/// `library` is a live library; `out` writable.
///
/// Ownership: the caller owns `*out` (release with `picsmith_string_free`).
#[no_mangle]
pub unsafe extern "C" fn picsmith_library_maintain(
    library: *const picsmith_library,
    gc_grace_seconds: u64,
    out: *mut *mut c_char,
) -> picsmith_status {
    status_call(|| {
        // SAFETY: every pointer is checked by these helpers under the contract above.
        unsafe {
            let library = library_and_out(library, out)?;
            let expired = library.sweep_expired()?;
            let report = library.gc(Duration::from_secs(gc_grace_seconds))?;
            let json = serde_json::json!({
                "expired": expired,
                "removedBlobs": report.removed_blobs,
                "removedBytes": report.removed_bytes,
            });
            emit_json(json.to_string(), out);
        }
        Ok(())
    })
}

/// A new API key for `account` (NULL for `"default"`) with an optional `label`, written to
/// `*out` once; the catalog keeps only its hash, so every server sharing the catalog accepts
/// it. Since ABI 2.5.
///
/// # Safety
///
/// `library` is a live library; `account` and `label` NULL or NUL-terminated UTF-8 strings;
/// `out` writable.
///
/// Ownership: the caller owns `*out` (release with `picsmith_string_free`).
#[no_mangle]
pub unsafe extern "C" fn picsmith_library_create_key(
    library: *const picsmith_library,
    account: *const c_char,
    label: *const c_char,
    out: *mut *mut c_char,
) -> picsmith_status {
    status_call(|| {
        // SAFETY: every pointer is checked by these helpers under the contract above.
        unsafe {
            let library = library_and_out(library, out)?;
            let account = optional_str(account, "account")?.unwrap_or("default");
            let label = optional_str(label, "label")?.unwrap_or("");
            emit_json(library.create_key(account, label)?, out);
        }
        Ok(())
    })
}

/// The account of an API key, written to `*out`; `PICSMITH_STATUS_NOT_FOUND` (and `*out`
/// NULL) when there is no such key. Since ABI 2.5.
///
/// # Safety
///
/// `library` is a live library; `key` a NUL-terminated UTF-8 string; `out` writable.
///
/// Ownership: the caller owns `*out` (release with `picsmith_string_free`).
#[no_mangle]
pub unsafe extern "C" fn picsmith_library_check_key(
    library: *const picsmith_library,
    key: *const c_char,
    out: *mut *mut c_char,
) -> picsmith_status {
    status_call(|| {
        // SAFETY: every pointer is checked by these helpers under the contract above.
        unsafe {
            let library = library_and_out(library, out)?;
            match library.check_key(required_str(key, "key")?)? {
                Some(account) => emit_json(account, out),
                None => {
                    return Err(Failure::from(engine::Error::new(
                        engine::ErrorKind::NotFound,
                        "no such API key",
                    )));
                }
            }
        }
        Ok(())
    })
}

/// Revokes an API key; `PICSMITH_STATUS_NOT_FOUND` when there was no such key. Since ABI 2.5.
///
/// # Safety
///
/// `library` is a live library; `key` a NUL-terminated UTF-8 string.
#[no_mangle]
pub unsafe extern "C" fn picsmith_library_revoke_key(
    library: *const picsmith_library,
    key: *const c_char,
) -> picsmith_status {
    status_call(|| {
        // SAFETY: the pointers are checked by these helpers under the contract above.
        let library = unsafe { library.as_ref() }
            .map(|l| &l.library)
            .ok_or_else(|| Failure::invalid_argument("library is NULL"))?;
        let key = unsafe { required_str(key, "key")? };
        if !library.revoke_key(key)? {
            return Err(Failure::from(engine::Error::new(
                engine::ErrorKind::NotFound,
                "no such API key",
            )));
        }
        Ok(())
    })
}
