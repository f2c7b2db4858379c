//! The one HTTP fetcher for remote sources: upload from URL, `http(s)` watermark and layer
//! locations, and remote origins.
//!
//! Safe by default against server-side request forgery: the host is resolved by the fetcher
//! itself, every address it resolves to must be public (no loopback, private, link-local,
//! unique-local, multicast, unspecified, documentation or IPv4-mapped forms of them), the
//! connection goes to the addresses that were vetted (so a second, different DNS answer cannot
//! be slipped in between check and connect), and each redirect is checked the same way. Proxies
//! from the environment are ignored, because a proxy would do its own resolving.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use crate::error::{Error, ErrorKind, Result};

/// Redirects followed before giving up.
const MAX_REDIRECTS: usize = 5;

/// What the fetcher may reach. The default reaches public http(s) hosts only.
///
/// ```
/// let policy = picsmith::FetchPolicy { allowed_hosts: vec!["images.example.com".into()], ..Default::default() };
/// assert!(!policy.allow_private);
/// ```
#[derive(Debug, Clone)]
pub struct FetchPolicy {
    /// Reach loopback and private addresses too (intranets, tests). Off by default.
    pub allow_private: bool,
    /// When not empty, only these hosts (exact names, or `*.example.com` for subdomains).
    pub allowed_hosts: Vec<String>,
    /// Hosts (same patterns) that may resolve to private addresses while every other host
    /// stays public-only: an origin on the intranet without opening the whole intranet.
    pub private_hosts: Vec<String>,
    /// Whole-request timeout, connection included. Default 20 s.
    pub timeout: Duration,
    /// Connection timeout. Default 5 s.
    pub connect_timeout: Duration,
}

impl Default for FetchPolicy {
    fn default() -> Self {
        FetchPolicy {
            allow_private: false,
            allowed_hosts: Vec::new(),
            private_hosts: Vec::new(),
            timeout: Duration::from_secs(20),
            connect_timeout: Duration::from_secs(5),
        }
    }
}

/// Whether an address is on the public internet: what a server may fetch on a user's behalf.
///
/// ```
/// use picsmith::fetch::is_public_address;
/// assert!(!is_public_address("169.254.169.254".parse().unwrap()));
/// assert!(!is_public_address("::ffff:127.0.0.1".parse().unwrap()));
/// assert!(is_public_address("93.184.215.14".parse().unwrap()));
/// ```
pub fn is_public_address(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public_v4(v4);
            }
            let s = v6.segments();
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00 // unique local fc00::/7
                || (s[0] & 0xffc0) == 0xfe80 // link local fe80::/10
                || (s[0] & 0xffc0) == 0xfec0 // site local (deprecated) fec0::/10
                || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
                || (s[0] == 0x0064 && s[1] == 0xff9b) // NAT64 maps IPv4, possibly private ones
                || (s[0] == 0 && s[1] == 0 && s[2] == 0 && s[3] == 0 && s[4] == 0 && s[5] == 0))
            // IPv4-compatible ::a.b.c.d
        }
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_multicast()
        || ip.is_broadcast()
        || ip.is_unspecified()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // carrier-grade NAT
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || a >= 240) // reserved
}

fn refused(url: &str, why: impl std::fmt::Display) -> Error {
    Error::for_parameter(
        ErrorKind::Forbidden,
        "url",
        format!("refusing to fetch {url}: {why}"),
    )
}

/// Resolves names for reqwest and keeps only the addresses the policy allows.
struct VettingResolver {
    policy: Arc<FetchPolicy>,
}

impl Resolve for VettingResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        let allow_private = self.policy.may_reach_private(&host);
        Box::pin(async move {
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let vetted: Vec<SocketAddr> = addrs
                .iter()
                .copied()
                .filter(|a| allow_private || is_public_address(a.ip()))
                .collect();
            if vetted.is_empty() {
                let shown: Vec<String> = addrs.iter().map(|a| a.ip().to_string()).collect();
                return Err(Box::new(AddressRefused(format!(
                    "{host} resolves to {}, which is not a public address",
                    if shown.is_empty() {
                        "nothing".to_owned()
                    } else {
                        shown.join(", ")
                    }
                )))
                    as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(vetted.into_iter()) as Addrs)
        })
    }
}

