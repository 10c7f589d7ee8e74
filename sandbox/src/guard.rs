//! The guard in front of every route, and the extractors handlers use.
//!
//! For each request the guard finds its route in the contract's table
//! (`merchant_contract::routes`), then in this order:
//! 1. reads the body within the route's limit (413 `request.body_too_large`);
//! 2. for signed routes, checks the envelope: the Authorization header, the
//!    appid, the timestamp (±300 s of real time), the device key (known, or
//!    proven by the body's `device_public_key` on sms-code and sign-in), the
//!    signature over the exact body, then the nonce (single use);
//! 3. for session routes, checks `Lklapi-Session`: known for this device,
//!    not revoked, not expired, and (for `Session` routes) the device is
//!    registered for the merchant;
//! 4. for idempotent writes, the `Idempotency-Key`: the same key with the
//!    same request replays the first response (24 h, per merchant), with
//!    another request is 409 `idempotency.key_reused`.

use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, FromRequestParts, MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header, request::Parts};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt as _;
use merchant_contract::codes;
use merchant_contract::envelope::{
    self, Authorization, HEADER_AUTHORIZATION, HEADER_IDEMPOTENCY_KEY, HEADER_SESSION,
};
use merchant_contract::routes::{self, Access, Route};
use merchant_contract::wire::FieldError;
use rusqlite::{Connection, OptionalExtension as _, params};
use serde::de::DeserializeOwned;

use crate::clock::wall_unix;
use crate::error::ApiError;
use crate::respond::RequestId;
use crate::state::AppState;

/// Idempotency keys are kept this long (seconds of the business clock).
pub const IDEMPOTENCY_TTL_SECS: i64 = 24 * 3600;
/// Header set on a replayed response.
pub const HEADER_IDEMPOTENT_REPLAYED: &str = "idempotent-replayed";
/// The longest access token accepted.
const MAX_TOKEN_LEN: usize = 256;

/// The device that signed the request.
#[derive(Debug, Clone)]
pub struct Signer {
    pub serial_no: String,
    /// The public key point.
    pub public_key: Vec<u8>,
    /// Whether the key was known before this request (false: proven by the
    /// body's `device_public_key`).
    pub known: bool,
}

/// The session of the request.
#[derive(Debug, Clone)]
pub struct Auth {
    pub merchant_id: String,
    pub serial_no: String,
    pub session_id: String,
}

/// The authenticated merchant of a session route.
#[derive(Debug, Clone)]
pub struct Merchant(pub String);

impl<S: Send + Sync> FromRequestParts<S> for Signer {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        parts.extensions.get::<Signer>().cloned().ok_or_else(|| {
            ApiError::new(&codes::AUTH_SIGNATURE_MISSING).detail("route is not signed")
        })
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Auth {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        parts.extensions.get::<Auth>().cloned().ok_or_else(|| {
            ApiError::new(&codes::AUTH_SESSION_MISSING).detail("route has no session")
        })
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Merchant {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, s: &S) -> Result<Self, ApiError> {
        Auth::from_request_parts(parts, s)
            .await
            .map(|a| Merchant(a.merchant_id))
    }
}

/// A JSON request body, refused with documented codes.
#[derive(Debug, Clone)]
pub struct JsonBody<T>(pub T);

fn serde_field_error<E: std::fmt::Display>(
    path: &serde_path_to_error::Path,
    inner: &E,
) -> FieldError {
    let path = path.to_string();
    FieldError {
        field: field_named(if path == "." { "" } else { &path }, &inner.to_string()),
        code: codes::REQUEST_FIELD_INVALID.code.to_owned(),
    }
}

/// The field a serde refusal is about: `path` (where the deserializer was,
/// empty at the top) and the field serde names in its message `text`
/// (missing, unknown or repeated). The message may also quote the value,
/// which never leaves this function.
fn field_named(path: &str, text: &str) -> String {
    let named = ["missing field `", "unknown field `", "duplicate field `"]
        .iter()
        .find_map(|p| {
            text.split_once(p)
                .and_then(|(_, rest)| rest.split_once('`'))
        })
        .map(|(name, _)| name.to_owned());
    match named {
        Some(name) if path.is_empty() => name,
        // Some deserializers already step into the field they name.
        Some(name) if path == name || path.ends_with(&format!(".{name}")) => path.to_owned(),
        Some(name) => format!("{path}.{name}"),
        None => path.to_owned(),
    }
}

/// Parses JSON bytes into `T` with the documented refusals.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    match serde_path_to_error::deserialize::<_, T>(de) {
        Ok(v) => Ok(v),
        Err(e) => {
            let inner = e.inner();
            match inner.classify() {
                serde_json::error::Category::Data => {
                    Err(ApiError::fields(vec![serde_field_error(e.path(), inner)])
                        .detail("json data"))
                }
                _ => Err(ApiError::new(&codes::REQUEST_MALFORMED).detail("json syntax")),
            }
        }
    }
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;
    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| {
                v.split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .eq_ignore_ascii_case("application/json")
            })
            .unwrap_or(false);
        if !json {
            return Err(ApiError::new(&codes::REQUEST_UNSUPPORTED_MEDIA_TYPE));
        }
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|_| ApiError::new(&codes::REQUEST_MALFORMED).detail("body unreadable"))?;
        parse_json(&bytes).map(JsonBody)
    }
}

