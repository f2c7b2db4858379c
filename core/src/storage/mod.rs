//! Storage: originals as blobs, image records in a catalog, processed variants in a local
//! cache, and remote sources through the guarded [`Fetcher`](crate::fetch::Fetcher), behind one
//! blocking [`Library`] that every binding exposes.
//!
//! Embedded default: local files under `./picsmith-data` and SQLite at
//! `./picsmith-data/catalog.db`. Scale-out: S3-compatible storage and PostgreSQL, chosen by
//! `PICSMITH_STORAGE` and `PICSMITH_CATALOG` (see [`LibraryConfig::from_env`]).
//!
//! The write order is what keeps the promises: a blob is written whole (under a key no other
//! upload uses) before the record that points at it is committed, and a record is deleted
//! before its blob. A crash between the two leaves at most an orphan blob, which
//! [`Library::gc`] removes; an acknowledged upload is never lost and no record points at a
//! missing blob.

mod blobs;
mod catalog;
mod derived;
mod names;
mod origins;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use bytes::Bytes;
use md5::Md5;
use serde::{Deserialize, Serialize, Serializer};
use sha2::{Digest, Sha256};

pub use names::{normalize_folder, sanitize_file_name, split_path};
pub use origins::{ORIGIN_PARAMS, OriginConfig};

use crate::error::{Error, ErrorKind, Result};
use crate::fetch::{FetchPolicy, Fetcher};
use crate::{Limits, MetadataOptions, Options, Output, Pipeline, Resolver};
use blobs::BlobStore;
use catalog::{Catalog, ListFilter};
use derived::DerivedCache;
use origins::{BucketClients, RemoteSource};

/// Most ids in one delete or tag call, as ImageResizer.io allows.
pub const MAX_IDS_PER_CALL: usize = 20;
/// Most tags on one image.
pub const MAX_TAGS_PER_IMAGE: usize = 20;
/// Blobs younger than this are never collected: they may belong to an upload in flight.
pub const GC_GRACE: Duration = Duration::from_secs(3600);

pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Milliseconds since 1970 as RFC 3339 (`2026-11-24T01:02:03.456Z`).
pub fn format_time(ms: i64) -> String {
    let time = UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64);
    humantime::format_rfc3339_millis(time).to_string()
}

fn serialize_time<S: Serializer>(ms: &i64, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_str(&format_time(*ms))
}

fn serialize_optional_time<S: Serializer>(
    ms: &Option<i64>,
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    match ms {
        Some(ms) => s.serialize_str(&format_time(*ms)),
        None => s.serialize_none(),
    }
}

/// A stored image: what the four upload APIs answer about it. Serialises with camelCase keys
/// and RFC 3339 times.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageRecord {
    /// Short, URL-safe and unguessable (12 characters of `[0-9A-Za-z]`).
    pub id: String,
    /// `folder` + `name`: where transforms find it (`/products/shoe.jpg`).
    pub path: String,
    /// `/` or `/a/b/`.
    pub folder: String,
    pub name: String,
    /// The name the uploader gave, before sanitising and suffixing.
    pub original_name: Option<String>,
    pub mime: String,
    /// `jpeg`, `png`, `webp`, `gif`, …
    pub format: String,
    /// Bytes of the stored file.
    pub size: u64,
    /// As displayed (the EXIF orientation applied).
    pub width: u32,
    pub height: u32,
    pub md5: String,
    pub sha256: String,
    /// 64-bit difference hash, 16 hex digits: a small Hamming distance means a near-duplicate.
    pub phash: Option<String>,
    pub tags: Vec<String>,
    pub title: Option<String>,
    pub description: Option<String>,
    pub album_id: Option<String>,
    pub category_id: Option<String>,
    /// `x,y,width,height`.
    pub custom_coordinates: Option<String>,
    pub is_private: bool,
    pub nsfw: bool,
    /// The owning account (`""` when the deployment has one).
    pub account: String,
    #[serde(serialize_with = "serialize_optional_time")]
    pub expires_at: Option<i64>,
    #[serde(serialize_with = "serialize_time")]
    pub created_at: i64,
    #[serde(serialize_with = "serialize_time")]
    pub updated_at: i64,
}

impl ImageRecord {
    /// The record as the JSON every binding returns.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("records serialise")
    }
}

/// Where an upload's bytes come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UploadSource {
    Bytes(Vec<u8>),
    /// Base64, plain or as a `data:` URI.
    Base64(String),
    /// An http(s) URL, fetched under the library's [`FetchPolicy`].
    Url(String),
}

impl UploadSource {
    /// A text field as ImageKit and Chevereto accept it: a URL when it starts with `http://` or
    /// `https://`, else base64.
    ///
    /// ```
    /// use picsmith::storage::UploadSource;
    /// assert!(matches!(UploadSource::from_text("https://example.com/a.jpg"), UploadSource::Url(_)));
    /// assert!(matches!(UploadSource::from_text("iVBORw0KGgo="), UploadSource::Base64(_)));
    /// ```
    pub fn from_text(text: &str) -> UploadSource {
        let trimmed = text.trim();
        let lower = trimmed.get(..8).unwrap_or(trimmed).to_ascii_lowercase();
        if lower.starts_with("http://") || lower.starts_with("https://") {
            UploadSource::Url(trimmed.to_owned())
        } else {
            UploadSource::Base64(trimmed.to_owned())
        }
    }
}

/// How an upload is named, described and kept. The JSON form (camelCase keys, as the bindings
/// pass it) refuses unknown keys.
///
/// ```
/// let options: picsmith::storage::UploadOptions =
///     serde_json::from_str(r#"{"fileName": "a.jpg", "tags": ["x"], "expiration": "PT5M"}"#).unwrap();
/// assert_eq!(options.expiration, Some(std::time::Duration::from_secs(300)));
/// assert!(options.use_unique_file_name);
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct UploadOptions {
    /// The file name; sanitised as ImageKit does. Default: the id and the format's extension.
    pub file_name: Option<String>,
    /// The folder (`/images/2024/`). Default `/`.
    pub folder: Option<String>,
    /// A full path (`/products/shoe.jpg`) instead of `folder` + `fileName`, as Imagizer uploads
    /// give it; a path upload replaces what is there.
    pub path: Option<String>,
    /// Add a unique suffix to the name (ImageKit's default); when false an existing image at the
    /// same path is replaced and its tags become exactly the new ones.
    pub use_unique_file_name: bool,
    pub tags: Vec<String>,
    pub title: Option<String>,
    pub description: Option<String>,
    pub album_id: Option<String>,
    pub category_id: Option<String>,
    pub custom_coordinates: Option<String>,
    pub is_private: bool,
    pub nsfw: bool,
    /// Delete the image this long after the upload; JSON takes an ISO 8601 duration (`PT5M`, `P3D`).
    #[serde(deserialize_with = "deserialize_duration")]
    pub expiration: Option<Duration>,
    pub account: Option<String>,
    /// A transform applied before storing: the processed image becomes the original
    /// (Imagizer's `cache_processed=true`).
    pub transform: Option<String>,
    /// Variants rendered into the derived cache right away (Imagizer's `cache_queries`).
    pub prerender: Vec<String>,
}

