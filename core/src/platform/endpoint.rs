//! The platform's base URL and the rule for plain http: only to loopback.

use std::net::{Ipv4Addr, Ipv6Addr};

use reqwest::Url;

use crate::error::{Error, Result};

/// A checked platform base URL: `https://` anywhere (with a pin), or
/// `http://` to a loopback host (127.0.0.0/8, ::1, localhost).
///
/// Plain http to the name `localhost` goes to `127.0.0.1`: the name is
/// rewritten here rather than resolved, because a resolver (a hosts file, a
/// hostile network's DNS) could give any address for it, and plain http
/// has no pin to catch that.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    base: Url,
    tls: bool,
}

impl Endpoint {
    pub fn parse(text: &str) -> Result<Self> {
        if text.len() > 2048 {
            return Err(Error::new(&super::URL_INVALID).detail("url too long"));
        }
        let url = Url::parse(text.trim())
            .map_err(|e| Error::new(&super::URL_INVALID).detail(e.to_string()))?;
        if !url.username().is_empty() || url.password().is_some() {
            return Err(Error::new(&super::URL_INVALID).detail("credentials in url"));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(Error::new(&super::URL_INVALID).detail("query or fragment in url"));
        }
        let tls = match url.scheme() {
            "https" => true,
            "http" => false,
            other => {
                return Err(Error::new(&super::URL_INVALID).detail(format!("scheme {other}")));
            }
        };
        let Some(host) = url.host_str().filter(|h| !h.is_empty()) else {
            return Err(Error::new(&super::URL_INVALID).detail("no host"));
        };
        if !tls && !is_loopback_host(host) {
            return Err(Error::new(&super::INSECURE_URL).detail("http to a non-loopback host"));
        }
        let mut base = url.clone();
        if !tls && is_localhost_name(host) {
            base.set_host(Some("127.0.0.1"))
                .map_err(|e| Error::new(&super::URL_INVALID).detail(e.to_string()))?;
        }
        // A base path always ends with '/', so joining "v1/..." keeps it.
        if !base.path().ends_with('/') {
            let p = format!("{}/", base.path());
            base.set_path(&p);
        }
        Ok(Endpoint { base, tls })
    }

    pub fn is_tls(&self) -> bool {
        self.tls
    }

    /// The URL of `path` ("/v1/auth/sign-in", with an optional query) under the base.
    pub fn url(&self, path: &str) -> Result<Url> {
        self.base
            .join(path.trim_start_matches('/'))
            .map_err(|e| Error::new(&super::URL_INVALID).detail(e.to_string()))
    }

    pub fn base(&self) -> &Url {
        &self.base
    }
}

/// `host` as the URL parser gives it: a domain, dotted IPv4, or `[IPv6]`.
fn is_loopback_host(host: &str) -> bool {
    let bare = host.strip_prefix('[').and_then(|h| h.strip_suffix(']'));
    if let Some(v6) = bare {
        return v6.parse::<Ipv6Addr>().is_ok_and(|a| is_loopback_v6(&a));
    }
    if let Ok(v4) = host.parse::<Ipv4Addr>() {
        return is_loopback_v4(&v4);
    }
    is_localhost_name(host)
}

/// The name `localhost` (any case, with or without the root dot).
fn is_localhost_name(host: &str) -> bool {
    host.strip_suffix('.')
        .unwrap_or(host)
        .eq_ignore_ascii_case("localhost")
}

fn is_loopback_v4(a: &Ipv4Addr) -> bool {
    a.octets()[0] == 127
}

