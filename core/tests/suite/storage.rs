//! The storage suite: every operation of `Library` against each backend combination that
//! matters. Local files + SQLite always run; S3 + PostgreSQL run when
//! `tests/servers/with-servers.sh` started the servers (as `make test` does), and say SKIPPED
//! otherwise. The crash test kills a real writer process mid-upload; the concurrency test runs
//! uploads, tag edits and deletes at once and checks the catalog and the blobs agree.

use crate::common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use picsmith::storage::{Library, LibraryConfig, ListQuery, UploadOptions, UploadSource};
use picsmith::{ErrorKind, FetchPolicy};

/// One backend combination, with the temporary folder that holds its files.
struct Backend {
    name: &'static str,
    config: LibraryConfig,
    dir: PathBuf,
}

impl Drop for Backend {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn token() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("{}{n}{nanos}", std::process::id())
}

fn temp_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("picsmith-storage-{}", token()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn local_sqlite() -> Backend {
    let dir = temp_dir();
    let config = LibraryConfig {
        storage: format!("file://{}", dir.join("data").display()),
        catalog: format!("sqlite://{}", dir.join("data/catalog.db").display()),
        cache_dir: Some(dir.join("cache")),
        ..Default::default()
    };
    Backend {
        name: "local+sqlite",
        config,
        dir,
    }
}

/// A fresh bucket on the test S3 server and a fresh PostgreSQL database, when both run.
fn s3_postgres() -> Option<Backend> {
    let (Ok(endpoint), Ok(root), Ok(postgres)) = (
        std::env::var("PICSMITH_TEST_S3_ENDPOINT"),
        std::env::var("PICSMITH_TEST_S3_ROOT"),
        std::env::var("PICSMITH_TEST_POSTGRES"),
    ) else {
        eprintln!(
            "SKIPPED: s3+postgres (run under tests/servers/with-servers.sh, as make test does)"
        );
        return None;
    };
    let name = format!("t{}", token()).to_lowercase();
    std::fs::create_dir_all(PathBuf::from(&root).join(&name)).unwrap();
    let url = url_parts(&postgres);
    let status = Command::new("createdb")
        .args(["-h", &url.0, "-p", &url.1, "-U", "postgres", &name])
        .status()
        .expect("createdb runs");
    assert!(status.success(), "createdb {name}");
    let dir = temp_dir();
    let config = LibraryConfig {
        storage: format!("s3://{name}?endpoint={endpoint}&region=us-east-1&path_style=true"),
        catalog: format!("{postgres}/{name}"),
        cache_dir: Some(dir.join("cache")),
        ..Default::default()
    };
    Some(Backend {
        name: "s3+postgres",
        config,
        dir,
    })
}

fn url_parts(postgres: &str) -> (String, String) {
    let host_port = postgres.rsplit('@').next().unwrap();
    let (host, port) = host_port.split_once(':').unwrap();
    (host.to_owned(), port.trim_end_matches('/').to_owned())
}

fn backends() -> Vec<Backend> {
    let mut all = vec![local_sqlite()];
    all.extend(s3_postgres());
    all
}

/// A small PNG whose pixels depend on `seed`, so every upload has its own content.
fn png(seed: u32, width: u32, height: u32) -> Vec<u8> {
    let image = image::RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([
            (x * 7 + seed) as u8,
            (y * 5 + seed * 3) as u8,
            (seed * 11) as u8,
        ])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    image::DynamicImage::ImageRgb8(image)
        .write_to(&mut out, image::ImageFormat::Png)
        .unwrap();
    out.into_inner()
}

fn named(name: &str) -> UploadOptions {
    UploadOptions {
        file_name: Some(name.into()),
        ..Default::default()
    }
}

fn ids(records: &[picsmith::storage::ImageRecord]) -> Vec<String> {
    records.iter().map(|r| r.id.clone()).collect()
}

#[test]
fn upload_read_render_and_delete() {
    for backend in backends() {
        let library = Library::open(backend.config.clone()).unwrap();
        let data = png(1, 64, 48);
        let options = UploadOptions {
            file_name: Some("red shoe.png".into()),
            folder: Some("/products/2024".into()),
            tags: vec!["shoe".into(), "red".into()],
            title: Some("A shoe".into()),
            custom_coordinates: Some("1,2,3,4".into()),
            ..Default::default()
        };
        let record = library
            .upload(UploadSource::Bytes(data.clone()), &options)
            .unwrap();
        let b = backend.name;
        assert_eq!(record.id.len(), 12, "{b}");
        assert_eq!(record.folder, "/products/2024/", "{b}");
        assert!(
            record.name.starts_with("red_shoe_") && record.name.ends_with(".png"),
            "{b}: {}",
            record.name
        );
        assert_eq!(record.path, format!("/products/2024/{}", record.name));
        assert_eq!(
            (record.width, record.height, record.size),
            (64, 48, data.len() as u64),
            "{b}"
        );
        assert_eq!(
            (record.mime.as_str(), record.format.as_str()),
            ("image/png", "png")
        );
        assert_eq!(record.tags, ["shoe", "red"]);
        assert_eq!(record.sha256.len(), 64);
        assert_eq!(record.md5.len(), 32);
        assert_eq!(record.phash.as_ref().map(String::len), Some(16));
        assert_eq!(record.original_name.as_deref(), Some("red shoe.png"));

        assert_eq!(library.get(&record.id).unwrap(), record, "{b}");
        assert_eq!(library.get_by_path(&record.path).unwrap(), record, "{b}");
        let (bytes, found) = library.read(&record.id).unwrap();
        assert_eq!(bytes, data, "{b}");
        assert_eq!(found.as_ref(), Some(&record));

        let first = library
            .render(&record.path, "width=16&format=webp&cachebuster=1", None)
            .unwrap();
        assert!(!first.cache_hit, "{b}");
        assert_eq!((first.output.width, first.output.height), (16, 12));
        let second = library
            .render(&record.id, "format=webp&w=16", None)
            .unwrap();
        assert!(
            second.cache_hit,
            "{b}: same original, same canonical pipeline"
        );
        assert_eq!(second.output.data, first.output.data);
        assert!(
            second.output.warnings.is_empty(),
            "{b}: parse warnings belong to the request"
        );

        let deleted = library.delete(std::slice::from_ref(&record.id)).unwrap();
        assert_eq!(ids(&deleted), std::slice::from_ref(&record.id));
        assert_eq!(
            library.get(&record.id).unwrap_err().kind(),
            ErrorKind::NotFound,
            "{b}"
        );
        assert_eq!(
            library
                .render(&record.path, "w=16", None)
                .unwrap_err()
                .kind(),
            ErrorKind::NotFound
        );
        assert_eq!(library.usage(None).unwrap().num_images, 0);
        assert_eq!(
            library.gc(Duration::ZERO).unwrap().removed_blobs,
            0,
            "{b}: the delete removed the blob"
        );
    }
}

/// A PNG of noise, which does not compress: about `3 * width * height` bytes.
fn noise_png(width: u32, height: u32) -> Vec<u8> {
    let mut state = 0x2545_f491_u32;
    let image = image::RgbImage::from_fn(width, height, |_, _| {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        let [r, g, b, _] = state.to_le_bytes();
        image::Rgb([r, g, b])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    image::DynamicImage::ImageRgb8(image)
        .write_to(&mut out, image::ImageFormat::Png)
        .unwrap();
    out.into_inner()
}

#[test]
fn an_upload_larger_than_one_part_is_written_in_parts_and_reads_back_whole() {
    // Blobs above 8 MiB go up as a multipart upload (S3) of views into the one buffer.
    let data = noise_png(2400, 1400);
    assert!(data.len() > 9 * 1024 * 1024, "{} bytes", data.len());
    for backend in backends() {
        let library = Library::open(backend.config.clone()).unwrap();
        let record = library
            .upload(UploadSource::Bytes(data.clone()), &named("noise.png"))
            .unwrap();
        let b = backend.name;
        assert_eq!(record.size, data.len() as u64, "{b}");
        let (stored, _) = library.read(&record.id).unwrap();
        assert!(stored == data, "{b}: the blob differs");
        assert!(library.verify().unwrap().is_empty(), "{b}");
    }
}

#[test]
fn overwrite_replaces_the_file_and_drops_tags_not_given_again() {
    for backend in backends() {
        let library = Library::open(backend.config.clone()).unwrap();
        let b = backend.name;
        let first = UploadOptions {
            path: Some("/catalog/item.png".into()),
            tags: vec!["old".into()],
            ..Default::default()
        };
        let one = library
            .upload(UploadSource::Bytes(png(1, 32, 32)), &first)
            .unwrap();
        assert_eq!(
            one.path, "/catalog/item.png",
            "{b}: a path upload keeps its name"
        );
        let warm = library.render("/catalog/item.png", "w=8", None).unwrap();
        assert!(!warm.cache_hit);

        let second = UploadOptions {
            file_name: Some("item.png".into()),
            folder: Some("catalog".into()),
            use_unique_file_name: false,
            ..Default::default()
        };
        let two = library
            .upload(UploadSource::Bytes(png(2, 40, 20)), &second)
            .unwrap();
        assert_eq!(two.id, one.id, "{b}: overwrite keeps the id");
        assert_eq!(two.created_at, one.created_at);
        assert_eq!((two.width, two.height), (40, 20));
        assert!(two.tags.is_empty(), "{b}: tags not given again are dropped");
        assert_ne!(two.sha256, one.sha256);

        let fresh = library.render("/catalog/item.png", "w=8", None).unwrap();
        assert!(!fresh.cache_hit, "{b}: new content, new variants");
        assert_eq!((fresh.output.width, fresh.output.height), (8, 4));
        assert_eq!(library.usage(None).unwrap().num_images, 1);
        assert_eq!(
            library.gc(Duration::ZERO).unwrap().removed_blobs,
            0,
            "{b}: the replaced blob was deleted"
        );
        assert!(library.verify().unwrap().is_empty());
    }
}

#[test]
fn tags_ids_and_limits() {
    for backend in backends() {
        let library = Library::open(backend.config.clone()).unwrap();
        let b = backend.name;
        let a = library
            .upload(UploadSource::Bytes(png(1, 8, 8)), &named("a.png"))
            .unwrap();
        let c = library
            .upload(UploadSource::Bytes(png(2, 8, 8)), &named("c.png"))
            .unwrap();
        let both = vec![a.id.clone(), c.id.clone()];

        let tagged = library
            .add_tags(&both, &["animal".into(), "dog".into(), "animal".into()])
            .unwrap();
        assert_eq!(ids(&tagged), both, "{b}");
        assert!(tagged.iter().all(|r| r.tags == ["animal", "dog"]), "{b}");
        let untagged = library
            .remove_tags(std::slice::from_ref(&a.id), &["dog".into(), "never".into()])
            .unwrap();
        assert_eq!(untagged[0].tags, ["animal"]);
        assert_eq!(library.get(&a.id).unwrap().tags, ["animal"]);

        // 21 tags on one image: refused, and nothing changes on either image.
        let many: Vec<String> = (0..20).map(|i| format!("t{i}")).collect();
        let err = library.add_tags(&both, &many).unwrap_err();
        assert_eq!(
            (err.kind(), err.parameter()),
            (ErrorKind::InvalidParameter, Some("tags")),
            "{b}"
        );
        assert_eq!(
            library.get(&c.id).unwrap().tags,
            ["animal", "dog"],
            "{b}: all or nothing"
        );
        let too_many: Vec<String> = (0..21).map(|i| format!("t{i}")).collect();
        let err = library
            .upload(
                UploadSource::Bytes(png(3, 8, 8)),
                &UploadOptions {
                    tags: too_many,
                    ..Default::default()
                },
            )
            .unwrap_err();
        assert_eq!(err.parameter(), Some("tags"));
        assert_eq!(
            library
                .add_tags(&both, &["50%".into()])
                .unwrap_err()
                .parameter(),
            Some("tags")
        );

        // 21 ids in one call, an unknown id: refused, nothing deleted.
        let ids21: Vec<String> = (0..21).map(|_| a.id.clone()).collect();
        assert_eq!(library.delete(&ids21).unwrap_err().parameter(), Some("ids"));
        let err = library
            .delete(&[a.id.clone(), "nosuchimage1".into()])
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound, "{b}");
        assert!(library.get(&a.id).is_ok(), "{b}: nothing deleted");
        assert_eq!(
            library
                .add_tags(&["nosuchimage1".into()], &["x".into()])
                .unwrap_err()
                .kind(),
            ErrorKind::NotFound
        );
        assert_eq!(library.usage(None).unwrap().num_images, 2);
    }
}

#[test]
fn list_search_and_usage() {
    for backend in backends() {
        let library = Library::open(backend.config.clone()).unwrap();
        let b = backend.name;
        let mut total_bytes = 0;
        for i in 0..7u32 {
            let folder = if i % 2 == 0 { "/even/" } else { "/odd/" };
            let tags = if i < 3 {
                vec!["first".to_owned()]
            } else {
                vec![]
            };
            let data = png(i, 10, 10);
            total_bytes += data.len() as u64;
            let options = UploadOptions {
                folder: Some(folder.into()),
                tags,
                account: Some("acme".into()),
                ..named(&format!("{i}.png"))
            };
            library.upload(UploadSource::Bytes(data), &options).unwrap();
            std::thread::sleep(Duration::from_millis(3)); // distinct creation times order the list
        }
        library
            .upload(UploadSource::Bytes(png(99, 10, 10)), &named("other.png"))
            .unwrap();

        let even = library
            .list(&ListQuery {
                folder: Some("even".into()),
                ..Default::default()
            })
            .unwrap();
        assert_eq!(even.total, 4, "{b}");
        assert!(even.images.iter().all(|r| r.folder == "/even/"));
        assert!(
            even.images
                .windows(2)
                .all(|w| w[0].created_at >= w[1].created_at),
            "{b}: newest first"
        );
        let tagged = library
            .list(&ListQuery {
                tag: Some("first".into()),
                ..Default::default()
            })
            .unwrap();
        assert_eq!(tagged.total, 3, "{b}");
        let page = library
            .list(&ListQuery {
                account: Some("acme".into()),
                limit: 3,
                skip: 6,
                ..Default::default()
            })
            .unwrap();
        assert_eq!((page.total, page.images.len()), (7, 1), "{b}");
        assert!(
            library
                .list(&ListQuery {
                    limit: 0,
                    ..Default::default()
                })
                .is_err()
        );

        let usage = library.usage(Some("acme")).unwrap();
        assert_eq!(usage.num_images, 7, "{b}");
        assert_eq!(usage.storage.used, total_bytes);
        assert_eq!(usage.storage.max, 10 << 30);
        assert_eq!(usage.storage.remaining, (10 << 30) - total_bytes);
        assert_eq!(usage.storage.max_readable, "10 GB");
        let json = serde_json::to_value(&usage).unwrap();
        assert!(
            json["storage"]["used_readable"]
                .as_str()
                .unwrap()
                .ends_with(" KB"),
            "{json}"
        );
        assert_eq!(library.usage(None).unwrap().num_images, 8);
    }
}

#[test]
fn bad_input_is_refused_and_nothing_is_written() {
    for backend in backends() {
        let mut config = backend.config.clone();
        config.limits.max_input_bytes = 1024;
        let library = Library::open(config).unwrap();
        let b = backend.name;
        let cases: Vec<(UploadSource, UploadOptions, ErrorKind, Option<&str>)> = vec![
            (
                UploadSource::Bytes(b"hello, not an image".to_vec()),
                named("x.png"),
                ErrorKind::UnsupportedFormat,
                None,
            ),
            (
                UploadSource::Bytes(Vec::new()),
                named("x.png"),
                ErrorKind::InvalidImage,
                Some("file"),
            ),
            (
                UploadSource::Bytes(png(1, 200, 200)),
                named("big.png"),
                ErrorKind::LimitExceeded,
                None,
            ),
            (
                UploadSource::Base64("!!!not base64!!!".into()),
                named("x.png"),
                ErrorKind::InvalidParameter,
                Some("file"),
            ),
            (
                UploadSource::Bytes(png(1, 8, 8)),
                named("../../etc/passwd"),
                ErrorKind::InvalidParameter,
                Some("fileName"),
            ),
            (
                UploadSource::Bytes(png(1, 8, 8)),
                UploadOptions {
                    folder: Some("/a/../../b".into()),
                    ..named("x.png")
                },
                ErrorKind::InvalidParameter,
                Some("folder"),
            ),
            (
                UploadSource::Bytes(png(1, 8, 8)),
                UploadOptions {
                    path: Some("/a\\b.png".into()),
                    ..Default::default()
                },
                ErrorKind::InvalidParameter,
                Some("path"),
            ),
            (
                UploadSource::Bytes(png(1, 8, 8)),
                UploadOptions {
                    transform: Some("width=0".into()),
                    ..Default::default()
                },
                ErrorKind::InvalidParameter,
                Some("width"),
            ),
            (
                UploadSource::Bytes(png(1, 8, 8)),
                UploadOptions {
                    transform: Some("meta=true".into()),
                    ..Default::default()
                },
                ErrorKind::InvalidParameter,
                Some("cache_processed"),
            ),
            (
                UploadSource::Bytes(png(1, 8, 8)),
                UploadOptions {
                    prerender: vec!["crop=bogus".into()],
                    ..Default::default()
                },
                ErrorKind::InvalidParameter,
                Some("crop"),
            ),
            (
                UploadSource::Url("http://127.0.0.1:9/x.png".into()),
                named("x.png"),
                ErrorKind::Forbidden,
                Some("url"),
            ),
        ];
        for (i, (source, options, kind, parameter)) in cases.into_iter().enumerate() {
            let err = library.upload(source, &options).unwrap_err();
            assert_eq!(err.kind(), kind, "{b} case {i}: {err}");
            if parameter.is_some() {
                assert_eq!(err.parameter(), parameter, "{b} case {i}: {err}");
            }
        }
        assert_eq!(library.usage(None).unwrap().num_images, 0, "{b}");
        assert_eq!(
            library.gc(Duration::ZERO).unwrap().removed_blobs,
            0,
            "{b}: no blob was left behind"
        );

        // Base64, plain and as a data URI, is accepted.
        let data = png(5, 8, 8);
        let encoded = base64_encode(&data);
        let plain = library
            .upload(UploadSource::from_text(&encoded), &named("b.png"))
            .unwrap();
        let uri = library
            .upload(
                UploadSource::Base64(format!("data:image/png;base64,{encoded}")),
                &named("u.png"),
            )
            .unwrap();
        assert_eq!(plain.sha256, uri.sha256, "{b}");
        assert_eq!(plain.size, data.len() as u64);
    }
}

fn base64_encode(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | (b as u32) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[test]
fn processed_uploads_prerender_and_expiry() {
    for backend in backends() {
        let library = Library::open(backend.config.clone()).unwrap();
        let b = backend.name;
        // Imagizer's cache_processed: the processed image becomes the original.
        let options = UploadOptions {
            path: Some("/pre/image.png".into()),
            transform: Some("width=20".into()),
            prerender: vec!["width=10&format=webp".into()],
            ..Default::default()
        };
        let record = library
            .upload(UploadSource::Bytes(png(1, 40, 30)), &options)
            .unwrap();
        assert_eq!((record.width, record.height), (20, 15), "{b}");
        let variant = library
            .render("/pre/image.png", "format=webp&width=10", None)
            .unwrap();
        assert!(
            variant.cache_hit,
            "{b}: cache_queries rendered it at upload"
        );

        let expiring = UploadOptions {
            expiration: Some(Duration::from_millis(300)),
            ..named("soon.png")
        };
        let soon = library
            .upload(UploadSource::Bytes(png(2, 8, 8)), &expiring)
            .unwrap();
        assert!(soon.expires_at.is_some());
        assert!(library.sweep_expired().unwrap().is_empty(), "{b}: not yet");
        std::thread::sleep(Duration::from_millis(400));
        assert_eq!(
            library.sweep_expired().unwrap(),
            std::slice::from_ref(&soon.id),
            "{b}"
        );
        assert_eq!(
            library.get(&soon.id).unwrap_err().kind(),
            ErrorKind::NotFound
        );
        assert!(library.get(&record.id).is_ok());
        assert_eq!(library.gc(Duration::ZERO).unwrap().removed_blobs, 0, "{b}");
    }
}

/// A one-request-at-a-time HTTP server on 127.0.0.1 answering `/image.png` with `body` and
/// `/hop` with a redirect to `redirect_to`.
fn serve_http(body: Vec<u8>, redirect_to: String) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut request = [0u8; 2048];
            let n = stream.read(&mut request).unwrap_or(0);
            let line = String::from_utf8_lossy(&request[..n])
                .lines()
                .next()
                .unwrap_or_default()
                .to_owned();
            let response = if line.starts_with("GET /hop ") {
                format!("HTTP/1.1 302 Found\r\nLocation: {redirect_to}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").into_bytes()
            } else if line.starts_with("GET /image.png ") {
                let mut r = format!("HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len()).into_bytes();
                r.extend_from_slice(&body);
                r
            } else {
                b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_vec()
            };
            let _ = stream.write_all(&response);
        }
    });
    port
}