/// The resolver's refusal, recognised again when reqwest hands it back inside its own error.
#[derive(Debug)]
struct AddressRefused(String);

impl std::fmt::Display for AddressRefused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for AddressRefused {}

/// Fetches remote images under a [`FetchPolicy`]. Cheap to clone; one per process is enough.
#[derive(Clone)]
pub struct Fetcher {
    client: reqwest::Client,
    policy: Arc<FetchPolicy>,
}

impl std::fmt::Debug for Fetcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fetcher")
            .field("policy", &self.policy)
            .finish()
    }
}

impl FetchPolicy {
    /// Whether `host` may resolve to (or be) a private address.
    fn may_reach_private(&self, host: &str) -> bool {
        self.allow_private || host_allowed(&self.private_hosts, &host.to_ascii_lowercase())
    }
}

/// One request of [`Fetcher::fetch_request`]: a URL and the origin overrides Imagizer allows.
///
/// ```
/// let request = picsmith::FetchRequest::new("https://images.example.com/a.jpg")
///     .with_host_header("cdn.example.com");
/// assert_eq!(request.host_header.as_deref(), Some("cdn.example.com"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchRequest {
    pub url: String,
    /// Sent as the `Host` header of the first request (not of redirects to other hosts).
    pub host_header: Option<String>,
    /// Connect to this address for the URL's host and port instead of resolving it
    /// (`resolve=host:port:address`, as curl's `--resolve`). The address is vetted like a
    /// resolved one.
    pub resolve: Option<ResolveOverride>,
}

/// A `host:port:address` override of name resolution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolveOverride {
    pub host: String,
    pub port: u16,
    pub address: IpAddr,
}

impl ResolveOverride {
    /// Parses `host:port:address` (an IPv6 address in brackets or bare).
    ///
    /// ```
    /// let o = picsmith::fetch::ResolveOverride::parse("www.example.com:80:93.184.215.14").unwrap();
    /// assert_eq!((o.host.as_str(), o.port), ("www.example.com", 80));
    /// ```
    pub fn parse(text: &str) -> Result<ResolveOverride> {
        let bad = |why: &str| {
            Error::for_parameter(
                ErrorKind::InvalidParameter,
                "resolve",
                format!("resolve='{text}': {why}; expected host:port:address"),
            )
        };
        let mut parts = text.splitn(3, ':');
        let (Some(host), Some(port), Some(address)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(bad("missing parts"));
        };
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        if host.is_empty()
            || !host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
        {
            return Err(bad("the host is not a host name"));
        }
        let port = port.parse().map_err(|_| bad("the port is not a number"))?;
        let address = address
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse()
            .map_err(|_| bad("the address is not an IP address"))?;
        Ok(ResolveOverride {
            host,
            port,
            address,
        })
    }
}

impl FetchRequest {
    pub fn new(url: impl Into<String>) -> FetchRequest {
        FetchRequest {
            url: url.into(),
            host_header: None,
            resolve: None,
        }
    }

    pub fn with_host_header(mut self, host: impl Into<String>) -> FetchRequest {
        self.host_header = Some(host.into());
        self
    }

    pub fn with_resolve(mut self, resolve: ResolveOverride) -> FetchRequest {
        self.resolve = Some(resolve);
        self
    }
}

fn client_builder(policy: &Arc<FetchPolicy>) -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .dns_resolver(VettingResolver {
            policy: policy.clone(),
        })
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .timeout(policy.timeout)
        .connect_timeout(policy.connect_timeout)
        .user_agent(concat!("picsmith/", env!("CARGO_PKG_VERSION")))
}

fn build_client(builder: reqwest::ClientBuilder) -> Result<reqwest::Client> {
    builder
        .build()
        .map_err(|e| Error::internal(format!("building the HTTP client: {e}")))
}

impl Fetcher {
    pub fn new(policy: FetchPolicy) -> Result<Fetcher> {
        let policy = Arc::new(policy);
        Ok(Fetcher {
            client: build_client(client_builder(&policy))?,
            policy,
        })
    }

