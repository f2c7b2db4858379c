//! Blobs: one [`BlobStore`] over object_store, chosen by a URL-like setting.
//!
//! `file://DIR` (the embedded default), `memory://` (tests) and
//! `s3://BUCKET?endpoint=URL&region=R&path_style=true` (AWS S3, MinIO, Garage, Ceph, s3s).
//! Writes are atomic on every backend: object_store's local put writes a temporary file and
//! renames it, and an S3 object appears only when its PUT (or multipart completion) succeeds.

use std::sync::Arc;

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload, WriteMultipart};

use crate::error::{Error, ErrorKind, Result};

/// Payloads above this are sent as a multipart upload in parts of this size, so a large image
/// is never one request that must be retried whole.
const MULTIPART_PART: usize = 8 * 1024 * 1024;

/// The blob backend of a [`crate::storage::Library`].
#[derive(Debug, Clone)]
pub(crate) struct BlobStore {
    inner: Arc<dyn ObjectStore>,
    /// The folder of a `file://` store, resolved: links may not lead out of it.
    local_root: Option<std::path::PathBuf>,
    /// The setting it was opened from, with credentials never included, for messages.
    description: String,
}

/// An object's key and size, as listing returns them.
#[derive(Debug, Clone)]
pub(crate) struct BlobInfo {
    pub key: String,
    pub size: u64,
    pub last_modified: std::time::SystemTime,
}

fn storage_error(context: &str, err: object_store::Error) -> Error {
    match err {
        object_store::Error::NotFound { path, .. } => {
            Error::new(ErrorKind::NotFound, format!("{context}: no blob at {path}"))
        }
        other => Error::new(ErrorKind::StorageUnavailable, format!("{context}: {other}")),
    }
}

fn bad_setting(setting: &str, why: impl std::fmt::Display) -> Error {
    Error::for_parameter(
        ErrorKind::InvalidParameter,
        "storage",
        format!("storage setting '{setting}': {why}"),
    )
}

impl BlobStore {
    /// Opens the backend a setting names; `file://` creates its folder when missing.
    pub fn open(setting: &str) -> Result<BlobStore> {
        let (scheme, rest) = setting.split_once("://").ok_or_else(|| {
            bad_setting(setting, "expected file://DIR, memory:// or s3://BUCKET?...")
        })?;
        let mut local_root = None;
        let inner: Arc<dyn ObjectStore> = match scheme {
            "memory" => Arc::new(InMemory::new()),
            "file" => {
                let dir = std::path::Path::new(rest);
                if rest.is_empty() {
                    return Err(bad_setting(setting, "file:// needs a folder"));
                }
                // originals/ is where files placed by hand are served from.
                std::fs::create_dir_all(dir.join("originals"))
                    .map_err(|e| bad_setting(setting, e))?;
                local_root = Some(dir.canonicalize().map_err(|e| bad_setting(setting, e))?);
                let fs =
                    LocalFileSystem::new_with_prefix(dir).map_err(|e| bad_setting(setting, e))?;
                Arc::new(fs)
            }
            "s3" => Arc::new(open_s3(setting, rest)?),
            other => return Err(bad_setting(setting, format!("unknown scheme '{other}'"))),
        };
        Ok(BlobStore {
            inner,
            local_root,
            description: setting.to_owned(),
        })
    }

    pub fn description(&self) -> &str {
        &self.description
    }