#[test]
fn remote_sources_are_guarded() {
    let backend = local_sqlite();
    let data = png(4, 12, 12);
    let port = serve_http(data.clone(), "http://127.0.0.1:1/private".into());

    // The default policy refuses every private destination, literal or by name.
    let library = Library::open(backend.config.clone()).unwrap();
    for url in [
        format!("http://127.0.0.1:{port}/image.png"),
        format!("http://localhost:{port}/image.png"),
        "http://10.0.0.1/x.png".to_owned(),
        "http://169.254.169.254/latest/meta-data/".to_owned(),
        format!("http://[::1]:{port}/image.png"),
        "http://[::ffff:127.0.0.1]/x.png".to_owned(),
        "file:///etc/passwd".to_owned(),
    ] {
        let err = library
            .upload(UploadSource::Url(url.clone()), &named("r.png"))
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Forbidden, "{url}: {err}");
        assert!(err.message().contains("refusing"), "{url}: {err}");
    }
    // A watermark or layer URL in a render goes through the same guard: refused, it is
    // skipped with a warning that says why (as any layer that cannot be read).
    let base = library
        .upload(UploadSource::Bytes(png(5, 64, 64)), &named("base.png"))
        .unwrap();
    let mark = format!("http://127.0.0.1:{port}/image.png");
    let layers = format!(r#"[{{"url": "http://[::1]:{port}/image.png"}}]"#);
    for query in [format!("mark={mark}"), format!("layers={layers}")] {
        let rendered = library.render(&base.id, &query, None).unwrap();
        let warnings = &rendered.output.warnings;
        assert!(
            warnings
                .iter()
                .any(|w| w.message.contains("is not a public address")),
            "{query}: {warnings:?}"
        );
    }

    // Allowed explicitly (an intranet), the same server works, within the size limit.
    let mut open = backend.config.clone();
    open.fetch = FetchPolicy {
        allow_private: true,
        ..Default::default()
    };
    let intranet = Library::open(open.clone()).unwrap();
    let marked = intranet
        .render(&base.id, &format!("mark={mark}&format=png"), None)
        .unwrap();
    let plain = intranet.render(&base.id, "format=png", None).unwrap();
    assert!(
        marked.output.data != plain.output.data,
        "the watermark was drawn"
    );
    let record = intranet
        .upload(
            UploadSource::Url(format!("http://localhost:{port}/image.png")),
            &named("r.png"),
        )
        .unwrap();
    assert_eq!(record.size, data.len() as u64);
    let err = intranet
        .upload(
            UploadSource::Url(format!("http://127.0.0.1:{port}/missing.png")),
            &named("r.png"),
        )
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::UpstreamError, "{err}");
    let mut small = open.clone();
    small.limits.max_input_bytes = 16;
    let err = Library::open(small)
        .unwrap()
        .fetch(&format!("http://127.0.0.1:{port}/image.png"))
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::LimitExceeded, "{err}");

    // Every redirect is checked again: the hop leaves the allowed hosts and is refused.
    let mut listed = open;
    listed.fetch.allowed_hosts = vec!["localhost".into()];
    let err = Library::open(listed)
        .unwrap()
        .fetch(&format!("http://localhost:{port}/hop"))
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Forbidden, "{err}");
    assert!(err.message().contains("127.0.0.1:1/private"), "{err}");

    // A host trusted to be private (an intranet origin) does not open the rest: its redirect
    // to a private address is refused, and so is a name that resolves to loopback.
    let mut trusted = backend.config.clone();
    trusted.fetch.private_hosts = vec!["localhost".into()];
    let trusted = Library::open(trusted).unwrap();
    assert_eq!(
        trusted
            .fetch(&format!("http://localhost:{port}/image.png"))
            .unwrap(),
        data
    );
    let err = trusted
        .fetch(&format!("http://localhost:{port}/hop"))
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Forbidden, "{err}");
    assert!(
        err.message().contains("127.0.0.1 is not a public address"),
        "{err}"
    );
    let err = trusted
        .fetch(&format!("http://localhost.localdomain:{port}/image.png"))
        .unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::Forbidden | ErrorKind::UpstreamError),
        "{err}"
    );
}