impl Default for UploadOptions {
    fn default() -> Self {
        UploadOptions {
            file_name: None,
            folder: None,
            path: None,
            use_unique_file_name: true,
            tags: Vec::new(),
            title: None,
            description: None,
            album_id: None,
            category_id: None,
            custom_coordinates: None,
            is_private: false,
            nsfw: false,
            expiration: None,
            account: None,
            transform: None,
            prerender: Vec::new(),
        }
    }
}

fn deserialize_duration<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<Option<Duration>, D::Error> {
    let text: Option<String> = Option::deserialize(d)?;
    text.map(|t| {
        parse_iso8601_duration(&t).map_err(|e| serde::de::Error::custom(e.message().to_owned()))
    })
    .transpose()
}

/// An ISO 8601 duration as Chevereto's `expiration` takes it: `PT5M`, `PT1H`, `P3D`, `P1W`,
/// `P1M` (30 days), `P1Y` (365 days), and combinations (`P1DT12H`).
///
/// ```
/// use picsmith::storage::parse_iso8601_duration;
/// assert_eq!(parse_iso8601_duration("PT5M").unwrap().as_secs(), 300);
/// assert_eq!(parse_iso8601_duration("P1DT12H").unwrap().as_secs(), 129_600);
/// assert!(parse_iso8601_duration("5 minutes").is_err());
/// ```
pub fn parse_iso8601_duration(text: &str) -> Result<Duration> {
    let bad = || {
        Error::for_parameter(
            ErrorKind::InvalidParameter,
            "expiration",
            format!(
                "expiration '{}' is not an ISO 8601 duration such as PT5M or P3D",
                text.escape_debug()
            ),
        )
    };
    let rest = text.strip_prefix('P').ok_or_else(bad)?;
    let (date, time) = match rest.split_once('T') {
        Some((d, t)) if !t.is_empty() => (d, Some(t)),
        Some(_) => return Err(bad()),
        None => (rest, None),
    };
    let mut total: u64 = 0;
    let mut any = false;
    let mut add = |part: &str, units: &[(char, u64)]| -> Result<()> {
        let mut number = String::new();
        let mut unit_index = 0;
        for c in part.chars() {
            if c.is_ascii_digit() {
                number.push(c);
                continue;
            }
            let position = units[unit_index..]
                .iter()
                .position(|(u, _)| *u == c)
                .ok_or_else(bad)?;
            unit_index += position + 1;
            let n: u64 = number.parse().map_err(|_| bad())?;
            total = n
                .checked_mul(units[unit_index - 1].1)
                .and_then(|s| total.checked_add(s))
                .ok_or_else(bad)?;
            number.clear();
            any = true;
        }
        if number.is_empty() {
            Ok(())
        } else {
            Err(bad())
        }
    };
    add(
        date,
        &[
            ('Y', 365 * 86400),
            ('M', 30 * 86400),
            ('W', 7 * 86400),
            ('D', 86400),
        ],
    )?;
    if let Some(time) = time {
        add(time, &[('H', 3600), ('M', 60), ('S', 1)])?;
    }
    if !any || total == 0 {
        return Err(bad());
    }
    Ok(Duration::from_secs(total))
}

/// Filters and page of [`Library::list`].
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct ListQuery {
    /// Only this folder (not its subfolders).
    pub folder: Option<String>,
    /// Only images with this tag.
    pub tag: Option<String>,
    pub account: Option<String>,
    /// Page size, 1 to 1000. Default 100.
    pub limit: u32,
    pub skip: u64,
}

impl Default for ListQuery {
    fn default() -> Self {
        ListQuery {
            folder: None,
            tag: None,
            account: None,
            limit: 100,
            skip: 0,
        }
    }
}

/// One page of [`Library::list`], newest first.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Page {
    pub images: Vec<ImageRecord>,
    /// Images matching the filters in all pages.
    pub total: u64,
}

/// Storage use, as ImageResizer.io's `/v1/account` reports it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Usage {
    pub num_images: u64,
    pub storage: StorageUsage,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StorageUsage {
    pub max: u64,
    pub max_readable: String,
    pub used: u64,
    pub used_readable: String,
    pub remaining: u64,
    pub remaining_readable: String,
}

/// Bytes as people read them, in the binary units ImageResizer.io uses: `107 MB`, `1.9 GB`.
///
/// ```
/// use picsmith::storage::readable_size;
/// assert_eq!(readable_size(112_332_108), "107 MB");
/// assert_eq!(readable_size(2_035_151_540), "1.9 GB");
/// assert_eq!(readable_size(2_147_483_648), "2 GB");
/// ```
pub fn readable_size(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KB", "MB", "GB", "TB", "PB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    let text = if value >= 10.0 || unit == 0 {
        format!("{}", value.round() as u64)
    } else {
        let one_decimal = format!("{value:.1}");
        one_decimal
            .strip_suffix(".0")
            .map(str::to_owned)
            .unwrap_or(one_decimal)
    };
    format!("{text} {}", UNITS[unit])
}

/// What [`Library::gc`] removed.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct GcReport {
    pub removed_blobs: u64,
    pub removed_bytes: u64,
}

/// A rendered variant and whether it came from the derived cache.
#[derive(Debug, Clone, PartialEq)]
pub struct Rendered {
    pub output: Output,
    pub cache_hit: bool,
    /// The record of the original, when it has one (files placed under `originals/` by hand
    /// have none).
    pub record: Option<ImageRecord>,
}

