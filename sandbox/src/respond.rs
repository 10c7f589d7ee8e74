//! The outermost layer: every response (handlers', the guard's refusals, the
//! router's 404/405, axum's own rejections, even a handler panic) leaves as
//! the documented JSON for errors, with a request id, signed by the platform
//! key in the `Lklapi-*` headers.
//!
//! The signature covers the exact body bytes. An event stream
//! (`text/event-stream`) is signed over an empty body: each of its events
//! carries its own signed payload.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures_util::FutureExt as _;
use merchant_contract::envelope::HEADER_REQUEST_ID;

use crate::clock::wall_unix;
use crate::error::{ApiError, for_status, render};
use crate::state::AppState;

/// The id of the request being served (`Lklapi-Request-Id`).
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

fn new_request_id() -> String {
    let mut b = [0u8; 12];
    // SystemRandom failing leaves zeros: an id, not a secret.
    let _ = ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut b);
    format!("req_{}", hex::encode(b))
}

/// Renders an error response marked by [`ApiError`] (or a bare error status
/// from outside our handlers) as the documented JSON.
pub(crate) fn render_marked(res: Response, request_id: &str) -> Response {
    if let Some(err) = res.extensions().get::<ApiError>() {
        return render(err, request_id);
    }
    let status = res.status();
    let is_json = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if (status.is_client_error() || status.is_server_error()) && !is_json {
        return render(&for_status(status), request_id);
    }
    res
}

fn is_event_stream(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"))
}

pub(crate) async fn respond(
    State(state): State<AppState>,
    mut req: Request,
    next: Next,
) -> Response {
    let request_id = new_request_id();
    req.extensions_mut().insert(RequestId(request_id.clone()));
    let res = std::panic::AssertUnwindSafe(next.run(req))
        .catch_unwind()
        .await
        .unwrap_or_else(|_| {
            tracing::error!(request_id, "handler panicked");
            ApiError::internal("handler panicked").into_response()
        });
    let res = render_marked(res, &request_id);
    let mut res = match sign(&state, res).await {
        Ok(res) => res,
        Err(e) => {
            // Signing failed (should not happen): answer a signed 500 if we
            // can, else an unsigned one the client will refuse.
            let fallback = render(&e, &request_id);
            match sign(&state, fallback).await {
                Ok(r) => r,
                Err(_) => render(&e, &request_id),
            }
        }
    };
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        res.headers_mut().insert(HEADER_REQUEST_ID, v);
    }
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

async fn sign(state: &AppState, res: Response) -> Result<Response, ApiError> {
    let (mut parts, body) = res.into_parts();
    let (body, signed_bytes) = if is_event_stream(&parts.headers) {
        (body, Vec::new())
    } else {
        let bytes = axum::body::to_bytes(body, usize::MAX)
            .await
            .map_err(|_| ApiError::internal("response body unreadable"))?;
        (Body::from(bytes.clone()), bytes.to_vec())
    };
    let sig = state
        .signer()
        .sign_response(state.app_id(), wall_unix(), &signed_bytes)?;
    for (name, value) in sig.to_headers() {
        let value =
            HeaderValue::from_str(&value).map_err(|_| ApiError::internal("signature header"))?;
        parts.headers.insert(HeaderName::from_static(name), value);
    }
    Ok(Response::from_parts(parts, body))
}
