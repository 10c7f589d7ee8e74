//! Starting and stopping a sandbox: the router, the listener (plain HTTP or
//! TLS with a certificate made at start), the accept loop.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware;
use axum::routing::{get, post};
use base64::Engine as _;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use merchant_contract::PlatformSigner;
use merchant_contract::routes as r;
use rusqlite::Connection;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

use crate::config::{SANDBOX_PLATFORM_KEY_PKCS8, SandboxConfig};
use crate::error::ApiError;
use crate::state::AppState;
use crate::{auth, control, devices, domain, events, guard, respond, schema, speaker};

/// Why a sandbox could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("platform key rejected: {0}")]
    Key(merchant_contract::EnvelopeError),
    #[error("database: {0}")]
    Database(String),
    #[error("listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("TLS certificate: {0}")]
    Tls(String),
}

impl From<ApiError> for StartError {
    fn from(e: ApiError) -> Self {
        StartError::Database(e.to_string())
    }
}

/// The most header lines a request may carry (more: 431 from hyper).
pub const MAX_HEADERS: usize = 64;
/// The largest request head (request line and headers), in bytes (larger:
/// 431 from hyper). Also the connection's read buffer.
pub const MAX_HEAD_BYTES: usize = 64 * 1024;

/// The platform simulator.
pub struct Sandbox;

/// A sandbox serving on its address until [`RunningSandbox::shutdown`] (or
/// until dropped).
pub struct RunningSandbox {
    /// `http://127.0.0.1:PORT` or `https://127.0.0.1:PORT`.
    pub base_url: String,
    pub addr: SocketAddr,
    /// base64(SHA-256(SPKI DER)) of the TLS certificate, when serving TLS.
    pub pin: Option<String>,
    /// The TLS certificate (DER), when serving TLS, for clients that trust
    /// it as a root instead of pinning it.
    pub certificate_der: Option<Vec<u8>>,
    /// The platform public key clients verify with: base64 of PKCS#1 DER.
    pub platform_public_key: String,
    /// The appid requests must carry.
    pub app_id: String,
    state: AppState,
    stop: watch::Sender<bool>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl std::fmt::Debug for RunningSandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningSandbox")
            .field("base_url", &self.base_url)
            .field("pin", &self.pin)
            .field("app_id", &self.app_id)
            .finish_non_exhaustive()
    }
}

impl RunningSandbox {
    /// The sandbox's state (its database, clock, `emit`), for in-process
    /// tests and the demo.
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// The latest SMS code sent to `phone` for `purpose` (`sign_in`,
    /// `activation`), as `GET /sandbox/sms` would show it.
    pub fn latest_sms_code(&self, phone: &str, purpose: &str) -> Option<String> {
        self.state
            .db(|c| {
                Ok(c.query_row(
                    "SELECT code FROM sms WHERE phone = ?1 AND purpose = ?2 ORDER BY sms_id DESC LIMIT 1",
                    rusqlite::params![phone, purpose],
                    |r| r.get(0),
                )
                .ok())
            })
            .ok()
            .flatten()
    }