/// Settings of a [`Library`]. [`LibraryConfig::from_env`] reads them the way the server does.
#[derive(Debug, Clone)]
pub struct LibraryConfig {
    /// `file://DIR`, `memory://` or `s3://BUCKET?endpoint=…&region=…&path_style=true`.
    pub storage: String,
    /// `sqlite://FILE` or `postgres://USER@HOST:PORT/DB`.
    pub catalog: String,
    /// Folder of the derived-image cache; `None` turns it off.
    pub cache_dir: Option<PathBuf>,
    /// Bound of the derived-image cache. Default 1 GiB.
    pub cache_max_bytes: u64,
    /// Storage each account may use. Default 10 GiB.
    pub quota_bytes: u64,
    pub limits: Limits,
    pub fetch: FetchPolicy,
    /// Remote origins of renders: the default origin and the dynamic origin parameters.
    pub origins: OriginConfig,
    /// Most catalog connections. Default 8.
    pub max_connections: u32,
}

/// The embedded default's data folder.
pub const DEFAULT_DATA: &str = "./picsmith-data";

impl Default for LibraryConfig {
    fn default() -> Self {
        LibraryConfig {
            storage: format!("file://{DEFAULT_DATA}"),
            catalog: format!("sqlite://{DEFAULT_DATA}/catalog.db"),
            cache_dir: Some(PathBuf::from(DEFAULT_DATA).join("cache")),
            cache_max_bytes: 1 << 30,
            quota_bytes: 10 << 30,
            limits: Limits::default(),
            fetch: FetchPolicy::default(),
            origins: OriginConfig::default(),
            max_connections: 8,
        }
    }
}

impl LibraryConfig {
    /// The defaults, overridden by `PICSMITH_STORAGE`, `PICSMITH_CATALOG`, `PICSMITH_CACHE`
    /// (a folder, or `off`), `PICSMITH_CACHE_MAX_BYTES`, `PICSMITH_QUOTA_BYTES`,
    /// `PICSMITH_ALLOWED_HOSTS`, `PICSMITH_PRIVATE_HOSTS` (comma-separated),
    /// `PICSMITH_ALLOW_PRIVATE_ADDRESSES=true`, and for remote origins `PICSMITH_ORIGIN` (the
    /// default origin), `PICSMITH_DYNAMIC_ORIGINS` (comma-separated parameters of
    /// [`ORIGIN_PARAMS`], or `all`), `PICSMITH_ALLOWED_BUCKETS`, `PICSMITH_BUCKET_ENDPOINT`
    /// and `PICSMITH_BUCKET_REGION`.
    pub fn from_env() -> Result<LibraryConfig> {
        let mut config = LibraryConfig::default();
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        if let Some(storage) = var("PICSMITH_STORAGE") {
            config.storage = storage;
        }
        if let Some(catalog) = var("PICSMITH_CATALOG") {
            config.catalog = catalog;
        }
        if let Some(cache) = var("PICSMITH_CACHE") {
            config.cache_dir = (cache != "off").then(|| PathBuf::from(cache));
        }
        let number = |name: &str| -> Result<Option<u64>> {
            var(name)
                .map(|v| {
                    v.parse().map_err(|_| {
                        Error::for_parameter(
                            ErrorKind::InvalidParameter,
                            name,
                            format!("{name}='{v}' is not a whole number"),
                        )
                    })
                })
                .transpose()
        };
        if let Some(n) = number("PICSMITH_CACHE_MAX_BYTES")? {
            config.cache_max_bytes = n;
        }
        if let Some(n) = number("PICSMITH_QUOTA_BYTES")? {
            config.quota_bytes = n;
        }
        let list = |text: String| -> Vec<String> {
            text.split(',')
                .map(|h| h.trim().to_owned())
                .filter(|h| !h.is_empty())
                .collect()
        };
        if let Some(hosts) = var("PICSMITH_ALLOWED_HOSTS") {
            config.fetch.allowed_hosts = list(hosts);
        }
        if let Some(hosts) = var("PICSMITH_PRIVATE_HOSTS") {
            config.fetch.private_hosts = list(hosts);
        }
        config.origins.default_origin = var("PICSMITH_ORIGIN");
        if let Some(params) = var("PICSMITH_DYNAMIC_ORIGINS") {
            config.origins.dynamic = dynamic_origins(list(params))?;
        }
        if let Some(buckets) = var("PICSMITH_ALLOWED_BUCKETS") {
            config.origins.allowed_buckets = list(buckets);
        }
        config.origins.bucket_endpoint = var("PICSMITH_BUCKET_ENDPOINT");
        config.origins.bucket_region = var("PICSMITH_BUCKET_REGION");
        if let Some(flag) = var("PICSMITH_ALLOW_PRIVATE_ADDRESSES") {
            config.fetch.allow_private = matches!(flag.as_str(), "1" | "true" | "yes");
        }
        Ok(config)
    }
}

/// Overrides of a [`LibraryConfig`] as the bindings pass them (camelCase JSON keys, unknown
/// keys refused).
///
/// ```
/// use picsmith::storage::{LibraryConfig, LibrarySettings};
/// let settings: LibrarySettings = serde_json::from_str(r#"{"storage": "memory://", "cache": "off"}"#).unwrap();
/// let config = LibraryConfig::default().with_settings(settings).unwrap();
/// assert_eq!((config.storage.as_str(), config.cache_dir), ("memory://", None));
/// ```
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct LibrarySettings {
    pub storage: Option<String>,
    pub catalog: Option<String>,
    /// A folder, or `off`.
    pub cache: Option<String>,
    pub cache_max_bytes: Option<u64>,
    pub quota_bytes: Option<u64>,
    pub allow_private_addresses: Option<bool>,
    pub allowed_hosts: Option<Vec<String>>,
    pub private_hosts: Option<Vec<String>>,
    /// The default origin: base URL of the paths the library does not hold.
    pub origin: Option<String>,
    /// Origin parameters queries may use ([`ORIGIN_PARAMS`], or `["all"]`).
    pub dynamic_origins: Option<Vec<String>>,
    pub allowed_buckets: Option<Vec<String>>,
    pub bucket_endpoint: Option<String>,
    pub bucket_region: Option<String>,
}

/// The named origin parameters, checked; `all` stands for every one.
fn dynamic_origins(names: Vec<String>) -> Result<Vec<String>> {
    if names.iter().any(|n| n == "all") {
        return Ok(ORIGIN_PARAMS.iter().map(|p| p.to_string()).collect());
    }
    for name in &names {
        if !ORIGIN_PARAMS.contains(&name.as_str()) {
            return Err(Error::for_parameter(
                ErrorKind::InvalidParameter,
                "dynamic_origins",
                format!(
                    "'{name}' is not an origin parameter ({})",
                    ORIGIN_PARAMS.join(", ")
                ),
            ));
        }
    }
    Ok(names)
}