/// An origin server on 127.0.0.1: `/photos/cat.png` answers `body`; `/vhost.png` answers it
/// only to requests whose Host header is `images.example.com`, as a virtual host would.
fn serve_origin(body: Vec<u8>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut request = [0u8; 4096];
            let n = stream.read(&mut request).unwrap_or(0);
            let text = String::from_utf8_lossy(&request[..n]).to_ascii_lowercase();
            let line = text.lines().next().unwrap_or_default().to_owned();
            let found = line.starts_with("get /photos/cat.png ")
                || (line.starts_with("get /vhost.png ")
                    && text.contains("\r\nhost: images.example.com\r\n"));
            let response = if found {
                let mut r = format!("HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len()).into_bytes();
                r.extend_from_slice(&body);
                r
            } else {
                b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_vec()
            };
            let _ = stream.write_all(&response);
        }
    });
    port
}

#[test]
fn renders_read_remote_origins_only_where_configured() {
    let backend = local_sqlite();
    let data = png(9, 40, 30);
    let port = serve_origin(data.clone());
    let mut config = backend.config.clone();
    config.fetch.private_hosts = vec!["localhost".into(), "images.invalid".into()];

    // Off by default: every origin parameter is refused, naming itself.
    let closed = Library::open(config.clone()).unwrap();
    for query in [
        format!("source_url=http://localhost:{port}/photos/cat.png"),
        format!("origin=localhost:{port}"),
        "bucket=photos".to_owned(),
    ] {
        let err = closed.render("/photos/cat.png", &query, None).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Forbidden, "{query}: {err}");
        assert!(err.message().contains("disabled"), "{err}");
    }
    assert_eq!(
        closed
            .render("/photos/cat.png", "width=4", None)
            .unwrap_err()
            .kind(),
        ErrorKind::NotFound
    );

    config.origins.dynamic = picsmith::storage::ORIGIN_PARAMS
        .iter()
        .map(|p| p.to_string())
        .collect();
    let open = Library::open(config.clone()).unwrap();
    let rendered = open
        .render(
            "/",
            &format!("source_url=http://localhost:{port}/photos/cat.png&width=20"),
            None,
        )
        .unwrap();
    assert_eq!((rendered.output.width, rendered.output.height), (20, 15));
    let rendered = open
        .render(
            "/photos/cat.png",
            &format!("origin=localhost:{port}&width=8"),
            None,
        )
        .unwrap();
    assert_eq!(rendered.output.width, 8);

    // host_header reaches the virtual host; without it the origin answers 404.
    let query = format!("origin=http://localhost:{port}&host_header=images.example.com&width=10");
    assert_eq!(
        open.render("/vhost.png", &query, None)
            .unwrap()
            .output
            .width,
        10
    );
    let err = open
        .render(
            "/vhost.png",
            &format!("origin=http://localhost:{port}"),
            None,
        )
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::UpstreamError, "{err}");

    // resolve connects a name that has no DNS to the given address, which is vetted like a
    // resolved one: a trusted host may be private, any other may not.
    let query = format!(
        "origin=http://images.invalid:{port}&resolve=images.invalid:{port}:127.0.0.1&width=6"
    );
    assert_eq!(
        open.render("/photos/cat.png", &query, None)
            .unwrap()
            .output
            .width,
        6
    );
    let query =
        format!("origin=http://other.invalid:{port}&resolve=other.invalid:{port}:127.0.0.1");
    let err = open.render("/photos/cat.png", &query, None).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Forbidden, "{err}");
    let query = format!("origin=http://images.invalid:{port}&resolve=images.invalid:1:127.0.0.1");
    let err = open.render("/photos/cat.png", &query, None).unwrap_err();
    assert_eq!(err.parameter(), Some("resolve"), "{err}");

    // The default origin serves the paths the library does not hold, through the derived
    // cache; a stored image at the same path wins.
    config.origins.default_origin = Some(format!("http://localhost:{port}"));
    let proxy = Library::open(config).unwrap();
    let first = proxy.render("/photos/cat.png", "width=5", None).unwrap();
    let second = proxy.render("/photos/cat.png", "width=5", None).unwrap();
    assert_eq!((first.cache_hit, second.cache_hit), (false, true));
    assert_eq!(first.output.data, second.output.data);
    let err = proxy
        .render("/photos/dog.png", "width=5", None)
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::UpstreamError, "{err}");
    let stored = proxy
        .upload(
            UploadSource::Bytes(png(10, 64, 64)),
            &UploadOptions {
                path: Some("/photos/cat.png".into()),
                ..Default::default()
            },
        )
        .unwrap();
    let local = proxy.render(&stored.path, "width=5", None).unwrap();
    assert_eq!((local.output.width, local.output.height), (5, 5));
}

