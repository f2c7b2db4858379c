//! Remote origins of a render: the Imagizer parameters `source_url`, `origin`, `host_header`,
//! `resolve`, `bucket` and `region`, and the configured default origin that serves the paths
//! the library does not hold.
//!
//! Every dynamic parameter is off until the configuration names it (Imagizer's "Allow Dynamic
//! Origin"), `bucket` reads only the buckets listed, and every HTTP fetch goes through the one
//! guarded [`Fetcher`](crate::Fetcher).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use object_store::aws::AmazonS3Builder;
use object_store::{ObjectStore, ObjectStoreExt};

use crate::error::{Error, ErrorKind, Result};
use crate::fetch::{FetchRequest, ResolveOverride};
use crate::{Pipeline, Value};

/// The parameters that choose a remote source, in the order they are documented.
pub const ORIGIN_PARAMS: [&str; 6] = [
    "source_url",
    "origin",
    "host_header",
    "resolve",
    "bucket",
    "region",
];

/// How renders may reach remote sources.
///
/// ```
/// use picsmith::storage::OriginConfig;
/// let config = OriginConfig { dynamic: vec!["source_url".into()], ..Default::default() };
/// assert!(config.default_origin.is_none());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OriginConfig {
    /// Base URL that paths the library does not hold are fetched from
    /// (`https://images.example.com` serves `/a/b.jpg` from `https://images.example.com/a/b.jpg`).
    pub default_origin: Option<String>,
    /// The parameters of [`ORIGIN_PARAMS`] a query may use. Empty (the default): none, so a
    /// public server cannot be made to fetch from anywhere a client names.
    pub dynamic: Vec<String>,
    /// Buckets `bucket=` may read. Empty: none.
    pub allowed_buckets: Vec<String>,
    /// S3-compatible endpoint for `bucket=` reads (`http://127.0.0.1:9000`); AWS when absent.
    /// Credentials come from `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY`.
    pub bucket_endpoint: Option<String>,
    /// Region when the query gives none. Default `us-east-1`.
    pub bucket_region: Option<String>,
}

/// Where the bytes of one render come from when the library does not hold them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RemoteSource {
    Http(FetchRequest),
    Bucket {
        bucket: String,
        region: String,
        key: String,
    },
}

fn text(pipeline: &Pipeline, name: &str) -> Option<String> {
    match pipeline.get(name)? {
        Value::Text(text) => Some(text.clone()),
        _ => None,
    }
}

fn needs(param: &str, needed: &str) -> Error {
    Error::for_parameter(
        ErrorKind::InvalidParameter,
        param,
        format!("parameter '{param}' needs '{needed}'"),
    )
}

/// `origin=example.com` means `http://example.com`, as Imagizer's examples write it.
fn origin_base(origin: &str) -> String {
    let origin = origin.trim_end_matches('/');
    if origin.contains("://") {
        origin.to_owned()
    } else {
        format!("http://{origin}")
    }
}

/// The path of a reference joined to an origin: `/a b.jpg` → `BASE/a%20b.jpg`.
fn join(base: &str, path: &str) -> String {
    let encoded: String = path
        .trim_start_matches('/')
        .split('/')
        .map(|segment| {
            form_urlencoded::byte_serialize(segment.as_bytes())
                .collect::<String>()
                .replace('+', "%20")
        })
        .collect::<Vec<_>>()
        .join("/");
    format!("{}/{encoded}", origin_base(base))
}

impl OriginConfig {
    fn check_enabled(&self, pipeline: &Pipeline) -> Result<()> {
        for name in ORIGIN_PARAMS {
            if pipeline.get(name).is_some() && !self.dynamic.iter().any(|d| d == name) {
                return Err(Error::for_parameter(
                    ErrorKind::Forbidden,
                    name,
                    format!(
                        "parameter '{name}' is disabled on this server (enable it with \
                         PICSMITH_DYNAMIC_ORIGINS)"
                    ),
                ));
            }
        }
        Ok(())
    }

