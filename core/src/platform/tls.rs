//! TLS to the platform: rustls on the ring provider, with the server's
//! certificate pinned by the SHA-256 of its SubjectPublicKeyInfo.
//!
//! The pin replaces the web PKI: the platform's key is the trust anchor, as in
//! OkHttp's `CertificatePinner` used alone. The verifier accepts a server
//! whose end-entity certificate carries the pinned public key (whatever its
//! issuer, name or dates), and it still checks the TLS handshake signatures
//! with the ring provider's algorithms, so only the holder of the pinned
//! private key can complete the handshake.
//!
//! A mismatch is reported inside rustls as `InvalidCertificate(Other(PinMismatch))`;
//! [`find_tls_failure`] digs it out of the error chain of a request so the
//! caller gets [`super::PIN_MISMATCH`] and never retries it.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ring::digest::{SHA256, digest};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::{CertificateError, DigitallySignedStruct, OtherError, SignatureScheme};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

use crate::error::{Error, Result};

/// A pin: the SHA-256 of a certificate's DER SubjectPublicKeyInfo.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct SpkiPin([u8; 32]);

impl std::fmt::Debug for SpkiPin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SpkiPin({})", self.to_base64())
    }
}

impl SpkiPin {
    /// Parses a pin written as base64 of the 32-byte digest (padding
    /// optional), optionally prefixed `sha256/` as OkHttp writes it.
    pub fn parse(text: &str) -> Result<Self> {
        let t = text.trim();
        let t = t.strip_prefix("sha256/").unwrap_or(t);
        if t.is_empty() || t.len() > 64 {
            return Err(Error::new(&super::PIN_INVALID).detail("pin length"));
        }
        let bytes = B64
            .decode(t)
            .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(t))
            .map_err(|_| Error::new(&super::PIN_INVALID).detail("pin is not base64"))?;
        let arr: [u8; 32] = bytes
            .try_into()
            .map_err(|_| Error::new(&super::PIN_INVALID).detail("pin is not 32 bytes"))?;
        Ok(SpkiPin(arr))
    }

    /// The pin of a DER SubjectPublicKeyInfo.
    pub fn of_spki(spki_der: &[u8]) -> Self {
        let d = digest(&SHA256, spki_der);
        let mut arr = [0u8; 32];
        arr.copy_from_slice(d.as_ref());
        SpkiPin(arr)
    }

    /// The pin of a DER certificate, or `None` when it cannot be parsed.
    pub fn of_certificate(cert_der: &[u8]) -> Option<Self> {
        let cert = CertificateDer::from(cert_der);
        let ee = webpki::EndEntityCert::try_from(&cert).ok()?;
        Some(Self::of_spki(ee.subject_public_key_info().as_ref()))
    }

    pub fn to_base64(&self) -> String {
        B64.encode(self.0)
    }
}

/// The reason a pinned handshake was refused, carried through rustls.
#[derive(Debug)]
pub(crate) enum PinFailure {
    /// The certificate's key is not the pinned one.
    Mismatch,
    /// The certificate could not be parsed to find its key.
    Unparseable,
}

impl std::fmt::Display for PinFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PinFailure::Mismatch => f.write_str("server key does not match the pin"),
            PinFailure::Unparseable => f.write_str("server certificate cannot be parsed"),
        }
    }
}

impl std::error::Error for PinFailure {}

/// Accepts exactly the servers whose end-entity key has one of the pins.
#[derive(Debug)]
pub struct PinVerifier {
    pins: Vec<SpkiPin>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl PinVerifier {
    pub fn new(pins: Vec<SpkiPin>, provider: &CryptoProvider) -> Self {
        PinVerifier {
            pins,
            algorithms: provider.signature_verification_algorithms,
        }
    }
}

fn refuse(why: PinFailure) -> rustls::Error {
    rustls::Error::InvalidCertificate(CertificateError::Other(OtherError(Arc::new(why))))
}

impl ServerCertVerifier for PinVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        let Some(pin) = SpkiPin::of_certificate(end_entity.as_ref()) else {
            return Err(refuse(PinFailure::Unparseable));
        };
        // Constant-time comparison is not needed: the pin is public.
        if self.pins.contains(&pin) {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(refuse(PinFailure::Mismatch))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// A rustls client config on the ring provider that trusts only `pins`.
pub fn pinned_client_config(pins: Vec<SpkiPin>) -> Result<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = Arc::new(PinVerifier::new(pins, &provider));
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::new(&super::TLS_FAILED).detail(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// What went wrong in TLS, if the error chain of a request holds a rustls error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TlsFailure {
    PinMismatch,
    Other,
}

/// Walks an error chain (looking inside `io::Error` too, whose `source()`
/// skips its payload) for a rustls error.
pub(crate) fn find_tls_failure(err: &(dyn std::error::Error + 'static)) -> Option<TlsFailure> {
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(err);
    let mut depth = 0;
    while let Some(e) = next {
        depth += 1;
        if depth > 32 {
            break;
        }
        if let Some(r) = e.downcast_ref::<rustls::Error>() {
            return Some(classify_rustls(r));
        }
        if let Some(io) = e.downcast_ref::<std::io::Error>()
            && let Some(inner) = io.get_ref()
        {
            let inner: &(dyn std::error::Error + 'static) = inner;
            if let Some(found) = find_tls_failure(inner) {
                return Some(found);
            }
        }
        next = e.source();
    }
    None
}

fn classify_rustls(e: &rustls::Error) -> TlsFailure {
    if let rustls::Error::InvalidCertificate(CertificateError::Other(OtherError(inner))) = e
        && inner.downcast_ref::<PinFailure>().is_some()
    {
        return TlsFailure::PinMismatch;
    }
    TlsFailure::Other
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pin_parses_base64_with_and_without_padding_and_prefix() {
        let pin = SpkiPin::of_spki(b"spki");
        let text = pin.to_base64();
        assert_eq!(SpkiPin::parse(&text).unwrap(), pin);
        assert_eq!(SpkiPin::parse(&format!("sha256/{text}")).unwrap(), pin);
        assert_eq!(SpkiPin::parse(text.trim_end_matches('=')).unwrap(), pin);
    }

    #[test]
    fn bad_pins_are_refused_with_a_code() {
        for bad in ["", "not base64!", "AAAA", &"A".repeat(500)] {
            let e = SpkiPin::parse(bad).unwrap_err();
            assert!(e.is(&super::super::PIN_INVALID), "{bad:?} gave {e}");
        }
    }

    #[test]
    fn garbage_certificate_has_no_pin() {
        assert!(SpkiPin::of_certificate(b"\x30\x03\x02\x01\x01").is_none());
        assert!(SpkiPin::of_certificate(&[]).is_none());
    }

    #[test]
    fn pin_failure_is_found_inside_an_io_error() {
        let rustls_err = refuse(PinFailure::Mismatch);
        let io = std::io::Error::new(std::io::ErrorKind::InvalidData, rustls_err);
        assert_eq!(find_tls_failure(&io), Some(TlsFailure::PinMismatch));
        let other =
            std::io::Error::new(std::io::ErrorKind::InvalidData, rustls::Error::DecryptError);
        assert_eq!(find_tls_failure(&other), Some(TlsFailure::Other));
        let plain = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        assert_eq!(find_tls_failure(&plain), None);
    }
}