    pub fn policy(&self) -> &FetchPolicy {
        &self.policy
    }

    /// The body at `url`, at most `max_bytes` long, following at most five redirects, each
    /// checked like the first URL.
    pub async fn fetch(&self, url: &str, max_bytes: u64) -> Result<Vec<u8>> {
        self.fetch_request(&FetchRequest::new(url), max_bytes).await
    }

    /// [`Fetcher::fetch`] with a `Host` header or a resolution override.
    pub async fn fetch_request(&self, request: &FetchRequest, max_bytes: u64) -> Result<Vec<u8>> {
        let url = request.url.as_str();
        let mut current = self.check_url(url)?;
        let first_host = current.host_str().map(str::to_owned);
        let host_header = match &request.host_header {
            Some(host) => Some(check_host_header(host)?),
            None => None,
        };
        // A resolution override needs its own client: reqwest takes overrides per client.
        let override_client;
        let client = match &request.resolve {
            Some(resolve) => {
                if current.host_str() != Some(resolve.host.as_str())
                    || current.port_or_known_default() != Some(resolve.port)
                {
                    return Err(Error::for_parameter(
                        ErrorKind::InvalidParameter,
                        "resolve",
                        format!(
                            "resolve names {}:{} but the source is {url}",
                            resolve.host, resolve.port
                        ),
                    ));
                }
                if !(self.policy.may_reach_private(&resolve.host)
                    || is_public_address(resolve.address))
                {
                    return Err(refused(
                        url,
                        format!(
                            "resolve address {} is not a public address",
                            resolve.address
                        ),
                    ));
                }
                override_client = build_client(
                    client_builder(&self.policy)
                        .resolve(&resolve.host, SocketAddr::new(resolve.address, 0)),
                )?;
                &override_client
            }
            None => &self.client,
        };
        for _ in 0..=MAX_REDIRECTS {
            let mut get = client.get(current.clone());
            if let Some(host) = &host_header
                && current.host_str().map(str::to_owned) == first_host
            {
                get = get.header(reqwest::header::HOST, host.as_str());
            }
            let response = get
                .send()
                .await
                .map_err(|e| request_error(current.as_str(), e))?;
            let status = response.status();
            if status.is_redirection() {
                let location = response
                    .headers()
                    .get(reqwest::header::LOCATION)
                    .and_then(|v| v.to_str().ok())
                    .ok_or_else(|| {
                        upstream(current.as_str(), format!("{status} without a Location"))
                    })?;
                let next = current.join(location).map_err(|e| {
                    upstream(current.as_str(), format!("bad redirect '{location}': {e}"))
                })?;
                current = self.check_url(next.as_str())?;
                continue;
            }
            if !status.is_success() {
                return Err(upstream(current.as_str(), format!("answered {status}")));
            }
            if let Some(length) = response.content_length()
                && length > max_bytes
            {
                return Err(too_large(current.as_str(), max_bytes));
            }
            let mut body = Vec::new();
            let mut stream = response.bytes_stream();
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.map_err(|e| request_error(current.as_str(), e))?;
                if body.len() as u64 + chunk.len() as u64 > max_bytes {
                    return Err(too_large(current.as_str(), max_bytes));
                }
                body.extend_from_slice(&chunk);
            }
            return Ok(body);
        }
        Err(upstream(
            url,
            format!("more than {MAX_REDIRECTS} redirects"),
        ))
    }

    /// Scheme, host allow-list and literal addresses: what can be judged before resolving.
    fn check_url(&self, url: &str) -> Result<reqwest::Url> {
        let parsed = reqwest::Url::parse(url).map_err(|e| {
            Error::for_parameter(
                ErrorKind::InvalidParameter,
                "url",
                format!("'{url}' is not a URL: {e}"),
            )
        })?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(refused(url, "only http and https are fetched"));
        }
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(refused(url, "credentials in the URL are not sent"));
        }
        let host = match parsed.host() {
            Some(url::Host::Domain(d)) => d.trim_end_matches('.').to_ascii_lowercase(),
            Some(url::Host::Ipv4(ip)) => {
                self.check_literal(url, IpAddr::V4(ip))?;
                ip.to_string()
            }
            Some(url::Host::Ipv6(ip)) => {
                self.check_literal(url, IpAddr::V6(ip))?;
                ip.to_string()
            }
            None => return Err(refused(url, "no host")),
        };
        if !self.policy.allowed_hosts.is_empty() && !host_allowed(&self.policy.allowed_hosts, &host)
        {
            return Err(refused(
                url,
                format!("host '{host}' is not in the allowed hosts"),
            ));
        }
        Ok(parsed)
    }

    fn check_literal(&self, url: &str, ip: IpAddr) -> Result<()> {
        if self.policy.may_reach_private(&ip.to_string()) || is_public_address(ip) {
            Ok(())
        } else {
            Err(refused(url, format!("{ip} is not a public address")))
        }
    }
}

