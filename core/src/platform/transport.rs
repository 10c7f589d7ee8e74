//! The HTTP transport: a reqwest client on our own rustls config (ring
//! provider, pinned), no proxies, no redirects, connect and request
//! timeouts; and the classification of its failures into codes, with the one
//! question the retry loop asks: may this be tried again?

use std::time::Duration;

use crate::error::{Error, Result};

use super::Endpoint;
use super::tls::{SpkiPin, TlsFailure, find_tls_failure, pinned_client_config};

/// Connect and whole-request time limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    pub connect: Duration,
    pub request: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(10),
            request: Duration::from_secs(30),
        }
    }
}

/// Builds the HTTP client for `endpoint`. An `https://` endpoint needs at
/// least one pin; an `http://` one (loopback only, checked by [`Endpoint`])
/// still gets a TLS config that trusts nothing, so a redirect or a mistake
/// can never reach an unpinned server.
pub fn http_client(
    endpoint: &Endpoint,
    pins: Vec<SpkiPin>,
    timeouts: Timeouts,
) -> Result<reqwest::Client> {
    if endpoint.is_tls() && pins.is_empty() {
        return Err(Error::new(&super::PIN_MISSING));
    }
    let tls = pinned_client_config(pins)?;
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(timeouts.connect)
        .timeout(timeouts.request)
        .user_agent(concat!("merchant-core/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| Error::new(&super::TLS_FAILED).detail(e.to_string()))
}

/// Whether a failure may be retried (for an idempotent call): only plain
/// network trouble. Pin, TLS, signature, auth and platform refusals never are.
pub fn is_transient(e: &Error) -> bool {
    e.is(&super::UNREACHABLE) || e.is(&super::TIMEOUT)
}

/// The code of a failed send. TLS trouble (a pin mismatch above all) is
/// looked for first, because reqwest reports it as a connect error too.
///
/// The URL is taken off the error before its text goes into the detail: a
/// query may hold personal data (`?phone=`), and the detail is logged.
pub fn classify(e: reqwest::Error) -> Error {
    let e = &e.without_url();
    match find_tls_failure(e) {
        Some(TlsFailure::PinMismatch) => {
            return Error::new(&super::PIN_MISMATCH).detail("server key is not the pinned one");
        }
        Some(TlsFailure::Other) => {
            return Error::new(&super::TLS_FAILED).detail(chain(e));
        }
        None => {}
    }
    if e.is_timeout() {
        Error::new(&super::TIMEOUT).detail(chain(e))
    } else if e.is_connect() || e.is_request() || e.is_body() {
        Error::new(&super::UNREACHABLE).detail(chain(e))
    } else if e.is_builder() {
        Error::new(&super::URL_INVALID).detail(chain(e))
    } else {
        Error::new(&super::UNREACHABLE).detail(chain(e))
    }
}

/// The messages of an error chain, for the log. Give it a reqwest error
/// only after `without_url()`: its message holds the whole URL.
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut next = e.source();
    let mut depth = 0;
    while let Some(s) = next {
        depth += 1;
        if depth > 8 {
            break;
        }
        out.push_str(": ");
        out.push_str(&s.to_string());
        next = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::PublicKeyData as _;
    use std::sync::Arc;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    /// A TLS server on loopback with a fresh rcgen certificate; answers every
    /// connection with one fixed HTTP/1.1 response. Returns its URL and the
    /// pin of its key.
    async fn tls_server() -> (String, SpkiPin, tokio::task::JoinHandle<()>) {
        let (url, pin, task, _) = counted_tls_server().await;
        (url, pin, task)
    }

    /// [`tls_server`], also counting the TCP connections it accepted.
    async fn counted_tls_server() -> (
        String,
        SpkiPin,
        tokio::task::JoinHandle<()>,
        Arc<std::sync::atomic::AtomicUsize>,
    ) {
        let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = accepted.clone();
        let ck = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap();
        let pin = SpkiPin::of_spki(&ck.signing_key.subject_public_key_info());
        let cert = ck.cert.der().clone();
        let key = rustls_pki_types::PrivateKeyDer::Pkcs8(ck.signing_key.serialize_der().into());
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let mut buf = vec![0u8; 4096];
                    let _ = tls.read(&mut buf).await;
                    let body = "pinned ok";
                    let resp = format!(
                        "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = tls.write_all(resp.as_bytes()).await;
                    let _ = tls.shutdown().await;
                });
            }
        });
        (
            format!("https://127.0.0.1:{}", addr.port()),
            pin,
            task,
            accepted,
        )
    }

    fn client_for(url: &str, pin: SpkiPin) -> (reqwest::Client, Endpoint) {
        let endpoint = Endpoint::parse(url).unwrap();
        let client = http_client(&endpoint, vec![pin], Timeouts::default()).unwrap();
        (client, endpoint)
    }

    /// `GET /x` of the endpoint.
    async fn get_x(
        client: &reqwest::Client,
        endpoint: &Endpoint,
    ) -> reqwest::Result<reqwest::Response> {
        client.get(endpoint.url("/x").unwrap()).send().await
    }

    #[tokio::test]
    async fn the_right_pin_connects() {
        let (url, pin, _server) = tls_server().await;
        let (client, endpoint) = client_for(&url, pin);
        let resp = get_x(&client, &endpoint).await.unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.text().await.unwrap(), "pinned ok");
    }

    #[tokio::test]
    async fn another_key_is_refused_as_a_pin_mismatch_and_not_transient() {
        let (url, _pin, _server) = tls_server().await;
        let other = rcgen::KeyPair::generate().unwrap();
        let wrong = SpkiPin::of_spki(&other.subject_public_key_info());
        let (client, endpoint) = client_for(&url, wrong);
        let e = classify(get_x(&client, &endpoint).await.unwrap_err());
        assert!(e.is(&super::super::PIN_MISMATCH), "got {e}");
        assert!(!is_transient(&e));
    }

    #[tokio::test]
    async fn the_platform_client_never_retries_a_pin_mismatch() {
        let (url, _pin, _server, accepted) = counted_tls_server().await;
        let wrong = SpkiPin::of_spki(
            &rcgen::KeyPair::generate()
                .unwrap()
                .subject_public_key_info(),
        );
        let key = merchant_contract::PlatformSigner::from_pkcs8(include_bytes!(
            "../../../sandbox/keys/platform-sandbox.pk8"
        ))
        .unwrap()
        .public_key_base64();
        let config =
            super::super::PlatformConfig::new(&url, Some(&wrong.to_base64()), &key, "OP1").unwrap();
        let client = super::super::PlatformClient::new(config).unwrap();
        let device = merchant_contract::DeviceKey::generate().unwrap().0;
        // A GET: idempotent, so only the nature of the failure stops a retry.
        let e = client
            .send(&device, &super::super::Call::get("/v1/devices"))
            .await
            .unwrap_err();
        assert!(e.is(&super::super::PIN_MISMATCH), "got {e}");
        assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 1);
        let m: crate::MerchantError = e.into();
        assert!(
            matches!(m, crate::MerchantError::Auth { ref code, .. } if code == "platform.pin_mismatch")
        );
    }

    #[tokio::test]
    async fn https_without_a_pin_is_refused_at_build() {
        let endpoint = Endpoint::parse("https://127.0.0.1:1").unwrap();
        let e = http_client(&endpoint, vec![], Timeouts::default()).unwrap_err();
        assert!(e.is(&super::super::PIN_MISSING));
    }

    #[tokio::test]
    async fn a_closed_port_is_unreachable_and_transient() {
        // Bind then drop to find a port nobody listens on.
        let port = {
            let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
            l.local_addr().unwrap().port()
        };
        let endpoint = Endpoint::parse(&format!("http://127.0.0.1:{port}")).unwrap();
        let client = http_client(&endpoint, vec![], Timeouts::default()).unwrap();
        let e = classify(get_x(&client, &endpoint).await.unwrap_err());
        assert!(e.is(&super::super::UNREACHABLE), "got {e}");
        assert!(is_transient(&e));
    }
}