/// The query string as `T`, refused with `request.field_invalid` naming the
/// offending parameter in `fields` (unknown, repeated, missing or of the
/// wrong form); a query that names none is refused without `fields`.
#[derive(Debug, Clone)]
pub struct QueryParams<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for QueryParams<T> {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        query_params(&parts.uri).map(QueryParams)
    }
}

/// Parses the query of `uri` as `T`.
fn query_params<T: DeserializeOwned>(uri: &axum::http::Uri) -> Result<T, ApiError> {
    let rejection = match axum::extract::Query::<T>::try_from_uri(uri) {
        Ok(q) => return Ok(q.0),
        Err(rejection) => rejection,
    };
    // axum reports "…: <path>: <serde message>" (the path only when the
    // deserializer was inside a field); neither part leaves this function
    // but the field's name.
    let text = rejection.body_text();
    let text = text
        .split_once("query string: ")
        .map(|(_, rest)| rest)
        .unwrap_or(&text);
    let (path, message) = match text.split_once(": ") {
        Some((path, message))
            if !path.is_empty()
                && path
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_.[]".contains(c)) =>
        {
            (path, message)
        }
        _ => ("", text),
    };
    let field = field_named(path, message);
    if field.is_empty() {
        return Err(ApiError::new(&codes::REQUEST_FIELD_INVALID).detail("query"));
    }
    Err(ApiError::fields(vec![FieldError {
        field,
        code: codes::REQUEST_FIELD_INVALID.code.to_owned(),
    }])
    .detail("query"))
}

/// The guard (layered with `route_layer`, so it runs for matched routes).
pub(crate) async fn guard(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let request_id = req
        .extensions()
        .get::<RequestId>()
        .map(|r| r.0.clone())
        .unwrap_or_default();
    match guarded(&state, req, next, &request_id).await {
        Ok(res) => res,
        Err(e) => e.into_response(),
    }
}

async fn guarded(
    state: &AppState,
    req: Request,
    next: Next,
    request_id: &str,
) -> Result<Response, ApiError> {
    let pattern = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned())
        .ok_or_else(|| ApiError::internal("no matched path"))?;
    let route = match routes::find_pattern(req.method().as_str(), &pattern) {
        Some(r) => r,
        None if routes::pattern_exists(&pattern) => {
            return Err(ApiError::new(&codes::ROUTE_METHOD_NOT_ALLOWED));
        }
        None => {
            return Err(ApiError::internal(format!(
                "{} {pattern} is served but not in the contract's route table",
                req.method()
            )));
        }
    };
    let (mut parts, body) = req.into_parts();
    let bytes = read_body(&parts.headers, body, route.body_limit).await?;

    if route.access.signed() {
        let signer = verify_envelope(state, route, &parts.headers, &bytes)?;
        if route.access.session() {
            let auth = check_session(state, route, &parts.headers, &signer)?;
            parts.extensions.insert(auth);
        }
        parts.extensions.insert(signer);
    }
    if route.idempotent {
        return idempotent(state, parts, bytes, next, request_id).await;
    }
    Ok(next
        .run(Request::from_parts(parts, Body::from(bytes)))
        .await)
}

