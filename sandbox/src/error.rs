//! The sandbox's refusals: an [`ApiError`] carries a platform code (and
//! field-level refusals). Handlers return `Result<_, ApiError>`; the error
//! becomes the documented JSON body (`code`, `message`, `message_en`,
//! `request_id`, `fields`) in one place ([`render`]), and the response is then
//! signed like every other.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use merchant_contract::codes::{self, PlatformCode};
use merchant_contract::wire::{ErrorBody, FieldError};

/// A refusal with a stable platform code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub code: PlatformCode,
    pub fields: Vec<FieldError>,
    /// Technical detail for the sandbox's log only; never sent, never
    /// personal data.
    pub detail: Option<String>,
}

impl ApiError {
    pub fn new(code: &PlatformCode) -> ApiError {
        ApiError {
            code: *code,
            fields: Vec::new(),
            detail: None,
        }
    }

    /// Adds a field-level refusal (`field` as named in the request JSON).
    pub fn field(mut self, field: &str, code: &str) -> ApiError {
        self.fields.push(FieldError {
            field: field.to_owned(),
            code: code.to_owned(),
        });
        self
    }

    /// `request.field_invalid` for the given (field, code) pairs.
    pub fn fields(problems: Vec<FieldError>) -> ApiError {
        ApiError {
            code: codes::REQUEST_FIELD_INVALID,
            fields: problems,
            detail: None,
        }
    }

    /// Technical detail for the log (no personal data).
    pub fn detail(mut self, detail: impl Into<String>) -> ApiError {
        self.detail = Some(detail.into());
        self
    }

    /// 404 `resource.not_found`: for a thing that does not exist AND for
    /// another merchant's thing (no existence leak).
    pub fn not_found() -> ApiError {
        ApiError::new(&codes::RESOURCE_NOT_FOUND)
    }

    /// 500 `server.internal`.
    pub fn internal(detail: impl Into<String>) -> ApiError {
        ApiError::new(&codes::SERVER_INTERNAL).detail(detail)
    }

    pub fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.code.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code.code)?;
        if let Some(d) = &self.detail {
            write!(f, " ({d})")?;
        }
        Ok(())
    }
}

impl std::error::Error for ApiError {}

impl From<rusqlite::Error> for ApiError {
    fn from(e: rusqlite::Error) -> Self {
        ApiError::internal(format!("sqlite: {e}"))
    }
}

impl From<merchant_contract::EnvelopeError> for ApiError {
    fn from(e: merchant_contract::EnvelopeError) -> Self {
        ApiError::new(e.code()).detail(e.to_string())
    }
}

/// Handlers return it; the response is marked and rendered by [`render`]
/// (which needs the request id).
impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut res = self.status().into_response();
        res.extensions_mut().insert(self);
        res
    }
}

/// The JSON error response of `err` for request `request_id`.
pub fn render(err: &ApiError, request_id: &str) -> Response {
    if let Some(d) = &err.detail {
        tracing::debug!(request_id, code = err.code.code, detail = %d, "refused");
    }
    let body = ErrorBody {
        code: err.code.code.to_owned(),
        message: err.code.zh.to_owned(),
        message_en: err.code.en.to_owned(),
        request_id: request_id.to_owned(),
        fields: if err.fields.is_empty() {
            None
        } else {
            Some(err.fields.clone())
        },
    };
    let json = serde_json::to_vec(&body).unwrap_or_default();
    let mut res = (err.status(), json).into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    res
}

/// The error a bare status means, for responses produced outside our
/// handlers (axum's own rejections, the router's 404/405).
pub fn for_status(status: StatusCode) -> ApiError {
    let code = match status.as_u16() {
        404 => &codes::ROUTE_NOT_FOUND,
        405 => &codes::ROUTE_METHOD_NOT_ALLOWED,
        413 => &codes::REQUEST_BODY_TOO_LARGE,
        415 => &codes::REQUEST_UNSUPPORTED_MEDIA_TYPE,
        422 => &codes::REQUEST_FIELD_INVALID,
        s if (400..500).contains(&s) => &codes::REQUEST_MALFORMED,
        _ => &codes::SERVER_INTERNAL,
    };
    ApiError::new(code).detail(format!("bare status {status}"))
}
