//! The derived-image cache: processed variants on local disk, so a repeated request does no
//! image work.
//!
//! An entry lives at `<dir>/<sha[0..2]>/<sha>/<hash of the pipeline key>`, where `sha` is the
//! original's SHA-256: variants of one original sit in one folder, removed together when the
//! original is replaced or deleted, and content that changes gets a new checksum, so a stale
//! variant can never be served. The cache is bounded in bytes; when it grows past the bound the
//! least recently used entries (by modification time, refreshed on every hit) are evicted down
//! to 90 % of it. Several processes may share the folder: every write is a rename of a
//! complete temporary file, and a damaged entry reads as a miss.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::format::Format;
use crate::pipeline::Output;
use crate::query::Warning;

const MAGIC: &[u8; 4] = b"PSD1";

#[derive(Debug)]
pub(crate) struct DerivedCache {
    dir: PathBuf,
    max_bytes: u64,
    /// Bytes this process believes the folder holds; re-measured at every eviction.
    used: AtomicU64,
    evicting: Mutex<()>,
}

/// What an entry stores beside the bytes.
#[derive(Serialize, Deserialize)]
struct Header {
    format: String,
    width: u32,
    height: u32,
    quality: Option<u8>,
    vary_accept: bool,
    /// Warnings of processing (parsing warnings belong to the request, not the variant).
    warnings: Vec<(String, String)>,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl DerivedCache {
    pub fn open(dir: &Path, max_bytes: u64) -> std::io::Result<DerivedCache> {
        fs::create_dir_all(dir)?;
        let cache = DerivedCache {
            dir: dir.to_owned(),
            max_bytes,
            used: AtomicU64::new(0),
            evicting: Mutex::new(()),
        };
        let used = cache.entries().iter().map(|(_, size, _)| size).sum();
        cache.used.store(used, Ordering::Relaxed);
        Ok(cache)
    }

    fn folder(&self, original_sha256: &str) -> Option<PathBuf> {
        // The checksum comes from the catalog; anything but 64 hex digits is not one of ours.
        if original_sha256.len() != 64 || !original_sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        Some(self.dir.join(&original_sha256[..2]).join(original_sha256))
    }

    fn entry(&self, original_sha256: &str, key: &str) -> Option<PathBuf> {
        let name = hex(&Sha256::digest(key.as_bytes()));
        Some(self.folder(original_sha256)?.join(name))
    }

    /// The cached output, with `parse_warnings` (the request's own) in front of the stored ones.
    pub fn get(
        &self,
        original_sha256: &str,
        key: &str,
        parse_warnings: &[Warning],
    ) -> Option<Output> {
        let path = self.entry(original_sha256, key)?;
        let bytes = fs::read(&path).ok()?;
        let output = decode_entry(&bytes, parse_warnings);
        match output {
            Some(_) => {
                // Refreshing the time is what makes eviction least-recently-used.
                if let Ok(file) = fs::File::options().write(true).open(&path) {
                    let _ = file.set_modified(SystemTime::now());
                }
            }
            None => {
                let _ = fs::remove_file(&path);
            }
        }
        output
    }

    pub fn put(
        &self,
        original_sha256: &str,
        key: &str,
        output: &Output,
        parse_warnings: &[Warning],
    ) {
        let Some(path) = self.entry(original_sha256, key) else {
            return;
        };
        let header = Header {
            format: output.format.name().to_owned(),
            width: output.width,
            height: output.height,
            quality: output.quality,
            vary_accept: output.vary_accept,
            warnings: output
                .warnings
                .iter()
                .filter(|w| !parse_warnings.contains(w))
                .map(|w| (w.parameter.clone(), w.message.clone()))
                .collect(),
        };
        let header = serde_json::to_vec(&header).expect("the header serialises");
        let size = (MAGIC.len() + 4 + header.len() + output.data.len()) as u64;
        if size > self.max_bytes / 4 {
            return; // one entry must not flush the whole cache
        }
        let written = (|| -> std::io::Result<()> {
            let folder = path.parent().expect("entries live in a folder");
            fs::create_dir_all(folder)?;
            let temporary = folder.join(format!(".tmp-{}", super::names::random_token(10)));
            let mut file = fs::File::create(&temporary)?;
            file.write_all(MAGIC)?;
            file.write_all(&(header.len() as u32).to_le_bytes())?;
            file.write_all(&header)?;
            file.write_all(&output.data)?;
            drop(file);
            fs::rename(&temporary, &path).inspect_err(|_| {
                let _ = fs::remove_file(&temporary);
            })
        })();
        if written.is_ok() && self.used.fetch_add(size, Ordering::Relaxed) + size > self.max_bytes {
            self.evict();
        }
    }

    /// Removes every variant of one original.
    pub fn invalidate(&self, original_sha256: &str) {
        if let Some(folder) = self.folder(original_sha256) {
            let size: u64 = fs::read_dir(&folder)
                .map(|entries| {
                    entries
                        .flatten()
                        .filter_map(|e| e.metadata().ok())
                        .map(|m| m.len())
                        .sum()
                })
                .unwrap_or(0);
            if fs::remove_dir_all(&folder).is_ok() {
                let _ = self
                    .used
                    .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |u| {
                        Some(u.saturating_sub(size))
                    });
            }
        }
    }