#[test]
fn bucket_reads_only_allowed_buckets() {
    let (Ok(endpoint), Ok(root)) = (
        std::env::var("PICSMITH_TEST_S3_ENDPOINT"),
        std::env::var("PICSMITH_TEST_S3_ROOT"),
    ) else {
        eprintln!("SKIPPED: bucket= (run under tests/servers/with-servers.sh, as make test does)");
        return;
    };
    // s3s-fs serves ROOT/BUCKET/KEY: a file placed there is an object.
    let bucket = format!("origin{}", token()).to_lowercase();
    let folder = PathBuf::from(&root).join(&bucket).join("2024");
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(folder.join("cat.png"), png(11, 30, 20)).unwrap();

    let backend = local_sqlite();
    let mut config = backend.config.clone();
    config.origins.dynamic = vec!["bucket".into(), "region".into()];
    config.origins.allowed_buckets = vec![bucket.clone()];
    config.origins.bucket_endpoint = Some(endpoint);
    let library = Library::open(config).unwrap();
    let rendered = library
        .render(
            "/2024/cat.png",
            &format!("bucket={bucket}&region=us-east-1&width=15"),
            None,
        )
        .unwrap();
    assert_eq!((rendered.output.width, rendered.output.height), (15, 10));
    let err = library
        .render("/2024/missing.png", &format!("bucket={bucket}"), None)
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    let err = library
        .render("/2024/cat.png", "bucket=someone-elses", None)
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Forbidden, "{err}");
    let err = library
        .render(
            "/2024/cat.png",
            &format!("bucket={bucket}&origin=localhost"),
            None,
        )
        .unwrap_err();
    assert_eq!(
        err.kind(),
        ErrorKind::Forbidden,
        "origin is not enabled: {err}"
    );
}