impl LibraryConfig {
    /// This configuration with every setting given in `settings` replaced.
    pub fn with_settings(mut self, settings: LibrarySettings) -> Result<LibraryConfig> {
        if let Some(storage) = settings.storage {
            self.storage = storage;
        }
        if let Some(catalog) = settings.catalog {
            self.catalog = catalog;
        }
        if let Some(cache) = settings.cache {
            self.cache_dir = (cache != "off").then(|| PathBuf::from(cache));
        }
        if let Some(n) = settings.cache_max_bytes {
            self.cache_max_bytes = n;
        }
        if let Some(n) = settings.quota_bytes {
            self.quota_bytes = n;
        }
        if let Some(allow) = settings.allow_private_addresses {
            self.fetch.allow_private = allow;
        }
        if let Some(hosts) = settings.allowed_hosts {
            self.fetch.allowed_hosts = hosts;
        }
        if let Some(hosts) = settings.private_hosts {
            self.fetch.private_hosts = hosts;
        }
        if let Some(origin) = settings.origin {
            self.origins.default_origin = Some(origin).filter(|o| !o.is_empty());
        }
        if let Some(params) = settings.dynamic_origins {
            self.origins.dynamic = dynamic_origins(params)?;
        }
        if let Some(buckets) = settings.allowed_buckets {
            self.origins.allowed_buckets = buckets;
        }
        if let Some(endpoint) = settings.bucket_endpoint {
            self.origins.bucket_endpoint = Some(endpoint);
        }
        if let Some(region) = settings.bucket_region {
            self.origins.bucket_region = Some(region);
        }
        Ok(self)
    }
}

/// Options JSON from a binding, parsed with a clear error naming the option.
pub fn parse_options<T: serde::de::DeserializeOwned + Default>(
    json: Option<&str>,
    what: &str,
) -> Result<T> {
    match json
        .map(str::trim)
        .filter(|j| !j.is_empty() && *j != "null")
    {
        None => Ok(T::default()),
        Some(json) => serde_json::from_str(json).map_err(|e| {
            Error::for_parameter(ErrorKind::InvalidParameter, what, format!("{what}: {e}"))
        }),
    }
}

struct Inner {
    runtime: tokio::runtime::Runtime,
    blobs: BlobStore,
    catalog: Catalog,
    derived: Option<DerivedCache>,
    fetcher: Fetcher,
    buckets: BucketClients,
    config: LibraryConfig,
}

/// Originals, records, variants and remote sources: everything the upload APIs need, with a
/// blocking API safe to call from many threads at once. Cheap to clone.
///
/// ```no_run
/// use picsmith::storage::{Library, LibraryConfig, UploadOptions, UploadSource};
///
/// let library = Library::open(LibraryConfig::default()).unwrap();
/// let photo = std::fs::read("photo.jpg").unwrap();
/// let options = UploadOptions { file_name: Some("photo.jpg".into()), tags: vec!["cat".into()], ..Default::default() };
/// let record = library.upload(UploadSource::Bytes(photo), &options).unwrap();
/// let thumb = library.render(&record.path, "width=200&format=webp", None).unwrap();
/// println!("{} → {} bytes", record.id, thumb.output.data.len());
/// ```
#[derive(Clone)]
pub struct Library {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Library {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Library")
            .field("storage", &self.inner.blobs.description())
            .field("cache_dir", &self.inner.config.cache_dir)
            .finish()
    }
}

/// Where blobs of uploads live; `originals/` holds files placed by hand, served by path.
const BLOB_PREFIX: &str = "blobs";
const ORIGINALS_PREFIX: &str = "originals";

/// The ids of one call without repeats, refused when there are none or more than 20.
fn check_ids(ids: &[String]) -> Result<Vec<String>> {
    if ids.is_empty() {
        return Err(Error::for_parameter(
            ErrorKind::InvalidParameter,
            "ids",
            "no image id given",
        ));
    }
    if ids.len() > MAX_IDS_PER_CALL {
        return Err(Error::for_parameter(
            ErrorKind::InvalidParameter,
            "ids",
            format!(
                "{} ids given; at most {MAX_IDS_PER_CALL} per call",
                ids.len()
            ),
        ));
    }
    let mut unique: Vec<String> = Vec::with_capacity(ids.len());
    for id in ids {
        if !unique.contains(id) {
            unique.push(id.clone());
        }
    }
    Ok(unique)
}

fn check_tags(tags: &[String]) -> Result<Vec<String>> {
    let mut clean: Vec<String> = Vec::with_capacity(tags.len());
    for tag in tags {
        let tag = names::check_tag(tag)?;
        if !clean.contains(&tag) {
            clean.push(tag);
        }
    }
    if clean.len() > MAX_TAGS_PER_IMAGE {
        return Err(too_many_tags(clean.len()));
    }
    Ok(clean)
}

fn too_many_tags(n: usize) -> Error {
    Error::for_parameter(
        ErrorKind::InvalidParameter,
        "tags",
        format!("{n} tags on one image; at most {MAX_TAGS_PER_IMAGE}"),
    )
}