/// A `Host` header value: a host name or address with an optional port, nothing else.
fn check_host_header(host: &str) -> Result<String> {
    let valid = !host.is_empty()
        && host.len() <= 255
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'));
    if valid {
        Ok(host.to_ascii_lowercase())
    } else {
        Err(Error::for_parameter(
            ErrorKind::InvalidParameter,
            "host_header",
            format!("host_header='{host}' is not a host name"),
        ))
    }
}

fn host_allowed(allowed: &[String], host: &str) -> bool {
    allowed.iter().any(|pattern| {
        let pattern = pattern.to_ascii_lowercase();
        match pattern.strip_prefix("*.") {
            Some(suffix) => host.len() > suffix.len() && host.ends_with(&format!(".{suffix}")),
            None => host == pattern,
        }
    })
}

fn upstream(url: &str, why: impl std::fmt::Display) -> Error {
    Error::for_parameter(
        ErrorKind::UpstreamError,
        "url",
        format!("fetching {url}: {why}"),
    )
}

fn too_large(url: &str, max_bytes: u64) -> Error {
    Error::for_parameter(
        ErrorKind::LimitExceeded,
        "url",
        format!("{url} is larger than the input limit of {max_bytes} bytes"),
    )
}

fn request_error(url: &str, err: reqwest::Error) -> Error {
    // The resolver's refusal arrives wrapped in reqwest's and hyper's connect errors.
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&err);
    while let Some(e) = source {
        if let Some(refusal) = e.downcast_ref::<AddressRefused>() {
            return refused(url, refusal);
        }
        source = e.source();
    }
    if err.is_timeout() {
        return upstream(url, "timed out");
    }
    let mut message = err.to_string();
    let mut source = std::error::Error::source(&err);
    while let Some(e) = source {
        message = format!("{message}: {e}");
        source = e.source();
    }
    upstream(url, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_and_special_addresses_are_not_public() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fe80::1",
            "fd00::1",
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a00:1",
            "::127.0.0.1",
        ] {
            assert!(!is_public_address(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111"] {
            assert!(is_public_address(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn urls_are_checked_before_resolving() {
        let fetcher = Fetcher::new(FetchPolicy::default()).unwrap();
        for url in [
            "http://127.0.0.1/x.jpg",
            "http://[::1]/x",
            "http://10.0.0.1/",
            "http://169.254.169.254/latest",
            "file:///etc/passwd",
            "ftp://example.com/x",
            "http://user:pw@example.com/",
        ] {
            let err = fetcher.check_url(url).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Forbidden, "{url}");
        }
        assert_eq!(
            fetcher.check_url("not a url").unwrap_err().kind(),
            ErrorKind::InvalidParameter
        );
        let listed = Fetcher::new(FetchPolicy {
            allowed_hosts: vec!["*.example.com".into(), "cdn.test".into()],
            ..Default::default()
        })
        .unwrap();
        assert!(listed.check_url("https://img.example.com/a.jpg").is_ok());
        assert!(listed.check_url("https://CDN.test./a.jpg").is_ok());
        assert!(listed.check_url("https://example.com/a.jpg").is_err());
        assert!(
            listed
                .check_url("https://evil.com/?img.example.com")
                .is_err()
        );
    }
}