fn is_loopback_v6(a: &Ipv6Addr) -> bool {
    // ::1, and the IPv4-mapped form of 127.0.0.0/8.
    *a == Ipv6Addr::LOCALHOST || a.to_ipv4_mapped().is_some_and(|v4| is_loopback_v4(&v4))
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use super::*;

    /// Whether `ip` is a loopback address by the rule URLs are checked with.
    fn is_loopback_ip(ip: IpAddr) -> bool {
        match ip {
            IpAddr::V4(a) => is_loopback_v4(&a),
            IpAddr::V6(a) => is_loopback_v6(&a),
        }
    }

    #[test]
    fn http_is_accepted_for_loopback_hosts_only() {
        for ok in [
            "http://127.0.0.1:8700",
            "http://127.8.9.10/",
            "http://localhost:1",
            "http://LOCALHOST.",
            "http://[::1]:8700/",
            "http://[::ffff:127.0.0.1]/",
            "https://10.0.2.2:8700",
            "https://platform.example.com/api",
        ] {
            assert!(Endpoint::parse(ok).is_ok(), "{ok} should be accepted");
        }
        for refused in [
            "http://10.0.2.2:8700",
            "http://128.0.0.1",
            "http://localhost.example.com",
            "http://127.0.0.1.nip.io",
            "http://[::2]",
            "http://[::ffff:10.0.0.1]",
            "http://platform.example.com",
        ] {
            let e = Endpoint::parse(refused).unwrap_err();
            assert!(e.is(&super::super::INSECURE_URL), "{refused}: {e}");
        }
    }

    #[test]
    fn plain_http_to_localhost_goes_to_127_0_0_1_without_resolving() {
        for (given, base) in [
            ("http://localhost:8700", "http://127.0.0.1:8700/"),
            ("http://LOCALHOST./api", "http://127.0.0.1/api/"),
            ("http://LocalHost:1/", "http://127.0.0.1:1/"),
        ] {
            let e = Endpoint::parse(given).unwrap();
            assert_eq!(e.base().as_str(), base, "{given}");
            assert_eq!(e.base().host_str(), Some("127.0.0.1"));
        }
        let e = Endpoint::parse("http://localhost:8700").unwrap();
        assert_eq!(
            e.url("/v1/devices").unwrap().as_str(),
            "http://127.0.0.1:8700/v1/devices"
        );
        // https keeps the name: the pin guards wherever it resolves to.
        let e = Endpoint::parse("https://localhost:8700").unwrap();
        assert_eq!(e.base().host_str(), Some("localhost"));
        // Names that only contain it are no loopback host.
        for refused in [
            "http://localhost..",
            "http://x.localhost",
            "http://localhostx",
        ] {
            assert!(Endpoint::parse(refused).is_err(), "{refused}");
        }
    }

    #[tokio::test]
    async fn a_client_for_http_localhost_connects_to_127_0_0_1() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let endpoint = Endpoint::parse(&format!("http://localhost:{port}")).unwrap();
        let client = super::super::transport::http_client(
            &endpoint,
            Vec::new(),
            super::super::Timeouts::default(),
        )
        .unwrap();
        let request = tokio::spawn(client.get(endpoint.url("/x").unwrap()).send());
        let (mut tcp, peer) =
            tokio::time::timeout(std::time::Duration::from_secs(20), listener.accept())
                .await
                .expect("the client connects")
                .unwrap();
        assert!(is_loopback_ip(peer.ip()));
        let mut buf = vec![0u8; 1024];
        let n = tokio::io::AsyncReadExt::read(&mut tcp, &mut buf)
            .await
            .unwrap();
        let head = String::from_utf8_lossy(&buf[..n]).to_ascii_lowercase();
        assert!(head.contains(&format!("host: 127.0.0.1:{port}")), "{head}");
        request.abort();
    }

    #[test]
    fn malformed_urls_get_their_code() {
        for bad in [
            "",
            "not a url",
            "ftp://127.0.0.1",
            "https://user:pw@host",
            "https://host/?a=b",
            "https://host/#x",
            "file:///etc/passwd",
        ] {
            let e = Endpoint::parse(bad).unwrap_err();
            assert!(e.is(&super::super::URL_INVALID), "{bad:?}: {e}");
        }
        let long = format!("https://h/{}", "a".repeat(5000));
        assert!(
            Endpoint::parse(&long)
                .unwrap_err()
                .is(&super::super::URL_INVALID)
        );
    }

    #[test]
    fn paths_join_under_the_base_path() {
        let e = Endpoint::parse("https://h.example/api").unwrap();
        assert_eq!(
            e.url("/v1/auth/sign-in").unwrap().as_str(),
            "https://h.example/api/v1/auth/sign-in"
        );
        let e = Endpoint::parse("http://127.0.0.1:9").unwrap();
        assert_eq!(
            e.url("/v1/events?x=1").unwrap().as_str(),
            "http://127.0.0.1:9/v1/events?x=1"
        );
        assert!(!e.is_tls());
    }
}