fn key_hash(key: &str) -> String {
    hex(&Sha256::digest(key.as_bytes()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Library {
    /// Opens (and creates, for the embedded default) the storage, the catalog and the cache,
    /// and runs the catalog's migrations.
    pub fn open(config: LibraryConfig) -> Result<Library> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("picsmith-io")
            .enable_all()
            .build()
            .map_err(|e| Error::internal(format!("starting the I/O runtime: {e}")))?;
        let blobs = BlobStore::open(&config.storage)?;
        let catalog = runtime.block_on(Catalog::open(&config.catalog, config.max_connections))?;
        let derived = match &config.cache_dir {
            Some(dir) => Some(
                DerivedCache::open(dir, config.cache_max_bytes).map_err(|e| {
                    Error::for_parameter(
                        ErrorKind::InvalidParameter,
                        "cache",
                        format!("cache folder {}: {e}", dir.display()),
                    )
                })?,
            ),
            None => None,
        };
        let fetcher = Fetcher::new(config.fetch.clone())?;
        Ok(Library {
            inner: Arc::new(Inner {
                runtime,
                blobs,
                catalog,
                derived,
                fetcher,
                buckets: BucketClients::default(),
                config,
            }),
        })
    }

    /// [`Library::open`] with [`LibraryConfig::from_env`].
    pub fn from_env() -> Result<Library> {
        Library::open(LibraryConfig::from_env()?)
    }

    pub fn config(&self) -> &LibraryConfig {
        &self.inner.config
    }

    fn block_on<F: std::future::Future>(&self, future: F) -> F::Output {
        self.inner.runtime.block_on(future)
    }

    /// The bytes behind an upload source, never more than the input limit.
    fn source_bytes(&self, source: UploadSource) -> Result<Vec<u8>> {
        let max = self.inner.config.limits.max_input_bytes;
        let too_large = |n: u64| {
            Error::new(
                ErrorKind::LimitExceeded,
                format!("the upload is {n} bytes; the limit is {max}"),
            )
        };
        let bytes = match source {
            UploadSource::Bytes(bytes) => bytes,
            UploadSource::Base64(text) => {
                let payload = match text.strip_prefix("data:") {
                    Some(uri) => uri.split_once(',').map(|(_, data)| data).unwrap_or(""),
                    None => text.as_str(),
                };
                let compact: String = payload
                    .chars()
                    .filter(|c| !c.is_ascii_whitespace())
                    .collect();
                if (compact.len() as u64 / 4) * 3 > max {
                    return Err(too_large(compact.len() as u64 / 4 * 3));
                }
                base64::engine::general_purpose::STANDARD
                    .decode(compact.trim_end_matches('=').as_bytes())
                    .or_else(|_| {
                        base64::engine::general_purpose::STANDARD_NO_PAD
                            .decode(compact.trim_end_matches('='))
                    })
                    .map_err(|e| {
                        Error::for_parameter(
                            ErrorKind::InvalidParameter,
                            "file",
                            format!("the file is not valid base64: {e}"),
                        )
                    })?
            }
            UploadSource::Url(url) => self.block_on(self.inner.fetcher.fetch(&url, max))?,
        };
        if bytes.len() as u64 > max {
            return Err(too_large(bytes.len() as u64));
        }
        if bytes.is_empty() {
            return Err(Error::for_parameter(
                ErrorKind::InvalidImage,
                "file",
                "the file is empty",
            ));
        }
        Ok(bytes)
    }

    /// Stores an image and its record. The image is checked (format, limits, a full decode for
    /// the perceptual hash) before anything is written; on any error nothing is kept.
    pub fn upload(&self, source: UploadSource, options: &UploadOptions) -> Result<ImageRecord> {
        let inner = &self.inner;
        let limits = &inner.config.limits;
        let mut data = self.source_bytes(source)?;

        // Everything that can be refused is refused before the first write.
        let tags = check_tags(&options.tags)?;
        let pipelines: Vec<Pipeline> = options
            .prerender
            .iter()
            .map(|q| Pipeline::from_query(q))
            .collect::<Result<_>>()?;
        if let Some(query) = &options.transform {
            let pipeline = Pipeline::from_query(query)?;
            let processed = pipeline.run(
                &data,
                &Options {
                    limits: *limits,
                    resolver: Some(self.resolver()),
                    ..Default::default()
                },
            )?;
            if processed.format == crate::Format::Json {
                return Err(Error::for_parameter(
                    ErrorKind::InvalidParameter,
                    "cache_processed",
                    "the transform answers JSON; a stored original must be an image",
                ));
            }
            data = processed.data;
        }
        let meta = crate::metadata(
            &data,
            &MetadataOptions {
                limits: *limits,
                hashes: true,
                ..Default::default()
            },
        )?;
        let (folder, name, unique) = match &options.path {
            Some(path) => {
                let (folder, name) = split_path(path)?;
                (folder, name, false)
            }
            None => {
                let folder = normalize_folder(options.folder.as_deref().unwrap_or("/"))?;
                let name = match &options.file_name {
                    Some(name) => sanitize_file_name(name)?,
                    None => format!("{}.{}", names::random_token(10), meta.format.name()),
                };
                (folder, name, options.use_unique_file_name)
            }
        };
        let account = options.account.clone().unwrap_or_default();
        let (_, used_bytes) = self.block_on(inner.catalog.usage(Some(&account)))?;
        if used_bytes + data.len() as u64 > inner.config.quota_bytes {
            return Err(Error::new(
                ErrorKind::LimitExceeded,
                format!(
                    "the account's storage is full: {} used of {}",
                    readable_size(used_bytes),
                    readable_size(inner.config.quota_bytes)
                ),
            ));
        }
        let rendered: Vec<(String, Output, Vec<crate::Warning>)> = pipelines
            .iter()
            .filter_map(|p| p.cache_key(None).map(|key| (p, key)))
            .map(|(p, key)| {
                let output = p.run(
                    &data,
                    &Options {
                        limits: *limits,
                        resolver: Some(self.resolver()),
                        ..Default::default()
                    },
                )?;
                Ok((key, output, p.warnings().to_vec()))
            })
            .collect::<Result<_>>()?;

        let custom_coordinates = options
            .custom_coordinates
            .as_deref()
            .filter(|c| !c.trim().is_empty())
            .map(|c| names::check_custom_coordinates(c, meta.width, meta.height))
            .transpose()?;
        let now = now_ms();
        let mut record = ImageRecord {
            id: names::new_id(),
            path: String::new(),
            folder,
            name: name.clone(),
            original_name: options.file_name.clone().or_else(|| options.path.clone()),
            mime: meta.mime_type.to_owned(),
            format: meta.format.name().to_owned(),
            size: data.len() as u64,
            width: meta.width,
            height: meta.height,
            md5: hex(&Md5::digest(&data)),
            sha256: hex(&Sha256::digest(&data)),
            phash: meta.dhash.clone(),
            tags,
            title: options.title.clone(),
            description: options.description.clone(),
            album_id: options.album_id.clone(),
            category_id: options.category_id.clone(),
            custom_coordinates,
            is_private: options.is_private,
            nsfw: options.nsfw,
            account,
            expires_at: options.expiration.map(|d| now + d.as_millis() as i64),
            created_at: now,
            updated_at: now,
        };
        // A key no other upload uses: concurrent writers of one path never touch each other's
        // blob, and the record switches from one complete blob to another.
        let blob_key = format!(
            "{BLOB_PREFIX}/{}/{}/{}.{}",
            &record.id[..2],
            record.id,
            names::random_token(8),
            record.format
        );
        let data = Bytes::from(data);
        self.block_on(async {
            inner.blobs.put(&blob_key, data.clone()).await?;
            let committed: Result<Option<catalog::Replaced>> = async {
                if unique {
                    for _ in 0..5 {
                        record.name = names::with_unique_suffix(&name);
                        record.path = format!("{}{}", record.folder, record.name);
                        if inner.catalog.insert(&record, &blob_key).await? {
                            return Ok(None);
                        }
                    }
                    Err(Error::new(
                        ErrorKind::Internal,
                        "could not find a free unique name",
                    ))
                } else {
                    record.path = format!("{}{}", record.folder, record.name);
                    inner.catalog.replace(&mut record, &blob_key).await
                }
            }
            .await;
            match committed {
                Ok(Some(replaced)) => {
                    // After the commit: a crash here leaves an orphan for gc, never a dangling record.
                    inner.blobs.delete(&replaced.blob_key).await.ok();
                    if replaced.sha256 != record.sha256
                        && !inner.catalog.has_content(&replaced.sha256).await?
                        && let Some(cache) = &inner.derived
                    {
                        cache.invalidate(&replaced.sha256);
                    }
                    Ok(())
                }
                Ok(None) => Ok(()),
                Err(e) => {
                    inner.blobs.delete(&blob_key).await.ok();
                    Err(e)
                }
            }
        })?;
        if let Some(cache) = &inner.derived {
            for (key, output, warnings) in &rendered {
                cache.put(&record.sha256, key, output, warnings);
            }
        }
        Ok(record)
    }

    /// The record with this id.
    pub fn get(&self, id: &str) -> Result<ImageRecord> {
        self.block_on(self.inner.catalog.get(id))?
            .map(|(record, _)| record)
            .ok_or_else(|| not_found(id))
    }

    /// The record at this path (`/folder/name.jpg`; the leading `/` is optional).
    pub fn get_by_path(&self, path: &str) -> Result<ImageRecord> {
        let wanted = format!("/{}", path.trim_start_matches('/'));
        self.block_on(self.inner.catalog.get_by_path(&wanted))?
            .map(|(record, _)| record)
            .ok_or_else(|| not_found(path))
    }

    /// The stored bytes of an image, by id or path, and its record when it has one.
    pub fn read(&self, reference: &str) -> Result<(Vec<u8>, Option<ImageRecord>)> {
        self.block_on(async {
            let (record, key) = self.locate(reference).await?;
            let bytes = self.inner.blobs.get(&key).await?;
            Ok((bytes.to_vec(), record))
        })
    }

    /// Finds an original: a record by path, else by id, else a file placed under `originals/`.
    async fn locate(&self, reference: &str) -> Result<(Option<ImageRecord>, String)> {
        let catalog = &self.inner.catalog;
        let trimmed = reference.trim_start_matches('/');
        if trimmed.is_empty() || trimmed.contains('\0') {
            return Err(not_found(reference));
        }
        if let Some((record, key)) = catalog.get_by_path(&format!("/{trimmed}")).await? {
            return Ok((Some(record), key));
        }
        if !trimmed.contains('/')
            && let Some((record, key)) = catalog.get(trimmed).await?
        {
            return Ok((Some(record), key));
        }
        if trimmed
            .split('/')
            .any(|s| s.is_empty() || s == "." || s == "..")
            || trimmed.contains('\\')
        {
            return Err(not_found(reference));
        }
        let key = format!("{ORIGINALS_PREFIX}/{trimmed}");
        match self.inner.blobs.size(&key).await? {
            Some(_) => Ok((None, key)),
            None => Err(not_found(reference)),
        }
    }

    /// Runs a transform on a stored original (by path or id), through the derived cache.
    /// Private images are refused here: serve them through signed URLs with
    /// [`Library::render_private`].
    pub fn render(&self, reference: &str, query: &str, accept: Option<&str>) -> Result<Rendered> {
        self.render_checked(reference, query, accept, false)
    }

    /// [`Library::render`] for a request whose signature the caller has verified.
    pub fn render_private(
        &self,
        reference: &str,
        query: &str,
        accept: Option<&str>,
    ) -> Result<Rendered> {
        self.render_checked(reference, query, accept, true)
    }

    fn render_checked(
        &self,
        reference: &str,
        query: &str,
        accept: Option<&str>,
        allow_private: bool,
    ) -> Result<Rendered> {
        let inner = &self.inner;
        let pipeline = Pipeline::from_query(query)?;
        let origins = &inner.config.origins;
        let source = match origins.requested(reference, &pipeline)? {
            Some(source) => source,
            None => match self.block_on(self.locate(reference)) {
                Ok(located) => {
                    return self.render_stored(located, &pipeline, accept, allow_private);
                }
                // A path the library does not hold comes from the default origin, if any.
                Err(err) if err.kind() == ErrorKind::NotFound => {
                    origins.fallback(reference).ok_or(err)?
                }
                Err(err) => return Err(err),
            },
        };
        let data = self.fetch_remote(&source)?;
        self.render_bytes(&data, None, &pipeline, accept)
    }

    /// The bytes of a remote source, within the input limit.
    fn fetch_remote(&self, source: &RemoteSource) -> Result<Vec<u8>> {
        let inner = &self.inner;
        let max = inner.config.limits.max_input_bytes;
        match source {
            RemoteSource::Http(request) => self.block_on(inner.fetcher.fetch_request(request, max)),
            RemoteSource::Bucket {
                bucket,
                region,
                key,
            } => self.block_on(
                inner
                    .buckets
                    .read(&inner.config.origins, bucket, region, key, max),
            ),
        }
    }

    fn render_stored(
        &self,
        (record, key): (Option<ImageRecord>, String),
        pipeline: &Pipeline,
        accept: Option<&str>,
        allow_private: bool,
    ) -> Result<Rendered> {
        let inner = &self.inner;
        if let Some(record) = &record {
            if record.is_private && !allow_private {
                return Err(Error::new(
                    ErrorKind::Forbidden,
                    format!(
                        "{} is private: it is served through signed URLs only",
                        record.path
                    ),
                ));
            }
            // A record knows its checksum, so a cached variant needs no read of the original.
            if let (Some(cache_key), Some(cache)) = (pipeline.cache_key(accept), &inner.derived)
                && let Some(output) = cache.get(&record.sha256, &cache_key, pipeline.warnings())
            {
                return Ok(Rendered {
                    output,
                    cache_hit: true,
                    record: Some(record.clone()),
                });
            }
        }
        let data = self.block_on(inner.blobs.get(&key))?;
        self.render_bytes(&data, record, pipeline, accept)
    }

    /// Runs the pipeline on an original's bytes through the derived cache.
    fn render_bytes(
        &self,
        data: &[u8],
        record: Option<ImageRecord>,
        pipeline: &Pipeline,
        accept: Option<&str>,
    ) -> Result<Rendered> {
        let inner = &self.inner;
        let cache_key = pipeline
            .cache_key(accept)
            .filter(|_| inner.derived.is_some());
        let sha256 = match &record {
            Some(record) => record.sha256.clone(),
            None => hex(&Sha256::digest(data)),
        };
        if record.is_none()
            && let (Some(cache_key), Some(cache)) = (&cache_key, &inner.derived)
            && let Some(output) = cache.get(&sha256, cache_key, pipeline.warnings())
        {
            return Ok(Rendered {
                output,
                cache_hit: true,
                record: None,
            });
        }
        let options = Options {
            accept: accept.map(str::to_owned),
            limits: inner.config.limits,
            strict: false,
            resolver: Some(self.resolver()),
            // Unset model paths fall back to PICSMITH_NSFW_MODEL and the other variables.
            models: Default::default(),
        };
        let output = pipeline.run(data, &options)?;
        if let (Some(cache_key), Some(cache)) = (&cache_key, &inner.derived) {
            cache.put(&sha256, cache_key, &output, pipeline.warnings());
        }
        Ok(Rendered {
            output,
            cache_hit: false,
            record,
        })
    }

    /// A new API key for `account`: `psk_` and 40 random characters (about 238 bits). Only its
    /// SHA-256 is stored, in the catalog, so every server sharing the catalog accepts it; the
    /// key itself is answered once and cannot be recovered.
    ///
    /// ```
    /// # use picsmith::storage::{Library, LibraryConfig, LibrarySettings};
    /// # let dir = std::env::temp_dir().join(format!("picsmith-doc-keys-{}", std::process::id()));
    /// # let catalog = format!("sqlite://{}/catalog.db", dir.display());
    /// # let settings = LibrarySettings { storage: Some("memory://".into()), catalog: Some(catalog), cache: Some("off".into()), ..Default::default() };
    /// # let library = Library::open(LibraryConfig::default().with_settings(settings).unwrap()).unwrap();
    /// let key = library.create_key("default", "uploads from the CMS").unwrap();
    /// assert_eq!(library.check_key(&key).unwrap().as_deref(), Some("default"));
    /// assert_eq!(library.check_key("psk_guess").unwrap(), None);
    /// # std::fs::remove_dir_all(dir).ok();
    /// ```
    pub fn create_key(&self, account: &str, label: &str) -> Result<String> {
        if account.is_empty() || account.len() > 200 || account.chars().any(char::is_control) {
            return Err(Error::for_parameter(
                ErrorKind::InvalidParameter,
                "account",
                "an account is 1 to 200 characters, none of them control characters",
            ));
        }
        let key = format!("psk_{}", names::random_token(40));
        self.block_on(
            self.inner
                .catalog
                .insert_key(&key_hash(&key), account, label),
        )?;
        Ok(key)
    }

    /// The account an API key belongs to, or `None` for a key that does not exist. Keys are
    /// looked up by their SHA-256, so the time taken says nothing about how close a guess was.
    pub fn check_key(&self, key: &str) -> Result<Option<String>> {
        if key.is_empty() || key.len() > 200 {
            return Ok(None);
        }
        self.block_on(self.inner.catalog.key_account(&key_hash(key)))
    }

    /// Revokes an API key; `false` when there was no such key.
    pub fn revoke_key(&self, key: &str) -> Result<bool> {
        self.block_on(self.inner.catalog.delete_key(&key_hash(key)))
    }

    /// Deletes up to 20 images by id and answers their records; unknown ids are an error and
    /// then nothing is deleted.
    pub fn delete(&self, ids: &[String]) -> Result<Vec<ImageRecord>> {
        let ids = check_ids(ids)?;
        let inner = &self.inner;
        self.block_on(async {
            let deleted = inner.catalog.delete(&ids).await?;
            for (record, key) in &deleted {
                inner.blobs.delete(key).await?;
                if !inner.catalog.has_content(&record.sha256).await?
                    && let Some(cache) = &inner.derived
                {
                    cache.invalidate(&record.sha256);
                }
            }
            Ok(deleted.into_iter().map(|(r, _)| r).collect())
        })
    }

    /// Adds tags to up to 20 images; an image would end with more than 20 tags → nothing changes.
    pub fn add_tags(&self, ids: &[String], tags: &[String]) -> Result<Vec<ImageRecord>> {
        let ids = check_ids(ids)?;
        let new = check_tags(tags)?;
        self.edit_tags(&ids, move |record| {
            let mut tags = record.tags.clone();
            for tag in &new {
                if !tags.contains(tag) {
                    tags.push(tag.clone());
                }
            }
            if tags.len() > MAX_TAGS_PER_IMAGE {
                return Err(too_many_tags(tags.len()));
            }
            Ok(tags)
        })
    }

    /// Removes tags from up to 20 images; tags an image does not have are ignored.
    pub fn remove_tags(&self, ids: &[String], tags: &[String]) -> Result<Vec<ImageRecord>> {
        let ids = check_ids(ids)?;
        let gone: Vec<String> = tags.iter().map(|t| t.trim().to_owned()).collect();
        self.edit_tags(&ids, move |record| {
            Ok(record
                .tags
                .iter()
                .filter(|t| !gone.contains(t))
                .cloned()
                .collect())
        })
    }

    fn edit_tags(
        &self,
        ids: &[String],
        edit: impl Fn(&ImageRecord) -> Result<Vec<String>>,
    ) -> Result<Vec<ImageRecord>> {
        self.block_on(self.inner.catalog.edit_tags(ids, edit))
    }

    /// Images by folder, tag and account, newest first, a page at a time.
    pub fn list(&self, query: &ListQuery) -> Result<Page> {
        if !(1..=1000).contains(&query.limit) {
            return Err(Error::for_parameter(
                ErrorKind::InvalidParameter,
                "limit",
                format!("limit {} is outside 1 to 1000", query.limit),
            ));
        }
        let folder = query.folder.as_deref().map(normalize_folder).transpose()?;
        let filter = ListFilter {
            folder: folder.as_deref(),
            tag: query.tag.as_deref(),
            account: query.account.as_deref(),
            limit: query.limit,
            offset: query.skip,
        };
        let (images, total) = self.block_on(self.inner.catalog.list(&filter))?;
        Ok(Page { images, total })
    }

    /// Images and bytes stored for one account (or all), against the quota.
    pub fn usage(&self, account: Option<&str>) -> Result<Usage> {
        let (num_images, used) = self.block_on(self.inner.catalog.usage(account))?;
        let max = self.inner.config.quota_bytes;
        let remaining = max.saturating_sub(used);
        Ok(Usage {
            num_images,
            storage: StorageUsage {
                max,
                max_readable: readable_size(max),
                used,
                used_readable: readable_size(used),
                remaining,
                remaining_readable: readable_size(remaining),
            },
        })
    }

    /// Deletes every image whose expiration has passed and answers their ids.
    pub fn sweep_expired(&self) -> Result<Vec<String>> {
        let expired = self.block_on(self.inner.catalog.expired(now_ms()))?;
        let mut deleted = Vec::with_capacity(expired.len());
        for chunk in expired.chunks(MAX_IDS_PER_CALL) {
            let inner = &self.inner;
            let gone = self.block_on(async {
                let gone = inner.catalog.delete(chunk).await?;
                for (record, key) in &gone {
                    inner.blobs.delete(key).await?;
                    if !inner.catalog.has_content(&record.sha256).await?
                        && let Some(cache) = &inner.derived
                    {
                        cache.invalidate(&record.sha256);
                    }
                }
                Ok::<_, Error>(gone)
            })?;
            deleted.extend(gone.into_iter().map(|(r, _)| r.id));
        }
        Ok(deleted)
    }

    /// Removes blobs no record points at that are older than `grace` (use [`GC_GRACE`] while
    /// uploads may be running): the leftovers of uploads that crashed between writing the blob
    /// and committing the record.
    pub fn gc(&self, grace: Duration) -> Result<GcReport> {
        let inner = &self.inner;
        self.block_on(async {
            // Blobs first, records second: a blob written after the listing is not seen, and a
            // record committed after it is in the set; either way nothing live is removed.
            let blobs = inner.blobs.list(BLOB_PREFIX).await?;
            let referenced = inner.catalog.blob_keys().await?;
            let cutoff = SystemTime::now().checked_sub(grace).unwrap_or(UNIX_EPOCH);
            let mut report = GcReport::default();
            for blob in blobs {
                if !referenced.contains(&blob.key) && blob.last_modified <= cutoff {
                    inner.blobs.delete(&blob.key).await?;
                    report.removed_blobs += 1;
                    report.removed_bytes += blob.size;
                }
            }
            Ok(report)
        })
    }

    /// Checks that every record's blob exists with the recorded size: the consistency the
    /// crash and concurrency tests assert. Answers the ids whose blob is missing or wrong.
    pub fn verify(&self) -> Result<Vec<String>> {
        let inner = &self.inner;
        self.block_on(async {
            let mut bad = Vec::new();
            let mut skip = 0;
            loop {
                let filter = ListFilter {
                    folder: None,
                    tag: None,
                    account: None,
                    limit: 500,
                    offset: skip,
                };
                let (page, _) = inner.catalog.list(&filter).await?;
                if page.is_empty() {
                    break;
                }
                skip += page.len() as u64;
                let ids: Vec<String> = page.iter().map(|r| r.id.clone()).collect();
                for (record, key) in inner.catalog.get_many(&ids).await? {
                    if inner.blobs.size(&key).await? != Some(record.size) {
                        bad.push(record.id);
                    }
                }
            }
            Ok(bad)
        })
    }

    /// Fetches a remote image under the library's policy and limits.
    pub fn fetch(&self, url: &str) -> Result<Vec<u8>> {
        self.block_on(
            self.inner
                .fetcher
                .fetch(url, self.inner.config.limits.max_input_bytes),
        )
    }

    /// The resolver transforms use for `mark` and `layers`: stored images by path or id, and
    /// http(s) URLs through the guarded fetcher.
    pub fn resolver(&self) -> Arc<dyn Resolver> {
        Arc::new(LibraryResolver {
            library: self.clone(),
        })
    }
}

fn not_found(reference: &str) -> Error {
    Error::new(
        ErrorKind::NotFound,
        format!("no image '{}'", reference.escape_debug()),
    )
}

#[derive(Clone)]
struct LibraryResolver {
    library: Library,
}

impl std::fmt::Debug for LibraryResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LibraryResolver")
    }
}