    /// Bytes the cache holds, as last measured or counted.
    #[cfg(test)]
    pub fn used_bytes(&self) -> u64 {
        self.used.load(Ordering::Relaxed)
    }

    fn entries(&self) -> Vec<(PathBuf, u64, SystemTime)> {
        let mut found = Vec::new();
        let Ok(prefixes) = fs::read_dir(&self.dir) else {
            return found;
        };
        for prefix in prefixes.flatten() {
            let Ok(originals) = fs::read_dir(prefix.path()) else {
                continue;
            };
            for original in originals.flatten() {
                let Ok(variants) = fs::read_dir(original.path()) else {
                    continue;
                };
                for variant in variants.flatten() {
                    if let Ok(meta) = variant.metadata() {
                        let modified = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
                        found.push((variant.path(), meta.len(), modified));
                    }
                }
            }
        }
        found
    }

    fn evict(&self) {
        let Ok(_guard) = self.evicting.try_lock() else {
            return; // another thread is already evicting
        };
        let mut entries = self.entries();
        let mut used: u64 = entries.iter().map(|(_, size, _)| size).sum();
        let target = self.max_bytes / 10 * 9;
        entries.sort_by_key(|(_, _, modified)| *modified);
        for (path, size, _) in entries {
            if used <= target {
                break;
            }
            if fs::remove_file(&path).is_ok() {
                used -= size;
                if let Some(folder) = path.parent() {
                    let _ = fs::remove_dir(folder); // only succeeds once the folder is empty
                }
            }
        }
        self.used.store(used, Ordering::Relaxed);
    }
}

fn decode_entry(bytes: &[u8], parse_warnings: &[Warning]) -> Option<Output> {
    let rest = bytes.strip_prefix(MAGIC)?;
    let (len, rest) = rest.split_first_chunk::<4>()?;
    let len = u32::from_le_bytes(*len) as usize;
    if rest.len() < len {
        return None;
    }
    let (header, data) = rest.split_at(len);
    let header: Header = serde_json::from_slice(header).ok()?;
    let mut warnings = parse_warnings.to_vec();
    warnings.extend(
        header
            .warnings
            .into_iter()
            .map(|(parameter, message)| Warning { parameter, message }),
    );
    Some(Output {
        data: data.to_vec(),
        format: Format::from_name(&header.format)?,
        width: header.width,
        height: header.height,
        warnings,
        vary_accept: header.vary_accept,
        quality: header.quality,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn output(len: usize) -> Output {
        Output {
            data: vec![7; len],
            format: Format::Webp,
            width: 3,
            height: 2,
            warnings: vec![Warning {
                parameter: "quality".into(),
                message: "kept".into(),
            }],
            vary_accept: true,
            quality: Some(80),
        }
    }

    const SHA_A: &str = "aa00000000000000000000000000000000000000000000000000000000000000";
    const SHA_B: &str = "bb00000000000000000000000000000000000000000000000000000000000000";

    #[test]
    fn round_trip_invalidate_and_bad_checksums() {
        let dir = std::env::temp_dir().join(format!(
            "picsmith-derived-{}",
            super::super::names::random_token(8)
        ));
        let cache = DerivedCache::open(&dir, 1 << 20).unwrap();
        let parse = vec![Warning {
            parameter: "cachebuster".into(),
            message: "unknown".into(),
        }];
        let mut made = output(100);
        made.warnings.insert(0, parse[0].clone());
        cache.put(SHA_A, "k1", &made, &parse);
        let hit = cache.get(SHA_A, "k1", &parse).unwrap();
        assert_eq!(hit, made);
        assert!(cache.get(SHA_A, "k2", &parse).is_none());
        assert!(cache.get("../../etc", "k1", &parse).is_none());
        cache.invalidate(SHA_A);
        assert!(cache.get(SHA_A, "k1", &parse).is_none());
        assert_eq!(cache.used_bytes(), 0);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn eviction_keeps_the_recently_used() {
        let dir = std::env::temp_dir().join(format!(
            "picsmith-derived-{}",
            super::super::names::random_token(8)
        ));
        let cache = DerivedCache::open(&dir, 40_000).unwrap();
        for i in 0..4 {
            cache.put(SHA_A, &format!("k{i}"), &output(9_000), &[]);
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        assert!(cache.get(SHA_A, "k0", &[]).is_some()); // k0 becomes the most recent
        cache.put(SHA_B, "k4", &output(9_000), &[]);
        assert!(cache.used_bytes() <= 36_000, "{}", cache.used_bytes());
        assert!(cache.get(SHA_A, "k0", &[]).is_some());
        assert!(cache.get(SHA_A, "k1", &[]).is_none());
        assert!(cache.get(SHA_B, "k4", &[]).is_some());
        fs::remove_dir_all(&dir).unwrap();
    }
}