/// The id of an `ACK <id>` line; the test harness may print its own text before it.
fn acknowledged_id(line: &str) -> Option<String> {
    line.split_once("ACK ").map(|(_, id)| id.trim().to_owned())
}

/// The child side of the crash test: uploads until killed, printing each acknowledged id.
#[test]
#[ignore = "run by crash_mid_upload_loses_nothing as a separate process"]
fn crash_writer_child() {
    let Ok(settings) = std::env::var("PICSMITH_CRASH_WRITER") else {
        return;
    };
    let (storage, catalog) = settings.split_once('\n').unwrap();
    let config = LibraryConfig {
        storage: storage.into(),
        catalog: catalog.into(),
        cache_dir: None,
        ..Default::default()
    };
    let library = Library::open(config).unwrap();
    let mut out = std::io::stdout().lock();
    for i in 0.. {
        // Large enough that the kill often lands inside a blob write or a commit.
        let record = library
            .upload(UploadSource::Bytes(png(i, 700, 500)), &named("crash.png"))
            .unwrap();
        writeln!(out, "ACK {}", record.id).unwrap();
        out.flush().unwrap();
    }
}

#[test]
fn crash_mid_upload_loses_nothing() {
    for backend in backends() {
        let b = backend.name;
        let config = &backend.config;
        let mut acknowledged = Vec::new();
        for round in 0..3 {
            let mut child = Command::new(std::env::current_exe().unwrap())
                .args([
                    "--exact",
                    "storage::crash_writer_child",
                    "--ignored",
                    "--nocapture",
                    "--test-threads=1",
                ])
                .env(
                    "PICSMITH_CRASH_WRITER",
                    format!("{}\n{}", config.storage, config.catalog),
                )
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
            let wanted = 3 + round * 2;
            while acknowledged.len() < wanted * (round + 1) {
                let line = lines.next().expect("the writer keeps writing").unwrap();
                if let Some(id) = acknowledged_id(&line) {
                    acknowledged.push(id);
                }
            }
            // Varying the moment of the kill within an upload.
            std::thread::sleep(Duration::from_millis(7 * round as u64 + 3));
            child.kill().unwrap();
            child.wait().unwrap();
            // Acknowledged after our count but before the kill: read to the end.
            for line in lines.map_while(|l| l.ok()) {
                if let Some(id) = acknowledged_id(&line) {
                    acknowledged.push(id);
                }
            }
        }
        let library = Library::open(config.clone()).unwrap();
        for id in &acknowledged {
            let (bytes, record) = library
                .read(id)
                .unwrap_or_else(|e| panic!("{b}: acknowledged {id} lost: {e}"));
            assert_eq!(bytes.len() as u64, record.unwrap().size, "{b}");
        }
        assert_eq!(
            library.verify().unwrap(),
            Vec::<String>::new(),
            "{b}: a record points at a missing blob"
        );
        let report = library.gc(Duration::ZERO).unwrap();
        eprintln!(
            "{b}: {} acknowledged uploads kept; gc removed {} orphan blob(s)",
            acknowledged.len(),
            report.removed_blobs
        );
        assert!(
            report.removed_blobs <= 3,
            "{b}: at most one orphan per kill"
        );
        assert!(library.verify().unwrap().is_empty(), "{b}");
        // A kill after the commit but before the acknowledgement keeps an unacknowledged image.
        let stored = library.usage(None).unwrap().num_images as usize;

        assert!(
            (acknowledged.len()..=acknowledged.len() + 3).contains(&stored),
            "{b}: {stored}"
        );
    }
}