    /// The remote source a query names, if it names one. `reference` is the request's path,
    /// which `origin` and `bucket` read below their base.
    pub(crate) fn requested(
        &self,
        reference: &str,
        pipeline: &Pipeline,
    ) -> Result<Option<RemoteSource>> {
        self.check_enabled(pipeline)?;
        let source_url = text(pipeline, "source_url");
        let origin = text(pipeline, "origin");
        let bucket = text(pipeline, "bucket");
        let given = [&source_url, &origin, &bucket]
            .iter()
            .filter(|v| v.is_some())
            .count();
        if given > 1 {
            return Err(Error::for_parameter(
                ErrorKind::InvalidParameter,
                "origin",
                "give one of source_url, origin and bucket",
            ));
        }
        let host_header = text(pipeline, "host_header");
        let resolve = text(pipeline, "resolve");
        if resolve.is_some() && origin.is_none() && source_url.is_none() {
            return Err(needs("resolve", "origin"));
        }
        if host_header.is_some() && origin.is_none() && source_url.is_none() {
            return Err(needs("host_header", "origin"));
        }
        let region = text(pipeline, "region");
        if region.is_some() && bucket.is_none() {
            return Err(needs("region", "bucket"));
        }
        let url = match (source_url, origin) {
            (Some(url), _) => Some(url),
            (None, Some(origin)) => Some(join(&origin, reference)),
            (None, None) => None,
        };
        if let Some(url) = url {
            let mut request = FetchRequest::new(url);
            request.host_header = host_header;
            request.resolve = resolve.as_deref().map(ResolveOverride::parse).transpose()?;
            return Ok(Some(RemoteSource::Http(request)));
        }
        let Some(bucket) = bucket else {
            return Ok(None);
        };
        if !self.allowed_buckets.iter().any(|b| b == &bucket) {
            return Err(Error::for_parameter(
                ErrorKind::Forbidden,
                "bucket",
                format!(
                    "bucket '{bucket}' is not in the allowed buckets (PICSMITH_ALLOWED_BUCKETS)"
                ),
            ));
        }
        let key = reference.trim_start_matches('/').to_owned();
        if key.is_empty()
            || key
                .split('/')
                .any(|s| s.is_empty() || s == "." || s == "..")
        {
            return Err(Error::for_parameter(
                ErrorKind::InvalidParameter,
                "bucket",
                format!("'{reference}' is not an object key"),
            ));
        }
        let region = region
            .or_else(|| self.bucket_region.clone())
            .unwrap_or_else(|| "us-east-1".to_owned());
        Ok(Some(RemoteSource::Bucket {
            bucket,
            region,
            key,
        }))
    }

    /// The default origin's URL for a path the library does not hold.
    pub(crate) fn fallback(&self, reference: &str) -> Option<RemoteSource> {
        let base = self.default_origin.as_deref()?;
        Some(RemoteSource::Http(FetchRequest::new(join(base, reference))))
    }
}

/// Clients of the buckets `bucket=` reads, one per bucket and region, made on first use.
#[derive(Debug, Default)]
pub(crate) struct BucketClients {
    clients: Mutex<HashMap<(String, String), Arc<dyn ObjectStore>>>,
}

impl BucketClients {
    fn client(
        &self,
        config: &OriginConfig,
        bucket: &str,
        region: &str,
    ) -> Result<Arc<dyn ObjectStore>> {
        let mut clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        let key = (bucket.to_owned(), region.to_owned());
        if let Some(client) = clients.get(&key) {
            return Ok(client.clone());
        }
        let mut builder = AmazonS3Builder::from_env()
            .with_bucket_name(bucket)
            .with_region(region);
        if let Some(endpoint) = &config.bucket_endpoint {
            builder = builder
                .with_endpoint(endpoint)
                .with_virtual_hosted_style_request(false)
                .with_allow_http(endpoint.starts_with("http://"));
        }
        let client: Arc<dyn ObjectStore> = Arc::new(builder.build().map_err(|e| {
            Error::for_parameter(
                ErrorKind::InvalidParameter,
                "bucket",
                format!("bucket '{bucket}': {e}"),
            )
        })?);
        clients.insert(key, client.clone());
        Ok(client)
    }