impl Resolver for LibraryResolver {
    fn fetch(&self, location: &str, limits: &Limits) -> Result<Vec<u8>> {
        let lower = location.get(..8).unwrap_or(location).to_ascii_lowercase();
        if lower.starts_with("http://") || lower.starts_with("https://") {
            let fetcher = &self.library.inner.fetcher;
            return self
                .library
                .block_on(fetcher.fetch(location, limits.max_input_bytes));
        }
        // A missing layer is a bad parameter, as with the directory resolver: the image the
        // request is about exists.
        let (data, record) = self.library.read(location).map_err(|e| match e.kind() {
            ErrorKind::NotFound => Error::new(
                ErrorKind::InvalidParameter,
                format!("location '{location}' does not exist"),
            ),
            _ => e,
        })?;
        if record.is_some_and(|r| r.is_private) {
            return Err(Error::new(
                ErrorKind::Forbidden,
                format!("{location} is private"),
            ));
        }
        if data.len() as u64 > limits.max_input_bytes {
            return Err(Error::new(
                ErrorKind::LimitExceeded,
                format!("{location} is larger than the input limit"),
            ));
        }
        Ok(data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_as_chevereto_sends_them() {
        for (text, secs) in [
            ("PT5M", 300),
            ("PT1H", 3600),
            ("P1D", 86400),
            ("P1W", 604800),
            ("P1M", 2592000),
            ("P1Y", 31536000),
            ("PT30S", 30),
        ] {
            assert_eq!(
                parse_iso8601_duration(text).unwrap().as_secs(),
                secs,
                "{text}"
            );
        }
        for bad in [
            "",
            "P",
            "PT",
            "5M",
            "P5",
            "PT5X",
            "P1H",
            "PT1D",
            "P0D",
            "P99999999999999999999Y",
            "PM5",
        ] {
            assert!(parse_iso8601_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn readable_sizes() {
        assert_eq!(readable_size(0), "0 B");
        assert_eq!(readable_size(1023), "1023 B");
        assert_eq!(readable_size(1536), "1.5 KB");
        assert_eq!(readable_size(10 << 30), "10 GB");
    }
}