#[test]
fn concurrent_uploads_tag_edits_and_deletes_agree() {
    for backend in backends() {
        let b = backend.name;
        let library = Arc::new(Library::open(backend.config.clone()).unwrap());
        let seed: Vec<String> = (0..10)
            .map(|i| {
                library
                    .upload(
                        UploadSource::Bytes(png(1000 + i, 16, 16)),
                        &named("seed.png"),
                    )
                    .unwrap()
                    .id
            })
            .collect();
        let seed = Arc::new(seed);
        let threads: Vec<_> = (0..8u32)
            .map(|t| {
                let library = Arc::clone(&library);
                let seed = Arc::clone(&seed);
                std::thread::spawn(move || {
                    let mut many = 0;
                    let mut deleted = 0;
                    for i in 0..12u32 {
                        match (t + i) % 4 {
                            0 | 1 => {
                                // Half of the uploads overwrite one shared path.
                                let options = if i % 2 == 0 {
                                    UploadOptions {
                                        path: Some("/shared/same.png".into()),
                                        ..Default::default()
                                    }
                                } else {
                                    many += 1;
                                    named("many.png")
                                };
                                library
                                    .upload(UploadSource::Bytes(png(t * 100 + i, 16, 16)), &options)
                                    .unwrap();
                            }
                            2 => {
                                let id = &seed[((t + i) % 10) as usize];
                                match library.add_tags(std::slice::from_ref(id), &[format!("t{t}")])
                                {
                                    Ok(_) => {}
                                    Err(e) => assert_eq!(e.kind(), ErrorKind::NotFound, "{e}"),
                                }
                            }
                            _ => {
                                let id = &seed[((t * 3 + i) % 10) as usize];
                                match library.delete(std::slice::from_ref(id)) {
                                    Ok(_) => deleted += 1,
                                    Err(e) => assert_eq!(e.kind(), ErrorKind::NotFound, "{e}"),
                                }
                            }
                        }
                    }
                    (many, deleted)
                })
            })
            .collect();
        let (mut uploaded_many, mut deleted) = (0, 0);
        for thread in threads {
            let (m, d) = thread.join().unwrap();
            uploaded_many += m;
            deleted += d;
        }
        assert!(
            library.verify().unwrap().is_empty(),
            "{b}: every record has its blob"
        );
        assert_eq!(
            library.gc(Duration::ZERO).unwrap().removed_blobs,
            0,
            "{b}: every blob has its record"
        );
        let page = library
            .list(&ListQuery {
                limit: 1000,
                ..Default::default()
            })
            .unwrap();
        let shared = page
            .images
            .iter()
            .filter(|r| r.path == "/shared/same.png")
            .count();
        assert_eq!(shared, 1, "{b}: one record per path");
        let many = page
            .images
            .iter()
            .filter(|r| r.name.starts_with("many_"))
            .count();
        assert_eq!(many, uploaded_many, "{b}");
        assert_eq!(page.total as usize, 10 - deleted + uploaded_many + 1, "{b}");
        for record in &page.images {
            assert!(record.tags.len() <= 8, "{b}");
        }
    }
}