    /// The object's bytes, refused before the download when it is over `max_bytes`.
    pub(crate) async fn read(
        &self,
        config: &OriginConfig,
        bucket: &str,
        region: &str,
        key: &str,
        max_bytes: u64,
    ) -> Result<Vec<u8>> {
        let client = self.client(config, bucket, region)?;
        let path = object_store::path::Path::from(key);
        let failed = |e: object_store::Error| match e {
            object_store::Error::NotFound { .. } => Error::new(
                ErrorKind::NotFound,
                format!("no object '{key}' in bucket '{bucket}'"),
            ),
            other => Error::for_parameter(
                ErrorKind::UpstreamError,
                "bucket",
                format!("reading '{key}' from bucket '{bucket}': {other}"),
            ),
        };
        let meta = client.head(&path).await.map_err(failed)?;
        if meta.size > max_bytes {
            return Err(Error::for_parameter(
                ErrorKind::LimitExceeded,
                "bucket",
                format!(
                    "'{key}' in bucket '{bucket}' is {} bytes; the input limit is {max_bytes}",
                    meta.size
                ),
            ));
        }
        let bytes = client
            .get(&path)
            .await
            .map_err(failed)?
            .bytes()
            .await
            .map_err(failed)?;
        if bytes.len() as u64 > max_bytes {
            return Err(Error::for_parameter(
                ErrorKind::LimitExceeded,
                "bucket",
                format!(
                    "'{key}' in bucket '{bucket}' is over the input limit of {max_bytes} bytes"
                ),
            ));
        }
        Ok(bytes.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_enabled() -> OriginConfig {
        OriginConfig {
            dynamic: ORIGIN_PARAMS.iter().map(|s| s.to_string()).collect(),
            allowed_buckets: vec!["photos".into()],
            ..Default::default()
        }
    }

    fn requested(
        config: &OriginConfig,
        reference: &str,
        query: &str,
    ) -> Result<Option<RemoteSource>> {
        config.requested(reference, &Pipeline::from_query(query).unwrap())
    }

    #[test]
    fn parameters_are_off_until_enabled() {
        let err = requested(&OriginConfig::default(), "/a.jpg", "origin=example.com").unwrap_err();
        assert_eq!(
            (err.kind(), err.parameter()),
            (ErrorKind::Forbidden, Some("origin"))
        );
        assert_eq!(
            requested(&OriginConfig::default(), "/a.jpg", "width=10").unwrap(),
            None
        );
    }

    #[test]
    fn origin_joins_the_path_and_carries_the_overrides() {
        let source = requested(
            &all_enabled(),
            "/photos/a b.jpg",
            "origin=example.com&host_header=images.example.com&resolve=example.com:80:93.184.215.14",
        )
        .unwrap()
        .unwrap();
        let RemoteSource::Http(request) = source else {
            panic!("{source:?}")
        };
        assert_eq!(request.url, "http://example.com/photos/a%20b.jpg");
        assert_eq!(request.host_header.as_deref(), Some("images.example.com"));
        assert_eq!(request.resolve.unwrap().port, 80);
    }

    #[test]
    fn combinations_are_checked() {
        let config = all_enabled();
        for (query, parameter) in [
            ("resolve=a.com:80:1.2.3.4", "resolve"),
            ("host_header=a.com", "host_header"),
            ("region=us-west-1", "region"),
            ("origin=a.com&bucket=photos", "origin"),
            ("origin=a.com&resolve=a.com:80", "resolve"),
        ] {
            let err = requested(&config, "/a.jpg", query).unwrap_err();
            assert_eq!(err.parameter(), Some(parameter), "{query}");
        }
        let err = requested(&config, "/a.jpg", "bucket=other").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Forbidden);
        let err = requested(&config, "/../etc/passwd", "bucket=photos").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidParameter);
        let source = requested(&config, "/2024/a.jpg", "bucket=photos&region=eu-west-1").unwrap();
        assert_eq!(
            source,
            Some(RemoteSource::Bucket {
                bucket: "photos".into(),
                region: "eu-west-1".into(),
                key: "2024/a.jpg".into()
            })
        );
    }
}