    /// Writes `data` at `key` atomically, replacing what was there.
    pub async fn put(&self, key: &str, data: Bytes) -> Result<()> {
        let path = Path::from(key);
        let context = || format!("writing {key} to {}", self.description);
        if data.len() <= MULTIPART_PART {
            self.inner
                .put(&path, PutPayload::from_bytes(data))
                .await
                .map_err(|e| storage_error(&context(), e))?;
            return Ok(());
        }
        let upload = self
            .inner
            .put_multipart(&path)
            .await
            .map_err(|e| storage_error(&context(), e))?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, MULTIPART_PART);
        // Bytes slices share the one buffer: the parts are views, not copies.
        for start in (0..data.len()).step_by(MULTIPART_PART) {
            writer.put(data.slice(start..(start + MULTIPART_PART).min(data.len())));
        }
        writer
            .finish()
            .await
            .map_err(|e| storage_error(&context(), e))?;
        Ok(())
    }

    /// On local storage, a key whose file is a link leading out of its top folder (`originals/`,
    /// `blobs/`) reads as missing: a link placed among the originals must not publish the
    /// catalog or the rest of the disk.
    fn check_inside(&self, key: &str) -> Result<()> {
        let Some(root) = &self.local_root else {
            return Ok(());
        };
        let top = root.join(key.split('/').next().unwrap_or_default());
        match root.join(key).canonicalize() {
            Ok(real) if !real.starts_with(&top) => Err(Error::new(
                ErrorKind::NotFound,
                format!("{key} leads out of {}", self.description),
            )),
            _ => Ok(()),
        }
    }

    pub async fn get(&self, key: &str) -> Result<Bytes> {
        self.check_inside(key)?;
        let context = || format!("reading {key} from {}", self.description);
        let result = self
            .inner
            .get(&Path::from(key))
            .await
            .map_err(|e| storage_error(&context(), e))?;
        result
            .bytes()
            .await
            .map_err(|e| storage_error(&context(), e))
    }

    /// Size of the blob at `key`, or `None` when there is none.
    pub async fn size(&self, key: &str) -> Result<Option<u64>> {
        if self.check_inside(key).is_err() {
            return Ok(None);
        }
        match self.inner.head(&Path::from(key)).await {
            Ok(meta) => Ok(Some(meta.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(storage_error(&format!("checking {key}"), e)),
        }
    }

    /// Deletes the blob at `key`; deleting a missing blob is not an error.
    pub async fn delete(&self, key: &str) -> Result<()> {
        match self.inner.delete(&Path::from(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(storage_error(&format!("deleting {key}"), e)),
        }
    }

    /// Every blob under `prefix` (a folder such as `blobs`).
    pub async fn list(&self, prefix: &str) -> Result<Vec<BlobInfo>> {
        let prefix = Path::from(prefix);
        self.inner
            .list(Some(&prefix))
            .map(|item| {
                item.map(|meta| BlobInfo {
                    key: meta.location.to_string(),
                    size: meta.size,
                    last_modified: meta.last_modified.into(),
                })
            })
            .try_collect()
            .await
            .map_err(|e| storage_error(&format!("listing {prefix}"), e))
    }
}

/// `s3://BUCKET?endpoint=…&region=…&path_style=true`; credentials come from the environment
/// (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`) as every S3 tool reads them.
fn open_s3(setting: &str, rest: &str) -> Result<object_store::aws::AmazonS3> {
    let (bucket, query) = rest.split_once('?').unwrap_or((rest, ""));
    let bucket = bucket.trim_end_matches('/');
    if bucket.is_empty() || bucket.contains('/') {
        return Err(bad_setting(
            setting,
            "s3:// needs a bucket name and nothing else before '?'",
        ));
    }
    let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
    for (key, value) in form_urlencoded::parse(query.as_bytes()) {
        builder = match key.as_ref() {
            "endpoint" => {
                let http = value.starts_with("http://");
                builder.with_endpoint(value.as_ref()).with_allow_http(http)
            }
            "region" => builder.with_region(value.as_ref()),
            "path_style" => match value.as_ref() {
                "true" | "1" => builder.with_virtual_hosted_style_request(false),
                "false" | "0" => builder.with_virtual_hosted_style_request(true),
                other => {
                    return Err(bad_setting(
                        setting,
                        format!("path_style={other}: expected true or false"),
                    ));
                }
            },
            other => return Err(bad_setting(setting, format!("unknown option '{other}'"))),
        };
    }
    builder.build().map_err(|e| bad_setting(setting, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn settings_are_checked() {
        for bad in [
            "",
            "ftp://x",
            "file://",
            "s3://",
            "s3://b/c",
            "s3://b?color=red",
            "s3://b?path_style=maybe",
        ] {
            let err = BlobStore::open(bad).unwrap_err();
            assert_eq!(err.parameter(), Some("storage"), "{bad}");
        }
    }

    #[test]
    fn memory_round_trip_including_multipart() {
        block_on(async {
            let store = BlobStore::open("memory://").unwrap();
            let big: Vec<u8> = (0..(MULTIPART_PART * 2 + 17)).map(|i| i as u8).collect();
            store
                .put("blobs/a/big", Bytes::from(big.clone()))
                .await
                .unwrap();
            store
                .put("blobs/b/small", Bytes::from_static(b"x"))
                .await
                .unwrap();
            assert_eq!(store.get("blobs/a/big").await.unwrap(), big);
            assert_eq!(store.size("blobs/b/small").await.unwrap(), Some(1));
            assert_eq!(store.list("blobs").await.unwrap().len(), 2);
            store.delete("blobs/a/big").await.unwrap();
            store.delete("blobs/a/big").await.unwrap();
            assert_eq!(store.size("blobs/a/big").await.unwrap(), None);
            assert_eq!(
                store.get("blobs/a/big").await.unwrap_err().kind(),
                ErrorKind::NotFound
            );
        });
    }
}