#[test]
fn files_placed_under_originals_are_served_by_path() {
    let backend = local_sqlite();
    let library = Library::open(backend.config.clone()).unwrap();
    let originals = backend.dir.join("data/originals/hand");
    std::fs::create_dir_all(&originals).unwrap();
    std::fs::write(originals.join("placed.png"), png(9, 30, 20)).unwrap();
    let rendered = library
        .render("/hand/placed.png", "width=15", None)
        .unwrap();
    assert_eq!((rendered.output.width, rendered.output.height), (15, 10));
    assert!(rendered.record.is_none());
    assert!(
        library
            .render("/hand/placed.png", "width=15", None)
            .unwrap()
            .cache_hit
    );
    for bad in [
        "/hand/../hand/placed.png",
        "/../catalog.db",
        "hand//placed.png",
        "",
    ] {
        assert_eq!(
            library.render(bad, "w=5", None).unwrap_err().kind(),
            ErrorKind::NotFound,
            "{bad}"
        );
    }
    // A link among the originals may point inside the store, never out of it.
    std::fs::write(backend.dir.join("secret.png"), png(12, 8, 8)).unwrap();
    std::os::unix::fs::symlink(backend.dir.join("secret.png"), originals.join("out.png")).unwrap();
    std::os::unix::fs::symlink(originals.join("placed.png"), originals.join("in.png")).unwrap();
    std::os::unix::fs::symlink(
        backend.dir.join("data/catalog.db"),
        originals.join("db.png"),
    )
    .unwrap();
    assert_eq!(
        library.read("/hand/db.png").unwrap_err().kind(),
        ErrorKind::NotFound,
        "the catalog beside the originals stays unreachable"
    );
    let err = library.render("/hand/out.png", "w=5", None).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    assert_eq!(
        library.read("/hand/out.png").unwrap_err().kind(),
        ErrorKind::NotFound
    );
    assert!(library.render("/hand/in.png", "w=5", None).is_ok());
    let _ = common::corpus_dir();
}