async fn read_body(headers: &HeaderMap, body: Body, limit: usize) -> Result<Bytes, ApiError> {
    let too_large = || ApiError::new(&codes::REQUEST_BODY_TOO_LARGE);
    if let Some(len) = headers.get(header::CONTENT_LENGTH) {
        let len: u64 = len
            .to_str()
            .ok()
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| ApiError::new(&codes::REQUEST_MALFORMED).detail("content-length"))?;
        if len > limit as u64 {
            return Err(too_large());
        }
    }
    let mut buf = Vec::new();
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk =
            chunk.map_err(|_| ApiError::new(&codes::REQUEST_MALFORMED).detail("body read"))?;
        if buf.len() + chunk.len() > limit {
            return Err(too_large());
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(Bytes::from(buf))
}

fn verify_envelope(
    state: &AppState,
    route: &Route,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Signer, ApiError> {
    let value = headers
        .get(HEADER_AUTHORIZATION)
        .ok_or_else(|| ApiError::new(&codes::AUTH_SIGNATURE_MISSING))?;
    let value = value
        .to_str()
        .map_err(|_| ApiError::new(&codes::AUTH_HEADER_MALFORMED).detail("not visible ASCII"))?;
    let auth = Authorization::parse(value)?;
    if auth.appid != state.app_id() {
        return Err(ApiError::new(&codes::AUTH_APPID_UNKNOWN));
    }
    let now = wall_unix();
    envelope::check_freshness(auth.timestamp, now)?;

    let known: Option<Vec<u8>> = state.db(|c| {
        Ok(c.query_row(
            "SELECT public_key FROM device_keys WHERE serial_no = ?1",
            params![auth.serial_no],
            |r| r.get(0),
        )
        .optional()?)
    })?;
    let (public_key, was_known) = match known {
        Some(k) => (k, true),
        None if route.access == Access::DeviceOrNew => {
            // Proof of possession: the body names the key, the key's
            // fingerprint is the serial, and the key verifies the signature.
            let v: serde_json::Value = serde_json::from_slice(body)
                .map_err(|_| ApiError::new(&codes::REQUEST_MALFORMED).detail("json syntax"))?;
            let b64 = v
                .get("device_public_key")
                .and_then(|k| k.as_str())
                .ok_or_else(|| ApiError::new(&codes::AUTH_DEVICE_UNKNOWN))?;
            let key = envelope::decode_device_public_key(b64)?;
            if envelope::fingerprint(&key) != auth.serial_no {
                return Err(ApiError::new(&codes::AUTH_DEVICE_KEY_INVALID)
                    .field("device_public_key", codes::AUTH_DEVICE_KEY_INVALID.code));
            }
            (key, false)
        }
        None => return Err(ApiError::new(&codes::AUTH_DEVICE_UNKNOWN)),
    };
    auth.verify(&public_key, body)?;
    // Only a verified signature may spend a nonce slot.
    // Each device has its own quota of live nonces, so that no signer (a
    // fresh key signs for itself on sms-code and sign-in) can fill the
    // shared cache.
    state
        .nonces()
        .check_and_insert_for(&auth.serial_no, &auth.nonce_str, auth.timestamp, now)?;
    Ok(Signer {
        serial_no: auth.serial_no,
        public_key,
        known: was_known,
    })
}

/// SHA-256 hex of a token: tokens are stored only so.
pub(crate) fn token_hash(token: &str) -> String {
    hex::encode(ring::digest::digest(
        &ring::digest::SHA256,
        token.as_bytes(),
    ))
}

/// The session a token stands for.
pub(crate) struct TokenSession {
    pub session_id: String,
    pub merchant_id: String,
    pub serial_no: String,
    pub expires_at: i64,
    /// A refresh token already exchanged for new ones.
    pub replaced: bool,
}

/// The session of the `kind` (`access` or `refresh`) token whose hash is
/// `hash`, presented by `signer`: refused when the token is unknown, was
/// given to another device, or its session is revoked. Expiry is the
/// caller's check.
pub(crate) fn token_session(
    c: &Connection,
    hash: &str,
    kind: &str,
    signer: &Signer,
) -> Result<TokenSession, ApiError> {
    let row = c
        .query_row(
            "SELECT s.session_id, s.merchant_id, s.serial_no, s.revoked_at, t.expires_at, t.replaced
             FROM tokens t JOIN sessions s ON s.session_id = t.session_id
             WHERE t.token_hash = ?1 AND t.kind = ?2",
            params![hash, kind],
            |r| {
                Ok((
                    TokenSession {
                        session_id: r.get(0)?,
                        merchant_id: r.get(1)?,
                        serial_no: r.get(2)?,
                        expires_at: r.get(4)?,
                        replaced: r.get(5)?,
                    },
                    r.get::<_, Option<i64>>(3)?,
                ))
            },
        )
        .optional()?;
    let Some((session, revoked_at)) = row else {
        return Err(ApiError::new(&codes::AUTH_SESSION_INVALID));
    };
    if session.serial_no != signer.serial_no {
        // A token presented by another device than the one it was given to.
        return Err(ApiError::new(&codes::AUTH_SESSION_INVALID).detail("other device"));
    }
    if revoked_at.is_some() {
        return Err(ApiError::new(&codes::AUTH_SESSION_REVOKED));
    }
    Ok(session)
}

fn check_session(
    state: &AppState,
    route: &Route,
    headers: &HeaderMap,
    signer: &Signer,
) -> Result<Auth, ApiError> {
    let token = headers
        .get(HEADER_SESSION)
        .ok_or_else(|| ApiError::new(&codes::AUTH_SESSION_MISSING))?
        .to_str()
        .map_err(|_| ApiError::new(&codes::AUTH_SESSION_INVALID))?;
    if token.is_empty() || token.len() > MAX_TOKEN_LEN {
        return Err(ApiError::new(&codes::AUTH_SESSION_INVALID));
    }
    let hash = token_hash(token);
    let now = state.now_unix();
    state.db(|c| {
        let TokenSession {
            session_id,
            merchant_id,
            serial_no,
            expires_at,
            ..
        } = token_session(c, &hash, "access", signer)?;
        if expires_at <= now {
            return Err(ApiError::new(&codes::AUTH_SESSION_EXPIRED));
        }
        if route.access == Access::Session {
            let registered = c
                .query_row(
                    "SELECT 1 FROM devices WHERE merchant_id = ?1 AND serial_no = ?2",
                    params![merchant_id, serial_no],
                    |_| Ok(()),
                )
                .optional()?
                .is_some();
            if !registered {
                return Err(ApiError::new(&codes::AUTH_DEVICE_NOT_REGISTERED));
            }
        }
        Ok(Auth {
            merchant_id,
            serial_no,
            session_id,
        })
    })
}

/// Removes a pending idempotency row if the request never finished (the
/// client went away mid-request), so the key is not stuck "in progress".
struct Pending {
    state: AppState,
    merchant_id: String,
    key: String,
    done: bool,
}

impl Drop for Pending {
    fn drop(&mut self) {
        if !self.done {
            let _ = self.state.db(|c| {
                c.execute(
                    "DELETE FROM idempotency WHERE merchant_id = ?1 AND idem_key = ?2 AND status IS NULL",
                    params![self.merchant_id, self.key],
                )?;
                Ok(())
            });
        }
    }
}

enum Found {
    Fresh,
    Replay(u16, Vec<u8>),
    Reused,
    InProgress,
}

async fn idempotent(
    state: &AppState,
    parts: Parts,
    body: Bytes,
    next: Next,
    request_id: &str,
) -> Result<Response, ApiError> {
    let merchant_id = parts
        .extensions
        .get::<Auth>()
        .map(|a| a.merchant_id.clone())
        .ok_or_else(|| ApiError::internal("idempotent route without a session"))?;
    let key = parts
        .headers
        .get(HEADER_IDEMPOTENCY_KEY)
        .ok_or_else(|| ApiError::new(&codes::IDEMPOTENCY_KEY_MISSING))?
        .to_str()
        .map_err(|_| ApiError::new(&codes::IDEMPOTENCY_KEY_INVALID))?
        .to_owned();
    if !envelope::is_idempotency_key(&key) {
        return Err(ApiError::new(&codes::IDEMPOTENCY_KEY_INVALID));
    }
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    ctx.update(parts.method.as_str().as_bytes());
    ctx.update(b"\n");
    ctx.update(
        parts
            .uri
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("")
            .as_bytes(),
    );
    ctx.update(b"\n");
    ctx.update(&body);
    let request_hash = hex::encode(ctx.finish());
    let now = state.now_unix();

    let found = state.db(|c| {
        c.execute(
            "DELETE FROM idempotency WHERE merchant_id = ?1 AND created_at <= ?2",
            params![merchant_id, now - IDEMPOTENCY_TTL_SECS],
        )?;
        let row = c
            .query_row(
                "SELECT request_hash, status, body FROM idempotency WHERE merchant_id = ?1 AND idem_key = ?2",
                params![merchant_id, key],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, Option<u16>>(1)?,
                        r.get::<_, Option<Vec<u8>>>(2)?,
                    ))
                },
            )
            .optional()?;
        Ok(match row {
            Some((h, _, _)) if h != request_hash => Found::Reused,
            Some((_, Some(status), body)) => Found::Replay(status, body.unwrap_or_default()),
            Some((_, None, _)) => Found::InProgress,
            None => {
                c.execute(
                    "INSERT INTO idempotency (merchant_id, idem_key, request_hash, created_at) VALUES (?1, ?2, ?3, ?4)",
                    params![merchant_id, key, request_hash, now],
                )?;
                Found::Fresh
            }
        })
    })?;
    match found {
        Found::Reused => Err(ApiError::new(&codes::IDEMPOTENCY_KEY_REUSED)),
        Found::InProgress => Err(ApiError::new(&codes::IDEMPOTENCY_IN_PROGRESS)),
        Found::Replay(status, body) => {
            let mut res =
                (StatusCode::from_u16(status).unwrap_or(StatusCode::OK), body).into_response();
            let h = res.headers_mut();
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json; charset=utf-8"),
            );
            h.insert(HEADER_IDEMPOTENT_REPLAYED, HeaderValue::from_static("true"));
            Ok(res)
        }
        Found::Fresh => {
            let mut pending = Pending {
                state: state.clone(),
                merchant_id: merchant_id.clone(),
                key: key.clone(),
                done: false,
            };
            let res = next.run(Request::from_parts(parts, Body::from(body))).await;
            let res = crate::respond::render_marked(res, request_id);
            let (res_parts, res_body) = res.into_parts();
            let bytes = axum::body::to_bytes(res_body, usize::MAX)
                .await
                .map_err(|_| ApiError::internal("response body unreadable"))?;
            let status = res_parts.status.as_u16();
            if status < 500 {
                state.db(|c| {
                    c.execute(
                        "UPDATE idempotency SET status = ?3, body = ?4 WHERE merchant_id = ?1 AND idem_key = ?2",
                        params![merchant_id, key, status, bytes.to_vec()],
                    )?;
                    Ok(())
                })?;
                pending.done = true;
            }
            Ok(Response::from_parts(res_parts, Body::from(bytes)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Q {
        limit: Option<u32>,
        cursor: Option<String>,
        must: Option<String>,
    }

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Required {
        date: String,
    }

    fn refused<T: DeserializeOwned + std::fmt::Debug>(uri: &str) -> ApiError {
        let uri: axum::http::Uri = uri.parse().unwrap();
        query_params::<T>(&uri).unwrap_err()
    }

    fn field_of(e: &ApiError) -> Vec<&str> {
        e.fields.iter().map(|f| f.field.as_str()).collect()
    }

    #[test]
    fn a_refused_query_names_its_parameter() {
        let uri: axum::http::Uri = "/v1/x?limit=5&cursor=c".parse().unwrap();
        let q: Q = query_params(&uri).unwrap();
        assert_eq!(q.limit, Some(5));
        for (uri, field) in [
            ("/v1/x?foo=1", "foo"),
            ("/v1/x?limit=1&limit=2", "limit"),
            ("/v1/x?cursor=a&cursor=b", "cursor"),
            ("/v1/x?limit=abc", "limit"),
            ("/v1/x?limit=-1", "limit"),
        ] {
            let e = refused::<Q>(uri);
            assert_eq!(e.code, codes::REQUEST_FIELD_INVALID, "{uri}");
            assert_eq!(field_of(&e), [field], "{uri}");
            assert!(
                e.fields
                    .iter()
                    .all(|f| f.code == codes::REQUEST_FIELD_INVALID.code)
            );
        }
        let e = refused::<Required>("/v1/x");
        assert_eq!(field_of(&e), ["date"]);
    }
}