    /// Stops accepting, closes every connection (event streams included) and
    /// waits for the server task to end.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for RunningSandbox {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// The router: every route of the contract, the domain's, the guard and the
/// signing layer.
pub(crate) fn router(state: AppState) -> Router {
    router_with(state, Router::new())
}

/// The router with `extra` routes merged before the guard (for tests).
fn router_with(state: AppState, extra: Router<AppState>) -> Router {
    let infrastructure: Router<AppState> = Router::new()
        .route(r::SMS_CODE.path, post(auth::sms_code))
        .route(r::SIGN_IN.path, post(auth::sign_in))
        .route(r::REFRESH.path, post(auth::refresh))
        .route(r::SIGN_OUT.path, post(auth::sign_out))
        .route(
            r::REGISTER_DEVICE.path,
            post(devices::register).get(devices::list),
        )
        .route(
            r::REMOVE_DEVICE.path,
            axum::routing::delete(devices::remove),
        )
        .route(
            r::REGISTER_PUSH_TOKEN.path,
            post(devices::register_push_token).get(devices::list_push_tokens),
        )
        .route(
            r::UNREGISTER_PUSH_TOKEN.path,
            axum::routing::delete(devices::unregister_push_token).put(devices::rotate_push_token),
        )
        .route(r::EVENTS.path, get(events::stream))
        .route(
            r::SPEAKER.path,
            get(speaker::get)
                .put(speaker::claim)
                .delete(speaker::release),
        )
        .route(r::SANDBOX_INFO.path, get(control::info))
        .route(r::SANDBOX_SMS.path, get(control::sms))
        .route(r::SANDBOX_OUTBOX.path, get(control::outbox))
        .route(r::SANDBOX_EMIT.path, post(control::emit))
        .route(r::SANDBOX_DISCONNECT.path, post(control::disconnect))
        .route(r::SANDBOX_RAW_FRAME.path, post(control::raw_frame))
        .route(
            r::SANDBOX_CLOCK.path,
            get(control::clock).post(control::advance_clock),
        )
        .route(r::SANDBOX_MERCHANTS.path, get(control::merchants));
    infrastructure
        .merge(domain::routes())
        .merge(extra)
        .route_layer(middleware::from_fn_with_state(state.clone(), guard::guard))
        .fallback(|| async { ApiError::new(&merchant_contract::codes::ROUTE_NOT_FOUND) })
        .method_not_allowed_fallback(|| async {
            ApiError::new(&merchant_contract::codes::ROUTE_METHOD_NOT_ALLOWED)
        })
        // The guard enforces each route's own limit.
        .layer(DefaultBodyLimit::disable())
        .layer(middleware::from_fn_with_state(
            state.clone(),
            respond::respond,
        ))
        .with_state(state)
}

struct Tls {
    acceptor: TlsAcceptor,
    pin: String,
    der: Vec<u8>,
}

fn make_tls() -> Result<Tls, StartError> {
    use rcgen::PublicKeyData as _;
    let names = vec![
        "127.0.0.1".to_owned(),
        "localhost".to_owned(),
        "10.0.2.2".to_owned(),
        "::1".to_owned(),
    ];
    let certified =
        rcgen::generate_simple_self_signed(names).map_err(|e| StartError::Tls(e.to_string()))?;
    let spki = certified.signing_key.subject_public_key_info();
    let pin = base64::engine::general_purpose::STANDARD
        .encode(ring::digest::digest(&ring::digest::SHA256, &spki));
    let cert_der = certified.cert.der().to_vec();
    let key_der = rustls_pki_types::PrivateKeyDer::Pkcs8(
        rustls_pki_types::PrivatePkcs8KeyDer::from(certified.signing_key.serialize_der()),
    );
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| StartError::Tls(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(
            vec![rustls_pki_types::CertificateDer::from(cert_der.clone())],
            key_der,
        )
        .map_err(|e| StartError::Tls(e.to_string()))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Tls {
        acceptor: TlsAcceptor::from(Arc::new(config)),
        pin,
        der: cert_der,
    })
}

impl Sandbox {
    /// Starts a sandbox: a fresh database seeded from `config.seed`, the
    /// router, and the listener on `config.addr` (TLS when `config.tls`).
    /// Must be called inside a tokio runtime; the server runs on it.
    pub async fn start(config: SandboxConfig) -> Result<RunningSandbox, StartError> {
        let key = config
            .platform_key_pkcs8
            .as_deref()
            .unwrap_or(SANDBOX_PLATFORM_KEY_PKCS8);
        let signer = PlatformSigner::from_pkcs8(key).map_err(StartError::Key)?;
        let conn = match &config.db_path {
            Some(p) => Connection::open(p),
            None => Connection::open_in_memory(),
        }
        .map_err(|e| StartError::Database(e.to_string()))?;
        schema::migrate(&conn)?;
        let tls = if config.tls { Some(make_tls()?) } else { None };
        let addr = config.addr;
        let state = AppState::new(config, conn, signer);
        state.set_tls_pin(tls.as_ref().map(|t| t.pin.clone()));
        schema::seed(&state)?;

        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| StartError::Listen { addr, source })?;
        let local = listener
            .local_addr()
            .map_err(|source| StartError::Listen { addr, source })?;
        let scheme = if tls.is_some() { "https" } else { "http" };
        let host = match local {
            SocketAddr::V6(a) => format!("[{}]", a.ip()),
            SocketAddr::V4(a) => a.ip().to_string(),
        };
        let base_url = format!("{scheme}://{host}:{}", local.port());
        let (stop, stopped) = watch::channel(false);
        let pin = tls.as_ref().map(|t| t.pin.clone());
        let certificate_der = tls.as_ref().map(|t| t.der.clone());
        let app = router(state.clone());
        let header_read_timeout = state.config().header_read_timeout;
        let task = tokio::spawn(serve(
            listener,
            app,
            tls.map(|t| t.acceptor),
            header_read_timeout,
            stopped,
        ));
        tracing::info!(%base_url, "sandbox serving");
        Ok(RunningSandbox {
            base_url,
            addr: local,
            pin,
            certificate_der,
            platform_public_key: state.signer().public_key_base64(),
            app_id: state.app_id().to_owned(),
            state,
            stop,
            task: Some(task),
        })
    }
}