#[test]
fn accounts_own_their_paths_and_coordinates_are_checked() {
    for backend in backends() {
        let b = backend.name;
        let library = Library::open(backend.config.clone()).unwrap();
        let at_path = |account: &str| UploadOptions {
            path: Some("/shared/x.png".into()),
            account: Some(account.into()),
            ..Default::default()
        };
        let first = library
            .upload(UploadSource::Bytes(png(1, 20, 10)), &at_path("a"))
            .unwrap();
        let err = library
            .upload(UploadSource::Bytes(png(2, 20, 10)), &at_path("b"))
            .unwrap_err();
        assert_eq!(
            (err.kind(), err.parameter()),
            (ErrorKind::Forbidden, Some("path")),
            "{b}"
        );
        let (bytes, _) = library.read(&first.id).unwrap();
        assert_eq!(bytes, png(1, 20, 10), "{b}: the owner's image is untouched");
        assert!(
            library
                .upload(UploadSource::Bytes(png(3, 20, 10)), &at_path("a"))
                .is_ok()
        );

        let with_area = |area: &str| UploadOptions {
            file_name: Some("area.png".into()),
            custom_coordinates: Some(area.into()),
            ..Default::default()
        };
        let record = library
            .upload(
                UploadSource::Bytes(png(4, 20, 10)),
                &with_area(" 2, 3,10,5"),
            )
            .unwrap();
        assert_eq!(
            record.custom_coordinates.as_deref(),
            Some("2,3,10,5"),
            "{b}"
        );
        for bad in ["a,b", "1,2,3", "0,0,0,5", "15,0,10,5", "-1,0,2,2"] {
            let err = library
                .upload(UploadSource::Bytes(png(5, 20, 10)), &with_area(bad))
                .unwrap_err();
            assert_eq!(err.parameter(), Some("customCoordinates"), "{b}: {bad}");
        }
        assert_eq!(library.gc(Duration::ZERO).unwrap().removed_blobs, 0, "{b}");
    }
}