async fn serve(
    listener: TcpListener,
    app: Router,
    tls: Option<TlsAcceptor>,
    header_read_timeout: std::time::Duration,
    mut stopped: watch::Receiver<bool>,
) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = stopped.changed() => break,
            // Reap finished connections as we go.
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            accepted = listener.accept() => {
                let Ok((tcp, _peer)) = accepted else { continue };
                let _ = tcp.set_nodelay(true);
                let app = app.clone();
                let tls = tls.clone();
                connections.spawn(async move {
                    let service = TowerToHyperService::new(app);
                    let mut builder =
                        hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
                    // Broken framing (too many or too large headers, a bad
                    // Content-Length, an unknown version) is answered by
                    // hyper itself, before the router: unsigned, no JSON
                    // (docs/platform-api.md, "Errors").
                    builder
                        .http1()
                        .timer(TokioTimer::new())
                        .header_read_timeout(header_read_timeout)
                        .max_headers(MAX_HEADERS)
                        .max_buf_size(MAX_HEAD_BYTES);
                    match tls {
                        Some(acceptor) => {
                            // A peer that never finishes its handshake is dropped.
                            let handshake = tokio::time::timeout(
                                std::time::Duration::from_secs(10),
                                acceptor.accept(tcp),
                            );
                            let Ok(Ok(stream)) = handshake.await else { return };
                            let _ = builder.serve_connection(TokioIo::new(stream), service).await;
                        }
                        None => {
                            let _ = builder.serve_connection(TokioIo::new(tcp), service).await;
                        }
                    }
                });
            }
        }
    }
    // Closing: drop every connection, event streams included.
    connections.abort_all();
    while connections.join_next().await.is_some() {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt as _;

    #[tokio::test]
    async fn a_route_outside_the_contract_is_never_served() {
        let signer = PlatformSigner::from_pkcs8(SANDBOX_PLATFORM_KEY_PKCS8).unwrap();
        let conn = Connection::open_in_memory().unwrap();
        schema::migrate(&conn).unwrap();
        let state = AppState::new(SandboxConfig::default(), conn, signer);
        let extra = Router::new().route("/v1/uncontracted", get(|| async { "served" }));
        let app = router_with(state, extra);
        let res = app
            .oneshot(
                Request::get("/v1/uncontracted")
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), 500);
        assert!(res.headers().contains_key("lklapi-signature"));
        let body = axum::body::to_bytes(res.into_body(), 1 << 16)
            .await
            .unwrap();
        let e: merchant_contract::wire::ErrorBody = serde_json::from_slice(&body).unwrap();
        assert_eq!(e.code, "server.internal");
    }
}
